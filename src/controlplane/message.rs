//! The controlplane messages: a node's span as objects keyed by id, sent as one [`Snapshot`]
//! and then ordered [`Delta`]s, framed as [`Frame`]s (one JSON object per line, NDJSON).
//!
//! The objects (Antrea's controlplane API, `pkg/apis/controlplane`, has the same three kinds
//! beside pods and nodes):
//! - an internal policy ([`WirePolicy`]): the policy's rules over group ids, keyed by the
//!   policy's kind and name;
//! - an address group (peers): its whole member set, keyed by group id;
//! - an applied-to group: its members on the node only, keyed by group id;
//! - the pods the node needs ([`PodInfo`], keyed by `namespace/name`) and every node
//!   ([`NodeInfo`], keyed by name), and the namespaces whose isolation drops are logged.
//!
//! Groups change as patches (members added and removed), everything else as a whole object.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::policy::resolved::{
    Direction, IpBlock, NodeInfo, PodInfo, PodKey, RuleAction, RuleRef, Service, Stage,
};

/// A rule's peers over address group ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WirePeers {
    /// No restriction.
    Any,
    /// The union of these address groups' members, these blocks and these node IPs.
    Set {
        /// Address group ids.
        groups: Vec<u32>,
        /// ipBlock / networks peers.
        ip_blocks: Vec<IpBlock>,
        /// The IPs of the nodes the rule's node selectors match (resolved by the controller).
        node_ips: BTreeSet<Ipv4Addr>,
    },
}

/// One rule over group ids ([`crate::grouping::InternalRule`] as sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireRule {
    /// Who the rule is.
    pub id: RuleRef,
    /// Stage in the precedence order.
    pub stage: Stage,
    /// Policy priority inside its tier.
    pub policy_priority: f64,
    /// Rule index inside its policy and direction.
    pub rule_index: usize,
    /// Direction.
    pub direction: Direction,
    /// Action.
    pub action: RuleAction,
    /// Applied-to group ids (their union).
    pub applied_to: Vec<u32>,
    /// Only the applied-to members of this namespace (a rule split by a `namespaces` peer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_part: Option<String>,
    /// Peers.
    pub peers: WirePeers,
    /// Services (`None` = all traffic).
    pub services: Option<Vec<Service>>,
    /// Audit logging.
    #[serde(default)]
    pub enable_logging: bool,
    /// Antrea `logLabel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_label: Option<String>,
    /// Staged: reported, never enforced.
    #[serde(default)]
    pub staged: bool,
}

/// One internal policy as sent: its identity, its rules and the groups it isolates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WirePolicy {
    /// Kind ([`crate::grouping::PolicyKey::kind`]).
    pub kind: String,
    /// Name ([`crate::grouping::PolicyKey::name`]).
    pub name: String,
    /// Rules in the policy's own order.
    pub rules: Vec<WireRule>,
    /// Applied-to group ids isolated for ingress (K8s NetworkPolicy).
    #[serde(default)]
    pub isolates_ingress: Vec<u32>,
    /// Applied-to group ids isolated for egress (K8s NetworkPolicy).
    #[serde(default)]
    pub isolates_egress: Vec<u32>,
}

/// A group and its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMembers {
    /// Group id.
    pub id: u32,
    /// Members (an applied-to group's on the node only).
    pub members: Vec<PodKey>,
}

/// A node's whole span at `version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The controller's version this span is at.
    pub version: u64,
    /// Internal policies.
    pub policies: Vec<WirePolicy>,
    /// Address groups, whole.
    pub address_groups: Vec<GroupMembers>,
    /// Applied-to groups, the node's members only.
    pub applied_to_groups: Vec<GroupMembers>,
    /// The pods the node needs.
    pub pods: Vec<PodInfo>,
    /// Every node.
    pub nodes: Vec<NodeInfo>,
    /// Namespaces whose K8s NetworkPolicy isolation drops are audit-logged.
    pub np_logging: BTreeSet<String>,
}

/// The changes of a node's span from its previous version to `version`, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// The controller's version after these changes.
    pub version: u64,
    /// The changes.
    pub changes: Vec<Change>,
}

/// One change of one object of a span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A policy added or updated (the whole policy).
    PolicyPut(WirePolicy),
    /// A policy left the span.
    PolicyDelete {
        /// Kind.
        kind: String,
        /// Name.
        name: String,
    },
    /// An address group added (whole members).
    AddressGroupAdd(GroupMembers),
    /// An address group's members changed.
    AddressGroupPatch(GroupPatch),
    /// An address group left the span.
    AddressGroupDelete {
        /// Group id.
        id: u32,
    },
    /// An applied-to group added (the node's members).
    AppliedToGroupAdd(GroupMembers),
    /// An applied-to group's members on the node changed.
    AppliedToGroupPatch(GroupPatch),
    /// An applied-to group left the span.
    AppliedToGroupDelete {
        /// Group id.
        id: u32,
    },
    /// A pod added or updated.
    PodPut(PodInfo),
    /// A pod left the span.
    PodDelete(PodKey),
    /// A node added or updated.
    NodePut(NodeInfo),
    /// A node deleted.
    NodeDelete {
        /// Node name.
        name: String,
    },
    /// The namespaces whose isolation drops are logged, replaced.
    NpLogging(BTreeSet<String>),
}

/// A group's member patch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPatch {
    /// Group id.
    pub id: u32,
    /// Members that joined.
    #[serde(default)]
    pub added: Vec<PodKey>,
    /// Members that left.
    #[serde(default)]
    pub removed: Vec<PodKey>,
}

/// One frame of the span stream (`GET /v1/span/{node}`): one JSON object per line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frame {
    /// The whole span; replaces whatever the agent had.
    Snapshot(Snapshot),
    /// The next changes, in version order.
    Delta(Delta),
    /// Nothing changed for the node up to `version` (keepalive, every few seconds).
    Bookmark {
        /// The controller's current version.
        version: u64,
    },
}
