//! The statistics the metrics endpoint reads from OVS, cached: per-rule counters and
//! isolation drops (flow stats of the metric and default tables) and the conntrack count
//! (ovs-vswitchd `dpctl/ct-stats-show`).
//!
//! A scrape reads OVS only when the cache is older than [`StatsSource::min_interval`]; scrapes
//! in between (or a scrape flood) are served from the cache, and concurrent scrapes wait for
//! one read. The reads go over a connection of their own to the bridge's management socket,
//! never the agent's main connection, so scrapes neither delay nor disturb a realization. The
//! connection is opened on demand and dropped on an error or a timeout; each attempt to open
//! it again counts in `kakine_agent_reconnect_attempts_total{connection="openflow_stats"}`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Mutex};

use super::metrics::Metrics;
use super::rules::{isolation_stats, rule_stats, RuleIndex};
use crate::agent::unixctl;

/// How long one statistics read may take before the previous values are served.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the endpoint reads statistics from.
#[derive(Debug, Clone)]
pub struct StatsSource {
    /// The bridge's OpenFlow management socket (`<rundir>/<bridge>.mgmt`); the endpoint opens
    /// its own connection to it.
    pub of_socket: PathBuf,
    /// The OVS run directory, for ovs-vswitchd's control socket (conntrack count); `None`
    /// leaves `conntrack_total_connection_count` out of the reads.
    pub ovs_rundir: Option<PathBuf>,
    /// The rules of the flows installed now.
    pub rules: watch::Receiver<Arc<RuleIndex>>,
    /// The least time between two reads of OVS (5 s by default).
    pub min_interval: Duration,
}

impl StatsSource {
    /// A source reading `of_socket` and `ovs_rundir` at most every 5 s.
    pub fn new(
        of_socket: PathBuf,
        ovs_rundir: Option<PathBuf>,
        rules: watch::Receiver<Arc<RuleIndex>>,
    ) -> Self {
        StatsSource {
            of_socket,
            ovs_rundir,
            rules,
            min_interval: Duration::from_secs(5),
        }
    }
}

#[derive(Default)]
struct State {
    conn: Option<openflow::Connection>,
    connected_once: bool,
    last: Option<Instant>,
}

/// The cache; cheap to clone.
#[derive(Clone)]
pub(super) struct StatsCache {
    source: StatsSource,
    state: Arc<Mutex<State>>,
}

impl StatsCache {
    pub(super) fn new(source: StatsSource) -> Self {
        StatsCache {
            source,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// Reads OVS into `metrics` unless the last read is younger than the minimum interval.
    pub(super) async fn refresh(&self, metrics: &Metrics) {
        let mut state = self.state.lock().await;
        if state
            .last
            .is_some_and(|t| t.elapsed() < self.source.min_interval)
        {
            return;
        }
        state.last = Some(Instant::now());
        if state.conn.is_none() {
            let c = tokio::time::timeout(
                READ_TIMEOUT,
                openflow::Connection::connect_unix_with(
                    &self.source.of_socket,
                    crate::agent::quiet_connection(),
                ),
            )
            .await;
            let ok = matches!(c, Ok(Ok(_)));
            if state.connected_once {
                metrics.reconnect_attempt("openflow_stats", ok);
            }
            match c {
                Ok(Ok(c)) => {
                    state.conn = Some(c);
                    state.connected_once = true;
                }
                Ok(Err(e)) => tracing::debug!("metrics: {}: {e}", self.source.of_socket.display()),
                Err(_) => {
                    tracing::debug!("metrics: {}: timed out", self.source.of_socket.display())
                }
            }
        }
        if let Some(conn) = state.conn.clone() {
            let rules = self.source.rules.borrow().clone();
            let read = async {
                let r = rule_stats(&conn, &rules).await?;
                let i = isolation_stats(&conn, &rules).await?;
                Ok::<_, openflow::Error>((r, i))
            };
            match tokio::time::timeout(READ_TIMEOUT, read).await {
                Ok(Ok((r, i))) => {
                    metrics.set_rule_stats(r);
                    metrics.set_isolation_stats(i);
                }
                Ok(Err(e)) => {
                    tracing::debug!("metrics: flow stats: {e}");
                    metrics.openflow_error();
                    state.conn = None;
                }
                Err(_) => {
                    tracing::debug!("metrics: flow stats timed out");
                    state.conn = None;
                }
            }
        }
        if let Some(dir) = &self.source.ovs_rundir {
            let ct = async {
                let sock = unixctl::vswitchd_socket(dir)?;
                unixctl::call(&sock, "dpctl/ct-stats-show", &[]).await
            };
            match tokio::time::timeout(READ_TIMEOUT, ct).await {
                Ok(Ok(text)) => match unixctl::conntrack_total(&text) {
                    Some(n) => metrics.set_conntrack(n),
                    None => tracing::debug!("metrics: no Total in ct-stats-show: {text}"),
                },
                Ok(Err(e)) => tracing::debug!("metrics: conntrack: {e}"),
                Err(_) => tracing::debug!("metrics: conntrack: timed out"),
            }
        }
    }
}
