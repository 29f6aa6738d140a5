//! The groups of the [`GroupIndex`]: acquired per selector, released by their holders, their
//! members computed on first use, and the member changes taken as [`GroupDelta`]s.

use std::collections::{BTreeMap, BTreeSet};

use super::{GroupDelta, GroupEntry, GroupId, GroupIndex, LabelSetId, PodId};
use crate::grouping::selector::{GroupSelector, NamespaceScope};
use crate::policy::resolved::PodKey;

impl GroupIndex {
    // ---- groups ----------------------------------------------------------------------------

    /// The group of `selector`, created (and its members computed) on first use; every
    /// [`acquire`](Self::acquire) is matched by one [`release`](Self::release).
    pub fn acquire(&mut self, selector: &GroupSelector) -> GroupId {
        if let Some(&g) = self.group_ids.get(selector) {
            self.groups.get_mut(g.0).expect("group").users += 1;
            self.unheld.remove(&g);
            return g;
        }
        let g = GroupId(self.groups.insert(GroupEntry {
            selector: selector.clone(),
            sets: BTreeSet::new(),
            members: BTreeSet::new(),
            nodes: BTreeMap::new(),
            users: 1,
        }));
        self.group_ids.insert(selector.clone(), g);
        // Candidate namespaces, then their label sets.
        let namespaces: Vec<String> = match (&selector.namespaces, selector.namespace_anchor()) {
            (NamespaceScope::Name(n), _) => {
                self.groups_by_ns.entry(n.clone()).or_default().insert(g);
                vec![n.clone()]
            }
            (_, Some((k, v))) => {
                self.groups_by_anchor
                    .entry((k.to_string(), v.to_string()))
                    .or_default()
                    .insert(g);
                self.ns_by_label
                    .get(&(k.to_string(), v.to_string()))
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default()
            }
            _ => {
                self.groups_unanchored.insert(g);
                self.namespaces.keys().cloned().collect()
            }
        };
        for ns in namespaces {
            let Some(entry) = self.namespaces.get(&ns) else {
                continue;
            };
            let in_scope = match &selector.namespaces {
                NamespaceScope::Name(n) => *n == ns,
                NamespaceScope::Selector(s) => s.matches(&entry.labels),
                NamespaceScope::All => true,
            };
            if !in_scope {
                continue;
            }
            let sets: Vec<LabelSetId> = entry
                .sets
                .iter()
                .copied()
                .filter(|s| selector.matches_pods(&self.sets.get(s.0).expect("set").set))
                .collect();
            for s in sets {
                self.groups.get_mut(g.0).expect("group").sets.insert(s);
                let pods: Vec<PodId> = {
                    let se = self.sets.get_mut(s.0).expect("set");
                    se.groups.insert(g);
                    se.pods.iter().copied().collect()
                };
                for p in pods {
                    self.add_member(g, p);
                }
            }
        }
        g
    }

    /// Gives back one use of `g`. The last release deletes the group at the next
    /// [`take_deltas`](Self::take_deltas) (or [`sweep`](Self::sweep)), unless it is acquired
    /// again before.
    pub fn release(&mut self, g: GroupId) {
        let Some(ge) = self.groups.get_mut(g.0) else {
            return;
        };
        ge.users = ge.users.saturating_sub(1);
        if ge.users == 0 {
            self.unheld.insert(g);
        }
    }

    /// Deletes the groups no holder has acquired again since their last release.
    pub fn sweep(&mut self) {
        for g in std::mem::take(&mut self.unheld) {
            if self.groups.get(g.0).is_some_and(|ge| ge.users == 0) {
                self.delete_group(g);
            }
        }
    }

    fn delete_group(&mut self, g: GroupId) {
        let ge = self.groups.remove(g.0).expect("group");
        self.group_ids.remove(&ge.selector);
        for n in ge.nodes.keys() {
            self.by_node.group_on(g, n, false);
        }
        for s in &ge.sets {
            if let Some(se) = self.sets.get_mut(s.0) {
                se.groups.remove(&g);
            }
        }
        match (&ge.selector.namespaces, ge.selector.namespace_anchor()) {
            (NamespaceScope::Name(n), _) => {
                if let Some(s) = self.groups_by_ns.get_mut(n) {
                    s.remove(&g);
                    if s.is_empty() {
                        self.groups_by_ns.remove(n);
                    }
                }
            }
            (_, Some((k, v))) => {
                let key = (k.to_string(), v.to_string());
                if let Some(s) = self.groups_by_anchor.get_mut(&key) {
                    s.remove(&g);
                    if s.is_empty() {
                        self.groups_by_anchor.remove(&key);
                    }
                }
            }
            _ => {
                self.groups_unanchored.remove(&g);
            }
        }
        self.pending.remove(&g);
    }

    /// The selector of group `g`.
    pub fn selector(&self, g: GroupId) -> Option<&GroupSelector> {
        Some(&self.groups.get(g.0)?.selector)
    }

    /// The members of group `g` (empty for an unknown group).
    pub fn members(&self, g: GroupId) -> impl Iterator<Item = PodId> + '_ {
        self.groups
            .get(g.0)
            .into_iter()
            .flat_map(|ge| ge.members.iter().copied())
    }

    /// The number of members of group `g`.
    pub fn member_count(&self, g: GroupId) -> usize {
        self.groups.get(g.0).map_or(0, |ge| ge.members.len())
    }

    /// The keys of the members of group `g`.
    pub fn member_keys(&self, g: GroupId) -> BTreeSet<PodKey> {
        self.members(g)
            .filter_map(|p| self.pods.get(p.0).map(|e| e.key.clone()))
            .collect()
    }

    /// The span of group `g`: the nodes hosting its members, with how many members each
    /// ([`ANY_NODE`] counts the members without a node).
    pub fn group_nodes(&self, g: GroupId) -> Option<&BTreeMap<String, u32>> {
        Some(&self.groups.get(g.0)?.nodes)
    }

    /// Every live group, in id order.
    pub fn groups(&self) -> impl Iterator<Item = GroupId> + '_ {
        self.groups.iter().map(|(i, _)| GroupId(i))
    }

    /// Number of live groups.
    pub fn group_count(&self) -> usize {
        self.group_ids.len()
    }

    /// Drops the member changes since the previous [`take_deltas`](Self::take_deltas) (and
    /// deletes the groups released since, as it does): after a build from scratch they are
    /// every member of every group, which no one sends (the first event would otherwise carry
    /// them all).
    pub fn forget_deltas(&mut self) {
        self.sweep();
        self.pending.clear();
        self.by_node.take_spread();
        self.spread.clear();
        let freed: Vec<u32> = self.removed_keys.drain().map(|(p, _)| p.0).collect();
        self.pods.release(freed);
    }

    /// The member changes since the previous call, by group (groups released since are left
    /// out: their deletion is the event). Deletes the groups released since and not acquired
    /// again ([`sweep`](Self::sweep)) first; the groups that gained or lost a node since are
    /// then [`spread_changed`](Self::spread_changed).
    pub fn take_deltas(&mut self) -> BTreeMap<GroupId, GroupDelta> {
        self.sweep();
        self.spread = self.by_node.take_spread();
        let pending = std::mem::take(&mut self.pending);
        let key = |p: PodId| -> PodKey {
            self.removed_keys
                .get(&p)
                .cloned()
                .or_else(|| self.pods.get(p.0).map(|e| e.key.clone()))
                .expect("a pod of a delta is indexed or remembered")
        };
        let out = pending
            .into_iter()
            .filter(|(_, (a, r))| !a.is_empty() || !r.is_empty())
            .map(|(g, (a, r))| {
                (
                    g,
                    GroupDelta {
                        added: a.into_iter().map(key).collect(),
                        removed: r.into_iter().map(key).collect(),
                    },
                )
            })
            .collect();
        let freed: Vec<u32> = self.removed_keys.drain().map(|(p, _)| p.0).collect();
        self.pods.release(freed);
        out
    }
}
