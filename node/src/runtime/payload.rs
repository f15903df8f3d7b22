//! The consensus payload source: certified batches waiting to be ordered.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use sha2::{Digest as _, Sha256};

use shroud_consensus::{Committee, Height, Payload, PayloadSource};

use crate::batch::{
    BatchCertificate, BatchDigest, BlockPayload, DkgPost, DKG_BYTES_PER_BLOCK_MAX,
    DKG_POSTS_PER_BLOCK_MAX, DKG_POSTS_PER_SENDER_MAX as DKG_PER_SENDER_MAX,
};

/// A proposed batch is proposed again if it is not committed within this time (its block may
/// have been abandoned by a view change). Committing a batch twice is harmless: the order rule
/// keeps each ciphertext's first occurrence.
const REPROPOSE_AFTER_MS: u64 = 3_000;
/// Certified batches waiting at most (each is a certificate of f+1 signatures, so a peer
/// cannot fill this without the committee's help).
const QUEUED_MAX: usize = 100_000;

/// Committed DKG posts remembered (a DKG has about two per member and round).
const DKG_COMMITTED_KEPT: usize = 4_096;
/// Checked DKG posts remembered at most (the oldest is forgotten first; a forgotten one is
/// simply checked again).
const DKG_CHECKED_KEPT: usize = 4_096;

/// DKG posts waiting to be ordered, each with its digest (computed once).
#[derive(Debug, Default)]
struct DkgQueue {
    ready: VecDeque<([u8; 32], DkgPost)>,
    in_flight: Vec<([u8; 32], DkgPost, u64)>,
    committed: HashSet<[u8; 32]>,
    committed_order: VecDeque<[u8; 32]>,
    /// Posts whose signature this node checked, oldest first.
    checked: HashSet<[u8; 32]>,
    checked_order: VecDeque<[u8; 32]>,
    /// The key is formed: nothing more is queued or proposed.
    closed: bool,
}

impl DkgQueue {
    fn knows(&self, digest: &[u8; 32]) -> bool {
        self.committed.contains(digest)
            || self.ready.iter().any(|(known, _)| known == digest)
            || self.in_flight.iter().any(|(known, _, _)| known == digest)
    }

    fn waiting_from(&self, sender: u16) -> usize {
        self.ready
            .iter()
            .filter(|(_, post)| post.sender == sender)
            .count()
            + self
                .in_flight
                .iter()
                .filter(|(_, post, _)| post.sender == sender)
                .count()
    }

    /// Whether a post of `sender` with `digest` may wait here.
    fn has_room(&self, digest: &[u8; 32], sender: u16) -> bool {
        !self.closed && !self.knows(digest) && self.waiting_from(sender) < DKG_PER_SENDER_MAX
    }

    fn note_checked(&mut self, digest: [u8; 32]) {
        if self.checked.insert(digest) {
            self.checked_order.push_back(digest);
        }
        while self.checked_order.len() > DKG_CHECKED_KEPT {
            if let Some(oldest) = self.checked_order.pop_front() {
                self.checked.remove(&oldest);
            }
        }
    }

    fn forget(&mut self, digest: &[u8; 32]) {
        self.ready.retain(|(known, _)| known != digest);
        self.in_flight.retain(|(known, _, _)| known != digest);
    }
}

#[derive(Debug)]
struct State {
    committee: Committee,
    chain_id: u64,
    dkg: DkgQueue,
    batches_max: usize,
    ready: VecDeque<BatchCertificate>,
    in_flight: Vec<(BatchCertificate, u64)>,
    committed: HashSet<BatchDigest>,
    /// Committed digests in commit order, to forget the oldest (bounded memory).
    committed_order: VecDeque<BatchDigest>,
    /// Certificates this node checked (or made), so that a proposal listing them again is not
    /// checked again: every certificate is one pairing check, and a block lists many.
    verified: VerifiedSet,
    now_ms: u64,
}

/// Committed batches remembered at most (about 9 minutes at 30 batches a second). A forgotten
/// one proposed again would be ordered again, and its transactions dropped as duplicates by
/// the order rule: harmless, so the bound only trades memory for a re-proposal long after the
/// fact.
const COMMITTED_KEPT: usize = 16_384;
/// Checked certificates remembered at most (the oldest is forgotten first; a forgotten one is
/// simply checked again).
const VERIFIED_MAX: usize = 16_384;

/// Tag of the in-memory fingerprint of a checked batch certificate (never leaves the node).
const VERIFIED_TAG: &[u8] = b"SHROUD-V1-LOCAL-CHECKED-BATCH-CERTIFICATE";

/// Fingerprints of checked certificates, first in, first out. A fingerprint covers every
/// field, so a certificate with a known digest but another bitmap or signature is checked.
#[derive(Debug, Default)]
struct VerifiedSet {
    set: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
}

impl VerifiedSet {
    fn fingerprint(certificate: &BatchCertificate) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(VERIFIED_TAG);
        hasher.update(certificate.epoch.to_be_bytes());
        hasher.update(certificate.valid_through.to_be_bytes());
        hasher.update(certificate.digest.0);
        hasher.update(certificate.author.to_be_bytes());
        hasher.update((certificate.signers.len() as u64).to_be_bytes());
        hasher.update(&certificate.signers);
        hasher.update(certificate.signature);
        hasher.finalize().into()
    }

    fn contains(&self, certificate: &BatchCertificate) -> bool {
        self.set.contains(&Self::fingerprint(certificate))
    }

    fn insert(&mut self, certificate: &BatchCertificate) {
        let fingerprint = Self::fingerprint(certificate);
        if self.set.insert(fingerprint) {
            self.order.push_back(fingerprint);
        }
        while self.order.len() > VERIFIED_MAX {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.set.len()
    }
}

/// Shared between the validator loop (which adds certificates and marks commits) and the
/// consensus state machine (which proposes and checks payloads).
#[derive(Clone, Debug)]
pub struct SharedPayload(Arc<Mutex<State>>);

impl SharedPayload {
    /// An empty source for `committee` of chain `chain_id`, listing at most `batches_max`
    /// batches per block.
    pub fn new(committee: Committee, chain_id: u64, batches_max: usize) -> Self {
        Self(Arc::new(Mutex::new(State {
            committee,
            chain_id,
            dkg: DkgQueue::default(),
            batches_max,
            ready: VecDeque::new(),
            in_flight: Vec::new(),
            committed: HashSet::new(),
            committed_order: VecDeque::new(),
            verified: VerifiedSet::default(),
            now_ms: 0,
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0
            .lock()
            .expect("the payload lock is never held across a panic")
    }

    /// A certified batch to order (ignored if already known). The caller checked the
    /// certificate (or made it).
    pub fn add(&self, certificate: BatchCertificate) {
        let mut state = self.state();
        state.verified.insert(&certificate);
        let digest = certificate.digest;
        let known = state.committed.contains(&digest)
            || state.ready.iter().any(|c| c.digest == digest)
            || state.in_flight.iter().any(|(c, _)| c.digest == digest);
        if !known && state.ready.len() + state.in_flight.len() < QUEUED_MAX {
            state.ready.push_back(certificate);
        }
    }

    /// A DKG post to order (the caller checked it, or made it). Ignored if known, if the key
    /// is formed, or if its sender already has as many waiting as an honest member ever has.
    pub fn add_dkg(&self, post: DkgPost) {
        let mut state = self.state();
        let digest = post.digest();
        if state.dkg.has_room(&digest, post.sender) {
            state.dkg.note_checked(digest);
            state.dkg.ready.push_back((digest, post));
        }
    }

    /// Whether this exact post was checked before.
    pub fn is_dkg_checked(&self, post: &DkgPost) -> bool {
        self.state().dkg.checked.contains(&post.digest())
    }

    /// The key is formed: DKG posts are no longer queued or proposed (blocks that still carry
    /// some are checked as before).
    pub fn close_dkg(&self) {
        let mut state = self.state();
        state.dkg.closed = true;
        state.dkg.ready.clear();
        state.dkg.in_flight.clear();
    }

    /// DKG posts committed: never propose them again.
    pub fn mark_dkg_committed(&self, posts: &[DkgPost]) {
        let mut state = self.state();
        let queue = &mut state.dkg;
        for post in posts {
            let digest = post.digest();
            if queue.committed.insert(digest) {
                queue.committed_order.push_back(digest);
            }
            queue.forget(&digest);
        }
        while queue.committed_order.len() > DKG_COMMITTED_KEPT {
            if let Some(oldest) = queue.committed_order.pop_front() {
                queue.committed.remove(&oldest);
            }
        }
    }

    /// Batches committed: never propose them again.
    pub fn mark_committed(&self, digests: &[BatchDigest]) {
        let mut state = self.state();
        for digest in digests {
            if state.committed.insert(*digest) {
                state.committed_order.push_back(*digest);
            }
        }
        while state.committed_order.len() > COMMITTED_KEPT {
            if let Some(oldest) = state.committed_order.pop_front() {
                state.committed.remove(&oldest);
            }
        }
        // Only the digests committed now can still be queued (`add` refuses committed ones).
        let fresh: HashSet<BatchDigest> = digests.iter().copied().collect();
        state.ready.retain(|c| !fresh.contains(&c.digest));
        state.in_flight.retain(|(c, _)| !fresh.contains(&c.digest));
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
    fn propose(&mut self, height: Height) -> Payload {
        let mut state = self.state();
        // A certificate past its expiry would be skipped by every validator at this height
        // or any later one (ADR 0008): it is not worth a place in a block.
        state
            .ready
            .retain(|certificate| certificate.valid_through >= height.0);
        state
            .in_flight
            .retain(|(certificate, _)| certificate.valid_through >= height.0);
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
        // The queue holds at most `DKG_PER_SENDER_MAX` posts of a sender, so a block does
        // too; the count and byte bounds are what voters check.
        let mut dkg = Vec::new();
        let mut dkg_bytes = 0;
        let fits = |count: usize, bytes: usize, post: &DkgPost| {
            count < DKG_POSTS_PER_BLOCK_MAX && bytes + post.message.len() <= DKG_BYTES_PER_BLOCK_MAX
        };
        for (_, post, proposed_at) in state.dkg.in_flight.iter_mut() {
            if fits(dkg.len(), dkg_bytes, post)
                && now_ms.saturating_sub(*proposed_at) >= REPROPOSE_AFTER_MS
            {
                *proposed_at = now_ms;
                dkg_bytes += post.message.len();
                dkg.push(post.clone());
            }
        }
        while state
            .dkg
            .ready
            .front()
            .is_some_and(|(_, post)| fits(dkg.len(), dkg_bytes, post))
        {
            let Some((digest, post)) = state.dkg.ready.pop_front() else {
                break;
            };
            state.dkg.in_flight.push((digest, post.clone(), now_ms));
            dkg_bytes += post.message.len();
            dkg.push(post);
        }
        BlockPayload { batches, dkg }.to_payload()
    }

    /// Content is ready, or a proposed batch is due to be proposed again.
    fn has_payload(&self) -> bool {
        let state = self.state();
        let now_ms = state.now_ms;
        !state.ready.is_empty()
            || !state.dkg.ready.is_empty()
            || state
                .in_flight
                .iter()
                .any(|(_, at)| now_ms.saturating_sub(*at) >= REPROPOSE_AFTER_MS)
            || state
                .dkg
                .in_flight
                .iter()
                .any(|(_, _, at)| now_ms.saturating_sub(*at) >= REPROPOSE_AFTER_MS)
    }

    /// Checks the payload and notes its batches as proposed by someone else: this node will
    /// not propose them again unless they stay uncommitted for a while (the block may be
    /// abandoned), which is also how a batch whose certificate reached only some leaders still
    /// gets ordered.
    fn verify(&mut self, payload: &Payload) -> Result<(), String> {
        let mut state = self.state();
        let decoded = BlockPayload::from_payload_skipping(
            payload,
            &state.committee,
            state.batches_max,
            |certificate| state.verified.contains(certificate),
        )
        .map_err(|error| error.to_string())?;
        decoded
            .check_dkg_posts(&state.committee, state.chain_id, |post| {
                state.dkg.checked.contains(&post.digest())
            })
            .map_err(|error| error.to_string())?;
        for certificate in &decoded.batches {
            state.verified.insert(certificate);
        }
        let now_ms = state.now_ms;
        for post in &decoded.dkg {
            let digest = post.digest();
            state.dkg.note_checked(digest);
            if state.dkg.closed || state.dkg.committed.contains(&digest) {
                continue;
            }
            // Proposed by another leader: ours waits unless that block is abandoned.
            let known = state
                .dkg
                .in_flight
                .iter_mut()
                .find(|(known, _, _)| *known == digest);
            match known {
                Some((_, _, proposed_at)) => *proposed_at = now_ms,
                None => {
                    state.dkg.ready.retain(|(known, _)| *known != digest);
                    if state.dkg.waiting_from(post.sender) < DKG_PER_SENDER_MAX {
                        state.dkg.in_flight.push((digest, post.clone(), now_ms));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(n: u64) -> BatchCertificate {
        let mut digest = [0u8; 32];
        digest[..8].copy_from_slice(&n.to_be_bytes());
        BatchCertificate {
            epoch: 1,
            valid_through: 10,
            digest: BatchDigest(digest),
            author: 0,
            signers: vec![0b11],
            signature: [7; 96],
        }
    }

    #[test]
    fn the_checked_set_forgets_the_oldest_and_tells_certificates_apart_by_every_field() {
        let mut set = VerifiedSet::default();
        for n in 0..(VERIFIED_MAX as u64 + 10) {
            set.insert(&certificate(n));
        }
        assert_eq!(set.len(), VERIFIED_MAX);
        assert!(!set.contains(&certificate(0)), "the oldest is forgotten");
        assert!(set.contains(&certificate(VERIFIED_MAX as u64 + 9)));
        let known = certificate(VERIFIED_MAX as u64 + 9);
        let mut other_signature = known.clone();
        other_signature.signature[5] ^= 1;
        assert!(!set.contains(&other_signature));
        let mut other_signers = known.clone();
        other_signers.signers = vec![0b101];
        assert!(!set.contains(&other_signers));
        let mut other_expiry = known.clone();
        other_expiry.valid_through += 1;
        assert!(!set.contains(&other_expiry));
        let mut other_author = known;
        other_author.author = 1;
        assert!(!set.contains(&other_author));
    }
}
