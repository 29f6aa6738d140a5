//! The narrowing of the fan-out: [`Touched`] records, while a batch of events is applied to the
//! [`Grouping`], what the batch can change (policies, groups, pods, or everything); then
//! [`Touched::nodes`] gives the nodes whose span can change, so that
//! [`super::FanOut::apply_touched`] recomputes and diffs only those.
//!
//! A node's span can change only if it held a touched object before (read from what the node
//! was sent, so "before" is the span before the batch) or holds one after (from the grouping
//! after the batch):
//! - a node event, an np_logging change of a namespace, a tier or a (cluster) group: every node
//!   (they change every node's objects, or every Antrea policy's translation);
//! - a policy upserted or deleted: its span before ∪ after;
//! - a pod upserted or deleted, or added to or removed from a group: the nodes that held it
//!   (its node, the spans of its address groups, those of the policies whose named egress
//!   ports it declares), its node after, and the spans after of the policies whose named
//!   egress ports ([`crate::grouping::derive::named_egress_ports`]) it declares;
//! - a group whose members changed: the nodes holding it before ∪ the spans after of the
//!   policies using it as an address group (its applied-to side is its pods' nodes, above);
//! - on pod and namespace events, the per-namespace policies (translated again): as policies.
//!
//! A node whose span is not recomputed gets no delta, as before; `FanOut::apply_checked`
//! recomputes every node too and fails on any difference (the property test runs it).

use std::collections::{BTreeMap, BTreeSet};

use super::holders::Holders;
use crate::grouping::index::ANY_NODE;
use crate::grouping::state::{applied_groups, key_of};
use crate::grouping::{Event, GroupDelta, GroupId, Grouping, PolicyKey};
use crate::policy::model::{Namespace, PolicyObject};
use crate::policy::resolved::PodKey;

/// What a batch touched; see the module documentation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Touched {
    /// Every node (a node, np_logging, tier or group event).
    pub all: bool,
    /// Policies upserted, deleted or translated again.
    pub policies: BTreeSet<PolicyKey>,
    /// Groups whose members changed.
    pub groups: BTreeSet<GroupId>,
    /// Pods upserted, deleted, or moved in or out of a group.
    pub pods: BTreeSet<PodKey>,
    /// Groups that gained or lost a node ([`crate::grouping::GroupIndex::spread_changed`]):
    /// the spans of the policies applied to them can change.
    pub spread: BTreeSet<GroupId>,
}

/// The nodes a batch touched: every node, or some.
#[derive(Debug, Clone, PartialEq)]
pub enum Nodes {
    /// Every node.
    All,
    /// These nodes.
    Some(BTreeSet<String>),
}

impl Touched {
    /// Everything touched: every node is recomputed.
    pub fn everything() -> Self {
        Touched {
            all: true,
            ..Touched::default()
        }
    }

    /// Applies `event` to `g` (as [`Grouping::apply`], whose group deltas it returns) and
    /// records what it can touch.
    pub fn apply(&mut self, g: &mut Grouping, event: Event) -> BTreeMap<GroupId, GroupDelta> {
        let logging =
            |g: &Grouping, ns: &str| g.index.namespace(ns).is_some_and(Namespace::np_logging);
        let mut per_namespace = true;
        match &event {
            Event::NodeUpsert(_) | Event::NodeDelete(_) => {
                self.all = true;
                per_namespace = false;
            }
            Event::NamespaceUpsert(ns) => self.all |= logging(g, &ns.name) != ns.np_logging(),
            Event::NamespaceDelete(name) => self.all |= logging(g, name),
            Event::PodUpsert(p) => {
                self.pods.insert(PodKey {
                    namespace: p.namespace.clone(),
                    name: p.name.clone(),
                });
            }
            Event::PodDelete(k) => {
                self.pods.insert(k.clone());
            }
            Event::PolicyUpsert(o) => {
                per_namespace = false;
                match o {
                    PolicyObject::Tier(_)
                    | PolicyObject::ClusterGroup(_)
                    | PolicyObject::Group(_) => self.all = true,
                    _ => {
                        self.policies.insert(key_of(o));
                    }
                }
            }
            Event::PolicyDelete(k) => {
                per_namespace = false;
                match g.objects.get(k) {
                    Some(PolicyObject::Tier(_))
                    | Some(PolicyObject::ClusterGroup(_))
                    | Some(PolicyObject::Group(_)) => self.all = true,
                    _ => {
                        self.policies.insert(k.clone());
                    }
                }
            }
        }
        let deltas = g.apply(event);
        if per_namespace {
            self.policies.extend(g.per_namespace().cloned());
        }
        self.spread.extend(g.index.spread_changed().iter().copied());
        for (id, d) in &deltas {
            self.groups.insert(*id);
            self.pods.extend(d.added.iter().cloned());
            self.pods.extend(d.removed.iter().cloned());
        }
        deltas
    }

    /// The nodes whose span the batch can change, given which nodes hold which object
    /// (`holders`: the spans before the batch) and the grouping after the batch.
    pub fn nodes(&self, g: &Grouping, holders: &Holders) -> Nodes {
        if self.all {
            return Nodes::All;
        }
        let mut out: BTreeSet<String> = BTreeSet::new();
        let mut add = |names: &mut dyn Iterator<Item = &str>| {
            for n in names {
                if !out.contains(n) {
                    out.insert(n.to_string());
                }
            }
        };
        // Before: the nodes that held a touched object.
        for k in &self.policies {
            add(&mut holders.policy(k.kind, &k.name));
        }
        for k in &self.pods {
            add(&mut holders.pod(k));
        }
        for id in &self.groups {
            add(&mut holders.group(id.0));
        }
        // After: the touched pods' nodes, and the spans of the touched policies, of the
        // policies using a touched group as an address group and of those naming a port a
        // touched pod declares.
        let mut policies: BTreeSet<&PolicyKey> = self.policies.iter().collect();
        for k in &self.pods {
            let Some(e) = g.index.pod(k) else {
                continue;
            };
            match e.pod.node.as_deref() {
                None => return Nodes::All,
                Some(n) => add(&mut std::iter::once(n)),
            }
            for port in e.pod.ports.iter().filter_map(|p| p.name.as_deref()) {
                policies.extend(g.users.named_port(port));
            }
        }
        for id in &self.groups {
            policies.extend(g.users.address(*id));
        }
        // A span is the union of the applied-to groups' spans: each group once.
        let applied: BTreeSet<GroupId> = policies
            .into_iter()
            .filter_map(|k| g.policies.get(k))
            .flat_map(applied_groups)
            .collect();
        for a in applied {
            if let Some(n) = g.index.group_nodes(a) {
                if n.contains_key(ANY_NODE) {
                    return Nodes::All;
                }
                add(&mut n.keys().map(String::as_str));
            }
        }
        Nodes::Some(out)
    }
}
