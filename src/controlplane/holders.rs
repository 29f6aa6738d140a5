//! [`Holders`]: which tracked nodes hold which object of their span (a policy, an address or
//! applied-to group, a pod), the reverse of what the fan-out sent them. Kept from the changes
//! themselves ([`Holders::record`]), so the nodes that held a touched object before a batch are
//! read in time proportional to them, never by a scan of every node's span.

use std::collections::{BTreeSet, HashMap};

use super::message::Change;
use super::objects::NodeObjects;
use crate::grouping::multimap::file;
use crate::policy::resolved::PodKey;

/// A tracked node's number.
type NodeNo = u32;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Holders {
    names: Vec<String>,
    numbers: HashMap<String, NodeNo>,
    policies: HashMap<(String, String), BTreeSet<NodeNo>>,
    address_groups: HashMap<u32, BTreeSet<NodeNo>>,
    applied_to_groups: HashMap<u32, BTreeSet<NodeNo>>,
    pods: HashMap<PodKey, BTreeSet<NodeNo>>,
}

impl Holders {
    fn number(&mut self, node: &str) -> NodeNo {
        if let Some(&n) = self.numbers.get(node) {
            return n;
        }
        let n = self.names.len() as NodeNo;
        self.names.push(node.to_string());
        self.numbers.insert(node.to_string(), n);
        n
    }

    /// Node `node` now holds every object of `objects` (a node starting to be tracked).
    pub fn hold_all(&mut self, node: &str, objects: &NodeObjects) {
        let n = self.number(node);
        for k in objects.policies.keys() {
            file(&mut self.policies, k.clone(), n, true);
        }
        for id in objects.address_groups.keys() {
            file(&mut self.address_groups, *id, n, true);
        }
        for id in objects.applied_to_groups.keys() {
            file(&mut self.applied_to_groups, *id, n, true);
        }
        for k in objects.pods.keys() {
            file(&mut self.pods, k.clone(), n, true);
        }
    }

    /// Node `node` was sent `changes`: the objects added and deleted.
    pub fn record(&mut self, node: &str, changes: &[Change]) {
        let n = self.number(node);
        for c in changes {
            match c {
                Change::PolicyPut(p) => file(
                    &mut self.policies,
                    (p.kind.clone(), p.name.clone()),
                    n,
                    true,
                ),
                Change::PolicyDelete { kind, name } => {
                    file(&mut self.policies, (kind.clone(), name.clone()), n, false)
                }
                Change::AddressGroupAdd(g) => file(&mut self.address_groups, g.id, n, true),
                Change::AddressGroupDelete { id } => file(&mut self.address_groups, *id, n, false),
                Change::AppliedToGroupAdd(g) => file(&mut self.applied_to_groups, g.id, n, true),
                Change::AppliedToGroupDelete { id } => {
                    file(&mut self.applied_to_groups, *id, n, false)
                }
                Change::PodPut(p) => file(&mut self.pods, p.key.clone(), n, true),
                Change::PodDelete(k) => file(&mut self.pods, k.clone(), n, false),
                Change::AddressGroupPatch(_)
                | Change::AppliedToGroupPatch(_)
                | Change::NodePut(_)
                | Change::NodeDelete { .. }
                | Change::NpLogging(_) => {}
            }
        }
    }

    fn names<'a>(&'a self, s: Option<&'a BTreeSet<NodeNo>>) -> impl Iterator<Item = &'a str> {
        s.into_iter()
            .flatten()
            .map(|n| self.names[*n as usize].as_str())
    }

    /// The nodes holding policy (`kind`, `name`).
    pub fn policy(&self, kind: &str, name: &str) -> impl Iterator<Item = &str> {
        // The map's key is owned; a lookup by borrowed parts needs one.
        self.names(self.policies.get(&(kind.to_string(), name.to_string())))
    }

    /// The nodes holding group `id`, as an address group or as an applied-to group.
    pub fn group(&self, id: u32) -> impl Iterator<Item = &str> {
        self.names(self.address_groups.get(&id))
            .chain(self.names(self.applied_to_groups.get(&id)))
    }

    /// The nodes holding pod `key`.
    pub fn pod(&self, key: &PodKey) -> impl Iterator<Item = &str> {
        self.names(self.pods.get(key))
    }
}
