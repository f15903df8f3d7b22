//! Key material from the wire, committee files and key files on disk. The first byte picks
//! the decoder, the rest is its input:
//! - 0: `PublicKeySet::from_bytes` (the store's DKG key set, a committee file's
//!   `public_key_set`, an `EpochKeyCertificate`'s `key_set`), with its consistency checks;
//! - 1: `EncryptionKey::from_bytes`;
//! - 2: `DkgPublicKey::from_bytes` (a committee file's `dkg_public_key`);
//! - 3, 4, 5: a key file as `NodeConfig::load` reads it (UTF-8 text, trimmed, hex) into a BLS
//!   `SecretKey::from_bytes`, a `KeyShare::from_secret_bytes` or a `DkgSecretKey::from_bytes`.
//!
//! Every encoding is canonical, so a successful decode must encode back to the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shroud_crypto::dkg::{DkgPublicKey, DkgSecretKey};
use shroud_crypto::tdh2::{EncryptionKey, KeyShare, PublicKeySet};
use shroud_crypto::SecretKey;

/// A key file's bytes as `node/src/config.rs` reads them (`read_to_string`, then
/// `hex::decode(text.trim())`).
fn key_file(input: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(input).ok()?;
    hex::decode(text.trim()).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    match selector % 6 {
        0 => {
            if let Ok(set) = PublicKeySet::from_bytes(input) {
                assert_eq!(set.to_bytes(), input, "key set encoding is not canonical");
                assert!(set.threshold() >= 1 && set.threshold() <= set.share_count());
                let again = PublicKeySet::from_bytes(&set.to_bytes()).expect("re-decodes");
                assert_eq!(again, set);
            }
        }
        1 => {
            if let Ok(key) = EncryptionKey::from_bytes(input) {
                assert_eq!(key.to_bytes().as_slice(), input);
            }
        }
        2 => {
            if let Ok(key) = DkgPublicKey::from_bytes(input) {
                assert_eq!(key.to_bytes().as_slice(), input);
            }
        }
        3 => {
            let Some(bytes) = key_file(input) else { return };
            if let Ok(key) = SecretKey::from_bytes(&bytes) {
                assert_eq!(key.to_bytes().as_slice(), bytes.as_slice());
            }
        }
        4 => {
            let Some(bytes) = key_file(input) else { return };
            if let Ok(share) = KeyShare::from_secret_bytes(1, &bytes) {
                assert_eq!(share.secret_bytes().as_slice(), bytes.as_slice());
            }
        }
        _ => {
            let Some(bytes) = key_file(input) else { return };
            if let Ok(key) = DkgSecretKey::from_bytes(&bytes) {
                assert_eq!(key.to_bytes().as_slice(), bytes.as_slice());
            }
        }
    }
});
