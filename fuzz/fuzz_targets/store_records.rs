//! Records read back from disk, decoded as `node/src/store.rs` and `storage/src/lib.rs` decode
//! them (their `decode` helpers are private; both are `rkyv::from_bytes` after a copy into an
//! aligned buffer, which `shroud_fuzz::rkyv_decode` repeats). The first byte picks the record
//! type, the rest is the record. A decoded record must survive an rkyv round trip (by value),
//! and certificates read back are checked against the fixture's committee as a validator or
//! a receipt reader would check them.
//!
//! | selector | record | store tree |
//! |---|---|---|
//! | 0 | `Batch` | `batches` (segment log) |
//! | 1 | `BatchCertificate` | `batch_certificates` |
//! | 2 | `HeightRecord` | `heights` (segment log) |
//! | 3 | `OutputRecord` | `outputs` |
//! | 4 | `DkgRecord` | `meta` |
//! | 5 | `DecryptionLog` | `decryption_log` |
//! | 6 | `OutcomeCounts` | `meta` |
//! | 7 | `SharesMessage` | `own_shares` |
//! | 8 | `OutputCertificate` | `output_certificates` |
//! | 9 | `BlockCertificate` | `block_certificates` |
//! | 10 | `EpochKeyCertificate` | `meta` |
//! | 11 | `SafetyState` | consensus `safety` |
//! | 12 | `Block` | consensus `blocks` |
//! | 13 | `Location::from_bytes` | `heights` / `batches` entries |
#![no_main]

use libfuzzer_sys::fuzz_target;
use shroud_consensus::{Block, SafetyState};
use shroud_fuzz::decoded_round_trip;
use shroud_fuzz::{fixture, CHAIN_ID, EPOCH};
use shroud_node::batch::{Batch, BatchCertificate};
use shroud_node::segment_log::Location;
use shroud_node::store::{DecryptionLog, DkgRecord, HeightRecord, OutcomeCounts, OutputRecord};
use shroud_node::wire::SharesMessage;
use shroud_proofs::{BlockCertificate, EpochKeyCertificate, OutputCertificate};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let f = fixture();
    match selector % 14 {
        0 => {
            if let Some(batch) = decoded_round_trip!(input, Batch) {
                let _ = batch.digest();
            }
        }
        1 => {
            if let Some(certificate) = decoded_round_trip!(input, BatchCertificate) {
                let _ = certificate.verify(&f.committee);
            }
        }
        2 => {
            decoded_round_trip!(input, HeightRecord);
        }
        3 => {
            decoded_round_trip!(input, OutputRecord);
        }
        4 => {
            decoded_round_trip!(input, DkgRecord);
        }
        5 => {
            decoded_round_trip!(input, DecryptionLog);
        }
        6 => {
            decoded_round_trip!(input, OutcomeCounts);
        }
        7 => {
            decoded_round_trip!(input, SharesMessage);
        }
        8 => {
            if let Some(certificate) = decoded_round_trip!(input, OutputCertificate) {
                let _ = certificate.verify(&f.keys, CHAIN_ID, EPOCH);
            }
        }
        9 => {
            if let Some(certificate) = decoded_round_trip!(input, BlockCertificate) {
                let _ = certificate.verify(&f.keys, CHAIN_ID, EPOCH);
            }
        }
        10 => {
            if let Some(certificate) = decoded_round_trip!(input, EpochKeyCertificate) {
                let _ = certificate.verify(&f.keys, CHAIN_ID, EPOCH);
            }
        }
        11 => {
            decoded_round_trip!(input, SafetyState);
        }
        12 => {
            if let Some(block) = decoded_round_trip!(input, Block) {
                let _ = block.digest();
            }
        }
        _ => {
            if let Some(location) = Location::from_bytes(input) {
                assert_eq!(location.to_bytes().as_slice(), input);
            }
        }
    }
});
