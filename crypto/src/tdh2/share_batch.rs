//! A validator's decryption shares of a whole block with one proof: `U_k = x_i·u_k` for every
//! ciphertext `k`, and one Chaum–Pedersen proof that all of them use the `x_i` of `h_i = x_i·g`.
//!
//! # The batched proof
//! The statement "`log_{u_k} U_k = log_g h_i` for every `k`" is folded into one by weights
//! that the prover cannot choose: `seed = H(i, h_i, N, u_1..u_N, U_1..U_N)`,
//! `ρ_k = H(seed, k)` (128 bits), `ū = Σ ρ_k u_k`, `Ū = Σ ρ_k U_k`, and the proof is an
//! ordinary Chaum–Pedersen proof of `log_ū Ū = log_g h_i`: `A = k·ū`, `B = k·g`,
//! `c = H(seed, ū, Ū, A, B)`, `z = k + c·x_i`. This is the composite construction of RFC 9497
//! (§2.2.1, `ComputeComposites`): if any `U_k ≠ x_i·u_k`, then `Ū ≠ x_i·ū` except with
//! probability about `2^-128` over the weights, which are fixed by the hash only after every
//! `U_k` is. Every point is in the prime-order subgroup (the ciphertexts were verified, the
//! values are decoded with subgroup checks), which the argument needs.
//!
//! The prover does one constant-time multiplication per ciphertext (the share), two per block
//! (the nonce commitments) and one more for `Ū = x_i·ū`; the verifier two multi-scalar
//! multiplications over `N` points (`ū` and `Ū`, which the challenge hashes) and two of three. A bad batch is rejected as a whole and names its
//! sender; [`verify_share`](super::verify_share) stays for single shares.

use ark_bls12_381::{Fr, G1Affine, G1Projective};
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use ark_ff::{PrimeField, Zero};
use rand_core::{CryptoRng, RngCore};
use rayon::prelude::*;

use super::ciphertext::VerifiedCiphertext;
use super::hash::{
    decode_point, decode_scalar, encode_point, encode_scalar, ScalarHasher, POINT_BYTES,
    SCALAR_BYTES,
};
use super::keys::{KeyShare, PublicKeySet};
use crate::domains::{TDH2_SHARE_BATCH_CHALLENGE, TDH2_SHARE_BATCH_SEED, TDH2_SHARE_BATCH_WEIGHT};
use crate::error::ThresholdError;
use crate::secret_scalar::Secret;
use crate::shamir::{lagrange_coefficients_at_zero, ShareIndex};

/// Length of an encoded [`ShareBatchProof`]: `A || B || z`.
pub const SHARE_BATCH_PROOF_BYTES: usize = 2 * POINT_BYTES + SCALAR_BYTES;

/// The proof of a [`ShareBatch`] (commitment form, so it checks in one multi-scalar
/// multiplication).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShareBatchProof {
    commitment_u: G1Affine,
    commitment_g: G1Affine,
    response: Fr,
}

impl ShareBatchProof {
    /// `A || B` (compressed) `|| z` (big-endian).
    pub fn to_bytes(&self) -> [u8; SHARE_BATCH_PROOF_BYTES] {
        let mut out = [0u8; SHARE_BATCH_PROOF_BYTES];
        out[..POINT_BYTES].copy_from_slice(&encode_point(&self.commitment_u));
        out[POINT_BYTES..2 * POINT_BYTES].copy_from_slice(&encode_point(&self.commitment_g));
        out[2 * POINT_BYTES..].copy_from_slice(&encode_scalar(&self.response));
        out
    }

    /// Decodes a proof: exact length, points in the subgroup and not the identity, a canonical
    /// scalar.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ThresholdError> {
        if bytes.len() != SHARE_BATCH_PROOF_BYTES {
            return Err(ThresholdError::WrongLength {
                expected: SHARE_BATCH_PROOF_BYTES,
                got: bytes.len(),
            });
        }
        Ok(Self {
            commitment_u: decode_point(&bytes[..POINT_BYTES], "batch proof A")?,
            commitment_g: decode_point(&bytes[POINT_BYTES..2 * POINT_BYTES], "batch proof B")?,
            response: decode_scalar(&bytes[2 * POINT_BYTES..], "batch proof response")?,
        })
    }
}

/// Validator `i`'s shares of a list of ciphertexts (a block's, in position order) with one
/// proof. An empty list has no proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareBatch {
    index: ShareIndex,
    values: Vec<G1Affine>,
    proof: Option<ShareBatchProof>,
}

impl ShareBatch {
    /// The sender's share index in `1..=n`.
    pub fn index(&self) -> ShareIndex {
        self.index
    }

    /// The share values `U_k`, one per ciphertext, in order.
    pub fn values(&self) -> &[G1Affine] {
        &self.values
    }

    /// The proof (none for an empty batch).
    pub fn proof(&self) -> Option<&ShareBatchProof> {
        self.proof.as_ref()
    }

    /// The values' compressed encodings, in order.
    pub fn value_bytes(&self) -> Vec<[u8; POINT_BYTES]> {
        self.values.iter().map(encode_point).collect()
    }
}

/// Decodes a list of share values (see [`decode_share_value`]) on every worker of the current
/// rayon pool; the first failure in order if any fails.
pub fn decode_share_values(values: &[[u8; POINT_BYTES]]) -> Result<Vec<G1Affine>, ThresholdError> {
    values
        .par_iter()
        .map(|bytes| decode_share_value(bytes))
        .collect()
}

/// Decodes one share value: a compressed point of the subgroup, not the identity. (A share's
/// value is all that combining needs; its batch's proof is decoded and checked only when a
/// combination fails.)
pub fn decode_share_value(bytes: &[u8]) -> Result<G1Affine, ThresholdError> {
    decode_point(bytes, "share value")
}

/// The weights' seed and the weights `ρ_k` (128-bit, non-zero) of a batch.
fn batch_weights(
    index: ShareIndex,
    verification_key: &G1Affine,
    us: &[G1Affine],
    values: &[G1Affine],
) -> ([u8; 64], Vec<Fr>) {
    let mut transcript = ScalarHasher::new(TDH2_SHARE_BATCH_SEED)
        .bytes(&index.to_be_bytes())
        .point(verification_key)
        .bytes(&(us.len() as u64).to_be_bytes());
    for point in us.iter().chain(values) {
        transcript = transcript.point(point);
    }
    let seed = transcript.digest();
    let weights = (0..us.len() as u64)
        .map(|k| {
            let digest = ScalarHasher::new(TDH2_SHARE_BATCH_WEIGHT)
                .bytes(&seed)
                .bytes(&k.to_be_bytes())
                .digest();
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(&digest[..16]);
            // A zero weight (probability 2^-128) is replaced by one; the bound is the same.
            Fr::from(u128::from_le_bytes(bytes).max(1))
        })
        .collect();
    (seed, weights)
}

fn batch_challenge(
    seed: &[u8; 64],
    u_sum: &G1Affine,
    value_sum: &G1Affine,
    proof: (&G1Affine, &G1Affine),
) -> Fr {
    ScalarHasher::new(TDH2_SHARE_BATCH_CHALLENGE)
        .bytes(seed)
        .point(u_sum)
        .point(value_sum)
        .point(proof.0)
        .point(proof.1)
        .finish()
}

/// The encapsulations `u_k` of the ciphertexts, in order.
fn encapsulations(ciphertexts: &[&VerifiedCiphertext]) -> Vec<G1Affine> {
    ciphertexts
        .iter()
        .map(|ciphertext| *ciphertext.u())
        .collect()
}

fn msm(bases: &[G1Affine], scalars: &[Fr]) -> G1Projective {
    G1Projective::msm(bases, scalars).expect("one scalar per base")
}

/// Makes this validator's shares of `ciphertexts` with one proof.
///
/// The caller must only do this once the ciphertexts' positions in the order are final: a
/// share released earlier lets a coalition of `t` decrypt before ordering.
pub fn create_share_batch<R: RngCore + CryptoRng>(
    key_share: &KeyShare,
    ciphertexts: &[&VerifiedCiphertext],
    rng: &mut R,
) -> ShareBatch {
    let index = key_share.index();
    let secret = key_share.secret();
    let us = encapsulations(ciphertexts);
    // The key share is secret: constant-time multiplications only, one per position, on
    // every worker of the current rayon pool.
    let values: Vec<G1Affine> = us.par_iter().map(|u| secret.g1(u)).collect();
    if values.is_empty() {
        return ShareBatch {
            index,
            values,
            proof: None,
        };
    }
    let verification_key = key_share.verification_key();
    let (seed, weights) = batch_weights(index, &verification_key, &us, &values);
    let u_sum = msm(&us, &weights).into_affine();
    let value_sum = secret.g1(&u_sum);
    let nonce = Secret::random(rng);
    let commitment_u = nonce.g1(&u_sum);
    let commitment_g = nonce.g1_generator();
    let challenge = batch_challenge(&seed, &u_sum, &value_sum, (&commitment_u, &commitment_g));
    ShareBatch {
        index,
        values,
        proof: Some(ShareBatchProof {
            commitment_u,
            commitment_g,
            response: nonce.respond(&challenge, secret),
        }),
    }
}

/// Assembles a received batch from its decoded parts (its proof is checked by
/// [`verify_share_batch`]).
pub fn share_batch_from_parts(
    index: ShareIndex,
    values: Vec<G1Affine>,
    proof: Option<ShareBatchProof>,
) -> ShareBatch {
    ShareBatch {
        index,
        values,
        proof,
    }
}

/// Checks a batch of shares of `ciphertexts` (in the same order): `z·ū = A + c·Ū` and
/// `z·g = B + c·h_i`. A failure names the sender's index.
pub fn verify_share_batch(
    public: &PublicKeySet,
    ciphertexts: &[&VerifiedCiphertext],
    batch: &ShareBatch,
) -> Result<(), ThresholdError> {
    let invalid = ThresholdError::InvalidShare { index: batch.index };
    let verification_key = *public.verification_key(batch.index)?;
    if batch.values.len() != ciphertexts.len() {
        return Err(invalid);
    }
    let Some(proof) = &batch.proof else {
        return if batch.values.is_empty() {
            Ok(())
        } else {
            Err(invalid)
        };
    };
    if ciphertexts
        .iter()
        .any(|ciphertext| ciphertext.key() != public.encryption_key())
    {
        return Err(ThresholdError::KeyMismatch);
    }
    let us = encapsulations(ciphertexts);
    let (seed, weights) = batch_weights(batch.index, &verification_key, &us, &batch.values);
    let u_sum = msm(&us, &weights).into_affine();
    let value_sum = msm(&batch.values, &weights).into_affine();
    let challenge = batch_challenge(
        &seed,
        &u_sum,
        &value_sum,
        (&proof.commitment_u, &proof.commitment_g),
    );
    let minus_one = -Fr::from(1u64);
    let first = msm(
        &[u_sum, value_sum, proof.commitment_u],
        &[proof.response, -challenge, minus_one],
    );
    let second = msm(
        &[G1Affine::generator(), verification_key, proof.commitment_g],
        &[proof.response, -challenge, minus_one],
    );
    if first.is_zero() && second.is_zero() {
        Ok(())
    } else {
        Err(invalid)
    }
}

/// Combines a block's ciphertexts from the value lists of `t` senders (the first `t` with
/// distinct indices are used) and checks every combined point with one batched pairing
/// equation ([`PublicKeySet::are_shared_points`]). `Ok(Some(points))` holds the true shared
/// point `r_k·h` of every ciphertext, in order, whatever the senders were; `Ok(None)` means
/// the check failed: some sender's value is wrong, and [`verify_share_batch`] finds which.
/// The Lagrange coefficients are computed once for the block.
pub fn combine_share_batches<R: RngCore + CryptoRng>(
    public: &PublicKeySet,
    ciphertexts: &[&VerifiedCiphertext],
    senders: &[(ShareIndex, &[G1Affine])],
    rng: &mut R,
) -> Result<Option<Vec<G1Affine>>, ThresholdError> {
    let threshold = public.threshold();
    let mut chosen: Vec<(ShareIndex, &[G1Affine])> = Vec::with_capacity(threshold);
    for (index, values) in senders {
        if chosen.len() < threshold && chosen.iter().all(|(other, _)| other != index) {
            public.verification_key(*index)?;
            chosen.push((*index, values));
        }
    }
    if chosen.len() < threshold {
        return Err(ThresholdError::NotEnoughShares {
            valid: chosen.len(),
            threshold,
        });
    }
    if let Some((index, _)) = chosen
        .iter()
        .find(|(_, values)| values.len() != ciphertexts.len())
    {
        return Err(ThresholdError::InvalidShare { index: *index });
    }
    if ciphertexts
        .iter()
        .any(|ciphertext| ciphertext.key() != public.encryption_key())
    {
        return Err(ThresholdError::KeyMismatch);
    }
    let indices: Vec<ShareIndex> = chosen.iter().map(|(index, _)| *index).collect();
    let lambdas = lagrange_coefficients_at_zero(&indices)?;
    // The coefficients at zero sum to one, so `Σ λ_j U_j = U_t + Σ_{j<t} λ_j (U_j − U_t)`:
    // `t − 1` multiplications a position instead of `t` (one, not two, at t = 2).
    let ((_, last_values), rest) = chosen.split_last().expect("the threshold is at least one");
    let lambda_bigints: Vec<_> = lambdas[..rest.len()]
        .iter()
        .map(|lambda| lambda.into_bigint())
        .collect();
    // The differences, position by position, normalised in one batch (one inversion).
    let differences: Vec<G1Projective> = (0..ciphertexts.len())
        .flat_map(|k| {
            rest.iter()
                .map(move |(_, values)| G1Projective::from(values[k]) - last_values[k])
        })
        .collect();
    let differences = G1Projective::normalize_batch(&differences);
    let projective: Vec<G1Projective> = if rest.is_empty() {
        // t = 1: the one value is the point.
        last_values
            .iter()
            .map(|value| G1Projective::from(*value))
            .collect()
    } else {
        // Each term alone (t − 1 of them, all public scalars): an affine double-and-add with
        // mixed additions. A multi-scalar multiplication of so few points pays its bucket
        // set-up every window (25% slower at t = 2), and the projective GLV path measured 4%
        // slower than this.
        differences
            .par_chunks(rest.len())
            .zip(last_values.par_iter())
            .map(|(terms, last)| {
                terms
                    .iter()
                    .zip(&lambda_bigints)
                    .fold(G1Projective::from(*last), |sum, (term, lambda)| {
                        sum + term.mul_bigint(lambda)
                    })
            })
            .collect()
    };
    let points = G1Projective::normalize_batch(&projective);
    let pairs: Vec<(G1Affine, G1Affine)> = encapsulations(ciphertexts)
        .into_iter()
        .zip(points.iter().copied())
        .collect();
    if pairs.is_empty() || public.are_shared_points(&pairs, rng) {
        Ok(Some(points))
    } else {
        Ok(None)
    }
}
