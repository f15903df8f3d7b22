//! Multiplication of points by secret scalars, in constant time (blst, through `blstrs`).
//!
//! Key shares, proof nonces and encryption randomness must never decide how long a
//! multiplication takes: a share's response `z = k + c·x_i` is public, so leaked bits of many
//! nonces `k` are the setting in which a key share is recovered (hidden-number attacks).
//! arkworks multiplies with a GLV loop that skips work on zero digits and returns early on the
//! identity, which leaks the scalar's bit pattern through timing; arkworks therefore keeps the
//! public side (multi-scalar multiplications over public scalars in batch verification, field
//! and polynomial arithmetic), and every multiplication by a secret scalar goes through this
//! module. blst's multiplication (`blst_p1_mult` and `blst_p2_mult` for 255-bit scalars: GLV
//! with fixed windows and constant-time table lookups) is the one blst signs with, and takes
//! a third less time here than arkworks' (73.5 against 112.6 µs, BENCHMARKS.md, 2026-12-07).
//!
//! The points cross between the libraries in their uncompressed encodings, which are the same
//! (the ZCash layout, big-endian coordinates with flag bits); the points are this crate's own
//! (generators, checked ciphertexts, keys), so blst takes them without a subgroup check.
//! Scalars cross as 32 little-endian bytes, wiped after use. Tests check every function
//! against arkworks' own multiplication, byte for byte.

use ark_bls12_381::{Fr, G1Affine, G2Affine};
use ark_ff::{BigInteger, PrimeField};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use zeroize::Zeroizing;

const G1_UNCOMPRESSED: usize = 96;
const G2_UNCOMPRESSED: usize = 192;

/// The scalar as blst takes it: canonical little-endian bytes (wiped on drop).
fn scalar(secret: &Fr) -> blstrs::Scalar {
    let mut bytes = Zeroizing::new([0u8; 32]);
    bytes.copy_from_slice(&secret.into_bigint().to_bytes_le());
    Option::from(blstrs::Scalar::from_bytes_le(&bytes))
        .expect("an arkworks scalar is canonical, below the group order")
}

/// `secret · point` in G1, in constant time.
pub fn g1(point: &G1Affine, secret: &Fr) -> G1Affine {
    let mut bytes = [0u8; G1_UNCOMPRESSED];
    point
        .serialize_uncompressed(&mut bytes[..])
        .expect("a G1 point is 96 bytes uncompressed");
    let point: blstrs::G1Affine =
        Option::from(blstrs::G1Affine::from_uncompressed_unchecked(&bytes))
            .expect("arkworks and blst share the uncompressed G1 layout");
    let product = blstrs::G1Projective::from(point) * scalar(secret);
    let out = blstrs::G1Affine::from(product).to_uncompressed();
    G1Affine::deserialize_uncompressed_unchecked(&out[..])
        .expect("arkworks and blst share the uncompressed G1 layout")
}

/// `secret · point` in G2, in constant time.
pub fn g2(point: &G2Affine, secret: &Fr) -> G2Affine {
    let mut bytes = [0u8; G2_UNCOMPRESSED];
    point
        .serialize_uncompressed(&mut bytes[..])
        .expect("a G2 point is 192 bytes uncompressed");
    let point: blstrs::G2Affine =
        Option::from(blstrs::G2Affine::from_uncompressed_unchecked(&bytes))
            .expect("arkworks and blst share the uncompressed G2 layout");
    let product = blstrs::G2Projective::from(point) * scalar(secret);
    let out = blstrs::G2Affine::from(product).to_uncompressed();
    G2Affine::deserialize_uncompressed_unchecked(&out[..])
        .expect("arkworks and blst share the uncompressed G2 layout")
}

/// `secret · g` for G1's generator, in constant time.
pub fn g1_generator(secret: &Fr) -> G1Affine {
    g1(&ark_ec::AffineRepr::generator(), secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bls12_381::{G1Projective, G2Projective};
    use ark_ec::{AffineRepr, CurveGroup};
    use ark_ff::{One, Zero};
    use ark_std::UniformRand;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// Scalars at the edges (zero, one, the largest) and random ones, on random points, the
    /// generators and the identity.
    #[test]
    fn blst_multiplies_as_arkworks_does_byte_for_byte() {
        let mut rng = ChaCha20Rng::seed_from_u64(2026);
        let mut scalars = vec![Fr::zero(), Fr::one(), -Fr::one(), Fr::from(2u64)];
        scalars.extend((0..24).map(|_| Fr::rand(&mut rng)));
        let mut g1_points = vec![G1Affine::generator(), G1Affine::identity()];
        g1_points.extend((0..4).map(|_| G1Projective::rand(&mut rng).into_affine()));
        let mut g2_points = vec![G2Affine::generator(), G2Affine::identity()];
        g2_points.extend((0..2).map(|_| G2Projective::rand(&mut rng).into_affine()));
        for secret in &scalars {
            for point in &g1_points {
                assert_eq!(g1(point, secret), (*point * secret).into_affine());
            }
            for point in &g2_points {
                assert_eq!(g2(point, secret), (*point * secret).into_affine());
            }
            assert_eq!(
                g1_generator(secret),
                (G1Affine::generator() * secret).into_affine()
            );
        }
    }
}
