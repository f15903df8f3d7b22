//! The running validator: network tasks, the validator loop, and the operator HTTP API.
//!
//! Data flow: client submissions arrive on network tasks (QUIC streams, `POST /v1/tx`) and go
//! to the ingress stage (`crate::ingress`, its own thread: checks, group commit, batch
//! cutting), which answers receipts after its flush and hands own batches to the validator
//! loop. Peer frames are decoded on network tasks (bounded reads, validated frames) and reach
//! the validator loop (the `actor` module) through two bounded channels: consensus messages on
//! one that the loop serves first, everything else on the other. The loop owns consensus,
//! batch acknowledgements and the committed order; it flushes before any dependent message
//! leaves.

mod actor;
mod budget;
pub mod dkg;
pub mod http;
mod net;
mod payload;
mod prune;
mod scores;
mod vouch;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::Serialize;
use shroud_consensus::{
    Block, Config as ConsensusConfig, Consensus, Height, Limits as ConsensusLimits,
};
use shroud_crypto::tdh2::{Context, KeyShare, PublicKeySet};
use shroud_network::{ClientFacingEndpoint, Limits, PeerEndpoint};
use shroud_storage::{ConsensusStore, SledStore};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use tracing::info;

use crate::batch::BatchError;
use crate::config::Loaded;
use crate::ingress::IngressState;
use crate::key_slot::KeySlot;
use crate::mempool::Mempool;
use crate::store::{NodeStore, StoreError};

pub use net::{decode_peer, Event, Outbox, PeerMessage};
pub use scores::{Offence, PeerScores};

/// A failure that stops the validator (storage, bind, configuration).
#[derive(Debug, Error)]
pub enum NodeError {
    /// The node's store failed: stop rather than run on a store of unknown state.
    #[error("node store: {0}")]
    Store(#[from] StoreError),
    /// The consensus store failed.
    #[error("consensus store: {0}")]
    ConsensusStore(#[from] shroud_storage::StorageError),
    /// The network could not start.
    #[error("network: {0}")]
    Network(#[from] shroud_network::NetworkError),
    /// The HTTP listener could not start.
    #[error("http: {0}")]
    Http(#[from] std::io::Error),
    /// A stored payload or certificate that does not decode.
    #[error("batch: {0}")]
    Batch(#[from] BatchError),
    /// Consensus configuration refused.
    #[error("consensus: {0}")]
    Consensus(#[from] shroud_consensus::ConfigError),
    /// Metrics could not start.
    #[error("metrics: {0}")]
    Metrics(String),
    /// An invariant of our own broke.
    #[error("invariant: {0}")]
    Invariant(&'static str),
    /// The decryption stage failed.
    #[error("decryption stage: {0}")]
    Stage(#[from] crate::decrypt::StageError),
    /// A key file could not be read or written, or the stored key set does not decode.
    #[error("key: {0}")]
    Key(String),
    /// A store could not be opened (damaged, or the disk full, read-only or failing).
    #[error(
        "cannot open the {store} store at {}: {detail}. If the disk is full, read-only or \
         failing, fix that and start again; if the store is damaged, restore this validator's \
         data folder from a backup, or remove it to rejoin from the peers",
        path.display()
    )]
    StoreOpen {
        store: &'static str,
        path: std::path::PathBuf,
        detail: String,
    },
    /// The two stores do not belong together; the node refuses to start.
    #[error("stores disagree: {0}")]
    StoresDisagree(String),
}

/// A validator's state as the operator API reports it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Status {
    /// This validator's index.
    pub index: usize,
    /// Current consensus view.
    #[serde(serialize_with = "crate::json::u64_string")]
    pub view: u64,
    /// The current view's leader as this validator sees it (`None` while the block that
    /// decides it is being fetched).
    pub leader: Option<u16>,
    /// Highest committed block height.
    #[serde(serialize_with = "crate::json::u64_string")]
    pub committed_height: u64,
    /// Highest height whose transactions are in the committed order.
    #[serde(serialize_with = "crate::json::u64_string")]
    pub processed_height: u64,
    /// Transactions in the committed order.
    #[serde(serialize_with = "crate::json::u64_string")]
    pub ordered: u64,
    /// Ciphertexts waiting for a batch.
    pub mempool: usize,
    /// Certified batches not yet committed.
    pub batches_waiting: usize,
    /// Highest height whose output is built (decrypted).
    #[serde(serialize_with = "crate::json::u64_string")]
    pub output_height: u64,
    /// Every height up to this one has an output certificate.
    #[serde(serialize_with = "crate::json::u64_string")]
    pub certified_height: u64,
    /// The lowest height whose records are kept (older ones are pruned).
    #[serde(serialize_with = "crate::json::u64_string")]
    pub kept_from_height: u64,
    /// Outcomes over every output built.
    pub outcomes: OutcomeSummary,
    /// The committee's key: formed by the DKG (or a test network's dealer), or forming.
    pub key: dkg::KeyStatus,
    /// Milliseconds since this validator last processed a committed height (since it
    /// started, if it has not yet).
    #[serde(serialize_with = "crate::json::u64_string")]
    pub last_commit_age_ms: u64,
}

/// Outcome counts by label.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct OutcomeSummary {
    /// Positions decrypted.
    #[serde(serialize_with = "crate::json::u64_string")]
    pub decrypted: u64,
    /// Failed positions by reason label.
    #[serde(serialize_with = "crate::json::map_u64_string")]
    pub failed: std::collections::BTreeMap<&'static str, u64>,
}

impl From<crate::store::OutcomeCounts> for OutcomeSummary {
    fn from(counts: crate::store::OutcomeCounts) -> Self {
        Self {
            decrypted: counts.decrypted,
            failed: shroud_proofs::FailureReason::ALL
                .iter()
                .zip(counts.failed)
                .map(|(reason, count)| (reason.label(), count))
                .collect(),
        }
    }
}

/// An operator query to the validator loop.
#[derive(Debug)]
pub enum Query {
    /// The status.
    Status(oneshot::Sender<Status>),
}

/// Events waiting for the validator loop at most (peers' batches, acknowledgements,
/// certificates and requests; operator queries).
const EVENT_QUEUE: usize = 8_192;
/// Consensus messages waiting for the validator loop at most (served before other events).
const CONSENSUS_QUEUE: usize = 1_024;
/// Own batches cut by the ingress stage waiting for the validator loop at most.
const OWN_BATCH_QUEUE: usize = 64;
/// Batch checks finished and not yet taken by the validator loop at most.
const VERDICT_QUEUE: usize = 64;

/// Runs a validator until `shutdown` resolves; then stops accepting, flushes and returns.
pub async fn run(loaded: Loaded, shutdown: impl Future<Output = ()>) -> Result<(), NodeError> {
    let Loaded {
        config,
        committee,
        signer,
        identity,
        index,
        key_share,
        dkg_key,
    } = loaded;
    let me = usize::from(index);
    let entry = committee.file.validators[me].clone();
    let limits = Limits {
        frame_bytes_max: config.mempool.batch_bytes_max.saturating_add(1 << 20),
        ..Limits::default()
    };

    let mib = 1u64 << 20;
    let consensus_path = config.data_dir.join("consensus");
    let consensus_store = SledStore::open_with_cache(
        &consensus_path,
        config.storage.consensus_cache_mib.saturating_mul(mib),
    )
    .map_err(|error| NodeError::StoreOpen {
        store: "consensus",
        path: consensus_path.clone(),
        detail: error.to_string(),
    })?;
    let node_path = config.data_dir.join("node");
    let store = NodeStore::open_with_cache(
        &node_path,
        config.storage.node_cache_mib.saturating_mul(mib),
    )
    .map_err(|error| NodeError::StoreOpen {
        store: "node",
        path: node_path.clone(),
        detail: error.to_string(),
    })?;
    let recovered = consensus_store
        .recover()
        .map_err(|error| NodeError::StoreOpen {
            store: "consensus",
            path: consensus_path.clone(),
            detail: error.to_string(),
        })?;
    check_stores_agree(
        recovered.as_ref(),
        store.processed_height()?,
        &config.data_dir,
    )?;
    let committed = committed_blocks(recovered.as_ref());
    let payload = payload::SharedPayload::new(
        committee.committee.clone(),
        committee.file.chain_id,
        config.mempool.batches_per_block_max,
    );
    let known_key = known_key(&committee, &store, key_share)?;
    let key_slot = known_key
        .as_ref()
        .map(|(public, _)| KeySlot::ready(*public.encryption_key()))
        .unwrap_or_default();
    let consensus_config = ConsensusConfig {
        base_timeout_ms: config.consensus.base_timeout_ms,
        backoff_exponent_max: config.consensus.backoff_exponent_max,
        empty_block_delay_ms: config.consensus.empty_block_delay_ms,
        proposal_interval_min_ms: config.consensus.proposal_interval_min_ms,
        limits: ConsensusLimits {
            committed_blocks_kept: config.consensus.committed_blocks_kept,
            ..ConsensusLimits::default()
        },
        ..ConsensusConfig::default()
    };
    let consensus = Consensus::new(
        consensus_config,
        committee.committee.clone(),
        shroud_consensus::ValidatorIndex(index),
        signer.clone(),
        payload.clone(),
        recovered,
    )?;
    let context = Context {
        chain_id: committee.file.chain_id,
        epoch: committee.file.epoch,
    };
    let validity_heights = committee.file.validity_heights;
    let mut mempool = Mempool::new(
        config.mempool.mempool(),
        context,
        key_slot.clone(),
        index,
        store.next_sequence()?,
        validity_heights,
    );
    mempool.set_height(store.processed_height()?);
    // Faults exist only in the tests' builds (`NodeConfig::validate` refuses them elsewhere).
    let faults = if crate::config::FAULT_INJECTION {
        config.faults.clone()
    } else {
        crate::config::FaultsSection::default()
    };
    let unchecked = config.ordering_only || faults.admit_unchecked_ciphertexts;
    let committed_index = crate::committed::SharedCommitted::new(crate::committed::rebuild(
        &store,
        validity_heights,
    )?);
    let ingress_state = IngressState::new(
        mempool,
        store.clone(),
        committed_index.clone(),
        unchecked,
        0,
    )?;

    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|error| NodeError::Metrics(error.to_string()))?;
    crate::telemetry::describe();
    tokio::spawn(crate::telemetry::process_metrics());
    let peer_endpoint = Arc::new(PeerEndpoint::bind(
        entry.peer_address,
        identity.clone(),
        committee.pins.clone(),
        limits.clone(),
    )?);
    let client_endpoint = Arc::new(ClientFacingEndpoint::bind(
        entry.client_address,
        &identity,
        limits.clone(),
    )?);
    let addresses: Vec<SocketAddr> = committee
        .file
        .validators
        .iter()
        .map(|member| member.peer_address)
        .collect();
    let outbox = net::start_senders(peer_endpoint.clone(), addresses, me);
    let scores = PeerScores::new(committee.committee.size());
    let settings = StageSettings {
        me: index,
        chain_id: committee.file.chain_id,
        epoch: committee.file.epoch,
        keys: committee.committee.keys().clone(),
        signer: signer.clone(),
        ciphertext_bytes_max: config.mempool.mempool().ciphertext_bytes_max,
        validity_heights,
        faults: crate::decrypt::Faults {
            invalid_shares: faults.invalid_decryption_shares,
        },
    };
    if settings.faults.invalid_shares {
        tracing::warn!("FAULT INJECTION: this validator sends invalid decryption shares");
    }
    let (state_sender, state_receiver) = std::sync::mpsc::sync_channel(1);
    let store_for_stage = store.clone();
    let dkg_signer = signer.clone();
    let (stage_start, key_status, known_public) = match known_key {
        Some((public, Some(share))) => {
            let state = crate::decrypt::DecryptionState::new(
                settings.clone().params(public.clone(), share),
                store.clone(),
            )?;
            (
                crate::decrypt::StageStart::Ready(Box::new(state)),
                formed_status(&committee, &store)?,
                Some(public),
            )
        }
        Some((public, None)) => (
            crate::decrypt::StageStart::AwaitingKey(state_receiver),
            formed_status(&committee, &store)?,
            Some(public),
        ),
        None => (
            crate::decrypt::StageStart::AwaitingKey(state_receiver),
            dkg::KeyStatus::dealer(),
            None,
        ),
    };
    let (certified_sender, certified) = tokio::sync::watch::channel(store.certified_height()?);
    if config.storage.retain_heights < crate::config::RETAIN_HEIGHTS_RECOMMENDED {
        tracing::warn!(
            retain_heights = config.storage.retain_heights,
            recommended = crate::config::RETAIN_HEIGHTS_RECOMMENDED,
            "short retention: a peer lagging more than retain_heights cannot catch up from here"
        );
    }
    // Ordering only, nothing is certified: retention follows the processed height.
    let (processed_sender, processed) = tokio::sync::watch::channel(store.processed_height()?);
    let pruner = tokio::spawn(prune::run(
        store.clone(),
        consensus_store.pruner(),
        config.storage.retain_heights,
        if config.ordering_only {
            processed
        } else {
            certified.clone()
        },
        config.ordering_only,
    ));
    let (stage, stage_thread) = crate::decrypt::spawn(
        stage_start,
        consensus.committed_head().0 .0,
        outbox.clone(),
        limits.clone(),
        certified_sender,
        scores.clone(),
    )?;
    let (events, mut inbox) = mpsc::channel(EVENT_QUEUE);
    let (consensus_events, mut consensus_inbox) = mpsc::channel(CONSENSUS_QUEUE);
    let (own_batches, mut own_batch_inbox) = mpsc::channel(OWN_BATCH_QUEUE);
    let (ingress, ingress_thread) =
        crate::ingress::spawn(ingress_state, committed_index, &config.ingress, own_batches)?;
    tokio::spawn(net::accept_peers(
        peer_endpoint.clone(),
        net::PeerChannels {
            consensus: consensus_events,
            events: events.clone(),
        },
        stage.clone(),
        limits.clone(),
        scores.clone(),
    ));
    let clients = net::ClientContext {
        ingress: ingress.clone(),
        config: config.ingress.clone(),
        store: store.clone(),
        certified,
        limits: limits.clone(),
    };
    tokio::spawn(net::accept_clients(client_endpoint.clone(), clients));
    let http_listener = tokio::net::TcpListener::bind(entry.http_address).await?;
    tokio::spawn(http::serve(
        http_listener,
        events.clone(),
        ingress.clone(),
        prometheus,
        store.clone(),
        committee.file.clone(),
    ));

    let mut validator = actor::Validator::new(
        me,
        committee.committee.clone(),
        consensus,
        consensus_store,
        store,
        ingress.clone(),
        config.mempool.mempool(),
        payload,
        outbox,
        signer,
        limits,
        stage.clone(),
        validity_heights,
        committee.file.chain_id,
        scores,
    );
    if faults.admit_unchecked_ciphertexts {
        tracing::warn!("FAULT INJECTION: this validator admits ciphertexts unchecked");
    }
    let (verdicts, mut verdict_inbox) = mpsc::channel(VERDICT_QUEUE);
    if config.ordering_only {
        tracing::warn!("ORDERING ONLY: opaque payloads, no decryption, no outputs (benchmarks)");
        validator.ordering_only(processed_sender);
        drop(verdicts);
    } else {
        let (jobs, _check_thread) = vouch::spawn(
            vouch::CheckParams {
                context,
                key: key_slot.clone(),
                ciphertext_bytes_max: config.mempool.mempool().ciphertext_bytes_max,
            },
            verdicts,
        )?;
        validator.check_batches(vouch::Vouching::new(me, committee.committee.size(), jobs));
    }
    // Ordering opaque payloads, there is no checking thread (its channel is closed).
    let checking = !config.ordering_only;
    let mut checker_gone = false;
    match known_public {
        Some(public) => {
            validator.payload.close_dkg();
            validator.set_key_status(key_status);
            validator.certify_epoch_key(committee.file.chain_id, public.to_bytes())?;
        }
        None => {
            let params = committee.dkg_params.clone().ok_or(NodeError::Key(
                "the committee file has neither a key set nor the members' DKG keys".into(),
            ))?;
            let dkg_key = dkg_key.ok_or(NodeError::Key(
                "the committee forms its key with the DKG: dkg_key_file is needed".into(),
            ))?;
            let faults = dkg::DkgFaults {
                wrong_share_to: faults.dkg_wrong_share_to,
                equivocate: faults.dkg_equivocate,
            };
            let transcript = validator.store.dkg_transcript()?;
            let processed = validator.store.processed_height()?;
            let (runner, replayed) = dkg::DkgRunner::start(
                params,
                index,
                dkg_key,
                dkg_signer,
                (committee.file.chain_id, committee.file.epoch),
                faults,
                &transcript,
                processed,
            )
            .ok_or(NodeError::Key(
                "the DKG key is not the one the committee lists for this validator".into(),
            ))?;
            info!(
                replayed = transcript.len(),
                "the committee has no key yet: running the DKG"
            );
            let installer = key_installer(
                key_slot.clone(),
                settings,
                store_for_stage,
                config.data_dir.clone(),
                state_sender,
            );
            validator.run_dkg(runner, replayed, installer)?;
        }
    }
    validator.start(committed)?;
    info!(index = me, peer = %entry.peer_address, client = %entry.client_address, http = %entry.http_address, "validator running");

    tokio::pin!(shutdown);
    tokio::pin!(pruner);
    let mut pruner_running = true;
    loop {
        let wake = validator.next_wake_ms();
        let sleep_ms = wake.saturating_sub(validator.now_ms());
        tokio::select! {
            // Consensus first: no batch, query or client load queued behind it can delay a
            // vote or a proposal.
            biased;
            () = &mut shutdown => break,
            event = consensus_inbox.recv() => match event {
                Some(event) => validator.handle(event)?,
                None => break,
            },
            batch = own_batch_inbox.recv() => match batch {
                Some(cut) => validator.handle(Event::OwnBatch(cut))?,
                None => break,
            },
            event = inbox.recv() => match event {
                Some(event) => validator.handle(event)?,
                None => break,
            },
            verdict = verdict_inbox.recv(), if checking => match verdict {
                Some(verdict) => validator.on_verdict(verdict)?,
                None => {
                    // The checking thread ended (it does only with the loop's own end):
                    // without it no peer's batch is ever acknowledged again, so stop loudly.
                    checker_gone = true;
                    break;
                }
            },
            () = tokio::time::sleep(std::time::Duration::from_millis(sleep_ms)) => validator.tick()?,
            pruned = &mut pruner, if pruner_running => {
                // The pruner ends on a store failure (stop the node with it), or when the
                // decryption stage stopped and closed the certified height (the stage's join
                // below reports why).
                pruner_running = false;
                pruned.map_err(|_| NodeError::Invariant("the pruning task does not panic"))??;
            }
        }
        if validator.tick_due() {
            validator.tick()?;
        }
        if consensus_inbox.is_empty() && inbox.is_empty() {
            // Work that gains from being gathered (certificate checks) runs when nothing waits.
            validator.idle()?;
        }
        if stage_thread.is_finished() || ingress_thread.is_finished() {
            // Only a failure stops a stage early; the joins below report it.
            break;
        }
    }
    info!(index = me, "shutting down");
    client_endpoint.close();
    peer_endpoint.close();
    ingress.stop();
    let ingress_result = tokio::task::spawn_blocking(move || ingress_thread.join())
        .await
        .map_err(|_| NodeError::Invariant("the ingress thread is joinable"))?
        .map_err(|_| NodeError::Invariant("the ingress thread does not panic"))?;
    stage.stop();
    let stage_result = tokio::task::spawn_blocking(move || stage_thread.join())
        .await
        .map_err(|_| NodeError::Invariant("the decryption thread is joinable"))?
        .map_err(|_| NodeError::Invariant("the decryption thread does not panic"))?;
    validator.flush_all()?;
    ingress_result?;
    stage_result?;
    if checker_gone {
        return Err(NodeError::Invariant(
            "the batch-checking thread runs while the loop does",
        ));
    }
    Ok(())
}

/// What the decryption stage is made of, but the key.
#[derive(Clone)]
struct StageSettings {
    me: u16,
    chain_id: u64,
    epoch: u64,
    keys: shroud_crypto::CommitteeKeys,
    signer: shroud_crypto::SecretKey,
    ciphertext_bytes_max: usize,
    validity_heights: u64,
    faults: crate::decrypt::Faults,
}

impl StageSettings {
    fn params(self, public: PublicKeySet, key_share: KeyShare) -> crate::decrypt::Params {
        crate::decrypt::Params {
            me: self.me,
            chain_id: self.chain_id,
            epoch: self.epoch,
            key_share,
            public,
            keys: self.keys,
            signer: self.signer,
            ciphertext_bytes_max: self.ciphertext_bytes_max,
            validity_heights: self.validity_heights,
            bundle_limits: shroud_proofs::BundleLimits::default(),
            faults: self.faults,
        }
    }
}

/// The key known at start: the committee file's (a test network's dealer), or the one this
/// validator's DKG formed on an earlier run (with the share it wrote, if it got one).
fn known_key(
    committee: &crate::config::LoadedCommittee,
    store: &NodeStore,
    key_share: Option<KeyShare>,
) -> Result<Option<(PublicKeySet, Option<KeyShare>)>, NodeError> {
    if let Some(public) = &committee.public_key_set {
        return Ok(Some((public.clone(), key_share)));
    }
    let Some(bytes) = store.dkg_key_set()? else {
        return Ok(None);
    };
    let public = PublicKeySet::from_bytes(&bytes)
        .map_err(|_| NodeError::Store(StoreError::Corrupt("meta")))?;
    let record = store.dkg_record()?;
    let without_share = record
        .as_ref()
        .is_some_and(|record| record.share_problem.is_some());
    match key_share {
        Some(share) => {
            crate::config::check_share(&public, &share).map_err(|error| {
                NodeError::Key(format!(
                    "key-share.hex in the data folder, against the key the DKG formed: {error}"
                ))
            })?;
            Ok(Some((public, Some(share))))
        }
        None if without_share => Ok(Some((public, None))),
        None => Err(NodeError::Key(
            "the DKG formed the key, but key-share.hex is missing from the data folder".into(),
        )),
    }
}

/// What the status says about a key known at start.
fn formed_status(
    committee: &crate::config::LoadedCommittee,
    store: &NodeStore,
) -> Result<dkg::KeyStatus, NodeError> {
    if committee.public_key_set.is_some() {
        return Ok(dkg::KeyStatus::dealer());
    }
    Ok(store
        .dkg_record()?
        .map(|record| dkg::KeyStatus::formed(&record))
        .unwrap_or_else(dkg::KeyStatus::dealer))
}

/// Hands the DKG's key to the stages: admission opens, the share is written (0600, flushed),
/// and the decryption stage starts around it.
fn key_installer(
    slot: KeySlot,
    settings: StageSettings,
    store: NodeStore,
    data_dir: std::path::PathBuf,
    states: std::sync::mpsc::SyncSender<crate::decrypt::DecryptionState>,
) -> actor::KeyInstaller {
    Box::new(move |public: &PublicKeySet, share: Option<KeyShare>| {
        slot.set(*public.encryption_key());
        let Some(share) = share else {
            return Ok(());
        };
        crate::config::write_dkg_share(&data_dir, &share)
            .map_err(|error| NodeError::Key(error.to_string()))?;
        let state =
            crate::decrypt::DecryptionState::new(settings.params(public.clone(), share), store)?;
        // The stage waits for exactly this; it is gone only if it stopped.
        let _ = states.send(state);
        Ok(())
    })
}

/// Refuses to start on stores that do not belong together:
///
/// - The consensus store behind the node store: it was wiped, replaced, restored from an
///   older copy or damaged (sled drops what it cannot read), and its safety state (the views
///   this validator voted in) may be older than votes it already sent, so running on it could
///   sign two blocks in one view. The node store records every processed height only after
///   consensus committed it, so a consensus store never legitimately trails it.
/// - The node store behind the oldest committed block the consensus store keeps: the heights
///   between cannot be processed again (their blocks are pruned here), so the node store was
///   wiped, restored from an older copy or damaged. Pruning removes consensus blocks only
///   below the node store's own kept-from height, which never passes its processed height.
fn check_stores_agree(
    recovered: Option<&shroud_consensus::Recovered>,
    processed: u64,
    data_dir: &std::path::Path,
) -> Result<(), NodeError> {
    let heights = || {
        recovered
            .into_iter()
            .flat_map(|recovered| recovered.committed.iter().map(|(height, _)| height.0))
    };
    let committed = heights().max().unwrap_or(0);
    let consensus_path = data_dir.join("consensus");
    let node_path = data_dir.join("node");
    if committed < processed {
        let what = if recovered.is_none() {
            "is empty".to_string()
        } else {
            format!("has committed height {committed}")
        };
        return Err(NodeError::StoresDisagree(format!(
            "the consensus store ({}) {what}, but the node store ({}) has processed height \
             {processed}: the consensus store was wiped, restored from an older copy or damaged, \
             and running on it could sign two blocks in one view. Restore the consensus store \
             that belongs with this node store, or remove both to rejoin as a new validator.",
            consensus_path.display(),
            node_path.display(),
        )));
    }
    if let Some(oldest) = heights().min() {
        if processed.saturating_add(1) < oldest {
            return Err(NodeError::StoresDisagree(format!(
                "the node store ({}) has processed height {processed}, but the consensus store \
                 ({}) keeps committed blocks only from height {oldest}: the heights between \
                 cannot be processed again, so the node store was wiped, restored from an \
                 older copy or damaged. Restore the node store that belongs with this \
                 consensus store, or remove both to rejoin as a new validator.",
                node_path.display(),
                consensus_path.display(),
            )));
        }
    }
    Ok(())
}

/// Committed blocks in height order, from recovered consensus state.
fn committed_blocks(recovered: Option<&shroud_consensus::Recovered>) -> Vec<(Height, Block)> {
    let Some(recovered) = recovered else {
        return Vec::new();
    };
    let by_digest: std::collections::HashMap<_, _> = recovered
        .blocks
        .iter()
        .map(|block| (block.digest(), block))
        .collect();
    let mut out: Vec<(Height, Block)> = recovered
        .committed
        .iter()
        .filter_map(|(height, digest)| {
            by_digest
                .get(digest)
                .map(|block| (*height, (*block).clone()))
        })
        .collect();
    out.sort_by_key(|(height, _)| *height);
    out
}
