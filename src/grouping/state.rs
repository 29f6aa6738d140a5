//! [`Grouping`]: the cluster (pods, namespaces, nodes) and the policy objects, applied as events,
//! over one [`GroupIndex`]; and the spans derived from it.
//!
//! Spans (Antrea's, `pkg/controller/networkpolicy`): an applied-to group's span is the nodes of
//! its members (counted per group by the index, so never a scan); a policy's span is the union of
//! its applied-to groups' spans; an address group's span is the union of the spans of the
//! policies that use it.

use std::collections::{BTreeMap, BTreeSet};

use super::index::{GroupDelta, GroupId, GroupIndex, ANY_NODE};
use super::translate::{Context, InternalPeers, InternalPolicy, Translator};
use super::users::PolicyUsers;
use crate::policy::model::{
    Cluster, ClusterGroup, Namespace, Node, Pod, PolicyObject, PolicySet, Tier,
};
use crate::policy::resolved::PodKey;
use crate::policy::validate::{tier_name, tier_table, BASELINE_TIER_PRIORITY};

/// A policy object's identity: its kind as written and its name (`namespace/name` for the
/// namespaced kinds).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyKey {
    /// Kind, e.g. `ClusterNetworkPolicy`, `NetworkPolicy`, `K8sNetworkPolicy`.
    pub kind: &'static str,
    /// Name.
    pub name: String,
}

impl std::fmt::Display for PolicyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// A set of node names.
pub type Span = BTreeSet<String>;

/// One change of the cluster or of the policy objects.
#[derive(Debug, Clone)]
pub enum Event {
    /// A pod added or changed.
    PodUpsert(Pod),
    /// A pod deleted.
    PodDelete(PodKey),
    /// A namespace added or changed.
    NamespaceUpsert(Namespace),
    /// A namespace deleted.
    NamespaceDelete(String),
    /// A node added or changed.
    NodeUpsert(Node),
    /// A node deleted.
    NodeDelete(String),
    /// A policy object (policy, group or tier) added or changed.
    PolicyUpsert(PolicyObject),
    /// A policy object deleted.
    PolicyDelete(PolicyKey),
}

/// The identity of a policy object.
pub fn key_of(o: &PolicyObject) -> PolicyKey {
    match o {
        PolicyObject::Tier(t) => PolicyKey {
            kind: "Tier",
            name: t.metadata.name.clone(),
        },
        PolicyObject::Antrea(p) => PolicyKey {
            kind: p.kind_name(),
            name: p.full_name(),
        },
        PolicyObject::ClusterGroup(g) => PolicyKey {
            kind: "ClusterGroup",
            name: g.metadata.name.clone(),
        },
        PolicyObject::Group(g) => PolicyKey {
            kind: "Group",
            name: format!(
                "{}/{}",
                g.metadata.namespace.as_deref().unwrap_or_default(),
                g.metadata.name
            ),
        },
        PolicyObject::K8s(p) => PolicyKey {
            kind: "K8sNetworkPolicy",
            name: p.full_name(),
        },
        PolicyObject::Admin(p) => PolicyKey {
            kind: p.kind_name(),
            name: p.metadata.name.clone(),
        },
        PolicyObject::V1Alpha2(p) => PolicyKey {
            kind: "ClusterNetworkPolicy.v1alpha2",
            name: p.metadata.name.clone(),
        },
    }
}

/// The cluster and the policies over one index. See the module documentation.
#[derive(Debug, Default)]
pub struct Grouping {
    /// The index.
    pub index: GroupIndex,
    /// Nodes by name.
    pub nodes: BTreeMap<String, Node>,
    /// Every policy object by key (tiers and groups included), in key order.
    pub objects: BTreeMap<PolicyKey, PolicyObject>,
    /// The internal policy of every policy object that has rules or isolation.
    pub policies: BTreeMap<PolicyKey, InternalPolicy>,
    /// The policies by the groups they use and the egress port names they name.
    pub users: PolicyUsers,
    /// The policies with a per-namespace rule (translated again on pod and namespace events).
    per_namespace: BTreeSet<PolicyKey>,
    cluster_groups: BTreeMap<String, ClusterGroup>,
    groups: BTreeMap<(String, String), ClusterGroup>,
    tiers: BTreeMap<String, u32>,
}

impl Grouping {
    /// An empty grouping.
    pub fn new() -> Self {
        Grouping {
            tiers: tier_table(&PolicySet::default()),
            ..Grouping::default()
        }
    }

    /// A grouping of `cluster` and `objects`, built from scratch (no validation: the caller
    /// validated `objects`).
    pub fn build(cluster: &Cluster, objects: &PolicySet) -> Self {
        let mut g = Grouping::new();
        for n in &cluster.nodes {
            g.nodes.insert(n.name.clone(), n.clone());
        }
        for ns in &cluster.namespaces {
            g.index.upsert_namespace(ns);
        }
        for p in &cluster.pods {
            g.index.upsert_pod(p);
        }
        // Tiers and groups first: policies refer to them.
        for t in &objects.tiers {
            g.store(PolicyObject::Tier(t.clone()));
        }
        for c in &objects.cluster_groups {
            g.store(PolicyObject::ClusterGroup(c.clone()));
        }
        for c in &objects.groups {
            g.store(PolicyObject::Group(c.clone()));
        }
        g.tiers = tier_table(objects);
        let policies = objects
            .antrea_policies
            .iter()
            .cloned()
            .map(PolicyObject::Antrea)
            .chain(
                objects
                    .admin_policies
                    .iter()
                    .cloned()
                    .map(PolicyObject::Admin),
            )
            .chain(
                objects
                    .network_policies_v1alpha2
                    .iter()
                    .cloned()
                    .map(PolicyObject::V1Alpha2),
            )
            .chain(objects.k8s_policies.iter().cloned().map(PolicyObject::K8s));
        for p in policies {
            let key = g.store(p);
            g.translate(&key);
        }
        // The build is the starting point, not a change: its member additions are no delta
        // (and the groups released during it are deleted, as a sweep does).
        g.index.forget_deltas();
        g
    }

    /// Records an object (no translation); returns its key.
    fn store(&mut self, o: PolicyObject) -> PolicyKey {
        let key = key_of(&o);
        match &o {
            PolicyObject::ClusterGroup(c) => {
                self.cluster_groups
                    .insert(c.metadata.name.clone(), c.clone());
            }
            PolicyObject::Group(c) => {
                self.groups.insert(
                    (
                        c.metadata.namespace.clone().unwrap_or_default(),
                        c.metadata.name.clone(),
                    ),
                    c.clone(),
                );
            }
            _ => {}
        }
        self.objects.insert(key.clone(), o);
        key
    }

    /// (Re)translates the policy `key` from its stored object, releasing what its previous
    /// translation held.
    fn translate(&mut self, key: &PolicyKey) {
        let Some(o) = self.objects.get(key).cloned() else {
            return;
        };
        let logging = match &o {
            PolicyObject::K8s(p) => self
                .index
                .namespace(p.namespace())
                .is_some_and(Namespace::np_logging),
            _ => false,
        };
        let ctx = Context {
            cluster_groups: &self.cluster_groups,
            groups: &self.groups,
            tiers: &self.tiers,
            baseline_priority: BASELINE_TIER_PRIORITY,
        };
        let t = Translator::new(&mut self.index, &ctx);
        let internal = match &o {
            PolicyObject::Antrea(p) => {
                let tier = tier_name(p);
                let stage = t.antrea_stage(&tier);
                Some(t.antrea(p, &tier, stage))
            }
            PolicyObject::Admin(p) => Some(t.admin(p)),
            PolicyObject::V1Alpha2(p) => Some(t.v1alpha2(p)),
            PolicyObject::K8s(p) => Some(t.k8s(p, logging)),
            _ => None,
        };
        if let Some(internal) = internal {
            if internal.per_namespace {
                self.per_namespace.insert(key.clone());
            } else {
                self.per_namespace.remove(key);
            }
            let old = self.policies.remove(key);
            if let Some(old) = &old {
                self.users.update(key, old, false);
            }
            self.users.update(key, &internal, true);
            self.policies.insert(key.clone(), internal);
            for g in old.into_iter().flat_map(|o| o.held) {
                self.index.release(g);
            }
        }
    }

    fn drop_policy(&mut self, key: &PolicyKey) {
        self.per_namespace.remove(key);
        if let Some(old) = self.policies.remove(key) {
            self.users.update(key, &old, false);
            for g in old.held {
                self.index.release(g);
            }
        }
    }

    /// Applies one event; returns the member changes of the groups it touched.
    pub fn apply(&mut self, event: Event) -> BTreeMap<GroupId, GroupDelta> {
        let mut retranslate_per_namespace = false;
        match event {
            Event::PodUpsert(p) => {
                self.index.upsert_pod(&p);
                retranslate_per_namespace = true;
            }
            Event::PodDelete(k) => {
                self.index.remove_pod(&k);
                retranslate_per_namespace = true;
            }
            Event::NamespaceUpsert(ns) => {
                let logging_before = self
                    .index
                    .namespace(&ns.name)
                    .is_some_and(Namespace::np_logging);
                let name = ns.name.clone();
                let logging = ns.np_logging();
                self.index.upsert_namespace(&ns);
                if logging != logging_before {
                    self.retranslate_k8s_in(&name);
                }
                retranslate_per_namespace = true;
            }
            Event::NamespaceDelete(name) => {
                let logging_before = self
                    .index
                    .namespace(&name)
                    .is_some_and(Namespace::np_logging);
                self.index.remove_namespace(&name);
                if logging_before {
                    self.retranslate_k8s_in(&name);
                }
                retranslate_per_namespace = true;
            }
            Event::NodeUpsert(n) => {
                self.nodes.insert(n.name.clone(), n);
            }
            Event::NodeDelete(n) => {
                self.nodes.remove(&n);
            }
            Event::PolicyUpsert(o) => {
                let is_reference = matches!(
                    o,
                    PolicyObject::Tier(_) | PolicyObject::ClusterGroup(_) | PolicyObject::Group(_)
                );
                let key = self.store(o);
                if is_reference {
                    self.refresh_references();
                } else {
                    self.translate(&key);
                }
            }
            Event::PolicyDelete(key) => {
                if let Some(o) = self.objects.remove(&key) {
                    match o {
                        PolicyObject::ClusterGroup(c) => {
                            self.cluster_groups.remove(&c.metadata.name);
                            self.refresh_references();
                        }
                        PolicyObject::Group(c) => {
                            self.groups.remove(&(
                                c.metadata.namespace.clone().unwrap_or_default(),
                                c.metadata.name.clone(),
                            ));
                            self.refresh_references();
                        }
                        PolicyObject::Tier(_) => self.refresh_references(),
                        _ => self.drop_policy(&key),
                    }
                }
            }
        }
        if retranslate_per_namespace {
            let keys: Vec<PolicyKey> = self.per_namespace.iter().cloned().collect();
            for k in keys {
                self.translate(&k);
            }
        }
        self.index.take_deltas()
    }

    fn retranslate_k8s_in(&mut self, ns: &str) {
        let keys: Vec<PolicyKey> = self
            .objects
            .iter()
            .filter(|(_, o)| matches!(o, PolicyObject::K8s(p) if p.namespace() == ns))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            self.translate(&k);
        }
    }

    /// Tiers or groups changed: the tier table again, and every Antrea policy translated again
    /// (they are the ones that name tiers and groups).
    fn refresh_references(&mut self) {
        let tiers: Vec<Tier> = self
            .objects
            .values()
            .filter_map(|o| match o {
                PolicyObject::Tier(t) => Some(t.clone()),
                _ => None,
            })
            .collect();
        self.tiers = tier_table(&PolicySet {
            tiers,
            ..PolicySet::default()
        });
        let keys: Vec<PolicyKey> = self
            .objects
            .iter()
            .filter(|(_, o)| matches!(o, PolicyObject::Antrea(_)))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            self.translate(&k);
        }
    }

    /// The policies with a per-namespace rule: translated again on every pod and namespace
    /// event (so their rules and groups may change with any of them).
    pub fn per_namespace(&self) -> impl Iterator<Item = &PolicyKey> {
        self.per_namespace.iter()
    }

    // ---- spans -----------------------------------------------------------------------------

    /// The span of a policy: the union of its applied-to groups' spans.
    pub fn policy_span(&self, p: &InternalPolicy) -> Span {
        let mut span = Span::new();
        for g in applied_groups(p) {
            if let Some(n) = self.index.group_nodes(g) {
                span.extend(n.keys().filter(|k| *k != ANY_NODE).cloned());
            }
        }
        span
    }

    /// Whether node `node` is in the span of policy `p` (without building the span): a member
    /// runs there, or a member names no node (local everywhere).
    pub fn policy_spans(&self, p: &InternalPolicy, node: &str) -> bool {
        applied_groups(p).any(|g| {
            self.index
                .group_nodes(g)
                .is_some_and(|n| n.contains_key(node) || n.contains_key(ANY_NODE))
        })
    }

    /// The span of every address group: the union of the spans of the policies that use it.
    pub fn address_group_spans(&self) -> BTreeMap<GroupId, Span> {
        let mut out: BTreeMap<GroupId, Span> = BTreeMap::new();
        for p in self.policies.values() {
            let span = self.policy_span(p);
            for g in address_groups(p) {
                out.entry(g).or_default().extend(span.iter().cloned());
            }
        }
        out
    }
}

/// The applied-to groups of a policy (its rules' and its isolation's).
pub fn applied_groups(p: &InternalPolicy) -> impl Iterator<Item = GroupId> + '_ {
    p.rules
        .iter()
        .flat_map(|r| r.applied_to.iter().copied())
        .chain(p.isolates_ingress.iter().copied())
        .chain(p.isolates_egress.iter().copied())
}

/// The address groups of a policy (its rules' peers).
pub fn address_groups(p: &InternalPolicy) -> impl Iterator<Item = GroupId> + '_ {
    p.rules.iter().flat_map(|r| match &r.peers {
        InternalPeers::Any => [].iter().copied(),
        InternalPeers::Set { groups, .. } => groups.iter().copied(),
    })
}
