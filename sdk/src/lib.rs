//! `shroud-sdk`: the client library for wallets and rollups: load the committee, encrypt a
//! bundle to the epoch key, submit it to one or more validators, and read certified namespace
//! outputs, each verified (output certificate and namespace proof) before it is returned.
//!
//! ```no_run
//! # async fn example() -> Result<(), shroud_sdk::SdkError> {
//! use shroud_sdk::{Bundle, Client, Committee, NamespaceId};
//! let committee = Committee::load(std::path::Path::new("committee.toml"))?;
//! let client = Client::connect(committee, &[0, 1]).await?;
//! let bundle = Bundle::single(NamespaceId(1), b"transfer 5 to bob".to_vec());
//! let submitted = client.submit_bundle(&bundle).await?;
//! let found = client
//!     .wait_for(submitted.tx_id, &[NamespaceId(1)], 1, std::time::Duration::from_secs(30))
//!     .await?;
//! println!("certified at height {}", found.height);
//! # Ok(()) }
//! ```
//!
//! Trust: the committee file is the root of trust (its keys proved possession). Every output,
//! receipt step and the epoch key certificate is checked against it: a validator can withhold
//! but cannot forge. A namespace is followed height by height with absence proofs for empty
//! heights and parent links between headers, so a gap or a different history is an error,
//! never a silent skip.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

mod client;
mod committee;
mod receipts;
mod stream;

pub use client::{
    encrypt_bundle, encrypt_bytes, Client, Found, OutputsPage, Submitted, Subscription,
    CONNECT_TIMEOUT,
};
pub use committee::Committee;
pub use receipts::{Receipts, Step};
pub use shroud_proofs::{Bundle, Item, NamespaceId, NamespaceOutput, TxId};
pub use stream::{ReceiptStream, StreamReceipt, SubmitStream};

use thiserror::Error;

/// What went wrong for a client.
#[derive(Debug, Error)]
pub enum SdkError {
    /// The committee file is unusable.
    #[error("committee: {0}")]
    Committee(String),
    /// The network failed.
    #[error("network: {0}")]
    Network(#[from] shroud_network::NetworkError),
    /// A validator's answer does not decode.
    #[error("bad answer from validator {validator}: {error}")]
    BadAnswer {
        /// The validator.
        validator: usize,
        /// Why.
        error: shroud_network::FrameError,
    },
    /// Every validator refused the transaction.
    #[error("rejected ({label}): {reason}")]
    Rejected {
        /// The stable label (`wrong_epoch`, `full`, ...).
        label: String,
        /// The human-readable reason.
        reason: String,
    },
    /// No validator could be reached.
    #[error("no validator reachable")]
    Unreachable,
    /// A validator served an output that does not verify.
    #[error("validator {validator} served an invalid output at height {height}: {error}")]
    InvalidOutput {
        /// The validator.
        validator: usize,
        /// The height.
        height: u64,
        /// Why it failed.
        error: shroud_proofs::ProofError,
    },
    /// A validator's answer skipped or repeated heights.
    #[error(
        "validator {validator} answered out of order: expected heights from {expected}, got {got}"
    )]
    Gap {
        /// The validator.
        validator: usize,
        /// First height expected.
        expected: u64,
        /// Height received.
        got: u64,
    },
    /// A header that does not link to the previous one (a different history).
    #[error("validator {validator} served a header at height {height} that does not extend the previous one")]
    Fork {
        /// The validator.
        validator: usize,
        /// The height.
        height: u64,
    },
    /// A validator's evidence that does not fit together.
    #[error("validator {validator} sent inconsistent evidence: {what}")]
    BadEvidence {
        /// The validator.
        validator: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// The committee's key certificate names another key set than the committee file.
    #[error("the certified epoch key differs from the committee file's")]
    KeyMismatch,
    /// No validator has a certificate for the epoch key yet.
    #[error("the epoch key is not certified yet")]
    KeyNotCertified,
    /// The wait ended first.
    #[error("timed out")]
    Timeout,
    /// A validator served decryption evidence that does not verify: a wrong point, a
    /// plaintext that its point does not give, or evidence that does not fit the certificate.
    #[error(
        "validator {validator} served invalid decryption evidence at height {height}: {error}"
    )]
    InvalidDecryption {
        /// The validator.
        validator: usize,
        /// The height.
        height: u64,
        /// Why it failed.
        error: shroud_proofs::DecryptionError,
    },
    /// No validator asked has the height certified with its batches kept.
    #[error("no validator asked has decryption evidence for height {height}")]
    NoEvidence {
        /// The height.
        height: u64,
    },
    /// Every validator asked has pruned the height wanted (it is older than they retain).
    #[error("height {height} is pruned at every validator asked")]
    Pruned {
        /// The height wanted.
        height: u64,
        /// The lowest height a validator asked still keeps, when it said (outputs do; a
        /// receipt names only the pruned height).
        kept_from: Option<u64>,
    },
}
