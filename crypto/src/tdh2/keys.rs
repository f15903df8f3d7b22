//! Threshold key material: the encryption key, the public key set with one verification key
//! per share, the secret key shares, and the trusted dealer for local test networks.

use std::fmt;

use ark_bls12_381::{Fr, G1Affine, G1Projective, G2Affine};
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use group::prime::PrimeCurveAffine;
use rand_core::{CryptoRng, RngCore};

use super::hash::{decode_point, encode_point, POINT_BYTES};
use crate::error::ThresholdError;
use crate::secret_scalar::{g1_to_blst, g2_to_blst, Secret};
use crate::shamir::{lagrange_coefficients_at, SecretPolynomial, ShareIndex};

/// The public encryption key `h = x·g` that wallets encrypt to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EncryptionKey(pub(crate) G1Affine);

impl EncryptionKey {
    /// The compressed (48-byte) encoding.
    pub fn to_bytes(&self) -> [u8; POINT_BYTES] {
        encode_point(&self.0)
    }

    /// Decodes a compressed key with subgroup checks; refuses the identity.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ThresholdError> {
        if bytes.len() != POINT_BYTES {
            return Err(ThresholdError::WrongLength {
                expected: POINT_BYTES,
                got: bytes.len(),
            });
        }
        decode_point(bytes, "encryption key").map(Self)
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        write!(f, "EncryptionKey(0x")?;
        for byte in &bytes[..8] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, "…)")
    }
}

/// The public side of a threshold key: the threshold `t`, the encryption key `h = x·g`, the
/// same secret in G2 (`x·g₂`, which lets anyone check a combined point with one pairing
/// equation), and the verification key `h_i = x_i·g` of every share `i` in `1..=n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKeySet {
    threshold: usize,
    encryption_key: EncryptionKey,
    encryption_key_g2: G2Affine,
    verification_keys: Vec<G1Affine>,
}

impl PublicKeySet {
    /// Accepts a key set only if it is consistent: `1 <= t <= n`; `x·g₂` has the same discrete
    /// logarithm as `h` (one pairing equation); and the verification keys are the values at
    /// `1..=n` of one polynomial of degree `t - 1` in the exponent whose value at zero is the
    /// encryption key. A key set from a faulty dealer or DKG fails here.
    pub fn new(
        threshold: usize,
        encryption_key: EncryptionKey,
        encryption_key_g2: G2Affine,
        verification_keys: Vec<G1Affine>,
    ) -> Result<Self, ThresholdError> {
        check_parameters(threshold, verification_keys.len())?;
        let set = Self {
            threshold,
            encryption_key,
            encryption_key_g2,
            verification_keys,
        };
        set.check_consistent()?;
        Ok(set)
    }

    fn check_consistent(&self) -> Result<(), ThresholdError> {
        if self.encryption_key_g2.is_zero()
            || !self
                .encryption_key_g2
                .is_in_correct_subgroup_assuming_on_curve()
            || !same_discrete_log(
                &self.encryption_key.0,
                &G1Affine::generator(),
                &self.encryption_key_g2,
            )
        {
            return Err(ThresholdError::InconsistentKeySet { index: 0 });
        }
        // The first t verification keys fix the polynomial; interpolate it at zero and at every
        // other index and compare.
        let basis: Vec<ShareIndex> = (1..=self.threshold)
            .map(|index| ShareIndex::try_from(index).expect("share count fits in a u16"))
            .collect();
        let basis_points = &self.verification_keys[..self.threshold];
        let at_zero = interpolate_in_exponent(&basis, basis_points, 0)?;
        if at_zero != self.encryption_key.0 {
            return Err(ThresholdError::InconsistentKeySet { index: 0 });
        }
        for target in self.threshold + 1..=self.verification_keys.len() {
            let target_index = ShareIndex::try_from(target).expect("share count fits in a u16");
            let value = interpolate_in_exponent(&basis, basis_points, target_index)?;
            if value != self.verification_keys[target - 1] {
                return Err(ThresholdError::InconsistentKeySet {
                    index: target_index,
                });
            }
        }
        Ok(())
    }

    /// The threshold `t`: shares needed to decrypt.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// The number of shares `n`.
    pub fn share_count(&self) -> usize {
        self.verification_keys.len()
    }

    /// The encryption key.
    pub fn encryption_key(&self) -> &EncryptionKey {
        &self.encryption_key
    }

    /// `x·g₂`, the decryption secret times the G2 generator.
    pub fn encryption_key_g2(&self) -> &G2Affine {
        &self.encryption_key_g2
    }

    /// Whether `shared` is `x·u`, the point that opens a ciphertext with this `u`:
    /// `e(shared, g₂) = e(u, x·g₂)`. This is what lets a node accept a combination of shares
    /// it has not verified.
    pub fn is_shared_point(&self, u: &G1Affine, shared: &G1Affine) -> bool {
        same_discrete_log(shared, u, &self.encryption_key_g2)
    }

    /// [`Self::is_shared_point`] for many `(u, shared)` pairs at the cost of one: with random
    /// 128-bit weights `ρ_k`, `e(Σ ρ_k·shared_k, g₂) = e(Σ ρ_k·u_k, x·g₂)`. If any pair is
    /// wrong the check fails except with probability about 2⁻¹²⁸ (points are in the prime-order
    /// subgroup, checked when decoded).
    pub fn are_shared_points<R: RngCore + CryptoRng>(
        &self,
        pairs: &[(G1Affine, G1Affine)],
        rng: &mut R,
    ) -> bool {
        if let [(u, shared)] = pairs {
            return self.is_shared_point(u, shared);
        }
        let weights: Vec<Fr> = pairs
            .iter()
            .map(|_| super::hash::batch_weight(rng))
            .collect();
        let us: Vec<G1Affine> = pairs.iter().map(|(u, _)| *u).collect();
        let shared: Vec<G1Affine> = pairs.iter().map(|(_, shared)| *shared).collect();
        let (Ok(u_sum), Ok(shared_sum)) = (
            G1Projective::msm(&us, &weights),
            G1Projective::msm(&shared, &weights),
        ) else {
            return false;
        };
        same_discrete_log(
            &shared_sum.into_affine(),
            &u_sum.into_affine(),
            &self.encryption_key_g2,
        )
    }

    /// The encoding of the public key set: `t (u16 BE) || n (u16 BE) || h (48) || x·g₂ (96) ||
    /// h_1..h_n (48 each)`, points compressed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + POINT_BYTES + 96 + POINT_BYTES * self.share_count());
        out.extend_from_slice(&(self.threshold as u16).to_be_bytes());
        out.extend_from_slice(&(self.share_count() as u16).to_be_bytes());
        out.extend_from_slice(&self.encryption_key.to_bytes());
        let mut g2 = Vec::with_capacity(96);
        self.encryption_key_g2
            .serialize_compressed(&mut g2)
            .expect("a compressed G2 point is 96 bytes");
        out.extend_from_slice(&g2);
        for key in &self.verification_keys {
            out.extend_from_slice(&encode_point(key));
        }
        out
    }

    /// Decodes and checks (see [`PublicKeySet::new`]) a key set.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ThresholdError> {
        let header = 4 + POINT_BYTES + 96;
        if bytes.len() < header {
            return Err(ThresholdError::WrongLength {
                expected: header,
                got: bytes.len(),
            });
        }
        let threshold = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
        let share_count = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        let expected = header + POINT_BYTES * share_count;
        if bytes.len() != expected {
            return Err(ThresholdError::WrongLength {
                expected,
                got: bytes.len(),
            });
        }
        let encryption_key = EncryptionKey::from_bytes(&bytes[4..4 + POINT_BYTES])?;
        let encryption_key_g2 = G2Affine::deserialize_compressed(&bytes[4 + POINT_BYTES..header])
            .map_err(|_| ThresholdError::BadPoint {
            field: "encryption key in G2",
        })?;
        let verification_keys = bytes[header..]
            .chunks(POINT_BYTES)
            .map(|chunk| decode_point(chunk, "verification key"))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(
            threshold,
            encryption_key,
            encryption_key_g2,
            verification_keys,
        )
    }

    /// The verification key of share `index` (in `1..=n`).
    pub fn verification_key(&self, index: ShareIndex) -> Result<&G1Affine, ThresholdError> {
        usize::from(index)
            .checked_sub(1)
            .and_then(|position| self.verification_keys.get(position))
            .ok_or(ThresholdError::UnknownShareIndex {
                index,
                share_count: self.verification_keys.len(),
            })
    }
}

/// `e(a, g₂) = e(b, k₂)`: `a` is `b` times the discrete logarithm of `k₂`.
pub(crate) fn same_discrete_log(a: &G1Affine, b: &G1Affine, k2: &G2Affine) -> bool {
    // e(a, g₂)·e(−b, k₂) = 1, as one multi-pairing in blst (about half arkworks' time here).
    let a = g1_to_blst(a);
    let minus_b = g1_to_blst(&(-b.into_group()).into_affine());
    let g2 = blstrs::G2Affine::generator();
    let k2 = g2_to_blst(k2);
    let mut pairing = blst::Pairing::new(false, &[]);
    pairing.raw_aggregate(g2.as_ref(), a.as_ref());
    pairing.raw_aggregate(k2.as_ref(), minus_b.as_ref());
    pairing.commit();
    pairing.finalverify(None)
}

/// The value at `target` of the polynomial in the exponent through `(indices[k], points[k])`.
fn interpolate_in_exponent(
    indices: &[ShareIndex],
    points: &[G1Affine],
    target: ShareIndex,
) -> Result<G1Affine, ThresholdError> {
    let coefficients = lagrange_coefficients_at(Fr::from(target), indices)?;
    let value = G1Projective::msm(points, &coefficients).expect("one coefficient per point");
    Ok(value.into_affine())
}

pub(crate) fn check_parameters(threshold: usize, share_count: usize) -> Result<(), ThresholdError> {
    if threshold == 0 || threshold > share_count || share_count > usize::from(ShareIndex::MAX) {
        return Err(ThresholdError::BadParameters {
            threshold,
            share_count,
        });
    }
    Ok(())
}

/// One validator's share `x_i` of the decryption key, with its verification key. The secret is
/// wiped on drop and never printed.
pub struct KeyShare {
    index: ShareIndex,
    secret: Secret,
    verification_key: G1Affine,
}

impl KeyShare {
    /// A share from its index and secret value (from a DKG or a dealer).
    pub fn new(index: ShareIndex, secret: Fr) -> Result<Self, ThresholdError> {
        if index == 0 {
            return Err(ThresholdError::UnknownShareIndex {
                index,
                share_count: usize::from(ShareIndex::MAX),
            });
        }
        let secret = Secret::new(secret);
        let verification_key = secret.g1_generator();
        Ok(Self {
            index,
            secret,
            verification_key,
        })
    }

    /// This share's index in `1..=n`.
    pub fn index(&self) -> ShareIndex {
        self.index
    }

    pub(crate) fn secret(&self) -> &Secret {
        &self.secret
    }

    /// The verification key `x_i·g` that matches this share.
    pub fn verification_key(&self) -> G1Affine {
        self.verification_key
    }

    /// The secret as 32 big-endian bytes, in a buffer wiped on drop (for the key file).
    pub fn secret_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(super::hash::encode_scalar(self.secret.expose()))
    }

    /// A share from its index and the 32-byte big-endian secret (from a key file).
    pub fn from_secret_bytes(index: ShareIndex, bytes: &[u8]) -> Result<Self, ThresholdError> {
        let secret = super::hash::decode_scalar(bytes, "key share")?;
        Self::new(index, secret)
    }
}

impl fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyShare(index {}, <redacted>)", self.index)
    }
}

/// Deals a threshold key with a single trusted dealer, **for local test networks only**.
///
/// The dealer sees the whole decryption key, so whoever runs it can decrypt every transaction
/// before it is ordered: the MEV protection is void. Real committees create their key with the
/// distributed key generation, which hands out the same types ([`PublicKeySet`], [`KeyShare`]).
pub fn trusted_dealer_for_local_testnet<R: RngCore + CryptoRng>(
    threshold: usize,
    share_count: usize,
    rng: &mut R,
) -> Result<(PublicKeySet, Vec<KeyShare>), ThresholdError> {
    check_parameters(threshold, share_count)?;
    let secret = Secret::random(rng);
    let polynomial = SecretPolynomial::random(*secret.expose(), threshold, rng);
    let encryption_key = EncryptionKey(secret.g1_generator());
    let encryption_key_g2 = secret.g2(&G2Affine::generator());
    let mut shares = Vec::with_capacity(share_count);
    for index in 1..=share_count {
        let index = ShareIndex::try_from(index).expect("checked: share count fits in a u16");
        let value = zeroize::Zeroizing::new(polynomial.evaluate(Fr::from(index)));
        shares.push(KeyShare::new(index, *value)?);
    }
    let verification_keys = shares.iter().map(KeyShare::verification_key).collect();
    let public = PublicKeySet {
        threshold,
        encryption_key,
        encryption_key_g2,
        verification_keys,
    };
    debug_assert!(public.check_consistent().is_ok());
    Ok((public, shares))
}
