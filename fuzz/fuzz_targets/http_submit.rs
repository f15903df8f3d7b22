//! The body of `POST /v1/tx` as `node/src/runtime/http.rs` parses it, then the admission
//! checks the ingress stage runs on the ciphertext. The handler's `SubmitBody` and
//! `parse_hex` are private to the node, so this target mirrors them exactly
//! (`serde_json::from_slice` into `{ "ciphertext": String }` with serde's defaults, an optional
//! `0x` prefix, `hex::decode`); the admission is the node's own public
//! `Mempool::check_group`, with the fixture's key and context.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use shroud_fuzz::{fixture, rng, VALIDITY_HEIGHTS};
use shroud_node::key_slot::KeySlot;
use shroud_node::mempool::{Mempool, MempoolConfig};

/// `node/src/runtime/http.rs`'s `SubmitBody`, field for field.
#[derive(Deserialize)]
struct SubmitBody {
    ciphertext: String,
}

/// `node/src/runtime/http.rs`'s `parse_hex`.
fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    hex::decode(digits).ok()
}

fuzz_target!(|data: &[u8]| {
    // The route refuses bodies over `BODY_BYTES_MAX` before parsing.
    if data.len() > shroud_node::runtime::http::BODY_BYTES_MAX {
        return;
    }
    let Ok(parsed) = serde_json::from_slice::<SubmitBody>(data) else {
        return;
    };
    let Some(ciphertext) = parse_hex(&parsed.ciphertext) else {
        return;
    };
    let f = fixture();
    let mempool = Mempool::new(
        MempoolConfig::default(),
        f.context,
        KeySlot::ready(*f.public.encryption_key()),
        0,
        0,
        VALIDITY_HEIGHTS,
    );
    let verdicts = mempool.check_group(&[ciphertext], false, &mut rng(), |_| false);
    assert_eq!(verdicts.len(), 1);
});
