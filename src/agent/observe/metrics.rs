//! The agent's Prometheus metrics (`kakine_agent_*`) and the HTTP endpoint that serves them.
//!
//! Counters end in `_total`, durations are `_seconds` histograms, and labels are bounded: rule
//! labels are `tier, policy, rule, direction, action`, never an address. The per-rule counters
//! are read from OVS (the metric tables' flow stats) at each scrape when the endpoint has a
//! [`StatsSource`], else they show the last [`Metrics::set_rule_stats`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use tokio::sync::watch;

use super::rules::{rule_stats, RuleIndex, RuleStats};

type Labels = Vec<(&'static str, String)>;

/// The per-rule counters, encoded from the last snapshot at each scrape.
#[derive(Debug, Default)]
struct RuleCollector {
    snapshot: Mutex<Vec<RuleStats>>,
}

impl prometheus_client::collector::Collector for RuleCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snapshot = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        // Rules split into parts (per namespace) share their labels: one series each.
        let mut sums: BTreeMap<Labels, [u64; 3]> = BTreeMap::new();
        for s in snapshot.iter() {
            let e = sums.entry(s.rule.labels()).or_default();
            e[0] += s.packets;
            e[1] += s.bytes;
            e[2] += s.sessions;
        }
        for (i, (name, help)) in [
            (
                "rule_packets",
                "Packets decided by the rule (metric-table flow stats)",
            ),
            (
                "rule_bytes",
                "Bytes decided by the rule (metric-table flow stats)",
            ),
            (
                "rule_sessions",
                "Connections allowed (Allow) or packets denied (Drop, Reject) by the rule",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let mut family = encoder.encode_descriptor(
                name,
                help,
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
            for (labels, values) in &sums {
                ConstCounter::new(values[i]).encode(family.encode_family(labels)?)?;
            }
        }
        Ok(())
    }
}

struct Inner {
    registry: Registry,
    rules: Arc<RuleCollector>,
    realization: Family<Labels, Histogram>,
    flows: Family<Labels, Gauge>,
    openflow_errors: Counter,
    ovsdb_errors: Counter,
    reconnects: Family<Labels, Counter>,
    drift: Family<Labels, Counter>,
    packet_ins: Family<Labels, Counter>,
    rejects: Family<Labels, Counter>,
    refused: Family<Labels, Gauge>,
}

/// The agent's metrics: a `prometheus-client` registry with every `kakine_agent_*` family.
/// Cheap to clone (one `Arc`); every method takes `&self`.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn histogram() -> Histogram {
    // 0.5 ms .. ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    /// A registry with every family registered (see `docs/observability.md` for the list).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kakine_agent");
        let rules = Arc::new(RuleCollector::default());
        registry.register_collector(Box::new(rules.clone()));
        let realization =
            Family::<Labels, Histogram>::new_with_constructor(histogram as fn() -> Histogram);
        registry.register_with_unit(
            "realization",
            "Time from a policy or pod event to its bundle committed (label kind: restart, update, reconnect; result: ok, error)",
            Unit::Seconds,
            realization.clone(),
        );
        let flows = Family::<Labels, Gauge>::default();
        registry.register(
            "flows",
            "Flows installed, per pipeline table",
            flows.clone(),
        );
        let openflow_errors = Counter::default();
        registry.register(
            "openflow_errors",
            "OpenFlow errors (switch ERROR messages, failed bundles)",
            openflow_errors.clone(),
        );
        let ovsdb_errors = Counter::default();
        registry.register(
            "ovsdb_errors",
            "OVSDB errors (failed transactions and requests)",
            ovsdb_errors.clone(),
        );
        let reconnects = Family::<Labels, Counter>::default();
        registry.register(
            "reconnects",
            "Reconnections to OVS (label connection: openflow, ovsdb)",
            reconnects.clone(),
        );
        let drift = Family::<Labels, Counter>::default();
        registry.register(
            "drift_repaired_flows",
            "Flows added or removed to repair drift (label change: added, removed)",
            drift.clone(),
        );
        let packet_ins = Family::<Labels, Counter>::default();
        registry.register(
            "packet_ins",
            "Packet-ins received (label operation: log, reject, log_reject, invalid)",
            packet_ins.clone(),
        );
        let rejects = Family::<Labels, Counter>::default();
        registry.register(
            "rejects_sent",
            "Reject answers sent by packet-out (label reply: tcp_rst, icmp_admin_prohibited)",
            rejects.clone(),
        );
        let refused = Family::<Labels, Gauge>::default();
        registry.register(
            "input_objects_refused",
            "Input objects refused by the last input, by kind (their last good version stays enforced)",
            refused.clone(),
        );
        Metrics(Arc::new(Inner {
            registry,
            rules,
            realization,
            flows,
            openflow_errors,
            ovsdb_errors,
            reconnects,
            drift,
            packet_ins,
            rejects,
            refused,
        }))
    }

    /// Records one realization of `kind` (`restart`, `update`, `reconnect`) that took
    /// `seconds` from the event to the bundle committed; `ok` = the bundle was committed.
    pub fn realization(&self, kind: &str, seconds: f64, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.0
            .realization
            .get_or_create(&vec![
                ("kind", kind.to_string()),
                ("result", result.to_string()),
            ])
            .observe(seconds);
    }

    /// Sets the installed flow count of each table (by table name); tables not named are 0.
    pub fn flows_per_table(&self, counts: &BTreeMap<&str, u64>) {
        for t in crate::datapath::pipeline::TABLES {
            let n = counts.get(t.name).copied().unwrap_or(0);
            self.0
                .flows
                .get_or_create(&vec![("table", t.name.to_string())])
                .set(n as i64);
        }
    }

    /// Sets the refused input objects per kind. Kinds are bounded: the policy kinds, `Cluster`,
    /// `File` (a whole file), `Input` (the whole input), anything else counts as `Other`.
    pub fn set_refused<'a>(&self, kinds: impl IntoIterator<Item = &'a str>) {
        const KINDS: [&str; 11] = [
            "Tier",
            "ClusterNetworkPolicy",
            "NetworkPolicy",
            "ClusterGroup",
            "Group",
            "AdminNetworkPolicy",
            "BaselineAdminNetworkPolicy",
            "Cluster",
            "File",
            "Input",
            "Other",
        ];
        let mut counts = [0i64; KINDS.len()];
        for k in kinds {
            let i = KINDS
                .iter()
                .position(|x| *x == k)
                .unwrap_or(KINDS.len() - 1);
            counts[i] += 1;
        }
        for (k, n) in KINDS.iter().zip(counts) {
            self.0
                .refused
                .get_or_create(&vec![("kind", k.to_string())])
                .set(n);
        }
    }

    /// Counts an OpenFlow error.
    pub fn openflow_error(&self) {
        self.0.openflow_errors.inc();
    }

    /// Counts an OVSDB error.
    pub fn ovsdb_error(&self) {
        self.0.ovsdb_errors.inc();
    }

    /// Counts a reconnection of `what` (`openflow` or `ovsdb`).
    pub fn reconnect(&self, what: &str) {
        self.0
            .reconnects
            .get_or_create(&vec![("connection", what.to_string())])
            .inc();
    }

    /// Counts the flows a drift repair added and removed.
    pub fn drift_repair(&self, added: u64, removed: u64) {
        for (change, n) in [("added", added), ("removed", removed)] {
            self.0
                .drift
                .get_or_create(&vec![("change", change.to_string())])
                .inc_by(n);
        }
    }

    /// Replaces the per-rule counters shown at the next scrape.
    pub fn set_rule_stats(&self, stats: Vec<RuleStats>) {
        *self
            .0
            .rules
            .snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = stats;
    }

    pub(crate) fn packet_in(&self, operation: &str) {
        self.0
            .packet_ins
            .get_or_create(&vec![("operation", operation.to_string())])
            .inc();
    }

    pub(crate) fn reject_sent(&self, reply: &str) {
        self.0
            .rejects
            .get_or_create(&vec![("reply", reply.to_string())])
            .inc();
    }

    /// The metrics in the Prometheus / OpenMetrics text format (what `GET /metrics` returns).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.0.registry);
        out
    }
}

/// Where the endpoint reads per-rule counters at each scrape: an OpenFlow connection to the
/// bridge and the current [`RuleIndex`].
#[derive(Debug, Clone)]
pub struct StatsSource {
    /// The bridge's OpenFlow connection.
    pub conn: openflow::Connection,
    /// The rules of the flows installed now.
    pub rules: watch::Receiver<Arc<RuleIndex>>,
}

/// How long a scrape waits for OVS's flow stats before serving the previous ones.
const SCRAPE_STATS_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves `GET /metrics` on `addr` (port 0 picks a free port) until the task is aborted.
/// With `source`, each scrape first refreshes the per-rule counters from OVS (an OpenFlow
/// error then counts in `kakine_agent_openflow_errors_total` and the previous values are
/// served). Returns the bound address and the server task.
///
/// Errors: the address cannot be bound.
pub async fn serve_metrics(
    addr: SocketAddr,
    metrics: Metrics,
    source: Option<StatsSource>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let handler = move || {
        let metrics = metrics.clone();
        let source = source.clone();
        async move {
            if let Some(src) = source {
                let rules = src.rules.borrow().clone();
                match tokio::time::timeout(SCRAPE_STATS_TIMEOUT, rule_stats(&src.conn, &rules))
                    .await
                {
                    Ok(Ok(stats)) => metrics.set_rule_stats(stats),
                    Ok(Err(e)) => {
                        tracing::warn!("metrics: rule stats: {e}");
                        metrics.openflow_error();
                    }
                    Err(_) => tracing::warn!("metrics: rule stats timed out"),
                }
            }
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                metrics.encode(),
            )
        }
    };
    let app = axum::Router::new().route("/metrics", axum::routing::get(handler));
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("metrics endpoint: {e}");
        }
    });
    Ok((bound, task))
}
