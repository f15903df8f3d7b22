//! `shroud-node`: the `shroud` validator: configuration, wiring, mempool and batches,
//! decryption stage, APIs, metrics and CLI.
//!
//! - [`batch`]: batches, acknowledgements, availability certificates, the block payload.
//! - [`mempool`]: admission checks, batching, the committed-order rule.
//! - [`store`]: the node's sled state (pending ciphertexts, batches, the committed order).
//! - [`config`]: node and committee files, key files, the test-network generator.
//! - [`runtime`]: network tasks, the validator loop, the operator HTTP API.
//! - [`wire`]: client submissions and receipts, batch requests.
//!
//! Decryption, certified outputs, and the SDK come with issues #5 and #6.

pub mod batch;
pub mod config;
pub mod mempool;
pub mod runtime;
pub mod store;
pub mod wire;
