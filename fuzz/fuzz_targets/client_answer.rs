//! A validator's answer as the SDK reads it: `frame::parse`, `Frame::decode` as the kind the
//! SDK expects (`Receipt`, `Outputs`, `TxStatus`, `EpochKey`, `DecryptionEvidence`), then the
//! SDK's checks against the fixture's committee:
//! - `Outputs`: each `NamespaceOutput::verify`, and the header chain (`parent_output`);
//! - `TxStatus`: the checks of `sdk/src/receipts.rs`'s `verify_status` (private to the SDK,
//!   repeated here with the same public calls: availability, block and output certificates,
//!   the position proof, the namespace outputs' proofs);
//! - `EpochKey`: `shroud_sdk::Committee::with_certified_key` on the fixture's genesis
//!   committee (certificate, then the key set's decode and consistency checks);
//! - `DecryptionEvidence`: `DecryptionEvidence::verify` with the fixture's key set.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shroud_fuzz::{fixture, CHAIN_ID, EPOCH};
use shroud_network::client::{
    DecryptionEvidenceResponse, EpochKeyResponse, OutputsResponse, Receipt, TxStatus,
};
use shroud_network::frame::{parse, FrameKind, Limits};
use shroud_proofs::BundleLimits;

/// `sdk/src/receipts.rs`'s `verify_status`, step by step (errors end it, as there).
fn verify_status(status: &TxStatus) -> Option<()> {
    let f = fixture();
    let (keys, epoch) = (&f.keys, EPOCH);
    if let Some(batched) = &status.batched {
        if let Some(certificate) = &batched.certificate {
            if certificate.digest != batched.digest {
                return None;
            }
            certificate.verify(keys, CHAIN_ID, epoch).ok()?;
        }
    }
    let ordered = status.ordered.as_ref()?;
    if let Some(certificate) = &ordered.block_certificate {
        if certificate.height != ordered.height || certificate.block != ordered.block_digest {
            return None;
        }
        certificate.verify(keys, CHAIN_ID, epoch).ok()?;
    }
    let certified = status.certified.as_ref()?;
    let header = &certified.certificate.header;
    if header.height != ordered.height || header.block_digest != ordered.block_digest {
        return None;
    }
    certified.certificate.verify(keys, CHAIN_ID, epoch).ok()?;
    certified.position.verify(header).ok()?;
    let failure = status.outcome.flatten();
    if certified.position.tx_id.0 != status.tx_id
        || certified.position.position != ordered.position
        || certified.position.failure() != failure
    {
        return None;
    }
    for output in &certified.namespaces {
        if output.certificate.header != *header {
            return None;
        }
        output.verify_proofs().ok()?;
        if !output.items.iter().any(|item| item.tx_id.0 == status.tx_id) {
            return None;
        }
    }
    Some(())
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let Ok(parsed) = parse(data, &limits) else {
        return;
    };
    let f = fixture();
    match parsed.kind {
        FrameKind::Receipt => {
            let _ = parsed.decode::<Receipt>(FrameKind::Receipt);
        }
        FrameKind::Outputs => {
            let Ok(response) = parsed.decode::<OutputsResponse>(FrameKind::Outputs) else {
                return;
            };
            let mut parent: Option<[u8; 32]> = None;
            for output in &response.outputs {
                if output.verify(&f.keys, CHAIN_ID, EPOCH).is_err() {
                    return;
                }
                let header = &output.certificate.header;
                if parent.is_some_and(|digest| digest != header.parent_output) {
                    return;
                }
                parent = Some(header.digest());
            }
        }
        FrameKind::TxStatus => {
            if let Ok(status) = parsed.decode::<TxStatus>(FrameKind::TxStatus) {
                let _ = verify_status(&status);
            }
        }
        FrameKind::EpochKey => {
            let Ok(response) = parsed.decode::<EpochKeyResponse>(FrameKind::EpochKey) else {
                return;
            };
            if let Some(certificate) = response.certificate {
                if let Ok(committee) = f.sdk_genesis.clone().with_certified_key(&certificate, 0) {
                    assert!(committee.has_key());
                    assert_eq!(
                        committee.public_key_set().expect("a key").to_bytes(),
                        certificate.key_set
                    );
                }
            }
        }
        FrameKind::DecryptionEvidence => {
            let Ok(response) =
                parsed.decode::<DecryptionEvidenceResponse>(FrameKind::DecryptionEvidence)
            else {
                return;
            };
            if let Some(evidence) = response.evidence {
                let _ = evidence.verify(
                    &f.keys,
                    &f.public,
                    (CHAIN_ID, EPOCH),
                    limits.frame_bytes_max,
                    &BundleLimits::default(),
                );
            }
        }
        _ => {}
    }
});
