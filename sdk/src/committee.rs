//! The committee as a client sees it.

use std::path::Path;

use shroud_crypto::tdh2::EncryptionKey;
use shroud_crypto::CommitteeKeys;
use shroud_network::Pin;
use shroud_proofs::{CheckedCommittee, CommitteeFile};

use crate::SdkError;

/// A checked committee file: the BLS keys that certify outputs, the epoch encryption key, and
/// how to reach each validator.
#[derive(Clone, Debug)]
pub struct Committee {
    checked: CheckedCommittee,
    pins: Vec<Pin>,
}

impl Committee {
    /// Reads and checks a committee file (TOML).
    pub fn load(path: &Path) -> Result<Self, SdkError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| SdkError::Committee(format!("{}: {error}", path.display())))?;
        Self::from_toml(&text)
    }

    /// Parses and checks a committee file's contents.
    pub fn from_toml(text: &str) -> Result<Self, SdkError> {
        let file: CommitteeFile =
            toml::from_str(text).map_err(|error| SdkError::Committee(error.to_string()))?;
        Self::from_file(file)
    }

    /// Checks a parsed committee file.
    pub fn from_file(file: CommitteeFile) -> Result<Self, SdkError> {
        let checked = file.check().map_err(|error| SdkError::Committee(error.0))?;
        let pins = checked
            .file
            .validators
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                Pin::from_hex(&entry.tls_pin).map_err(|error| {
                    SdkError::Committee(format!("validator {index}: tls_pin: {error}"))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { checked, pins })
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.checked.file.chain_id
    }

    /// The epoch.
    pub fn epoch(&self) -> u64 {
        self.checked.file.epoch
    }

    /// How far ahead of the height at which it is ordered a ciphertext's `valid_through`
    /// may be (a chain parameter).
    pub fn validity_heights(&self) -> u64 {
        self.checked.file.validity_heights
    }

    /// Number of validators.
    pub fn size(&self) -> usize {
        self.checked.file.validators.len()
    }

    /// The key bundles are encrypted to.
    pub fn encryption_key(&self) -> &EncryptionKey {
        self.checked.public_key_set.encryption_key()
    }

    /// The threshold key set (its `x·g₂` checks combined points).
    pub fn public_key_set(&self) -> &shroud_crypto::tdh2::PublicKeySet {
        &self.checked.public_key_set
    }

    /// The threshold key set's encoding (what the committee's epoch-key certificate signs).
    pub fn key_set_bytes(&self) -> Vec<u8> {
        self.checked.public_key_set.to_bytes()
    }

    /// The validators' BLS keys (they certify outputs).
    pub fn keys(&self) -> &CommitteeKeys {
        &self.checked.keys
    }

    /// Where validator `index` takes clients, and its certificate pin.
    pub fn client_endpoint(&self, index: usize) -> Option<(std::net::SocketAddr, Pin)> {
        let entry = self.checked.file.validators.get(index)?;
        Some((entry.client_address, *self.pins.get(index)?))
    }
}
