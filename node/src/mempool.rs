//! Admission of client ciphertexts and packing into batches (sync logic; the runtime persists
//! and answers).
//!
//! Admission checks, in order: size, structure (decoding), label (chain and epoch), expiry
//! against this validator's height, duplicates, capacity, and last the ciphertext's validity
//! proof. [`Mempool::check_group`] takes a whole group of submissions at once: the cheap checks
//! one by one, then the proofs of every survivor as one multi-scalar multiplication (when that
//! fails, each is checked alone, so only the bad ones are refused). A refused ciphertext gets
//! a typed [`Rejection`]; an admitted one is *accepted* only after the ingress stage has
//! written its group and flushed it to disk.
//!
//! Every held ciphertext gets an admission sequence number. The durable record of a group is
//! keyed by its first number, and a batch cut moves the *batched-through* mark past the
//! numbers it took: that is how a restart tells what is still pending.

use std::collections::VecDeque;

use crate::id_hash::IdSet;

use rayon::prelude::*;
use shroud_crypto::tdh2::{verify_ciphertexts, Ciphertext, Context, Label};
use shroud_crypto::ThresholdError;
use thiserror::Error;

use crate::batch::{Batch, TxId};
use crate::key_slot::KeySlot;
use crate::store::PendingGroup;

/// Mempool and batching configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MempoolConfig {
    /// Largest ciphertext accepted (wire bytes).
    pub ciphertext_bytes_max: usize,
    /// Most ciphertexts waiting to be batched.
    pub pending_max: usize,
    /// A batch is cut once it would hold this many bytes...
    pub batch_bytes_max: usize,
    /// ...or this many ciphertexts...
    pub batch_count_max: usize,
    /// ...or when its oldest ciphertext has waited this long, if fewer than
    /// `batches_in_flight_by_age_max` own batches are in flight.
    pub batch_interval_ms: u64,
    /// Own batches cut and not yet committed, at most: past it nothing is cut, the pending
    /// set fills and admission answers `full`.
    pub batches_in_flight_max: usize,
    /// A batch that is not full is cut by age only while fewer than this many own batches are
    /// in flight. Under load the next batch grows while earlier ones are certified and
    /// ordered, so batches fill by bytes and the signatures per transaction fall as the load
    /// rises; when idle a batch leaves after `batch_interval_ms`.
    pub batches_in_flight_by_age_max: usize,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        Self {
            ciphertext_bytes_max: 64 * 1024,
            pending_max: 100_000,
            batch_bytes_max: 1024 * 1024,
            batch_count_max: 10_000,
            batch_interval_ms: 100,
            batches_in_flight_max: 6,
            batches_in_flight_by_age_max: 2,
        }
    }
}

impl MempoolConfig {
    /// One message per broken rule.
    pub fn validate(&self) -> Result<(), String> {
        if self.ciphertext_bytes_max < shroud_crypto::tdh2::HEADER_BYTES + 16 {
            return Err("mempool.ciphertext_bytes_max is smaller than an empty ciphertext".into());
        }
        if self.pending_max == 0 {
            return Err("mempool.pending_max must be positive".into());
        }
        if self.batch_bytes_max < self.ciphertext_bytes_max {
            return Err("mempool.batch_bytes_max must fit at least one ciphertext".into());
        }
        if self.batch_count_max == 0 {
            return Err("mempool.batch_count_max must be positive".into());
        }
        if self.batch_interval_ms == 0 {
            return Err("mempool.batch_interval_ms must be positive".into());
        }
        if self.batches_in_flight_by_age_max == 0 {
            return Err("mempool.batches_in_flight_by_age_max must be positive".into());
        }
        if self.batches_in_flight_max < self.batches_in_flight_by_age_max {
            return Err(
                "mempool.batches_in_flight_max must be at least batches_in_flight_by_age_max"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Why a ciphertext was refused. The client receives it in its receipt.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Rejection {
    /// Over the size limit.
    #[error("ciphertext of {got} bytes exceeds {max}")]
    TooLarge { max: usize, got: usize },
    /// Not a ciphertext.
    #[error("malformed ciphertext: {0}")]
    Malformed(String),
    /// Encrypted for another chain.
    #[error("ciphertext is for chain {got}, this is chain {expected}")]
    WrongChain { expected: u64, got: u64 },
    /// Encrypted for another epoch.
    #[error("ciphertext is for epoch {got}, the current epoch is {expected}")]
    WrongEpoch { expected: u64, got: u64 },
    /// The validity proof fails (mauled, or made for another key).
    #[error("ciphertext proof does not verify")]
    InvalidCiphertext,
    /// Its `valid_through` is before the next height: it could only fail as expired.
    #[error("ciphertext is valid through height {valid_through}, the next height is {next}")]
    Expired { valid_through: u64, next: u64 },
    /// Its `valid_through` is further ahead than the chain's validity window allows.
    #[error("ciphertext is valid through height {valid_through}, at most {max} is allowed now")]
    ExpiryTooFar { valid_through: u64, max: u64 },
    /// Already accepted.
    #[error("duplicate ciphertext")]
    Duplicate,
    /// The mempool is full; try again later or another validator.
    #[error("mempool is full")]
    Full,
    /// The admission queue is full; try again later or another validator.
    #[error("validator overloaded: its admission queue is full")]
    Overloaded,
    /// The committee has not formed its key yet (its DKG is running): nothing can be checked.
    #[error("the epoch key is not formed yet (the validators' DKG is running)")]
    KeyNotReady,
}

impl Rejection {
    /// Every label, for mapping a label back to its static form.
    pub const LABELS: [&'static str; 11] = [
        "too_large",
        "malformed",
        "wrong_chain",
        "wrong_epoch",
        "invalid_ciphertext",
        "expired",
        "expiry_too_far",
        "duplicate",
        "full",
        "overloaded",
        "key_not_ready",
    ];

    /// The static form of a rejection label (`rejected` for one that is not a rejection's).
    pub fn static_label(label: &str) -> &'static str {
        Self::LABELS
            .into_iter()
            .find(|known| *known == label)
            .unwrap_or("rejected")
    }

    /// A short, stable label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Rejection::TooLarge { .. } => "too_large",
            Rejection::Malformed(_) => "malformed",
            Rejection::WrongChain { .. } => "wrong_chain",
            Rejection::WrongEpoch { .. } => "wrong_epoch",
            Rejection::InvalidCiphertext => "invalid_ciphertext",
            Rejection::Expired { .. } => "expired",
            Rejection::ExpiryTooFar { .. } => "expiry_too_far",
            Rejection::Duplicate => "duplicate",
            Rejection::Full => "full",
            Rejection::Overloaded => "overloaded",
            Rejection::KeyNotReady => "key_not_ready",
        }
    }
}

/// Pending ciphertexts of one validator.
#[derive(Debug)]
pub struct Mempool {
    config: MempoolConfig,
    context: Context,
    key: KeySlot,
    author: u16,
    /// Held ciphertexts in admission order, each with its admission sequence number and id.
    pending: VecDeque<(u64, TxId, Vec<u8>)>,
    pending_bytes: usize,
    /// The admission sequence number the next held ciphertext gets.
    next_admission: u64,
    known: IdSet<TxId>,
    oldest_ms: Option<u64>,
    next_sequence: u64,
    /// The chain's `validity_heights`.
    validity_heights: u64,
    /// The highest height whose order this validator has processed.
    height: u64,
}

impl Mempool {
    /// An empty mempool of validator `author` for `context`, whose ciphertexts must verify
    /// under the key in `key` (nothing is admitted until it is set). `next_sequence` continues
    /// the author's batch numbering after a restart.
    pub fn new(
        config: MempoolConfig,
        context: Context,
        key: KeySlot,
        author: u16,
        next_sequence: u64,
        validity_heights: u64,
    ) -> Self {
        Self {
            validity_heights,
            height: 0,
            config,
            context,
            key,
            author,
            pending: VecDeque::new(),
            pending_bytes: 0,
            next_admission: 0,
            known: IdSet::default(),
            oldest_ms: None,
            next_sequence,
        }
    }

    /// Checks one ciphertext; on success it is pending (the caller persists, flushes, then
    /// answers `accepted`).
    pub fn admit(&mut self, bytes: &[u8], now_ms: u64) -> Result<TxId, Rejection> {
        self.admit_one(bytes, false, now_ms)
    }

    /// Admits bytes after the size, duplicate and capacity checks only. A fault injected in
    /// test networks (a Byzantine validator batching garbage) and the ordering-only
    /// benchmark; never used otherwise.
    pub fn admit_unchecked(&mut self, bytes: &[u8], now_ms: u64) -> Result<TxId, Rejection> {
        self.admit_one(bytes, true, now_ms)
    }

    fn admit_one(&mut self, bytes: &[u8], unchecked: bool, now_ms: u64) -> Result<TxId, Rejection> {
        let group = [bytes.to_vec()];
        let mut rng = rand_core::OsRng;
        let mut verdicts = self.check_group(&group, unchecked, &mut rng, |_| false);
        let id = verdicts.pop().unwrap_or(Err(Rejection::Full))?;
        let [bytes] = group;
        self.hold(id, bytes, now_ms);
        Ok(id)
    }

    /// Checks a group of submissions without holding any: size, structure, label, expiry,
    /// duplicates (held here, earlier in the group, or `committed`), capacity, and last the
    /// validity proofs of every survivor together (skipped when `unchecked`). One verdict per
    /// submission, in order; the caller holds the accepted ones with [`Mempool::hold`] in the
    /// same step, before any other group is checked.
    pub fn check_group<R: rand_core::RngCore + rand_core::CryptoRng>(
        &self,
        submissions: &[Vec<u8>],
        unchecked: bool,
        rng: &mut R,
        mut committed: impl FnMut(&TxId) -> bool,
    ) -> Vec<Result<TxId, Rejection>> {
        let key = self.key.get();
        if key.is_none() && !unchecked {
            return vec![Err(Rejection::KeyNotReady); submissions.len()];
        }
        let mut verdicts: Vec<Result<TxId, Rejection>> = Vec::with_capacity(submissions.len());
        let mut proofs = Vec::new();
        let mut proof_slots = Vec::new();
        let mut group_ids = IdSet::with_capacity_and_hasher(submissions.len(), Default::default());
        let room = self.config.pending_max.saturating_sub(self.pending.len());
        // Decoding (square roots and subgroup checks of four points) is most of the cheap
        // checks: every submission of the group that will be checked is decoded at once, on
        // every worker of the current rayon pool.
        let max = self.config.ciphertext_bytes_max;
        let decoded: Vec<Option<Result<Ciphertext, ThresholdError>>> = submissions
            .par_iter()
            .map(|bytes| {
                (!unchecked && bytes.len() <= max).then(|| Ciphertext::from_bytes(bytes, max))
            })
            .collect();
        for (bytes, decoded) in submissions.iter().zip(decoded) {
            let verdict = self.cheap_checks(bytes, decoded).and_then(|parsed| {
                let id = TxId::of(bytes);
                if self.known.contains(&id) || group_ids.contains(&id) || committed(&id) {
                    return Err(Rejection::Duplicate);
                }
                if group_ids.len() >= room {
                    return Err(Rejection::Full);
                }
                group_ids.insert(id);
                Ok((id, parsed))
            });
            match verdict {
                Ok((id, Some(ciphertext))) => {
                    proof_slots.push(verdicts.len());
                    proofs.push(ciphertext);
                    verdicts.push(Ok(id));
                }
                Ok((id, None)) => verdicts.push(Ok(id)),
                Err(rejection) => verdicts.push(Err(rejection)),
            }
        }
        if let (false, Some(key)) = (proofs.is_empty(), key) {
            let checked = verify_ciphertexts(proofs, &key, &self.context, rng);
            for (slot, result) in proof_slots.into_iter().zip(checked) {
                if result.is_err() {
                    verdicts[slot] = Err(Rejection::InvalidCiphertext);
                }
            }
        }
        verdicts
    }

    /// Holds an accepted ciphertext as pending under the next admission sequence number.
    pub fn hold(&mut self, id: TxId, bytes: Vec<u8>, now_ms: u64) {
        let sequence = self.next_admission;
        self.next_admission += 1;
        self.pending_bytes += bytes.len();
        self.known.insert(id);
        self.pending.push_back((sequence, id, bytes));
        self.oldest_ms.get_or_insert(now_ms);
    }

    /// The admission sequence number the next held ciphertext gets.
    pub fn next_admission(&self) -> u64 {
        self.next_admission
    }

    /// Every held ciphertext numbered below this is in a batch.
    pub fn batched_through(&self) -> u64 {
        self.pending
            .front()
            .map_or(self.next_admission, |(sequence, _, _)| *sequence)
    }

    /// The highest processed height moved to `height` (expiry is judged against the next).
    pub fn set_height(&mut self, height: u64) {
        self.height = self.height.max(height);
    }

    /// The expiry a batch cut now gets: the latest `valid_through` among its transactions,
    /// capped at the latest the window allows now. Admission keeps every checked transaction
    /// under the cap; bytes admitted unchecked count as the cap, so their batch is ordered
    /// and they fail like any garbage.
    fn batch_valid_through(&self, transactions: &[Vec<u8>]) -> u64 {
        let latest = self.height + 1 + self.validity_heights;
        transactions
            .iter()
            .map(|bytes| Label::peek(bytes).map_or(latest, |label| label.valid_through.min(latest)))
            .max()
            .unwrap_or(latest)
    }

    /// The checks that need no group arithmetic; the parsed ciphertext whose proof is still
    /// to be checked (none when `unchecked`).
    /// `decoded` is the submission as decoded for its group: none when admission is
    /// `unchecked` (or the bytes are over the size limit, refused here first).
    fn cheap_checks(
        &self,
        bytes: &[u8],
        decoded: Option<Result<Ciphertext, ThresholdError>>,
    ) -> Result<Option<Ciphertext>, Rejection> {
        if bytes.len() > self.config.ciphertext_bytes_max {
            return Err(Rejection::TooLarge {
                max: self.config.ciphertext_bytes_max,
                got: bytes.len(),
            });
        }
        let Some(decoded) = decoded else {
            return Ok(None);
        };
        let ciphertext = decoded.map_err(|error| Rejection::Malformed(error.to_string()))?;
        let label = ciphertext.label();
        if label.chain_id != self.context.chain_id {
            return Err(Rejection::WrongChain {
                expected: self.context.chain_id,
                got: label.chain_id,
            });
        }
        if label.epoch != self.context.epoch {
            return Err(Rejection::WrongEpoch {
                expected: self.context.epoch,
                got: label.epoch,
            });
        }
        let valid_through = label.valid_through;
        let next = self.height + 1;
        let max = next.saturating_add(self.validity_heights);
        if valid_through < next {
            return Err(Rejection::Expired {
                valid_through,
                next,
            });
        }
        if valid_through > max {
            return Err(Rejection::ExpiryTooFar { valid_through, max });
        }
        Ok(Some(ciphertext))
    }

    /// Puts back what a restart finds on disk (checked once already): the stored groups, of
    /// which every ciphertext numbered below `batched_through` is in a batch.
    pub fn restore(&mut self, groups: Vec<PendingGroup>, batched_through: u64, now_ms: u64) {
        self.next_admission = self.next_admission.max(batched_through);
        for group in groups {
            for (sequence, bytes) in (group.first..).zip(group.transactions) {
                self.next_admission = self.next_admission.max(sequence + 1);
                let id = TxId::of(&bytes);
                if sequence < batched_through || !self.known.insert(id) {
                    continue;
                }
                self.pending_bytes += bytes.len();
                self.pending.push_back((sequence, id, bytes));
                self.oldest_ms.get_or_insert(now_ms);
            }
        }
    }

    /// Marks ids as known without holding them (batched or committed elsewhere), so that a
    /// resubmission is a duplicate.
    pub fn remember(&mut self, ids: impl IntoIterator<Item = TxId>) {
        self.known.extend(ids);
    }

    /// Forgets committed ids once the node's durable index answers for them.
    pub fn forget(&mut self, ids: &[TxId]) {
        for id in ids {
            self.known.remove(id);
        }
    }

    /// The configuration (the same limits bound peers' batches).
    pub fn config(&self) -> &MempoolConfig {
        &self.config
    }

    /// Number of pending ciphertexts.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// When the next batch is due by age, if anything is pending.
    pub fn next_deadline(&self) -> Option<u64> {
        self.oldest_ms
            .map(|oldest| oldest.saturating_add(self.config.batch_interval_ms))
    }

    /// Cuts a batch if one is due with `in_flight` own batches cut and not yet committed:
    /// full by bytes or count (below [`MempoolConfig::batches_in_flight_max`]), or old enough
    /// (below [`MempoolConfig::batches_in_flight_by_age_max`]).
    pub fn take_batch(&mut self, now_ms: u64, in_flight: usize) -> Option<Batch> {
        self.take_batch_with_ids(now_ms, in_flight)
            .map(|(batch, _)| batch)
    }

    /// [`Mempool::take_batch`], with the ids of the batch's transactions in order.
    pub fn take_batch_with_ids(
        &mut self,
        now_ms: u64,
        in_flight: usize,
    ) -> Option<(Batch, Vec<TxId>)> {
        let due_by_age = self.next_deadline().is_some_and(|at| now_ms >= at)
            && in_flight < self.config.batches_in_flight_by_age_max;
        let due_by_size = (self.pending_bytes >= self.config.batch_bytes_max
            || self.pending.len() >= self.config.batch_count_max)
            && in_flight < self.config.batches_in_flight_max;
        if self.pending.is_empty() || !(due_by_age || due_by_size) {
            return None;
        }
        let mut transactions = Vec::new();
        let mut ids = Vec::new();
        let mut bytes = 0;
        while let Some((_, _, front)) = self.pending.front() {
            let full = transactions.len() >= self.config.batch_count_max
                || (!transactions.is_empty() && bytes + front.len() > self.config.batch_bytes_max);
            if full {
                break;
            }
            let (_, id, transaction) = self.pending.pop_front().expect("front exists");
            bytes += transaction.len();
            transactions.push(transaction);
            ids.push(id);
        }
        self.pending_bytes -= bytes;
        self.oldest_ms = (!self.pending.is_empty()).then_some(now_ms);
        let batch = Batch {
            epoch: self.context.epoch,
            author: self.author,
            sequence: self.next_sequence,
            valid_through: self.batch_valid_through(&transactions),
            transactions,
        };
        self.next_sequence += 1;
        Some((batch, ids))
    }
}

/// The committed order of transactions: batches in block order, transactions in batch order,
/// and a ciphertext that appears again counts once (the first occurrence wins). `first_time`
/// answers whether an id was committed before, and records it.
pub fn committed_order<'a>(
    batches: impl IntoIterator<Item = &'a Batch>,
    first_time: impl FnMut(TxId) -> bool,
) -> Vec<TxId> {
    let ids: Vec<Vec<TxId>> = batches
        .into_iter()
        .map(|batch| batch.transactions.iter().map(|t| TxId::of(t)).collect())
        .collect();
    committed_locations(ids.iter().map(Vec::as_slice), first_time)
        .into_iter()
        .map(|(id, _, _)| id)
        .collect()
}

/// [`committed_order`] over the batches' transaction ids, with where each transaction sits:
/// (id, index of its batch in the block, index in that batch).
pub fn committed_locations<'a>(
    batches: impl IntoIterator<Item = &'a [TxId]>,
    mut first_time: impl FnMut(TxId) -> bool,
) -> Vec<(TxId, usize, usize)> {
    let mut out = Vec::new();
    for (batch_index, ids) in batches.into_iter().enumerate() {
        for (index, id) in ids.iter().enumerate() {
            if first_time(*id) {
                out.push((*id, batch_index, index));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use shroud_crypto::tdh2::{encrypt, trusted_dealer_for_local_testnet, EncryptionKey, Label};

    use super::*;

    const CONTEXT: Context = Context {
        chain_id: 5,
        epoch: 2,
    };

    fn setup() -> (EncryptionKey, Mempool, ChaCha20Rng) {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let (public, _) = trusted_dealer_for_local_testnet(2, 4, &mut rng).expect("dealer");
        let key = *public.encryption_key();
        let config = MempoolConfig {
            batch_count_max: 3,
            ..MempoolConfig::default()
        };
        (
            key,
            Mempool::new(config, CONTEXT, KeySlot::ready(key), 1, 0, 50),
            rng,
        )
    }

    fn ciphertext(
        key: &EncryptionKey,
        chain_id: u64,
        epoch: u64,
        nonce: u8,
        rng: &mut ChaCha20Rng,
    ) -> Vec<u8> {
        expiring(key, chain_id, epoch, 40, nonce, rng)
    }

    fn expiring(
        key: &EncryptionKey,
        chain_id: u64,
        epoch: u64,
        valid_through: u64,
        nonce: u8,
        rng: &mut ChaCha20Rng,
    ) -> Vec<u8> {
        let label = Label {
            chain_id,
            epoch,
            valid_through,
            nonce: [nonce; 32],
        };
        encrypt(key, label, b"transfer", rng).to_bytes()
    }

    #[test]
    fn admission_takes_only_what_can_still_be_ordered_within_the_window() {
        let (key, mut mempool, mut rng) = setup();
        mempool.set_height(9);
        // The next height is 10 and the window 50 heights: 10..=60 is admitted.
        for (valid_through, nonce) in [(10, 1), (60, 2)] {
            let bytes = expiring(&key, 5, 2, valid_through, nonce, &mut rng);
            assert!(mempool.admit(&bytes, 0).is_ok(), "through {valid_through}");
        }
        let stale = expiring(&key, 5, 2, 9, 3, &mut rng);
        assert_eq!(
            mempool.admit(&stale, 0),
            Err(Rejection::Expired {
                valid_through: 9,
                next: 10
            })
        );
        let far = expiring(&key, 5, 2, 61, 4, &mut rng);
        assert_eq!(
            mempool.admit(&far, 0),
            Err(Rejection::ExpiryTooFar {
                valid_through: 61,
                max: 60
            })
        );
        // The height only moves forward.
        mempool.set_height(3);
        assert!(matches!(
            mempool.admit(&stale, 0),
            Err(Rejection::Expired { .. })
        ));
        // A batch carries the latest expiry among its transactions.
        let batch = mempool.take_batch(1_000, 0).expect("due by age");
        assert_eq!(batch.valid_through, 60);
        assert_eq!(Rejection::static_label("expiry_too_far"), "expiry_too_far");
    }

    #[test]
    fn a_batch_of_unlabelled_bytes_stays_orderable_through_the_window() {
        let (_, mut mempool, _) = setup();
        mempool.set_height(100);
        mempool.admit_unchecked(b"garbage", 0).expect("held");
        let batch = mempool.take_batch(1_000, 0).expect("due by age");
        assert_eq!(batch.valid_through, 151);
    }

    #[test]
    fn admission_checks_each_rule() {
        let (key, mut mempool, mut rng) = setup();
        let good = ciphertext(&key, 5, 2, 1, &mut rng);
        let id = mempool.admit(&good, 0).expect("valid ciphertext");
        assert_eq!(id, TxId::of(&good));
        assert_eq!(mempool.admit(&good, 0), Err(Rejection::Duplicate));
        let other_epoch = ciphertext(&key, 5, 3, 2, &mut rng);
        assert_eq!(
            mempool.admit(&other_epoch, 0),
            Err(Rejection::WrongEpoch {
                expected: 2,
                got: 3
            })
        );
        let other_chain = ciphertext(&key, 6, 2, 3, &mut rng);
        assert!(matches!(
            mempool.admit(&other_chain, 0),
            Err(Rejection::WrongChain { .. })
        ));
        let mut mauled = ciphertext(&key, 5, 2, 4, &mut rng);
        let last = mauled.len() - 1;
        mauled[last] ^= 1;
        assert_eq!(mempool.admit(&mauled, 0), Err(Rejection::InvalidCiphertext));
        assert!(matches!(
            mempool.admit(b"garbage", 0),
            Err(Rejection::Malformed(_))
        ));
        assert!(matches!(
            mempool.admit(&vec![1u8; 70_000], 0),
            Err(Rejection::TooLarge { .. })
        ));
        assert_eq!(mempool.len(), 1);
    }

    #[test]
    fn batches_are_cut_by_count_and_by_age_in_arrival_order() {
        let (key, mut mempool, mut rng) = setup();
        let transactions: Vec<Vec<u8>> = (0..5u8)
            .map(|nonce| ciphertext(&key, 5, 2, nonce, &mut rng))
            .collect();
        assert_eq!(mempool.take_batch(0, 0), None);
        for transaction in &transactions[..2] {
            mempool.admit(transaction, 10).expect("valid");
        }
        // Two pending, count limit three, not old enough yet: due a batch interval after the
        // first arrived.
        assert_eq!(mempool.take_batch(20, 0), None);
        let interval = MempoolConfig::default().batch_interval_ms;
        assert_eq!(mempool.next_deadline(), Some(10 + interval));
        for transaction in &transactions[2..] {
            mempool.admit(transaction, 30).expect("valid");
        }
        let first = mempool.take_batch(30, 0).expect("full by count");
        assert_eq!(first.transactions, transactions[..3].to_vec());
        assert_eq!(first.sequence, 0);
        assert_eq!(mempool.take_batch(31, 0), None);
        let second = mempool.take_batch(30 + interval, 0).expect("due by age");
        assert_eq!(second.transactions, transactions[3..].to_vec());
        assert_eq!(second.sequence, 1);
        assert!(mempool.is_empty());
    }

    #[test]
    fn committed_order_is_batches_then_transactions_first_wins() {
        let batch = |author: u16, transactions: &[&[u8]]| Batch {
            epoch: 2,
            author,
            sequence: 0,
            valid_through: 10,
            transactions: transactions.iter().map(|t| t.to_vec()).collect(),
        };
        let first = batch(0, &[b"a", b"b"]);
        let second = batch(1, &[b"c", b"a", b"d"]);
        let mut seen = std::collections::HashSet::new();
        let order = committed_order([&first, &second], |id| seen.insert(id));
        let expected: Vec<TxId> = [b"a", b"b", b"c", b"d"]
            .iter()
            .map(|t| TxId::of(&t[..]))
            .collect();
        assert_eq!(order, expected);
        // Later blocks repeating an id do not commit it again.
        let third = batch(2, &[b"b", b"e"]);
        assert_eq!(
            committed_order([&third], |id| seen.insert(id)),
            vec![TxId::of(b"e")]
        );
    }
}
