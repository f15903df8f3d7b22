//! `shroud-proofs`: output headers, BLS output certificates, namespace Merkle proofs, the Rust
//! verifier a rollup links, and the L1 light-client contract. Built in issues #5, #6 and #8.
