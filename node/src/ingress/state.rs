//! The ingress stage's logic: group admission, group commit and batch cutting over the node's
//! store, with no threads or channels (the actor drives it; tests call it directly).

use std::collections::VecDeque;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::batch::{Batch, TxId};
use crate::committed::SharedCommitted;
use crate::mempool::{Mempool, Rejection};
use crate::store::{NodeStore, PendingGroup, StoreError};

/// What one group commit did, in the order the submissions came.
#[derive(Debug, Default)]
pub struct GroupOutcome {
    /// One verdict per submission: its id when accepted (durable: the group is flushed).
    pub verdicts: Vec<Result<TxId, Rejection>>,
    /// Own batches cut and flushed in the same step, oldest first.
    pub batches: Vec<Batch>,
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
    /// Stored pending groups not yet wholly batched: `(first, end)` admission numbers.
    groups: VecDeque<(u64, u64)>,
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
        let groups = stored
            .iter()
            .map(|group| (group.first, group.first + group.transactions.len() as u64))
            .collect();
        mempool.restore(stored, batched_through, now_ms);
        Ok(Self {
            mempool,
            store,
            committed,
            unchecked,
            groups,
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
        let mut accepted = Vec::new();
        for (bytes, verdict) in submissions.into_iter().zip(&verdicts) {
            if let Ok(id) = verdict {
                self.mempool.hold(*id, bytes.clone(), now_ms);
                accepted.push(bytes);
            }
        }
        if !accepted.is_empty() {
            let end = first + accepted.len() as u64;
            self.store.put_pending_group(&PendingGroup {
                first,
                transactions: accepted,
            })?;
            self.groups.push_back((first, end));
        }
        let batches = self.cut_batches(now_ms, in_flight)?;
        self.store.flush()?;
        Ok(GroupOutcome { verdicts, batches })
    }

    /// Cuts the batches due by age (the caller's timer), writes them and flushes.
    pub fn tick(&mut self, now_ms: u64, in_flight: usize) -> Result<Vec<Batch>, StoreError> {
        let batches = self.cut_batches(now_ms, in_flight)?;
        if !batches.is_empty() {
            self.store.flush()?;
        }
        Ok(batches)
    }

    /// Cuts every batch due and writes each with the mark past it (not flushed).
    fn cut_batches(&mut self, now_ms: u64, in_flight: usize) -> Result<Vec<Batch>, StoreError> {
        let mut batches = Vec::new();
        while let Some(batch) = self.mempool.take_batch(now_ms, in_flight + batches.len()) {
            let batched_through = self.mempool.batched_through();
            let mut consumed = Vec::new();
            while let Some(&(first, end)) = self.groups.front() {
                if end > batched_through {
                    break;
                }
                consumed.push(first);
                self.groups.pop_front();
            }
            self.store
                .put_own_batch(&batch, batched_through, &consumed)?;
            batches.push(batch);
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
