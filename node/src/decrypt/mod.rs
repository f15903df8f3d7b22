//! The decryption stage: committed ciphertexts become certified per-namespace outputs.
//!
//! # Protocol
//! 1. **Release.** Consensus emits `ReleaseDecryptionShares(h)` only after height `h` committed
//!    (never earlier); the validator loop raises the released height, and the stage sets up
//!    `h` once its order is also processed (every batch stored).
//! 2. **Classify.** Each position of the height's order is parsed and its label and `u`
//!    decoded (`u` subgroup-checked). Validity proofs are not checked again: every committed
//!    batch is certified, and each of its `f + 1` acknowledgements attests that its signer
//!    checked every ciphertext (`crate::runtime`'s batch checks, ADR 0011). A position fails
//!    at once with a reason if its ciphertext is malformed (`invalid_ciphertext`), it is
//!    labelled for another chain or epoch, it is ordered outside its validity window
//!    (`expired`), or its encapsulation `u` was ordered before (`duplicate`: the first
//!    position keeps it). The same order and the same checks give every honest validator the
//!    same classification.
//! 3. **Share.** This validator makes one share per remaining position (one constant-time
//!    multiplication each) with one batched proof for all of them, stores them, flushes, and
//!    only then broadcasts them in one message per height.
//! 4. **Combine.** Once `t` senders are in, the height's combiner (validator `height mod n`)
//!    combines it and sends the points; every other validator checks them with one batched
//!    pairing equation and decides from them, or combines itself (as below) when they fail or
//!    have not come in time. Combining: the whole height is combined optimistically from
//!    the first `t` senders' share values (decoded only then; proofs not checked): one
//!    Lagrange combination per position, with the coefficients computed once, and one batched
//!    pairing equation over all combined points. Only if that fails are the proofs of the
//!    senders used checked; each sender whose proof fails is excluded for the height (named
//!    in the log and counted) and the next senders are tried.
//!    The true shared point either opens the payload (then the plaintext must be a bundle, or
//!    the position fails as `malformed_bundle`) or it does not (`undecryptable`), the same on
//!    every honest validator.
//! 5. **Certify.** Outputs are built in height order (each header links its parent), signed,
//!    stored with the signature, flushed, and the signature is broadcast; `2f+1` signatures
//!    over the same header aggregate into the output certificate.
//! 6. **Recover.** A height that waits too long asks peers for their shares, votes or
//!    certificate; a restarted validator resumes from its store (own shares are reused, never
//!    made twice for different points).
//!
//! The logic is in `state` (testable without threads); `actor` runs it on a rayon pool of
//! one worker per core (the loop on one worker, per-position crypto on all), since combining
//! and proving are CPU work that must not stall consensus.

mod actor;
mod state;

pub use actor::{spawn, DecryptEvent, DecryptMessage, StageHandle, StageStart};
pub use state::{DecryptionState, Faults, Outgoing, Params, Send, StageError};
