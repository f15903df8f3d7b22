//! The DKG's keys, parameters and messages: dealings with their encrypted shares, complaints
//! with their proofs, and the canonical encoding every validator signs and decodes.

use std::fmt;

use ark_bls12_381::{Fr, G1Affine, G1Projective, G2Affine};
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest as _, Sha256};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::domains;
use crate::error::ThresholdError;
use crate::secret_scalar::Secret;
use crate::shamir::SecretPolynomial;
use crate::tdh2::hash::{decode_point, decode_scalar, encode_point, encode_scalar, ScalarHasher};
use crate::tdh2::{POINT_BYTES, SCALAR_BYTES};

/// The version byte in front of every DKG message.
pub const DKG_MESSAGE_VERSION: u8 = 1;
const KIND_DEALING: u8 = 1;
const KIND_RESPONSE: u8 = 2;
const G2_BYTES: usize = 96;

/// A DKG message, key or parameter set that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DkgError {
    /// Bytes that are not a DKG message (structure, lengths, points, trailing bytes).
    #[error("malformed DKG message: {0}")]
    Malformed(&'static str),
    /// A message version this code does not know.
    #[error("unknown DKG message version {0}")]
    UnknownVersion(u8),
    /// Parameters that make no sense for a committee.
    #[error("DKG parameters: {0}")]
    BadParameters(String),
    /// A key that does not decode.
    #[error("DKG key: {0}")]
    Key(#[from] ThresholdError),
}

/// A validator's secret key for receiving its dealt shares: dealers encrypt each share to the
/// recipient's public key (`sk·g` in G1). It is not the BLS signing key: a complaint reveals
/// `sk·R` for a point `R` that a dealer chose, which must never touch the signing key. Wiped on
/// drop, never printed.
pub struct DkgSecretKey {
    secret: Secret,
    public: DkgPublicKey,
}

impl DkgSecretKey {
    /// A fresh random key.
    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self::from_secret(Secret::random(rng))
    }

    fn from_secret(secret: Secret) -> Self {
        let public = DkgPublicKey(secret.g1_generator());
        Self { secret, public }
    }

    /// Decodes the 32-byte big-endian secret (from a key file); refuses zero.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DkgError> {
        let value = Zeroizing::new(decode_scalar(bytes, "DKG secret key")?);
        if *value == Fr::from(0u64) {
            return Err(DkgError::BadParameters("the DKG secret key is zero".into()));
        }
        Ok(Self::from_secret(Secret::new(*value)))
    }

    /// The 32-byte big-endian secret, in a buffer wiped on drop (for the key file).
    pub fn to_bytes(&self) -> Zeroizing<[u8; SCALAR_BYTES]> {
        Zeroizing::new(encode_scalar(self.secret.expose()))
    }

    /// The public key.
    pub fn public_key(&self) -> DkgPublicKey {
        self.public
    }

    pub(crate) fn secret(&self) -> &Secret {
        &self.secret
    }
}

impl fmt::Debug for DkgSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DkgSecretKey({:?}, <redacted>)", self.public)
    }
}

/// A validator's public DKG key (48-byte compressed G1 point), listed in the genesis file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DkgPublicKey(pub(crate) G1Affine);

impl DkgPublicKey {
    /// The compressed encoding.
    pub fn to_bytes(&self) -> [u8; POINT_BYTES] {
        encode_point(&self.0)
    }

    /// Decodes a compressed key with subgroup checks; refuses the identity.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DkgError> {
        Ok(Self(decode_point(bytes, "DKG public key")?))
    }
}

impl fmt::Debug for DkgPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DkgPublicKey(0x")?;
        for byte in &self.to_bytes()[..8] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, "…)")
    }
}

/// What every participant must agree on before the DKG starts (all of it comes from the
/// genesis file): the session (a digest of the chain id, epoch and members, bound into every
/// hash of the protocol), the threshold, the members' DKG keys in index order, and how many
/// committed heights each phase lasts at most.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DkgParams {
    session: [u8; 32],
    threshold: usize,
    members: Vec<DkgPublicKey>,
    window_heights: u64,
}

impl DkgParams {
    /// Checks the parameters: `1 <= t <= n <= 65535`, distinct keys, a window of at least one
    /// height.
    pub fn new(
        session: [u8; 32],
        threshold: usize,
        members: Vec<DkgPublicKey>,
        window_heights: u64,
    ) -> Result<Self, DkgError> {
        let count = members.len();
        if threshold == 0 || threshold > count || count > usize::from(u16::MAX) {
            return Err(DkgError::BadParameters(format!(
                "threshold {threshold} of {count} members"
            )));
        }
        if window_heights == 0 {
            return Err(DkgError::BadParameters("a phase of zero heights".into()));
        }
        for (index, key) in members.iter().enumerate() {
            if let Some(first) = members[..index].iter().position(|other| other == key) {
                return Err(DkgError::BadParameters(format!(
                    "members {first} and {index} have the same DKG key"
                )));
            }
        }
        Ok(Self {
            session,
            threshold,
            members,
            window_heights,
        })
    }

    /// The number of members `n`.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// The threshold `t`.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// The most members that may be faulty, `f = (n - 1) / 3`.
    pub fn fault_bound(&self) -> usize {
        (self.members.len() - 1) / 3
    }

    /// How many committed heights a phase lasts at most.
    pub fn window_heights(&self) -> u64 {
        self.window_heights
    }

    /// The session digest.
    pub fn session(&self) -> &[u8; 32] {
        &self.session
    }

    pub(crate) fn member_key(&self, index: u16) -> Option<&G1Affine> {
        self.members.get(usize::from(index)).map(|key| &key.0)
    }
}

/// A dealer's public contribution: Feldman commitments `A_k = a_k·g` to its polynomial
/// `a(z) = a_0 + … + a_{t-1} z^{t-1}`, its constant term in G2 (`a_0·g₂`, checked against
/// `A_0` by a pairing, so the committee's `x·g₂` is the sum over qualified dealers), an
/// ephemeral point `R = ρ·g`, and the share `a(j+1)` of every member `j`, encrypted under
/// `ρ·E_j` (`E_j` the member's DKG key).
#[derive(Clone, PartialEq, Eq)]
pub struct Dealing {
    pub(crate) commitment: Vec<G1Affine>,
    pub(crate) key_g2: G2Affine,
    pub(crate) ephemeral: G1Affine,
    /// A Schnorr proof that the dealer knows `ρ` (bound to the session, round and dealer), so
    /// no dealer can post another's `R` (or a multiple of it) and make honest members' complaints
    /// reveal `sk_j·R_H`, the pads of an honest dealer's shares.
    pub(crate) ephemeral_proof: (Fr, Fr),
    pub(crate) encrypted_shares: Vec<[u8; SCALAR_BYTES]>,
}

/// The challenge of a dealing's proof of knowledge of its ephemeral secret.
fn ephemeral_challenge(
    params: &DkgParams,
    round: u32,
    dealer: u16,
    ephemeral: &G1Affine,
    commitment: &G1Affine,
) -> Fr {
    ScalarHasher::new(domains::DKG_EPHEMERAL_CHALLENGE)
        .bytes(&params.session)
        .bytes(&round.to_be_bytes())
        .bytes(&dealer.to_be_bytes())
        .point(ephemeral)
        .point(commitment)
        .finish()
}

impl fmt::Debug for Dealing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Dealing(t = {}, {} encrypted shares)",
            self.commitment.len(),
            self.encrypted_shares.len()
        )
    }
}

/// Randomness from a secret seed: `SHA-512(tag || seed || counter)` blocks, wiped on drop (a
/// dealing's polynomial and `ρ` come from it; rand_chacha's state is not wiped).
struct SeedStream {
    seed: Zeroizing<[u8; 32]>,
    counter: u64,
    block: Zeroizing<[u8; 64]>,
    used: usize,
}

impl SeedStream {
    fn new(seed: &[u8; 32]) -> Self {
        Self {
            seed: Zeroizing::new(*seed),
            counter: 0,
            block: Zeroizing::new([0; 64]),
            used: 64,
        }
    }
}

impl RngCore for SeedStream {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }

    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }

    fn fill_bytes(&mut self, out: &mut [u8]) {
        for byte in out {
            if self.used == self.block.len() {
                use sha2::Sha512;
                let mut hasher = Sha512::new();
                hasher.update([domains::DKG_DEAL_STREAM.len() as u8]);
                hasher.update(domains::DKG_DEAL_STREAM);
                hasher.update(self.seed.as_slice());
                hasher.update(self.counter.to_be_bytes());
                self.block.copy_from_slice(&hasher.finalize());
                self.counter += 1;
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
    }

    fn try_fill_bytes(&mut self, out: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(out);
        Ok(())
    }
}

impl CryptoRng for SeedStream {}

/// The point a share is encrypted under, `ρ·E_j = sk_j·R`, hashed with the context into a
/// one-time pad for the 32-byte share.
fn pad(
    params: &DkgParams,
    round: u32,
    dealer: u16,
    recipient: u16,
    ephemeral: &G1Affine,
    shared: &G1Affine,
) -> Zeroizing<[u8; SCALAR_BYTES]> {
    let mut hasher = Sha256::new();
    hasher.update([domains::DKG_SHARE_PAD.len() as u8]);
    hasher.update(domains::DKG_SHARE_PAD);
    hasher.update(params.session);
    hasher.update(round.to_be_bytes());
    hasher.update(dealer.to_be_bytes());
    hasher.update(recipient.to_be_bytes());
    hasher.update(encode_point(ephemeral));
    hasher.update(encode_point(shared));
    Zeroizing::new(hasher.finalize().into())
}

fn xor(a: &[u8; SCALAR_BYTES], b: &[u8; SCALAR_BYTES]) -> Zeroizing<[u8; SCALAR_BYTES]> {
    let mut out = Zeroizing::new([0u8; SCALAR_BYTES]);
    for (slot, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
        *slot = x ^ y;
    }
    out
}

/// `Σ_k commitment_k · x^k`: the commitment to the value at `x` (public scalars).
pub(crate) fn evaluate_in_exponent(commitment: &[G1Affine], x: u64) -> G1Projective {
    let x = Fr::from(x);
    let mut powers = Vec::with_capacity(commitment.len());
    let mut power = Fr::from(1u64);
    for _ in commitment {
        powers.push(power);
        power *= x;
    }
    G1Projective::msm(commitment, &powers).unwrap_or_default()
}

impl Dealing {
    /// The dealing of `dealer` in `round`. Everything random in it (the polynomial and `ρ`)
    /// comes from a seed derived from the dealer's DKG secret key, the session, the round and
    /// the dealer's index: dealing again after a crash gives the same bytes, so a restarted
    /// validator never deals twice with different polynomials, and a new round or a new
    /// committee gives an independent polynomial.
    pub fn deal(params: &DkgParams, dealer: u16, round: u32, key: &DkgSecretKey) -> Self {
        Self::deal_variant(params, dealer, round, key, 0)
    }

    /// **Fault injection** (tests and test networks): a second dealing for the same round with
    /// another polynomial, which a Byzantine dealer would post to equivocate.
    pub fn deal_conflicting(
        params: &DkgParams,
        dealer: u16,
        round: u32,
        key: &DkgSecretKey,
    ) -> Self {
        Self::deal_variant(params, dealer, round, key, 1)
    }

    /// **Fault injection** (tests and test networks): this dealing with the share to
    /// `recipient` altered, so that it no longer matches the commitment.
    pub fn with_wrong_share(mut self, recipient: u16) -> Self {
        if let Some(share) = self.encrypted_shares.get_mut(usize::from(recipient)) {
            share[SCALAR_BYTES - 1] ^= 1;
        }
        self
    }

    fn deal_variant(
        params: &DkgParams,
        dealer: u16,
        round: u32,
        key: &DkgSecretKey,
        variant: u8,
    ) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        {
            let mut hasher = Sha256::new();
            hasher.update([domains::DKG_DEAL_SEED.len() as u8]);
            hasher.update(domains::DKG_DEAL_SEED);
            hasher.update(params.session);
            hasher.update(round.to_be_bytes());
            hasher.update(dealer.to_be_bytes());
            hasher.update(key.to_bytes().as_slice());
            hasher.update([variant]);
            seed.copy_from_slice(&hasher.finalize());
        }
        let mut rng = SeedStream::new(&seed);
        let constant = Zeroizing::new(<Fr as ark_std::UniformRand>::rand(&mut rng));
        let polynomial = SecretPolynomial::random(*constant, params.threshold, &mut rng);
        let ephemeral_secret = Secret::random(&mut rng);
        let proof_nonce = Secret::random(&mut rng);
        let commitment = polynomial
            .coefficients()
            .iter()
            .map(|coefficient| Secret::new(*coefficient).g1_generator())
            .collect();
        let key_g2 = Secret::new(*constant).g2(&G2Affine::generator());
        let ephemeral = ephemeral_secret.g1_generator();
        let challenge = ephemeral_challenge(
            params,
            round,
            dealer,
            &ephemeral,
            &proof_nonce.g1_generator(),
        );
        let ephemeral_proof = (
            challenge,
            proof_nonce.respond(&challenge, &ephemeral_secret),
        );
        let encrypted_shares = (0..params.members.len())
            .map(|recipient| {
                let recipient = u16::try_from(recipient).expect("checked: n fits in a u16");
                let shared = ephemeral_secret.g1(&params.members[usize::from(recipient)].0);
                let value = Zeroizing::new(polynomial.evaluate(Fr::from(u64::from(recipient) + 1)));
                let plain = Zeroizing::new(encode_scalar(&value));
                *xor(
                    &plain,
                    &pad(params, round, dealer, recipient, &ephemeral, &shared),
                )
            })
            .collect();
        Self {
            commitment,
            key_g2,
            ephemeral,
            ephemeral_proof,
            encrypted_shares,
        }
    }

    /// Checks what anyone can check: one commitment per threshold degree, one encrypted share
    /// per member, the dealer's proof that it knows `ρ` for `R`, and `e(A_0, g₂) = e(g,
    /// a_0·g₂)`.
    pub fn check(&self, params: &DkgParams, round: u32, dealer: u16) -> Result<(), String> {
        if self.commitment.len() != params.threshold {
            return Err(format!(
                "{} commitments for threshold {}",
                self.commitment.len(),
                params.threshold
            ));
        }
        if self.encrypted_shares.len() != params.members.len() {
            return Err(format!(
                "{} encrypted shares for {} members",
                self.encrypted_shares.len(),
                params.members.len()
            ));
        }
        // T = z·g − c·R (public scalars); the proof holds if c is the challenge of T.
        let (challenge, response) = self.ephemeral_proof;
        let nonce_point =
            (G1Affine::generator() * response - self.ephemeral * challenge).into_affine();
        if nonce_point.is_zero()
            || ephemeral_challenge(params, round, dealer, &self.ephemeral, &nonce_point)
                != challenge
        {
            return Err("its proof of knowledge of the ephemeral secret does not verify".into());
        }
        if self.key_g2.is_zero()
            || !crate::tdh2::keys::same_discrete_log(
                &self.commitment[0],
                &G1Affine::generator(),
                &self.key_g2,
            )
        {
            return Err("its G2 key is not the constant term of its commitment".into());
        }
        Ok(())
    }

    /// The share for `recipient`, decrypted with `shared = sk·R` and checked against the
    /// commitment (`s·g = Σ A_k (j+1)^k`, the multiplication by the secret `s` in constant
    /// time). `None` if it does not decode or does not match.
    pub(crate) fn open_share(
        &self,
        params: &DkgParams,
        round: u32,
        dealer: u16,
        recipient: u16,
        shared: &G1Affine,
    ) -> Option<Zeroizing<Fr>> {
        let encrypted = self.encrypted_shares.get(usize::from(recipient))?;
        let plain = xor(
            encrypted,
            &pad(params, round, dealer, recipient, &self.ephemeral, shared),
        );
        let value = Zeroizing::new(decode_scalar(plain.as_slice(), "dealt share").ok()?);
        let expected = evaluate_in_exponent(&self.commitment, u64::from(recipient) + 1);
        (Secret::new(*value).g1_generator() == expected.into_affine()).then_some(value)
    }
}

/// A member's complaint that `dealer`'s share to it does not match the commitment. It reveals
/// the decryption point `K = sk·R` with a Chaum–Pedersen proof that `log_g E = log_R K`, so
/// every validator can decrypt the share itself and decide: the dealer is excluded if the share
/// is wrong, the complaint is refused if it is right. No dealer has to answer, and what is
/// revealed is only the share meant for the complainer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Complaint {
    /// The dealer complained about.
    pub dealer: u16,
    pub(crate) shared: G1Affine,
    pub(crate) challenge: Fr,
    pub(crate) response: Fr,
}

fn complaint_challenge(
    params: &DkgParams,
    round: u32,
    dealer: u16,
    complainer: u16,
    ephemeral: &G1Affine,
    shared: &G1Affine,
    commitments: (&G1Affine, &G1Affine),
) -> Option<Fr> {
    let key = params.member_key(complainer)?;
    Some(
        ScalarHasher::new(domains::DKG_COMPLAINT_CHALLENGE)
            .bytes(&params.session)
            .bytes(&round.to_be_bytes())
            .bytes(&dealer.to_be_bytes())
            .bytes(&complainer.to_be_bytes())
            .point(key)
            .point(ephemeral)
            .point(shared)
            .point(commitments.0)
            .point(commitments.1)
            .finish(),
    )
}

impl Complaint {
    /// `complainer`'s complaint about `dealer`, whose dealing has ephemeral point `ephemeral`.
    /// The proof's nonce is derived from the secret key and the statement (no randomness), so
    /// the complaint is the same bytes after a restart.
    pub fn make(
        params: &DkgParams,
        round: u32,
        dealer: u16,
        complainer: u16,
        key: &DkgSecretKey,
        ephemeral: &G1Affine,
    ) -> Option<Self> {
        let shared = key.secret().g1(ephemeral);
        let nonce = Secret::new(
            ScalarHasher::new(domains::DKG_COMPLAINT_NONCE)
                .bytes(&params.session)
                .bytes(&round.to_be_bytes())
                .bytes(&dealer.to_be_bytes())
                .bytes(&complainer.to_be_bytes())
                .bytes(key.to_bytes().as_slice())
                .point(ephemeral)
                .finish(),
        );
        let first = nonce.g1_generator();
        let second = nonce.g1(ephemeral);
        let challenge = complaint_challenge(
            params,
            round,
            dealer,
            complainer,
            ephemeral,
            &shared,
            (&first, &second),
        )?;
        let response = nonce.respond(&challenge, key.secret());
        Some(Self {
            dealer,
            shared,
            challenge,
            response,
        })
    }

    /// Whether the proof holds: `K` is `sk·R` for the complainer's registered key.
    pub fn verify(
        &self,
        params: &DkgParams,
        round: u32,
        complainer: u16,
        ephemeral: &G1Affine,
    ) -> bool {
        let Some(key) = params.member_key(complainer) else {
            return false;
        };
        // T₁ = z·g − c·E and T₂ = z·R − c·K (public scalars).
        let first = (G1Affine::generator() * self.response - *key * self.challenge).into_affine();
        let second = (*ephemeral * self.response - self.shared * self.challenge).into_affine();
        if first.is_zero() || second.is_zero() {
            return false;
        }
        complaint_challenge(
            params,
            round,
            self.dealer,
            complainer,
            ephemeral,
            &self.shared,
            (&first, &second),
        ) == Some(self.challenge)
    }
}

/// What a DKG message carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DkgBody {
    /// The sender's dealing.
    Dealing(Box<Dealing>),
    /// The sender's verdict on the dealings of the round: its complaints (none if every
    /// share it received matched).
    Response(Vec<Complaint>),
}

/// One DKG message, as committed in a block (the node signs its encoding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DkgMessage {
    /// The DKG round (a new round starts after a failed one).
    pub round: u32,
    /// The sender's validator index.
    pub sender: u16,
    /// The content.
    pub body: DkgBody,
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], DkgError> {
        if self.0.len() < count {
            return Err(DkgError::Malformed("truncated"));
        }
        let (head, tail) = self.0.split_at(count);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DkgError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DkgError> {
        let bytes = self.take(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self) -> Result<u32, DkgError> {
        let bytes = self.take(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn point(&mut self, field: &'static str) -> Result<G1Affine, DkgError> {
        decode_point(self.take(POINT_BYTES)?, field).map_err(|_| DkgError::Malformed(field))
    }

    fn scalar(&mut self, field: &'static str) -> Result<Fr, DkgError> {
        decode_scalar(self.take(SCALAR_BYTES)?, field).map_err(|_| DkgError::Malformed(field))
    }
}

impl DkgMessage {
    /// The canonical encoding: `version || round (u32 BE) || sender (u16 BE) || kind || body`.
    /// A dealing's body is `t (u16) || A_0..A_{t-1} (48 each) || a_0·g₂ (96) || R (48) ||
    /// proof of ρ: c (32) || z (32) || n (u16) || n encrypted shares (32 each)`; a response's is `count (u16) || count ×
    /// (dealer (u16) || K (48) || c (32) || z (32))`. Points compressed, scalars big-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![DKG_MESSAGE_VERSION];
        out.extend_from_slice(&self.round.to_be_bytes());
        out.extend_from_slice(&self.sender.to_be_bytes());
        match &self.body {
            DkgBody::Dealing(dealing) => {
                out.push(KIND_DEALING);
                out.extend_from_slice(&(dealing.commitment.len() as u16).to_be_bytes());
                for point in &dealing.commitment {
                    out.extend_from_slice(&encode_point(point));
                }
                dealing
                    .key_g2
                    .serialize_compressed(&mut out)
                    .expect("a compressed G2 point is 96 bytes");
                out.extend_from_slice(&encode_point(&dealing.ephemeral));
                out.extend_from_slice(&encode_scalar(&dealing.ephemeral_proof.0));
                out.extend_from_slice(&encode_scalar(&dealing.ephemeral_proof.1));
                out.extend_from_slice(&(dealing.encrypted_shares.len() as u16).to_be_bytes());
                for share in &dealing.encrypted_shares {
                    out.extend_from_slice(share);
                }
            }
            DkgBody::Response(complaints) => {
                out.push(KIND_RESPONSE);
                out.extend_from_slice(&(complaints.len() as u16).to_be_bytes());
                for complaint in complaints {
                    out.extend_from_slice(&complaint.dealer.to_be_bytes());
                    out.extend_from_slice(&encode_point(&complaint.shared));
                    out.extend_from_slice(&encode_scalar(&complaint.challenge));
                    out.extend_from_slice(&encode_scalar(&complaint.response));
                }
            }
        }
        out
    }

    /// Decodes a message: known version, every point in the subgroup and not the identity,
    /// canonical scalars, counts at most `members_max`, complaints about distinct dealers in
    /// increasing order, no trailing bytes. Whether it fits the committee (counts, the G2 key)
    /// is the state machine's check, made the same way by every validator.
    pub fn from_bytes(bytes: &[u8], members_max: usize) -> Result<Self, DkgError> {
        let mut reader = Reader(bytes);
        let version = reader.u8()?;
        if version != DKG_MESSAGE_VERSION {
            return Err(DkgError::UnknownVersion(version));
        }
        let round = reader.u32()?;
        let sender = reader.u16()?;
        let body = match reader.u8()? {
            KIND_DEALING => {
                let degree = usize::from(reader.u16()?);
                if degree == 0 || degree > members_max {
                    return Err(DkgError::Malformed("commitment count"));
                }
                let commitment = (0..degree)
                    .map(|_| reader.point("commitment"))
                    .collect::<Result<Vec<_>, _>>()?;
                let key_g2_bytes = reader.take(G2_BYTES)?;
                let key_g2 = G2Affine::deserialize_compressed(key_g2_bytes)
                    .map_err(|_| DkgError::Malformed("G2 key"))?;
                let mut canonical = Vec::with_capacity(G2_BYTES);
                key_g2
                    .serialize_compressed(&mut canonical)
                    .map_err(|_| DkgError::Malformed("G2 key"))?;
                if key_g2.is_zero() || canonical != key_g2_bytes {
                    return Err(DkgError::Malformed("G2 key"));
                }
                let ephemeral = reader.point("ephemeral point")?;
                let ephemeral_proof = (
                    reader.scalar("ephemeral proof challenge")?,
                    reader.scalar("ephemeral proof response")?,
                );
                let count = usize::from(reader.u16()?);
                if count == 0 || count > members_max {
                    return Err(DkgError::Malformed("encrypted share count"));
                }
                let encrypted_shares = (0..count)
                    .map(|_| {
                        let mut share = [0u8; SCALAR_BYTES];
                        share.copy_from_slice(reader.take(SCALAR_BYTES)?);
                        Ok(share)
                    })
                    .collect::<Result<Vec<_>, DkgError>>()?;
                DkgBody::Dealing(Box::new(Dealing {
                    commitment,
                    key_g2,
                    ephemeral,
                    ephemeral_proof,
                    encrypted_shares,
                }))
            }
            KIND_RESPONSE => {
                let count = usize::from(reader.u16()?);
                if count > members_max {
                    return Err(DkgError::Malformed("complaint count"));
                }
                let mut complaints: Vec<Complaint> = Vec::with_capacity(count);
                for _ in 0..count {
                    let dealer = reader.u16()?;
                    if complaints.last().is_some_and(|last| last.dealer >= dealer) {
                        return Err(DkgError::Malformed("complaints out of order"));
                    }
                    complaints.push(Complaint {
                        dealer,
                        shared: reader.point("complaint point")?,
                        challenge: reader.scalar("complaint challenge")?,
                        response: reader.scalar("complaint response")?,
                    });
                }
                DkgBody::Response(complaints)
            }
            _ => return Err(DkgError::Malformed("unknown kind")),
        };
        if !reader.0.is_empty() {
            return Err(DkgError::Malformed("trailing bytes"));
        }
        Ok(Self {
            round,
            sender,
            body,
        })
    }
}

/// `Σ_k commitment_k`: coefficient-wise sum of commitments (the public polynomial of the
/// joint secret), for dealings already checked to have `t` commitments each.
pub(crate) fn sum_commitments<'a>(
    threshold: usize,
    dealings: impl Iterator<Item = &'a Dealing>,
) -> (Vec<G1Affine>, G2Affine) {
    let mut sums = vec![G1Projective::default(); threshold];
    let mut key_g2 = ark_bls12_381::G2Projective::default();
    for dealing in dealings {
        for (sum, point) in sums.iter_mut().zip(&dealing.commitment) {
            *sum += point;
        }
        key_g2 += dealing.key_g2;
    }
    (G1Projective::normalize_batch(&sums), key_g2.into_affine())
}
