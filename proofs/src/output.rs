//! The certified output of a height: outcomes, the output header, the ciphertext tree and the
//! output certificate. The namespace tree and its proofs are in [`crate::namespace`].

use std::collections::BTreeMap;

use rkyv::{Archive, Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use shroud_crypto::{domains, CertificateError, CommitteeKeys, SigningDomain};
use thiserror::Error;

use crate::bundle::{Bundle, NamespaceId};
use crate::merkle::{self, Hash};
use crate::namespace::{namespace_leaf, NamespaceItem};

/// A transaction's id: `SHA-256(TX_ID || ciphertext wire bytes)`.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[rkyv(derive(Debug))]
pub struct TxId(pub [u8; 32]);

impl TxId {
    /// The id of a ciphertext's wire bytes.
    pub fn of(ciphertext: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(domains::TX_ID);
        hasher.update(ciphertext);
        Self(hasher.finalize().into())
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Debug for TxId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TxId({}…)", &self.to_hex()[..12])
    }
}

/// Why an ordered ciphertext was not decrypted. Every honest validator reaches the same
/// reason for the same position.
#[derive(
    Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
#[rkyv(derive(Debug))]
pub enum FailureReason {
    /// Not a well-formed ciphertext, or its validity proof fails: it gets no shares.
    InvalidCiphertext,
    /// Labelled for another chain.
    WrongChain,
    /// Labelled for another epoch.
    WrongEpoch,
    /// Its encapsulation (`u`) was already ordered at an earlier position: decrypting it again
    /// would reveal nothing new and must not be paid for twice.
    Duplicate,
    /// The true shared key does not open the payload (the encryptor's fault).
    Undecryptable,
    /// The plaintext is not a bundle.
    MalformedBundle,
    /// Ordered after the last height its label allows, or labelled valid too far beyond the
    /// height at which it was ordered (see [`crate::validity`]). It gets no shares.
    Expired,
}

impl FailureReason {
    /// Every reason, in code order.
    pub const ALL: [FailureReason; 7] = [
        FailureReason::InvalidCiphertext,
        FailureReason::WrongChain,
        FailureReason::WrongEpoch,
        FailureReason::Duplicate,
        FailureReason::Undecryptable,
        FailureReason::MalformedBundle,
        FailureReason::Expired,
    ];

    /// The code committed in the ciphertext tree (0 means decrypted).
    pub fn code(self) -> u8 {
        match self {
            FailureReason::InvalidCiphertext => 1,
            FailureReason::WrongChain => 2,
            FailureReason::WrongEpoch => 3,
            FailureReason::Duplicate => 4,
            FailureReason::Undecryptable => 5,
            FailureReason::MalformedBundle => 6,
            FailureReason::Expired => 7,
        }
    }

    /// A short, stable label (metrics, JSON, receipts).
    pub fn label(self) -> &'static str {
        match self {
            FailureReason::InvalidCiphertext => "invalid_ciphertext",
            FailureReason::WrongChain => "wrong_chain",
            FailureReason::WrongEpoch => "wrong_epoch",
            FailureReason::Duplicate => "duplicate",
            FailureReason::Undecryptable => "undecryptable",
            FailureReason::MalformedBundle => "malformed_bundle",
            FailureReason::Expired => "expired",
        }
    }
}

/// What became of one ordered ciphertext.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub enum Outcome {
    /// Decrypted into a bundle.
    Decrypted(Bundle),
    /// Not decrypted, and why.
    Failed(FailureReason),
}

impl Outcome {
    /// 0 for decrypted, else the failure's code.
    pub fn code(&self) -> u8 {
        match self {
            Outcome::Decrypted(_) => 0,
            Outcome::Failed(reason) => reason.code(),
        }
    }
}

/// One position of a height's order and its outcome.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct PositionEntry {
    /// The ordered ciphertext.
    pub tx_id: TxId,
    /// What became of it.
    pub outcome: Outcome,
}

/// The header every validator signs for a height.
#[derive(
    Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize,
)]
#[rkyv(derive(Debug))]
pub struct OutputHeader {
    /// The chain.
    pub chain_id: u64,
    /// The epoch.
    pub epoch: u64,
    /// The committed block's height.
    pub height: u64,
    /// The committed block's digest.
    pub block_digest: [u8; 32],
    /// Sized root over the positions: (position, transaction id, outcome code).
    pub ciphertexts_root: [u8; 32],
    /// Sized root of the namespace tree.
    pub payload_root: [u8; 32],
    /// Digest of the previous height's header (zero at the first height).
    pub parent_output: [u8; 32],
}

impl OutputHeader {
    /// Bytes of [`Self::encoding`].
    pub const ENCODED_BYTES: usize = 3 * 8 + 4 * 32;

    /// The canonical encoding: the three integers big-endian, then the four hashes. This is
    /// what validators sign (domain `OutputHeader`) and what the L1 contract hashes.
    pub fn encoding(&self) -> [u8; Self::ENCODED_BYTES] {
        let mut out = [0u8; Self::ENCODED_BYTES];
        out[0..8].copy_from_slice(&self.chain_id.to_be_bytes());
        out[8..16].copy_from_slice(&self.epoch.to_be_bytes());
        out[16..24].copy_from_slice(&self.height.to_be_bytes());
        out[24..56].copy_from_slice(&self.block_digest);
        out[56..88].copy_from_slice(&self.ciphertexts_root);
        out[88..120].copy_from_slice(&self.payload_root);
        out[120..152].copy_from_slice(&self.parent_output);
        out
    }

    /// `SHA-256(OUTPUT_HEADER_DIGEST || encoding)`.
    pub fn digest(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(domains::OUTPUT_HEADER_DIGEST);
        hasher.update(self.encoding());
        hasher.finalize().into()
    }
}

/// A position's leaf in the ciphertext tree.
pub fn ciphertext_leaf(position: u32, entry: &PositionEntry) -> Hash {
    ciphertext_leaf_parts(position, &entry.tx_id, entry.outcome.code())
}

fn ciphertext_leaf_parts(position: u32, tx_id: &TxId, outcome_code: u8) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(domains::MERKLE_CIPHERTEXT_LEAF);
    hasher.update(position.to_be_bytes());
    hasher.update(tx_id.0);
    hasher.update([outcome_code]);
    hasher.finalize().into()
}

/// Proof that a position of a height holds a transaction with an outcome (against the
/// certified `ciphertexts_root`): what a receipt shows for "ordered at (height, position)" and
/// "decrypted" or "failed(reason)".
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct PositionProof {
    /// The position.
    pub position: u32,
    /// Positions in the height.
    pub position_count: u32,
    /// The transaction.
    pub tx_id: TxId,
    /// Its outcome code (0 decrypted, else [`FailureReason::code`]).
    pub outcome_code: u8,
    /// Sibling hashes from the leaf up.
    pub siblings: Vec<Hash>,
}

impl PositionProof {
    /// Checks the proof against a header.
    pub fn verify(&self, header: &OutputHeader) -> Result<(), ProofError> {
        let leaf = ciphertext_leaf_parts(self.position, &self.tx_id, self.outcome_code);
        let root = merkle::sized_root_from_path(
            &leaf,
            u64::from(self.position),
            u64::from(self.position_count),
            &self.siblings,
        );
        if root != Some(header.ciphertexts_root) {
            return Err(ProofError::PositionProof);
        }
        Ok(())
    }

    /// The failure reason, if the outcome was a failure.
    pub fn failure(&self) -> Option<FailureReason> {
        FailureReason::ALL
            .into_iter()
            .find(|reason| reason.code() == self.outcome_code)
    }
}

/// Where a height's output comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeightContext {
    /// The chain.
    pub chain_id: u64,
    /// The epoch.
    pub epoch: u64,
    /// The height.
    pub height: u64,
    /// The committed block's digest.
    pub block_digest: [u8; 32],
    /// The previous header's digest (zero at the first height).
    pub parent_output: [u8; 32],
}

/// Builds the output of a height from the outcome of each position (in order). Deterministic:
/// the same entries give the same header on every validator.
///
/// # Panics
/// If a height has more than `u32::MAX` positions, which no block within limits has.
pub fn build_output(context: &HeightContext, entries: &[PositionEntry]) -> BuiltOutput {
    let mut ciphertext_leaves = Vec::with_capacity(entries.len());
    let mut positions = Vec::with_capacity(entries.len());
    let mut namespaces: BTreeMap<NamespaceId, Vec<NamespaceItem>> = BTreeMap::new();
    let mut bundles = BTreeMap::new();
    for (position, entry) in entries.iter().enumerate() {
        let position = u32::try_from(position).expect("a height has fewer than 2^32 positions");
        ciphertext_leaves.push(ciphertext_leaf(position, entry));
        positions.push((entry.tx_id, entry.outcome.code()));
        if let Outcome::Decrypted(bundle) = &entry.outcome {
            let commitments = bundle.commitments();
            let bundle_digest = crate::bundle::bundle_digest(&commitments);
            if commitments.len() > 1 {
                bundles.insert(position, commitments);
            }
            for (item_index, item) in bundle.items.iter().enumerate() {
                namespaces
                    .entry(item.namespace)
                    .or_default()
                    .push(NamespaceItem {
                        tx_id: entry.tx_id,
                        position,
                        item_index: u16::try_from(item_index).expect("a bundle has few items"),
                        bundle_digest,
                        data: item.data.clone(),
                    });
            }
        }
    }
    let leaves: Vec<Hash> = namespaces
        .iter()
        .map(|(namespace, items)| namespace_leaf(*namespace, items))
        .collect();
    let header = OutputHeader {
        chain_id: context.chain_id,
        epoch: context.epoch,
        height: context.height,
        block_digest: context.block_digest,
        ciphertexts_root: merkle::sized_root(&ciphertext_leaves),
        payload_root: merkle::sized_root(&leaves),
        parent_output: context.parent_output,
    };
    BuiltOutput {
        header,
        namespaces,
        namespace_leaves: leaves,
        ciphertext_leaves,
        positions,
        bundles,
    }
}

/// A height's output as a validator builds it: the header, and what it takes to serve any
/// namespace's items with their proofs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltOutput {
    /// The header to sign.
    pub header: OutputHeader,
    /// Items of each non-empty namespace, in position order.
    pub namespaces: BTreeMap<NamespaceId, Vec<NamespaceItem>>,
    /// Namespace-tree leaves, in namespace order.
    pub(crate) namespace_leaves: Vec<Hash>,
    /// Ciphertext-tree leaves, in position order.
    pub(crate) ciphertext_leaves: Vec<Hash>,
    /// Transaction and outcome code of each position.
    pub(crate) positions: Vec<(TxId, u8)>,
    /// Commitments of each multi-item bundle, by position.
    pub(crate) bundles: BTreeMap<u32, Vec<(NamespaceId, Hash)>>,
}

impl BuiltOutput {
    /// The proof of a position's transaction and outcome, or `None` if out of range.
    pub fn position_proof(&self, position: u32) -> Option<PositionProof> {
        let index = usize::try_from(position).ok()?;
        let (tx_id, outcome_code) = *self.positions.get(index)?;
        Some(PositionProof {
            position,
            position_count: u32::try_from(self.positions.len()).ok()?,
            tx_id,
            outcome_code,
            siblings: merkle::proof(&self.ciphertext_leaves, index)?,
        })
    }

    /// The position of a transaction, if it is in this height.
    pub fn position_of(&self, tx_id: &TxId) -> Option<u32> {
        let index = self.positions.iter().position(|(id, _)| id == tx_id)?;
        u32::try_from(index).ok()
    }
}

/// Why an output, certificate or proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofError {
    /// The certificate does not verify.
    #[error("output certificate: {0}")]
    Certificate(#[from] CertificateError),
    /// Another chain.
    #[error("output is for chain {got}, expected {expected}")]
    WrongChain { expected: u64, got: u64 },
    /// Another epoch.
    #[error("output is for epoch {got}, expected {expected}")]
    WrongEpoch { expected: u64, got: u64 },
    /// The items and proof do not lead to the header's payload root.
    #[error("namespace proof does not match the payload root")]
    NamespaceProof,
    /// An absence proof that does not show the namespace is empty (wrong neighbours, not
    /// adjacent, or items present).
    #[error("namespace absence proof does not hold")]
    AbsenceProof,
    /// An inclusion proof with no items.
    #[error("namespace output has no items")]
    NoItems,
    /// Items out of position order.
    #[error("namespace items are not in position order")]
    ItemOrder,
    /// An item of a multi-item bundle without the evidence of its siblings, or evidence that
    /// does not match the bundle digest.
    #[error("bundle evidence for position {position} is missing or does not match")]
    BundleEvidence {
        /// The item's position.
        position: u32,
    },
    /// A sibling item's proof does not lead to the payload root.
    #[error("a sibling of the bundle at position {position} is not proved")]
    SiblingProof {
        /// The bundle's position.
        position: u32,
    },
    /// A position proof that does not lead to the ciphertexts root.
    #[error("position proof does not match the ciphertexts root")]
    PositionProof,
}

/// 2f+1 of a committee of `n`: the signers an output certificate needs.
pub fn output_quorum(committee_size: usize) -> usize {
    committee_size - committee_size.saturating_sub(1) / 3
}

/// A header signed by 2f+1 validators.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct OutputCertificate {
    /// The certified header.
    pub header: OutputHeader,
    /// Signer bitmap (LSB first).
    pub signers: Vec<u8>,
    /// Aggregate signature.
    pub signature: [u8; 96],
}

impl OutputCertificate {
    /// Checks the certificate for `chain_id`/`epoch` against the committee's keys: 2f+1
    /// distinct members signed the header under the `OutputHeader` domain.
    pub fn verify(
        &self,
        keys: &CommitteeKeys,
        chain_id: u64,
        epoch: u64,
    ) -> Result<(), ProofError> {
        crate::evidence::check_quorum(
            keys,
            (chain_id, epoch),
            (self.header.chain_id, self.header.epoch),
            SigningDomain::OutputHeader,
            &self.header.encoding(),
            &self.signers,
            &self.signature,
        )
    }
}
