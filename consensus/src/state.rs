//! The consensus state machine: `handle(now, input) -> outputs`.

use std::collections::{BTreeMap, VecDeque};

use shroud_crypto::{SecretKey, Signature, SignerBitmap, SigningDomain};

use crate::block_tree::BlockTree;
use crate::committee::Committee;
use crate::config::{Config, ConfigError};
use crate::io::{Input, Output, PayloadSource, PersistOp, Recovered};
use crate::safety::SafetyState;
use crate::types::{
    proposal_encoding, timeout_encoding, vote_encoding, Block, BlockDigest, BlockRequest, Height,
    Message, Proposal, QuorumCertificate, SyncRequest, SyncResponse, Timeout, TimeoutCertificate,
    ValidatorIndex, View, Vote,
};
use crate::verify::Verified;

/// Own messages processed per step at most.
const LOOPBACK_PER_STEP: usize = 64;

/// Votes of one view being aggregated by the next leader. Each signer's first vote in the view
/// counts, and signatures are grouped by the exact signed message (block and height), so an
/// aggregate only ever sums signatures over one message.
#[derive(Debug, Default)]
struct ViewVotes {
    by_signer: BTreeMap<ValidatorIndex, (BlockDigest, Height)>,
    by_message: BTreeMap<(BlockDigest, Height), BTreeMap<ValidatorIndex, Signature>>,
}

/// State sync in progress: committed blocks asked of one peer at a time by height (see the
/// crate docs, "State sync").
#[derive(Debug)]
struct Sync {
    /// The highest verified QC height seen; sync ends once the committed head is within
    /// [`crate::Limits::sync_gap`] of it.
    target: Height,
    /// The peer asked now.
    peer: ValidatorIndex,
    /// When the outstanding request left (or an unhelpful answer came: the next peer is asked
    /// once it expires).
    sent_at: Option<u64>,
    /// Blocks from `peer` hash-chained above the committed head, not yet proven committed.
    buffer: Vec<Block>,
    /// The last `(peer, needed)` reported stranded, so it is reported once.
    stranded: Option<(ValidatorIndex, Height)>,
}

/// One validator's 2-chain HotStuff state machine.
#[derive(Debug)]
pub struct Consensus<P: PayloadSource> {
    config: Config,
    committee: Committee,
    me: ValidatorIndex,
    signer: SecretKey,
    payload: P,
    safety: SafetyState,
    tree: BlockTree,
    view: View,
    timeouts_in_row: u32,
    deadline_ms: u64,
    /// A proposal of this view deferred for want of content, until this time.
    propose_after: Option<(View, u64)>,
    /// A proposal of this view deferred by the proposal interval, until this time.
    paced_until: Option<(View, u64)>,
    /// The last block stored from a proposal of its own view, and when: the parent whose age
    /// the proposal interval is counted from.
    last_block_seen: Option<(BlockDigest, u64)>,
    now_ms: u64,
    loopback: VecDeque<Message>,
    votes: BTreeMap<View, ViewVotes>,
    last_stored_proposal_view: View,
    timeouts: BTreeMap<View, BTreeMap<ValidatorIndex, Timeout>>,
    pending_proposals: Vec<(ValidatorIndex, Proposal)>,
    orphans: BTreeMap<BlockDigest, Block>,
    /// Outstanding block requests and when they left; each expires after `sync_timeout_ms`.
    fetching: BTreeMap<BlockDigest, u64>,
    sync: Option<Sync>,
    /// The highest height the driver has processed (`set_processed`), pacing state sync;
    /// `None` when the driver does not pace it.
    processed: Option<Height>,
    pending_commit: Option<QuorumCertificate>,
    step: u64,
    learned_at_step: BTreeMap<BlockDigest, u64>,
    deferred_releases: Vec<(Height, BlockDigest)>,
    outputs: Vec<Output>,
}

impl<P: PayloadSource> Consensus<P> {
    /// A validator at genesis, or resuming from `recovered` state after a restart.
    pub fn new(
        config: Config,
        committee: Committee,
        me: ValidatorIndex,
        signer: SecretKey,
        payload: P,
        recovered: Option<Recovered>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        if !committee.contains(me) {
            return Err(ConfigError("this validator is not in the committee"));
        }
        if committee.keys().get(me.as_usize()) != Some(&signer.public_key()) {
            return Err(ConfigError(
                "the signing key is not this validator's committee key",
            ));
        }
        let epoch = committee.epoch();
        let kept = config.limits.committed_blocks_kept;
        let (safety, tree) = match recovered {
            Some(recovered) => (
                recovered.safety,
                BlockTree::restore(epoch, kept, recovered.blocks, &recovered.committed),
            ),
            None => (SafetyState::genesis(epoch), BlockTree::new(epoch, kept)),
        };
        assert_eq!(safety.epoch, epoch, "recovered state is for this epoch");
        Ok(Self {
            config,
            committee,
            me,
            signer,
            payload,
            safety,
            tree,
            view: View(0),
            timeouts_in_row: 0,
            deadline_ms: 0,
            propose_after: None,
            paced_until: None,
            last_block_seen: None,
            now_ms: 0,
            loopback: VecDeque::new(),
            votes: BTreeMap::new(),
            last_stored_proposal_view: View(0),
            timeouts: BTreeMap::new(),
            pending_proposals: Vec::new(),
            orphans: BTreeMap::new(),
            fetching: BTreeMap::new(),
            sync: None,
            processed: None,
            pending_commit: None,
            step: 0,
            learned_at_step: BTreeMap::new(),
            deferred_releases: Vec::new(),
            outputs: Vec::new(),
        })
    }

    /// The current view.
    pub fn view(&self) -> View {
        self.view
    }

    /// The durable safety state as this machine sees it.
    pub fn safety(&self) -> &SafetyState {
        &self.safety
    }

    /// The committed head.
    pub fn committed_head(&self) -> (Height, BlockDigest) {
        self.tree.committed_head()
    }

    /// This validator's index.
    pub fn index(&self) -> ValidatorIndex {
        self.me
    }

    /// The height state sync is catching up to, while this node is far behind.
    pub fn sync_target(&self) -> Option<Height> {
        self.sync.as_ref().map(|sync| sync.target)
    }

    /// Tells the machine the driver has processed every committed block up to `height`:
    /// state sync asks for more only while fewer than twice `sync_blocks_max` committed
    /// blocks wait to be processed (without a call, sync is not paced).
    pub fn set_processed(&mut self, height: Height) {
        self.processed = Some(height);
    }

    /// When the driver must call [`Consensus::handle`] with [`Input::Tick`] at the latest.
    pub fn next_deadline(&self) -> Option<u64> {
        if !self.loopback.is_empty() || !self.deferred_releases.is_empty() {
            return Some(self.now_ms);
        }
        // State sync: when the request out expires, or at once when the next one may go (the
        // driver processed enough since the last answer).
        let sync_expiry = match &self.sync {
            Some(sync) => match sync.sent_at {
                Some(sent) => sent.saturating_add(self.config.sync_timeout_ms),
                None if self.sync_paced() => u64::MAX,
                None => self.now_ms,
            },
            None => u64::MAX,
        };
        let waiting = self
            .propose_after
            .filter(|(view, _)| *view == self.view)
            .map_or(u64::MAX, |(_, at)| at);
        let paced = self
            .paced_until
            .filter(|(view, _)| *view == self.view)
            .map_or(u64::MAX, |(_, at)| at);
        (self.view > View(0)).then_some(self.deadline_ms.min(waiting).min(paced).min(sync_expiry))
    }

    /// Whether this node, leading the current view, holds back an empty proposal waiting for
    /// content (the driver ticks as soon as content arrives).
    pub fn waiting_for_payload(&self) -> bool {
        self.propose_after
            .is_some_and(|(view, _)| view == self.view)
    }

    /// Whether this node, leading the current view, holds back its proposal until the proposal
    /// interval since the parent has passed.
    fn paced(&self) -> bool {
        self.paced_until.is_some_and(|(view, _)| view == self.view)
    }

    /// Processes one input at time `now_ms`; returns what the driver must do, in order. The
    /// driver applies `Persist` outputs to its store and flushes before it performs any later
    /// `Send`, `Broadcast`, `Committed` or `ReleaseDecryptionShares` of the same batch.
    pub fn handle(&mut self, now_ms: u64, input: Input) -> Vec<Output> {
        self.now_ms = self.now_ms.max(now_ms);
        self.step += 1;
        for (height, block) in std::mem::take(&mut self.deferred_releases) {
            self.outputs
                .push(Output::ReleaseDecryptionShares { height, block });
        }
        match input {
            Input::Start => self.start(),
            Input::Tick => {
                if self.view > View(0) && self.now_ms >= self.deadline_ms {
                    self.local_timeout();
                } else if self.waiting_for_payload() || self.paced() {
                    self.try_propose();
                }
                if self.view > View(0) {
                    self.sync_step();
                }
            }
            Input::Message { from, message } => self.on_message(from, message),
        }
        // This node's own messages to itself, processed after the input; bounded per step so
        // that one input never runs unboundedly (a one-member committee would otherwise keep
        // certifying its own blocks). The rest wait for the next step.
        for _ in 0..LOOPBACK_PER_STEP {
            let Some(message) = self.loopback.pop_front() else {
                break;
            };
            self.on_message(self.me, Verified::own(message));
        }
        std::mem::take(&mut self.outputs)
    }

    fn start(&mut self) {
        let qc_view = self.safety.highest_qc.view;
        let tc_view = self
            .safety
            .highest_tc
            .as_ref()
            .map_or(View(0), |tc| tc.view);
        let view = qc_view.max(tc_view).next();
        self.enter_view(view);
    }

    fn on_message(&mut self, from: ValidatorIndex, message: Verified<Message>) {
        if self.view == View(0) {
            // Not started: the driver sends Start first. Ignore rather than act on half state.
            return;
        }
        match message.into_inner() {
            Message::Proposal(proposal) => self.on_proposal(from, proposal),
            Message::Vote(vote) => self.on_vote(vote),
            Message::Timeout(timeout) => self.on_timeout(timeout),
            Message::TimeoutCertificate(tc) => self.on_tc(&tc),
            Message::BlockRequest(request) => self.on_block_request(from, request),
            Message::BlockResponse(blocks) => self.on_block_response(from, blocks),
            Message::SyncRequest(request) => self.on_sync_request(from, request),
            Message::SyncResponse(response) => self.on_sync_response(from, response),
        }
    }

    // ----- views and the pacemaker -------------------------------------------------------

    fn enter_view(&mut self, view: View) {
        if view <= self.view {
            return;
        }
        self.view = view;
        self.deadline_ms = self
            .now_ms
            .saturating_add(self.config.view_timeout_ms(self.timeouts_in_row));
        self.outputs.push(Output::Deadline {
            at_ms: self.deadline_ms,
        });
        // Votes below the previous view and timeouts below this one can no longer matter.
        let oldest_vote_view = View(view.0.saturating_sub(1));
        self.votes
            .retain(|vote_view, _| *vote_view >= oldest_vote_view);
        self.timeouts
            .retain(|timeout_view, _| *timeout_view >= view);
        self.pending_proposals
            .retain(|(_, proposal)| proposal.block.view >= view);
        self.try_propose();
    }

    fn local_timeout(&mut self) {
        let tc = self.safety.highest_tc.clone();
        let qc_view = self.safety.highest_qc.view;
        // Re-arm first: a timeout is re-sent every deadline until the view ends.
        self.timeouts_in_row = self.timeouts_in_row.saturating_add(1);
        self.deadline_ms = self
            .now_ms
            .saturating_add(self.config.view_timeout_ms(self.timeouts_in_row));
        self.outputs.push(Output::Deadline {
            at_ms: self.deadline_ms,
        });
        if !self.safety.safe_to_timeout(self.view, qc_view, tc.as_ref()) {
            return;
        }
        self.safety.record_voted(self.view);
        self.persist_safety();
        let encoding = timeout_encoding(
            self.committee.chain_id(),
            self.committee.epoch(),
            self.view,
            qc_view,
        );
        let signature = self.signer.sign(SigningDomain::Timeout, &encoding);
        let last_tc = tc.filter(|tc| tc.view.next() == self.view);
        let timeout = Timeout {
            epoch: self.committee.epoch(),
            view: self.view,
            high_qc: self.safety.highest_qc.clone(),
            last_tc,
            signer: self.me,
            signature: signature.to_bytes(),
        };
        self.outputs
            .push(Output::Broadcast(Message::Timeout(timeout.clone())));
        self.loopback.push_back(Message::Timeout(timeout));
    }

    fn persist_safety(&mut self) {
        self.outputs
            .push(Output::Persist(PersistOp::Safety(self.safety.clone())));
    }

    // ----- proposals ---------------------------------------------------------------------

    fn try_propose(&mut self) {
        if self.safety.last_proposed_view >= self.view {
            return;
        }
        // Without the certified block the leader is not known yet (the block is fetched, and
        // the proposal tried again when it is stored).
        if self.leader() != Some(self.me) {
            return;
        }
        let justify = self.safety.highest_qc.clone();
        let timeout_certificate = if justify.view.next() == self.view {
            None
        } else {
            match &self.safety.highest_tc {
                Some(tc) if tc.view.next() == self.view => Some(tc.clone()),
                _ => return,
            }
        };
        if timeout_certificate.is_none() && self.hold_for_interval(&justify) {
            return;
        }
        if self.hold_empty_proposal(&justify) {
            return;
        }
        self.propose_after = None;
        self.paced_until = None;
        self.safety.last_proposed_view = self.view;
        self.persist_safety();
        let height = justify.height.next();
        let block = Block {
            epoch: self.committee.epoch(),
            view: self.view,
            height,
            proposer: self.me,
            payload: self.payload.propose(height),
            justify,
        };
        let encoding = proposal_encoding(
            self.committee.chain_id(),
            block.epoch,
            block.view,
            &block.digest(),
        );
        let signature = self.signer.sign(SigningDomain::Proposal, &encoding);
        let proposal = Proposal {
            block,
            timeout_certificate,
            signature: signature.to_bytes(),
        };
        self.outputs
            .push(Output::Persist(PersistOp::Block(proposal.block.clone())));
        self.outputs
            .push(Output::Broadcast(Message::Proposal(proposal.clone())));
        self.loopback.push_back(Message::Proposal(proposal));
    }

    /// Whether to hold back this view's proposal until `proposal_interval_min_ms` has passed
    /// since this node stored its parent. Only a view entered with a QC is paced: after a
    /// timeout the committee is already slow, and the proposal goes at once.
    fn hold_for_interval(&mut self, justify: &QuorumCertificate) -> bool {
        let interval = self.config.proposal_interval_min_ms;
        if interval == 0 {
            return false;
        }
        let Some((parent, seen_ms)) = self.last_block_seen else {
            return false;
        };
        if parent != justify.block {
            return false;
        }
        let at = seen_ms.saturating_add(interval);
        if self.now_ms >= at {
            return false;
        }
        if self.paced_until != Some((self.view, at)) {
            self.paced_until = Some((self.view, at));
            self.outputs.push(Output::Deadline { at_ms: at });
        }
        true
    }

    /// Whether to hold back this view's proposal for a while: it would be empty and so is its
    /// parent (a parent with content must be committed, which takes this block's QC, so it is
    /// never held). Returns false once the wait is over or content arrived.
    fn hold_empty_proposal(&mut self, justify: &QuorumCertificate) -> bool {
        let delay = self.config.empty_block_delay_ms;
        if delay == 0 || self.payload.has_payload() {
            return false;
        }
        let parent_empty = self
            .tree
            .get(&justify.block)
            .is_none_or(|parent| parent.payload.0.is_empty());
        if !parent_empty {
            return false;
        }
        match self.propose_after {
            Some((view, at)) if view == self.view => self.now_ms < at,
            _ => {
                let at = self.now_ms.saturating_add(delay);
                self.propose_after = Some((self.view, at));
                self.outputs.push(Output::Deadline { at_ms: at });
                true
            }
        }
    }

    fn on_proposal(&mut self, from: ValidatorIndex, proposal: Proposal) {
        self.process_qc(from, &proposal.block.justify);
        if let Some(tc) = &proposal.timeout_certificate {
            self.on_tc(tc);
        }
        let block = &proposal.block;
        if block.view != self.view || block.view <= self.last_stored_proposal_view {
            return;
        }
        if block.justify.height < self.tree.committed_head().0 {
            // Extends a block below the committed head: it can never be committed, and
            // fetching its ancestry would only waste bounded slots.
            return;
        }
        if !self.tree.contains(&block.parent()) {
            // While far behind, ancestors come by state sync; a proposal at the network's
            // head cannot be voted on until then.
            if self.sync.is_none()
                && self.pending_proposals.len() < self.config.limits.pending_blocks_max
            {
                self.fetch(from, block.parent());
                self.pending_proposals.push((from, proposal));
            }
            return;
        }
        let expected = if block.justify.view.next() == block.view {
            let parent = self.tree.get(&block.parent()).expect("checked above");
            self.leader_after(block.view, parent)
        } else {
            self.committee.leader(block.view)
        };
        if block.proposer != expected {
            // Signed by a member that does not lead this view on this chain.
            return;
        }
        if self.payload.verify(&block.payload).is_err() {
            return;
        }
        // One block per view is kept: a second, equivocating proposal is neither stored nor
        // voted for, so a Byzantine leader cannot fill the tree or the disk.
        self.last_stored_proposal_view = block.view;
        self.last_block_seen = Some((block.digest(), self.now_ms));
        self.store_block(block.clone());
        let qc_view = block.justify.view;
        let tc = proposal.timeout_certificate.as_ref();
        if !self.safety.safe_to_vote(block.view, qc_view, tc) {
            return;
        }
        self.safety.record_voted(block.view);
        self.persist_safety();
        let digest = block.digest();
        let epoch = self.committee.epoch();
        let encoding = vote_encoding(
            self.committee.chain_id(),
            epoch,
            block.view,
            &digest,
            block.height,
        );
        let vote = Vote {
            epoch,
            view: block.view,
            block: digest,
            height: block.height,
            signer: self.me,
            signature: self.signer.sign(SigningDomain::Vote, &encoding).to_bytes(),
        };
        // A vote to ourselves also goes out through the driver, so that every signed vote is
        // visible outside the state machine (audit log, simulator oracle).
        let next_leader = self.leader_after(block.view.next(), block);
        self.outputs.push(Output::Send {
            to: next_leader,
            message: Message::Vote(vote),
        });
    }

    fn store_block(&mut self, block: Block) {
        let digest = block.digest();
        if self.tree.contains(&digest) {
            return;
        }
        if self.tree.insert(block.clone()) {
            self.learned_at_step.entry(digest).or_insert(self.step);
            self.outputs.push(Output::Persist(PersistOp::Block(block)));
        }
    }

    // ----- votes and QCs -----------------------------------------------------------------

    fn on_vote(&mut self, vote: Vote) {
        let oldest = View(self.view.0.saturating_sub(1));
        let newest = View(self.view.0.saturating_add(self.config.limits.view_window));
        if vote.view < oldest || vote.view > newest || vote.view < self.safety.highest_qc.view {
            return;
        }
        if !self.may_gather(vote.view.next(), &vote.block) {
            return;
        }
        let Ok(signature) = Signature::from_bytes(&vote.signature) else {
            return;
        };
        let message = (vote.block, vote.height);
        let votes = self.votes.entry(vote.view).or_default();
        if votes.by_signer.contains_key(&vote.signer) {
            return;
        }
        votes.by_signer.insert(vote.signer, message);
        let set = votes.by_message.entry(message).or_default();
        set.insert(vote.signer, signature);
        if set.len() < self.committee.quorum() {
            return;
        }
        let qc = self.aggregate_qc(vote.view, message);
        self.votes.remove(&vote.view);
        debug_assert!(
            crate::verify::verify_qc(&self.committee, &qc).is_ok(),
            "an aggregate of verified votes over one message verifies"
        );
        self.process_qc(self.me, &qc);
    }

    fn aggregate_qc(&self, view: View, message: (BlockDigest, Height)) -> QuorumCertificate {
        let set = &self.votes[&view].by_message[&message];
        let mut signers =
            SignerBitmap::new(self.committee.size()).expect("committee size was validated");
        for index in set.keys() {
            signers
                .insert(index.as_usize())
                .expect("votes were verified for committee members");
        }
        let signature = Signature::aggregate(set.values()).expect("a quorum is not empty");
        QuorumCertificate {
            epoch: self.committee.epoch(),
            view,
            block: message.0,
            height: message.1,
            signers: signers.as_bytes().to_vec(),
            signature: signature.to_bytes(),
        }
    }

    /// A verified QC: raise the highest QC, apply the 2-chain commit rule, advance the view.
    fn process_qc(&mut self, from: ValidatorIndex, qc: &QuorumCertificate) {
        self.note_qc_height(from, qc.height);
        if self.safety.record_qc(qc) {
            self.persist_safety();
        }
        self.try_commit(from, qc);
        if qc.view.next() > self.view {
            self.timeouts_in_row = 0;
            self.enter_view(qc.view.next());
        }
    }

    /// The 2-chain rule: a QC for block B whose own QC is from the view just before B
    /// commits B's parent (Jolteon §4, "commit rule").
    fn try_commit(&mut self, from: ValidatorIndex, qc: &QuorumCertificate) {
        if qc.height <= self.tree.committed_head().0.next() {
            return;
        }
        let Some(block) = self.tree.get(&qc.block) else {
            if self.sync.is_none() {
                self.fetch(from, qc.block);
            }
            if self
                .pending_commit
                .as_ref()
                .is_none_or(|pending| qc.view > pending.view)
            {
                self.pending_commit = Some(qc.clone());
            }
            return;
        };
        if block.justify.view.next() != block.view {
            return;
        }
        let parent = block.parent();
        self.commit_through(parent);
    }

    /// Commits the held block `digest` and its uncommitted ancestors, and tells the driver.
    fn commit_through(&mut self, digest: BlockDigest) {
        let Some(committed) = self.tree.commit(digest) else {
            // Two certified conflicting chains: impossible with at most f faults. Refuse to
            // move the committed head rather than fork it.
            self.outputs.push(Output::SafetyViolation {
                detail: "a 2-chain commit conflicts with the committed chain",
            });
            return;
        };
        for block in committed {
            let digest = block.digest();
            let height = block.height;
            self.outputs.push(Output::Persist(PersistOp::Committed {
                height,
                block: digest,
            }));
            self.outputs.push(Output::Committed { height, block });
            let learned = self.learned_at_step.remove(&digest).unwrap_or(0);
            if learned == self.step {
                self.deferred_releases.push((height, digest));
            } else {
                self.outputs.push(Output::ReleaseDecryptionShares {
                    height,
                    block: digest,
                });
            }
        }
        let head = self.tree.committed_head().0;
        let tree = &self.tree;
        self.learned_at_step
            .retain(|digest, _| tree.get(digest).is_some_and(|b| b.height > head));
    }

    // ----- timeouts and TCs --------------------------------------------------------------

    fn on_timeout(&mut self, timeout: Timeout) {
        let high_qc = timeout.high_qc.clone();
        self.process_qc(timeout.signer, &high_qc);
        if let Some(tc) = &timeout.last_tc {
            self.on_tc(tc);
        }
        let newest = View(self.view.0.saturating_add(self.config.limits.view_window));
        if timeout.view < self.view || timeout.view > newest {
            return;
        }
        let view = timeout.view;
        let collected = self.timeouts.entry(view).or_default();
        collected.entry(timeout.signer).or_insert(timeout);
        if collected.len() < self.committee.quorum() {
            return;
        }
        let tc = self.aggregate_tc(view);
        self.timeouts.remove(&view);
        self.outputs
            .push(Output::Broadcast(Message::TimeoutCertificate(tc.clone())));
        self.on_tc(&tc);
    }

    fn aggregate_tc(&self, view: View) -> TimeoutCertificate {
        let collected = &self.timeouts[&view];
        let mut signers =
            SignerBitmap::new(self.committee.size()).expect("committee size was validated");
        let mut high_qc_views = Vec::with_capacity(collected.len());
        let mut signatures = Vec::with_capacity(collected.len());
        let mut high_qc = &collected
            .values()
            .next()
            .expect("a quorum is not empty")
            .high_qc;
        for (index, timeout) in collected {
            if timeout.high_qc.view > high_qc.view {
                high_qc = &timeout.high_qc;
            }
            signers
                .insert(index.as_usize())
                .expect("timeouts were verified for committee members");
            high_qc_views.push(timeout.high_qc.view);
            signatures.push(
                Signature::from_bytes(&timeout.signature)
                    .expect("verified timeouts carry valid signatures"),
            );
        }
        let signature = Signature::aggregate(&signatures).expect("a quorum is not empty");
        TimeoutCertificate {
            epoch: self.committee.epoch(),
            view,
            signers: signers.as_bytes().to_vec(),
            high_qc_views,
            signature: signature.to_bytes(),
            high_qc: high_qc.clone(),
        }
    }

    fn on_tc(&mut self, tc: &TimeoutCertificate) {
        self.process_qc(self.me, &tc.high_qc);
        if self.safety.record_tc(tc) {
            self.persist_safety();
        }
        if tc.view.next() > self.view {
            self.enter_view(tc.view.next());
        }
    }

    // ----- fetching missing blocks -------------------------------------------------------

    fn fetch(&mut self, from: ValidatorIndex, digest: BlockDigest) {
        if from == self.me || self.tree.contains(&digest) {
            return;
        }
        // A request lost or left unanswered must not keep its slot forever; one still fresh is
        // not sent again.
        let now = self.now_ms;
        let expiry = self.config.sync_timeout_ms;
        self.fetching
            .retain(|_, sent| now.saturating_sub(*sent) < expiry);
        if self.fetching.contains_key(&digest)
            || self.fetching.len() >= self.config.limits.pending_blocks_max
        {
            return;
        }
        self.fetching.insert(digest, now);
        let count = u16::try_from(self.config.limits.fetch_blocks_max)
            .expect("validated: fetch_blocks_max fits in a u16");
        self.outputs.push(Output::Send {
            to: from,
            message: Message::BlockRequest(BlockRequest { digest, count }),
        });
    }

    fn on_block_request(&mut self, from: ValidatorIndex, request: BlockRequest) {
        let count = usize::from(request.count).min(self.config.limits.fetch_blocks_max);
        let blocks = self.tree.ancestors(request.digest, count);
        if !blocks.is_empty() {
            self.outputs.push(Output::Send {
                to: from,
                message: Message::BlockResponse(blocks),
            });
        }
    }

    /// Accepts only blocks that hash-chain from a digest this node asked for (a digest named by
    /// a verified QC or a proposal), so a responder cannot inject blocks.
    fn on_block_response(&mut self, from: ValidatorIndex, blocks: Vec<Block>) {
        if self.sync.is_some() {
            return;
        }
        let mut wanted: std::collections::BTreeSet<BlockDigest> =
            self.fetching.keys().copied().collect();
        for block in blocks {
            let digest = block.digest();
            if !wanted.contains(&digest) {
                continue;
            }
            wanted.insert(block.parent());
            self.fetching.remove(&digest);
            if self.orphans.len() < self.config.limits.pending_blocks_max {
                self.orphans.insert(digest, block);
            }
        }
        self.adopt_orphans();
        // Ask for the oldest missing ancestor of what we hold.
        let missing: Vec<BlockDigest> = self
            .orphans
            .values()
            .map(Block::parent)
            .filter(|parent| !self.orphans.contains_key(parent) && !self.tree.contains(parent))
            .collect();
        for parent in missing {
            self.fetch(from, parent);
        }
        self.retry_pending();
    }

    fn adopt_orphans(&mut self) {
        loop {
            let ready: Vec<BlockDigest> = self
                .orphans
                .iter()
                .filter(|(_, block)| self.tree.contains(&block.parent()))
                .map(|(digest, _)| *digest)
                .collect();
            if ready.is_empty() {
                break;
            }
            for digest in ready {
                let block = self.orphans.remove(&digest).expect("listed above");
                if block.height > self.tree.committed_head().0 {
                    self.store_block(block);
                }
            }
        }
        let head = self.tree.committed_head().0;
        self.orphans.retain(|_, block| block.height > head);
    }

    fn retry_pending(&mut self) {
        // A proposal held back for want of the certified block may go now.
        self.try_propose();
        if let Some(qc) = self.pending_commit.take() {
            if self.tree.contains(&qc.block) {
                self.try_commit(self.me, &qc);
            } else {
                self.pending_commit = Some(qc);
            }
        }
        let pending = std::mem::take(&mut self.pending_proposals);
        for (from, proposal) in pending {
            if self.tree.contains(&proposal.block.parent()) {
                self.on_proposal(from, proposal);
            } else if proposal.block.view >= self.view {
                self.pending_proposals.push((from, proposal));
            }
        }
    }

    // ----- leaders ---------------------------------------------------------------------------

    /// The leader of the current view as this node sees it: after a QC from the view before,
    /// it follows from the certified block ([`crate::leader::leader_after`]; `None` while that
    /// block is being fetched); after a timeout, round-robin.
    pub fn leader(&self) -> Option<ValidatorIndex> {
        let justify = &self.safety.highest_qc;
        if justify.view.next() == self.view {
            self.tree
                .get(&justify.block)
                .map(|extended| self.leader_after(self.view, extended))
        } else {
            Some(self.committee.leader(self.view))
        }
    }

    /// The leader of `view` when it extends `extended` ([`crate::leader::leader_after`] over
    /// the blocks this node holds).
    fn leader_after(&self, view: View, extended: &Block) -> ValidatorIndex {
        crate::leader::leader_after(&self.committee, view, extended, &|digest| {
            self.tree.get(digest)
        })
    }

    /// Whether this node gathers votes for `block` to form the QC that enters `view`: it
    /// leads `view` after that block, or does not hold the block yet to tell (the votes may
    /// beat the proposal; a QC formed by a validator that turns out not to lead is still a
    /// QC and only moves views).
    pub fn may_gather(&self, view: View, block: &BlockDigest) -> bool {
        match self.tree.get(block) {
            Some(extended) => self.leader_after(view, extended) == self.me,
            None => true,
        }
    }

    // ----- state sync ----------------------------------------------------------------------

    /// A verified QC's height: far above the committed head, this node syncs by height.
    fn note_qc_height(&mut self, from: ValidatorIndex, height: Height) {
        let head = self.tree.committed_head().0;
        if self.committee.size() < 2
            || height.0 <= head.0.saturating_add(self.config.limits.sync_gap())
        {
            return;
        }
        if let Some(sync) = self.sync.as_mut() {
            sync.target = sync.target.max(height);
            return;
        }
        let peer = if from == self.me {
            self.next_peer(self.me)
        } else {
            from
        };
        self.sync = Some(Sync {
            target: height,
            peer,
            sent_at: None,
            buffer: Vec::new(),
            stranded: None,
        });
        self.sync_step();
    }

    /// Whether state sync waits for the driver: more than twice `sync_blocks_max` committed
    /// blocks are not processed yet.
    fn sync_paced(&self) -> bool {
        let lead = 2 * self.config.limits.sync_blocks_max as u64;
        let head = self.tree.committed_head().0;
        self.processed
            .is_some_and(|processed| head.0 > processed.0.saturating_add(lead))
    }

    /// The peer after `after`, skipping this node.
    fn next_peer(&self, after: ValidatorIndex) -> ValidatorIndex {
        let size = u16::try_from(self.committee.size())
            .unwrap_or(u16::MAX)
            .max(1);
        let mut next = ValidatorIndex((after.0 + 1) % size);
        if next == self.me {
            next = ValidatorIndex((next.0 + 1) % size);
        }
        next
    }

    /// Ends sync once caught up; otherwise asks for the next blocks unless a request is
    /// outstanding, the driver is too far behind, or an expired request moves to the next peer.
    fn sync_step(&mut self) {
        let Some(mut sync) = self.sync.take() else {
            return;
        };
        let (head, head_digest) = self.tree.committed_head();
        if head.0.saturating_add(self.config.limits.sync_gap()) >= sync.target.0 {
            // Close enough: the rest comes by fetching ancestors, as for any proposal.
            return;
        }
        // Blocks committed meanwhile by other means leave the buffer; a buffer that no longer
        // extends the head is dropped.
        sync.buffer.retain(|block| block.height > head);
        if sync
            .buffer
            .first()
            .is_some_and(|first| first.parent() != head_digest)
        {
            sync.buffer.clear();
        }
        let max = self.config.limits.sync_blocks_max;
        if let Some(sent) = sync.sent_at {
            if self.now_ms.saturating_sub(sent) < self.config.sync_timeout_ms {
                self.sync = Some(sync);
                return;
            }
            sync.sent_at = None;
            sync.buffer.clear();
            sync.peer = self.next_peer(sync.peer);
        }
        if self.sync_paced() {
            self.sync = Some(sync);
            return;
        }
        let tip = sync.buffer.last().map_or(head, |block| block.height);
        let room = (2 * max).saturating_sub(sync.buffer.len()).clamp(1, max);
        sync.sent_at = Some(self.now_ms);
        self.outputs.push(Output::Send {
            to: sync.peer,
            message: Message::SyncRequest(SyncRequest {
                from: tip.next(),
                count: u16::try_from(room).unwrap_or(u16::MAX),
            }),
        });
        self.sync = Some(sync);
    }

    fn on_sync_request(&mut self, from: ValidatorIndex, request: SyncRequest) {
        if from == self.me {
            return;
        }
        let most = u16::try_from(self.config.limits.sync_blocks_max).unwrap_or(u16::MAX);
        self.outputs.push(Output::ServeSync {
            to: from,
            from: request.from,
            count: request.count.min(most),
        });
    }

    /// Takes what hash-chains from the committed head (through the blocks held), and commits
    /// through the highest block the 2-chain rule proves from what is held.
    fn on_sync_response(&mut self, from: ValidatorIndex, response: SyncResponse) {
        let Some(mut sync) = self.sync.take() else {
            return;
        };
        if from != sync.peer || sync.sent_at.is_none() {
            self.sync = Some(sync);
            return;
        }
        sync.sent_at = None;
        let (head, head_digest) = self.tree.committed_head();
        sync.buffer.retain(|block| block.height > head);
        let (tip, mut tip_digest) = match sync.buffer.last() {
            Some(block) => (block.height, block.digest()),
            None => (head, head_digest),
        };
        let needed = tip.next();
        if response.kept_from > needed {
            // The peer no longer keeps what this node needs: it cannot catch up from it. The
            // next peer is asked once this answer's slot expires.
            if sync.stranded != Some((from, needed)) {
                sync.stranded = Some((from, needed));
                self.outputs.push(Output::SyncStranded {
                    peer: from,
                    needed,
                    kept_from: response.kept_from,
                });
            }
            sync.sent_at = Some(self.now_ms);
            self.sync = Some(sync);
            return;
        }
        let max = 2 * self.config.limits.sync_blocks_max;
        let mut took = 0usize;
        let mut broken = false;
        for block in response.blocks {
            if block.height.0 <= tip.0 + took as u64 {
                continue;
            }
            if sync.buffer.len() >= max {
                break;
            }
            if block.height != Height(tip.0 + took as u64 + 1) || block.parent() != tip_digest {
                broken = true;
                break;
            }
            tip_digest = block.digest();
            sync.buffer.push(block);
            took += 1;
        }
        if broken {
            // Committed blocks never change: a chain that does not extend ours is a faulty
            // peer's (or a stale answer). Start over with the next peer.
            sync.buffer.clear();
            sync.peer = self.next_peer(sync.peer);
            self.sync = Some(sync);
            self.sync_step();
            return;
        }
        if took == 0 {
            // Nothing new here: the next peer is asked once this answer's slot expires.
            sync.sent_at = Some(self.now_ms);
            self.sync = Some(sync);
            return;
        }
        match self.proven_prefix(&sync.buffer) {
            Ok(Some(through)) => {
                let proven: Vec<Block> = sync.buffer.drain(..=through).collect();
                let last = proven.last().map(Block::digest);
                for block in proven {
                    self.store_block(block);
                }
                if let Some(last) = last {
                    self.commit_through(last);
                }
            }
            Ok(None) if sync.buffer.len() >= max => {
                // As many blocks as may be held, and none proven: not a committed chain.
                sync.buffer.clear();
                sync.peer = self.next_peer(sync.peer);
            }
            Ok(None) => {}
            Err(()) => {
                sync.buffer.clear();
                sync.peer = self.next_peer(sync.peer);
            }
        }
        self.sync = Some(sync);
        self.sync_step();
        self.retry_pending();
    }

    /// The index of the highest block of `chain` (hash-chained from the committed head) that
    /// the 2-chain rule proves committed from `chain` itself: its child `c` has a QC of the
    /// directly preceding view, and `c`'s own QC (carried by `c`'s child) verifies. `Err` when
    /// that QC does not verify (a faulty peer).
    fn proven_prefix(&self, chain: &[Block]) -> Result<Option<usize>, ()> {
        for index in (0..chain.len().saturating_sub(2)).rev() {
            let child = &chain[index + 1];
            if child.justify.view.next() != child.view {
                continue;
            }
            let qc = &chain[index + 2].justify;
            if qc.view != child.view || qc.height != child.height {
                return Err(());
            }
            return match crate::verify::verify_qc(&self.committee, qc) {
                Ok(()) => Ok(Some(index)),
                Err(_) => Err(()),
            };
        }
        Ok(None)
    }
}
