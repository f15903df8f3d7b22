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
//! The index is two parts. Entries of the last few heights sit in a hash map (`recent`); every
//! `validity_heights / MERGE_DIVISOR` heights they are merged into one array sorted by key
//! (`run`), and the entries that died meanwhile leave it in the same pass. An entry of the run
//! is a 12-byte id prefix and 8 bytes of place and expiry, with no empty slots and no table
//! that doubles: about 21 bytes an entry with the directory that finds a key's range (from the
//! layout), against 38-75 bytes a slot in the hash map this replaced (and twice that while it
//! resized, which was the largest step of a validator's memory at 50,000 tx/s, ADR 0009).
//! The index holds the transactions of `validity_heights` heights, plus at most a
//! `1 / MERGE_DIVISOR` of the window of dead entries that wait for the next merge (an entry
//! of a height more than `validity_heights` below the last recorded one is treated as absent
//! at once). A merge moves the run in place (its allocation grows by `mremap`, not by a
//! copy), so it needs no second array.
//!
//! # Why a 12-byte prefix is enough
//! Two ids that share a prefix are one entry: the later one is taken for a duplicate of the
//! earlier one, the same way on every validator (every decision stays deterministic). Making
//! such a pair of one's own transactions takes about 2^48 hashes and harms only their maker.
//! Harming someone else's transaction needs an id with the prefix of a victim's id that is
//! not yet ordered: a second preimage of 96 bits (about 2^96 hashes, or 2^75 against two
//! million targets at once), within the seconds before the victim's batch is ordered.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::batch::TxId;
use crate::id_hash::IdMap;
use crate::store::HeightRecord;

/// Recent entries are merged into the sorted run once every `validity_heights /
/// MERGE_DIVISOR` heights (at least every height): a merge moves the whole run, so rarer
/// merges cost less CPU, and hold more recent entries in the map and more dead ones in the
/// run (each at most `1 / MERGE_DIVISOR` of the window).
pub const MERGE_DIVISOR: u64 = 32;

/// The part of an id the index keys by.
type Key = [u8; 12];

fn key(id: &TxId) -> Key {
    let mut key = [0u8; 12];
    key.copy_from_slice(&id.0[..12]);
    key
}

/// Where a committed transaction was placed and how long it decides duplicates.
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

/// Bits of a packed place: the position in the height, the height's offset from the run's
/// base, and how long it decides.
const INDEX_BITS: u32 = 22;
const OFFSET_BITS: u32 = 21;
const DECIDES_BITS: u32 = 21;
/// A packed index with all bits set: the position is in the run's overflow map (a height of
/// more than four million placements, which only a block far past honest limits has).
const INDEX_OVERFLOW: u32 = (1 << INDEX_BITS) - 1;

/// An entry as the sorted run keeps it, in 8 bytes: position (22 bits), the height as an
/// offset from the run's base (21 bits: a kept height is at most `validity_heights` plus one
/// merge interval above the base, and `validity_heights` is at most 2^20), and how long it
/// decides (21 bits, at most `validity_heights`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Place(u64);

impl Place {
    fn new(index: u32, height_offset: u64, decides_for: u32) -> Self {
        assert!(
            height_offset < 1 << OFFSET_BITS,
            "a kept height is within the window above the base"
        );
        assert!(
            decides_for < 1 << DECIDES_BITS,
            "an entry decides for at most validity_heights"
        );
        Self(
            u64::from(index.min(INDEX_OVERFLOW))
                | height_offset << INDEX_BITS
                | u64::from(decides_for) << (INDEX_BITS + OFFSET_BITS),
        )
    }

    fn index(self) -> u32 {
        u32::try_from(self.0 & u64::from(INDEX_OVERFLOW)).expect("22 bits")
    }

    fn height_offset(self) -> u64 {
        (self.0 >> INDEX_BITS) & ((1 << OFFSET_BITS) - 1)
    }

    fn decides_for(self) -> u32 {
        u32::try_from(self.0 >> (INDEX_BITS + OFFSET_BITS)).expect("21 bits")
    }

    fn rebased(self, old_base: u64, base: u64) -> Self {
        Self::new(
            self.index(),
            old_base + self.height_offset() - base,
            self.decides_for(),
        )
    }
}

/// Entries sorted by key, each key once, with a directory of where each range of first bits
/// starts (the keys are SHA-256 prefixes, so the ranges hold two to four keys each).
#[derive(Debug, Default)]
struct SortedRun {
    /// Every entry's height is at least this.
    base: u64,
    keys: Vec<Key>,
    places: Vec<Place>,
    /// Positions that do not fit a packed place ([`INDEX_OVERFLOW`]).
    overflow: IdMap<Key, u32>,
    /// `directory[b]..directory[b + 1]` holds the keys whose first `bits` bits are `b`.
    directory: Vec<u32>,
    bits: u32,
}

impl SortedRun {
    fn bucket(key: &Key, bits: u32) -> usize {
        if bits == 0 {
            return 0;
        }
        usize::try_from(rank(key).0 >> (64 - bits)).expect("fewer than 2^32 buckets")
    }

    fn get(&self, key: &Key) -> Option<Entry> {
        let bucket = Self::bucket(key, self.bits);
        let (start, end) = (
            *self.directory.get(bucket)? as usize,
            *self.directory.get(bucket + 1)? as usize,
        );
        let at = start + self.keys[start..end].iter().position(|held| held == key)?;
        let place = self.places[at];
        let index = match place.index() {
            INDEX_OVERFLOW => *self
                .overflow
                .get(key)
                .expect("an overflowing position is in the overflow map"),
            index => index,
        };
        Some(Entry {
            height: self.base + place.height_offset(),
            index,
            decides_for: place.decides_for(),
        })
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    /// Takes `fresh` (sorted by key, each key once) in: run entries older than `base` and
    /// those a fresh entry replaces leave, the rest are re-based on `base`, and the two are
    /// merged in place (the vectors grow by `fresh.len()` at most, with no second array).
    fn merge(&mut self, fresh: &[(Key, Entry)], base: u64) {
        debug_assert!(fresh
            .windows(2)
            .all(|pair| rank(&pair[0].0) < rank(&pair[1].0)));
        let kept = self.compact(fresh, base);
        // Back to front: each fresh entry goes after the kept keys below it; the kept keys
        // between two fresh ones move up as one block.
        let total = kept + fresh.len();
        self.keys.resize(total, [0; 12]);
        self.places.resize(total, Place::default());
        let mut run = kept;
        for (incoming, (key, entry)) in fresh.iter().enumerate().rev() {
            let below = rank(key);
            let mut start = run;
            while start > 0 && rank(&self.keys[start - 1]) > below {
                start -= 1;
            }
            // Kept keys `start..run` are above `key`: they move up by the fresh entries
            // still to place below them and this one.
            self.keys.copy_within(start..run, start + incoming + 1);
            self.places.copy_within(start..run, start + incoming + 1);
            if entry.index >= INDEX_OVERFLOW {
                self.overflow.insert(*key, entry.index);
            }
            self.keys[start + incoming] = *key;
            self.places[start + incoming] =
                Place::new(entry.index, entry.height - base, entry.decides_for);
            run = start;
        }
        debug_assert!(
            self.keys
                .windows(2)
                .all(|pair| rank(&pair[0]) < rank(&pair[1])),
            "the run holds each key once, in order"
        );
        self.index_keys();
    }

    /// Front to back: keeps the entries that live (height at least `base`) and that no fresh
    /// entry replaces, re-based on `base`, and returns how many.
    fn compact(&mut self, fresh: &[(Key, Entry)], base: u64) -> usize {
        let (old_base, mut kept, mut next_fresh) = (self.base, 0usize, 0usize);
        for at in 0..self.keys.len() {
            let key = self.keys[at];
            let place = self.places[at];
            let live = old_base + place.height_offset() >= base;
            let order = rank(&key);
            while next_fresh < fresh.len() && rank(&fresh[next_fresh].0) < order {
                next_fresh += 1;
            }
            let replaced = next_fresh < fresh.len() && fresh[next_fresh].0 == key;
            if !live || replaced {
                if place.index() == INDEX_OVERFLOW {
                    self.overflow.remove(&key);
                }
                continue;
            }
            self.keys[kept] = key;
            self.places[kept] = if old_base == base {
                place
            } else {
                place.rebased(old_base, base)
            };
            kept += 1;
        }
        self.base = base;
        self.keys.truncate(kept);
        self.places.truncate(kept);
        kept
    }

    /// Rebuilds the directory: two to four keys a range (one byte an entry; a range's keys
    /// are 48 bytes, one cache line).
    fn index_keys(&mut self) {
        let count = self.keys.len();
        self.bits = if count < 8 {
            0
        } else {
            (usize::BITS - 1 - count.leading_zeros()) - 2
        };
        let buckets = 1usize << self.bits;
        self.directory.clear();
        self.directory.reserve_exact(buckets + 1);
        let mut at = 0usize;
        for bucket in 0..buckets {
            while at < count && Self::bucket(&self.keys[at], self.bits) < bucket {
                at += 1;
            }
            self.directory
                .push(u32::try_from(at).expect("fewer than 2^32 entries"));
        }
        self.directory
            .push(u32::try_from(count).expect("fewer than 2^32 entries"));
    }
}

/// A key's order as two integers (the bytes' order, compared without a call per key).
fn rank(key: &Key) -> (u64, u32) {
    (
        u64::from_be_bytes([
            key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
        ]),
        u32::from_be_bytes([key[8], key[9], key[10], key[11]]),
    )
}

/// See the module documentation.
#[derive(Debug)]
pub struct CommittedIndex {
    /// Entries of the heights recorded since the last merge (newer than the run's).
    recent: IdMap<Key, Entry>,
    /// Older entries.
    run: SortedRun,
    /// The last height recorded (0: none).
    latest: u64,
    /// The height at which `recent` was last merged into `run`.
    merged_at: u64,
    validity_heights: u64,
}

impl CommittedIndex {
    /// An empty index for a chain with `validity_heights`.
    pub fn new(validity_heights: u64) -> Self {
        assert!(
            validity_heights <= *shroud_proofs::validity::VALIDITY_HEIGHTS_RANGE.end(),
            "the configuration checks validity_heights"
        );
        Self {
            recent: IdMap::default(),
            run: SortedRun::default(),
            latest: 0,
            merged_at: 0,
            validity_heights,
        }
    }

    /// The first height whose records a rebuild before processing `next` must load.
    pub fn window_start(&self, next: u64) -> u64 {
        next.saturating_sub(self.validity_heights).max(1)
    }

    /// The entry of `slot` if it is kept: made within the window below the last recorded
    /// height (`entry.height + validity_heights >= latest`). An older one is dead (it decides
    /// nothing from `latest` on) and only waits for the next merge. A recent entry is newer
    /// than any of the run's, so it is the one that counts when both hold the key.
    fn kept(&self, slot: &Key) -> Option<Entry> {
        self.recent
            .get(slot)
            .copied()
            .or_else(|| self.run.get(slot))
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
        self.merge_due();
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
                    .min(self.validity_heights);
                self.recent.insert(
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

    /// Once a `1 / MERGE_DIVISOR` of the window has passed since the last merge, moves the
    /// recent entries into the run and drops the dead ones of both (of a height `h` with
    /// `h + validity_heights < latest`: each decides through `h + validity_heights` at most,
    /// so none decides anything from `latest` on).
    fn merge_due(&mut self) {
        let interval = (self.validity_heights / MERGE_DIVISOR).max(1);
        if self.latest < self.merged_at.saturating_add(interval) {
            return;
        }
        let started = std::time::Instant::now();
        let base = self.latest.saturating_sub(self.validity_heights);
        let mut fresh: Vec<(Key, Entry)> = self
            .recent
            .drain()
            .filter(|(_, entry)| entry.height >= base)
            .collect();
        fresh.sort_unstable_by_key(|(key, _)| rank(key));
        // The map's table stays allocated at its size for the next interval's entries.
        self.run.merge(&fresh, base);
        metrics::histogram!("shroud_committed_index_merge_seconds")
            .record(started.elapsed().as_secs_f64());
        self.merged_at = self.latest;
    }

    /// Entries held (dead ones not yet merged away included).
    pub fn len(&self) -> usize {
        self.recent.len() + self.run.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    fn dead_entries_are_hidden_at_once_and_merged_away_within_a_fraction_of_the_window() {
        let validity = 64;
        let interval = validity / MERGE_DIVISOR;
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
    fn a_position_past_the_packed_bits_is_kept_beside_the_run_and_leaves_with_its_entry() {
        let mut run = SortedRun::default();
        let (big, small) = (key(&TxId::of(b"big")), key(&TxId::of(b"small")));
        let mut fresh = vec![
            (
                big,
                Entry {
                    height: 10,
                    index: INDEX_OVERFLOW + 5,
                    decides_for: 3,
                },
            ),
            (
                small,
                Entry {
                    height: 11,
                    index: 7,
                    decides_for: 2,
                },
            ),
        ];
        fresh.sort_unstable_by_key(|(key, _)| rank(key));
        run.merge(&fresh, 5);
        assert_eq!(
            run.get(&big).map(|entry| entry.index),
            Some(INDEX_OVERFLOW + 5)
        );
        assert_eq!(
            run.get(&small),
            Some(fresh.iter().find(|f| f.0 == small).expect("small").1)
        );
        assert_eq!(run.overflow.len(), 1);
        // Height 10 falls below the new base: the entry and its overflow go.
        run.merge(&[], 11);
        assert_eq!(run.get(&big), None);
        assert!(run.overflow.is_empty());
        assert_eq!(run.get(&small).map(|entry| entry.height), Some(11));
    }

    /// The index as a plain map that never drops an entry, with the same write rule: what
    /// the merged index must decide and answer at every step.
    struct Model {
        entries: std::collections::HashMap<Key, Entry>,
        latest: u64,
        validity_heights: u64,
    }

    impl Model {
        fn kept(&self, id: &TxId) -> Option<Entry> {
            self.entries
                .get(&key(id))
                .copied()
                .filter(|entry| entry.height + self.validity_heights >= self.latest)
        }

        fn record(&mut self, record: &HeightRecord, height: u64) {
            self.latest = self.latest.max(height);
            for (index, placed) in (0u32..).zip(&record.transactions) {
                let write = match self.kept(&placed.tx_id) {
                    None => true,
                    Some(entry) => entry.decides_through() < height && placed.expiry.is_some(),
                };
                if write {
                    let decides_for = placed.expiry.map_or(0, |expiry| expiry - height);
                    self.entries.insert(
                        key(&placed.tx_id),
                        Entry {
                            height,
                            index,
                            decides_for: u32::try_from(decides_for).expect("small"),
                        },
                    );
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Heights (with gaps) of placements drawn from a small pool of ids, so that ids come
        /// back live, dead and replaced, across many merges: every answer is the model's,
        /// and the entries held stay within the window and one merge interval.
        #[test]
        fn merged_index_answers_as_a_map_that_keeps_everything(
            validity in 1u64..40,
            heights in proptest::collection::vec(
                (1u64..4, proptest::collection::vec((0u8..48, proptest::option::of(0u64..45)), 0..12)),
                1..80,
            ),
        ) {
            let mut index = CommittedIndex::new(validity);
            let mut model = Model {
                entries: Default::default(),
                latest: 0,
                validity_heights: validity,
            };
            let mut height = 0u64;
            let mut window_entries = std::collections::VecDeque::new();
            for (gap, offered) in heights {
                height += gap;
                // The order rule's part: one placement per id in a height, an expiry only
                // within the validity.
                let mut seen = std::collections::HashSet::new();
                let placed: Vec<(&[u8], Option<u64>)> = offered
                    .iter()
                    .filter(|(tag, _)| seen.insert(*tag))
                    .map(|(tag, ahead)| {
                        let expiry = ahead.filter(|ahead| *ahead <= validity).map(|ahead| height + ahead);
                        (std::slice::from_ref(tag), expiry)
                    })
                    .collect();
                let record = record(height, &placed);
                index.record_height(&record, height);
                model.record(&record, height);
                window_entries.push_back((height, record.transactions.len()));
                while window_entries.front().is_some_and(|(at, _)| at + validity + validity / MERGE_DIVISOR.max(1) + 1 < height) {
                    window_entries.pop_front();
                }
                for tag in 0u8..48 {
                    let id = TxId::of(&[tag]);
                    proptest::prop_assert_eq!(index.committed_at(&id), model.kept(&id).map(|entry| (entry.height, entry.index)), "{} at {}", tag, height);
                    for at in height..=height + validity + 1 {
                        proptest::prop_assert_eq!(
                            index.is_live(&id, at),
                            model.kept(&id).is_some_and(|entry| entry.decides_through() >= at),
                            "{} at {} from {}", tag, at, height
                        );
                    }
                }
                let bound: usize = window_entries.iter().map(|(_, count)| count).sum();
                proptest::prop_assert!(index.len() <= bound, "{} held, {} bound", index.len(), bound);
            }
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
