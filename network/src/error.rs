//! Network errors.

use thiserror::Error;

use crate::frame::FrameError;

/// A transport failure or a refused peer or frame.
#[derive(Debug, Error)]
pub enum NetworkError {
    /// Binding or socket setup failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// TLS configuration failed.
    #[error("tls: {0}")]
    Tls(String),
    /// A pin that is not 64 hex digits.
    #[error("bad certificate pin {0:?}")]
    BadPin(String),
    /// Dialing failed before a connection existed.
    #[error("connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// The connection failed or was refused (including a certificate that is not pinned).
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// Writing a stream failed (a lost connection says why it was lost).
    #[error("write: {}", write_reason(.0))]
    Write(#[from] quinn::WriteError),
    /// Reading a stream failed.
    #[error("read: {0}")]
    Read(String),
    /// The peer's certificate is not the one expected (should be unreachable: the handshake
    /// checks pins).
    #[error("peer presented an unknown certificate")]
    UnknownPeer,
    /// A peer index outside the committee.
    #[error("no validator {0} in the committee")]
    NoSuchPeer(usize),
    /// A refused frame.
    #[error("frame: {0}")]
    Frame(#[from] FrameError),
}

fn write_reason(error: &quinn::WriteError) -> String {
    match error {
        quinn::WriteError::ConnectionLost(cause) => format!("connection lost: {cause}"),
        other => other.to_string(),
    }
}

/// A stream read's failure as text; a lost connection says why it was lost (timed out,
/// reset, closed by the peer with its reason), which quinn's own text leaves out.
pub(crate) fn read_reason(error: &quinn::ReadError) -> String {
    match error {
        quinn::ReadError::ConnectionLost(cause) => format!("connection lost: {cause}"),
        other => other.to_string(),
    }
}
