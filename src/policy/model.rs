//! The input model: the cluster (namespaces, pods) and the policy objects as users write them.
//!
//! Field names are the Kubernetes API JSON names; the types deserialize straight from the YAML
//! documents (`deny_unknown_fields` everywhere below `spec`, so a typo or an unimplemented feature
//! is reported instead of silently ignored).

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use serde::de::{self, Deserializer, IgnoredAny};
use serde::Deserialize;

use super::resolved::{Protocol, RuleAction};
use super::selector::{LabelSelector, Labels};

/// The label every namespace carries implicitly.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

// ---------------------------------------------------------------------------------------------
// Cluster model

/// The world the policies apply to: the `cluster` block of a scenario, or a standalone
/// `kakine.io/v1alpha1 Cluster` document.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Nodes (only where node peers or host-network pods matter).
    #[serde(default)]
    pub nodes: Vec<Node>,
    /// Namespaces.
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
    /// Pods.
    #[serde(default)]
    pub pods: Vec<Pod>,
}

/// A node of the cluster model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Node name.
    pub name: String,
    /// Node IP.
    #[serde(default)]
    pub ip: Option<Ipv4Addr>,
    /// Node labels.
    #[serde(default)]
    pub labels: Labels,
}

/// A namespace and its labels.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Namespace {
    /// Name.
    pub name: String,
    /// Labels as written (see [`Namespace::effective_labels`]).
    #[serde(default)]
    pub labels: Labels,
    /// Annotations; [`NP_LOGGING_ANNOTATIONS`] set to `"true"` turns on the audit log of the
    /// namespace's K8s NetworkPolicies ([`Namespace::np_logging`]).
    #[serde(default)]
    pub annotations: Labels,
}

/// Namespace annotations that turn on the audit log of K8s NetworkPolicies in the namespace
/// when set to `"true"`: kakine's own, and Antrea's two spellings (its docs'
/// `networkpolicy.antrea.io/enable-logging` and `policy.antrea.io/enable-np-logging`).
pub const NP_LOGGING_ANNOTATIONS: &[&str] = &[
    "kakine.io/enable-np-logging",
    "networkpolicy.antrea.io/enable-logging",
    "policy.antrea.io/enable-np-logging",
];

impl Namespace {
    /// Whether an [`NP_LOGGING_ANNOTATIONS`] annotation is `"true"`.
    pub fn np_logging(&self) -> bool {
        NP_LOGGING_ANNOTATIONS
            .iter()
            .any(|a| self.annotations.get(*a).is_some_and(|v| v == "true"))
    }

    /// The labels selectors see: the written ones plus `kubernetes.io/metadata.name`.
    pub fn effective_labels(&self) -> Labels {
        let mut labels = self.labels.clone();
        labels.insert(NAMESPACE_NAME_LABEL.to_string(), self.name.clone());
        labels
    }
}

/// A pod of the cluster model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
    /// IPv4 address.
    pub ip: Ipv4Addr,
    /// MAC address of its interface (`aa:bb:cc:dd:ee:ff`), when known.
    #[serde(default, deserialize_with = "de_mac")]
    pub mac: Option<[u8; 6]>,
    /// Node the pod runs on.
    #[serde(default)]
    pub node: Option<String>,
    /// Whether the pod uses the host network (its IP is then the node's).
    #[serde(default)]
    pub host_network: bool,
    /// What the pod serves; `name` where the pod spec declares a named container port.
    #[serde(default)]
    pub ports: Vec<ContainerPort>,
    /// The pod's `spec.serviceAccountName` (`default` when absent, as Kubernetes defaults it).
    /// Written `service_account` or `serviceAccountName`.
    #[serde(default, alias = "serviceAccountName")]
    pub service_account: Option<String>,
}

impl Pod {
    /// The service account the pod runs as (`default` when the model gives none).
    pub fn service_account_name(&self) -> &str {
        self.service_account.as_deref().unwrap_or("default")
    }
}

/// A port a pod serves.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerPort {
    /// Port number.
    pub port: u16,
    /// Protocol (default TCP).
    #[serde(default = "tcp", deserialize_with = "de_protocol")]
    pub protocol: Protocol,
    /// Container port name, if declared.
    #[serde(default)]
    pub name: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Policy objects

/// `metadata` of an object (other keys such as `labels` or `annotations` are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ObjectMeta {
    /// Name.
    pub name: String,
    /// Namespace, for namespaced kinds.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// Where an object was read from, for error messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// File (empty for objects built in code).
    pub file: PathBuf,
}

/// A `Tier` (`crd.kakine.io/v1beta1` or `crd.antrea.io/v1beta1`).
#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Spec.
    pub spec: TierSpec,
    /// Source file.
    pub origin: Origin,
}

/// `Tier.spec`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierSpec {
    /// Priority, 0..=255, lower first; unique among tiers.
    pub priority: i64,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// Which Antrea-native policy kind an [`AntreaPolicy`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AntreaKind {
    /// Cluster-scoped `ClusterNetworkPolicy`.
    Cluster,
    /// Namespaced Antrea `NetworkPolicy`; selectors default to its own namespace.
    Namespaced,
}

/// A `ClusterNetworkPolicy` or Antrea `NetworkPolicy`.
#[derive(Debug, Clone, PartialEq)]
pub struct AntreaPolicy {
    /// Which kind.
    pub kind: AntreaKind,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Spec.
    pub spec: AntreaPolicySpec,
    /// Source file.
    pub origin: Origin,
}

/// Spec shared by ClusterNetworkPolicy and Antrea NetworkPolicy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AntreaPolicySpec {
    /// Tier name (default `application`).
    #[serde(default)]
    pub tier: Option<String>,
    /// Priority inside the tier, 1.0..=10000.0, lower first.
    pub priority: f64,
    /// Pods the policy applies to (unless a rule has its own `appliedTo`).
    #[serde(default)]
    pub applied_to: Vec<AppliedTo>,
    /// Ingress rules, in order.
    #[serde(default)]
    pub ingress: Vec<AntreaRule>,
    /// Egress rules, in order.
    #[serde(default)]
    pub egress: Vec<AntreaRule>,
}

/// An `appliedTo` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppliedTo {
    /// Pod selector.
    #[serde(default)]
    pub pod_selector: Option<LabelSelector>,
    /// Namespace selector.
    #[serde(default)]
    pub namespace_selector: Option<LabelSelector>,
    /// ClusterGroup name (a Group of the policy's namespace for an Antrea NetworkPolicy).
    #[serde(default)]
    pub group: Option<String>,
    /// Pods running as this service account.
    #[serde(default)]
    pub service_account: Option<ServiceAccountRef>,
}

/// A `serviceAccount` appliedTo or peer: the pods running as `namespace/name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountRef {
    /// Service account name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
}

/// A rule's `protocols` entry (only ICMP is implemented).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleProtocol {
    /// ICMP, optionally one type and code.
    #[serde(default)]
    pub icmp: Option<IcmpProtocol>,
}

/// `protocols[].icmp`: absent type (or code) = any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IcmpProtocol {
    /// ICMP type, 0..=255.
    #[serde(default)]
    pub icmp_type: Option<u8>,
    /// ICMP code, 0..=255 (needs `icmpType`).
    #[serde(default)]
    pub icmp_code: Option<u8>,
}

/// `namespaces` of an Antrea peer: the namespace of each applied-to pod, or the namespaces
/// sharing its values for some label keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PeerNamespaces {
    /// `Self`: the applied-to pod's own namespace.
    #[serde(default, rename = "match")]
    pub match_: Option<NamespaceMatch>,
    /// Label keys whose values must equal those of the applied-to pod's namespace.
    #[serde(default)]
    pub same_labels: Vec<String>,
}

/// `namespaces.match` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum NamespaceMatch {
    /// The applied-to pod's own namespace.
    #[serde(rename = "Self")]
    Self_,
}

/// A rule of an Antrea-native policy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AntreaRule {
    /// Action.
    #[serde(deserialize_with = "de_action")]
    pub action: RuleAction,
    /// Rule name (generated `ingress-0` style when absent).
    #[serde(default)]
    pub name: Option<String>,
    /// Sources (ingress rules); absent or empty = any.
    #[serde(default)]
    pub from: Vec<AntreaPeer>,
    /// Destinations (egress rules); absent or empty = any.
    #[serde(default)]
    pub to: Vec<AntreaPeer>,
    /// Ports; absent or empty (with `protocols` also empty) = all traffic.
    #[serde(default)]
    pub ports: Vec<PolicyPort>,
    /// Non-port protocols (ICMP), in union with `ports`.
    #[serde(default)]
    pub protocols: Vec<RuleProtocol>,
    /// Rule-level appliedTo, overriding the policy's.
    #[serde(default)]
    pub applied_to: Vec<AppliedTo>,
    /// Audit logging: the agent logs the packets this rule decides (no effect on verdicts).
    #[serde(default)]
    pub enable_logging: bool,
    /// Audit log label, copied into each audit-log line of the rule.
    #[serde(default)]
    pub log_label: Option<String>,
}

/// A peer of an Antrea-native rule.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AntreaPeer {
    /// Pod selector (all namespaces for ClusterNetworkPolicy, own namespace for ANNP).
    #[serde(default)]
    pub pod_selector: Option<LabelSelector>,
    /// Namespace selector.
    #[serde(default)]
    pub namespace_selector: Option<LabelSelector>,
    /// IP block.
    #[serde(default)]
    pub ip_block: Option<IpBlockSpec>,
    /// ClusterGroup name (a Group of the policy's namespace for an Antrea NetworkPolicy).
    #[serde(default)]
    pub group: Option<String>,
    /// The applied-to pod's own namespace (`match: Self`) or namespaces sharing label values
    /// (`sameLabels`); ClusterNetworkPolicy only, exclusive with `namespaceSelector`.
    #[serde(default)]
    pub namespaces: Option<PeerNamespaces>,
    /// Pods running as this service account.
    #[serde(default)]
    pub service_account: Option<ServiceAccountRef>,
    /// Nodes, by label: their IPs.
    #[serde(default)]
    pub node_selector: Option<LabelSelector>,
}

/// An `ipBlock`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpBlockSpec {
    /// The block.
    #[serde(deserialize_with = "de_cidr")]
    pub cidr: Ipv4Net,
    /// Excluded sub-blocks.
    #[serde(default, deserialize_with = "de_cidrs")]
    pub except: Vec<Ipv4Net>,
}

/// A `ports` entry (Antrea and K8s share the shape).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyPort {
    /// Protocol (default TCP).
    #[serde(default = "tcp", deserialize_with = "de_protocol")]
    pub protocol: Protocol,
    /// Port number or container port name; absent = all ports.
    #[serde(default)]
    pub port: Option<PortValue>,
    /// Last port of a range starting at `port`.
    #[serde(default)]
    pub end_port: Option<u16>,
    /// Source port (Antrea-native only).
    #[serde(default)]
    pub source_port: Option<u16>,
    /// Last source port of a range starting at `sourcePort`.
    #[serde(default)]
    pub source_end_port: Option<u16>,
}

/// An int-or-string port.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged, expecting = "a port number or a container port name")]
pub enum PortValue {
    /// A number.
    Number(u16),
    /// A named container port.
    Name(String),
}

/// A `ClusterGroup`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterGroup {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Spec.
    pub spec: ClusterGroupSpec,
    /// Source file.
    pub origin: Origin,
}

/// `ClusterGroup.spec`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterGroupSpec {
    /// Pod selector (all namespaces unless `namespaceSelector` narrows it).
    #[serde(default)]
    pub pod_selector: Option<LabelSelector>,
    /// Namespace selector.
    #[serde(default)]
    pub namespace_selector: Option<LabelSelector>,
    /// IP blocks.
    #[serde(default)]
    pub ip_blocks: Vec<IpBlockSpec>,
    /// Member groups (one level: a child may not have children), in union with the above.
    #[serde(default)]
    pub child_groups: Vec<String>,
}

/// A `networking.k8s.io/v1` NetworkPolicy.
#[derive(Debug, Clone, PartialEq)]
pub struct K8sNetworkPolicy {
    /// Metadata (namespace required; `default` when absent).
    pub metadata: ObjectMeta,
    /// Spec.
    pub spec: K8sPolicySpec,
    /// Source file.
    pub origin: Origin,
}

/// A K8s `policyTypes` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PolicyType {
    /// Ingress isolation.
    Ingress,
    /// Egress isolation.
    Egress,
}

/// K8s `NetworkPolicy.spec`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sPolicySpec {
    /// Pods of the policy's namespace it selects.
    pub pod_selector: LabelSelector,
    /// Explicit policy types; see [`K8sPolicySpec::effective_policy_types`].
    #[serde(default)]
    pub policy_types: Option<Vec<PolicyType>>,
    /// Ingress rules.
    #[serde(default)]
    pub ingress: Vec<K8sRule>,
    /// Egress rules.
    #[serde(default)]
    pub egress: Vec<K8sRule>,
}

impl K8sPolicySpec {
    /// `(ingress, egress)` isolation: `policyTypes` when given, else Ingress always and Egress
    /// when the policy has egress rules (the API server's defaulting).
    pub fn effective_policy_types(&self) -> (bool, bool) {
        match &self.policy_types {
            Some(types) => (
                types.contains(&PolicyType::Ingress),
                types.contains(&PolicyType::Egress),
            ),
            None => (true, !self.egress.is_empty()),
        }
    }
}

/// A K8s NetworkPolicy ingress or egress rule.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sRule {
    /// Sources (ingress); absent or empty = all.
    #[serde(default)]
    pub from: Vec<K8sPeer>,
    /// Destinations (egress); absent or empty = all.
    #[serde(default)]
    pub to: Vec<K8sPeer>,
    /// Ports; absent or empty = all.
    #[serde(default)]
    pub ports: Vec<PolicyPort>,
}

/// A K8s NetworkPolicy peer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sPeer {
    /// Pod selector (the policy's namespace unless `namespaceSelector` is given).
    #[serde(default)]
    pub pod_selector: Option<LabelSelector>,
    /// Namespace selector.
    #[serde(default)]
    pub namespace_selector: Option<LabelSelector>,
    /// IP block.
    #[serde(default)]
    pub ip_block: Option<IpBlockSpec>,
}

// ---------------------------------------------------------------------------------------------
// SIG network-policy-api, policy.networking.k8s.io/v1alpha1

/// Which upstream admin policy kind an [`AdminPolicy`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AdminKind {
    /// `AdminNetworkPolicy`: before K8s NetworkPolicy, ordered by `priority`.
    Admin,
    /// `BaselineAdminNetworkPolicy` (a singleton named `default`): after K8s NetworkPolicy.
    Baseline,
}

/// An `AdminNetworkPolicy` or `BaselineAdminNetworkPolicy`.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminPolicy {
    /// Which kind.
    pub kind: AdminKind,
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Spec.
    pub spec: AdminPolicySpec,
    /// Source file.
    pub origin: Origin,
}

impl AdminPolicy {
    /// The kind as written in YAML.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            AdminKind::Admin => "AdminNetworkPolicy",
            AdminKind::Baseline => "BaselineAdminNetworkPolicy",
        }
    }
}

/// Spec shared by AdminNetworkPolicy and BaselineAdminNetworkPolicy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminPolicySpec {
    /// AdminNetworkPolicy only: 0..=1000, lower first.
    #[serde(default)]
    pub priority: Option<i64>,
    /// The pods the policy applies to.
    pub subject: AdminSubject,
    /// Ingress rules, in order (at most 100).
    #[serde(default)]
    pub ingress: Vec<AdminRule>,
    /// Egress rules, in order (at most 100).
    #[serde(default)]
    pub egress: Vec<AdminRule>,
}

/// `subject`: exactly one of `namespaces` and `pods`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminSubject {
    /// Every pod of the selected namespaces.
    #[serde(default)]
    pub namespaces: Option<LabelSelector>,
    /// Pods selected by both selectors.
    #[serde(default)]
    pub pods: Option<NamespacedPods>,
}

/// `pods: {namespaceSelector, podSelector}` of the admin APIs.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespacedPods {
    /// Namespaces.
    pub namespace_selector: LabelSelector,
    /// Pods in them.
    pub pod_selector: LabelSelector,
}

/// A rule of an admin policy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminRule {
    /// Rule name.
    #[serde(default)]
    pub name: Option<String>,
    /// `Allow`, `Deny` (kept as [`RuleAction::Drop`]) or, AdminNetworkPolicy only, `Pass`.
    #[serde(deserialize_with = "de_admin_action")]
    pub action: RuleAction,
    /// Sources of an ingress rule (1..=100).
    #[serde(default)]
    pub from: Vec<AdminPeer>,
    /// Destinations of an egress rule (1..=100).
    #[serde(default)]
    pub to: Vec<AdminPeer>,
    /// Ports; absent = all traffic.
    #[serde(default)]
    pub ports: Option<Vec<AdminPort>>,
}

/// A peer of an admin rule: exactly one of the fields.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminPeer {
    /// Every pod of the selected namespaces.
    #[serde(default)]
    pub namespaces: Option<LabelSelector>,
    /// Pods selected by both selectors.
    #[serde(default)]
    pub pods: Option<NamespacedPods>,
    /// Nodes (egress only): their IPs.
    #[serde(default)]
    pub nodes: Option<LabelSelector>,
    /// CIDRs (egress only); IPv6 ones are accepted and ignored (IPv4 single stack).
    #[serde(default)]
    pub networks: Option<Vec<String>>,
}

/// A `ports` entry of an admin rule: exactly one of the fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminPort {
    /// One port.
    #[serde(default)]
    pub port_number: Option<AdminPortNumber>,
    /// A container port name on the destination pod (any protocol).
    #[serde(default)]
    pub named_port: Option<String>,
    /// `start..=end`.
    #[serde(default)]
    pub port_range: Option<AdminPortRange>,
}

/// `portNumber`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminPortNumber {
    /// Protocol (default TCP).
    #[serde(default = "tcp", deserialize_with = "de_protocol")]
    pub protocol: Protocol,
    /// Port.
    pub port: u16,
}

/// `portRange`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminPortRange {
    /// Protocol (default TCP).
    #[serde(default = "tcp", deserialize_with = "de_protocol")]
    pub protocol: Protocol,
    /// First port.
    pub start: u16,
    /// Last port.
    pub end: u16,
}

/// Every policy object of an input, by kind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicySet {
    /// Custom tiers.
    pub tiers: Vec<Tier>,
    /// ClusterNetworkPolicies and Antrea NetworkPolicies.
    pub antrea_policies: Vec<AntreaPolicy>,
    /// ClusterGroups.
    pub cluster_groups: Vec<ClusterGroup>,
    /// K8s NetworkPolicies.
    pub k8s_policies: Vec<K8sNetworkPolicy>,
    /// Namespaced Antrea `Group`s (the ClusterGroup shape; `metadata.namespace` set).
    pub groups: Vec<ClusterGroup>,
    /// AdminNetworkPolicies and the BaselineAdminNetworkPolicy.
    pub admin_policies: Vec<AdminPolicy>,
    /// `policy.networking.k8s.io/v1alpha2` ClusterNetworkPolicies (Admin and Baseline tiers).
    pub network_policies_v1alpha2: Vec<super::model_v1alpha2::NetworkPolicyV1Alpha2>,
}

/// One parsed policy document.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyObject {
    /// A Tier.
    Tier(Tier),
    /// A ClusterNetworkPolicy or Antrea NetworkPolicy.
    Antrea(AntreaPolicy),
    /// A ClusterGroup.
    ClusterGroup(ClusterGroup),
    /// A K8s NetworkPolicy.
    K8s(K8sNetworkPolicy),
    /// A namespaced Antrea Group.
    Group(ClusterGroup),
    /// An AdminNetworkPolicy or BaselineAdminNetworkPolicy.
    Admin(AdminPolicy),
    /// A `policy.networking.k8s.io/v1alpha2` ClusterNetworkPolicy.
    V1Alpha2(super::model_v1alpha2::NetworkPolicyV1Alpha2),
}

impl PolicySet {
    /// Adds one object.
    pub fn push(&mut self, object: PolicyObject) {
        match object {
            PolicyObject::Tier(t) => self.tiers.push(t),
            PolicyObject::Antrea(p) => self.antrea_policies.push(p),
            PolicyObject::ClusterGroup(g) => self.cluster_groups.push(g),
            PolicyObject::K8s(p) => self.k8s_policies.push(p),
            PolicyObject::Group(g) => self.groups.push(g),
            PolicyObject::Admin(p) => self.admin_policies.push(p),
            PolicyObject::V1Alpha2(p) => self.network_policies_v1alpha2.push(p),
        }
    }
}

impl AntreaPolicy {
    /// The kind as written in YAML.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            AntreaKind::Cluster => "ClusterNetworkPolicy",
            AntreaKind::Namespaced => "NetworkPolicy",
        }
    }

    /// `name`, or `namespace/name` for the namespaced kind.
    pub fn full_name(&self) -> String {
        match (self.kind, &self.metadata.namespace) {
            (AntreaKind::Namespaced, Some(ns)) => format!("{ns}/{}", self.metadata.name),
            _ => self.metadata.name.clone(),
        }
    }
}

impl K8sNetworkPolicy {
    /// The policy's namespace (`default` when metadata has none).
    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or("default")
    }

    /// `namespace/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.namespace(), self.metadata.name)
    }
}

// ---------------------------------------------------------------------------------------------
// Field deserializers with messages that name the bad value.

fn tcp() -> Protocol {
    Protocol::Tcp
}

/// Parses `TCP`/`UDP`/`SCTP`.
pub fn parse_protocol(s: &str) -> Option<Protocol> {
    match s {
        "TCP" => Some(Protocol::Tcp),
        "UDP" => Some(Protocol::Udp),
        "SCTP" => Some(Protocol::Sctp),
        _ => None,
    }
}

fn de_protocol<'de, D: Deserializer<'de>>(d: D) -> Result<Protocol, D::Error> {
    let s = String::deserialize(d)?;
    parse_protocol(&s).ok_or_else(|| {
        de::Error::custom(format!(
            "unknown protocol \"{s}\" (expected TCP, UDP or SCTP)"
        ))
    })
}

fn de_admin_action<'de, D: Deserializer<'de>>(d: D) -> Result<RuleAction, D::Error> {
    let s = String::deserialize(d)?;
    match s.as_str() {
        "Allow" => Ok(RuleAction::Allow),
        "Deny" => Ok(RuleAction::Drop),
        "Pass" => Ok(RuleAction::Pass),
        _ => Err(de::Error::custom(format!(
            "unknown action \"{s}\" (expected Allow, Deny or Pass)"
        ))),
    }
}

fn de_action<'de, D: Deserializer<'de>>(d: D) -> Result<RuleAction, D::Error> {
    let s = String::deserialize(d)?;
    match s.as_str() {
        "Allow" => Ok(RuleAction::Allow),
        "Drop" => Ok(RuleAction::Drop),
        "Reject" => Ok(RuleAction::Reject),
        "Pass" => Ok(RuleAction::Pass),
        _ => Err(de::Error::custom(format!(
            "unknown action \"{s}\" (expected Allow, Drop, Reject or Pass)"
        ))),
    }
}

fn parse_cidr<E: de::Error>(s: &str) -> Result<Ipv4Net, E> {
    s.parse::<Ipv4Net>()
        .or_else(|_| s.parse::<Ipv4Addr>().map(Ipv4Net::from))
        .map_err(|_| {
            E::custom(format!(
                "invalid CIDR \"{s}\" (expected an IPv4 CIDR such as 10.0.0.0/16)"
            ))
        })
}

fn de_cidr<'de, D: Deserializer<'de>>(d: D) -> Result<Ipv4Net, D::Error> {
    parse_cidr(&String::deserialize(d)?)
}

fn de_cidrs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Ipv4Net>, D::Error> {
    struct Cidrs;
    impl<'de> de::Visitor<'de> for Cidrs {
        type Value = Vec<Ipv4Net>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of CIDRs")
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                out.push(parse_cidr(&s)?);
            }
            Ok(out)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(Cidrs)
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (byte, part) in mac.iter_mut().zip(parts) {
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    Some(mac)
}

fn de_mac<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 6]>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => parse_mac(&s).map(Some).ok_or_else(|| {
            de::Error::custom(format!(
                "invalid MAC address \"{s}\" (expected aa:bb:cc:dd:ee:ff)"
            ))
        }),
    }
}

/// A whole policy document: `apiVersion`, `kind`, `metadata`, `spec` (and an ignored `status`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Document<S> {
    #[allow(dead_code)]
    pub api_version: String,
    #[allow(dead_code)]
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: S,
    #[serde(default)]
    #[allow(dead_code)]
    pub status: Option<IgnoredAny>,
}
