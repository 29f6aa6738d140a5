//! Reverse indexes of the [`super::GroupIndex`] by node: the pods of each node, the groups
//! with a member on each node, and the pods declaring each named port. Kept up to date by the
//! index's own pod and membership events, so that a node's span is read from what it holds,
//! never by a pass over every pod or group (Antrea's `GroupEntityIndex` keeps pods by node
//! likewise).
//!
//! Nodes are names; a pod without a node is filed under [`super::ANY_NODE`] (local everywhere).

use std::collections::{BTreeSet, HashMap};

use super::index::{GroupId, PodId, ANY_NODE};
use super::multimap::unfile;
use crate::policy::model::Pod;

/// See the module documentation.
#[derive(Debug, Default)]
pub(super) struct ByNode {
    pods: HashMap<String, BTreeSet<PodId>>,
    groups: HashMap<String, BTreeSet<GroupId>>,
    port_pods: HashMap<String, BTreeSet<PodId>>,
    /// Groups whose set of nodes changed since the last [`ByNode::take_spread`].
    spread: BTreeSet<GroupId>,
}

fn node_of(pod: &Pod) -> &str {
    pod.node.as_deref().unwrap_or(ANY_NODE)
}

fn port_names(pod: &Pod) -> impl Iterator<Item = &str> {
    pod.ports.iter().filter_map(|p| p.name.as_deref())
}

impl ByNode {
    /// Files pod `id` (new or changed; `old` is its previous state).
    pub(super) fn upsert_pod(&mut self, id: PodId, old: Option<&Pod>, pod: &Pod) {
        if let Some(old) = old {
            self.remove_pod(id, old);
        }
        self.pods
            .entry(node_of(pod).to_string())
            .or_default()
            .insert(id);
        for n in port_names(pod) {
            self.port_pods.entry(n.to_string()).or_default().insert(id);
        }
    }

    /// Unfiles pod `id`.
    pub(super) fn remove_pod(&mut self, id: PodId, pod: &Pod) {
        unfile(&mut self.pods, node_of(pod), &id);
        for n in port_names(pod) {
            unfile(&mut self.port_pods, n, &id);
        }
    }

    /// Group `g` has its first member on `node` (`true`) or lost its last one (`false`).
    pub(super) fn group_on(&mut self, g: GroupId, node: &str, on: bool) {
        self.spread.insert(g);
        match on {
            true => {
                self.groups.entry(node.to_string()).or_default().insert(g);
            }
            false => unfile(&mut self.groups, node, &g),
        }
    }

    /// The groups that gained or lost a node since the last call.
    pub(super) fn take_spread(&mut self) -> BTreeSet<GroupId> {
        std::mem::take(&mut self.spread)
    }

    pub(super) fn pods(&self, node: &str) -> impl Iterator<Item = PodId> + '_ {
        self.pods.get(node).into_iter().flatten().copied()
    }

    pub(super) fn groups(&self, node: &str) -> impl Iterator<Item = GroupId> + '_ {
        self.groups.get(node).into_iter().flatten().copied()
    }

    pub(super) fn port_pods(&self, name: &str) -> impl Iterator<Item = PodId> + '_ {
        self.port_pods.get(name).into_iter().flatten().copied()
    }

    pub(super) fn nodes(&self) -> impl Iterator<Item = &str> {
        self.pods.keys().map(String::as_str)
    }
}
