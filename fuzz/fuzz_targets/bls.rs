//! BLS keys, signatures, proofs of possession and certificates as they arrive in committee
//! files, frames and certificates, and the EIP-2537 point layout. The first byte picks the
//! decoder, the rest is its input:
//! - 0: `PublicKey::from_bytes`;
//! - 1: `Signature::from_bytes`, then a check against validator 0's key;
//! - 2: `ProofOfPossession::from_bytes`, then `verify` for validator 0's key;
//! - 3: `SignerBitmap::from_bytes` (committee size in the first two bytes, big-endian);
//! - 4: `Certificate::from_bytes` for the fixture's committee, then `verify`;
//! - 5: `PublicKey::from_eip2537`;
//! - 6: `Signature::from_eip2537`.
//!
//! Compressed points, bitmaps and EIP-2537 points have one encoding each, so a successful
//! decode must encode back to the input, and an EIP-2537 point must survive the trip through
//! the compressed encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shroud_crypto::{
    Certificate, ProofOfPossession, PublicKey, Signature, SignerBitmap, SigningDomain,
};
use shroud_fuzz::{fixture, MEMBERS};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let validator = f.keys.get(0).expect("validator 0");
    match selector % 7 {
        0 => {
            if let Ok(key) = PublicKey::from_bytes(input) {
                assert_eq!(key.to_bytes().as_slice(), input);
            }
        }
        1 => {
            if let Ok(signature) = Signature::from_bytes(input) {
                assert_eq!(signature.to_bytes().as_slice(), input);
                let _ = validator.verify(SigningDomain::Vote, b"fuzz", &signature);
            }
        }
        2 => {
            if let Ok(proof) = ProofOfPossession::from_bytes(input) {
                assert_eq!(proof.to_bytes().as_slice(), input);
                let _ = proof.verify(validator);
            }
        }
        3 => {
            let Some((size, bytes)) = input.split_first_chunk::<2>() else {
                return;
            };
            let size = usize::from(u16::from_be_bytes(*size));
            if let Ok(bitmap) = SignerBitmap::from_bytes(size, bytes) {
                assert_eq!(bitmap.as_bytes(), bytes);
                assert!(bitmap.iter().all(|index| index < size));
                assert_eq!(bitmap.iter().count(), bitmap.count());
            }
        }
        4 => {
            if let Ok(certificate) = Certificate::from_bytes(MEMBERS, input) {
                assert_eq!(certificate.to_bytes(), input);
                let _ = certificate.verify(
                    &f.keys,
                    3,
                    SigningDomain::OutputHeader,
                    &f.output.header.encoding(),
                );
            }
        }
        5 => {
            if let Ok(key) = PublicKey::from_eip2537(input) {
                assert_eq!(key.to_eip2537().as_slice(), input);
                let compressed = PublicKey::from_bytes(&key.to_bytes()).expect("re-decodes");
                assert_eq!(compressed.to_eip2537().as_slice(), input);
            }
        }
        _ => {
            if let Ok(signature) = Signature::from_eip2537(input) {
                assert_eq!(signature.to_eip2537().as_slice(), input);
                let compressed = Signature::from_bytes(&signature.to_bytes()).expect("re-decodes");
                assert_eq!(compressed.to_eip2537().as_slice(), input);
            }
        }
    }
});
