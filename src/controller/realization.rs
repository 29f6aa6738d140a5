//! Realization: what each agent reports it enforces, counted per policy.
//!
//! An agent reports, after each realization, the version it realized and every policy of its
//! span with the outcome ([`RealizationReport`]). The controller keeps the last report of each
//! node and publishes, per policy, [`RealizationCounts`]: how many nodes should realize it (its
//! span), how many realized its current version, and the failures with their reasons (the kube
//! layer writes them to the CRD status: `desiredNodesRealized`, `currentNodesRealized`,
//! `RealizationFailure`; Antrea's `NetworkPolicyStatus` aggregation).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::grouping::PolicyKey;

/// The counts of one policy; see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealizationCounts {
    /// Nodes whose span holds the policy (`desiredNodesRealized`).
    pub desired: u32,
    /// Nodes that reported the policy realized at the controller's version of it
    /// (`currentNodesRealized`).
    pub current: u32,
    /// Failed nodes: node name -> reason (`RealizationFailure`).
    pub failures: BTreeMap<String, String>,
}

/// The per-policy counts the controller publishes (a `tokio::sync::watch` of it).
pub type Realization = BTreeMap<PolicyKey, RealizationCounts>;

/// One policy in a report: its key (`kind` and `name` of [`PolicyKey`]) and why it failed
/// (`None` = realized).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRealization {
    /// Policy kind, as [`PolicyKey::kind`].
    pub kind: String,
    /// Policy name, as [`PolicyKey::name`].
    pub name: String,
    /// The failure reason; `None` when realized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// An agent's report (`POST /v1/realization/{node}`, JSON): the span version it realized, and
/// the policies of that span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealizationReport {
    /// The span version realized.
    pub version: u64,
    /// Every policy of the realized span.
    pub policies: Vec<PolicyRealization>,
}
