//! The operator HTTP API: `/healthz`, `/metrics` (Prometheus), `/status` and `/order` (JSON).

use axum::extract::{Query as UrlQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use super::net::Event;
use super::{Query, Status};

#[derive(Clone)]
struct Api {
    events: mpsc::Sender<Event>,
    prometheus: PrometheusHandle,
}

/// Serves the API on `listener` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    events: mpsc::Sender<Event>,
    prometheus: PrometheusHandle,
) {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route("/order", get(order))
        .with_state(Api { events, prometheus });
    if let Err(error) = axum::serve(listener, app).await {
        tracing::error!(%error, "http server stopped");
    }
}

async fn metrics(State(api): State<Api>) -> String {
    api.prometheus.render()
}

async fn status(State(api): State<Api>) -> Result<Json<Status>, StatusCode> {
    let (reply, answer) = oneshot::channel();
    api.events
        .send(Event::Query(Query::Status(reply)))
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    answer
        .await
        .map(Json)
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)
}

#[derive(Deserialize)]
struct OrderParams {
    #[serde(default)]
    from: u64,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    1_000
}

async fn order(
    State(api): State<Api>,
    UrlQuery(params): UrlQuery<OrderParams>,
) -> Result<Json<Vec<String>>, StatusCode> {
    let (reply, answer) = oneshot::channel();
    let query = Query::Order {
        from: params.from,
        limit: params.limit,
        reply,
    };
    api.events
        .send(Event::Query(query))
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    answer
        .await
        .map(Json)
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)
}
