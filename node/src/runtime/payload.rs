//! The consensus payload source: certified batches waiting to be ordered.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use shroud_consensus::{Committee, Height, Payload, PayloadSource};

use crate::batch::{BatchCertificate, BatchDigest, BlockPayload};

/// A proposed batch is proposed again if it is not committed within this time (its block may
/// have been abandoned by a view change). Committing a batch twice is harmless: the order rule
/// keeps each ciphertext's first occurrence.
const REPROPOSE_AFTER_MS: u64 = 3_000;

#[derive(Debug)]
struct State {
    committee: Committee,
    batches_max: usize,
    ready: VecDeque<BatchCertificate>,
    in_flight: Vec<(BatchCertificate, u64)>,
    committed: HashSet<BatchDigest>,
    now_ms: u64,
}

/// Shared between the validator loop (which adds certificates and marks commits) and the
/// consensus state machine (which proposes and checks payloads).
#[derive(Clone, Debug)]
pub struct SharedPayload(Arc<Mutex<State>>);

impl SharedPayload {
    /// An empty source for `committee`, listing at most `batches_max` batches per block.
    pub fn new(committee: Committee, batches_max: usize) -> Self {
        Self(Arc::new(Mutex::new(State {
            committee,
            batches_max,
            ready: VecDeque::new(),
            in_flight: Vec::new(),
            committed: HashSet::new(),
            now_ms: 0,
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0
            .lock()
            .expect("the payload lock is never held across a panic")
    }

    /// A certified batch to order.
    pub fn add(&self, certificate: BatchCertificate) {
        let mut state = self.state();
        if !state.committed.contains(&certificate.digest) {
            state.ready.push_back(certificate);
        }
    }

    /// Batches committed: never propose them again.
    pub fn mark_committed(&self, digests: &[BatchDigest]) {
        let mut state = self.state();
        for digest in digests {
            state.committed.insert(*digest);
        }
        let committed = state.committed.clone();
        state.ready.retain(|c| !committed.contains(&c.digest));
        state
            .in_flight
            .retain(|(c, _)| !committed.contains(&c.digest));
    }

    /// The validator loop's clock.
    pub fn set_now(&self, now_ms: u64) {
        self.state().now_ms = now_ms;
    }

    /// Batches waiting (ready or proposed and not committed).
    pub fn waiting(&self) -> usize {
        let state = self.state();
        state.ready.len() + state.in_flight.len()
    }
}

impl PayloadSource for SharedPayload {
    fn propose(&mut self, _height: Height) -> Payload {
        let mut state = self.state();
        let now_ms = state.now_ms;
        let max = state.batches_max;
        let mut batches = Vec::new();
        for (certificate, proposed_at) in state.in_flight.iter_mut() {
            if batches.len() < max && now_ms.saturating_sub(*proposed_at) >= REPROPOSE_AFTER_MS {
                *proposed_at = now_ms;
                batches.push(certificate.clone());
            }
        }
        while batches.len() < max {
            let Some(certificate) = state.ready.pop_front() else {
                break;
            };
            state.in_flight.push((certificate.clone(), now_ms));
            batches.push(certificate);
        }
        BlockPayload { batches }.to_payload()
    }

    fn verify(&mut self, payload: &Payload) -> Result<(), String> {
        let state = self.state();
        BlockPayload::from_payload(payload, &state.committee, state.batches_max)
            .map(|_| ())
            .map_err(|error| error.to_string())
    }
}
