//! The validator loop: one task owns consensus, the acknowledgement of batches and both
//! stores, and applies every event in order (client admission and batch cutting run in the
//! ingress stage, decryption in its own stage). Persist before you speak: consensus writes and
//! the node's writes are flushed before any message that depends on them leaves.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use metrics::{counter, gauge, histogram};
use rand_chacha::rand_core::SeedableRng as _;
use rand_chacha::ChaCha20Rng;
use shroud_consensus::{
    verify_message, verify_votes, Block, BlockDigest, Consensus, Height, Input,
    Limits as ConsensusLimits, Message, Output, PayloadSource as _, ValidatorIndex, View, Vote,
};
use shroud_crypto::dkg::{DkgEvent, DkgOutput};
use shroud_crypto::tdh2::{KeyShare, PublicKeySet};
use shroud_crypto::{CertificateBuilder, SecretKey, SigningDomain};
use shroud_network::frame;
use shroud_network::{FrameKind, Limits};
use shroud_storage::{ConsensusStore, SledStore};
use tracing::{error, info, warn};

use super::dkg::{self, DkgRunner, KeyStatus};
use super::net::{Event, Outbox, PeerMessage};
use super::payload::SharedPayload;
use super::scores::{Offence, PeerScores};
use super::vouch::{Job, Verdict, Vouching};
use super::{NodeError, OutcomeSummary, Query, Status};
use crate::batch::{
    AckCollector, Batch, BatchAck, BatchCertificate, BatchDigest, BatchSummary, BlockPayload,
    DkgPost, TxId,
};
use crate::committed::SharedCommitted;
use crate::decrypt::{DecryptEvent, StageHandle};
use crate::ingress::IngressHandle;
use crate::mempool::{committed_locations, MempoolConfig};
use crate::store::NodeStore;
use crate::store::OrderedTx;
use crate::wire::{BatchRequest, EpochKeyVote};
use shroud_proofs::within_validity;

/// An own batch is re-sent to every peer this often until it is certified.
const REBROADCAST_MS: u64 = 1_000;
/// A missing committed batch is asked for again this often.
const REFETCH_MS: u64 = 300;
/// Processed heights flushed together at most (a validator catching up processes many at
/// once; one at a time, each cost a flush of its own).
const FLUSH_GROUP_HEIGHTS: usize = 64;
/// The timers run at least this often even while events keep arriving (the loop serves
/// events first, so under load its sleep never ends by itself).
const TICK_MAX_MS: u64 = 20;
/// How many heights ahead of this node a batch's author may be when it sets the batch's
/// expiry a whole window above its own height.
const AUTHOR_LEAD_HEIGHTS: u64 = 32;
/// Expired batches swept per committed height at most (the rest wait for the next height).
const EXPIRED_SWEEP_MAX: usize = 256;
/// Committed heights behind the first whose missing batches are asked for ahead.
const PREFETCH_HEIGHTS: usize = 64;
/// Batches asked for ahead at most per pass.
const PREFETCH_BATCHES_MAX: usize = 128;
/// Summaries of stored batches kept for their commit at most (about 40 bytes a
/// transaction; honest authors have a few batches each in flight).
const SUMMARIES_MAX: usize = 256;

/// One of our batches waiting for acknowledgements.
struct Pending {
    batch: Batch,
    collector: AckCollector,
    sent_ms: u64,
    /// When this run started collecting (for the cut → certificate histogram).
    started: Instant,
}

/// The validator loop's state.
pub struct Validator {
    pub(super) me: usize,
    pub(super) epoch: u64,
    pub(super) committee: shroud_consensus::Committee,
    pub(super) consensus: Consensus<SharedPayload>,
    pub(super) consensus_store: SledStore,
    pub(super) store: NodeStore,
    pub(super) ingress: IngressHandle,
    /// The limits a peer's batch must keep (the same as our own batches').
    pub(super) mempool_config: MempoolConfig,
    pub(super) payload: SharedPayload,
    pub(super) outbox: Outbox,
    pub(super) signer: SecretKey,
    pub(super) limits: Limits,
    pub(super) started: Instant,
    /// Peers' scores: what no honest validator sends gets its sender banned.
    scores: PeerScores,
    /// Peers' own batches stored by this run and not yet settled, per author.
    quota: super::budget::AuthorQuota,
    own: BTreeMap<BatchDigest, Pending>,
    announced: BTreeMap<BatchDigest, (BatchCertificate, u64)>,
    commits: VecDeque<(Height, Block)>,
    fetch_sent: HashMap<BatchDigest, (u64, usize)>,
    /// When the batches of queued commits were last asked for ahead (0: never).
    prefetched_ms: u64,
    view: View,
    stage: StageHandle,
    ordering_only: bool,
    epoch_key: Option<EpochKeyCollector>,
    /// The chain's `validity_heights` (ADR 0008).
    validity_heights: u64,
    /// Own batches taken from the ingress stage so far.
    own_batches_received: u64,
    /// When the timers last ran.
    last_tick_ms: u64,
    /// Where the processed height goes, ordering only (retention follows it).
    processed: Option<tokio::sync::watch::Sender<u64>>,
    /// The committed-transaction index (shared with admission and receipts).
    committed: SharedCommitted,
    /// What the order rule needs of batches stored by this run, until they commit.
    summaries: crate::id_hash::IdMap<BatchDigest, Arc<BatchSummary>>,
    summary_order: VecDeque<BatchDigest>,
    /// Peers' batch certificates waiting for one batched check ([`Validator::idle`]).
    unchecked_certificates: Vec<(usize, BatchCertificate)>,
    /// Weights of batched signature checks (public randomness).
    rng: ChaCha20Rng,
    /// Votes for blocks this node gathers a QC for, held until a quorum can be checked at
    /// once ([`Validator::on_vote`]).
    votes: BTreeMap<(View, BlockDigest, Height), VoteGathering>,
    /// Acknowledgements of peers' batches stored but not yet flushed ([`Validator::idle`]).
    unsent_acks: Vec<(usize, Arc<Vec<u8>>)>,
    /// Peers' batches by check (`super::vouch`); none when ordering opaque payloads.
    vouching: Option<Vouching>,
    /// When remembered checks were last swept for expiry.
    vouching_swept_ms: u64,
    /// The chain id (DKG posts are signed for it).
    chain_id: u64,
    /// The DKG while the committee forms its key; `None` once it is formed, or when a
    /// dealer made it.
    dkg: Option<DkgRunner>,
    /// Hands the formed key to the stages, once.
    key_installer: Option<KeyInstaller>,
    /// When this validator last posted its pending DKG messages (`None`: post at once).
    dkg_posted_ms: Option<u64>,
    /// What the status says about the key.
    key_status: KeyStatus,
    /// When a height was last processed (the DKG moves only then).
    last_commit_ms: u64,
    /// When a stalled DKG was last reported in the log.
    stall_logged_ms: u64,
    /// When the progress line was last logged.
    progress_logged_ms: u64,
    /// What each peer may still be answered: consensus blocks (fetches, sync), and batches.
    block_answers: super::budget::AnswerBudget,
    batch_answers: super::budget::AnswerBudget,
    /// The last state-sync stranding logged: (peer, height needed).
    stranded: Option<(u16, u64)>,
}

/// How often the validator logs a line of progress.
const PROGRESS_LOG_MS: u64 = 60_000;

/// Hands the key the DKG formed to the stages: writes the share file, opens admission,
/// starts the decryption stage. Called once.
pub type KeyInstaller =
    Box<dyn FnOnce(&PublicKeySet, Option<KeyShare>) -> Result<(), NodeError> + Send>;

/// A validator re-posts its DKG messages this often until they are committed (a leader may
/// have missed them, or a view change abandoned the block that carried them).
const DKG_REPOST_MS: u64 = 1_000;

/// Peers' batches stored before one flush and their acknowledgements at most.
const ACKS_UNFLUSHED_MAX: usize = 8;

/// The votes for one block gathered by the next leader.
#[derive(Debug, Default)]
struct VoteGathering {
    /// Every signer seen (checked or waiting).
    signers: std::collections::BTreeSet<ValidatorIndex>,
    /// Votes handed to the state machine.
    checked: usize,
    /// Votes waiting for enough others to be checked together.
    waiting: Vec<Vote>,
}

/// Peers' certificates checked together at most (one multi-pairing).
const CERTIFICATES_CHECKED_MAX: usize = 64;

/// Collects signatures over the epoch key set until 2f+1 certify it.
struct EpochKeyCollector {
    chain_id: u64,
    key_set: Vec<u8>,
    builder: CertificateBuilder,
    own: EpochKeyVote,
    sent_ms: u64,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Validator({})", self.me)
    }
}

impl Validator {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        me: usize,
        committee: shroud_consensus::Committee,
        consensus: Consensus<SharedPayload>,
        consensus_store: SledStore,
        store: NodeStore,
        ingress: IngressHandle,
        mempool_config: MempoolConfig,
        payload: SharedPayload,
        outbox: Outbox,
        signer: SecretKey,
        limits: Limits,
        stage: StageHandle,
        validity_heights: u64,
        chain_id: u64,
        scores: PeerScores,
    ) -> Self {
        Self {
            scores,
            chain_id,
            dkg: None,
            key_installer: None,
            dkg_posted_ms: None,
            key_status: KeyStatus::dealer(),
            last_commit_ms: 0,
            stall_logged_ms: 0,
            progress_logged_ms: 0,
            block_answers: super::budget::AnswerBudget::new(
                committee.size(),
                super::budget::BLOCK_ANSWER_BYTES_PER_SECOND,
            ),
            batch_answers: super::budget::AnswerBudget::new(
                committee.size(),
                super::budget::BATCH_ANSWER_BYTES_PER_SECOND,
            ),
            quota: super::budget::AuthorQuota::new(committee.size()),
            stranded: None,
            committed: ingress.committed(),
            validity_heights,
            me,
            epoch: committee.epoch().0,
            committee,
            consensus,
            consensus_store,
            store,
            ingress,
            mempool_config,
            payload,
            outbox,
            signer,
            limits,
            started: Instant::now(),
            own: BTreeMap::new(),
            announced: BTreeMap::new(),
            commits: VecDeque::new(),
            fetch_sent: HashMap::new(),
            prefetched_ms: 0,
            view: View(0),
            stage,
            ordering_only: false,
            epoch_key: None,
            own_batches_received: 0,
            last_tick_ms: 0,
            processed: None,
            summaries: Default::default(),
            summary_order: VecDeque::new(),
            unchecked_certificates: Vec::new(),
            rng: ChaCha20Rng::from_entropy(),
            votes: BTreeMap::new(),
            unsent_acks: Vec::new(),
            vouching: None,
            vouching_swept_ms: 0,
        }
    }

    /// Acknowledges peers' batches only once checked (`super::vouch`).
    pub fn check_batches(&mut self, vouching: Vouching) {
        self.vouching = Some(vouching);
    }

    /// A batch check's result: acknowledged if it held (after the next flush).
    pub fn on_verdict(&mut self, verdict: Verdict) -> Result<(), NodeError> {
        let Some(vouching) = self.vouching.as_mut() else {
            return Ok(());
        };
        if let Some(job) = vouching.on_verdict(verdict) {
            self.acknowledge(job.from, &job.batch, job.digest)?;
        }
        Ok(())
    }

    /// Starts the checks of stored batches whose certificates did not come in time, and
    /// forgets the checks of batches that can no longer be ordered.
    fn start_due_checks(&mut self, now: u64) -> Result<(), NodeError> {
        let Some(vouching) = self.vouching.as_mut() else {
            return Ok(());
        };
        for (from, digest) in vouching.due(now) {
            if self.store.is_batch_committed(&digest)? {
                continue;
            }
            if let Some(batch) = self.store.batch(&digest)? {
                counter!("shroud_batch_checks_fallback_total").increment(1);
                vouching.start(
                    Job {
                        from,
                        digest,
                        batch,
                    },
                    now,
                );
            }
        }
        if now.saturating_sub(self.vouching_swept_ms) >= REBROADCAST_MS {
            self.vouching_swept_ms = now;
            let next = self.store.processed_height()? + 1;
            vouching.forget_expired(|valid_through| valid_through >= next);
            let [in_flight, held, refused, waiting] = vouching.sizes();
            gauge!("shroud_batch_checks", "state" => "in_flight").set(in_flight as f64);
            gauge!("shroud_batch_checks", "state" => "held").set(held as f64);
            gauge!("shroud_batch_checks", "state" => "refused").set(refused as f64);
            gauge!("shroud_batch_checks", "state" => "waiting").set(waiting as f64);
        }
        Ok(())
    }

    /// Signs an acknowledgement of a peer's stored batch; it leaves after the next flush.
    fn acknowledge(
        &mut self,
        to: usize,
        batch: &Batch,
        digest: BatchDigest,
    ) -> Result<(), NodeError> {
        let signer = u16::try_from(self.me).unwrap_or(u16::MAX);
        let ack = BatchAck::sign(self.chain_id, batch, digest, signer, &self.signer);
        match frame::encode(FrameKind::BatchAck, &ack, &self.limits) {
            Ok(bytes) => self.unsent_acks.push((to, Arc::new(bytes))),
            Err(error) => error!(%error, "an acknowledgement exceeds the frame limit"),
        }
        if self.unsent_acks.len() >= ACKS_UNFLUSHED_MAX {
            self.send_acks()?;
        }
        Ok(())
    }

    /// The loop has no event waiting: checks the certificates gathered meanwhile together.
    pub fn idle(&mut self) -> Result<(), NodeError> {
        self.send_acks()?;
        self.check_certificates()
    }

    /// Flushes the peers' batches stored since the last flush, once for all of them, then
    /// sends their acknowledgements (an acknowledgement says the batch is durable here).
    fn send_acks(&mut self) -> Result<(), NodeError> {
        if self.unsent_acks.is_empty() {
            return Ok(());
        }
        self.store.flush()?;
        for (to, frame) in std::mem::take(&mut self.unsent_acks) {
            self.outbox.send(to, frame);
        }
        Ok(())
    }

    /// Starts certifying the epoch key set (unless the store holds its certificate already):
    /// signs it and sends the signature to every peer until 2f+1 agree.
    pub fn certify_epoch_key(&mut self, chain_id: u64, key_set: Vec<u8>) -> Result<(), NodeError> {
        if self.store.epoch_key_certificate()?.is_some() {
            return Ok(());
        }
        let encoding = shroud_crypto::encodings::epoch_key(chain_id, self.epoch, &key_set);
        let mut builder =
            CertificateBuilder::new(self.committee.keys(), SigningDomain::EpochKey, &encoding)
                .map_err(|_| NodeError::Invariant("the committee is within size limits"))?;
        let signature = self.signer.sign(SigningDomain::EpochKey, &encoding);
        let me = u16::try_from(self.me).unwrap_or(u16::MAX);
        builder
            .add(self.me, &signature)
            .map_err(|_| NodeError::Invariant("an own signature verifies"))?;
        let own = EpochKeyVote {
            epoch: self.epoch,
            signer: me,
            signature: signature.to_bytes(),
            answer: false,
        };
        self.epoch_key = Some(EpochKeyCollector {
            chain_id,
            key_set,
            builder,
            own,
            sent_ms: 0,
        });
        self.send_epoch_key_vote(None);
        self.try_epoch_key_certificate()
    }

    fn send_epoch_key_vote(&mut self, to: Option<usize>) {
        let now = self.now_ms();
        let vote = match &mut self.epoch_key {
            Some(collector) => {
                collector.sent_ms = now;
                collector.own.clone()
            }
            None => return,
        };
        if let Ok(bytes) = frame::encode(FrameKind::EpochKeyVote, &vote, &self.limits) {
            match to {
                Some(peer) => self.outbox.send(peer, Arc::new(bytes)),
                None => self.outbox.broadcast(Arc::new(bytes)),
            }
        }
    }

    fn on_epoch_key_vote(&mut self, from: usize, vote: &EpochKeyVote) -> Result<(), NodeError> {
        if usize::from(vote.signer) != from || vote.epoch != self.epoch {
            counter!("shroud_epoch_key_votes_rejected_total").increment(1);
            return Ok(());
        }
        let Some(collector) = &mut self.epoch_key else {
            // Certified already: a peer still collecting gets our signature back (answers are
            // never answered, so two certified validators do not echo each other).
            if !vote.answer {
                self.answer_epoch_key_vote(from)?;
            }
            return Ok(());
        };
        let added = shroud_crypto::Signature::from_bytes(&vote.signature)
            .map_err(|_| ())
            .and_then(|signature| collector.builder.add(from, &signature).map_err(|_| ()));
        if added.is_err() {
            counter!("shroud_epoch_key_votes_rejected_total").increment(1);
            self.scores.penalize(from, Offence::BadSignature);
            return Ok(());
        }
        self.try_epoch_key_certificate()
    }

    /// Re-signs for a peer that missed the round (signing is deterministic).
    fn answer_epoch_key_vote(&mut self, to: usize) -> Result<(), NodeError> {
        let Some(certificate) = self.store.epoch_key_certificate()? else {
            return Ok(());
        };
        let encoding = shroud_crypto::encodings::epoch_key(
            certificate.chain_id,
            certificate.epoch,
            &certificate.key_set,
        );
        let vote = EpochKeyVote {
            epoch: self.epoch,
            signer: u16::try_from(self.me).unwrap_or(u16::MAX),
            signature: self
                .signer
                .sign(SigningDomain::EpochKey, &encoding)
                .to_bytes(),
            answer: true,
        };
        if let Ok(bytes) = frame::encode(FrameKind::EpochKeyVote, &vote, &self.limits) {
            self.outbox.send(to, Arc::new(bytes));
        }
        Ok(())
    }

    fn try_epoch_key_certificate(&mut self) -> Result<(), NodeError> {
        let quorum = shroud_proofs::output_quorum(self.committee.size());
        let Some(collector) = &self.epoch_key else {
            return Ok(());
        };
        if collector.builder.count() < quorum {
            return Ok(());
        }
        let certificate = collector
            .builder
            .finish(quorum)
            .map_err(|_| NodeError::Invariant("a quorum of verified signatures aggregates"))?;
        let certificate = shroud_proofs::EpochKeyCertificate {
            chain_id: collector.chain_id,
            epoch: self.epoch,
            key_set: collector.key_set.clone(),
            signers: certificate.signers().as_bytes().to_vec(),
            signature: certificate.signature().to_bytes(),
        };
        self.store.put_epoch_key_certificate(&certificate)?;
        self.store.flush()?;
        info!(index = self.me, "the epoch key is certified");
        self.epoch_key = None;
        Ok(())
    }

    /// Orders opaque payloads: the decryption stage is never released any height
    /// (benchmarks of ordering alone; the ingress stage admits unchecked), and the processed
    /// height goes to `processed` (retention follows it, as nothing is certified).
    pub fn ordering_only(&mut self, processed: tokio::sync::watch::Sender<u64>) {
        self.ordering_only = true;
        self.processed = Some(processed);
    }

    /// Milliseconds since start: the clock of consensus and batching.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Restores what the stores hold and starts consensus.
    pub fn start(&mut self, committed: Vec<(Height, Block)>) -> Result<(), NodeError> {
        if self.vouching.is_none() && !self.ordering_only {
            // An acknowledgement attests a check: without the checker there is none to give.
            return Err(NodeError::Invariant(
                "peers' batches are checked before they are acknowledged",
            ));
        }
        let now = self.now_ms();
        for batch in self.store.own_uncertified()? {
            self.track_own(batch, 0)?;
        }
        for certificate in self.store.certificates()? {
            self.announce(certificate, now);
        }
        let processed = self.store.processed_height()?;
        self.consensus.set_processed(Height(processed));
        for (height, block) in committed {
            if height.0 > processed {
                self.commits.push_back((height, block));
            }
        }
        let outputs = self.consensus.handle(now, Input::Start);
        self.apply(outputs)?;
        self.process_commits()?;
        self.post_dkg(now);
        Ok(())
    }

    /// When the loop must wake up at the latest.
    pub fn next_wake_ms(&self) -> u64 {
        let now = self.now_ms();
        let mut wake = now + REFETCH_MS;
        if let Some(deadline) = self.consensus.next_deadline() {
            wake = wake.min(deadline);
        }
        wake.max(now)
    }

    /// Whether the timers are due: a consensus deadline passed, or they have not run for
    /// [`TICK_MAX_MS`]. The loop asks after every event, so that a steady stream of events
    /// cannot hold back a view timeout or a re-send.
    pub fn tick_due(&self) -> bool {
        let now = self.now_ms();
        self.consensus.next_deadline().is_some_and(|at| at <= now)
            || now.saturating_sub(self.last_tick_ms) >= TICK_MAX_MS
    }

    /// Timers: consensus deadline, re-sends and re-fetches.
    pub fn tick(&mut self) -> Result<(), NodeError> {
        let now = self.now_ms();
        self.last_tick_ms = now;
        self.payload.set_now(now);
        if self.consensus.next_deadline().is_some_and(|at| at <= now) {
            let outputs = self.consensus.handle(now, Input::Tick);
            self.apply(outputs)?;
        }
        self.send_acks()?;
        self.check_certificates()?;
        self.start_due_checks(now)?;
        self.rebroadcast(now)?;
        if self
            .epoch_key
            .as_ref()
            .is_some_and(|collector| now.saturating_sub(collector.sent_ms) >= REBROADCAST_MS)
        {
            self.send_epoch_key_vote(None);
        }
        self.process_commits()?;
        self.post_dkg(now);
        self.log_stalled_dkg(now);
        self.note_own_batches();
        self.report();
        Ok(())
    }

    /// One event.
    pub fn handle(&mut self, event: Event) -> Result<(), NodeError> {
        self.payload.set_now(self.now_ms());
        match event {
            Event::Peer { from, message } => self.on_peer(from, message)?,
            Event::OwnBatch(cut) => {
                let now = self.now_ms();
                self.own_batches_received += 1;
                let summary = BatchSummary::with_ids(&cut.batch, cut.ids);
                self.remember_summary(cut.digest, summary);
                self.track_own_digested(cut.batch, cut.digest, now)?;
            }
            Event::Query(query) => self.on_query(query)?,
        }
        // A leader holding back an empty block proposes as soon as content arrives.
        if self.consensus.waiting_for_payload() && self.payload.has_payload() {
            let outputs = self.consensus.handle(self.now_ms(), Input::Tick);
            self.apply(outputs)?;
        }
        self.process_commits()?;
        self.note_own_batches();
        Ok(())
    }

    /// Tells the ingress stage how many own batches are in flight (its batching rule).
    fn note_own_batches(&self) {
        self.ingress.note_own_batches(
            self.own.len() + self.announced.len(),
            self.own_batches_received,
        );
    }

    fn on_peer(&mut self, from: usize, message: PeerMessage) -> Result<(), NodeError> {
        match message {
            PeerMessage::Consensus(message) | PeerMessage::ConsensusBulk(message) => {
                self.on_consensus(from, *message)
            }
            PeerMessage::Batch(batch) => self.on_batch(from, batch),
            PeerMessage::BatchAck(ack) => self.on_ack(from, ack),
            PeerMessage::BatchRequest(request) => self.on_batch_request(from, &request),
            PeerMessage::BatchCertificate(certificate) => self.on_certificate(from, certificate),
            PeerMessage::EpochKeyVote(vote) => self.on_epoch_key_vote(from, &vote),
            PeerMessage::DkgPost(post) => {
                self.on_dkg_post(post);
                Ok(())
            }
            PeerMessage::Decryption(message) => {
                let from = u16::try_from(from).unwrap_or(u16::MAX);
                self.stage.send(DecryptEvent::Peer { from, message });
                Ok(())
            }
        }
    }

    // ----- consensus -----------------------------------------------------------------------

    fn on_consensus(&mut self, from: usize, message: Message) -> Result<(), NodeError> {
        if matches!(message, Message::Proposal(_)) {
            // A proposal may list certificates that wait here: check them first, together,
            // rather than one by one in the payload check.
            self.check_certificates()?;
        }
        let message = match message {
            Message::Vote(vote) => return self.on_vote(from, vote),
            other => other,
        };
        let verified = match verify_message(&self.committee, &ConsensusLimits::default(), message) {
            Ok(verified) => verified,
            Err(error) => {
                counter!("shroud_consensus_messages_rejected_total").increment(1);
                warn!(peer = from, %error, "refused a consensus message");
                if let Some(offence) = offence(&error) {
                    self.scores.penalize(from, offence);
                }
                return Ok(());
            }
        };
        match &*verified {
            Message::Proposal(_) => counter!("shroud_proposals_received_total").increment(1),
            Message::Vote(_) => counter!("shroud_votes_received_total").increment(1),
            Message::Timeout(_) => counter!("shroud_timeouts_received_total").increment(1),
            _ => {}
        }
        let input = Input::Message {
            from: ValidatorIndex(u16::try_from(from).unwrap_or(u16::MAX)),
            message: verified,
        };
        let outputs = self.consensus.handle(self.now_ms(), input);
        self.apply(outputs)
    }

    /// A vote, at the leader that gathers its QC. Votes for one block wait until a quorum of
    /// them can be checked with one pairing check ([`verify_votes`]) instead of one each;
    /// if that fails they are checked one by one and the good ones go on. A vote for a view
    /// whose QC this node already holds adds nothing and is dropped unchecked, as is one not
    /// sent by its own signer (votes go straight from voter to leader; this also keeps a
    /// peer from taking another's place in the gathering).
    fn on_vote(&mut self, from: usize, vote: Vote) -> Result<(), NodeError> {
        let view = self.consensus.view();
        let window = ConsensusLimits::default().view_window;
        let useless = vote.view <= self.consensus.safety().highest_qc.view
            || vote.view.0.saturating_add(1) < view.0
            || vote.view.0 > view.0.saturating_add(window)
            || !self.consensus.may_gather(vote.view.next(), &vote.block);
        if useless {
            counter!("shroud_votes_dropped_total").increment(1);
            return Ok(());
        }
        if vote.signer.as_usize() != from {
            counter!("shroud_consensus_messages_rejected_total").increment(1);
            warn!(
                peer = from,
                signer = vote.signer.0,
                "refused a vote not sent by its signer"
            );
            return Ok(());
        }
        // Gatherings for views the state machine no longer collects go.
        let oldest = View(view.0.saturating_sub(1));
        self.votes
            .retain(|(vote_view, _, _), _| *vote_view >= oldest);
        let quorum = self.committee.quorum();
        let key = (vote.view, vote.block, vote.height);
        let gathering = self.votes.entry(key).or_default();
        if !gathering.signers.insert(vote.signer) {
            return Ok(());
        }
        gathering.waiting.push(vote);
        if gathering.checked + gathering.waiting.len() < quorum {
            return Ok(());
        }
        let waiting = std::mem::take(&mut gathering.waiting);
        let verified = match verify_votes(&self.committee, waiting.clone()) {
            Ok(verified) => verified,
            Err(_) => waiting
                .into_iter()
                .filter_map(|vote| {
                    let signer = vote.signer;
                    match verify_message(
                        &self.committee,
                        &ConsensusLimits::default(),
                        Message::Vote(vote),
                    ) {
                        Ok(verified) => Some(verified),
                        Err(error) => {
                            counter!("shroud_consensus_messages_rejected_total").increment(1);
                            warn!(signer = signer.0, %error, "refused a vote");
                            if let Some(offence) = offence(&error) {
                                self.scores.penalize(signer.as_usize(), offence);
                            }
                            None
                        }
                    }
                })
                .collect(),
        };
        if let Some(gathering) = self.votes.get_mut(&key) {
            gathering.checked += verified.len();
        }
        for message in verified {
            counter!("shroud_votes_received_total").increment(1);
            let from = match &*message {
                Message::Vote(vote) => vote.signer,
                _ => ValidatorIndex(u16::MAX),
            };
            let outputs = self
                .consensus
                .handle(self.now_ms(), Input::Message { from, message });
            self.apply(outputs)?;
        }
        Ok(())
    }

    fn consensus_frame(&self, message: &Message) -> Option<Arc<Vec<u8>>> {
        // Blocks in bulk go with batches, so that a vote is never queued behind them.
        let kind = match message {
            Message::BlockResponse(_) | Message::SyncRequest(_) | Message::SyncResponse(_) => {
                FrameKind::ConsensusBulk
            }
            _ => FrameKind::Consensus,
        };
        match frame::encode(kind, message, &self.limits) {
            Ok(bytes) => Some(Arc::new(bytes)),
            Err(error) => {
                error!(%error, "a consensus message exceeds the frame limit");
                None
            }
        }
    }

    /// Applies consensus outputs in order, flushing before anything leaves.
    fn apply(&mut self, outputs: Vec<Output>) -> Result<(), NodeError> {
        let mut dirty = false;
        let mut to_self = Vec::new();
        for output in outputs {
            match output {
                Output::Persist(op) => {
                    self.consensus_store.apply(&op)?;
                    dirty = true;
                }
                Output::Send { to, message } => {
                    self.flush_consensus(&mut dirty)?;
                    if let Message::Vote(_) = &message {
                        counter!("shroud_votes_total").increment(1);
                    }
                    let answer = matches!(message, Message::BlockResponse(_));
                    if to.as_usize() == self.me {
                        to_self.push(message);
                    } else if answer
                        && !self
                            .block_answers
                            .allow(to.as_usize(), self.now_ms(), "blocks")
                    {
                        // Over its budget: the peer's request expires and it asks again.
                    } else if let Some(frame) = self.consensus_frame(&message) {
                        if answer {
                            self.block_answers.spend(to.as_usize(), frame.len());
                        }
                        if let Message::SyncRequest(_) = &message {
                            counter!("shroud_sync_requests_total").increment(1);
                        }
                        self.outbox.send(to.as_usize(), frame);
                    }
                }
                Output::ServeSync { to, from, count } => {
                    self.flush_consensus(&mut dirty)?;
                    self.serve_sync(to.as_usize(), from, count)?;
                }
                Output::SyncStranded {
                    peer,
                    needed,
                    kept_from,
                } => {
                    counter!("shroud_sync_stranded_total").increment(1);
                    if self.stranded != Some((peer.0, needed.0)) {
                        self.stranded = Some((peer.0, needed.0));
                        error!(
                            peer = peer.0,
                            needed = needed.0,
                            kept_from = kept_from.0,
                            "this validator is behind what a peer keeps and cannot catch up from \
                             it: restore its data folder from a recent copy of a peer's, or \
                             have peers keep more ([storage] retain_heights)"
                        );
                    }
                }
                Output::Broadcast(message) => {
                    self.flush_consensus(&mut dirty)?;
                    if let Message::Proposal(_) = &message {
                        counter!("shroud_proposals_total").increment(1);
                    }
                    if let Message::Timeout(_) = &message {
                        counter!("shroud_timeouts_total").increment(1);
                    }
                    if let Some(frame) = self.consensus_frame(&message) {
                        self.outbox.broadcast(frame);
                    }
                }
                // The loop asks `next_deadline` after every step.
                Output::Deadline { .. } => {}
                Output::Committed { height, block } => {
                    self.flush_consensus(&mut dirty)?;
                    self.stage.committed(height.0);
                    self.commits.push_back((height, block));
                }
                Output::ReleaseDecryptionShares { height, .. } => {
                    // The release must not outlive a crash that forgets the commit behind it.
                    self.flush_consensus(&mut dirty)?;
                    counter!("shroud_share_releases_total").increment(1);
                    gauge!("shroud_release_height").set(height.0 as f64);
                    if !self.ordering_only {
                        self.stage.release(height.0);
                    }
                }
                Output::SafetyViolation { detail } => {
                    counter!("shroud_safety_violations_total").increment(1);
                    error!(
                        detail,
                        "consensus refused an action that needs more than f faults"
                    );
                }
            }
        }
        self.flush_consensus(&mut dirty)?;
        for message in to_self {
            self.on_consensus(self.me, message)?;
        }
        Ok(())
    }

    /// Answers a peer's state-sync request from the consensus store, within its budget: as
    /// many committed blocks as fit half a frame.
    fn serve_sync(&mut self, to: usize, from: Height, count: u16) -> Result<(), NodeError> {
        if !self.block_answers.allow(to, self.now_ms(), "sync") {
            return Ok(());
        }
        let served = self.consensus_store.committed_blocks(
            from,
            usize::from(count),
            self.limits.frame_bytes_max / 2,
        )?;
        let message = Message::SyncResponse(shroud_consensus::SyncResponse {
            blocks: served.blocks,
            kept_from: served.kept_from,
            committed: served.committed,
        });
        if let Some(frame) = self.consensus_frame(&message) {
            self.block_answers.spend(to, frame.len());
            counter!("shroud_sync_answers_total").increment(1);
            self.outbox.send(to, frame);
        }
        Ok(())
    }

    fn flush_consensus(&mut self, dirty: &mut bool) -> Result<(), NodeError> {
        if *dirty {
            self.consensus_store.flush()?;
            *dirty = false;
        }
        Ok(())
    }

    // ----- batches ------------------------------------------------------------------------

    /// Starts collecting acknowledgements of an own batch (stored and flushed): our own
    /// acknowledgement first, then the batch goes to every peer.
    fn track_own(&mut self, batch: Batch, now: u64) -> Result<(), NodeError> {
        let digest = batch.digest();
        let summary = BatchSummary::of(&batch);
        self.remember_summary(digest, summary);
        self.track_own_digested(batch, digest, now)
    }

    /// [`Validator::track_own`] for a batch whose digest (and summary) is known.
    fn track_own_digested(
        &mut self,
        batch: Batch,
        digest: BatchDigest,
        now: u64,
    ) -> Result<(), NodeError> {
        let author = u16::try_from(self.me).unwrap_or(u16::MAX);
        let mut collector = AckCollector::new(&self.committee, &batch, digest, author)?;
        let own_ack = BatchAck::sign(self.chain_id, &batch, digest, author, &self.signer);
        if let Some(certificate) = collector.add_own(&own_ack)? {
            self.certified(certificate)?;
            return Ok(());
        }
        self.broadcast_batch(&batch);
        self.own.insert(
            digest,
            Pending {
                batch,
                collector,
                sent_ms: now,
                started: Instant::now(),
            },
        );
        Ok(())
    }

    fn broadcast_batch(&self, batch: &Batch) {
        match frame::encode(FrameKind::Batch, batch, &self.limits) {
            Ok(bytes) => self.outbox.broadcast(Arc::new(bytes)),
            Err(error) => error!(%error, "a batch exceeds the frame limit"),
        }
    }

    fn rebroadcast(&mut self, now: u64) -> Result<(), NodeError> {
        // An own batch still short of acknowledgements past its expiry can never be ordered:
        // stop sending it and drop it (its transactions' receipts stay at `accepted`).
        let next = self.store.processed_height()? + 1;
        let expired: Vec<BatchDigest> = self
            .own
            .iter()
            .filter(|(_, pending)| pending.batch.valid_through < next)
            .map(|(digest, _)| *digest)
            .collect();
        for digest in expired {
            self.own.remove(&digest);
            let dropped = self.store.drop_expired_batch(&digest)?;
            self.ingress.forget(&dropped);
            counter!("shroud_batches_expired_total").increment(1);
        }
        // A certified own batch past its expiry will never be proposed (leaders leave it out)
        // nor committed: stop announcing it.
        self.announced
            .retain(|_, (certificate, _)| certificate.valid_through >= next);
        let due: Vec<BatchDigest> = self
            .own
            .iter()
            .filter(|(_, pending)| now.saturating_sub(pending.sent_ms) >= REBROADCAST_MS)
            .map(|(digest, _)| *digest)
            .collect();
        for digest in due {
            if let Some(pending) = self.own.get_mut(&digest) {
                pending.sent_ms = now;
                let batch = pending.batch.clone();
                self.broadcast_batch(&batch);
            }
        }
        let due: Vec<BatchCertificate> = self
            .announced
            .values_mut()
            .filter(|(_, sent)| now.saturating_sub(*sent) >= REBROADCAST_MS)
            .map(|(certificate, sent)| {
                *sent = now;
                certificate.clone()
            })
            .collect();
        for certificate in due {
            self.broadcast_certificate(&certificate);
        }
        Ok(())
    }

    fn on_batch(&mut self, from: usize, batch: Batch) -> Result<(), NodeError> {
        let config = &self.mempool_config;
        let within_limits = batch.transactions.len() <= config.batch_count_max
            && batch.size_bytes() <= config.batch_bytes_max
            && batch
                .transactions
                .iter()
                .all(|transaction| transaction.len() <= config.ciphertext_bytes_max);
        if batch.epoch != self.epoch
            || usize::from(batch.author) >= self.committee.size()
            || !within_limits
        {
            counter!("shroud_batches_rejected_total").increment(1);
            return Ok(());
        }
        let digest = batch.digest();
        // A batch we asked for is an answer, whoever sends it (its author too): stored, never
        // checked or acknowledged (its certificate vouches for it).
        let requested = self.fetch_sent.contains_key(&digest);
        let is_author = usize::from(batch.author) == from && !requested;
        if !is_author && !requested {
            // A batch answers a request only if we asked for it.
            counter!("shroud_batches_rejected_total").increment(1);
            return Ok(());
        }
        let next = self.store.processed_height()? + 1;
        let lag_allowed = self.validity_heights.saturating_add(AUTHOR_LEAD_HEIGHTS);
        if is_author && !within_validity(next, batch.valid_through, lag_allowed) {
            // A new batch that no block could order from here on (or not for much longer
            // than the window): not worth storing, and not vouched for. Its author may have
            // processed a few heights more than we have (a leader commits first) and set the
            // expiry a window above its own height: that lead is allowed, or such a batch
            // would wait for a re-send a second later.
            counter!("shroud_batches_rejected_total").increment(1);
            return Ok(());
        }
        // A batch committed before is acknowledged (its author stops re-sending) but not
        // stored again: its transactions are all placed, and its height may be pruned.
        let committed = self.store.is_batch_committed(&digest)?;
        if !committed && !self.store.has_batch(&digest)? {
            if is_author {
                let now_ms = self.now_ms();
                let store = &self.store;
                let admitted = self.quota.admit(
                    from,
                    (digest, batch.valid_through, batch.size_bytes() as u64),
                    next,
                    now_ms,
                    |digest| {
                        store.is_batch_committed(digest).unwrap_or(false)
                            || !store.has_batch(digest).unwrap_or(true)
                    },
                );
                if !admitted {
                    // Neither stored nor acknowledged: f + 1 others certify it, and this
                    // validator fetches it if it is ordered.
                    return Ok(());
                }
            }
            // Flushed with the others stored meanwhile, before the acknowledgement leaves.
            self.store.put_batch_digested(&batch, digest)?;
            self.remember_summary(digest, BatchSummary::of(&batch));
        }
        self.fetch_sent.remove(&digest);
        if is_author {
            // Acknowledged at once when ordering opaque payloads or committed already (its
            // certificate vouched for it); else once checked, here or (not designated) only
            // if no certificate comes in time (`super::vouch`).
            let now = self.now_ms();
            // A batch whose certificate is known needs no check here (f + 1 vouched for it)
            // and no acknowledgement either: its author has its certificate.
            let certified = !committed && self.store.batch_certificate(&digest)?.is_some();
            let acknowledge = match self.vouching.as_mut() {
                Some(_) if certified => None,
                Some(vouching) if !committed => vouching.on_stored(from, digest, batch, now),
                _ => Some(batch),
            };
            if let Some(batch) = acknowledge {
                self.acknowledge(from, &batch, digest)?;
            }
        }
        Ok(())
    }

    fn on_ack(&mut self, from: usize, ack: BatchAck) -> Result<(), NodeError> {
        if usize::from(ack.signer) != from {
            counter!("shroud_batch_acks_rejected_total").increment(1);
            return Ok(());
        }
        let Some(pending) = self.own.get_mut(&ack.digest) else {
            return Ok(());
        };
        match pending.collector.add(&ack) {
            Ok(Some(certificate)) => {
                if let Some(pending) = self.own.remove(&ack.digest) {
                    histogram!("shroud_batch_certificate_seconds")
                        .record(pending.started.elapsed().as_secs_f64());
                }
                self.certified(certificate)?;
            }
            Ok(None) => {}
            Err(error) => {
                counter!("shroud_batch_acks_rejected_total").increment(1);
                warn!(peer = from, %error, "refused a batch acknowledgement");
                if matches!(error, crate::batch::BatchError::Certificate(_)) {
                    self.scores.penalize(from, Offence::BadSignature);
                }
            }
        }
        Ok(())
    }

    /// One of our batches is certified: any leader may now order it, so every peer gets the
    /// certificate (a leader whose successor is down never gets its own blocks certified).
    fn certified(&mut self, certificate: BatchCertificate) -> Result<(), NodeError> {
        self.store.put_certificate(&certificate)?;
        self.store.put_batch_certificate(&certificate)?;
        counter!("shroud_batch_certificates_total").increment(1);
        self.announce(certificate, self.now_ms());
        Ok(())
    }

    /// Sends an own certificate to every peer and keeps re-sending it until the batch commits
    /// (a lost broadcast must not strand the batch).
    fn announce(&mut self, certificate: BatchCertificate, now: u64) {
        self.broadcast_certificate(&certificate);
        self.payload.add(certificate.clone());
        self.announced
            .insert(certificate.digest, (certificate, now));
    }

    fn broadcast_certificate(&self, certificate: &BatchCertificate) {
        match frame::encode(FrameKind::BatchCertificate, certificate, &self.limits) {
            Ok(bytes) => self.outbox.broadcast(Arc::new(bytes)),
            Err(error) => error!(%error, "a certificate exceeds the frame limit"),
        }
    }

    /// A peer's certificate waits for the next batched check (its bytes are checked now).
    fn on_certificate(
        &mut self,
        from: usize,
        certificate: BatchCertificate,
    ) -> Result<(), NodeError> {
        if usize::from(certificate.author) != from {
            counter!("shroud_batch_certificates_rejected_total").increment(1);
            return Ok(());
        }
        self.unchecked_certificates.push((from, certificate));
        if self.unchecked_certificates.len() >= CERTIFICATES_CHECKED_MAX {
            self.check_certificates()?;
        }
        Ok(())
    }

    /// Checks the waiting certificates with one multi-pairing (one check each only if that
    /// fails) and offers the good ones to the proposer.
    fn check_certificates(&mut self) -> Result<(), NodeError> {
        if self.unchecked_certificates.is_empty() {
            return Ok(());
        }
        let waiting = std::mem::take(&mut self.unchecked_certificates);
        let mut senders = Vec::with_capacity(waiting.len());
        let mut certificates = Vec::with_capacity(waiting.len());
        for (from, certificate) in waiting {
            // Already ordered: listing it again adds nothing, and its records may be pruned.
            if !self.store.is_batch_committed(&certificate.digest)? {
                senders.push(from);
                certificates.push(certificate);
            }
        }
        let verdicts = BatchCertificate::verify_many(&certificates, &self.committee, &mut self.rng);
        for ((from, certificate), verdict) in senders.into_iter().zip(certificates).zip(verdicts) {
            if let Err(error) = verdict {
                counter!("shroud_batch_certificates_rejected_total").increment(1);
                warn!(peer = from, %error, "refused a batch certificate");
                self.scores.penalize(from, Offence::BadSignature);
                continue;
            }
            self.store.put_batch_certificate(&certificate)?;
            if let Some(vouching) = self.vouching.as_mut() {
                vouching.certified(&certificate.digest);
            }
            self.payload.add(certificate);
        }
        Ok(())
    }

    fn on_batch_request(&mut self, from: usize, request: &BatchRequest) -> Result<(), NodeError> {
        if !self.batch_answers.allow(from, self.now_ms(), "batch") {
            return Ok(());
        }
        if let Some(batch) = self.store.batch(&request.digest)? {
            match frame::encode(FrameKind::Batch, &batch, &self.limits) {
                Ok(bytes) => {
                    self.batch_answers.spend(from, bytes.len());
                    self.outbox.send(from, Arc::new(bytes));
                }
                Err(error) => error!(%error, "a batch exceeds the frame limit"),
            }
        }
        Ok(())
    }

    // ----- committed order -----------------------------------------------------------------

    /// Turns committed blocks into the committed order, in height order, once every batch
    /// they list is stored locally; asks the certificates' signers for missing batches.
    fn process_commits(&mut self) -> Result<(), NodeError> {
        // Heights processed and written but not yet flushed: one flush covers them all, and
        // nothing that depends on them leaves before it.
        let mut unflushed = Vec::new();
        let processed = self.process_ready(&mut unflushed);
        self.settle_heights(&mut unflushed)?;
        processed
    }

    /// Processes the queued committed heights whose batches are all here, in order; each
    /// height's records are written (not flushed) and it is listed in `unflushed`. A height
    /// that carries DKG posts, or [`FLUSH_GROUP_HEIGHTS`] of them, settles the list first.
    fn process_ready(
        &mut self,
        unflushed: &mut Vec<(Height, Vec<DkgPost>)>,
    ) -> Result<(), NodeError> {
        while let Some((height, block)) = self.commits.front().cloned() {
            let started = Instant::now();
            if height.0 <= self.store.processed_height()? {
                self.commits.pop_front();
                continue;
            }
            let payload = BlockPayload::decode(&block.payload)?;
            let all_digests: Vec<BatchDigest> = payload.batches.iter().map(|c| c.digest).collect();
            let listed = self.settle_listed(height, &payload)?;
            let mut missing = Vec::new();
            for certificate in &listed {
                if !self.summaries.contains_key(&certificate.digest)
                    && !self.store.has_batch(&certificate.digest)?
                {
                    missing.push(certificate.clone());
                }
            }
            if !missing.is_empty() {
                self.request_batches(&missing);
                self.prefetch_batches()?;
                return Ok(());
            }
            let mut summaries = Vec::with_capacity(listed.len());
            for certificate in &listed {
                summaries.push(self.summary(&certificate.digest)?);
            }
            let ordered = self.place(height, &listed, &summaries);
            self.record_height(height, &block, &listed, &ordered, &payload.dkg)?;
            self.after_commit(&listed, &all_digests, &ordered)?;
            counter!("shroud_transactions_committed_total").increment(ordered.len() as u64);
            histogram!("shroud_commit_process_seconds").record(started.elapsed().as_secs_f64());
            gauge!("shroud_committed_height").set(height.0 as f64);
            self.commits.pop_front();
            // State sync hands over committed blocks only as fast as they are processed.
            self.consensus.set_processed(height);
            let with_dkg = !payload.dkg.is_empty();
            unflushed.push((height, payload.dkg));
            if with_dkg || unflushed.len() >= FLUSH_GROUP_HEIGHTS {
                self.settle_heights(unflushed)?;
            }
        }
        Ok(())
    }

    /// Flushes the heights written since the last flush, then tells the rest of the node
    /// about them (admission, the decryption stage, retention, the DKG), in height order.
    fn settle_heights(
        &mut self,
        unflushed: &mut Vec<(Height, Vec<DkgPost>)>,
    ) -> Result<(), NodeError> {
        let Some((last, _)) = unflushed.last() else {
            return Ok(());
        };
        let last = last.0;
        self.store.flush()?;
        counter!("shroud_processed_flushes_total").increment(1);
        self.ingress.set_height(last);
        self.stage.wake();
        if let Some(processed) = &self.processed {
            processed.send_replace(last);
        }
        self.last_commit_ms = self.now_ms();
        for (height, dkg) in std::mem::take(unflushed) {
            self.apply_dkg(height.0, &dkg)?;
        }
        Ok(())
    }

    /// Asks for the missing batches of the committed heights queued behind the first (a
    /// validator catching up has many): one round trip covers many heights instead of one.
    fn prefetch_batches(&mut self) -> Result<(), NodeError> {
        // The queued payloads are read again only as often as a fetch may be repeated.
        let now = self.now_ms();
        if self.prefetched_ms != 0 && now.saturating_sub(self.prefetched_ms) < REFETCH_MS {
            return Ok(());
        }
        self.prefetched_ms = now.max(1);
        let mut missing = Vec::new();
        for (height, block) in self.commits.iter().skip(1).take(PREFETCH_HEIGHTS) {
            let Ok(payload) = BlockPayload::decode(&block.payload) else {
                continue;
            };
            for certificate in payload.batches {
                if missing.len() >= PREFETCH_BATCHES_MAX {
                    break;
                }
                if within_validity(height.0, certificate.valid_through, self.validity_heights)
                    && !self.summaries.contains_key(&certificate.digest)
                    && !self.store.has_batch(&certificate.digest)?
                    && !self.store.is_batch_committed(&certificate.digest)?
                {
                    missing.push(certificate);
                }
            }
        }
        if !missing.is_empty() {
            self.request_batches(&missing);
        }
        Ok(())
    }

    /// The batches of a committed block that still place transactions. A batch committed at
    /// an earlier height adds nothing (each of its transactions already has its place), and
    /// its payload may be pruned here and at every peer: it is skipped rather than fetched.
    /// So is a batch outside its validity at this height (ADR 0008): its certificate says so,
    /// whatever its payload, and it is what makes forgetting old batch digests safe.
    fn settle_listed(
        &mut self,
        height: Height,
        payload: &BlockPayload,
    ) -> Result<Vec<BatchCertificate>, NodeError> {
        let mut listed = Vec::with_capacity(payload.batches.len());
        let mut settled = Vec::new();
        for certificate in &payload.batches {
            if !within_validity(height.0, certificate.valid_through, self.validity_heights) {
                counter!("shroud_batches_expired_total").increment(1);
                settled.push(certificate.digest);
                // Never committed before this height, it never will be, and no peer
                // processing an earlier height needs it (a committed one is kept).
                let dropped = self.store.drop_expired_batch(&certificate.digest)?;
                self.ingress.forget(&dropped);
                self.forget_summary(&certificate.digest);
            } else if self.store.is_batch_committed(&certificate.digest)? {
                settled.push(certificate.digest);
            } else {
                listed.push(certificate.clone());
            }
        }
        // An own batch certified again after a crash (its first certificate was not yet
        // durable) and committed before is done: forget it as the first commit did.
        self.store.forget_own(&settled)?;
        Ok(listed)
    }

    /// The order rule over the listed batches: batches in block order, transactions in
    /// batch order, a transaction committed before and still live (or placed earlier in this
    /// block) is skipped. Each placement notes how long it decides duplicates: its label's
    /// expiry when it is within its validity here, else none (it fails as expired).
    fn place(
        &self,
        height: Height,
        listed: &[BatchCertificate],
        summaries: &[Arc<BatchSummary>],
    ) -> Vec<OrderedTx> {
        let index = self.committed.read();
        let mut fresh = crate::id_hash::IdSet::default();
        let located = committed_locations(
            summaries.iter().map(|summary| summary.ids.as_slice()),
            |id| !index.is_live(&id, height.0) && fresh.insert(id),
        );
        drop(index);
        located
            .into_iter()
            .map(|(tx_id, batch_index, index)| OrderedTx {
                tx_id,
                batch: listed[batch_index].digest,
                index: u32::try_from(index).unwrap_or(u32::MAX),
                expiry: summaries[batch_index]
                    .valid_through
                    .get(index)
                    .copied()
                    .flatten()
                    .filter(|through| within_validity(height.0, *through, self.validity_heights)),
            })
            .collect()
    }

    /// Writes the height's order (its record is synced in the height log; the sled entries
    /// are flushed with the group, [`Validator::settle_heights`]) and updates the index.
    fn record_height(
        &mut self,
        height: Height,
        block: &Block,
        listed: &[BatchCertificate],
        ordered: &[OrderedTx],
        dkg: &[DkgPost],
    ) -> Result<(), NodeError> {
        for certificate in listed {
            self.store.put_batch_certificate(certificate)?;
        }
        if self.dkg.is_some() && !dkg.is_empty() {
            // The transcript is durable with the height's order, before any post that
            // depends on it (a response) leaves.
            let messages: Vec<&[u8]> = dkg.iter().map(|post| post.message.as_slice()).collect();
            self.store.put_dkg_messages(height.0, &messages)?;
        }
        let justify = &block.justify;
        if justify.height.0 >= 1 {
            self.store.put_block_certificate(
                justify.height.0,
                &shroud_proofs::BlockCertificate {
                    epoch: justify.epoch.0,
                    view: justify.view.0,
                    block: justify.block.0,
                    height: justify.height.0,
                    signers: justify.signers.clone(),
                    signature: justify.signature,
                },
            )?;
        }
        let digests: Vec<BatchDigest> = listed.iter().map(|c| c.digest).collect();
        let record = self
            .store
            .append_order(height.0, block.digest().0, ordered, &digests)?;
        // The next height's placement reads the committed index: it learns this one now,
        // flushed or not (it only ever decides what this node writes).
        self.committed.write().record_height(&record, height.0);
        gauge!("shroud_committed_index_entries").set(self.committed.read().len() as f64);
        Ok(())
    }

    /// The key status, with why a forming key does not move if it does not.
    fn key_status_now(&self) -> KeyStatus {
        let idle_ms = self.now_ms().saturating_sub(self.last_commit_ms);
        let quorum = self.committee.size() - self.committee.fault_bound();
        KeyStatus {
            stalled: dkg::stalled_reason(&self.key_status, idle_ms, quorum),
            ..self.key_status.clone()
        }
    }

    /// Says in the log, every ten seconds, why a forming key does not move.
    fn log_stalled_dkg(&mut self, now: u64) {
        if self.dkg.is_none() || now.saturating_sub(self.stall_logged_ms) < 10_000 {
            return;
        }
        if let Some(reason) = self.key_status_now().stalled {
            self.stall_logged_ms = now;
            warn!(%reason, "DKG stalled");
        }
    }

    // ----- distributed key generation -------------------------------------------------------

    /// Runs the DKG: the committee has no key yet. `replayed` are the events of the stored
    /// transcript's replay.
    pub fn run_dkg(
        &mut self,
        runner: DkgRunner,
        replayed: Vec<DkgEvent>,
        installer: KeyInstaller,
    ) -> Result<(), NodeError> {
        self.key_status = runner.status();
        self.dkg = Some(runner);
        self.key_installer = Some(installer);
        self.on_dkg_events(replayed)
    }

    /// What the status says about a key known at start.
    pub fn set_key_status(&mut self, status: KeyStatus) {
        self.key_status = status;
    }

    /// Posts this validator's pending DKG messages: into its own proposals, and to every peer
    /// for theirs. Again every [`DKG_REPOST_MS`] until committed.
    fn post_dkg(&mut self, now: u64) {
        let Some(runner) = self.dkg.as_mut() else {
            return;
        };
        if self
            .dkg_posted_ms
            .is_some_and(|at| now.saturating_sub(at) < DKG_REPOST_MS)
        {
            return;
        }
        self.dkg_posted_ms = Some(now);
        for post in runner.posts() {
            if let Ok(bytes) = frame::encode(FrameKind::DkgPost, &post, &self.limits) {
                self.outbox.broadcast(Arc::new(bytes));
            }
            self.payload.add_dkg(post);
        }
    }

    /// A peer's DKG post: checked (sender, encoding, signature) and queued for proposals.
    fn on_dkg_post(&mut self, post: DkgPost) {
        if self.dkg.is_none() {
            return;
        }
        // A post of another round is of no use here (its sender posts again): refused before
        // its signature costs a pairing. The round is the message's bytes 1..5.
        let round = post
            .message
            .get(1..5)
            .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok())
            .map(u32::from_be_bytes);
        if round != self.key_status.round {
            counter!("shroud_dkg_posts_ignored_total").increment(1);
            return;
        }
        if !self.payload.is_dkg_checked(&post) {
            if let Err(error) = post.verify(&self.committee, self.chain_id) {
                counter!("shroud_dkg_posts_rejected_total").increment(1);
                tracing::debug!(%error, "DKG post refused");
                return;
            }
        }
        self.payload.add_dkg(post);
    }

    /// A height's committed DKG posts (durable): the DKG reads them, then the height.
    fn apply_dkg(&mut self, height: u64, posts: &[DkgPost]) -> Result<(), NodeError> {
        if !posts.is_empty() {
            self.payload.mark_dkg_committed(posts);
        }
        let Some(runner) = self.dkg.as_mut() else {
            return Ok(());
        };
        let events = runner.on_committed(height, posts);
        self.on_dkg_events(events)
    }

    fn on_dkg_events(&mut self, events: Vec<DkgEvent>) -> Result<(), NodeError> {
        if events.is_empty() {
            return Ok(());
        }
        let before = (self.key_status.round, self.key_status.phase);
        for event in events {
            dkg::report(&event);
            if let DkgEvent::Complete(output) = event {
                return self.key_formed(*output);
            }
        }
        if let Some(runner) = &self.dkg {
            self.key_status = runner.status();
        }
        if (self.key_status.round, self.key_status.phase) != before {
            // A new phase or round: post what it needs now, not at the next re-post.
            self.dkg_posted_ms = None;
        }
        Ok(())
    }

    /// The DKG completed: the share is written, the stages get the key, the result is
    /// recorded, and the committee certifies the key set for clients.
    fn key_formed(&mut self, output: DkgOutput) -> Result<(), NodeError> {
        let seconds = self
            .dkg
            .take()
            .map(|runner| runner.elapsed_seconds())
            .unwrap_or_default();
        gauge!("shroud_dkg_seconds").set(seconds);
        info!(
            seconds,
            height = output.height,
            "the committee's key is formed with no dealer"
        );
        if let Some(problem) = &output.share_problem {
            tracing::error!(%problem, "this validator holds no key share: it cannot decrypt");
        }
        self.payload.close_dkg();
        let record = dkg::record(&output);
        let key_set = output.public.to_bytes();
        if let Some(installer) = self.key_installer.take() {
            installer(&output.public, output.share)?;
        }
        self.store.put_dkg_result(&key_set, &record)?;
        self.store.flush()?;
        self.key_status = KeyStatus::formed(&record);
        self.certify_epoch_key(self.chain_id, key_set)
    }

    /// What a processed height settles: the ingress stage forgets its ids, expired batches
    /// are swept, own batches are done, and nobody proposes the block's batches again.
    fn after_commit(
        &mut self,
        listed: &[BatchCertificate],
        all_digests: &[BatchDigest],
        ordered: &[OrderedTx],
    ) -> Result<(), NodeError> {
        let height = self.store.processed_height()?;
        let ids: Vec<TxId> = ordered.iter().map(|placed| placed.tx_id).collect();
        self.ingress.forget(&ids);
        // Stored batches past their expiry that were never committed can never be now.
        let dropped = self
            .store
            .sweep_expired_batches(height, EXPIRED_SWEEP_MAX)?;
        self.ingress.forget(&dropped);
        // An own batch certified by an earlier run of this validator, ordered now, is done.
        let own: Vec<BatchDigest> = listed
            .iter()
            .filter(|certificate| usize::from(certificate.author) == self.me)
            .map(|certificate| certificate.digest)
            .collect();
        if !own.is_empty() {
            for digest in &own {
                self.own.remove(digest);
            }
            self.store.forget_own(&own)?;
        }
        for digest in all_digests {
            self.announced.remove(digest);
            self.forget_summary(digest);
        }
        if let Some(vouching) = self.vouching.as_mut() {
            vouching.forget(all_digests);
        }
        self.payload.mark_committed(all_digests);
        Ok(())
    }

    /// The summary of a stored batch: from the cache when it was stored by this run, else
    /// read back.
    fn summary(&self, digest: &BatchDigest) -> Result<Arc<BatchSummary>, NodeError> {
        if let Some(summary) = self.summaries.get(digest) {
            return Ok(summary.clone());
        }
        let batch = self
            .store
            .batch(digest)?
            .ok_or(NodeError::Invariant("a batch checked present is stored"))?;
        Ok(Arc::new(BatchSummary::of(&batch)))
    }

    /// Keeps a stored batch's summary for its commit (the oldest goes first past the cap; a
    /// forgotten one is read back from the store).
    fn remember_summary(&mut self, digest: BatchDigest, summary: BatchSummary) {
        if self.summaries.contains_key(&digest) {
            return;
        }
        while self.summary_order.len() >= SUMMARIES_MAX {
            if let Some(oldest) = self.summary_order.pop_front() {
                self.summaries.remove(&oldest);
            }
        }
        self.summaries.insert(digest, Arc::new(summary));
        self.summary_order.push_back(digest);
    }

    fn forget_summary(&mut self, digest: &BatchDigest) {
        if self.summaries.remove(digest).is_some() {
            self.summary_order.retain(|kept| kept != digest);
        }
    }

    fn request_batches(&mut self, missing: &[BatchCertificate]) {
        let now = self.now_ms();
        for certificate in missing {
            let entry = self.fetch_sent.entry(certificate.digest).or_insert((0, 0));
            if entry.0 != 0 && now.saturating_sub(entry.0) < REFETCH_MS {
                continue;
            }
            let signers = certificate.signer_indices(self.committee.size());
            let candidates: Vec<u16> = signers
                .into_iter()
                .filter(|signer| usize::from(*signer) != self.me)
                .collect();
            let Some(target) = candidates.get(entry.1 % candidates.len().max(1)).copied() else {
                continue;
            };
            entry.0 = now.max(1);
            entry.1 += 1;
            let request = BatchRequest {
                digest: certificate.digest,
            };
            if let Ok(bytes) = frame::encode(FrameKind::BatchRequest, &request, &self.limits) {
                counter!("shroud_batch_fetches_total").increment(1);
                self.outbox.send(usize::from(target), Arc::new(bytes));
            }
        }
    }

    // ----- queries -------------------------------------------------------------------------

    fn on_query(&mut self, query: Query) -> Result<(), NodeError> {
        match query {
            Query::Status(reply) => {
                let (height, _) = self.consensus.committed_head();
                let _ = reply.send(Status {
                    index: self.me,
                    view: self.consensus.view().0,
                    leader: self.consensus.leader().map(|leader| leader.0),
                    committed_height: height.0,
                    processed_height: self.store.processed_height()?,
                    ordered: self.store.order_len()?,
                    mempool: self.ingress.pending_len(),
                    batches_waiting: self.payload.waiting(),
                    output_height: self.store.output_height()?,
                    certified_height: self.store.certified_height()?,
                    kept_from_height: self.store.kept_from_height()?,
                    outcomes: OutcomeSummary::from(self.store.outcome_counts()?),
                    key: self.key_status_now(),
                    last_commit_age_ms: self.now_ms().saturating_sub(self.last_commit_ms),
                });
            }
        }
        Ok(())
    }

    fn report(&mut self) {
        let view = self.consensus.view();
        if view != self.view {
            self.view = view;
            gauge!("shroud_consensus_view").set(view.0 as f64);
            // The height state sync is catching up to (0: not syncing).
            let target = self.consensus.sync_target().map_or(0, |height| height.0);
            gauge!("shroud_sync_target_height").set(target as f64);
        }
        // One line of progress a minute, so that a log shows a validator at work (or not).
        let now = self.now_ms();
        if now.saturating_sub(self.progress_logged_ms) >= PROGRESS_LOG_MS {
            self.progress_logged_ms = now;
            let (height, _) = self.consensus.committed_head();
            info!(
                committed_height = height.0,
                view = view.0,
                mempool = self.ingress.pending_len(),
                batches_waiting = self.payload.waiting(),
                last_commit_age_ms = now.saturating_sub(self.last_commit_ms),
                key = self.key_status.state,
                syncing_to = self.consensus.sync_target().map(|height| height.0),
                "progress"
            );
        }
    }

    /// Flushes both stores (shutdown).
    pub fn flush_all(&mut self) -> Result<(), NodeError> {
        self.consensus_store.flush()?;
        self.store.flush()?;
        info!(index = self.me, "stores flushed");
        Ok(())
    }
}

/// What a refused consensus message says of its sender: a signature or certificate that does
/// not verify, or a message no honest validator makes (over a limit, out of shape). A stale or
/// early message, another epoch's, or a payload this node refuses says nothing.
fn offence(error: &shroud_consensus::ConsensusError) -> Option<Offence> {
    use shroud_consensus::ConsensusError as E;
    match error {
        E::BadSignature { .. } | E::BadCertificate { .. } => Some(Offence::BadSignature),
        E::TooLarge { .. }
        | E::UnknownValidator { .. }
        | E::BadHeight { .. }
        | E::BadView { .. }
        | E::TimeoutViewsMismatch { .. } => Some(Offence::InvalidFrame),
        E::WrongEpoch { .. } | E::BadPayload(_) => None,
    }
}
