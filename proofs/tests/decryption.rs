//! Decryption evidence end to end: real ciphertexts, real share batches combined into points,
//! a certified output by real BLS keys; the evidence verifies, and a wrong point, a wrong
//! plaintext, a swapped ciphertext or a missing position is caught.

use ark_serialize::CanonicalSerialize;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use shroud_crypto::tdh2::{
    combine_share_batches, create_share_batch, encrypt, trusted_dealer_for_local_testnet, G1Point,
    Label, PublicKeySet, VerifiedCiphertext,
};
use shroud_crypto::{CertificateBuilder, CommitteeKeys, SecretKey, SigningDomain, ThresholdError};
use shroud_proofs::output::HeightContext;
use shroud_proofs::{
    build_output, output_quorum, Bundle, BundleLimits, DecryptionError, DecryptionEvidence,
    FailureReason, Item, NamespaceId, Outcome, OutputCertificate, PositionEntry, SharedPosition,
    TxId,
};

const CHAIN: u64 = 7;
const EPOCH: u64 = 3;
const PAYLOAD_MAX: usize = 4096;

struct Setup {
    keys: CommitteeKeys,
    public: PublicKeySet,
    evidence: DecryptionEvidence,
    /// A second bundle's ciphertext and point (for substitutions).
    other: SharedPosition,
}

/// A committee of four BLS keys from seeds `first..first + 4`.
fn committee(first: u8) -> (Vec<SecretKey>, CommitteeKeys) {
    let secrets: Vec<SecretKey> = (first..first + 4)
        .map(|i| SecretKey::from_seed(&[i; 32]).expect("seed"))
        .collect();
    let members: Vec<_> = secrets
        .iter()
        .map(|secret| (secret.public_key(), secret.prove_possession()))
        .collect();
    (secrets, CommitteeKeys::new(&members).expect("committee"))
}

/// Height 9's header over `entries`, certified by a quorum of `secrets`.
fn certify(
    secrets: &[SecretKey],
    keys: &CommitteeKeys,
    entries: &[PositionEntry],
) -> OutputCertificate {
    let header = build_output(
        &HeightContext {
            chain_id: CHAIN,
            epoch: EPOCH,
            height: 9,
            block_digest: [9; 32],
            parent_output: [8; 32],
        },
        entries,
    )
    .header;
    let mut builder =
        CertificateBuilder::new(keys, SigningDomain::OutputHeader, &header.encoding())
            .expect("builder");
    for (index, secret) in secrets.iter().enumerate().take(output_quorum(4)) {
        builder
            .add(
                index,
                &secret.sign(SigningDomain::OutputHeader, &header.encoding()),
            )
            .expect("valid");
    }
    let certificate = builder.finish(output_quorum(4)).expect("quorum");
    OutputCertificate {
        header,
        signers: certificate.signers().as_bytes().to_vec(),
        signature: certificate.signature().to_bytes(),
    }
}

fn setup() -> Setup {
    let mut rng = ChaCha20Rng::seed_from_u64(33);
    let (secrets, keys) = committee(1);
    let (public, key_shares) = trusted_dealer_for_local_testnet(2, 4, &mut rng).expect("dealer");
    let bundle = |k: u8| Bundle {
        items: vec![Item {
            namespace: NamespaceId(u64::from(k) + 1),
            data: vec![k; 20],
        }],
    };
    // Positions: two bundles, an expired one (no shares), a payload that is not a bundle.
    let plaintexts = [
        Some(bundle(0).encode()),
        Some(bundle(1).encode()),
        None,
        Some(b"not a bundle".to_vec()),
        Some(bundle(4).encode()),
    ];
    let label = |k: usize| Label {
        chain_id: CHAIN,
        epoch: EPOCH,
        valid_through: 100,
        nonce: [k as u8; 32],
    };
    let wire: Vec<Vec<u8>> = plaintexts
        .iter()
        .enumerate()
        .map(|(k, plaintext)| {
            let plaintext = plaintext.clone().unwrap_or_else(|| b"late".to_vec());
            encrypt(public.encryption_key(), label(k), &plaintext, &mut rng).to_bytes()
        })
        .collect();
    let shared_at: Vec<usize> = vec![0, 1, 3, 4];
    let verified: Vec<VerifiedCiphertext> = shared_at
        .iter()
        .map(|k| {
            VerifiedCiphertext::vouched(&wire[*k], PAYLOAD_MAX, public.encryption_key())
                .expect("decodes")
        })
        .collect();
    let refs: Vec<&VerifiedCiphertext> = verified.iter().collect();
    let batches: Vec<_> = key_shares[..2]
        .iter()
        .map(|key_share| create_share_batch(key_share, &refs, &mut rng))
        .collect();
    let senders: Vec<(u16, &[G1Point])> = batches
        .iter()
        .map(|batch| (batch.index(), batch.values()))
        .collect();
    let points = combine_share_batches(&public, &refs, &senders, &mut rng)
        .expect("combines")
        .expect("honest");
    let compressed = |point: &G1Point| {
        let mut out = [0u8; 48];
        point
            .serialize_compressed(out.as_mut_slice())
            .expect("48 bytes");
        out
    };
    let entries: Vec<PositionEntry> = wire
        .iter()
        .enumerate()
        .map(|(k, bytes)| PositionEntry {
            tx_id: TxId::of(bytes),
            outcome: match k {
                2 => Outcome::Failed(FailureReason::Expired),
                3 => Outcome::Failed(FailureReason::MalformedBundle),
                _ => Outcome::Decrypted(bundle(k as u8)),
            },
        })
        .collect();
    let certificate = certify(&secrets, &keys, &entries);
    let shared: Vec<SharedPosition> = shared_at
        .iter()
        .zip(&points)
        .map(|(k, point)| SharedPosition {
            position: *k as u32,
            ciphertext: wire[*k].clone(),
            point: compressed(point),
        })
        .collect();
    let other = SharedPosition {
        position: 0,
        ..shared[1].clone()
    };
    Setup {
        keys,
        public,
        evidence: DecryptionEvidence {
            certificate,
            entries,
            shared,
        },
        other,
    }
}

fn check(setup: &Setup, evidence: &DecryptionEvidence) -> Result<(), DecryptionError> {
    evidence.verify(
        &setup.keys,
        &setup.public,
        (CHAIN, EPOCH),
        PAYLOAD_MAX,
        &BundleLimits::default(),
    )
}

#[test]
fn honest_evidence_verifies_and_every_tamper_is_caught() {
    let setup = setup();
    assert_eq!(check(&setup, &setup.evidence), Ok(()));

    // A wrong point: another position's true point in place of position 0's.
    let mut wrong_point = setup.evidence.clone();
    wrong_point.shared[0].point = setup.other.point;
    assert_eq!(
        check(&setup, &wrong_point),
        Err(DecryptionError::Crypto(ThresholdError::WrongSharedPoint))
    );
    // Both ciphertext and point of another position: not the ordered transaction.
    let mut swapped = setup.evidence.clone();
    swapped.shared[0] = setup.other.clone();
    assert_eq!(
        check(&setup, &swapped),
        Err(DecryptionError::TxId { position: 0 })
    );
    // A wrong plaintext in the entries breaks the certified header; a certified entry that
    // re-opens differently is caught by re-opening (the malformed one claimed decrypted).
    let mut wrong_plaintext = setup.evidence.clone();
    wrong_plaintext.entries[0].outcome = Outcome::Decrypted(Bundle {
        items: vec![Item {
            namespace: NamespaceId(1),
            data: b"forged".to_vec(),
        }],
    });
    assert_eq!(
        check(&setup, &wrong_plaintext),
        Err(DecryptionError::Entries)
    );
    // A position left out, or one that got no shares given a point.
    let mut missing = setup.evidence.clone();
    missing.shared.remove(2);
    assert_eq!(check(&setup, &missing), Err(DecryptionError::Positions));
    let mut extra = setup.evidence.clone();
    extra.shared.insert(
        2,
        SharedPosition {
            position: 2,
            ..setup.other.clone()
        },
    );
    assert_eq!(check(&setup, &extra), Err(DecryptionError::Positions));
    // A certificate by another committee.
    let (_, other_keys) = committee(10);
    assert!(matches!(
        setup.evidence.verify(
            &other_keys,
            &setup.public,
            (CHAIN, EPOCH),
            PAYLOAD_MAX,
            &BundleLimits::default()
        ),
        Err(DecryptionError::Output(_))
    ));
}

/// The outcome check itself: evidence whose certified outcome disagrees with what the true
/// point opens (a committee that certified a wrong plaintext) is refused.
#[test]
fn a_certified_outcome_that_the_point_does_not_give_is_refused() {
    let setup = setup();
    let mut lying = setup.evidence.clone();
    // Position 3 opens to bytes that are not a bundle; certify it as decrypted instead, with
    // a header and certificate rebuilt over the lie (as a lying quorum would).
    lying.entries[3].outcome = Outcome::Decrypted(Bundle {
        items: vec![Item {
            namespace: NamespaceId(5),
            data: b"invented".to_vec(),
        }],
    });
    let (secrets, _) = committee(1);
    lying.certificate = certify(&secrets, &setup.keys, &lying.entries);
    assert_eq!(
        check(&setup, &lying),
        Err(DecryptionError::Outcome { position: 3 })
    );
}
