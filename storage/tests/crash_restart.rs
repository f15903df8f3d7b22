//! A validator on a real sled store is killed (SIGKILL, a separate process) in the middle of
//! voting, reopened from its files, and shown equivocating proposals for every view it had
//! reached: it must not vote twice in any view, and every vote it sent must have been durable.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use shroud_consensus::types::{proposal_encoding, vote_encoding};
use shroud_consensus::{
    leader_after, verify_message, Block, BlockDigest, Committee, Config, Consensus, Epoch, Height,
    Input, Limits, Message, Output, Payload, PayloadSource, Proposal, QuorumCertificate,
    ValidatorIndex, View,
};
use shroud_crypto::{CommitteeKeys, SecretKey, Signature, SignerBitmap, SigningDomain};
use shroud_storage::{ConsensusStore, SledStore};

const EPOCH: Epoch = Epoch(1);
/// The chain every test committee signs for.
const CHAIN_ID: u64 = 7;
const ME: ValidatorIndex = ValidatorIndex(3);
const VIEWS: u64 = 400;
const CHILD_ENV: &str = "SHROUD_CRASH_CHILD_DIR";

struct AnyPayload;

impl PayloadSource for AnyPayload {
    fn propose(&mut self, height: Height) -> Payload {
        Payload(height.0.to_be_bytes().to_vec())
    }

    fn verify(&mut self, _payload: &Payload) -> Result<(), String> {
        Ok(())
    }
}

fn keys() -> Vec<SecretKey> {
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    (0..4).map(|_| SecretKey::generate(&mut rng)).collect()
}

fn committee(keys: &[SecretKey]) -> Committee {
    let members: Vec<_> = keys
        .iter()
        .map(|key| (key.public_key(), key.prove_possession()))
        .collect();
    Committee::new(
        CHAIN_ID,
        EPOCH,
        CommitteeKeys::new(&members).expect("valid committee"),
    )
}

/// The proposal of `view` extending `justify`, signed by the view's leader on the chain of
/// `blocks` (leader reputation), with `tag` in the payload (different tags make equivocating
/// proposals). The block is added to `blocks`.
fn proposal(
    keys: &[SecretKey],
    blocks: &mut HashMap<BlockDigest, Block>,
    view: u64,
    justify: QuorumCertificate,
    tag: &str,
) -> Proposal {
    let extended = blocks
        .get(&justify.block)
        .expect("the chain is built in order");
    let leader = leader_after(&committee(keys), View(view), extended, &|digest| {
        blocks.get(digest)
    })
    .0;
    let block = Block {
        epoch: EPOCH,
        view: View(view),
        height: justify.height.next(),
        proposer: ValidatorIndex(leader),
        payload: Payload(format!("{tag} {view}").into_bytes()),
        justify,
    };
    let encoding = proposal_encoding(CHAIN_ID, EPOCH, block.view, &block.digest());
    blocks.insert(block.digest(), block.clone());
    Proposal {
        signature: keys[usize::from(leader)]
            .sign(SigningDomain::Proposal, &encoding)
            .to_bytes(),
        block,
        timeout_certificate: None,
    }
}

/// The blocks a chain starts from: genesis.
fn genesis_chain() -> HashMap<BlockDigest, Block> {
    let genesis = Block::genesis(EPOCH);
    HashMap::from([(genesis.digest(), genesis)])
}

/// A QC for `block` by validators 0, 1 and 2.
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
            .expect("non-empty")
            .to_bytes(),
    }
}

fn node(keys: &[SecretKey], store: &SledStore) -> Consensus<AnyPayload> {
    let recovered = store.recover().expect("store recovers");
    Consensus::new(
        Config::default(),
        committee(keys),
        ME,
        keys[usize::from(ME.0)].clone(),
        AnyPayload,
        recovered,
    )
    .expect("valid node")
}

/// Applies outputs in order: persist, flush before speaking; returns the votes sent.
fn drive(store: &mut SledStore, outputs: Vec<Output>) -> Vec<(View, String)> {
    let mut votes = Vec::new();
    let mut dirty = false;
    for output in outputs {
        match output {
            Output::Persist(op) => {
                store.apply(&op).expect("sled write");
                dirty = true;
            }
            Output::Send {
                message: Message::Vote(vote),
                ..
            } => {
                if dirty {
                    store.flush().expect("sled flush");
                    dirty = false;
                }
                votes.push((vote.view, format!("{:?}", vote.block)));
            }
            _ => {}
        }
    }
    if dirty {
        store.flush().expect("sled flush");
    }
    votes
}

fn deliver(
    consensus: &mut Consensus<AnyPayload>,
    keys: &[SecretKey],
    proposal: Proposal,
) -> Vec<Output> {
    let from = proposal.block.proposer;
    let message = verify_message(
        &committee(keys),
        &Limits::default(),
        Message::Proposal(proposal),
    )
    .expect("test proposals are valid");
    consensus.handle(0, Input::Message { from, message })
}

/// The child process: votes along an honest chain and prints each vote after it is sent.
#[test]
fn child_votes_until_killed() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let keys = keys();
    let mut store = SledStore::open(Path::new(&dir)).expect("open sled");
    let mut consensus = node(&keys, &store);
    drive(&mut store, consensus.handle(0, Input::Start));
    let mut blocks = genesis_chain();
    let mut justify = QuorumCertificate::genesis(EPOCH);
    for view in 1..=VIEWS {
        let proposal = proposal(&keys, &mut blocks, view, justify, "honest");
        justify = certify(&keys, &proposal.block);
        let outputs = deliver(&mut consensus, &keys, proposal);
        for (view, digest) in drive(&mut store, outputs) {
            println!("vote {} {digest}", view.0);
        }
    }
}

#[test]
fn killed_validator_never_votes_twice_after_restart() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "child_votes_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child validator");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut sent: Vec<(u64, String)> = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("child output");
        if let Some(rest) = line.strip_prefix("vote ") {
            let (view, digest) = rest.split_once(' ').expect("view and digest");
            sent.push((view.parse().expect("view"), digest.to_string()));
            if sent.len() == 25 {
                child.kill().expect("SIGKILL the child");
                break;
            }
        }
    }
    child.wait().expect("reap the child");
    assert_eq!(sent.len(), 25, "the child voted before it was killed");

    let keys = keys();
    let mut store = SledStore::open(dir.path()).expect("reopen sled after the kill");
    let recovered = store
        .recover()
        .expect("recover")
        .expect("state was persisted");
    let last_sent = sent.last().expect("votes").0;
    // Persist before you speak: every printed vote was durable before it was sent.
    assert!(
        recovered.safety.last_voted_view.0 >= last_sent,
        "sent a vote for view {last_sent}, durable state says {}",
        recovered.safety.last_voted_view.0
    );
    let durable_view = recovered.safety.last_voted_view.0;

    // Restart and show the node a conflicting proposal for every view it may have voted in,
    // each extending a valid QC so that only the safety state can refuse it.
    let mut consensus = node(&keys, &store);
    drive(&mut store, consensus.handle(0, Input::Start));
    let mut blocks = genesis_chain();
    let mut justify = QuorumCertificate::genesis(EPOCH);
    let mut honest_chain = Vec::new();
    for view in 1..=durable_view + 1 {
        let proposal = proposal(&keys, &mut blocks, view, justify.clone(), "honest");
        justify = certify(&keys, &proposal.block);
        honest_chain.push(proposal);
    }
    let mut revotes = Vec::new();
    for view in 1..=durable_view {
        let base = if view == 1 {
            QuorumCertificate::genesis(EPOCH)
        } else {
            certify(&keys, &honest_chain[(view - 2) as usize].block)
        };
        // Signed by the leader the chain names, so only the safety state can refuse it.
        let conflicting = proposal(&keys, &mut blocks, view, base, "conflicting");
        let outputs = deliver(&mut consensus, &keys, conflicting);
        revotes.extend(drive(&mut store, outputs));
    }
    assert!(
        revotes.is_empty(),
        "voted again after restart in views {:?}",
        revotes.iter().map(|(view, _)| view.0).collect::<Vec<_>>()
    );
    // The node is still live: the next honest proposal gets its vote.
    let next = honest_chain.last().expect("chain").clone();
    let outputs = deliver(&mut consensus, &keys, next);
    let votes = drive(&mut store, outputs);
    assert_eq!(votes.len(), 1, "votes in view {}", durable_view + 1);
    assert_eq!(votes[0].0, View(durable_view + 1));
}
