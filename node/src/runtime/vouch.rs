//! Validity checked once per honest party, not by every validator (ADR 0011, third pass).
//!
//! A batch acknowledgement attests that its signer stored the batch durably **and checked
//! every ciphertext in it** (decoded, label naming this chain and epoch, validity proof
//! holding for the epoch key). A batch certificate holds `f + 1` acknowledgements, so at least
//! one honest validator checked every ciphertext of every certified batch, and blocks list
//! only certified batches: the decryption stage decodes a committed ciphertext's `u` and label
//! and does not check its proof again (`crate::decrypt`). A Byzantine author that puts an
//! invalid ciphertext in a batch gets no honest acknowledgement for it, so the batch is never
//! certified, never ordered, and no share is ever made for it.
//!
//! Who checks: the author checked each ciphertext at admission and acknowledges its own batch;
//! the `f` validators after it (indices `author + 1 ..= author + f`, mod `n`) check a new
//! batch at once, on the checking thread's pool, and acknowledge it when it holds. Together
//! they are the `f + 1` a certificate needs. Every other validator stores the batch and checks
//! it only if no certificate for it is known after [`FALLBACK_MS`] (a designated checker may
//! be down or Byzantine): liveness costs at most that delay, and the common case costs the
//! committee two checks of each ciphertext, the author's and one peer's at n = 4, instead of
//! one at admission and one at every validator. After such a fallback, this validator checks
//! that author's batches at once for a while (its designated checker is late), and one
//! author's batches being checked or waiting here are capped, so that a flooding author
//! cannot crowd out the others' checks.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;

use metrics::{counter, histogram};
use rand_core::OsRng;
use shroud_crypto::tdh2::{all_valid, Context, EncryptionKey};
use tokio::sync::mpsc;
use tracing::warn;

use crate::batch::{Batch, BatchDigest};
use crate::id_hash::IdMap;
use crate::key_slot::KeySlot;

/// How long a validator that is not a designated checker waits for a batch's certificate
/// before it checks and acknowledges the batch itself.
pub const FALLBACK_MS: u64 = 1_000;
/// Batches waiting for the checking thread at most (past it a check is retried at the next
/// tick).
const JOBS_QUEUED_MAX: usize = 64;
/// One author's batches being checked or waiting for a certificate here, at most. An honest
/// author has at most `batches_in_flight_max` (6 by default) uncertified batches, each
/// waiting here about a second; past this, further batches of that author are stored but
/// neither checked nor acknowledged (its re-sends are considered again later).
const AUTHOR_PENDING_MAX: usize = 32;
/// After a fallback check of an author's batch (no certificate came in time: its designated
/// checker may be down or silent), this validator checks that author's batches at once for
/// this long.
const LATE_CHECKER_MS: u64 = 10_000;

/// A batch to check, from its author.
#[derive(Debug)]
pub struct Job {
    /// The author (who gets the acknowledgement).
    pub from: usize,
    /// The batch's digest.
    pub digest: BatchDigest,
    /// The batch.
    pub batch: Batch,
}

/// A checked batch and whether every transaction in it holds.
#[derive(Debug)]
pub struct Verdict {
    /// The job checked.
    pub job: Job,
    /// Every transaction decodes, names this chain and epoch, and passes its proof.
    pub valid: bool,
}

/// What the checking thread needs: the chain's context and the epoch key.
#[derive(Clone, Debug)]
pub struct CheckParams {
    /// The chain and epoch every label must name.
    pub context: Context,
    /// The epoch's encryption key, which proofs are checked against (a batch waits until the
    /// DKG forms it).
    pub key: KeySlot,
    /// Largest ciphertext payload decoded.
    pub ciphertext_bytes_max: usize,
}

/// Starts the checking thread (its pool's threads are named `check-N`): it checks one batch
/// at a time, every ciphertext decoded and the proofs checked together on every worker, and
/// sends each verdict to `verdicts`. It ends when the loop drops its [`Vouching`].
pub fn spawn(
    params: CheckParams,
    verdicts: mpsc::Sender<Verdict>,
) -> std::io::Result<(SyncSender<Job>, JoinHandle<()>)> {
    let pool = crate::workers::stage_pool("check")?;
    let (jobs, inbox) = sync_channel(JOBS_QUEUED_MAX);
    let thread = std::thread::Builder::new()
        .name("check".into())
        .spawn(move || pool.install(move || run(&params, &inbox, &verdicts)))?;
    Ok((jobs, thread))
}

/// How often a batch that arrived before the epoch key waits for it between looks.
const KEY_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

fn run(params: &CheckParams, inbox: &Receiver<Job>, verdicts: &mpsc::Sender<Verdict>) {
    while let Ok(job) = inbox.recv() {
        // Before the DKG forms the key no honest author has a batch, but a peer that formed
        // it a moment earlier may: its batch waits here for the key (nothing else to check
        // meanwhile), and the loop's own end closes the verdict channel.
        let key = loop {
            if let Some(key) = params.key.get() {
                break key;
            }
            if verdicts.is_closed() {
                return;
            }
            std::thread::sleep(KEY_WAIT);
        };
        let started = std::time::Instant::now();
        let valid = batch_is_valid(params, &key, &job.batch);
        histogram!("shroud_batch_check_seconds").record(started.elapsed().as_secs_f64());
        if verdicts.blocking_send(Verdict { job, valid }).is_err() {
            return;
        }
    }
}

/// Whether every transaction of a batch is a valid ciphertext of this chain's epoch. It
/// stops at the first that does not decode or names another context, and checks the proofs
/// together with no one-by-one fallback: a Byzantine author's bad batch costs no more to
/// refuse than a good one costs to accept.
pub fn batch_is_valid(params: &CheckParams, key: &EncryptionKey, batch: &Batch) -> bool {
    let items: Vec<&[u8]> = batch.transactions.iter().map(Vec::as_slice).collect();
    all_valid(
        &items,
        params.ciphertext_bytes_max,
        key,
        &params.context,
        &mut OsRng,
    )
}

/// Whether `me` checks `author`'s batches at once: the `f` validators after the author.
pub fn designated(author: usize, me: usize, size: usize) -> bool {
    let faulty = size.saturating_sub(1) / 3;
    let after = (me + size - author % size) % size;
    after >= 1 && after <= faulty
}

/// The loop's bookkeeping of peers' batches by check: sent to the thread, checked (and how),
/// waiting for a certificate.
#[derive(Debug)]
pub struct Vouching {
    me: usize,
    size: usize,
    jobs: SyncSender<Job>,
    /// Sent to the checking thread, with the author.
    in_flight: IdMap<BatchDigest, usize>,
    /// Authors whose batches this validator checks at once, until when (their designated
    /// checkers were late).
    check_at_once_until: IdMap<usize, u64>,
    /// Checked and valid, with the batch's expiry (to forget it).
    held: IdMap<BatchDigest, u64>,
    /// Checked and refused, with the batch's expiry.
    refused: IdMap<BatchDigest, u64>,
    /// Stored, not checked: `(author, check due at, expiry)`.
    waiting: IdMap<BatchDigest, (usize, u64, u64)>,
}

impl Vouching {
    /// Bookkeeping for validator `me` of `size`, sending checks to `jobs`.
    pub fn new(me: usize, size: usize, jobs: SyncSender<Job>) -> Self {
        Self {
            me,
            size,
            jobs,
            in_flight: IdMap::default(),
            check_at_once_until: IdMap::default(),
            held: IdMap::default(),
            refused: IdMap::default(),
            waiting: IdMap::default(),
        }
    }

    /// A batch from its author, stored (and flushed before any acknowledgement leaves): handed
    /// back when it is to be acknowledged now (checked before, and it held), else kept for
    /// its check or dropped (being checked, waiting for a certificate, refused, or past its
    /// author's quota).
    pub fn on_stored(
        &mut self,
        from: usize,
        digest: BatchDigest,
        batch: Batch,
        now: u64,
    ) -> Option<Batch> {
        if self.held.contains_key(&digest) {
            return Some(batch);
        }
        if self.refused.contains_key(&digest) {
            counter!("shroud_batches_refused_again_total").increment(1);
            return None;
        }
        if self.in_flight.contains_key(&digest) || self.waiting.contains_key(&digest) {
            return None;
        }
        if self.pending_of(from) >= AUTHOR_PENDING_MAX {
            counter!("shroud_batch_checks_over_quota_total").increment(1);
            return None;
        }
        let at_once = self
            .check_at_once_until
            .get(&from)
            .is_some_and(|until| *until > now);
        if at_once || designated(from, self.me, self.size) {
            self.start(
                Job {
                    from,
                    digest,
                    batch,
                },
                now,
            );
        } else {
            self.waiting.insert(
                digest,
                (from, now.saturating_add(FALLBACK_MS), batch.valid_through),
            );
        }
        None
    }

    /// Sends a batch to the checking thread (or, with its queue full, retries at the next
    /// tick).
    pub fn start(&mut self, job: Job, now: u64) {
        let digest = job.digest;
        let entry = (job.from, now, job.batch.valid_through);
        match self.jobs.try_send(job) {
            Ok(()) => {
                self.waiting.remove(&digest);
                self.in_flight.insert(digest, entry.0);
            }
            Err(TrySendError::Full(_)) => {
                counter!("shroud_batch_checks_deferred_total").increment(1);
                self.waiting.insert(digest, entry);
            }
            Err(TrySendError::Disconnected(_)) => {
                warn!("the checking thread is gone: peers' batches are no longer acknowledged");
            }
        }
    }

    /// A check's result: the batch and its author to acknowledge, if it held.
    pub fn on_verdict(&mut self, verdict: Verdict) -> Option<Job> {
        let Verdict { job, valid } = verdict;
        self.in_flight.remove(&job.digest);
        counter!("shroud_batches_checked_total").increment(1);
        if valid {
            self.held.insert(job.digest, job.batch.valid_through);
            Some(job)
        } else {
            counter!("shroud_batches_refused_total").increment(1);
            warn!(
                author = job.from,
                transactions = job.batch.transactions.len(),
                "refused a batch with an invalid ciphertext: not acknowledged"
            );
            self.refused.insert(job.digest, job.batch.valid_through);
            None
        }
    }

    /// A certificate for `digest` is known: it needs no check from here.
    pub fn certified(&mut self, digest: &BatchDigest) {
        self.waiting.remove(digest);
    }

    /// The waiting batches whose certificate did not come in time: `(author, digest)`, to be
    /// read back from the store and started; no more than the checking thread's queue has room
    /// for (the rest stay waiting, unread).
    pub fn due(&mut self, now: u64) -> Vec<(usize, BatchDigest)> {
        let room = JOBS_QUEUED_MAX.saturating_sub(self.in_flight.len());
        let mut due: Vec<(usize, BatchDigest)> = self
            .waiting
            .iter()
            .filter(|(_, (_, at, _))| *at <= now)
            .map(|(digest, (from, _, _))| (*from, *digest))
            .collect();
        due.sort_unstable_by_key(|(from, digest)| (*from, *digest));
        due.truncate(room);
        for (from, digest) in &due {
            self.waiting.remove(digest);
            // Its designated checker was late: check this author's next batches at once.
            self.check_at_once_until
                .insert(*from, now.saturating_add(LATE_CHECKER_MS));
        }
        due
    }

    /// Forgets batches committed (or skipped) at a height.
    pub fn forget(&mut self, digests: &[BatchDigest]) {
        for digest in digests {
            self.held.remove(digest);
            self.refused.remove(digest);
            self.waiting.remove(digest);
        }
    }

    /// Forgets every batch that `keep` says can no longer be ordered (by its expiry); checks
    /// in flight are forgotten when their verdicts come.
    pub fn forget_expired(&mut self, keep: impl Fn(u64) -> bool) {
        self.held.retain(|_, valid_through| keep(*valid_through));
        self.refused.retain(|_, valid_through| keep(*valid_through));
        self.waiting
            .retain(|_, (_, _, valid_through)| keep(*valid_through));
    }

    /// One author's batches being checked or waiting here.
    fn pending_of(&self, author: usize) -> usize {
        self.in_flight
            .values()
            .filter(|from| **from == author)
            .count()
            + self
                .waiting
                .values()
                .filter(|(from, _, _)| *from == author)
                .count()
    }

    /// Batches remembered, by state (for `/metrics`).
    pub fn sizes(&self) -> [usize; 4] {
        [
            self.in_flight.len(),
            self.held.len(),
            self.refused.len(),
            self.waiting.len(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_f_validators_after_the_author_are_designated() {
        // n = 4, f = 1: the next one only.
        let at_four: Vec<Vec<usize>> = (0..4)
            .map(|author| (0..4).filter(|me| designated(author, *me, 4)).collect())
            .collect();
        assert_eq!(at_four, vec![vec![1], vec![2], vec![3], vec![0]]);
        // n = 7, f = 2: the next two, wrapping.
        let at_seven: Vec<usize> = (0..7).filter(|me| designated(5, *me, 7)).collect();
        assert_eq!(at_seven, vec![0, 6]);
        // With the author's own acknowledgement they make f + 1, and never include it.
        for size in 1..20 {
            for author in 0..size {
                let count = (0..size).filter(|me| designated(author, *me, size)).count();
                assert_eq!(count, (size - 1) / 3);
                assert!(!designated(author, author, size));
            }
        }
    }

    fn batch(author: u16, sequence: u64) -> Batch {
        Batch {
            epoch: 1,
            author,
            sequence,
            valid_through: 100,
            transactions: vec![vec![sequence as u8]],
        }
    }

    #[test]
    fn a_designated_checker_checks_at_once_and_the_others_after_the_fallback() {
        let (jobs, inbox) = sync_channel(JOBS_QUEUED_MAX);
        let mut vouching = Vouching::new(1, 4, jobs);
        // From validator 0: validator 1 is designated.
        let mine = batch(0, 1);
        let mine_digest = mine.digest();
        assert_eq!(vouching.on_stored(0, mine_digest, mine, 0), None);
        let job = inbox.try_recv().expect("checked at once");
        assert_eq!(job.digest, mine_digest);
        // Re-sent while in flight: nothing more.
        assert_eq!(vouching.on_stored(0, mine_digest, batch(0, 1), 5), None);
        assert!(inbox.try_recv().is_err());
        let acknowledged = vouching.on_verdict(Verdict { job, valid: true });
        assert_eq!(acknowledged.map(|job| job.digest), Some(mine_digest));
        // Re-sent after it held: acknowledged again without a check.
        assert_eq!(
            vouching.on_stored(0, mine_digest, batch(0, 1), 10),
            Some(batch(0, 1))
        );

        // From validator 2: validator 1 waits for a certificate.
        let other = batch(2, 7);
        let other_digest = other.digest();
        assert_eq!(vouching.on_stored(2, other_digest, other, 0), None);
        assert!(inbox.try_recv().is_err());
        assert!(vouching.due(FALLBACK_MS - 1).is_empty());
        assert_eq!(vouching.due(FALLBACK_MS), vec![(2, other_digest)]);
        // A certified one is never checked here.
        let third = batch(3, 9);
        let third_digest = third.digest();
        vouching.on_stored(3, third_digest, third, 0);
        vouching.certified(&third_digest);
        assert!(vouching.due(10 * FALLBACK_MS).is_empty());
    }

    #[test]
    fn one_author_gets_a_bounded_share_and_a_late_checker_is_stood_in_for() {
        let (jobs, inbox) = sync_channel(JOBS_QUEUED_MAX);
        let mut vouching = Vouching::new(1, 4, jobs);
        // Validator 2's batches wait for a certificate here; past the quota they are not
        // tracked at all.
        for sequence in 0..AUTHOR_PENDING_MAX as u64 + 5 {
            let next = batch(2, sequence);
            vouching.on_stored(2, next.digest(), next, 0);
        }
        assert_eq!(vouching.sizes(), [0, 0, 0, AUTHOR_PENDING_MAX]);
        // Another author is not held back by it.
        let other = batch(3, 0);
        vouching.on_stored(3, other.digest(), other, 0);
        assert_eq!(vouching.sizes()[3], AUTHOR_PENDING_MAX + 1);
        // No certificate came: the fallback checks start, and from then on validator 2's new
        // batches are checked at once, as if this validator were designated.
        let due = vouching.due(FALLBACK_MS);
        assert!(due.iter().any(|(from, _)| *from == 2));
        let fresh = batch(2, 1_000);
        let fresh_digest = fresh.digest();
        vouching.on_stored(2, fresh_digest, fresh, FALLBACK_MS + 1);
        let queued: Vec<BatchDigest> = inbox.try_iter().map(|job| job.digest).collect();
        assert_eq!(queued, vec![fresh_digest]);
        // Until the stand-in time is over.
        let later = batch(2, 2_000);
        vouching.on_stored(2, later.digest(), later, FALLBACK_MS + LATE_CHECKER_MS + 1);
        assert!(inbox.try_recv().is_err());
    }

    #[test]
    fn a_refused_batch_stays_refused_until_it_expires() {
        let (jobs, inbox) = sync_channel(JOBS_QUEUED_MAX);
        let mut vouching = Vouching::new(1, 4, jobs);
        let bad = batch(0, 3);
        let digest = bad.digest();
        vouching.on_stored(0, digest, bad, 0);
        let job = inbox.try_recv().expect("checked");
        assert!(vouching.on_verdict(Verdict { job, valid: false }).is_none());
        assert_eq!(vouching.on_stored(0, digest, batch(0, 3), 1), None);
        assert!(inbox.try_recv().is_err(), "not checked twice");
        assert_eq!(vouching.sizes(), [0, 0, 1, 0]);
        vouching.forget_expired(|valid_through| valid_through > 100);
        assert_eq!(vouching.sizes(), [0, 0, 0, 0]);
    }
}
