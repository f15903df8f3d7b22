//! `shroud-node`: the `shroud` validator: configuration, wiring, mempool and batches,
//! decryption stage, APIs, metrics and CLI.
//!
//! Built so far: [`batch`] (batches, acknowledgements, availability certificates, the block
//! payload) and [`mempool`] (admission checks, batching, the committed order). The runtime,
//! the CLI and the APIs come next (issue #4).

pub mod batch;
pub mod config;
pub mod mempool;
