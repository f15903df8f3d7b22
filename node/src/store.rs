//! The node's own durable state in sled (the consensus state lives in `shroud-storage`):
//! accepted ciphertexts waiting for a batch, stored batches, this validator's uncertified
//! batches, and the committed order of transactions.
//!
//! Keys are big-endian so range scans run in order. Values read back are decoded through rkyv
//! validation; a record that fails is a [`StoreError::Corrupt`], and a failed write is fatal for
//! the node (the caller stops rather than carry on with a store of unknown state).

use std::path::Path;

use rkyv::rancor;
use rkyv::util::AlignedVec;
use thiserror::Error;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::batch::{Batch, BatchCertificate, BatchDigest, TxId};

/// A storage failure: fatal for the validator.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The backend failed.
    #[error("sled: {0}")]
    Backend(#[from] sled::Error),
    /// A record that does not decode.
    #[error("corrupt record in {0}")]
    Corrupt(&'static str),
}

impl From<TransactionError<()>> for StoreError {
    fn from(error: TransactionError<()>) -> Self {
        match error {
            TransactionError::Storage(error) => StoreError::Backend(error),
            TransactionError::Abort(()) => StoreError::Corrupt("transaction"),
        }
    }
}

type TxResult = Result<(), ConflictableTransactionError<()>>;

/// The node's sled database.
#[derive(Debug)]
pub struct NodeStore {
    db: sled::Db,
    pending: sled::Tree,
    batches: sled::Tree,
    own_uncertified: sled::Tree,
    certificates: sled::Tree,
    order: sled::Tree,
    committed: sled::Tree,
    meta: sled::Tree,
}

const PROCESSED_HEIGHT: &[u8] = b"processed_height";
const NEXT_SEQUENCE: &[u8] = b"next_sequence";
/// Kept beside the order because sled's `len` scans the whole tree.
const ORDER_LEN: &[u8] = b"order_len";

fn decode_batch(bytes: &[u8]) -> Result<Batch, StoreError> {
    let mut aligned = AlignedVec::<16>::with_capacity(bytes.len());
    aligned.extend_from_slice(bytes);
    rkyv::from_bytes::<Batch, rancor::Error>(&aligned).map_err(|_| StoreError::Corrupt("batches"))
}

fn u64_value(bytes: &[u8], tree: &'static str) -> Result<u64, StoreError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt(tree))?;
    Ok(u64::from_be_bytes(array))
}

fn tx_id(bytes: &[u8], tree: &'static str) -> Result<TxId, StoreError> {
    let array: [u8; 32] = bytes.try_into().map_err(|_| StoreError::Corrupt(tree))?;
    Ok(TxId(array))
}

impl NodeStore {
    /// Opens (or creates) the store in `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = sled::open(path)?;
        Ok(Self {
            pending: db.open_tree("pending")?,
            batches: db.open_tree("batches")?,
            own_uncertified: db.open_tree("own_uncertified")?,
            certificates: db.open_tree("certificates")?,
            order: db.open_tree("order")?,
            committed: db.open_tree("committed")?,
            meta: db.open_tree("meta")?,
            db,
        })
    }

    /// Makes every write durable (fsync).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Records an accepted ciphertext (not yet batched).
    pub fn put_pending(&self, id: TxId, ciphertext: &[u8]) -> Result<(), StoreError> {
        self.pending.insert(id.0, ciphertext)?;
        Ok(())
    }

    /// Accepted ciphertexts not yet in a batch, in id order.
    pub fn pending(&self) -> Result<Vec<(TxId, Vec<u8>)>, StoreError> {
        self.pending
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                Ok((tx_id(&key, "pending")?, value.to_vec()))
            })
            .collect()
    }

    /// Stores a batch; for this validator's own batch also moves its ciphertexts out of the
    /// pending set and remembers it as uncertified, in one transaction (a crash between the
    /// steps must not lose accepted ciphertexts).
    pub fn put_batch(&self, batch: &Batch, own: bool) -> Result<BatchDigest, StoreError> {
        let digest = batch.digest();
        let bytes =
            rkyv::to_bytes::<rancor::Error>(batch).map_err(|_| StoreError::Corrupt("batches"))?;
        if !own {
            self.batches.insert(digest.0, bytes.as_slice())?;
            return Ok(digest);
        }
        let ids: Vec<TxId> = batch.transactions.iter().map(|t| TxId::of(t)).collect();
        let next = (batch.sequence + 1).to_be_bytes();
        (
            &self.batches,
            &self.pending,
            &self.own_uncertified,
            &self.meta,
        )
            .transaction(|(batches, pending, own_uncertified, meta)| -> TxResult {
                batches.insert(&digest.0, bytes.as_slice())?;
                own_uncertified.insert(&digest.0, &[])?;
                for id in &ids {
                    pending.remove(&id.0)?;
                }
                meta.insert(NEXT_SEQUENCE, &next)?;
                Ok(())
            })?;
        Ok(digest)
    }

    /// A stored batch.
    pub fn batch(&self, digest: &BatchDigest) -> Result<Option<Batch>, StoreError> {
        self.batches
            .get(digest.0)?
            .map(|bytes| decode_batch(&bytes))
            .transpose()
    }

    /// Whether a batch is stored.
    pub fn has_batch(&self, digest: &BatchDigest) -> Result<bool, StoreError> {
        Ok(self.batches.contains_key(digest.0)?)
    }

    /// This validator's batch got its certificate: keep the certificate until the batch is
    /// committed (after a restart it is proposed and re-sent again).
    pub fn put_certificate(&self, certificate: &BatchCertificate) -> Result<(), StoreError> {
        let bytes = rkyv::to_bytes::<rancor::Error>(certificate)
            .map_err(|_| StoreError::Corrupt("certificates"))?;
        let digest = certificate.digest.0;
        (&self.own_uncertified, &self.certificates).transaction(
            |(own_uncertified, certificates)| -> TxResult {
                certificates.insert(&digest, bytes.as_slice())?;
                own_uncertified.remove(&digest)?;
                Ok(())
            },
        )?;
        Ok(())
    }

    /// This validator's certified batches not yet committed.
    pub fn certificates(&self) -> Result<Vec<BatchCertificate>, StoreError> {
        self.certificates
            .iter()
            .map(|entry| {
                let (_, value) = entry?;
                let mut aligned = AlignedVec::<16>::with_capacity(value.len());
                aligned.extend_from_slice(&value);
                rkyv::from_bytes::<BatchCertificate, rancor::Error>(&aligned)
                    .map_err(|_| StoreError::Corrupt("certificates"))
            })
            .collect()
    }

    /// This validator's batches still waiting for a certificate.
    pub fn own_uncertified(&self) -> Result<Vec<Batch>, StoreError> {
        let mut out = Vec::new();
        for entry in self.own_uncertified.iter() {
            let (key, _) = entry?;
            let digest: [u8; 32] = key
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::Corrupt("own_uncertified"))?;
            if let Some(batch) = self.batch(&BatchDigest(digest))? {
                out.push(batch);
            }
        }
        Ok(out)
    }

    /// The next batch sequence number of this validator.
    pub fn next_sequence(&self) -> Result<u64, StoreError> {
        self.meta
            .get(NEXT_SEQUENCE)?
            .map_or(Ok(0), |bytes| u64_value(&bytes, "meta"))
    }

    /// Whether a transaction was committed before.
    pub fn is_committed(&self, id: &TxId) -> Result<bool, StoreError> {
        Ok(self.committed.contains_key(id.0)?)
    }

    /// Number of committed transactions.
    pub fn order_len(&self) -> Result<u64, StoreError> {
        self.meta
            .get(ORDER_LEN)?
            .map_or(Ok(0), |bytes| u64_value(&bytes, "meta"))
    }

    /// Appends the transactions committed at `height` (each at most once), records the height
    /// as processed, and drops the certificates of the committed batches, in one transaction:
    /// a crash must not leave ids marked committed without their positions.
    pub fn append_order(
        &self,
        height: u64,
        ids: &[TxId],
        batches: &[BatchDigest],
    ) -> Result<(), StoreError> {
        let start = self.order_len()?;
        let end = (start + ids.len() as u64).to_be_bytes();
        (&self.order, &self.committed, &self.meta, &self.certificates).transaction(
            |(order, committed, meta, certificates)| -> TxResult {
                for (position, id) in (start..).zip(ids) {
                    order.insert(&position.to_be_bytes(), &id.0)?;
                    committed.insert(&id.0, &position.to_be_bytes())?;
                }
                for digest in batches {
                    certificates.remove(&digest.0)?;
                }
                meta.insert(PROCESSED_HEIGHT, &height.to_be_bytes())?;
                meta.insert(ORDER_LEN, &end)?;
                Ok(())
            },
        )?;
        Ok(())
    }

    /// The last block height whose transactions were appended.
    pub fn processed_height(&self) -> Result<u64, StoreError> {
        self.meta
            .get(PROCESSED_HEIGHT)?
            .map_or(Ok(0), |bytes| u64_value(&bytes, "meta"))
    }

    /// Committed transaction ids from `from`, at most `limit`.
    pub fn order_range(&self, from: u64, limit: usize) -> Result<Vec<TxId>, StoreError> {
        self.order
            .range(from.to_be_bytes()..)
            .take(limit)
            .map(|entry| {
                let (_, value) = entry?;
                tx_id(&value, "order")
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_own_batch_moves_through_pending_uncertified_certified_committed() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = NodeStore::open(dir.path()).expect("open");
        let transactions = vec![b"one".to_vec(), b"two".to_vec()];
        for transaction in &transactions {
            store
                .put_pending(TxId::of(transaction), transaction)
                .expect("pending");
        }
        let batch = Batch {
            epoch: 1,
            author: 0,
            sequence: 4,
            transactions: transactions.clone(),
        };
        let digest = store.put_batch(&batch, true).expect("batch");
        assert!(store.pending().expect("pending").is_empty());
        assert_eq!(
            store.own_uncertified().expect("uncertified"),
            vec![batch.clone()]
        );
        assert_eq!(store.next_sequence().expect("sequence"), 5);

        let certificate = BatchCertificate {
            epoch: 1,
            digest,
            author: 0,
            signers: vec![0b11],
            signature: [3; 96],
        };
        store.put_certificate(&certificate).expect("certificate");
        assert!(store.own_uncertified().expect("uncertified").is_empty());
        assert_eq!(
            store.certificates().expect("certificates"),
            vec![certificate]
        );

        let ids: Vec<TxId> = transactions.iter().map(|t| TxId::of(t)).collect();
        store.append_order(7, &ids, &[digest]).expect("order");
        store.flush().expect("flush");
        drop(store);
        let store = NodeStore::open(dir.path()).expect("reopen");
        assert!(store.certificates().expect("certificates").is_empty());
        assert_eq!(store.order_len().expect("length"), 2);
        assert_eq!(store.processed_height().expect("height"), 7);
        assert_eq!(store.order_range(0, 10).expect("range"), ids);
        assert!(store.is_committed(&ids[1]).expect("lookup"));
    }
}
