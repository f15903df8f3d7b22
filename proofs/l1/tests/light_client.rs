//! The light-client contract in revm (Prague: the real EIP-2537 precompiles), on outputs and
//! certificates made by the real `shroud-proofs` and `shroud-crypto` code.

mod common;

use common::{Committee, Outputs, CHAIN_ID};
use shroud_l1::calldata::{self, Anchor, Token};
use shroud_l1::evm::LightClient;
use shroud_proofs::{items_root, BuiltOutput, NamespaceId, NamespaceProof, OutputCertificate};

const GENESIS: Anchor = Anchor {
    height: 0,
    output: [0; 32],
};

fn deploy(committee: &Committee, ring_size: u64) -> LightClient {
    LightClient::deploy(
        CHAIN_ID,
        committee.epoch,
        &committee.keys,
        GENESIS,
        ring_size,
    )
    .expect("evm")
    .expect("deployed")
}

fn accept(client: &mut LightClient, certificate: &OutputCertificate) -> u64 {
    match client.submit_output(certificate).expect("evm") {
        Ok(gas) => gas,
        Err(rejection) => panic!("height {} refused: {rejection}", certificate.header.height),
    }
}

fn refused(client: &mut LightClient, certificate: &OutputCertificate) -> String {
    match client.submit_output(certificate).expect("evm") {
        Ok(gas) => panic!(
            "height {} accepted ({gas} gas), expected a refusal",
            certificate.header.height
        ),
        Err(rejection) => rejection.error,
    }
}

/// Checks every namespace of interest at `height` through the contract, as the Rust verifier
/// sees it: inclusion for namespaces with items, absence for the others.
fn check_namespaces(
    client: &mut LightClient,
    output: &BuiltOutput,
    certificate: &OutputCertificate,
) {
    let height = output.header.height;
    for namespace in [1u64, 10, 15, 20, 25, 30, 99] {
        let view = output
            .namespace_output(NamespaceId(namespace), certificate.clone())
            .expect("namespace output");
        view.verify_proofs().expect("the Rust verifier accepts it");
        let root = items_root(&view.items);
        let (holds, _gas) = client
            .verify_namespace(
                height,
                namespace,
                root,
                &view.proof,
                view.items.len() as u64,
            )
            .expect("evm");
        assert!(holds, "namespace {namespace} at height {height}");
    }
}

#[test]
fn certified_outputs_are_accepted_in_order_and_their_namespaces_verify() {
    let committee = Committee::new(1, 4, 3);
    let mut client = deploy(&committee, 8);
    let mut outputs = Outputs::new(committee.epoch);
    let mut history = Vec::new();
    for height in 1..=12u64 {
        let output = outputs.next();
        // Signer sets vary: all, the first 2f+1, and a different 2f+1.
        let signers = match height % 3 {
            0 => committee.all(),
            1 => committee.first_quorum(),
            _ => vec![0, 2, 3],
        };
        let certificate = committee.certify(&output, &signers);
        certificate
            .verify(&committee.keys, CHAIN_ID, committee.epoch)
            .expect("the Rust verifier accepts it");
        accept(&mut client, &certificate);
        assert_eq!(client.last_height().expect("view"), height);
        assert_eq!(client.last_output().expect("view"), output.header.digest());
        check_namespaces(&mut client, &output, &certificate);
        history.push((output, certificate));
    }
    // The ring keeps the last 8 heights.
    for (output, certificate) in &history {
        let height = output.header.height;
        let root = client.payload_root(height).expect("view");
        if height > 4 {
            assert_eq!(root, Some(output.header.payload_root), "height {height}");
            check_namespaces(&mut client, output, certificate);
        } else {
            assert_eq!(root, None, "height {height} left the ring");
        }
    }
    assert_eq!(client.payload_root(13).expect("view"), None);
    assert_eq!(client.payload_root(0).expect("view"), None);
}

#[test]
fn every_tampered_certificate_or_header_is_refused() {
    let committee = Committee::new(2, 7, 1);
    let mut client = deploy(&committee, 16);
    let mut outputs = Outputs::new(committee.epoch);
    let first = outputs.next();
    let first_certificate = committee.certify(&first, &committee.all());
    let output = outputs.next();
    let good = committee.certify(&output, &committee.first_quorum());
    accept(&mut client, &first_certificate);

    // Bits of the signature: most flips leave the curve (the pairing precompile fails), some
    // give another point; either way the certificate is refused.
    for bit in [0usize, 7, 100, 383, 384, 500, 767] {
        let mut tampered = good.clone();
        tampered.signature[bit / 8] ^= 1 << (bit % 8);
        // Most flips leave no valid compressed point, and the relayer cannot even encode the
        // certificate for EIP-2537; any that decode must be refused by the contract.
        match calldata::submit_output(&client.artefact, &tampered) {
            Err(_) => {
                assert!(shroud_crypto::Signature::from_bytes(&tampered.signature).is_err());
            }
            Ok(data) => {
                let error = client
                    .send_raw(data)
                    .expect("evm")
                    .expect_err("tampered signature");
                assert_eq!(error.error, "BadSignature", "signature bit {bit}");
            }
        }
    }
    // A valid signature of the committee over another header.
    let mut elsewhere = good.clone();
    elsewhere.signature = committee
        .certify(&first, &committee.first_quorum())
        .signature;
    assert_eq!(refused(&mut client, &elsewhere), "BadSignature");
    // Bits of the EIP-2537 signature encoding itself (off the curve, or a non-canonical field
    // element).
    for byte in [20usize, 63, 100, 200, 255] {
        let mut data = calldata::submit_output(&client.artefact, &good).expect("calldata");
        let at = data.len() - 256 + byte;
        data[at] ^= 0x01;
        let error = client
            .send_raw(data)
            .expect("evm")
            .expect_err("tampered encoding");
        assert!(
            ["BadSignature", "PrecompileFailed"].contains(&error.error.as_str()),
            "encoding byte {byte}: {error}"
        );
    }

    // The bitmap: a member who did not sign, a missing signer (below 2f+1), a bit past the
    // committee, a wrong length.
    let mut extra = good.clone();
    extra.signers[0] |= 1 << 6;
    assert_eq!(refused(&mut client, &extra), "BadSignature");
    let mut missing = good.clone();
    missing.signers[0] &= !1;
    assert_eq!(refused(&mut client, &missing), "BelowQuorum");
    let mut past = good.clone();
    past.signers[0] |= 1 << 7;
    assert_eq!(refused(&mut client, &past), "UnknownSigner");
    let mut long = good.clone();
    long.signers.push(0);
    assert_eq!(refused(&mut client, &long), "BadBitmapLength");
    let below = committee.certify(&output, &[0, 1, 2, 3]);
    assert_eq!(refused(&mut client, &below), "BelowQuorum");

    // Every header field.
    let mut header_cases: Vec<(&str, OutputCertificate)> = Vec::new();
    let mut case = good.clone();
    case.header.chain_id += 1;
    header_cases.push(("WrongChain", case));
    let mut case = good.clone();
    case.header.epoch += 1;
    header_cases.push(("WrongEpoch", case));
    let mut case = good.clone();
    case.header.height += 1;
    header_cases.push(("NotNextHeight", case));
    let mut case = good.clone();
    case.header.block_digest[3] ^= 1;
    header_cases.push(("BadSignature", case));
    let mut case = good.clone();
    case.header.ciphertexts_root[0] ^= 0x80;
    header_cases.push(("BadSignature", case));
    let mut case = good.clone();
    case.header.payload_root[31] ^= 1;
    header_cases.push(("BadSignature", case));
    let mut case = good.clone();
    case.header.parent_output[9] ^= 1;
    header_cases.push(("WrongParent", case));
    for (expected, certificate) in &header_cases {
        assert_eq!(
            &refused(&mut client, certificate),
            expected,
            "{:?}",
            certificate.header
        );
    }
    // Validly signed, but not extending the last header.
    let mut unlinked = output.clone();
    unlinked.header.parent_output = [0xee; 32];
    let unlinked = committee.certify(&unlinked, &committee.all());
    assert_eq!(refused(&mut client, &unlinked), "WrongParent");

    // A signature at infinity and a signature of the wrong length.
    let mut data = calldata::submit_output(&client.artefact, &good).expect("calldata");
    let at = data.len() - 256;
    data[at..].fill(0);
    let error = client.send_raw(data).expect("evm").expect_err("infinity");
    assert_eq!(error.error, "SignatureAtInfinity");
    let short = calldata::call(
        &client.artefact,
        "submitOutput(bytes,bytes,bytes)",
        &[
            Token::Bytes(good.header.encoding().to_vec()),
            Token::Bytes(good.signers.clone()),
            Token::Bytes(vec![1; 255]),
        ],
    )
    .expect("calldata");
    assert_eq!(
        client
            .send_raw(short)
            .expect("evm")
            .expect_err("short")
            .error,
        "BadSignatureLength"
    );
    let short_header = calldata::call(
        &client.artefact,
        "submitOutput(bytes,bytes,bytes)",
        &[
            Token::Bytes(good.header.encoding()[..151].to_vec()),
            Token::Bytes(good.signers.clone()),
            Token::Bytes(vec![1; 256]),
        ],
    )
    .expect("calldata");
    assert_eq!(
        client
            .send_raw(short_header)
            .expect("evm")
            .expect_err("short")
            .error,
        "BadHeaderLength"
    );

    // Nothing above changed the state; the good certificate still lands.
    assert_eq!(client.last_height().expect("view"), 1);
    accept(&mut client, &good);
    // The same header again, and a different validly signed header for the same height.
    assert_eq!(refused(&mut client, &good), "AlreadyCertified");
    let mut other = output.clone();
    other.header.block_digest = [0xab; 32];
    let other = committee.certify(&other, &committee.all());
    assert_eq!(refused(&mut client, &other), "ConflictingHeader");
    let mut other_first = first.clone();
    other_first.header.payload_root = [0xcd; 32];
    let other_first = committee.certify(&other_first, &committee.all());
    assert_eq!(refused(&mut client, &other_first), "ConflictingHeader");
    assert_eq!(refused(&mut client, &first_certificate), "AlreadyCertified");
    assert_eq!(client.last_height().expect("view"), 2);
}

#[test]
fn tampered_namespace_proofs_are_refused() {
    let committee = Committee::new(3, 4, 0);
    let mut client = deploy(&committee, 16);
    let mut outputs = Outputs::new(committee.epoch);
    let mut certified = Vec::new();
    for _ in 0..3 {
        let output = outputs.next();
        let certificate = committee.certify(&output, &committee.all());
        accept(&mut client, &certificate);
        certified.push((output, certificate));
    }
    let (output, certificate) = certified[2].clone();
    let height = output.header.height;
    // Height 3 holds rollup 10 only through a cross-rollup bundle with 30.
    let included = output
        .namespace_output(NamespaceId(10), certificate.clone())
        .expect("view");
    let root = items_root(&included.items);
    let count = included.items.len() as u64;
    let proof = calldata::namespace_proof(&included.proof, count).expect("encode");
    let holds =
        |client: &mut LightClient, height: u64, namespace: u64, root: [u8; 32], proof: Vec<u8>| {
            client
                .verify_namespace_raw(height, namespace, root, proof)
                .expect("evm")
                .0
        };
    assert!(holds(&mut client, height, 10, root, proof.clone()));
    // Another root, namespace, height or count; each byte of the proof.
    let mut other_root = root;
    other_root[0] ^= 1;
    assert!(!holds(&mut client, height, 10, other_root, proof.clone()));
    assert!(!holds(&mut client, height, 30, root, proof.clone()));
    assert!(!holds(&mut client, height - 1, 10, root, proof.clone()));
    assert!(!holds(&mut client, height + 1, 10, root, proof.clone()));
    for at in 0..proof.len() {
        let mut tampered = proof.clone();
        tampered[at] ^= 0x01;
        assert!(
            !holds(&mut client, height, 10, root, tampered),
            "proof byte {at}"
        );
    }
    let mut longer = proof.clone();
    longer.extend_from_slice(&[0; 32]);
    assert!(!holds(&mut client, height, 10, root, longer));
    assert!(!holds(
        &mut client,
        height,
        10,
        root,
        proof[..proof.len() - 32].to_vec()
    ));
    assert!(!holds(&mut client, height, 10, root, Vec::new()));

    // Height 2 holds rollups 10 and 30, not 20. Absence of 20: holds; each byte tampered does
    // not; and absence cannot be shown for 10 or 30, which have items.
    let (output, certificate) = certified[1].clone();
    let height = output.header.height;
    assert!(!output.namespaces.contains_key(&NamespaceId(20)));
    let absent = output
        .namespace_output(NamespaceId(20), certificate.clone())
        .expect("view");
    let empty = items_root(&[]);
    let absence = calldata::namespace_proof(&absent.proof, 0).expect("encode");
    assert!(holds(&mut client, height, 20, empty, absence.clone()));
    assert!(
        !holds(&mut client, height, 20, root, absence.clone()),
        "absence with items"
    );
    for at in 0..absence.len() {
        let mut tampered = absence.clone();
        tampered[at] ^= 0x01;
        assert!(
            !holds(&mut client, height, 20, empty, tampered),
            "absence byte {at}"
        );
    }
    assert!(!holds(&mut client, height, 10, empty, absence.clone()));
    assert!(!holds(&mut client, height, 30, empty, absence.clone()));
    // A fake absence of 10 from its real neighbour leaves: 30's leaf alone as "first above".
    let NamespaceProof::Absence {
        leaf_count,
        left,
        right,
    } = &absent.proof
    else {
        panic!("20 is absent at height 2");
    };
    let fake = NamespaceProof::Absence {
        leaf_count: *leaf_count,
        left: None,
        right: right.clone(),
    };
    let fake = calldata::namespace_proof(&fake, 0).expect("encode");
    assert!(!holds(&mut client, height, 10, empty, fake.clone()));
    assert!(!holds(&mut client, height, 20, empty, fake));
    let not_adjacent = NamespaceProof::Absence {
        leaf_count: *leaf_count,
        left: left.clone(),
        right: None,
    };
    let not_adjacent = calldata::namespace_proof(&not_adjacent, 0).expect("encode");
    assert!(!holds(&mut client, height, 20, empty, not_adjacent));
}

#[test]
fn the_committee_hands_over_only_at_the_boundary_with_a_quorum_of_the_old_one() {
    let old = Committee::new(4, 4, 5);
    let new = Committee::new(5, 7, 6);
    let mut client = deploy(&old, 16);
    let mut outputs = Outputs::new(old.epoch);
    let mut last = None;
    for _ in 0..2 {
        let output = outputs.next();
        accept(&mut client, &old.certify(&output, &old.all()));
        last = Some(output);
    }
    let last = last.expect("two heights");
    let boundary = last.header.height;
    let digest = last.header.digest();

    fn refuse(
        client: &mut LightClient,
        certificate: &shroud_proofs::HandoverCertificate,
    ) -> String {
        client
            .hand_over(certificate)
            .expect("evm")
            .expect_err("handover refused")
            .error
    }
    assert_eq!(
        refuse(
            &mut client,
            &old.hand_over(&new, boundary - 1, digest, &old.all())
        ),
        "HandoverBoundary"
    );
    assert_eq!(
        refuse(
            &mut client,
            &old.hand_over(&new, boundary, [1; 32], &old.all())
        ),
        "HandoverOutput"
    );
    assert_eq!(
        refuse(&mut client, &old.hand_over(&new, boundary, digest, &[0, 1])),
        "BelowQuorum"
    );
    // The incoming committee cannot vouch for itself.
    let self_signed = Committee {
        secrets: new.secrets[..4].to_vec(),
        keys: old.keys.clone(),
        epoch: old.epoch,
    }
    .hand_over(&new, boundary, digest, &[0, 1, 2, 3]);
    assert_eq!(refuse(&mut client, &self_signed), "BadSignature");
    // Keys that are not the ones signed for.
    let good = old.hand_over(&new, boundary, digest, &old.first_quorum());
    let mut data = calldata::hand_over(&client.artefact, &good).expect("calldata");
    let keys_at = 4 + 4 * 32 + 32 + 96 + 32; // head, handover (len + 96), keys length word
    data[keys_at + 40] ^= 1;
    assert_eq!(
        client
            .send_raw(data)
            .expect("evm")
            .expect_err("other keys")
            .error,
        "WrongKeysDigest"
    );

    let gas = client
        .hand_over(&good)
        .expect("evm")
        .expect("handover accepted");
    assert!(gas > 0);
    assert_eq!(
        client.committee().expect("view"),
        (new.epoch, new.size() as u64)
    );
    assert_eq!(refuse(&mut client, &good), "WrongEpoch");

    // The next height: the old committee's certificate is refused, the new one's accepted.
    let mut next_outputs = Outputs {
        epoch: new.epoch,
        height: boundary,
        parent: digest,
    };
    let next = next_outputs.next();
    let mut stale_epoch = next.clone();
    stale_epoch.header.epoch = old.epoch;
    assert_eq!(
        refused(&mut client, &old.certify(&stale_epoch, &old.all())),
        "WrongEpoch"
    );
    let forged = Committee {
        secrets: old.secrets.clone(),
        keys: old.keys.clone(),
        epoch: new.epoch,
    };
    assert_eq!(
        refused(&mut client, &forged.certify(&next, &[0, 1, 2, 3])),
        "BelowQuorum"
    );
    accept(&mut client, &new.certify(&next, &new.first_quorum()));
    check_namespaces(&mut client, &next, &new.certify(&next, &new.first_quorum()));
}

#[test]
fn keys_at_infinity_or_off_the_curve_are_refused_at_deployment() {
    let committee = Committee::new(6, 4, 0);
    let artefact = shroud_l1::Artefact::load().expect("artefact");
    let mut keys = calldata::committee_keys(&committee.keys);
    let deploy_with = |keys: Vec<u8>| {
        let mut code = artefact.bytecode.clone();
        code.extend_from_slice(&calldata::encode(&[
            Token::Uint(CHAIN_ID),
            Token::Uint(0),
            Token::Bytes(keys),
            Token::Uint(0),
            Token::Word([0; 32]),
            Token::Uint(16),
        ]));
        match LightClient::deploy_code(artefact.clone(), code).expect("evm") {
            Ok(_) => "deployed".to_owned(),
            Err(rejection) => rejection.error,
        }
    };
    assert_eq!(deploy_with(keys.clone()), "deployed");
    let mut infinity = keys.clone();
    infinity[128..256].fill(0);
    assert_eq!(deploy_with(infinity), "KeyAtInfinity");
    // A key and its negation: each is a fine point, their aggregate is infinity.
    let mut cancelling = keys[..128].to_vec();
    let mut negated = keys[..128].to_vec();
    negate_y(&mut negated);
    cancelling.extend_from_slice(&negated);
    assert_eq!(deploy_with(cancelling), "AggregateKeyAtInfinity");
    keys[200] ^= 1;
    assert_eq!(deploy_with(keys.clone()), "BadKey");
    assert_eq!(deploy_with(keys[..100].to_vec()), "BadKeysLength");
    assert_eq!(deploy_with(Vec::new()), "BadKeysLength");
}

/// Replaces the y coordinate of an EIP-2537 G1 point by p - y.
fn negate_y(point: &mut [u8]) {
    const P: [u8; 48] = [
        0x1a, 0x01, 0x11, 0xea, 0x39, 0x7f, 0xe6, 0x9a, 0x4b, 0x1b, 0xa7, 0xb6, 0x43, 0x4b, 0xac,
        0xd7, 0x64, 0x77, 0x4b, 0x84, 0xf3, 0x85, 0x12, 0xbf, 0x67, 0x30, 0xd2, 0xa0, 0xf6, 0xb0,
        0xf6, 0x24, 0x1e, 0xab, 0xff, 0xfe, 0xb1, 0x53, 0xff, 0xff, 0xb9, 0xfe, 0xff, 0xff, 0xff,
        0xff, 0xaa, 0xab,
    ];
    let y = &mut point[64 + 16..128];
    let mut borrow = 0i16;
    for i in (0..48).rev() {
        let mut digit = i16::from(P[i]) - i16::from(y[i]) - borrow;
        borrow = i16::from(digit < 0);
        if digit < 0 {
            digit += 256;
        }
        y[i] = digit as u8;
    }
    assert_eq!(borrow, 0, "y < p");
}

/// Gas is deterministic, so the budget of issue #8 is asserted here: at n = 100 with every
/// member signing, `submitOutput` (the whole transaction, storing the payload root included)
/// costs at most 220,000 gas once the ring has wrapped, and each absent signer adds at most
/// 1,100.
#[test]
fn submit_output_at_100_validators_stays_within_the_gas_budget() {
    let committee = Committee::new(7, 100, 0);
    let ring_size = 4;
    let mut client = deploy(&committee, ring_size);
    let mut outputs = Outputs::new(committee.epoch);
    for _ in 0..=ring_size {
        let output = outputs.next();
        accept(&mut client, &committee.certify(&output, &committee.all()));
    }
    let all = accept(
        &mut client,
        &committee.certify(&outputs.next(), &committee.all()),
    );
    let quorum = committee.quorum();
    // The absent members spread over the bitmap.
    let signers: Vec<usize> = (0..100)
        .filter(|i| i % 3 != 1 || *i >= 3 * (100 - quorum))
        .collect();
    assert_eq!(signers.len(), quorum);
    let partial = accept(&mut client, &committee.certify(&outputs.next(), &signers));
    let absent = (committee.size() - quorum) as u64;
    let per_absent = (partial - all) / absent;
    println!(
        "n=100: all signers {all} gas, 2f+1 signers {partial} gas, {per_absent} per absent signer"
    );
    assert!(
        all <= 220_000,
        "submitOutput with all 100 signers used {all} gas"
    );
    assert!(
        per_absent <= 1_100,
        "each absent signer costs {per_absent} gas"
    );
}
