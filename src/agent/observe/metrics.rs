//! The agent's Prometheus metrics (`kakine_agent_*`, named after Antrea's `antrea_agent_*`
//! where one exists) and the readiness they imply.
//!
//! Counters end in `_total`, durations are `_seconds` histograms, and labels are bounded: rule
//! labels are `tier, policy, rule, direction, action`, never an address or a pod. The per-rule
//! counters, the denied connections and the conntrack count are read from OVS by the endpoint's
//! [`super::StatsSource`] (cached, see [`super::stats`]), else they show the last
//! [`Metrics::set_rule_stats`]. Process metrics (`process_*`) come from `/proc/self`
//! ([`super::process`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use super::rules::{RuleInfo, RuleStats};
use crate::policy::resolved::RuleAction;

type Labels = Vec<(&'static str, String)>;

/// What the last statistics read found: per rule, and per isolation drop (packets).
#[derive(Debug, Default)]
struct Snapshot {
    rules: Vec<RuleStats>,
    isolation: Vec<(RuleInfo, u64)>,
}

/// The per-rule counters and the denied connections, encoded from the last snapshot at each
/// scrape.
#[derive(Debug, Default)]
struct RuleCollector {
    snapshot: Mutex<Snapshot>,
}

impl prometheus_client::collector::Collector for RuleCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snapshot = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        // Rules split into parts (per namespace) share their labels: one series each.
        let mut sums: BTreeMap<Labels, [u64; 3]> = BTreeMap::new();
        // Denied connection attempts: a Drop / Reject rule's packets, and the isolation drops
        // attributed to the NetworkPolicies isolating the pod.
        let mut denied: BTreeMap<Labels, u64> = BTreeMap::new();
        for s in &snapshot.rules {
            // A staged rule denies nothing: its "would" counts are in the rule families only.
            if s.rule.action != RuleAction::Allow && !s.rule.staged {
                *denied.entry(s.rule.labels()).or_default() += s.sessions;
            }
        }
        for (rule, packets) in &snapshot.isolation {
            *denied.entry(rule.labels()).or_default() += packets;
        }
        for s in snapshot.rules.iter() {
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
        let mut family = encoder.encode_descriptor(
            "denied_connection_count",
            "Connection attempts denied: packets of Drop and Reject rules, and K8s NetworkPolicy isolation drops (policy: the isolating NetworkPolicies)",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (labels, n) in &denied {
            ConstCounter::new(*n).encode(family.encode_family(labels)?)?;
        }
        Ok(())
    }
}

struct Inner {
    registry: Registry,
    rules: Arc<RuleCollector>,
    realization: Family<Labels, Histogram>,
    bundle_commit: Histogram,
    flows: Family<Labels, Gauge>,
    total_flows: Gauge,
    openflow_errors: Counter,
    ovsdb_errors: Counter,
    reconnects: Family<Labels, Counter>,
    attempts: Family<Labels, Counter>,
    connected: Family<Labels, Gauge>,
    last_realization_ok: Gauge,
    pods: Gauge,
    policies: Gauge,
    rule_count: Family<Labels, Gauge>,
    conntrack: Gauge,
    drift: Family<Labels, Counter>,
    packet_ins: Family<Labels, Counter>,
    rejects: Family<Labels, Counter>,
    refused: Family<Labels, Gauge>,
}

/// The agent's metrics: a `prometheus-client` registry with every `kakine_agent_*` family
/// and the `process_*` ones. Cheap to clone (one `Arc`); every method takes `&self`.
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

fn label(k: &'static str, v: &str) -> Labels {
    vec![(k, v.to_string())]
}

/// Registers `metric` under `name` with `help` and returns it.
fn reg<M: prometheus_client::registry::Metric + Clone>(
    r: &mut Registry,
    name: &str,
    help: &str,
    metric: M,
) -> M {
    r.register(name, help, metric.clone());
    metric
}

impl Metrics {
    /// A registry with every family registered (see `docs/observability.md` for the list).
    pub fn new() -> Self {
        let mut root = Registry::default();
        root.register_collector(Box::new(super::process::ProcessCollector));
        let registry = root.sub_registry_with_prefix("kakine_agent");
        let r = registry;
        let rules = Arc::new(RuleCollector::default());
        r.register_collector(Box::new(rules.clone()));
        let realization =
            Family::<Labels, Histogram>::new_with_constructor(histogram as fn() -> Histogram);
        r.register_with_unit(
            "realization",
            "Time from a policy or pod event to its bundle committed (label kind: restart, update, reconnect; result: ok, error)",
            Unit::Seconds,
            realization.clone(),
        );
        let bundle_commit = histogram();
        r.register_with_unit(
            "ovs_bundle_commit",
            "Time from the first BUNDLE_ADD sent to the BUNDLE_COMMIT confirmed, per realization bundle (Antrea: antrea_agent_ovs_flow_ops_latency_milliseconds)",
            Unit::Seconds,
            bundle_commit.clone(),
        );
        let flows = reg(
            r,
            "ovs_flow_count",
            "Flows installed, per pipeline table (label table)",
            Family::<Labels, Gauge>::default(),
        );
        let total_flows = reg(
            r,
            "ovs_total_flow_count",
            "Flows installed in all tables",
            Gauge::default(),
        );
        let openflow_errors = reg(
            r,
            "openflow_errors",
            "OpenFlow errors (switch ERROR messages, failed bundles, failed stats reads)",
            Counter::default(),
        );
        let ovsdb_errors = reg(
            r,
            "ovsdb_errors",
            "OVSDB errors (failed transactions and requests)",
            Counter::default(),
        );
        let reconnects = reg(
            r,
            "reconnects",
            "Reconnections to OVS that succeeded (label connection: openflow, ovsdb)",
            Family::<Labels, Counter>::default(),
        );
        let attempts = reg(
            r,
            "reconnect_attempts",
            "Connection attempts to OVS after the first, failing ones included (label connection: openflow, openflow_stats, ovsdb; result: ok, error)",
            Family::<Labels, Counter>::default(),
        );
        let connected = reg(
            r,
            "connected",
            "1 while the connection to OVS is up, else 0 (label connection: openflow, ovsdb)",
            Family::<Labels, Gauge>::default(),
        );
        let last_realization_ok = reg(
            r,
            "last_realization_ok",
            "1 if the last realization committed, 0 if it failed or none has yet",
            Gauge::default(),
        );
        let pods = reg(
            r,
            "local_pod_count",
            "Pods attached to this node's bridge (Antrea: antrea_agent_local_pod_count)",
            Gauge::default(),
        );
        let policies = reg(
            r,
            "networkpolicy_count",
            "Policies with at least one rule or isolation on this node's pods (Antrea: antrea_agent_networkpolicy_count)",
            Gauge::default(),
        );
        let rule_count = reg(
            r,
            "networkpolicy_rule_count",
            "Rules compiled for this node's pods (label direction: ingress, egress; Antrea: antrea_agent_ingress_networkpolicy_rule_count, _egress_)",
            Family::<Labels, Gauge>::default(),
        );
        let conntrack = reg(
            r,
            "conntrack_total_connection_count",
            "Connections in the datapath's conntrack table (ovs-vswitchd dpctl/ct-stats-show; Antrea: antrea_agent_conntrack_total_connection_count)",
            Gauge::default(),
        );
        let drift = reg(
            r,
            "drift_repaired_flows",
            "Flows added or removed to repair drift (label change: added, removed)",
            Family::<Labels, Counter>::default(),
        );
        let packet_ins = reg(
            r,
            "packet_ins",
            "Packet-ins received (label operation: log, reject, log_reject, invalid)",
            Family::<Labels, Counter>::default(),
        );
        let rejects = reg(
            r,
            "rejects_sent",
            "Reject answers sent by packet-out (label reply: tcp_rst, icmp_admin_prohibited)",
            Family::<Labels, Counter>::default(),
        );
        let build = reg(
            r,
            "build_info",
            "Always 1; the labels say which build runs (version, rustc)",
            Family::<Labels, Gauge>::default(),
        );
        build
            .get_or_create(&vec![
                ("version", env!("CARGO_PKG_VERSION").to_string()),
                ("rust_version", env!("CARGO_PKG_RUST_VERSION").to_string()),
            ])
            .set(1);
        for c in ["openflow", "ovsdb"] {
            connected.get_or_create(&label("connection", c)).set(0);
        }
        let refused = Family::<Labels, Gauge>::default();
        r.register(
            "input_objects_refused",
            "Input objects refused by the last input, by kind (their last good version stays enforced)",
            refused.clone(),
        );
        Metrics(Arc::new(Inner {
            registry: root,
            rules,
            realization,
            bundle_commit,
            flows,
            total_flows,
            openflow_errors,
            ovsdb_errors,
            reconnects,
            attempts,
            connected,
            last_realization_ok,
            pods,
            policies,
            rule_count,
            conntrack,
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
        self.0.last_realization_ok.set(i64::from(ok));
    }

    /// Records one committed bundle that took `seconds` from its first message to the commit
    /// confirmed.
    pub fn bundle_commit(&self, seconds: f64) {
        self.0.bundle_commit.observe(seconds);
    }

    /// Sets the installed flow count of each table (by table name); tables not named are 0.
    pub fn flows_per_table(&self, counts: &BTreeMap<&str, u64>) {
        for t in crate::datapath::pipeline::TABLES {
            let n = counts.get(t.name).copied().unwrap_or(0);
            self.0
                .flows
                .get_or_create(&label("table", t.name))
                .set(n as i64);
        }
        self.0.total_flows.set(counts.values().sum::<u64>() as i64);
    }

    /// Sets what this node enforces: attached pods, policies and rules per direction.
    pub fn enforced(
        &self,
        pods: usize,
        policies: usize,
        ingress_rules: usize,
        egress_rules: usize,
    ) {
        self.0.pods.set(pods as i64);
        self.0.policies.set(policies as i64);
        for (d, n) in [("ingress", ingress_rules), ("egress", egress_rules)] {
            self.0
                .rule_count
                .get_or_create(&label("direction", d))
                .set(n as i64);
        }
    }

    /// Sets the refused input objects per kind. Kinds are bounded: the policy kinds, `Cluster`,
    /// `File` (a whole file), `Input` (the whole input), anything else counts as `Other`.
    pub fn set_refused<'a>(&self, kinds: impl IntoIterator<Item = &'a str>) {
        use crate::policy::load::POLICY_KINDS;
        const OTHER: [&str; 3] = ["File", "Input", "Other"];
        let labels: Vec<&str> = POLICY_KINDS.iter().chain(OTHER.iter()).copied().collect();
        let mut counts = vec![0i64; labels.len()];
        for k in kinds {
            let i = labels
                .iter()
                .position(|x| *x == k)
                .unwrap_or(labels.len() - 1);
            counts[i] += 1;
        }
        for (k, n) in labels.iter().zip(counts) {
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

    /// Counts a reconnection of `what` (`openflow` or `ovsdb`) that succeeded.
    pub fn reconnect(&self, what: &str) {
        self.0
            .reconnects
            .get_or_create(&label("connection", what))
            .inc();
    }

    /// Counts a connection attempt of `what` after the first (`ok` = it connected).
    pub fn reconnect_attempt(&self, what: &str, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.0
            .attempts
            .get_or_create(&vec![
                ("connection", what.to_string()),
                ("result", result.to_string()),
            ])
            .inc();
    }

    /// Sets whether the connection `what` (`openflow`, `ovsdb`) is up.
    pub fn set_connected(&self, what: &str, up: bool) {
        self.0
            .connected
            .get_or_create(&label("connection", what))
            .set(i64::from(up));
    }

    /// Whether the agent can serve traffic as intended: OpenFlow and OVSDB connected, the last
    /// realization committed and the pipeline installed (flows in its tables). What `/readyz`
    /// answers; `Err` names what is missing.
    pub fn ready(&self) -> Result<(), String> {
        let mut missing = Vec::new();
        for c in ["openflow", "ovsdb"] {
            if self
                .0
                .connected
                .get_or_create(&label("connection", c))
                .get()
                != 1
            {
                missing.push(format!("{c} disconnected"));
            }
        }
        if self.0.last_realization_ok.get() != 1 {
            missing.push("last realization failed or none yet".to_string());
        }
        if self.0.total_flows.get() == 0 {
            missing.push("pipeline not installed".to_string());
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing.join(", "))
        }
    }

    /// Sets the conntrack connection count.
    pub fn set_conntrack(&self, n: u64) {
        self.0.conntrack.set(n as i64);
    }

    /// Counts the flows a drift repair added and removed.
    pub fn drift_repair(&self, added: u64, removed: u64) {
        for (change, n) in [("added", added), ("removed", removed)] {
            self.0
                .drift
                .get_or_create(&label("change", change))
                .inc_by(n);
        }
    }

    /// Replaces the per-rule counters shown at the next scrape.
    pub fn set_rule_stats(&self, stats: Vec<RuleStats>) {
        self.0
            .rules
            .snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .rules = stats;
    }

    /// Replaces the isolation-drop counters (the isolation rule of a pod and its dropped
    /// packets) shown at the next scrape in `denied_connection_count`.
    pub fn set_isolation_stats(&self, stats: Vec<(RuleInfo, u64)>) {
        self.0
            .rules
            .snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .isolation = stats;
    }

    pub(crate) fn packet_in(&self, operation: &str) {
        self.0
            .packet_ins
            .get_or_create(&label("operation", operation))
            .inc();
    }

    pub(crate) fn reject_sent(&self, reply: &str) {
        self.0.rejects.get_or_create(&label("reply", reply)).inc();
    }

    /// The metrics in the Prometheus / OpenMetrics text format (what `GET /metrics` returns).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.0.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_names_what_is_missing_until_everything_is_up() {
        let m = Metrics::new();
        assert_eq!(
            m.ready(),
            Err("openflow disconnected, ovsdb disconnected, last realization failed or none yet, pipeline not installed".into())
        );
        m.set_connected("openflow", true);
        m.set_connected("ovsdb", true);
        m.realization("restart", 0.01, true);
        m.flows_per_table(&BTreeMap::from([("Classifier", 3)]));
        assert_eq!(m.ready(), Ok(()));
        m.set_connected("openflow", false);
        assert_eq!(m.ready(), Err("openflow disconnected".into()));
    }

    #[test]
    fn the_families_users_alert_on_are_exported_with_their_values() {
        let m = Metrics::new();
        m.set_connected("ovsdb", true);
        m.enforced(4, 2, 5, 1);
        m.reconnect_attempt("openflow_stats", false);
        m.set_conntrack(17);
        m.flows_per_table(&BTreeMap::from([("Classifier", 3), ("IngressTier", 2)]));
        let text = m.encode();
        for line in [
            "kakine_agent_connected{connection=\"ovsdb\"} 1",
            "kakine_agent_connected{connection=\"openflow\"} 0",
            "kakine_agent_local_pod_count 4",
            "kakine_agent_networkpolicy_count 2",
            "kakine_agent_networkpolicy_rule_count{direction=\"ingress\"} 5",
            "kakine_agent_reconnect_attempts_total{connection=\"openflow_stats\",result=\"error\"} 1",
            "kakine_agent_conntrack_total_connection_count 17",
            "kakine_agent_ovs_total_flow_count 5",
            "kakine_agent_ovs_flow_count{table=\"IngressTier\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        assert!(
            text.contains("kakine_agent_build_info{version=\""),
            "{text}"
        );
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(text.contains("process_open_fds "), "{text}");
    }
}
