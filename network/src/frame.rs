//! The one frame format: `version (u8) || kind (u8) || body length (u32 BE) || body`, where the
//! body is an rkyv archive read only through validation (bytecheck). Every length is bounded by
//! [`Limits`]; every malformed frame is a typed [`FrameError`].

use rkyv::rancor;
use rkyv::util::AlignedVec;
use thiserror::Error;

/// The protocol version this code speaks. Version 2: batches, acknowledgements and
/// availability certificates carry `valid_through` (ADR 0008). Version 3: a validator's
/// decryption shares of a height carry one batched proof (ADR 0011). Version 4: a batch
/// acknowledgement attests that its signer checked every ciphertext in the batch, under its
/// own signing domain, a height's combiner sends its combined points, and clients may ask for
/// a height's decryption evidence (ADR 0011, third pass). Version 5: DKG posts, and consensus
/// signatures bind the chain id. Version 6: consensus state sync (sync requests and
/// responses of committed blocks by height).
pub const PROTOCOL_VERSION: u8 = 6;
/// Bytes before the body.
pub const HEADER_BYTES: usize = 6;

/// Limits on what a peer or client can make this node read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame (header and body).
    pub frame_bytes_max: usize,
    /// Most frames a connection may have in flight (incoming streams).
    pub streams_max: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            frame_bytes_max: 4 << 20,
            streams_max: 256,
        }
    }
}

/// What a frame carries. The numbering is part of the wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum FrameKind {
    /// A consensus message between validators.
    Consensus = 1,
    /// A batch of ciphertexts, broadcast by its author.
    Batch = 2,
    /// A signed acknowledgement that a batch is stored.
    BatchAck = 3,
    /// A request for a batch by digest.
    BatchRequest = 4,
    /// A batch certificate, broadcast by the batch's author so that any leader can order it.
    BatchCertificate = 5,
    /// A validator's decryption shares of one committed block.
    DecryptionShares = 6,
    /// A validator's signature over its output header of a height.
    OutputVote = 7,
    /// An output certificate (answering a request).
    OutputCertificate = 8,
    /// A request for a height's shares, vote and certificate.
    DecryptionRequest = 9,
    /// A validator's signature over the epoch key set.
    EpochKeyVote = 10,
    /// A height's combined points, from its combiner.
    DecryptionCombined = 11,
    /// A validator's signed DKG message, for the receiver's proposals.
    DkgPost = 12,
    /// A consensus message that carries blocks in bulk (fetch and state-sync answers and
    /// requests): it travels with batches, not ahead of votes and proposals.
    ConsensusBulk = 13,
    /// A client's ciphertext submission.
    Submit = 16,
    /// The answer to a submission.
    Receipt = 17,
    /// A client's request for certified namespace outputs.
    OutputsRequest = 18,
    /// The answer to it.
    Outputs = 19,
    /// A client's question about a transaction.
    TxStatusRequest = 20,
    /// The answer to it.
    TxStatus = 21,
    /// A client's request for the epoch key certificate.
    EpochKeyRequest = 22,
    /// The answer to it.
    EpochKey = 23,
    /// Opens a submission stream: the `Submit` frames that follow on the same stream are each
    /// answered by a `Receipt`, in order.
    SubmitStream = 24,
    /// A client's request for a height's decryption evidence.
    DecryptionEvidenceRequest = 25,
    /// The answer to it.
    DecryptionEvidence = 26,
}

impl FrameKind {
    /// Every kind, for tests.
    pub const ALL: [FrameKind; 24] = [
        FrameKind::Consensus,
        FrameKind::Batch,
        FrameKind::BatchAck,
        FrameKind::BatchRequest,
        FrameKind::BatchCertificate,
        FrameKind::DecryptionShares,
        FrameKind::OutputVote,
        FrameKind::OutputCertificate,
        FrameKind::DecryptionRequest,
        FrameKind::EpochKeyVote,
        FrameKind::DecryptionCombined,
        FrameKind::DkgPost,
        FrameKind::ConsensusBulk,
        FrameKind::Submit,
        FrameKind::Receipt,
        FrameKind::OutputsRequest,
        FrameKind::Outputs,
        FrameKind::TxStatusRequest,
        FrameKind::TxStatus,
        FrameKind::EpochKeyRequest,
        FrameKind::EpochKey,
        FrameKind::SubmitStream,
        FrameKind::DecryptionEvidenceRequest,
        FrameKind::DecryptionEvidence,
    ];

    fn from_byte(byte: u8) -> Result<Self, FrameError> {
        Self::ALL
            .into_iter()
            .find(|kind| *kind as u8 == byte)
            .ok_or(FrameError::UnknownKind(byte))
    }
}

/// A frame that was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// Fewer bytes than a header.
    #[error("frame of {0} bytes is shorter than its header")]
    TooShort(usize),
    /// A version this node does not speak.
    #[error("unknown protocol version {0}")]
    UnknownVersion(u8),
    /// A kind this node does not know.
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// A frame over the limit.
    #[error("frame of {got} bytes exceeds the limit of {max}")]
    TooLarge { max: usize, got: usize },
    /// A body whose length differs from the header's.
    #[error("header declares {declared} body bytes, frame has {got}")]
    LengthMismatch { declared: usize, got: usize },
    /// A frame of another kind than expected here.
    #[error("expected a {expected:?} frame, got {got:?}")]
    UnexpectedKind { expected: FrameKind, got: FrameKind },
    /// A body that fails rkyv validation.
    #[error("invalid body: {0}")]
    InvalidBody(String),
}

impl FrameError {
    /// A short, stable label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            FrameError::TooShort(_) => "too_short",
            FrameError::UnknownVersion(_) => "unknown_version",
            FrameError::UnknownKind(_) => "unknown_kind",
            FrameError::TooLarge { .. } => "too_large",
            FrameError::LengthMismatch { .. } => "length_mismatch",
            FrameError::UnexpectedKind { .. } => "unexpected_kind",
            FrameError::InvalidBody(_) => "invalid_body",
        }
    }
}

/// Encodes `body` as a frame of `kind`. Fails if the frame would exceed `limits` (the sender
/// checks too, so an honest node never sends what its peers would refuse).
pub fn encode<T>(kind: FrameKind, body: &T, limits: &Limits) -> Result<Vec<u8>, FrameError>
where
    T: for<'a> rkyv::Serialize<
        rkyv::api::high::HighSerializer<
            AlignedVec,
            rkyv::ser::allocator::ArenaHandle<'a>,
            rancor::Error,
        >,
    >,
{
    let bytes = rkyv::to_bytes::<rancor::Error>(body)
        .map_err(|error| FrameError::InvalidBody(error.to_string()))?;
    let total = HEADER_BYTES + bytes.len();
    if total > limits.frame_bytes_max {
        return Err(FrameError::TooLarge {
            max: limits.frame_bytes_max,
            got: total,
        });
    }
    let length = u32::try_from(bytes.len()).map_err(|_| FrameError::TooLarge {
        max: limits.frame_bytes_max,
        got: total,
    })?;
    let mut out = Vec::with_capacity(total);
    out.push(PROTOCOL_VERSION);
    out.push(kind as u8);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&bytes);
    Ok(out)
}

/// A frame whose header was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The kind.
    pub kind: FrameKind,
    /// The body, not yet decoded.
    pub body: &'a [u8],
}

/// Checks the header: size limit, version, kind, exact length.
pub fn parse<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Frame<'a>, FrameError> {
    if bytes.len() > limits.frame_bytes_max {
        return Err(FrameError::TooLarge {
            max: limits.frame_bytes_max,
            got: bytes.len(),
        });
    }
    if bytes.len() < HEADER_BYTES {
        return Err(FrameError::TooShort(bytes.len()));
    }
    if bytes[0] != PROTOCOL_VERSION {
        return Err(FrameError::UnknownVersion(bytes[0]));
    }
    let kind = FrameKind::from_byte(bytes[1])?;
    let declared = u32::from_be_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
    let declared = usize::try_from(declared).unwrap_or(usize::MAX);
    let body = &bytes[HEADER_BYTES..];
    if declared != body.len() {
        return Err(FrameError::LengthMismatch {
            declared,
            got: body.len(),
        });
    }
    Ok(Frame { kind, body })
}

impl Frame<'_> {
    /// Decodes the body as `T` through rkyv validation, after checking the kind.
    pub fn decode<T>(&self, expected: FrameKind) -> Result<T, FrameError>
    where
        T: rkyv::Archive,
        T::Archived: for<'b> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'b, rancor::Error>>
            + rkyv::Deserialize<T, rkyv::api::high::HighDeserializer<rancor::Error>>,
    {
        if self.kind != expected {
            return Err(FrameError::UnexpectedKind {
                expected,
                got: self.kind,
            });
        }
        // The body sits at an arbitrary offset; copy it into an aligned buffer for validation.
        let mut aligned = AlignedVec::<16>::with_capacity(self.body.len());
        aligned.extend_from_slice(self.body);
        rkyv::from_bytes::<T, rancor::Error>(&aligned)
            .map_err(|error| FrameError::InvalidBody(error.to_string()))
    }
}
