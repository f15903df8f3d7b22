//! Outputs end to end: outcomes → header and namespace tree → certificate by real BLS keys →
//! a namespace output a rollup verifies; every tamper is refused.

use shroud_crypto::{CertificateBuilder, CommitteeKeys, SecretKey, SigningDomain};
use shroud_proofs::output::HeightContext;
use shroud_proofs::{
    build_output, output_quorum, Bundle, FailureReason, Item, NamespaceId, NamespaceOutput,
    Outcome, OutputCertificate, PositionEntry, ProofError, TxId,
};

const CHAIN: u64 = 7;
const EPOCH: u64 = 3;

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
    let (items, proof) = built.namespace(NamespaceId(namespace)).expect("present");
    (
        keys,
        NamespaceOutput {
            certificate,
            namespace: NamespaceId(namespace),
            items,
            proof,
        },
    )
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
    assert!(built.namespace(NamespaceId(4)).is_none());
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
        for namespace in [1, 2, 9] {
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
    assert_eq!(
        refused(&|o| o.proof.siblings[0][5] ^= 1),
        ProofError::NamespaceProof
    );
    assert_eq!(
        refused(&|o| o.proof.leaf_count += 1),
        ProofError::NamespaceProof
    );
    assert_eq!(
        refused(&|o| o.proof.leaf_index = 1),
        ProofError::NamespaceProof
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
