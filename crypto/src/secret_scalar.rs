//! Multiplication of points by secret scalars, in constant time (blst, through `blstrs`).
//!
//! Key shares, proof nonces and encryption randomness must never decide how long a
//! multiplication takes: a share's response `z = k + c·x_i` is public, so leaked bits of many
//! nonces `k` are the setting in which a key share is recovered (hidden-number attacks).
//! arkworks multiplies with a GLV loop that skips work on zero digits and returns early on the
//! identity, which leaks the scalar's bit pattern through timing; arkworks therefore keeps the
//! public side (multi-scalar multiplications over public scalars in batch verification, field
//! and polynomial arithmetic), and secret scalars are a type of their own, [`Secret`], whose
//! only multiplications are this module's: one written with arkworks does not compile. blst's
//! multiplication (`blst_p1_mult` and `blst_p2_mult` for 255-bit scalars: GLV with fixed
//! windows and constant-time table lookups) is the one blst signs with, and takes a third less
//! time here than arkworks' (73.5 against 112.6 µs, BENCHMARKS.md, 2026-12-07).
//!
//! The points cross between the libraries in their uncompressed encodings, which are the same
//! (the ZCash layout, big-endian coordinates with flag bits); the points are this crate's own
//! (generators, checked ciphertexts, keys), so blst takes them without a subgroup check.
//! Scalars cross as 32 little-endian bytes, wiped after use. Tests check every function
//! against arkworks' own multiplication, byte for byte.

use ark_bls12_381::{Fr, G1Affine, G2Affine};
use ark_ff::{BigInteger, PrimeField};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use ark_std::UniformRand;
use group::prime::PrimeCurveAffine;
use group::{Curve as _, UncompressedEncoding};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

/// A secret scalar: a key share, a proof nonce, encryption randomness. It is wiped on drop and
/// never printed, and it is used only through this type's methods: multiplying a point in
/// constant time, and a Schnorr response (public once made). It has no arithmetic operator
/// with arkworks' points or scalars, so a variable-time multiplication by it does not compile;
/// `Secret::expose` (for the key file's encoding and the dealer's polynomial) is allowed only
/// where a test lists it.
pub struct Secret(Zeroizing<Fr>);

impl Secret {
    /// Takes `value` as a secret.
    pub fn new(value: Fr) -> Self {
        Self(Zeroizing::new(value))
    }

    /// A uniformly random secret.
    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self::new(Fr::rand(rng))
    }

    /// `self · point` in G1, in constant time.
    pub fn g1(&self, point: &G1Affine) -> G1Affine {
        multiply::<_, blstrs::G1Affine>(point, &self.0)
    }

    /// `self · g` for G1's generator, in constant time.
    pub fn g1_generator(&self) -> G1Affine {
        self.g1(&ark_ec::AffineRepr::generator())
    }

    /// `self · point` in G2, in constant time.
    pub fn g2(&self, point: &G2Affine) -> G2Affine {
        multiply::<_, blstrs::G2Affine>(point, &self.0)
    }

    /// `self + challenge · other`: a Schnorr or Chaum-Pedersen response, public once made (the
    /// product is wiped). Field arithmetic has no secret-dependent branches.
    pub fn respond(&self, challenge: &Fr, other: &Secret) -> Fr {
        let product = Zeroizing::new(*challenge * *other.0);
        *self.0 + *product
    }

    /// The scalar itself, for encodings and the dealer's polynomial only (a test lists where
    /// this is called).
    pub(crate) fn expose(&self) -> &Fr {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret(<redacted>)")
    }
}

/// An arkworks G1 point as blst's, through the uncompressed encoding both share. The point
/// must be one of this crate's checked points (no check is repeated).
pub(crate) fn g1_to_blst(point: &G1Affine) -> blstrs::G1Affine {
    to_blst(point)
}

/// An arkworks G2 point as blst's (see [`g1_to_blst`]).
pub(crate) fn g2_to_blst(point: &G2Affine) -> blstrs::G2Affine {
    to_blst(point)
}

fn to_blst<Ark, Blst>(point: &Ark) -> Blst
where
    Ark: CanonicalSerialize,
    Blst: UncompressedEncoding,
{
    let mut bytes = Blst::Uncompressed::default();
    point
        .serialize_uncompressed(bytes.as_mut())
        .expect("the encoding's length is the point's");
    Option::from(Blst::from_uncompressed_unchecked(&bytes))
        .expect("arkworks and blst share the uncompressed layout")
}

/// The scalar as blst takes it: canonical little-endian bytes (wiped on drop).
fn scalar(secret: &Fr) -> blstrs::Scalar {
    let mut bytes = Zeroizing::new([0u8; 32]);
    bytes.copy_from_slice(&secret.into_bigint().to_bytes_le());
    Option::from(blstrs::Scalar::from_bytes_le(&bytes))
        .expect("an arkworks scalar is canonical, below the group order")
}

/// `secret · point`: the point carried to blst in its uncompressed encoding (the same layout in
/// both libraries), multiplied there in constant time, and carried back.
fn multiply<Ark, Blst>(point: &Ark, secret: &Fr) -> Ark
where
    Ark: CanonicalSerialize + CanonicalDeserialize,
    Blst: PrimeCurveAffine<Scalar = blstrs::Scalar> + UncompressedEncoding,
{
    let point: Blst = to_blst(point);
    let product = (point.to_curve() * scalar(secret)).to_affine();
    Ark::deserialize_uncompressed_unchecked(product.to_uncompressed().as_ref())
        .expect("arkworks and blst share the uncompressed layout")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bls12_381::{G1Projective, G2Projective};
    use ark_ec::{AffineRepr, CurveGroup};
    use ark_ff::{One, Zero};
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
        for value in &scalars {
            let secret = Secret::new(*value);
            for point in &g1_points {
                assert_eq!(secret.g1(point), (*point * value).into_affine());
            }
            for point in &g2_points {
                assert_eq!(secret.g2(point), (*point * value).into_affine());
            }
            assert_eq!(
                secret.g1_generator(),
                (G1Affine::generator() * value).into_affine()
            );
            let (nonce, challenge) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
            assert_eq!(
                Secret::new(nonce).respond(&challenge, &secret),
                nonce + challenge * value
            );
        }
    }

    /// The lint: a secret's scalar leaves its type only where this list says (the key file's
    /// encoding, the DKG key file's, and the dealer's polynomial), so no other code can hand it to arkworks.
    #[test]
    fn a_secret_is_exposed_only_where_listed() {
        let allowed: &[(&str, usize)] = &[("dkg/message.rs", 1), ("tdh2/keys.rs", 2)];
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        let mut folders = vec![root.clone()];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).expect("source folder") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.extension().is_some_and(|ext| ext == "rs") {
                    let text = std::fs::read_to_string(&path).expect("source file");
                    let calls = text.matches(".expose()").count();
                    let name = path
                        .strip_prefix(&root)
                        .expect("below src")
                        .to_string_lossy()
                        .replace('\\', "/");
                    if calls > 0 && name != "secret_scalar.rs" {
                        found.push((name, calls));
                    }
                }
            }
        }
        found.sort();
        let allowed: Vec<(String, usize)> = allowed
            .iter()
            .map(|(name, calls)| (name.to_string(), *calls))
            .collect();
        assert_eq!(found, allowed, "Secret::expose is called outside its list");
    }
}
