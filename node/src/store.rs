//! The node's own durable state in sled (the consensus state lives in `shroud-storage`):
//! accepted ciphertexts waiting for a batch (one entry per group commit), stored batches, this validator's uncertified
//! batches, the committed order of transactions (globally and per height), and the decryption
//! stage's records: encapsulations seen, own decryption shares, outputs with this validator's
//! signature, output certificates, and a log of when shares were made and accepted.
//!
//! Keys are big-endian so range scans run in order. Values read back are decoded through rkyv
//! validation; a record that fails is a [`StoreError::Corrupt`], and a failed write is fatal for
//! the node (the caller stops rather than carry on with a store of unknown state).

use std::collections::HashMap;
use std::path::Path;

use rkyv::rancor;
use rkyv::util::AlignedVec;
use thiserror::Error;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use rkyv::{Archive, Deserialize, Serialize};
use shroud_crypto::tdh2::Ciphertext;
use shroud_proofs::{OutputCertificate, OutputHeader, PositionEntry};

use crate::batch::{Batch, BatchCertificate, BatchDigest, TxId};
use crate::pending_log::PendingLog;
use crate::segment_log::{Location, SegmentLog, LOCATION_BYTES};
use crate::wire::SharesMessage;

/// One ordered transaction of a height and where its ciphertext is stored.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct OrderedTx {
    /// The transaction.
    pub tx_id: TxId,
    /// The batch holding its ciphertext.
    pub batch: BatchDigest,
    /// Its index in that batch.
    pub index: u32,
    /// Through which height this placement decides duplicates: its label's expiry when it
    /// was within its validity here (it counts), none when it fails as expired (it then
    /// decides only its own height). See [`crate::committed::CommittedIndex`].
    pub expiry: Option<u64>,
}

/// A committed height's order.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct HeightRecord {
    /// The committed block.
    pub block_digest: [u8; 32],
    /// Global position of the height's first transaction.
    pub first_position: u64,
    /// The transactions, in order (position `i` of the height is `transactions[i]`).
    pub transactions: Vec<OrderedTx>,
}

/// Accepted ciphertexts written by one group commit of the ingress stage: admission numbers
/// `first..first + transactions.len()`, in admission order.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct PendingGroup {
    /// The admission number of the first ciphertext.
    pub first: u64,
    /// The ciphertexts' wire bytes.
    pub transactions: Vec<Vec<u8>>,
}

/// A height's decrypted output as this validator built it, with its own signature.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct OutputRecord {
    /// The header.
    pub header: OutputHeader,
    /// Every position's outcome.
    pub entries: Vec<PositionEntry>,
    /// This validator's signature over the header (domain `OutputHeader`).
    pub signature: [u8; 96],
    /// The combined point `r·h` of every position that got shares
    /// ([`shroud_proofs::got_shares`]), in position order: with the ciphertexts, anyone checks
    /// the decryptions ([`shroud_proofs::DecryptionEvidence`]).
    pub points: Vec<[u8; 48]>,
}

/// When this validator made and accepted decryption shares of a height, by its own clock of
/// commits: the committed height it had reached at each moment. Shares are only ever made or
/// accepted for a height at or below that value.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct DecryptionLog {
    /// Committed height when this validator made its shares.
    pub made_at_committed: u64,
    /// (sender, committed height) for every share message accepted.
    pub accepted: Vec<(u16, u64)>,
}

/// Outcome counts kept beside the outputs (decrypted, then one per failure reason).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct OutcomeCounts {
    /// Positions decrypted.
    pub decrypted: u64,
    /// Failed positions by `FailureReason::code() - 1`.
    pub failed: [u64; shroud_proofs::FailureReason::ALL.len()],
}

fn encode<T>(value: &T, tree: &'static str) -> Result<AlignedVec, StoreError>
where
    T: for<'a> rkyv::Serialize<
        rkyv::api::high::HighSerializer<
            AlignedVec,
            rkyv::ser::allocator::ArenaHandle<'a>,
            rancor::Error,
        >,
    >,
{
    rkyv::to_bytes::<rancor::Error>(value).map_err(|_| StoreError::Corrupt(tree))
}

fn decode<T>(bytes: &[u8], tree: &'static str) -> Result<T, StoreError>
where
    T: rkyv::Archive,
    T::Archived: for<'b> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'b, rancor::Error>>
        + rkyv::Deserialize<T, rkyv::api::high::HighDeserializer<rancor::Error>>,
{
    let mut aligned = AlignedVec::<16>::with_capacity(bytes.len());
    aligned.extend_from_slice(bytes);
    rkyv::from_bytes::<T, rancor::Error>(&aligned).map_err(|_| StoreError::Corrupt(tree))
}

/// A storage failure: fatal for the validator.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The backend failed.
    #[error("sled: {0}")]
    Backend(#[from] sled::Error),
    /// A record that does not decode.
    #[error("corrupt record in {0}")]
    Corrupt(&'static str),
    /// A segment log's files (batches, height records) failed.
    #[error("segment log: {0}")]
    Log(String),
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

/// The node's sled database. Cloning shares it (the validator loop, the decryption stage and
/// the client API read and write the same trees; sled is safe across threads).
#[derive(Clone, Debug)]
pub struct NodeStore {
    db: sled::Db,
    /// Accepted ciphertexts not yet batched (one thread writes: the ingress stage).
    pending_log: std::sync::Arc<std::sync::Mutex<PendingLog>>,
    batches: sled::Tree,
    own_uncertified: sled::Tree,
    certificates: sled::Tree,
    /// First global position of each height that committed transactions → the height.
    height_starts: sled::Tree,
    meta: sled::Tree,
    heights: sled::Tree,
    encapsulations: sled::Tree,
    own_shares: sled::Tree,
    outputs: sled::Tree,
    output_certificates: sled::Tree,
    decryption_log: sled::Tree,
    batch_certificates: sled::Tree,
    block_certificates: sled::Tree,
    height_batches: sled::Tree,
    committed_batches: sled::Tree,
    /// Every stored batch by `(valid_through, digest)`, swept once past its expiry.
    expiring_batches: sled::Tree,
    /// Batch-log segment → the latest expiry of a batch in it.
    log_segments: sled::Tree,
    /// The batches' bytes (the `batches` tree holds their locations).
    log: std::sync::Arc<SegmentLog>,
    /// Height-log segment → the last height recorded in it.
    record_segments: sled::Tree,
    /// The committed DKG messages, keyed by height and place in the block.
    dkg_transcript: sled::Tree,
    /// The height records' bytes (the `heights` tree holds their locations and checksums).
    records: std::sync::Arc<SegmentLog>,
}

/// Domain tag of a height record's checksum.
const HEIGHT_RECORD_TAG: &[u8] = b"SHROUD-V1-HEIGHT-RECORD";
/// A `heights` entry: the record's [`Location`] and its checksum.
const HEIGHT_ENTRY_BYTES: usize = LOCATION_BYTES + 32;

/// `SHA-256(tag || bytes)`: a height record's checksum, kept in sled beside its location so
/// that a record damaged on disk reads as corrupt, never as another order.
fn height_record_checksum(bytes: &[u8]) -> [u8; 32] {
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    sha2::Digest::update(&mut hasher, HEIGHT_RECORD_TAG);
    sha2::Digest::update(&mut hasher, bytes);
    sha2::Digest::finalize(hasher).into()
}

/// sled's page cache for the node's store when none is given (`[storage] node_cache_mib`).
pub const CACHE_BYTES_DEFAULT: u64 = 8 << 20;
const PROCESSED_HEIGHT: &[u8] = b"processed_height";
const NEXT_SEQUENCE: &[u8] = b"next_sequence";
/// Every accepted ciphertext with a lower admission number is in an own batch.
const BATCHED_THROUGH: &[u8] = b"batched_through";
/// Kept beside the order because sled's `len` scans the whole tree.
const ORDER_LEN: &[u8] = b"order_len";
const OUTPUT_HEIGHT: &[u8] = b"output_height";
const CERTIFIED_HEIGHT: &[u8] = b"certified_height";
const OUTCOME_COUNTS: &[u8] = b"outcome_counts";
const EPOCH_KEY_CERTIFICATE: &[u8] = b"epoch_key_certificate";
/// Every height below this one is pruned (absent: nothing is).
const KEPT_FROM_HEIGHT: &[u8] = b"kept_from_height";
/// The key set the DKG formed (`PublicKeySet::to_bytes`), once it has.
const DKG_KEY_SET: &[u8] = b"dkg_key_set";
/// What the DKG decided ([`DkgRecord`]), once it completed.
const DKG_RECORD: &[u8] = b"dkg_record";

/// What a completed DKG decided, kept for the status and the logs.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct DkgRecord {
    /// The round that succeeded.
    pub round: u32,
    /// The committed height at which it did.
    pub height: u64,
    /// The qualified dealers.
    pub qualified: Vec<u16>,
    /// The dealers left out, with the label and text of the reason.
    pub excluded: Vec<(u16, String, String)>,
    /// Why this validator holds no share, if it does not.
    pub share_problem: Option<String>,
}
/// Every global position below this one is pruned from the order.
const KEPT_FROM_POSITION: &[u8] = b"kept_from_position";

fn decode_batch(bytes: &[u8]) -> Result<Batch, StoreError> {
    let mut aligned = AlignedVec::<16>::with_capacity(bytes.len());
    aligned.extend_from_slice(bytes);
    rkyv::from_bytes::<Batch, rancor::Error>(&aligned).map_err(|_| StoreError::Corrupt("batches"))
}

fn u64_value(bytes: &[u8], tree: &'static str) -> Result<u64, StoreError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt(tree))?;
    Ok(u64::from_be_bytes(array))
}

/// An `encapsulations` entry: height, position, and the height through which it decides
/// duplicates (the ciphertext's `valid_through`).
fn encapsulation_value(bytes: &[u8]) -> Result<(u64, u32, u64), StoreError> {
    if bytes.len() != 20 {
        return Err(StoreError::Corrupt("encapsulations"));
    }
    let position: [u8; 4] = bytes[8..12]
        .try_into()
        .map_err(|_| StoreError::Corrupt("encapsulations"))?;
    Ok((
        u64_value(&bytes[..8], "encapsulations")?,
        u32::from_be_bytes(position),
        u64_value(&bytes[12..], "encapsulations")?,
    ))
}

/// An `expiring_batches` key: the batch's `valid_through`, then its digest, so a range scan
/// finds the batches past a height oldest first.
fn expiring_key(valid_through: u64, digest: &BatchDigest) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..8].copy_from_slice(&valid_through.to_be_bytes());
    key[8..].copy_from_slice(&digest.0);
    key
}

impl NodeStore {
    /// Opens (or creates) the store in `path` with the default page cache.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(path, CACHE_BYTES_DEFAULT)
    }

    /// Opens (or creates) the store in `path` with a page cache of `cache_bytes`.
    pub fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        // A bounded page cache keeps a validator's memory flat as its data grows (sled's
        // default is 1 GiB); what is not cached is read from disk.
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()?;
        Ok(Self {
            pending_log: std::sync::Arc::new(std::sync::Mutex::new(
                PendingLog::open(&path.join("pending-log"))?.0,
            )),
            batches: db.open_tree("batches")?,
            own_uncertified: db.open_tree("own_uncertified")?,
            certificates: db.open_tree("certificates")?,
            height_starts: db.open_tree("height_starts")?,
            meta: db.open_tree("meta")?,
            heights: db.open_tree("heights")?,
            encapsulations: db.open_tree("encapsulations")?,
            own_shares: db.open_tree("own_shares")?,
            outputs: db.open_tree("outputs")?,
            output_certificates: db.open_tree("output_certificates")?,
            decryption_log: db.open_tree("decryption_log")?,
            batch_certificates: db.open_tree("batch_certificates")?,
            block_certificates: db.open_tree("block_certificates")?,
            height_batches: db.open_tree("height_batches")?,
            committed_batches: db.open_tree("committed_batches")?,
            expiring_batches: db.open_tree("expiring_batches")?,
            log_segments: db.open_tree("log_segments")?,
            log: std::sync::Arc::new(SegmentLog::open(&path.join("batch-log"))?),
            record_segments: db.open_tree("record_segments")?,
            dkg_transcript: db.open_tree("dkg_transcript")?,
            records: std::sync::Arc::new(SegmentLog::open(&path.join("height-log"))?),
            db,
        })
    }

    /// Makes every write durable (fsync).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    fn pending_log(&self) -> std::sync::MutexGuard<'_, PendingLog> {
        self.pending_log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a group of accepted ciphertexts (not yet batched), numbered from `first`, as
    /// one record of the pending log, durable when this returns (its own fdatasync; no sled
    /// flush is needed for it).
    pub fn put_pending(&self, first: u64, transactions: &[&[u8]]) -> Result<(), StoreError> {
        self.pending_log().append(first, transactions)
    }

    /// The stored groups of accepted ciphertexts in admission order that are not wholly
    /// batched, and the batched-through mark: every ciphertext numbered below it is in a
    /// batch already.
    pub fn pending(&self) -> Result<(u64, Vec<PendingGroup>), StoreError> {
        let batched_through = self
            .meta
            .get(BATCHED_THROUGH)?
            .map_or(Ok(0), |bytes| u64_value(&bytes, "meta"))?;
        let groups = self
            .pending_log()
            .read_all()?
            .into_iter()
            .filter(|group| group.first + group.transactions.len() as u64 > batched_through)
            .collect();
        Ok((batched_through, groups))
    }

    /// Deletes the pending log's segments wholly below `batched_through`, a mark the caller
    /// has made durable (flushed after [`NodeStore::put_own_batch`]).
    pub fn reclaim_pending(&self, batched_through: u64) -> Result<(), StoreError> {
        self.pending_log().reclaim(batched_through)
    }

    /// Writes a batch's bytes to the batch log and makes them durable; its location, and the
    /// segment's latest expiry as it will be with this batch.
    fn log_batch(&self, batch: &Batch) -> Result<(Location, u64), StoreError> {
        let bytes = encode(batch, "batches")?;
        let location = self.log.append(&bytes)?;
        // Durable before any sled entry points at it (sled may flush on its own).
        self.log.sync()?;
        let latest = self
            .log_segments
            .get(location.segment.to_be_bytes())?
            .map_or(Ok(0), |bytes| u64_value(&bytes, "log_segments"))?
            .max(batch.valid_through);
        Ok((location, latest))
    }

    /// Stores a peer's batch (or one fetched for a commit).
    pub fn put_batch(&self, batch: &Batch) -> Result<BatchDigest, StoreError> {
        let digest = batch.digest();
        self.put_batch_digested(batch, digest)?;
        Ok(digest)
    }

    /// [`NodeStore::put_batch`] for a batch whose digest the caller computed.
    pub fn put_batch_digested(
        &self,
        batch: &Batch,
        digest: BatchDigest,
    ) -> Result<BatchDigest, StoreError> {
        let (location, latest) = self.log_batch(batch)?;
        let expiry = expiring_key(batch.valid_through, &digest);
        (&self.batches, &self.expiring_batches, &self.log_segments).transaction(
            |(batches, expiring, segments)| -> TxResult {
                batches.insert(&digest.0, &location.to_bytes()[..])?;
                expiring.insert(&expiry[..], &[])?;
                segments.insert(&location.segment.to_be_bytes(), &latest.to_be_bytes())?;
                Ok(())
            },
        )?;
        Ok(digest)
    }

    /// Stores this validator's own batch, remembers it as uncertified and moves the
    /// batched-through mark to `batched_through`, in one transaction: a crash between the
    /// steps must not lose accepted ciphertexts (the pending log keeps them until the mark is
    /// durable past them).
    pub fn put_own_batch(
        &self,
        batch: &Batch,
        batched_through: u64,
    ) -> Result<BatchDigest, StoreError> {
        let digest = batch.digest();
        let (location, latest) = self.log_batch(batch)?;
        let expiry = expiring_key(batch.valid_through, &digest);
        let next = (batch.sequence + 1).to_be_bytes();
        let mark = batched_through.to_be_bytes();
        (
            &self.batches,
            &self.own_uncertified,
            &self.meta,
            &self.expiring_batches,
            &self.log_segments,
        )
            .transaction(
                |(batches, own_uncertified, meta, expiring, segments)| -> TxResult {
                    batches.insert(&digest.0, &location.to_bytes()[..])?;
                    expiring.insert(&expiry[..], &[])?;
                    segments.insert(&location.segment.to_be_bytes(), &latest.to_be_bytes())?;
                    own_uncertified.insert(&digest.0, &[])?;
                    meta.insert(NEXT_SEQUENCE, &next)?;
                    meta.insert(BATCHED_THROUGH, &mark)?;
                    Ok(())
                },
            )?;
        Ok(digest)
    }

    /// A stored batch, read back from the batch log, validated and checked against its
    /// digest (`None` if it is not stored, or its segment was reclaimed).
    pub fn batch(&self, digest: &BatchDigest) -> Result<Option<Batch>, StoreError> {
        let Some(entry) = self.batches.get(digest.0)? else {
            return Ok(None);
        };
        let location = Location::from_bytes(&entry).ok_or(StoreError::Corrupt("batches"))?;
        let Some(bytes) = self.log.read(location)? else {
            return Ok(None);
        };
        let batch = decode_batch(&bytes)?;
        if batch.digest() != *digest {
            return Err(StoreError::Corrupt("batch log"));
        }
        Ok(Some(batch))
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

    /// Forgets own batches that turn out to be committed already (their certificate, or their
    /// wait for one).
    pub fn forget_own(&self, digests: &[BatchDigest]) -> Result<(), StoreError> {
        for digest in digests {
            self.certificates.remove(digest.0)?;
            self.own_uncertified.remove(digest.0)?;
        }
        Ok(())
    }

    /// Drops a batch past its `valid_through` that was never committed (and so never will
    /// be): its payload, its certificate, and the own-batch
    /// marks; returns the ids it held. Nothing else refers to it, so without this it would
    /// stay for good. A committed one (an own batch certified by an earlier run, say) only
    /// loses its own-batch marks: its height's pruning removes the rest, and lagging peers
    /// may still fetch it.
    pub fn drop_expired_batch(&self, digest: &BatchDigest) -> Result<Vec<TxId>, StoreError> {
        self.forget_own(&[*digest])?;
        let Some(batch) = self.batch(digest)? else {
            return Ok(Vec::new());
        };
        if self.is_batch_committed(digest)? {
            return Ok(Vec::new());
        }
        let ids: Vec<TxId> = batch.transactions.iter().map(|t| TxId::of(t)).collect();
        let trees = [
            &self.batches,
            &self.batch_certificates,
            &self.certificates,
            &self.own_uncertified,
        ];
        trees[..].transaction(|trees| -> TxResult {
            for tree in trees {
                tree.remove(&digest.0)?;
            }
            Ok(())
        })?;
        self.expiring_batches
            .remove(expiring_key(batch.valid_through, digest))?;
        Ok(ids)
    }

    /// Sweeps the batches stored here whose `valid_through` is below `height` (at most
    /// `count_max` of them, oldest first): a committed one keeps its payload (its height's
    /// pruning takes it), any other is dropped with [`NodeStore::drop_expired_batch`]. Without
    /// this, a batch that was never certified, or certified but never proposed, would stay
    /// for good. Returns the ids the dropped batches held.
    pub fn sweep_expired_batches(
        &self,
        height: u64,
        count_max: usize,
    ) -> Result<Vec<TxId>, StoreError> {
        let keys: Vec<sled::IVec> = self
            .expiring_batches
            .range(..height.to_be_bytes())
            .keys()
            .take(count_max)
            .collect::<Result<_, _>>()?;
        let mut ids = Vec::new();
        for key in keys {
            let digest: [u8; 32] = key
                .get(8..)
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or(StoreError::Corrupt("expiring_batches"))?;
            ids.extend(self.drop_expired_batch(&BatchDigest(digest))?);
            self.expiring_batches.remove(&key)?;
        }
        Ok(ids)
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

    /// Whether a batch was committed at an earlier height (every transaction in it then took
    /// its place or was a duplicate, so listing it again adds nothing). The entry goes with its
    /// height's records: by then the batch is past its `valid_through` (the window is longer
    /// than the validity, ADR 0008), so a block listing it again skips it for that reason.
    pub fn is_batch_committed(&self, digest: &BatchDigest) -> Result<bool, StoreError> {
        Ok(self.committed_batches.contains_key(digest.0)?)
    }

    /// Number of committed transactions.
    pub fn order_len(&self) -> Result<u64, StoreError> {
        self.meta
            .get(ORDER_LEN)?
            .map_or(Ok(0), |bytes| u64_value(&bytes, "meta"))
    }

    /// Records the transactions committed at `height` (each at most once, in order) as the
    /// height's one record, the height as processed, the committed batches, and drops the
    /// own certificates of those batches, in one transaction. Nothing here is written per
    /// transaction: the committed-transaction index lives in memory
    /// ([`crate::committed::CommittedIndex`]) and is rebuilt from these records.
    pub fn append_order(
        &self,
        height: u64,
        block_digest: [u8; 32],
        transactions: &[OrderedTx],
        batches: &[BatchDigest],
    ) -> Result<HeightRecord, StoreError> {
        let start = self.order_len()?;
        let end = (start + transactions.len() as u64).to_be_bytes();
        let record = HeightRecord {
            block_digest,
            first_position: start,
            transactions: transactions.to_vec(),
        };
        let encoded = encode(&record, "heights")?;
        // The record goes to the height log, durable before the entry that locates it.
        let location = self.records.append(&encoded)?;
        self.records.sync()?;
        let mut entry = [0u8; HEIGHT_ENTRY_BYTES];
        entry[..LOCATION_BYTES].copy_from_slice(&location.to_bytes());
        entry[LOCATION_BYTES..].copy_from_slice(&height_record_checksum(&encoded));
        let batch_list: Vec<u8> = batches.iter().flat_map(|digest| digest.0).collect();
        (
            &self.height_starts,
            &self.meta,
            &self.certificates,
            &self.heights,
            &self.height_batches,
            &self.committed_batches,
            &self.record_segments,
        )
            .transaction(
                |(
                    height_starts,
                    meta,
                    certificates,
                    heights,
                    height_batches,
                    committed_batches,
                    record_segments,
                )|
                 -> TxResult {
                    if !transactions.is_empty() {
                        height_starts.insert(&start.to_be_bytes(), &height.to_be_bytes())?;
                    }
                    for digest in batches {
                        certificates.remove(&digest.0)?;
                        if committed_batches.get(digest.0)?.is_none() {
                            committed_batches.insert(&digest.0, &height.to_be_bytes())?;
                        }
                    }
                    heights.insert(&height.to_be_bytes(), &entry[..])?;
                    record_segments
                        .insert(&location.segment.to_be_bytes(), &height.to_be_bytes())?;
                    height_batches.insert(&height.to_be_bytes(), batch_list.as_slice())?;
                    meta.insert(PROCESSED_HEIGHT, &height.to_be_bytes())?;
                    meta.insert(ORDER_LEN, &end)?;
                    Ok(())
                },
            )?;
        Ok(record)
    }

    /// The records of the committed heights in `from..=to` that are kept, in height order.
    pub fn heights_in(&self, from: u64, to: u64) -> Result<Vec<(u64, HeightRecord)>, StoreError> {
        if from > to {
            return Ok(Vec::new());
        }
        self.heights
            .range(from.to_be_bytes()..=to.to_be_bytes())
            .map(|entry| {
                let (key, value) = entry?;
                Ok((
                    u64_value(&key, "heights")?,
                    self.read_height_record(&value)?,
                ))
            })
            .collect()
    }

    /// A committed height's order.
    pub fn height(&self, height: u64) -> Result<Option<HeightRecord>, StoreError> {
        self.heights
            .get(height.to_be_bytes())?
            .map(|entry| self.read_height_record(&entry))
            .transpose()
    }

    /// Reads the record a `heights` entry locates and checks it against the entry's checksum.
    /// The entry was written only after the record was durable, so a record that is missing,
    /// short or different is corruption (or an edited data folder), never a normal state.
    fn read_height_record(&self, entry: &[u8]) -> Result<HeightRecord, StoreError> {
        if entry.len() != HEIGHT_ENTRY_BYTES {
            return Err(StoreError::Corrupt("heights"));
        }
        let location =
            Location::from_bytes(&entry[..LOCATION_BYTES]).ok_or(StoreError::Corrupt("heights"))?;
        let bytes = self
            .records
            .read(location)?
            .ok_or(StoreError::Corrupt("height log"))?;
        if height_record_checksum(&bytes)[..] != entry[LOCATION_BYTES..] {
            return Err(StoreError::Corrupt("height log"));
        }
        decode(&bytes, "height log")
    }

    /// Records a verified batch certificate (any author's), for receipts.
    pub fn put_batch_certificate(&self, certificate: &BatchCertificate) -> Result<(), StoreError> {
        let bytes = encode(certificate, "batch_certificates")?;
        self.batch_certificates
            .insert(certificate.digest.0, bytes.as_slice())?;
        Ok(())
    }

    /// A batch's certificate, if known here.
    pub fn batch_certificate(
        &self,
        digest: &BatchDigest,
    ) -> Result<Option<BatchCertificate>, StoreError> {
        self.batch_certificates
            .get(digest.0)?
            .map(|bytes| decode(&bytes, "batch_certificates"))
            .transpose()
    }

    /// Records the quorum certificate of the committed block at `height`.
    pub fn put_block_certificate(
        &self,
        height: u64,
        certificate: &shroud_proofs::BlockCertificate,
    ) -> Result<(), StoreError> {
        let bytes = encode(certificate, "block_certificates")?;
        self.block_certificates
            .insert(height.to_be_bytes(), bytes.as_slice())?;
        Ok(())
    }

    /// The quorum certificate of the committed block at `height`, once known (it arrives
    /// with the next committed block).
    pub fn block_certificate(
        &self,
        height: u64,
    ) -> Result<Option<shroud_proofs::BlockCertificate>, StoreError> {
        self.block_certificates
            .get(height.to_be_bytes())?
            .map(|bytes| decode(&bytes, "block_certificates"))
            .transpose()
    }

    // ----- distributed key generation -----------------------------------------------------

    /// Records the DKG messages committed at `height`, in block order (made durable by the
    /// height's flush). Never pruned: the transcript is what a restarted validator replays.
    pub fn put_dkg_messages(&self, height: u64, messages: &[&[u8]]) -> Result<(), StoreError> {
        for (index, message) in messages.iter().enumerate() {
            let mut key = [0u8; 12];
            key[..8].copy_from_slice(&height.to_be_bytes());
            key[8..].copy_from_slice(&(index as u32).to_be_bytes());
            self.dkg_transcript.insert(key, *message)?;
        }
        Ok(())
    }

    /// The committed DKG transcript, in order: `(height, message bytes)`.
    pub fn dkg_transcript(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.dkg_transcript
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                let height = u64_value(key.get(..8).unwrap_or_default(), "dkg_transcript")?;
                Ok((height, value.to_vec()))
            })
            .collect()
    }

    /// Records the DKG's key set and what it decided (flushed by the caller).
    pub fn put_dkg_result(&self, key_set: &[u8], record: &DkgRecord) -> Result<(), StoreError> {
        let bytes = encode(record, "meta")?;
        self.meta.insert(DKG_RECORD, bytes.as_slice())?;
        self.meta.insert(DKG_KEY_SET, key_set)?;
        Ok(())
    }

    /// The key set the DKG formed, if it completed.
    pub fn dkg_key_set(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(DKG_KEY_SET)?.map(|bytes| bytes.to_vec()))
    }

    /// What the DKG decided, if it completed.
    pub fn dkg_record(&self) -> Result<Option<DkgRecord>, StoreError> {
        self.meta
            .get(DKG_RECORD)?
            .map(|bytes| decode(&bytes, "meta"))
            .transpose()
    }

    /// Records the committee's certificate of the epoch key.
    pub fn put_epoch_key_certificate(
        &self,
        certificate: &shroud_proofs::EpochKeyCertificate,
    ) -> Result<(), StoreError> {
        let bytes = encode(certificate, "meta")?;
        self.meta.insert(EPOCH_KEY_CERTIFICATE, bytes.as_slice())?;
        Ok(())
    }

    /// The committee's certificate of the epoch key, once formed.
    pub fn epoch_key_certificate(
        &self,
    ) -> Result<Option<shroud_proofs::EpochKeyCertificate>, StoreError> {
        self.meta
            .get(EPOCH_KEY_CERTIFICATE)?
            .map(|bytes| decode(&bytes, "meta"))
            .transpose()
    }

    // ----- decryption stage ----------------------------------------------------------------

    /// Where an encapsulation (a ciphertext's compressed `u`) was first ordered among the
    /// entries still deciding at `height`, recording `(height, position)` (deciding through
    /// `valid_through`) if there is none. An entry whose `valid_through` is below `height`
    /// no longer decides anything (every copy of its ciphertext now fails as expired) and is
    /// replaced. Idempotent for the same position (replayed after a restart). Only the
    /// decryption stage adds entries, from one thread; the pruner only removes entries that
    /// name a pruned (and so long expired) height, which this would replace anyway.
    pub fn first_encapsulation(
        &self,
        u: &[u8],
        height: u64,
        position: u32,
        valid_through: u64,
    ) -> Result<(u64, u32), StoreError> {
        if let Some(bytes) = self.encapsulations.get(u)? {
            let (first_height, first_position, expiry) = encapsulation_value(&bytes)?;
            if expiry >= height || (first_height, first_position) == (height, position) {
                return Ok((first_height, first_position));
            }
        }
        let mut value = [0u8; 20];
        value[..8].copy_from_slice(&height.to_be_bytes());
        value[8..12].copy_from_slice(&position.to_be_bytes());
        value[12..].copy_from_slice(&valid_through.to_be_bytes());
        self.encapsulations.insert(u, &value[..])?;
        Ok((height, position))
    }

    /// Records this validator's shares of a height (before they are sent).
    pub fn put_own_shares(&self, message: &SharesMessage) -> Result<(), StoreError> {
        let bytes = encode(message, "own_shares")?;
        self.own_shares
            .insert(message.height.to_be_bytes(), bytes.as_slice())?;
        Ok(())
    }

    /// This validator's shares of a height, if it made them.
    pub fn own_shares(&self, height: u64) -> Result<Option<SharesMessage>, StoreError> {
        self.own_shares
            .get(height.to_be_bytes())?
            .map(|bytes| decode(&bytes, "own_shares"))
            .transpose()
    }

    /// The decryption log of a height.
    pub fn decryption_log(&self, height: u64) -> Result<DecryptionLog, StoreError> {
        self.decryption_log
            .get(height.to_be_bytes())?
            .map_or(Ok(DecryptionLog::default()), |bytes| {
                decode(&bytes, "decryption_log")
            })
    }

    /// Replaces the decryption log of a height.
    pub fn put_decryption_log(&self, height: u64, log: &DecryptionLog) -> Result<(), StoreError> {
        let bytes = encode(log, "decryption_log")?;
        self.decryption_log
            .insert(height.to_be_bytes(), bytes.as_slice())?;
        Ok(())
    }

    /// Records a height's output (with this validator's signature) and its outcome counts, and
    /// advances the output height, in one transaction.
    pub fn put_output(&self, record: &OutputRecord) -> Result<(), StoreError> {
        let height = record.header.height;
        let bytes = encode(record, "outputs")?;
        let mut counts = self.outcome_counts()?;
        for entry in &record.entries {
            match &entry.outcome {
                shroud_proofs::Outcome::Decrypted(_) => counts.decrypted += 1,
                shroud_proofs::Outcome::Failed(reason) => {
                    counts.failed[usize::from(reason.code() - 1)] += 1;
                }
            }
        }
        let counts = encode(&counts, "meta")?;
        (&self.outputs, &self.meta).transaction(|(outputs, meta)| -> TxResult {
            outputs.insert(&height.to_be_bytes(), bytes.as_slice())?;
            meta.insert(OUTPUT_HEIGHT, &height.to_be_bytes())?;
            meta.insert(OUTCOME_COUNTS, counts.as_slice())?;
            Ok(())
        })?;
        Ok(())
    }

    /// A height's output.
    pub fn output(&self, height: u64) -> Result<Option<OutputRecord>, StoreError> {
        self.outputs
            .get(height.to_be_bytes())?
            .map(|bytes| decode(&bytes, "outputs"))
            .transpose()
    }

    /// The highest height whose output is built (outputs are built in height order).
    pub fn output_height(&self) -> Result<u64, StoreError> {
        self.meta
            .get(OUTPUT_HEIGHT)?
            .map_or(Ok(0), |bytes| u64_value(&bytes, "meta"))
    }

    /// Outcome counts over every output built.
    pub fn outcome_counts(&self) -> Result<OutcomeCounts, StoreError> {
        self.meta
            .get(OUTCOME_COUNTS)?
            .map_or(Ok(OutcomeCounts::default()), |bytes| decode(&bytes, "meta"))
    }

    /// Records a height's output certificate, and advances the certified height while the
    /// following heights are certified too.
    pub fn put_output_certificate(
        &self,
        certificate: &OutputCertificate,
    ) -> Result<u64, StoreError> {
        let height = certificate.header.height;
        let bytes = encode(certificate, "output_certificates")?;
        self.output_certificates
            .insert(height.to_be_bytes(), bytes.as_slice())?;
        let mut certified = self.certified_height()?;
        while self
            .output_certificates
            .contains_key((certified + 1).to_be_bytes())?
        {
            certified += 1;
        }
        self.meta
            .insert(CERTIFIED_HEIGHT, &certified.to_be_bytes())?;
        Ok(certified)
    }

    /// A height's output certificate.
    pub fn output_certificate(&self, height: u64) -> Result<Option<OutputCertificate>, StoreError> {
        self.output_certificates
            .get(height.to_be_bytes())?
            .map(|bytes| decode(&bytes, "output_certificates"))
            .transpose()
    }

    /// Every height up to this one has an output certificate.
    pub fn certified_height(&self) -> Result<u64, StoreError> {
        self.meta
            .get(CERTIFIED_HEIGHT)?
            .map_or(Ok(0), |bytes| u64_value(&bytes, "meta"))
    }

    /// The last block height whose transactions were appended.
    pub fn processed_height(&self) -> Result<u64, StoreError> {
        self.meta
            .get(PROCESSED_HEIGHT)?
            .map_or(Ok(0), |bytes| u64_value(&bytes, "meta"))
    }

    /// Committed transaction ids from global position `from`, at most `limit`, read from the
    /// height records (the first non-empty height at or before `from` is found by its start).
    pub fn order_range(&self, from: u64, limit: usize) -> Result<Vec<TxId>, StoreError> {
        let mut out = Vec::new();
        let first = self
            .height_starts
            .range(..=from.to_be_bytes())
            .next_back()
            .transpose()?
            .map(|(start, _)| u64_value(&start, "height_starts"))
            .transpose()?
            .unwrap_or(0);
        for entry in self.height_starts.range(first.to_be_bytes()..) {
            if out.len() >= limit {
                break;
            }
            let (_, height) = entry?;
            let height = u64_value(&height, "height_starts")?;
            let Some(record) = self.height(height)? else {
                // Pruned while this ran: the answer stops here.
                break;
            };
            let skip =
                usize::try_from(from.saturating_sub(record.first_position)).unwrap_or(usize::MAX);
            out.extend(
                record
                    .transactions
                    .iter()
                    .skip(skip)
                    .take(limit - out.len())
                    .map(|placed| placed.tx_id),
            );
        }
        Ok(out)
    }

    // ----- retention -----------------------------------------------------------------------

    /// The lowest height whose records are kept: every height below it was pruned.
    pub fn kept_from_height(&self) -> Result<u64, StoreError> {
        self.meta
            .get(KEPT_FROM_HEIGHT)?
            .map_or(Ok(0), |bytes| u64_value(&bytes, "meta"))
    }

    /// The lowest global position still in the order.
    pub fn kept_from_position(&self) -> Result<u64, StoreError> {
        self.meta
            .get(KEPT_FROM_POSITION)?
            .map_or(Ok(0), |bytes| u64_value(&bytes, "meta"))
    }

    /// Prunes the records of heights below `below`, oldest first and at most `heights_max` of
    /// them, and returns the new [`NodeStore::kept_from_height`]. Only certified heights are
    /// ever pruned (`below` is clamped to the certified height), so nothing the decryption
    /// stage still needs goes.
    ///
    /// Pruned: the height's order record and its slice of the global order, the batches it
    /// committed with their certificates, own shares, decryption log,
    /// output, output certificate and block certificate, and the ordering entries made at the
    /// height (committed transaction ids, batch digests and encapsulations), which stopped
    /// deciding anything once past their expiry (ADR 0008).
    pub fn prune_below(&self, below: u64, heights_max: u64) -> Result<u64, StoreError> {
        self.prune_below_final(below, heights_max, self.certified_height()?)
    }

    /// [`NodeStore::prune_below`] with the height below which nothing more will be written
    /// given by the caller: the certified height, or the processed height for a validator
    /// that orders only (it makes no outputs, so nothing is certified).
    pub fn prune_below_final(
        &self,
        below: u64,
        heights_max: u64,
        final_height: u64,
    ) -> Result<u64, StoreError> {
        let below = below.min(final_height);
        let mut kept_from = self.kept_from_height()?;
        let stop = below.min(kept_from.saturating_add(heights_max));
        while kept_from < stop {
            self.prune_height(kept_from)?;
            kept_from += 1;
        }
        self.reclaim_segments(kept_from)?;
        Ok(kept_from)
    }

    /// Deletes the segments no kept record needs: batch-log segments whose every batch
    /// expired before `kept_from` (each was committed at a height below it and pruned with
    /// it, or never committed and swept or past any use), and height-log segments whose every
    /// record is of a height below `kept_from`. The current segments stay. The prunings that
    /// removed the entries pointing into a segment are flushed before its file goes, so a
    /// crash never leaves a durable entry pointing at a deleted file.
    fn reclaim_segments(&self, kept_from: u64) -> Result<(), StoreError> {
        let batches = Self::reclaimable(&self.log, &self.log_segments, "log_segments", kept_from)?;
        let records = Self::reclaimable(
            &self.records,
            &self.record_segments,
            "record_segments",
            kept_from,
        )?;
        if batches.is_empty() && records.is_empty() {
            return Ok(());
        }
        self.db.flush()?;
        for (log, segments, done) in [
            (&self.log, &self.log_segments, batches),
            (&self.records, &self.record_segments, records),
        ] {
            for segment in done {
                log.remove(segment)?;
                segments.remove(segment.to_be_bytes())?;
            }
        }
        Ok(())
    }

    /// The closed segments of `log` whose last needed height (in `segments`) is below
    /// `kept_from`.
    fn reclaimable(
        log: &SegmentLog,
        segments: &sled::Tree,
        tree: &'static str,
        kept_from: u64,
    ) -> Result<Vec<u64>, StoreError> {
        let current = log.current_segment();
        let mut done = Vec::new();
        for entry in segments.iter() {
            let (key, value) = entry?;
            let segment = u64_value(&key, tree)?;
            if segment < current && u64_value(&value, tree)? < kept_from {
                done.push(segment);
            }
        }
        Ok(done)
    }

    /// Removes one height's records and moves the kept-from marks past it, in one transaction
    /// (a crash leaves the height either whole or gone). The ordering entries made at this
    /// height (encapsulations, batch digests) go too, each only if it still names this
    /// height: they stopped deciding anything `validity_heights` after it, and the window is
    /// longer than that (ADR 0008).
    fn prune_height(&self, height: u64) -> Result<(), StoreError> {
        let key = height.to_be_bytes();
        let digests = self.height_batch_digests(height)?;
        let mut stored = HashMap::new();
        for digest in &digests {
            if let Some(batch) = self.batch(digest)? {
                stored.insert(*digest, batch);
            }
        }
        let mut kept_position = self.kept_from_position()?;
        let mut start = None;
        let mut placed = Vec::new();
        if let Some(record) = self.height(height)? {
            let end = record.first_position + record.transactions.len() as u64;
            start = (!record.transactions.is_empty()).then_some(record.first_position);
            kept_position = kept_position.max(end);
            for transaction in &record.transactions {
                let bytes = stored
                    .get(&transaction.batch)
                    .and_then(|batch| batch.transactions.get(transaction.index as usize));
                placed.extend(bytes.and_then(|bytes| Ciphertext::peek_encapsulation(bytes)));
            }
        }
        let next = (height + 1).to_be_bytes();
        let kept_position = kept_position.to_be_bytes();
        let trees = [
            &self.heights,
            &self.height_batches,
            &self.own_shares,
            &self.decryption_log,
            &self.outputs,
            &self.output_certificates,
            &self.block_certificates,
            &self.height_starts,
            &self.batches,
            &self.batch_certificates,
            &self.meta,
            &self.encapsulations,
            &self.committed_batches,
        ];
        trees[..].transaction(|trees| -> TxResult {
            for tree in &trees[..7] {
                tree.remove(&key)?;
            }
            let (height_starts, batches, batch_certificates, meta) =
                (&trees[7], &trees[8], &trees[9], &trees[10]);
            let (encapsulations, committed_batches) = (&trees[11], &trees[12]);
            if let Some(start) = start {
                height_starts.remove(&start.to_be_bytes())?;
            }
            for digest in &digests {
                batches.remove(&digest.0)?;
                batch_certificates.remove(&digest.0)?;
                if committed_batches.get(digest.0)?.as_deref() == Some(&key[..]) {
                    committed_batches.remove(&digest.0)?;
                }
            }
            for u in &placed {
                let names_this_height = encapsulations
                    .get(u)?
                    .is_some_and(|bytes| bytes.get(0..8) == Some(&key[..]));
                if names_this_height {
                    encapsulations.remove(&u[..])?;
                }
            }
            meta.insert(KEPT_FROM_HEIGHT, &next)?;
            meta.insert(KEPT_FROM_POSITION, &kept_position)?;
            Ok(())
        })?;
        Ok(())
    }

    /// The batches committed at a height (none recorded for heights committed before the
    /// list was kept).
    fn height_batch_digests(&self, height: u64) -> Result<Vec<BatchDigest>, StoreError> {
        let Some(bytes) = self.height_batches.get(height.to_be_bytes())? else {
            return Ok(Vec::new());
        };
        if bytes.len() % 32 != 0 {
            return Err(StoreError::Corrupt("height_batches"));
        }
        Ok(bytes
            .chunks_exact(32)
            .map(|chunk| {
                let mut digest = [0u8; 32];
                digest.copy_from_slice(chunk);
                BatchDigest(digest)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reopens a store just dropped in this process. sled's background flusher can hold the
    /// folder's lock for a moment after the last handle goes (seen on a loaded machine); a
    /// restarted process never meets this, since the old one has exited.
    fn reopen(path: &Path) -> NodeStore {
        for _ in 0..100 {
            match NodeStore::open(path) {
                Ok(store) => return store,
                Err(error) if format!("{error:?}").contains("could not acquire lock") => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(error) => panic!("reopen: {error:?}"),
            }
        }
        panic!("reopen: the lock was not released in 2 s");
    }

    #[test]
    fn an_own_batch_moves_through_pending_uncertified_certified_committed() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = NodeStore::open(dir.path()).expect("open");
        let transactions = [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()];
        let group = |first: u64, range: std::ops::Range<usize>| PendingGroup {
            first,
            transactions: transactions[range].to_vec(),
        };
        let refs: Vec<&[u8]> = transactions.iter().map(Vec::as_slice).collect();
        store.put_pending(0, &refs[0..1]).expect("pending");
        store.put_pending(1, &refs[1..3]).expect("pending");
        let batch = Batch {
            epoch: 1,
            author: 0,
            sequence: 4,
            valid_through: 20,
            transactions: transactions[..2].to_vec(),
        };
        // The batch takes admission numbers 0 and 1: the first group whole, the second in
        // part, which stays with the mark past its first ciphertext.
        let digest = store.put_own_batch(&batch, 2).expect("batch");
        assert_eq!(store.pending().expect("pending"), (2, vec![group(1, 1..3)]));
        let transactions = transactions[..2].to_vec();
        assert_eq!(
            store.own_uncertified().expect("uncertified"),
            vec![batch.clone()]
        );
        assert_eq!(store.next_sequence().expect("sequence"), 5);

        let certificate = BatchCertificate {
            epoch: 1,
            valid_through: 20,
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
        let ordered: Vec<OrderedTx> = ids
            .iter()
            .zip(0u32..)
            .zip([Some(20), None])
            .map(|((tx_id, index), expiry)| OrderedTx {
                tx_id: *tx_id,
                batch: digest,
                index,
                expiry,
            })
            .collect();
        store
            .append_order(7, [9; 32], &ordered, &[digest])
            .expect("order");
        store.flush().expect("flush");
        drop(store);
        let store = reopen(dir.path());
        assert!(store.certificates().expect("certificates").is_empty());
        assert_eq!(store.order_len().expect("length"), 2);
        assert_eq!(store.processed_height().expect("height"), 7);
        assert_eq!(store.order_range(0, 10).expect("range"), ids);
        assert_eq!(store.order_range(1, 10).expect("range"), ids[1..].to_vec());
        let record = store.height(7).expect("read").expect("recorded");
        assert_eq!(record.transactions, ordered);
        assert_eq!(record.first_position, 0);
        // The committed index rebuilt from the record decides as the one that recorded it:
        // the first through its expiry, the second (failing as expired) its own height only.
        let index = crate::committed::rebuild(&store, 50).expect("rebuild");
        assert!(index.is_live(&ids[0], 20));
        assert!(!index.is_live(&ids[0], 21));
        assert!(index.is_live(&ids[1], 7));
        assert!(!index.is_live(&ids[1], 8));
        assert_eq!(index.committed_at(&ids[1]), Some((7, 1)));
    }

    #[test]
    fn an_encapsulation_keeps_its_first_position_until_it_expires() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = NodeStore::open(dir.path()).expect("open");
        let first = |u: &[u8], height, position, through| {
            store
                .first_encapsulation(u, height, position, through)
                .expect("store")
        };
        assert_eq!(first(b"u1", 3, 4, 9), (3, 4));
        assert_eq!(first(b"u1", 3, 4, 9), (3, 4), "a replay after a restart");
        assert_eq!(first(b"u1", 5, 0, 30), (3, 4), "a duplicate");
        assert_eq!(
            first(b"u1", 9, 1, 30),
            (3, 4),
            "still a duplicate at its expiry"
        );
        assert_eq!(first(b"u2", 5, 0, 9), (5, 0));
        // Past its expiry the first entry decides nothing (a copy of that ciphertext fails as
        // expired before reaching here); the next placement takes its place.
        assert_eq!(first(b"u1", 10, 2, 30), (10, 2));
        assert_eq!(first(b"u1", 11, 0, 30), (10, 2));
    }

    #[test]
    fn expired_batches_are_swept_unless_committed() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = NodeStore::open(dir.path()).expect("open");
        let batch = |sequence: u64, valid_through: u64| Batch {
            epoch: 1,
            author: 2,
            sequence,
            valid_through,
            transactions: vec![format!("t{sequence}").into_bytes()],
        };
        let (stale, committed, live) = (batch(1, 5), batch(2, 5), batch(3, 50));
        for b in [&stale, &committed, &live] {
            store.put_batch(b).expect("batch");
        }
        let id_of = |b: &Batch| TxId::of(&b.transactions[0]);
        store
            .append_order(
                3,
                [3; 32],
                &[OrderedTx {
                    tx_id: id_of(&committed),
                    batch: committed.digest(),
                    index: 0,
                    expiry: Some(5),
                }],
                &[committed.digest()],
            )
            .expect("order");
        // Nothing is past its expiry at height 5.
        assert!(store
            .sweep_expired_batches(5, 10)
            .expect("sweep")
            .is_empty());
        // At height 6 the uncommitted stale batch goes with its index entry; the committed one
        // stays for its height's pruning (lagging peers may fetch it); the live one stays.
        assert_eq!(
            store.sweep_expired_batches(6, 10).expect("sweep"),
            vec![id_of(&stale)]
        );
        assert_eq!(store.batch(&stale.digest()).expect("read"), None);
        assert!(store.batch(&committed.digest()).expect("read").is_some());
        assert!(store.batch(&live.digest()).expect("read").is_some());
        assert!(store
            .sweep_expired_batches(6, 10)
            .expect("sweep")
            .is_empty());
        assert!(store
            .drop_expired_batch(&committed.digest())
            .expect("drop")
            .is_empty());
        assert!(store.batch(&committed.digest()).expect("read").is_some());
    }

    /// Bytes shaped like a ciphertext as far as [`Ciphertext::peek_encapsulation`] reads
    /// (version, label, `u`), with a distinct `u` per tag.
    fn fake_ciphertext(tag: u8, height: u64) -> Vec<u8> {
        let mut bytes = vec![shroud_crypto::tdh2::CIPHERTEXT_VERSION];
        bytes.extend_from_slice(&[0; shroud_crypto::tdh2::LABEL_BYTES]);
        bytes.extend_from_slice(&[tag; 40]);
        bytes.extend_from_slice(&height.to_be_bytes());
        bytes
    }
    /// Commits `heights` heights of one two-transaction batch each, with an output, a
    /// certificate, shares, a log and a block certificate per height.
    fn filled_store(heights: u64) -> (tempfile::TempDir, NodeStore, Vec<Vec<TxId>>) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = NodeStore::open(dir.path()).expect("open");
        let mut ids = Vec::new();
        for height in 1..=heights {
            let transactions = vec![fake_ciphertext(b'a', height), fake_ciphertext(b'b', height)];
            let batch = Batch {
                epoch: 1,
                author: 1,
                sequence: height,
                valid_through: height + 2,
                transactions: transactions.clone(),
            };
            let digest = store.put_batch(&batch).expect("batch");
            store
                .put_batch_certificate(&BatchCertificate {
                    epoch: 1,
                    valid_through: height + 2,
                    digest,
                    author: 1,
                    signers: vec![0b111],
                    signature: [1; 96],
                })
                .expect("batch certificate");
            let height_ids: Vec<TxId> = transactions.iter().map(|t| TxId::of(t)).collect();
            let ordered: Vec<OrderedTx> = height_ids
                .iter()
                .zip(0u32..)
                .zip([Some(height + 2), None])
                .map(|((tx_id, index), expiry)| OrderedTx {
                    tx_id: *tx_id,
                    batch: digest,
                    index,
                    expiry,
                })
                .collect();
            store
                .append_order(height, [height as u8; 32], &ordered, &[digest])
                .expect("order");
            let u = Ciphertext::peek_encapsulation(&transactions[0]).expect("shaped");
            store
                .first_encapsulation(&u, height, 0, height + 2)
                .expect("encapsulation");
            let header = OutputHeader {
                chain_id: 1,
                epoch: 1,
                height,
                block_digest: [height as u8; 32],
                ciphertexts_root: [0; 32],
                payload_root: [0; 32],
                parent_output: [0; 32],
            };
            store
                .put_output(&OutputRecord {
                    header,
                    entries: Vec::new(),
                    signature: [2; 96],
                    points: Vec::new(),
                })
                .expect("output");
            store
                .put_output_certificate(&OutputCertificate {
                    header,
                    signers: vec![0b111],
                    signature: [3; 96],
                })
                .expect("output certificate");
            store
                .put_own_shares(&SharesMessage {
                    epoch: 1,
                    height,
                    block_digest: [height as u8; 32],
                    sender: 0,
                    positions: Vec::new(),
                    values: Vec::new(),
                    proof: Vec::new(),
                })
                .expect("shares");
            store
                .put_decryption_log(height, &DecryptionLog::default())
                .expect("log");
            store
                .put_block_certificate(
                    height,
                    &shroud_proofs::BlockCertificate {
                        epoch: 1,
                        view: height,
                        block: [height as u8; 32],
                        height,
                        signers: vec![0b111],
                        signature: [4; 96],
                    },
                )
                .expect("block certificate");
            ids.push(height_ids);
        }
        (dir, store, ids)
    }

    #[test]
    fn height_records_live_in_the_height_log_are_checked_on_read_and_reclaimed_when_pruned() {
        let (dir, store, ids) = filled_store(3);
        drop(store);
        let store = reopen(dir.path());
        // Written before the reopen, read back from the closed segment 0.
        let record = store.height(2).expect("read").expect("recorded");
        assert_eq!(record.transactions[1].tx_id, ids[1][1]);
        assert_eq!(
            store.heights_in(1, 3).expect("read").len(),
            3,
            "every kept height is read back"
        );
        // A record damaged on disk reads as corrupt, never as another order.
        let segment = dir
            .path()
            .join("height-log")
            .join("segment-0000000000000000");
        let mut bytes = std::fs::read(&segment).expect("segment 0");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&segment, &bytes).expect("damage");
        assert!(matches!(
            store.height(3),
            Err(StoreError::Corrupt("height log"))
        ));
        bytes[last] ^= 1;
        std::fs::write(&segment, &bytes).expect("repair");
        assert!(store.height(3).expect("read").is_some());
        // Once every height in segment 0 is pruned, its file goes; the current segment stays
        // (pruned as an ordering-only validator does, up to its processed height).
        assert_eq!(store.prune_below_final(4, 100, 4).expect("prune"), 4);
        assert!(!segment.exists(), "a wholly pruned segment is deleted");
        assert!(dir
            .path()
            .join("height-log")
            .join("segment-0000000000000001")
            .exists());
    }

    #[test]
    fn pruning_drops_old_heights_whole_with_their_ordering_entries() {
        let (dir, store, ids) = filled_store(6);
        let digest_of = |height: u64| {
            store
                .height(height)
                .expect("read")
                .map(|r| r.transactions[0].batch)
        };
        let old_batch = digest_of(2).expect("height 2 recorded");
        assert_eq!(store.prune_below(3, 100).expect("prune"), 3);
        assert_eq!(store.kept_from_height().expect("kept"), 3);
        assert_eq!(store.kept_from_position().expect("kept"), 4);
        for height in 1..3 {
            assert_eq!(store.height(height).expect("read"), None);
            assert_eq!(store.output(height).expect("read"), None);
            assert_eq!(store.output_certificate(height).expect("read"), None);
            assert_eq!(store.own_shares(height).expect("read"), None);
            assert_eq!(store.block_certificate(height).expect("read"), None);
        }
        assert_eq!(store.batch(&old_batch).expect("read"), None);
        assert_eq!(store.batch_certificate(&old_batch).expect("read"), None);
        // The ordering entries made at pruned heights go with them (they had expired); those
        // of kept heights stay: the index rebuilt from the store knows only the kept heights.
        let index = crate::committed::rebuild(&store, 100).expect("rebuild");
        for id in ids[..2].concat() {
            assert_eq!(index.committed_at(&id), None);
        }
        assert_eq!(index.committed_at(&ids[2][1]), Some((3, 1)));
        assert!(!store.is_batch_committed(&old_batch).expect("read"));
        let u_of = |height: u64| {
            Ciphertext::peek_encapsulation(&fake_ciphertext(b'a', height)).expect("shaped")
        };
        assert_eq!(
            store
                .first_encapsulation(&u_of(2), 9, 7, 9)
                .expect("new again"),
            (9, 7)
        );
        assert!(store
            .is_batch_committed(&digest_of(3).expect("kept"))
            .expect("read"));
        assert_eq!(
            store.first_encapsulation(&u_of(3), 4, 1, 9).expect("kept"),
            (3, 0)
        );
        // The kept heights are whole.
        assert!(store.output(3).expect("read").is_some());
        assert!(store.block_certificate(3).expect("read").is_some());
        let kept_batch = digest_of(3).expect("height 3 kept");
        assert!(store.batch(&kept_batch).expect("read").is_some());
        assert_eq!(store.order_range(0, 100).expect("range"), ids[2..].concat());
        // Never past the certified height, and a bounded step at a time.
        assert_eq!(store.prune_below(u64::MAX, 1).expect("one step"), 4);
        assert_eq!(store.prune_below(u64::MAX, 100).expect("prune"), 6);
        assert!(store.output(6).expect("read").is_some());
        store.flush().expect("flush");
        drop(store);
        let store = reopen(dir.path());
        assert_eq!(store.kept_from_height().expect("kept"), 6);
        assert_eq!(store.kept_from_position().expect("kept"), 10);
    }
}
