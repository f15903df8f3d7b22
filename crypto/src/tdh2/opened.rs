//! Decryptions anyone can check: a height's combined points `r·h`, served with its output,
//! verify themselves against the key set's `x·g₂` (one batched pairing equation for the whole
//! height) and re-open the payloads. This closes the gap between "2f+1 validators attest the
//! plaintext" and "anyone can verify it".

use rand_core::{CryptoRng, RngCore};

use super::ciphertext::{verify_ciphertexts, Ciphertext, Context};
use super::hash::decode_point;
use super::keys::PublicKeySet;
use crate::error::ThresholdError;

/// Checks decryptions: each item is a ciphertext's wire bytes and the compressed point claimed
/// to be its `r·h`. Every ciphertext must decode and pass its proof under `context` and the
/// key set's encryption key (all proofs in one multi-scalar multiplication), every point must decode (subgroup-checked), and all points must
/// pass one batched check `e(Σ ρ_k·P_k, g₂) = e(Σ ρ_k·u_k, x·g₂)` (random 128-bit weights).
/// Then each payload is opened with its point: `Some(plaintext)`, or `None` when the true
/// shared point does not open it (the encryptor made it so; an honest committee reports it as
/// undecryptable). The first failing check is the error.
pub fn check_decryptions<R: RngCore + CryptoRng>(
    public: &PublicKeySet,
    context: &Context,
    items: &[(&[u8], &[u8])],
    payload_bytes_max: usize,
    rng: &mut R,
) -> Result<Vec<Option<Vec<u8>>>, ThresholdError> {
    let decoded = items
        .iter()
        .map(|(bytes, _)| Ciphertext::from_bytes(bytes, payload_bytes_max))
        .collect::<Result<Vec<_>, _>>()?;
    // Every proof in one multi-scalar multiplication (one by one only if that fails).
    let ciphertexts = verify_ciphertexts(decoded, public.encryption_key(), context, rng)
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let mut pairs = Vec::with_capacity(items.len());
    for (ciphertext, (_, point)) in ciphertexts.iter().zip(items) {
        pairs.push((*ciphertext.u(), decode_point(point, "shared point")?));
    }
    if !pairs.is_empty() && !public.are_shared_points(&pairs, rng) {
        return Err(ThresholdError::WrongSharedPoint);
    }
    Ok(ciphertexts
        .iter()
        .zip(&pairs)
        .map(|(ciphertext, (_, point))| ciphertext.open(point).ok())
        .collect())
}
