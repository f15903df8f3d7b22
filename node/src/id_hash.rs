//! A keyed hasher for maps keyed by digests: transaction ids, batch digests and their
//! prefixes.
//!
//! std's default (SipHash-1-3) costs tens of nanoseconds per 32-byte key, and the validator
//! hashes every transaction's id into several maps (the committed index, the ingress stage's
//! known and held sets, the order rule's fresh set): it showed in the profile at 30,000 tx/s
//! (ADR 0009). These keys are SHA-256 outputs, so a client can steer them only by grinding
//! hashes; the state starts from a per-process random key and is finished with a full 64-bit
//! mix of it, so nobody who does not know the key can aim ids at one bucket, and a full
//! 64-bit state collision costs about 2^64 hashes per id, like any other.

use std::hash::{BuildHasher, Hasher};

/// Builds [`IdHasher`]s with one random key per builder.
#[derive(Clone, Debug)]
pub struct IdHasherBuilder {
    key: u64,
}

impl Default for IdHasherBuilder {
    fn default() -> Self {
        // `RandomState` is seeded from the OS once per thread and then varied per instance.
        let key = std::collections::hash_map::RandomState::new().hash_one(0x5348_524f_5544u64);
        Self { key }
    }
}

impl BuildHasher for IdHasherBuilder {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher {
            state: self.key,
            key: self.key,
        }
    }
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct IdHasher {
    state: u64,
    key: u64,
}

const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            self.state = (self.state ^ word).wrapping_mul(MULTIPLIER).rotate_left(29);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            let word = u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59);
            self.state = (self.state ^ word).wrapping_mul(MULTIPLIER).rotate_left(29);
        }
    }

    fn finish(&self) -> u64 {
        // MurmurHash3's 64-bit finaliser over the state and the key.
        let mut x = self.state ^ self.key.rotate_left(17);
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
}

/// A map keyed by digests.
pub type IdMap<K, V> = std::collections::HashMap<K, V, IdHasherBuilder>;
/// A set of digests.
pub type IdSet<K> = std::collections::HashSet<K, IdHasherBuilder>;

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(builder: &IdHasherBuilder, bytes: &[u8]) -> u64 {
        builder.hash_one(bytes)
    }

    #[test]
    fn every_byte_and_the_key_change_the_hash() {
        let builder = IdHasherBuilder::default();
        let id = [7u8; 32];
        let base = hash(&builder, &id);
        for at in 0..id.len() {
            let mut other = id;
            other[at] ^= 1;
            assert_ne!(hash(&builder, &other), base, "byte {at}");
        }
        assert_ne!(hash(&builder, &id[..31]), base, "length counts");
        let other_key = IdHasherBuilder {
            key: builder.key ^ 1,
        };
        assert_ne!(hash(&other_key, &id), base);
        assert_eq!(hash(&builder, &id), base, "deterministic per builder");
    }

    #[test]
    fn sequential_ids_spread_over_the_low_bits() {
        let builder = IdHasherBuilder::default();
        let mut buckets = [0u32; 256];
        for n in 0u64..25_600 {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&n.to_be_bytes());
            buckets[(hash(&builder, &id) & 0xff) as usize] += 1;
        }
        // 100 expected per bucket; a hash that ignored the varying bytes would put all in one.
        assert!(
            buckets.iter().all(|count| (40..=180).contains(count)),
            "{buckets:?}"
        );
    }
}
