//! What this validator answers each peer, in bytes per second: block and sync answers, and
//! batches asked for. A peer that asks for more than its share gets no answer until its
//! budget refills (its request expires and it asks again, or asks another peer), so a
//! Byzantine peer's requests cost this validator a bounded amount of reading, encoding and
//! sending, and never its honest peers' share.

use metrics::counter;

/// Bytes a peer may be answered per second.
pub const ANSWER_BYTES_PER_SECOND: u64 = 8 << 20;

/// The most a peer's unspent budget accumulates to (one second's worth): an idle peer cannot
/// save up for a burst larger than that.
const BURST_BYTES: i64 = ANSWER_BYTES_PER_SECOND as i64;

/// Per-peer answer budgets: a byte bucket refilled with time. An answer is sent whenever the
/// bucket is not empty and is then charged in full, so one large answer may take the bucket
/// below zero and the next answers wait for the refill.
#[derive(Debug)]
pub struct AnswerBudget {
    peers: Vec<(i64, u64)>,
}

impl AnswerBudget {
    /// Full budgets for `peers` peers.
    pub fn new(peers: usize) -> Self {
        Self {
            peers: vec![(BURST_BYTES, 0); peers],
        }
    }

    /// Whether `peer` may be answered now (`now_ms` on the loop's clock); a refusal is
    /// counted under `kind`.
    pub fn allow(&mut self, peer: usize, now_ms: u64, kind: &'static str) -> bool {
        let Some((bytes, last_ms)) = self.peers.get_mut(peer) else {
            return false;
        };
        let elapsed = now_ms.saturating_sub(*last_ms);
        *last_ms = now_ms.max(*last_ms);
        let refill = ANSWER_BYTES_PER_SECOND.saturating_mul(elapsed) / 1_000;
        *bytes = bytes
            .saturating_add(i64::try_from(refill).unwrap_or(i64::MAX))
            .min(BURST_BYTES);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_over_its_budget_waits_for_the_refill_and_others_are_untouched() {
        let mut budget = AnswerBudget::new(3);
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
