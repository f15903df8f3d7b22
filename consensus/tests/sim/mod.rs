//! A deterministic simulator for the consensus state machine: N validators on one thread,
//! driven by one `u64` seed, with a virtual clock, simulated links (latency, jitter, loss,
//! reordering, partitions that heal), crash and restart from a store that loses unflushed
//! writes, and Byzantine validators. An oracle written independently of the production
//! predicates watches every run.
//!
//! Replay a seed: `SHROUD_SIM_SEED=<seed> cargo test -p shroud-consensus --test simulation`.

#![allow(dead_code)]

pub mod oracle;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use shroud_consensus::types::proposal_encoding;
use shroud_consensus::types::vote_encoding;
use shroud_consensus::{
    verify_message, Committee, Config, Consensus, Epoch, Height, Input, Limits, Message, Output,
    Payload, PayloadSource, ValidatorIndex, View, Vote,
};
use shroud_crypto::{CommitteeKeys, SecretKey, SigningDomain};
use shroud_storage::{ConsensusStore, MemoryStore};

use oracle::Oracle;

/// A simulated validator instance: a committee slot, and which twin (0 unless Twins).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    pub slot: usize,
    pub twin: u8,
}

/// How a Byzantine validator misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// As leader, sends one block to half the committee and another to the rest.
    Equivocator,
    /// Votes for every proposal it sees, ignoring the voting rules.
    ConflictingVoter,
    /// Never sends its proposals or votes (still sends timeouts).
    Withholder,
    /// Announces decryption shares for blocks it has only seen proposed.
    EarlyRevealer,
    /// Two honest-looking instances share this slot's key (see [`SimConfig::partitions`] to
    /// split them).
    Twins,
}

/// A network partition: during `[start_ms, end_ms)` only nodes in the same group talk.
#[derive(Clone, Debug)]
pub struct Partition {
    pub start_ms: u64,
    pub end_ms: u64,
    pub groups: Vec<Vec<NodeId>>,
}

/// A crash of an honest node and its restart from its store.
#[derive(Clone, Copy, Debug)]
pub struct Crash {
    pub slot: usize,
    pub at_ms: u64,
    pub restart_ms: u64,
}

/// A link that carries nothing from `from` to `to` during `[start_ms, end_ms)` (the other
/// direction still works).
#[derive(Clone, Copy, Debug)]
pub struct OneWay {
    pub from: usize,
    pub to: usize,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// One simulation.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub n: usize,
    pub latency_ms: u64,
    pub jitter_ms: u64,
    pub loss: f64,
    pub partitions: Vec<Partition>,
    pub crashes: Vec<Crash>,
    pub byzantine: Vec<(usize, Behaviour)>,
    /// Virtual time after the last fault heals within which every honest node must commit.
    pub liveness_bound_ms: u64,
    /// Stop once every honest node committed this many blocks after the last fault healed.
    pub target_commits_after_heal: u64,
    pub base_timeout_ms: u64,
    /// The leaders' proposal interval (`Config::proposal_interval_min_ms`).
    pub proposal_interval_min_ms: u64,
    /// Committed blocks each node keeps in memory (`Limits::committed_blocks_kept`): an outage
    /// longer than this needs state sync.
    pub committed_blocks_kept: usize,
    /// Probability that a message is delivered twice (the copy later).
    pub duplicate: f64,
    /// Links that are down in one direction only.
    pub one_way: Vec<OneWay>,
    /// Slots whose every outgoing message takes this much longer (a slow node).
    pub slow: Vec<(usize, u64)>,
}

impl SimConfig {
    pub fn new(seed: u64, n: usize) -> Self {
        Self {
            seed,
            n,
            latency_ms: 20,
            jitter_ms: 30,
            loss: 0.0,
            partitions: Vec::new(),
            crashes: Vec::new(),
            byzantine: Vec::new(),
            liveness_bound_ms: 60_000,
            target_commits_after_heal: 5,
            base_timeout_ms: 500,
            proposal_interval_min_ms: 0,
            committed_blocks_kept: Limits::default().committed_blocks_kept,
            duplicate: 0.0,
            one_way: Vec::new(),
            slow: Vec::new(),
        }
    }

    /// When the last partition heals or the last crashed node restarts.
    pub fn heal_ms(&self) -> u64 {
        let partitions = self.partitions.iter().map(|p| p.end_ms);
        let crashes = self.crashes.iter().map(|c| c.restart_ms);
        let links = self.one_way.iter().map(|l| l.end_ms);
        partitions.chain(crashes).chain(links).max().unwrap_or(0)
    }

    /// How `slot` misbehaves, if it does.
    pub fn behaviour_of(&self, slot: usize) -> Option<Behaviour> {
        self.behaviour(slot)
    }

    fn behaviour(&self, slot: usize) -> Option<Behaviour> {
        self.byzantine
            .iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, behaviour)| *behaviour)
    }
}

/// Payloads made from the proposer and a counter; every payload is acceptable.
#[derive(Debug)]
pub struct SimPayload {
    slot: usize,
    counter: u64,
}

impl PayloadSource for SimPayload {
    fn propose(&mut self, height: Height) -> Payload {
        self.counter += 1;
        Payload(format!("node {} height {} #{}", self.slot, height.0, self.counter).into_bytes())
    }

    fn verify(&mut self, payload: &Payload) -> Result<(), String> {
        if payload.0.len() > 256 {
            return Err("simulated payloads are short".into());
        }
        Ok(())
    }
}

struct Node {
    id: NodeId,
    consensus: Option<Consensus<SimPayload>>,
    store: MemoryStore,
    behaviour: Option<Behaviour>,
    deadline_ms: Option<u64>,
}

#[derive(Clone, Debug)]
enum Event {
    Deliver {
        to: NodeId,
        from: usize,
        message: Box<Message>,
    },
    Tick {
        node: NodeId,
    },
    Crash {
        slot: usize,
    },
    Restart {
        slot: usize,
    },
}

/// What a run produced.
#[derive(Debug)]
pub struct Report {
    pub seed: u64,
    pub violations: Vec<String>,
    pub trace_hash: String,
    pub end_ms: u64,
    pub committed: BTreeMap<usize, u64>,
    /// Committed heights when the last fault healed.
    pub at_heal: BTreeMap<usize, u64>,
    pub live: bool,
    pub liveness_detail: String,
    pub delivered: u64,
    pub rejected: u64,
    pub early_share_notes: u64,
    /// State-sync answers served.
    pub sync_answers: u64,
}

pub struct Simulation {
    config: SimConfig,
    rng: ChaCha20Rng,
    committee: Committee,
    keys: Vec<SecretKey>,
    consensus_config: Config,
    nodes: Vec<Node>,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    events: Vec<Option<Event>>,
    sequence: u64,
    now_ms: u64,
    oracle: Oracle,
    trace: Sha256,
    verified: HashMap<[u8; 32], Option<shroud_consensus::Verified<Message>>>,
    delivered: u64,
    rejected: u64,
    early_share_notes: u64,
    sync_answers: u64,
}

const EPOCH: Epoch = Epoch(1);
/// The chain every test committee signs for.
const CHAIN_ID: u64 = 7;

impl Simulation {
    pub fn new(config: SimConfig) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(config.seed);
        let keys: Vec<SecretKey> = (0..config.n)
            .map(|_| SecretKey::generate(&mut rng))
            .collect();
        let members: Vec<_> = keys
            .iter()
            .map(|key| (key.public_key(), key.prove_possession()))
            .collect();
        let committee = Committee::new(
            CHAIN_ID,
            EPOCH,
            CommitteeKeys::new(&members).expect("simulated committee is valid"),
        );
        let consensus_config = Config {
            base_timeout_ms: config.base_timeout_ms,
            backoff_exponent_max: 3,
            empty_block_delay_ms: 0,
            proposal_interval_min_ms: config.proposal_interval_min_ms,
            sync_timeout_ms: 2 * config.base_timeout_ms,
            limits: Limits {
                committed_blocks_kept: config.committed_blocks_kept,
                ..Limits::default()
            },
        };
        let mut simulation = Self {
            rng,
            committee,
            keys,
            consensus_config,
            nodes: Vec::new(),
            queue: BinaryHeap::new(),
            events: Vec::new(),
            sequence: 0,
            now_ms: 0,
            oracle: Oracle::new(config.n),
            trace: Sha256::new(),
            verified: HashMap::new(),
            delivered: 0,
            rejected: 0,
            early_share_notes: 0,
            sync_answers: 0,
            config,
        };
        for slot in 0..simulation.config.n {
            let behaviour = simulation.config.behaviour(slot);
            let twins = if behaviour == Some(Behaviour::Twins) {
                2
            } else {
                1
            };
            for twin in 0..twins {
                let id = NodeId { slot, twin };
                let consensus = simulation.make_consensus(slot, None);
                simulation.nodes.push(Node {
                    id,
                    consensus: Some(consensus),
                    store: MemoryStore::new(),
                    behaviour,
                    deadline_ms: None,
                });
            }
        }
        for crash in simulation.config.crashes.clone() {
            simulation.schedule(crash.at_ms, Event::Crash { slot: crash.slot });
            simulation.schedule(crash.restart_ms, Event::Restart { slot: crash.slot });
        }
        simulation
    }

    fn make_consensus(
        &self,
        slot: usize,
        recovered: Option<shroud_consensus::Recovered>,
    ) -> Consensus<SimPayload> {
        Consensus::new(
            self.consensus_config.clone(),
            self.committee.clone(),
            ValidatorIndex(slot as u16),
            self.keys[slot].clone(),
            SimPayload { slot, counter: 0 },
            recovered,
        )
        .expect("simulated node configuration is valid")
    }

    fn schedule(&mut self, at_ms: u64, event: Event) {
        self.sequence += 1;
        let index = self.events.len();
        self.events.push(Some(event));
        self.queue.push(Reverse((at_ms, self.sequence, index)));
    }

    fn honest(&self, slot: usize) -> bool {
        self.config.behaviour(slot).is_none()
    }

    /// Runs until every honest node committed enough after the last heal, or the liveness
    /// bound passes.
    pub fn run(mut self) -> Report {
        for index in 0..self.nodes.len() {
            self.step(index, Input::Start);
        }
        let heal_ms = self.config.heal_ms();
        let end_ms = heal_ms + self.config.liveness_bound_ms;
        let mut baseline: Option<BTreeMap<usize, u64>> = None;
        while let Some(Reverse((at_ms, _, index))) = self.queue.pop() {
            if at_ms > end_ms {
                break;
            }
            self.now_ms = at_ms;
            if baseline.is_none() && at_ms >= heal_ms {
                baseline = Some(self.oracle.heights());
            }
            let event = self.events[index].take().expect("each event fires once");
            self.dispatch(event);
            if let Some(base) = &baseline {
                if self.all_progressed(base, self.config.target_commits_after_heal) {
                    break;
                }
            }
        }
        let base = baseline.unwrap_or_else(|| self.oracle.heights());
        let live = self.all_progressed(&base, 1);
        let liveness_detail = format!(
            "heights at heal {:?}, at end {:?}",
            base,
            self.oracle.heights()
        );
        Report {
            seed: self.config.seed,
            violations: self.oracle.violations().to_vec(),
            trace_hash: hex::encode(self.trace.finalize()),
            end_ms: self.now_ms,
            committed: self.oracle.heights(),
            at_heal: base.clone(),
            live,
            liveness_detail,
            delivered: self.delivered,
            rejected: self.rejected,
            early_share_notes: self.early_share_notes,
            sync_answers: self.sync_answers,
        }
    }

    fn all_progressed(&self, base: &BTreeMap<usize, u64>, count: u64) -> bool {
        let heights = self.oracle.heights();
        (0..self.config.n)
            .filter(|slot| self.honest(*slot))
            .all(|slot| {
                heights.get(&slot).copied().unwrap_or(0)
                    >= base.get(&slot).copied().unwrap_or(0) + count
            })
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Deliver { to, from, message } => self.deliver(to, from, *message),
            Event::Tick { node } => {
                let Some(index) = self.node_index(node) else {
                    return;
                };
                let due = self.nodes[index]
                    .deadline_ms
                    .is_some_and(|at| at <= self.now_ms);
                if due {
                    self.nodes[index].deadline_ms = None;
                    self.step(index, Input::Tick);
                }
            }
            Event::Crash { slot } => {
                self.trace_line(format!("crash {slot}"));
                for node in self.nodes.iter_mut().filter(|node| node.id.slot == slot) {
                    node.consensus = None;
                    node.deadline_ms = None;
                    node.store.crash();
                }
            }
            Event::Restart { slot } => {
                self.trace_line(format!("restart {slot}"));
                for index in 0..self.nodes.len() {
                    if self.nodes[index].id.slot != slot {
                        continue;
                    }
                    let recovered = self.nodes[index]
                        .store
                        .recover()
                        .expect("memory store recovers");
                    let consensus = self.make_consensus(slot, recovered);
                    self.nodes[index].consensus = Some(consensus);
                    self.step(index, Input::Start);
                }
            }
        }
    }

    fn node_index(&self, id: NodeId) -> Option<usize> {
        self.nodes.iter().position(|node| node.id == id)
    }

    fn trace_line(&mut self, line: String) {
        if std::env::var_os("SHROUD_SIM_TRACE").is_some() {
            eprintln!("{} {}", self.now_ms, line);
        }
        self.trace
            .update(format!("{} {}\n", self.now_ms, line).as_bytes());
    }

    fn message_digest(message: &Message) -> [u8; 32] {
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(message).expect("messages encode");
        Sha256::digest(&bytes).into()
    }

    fn deliver(&mut self, to: NodeId, from: usize, message: Message) {
        let Some(index) = self.node_index(to) else {
            return;
        };
        if self.nodes[index].consensus.is_none() {
            return;
        }
        let digest = Self::message_digest(&message);
        self.trace_line(format!(
            "deliver {}->{}.{} {}",
            from,
            to.slot,
            to.twin,
            hex::encode(&digest[..8])
        ));
        // Each distinct message is verified once with the production verifier; the result is a
        // pure function of the message and the committee, so it is reused for every receiver.
        let committee = &self.committee;
        let verified = self
            .verified
            .entry(digest)
            .or_insert_with(|| verify_message(committee, &Limits::default(), message.clone()).ok())
            .clone();
        let Some(verified) = verified else {
            self.rejected += 1;
            return;
        };
        self.delivered += 1;
        if self.nodes[index].behaviour == Some(Behaviour::ConflictingVoter) {
            self.conflicting_vote(index, &message);
        }
        if self.nodes[index].behaviour == Some(Behaviour::EarlyRevealer) {
            if let Message::Proposal(proposal) = &message {
                // The revealer announces shares for a block it has only seen proposed. Honest
                // nodes have no channel that acts on such an announcement; the oracle checks
                // that their own releases still follow their commits.
                self.early_share_notes += 1;
                self.trace_line(format!("early share note {}", proposal.block.height.0));
            }
        }
        self.step(
            index,
            Input::Message {
                from: ValidatorIndex(from as u16),
                message: verified,
            },
        );
    }

    fn conflicting_vote(&mut self, index: usize, message: &Message) {
        let Message::Proposal(proposal) = message else {
            return;
        };
        let slot = self.nodes[index].id.slot;
        let block = &proposal.block;
        let digest = block.digest();
        let encoding = vote_encoding(CHAIN_ID, EPOCH, block.view, &digest, block.height);
        let vote = Vote {
            epoch: EPOCH,
            view: block.view,
            block: digest,
            height: block.height,
            signer: ValidatorIndex(slot as u16),
            signature: self.keys[slot]
                .sign(SigningDomain::Vote, &encoding)
                .to_bytes(),
        };
        // To everyone: whoever leads the next view on any chain gets it.
        let from = self.nodes[index].id;
        for to in 0..self.config.n {
            self.send(from, to, Message::Vote(vote.clone()));
        }
    }

    fn step(&mut self, index: usize, input: Input) {
        let now_ms = self.now_ms;
        let Some(consensus) = self.nodes[index].consensus.as_mut() else {
            return;
        };
        let outputs = consensus.handle(now_ms, input);
        let next = consensus.next_deadline();
        if std::env::var_os("SHROUD_SIM_TRACE").is_some() {
            let view = consensus.view();
            for output in &outputs {
                let kind = match output {
                    Output::Persist(_) => continue,
                    Output::Send { to, message } => {
                        format!("send to {} {}", to.0, kind_of(message))
                    }
                    Output::Broadcast(message) => format!("broadcast {}", kind_of(message)),
                    Output::Deadline { at_ms } => format!("deadline {at_ms}"),
                    other => format!("{other:?}").chars().take(80).collect(),
                };
                eprintln!(
                    "{now_ms}   node {:?} view {} {kind}",
                    self.nodes[index].id, view.0
                );
            }
        }
        self.apply_outputs(index, outputs);
        if let Some(at_ms) = next {
            self.arm(index, at_ms);
        }
    }

    fn arm(&mut self, index: usize, at_ms: u64) {
        let at_ms = at_ms.max(self.now_ms);
        if self.nodes[index].deadline_ms == Some(at_ms) {
            return;
        }
        self.nodes[index].deadline_ms = Some(at_ms);
        let node = self.nodes[index].id;
        self.schedule(at_ms, Event::Tick { node });
    }

    fn apply_outputs(&mut self, index: usize, outputs: Vec<Output>) {
        let id = self.nodes[index].id;
        let honest = self.honest(id.slot);
        for output in outputs {
            match output {
                Output::Persist(op) => {
                    self.nodes[index]
                        .store
                        .apply(&op)
                        .expect("memory store accepts writes");
                }
                Output::Send { to, message } => {
                    self.before_speaking(index, honest, &message);
                    self.send_from(index, to.as_usize(), message);
                }
                Output::Broadcast(message) => {
                    self.before_speaking(index, honest, &message);
                    self.broadcast_from(index, message);
                }
                Output::Deadline { at_ms } => self.arm(index, at_ms),
                Output::Committed { height, block } => {
                    self.flush(index);
                    self.trace_line(format!(
                        "commit {} {} {:?}",
                        id.slot,
                        height.0,
                        block.digest()
                    ));
                    if honest {
                        self.oracle.committed(id.slot, &block);
                    }
                }
                Output::ReleaseDecryptionShares { height, block } => {
                    self.flush(index);
                    if honest {
                        self.oracle.released(id.slot, height, block);
                    }
                }
                Output::ServeSync { to, from, count } => {
                    // Served from the durable store, as a validator serves from disk.
                    let served = self.nodes[index]
                        .store
                        .committed_blocks(from, usize::from(count), 1 << 20)
                        .expect("memory store reads");
                    self.sync_answers += 1;
                    self.send_from(
                        index,
                        to.as_usize(),
                        Message::SyncResponse(shroud_consensus::SyncResponse {
                            blocks: served.blocks,
                            kept_from: served.kept_from,
                            committed: served.committed,
                        }),
                    );
                }
                Output::SyncStranded { .. } => {
                    self.oracle.report(format!(
                        "node {} stranded: its peers keep every block",
                        id.slot
                    ));
                }
                Output::SafetyViolation { detail } => {
                    if honest {
                        self.oracle
                            .report(format!("node {} saw: {detail}", id.slot));
                    }
                }
            }
        }
    }

    /// Persist before you speak: flush, then check that what the message commits to is
    /// durable.
    fn flush(&mut self, index: usize) {
        let store = &mut self.nodes[index].store;
        if !store.is_flushed() {
            store.flush().expect("memory store flushes");
        }
    }

    fn before_speaking(&mut self, index: usize, honest: bool, message: &Message) {
        self.flush(index);
        let node = &self.nodes[index];
        if !honest {
            return;
        }
        let slot = node.id.slot;
        let durable = node.store.durable_safety().cloned();
        let durable_voted = durable.as_ref().map_or(View(0), |s| s.last_voted_view);
        let durable_proposed = durable.as_ref().map_or(View(0), |s| s.last_proposed_view);
        match message {
            Message::Vote(vote) => {
                if durable_voted < vote.view {
                    self.oracle.report(format!(
                        "node {slot} sent a vote for view {} before persisting it",
                        vote.view
                    ));
                }
                self.oracle.voted(slot, vote.view, vote.block);
            }
            Message::Timeout(timeout) => {
                if durable_voted < timeout.view {
                    self.oracle.report(format!(
                        "node {slot} sent a timeout for view {} before persisting it",
                        timeout.view
                    ));
                }
                self.oracle.timed_out(slot, timeout.view);
            }
            Message::Proposal(proposal) if durable_proposed < proposal.block.view => {
                self.oracle.report(format!(
                    "node {slot} sent a proposal for view {} before persisting it",
                    proposal.block.view
                ));
            }
            _ => {}
        }
    }

    fn send_from(&mut self, index: usize, to: usize, message: Message) {
        if self.nodes[index].behaviour == Some(Behaviour::Withholder)
            && matches!(message, Message::Proposal(_) | Message::Vote(_))
        {
            return;
        }
        let from = self.nodes[index].id;
        self.send(from, to, message);
    }

    fn broadcast_from(&mut self, index: usize, message: Message) {
        let from = self.nodes[index].id;
        let slot = from.slot;
        let behaviour = self.nodes[index].behaviour;
        if behaviour == Some(Behaviour::Withholder) && matches!(message, Message::Proposal(_)) {
            return;
        }
        if behaviour == Some(Behaviour::Equivocator) {
            if let Message::Proposal(proposal) = &message {
                let mut other = proposal.clone();
                other.block.payload = Payload(b"equivocation".to_vec());
                let encoding =
                    proposal_encoding(CHAIN_ID, EPOCH, other.block.view, &other.block.digest());
                other.signature = self.keys[slot]
                    .sign(SigningDomain::Proposal, &encoding)
                    .to_bytes();
                for to in (0..self.config.n).filter(|to| *to != slot) {
                    let chosen = if to % 2 == 0 {
                        message.clone()
                    } else {
                        Message::Proposal(other.clone())
                    };
                    self.send(from, to, chosen);
                }
                return;
            }
        }
        for to in 0..self.config.n {
            if to != slot {
                self.send(from, to, message.clone());
            }
        }
    }

    /// Puts a message on the links from instance `from` to every instance of slot `to` (both
    /// twins of a twinned slot, each subject to partitions).
    fn send(&mut self, from: NodeId, to: usize, message: Message) {
        let receivers: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|node| node.id.slot == to)
            .map(|node| node.id)
            .collect();
        for receiver in receivers {
            let to_self = receiver == from;
            if !to_self && !self.connected(from, receiver) {
                continue;
            }
            if !to_self && self.config.loss > 0.0 && self.rng.gen_bool(self.config.loss) {
                continue;
            }
            if !to_self && self.one_way_down(from.slot, receiver.slot) {
                continue;
            }
            let slow = self
                .config
                .slow
                .iter()
                .filter(|(slot, _)| *slot == from.slot)
                .map(|(_, extra)| *extra)
                .sum::<u64>();
            let delay = if to_self {
                0
            } else {
                self.config.latency_ms + slow + self.rng.gen_range(0..=self.config.jitter_ms)
            };
            self.schedule(
                self.now_ms + delay,
                Event::Deliver {
                    to: receiver,
                    from: from.slot,
                    message: Box::new(message.clone()),
                },
            );
            if !to_self && self.config.duplicate > 0.0 && self.rng.gen_bool(self.config.duplicate) {
                let again = delay + self.rng.gen_range(1..=4 * self.config.latency_ms.max(1));
                self.schedule(
                    self.now_ms + again,
                    Event::Deliver {
                        to: receiver,
                        from: from.slot,
                        message: Box::new(message.clone()),
                    },
                );
            }
        }
    }

    fn one_way_down(&self, from: usize, to: usize) -> bool {
        self.config.one_way.iter().any(|link| {
            link.from == from
                && link.to == to
                && link.start_ms <= self.now_ms
                && self.now_ms < link.end_ms
        })
    }

    fn connected(&self, a: NodeId, b: NodeId) -> bool {
        self.config
            .partitions
            .iter()
            .filter(|p| p.start_ms <= self.now_ms && self.now_ms < p.end_ms)
            .all(|p| {
                let group_of = |id: NodeId| p.groups.iter().position(|g| g.contains(&id));
                match (group_of(a), group_of(b)) {
                    (Some(x), Some(y)) => x == y,
                    // Nodes not named in any group are isolated during the partition.
                    _ => false,
                }
            })
    }
}

fn kind_of(message: &Message) -> String {
    match message {
        Message::Proposal(p) => format!(
            "proposal v{} h{} qc{} tc{:?}",
            p.block.view.0,
            p.block.height.0,
            p.block.justify.view.0,
            p.timeout_certificate.as_ref().map(|tc| tc.view.0)
        ),
        Message::Vote(v) => format!("vote v{}", v.view.0),
        Message::Timeout(t) => format!("timeout v{} hqc{}", t.view.0, t.high_qc.view.0),
        Message::TimeoutCertificate(tc) => format!("tc v{}", tc.view.0),
        Message::BlockRequest(_) => "block request".into(),
        Message::BlockResponse(b) => format!("block response {}", b.len()),
        Message::SyncRequest(r) => format!("sync request {} +{}", r.from.0, r.count),
        Message::SyncResponse(r) => format!("sync response {}", r.blocks.len()),
    }
}
