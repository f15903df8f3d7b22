//! Every domain-separation tag Shroud uses, in one place.
//!
//! Changing any constant here is a breaking change of the wire and signing formats: old
//! signatures stop verifying and old ciphertexts stop decrypting. Golden tests in
//! `tests/golden.rs` freeze the values.

/// The hash-to-curve tag of BLS signatures: the Ethereum (IETF "proof of possession")
/// ciphersuite, so any standard BLS implementation verifies Shroud signatures.
pub const BLS_SIG_CIPHERSUITE: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// The hash-to-curve tag of proofs of possession, as the IETF BLS draft fixes it for the
/// proof-of-possession scheme (`PopProve` signs the compressed public key under this tag).
pub const BLS_POP_CIPHERSUITE: &[u8] = b"BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// What a BLS signature is about. Each kind of signed object has its own tag, folded into the
/// 32-byte message that is signed (see [`crate::bls::signing_message`]), so a signature made for
/// one kind can never be presented as another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigningDomain {
    /// A leader's block proposal.
    Proposal,
    /// A consensus vote on a block.
    Vote,
    /// A consensus timeout message.
    Timeout,
    /// An acknowledgement that a validator stored a batch durably and checked every
    /// ciphertext in it (decoded, label, validity proof); ordering-only networks, whose
    /// payloads are opaque, attest storage alone.
    BatchAck,
    /// An output header (the certified per-height output).
    OutputHeader,
    /// A committee handing over to the next epoch's committee.
    CommitteeHandover,
    /// A committee vouching for its epoch's threshold encryption key set.
    EpochKey,
    /// A message of the distributed key generation (a dealing or a response).
    Dkg,
}

impl SigningDomain {
    /// All domains, for tests that check the tags are distinct.
    pub const ALL: [SigningDomain; 8] = [
        SigningDomain::Proposal,
        SigningDomain::Vote,
        SigningDomain::Timeout,
        SigningDomain::BatchAck,
        SigningDomain::OutputHeader,
        SigningDomain::CommitteeHandover,
        SigningDomain::EpochKey,
        SigningDomain::Dkg,
    ];

    /// The tag bytes of this domain.
    pub const fn tag(self) -> &'static [u8] {
        match self {
            SigningDomain::Proposal => b"SHROUD-V1-SIG-PROPOSAL",
            SigningDomain::Vote => b"SHROUD-V1-SIG-VOTE",
            SigningDomain::Timeout => b"SHROUD-V1-SIG-TIMEOUT",
            SigningDomain::BatchAck => b"SHROUD-V1-SIG-BATCH-CHECKED",
            SigningDomain::OutputHeader => b"SHROUD-V1-SIG-OUTPUT-HEADER",
            SigningDomain::CommitteeHandover => b"SHROUD-V1-SIG-COMMITTEE-HANDOVER",
            SigningDomain::EpochKey => b"SHROUD-V1-SIG-EPOCH-KEY",
            SigningDomain::Dkg => b"SHROUD-V1-SIG-DKG",
        }
    }
}

/// Hash-to-curve tag (RFC 9380 suite `BLS12381G1_XMD:SHA-256_SSWU_RO_`) for the second,
/// independent generator `ḡ` of G1 that the TDH2 ciphertext proof uses. Nobody knows its
/// discrete logarithm with respect to the standard generator.
pub const TDH2_SECOND_GENERATOR: &[u8] = b"SHROUD-V1-TDH2-GBAR_BLS12381G1_XMD:SHA-256_SSWU_RO_";

/// The seed message hashed to `ḡ` under [`TDH2_SECOND_GENERATOR`].
pub const TDH2_SECOND_GENERATOR_MESSAGE: &[u8] = b"shroud tdh2 second generator";

/// Challenge of the ciphertext's proof of knowledge of the encryption randomness.
pub const TDH2_CIPHERTEXT_CHALLENGE: &[u8] = b"SHROUD-V1-TDH2-CIPHERTEXT-CHALLENGE";

/// Challenge of a decryption share's proof of discrete-log equality.
pub const TDH2_SHARE_CHALLENGE: &[u8] = b"SHROUD-V1-TDH2-SHARE-CHALLENGE";

/// Seed of the weights that fold one validator's shares of a block into one statement
/// (batched Chaum–Pedersen proof).
pub const TDH2_SHARE_BATCH_SEED: &[u8] = b"SHROUD-V1-TDH2-SHARE-BATCH-SEED";

/// One weight of a batched share proof, from the seed and the share's place in the batch.
pub const TDH2_SHARE_BATCH_WEIGHT: &[u8] = b"SHROUD-V1-TDH2-SHARE-BATCH-WEIGHT";

/// Challenge of a batched share proof.
pub const TDH2_SHARE_BATCH_CHALLENGE: &[u8] = b"SHROUD-V1-TDH2-SHARE-BATCH-CHALLENGE";

/// Key derivation from the KEM's shared point to the AEAD key.
pub const TDH2_AEAD_KEY: &[u8] = b"SHROUD-V1-TDH2-AEAD-KEY";

/// The label bytes as bound into a ciphertext (chain id, epoch, sender nonce).
pub const TDH2_LABEL: &[u8] = b"SHROUD-V1-TDH2-LABEL";

/// Transaction ids: `SHA-256(tag || ciphertext wire bytes)`.
pub const TX_ID: &[u8] = b"SHROUD-V1-TX";

/// A bundle's digest: `SHA-256(tag || canonical bundle encoding)`.
pub const BUNDLE_DIGEST: &[u8] = b"SHROUD-V1-BUNDLE";

/// An output header's digest (what parents link to and what rollups index by).
pub const OUTPUT_HEADER_DIGEST: &[u8] = b"SHROUD-V1-OUTPUT-HEADER-DIGEST";

/// A leaf of the ciphertext tree: one ordered position and its outcome.
pub const MERKLE_CIPHERTEXT_LEAF: &[u8] = b"SHROUD-V1-MERKLE-CIPHERTEXT";

/// A leaf of a namespace's item tree: one decrypted item.
pub const MERKLE_ITEM_LEAF: &[u8] = b"SHROUD-V1-MERKLE-ITEM";

/// A leaf of the namespace tree: one namespace and the root of its items.
pub const MERKLE_NAMESPACE_LEAF: &[u8] = b"SHROUD-V1-MERKLE-NAMESPACE";

/// An inner node of every Shroud Merkle tree.
pub const MERKLE_NODE: &[u8] = b"SHROUD-V1-MERKLE-NODE";

/// The root of an empty Merkle tree.
pub const MERKLE_EMPTY: &[u8] = b"SHROUD-V1-MERKLE-EMPTY";

/// A tree's root together with its leaf count (what headers commit to, so that a proof's leaf
/// count is authenticated, as absence proofs need).
pub const MERKLE_SIZED_ROOT: &[u8] = b"SHROUD-V1-MERKLE-SIZED-ROOT";

/// The hash of one bundle item's bytes, which bundle digests and item leaves commit to (so a
/// rollup can check a sibling item knowing only its hash).
pub const ITEM_DATA: &[u8] = b"SHROUD-V1-ITEM-DATA";

/// The digest of a committee's public keys as a handover names them:
/// `SHA-256(tag || member count (u16) || each key in EIP-2537 encoding)`. The EIP-2537 form is
/// what the L1 contract holds, so it can recompute the digest without decompressing points.
pub const COMMITTEE_KEYS: &[u8] = b"SHROUD-V1-COMMITTEE-KEYS";

/// Seed of a dealer's polynomial and ephemeral scalar, derived from its DKG secret key, the
/// session, the round and its index (so dealing again gives the same bytes).
pub const DKG_DEAL_SEED: &[u8] = b"SHROUD-V1-DKG-DEAL-SEED";

/// The stream a dealing's randomness is drawn from (SHA-512 blocks of the dealing seed).
pub const DKG_DEAL_STREAM: &[u8] = b"SHROUD-V1-DKG-DEAL-STREAM";

/// The one-time pad of an encrypted dealt share, from the recipient's shared point.
pub const DKG_SHARE_PAD: &[u8] = b"SHROUD-V1-DKG-SHARE-PAD";

/// Nonce of a complaint's Chaum–Pedersen proof, derived from the complainer's key.
pub const DKG_COMPLAINT_NONCE: &[u8] = b"SHROUD-V1-DKG-COMPLAINT-NONCE";

/// Challenge of a dealing's proof of knowledge of its ephemeral secret `ρ` (`R = ρ·g`).
pub const DKG_EPHEMERAL_CHALLENGE: &[u8] = b"SHROUD-V1-DKG-EPHEMERAL-CHALLENGE";

/// Challenge of a complaint's Chaum–Pedersen proof.
pub const DKG_COMPLAINT_CHALLENGE: &[u8] = b"SHROUD-V1-DKG-COMPLAINT-CHALLENGE";

/// The session digest of a DKG: chain id, epoch, threshold and every member's keys.
pub const DKG_SESSION: &[u8] = b"SHROUD-V1-DKG-SESSION";

/// The key of a validator's stateless-reset tokens on its endpoint for other validators,
/// derived from its TLS key (so a restarted validator resets its peers' stale connections).
pub const QUIC_RESET_KEY_PEER: &[u8] = b"SHROUD-V1-QUIC-RESET-KEY-PEER";

/// The same for its client-facing endpoint.
pub const QUIC_RESET_KEY_CLIENT_FACING: &[u8] = b"SHROUD-V1-QUIC-RESET-KEY-CLIENT";
