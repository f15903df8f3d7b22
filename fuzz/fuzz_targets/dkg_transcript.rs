//! A committed DKG transcript replayed into validator 0's `Dkg` state machine, as
//! `node/src/runtime/dkg.rs` replays the transcript it stored: each message decoded with
//! `DkgMessage::from_bytes(bytes, members)`, fed with `Dkg::on_message`, and `Dkg::on_height`
//! when the height changes and at the end.
//!
//! Input: records of `height step (u8) || length (u16 BE) || message bytes`, the height
//! starting at 0 (a short tail is ignored).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shroud_crypto::dkg::{Dkg, DkgMessage, DkgSecretKey};
use shroud_fuzz::fixture;

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let key = DkgSecretKey::from_bytes(f.dkg_keys[0].to_bytes().as_slice()).expect("a key");
    let members = f.dkg_params.member_count();
    let mut dkg = Dkg::new(f.dkg_params.clone(), 0, key, 0).expect("member 0's key");
    let mut rest = data;
    let mut height = 0u64;
    let mut last: Option<u64> = None;
    while rest.len() >= 3 {
        let step = u64::from(rest[0]);
        let length = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
        rest = &rest[3..];
        let bytes = &rest[..length.min(rest.len())];
        rest = &rest[bytes.len()..];
        height += step;
        if last.is_some_and(|previous| previous != height) {
            let _ = dkg.on_height(last.unwrap_or_default());
        }
        last = Some(height);
        if let Ok(message) = DkgMessage::from_bytes(bytes, members) {
            let _ = dkg.on_message(height, &message);
        }
    }
    if let Some(height) = last {
        let _ = dkg.on_height(height);
    }
    let _ = dkg.status();
    let _ = dkg.pending_posts();
});
