//! Errors: why a message from a peer was refused. Each is counted by the node and the message
//! dropped; none stops the state machine.

use shroud_crypto::{BlsError, CertificateError};
use thiserror::Error;

use crate::types::{Epoch, Height, ValidatorIndex};

/// A message that failed verification.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConsensusError {
    /// A message for another epoch.
    #[error("wrong epoch: expected {expected}, got {got}")]
    WrongEpoch { expected: Epoch, got: Epoch },
    /// A signer index outside the committee.
    #[error("unknown validator {index}")]
    UnknownValidator { index: ValidatorIndex },
    /// A signature that does not verify.
    #[error("bad {kind} signature: {source}")]
    BadSignature {
        kind: &'static str,
        source: BlsError,
    },
    /// A QC or TC whose certificate does not verify.
    #[error("bad {kind} certificate: {source}")]
    BadCertificate {
        kind: &'static str,
        source: CertificateError,
    },
    /// A block whose height is not its parent's plus one.
    #[error("block height {got}, parent is at {parent}")]
    BadHeight { parent: Height, got: Height },
    /// A block whose view is not above its QC's view, or a TC/timeout with views out of order.
    #[error("views out of order: {detail}")]
    BadView { detail: &'static str },
    /// A TC whose list of highest-QC views does not match its signers.
    #[error("timeout certificate has {views} views for {signers} signers")]
    TimeoutViewsMismatch { views: usize, signers: usize },
    /// A message over a configured limit.
    #[error("{what} of {got} exceeds the limit of {max}")]
    TooLarge {
        what: &'static str,
        max: usize,
        got: usize,
    },
    /// The node's payload check refused the block's payload.
    #[error("payload refused: {0}")]
    BadPayload(String),
}
