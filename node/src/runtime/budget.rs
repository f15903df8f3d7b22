//! What this validator answers each peer, in bytes per second: block and sync answers, and
//! batches asked for. A peer that asks for more than its share gets no answer until its
//! budget refills (its request expires and it asks again, or asks another peer), so a
//! Byzantine peer's requests cost this validator a bounded amount of reading, encoding and
//! sending, and never its honest peers' share.
//!
//! Also here: [`AuthorQuota`], what a peer's own batches may hold of this validator's disk.

use std::collections::BTreeMap;

use metrics::counter;

use crate::batch::BatchDigest;

/// Bytes of batches a peer may be answered per second (a lagging validator fetches the
/// batches of every height it processes; it asks the certificate's signers in turn).
pub const BATCH_ANSWER_BYTES_PER_SECOND: u64 = 8 << 20;

/// Bytes of consensus blocks (fetches and state sync) a peer may be answered per second: some
/// thousands of heights a second, far more than a catching-up validator can process. Serving
/// is read, checked and encoded on the validator loop, so this also bounds the loop's time a
/// Byzantine peer's requests take.
pub const BLOCK_ANSWER_BYTES_PER_SECOND: u64 = 1 << 20;

/// Per-peer answer budgets: a byte bucket refilled with time. An answer is sent whenever the
/// bucket is not empty and is then charged in full, so one large answer may take the bucket
/// below zero and the next answers wait for the refill. The most a peer's unspent budget
/// accumulates to is one second's worth: an idle peer cannot save up for a larger burst.
#[derive(Debug)]
pub struct AnswerBudget {
    peers: Vec<(i64, u64)>,
    per_second: u64,
}

impl AnswerBudget {
    /// Full budgets of `per_second` bytes a second for `peers` peers.
    pub fn new(peers: usize, per_second: u64) -> Self {
        Self {
            peers: vec![(i64::try_from(per_second).unwrap_or(i64::MAX), 0); peers],
            per_second,
        }
    }

    fn burst(&self) -> i64 {
        i64::try_from(self.per_second).unwrap_or(i64::MAX)
    }

    /// Whether `peer` may be answered now (`now_ms` on the loop's clock); a refusal is
    /// counted under `kind`.
    pub fn allow(&mut self, peer: usize, now_ms: u64, kind: &'static str) -> bool {
        let burst = self.burst();
        let per_second = self.per_second;
        let Some((bytes, last_ms)) = self.peers.get_mut(peer) else {
            return false;
        };
        let elapsed = now_ms.saturating_sub(*last_ms);
        *last_ms = now_ms.max(*last_ms);
        let refill = per_second.saturating_mul(elapsed) / 1_000;
        *bytes = bytes
            .saturating_add(i64::try_from(refill).unwrap_or(i64::MAX))
            .min(burst);
        if *bytes > 0 {
            true
        } else {
            counter!("shroud_peer_answers_refused_total", "kind" => kind).increment(1);
            false
        }
    }

    /// Charges `peer` for an answer of `len` bytes.
    pub fn spend(&mut self, peer: usize, len: usize) {
        if let Some((bytes, _)) = self.peers.get_mut(peer) {
            *bytes = bytes.saturating_sub(i64::try_from(len).unwrap_or(i64::MAX));
        }
        counter!("shroud_peer_answer_bytes_total").increment(len as u64);
    }
}

/// Batches one author may have stored here, not yet committed or expired.
pub const AUTHOR_BATCHES_MAX: usize = 512;
/// Their bytes at most.
pub const AUTHOR_BYTES_MAX: u64 = 128 << 20;
/// Shortest time between two sweeps of an author's list (each sweep reads the store).
const SWEEP_INTERVAL_MS: u64 = 1_000;

#[derive(Debug, Default)]
struct Outstanding {
    /// By expiry: the batch's `valid_through`, its digest, and its size.
    batches: BTreeMap<(u64, BatchDigest), u64>,
    bytes: u64,
    swept_ms: Option<u64>,
}

/// Per-author quotas on stored peer batches. Every batch an author sends within the limits is
/// stored and flushed before it is acknowledged; without a quota a Byzantine author could fill
/// this validator's disk with batches no leader ever orders. An honest author has a few
/// batches in flight (each is ordered within seconds); one past [`AUTHOR_BATCHES_MAX`] or
/// [`AUTHOR_BYTES_MAX`] gets no more stored (nor acknowledged) until some of its batches are
/// committed or expire. Such a batch can still be ordered: f + 1 other validators certify it,
/// and this one fetches it at commit like any batch it lacks.
///
/// The list is this run's: batches stored before a restart are not counted (they expire by
/// the store's sweep).
#[derive(Debug)]
pub struct AuthorQuota {
    authors: Vec<Outstanding>,
}

impl AuthorQuota {
    /// Empty quotas for a committee of `size`.
    pub fn new(size: usize) -> Self {
        Self {
            authors: (0..size).map(|_| Outstanding::default()).collect(),
        }
    }

    /// Whether `author` may have one more batch stored (and if so it is counted). At the
    /// quota, its batches that expired before `next_height`, or that `settled` says are
    /// committed or gone, are first taken off its list (at most once a second).
    pub fn admit(
        &mut self,
        author: usize,
        batch: (BatchDigest, u64, u64),
        next_height: u64,
        now_ms: u64,
        mut settled: impl FnMut(&BatchDigest) -> bool,
    ) -> bool {
        let (digest, valid_through, bytes) = batch;
        let Some(outstanding) = self.authors.get_mut(author) else {
            return false;
        };
        let full = |outstanding: &Outstanding| {
            outstanding.batches.len() >= AUTHOR_BATCHES_MAX
                || outstanding.bytes.saturating_add(bytes) > AUTHOR_BYTES_MAX
        };
        if full(outstanding) {
            let due = outstanding
                .swept_ms
                .is_none_or(|swept| now_ms.saturating_sub(swept) >= SWEEP_INTERVAL_MS);
            if due {
                outstanding.swept_ms = Some(now_ms);
                let mut freed = 0;
                outstanding.batches.retain(|(expiry, digest), size| {
                    let keep = *expiry >= next_height && !settled(digest);
                    if !keep {
                        freed += *size;
                    }
                    keep
                });
                outstanding.bytes -= freed;
            }
            if full(outstanding) {
                counter!("shroud_batches_refused_total", "reason" => "author_quota").increment(1);
                return false;
            }
        }
        if outstanding
            .batches
            .insert((valid_through, digest), bytes)
            .is_none()
        {
            outstanding.bytes += bytes;
        }
        true
    }

    /// Batches counted for `author` now.
    #[cfg(test)]
    fn outstanding(&self, author: usize) -> usize {
        self.authors
            .get(author)
            .map_or(0, |outstanding| outstanding.batches.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u64) -> BatchDigest {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&n.to_be_bytes());
        BatchDigest(bytes)
    }

    #[test]
    fn an_author_past_its_quota_is_refused_until_its_batches_settle() {
        let mut quota = AuthorQuota::new(4);
        let never = |_: &BatchDigest| false;
        for n in 0..AUTHOR_BATCHES_MAX as u64 {
            assert!(quota.admit(1, (digest(n), 100 + n, 1_000), 10, 0, never));
        }
        assert!(!quota.admit(1, (digest(9_999), 10_000, 1_000), 10, 0, never));
        // Another author is not affected.
        assert!(quota.admit(2, (digest(9_999), 10_000, 1_000), 10, 0, never));
        // The first ten expire at height 110; swept at most once a second.
        assert!(!quota.admit(1, (digest(9_999), 10_000, 1_000), 110, 0, never));
        assert!(quota.admit(1, (digest(9_999), 10_000, 1_000), 110, 1_000, never));
        assert_eq!(quota.outstanding(1), AUTHOR_BATCHES_MAX - 10 + 1);
        // Committed batches leave the list too.
        let full = AUTHOR_BATCHES_MAX - quota.outstanding(1);
        for n in 0..full as u64 {
            assert!(quota.admit(1, (digest(20_000 + n), 10_000, 1), 110, 1_000, never));
        }
        let even = |digest: &BatchDigest| digest.0[7] % 2 == 0;
        assert!(!quota.admit(1, (digest(30_000), 10_000, 1), 110, 1_500, even));
        assert!(quota.admit(1, (digest(30_000), 10_000, 1), 110, 2_000, even));
        assert!(quota.outstanding(1) < AUTHOR_BATCHES_MAX / 2 + 16);
        assert!(!quota.admit(9, (digest(1), 10_000, 1), 110, 2_000, never));
    }

    #[test]
    fn an_author_past_its_bytes_is_refused() {
        let mut quota = AuthorQuota::new(2);
        let never = |_: &BatchDigest| false;
        let size = 1 << 20;
        for n in 0..(AUTHOR_BYTES_MAX / size) {
            assert!(quota.admit(0, (digest(n), 1_000, size), 0, 0, never));
        }
        assert!(!quota.admit(0, (digest(999), 1_000, size), 0, 0, never));
        assert!(quota.admit(0, (digest(999), 1_000, 0), 0, 0, never));
    }

    #[test]
    fn a_peer_over_its_budget_waits_for_the_refill_and_others_are_untouched() {
        const BURST_BYTES: u64 = BATCH_ANSWER_BYTES_PER_SECOND;
        let mut budget = AnswerBudget::new(3, BATCH_ANSWER_BYTES_PER_SECOND);
        assert!(budget.allow(1, 0, "test"));
        budget.spend(1, BURST_BYTES as usize + 1_000);
        assert!(!budget.allow(1, 0, "test"), "spent past its budget");
        assert!(budget.allow(2, 0, "test"), "another peer keeps its own");
        // 1,000 bytes owed: refilled after a millisecond at 8 MiB/s (8,388 bytes).
        assert!(budget.allow(1, 1, "test"));
        // An idle peer does not save up more than one second's worth.
        assert!(budget.allow(2, 3_600_000, "test"));
        budget.spend(2, BURST_BYTES as usize);
        assert!(!budget.allow(2, 3_600_000, "test"));
        assert!(!budget.allow(7, 0, "test"), "not a peer");
    }
}
