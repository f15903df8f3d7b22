//! The TDH2 ciphertext: encryption, the validity proof, and the wire format.

use ark_bls12_381::{Fr, G1Affine, G1Projective};
use ark_ec::{AffineRepr, VariableBaseMSM};
use ark_ff::Zero;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use hkdf::Hkdf;
use rand_core::{CryptoRng, RngCore};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::hash::{
    batch_weight, decode_point, decode_scalar, encode_point, encode_scalar, generator_table,
    second_generator, second_generator_table, ScalarHasher, POINT_BYTES, SCALAR_BYTES,
};
use super::keys::EncryptionKey;
use crate::domains::{TDH2_AEAD_KEY, TDH2_CIPHERTEXT_CHALLENGE, TDH2_LABEL};
use crate::error::ThresholdError;
use crate::secret_scalar::Secret;

/// The current ciphertext format version.
pub const CIPHERTEXT_VERSION: u8 = 2;
/// Length of an encoded [`Label`].
pub const LABEL_BYTES: usize = 56;
/// Length of the key commitment.
pub const KEY_COMMITMENT_BYTES: usize = 32;
/// Length of the AEAD tag at the end of the payload.
pub const AEAD_TAG_BYTES: usize = 16;
/// Length of everything before the payload bytes (see [`Ciphertext::to_bytes`]).
pub const HEADER_BYTES: usize =
    1 + LABEL_BYTES + 4 * POINT_BYTES + SCALAR_BYTES + KEY_COMMITMENT_BYTES + 4;

/// The context a ciphertext is bound to. A ciphertext made under one label fails its proof
/// under any other, so it cannot be replayed on another chain, in another epoch, under
/// another nonce, or with its expiry moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Label {
    /// The chain (Shroud network) the ciphertext is meant for.
    pub chain_id: u64,
    /// The epoch whose key it is encrypted to.
    pub epoch: u64,
    /// The last height at which it may be ordered. Ordered later (a replay, or a delay), its
    /// position fails as expired; the sender picks it within the chain's validity window, so
    /// validators need remember a ciphertext only that long (ADR 0008).
    pub valid_through: u64,
    /// A value the sender picks; two ciphertexts with one label and key are one transaction.
    pub nonce: [u8; 32],
}

impl Label {
    /// `chain_id (u64 BE) || epoch (u64 BE) || valid_through (u64 BE) || nonce (32 bytes)`.
    pub fn to_bytes(&self) -> [u8; LABEL_BYTES] {
        let mut out = [0u8; LABEL_BYTES];
        out[..8].copy_from_slice(&self.chain_id.to_be_bytes());
        out[8..16].copy_from_slice(&self.epoch.to_be_bytes());
        out[16..24].copy_from_slice(&self.valid_through.to_be_bytes());
        out[24..].copy_from_slice(&self.nonce);
        out
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        debug_assert_eq!(bytes.len(), LABEL_BYTES);
        let word = |at: usize| {
            let mut out = [0u8; 8];
            out.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(out)
        };
        let mut nonce = [0u8; 32];
        nonce.copy_from_slice(&bytes[24..LABEL_BYTES]);
        Self {
            chain_id: word(0),
            epoch: word(8),
            valid_through: word(16),
            nonce,
        }
    }

    /// The label as a ciphertext's wire bytes state it, without decoding or checking anything
    /// else (`None` for an unknown version or too few bytes). Nothing here is authenticated:
    /// only [`Ciphertext::verify`] shows that the label is the one the sender encrypted under.
    /// The order uses it to know how long to remember a transaction id, which is safe for any
    /// value because the committed order alone decides it.
    pub fn peek(ciphertext: &[u8]) -> Option<Self> {
        if ciphertext.first() != Some(&CIPHERTEXT_VERSION) {
            return None;
        }
        ciphertext.get(1..1 + LABEL_BYTES).map(Self::from_bytes)
    }
}

/// What a ciphertext's label must say to be accepted: the chain and the epoch of the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Context {
    /// The chain id this node serves.
    pub chain_id: u64,
    /// The epoch whose key the ciphertext must be encrypted to.
    pub epoch: u64,
}

/// A threshold ciphertext (TDH2 KEM with a proof of knowledge of the randomness, plus a
/// key-committing ChaCha20-Poly1305 payload).
///
/// With `g` the standard generator, `ḡ` the [second generator](super::hash::second_generator),
/// `h` the encryption key and fresh scalars `r, s`: `u = r·g`, `ū = r·ḡ`, `w = s·g`,
/// `w̄ = s·ḡ`, `e = H(version, label, h, u, ū, w, w̄, key_commitment, SHA-256(payload))`,
/// `f = s + r·e`. The shared point `r·h` keys the AEAD. The proof `(w, w̄, f)` is kept in
/// commitment form (rather than TDH2's `(e, f)`) so that a block of ciphertexts is checked with
/// one multi-scalar multiplication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ciphertext {
    pub(crate) label: Label,
    pub(crate) u: G1Affine,
    pub(crate) u_bar: G1Affine,
    pub(crate) w: G1Affine,
    pub(crate) w_bar: G1Affine,
    pub(crate) f: Fr,
    pub(crate) key_commitment: [u8; KEY_COMMITMENT_BYTES],
    pub(crate) payload: Vec<u8>,
}

/// The AEAD key and the key commitment derived from the KEM's shared point.
pub(crate) struct DerivedKeys {
    pub(crate) aead_key: Zeroizing<[u8; 32]>,
    pub(crate) commitment: [u8; KEY_COMMITMENT_BYTES],
}

/// HKDF-SHA256 from the shared point `r·h` to the AEAD key and the key commitment, with the
/// label and `u` as context. The commitment makes the AEAD key-committing: a combination that
/// yields a different point is caught by the commitment, not by luck in the AEAD.
pub(crate) fn derive_keys(shared: &G1Affine, label: &Label, u: &G1Affine) -> DerivedKeys {
    let shared_bytes = Zeroizing::new(encode_point(shared));
    let hkdf = Hkdf::<Sha256>::new(Some(TDH2_AEAD_KEY), shared_bytes.as_ref());
    let mut info = Vec::with_capacity(LABEL_BYTES + POINT_BYTES);
    info.extend_from_slice(&label.to_bytes());
    info.extend_from_slice(&encode_point(u));
    let mut okm = Zeroizing::new([0u8; 64]);
    hkdf.expand(&info, okm.as_mut())
        .expect("64 bytes is within HKDF-SHA256's output limit");
    let mut aead_key = Zeroizing::new([0u8; 32]);
    aead_key.copy_from_slice(&okm[..32]);
    let mut commitment = [0u8; KEY_COMMITMENT_BYTES];
    commitment.copy_from_slice(&okm[32..]);
    DerivedKeys {
        aead_key,
        commitment,
    }
}

/// The AEAD's associated data: the version and the label (with a domain tag).
fn associated_data(label: &Label) -> Vec<u8> {
    let mut data = Vec::with_capacity(TDH2_LABEL.len() + 1 + LABEL_BYTES);
    data.extend_from_slice(TDH2_LABEL);
    data.push(CIPHERTEXT_VERSION);
    data.extend_from_slice(&label.to_bytes());
    data
}

/// The AEAD nonce. Each AEAD key is derived from fresh randomness `r` and used for exactly one
/// message, so a fixed nonce is safe.
const AEAD_NONCE: [u8; 12] = [0u8; 12];

/// The AEAD encryption of `plaintext` under derived `keys`.
pub(crate) fn seal(keys: &DerivedKeys, label: &Label, plaintext: &[u8]) -> Vec<u8> {
    let cipher = ChaCha20Poly1305::new(keys.aead_key.as_ref().into());
    cipher
        .encrypt(
            &AEAD_NONCE.into(),
            Payload {
                msg: plaintext,
                aad: &associated_data(label),
            },
        )
        .expect("ChaCha20-Poly1305 encrypts any message shorter than 256 GiB")
}

/// Encrypts `plaintext` to `key` under `label`.
pub fn encrypt<R: RngCore + CryptoRng>(
    key: &EncryptionKey,
    label: Label,
    plaintext: &[u8],
    rng: &mut R,
) -> Ciphertext {
    let (r, s) = (Secret::random(rng), Secret::random(rng));
    // `r` and `s` are secret (`r` opens the payload): constant-time multiplications only.
    let g_bar = second_generator();
    let (u, u_bar, w, w_bar, shared) = (
        r.g1_generator(),
        r.g1(&g_bar),
        s.g1_generator(),
        s.g1(&g_bar),
        r.g1(&key.0),
    );
    let keys = derive_keys(&shared, &label, &u);
    let payload = seal(&keys, &label, plaintext);
    let mut ciphertext = Ciphertext {
        label,
        u,
        u_bar,
        w,
        w_bar,
        f: Fr::zero(),
        key_commitment: keys.commitment,
        payload,
    };
    let e = ciphertext.challenge(key);
    ciphertext.f = s.respond(&e, &r);
    ciphertext
}

impl Ciphertext {
    /// The label this ciphertext is bound to.
    pub fn label(&self) -> &Label {
        &self.label
    }

    /// The encrypted payload (AEAD output, tag included).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// `u = r·g`, the point that decryption shares raise to the key shares.
    pub fn u(&self) -> &G1Affine {
        &self.u
    }

    /// The compressed encoding of `u`: it identifies the encapsulated key, so two ciphertexts
    /// with the same `u` decrypt to the same shared point (a replayed encapsulation).
    pub fn encapsulation_bytes(&self) -> [u8; POINT_BYTES] {
        encode_point(&self.u)
    }

    /// The encapsulation `u` as a ciphertext's wire bytes carry it, without decoding
    /// (`None` for an unknown version or too few bytes). For a ciphertext that decodes it
    /// equals [`Ciphertext::encapsulation_bytes`] (the encoding is canonical); the pruner uses
    /// it to find index entries without paying for point decompression.
    pub fn peek_encapsulation(bytes: &[u8]) -> Option<[u8; POINT_BYTES]> {
        if bytes.first() != Some(&CIPHERTEXT_VERSION) {
            return None;
        }
        let start = 1 + LABEL_BYTES;
        bytes.get(start..start + POINT_BYTES)?.try_into().ok()
    }

    /// The Fiat–Shamir challenge `e` of the validity proof.
    pub(crate) fn challenge(&self, key: &EncryptionKey) -> Fr {
        let payload_digest: [u8; 32] = Sha256::digest(&self.payload).into();
        ScalarHasher::new(TDH2_CIPHERTEXT_CHALLENGE)
            .bytes(&[CIPHERTEXT_VERSION])
            .bytes(&self.label.to_bytes())
            .point(&key.0)
            .point(&self.u)
            .point(&self.u_bar)
            .point(&self.w)
            .point(&self.w_bar)
            .bytes(&self.key_commitment)
            .bytes(&payload_digest)
            .finish()
    }

    fn check_context(&self, context: &Context) -> Result<(), ThresholdError> {
        if self.label.chain_id != context.chain_id {
            return Err(ThresholdError::WrongLabel {
                field: "chain id",
                expected: context.chain_id,
                got: self.label.chain_id,
            });
        }
        if self.label.epoch != context.epoch {
            return Err(ThresholdError::WrongLabel {
                field: "epoch",
                expected: context.epoch,
                got: self.label.epoch,
            });
        }
        Ok(())
    }

    /// Checks that the label names `context` and the validity proof holds for `key`:
    /// `f·g = w + e·u` and `f·ḡ = w̄ + e·ū`. A ciphertext that passes was built by someone who
    /// knows `r`, for this key and label, and was not altered since; only such a ciphertext may
    /// get decryption shares. The label check matters because a re-shared key keeps `h` across
    /// epochs: the proof alone would accept an old epoch's ciphertext.
    pub fn verify(
        self,
        key: &EncryptionKey,
        context: &Context,
    ) -> Result<VerifiedCiphertext, ThresholdError> {
        self.check_context(context)?;
        let e = self.challenge(key);
        // The generators' multiples come from fixed tables; only `e·u` and `e·ū` are
        // variable-base (all scalars here are public).
        let first = generator_table().mul(&self.f) - self.u * e - self.w;
        let second = second_generator_table().mul(&self.f) - self.u_bar * e - self.w_bar;
        if first.is_zero() && second.is_zero() {
            Ok(VerifiedCiphertext::checked(self, key))
        } else {
            Err(ThresholdError::InvalidCiphertext)
        }
    }

    /// The wire encoding, version 2 (docs/wire.md spells out how to build one):
    ///
    /// | bytes | field |
    /// |---|---|
    /// | 1 | version (2) |
    /// | 56 | label: chain id (u64 BE), epoch (u64 BE), valid through (u64 BE), nonce (32) |
    /// | 4 × 48 | `u`, `ū`, `w`, `w̄`, compressed G1 (zcash layout) |
    /// | 32 | `f`, big-endian scalar below the group order |
    /// | 32 | key commitment |
    /// | 4 | payload length (u32 BE) |
    /// | len | payload: ChaCha20-Poly1305 ciphertext and 16-byte tag |
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_BYTES + self.payload.len());
        out.push(CIPHERTEXT_VERSION);
        out.extend_from_slice(&self.label.to_bytes());
        for point in [&self.u, &self.u_bar, &self.w, &self.w_bar] {
            out.extend_from_slice(&encode_point(point));
        }
        out.extend_from_slice(&encode_scalar(&self.f));
        out.extend_from_slice(&self.key_commitment);
        let payload_len =
            u32::try_from(self.payload.len()).expect("payloads are bounded far below 4 GiB");
        out.extend_from_slice(&payload_len.to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }

    /// Decodes the wire encoding: known version, payload of at most `payload_bytes_max`
    /// (and at least the AEAD tag), points in the subgroup and not the identity, a canonical
    /// scalar, no trailing bytes. Decoding does not check the proof; see
    /// [`Ciphertext::verify`].
    pub fn from_bytes(bytes: &[u8], payload_bytes_max: usize) -> Result<Self, ThresholdError> {
        let parsed = Parsed::new(bytes, payload_bytes_max)?;
        Ok(Self {
            label: parsed.label,
            u: decode_point(parsed.points[0], "u")?,
            u_bar: decode_point(parsed.points[1], "u_bar")?,
            w: decode_point(parsed.points[2], "w")?,
            w_bar: decode_point(parsed.points[3], "w_bar")?,
            f: decode_scalar(parsed.f, "f")?,
            key_commitment: parsed.key_commitment,
            payload: parsed.payload.to_vec(),
        })
    }
}

/// A ciphertext's wire encoding split into its fields, lengths and version checked, nothing
/// decoded yet.
struct Parsed<'a> {
    label: Label,
    points: [&'a [u8]; 4],
    f: &'a [u8],
    key_commitment: [u8; KEY_COMMITMENT_BYTES],
    payload: &'a [u8],
}

impl<'a> Parsed<'a> {
    fn new(bytes: &'a [u8], payload_bytes_max: usize) -> Result<Self, ThresholdError> {
        if bytes.len() < HEADER_BYTES {
            return Err(ThresholdError::WrongLength {
                expected: HEADER_BYTES,
                got: bytes.len(),
            });
        }
        if bytes[0] != CIPHERTEXT_VERSION {
            return Err(ThresholdError::UnknownVersion(bytes[0]));
        }
        let mut reader = Reader::new(&bytes[1..]);
        let label = Label::from_bytes(reader.take(LABEL_BYTES));
        let points = [
            reader.take(POINT_BYTES),
            reader.take(POINT_BYTES),
            reader.take(POINT_BYTES),
            reader.take(POINT_BYTES),
        ];
        let f = reader.take(SCALAR_BYTES);
        let mut key_commitment = [0u8; KEY_COMMITMENT_BYTES];
        key_commitment.copy_from_slice(reader.take(KEY_COMMITMENT_BYTES));
        let mut length = [0u8; 4];
        length.copy_from_slice(reader.take(4));
        let payload_len = usize::try_from(u32::from_be_bytes(length)).unwrap_or(usize::MAX);
        if payload_len > payload_bytes_max {
            return Err(ThresholdError::PayloadTooLarge {
                max: payload_bytes_max,
                got: payload_len,
            });
        }
        if payload_len < AEAD_TAG_BYTES || reader.remaining() != payload_len {
            return Err(ThresholdError::WrongLength {
                expected: HEADER_BYTES.saturating_add(payload_len.max(AEAD_TAG_BYTES)),
                got: bytes.len(),
            });
        }
        Ok(Self {
            label,
            points,
            f,
            key_commitment,
            payload: reader.take(payload_len),
        })
    }
}

/// A reader over a slice whose total length the caller has checked.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn take(&mut self, count: usize) -> &'a [u8] {
        let (head, tail) = self.bytes.split_at(count);
        self.bytes = tail;
        head
    }

    fn remaining(&self) -> usize {
        self.bytes.len()
    }
}

/// A ciphertext whose label and validity proof were checked against an epoch's context and
/// encryption key (which it remembers), or whose check `f + 1` validators vouched for (see
/// [`VerifiedCiphertext::vouched`]). Only a verified ciphertext gets a decryption share. It
/// keeps what decryption needs; the proof is dropped once checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCiphertext {
    label: Label,
    u: G1Affine,
    key_commitment: [u8; KEY_COMMITMENT_BYTES],
    payload: Vec<u8>,
    key: EncryptionKey,
}

impl VerifiedCiphertext {
    fn checked(ciphertext: Ciphertext, key: &EncryptionKey) -> Self {
        Self {
            label: ciphertext.label,
            u: ciphertext.u,
            key_commitment: ciphertext.key_commitment,
            payload: ciphertext.payload,
            key: *key,
        }
    }

    /// Decodes a ciphertext whose proof was checked before by a party trusted for it, without
    /// checking the proof again: the version, lengths and payload limit as
    /// [`Ciphertext::from_bytes`] checks them, the label (parsed, not checked), and `u`
    /// (square root, subgroup and identity checks: `u` is what key shares multiply, so it is
    /// checked whoever vouched);
    /// `ū`, `w`, `w̄` and `f` are not decoded. Shroud calls it only for ciphertexts of a
    /// certified batch, whose `f + 1` acknowledgements each attest that their signer checked
    /// every ciphertext in it, so at least one honest validator did (ADR 0011). The caller
    /// checks the label against its context.
    pub fn vouched(
        bytes: &[u8],
        payload_bytes_max: usize,
        key: &EncryptionKey,
    ) -> Result<Self, ThresholdError> {
        let parsed = Parsed::new(bytes, payload_bytes_max)?;
        Ok(Self {
            label: parsed.label,
            u: decode_point(parsed.points[0], "u")?,
            key_commitment: parsed.key_commitment,
            payload: parsed.payload.to_vec(),
            key: *key,
        })
    }

    /// The label the ciphertext is bound to.
    pub fn label(&self) -> &Label {
        &self.label
    }

    /// `u = r·g`, the point that decryption shares raise to the key shares.
    pub fn u(&self) -> &G1Affine {
        &self.u
    }

    /// The compressed encoding of `u` (see [`Ciphertext::encapsulation_bytes`]).
    pub fn encapsulation_bytes(&self) -> [u8; POINT_BYTES] {
        encode_point(&self.u)
    }

    /// The encrypted payload (AEAD output, tag included).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The key the proof was checked against.
    pub fn key(&self) -> &EncryptionKey {
        &self.key
    }

    /// Opens the payload with a candidate shared point: the key commitment must match, then
    /// the AEAD must authenticate. Only the true `r·h` opens an honestly made ciphertext;
    /// callers that combine unverified shares must first check the point (see
    /// [`super::combine_optimistic`]).
    pub fn open(&self, shared: &G1Affine) -> Result<Vec<u8>, ThresholdError> {
        let keys = derive_keys(shared, &self.label, &self.u);
        if !bool::from(keys.commitment.ct_eq(&self.key_commitment)) {
            return Err(ThresholdError::DecryptionFailed);
        }
        let cipher = ChaCha20Poly1305::new(keys.aead_key.as_ref().into());
        cipher
            .decrypt(
                &AEAD_NONCE.into(),
                Payload {
                    msg: &self.payload,
                    aad: &associated_data(&self.label),
                },
            )
            .map_err(|_| ThresholdError::DecryptionFailed)
    }
}

/// Checks many ciphertexts' proofs with one multi-scalar multiplication (a random linear
/// combination of both equations of every proof, 128-bit weights). When the combined check
/// fails, each ciphertext is checked alone so that only the bad ones are refused. The results
/// are in input order.
pub fn verify_ciphertexts<R: RngCore + CryptoRng>(
    ciphertexts: Vec<Ciphertext>,
    key: &EncryptionKey,
    context: &Context,
    rng: &mut R,
) -> Vec<Result<VerifiedCiphertext, ThresholdError>> {
    let labels_match = ciphertexts
        .iter()
        .all(|ciphertext| ciphertext.check_context(context).is_ok());
    if labels_match && ciphertexts.len() > 1 && batch_holds(&ciphertexts, key, rng) {
        return ciphertexts
            .into_iter()
            .map(|ciphertext| Ok(VerifiedCiphertext::checked(ciphertext, key)))
            .collect();
    }
    ciphertexts
        .into_iter()
        .map(|ciphertext| ciphertext.verify(key, context))
        .collect()
}

/// Whether every ciphertext's wire bytes decode and name `context`, and every proof holds for
/// `key`: a yes or no, stopping at the first that does not decode or names another context,
/// and checking all proofs with one multi-scalar multiplication (no one-by-one fallback, so a
/// bad item costs no more than a good one). What a validator needs to vouch for a batch.
pub fn all_valid<R: RngCore + CryptoRng>(
    items: &[&[u8]],
    payload_bytes_max: usize,
    key: &EncryptionKey,
    context: &Context,
    rng: &mut R,
) -> bool {
    let decoded: Result<Vec<Ciphertext>, ThresholdError> = items
        .par_iter()
        .map(|bytes| Ciphertext::from_bytes(bytes, payload_bytes_max))
        .collect();
    let Ok(ciphertexts) = decoded else {
        return false;
    };
    if ciphertexts
        .iter()
        .any(|ciphertext| ciphertext.check_context(context).is_err())
    {
        return false;
    }
    ciphertexts.is_empty() || batch_holds(&ciphertexts, key, rng)
}

fn batch_holds<R: RngCore + CryptoRng>(
    ciphertexts: &[Ciphertext],
    key: &EncryptionKey,
    rng: &mut R,
) -> bool {
    // Σ ρ_k (f_k·g − w_k − e_k·u_k) + Σ σ_k (f_k·ḡ − w̄_k − e_k·ū_k) = 0
    let mut bases = Vec::with_capacity(4 * ciphertexts.len() + 2);
    let mut scalars = Vec::with_capacity(4 * ciphertexts.len() + 2);
    let mut g_scalar = Fr::zero();
    let mut g_bar_scalar = Fr::zero();
    for ciphertext in ciphertexts {
        let e = ciphertext.challenge(key);
        let rho = batch_weight(rng);
        let sigma = batch_weight(rng);
        g_scalar += rho * ciphertext.f;
        g_bar_scalar += sigma * ciphertext.f;
        bases.extend([
            ciphertext.w,
            ciphertext.u,
            ciphertext.w_bar,
            ciphertext.u_bar,
        ]);
        scalars.extend([-rho, -(rho * e), -sigma, -(sigma * e)]);
    }
    bases.extend([G1Affine::generator(), second_generator()]);
    scalars.extend([g_scalar, g_bar_scalar]);
    // One multi-scalar multiplication, split over the current rayon pool's workers.
    let workers = rayon::current_num_threads().max(1);
    let chunk = bases.len().div_ceil(workers).max(MSM_CHUNK_MIN);
    let sum: G1Projective = bases
        .par_chunks(chunk)
        .zip(scalars.par_chunks(chunk))
        .map(|(bases, scalars)| G1Projective::msm(bases, scalars).expect("one scalar per base"))
        .sum();
    sum.is_zero()
}

/// Terms below which a multi-scalar multiplication is not split further.
const MSM_CHUNK_MIN: usize = 64;

/// Decodes many ciphertexts (see [`Ciphertext::from_bytes`]) on every worker of the current
/// rayon pool, one result per input, in order.
pub fn decode_ciphertexts(
    items: &[&[u8]],
    payload_bytes_max: usize,
) -> Vec<Result<Ciphertext, ThresholdError>> {
    items
        .par_iter()
        .map(|bytes| Ciphertext::from_bytes(bytes, payload_bytes_max))
        .collect()
}

/// Decodes many vouched-for ciphertexts (see [`VerifiedCiphertext::vouched`]) on every
/// worker of the current rayon pool, one result per input, in order.
pub fn decode_vouched_ciphertexts(
    items: &[&[u8]],
    payload_bytes_max: usize,
    key: &EncryptionKey,
) -> Vec<Result<VerifiedCiphertext, ThresholdError>> {
    items
        .par_iter()
        .map(|bytes| VerifiedCiphertext::vouched(bytes, payload_bytes_max, key))
        .collect()
}
