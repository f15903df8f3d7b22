//! The client protocol: what wallets, rollup nodes and the SDK exchange with a validator's
//! client endpoint: one request and one answer per stream, or a submission stream that opens
//! with [`SubmitStreamOpen`] and then carries any number of `Submit` frames, each answered by
//! a `Receipt` in order.
//!
//! | request | frame kind | answer |
//! |---|---|---|
//! | [`SubmitRequest`] | `Submit` | [`Receipt`] (`Receipt`) |
//! | [`OutputsRequest`] | `OutputsRequest` | [`OutputsResponse`] (`Outputs`) |
//! | [`TxStatusRequest`] | `TxStatusRequest` | [`TxStatus`] (`TxStatus`) |
//! | [`EpochKeyRequest`] | `EpochKeyRequest` | [`EpochKeyResponse`] (`EpochKey`) |
//! | [`DecryptionEvidenceRequest`] | `DecryptionEvidenceRequest` | [`DecryptionEvidenceResponse`] (`DecryptionEvidence`) |
//! | [`SubmitStreamOpen`], then [`SubmitRequest`]s | `SubmitStream`, `Submit`... | one [`Receipt`] per submission, in order |

use rkyv::{Archive, Deserialize, Serialize};
use shroud_proofs::{
    AvailabilityCertificate, BlockCertificate, DecryptionEvidence, EpochKeyCertificate,
    FailureReason, NamespaceId, NamespaceOutput, OutputCertificate, PositionProof,
};

/// A client's submission: one ciphertext's wire bytes.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct SubmitRequest {
    /// The ciphertext (see `shroud_crypto::tdh2::Ciphertext::to_bytes`).
    pub ciphertext: Vec<u8>,
}

/// Opens a submission stream (the first frame on it). Past a validator's limit of
/// submissions waiting for receipts on one stream, it stops reading the stream until receipts
/// go out, and QUIC's flow control holds the client back.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct SubmitStreamOpen {
    /// The epoch the client encrypts for (informational; each ciphertext's label decides).
    pub epoch: u64,
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
        /// A stable label (`too_large`, `wrong_epoch`, `overloaded`, ...).
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
    /// The lowest height this validator still keeps. Asked for a lower one, it answers no
    /// outputs and leaves `next_height` at the requested height: those heights were pruned
    /// here (ask a validator or an archive that keeps them).
    pub kept_from_height: u64,
}

/// Asks where a transaction stands.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct TxStatusRequest {
    /// The transaction.
    pub tx_id: [u8; 32],
}

/// A transaction in a batch.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct Batched {
    /// The batch.
    pub digest: [u8; 32],
    /// Its availability certificate, once this validator has it.
    pub certificate: Option<AvailabilityCertificate>,
}

/// A transaction in the committed order.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct Ordered {
    /// The height.
    pub height: u64,
    /// The position in the height.
    pub position: u32,
    /// The committed block.
    pub block_digest: [u8; 32],
    /// The block's quorum certificate, once the next block committed.
    pub block_certificate: Option<BlockCertificate>,
}

/// A certified outcome.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct Certified {
    /// The output certificate of the height.
    pub certificate: OutputCertificate,
    /// The position's transaction and outcome against the certified ciphertexts root.
    pub position: PositionProof,
    /// For a decrypted bundle: the output of each namespace it touches, with its proofs.
    pub namespaces: Vec<NamespaceOutput>,
}

/// The answer to a [`TxStatusRequest`]: every step this validator can vouch for, each with
/// its evidence. Later steps are present only if earlier ones are.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct TxStatus {
    /// The transaction.
    pub tx_id: [u8; 32],
    /// This validator holds it (accepted here, or in a batch it stored).
    pub known: bool,
    /// In a batch.
    pub batched: Option<Batched>,
    /// In the committed order.
    pub ordered: Option<Ordered>,
    /// Decided: `None` inside means decrypted, else the failure.
    pub outcome: Option<Option<FailureReason>>,
    /// Certified.
    pub certified: Option<Certified>,
    /// Committed at this height, whose records (and so the evidence of every step) this
    /// validator has pruned; the steps above are then absent.
    pub pruned_at: Option<u64>,
}

/// Asks for the committee's certificate of the epoch key.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct EpochKeyRequest {
    /// The epoch wanted.
    pub epoch: u64,
}

/// The answer to an [`EpochKeyRequest`].
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct EpochKeyResponse {
    /// The certificate, once the committee formed it.
    pub certificate: Option<EpochKeyCertificate>,
}

/// Asks for a certified height's decryption evidence.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct DecryptionEvidenceRequest {
    /// The height.
    pub height: u64,
}

/// The answer to a [`DecryptionEvidenceRequest`]: `None` when the height is not certified at
/// this validator, or its records are pruned.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct DecryptionEvidenceResponse {
    /// The evidence.
    pub evidence: Option<DecryptionEvidence>,
}
