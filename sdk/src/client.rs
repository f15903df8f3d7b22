//! Sessions with validators: submit, read outputs, wait for a transaction.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand_core::{OsRng, RngCore};
use shroud_crypto::tdh2::{encrypt, Label};
use shroud_network::client::{
    DecryptionEvidenceRequest, DecryptionEvidenceResponse, EpochKeyRequest, EpochKeyResponse,
    OutputsRequest, OutputsResponse, Receipt, SubmitRequest, TxStatus, TxStatusRequest,
};
use shroud_network::frame::{self, parse};
use shroud_network::{ClientSession, FrameKind, Limits};
use shroud_proofs::{Bundle, NamespaceId, NamespaceOutput, TxId};
use shroud_proofs::{DecryptionEvidence, EpochKeyCertificate};

use crate::committee::Committee;
use crate::receipts::{verify_status, Receipts};
use crate::SdkError;

/// Heights asked for per outputs request.
const HEIGHTS_PER_REQUEST: u32 = 128;

/// How long a height learned from the validators is used to set expiries before it is asked
/// for again.
const HEIGHT_REFRESH: Duration = Duration::from_secs(10);

/// A connection to some validators of a committee.
#[derive(Debug)]
pub struct Client {
    committee: Committee,
    sessions: Vec<(usize, ClientSession)>,
    limits: Limits,
    /// The chain's height as the validators last told it, and when.
    height: std::sync::Mutex<(u64, Instant)>,
}

/// A submission's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The transaction id (hash of the ciphertext).
    pub tx_id: TxId,
    /// Validators that accepted it (durably stored).
    pub accepted_by: Vec<usize>,
    /// Validators that refused it, with the label.
    pub rejected_by: Vec<(usize, String)>,
}

/// One page of a namespace's certified outputs, every one verified.
#[derive(Clone, Debug)]
pub struct OutputsPage {
    /// Outputs with items in the namespace, in height order.
    pub outputs: Vec<NamespaceOutput>,
    /// Every height below this was covered.
    pub next_height: u64,
    /// The validator's certified height.
    pub certified_height: u64,
    /// Digest of the last header of the page (or the one below it when the page is empty).
    pub last_digest: Option<[u8; 32]>,
}

/// Where a transaction's items were found.
#[derive(Clone, Debug)]
pub struct Found {
    /// The height.
    pub height: u64,
    /// The outputs (one per namespace the transaction touched) that hold its items.
    pub outputs: Vec<NamespaceOutput>,
}

fn local_for(address: &SocketAddr) -> SocketAddr {
    if address.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    }
}

/// How long connecting to one validator may take before it counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Client {
    /// Connects to the given validators (by index); at least one must answer. A committee
    /// without a key (a genesis file) learns it here from the committee's certificate if the
    /// validators have formed it; until then [`Client::committee`] has no key, and
    /// [`Client::wait_for_key`] waits for it.
    pub async fn connect(committee: Committee, validators: &[usize]) -> Result<Self, SdkError> {
        let limits = Limits::default();
        // All at once, each bounded: a validator that is down costs CONNECT_TIMEOUT, not the
        // transport's idle timeout, and not one after another.
        let mut attempts = tokio::task::JoinSet::new();
        for &index in validators {
            let Some((address, pin)) = committee.client_endpoint(index) else {
                return Err(SdkError::Committee(format!("no validator {index}")));
            };
            let limits = limits.clone();
            attempts.spawn(async move {
                let connect = ClientSession::connect(local_for(&address), address, pin, limits);
                match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
                    Ok(Ok(session)) => Some((index, session)),
                    _ => None,
                }
            });
        }
        let mut sessions = Vec::new();
        while let Some(attempt) = attempts.join_next().await {
            if let Ok(Some(session)) = attempt {
                sessions.push(session);
            }
        }
        // The caller's order (they are asked in turn).
        sessions.sort_by_key(|(index, _)| {
            validators
                .iter()
                .position(|wanted| wanted == index)
                .unwrap_or(usize::MAX)
        });
        if sessions.is_empty() {
            return Err(SdkError::Unreachable);
        }
        let mut client = Self {
            committee,
            sessions,
            limits,
            height: std::sync::Mutex::new((0, Instant::now())),
        };
        client.refresh_height().await?;
        if !client.committee.has_key() {
            match client.learn_key().await {
                Ok(()) | Err(SdkError::KeyNotCertified) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(client)
    }

    /// The committee, with its certified key once known.
    pub fn committee(&self) -> &Committee {
        &self.committee
    }

    /// The validators this client is connected to.
    pub fn connected(&self) -> usize {
        self.sessions.len()
    }

    async fn learn_key(&mut self) -> Result<(), SdkError> {
        let (committee, _) = self.certified_key().await?;
        self.committee = committee;
        Ok(())
    }

    /// Waits until the committee's key is certified (the validators' DKG completed and 2f+1 of
    /// them signed the key set), asking every 200 ms, at most `timeout`.
    pub async fn wait_for_key(&mut self, timeout: Duration) -> Result<(), SdkError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.committee.has_key() {
                return Ok(());
            }
            match self.learn_key().await {
                Ok(()) => return Ok(()),
                // Not formed yet, or only a bad certificate so far: ask again until the end.
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(SdkError::KeyNotCertified) => return Err(SdkError::Timeout),
                Err(error) => return Err(error),
            }
        }
    }

    /// Asks every connected validator for its certified height and keeps the median, which
    /// expiries are set from ([`Client::valid_through`]). One validator cannot move it far,
    /// unless it is most of those connected. The answer is not authenticated; a wrong one only
    /// makes validators refuse the ciphertexts (`expired` or `expiry_too_far`), never
    /// decrypt them early.
    pub async fn refresh_height(&self) -> Result<u64, SdkError> {
        let request = OutputsRequest {
            namespace: NamespaceId(0),
            from_height: u64::MAX,
            heights_max: 1,
            wait_ms: 0,
        };
        let bytes = self.encode(FrameKind::OutputsRequest, &request)?;
        let mut heights = Vec::new();
        for (index, session) in &self.sessions {
            let Ok(answer) = session.request(&bytes).await else {
                continue;
            };
            // One validator's bad answer must not stop the client: the others decide.
            if let Ok(response) =
                self.decode::<OutputsResponse>(*index, &answer, FrameKind::Outputs)
            {
                heights.push(response.certified_height);
            }
        }
        if heights.is_empty() {
            return Err(SdkError::Unreachable);
        }
        heights.sort_unstable();
        let median = heights[(heights.len() - 1) / 2];
        *self.height_lock() = (median, Instant::now());
        Ok(median)
    }

    fn height_lock(&self) -> std::sync::MutexGuard<'_, (u64, Instant)> {
        // The guarded value is two plain numbers: a panic elsewhere cannot leave it torn.
        self.height
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The chain's height as last learned from the validators ([`Client::refresh_height`]).
    pub fn learned_height(&self) -> u64 {
        self.height_lock().0
    }

    /// The expiry this client gives a ciphertext now: half the chain's validity window above
    /// the height last learned, so the ciphertext has about that many heights to be ordered
    /// and the learned height may be off by as much either way.
    pub fn valid_through(&self) -> u64 {
        let (height, _) = *self.height_lock();
        height.saturating_add(self.committee.validity_heights() / 2)
    }

    fn encode<T>(&self, kind: FrameKind, body: &T) -> Result<Vec<u8>, SdkError>
    where
        T: for<'a> rkyv::Serialize<
            rkyv::api::high::HighSerializer<
                rkyv::util::AlignedVec,
                rkyv::ser::allocator::ArenaHandle<'a>,
                rkyv::rancor::Error,
            >,
        >,
    {
        frame::encode(kind, body, &self.limits).map_err(|error| SdkError::BadAnswer {
            validator: usize::MAX,
            error,
        })
    }

    fn decode<T>(&self, validator: usize, answer: &[u8], kind: FrameKind) -> Result<T, SdkError>
    where
        T: rkyv::Archive,
        T::Archived: for<'b> rkyv::bytecheck::CheckBytes<
                rkyv::api::high::HighValidator<'b, rkyv::rancor::Error>,
            > + rkyv::Deserialize<T, rkyv::api::high::HighDeserializer<rkyv::rancor::Error>>,
    {
        parse(answer, &self.limits)
            .and_then(|parsed| parsed.decode::<T>(kind))
            .map_err(|error| SdkError::BadAnswer { validator, error })
    }

    /// Encrypts a bundle to the epoch key, labelled with the chain, the epoch, an expiry
    /// ([`Client::valid_through`]) and a fresh random nonce; [`SdkError::KeyNotCertified`]
    /// before the key is known.
    pub fn encrypt(&self, bundle: &Bundle) -> Result<Vec<u8>, SdkError> {
        encrypt_bundle(&self.committee, bundle, self.valid_through())
    }

    /// Encrypts and submits a bundle. The height expiries are set from is asked for again
    /// when it is old, and once more (with a fresh encryption) if every validator refused the
    /// expiry.
    pub async fn submit_bundle(&self, bundle: &Bundle) -> Result<Submitted, SdkError> {
        let (_, learned) = *self.height_lock();
        if learned.elapsed() >= HEIGHT_REFRESH {
            self.refresh_height().await?;
        }
        match self.submit(&self.encrypt(bundle)?).await {
            Err(SdkError::Rejected { label, .. })
                if label == "expired" || label == "expiry_too_far" =>
            {
                self.refresh_height().await?;
                self.submit(&self.encrypt(bundle)?).await
            }
            result => result,
        }
    }

    /// Submits ciphertext bytes to every connected validator (the same bytes, so they count
    /// once in the order). A validator that is full or unreachable is tried again (three
    /// times, with back-off); one that already holds the transaction (`duplicate`) counts as
    /// accepting it, so resubmitting is safe. Succeeds if at least one accepted.
    pub async fn submit(&self, ciphertext: &[u8]) -> Result<Submitted, SdkError> {
        let request = SubmitRequest {
            ciphertext: ciphertext.to_vec(),
        };
        let bytes = self.encode(FrameKind::Submit, &request)?;
        let mut submitted = Submitted {
            tx_id: TxId::of(ciphertext),
            accepted_by: Vec::new(),
            rejected_by: Vec::new(),
        };
        let mut last_rejection = None;
        for (index, session) in &self.sessions {
            let mut backoff = Duration::from_millis(50);
            for attempt in 0..3 {
                if attempt > 0 {
                    tokio::time::sleep(backoff).await;
                    backoff *= 4;
                }
                let Ok(answer) = session.request(&bytes).await else {
                    continue;
                };
                let receipt = self.decode::<Receipt>(*index, &answer, FrameKind::Receipt)?;
                match receipt {
                    Receipt::Accepted { .. } => submitted.accepted_by.push(*index),
                    Receipt::Rejected { label, .. } if label == "duplicate" => {
                        submitted.accepted_by.push(*index)
                    }
                    Receipt::Rejected { label, .. }
                        if (label == "full" || label == "overloaded") && attempt < 2 =>
                    {
                        continue
                    }
                    Receipt::Rejected { label, reason } => {
                        submitted.rejected_by.push((*index, label.clone()));
                        last_rejection = Some((label, reason));
                    }
                }
                break;
            }
        }
        if !submitted.accepted_by.is_empty() {
            return Ok(submitted);
        }
        match last_rejection {
            Some((label, reason)) => Err(SdkError::Rejected { label, reason }),
            None => Err(SdkError::Unreachable),
        }
    }

    /// Opens a pipelined submission stream to connected validator `validator` (by index): send
    /// many ciphertexts without waiting, read their receipts in order (see
    /// [`crate::SubmitStream`]). Expiries are the caller's to set ([`Client::valid_through`]).
    pub async fn submission_stream(
        &self,
        validator: usize,
    ) -> Result<(crate::SubmitStream, crate::ReceiptStream), SdkError> {
        let session = self
            .sessions
            .iter()
            .find(|(index, _)| *index == validator)
            .map(|(_, session)| session)
            .ok_or_else(|| {
                SdkError::Committee(format!("not connected to validator {validator}"))
            })?;
        let opening = self.encode(
            FrameKind::SubmitStream,
            &shroud_network::client::SubmitStreamOpen {
                epoch: self.committee.epoch(),
            },
        )?;
        let (writer, reader) = session.open_stream(&opening).await?;
        Ok((
            crate::SubmitStream {
                writer,
                limits: self.limits.clone(),
                validator,
            },
            crate::ReceiptStream {
                reader,
                limits: self.limits.clone(),
                validator,
            },
        ))
    }

    /// Where a transaction stands, from the connected validator that knows the most; its
    /// evidence is verified.
    pub async fn status(&self, tx_id: TxId) -> Result<TxStatus, SdkError> {
        let request = TxStatusRequest { tx_id: tx_id.0 };
        let bytes = self.encode(FrameKind::TxStatusRequest, &request)?;
        let mut best: Option<TxStatus> = None;
        let mut pruned_at = None;
        for (index, session) in &self.sessions {
            let Ok(answer) = session.request(&bytes).await else {
                continue;
            };
            let status = self.decode::<TxStatus>(*index, &answer, FrameKind::TxStatus)?;
            if status.tx_id != tx_id.0 {
                return Err(SdkError::BadEvidence {
                    validator: *index,
                    what: "status of another transaction",
                });
            }
            verify_status(&self.committee, *index, &status)?;
            pruned_at = pruned_at.or(status.pruned_at);
            if best
                .as_ref()
                .is_none_or(|b| progress(&status) > progress(b))
            {
                best = Some(status);
            }
        }
        match (best, pruned_at) {
            // No validator asked still keeps the evidence of its order.
            (Some(best), Some(height)) if best.ordered.is_none() => Err(SdkError::Pruned {
                height,
                kept_from: None,
            }),
            (best, _) => best.ok_or(SdkError::Unreachable),
        }
    }

    /// Follows a transaction's receipt, step by step.
    pub fn receipts(&self, tx_id: TxId) -> Receipts<'_> {
        Receipts::new(self, tx_id)
    }

    /// Fetches the committee's certificate of the epoch key set and checks it against the
    /// committee's BLS keys and the committee file's key set: a wallet encrypts only to a key
    /// that 2f+1 validators vouch for, never one server's word.
    pub async fn fetch_epoch_key(&self) -> Result<EpochKeyCertificate, SdkError> {
        self.certified_key()
            .await
            .map(|(_, certificate)| certificate)
    }

    /// The committee with the key of the first certificate a connected validator serves that
    /// checks (against the committee's BLS keys, and the file's key if it names one). A
    /// validator that serves a bad one is passed over; if none serves a good one, the error
    /// is the last bad one's, or [`SdkError::KeyNotCertified`] if none served any.
    async fn certified_key(&self) -> Result<(Committee, EpochKeyCertificate), SdkError> {
        let request = EpochKeyRequest {
            epoch: self.committee.epoch(),
        };
        let bytes = self.encode(FrameKind::EpochKeyRequest, &request)?;
        let mut refused = None;
        for (index, session) in &self.sessions {
            let Ok(answer) = session.request(&bytes).await else {
                continue;
            };
            let response =
                match self.decode::<EpochKeyResponse>(*index, &answer, FrameKind::EpochKey) {
                    Ok(response) => response,
                    Err(error) => {
                        refused = Some(error);
                        continue;
                    }
                };
            let Some(certificate) = response.certificate else {
                continue;
            };
            match self
                .committee
                .clone()
                .with_certified_key(&certificate, *index)
            {
                Ok(committee) => return Ok((committee, certificate)),
                Err(error) => refused = Some(error),
            }
        }
        Err(refused.unwrap_or(SdkError::KeyNotCertified))
    }

    /// A certified height's decryption evidence, verified: 2f+1 validators certified the
    /// header, every position that got shares comes with its ciphertext and the combined point
    /// `r·h`, the points pass one batched pairing check against the committee's `x·g₂`, and
    /// re-opening each payload gives the certified outcome. So no plaintext rests on the
    /// validators' word. Asks the connected validators in turn until one's evidence verifies;
    /// if none does, the error names the last one that served evidence that does not.
    pub async fn decryption_evidence(&self, height: u64) -> Result<DecryptionEvidence, SdkError> {
        let request = DecryptionEvidenceRequest { height };
        let bytes = self.encode(FrameKind::DecryptionEvidenceRequest, &request)?;
        let mut refused = None;
        for (index, session) in &self.sessions {
            let Ok(answer) = session.request(&bytes).await else {
                continue;
            };
            let response = self.decode::<DecryptionEvidenceResponse>(
                *index,
                &answer,
                FrameKind::DecryptionEvidence,
            )?;
            let Some(evidence) = response.evidence else {
                continue;
            };
            if evidence.certificate.header.height != height {
                refused = Some(SdkError::BadEvidence {
                    validator: *index,
                    what: "decryption evidence of another height",
                });
                continue;
            }
            // A ciphertext's payload is bounded by what one frame carries.
            match evidence.verify(
                self.committee.keys(),
                self.committee.public_key_set()?,
                (self.committee.chain_id(), self.committee.epoch()),
                self.limits.frame_bytes_max,
                &shroud_proofs::BundleLimits::default(),
            ) {
                Ok(()) => return Ok(evidence),
                Err(error) => {
                    refused = Some(SdkError::InvalidDecryption {
                        validator: *index,
                        height,
                        error,
                    });
                }
            }
        }
        Err(refused.unwrap_or(SdkError::NoEvidence { height }))
    }

    /// One page of certified outputs of `namespace` from `from_height`, one per height, from
    /// the first connected validator that answers; waits up to `wait` for a new height. Every
    /// output is verified and linked to `previous` (the digest of the header below
    /// `from_height`, if known); a bad one, a gap or a broken link is an error naming the
    /// validator.
    pub async fn outputs(
        &self,
        namespace: NamespaceId,
        from_height: u64,
        previous: Option<[u8; 32]>,
        wait: Duration,
    ) -> Result<OutputsPage, SdkError> {
        let request = OutputsRequest {
            namespace,
            from_height,
            heights_max: HEIGHTS_PER_REQUEST,
            wait_ms: u32::try_from(wait.as_millis()).unwrap_or(u32::MAX),
        };
        let bytes = self.encode(FrameKind::OutputsRequest, &request)?;
        let mut pruned: Option<u64> = None;
        for (index, session) in &self.sessions {
            let Ok(answer) = session.request(&bytes).await else {
                continue;
            };
            let response = self.decode::<OutputsResponse>(*index, &answer, FrameKind::Outputs)?;
            if response.kept_from_height > from_height.max(1) {
                // Pruned there: another validator may keep a longer history.
                pruned = Some(pruned.map_or(response.kept_from_height, |kept| {
                    kept.min(response.kept_from_height)
                }));
                continue;
            }
            return self.check_page(*index, namespace, from_height, previous, response);
        }
        match pruned {
            Some(kept_from) => Err(SdkError::Pruned {
                height: from_height,
                kept_from: Some(kept_from),
            }),
            None => Err(SdkError::Unreachable),
        }
    }

    /// Checks a page: one output per height from `from_height` on, no gap, each verified
    /// (certificate, namespace proof or absence proof, bundle evidence), each header linked to
    /// the previous one (`previous` is the digest of the header below `from_height`, if known).
    fn check_page(
        &self,
        validator: usize,
        namespace: NamespaceId,
        from_height: u64,
        previous: Option<[u8; 32]>,
        response: OutputsResponse,
    ) -> Result<OutputsPage, SdkError> {
        let mut expected = from_height;
        let mut parent = previous;
        for output in &response.outputs {
            let header = &output.certificate.header;
            let height = header.height;
            if height != expected || output.namespace != namespace {
                return Err(SdkError::Gap {
                    validator,
                    expected,
                    got: height,
                });
            }
            output
                .verify(
                    self.committee.keys(),
                    self.committee.chain_id(),
                    self.committee.epoch(),
                )
                .map_err(|error| SdkError::InvalidOutput {
                    validator,
                    height,
                    error,
                })?;
            let first = height == 1 && header.parent_output == [0; 32];
            if parent.is_some_and(|digest| digest != header.parent_output)
                || (height == 1 && !first)
            {
                return Err(SdkError::Fork { validator, height });
            }
            parent = Some(header.digest());
            expected = height + 1;
        }
        if response.next_height != expected {
            return Err(SdkError::Gap {
                validator,
                expected,
                got: response.next_height,
            });
        }
        Ok(OutputsPage {
            outputs: response.outputs,
            next_height: response.next_height,
            certified_height: response.certified_height,
            last_digest: parent,
        })
    }

    /// Follows a namespace from a height.
    pub fn subscribe(&self, namespace: NamespaceId, from_height: u64) -> Subscription<'_> {
        Subscription {
            client: self,
            namespace,
            next_height: from_height.max(1),
            last_digest: None,
        }
    }

    /// Waits until a transaction's items appear, certified, in the given namespaces (scanning
    /// from `from_height`), or the timeout passes.
    pub async fn wait_for(
        &self,
        tx_id: TxId,
        namespaces: &[NamespaceId],
        from_height: u64,
        timeout: Duration,
    ) -> Result<Found, SdkError> {
        let deadline = Instant::now() + timeout;
        let mut found: Option<Found> = None;
        for namespace in namespaces {
            let mut subscription = self.subscribe(*namespace, from_height);
            'search: loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(SdkError::Timeout);
                }
                for output in subscription.next(left.min(Duration::from_secs(2))).await? {
                    if output.items.iter().any(|item| item.tx_id == tx_id) {
                        let height = output.certificate.header.height;
                        let entry = found.get_or_insert(Found {
                            height,
                            outputs: Vec::new(),
                        });
                        entry.outputs.push(output);
                        break 'search;
                    }
                }
            }
        }
        found.ok_or(SdkError::Timeout)
    }

    /// Closes every session.
    pub fn close(&self) {
        for (_, session) in &self.sessions {
            session.close();
        }
    }
}

/// Encrypts a bundle to a committee's epoch key with a fresh random nonce, valid through
/// height `valid_through` (see [`Client::valid_through`]).
pub fn encrypt_bundle(
    committee: &Committee,
    bundle: &Bundle,
    valid_through: u64,
) -> Result<Vec<u8>, SdkError> {
    encrypt_bytes(committee, &bundle.encode(), valid_through)
}

/// Encrypts raw plaintext bytes to a committee's epoch key with a fresh random nonce, valid
/// through height `valid_through`. Only a bundle's encoding decrypts to a usable outcome;
/// anything else is ordered, decrypted, and fails as `malformed_bundle` (tests and demos use
/// this to show it).
pub fn encrypt_bytes(
    committee: &Committee,
    plaintext: &[u8],
    valid_through: u64,
) -> Result<Vec<u8>, SdkError> {
    let mut nonce = [0u8; 32];
    OsRng.fill_bytes(&mut nonce);
    let label = Label {
        chain_id: committee.chain_id(),
        epoch: committee.epoch(),
        valid_through,
        nonce,
    };
    Ok(encrypt(committee.encryption_key()?, label, plaintext, &mut OsRng).to_bytes())
}

/// A namespace followed height by height: each call returns the next verified outputs, with
/// no height skipped (an empty height comes with its absence proof) and every header linked
/// to its parent.
#[derive(Debug)]
pub struct Subscription<'a> {
    client: &'a Client,
    namespace: NamespaceId,
    next_height: u64,
    last_digest: Option<[u8; 32]>,
}

impl Subscription<'_> {
    /// The next outputs, one per height (possibly none, if `wait` passed with no new
    /// certified height), each verified and linked to the one before.
    pub async fn next(&mut self, wait: Duration) -> Result<Vec<NamespaceOutput>, SdkError> {
        let page = self
            .client
            .outputs(self.namespace, self.next_height, self.last_digest, wait)
            .await?;
        self.next_height = page.next_height;
        if page.last_digest.is_some() {
            self.last_digest = page.last_digest;
        }
        Ok(page.outputs)
    }

    /// The first height not yet covered.
    pub fn next_height(&self) -> u64 {
        self.next_height
    }
}

/// How far a status goes (to pick the most advanced answer).
fn progress(status: &TxStatus) -> u8 {
    if status.certified.is_some() {
        5
    } else if status.outcome.is_some() {
        4
    } else if status.ordered.is_some() {
        3
    } else if status.batched.is_some() {
        2
    } else {
        u8::from(status.known)
    }
}
