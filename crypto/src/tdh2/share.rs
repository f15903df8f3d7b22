//! Decryption shares with proofs of discrete-log equality, their verification (single and
//! batched) and their combination.

use ark_bls12_381::{Fr, G1Affine, G1Projective};
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use ark_ff::Zero;
use rand_core::{CryptoRng, RngCore};

use super::ciphertext::VerifiedCiphertext;
use super::hash::{
    batch_weight, decode_point, decode_scalar, encode_point, encode_scalar, ScalarHasher,
    POINT_BYTES, SCALAR_BYTES,
};
use super::keys::{KeyShare, PublicKeySet};
use crate::domains::TDH2_SHARE_CHALLENGE;
use crate::error::ThresholdError;
use crate::secret_scalar::Secret;
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
    let u = *ciphertext.u();
    // The key share and the nonce are secret: constant-time multiplications only.
    let nonce = Secret::random(rng);
    let mut share = DecryptionShare {
        index: key_share.index(),
        value: key_share.secret().g1(&u),
        commitment_u: nonce.g1(&u),
        commitment_g: nonce.g1_generator(),
        response: Fr::zero(),
    };
    let verification_key = key_share.verification_key();
    let challenge = share_challenge(&u, &verification_key, &share);
    share.response = nonce.respond(&challenge, key_share.secret());
    share
}

/// A decryption share whose proof was checked for a ciphertext (whose `u` it remembers, so
/// it cannot be combined for another ciphertext).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedShare {
    share: DecryptionShare,
    u: G1Affine,
}

impl VerifiedShare {
    /// The share.
    pub fn share(&self) -> &DecryptionShare {
        &self.share
    }
}

/// Checks one share of `ciphertext`: `z·u = A + c·U_i` and `z·g = B + c·h_i`.
pub fn verify_share(
    public: &PublicKeySet,
    ciphertext: &VerifiedCiphertext,
    share: DecryptionShare,
) -> Result<VerifiedShare, ThresholdError> {
    let u = *ciphertext.u();
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
        Ok(VerifiedShare { share, u })
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
            .map(|(ciphertext, share)| {
                Ok(VerifiedShare {
                    share,
                    u: *ciphertext.u(),
                })
            })
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
        let u = *ciphertext.u();
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
/// interpolation in the exponent, `r·h = Σ λ_i U_i`. The ciphertext must have been verified
/// under this key set's encryption key, and every share for this ciphertext.
pub fn combine(
    public: &PublicKeySet,
    ciphertext: &VerifiedCiphertext,
    shares: &[VerifiedShare],
) -> Result<Vec<u8>, ThresholdError> {
    if ciphertext.key() != public.encryption_key() {
        return Err(ThresholdError::KeyMismatch);
    }
    let u = ciphertext.u();
    if let Some(other) = shares.iter().find(|share| share.u != *u) {
        return Err(ThresholdError::ShareForOtherCiphertext {
            index: other.share.index,
        });
    }
    let chosen = first_distinct(shares.iter().map(VerifiedShare::share), public.threshold())?;
    let shared = interpolate(&chosen)?;
    ciphertext.open(&shared)
}

/// What [`combine_optimistic`] decided: final for this ciphertext on every honest node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decryption {
    /// The plaintext, or [`ThresholdError::DecryptionFailed`] when the true shared point does
    /// not open the payload (the encryptor's fault: every honest node gets the same failure).
    pub outcome: Result<Vec<u8>, ThresholdError>,
    /// Indices whose shares failed their proof (empty on the fast path). The caller counts
    /// them against those validators.
    pub invalid_shares: Vec<ShareIndex>,
}

/// Decrypts from shares whose proofs were not checked yet. The fast path combines the first
/// `t` distinct shares and checks the result with one pairing equation,
/// `e(P, g₂) = e(u, x·g₂)` ([`PublicKeySet::is_shared_point`]): `P` is then exactly `r·h`,
/// whatever the shares were. Only when the check fails are all shares verified (in one batch),
/// the bad ones dropped, and the valid ones combined.
///
/// An `Err` means no decision yet (fewer than `t` valid shares, or a key mismatch); an `Ok` is
/// final. Every honest node therefore opens the payload with the same point and gets the same
/// plaintext, or the same failure, even when the encryptor and a share sender collude (a
/// crafted share can move the combination to a point the encryptor prepared, but not past the
/// pairing check).
pub fn combine_optimistic<R: RngCore + CryptoRng>(
    public: &PublicKeySet,
    ciphertext: &VerifiedCiphertext,
    shares: Vec<DecryptionShare>,
    rng: &mut R,
) -> Result<Decryption, ThresholdError> {
    if ciphertext.key() != public.encryption_key() {
        return Err(ThresholdError::KeyMismatch);
    }
    let u = ciphertext.u();
    let fast = first_distinct(shares.iter(), public.threshold())
        .and_then(|chosen| interpolate(&chosen))
        .ok()
        .filter(|shared| public.is_shared_point(u, shared));
    if let Some(shared) = fast {
        return Ok(Decryption {
            outcome: ciphertext.open(&shared),
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
    let chosen = first_distinct(valid.iter().map(VerifiedShare::share), public.threshold())?;
    let shared = interpolate(&chosen)?;
    Ok(Decryption {
        outcome: ciphertext.open(&shared),
        invalid_shares,
    })
}

/// [`combine_optimistic`] for many ciphertexts at once (typically a block's): each one's first
/// `t` distinct shares are interpolated and all combined points are checked with one batched
/// pairing equation ([`PublicKeySet::are_shared_points`]); only if that fails (or for items
/// that cannot be interpolated) does each item go through [`combine_optimistic`] alone. The
/// results are in input order and are exactly what [`combine_optimistic`] would decide.
pub fn combine_many_optimistic<R: RngCore + CryptoRng>(
    public: &PublicKeySet,
    items: Vec<(&VerifiedCiphertext, Vec<DecryptionShare>)>,
    rng: &mut R,
) -> Vec<Result<Decryption, ThresholdError>> {
    let candidates: Vec<Option<G1Affine>> = items
        .iter()
        .map(|(ciphertext, shares)| {
            if ciphertext.key() != public.encryption_key() {
                return None;
            }
            first_distinct(shares.iter(), public.threshold())
                .and_then(|chosen| interpolate(&chosen))
                .ok()
        })
        .collect();
    let pairs: Vec<(G1Affine, G1Affine)> = items
        .iter()
        .zip(&candidates)
        .filter_map(|((ciphertext, _), candidate)| {
            candidate.map(|shared| (*ciphertext.u(), shared))
        })
        .collect();
    let batch_holds = !pairs.is_empty() && public.are_shared_points(&pairs, rng);
    items
        .into_iter()
        .zip(candidates)
        .map(|((ciphertext, shares), candidate)| match candidate {
            Some(shared) if batch_holds => Ok(Decryption {
                outcome: ciphertext.open(&shared),
                invalid_shares: Vec::new(),
            }),
            _ => combine_optimistic(public, ciphertext, shares, rng),
        })
        .collect()
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

/// Lagrange interpolation at zero in the exponent of the given shares' values (whatever their
/// number): `Σ λ_i U_i`. With `t` valid shares this is `r·h`; with fewer it is a point
/// unrelated to it.
pub fn interpolate(shares: &[&DecryptionShare]) -> Result<G1Affine, ThresholdError> {
    let indices: Vec<ShareIndex> = shares.iter().map(|share| share.index).collect();
    let lambdas = lagrange_coefficients_at_zero(&indices)?;
    let values: Vec<G1Affine> = shares.iter().map(|share| share.value).collect();
    Ok(G1Projective::msm(&values, &lambdas)
        .expect("one coefficient per share")
        .into_affine())
}

#[cfg(test)]
mod tests {
    //! An encryptor colluding with a share sender, attacking determinism of the optimistic
    //! combine. Needs the crate's internals to build the malicious ciphertext.

    use ark_bls12_381::{Fr, G1Projective};
    use ark_ec::{CurveGroup, PrimeGroup};
    use ark_ff::Field;
    use ark_std::UniformRand;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::tdh2::ciphertext::{derive_keys, seal, Ciphertext, Context, Label};
    use crate::tdh2::hash::second_generator;
    use crate::tdh2::keys::trusted_dealer_for_local_testnet;

    #[test]
    fn colluding_encryptor_and_share_cannot_split_honest_nodes() {
        let mut rng = ChaCha20Rng::seed_from_u64(77);
        let (public, key_shares) =
            trusted_dealer_for_local_testnet(2, 4, &mut rng).expect("dealer");
        let key = *public.encryption_key();
        let label = Label {
            chain_id: 1,
            epoch: 1,
            valid_through: 10,
            nonce: [3; 32],
        };
        // The encryptor prepares a second point P' = r·h + Δ and seals "evil" under it, with a
        // valid proof of knowledge of r.
        let r = Fr::rand(&mut rng);
        let s = Fr::rand(&mut rng);
        let delta = G1Projective::generator() * Fr::rand(&mut rng);
        let g = G1Projective::generator();
        let g_bar = G1Projective::from(second_generator());
        let u = (g * r).into_affine();
        let prepared = (key.0 * r + delta).into_affine();
        let keys = derive_keys(&prepared, &label, &u);
        let mut ciphertext = Ciphertext {
            label,
            u,
            u_bar: (g_bar * r).into_affine(),
            w: (g * s).into_affine(),
            w_bar: (g_bar * s).into_affine(),
            f: Fr::zero(),
            key_commitment: keys.commitment,
            payload: seal(&keys, &label, b"evil"),
        };
        ciphertext.f = s + r * ciphertext.challenge(&key);
        let context = Context {
            chain_id: 1,
            epoch: 1,
        };
        let ciphertext = ciphertext
            .verify(&key, &context)
            .expect("the proof is valid");

        let honest: Vec<DecryptionShare> = key_shares
            .iter()
            .map(|key_share| create_share(key_share, &ciphertext, &mut rng))
            .collect();
        // The colluder's share for index 1: r·h_1 + λ_1⁻¹·Δ, where λ_1 is its Lagrange
        // coefficient in the set {1, 2}. It needs r and public data only.
        let lambda = lagrange_coefficients_at_zero(&[1, 2]).expect("distinct")[0];
        let h_1 = *public.verification_key(1).expect("index 1");
        let crafted_value = (h_1 * r
            + delta
                * lambda
                    .inverse()
                    .expect("Lagrange coefficients are non-zero"))
        .into_affine();
        let crafted = DecryptionShare {
            index: 1,
            value: crafted_value,
            commitment_u: honest[0].commitment_u,
            commitment_g: honest[0].commitment_g,
            response: honest[0].response,
        };

        // Without a check of the combined point, the crafted share opens the prepared payload:
        // this is the attack the pairing check exists for.
        let attacked = interpolate(&[&crafted, &honest[1]]).expect("distinct");
        assert_eq!(ciphertext.open(&attacked), Ok(b"evil".to_vec()));

        // A node that happens to receive only honest shares fails to decrypt...
        let plain = combine_optimistic(&public, &ciphertext, honest[1..].to_vec(), &mut rng)
            .expect("enough valid shares to decide");
        assert_eq!(plain.outcome, Err(ThresholdError::DecryptionFailed));
        assert!(plain.invalid_shares.is_empty());
        // ...and so does the node that receives the crafted share first: same outcome, and the
        // crafted share is named.
        let with_crafted = vec![crafted, honest[1].clone(), honest[2].clone()];
        let attacked = combine_optimistic(&public, &ciphertext, with_crafted, &mut rng)
            .expect("enough valid shares to decide");
        assert_eq!(attacked.outcome, Err(ThresholdError::DecryptionFailed));
        assert_eq!(attacked.invalid_shares, vec![1]);
    }
}
