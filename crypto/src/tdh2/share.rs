//! Decryption shares with proofs of discrete-log equality, their verification (single and
//! batched) and their combination.

use ark_bls12_381::{Fr, G1Affine, G1Projective};
use ark_ec::{AffineRepr, CurveGroup, PrimeGroup, VariableBaseMSM};
use ark_ff::Zero;
use ark_std::UniformRand;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::ciphertext::VerifiedCiphertext;
use super::hash::{
    batch_weight, decode_point, decode_scalar, encode_point, encode_scalar, ScalarHasher,
    POINT_BYTES, SCALAR_BYTES,
};
use super::keys::{KeyShare, PublicKeySet};
use crate::domains::TDH2_SHARE_CHALLENGE;
use crate::error::ThresholdError;
use crate::shamir::{lagrange_coefficients_at_zero, ShareIndex};

/// Length of an encoded [`DecryptionShare`].
pub const SHARE_BYTES: usize = 2 + 3 * POINT_BYTES + SCALAR_BYTES;

/// Validator `i`'s share of one ciphertext's decryption: `U_i = x_i·u`, with a proof that
/// `log_u U_i = log_g h_i` (Chaum–Pedersen, in commitment form `(A, B, z)` so that many proofs
/// check in one multi-scalar multiplication).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecryptionShare {
    index: ShareIndex,
    value: G1Affine,
    commitment_u: G1Affine,
    commitment_g: G1Affine,
    response: Fr,
}

impl DecryptionShare {
    /// The share's index in `1..=n`.
    pub fn index(&self) -> ShareIndex {
        self.index
    }

    /// `index (u16 BE) || U_i || A || B || z` (points compressed, `z` big-endian).
    pub fn to_bytes(&self) -> [u8; SHARE_BYTES] {
        let mut out = [0u8; SHARE_BYTES];
        out[..2].copy_from_slice(&self.index.to_be_bytes());
        let mut offset = 2;
        for point in [&self.value, &self.commitment_u, &self.commitment_g] {
            out[offset..offset + POINT_BYTES].copy_from_slice(&encode_point(point));
            offset += POINT_BYTES;
        }
        out[offset..].copy_from_slice(&encode_scalar(&self.response));
        out
    }

    /// Decodes a share: exact length, index not zero, points in the subgroup and not the
    /// identity, a canonical scalar. The proof is checked separately.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ThresholdError> {
        if bytes.len() != SHARE_BYTES {
            return Err(ThresholdError::WrongLength {
                expected: SHARE_BYTES,
                got: bytes.len(),
            });
        }
        let index = u16::from_be_bytes([bytes[0], bytes[1]]);
        if index == 0 {
            return Err(ThresholdError::UnknownShareIndex {
                index,
                share_count: usize::from(ShareIndex::MAX),
            });
        }
        let point_at = |k: usize, field| {
            let start = 2 + k * POINT_BYTES;
            decode_point(&bytes[start..start + POINT_BYTES], field)
        };
        Ok(Self {
            index,
            value: point_at(0, "share value")?,
            commitment_u: point_at(1, "share commitment A")?,
            commitment_g: point_at(2, "share commitment B")?,
            response: decode_scalar(&bytes[2 + 3 * POINT_BYTES..], "share response")?,
        })
    }
}

/// The Fiat–Shamir challenge of a share proof. It binds the ciphertext's `u`, the index, the
/// verification key, the share value and both commitments.
fn share_challenge(u: &G1Affine, verification_key: &G1Affine, share: &DecryptionShare) -> Fr {
    ScalarHasher::new(TDH2_SHARE_CHALLENGE)
        .point(u)
        .bytes(&share.index.to_be_bytes())
        .point(verification_key)
        .point(&share.value)
        .point(&share.commitment_u)
        .point(&share.commitment_g)
        .finish()
}

/// Makes this validator's decryption share of a verified ciphertext.
///
/// The caller must only do this once the ciphertext's position in the order is final: a share
/// released earlier lets a coalition of `t` decrypt before ordering.
pub fn create_share<R: RngCore + CryptoRng>(
    key_share: &KeyShare,
    ciphertext: &VerifiedCiphertext,
    rng: &mut R,
) -> DecryptionShare {
    let u = *ciphertext.ciphertext().u();
    let nonce = Zeroizing::new(Fr::rand(rng));
    let points = G1Projective::normalize_batch(&[
        u * key_share.secret(),
        u * *nonce,
        G1Projective::generator() * *nonce,
    ]);
    let mut share = DecryptionShare {
        index: key_share.index(),
        value: points[0],
        commitment_u: points[1],
        commitment_g: points[2],
        response: Fr::zero(),
    };
    let verification_key = key_share.verification_key();
    let challenge = share_challenge(&u, &verification_key, &share);
    share.response = *nonce + challenge * key_share.secret();
    share
}

/// A decryption share whose proof was checked for its ciphertext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedShare(DecryptionShare);

impl VerifiedShare {
    /// The share.
    pub fn share(&self) -> &DecryptionShare {
        &self.0
    }
}

/// Checks one share of `ciphertext`: `z·u = A + c·U_i` and `z·g = B + c·h_i`.
pub fn verify_share(
    public: &PublicKeySet,
    ciphertext: &VerifiedCiphertext,
    share: DecryptionShare,
) -> Result<VerifiedShare, ThresholdError> {
    let u = *ciphertext.ciphertext().u();
    let verification_key = *public.verification_key(share.index)?;
    let challenge = share_challenge(&u, &verification_key, &share);
    let minus_one = -Fr::from(1u64);
    let first = G1Projective::msm(
        &[u, share.value, share.commitment_u],
        &[share.response, -challenge, minus_one],
    )
    .expect("three bases, three scalars");
    let second = G1Projective::msm(
        &[G1Affine::generator(), verification_key, share.commitment_g],
        &[share.response, -challenge, minus_one],
    )
    .expect("three bases, three scalars");
    if first.is_zero() && second.is_zero() {
        Ok(VerifiedShare(share))
    } else {
        Err(ThresholdError::InvalidShare { index: share.index })
    }
}

/// Checks many shares, each for its own ciphertext, with one multi-scalar multiplication: a
/// random linear combination (128-bit weights) of both equations of every proof. The typical
/// batch is one validator's shares of a whole block. When the combined check fails, each share
/// is checked alone, so the result names exactly the bad ones. Results are in input order.
pub fn verify_shares<R: RngCore + CryptoRng>(
    public: &PublicKeySet,
    items: Vec<(&VerifiedCiphertext, DecryptionShare)>,
    rng: &mut R,
) -> Vec<Result<VerifiedShare, ThresholdError>> {
    if items.len() > 1 && shares_batch_holds(public, &items, rng) {
        return items
            .into_iter()
            .map(|(_, share)| Ok(VerifiedShare(share)))
            .collect();
    }
    items
        .into_iter()
        .map(|(ciphertext, share)| verify_share(public, ciphertext, share))
        .collect()
}

fn shares_batch_holds<R: RngCore + CryptoRng>(
    public: &PublicKeySet,
    items: &[(&VerifiedCiphertext, DecryptionShare)],
    rng: &mut R,
) -> bool {
    // Σ ρ_k (z_k·u_k − A_k − c_k·U_k) + Σ σ_k (z_k·g − B_k − c_k·h_{i_k}) = 0, with the
    // scalars of g and of each distinct h_i summed first.
    let mut bases = Vec::with_capacity(4 * items.len() + 2);
    let mut scalars = Vec::with_capacity(4 * items.len() + 2);
    let mut g_scalar = Fr::zero();
    let mut key_scalars: Vec<(ShareIndex, Fr)> = Vec::new();
    for (ciphertext, share) in items {
        let Ok(verification_key) = public.verification_key(share.index) else {
            return false;
        };
        let u = *ciphertext.ciphertext().u();
        let challenge = share_challenge(&u, verification_key, share);
        let rho = batch_weight(rng);
        let sigma = batch_weight(rng);
        bases.extend([u, share.commitment_u, share.value, share.commitment_g]);
        scalars.extend([rho * share.response, -rho, -(rho * challenge), -sigma]);
        g_scalar += sigma * share.response;
        match key_scalars
            .iter_mut()
            .find(|(index, _)| *index == share.index)
        {
            Some((_, scalar)) => *scalar -= sigma * challenge,
            None => key_scalars.push((share.index, -(sigma * challenge))),
        }
    }
    bases.push(G1Affine::generator());
    scalars.push(g_scalar);
    for (index, scalar) in key_scalars {
        let Ok(key) = public.verification_key(index) else {
            return false;
        };
        bases.push(*key);
        scalars.push(scalar);
    }
    G1Projective::msm(&bases, &scalars)
        .expect("one scalar per base")
        .is_zero()
}

/// Decrypts from verified shares: the first `t` with distinct indices are combined by Lagrange
/// interpolation in the exponent, `r·h = Σ λ_i U_i`.
pub fn combine(
    public: &PublicKeySet,
    ciphertext: &VerifiedCiphertext,
    shares: &[VerifiedShare],
) -> Result<Vec<u8>, ThresholdError> {
    let chosen = first_distinct(shares.iter().map(VerifiedShare::share), public.threshold())?;
    let shared = interpolate_shares(&chosen)?;
    ciphertext.open(&shared)
}

/// What [`combine_optimistic`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decryption {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// Indices whose shares failed their proof (empty on the fast path). The caller counts
    /// them against those validators.
    pub invalid_shares: Vec<ShareIndex>,
}

/// Decrypts from shares whose proofs were not checked yet. The fast path combines the first
/// `t` distinct shares and opens the payload; the key commitment tells whether the combination
/// is right. Only when it is not are all shares verified (in one batch), the bad ones dropped,
/// and the valid ones combined.
///
/// The fast path is safe because the payload is key-committing: a wrong combination gives a
/// different shared point, which fails the commitment except with negligible probability.
/// Either way every honest node obtains the same plaintext, or the same failure.
pub fn combine_optimistic<R: RngCore + CryptoRng>(
    public: &PublicKeySet,
    ciphertext: &VerifiedCiphertext,
    shares: Vec<DecryptionShare>,
    rng: &mut R,
) -> Result<Decryption, ThresholdError> {
    let fast = first_distinct(shares.iter(), public.threshold())
        .and_then(|chosen| interpolate_shares(&chosen))
        .and_then(|shared| ciphertext.open(&shared));
    if let Ok(plaintext) = fast {
        return Ok(Decryption {
            plaintext,
            invalid_shares: Vec::new(),
        });
    }
    let mut invalid_shares = Vec::new();
    let mut valid = Vec::new();
    let checks = verify_shares(
        public,
        shares
            .into_iter()
            .map(|share| (ciphertext, share))
            .collect(),
        rng,
    );
    for result in checks {
        match result {
            Ok(share) => valid.push(share),
            Err(ThresholdError::InvalidShare { index })
            | Err(ThresholdError::UnknownShareIndex { index, .. }) => invalid_shares.push(index),
            Err(other) => return Err(other),
        }
    }
    let plaintext = combine(public, ciphertext, &valid)?;
    Ok(Decryption {
        plaintext,
        invalid_shares,
    })
}

/// The first `threshold` shares with distinct indices.
fn first_distinct<'a>(
    shares: impl Iterator<Item = &'a DecryptionShare>,
    threshold: usize,
) -> Result<Vec<&'a DecryptionShare>, ThresholdError> {
    let mut chosen: Vec<&DecryptionShare> = Vec::with_capacity(threshold);
    for share in shares {
        if chosen.len() == threshold {
            break;
        }
        if chosen.iter().all(|other| other.index != share.index) {
            chosen.push(share);
        }
    }
    if chosen.len() < threshold {
        return Err(ThresholdError::NotEnoughShares {
            valid: chosen.len(),
            threshold,
        });
    }
    Ok(chosen)
}

fn interpolate_shares(shares: &[&DecryptionShare]) -> Result<G1Affine, ThresholdError> {
    let indices: Vec<ShareIndex> = shares.iter().map(|share| share.index).collect();
    let lambdas = lagrange_coefficients_at_zero(&indices)?;
    let values: Vec<G1Affine> = shares.iter().map(|share| share.value).collect();
    Ok(G1Projective::msm(&values, &lambdas)
        .expect("one coefficient per share")
        .into_affine())
}
