//! From the index to what the compiler and the reference evaluator consume: the
//! [`ResolvedPolicies`] of the whole cluster, or of one node's view.
//!
//! A node's view (Antrea's agent receives the same): the policies whose span holds the node;
//! their applied-to groups with only the node's members; their address groups whole; the pods
//! the node needs (its own and the members of those address groups); nothing else. Member sets
//! are shared: a rule whose applied-to or peers are one group holds that group's set (`Arc`),
//! built once per derivation.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::index::{GroupId, PodId};
use super::state::{address_groups, Grouping};
use super::translate::{InternalPeers, InternalPolicy, InternalRule};
use crate::policy::model::{Cluster, Pod};
use crate::policy::resolve::order;
use crate::policy::resolved::{
    Direction, Isolation, NodeInfo, Peers, PodInfo, PodKey, PodSet, ResolvedPolicies, ResolvedRule,
    Service,
};

/// Member sets built once per derivation.
struct Sets<'g> {
    g: &'g Grouping,
    node: Option<&'g str>,
    /// Whole groups (peers).
    whole: HashMap<GroupId, PodSet>,
    /// Groups restricted to the node (applied-to in a view).
    local: HashMap<GroupId, PodSet>,
}

impl<'g> Sets<'g> {
    fn keys(&self, g: GroupId, node: Option<&str>) -> BTreeSet<PodKey> {
        self.g
            .index
            .members(g)
            .filter_map(|p| self.g.index.pod_by_id(p))
            .filter(|e| node.is_none_or(|n| on_node(e.pod.node.as_deref(), n)))
            .map(|e| e.key.clone())
            .collect()
    }

    fn whole(&mut self, g: GroupId) -> PodSet {
        if let Some(s) = self.whole.get(&g) {
            return s.clone();
        }
        let s = Arc::new(self.keys(g, None));
        self.whole.insert(g, s.clone());
        s
    }

    /// Applied-to members: the node's only, in a view.
    fn applied(&mut self, g: GroupId) -> PodSet {
        if self.node.is_none() {
            return self.whole(g);
        }
        if let Some(s) = self.local.get(&g) {
            return s.clone();
        }
        let s = Arc::new(self.keys(g, self.node));
        self.local.insert(g, s.clone());
        s
    }

    /// The union of groups: the shared set itself when there is one group.
    fn union(&mut self, groups: &[GroupId], applied: bool) -> PodSet {
        let mut sets = groups.iter().map(|g| {
            if applied {
                self.applied(*g)
            } else {
                self.whole(*g)
            }
        });
        match groups.len() {
            0 => Arc::new(BTreeSet::new()),
            1 => sets.next().expect("one group"),
            _ => Arc::new(
                sets.flat_map(|s| s.iter().cloned().collect::<Vec<_>>())
                    .collect(),
            ),
        }
    }

    fn rule(&mut self, r: &InternalRule) -> ResolvedRule {
        let mut applied_to = self.union(&r.applied_to, true);
        if let Some(ns) = &r.namespace_part {
            applied_to = Arc::new(
                applied_to
                    .iter()
                    .filter(|k| k.namespace == *ns)
                    .cloned()
                    .collect(),
            );
        }
        let peers = match &r.peers {
            InternalPeers::Any => Peers::Any,
            InternalPeers::Set {
                groups,
                ip_blocks,
                nodes,
            } => Peers::Set {
                pods: self.union(groups, false),
                ip_blocks: ip_blocks.clone(),
                node_ips: node_ips(self.g, nodes),
            },
        };
        ResolvedRule {
            id: r.id.clone(),
            stage: r.stage,
            policy_priority: r.policy_priority,
            rule_index: r.rule_index,
            direction: r.direction,
            action: r.action,
            applied_to,
            peers,
            services: r.services.clone(),
            enable_logging: r.enable_logging,
            log_label: r.log_label.clone(),
            staged: r.staged,
        }
    }
}

/// The pod as the compiler and evaluator see it; `node_ip` is its node's address when the
/// model gives one.
pub fn pod_info(pod: &Pod, node_ip: Option<std::net::Ipv4Addr>) -> PodInfo {
    PodInfo {
        node_ip,
        host_network: pod.host_network,
        key: PodKey {
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
        },
        ip: pod.ip,
        ipv6: pod.ipv6,
        mac: pod.mac,
        node: pod.node.clone(),
        named_ports: pod
            .ports
            .iter()
            .filter_map(|port| {
                port.name
                    .as_ref()
                    .map(|n| (n.clone(), port.protocol, port.port))
            })
            .collect(),
        ports: pod.ports.iter().map(|p| (p.protocol, p.port)).collect(),
    }
}

/// The resolved policies of the whole cluster; `pods` in the order of `cluster` when given (the
/// order `kakinectl compile` numbers ports in), else in the index's order. No lint warnings.
pub fn resolved(g: &Grouping, cluster: Option<&Cluster>) -> ResolvedPolicies {
    let (mut out, _) = derive(g, None);
    out.nodes = node_infos(g);
    out.pods = match cluster {
        Some(c) => c.pods.iter().map(|p| pod_info(p, node_ip(g, p))).collect(),
        None => g
            .index
            .pods()
            .map(|(_, e)| pod_info(&e.pod, node_ip(g, &e.pod)))
            .collect(),
    };
    out
}

/// The view of node `node`: the policies whose span holds it, their applied-to groups with only
/// its members, their address groups whole, and the pods it needs (its own and those address
/// groups' members), in the index's order. A pod without a node is local on every node (the
/// standalone model may leave `node` out).
pub fn view(g: &Grouping, node: &str) -> ResolvedPolicies {
    let (mut out, spanning) = derive(g, Some(node));
    out.nodes = node_infos(g);
    let mut needed: BTreeSet<PodId> = g
        .index
        .pods()
        .filter(|(_, e)| on_node(e.pod.node.as_deref(), node))
        .map(|(id, _)| id)
        .collect();
    let mut named_egress: BTreeSet<&str> = BTreeSet::new();
    for p in spanning {
        for a in address_groups(p) {
            needed.extend(g.index.members(a));
        }
        named_egress.extend(named_egress_ports(p));
    }
    if !named_egress.is_empty() {
        needed.extend(g.index.pods().filter_map(|(id, e)| {
            e.pod
                .ports
                .iter()
                .any(|port| {
                    port.name
                        .as_deref()
                        .is_some_and(|n| named_egress.contains(n))
                })
                .then_some(id)
        }));
    }
    out.pods = needed
        .into_iter()
        .filter_map(|p| g.index.pod_by_id(p))
        .map(|e| pod_info(&e.pod, node_ip(g, &e.pod)))
        .collect();
    out
}

/// The port names of `p`'s egress rules whose peers may be pods of any node without naming
/// them by group: any peer, or an ipBlock / `networks` (a block holds pods wherever they run).
/// A node enforcing such a rule resolves the name on every pod that declares it, wherever it
/// runs (Antrea gives such a rule an address group of all pods for the same reason); a pod of
/// another node left out of the view would miss its flows (a false deny, or a false allow past
/// a Deny).
pub fn named_egress_ports(p: &InternalPolicy) -> impl Iterator<Item = &str> + '_ {
    egress_port_names(p.rules.iter().map(|r| {
        let unnamed_peers = match &r.peers {
            InternalPeers::Any => true,
            InternalPeers::Set { ip_blocks, .. } => !ip_blocks.is_empty(),
        };
        (r.direction, unnamed_peers, r.services.as_deref())
    }))
}

/// The rule of [`named_egress_ports`] over rules given as (direction, whether the peers are
/// any peer or hold an ipBlock, services): shared by the internal policy and the policy as
/// sent to agents (`crate::controlplane`).
pub fn egress_port_names<'a>(
    rules: impl Iterator<Item = (Direction, bool, Option<&'a [Service]>)> + 'a,
) -> impl Iterator<Item = &'a str> + 'a {
    rules
        .filter(|(direction, unnamed_peers, _)| *direction == Direction::Egress && *unnamed_peers)
        .flat_map(|(_, _, services)| services.into_iter().flatten())
        .filter_map(|svc| match &svc.port {
            crate::policy::resolved::PortMatch::Named(n) => Some(n.as_str()),
            _ => None,
        })
}

/// Whether a pod with node `pod_node` is local on `node`: it runs there, or it names no node
/// (local everywhere).
pub fn on_node(pod_node: Option<&str>, node: &str) -> bool {
    pod_node.is_none_or(|n| n == node)
}

/// Every node of the model, in name order (a view needs them all: every node's pod CIDRs
/// are routes).
fn node_infos(g: &Grouping) -> Vec<NodeInfo> {
    g.nodes
        .values()
        .map(|n| NodeInfo {
            name: n.name.clone(),
            ip: n.ip,
            pod_cidrs: n.all_pod_cidrs(),
            gateway_ip: n.gateway_ip,
        })
        .collect()
}

/// The IP of the node a pod runs on, when the model gives both.
fn node_ip(g: &Grouping, pod: &Pod) -> Option<std::net::Ipv4Addr> {
    g.nodes.get(pod.node.as_ref()?)?.ip
}

/// The resolved rules of the policies whose span holds `node` (all with `None`), and those
/// policies.
fn derive<'g>(g: &'g Grouping, node: Option<&str>) -> (ResolvedPolicies, Vec<&'g InternalPolicy>) {
    let mut sets = Sets {
        g,
        node,
        whole: HashMap::new(),
        local: HashMap::new(),
    };
    let mut out = ResolvedPolicies::default();
    let mut isolating_groups: BTreeSet<(Direction, u32)> = BTreeSet::new();
    let mut spanning = Vec::new();
    for (key, p) in &g.policies {
        if let Some(n) = node {
            if !g.policy_spans(p, n) {
                continue;
            }
        }
        spanning.push(p);
        for r in &p.rules {
            out.rules.push(sets.rule(r));
        }
        for (direction, groups) in [
            (Direction::Ingress, &p.isolates_ingress),
            (Direction::Egress, &p.isolates_egress),
        ] {
            for i in groups {
                let pods = sets.applied(*i);
                let first = isolating_groups.insert((direction, i.0));
                isolate(&mut out, direction, &key.name, pods, first);
            }
        }
    }
    // Policies are visited in key order; `order` then gives the precedence order, and the
    // stable sort keeps a rule's namespace parts in namespace order.
    out.rules.sort_by(order);
    out.np_logging = g
        .index
        .namespace_objects()
        .into_iter()
        .filter(|n| n.np_logging())
        .map(|n| n.name.clone())
        .collect();
    (out, spanning)
}

/// The IPs of the nodes that any of `selectors` matches (a rule's node peers).
pub fn node_ips(
    g: &Grouping,
    selectors: &[crate::policy::selector::LabelSelector],
) -> BTreeSet<std::net::Ipv4Addr> {
    g.nodes
        .values()
        .filter(|n| selectors.iter().any(|s| s.matches(&n.labels)))
        .filter_map(|n| n.ip)
        .collect()
}

/// Records that `policy` isolates `pods` in `direction`; `first` when no policy before
/// isolated the same group in that direction (a group isolated by many policies, 10k policies
/// of one selector, is added to the isolated set once).
pub fn isolate(
    out: &mut ResolvedPolicies,
    direction: Direction,
    policy: &str,
    pods: PodSet,
    first: bool,
) {
    if first {
        match direction {
            Direction::Ingress => out.isolated_ingress.extend(pods.iter().cloned()),
            Direction::Egress => out.isolated_egress.extend(pods.iter().cloned()),
        }
    }
    out.isolated_by.push(Isolation {
        direction,
        policy: policy.to_string(),
        pods,
    });
}
