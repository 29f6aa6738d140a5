//! Patching a node's span for what a batch touched, instead of building it again: the cost of
//! a recomputed node is the touched keys and the objects they bring in or out, not its span.
//!
//! What a batch can change in a node's span ([`Candidates`], computed once per batch):
//! - the policies: those touched (upserted, deleted, translated again) and those applied to
//!   a group that gained or lost a node ([`Touched::spread`]);
//! - the applied-to groups: the touched groups, those that gained or lost a node, the groups
//!   of the touched pods (a pod that moved node), and those of each policy whose entry changed
//!   on the node (old and new);
//! - the address groups: the touched groups and those of each policy whose entry changed;
//! - the pods: the touched pods, the members an address group brought in or took out, and the
//!   pods declaring a named egress port of a policy whose entry changed.
//!
//! Each candidate is then decided as [`Spans::node`] decides it, from the grouping's reverse
//! indexes and the node's span after its policies are patched: a policy is held when one of its
//! applied-to groups has a member on the node (or on no node); a group when a held policy uses
//! it; a pod when it runs on the node (or on no node), is a member of a held address group, or
//! declares a port a held policy names. `FanOut::apply_checked` compares the result with a
//! span built whole, after every batch of the property test.

use std::collections::btree_map::Entry;
use std::collections::BTreeSet;
use std::sync::Arc;

use super::Spans;
use crate::controlplane::message::{Change, GroupMembers, GroupPatch, WirePeers, WirePolicy};
use crate::controlplane::objects::{group_change, Members, NodeObjects};
use crate::controlplane::touched::Touched;
use crate::grouping::derive::{egress_port_names, named_egress_ports};
use crate::grouping::index::ANY_NODE;
use crate::grouping::state::{address_groups, applied_groups};
use crate::grouping::{GroupId, Grouping, PolicyKey};
use crate::policy::resolved::PodKey;

/// What a batch can change in any node's span; see the module documentation.
#[derive(Debug, Default)]
pub struct Candidates {
    policies: BTreeSet<PolicyKey>,
    applied: BTreeSet<GroupId>,
    address: BTreeSet<GroupId>,
    pods: BTreeSet<PodKey>,
}

impl Candidates {
    /// The candidates of a batch that `touched` recorded, read from `g` after it.
    pub fn of(g: &Grouping, touched: &Touched) -> Self {
        let mut c = Candidates {
            policies: touched.policies.clone(),
            applied: &touched.groups | &touched.spread,
            address: touched.groups.clone(),
            pods: touched.pods.clone(),
        };
        for k in &touched.pods {
            if let Some(id) = g.index.pod_id(k) {
                c.applied.extend(g.index.groups_of(id));
            }
        }
        for a in &touched.spread {
            c.policies.extend(g.users.applied(*a).cloned());
        }
        c
    }
}

/// The key of a policy in a node's objects.
fn object_key(k: &PolicyKey) -> (String, String) {
    (k.kind.to_string(), k.name.clone())
}

/// The applied-to group ids of a policy as sent.
fn wire_applied(w: &WirePolicy) -> impl Iterator<Item = u32> + '_ {
    w.rules
        .iter()
        .flat_map(|r| r.applied_to.iter().copied())
        .chain(w.isolates_ingress.iter().copied())
        .chain(w.isolates_egress.iter().copied())
}

/// The address group ids of a policy as sent.
fn wire_address(w: &WirePolicy) -> impl Iterator<Item = u32> + '_ {
    w.rules.iter().flat_map(|r| match &r.peers {
        WirePeers::Any => [].iter().copied(),
        WirePeers::Set { groups, .. } => groups.iter().copied(),
    })
}

/// The named egress ports of a policy as sent (as [`named_egress_ports`] of its source).
fn wire_named(w: &WirePolicy) -> impl Iterator<Item = &str> + '_ {
    egress_port_names(w.rules.iter().map(|r| {
        let unnamed_peers = match &r.peers {
            WirePeers::Any => true,
            WirePeers::Set { ip_blocks, .. } => !ip_blocks.is_empty(),
        };
        (r.direction, unnamed_peers, r.services.as_deref())
    }))
}

/// The member changes of an address group from one version to another.
#[derive(Debug)]
pub struct Move {
    added: Vec<PodKey>,
    removed: Vec<PodKey>,
}

impl Spans {
    /// The member changes of address group `id` from `old` to `new` (the current version),
    /// computed once per batch and held version.
    fn moved(&mut self, id: u32, old: &Members, new: &Members) -> Arc<Move> {
        self.moves
            .entry((id, Arc::as_ptr(old) as usize))
            .or_insert_with(|| {
                let m = Move {
                    added: new.difference(old).cloned().collect(),
                    removed: old.difference(new).cloned().collect(),
                };
                (old.clone(), Arc::new(m))
            })
            .1
            .clone()
    }

    /// Patches `objects`, the span node `node` holds (its nodes and np_logging kept), into its
    /// span in `g` for the batch's candidates `c`; returns the changes in
    /// [`NodeObjects::diff`]'s order and form (pods, address groups, applied-to groups,
    /// policies).
    pub fn patch(
        &mut self,
        g: &Grouping,
        node: &str,
        c: &Candidates,
        objects: &mut NodeObjects,
    ) -> Vec<Change> {
        let on_node = |a: GroupId| {
            g.index
                .group_nodes(a)
                .is_some_and(|n| n.contains_key(node) || n.contains_key(ANY_NODE))
        };
        // Policies: decided first, everything else depends on which the node holds.
        let mut policy_changes = Vec::new();
        let mut applied: BTreeSet<u32> = c.applied.iter().map(|a| a.0).collect();
        let mut address: BTreeSet<u32> = c.address.iter().map(|a| a.0).collect();
        let mut named: BTreeSet<String> = BTreeSet::new();
        for k in &c.policies {
            let new = g
                .policies
                .get(k)
                .filter(|p| applied_groups(p).any(on_node))
                .map(|p| (p, self.wire(g, k, p)));
            let key = object_key(k);
            let old = objects.policies.get(&key).cloned();
            if let (Some(o), Some((_, w))) = (&old, &new) {
                if Arc::ptr_eq(o, w) {
                    continue;
                }
            }
            if let Some(o) = &old {
                applied.extend(wire_applied(o));
                address.extend(wire_address(o));
                named.extend(wire_named(o).map(str::to_string));
            }
            match new {
                Some((p, w)) => {
                    applied.extend(applied_groups(p).map(|a| a.0));
                    address.extend(address_groups(p).map(|a| a.0));
                    named.extend(named_egress_ports(p).map(str::to_string));
                    if !old.as_ref().is_some_and(|o| **o == *w) {
                        policy_changes.push(Change::PolicyPut((*w).clone()));
                    }
                    objects.policies.insert(key, w);
                }
                None => {
                    if objects.policies.remove(&key).is_some() {
                        policy_changes.push(Change::PolicyDelete {
                            kind: key.0,
                            name: key.1,
                        });
                    }
                }
            }
        }
        let held =
            |objects: &NodeObjects, k: &PolicyKey| objects.policies.contains_key(&object_key(k));

        // Applied-to groups: the node's members of each group a held policy applies.
        let mut applied_changes = Vec::new();
        for id in applied {
            let a = GroupId(id);
            // A group with a member here has every policy applying it held (a fast path).
            let mut users = g.users.applied(a).peekable();
            let used = match on_node(a) {
                true => users.peek().is_some(),
                false => users.any(|k| held(objects, k)),
            };
            let new = used.then(|| self.local(g, a, node));
            applied_changes.extend(group_change(
                id,
                objects.applied_to_groups.get(&id),
                new.as_ref(),
                false,
            ));
            match new {
                Some(n) => objects.applied_to_groups.insert(id, n),
                None => objects.applied_to_groups.remove(&id),
            };
        }

        // Address groups, whole; the members they bring in are needed, those they take out
        // are decided below.
        let mut address_changes = Vec::new();
        let mut brought: BTreeSet<PodKey> = BTreeSet::new();
        let mut pods: BTreeSet<PodKey> = c.pods.clone();
        for id in address {
            let a = GroupId(id);
            let new = g
                .users
                .address(a)
                .any(|k| held(objects, k))
                .then(|| self.whole(g, a));
            let change = match (objects.address_groups.get(&id), &new) {
                (None, None) => None,
                (Some(o), Some(n)) if Arc::ptr_eq(o, n) => None,
                (None, Some(n)) => {
                    brought.extend(n.iter().filter(|k| !objects.pods.contains_key(*k)).cloned());
                    Some(Change::AddressGroupAdd(GroupMembers {
                        id,
                        members: n.iter().cloned().collect(),
                    }))
                }
                (Some(o), None) => {
                    pods.extend(o.iter().cloned());
                    Some(Change::AddressGroupDelete { id })
                }
                (Some(o), Some(n)) => {
                    let m = self.moved(id, o, n);
                    brought.extend(m.added.iter().cloned());
                    pods.extend(m.removed.iter().cloned());
                    (!m.added.is_empty() || !m.removed.is_empty()).then(|| {
                        Change::AddressGroupPatch(GroupPatch {
                            id,
                            added: m.added.clone(),
                            removed: m.removed.clone(),
                        })
                    })
                }
            };
            address_changes.extend(change);
            match new {
                Some(n) => objects.address_groups.insert(id, n),
                None => objects.address_groups.remove(&id),
            };
        }
        for n in &named {
            pods.extend(
                g.index
                    .pods_with_port(n)
                    .filter_map(|id| g.index.pod_by_id(id))
                    .map(|e| e.key.clone()),
            );
        }

        // Pods.
        let mut pod_changes = Vec::new();
        for k in brought.iter().chain(pods.difference(&brought)) {
            let id = g.index.pod_id(k);
            let needed = id.is_some_and(|id| {
                brought.contains(k) || {
                    let e = g.index.pod_by_id(id).expect("indexed");
                    e.pod.node.as_deref().is_none_or(|n| n == node)
                        || g.index
                            .groups_of(id)
                            .any(|a| objects.address_groups.contains_key(&a.0))
                        || e.pod
                            .ports
                            .iter()
                            .filter_map(|p| p.name.as_deref())
                            .any(|n| g.users.named_port(n).any(|k| held(objects, k)))
                }
            });
            let new = match (needed, id) {
                (true, Some(id)) => self.pod(g, id),
                _ => None,
            };
            match (objects.pods.entry(k.clone()), new) {
                (Entry::Occupied(mut e), Some(p)) => {
                    if !Arc::ptr_eq(e.get(), &p) && **e.get() != *p {
                        pod_changes.push(Change::PodPut((*p).clone()));
                    }
                    e.insert(p);
                }
                (Entry::Vacant(e), Some(p)) => {
                    pod_changes.push(Change::PodPut((*p).clone()));
                    e.insert(p);
                }
                (Entry::Occupied(e), None) => {
                    e.remove();
                    pod_changes.push(Change::PodDelete(k.clone()));
                }
                (Entry::Vacant(_), None) => {}
            }
        }
        let mut out = pod_changes;
        out.append(&mut address_changes);
        out.append(&mut applied_changes);
        out.append(&mut policy_changes);
        out
    }
}
