//! Targeted scenarios on one validator fed crafted messages:
//! - decryption-share release follows commit: in the same step when the block was known
//!   before, one step later when the committing step first learned the block (a fetch);
//! - hostile inputs found in review: out-of-range views, a vote that reuses a block digest with
//!   another height, a TC that claims a QC nobody holds;
//! - state sync takes only what an answer proves (broken chains, forged QCs, unasked and
//!   stranded answers commit nothing).

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use shroud_consensus::types::{proposal_encoding, timeout_encoding, vote_encoding};
use shroud_consensus::{
    verify_message, Block, Committee, Config, Consensus, ConsensusError, Epoch, Height, Input,
    Limits, Message, Output, Payload, PayloadSource, Proposal, QuorumCertificate,
    TimeoutCertificate, ValidatorIndex, View, Vote,
};
use shroud_crypto::{CommitteeKeys, SecretKey, Signature, SignerBitmap, SigningDomain};

const EPOCH: Epoch = Epoch(1);
/// The chain every test committee signs for.
const CHAIN_ID: u64 = 7;
const ME: ValidatorIndex = ValidatorIndex(3);

struct AnyPayload;

impl PayloadSource for AnyPayload {
    fn propose(&mut self, height: Height) -> Payload {
        Payload(height.0.to_be_bytes().to_vec())
    }

    fn verify(&mut self, _payload: &Payload) -> Result<(), String> {
        Ok(())
    }
}

struct Chain {
    keys: Vec<SecretKey>,
    committee: Committee,
    proposals: Vec<Proposal>,
}

impl Chain {
    /// Proposals for views 1..=views, each extending the previous with a QC by 0, 1, 2.
    fn new(views: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(99);
        let keys: Vec<SecretKey> = (0..4).map(|_| SecretKey::generate(&mut rng)).collect();
        let members: Vec<_> = keys
            .iter()
            .map(|key| (key.public_key(), key.prove_possession()))
            .collect();
        let committee = Committee::new(
            CHAIN_ID,
            EPOCH,
            CommitteeKeys::new(&members).expect("committee"),
        );
        let mut proposals = Vec::new();
        let mut justify = QuorumCertificate::genesis(EPOCH);
        for view in 1..=views {
            let leader = (view % 4) as u16;
            let block = Block {
                epoch: EPOCH,
                view: View(view),
                height: justify.height.next(),
                proposer: ValidatorIndex(leader),
                payload: Payload(vec![view as u8]),
                justify,
            };
            let encoding = proposal_encoding(CHAIN_ID, EPOCH, block.view, &block.digest());
            let signature = keys[usize::from(leader)].sign(SigningDomain::Proposal, &encoding);
            justify = Self::certify(&keys, &block);
            proposals.push(Proposal {
                block,
                timeout_certificate: None,
                signature: signature.to_bytes(),
            });
        }
        Self {
            keys,
            committee,
            proposals,
        }
    }

    fn certify(keys: &[SecretKey], block: &Block) -> QuorumCertificate {
        let digest = block.digest();
        let encoding = vote_encoding(CHAIN_ID, EPOCH, block.view, &digest, block.height);
        let mut signers = SignerBitmap::new(4).expect("bitmap");
        let signatures: Vec<Signature> = (0..3)
            .map(|index| {
                signers.insert(index).expect("in range");
                keys[index].sign(SigningDomain::Vote, &encoding)
            })
            .collect();
        QuorumCertificate {
            epoch: EPOCH,
            view: block.view,
            block: digest,
            height: block.height,
            signers: signers.as_bytes().to_vec(),
            signature: Signature::aggregate(&signatures)
                .expect("quorum")
                .to_bytes(),
        }
    }

    fn node(&self) -> Consensus<AnyPayload> {
        let mut node = Consensus::new(
            Config::default(),
            self.committee.clone(),
            ME,
            self.keys[usize::from(ME.0)].clone(),
            AnyPayload,
            None,
        )
        .expect("valid node");
        node.handle(0, Input::Start);
        node
    }

    fn deliver(
        &self,
        node: &mut Consensus<AnyPayload>,
        from: u16,
        message: Message,
    ) -> Vec<Output> {
        let message =
            verify_message(&self.committee, &Limits::default(), message).expect("valid message");
        node.handle(
            1,
            Input::Message {
                from: ValidatorIndex(from),
                message,
            },
        )
    }
}

fn committed(outputs: &[Output]) -> Vec<u64> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Committed { height, .. } => Some(height.0),
            _ => None,
        })
        .collect()
}

fn released(outputs: &[Output]) -> Vec<u64> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::ReleaseDecryptionShares { height, .. } => Some(height.0),
            _ => None,
        })
        .collect()
}

#[test]
fn release_follows_commit_in_the_same_step_for_known_blocks() {
    let chain = Chain::new(4);
    let mut node = chain.node();
    let mut all = Vec::new();
    for proposal in &chain.proposals {
        let from = proposal.block.proposer.0;
        let outputs = chain.deliver(&mut node, from, Message::Proposal(proposal.clone()));
        // Within one step, every release comes after the commit of its height.
        for height in released(&outputs) {
            let commit_position = outputs
                .iter()
                .position(|o| matches!(o, Output::Committed { height: h, .. } if h.0 == height));
            let release_position = outputs.iter().position(
                |o| matches!(o, Output::ReleaseDecryptionShares { height: h, .. } if h.0 == height),
            );
            assert!(commit_position < release_position);
        }
        all.extend(outputs);
    }
    // Proposal 3 carries QC(2) with QC(1) inside block 2: commits height 1; proposal 4
    // commits height 2.
    assert_eq!(committed(&all), vec![1, 2]);
    assert_eq!(released(&all), vec![1, 2]);
}

#[test]
fn release_waits_a_step_when_the_block_was_just_fetched() {
    let chain = Chain::new(4);
    let mut node = chain.node();
    // The node sees only the proposal of view 4: it misses blocks 1..=3.
    let fourth = chain.proposals[3].clone();
    let outputs = chain.deliver(&mut node, 0, Message::Proposal(fourth));
    let request = outputs
        .iter()
        .find_map(|output| match output {
            Output::Send {
                message: Message::BlockRequest(request),
                ..
            } => Some(request.clone()),
            _ => None,
        })
        .expect("the node asks for the missing parent");
    assert_eq!(request.digest, chain.proposals[2].block.digest());
    assert!(committed(&outputs).is_empty());

    // The response delivers blocks 3, 2, 1 in one step: that step commits heights 1 and 2,
    // but the blocks were first learned in it, so no share is released yet.
    let blocks: Vec<Block> = chain.proposals[..3]
        .iter()
        .rev()
        .map(|proposal| proposal.block.clone())
        .collect();
    let outputs = chain.deliver(&mut node, 0, Message::BlockResponse(blocks));
    assert_eq!(committed(&outputs), vec![1, 2]);
    assert!(
        released(&outputs).is_empty(),
        "released in the learning step"
    );
    // The pending proposal of view 4 gets its vote now that its parent is known.
    assert!(outputs.iter().any(|output| matches!(
        output,
        Output::Send { message: Message::Vote(vote), .. } if vote.view == View(4)
    )));

    // The next step releases them, in height order.
    let outputs = node.handle(2, Input::Tick);
    assert_eq!(released(&outputs), vec![1, 2]);
}

#[test]
fn a_response_cannot_inject_unrequested_blocks() {
    let chain = Chain::new(4);
    let mut node = chain.node();
    // Nothing was requested: a response is ignored entirely.
    let blocks: Vec<Block> = chain.proposals[..3]
        .iter()
        .rev()
        .map(|proposal| proposal.block.clone())
        .collect();
    let outputs = chain.deliver(&mut node, 1, Message::BlockResponse(blocks));
    assert!(outputs
        .iter()
        .all(|output| !matches!(output, Output::Persist(_) | Output::Committed { .. })));
    assert_eq!(node.committed_head().0, Height(0));
}

#[test]
fn out_of_range_views_are_refused_not_panicked_on() {
    let chain = Chain::new(2);
    let limits = Limits::default();
    let mut proposal = chain.proposals[1].clone();
    proposal.block.justify.height = Height(u64::MAX);
    assert!(matches!(
        verify_message(&chain.committee, &limits, Message::Proposal(proposal)),
        Err(ConsensusError::TooLarge { .. })
    ));
    let mut proposal = chain.proposals[1].clone();
    proposal.timeout_certificate = Some(TimeoutCertificate {
        epoch: EPOCH,
        view: View(u64::MAX),
        signers: vec![0b0111],
        high_qc_views: vec![View(0); 3],
        signature: [0; 96],
        high_qc: QuorumCertificate::genesis(EPOCH),
    });
    assert!(matches!(
        verify_message(&chain.committee, &limits, Message::Proposal(proposal)),
        Err(ConsensusError::TooLarge { .. })
    ));
    let view = View(u64::MAX);
    let digest = chain.proposals[0].block.digest();
    let encoding = vote_encoding(CHAIN_ID, EPOCH, view, &digest, Height(1));
    let vote = Vote {
        epoch: EPOCH,
        view,
        block: digest,
        height: Height(1),
        signer: ValidatorIndex(1),
        signature: chain.keys[1]
            .sign(SigningDomain::Vote, &encoding)
            .to_bytes(),
    };
    assert!(matches!(
        verify_message(&chain.committee, &limits, Message::Vote(vote)),
        Err(ConsensusError::TooLarge { .. })
    ));
}

fn vote(chain: &Chain, signer: u16, block: &Block, height: Height) -> Message {
    let digest = block.digest();
    let encoding = vote_encoding(CHAIN_ID, EPOCH, block.view, &digest, height);
    Message::Vote(Vote {
        epoch: EPOCH,
        view: block.view,
        block: digest,
        height,
        signer: ValidatorIndex(signer),
        signature: chain.keys[usize::from(signer)]
            .sign(SigningDomain::Vote, &encoding)
            .to_bytes(),
    })
}

/// A Byzantine voter signs the right block digest with a wrong height. Its vote must not be
/// summed with the others (their messages differ), and the QC the leader forms must verify.
#[test]
fn a_vote_with_another_height_cannot_poison_the_leaders_qc() {
    let chain = Chain::new(3);
    let mut node = chain.node();
    // Node 3 leads view 3: deliver blocks 1 and 2, then votes for block 2.
    for proposal in &chain.proposals[..2] {
        let from = proposal.block.proposer.0;
        chain.deliver(&mut node, from, Message::Proposal(proposal.clone()));
    }
    let block = chain.proposals[1].block.clone();
    let mut outputs = Vec::new();
    // Two honest votes (node 3's own vote went out through the driver and comes back), then
    // the Byzantine one, which would complete a quorum if it were summed with them.
    outputs.extend(chain.deliver(&mut node, 1, vote(&chain, 1, &block, block.height)));
    outputs.extend(chain.deliver(&mut node, 3, vote(&chain, 3, &block, block.height)));
    outputs.extend(chain.deliver(&mut node, 0, vote(&chain, 0, &block, Height(99))));
    assert!(
        outputs
            .iter()
            .all(|o| !matches!(o, Output::Broadcast(Message::Proposal(_)))),
        "a QC was formed from votes over different messages"
    );
    outputs.extend(chain.deliver(&mut node, 2, vote(&chain, 2, &block, block.height)));
    let proposal = outputs
        .iter()
        .find_map(|output| match output {
            Output::Broadcast(Message::Proposal(proposal)) => Some(proposal.clone()),
            _ => None,
        })
        .expect("the leader proposes once three matching votes arrive");
    assert_eq!(proposal.block.justify.height, block.height);
    verify_message(
        &chain.committee,
        &Limits::default(),
        Message::Proposal(proposal),
    )
    .expect("the leader's QC verifies");
}

/// A TC whose signers claim a highest QC view that its attached QC does not have is refused:
/// otherwise one Byzantine timeout could make the next proposal unvotable.
#[test]
fn a_tc_claiming_a_qc_nobody_holds_is_refused() {
    let chain = Chain::new(2);
    let claimed = [View(1), View(1), View(4)];
    let mut signers = SignerBitmap::new(4).expect("bitmap");
    let signatures: Vec<Signature> = (0..3)
        .map(|index| {
            signers.insert(index).expect("in range");
            chain.keys[index].sign(
                SigningDomain::Timeout,
                &timeout_encoding(CHAIN_ID, EPOCH, View(5), claimed[index]),
            )
        })
        .collect();
    let qc_of_view_1 = Chain::certify(&chain.keys, &chain.proposals[0].block);
    let forged = TimeoutCertificate {
        epoch: EPOCH,
        view: View(5),
        signers: signers.as_bytes().to_vec(),
        high_qc_views: claimed.to_vec(),
        signature: Signature::aggregate(&signatures)
            .expect("quorum")
            .to_bytes(),
        high_qc: qc_of_view_1.clone(),
    };
    assert!(matches!(
        verify_message(
            &chain.committee,
            &Limits::default(),
            Message::TimeoutCertificate(forged.clone())
        ),
        Err(ConsensusError::BadView { .. })
    ));
    // The same signatures with honest claims and the matching QC verify.
    let honest_claims = [View(1), View(1), View(1)];
    let signatures: Vec<Signature> = (0..3)
        .map(|index| {
            chain.keys[index].sign(
                SigningDomain::Timeout,
                &timeout_encoding(CHAIN_ID, EPOCH, View(5), honest_claims[index]),
            )
        })
        .collect();
    let honest = TimeoutCertificate {
        high_qc_views: honest_claims.to_vec(),
        signature: Signature::aggregate(&signatures)
            .expect("quorum")
            .to_bytes(),
        ..forged
    };
    verify_message(
        &chain.committee,
        &Limits::default(),
        Message::TimeoutCertificate(honest),
    )
    .expect("an honest TC verifies");
}

/// A payload source whose content the test switches on and off.
struct Switch(std::rc::Rc<std::cell::Cell<bool>>);

impl PayloadSource for Switch {
    fn propose(&mut self, height: Height) -> Payload {
        if self.0.get() {
            Payload(height.0.to_be_bytes().to_vec())
        } else {
            Payload(Vec::new())
        }
    }

    fn verify(&mut self, _payload: &Payload) -> Result<(), String> {
        Ok(())
    }

    fn has_payload(&self) -> bool {
        self.0.get()
    }
}

/// Validator 1, which leads view 1 (extending the empty genesis), with an empty-block delay.
fn paced_leader(
    delay_ms: u64,
    content: bool,
) -> (Consensus<Switch>, std::rc::Rc<std::cell::Cell<bool>>) {
    let chain = Chain::new(1);
    let flag = std::rc::Rc::new(std::cell::Cell::new(content));
    let config = Config {
        empty_block_delay_ms: delay_ms,
        ..Config::default()
    };
    let node = Consensus::new(
        config,
        chain.committee.clone(),
        ValidatorIndex(1),
        chain.keys[1].clone(),
        Switch(flag.clone()),
        None,
    )
    .expect("valid node");
    (node, flag)
}

fn proposals(outputs: &[Output]) -> Vec<&Proposal> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Broadcast(Message::Proposal(proposal)) => Some(proposal),
            _ => None,
        })
        .collect()
}

#[test]
fn an_empty_block_on_an_empty_parent_waits_for_content_or_the_delay() {
    // Without a delay, the empty block goes at once.
    let (mut node, _) = paced_leader(0, false);
    assert_eq!(proposals(&node.handle(0, Input::Start)).len(), 1);

    // With a delay: held back, and the deadline says when to look again.
    let (mut node, _) = paced_leader(100, false);
    assert!(proposals(&node.handle(0, Input::Start)).is_empty());
    assert!(node.waiting_for_payload());
    assert_eq!(node.next_deadline(), Some(100));
    assert!(proposals(&node.handle(60, Input::Tick)).is_empty());
    let outputs = node.handle(100, Input::Tick);
    let sent = proposals(&outputs);
    assert_eq!(sent.len(), 1, "proposed at the end of the delay");
    assert!(sent[0].block.payload.0.is_empty());
    assert!(!node.waiting_for_payload());

    // Content arriving during the wait is proposed at once.
    let (mut node, flag) = paced_leader(100, false);
    assert!(proposals(&node.handle(0, Input::Start)).is_empty());
    flag.set(true);
    let outputs = node.handle(20, Input::Tick);
    let sent = proposals(&outputs);
    assert_eq!(sent.len(), 1);
    assert!(!sent[0].block.payload.0.is_empty());

    // A block with content is never held.
    let (mut node, _) = paced_leader(100, true);
    assert_eq!(proposals(&node.handle(0, Input::Start)).len(), 1);

    // The delay must stay below the view timeout.
    let config = Config {
        empty_block_delay_ms: 1_000,
        ..Config::default()
    };
    assert!(config.validate().is_err());
}

/// A leader paced by `proposal_interval_min_ms` proposes once that long has passed since it
/// stored the parent, not as soon as the parent's QC forms; a view entered by a timeout is not
/// paced.
#[test]
fn a_paced_leader_proposes_an_interval_after_the_parent() {
    let chain = Chain::new(3);
    let config = Config {
        proposal_interval_min_ms: 50,
        ..Config::default()
    };
    let mut node = Consensus::new(
        config,
        chain.committee.clone(),
        ME,
        chain.keys[usize::from(ME.0)].clone(),
        AnyPayload,
        None,
    )
    .expect("valid node");
    node.handle(0, Input::Start);
    let deliver = |node: &mut Consensus<AnyPayload>, at: u64, from: u16, message: Message| {
        let message =
            verify_message(&chain.committee, &Limits::default(), message).expect("valid message");
        node.handle(
            at,
            Input::Message {
                from: ValidatorIndex(from),
                message,
            },
        )
    };
    // Node 3 leads view 3. The parent (block 2) arrives at 10; the votes complete its QC at 12.
    for (at, proposal) in [(5, &chain.proposals[0]), (10, &chain.proposals[1])] {
        let from = proposal.block.proposer.0;
        deliver(&mut node, at, from, Message::Proposal(proposal.clone()));
    }
    let block = chain.proposals[1].block.clone();
    let mut outputs = Vec::new();
    for signer in [1, 3, 2] {
        outputs.extend(deliver(
            &mut node,
            12,
            signer,
            vote(&chain, signer, &block, block.height),
        ));
    }
    assert_eq!(node.view(), View(3), "the QC moved the leader to its view");
    assert!(proposals(&outputs).is_empty(), "held back by the interval");
    assert_eq!(node.next_deadline(), Some(60), "10 + 50");
    assert!(proposals(&node.handle(40, Input::Tick)).is_empty());
    let outputs = node.handle(60, Input::Tick);
    let sent = proposals(&outputs);
    assert_eq!(sent.len(), 1, "proposed once the interval passed");
    assert_eq!(sent[0].block.justify.block, block.digest());
    assert!(
        node.next_deadline() > Some(60),
        "no pacing deadline is left"
    );

    // The interval must stay below the view timeout.
    let config = Config {
        proposal_interval_min_ms: 1_000,
        ..Config::default()
    };
    assert!(config.validate().is_err());
}

/// A quorum of votes checked at once passes exactly when every vote would alone; votes over
/// different statements or with a repeated signer are refused as a set.
#[test]
fn votes_checked_together_pass_only_when_each_would() {
    let chain = Chain::new(2);
    let block = chain.proposals[1].block.clone();
    let votes = |signers: &[u16]| -> Vec<Vote> {
        signers
            .iter()
            .map(|signer| match vote(&chain, *signer, &block, block.height) {
                Message::Vote(vote) => vote,
                _ => unreachable!("vote() makes votes"),
            })
            .collect()
    };
    let checked = shroud_consensus::verify_votes(&chain.committee, votes(&[0, 1, 3]))
        .expect("three good votes");
    assert_eq!(checked.len(), 3);

    // One signature swapped for another block's vote by the same signer: the sum fails.
    let mut bad = votes(&[0, 1, 3]);
    let other = chain.proposals[0].block.clone();
    if let Message::Vote(wrong) = vote(&chain, 1, &other, other.height) {
        bad[1].signature = wrong.signature;
    }
    assert!(shroud_consensus::verify_votes(&chain.committee, bad.clone()).is_err());
    assert!(
        verify_message(
            &chain.committee,
            &Limits::default(),
            Message::Vote(bad[1].clone())
        )
        .is_err(),
        "and alone it fails too"
    );

    // Different statements, a repeated signer, and nothing at all are refused.
    let mut mixed = votes(&[0, 1]);
    if let Message::Vote(elsewhere) = vote(&chain, 3, &block, Height(99)) {
        mixed.push(elsewhere);
    }
    assert!(shroud_consensus::verify_votes(&chain.committee, mixed).is_err());
    assert!(shroud_consensus::verify_votes(&chain.committee, votes(&[0, 1, 1])).is_err());
    assert!(shroud_consensus::verify_votes(&chain.committee, Vec::new()).is_err());
}

/// Consensus signatures bind the chain id: a committee that reuses its keys on a second chain
/// cannot have a proposal, a QC or a timeout of one chain accepted on the other.
#[test]
fn messages_signed_for_another_chain_are_refused() {
    let chain = Chain::new(2);
    let other = Committee::new(CHAIN_ID + 1, EPOCH, chain.committee.keys().clone());
    let proposal = Message::Proposal(chain.proposals[1].clone());
    assert!(shroud_consensus::verify_message(
        &chain.committee,
        &Limits::default(),
        proposal.clone()
    )
    .is_ok());
    assert!(shroud_consensus::verify_message(&other, &Limits::default(), proposal).is_err());
    let qc = &chain.proposals[1].block.justify;
    assert!(shroud_consensus::verify::verify_qc(&chain.committee, qc).is_ok());
    assert!(shroud_consensus::verify::verify_qc(&other, qc).is_err());
    let high_qc = QuorumCertificate::genesis(EPOCH);
    let encoding = timeout_encoding(CHAIN_ID, EPOCH, View(9), high_qc.view);
    let timeout = shroud_consensus::Timeout {
        epoch: EPOCH,
        view: View(9),
        high_qc,
        last_tc: None,
        signer: ValidatorIndex(1),
        signature: chain.keys[1]
            .sign(SigningDomain::Timeout, &encoding)
            .to_bytes(),
    };
    assert!(shroud_consensus::verify::verify_timeout(&chain.committee, &timeout).is_ok());
    assert!(shroud_consensus::verify::verify_timeout(&other, &timeout).is_err());
}

/// The validator's sync requests in `outputs`: (to, from height).
fn sync_requests(outputs: &[Output]) -> Vec<(u16, u64)> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Send {
                to,
                message: Message::SyncRequest(request),
            } => Some((to.0, request.from.0)),
            _ => None,
        })
        .collect()
}

fn sync_answer(blocks: &[Block], kept_from: u64) -> Message {
    Message::SyncResponse(shroud_consensus::SyncResponse {
        blocks: blocks.to_vec(),
        kept_from: Height(kept_from),
        committed: Height(blocks.last().map_or(0, |block| block.height.0)),
    })
}

/// A validator far behind a QC syncs by height, and takes from an answer only what the 2-chain
/// rule proves from the answer itself: a broken chain, a QC that does not verify, or a peer that
/// no longer keeps the heights needed commit nothing and move it to the next peer.
#[test]
fn state_sync_commits_only_what_an_answer_proves() {
    let chain = Chain::new(200);
    let blocks: Vec<Block> = chain.proposals.iter().map(|p| p.block.clone()).collect();
    let mut node = chain.node();
    // A proposal at the network's head, far above this node's committed head (0).
    let outputs = chain.deliver(
        &mut node,
        0,
        Message::Proposal(chain.proposals[199].clone()),
    );
    assert_eq!(
        sync_requests(&outputs),
        vec![(0, 1)],
        "asks its sender from height 1"
    );
    assert!(node.sync_target().is_some());

    // A broken chain (height 1 missing): nothing committed, the next peer is asked.
    let outputs = chain.deliver(&mut node, 0, sync_answer(&blocks[1..20], 1));
    assert!(committed(&outputs).is_empty());
    assert_eq!(sync_requests(&outputs), vec![(1, 1)]);

    // The last block's QC (the proof of the block two below it) does not verify.
    let mut forged = blocks[0..10].to_vec();
    forged[9].justify.signature = forged[8].justify.signature;
    let outputs = chain.deliver(&mut node, 1, sync_answer(&forged, 1));
    assert!(committed(&outputs).is_empty());
    assert_eq!(sync_requests(&outputs), vec![(2, 1)]);

    // An answer from a peer not asked is ignored.
    let outputs = chain.deliver(&mut node, 0, sync_answer(&blocks[0..150], 1));
    assert!(committed(&outputs).is_empty());

    // A peer that keeps heights from 50 on only: stranded, reported once.
    let outputs = chain.deliver(&mut node, 2, sync_answer(&blocks[49..60], 50));
    assert!(committed(&outputs).is_empty());
    assert!(outputs.iter().any(|output| matches!(
        output,
        Output::SyncStranded {
            peer: ValidatorIndex(2),
            needed: Height(1),
            kept_from: Height(50)
        }
    )));

    // Its request expires (by time, not by view) and the next peer answers truly: every block
    // below the last proven one is committed, in order.
    let outputs = node.handle(10_000, Input::Tick);
    assert_eq!(sync_requests(&outputs), vec![(0, 1)]);
    let outputs = chain.deliver(&mut node, 0, sync_answer(&blocks[0..100], 1));
    assert_eq!(committed(&outputs), (1..=98).collect::<Vec<_>>());
    assert_eq!(node.committed_head().0, Height(98));
    // The next request follows the blocks held (99 and 100 wait for their proof).
    assert_eq!(sync_requests(&outputs), vec![(0, 101)]);
    let outputs = chain.deliver(&mut node, 0, sync_answer(&blocks[100..150], 1));
    assert_eq!(committed(&outputs), (99..=148).collect::<Vec<_>>());
    // Within `sync_gap` of the QC it saw (height 199): the rest comes by fetching ancestors.
    assert!(sync_requests(&outputs).is_empty());
    assert!(node.sync_target().is_none());
}
