//! A DKG message as validators post it: `DkgMessage::from_bytes(bytes, 64)`. The encoding is
//! canonical, so a decoded message must encode back to the input. A decoded dealing is then
//! checked against the fixture's DKG parameters (`Dealing::check`: counts and the pairing of
//! its G2 key), and a decoded complaint's proof (`Complaint::verify`) against the ephemeral
//! point of the fixture's round-0 dealing of the dealer it names.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use shroud_crypto::dkg::{Dealing, DkgBody, DkgMessage};
use shroud_crypto::tdh2::{decode_share_value, G1Point, POINT_BYTES};
use shroud_fuzz::{fixture, DKG_MEMBERS_MAX, MEMBERS, THRESHOLD};

/// The ephemeral point `R` of each member's round-0 dealing, read from the dealing's
/// canonical encoding (`version || round || sender || kind || t || t × A_k || a_0·g₂ || R || …`).
fn ephemerals() -> &'static Vec<G1Point> {
    static EPHEMERALS: OnceLock<Vec<G1Point>> = OnceLock::new();
    EPHEMERALS.get_or_init(|| {
        let f = fixture();
        (0..MEMBERS as u16)
            .map(|dealer| {
                let dealing =
                    Dealing::deal(&f.dkg_params, dealer, 0, &f.dkg_keys[usize::from(dealer)]);
                let bytes = DkgMessage {
                    round: 0,
                    sender: dealer,
                    body: DkgBody::Dealing(Box::new(dealing)),
                }
                .to_bytes();
                let start = 1 + 4 + 2 + 1 + 2 + THRESHOLD * POINT_BYTES + 96;
                decode_share_value(&bytes[start..start + POINT_BYTES]).expect("R decodes")
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(message) = DkgMessage::from_bytes(data, DKG_MEMBERS_MAX) else {
        return;
    };
    assert_eq!(
        message.to_bytes(),
        data,
        "DKG message encoding is not canonical"
    );
    let f = fixture();
    match &message.body {
        DkgBody::Dealing(dealing) => {
            let _ = dealing.check(&f.dkg_params, message.round, message.sender);
        }
        DkgBody::Response(complaints) => {
            for complaint in complaints {
                if let Some(ephemeral) = ephemerals().get(usize::from(complaint.dealer)) {
                    let _ =
                        complaint.verify(&f.dkg_params, message.round, message.sender, ephemeral);
                }
            }
        }
    }
});
