//! The ingress stage's thread: takes submissions from a bounded queue a group at a time, runs
//! the group commit, answers receipts after the flush, and hands own batches to the validator
//! loop.

use crate::id_hash::IdMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics::{counter, gauge, histogram};
use tokio::sync::{mpsc, oneshot};
use tracing::error;

use super::state::IngressState;
use crate::batch::{BatchDigest, CutBatch, TxId};
use crate::committed::SharedCommitted;
use crate::mempool::Rejection;
use crate::store::StoreError;
use crate::wire::Receipt;

/// The longest the thread sleeps with nothing to do (it also picks up heights and forgotten
/// ids this often).
const IDLE: Duration = Duration::from_millis(20);
/// How soon a batch due by age, but held back by the batches in flight, is looked at again.
const HELD_BACK_MS: u64 = 2;

/// One client submission and where its receipt goes.
#[derive(Debug)]
struct Submission {
    ciphertext: Vec<u8>,
    reply: oneshot::Sender<Receipt>,
}

/// The ids this validator accepted and that have not committed yet: waiting for a batch
/// (`None`), or in an own batch (its digest). Receipts read it for the `accepted` and
/// `batched` steps; once a transaction commits, its height's record answers instead. Its size
/// is bounded by the pending set and the own batches in flight.
#[derive(Clone, Debug, Default)]
pub struct HeldIds(Arc<Mutex<IdMap<TxId, Option<BatchDigest>>>>);

impl HeldIds {
    fn lock(&self) -> std::sync::MutexGuard<'_, IdMap<TxId, Option<BatchDigest>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `id` is accepted here and not committed yet.
    pub fn contains(&self, id: &TxId) -> bool {
        self.lock().contains_key(id)
    }

    /// The own batch that holds `id`, if it is in one and not committed yet.
    pub fn batch_of(&self, id: &TxId) -> Option<BatchDigest> {
        self.lock().get(id).copied().flatten()
    }
}

#[derive(Debug, Default)]
struct Shared {
    height: AtomicU64,
    forget: Mutex<Vec<TxId>>,
    pending: AtomicUsize,
    stop: AtomicBool,
    held: HeldIds,
    /// Own batches the validator loop holds (uncertified, or certified and not committed).
    loop_in_flight: AtomicUsize,
    /// Own batches the validator loop has taken from the stage.
    loop_received: AtomicU64,
}

/// The handle clients and the validator loop use.
#[derive(Clone, Debug)]
pub struct IngressHandle {
    sender: SyncSender<Submission>,
    shared: Arc<Shared>,
    committed: SharedCommitted,
}

impl IngressHandle {
    /// Queues a submission; its receipt arrives on the returned receiver after its group is
    /// durable. A full queue answers `overloaded` at once (counted).
    pub fn try_submit(&self, ciphertext: Vec<u8>) -> Result<oneshot::Receiver<Receipt>, Receipt> {
        let (reply, answer) = oneshot::channel();
        match self.sender.try_send(Submission { ciphertext, reply }) {
            Ok(()) => Ok(answer),
            Err(TrySendError::Full(_)) => Err(refusal(&Rejection::Overloaded)),
            Err(TrySendError::Disconnected(_)) => Err(Receipt::Rejected {
                label: "unavailable".into(),
                reason: "the validator is shutting down".into(),
            }),
        }
    }

    /// Submits and waits for the receipt.
    pub async fn submit(&self, ciphertext: Vec<u8>) -> Receipt {
        match self.try_submit(ciphertext) {
            Ok(answer) => answer.await.unwrap_or_else(|_| Receipt::Rejected {
                label: "unavailable".into(),
                reason: "the validator is shutting down".into(),
            }),
            Err(receipt) => receipt,
        }
    }

    /// The processed height moved to `height`.
    pub fn set_height(&self, height: u64) {
        self.shared.height.fetch_max(height, Ordering::SeqCst);
    }

    /// Ids committed or dropped: they leave the duplicate set.
    pub fn forget(&self, ids: &[TxId]) {
        if ids.is_empty() {
            return;
        }
        self.shared
            .forget
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(ids);
    }

    /// The validator loop holds `in_flight` own batches not yet committed, and has taken
    /// `received` batches from this stage so far. Called after every step of the loop; the
    /// stage adds the batches it cut that the loop has not taken yet.
    pub fn note_own_batches(&self, in_flight: usize, received: u64) {
        // Written in this order and read in the other, the stage never counts fewer batches
        // than are in flight.
        self.shared
            .loop_in_flight
            .store(in_flight, Ordering::SeqCst);
        self.shared.loop_received.store(received, Ordering::SeqCst);
    }

    /// Ciphertexts waiting for a batch.
    pub fn pending_len(&self) -> usize {
        self.shared.pending.load(Ordering::Relaxed)
    }

    /// The ids accepted here and not yet committed.
    pub fn held(&self) -> HeldIds {
        self.shared.held.clone()
    }

    /// The committed-transaction index.
    pub fn committed(&self) -> SharedCommitted {
        self.committed.clone()
    }

    /// Asks the thread to stop after its current group.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

fn refusal(rejection: &Rejection) -> Receipt {
    counter!("shroud_admission_rejected_total", "reason" => rejection.label()).increment(1);
    Receipt::Rejected {
        label: rejection.label().to_string(),
        reason: rejection.to_string(),
    }
}

/// Starts the stage on its own thread. Own batches go to `batches` (the validator loop);
/// the thread ends on [`IngressHandle::stop`], or with the error of a failed store write
/// (fatal for the node).
pub fn spawn(
    state: IngressState,
    committed: SharedCommitted,
    config: &super::IngressConfig,
    batches: mpsc::Sender<CutBatch>,
) -> std::io::Result<(
    IngressHandle,
    std::thread::JoinHandle<Result<(), StoreError>>,
)> {
    let (sender, receiver) = sync_channel(config.queue_max);
    let shared = Arc::new(Shared::default());
    let handle = IngressHandle {
        sender,
        shared: shared.clone(),
        committed,
    };
    let grouping = Grouping {
        max: config.group_max,
        interval: Duration::from_millis(config.group_interval_ms),
    };
    // The stage's loop runs on a worker of its own pool; a group's decoding and proof
    // checks are spread over all of them.
    let pool = crate::workers::stage_pool("ingress")?;
    let join = std::thread::Builder::new()
        .name("ingress".into())
        .spawn(move || {
            let result = pool.install(move || run(state, &receiver, &shared, grouping, &batches));
            if let Err(error) = &result {
                error!(%error, "the ingress stage stopped");
            }
            result
        })?;
    Ok((handle, join))
}

/// How submissions are grouped: at most `max` per group, and group commits at least
/// `interval` apart.
#[derive(Clone, Copy, Debug)]
struct Grouping {
    max: usize,
    interval: Duration,
}

fn run(
    mut state: IngressState,
    receiver: &Receiver<Submission>,
    shared: &Shared,
    grouping: Grouping,
    batches: &mpsc::Sender<CutBatch>,
) -> Result<(), StoreError> {
    let started = Instant::now();
    let now_ms = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let group_max = grouping.max;
    let mut group = Vec::with_capacity(group_max);
    let mut last_group: Option<Instant> = None;
    let mut cut_total = 0u64;
    while !shared.stop.load(Ordering::SeqCst) {
        state.set_height(shared.height.load(Ordering::SeqCst));
        let forget = std::mem::take(
            &mut *shared
                .forget
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        state.forget(&forget);
        if !forget.is_empty() {
            let mut held = shared.held.lock();
            for id in &forget {
                held.remove(id);
            }
        }
        // A batch due by age but held back by the batches in flight is looked at again soon.
        let wait = state
            .next_deadline()
            .map_or(IDLE, |at| {
                Duration::from_millis(at.saturating_sub(now_ms()).max(HELD_BACK_MS))
            })
            .min(IDLE);
        match receiver.recv_timeout(wait) {
            Ok(first) => group.push(first),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        // Group commit: what arrives until the interval since the last commit has passed
        // joins this group (a submission after a quiet spell goes at once).
        let due = last_group.map_or(Instant::now(), |at| at + grouping.interval);
        while !group.is_empty() && group.len() < group_max {
            match receiver.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => {
                    let now = Instant::now();
                    if now >= due {
                        break;
                    }
                    match receiver.recv_timeout(due - now) {
                        Ok(next) => group.push(next),
                        Err(_) => break,
                    }
                }
            }
        }
        if !group.is_empty() {
            last_group = Some(Instant::now());
        }
        let received = shared.loop_received.load(Ordering::SeqCst);
        let in_flight = shared.loop_in_flight.load(Ordering::SeqCst)
            + usize::try_from(cut_total.saturating_sub(received)).unwrap_or(usize::MAX);
        let cut = if group.is_empty() {
            state.tick(now_ms(), in_flight)?
        } else {
            commit_group(&mut state, &mut group, shared, now_ms(), in_flight)?
        };
        cut_total += cut.len() as u64;
        shared.pending.store(state.pending_len(), Ordering::Relaxed);
        gauge!("shroud_mempool_size").set(state.pending_len() as f64);
        for batch in cut {
            note_batched(shared, &batch);
            counter!("shroud_batches_total").increment(1);
            histogram!("shroud_batch_transactions").record(batch.ids.len() as f64);
            if batches.blocking_send(batch).is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// One group commit, then its receipts (only after the flush inside `admit_group`).
fn commit_group(
    state: &mut IngressState,
    group: &mut Vec<Submission>,
    shared: &Shared,
    now_ms: u64,
    in_flight: usize,
) -> Result<Vec<CutBatch>, StoreError> {
    let started = Instant::now();
    let (ciphertexts, replies): (Vec<Vec<u8>>, Vec<oneshot::Sender<Receipt>>) = group
        .drain(..)
        .map(|submission| (submission.ciphertext, submission.reply))
        .unzip();
    let count = ciphertexts.len();
    let outcome = state.admit_group(ciphertexts, now_ms, in_flight)?;
    // Counted before any receipt leaves: a client that reads the status after its receipt
    // sees its transaction pending.
    shared.pending.store(state.pending_len(), Ordering::Relaxed);
    histogram!("shroud_ingress_group_seconds").record(started.elapsed().as_secs_f64());
    histogram!("shroud_ingress_group_size").record(count as f64);
    let mut accepted = 0u64;
    {
        let mut held = shared.held.lock();
        for id in outcome.verdicts.iter().flatten() {
            held.insert(*id, None);
        }
    }
    for (reply, verdict) in replies.into_iter().zip(outcome.verdicts) {
        let receipt = match verdict {
            Ok(id) => {
                accepted += 1;
                Receipt::Accepted { tx_id: id.0 }
            }
            Err(rejection) => refusal(&rejection),
        };
        // The client may have gone; its receipt is then simply dropped.
        let _ = reply.send(receipt);
    }
    counter!("shroud_admission_accepted_total").increment(accepted);
    Ok(outcome.batches)
}

/// A batch's ids are in that batch now.
fn note_batched(shared: &Shared, batch: &CutBatch) {
    let mut held = shared.held.lock();
    for id in &batch.ids {
        if let Some(slot) = held.get_mut(id) {
            *slot = Some(batch.digest);
        }
    }
}
