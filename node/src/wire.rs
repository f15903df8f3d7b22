//! Messages between validators (besides consensus messages) and between clients and
//! validators, carried in `shroud-network` frames.

use rkyv::{Archive, Deserialize, Serialize};

use crate::batch::BatchDigest;

/// A client's submission: one ciphertext's wire bytes.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct SubmitRequest {
    /// The ciphertext (see `shroud_crypto::tdh2::Ciphertext::to_bytes`).
    pub ciphertext: Vec<u8>,
}

/// A validator's answer to a submission.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub enum Receipt {
    /// Durable in this validator; `tx_id` identifies it from now on.
    Accepted {
        /// The transaction id.
        tx_id: [u8; 32],
    },
    /// Refused, with the reason.
    Rejected {
        /// A stable label (`too_large`, `wrong_epoch`, ...).
        label: String,
        /// A human-readable reason.
        reason: String,
    },
}

/// A request for a stored batch, answered with the batch.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct BatchRequest {
    /// The batch wanted.
    pub digest: BatchDigest,
}
