//! The committee as a client sees it.

use std::path::Path;

use shroud_crypto::tdh2::{EncryptionKey, PublicKeySet};
use shroud_crypto::CommitteeKeys;
use shroud_network::Pin;
use shroud_proofs::{CheckedCommittee, CommitteeFile, EpochKeyCertificate};

use crate::SdkError;

/// A checked committee file: the BLS keys that certify outputs, the epoch encryption key, and
/// how to reach each validator. A genesis file has no key (the validators form it with their
/// DKG): [`Committee::with_certified_key`] adds the key that 2f+1 of them certified, which is
/// what [`crate::Client::connect`] does.
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

    /// The key bundles are encrypted to; [`SdkError::KeyNotCertified`] while the committee
    /// has none (a genesis file before [`Committee::with_certified_key`]).
    pub fn encryption_key(&self) -> Result<&EncryptionKey, SdkError> {
        Ok(self.public_key_set()?.encryption_key())
    }

    /// The threshold key set (its `x·g₂` checks combined points).
    pub fn public_key_set(&self) -> Result<&PublicKeySet, SdkError> {
        self.checked
            .public_key_set
            .as_ref()
            .ok_or(SdkError::KeyNotCertified)
    }

    /// Whether the committee knows its key set (from the file or a certificate).
    pub fn has_key(&self) -> bool {
        self.checked.public_key_set.is_some()
    }

    /// This committee with the key set that `certificate` certifies, after checking the
    /// certificate against the committee's BLS keys (2f+1 signers over the chain id, the
    /// epoch and the key set) and the key set itself. A committee file that names a key must
    /// name the same one ([`SdkError::KeyMismatch`] otherwise).
    pub fn with_certified_key(
        mut self,
        certificate: &EpochKeyCertificate,
        validator: usize,
    ) -> Result<Self, SdkError> {
        certificate
            .verify(self.keys(), self.chain_id(), self.epoch())
            .map_err(|error| SdkError::InvalidOutput {
                validator,
                height: 0,
                error,
            })?;
        if let Some(known) = &self.checked.public_key_set {
            if known.to_bytes() != certificate.key_set {
                return Err(SdkError::KeyMismatch);
            }
            return Ok(self);
        }
        let key_set = PublicKeySet::from_bytes(&certificate.key_set)
            .map_err(|error| SdkError::Committee(format!("certified key set: {error}")))?;
        let share_count = self.size();
        if key_set.share_count() != share_count || key_set.threshold() != (share_count - 1) / 3 + 1
        {
            return Err(SdkError::Committee(format!(
                "the certified key set is {} of {}, the committee has {share_count} validators",
                key_set.threshold(),
                key_set.share_count()
            )));
        }
        self.checked.public_key_set = Some(key_set);
        Ok(self)
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
