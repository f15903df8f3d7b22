//! Network tasks: one sender per peer (bounded queue, reconnect with back-off), one reader per
//! incoming peer connection, one handler per client connection. Readers decode frames (checked
//! header, validated body) and hand typed messages to the validator loop through a bounded
//! channel; a peer or client that keeps sending invalid frames is disconnected.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use metrics::{counter, gauge};
use shroud_consensus::Message;
use shroud_network::frame::{self, parse};
use shroud_network::{
    ClientConnection, ClientFacingEndpoint, FrameError, FrameKind, Limits, NetworkError,
    PeerEndpoint,
};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, warn};

use shroud_proofs::output::HeightContext;
use shroud_proofs::{build_output, NamespaceId, NamespaceOutput, OutputCertificate};

use super::scores::{Offence, PeerScores};
use crate::batch::{Batch, BatchAck, BatchCertificate};
use crate::decrypt::{DecryptEvent, DecryptMessage, StageHandle};
use crate::ingress::{IngressConfig, IngressHandle};
use crate::store::NodeStore;
use crate::wire::{
    BatchRequest, EpochKeyVote, OutputsRequest, OutputsResponse, Receipt, SubmitRequest,
};
use shroud_network::client::{
    DecryptionEvidenceRequest, DecryptionEvidenceResponse, EpochKeyRequest, EpochKeyResponse,
    SubmitStreamOpen, TxStatusRequest,
};
use shroud_proofs::TxId;

/// Invalid frames a client connection may send before it is closed (a validator's are scored:
/// [`PeerScores`]).
const INVALID_FRAMES_MAX: u32 = 16;
/// Frames queued for one peer; when full, new frames to it are dropped (consensus recovers by
/// timeouts and fetches; uncertified batches are re-sent).
const PEER_QUEUE: usize = 4_096;
/// Bytes queued on one peer's bulk lane (batches, shares, answers).
pub const LANE_BYTES_MAX: usize = 64 << 20;
/// Bytes queued on one peer's consensus lane (proposals list certificates, not transactions).
pub const CONSENSUS_LANE_BYTES_MAX: usize = 16 << 20;

/// A message from a validator.
#[derive(Debug)]
pub enum PeerMessage {
    /// Consensus (boxed: it is much larger than the other messages, which travel the same
    /// channel).
    Consensus(Box<Message>),
    /// Consensus blocks in bulk (fetches and state sync): queued with batches, behind votes.
    ConsensusBulk(Box<Message>),
    /// A batch (from its author, or answering a request).
    Batch(Batch),
    /// An acknowledgement of one of our batches.
    BatchAck(BatchAck),
    /// A request for a batch.
    BatchRequest(BatchRequest),
    /// A batch certificate from the batch's author.
    BatchCertificate(BatchCertificate),
    /// A message of the decryption stage.
    Decryption(DecryptMessage),
    /// A signature over the epoch key set.
    EpochKeyVote(EpochKeyVote),
    /// A DKG message, for the receiver's proposals.
    DkgPost(crate::batch::DkgPost),
}

/// What the validator loop receives.
#[derive(Debug)]
pub enum Event {
    /// A decoded message from validator `from`.
    Peer { from: usize, message: PeerMessage },
    /// An own batch the ingress stage cut and flushed: collect its acknowledgements.
    OwnBatch(crate::batch::CutBatch),
    /// An operator's query.
    Query(super::Query),
}

/// Decodes a validator's frame.
pub fn decode_peer(bytes: &[u8], limits: &Limits) -> Result<PeerMessage, FrameError> {
    let parsed = parse(bytes, limits)?;
    match parsed.kind {
        // Decoded as the message itself (the wire carries a `Message`, not a box), then boxed.
        FrameKind::Consensus => parsed
            .decode::<Message>(FrameKind::Consensus)
            .map(|message| PeerMessage::Consensus(Box::new(message))),
        FrameKind::ConsensusBulk => parsed
            .decode::<Message>(FrameKind::ConsensusBulk)
            .map(|message| PeerMessage::ConsensusBulk(Box::new(message))),
        FrameKind::Batch => parsed.decode(FrameKind::Batch).map(PeerMessage::Batch),
        FrameKind::BatchAck => parsed
            .decode(FrameKind::BatchAck)
            .map(PeerMessage::BatchAck),
        FrameKind::BatchRequest => parsed
            .decode(FrameKind::BatchRequest)
            .map(PeerMessage::BatchRequest),
        FrameKind::BatchCertificate => parsed
            .decode(FrameKind::BatchCertificate)
            .map(PeerMessage::BatchCertificate),
        FrameKind::DecryptionShares => parsed
            .decode(FrameKind::DecryptionShares)
            .map(|shares| PeerMessage::Decryption(DecryptMessage::Shares(shares))),
        FrameKind::DecryptionCombined => parsed
            .decode(FrameKind::DecryptionCombined)
            .map(|combined| PeerMessage::Decryption(DecryptMessage::Combined(combined))),
        FrameKind::OutputVote => parsed
            .decode(FrameKind::OutputVote)
            .map(|vote| PeerMessage::Decryption(DecryptMessage::Vote(vote))),
        FrameKind::OutputCertificate => parsed
            .decode::<OutputCertificate>(FrameKind::OutputCertificate)
            .map(|certificate| {
                PeerMessage::Decryption(DecryptMessage::Certificate(Box::new(certificate)))
            }),
        FrameKind::EpochKeyVote => parsed
            .decode(FrameKind::EpochKeyVote)
            .map(PeerMessage::EpochKeyVote),
        FrameKind::DkgPost => parsed.decode(FrameKind::DkgPost).map(PeerMessage::DkgPost),
        FrameKind::DecryptionRequest => parsed
            .decode(FrameKind::DecryptionRequest)
            .map(|request| PeerMessage::Decryption(DecryptMessage::Request(request))),
        other => Err(FrameError::UnexpectedKind {
            expected: FrameKind::Consensus,
            got: other,
        }),
    }
}

/// One lane to one peer: its queue and the bytes waiting in it.
#[derive(Clone, Debug)]
struct Lane {
    queue: mpsc::Sender<Arc<Vec<u8>>>,
    queued_bytes: Arc<AtomicUsize>,
    bytes_max: usize,
    label: &'static str,
}

impl Lane {
    fn new(bytes_max: usize, label: &'static str) -> (Self, mpsc::Receiver<Arc<Vec<u8>>>) {
        let (queue, receiver) = mpsc::channel(PEER_QUEUE);
        let lane = Lane {
            queue,
            queued_bytes: Arc::new(AtomicUsize::new(0)),
            bytes_max,
            label,
        };
        (lane, receiver)
    }

    /// Queues a frame unless the lane is full in frames or in bytes (dropped and counted).
    fn push(&self, frame: Arc<Vec<u8>>) {
        let size = frame.len();
        let before = self.queued_bytes.fetch_add(size, Ordering::Relaxed);
        if before.saturating_add(size) > self.bytes_max {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            counter!("shroud_peer_frames_dropped_total", "lane" => self.label, "full" => "bytes")
                .increment(1);
            return;
        }
        if self.queue.try_send(frame).is_err() {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            counter!("shroud_peer_frames_dropped_total", "lane" => self.label, "full" => "frames")
                .increment(1);
        }
    }
}

/// The two lanes to one peer: consensus frames, and everything else.
#[derive(Clone, Debug)]
struct Lanes {
    consensus: Lane,
    bulk: Lane,
}

/// Handles for sending to peers. Each peer is reached on two lanes, each with its own queue,
/// task and QUIC connection: consensus frames on one, batches, acknowledgements,
/// certificates, shares and the rest on the other, so that a vote is never queued, sent or
/// read behind half a megabyte of batch. Each lane is bounded in frames and in bytes, so a
/// peer that reads slowly (or not at all) holds a bounded part of our memory (64 MiB of bulk,
/// 16 MiB of consensus frames).
#[derive(Clone, Debug)]
pub struct Outbox {
    queues: Vec<Option<Lanes>>,
}

impl Outbox {
    /// Queues a frame for `peer` on its lane (by the frame's kind); drops it (counted) if the
    /// lane's queue is full.
    pub fn send(&self, peer: usize, frame: Arc<Vec<u8>>) {
        if let Some(Some(lanes)) = self.queues.get(peer) {
            if frame.get(1) == Some(&(FrameKind::Consensus as u8)) {
                lanes.consensus.push(frame);
            } else {
                lanes.bulk.push(frame);
            }
        }
    }

    /// Queues a frame for every other validator.
    pub fn broadcast(&self, frame: Arc<Vec<u8>>) {
        for peer in 0..self.queues.len() {
            self.send(peer, frame.clone());
        }
    }
}

/// Starts two sender tasks per peer (see [`Outbox`]); returns the outbox.
pub fn start_senders(endpoint: Arc<PeerEndpoint>, addresses: Vec<SocketAddr>, me: usize) -> Outbox {
    let mut queues = Vec::with_capacity(addresses.len());
    for (peer, address) in addresses.into_iter().enumerate() {
        if peer == me {
            queues.push(None);
            continue;
        }
        let (consensus, consensus_queue) = Lane::new(CONSENSUS_LANE_BYTES_MAX, "consensus");
        tokio::spawn(sender_loop(
            endpoint.clone(),
            address,
            peer,
            consensus_queue,
            consensus.queued_bytes.clone(),
        ));
        let (bulk, bulk_queue) = Lane::new(LANE_BYTES_MAX, "bulk");
        tokio::spawn(sender_loop(
            endpoint.clone(),
            address,
            peer,
            bulk_queue,
            bulk.queued_bytes.clone(),
        ));
        queues.push(Some(Lanes { consensus, bulk }));
    }
    Outbox { queues }
}

async fn sender_loop(
    endpoint: Arc<PeerEndpoint>,
    address: SocketAddr,
    peer: usize,
    mut queue: mpsc::Receiver<Arc<Vec<u8>>>,
    queued_bytes: Arc<AtomicUsize>,
) {
    let mut backoff = Duration::from_millis(50);
    let mut connection = None;
    while let Some(frame) = queue.recv().await {
        queued_bytes.fetch_sub(frame.len(), Ordering::Relaxed);
        // One retry after reconnecting; a frame that still fails is dropped (the protocols
        // above tolerate loss).
        for _ in 0..2 {
            if connection.is_none() {
                match endpoint.connect(address, peer).await {
                    Ok(connected) => {
                        gauge!("shroud_quic_connections", "direction" => "out").increment(1.0);
                        connection = Some(connected);
                        backoff = Duration::from_millis(50);
                    }
                    Err(error) => {
                        debug!(peer, %error, "connect failed");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                        continue;
                    }
                }
            }
            let Some(open) = &connection else { continue };
            match open.send(&frame).await {
                Ok(()) => break,
                Err(error) => {
                    debug!(peer, %error, "send failed; reconnecting");
                    gauge!("shroud_quic_connections", "direction" => "out").decrement(1.0);
                    connection = None;
                }
            }
        }
    }
}

/// Where peers' messages go: consensus on its own queue, everything else on the other.
#[derive(Clone, Debug)]
pub struct PeerChannels {
    /// Consensus messages (served first).
    pub consensus: mpsc::Sender<Event>,
    /// Batches, acknowledgements, certificates, requests, epoch-key votes.
    pub events: mpsc::Sender<Event>,
}

/// Accepts validator connections and runs a reader for each.
pub async fn accept_peers(
    endpoint: Arc<PeerEndpoint>,
    channels: PeerChannels,
    stage: StageHandle,
    limits: Limits,
    scores: PeerScores,
) {
    while let Some(incoming) = endpoint.accept().await {
        match incoming {
            Ok(connection) => {
                if scores.is_banned(connection.peer()) {
                    counter!("shroud_peer_connections_refused_total", "reason" => "banned")
                        .increment(1);
                    connection.close("banned");
                    continue;
                }
                gauge!("shroud_quic_connections", "direction" => "in").increment(1.0);
                tokio::spawn(read_peer(
                    connection,
                    channels.clone(),
                    stage.clone(),
                    limits.clone(),
                    scores.clone(),
                ));
            }
            Err(error) => {
                counter!("shroud_peer_handshakes_refused_total").increment(1);
                warn!(%error, "refused a validator connection");
            }
        }
    }
}

async fn read_peer(
    connection: shroud_network::PeerConnection,
    channels: PeerChannels,
    stage: StageHandle,
    limits: Limits,
    scores: PeerScores,
) {
    let from = connection.peer();
    loop {
        let received = connection.receive().await;
        // A ban (for this frame or for what the validator loop or the decryption stage
        // found) closes the connection at the next frame.
        if scores.is_banned(from) {
            connection.close("banned");
            break;
        }
        let bytes = match received {
            Ok(bytes) => bytes,
            Err(NetworkError::Frame(error)) => {
                reject_frame(&error);
                if scores.penalize(from, Offence::InvalidFrame) {
                    connection.close("banned");
                    break;
                }
                continue;
            }
            Err(_) => break,
        };
        match decode_peer(&bytes, &limits) {
            Ok(PeerMessage::Decryption(message)) => {
                // The decryption stage runs on its own thread and never blocks this reader.
                let from = u16::try_from(from).unwrap_or(u16::MAX);
                stage.send(DecryptEvent::Peer { from, message });
            }
            Ok(message) => {
                // Consensus travels its own queue, which the validator loop serves first, so
                // no batch or client load ahead of it can delay a vote or a proposal.
                let queue = match &message {
                    PeerMessage::Consensus(_) => &channels.consensus,
                    _ => &channels.events,
                };
                if queue.send(Event::Peer { from, message }).await.is_err() {
                    break;
                }
            }
            Err(error) => {
                reject_frame(&error);
                if scores.penalize(from, Offence::InvalidFrame) {
                    connection.close("banned");
                    break;
                }
            }
        }
    }
    gauge!("shroud_quic_connections", "direction" => "in").decrement(1.0);
}

fn reject_frame(error: &FrameError) {
    counter!("shroud_frames_rejected_total", "reason" => error.label()).increment(1);
}

/// What a client connection's handler needs.
#[derive(Clone, Debug)]
pub struct ClientContext {
    /// The ingress stage (submissions).
    pub ingress: IngressHandle,
    /// The ingress limits (connections, in-flight submissions).
    pub config: IngressConfig,
    /// The store (outputs are read from it directly, off the validator loop).
    pub store: NodeStore,
    /// The highest contiguous certified height.
    pub certified: watch::Receiver<u64>,
    /// Frame limits.
    pub limits: Limits,
}

/// Longest wait a client may ask for in an outputs request.
const OUTPUTS_WAIT_MS_MAX: u32 = 10_000;
/// Most heights one outputs answer scans.
const OUTPUTS_HEIGHTS_MAX: u32 = 256;

/// Open client connections, in total and by address, against the caps.
#[derive(Debug, Default)]
struct OpenConnections {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

impl OpenConnections {
    fn try_open(&mut self, address: IpAddr, config: &IngressConfig) -> bool {
        let from_address = self.by_address.get(&address).copied().unwrap_or(0);
        if self.total >= config.connections_max
            || from_address >= config.connections_per_address_max
        {
            return false;
        }
        self.total += 1;
        *self.by_address.entry(address).or_default() += 1;
        true
    }

    fn close(&mut self, address: IpAddr) {
        self.total = self.total.saturating_sub(1);
        if let Some(count) = self.by_address.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                self.by_address.remove(&address);
            }
        }
    }
}

fn lock(open: &std::sync::Mutex<OpenConnections>) -> std::sync::MutexGuard<'_, OpenConnections> {
    open.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Accepts client connections and runs a handler for each, up to the connection caps; a
/// connection past them is closed at once with the reason `overloaded` (counted).
pub async fn accept_clients(endpoint: Arc<ClientFacingEndpoint>, context: ClientContext) {
    let open = Arc::new(std::sync::Mutex::new(OpenConnections::default()));
    while let Some(incoming) = endpoint.accept().await {
        let Ok(connection) = incoming else { continue };
        let address = connection.remote_address().ip();
        if !lock(&open).try_open(address, &context.config) {
            counter!("shroud_client_connections_refused_total").increment(1);
            connection.close("overloaded");
            continue;
        }
        gauge!("shroud_client_connections").increment(1.0);
        let open = open.clone();
        let context = context.clone();
        tokio::spawn(async move {
            serve_client(connection, context).await;
            lock(&open).close(address);
            gauge!("shroud_client_connections").decrement(1.0);
        });
    }
}

fn rejected(label: &str, reason: String) -> Receipt {
    Receipt::Rejected {
        label: label.to_string(),
        reason,
    }
}

/// Serves one connection: each stream is a request handled on a task of its own (QUIC bounds
/// the streams open at once); the connection closes after too many invalid frames.
async fn serve_client(connection: ClientConnection, context: ClientContext) {
    let invalid = Arc::new(AtomicU32::new(0));
    loop {
        let request = match connection.next_request().await {
            Ok(request) => request,
            Err(NetworkError::Frame(error)) => {
                reject_frame(&error);
                if invalid.fetch_add(1, Ordering::Relaxed) + 1 >= INVALID_FRAMES_MAX {
                    connection.close("too many invalid frames");
                    return;
                }
                continue;
            }
            Err(_) => return,
        };
        tokio::spawn(serve_request(
            connection.clone(),
            request,
            context.clone(),
            invalid.clone(),
        ));
    }
}

/// Counts an invalid frame; whether the connection has now sent too many.
fn count_invalid(invalid: &AtomicU32, error: &FrameError) -> bool {
    reject_frame(error);
    invalid.fetch_add(1, Ordering::Relaxed) + 1 >= INVALID_FRAMES_MAX
}

async fn serve_request(
    connection: ClientConnection,
    request: shroud_network::Request,
    mut context: ClientContext,
    invalid: Arc<AtomicU32>,
) {
    let mut bad = None;
    if request.is_stream {
        let opened = parse(&request.frame, &context.limits)
            .and_then(|parsed| parsed.decode::<SubmitStreamOpen>(FrameKind::SubmitStream));
        match opened {
            Ok(_) => submission_stream(&connection, request, &context, &invalid).await,
            Err(error) => {
                if count_invalid(&invalid, &error) {
                    connection.close("too many invalid frames");
                }
            }
        }
        return;
    }
    let answer = match parse(&request.frame, &context.limits) {
        Ok(parsed) if parsed.kind == FrameKind::Submit => {
            let receipt = match parsed.decode::<SubmitRequest>(FrameKind::Submit) {
                Ok(submit) => context.ingress.submit(submit.ciphertext).await,
                Err(error) => {
                    bad = Some(error.clone());
                    rejected(error.label(), error.to_string())
                }
            };
            frame::encode(FrameKind::Receipt, &receipt, &context.limits).ok()
        }
        Ok(parsed) if parsed.kind == FrameKind::OutputsRequest => {
            match parsed.decode::<OutputsRequest>(FrameKind::OutputsRequest) {
                Ok(wanted) => outputs(&mut context, &wanted).await.and_then(|response| {
                    frame::encode(FrameKind::Outputs, &response, &context.limits).ok()
                }),
                Err(error) => {
                    bad = Some(error);
                    None
                }
            }
        }
        Ok(parsed) if parsed.kind == FrameKind::TxStatusRequest => {
            match parsed.decode::<TxStatusRequest>(FrameKind::TxStatusRequest) {
                Ok(wanted) => {
                    let store = context.store.clone();
                    let held = context.ingress.held();
                    let committed = context.ingress.committed();
                    let status = tokio::task::spawn_blocking(move || {
                        crate::status::tx_status(&store, &held, &committed, TxId(wanted.tx_id))
                    })
                    .await
                    .ok()
                    .and_then(Result::ok);
                    status.and_then(|status| {
                        frame::encode(FrameKind::TxStatus, &status, &context.limits).ok()
                    })
                }
                Err(error) => {
                    bad = Some(error);
                    None
                }
            }
        }
        Ok(parsed) if parsed.kind == FrameKind::DecryptionEvidenceRequest => {
            match parsed.decode::<DecryptionEvidenceRequest>(FrameKind::DecryptionEvidenceRequest) {
                Ok(wanted) => {
                    let store = context.store.clone();
                    let evidence = tokio::task::spawn_blocking(move || {
                        crate::status::decryption_evidence(&store, wanted.height)
                    })
                    .await
                    .ok()
                    .and_then(Result::ok);
                    evidence.and_then(|evidence| {
                        let encode = |evidence| {
                            frame::encode(
                                FrameKind::DecryptionEvidence,
                                &DecryptionEvidenceResponse { evidence },
                                &context.limits,
                            )
                        };
                        // A height too large for one frame is answered as not served here
                        // (counted), not by closing the client's connection.
                        encode(evidence).ok().or_else(|| {
                            counter!("shroud_decryption_evidence_too_large_total").increment(1);
                            encode(None).ok()
                        })
                    })
                }
                Err(error) => {
                    bad = Some(error);
                    None
                }
            }
        }
        Ok(parsed) if parsed.kind == FrameKind::EpochKeyRequest => {
            match parsed.decode::<EpochKeyRequest>(FrameKind::EpochKeyRequest) {
                Ok(_) => {
                    let certificate = context.store.epoch_key_certificate().ok().flatten();
                    frame::encode(
                        FrameKind::EpochKey,
                        &EpochKeyResponse { certificate },
                        &context.limits,
                    )
                    .ok()
                }
                Err(error) => {
                    bad = Some(error);
                    None
                }
            }
        }
        Ok(parsed) => {
            let error = FrameError::UnexpectedKind {
                expected: FrameKind::Submit,
                got: parsed.kind,
            };
            bad = Some(error.clone());
            let receipt = rejected(error.label(), error.to_string());
            frame::encode(FrameKind::Receipt, &receipt, &context.limits).ok()
        }
        Err(error) => {
            bad = Some(error.clone());
            let receipt = rejected(error.label(), error.to_string());
            frame::encode(FrameKind::Receipt, &receipt, &context.limits).ok()
        }
    };
    let too_many = bad.is_some_and(|error| count_invalid(&invalid, &error));
    let Some(frame) = answer else {
        connection.close("cannot answer");
        return;
    };
    if request.answer(&frame).await.is_err() || too_many {
        connection.close("too many invalid frames");
    }
}

/// A receipt to send on a submission stream: known now, or once the ingress stage answers.
#[derive(Debug)]
enum Answer {
    Now(Receipt),
    Later(oneshot::Receiver<Receipt>),
}

/// A submission stream: every `Submit` frame goes to the ingress stage as it arrives, and the
/// receipts go back in the same order as their groups are flushed. At most
/// `in_flight_per_stream_max` submissions wait for receipts; past that the stream is not read
/// (QUIC flow control then holds the client back).
async fn submission_stream(
    connection: &ClientConnection,
    request: shroud_network::Request,
    context: &ClientContext,
    invalid: &AtomicU32,
) {
    let (mut frames, mut answers) = request.into_stream();
    let (queue, mut waiting) = mpsc::channel::<Answer>(context.config.in_flight_per_stream_max);
    let limits = context.limits.clone();
    let writer = tokio::spawn(async move {
        while let Some(answer) = waiting.recv().await {
            let receipt = match answer {
                Answer::Now(receipt) => receipt,
                Answer::Later(receiver) => receiver.await.unwrap_or_else(|_| {
                    rejected("unavailable", "the validator is shutting down".into())
                }),
            };
            let Ok(frame) = frame::encode(FrameKind::Receipt, &receipt, &limits) else {
                return;
            };
            if answers.send(&frame).await.is_err() {
                return;
            }
        }
        answers.finish();
    });
    loop {
        let answer = match frames.next().await {
            Ok(Some(bytes)) => match parse(&bytes, &context.limits)
                .and_then(|parsed| parsed.decode::<SubmitRequest>(FrameKind::Submit))
            {
                Ok(submit) => match context.ingress.try_submit(submit.ciphertext) {
                    Ok(receiver) => Answer::Later(receiver),
                    Err(receipt) => Answer::Now(receipt),
                },
                Err(error) => {
                    if count_invalid(invalid, &error) {
                        connection.close("too many invalid frames");
                        break;
                    }
                    Answer::Now(rejected(error.label(), error.to_string()))
                }
            },
            Ok(None) => break,
            Err(NetworkError::Frame(error)) => {
                if count_invalid(invalid, &error) {
                    connection.close("too many invalid frames");
                }
                break;
            }
            Err(_) => break,
        };
        if queue.send(answer).await.is_err() {
            break;
        }
    }
    drop(queue);
    let _ = writer.await;
}

/// Answers an outputs request from the store, waiting (bounded) for a new certified height
/// when none at or above `from_height` exists yet.
async fn outputs(context: &mut ClientContext, wanted: &OutputsRequest) -> Option<OutputsResponse> {
    let wait = std::time::Duration::from_millis(u64::from(wanted.wait_ms.min(OUTPUTS_WAIT_MS_MAX)));
    if *context.certified.borrow() < wanted.from_height {
        let reached = |height: &u64| *height >= wanted.from_height;
        let _ = tokio::time::timeout(wait, context.certified.wait_for(reached)).await;
    }
    let certified = *context.certified.borrow();
    let kept_from_height = context
        .store
        .kept_from_height()
        .map_err(|error| warn!(%error, "reading the retention mark failed"))
        .ok()?;
    let requested = wanted.from_height;
    let pruned = move |kept_from_height: u64| OutputsResponse {
        outputs: Vec::new(),
        next_height: requested,
        certified_height: certified,
        kept_from_height,
    };
    if wanted.from_height.max(1) < kept_from_height {
        return Some(pruned(kept_from_height));
    }
    let heights = u64::from(wanted.heights_max.clamp(1, OUTPUTS_HEIGHTS_MAX));
    let from = wanted.from_height.max(1);
    let until = certified.min(from.saturating_add(heights - 1));
    let store = context.store.clone();
    let namespace = wanted.namespace;
    let limits = context.limits.frame_bytes_max;
    // Reading and rebuilding trees is blocking work: keep it off the async workers.
    tokio::task::spawn_blocking(
        move || -> Result<OutputsResponse, crate::store::StoreError> {
            let (outputs, next_height) = namespace_outputs(&store, namespace, from, until, limits)?;
            // The scan is not a snapshot: if `from` was pruned while it ran, the page may stop
            // short, so say "pruned" instead.
            let kept_now = store.kept_from_height()?;
            if from < kept_now {
                return Ok(pruned(kept_now));
            }
            Ok(OutputsResponse {
                outputs,
                next_height,
                certified_height: certified,
                kept_from_height,
            })
        },
    )
    .await
    .ok()?
    .map_err(|error| warn!(%error, "reading outputs failed"))
    .ok()
}

/// A namespace's certified outputs at every height in `from..=until` (with an absence proof
/// where it has no items), stopping before the answer would pass about half the frame limit.
fn namespace_outputs(
    store: &NodeStore,
    namespace: NamespaceId,
    from: u64,
    until: u64,
    bytes_max: usize,
) -> Result<(Vec<NamespaceOutput>, u64), crate::store::StoreError> {
    let mut outputs = Vec::new();
    let mut size = 0usize;
    for height in from..=until {
        let (Some(record), Some(certificate)) =
            (store.output(height)?, store.output_certificate(height)?)
        else {
            return Ok((outputs, height));
        };
        let context = HeightContext {
            chain_id: record.header.chain_id,
            epoch: record.header.epoch,
            height,
            block_digest: record.header.block_digest,
            parent_output: record.header.parent_output,
        };
        let built = build_output(&context, &record.entries);
        if built.header != certificate.header {
            return Err(crate::store::StoreError::Corrupt("outputs"));
        }
        let output = built
            .namespace_output(namespace, certificate)
            .ok_or(crate::store::StoreError::Corrupt("outputs"))?;
        size += output
            .items
            .iter()
            .map(|item| item.data.len() + 80)
            .sum::<usize>()
            + 1_024;
        if size > bytes_max / 2 && !outputs.is_empty() {
            return Ok((outputs, height));
        }
        outputs.push(output);
    }
    // Nothing certified from `from` on yet: the reader goes on from where it asked.
    Ok((outputs, until.saturating_add(1).max(from)))
}
