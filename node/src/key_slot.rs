//! The epoch's encryption key as the stages read it: set once, when the validators' DKG
//! forms it (or at start, when it is already known). Until then admission refuses
//! ciphertexts (`key_not_ready`) and no batch is checked.

use std::sync::{Arc, OnceLock};

use shroud_crypto::tdh2::EncryptionKey;

/// A shared, write-once slot for the epoch's encryption key.
#[derive(Clone, Debug, Default)]
pub struct KeySlot(Arc<OnceLock<EncryptionKey>>);

impl KeySlot {
    /// A slot that already holds `key`.
    pub fn ready(key: EncryptionKey) -> Self {
        let slot = Self::default();
        slot.set(key);
        slot
    }

    /// The key, once formed.
    pub fn get(&self) -> Option<EncryptionKey> {
        self.0.get().copied()
    }

    /// Sets the key; a second call with another key is a broken invariant of the caller's
    /// (one epoch has one key) and is ignored.
    pub fn set(&self, key: EncryptionKey) {
        let _ = self.0.set(key);
    }
}
