//! `shroud-crypto`: the cryptography every other Shroud crate stands on: BLS signatures and
//! certificates (blst, min-pk), TDH2 threshold encryption (arkworks, BLS12-381 G1), Shamir
//! sharing, and the domain-separation tags.
//!
//! # Design
//! - [`bls`]: keys, signatures and proofs of possession in the Ethereum ciphersuite; every
//!   signature is over a domain-tagged hash of a canonical encoding ([`bls::signing_message`]);
//!   batch verification of many signatures by a random linear combination.
//! - [`certificate`]: a signer bitmap plus one aggregate signature, verified with one aggregate
//!   key and one pairing check against a committee whose keys all proved possession.
//! - [`eip2537`]: the uncompressed point layout of the Ethereum BLS12-381 precompiles.
//! - [`tdh2`]: the CCA-secure threshold KEM with a label, hybrid with a key-committing AEAD;
//!   decryption shares with proofs, checked singly or in batches, combined optimistically; a
//!   validator's shares of a block with one batched proof ([`tdh2::ShareBatch`]).
//! - [`dkg`]: the distributed key generation (Joint-Feldman with complaints judged from the
//!   committed transcript), which gives each validator its TDH2 key share with no dealer.
//! - [`shamir`]: polynomials over the scalar field and Lagrange coefficients at zero.
//! - [`secret_scalar`]: secret scalars (key shares, nonces, encryption randomness) as a type
//!   whose only multiplications are constant-time, in blst.
//! - [`domains`]: every domain tag; changing one is a breaking change.
//! - [`encodings`]: the canonical bytes that committee signatures cover.
//!
//! # Safety rules this crate enforces
//! - Decoding checks structure (lengths, subgroup membership, canonical scalars, no identity,
//!   no trailing bytes); verification is an explicit, separate step whose success is a type
//!   ([`tdh2::VerifiedCiphertext`], [`tdh2::VerifiedShare`]). Only verified ciphertexts get
//!   decryption shares.
//! - Secret keys and key shares are wiped on drop and their `Debug` output is redacted; every
//!   multiplication by a secret scalar runs in constant time ([`secret_scalar`]).
//! - A committee key without a valid proof of possession is refused
//!   ([`certificate::CommitteeKeys::new`]), which is what makes one-pairing certificate checks
//!   sound against rogue keys.
//! - The trusted dealer ([`tdh2::trusted_dealer_for_local_testnet`]) is for local test
//!   networks only; its operator can read every transaction.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod bls;
pub mod certificate;
pub mod dkg;
pub mod domains;
pub mod eip2537;
pub mod encodings;
pub mod error;
pub mod secret_scalar;
pub mod shamir;
pub mod tdh2;

#[cfg(test)]
mod vector_tests;

pub use bls::{ProofOfPossession, PublicKey, SecretKey, Signature};
pub use certificate::{Certificate, CertificateBuilder, CommitteeKeys, SignerBitmap};
pub use domains::SigningDomain;
pub use error::{BlsError, CertificateError, ThresholdError};
