//! The distributed key generation, run sans-IO: a simulated committee commits every pending
//! message in blocks, and every path of the protocol (honest, malformed, equivocating, wrong
//! share, false and forged complaints, absent members, late complaints, restarts) is checked
//! for agreement between validators and against the threshold scheme itself.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use shroud_crypto::dkg::{
    Complaint, Dealing, Dkg, DkgBody, DkgError, DkgEvent, DkgMessage, DkgOutput, DkgParams,
    DkgSecretKey, Exclusion,
};
use shroud_crypto::tdh2::{
    combine, create_share, encrypt, interpolate, verify_share, Context, Label,
};

const WINDOW: u64 = 5;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn setup(count: usize, seed: u64) -> (DkgParams, Vec<DkgSecretKey>) {
    let mut rng = rng(seed);
    let keys: Vec<DkgSecretKey> = (0..count).map(|_| DkgSecretKey::random(&mut rng)).collect();
    let threshold = (count - 1) / 3 + 1;
    let params = DkgParams::new(
        [seed as u8; 32],
        threshold,
        keys.iter().map(DkgSecretKey::public_key).collect(),
        WINDOW,
    )
    .expect("params");
    (params, keys)
}

fn copy_key(key: &DkgSecretKey) -> DkgSecretKey {
    DkgSecretKey::from_bytes(key.to_bytes().as_slice()).expect("key")
}

/// A committee whose members commit every pending post in the next block. `online` members
/// post; `hooks` lets a test replace or add what a Byzantine member posts.
struct Net {
    nodes: Vec<Dkg>,
    online: Vec<bool>,
    height: u64,
    transcript: Vec<(u64, DkgMessage)>,
    events: Vec<Vec<DkgEvent>>,
    outputs: BTreeMap<usize, DkgOutput>,
}

impl Net {
    fn new(params: &DkgParams, keys: &[DkgSecretKey]) -> Self {
        let nodes = keys
            .iter()
            .enumerate()
            .map(|(me, key)| Dkg::new(params.clone(), me as u16, copy_key(key), 0).expect("dkg"))
            .collect::<Vec<_>>();
        let count = nodes.len();
        Self {
            nodes,
            online: vec![true; count],
            height: 0,
            transcript: Vec::new(),
            events: (0..count).map(|_| Vec::new()).collect(),
            outputs: BTreeMap::new(),
        }
    }

    fn pending(&mut self) -> Vec<DkgMessage> {
        let mut posts = Vec::new();
        for (me, node) in self.nodes.iter_mut().enumerate() {
            if self.online[me] {
                posts.extend(node.pending_posts());
            }
        }
        posts
    }

    /// Commits `messages` at the next height on every node (also offline ones: they read
    /// the chain when they return, which is the same as reading it now).
    fn commit(&mut self, messages: Vec<DkgMessage>) {
        self.height += 1;
        for message in messages {
            self.transcript.push((self.height, message.clone()));
            for (me, node) in self.nodes.iter_mut().enumerate() {
                self.events[me].extend(node.on_message(self.height, &message));
            }
        }
        for (me, node) in self.nodes.iter_mut().enumerate() {
            self.events[me].extend(node.on_height(self.height));
        }
        for (me, events) in self.events.iter_mut().enumerate() {
            for event in events.drain(..) {
                if let DkgEvent::Complete(output) = event {
                    self.outputs.insert(me, *output);
                }
            }
        }
    }

    /// Steps until every node completed or `heights` more heights passed, with `edit`
    /// choosing what is committed from what was posted.
    fn run(&mut self, heights: u64, mut edit: impl FnMut(u64, Vec<DkgMessage>) -> Vec<DkgMessage>) {
        for _ in 0..heights {
            if self.outputs.len() == self.nodes.len() {
                return;
            }
            let posts = self.pending();
            let height = self.height + 1;
            let committed = edit(height, posts);
            self.commit(committed);
        }
    }

    fn statuses_agree(&self) {
        let first = self.nodes[0].status();
        for node in &self.nodes[1..] {
            let status = node.status();
            assert_eq!(status.round, first.round);
            assert_eq!(status.phase, first.phase);
            assert_eq!(status.excluded, first.excluded);
            assert_eq!(status.failures, first.failures);
        }
    }
}

/// Every output has the same key set, qualified set and exclusions; every share matches its
/// verification key.
fn agreed(net: &Net) -> &DkgOutput {
    let first = net.outputs.values().next().expect("an output");
    for output in net.outputs.values() {
        assert_eq!(output.public, first.public);
        assert_eq!(output.qualified, first.qualified);
        assert_eq!(output.excluded, first.excluded);
        assert_eq!(output.round, first.round);
        assert_eq!(output.height, first.height);
        if let Some(share) = &output.share {
            assert_eq!(
                output
                    .public
                    .verification_key(share.index())
                    .expect("index"),
                &share.verification_key()
            );
        }
    }
    net.statuses_agree();
    first
}

/// A ciphertext under the DKG's key opens with shares from any `t` members that hold one.
fn decrypts(net: &Net, seed: u64) {
    let mut rng = rng(seed);
    let output = agreed(net);
    let public = &output.public;
    let context = Context {
        chain_id: 1,
        epoch: 1,
    };
    let label = Label {
        chain_id: 1,
        epoch: 1,
        valid_through: 10,
        nonce: [9; 32],
    };
    let ciphertext = encrypt(
        public.encryption_key(),
        label,
        b"no dealer saw this",
        &mut rng,
    )
    .verify(public.encryption_key(), &context)
    .expect("valid");
    let mut holders: Vec<&DkgOutput> = net.outputs.values().filter(|o| o.share.is_some()).collect();
    holders.shuffle(&mut rng);
    let shares: Vec<_> = holders[..public.threshold()]
        .iter()
        .map(|output| {
            let share = create_share(output.share.as_ref().expect("share"), &ciphertext, &mut rng);
            verify_share(public, &ciphertext, share).expect("a DKG share verifies")
        })
        .collect();
    assert_eq!(
        combine(public, &ciphertext, &shares).expect("t shares"),
        b"no dealer saw this".to_vec()
    );
}

fn committed_all(_: u64, posts: Vec<DkgMessage>) -> Vec<DkgMessage> {
    posts
}

#[test]
fn four_honest_validators_agree_on_a_key_that_decrypts() {
    let (params, keys) = setup(4, 1);
    let mut net = Net::new(&params, &keys);
    net.run(20, committed_all);
    assert_eq!(net.outputs.len(), 4);
    let output = agreed(&net);
    assert_eq!(output.qualified, vec![0, 1, 2, 3]);
    assert!(output.excluded.is_empty());
    assert_eq!(output.round, 0);
    // Dealings at height 1, responses at height 2: no window was waited out.
    assert_eq!(output.height, 2);
    assert!(net.outputs.values().all(|output| output.share.is_some()));
    decrypts(&net, 1);
}

#[test]
fn seven_validators_with_one_offline_complete_after_the_window() {
    let (params, keys) = setup(7, 2);
    let mut net = Net::new(&params, &keys);
    net.online[6] = false;
    net.run(40, committed_all);
    let output = agreed(&net);
    assert_eq!(output.qualified, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(output.excluded, vec![(6, Exclusion::NoDealing)]);
    // Dealing closes at its deadline (height 5), responses from 6 of 7 wait out their window.
    assert_eq!(output.height, 2 * WINDOW);
    // The offline member reads the chain too and gets a working share.
    assert!(net.outputs[&6].share.is_some());
    decrypts(&net, 2);
}

#[test]
fn a_malformed_dealing_excludes_its_dealer_with_the_same_reason_everywhere() {
    let (params, keys) = setup(4, 3);
    let (other_params, _) = setup(7, 3);
    let mut net = Net::new(&params, &keys);
    net.run(20, |_, mut posts| {
        for post in &mut posts {
            if post.sender == 2 {
                if let DkgBody::Dealing(_) = post.body {
                    // A dealing made for a committee of 7 (threshold 3) has 3 commitments.
                    post.body =
                        DkgBody::Dealing(Box::new(Dealing::deal(&other_params, 2, 0, &keys[2])));
                }
            }
        }
        posts
    });
    let output = agreed(&net);
    assert_eq!(output.qualified, vec![0, 1, 3]);
    assert!(matches!(
        output.excluded.as_slice(),
        [(2, Exclusion::Malformed(detail))] if detail.contains("3 commitments for threshold 2")
    ));
    decrypts(&net, 3);
}

#[test]
fn a_wrong_share_is_complained_about_and_its_dealer_excluded() {
    let (params, keys) = setup(4, 4);
    let mut net = Net::new(&params, &keys);
    net.run(20, |_, mut posts| {
        for post in &mut posts {
            if let (0, DkgBody::Dealing(dealing)) = (post.sender, &post.body) {
                post.body = DkgBody::Dealing(Box::new((**dealing).clone().with_wrong_share(3)));
            }
        }
        posts
    });
    let output = agreed(&net);
    assert_eq!(output.qualified, vec![1, 2, 3]);
    assert_eq!(
        output.excluded,
        vec![(0, Exclusion::BadShare { recipient: 3 })]
    );
    // The complaint is in the transcript, with the victim's proof.
    assert!(net.transcript.iter().any(|(_, message)| matches!(
        &message.body,
        DkgBody::Response(complaints) if message.sender == 3 && complaints.len() == 1
    )));
    // Every member, the victim included, holds a share of the key without dealer 0.
    assert!(net.outputs.values().all(|output| output.share.is_some()));
    decrypts(&net, 4);
}

#[test]
fn equivocation_excludes_the_dealer_in_this_round_and_later_ones() {
    let (params, keys) = setup(4, 5);
    let mut net = Net::new(&params, &keys);
    net.run(20, |height, mut posts| {
        if height == 1 {
            posts.push(DkgMessage {
                round: 0,
                sender: 1,
                body: DkgBody::Dealing(Box::new(Dealing::deal_conflicting(
                    &params, 1, 0, &keys[1],
                ))),
            });
        }
        posts
    });
    let output = agreed(&net);
    assert_eq!(output.qualified, vec![0, 2, 3]);
    assert_eq!(output.excluded, vec![(1, Exclusion::Equivocated)]);
    decrypts(&net, 5);
}

#[test]
fn a_duplicate_of_an_accepted_message_is_harmless() {
    let (params, keys) = setup(4, 6);
    let mut net = Net::new(&params, &keys);
    net.run(20, |_, posts| {
        let again = posts.clone();
        posts.into_iter().chain(again).collect()
    });
    let output = agreed(&net);
    assert_eq!(output.qualified, vec![0, 1, 2, 3]);
    assert!(output.excluded.is_empty());
}

#[test]
fn a_false_complaint_and_a_forged_one_are_refused() {
    let (params, keys) = setup(4, 7);
    let mut net = Net::new(&params, &keys);
    let mut ephemerals = BTreeMap::new();
    let mut refused = Vec::new();
    net.run(20, |_, mut posts| {
        for post in &mut posts {
            match (&post.body, post.sender) {
                (DkgBody::Dealing(_), dealer) => {
                    // The ephemeral point is the 48 bytes after the G2 key.
                    let bytes = post.to_bytes();
                    let start = 8 + 2 + 48 * params.threshold() + 96;
                    ephemerals.insert(dealer, bytes[start..start + 48].to_vec());
                }
                (DkgBody::Response(_), 2) => {
                    // Validator 2 complains about dealer 0, whose share to it is right (a
                    // false complaint with a valid proof), and about dealer 1 with the proof
                    // of another member (a forged one).
                    let ephemeral = |dealer: u16| -> Vec<u8> { ephemerals[&dealer].clone() };
                    let false_one = complaint_from_bytes(&params, 0, 2, &keys[2], &ephemeral(0));
                    let forged = complaint_from_bytes(&params, 1, 3, &keys[3], &ephemeral(1));
                    post.body = DkgBody::Response(vec![false_one, forged]);
                }
                _ => {}
            }
        }
        posts
    });
    let output = agreed(&net);
    assert_eq!(output.qualified, vec![0, 1, 2, 3]);
    assert!(output.excluded.is_empty());
    // The node's own events say why (checked through a fresh replica reading the transcript).
    let mut replica = Dkg::new(params.clone(), 0, copy_key(&keys[0]), 0).expect("dkg");
    for (height, message) in &net.transcript {
        for event in replica.on_message(*height, message) {
            if let DkgEvent::ComplaintRefused { dealer, reason, .. } = event {
                refused.push((dealer, reason));
            }
        }
        replica.on_height(*height);
    }
    assert_eq!(
        refused,
        vec![
            (0, "the share matches the commitment"),
            (1, "its proof does not verify")
        ]
    );
}

/// A complaint about `dealer` made with `key` for the ephemeral point in `ephemeral` (its
/// compressed encoding), through the public encoding: decoded from a response carrying it.
fn complaint_from_bytes(
    params: &DkgParams,
    dealer: u16,
    complainer: u16,
    key: &DkgSecretKey,
    ephemeral: &[u8],
) -> Complaint {
    let decoded = decode_g1(ephemeral);
    Complaint::make(params, 0, dealer, complainer, key, &decoded).expect("member")
}

fn decode_g1(bytes: &[u8]) -> ark_bls12_381::G1Affine {
    use ark_serialize::CanonicalDeserialize;
    ark_bls12_381::G1Affine::deserialize_compressed(bytes).expect("point")
}

#[test]
fn too_few_responses_fail_the_round_loudly_and_the_next_round_completes() {
    let (params, keys) = setup(4, 8);
    let mut net = Net::new(&params, &keys);
    // Two of four post nothing (heights still commit, as if the chain had been ordering
    // other content): the round fails at its response deadline.
    net.online[2] = false;
    net.online[3] = false;
    net.run(2 * WINDOW, committed_all);
    assert!(net.outputs.is_empty());
    net.statuses_agree();
    let status = net.nodes[0].status();
    assert_eq!(status.round, 1);
    assert_eq!(status.failures.len(), 1);
    assert!(
        status.failures[0].contains("2 of 4 validators responded")
            && status.failures[0].contains("no response from [2, 3]"),
        "{}",
        status.failures[0]
    );
    // Round 1's dealing phase has just begun: nothing of it is committed yet.
    assert_eq!((status.phase, status.waiting_for.len()), ("dealing", 4));
    net.run(1, committed_all);
    assert_eq!(net.nodes[0].status().waiting_for, vec![2, 3]);
    // One returns: round 1 completes with three.
    net.online[2] = true;
    net.run(4 * WINDOW, committed_all);
    let output = agreed(&net);
    assert_eq!(output.round, 1);
    assert_eq!(output.qualified, vec![0, 1, 2]);
    assert_eq!(output.excluded, vec![(3, Exclusion::NoDealing)]);
    decrypts(&net, 8);
}

#[test]
fn a_complaint_committed_too_late_leaves_the_victim_without_a_share() {
    let (params, keys) = setup(4, 9);
    let mut net = Net::new(&params, &keys);
    net.run(3 * WINDOW, |_, posts| {
        posts
            .into_iter()
            .filter_map(|mut post| {
                match (&post.body, post.sender) {
                    (DkgBody::Dealing(dealing), 1) => {
                        post.body =
                            DkgBody::Dealing(Box::new((**dealing).clone().with_wrong_share(0)));
                    }
                    // Validator 0's response never makes it into a block.
                    (DkgBody::Response(_), 0) => return None,
                    _ => {}
                }
                Some(post)
            })
            .collect()
    });
    let output = agreed(&net);
    assert_eq!(output.qualified, vec![0, 1, 2, 3]);
    assert!(net.outputs[&0].share.is_none());
    assert!(net.outputs[&0]
        .share_problem
        .as_deref()
        .is_some_and(|problem| problem.contains("[1]")));
    // The three others still decrypt.
    decrypts(&net, 9);
}

#[test]
fn a_restarted_validator_replays_the_transcript_to_the_same_state_and_posts() {
    let (params, keys) = setup(4, 10);
    let mut net = Net::new(&params, &keys);
    net.online[3] = false;
    // Run into the response phase (dealing closed at its deadline, since 3 never dealt).
    net.run(WINDOW, committed_all);
    let mut before = net.nodes[1].pending_posts();
    // Validator 1 restarts: a new state machine reads the stored transcript.
    let mut restarted = Dkg::new(params.clone(), 1, copy_key(&keys[1]), 0).expect("dkg");
    for (height, message) in &net.transcript {
        restarted.on_message(*height, message);
        restarted.on_height(*height);
    }
    restarted.on_height(net.height);
    assert_eq!(restarted.status(), net.nodes[1].status());
    let mut after = restarted.pending_posts();
    before.sort_by_key(DkgMessage::to_bytes);
    after.sort_by_key(DkgMessage::to_bytes);
    assert_eq!(before, after, "the same bytes: a restart never equivocates");
    // And a dealing made again is the same dealing.
    assert_eq!(
        Dealing::deal(&params, 1, 0, &keys[1]),
        Dealing::deal(&params, 1, 0, &keys[1])
    );
    assert_ne!(
        Dealing::deal(&params, 1, 0, &keys[1]),
        Dealing::deal(&params, 1, 1, &keys[1]),
        "another round, another polynomial"
    );
}

#[test]
fn messages_round_trip_and_bad_bytes_are_typed_errors() {
    let (params, keys) = setup(4, 11);
    let dealing = DkgMessage {
        round: 3,
        sender: 1,
        body: DkgBody::Dealing(Box::new(Dealing::deal(&params, 1, 3, &keys[1]))),
    };
    let bytes = dealing.to_bytes();
    assert_eq!(DkgMessage::from_bytes(&bytes, 4), Ok(dealing.clone()));
    assert_eq!(
        bytes.len(),
        1 + 4 + 2 + 1 + 2 + 48 * params.threshold() + 96 + 48 + 64 + 2 + 32 * 4
    );
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        DkgMessage::from_bytes(&trailing, 4),
        Err(DkgError::Malformed("trailing bytes"))
    );
    assert_eq!(
        DkgMessage::from_bytes(&bytes[..bytes.len() - 1], 4),
        Err(DkgError::Malformed("truncated"))
    );
    let mut version = bytes.clone();
    version[0] = 9;
    assert_eq!(
        DkgMessage::from_bytes(&version, 4),
        Err(DkgError::UnknownVersion(9))
    );
    assert_eq!(
        DkgMessage::from_bytes(&bytes, 1),
        Err(DkgError::Malformed("commitment count"))
    );
    let mut point = bytes.clone();
    point[11] ^= 0x40;
    assert!(DkgMessage::from_bytes(&point, 4).is_err());

    let ephemeral = decode_g1(&bytes[8 + 2 + 48 * params.threshold() + 96..][..48]);
    let response = DkgMessage {
        round: 3,
        sender: 2,
        body: DkgBody::Response(vec![
            Complaint::make(&params, 3, 0, 2, &keys[2], &ephemeral).expect("member"),
            Complaint::make(&params, 3, 1, 2, &keys[2], &ephemeral).expect("member"),
        ]),
    };
    let bytes = response.to_bytes();
    assert_eq!(DkgMessage::from_bytes(&bytes, 4), Ok(response));
    // Complaints out of order (dealer 1 before dealer 0) are refused.
    let mut swapped = bytes.clone();
    let complaint = 2 + 48 + 32 + 32;
    let (first, second) = (10..10 + complaint, 10 + complaint..10 + 2 * complaint);
    let (a, b) = (
        swapped[first.clone()].to_vec(),
        swapped[second.clone()].to_vec(),
    );
    swapped[first].copy_from_slice(&b);
    swapped[second].copy_from_slice(&a);
    assert_eq!(
        DkgMessage::from_bytes(&swapped, 4),
        Err(DkgError::Malformed("complaints out of order"))
    );
}

#[test]
fn a_key_that_is_not_the_listed_one_is_refused_and_params_are_checked() {
    let (params, keys) = setup(4, 12);
    assert!(Dkg::new(params.clone(), 0, copy_key(&keys[1]), 0).is_none());
    let public: Vec<_> = keys.iter().map(DkgSecretKey::public_key).collect();
    assert!(DkgParams::new([0; 32], 0, public.clone(), 5).is_err());
    assert!(DkgParams::new([0; 32], 5, public.clone(), 5).is_err());
    assert!(DkgParams::new([0; 32], 2, public.clone(), 0).is_err());
    let mut repeated = public.clone();
    repeated[3] = repeated[0];
    assert!(DkgParams::new([0; 32], 2, repeated, 5).is_err());
    assert!(DkgSecretKey::from_bytes(&[0; 32]).is_err());
    assert!(format!("{:?}", keys[0]).contains("redacted"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    /// Any `t` of the DKG's shares give the secret behind the encryption key, and `t - 1`
    /// give a point that does not open a ciphertext.
    #[test]
    fn any_t_shares_decrypt_and_t_minus_one_do_not(seed in 0u64..1_000, count in 4usize..8) {
        let (params, keys) = setup(count, seed);
        let mut net = Net::new(&params, &keys);
        net.run(20, committed_all);
        let output = agreed(&net);
        let public = &output.public;
        let t = public.threshold();
        let mut rng = rng(seed);
        let label = Label { chain_id: 1, epoch: 1, valid_through: 10, nonce: [1; 32] };
        let ciphertext = encrypt(public.encryption_key(), label, b"payload", &mut rng)
            .verify(public.encryption_key(), &Context { chain_id: 1, epoch: 1 })
            .expect("valid");
        let mut members: Vec<usize> = (0..count).collect();
        members.shuffle(&mut rng);
        let shares: Vec<_> = members[..t]
            .iter()
            .map(|member| {
                create_share(net.outputs[member].share.as_ref().expect("share"), &ciphertext, &mut rng)
            })
            .collect();
        let full = interpolate(&shares.iter().collect::<Vec<_>>()).expect("distinct");
        prop_assert_eq!(ciphertext.open(&full), Ok(b"payload".to_vec()));
        let partial = interpolate(&shares[..t - 1].iter().collect::<Vec<_>>());
        if let Ok(partial) = partial {
            prop_assert!(ciphertext.open(&partial).is_err());
        }
    }

    /// Bytes from a peer never panic the decoder.
    #[test]
    fn random_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = DkgMessage::from_bytes(&bytes, 64);
    }
}

/// A dealer cannot reuse an honest dealer's ephemeral point: without a proof that it knows
/// `ρ` for its own index, honest members' complaints about it would reveal the honest dealer's
/// pads. Its dealing is malformed, and the honest dealer's shares stay hidden.
#[test]
fn a_dealing_that_copies_another_dealers_ephemeral_point_is_malformed() {
    let (params, keys) = setup(4, 13);
    let mut net = Net::new(&params, &keys);
    let start = 8 + 2 + 48 * params.threshold() + 96;
    let span = 48 + 64;
    net.run(20, |_, posts| {
        let honest = posts
            .iter()
            .find(|post| post.sender == 0 && matches!(post.body, DkgBody::Dealing(_)))
            .map(DkgMessage::to_bytes);
        posts
            .into_iter()
            .map(|post| match (&honest, post.sender, &post.body) {
                (Some(honest), 1, DkgBody::Dealing(_)) => {
                    let mut bytes = post.to_bytes();
                    bytes[start..start + span].copy_from_slice(&honest[start..start + span]);
                    DkgMessage::from_bytes(&bytes, 4).expect("still well formed")
                }
                _ => post,
            })
            .collect()
    });
    let output = agreed(&net);
    assert_eq!(output.qualified, vec![0, 2, 3]);
    assert!(matches!(
        output.excluded.as_slice(),
        [(1, Exclusion::Malformed(detail))] if detail.contains("proof of knowledge")
    ));
    // No complaint revealed a point of dealer 0's: every response is empty.
    assert!(net
        .transcript
        .iter()
        .all(|(_, message)| match &message.body {
            DkgBody::Response(complaints) => complaints.is_empty(),
            DkgBody::Dealing(_) => true,
        }));
    decrypts(&net, 13);
}

/// When more than f members are excluded for misbehaviour, no round can succeed: the DKG says
/// so and stops, instead of failing rounds forever.
#[test]
fn too_many_provably_bad_dealers_end_the_dkg_with_a_reason() {
    let (params, keys) = setup(4, 14);
    let (other, _) = setup(7, 14);
    let mut net = Net::new(&params, &keys);
    net.run(4 * WINDOW, |_, posts| {
        posts
            .into_iter()
            .map(|mut post| {
                if post.sender >= 1 && matches!(post.body, DkgBody::Dealing(_)) {
                    post.body =
                        DkgBody::Dealing(Box::new(Dealing::deal(&other, post.sender, 0, &keys[0])));
                }
                post
            })
            .collect()
    });
    assert!(net.outputs.is_empty());
    net.statuses_agree();
    let status = net.nodes[0].status();
    assert_eq!(status.phase, "failed");
    assert!(
        status
            .failures
            .last()
            .is_some_and(|reason| reason.contains("no round can succeed")),
        "{:?}",
        status.failures
    );
}
