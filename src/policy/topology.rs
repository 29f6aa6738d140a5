//! Checks of the cluster model's topology: which node a pod runs on and which node owns which
//! pod addresses. A multi-node datapath routes a remote pod's address to the node whose pod
//! CIDR holds it (`docs/multinode.md`), so:
//!
//! - a pod's `node` must be one of the model's `nodes` when that list is given (errors);
//! - two nodes' pod CIDRs (`podCIDR`, `podCIDRs`; Kubernetes `Node.spec.podCIDR(s)`) must not
//!   overlap: an address would belong to both (errors; the agent's
//!   [`crate::datapath::network::NetworkError::Overlap`] at run time);
//! - a pod's IPv4 address should lie in its node's pod CIDR: outside every node's, the other
//!   nodes cannot route to it; inside another node's, they route it to that node (warnings);
//! - in a model of several nodes, a node hosting pods should declare a pod CIDR: the other
//!   nodes route only pod CIDRs to it (a warning).
//!
//! Costs: O(c log c) for c pod CIDRs, and per pod one hash lookup per distinct prefix length
//! (at most 33): nothing pairwise.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::model::Cluster;
use super::sanity::Problem;

/// At most this many node names are listed in a message (then "... (N nodes)").
const LISTED_NODES: usize = 10;

/// One pod CIDR as written: the node's index, the field path, the CIDR.
struct Entry {
    node: usize,
    field: String,
    net: Ipv4Net,
}

/// Every pod CIDR of every node, each node's repeats dropped, with its field path
/// (`nodes[i].podCIDR`, `nodes[i].podCIDRs[k]`), in model order.
fn entries(cluster: &Cluster) -> Vec<Entry> {
    let mut out = Vec::new();
    for (i, node) in cluster.nodes.iter().enumerate() {
        let mut seen = BTreeSet::new();
        let written = node
            .pod_cidr
            .iter()
            .map(|c| (format!("nodes[{i}].podCIDR"), *c))
            .chain(
                node.pod_cidrs
                    .iter()
                    .enumerate()
                    .map(|(k, c)| (format!("nodes[{i}].podCIDRs[{k}]"), *c)),
            );
        for (field, net) in written {
            let net = net.trunc();
            if seen.insert(net) {
                out.push(Entry {
                    node: i,
                    field,
                    net,
                });
            }
        }
    }
    out
}

/// The errors: pods on nodes the model's non-empty `nodes` list lacks, and pod CIDRs of two
/// nodes that overlap (each CIDR inside another node's named once, at the later node's field);
/// pods first, in model order.
pub fn problems(cluster: &Cluster) -> Vec<Problem> {
    let mut out = unknown_nodes(cluster);
    out.extend(overlaps(cluster));
    out
}

fn unknown_nodes(cluster: &Cluster) -> Vec<Problem> {
    if cluster.nodes.is_empty() {
        return Vec::new();
    }
    let names: BTreeSet<&str> = cluster.nodes.iter().map(|n| n.name.as_str()).collect();
    let mut known: Vec<&str> = cluster.nodes.iter().map(|n| n.name.as_str()).collect();
    known.dedup();
    let listed = if known.len() > LISTED_NODES {
        format!(
            "{}, ... ({} nodes)",
            known[..LISTED_NODES].join(", "),
            known.len()
        )
    } else {
        known.join(", ")
    };
    let mut out = Vec::new();
    for (i, pod) in cluster.pods.iter().enumerate() {
        if let Some(node) = pod.node.as_deref().filter(|n| !names.contains(n)) {
            out.push((
                format!("pods[{i}].node"),
                format!(
                    "pod {}/{}: node {node:?} is not in the cluster model's nodes (its nodes: {listed})",
                    pod.namespace, pod.name
                ),
            ));
        }
    }
    out
}

/// Pod CIDRs nest or are disjoint: sorted by first address, then widest first, the CIDRs that
/// hold the current one are exactly a stack of enclosing ones (at most 33 deep).
fn overlaps(cluster: &Cluster) -> Vec<Problem> {
    let mut all = entries(cluster);
    all.sort_by_key(|e| (e.net.network(), e.net.prefix_len(), e.node));
    let mut stack: Vec<&Entry> = Vec::new();
    let mut found: Vec<(usize, Problem)> = Vec::new();
    for e in &all {
        while stack
            .last()
            .is_some_and(|top| !top.net.contains(&e.net.network()))
        {
            stack.pop();
        }
        if let Some(other) = stack.iter().rev().find(|s| s.node != e.node) {
            let (first, second) = if other.node < e.node {
                (*other, e)
            } else {
                (e, *other)
            };
            found.push((
                second.node,
                (
                    second.field.clone(),
                    format!(
                        "nodes {:?} and {:?} have overlapping pod CIDRs {} and {} (a pod CIDR \
                         belongs to one node: the others route its addresses to that node)",
                        cluster.nodes[first.node].name,
                        cluster.nodes[second.node].name,
                        first.net,
                        second.net
                    ),
                ),
            ));
        }
        stack.push(e);
    }
    found.sort_by(|a, b| (a.0, &a.1 .0).cmp(&(b.0, &b.1 .0)));
    found.into_iter().map(|(_, p)| p).collect()
}

/// The warnings: a pod without a `node` in a model of several nodes (field `pods[i].node`:
/// every node's agent takes it as its own, so it can be attached on several nodes); a node of
/// such a model hosting pods without a pod CIDR (field `nodes[i].podCIDR`: no other node can
/// route to its pods); a pod whose
/// IPv4 address is outside every node's pod CIDR, or inside another node's and not its own's,
/// when nodes declare pod CIDRs (field `pods[i].ip`); host-network pods (whose IP is their
/// node's) are not checked. In pod order.
pub fn warnings(cluster: &Cluster) -> Vec<Problem> {
    let mut out = Vec::new();
    if cluster.nodes.len() > 1 {
        for (i, pod) in cluster.pods.iter().enumerate() {
            if pod.node.is_none() && !pod.host_network {
                out.push((
                    format!("pods[{i}].node"),
                    format!(
                        "pod {}/{}: no node in a model of {} nodes: every node's agent takes it \
                         as its own (give it its node)",
                        pod.namespace,
                        pod.name,
                        cluster.nodes.len()
                    ),
                ));
            }
        }
        // A node hosting pods without a pod CIDR: the other nodes have no route to its pods.
        let hosting: BTreeSet<&str> = cluster
            .pods
            .iter()
            .filter(|p| !p.host_network)
            .filter_map(|p| p.node.as_deref())
            .collect();
        for (i, node) in cluster.nodes.iter().enumerate() {
            if node.all_pod_cidrs().is_empty() && hosting.contains(node.name.as_str()) {
                out.push((
                    format!("nodes[{i}].podCIDR"),
                    format!(
                        "node {}: no podCIDR in a model of {} nodes: the other nodes have no \
                         route to its pods (traffic to them from another node is dropped)",
                        node.name,
                        cluster.nodes.len()
                    ),
                ));
            }
        }
    }
    out.extend(address_warnings(cluster));
    out
}

fn address_warnings(cluster: &Cluster) -> Vec<Problem> {
    let all = entries(cluster);
    if all.is_empty() {
        return Vec::new();
    }
    let mut owner: HashMap<Ipv4Net, usize> = HashMap::new();
    let mut lengths: BTreeSet<u8> = BTreeSet::new();
    for e in &all {
        owner.entry(e.net).or_insert(e.node);
        lengths.insert(e.net.prefix_len());
    }
    let index: HashMap<&str, usize> = cluster
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    // The CIDR (and its node) holding `ip`, the narrowest first.
    let holder = |ip: Ipv4Addr| {
        lengths.iter().rev().find_map(|len| {
            let net = Ipv4Net::new(ip, *len).ok()?.trunc();
            owner.get(&net).map(|n| (net, *n))
        })
    };
    let mut out = Vec::new();
    for (i, pod) in cluster.pods.iter().enumerate() {
        if pod.host_network {
            continue;
        }
        let own = pod.node.as_deref().and_then(|n| index.get(n).copied());
        let in_own = own.is_some_and(|n| {
            cluster.nodes[n]
                .all_pod_cidrs()
                .iter()
                .any(|c| c.contains(&pod.ip))
        });
        if in_own {
            continue;
        }
        let key = format!("{}/{}", pod.namespace, pod.name);
        let message = match (holder(pod.ip), own) {
            (None, _) => format!(
                "pod {key}: IP {} is outside every node's pod CIDR: other nodes cannot route to it",
                pod.ip
            ),
            (Some((net, n)), Some(o)) if o != n => format!(
                "pod {key}: IP {} is in node {:?}'s pod CIDR {net}, not in that of its node {:?}: \
                 other nodes route it to {:?}",
                pod.ip, cluster.nodes[n].name, cluster.nodes[o].name, cluster.nodes[n].name
            ),
            _ => continue,
        };
        out.push((format!("pods[{i}].ip"), message));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::model::Node;
    use proptest::prelude::*;

    fn node(name: String, pod_cidrs: Vec<Ipv4Net>) -> Node {
        Node {
            name,
            ip: None,
            labels: Default::default(),
            pod_cidr: None,
            pod_cidrs,
            gateway_ip: None,
        }
    }

    /// Small CIDRs inside 10.0.0.0/20, so that they often nest or repeat.
    fn cidr() -> impl Strategy<Value = Ipv4Net> {
        (0u32..4096, 20u8..=28).prop_map(|(host, len)| {
            Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + host), len)
                .expect("a valid prefix length")
                .trunc()
        })
    }

    proptest! {
        /// The sweep names exactly the nodes that comparing every pair of CIDRs of two nodes
        /// finds overlapping.
        #[test]
        fn the_sweep_finds_the_nodes_comparing_every_pair_finds(
            cidrs in proptest::collection::vec(proptest::collection::vec(cidr(), 0..4), 1..8)
        ) {
            let cluster = Cluster {
                nodes: cidrs
                    .iter()
                    .enumerate()
                    .map(|(i, c)| node(format!("n{i}"), c.clone()))
                    .collect(),
                ..Cluster::default()
            };
            let mut pairwise = BTreeSet::new();
            for (i, a) in cidrs.iter().enumerate() {
                for (j, b) in cidrs.iter().enumerate().skip(i + 1) {
                    let clash = a.iter().any(|x| {
                        b.iter().any(|y| x.contains(&y.network()) || y.contains(&x.network()))
                    });
                    if clash {
                        pairwise.insert(format!("\"n{i}\""));
                        pairwise.insert(format!("\"n{j}\""));
                    }
                }
            }
            let mut swept = BTreeSet::new();
            for (_, message) in problems(&cluster) {
                let names = message
                    .strip_prefix("nodes ")
                    .and_then(|m| m.split(" have").next())
                    .expect("the message names the nodes");
                for n in names.split(" and ") {
                    swept.insert(n.to_string());
                }
            }
            prop_assert_eq!(swept, pairwise);
        }
    }
}
