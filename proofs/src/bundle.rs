//! Bundles: the plaintext of every Shroud ciphertext.
//!
//! A bundle is one or more `(namespace, transaction bytes)` items. A one-item bundle is an
//! ordinary transaction; a multi-item bundle spans rollups and is included atomically: all its
//! items go into their namespaces at the same height, or (if it does not decode) none does.
//!
//! Encoding (version 1, big-endian, canonical: one encoding per bundle, trailing bytes refused):
//! `version (1) || item count (u16) || (namespace (u64) || length (u32) || bytes)*`.

use rkyv::{Archive, Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use shroud_crypto::domains;
use thiserror::Error;

/// The bundle encoding's version byte.
pub const BUNDLE_VERSION: u8 = 1;

/// A rollup's namespace.
#[derive(
    Archive,
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[rkyv(derive(Debug))]
pub struct NamespaceId(pub u64);

impl std::fmt::Display for NamespaceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One item of a bundle.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct Item {
    /// The rollup it goes to.
    pub namespace: NamespaceId,
    /// The rollup transaction (opaque to Shroud).
    pub data: Vec<u8>,
}

/// A decrypted bundle.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct Bundle {
    /// Items in the sender's order.
    pub items: Vec<Item>,
}

/// Bounds on what a bundle may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BundleLimits {
    /// Most items in one bundle.
    pub items_max: usize,
}

impl Default for BundleLimits {
    fn default() -> Self {
        Self { items_max: 16 }
    }
}

/// Why bytes are not a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BundleError {
    /// Shorter than its fields say.
    #[error("bundle truncated")]
    Truncated,
    /// An unknown version byte.
    #[error("bundle version {0} is not supported")]
    UnknownVersion(u8),
    /// No items.
    #[error("bundle has no items")]
    Empty,
    /// More items than the limit.
    #[error("bundle has {got} items, at most {max}")]
    TooManyItems { max: usize, got: usize },
    /// Bytes after the last item.
    #[error("bundle has {0} trailing bytes")]
    TrailingBytes(usize),
}

fn take<'a>(bytes: &mut &'a [u8], count: usize) -> Result<&'a [u8], BundleError> {
    if bytes.len() < count {
        return Err(BundleError::Truncated);
    }
    let (head, tail) = bytes.split_at(count);
    *bytes = tail;
    Ok(head)
}

fn array<const N: usize>(bytes: &mut &[u8]) -> Result<[u8; N], BundleError> {
    let mut out = [0u8; N];
    out.copy_from_slice(take(bytes, N)?);
    Ok(out)
}

impl Bundle {
    /// A one-item bundle: an ordinary transaction.
    pub fn single(namespace: NamespaceId, data: Vec<u8>) -> Self {
        Self {
            items: vec![Item { namespace, data }],
        }
    }

    /// The canonical encoding (what is encrypted).
    ///
    /// # Panics
    /// If the bundle has more than `u16::MAX` items or an item over 4 GiB, which no bundle
    /// within [`BundleLimits`] has.
    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self.items.iter().map(|item| 12 + item.data.len()).sum();
        let mut out = Vec::with_capacity(3 + size);
        out.push(BUNDLE_VERSION);
        let count = u16::try_from(self.items.len()).expect("a bundle has at most 65535 items");
        out.extend_from_slice(&count.to_be_bytes());
        for item in &self.items {
            out.extend_from_slice(&item.namespace.0.to_be_bytes());
            let length = u32::try_from(item.data.len()).expect("an item is under 4 GiB");
            out.extend_from_slice(&length.to_be_bytes());
            out.extend_from_slice(&item.data);
        }
        out
    }

    /// Decodes a bundle (the decrypted plaintext: bytes from a stranger).
    pub fn decode(mut bytes: &[u8], limits: &BundleLimits) -> Result<Self, BundleError> {
        let [version] = array::<1>(&mut bytes)?;
        if version != BUNDLE_VERSION {
            return Err(BundleError::UnknownVersion(version));
        }
        let count = usize::from(u16::from_be_bytes(array(&mut bytes)?));
        if count == 0 {
            return Err(BundleError::Empty);
        }
        if count > limits.items_max {
            return Err(BundleError::TooManyItems {
                max: limits.items_max,
                got: count,
            });
        }
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            let namespace = NamespaceId(u64::from_be_bytes(array(&mut bytes)?));
            let length = u32::from_be_bytes(array(&mut bytes)?);
            let length = usize::try_from(length).map_err(|_| BundleError::Truncated)?;
            let data = take(&mut bytes, length)?.to_vec();
            items.push(Item { namespace, data });
        }
        if !bytes.is_empty() {
            return Err(BundleError::TrailingBytes(bytes.len()));
        }
        Ok(Self { items })
    }

    /// Each item's namespace and data hash, in order: what the bundle digest commits to.
    pub fn commitments(&self) -> Vec<(NamespaceId, [u8; 32])> {
        self.items
            .iter()
            .map(|item| (item.namespace, item_data_hash(&item.data)))
            .collect()
    }

    /// The bundle digest ([`bundle_digest`] of [`Self::commitments`]): binds the items of one
    /// bundle together in every namespace it touches.
    pub fn digest(&self) -> [u8; 32] {
        bundle_digest(&self.commitments())
    }
}

/// `SHA-256(ITEM_DATA || bytes)`.
pub fn item_data_hash(data: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(domains::ITEM_DATA);
    hasher.update(data);
    hasher.finalize().into()
}

/// `SHA-256(BUNDLE_DIGEST || count || (namespace || data hash)*)`: computable from the
/// commitments alone, so a rollup holding one item can check the list of its siblings.
pub fn bundle_digest(commitments: &[(NamespaceId, [u8; 32])]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(domains::BUNDLE_DIGEST);
    hasher.update((commitments.len() as u64).to_be_bytes());
    for (namespace, data_hash) in commitments {
        hasher.update(namespace.0.to_be_bytes());
        hasher.update(data_hash);
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bundle() -> impl Strategy<Value = Bundle> {
        prop::collection::vec(
            (any::<u64>(), prop::collection::vec(any::<u8>(), 0..40)),
            1..16,
        )
        .prop_map(|items| Bundle {
            items: items
                .into_iter()
                .map(|(namespace, data)| Item {
                    namespace: NamespaceId(namespace),
                    data,
                })
                .collect(),
        })
    }

    proptest! {
        #[test]
        fn encoding_round_trips_and_is_canonical(bundle in bundle()) {
            let bytes = bundle.encode();
            let decoded = Bundle::decode(&bytes, &BundleLimits::default()).expect("decodes");
            prop_assert_eq!(&decoded, &bundle);
            prop_assert_eq!(decoded.encode(), bytes);
        }

        #[test]
        fn every_truncation_and_extension_is_refused(bundle in bundle(), extra in 1u8..255) {
            let bytes = bundle.encode();
            for cut in 0..bytes.len() {
                prop_assert!(Bundle::decode(&bytes[..cut], &BundleLimits::default()).is_err());
            }
            let mut longer = bytes.clone();
            longer.push(extra);
            prop_assert_eq!(
                Bundle::decode(&longer, &BundleLimits::default()),
                Err(BundleError::TrailingBytes(1))
            );
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = Bundle::decode(&bytes, &BundleLimits::default());
        }
    }

    #[test]
    fn empty_unknown_version_and_too_many_items_are_refused() {
        let limits = BundleLimits { items_max: 2 };
        assert_eq!(Bundle::decode(&[1, 0, 0], &limits), Err(BundleError::Empty));
        assert_eq!(
            Bundle::decode(&[2, 0, 1], &limits),
            Err(BundleError::UnknownVersion(2))
        );
        let three = Bundle {
            items: (0..3)
                .map(|n| Item {
                    namespace: NamespaceId(n),
                    data: vec![],
                })
                .collect(),
        };
        assert_eq!(
            Bundle::decode(&three.encode(), &limits),
            Err(BundleError::TooManyItems { max: 2, got: 3 })
        );
    }
}
