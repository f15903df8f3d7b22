//! The committee of an epoch: keys, quorum sizes, and the leader schedule.

use shroud_crypto::CommitteeKeys;

use crate::types::{Epoch, ValidatorIndex, View};

/// A committee: `n` validators tolerating `f = ⌊(n-1)/3⌋` faults; quorums of `n - f`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committee {
    chain_id: u64,
    epoch: Epoch,
    keys: CommitteeKeys,
}

impl Committee {
    /// A committee of `keys` (each with a verified proof of possession) for `epoch` of chain
    /// `chain_id`. Every consensus signature binds both, so a committee reusing its keys on
    /// two chains cannot have its messages replayed from one to the other.
    pub fn new(chain_id: u64, epoch: Epoch, keys: CommitteeKeys) -> Self {
        assert!(
            keys.len() <= usize::from(u16::MAX),
            "committee indices fit in a u16"
        );
        Self {
            chain_id,
            epoch,
            keys,
        }
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The epoch.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The members' keys.
    pub fn keys(&self) -> &CommitteeKeys {
        &self.keys
    }

    /// `n`.
    pub fn size(&self) -> usize {
        self.keys.len()
    }

    /// `f`: the most faulty members tolerated.
    pub fn fault_bound(&self) -> usize {
        (self.size() - 1) / 3
    }

    /// `n - f` (2f+1 when n = 3f+1): signatures in a QC or TC. Any two quorums share an
    /// honest member.
    pub fn quorum(&self) -> usize {
        self.size() - self.fault_bound()
    }

    /// The leader of `view`: round-robin.
    pub fn leader(&self, view: View) -> ValidatorIndex {
        let size = u64::try_from(self.size()).expect("committee size fits in u64");
        ValidatorIndex(u16::try_from(view.0 % size).expect("index below committee size"))
    }

    /// Whether `index` names a member.
    pub fn contains(&self, index: ValidatorIndex) -> bool {
        index.as_usize() < self.size()
    }

    /// All members.
    pub fn members(&self) -> impl Iterator<Item = ValidatorIndex> {
        let size = u16::try_from(self.size()).expect("committee size fits in a u16");
        (0..size).map(ValidatorIndex)
    }
}
