//! A block's payload, as a proposal carries it and as the node reads committed blocks back:
//! `BlockPayload::decode(&Payload(bytes))`. A decoded payload must survive
//! `to_payload` and `decode` again (by value: rkyv is not canonical). Then the proposal checks
//! the node runs against the fixture's committee: `BlockPayload::from_payload` (decode, the
//! batch count limit and every batch certificate, in one multi-pairing) and
//! `check_dkg_posts` (counts, sizes and every post's signature and DKG message).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shroud_consensus::Payload;
use shroud_fuzz::{fixture, CHAIN_ID};
use shroud_node::batch::BlockPayload;

fuzz_target!(|data: &[u8]| {
    let payload = Payload(data.to_vec());
    let Ok(decoded) = BlockPayload::decode(&payload) else {
        return;
    };
    let again = BlockPayload::decode(&decoded.to_payload()).expect("an encoded payload decodes");
    assert_eq!(again, decoded, "payload round trip changed the value");
    let f = fixture();
    if let Ok(checked) = BlockPayload::from_payload(&payload, &f.committee, 64) {
        assert_eq!(checked, decoded);
    }
    let _ = decoded.check_dkg_posts(&f.committee, CHAIN_ID, |_| false);
    for certificate in &decoded.batches {
        let _ = certificate.signer_indices(f.committee.size());
    }
});
