//! Messages between validators (besides consensus messages) and between clients and
//! validators, carried in `shroud-network` frames.

use rkyv::{Archive, Deserialize, Serialize};

use shroud_crypto::tdh2::POINT_BYTES;

use crate::batch::BatchDigest;

pub use shroud_network::client::{OutputsRequest, OutputsResponse, Receipt, SubmitRequest};

/// A request for a stored batch, answered with the batch.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct BatchRequest {
    /// The batch wanted.
    pub digest: BatchDigest,
}

/// The combined points of a height, from its combiner (validator `height mod n`): the point
/// `r·h` of each position that got shares, in position order. Every other validator checks
/// them all with one batched pairing equation and decides from them, or combines the shares
/// itself when they fail, do not come, or come from anyone else (ADR 0011).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct CombinedMessage {
    /// The epoch.
    pub epoch: u64,
    /// The committed height.
    pub height: u64,
    /// The committed block.
    pub block_digest: [u8; 32],
    /// The sender (the height's combiner).
    pub sender: u16,
    /// The combined points (compressed G1), one per position given shares.
    pub points: Vec<[u8; POINT_BYTES]>,
}

/// One validator's decryption shares of a committed height: one share value per position that
/// needs one (a valid, new ciphertext), in position order, with one batched proof for all of
/// them (`shroud_crypto::tdh2::ShareBatch`). Sent only after the height committed and the
/// shares were made durable.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct SharesMessage {
    /// The epoch.
    pub epoch: u64,
    /// The committed height.
    pub height: u64,
    /// The committed block (the receiver checks it is the block it committed).
    pub block_digest: [u8; 32],
    /// The sender.
    pub sender: u16,
    /// The positions given shares, in order.
    pub positions: Vec<u32>,
    /// The share values (compressed G1 points), one per position.
    pub values: Vec<[u8; POINT_BYTES]>,
    /// The batch's proof: [`shroud_crypto::tdh2::SHARE_BATCH_PROOF_BYTES`] bytes, or none when `positions` is empty.
    pub proof: Vec<u8>,
}

/// A validator's signature over its output header of a height.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct OutputVote {
    /// The epoch.
    pub epoch: u64,
    /// The height.
    pub height: u64,
    /// Digest of the header signed (receivers compare it with their own).
    pub header_digest: [u8; 32],
    /// The signer.
    pub signer: u16,
    /// BLS signature over the header's encoding (domain `OutputHeader`).
    pub signature: [u8; 96],
}

/// Asks a validator for what it has of a height: its shares, its vote, the certificate.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct DecryptionRequest {
    /// The epoch.
    pub epoch: u64,
    /// The first height asked about.
    pub height: u64,
    /// How many heights from `height` on (at least one; a responder answers at most 32).
    pub count: u16,
}

/// A validator's signature vouching for the epoch's key set (domain `EpochKey`, over
/// `shroud_crypto::encodings::epoch_key`); 2f+1 form the certificate clients check.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct EpochKeyVote {
    /// The epoch.
    pub epoch: u64,
    /// The signer.
    pub signer: u16,
    /// The signature.
    pub signature: [u8; 96],
    /// Sent in answer to another's vote by a validator that is certified already (never
    /// answered in turn).
    pub answer: bool,
}
