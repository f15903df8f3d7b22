//! Decryptions anyone can check. With a height's certified output, the validators serve the
//! combined point `r·h` of every position that got decryption shares, with its ciphertext.
//! [`DecryptionEvidence::verify`] checks that 2f+1 validators certified the header, that the
//! entries are the header's, that each ciphertext is the one ordered at its position (its
//! hash is the entry's transaction id) and passes its proof, that every point is the true
//! `x·u` of its ciphertext (one batched pairing equation against the key set's `x·g₂`), and
//! that re-opening each payload with its point gives the certified outcome. So a rollup, a
//! wallet or an auditor need not take the committee's word for any plaintext: a wrong point or
//! a wrong plaintext is caught.

use rand_core::OsRng;
use rkyv::{Archive, Deserialize, Serialize};
use shroud_crypto::tdh2::{check_decryptions, Context, PublicKeySet, POINT_BYTES};
use shroud_crypto::{CommitteeKeys, ThresholdError};
use thiserror::Error;

use crate::bundle::{Bundle, BundleLimits};
use crate::output::{
    build_output, FailureReason, HeightContext, Outcome, OutputCertificate, PositionEntry,
    ProofError, TxId,
};

/// Whether a position with this outcome got decryption shares (and so has a combined point):
/// it decrypted, or its true shared point did not open it or opened something that is not a
/// bundle. Every other failure is decided before any share.
pub fn got_shares(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Decrypted(_)
            | Outcome::Failed(FailureReason::Undecryptable | FailureReason::MalformedBundle)
    )
}

/// A shared position's outcome from what its true shared point opened: `None` when it opened
/// nothing (`undecryptable`), else the plaintext, which must be a bundle
/// (`malformed_bundle`). Validators decide with it and verifiers re-derive with it.
pub fn outcome_of_opened(plaintext: Option<&[u8]>, limits: &BundleLimits) -> Outcome {
    match plaintext {
        None => Outcome::Failed(FailureReason::Undecryptable),
        Some(plaintext) => match Bundle::decode(plaintext, limits) {
            Ok(bundle) => Outcome::Decrypted(bundle),
            Err(_) => Outcome::Failed(FailureReason::MalformedBundle),
        },
    }
}

/// A position that got shares: the ordered ciphertext and its combined point `r·h`.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct SharedPosition {
    /// Its position in the height's order.
    pub position: u32,
    /// The ciphertext's wire bytes.
    pub ciphertext: Vec<u8>,
    /// The combined point, compressed.
    pub point: [u8; POINT_BYTES],
}

/// A height's certified output with what re-derives its decryptions.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct DecryptionEvidence {
    /// The certificate of the height's header.
    pub certificate: OutputCertificate,
    /// Every position's transaction and outcome (the header commits to them).
    pub entries: Vec<PositionEntry>,
    /// The positions that got shares, in position order.
    pub shared: Vec<SharedPosition>,
}

/// Why decryption evidence was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecryptionError {
    /// The certificate does not verify.
    #[error("output: {0}")]
    Output(#[from] ProofError),
    /// The entries do not rebuild the certified header.
    #[error("the entries are not the certified header's")]
    Entries,
    /// The shared positions are not exactly the positions that got shares, in order.
    #[error("the shared positions are not those whose outcome needed shares")]
    Positions,
    /// A ciphertext is not the one ordered at its position.
    #[error("the ciphertext at position {position} is not the ordered one")]
    TxId {
        /// The position.
        position: u32,
    },
    /// A ciphertext, a point or the batched point check failed.
    #[error("decryption check: {0}")]
    Crypto(#[from] ThresholdError),
    /// Re-opening with the true point gives another outcome than the certified one.
    #[error("position {position} re-opens to another outcome than the certified one")]
    Outcome {
        /// The position.
        position: u32,
    },
}

impl DecryptionEvidence {
    /// Checks the evidence for chain `chain_id` and epoch `epoch` against the committee's BLS
    /// keys and the epoch's key set (see the module documentation). `payload_bytes_max` and
    /// `limits` are the chain's ciphertext and bundle limits.
    pub fn verify(
        &self,
        keys: &CommitteeKeys,
        public: &PublicKeySet,
        (chain_id, epoch): (u64, u64),
        payload_bytes_max: usize,
        limits: &BundleLimits,
    ) -> Result<(), DecryptionError> {
        self.certificate.verify(keys, chain_id, epoch)?;
        let header = self.certificate.header;
        let context = HeightContext {
            chain_id: header.chain_id,
            epoch: header.epoch,
            height: header.height,
            block_digest: header.block_digest,
            parent_output: header.parent_output,
        };
        if build_output(&context, &self.entries).header != header {
            return Err(DecryptionError::Entries);
        }
        let needed: Vec<u32> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, entry)| got_shares(&entry.outcome))
            .filter_map(|(position, _)| u32::try_from(position).ok())
            .collect();
        let given: Vec<u32> = self.shared.iter().map(|shared| shared.position).collect();
        if needed != given {
            return Err(DecryptionError::Positions);
        }
        for shared in &self.shared {
            let entry = &self.entries[shared.position as usize];
            if TxId::of(&shared.ciphertext) != entry.tx_id {
                return Err(DecryptionError::TxId {
                    position: shared.position,
                });
            }
        }
        let items: Vec<(&[u8], &[u8])> = self
            .shared
            .iter()
            .map(|shared| (shared.ciphertext.as_slice(), shared.point.as_slice()))
            .collect();
        let opened = check_decryptions(
            public,
            &Context { chain_id, epoch },
            &items,
            payload_bytes_max,
            &mut OsRng,
        )?;
        for (shared, plaintext) in self.shared.iter().zip(opened) {
            let outcome = outcome_of_opened(plaintext.as_deref(), limits);
            if outcome != self.entries[shared.position as usize].outcome {
                return Err(DecryptionError::Outcome {
                    position: shared.position,
                });
            }
        }
        Ok(())
    }
}
