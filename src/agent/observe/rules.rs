//! Which rule a counter or a packet-in belongs to, and the per-rule statistics read back from
//! the metric tables.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use openflow::flow::{ct_state, MatchField};

use crate::datapath::compiler::{cookie, Compiled, LocalPod};
use crate::datapath::pipeline::{self, packet_in};
use crate::policy::resolved::{Direction, PodKey, ResolvedPolicies, RuleAction};

/// What the agent knows of a rule: the bounded labels of its metrics and the fields of its
/// audit-log lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    /// Rule id (`conj_id`, reg3/5/6, ct_label, cookie object); [`packet_in::ISOLATION_RULE`]
    /// for a K8s NetworkPolicy isolation drop.
    pub id: u32,
    /// Policy kind (`ClusterNetworkPolicy`, `NetworkPolicy`, ...).
    pub kind: String,
    /// Tier name (`k8s` for K8s NetworkPolicy).
    pub tier: String,
    /// Policy name (`namespace/name` for namespaced kinds).
    pub policy: String,
    /// Rule name.
    pub rule: String,
    /// Direction.
    pub direction: Direction,
    /// Action.
    pub action: RuleAction,
    /// Whether the rule's packets are audit-logged.
    pub enable_logging: bool,
    /// Antrea `logLabel`.
    pub log_label: Option<String>,
}

impl RuleInfo {
    /// The K8s NetworkPolicy isolation drop of `direction` (the names the engines use for it).
    pub fn isolation(direction: Direction) -> RuleInfo {
        let dir = match direction {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        };
        RuleInfo {
            id: packet_in::ISOLATION_RULE,
            kind: "NetworkPolicy".into(),
            tier: "k8s".into(),
            policy: "<k8s-isolation>".into(),
            rule: format!("default-deny-{dir}"),
            direction,
            action: RuleAction::Drop,
            enable_logging: true,
            log_label: None,
        }
    }

    /// The metric labels `tier, policy, rule, direction, action` (bounded: no addresses).
    pub fn labels(&self) -> Vec<(&'static str, String)> {
        vec![
            ("tier", self.tier.clone()),
            ("policy", self.policy.clone()),
            ("rule", self.rule.clone()),
            ("direction", format!("{:?}", self.direction)),
            ("action", format!("{:?}", self.action)),
        ]
    }
}

/// Rule id → [`RuleInfo`] of one compile, and local pod address → pod: what the packet-in task
/// and the metrics need to name a rule and an applied-to pod. Rebuilt after each compile and
/// handed to the tasks through a `tokio::sync::watch` channel.
#[derive(Debug, Clone, Default)]
pub struct RuleIndex {
    rules: BTreeMap<u32, RuleInfo>,
    pods: BTreeMap<Ipv4Addr, PodKey>,
}

impl RuleIndex {
    /// The index of `compiled`, compiled from `policies` for the pods `local` (the arguments of
    /// [`crate::datapath::compiler::compile`] and its output).
    pub fn new(compiled: &Compiled, policies: &ResolvedPolicies, local: &[LocalPod]) -> Self {
        let mut rules = BTreeMap::new();
        for (resolved, c) in policies.rules.iter().zip(&compiled.rules) {
            rules.entry(c.id).or_insert_with(|| RuleInfo {
                id: c.id,
                kind: c.rule.kind.clone(),
                tier: c.rule.tier.clone(),
                policy: c.rule.policy.clone(),
                rule: c.rule.rule.clone(),
                direction: c.direction,
                action: c.action,
                enable_logging: resolved.enable_logging,
                log_label: resolved.log_label.clone(),
            });
        }
        RuleIndex {
            rules,
            pods: local.iter().map(|p| (p.ip, p.key.clone())).collect(),
        }
    }

    /// The rule with id `id`.
    pub fn rule(&self, id: u32) -> Option<&RuleInfo> {
        self.rules.get(&id)
    }

    /// Every rule, by id.
    pub fn rules(&self) -> impl Iterator<Item = &RuleInfo> {
        self.rules.values()
    }

    /// The rule a packet-in names: `rule_id` from its userdata, or for
    /// [`packet_in::ISOLATION_RULE`] the isolation drop of the direction of `table`.
    pub fn for_packet_in(&self, rule_id: u32, table: u8) -> Option<RuleInfo> {
        if rule_id != packet_in::ISOLATION_RULE {
            return self.rule(rule_id).cloned();
        }
        match pipeline::table_name(table)? {
            "EgressDefault" => Some(RuleInfo::isolation(Direction::Egress)),
            "IngressDefault" => Some(RuleInfo::isolation(Direction::Ingress)),
            _ => None,
        }
    }

    /// The local pod with address `ip`.
    pub fn pod(&self, ip: Ipv4Addr) -> Option<&PodKey> {
        self.pods.get(&ip)
    }
}

/// One rule's counters, from the flow stats of its metric-table flows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleStats {
    /// The rule.
    pub rule: RuleInfo,
    /// Packets: for an Allow rule its new and established packets (both directions), for a
    /// Drop / Reject rule the packets it denied.
    pub packets: u64,
    /// Bytes of those packets (Ethernet frames, as OVS counts).
    pub bytes: u64,
    /// Connections: an Allow rule's new connections (`+new` packets); for a Drop / Reject rule
    /// every denied packet counts as an attempt.
    pub sessions: u64,
}

/// Adds one metric-table flow's counters to `stats` (keyed by rule id).
fn add_flow(stats: &mut BTreeMap<u32, RuleStats>, rules: &RuleIndex, f: &openflow::FlowStats) {
    let (_, category, id) = cookie::split(f.cookie);
    if category != cookie::POLICY {
        return;
    }
    let Some(rule) = rules.rule(id) else { return };
    let entry = stats.entry(id).or_insert_with(|| RuleStats {
        rule: rule.clone(),
        packets: 0,
        bytes: 0,
        sessions: 0,
    });
    // Saturating: the counts are the switch's word, summed over rounds.
    entry.packets = entry.packets.saturating_add(f.packet_count);
    entry.bytes = entry.bytes.saturating_add(f.byte_count);
    let established = f.r#match.0.iter().any(|m| {
        matches!(m, MatchField::CtState(v, mask) if mask & ct_state::NEW != 0 && v & ct_state::NEW == 0)
    });
    if !established {
        entry.sessions = entry.sessions.saturating_add(f.packet_count);
    }
}

/// The counters of every rule of `rules`, from a flow-stats dump of the two metric tables
/// (`ovs-ofctl dump-flows br-int table=EgressMetric`, `table=IngressMetric`); flows of older
/// cookie rounds count for the same rule. Rules without traffic are listed with zeros.
///
/// Errors: the OpenFlow request failed ([`openflow::Error`]).
pub async fn rule_stats(
    conn: &openflow::Connection,
    rules: &RuleIndex,
) -> Result<Vec<RuleStats>, openflow::Error> {
    let mut stats = BTreeMap::new();
    for name in ["EgressMetric", "IngressMetric"] {
        let table =
            pipeline::table(name).map_err(|e| openflow::Error::Unexpected(e.to_string()))?;
        for f in conn.dump_flows(Some(table.id)).await? {
            add_flow(&mut stats, rules, &f);
        }
    }
    Ok(rules
        .rules()
        .map(|r| {
            stats.remove(&r.id).unwrap_or(RuleStats {
                rule: r.clone(),
                packets: 0,
                bytes: 0,
                sessions: 0,
            })
        })
        .collect())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::datapath::compiler;
    use crate::policy::model::{AntreaPolicy, AntreaRule};
    use crate::policy::resolved::{Protocol, RuleAction};
    use crate::policy::selector::LabelSelector;
    use crate::policy::{resolve, Cluster, PolicySet};

    /// A logged Reject rule on the ingress of `prod/web` (10.77.0.2, port 2) from
    /// `prod/client` (10.77.0.1, port 1), compiled: its rule index and rule id.
    pub(in crate::agent::observe) fn fixture() -> (RuleIndex, u32) {
        let cluster = Cluster::default()
            .namespace("prod", &[])
            .pod("prod/client", &[("app", "client")], "10.77.0.1")
            .pod("prod/web", &[("app", "web")], "10.77.0.2");
        let policy = AntreaPolicy::test("web-guard")
            .tier("securityops")
            .applied_to(LabelSelector::labels([("app", "web")]), None)
            .ingress(
                AntreaRule::new(RuleAction::Reject)
                    .named("reject-udp")
                    .port(Protocol::Udp, 5353)
                    .logged(None),
            );
        let policies = resolve(&cluster, &PolicySet::default().with(policy)).unwrap();
        let pods = compiler::offline_pods(&policies);
        let compiled = compiler::compile(&policies, &pods, 1).unwrap();
        (
            RuleIndex::new(&compiled, &policies, &pods),
            compiled.rules[0].id,
        )
    }

    #[test]
    fn counters_the_switch_reports_at_their_limit_saturate() {
        let (rules, id) = fixture();
        let f = openflow::FlowStats {
            table_id: 0,
            duration_sec: 0,
            duration_nsec: 0,
            priority: 0,
            idle_timeout: 0,
            hard_timeout: 0,
            flags: 0,
            cookie: cookie::make(1, cookie::POLICY, id),
            packet_count: u64::MAX,
            byte_count: u64::MAX - 1,
            r#match: Default::default(),
            instructions: vec![],
        };
        let mut stats = BTreeMap::new();
        add_flow(&mut stats, &rules, &f);
        add_flow(&mut stats, &rules, &f);
        let s = &stats[&id];
        assert_eq!(
            (s.packets, s.bytes, s.sessions),
            (u64::MAX, u64::MAX, u64::MAX)
        );
    }
}
