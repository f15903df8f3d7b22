//! Threshold encryption: round trips, thresholds, tampering, bad shares, encodings.

use ark_bls12_381::{Fr, G1Affine, G1Projective, G2Projective};
use ark_ec::{AffineRepr, CurveGroup, PrimeGroup};
use ark_ff::{BigInteger, PrimeField};
use ark_serialize::CanonicalSerialize;
use ark_std::UniformRand;
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use shroud_crypto::shamir::{interpolate_at_zero, SecretPolynomial};
use shroud_crypto::tdh2::{
    all_valid, combine, combine_many_optimistic, combine_optimistic, create_share, encrypt,
    interpolate, trusted_dealer_for_local_testnet, verify_ciphertexts, verify_share, verify_shares,
    Ciphertext, Context, DecryptionShare, KeyShare, Label, PublicKeySet, VerifiedCiphertext,
    VerifiedShare, HEADER_BYTES, SHARE_BYTES,
};
use shroud_crypto::ThresholdError;

const PAYLOAD_MAX: usize = 64 * 1024;

const CONTEXT: Context = Context {
    chain_id: 7,
    epoch: 3,
};

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn label(nonce_byte: u8) -> Label {
    Label {
        chain_id: 7,
        epoch: 3,
        valid_through: 1_000,
        nonce: [nonce_byte; 32],
    }
}

fn encrypt_verified(
    public: &PublicKeySet,
    plaintext: &[u8],
    rng: &mut ChaCha20Rng,
) -> VerifiedCiphertext {
    encrypt(public.encryption_key(), label(1), plaintext, rng)
        .verify(public.encryption_key(), &CONTEXT)
        .expect("a fresh ciphertext is valid")
}

/// A ciphertext's wire bytes with `u` replaced by the identity's encoding.
fn with_identity_u(bytes: &[u8]) -> Vec<u8> {
    let mut zero = Vec::new();
    G1Affine::zero()
        .serialize_compressed(&mut zero)
        .expect("serialize");
    let mut changed = bytes.to_vec();
    changed[57..105].copy_from_slice(&zero);
    changed
}

fn round_trip(threshold: usize, share_count: usize, seed: u64) {
    let mut rng = rng(seed);
    let (public, key_shares) =
        trusted_dealer_for_local_testnet(threshold, share_count, &mut rng).expect("dealer");
    let plaintext = b"swap 10 ETH for USDC on rollup A".to_vec();
    let ciphertext = encrypt_verified(&public, &plaintext, &mut rng);
    let shares: Vec<DecryptionShare> = key_shares
        .iter()
        .map(|key_share| create_share(key_share, &ciphertext, &mut rng))
        .collect();
    let checked = verify_shares(
        &public,
        shares
            .iter()
            .map(|share| (&ciphertext, share.clone()))
            .collect(),
        &mut rng,
    );
    let mut verified: Vec<_> = checked
        .into_iter()
        .map(|result| result.expect("honest share verifies"))
        .collect();
    // Two different random subsets of size t both decrypt.
    for _ in 0..2 {
        verified.shuffle(&mut rng);
        let opened = combine(&public, &ciphertext, &verified[..threshold]).expect("t shares");
        assert_eq!(opened, plaintext);
    }
    let optimistic =
        combine_optimistic(&public, &ciphertext, shares, &mut rng).expect("all shares honest");
    assert_eq!(optimistic.outcome, Ok(plaintext));
    assert!(optimistic.invalid_shares.is_empty());
}

#[test]
fn round_trip_1_of_1() {
    round_trip(1, 1, 1);
}

#[test]
fn round_trip_2_of_4() {
    round_trip(2, 4, 2);
}

#[test]
fn round_trip_3_of_4() {
    round_trip(3, 4, 3);
}

#[test]
fn round_trip_34_of_100() {
    round_trip(34, 100, 4);
}

#[test]
fn fewer_than_t_shares_reveal_nothing_usable() {
    let mut rng = rng(5);
    let (public, key_shares) = trusted_dealer_for_local_testnet(3, 4, &mut rng).expect("dealer");
    let plaintext = b"secret order".to_vec();
    let ciphertext = encrypt_verified(&public, &plaintext, &mut rng);
    let shares: Vec<_> = key_shares[..2]
        .iter()
        .map(|key_share| create_share(key_share, &ciphertext, &mut rng))
        .collect();
    let verified: Vec<_> = shares
        .iter()
        .map(|share| verify_share(&public, &ciphertext, share.clone()).expect("honest"))
        .collect();
    assert_eq!(
        combine(&public, &ciphertext, &verified),
        Err(ThresholdError::NotEnoughShares {
            valid: 2,
            threshold: 3
        })
    );

    // The t-1 shares interpolated on their own (as if the threshold were t-1) give a point that
    // does not open the payload.
    let partial = interpolate(&shares.iter().collect::<Vec<_>>()).expect("distinct indices");
    assert_eq!(
        ciphertext.open(&partial),
        Err(ThresholdError::DecryptionFailed)
    );
    // The full t open it, so the failure above is the threshold at work.
    let third = create_share(&key_shares[3], &ciphertext, &mut rng);
    let mut all = shares.clone();
    all.push(third);
    let full = interpolate(&all.iter().collect::<Vec<_>>()).expect("distinct indices");
    assert_eq!(ciphertext.open(&full), Ok(plaintext.clone()));

    // Two real shares plus a guessed third (a share of an unrelated key for the missing index):
    // the guess fails its proof, and decryption refuses with too few valid shares.
    let (_, other_shares) = trusted_dealer_for_local_testnet(3, 4, &mut rng).expect("dealer");
    let guess = create_share(&other_shares[2], &ciphertext, &mut rng);
    assert_eq!(
        verify_share(&public, &ciphertext, guess.clone()),
        Err(ThresholdError::InvalidShare { index: 3 })
    );
    let mut with_guess = shares.clone();
    with_guess.push(guess);
    assert_eq!(
        combine_optimistic(&public, &ciphertext, with_guess, &mut rng),
        Err(ThresholdError::NotEnoughShares {
            valid: 2,
            threshold: 3
        })
    );
}

#[test]
fn an_invalid_share_is_identified_and_excluded() {
    let mut rng = rng(6);
    let (public, key_shares) = trusted_dealer_for_local_testnet(3, 4, &mut rng).expect("dealer");
    let plaintext = b"bundle for rollups A and B".to_vec();
    let ciphertext = encrypt_verified(&public, &plaintext, &mut rng);
    let mut shares: Vec<DecryptionShare> = key_shares
        .iter()
        .map(|key_share| create_share(key_share, &ciphertext, &mut rng))
        .collect();

    // Validator 2 sends a share whose value is off by the generator, keeping its proof.
    let mut bytes = shares[1].to_bytes();
    let value = G1Affine::generator();
    let mut value_bytes = Vec::new();
    value
        .serialize_compressed(&mut value_bytes)
        .expect("serialize");
    bytes[2..50].copy_from_slice(&value_bytes);
    shares[1] = DecryptionShare::from_bytes(&bytes).expect("structurally valid");

    assert_eq!(
        verify_share(&public, &ciphertext, shares[1].clone()),
        Err(ThresholdError::InvalidShare { index: 2 })
    );
    let results = verify_shares(
        &public,
        shares
            .iter()
            .map(|share| (&ciphertext, share.clone()))
            .collect(),
        &mut rng,
    );
    let failures: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, result)| result.is_err())
        .map(|(position, _)| position)
        .collect();
    assert_eq!(failures, vec![1]);

    // The bad share is among the first t, so the fast path fails and the slow path excludes it.
    let decryption =
        combine_optimistic(&public, &ciphertext, shares, &mut rng).expect("3 honest shares");
    assert_eq!(decryption.outcome, Ok(plaintext));
    assert_eq!(decryption.invalid_shares, vec![2]);
}

#[test]
fn a_share_for_another_ciphertext_does_not_verify() {
    let mut rng = rng(7);
    let (public, key_shares) = trusted_dealer_for_local_testnet(2, 4, &mut rng).expect("dealer");
    let first = encrypt_verified(&public, b"one", &mut rng);
    let second = encrypt_verified(&public, b"two", &mut rng);
    let share = create_share(&key_shares[0], &first, &mut rng);
    assert_eq!(
        verify_share(&public, &second, share.clone()),
        Err(ThresholdError::InvalidShare { index: 1 })
    );
    // Claiming another validator's index fails too.
    let mut bytes = share.to_bytes();
    bytes[1] = 2;
    let relabelled = DecryptionShare::from_bytes(&bytes).expect("structurally valid");
    assert_eq!(
        verify_share(&public, &first, relabelled),
        Err(ThresholdError::InvalidShare { index: 2 })
    );
    bytes[1] = 5;
    let unknown = DecryptionShare::from_bytes(&bytes).expect("structurally valid");
    assert!(matches!(
        verify_share(&public, &first, unknown),
        Err(ThresholdError::UnknownShareIndex { index: 5, .. })
    ));
}

/// Every byte of the encoding belongs to a field; flipping any bit of the header, or of the
/// payload, must make decoding or the proof fail, so the ciphertext never gets a share.
#[test]
fn every_field_change_is_rejected_before_any_share() {
    let mut rng = rng(8);
    let (public, _) = trusted_dealer_for_local_testnet(2, 4, &mut rng).expect("dealer");
    let ciphertext = encrypt(public.encryption_key(), label(9), b"some payload", &mut rng);
    let bytes = ciphertext.to_bytes();
    assert_eq!(bytes.len(), HEADER_BYTES + 12 + 16);
    for position in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut tampered = bytes.clone();
            tampered[position] ^= bit;
            let outcome = Ciphertext::from_bytes(&tampered, PAYLOAD_MAX)
                .and_then(|decoded| decoded.verify(public.encryption_key(), &CONTEXT));
            assert!(
                outcome.is_err(),
                "flip {bit:#x} at byte {position} was accepted"
            );
        }
    }
    // Valid points and scalars in the wrong place (not just broken encodings).
    let mut swapped = bytes.clone();
    swapped.copy_within(57..105, 105);
    let decoded = Ciphertext::from_bytes(&swapped, PAYLOAD_MAX).expect("points still decode");
    assert_eq!(
        decoded.verify(public.encryption_key(), &CONTEXT),
        Err(ThresholdError::InvalidCiphertext)
    );
    // The untouched ciphertext verifies, and not under another epoch's key.
    let decoded = Ciphertext::from_bytes(&bytes, PAYLOAD_MAX).expect("round trip");
    assert_eq!(decoded, ciphertext);
    let (other_public, _) = trusted_dealer_for_local_testnet(2, 4, &mut rng).expect("dealer");
    assert_eq!(
        decoded
            .clone()
            .verify(other_public.encryption_key(), &CONTEXT),
        Err(ThresholdError::InvalidCiphertext)
    );
    decoded
        .verify(public.encryption_key(), &CONTEXT)
        .expect("untampered ciphertext verifies");
}

#[test]
fn label_changes_are_rejected() {
    let mut rng = rng(9);
    let (public, _) = trusted_dealer_for_local_testnet(2, 4, &mut rng).expect("dealer");
    let original = label(4);
    let ciphertext = encrypt(public.encryption_key(), original, b"tx", &mut rng);
    let changes = [
        Label {
            chain_id: original.chain_id + 1,
            ..original
        },
        Label {
            epoch: original.epoch + 1,
            ..original
        },
        Label {
            nonce: [5; 32],
            ..original
        },
        Label {
            valid_through: original.valid_through + 1,
            ..original
        },
    ];
    for changed in changes {
        let mut bytes = ciphertext.to_bytes();
        bytes[1..57].copy_from_slice(&changed.to_bytes());
        let decoded = Ciphertext::from_bytes(&bytes, PAYLOAD_MAX).expect("decodes");
        assert_eq!(decoded.label(), &changed);
        // Against this node's context, a foreign chain or epoch is refused by the label check.
        let outcome = decoded.clone().verify(public.encryption_key(), &CONTEXT);
        match (
            changed.chain_id != original.chain_id,
            changed.epoch != original.epoch,
        ) {
            (true, _) => assert!(matches!(
                outcome,
                Err(ThresholdError::WrongLabel {
                    field: "chain id",
                    ..
                })
            )),
            (_, true) => assert!(matches!(
                outcome,
                Err(ThresholdError::WrongLabel { field: "epoch", .. })
            )),
            _ => assert_eq!(outcome, Err(ThresholdError::InvalidCiphertext)),
        }
        // Even a node whose context matches the new label refuses it: the proof binds the label.
        let their_context = Context {
            chain_id: changed.chain_id,
            epoch: changed.epoch,
        };
        assert_eq!(
            decoded.verify(public.encryption_key(), &their_context),
            Err(ThresholdError::InvalidCiphertext),
            "{changed:?}"
        );
    }
}

#[test]
fn batch_ciphertext_check_refuses_only_the_bad_one() {
    let mut rng = rng(10);
    let (public, _) = trusted_dealer_for_local_testnet(2, 4, &mut rng).expect("dealer");
    let mut ciphertexts: Vec<Ciphertext> = (0..20u8)
        .map(|i| encrypt(public.encryption_key(), label(i), &[i; 40], &mut rng))
        .collect();
    let all_good = verify_ciphertexts(
        ciphertexts.clone(),
        public.encryption_key(),
        &CONTEXT,
        &mut rng,
    );
    assert!(all_good.iter().all(Result::is_ok));

    // Re-label ciphertext 13 (a replay into another context).
    let mut bytes = ciphertexts[13].to_bytes();
    bytes[9] ^= 1;
    ciphertexts[13] = Ciphertext::from_bytes(&bytes, PAYLOAD_MAX).expect("decodes");
    let results = verify_ciphertexts(ciphertexts, public.encryption_key(), &CONTEXT, &mut rng);
    for (position, result) in results.iter().enumerate() {
        assert_eq!(result.is_err(), position == 13, "position {position}");
    }
}

/// What a validator checks before vouching for a batch: all or nothing.
#[test]
fn a_batch_is_valid_only_if_every_ciphertext_is() {
    let mut rng = rng(13);
    let (public, _) = trusted_dealer_for_local_testnet(2, 4, &mut rng).expect("dealer");
    let key = public.encryption_key();
    let wire: Vec<Vec<u8>> = (0..12u8)
        .map(|i| encrypt(key, label(i), &[i; 40], &mut rng).to_bytes())
        .collect();
    let check = |wire: &[Vec<u8>], rng: &mut ChaCha20Rng| {
        let items: Vec<&[u8]> = wire.iter().map(Vec::as_slice).collect();
        all_valid(&items, PAYLOAD_MAX, key, &CONTEXT, rng)
    };
    assert!(check(&wire, &mut rng));
    assert!(check(&[], &mut rng));
    assert!(check(&wire[..1], &mut rng));
    let mut mauled = wire.clone();
    let last = mauled[7].len() - 1;
    mauled[7][last] ^= 1;
    assert!(!check(&mauled, &mut rng), "a proof that fails");
    let mut relabelled = wire.clone();
    relabelled[3][9] ^= 1;
    assert!(!check(&relabelled, &mut rng), "another epoch");
    let mut garbage = wire.clone();
    garbage[11] = b"not a ciphertext".to_vec();
    assert!(!check(&garbage, &mut rng), "bytes that do not decode");
    let other_epoch = Context {
        epoch: CONTEXT.epoch + 1,
        ..CONTEXT
    };
    let items: Vec<&[u8]> = wire.iter().map(Vec::as_slice).collect();
    assert!(!all_valid(&items, PAYLOAD_MAX, key, &other_epoch, &mut rng));
}

#[test]
fn ciphertext_decoding_enforces_limits() {
    let mut rng = rng(11);
    let (public, _) = trusted_dealer_for_local_testnet(1, 1, &mut rng).expect("dealer");
    let ciphertext = encrypt(public.encryption_key(), label(1), &[0u8; 100], &mut rng);
    let bytes = ciphertext.to_bytes();

    assert!(Ciphertext::from_bytes(&bytes, 116).is_ok());
    assert_eq!(
        Ciphertext::from_bytes(&bytes, 115),
        Err(ThresholdError::PayloadTooLarge { max: 115, got: 116 })
    );
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(
        Ciphertext::from_bytes(&trailing, PAYLOAD_MAX),
        Err(ThresholdError::WrongLength { .. })
    ));
    assert!(matches!(
        Ciphertext::from_bytes(&bytes[..bytes.len() - 1], PAYLOAD_MAX),
        Err(ThresholdError::WrongLength { .. })
    ));
    assert!(matches!(
        Ciphertext::from_bytes(&bytes[..10], PAYLOAD_MAX),
        Err(ThresholdError::WrongLength { .. })
    ));
    let mut version = bytes.clone();
    version[0] = 3;
    assert_eq!(
        Ciphertext::from_bytes(&version, PAYLOAD_MAX),
        Err(ThresholdError::UnknownVersion(3))
    );
    // f set to the group order itself: not canonical.
    let mut scalar = bytes.clone();
    let order = Fr::MODULUS.to_bytes_be();
    scalar[249..281].copy_from_slice(&order);
    assert_eq!(
        Ciphertext::from_bytes(&scalar, PAYLOAD_MAX),
        Err(ThresholdError::BadScalar { field: "f" })
    );
    // u set to the identity.
    let identity = with_identity_u(&bytes);
    assert_eq!(
        Ciphertext::from_bytes(&identity, PAYLOAD_MAX),
        Err(ThresholdError::BadPoint { field: "u" })
    );
}

/// A vouched-for ciphertext (one of a certified batch) decodes to exactly what checking its
/// proof gives, keeps every limit and `u`'s checks, and skips only the proof: a broken proof
/// is not seen, which is why only certified batches are decoded this way.
#[test]
fn a_vouched_decode_is_the_verified_ciphertext_without_the_proof_check() {
    let mut rng = rng(12);
    let (public, key_shares) = trusted_dealer_for_local_testnet(2, 3, &mut rng).expect("dealer");
    let key = public.encryption_key();
    let plaintext = b"vouched".to_vec();
    let ciphertext = encrypt(key, label(1), &plaintext, &mut rng);
    let bytes = ciphertext.to_bytes();
    let verified = ciphertext.verify(key, &CONTEXT).expect("valid");
    let vouched = VerifiedCiphertext::vouched(&bytes, PAYLOAD_MAX, key).expect("decodes");
    assert_eq!(vouched, verified);
    let shares: Vec<VerifiedShare> = key_shares[..2]
        .iter()
        .map(|key_share| {
            verify_share(
                &public,
                &vouched,
                create_share(key_share, &vouched, &mut rng),
            )
            .expect("honest share")
        })
        .collect();
    assert_eq!(
        combine(&public, &vouched, &shares).expect("opens"),
        plaintext
    );

    // f changed: the proof fails, the vouched decode does not look.
    let mut broken = bytes.clone();
    broken[280] ^= 1;
    assert!(Ciphertext::from_bytes(&broken, PAYLOAD_MAX)
        .expect("decodes")
        .verify(key, &CONTEXT)
        .is_err());
    assert!(VerifiedCiphertext::vouched(&broken, PAYLOAD_MAX, key).is_ok());
    // Everything else is checked as a full decode checks it.
    let identity = with_identity_u(&bytes);
    assert_eq!(
        VerifiedCiphertext::vouched(&identity, PAYLOAD_MAX, key),
        Err(ThresholdError::BadPoint { field: "u" })
    );
    let mut off_curve = bytes.clone();
    off_curve[60] ^= 0x55;
    assert_eq!(
        VerifiedCiphertext::vouched(&off_curve, PAYLOAD_MAX, key),
        Err(ThresholdError::BadPoint { field: "u" })
    );
    assert_eq!(
        VerifiedCiphertext::vouched(&bytes, plaintext.len() + 15, key),
        Err(ThresholdError::PayloadTooLarge {
            max: plaintext.len() + 15,
            got: plaintext.len() + 16
        })
    );
    assert!(matches!(
        VerifiedCiphertext::vouched(&bytes[..bytes.len() - 1], PAYLOAD_MAX, key),
        Err(ThresholdError::WrongLength { .. })
    ));
    let mut version = bytes;
    version[0] = 3;
    assert_eq!(
        VerifiedCiphertext::vouched(&version, PAYLOAD_MAX, key),
        Err(ThresholdError::UnknownVersion(3))
    );
}

#[test]
fn share_decoding_enforces_structure() {
    let mut rng = rng(12);
    let (public, key_shares) = trusted_dealer_for_local_testnet(1, 2, &mut rng).expect("dealer");
    let ciphertext = encrypt_verified(&public, b"x", &mut rng);
    let share = create_share(&key_shares[1], &ciphertext, &mut rng);
    let bytes = share.to_bytes();
    assert_eq!(bytes.len(), SHARE_BYTES);
    assert_eq!(DecryptionShare::from_bytes(&bytes), Ok(share));
    assert!(DecryptionShare::from_bytes(&bytes[..SHARE_BYTES - 1]).is_err());
    let mut zero_index = bytes;
    zero_index[..2].copy_from_slice(&[0, 0]);
    assert!(matches!(
        DecryptionShare::from_bytes(&zero_index),
        Err(ThresholdError::UnknownShareIndex { index: 0, .. })
    ));
}

#[test]
fn key_share_debug_is_redacted_and_key_sets_are_checked() {
    let mut rng = rng(13);
    let (public, key_shares) = trusted_dealer_for_local_testnet(3, 5, &mut rng).expect("dealer");
    assert_eq!(
        format!("{:?}", key_shares[0]),
        "KeyShare(index 1, <redacted>)"
    );

    // Rebuilding the set from its parts passes; one wrong verification key fails.
    let keys: Vec<G1Affine> = (1..=5u16)
        .map(|index| *public.verification_key(index).expect("in range"))
        .collect();
    let key_g2 = *public.encryption_key_g2();
    PublicKeySet::new(3, *public.encryption_key(), key_g2, keys.clone()).expect("consistent");
    let wrong_g2 = (G2Projective::from(key_g2) + G2Projective::generator()).into_affine();
    assert_eq!(
        PublicKeySet::new(3, *public.encryption_key(), wrong_g2, keys.clone()),
        Err(ThresholdError::InconsistentKeySet { index: 0 })
    );
    let mut wrong = keys.clone();
    wrong[4] = (G1Projective::from(wrong[4]) + G1Projective::generator()).into_affine();
    assert_eq!(
        PublicKeySet::new(3, *public.encryption_key(), key_g2, wrong),
        Err(ThresholdError::InconsistentKeySet { index: 5 })
    );
    let other_key = KeyShare::new(1, Fr::rand(&mut rng)).expect("index 1");
    let mut wrong = keys;
    wrong[0] = other_key.verification_key();
    assert_eq!(
        PublicKeySet::new(3, *public.encryption_key(), key_g2, wrong),
        Err(ThresholdError::InconsistentKeySet { index: 0 })
    );
    assert!(trusted_dealer_for_local_testnet(0, 4, &mut rng).is_err());
    assert!(trusted_dealer_for_local_testnet(5, 4, &mut rng).is_err());
}

/// A batch mixing several validators and several ciphertexts, with one bad share in the middle:
/// only that share is refused; and a share verified for one ciphertext cannot be combined for
/// another.
#[test]
fn mixed_share_batch_and_cross_ciphertext_combination() {
    let mut rng = rng(14);
    let (public, key_shares) = trusted_dealer_for_local_testnet(2, 4, &mut rng).expect("dealer");
    let ciphertexts: Vec<VerifiedCiphertext> = (0..5u8)
        .map(|i| encrypt_verified(&public, &[i; 33], &mut rng))
        .collect();
    let mut items = Vec::new();
    for ciphertext in &ciphertexts {
        for key_share in &key_shares[..3] {
            items.push((ciphertext, create_share(key_share, ciphertext, &mut rng)));
        }
    }
    let all_good = verify_shares(&public, items.clone(), &mut rng);
    assert!(all_good.iter().all(Result::is_ok));
    // Share of validator 2 for ciphertext 3 presented as its share of ciphertext 2.
    items[7].1 = items[10].1.clone();
    let results = verify_shares(&public, items, &mut rng);
    for (position, result) in results.iter().enumerate() {
        assert_eq!(result.is_err(), position == 7, "position {position}");
    }
    let verified_for_first: Vec<_> = all_good
        .into_iter()
        .take(3)
        .map(|result| result.expect("valid"))
        .collect();
    assert_eq!(
        combine(&public, &ciphertexts[1], &verified_for_first),
        Err(ThresholdError::ShareForOtherCiphertext { index: 1 })
    );
    assert_eq!(
        combine(&public, &ciphertexts[0], &verified_for_first),
        Ok(vec![0u8; 33])
    );
    // A ciphertext verified under another key set's key is refused by this key set.
    let (other_public, _) = trusted_dealer_for_local_testnet(2, 4, &mut rng).expect("dealer");
    let foreign = encrypt_verified(&other_public, b"other", &mut rng);
    assert_eq!(
        combine(&public, &foreign, &verified_for_first),
        Err(ThresholdError::KeyMismatch)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any message, any (t, n), any t-subset of the shares decrypts to the message.
    #[test]
    fn any_threshold_subset_decrypts(
        message in proptest::collection::vec(any::<u8>(), 0..2048),
        share_count in 1usize..=7,
        threshold_seed in any::<usize>(),
        seed in any::<u64>(),
    ) {
        let threshold = 1 + threshold_seed % share_count;
        let mut rng = rng(seed);
        let (public, key_shares) =
            trusted_dealer_for_local_testnet(threshold, share_count, &mut rng).expect("dealer");
        let ciphertext = encrypt_verified(&public, &message, &mut rng);
        let mut chosen: Vec<&KeyShare> = key_shares.iter().collect();
        chosen.shuffle(&mut rng);
        let shares: Vec<DecryptionShare> = chosen[..threshold]
            .iter()
            .map(|key_share| create_share(key_share, &ciphertext, &mut rng))
            .collect();
        let decryption = combine_optimistic(&public, &ciphertext, shares, &mut rng)
            .expect("t honest shares");
        prop_assert_eq!(decryption.outcome, Ok(message));
    }

    /// Shamir: any t of n shares give the secret back.
    #[test]
    fn shamir_any_t_shares_recover_the_secret(
        share_count in 1u16..=20,
        threshold_seed in any::<u16>(),
        seed in any::<u64>(),
    ) {
        let threshold = 1 + usize::from(threshold_seed % share_count);
        let mut rng = rng(seed);
        let secret = Fr::rand(&mut rng);
        let polynomial = SecretPolynomial::random(secret, threshold, &mut rng);
        let mut points: Vec<(u16, Fr)> = (1..=share_count)
            .map(|index| (index, polynomial.evaluate(Fr::from(index))))
            .collect();
        points.shuffle(&mut rng);
        prop_assert_eq!(interpolate_at_zero(&points[..threshold]).expect("distinct"), secret);
        if threshold > 1 {
            prop_assert_ne!(
                interpolate_at_zero(&points[..threshold - 1]).expect("distinct"),
                secret
            );
        }
    }
}

#[test]
fn key_material_round_trips_through_its_encodings() {
    let mut rng = rng(15);
    let (public, key_shares) = trusted_dealer_for_local_testnet(3, 5, &mut rng).expect("dealer");
    let bytes = public.to_bytes();
    assert_eq!(bytes.len(), 4 + 48 + 96 + 5 * 48);
    assert_eq!(PublicKeySet::from_bytes(&bytes), Ok(public.clone()));
    let mut wrong = bytes.clone();
    wrong[1] = 2; // claims threshold 2 for a degree-2 polynomial
    assert!(PublicKeySet::from_bytes(&wrong).is_err());
    assert!(PublicKeySet::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    let share = &key_shares[2];
    let restored = KeyShare::from_secret_bytes(share.index(), share.secret_bytes().as_ref())
        .expect("canonical scalar");
    assert_eq!(restored.verification_key(), share.verification_key());
    assert!(KeyShare::from_secret_bytes(1, &[0xff; 32]).is_err());
}

#[test]
fn combining_a_block_at_once_decides_exactly_as_one_by_one() {
    let mut rng = rng(21);
    let (public, key_shares) = trusted_dealer_for_local_testnet(2, 4, &mut rng).expect("dealer");
    let plaintexts: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 20 + usize::from(i)]).collect();
    let ciphertexts: Vec<VerifiedCiphertext> = plaintexts
        .iter()
        .map(|plaintext| encrypt_verified(&public, plaintext, &mut rng))
        .collect();
    let honest = |ciphertext: &VerifiedCiphertext, rng: &mut ChaCha20Rng| -> Vec<DecryptionShare> {
        key_shares
            .iter()
            .map(|key_share| create_share(key_share, ciphertext, rng))
            .collect()
    };

    // All shares honest: the batched check passes and every item opens.
    let items: Vec<_> = ciphertexts
        .iter()
        .map(|ciphertext| (ciphertext, honest(ciphertext, &mut rng)))
        .collect();
    let results = combine_many_optimistic(&public, items, &mut rng);
    for (result, plaintext) in results.iter().zip(&plaintexts) {
        let decryption = result.as_ref().expect("decided");
        assert_eq!(decryption.outcome.as_ref(), Ok(plaintext));
        assert!(decryption.invalid_shares.is_empty());
    }

    // Item 3's first share belongs to item 4 (a wrong point): the batch fails, every item is
    // then decided alone, with the same results as `combine_optimistic`, and the bad share is
    // named; item 5 has too few shares and stays undecided.
    let mut items: Vec<_> = ciphertexts
        .iter()
        .map(|ciphertext| (ciphertext, honest(ciphertext, &mut rng)))
        .collect();
    items[3].1[0] = items[4].1[0].clone();
    items[5].1.truncate(1);
    let expected: Vec<_> = items
        .iter()
        .map(|(ciphertext, shares)| {
            combine_optimistic(&public, ciphertext, shares.clone(), &mut rng)
        })
        .collect();
    let results = combine_many_optimistic(&public, items, &mut rng);
    assert_eq!(results, expected);
    assert_eq!(
        results[3].as_ref().expect("3 good shares").invalid_shares,
        vec![1]
    );
    assert_eq!(
        results[3].as_ref().expect("decided").outcome.as_ref(),
        Ok(&plaintexts[3])
    );
    assert!(matches!(
        results[5],
        Err(ThresholdError::NotEnoughShares { .. })
    ));
}

#[test]
fn the_label_and_encapsulation_read_from_the_wire_are_the_decoded_ones() {
    let mut rng = rng(41);
    let (public, _) = trusted_dealer_for_local_testnet(2, 4, &mut rng).expect("dealer");
    let ciphertext = encrypt(public.encryption_key(), label(9), b"peek", &mut rng);
    let bytes = ciphertext.to_bytes();
    assert_eq!(Label::peek(&bytes), Some(label(9)));
    assert_eq!(
        Ciphertext::peek_encapsulation(&bytes),
        Some(ciphertext.encapsulation_bytes())
    );
    // Too short, or another version: nothing is read.
    assert_eq!(Label::peek(&bytes[..20]), None);
    assert_eq!(Ciphertext::peek_encapsulation(&bytes[..80]), None);
    let mut other_version = bytes.clone();
    other_version[0] = 1;
    assert_eq!(Label::peek(&other_version), None);
    assert_eq!(Ciphertext::peek_encapsulation(&other_version), None);
    assert_eq!(
        Ciphertext::from_bytes(&other_version, PAYLOAD_MAX),
        Err(ThresholdError::UnknownVersion(1))
    );
}
