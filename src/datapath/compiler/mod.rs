//! Policy compiler: resolved policies and local pods in, OpenFlow flow_mods out (pure).
//!
//! The output is the complete desired flow table of a node: the pipeline's fixed flows
//! ([`crate::datapath::pipeline`]), the per-pod classification, anti-spoofing and forwarding flows, and the
//! policy flows. Each rule becomes a conjunction (`conjunction(id, k/n)`, OVS
//! `Documentation/topics/design.rst`, "Conjunctive match") over its dimensions: applied-to pods,
//! peers, services. A rule with N peer addresses, M applied-to pods and P services takes
//! N + M + P + 1 flows instead of N × M × P. A dimension that is unrestricted is left out; a rule
//! left with a single dimension gets a match-all `ip` clause so that it is still a conjunction
//! (the same trick as Antrea's "Drop all" rules).
//!
//! Precedence is realized by priorities: every rule gets its own priority in its table, in the
//! order of [`ResolvedPolicies::rules`], so "first match wins" holds by construction. Priorities
//! and rule ids come from the allocators of [`crate::datapath::alloc`], threaded from one compile to the
//! next through [`Allocation`]: a rule keeps its priority and id across compiles, a new rule
//! lands in a gap, and the priority changes a compile causes are listed in [`Compiled::moves`].

mod base;
mod clauses;
mod ipv6;
mod node;
mod overlay;
pub use overlay::{remote_node_object, REMOTE_NODE_OBJECT};
mod rules;
mod size;

pub use clauses::{cidr_minus, port_range_masks};
pub use size::{encoded_len, MAX_FLOW_MOD_BYTES};

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use openflow::flow::{ct_state, Action, Field, FlowMod, Instruction, MacAddr, Match, MatchField};

use crate::datapath::alloc::{IdAllocator, PriorityAllocator};
use crate::datapath::pipeline::{
    self, apply, meters, packet_in, prio, regs, PipelineError, TableRef,
};
use crate::policy::resolved::{
    Direction, Peers, PodInfo, PodKey, PortMatch, Protocol, ResolvedPolicies, ResolvedRule,
    RuleAction, RuleRef, Service, Stage,
};

use base::{base_flows, pod_flows};
use rules::PolicyCompiler;

const ETH_TYPE_IP: u16 = 0x0800;
const ETH_TYPE_ARP: u16 = 0x0806;
/// OFPP_NORMAL.
const OFPP_NORMAL: u32 = 0xffff_fffa;

/// Cookie categories (`round(16) | category(8) | reserved(8) | object(32)`).
pub mod cookie {
    /// Fixed pipeline flows.
    pub const PIPELINE: u8 = 1;
    /// Per-pod flows (classifier, spoof guard, forwarding).
    pub const POD: u8 = 2;
    /// Policy rule flows; the object is the rule id.
    pub const POLICY: u8 = 3;
    /// K8s NetworkPolicy isolation drops; the object is 1 (egress) or 2 (ingress).
    pub const ISOLATION: u8 = 4;
    /// Multi-node flows (gateway, tunnel, routes; [`crate::datapath::network`]).
    pub const NETWORK: u8 = 5;

    /// Packs a cookie.
    pub fn make(round: u16, category: u8, object: u32) -> u64 {
        (u64::from(round) << 48) | (u64::from(category) << 40) | u64::from(object)
    }
    /// Unpacks `(round, category, object)`.
    pub fn split(cookie: u64) -> (u16, u8, u32) {
        ((cookie >> 48) as u16, (cookie >> 40) as u8, cookie as u32)
    }
}

/// A pod attached to this node's bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPod {
    /// Which pod.
    pub key: PodKey,
    /// Its IPv4 address.
    pub ip: Ipv4Addr,
    /// Its MAC address.
    pub mac: MacAddr,
    /// Its OpenFlow port on the bridge.
    pub ofport: u32,
}

/// A rule's identity across compiles: kind, tier, policy, direction and rule name
/// (`ClusterNetworkPolicy/securityops/deny-dns/Egress/rule-0`), with `#n` appended to the n-th
/// repeat of a name. Never a position, so inserting a rule leaves the others' keys alone.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct RuleKey(pub String);

impl std::fmt::Display for RuleKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The keys of `rules`, in order.
pub fn rule_keys(rules: &[ResolvedRule]) -> Vec<RuleKey> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    rules
        .iter()
        .map(|r| {
            let base = format!(
                "{}/{}/{}/{:?}/{}",
                r.id.kind, r.id.tier, r.id.policy, r.direction, r.id.rule
            );
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            RuleKey(if *n == 1 { base } else { format!("{base}#{n}") })
        })
        .collect()
}

/// What one compile hands to the next: each table's priorities by rule, and the ids of every
/// `(rule, part)` (part 0 is the rule's id; a rule split by named ports has parts 1.. for its
/// other conjunctions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allocation {
    /// Table name -> rule -> OpenFlow priority.
    pub priorities: BTreeMap<&'static str, BTreeMap<RuleKey, u16>>,
    /// Rule and conjunction ids, with delayed reuse.
    pub ids: IdAllocator<(RuleKey, u32)>,
}

impl Allocation {
    /// The allocation as plain data (table names as strings), for the agent's state directory.
    pub fn to_saved(&self) -> SavedAllocation {
        SavedAllocation {
            priorities: self
                .priorities
                .iter()
                .map(|(t, m)| {
                    (
                        t.to_string(),
                        m.iter().map(|(k, p)| (k.clone(), *p)).collect(),
                    )
                })
                .collect(),
            ids: self.ids.clone(),
        }
    }

    /// Back from [`SavedAllocation`]; tables the pipeline no longer declares are dropped.
    pub fn from_saved(saved: SavedAllocation) -> Allocation {
        Allocation {
            priorities: saved
                .priorities
                .into_iter()
                .filter_map(|(t, rules)| {
                    let name = pipeline::TABLES.iter().find(|d| d.name == t)?.name;
                    Some((name, rules.into_iter().collect()))
                })
                .collect(),
            ids: saved.ids,
        }
    }
}

/// [`Allocation`] as it is saved (`allocation.json` of the agent's state directory).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SavedAllocation {
    /// Table name -> (rule, priority) pairs.
    pub priorities: Vec<(String, Vec<(RuleKey, u16)>)>,
    /// Rule and conjunction ids.
    pub ids: IdAllocator<(RuleKey, u32)>,
}

/// A rule whose priority a compile changed (the renumbering that goes into the same bundle).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityMove {
    /// The table.
    pub table: &'static str,
    /// The rule.
    pub rule: RuleKey,
    /// Previous priority.
    pub from: u16,
    /// New priority.
    pub to: u16,
}

/// A compiled rule, for annotating flows and counters.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledRule {
    /// Rule id: the `conj_id` of its first conjunction, written to registers, ct_label and
    /// cookies; stable across compiles ([`Allocation`]).
    pub id: u32,
    /// Identity across compiles.
    pub key: RuleKey,
    /// Which rule.
    pub rule: RuleRef,
    /// Its direction.
    pub direction: Direction,
    /// Its action.
    pub action: RuleAction,
    /// Staged: its flows count and log what it would do, never decide.
    pub staged: bool,
    /// Its OpenFlow priority.
    pub priority: u16,
    /// Number of flows it uses: its conjunctive match flows (a flow shared with other rules
    /// counts for each of them), its `conj_id` flows and its metric-table flows.
    pub flows: usize,
    /// The clause sizes of each conjunction the rule became: `(peer matches, applied-to
    /// matches, service matches)`, `None` for an unrestricted dimension (see
    /// [`crate::datapath::stats`]).
    pub dims: Vec<(Option<usize>, usize, Option<usize>)>,
}

/// The compiler's output.
#[derive(Debug, Clone, Default)]
pub struct Compiled {
    /// Every flow of the node, in install order.
    pub flows: Vec<FlowMod>,
    /// The rules, by id.
    pub rules: Vec<CompiledRule>,
    /// Notes for the user.
    pub warnings: Vec<String>,
    /// The allocation to pass to the next compile.
    pub allocation: Allocation,
    /// Rules whose priority changed against the previous allocation.
    pub moves: Vec<PriorityMove>,
}

/// Compiler errors.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// A pipeline declaration was violated.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// No rule id left.
    #[error(transparent)]
    Ids(#[from] crate::datapath::alloc::IdsExhausted),
    /// A flow would not fit in one OpenFlow message inside a bundle (see
    /// [`MAX_FLOW_MOD_BYTES`]); nothing was sent.
    #[error(
        "{rule}: a flow of table {table} priority {priority} would take {bytes} bytes, more \
         than the {MAX_FLOW_MOD_BYTES} one OpenFlow message in a bundle holds; split the rule"
    )]
    FlowTooLarge {
        /// The rule (`Kind/tier/policy/rule`), or which fixed flows.
        rule: String,
        /// The rule, when the flow is a policy rule's (what the agent reports failed).
        owner: Option<Box<crate::policy::resolved::RuleRef>>,
        /// Table id.
        table: u8,
        /// Priority.
        priority: u16,
        /// Encoded FLOW_MOD size, bytes.
        bytes: usize,
    },
    /// Two local pods were given one OpenFlow port: each would pass the other's spoof guard.
    #[error("pods {first} and {second} share OpenFlow port {ofport}; refusing both on one port")]
    SharedPort {
        /// The pod listed first.
        first: PodKey,
        /// The pod listed second.
        second: PodKey,
        /// The port.
        ofport: u32,
    },
}

/// Compiles the node's desired flows from scratch. `round` goes into every cookie.
///
/// Errors: a jump the pipeline does not declare, more rules than a priority band holds, two
/// local pods on one OpenFlow port ([`CompileError::SharedPort`]), or a flow larger than one
/// OpenFlow message ([`CompileError::FlowTooLarge`]).
pub fn compile(
    policies: &ResolvedPolicies,
    local: &[LocalPod],
    round: u16,
) -> Result<Compiled, CompileError> {
    compile_with(policies, local, round, None)
}

/// [`compile`] against the `previous` compile's [`Allocation`]: rules keep their priorities and
/// ids where the order allows, and [`Compiled::moves`] lists the renumbering.
///
/// Errors: as [`compile`], and [`CompileError::Ids`] when the id space is exhausted.
pub fn compile_with(
    policies: &ResolvedPolicies,
    local: &[LocalPod],
    round: u16,
    previous: Option<&Allocation>,
) -> Result<Compiled, CompileError> {
    compile_node(policies, local, None, round, previous)
}

/// [`compile_with`] for a node of a multi-node cluster: with `network`, the gateway, tunnel
/// and routing flows of [`crate::datapath::network`] too (`None` is the single-node pipeline).
///
/// Errors: as [`compile_with`].
pub fn compile_node(
    policies: &ResolvedPolicies,
    local: &[LocalPod],
    network: Option<&crate::datapath::network::NodeNetwork>,
    round: u16,
    previous: Option<&Allocation>,
) -> Result<Compiled, CompileError> {
    let mut ports: BTreeMap<u32, &PodKey> = BTreeMap::new();
    for p in local {
        if let Some(first) = ports.insert(p.ofport, &p.key) {
            return Err(CompileError::SharedPort {
                first: first.clone(),
                second: p.key.clone(),
                ofport: p.ofport,
            });
        }
    }
    let mut out = Compiled::default();
    base_flows(&mut out.flows, round)?;
    pod_flows(&mut out.flows, local, round)?;
    if ipv6::enabled(policies) {
        ipv6::base_flows(&mut out.flows, round)?;
        ipv6::pod_flows(&mut out.flows, policies, local, round)?;
    }
    node::local_node_flows(&mut out.flows, policies, local, round)?;
    if let Some(net) = network {
        overlay::overlay_flows(&mut out.flows, net, local, round)?;
    }
    let default = Allocation::default();
    PolicyCompiler::new(policies, local, round).run(&mut out, previous.unwrap_or(&default))?;
    size::check(&out)?;
    Ok(out)
}

/// The priority band of a rule table.
fn band(table: &str) -> PriorityAllocator {
    match table {
        "EgressTier" | "IngressTier" => PriorityAllocator::new(prio::TIER_BOTTOM, prio::TIER_TOP),
        "EgressK8s" | "IngressK8s" => PriorityAllocator::new(prio::TIER_BOTTOM, prio::K8S_TOP),
        _ => PriorityAllocator::new(prio::BASELINE_BOTTOM, prio::BASELINE_TOP),
    }
}

/// Every pod of the model as a local pod on ports 1..=N in model order, with its MAC or the
/// default one: what `kakinectl compile` and the pipeline golden test compile against.
pub fn offline_pods(policies: &ResolvedPolicies) -> Vec<LocalPod> {
    policies
        .pods
        .iter()
        .enumerate()
        .map(|(i, p)| LocalPod {
            key: p.key.clone(),
            ip: p.ip,
            mac: MacAddr(
                p.mac
                    .unwrap_or_else(|| crate::policy::mac::default_mac(p.ip)),
            ),
            ofport: i as u32 + 1,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_become_a_minimal_prefix_cover() {
        assert_eq!(port_range_masks(80, 80), vec![(80, 0xffff)]);
        assert_eq!(port_range_masks(0, 65535), vec![(0, 0)]);
        assert_eq!(
            port_range_masks(8080, 8082),
            vec![(8080, 0xfffe), (8082, 0xffff)]
        );
        assert_eq!(port_range_masks(1, 3), vec![(1, 0xffff), (2, 0xfffe)]);
        // Every port in and only in the range is covered, for a few odd ranges.
        for (lo, hi) in [(1u16, 1000u16), (1024, 65535), (7, 9), (65535, 65535)] {
            let cover = port_range_masks(lo, hi);
            for p in 0..=65535u16 {
                let hit = cover.iter().any(|(v, m)| p & m == *v);
                assert_eq!(hit, p >= lo && p <= hi, "port {p} for {lo}..={hi}");
            }
        }
    }

    #[test]
    fn ipblock_except_is_a_set_difference() {
        let net: IpNet = "10.0.0.0/24".parse().unwrap();
        let ex: IpNet = "10.0.0.128/25".parse().unwrap();
        assert_eq!(
            cidr_minus(net, &[ex]),
            vec!["10.0.0.0/25".parse::<IpNet>().unwrap()]
        );
        let ex2: IpNet = "10.0.0.5/32".parse().unwrap();
        let parts = cidr_minus(net, &[ex2]);
        assert_eq!(parts.len(), 8);
        for i in 0..=255u8 {
            let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, i));
            assert_eq!(parts.iter().any(|p| p.contains(&ip)), i != 5);
        }
        assert!(cidr_minus(ex2, &[net]).is_empty());
    }

    #[test]
    fn an_ipv6_block_minus_its_except_leaves_the_rest_and_ignores_ipv4_exceptions() {
        let net: IpNet = "fd00::/120".parse().unwrap();
        let ex: IpNet = "fd00::7/128".parse().unwrap();
        let v4: IpNet = "10.0.0.0/8".parse().unwrap();
        let parts = cidr_minus(net, &[ex, v4]);
        assert_eq!(parts.len(), 8);
        for i in 0..=255u16 {
            let ip = IpAddr::V6(std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, i));
            assert_eq!(parts.iter().any(|p| p.contains(&ip)), i != 7);
        }
        assert_eq!(cidr_minus(net, &[v4]), vec![net]);
    }

    #[test]
    fn cookies_pack_round_category_and_object() {
        let c = cookie::make(7, cookie::POLICY, 42);
        assert_eq!(c, 0x0007_0300_0000_002a);
        assert_eq!(cookie::split(c), (7, cookie::POLICY, 42));
    }
}
