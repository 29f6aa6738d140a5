//! Policies resolved against a cluster: every selector turned into concrete pods and CIDRs.
//!
//! This is the contract between the policy front end (parsing, normalization, selection) and its
//! two consumers: the reference evaluator ([`super::evaluate`]) and the flow compiler
//! (`crate::datapath::compiler`). Both walk the same rules in the same precedence order; only the
//! evaluator's verdict logic and the compiler's flows differ.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net};

/// A pod, named `namespace/name`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct PodKey {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
}

impl std::fmt::Display for PodKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A set of pods shared by every rule that selects it (a group's members), never copied per
/// rule.
pub type PodSet = Arc<BTreeSet<PodKey>>;

/// Traffic direction relative to the applied-to pod.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Direction {
    /// Traffic arriving at the applied-to pod (`ingress`, peers are sources).
    Ingress,
    /// Traffic leaving the applied-to pod (`egress`, peers are destinations).
    Egress,
}

/// What a matching rule does.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum RuleAction {
    /// Allow and commit the connection.
    Allow,
    /// Drop silently.
    Drop,
    /// Refuse actively (TCP RST / ICMP administratively prohibited).
    Reject,
    /// Skip the remaining tiers; K8s NetworkPolicy and then the baseline tier decide.
    Pass,
}

/// L4 protocol of a rule's service or a probe.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Protocol {
    /// TCP (IP protocol 6).
    Tcp,
    /// UDP (17).
    Udp,
    /// SCTP (132).
    Sctp,
    /// ICMP (1). A probe's `port` then carries `type << 8 | code` (see [`icmp_port`]).
    Icmp,
}

/// The `port` of an ICMP probe: `type << 8 | code` (OpenFlow 1.0 likewise carried ICMP type and
/// code in `tp_src` / `tp_dst`). A ping is `icmp_port(8, 0)`.
pub fn icmp_port(icmp_type: u8, icmp_code: u8) -> u16 {
    u16::from(icmp_type) << 8 | u16::from(icmp_code)
}

impl Protocol {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
            Protocol::Icmp => 1,
        }
    }
}

/// The destination ports a service entry admits.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum PortMatch {
    /// Every port of the protocol.
    Any,
    /// `port..=end_port` (a single port has `lo == hi`).
    Range(u16, u16),
    /// A named container port, resolved on the destination pod (number and protocol must both
    /// match a declared container port of that pod).
    Named(String),
    /// ICMP (with [`Protocol::Icmp`] only): a type and code, `None` = any.
    Icmp {
        /// ICMP type.
        icmp_type: Option<u8>,
        /// ICMP code (only with a type).
        icmp_code: Option<u8>,
    },
}

/// One entry of a rule's `ports` (or `protocols`).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Service {
    /// Protocol.
    pub protocol: Protocol,
    /// Destination ports.
    pub port: PortMatch,
    /// Source ports `lo..=hi` (Antrea `sourcePort` / `sourceEndPort`); `None` = any.
    pub source: Option<(u16, u16)>,
}

impl Service {
    /// Whether a packet of `protocol` to `port` from `source_port` matches, with `named`
    /// resolving a container port name on the destination to its number for this protocol.
    pub fn matches(
        &self,
        protocol: Protocol,
        port: u16,
        source_port: Option<u16>,
        named: impl Fn(&str, Protocol) -> Option<u16>,
    ) -> bool {
        if self.protocol != protocol {
            return false;
        }
        if let Some((lo, hi)) = self.source {
            if !source_port.is_some_and(|p| (lo..=hi).contains(&p)) {
                return false;
            }
        }
        match &self.port {
            PortMatch::Any => true,
            PortMatch::Range(lo, hi) => (*lo..=*hi).contains(&port),
            PortMatch::Named(name) => named(name, protocol) == Some(port),
            PortMatch::Icmp {
                icmp_type,
                icmp_code,
            } => {
                let [t, c] = port.to_be_bytes();
                icmp_type.is_none_or(|x| x == t) && icmp_code.is_none_or(|x| x == c)
            }
        }
    }
}

/// An `ipBlock`: a CIDR minus its `except` CIDRs.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct IpBlock {
    /// The block.
    pub cidr: IpNet,
    /// Sub-blocks excluded from it (of the block's family).
    pub except: Vec<IpNet>,
}

impl IpBlock {
    /// Whether `ip` lies in the block and in none of its exceptions (an address of the other
    /// family never does).
    pub fn contains(&self, ip: impl Into<IpAddr>) -> bool {
        let ip = ip.into();
        self.cidr.contains(&ip) && !self.except.iter().any(|e| e.contains(&ip))
    }
}

/// A rule's peers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Peers {
    /// No `from`/`to` restriction: every address.
    Any,
    /// The union of these pods and these IP blocks (empty = matches nothing).
    Set {
        /// Pods selected by podSelector / namespaceSelector / group peers.
        pods: PodSet,
        /// ipBlock / networks peers.
        ip_blocks: Vec<IpBlock>,
        /// IPs of the nodes selected by nodeSelector / nodes peers.
        node_ips: BTreeSet<Ipv4Addr>,
    },
}

impl Peers {
    /// Whether the pod `key` or the address `ip` (IPv4 or IPv6) is a peer.
    pub fn contains(&self, key: Option<&PodKey>, ip: Option<IpAddr>) -> bool {
        match self {
            Peers::Any => true,
            Peers::Set {
                pods,
                ip_blocks,
                node_ips,
            } => {
                key.is_some_and(|k| pods.contains(k))
                    || ip.is_some_and(|ip| {
                        let node = match ip {
                            IpAddr::V4(v4) => node_ips.contains(&v4),
                            IpAddr::V6(_) => false,
                        };
                        node || ip_blocks.iter().any(|b| b.contains(ip))
                    })
            }
        }
    }
}

/// Where in the precedence order a rule sits.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Serialize, serde::Deserialize)]
pub enum Stage {
    /// A non-baseline tier (tier priority, e.g. securityops 100, application 250), and the
    /// AdminNetworkPolicy tier ([`ADMIN_TIER_PRIORITY`]).
    Tier(u32),
    /// Kubernetes NetworkPolicy (allow-only; isolation is
    /// [`ResolvedPolicies::isolated_ingress`] / [`ResolvedPolicies::isolated_egress`]).
    K8s,
    /// The baseline tier (253), evaluated after K8s NetworkPolicy.
    Baseline,
    /// The BaselineAdminNetworkPolicy, after the baseline tier, with the same semantics (it
    /// decides only for pods no K8s NetworkPolicy isolates).
    AdminBaseline,
}

impl Stage {
    /// The stage as an orderable key, in precedence order: the tiers by priority, then K8s
    /// NetworkPolicy, the baseline tier, the BaselineAdminNetworkPolicy.
    pub fn precedence_key(self) -> (u8, u32) {
        match self {
            Stage::Tier(p) => (0, p),
            Stage::K8s => (1, 0),
            Stage::Baseline => (2, 0),
            Stage::AdminBaseline => (3, 0),
        }
    }
}

/// The tier position of AdminNetworkPolicies: between platform (200) and application (250).
pub const ADMIN_TIER_PRIORITY: u32 = 220;

/// [`RuleRef::tier`] of AdminNetworkPolicy rules.
pub const ADMIN_TIER: &str = "admin";

/// [`RuleRef::tier`] of BaselineAdminNetworkPolicy rules.
pub const ADMIN_BASELINE_TIER: &str = "admin-baseline";

/// Identity of a rule, for the "deciding rule" answer, flow annotations and cookies.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct RuleRef {
    /// Policy kind as the user wrote it: `ClusterNetworkPolicy`, `NetworkPolicy` (K8s), ...
    pub kind: String,
    /// Policy name, `namespace/name` for namespaced kinds.
    pub policy: String,
    /// Tier name (`application`, `baseline`, ...; `k8s` for K8s NetworkPolicy).
    pub tier: String,
    /// Rule name (the user's, or generated `ingress-0` style).
    pub rule: String,
}

impl std::fmt::Display for RuleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.tier, self.policy, self.rule)
    }
}

/// One rule with its selectors resolved.
#[derive(Debug, Clone)]
pub struct ResolvedRule {
    /// Who the rule is.
    pub id: RuleRef,
    /// Stage in the precedence order.
    pub stage: Stage,
    /// Policy priority inside its tier (lower first; 0 for K8s NetworkPolicy).
    pub policy_priority: f64,
    /// Rule index inside its policy and direction.
    pub rule_index: usize,
    /// Direction.
    pub direction: Direction,
    /// Action (always `Allow` for K8s NetworkPolicy).
    pub action: RuleAction,
    /// Pods the rule is enforced on (sources for egress, destinations for ingress).
    pub applied_to: PodSet,
    /// Peers (destinations for egress, sources for ingress).
    pub peers: Peers,
    /// `None` = all traffic; `Some(list)` = the union of the entries (an empty list matches
    /// nothing).
    pub services: Option<Vec<Service>>,
    /// Audit logging of the packets this rule decides (Antrea `enableLogging`; for K8s
    /// NetworkPolicy, the namespace annotation of [`super::model::NP_LOGGING_ANNOTATIONS`]).
    pub enable_logging: bool,
    /// Antrea `logLabel`, copied into the audit-log lines of this rule.
    pub log_label: Option<String>,
    /// Staged (`enforcementMode: Audit`): evaluated and reported ("would allow" / "would
    /// drop"), counted and logged by the agent, never deciding a packet (docs/analysis.md).
    pub staged: bool,
}

/// One K8s NetworkPolicy's isolation in one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolation {
    /// The direction it isolates.
    pub direction: Direction,
    /// The policy, `namespace/name`.
    pub policy: String,
    /// The pods it isolates.
    pub pods: PodSet,
}

impl ResolvedPolicies {
    /// The K8s NetworkPolicies (`namespace/name`, sorted) that isolate `pod` in `direction`.
    pub fn isolating(&self, direction: Direction, pod: &PodKey) -> BTreeSet<&str> {
        self.isolated_by
            .iter()
            .filter(|i| i.direction == direction && i.pods.contains(pod))
            .map(|i| i.policy.as_str())
            .collect()
    }
}

/// A node of the cluster model, as the datapath needs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// Its IP (the tunnel endpoint, and the source of its host's traffic).
    pub ip: Option<Ipv4Addr>,
    /// Its pod CIDRs (`spec.podCIDR` and any more address blocks).
    pub pod_cidrs: Vec<Ipv4Net>,
    /// The address of its gateway port, when the model gives one.
    pub gateway_ip: Option<Ipv4Addr>,
}

impl NodeInfo {
    /// The gateway address: the model's, else the first address of the first pod CIDR
    /// (`10.244.1.1` for `10.244.1.0/24`, as Antrea's `antrea-gw0`); `None` without either.
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        self.gateway_ip.or_else(|| {
            let net = self.pod_cidrs.first()?;
            Some(Ipv4Addr::from(u32::from(net.network()).checked_add(1)?))
        })
    }
}

/// A pod of the cluster model, as the compiler and evaluator need it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PodInfo {
    /// Its key.
    pub key: PodKey,
    /// IPv4 address.
    pub ip: Ipv4Addr,
    /// IPv6 address of a dual-stack pod.
    pub ipv6: Option<Ipv6Addr>,
    /// MAC address of its interface, when the cluster model gives one.
    pub mac: Option<[u8; 6]>,
    /// Node name, when given.
    pub node: Option<String>,
    /// The IP of its node, when the model gives the node and its IP: traffic from this
    /// address into the pod is never isolated (see [`super::evaluate`]).
    pub node_ip: Option<Ipv4Addr>,
    /// Whether the pod shares its node's network namespace (never a policy subject).
    pub host_network: bool,
    /// Declared container ports: (name, protocol, number).
    pub named_ports: Vec<(String, Protocol, u16)>,
    /// Every (protocol, port) the pod serves (the cluster model's `ports`, named or not).
    pub ports: Vec<(Protocol, u16)>,
}

impl PodInfo {
    /// The number of the container port `name` of `protocol`, if the pod declares it.
    pub fn named_port(&self, name: &str, protocol: Protocol) -> Option<u16> {
        self.named_ports
            .iter()
            .find(|(n, p, _)| n == name && *p == protocol)
            .map(|(_, _, number)| *number)
    }
}

/// Every rule of a policy set, resolved, in precedence order (first match wins), plus the
/// K8s NetworkPolicy isolation sets.
#[derive(Debug, Clone, Default)]
pub struct ResolvedPolicies {
    /// Rules sorted by (stage, policy_priority, rule_index), ties broken by action (Drop and
    /// Reject first) and policy name; deterministic.
    pub rules: Vec<ResolvedRule>,
    /// Pods isolated for ingress by some K8s NetworkPolicy.
    pub isolated_ingress: BTreeSet<PodKey>,
    /// Pods isolated for egress by some K8s NetworkPolicy.
    pub isolated_egress: BTreeSet<PodKey>,
    /// The K8s NetworkPolicies that isolate pods, one entry per policy and direction, with the
    /// pods it isolates (a shared group's members): whom an isolation drop is attributed to in
    /// the audit log and the denied-connection metric ([`ResolvedPolicies::isolating`]). Kept
    /// per policy, not per pod, so that 10k policies isolating the same 10k pods cost 10k
    /// entries, not 100M.
    pub isolated_by: Vec<Isolation>,
    /// Namespaces whose K8s NetworkPolicy isolation drops are audit-logged (namespace
    /// annotation, [`super::model::NP_LOGGING_ANNOTATIONS`]).
    pub np_logging: BTreeSet<String>,
    /// The pods of the cluster, by key.
    pub pods: Vec<PodInfo>,
    /// The nodes of the cluster model, in name order: where pods' addresses live and how a
    /// node reaches another (the multi-node datapath, `crate::datapath::network`).
    pub nodes: Vec<NodeInfo>,
    /// Lint findings (duplicate rule names, same-priority conflicts, shadowed rules): the
    /// policies are enforced as written, but these are likely mistakes.
    pub warnings: Vec<super::lint::Warning>,
}
