//! The namespace tree of a height and what a rollup receives: its items with an inclusion
//! proof, or an absence proof when it has none, and for items of cross-rollup bundles the
//! evidence that every sibling item was included in its own namespace in the same output.
//!
//! Tree layout: the leaves are the non-empty namespaces sorted by id, each
//! `H(NAMESPACE_LEAF || namespace || item count || item root)` where the item root is the
//! Merkle root over the namespace's item leaves in position order; the payload root is the
//! sized root over those leaves. Absence of a namespace is shown by its neighbours: two
//! adjacent leaves around it, or the first leaf (if every leaf is above it), or the last (if
//! every leaf is below it), or a tree of zero leaves. The sized root fixes the leaf count, so
//! "first" and "last" cannot be faked.

use rkyv::{Archive, Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use shroud_crypto::{domains, CommitteeKeys};

use crate::bundle::{bundle_digest, item_data_hash, NamespaceId};
use crate::merkle::{self, Hash};
use crate::output::{BuiltOutput, OutputCertificate, OutputHeader, ProofError, TxId};

/// A decrypted item as its namespace receives it.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct NamespaceItem {
    /// The ciphertext it came from.
    pub tx_id: TxId,
    /// The ciphertext's position in the height's order.
    pub position: u32,
    /// Its index within its bundle.
    pub item_index: u16,
    /// Digest of the whole bundle (the same in every namespace the bundle touches).
    pub bundle_digest: [u8; 32],
    /// The rollup transaction.
    pub data: Vec<u8>,
}

/// An item leaf from its parts (the data enters by its hash).
fn item_leaf(
    tx_id: &TxId,
    position: u32,
    item_index: u16,
    bundle_digest: &Hash,
    data_hash: &Hash,
) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(domains::MERKLE_ITEM_LEAF);
    hasher.update(tx_id.0);
    hasher.update(position.to_be_bytes());
    hasher.update(item_index.to_be_bytes());
    hasher.update(bundle_digest);
    hasher.update(data_hash);
    hasher.finalize().into()
}

impl NamespaceItem {
    /// The item's leaf in its namespace's tree.
    pub fn leaf(&self) -> Hash {
        item_leaf(
            &self.tx_id,
            self.position,
            self.item_index,
            &self.bundle_digest,
            &item_data_hash(&self.data),
        )
    }
}

fn leaf_from_root(namespace: NamespaceId, item_count: u64, items_root: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(domains::MERKLE_NAMESPACE_LEAF);
    hasher.update(namespace.0.to_be_bytes());
    hasher.update(item_count.to_be_bytes());
    hasher.update(items_root);
    hasher.finalize().into()
}

/// The root over a namespace's items at one height (in position order): what a rollup that
/// holds the items computes, and what the L1 contract's `verifyNamespace` takes. The empty
/// tree's root for no items.
pub fn items_root(items: &[NamespaceItem]) -> Hash {
    let leaves: Vec<Hash> = items.iter().map(NamespaceItem::leaf).collect();
    merkle::root(&leaves)
}

/// A namespace's leaf in the namespace tree.
pub fn namespace_leaf(namespace: NamespaceId, items: &[NamespaceItem]) -> Hash {
    leaf_from_root(namespace, items.len() as u64, &items_root(items))
}

/// A neighbouring namespace's leaf, opened, with its path.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct NeighbourLeaf {
    /// Its index among the leaves.
    pub leaf_index: u32,
    /// Its namespace.
    pub namespace: NamespaceId,
    /// Its item count.
    pub item_count: u64,
    /// The root over its items.
    pub items_root: Hash,
    /// Sibling hashes from the leaf up.
    pub siblings: Vec<Hash>,
}

impl NeighbourLeaf {
    fn proves(&self, leaf_count: u32, payload_root: &Hash) -> bool {
        let leaf = leaf_from_root(self.namespace, self.item_count, &self.items_root);
        merkle::sized_root_from_path(
            &leaf,
            u64::from(self.leaf_index),
            u64::from(leaf_count),
            &self.siblings,
        ) == Some(*payload_root)
    }
}

/// Where a namespace stands in the namespace tree of a height.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub enum NamespaceProof {
    /// The namespace has items: its leaf is at `leaf_index`.
    Inclusion {
        /// The leaf's index.
        leaf_index: u32,
        /// Leaves in the tree.
        leaf_count: u32,
        /// Sibling hashes from the leaf up.
        siblings: Vec<Hash>,
    },
    /// The namespace is empty: its neighbours are adjacent around it.
    Absence {
        /// Leaves in the tree.
        leaf_count: u32,
        /// The last leaf below the namespace, if any.
        left: Option<NeighbourLeaf>,
        /// The first leaf above the namespace, if any.
        right: Option<NeighbourLeaf>,
    },
}

/// One sibling item of a bundle, in another namespace: its place in that namespace's item
/// tree and that namespace's place in the namespace tree.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct SiblingProof {
    /// The sibling's index in the bundle.
    pub item_index: u16,
    /// Its index among its namespace's items.
    pub index_in_namespace: u32,
    /// Items in its namespace at this height.
    pub namespace_item_count: u32,
    /// Its path in its namespace's item tree.
    pub item_siblings: Vec<Hash>,
    /// Its namespace's leaf index.
    pub namespace_leaf_index: u32,
    /// Leaves in the namespace tree.
    pub namespace_leaf_count: u32,
    /// Its namespace's path in the namespace tree.
    pub namespace_siblings: Vec<Hash>,
}

/// The evidence for a multi-item bundle that one of this namespace's items belongs to.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct BundleEvidence {
    /// The bundle's position.
    pub position: u32,
    /// Each item's namespace and data hash, in bundle order (they hash to the bundle digest).
    pub commitments: Vec<(NamespaceId, Hash)>,
    /// Proofs of the items in other namespaces.
    pub siblings: Vec<SiblingProof>,
}

/// One namespace at one height, with the certificate and the proofs that tie it together:
/// what a rollup node consumes.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct NamespaceOutput {
    /// The certified header.
    pub certificate: OutputCertificate,
    /// The namespace.
    pub namespace: NamespaceId,
    /// Its items, in position order (empty when the proof is an absence proof).
    pub items: Vec<NamespaceItem>,
    /// Inclusion of the namespace's leaf, or absence.
    pub proof: NamespaceProof,
    /// Evidence for every multi-item bundle among the items.
    pub bundles: Vec<BundleEvidence>,
}

impl NamespaceOutput {
    /// Checks everything: the certificate, then the proofs.
    pub fn verify(
        &self,
        keys: &CommitteeKeys,
        chain_id: u64,
        epoch: u64,
    ) -> Result<(), ProofError> {
        self.certificate.verify(keys, chain_id, epoch)?;
        self.verify_proofs()
    }

    /// The proofs alone, against the certificate's header (checked elsewhere, e.g. on L1).
    pub fn verify_proofs(&self) -> Result<(), ProofError> {
        let header = &self.certificate.header;
        match &self.proof {
            NamespaceProof::Inclusion {
                leaf_index,
                leaf_count,
                siblings,
            } => {
                self.check_items()?;
                let leaf = namespace_leaf(self.namespace, &self.items);
                let root = merkle::sized_root_from_path(
                    &leaf,
                    u64::from(*leaf_index),
                    u64::from(*leaf_count),
                    siblings,
                );
                if root != Some(header.payload_root) {
                    return Err(ProofError::NamespaceProof);
                }
                self.check_bundles(header)
            }
            NamespaceProof::Absence {
                leaf_count,
                left,
                right,
            } => {
                if !self.items.is_empty() || !self.bundles.is_empty() {
                    return Err(ProofError::AbsenceProof);
                }
                if absence_holds(
                    self.namespace,
                    *leaf_count,
                    left.as_ref(),
                    right.as_ref(),
                    &header.payload_root,
                ) {
                    Ok(())
                } else {
                    Err(ProofError::AbsenceProof)
                }
            }
        }
    }

    fn check_items(&self) -> Result<(), ProofError> {
        if self.items.is_empty() {
            return Err(ProofError::NoItems);
        }
        let ordered = self.items.windows(2).all(|pair| {
            (pair[0].position, pair[0].item_index) < (pair[1].position, pair[1].item_index)
        });
        if !ordered {
            return Err(ProofError::ItemOrder);
        }
        Ok(())
    }

    /// Every item of a multi-item bundle has evidence whose commitments hash to its bundle
    /// digest and list it; every sibling in this namespace is among the items, every other
    /// sibling is proved in its namespace.
    fn check_bundles(&self, header: &OutputHeader) -> Result<(), ProofError> {
        for item in &self.items {
            let data_hash = item_data_hash(&item.data);
            let alone = [(self.namespace, data_hash)];
            if item.item_index == 0 && bundle_digest(&alone) == item.bundle_digest {
                continue;
            }
            let position = item.position;
            let evidence = self
                .bundles
                .iter()
                .find(|evidence| evidence.position == position)
                .ok_or(ProofError::BundleEvidence { position })?;
            let listed = evidence.commitments.get(usize::from(item.item_index));
            if bundle_digest(&evidence.commitments) != item.bundle_digest
                || listed != Some(&(self.namespace, data_hash))
            {
                return Err(ProofError::BundleEvidence { position });
            }
            for (index, (namespace, sibling_hash)) in evidence.commitments.iter().enumerate() {
                let index =
                    u16::try_from(index).map_err(|_| ProofError::BundleEvidence { position })?;
                let proved = if *namespace == self.namespace {
                    self.items.iter().any(|other| {
                        other.position == position
                            && other.item_index == index
                            && item_data_hash(&other.data) == *sibling_hash
                    })
                } else {
                    evidence.siblings.iter().any(|sibling| {
                        sibling.item_index == index
                            && sibling_holds(sibling, item, *namespace, sibling_hash, header)
                    })
                };
                if !proved {
                    return Err(ProofError::SiblingProof { position });
                }
            }
        }
        Ok(())
    }
}

fn sibling_holds(
    sibling: &SiblingProof,
    item: &NamespaceItem,
    namespace: NamespaceId,
    data_hash: &Hash,
    header: &OutputHeader,
) -> bool {
    let leaf = item_leaf(
        &item.tx_id,
        item.position,
        sibling.item_index,
        &item.bundle_digest,
        data_hash,
    );
    let Some(items_root) = merkle::root_from_path(
        &leaf,
        u64::from(sibling.index_in_namespace),
        u64::from(sibling.namespace_item_count),
        &sibling.item_siblings,
    ) else {
        return false;
    };
    let namespace_leaf = leaf_from_root(
        namespace,
        u64::from(sibling.namespace_item_count),
        &items_root,
    );
    merkle::sized_root_from_path(
        &namespace_leaf,
        u64::from(sibling.namespace_leaf_index),
        u64::from(sibling.namespace_leaf_count),
        &sibling.namespace_siblings,
    ) == Some(header.payload_root)
}

fn absence_holds(
    namespace: NamespaceId,
    leaf_count: u32,
    left: Option<&NeighbourLeaf>,
    right: Option<&NeighbourLeaf>,
    payload_root: &Hash,
) -> bool {
    if leaf_count == 0 {
        return left.is_none() && right.is_none() && merkle::sized_root(&[]) == *payload_root;
    }
    let left_ok =
        left.is_none_or(|leaf| leaf.namespace < namespace && leaf.proves(leaf_count, payload_root));
    let right_ok = right
        .is_none_or(|leaf| leaf.namespace > namespace && leaf.proves(leaf_count, payload_root));
    let adjacent = match (left, right) {
        (Some(left), Some(right)) => left.leaf_index.checked_add(1) == Some(right.leaf_index),
        (None, Some(right)) => right.leaf_index == 0,
        (Some(left), None) => left.leaf_index.checked_add(1) == Some(leaf_count),
        (None, None) => false,
    };
    left_ok && right_ok && adjacent
}

impl BuiltOutput {
    /// What a rollup following `namespace` receives for this height, under `certificate`
    /// (which must certify this output's header).
    pub fn namespace_output(
        &self,
        namespace: NamespaceId,
        certificate: OutputCertificate,
    ) -> Option<NamespaceOutput> {
        let leaf_count = u32::try_from(self.namespace_leaves.len()).ok()?;
        let Some(index) = self.namespaces.keys().position(|id| *id == namespace) else {
            let below = self.namespaces.keys().filter(|id| **id < namespace).count();
            return Some(NamespaceOutput {
                certificate,
                namespace,
                items: Vec::new(),
                proof: NamespaceProof::Absence {
                    leaf_count,
                    left: below.checked_sub(1).and_then(|i| self.neighbour(i)),
                    right: self.neighbour(below),
                },
                bundles: Vec::new(),
            });
        };
        let items = self.namespaces.get(&namespace)?.clone();
        let mut bundles = Vec::new();
        for item in &items {
            if bundles
                .iter()
                .any(|b: &BundleEvidence| b.position == item.position)
            {
                continue;
            }
            if let Some(commitments) = self.bundles.get(&item.position) {
                bundles.push(self.bundle_evidence(namespace, item, commitments)?);
            }
        }
        Some(NamespaceOutput {
            certificate,
            namespace,
            items,
            proof: NamespaceProof::Inclusion {
                leaf_index: u32::try_from(index).ok()?,
                leaf_count,
                siblings: merkle::proof(&self.namespace_leaves, index)?,
            },
            bundles,
        })
    }

    fn neighbour(&self, index: usize) -> Option<NeighbourLeaf> {
        let (namespace, items) = self.namespaces.iter().nth(index)?;
        let leaves: Vec<Hash> = items.iter().map(NamespaceItem::leaf).collect();
        Some(NeighbourLeaf {
            leaf_index: u32::try_from(index).ok()?,
            namespace: *namespace,
            item_count: items.len() as u64,
            items_root: merkle::root(&leaves),
            siblings: merkle::proof(&self.namespace_leaves, index)?,
        })
    }

    fn bundle_evidence(
        &self,
        namespace: NamespaceId,
        item: &NamespaceItem,
        commitments: &[(NamespaceId, Hash)],
    ) -> Option<BundleEvidence> {
        let mut siblings = Vec::new();
        for (index, (other, _)) in commitments.iter().enumerate() {
            if *other == namespace {
                continue;
            }
            let item_index = u16::try_from(index).ok()?;
            let namespace_index = self.namespaces.keys().position(|id| id == other)?;
            let others = self.namespaces.get(other)?;
            let index_in_namespace = others
                .iter()
                .position(|o| o.position == item.position && o.item_index == item_index)?;
            let leaves: Vec<Hash> = others.iter().map(NamespaceItem::leaf).collect();
            siblings.push(SiblingProof {
                item_index,
                index_in_namespace: u32::try_from(index_in_namespace).ok()?,
                namespace_item_count: u32::try_from(others.len()).ok()?,
                item_siblings: merkle::proof(&leaves, index_in_namespace)?,
                namespace_leaf_index: u32::try_from(namespace_index).ok()?,
                namespace_leaf_count: u32::try_from(self.namespace_leaves.len()).ok()?,
                namespace_siblings: merkle::proof(&self.namespace_leaves, namespace_index)?,
            });
        }
        Some(BundleEvidence {
            position: item.position,
            commitments: commitments.to_vec(),
            siblings,
        })
    }
}
