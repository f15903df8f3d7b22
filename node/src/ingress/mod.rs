//! The ingress stage: client submissions become durable, checked, batched ciphertexts, off the
//! consensus loop.
//!
//! A transaction's way through it:
//! 1. A client handler (QUIC stream or `POST /v1/tx`) hands the ciphertext to the stage's
//!    bounded queue with [`IngressHandle::try_submit`]; a full queue answers `overloaded` at
//!    once, so a flood never stalls the node.
//! 2. The stage takes everything waiting (up to [`IngressConfig::group_max`]) as one *group*:
//!    the cheap checks one by one (size, structure, label, expiry, duplicate, capacity), then
//!    every proof of the group in one multi-scalar multiplication
//!    ([`crate::mempool::Mempool::check_group`]).
//! 3. The accepted ciphertexts of the group are written as **one** record, batches that are due
//!    (full by bytes or count, or old enough) are cut and written, and the store is flushed
//!    **once** (group commit). Only then are the receipts sent: `accepted` means durable.
//! 4. Each own batch goes to the validator loop, which collects acknowledgements for it.
//!
//! The validator loop tells the stage the processed height (expiry is judged against it) and
//! the ids that committed (they leave the duplicate set; the store's committed index answers
//! for them from then on).
//!
//! The logic is in `state` (testable without threads); `actor` runs it on its own thread so
//! that admission's crypto and fsyncs never delay a vote.

mod actor;
mod config;
mod state;

pub use actor::{spawn, HeldIds, IngressHandle};
pub use config::IngressConfig;
pub use state::{GroupOutcome, IngressState};
