//! The client protocol: what wallets, rollup nodes and the SDK exchange with a validator's
//! client endpoint (one request and one answer per stream).
//!
//! | request | frame kind | answer |
//! |---|---|---|
//! | [`SubmitRequest`] | `Submit` | [`Receipt`] (`Receipt`) |
//! | [`OutputsRequest`] | `OutputsRequest` | [`OutputsResponse`] (`Outputs`) |

use rkyv::{Archive, Deserialize, Serialize};
use shroud_proofs::{NamespaceId, NamespaceOutput};

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

/// Certified outputs of one namespace, from a height on. The validator answers at once if any
/// certified height at or above `from_height` exists, else waits up to `wait_ms` for one (a
/// long poll: a subscription is a loop of these).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct OutputsRequest {
    /// The namespace.
    pub namespace: NamespaceId,
    /// First height wanted.
    pub from_height: u64,
    /// Most heights scanned in one answer.
    pub heights_max: u32,
    /// Longest wait for a new certified height.
    pub wait_ms: u32,
}

/// The answer to an [`OutputsRequest`].
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct OutputsResponse {
    /// The namespace's output at every scanned height, in height order (with an absence proof
    /// where it has no items).
    pub outputs: Vec<NamespaceOutput>,
    /// Every height below this was scanned (continue from here).
    pub next_height: u64,
    /// The validator's highest certified height (all below it are certified too).
    pub certified_height: u64,
}
