//! Network tasks: one sender per peer (bounded queue, reconnect with back-off), one reader per
//! incoming peer connection, one handler per client connection. Readers decode frames (checked
//! header, validated body) and hand typed messages to the validator loop through a bounded
//! channel; a peer or client that keeps sending invalid frames is disconnected.

use std::net::SocketAddr;
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

use crate::batch::{Batch, BatchAck, BatchCertificate};
use crate::decrypt::{DecryptEvent, DecryptMessage, StageHandle};
use crate::store::NodeStore;
use crate::wire::{
    BatchRequest, EpochKeyVote, OutputsRequest, OutputsResponse, Receipt, SubmitRequest,
};
use shroud_network::client::{EpochKeyRequest, EpochKeyResponse, TxStatusRequest};
use shroud_proofs::TxId;

/// Invalid frames a connection may send before it is closed.
const INVALID_FRAMES_MAX: u32 = 16;
/// Frames queued for one peer; when full, new frames to it are dropped (consensus recovers by
/// timeouts and fetches; uncertified batches are re-sent).
const PEER_QUEUE: usize = 4_096;

/// A message from a validator.
#[derive(Debug)]
pub enum PeerMessage {
    /// Consensus (boxed: it is much larger than the other messages, which travel the same
    /// channel).
    Consensus(Box<Message>),
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
}

/// What the validator loop receives.
#[derive(Debug)]
pub enum Event {
    /// A decoded message from validator `from`.
    Peer { from: usize, message: PeerMessage },
    /// A client's ciphertext; answer on `reply`.
    Submit {
        ciphertext: Vec<u8>,
        reply: oneshot::Sender<Receipt>,
    },
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
        FrameKind::DecryptionRequest => parsed
            .decode(FrameKind::DecryptionRequest)
            .map(|request| PeerMessage::Decryption(DecryptMessage::Request(request))),
        other => Err(FrameError::UnexpectedKind {
            expected: FrameKind::Consensus,
            got: other,
        }),
    }
}

/// Handles for sending to peers.
#[derive(Clone, Debug)]
pub struct Outbox {
    queues: Vec<Option<mpsc::Sender<Arc<Vec<u8>>>>>,
}

impl Outbox {
    /// Queues a frame for `peer`; drops it (counted) if the queue is full.
    pub fn send(&self, peer: usize, frame: Arc<Vec<u8>>) {
        if let Some(Some(queue)) = self.queues.get(peer) {
            if queue.try_send(frame).is_err() {
                counter!("shroud_peer_frames_dropped_total").increment(1);
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

/// Starts one sender task per peer; returns the outbox.
pub fn start_senders(endpoint: Arc<PeerEndpoint>, addresses: Vec<SocketAddr>, me: usize) -> Outbox {
    let mut queues = Vec::with_capacity(addresses.len());
    for (peer, address) in addresses.into_iter().enumerate() {
        if peer == me {
            queues.push(None);
            continue;
        }
        let (sender, receiver) = mpsc::channel(PEER_QUEUE);
        tokio::spawn(sender_loop(endpoint.clone(), address, peer, receiver));
        queues.push(Some(sender));
    }
    Outbox { queues }
}

async fn sender_loop(
    endpoint: Arc<PeerEndpoint>,
    address: SocketAddr,
    peer: usize,
    mut queue: mpsc::Receiver<Arc<Vec<u8>>>,
) {
    let mut backoff = Duration::from_millis(50);
    let mut connection = None;
    while let Some(frame) = queue.recv().await {
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

/// Accepts validator connections and runs a reader for each.
pub async fn accept_peers(
    endpoint: Arc<PeerEndpoint>,
    events: mpsc::Sender<Event>,
    stage: StageHandle,
    limits: Limits,
) {
    while let Some(incoming) = endpoint.accept().await {
        match incoming {
            Ok(connection) => {
                gauge!("shroud_quic_connections", "direction" => "in").increment(1.0);
                tokio::spawn(read_peer(
                    connection,
                    events.clone(),
                    stage.clone(),
                    limits.clone(),
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
    events: mpsc::Sender<Event>,
    stage: StageHandle,
    limits: Limits,
) {
    let from = connection.peer();
    let mut invalid = 0u32;
    loop {
        let bytes = match connection.receive().await {
            Ok(bytes) => bytes,
            Err(NetworkError::Frame(error)) => {
                reject_frame(&error);
                invalid += 1;
                if invalid >= INVALID_FRAMES_MAX {
                    connection.close("too many invalid frames");
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
                if events.send(Event::Peer { from, message }).await.is_err() {
                    break;
                }
            }
            Err(error) => {
                reject_frame(&error);
                invalid += 1;
                if invalid >= INVALID_FRAMES_MAX {
                    warn!(
                        peer = from,
                        "disconnecting a peer that sends invalid frames"
                    );
                    connection.close("too many invalid frames");
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
    /// The validator loop (submissions).
    pub events: mpsc::Sender<Event>,
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

/// Accepts client connections and runs a handler for each.
pub async fn accept_clients(endpoint: Arc<ClientFacingEndpoint>, context: ClientContext) {
    while let Some(incoming) = endpoint.accept().await {
        if let Ok(connection) = incoming {
            tokio::spawn(serve_client(connection, context.clone()));
        }
    }
}

fn rejected(label: &str, reason: String) -> Receipt {
    Receipt::Rejected {
        label: label.to_string(),
        reason,
    }
}

async fn serve_client(connection: ClientConnection, mut context: ClientContext) {
    let mut invalid = 0u32;
    loop {
        let request = match connection.next_request().await {
            Ok(request) => request,
            Err(NetworkError::Frame(error)) => {
                reject_frame(&error);
                invalid += 1;
                if invalid >= INVALID_FRAMES_MAX {
                    connection.close("too many invalid frames");
                    return;
                }
                continue;
            }
            Err(_) => return,
        };
        let answer = match parse(&request.frame, &context.limits) {
            Ok(parsed) if parsed.kind == FrameKind::OutputsRequest => {
                match parsed.decode::<OutputsRequest>(FrameKind::OutputsRequest) {
                    Ok(wanted) => outputs(&mut context, &wanted).await.and_then(|response| {
                        frame::encode(FrameKind::Outputs, &response, &context.limits).ok()
                    }),
                    Err(error) => {
                        reject_frame(&error);
                        invalid += 1;
                        None
                    }
                }
            }
            Ok(parsed) if parsed.kind == FrameKind::TxStatusRequest => {
                match parsed.decode::<TxStatusRequest>(FrameKind::TxStatusRequest) {
                    Ok(wanted) => {
                        let store = context.store.clone();
                        let status = tokio::task::spawn_blocking(move || {
                            crate::status::tx_status(&store, TxId(wanted.tx_id))
                        })
                        .await
                        .ok()
                        .and_then(Result::ok);
                        status.and_then(|status| {
                            frame::encode(FrameKind::TxStatus, &status, &context.limits).ok()
                        })
                    }
                    Err(error) => {
                        reject_frame(&error);
                        invalid += 1;
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
                        reject_frame(&error);
                        invalid += 1;
                        None
                    }
                }
            }
            parsed => {
                let receipt =
                    match parsed.and_then(|p| p.decode::<SubmitRequest>(FrameKind::Submit)) {
                        Ok(submit) => match submit_to_loop(&context.events, submit).await {
                            Some(receipt) => receipt,
                            None => return,
                        },
                        Err(error) => {
                            reject_frame(&error);
                            invalid += 1;
                            rejected(error.label(), error.to_string())
                        }
                    };
                frame::encode(FrameKind::Receipt, &receipt, &context.limits).ok()
            }
        };
        let Some(frame) = answer else {
            connection.close("cannot answer");
            return;
        };
        if request.answer(&frame).await.is_err() || invalid >= INVALID_FRAMES_MAX {
            connection.close("too many invalid frames");
            return;
        }
    }
}

async fn submit_to_loop(events: &mpsc::Sender<Event>, submit: SubmitRequest) -> Option<Receipt> {
    let (reply, answer) = oneshot::channel();
    let event = Event::Submit {
        ciphertext: submit.ciphertext,
        reply,
    };
    events.send(event).await.ok()?;
    answer.await.ok()
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
    Ok((outputs, until + 1))
}
