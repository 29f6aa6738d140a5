//! The SIG network-policy-api objects, `policy.networking.k8s.io/v1alpha1`.

use serde::Deserialize;

use super::de::*;
use super::*;
use crate::policy::resolved::{Protocol, RuleAction};
use crate::policy::selector::LabelSelector;

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
    /// CIDRs (egress only); IPv4 or IPv6 (an IPv6 one matches the pods' IPv6 addresses).
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
