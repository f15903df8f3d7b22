//! The HTTP/JSON API for operators, explorers and rollup nodes (`/v1/...`), plus `/healthz`,
//! `/metrics` (Prometheus) and the older `/status` and `/order`.
//!
//! Conventions: bytes are `0x`-prefixed lower-case hex strings; numbers are JSON numbers;
//! errors are `{"error": {"code": "<stable code>", "message": "<text>"}}` with a fitting HTTP
//! status; request bodies are limited to [`BODY_BYTES_MAX`]. The routes are listed in
//! [`ROUTES`], and `docs/openapi.json` describes each (a test compares the two). Reads go to
//! the store directly (off the validator loop); the status goes through it, submissions through
//! the ingress stage.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics::counter;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use serde_json::{json, Value};
use shroud_network::client::TxStatus;
use shroud_proofs::{
    AvailabilityCertificate, BlockCertificate, BundleEvidence, CommitteeFile, NamespaceId,
    NamespaceItem, NamespaceOutput, NamespaceProof, NeighbourLeaf, Outcome, OutputCertificate,
    OutputHeader, PositionProof, TxId,
};
use tokio::sync::{mpsc, oneshot};

use super::net::Event;
use super::{Query, Status};
use crate::ingress::IngressHandle;
use crate::json::{opt_u64_value, u64_value};
use crate::store::NodeStore;
use crate::wire::Receipt;

/// Largest request body (a ciphertext in hex is twice its size, plus the JSON around it).
pub const BODY_BYTES_MAX: usize = 160 * 1024;

/// Every route: (method, path) in OpenAPI path syntax.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/status"),
    ("get", "/order"),
    ("get", "/v1/status"),
    ("get", "/v1/committee"),
    ("get", "/v1/encryption-key"),
    ("get", "/v1/outputs/{height}"),
    ("get", "/v1/outputs/{height}/decryption"),
    ("get", "/v1/namespaces/{namespace}/outputs/{height}"),
    ("get", "/v1/tx/{id}"),
    ("post", "/v1/tx"),
];

#[derive(Clone)]
struct Api {
    events: mpsc::Sender<Event>,
    ingress: IngressHandle,
    prometheus: PrometheusHandle,
    store: NodeStore,
    committee: CommitteeFile,
}

/// Serves the API on `listener` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    events: mpsc::Sender<Event>,
    ingress: IngressHandle,
    prometheus: PrometheusHandle,
    store: NodeStore,
    committee: CommitteeFile,
) {
    let api = Api {
        events,
        ingress,
        prometheus,
        store,
        committee,
    };
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route("/order", get(order))
        .route("/v1/status", get(status))
        .route("/v1/committee", get(committee_info))
        .route("/v1/encryption-key", get(encryption_key))
        .route("/v1/outputs/{height}", get(output))
        .route("/v1/outputs/{height}/decryption", get(decryption))
        .route(
            "/v1/namespaces/{namespace}/outputs/{height}",
            get(namespace_output),
        )
        .route("/v1/tx/{id}", get(tx_status))
        .route("/v1/tx", axum::routing::post(submit))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(api);
    accept(listener, app).await;
}

/// A submission waits at most this long for its receipt.
const SUBMIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// HTTP connections open at most; past it a new connection is closed at once (counted).
pub const CONNECTIONS_MAX: usize = 256;
/// HTTP connections from one address open at most.
pub const CONNECTIONS_PER_ADDRESS_MAX: usize = 32;
/// A request's headers must arrive within this.
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// A connection is closed after this, whatever it does (a request's body, its handling and an
/// idle keep-alive all fit in it; a client reconnects for more).
const CONNECTION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(30);

/// The accept loop: caps on connections (in all and per address), a header-read timeout and a
/// connection lifetime, so that idle or half-sent connections cannot hold the API or the
/// validator's memory.
async fn accept(listener: tokio::net::TcpListener, app: Router) {
    let open = std::sync::Arc::new(tokio::sync::Semaphore::new(CONNECTIONS_MAX));
    let per_address: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
    > = std::sync::Arc::default();
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors or a reset before accept: wait a little, go on.
                tracing::warn!(%error, "http accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            metrics::counter!("shroud_http_connections_refused_total", "reason" => "total")
                .increment(1);
            continue;
        };
        let address = remote.ip();
        {
            let mut counts = per_address
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let count = counts.entry(address).or_insert(0);
            if *count >= CONNECTIONS_PER_ADDRESS_MAX {
                metrics::counter!("shroud_http_connections_refused_total", "reason" => "per_address").increment(1);
                continue;
            }
            *count += 1;
        }
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let per_address = per_address.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let connection =
                builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            if tokio::time::timeout(CONNECTION_LIFETIME, connection)
                .await
                .is_err()
            {
                metrics::counter!("shroud_http_connections_expired_total").increment(1);
            }
            let mut counts = per_address
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(count) = counts.get_mut(&address) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(&address);
                }
            }
            drop(permit);
        });
    }
}

/// An error answer: a status and a JSON body with a stable code.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// Asked for records older than this validator retains (`[storage] retain_heights`).
    fn pruned(message: String) -> Self {
        Self::new(StatusCode::GONE, "pruned", message)
    }

    fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the validator is shutting down",
        )
    }

    fn store(error: crate::store::StoreError) -> Self {
        tracing::error!(%error, "store read failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "store read failed",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        counter!("shroud_http_errors_total", "code" => self.code).increment(1);
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

fn hex(bytes: &[u8]) -> String {
    format!("0x{}", ::hex::encode(bytes))
}

fn parse_hex(text: &str, what: &str) -> Result<Vec<u8>, ApiError> {
    crate::json::parse_hex(text).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_hex",
            format!("{what} is not 0x and lowercase hex"),
        )
    })
}

fn parse_height(text: &str) -> Result<u64, ApiError> {
    crate::json::parse_u64(text)
        .filter(|height| *height >= 1)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_height",
                "a height is a positive decimal integer (no sign, no leading zero)",
            )
        })
}

/// A namespace id: a 64-bit decimal integer, as the API writes it.
fn parse_namespace(text: &str) -> Result<NamespaceId, ApiError> {
    crate::json::parse_u64(text)
        .map(NamespaceId)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_namespace",
                "a namespace is a 64-bit decimal integer (no sign, no leading zero)",
            )
        })
}

async fn metrics(State(api): State<Api>) -> String {
    api.prometheus.render()
}

/// A validator is ready when its committee's key is formed and it processed a committed height
/// in the last [`READY_COMMIT_AGE_MS`]: it takes part in ordering and decryption. `/healthz`
/// says only that the process answers.
async fn readyz(State(api): State<Api>) -> ApiResult {
    let Json(status) = status(State(api)).await?;
    let not_ready = |message: String| {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            message,
        ))
    };
    if status.key.state == "forming" {
        return not_ready(format!(
            "the committee's key is still forming (DKG round {}, phase {}){}",
            status.key.round.unwrap_or_default(),
            status.key.phase.unwrap_or("dealing"),
            status
                .key
                .stalled
                .as_ref()
                .map(|reason| format!(": {reason}"))
                .unwrap_or_default()
        ));
    }
    if let Some(problem) = &status.key.share_problem {
        return not_ready(format!(
            "the key is formed but this validator holds no share of it: {problem}"
        ));
    }
    if status.last_commit_age_ms > READY_COMMIT_AGE_MS {
        return not_ready(format!(
            "no committed height for {} s (at height {}): fewer than a quorum of validators \
             may be reachable",
            status.last_commit_age_ms / 1_000,
            status.committed_height
        ));
    }
    Ok(Json(json!({
        "ready": true,
        "committed_height": u64_value(status.committed_height),
    })))
}

/// The longest a ready validator goes without processing a committed height (empty blocks
/// commit about ten times a second).
const READY_COMMIT_AGE_MS: u64 = 5_000;

async fn status(State(api): State<Api>) -> Result<Json<Status>, ApiError> {
    let (reply, answer) = oneshot::channel();
    api.events
        .send(Event::Query(Query::Status(reply)))
        .await
        .map_err(|_| ApiError::unavailable())?;
    answer.await.map(Json).map_err(|_| ApiError::unavailable())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderParams {
    from: Option<String>,
    limit: Option<String>,
}

/// Most ids one `/order` answer holds.
const ORDER_LIMIT_MAX: usize = 10_000;

/// The committed order from the store, off the validator loop (a query queued behind peers'
/// batches waited as long as the loop's queue was deep).
async fn order(
    State(api): State<Api>,
    params: Result<UrlQuery<OrderParams>, QueryRejection>,
) -> Result<Json<Vec<String>>, ApiError> {
    let bad = |detail: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("expected from and limit as decimal integers: {detail}"),
        )
    };
    let UrlQuery(params) = params.map_err(|rejection| bad(rejection.body_text()))?;
    let number = |text: Option<&String>, default: u64| match text {
        None => Ok(default),
        Some(text) => crate::json::parse_u64(text).ok_or_else(|| bad(format!("{text:?}"))),
    };
    let from = number(params.from.as_ref(), 0)?;
    let limit = usize::try_from(number(params.limit.as_ref(), 1_000)?)
        .unwrap_or(usize::MAX)
        .min(ORDER_LIMIT_MAX);
    let store = api.store.clone();
    tokio::task::spawn_blocking(move || {
        let pruned = |store: &NodeStore| -> Result<(), ApiError> {
            let kept_from = store.kept_from_position().map_err(ApiError::store)?;
            if from < kept_from {
                return Err(ApiError::pruned(format!(
                    "positions below {kept_from} are pruned here"
                )));
            }
            Ok(())
        };
        pruned(&store)?;
        let ids = store.order_range(from, limit).map_err(ApiError::store)?;
        // The mark only rises: if `from` is still kept after the scan, no position the scan
        // read from was pruned under it (a range scan is not a snapshot).
        pruned(&store)?;
        Ok(Json(ids.iter().map(|id| hex(&id.0)).collect()))
    })
    .await
    .map_err(|_| ApiError::unavailable())?
}

async fn committee_info(State(api): State<Api>) -> ApiResult {
    let file = &api.committee;
    // A dealer's key is in the file; a DKG's, in the store once formed (null while forming).
    let key_set = match &file.public_key_set {
        Some(text) => Some(text.clone()),
        None => api
            .store
            .dkg_key_set()
            .map_err(ApiError::store)?
            .map(hex::encode),
    };
    let validators: Vec<Value> = file
        .validators
        .iter()
        .enumerate()
        .map(|(index, member)| {
            json!({
                "index": index,
                "bls_public_key": format!("0x{}", member.bls_public_key),
                "proof_of_possession": format!("0x{}", member.proof_of_possession),
                "tls_pin": format!("0x{}", member.tls_pin),
                "peer_address": member.peer_address.to_string(),
                "client_address": member.client_address.to_string(),
                "http_address": member.http_address.to_string(),
                "dkg_public_key": member.dkg_public_key.as_ref().map(|key| format!("0x{key}")),
            })
        })
        .collect();
    Ok(Json(json!({
        "chain_id": u64_value(file.chain_id),
        "epoch": u64_value(file.epoch),
        "validity_heights": u64_value(file.validity_heights),
        "ciphertext_bytes_max": u64_value(file.ciphertext_bytes_max),
        "public_key_set": key_set.map(|bytes| format!("0x{bytes}")),
        "dkg_window_heights": u64_value(file.dkg_window_heights),
        "validators": validators,
    })))
}

async fn encryption_key(State(api): State<Api>) -> ApiResult {
    let certificate = api
        .store
        .epoch_key_certificate()
        .map_err(ApiError::store)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_certified",
                "the committee has not certified the epoch key yet",
            )
        })?;
    let key_set = shroud_crypto::tdh2::PublicKeySet::from_bytes(&certificate.key_set)
        .map_err(|_| ApiError::store(crate::store::StoreError::Corrupt("meta")))?;
    Ok(Json(json!({
        "chain_id": u64_value(certificate.chain_id),
        "epoch": u64_value(certificate.epoch),
        "encryption_key": hex(&key_set.encryption_key().to_bytes()),
        "threshold": key_set.threshold(),
        "key_set": hex(&certificate.key_set),
        "certificate": { "signers": hex(&certificate.signers), "signature": hex(&certificate.signature) },
    })))
}

fn certified_output(
    store: &NodeStore,
    height: u64,
) -> Result<(crate::store::OutputRecord, OutputCertificate), ApiError> {
    let kept_from = store.kept_from_height().map_err(ApiError::store)?;
    if height < kept_from {
        return Err(ApiError::pruned(format!(
            "height {height} is pruned here (the lowest height kept is {kept_from})"
        )));
    }
    let unknown = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_height",
            format!("no certified output at height {height}"),
        )
    };
    let certificate = store.output_certificate(height).map_err(ApiError::store)?;
    let record = store.output(height).map_err(ApiError::store)?;
    match (record, certificate) {
        (Some(record), Some(certificate)) => Ok((record, certificate)),
        // Pruned between the mark's read and these.
        _ if height < store.kept_from_height().map_err(ApiError::store)? => {
            Err(ApiError::pruned(format!("height {height} is pruned here")))
        }
        _ => Err(unknown()),
    }
}

async fn output(State(api): State<Api>, Path(height): Path<String>) -> ApiResult {
    let height = parse_height(&height)?;
    let (record, certificate) = certified_output(&api.store, height)?;
    let positions: Vec<Value> = record
        .entries
        .iter()
        .enumerate()
        .map(|(position, entry)| {
            let outcome = match &entry.outcome {
                Outcome::Decrypted(bundle) => json!({
                    "decrypted": true,
                    "items": bundle.items.iter().map(|item| json!({
                        "namespace": u64_value(item.namespace.0),
                        "data": hex(&item.data),
                    })).collect::<Vec<_>>(),
                }),
                Outcome::Failed(reason) => json!({ "decrypted": false, "reason": reason.label() }),
            };
            json!({ "position": position, "tx_id": hex(&entry.tx_id.0), "outcome": outcome })
        })
        .collect();
    let built = crate::status::rebuild(&record);
    let namespaces: Vec<Value> = built
        .namespaces
        .iter()
        .map(|(namespace, items)| json!({ "namespace": u64_value(namespace.0), "items": items.len() }))
        .collect();
    Ok(Json(json!({
        "header": header_json(&record.header),
        "certificate": certificate_json(&certificate),
        "positions": positions,
        "namespaces": namespaces,
    })))
}

/// The ciphertext and combined point of every position of a certified height that got
/// shares: with the height's output, anyone re-derives its decryptions.
async fn decryption(State(api): State<Api>, Path(height): Path<String>) -> ApiResult {
    let height = parse_height(&height)?;
    // The same answers as the output for an unknown or pruned height.
    certified_output(&api.store, height)?;
    let store = api.store.clone();
    let evidence =
        tokio::task::spawn_blocking(move || crate::status::decryption_evidence(&store, height))
            .await
            .map_err(|_| ApiError::store(crate::store::StoreError::Corrupt("outputs")))?
            .map_err(ApiError::store)?
            .ok_or_else(|| {
                ApiError::pruned(format!("the batches of height {height} are pruned here"))
            })?;
    let positions: Vec<Value> = evidence
        .shared
        .iter()
        .map(|shared| {
            json!({
                "position": shared.position,
                "tx_id": hex(&evidence.entries[shared.position as usize].tx_id.0),
                "ciphertext": hex(&shared.ciphertext),
                "point": hex(&shared.point),
            })
        })
        .collect();
    Ok(Json(
        json!({ "height": u64_value(height), "positions": positions }),
    ))
}

async fn namespace_output(
    State(api): State<Api>,
    Path((namespace, height)): Path<(String, String)>,
) -> ApiResult {
    let namespace = parse_namespace(&namespace)?;
    let height = parse_height(&height)?;
    let (record, certificate) = certified_output(&api.store, height)?;
    let output = crate::status::rebuild(&record)
        .namespace_output(namespace, certificate)
        .ok_or_else(|| ApiError::store(crate::store::StoreError::Corrupt("outputs")))?;
    Ok(Json(namespace_output_json(&output)))
}

async fn tx_status(State(api): State<Api>, Path(id): Path<String>) -> ApiResult {
    let bytes = parse_hex(&id, "the transaction id")?;
    let id: [u8; 32] = bytes.try_into().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_tx_id",
            "a transaction id is 32 bytes",
        )
    })?;
    let store = api.store.clone();
    let held = api.ingress.held();
    let committed = api.ingress.committed();
    let status = tokio::task::spawn_blocking(move || {
        crate::status::tx_status(&store, &held, &committed, TxId(id))
    })
    .await
    .map_err(|_| ApiError::unavailable())?
    .map_err(ApiError::store)?;
    if !status.known {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_tx",
            "this validator does not know the transaction",
        ));
    }
    Ok(Json(tx_status_json(&status)))
}

#[derive(Deserialize)]
struct SubmitBody {
    ciphertext: String,
}

async fn submit(State(api): State<Api>, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the body exceeds {BODY_BYTES_MAX} bytes"),
            )
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_body", rejection.body_text())
        }
    })?;
    let parsed: SubmitBody = serde_json::from_slice(&body).map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            format!("expected {{\"ciphertext\": \"0x...\"}}: {error}"),
        )
    })?;
    let ciphertext = parse_hex(&parsed.ciphertext, "ciphertext")?;
    let receipt = tokio::time::timeout(SUBMIT_TIMEOUT, api.ingress.submit(ciphertext))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!(
                    "no receipt within {} s: the validator is overloaded or stalled; try \
                     another validator",
                    SUBMIT_TIMEOUT.as_secs()
                ),
            )
        })?;
    match receipt {
        Receipt::Accepted { tx_id } => {
            Ok(Json(json!({ "tx_id": hex(&tx_id), "status": "accepted" })))
        }
        Receipt::Rejected { label, reason } => {
            let code: &'static str = crate::mempool::Rejection::static_label(&label);
            if label == "unavailable" {
                return Err(ApiError::unavailable());
            }
            // Try again later (or elsewhere): the validator is full, overloaded, or its
            // committee has not formed the key yet.
            let status = if matches!(code, "full" | "overloaded" | "key_not_ready") {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            Err(ApiError::new(status, code, reason))
        }
    }
}

// ----- JSON shapes -----------------------------------------------------------------------

fn header_json(header: &OutputHeader) -> Value {
    json!({
        "chain_id": u64_value(header.chain_id),
        "epoch": u64_value(header.epoch),
        "height": u64_value(header.height),
        "block_digest": hex(&header.block_digest),
        "ciphertexts_root": hex(&header.ciphertexts_root),
        "payload_root": hex(&header.payload_root),
        "parent_output": hex(&header.parent_output),
        "digest": hex(&header.digest()),
        "encoding": hex(&header.encoding()),
    })
}

fn certificate_json(certificate: &OutputCertificate) -> Value {
    json!({ "signers": hex(&certificate.signers), "signature": hex(&certificate.signature) })
}

fn hashes(list: &[[u8; 32]]) -> Vec<String> {
    list.iter().map(|hash| hex(hash)).collect()
}

fn item_json(item: &NamespaceItem) -> Value {
    json!({
        "tx_id": hex(&item.tx_id.0),
        "position": item.position,
        "item_index": item.item_index,
        "bundle_digest": hex(&item.bundle_digest),
        "data": hex(&item.data),
    })
}

fn neighbour_json(leaf: &NeighbourLeaf) -> Value {
    json!({
        "leaf_index": leaf.leaf_index,
        "namespace": u64_value(leaf.namespace.0),
        "item_count": u64_value(leaf.item_count),
        "items_root": hex(&leaf.items_root),
        "siblings": hashes(&leaf.siblings),
    })
}

fn bundle_json(bundle: &BundleEvidence) -> Value {
    json!({
        "position": bundle.position,
        "commitments": bundle.commitments.iter().map(|(namespace, hash)| json!({
            "namespace": u64_value(namespace.0), "data_hash": hex(hash),
        })).collect::<Vec<_>>(),
        "siblings": bundle.siblings.iter().map(|sibling| json!({
            "item_index": sibling.item_index,
            "index_in_namespace": sibling.index_in_namespace,
            "namespace_item_count": sibling.namespace_item_count,
            "item_siblings": hashes(&sibling.item_siblings),
            "namespace_leaf_index": sibling.namespace_leaf_index,
            "namespace_leaf_count": sibling.namespace_leaf_count,
            "namespace_siblings": hashes(&sibling.namespace_siblings),
        })).collect::<Vec<_>>(),
    })
}

fn namespace_output_json(output: &NamespaceOutput) -> Value {
    let proof = match &output.proof {
        NamespaceProof::Inclusion {
            leaf_index,
            leaf_count,
            siblings,
        } => json!({
            "kind": "inclusion",
            "leaf_index": leaf_index,
            "leaf_count": leaf_count,
            "siblings": hashes(siblings),
        }),
        NamespaceProof::Absence {
            leaf_count,
            left,
            right,
        } => json!({
            "kind": "absence",
            "leaf_count": leaf_count,
            "left": left.as_ref().map(neighbour_json),
            "right": right.as_ref().map(neighbour_json),
        }),
    };
    json!({
        "namespace": u64_value(output.namespace.0),
        "header": header_json(&output.certificate.header),
        "certificate": certificate_json(&output.certificate),
        "items": output.items.iter().map(item_json).collect::<Vec<_>>(),
        "proof": proof,
        "bundles": output.bundles.iter().map(bundle_json).collect::<Vec<_>>(),
    })
}

fn availability_json(certificate: &AvailabilityCertificate) -> Value {
    json!({
        "epoch": u64_value(certificate.epoch),
        "valid_through": u64_value(certificate.valid_through),
        "digest": hex(&certificate.digest),
        "author": certificate.author,
        "signers": hex(&certificate.signers),
        "signature": hex(&certificate.signature),
    })
}

fn block_certificate_json(certificate: &BlockCertificate) -> Value {
    json!({
        "epoch": u64_value(certificate.epoch),
        "view": u64_value(certificate.view),
        "block": hex(&certificate.block),
        "height": u64_value(certificate.height),
        "signers": hex(&certificate.signers),
        "signature": hex(&certificate.signature),
    })
}

fn position_json(proof: &PositionProof) -> Value {
    json!({
        "position": proof.position,
        "position_count": proof.position_count,
        "tx_id": hex(&proof.tx_id.0),
        "outcome_code": proof.outcome_code,
        "siblings": hashes(&proof.siblings),
    })
}

fn tx_status_json(status: &TxStatus) -> Value {
    let stage = if status.pruned_at.is_some() {
        "pruned"
    } else if status.certified.is_some() {
        "certified"
    } else if let Some(outcome) = status.outcome {
        if outcome.is_some() {
            "failed"
        } else {
            "decrypted"
        }
    } else if status.ordered.is_some() {
        "ordered"
    } else if status.batched.is_some() {
        "batched"
    } else {
        "accepted"
    };
    json!({
        "tx_id": hex(&status.tx_id),
        "status": stage,
        "pruned_at": opt_u64_value(status.pruned_at),
        "batched": status.batched.as_ref().map(|batched| json!({
            "digest": hex(&batched.digest),
            "certificate": batched.certificate.as_ref().map(availability_json),
        })),
        "ordered": status.ordered.as_ref().map(|ordered| json!({
            "height": u64_value(ordered.height),
            "position": ordered.position,
            "block_digest": hex(&ordered.block_digest),
            "block_certificate": ordered.block_certificate.as_ref().map(block_certificate_json),
        })),
        "outcome": status.outcome.map(|outcome| match outcome {
            None => json!({ "decrypted": true }),
            Some(reason) => json!({ "decrypted": false, "reason": reason.label() }),
        }),
        "certified": status.certified.as_ref().map(|certified| json!({
            "header": header_json(&certified.certificate.header),
            "certificate": certificate_json(&certified.certificate),
            "position_proof": position_json(&certified.position),
            "namespaces": certified.namespaces.iter().map(namespace_output_json).collect::<Vec<_>>(),
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::ROUTES;

    #[test]
    fn the_openapi_document_lists_exactly_the_routes() {
        let document: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/openapi.json")).expect("valid JSON");
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, operations) in document["paths"].as_object().expect("paths") {
            for method in operations.as_object().expect("operations").keys() {
                documented.push((method.clone(), path.clone()));
            }
        }
        let mut served: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(method, path)| (method.to_string(), path.to_string()))
            .collect();
        documented.sort();
        served.sort();
        assert_eq!(documented, served);
    }
}
