//! Typed errors of the cryptographic core. Every error here describes bad input from outside
//! (a peer, a client, the disk): callers count it and drop the input; none is a panic.

use thiserror::Error;

/// Errors of BLS keys, signatures and their encodings.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BlsError {
    /// An encoding of the wrong length.
    #[error("wrong length: expected {expected} bytes, got {got}")]
    WrongLength { expected: usize, got: usize },
    /// Bytes that are no point encoding (bad flags, a coordinate not below the modulus).
    #[error("bad point encoding")]
    BadEncoding,
    /// Coordinates that are not on the curve.
    #[error("point not on the curve")]
    NotOnCurve,
    /// A point outside the prime-order subgroup.
    #[error("point not in the prime-order subgroup")]
    NotInSubgroup,
    /// The point at infinity, refused as a key or a signature.
    #[error("point at infinity")]
    Infinity,
    /// An EIP-2537 field element whose 16 padding bytes are not zero.
    #[error("EIP-2537 field element {element} has non-zero padding")]
    Eip2537Padding { element: usize },
    /// A secret key encoding that is zero or not below the group order.
    #[error("bad secret key encoding")]
    BadSecretKey,
    /// Key material shorter than KeyGen requires.
    #[error("seed too short: need at least {min} bytes, got {got}")]
    SeedTooShort { min: usize, got: usize },
    /// A signature that does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// A proof of possession that does not verify.
    #[error("proof of possession does not verify")]
    BadProofOfPossession,
    /// An aggregate of nothing.
    #[error("cannot aggregate an empty set")]
    EmptyAggregate,
    /// The same message twice in an aggregate over distinct messages.
    #[error("aggregate lists one message twice")]
    DuplicateMessage,
}

/// Errors of signer bitmaps and certificates.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CertificateError {
    /// A bitmap whose size does not match the committee.
    #[error("bitmap has {got} bytes, committee of {committee_size} needs {expected}")]
    BitmapLength {
        committee_size: usize,
        expected: usize,
        got: usize,
    },
    /// A bitmap with a bit set past the last committee member.
    #[error("bitmap names signer {index}, committee has {committee_size}")]
    UnknownSigner { index: usize, committee_size: usize },
    /// Fewer signers than the threshold.
    #[error("{signers} signers, threshold is {threshold}")]
    BelowThreshold { signers: usize, threshold: usize },
    /// The aggregate signature does not verify for the named signers.
    #[error("aggregate signature does not verify")]
    BadSignature,
    /// A signature part of the certificate that does not decode.
    #[error("bad certificate signature encoding: {0}")]
    Encoding(#[from] BlsError),
    /// A committee key whose proof of possession fails.
    #[error("committee member {index} has a bad proof of possession")]
    BadProofOfPossession { index: usize },
    /// A committee with no members or more than the supported maximum.
    #[error("committee size {size} is outside 1..={max}")]
    CommitteeSize { size: usize, max: usize },
    /// A committee that lists one key twice.
    #[error("committee members {first} and {second} have the same key")]
    DuplicateKey { first: usize, second: usize },
}

/// Errors of threshold encryption, decryption shares and combination.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ThresholdError {
    /// An encoding of the wrong length, or trailing bytes.
    #[error("wrong length: expected {expected} bytes, got {got}")]
    WrongLength { expected: usize, got: usize },
    /// A ciphertext format version this code does not know.
    #[error("unknown ciphertext version {0}")]
    UnknownVersion(u8),
    /// A payload larger than the configured maximum.
    #[error("payload of {got} bytes exceeds the maximum of {max}")]
    PayloadTooLarge { max: usize, got: usize },
    /// A group element that does not decode to a subgroup point, or is the identity where the
    /// format forbids it.
    #[error("bad group element: {field}")]
    BadPoint { field: &'static str },
    /// A scalar that is not canonical (not below the group order).
    #[error("bad scalar: {field}")]
    BadScalar { field: &'static str },
    /// The ciphertext's proof fails: it was built for another key or label, or was altered.
    #[error("ciphertext proof does not verify")]
    InvalidCiphertext,
    /// A label for another chain or epoch.
    #[error("ciphertext {field} is {got}, expected {expected}")]
    WrongLabel {
        field: &'static str,
        expected: u64,
        got: u64,
    },
    /// Combining a ciphertext verified under another key than the key set's.
    #[error("ciphertext was verified under another encryption key")]
    KeyMismatch,
    /// A verified share of another ciphertext.
    #[error("share from {index} was verified for another ciphertext")]
    ShareForOtherCiphertext { index: u16 },
    /// A decryption share whose proof fails.
    #[error("decryption share from {index} does not verify")]
    InvalidShare { index: u16 },
    /// A share index of zero or past the committee.
    #[error("share index {index} is outside 1..={share_count}")]
    UnknownShareIndex { index: u16, share_count: usize },
    /// Two shares from one index.
    #[error("two shares with index {index}")]
    DuplicateShare { index: u16 },
    /// Fewer valid shares than the threshold.
    #[error("{valid} valid shares, threshold is {threshold}")]
    NotEnoughShares { valid: usize, threshold: usize },
    /// The combined key does not open the payload.
    #[error("payload does not decrypt")]
    DecryptionFailed,
    /// Threshold parameters that make no sense (zero, or threshold above the share count).
    #[error("threshold {threshold} of {share_count} is invalid")]
    BadParameters {
        threshold: usize,
        share_count: usize,
    },
    /// A key set whose verification keys do not lie on one polynomial through the encryption
    /// key; `index` is the first that disagrees (0 is the encryption key itself).
    #[error("key set is inconsistent at index {index}")]
    InconsistentKeySet { index: u16 },
    /// An empty batch.
    #[error("empty batch")]
    EmptyBatch,
    /// A claimed shared point that is not `x·u` for its ciphertext (for a set of points:
    /// at least one is not).
    #[error("a shared point is not the ciphertext's x·u")]
    WrongSharedPoint,
}
