//! TDH2 threshold encryption (Shoup–Gennaro 1998/2002) on BLS12-381 G1, as a CCA-secure KEM
//! with a label, hybrid with a key-committing ChaCha20-Poly1305 payload.
//!
//! # Protocol
//! Key: a secret `x` Shamir-shared as `x_i` with threshold `t`; public `h = x·g` and
//! verification keys `h_i = x_i·g` ([`PublicKeySet`]).
//!
//! Encrypt (see [`Ciphertext`]): `u = r·g`, `ū = r·ḡ`, and a Schnorr-style proof that `u` and
//! `ū` share the discrete logarithm `r`, bound by Fiat–Shamir to the label, the key, the key
//! commitment and the payload. The AEAD key and a key commitment come from `r·h` by HKDF.
//!
//! Validity ([`Ciphertext::verify`], [`verify_ciphertexts`]): the proof. A ciphertext that
//! fails is never given a share, which is what makes the scheme CCA-secure: nobody can obtain
//! shares for a mauled ciphertext.
//!
//! Share ([`create_share`]): `U_i = x_i·u` with a Chaum–Pedersen proof that
//! `log_u U_i = log_g h_i`. Verification single ([`verify_share`]) or batched over many shares
//! ([`verify_shares`]) by a random linear combination.
//!
//! Share batch ([`create_share_batch`], [`verify_share_batch`], [`combine_share_batches`]): a
//! validator's shares of a whole block with one batched Chaum–Pedersen proof (RFC 9497's
//! composite weights), so a share costs one multiplication; a block is combined from `t`
//! senders' values and checked with one batched pairing equation.
//!
//! Combine ([`combine`], [`combine_optimistic`]): `r·h = Σ λ_i U_i` over any `t` valid shares;
//! the key commitment is checked, then the AEAD. The optimistic path combines unverified shares
//! and accepts the result only if `e(P, g₂) = e(u, x·g₂)`, with `x·g₂` part of the public key
//! set.
//!
//! # Deviations from the paper
//! - Proofs are kept in commitment form (`w, w̄, f` and `A, B, z`) instead of challenge form, so
//!   that a block's proofs are checked as one multi-scalar multiplication. This costs 64 bytes
//!   per ciphertext and per share; the soundness argument is the same Fiat–Shamir transform.
//! - The KEM is hybrid: the paper's one-time pad is replaced by an AEAD whose key and key
//!   commitment are derived from `r·h`, and the proof's hash binds the payload's digest and the
//!   commitment, so the whole ciphertext is non-malleable.
//! - The encryption key `h` is hashed into the ciphertext challenge, binding each ciphertext to
//!   one epoch's key.
//! - Decryption must be deterministic across honest nodes, including under the optimistic
//!   combine. A key commitment alone does not give that: the encryptor chooses it, so an
//!   encryptor colluding with a share sender can prepare a second point `r·h + Δ` that a
//!   crafted share reaches. The pairing check against `x·g₂` pins the combined point to `r·h`.
//!   The key commitment stays as a cheap early rejection and makes the AEAD key-committing.

mod ciphertext;
pub(crate) mod hash;
pub(crate) mod keys;
mod opened;
mod share;
mod share_batch;

pub use ciphertext::{
    all_valid, decode_ciphertexts, decode_vouched_ciphertexts, encrypt, verify_ciphertexts,
    Ciphertext, Context, Label, VerifiedCiphertext, AEAD_TAG_BYTES, CIPHERTEXT_VERSION,
    HEADER_BYTES, KEY_COMMITMENT_BYTES, LABEL_BYTES,
};
pub use hash::{encode_point, hash_to_g1, second_generator, POINT_BYTES, SCALAR_BYTES};
pub use keys::{trusted_dealer_for_local_testnet, EncryptionKey, KeyShare, PublicKeySet};
pub use opened::check_decryptions;
pub use share::{
    combine, combine_many_optimistic, combine_optimistic, create_share, interpolate, verify_share,
    verify_shares, Decryption, DecryptionShare, VerifiedShare, SHARE_BYTES,
};
/// A point of G1 (arkworks' affine form), as share values and combined points are handed out.
pub type G1Point = ark_bls12_381::G1Affine;
pub use share_batch::{
    combine_share_batches, create_share_batch, decode_share_value, decode_share_values,
    share_batch_from_parts, verify_share_batch, ShareBatch, ShareBatchProof,
    SHARE_BATCH_PROOF_BYTES,
};
