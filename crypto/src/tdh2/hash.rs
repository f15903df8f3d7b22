//! Hashing and point encodings shared by the TDH2 ciphertext and decryption shares.

use std::sync::OnceLock;

use ark_bls12_381::{g1, Fr, G1Affine, G1Projective};
use ark_ec::hashing::curve_maps::wb::WBMap;
use ark_ec::hashing::map_to_curve_hasher::MapToCurveBasedHasher;
use ark_ec::hashing::HashToCurve;
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::field_hashers::DefaultFieldHasher;
use ark_ff::{BigInteger, PrimeField, Zero};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use group::prime::PrimeCurveAffine;
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

/// Multiples of one fixed point for multiplications by public scalars: `d·16^i·base` for every
/// 4-bit digit `d` and each of the 64 windows of a scalar, so a multiplication is at most 64
/// mixed additions (about a fifth of a variable-base multiplication). Verification only: the
/// time depends on the scalar's digits.
pub(crate) struct FixedBase {
    windows: Vec<[G1Affine; 15]>,
}

impl FixedBase {
    fn new(base: G1Affine) -> Self {
        let mut windows = Vec::with_capacity(64);
        let mut window_base = G1Projective::from(base);
        for _ in 0..64 {
            let mut multiples = Vec::with_capacity(15);
            let mut multiple = window_base;
            for _ in 0..15 {
                multiples.push(multiple);
                multiple += window_base;
            }
            let affine: [G1Affine; 15] = G1Projective::normalize_batch(&multiples)
                .try_into()
                .expect("fifteen multiples");
            windows.push(affine);
            window_base = multiple;
        }
        Self { windows }
    }

    /// `scalar · base`.
    pub(crate) fn mul(&self, scalar: &Fr) -> G1Projective {
        let limbs = scalar.into_bigint().0;
        let mut sum = G1Projective::zero();
        for (i, window) in self.windows.iter().enumerate() {
            let digit = (limbs[i / 16] >> (4 * (i % 16))) & 0xf;
            if digit != 0 {
                sum += &window[digit as usize - 1];
            }
        }
        sum
    }
}

/// The table of the standard generator `g`.
pub(crate) fn generator_table() -> &'static FixedBase {
    static TABLE: OnceLock<FixedBase> = OnceLock::new();
    TABLE.get_or_init(|| FixedBase::new(G1Affine::generator()))
}

/// The table of the second generator `ḡ`.
pub(crate) fn second_generator_table() -> &'static FixedBase {
    static TABLE: OnceLock<FixedBase> = OnceLock::new();
    TABLE.get_or_init(|| FixedBase::new(second_generator()))
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
        Fr::from_be_bytes_mod_order(&self.digest())
    }

    /// The transcript's 64-byte digest, unreduced.
    pub fn digest(self) -> [u8; 64] {
        self.0.finalize().into()
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
/// which no honest party ever sends in these positions, and any encoding but the canonical one.
///
/// blst does the work (square root and subgroup check, about 12% faster than arkworks'
/// here), and the point is carried to arkworks in its uncompressed encoding, the same layout
/// in both. Re-encoding the result and comparing it with the input makes the accepted set
/// exactly the canonical encodings of points of the subgroup, whatever either library
/// tolerates in the flag bits or the range of `x`.
pub fn decode_point(bytes: &[u8], field: &'static str) -> Result<G1Affine, ThresholdError> {
    let bad = || ThresholdError::BadPoint { field };
    let compressed: &[u8; POINT_BYTES] = bytes.try_into().map_err(|_| bad())?;
    let point: Option<blstrs::G1Affine> = blstrs::G1Affine::from_compressed(compressed).into();
    let point = point.ok_or_else(bad)?;
    if bool::from(point.is_identity()) {
        return Err(bad());
    }
    let point = G1Affine::deserialize_uncompressed_unchecked(point.to_uncompressed().as_ref())
        .map_err(|_| bad())?;
    if point.is_zero() || encode_point(&point) != *compressed {
        return Err(bad());
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

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ec::{AffineRepr, CurveGroup};
    use ark_ff::{Field, UniformRand};
    use ark_serialize::Validate;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// What arkworks' own checked decoder says of the bytes (the identity refused too).
    fn arkworks_decode(bytes: &[u8]) -> Option<G1Affine> {
        G1Affine::deserialize_with_mode(bytes, ark_serialize::Compress::Yes, Validate::Yes)
            .ok()
            .filter(|point| !point.is_zero())
    }

    /// A point on the curve `y² = x³ + 4` outside the prime-order subgroup.
    fn off_subgroup(rng: &mut ChaCha20Rng) -> G1Affine {
        loop {
            let x = ark_bls12_381::Fq::rand(rng);
            let Some(y) = (x.square() * x + ark_bls12_381::Fq::from(4u64)).sqrt() else {
                continue;
            };
            let point = G1Affine::new_unchecked(x, y);
            if !point.is_in_correct_subgroup_assuming_on_curve() {
                return point;
            }
        }
    }

    #[test]
    fn fixed_base_tables_multiply_as_arkworks_does() {
        let mut rng = ChaCha20Rng::seed_from_u64(16);
        let mut scalars = vec![Fr::zero(), Fr::from(1u64), -Fr::from(1u64), Fr::from(16u64)];
        scalars.extend((0..16).map(|_| Fr::rand(&mut rng)));
        for scalar in &scalars {
            assert_eq!(
                generator_table().mul(scalar),
                G1Affine::generator() * scalar
            );
            assert_eq!(
                second_generator_table().mul(scalar),
                second_generator() * scalar
            );
        }
    }

    /// The blst decoder accepts exactly what arkworks' checked decoder accepts, and gives the
    /// same point: random points, every single-bit change of their encodings, the identity,
    /// `x` past the modulus, points off the subgroup, garbage.
    #[test]
    fn decodes_exactly_what_arkworks_accepts() {
        let mut rng = ChaCha20Rng::seed_from_u64(48);
        let mut inputs: Vec<[u8; POINT_BYTES]> = Vec::new();
        for _ in 0..8 {
            let point = G1Projective::rand(&mut rng).into_affine();
            let bytes = encode_point(&point);
            inputs.push(bytes);
            for bit in 0..POINT_BYTES * 8 {
                let mut flipped = bytes;
                flipped[bit / 8] ^= 1 << (bit % 8);
                inputs.push(flipped);
            }
        }
        inputs.push(encode_point(&G1Affine::identity()));
        let mut off = [0u8; POINT_BYTES];
        off_subgroup(&mut rng)
            .serialize_compressed(&mut off[..])
            .expect("48 bytes");
        inputs.push(off);
        // x + p fits in the 381 bits for an x below 2^381 - p: the same point, encoded with
        // x out of range.
        let modulus = <ark_bls12_381::Fq as PrimeField>::MODULUS.to_bytes_be();
        let small_x = loop {
            let bytes = encode_point(&G1Projective::rand(&mut rng).into_affine());
            if bytes[0] & 0x1f < 0x05 {
                break bytes;
            }
        };
        let mut sum = [0u8; POINT_BYTES];
        let mut carry = 0u16;
        for i in (0..POINT_BYTES).rev() {
            let x = if i == 0 {
                small_x[0] & 0x1f
            } else {
                small_x[i]
            };
            let total = u16::from(x) + u16::from(modulus[i]) + carry;
            sum[i] = total as u8;
            carry = total >> 8;
        }
        assert!(carry == 0 && sum[0] & 0xe0 == 0, "x + p fits in 381 bits");
        sum[0] |= small_x[0] & 0xe0;
        assert!(decode_point(&small_x, "test").is_ok());
        inputs.push(sum);
        inputs.push([0xff; POINT_BYTES]);
        inputs.push([0u8; POINT_BYTES]);
        let mut accepted = 0;
        for bytes in &inputs {
            let ours = decode_point(bytes, "test").ok();
            assert_eq!(ours, arkworks_decode(bytes), "input {}", hex::encode(bytes));
            accepted += usize::from(ours.is_some());
        }
        assert!(accepted >= 8, "the valid encodings decode");
        assert!(decode_point(&small_x[..47], "test").is_err());
    }
}
