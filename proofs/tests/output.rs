//! Outputs end to end: outcomes → header and namespace tree → certificate by real BLS keys →
//! a namespace output a rollup verifies; every tamper is refused.

use shroud_crypto::{CertificateBuilder, CommitteeKeys, SecretKey, SigningDomain};
use shroud_proofs::output::HeightContext;
use shroud_proofs::{
    build_output, output_quorum, Bundle, FailureReason, Item, NamespaceId, NamespaceOutput,
    NamespaceProof, Outcome, OutputCertificate, PositionEntry, ProofError, TxId,
};

const CHAIN: u64 = 7;
const EPOCH: u64 = 3;

/// Edits an inclusion proof's leaf index, leaf count and siblings.
type InclusionEdit = dyn Fn(&mut u32, &mut u32, &mut Vec<[u8; 32]>);

fn committee(n: usize) -> (Vec<SecretKey>, CommitteeKeys) {
    let secrets: Vec<SecretKey> = (0..n)
        .map(|i| SecretKey::from_seed(&[i as u8 + 1; 32]).expect("seed"))
        .collect();
    let members: Vec<_> = secrets
        .iter()
        .map(|secret| (secret.public_key(), secret.prove_possession()))
        .collect();
    (secrets, CommitteeKeys::new(&members).expect("committee"))
}

fn entries() -> Vec<PositionEntry> {
    let bundle = |items: &[(u64, &[u8])]| {
        Outcome::Decrypted(Bundle {
            items: items
                .iter()
                .map(|(namespace, data)| Item {
                    namespace: NamespaceId(*namespace),
                    data: data.to_vec(),
                })
                .collect(),
        })
    };
    vec![
        PositionEntry {
            tx_id: TxId::of(b"a"),
            outcome: bundle(&[(1, b"swap")]),
        },
        PositionEntry {
            tx_id: TxId::of(b"b"),
            outcome: Outcome::Failed(FailureReason::MalformedBundle),
        },
        PositionEntry {
            tx_id: TxId::of(b"c"),
            outcome: bundle(&[(2, b"mint"), (1, b"burn")]),
        },
        PositionEntry {
            tx_id: TxId::of(b"d"),
            outcome: bundle(&[(9, b"x")]),
        },
    ]
}

fn context(height: u64) -> HeightContext {
    HeightContext {
        chain_id: CHAIN,
        epoch: EPOCH,
        height,
        block_digest: [height as u8; 32],
        parent_output: [0; 32],
    }
}

fn certify(
    secrets: &[SecretKey],
    keys: &CommitteeKeys,
    header: shroud_proofs::OutputHeader,
    signers: usize,
) -> OutputCertificate {
    let mut builder =
        CertificateBuilder::new(keys, SigningDomain::OutputHeader, &header.encoding())
            .expect("builder");
    for (index, secret) in secrets.iter().enumerate().take(signers) {
        builder
            .add(
                index,
                &secret.sign(SigningDomain::OutputHeader, &header.encoding()),
            )
            .expect("valid signature");
    }
    let certificate = builder.finish(signers).expect("enough");
    OutputCertificate {
        header,
        signers: certificate.signers().as_bytes().to_vec(),
        signature: certificate.signature().to_bytes(),
    }
}

fn namespace_output(n: usize, namespace: u64) -> (CommitteeKeys, NamespaceOutput) {
    let (secrets, keys) = committee(n);
    let built = build_output(&context(5), &entries());
    let certificate = certify(&secrets, &keys, built.header, output_quorum(n));
    let output = built
        .namespace_output(NamespaceId(namespace), certificate)
        .expect("served");
    (keys, output)
}

#[test]
fn items_keep_their_positions_and_bundles_share_a_digest_across_namespaces() {
    let built = build_output(&context(5), &entries());
    let one = &built.namespaces[&NamespaceId(1)];
    let two = &built.namespaces[&NamespaceId(2)];
    assert_eq!(
        one.iter()
            .map(|i| (i.position, i.item_index))
            .collect::<Vec<_>>(),
        vec![(0, 0), (2, 1)]
    );
    assert_eq!(two.len(), 1);
    assert_eq!((two[0].position, two[0].item_index), (2, 0));
    assert_eq!(one[1].bundle_digest, two[0].bundle_digest);
    assert_eq!(one[1].tx_id, TxId::of(b"c"));
    assert!(!built.namespaces.contains_key(&NamespaceId(4)));
}

#[test]
fn the_header_is_deterministic_and_binds_every_outcome() {
    let header = build_output(&context(5), &entries()).header;
    assert_eq!(header, build_output(&context(5), &entries()).header);
    let mut changed = entries();
    changed[1].outcome = Outcome::Failed(FailureReason::Undecryptable);
    let other = build_output(&context(5), &changed).header;
    assert_ne!(other.ciphertexts_root, header.ciphertexts_root);
    assert_eq!(other.payload_root, header.payload_root);
    let mut swapped = entries();
    swapped.swap(0, 3);
    let other = build_output(&context(5), &swapped).header;
    assert_ne!(other.ciphertexts_root, header.ciphertexts_root);
    assert_ne!(other.payload_root, header.payload_root);
    assert_ne!(
        build_output(&context(6), &entries()).header.digest(),
        header.digest()
    );
}

#[test]
fn every_namespace_output_verifies_at_several_committee_sizes() {
    for n in [1, 4, 7] {
        for namespace in [0, 1, 2, 4, 9, 10] {
            let (keys, output) = namespace_output(n, namespace);
            output.verify(&keys, CHAIN, EPOCH).expect("valid output");
        }
    }
}

#[test]
fn each_tamper_is_refused() {
    let (keys, output) = namespace_output(4, 1);
    output.verify(&keys, CHAIN, EPOCH).expect("control");
    let refused = |mutate: &dyn Fn(&mut NamespaceOutput)| {
        let mut copy = output.clone();
        mutate(&mut copy);
        copy.verify(&keys, CHAIN, EPOCH)
            .expect_err("tampered output accepted")
    };
    assert_eq!(
        refused(&|o| o.items[0].data.push(0)),
        ProofError::NamespaceProof
    );
    assert_eq!(
        refused(&|o| o.items[1].position += 1),
        ProofError::NamespaceProof
    );
    assert_eq!(
        refused(&|o| o.items[0].bundle_digest[0] ^= 1),
        ProofError::NamespaceProof
    );
    assert_eq!(
        refused(&|o| o.items[0].tx_id.0[0] ^= 1),
        ProofError::NamespaceProof
    );
    assert_eq!(
        refused(&|o| {
            o.items.pop();
        }),
        ProofError::NamespaceProof
    );
    assert_eq!(refused(&|o| o.items.swap(0, 1)), ProofError::ItemOrder);
    assert_eq!(refused(&|o| o.items.clear()), ProofError::NoItems);
    assert_eq!(
        refused(&|o| o.namespace = NamespaceId(2)),
        ProofError::NamespaceProof
    );
    let with_inclusion = |o: &mut NamespaceOutput, edit: &InclusionEdit| {
        if let NamespaceProof::Inclusion {
            leaf_index,
            leaf_count,
            siblings,
        } = &mut o.proof
        {
            edit(leaf_index, leaf_count, siblings);
        }
    };
    assert_eq!(
        refused(&|o| with_inclusion(o, &|_, _, siblings| siblings[0][5] ^= 1)),
        ProofError::NamespaceProof
    );
    assert_eq!(
        refused(&|o| with_inclusion(o, &|_, count, _| *count += 1)),
        ProofError::NamespaceProof
    );
    assert_eq!(
        refused(&|o| with_inclusion(o, &|index, _, _| *index = 1)),
        ProofError::NamespaceProof
    );
    // The cross-rollup bundle at position 2: its evidence must be there and exact.
    assert_eq!(
        refused(&|o| o.bundles.clear()),
        ProofError::BundleEvidence { position: 2 }
    );
    assert_eq!(
        refused(&|o| o.bundles[0].commitments[0].1[0] ^= 1),
        ProofError::BundleEvidence { position: 2 }
    );
    assert_eq!(
        refused(&|o| o.bundles[0].siblings[0].item_siblings.push([0; 32])),
        ProofError::SiblingProof { position: 2 }
    );
    assert_eq!(
        refused(&|o| o.bundles[0].siblings[0].namespace_siblings[0][0] ^= 1),
        ProofError::SiblingProof { position: 2 }
    );
    assert_eq!(
        refused(&|o| o.bundles[0].siblings.clear()),
        ProofError::SiblingProof { position: 2 }
    );
    assert!(matches!(
        refused(&|o| o.certificate.header.payload_root[0] ^= 1),
        ProofError::Certificate(_)
    ));
    assert!(matches!(
        refused(&|o| o.certificate.header.height += 1),
        ProofError::Certificate(_)
    ));
    assert!(matches!(
        refused(&|o| o.certificate.signature[7] ^= 1),
        ProofError::Certificate(_)
    ));
    assert!(matches!(
        refused(&|o| o.certificate.signers[0] ^= 0b10),
        ProofError::Certificate(_)
    ));
    assert_eq!(
        refused(&|o| o.certificate.header.epoch = EPOCH + 1),
        ProofError::WrongEpoch {
            expected: EPOCH,
            got: EPOCH + 1
        }
    );
    assert_eq!(
        refused(&|o| o.certificate.header.chain_id = 1),
        ProofError::WrongChain {
            expected: CHAIN,
            got: 1
        }
    );
}

#[test]
fn a_certificate_below_two_thirds_is_refused() {
    let (secrets, keys) = committee(4);
    let header = build_output(&context(1), &entries()).header;
    let weak = certify(&secrets, &keys, header, 2);
    assert!(matches!(
        weak.verify(&keys, CHAIN, EPOCH),
        Err(ProofError::Certificate(_))
    ));
    certify(&secrets, &keys, header, 3)
        .verify(&keys, CHAIN, EPOCH)
        .expect("2f+1 of 4");
    assert_eq!(output_quorum(4), 3);
    assert_eq!(output_quorum(100), 67);
    assert_eq!(output_quorum(1), 1);
}

#[test]
fn an_empty_namespace_is_proved_empty_and_a_forged_absence_is_refused() {
    let (keys, output) = namespace_output(4, 4);
    assert!(output.items.is_empty());
    output
        .verify(&keys, CHAIN, EPOCH)
        .expect("absence between 2 and 9");
    let (_, below_all) = namespace_output(4, 0);
    below_all
        .verify(&keys, CHAIN, EPOCH)
        .expect("absence below every namespace");
    let (_, above_all) = namespace_output(4, 10);
    above_all
        .verify(&keys, CHAIN, EPOCH)
        .expect("absence above every namespace");

    // Claiming that namespace 2 (which has items) is empty, with neighbours 1 and 9.
    let (_, mut forged) = namespace_output(4, 4);
    forged.namespace = NamespaceId(2);
    assert_eq!(
        forged.verify(&keys, CHAIN, EPOCH),
        Err(ProofError::AbsenceProof)
    );
    // Dropping a neighbour, or claiming fewer leaves.
    let (_, mut forged) = namespace_output(4, 4);
    if let NamespaceProof::Absence { left, .. } = &mut forged.proof {
        *left = None;
    }
    assert_eq!(
        forged.verify(&keys, CHAIN, EPOCH),
        Err(ProofError::AbsenceProof)
    );
    let (_, mut forged) = namespace_output(4, 10);
    if let NamespaceProof::Absence { leaf_count, .. } = &mut forged.proof {
        *leaf_count += 1;
    }
    assert_eq!(
        forged.verify(&keys, CHAIN, EPOCH),
        Err(ProofError::AbsenceProof)
    );

    // A height with no decrypted item at all.
    let (secrets, keys) = committee(4);
    let empty = build_output(&context(8), &[]);
    let certificate = certify(&secrets, &keys, empty.header, 3);
    let output = empty
        .namespace_output(NamespaceId(1), certificate)
        .expect("served");
    output.verify(&keys, CHAIN, EPOCH).expect("empty tree");
}

#[test]
fn position_proofs_show_the_transaction_and_outcome_of_a_position() {
    let built = build_output(&context(5), &entries());
    for position in 0..4u32 {
        let proof = built.position_proof(position).expect("in range");
        proof.verify(&built.header).expect("valid");
        assert_eq!(built.position_of(&proof.tx_id), Some(position));
    }
    let failed = built.position_proof(1).expect("in range");
    assert_eq!(failed.failure(), Some(FailureReason::MalformedBundle));
    let mut forged = failed.clone();
    forged.outcome_code = 0;
    assert_eq!(forged.verify(&built.header), Err(ProofError::PositionProof));
    let mut forged = failed;
    forged.position = 2;
    assert_eq!(forged.verify(&built.header), Err(ProofError::PositionProof));
    assert!(built.position_proof(4).is_none());
}
