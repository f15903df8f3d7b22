//! The committee file: one epoch's validators (BLS keys with proofs of possession, TLS pins,
//! addresses, DKG keys), the chain id, and either the threshold encryption key set (a test
//! network's trusted dealer made it) or nothing (a genesis file: the validators form the key
//! with the distributed key generation, and clients learn it from the committee's
//! certificate). Validators, wallets and rollup nodes all read the same file;
//! [`CommitteeFile::check`] refuses one whose keys did not prove possession or whose key set
//! does not fit the committee.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use shroud_crypto::dkg::{DkgParams, DkgPublicKey};
use shroud_crypto::domains;
use shroud_crypto::tdh2::PublicKeySet;
use shroud_crypto::{CommitteeKeys, ProofOfPossession, PublicKey};
use thiserror::Error;

/// One validator in the committee file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MemberEntry {
    /// BLS public key, compressed, hex.
    pub bls_public_key: String,
    /// Proof of possession of that key, hex.
    pub proof_of_possession: String,
    /// SHA-256 of the validator's TLS certificate, hex.
    pub tls_pin: String,
    /// Where validators reach it.
    pub peer_address: SocketAddr,
    /// Where clients reach it.
    pub client_address: SocketAddr,
    /// Where operators reach its HTTP API.
    pub http_address: SocketAddr,
    /// Its DKG public key (compressed G1, hex), to which dealers encrypt its shares. Needed
    /// when the file has no key set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dkg_public_key: Option<String>,
}

/// The committee of an epoch, shared by every validator and client. An unknown key is an
/// error: a misspelt chain parameter would otherwise keep its default on some nodes only.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CommitteeFile {
    /// The chain id every ciphertext label must carry.
    pub chain_id: u64,
    /// The epoch.
    pub epoch: u64,
    /// How far ahead of the height at which it is ordered a ciphertext's `valid_through` may
    /// be (see [`crate::validity`]). A chain parameter: every validator must use the same.
    #[serde(default = "crate::validity::default_validity_heights")]
    pub validity_heights: u64,
    /// The threshold public key set, hex (see `PublicKeySet::to_bytes`), when a trusted
    /// dealer made it (test networks only). Absent in a genesis file: the validators run the
    /// DKG.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_set: Option<String>,
    /// How many committed heights each DKG phase lasts at most (a chain parameter).
    #[serde(default = "default_dkg_window_heights")]
    pub dkg_window_heights: u64,
    /// The largest ciphertext (wire bytes) the chain admits and decodes: a chain parameter,
    /// since it decides how every validator classifies a committed position.
    #[serde(default = "default_ciphertext_bytes_max")]
    pub ciphertext_bytes_max: u64,
    /// Members in index order.
    pub validators: Vec<MemberEntry>,
}

/// A committee file that was refused, and why (one message per broken rule).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("committee: {0}")]
pub struct CommitteeError(pub String);

/// A checked committee: keys that proved possession and a key set that fits.
#[derive(Clone, Debug)]
pub struct CheckedCommittee {
    /// The file as read.
    pub file: CommitteeFile,
    /// The members' BLS keys, in index order.
    pub keys: CommitteeKeys,
    /// The threshold key set (its encryption key is what wallets encrypt to), if the file
    /// carries one.
    pub public_key_set: Option<PublicKeySet>,
    /// The members' DKG keys, in index order (when every member lists one).
    pub dkg_keys: Option<Vec<DkgPublicKey>>,
}

/// Serde default of [`CommitteeFile::dkg_window_heights`]: at the idle pace of about ten
/// heights a second, a phase waits about ten seconds for an absent member.
pub fn default_dkg_window_heights() -> u64 {
    DKG_WINDOW_HEIGHTS_DEFAULT
}

/// Serde default of [`CommitteeFile::ciphertext_bytes_max`].
pub fn default_ciphertext_bytes_max() -> u64 {
    CIPHERTEXT_BYTES_MAX_DEFAULT
}

/// The default largest ciphertext: 64 KiB.
pub const CIPHERTEXT_BYTES_MAX_DEFAULT: u64 = 64 * 1024;
/// The largest ciphertexts a committee file may allow (an empty ciphertext is about 300
/// bytes; a frame carries at most a few MiB).
pub const CIPHERTEXT_BYTES_MAX_RANGE: std::ops::RangeInclusive<u64> = 512..=(1 << 20);

/// The default DKG phase length, in committed heights.
pub const DKG_WINDOW_HEIGHTS_DEFAULT: u64 = 100;
/// The DKG phase lengths a committee file may choose.
pub const DKG_WINDOW_HEIGHTS_RANGE: std::ops::RangeInclusive<u64> = 3..=100_000;

fn hex_field(text: &str, what: &str) -> Result<Vec<u8>, CommitteeError> {
    hex::decode(text.trim()).map_err(|_| CommitteeError(format!("{what} is not hex")))
}

impl CommitteeFile {
    /// Checks the file: every key decodes and proved possession, no key is repeated, and the
    /// key set has one share per validator and threshold `f + 1`.
    pub fn check(self) -> Result<CheckedCommittee, CommitteeError> {
        if self.validators.is_empty() {
            return Err(CommitteeError("the committee has no validators".into()));
        }
        if !crate::validity::VALIDITY_HEIGHTS_RANGE.contains(&self.validity_heights) {
            return Err(CommitteeError(format!(
                "validity_heights is {}, it must be in {:?}",
                self.validity_heights,
                crate::validity::VALIDITY_HEIGHTS_RANGE
            )));
        }
        let mut members = Vec::with_capacity(self.validators.len());
        for (index, entry) in self.validators.iter().enumerate() {
            let key = PublicKey::from_bytes(&hex_field(&entry.bls_public_key, "bls_public_key")?)
                .map_err(|error| {
                CommitteeError(format!("validator {index}: bls_public_key: {error}"))
            })?;
            let proof = ProofOfPossession::from_bytes(&hex_field(
                &entry.proof_of_possession,
                "proof_of_possession",
            )?)
            .map_err(|error| {
                CommitteeError(format!("validator {index}: proof_of_possession: {error}"))
            })?;
            members.push((key, proof));
        }
        let keys = CommitteeKeys::new(&members)
            .map_err(|error| CommitteeError(format!("committee keys: {error}")))?;
        let public_key_set = match &self.public_key_set {
            Some(text) => Some(self.check_key_set(text)?),
            None => None,
        };
        let dkg_keys = self.dkg_keys()?;
        if public_key_set.is_none() && dkg_keys.is_none() {
            return Err(CommitteeError(
                "the file has no public_key_set, so every validator needs a dkg_public_key".into(),
            ));
        }
        if !CIPHERTEXT_BYTES_MAX_RANGE.contains(&self.ciphertext_bytes_max) {
            return Err(CommitteeError(format!(
                "ciphertext_bytes_max is {}, it must be in {CIPHERTEXT_BYTES_MAX_RANGE:?}",
                self.ciphertext_bytes_max
            )));
        }
        if !DKG_WINDOW_HEIGHTS_RANGE.contains(&self.dkg_window_heights) {
            return Err(CommitteeError(format!(
                "dkg_window_heights is {}, it must be in {DKG_WINDOW_HEIGHTS_RANGE:?}",
                self.dkg_window_heights
            )));
        }
        Ok(CheckedCommittee {
            keys,
            public_key_set,
            dkg_keys,
            file: self,
        })
    }

    fn check_key_set(&self, text: &str) -> Result<PublicKeySet, CommitteeError> {
        let public_key_set = PublicKeySet::from_bytes(&hex_field(text, "public_key_set")?)
            .map_err(|error| CommitteeError(format!("public_key_set: {error}")))?;
        let fault_bound = (self.validators.len() - 1) / 3;
        if public_key_set.threshold() != fault_bound + 1 {
            return Err(CommitteeError(format!(
                "public_key_set threshold is {}, a committee of {} needs f + 1 = {}",
                public_key_set.threshold(),
                self.validators.len(),
                fault_bound + 1
            )));
        }
        if public_key_set.share_count() != self.validators.len() {
            return Err(CommitteeError(format!(
                "public_key_set has {} shares for {} validators",
                public_key_set.share_count(),
                self.validators.len()
            )));
        }
        Ok(public_key_set)
    }

    /// The members' DKG keys if every member lists one (decoded, distinct); `None` if none
    /// does; an error if only some do or one does not decode.
    fn dkg_keys(&self) -> Result<Option<Vec<DkgPublicKey>>, CommitteeError> {
        let listed = self
            .validators
            .iter()
            .filter(|entry| entry.dkg_public_key.is_some())
            .count();
        if listed == 0 {
            return Ok(None);
        }
        let mut keys = Vec::with_capacity(self.validators.len());
        for (index, entry) in self.validators.iter().enumerate() {
            let text = entry.dkg_public_key.as_deref().ok_or_else(|| {
                CommitteeError(format!("validator {index} has no dkg_public_key"))
            })?;
            let key = DkgPublicKey::from_bytes(&hex_field(text, "dkg_public_key")?)
                .map_err(|error| CommitteeError(format!("validator {index}: {error}")))?;
            if let Some(first) = keys.iter().position(|other| *other == key) {
                return Err(CommitteeError(format!(
                    "validators {first} and {index} have the same dkg_public_key"
                )));
            }
            keys.push(key);
        }
        Ok(Some(keys))
    }

    /// The DKG's session digest: the chain id, epoch, chain parameters and every member's
    /// keys, pins and addresses, so that a DKG's messages and derived randomness belong to
    /// this committee alone.
    pub fn dkg_session(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update([domains::DKG_SESSION.len() as u8]);
        hasher.update(domains::DKG_SESSION);
        hasher.update(self.chain_id.to_be_bytes());
        hasher.update(self.epoch.to_be_bytes());
        hasher.update(self.validity_heights.to_be_bytes());
        hasher.update(self.dkg_window_heights.to_be_bytes());
        hasher.update(self.ciphertext_bytes_max.to_be_bytes());
        hasher.update((self.validators.len() as u64).to_be_bytes());
        for entry in &self.validators {
            for field in [
                entry.bls_public_key.trim(),
                entry.proof_of_possession.trim(),
                entry.tls_pin.trim(),
                entry.dkg_public_key.as_deref().unwrap_or("").trim(),
                &entry.peer_address.to_string(),
                &entry.client_address.to_string(),
                &entry.http_address.to_string(),
            ] {
                hasher.update((field.len() as u64).to_be_bytes());
                hasher.update(field.as_bytes());
            }
        }
        hasher.finalize().into()
    }
}

impl CheckedCommittee {
    /// The DKG's parameters (threshold `f + 1`), if the members listed DKG keys; an error
    /// says why they do not fit (the file's checks make that rare).
    pub fn dkg_params(&self) -> Option<Result<DkgParams, CommitteeError>> {
        let keys = self.dkg_keys.clone()?;
        let threshold = (keys.len() - 1) / 3 + 1;
        Some(
            DkgParams::new(
                self.file.dkg_session(),
                threshold,
                keys,
                self.file.dkg_window_heights,
            )
            .map_err(|error| CommitteeError(error.to_string())),
        )
    }
}
