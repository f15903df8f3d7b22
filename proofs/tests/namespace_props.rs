//! Property tests of namespace proofs over random heights: every namespace's output (items
//! with an inclusion proof, or an absence proof) verifies, and any change to an item, a proof
//! node, the root, the namespace or the height is refused, unless the changed claim is true
//! (another namespace that is just as empty between the same neighbours).

use proptest::prelude::*;
use shroud_crypto::{CertificateBuilder, CommitteeKeys, SecretKey, SigningDomain};
use shroud_proofs::output::HeightContext;
use shroud_proofs::{
    build_output, Bundle, FailureReason, Item, NamespaceId, NamespaceOutput, NamespaceProof,
    Outcome, OutputCertificate, OutputHeader, PositionEntry, TxId,
};

const NAMESPACES: u64 = 8;

fn committee() -> (Vec<SecretKey>, CommitteeKeys) {
    let secrets: Vec<SecretKey> = (0..4u8)
        .map(|i| SecretKey::from_seed(&[i + 40; 32]).expect("seed"))
        .collect();
    let members: Vec<_> = secrets
        .iter()
        .map(|secret| (secret.public_key(), secret.prove_possession()))
        .collect();
    (secrets, CommitteeKeys::new(&members).expect("committee"))
}

fn certify(secrets: &[SecretKey], keys: &CommitteeKeys, header: OutputHeader) -> OutputCertificate {
    let mut builder =
        CertificateBuilder::new(keys, SigningDomain::OutputHeader, &header.encoding())
            .expect("builder");
    for (index, secret) in secrets.iter().enumerate().take(3) {
        builder
            .add(
                index,
                &secret.sign(SigningDomain::OutputHeader, &header.encoding()),
            )
            .expect("signature");
    }
    let certificate = builder.finish(3).expect("quorum");
    OutputCertificate {
        header,
        signers: certificate.signers().as_bytes().to_vec(),
        signature: certificate.signature().to_bytes(),
    }
}

/// A position: `None` is a failure, else a bundle of (namespace, data) items.
type RawPosition = Option<Vec<(u64, Vec<u8>)>>;

fn entries() -> impl Strategy<Value = Vec<RawPosition>> {
    prop::collection::vec(
        prop::option::weighted(
            0.85,
            prop::collection::vec(
                (
                    (0..NAMESPACES / 2).prop_map(|n| n * 2),
                    prop::collection::vec(any::<u8>(), 0..12),
                ),
                1..4,
            ),
        ),
        0..12,
    )
}

fn to_entries(raw: &[RawPosition]) -> Vec<PositionEntry> {
    raw.iter()
        .enumerate()
        .map(|(i, position)| PositionEntry {
            tx_id: TxId::of(&(i as u64).to_be_bytes()),
            outcome: match position {
                Some(items) => Outcome::Decrypted(Bundle {
                    items: items
                        .iter()
                        .map(|(namespace, data)| Item {
                            namespace: NamespaceId(*namespace),
                            data: data.clone(),
                        })
                        .collect(),
                }),
                None => Outcome::Failed(FailureReason::Undecryptable),
            },
        })
        .collect()
}

/// Flips one bit somewhere in the proof's hashes; false if the proof has none.
fn flip_proof_node(output: &mut NamespaceOutput, pick: usize) -> bool {
    let mut nodes: Vec<&mut [u8; 32]> = Vec::new();
    match &mut output.proof {
        NamespaceProof::Inclusion { siblings, .. } => nodes.extend(siblings.iter_mut()),
        NamespaceProof::Absence { left, right, .. } => {
            for leaf in [left, right].into_iter().flatten() {
                nodes.push(&mut leaf.items_root);
                nodes.extend(leaf.siblings.iter_mut());
            }
        }
    }
    if nodes.is_empty() {
        return false;
    }
    let count = nodes.len();
    nodes[pick % count][pick % 32] ^= 1 << (pick % 8);
    true
}

fn present(output: &NamespaceOutput, namespace: NamespaceId) -> bool {
    output.certificate.header.payload_root != [0; 32]
        && !output.items.is_empty()
        && output.namespace == namespace
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn namespace_proofs_are_complete_and_sound(raw in entries(), pick in any::<usize>(), other in 0..NAMESPACES) {
        let (secrets, keys) = committee();
        let context = HeightContext { chain_id: 3, epoch: 1, height: 12, block_digest: [5; 32], parent_output: [6; 32] };
        let built = build_output(&context, &to_entries(&raw));
        let certificate = certify(&secrets, &keys, built.header);
        for namespace in (0..NAMESPACES).map(NamespaceId) {
            let output = built.namespace_output(namespace, certificate.clone()).expect("served");
            prop_assert!(output.verify_proofs().is_ok(), "{namespace} fails: {:?}", output.verify_proofs());
            prop_assert_eq!(output.items.is_empty(), !built.namespaces.contains_key(&namespace));

            if !output.items.is_empty() {
                let mut changed = output.clone();
                let item = pick % changed.items.len();
                changed.items[item].data.push((pick >> 3) as u8);
                prop_assert!(changed.verify_proofs().is_err(), "a changed item verified");
            }
            let mut changed = output.clone();
            if flip_proof_node(&mut changed, pick) {
                prop_assert!(changed.verify_proofs().is_err(), "a changed proof node verified");
            }
            let mut changed = output.clone();
            changed.certificate.header.payload_root[pick % 32] ^= 1;
            prop_assert!(changed.verify_proofs().is_err(), "a changed root verified");

            let mut changed = output.clone();
            changed.namespace = NamespaceId(other);
            if other != namespace.0 && changed.verify_proofs().is_ok() {
                // Only a true claim may verify: the other namespace is empty as well.
                prop_assert!(changed.items.is_empty() && !built.namespaces.contains_key(&changed.namespace));
                prop_assert!(!present(&changed, changed.namespace));
            }
        }
        // The height (and every header field) is bound by the certificate.
        let output = built.namespace_output(NamespaceId(0), certificate).expect("served");
        output.verify(&keys, 3, 1).expect("valid");
        let mut changed = output;
        changed.certificate.header.height += 1 + (pick as u64 % 5);
        prop_assert!(changed.verify(&keys, 3, 1).is_err(), "a changed height verified");
    }
}
