//! The committed-transaction index, in memory: for each transaction committed in the last
//! `validity_heights` heights, where it was placed and through which height it decides
//! duplicates. It answers the order rule (a transaction placed before and still live counts
//! once), admission (a committed transaction is a duplicate) and receipts (where a transaction
//! was ordered), with no disk entry per transaction: the height records hold the same facts,
//! and a restart rebuilds the index from the last `validity_heights` of them.
//!
//! # Why a window is enough
//! An entry made at height `h` decides through its expiry, at most `h + validity_heights`
//! (ADR 0008). Before height `H` is processed, every entry of a height `h` with
//! `h + validity_heights < H` is dead, so dropping those entries changes no decision of the
//! order rule; a rebuild that loads heights `H - validity_heights ..` therefore gives the same
//! decisions as the index that never stopped. Receipts find a transaction by id for as long as
//! its entry is kept, and by height after that.
//!
//! # Memory
//! An entry is a 16-byte id prefix and 16 bytes of place and expiry in one hash map (33 bytes
//! a slot with its control byte; the map is between 44% and 88% full, so 38-75 bytes an
//! entry); the index holds the transactions of `validity_heights` heights (ADR 0009 states
//! what that is at the target rate). Dead entries are not found through a per-height list
//! of keys (which cost 16 bytes more an entry and an allocation per height): they are hidden
//! at once (an entry of a height more than `validity_heights` below the last recorded one is
//! treated as absent everywhere) and swept out of the map every [`SWEEP_DIVISOR`]th of the
//! window, so at most that fraction more entries are held. Two distinct ids with one 16-byte prefix take
//! about 2^64 hashes to make; whoever makes such a pair only has the second of their own two
//! transactions counted as a duplicate of the first, the same way on every validator.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::batch::TxId;
use crate::id_hash::IdMap;
use crate::store::HeightRecord;

/// Dead entries are swept from the map once every `validity_heights / SWEEP_DIVISOR` heights
/// (at least every height): a sweep visits every slot, so rarer sweeps cost less CPU and
/// hold more dead entries (at most `1 / SWEEP_DIVISOR` of the window).
pub const SWEEP_DIVISOR: u64 = 32;

/// The part of an id the index keys by.
type Key = [u8; 16];

fn key(id: &TxId) -> Key {
    let mut key = [0u8; 16];
    key.copy_from_slice(&id.0[..16]);
    key
}

/// Where a committed transaction was placed and how long it decides duplicates (16 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    height: u64,
    /// Position in the height.
    index: u32,
    /// The last height at which a copy of the transaction is a duplicate, less `height`
    /// (at most `validity_heights`, ADR 0008).
    decides_for: u32,
}

impl Entry {
    fn decides_through(&self) -> u64 {
        self.height + u64::from(self.decides_for)
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct CommittedIndex {
    entries: IdMap<Key, Entry>,
    /// The last height recorded (0: none).
    latest: u64,
    /// The height at which dead entries were last swept out.
    swept_at: u64,
    validity_heights: u64,
}

impl CommittedIndex {
    /// An empty index for a chain with `validity_heights`.
    pub fn new(validity_heights: u64) -> Self {
        Self {
            entries: IdMap::default(),
            latest: 0,
            swept_at: 0,
            validity_heights,
        }
    }

    /// The first height whose records a rebuild before processing `next` must load.
    pub fn window_start(&self, next: u64) -> u64 {
        next.saturating_sub(self.validity_heights).max(1)
    }

    /// The entry of `slot` if it is kept: made within the window below the last recorded
    /// height (`entry.height + validity_heights >= latest`). An older one is dead (it decides
    /// nothing from `latest` on) and only waits for the next sweep.
    fn kept(&self, slot: &Key) -> Option<&Entry> {
        self.entries
            .get(slot)
            .filter(|entry| entry.height.saturating_add(self.validity_heights) >= self.latest)
    }

    /// Whether `id` was committed with an entry that still decides at `height`.
    pub fn is_live(&self, id: &TxId, height: u64) -> bool {
        self.kept(&key(id))
            .is_some_and(|entry| entry.decides_through() >= height)
    }

    /// The height and the position in it of a committed transaction, while its entry is
    /// kept.
    pub fn committed_at(&self, id: &TxId) -> Option<(u64, u32)> {
        self.kept(&key(id)).map(|entry| (entry.height, entry.index))
    }

    /// Records a committed height. Each placement's entry is written when none exists, and
    /// replaces a dead one only for a placement that counts (`expiry` is `Some`: it was within
    /// its validity), so a receipt keeps the placement that mattered. Heights are recorded in
    /// order; entries that can no longer decide anything are dropped first.
    pub fn record_height(&mut self, record: &HeightRecord, height: u64) {
        self.latest = self.latest.max(height);
        self.sweep();
        for (index, placed) in (0u32..).zip(&record.transactions) {
            let slot = key(&placed.tx_id);
            let write = match self.kept(&slot) {
                None => true,
                Some(entry) => entry.decides_through() < height && placed.expiry.is_some(),
            };
            if write {
                // An expiry is at most `validity_heights` (< 2^32) above the height it counts
                // at (the order rule gives no expiry to a placement outside its validity).
                let decides_for = placed
                    .expiry
                    .map_or(0, |expiry| expiry.saturating_sub(height))
                    .min(u64::from(u32::MAX));
                self.entries.insert(
                    slot,
                    Entry {
                        height,
                        index,
                        decides_for: u32::try_from(decides_for).unwrap_or(u32::MAX),
                    },
                );
            }
        }
    }

    /// Removes the dead entries (of a height `h` with `h + validity_heights < latest`: each
    /// decides through `h + validity_heights` at most, so none decides anything from `latest`
    /// on) once the last sweep is a `1 / SWEEP_DIVISOR` of the window old.
    fn sweep(&mut self) {
        let interval = (self.validity_heights / SWEEP_DIVISOR).max(1);
        if self.latest < self.swept_at.saturating_add(interval) {
            return;
        }
        let (latest, validity_heights) = (self.latest, self.validity_heights);
        self.entries
            .retain(|_, entry| entry.height.saturating_add(validity_heights) >= latest);
        self.swept_at = latest;
    }

    /// Entries held (dead ones not yet swept included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The index shared by the validator loop (which records heights), the ingress stage
/// (duplicates) and the receipt readers.
#[derive(Clone, Debug)]
pub struct SharedCommitted(Arc<RwLock<CommittedIndex>>);

impl SharedCommitted {
    /// Shares `index`.
    pub fn new(index: CommittedIndex) -> Self {
        Self(Arc::new(RwLock::new(index)))
    }

    /// Reads the index (a poisoned lock only means a panic elsewhere; the index itself is
    /// never left half-updated, since each update is one call).
    pub fn read(&self) -> RwLockReadGuard<'_, CommittedIndex> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Updates the index.
    pub fn write(&self) -> RwLockWriteGuard<'_, CommittedIndex> {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Rebuilds the index from the height records in the store: the last `validity_heights`
/// heights up to the processed one.
pub fn rebuild(
    store: &crate::store::NodeStore,
    validity_heights: u64,
) -> Result<CommittedIndex, crate::store::StoreError> {
    let mut index = CommittedIndex::new(validity_heights);
    let processed = store.processed_height()?;
    let from = index.window_start(processed + 1);
    for (height, record) in store.heights_in(from, processed)? {
        index.record_height(&record, height);
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::BatchDigest;
    use crate::store::OrderedTx;

    fn record(first_position: u64, placed: &[(&[u8], Option<u64>)]) -> HeightRecord {
        HeightRecord {
            block_digest: [0; 32],
            first_position,
            transactions: placed
                .iter()
                .zip(0u32..)
                .map(|((bytes, expiry), index)| OrderedTx {
                    tx_id: TxId::of(bytes),
                    batch: BatchDigest([1; 32]),
                    index,
                    expiry: *expiry,
                })
                .collect(),
        }
    }

    #[test]
    fn an_entry_decides_through_its_expiry_and_is_replaced_only_by_a_placement_that_counts() {
        let mut index = CommittedIndex::new(10);
        let id = TxId::of(b"t");
        index.record_height(&record(0, &[(b"t", Some(5))]), 1);
        assert!(index.is_live(&id, 5));
        assert!(!index.is_live(&id, 6));
        // Placed again after its expiry, failing as expired: the receipt keeps the first.
        index.record_height(&record(1, &[(b"t", None)]), 6);
        assert_eq!(index.committed_at(&id), Some((1, 0)));
        // A placement that counts replaces the dead entry.
        index.record_height(&record(2, &[(b"t", Some(9))]), 7);
        assert_eq!(index.committed_at(&id), Some((7, 0)));
        assert!(index.is_live(&id, 9));
        // A live entry is never replaced.
        index.record_height(&record(3, &[(b"t", Some(12))]), 8);
        assert_eq!(index.committed_at(&id), Some((7, 0)));
    }

    #[test]
    fn dead_heights_are_dropped_without_changing_a_decision() {
        let mut index = CommittedIndex::new(3);
        index.record_height(&record(0, &[(b"a", Some(4)), (b"b", None)]), 1);
        index.record_height(&record(2, &[(b"c", Some(5))]), 2);
        assert_eq!(index.len(), 3);
        // Height 4: height 1 could still decide (1 + 3 >= 4).
        index.record_height(&record(3, &[]), 4);
        assert!(index.is_live(&TxId::of(b"a"), 4));
        // Height 5: height 1's entries are dead and go; height 2's stay.
        index.record_height(&record(3, &[]), 5);
        assert_eq!(index.len(), 1);
        assert!(index.is_live(&TxId::of(b"c"), 5));
        assert_eq!(index.committed_at(&TxId::of(b"a")), None);
        assert_eq!(index.window_start(6), 3);
    }

    #[test]
    fn dead_entries_are_hidden_at_once_and_swept_within_a_fraction_of_the_window() {
        let validity = 64;
        let interval = validity / SWEEP_DIVISOR;
        let mut index = CommittedIndex::new(validity);
        for height in 1..=200u64 {
            let tag = height.to_be_bytes();
            index.record_height(&record(height, &[(&tag[..], Some(height + 1))]), height);
            for old in 1..=height {
                let visible = index.committed_at(&TxId::of(&old.to_be_bytes())).is_some();
                assert_eq!(visible, old + validity >= height, "{old} at {height}");
            }
            // One entry per height: the window's, and at most an interval of dead ones.
            let window = height.min(validity + 1);
            assert!(index.len() as u64 >= window);
            assert!(
                index.len() as u64 <= window + interval,
                "{} at {height}",
                index.len()
            );
        }
    }

    #[test]
    fn a_rebuilt_index_decides_as_the_one_that_never_stopped() {
        // Each height offers a new transaction and one from two heights before; the order
        // rule keeps what is not a live duplicate, as the validator loop does.
        let mut full = CommittedIndex::new(4);
        let mut records = Vec::new();
        for height in 1..=12u64 {
            let offered = [
                ([height as u8], Some(height + 2)),
                ([height.saturating_sub(2) as u8], Some(height + 3)),
            ];
            let kept: Vec<(&[u8], Option<u64>)> = offered
                .iter()
                .filter(|(tag, _)| !full.is_live(&TxId::of(&tag[..]), height))
                .map(|(tag, expiry)| (&tag[..], *expiry))
                .collect();
            let first_position = height * 2;
            let record = record(first_position, &kept);
            full.record_height(&record, height);
            records.push((height, record));
        }
        let mut rebuilt = CommittedIndex::new(4);
        let start = rebuilt.window_start(13);
        for (height, record) in records.iter().filter(|(height, _)| *height >= start) {
            rebuilt.record_height(record, *height);
        }
        for tag in 0..=14u8 {
            let id = TxId::of(&[tag]);
            for at in 13..=20 {
                assert_eq!(
                    full.is_live(&id, at),
                    rebuilt.is_live(&id, at),
                    "{tag} at {at}"
                );
            }
        }
    }
}
