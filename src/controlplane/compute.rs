//! A node's span from the grouping: [`Spans`] computes the [`NodeObjects`] of any node of the
//! [`Grouping`] from its reverse indexes (the groups with a member on the node, the policies
//! applied to each group, the pods of the node, the pods declaring a named port), never by a
//! pass over every pod or policy; what nodes share (wire policies, address groups' member
//! sets, pods, nodes) is built once and shared. The fan-out keeps one `Spans` from batch to
//! batch and [`Spans::refresh`]es only what a batch touched; a node's span is built whole once
//! ([`Spans::node`]) and then patched for what each batch touched ([`Spans::patch`]).
//!
//! The objects are those of [`crate::grouping::derive::view`]: the policies whose span holds
//! the node; their applied-to groups with only the node's members; their address groups whole;
//! the pods the node needs (its own, the address groups' members, and the pods declaring a
//! port named by an egress rule to any peer or to an ipBlock:
//! [`crate::grouping::derive::named_egress_ports`]); every node.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

mod patch;

pub use patch::Candidates;

use super::message::{WirePeers, WirePolicy, WireRule};
use super::objects::{Members, NodeObjects};
use super::touched::Touched;
use crate::grouping::derive::{named_egress_ports, node_ips, pod_info};
use crate::grouping::index::ANY_NODE;
use crate::grouping::state::{address_groups, applied_groups};
use crate::grouping::{GroupId, Grouping, InternalPeers, InternalPolicy, PodId, PolicyKey};
use crate::policy::resolved::{NodeInfo, PodInfo, PodKey};

/// Shared objects of the spans of a grouping; see the module documentation.
#[derive(Default)]
pub struct Spans {
    policies: HashMap<PolicyKey, Arc<WirePolicy>>,
    whole: HashMap<GroupId, Members>,
    pods: HashMap<PodKey, Arc<PodInfo>>,
    nodes: BTreeMap<String, Arc<NodeInfo>>,
    np_logging: BTreeSet<String>,
    /// Applied-to groups' members by node, for the current batch.
    local: HashMap<GroupId, HashMap<String, Members>>,
    /// Address groups' member changes from a held version (kept alive here) to the current
    /// one, for the current batch ([`Spans::patch`]).
    moves: HashMap<(u32, usize), (Members, Arc<patch::Move>)>,
}

impl Spans {
    /// The spans of `g`, nothing built yet but the nodes.
    pub fn new(g: &Grouping) -> Self {
        let mut s = Spans::default();
        s.refresh(g, &Touched::everything());
        s
    }

    /// Forgets what a batch applied to `g` touched ([`Touched`]): its policies and their
    /// groups, its groups, its pods; everything for a batch that touched every node (then the
    /// nodes and the np_logging namespaces again: one pass over nodes and namespaces).
    pub fn refresh(&mut self, g: &Grouping, touched: &Touched) {
        self.local.clear();
        self.moves.clear();
        if touched.all {
            *self = Spans {
                nodes: g
                    .nodes
                    .values()
                    .map(|n| {
                        let info = NodeInfo {
                            name: n.name.clone(),
                            ip: n.ip,
                            pod_cidrs: n.all_pod_cidrs(),
                            gateway_ip: n.gateway_ip,
                        };
                        (n.name.clone(), Arc::new(info))
                    })
                    .collect(),
                np_logging: g
                    .index
                    .namespace_objects()
                    .into_iter()
                    .filter(|n| n.np_logging())
                    .map(|n| n.name.clone())
                    .collect(),
                ..Spans::default()
            };
            return;
        }
        for k in &touched.policies {
            self.policies.remove(k);
            // A group released and acquired again in the batch may come back under the same
            // id with other members: the touched policies' groups are built again.
            if let Some(p) = g.policies.get(k) {
                for a in address_groups(p) {
                    self.whole.remove(&a);
                }
            }
        }
        for a in &touched.groups {
            self.whole.remove(a);
        }
        for k in &touched.pods {
            self.pods.remove(k);
        }
    }

    /// The nodes an agent may be running on: the model's nodes and those pods name.
    pub fn node_names(&self, g: &Grouping) -> BTreeSet<String> {
        self.nodes
            .keys()
            .cloned()
            .chain(
                g.index
                    .pod_nodes()
                    .filter(|n| *n != ANY_NODE)
                    .map(str::to_string),
            )
            .collect()
    }

    fn wire(&mut self, g: &Grouping, key: &PolicyKey, p: &InternalPolicy) -> Arc<WirePolicy> {
        if let Some(w) = self.policies.get(key) {
            return w.clone();
        }
        let w = Arc::new(WirePolicy {
            kind: key.kind.to_string(),
            name: key.name.clone(),
            rules: p
                .rules
                .iter()
                .map(|r| WireRule {
                    id: r.id.clone(),
                    stage: r.stage,
                    policy_priority: r.policy_priority,
                    rule_index: r.rule_index,
                    direction: r.direction,
                    action: r.action,
                    applied_to: r.applied_to.iter().map(|g| g.0).collect(),
                    namespace_part: r.namespace_part.clone(),
                    peers: match &r.peers {
                        InternalPeers::Any => WirePeers::Any,
                        InternalPeers::Set {
                            groups,
                            ip_blocks,
                            nodes,
                        } => WirePeers::Set {
                            groups: groups.iter().map(|g| g.0).collect(),
                            ip_blocks: ip_blocks.clone(),
                            node_ips: node_ips(g, nodes),
                        },
                    },
                    services: r.services.clone(),
                    enable_logging: r.enable_logging,
                    log_label: r.log_label.clone(),
                    staged: r.staged,
                })
                .collect(),
            isolates_ingress: p.isolates_ingress.iter().map(|g| g.0).collect(),
            isolates_egress: p.isolates_egress.iter().map(|g| g.0).collect(),
        });
        self.policies.insert(key.clone(), w.clone());
        w
    }

    fn whole(&mut self, g: &Grouping, a: GroupId) -> Members {
        self.whole
            .entry(a)
            .or_insert_with(|| Arc::new(g.index.member_keys(a)))
            .clone()
    }

    /// The members of applied-to group `a` local on `node` (those on no node included),
    /// bucketed by node once per batch.
    fn local(&mut self, g: &Grouping, a: GroupId, node: &str) -> Members {
        let by_node = self.local.entry(a).or_insert_with(|| {
            let mut by_node: HashMap<String, BTreeSet<PodKey>> = HashMap::new();
            let mut anywhere = Vec::new();
            for e in g.index.members(a).filter_map(|m| g.index.pod_by_id(m)) {
                match e.pod.node.as_deref() {
                    Some(n) => {
                        by_node
                            .entry(n.to_string())
                            .or_default()
                            .insert(e.key.clone());
                    }
                    None => anywhere.push(e.key.clone()),
                }
            }
            let mut out: HashMap<String, Members> = by_node
                .into_iter()
                .map(|(n, mut s)| {
                    s.extend(anywhere.iter().cloned());
                    (n, Arc::new(s))
                })
                .collect();
            out.insert(
                ANY_NODE.to_string(),
                Arc::new(anywhere.into_iter().collect()),
            );
            out
        });
        by_node
            .get(node)
            .or_else(|| by_node.get(ANY_NODE))
            .cloned()
            .unwrap_or_default()
    }

    fn pod(&mut self, g: &Grouping, id: PodId) -> Option<Arc<PodInfo>> {
        let e = g.index.pod_by_id(id)?;
        if let Some(p) = self.pods.get(&e.key) {
            return Some(p.clone());
        }
        let node_ip = e
            .pod
            .node
            .as_ref()
            .and_then(|n| g.nodes.get(n))
            .and_then(|n| n.ip);
        let p = Arc::new(pod_info(&e.pod, node_ip));
        self.pods.insert(e.key.clone(), p.clone());
        Some(p)
    }

    /// The span of node `node`, built whole (the fan-out builds a node's span whole when the
    /// node is new or a batch touched every node, and patches it otherwise:
    /// [`Spans::patch`]).
    pub fn node(&mut self, g: &Grouping, node: &str) -> NodeObjects {
        let mut out = NodeObjects {
            nodes: self.nodes.clone(),
            np_logging: self.np_logging.clone(),
            ..NodeObjects::default()
        };
        let mut needed: BTreeSet<PodId> = BTreeSet::new();
        // The node's policies: those applied to a group with a member on the node (or on no
        // node), in key order as the grouping visits them.
        let mut keys: BTreeSet<&PolicyKey> = BTreeSet::new();
        for n in [node, ANY_NODE] {
            needed.extend(g.index.pods_on(n));
            for a in g.index.groups_on(n) {
                keys.extend(g.users.applied(a));
            }
        }
        let mut named: BTreeSet<&str> = BTreeSet::new();
        for key in keys {
            let Some(p) = g.policies.get(key) else {
                continue;
            };
            let w = self.wire(g, key, p);
            out.policies
                .insert((w.kind.clone(), w.name.clone()), w.clone());
            for a in applied_groups(p) {
                if let std::collections::btree_map::Entry::Vacant(e) =
                    out.applied_to_groups.entry(a.0)
                {
                    e.insert(self.local(g, a, node));
                }
            }
            for a in address_groups(p) {
                if let std::collections::btree_map::Entry::Vacant(e) = out.address_groups.entry(a.0)
                {
                    e.insert(self.whole(g, a));
                    needed.extend(g.index.members(a));
                }
            }
            named.extend(named_egress_ports(p));
        }
        for n in named {
            needed.extend(g.index.pods_with_port(n));
        }
        for id in needed {
            if let Some(p) = self.pod(g, id) {
                out.pods.insert(p.key.clone(), p);
            }
        }
        out
    }
}
