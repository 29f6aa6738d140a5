//! The SIG network-policy-api `policy.networking.k8s.io/v1alpha2` **ClusterNetworkPolicy**, the
//! successor of AdminNetworkPolicy and BaselineAdminNetworkPolicy: one kind with
//! `spec.tier: Admin | Baseline`.
//!
//! Accepted as the upstream types define it (`apis/v1alpha2/clusternetworkpolicy_types.go`):
//! `tier`, `priority` 0..=1000, `subject` (exactly one of `namespaces`, `pods`), at most 25
//! `ingress` / `egress` rules with `action: Accept | Deny | Pass`, `from` (`namespaces`, `pods`)
//! or `to` (also `nodes`, `networks`) peers, 1..=25 of them, and `protocols`: each entry exactly
//! one of `tcp` / `udp` / `sctp` `{destinationPort: {number: N} | {range: {start, end}}}` or
//! `destinationNamedPort: NAME`. `domainNames` peers are reported as unsupported. Peers and
//! subjects share the v1alpha1 types ([`AdminPeer`], [`AdminSubject`]).

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::model::{AdminPeer, AdminSubject, ObjectMeta, Origin};
use super::resolved::RuleAction;

/// A `policy.networking.k8s.io/v1alpha2` ClusterNetworkPolicy.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkPolicyV1Alpha2 {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Spec.
    pub spec: CnpSpec,
    /// Source file.
    pub origin: Origin,
}

impl NetworkPolicyV1Alpha2 {
    /// The kind as written in YAML.
    pub const KIND: &'static str = "ClusterNetworkPolicy";
}

/// `spec.tier`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
pub enum CnpTier {
    /// Before K8s NetworkPolicy, ordered by priority together with AdminNetworkPolicies.
    Admin,
    /// After K8s NetworkPolicy (and the Antrea baseline tier), with the
    /// BaselineAdminNetworkPolicy.
    Baseline,
}

/// `ClusterNetworkPolicy.spec` (v1alpha2).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CnpSpec {
    /// `Admin` or `Baseline`.
    pub tier: CnpTier,
    /// 0..=1000, lower first, inside the tier.
    pub priority: i64,
    /// The pods the policy applies to.
    pub subject: AdminSubject,
    /// Ingress rules, in order (at most 25).
    #[serde(default)]
    pub ingress: Vec<CnpRule>,
    /// Egress rules, in order (at most 25).
    #[serde(default)]
    pub egress: Vec<CnpRule>,
}

/// An ingress or egress rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CnpRule {
    /// Rule name.
    #[serde(default)]
    pub name: Option<String>,
    /// `Accept` (kept as [`RuleAction::Allow`]), `Deny` ([`RuleAction::Drop`]) or `Pass`.
    #[serde(deserialize_with = "de_cnp_action")]
    pub action: RuleAction,
    /// Sources of an ingress rule (1..=25).
    #[serde(default)]
    pub from: Vec<AdminPeer>,
    /// Destinations of an egress rule (1..=25).
    #[serde(default)]
    pub to: Vec<AdminPeer>,
    /// Protocol matches; absent = all traffic.
    #[serde(default)]
    pub protocols: Option<Vec<CnpProtocol>>,
}

/// A `protocols` entry: exactly one of the fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CnpProtocol {
    /// TCP destination ports.
    #[serde(default)]
    pub tcp: Option<CnpPorts>,
    /// UDP destination ports.
    #[serde(default)]
    pub udp: Option<CnpPorts>,
    /// SCTP destination ports.
    #[serde(default)]
    pub sctp: Option<CnpPorts>,
    /// A container port name on the destination pod (any protocol).
    #[serde(default)]
    pub destination_named_port: Option<String>,
}

/// `tcp` / `udp` / `sctp`: `destinationPort` is required (the API has no "all ports" form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CnpPorts {
    /// The destination port or range.
    #[serde(default)]
    pub destination_port: Option<CnpPort>,
}

/// `destinationPort`: exactly one of `number` and `range`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnpPort {
    /// One port, 1..=65535.
    #[serde(default)]
    pub number: Option<u16>,
    /// `start..=end`, `start < end`.
    #[serde(default)]
    pub range: Option<CnpPortRange>,
}

/// `range`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnpPortRange {
    /// First port.
    pub start: u16,
    /// Last port.
    pub end: u16,
}

fn de_cnp_action<'de, D: Deserializer<'de>>(d: D) -> Result<RuleAction, D::Error> {
    let s = String::deserialize(d)?;
    match s.as_str() {
        "Accept" => Ok(RuleAction::Allow),
        "Deny" => Ok(RuleAction::Drop),
        "Pass" => Ok(RuleAction::Pass),
        _ => Err(de::Error::custom(format!(
            "unknown action \"{s}\" (expected Accept, Deny or Pass)"
        ))),
    }
}
