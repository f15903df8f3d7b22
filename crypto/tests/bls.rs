//! BLS keys, signatures, proofs of possession, certificates and EIP-2537 encodings.

use ark_bls12_381::{G1Affine, G1Projective, G2Affine};
use ark_ec::{AffineRepr, CurveGroup, PrimeGroup};
use ark_ff::{BigInteger, PrimeField};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use shroud_crypto::bls::{self, verify_batch, BatchItem};
use shroud_crypto::{
    BlsError, Certificate, CertificateBuilder, CertificateError, CommitteeKeys, ProofOfPossession,
    PublicKey, SecretKey, Signature, SignerBitmap, SigningDomain,
};

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn committee(size: usize, seed: u64) -> (Vec<SecretKey>, CommitteeKeys) {
    let mut rng = rng(seed);
    let secrets: Vec<SecretKey> = (0..size).map(|_| SecretKey::generate(&mut rng)).collect();
    let members: Vec<(PublicKey, ProofOfPossession)> = secrets
        .iter()
        .map(|secret| (secret.public_key(), secret.prove_possession()))
        .collect();
    let keys = CommitteeKeys::new(&members).expect("honest committee is accepted");
    (secrets, keys)
}

const INFINITY_G1: [u8; 48] = {
    let mut bytes = [0u8; 48];
    bytes[0] = 0xc0;
    bytes
};

const INFINITY_G2: [u8; 96] = {
    let mut bytes = [0u8; 96];
    bytes[0] = 0xc0;
    bytes
};

#[test]
fn seeded_keys_are_deterministic_and_short_seeds_refused() {
    let seed = [7u8; 32];
    let first = SecretKey::from_seed(&seed).expect("32-byte seed");
    let second = SecretKey::from_seed(&seed).expect("32-byte seed");
    assert_eq!(first.public_key(), second.public_key());
    assert_ne!(
        first.public_key(),
        SecretKey::from_seed(&[8u8; 32]).expect("seed").public_key()
    );
    assert_eq!(
        SecretKey::from_seed(&[7u8; 31]).err(),
        Some(BlsError::SeedTooShort { min: 32, got: 31 })
    );
    let round_trip = SecretKey::from_bytes(first.to_bytes().as_ref()).expect("canonical");
    assert_eq!(round_trip.public_key(), first.public_key());
}

#[test]
fn secret_key_debug_never_shows_the_secret() {
    let secret = SecretKey::random();
    let printed = format!("{secret:?}");
    let secret_hex = hex::encode(secret.to_bytes().as_ref());
    assert!(!printed.contains(&secret_hex));
    assert!(!printed.contains(&secret_hex[..16]));
    assert!(printed.starts_with("SecretKey(for PublicKey("));
}

#[test]
fn sign_and_verify_with_tampering() {
    let secret = SecretKey::generate(&mut rng(1));
    let public = secret.public_key();
    let encoding = b"block 42 digest";
    let signature = secret.sign(SigningDomain::Vote, encoding);
    public
        .verify(SigningDomain::Vote, encoding, &signature)
        .expect("valid signature verifies");

    // Wrong message, wrong domain, wrong key.
    assert_eq!(
        public.verify(SigningDomain::Vote, b"block 43 digest", &signature),
        Err(BlsError::BadSignature)
    );
    for domain in SigningDomain::ALL {
        if domain != SigningDomain::Vote {
            assert_eq!(
                public.verify(domain, encoding, &signature),
                Err(BlsError::BadSignature),
                "{domain:?}"
            );
        }
    }
    let other = SecretKey::generate(&mut rng(2)).public_key();
    assert_eq!(
        other.verify(SigningDomain::Vote, encoding, &signature),
        Err(BlsError::BadSignature)
    );

    // A signature with one bit flipped either fails to decode or fails to verify.
    let bytes = signature.to_bytes();
    for position in [0usize, 1, 47, 48, 95] {
        let mut tampered = bytes;
        tampered[position] ^= 0x01;
        let outcome = Signature::from_bytes(&tampered)
            .and_then(|signature| public.verify(SigningDomain::Vote, encoding, &signature));
        assert!(outcome.is_err(), "flip at byte {position} accepted");
    }
}

#[test]
fn domain_tags_are_distinct_and_messages_differ() {
    let mut messages: Vec<[u8; 32]> = SigningDomain::ALL
        .iter()
        .map(|domain| bls::signing_message(*domain, b"same bytes"))
        .collect();
    messages.sort();
    messages.dedup();
    assert_eq!(messages.len(), SigningDomain::ALL.len());
}

#[test]
fn infinity_keys_and_signatures_are_refused() {
    assert_eq!(PublicKey::from_bytes(&INFINITY_G1), Err(BlsError::Infinity));
    assert_eq!(Signature::from_bytes(&INFINITY_G2), Err(BlsError::Infinity));
    assert_eq!(
        PublicKey::from_eip2537(&[0u8; 128]),
        Err(BlsError::Infinity)
    );
    assert_eq!(
        Signature::from_eip2537(&[0u8; 256]),
        Err(BlsError::Infinity)
    );
    assert_eq!(
        PublicKey::from_bytes(&[0u8; 47]),
        Err(BlsError::WrongLength {
            expected: 48,
            got: 47
        })
    );
}

#[test]
fn points_outside_the_subgroup_are_refused() {
    // x = 4 is on E(Fp) (y² = 4³ + 4 = 68 has a root), but the point is not in the subgroup of
    // order r; find the first such x to get a concrete point.
    let mut x = 0u64;
    let point = loop {
        x += 1;
        if let Some(point) = G1Affine::get_point_from_x_unchecked(x.into(), false) {
            if !point.is_in_correct_subgroup_assuming_on_curve() {
                break point;
            }
        }
    };
    let mut bytes = Vec::new();
    point
        .serialize_compressed(&mut bytes)
        .expect("serialize a point");
    assert_eq!(PublicKey::from_bytes(&bytes), Err(BlsError::NotInSubgroup));
}

#[test]
fn proof_of_possession_defeats_a_rogue_key() {
    let victim = SecretKey::generate(&mut rng(10));
    let victim_key = victim.public_key();

    // The attacker picks a secret a and publishes pk_rogue = a·g − pk_victim, so that
    // pk_victim + pk_rogue = a·g, a key whose secret the attacker knows.
    let attacker = SecretKey::generate(&mut rng(11));
    let attacker_point =
        G1Affine::deserialize_compressed(&attacker.public_key().to_bytes()[..]).expect("point");
    let victim_point = G1Affine::deserialize_compressed(&victim_key.to_bytes()[..]).expect("point");
    let rogue_point = (G1Projective::from(attacker_point) - victim_point).into_affine();
    let mut rogue_bytes = Vec::new();
    rogue_point
        .serialize_compressed(&mut rogue_bytes)
        .expect("serialize a point");
    let rogue_key = PublicKey::from_bytes(&rogue_bytes).expect("a valid subgroup point");

    // Without the proof of possession the attack works: a signature by the attacker alone
    // verifies as a two-signer certificate naming the victim.
    let encoding = b"output header";
    let forged = attacker.sign(SigningDomain::OutputHeader, encoding);
    let sum = PublicKey::aggregate([&victim_key, &rogue_key]).expect("non-zero sum");
    sum.verify(SigningDomain::OutputHeader, encoding, &forged)
        .expect("the attack works against plain aggregation");

    // The committee refuses the rogue key: the attacker cannot prove possession of it.
    let rogue_proof = attacker.prove_possession();
    assert_eq!(
        rogue_proof.verify(&rogue_key),
        Err(BlsError::BadProofOfPossession)
    );
    let members = [
        (victim_key, victim.prove_possession()),
        (rogue_key, rogue_proof),
    ];
    assert_eq!(
        CommitteeKeys::new(&members),
        Err(CertificateError::BadProofOfPossession { index: 1 })
    );
}

#[test]
fn committee_refuses_a_duplicate_key() {
    let secret = SecretKey::generate(&mut rng(12));
    let member = (secret.public_key(), secret.prove_possession());
    let other = SecretKey::generate(&mut rng(13));
    let members = [
        member,
        (other.public_key(), other.prove_possession()),
        member,
    ];
    assert_eq!(
        CommitteeKeys::new(&members),
        Err(CertificateError::DuplicateKey {
            first: 0,
            second: 2
        })
    );
}

fn certificate_of(
    secrets: &[SecretKey],
    keys: &CommitteeKeys,
    signers: &[usize],
    encoding: &[u8],
) -> Certificate {
    let mut builder =
        CertificateBuilder::new(keys, SigningDomain::OutputHeader, encoding).expect("builder");
    for signer in signers {
        let signature = secrets[*signer].sign(SigningDomain::OutputHeader, encoding);
        assert!(builder.add(*signer, &signature).expect("valid vote"));
    }
    builder.finish(signers.len()).expect("enough signers")
}

#[test]
fn certificates_verify_and_tampering_is_caught() {
    let (secrets, keys) = committee(4, 20);
    let encoding = b"header at height 7";
    let certificate = certificate_of(&secrets, &keys, &[0, 2, 3], encoding);
    certificate
        .verify(&keys, 3, SigningDomain::OutputHeader, encoding)
        .expect("a 3-of-4 certificate verifies at threshold 3");

    // Threshold not met.
    assert_eq!(
        certificate.verify(&keys, 4, SigningDomain::OutputHeader, encoding),
        Err(CertificateError::BelowThreshold {
            signers: 3,
            threshold: 4
        })
    );
    // Wrong message and wrong domain.
    assert_eq!(
        certificate.verify(&keys, 3, SigningDomain::OutputHeader, b"header at height 8"),
        Err(CertificateError::BadSignature)
    );
    assert_eq!(
        certificate.verify(&keys, 3, SigningDomain::Vote, encoding),
        Err(CertificateError::BadSignature)
    );
    // A bitmap that names a non-signer, or drops a signer.
    let mut swapped = SignerBitmap::new(4).expect("bitmap");
    for index in [0, 1, 3] {
        swapped.insert(index).expect("in range");
    }
    let tampered = Certificate::from_parts(swapped, *certificate.signature());
    assert_eq!(
        tampered.verify(&keys, 3, SigningDomain::OutputHeader, encoding),
        Err(CertificateError::BadSignature)
    );
    let mut added = certificate.signers().clone();
    added.insert(1).expect("in range");
    let tampered = Certificate::from_parts(added, *certificate.signature());
    assert_eq!(
        tampered.verify(&keys, 3, SigningDomain::OutputHeader, encoding),
        Err(CertificateError::BadSignature)
    );
    // A different aggregate signature.
    let other = certificate_of(&secrets, &keys, &[0, 2, 3], b"another header");
    let tampered = Certificate::from_parts(certificate.signers().clone(), *other.signature());
    assert_eq!(
        tampered.verify(&keys, 3, SigningDomain::OutputHeader, encoding),
        Err(CertificateError::BadSignature)
    );
}

#[test]
fn certificate_encoding_round_trips_and_refuses_bad_bitmaps() {
    let (secrets, keys) = committee(10, 21);
    let encoding = b"batch digest";
    let certificate = certificate_of(&secrets, &keys, &[1, 4, 5, 6, 7, 8, 9], encoding);
    let bytes = certificate.to_bytes();
    assert_eq!(bytes.len(), 2 + 96);
    let decoded = Certificate::from_bytes(10, &bytes).expect("round trip");
    assert_eq!(decoded, certificate);
    assert_eq!(
        decoded.signers().iter().collect::<Vec<_>>(),
        vec![1, 4, 5, 6, 7, 8, 9]
    );

    // Bit 10 is past the last member.
    let mut bad = bytes.clone();
    bad[1] |= 0b0000_0100;
    assert_eq!(
        Certificate::from_bytes(10, &bad),
        Err(CertificateError::UnknownSigner {
            index: 10,
            committee_size: 10
        })
    );
    // A bitmap for another committee size.
    assert!(Certificate::from_bytes(17, &bytes).is_err());
    assert!(Certificate::from_bytes(10, &bytes[..bytes.len() - 1]).is_err());
}

#[test]
fn builder_refuses_bad_and_ignores_repeated_votes() {
    let (secrets, keys) = committee(4, 22);
    let encoding = b"vote";
    let mut builder =
        CertificateBuilder::new(&keys, SigningDomain::Vote, encoding).expect("builder");
    let wrong = secrets[1].sign(SigningDomain::Vote, b"other");
    assert_eq!(builder.add(1, &wrong), Err(CertificateError::BadSignature));
    let good = secrets[1].sign(SigningDomain::Vote, encoding);
    assert_eq!(builder.add(1, &good), Ok(true));
    assert_eq!(builder.add(1, &good), Ok(false));
    assert!(builder.add(4, &good).is_err());
    assert_eq!(builder.count(), 1);
    assert!(builder.finish(2).is_err());
}

#[test]
fn pending_signatures_are_checked_together_and_a_bad_one_is_named() {
    let (secrets, keys) = committee(7, 23);
    let encoding = b"header";
    let sign = |i: usize| secrets[i].sign(SigningDomain::OutputHeader, encoding);
    let mut builder =
        CertificateBuilder::new(&keys, SigningDomain::OutputHeader, encoding).expect("builder");
    for i in [0usize, 2, 3] {
        assert_eq!(builder.add_pending(i, &sign(i)), Ok(true));
    }
    assert_eq!(builder.add_pending(2, &sign(2)), Ok(false));
    assert!(builder.add_pending(7, &sign(0)).is_err());
    assert_eq!((builder.count(), builder.pending_count()), (0, 3));
    assert_eq!(builder.check_pending(), Vec::<usize>::new());
    assert_eq!((builder.count(), builder.pending_count()), (3, 0));
    // A signature over another message, and one by another member: both named, the good
    // one beside them kept.
    let other_message = secrets[4].sign(SigningDomain::OutputHeader, b"other header");
    assert_eq!(builder.add_pending(4, &other_message), Ok(true));
    assert_eq!(builder.add_pending(5, &sign(5)), Ok(true));
    assert_eq!(builder.add_pending(6, &sign(1)), Ok(true));
    assert_eq!(builder.add_pending(3, &sign(3)), Ok(false));
    // A member pending is not added a second way (the bitmap and the signatures stay one to
    // one).
    assert_eq!(builder.add(5, &sign(5)), Ok(false));
    assert_eq!(builder.add_own(5, &sign(5)), Ok(false));
    assert_eq!(builder.check_pending(), vec![4, 6]);
    assert_eq!(builder.count(), 4);
    let certificate = builder.finish(4).expect("four good signatures");
    certificate
        .verify(&keys, 4, SigningDomain::OutputHeader, encoding)
        .expect("the certificate verifies");
    assert_eq!(
        certificate.signers().iter().collect::<Vec<_>>(),
        vec![0, 2, 3, 5]
    );
}

#[test]
fn batch_verification_accepts_valid_and_refuses_one_bad() {
    let mut rng = rng(30);
    let secrets: Vec<SecretKey> = (0..100).map(|_| SecretKey::generate(&mut rng)).collect();
    let keys: Vec<PublicKey> = secrets.iter().map(SecretKey::public_key).collect();
    let encodings: Vec<Vec<u8>> = (0..100u32).map(|i| i.to_be_bytes().to_vec()).collect();
    let mut signatures: Vec<Signature> = secrets
        .iter()
        .zip(&encodings)
        .map(|(secret, encoding)| secret.sign(SigningDomain::Vote, encoding))
        .collect();
    let items = |signatures: &[Signature]| -> Vec<(usize, Signature)> {
        signatures.iter().copied().enumerate().collect()
    };
    let check = |signatures: &[Signature], rng: &mut ChaCha20Rng| {
        let owned = items(signatures);
        let batch: Vec<BatchItem<'_>> = owned
            .iter()
            .map(|(i, signature)| BatchItem {
                public_key: &keys[*i],
                domain: SigningDomain::Vote,
                encoding: &encodings[*i],
                signature,
            })
            .collect();
        verify_batch(&batch, rng)
    };
    check(&signatures, &mut rng).expect("100 valid votes");
    // Swap two signatures: each is valid, but for another message.
    signatures.swap(17, 18);
    assert_eq!(check(&signatures, &mut rng), Err(BlsError::BadSignature));
    assert_eq!(verify_batch(&[], &mut rng), Err(BlsError::EmptyAggregate));
}

/// EIP-2537's encoding of the G1 generator, from the EIP's text.
const G1_GENERATOR_X: &str = "17f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb";
const G1_GENERATOR_Y: &str = "08b3f481e3aaa0f1a09e30ed741d8ae4fcf5e095d5d00af600db18cb2c04b3edd03cc744a2888ae40caa232946c5e7e1";

#[test]
fn eip2537_layout_of_g1_matches_the_generator() {
    let mut one = [0u8; 32];
    one[31] = 1;
    let key = SecretKey::from_bytes(&one)
        .expect("1 is a valid secret")
        .public_key();
    let encoded = key.to_eip2537();
    let expected = format!(
        "{}{G1_GENERATOR_X}{}{G1_GENERATOR_Y}",
        "00".repeat(16),
        "00".repeat(16)
    );
    assert_eq!(hex::encode(encoded), expected);
    assert_eq!(PublicKey::from_eip2537(&encoded), Ok(key));
    let mut bad_padding = encoded;
    bad_padding[3] = 1;
    assert_eq!(
        PublicKey::from_eip2537(&bad_padding),
        Err(BlsError::Eip2537Padding { element: 0 })
    );
    let mut bad_padding = encoded;
    bad_padding[64] = 1;
    assert_eq!(
        PublicKey::from_eip2537(&bad_padding),
        Err(BlsError::Eip2537Padding { element: 1 })
    );
    // Off the curve: y + 1.
    let mut off_curve = encoded;
    off_curve[127] ^= 1;
    assert!(PublicKey::from_eip2537(&off_curve).is_err());
}

#[test]
fn eip2537_layout_of_g2_is_c0_first() {
    let secret = SecretKey::generate(&mut rng(40));
    let signature = secret.sign(SigningDomain::OutputHeader, b"header");
    // arkworks reads the same compressed point independently.
    let point =
        G2Affine::deserialize_compressed(&signature.to_bytes()[..]).expect("valid G2 point");
    let (x, y) = point.xy().expect("not infinity");
    let mut expected = Vec::new();
    for coordinate in [x.c0, x.c1, y.c0, y.c1] {
        expected.extend_from_slice(&[0u8; 16]);
        expected.extend_from_slice(&coordinate.into_bigint().to_bytes_be());
    }
    let encoded = signature.to_eip2537();
    assert_eq!(encoded.to_vec(), expected);
    assert_eq!(Signature::from_eip2537(&encoded), Ok(signature));
    let mut bad_padding = encoded;
    bad_padding[192] = 1;
    assert_eq!(
        Signature::from_eip2537(&bad_padding),
        Err(BlsError::Eip2537Padding { element: 3 })
    );
    // Sanity: the G1 generator of arkworks matches the EIP constant used above.
    let generator = G1Projective::generator().into_affine();
    let (gx, _) = generator.xy().expect("not infinity");
    assert_eq!(hex::encode(gx.into_bigint().to_bytes_be()), G1_GENERATOR_X);
}

#[test]
fn aggregate_over_distinct_messages() {
    let (secrets, _) = committee(5, 50);
    // Members 0, 1, 2 sign "view 9 / qc 7"; members 3, 4 sign "view 9 / qc 8".
    let first: &[u8] = b"view 9 / qc 7";
    let second: &[u8] = b"view 9 / qc 8";
    let mut signatures = Vec::new();
    for (index, secret) in secrets.iter().enumerate() {
        let encoding = if index < 3 { first } else { second };
        signatures.push(secret.sign(SigningDomain::Timeout, encoding));
    }
    let aggregate = Signature::aggregate(&signatures).expect("non-empty");
    let keys: Vec<PublicKey> = secrets.iter().map(SecretKey::public_key).collect();
    let first_key = PublicKey::aggregate(&keys[..3]).expect("non-empty");
    let second_key = PublicKey::aggregate(&keys[3..]).expect("non-empty");
    bls::verify_aggregate(
        SigningDomain::Timeout,
        &[(first_key, first), (second_key, second)],
        &aggregate,
    )
    .expect("valid multi-message aggregate");
    // Swapping which group signed what fails; so does another domain or a repeated message.
    assert_eq!(
        bls::verify_aggregate(
            SigningDomain::Timeout,
            &[(first_key, second), (second_key, first)],
            &aggregate,
        ),
        Err(BlsError::BadSignature)
    );
    assert_eq!(
        bls::verify_aggregate(
            SigningDomain::Vote,
            &[(first_key, first), (second_key, second)],
            &aggregate,
        ),
        Err(BlsError::BadSignature)
    );
    assert_eq!(
        bls::verify_aggregate(
            SigningDomain::Timeout,
            &[(first_key, first), (second_key, first)],
            &aggregate,
        ),
        Err(BlsError::DuplicateMessage)
    );
}

#[test]
fn g2_points_outside_the_subgroup_and_bad_eip2537_top_bits_are_refused() {
    use ark_bls12_381::{Fq, Fq2};
    let mut x = 0u64;
    let point = loop {
        x += 1;
        let candidate = Fq2::new(Fq::from(x), Fq::from(0u64));
        if let Some(point) = G2Affine::get_point_from_x_unchecked(candidate, false) {
            if !point.is_in_correct_subgroup_assuming_on_curve() {
                break point;
            }
        }
    };
    let mut bytes = Vec::new();
    point
        .serialize_compressed(&mut bytes)
        .expect("serialize a point");
    assert_eq!(Signature::from_bytes(&bytes), Err(BlsError::NotInSubgroup));

    // A coordinate with a top bit set is not below the field modulus.
    let key = SecretKey::generate(&mut rng(60)).public_key();
    let mut encoded = key.to_eip2537();
    encoded[16] |= 0x20;
    assert_eq!(
        PublicKey::from_eip2537(&encoded),
        Err(BlsError::BadEncoding)
    );
}
