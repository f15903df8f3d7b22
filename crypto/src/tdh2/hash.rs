//! Hashing and point encodings shared by the TDH2 ciphertext and decryption shares.

use std::sync::OnceLock;

use ark_bls12_381::{g1, Fr, G1Affine, G1Projective};
use ark_ec::hashing::curve_maps::wb::WBMap;
use ark_ec::hashing::map_to_curve_hasher::MapToCurveBasedHasher;
use ark_ec::hashing::HashToCurve;
use ark_ec::AffineRepr;
use ark_ff::field_hashers::DefaultFieldHasher;
use ark_ff::{BigInteger, PrimeField};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use sha2::{Digest, Sha256, Sha512};

use crate::domains::{TDH2_SECOND_GENERATOR, TDH2_SECOND_GENERATOR_MESSAGE};
use crate::error::ThresholdError;

/// Length of a compressed G1 point.
pub const POINT_BYTES: usize = 48;
/// Length of an encoded scalar.
pub const SCALAR_BYTES: usize = 32;

type G1Hasher =
    MapToCurveBasedHasher<G1Projective, DefaultFieldHasher<Sha256, 128>, WBMap<g1::Config>>;

/// RFC 9380 `hash_to_curve` for the suite `BLS12381G1_XMD:SHA-256_SSWU_RO_` under `dst`.
pub fn hash_to_g1(dst: &[u8], message: &[u8]) -> G1Affine {
    let hasher = G1Hasher::new(dst).expect("the WB map parameters of BLS12-381 G1 are valid");
    hasher
        .hash(message)
        .expect("hashing to BLS12-381 G1 with SHA-256 cannot fail for any message")
}

/// The second generator `ḡ` of G1, hashed from a fixed tag so nobody knows its discrete
/// logarithm with respect to the standard generator.
pub fn second_generator() -> G1Affine {
    static GENERATOR: OnceLock<G1Affine> = OnceLock::new();
    *GENERATOR.get_or_init(|| hash_to_g1(TDH2_SECOND_GENERATOR, TDH2_SECOND_GENERATOR_MESSAGE))
}

/// A transcript hashed to a scalar: SHA-512 over a length-prefixed tag and the parts, reduced
/// modulo the group order (the 512-bit digest makes the bias negligible).
pub struct ScalarHasher(Sha512);

impl ScalarHasher {
    /// A transcript under `tag`.
    pub fn new(tag: &[u8]) -> Self {
        let mut hasher = Sha512::new();
        let tag_len = u8::try_from(tag.len()).expect("domain tags are shorter than 256 bytes");
        hasher.update([tag_len]);
        hasher.update(tag);
        Self(hasher)
    }

    /// Appends fixed-length bytes.
    pub fn bytes(mut self, bytes: &[u8]) -> Self {
        self.0.update(bytes);
        self
    }

    /// Appends a point's compressed encoding.
    pub fn point(self, point: &G1Affine) -> Self {
        self.bytes(&encode_point(point))
    }

    /// The scalar.
    pub fn finish(self) -> Fr {
        Fr::from_be_bytes_mod_order(&self.0.finalize())
    }
}

/// The compressed (48-byte, zcash layout) encoding of a G1 point.
pub fn encode_point(point: &G1Affine) -> [u8; POINT_BYTES] {
    let mut out = [0u8; POINT_BYTES];
    point
        .serialize_compressed(&mut out[..])
        .expect("a compressed G1 point is 48 bytes");
    out
}

/// Decodes a compressed G1 point with on-curve and subgroup checks; refuses the identity,
/// which no honest party ever sends in these positions.
pub fn decode_point(bytes: &[u8], field: &'static str) -> Result<G1Affine, ThresholdError> {
    let point =
        G1Affine::deserialize_compressed(bytes).map_err(|_| ThresholdError::BadPoint { field })?;
    if point.is_zero() {
        return Err(ThresholdError::BadPoint { field });
    }
    Ok(point)
}

/// The 32-byte big-endian encoding of a scalar.
pub fn encode_scalar(scalar: &Fr) -> [u8; SCALAR_BYTES] {
    let bytes = scalar.into_bigint().to_bytes_be();
    let mut out = [0u8; SCALAR_BYTES];
    out.copy_from_slice(&bytes);
    out
}

/// Decodes a 32-byte big-endian scalar; refuses values not below the group order.
pub fn decode_scalar(bytes: &[u8], field: &'static str) -> Result<Fr, ThresholdError> {
    if bytes.len() != SCALAR_BYTES {
        return Err(ThresholdError::BadScalar { field });
    }
    let mut little_endian = [0u8; SCALAR_BYTES];
    little_endian.copy_from_slice(bytes);
    little_endian.reverse();
    let scalar = Fr::deserialize_compressed(&little_endian[..])
        .map_err(|_| ThresholdError::BadScalar { field })?;
    Ok(scalar)
}

/// A random 128-bit, non-zero weight for a random linear combination: a batch with one bad
/// member passes with probability about 2^-128.
pub fn batch_weight<R: rand_core::RngCore + rand_core::CryptoRng>(rng: &mut R) -> Fr {
    loop {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        let weight = u128::from_le_bytes(bytes);
        if weight != 0 {
            return Fr::from(weight);
        }
    }
}
