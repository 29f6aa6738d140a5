//! [`NodeObjects`]: a node's span as objects keyed by id, the state both ends keep (the
//! controller what it sent, the agent what it received); the four-case diff of two of them
//! into [`Change`]s; applying a snapshot or a delta.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::message::{Change, Delta, GroupMembers, GroupPatch, Snapshot, WirePolicy};
use crate::policy::resolved::{NodeInfo, PodInfo, PodKey};

/// A member set, shared between the nodes that hold the same group.
pub type Members = Arc<BTreeSet<PodKey>>;

/// A node's span: see the module documentation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeObjects {
    /// Internal policies by (kind, name).
    pub policies: BTreeMap<(String, String), Arc<WirePolicy>>,
    /// Address groups, whole.
    pub address_groups: BTreeMap<u32, Members>,
    /// Applied-to groups, the node's members only.
    pub applied_to_groups: BTreeMap<u32, Members>,
    /// The pods the node needs.
    pub pods: BTreeMap<PodKey, Arc<PodInfo>>,
    /// Every node.
    pub nodes: BTreeMap<String, Arc<NodeInfo>>,
    /// Namespaces whose isolation drops are logged.
    pub np_logging: BTreeSet<String>,
}

/// Why a delta could not be applied: it names an object the span does not hold, or patches a
/// member in twice (the agent then asks for a fresh snapshot).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("delta {version}: {reason}")]
pub struct ApplyError {
    /// The delta's version.
    pub version: u64,
    /// What did not fit.
    pub reason: String,
}

impl NodeObjects {
    /// The objects of a snapshot.
    pub fn from_snapshot(s: &Snapshot) -> Self {
        let groups = |v: &[GroupMembers]| -> BTreeMap<u32, Members> {
            v.iter()
                .map(|g| (g.id, Arc::new(g.members.iter().cloned().collect())))
                .collect()
        };
        NodeObjects {
            policies: s
                .policies
                .iter()
                .map(|p| ((p.kind.clone(), p.name.clone()), Arc::new(p.clone())))
                .collect(),
            address_groups: groups(&s.address_groups),
            applied_to_groups: groups(&s.applied_to_groups),
            pods: s
                .pods
                .iter()
                .map(|p| (p.key.clone(), Arc::new(p.clone())))
                .collect(),
            nodes: s
                .nodes
                .iter()
                .map(|n| (n.name.clone(), Arc::new(n.clone())))
                .collect(),
            np_logging: s.np_logging.clone(),
        }
    }

    /// These objects as a snapshot at `version`.
    pub fn snapshot(&self, version: u64) -> Snapshot {
        let groups = |m: &BTreeMap<u32, Members>| -> Vec<GroupMembers> {
            m.iter()
                .map(|(id, s)| GroupMembers {
                    id: *id,
                    members: s.iter().cloned().collect(),
                })
                .collect()
        };
        Snapshot {
            version,
            policies: self.policies.values().map(|p| (**p).clone()).collect(),
            address_groups: groups(&self.address_groups),
            applied_to_groups: groups(&self.applied_to_groups),
            pods: self.pods.values().map(|p| (**p).clone()).collect(),
            nodes: self.nodes.values().map(|n| (**n).clone()).collect(),
            np_logging: self.np_logging.clone(),
        }
    }

    /// The changes from `self` to `new`, the four cases per object: in both and different →
    /// put (a patch for groups); only in `self` → delete; only in `new` → add; equal or in
    /// neither → nothing.
    pub fn diff(&self, new: &NodeObjects) -> Vec<Change> {
        let mut out = Vec::new();
        diff_map(
            &self.nodes,
            &new.nodes,
            &mut out,
            |_, n| Change::NodePut((**n).clone()),
            |k| Change::NodeDelete { name: k.clone() },
        );
        diff_map(
            &self.pods,
            &new.pods,
            &mut out,
            |_, p| Change::PodPut((**p).clone()),
            |k| Change::PodDelete(k.clone()),
        );
        diff_groups(&self.address_groups, &new.address_groups, &mut out, true);
        diff_groups(
            &self.applied_to_groups,
            &new.applied_to_groups,
            &mut out,
            false,
        );
        diff_map(
            &self.policies,
            &new.policies,
            &mut out,
            |_, p| Change::PolicyPut((**p).clone()),
            |(kind, name)| Change::PolicyDelete {
                kind: kind.clone(),
                name: name.clone(),
            },
        );
        if self.np_logging != new.np_logging {
            out.push(Change::NpLogging(new.np_logging.clone()));
        }
        out
    }

    /// Applies a delta.
    ///
    /// Errors: a patch or delete of an object not held, a member added twice or removed while
    /// absent ([`ApplyError`]); the objects are then unspecified (take a fresh snapshot).
    pub fn apply(&mut self, d: &Delta) -> Result<(), ApplyError> {
        let err = |reason: String| ApplyError {
            version: d.version,
            reason,
        };
        for c in &d.changes {
            match c {
                Change::PolicyPut(p) => {
                    self.policies
                        .insert((p.kind.clone(), p.name.clone()), Arc::new(p.clone()));
                }
                Change::PolicyDelete { kind, name } => {
                    self.policies
                        .remove(&(kind.clone(), name.clone()))
                        .ok_or_else(|| err(format!("deletes policy {kind} {name}, not held")))?;
                }
                Change::AddressGroupAdd(g) => {
                    self.address_groups
                        .insert(g.id, Arc::new(g.members.iter().cloned().collect()));
                }
                Change::AddressGroupPatch(p) => {
                    patch(&mut self.address_groups, p).map_err(|e| err(format!("address {e}")))?
                }
                Change::AddressGroupDelete { id } => {
                    self.address_groups
                        .remove(id)
                        .ok_or_else(|| err(format!("deletes address group {id}, not held")))?;
                }
                Change::AppliedToGroupAdd(g) => {
                    self.applied_to_groups
                        .insert(g.id, Arc::new(g.members.iter().cloned().collect()));
                }
                Change::AppliedToGroupPatch(p) => patch(&mut self.applied_to_groups, p)
                    .map_err(|e| err(format!("applied-to {e}")))?,
                Change::AppliedToGroupDelete { id } => {
                    self.applied_to_groups
                        .remove(id)
                        .ok_or_else(|| err(format!("deletes applied-to group {id}, not held")))?;
                }
                Change::PodPut(p) => {
                    self.pods.insert(p.key.clone(), Arc::new(p.clone()));
                }
                Change::PodDelete(k) => {
                    self.pods
                        .remove(k)
                        .ok_or_else(|| err(format!("deletes pod {k}, not held")))?;
                }
                Change::NodePut(n) => {
                    self.nodes.insert(n.name.clone(), Arc::new(n.clone()));
                }
                Change::NodeDelete { name } => {
                    self.nodes
                        .remove(name)
                        .ok_or_else(|| err(format!("deletes node {name}, not held")))?;
                }
                Change::NpLogging(s) => self.np_logging = s.clone(),
            }
        }
        Ok(())
    }
}

/// The four cases over one kind of object; an object shared by both sides (the same `Arc`,
/// as the fan-out keeps untouched objects) is equal without a comparison.
fn diff_map<K: Ord + Clone, V: PartialEq>(
    old: &BTreeMap<K, Arc<V>>,
    new: &BTreeMap<K, Arc<V>>,
    out: &mut Vec<Change>,
    put: impl Fn(&K, &Arc<V>) -> Change,
    delete: impl Fn(&K) -> Change,
) {
    for (k, v) in new {
        if !old.get(k).is_some_and(|o| Arc::ptr_eq(o, v) || **o == **v) {
            out.push(put(k, v));
        }
    }
    for k in old.keys() {
        if !new.contains_key(k) {
            out.push(delete(k));
        }
    }
}

fn diff_groups(
    old: &BTreeMap<u32, Members>,
    new: &BTreeMap<u32, Members>,
    out: &mut Vec<Change>,
    address: bool,
) {
    for (id, m) in new {
        out.extend(group_change(*id, old.get(id), Some(m), address));
    }
    for (id, o) in old {
        if !new.contains_key(id) {
            out.extend(group_change(*id, Some(o), None, address));
        }
    }
}

/// The change of group `id` (an address group when `address`, else an applied-to group) from
/// `old` to `new`, the four cases of [`NodeObjects::diff`]: added whole, patched by members,
/// deleted, or nothing (equal, or in neither).
pub fn group_change(
    id: u32,
    old: Option<&Members>,
    new: Option<&Members>,
    address: bool,
) -> Option<Change> {
    Some(match (old, new) {
        (None, None) => return None,
        (Some(o), Some(n)) if Arc::ptr_eq(o, n) || o == n => return None,
        (None, Some(n)) => {
            let g = GroupMembers {
                id,
                members: n.iter().cloned().collect(),
            };
            match address {
                true => Change::AddressGroupAdd(g),
                false => Change::AppliedToGroupAdd(g),
            }
        }
        (Some(o), Some(n)) => {
            let p = GroupPatch {
                id,
                added: n.difference(o).cloned().collect(),
                removed: o.difference(n).cloned().collect(),
            };
            match address {
                true => Change::AddressGroupPatch(p),
                false => Change::AppliedToGroupPatch(p),
            }
        }
        (Some(_), None) => match address {
            true => Change::AddressGroupDelete { id },
            false => Change::AppliedToGroupDelete { id },
        },
    })
}

fn patch(groups: &mut BTreeMap<u32, Members>, p: &GroupPatch) -> Result<(), String> {
    let m = groups
        .get_mut(&p.id)
        .ok_or_else(|| format!("group {}: patched, not held", p.id))?;
    let m = Arc::make_mut(m);
    for k in &p.removed {
        if !m.remove(k) {
            return Err(format!("group {}: removes {k}, not a member", p.id));
        }
    }
    for k in &p.added {
        if !m.insert(k.clone()) {
            return Err(format!("group {}: adds {k} twice", p.id));
        }
    }
    Ok(())
}
