//! Peer scores: what an honest validator never sends costs its sender points (an invalid
//! frame, a signature or certificate that does not verify, decryption shares or points that
//! fail their proof). Points decay with time; a peer past [`BAN_POINTS`] is banned: its
//! connection is closed and its new connections are refused until the ban ends. Each ban lasts
//! twice the one before (from [`BAN_FIRST_MS`] to [`BAN_MAX_MS`]); an hour without a ban
//! forgets the history.
//!
//! A ban only stops reading from the peer; what we send it is unchanged (an honest validator
//! with a bug still gets our votes and answers, and a Byzantine one gains nothing from them).
//! With at most f Byzantine peers and honest ones never penalised, the honest quorum is never
//! cut apart by bans.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use metrics::counter;
use tracing::warn;

/// Points at which a peer is banned.
pub const BAN_POINTS: u32 = 16;
/// Points forgiven per second.
pub const DECAY_POINTS_PER_SECOND: u32 = 1;
/// The first ban's length.
pub const BAN_FIRST_MS: u64 = 5_000;
/// The longest ban.
pub const BAN_MAX_MS: u64 = 300_000;
/// Time without a ban after which earlier bans are forgotten.
pub const BANS_FORGOTTEN_MS: u64 = 3_600_000;

/// What a peer did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offence {
    /// A frame that does not decode (bad header, kind or body).
    InvalidFrame,
    /// A signature or aggregate certificate that does not verify.
    BadSignature,
    /// Decryption shares or combined points that fail their proof.
    BadDecryption,
}

impl Offence {
    /// Its cost in points: a bad signature costs its receiver a pairing, a frame a decode.
    pub fn points(self) -> u32 {
        match self {
            Offence::InvalidFrame => 1,
            Offence::BadSignature | Offence::BadDecryption => 4,
        }
    }

    /// The label in `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            Offence::InvalidFrame => "invalid_frame",
            Offence::BadSignature => "bad_signature",
            Offence::BadDecryption => "bad_decryption",
        }
    }
}

#[derive(Debug, Default)]
struct Score {
    /// Points, in thousandths (so that decay is smooth).
    milli_points: u64,
    /// When the points were last decayed.
    updated_ms: u64,
    /// Bans so far (since the history was last forgotten).
    bans: u32,
    /// When the last ban began.
    last_ban_ms: u64,
}

#[derive(Debug)]
struct Slot {
    /// The end of the current ban (0: none); read on every frame, so kept apart.
    banned_until_ms: AtomicU64,
    score: Mutex<Score>,
}

#[derive(Debug)]
struct Inner {
    started: Instant,
    slots: Vec<Slot>,
}

/// The committee's scores, shared by the readers, the validator loop and the decryption stage.
#[derive(Clone, Debug)]
pub struct PeerScores {
    inner: Arc<Inner>,
}

impl PeerScores {
    /// Scores for a committee of `size` validators, all clean.
    pub fn new(size: usize) -> Self {
        let slots = (0..size)
            .map(|_| Slot {
                banned_until_ms: AtomicU64::new(0),
                score: Mutex::new(Score::default()),
            })
            .collect();
        PeerScores {
            inner: Arc::new(Inner {
                started: Instant::now(),
                slots,
            }),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.inner.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether `peer` is banned now.
    pub fn is_banned(&self, peer: usize) -> bool {
        self.is_banned_at(peer, self.now_ms())
    }

    fn is_banned_at(&self, peer: usize, now_ms: u64) -> bool {
        self.inner
            .slots
            .get(peer)
            .is_some_and(|slot| slot.banned_until_ms.load(Ordering::Relaxed) > now_ms)
    }

    /// Charges `peer` for an offence (counted); whether it is banned now.
    pub fn penalize(&self, peer: usize, offence: Offence) -> bool {
        self.penalize_at(peer, offence, self.now_ms())
    }

    /// [`PeerScores::penalize`] at a given time (milliseconds since the scores were made).
    pub fn penalize_at(&self, peer: usize, offence: Offence, now_ms: u64) -> bool {
        let Some(slot) = self.inner.slots.get(peer) else {
            return false;
        };
        counter!("shroud_peer_penalties_total", "offence" => offence.label()).increment(1);
        if slot.banned_until_ms.load(Ordering::Relaxed) > now_ms {
            // Already banned: what arrives meanwhile was read before the close.
            return true;
        }
        let mut score = slot.score.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = now_ms.saturating_sub(score.updated_ms);
        let forgiven = elapsed.saturating_mul(u64::from(DECAY_POINTS_PER_SECOND));
        score.milli_points = score.milli_points.saturating_sub(forgiven);
        score.updated_ms = now_ms;
        score.milli_points = score
            .milli_points
            .saturating_add(u64::from(offence.points()) * 1_000);
        if score.milli_points < u64::from(BAN_POINTS) * 1_000 {
            return false;
        }
        if score.bans > 0 && now_ms.saturating_sub(score.last_ban_ms) > BANS_FORGOTTEN_MS {
            score.bans = 0;
        }
        let length = BAN_FIRST_MS
            .saturating_mul(1u64 << score.bans.min(16))
            .min(BAN_MAX_MS);
        score.bans = score.bans.saturating_add(1);
        score.last_ban_ms = now_ms;
        score.milli_points = 0;
        slot.banned_until_ms
            .store(now_ms.saturating_add(length), Ordering::Relaxed);
        counter!("shroud_peer_bans_total").increment(1);
        warn!(
            peer,
            offence = offence.label(),
            ban_ms = length,
            "banning a validator that sends what no honest validator sends"
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_banned_past_the_threshold_and_the_ban_doubles() {
        let scores = PeerScores::new(4);
        // Three bad signatures (12 points) leave it connected; the fourth bans it.
        for _ in 0..3 {
            assert!(!scores.penalize_at(1, Offence::BadSignature, 1_000));
        }
        assert!(!scores.is_banned_at(1, 1_000));
        assert!(scores.penalize_at(1, Offence::BadSignature, 1_000));
        assert!(scores.is_banned_at(1, 1_000));
        assert!(scores.is_banned_at(1, 1_000 + BAN_FIRST_MS - 1));
        assert!(!scores.is_banned_at(1, 1_000 + BAN_FIRST_MS));
        // Others are untouched.
        assert!(!scores.is_banned_at(0, 1_000));
        // The second ban is twice as long.
        let again = 1_000 + BAN_FIRST_MS;
        for _ in 0..4 {
            scores.penalize_at(1, Offence::BadSignature, again);
        }
        assert!(scores.is_banned_at(1, again + 2 * BAN_FIRST_MS - 1));
        assert!(!scores.is_banned_at(1, again + 2 * BAN_FIRST_MS));
    }

    #[test]
    fn points_decay_so_rare_faults_never_ban() {
        let scores = PeerScores::new(2);
        // An invalid frame every second is forgiven as fast as it is charged.
        for second in 0..100u64 {
            assert!(!scores.penalize_at(1, Offence::InvalidFrame, second * 1_000));
        }
        // Sixteen at once are not.
        let now = 200_000;
        let banned = (0..16).any(|_| scores.penalize_at(1, Offence::InvalidFrame, now));
        assert!(banned);
        // An unknown peer index is ignored.
        assert!(!scores.penalize_at(9, Offence::BadSignature, now));
    }

    #[test]
    fn bans_are_capped_and_forgotten_after_an_hour() {
        let scores = PeerScores::new(2);
        let mut now = 0;
        let mut length = 0;
        for _ in 0..12 {
            while !scores.penalize_at(0, Offence::BadDecryption, now) {}
            let start = now;
            while scores.is_banned_at(0, now) {
                now += 1_000;
            }
            length = now - start;
        }
        assert_eq!(length, BAN_MAX_MS);
        now += BANS_FORGOTTEN_MS + 1;
        while !scores.penalize_at(0, Offence::BadDecryption, now) {}
        assert!(scores.is_banned_at(0, now + BAN_FIRST_MS - 1));
        assert!(!scores.is_banned_at(0, now + BAN_FIRST_MS));
    }
}
