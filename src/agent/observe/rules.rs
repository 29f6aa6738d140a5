//! Which rule a counter or a packet-in belongs to, and the per-rule statistics read back from
//! the metric tables.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use openflow::flow::{ct_state, MatchField};

use crate::datapath::compiler::{cookie, Compiled, LocalPod};
use crate::datapath::pipeline::{self, packet_in, regs};
use crate::policy::evaluate::K8S_ISOLATION_POLICY;
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
    /// Staged (`enforcementMode: Audit`): its counters and lines are what it would do.
    pub staged: bool,
}

impl RuleInfo {
    /// The action as metrics and audit lines name it: `Allow`, `Drop`, ...; `WouldAllow`,
    /// `WouldDrop`, ... for a staged rule.
    pub fn action_name(&self) -> String {
        if self.staged {
            format!("Would{:?}", self.action)
        } else {
            format!("{:?}", self.action)
        }
    }

    /// The K8s NetworkPolicy isolation drop of `direction` of a pod isolated by `policies`
    /// (`namespace/name`, joined by `,` into the policy name: every NetworkPolicy that selects
    /// the pod for that direction and so denies what none of them allows).
    pub fn isolation<'a>(
        direction: Direction,
        policies: impl IntoIterator<Item = &'a String>,
    ) -> RuleInfo {
        let dir = match direction {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        };
        RuleInfo {
            id: packet_in::ISOLATION_RULE,
            kind: "NetworkPolicy".into(),
            tier: "k8s".into(),
            policy: {
                let names: Vec<&str> = policies.into_iter().map(String::as_str).collect();
                if names.is_empty() {
                    K8S_ISOLATION_POLICY.to_string()
                } else {
                    names.join(",")
                }
            },
            rule: format!("default-deny-{dir}"),
            direction,
            action: RuleAction::Drop,
            enable_logging: true,
            log_label: None,
            staged: false,
        }
    }

    /// The metric labels `tier, policy, rule, direction, action` (bounded: no addresses).
    pub fn labels(&self) -> Vec<(&'static str, String)> {
        vec![
            ("tier", self.tier.clone()),
            ("policy", self.policy.clone()),
            ("rule", self.rule.clone()),
            ("direction", format!("{:?}", self.direction)),
            ("action", self.action_name()),
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
    ofports: BTreeMap<u32, PodKey>,
    /// The isolation drop of each isolated local pod, per direction.
    isolation: BTreeMap<(Direction, PodKey), RuleInfo>,
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
                staged: resolved.staged,
            });
        }
        let isolation = local
            .iter()
            .flat_map(|p| [Direction::Ingress, Direction::Egress].map(|d| (d, p.key.clone())))
            .filter_map(|k| {
                let by: Vec<String> = policies
                    .isolating(k.0, &k.1)
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                if by.is_empty() {
                    return None;
                }
                let info = RuleInfo::isolation(k.0, &by);
                Some((k, info))
            })
            .collect();
        RuleIndex {
            rules,
            pods: local.iter().map(|p| (p.ip, p.key.clone())).collect(),
            ofports: local.iter().map(|p| (p.ofport, p.key.clone())).collect(),
            isolation,
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

    /// The rule a packet-in of `src` → `dst` names: `rule_id` from its userdata, or for
    /// [`packet_in::ISOLATION_RULE`] the isolation drop of the direction of `table`, attributed
    /// to the NetworkPolicies isolating the local pod (the source for egress, the destination
    /// for ingress).
    pub fn for_packet_in(
        &self,
        rule_id: u32,
        table: u8,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Option<RuleInfo> {
        if rule_id != packet_in::ISOLATION_RULE {
            return self.rule(rule_id).cloned();
        }
        let (direction, ip) = match pipeline::table_name(table)? {
            "EgressDefault" => (Direction::Egress, src),
            "IngressDefault" => (Direction::Ingress, dst),
            _ => return None,
        };
        Some(
            self.pod(ip)
                .and_then(|pod| self.isolation.get(&(direction, pod.clone())))
                .cloned()
                .unwrap_or_else(|| RuleInfo::isolation(direction, [])),
        )
    }

    /// The isolation drop of `pod` in `direction`, if a NetworkPolicy isolates it.
    pub fn isolation(&self, direction: Direction, pod: &PodKey) -> Option<&RuleInfo> {
        self.isolation.get(&(direction, pod.clone()))
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

/// Whether `f` is the `conj_id` flow of a staged rule (its hits are the rule's "would" packets;
/// its clause flows carry the same cookie but count every partial match).
fn is_staged_conj_flow(rules: &RuleIndex, f: &openflow::FlowStats) -> bool {
    let (_, category, id) = cookie::split(f.cookie);
    category == cookie::POLICY
        && rules.rule(id).is_some_and(|r| r.staged)
        && f.r#match
            .fields()
            .any(|m| matches!(m, MatchField::ConjId(_)))
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
    let established = f.r#match.fields().any(|m| {
        matches!(m, MatchField::CtState(v, mask) if mask & ct_state::NEW != 0 && v & ct_state::NEW == 0)
    });
    if !established {
        entry.sessions = entry.sessions.saturating_add(f.packet_count);
    }
}

/// The counters of every rule of `rules`, from a flow-stats dump of the two metric tables
/// (`ovs-ofctl dump-flows br-int table=EgressMetric`, `table=IngressMetric`); flows of older
/// cookie rounds count for the same rule. A staged rule, which has no metric flows, counts the
/// packets of its `conj_id` flows in the tier and baseline tables (dumped only when some rule
/// is staged). Rules without traffic are listed with zeros.
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
    if rules.rules().any(|r| r.staged) {
        for name in [
            "EgressTier",
            "EgressDefault",
            "IngressTier",
            "IngressDefault",
        ] {
            let table =
                pipeline::table(name).map_err(|e| openflow::Error::Unexpected(e.to_string()))?;
            for f in conn.dump_flows(Some(table.id)).await? {
                if is_staged_conj_flow(rules, &f) {
                    add_flow(&mut stats, rules, &f);
                }
            }
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

/// The pod an isolation-drop flow applies to: its `nw_src` (EgressDefault) or its
/// `reg1` target ofport (IngressDefault), as `compiler::rules` builds them.
fn isolated_pod<'a>(
    rules: &'a RuleIndex,
    f: &openflow::FlowStats,
) -> Option<(Direction, &'a PodKey)> {
    let (_, category, object) = cookie::split(f.cookie);
    if category != cookie::ISOLATION {
        return None;
    }
    f.r#match.fields().find_map(|m| match (object, m) {
        (1, MatchField::Ipv4Src(ip, None)) => Some((Direction::Egress, rules.pod(ip)?)),
        (2, MatchField::Reg(r, port, None)) if r == regs::TARGET_OFPORT.reg => {
            Some((Direction::Ingress, rules.ofports.get(&port)?))
        }
        _ => None,
    })
}

/// The packets each isolated local pod's isolation drops dropped, attributed to its isolation
/// rule (the NetworkPolicies isolating it), from a flow-stats dump of `EgressDefault` and
/// `IngressDefault`. Pods sharing the same isolating policies are summed.
///
/// Errors: the OpenFlow request failed ([`openflow::Error`]).
pub async fn isolation_stats(
    conn: &openflow::Connection,
    rules: &RuleIndex,
) -> Result<Vec<(RuleInfo, u64)>, openflow::Error> {
    let mut out: BTreeMap<(Direction, String), (RuleInfo, u64)> = BTreeMap::new();
    for name in ["EgressDefault", "IngressDefault"] {
        let table =
            pipeline::table(name).map_err(|e| openflow::Error::Unexpected(e.to_string()))?;
        for f in conn.dump_flows(Some(table.id)).await? {
            let Some((dir, pod)) = isolated_pod(rules, &f) else {
                continue;
            };
            let Some(rule) = rules.isolation(dir, pod) else {
                continue;
            };
            out.entry((dir, rule.policy.clone()))
                .or_insert_with(|| (rule.clone(), 0))
                .1 += f.packet_count;
        }
    }
    Ok(out.into_values().collect())
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
    use crate::policy::resolved::PodKey;

    fn key(ns: &str, name: &str) -> PodKey {
        PodKey {
            namespace: ns.into(),
            name: name.into(),
        }
    }

    fn index() -> RuleIndex {
        let mut policies = ResolvedPolicies::default();
        let web = key("prod", "web");
        policies.isolated_ingress.insert(web.clone());
        for policy in ["prod/allow-frontend", "prod/deny-all"] {
            policies
                .isolated_by
                .push(crate::policy::resolved::Isolation {
                    direction: Direction::Ingress,
                    policy: policy.to_string(),
                    pods: std::sync::Arc::new([web.clone()].into()),
                });
        }
        let pod = LocalPod {
            key: web,
            ip: Ipv4Addr::new(10, 0, 0, 2),
            mac: openflow::flow::MacAddr([2, 0, 0, 0, 0, 2]),
            ofport: 7,
        };
        RuleIndex::new(&Compiled::default(), &policies, &[pod])
    }

    #[test]
    fn an_isolation_drop_is_attributed_to_every_policy_isolating_the_pod() {
        let idx = index();
        let table = pipeline::table("IngressDefault").unwrap().id;
        let r = idx
            .for_packet_in(
                packet_in::ISOLATION_RULE,
                table,
                Ipv4Addr::new(10, 0, 0, 1),
                Ipv4Addr::new(10, 0, 0, 2),
            )
            .unwrap();
        assert_eq!(r.policy, "prod/allow-frontend,prod/deny-all");
        assert_eq!(
            (r.kind.as_str(), r.rule.as_str()),
            ("NetworkPolicy", "default-deny-ingress")
        );
        assert_eq!(r.action, RuleAction::Drop);
    }

    #[test]
    fn an_isolation_flow_is_mapped_to_its_pod_by_target_ofport() {
        let idx = index();
        let f = openflow::FlowStats {
            cookie: cookie::make(3, cookie::ISOLATION, 2),
            r#match: openflow::flow::Match::from(vec![MatchField::Reg(1, 7, None)]),
            packet_count: 4,
            table_id: 0,
            duration_sec: 0,
            duration_nsec: 0,
            priority: 200,
            idle_timeout: 0,
            hard_timeout: 0,
            flags: 0,
            byte_count: 0,
            instructions: vec![],
        };
        let (dir, pod) = isolated_pod(&idx, &f).unwrap();
        assert_eq!((dir, pod), (Direction::Ingress, &key("prod", "web")));
    }
}
