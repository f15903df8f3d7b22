//! The proofs a rollup node, a wallet or an auditor checks (`proofs/src`), decoded from rkyv
//! as they arrive inside client answers, and verified against the fixture's committee, key
//! set and certified height. The first byte picks what the rest is:
//! - 0: `OutputCertificate` → `verify`;
//! - 1: `NamespaceOutput` → `verify_proofs` and `verify` (inclusion or absence, bundle
//!   evidence, sibling proofs);
//! - 2: `PositionProof` → `verify` against the fixture's certified header, and `failure`;
//! - 3: `DecryptionEvidence` → `verify` (certificate, entries, ciphertexts, the batched
//!   pairing check of the points, re-opening every payload);
//! - 4: `EpochKeyCertificate` → `verify`;
//! - 5: `AvailabilityCertificate` → `verify`;
//! - 6: `BlockCertificate` → `verify`;
//! - 7: `merkle::root_from_path` and `sized_root_from_path` on raw input: `index (u64 BE) ||
//!   count (u64 BE) || leaf (32) || path (32 each)`; a path is accepted only for an index
//!   below the count and with the length of the path `merkle::proof` gives for that position
//!   (checked for trees of up to 64 leaves).
//!
//! Decoded values must survive an rkyv round trip (by value).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shroud_fuzz::decoded_round_trip;
use shroud_fuzz::{fixture, CHAIN_ID, CIPHERTEXT_BYTES_MAX, EPOCH};
use shroud_proofs::merkle;
use shroud_proofs::{
    AvailabilityCertificate, BlockCertificate, BundleLimits, DecryptionEvidence,
    EpochKeyCertificate, NamespaceOutput, OutputCertificate, PositionProof,
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let f = fixture();
    match selector % 8 {
        0 => {
            if let Some(certificate) = decoded_round_trip!(input, OutputCertificate) {
                let _ = certificate.verify(&f.keys, CHAIN_ID, EPOCH);
            }
        }
        1 => {
            if let Some(output) = decoded_round_trip!(input, NamespaceOutput) {
                let proofs = output.verify_proofs();
                let all = output.verify(&f.keys, CHAIN_ID, EPOCH);
                if all.is_ok() {
                    assert!(proofs.is_ok(), "verify passed where verify_proofs failed");
                }
            }
        }
        2 => {
            if let Some(proof) = decoded_round_trip!(input, PositionProof) {
                let _ = proof.verify(&f.output.header);
                let _ = proof.failure();
            }
        }
        3 => {
            if let Some(evidence) = decoded_round_trip!(input, DecryptionEvidence) {
                let _ = evidence.verify(
                    &f.keys,
                    &f.public,
                    (CHAIN_ID, EPOCH),
                    CIPHERTEXT_BYTES_MAX,
                    &BundleLimits::default(),
                );
            }
        }
        4 => {
            if let Some(certificate) = decoded_round_trip!(input, EpochKeyCertificate) {
                let _ = certificate.verify(&f.keys, CHAIN_ID, EPOCH);
            }
        }
        5 => {
            if let Some(certificate) = decoded_round_trip!(input, AvailabilityCertificate) {
                let _ = certificate.verify(&f.keys, CHAIN_ID, EPOCH);
            }
        }
        6 => {
            if let Some(certificate) = decoded_round_trip!(input, BlockCertificate) {
                let _ = certificate.verify(&f.keys, CHAIN_ID, EPOCH);
            }
        }
        _ => {
            if input.len() < 48 {
                return;
            }
            let index = u64::from_be_bytes(input[..8].try_into().expect("8 bytes"));
            let count = u64::from_be_bytes(input[8..16].try_into().expect("8 bytes"));
            let leaf: [u8; 32] = input[16..48].try_into().expect("32 bytes");
            let path: Vec<[u8; 32]> = input[48..]
                .chunks_exact(32)
                .map(|chunk| chunk.try_into().expect("32 bytes"))
                .collect();
            let root = merkle::root_from_path(&leaf, index, count, &path);
            let sized = merkle::sized_root_from_path(&leaf, index, count, &path);
            assert_eq!(root.is_some(), sized.is_some());
            if root.is_some() {
                assert!(index < count);
                if count <= 64 {
                    let mut leaves = vec![[0u8; 32]; count as usize];
                    leaves[index as usize] = leaf;
                    let expected = merkle::proof(&leaves, index as usize).expect("in range");
                    assert_eq!(
                        expected.len(),
                        path.len(),
                        "a path of the wrong length was accepted"
                    );
                }
            }
        }
    }
});
