//! Batched decryption shares: one proof per validator per block, the combination from value
//! lists, and what a bad value or a bad proof does.

use ark_bls12_381::G1Projective;
use ark_ec::{CurveGroup, PrimeGroup};
use ark_std::UniformRand;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use shroud_crypto::tdh2::{
    combine_share_batches, create_share_batch, decode_share_value, encrypt, share_batch_from_parts,
    trusted_dealer_for_local_testnet, verify_share_batch, Context, KeyShare, Label, PublicKeySet,
    ShareBatch, ShareBatchProof, VerifiedCiphertext, SHARE_BATCH_PROOF_BYTES,
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
    plaintexts: Vec<Vec<u8>>,
}

fn block(threshold: usize, share_count: usize, size: usize, seed: u64) -> (Block, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let (public, key_shares) =
        trusted_dealer_for_local_testnet(threshold, share_count, &mut rng).expect("dealer");
    let plaintexts: Vec<Vec<u8>> = (0..size)
        .map(|k| format!("transaction {k}").into_bytes())
        .collect();
    let ciphertexts = plaintexts
        .iter()
        .enumerate()
        .map(|(k, plaintext)| {
            let label = Label {
                chain_id: 7,
                epoch: 3,
                valid_through: 100,
                nonce: [k as u8; 32],
            };
            encrypt(public.encryption_key(), label, plaintext, &mut rng)
                .verify(public.encryption_key(), &CONTEXT)
                .expect("valid")
        })
        .collect();
    let block = Block {
        public,
        key_shares,
        ciphertexts,
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
