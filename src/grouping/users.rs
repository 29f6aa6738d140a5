//! [`PolicyUsers`]: which policies use each group (as applied-to, as address group) and which
//! name each egress port name; kept by [`super::Grouping`] as it translates and drops
//! policies, so that the policies a group or a pod touches are found without a pass over every
//! policy (the reverse of Antrea's `appliedToGroupStore` / `addressGroupStore` indexes by
//! policy).

use std::collections::{BTreeSet, HashMap};

use super::derive::named_egress_ports;
use super::index::GroupId;
use super::multimap::file;
use super::state::{address_groups, applied_groups, PolicyKey};
use super::translate::InternalPolicy;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct PolicyUsers {
    applied: HashMap<GroupId, BTreeSet<PolicyKey>>,
    address: HashMap<GroupId, BTreeSet<PolicyKey>>,
    named_ports: HashMap<String, BTreeSet<PolicyKey>>,
}

impl PolicyUsers {
    /// Files (`add`) or unfiles policy `key` under its groups and named egress ports.
    pub(super) fn update(&mut self, key: &PolicyKey, p: &InternalPolicy, add: bool) {
        for g in applied_groups(p) {
            file(&mut self.applied, g, key.clone(), add);
        }
        for g in address_groups(p) {
            file(&mut self.address, g, key.clone(), add);
        }
        for n in named_egress_ports(p) {
            file(&mut self.named_ports, n.to_string(), key.clone(), add);
        }
    }

    /// The policies applied to group `g` (by a rule or by isolation).
    pub fn applied(&self, g: GroupId) -> impl Iterator<Item = &PolicyKey> {
        self.applied.get(&g).into_iter().flatten()
    }

    /// The policies with `g` as an address group.
    pub fn address(&self, g: GroupId) -> impl Iterator<Item = &PolicyKey> {
        self.address.get(&g).into_iter().flatten()
    }

    /// The policies whose egress rules to any peer or to an ipBlock name port `name`
    /// ([`named_egress_ports`]).
    pub fn named_port(&self, name: &str) -> impl Iterator<Item = &PolicyKey> {
        self.named_ports.get(name).into_iter().flatten()
    }
}
