//! QUIC endpoints: validator-to-validator (mutually pinned) and client-facing.
//!
//! One frame per stream between validators: a unidirectional stream carries one frame. A
//! client's bidirectional stream carries one request and its answer (read to the end of the
//! stream), or a *submission stream*: a `SubmitStream` frame, then any number of `Submit`
//! frames, each answered by a `Receipt` frame in the same order, pipelined (the client need
//! not wait for a receipt before sending the next). Frames on a submission stream are
//! delimited by their headers' lengths. A frame is read only up
//! to [`Limits::frame_bytes_max`], and a connection admits at most [`Limits::streams_max`]
//! concurrent incoming streams, so a peer cannot make this node buffer more than that.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;

use crate::error::NetworkError;
use crate::frame::{FrameError, FrameKind, Limits, HEADER_BYTES};
use crate::tls::{
    client_facing_server_config, peer_server_config, pinned_client_config, Identity, Pin,
};

/// The server name used on the wire; pins, not names, authenticate.
const SERVER_NAME: &str = "shroud";

/// Largest UDP payload this node sends or accepts: a 9,000-byte jumbo frame less the IPv4 and
/// UDP headers. QUIC starts at 1,200 bytes and MTU discovery raises a connection's packets
/// towards this only where the path carries them (loopback and jumbo-frame networks); elsewhere
/// the probes are lost and packets stay at the path's size. Each packet costs about the same to
/// seal, send, acknowledge and open whatever its size, so a batch of hundreds of KiB in 9 KB
/// packets costs a sixth of what it costs in the default 1,452-byte ones.
pub const UDP_PAYLOAD_BYTES_MAX: u16 = 8_972;

fn transport(limits: &Limits) -> Arc<quinn::TransportConfig> {
    let mut transport = quinn::TransportConfig::default();
    let mut discovery = quinn::MtuDiscoveryConfig::default();
    discovery.upper_bound(UDP_PAYLOAD_BYTES_MAX);
    transport.mtu_discovery_config(Some(discovery));
    transport.max_concurrent_uni_streams(limits.streams_max.into());
    transport.max_concurrent_bidi_streams(limits.streams_max.into());
    transport.keep_alive_interval(Some(Duration::from_secs(5)));
    transport.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(Duration::from_secs(30))
            .expect("30 s is a valid idle timeout"),
    ));
    Arc::new(transport)
}

/// The keys that let a restarted validator reset its peers' stale connections: the key of
/// its stateless-reset tokens and the key its connection ids are checked with, both derived
/// from its TLS key under `tag`. A validator that restarts (even after SIGKILL) recognises the
/// connection ids it issued before (so it does not drop its peers' packets on them as
/// invalid) and answers those packets with a reset its peers accept, so they reconnect at once
/// instead of sending into the old connection until its idle timeout (30 s). The tokens stay
/// secret (only the holder of the TLS key can make them), as RFC 9000 §10.3 requires.
struct StableKeys {
    reset: Arc<dyn quinn::crypto::HmacKey>,
    connection_ids: u64,
}

fn stable_keys(identity: &Identity, tag: &[u8]) -> StableKeys {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    hasher.update([tag.len() as u8]);
    hasher.update(tag);
    hasher.update(identity.key_der());
    let secret: zeroize::Zeroizing<[u8; 32]> = zeroize::Zeroizing::new(hasher.finalize().into());
    let mut id_key = [0u8; 8];
    id_key.copy_from_slice(&sha2::Sha256::digest(secret.as_slice())[..8]);
    StableKeys {
        reset: Arc::new(ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            secret.as_slice(),
        )),
        connection_ids: u64::from_le_bytes(id_key),
    }
}

/// An endpoint on `address` that accepts packets up to [`UDP_PAYLOAD_BYTES_MAX`], serving
/// with `server` if given; with `keys`, its resets and connection ids survive a restart (else
/// they are random).
fn bind_endpoint(
    address: SocketAddr,
    server: Option<quinn::ServerConfig>,
    keys: Option<StableKeys>,
) -> Result<quinn::Endpoint, NetworkError> {
    let mut config = match keys {
        Some(keys) => {
            let mut config = quinn::EndpointConfig::new(keys.reset);
            let id_key = keys.connection_ids;
            config.cid_generator(move || {
                Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(id_key))
            });
            config
        }
        None => quinn::EndpointConfig::default(),
    };
    config
        .max_udp_payload_size(UDP_PAYLOAD_BYTES_MAX)
        .map_err(|_| NetworkError::Io(std::io::Error::other("UDP payload bound out of range")))?;
    let socket = std::net::UdpSocket::bind(address)?;
    let runtime = quinn::default_runtime()
        .ok_or_else(|| NetworkError::Io(std::io::Error::other("no async runtime")))?;
    Ok(quinn::Endpoint::new(config, server, socket, runtime)?)
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
        let keys = stable_keys(&identity, shroud_crypto::domains::QUIC_RESET_KEY_PEER);
        let endpoint = bind_endpoint(address, Some(server), Some(keys))?;
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
        quinn::ReadToEndError::Read(error) => NetworkError::Read(crate::error::read_reason(&error)),
    })
}

/// Reads the next frame of a stream by its header (version, kind, length), at most `max`
/// bytes in all; `None` when the stream ended cleanly between frames.
pub async fn read_frame(
    stream: &mut quinn::RecvStream,
    max: usize,
) -> Result<Option<Vec<u8>>, NetworkError> {
    let mut header = [0u8; HEADER_BYTES];
    match stream.read_exact(&mut header).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(quinn::ReadExactError::FinishedEarly(got)) => {
            return Err(NetworkError::Frame(FrameError::TooShort(got)))
        }
        Err(quinn::ReadExactError::ReadError(error)) => {
            return Err(NetworkError::Read(crate::error::read_reason(&error)))
        }
    }
    read_body(stream, header, max).await.map(Some)
}

/// Reads the body a frame header announces, at most `max` bytes for the whole frame.
async fn read_body(
    stream: &mut quinn::RecvStream,
    header: [u8; HEADER_BYTES],
    max: usize,
) -> Result<Vec<u8>, NetworkError> {
    let declared = u32::from_be_bytes([header[2], header[3], header[4], header[5]]);
    let total = usize::try_from(declared)
        .unwrap_or(usize::MAX)
        .saturating_add(HEADER_BYTES);
    if total > max {
        return Err(NetworkError::Frame(FrameError::TooLarge {
            max,
            got: total,
        }));
    }
    let mut frame = vec![0u8; total];
    frame[..HEADER_BYTES].copy_from_slice(&header);
    stream
        .read_exact(&mut frame[HEADER_BYTES..])
        .await
        .map_err(|error| match error {
            quinn::ReadExactError::FinishedEarly(got) => {
                NetworkError::Frame(FrameError::LengthMismatch {
                    declared: total - HEADER_BYTES,
                    got,
                })
            }
            quinn::ReadExactError::ReadError(error) => {
                NetworkError::Read(crate::error::read_reason(&error))
            }
        })?;
    Ok(frame)
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
            endpoint: bind_endpoint(
                address,
                Some(server),
                Some(stable_keys(
                    identity,
                    shroud_crypto::domains::QUIC_RESET_KEY_CLIENT_FACING,
                )),
            )?,
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

/// One client request, answered on its own stream: the whole stream (one frame, header
/// unchecked), or the opening frame of a submission stream.
#[derive(Debug)]
pub struct Request {
    /// The request frame (header unchecked).
    pub frame: Vec<u8>,
    /// Whether this opens a submission stream (more frames follow on it).
    pub is_stream: bool,
    reply: quinn::SendStream,
    receive: quinn::RecvStream,
    limits: Limits,
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

    /// Turns the request into a submission stream: the frames that follow the first, and the
    /// stream on which the answers go, in order.
    pub fn into_stream(self) -> (RequestFrames, Answers) {
        (
            RequestFrames {
                receive: self.receive,
                limits: self.limits,
            },
            Answers { reply: self.reply },
        )
    }
}

/// The frames a client sends after the first on a submission stream.
#[derive(Debug)]
pub struct RequestFrames {
    receive: quinn::RecvStream,
    limits: Limits,
}

impl RequestFrames {
    /// The next frame, or `None` once the client finished the stream.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, NetworkError> {
        read_frame(&mut self.receive, self.limits.frame_bytes_max).await
    }
}

/// Where a submission stream's answers go, one frame per request frame, in order.
#[derive(Debug)]
pub struct Answers {
    reply: quinn::SendStream,
}

impl Answers {
    /// Sends one answer frame.
    pub async fn send(&mut self, frame: &[u8]) -> Result<(), NetworkError> {
        self.reply.write_all(frame).await?;
        Ok(())
    }

    /// Ends the stream of answers.
    pub fn finish(mut self) {
        // A client that already went away cannot be told more.
        let _ = self.reply.finish();
    }
}

impl ClientConnection {
    /// The next request on this connection: a whole stream, or the opening frame of a
    /// submission stream (told apart by the kind byte).
    pub async fn next_request(&self) -> Result<Request, NetworkError> {
        let (reply, mut receive) = self.connection.accept_bi().await?;
        let max = self.limits.frame_bytes_max;
        let mut start = [0u8; 2];
        let frame = match receive.read_exact(&mut start).await {
            Ok(()) if start[1] == FrameKind::SubmitStream as u8 => {
                let mut header = [0u8; HEADER_BYTES];
                header[..2].copy_from_slice(&start);
                receive
                    .read_exact(&mut header[2..])
                    .await
                    .map_err(|error| match error {
                        quinn::ReadExactError::FinishedEarly(got) => {
                            NetworkError::Frame(FrameError::TooShort(2 + got))
                        }
                        quinn::ReadExactError::ReadError(error) => {
                            NetworkError::Read(crate::error::read_reason(&error))
                        }
                    })?;
                let frame = read_body(&mut receive, header, max).await?;
                return Ok(Request {
                    frame,
                    is_stream: true,
                    reply,
                    receive,
                    limits: self.limits.clone(),
                });
            }
            Ok(()) => {
                let rest = read_bounded(&mut receive, max.saturating_sub(2)).await?;
                let mut frame = start.to_vec();
                frame.extend_from_slice(&rest);
                frame
            }
            Err(quinn::ReadExactError::FinishedEarly(got)) => start[..got].to_vec(),
            Err(quinn::ReadExactError::ReadError(error)) => {
                return Err(NetworkError::Read(crate::error::read_reason(&error)))
            }
        };
        Ok(Request {
            frame,
            is_stream: false,
            reply,
            receive,
            limits: self.limits.clone(),
        })
    }

    /// The client's address.
    pub fn remote_address(&self) -> SocketAddr {
        self.connection.remote_address()
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
        let endpoint = bind_endpoint(local, None, None)?;
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

    /// Opens a submission stream: sends `opening` (a `SubmitStream` frame); the `Submit`
    /// frames written on the first half are answered, in order, on the second (see the module
    /// documentation).
    pub async fn open_stream(
        &self,
        opening: &[u8],
    ) -> Result<(StreamWriter, StreamReader), NetworkError> {
        let (mut send, receive) = self.connection.open_bi().await?;
        send.write_all(opening).await?;
        Ok((
            StreamWriter { send },
            StreamReader {
                receive,
                limits: self.limits.clone(),
            },
        ))
    }

    /// Closes the session.
    pub fn close(&self) {
        self.connection.close(0u32.into(), b"done");
        self.endpoint.close(0u32.into(), b"done");
    }
}

/// The sending half of a client's submission stream.
#[derive(Debug)]
pub struct StreamWriter {
    send: quinn::SendStream,
}

impl StreamWriter {
    /// Sends one frame (QUIC flow control holds it back while the validator is behind).
    pub async fn write(&mut self, frame: &[u8]) -> Result<(), NetworkError> {
        self.send.write_all(frame).await?;
        Ok(())
    }

    /// Ends the stream: no more frames; the answers still come.
    pub fn finish(mut self) -> Result<(), NetworkError> {
        self.send
            .finish()
            .map_err(|_| NetworkError::Read("stream closed before finishing".into()))
    }
}

/// The receiving half of a client's submission stream: one answer per frame sent, in order.
#[derive(Debug)]
pub struct StreamReader {
    receive: quinn::RecvStream,
    limits: Limits,
}

impl StreamReader {
    /// The next answer, or `None` once the validator ended the stream.
    pub async fn read(&mut self) -> Result<Option<Vec<u8>>, NetworkError> {
        read_frame(&mut self.receive, self.limits.frame_bytes_max).await
    }
}
