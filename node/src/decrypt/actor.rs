//! The decryption stage's thread: it receives peer messages and wake-ups through a bounded
//! channel, runs the state, flushes, then sends.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::counter;
use shroud_network::{frame, FrameKind, Limits};
use shroud_proofs::OutputCertificate;
use tokio::sync::watch;
use tracing::error;

use super::state::{DecryptionState, Outgoing, Send, StageError};
use crate::runtime::{Offence, Outbox, PeerScores};
use crate::wire::{CombinedMessage, DecryptionRequest, OutputVote, SharesMessage};

/// Events waiting for the stage at most; more are dropped and counted (the stage's requests
/// recover anything lost).
const QUEUE: usize = 4_096;
/// The stage wakes up at least this often (timers).
const TICK: Duration = Duration::from_millis(50);
/// A peer's requests answered per second at most, in bursts of as many (each covers up to
/// `state::REQUEST_HEIGHTS_MAX` heights: a validator catching up asks for 32 at a time).
const ANSWERS_PER_SECOND: f64 = 20.0;

/// A decryption-stage message from a validator.
#[derive(Debug)]
pub enum DecryptMessage {
    /// Its shares of a height.
    Shares(SharesMessage),
    /// A height's combined points, from its combiner.
    Combined(CombinedMessage),
    /// Its signature over a header.
    Vote(OutputVote),
    /// A certificate.
    Certificate(Box<OutputCertificate>),
    /// A request for a height.
    Request(DecryptionRequest),
}

/// What the stage receives.
#[derive(Debug)]
pub enum DecryptEvent {
    /// A message from validator `from`.
    Peer {
        /// The sender.
        from: u16,
        /// The message.
        message: DecryptMessage,
    },
    /// Consensus released a height at this moment.
    Released {
        /// The height.
        height: u64,
        /// When.
        at: Instant,
    },
    /// New heights may be ready.
    Wake,
}

/// The validator loop's and the network's side of the stage.
#[derive(Clone, Debug)]
pub struct StageHandle {
    sender: SyncSender<DecryptEvent>,
    released: Arc<AtomicU64>,
    committed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl StageHandle {
    /// Hands an event to the stage; drops it (counted) if the stage is behind.
    pub fn send(&self, event: DecryptEvent) {
        if let Err(TrySendError::Full(_)) = self.sender.try_send(event) {
            counter!("shroud_decryption_events_dropped_total").increment(1);
        }
    }

    /// Consensus released height `height` (it committed, and the release is durable).
    pub fn release(&self, height: u64) {
        self.released.fetch_max(height, Ordering::SeqCst);
        self.send(DecryptEvent::Released {
            height,
            at: Instant::now(),
        });
    }

    /// Consensus committed height `height` (flushed).
    pub fn committed(&self, height: u64) {
        self.committed.fetch_max(height, Ordering::SeqCst);
    }

    /// The order of new heights was processed.
    pub fn wake(&self) {
        self.send(DecryptEvent::Wake);
    }

    /// Asks the thread to stop.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.send(DecryptEvent::Wake);
    }
}

/// How the stage starts: with its state, or waiting for the DKG to form the key.
pub enum StageStart {
    /// The key is known.
    Ready(Box<DecryptionState>),
    /// The key is not formed yet: the state (built around the DKG's share) arrives here.
    /// Until then there is nothing to decrypt (no ciphertext is admitted before the key), and
    /// the events that arrive are dropped.
    AwaitingKey(Receiver<DecryptionState>),
}

impl std::fmt::Debug for StageStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StageStart::Ready(_) => write!(f, "StageStart::Ready"),
            StageStart::AwaitingKey(_) => write!(f, "StageStart::AwaitingKey"),
        }
    }
}

/// The state once the key is formed; `None` if the stage is stopped first.
fn await_state(
    start: StageStart,
    events: &Receiver<DecryptEvent>,
    handle: &StageHandle,
) -> Option<DecryptionState> {
    let states = match start {
        StageStart::Ready(state) => return Some(*state),
        StageStart::AwaitingKey(states) => states,
    };
    while !handle.stop.load(Ordering::SeqCst) {
        match states.recv_timeout(TICK) {
            Ok(state) => return Some(state),
            Err(RecvTimeoutError::Timeout) => {}
            // The key was formed without a share for this validator: it has nothing to
            // decrypt with, and waits for the node to stop.
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(TICK),
        }
        while events.try_recv().is_ok() {}
    }
    None
}

/// Starts the stage on its own thread. `committed` is the height consensus recovered as
/// committed (all of it is released: a committed height's order is final).
pub fn spawn(
    start: StageStart,
    committed: u64,
    outbox: Outbox,
    limits: Limits,
    certified: watch::Sender<u64>,
    scores: PeerScores,
) -> std::io::Result<(StageHandle, std::thread::JoinHandle<Result<(), StageError>>)> {
    let (sender, receiver) = sync_channel(QUEUE);
    let handle = StageHandle {
        sender,
        released: Arc::new(AtomicU64::new(committed)),
        committed: Arc::new(AtomicU64::new(committed)),
        stop: Arc::new(AtomicBool::new(false)),
    };
    let thread_handle = handle.clone();
    // The stage's loop runs on a worker of its own pool, and its per-position crypto
    // (decoding, shares, combining) is spread over all of them.
    let pool = crate::workers::stage_pool("decryption")?;
    let join = std::thread::Builder::new()
        .name("decryption".into())
        .spawn(move || {
            let result = pool.install(move || {
                let Some(state) = await_state(start, &receiver, &thread_handle) else {
                    return Ok(());
                };
                run(
                    state,
                    &receiver,
                    &thread_handle,
                    &outbox,
                    &limits,
                    &certified,
                    &scores,
                )
            });
            if let Err(error) = &result {
                error!(%error, "the decryption stage stopped");
            }
            result
        })?;
    Ok((handle, join))
}

fn run(
    mut state: DecryptionState,
    receiver: &Receiver<DecryptEvent>,
    handle: &StageHandle,
    outbox: &Outbox,
    limits: &Limits,
    certified: &watch::Sender<u64>,
    scores: &PeerScores,
) -> Result<(), StageError> {
    // Per peer: answers still allowed now, and when that was counted.
    let mut answers: Vec<(f64, Instant)> = Vec::new();
    let mut last_timer = Instant::now();
    while !handle.stop.load(Ordering::SeqCst) {
        let event = match receiver.recv_timeout(TICK) {
            Ok(event) => Some(event),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if let Some(DecryptEvent::Released { height, at }) = &event {
            state.note_release(*height, *at);
        }
        // Released first: the loop raises `committed` before `released`, so reading in this
        // order never sees a released height above the committed one.
        let released = handle.released.load(Ordering::SeqCst);
        let committed = handle.committed.load(Ordering::SeqCst);
        let mut sends = state.advance(released, committed)?;
        if let Some(DecryptEvent::Peer { from, message }) = event {
            sends.extend(match message {
                DecryptMessage::Shares(shares) => state.on_shares(from, shares, committed)?,
                DecryptMessage::Combined(combined) => state.on_combined(from, combined)?,
                DecryptMessage::Vote(vote) => state.on_vote(from, vote)?,
                DecryptMessage::Certificate(certificate) => {
                    state.on_certificate(*certificate)?;
                    Vec::new()
                }
                DecryptMessage::Request(request) => {
                    let slot = usize::from(from);
                    if answers.len() <= slot {
                        answers.resize(slot + 1, (ANSWERS_PER_SECOND, Instant::now()));
                    }
                    let (allowed, counted) = &mut answers[slot];
                    *allowed = (*allowed + counted.elapsed().as_secs_f64() * ANSWERS_PER_SECOND)
                        .min(ANSWERS_PER_SECOND);
                    *counted = Instant::now();
                    if *allowed < 1.0 {
                        counter!("shroud_decryption_requests_ignored_total").increment(1);
                        Vec::new()
                    } else {
                        *allowed -= 1.0;
                        state.on_request(from, &request)?
                    }
                }
            });
        }
        if last_timer.elapsed() >= TICK {
            last_timer = Instant::now();
            sends.extend(state.on_timer()?);
        }
        for offender in state.take_offenders() {
            scores.penalize(usize::from(offender), Offence::BadDecryption);
        }
        state.persist()?;
        certified.send_if_modified(|height| {
            let now = state.certified_height();
            let changed = now != *height;
            *height = now;
            changed
        });
        for send in sends {
            deliver(outbox, limits, send);
        }
    }
    state.persist()
}

fn deliver(outbox: &Outbox, limits: &Limits, send: Send) {
    let (target, outgoing) = match send {
        Send::All(outgoing) => (None, outgoing),
        Send::To(peer, outgoing) => (Some(usize::from(peer)), outgoing),
    };
    let encoded = match &outgoing {
        Outgoing::Shares(message) => frame::encode(FrameKind::DecryptionShares, message, limits),
        Outgoing::Combined(message) => {
            frame::encode(FrameKind::DecryptionCombined, message, limits)
        }
        Outgoing::Vote(vote) => frame::encode(FrameKind::OutputVote, vote, limits),
        Outgoing::Certificate(certificate) => {
            frame::encode(FrameKind::OutputCertificate, certificate, limits)
        }
        Outgoing::Request(request) => frame::encode(FrameKind::DecryptionRequest, request, limits),
    };
    let bytes = match encoded {
        Ok(bytes) => Arc::new(bytes),
        Err(error) => {
            error!(%error, "a decryption-stage message exceeds the frame limit");
            return;
        }
    };
    match target {
        Some(peer) => outbox.send(peer, bytes),
        None => outbox.broadcast(bytes),
    }
}
