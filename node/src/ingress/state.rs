//! The ingress stage's logic: group admission, group commit and batch cutting over the node's
//! store, with no threads or channels (the actor drives it; tests call it directly).

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::batch::{CutBatch, TxId};
use crate::committed::SharedCommitted;
use crate::mempool::{Mempool, Rejection};
use crate::store::{NodeStore, StoreError};

/// What one group commit did, in the order the submissions came.
#[derive(Debug, Default)]
pub struct GroupOutcome {
    /// One verdict per submission: its id when accepted (durable: the group is flushed).
    pub verdicts: Vec<Result<TxId, Rejection>>,
    /// Own batches cut and flushed in the same step, oldest first.
    pub batches: Vec<CutBatch>,
}

/// The ingress stage's state: the mempool, the pending groups on disk, and the store.
#[derive(Debug)]
pub struct IngressState {
    mempool: Mempool,
    store: NodeStore,
    /// Committed transactions (a committed one is a duplicate).
    committed: SharedCommitted,
    /// Admit without checking ciphertexts (the ordering-only benchmark, an injected fault).
    unchecked: bool,
    /// Weights of the batched proof checks (public randomness; a fresh seed per start).
    rng: ChaCha20Rng,
}

impl IngressState {
    /// The stage over `store`, with what it holds pending restored into `mempool`.
    pub fn new(
        mut mempool: Mempool,
        store: NodeStore,
        committed: SharedCommitted,
        unchecked: bool,
        now_ms: u64,
    ) -> Result<Self, StoreError> {
        let (batched_through, stored) = store.pending()?;
        mempool.restore(stored, batched_through, now_ms);
        Ok(Self {
            mempool,
            store,
            committed,
            unchecked,
            rng: ChaCha20Rng::from_entropy(),
        })
    }

    /// One group commit: checks every submission, holds and writes the accepted ones as one
    /// record, cuts and writes the batches now due (with `in_flight` own batches cut and not
    /// yet committed), and flushes once. Nothing in the outcome may be told to anyone before
    /// this returns (it is durable when it does).
    pub fn admit_group(
        &mut self,
        submissions: Vec<Vec<u8>>,
        now_ms: u64,
        in_flight: usize,
    ) -> Result<GroupOutcome, StoreError> {
        let committed = self.committed.read();
        let verdicts =
            self.mempool
                .check_group(&submissions, self.unchecked, &mut self.rng, |id| {
                    committed.committed_at(id).is_some()
                });
        drop(committed);
        let first = self.mempool.next_admission();
        let accepted: Vec<&[u8]> = submissions
            .iter()
            .zip(&verdicts)
            .filter(|(_, verdict)| verdict.is_ok())
            .map(|(bytes, _)| bytes.as_slice())
            .collect();
        if !accepted.is_empty() {
            // Durable on return: the receipts may leave once this function returns.
            self.store.put_pending(first, &accepted)?;
        }
        for (bytes, verdict) in submissions.into_iter().zip(&verdicts) {
            if let Ok(id) = verdict {
                self.mempool.hold(*id, bytes, now_ms);
            }
        }
        let batches = self.cut_batches(now_ms, in_flight)?;
        self.flush_batches(&batches)?;
        Ok(GroupOutcome { verdicts, batches })
    }

    /// Cuts the batches due by age (the caller's timer), writes them and flushes.
    pub fn tick(&mut self, now_ms: u64, in_flight: usize) -> Result<Vec<CutBatch>, StoreError> {
        let batches = self.cut_batches(now_ms, in_flight)?;
        self.flush_batches(&batches)?;
        Ok(batches)
    }

    /// Makes cut batches and the mark past them durable (before any leaves), then drops the
    /// pending log's segments that the mark has passed.
    fn flush_batches(&mut self, batches: &[CutBatch]) -> Result<(), StoreError> {
        if batches.is_empty() {
            return Ok(());
        }
        self.store.flush()?;
        self.store.reclaim_pending(self.mempool.batched_through())
    }

    /// Cuts every batch due and writes each with the mark past it (not flushed).
    fn cut_batches(&mut self, now_ms: u64, in_flight: usize) -> Result<Vec<CutBatch>, StoreError> {
        let mut batches = Vec::new();
        while let Some((batch, ids)) = self
            .mempool
            .take_batch_with_ids(now_ms, in_flight + batches.len())
        {
            let batched_through = self.mempool.batched_through();
            let digest = self.store.put_own_batch(&batch, batched_through)?;
            batches.push(CutBatch { batch, digest, ids });
        }
        Ok(batches)
    }

    /// When the next batch is due by age, if anything is pending.
    pub fn next_deadline(&self) -> Option<u64> {
        self.mempool.next_deadline()
    }

    /// The processed height moved (expiry is judged against the next one).
    pub fn set_height(&mut self, height: u64) {
        self.mempool.set_height(height);
    }

    /// Ids that committed (or were dropped as expired): no longer held as duplicates here.
    pub fn forget(&mut self, ids: &[TxId]) {
        self.mempool.forget(ids);
    }

    /// Ciphertexts waiting for a batch.
    pub fn pending_len(&self) -> usize {
        self.mempool.len()
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use shroud_crypto::tdh2::{encrypt, trusted_dealer_for_local_testnet, Context, Label};

    use super::*;
    use crate::committed::{CommittedIndex, SharedCommitted};
    use crate::mempool::MempoolConfig;

    const CONTEXT: Context = Context {
        chain_id: 5,
        epoch: 2,
    };

    fn config() -> MempoolConfig {
        MempoolConfig {
            batch_count_max: 4,
            batch_interval_ms: 10,
            batches_in_flight_max: 3,
            batches_in_flight_by_age_max: 1,
            ..MempoolConfig::default()
        }
    }

    fn open(
        dir: &std::path::Path,
        key: shroud_crypto::tdh2::EncryptionKey,
        committed: &SharedCommitted,
    ) -> IngressState {
        // sled may hold its folder's lock for a moment after the last handle of a store
        // reopened in the same process goes.
        let mut attempts = 0;
        let store = loop {
            match NodeStore::open(dir) {
                Ok(store) => break store,
                Err(error) => {
                    attempts += 1;
                    assert!(attempts < 100, "reopen: {error}");
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
        };
        let mempool = Mempool::new(
            config(),
            CONTEXT,
            crate::key_slot::KeySlot::ready(key),
            0,
            store.next_sequence().expect("sequence"),
            100,
        );
        IngressState::new(mempool, store, committed.clone(), false, 0).expect("state")
    }

    /// A store folder, a key, an empty committed index and `count` ciphertexts for them.
    struct Fixture {
        dir: tempfile::TempDir,
        key: shroud_crypto::tdh2::EncryptionKey,
        committed: SharedCommitted,
        all: Vec<Vec<u8>>,
    }

    fn fixture(seed: u64, count: u8) -> Fixture {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let (public, _) = trusted_dealer_for_local_testnet(2, 4, &mut rng).expect("dealer");
        let key = *public.encryption_key();
        let all = ciphertexts(&key, count, &mut rng);
        Fixture {
            dir,
            key,
            committed: SharedCommitted::new(CommittedIndex::new(100)),
            all,
        }
    }

    fn ciphertexts(
        key: &shroud_crypto::tdh2::EncryptionKey,
        count: u8,
        rng: &mut ChaCha20Rng,
    ) -> Vec<Vec<u8>> {
        (0..count)
            .map(|nonce| {
                let label = Label {
                    chain_id: CONTEXT.chain_id,
                    epoch: CONTEXT.epoch,
                    valid_through: 50,
                    nonce: [nonce; 32],
                };
                encrypt(key, label, b"transfer", rng).to_bytes()
            })
            .collect()
    }

    #[test]
    fn a_group_is_checked_together_and_a_bad_member_is_refused_alone() {
        let fixture = fixture(3, 3);
        let mut state = open(fixture.dir.path(), fixture.key, &fixture.committed);
        let mut group = fixture.all.clone();
        let last = group[1].len() - 1;
        group[1][last] ^= 1;
        group.push(group[0].clone());
        let outcome = state
            .admit_group(group.clone(), 0, 0)
            .expect("group commit");
        assert_eq!(outcome.verdicts[0], Ok(TxId::of(&group[0])));
        assert_eq!(outcome.verdicts[1], Err(Rejection::InvalidCiphertext));
        assert_eq!(outcome.verdicts[2], Ok(TxId::of(&group[2])));
        assert_eq!(
            outcome.verdicts[3],
            Err(Rejection::Duplicate),
            "twice in one group"
        );
        assert!(
            outcome.batches.is_empty(),
            "two pending, neither full nor old"
        );
        assert_eq!(state.pending_len(), 2);
        // Sent again in a later group, an accepted one is a duplicate.
        let again = state
            .admit_group(vec![group[2].clone()], 1, 0)
            .expect("group commit");
        assert_eq!(again.verdicts, vec![Err(Rejection::Duplicate)]);
    }

    #[test]
    fn what_was_accepted_survives_a_restart_and_is_batched_exactly_once() {
        let Fixture {
            dir,
            key,
            committed,
            all,
        } = fixture(4, 7);
        let mut state = open(dir.path(), key, &committed);
        // Two groups of three: the second fills a batch of four by count, which takes the
        // whole first group and part of the second.
        assert!(state
            .admit_group(all[..3].to_vec(), 0, 0)
            .expect("group")
            .batches
            .is_empty());
        let outcome = state.admit_group(all[3..6].to_vec(), 1, 0).expect("group");
        assert_eq!(outcome.batches.len(), 1);
        assert_eq!(outcome.batches[0].batch.transactions, all[..4].to_vec());
        assert_eq!(state.pending_len(), 2);
        drop(state);
        let mut state = open(dir.path(), key, &committed);
        // The two not yet batched are pending again, and only they.
        assert_eq!(state.pending_len(), 2);
        let outcome = state
            .admit_group(vec![all[6].clone()], 100, 0)
            .expect("group");
        assert_eq!(outcome.batches.len(), 1, "due by age");
        assert_eq!(outcome.batches[0].batch.transactions, all[4..7].to_vec());
        assert_eq!(
            outcome.batches[0].batch.sequence, 1,
            "the batch numbering goes on"
        );
    }

    #[test]
    fn batches_grow_instead_of_multiplying_while_earlier_ones_are_in_flight() {
        let Fixture {
            dir,
            key,
            committed,
            all,
        } = fixture(5, 13);
        let mut state = open(dir.path(), key, &committed);
        state.admit_group(all[..1].to_vec(), 0, 0).expect("group");
        // Old enough, but one own batch is in flight: held back.
        assert!(state.tick(50, 1).expect("tick").is_empty());
        assert_eq!(state.tick(50, 0).expect("tick").len(), 1);
        // Full batches are cut while fewer than three are in flight, and no more.
        let outcome = state
            .admit_group(all[1..12].to_vec(), 60, 1)
            .expect("group");
        assert_eq!(outcome.batches.len(), 2);
        assert_eq!(state.pending_len(), 3);
        // A committed transaction is a duplicate.
        let record = crate::store::HeightRecord {
            block_digest: [0; 32],
            first_position: 0,
            transactions: vec![crate::store::OrderedTx {
                tx_id: TxId::of(&all[12]),
                batch: crate::batch::BatchDigest([0; 32]),
                index: 0,
                expiry: Some(40),
            }],
        };
        committed.write().record_height(&record, 1);
        let outcome = state
            .admit_group(vec![all[12].clone()], 70, 0)
            .expect("group");
        assert_eq!(outcome.verdicts, vec![Err(Rejection::Duplicate)]);
    }
}
