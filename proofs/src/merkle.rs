//! Binary Merkle trees in the RFC 9162 shape (a tree over `n` leaves splits at the largest
//! power of two below `n`), with Shroud's domain tags: inner nodes are
//! `SHA-256(MERKLE_NODE || left || right)` and the empty tree's root is
//! `SHA-256(MERKLE_EMPTY)`. Leaves are hashed by the caller under their own tags, so a leaf
//! can never be confused with an inner node or a leaf of another tree.
//!
//! Inclusion proofs list sibling hashes from the leaf up; [`root_from_path`] is the
//! verification algorithm of RFC 9162 §2.1.3.2.

use sha2::{Digest as _, Sha256};
use shroud_crypto::domains;

/// A 32-byte hash.
pub type Hash = [u8; 32];

/// An inner node.
pub fn node(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(domains::MERKLE_NODE);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest(domains::MERKLE_EMPTY).into()
}

/// The largest power of two strictly below `n` (`n >= 2`).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The root over `leaves` (already hashed).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [leaf] => *leaf,
        _ => {
            let k = split(leaves.len());
            node(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// `SHA-256(MERKLE_SIZED_ROOT || count || root)`: the root with its leaf count bound in. The
/// RFC 9162 root alone does not fix the count (a path can fit trees of two sizes), so the
/// roots that headers carry are sized.
pub fn sized_root(leaves: &[Hash]) -> Hash {
    bind_count(leaves.len() as u64, &root(leaves))
}

fn bind_count(count: u64, root: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(domains::MERKLE_SIZED_ROOT);
    hasher.update(count.to_be_bytes());
    hasher.update(root);
    hasher.finalize().into()
}

/// The sized root that `leaf` at `index` of `count` leaves implies with `path`.
pub fn sized_root_from_path(leaf: &Hash, index: u64, count: u64, path: &[Hash]) -> Option<Hash> {
    root_from_path(leaf, index, count, path).map(|root| bind_count(count, &root))
}

/// The inclusion proof of leaf `index` (siblings from the leaf up), or `None` if out of range.
pub fn proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut path = Vec::new();
    collect_path(leaves, index, &mut path);
    Some(path)
}

fn collect_path(leaves: &[Hash], index: usize, path: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split(leaves.len());
    if index < k {
        collect_path(&leaves[..k], index, path);
        path.push(root(&leaves[k..]));
    } else {
        collect_path(&leaves[k..], index - k, path);
        path.push(root(&leaves[..k]));
    }
}

/// The root that `leaf` at `index` of a tree of `count` leaves implies with `path`, or `None`
/// if the path has the wrong length for that position (RFC 9162 §2.1.3.2).
pub fn root_from_path(leaf: &Hash, index: u64, count: u64, path: &[Hash]) -> Option<Hash> {
    if index >= count {
        return None;
    }
    let mut position = index;
    let mut last = count - 1;
    let mut current = *leaf;
    for sibling in path {
        if last == 0 {
            return None;
        }
        if position & 1 == 1 || position == last {
            current = node(sibling, &current);
            if position & 1 == 0 {
                while position & 1 == 0 && position != 0 {
                    position >>= 1;
                    last >>= 1;
                }
            }
        } else {
            current = node(&current, sibling);
        }
        position >>= 1;
        last >>= 1;
    }
    (last == 0).then_some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(count: usize) -> Vec<Hash> {
        (0..count)
            .map(|i| Sha256::digest((i as u64).to_be_bytes()).into())
            .collect()
    }

    #[test]
    fn every_leaf_of_every_small_tree_proves_its_inclusion() {
        for count in 1..=40 {
            let leaves = leaves(count);
            let expected = root(&leaves);
            for index in 0..count {
                let path = proof(&leaves, index).expect("in range");
                assert_eq!(
                    root_from_path(&leaves[index], index as u64, count as u64, &path),
                    Some(expected),
                    "leaf {index} of {count}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn a_changed_leaf_index_count_or_sibling_fails(
            count in 1usize..64,
            pick in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
        ) {
            let leaves = leaves(count);
            let index = pick.index(count);
            let expected = sized_root(&leaves);
            let path = proof(&leaves, index).expect("in range");
            let (i, n) = (index as u64, count as u64);
            prop_assert_eq!(sized_root_from_path(&leaves[index], i, n, &path), Some(expected));
            let mut other_leaf = leaves[index];
            other_leaf[0] ^= 1;
            prop_assert_ne!(sized_root_from_path(&other_leaf, i, n, &path), Some(expected));
            if count > 1 {
                let other_index = (i + 1) % n;
                prop_assert_ne!(sized_root_from_path(&leaves[index], other_index, n, &path), Some(expected));
                let mut bad_path = path.clone();
                let at = flip.index(bad_path.len());
                bad_path[at][31] ^= 0x80;
                prop_assert_ne!(sized_root_from_path(&leaves[index], i, n, &bad_path), Some(expected));
            }
            prop_assert_ne!(sized_root_from_path(&leaves[index], i, n + 1, &path), Some(expected));
            prop_assert_ne!(sized_root_from_path(&leaves[index], i, n - 1, &path), Some(expected));
            prop_assert_eq!(root_from_path(&leaves[index], n, n, &path), None);
        }
    }

    #[test]
    fn the_empty_tree_has_its_own_root() {
        assert_eq!(root(&[]), empty_root());
        let leaf = leaves(1)[0];
        assert_eq!(root(&[leaf]), leaf);
        assert_ne!(root(&[leaf, leaf]), leaf);
        assert!(proof(&[], 0).is_none());
    }
}
