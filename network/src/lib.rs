//! `shroud-network`: QUIC transport between validators and from clients, with validated rkyv
//! frames, versions and limits, and peer authentication by certificates pinned in the committee.
//!
//! # Design
//! - [`tls`]: self-signed identities and a verifier that accepts exactly the pinned
//!   certificates (SHA-256 of the DER); TLS 1.3 proves possession of the key.
//! - [`frame`]: `version || kind || length || rkyv body`, parsed with limits and decoded only
//!   through rkyv validation; every refusal is a typed [`FrameError`] with a metric label.
//! - [`client`]: the messages of the client protocol (submit, receipts, namespace outputs).
//! - [`endpoint`]: a mutually pinned validator endpoint (one frame per unidirectional stream)
//!   and a client-facing endpoint (one request and answer per bidirectional stream, or a
//!   pipelined submission stream of many `Submit` frames answered by receipts in order). Reads
//!   are bounded by [`Limits`], and so is the number of concurrent incoming streams.

pub mod client;
pub mod endpoint;
pub mod error;
pub mod frame;
pub mod tls;

pub use endpoint::{
    Answers, ClientConnection, ClientFacingEndpoint, ClientSession, PeerConnection, PeerEndpoint,
    Request, RequestFrames, StreamReader, StreamWriter,
};
pub use error::NetworkError;
pub use frame::{FrameError, FrameKind, Limits, PROTOCOL_VERSION};
pub use tls::{Identity, Pin};
