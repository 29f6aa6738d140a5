//! A node's span from the grouping: [`Spans`] computes the [`NodeObjects`] of any node of one
//! state of the [`Grouping`], sharing what nodes have in common (wire policies, address
//! groups' member sets, pods, nodes) across the nodes of one batch.
//!
//! The objects are those of [`crate::grouping::derive::view`]: the policies whose span holds
//! the node; their applied-to groups with only the node's members; their address groups whole;
//! the pods the node needs (its own, the address groups' members, and the pods declaring a
//! port named by an egress rule to any peer or to an ipBlock:
//! [`crate::grouping::derive::named_egress_ports`]); every node.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::message::{WirePeers, WirePolicy, WireRule};
use super::objects::{Members, NodeObjects};
use crate::grouping::derive::{node_ips, on_node, pod_info};
use crate::grouping::index::ANY_NODE;
use crate::grouping::state::{address_groups, applied_groups};
use crate::grouping::{GroupId, Grouping, InternalPeers, InternalPolicy, PodId, PolicyKey};
use crate::policy::resolved::{NodeInfo, PodInfo};

/// The spans of one state of a grouping; see the module documentation.
pub struct Spans<'g> {
    g: &'g Grouping,
    policies: HashMap<&'g PolicyKey, Arc<WirePolicy>>,
    whole: HashMap<GroupId, Members>,
    pods: HashMap<PodId, Arc<PodInfo>>,
    nodes: BTreeMap<String, Arc<NodeInfo>>,
    /// Pods by node name ([`ANY_NODE`] for those without one).
    pods_by_node: HashMap<&'g str, Vec<PodId>>,
    /// The policies whose span holds each node, and those with a member on no node (in every
    /// node's span): one pass over the policies' applied-to groups, not one per node.
    by_node: HashMap<&'g str, Vec<&'g PolicyKey>>,
    everywhere: Vec<&'g PolicyKey>,
    /// Port names of egress rules to any peer, per policy (their pods are needed).
    named_egress: HashMap<&'g PolicyKey, BTreeSet<&'g str>>,
    np_logging: BTreeSet<String>,
}

impl<'g> Spans<'g> {
    /// Prepares the spans of `g` (one pass over pods and nodes).
    pub fn new(g: &'g Grouping) -> Self {
        let mut pods_by_node: HashMap<&str, Vec<PodId>> = HashMap::new();
        for (id, e) in g.index.pods() {
            pods_by_node
                .entry(e.pod.node.as_deref().unwrap_or(ANY_NODE))
                .or_default()
                .push(id);
        }
        let nodes = g
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
            .collect();
        let named_egress = g
            .policies
            .iter()
            .filter_map(|(k, p)| {
                let names: BTreeSet<&str> =
                    crate::grouping::derive::named_egress_ports(p).collect();
                (!names.is_empty()).then_some((k, names))
            })
            .collect();
        let mut by_node: HashMap<&str, Vec<&PolicyKey>> = HashMap::new();
        let mut everywhere = Vec::new();
        for (k, p) in &g.policies {
            let mut nodes: BTreeSet<&str> = BTreeSet::new();
            for a in applied_groups(p) {
                if let Some(n) = g.index.group_nodes(a) {
                    nodes.extend(n.keys().map(String::as_str));
                }
            }
            if nodes.contains(ANY_NODE) {
                everywhere.push(k);
            } else {
                for n in nodes {
                    by_node.entry(n).or_default().push(k);
                }
            }
        }
        Spans {
            g,
            by_node,
            everywhere,
            policies: HashMap::new(),
            whole: HashMap::new(),
            pods: HashMap::new(),
            nodes,
            pods_by_node,
            named_egress,
            np_logging: g
                .index
                .namespace_objects()
                .into_iter()
                .filter(|n| n.np_logging())
                .map(|n| n.name.clone())
                .collect(),
        }
    }

    /// The nodes an agent may be running on: the model's nodes and those pods name.
    pub fn node_names(&self) -> BTreeSet<String> {
        self.nodes
            .keys()
            .cloned()
            .chain(
                self.pods_by_node
                    .keys()
                    .filter(|n| **n != ANY_NODE)
                    .map(|n| n.to_string()),
            )
            .collect()
    }

    fn wire(&mut self, key: &'g PolicyKey, p: &'g InternalPolicy) -> Arc<WirePolicy> {
        if let Some(w) = self.policies.get(key) {
            return w.clone();
        }
        let g = self.g;
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
        self.policies.insert(key, w.clone());
        w
    }

    fn whole(&mut self, g: GroupId) -> Members {
        if let Some(m) = self.whole.get(&g) {
            return m.clone();
        }
        let m = Arc::new(self.g.index.member_keys(g));
        self.whole.insert(g, m.clone());
        m
    }

    fn pod(&mut self, id: PodId) -> Option<Arc<PodInfo>> {
        if let Some(p) = self.pods.get(&id) {
            return Some(p.clone());
        }
        let e = self.g.index.pod_by_id(id)?;
        let node_ip = e
            .pod
            .node
            .as_ref()
            .and_then(|n| self.g.nodes.get(n))
            .and_then(|n| n.ip);
        let p = Arc::new(pod_info(&e.pod, node_ip));
        self.pods.insert(id, p.clone());
        Some(p)
    }

    /// The span of node `node`.
    pub fn node(&mut self, node: &str) -> NodeObjects {
        let g = self.g;
        let mut out = NodeObjects {
            nodes: self.nodes.clone(),
            np_logging: self.np_logging.clone(),
            ..NodeObjects::default()
        };
        let mut needed: BTreeSet<PodId> = BTreeSet::new();
        for n in [node, ANY_NODE] {
            needed.extend(self.pods_by_node.get(n).into_iter().flatten().copied());
        }
        let mut named: BTreeSet<&str> = BTreeSet::new();
        // The node's policies in key order, as the grouping visits them.
        let mut keys: Vec<&PolicyKey> = self
            .by_node
            .get(node)
            .into_iter()
            .flatten()
            .chain(&self.everywhere)
            .copied()
            .collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let Some(p) = g.policies.get(key) else {
                continue;
            };
            let w = self.wire(key, p);
            out.policies
                .insert((w.kind.clone(), w.name.clone()), w.clone());
            for a in applied_groups(p) {
                out.applied_to_groups.entry(a.0).or_insert_with(|| {
                    Arc::new(
                        g.index
                            .members(a)
                            .filter_map(|m| g.index.pod_by_id(m))
                            .filter(|e| on_node(e.pod.node.as_deref(), node))
                            .map(|e| e.key.clone())
                            .collect(),
                    )
                });
            }
            for a in address_groups(p) {
                if let std::collections::btree_map::Entry::Vacant(e) = out.address_groups.entry(a.0)
                {
                    e.insert(self.whole(a));
                    needed.extend(g.index.members(a));
                }
            }
            if let Some(n) = self.named_egress.get(key) {
                named.extend(n.iter().copied());
            }
        }
        if !named.is_empty() {
            needed.extend(g.index.pods().filter_map(|(id, e)| {
                e.pod
                    .ports
                    .iter()
                    .any(|port| port.name.as_deref().is_some_and(|n| named.contains(n)))
                    .then_some(id)
            }));
        }
        for id in needed {
            if let Some(p) = self.pod(id) {
                out.pods.insert(p.key.clone(), p);
            }
        }
        out
    }
}
