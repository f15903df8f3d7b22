//! The validator's side of the distributed key generation: it replays the stored transcript at
//! start, feeds the state machine each committed height's DKG messages, signs this validator's
//! posts, and turns the state machine's events into logs and metrics that read the same on
//! every validator.

use std::time::Instant;

use metrics::{counter, gauge};
use serde::Serialize;
use shroud_crypto::dkg::{
    Dealing, Dkg, DkgBody, DkgEvent, DkgMessage, DkgParams, DkgSecretKey, DkgStatus,
};
use shroud_crypto::SecretKey;
use tracing::{error, info, warn};

use crate::batch::DkgPost;
use crate::store::DkgRecord;

/// Faults a test network injects into one DKG dealer (never on a real network).
#[derive(Clone, Copy, Debug, Default)]
pub struct DkgFaults {
    /// Its dealing carries a wrong share for this validator.
    pub wrong_share_to: Option<u16>,
    /// It also posts a second, different dealing.
    pub equivocate: bool,
}

/// The DKG of one validator.
pub struct DkgRunner {
    dkg: Dkg,
    me: u16,
    chain_id: u64,
    epoch: u64,
    signer: SecretKey,
    key: DkgSecretKey,
    faults: DkgFaults,
    started: Instant,
}

impl std::fmt::Debug for DkgRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DkgRunner({:?})", self.dkg)
    }
}

/// What `/v1/status` says about the committee's key.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct KeyStatus {
    /// `forming` while the DKG runs, `ready` once this validator holds the key set, `dealer`
    /// when a trusted dealer made it (test networks only).
    pub state: &'static str,
    /// The DKG round (a new one starts after a failed one).
    pub round: Option<u32>,
    /// The DKG phase (`dealing`, `responding`, `complete`).
    pub phase: Option<&'static str>,
    /// The last committed height of the current phase.
    #[serde(serialize_with = "crate::json::opt_u64_string")]
    pub phase_deadline: Option<u64>,
    /// Members the current phase still waits for.
    pub waiting_for: Vec<u16>,
    /// Dealers whose dealing is accepted this round.
    pub dealt: Vec<u16>,
    /// Members whose response is committed this round.
    pub responded: Vec<u16>,
    /// Dealers left out, with why (the same text on every validator).
    pub excluded: Vec<ExcludedDealer>,
    /// Why earlier rounds failed.
    pub failures: Vec<String>,
    /// The height at which the DKG completed.
    #[serde(serialize_with = "crate::json::opt_u64_string")]
    pub formed_at_height: Option<u64>,
    /// Why this validator holds no key share, if it does not.
    pub share_problem: Option<String>,
    /// Why the DKG is not moving, when it is not (no height committed for a while).
    pub stalled: Option<String>,
}

/// The DKG is called stalled after this long without a committed height.
pub const STALLED_AFTER_MS: u64 = 3_000;

/// Why a forming key does not move: no height committed for `idle_ms`, and whom the phase
/// waits for.
pub fn stalled_reason(status: &KeyStatus, idle_ms: u64, quorum: usize) -> Option<String> {
    if status.state != "forming" || idle_ms < STALLED_AFTER_MS {
        return None;
    }
    Some(format!(
        "no height committed for {} s: the DKG advances only as consensus commits, which needs \
         {quorum} validators online; round {} is {} and waits for validators {:?}",
        idle_ms / 1_000,
        status.round.unwrap_or_default(),
        status.phase.unwrap_or("forming"),
        status.waiting_for
    ))
}

/// A dealer left out of the key.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ExcludedDealer {
    /// Its validator index.
    pub validator: u16,
    /// Why.
    pub reason: String,
}

impl KeyStatus {
    /// A dealer's key (test networks).
    pub fn dealer() -> Self {
        Self::empty("dealer")
    }

    fn empty(state: &'static str) -> Self {
        Self {
            state,
            round: None,
            phase: None,
            phase_deadline: None,
            waiting_for: Vec::new(),
            dealt: Vec::new(),
            responded: Vec::new(),
            excluded: Vec::new(),
            failures: Vec::new(),
            formed_at_height: None,
            share_problem: None,
            stalled: None,
        }
    }

    /// A DKG that completed (read back from the store).
    pub fn formed(record: &DkgRecord) -> Self {
        Self {
            round: Some(record.round),
            phase: Some("complete"),
            excluded: record
                .excluded
                .iter()
                .map(|(validator, _, reason)| ExcludedDealer {
                    validator: *validator,
                    reason: reason.clone(),
                })
                .collect(),
            formed_at_height: Some(record.height),
            share_problem: record.share_problem.clone(),
            dealt: record.qualified.clone(),
            ..Self::empty("ready")
        }
    }

    fn forming(status: DkgStatus) -> Self {
        Self {
            round: Some(status.round),
            phase: Some(status.phase),
            phase_deadline: Some(status.phase_deadline),
            waiting_for: status.waiting_for,
            dealt: status.dealt,
            responded: status.responded,
            excluded: status
                .excluded
                .into_iter()
                .map(|(validator, reason)| ExcludedDealer { validator, reason })
                .collect(),
            failures: status.failures,
            ..Self::empty("forming")
        }
    }
}

/// The outcome of one committed height for the loop: events to act on.
pub type Events = Vec<DkgEvent>;

impl DkgRunner {
    /// A DKG from genesis, with the stored `transcript` replayed (a restart continues where it
    /// stopped) and every height up to `committed` seen. The events of the replay are returned
    /// too: a completion that was not yet recorded is completed again.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        params: DkgParams,
        me: u16,
        key: DkgSecretKey,
        signer: SecretKey,
        (chain_id, epoch): (u64, u64),
        faults: DkgFaults,
        transcript: &[(u64, Vec<u8>)],
        committed: u64,
    ) -> Option<(Self, Events)> {
        let members = params.member_count();
        let state_key = DkgSecretKey::from_bytes(key.to_bytes().as_slice()).ok()?;
        let dkg = Dkg::new(params, me, state_key, 0)?;
        let mut runner = Self {
            dkg,
            me,
            chain_id,
            epoch,
            signer,
            key,
            faults,
            started: Instant::now(),
        };
        let mut events = Vec::new();
        let mut last = None;
        for (height, bytes) in transcript {
            if last.is_some_and(|previous| previous != *height) {
                events.extend(runner.dkg.on_height(last.unwrap_or_default()));
            }
            last = Some(*height);
            match DkgMessage::from_bytes(bytes, members) {
                Ok(message) => events.extend(runner.dkg.on_message(*height, &message)),
                Err(error) => error!(%error, height, "a stored DKG message does not decode"),
            }
        }
        if let Some(height) = last {
            events.extend(runner.dkg.on_height(height));
        }
        events.extend(runner.dkg.on_height(committed));
        if faults.wrong_share_to.is_some() || faults.equivocate {
            warn!(
                ?faults,
                "FAULT INJECTION: this validator is a Byzantine DKG dealer"
            );
        }
        Some((runner, events))
    }

    /// Whether the key is formed.
    pub fn is_complete(&self) -> bool {
        self.dkg.is_complete()
    }

    /// Seconds since this run started the DKG.
    pub fn elapsed_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// This validator's posts that the transcript does not hold yet, signed (the same bytes
    /// each time, so posting again is harmless).
    pub fn posts(&mut self) -> Vec<DkgPost> {
        let mut messages = self.dkg.pending_posts();
        for message in &mut messages {
            if let (Some(victim), DkgBody::Dealing(dealing)) =
                (self.faults.wrong_share_to, &mut message.body)
            {
                **dealing = (**dealing).clone().with_wrong_share(victim);
            }
        }
        if self.faults.equivocate {
            if let Some(round) = messages
                .iter()
                .find(|message| matches!(message.body, DkgBody::Dealing(_)))
                .map(|message| message.round)
            {
                messages.push(DkgMessage {
                    round,
                    sender: self.me,
                    body: DkgBody::Dealing(Box::new(Dealing::deal_conflicting(
                        self.dkg.params(),
                        self.me,
                        round,
                        &self.key,
                    ))),
                });
            }
        }
        messages
            .into_iter()
            .map(|message| {
                DkgPost::sign(
                    self.me,
                    message.to_bytes(),
                    &self.signer,
                    self.chain_id,
                    self.epoch,
                )
            })
            .collect()
    }

    /// The DKG messages committed at `height` (already durable), then the height itself.
    pub fn on_committed(&mut self, height: u64, posts: &[DkgPost]) -> Events {
        let members = self.dkg.params().member_count();
        let mut events = Vec::new();
        for post in posts {
            counter!("shroud_dkg_messages_committed_total").increment(1);
            match DkgMessage::from_bytes(&post.message, members) {
                Ok(message) => events.extend(self.dkg.on_message(height, &message)),
                // Every voter checked it; a committed post that does not decode is a bug of
                // ours, reported rather than trusted.
                Err(error) => error!(%error, height, "a committed DKG message does not decode"),
            }
        }
        events.extend(self.dkg.on_height(height));
        events
    }

    /// The status of the key while the DKG runs.
    pub fn status(&self) -> KeyStatus {
        let status = self.dkg.status();
        gauge!("shroud_dkg_round").set(f64::from(status.round));
        KeyStatus::forming(status)
    }
}

/// Logs and counts one event the same way on every validator (the reasons come from the
/// transcript).
pub fn report(event: &DkgEvent) {
    match event {
        DkgEvent::Excluded {
            round,
            dealer,
            reason,
        } => {
            counter!("shroud_dkg_excluded_total", "reason" => reason.label()).increment(1);
            warn!(round, dealer, reason = %reason, "DKG: dealer excluded");
        }
        DkgEvent::ComplaintRefused {
            round,
            complainer,
            dealer,
            reason,
        } => {
            counter!("shroud_dkg_complaints_refused_total").increment(1);
            warn!(round, complainer, dealer, reason, "DKG: complaint refused");
        }
        DkgEvent::Ignored { sender, reason } => {
            counter!("shroud_dkg_messages_ignored_total", "reason" => *reason).increment(1);
            info!(sender, reason, "DKG: message ignored");
        }
        DkgEvent::RoundFailed {
            round,
            reason,
            next_from,
        } => {
            counter!("shroud_dkg_rounds_failed_total").increment(1);
            error!(round, next_from, %reason, "DKG: round failed; a new round starts");
        }
        DkgEvent::Complete(output) => {
            gauge!("shroud_dkg_complete").set(1.0);
            info!(
                round = output.round,
                height = output.height,
                qualified = ?output.qualified,
                excluded = output.excluded.len(),
                has_share = output.share.is_some(),
                "DKG: the committee's key is formed"
            );
        }
    }
}

/// The record of a completed DKG.
pub fn record(output: &shroud_crypto::dkg::DkgOutput) -> DkgRecord {
    DkgRecord {
        round: output.round,
        height: output.height,
        qualified: output.qualified.clone(),
        excluded: output
            .excluded
            .iter()
            .map(|(dealer, reason)| (*dealer, reason.label().to_string(), reason.to_string()))
            .collect(),
        share_problem: output.share_problem.clone(),
    }
}
