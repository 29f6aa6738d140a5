//! The controller's metrics endpoint (`--metrics-addr`, plain HTTP/1): `/metrics`
//! (OpenMetrics text), `/healthz` (the process answers), `/readyz` (the source's initial
//! content is applied: the standalone directory's first valid content, or every Kubernetes
//! watch's initial list; [`Controller::synced`]), `/v1/realization` (every policy's realization status as JSON,
//! [`realization_json`]).

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::core::Controller;

/// Serves the endpoint on `addr`; returns the bound address and the task.
///
/// Errors: the address cannot be bound.
pub async fn serve(
    addr: SocketAddr,
    controller: Arc<Controller>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let version = Gauge::<u64, AtomicU64>::default();
    let cut_off = Gauge::<u64, AtomicU64>::default();
    let mut registry = Registry::with_prefix("kakine_controller");
    registry.register(
        "span_version",
        "The controller's current span version",
        version.clone(),
    );
    registry.register(
        "subscribers_cut_off",
        "Agent subscriptions cut off for a full send buffer since the start",
        cut_off.clone(),
    );
    let registry = Arc::new(registry);
    let realization = controller.realization();
    let synced = controller.clone();
    let scrape = move || {
        let (registry, controller) = (registry.clone(), controller.clone());
        let (version, cut_off) = (version.clone(), cut_off.clone());
        async move {
            version.set(controller.version());
            cut_off.set(controller.cut_off());
            let mut out = String::new();
            let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                out,
            )
        }
    };
    let readyz = move || {
        let ready = synced.synced();
        async move {
            match ready {
                true => (axum::http::StatusCode::OK, "ok\n"),
                false => (
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "the source's initial content is not applied yet (a directory that does \
                     not validate, or watches not synced): no span is served\n",
                ),
            }
        }
    };
    let realization = move || {
        let now = realization.borrow().clone();
        async move {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                realization_json(&now).to_string(),
            )
        }
    };
    let app = axum::Router::new()
        .route("/v1/realization", axum::routing::get(realization))
        .route("/metrics", axum::routing::get(scrape))
        .route("/healthz", axum::routing::get(|| async { "ok\n" }))
        .route("/readyz", axum::routing::get(readyz));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("metrics endpoint: {e}");
        }
    });
    Ok((bound, task))
}

/// The realization of every policy as `GET /v1/realization` answers it: `{"items": [{"kind",
/// "name", "status"}]}`, `status` as the CRD status the kube layer writes
/// ([`super::kube::status::untimed_status`]; `observedGeneration` is the policy's controlplane
/// generation, no condition has a transition time), so that `kakinectl realization
/// --controller URL` reads it as it reads the CRDs.
pub fn realization_json(r: &super::Realization) -> serde_json::Value {
    let items: Vec<serde_json::Value> = r
        .iter()
        .map(|(key, c)| {
            let generation = i64::try_from(c.generation).unwrap_or(i64::MAX);
            serde_json::json!({
                "kind": key.kind,
                "name": key.name,
                "status": super::kube::status::untimed_status(c, generation),
            })
        })
        .collect();
    serde_json::json!({ "items": items })
}
