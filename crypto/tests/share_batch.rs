//! Batched decryption shares: one proof per validator per block, the combination from value
//! lists, what a bad value or a bad proof does, and checking combined points from outside.

use ark_bls12_381::G1Projective;
use ark_ec::{CurveGroup, PrimeGroup};
use ark_serialize::CanonicalSerialize;
use ark_std::UniformRand;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use shroud_crypto::tdh2::{
    check_decryptions, combine_share_batches, create_share_batch, decode_share_value, encrypt,
    share_batch_from_parts, trusted_dealer_for_local_testnet, verify_share_batch, Context, G1Point,
    KeyShare, Label, PublicKeySet, ShareBatch, ShareBatchProof, VerifiedCiphertext,
    SHARE_BATCH_PROOF_BYTES,
};
use shroud_crypto::ThresholdError;

const CONTEXT: Context = Context {
    chain_id: 7,
    epoch: 3,
};

struct Block {
    public: PublicKeySet,
    key_shares: Vec<KeyShare>,
    ciphertexts: Vec<VerifiedCiphertext>,
    /// The same ciphertexts' wire bytes.
    wire: Vec<Vec<u8>>,
    plaintexts: Vec<Vec<u8>>,
}

fn block(threshold: usize, share_count: usize, size: usize, seed: u64) -> (Block, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let (public, key_shares) =
        trusted_dealer_for_local_testnet(threshold, share_count, &mut rng).expect("dealer");
    let plaintexts: Vec<Vec<u8>> = (0..size)
        .map(|k| format!("transaction {k}").into_bytes())
        .collect();
    let (ciphertexts, wire) = plaintexts
        .iter()
        .enumerate()
        .map(|(k, plaintext)| {
            let label = Label {
                chain_id: 7,
                epoch: 3,
                valid_through: 100,
                nonce: [k as u8; 32],
            };
            let ciphertext = encrypt(public.encryption_key(), label, plaintext, &mut rng);
            let wire = ciphertext.to_bytes();
            let verified = ciphertext
                .verify(public.encryption_key(), &CONTEXT)
                .expect("valid");
            (verified, wire)
        })
        .unzip();
    let block = Block {
        public,
        key_shares,
        ciphertexts,
        wire,
        plaintexts,
    };
    (block, rng)
}

fn refs(ciphertexts: &[VerifiedCiphertext]) -> Vec<&VerifiedCiphertext> {
    ciphertexts.iter().collect()
}

/// Through the wire encodings, as the decryption stage carries a batch.
fn reencode(batch: &ShareBatch) -> ShareBatch {
    let values = batch
        .value_bytes()
        .iter()
        .map(|bytes| decode_share_value(bytes).expect("a value decodes"))
        .collect();
    let proof = batch
        .proof()
        .map(|proof| ShareBatchProof::from_bytes(&proof.to_bytes()).expect("a proof decodes"));
    share_batch_from_parts(batch.index(), values, proof)
}

/// Every validator's share batch of the block.
fn every_batch(block: &Block, rng: &mut ChaCha20Rng) -> Vec<ShareBatch> {
    let ciphertexts = refs(&block.ciphertexts);
    block
        .key_shares
        .iter()
        .map(|key_share| create_share_batch(key_share, &ciphertexts, rng))
        .collect()
}

/// Combines the block from the chosen senders' batches and opens every position.
fn assert_decrypts(block: &Block, batches: &[ShareBatch], chosen: &[usize], rng: &mut ChaCha20Rng) {
    let ciphertexts = refs(&block.ciphertexts);
    let senders: Vec<_> = chosen
        .iter()
        .map(|&i| (batches[i].index(), batches[i].values()))
        .collect();
    let points = combine_share_batches(&block.public, &ciphertexts, &senders, rng)
        .expect("enough senders")
        .expect("honest values pass the pairing check");
    assert_eq!(points.len(), ciphertexts.len());
    for ((ciphertext, point), plaintext) in ciphertexts.iter().zip(&points).zip(&block.plaintexts) {
        assert_eq!(ciphertext.open(point).as_ref(), Ok(plaintext));
    }
}

#[test]
fn every_honest_batch_verifies_and_any_threshold_of_them_decrypts_the_block() {
    let (block, mut rng) = block(2, 4, 12, 1);
    let ciphertexts = refs(&block.ciphertexts);
    let batches: Vec<ShareBatch> = block
        .key_shares
        .iter()
        .map(|key_share| reencode(&create_share_batch(key_share, &ciphertexts, &mut rng)))
        .collect();
    for batch in &batches {
        verify_share_batch(&block.public, &ciphertexts, batch).expect("an honest batch verifies");
    }
    for chosen in [[0usize, 1], [3, 1], [2, 0]] {
        assert_decrypts(&block, &batches, &chosen, &mut rng);
    }
}

#[test]
fn at_thresholds_one_three_and_seven_the_block_decrypts() {
    let (single, mut rng) = block(1, 1, 4, 7);
    let ciphertexts = refs(&single.ciphertexts);
    let alone = vec![create_share_batch(
        &single.key_shares[0],
        &ciphertexts,
        &mut rng,
    )];
    assert_decrypts(&single, &alone, &[0], &mut rng);

    let (middle, mut rng) = block(3, 5, 6, 6);
    let batches = every_batch(&middle, &mut rng);
    for chosen in [[0usize, 1, 2], [4, 2, 0], [1, 3, 4]] {
        assert_decrypts(&middle, &batches, &chosen, &mut rng);
    }

    // A larger threshold: six differences a position.
    let (large, mut rng) = block(7, 10, 3, 8);
    let batches = every_batch(&large, &mut rng);
    assert_decrypts(&large, &batches, &[9, 0, 8, 1, 7, 2, 5], &mut rng);
}

#[test]
fn one_bad_share_fails_the_batch_and_names_its_sender() {
    let (block, mut rng) = block(2, 4, 9, 2);
    let ciphertexts = refs(&block.ciphertexts);
    let honest = create_share_batch(&block.key_shares[2], &ciphertexts, &mut rng);
    let mut values = honest.values().to_vec();
    values[4] = (G1Projective::generator() * ark_bls12_381::Fr::rand(&mut rng)).into_affine();
    let bad = share_batch_from_parts(honest.index(), values, honest.proof().copied());
    assert_eq!(
        verify_share_batch(&block.public, &ciphertexts, &bad),
        Err(ThresholdError::InvalidShare { index: 3 })
    );
    // Two values swapped: each is a true share, of the wrong ciphertext.
    let mut swapped = honest.values().to_vec();
    swapped.swap(0, 1);
    let swapped = share_batch_from_parts(honest.index(), swapped, honest.proof().copied());
    assert!(verify_share_batch(&block.public, &ciphertexts, &swapped).is_err());
    // The honest batch, claimed under another index, or for the block in another order.
    let other_index = share_batch_from_parts(4, honest.values().to_vec(), honest.proof().copied());
    assert_eq!(
        verify_share_batch(&block.public, &ciphertexts, &other_index),
        Err(ThresholdError::InvalidShare { index: 4 })
    );
    let mut reordered = ciphertexts.clone();
    reordered.swap(0, 1);
    assert!(verify_share_batch(&block.public, &reordered, &honest).is_err());
    // A value list of the wrong length, and a proof missing.
    let short = share_batch_from_parts(3, honest.values()[1..].to_vec(), honest.proof().copied());
    assert!(verify_share_batch(&block.public, &ciphertexts, &short).is_err());
    let unproven = share_batch_from_parts(3, honest.values().to_vec(), None);
    assert!(verify_share_batch(&block.public, &ciphertexts, &unproven).is_err());

    // Combined with the bad batch, the pairing check fails (no wrong point is accepted); with
    // an honest one instead, the block decrypts.
    let first = create_share_batch(&block.key_shares[0], &ciphertexts, &mut rng);
    let senders = [(bad.index(), bad.values()), (first.index(), first.values())];
    assert_eq!(
        combine_share_batches(&block.public, &ciphertexts, &senders, &mut rng),
        Ok(None)
    );
    let senders = [
        (honest.index(), honest.values()),
        (first.index(), first.values()),
    ];
    let points = combine_share_batches(&block.public, &ciphertexts, &senders, &mut rng)
        .expect("enough")
        .expect("honest");
    assert_eq!(
        ciphertexts[4].open(&points[4]).as_ref(),
        Ok(&block.plaintexts[4])
    );
}

#[test]
fn a_batch_made_with_a_wrong_key_fails_even_with_a_consistent_proof() {
    let (block, mut rng) = block(2, 4, 5, 3);
    let ciphertexts = refs(&block.ciphertexts);
    let mut bytes = [0u8; 32];
    bytes[16] = 1;
    let wrong = KeyShare::from_secret_bytes(2, &bytes).expect("a scalar");
    let batch = create_share_batch(&wrong, &ciphertexts, &mut rng);
    assert_eq!(
        verify_share_batch(&block.public, &ciphertexts, &batch),
        Err(ThresholdError::InvalidShare { index: 2 })
    );
}

#[test]
fn too_few_senders_decide_nothing_and_empty_blocks_need_no_proof() {
    let (block, mut rng) = block(3, 4, 3, 4);
    let ciphertexts = refs(&block.ciphertexts);
    let a = create_share_batch(&block.key_shares[0], &ciphertexts, &mut rng);
    let senders = [(a.index(), a.values()), (a.index(), a.values())];
    assert_eq!(
        combine_share_batches(&block.public, &ciphertexts, &senders, &mut rng),
        Err(ThresholdError::NotEnoughShares {
            valid: 1,
            threshold: 3
        })
    );
    let empty = create_share_batch(&block.key_shares[1], &[], &mut rng);
    assert!(empty.values().is_empty() && empty.proof().is_none());
    verify_share_batch(&block.public, &[], &empty).expect("nothing to prove");
}

#[test]
fn encodings_are_checked() {
    let (block, mut rng) = block(2, 4, 2, 5);
    let ciphertexts = refs(&block.ciphertexts);
    let batch = create_share_batch(&block.key_shares[0], &ciphertexts, &mut rng);
    let proof = batch.proof().expect("a proof").to_bytes();
    assert_eq!(proof.len(), SHARE_BATCH_PROOF_BYTES);
    assert!(ShareBatchProof::from_bytes(&proof[1..]).is_err());
    let mut scalar_too_large = proof;
    scalar_too_large[2 * 48..].fill(0xff);
    assert!(ShareBatchProof::from_bytes(&scalar_too_large).is_err());
    let value = batch.value_bytes()[0];
    assert_eq!(decode_share_value(&value), Ok(batch.values()[0]));
    assert!(decode_share_value(&value[..47]).is_err());
    assert!(decode_share_value(&[0u8; 48]).is_err());
    let identity = {
        let mut bytes = [0u8; 48];
        bytes[0] = 0xc0;
        bytes
    };
    assert!(decode_share_value(&identity).is_err());
}

fn compressed(point: &G1Point) -> Vec<u8> {
    let mut out = Vec::new();
    point.serialize_compressed(&mut out).expect("serialize");
    out
}

/// Decryptions anyone can check (`check_decryptions`): the true combined points open every
/// payload, and a wrong one is caught.
#[test]
fn the_true_points_open_every_payload_and_a_wrong_one_is_caught() {
    const PAYLOAD_MAX: usize = 1024;
    let (block, mut rng) = block(2, 4, 5, 21);
    let ciphertexts = refs(&block.ciphertexts);
    let batches: Vec<ShareBatch> = block.key_shares[1..3]
        .iter()
        .map(|key_share| create_share_batch(key_share, &ciphertexts, &mut rng))
        .collect();
    let senders: Vec<(u16, &[G1Point])> = batches
        .iter()
        .map(|batch| (batch.index(), batch.values()))
        .collect();
    let points: Vec<Vec<u8>> =
        combine_share_batches(&block.public, &ciphertexts, &senders, &mut rng)
            .expect("combines")
            .expect("honest shares")
            .iter()
            .map(compressed)
            .collect();
    let items = |points: &[Vec<u8>]| -> Vec<(Vec<u8>, Vec<u8>)> {
        block
            .wire
            .iter()
            .cloned()
            .zip(points.iter().cloned())
            .collect()
    };
    let check = |items: &[(Vec<u8>, Vec<u8>)], rng: &mut ChaCha20Rng| {
        let borrowed: Vec<(&[u8], &[u8])> = items
            .iter()
            .map(|(bytes, point)| (bytes.as_slice(), point.as_slice()))
            .collect();
        check_decryptions(&block.public, &CONTEXT, &borrowed, PAYLOAD_MAX, rng)
    };

    let opened = check(&items(&points), &mut rng).expect("the true points");
    let expected: Vec<Option<Vec<u8>>> = block.plaintexts.iter().cloned().map(Some).collect();
    assert_eq!(opened, expected);

    // Two points swapped: each is some ciphertext's true point, not its own.
    let mut swapped = points.clone();
    swapped.swap(1, 3);
    assert_eq!(
        check(&items(&swapped), &mut rng),
        Err(ThresholdError::WrongSharedPoint)
    );
    // One point replaced by another valid point (a share value, not the combination).
    let mut share_value = points.clone();
    share_value[2] = compressed(&batches[0].values()[2]);
    assert_eq!(
        check(&items(&share_value), &mut rng),
        Err(ThresholdError::WrongSharedPoint)
    );
    // A point that does not decode.
    let mut garbage = points.clone();
    garbage[0] = vec![0xff; 48];
    assert!(matches!(
        check(&items(&garbage), &mut rng),
        Err(ThresholdError::BadPoint { .. })
    ));
    // A ciphertext changed after the fact fails its own proof before any point is used.
    let mut mauled = items(&points);
    let last = mauled[4].0.len() - 1;
    mauled[4].0[last] ^= 1;
    assert_eq!(
        check(&mauled, &mut rng),
        Err(ThresholdError::InvalidCiphertext)
    );
    // Nothing to check is no error.
    assert_eq!(check(&[], &mut rng), Ok(Vec::new()));
}
