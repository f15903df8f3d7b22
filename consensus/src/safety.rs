//! The durable safety state and the voting rules of 2-chain HotStuff (Jolteon; DiemBFT v4's
//! `Safety` module). Pure functions of the state: no I/O, no clock.

use rkyv::{Archive, Deserialize, Serialize};

use crate::types::{Epoch, QuorumCertificate, TimeoutCertificate, View};

/// What a validator must remember across restarts so that it never signs conflicting votes.
/// It is persisted (and flushed) before any vote or timeout that depends on it leaves the node.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct SafetyState {
    /// The epoch.
    pub epoch: Epoch,
    /// The highest view this validator voted or timed out in (`highest_voted_round`).
    pub last_voted_view: View,
    /// The highest QC seen (its view is `highest_qc_round`).
    pub highest_qc: QuorumCertificate,
    /// The TC of the highest timed-out view seen, for re-entering that view after a restart.
    pub highest_tc: Option<TimeoutCertificate>,
    /// The highest view this validator proposed in, so that a restarted leader never proposes
    /// a second block in one view.
    pub last_proposed_view: View,
}

impl SafetyState {
    /// The state of a fresh validator in `epoch`.
    pub fn genesis(epoch: Epoch) -> Self {
        Self {
            epoch,
            last_voted_view: View(0),
            highest_qc: QuorumCertificate::genesis(epoch),
            highest_tc: None,
            last_proposed_view: View(0),
        }
    }

    /// Whether voting for a block of `block_view` extending a QC of `qc_view` is safe
    /// (Jolteon Algorithm 2, `safe_to_vote`): the view is new, and the block either extends the
    /// QC of the previous view, or follows a TC of the previous view and extends a QC at least as
    /// high as every highest QC in that TC.
    pub fn safe_to_vote(
        &self,
        block_view: View,
        qc_view: View,
        tc: Option<&TimeoutCertificate>,
    ) -> bool {
        if block_view <= self.last_voted_view.max(qc_view) {
            return false;
        }
        let extends_previous = qc_view.next() == block_view;
        let after_timeout =
            tc.is_some_and(|tc| tc.view.next() == block_view && qc_view >= tc.max_high_qc_view());
        extends_previous || after_timeout
    }

    /// Whether timing out `view` with highest QC `qc_view` is safe (`safe_to_timeout`): the QC
    /// is our highest, the view is not below one we voted in, and we entered the view through a
    /// QC or TC of the previous view.
    pub fn safe_to_timeout(
        &self,
        view: View,
        qc_view: View,
        tc: Option<&TimeoutCertificate>,
    ) -> bool {
        if qc_view < self.highest_qc.view {
            return false;
        }
        if view < self.last_voted_view || view <= qc_view {
            return false;
        }
        qc_view.next() == view || tc.is_some_and(|tc| tc.view.next() == view)
    }

    /// Records a vote or timeout in `view`.
    pub fn record_voted(&mut self, view: View) {
        self.last_voted_view = self.last_voted_view.max(view);
    }

    /// Records a QC; returns whether it is higher than the previous highest.
    pub fn record_qc(&mut self, qc: &QuorumCertificate) -> bool {
        if qc.view > self.highest_qc.view {
            self.highest_qc = qc.clone();
            return true;
        }
        false
    }

    /// Records a TC; returns whether it is higher than the previous highest.
    pub fn record_tc(&mut self, tc: &TimeoutCertificate) -> bool {
        if self
            .highest_tc
            .as_ref()
            .is_none_or(|old| tc.view > old.view)
        {
            self.highest_tc = Some(tc.clone());
            return true;
        }
        false
    }
}
