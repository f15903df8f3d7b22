//! The decryption stage's logic, four instances in one thread with real crypto and real sled
//! stores, messages routed in memory: they agree on every outcome and header and certify it;
//! nothing is sent before it is persisted; a restarted instance reuses its stored shares; a
//! sender of invalid shares is excluded and the others still decide.

use std::collections::VecDeque;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use shroud_crypto::tdh2::{
    encrypt, trusted_dealer_for_local_testnet, KeyShare, Label, PublicKeySet,
};
use shroud_crypto::{CommitteeKeys, SecretKey, SigningDomain};
use shroud_node::batch::Batch;
use shroud_node::decrypt::{DecryptionState, Faults, Outgoing, Params, Send};
use shroud_node::store::{NodeStore, OrderedTx};
use shroud_proofs::{Bundle, BundleLimits, FailureReason, Item, NamespaceId, Outcome, TxId};

const CHAIN: u64 = 11;
const EPOCH: u64 = 4;

struct Net {
    _dirs: Vec<tempfile::TempDir>,
    stores: Vec<NodeStore>,
    states: Vec<Option<DecryptionState>>,
    public: PublicKeySet,
    key_shares: Vec<Vec<u8>>,
    signers: Vec<SecretKey>,
    keys: CommitteeKeys,
}

fn params(net: &Net, index: usize, faults: Faults) -> Params {
    let share_index = u16::try_from(index + 1).expect("small");
    Params {
        me: u16::try_from(index).expect("small"),
        chain_id: CHAIN,
        epoch: EPOCH,
        key_share: KeyShare::from_secret_bytes(share_index, &net.key_shares[index]).expect("share"),
        public: net.public.clone(),
        keys: net.keys.clone(),
        signer: SecretKey::from_bytes(net.signers[index].to_bytes().as_ref()).expect("key"),
        ciphertext_bytes_max: 64 * 1024,
        validity_heights: VALIDITY_HEIGHTS,
        bundle_limits: BundleLimits::default(),
        faults,
    }
}

/// The chain's validity window in these tests.
const VALIDITY_HEIGHTS: u64 = 50;

/// The ciphertexts of height 1: bundles, a plaintext that is not a bundle, a mauled one, one
/// for another epoch, one past its expiry and one valid too far ahead. Height 2 is empty.
fn transactions(public: &PublicKeySet, rng: &mut ChaCha20Rng) -> (Vec<Vec<u8>>, Vec<Outcome>) {
    let key = public.encryption_key();
    let expiring = |epoch: u64, valid_through: u64, nonce: u8| Label {
        chain_id: CHAIN,
        epoch,
        valid_through,
        nonce: [nonce; 32],
    };
    let label = |epoch: u64, nonce: u8| expiring(epoch, 1 + VALIDITY_HEIGHTS, nonce);
    let mut bytes = Vec::new();
    let mut outcomes = Vec::new();
    for i in 0..5u8 {
        let bundle = Bundle {
            items: vec![
                Item {
                    namespace: NamespaceId(1),
                    data: vec![i; 10],
                },
                Item {
                    namespace: NamespaceId(u64::from(i % 2) + 2),
                    data: vec![i; 3],
                },
            ],
        };
        bytes.push(encrypt(key, label(EPOCH, i), &bundle.encode(), rng).to_bytes());
        outcomes.push(Outcome::Decrypted(bundle));
    }
    bytes.push(encrypt(key, label(EPOCH, 50), b"not a bundle", rng).to_bytes());
    outcomes.push(Outcome::Failed(FailureReason::MalformedBundle));
    // A proof that fails cannot be in a certified batch (an honest acknowledgement checked
    // it), so the stage does not check proofs: committed anyway, the position gets shares
    // and fails to open, alike everywhere.
    let mut mauled = encrypt(key, label(EPOCH, 51), b"x", rng).to_bytes();
    let last = mauled.len() - 1;
    mauled[last] ^= 1;
    bytes.push(mauled);
    outcomes.push(Outcome::Failed(FailureReason::Undecryptable));
    bytes.push(b"not a ciphertext".to_vec());
    outcomes.push(Outcome::Failed(FailureReason::InvalidCiphertext));
    bytes.push(encrypt(key, label(EPOCH + 1, 52), b"y", rng).to_bytes());
    outcomes.push(Outcome::Failed(FailureReason::WrongEpoch));
    let single = Bundle::single(NamespaceId(1), b"late".to_vec()).encode();
    bytes.push(encrypt(key, expiring(EPOCH, 0, 53), &single, rng).to_bytes());
    outcomes.push(Outcome::Failed(FailureReason::Expired));
    let too_far = expiring(EPOCH, 2 + VALIDITY_HEIGHTS, 54);
    bytes.push(encrypt(key, too_far, &single, rng).to_bytes());
    outcomes.push(Outcome::Failed(FailureReason::Expired));
    (bytes, outcomes)
}

fn network(faults: &[Faults]) -> (Net, Vec<Outcome>) {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (public, shares) = trusted_dealer_for_local_testnet(2, 4, &mut rng).expect("dealer");
    let signers: Vec<SecretKey> = (0..4u8)
        .map(|i| SecretKey::from_seed(&[i + 9; 32]).expect("seed"))
        .collect();
    let members: Vec<_> = signers
        .iter()
        .map(|s| (s.public_key(), s.prove_possession()))
        .collect();
    let keys = CommitteeKeys::new(&members).expect("committee");
    let (transactions, outcomes) = transactions(&public, &mut rng);
    let batch = Batch {
        epoch: EPOCH,
        author: 0,
        sequence: 0,
        valid_through: 1 + VALIDITY_HEIGHTS,
        transactions,
    };
    let digest = batch.digest();
    let ordered: Vec<OrderedTx> = batch
        .transactions
        .iter()
        .zip(0u32..)
        .map(|(bytes, index)| OrderedTx {
            tx_id: TxId::of(bytes),
            batch: digest,
            index,
            expiry: None,
        })
        .collect();
    let mut dirs = Vec::new();
    let mut stores = Vec::new();
    for _ in 0..4 {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = NodeStore::open(dir.path()).expect("store");
        store.put_batch(&batch).expect("batch");
        store
            .append_order(1, [1; 32], &ordered, &[digest])
            .expect("order");
        store.append_order(2, [2; 32], &[], &[]).expect("order");
        dirs.push(dir);
        stores.push(store);
    }
    let mut net = Net {
        _dirs: dirs,
        stores,
        states: Vec::new(),
        public,
        key_shares: shares.iter().map(|s| s.secret_bytes().to_vec()).collect(),
        signers,
        keys,
    };
    for (index, fault) in faults.iter().enumerate() {
        let state = DecryptionState::new(params(&net, index, *fault), net.stores[index].clone())
            .expect("state");
        net.states.push(Some(state));
    }
    (net, outcomes)
}

fn persisted_then_sent(
    state: &mut DecryptionState,
    sends: Vec<Send>,
    from: usize,
    queue: &mut VecDeque<(usize, Send)>,
) {
    let speaks = sends.iter().any(|send| {
        matches!(
            send,
            Send::All(Outgoing::Shares(_) | Outgoing::Vote(_))
                | Send::To(_, Outgoing::Shares(_) | Outgoing::Vote(_))
        )
    });
    if speaks {
        // Persist before you speak: a fresh share or vote is always behind unflushed writes
        // that the caller must flush first (replayed answers come from the store already).
        state.persist().expect("flush");
        assert!(!state.needs_flush());
    }
    queue.extend(sends.into_iter().map(|send| (from, send)));
}

/// Runs every instance until no message is left.
fn run(net: &mut Net) {
    run_tampered(net, |_, _, outgoing| Some(outgoing));
}

/// [`run`], with every message passed through `tamper` (given its sender and its target) on
/// its way; `None` drops it. When no message is left, the instances' timers run (after the
/// wait for a combiner's points) until they send nothing more.
fn run_tampered(net: &mut Net, tamper: impl Fn(usize, usize, Outgoing) -> Option<Outgoing>) {
    let mut queue = VecDeque::new();
    for index in 0..net.states.len() {
        if let Some(state) = net.states[index].as_mut() {
            let sends = state.advance(2, 2).expect("advance");
            persisted_then_sent(state, sends, index, &mut queue);
        }
    }
    let mut steps = 0;
    let mut timer_rounds = 0;
    loop {
        let Some((from, send)) = queue.pop_front() else {
            timer_rounds += 1;
            if timer_rounds > 5 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(150));
            for index in 0..net.states.len() {
                if let Some(state) = net.states[index].as_mut() {
                    let sends = state.on_timer().expect("timer");
                    persisted_then_sent(state, sends, index, &mut queue);
                }
            }
            if queue.is_empty() {
                break;
            }
            continue;
        };
        steps += 1;
        assert!(steps < 10_000, "the instances do not settle");
        let (targets, outgoing): (Vec<usize>, Outgoing) = match send {
            Send::All(outgoing) => ((0..4).filter(|i| *i != from).collect(), outgoing),
            Send::To(peer, outgoing) => (vec![usize::from(peer)], outgoing),
        };
        for target in targets {
            let Some(state) = net.states[target].as_mut() else {
                continue;
            };
            let sender = u16::try_from(from).expect("small");
            let Some(tampered) = tamper(from, target, outgoing.clone()) else {
                continue;
            };
            let sends = match tampered {
                Outgoing::Shares(message) => state.on_shares(sender, message, 2).expect("shares"),
                Outgoing::Combined(message) => {
                    state.on_combined(sender, message).expect("combined")
                }
                Outgoing::Vote(vote) => state.on_vote(sender, vote).expect("vote"),
                Outgoing::Certificate(certificate) => {
                    state.on_certificate(certificate).expect("certificate");
                    Vec::new()
                }
                Outgoing::Request(request) => state.on_request(sender, &request).expect("request"),
            };
            persisted_then_sent(state, sends, target, &mut queue);
        }
    }
}

fn check_agreement(net: &Net, members: &[usize], outcomes: &[Outcome]) {
    let reference = net.stores[members[0]]
        .output(1)
        .expect("read")
        .expect("output");
    let outcomes_seen: Vec<Outcome> = reference
        .entries
        .iter()
        .map(|e| e.outcome.clone())
        .collect();
    assert_eq!(outcomes_seen, outcomes);
    for &index in members {
        for height in 1..=2 {
            let mine = net.stores[index]
                .output(height)
                .expect("read")
                .expect("output");
            let theirs = net.stores[members[0]]
                .output(height)
                .expect("read")
                .expect("output");
            assert_eq!(
                mine.header, theirs.header,
                "validator {index}, height {height}"
            );
            let certificate = net.stores[index]
                .output_certificate(height)
                .expect("read")
                .expect("certified");
            certificate
                .verify(&net.keys, CHAIN, EPOCH)
                .expect("valid certificate");
        }
        assert_eq!(net.stores[index].certified_height().expect("read"), 2);
    }
    let second = net.stores[members[0]]
        .output(2)
        .expect("read")
        .expect("output");
    assert_eq!(second.header.parent_output, reference.header.digest());
}

#[test]
fn four_instances_decide_the_same_outcomes_and_certify_them() {
    let (mut net, outcomes) = network(&[Faults::default(); 4]);
    run(&mut net);
    check_agreement(&net, &[0, 1, 2, 3], &outcomes);
}

#[test]
fn a_sender_of_invalid_shares_is_excluded_and_the_others_decide() {
    let bad = Faults {
        invalid_shares: true,
    };
    let (mut net, outcomes) =
        network(&[bad, Faults::default(), Faults::default(), Faults::default()]);
    run(&mut net);
    check_agreement(&net, &[1, 2, 3], &outcomes);
}

/// Validator 3 signs another header than it should: its votes are refused (checked with the
/// others in one aggregate first, then alone), and the other three certify every height.
#[test]
fn a_bad_output_signature_is_refused_and_the_others_certify() {
    let (mut net, outcomes) = network(&[Faults::default(); 4]);
    let forged = net.signers[3]
        .sign(SigningDomain::OutputHeader, b"not the header")
        .to_bytes();
    run_tampered(&mut net, |from, _, outgoing| {
        Some(match outgoing {
            Outgoing::Vote(mut vote) if from == 3 => {
                vote.signature = forged;
                Outgoing::Vote(vote)
            }
            other => other,
        })
    });
    check_agreement(&net, &[0, 1, 2], &outcomes);
    for height in 1..=2 {
        let certificate = net.stores[0]
            .output_certificate(height)
            .expect("read")
            .expect("certified");
        assert_eq!(certificate.signers, vec![0b0111], "height {height}");
    }
}

/// Validator 0 sends share values that are not points, and validator 1 sends two of its
/// values swapped (true shares, of the wrong positions; its proof no longer holds): both are
/// excluded where they would be used, and everyone decides the same outcomes.
#[test]
fn undecodable_or_misplaced_share_values_exclude_their_sender() {
    let (mut net, outcomes) = network(&[Faults::default(); 4]);
    run_tampered(&mut net, |from, _, outgoing| {
        Some(match outgoing {
            Outgoing::Shares(mut message) if from == 0 && !message.values.is_empty() => {
                message.values[0] = [0xff; 48];
                Outgoing::Shares(message)
            }
            Outgoing::Shares(mut message) if from == 1 && message.values.len() > 1 => {
                message.values.swap(0, 1);
                Outgoing::Shares(message)
            }
            other => other,
        })
    });
    check_agreement(&net, &[0, 1, 2, 3], &outcomes);
}

/// Height 1's combiner is validator 1. Byzantine in each way an honest validator can meet, it
/// changes no outcome: every instance decides and certifies exactly the outcomes of an
/// honest run (a wrong point accepted would open nothing and show as `undecryptable`).
#[test]
fn a_byzantine_combiner_cannot_change_an_outcome() {
    type Tamper = fn(usize, usize, Outgoing) -> Option<Outgoing>;
    let wrong: Tamper = |_, _, outgoing| {
        Some(match outgoing {
            // Two true points swapped: each is some position's point, not its own.
            Outgoing::Combined(mut message) if message.points.len() > 1 => {
                message.points.swap(0, 1);
                Outgoing::Combined(message)
            }
            other => other,
        })
    };
    let withheld: Tamper = |_, _, outgoing| match outgoing {
        Outgoing::Combined(_) => None,
        other => Some(other),
    };
    let equivocating: Tamper = |_, target, outgoing| match outgoing {
        // The true points to validator 0, a wrong one to validator 2, nothing to 3.
        Outgoing::Combined(mut message) => match target {
            0 => Some(Outgoing::Combined(message)),
            2 => {
                message.points[0] = [0xff; 48];
                Some(Outgoing::Combined(message))
            }
            _ => None,
        },
        other => Some(other),
    };
    for (name, tamper) in [
        ("wrong points", wrong),
        ("withheld", withheld),
        ("equivocating", equivocating),
    ] {
        let (mut net, outcomes) = network(&[Faults::default(); 4]);
        run_tampered(&mut net, tamper);
        for index in 0..4 {
            assert!(
                net.stores[index]
                    .output_certificate(1)
                    .expect("read")
                    .is_some(),
                "{name}: validator {index} certified height 1"
            );
        }
        check_agreement(&net, &[0, 1, 2, 3], &outcomes);
    }
}

#[test]
fn a_restarted_instance_reuses_its_stored_shares_and_finishes() {
    let (mut net, outcomes) = network(&[Faults::default(); 4]);
    // Instance 2 sets up height 1 and 2 (its shares stored and flushed), then crashes before
    // anything it sent arrives anywhere.
    let mut crashed = net.states[2].take().expect("running");
    let first = crashed.advance(2, 2).expect("advance");
    crashed.persist().expect("flush");
    drop(crashed);
    let restarted = DecryptionState::new(params(&net, 2, Faults::default()), net.stores[2].clone())
        .expect("restart");
    net.states[2] = Some(restarted);
    let again = net.states[2]
        .as_mut()
        .expect("running")
        .advance(2, 2)
        .expect("advance");
    let shares = |sends: &[Send]| -> Vec<Outgoing> {
        sends
            .iter()
            .filter_map(|send| match send {
                Send::All(outgoing @ Outgoing::Shares(_)) => Some(outgoing.clone()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        shares(&first),
        shares(&again),
        "shares were made anew after a restart"
    );
    run(&mut net);
    check_agreement(&net, &[0, 1, 2, 3], &outcomes);
}
