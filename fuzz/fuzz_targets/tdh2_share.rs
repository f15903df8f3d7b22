//! Decryption shares from peers. The first byte picks the decoder, the rest is its input:
//! - 0: `DecryptionShare::from_bytes`, then `verify_share` against the fixture's first
//!   ciphertext;
//! - 1: `ShareBatchProof::from_bytes`, then `verify_share_batch` of the fixture's ciphertexts
//!   with the values the fixture's combined points are not (a proof alone never passes for
//!   wrong values, and must not panic);
//! - 2: `decode_share_value` (one compressed G1 value, as in a `SharesMessage`);
//! - 3: `decode_share_values` over the input cut into 48-byte values.
//!
//! Every encoding here is canonical, so a successful decode must encode back to the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shroud_crypto::tdh2::{
    decode_share_value, decode_share_values, encode_point, share_batch_from_parts, verify_share,
    verify_share_batch, DecryptionShare, ShareBatchProof, POINT_BYTES,
};
use shroud_fuzz::fixture;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let f = fixture();
    match selector % 4 {
        0 => {
            let Ok(share) = DecryptionShare::from_bytes(input) else {
                return;
            };
            assert_eq!(
                share.to_bytes().as_slice(),
                input,
                "share encoding is not canonical"
            );
            if let Ok(verified) = verify_share(&f.public, &f.verified[0], share.clone()) {
                assert_eq!(verified.share(), &share);
            }
        }
        1 => {
            let Ok(proof) = ShareBatchProof::from_bytes(input) else {
                return;
            };
            assert_eq!(
                proof.to_bytes().as_slice(),
                input,
                "proof encoding is not canonical"
            );
            // The combined points are `x·u`, not validator 1's `x_1·u`: no proof makes them pass.
            let values = f
                .points
                .iter()
                .map(|point| decode_share_value(point).expect("a fixture point decodes"))
                .collect();
            let batch = share_batch_from_parts(1, values, Some(proof));
            assert!(
                verify_share_batch(&f.public, &f.verified_refs(), &batch).is_err(),
                "a share batch proof passed for values that are not the sender's"
            );
        }
        2 => {
            let Ok(point) = decode_share_value(input) else {
                return;
            };
            assert_eq!(
                encode_point(&point).as_slice(),
                input,
                "point encoding is not canonical"
            );
        }
        _ => {
            let values: Vec<[u8; POINT_BYTES]> = input
                .chunks_exact(POINT_BYTES)
                .map(|chunk| chunk.try_into().expect("48 bytes"))
                .collect();
            let Ok(points) = decode_share_values(&values) else {
                return;
            };
            assert_eq!(points.len(), values.len());
            for (point, bytes) in points.iter().zip(&values) {
                assert_eq!(&encode_point(point), bytes);
            }
        }
    }
});
