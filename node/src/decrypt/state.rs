//! The decryption stage's logic (no threads, no sockets): set up a committed height, make this
//! validator's shares, combine peers' shares, build and sign the output, collect votes into a
//! certificate. Every method returns the messages to send; the caller must call
//! [`DecryptionState::persist`] (flush) before sending any of them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use metrics::{counter, gauge, histogram};
use rand_core::OsRng;
use shroud_crypto::tdh2::{
    combine_share_batches, create_share_batch, decode_share_values, decode_vouched_ciphertexts,
    encode_point, share_batch_from_parts, verify_share_batch, Context, G1Point as G1Affine,
    KeyShare, PublicKeySet, ShareBatchProof, VerifiedCiphertext, SHARE_BATCH_PROOF_BYTES,
};
use shroud_crypto::{CertificateBuilder, CommitteeKeys, SecretKey, Signature, SigningDomain};
use shroud_proofs::output::HeightContext;
use shroud_proofs::within_validity;
use shroud_proofs::{
    build_output, outcome_of_opened, output_quorum, BundleLimits, FailureReason, Outcome,
    OutputCertificate, OutputHeader, PositionEntry, TxId,
};
use tracing::warn;

use crate::batch::{Batch, BatchDigest};
use crate::store::{DecryptionLog, HeightRecord, NodeStore, OutputRecord, StoreError};
use crate::wire::{CombinedMessage, DecryptionRequest, OutputVote, SharesMessage};

/// Heights being decrypted at once.
const ACTIVE_MAX: usize = 16;
/// Messages for heights this far ahead of the next one to set up are kept until it is set up;
/// further ones are dropped (the sender's requests and answers recover them).
const EARLY_WINDOW: u64 = 64;
/// A height still undecided (or uncertified) this long asks peers for what they have.
const REQUEST_AFTER: Duration = Duration::from_millis(700);
/// Release times kept for heights not set up yet.
const RELEASES_KEPT: usize = 4_096;
/// Heights asked about per timer round at most.
const REQUESTS_PER_ROUND: usize = 8;
/// Heights one request asks about, and one answer covers, at most.
pub const REQUEST_HEIGHTS_MAX: u64 = 32;
/// How long a validator that is not a height's combiner, holding `t` shares, waits for the
/// combiner's points before it combines the shares itself.
const COMBINER_WAIT: Duration = Duration::from_millis(100);
/// After a combiner was late, how long its heights are combined here without waiting for it
/// (a combiner that is down or overloaded must not hold up every height it combines, nor
/// make the others do the work twice).
const LATE_COMBINER_SKIP: Duration = Duration::from_secs(2);

/// Faults a test network injects into one validator. Never set on a real network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Send decryption shares made with a wrong key share (they fail their proofs).
    pub invalid_shares: bool,
}

/// What the stage needs to know.
#[derive(Debug)]
pub struct Params {
    /// This validator's index.
    pub me: u16,
    /// The chain.
    pub chain_id: u64,
    /// The epoch.
    pub epoch: u64,
    /// This validator's share of the decryption key.
    pub key_share: KeyShare,
    /// The threshold key set.
    pub public: PublicKeySet,
    /// The committee's BLS keys.
    pub keys: CommitteeKeys,
    /// This validator's BLS key.
    pub signer: SecretKey,
    /// Largest ciphertext payload decoded.
    pub ciphertext_bytes_max: usize,
    /// The chain's `validity_heights` (ADR 0008).
    pub validity_heights: u64,
    /// Bundle limits.
    pub bundle_limits: BundleLimits,
    /// Injected faults (tests only).
    pub faults: Faults,
}

/// A message of the stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// Own shares of a height.
    Shares(SharesMessage),
    /// A height's combined points (this validator is its combiner).
    Combined(CombinedMessage),
    /// Own signature over a header.
    Vote(OutputVote),
    /// A certificate (answering a request).
    Certificate(OutputCertificate),
    /// A request for a height.
    Request(DecryptionRequest),
}

/// Where a message goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Send {
    /// To every other validator.
    All(Outgoing),
    /// To one validator.
    To(u16, Outgoing),
}

enum Slot {
    Waiting(Box<VerifiedCiphertext>),
    Done(Outcome),
}

struct Decrypting {
    block_digest: [u8; 32],
    tx_ids: Vec<TxId>,
    slots: Vec<Slot>,
    /// Positions that get shares (valid, new ciphertexts), in order.
    shareable: Vec<u32>,
    /// The combined point `r·h` of each shareable position, once decided (served with the
    /// output so that anyone can check the decryptions).
    points: Vec<[u8; 48]>,
    /// Every position has its outcome (the shareable ones are decided all at once).
    decided: bool,
    /// Share batches by sender, in arrival order (own first).
    shares: Vec<SenderShares>,
    bad: BTreeSet<u16>,
    attempted_with: usize,
    /// Not the combiner: when this validator combines itself if the combiner's points have
    /// not decided the height (set once `t` senders are in).
    combine_after: Option<Instant>,
    /// The combiner's points failed (or never came in time): combine here.
    combine_here: bool,
    log: DecryptionLog,
    started: Instant,
    asked: Instant,
    /// Peers were asked for this height: their combined points are checked whoever sends
    /// them (unasked, only the combiner's are).
    requested: bool,
}

/// Positions that passed classification's checks, with their decoded ciphertexts.
type Candidates = Vec<(usize, VerifiedCiphertext)>;

/// A sender's shares of a height: the message as it came (structure checked), its values
/// decoded only once they are needed for a combination.
struct SenderShares {
    from: u16,
    message: SharesMessage,
    values: Option<Vec<G1Affine>>,
}

struct Certifying {
    header: OutputHeader,
    builder: CertificateBuilder,
    asked: Instant,
}

/// The decryption stage of one validator.
pub struct DecryptionState {
    params: Params,
    store: NodeStore,
    next_setup: u64,
    built: u64,
    certified: u64,
    last_header_digest: [u8; 32],
    decrypting: BTreeMap<u64, Decrypting>,
    certifying: BTreeMap<u64, Certifying>,
    early_shares: BTreeMap<u64, BTreeMap<u16, SharesMessage>>,
    early_combined: BTreeMap<u64, CombinedMessage>,
    /// Combiners that were late, and until when their heights are combined here at once.
    late_combiners: BTreeMap<u16, Instant>,
    early_votes: BTreeMap<u64, BTreeMap<u16, OutputVote>>,
    /// Certificates that came (answering a request) before their height was built.
    early_certificates: BTreeMap<u64, OutputCertificate>,
    /// The peer asked next while catching up (rotating).
    catch_up_peer: u16,
    /// Heights up to this one were asked of a peer while catching up.
    requested_through: u64,
    /// Peers' points answering those requests, for heights not set up yet (one per height).
    early_answers: BTreeMap<u64, CombinedMessage>,
    released_at: BTreeMap<u64, Instant>,
    dirty: bool,
    /// Peers that sent what no honest validator sends (shares or points failing their proof,
    /// a bad output signature), for the node's peer scores ([`DecryptionState::take_offenders`]).
    offenders: Vec<u16>,
}

impl std::fmt::Debug for DecryptionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DecryptionState(validator {}, built {})",
            self.params.me, self.built
        )
    }
}

/// A failure of the stage: the store (fatal) or an invariant of our own.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// An invariant broke.
    #[error("invariant: {0}")]
    Invariant(&'static str),
}

fn refuse(kind: &'static str, reason: &'static str) {
    counter!("shroud_decryption_messages_rejected_total", "kind" => kind, "reason" => reason)
        .increment(1);
}

impl DecryptionState {
    /// Resumes from the store: heights whose output is built are done; uncertified ones
    /// collect votes again; later ones are set up again when released (own shares are reused).
    pub fn new(params: Params, store: NodeStore) -> Result<Self, StageError> {
        let built = store.output_height()?;
        let last_header_digest = match store.output(built)? {
            Some(record) => record.header.digest(),
            None => [0; 32],
        };
        let certified = store.certified_height()?;
        let mut state = Self {
            params,
            store,
            next_setup: built + 1,
            built,
            certified,
            last_header_digest,
            decrypting: BTreeMap::new(),
            certifying: BTreeMap::new(),
            early_shares: BTreeMap::new(),
            early_combined: BTreeMap::new(),
            late_combiners: BTreeMap::new(),
            early_votes: BTreeMap::new(),
            early_certificates: BTreeMap::new(),
            catch_up_peer: 0,
            requested_through: 0,
            early_answers: BTreeMap::new(),
            offenders: Vec::new(),
            released_at: BTreeMap::new(),
            dirty: false,
        };
        for height in state.store.certified_height()? + 1..=built {
            if state.store.output_certificate(height)?.is_some() {
                continue;
            }
            let record = state.store.output(height)?.ok_or(StageError::Invariant(
                "every height up to the built one has an output",
            ))?;
            state.start_certifying(&record, true)?;
        }
        Ok(state)
    }

    /// Whether writes wait for a flush.
    pub fn needs_flush(&self) -> bool {
        self.dirty
    }

    /// Flushes the store: call before sending anything the stage returned.
    pub fn persist(&mut self) -> Result<(), StageError> {
        if self.dirty {
            self.store.flush()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// The highest height whose output is built.
    pub fn built_height(&self) -> u64 {
        self.built
    }

    /// Every height up to this one is certified.
    pub fn certified_height(&self) -> u64 {
        self.certified
    }

    /// When consensus released `height` (the start of its decryption latency). Kept for
    /// heights not set up yet, a bounded number of them.
    pub fn note_release(&mut self, height: u64, at: Instant) {
        if height >= self.next_setup && self.released_at.len() < RELEASES_KEPT {
            self.released_at.insert(height, at);
        }
    }

    /// Sets up every height that is both released by consensus (`released`: its order is
    /// final) and processed into the order, then builds the outputs that are ready.
    pub fn advance(&mut self, released: u64, committed: u64) -> Result<Vec<Send>, StageError> {
        let available = released.min(self.store.processed_height()?);
        let mut sends = Vec::new();
        // Far behind (a restarted or synced validator): its peers decided these heights long
        // ago. Ask one of them for the next span at once, ahead of setting the heights up; its
        // combined points decide each with one pairing check (and no share of ours), and its
        // certificates certify them.
        let catching_up = available >= self.next_setup + ACTIVE_MAX as u64;
        if catching_up
            && self.requested_through < self.next_setup + ACTIVE_MAX as u64 + REQUEST_HEIGHTS_MAX
        {
            let first = self
                .decrypting
                .keys()
                .next()
                .copied()
                .unwrap_or(self.next_setup)
                .max(self.requested_through + 1);
            let last = available.min(first + REQUEST_HEIGHTS_MAX - 1);
            if first <= last {
                self.requested_through = last;
                sends.extend(self.ask_peer(first, last));
            }
        }
        while self.decrypting.len() < ACTIVE_MAX && self.next_setup <= available {
            let height = self.next_setup;
            self.next_setup += 1;
            sends.extend(self.setup(height, committed)?);
        }
        let next = self.next_setup;
        self.early_answers.retain(|height, _| *height >= next);
        sends.extend(self.build_ready()?);
        Ok(sends)
    }

    /// One request to the next peer (rotating) for the heights `first..=last` still being
    /// decrypted; they accept that peer's points.
    fn ask_peer(&mut self, first: u64, last: u64) -> Vec<Send> {
        let size = u16::try_from(self.params.keys.len()).unwrap_or(u16::MAX);
        if size < 2 {
            return Vec::new();
        }
        self.catch_up_peer = (self.catch_up_peer + 1) % size;
        if self.catch_up_peer == self.params.me {
            self.catch_up_peer = (self.catch_up_peer + 1) % size;
        }
        let now = Instant::now();
        for (_, decrypting) in self.decrypting.range_mut(first..=last) {
            decrypting.requested = true;
            decrypting.asked = now;
        }
        counter!("shroud_decryption_catch_up_requests_total").increment(1);
        vec![Send::To(
            self.catch_up_peer,
            Outgoing::Request(DecryptionRequest {
                epoch: self.params.epoch,
                height: first,
                count: u16::try_from(last - first + 1).unwrap_or(1),
            }),
        )]
    }

    fn context(&self) -> Context {
        Context {
            chain_id: self.params.chain_id,
            epoch: self.params.epoch,
        }
    }

    /// Classifies every position of a committed height and makes this validator's shares.
    fn setup(&mut self, height: u64, committed: u64) -> Result<Vec<Send>, StageError> {
        assert!(height <= committed, "shares only for committed heights");
        let record = self.store.height(height)?.ok_or(StageError::Invariant(
            "a processed height has its order stored",
        ))?;
        let (mut slots, candidates) = self.classify_height(height, &record)?;
        // After a restart, the shares stored for this height already say which positions were
        // first: the encapsulation entries may since have been replaced by a later height's
        // (once expired), so asking them again could change an outcome this validator decided.
        let decided: Option<std::collections::HashSet<u32>> = self
            .store
            .own_shares(height)?
            .map(|message| message.positions.iter().copied().collect());
        let mut shareable = Vec::new();
        for (position, verified) in candidates {
            let position32 = u32::try_from(position)
                .map_err(|_| StageError::Invariant("a height has fewer than 2^32 positions"))?;
            let first = match &decided {
                Some(decided) => decided.contains(&position32),
                None => {
                    let u = verified.encapsulation_bytes();
                    let valid_through = verified.label().valid_through;
                    let first =
                        self.store
                            .first_encapsulation(&u, height, position32, valid_through)?;
                    self.dirty = true;
                    first == (height, position32)
                }
            };
            slots[position] = if first {
                shareable.push(position32);
                Slot::Waiting(Box::new(verified))
            } else {
                Slot::Done(Outcome::Failed(FailureReason::Duplicate))
            };
        }
        let decided = shareable.is_empty();
        let now = Instant::now();
        let mut decrypting = Decrypting {
            block_digest: record.block_digest,
            tx_ids: record.transactions.iter().map(|t| t.tx_id).collect(),
            slots,
            shareable,
            points: Vec::new(),
            decided,
            shares: Vec::new(),
            bad: BTreeSet::new(),
            attempted_with: 0,
            combine_after: None,
            combine_here: false,
            log: self.store.decryption_log(height)?,
            started: self.released_at.remove(&height).unwrap_or(now),
            asked: now,
            requested: false,
        };
        if let Some(answer) = self.early_answers.remove(&height) {
            decrypting.requested = true;
            let fits = answer.block_digest == decrypting.block_digest
                && answer.points.len() == decrypting.shareable.len();
            if fits && accept_points(&self.params, &mut decrypting, &answer.points) {
                // Decided by a peer's points, checked here: no share of ours is needed.
                counter!("shroud_decryption_answered_points_accepted_total").increment(1);
                self.decrypting.insert(height, decrypting);
                return self.try_decide(height);
            }
            refuse("combined", "wrong_points");
        }
        let (own, values) = self.own_shares(height, &mut decrypting, committed)?;
        if self.params.faults.invalid_shares {
            // The faulty validator knows its shares are wrong and combines from its peers':
            // it spends no time on failed combinations, so its shares reach its peers as
            // early as an honest validator's would.
            decrypting.bad.insert(self.params.me);
        }
        decrypting.shares.push(SenderShares {
            from: self.params.me,
            message: own.clone(),
            values,
        });
        self.decrypting.insert(height, decrypting);
        let mut sends = vec![Send::All(Outgoing::Shares(own))];
        for (from, message) in self.early_shares.remove(&height).unwrap_or_default() {
            sends.extend(self.on_shares(from, message, committed)?);
        }
        if let Some(message) = self.early_combined.remove(&height) {
            sends.extend(self.on_combined(message.sender, message)?);
        }
        sends.extend(self.try_decide(height)?);
        Ok(sends)
    }

    /// The validator that combines `height` for everyone: `height mod n`.
    fn combiner(&self, height: u64) -> u16 {
        let size = self.params.keys.len().max(1) as u64;
        u16::try_from(height % size).unwrap_or(0)
    }

    /// The combiner's points of a height: checked with one batched pairing equation (each
    /// must be the true `x·u` of its position) and, if they hold, the height is decided from
    /// them. Points that fail, or any that do not fit, make this validator combine the shares
    /// itself; a Byzantine combiner can delay a height by the combiner wait (100 ms) at most
    /// and never change an outcome (only the true points pass).
    pub fn on_combined(
        &mut self,
        from: u16,
        message: CombinedMessage,
    ) -> Result<Vec<Send>, StageError> {
        let height = message.height;
        let combiner = from == self.combiner(height);
        if message.epoch != self.params.epoch || message.sender != from || from == self.params.me {
            refuse("combined", "sender_or_epoch");
            return Ok(Vec::new());
        }
        let Some(decrypting) = self.decrypting.get_mut(&height) else {
            let early = height >= self.next_setup && height < self.next_setup + EARLY_WINDOW;
            if early && combiner {
                self.early_combined.entry(height).or_insert(message);
            } else if early && height <= self.requested_through {
                // Answering our catch-up request ahead of the height's setup: checked then.
                self.early_answers.entry(height).or_insert(message);
            }
            return Ok(Vec::new());
        };
        if !combiner {
            // A peer answering our request: its points are checked like the combiner's
            // (only the true points pass), but failing ones change nothing here. Unasked,
            // they are not checked at all (a pairing check is not free).
            if !decrypting.requested || decrypting.decided {
                return Ok(Vec::new());
            }
            let fits = message.block_digest == decrypting.block_digest
                && message.points.len() == decrypting.shareable.len();
            if fits && accept_points(&self.params, decrypting, &message.points) {
                counter!("shroud_decryption_answered_points_accepted_total").increment(1);
                return self.try_decide(height);
            }
            refuse("combined", "wrong_points");
            self.offenders.push(from);
            return Ok(Vec::new());
        }
        if decrypting.decided || decrypting.combine_here {
            return Ok(Vec::new());
        }
        let fits = message.block_digest == decrypting.block_digest
            && message.points.len() == decrypting.shareable.len();
        if fits && accept_points(&self.params, decrypting, &message.points) {
            counter!("shroud_decryption_combined_accepted_total").increment(1);
            self.late_combiners.remove(&from);
        } else {
            refuse("combined", "wrong_points");
            self.offenders.push(from);
            warn!(
                peer = from,
                height, "the combiner's points fail their check: combining here"
            );
            decrypting.combine_here = true;
        }
        self.try_decide(height)
    }

    /// Decodes every position of a height (in parallel) and applies the label checks;
    /// returns the slots (failed positions decided) and the candidates. Every batch of a
    /// committed block is certified, and each of its `f + 1` acknowledgements attests that
    /// its signer checked every ciphertext's proof against this chain's context and key
    /// (`crate::runtime`'s batch checks): so proofs are not checked again here, and of the
    /// points only `u` (the one key shares multiply) is decoded.
    fn classify_height(
        &self,
        height: u64,
        record: &HeightRecord,
    ) -> Result<(Vec<Slot>, Candidates), StageError> {
        let mut batches: HashMap<BatchDigest, Batch> = HashMap::new();
        for transaction in &record.transactions {
            if let std::collections::hash_map::Entry::Vacant(entry) =
                batches.entry(transaction.batch)
            {
                entry.insert(
                    self.store
                        .batch(&transaction.batch)?
                        .ok_or(StageError::Invariant("a committed batch is stored"))?,
                );
            }
        }
        let all_bytes = record
            .transactions
            .iter()
            .map(|transaction| {
                batches
                    .get(&transaction.batch)
                    .and_then(|batch| batch.transactions.get(transaction.index as usize))
                    .map(Vec::as_slice)
                    .ok_or(StageError::Invariant(
                        "an ordered transaction is in its stored batch",
                    ))
            })
            .collect::<Result<Vec<&[u8]>, StageError>>()?;
        // Decoding (`u`'s square root and subgroup check) is most of classifying: done on
        // every worker of the stage's pool.
        let decoded = decode_vouched_ciphertexts(
            &all_bytes,
            self.params.ciphertext_bytes_max,
            self.params.public.encryption_key(),
        );
        let mut slots = Vec::with_capacity(record.transactions.len());
        let mut candidates = Vec::new();
        let context = self.context();
        let window = (height, self.params.validity_heights);
        for (position, decoded) in decoded.into_iter().enumerate() {
            match decoded
                .map_err(|_| FailureReason::InvalidCiphertext)
                .and_then(|ciphertext| classify(ciphertext, &context, window))
            {
                Ok(ciphertext) => {
                    candidates.push((position, ciphertext));
                    // Decided in `setup`: waiting for shares, or a duplicate.
                    slots.push(Slot::Done(Outcome::Failed(FailureReason::Duplicate)));
                }
                Err(reason) => slots.push(Slot::Done(Outcome::Failed(reason))),
            }
        }
        Ok((slots, candidates))
    }

    /// This validator's shares of a height: from the store if made before a restart (their
    /// values decoded when needed), else made now with one batched proof and stored. Returns
    /// the message to send and, when just made, the values this validator combines with
    /// (under an injected fault both are made with a wrong key).
    fn own_shares(
        &mut self,
        height: u64,
        decrypting: &mut Decrypting,
        committed: u64,
    ) -> Result<(SharesMessage, Option<Vec<G1Affine>>), StageError> {
        if let Some(stored) = self.store.own_shares(height)? {
            return Ok((stored, None));
        }
        // Under the injected fault the validator shares with a wrong key (at an honest
        // validator's cost).
        let wrong_key = if self.params.faults.invalid_shares {
            let mut bytes = [0u8; 32];
            bytes[16] = 1;
            KeyShare::from_secret_bytes(self.params.key_share.index(), &bytes).ok()
        } else {
            None
        };
        let key = wrong_key.as_ref().unwrap_or(&self.params.key_share);
        let ciphertexts = waiting_ciphertexts(decrypting)?;
        let batch = create_share_batch(key, &ciphertexts, &mut OsRng);
        let message = SharesMessage {
            epoch: self.params.epoch,
            height,
            block_digest: decrypting.block_digest,
            sender: self.params.me,
            positions: decrypting.shareable.clone(),
            values: batch.value_bytes(),
            proof: batch
                .proof()
                .map(|proof| proof.to_bytes().to_vec())
                .unwrap_or_default(),
        };
        self.store.put_own_shares(&message)?;
        decrypting.log.made_at_committed = committed;
        self.store.put_decryption_log(height, &decrypting.log)?;
        self.dirty = true;
        counter!("shroud_decryption_shares_sent_total").increment(message.values.len() as u64);
        Ok((message, Some(batch.values().to_vec())))
    }

    /// A peer's shares of a height.
    pub fn on_shares(
        &mut self,
        from: u16,
        message: SharesMessage,
        committed: u64,
    ) -> Result<Vec<Send>, StageError> {
        if message.epoch != self.params.epoch || message.sender != from {
            refuse("shares", "sender_or_epoch");
            return Ok(Vec::new());
        }
        let height = message.height;
        let Some(decrypting) = self.decrypting.get_mut(&height) else {
            if height >= self.next_setup && height < self.next_setup + EARLY_WINDOW {
                counter!("shroud_decryption_shares_early_total").increment(1);
                self.early_shares
                    .entry(height)
                    .or_default()
                    .entry(from)
                    .or_insert(message);
            }
            return Ok(Vec::new());
        };
        if decrypting.bad.contains(&from) || decrypting.shares.iter().any(|s| s.from == from) {
            return Ok(Vec::new());
        }
        if message.block_digest != decrypting.block_digest {
            refuse("shares", "other_block");
            decrypting.bad.insert(from);
            return Ok(Vec::new());
        }
        let proof_bytes = if message.positions.is_empty() {
            0
        } else {
            SHARE_BATCH_PROOF_BYTES
        };
        if message.positions != decrypting.shareable
            || message.values.len() != message.positions.len()
            || message.proof.len() != proof_bytes
        {
            refuse("shares", "malformed");
            decrypting.bad.insert(from);
            return Ok(Vec::new());
        }
        counter!("shroud_decryption_shares_received_total").increment(message.values.len() as u64);
        decrypting.shares.push(SenderShares {
            from,
            message,
            values: None,
        });
        decrypting.log.accepted.push((from, committed));
        self.store.put_decryption_log(height, &decrypting.log)?;
        self.try_decide(height)
    }

    /// Combines shares for every undecided position once `t` senders are in (again whenever
    /// a new sender arrives) if this validator is the height's combiner (then it sends the
    /// points to everyone) or the combiner's points failed or are late; else starts the wait
    /// for them.
    fn try_decide(&mut self, height: u64) -> Result<Vec<Send>, StageError> {
        let threshold = self.params.public.threshold();
        let combiner = self.combiner(height);
        let me = self.params.me;
        let now = Instant::now();
        let combiner_late = self
            .late_combiners
            .get(&combiner)
            .is_some_and(|until| *until > now);
        let Some(decrypting) = self.decrypting.get_mut(&height) else {
            return Ok(Vec::new());
        };
        let good = decrypting
            .shares
            .iter()
            .filter(|sender| !decrypting.bad.contains(&sender.from))
            .count();
        let mut sends = Vec::new();
        if !decrypting.decided && good >= threshold && good > decrypting.attempted_with {
            if combiner == me || decrypting.combine_here || combiner_late {
                decrypting.attempted_with = good;
                let failed = decide_positions(&self.params, decrypting);
                self.offenders.extend(failed);
                if decrypting.decided && combiner == me {
                    sends.push(Send::All(Outgoing::Combined(CombinedMessage {
                        epoch: self.params.epoch,
                        height,
                        block_digest: decrypting.block_digest,
                        sender: me,
                        points: decrypting.points.clone(),
                    })));
                }
            } else if decrypting.combine_after.is_none() {
                decrypting.combine_after = Some(now + COMBINER_WAIT);
            }
        }
        if decrypting.decided {
            sends.extend(self.build_ready()?);
        }
        Ok(sends)
    }

    /// Builds, signs and stores the outputs of decided heights, in height order.
    fn build_ready(&mut self) -> Result<Vec<Send>, StageError> {
        let mut sends = Vec::new();
        while self
            .decrypting
            .get(&(self.built + 1))
            .is_some_and(|decrypting| decrypting.decided)
        {
            let height = self.built + 1;
            let decrypting = self
                .decrypting
                .remove(&height)
                .ok_or(StageError::Invariant("checked present"))?;
            sends.extend(self.build(height, decrypting)?);
        }
        Ok(sends)
    }

    fn build(&mut self, height: u64, decrypting: Decrypting) -> Result<Vec<Send>, StageError> {
        let mut entries = Vec::with_capacity(decrypting.slots.len());
        for (tx_id, slot) in decrypting.tx_ids.iter().zip(decrypting.slots) {
            let Slot::Done(outcome) = slot else {
                return Err(StageError::Invariant(
                    "a built height has no waiting position",
                ));
            };
            if let Outcome::Failed(reason) = &outcome {
                counter!("shroud_decryption_failures_total", "reason" => reason.label())
                    .increment(1);
            }
            entries.push(PositionEntry {
                tx_id: *tx_id,
                outcome,
            });
        }
        let context = HeightContext {
            chain_id: self.params.chain_id,
            epoch: self.params.epoch,
            height,
            block_digest: decrypting.block_digest,
            parent_output: self.last_header_digest,
        };
        let header = build_output(&context, &entries).header;
        let signature = self
            .params
            .signer
            .sign(SigningDomain::OutputHeader, &header.encoding())
            .to_bytes();
        let decrypted = entries
            .iter()
            .filter(|entry| matches!(entry.outcome, Outcome::Decrypted(_)))
            .count();
        let record = OutputRecord {
            header,
            entries,
            signature,
            points: decrypting.points,
        };
        self.store.put_output(&record)?;
        self.dirty = true;
        self.built = height;
        self.last_header_digest = header.digest();
        histogram!("shroud_decryption_latency_seconds")
            .record(decrypting.started.elapsed().as_secs_f64());
        counter!("shroud_transactions_decrypted_total").increment(decrypted as u64);
        gauge!("shroud_output_height").set(height as f64);
        self.start_certifying(&record, false)?;
        let mut sends = vec![Send::All(Outgoing::Vote(OutputVote {
            epoch: self.params.epoch,
            height,
            header_digest: header.digest(),
            signer: self.params.me,
            signature,
        }))];
        for (from, vote) in self.early_votes.remove(&height).unwrap_or_default() {
            sends.extend(self.on_vote(from, vote)?);
        }
        Ok(sends)
    }

    /// Starts collecting votes for a built output. `stored` says the signature was read back
    /// from the store (it is checked then: a data folder written under other keys shows here);
    /// one made just now is added unchecked.
    fn start_certifying(&mut self, record: &OutputRecord, stored: bool) -> Result<(), StageError> {
        let header = record.header;
        let mut builder = CertificateBuilder::new(
            &self.params.keys,
            SigningDomain::OutputHeader,
            &header.encoding(),
        )
        .map_err(|_| StageError::Invariant("the committee is within size limits"))?;
        let signature = Signature::from_bytes(&record.signature)
            .map_err(|_| StageError::Invariant("an own stored signature decodes"))?;
        let me = usize::from(self.params.me);
        let added = if stored {
            builder.add(me, &signature)
        } else {
            builder.add_own(me, &signature)
        };
        added.map_err(|_| StageError::Invariant("an own signature verifies"))?;
        self.certifying.insert(
            header.height,
            Certifying {
                header,
                builder,
                asked: Instant::now(),
            },
        );
        self.try_certify(header.height)?;
        if let Some(certificate) = self.early_certificates.remove(&header.height) {
            self.on_certificate(certificate)?;
        }
        let built = self.built;
        self.early_certificates.retain(|height, _| *height > built);
        Ok(())
    }

    /// A peer's signature over its header of a height.
    pub fn on_vote(&mut self, from: u16, vote: OutputVote) -> Result<Vec<Send>, StageError> {
        if vote.epoch != self.params.epoch || vote.signer != from {
            refuse("vote", "sender_or_epoch");
            return Ok(Vec::new());
        }
        let height = vote.height;
        let Some(certifying) = self.certifying.get_mut(&height) else {
            if height > self.built && height < self.built + EARLY_WINDOW {
                self.early_votes
                    .entry(height)
                    .or_default()
                    .entry(from)
                    .or_insert(vote);
            }
            return Ok(Vec::new());
        };
        if vote.header_digest != certifying.header.digest() {
            // An honest validator builds the same header: this one is faulty or Byzantine.
            refuse("vote", "other_header");
            warn!(
                peer = from,
                height, "a validator signed a different output header"
            );
            return Ok(Vec::new());
        }
        // Kept unchecked until a quorum could form: then all are checked with one pairing
        // check (they sign one header), and one by one only if that fails.
        let added = Signature::from_bytes(&vote.signature)
            .map_err(|_| ())
            .and_then(|signature| {
                certifying
                    .builder
                    .add_pending(usize::from(from), &signature)
                    .map_err(|_| ())
            });
        if added.is_err() {
            refuse("vote", "bad_signature");
            self.offenders.push(from);
            return Ok(Vec::new());
        }
        self.try_certify(height)?;
        Ok(Vec::new())
    }

    fn try_certify(&mut self, height: u64) -> Result<(), StageError> {
        let quorum = output_quorum(self.params.keys.len());
        let Some(certifying) = self.certifying.get_mut(&height) else {
            return Ok(());
        };
        let builder = &mut certifying.builder;
        if builder.count() < quorum && builder.count() + builder.pending_count() >= quorum {
            for signer in builder.check_pending() {
                refuse("vote", "bad_signature");
                self.offenders
                    .push(u16::try_from(signer).unwrap_or(u16::MAX));
                warn!(
                    peer = signer,
                    height, "a validator's output signature fails"
                );
            }
        }
        if certifying.builder.count() < quorum {
            return Ok(());
        }
        let certificate = certifying
            .builder
            .finish(quorum)
            .map_err(|_| StageError::Invariant("a quorum of verified signatures aggregates"))?;
        let certificate = OutputCertificate {
            header: certifying.header,
            signers: certificate.signers().as_bytes().to_vec(),
            signature: certificate.signature().to_bytes(),
        };
        self.store_certificate(&certificate)
    }

    fn store_certificate(&mut self, certificate: &OutputCertificate) -> Result<(), StageError> {
        let certified = self.store.put_output_certificate(certificate)?;
        self.certified = certified;
        self.dirty = true;
        self.certifying.remove(&certificate.header.height);
        counter!("shroud_outputs_certified_total").increment(1);
        gauge!("shroud_certified_height").set(certified as f64);
        Ok(())
    }

    /// Peers found sending what no honest validator sends since the last call.
    pub fn take_offenders(&mut self) -> Vec<u16> {
        std::mem::take(&mut self.offenders)
    }

    /// A certificate from a peer (answering our request): taken if it certifies our header.
    pub fn on_certificate(&mut self, certificate: OutputCertificate) -> Result<(), StageError> {
        let height = certificate.header.height;
        let Some(certifying) = self.certifying.get(&height) else {
            // Answering a request before this height is built here: kept (one per height,
            // within the window) and taken once it is, if it certifies our header.
            if height > self.built && height < self.built + EARLY_WINDOW {
                self.early_certificates.entry(height).or_insert(certificate);
            }
            return Ok(());
        };
        if certificate.header != certifying.header {
            refuse("certificate", "other_header");
            return Ok(());
        }
        if certificate
            .verify(&self.params.keys, self.params.chain_id, self.params.epoch)
            .is_err()
        {
            refuse("certificate", "invalid");
            return Ok(());
        }
        self.store_certificate(&certificate)
    }

    /// A peer asks about heights: for each, the combined points of its output if it is built
    /// here (they decide it at the asker with one pairing check), else our shares (only ever
    /// made after commit); and the certificate, or our vote, whichever we have.
    pub fn on_request(
        &self,
        from: u16,
        request: &DecryptionRequest,
    ) -> Result<Vec<Send>, StageError> {
        if request.epoch != self.params.epoch {
            refuse("request", "epoch");
            return Ok(Vec::new());
        }
        let count = u64::from(request.count).clamp(1, REQUEST_HEIGHTS_MAX);
        let mut sends = Vec::new();
        for height in request.height..request.height.saturating_add(count) {
            let record = self.store.output(height)?;
            match &record {
                Some(record) if !record.points.is_empty() => {
                    sends.push(Send::To(
                        from,
                        Outgoing::Combined(CombinedMessage {
                            epoch: self.params.epoch,
                            height,
                            block_digest: record.header.block_digest,
                            sender: self.params.me,
                            points: record.points.clone(),
                        }),
                    ));
                }
                Some(_) => {}
                None => {
                    if let Some(shares) = self.store.own_shares(height)? {
                        sends.push(Send::To(from, Outgoing::Shares(shares)));
                    }
                }
            }
            if let Some(certificate) = self.store.output_certificate(height)? {
                sends.push(Send::To(from, Outgoing::Certificate(certificate)));
            } else if let Some(record) = record {
                sends.push(Send::To(
                    from,
                    Outgoing::Vote(OutputVote {
                        epoch: self.params.epoch,
                        height,
                        header_digest: record.header.digest(),
                        signer: self.params.me,
                        signature: record.signature,
                    }),
                ));
            }
        }
        Ok(sends)
    }

    /// Combines here the heights whose combiner's points did not come in time, and asks
    /// peers about heights that have waited too long for shares or votes.
    pub fn on_timer(&mut self) -> Result<Vec<Send>, StageError> {
        let now = Instant::now();
        let late: Vec<u64> = self
            .decrypting
            .iter()
            .filter(|(_, decrypting)| {
                !decrypting.decided
                    && !decrypting.combine_here
                    && decrypting.combine_after.is_some_and(|at| at <= now)
            })
            .map(|(height, _)| *height)
            .collect();
        let mut sends = Vec::new();
        for height in late {
            if let Some(decrypting) = self.decrypting.get_mut(&height) {
                counter!("shroud_decryption_combiner_late_total").increment(1);
                decrypting.combine_here = true;
            }
            let combiner = self.combiner(height);
            self.late_combiners
                .insert(combiner, now + LATE_COMBINER_SKIP);
            sends.extend(self.try_decide(height)?);
        }
        let epoch = self.params.epoch;
        let mut heights = Vec::new();
        for (height, decrypting) in &mut self.decrypting {
            if heights.len() < REQUESTS_PER_ROUND
                && now.duration_since(decrypting.asked) >= REQUEST_AFTER
            {
                decrypting.asked = now;
                heights.push(*height);
            }
        }
        for (height, certifying) in &mut self.certifying {
            if heights.len() < 2 * REQUESTS_PER_ROUND
                && now.duration_since(certifying.asked) >= REQUEST_AFTER
            {
                certifying.asked = now;
                heights.push(*height);
            }
        }
        // One request for the span of heights waited on (answers cover a span at once).
        if let (Some(first), Some(last)) = (heights.iter().min(), heights.iter().max()) {
            let last = (*last).min(first + REQUEST_HEIGHTS_MAX - 1);
            for (_, decrypting) in self.decrypting.range_mut(*first..=last) {
                decrypting.requested = true;
            }
            sends.push(Send::All(Outgoing::Request(DecryptionRequest {
                epoch,
                height: *first,
                count: u16::try_from(last - first + 1).unwrap_or(1),
            })));
        }
        Ok(sends)
    }
}

/// The checks a decoded position passes before it gets shares, in order: it names this
/// chain and epoch, and may be ordered at this height (`window`: the height and the chain's
/// `validity_heights`). Every validator decides them from the committed bytes alone (a
/// position that does not decode fails as `invalid_ciphertext` before these).
fn classify(
    ciphertext: VerifiedCiphertext,
    context: &Context,
    window: (u64, u64),
) -> Result<VerifiedCiphertext, FailureReason> {
    let label = ciphertext.label();
    if label.chain_id != context.chain_id {
        return Err(FailureReason::WrongChain);
    }
    if label.epoch != context.epoch {
        return Err(FailureReason::WrongEpoch);
    }
    let (height, validity_heights) = window;
    if !within_validity(height, label.valid_through, validity_heights) {
        return Err(FailureReason::Expired);
    }
    Ok(ciphertext)
}

/// The ciphertexts of the positions that get shares, in order.
fn waiting_ciphertexts(decrypting: &Decrypting) -> Result<Vec<&VerifiedCiphertext>, StageError> {
    decrypting
        .shareable
        .iter()
        .map(|position| match &decrypting.slots[*position as usize] {
            Slot::Waiting(ciphertext) => Ok(&**ciphertext),
            Slot::Done(_) => Err(StageError::Invariant("a shareable position is waiting")),
        })
        .collect()
}

/// Decodes a sender's share values if not done yet; false (and counted) if one is malformed.
fn decode_values(sender: &mut SenderShares) -> bool {
    if sender.values.is_some() {
        return true;
    }
    let values = decode_share_values(&sender.message.values);
    match values {
        Ok(values) => {
            sender.values = Some(values);
            true
        }
        Err(_) => {
            refuse("shares", "bad_value");
            false
        }
    }
}

/// Whether a sender's batch passes its proof (its values decoded).
fn batch_holds(
    public: &PublicKeySet,
    ciphertexts: &[&VerifiedCiphertext],
    sender: &SenderShares,
) -> bool {
    let Some(values) = &sender.values else {
        return false;
    };
    let proof = if sender.message.proof.is_empty() {
        None
    } else {
        match ShareBatchProof::from_bytes(&sender.message.proof) {
            Ok(proof) => Some(proof),
            Err(_) => return false,
        }
    };
    let index = sender.from.saturating_add(1);
    let batch = share_batch_from_parts(index, values.clone(), proof);
    verify_share_batch(public, ciphertexts, &batch).is_ok()
}

/// Decides every waiting position of a height at once: the first `t` senders not known bad
/// are combined from their values alone (no proof checked) and all combined points are
/// checked with one batched pairing equation, which pins each to the true `r·h`. If the check
/// fails, the proofs of the senders used are checked, every one that fails is marked bad for
/// the height (named, counted), and the next senders are tried.
/// Returns the senders found bad.
fn decide_positions(params: &Params, decrypting: &mut Decrypting) -> Vec<u16> {
    let threshold = params.public.threshold();
    let mut offenders = Vec::new();
    loop {
        let chosen: Vec<usize> = (0..decrypting.shares.len())
            .filter(|&k| !decrypting.bad.contains(&decrypting.shares[k].from))
            .take(threshold)
            .collect();
        if chosen.len() < threshold {
            return offenders;
        }
        let mut malformed = false;
        for &k in &chosen {
            if !decode_values(&mut decrypting.shares[k]) {
                decrypting.bad.insert(decrypting.shares[k].from);
                offenders.push(decrypting.shares[k].from);
                malformed = true;
            }
        }
        if malformed {
            continue;
        }
        let Ok(ciphertexts) = waiting_ciphertexts(decrypting) else {
            return offenders;
        };
        let senders: Vec<_> = chosen
            .iter()
            .map(|&k| {
                let sender = &decrypting.shares[k];
                let values = sender.values.as_deref().unwrap_or_default();
                (sender.from.saturating_add(1), values)
            })
            .collect();
        match combine_share_batches(&params.public, &ciphertexts, &senders, &mut OsRng) {
            Ok(Some(points)) => {
                settle(params, decrypting, &points);
                return offenders;
            }
            Ok(None) => {
                let failing: Vec<u16> = chosen
                    .iter()
                    .map(|&k| &decrypting.shares[k])
                    .filter(|sender| !batch_holds(&params.public, &ciphertexts, sender))
                    .map(|sender| sender.from)
                    .collect();
                if failing.is_empty() {
                    // Valid proofs and a failed pairing check cannot both happen (but for
                    // probability 2^-128): nothing to exclude, so wait for requests to retry.
                    warn!("a failed combination with valid share proofs");
                    return offenders;
                }
                for from in failing {
                    warn!(
                        peer = from,
                        "a validator sent decryption shares that fail their proof"
                    );
                    counter!("shroud_decryption_shares_invalid_total").increment(1);
                    decrypting.bad.insert(from);
                    offenders.push(from);
                }
            }
            Err(error) => {
                warn!(%error, "combining shares failed");
                return offenders;
            }
        }
    }
}

/// Decides a height from a combiner's points if every one decodes and all are the true shared
/// points (one batched pairing check); false, with nothing changed, otherwise.
fn accept_points(params: &Params, decrypting: &mut Decrypting, points: &[[u8; 48]]) -> bool {
    let Ok(ciphertexts) = waiting_ciphertexts(decrypting) else {
        return false;
    };
    let Ok(decoded) = decode_share_values(points) else {
        return false;
    };
    let pairs: Vec<(G1Affine, G1Affine)> = ciphertexts
        .iter()
        .zip(&decoded)
        .map(|(ciphertext, point)| (*ciphertext.u(), *point))
        .collect();
    if !pairs.is_empty() && !params.public.are_shared_points(&pairs, &mut OsRng) {
        return false;
    }
    settle(params, decrypting, &decoded);
    true
}

/// A position's outcome from its true shared point: the bundle, or why it failed.
fn open(params: &Params, ciphertext: &VerifiedCiphertext, point: &G1Affine) -> Outcome {
    outcome_of_opened(
        ciphertext.open(point).ok().as_deref(),
        &params.bundle_limits,
    )
}

/// Decides every waiting position from its true shared point (in `shareable` order), and
/// keeps the points for the output.
fn settle(params: &Params, decrypting: &mut Decrypting, points: &[G1Affine]) {
    let Ok(ciphertexts) = waiting_ciphertexts(decrypting) else {
        return;
    };
    let outcomes: Vec<Outcome> = ciphertexts
        .iter()
        .zip(points)
        .map(|(ciphertext, point)| open(params, ciphertext, point))
        .collect();
    for (position, outcome) in decrypting.shareable.iter().zip(outcomes) {
        decrypting.slots[*position as usize] = Slot::Done(outcome);
    }
    decrypting.points = points.iter().map(encode_point).collect();
    decrypting.decided = true;
}
