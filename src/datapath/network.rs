//! A node's place in the cluster network: its gateway, its tunnel, and the other nodes it
//! reaches through the tunnel (pure).
//!
//! The multi-node datapath is Antrea's encap mode on Geneve (`docs/multinode.md`): each node
//! owns pod CIDRs; a packet to a remote node's pod CIDR (or to the remote node's IP, so that
//! a host's replies come back the way its requests went) leaves through the tunnel port with
//! `tun_dst` set to that node's IP; the gateway (`kakine-gw0`, an internal port holding the
//! gateway address) takes everything else to the host, which routes it and masquerades what
//! leaves the cluster.
//!
//! [`NodeNetwork`] is what the compiler needs of it; [`NodeNetwork::for_node`] builds it from
//! the nodes of the cluster model and the ofports the agent read from OVSDB.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use openflow::flow::MacAddr;

use crate::policy::resolved::NodeInfo;

/// The name of the gateway port (an OVS internal port; the host's side of the pod network).
pub const GATEWAY_PORT: &str = "kakine-gw0";
/// The name of the tunnel port (`type=geneve`, `options:remote_ip=flow`, `options:key=flow`).
pub const TUNNEL_PORT: &str = "kakine-tun0";
/// The gateway's MAC address, the same on every node (`0a:6b:6b` = locally administered,
/// "kk"): pods address routed packets to it, and a packet that crosses the tunnel carries it
/// as its destination, so the receiving node knows it was routed (Antrea's global virtual
/// MAC plays that part). It never leaves a node: gateways are internal ports.
pub const GATEWAY_MAC: MacAddr = MacAddr([0x0a, 0x6b, 0x6b, 0x00, 0x00, 0x01]);
/// The MTU of a pod interface under Geneve: 1500 less the 50 bytes of outer Ethernet, IPv4,
/// UDP and Geneve headers (a full-size pod frame is otherwise dropped on the underlay).
pub const GENEVE_POD_MTU: u16 = 1450;
/// The Geneve UDP port (RFC 8926 §3.3).
pub const GENEVE_UDP_PORT: u16 = 6081;

/// The gateway of a node, as the pipeline sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gateway {
    /// Its address (the first address of the node's pod CIDR unless the model says otherwise).
    pub ip: Ipv4Addr,
    /// Its OpenFlow port.
    pub ofport: u32,
}

/// Another node, reached through the tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteNode {
    /// Node name.
    pub name: String,
    /// Its IP: the tunnel's `tun_dst`.
    pub ip: Ipv4Addr,
    /// Its pod CIDRs.
    pub pod_cidrs: Vec<Ipv4Net>,
    /// Its gateway address: the next hop of the host's routes to its pods.
    pub gateway: Ipv4Addr,
}

/// What the compiler needs to know of the node's network (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeNetwork {
    /// This node's name.
    pub node: String,
    /// This node's IP.
    pub node_ip: Ipv4Addr,
    /// This node's pod CIDRs.
    pub pod_cidrs: Vec<Ipv4Net>,
    /// The gateway port.
    pub gateway: Gateway,
    /// The tunnel's OpenFlow port.
    pub tunnel_ofport: u32,
    /// Every other node that has an IP and a gateway address, in name order.
    pub remotes: Vec<RemoteNode>,
}

/// Why a node's network could not be built from the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// The node is not in the model's `nodes:`.
    #[error("node {0:?} is not in the cluster model's nodes (a multi-node datapath needs its IP and pod CIDR)")]
    UnknownNode(String),
    /// The node has no IP.
    #[error("node {0:?}: no ip in the cluster model (the tunnel endpoint)")]
    NoIp(String),
    /// The node has no pod CIDR and no gateway address.
    #[error("node {0:?}: no podCIDR (nor gatewayIP) in the cluster model (a multi-node datapath routes by it)")]
    NoPodCidr(String),
    /// Two nodes claim overlapping pod CIDRs.
    #[error("nodes {first:?} and {second:?} have overlapping pod CIDRs {a} and {b}")]
    Overlap {
        /// One node.
        first: String,
        /// The other.
        second: String,
        /// The first node's CIDR.
        a: Ipv4Net,
        /// The second node's CIDR.
        b: Ipv4Net,
    },
}

impl NodeNetwork {
    /// The network of node `node` among `nodes` (the model's, [`crate::policy::ResolvedPolicies::nodes`]),
    /// with the gateway and tunnel ofports the agent read back from OVSDB.
    ///
    /// Errors: [`NetworkError`] naming the node and the missing or clashing field.
    pub fn for_node(
        nodes: &[NodeInfo],
        node: &str,
        gateway_ofport: u32,
        tunnel_ofport: u32,
    ) -> Result<NodeNetwork, NetworkError> {
        let me = nodes
            .iter()
            .find(|n| n.name == node)
            .ok_or_else(|| NetworkError::UnknownNode(node.to_string()))?;
        let node_ip = me.ip.ok_or_else(|| NetworkError::NoIp(node.to_string()))?;
        // A node without a pod CIDR (no pods yet) still needs a gateway address.
        let gateway_ip = me
            .gateway()
            .ok_or_else(|| NetworkError::NoPodCidr(node.to_string()))?;
        for (i, a) in nodes.iter().enumerate() {
            for b in &nodes[i + 1..] {
                for ca in &a.pod_cidrs {
                    for cb in &b.pod_cidrs {
                        if ca.contains(&cb.network()) || cb.contains(&ca.network()) {
                            return Err(NetworkError::Overlap {
                                first: a.name.clone(),
                                second: b.name.clone(),
                                a: *ca,
                                b: *cb,
                            });
                        }
                    }
                }
            }
        }
        let remotes = nodes
            .iter()
            .filter(|n| n.name != node)
            .filter_map(|n| {
                Some(RemoteNode {
                    name: n.name.clone(),
                    ip: n.ip?,
                    pod_cidrs: n.pod_cidrs.clone(),
                    gateway: n.gateway()?,
                })
            })
            .collect();
        Ok(NodeNetwork {
            node: node.to_string(),
            node_ip,
            pod_cidrs: me.pod_cidrs.clone(),
            gateway: Gateway {
                ip: gateway_ip,
                ofport: gateway_ofport,
            },
            tunnel_ofport,
            remotes,
        })
    }

    /// The node whose pod CIDRs hold `ip`, or whose IP it is; `None` for this node and for
    /// addresses outside the cluster.
    pub fn remote_for(&self, ip: Ipv4Addr) -> Option<&RemoteNode> {
        self.remotes
            .iter()
            .find(|r| r.ip == ip || r.pod_cidrs.iter().any(|c| c.contains(&ip)))
    }
}

/// Whether any node of `nodes` has a pod CIDR: the model asks for the multi-node datapath.
pub fn is_multi_node(nodes: &[NodeInfo]) -> bool {
    nodes.iter().any(|n| !n.pod_cidrs.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, ip: &str, cidr: &str) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            ip: Some(ip.parse().unwrap()),
            pod_cidrs: vec![cidr.parse().unwrap()],
            gateway_ip: None,
        }
    }

    #[test]
    fn the_gateway_is_the_first_address_of_the_pod_cidr_and_other_nodes_are_remotes() {
        let nodes = [
            node("a", "192.168.77.1", "10.10.1.0/24"),
            node("b", "192.168.77.2", "10.10.2.0/24"),
        ];
        let n = NodeNetwork::for_node(&nodes, "a", 2, 3).unwrap();
        assert_eq!(n.gateway.ip, Ipv4Addr::new(10, 10, 1, 1));
        assert_eq!(n.remotes.len(), 1);
        assert_eq!(
            n.remote_for("10.10.2.9".parse().unwrap()).unwrap().name,
            "b"
        );
        assert_eq!(
            n.remote_for("192.168.77.2".parse().unwrap()).unwrap().name,
            "b"
        );
        assert!(n.remote_for("10.10.1.9".parse().unwrap()).is_none());
        assert!(n.remote_for("8.8.8.8".parse().unwrap()).is_none());
    }

    #[test]
    fn a_node_without_ip_or_cidr_and_overlapping_cidrs_are_refused() {
        let mut nodes = vec![node("a", "192.168.77.1", "10.10.1.0/24")];
        assert_eq!(
            NodeNetwork::for_node(&nodes, "x", 2, 3),
            Err(NetworkError::UnknownNode("x".into()))
        );
        nodes[0].ip = None;
        assert_eq!(
            NodeNetwork::for_node(&nodes, "a", 2, 3),
            Err(NetworkError::NoIp("a".into()))
        );
        nodes[0].ip = Some("192.168.77.1".parse().unwrap());
        nodes.push(node("b", "192.168.77.2", "10.10.0.0/16"));
        assert!(matches!(
            NodeNetwork::for_node(&nodes, "a", 2, 3),
            Err(NetworkError::Overlap { .. })
        ));
    }
}
