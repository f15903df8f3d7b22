//! The DKG state machine: it reads the committed transcript (messages in block order, and the
//! committed heights), and says what to post, who is excluded and why, and the key.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ark_bls12_381::Fr;
use ark_ec::CurveGroup;
use zeroize::Zeroizing;

use super::message::{
    evaluate_in_exponent, sum_commitments, Complaint, Dealing, DkgBody, DkgMessage, DkgParams,
    DkgSecretKey,
};
use crate::tdh2::{EncryptionKey, KeyShare, PublicKeySet};

/// Why a dealer is not in a round's qualified set. Every validator derives the same reasons
/// from the same committed transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exclusion {
    /// Its dealing does not fit the committee (counts, or a G2 key that is not its constant
    /// term). Provable from the signed message: excluded from later rounds too.
    Malformed(String),
    /// Two different dealings in one round, both committed. Provable: excluded from later
    /// rounds too.
    Equivocated,
    /// Its share to `recipient` does not match its commitment, shown by the recipient's
    /// complaint (which everyone checked). Provable: excluded from later rounds too.
    BadShare {
        /// The member that complained.
        recipient: u16,
    },
    /// No dealing was committed before the dealing phase closed (offline or slow). It may deal
    /// in a later round.
    NoDealing,
}

impl Exclusion {
    /// A short, stable label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Exclusion::Malformed(_) => "malformed_dealing",
            Exclusion::Equivocated => "equivocated",
            Exclusion::BadShare { .. } => "bad_share",
            Exclusion::NoDealing => "no_dealing",
        }
    }

    /// Whether the signed transcript proves misbehaviour (the dealer is then excluded from
    /// every later round).
    pub fn is_provable(&self) -> bool {
        !matches!(self, Exclusion::NoDealing)
    }
}

impl fmt::Display for Exclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exclusion::Malformed(detail) => write!(f, "malformed dealing: {detail}"),
            Exclusion::Equivocated => write!(f, "two different dealings in one round"),
            Exclusion::BadShare { recipient } => write!(
                f,
                "its share to validator {recipient} does not match its commitment (complaint upheld)"
            ),
            Exclusion::NoDealing => write!(f, "no dealing committed before the phase closed"),
        }
    }
}

/// The DKG's result: the key set every validator derives alike, this validator's share, and
/// who took part.
pub struct DkgOutput {
    /// The round that succeeded.
    pub round: u32,
    /// The committed height at which it completed.
    pub height: u64,
    /// The public key set (encryption key, `x·g₂`, verification keys).
    pub public: PublicKeySet,
    /// This validator's share `x_j`, or `None` if a qualified dealer's share to it did not
    /// verify and its complaint was not committed in time (see `share_problem`).
    pub share: Option<KeyShare>,
    /// Why `share` is `None`.
    pub share_problem: Option<String>,
    /// The qualified dealers, whose polynomials sum to the key.
    pub qualified: Vec<u16>,
    /// The dealers excluded in the successful round, with why.
    pub excluded: Vec<(u16, Exclusion)>,
}

impl fmt::Debug for DkgOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkgOutput")
            .field("round", &self.round)
            .field("height", &self.height)
            .field("encryption_key", self.public.encryption_key())
            .field("has_share", &self.share.is_some())
            .field("qualified", &self.qualified)
            .field("excluded", &self.excluded)
            .finish()
    }
}

/// What happened while reading the transcript, for logs and metrics.
#[derive(Debug)]
pub enum DkgEvent {
    /// A dealer left out of a round's qualified set.
    Excluded {
        /// The round.
        round: u32,
        /// The dealer.
        dealer: u16,
        /// Why.
        reason: Exclusion,
    },
    /// A complaint that did not hold.
    ComplaintRefused {
        /// The round.
        round: u32,
        /// Who complained.
        complainer: u16,
        /// About whom.
        dealer: u16,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A committed message that had no effect (a duplicate, another round, too late).
    Ignored {
        /// Its sender.
        sender: u16,
        /// Why.
        reason: &'static str,
    },
    /// A round that could not produce a key; the next round starts at `next_from`.
    RoundFailed {
        /// The round.
        round: u32,
        /// Why, naming the validators it waited for.
        reason: String,
        /// The height after which the next round's dealing phase runs.
        next_from: u64,
    },
    /// The key is formed.
    Complete(Box<DkgOutput>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Dealing,
    Responding,
    Done,
    /// Fewer eligible dealers remain than the threshold: no round can succeed.
    Failed,
}

/// One round's view of the transcript.
struct Round {
    number: u32,
    phase: Phase,
    /// The phase covers committed heights `from + 1 ..= from + window`.
    from: u64,
    /// Accepted dealings by dealer, with their message bytes (to tell a duplicate from an
    /// equivocation).
    dealings: BTreeMap<u16, (Dealing, Vec<u8>)>,
    excluded: BTreeMap<u16, Exclusion>,
    /// The first response of each member.
    responses: BTreeMap<u16, Vec<u8>>,
    /// This validator's shares that verified, by dealer.
    own_shares: BTreeMap<u16, Zeroizing<Fr>>,
    /// Dealers whose share to this validator did not verify.
    bad_for_me: BTreeSet<u16>,
}

impl Round {
    fn new(number: u32, from: u64) -> Self {
        Self {
            number,
            phase: Phase::Dealing,
            from,
            dealings: BTreeMap::new(),
            excluded: BTreeMap::new(),
            responses: BTreeMap::new(),
            own_shares: BTreeMap::new(),
            bad_for_me: BTreeSet::new(),
        }
    }
}

/// What a validator reports about the DKG (for `/v1/status` and logs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DkgStatus {
    /// The current round.
    pub round: u32,
    /// `dealing`, `responding` or `complete`.
    pub phase: &'static str,
    /// The last committed height of the current phase's window.
    pub phase_deadline: u64,
    /// Dealers whose dealing is accepted this round.
    pub dealt: Vec<u16>,
    /// Members whose response is committed this round.
    pub responded: Vec<u16>,
    /// Members the current phase still waits for.
    pub waiting_for: Vec<u16>,
    /// Dealers excluded this round or earlier (provably), with why.
    pub excluded: Vec<(u16, String)>,
    /// Why earlier rounds failed, oldest first.
    pub failures: Vec<String>,
}

/// Failed rounds remembered for the status (the oldest are dropped).
const FAILURES_KEPT: usize = 16;

/// A validator's DKG. Feed it the committed transcript in order: [`Dkg::on_message`] for each
/// DKG message of a committed block, then [`Dkg::on_height`] once the block's messages are in
/// (for every committed height, or at least every height that carried a message and the
/// latest one). It is deterministic: the same transcript gives the same events on every
/// validator, which is what makes consensus the arbiter.
pub struct Dkg {
    params: DkgParams,
    me: u16,
    key: DkgSecretKey,
    round: Round,
    /// Dealers whose misbehaviour the transcript proves, excluded from every later round.
    banned: BTreeMap<u16, Exclusion>,
    failures: Vec<String>,
    /// This validator's dealing of the current round (it is computed once).
    own_dealing: Option<(u32, DkgMessage)>,
}

impl fmt::Debug for Dkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dkg")
            .field("me", &self.me)
            .field("status", &self.status())
            .finish()
    }
}

impl Dkg {
    /// A DKG starting after committed height `start` (its first dealing phase covers
    /// `start + 1 ..= start + window`). `me` is this validator's index; `key` its DKG key,
    /// which must be the one the parameters list for it.
    pub fn new(params: DkgParams, me: u16, key: DkgSecretKey, start: u64) -> Option<Self> {
        if params.member_key(me) != Some(&key.public_key().0) {
            return None;
        }
        Some(Self {
            params,
            me,
            key,
            round: Round::new(0, start),
            banned: BTreeMap::new(),
            failures: Vec::new(),
            own_dealing: None,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &DkgParams {
        &self.params
    }

    /// Whether the key is formed.
    pub fn is_complete(&self) -> bool {
        self.round.phase == Phase::Done
    }

    fn is_over(&self) -> bool {
        matches!(self.round.phase, Phase::Done | Phase::Failed)
    }

    fn deadline(&self) -> u64 {
        self.round.from.saturating_add(self.params.window_heights())
    }

    fn eligible(&self) -> impl Iterator<Item = u16> + '_ {
        (0..self.params.member_count() as u16).filter(|dealer| !self.banned.contains_key(dealer))
    }

    /// What this validator must see committed now: its dealing during the dealing phase, its
    /// response during the response phase, until the transcript holds them. The same bytes
    /// every time (and after a restart), so posting again is harmless.
    pub fn pending_posts(&mut self) -> Vec<DkgMessage> {
        let number = self.round.number;
        match self.round.phase {
            Phase::Dealing => {
                if self.banned.contains_key(&self.me)
                    || self.round.dealings.contains_key(&self.me)
                    || self.round.excluded.contains_key(&self.me)
                {
                    return Vec::new();
                }
                if self
                    .own_dealing
                    .as_ref()
                    .is_none_or(|(round, _)| *round != number)
                {
                    let dealing = Dealing::deal(&self.params, self.me, number, &self.key);
                    self.own_dealing = Some((
                        number,
                        DkgMessage {
                            round: number,
                            sender: self.me,
                            body: DkgBody::Dealing(Box::new(dealing)),
                        },
                    ));
                }
                self.own_dealing
                    .iter()
                    .map(|(_, message)| message.clone())
                    .collect()
            }
            Phase::Responding => {
                if self.round.responses.contains_key(&self.me) {
                    return Vec::new();
                }
                vec![DkgMessage {
                    round: number,
                    sender: self.me,
                    body: DkgBody::Response(self.own_complaints()),
                }]
            }
            Phase::Done | Phase::Failed => Vec::new(),
        }
    }

    fn own_complaints(&self) -> Vec<Complaint> {
        self.round
            .bad_for_me
            .iter()
            .filter_map(|dealer| {
                let (dealing, _) = self.round.dealings.get(dealer)?;
                Complaint::make(
                    &self.params,
                    self.round.number,
                    *dealer,
                    self.me,
                    &self.key,
                    &dealing.ephemeral,
                )
            })
            .collect()
    }

    /// A committed DKG message, signed by `message.sender` (the caller checked the signature),
    /// at committed height `height`.
    pub fn on_message(&mut self, height: u64, message: &DkgMessage) -> Vec<DkgEvent> {
        // Phases whose window ended before this height close first, exactly as they did for
        // a validator that saw every height.
        let mut events = self.advance(height.saturating_sub(1));
        let ignored = |reason| DkgEvent::Ignored {
            sender: message.sender,
            reason,
        };
        if usize::from(message.sender) >= self.params.member_count() {
            events.push(ignored("sender outside the committee"));
            return events;
        }
        if self.is_over() {
            events.push(ignored("the DKG is over"));
            return events;
        }
        if message.round != self.round.number {
            events.push(ignored("another round"));
            return events;
        }
        match &message.body {
            DkgBody::Dealing(dealing) => self.on_dealing(message, dealing, &mut events),
            DkgBody::Response(complaints) => {
                self.on_response(message.sender, message, complaints, &mut events)
            }
        }
        events
    }

    fn exclude(&mut self, dealer: u16, reason: Exclusion, events: &mut Vec<DkgEvent>) {
        self.round.dealings.remove(&dealer);
        self.round.own_shares.remove(&dealer);
        self.round.bad_for_me.remove(&dealer);
        if reason.is_provable() {
            self.banned.entry(dealer).or_insert_with(|| reason.clone());
        }
        self.round.excluded.insert(dealer, reason.clone());
        events.push(DkgEvent::Excluded {
            round: self.round.number,
            dealer,
            reason,
        });
    }

    fn on_dealing(&mut self, message: &DkgMessage, dealing: &Dealing, events: &mut Vec<DkgEvent>) {
        let dealer = message.sender;
        let bytes = message.to_bytes();
        if let Some((_, known)) = self.round.dealings.get(&dealer) {
            if *known == bytes {
                events.push(DkgEvent::Ignored {
                    sender: dealer,
                    reason: "duplicate dealing",
                });
            } else {
                self.exclude(dealer, Exclusion::Equivocated, events);
            }
            return;
        }
        if self.banned.contains_key(&dealer) || self.round.excluded.contains_key(&dealer) {
            events.push(DkgEvent::Ignored {
                sender: dealer,
                reason: "dealing from an excluded dealer",
            });
            return;
        }
        if self.round.phase != Phase::Dealing {
            events.push(DkgEvent::Ignored {
                sender: dealer,
                reason: "dealing after the dealing phase closed",
            });
            return;
        }
        if let Err(detail) = dealing.check(&self.params, self.round.number, dealer) {
            self.exclude(dealer, Exclusion::Malformed(detail), events);
            return;
        }
        let shared = self.key.secret().g1(&dealing.ephemeral);
        match dealing.open_share(&self.params, self.round.number, dealer, self.me, &shared) {
            Some(value) => {
                self.round.own_shares.insert(dealer, value);
            }
            None => {
                self.round.bad_for_me.insert(dealer);
            }
        }
        self.round.dealings.insert(dealer, (dealing.clone(), bytes));
    }

    fn on_response(
        &mut self,
        complainer: u16,
        message: &DkgMessage,
        complaints: &[Complaint],
        events: &mut Vec<DkgEvent>,
    ) {
        let ignored = |reason| DkgEvent::Ignored {
            sender: complainer,
            reason,
        };
        if self.round.phase != Phase::Responding {
            events.push(ignored("response before the dealing phase closed"));
            return;
        }
        if self.round.responses.contains_key(&complainer) {
            events.push(ignored("second response"));
            return;
        }
        self.round.responses.insert(complainer, message.to_bytes());
        let number = self.round.number;
        for complaint in complaints {
            let refused = |reason| DkgEvent::ComplaintRefused {
                round: number,
                complainer,
                dealer: complaint.dealer,
                reason,
            };
            let Some((dealing, _)) = self.round.dealings.get(&complaint.dealer) else {
                events.push(refused("no accepted dealing from that dealer"));
                continue;
            };
            if !complaint.verify(&self.params, number, complainer, &dealing.ephemeral) {
                events.push(refused("its proof does not verify"));
                continue;
            }
            let opened = dealing.open_share(
                &self.params,
                number,
                complaint.dealer,
                complainer,
                &complaint.shared,
            );
            if opened.is_some() {
                events.push(refused("the share matches the commitment"));
            } else {
                self.exclude(
                    complaint.dealer,
                    Exclusion::BadShare {
                        recipient: complainer,
                    },
                    events,
                );
            }
        }
    }

    /// Committed height `height` is done (its messages, if any, were given to
    /// [`Dkg::on_message`]): phases whose window ended close, and a phase whose members have
    /// all spoken closes at once.
    pub fn on_height(&mut self, height: u64) -> Vec<DkgEvent> {
        let mut events = self.advance(height);
        let all_dealt = self.eligible().all(|dealer| {
            self.round.dealings.contains_key(&dealer) || self.round.excluded.contains_key(&dealer)
        });
        if self.round.phase == Phase::Dealing && all_dealt && height > self.round.from {
            self.close_dealing(height, &mut events);
        }
        if self.round.phase == Phase::Responding
            && self.round.responses.len() == self.params.member_count()
            && height > self.round.from
        {
            self.finish(height, &mut events);
        }
        events
    }

    /// Closes every phase whose window ended at or before `height`, at its deadline.
    fn advance(&mut self, height: u64) -> Vec<DkgEvent> {
        let mut events = Vec::new();
        loop {
            let deadline = self.deadline();
            if self.is_over() || deadline > height {
                return events;
            }
            match self.round.phase {
                Phase::Dealing => self.close_dealing(deadline, &mut events),
                Phase::Responding => self.finish(deadline, &mut events),
                Phase::Done | Phase::Failed => return events,
            }
        }
    }

    fn close_dealing(&mut self, height: u64, events: &mut Vec<DkgEvent>) {
        let missing: Vec<u16> = self
            .eligible()
            .filter(|dealer| {
                !self.round.dealings.contains_key(dealer)
                    && !self.round.excluded.contains_key(dealer)
            })
            .collect();
        for dealer in missing {
            self.exclude(dealer, Exclusion::NoDealing, events);
        }
        self.round.phase = Phase::Responding;
        self.round.from = height;
    }

    fn finish(&mut self, height: u64, events: &mut Vec<DkgEvent>) {
        let count = self.params.member_count();
        let quorum = count - self.params.fault_bound();
        let threshold = self.params.threshold();
        let failure = if self.round.responses.len() < quorum {
            let silent: Vec<u16> = (0..count as u16)
                .filter(|member| !self.round.responses.contains_key(member))
                .collect();
            Some(format!(
                "round {}: {} of {count} validators responded by height {height}, {quorum} are \
                 needed; no response from {silent:?}",
                self.round.number,
                self.round.responses.len()
            ))
        } else if self.round.dealings.len() < threshold {
            Some(format!(
                "round {}: {} dealers qualified by height {height}, {threshold} are needed; \
                 excluded: {}",
                self.round.number,
                self.round.dealings.len(),
                describe(&self.round.excluded)
            ))
        } else {
            None
        };
        let output = match failure {
            Some(reason) => Err(reason),
            None => self.output(height),
        };
        match output {
            Ok(output) => {
                self.round.phase = Phase::Done;
                self.round.from = height;
                events.push(DkgEvent::Complete(Box::new(output)));
            }
            Err(reason) => {
                let eligible = self.eligible().count();
                let over = eligible < threshold;
                let reason = if over {
                    format!(
                        "{reason}; only {eligible} dealers are not excluded for misbehaviour, \
                         fewer than the threshold {threshold}: no round can succeed (more than \
                         f members misbehaved)"
                    )
                } else {
                    reason
                };
                self.failures.push(reason.clone());
                if self.failures.len() > FAILURES_KEPT {
                    self.failures.remove(0);
                }
                events.push(DkgEvent::RoundFailed {
                    round: self.round.number,
                    reason,
                    next_from: height,
                });
                self.round = Round::new(self.round.number.saturating_add(1), height);
                if over {
                    self.round.phase = Phase::Failed;
                }
            }
        }
    }

    fn output(&self, height: u64) -> Result<DkgOutput, String> {
        let threshold = self.params.threshold();
        let qualified: Vec<u16> = self.round.dealings.keys().copied().collect();
        let (polynomial, key_g2) = sum_commitments(
            threshold,
            self.round.dealings.values().map(|(dealing, _)| dealing),
        );
        let verification_keys = (1..=self.params.member_count() as u64)
            .map(|index| evaluate_in_exponent(&polynomial, index).into_affine())
            .collect();
        let public = PublicKeySet::new(
            threshold,
            EncryptionKey(polynomial[0]),
            key_g2,
            verification_keys,
        )
        .map_err(|error| {
            format!(
                "round {}: the qualified dealings sum to an unusable key ({error})",
                self.round.number
            )
        })?;
        let (share, share_problem) = self.own_share(&public, &qualified);
        Ok(DkgOutput {
            round: self.round.number,
            height,
            public,
            share,
            share_problem,
            qualified,
            excluded: self
                .round
                .excluded
                .iter()
                .map(|(dealer, reason)| (*dealer, reason.clone()))
                .collect(),
        })
    }

    fn own_share(
        &self,
        public: &PublicKeySet,
        qualified: &[u16],
    ) -> (Option<KeyShare>, Option<String>) {
        let unverified: Vec<u16> = qualified
            .iter()
            .copied()
            .filter(|dealer| !self.round.own_shares.contains_key(dealer))
            .collect();
        if !unverified.is_empty() {
            return (
                None,
                Some(format!(
                    "the shares from qualified dealers {unverified:?} did not verify and this \
                     validator's complaint was not committed in time: it holds no key share"
                )),
            );
        }
        let mut sum = Zeroizing::new(Fr::from(0u64));
        for value in self.round.own_shares.values() {
            *sum += **value;
        }
        let index = self.me + 1;
        match KeyShare::new(index, *sum) {
            Ok(share)
                if public
                    .verification_key(index)
                    .is_ok_and(|key| *key == share.verification_key()) =>
            {
                (Some(share), None)
            }
            _ => (
                None,
                Some(
                    "the sum of this validator's shares does not match its verification key".into(),
                ),
            ),
        }
    }

    /// The DKG as the operator sees it.
    pub fn status(&self) -> DkgStatus {
        let (phase, waiting_for) = match self.round.phase {
            Phase::Dealing => (
                "dealing",
                self.eligible()
                    .filter(|dealer| {
                        !self.round.dealings.contains_key(dealer)
                            && !self.round.excluded.contains_key(dealer)
                    })
                    .collect(),
            ),
            Phase::Responding => (
                "responding",
                (0..self.params.member_count() as u16)
                    .filter(|member| !self.round.responses.contains_key(member))
                    .collect(),
            ),
            Phase::Done => ("complete", Vec::new()),
            Phase::Failed => ("failed", Vec::new()),
        };
        let mut excluded: BTreeMap<u16, String> = self
            .banned
            .iter()
            .map(|(dealer, reason)| (*dealer, reason.to_string()))
            .collect();
        for (dealer, reason) in &self.round.excluded {
            excluded
                .entry(*dealer)
                .or_insert_with(|| reason.to_string());
        }
        DkgStatus {
            round: self.round.number,
            phase,
            phase_deadline: self.deadline(),
            dealt: self.round.dealings.keys().copied().collect(),
            responded: self.round.responses.keys().copied().collect(),
            waiting_for,
            excluded: excluded.into_iter().collect(),
            failures: self.failures.clone(),
        }
    }
}

fn describe(excluded: &BTreeMap<u16, Exclusion>) -> String {
    if excluded.is_empty() {
        return "none".into();
    }
    excluded
        .iter()
        .map(|(dealer, reason)| format!("{dealer} ({reason})"))
        .collect::<Vec<_>>()
        .join(", ")
}
