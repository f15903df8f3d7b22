//! Decryptions anyone can check: combined points verify against `x·g₂` and re-open payloads.

use ark_serialize::CanonicalSerialize;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use shroud_crypto::tdh2::{
    check_decryptions, combine_share_batches, create_share_batch, encrypt,
    trusted_dealer_for_local_testnet, Context, G1Point, Label, VerifiedCiphertext,
};
use shroud_crypto::ThresholdError;

const CONTEXT: Context = Context {
    chain_id: 7,
    epoch: 3,
};
const PAYLOAD_MAX: usize = 1024;

fn compressed(point: &G1Point) -> Vec<u8> {
    let mut out = Vec::new();
    point.serialize_compressed(&mut out).expect("serialize");
    out
}

#[test]
fn the_true_points_open_every_payload_and_a_wrong_one_is_caught() {
    let mut rng = ChaCha20Rng::seed_from_u64(21);
    let (public, key_shares) = trusted_dealer_for_local_testnet(2, 4, &mut rng).expect("dealer");
    let plaintexts: Vec<Vec<u8>> = (0..5u8).map(|k| vec![k; 10 + usize::from(k)]).collect();
    let wire: Vec<Vec<u8>> = plaintexts
        .iter()
        .enumerate()
        .map(|(k, plaintext)| {
            let label = Label {
                chain_id: 7,
                epoch: 3,
                valid_through: 100,
                nonce: [k as u8; 32],
            };
            encrypt(public.encryption_key(), label, plaintext, &mut rng).to_bytes()
        })
        .collect();
    let verified: Vec<VerifiedCiphertext> = wire
        .iter()
        .map(|bytes| {
            VerifiedCiphertext::vouched(bytes, PAYLOAD_MAX, public.encryption_key()).expect("ok")
        })
        .collect();
    let refs: Vec<&VerifiedCiphertext> = verified.iter().collect();
    let batches: Vec<_> = key_shares[1..3]
        .iter()
        .map(|key_share| create_share_batch(key_share, &refs, &mut rng))
        .collect();
    let senders: Vec<(u16, &[G1Point])> = batches
        .iter()
        .map(|batch| (batch.index(), batch.values()))
        .collect();
    let points: Vec<Vec<u8>> = combine_share_batches(&public, &refs, &senders, &mut rng)
        .expect("combines")
        .expect("honest shares")
        .iter()
        .map(compressed)
        .collect();
    let items = |points: &[Vec<u8>]| -> Vec<(Vec<u8>, Vec<u8>)> {
        wire.iter().cloned().zip(points.iter().cloned()).collect()
    };
    let check = |items: &[(Vec<u8>, Vec<u8>)], rng: &mut ChaCha20Rng| {
        let borrowed: Vec<(&[u8], &[u8])> = items
            .iter()
            .map(|(bytes, point)| (bytes.as_slice(), point.as_slice()))
            .collect();
        check_decryptions(&public, &CONTEXT, &borrowed, PAYLOAD_MAX, rng)
    };

    let opened = check(&items(&points), &mut rng).expect("the true points");
    let expected: Vec<Option<Vec<u8>>> = plaintexts.iter().cloned().map(Some).collect();
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
