//! `shroud-node`: the `shroud` validator: configuration, wiring, mempool and batches,
//! decryption stage, APIs, metrics and CLI.
//!
//! - [`batch`]: batches, acknowledgements, availability certificates, the block payload.
//! - [`ingress`]: the admission stage on its own thread: group checks, group commit (one
//!   pending-log record and one fdatasync per group), batch cutting, receipts after the sync.
//! - [`key_slot`]: the epoch key as the stages read it, set once the DKG forms it.
//! - [`mempool`]: admission checks, batching, the committed-order rule (the ingress stage's
//!   sync logic).
//! - [`id_hash`]: a keyed hasher for maps keyed by digests.
//! - [`committed`]: the committed-transaction index in memory (duplicates, receipts),
//!   rebuilt from the height records.
//! - [`segment_log`]: batch payloads and height records in append-only segment files (sled
//!   keeps their places).
//! - [`pending_log`]: accepted, not yet batched ciphertexts in append-only segment files.
//! - [`store`]: the node's sled state (the batched-through mark, batches, the committed order,
//!   shares, outputs and certificates).
//! - [`config`]: node and committee files, key files, the test-network generator.
//! - [`decrypt`]: the decryption stage: shares after commit, combining, certified outputs.
//! - [`runtime`]: network tasks, the validator loop, the client and operator APIs.
//! - [`status`]: receipts (a transaction's status with evidence), read from the store.
//! - [`wire`]: messages between validators and with clients.
//! - [`malloc`]: glibc's allocator thresholds, fixed for a long-running validator.
//! - [`demo`]: `shroud demo`, a local network driven through the SDK.
//! - [`cli`]: the client commands (`tx submit`, `tx watch`, `tail`).

pub mod batch;
pub mod cli;
pub mod committed;
pub mod config;
pub mod decrypt;
pub mod demo;
pub mod id_hash;
pub mod ingress;
pub mod json;
pub mod key_slot;
pub mod malloc;
pub mod mempool;
pub mod pending_log;
pub mod runtime;
pub mod segment_log;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod wire;
pub mod workers;
