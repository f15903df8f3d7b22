//! A decrypted plaintext (bytes from a stranger): `Bundle::decode` with the default limits.
//! The encoding is canonical, so a decoded bundle must encode back to the input; and
//! `outcome_of_opened` (what validators decide and verifiers re-derive) must agree with it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shroud_proofs::{outcome_of_opened, Bundle, BundleLimits, FailureReason, Outcome};

fuzz_target!(|data: &[u8]| {
    let limits = BundleLimits::default();
    let decoded = Bundle::decode(data, &limits);
    match (&decoded, outcome_of_opened(Some(data), &limits)) {
        (Ok(bundle), Outcome::Decrypted(other)) => assert_eq!(bundle, &other),
        (Err(_), Outcome::Failed(FailureReason::MalformedBundle)) => {}
        (decoded, outcome) => panic!("decode {decoded:?} but outcome {outcome:?}"),
    }
    let Ok(bundle) = decoded else {
        return;
    };
    assert!(!bundle.items.is_empty() && bundle.items.len() <= limits.items_max);
    assert_eq!(bundle.encode(), data, "bundle encoding is not canonical");
    let _ = bundle.digest();
});
