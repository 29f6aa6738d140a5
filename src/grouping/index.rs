//! The grouping index: pods interned as label sets, selectors interned as groups, and the
//! membership between them kept up to date event by event.
//!
//! Four levels, as in Antrea's `GroupEntityIndex` (`pkg/controller/grouping`): a pod belongs to
//! one [`LabelSet`]; a group ([`GroupSelector`]) matches label sets; a group's members are the
//! pods of the label sets it matches. Matching is label sets x groups, and a namespaced group
//! only ever looks at its namespace's label sets; a cluster-scoped group whose namespace
//! selector has a `matchLabels` pair is filed under that pair, so a new namespace is matched only
//! against the groups that can select it.
//!
//! Every event (pod added, removed or relabelled, namespace relabelled, group acquired or
//! released) touches only the groups it changes and records their member changes as
//! [`GroupDelta`]s ([`GroupIndex::take_deltas`]): what the controller streams to agents. Each
//! group also counts its members per node, so its span is known without a scan.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::by_node::ByNode;
use super::selector::{GroupSelector, LabelSet};
use super::slab::Slab;
use crate::policy::model::{Namespace, Pod, NAMESPACE_NAME_LABEL};
use crate::policy::resolved::PodKey;
use crate::policy::selector::Labels;

mod groups;

/// A pod of the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodId(pub u32);

/// A label set of the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelSetId(pub u32);

/// A group: one interned [`GroupSelector`] and its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub u32);

/// The member changes of one group since the last [`GroupIndex::take_deltas`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupDelta {
    /// Pods that joined.
    pub added: BTreeSet<PodKey>,
    /// Pods that left.
    pub removed: BTreeSet<PodKey>,
}

/// A pod as the index keeps it: the model's pod and its label set.
#[derive(Debug, Clone)]
pub struct PodEntry {
    /// The pod as the cluster model gives it.
    pub pod: Pod,
    /// Its key.
    pub key: PodKey,
    /// Its label set.
    pub set: LabelSetId,
}

#[derive(Debug)]
struct SetEntry {
    set: LabelSet,
    pods: BTreeSet<PodId>,
    groups: BTreeSet<GroupId>,
}

#[derive(Debug, Default)]
struct NsEntry {
    /// Effective labels (with `kubernetes.io/metadata.name`).
    labels: Labels,
    /// The namespace object, when the model has one.
    object: Option<Namespace>,
    sets: BTreeSet<LabelSetId>,
}

#[derive(Debug)]
struct GroupEntry {
    selector: GroupSelector,
    sets: BTreeSet<LabelSetId>,
    members: BTreeSet<PodId>,
    /// Members per node name (pods without a node under [`ANY_NODE`]).
    nodes: BTreeMap<String, u32>,
    /// How many holders acquired the group.
    users: u32,
}

/// The grouping index. See the module documentation.
#[derive(Debug, Default)]
pub struct GroupIndex {
    pods: Slab<PodEntry>,
    pod_ids: HashMap<PodKey, PodId>,
    sets: Slab<SetEntry>,
    set_ids: HashMap<LabelSet, LabelSetId>,
    namespaces: HashMap<String, NsEntry>,
    /// Namespaces by one `(key, value)` of their labels.
    ns_by_label: HashMap<(String, String), BTreeSet<String>>,
    groups: Slab<GroupEntry>,
    group_ids: HashMap<GroupSelector, GroupId>,
    /// Groups scoped to one namespace, by namespace.
    groups_by_ns: HashMap<String, BTreeSet<GroupId>>,
    /// Cluster-scoped groups filed under a `matchLabels` pair of their namespace selector.
    groups_by_anchor: HashMap<(String, String), BTreeSet<GroupId>>,
    /// Cluster-scoped groups with no such pair (every namespace, or expressions only).
    groups_unanchored: BTreeSet<GroupId>,
    /// Member changes since the last `take_deltas`, by group.
    pending: BTreeMap<GroupId, (BTreeSet<PodId>, BTreeSet<PodId>)>,
    /// Keys of pods removed while a delta names them.
    removed_keys: HashMap<PodId, PodKey>,
    /// Groups whose last holder released them since the last `take_deltas`: kept (and their
    /// members maintained) until then, so that a group released by one policy and acquired by
    /// another within one event stays the same group and its delta is the net change.
    unheld: BTreeSet<GroupId>,
    /// Pods and groups by node, pods by named port.
    by_node: ByNode,
    /// The groups that gained or lost a node in the events the last `take_deltas` covered.
    spread: BTreeSet<GroupId>,
}

impl GroupIndex {
    /// An empty index.
    pub fn new() -> Self {
        GroupIndex::default()
    }

    // ---- namespaces ------------------------------------------------------------------------

    /// Adds or replaces a namespace object; its pods' memberships in cluster-scoped groups are
    /// re-evaluated when its labels change.
    pub fn upsert_namespace(&mut self, ns: &Namespace) {
        let labels = ns.effective_labels();
        self.set_namespace_labels(&ns.name, labels, Some(ns.clone()));
    }

    /// Removes a namespace object: its pods (if any remain) see only the implicit name label.
    pub fn remove_namespace(&mut self, name: &str) {
        let labels = implicit_labels(name);
        self.set_namespace_labels(name, labels, None);
    }

    /// The namespace object `name`, when the model has one.
    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces.get(name)?.object.as_ref()
    }

    /// Every namespace object, in name order.
    pub fn namespace_objects(&self) -> Vec<&Namespace> {
        let mut v: Vec<&Namespace> = self
            .namespaces
            .values()
            .filter_map(|n| n.object.as_ref())
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// The effective labels of namespace `name` (only the implicit name label for one the model
    /// lacks).
    pub fn namespace_labels(&self, name: &str) -> Labels {
        self.namespaces
            .get(name)
            .map(|n| n.labels.clone())
            .unwrap_or_else(|| implicit_labels(name))
    }

    fn set_namespace_labels(&mut self, name: &str, labels: Labels, object: Option<Namespace>) {
        let entry = self.namespaces.entry(name.to_string()).or_default();
        let old = std::mem::replace(&mut entry.labels, labels.clone());
        entry.object = object;
        if old == labels {
            return;
        }
        for (k, v) in &old {
            if let Some(s) = self.ns_by_label.get_mut(&(k.clone(), v.clone())) {
                s.remove(name);
                if s.is_empty() {
                    self.ns_by_label.remove(&(k.clone(), v.clone()));
                }
            }
        }
        for (k, v) in &labels {
            self.ns_by_label
                .entry((k.clone(), v.clone()))
                .or_default()
                .insert(name.to_string());
        }
        // Only cluster-scoped groups depend on namespace labels.
        let mut candidates: BTreeSet<GroupId> = self.groups_unanchored.clone();
        for (k, v) in old.iter().chain(labels.iter()) {
            if let Some(g) = self.groups_by_anchor.get(&(k.clone(), v.clone())) {
                candidates.extend(g.iter().copied());
            }
        }
        let sets: Vec<LabelSetId> = self.namespaces[name].sets.iter().copied().collect();
        for set in sets {
            for &g in &candidates {
                self.rematch(g, set, &labels);
            }
        }
    }

    // ---- pods ------------------------------------------------------------------------------

    /// Adds a pod, or updates it: a change of labels, service account or host network moves it
    /// to another label set (and so in and out of groups); a change of node moves it between
    /// the groups' node counts.
    pub fn upsert_pod(&mut self, pod: &Pod) {
        let key = PodKey {
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
        };
        let set_key = LabelSet {
            namespace: pod.namespace.clone(),
            labels: pod.labels.clone(),
            service_account: pod.service_account_name().to_string(),
            host_network: pod.host_network,
        };
        if let Some(&id) = self.pod_ids.get(&key) {
            let entry = self.pods.get(id.0).expect("indexed pod");
            if self.sets.get(entry.set.0).map(|s| &s.set) == Some(&set_key) {
                let old_node = entry.pod.node.clone();
                let set = entry.set;
                if old_node != pod.node {
                    let groups: Vec<GroupId> = self
                        .sets
                        .get(set.0)
                        .expect("set")
                        .groups
                        .iter()
                        .copied()
                        .collect();
                    for g in groups {
                        let ge = self.groups.get_mut(g.0).expect("group");
                        count_node(&mut ge.nodes, g, old_node.as_deref(), -1, &mut self.by_node);
                        count_node(&mut ge.nodes, g, pod.node.as_deref(), 1, &mut self.by_node);
                    }
                }
                let e = self.pods.get_mut(id.0).expect("indexed pod");
                self.by_node.upsert_pod(id, Some(&e.pod), pod);
                e.pod = pod.clone();
                return;
            }
            // Relabelled: the same pod moves from its label set to another; a group that
            // matches both keeps it (its delta cancels out).
            let old_set = entry.set;
            let old_node = entry.pod.node.clone();
            let new_set = self.intern_set(set_key);
            let old_groups: Vec<GroupId> = {
                let se = self.sets.get_mut(old_set.0).expect("set");
                se.pods.remove(&id);
                se.groups.iter().copied().collect()
            };
            for g in old_groups {
                self.remove_member(g, id, old_node.as_deref());
            }
            {
                let e = self.pods.get_mut(id.0).expect("indexed pod");
                self.by_node.upsert_pod(id, Some(&e.pod), pod);
                e.pod = pod.clone();
                e.set = new_set;
            }
            let se = self.sets.get_mut(new_set.0).expect("set");
            se.pods.insert(id);
            let new_groups: Vec<GroupId> = se.groups.iter().copied().collect();
            for g in new_groups {
                self.add_member(g, id);
            }
            if self.sets.get(old_set.0).is_some_and(|s| s.pods.is_empty()) {
                self.drop_set(old_set);
            }
            return;
        }
        let set = self.intern_set(set_key);
        let id = PodId(self.pods.insert(PodEntry {
            pod: pod.clone(),
            key: key.clone(),
            set,
        }));
        self.pod_ids.insert(key, id);
        self.by_node.upsert_pod(id, None, pod);
        let se = self.sets.get_mut(set.0).expect("set");
        se.pods.insert(id);
        let groups: Vec<GroupId> = se.groups.iter().copied().collect();
        for g in groups {
            self.add_member(g, id);
        }
    }

    /// Removes a pod (nothing when it is not indexed).
    pub fn remove_pod(&mut self, key: &PodKey) {
        let Some(id) = self.pod_ids.remove(key) else {
            return;
        };
        // The slot is not reused before the next `take_deltas`, so a delta never confuses the
        // removed pod with a new one.
        let entry = self.pods.take(id.0).expect("indexed pod");
        self.by_node.remove_pod(id, &entry.pod);
        let se = self.sets.get_mut(entry.set.0).expect("set");
        se.pods.remove(&id);
        let groups: Vec<GroupId> = se.groups.iter().copied().collect();
        let empty = se.pods.is_empty();
        for g in groups {
            self.remove_member(g, id, entry.pod.node.as_deref());
        }
        self.removed_keys.insert(id, entry.key.clone());
        if empty {
            self.drop_set(entry.set);
        }
    }

    /// The pod `key`, if indexed.
    pub fn pod(&self, key: &PodKey) -> Option<&PodEntry> {
        self.pods.get(self.pod_ids.get(key)?.0)
    }

    /// The id of pod `key`, if indexed.
    pub fn pod_id(&self, key: &PodKey) -> Option<PodId> {
        self.pod_ids.get(key).copied()
    }

    /// The pod of an id.
    pub fn pod_by_id(&self, id: PodId) -> Option<&PodEntry> {
        self.pods.get(id.0)
    }

    /// Every pod, in slot order.
    pub fn pods(&self) -> impl Iterator<Item = (PodId, &PodEntry)> {
        self.pods.iter().map(|(i, p)| (PodId(i), p))
    }

    /// The groups pod `id` is a member of: those matching its label set (none for an unknown
    /// pod).
    pub fn groups_of(&self, id: PodId) -> impl Iterator<Item = GroupId> + '_ {
        self.pods
            .get(id.0)
            .and_then(|e| self.sets.get(e.set.0))
            .into_iter()
            .flat_map(|s| s.groups.iter().copied())
    }

    /// The groups that gained or lost a node (their first member on it, or their last one
    /// left) in the events the last [`GroupIndex::take_deltas`] covered: the only groups whose
    /// applied-to policies' spans those events can change.
    pub fn spread_changed(&self) -> &BTreeSet<GroupId> {
        &self.spread
    }

    /// The pods on node `node` ([`ANY_NODE`]: those without a node).
    pub fn pods_on(&self, node: &str) -> impl Iterator<Item = PodId> + '_ {
        self.by_node.pods(node)
    }

    /// The nodes pods name ([`ANY_NODE`] for pods without one).
    pub fn pod_nodes(&self) -> impl Iterator<Item = &str> {
        self.by_node.nodes()
    }

    /// The groups with a member on node `node` ([`ANY_NODE`]: a member without a node).
    pub fn groups_on(&self, node: &str) -> impl Iterator<Item = GroupId> + '_ {
        self.by_node.groups(node)
    }

    /// The pods declaring a port named `name`.
    pub fn pods_with_port(&self, name: &str) -> impl Iterator<Item = PodId> + '_ {
        self.by_node.port_pods(name)
    }

    /// Number of pods.
    pub fn pod_count(&self) -> usize {
        self.pod_ids.len()
    }

    /// Number of distinct label sets.
    pub fn label_set_count(&self) -> usize {
        self.set_ids.len()
    }

    fn intern_set(&mut self, set: LabelSet) -> LabelSetId {
        if let Some(&id) = self.set_ids.get(&set) {
            return id;
        }
        let ns = set.namespace.clone();
        let ns_labels = self.namespace_labels(&ns);
        let id = LabelSetId(self.sets.insert(SetEntry {
            set: set.clone(),
            pods: BTreeSet::new(),
            groups: BTreeSet::new(),
        }));
        self.set_ids.insert(set, id);
        let entry = self
            .namespaces
            .entry(ns.clone())
            .or_insert_with(|| NsEntry {
                labels: implicit_labels(&ns),
                ..NsEntry::default()
            });
        if entry.sets.is_empty() && entry.object.is_none() {
            // A namespace first seen through a pod: file its implicit label.
            for (k, v) in &ns_labels {
                self.ns_by_label
                    .entry((k.clone(), v.clone()))
                    .or_default()
                    .insert(ns.clone());
            }
        }
        self.namespaces
            .get_mut(&ns)
            .expect("namespace")
            .sets
            .insert(id);
        let mut candidates: BTreeSet<GroupId> = self.groups_unanchored.clone();
        if let Some(g) = self.groups_by_ns.get(&ns) {
            candidates.extend(g.iter().copied());
        }
        for (k, v) in &ns_labels {
            if let Some(g) = self.groups_by_anchor.get(&(k.clone(), v.clone())) {
                candidates.extend(g.iter().copied());
            }
        }
        let se = &self.sets.get(id.0).expect("set").set;
        let matched: Vec<GroupId> = candidates
            .into_iter()
            .filter(|g| {
                self.groups
                    .get(g.0)
                    .is_some_and(|ge| ge.selector.matches(se, &ns_labels))
            })
            .collect();
        for g in matched {
            self.groups.get_mut(g.0).expect("group").sets.insert(id);
            self.sets.get_mut(id.0).expect("set").groups.insert(g);
        }
        id
    }

    fn drop_set(&mut self, id: LabelSetId) {
        let se = self.sets.remove(id.0).expect("set");
        self.set_ids.remove(&se.set);
        for g in se.groups {
            if let Some(ge) = self.groups.get_mut(g.0) {
                ge.sets.remove(&id);
            }
        }
        if let Some(ns) = self.namespaces.get_mut(&se.set.namespace) {
            ns.sets.remove(&id);
            if ns.sets.is_empty() && ns.object.is_none() {
                let labels = std::mem::take(&mut ns.labels);
                self.namespaces.remove(&se.set.namespace);
                for (k, v) in labels {
                    if let Some(s) = self.ns_by_label.get_mut(&(k.clone(), v.clone())) {
                        s.remove(&se.set.namespace);
                        if s.is_empty() {
                            self.ns_by_label.remove(&(k, v));
                        }
                    }
                }
            }
        }
    }

    /// Re-evaluates whether group `g` matches label set `set` (in a namespace with `ns_labels`)
    /// and moves the set's pods in or out.
    fn rematch(&mut self, g: GroupId, set: LabelSetId, ns_labels: &Labels) {
        let Some(ge) = self.groups.get(g.0) else {
            return;
        };
        let se = self.sets.get(set.0).expect("set");
        let now = ge.selector.matches(&se.set, ns_labels);
        let before = ge.sets.contains(&set);
        if now == before {
            return;
        }
        let pods: Vec<PodId> = se.pods.iter().copied().collect();
        if now {
            self.groups.get_mut(g.0).expect("group").sets.insert(set);
            self.sets.get_mut(set.0).expect("set").groups.insert(g);
            for p in pods {
                self.add_member(g, p);
            }
        } else {
            self.groups.get_mut(g.0).expect("group").sets.remove(&set);
            self.sets.get_mut(set.0).expect("set").groups.remove(&g);
            for p in pods {
                let node = self.pods.get(p.0).and_then(|e| e.pod.node.clone());
                self.remove_member(g, p, node.as_deref());
            }
        }
    }

    fn add_member(&mut self, g: GroupId, p: PodId) {
        let node = self.pods.get(p.0).and_then(|e| e.pod.node.clone());
        let ge = self.groups.get_mut(g.0).expect("group");
        if ge.members.insert(p) {
            count_node(&mut ge.nodes, g, node.as_deref(), 1, &mut self.by_node);
            let d = self.pending.entry(g).or_default();
            if !d.1.remove(&p) {
                d.0.insert(p);
            }
        }
    }

    fn remove_member(&mut self, g: GroupId, p: PodId, node: Option<&str>) {
        let ge = self.groups.get_mut(g.0).expect("group");
        if ge.members.remove(&p) {
            count_node(&mut ge.nodes, g, node, -1, &mut self.by_node);
            let d = self.pending.entry(g).or_default();
            if !d.0.remove(&p) {
                d.1.insert(p);
            }
        }
    }
}

fn implicit_labels(ns: &str) -> Labels {
    Labels::from([(NAMESPACE_NAME_LABEL.to_string(), ns.to_string())])
}

/// The node key of a pod without a node: the standalone model may leave `node` out, and such a
/// pod is local wherever an agent runs.
pub const ANY_NODE: &str = "";

/// Counts a member of group `g` in (`by` 1) or out (-1) of `node`, filing the group under
/// the node in `by_node` when it is the first there and unfiling it with the last.
fn count_node(
    nodes: &mut BTreeMap<String, u32>,
    g: GroupId,
    node: Option<&str>,
    by: i32,
    by_node: &mut ByNode,
) {
    let node = node.unwrap_or(ANY_NODE);
    if by > 0 {
        let c = nodes.entry(node.to_string()).or_default();
        *c += 1;
        if *c == 1 {
            by_node.group_on(g, node, true);
        }
    } else if let Some(c) = nodes.get_mut(node) {
        *c -= 1;
        if *c == 0 {
            nodes.remove(node);
            by_node.group_on(g, node, false);
        }
    }
}
