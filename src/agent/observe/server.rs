//! The agent's HTTP endpoint: `GET /metrics` and the probes a DaemonSet calls.
//!
//! - `/healthz`, `/livez`: 200 `ok` while the process serves HTTP (liveness: a restart would
//!   not help otherwise);
//! - `/readyz`: 200 `ok` when OpenFlow and OVSDB are connected, the last realization committed
//!   and the pipeline is installed ([`Metrics::ready`]); else 503 naming what is missing;
//! - `/metrics`: the OpenMetrics text, after a statistics read if the cache is stale
//!   ([`super::stats`]).
//!
//! The endpoint defends itself ([`Limits`]): a client has `header_read_timeout` to send its
//! request head (a request stalled mid-headers is dropped), a connection lives at most
//! `connection_timeout`, keep-alive is off, and past `max_connections` open connections new
//! ones are closed at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

use super::metrics::Metrics;
use super::stats::{StatsCache, StatsSource};

/// The endpoint's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time to receive a request's head (hyper's `header_read_timeout`).
    pub header_read_timeout: Duration,
    /// Time a connection may stay open at all.
    pub connection_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for Limits {
    /// 5 s for the head, 30 s per connection, 16 connections.
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(30),
            max_connections: 16,
        }
    }
}

/// [`serve_metrics_with`] with the default [`Limits`].
///
/// Errors: the address cannot be bound.
pub async fn serve_metrics(
    addr: SocketAddr,
    metrics: Metrics,
    source: Option<StatsSource>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    serve_metrics_with(addr, metrics, source, Limits::default()).await
}

fn router(metrics: Metrics, stats: Option<StatsCache>) -> axum::Router {
    let scrape = {
        let metrics = metrics.clone();
        move || {
            let (metrics, stats) = (metrics.clone(), stats.clone());
            async move {
                if let Some(stats) = stats {
                    stats.refresh(&metrics).await;
                }
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.encode(),
                )
            }
        }
    };
    let ready = move || {
        let metrics = metrics.clone();
        async move {
            match metrics.ready() {
                Ok(()) => (StatusCode::OK, "ok\n".to_string()),
                Err(why) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not ready: {why}\n"),
                ),
            }
        }
    };
    let alive = || async { "ok\n" };
    axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .route("/readyz", axum::routing::get(ready))
        .route("/healthz", axum::routing::get(alive))
        .route("/livez", axum::routing::get(alive))
}

/// Serves the endpoint on `addr` (port 0 picks a free port) until the task is aborted. With
/// `source`, `/metrics` refreshes the OVS statistics first (at most every
/// `source.min_interval`, on a connection of its own). Returns the bound address and the
/// server task.
///
/// Errors: the address cannot be bound.
pub async fn serve_metrics_with(
    addr: SocketAddr,
    metrics: Metrics,
    source: Option<StatsSource>,
    limits: Limits,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(metrics, source.map(StatsCache::new));
    let service = hyper_util::service::TowerToHyperService::new(app);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let task = tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and the like: wait instead of spinning.
                    tracing::warn!("metrics endpoint: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                drop(stream);
                continue;
            };
            let service = service.clone();
            tokio::spawn(async move {
                let mut http = hyper::server::conn::http1::Builder::new();
                http.timer(TokioTimer::new())
                    .header_read_timeout(limits.header_read_timeout)
                    .keep_alive(false);
                let conn = http.serve_connection(TokioIo::new(stream), service);
                let _ = tokio::time::timeout(limits.connection_timeout, conn).await;
                drop(permit);
            });
        }
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::Instant;

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: kakine\r\n\r\n").unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    /// Reads until EOF or error; how long the server kept the connection.
    fn held_for(mut s: std::net::TcpStream) -> Duration {
        let t = Instant::now();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        assert!(buf.is_empty(), "{}", String::from_utf8_lossy(&buf));
        t.elapsed()
    }

    fn limits() -> Limits {
        Limits {
            header_read_timeout: Duration::from_millis(500),
            connection_timeout: Duration::from_secs(5),
            max_connections: 2,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn probes_answer_and_readyz_says_what_is_missing() {
        let m = Metrics::new();
        let (addr, task) =
            serve_metrics_with("127.0.0.1:0".parse().unwrap(), m.clone(), None, limits())
                .await
                .unwrap();
        let r = tokio::task::spawn_blocking(move || {
            [
                get(addr, "/healthz"),
                get(addr, "/livez"),
                get(addr, "/readyz"),
            ]
        })
        .await
        .unwrap();
        assert!(
            r[0].starts_with("HTTP/1.1 200") && r[0].ends_with("ok\n"),
            "{}",
            r[0]
        );
        assert!(r[1].starts_with("HTTP/1.1 200"), "{}", r[1]);
        assert!(r[2].starts_with("HTTP/1.1 503"), "{}", r[2]);
        assert!(r[2].contains("openflow disconnected"), "{}", r[2]);
        m.set_connected("openflow", true);
        m.set_connected("ovsdb", true);
        m.realization("restart", 0.01, true);
        m.flows_per_table(&std::collections::BTreeMap::from([("Classifier", 1)]));
        let r = tokio::task::spawn_blocking(move || get(addr, "/readyz"))
            .await
            .unwrap();
        assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("ok\n"), "{r}");
        task.abort();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_stalled_mid_headers_is_dropped_and_extra_connections_are_refused() {
        let (addr, task) = serve_metrics_with(
            "127.0.0.1:0".parse().unwrap(),
            Metrics::new(),
            None,
            limits(),
        )
        .await
        .unwrap();
        let (stalled, refused, after) = tokio::task::spawn_blocking(move || {
            // Two connections take both permits with half a request head each.
            let mut a = std::net::TcpStream::connect(addr).unwrap();
            let mut b = std::net::TcpStream::connect(addr).unwrap();
            a.write_all(b"GET /metrics HTTP/1.1\r\nHost: ka").unwrap();
            b.write_all(b"GET /metrics HTTP/1.1\r\nHost: ka").unwrap();
            std::thread::sleep(Duration::from_millis(100));
            // A third is closed at once, unanswered.
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            let _ = c.write_all(b"GET /metrics HTTP/1.1\r\nHost: kakine\r\n\r\n");
            let refused = held_for(c);
            let stalled = held_for(a);
            drop(b);
            std::thread::sleep(Duration::from_millis(700));
            (stalled, refused, get(addr, "/metrics"))
        })
        .await
        .unwrap();
        assert!(
            stalled < Duration::from_secs(3),
            "stalled head held {stalled:?}"
        );
        assert!(
            refused < Duration::from_secs(1),
            "over the cap held {refused:?}"
        );
        assert!(
            after.starts_with("HTTP/1.1 200"),
            "served again once permits free: {after}"
        );
        assert!(after.contains("kakine_agent_connected"), "{after}");
        task.abort();
    }
}
