//! BLS signatures on BLS12-381, "min-pk" variant, with `blst`.
//!
//! Public keys live in G1 (48 bytes compressed), signatures in G2 (96 bytes compressed). Hashing
//! to G2 uses the Ethereum ciphersuite [`BLS_SIG_CIPHERSUITE`], so any standard implementation
//! (an Ethereum client, the EIP-2537 precompiles) verifies what Shroud signs.
//!
//! Shroud never signs bytes as they arrived. It signs the 32-byte [`signing_message`]: SHA-256 of
//! a domain tag and the canonical encoding of the object. The domain tags are in
//! [`crate::domains`]; a vote signature can therefore never pass as an output-header signature.
//!
//! Every public key and signature that enters through [`PublicKey::from_bytes`],
//! [`Signature::from_bytes`] or their EIP-2537 forms is checked to be on the curve, in the prime
//! order subgroup and not the point at infinity. Later operations rely on that and skip the
//! checks.

use std::fmt;

use blst::min_pk;
use blst::BLST_ERROR;
use rand_core::{CryptoRng, OsRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::domains::{SigningDomain, BLS_POP_CIPHERSUITE, BLS_SIG_CIPHERSUITE};
use crate::eip2537;
use crate::error::BlsError;

/// Length of a compressed public key.
pub const PUBLIC_KEY_BYTES: usize = 48;
/// Length of a compressed signature.
pub const SIGNATURE_BYTES: usize = 96;
/// Length of a secret key's canonical encoding.
pub const SECRET_KEY_BYTES: usize = 32;
/// Shortest key material accepted by [`SecretKey::from_seed`] (the IETF KeyGen minimum).
pub const SEED_BYTES_MIN: usize = 32;

/// The 32-byte message that Shroud signs for an object: `SHA-256(len(tag) || tag || encoding)`,
/// where `len(tag)` is one byte. The length prefix keeps a tag from running into the encoding.
pub fn signing_message(domain: SigningDomain, encoding: &[u8]) -> [u8; 32] {
    let tag = domain.tag();
    let tag_len = u8::try_from(tag.len()).expect("domain tags are shorter than 256 bytes");
    let mut hasher = Sha256::new();
    hasher.update([tag_len]);
    hasher.update(tag);
    hasher.update(encoding);
    hasher.finalize().into()
}

fn map_blst(error: BLST_ERROR) -> BlsError {
    match error {
        BLST_ERROR::BLST_BAD_ENCODING => BlsError::BadEncoding,
        BLST_ERROR::BLST_POINT_NOT_ON_CURVE => BlsError::NotOnCurve,
        BLST_ERROR::BLST_POINT_NOT_IN_GROUP => BlsError::NotInSubgroup,
        BLST_ERROR::BLST_PK_IS_INFINITY => BlsError::Infinity,
        // `map_blst` is only reached on an error path; a stray success counts as a failed
        // check rather than a panic on an input-dependent path.
        BLST_ERROR::BLST_SUCCESS
        | BLST_ERROR::BLST_AGGR_TYPE_MISMATCH
        | BLST_ERROR::BLST_VERIFY_FAIL
        | BLST_ERROR::BLST_BAD_SCALAR => BlsError::BadSignature,
    }
}

fn check(result: BLST_ERROR) -> Result<(), BlsError> {
    if result == BLST_ERROR::BLST_SUCCESS {
        Ok(())
    } else {
        Err(map_blst(result))
    }
}

/// A BLS secret key. Zeroized on drop (by `blst`); never printed.
#[derive(Clone)]
pub struct SecretKey(min_pk::SecretKey);

impl SecretKey {
    /// A fresh key from the operating system's randomness.
    pub fn random() -> Self {
        Self::generate(&mut OsRng)
    }

    /// A fresh key from `rng`, through the IETF KeyGen on 32 bytes of key material.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self::from_seed(seed.as_ref()).expect("32 bytes of key material is the minimum allowed")
    }

    /// The key that the IETF KeyGen derives from `seed` (at least [`SEED_BYTES_MIN`] bytes of
    /// secret, uniformly random key material). The same seed always gives the same key.
    pub fn from_seed(seed: &[u8]) -> Result<Self, BlsError> {
        if seed.len() < SEED_BYTES_MIN {
            return Err(BlsError::SeedTooShort {
                min: SEED_BYTES_MIN,
                got: seed.len(),
            });
        }
        min_pk::SecretKey::key_gen(seed, &[])
            .map(Self)
            .map_err(map_blst)
    }

    /// Decodes a secret key (32 bytes big-endian, non-zero, below the group order).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        if bytes.len() != SECRET_KEY_BYTES {
            return Err(BlsError::WrongLength {
                expected: SECRET_KEY_BYTES,
                got: bytes.len(),
            });
        }
        min_pk::SecretKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| BlsError::BadSecretKey)
    }

    /// The canonical encoding, in a buffer that is wiped when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; SECRET_KEY_BYTES]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.sk_to_pk())
    }

    /// Signs an object of kind `domain` given its canonical encoding.
    pub fn sign(&self, domain: SigningDomain, encoding: &[u8]) -> Signature {
        self.sign_raw(&signing_message(domain, encoding))
    }

    /// A proof of possession: a signature over the compressed public key under the IETF
    /// proof-of-possession tag. A committee accepts a key only with a valid proof.
    pub fn prove_possession(&self) -> ProofOfPossession {
        let public_key = self.public_key().to_bytes();
        ProofOfPossession(Signature(self.0.sign(
            &public_key,
            BLS_POP_CIPHERSUITE,
            &[],
        )))
    }

    /// Signs `message` as given, under the signature ciphersuite. Crate-internal: callers
    /// outside sign through [`SecretKey::sign`], which adds the domain tag.
    pub(crate) fn sign_raw(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message, BLS_SIG_CIPHERSUITE, &[]))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The public key identifies the secret without revealing it.
        write!(f, "SecretKey(for {:?})", self.public_key())
    }
}

/// A BLS public key: a G1 point, checked to be in the subgroup and not infinity.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(min_pk::PublicKey);

impl PublicKey {
    /// Decodes a compressed (48-byte) public key, with subgroup and infinity checks.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        if bytes.len() != PUBLIC_KEY_BYTES {
            return Err(BlsError::WrongLength {
                expected: PUBLIC_KEY_BYTES,
                got: bytes.len(),
            });
        }
        min_pk::PublicKey::key_validate(bytes)
            .map(Self)
            .map_err(map_blst)
    }

    /// The compressed (48-byte) encoding.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_BYTES] {
        self.0.compress()
    }

    /// The EIP-2537 encoding of the point (128 bytes: x then y, each padded to 64 bytes).
    pub fn to_eip2537(&self) -> [u8; eip2537::G1_BYTES] {
        eip2537::g1_from_zcash_uncompressed(&self.0.serialize())
    }

    /// Decodes the EIP-2537 encoding, with subgroup and infinity checks.
    pub fn from_eip2537(bytes: &[u8]) -> Result<Self, BlsError> {
        let uncompressed = eip2537::g1_to_zcash_uncompressed(bytes)?;
        let key = min_pk::PublicKey::deserialize(&uncompressed).map_err(map_blst)?;
        key.validate().map_err(map_blst)?;
        Ok(Self(key))
    }

    /// Verifies `signature` over the object of kind `domain` with canonical `encoding`.
    pub fn verify(
        &self,
        domain: SigningDomain,
        encoding: &[u8],
        signature: &Signature,
    ) -> Result<(), BlsError> {
        self.verify_raw(&signing_message(domain, encoding), signature)
    }

    /// Verifies a signature over `message` as given (no domain tag added).
    pub(crate) fn verify_raw(&self, message: &[u8], signature: &Signature) -> Result<(), BlsError> {
        // Both points were checked on decode (or built from checked points), so blst's own
        // group checks would be repeated work.
        check(
            signature
                .0
                .verify(false, message, BLS_SIG_CIPHERSUITE, &[], &self.0, false),
        )
    }

    /// The sum of `keys`: the key that verifies the aggregate of their signatures over one
    /// message. Fails on an empty list.
    pub fn aggregate<'a>(keys: impl IntoIterator<Item = &'a PublicKey>) -> Result<Self, BlsError> {
        let keys: Vec<&min_pk::PublicKey> = keys.into_iter().map(|key| &key.0).collect();
        if keys.is_empty() {
            return Err(BlsError::EmptyAggregate);
        }
        let aggregate = min_pk::AggregatePublicKey::aggregate(&keys, false).map_err(map_blst)?;
        let key = aggregate.to_public_key();
        // Keys of a committee have proofs of possession, so a sum at infinity means the
        // committee holds k and -k: refuse it rather than accept every signature.
        key.validate().map_err(map_blst)?;
        Ok(Self(key))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(0x{})", hex_prefix(&self.to_bytes()))
    }
}

/// A BLS signature: a G2 point, checked to be in the subgroup and not infinity.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(min_pk::Signature);

impl Signature {
    /// Decodes a compressed (96-byte) signature, with subgroup and infinity checks.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        if bytes.len() != SIGNATURE_BYTES {
            return Err(BlsError::WrongLength {
                expected: SIGNATURE_BYTES,
                got: bytes.len(),
            });
        }
        min_pk::Signature::sig_validate(bytes, true)
            .map(Self)
            .map_err(map_blst)
    }

    /// The compressed (96-byte) encoding.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_BYTES] {
        self.0.compress()
    }

    /// The EIP-2537 encoding of the point (256 bytes: x.c0, x.c1, y.c0, y.c1, each padded to
    /// 64 bytes).
    pub fn to_eip2537(&self) -> [u8; eip2537::G2_BYTES] {
        eip2537::g2_from_zcash_uncompressed(&self.0.serialize())
    }

    /// Decodes the EIP-2537 encoding, with subgroup and infinity checks.
    pub fn from_eip2537(bytes: &[u8]) -> Result<Self, BlsError> {
        let uncompressed = eip2537::g2_to_zcash_uncompressed(bytes)?;
        let signature = min_pk::Signature::deserialize(&uncompressed).map_err(map_blst)?;
        signature.validate(true).map_err(map_blst)?;
        Ok(Self(signature))
    }

    /// The sum of `signatures`. Fails on an empty list.
    pub fn aggregate<'a>(
        signatures: impl IntoIterator<Item = &'a Signature>,
    ) -> Result<Self, BlsError> {
        let signatures: Vec<&min_pk::Signature> = signatures
            .into_iter()
            .map(|signature| &signature.0)
            .collect();
        if signatures.is_empty() {
            return Err(BlsError::EmptyAggregate);
        }
        let aggregate =
            min_pk::AggregateSignature::aggregate(&signatures, false).map_err(map_blst)?;
        Ok(Self(aggregate.to_signature()))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature(0x{})", hex_prefix(&self.to_bytes()))
    }
}

/// A proof that the holder of a public key knows its secret key (the rogue-key defence).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ProofOfPossession(Signature);

impl ProofOfPossession {
    /// Decodes a compressed (96-byte) proof.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        Signature::from_bytes(bytes).map(Self)
    }

    /// The compressed (96-byte) encoding.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_BYTES] {
        self.0.to_bytes()
    }

    /// Checks the proof for `public_key`.
    pub fn verify(&self, public_key: &PublicKey) -> Result<(), BlsError> {
        let message = public_key.to_bytes();
        check(self.0 .0.verify(
            false,
            &message,
            BLS_POP_CIPHERSUITE,
            &[],
            &public_key.0,
            false,
        ))
        .map_err(|_| BlsError::BadProofOfPossession)
    }
}

/// Verifies one aggregate signature over several distinct objects of kind `domain`, each signed
/// by the holders of an (aggregate) key: `e(g, σ) = Π e(pk_j, H(m_j))`, one Miller loop per
/// object plus one. A timeout certificate is checked this way, with one object per distinct
/// highest-QC view. The encodings must be distinct; keys must come from a committee whose
/// members proved possession.
pub fn verify_aggregate(
    domain: SigningDomain,
    items: &[(PublicKey, &[u8])],
    signature: &Signature,
) -> Result<(), BlsError> {
    if items.is_empty() {
        return Err(BlsError::EmptyAggregate);
    }
    let messages: Vec<[u8; 32]> = items
        .iter()
        .map(|(_, encoding)| signing_message(domain, encoding))
        .collect();
    let mut sorted = messages.clone();
    sorted.sort_unstable();
    if sorted.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(BlsError::DuplicateMessage);
    }
    let message_refs: Vec<&[u8]> = messages.iter().map(|message| message.as_slice()).collect();
    let keys: Vec<&min_pk::PublicKey> = items.iter().map(|(key, _)| &key.0).collect();
    check(
        signature
            .0
            .aggregate_verify(false, &message_refs, BLS_SIG_CIPHERSUITE, &keys, false),
    )
}

/// One signature to check in [`verify_batch`].
#[derive(Clone, Copy, Debug)]
pub struct BatchItem<'a> {
    /// The signer.
    pub public_key: &'a PublicKey,
    /// The kind of object signed.
    pub domain: SigningDomain,
    /// The object's canonical encoding.
    pub encoding: &'a [u8],
    /// The signature to check.
    pub signature: &'a Signature,
}

/// Bits of each random coefficient in [`verify_batch`]: a batch with a bad signature passes
/// with probability about 2^-64.
const BATCH_RANDOM_BITS: usize = 64;

/// Verifies many signatures over different messages at once, by a random linear combination:
/// one multi-pairing instead of one pairing check each. Succeeds only if every signature is
/// valid (except with probability about 2^-64); on failure, check them one by one to find the
/// bad ones. An empty batch is an error, so a caller cannot mistake "nothing checked" for valid.
pub fn verify_batch<R: RngCore + CryptoRng>(
    items: &[BatchItem<'_>],
    rng: &mut R,
) -> Result<(), BlsError> {
    if items.is_empty() {
        return Err(BlsError::EmptyAggregate);
    }
    let messages: Vec<[u8; 32]> = items
        .iter()
        .map(|item| signing_message(item.domain, item.encoding))
        .collect();
    let message_refs: Vec<&[u8]> = messages.iter().map(|message| message.as_slice()).collect();
    let keys: Vec<&min_pk::PublicKey> = items.iter().map(|item| &item.public_key.0).collect();
    let signatures: Vec<&min_pk::Signature> = items.iter().map(|item| &item.signature.0).collect();
    let randomness: Vec<blst::blst_scalar> =
        items.iter().map(|_| random_nonzero_scalar(rng)).collect();
    check(min_pk::Signature::verify_multiple_aggregate_signatures(
        &message_refs,
        BLS_SIG_CIPHERSUITE,
        &keys,
        false,
        &signatures,
        false,
        &randomness,
        BATCH_RANDOM_BITS,
    ))
}

fn random_nonzero_scalar<R: RngCore + CryptoRng>(rng: &mut R) -> blst::blst_scalar {
    let mut scalar = blst::blst_scalar::default();
    loop {
        let value = rng.next_u64();
        if value != 0 {
            scalar.b[..8].copy_from_slice(&value.to_le_bytes());
            return scalar;
        }
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(16);
    for byte in bytes.iter().take(8) {
        out.push_str(&format!("{byte:02x}"));
    }
    out.push('…');
    out
}

impl Zeroize for SecretKey {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}
