//! QUIC endpoints: validator-to-validator (mutually pinned) and client-facing.
//!
//! One frame per stream: a unidirectional stream carries one frame between validators; a
//! bidirectional stream carries one client request and its answer. A stream is read only up to
//! [`Limits::frame_bytes_max`], and a connection admits at most [`Limits::streams_max`]
//! concurrent incoming streams, so a peer cannot make this node buffer more than that.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;

use crate::error::NetworkError;
use crate::frame::{FrameError, Limits};
use crate::tls::{
    client_facing_server_config, peer_server_config, pinned_client_config, Identity, Pin,
};

/// The server name used on the wire; pins, not names, authenticate.
const SERVER_NAME: &str = "shroud";

fn transport(limits: &Limits) -> Arc<quinn::TransportConfig> {
    let mut transport = quinn::TransportConfig::default();
    transport.max_concurrent_uni_streams(limits.streams_max.into());
    transport.max_concurrent_bidi_streams(limits.streams_max.into());
    transport.keep_alive_interval(Some(Duration::from_secs(5)));
    transport.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(Duration::from_secs(30))
            .expect("30 s is a valid idle timeout"),
    ));
    Arc::new(transport)
}

/// A validator's endpoint for other validators.
#[derive(Debug)]
pub struct PeerEndpoint {
    endpoint: quinn::Endpoint,
    identity: Identity,
    pins: Vec<Pin>,
    limits: Limits,
}

impl PeerEndpoint {
    /// Binds `address` (port 0 picks a free port). `pins[i]` is validator `i`'s pin.
    pub fn bind(
        address: SocketAddr,
        identity: Identity,
        pins: Vec<Pin>,
        limits: Limits,
    ) -> Result<Self, NetworkError> {
        let server = peer_server_config(&identity, &pins, transport(&limits))?;
        let endpoint = quinn::Endpoint::server(server, address)?;
        Ok(Self {
            endpoint,
            identity,
            pins,
            limits,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, NetworkError> {
        Ok(self.endpoint.local_addr()?)
    }

    /// Dials validator `peer` at `address`; the connection succeeds only if it presents that
    /// validator's pinned certificate (and it accepts ours).
    pub async fn connect(
        &self,
        address: SocketAddr,
        peer: usize,
    ) -> Result<PeerConnection, NetworkError> {
        let pin = *self.pins.get(peer).ok_or(NetworkError::NoSuchPeer(peer))?;
        let config = pinned_client_config(Some(&self.identity), pin, transport(&self.limits))?;
        let connection = self
            .endpoint
            .connect_with(config, address, SERVER_NAME)?
            .await?;
        Ok(PeerConnection {
            connection,
            peer,
            limits: self.limits.clone(),
        })
    }

    /// The next incoming validator connection, identified by its pinned certificate. `None`
    /// once the endpoint is closed. A handshake that fails (an unpinned certificate) is an
    /// `Err` and the caller keeps accepting.
    pub async fn accept(&self) -> Option<Result<PeerConnection, NetworkError>> {
        let incoming = self.endpoint.accept().await?;
        Some(self.identify(incoming).await)
    }

    async fn identify(&self, incoming: quinn::Incoming) -> Result<PeerConnection, NetworkError> {
        let connection = incoming.await?;
        let certificates = connection
            .peer_identity()
            .and_then(|identity| identity.downcast::<Vec<CertificateDer<'static>>>().ok())
            .ok_or(NetworkError::UnknownPeer)?;
        let first = certificates.first().ok_or(NetworkError::UnknownPeer)?;
        let pin = Pin::of(first);
        let peer = self
            .pins
            .iter()
            .position(|candidate| *candidate == pin)
            .ok_or(NetworkError::UnknownPeer)?;
        Ok(PeerConnection {
            connection,
            peer,
            limits: self.limits.clone(),
        })
    }

    /// Stops accepting and closes every connection.
    pub fn close(&self) {
        self.endpoint.close(0u32.into(), b"shutdown");
    }
}

/// An authenticated connection to one validator.
#[derive(Clone, Debug)]
pub struct PeerConnection {
    connection: quinn::Connection,
    peer: usize,
    limits: Limits,
}

impl PeerConnection {
    /// The validator on the other side.
    pub fn peer(&self) -> usize {
        self.peer
    }

    /// Sends one frame on a new unidirectional stream.
    pub async fn send(&self, frame: &[u8]) -> Result<(), NetworkError> {
        if frame.len() > self.limits.frame_bytes_max {
            return Err(FrameError::TooLarge {
                max: self.limits.frame_bytes_max,
                got: frame.len(),
            }
            .into());
        }
        let mut stream = self.connection.open_uni().await?;
        stream.write_all(frame).await?;
        stream
            .finish()
            .map_err(|_| NetworkError::Read("stream closed before finishing".into()))?;
        Ok(())
    }

    /// Receives the next frame (raw bytes, header unchecked), reading at most the frame limit.
    pub async fn receive(&self) -> Result<Vec<u8>, NetworkError> {
        let mut stream = self.connection.accept_uni().await?;
        read_bounded(&mut stream, self.limits.frame_bytes_max).await
    }

    /// Closes the connection with a reason (for example after repeated invalid frames).
    pub fn close(&self, reason: &str) {
        self.connection.close(1u32.into(), reason.as_bytes());
    }

    /// The reason the connection closed, once it has.
    pub fn close_reason(&self) -> Option<quinn::ConnectionError> {
        self.connection.close_reason()
    }
}

async fn read_bounded(stream: &mut quinn::RecvStream, max: usize) -> Result<Vec<u8>, NetworkError> {
    stream.read_to_end(max).await.map_err(|error| match error {
        quinn::ReadToEndError::TooLong => {
            NetworkError::Frame(FrameError::TooLarge { max, got: max + 1 })
        }
        quinn::ReadToEndError::Read(error) => NetworkError::Read(error.to_string()),
    })
}

/// A validator's endpoint for wallets and rollup clients: clients need no certificate; the
/// client pins the validator's certificate from the committee.
#[derive(Debug)]
pub struct ClientFacingEndpoint {
    endpoint: quinn::Endpoint,
    limits: Limits,
}

impl ClientFacingEndpoint {
    /// Binds `address` with this validator's identity.
    pub fn bind(
        address: SocketAddr,
        identity: &Identity,
        limits: Limits,
    ) -> Result<Self, NetworkError> {
        let server = client_facing_server_config(identity, transport(&limits))?;
        Ok(Self {
            endpoint: quinn::Endpoint::server(server, address)?,
            limits,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, NetworkError> {
        Ok(self.endpoint.local_addr()?)
    }

    /// The next client connection; `None` once closed.
    pub async fn accept(&self) -> Option<Result<ClientConnection, NetworkError>> {
        let incoming = self.endpoint.accept().await?;
        Some(
            incoming
                .await
                .map(|connection| ClientConnection {
                    connection,
                    limits: self.limits.clone(),
                })
                .map_err(NetworkError::from),
        )
    }

    /// Stops accepting and closes every connection.
    pub fn close(&self) {
        self.endpoint.close(0u32.into(), b"shutdown");
    }
}

/// A client connection seen from the validator.
#[derive(Clone, Debug)]
pub struct ClientConnection {
    connection: quinn::Connection,
    limits: Limits,
}

/// One client request, answered on its own stream.
#[derive(Debug)]
pub struct Request {
    /// The request frame (header unchecked).
    pub frame: Vec<u8>,
    reply: quinn::SendStream,
}

impl Request {
    /// Answers the request and closes its stream.
    pub async fn answer(mut self, frame: &[u8]) -> Result<(), NetworkError> {
        self.reply.write_all(frame).await?;
        self.reply
            .finish()
            .map_err(|_| NetworkError::Read("stream closed before finishing".into()))?;
        Ok(())
    }
}

impl ClientConnection {
    /// The next request on this connection.
    pub async fn next_request(&self) -> Result<Request, NetworkError> {
        let (reply, mut receive) = self.connection.accept_bi().await?;
        let frame = read_bounded(&mut receive, self.limits.frame_bytes_max).await?;
        Ok(Request { frame, reply })
    }

    /// Closes the connection with a reason.
    pub fn close(&self, reason: &str) {
        self.connection.close(1u32.into(), reason.as_bytes());
    }

    /// Waits until the client closes the connection (or it fails). Dropping the last handle
    /// closes a connection at once, losing answers still in flight, so a server keeps it until
    /// this returns.
    pub async fn closed(&self) {
        self.connection.closed().await;
    }
}

/// The wallet/SDK side: a connection to one validator's client endpoint.
#[derive(Debug)]
pub struct ClientSession {
    endpoint: quinn::Endpoint,
    connection: quinn::Connection,
    limits: Limits,
}

impl ClientSession {
    /// Connects to a validator at `address` whose certificate pin is `pin`, from an ephemeral
    /// local port on `local`.
    pub async fn connect(
        local: SocketAddr,
        address: SocketAddr,
        pin: Pin,
        limits: Limits,
    ) -> Result<Self, NetworkError> {
        let endpoint = quinn::Endpoint::client(local)?;
        let config = pinned_client_config(None, pin, transport(&limits))?;
        let connection = endpoint.connect_with(config, address, SERVER_NAME)?.await?;
        Ok(Self {
            endpoint,
            connection,
            limits,
        })
    }

    /// Sends one request frame and waits for its answer.
    pub async fn request(&self, frame: &[u8]) -> Result<Vec<u8>, NetworkError> {
        let (mut send, mut receive) = self.connection.open_bi().await?;
        send.write_all(frame).await?;
        send.finish()
            .map_err(|_| NetworkError::Read("stream closed before finishing".into()))?;
        read_bounded(&mut receive, self.limits.frame_bytes_max).await
    }

    /// Closes the session.
    pub fn close(&self) {
        self.connection.close(0u32.into(), b"done");
        self.endpoint.close(0u32.into(), b"done");
    }
}
