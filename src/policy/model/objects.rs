//! The Antrea and Kubernetes policy objects, and the set of every object of an input.

use std::path::PathBuf;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::de::*;
use super::schema::{action_schema, protocol_schema, ser_action, ser_protocol};
use crate::policy::resolved::{Protocol, RuleAction};
use crate::policy::selector::LabelSelector;

// ---------------------------------------------------------------------------------------------
// Policy objects

/// The most rules a direction of an Antrea-native policy may have in the CRD schema
/// (`maxItems`): it bounds the API server's cost estimate of the CEL rules below them
/// (Kubernetes refuses a CRD whose rules could cost more than its budget).
pub const MAX_RULES: u32 = 1000;

/// The most entries of a rule's `from`, `to`, `ports`, `protocols` and of an `appliedTo` in
/// the CRD schema (`maxItems`), as the network-policy-api's 100 peers per rule.
pub const MAX_LIST_ITEMS: u32 = 100;

/// `metadata` of an object (other keys such as `labels` or `annotations` are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ObjectMeta {
    /// Name.
    pub name: String,
    /// Namespace, for namespaced kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TierSpec {
    /// Priority, 0..=255, lower first; unique among tiers.
    #[schemars(range(min = 0, max = 255))]
    pub priority: i64,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AntreaPolicySpec {
    /// Tier name (default `application`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 63),
        regex(pattern = r"^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
    )]
    pub tier: Option<String>,
    /// Priority inside the tier, 1.0..=10000.0, lower first.
    #[schemars(range(min = 1.0, max = 10000.0))]
    pub priority: f64,
    /// Pods the policy applies to (unless a rule has its own `appliedTo`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_LIST_ITEMS))]
    pub applied_to: Vec<AppliedTo>,
    /// Ingress rules, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_RULES))]
    pub ingress: Vec<AntreaRule>,
    /// Egress rules, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_RULES))]
    pub egress: Vec<AntreaRule>,
    /// `Audit` stages every rule of the policy (kakine extension, docs/analysis.md): evaluated,
    /// counted and logged as "would allow" / "would drop", never enforced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforcement_mode: Option<EnforcementMode>,
}

/// Whether a policy or rule is enforced or only staged (kakine's `enforcementMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum EnforcementMode {
    /// Enforced (the default).
    Enforce,
    /// Staged: evaluated and reported, never deciding a packet's fate.
    Audit,
}

/// An `appliedTo` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "[has(self.group), has(self.serviceAccount), has(self.podSelector) || has(self.namespaceSelector)].filter(x, x).size() <= 1", "message": "expected exactly one of group, serviceAccount, podSelector/namespaceSelector"}
]))]
pub struct AppliedTo {
    /// Pod selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    /// Namespace selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// ClusterGroup name (a Group of the policy's namespace for an Antrea NetworkPolicy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Pods running as this service account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccountRef>,
}

/// A `serviceAccount` appliedTo or peer: the pods running as `namespace/name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountRef {
    /// Service account name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
}

/// A rule's `protocols` entry (only ICMP is implemented).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleProtocol {
    /// ICMP, optionally one type and code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpProtocol>,
}

/// `protocols[].icmp`: absent type (or code) = any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.icmpCode) || has(self.icmpType)", "message": "icmpCode needs icmpType"}
]))]
pub struct IcmpProtocol {
    /// ICMP type, 0..=255.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    /// ICMP code, 0..=255 (needs `icmpType`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
}

/// `namespaces` of an Antrea peer: the namespace of each applied-to pod, or the namespaces
/// sharing its values for some label keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.match) != (has(self.sameLabels) && size(self.sameLabels) > 0)", "message": "exactly one of match: Self and a non-empty sameLabels"}
]))]
pub struct PeerNamespaces {
    /// `Self`: the applied-to pod's own namespace.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_: Option<NamespaceMatch>,
    /// Label keys whose values must equal those of the applied-to pod's namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub same_labels: Vec<String>,
}

/// `namespaces.match` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum NamespaceMatch {
    /// The applied-to pod's own namespace.
    #[serde(rename = "Self")]
    Self_,
}

/// A rule of an Antrea-native policy.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AntreaRule {
    /// Action.
    #[serde(deserialize_with = "de_action", serialize_with = "ser_action")]
    #[schemars(schema_with = "action_schema")]
    pub action: RuleAction,
    /// Rule name (generated `ingress-0` style when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Sources (ingress rules); absent or empty = any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_LIST_ITEMS))]
    pub from: Vec<AntreaPeer>,
    /// Destinations (egress rules); absent or empty = any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_LIST_ITEMS))]
    pub to: Vec<AntreaPeer>,
    /// Ports; absent or empty (with `protocols` also empty) = all traffic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_LIST_ITEMS))]
    pub ports: Vec<PolicyPort>,
    /// Non-port protocols (ICMP), in union with `ports`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_LIST_ITEMS))]
    pub protocols: Vec<RuleProtocol>,
    /// Rule-level appliedTo, overriding the policy's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_LIST_ITEMS))]
    pub applied_to: Vec<AppliedTo>,
    /// Audit logging: the agent logs the packets this rule decides (no effect on verdicts).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enable_logging: bool,
    /// Audit log label, copied into each audit-log line of the rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_label: Option<String>,
    /// `Audit` stages this rule, `Enforce` enforces it in a staged policy; absent: the policy's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforcement_mode: Option<EnforcementMode>,
}

impl AntreaRule {
    /// Whether the rule is staged in `spec` (its own mode, else the policy's).
    pub fn staged(&self, spec: &AntreaPolicySpec) -> bool {
        self.enforcement_mode.or(spec.enforcement_mode) == Some(EnforcementMode::Audit)
    }
}

/// A peer of an Antrea-native rule.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "[has(self.ipBlock), has(self.group), has(self.serviceAccount), has(self.nodeSelector), has(self.podSelector) || has(self.namespaceSelector) || has(self.namespaces)].filter(x, x).size() <= 1", "message": "expected exactly one of ipBlock, group, serviceAccount, nodeSelector, podSelector/namespaceSelector/namespaces"},
    {"rule": "!(has(self.namespaces) && has(self.namespaceSelector))", "message": "namespaces cannot be combined with namespaceSelector"}
]))]
pub struct AntreaPeer {
    /// Pod selector (all namespaces for ClusterNetworkPolicy, own namespace for ANNP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    /// Namespace selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// IP block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<IpBlockSpec>,
    /// ClusterGroup name (a Group of the policy's namespace for an Antrea NetworkPolicy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The applied-to pod's own namespace (`match: Self`) or namespaces sharing label values
    /// (`sameLabels`); ClusterNetworkPolicy only, exclusive with `namespaceSelector`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<PeerNamespaces>,
    /// Pods running as this service account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccountRef>,
    /// Nodes, by label: their IPs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
}

/// An `ipBlock`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IpBlockSpec {
    /// The block.
    #[serde(deserialize_with = "de_cidr")]
    #[schemars(with = "String")]
    pub cidr: IpNet,
    /// Excluded sub-blocks.
    #[serde(
        default,
        deserialize_with = "de_cidrs",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "Vec<String>")]
    pub except: Vec<IpNet>,
}

/// A `ports` entry (Antrea and K8s share the shape).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.sourceEndPort) || (has(self.sourcePort) && self.sourceEndPort >= self.sourcePort)", "message": "sourceEndPort needs sourcePort and may not be below it"},
    {"rule": "!has(self.endPort) || (has(self.port) && type(self.port) == int && self.endPort >= self.port)", "message": "endPort needs a numeric port and may not be below it"}
]))]
pub struct PolicyPort {
    /// Protocol (default TCP).
    #[serde(
        default = "tcp",
        deserialize_with = "de_protocol",
        serialize_with = "ser_protocol"
    )]
    #[schemars(schema_with = "protocol_schema")]
    pub protocol: Protocol,
    /// Port number or container port name; absent = all ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortValue>,
    /// Last port of a range starting at `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<u16>,
    /// Source port (Antrea-native only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_port: Option<u16>,
    /// Last source port of a range starting at `sourcePort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_end_port: Option<u16>,
}

/// An int-or-string port.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(
    untagged,
    expecting = "expected a port number 1-65535 or a container port name"
)]
pub enum PortValue {
    /// A number.
    Number(u16),
    /// A named container port.
    Name(String),
}

impl JsonSchema for PortValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PortValue".into()
    }

    fn inline_schema() -> bool {
        true
    }

    /// Kubernetes' int-or-string (`x-kubernetes-int-or-string`), as `intstr.IntOrString`.
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "x-kubernetes-int-or-string": true })
    }
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
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.childGroups) || size(self.childGroups) == 0 || !(has(self.podSelector) || has(self.namespaceSelector) || has(self.ipBlocks))", "message": "childGroups cannot be combined with selectors or ipBlocks"},
    {"rule": "!has(self.ipBlocks) || size(self.ipBlocks) == 0 || !(has(self.podSelector) || has(self.namespaceSelector))", "message": "ipBlocks cannot be combined with podSelector or namespaceSelector"}
]))]
pub struct ClusterGroupSpec {
    /// Pod selector (all namespaces unless `namespaceSelector` narrows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    /// Namespace selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// IP blocks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_blocks: Vec<IpBlockSpec>,
    /// Member groups (one level: a child may not have children), in union with the above.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
    /// Pods of the policy's namespace it selects; omitted, every pod (Kubernetes
    /// `NetworkPolicySpec.podSelector` is optional and defaults to the empty selector).
    #[serde(default)]
    pub pod_selector: LabelSelector,
    /// Explicit policy types; see [`K8sPolicySpec::effective_policy_types`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_types: Option<Vec<PolicyType>>,
    /// Ingress rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<K8sRule>,
    /// Egress rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<K8sPeer>,
    /// Destinations (egress); absent or empty = all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<K8sPeer>,
    /// Ports; absent or empty = all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PolicyPort>,
}

/// A K8s NetworkPolicy peer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sPeer {
    /// Pod selector (the policy's namespace unless `namespaceSelector` is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    /// Namespace selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// IP block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<IpBlockSpec>,
}
