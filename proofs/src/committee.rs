//! The committee file: one epoch's validators (BLS keys with proofs of possession, TLS pins,
//! addresses), the chain id, and the threshold encryption key set. Validators, wallets and
//! rollup nodes all read the same file; [`CommitteeFile::check`] refuses one whose keys did
//! not prove possession or whose key set does not fit the committee.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use shroud_crypto::tdh2::PublicKeySet;
use shroud_crypto::{CommitteeKeys, ProofOfPossession, PublicKey};
use thiserror::Error;

/// One validator in the committee file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
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
}

/// The committee of an epoch, shared by every validator and client.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CommitteeFile {
    /// The chain id every ciphertext label must carry.
    pub chain_id: u64,
    /// The epoch.
    pub epoch: u64,
    /// How far ahead of the height at which it is ordered a ciphertext's `valid_through` may
    /// be (see [`crate::validity`]). A chain parameter: every validator must use the same.
    #[serde(default = "crate::validity::default_validity_heights")]
    pub validity_heights: u64,
    /// The threshold public key set, hex (see `PublicKeySet::to_bytes`).
    pub public_key_set: String,
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
    /// The threshold key set (its encryption key is what wallets encrypt to).
    pub public_key_set: PublicKeySet,
}

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
        let public_key_set =
            PublicKeySet::from_bytes(&hex_field(&self.public_key_set, "public_key_set")?)
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
        Ok(CheckedCommittee {
            keys,
            public_key_set,
            file: self,
        })
    }
}
