//! Admission of client ciphertexts and packing into batches (sync logic; the runtime persists
//! and answers).
//!
//! Admission checks, in order: size, structure (decoding), label (chain and epoch), the
//! ciphertext's validity proof, its expiry against this validator's height, duplicates,
//! capacity. A refused ciphertext gets a typed
//! [`Rejection`]; an admitted one is *accepted* only after the runtime has flushed it to disk.

use std::collections::{HashSet, VecDeque};

use shroud_crypto::tdh2::{Ciphertext, Context, EncryptionKey, Label};
use shroud_crypto::ThresholdError;
use thiserror::Error;

use crate::batch::{Batch, TxId};

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
    /// ...or when its oldest ciphertext has waited this long.
    pub batch_interval_ms: u64,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        Self {
            ciphertext_bytes_max: 64 * 1024,
            pending_max: 100_000,
            batch_bytes_max: 512 * 1024,
            batch_count_max: 1_000,
            batch_interval_ms: 50,
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
}

impl Rejection {
    /// Every label, for mapping a label back to its static form.
    pub const LABELS: [&'static str; 9] = [
        "too_large",
        "malformed",
        "wrong_chain",
        "wrong_epoch",
        "invalid_ciphertext",
        "expired",
        "expiry_too_far",
        "duplicate",
        "full",
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
        }
    }
}

/// Pending ciphertexts of one validator.
#[derive(Debug)]
pub struct Mempool {
    config: MempoolConfig,
    context: Context,
    key: EncryptionKey,
    author: u16,
    pending: VecDeque<(TxId, Vec<u8>)>,
    pending_bytes: usize,
    known: HashSet<TxId>,
    oldest_ms: Option<u64>,
    next_sequence: u64,
    /// The chain's `validity_heights`.
    validity_heights: u64,
    /// The highest height whose order this validator has processed.
    height: u64,
}

impl Mempool {
    /// An empty mempool of validator `author` for `context`, whose ciphertexts must verify
    /// under `key`. `next_sequence` continues the author's batch numbering after a restart.
    pub fn new(
        config: MempoolConfig,
        context: Context,
        key: EncryptionKey,
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
            known: HashSet::new(),
            oldest_ms: None,
            next_sequence,
        }
    }

    /// Checks a ciphertext; on success it is pending (the caller persists, flushes, then
    /// answers `accepted`).
    pub fn admit(&mut self, bytes: &[u8], now_ms: u64) -> Result<TxId, Rejection> {
        self.check(bytes)?;
        self.hold(bytes, now_ms)
    }

    /// Admits bytes after the size, duplicate and capacity checks only. A fault injected in
    /// test networks (a Byzantine validator batching garbage); never used otherwise.
    pub fn admit_unchecked(&mut self, bytes: &[u8], now_ms: u64) -> Result<TxId, Rejection> {
        if bytes.len() > self.config.ciphertext_bytes_max {
            return Err(Rejection::TooLarge {
                max: self.config.ciphertext_bytes_max,
                got: bytes.len(),
            });
        }
        self.hold(bytes, now_ms)
    }

    /// The duplicate and capacity checks, then holds the bytes as pending.
    fn hold(&mut self, bytes: &[u8], now_ms: u64) -> Result<TxId, Rejection> {
        let id = TxId::of(bytes);
        if self.known.contains(&id) {
            return Err(Rejection::Duplicate);
        }
        if self.pending.len() >= self.config.pending_max {
            return Err(Rejection::Full);
        }
        self.insert(id, bytes.to_vec(), now_ms);
        Ok(id)
    }

    /// The highest processed height moved to `height` (expiry is judged against the next).
    pub fn set_height(&mut self, height: u64) {
        self.height = self.height.max(height);
    }

    /// The expiry a batch cut now gets: the latest `valid_through` among its transactions,
    /// capped at the latest the window allows now. Admission keeps every checked transaction
    /// under the cap; bytes admitted unchecked (only an injected fault does that) count as the
    /// cap, so their batch is ordered and they fail like any garbage.
    fn batch_valid_through(&self, transactions: &[Vec<u8>]) -> u64 {
        let latest = self.height + 1 + self.validity_heights;
        transactions
            .iter()
            .map(|bytes| Label::peek(bytes).map_or(latest, |label| label.valid_through.min(latest)))
            .max()
            .unwrap_or(latest)
    }

    fn check(&self, bytes: &[u8]) -> Result<(), Rejection> {
        if bytes.len() > self.config.ciphertext_bytes_max {
            return Err(Rejection::TooLarge {
                max: self.config.ciphertext_bytes_max,
                got: bytes.len(),
            });
        }
        let ciphertext = Ciphertext::from_bytes(bytes, self.config.ciphertext_bytes_max)
            .map_err(|error| Rejection::Malformed(error.to_string()))?;
        let valid_through = ciphertext.label().valid_through;
        match ciphertext.verify(&self.key, &self.context) {
            Ok(_) => {
                let next = self.height + 1;
                let max = next.saturating_add(self.validity_heights);
                if valid_through < next {
                    Err(Rejection::Expired {
                        valid_through,
                        next,
                    })
                } else if valid_through > max {
                    Err(Rejection::ExpiryTooFar { valid_through, max })
                } else {
                    Ok(())
                }
            }
            Err(ThresholdError::WrongLabel {
                field: "chain id",
                expected,
                got,
            }) => Err(Rejection::WrongChain { expected, got }),
            Err(ThresholdError::WrongLabel { expected, got, .. }) => {
                Err(Rejection::WrongEpoch { expected, got })
            }
            Err(_) => Err(Rejection::InvalidCiphertext),
        }
    }

    fn insert(&mut self, id: TxId, bytes: Vec<u8>, now_ms: u64) {
        self.pending_bytes += bytes.len();
        self.known.insert(id);
        self.pending.push_back((id, bytes));
        self.oldest_ms.get_or_insert(now_ms);
    }

    /// Puts back ciphertexts read from disk after a restart (already checked once).
    pub fn restore(&mut self, transactions: Vec<(TxId, Vec<u8>)>, now_ms: u64) {
        for (id, bytes) in transactions {
            if self.known.insert(id) {
                self.pending_bytes += bytes.len();
                self.pending.push_back((id, bytes));
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

    /// Cuts a batch if one is due (full by bytes or count, or old enough).
    pub fn take_batch(&mut self, now_ms: u64) -> Option<Batch> {
        let due_by_age = self.next_deadline().is_some_and(|at| now_ms >= at);
        let due_by_size = self.pending_bytes >= self.config.batch_bytes_max
            || self.pending.len() >= self.config.batch_count_max;
        if self.pending.is_empty() || !(due_by_age || due_by_size) {
            return None;
        }
        let mut transactions = Vec::new();
        let mut bytes = 0;
        while let Some((_, front)) = self.pending.front() {
            let full = transactions.len() >= self.config.batch_count_max
                || (!transactions.is_empty() && bytes + front.len() > self.config.batch_bytes_max);
            if full {
                break;
            }
            let (_, transaction) = self.pending.pop_front().expect("front exists");
            bytes += transaction.len();
            transactions.push(transaction);
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
        Some(batch)
    }
}

/// The committed order of transactions: batches in block order, transactions in batch order,
/// and a ciphertext that appears again counts once (the first occurrence wins). `seen` answers
/// whether an id was committed before, and records it.
pub fn committed_order<'a>(
    batches: impl IntoIterator<Item = &'a Batch>,
    first_time: impl FnMut(TxId) -> bool,
) -> Vec<TxId> {
    committed_locations(batches, first_time)
        .into_iter()
        .map(|(id, _, _)| id)
        .collect()
}

/// [`committed_order`] with where each transaction sits: (id, index of its batch in the
/// block, index in that batch).
pub fn committed_locations<'a>(
    batches: impl IntoIterator<Item = &'a Batch>,
    mut first_time: impl FnMut(TxId) -> bool,
) -> Vec<(TxId, usize, usize)> {
    let mut out = Vec::new();
    for (batch_index, batch) in batches.into_iter().enumerate() {
        for (index, transaction) in batch.transactions.iter().enumerate() {
            let id = TxId::of(transaction);
            if first_time(id) {
                out.push((id, batch_index, index));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use shroud_crypto::tdh2::{encrypt, trusted_dealer_for_local_testnet, Label};

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
        (key, Mempool::new(config, CONTEXT, key, 1, 0, 50), rng)
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
        let batch = mempool.take_batch(1_000).expect("due by age");
        assert_eq!(batch.valid_through, 60);
        assert_eq!(Rejection::static_label("expiry_too_far"), "expiry_too_far");
    }

    #[test]
    fn a_batch_of_unlabelled_bytes_stays_orderable_through_the_window() {
        let (_, mut mempool, _) = setup();
        mempool.set_height(100);
        mempool.admit_unchecked(b"garbage", 0).expect("held");
        let batch = mempool.take_batch(1_000).expect("due by age");
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
        assert_eq!(mempool.take_batch(0), None);
        for transaction in &transactions[..2] {
            mempool.admit(transaction, 10).expect("valid");
        }
        // Two pending, count limit three, not old enough yet.
        assert_eq!(mempool.take_batch(20), None);
        assert_eq!(mempool.next_deadline(), Some(60));
        for transaction in &transactions[2..] {
            mempool.admit(transaction, 30).expect("valid");
        }
        let first = mempool.take_batch(30).expect("full by count");
        assert_eq!(first.transactions, transactions[..3].to_vec());
        assert_eq!(first.sequence, 0);
        assert_eq!(mempool.take_batch(31), None);
        let second = mempool.take_batch(200).expect("due by age");
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
        let mut seen = HashSet::new();
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
