//! `shroud-proofs`: what a rollup verifies: bundles, the certified output of each height (its
//! header, namespace Merkle tree and BLS output certificate), and the committee file that
//! names the keys. It depends on `shroud-crypto` only (no tokio, quinn or sled), so a rollup
//! node links it alone.
//!
//! # The output of a height
//! After a block commits and its ciphertexts are decrypted, every position of the height's
//! order has an [`Outcome`]: a decrypted [`Bundle`] or a [`FailureReason`]. The output commits
//! to all of it in an [`OutputHeader`]:
//! - `ciphertexts_root`: a Merkle tree over the positions, each leaf binding the position, the
//!   transaction id (hash of the ciphertext) and the outcome code, so failures are certified too;
//! - `payload_root`: the namespace tree. Each decrypted item goes to its namespace, keeping its
//!   position; a namespace's items form a tree whose root, with the namespace id and item
//!   count, is one leaf of the namespace tree (leaves sorted by namespace id);
//! - `parent_output`: the digest of the previous height's header, so outputs form a chain.
//!
//! 2f+1 validators sign the header (domain `OutputHeader`); the [`OutputCertificate`] is the
//! header, a signer bitmap and one aggregate signature. A [`NamespaceOutput`] carries a
//! namespace's items at one height with the proof that ties them to a certified header, or an
//! absence proof when the namespace has none, plus, for items of cross-rollup bundles, proofs
//! that every sibling item is in its own namespace in the same output ([`namespace`]). A
//! [`PositionProof`] shows one position's transaction and outcome (what receipts carry).
//!
//! All trees use [`merkle`]: the RFC 9162 (Certificate Transparency v2) tree shape with
//! Shroud's own domain tags for leaves, nodes and the empty tree.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod bundle;
pub mod committee;
pub mod decryption;
pub mod evidence;
pub mod handover;
pub mod merkle;
pub mod namespace;
pub mod output;
pub mod validity;

pub use bundle::{
    bundle_digest, item_data_hash, Bundle, BundleError, BundleLimits, Item, NamespaceId,
    BUNDLE_VERSION,
};
pub use committee::{
    default_ciphertext_bytes_max, default_dkg_window_heights, CheckedCommittee, CommitteeError,
    CommitteeFile, MemberEntry, CIPHERTEXT_BYTES_MAX_DEFAULT, CIPHERTEXT_BYTES_MAX_RANGE,
    DKG_WINDOW_HEIGHTS_DEFAULT, DKG_WINDOW_HEIGHTS_RANGE,
};
pub use decryption::{
    got_shares, outcome_of_opened, DecryptionError, DecryptionEvidence, SharedPosition,
};
pub use evidence::{AvailabilityCertificate, BlockCertificate, EpochKeyCertificate};
pub use handover::{keys_digest, CommitteeHandover, HandoverCertificate};
pub use namespace::{
    items_root, BundleEvidence, NamespaceItem, NamespaceOutput, NamespaceProof, NeighbourLeaf,
    SiblingProof,
};
pub use output::{
    build_output, output_quorum, BuiltOutput, FailureReason, HeightContext, Outcome,
    OutputCertificate, OutputHeader, PositionEntry, PositionProof, ProofError, TxId,
};
pub use validity::{expiry_of, within_validity};
