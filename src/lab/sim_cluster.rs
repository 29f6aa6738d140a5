//! The `sim` engine across nodes (`kakinectl test --engine sim --nodes N`): one FakeSwitch per
//! node, each compiled as that node's agent compiles it (its local pods, its gateway and tunnel,
//! the routes to the other nodes), placed as the `cluster` engine places pods
//! ([`crate::lab::placement::place`]). A probe's first packet runs through the source
//! node's switch; when it leaves through the tunnel, the switch of the node its `tun_dst` names
//! receives it from the tunnel. Output to the destination pod's port (or, for the host and
//! addresses outside the cluster, to the gateway) = allow.

use std::collections::BTreeMap;

use openflow::sim::{FakeSwitch, Packet};

use crate::datapath::compiler::{self, CompiledRule, LocalPod};
use crate::datapath::network::{NodeNetwork, GATEWAY_MAC};
use crate::lab::engine::{
    decision_from_hits, delivered_to, handed_to_agent, hits_of, load_switch, rule_on_destination,
    Hit,
};
use crate::lab::placement::place;
use crate::policy::resolved::{NodeInfo, PodInfo, PodKey, Protocol, ResolvedPolicies};
use crate::policy::{Cluster, Decision, Destination, Probe};

struct SimNode {
    ip: std::net::Ipv4Addr,
    switch: FakeSwitch,
    pods: BTreeMap<PodKey, LocalPod>,
    rules: Vec<CompiledRule>,
    net: NodeNetwork,
}

/// Every node's compiled pipeline on its own FakeSwitch.
pub struct SimCluster {
    nodes: Vec<SimNode>,
    pods: BTreeMap<PodKey, (usize, PodInfo)>,
}

impl SimCluster {
    /// Places `cluster`'s pods on at least `n` nodes and compiles `policies` for each node.
    ///
    /// Errors: the compiler or the FakeSwitch refused a node's flows.
    pub fn new(cluster: &Cluster, n: usize, policies: &ResolvedPolicies) -> Result<Self, String> {
        let placed = place(cluster, n).cluster;
        let infos: Vec<NodeInfo> = placed
            .nodes
            .iter()
            .map(|x| NodeInfo {
                name: x.name.clone(),
                ip: x.ip,
                pod_cidrs: x.all_pod_cidrs(),
                gateway_ip: x.gateway_ip,
            })
            .collect();
        let node_of: BTreeMap<PodKey, (usize, std::net::Ipv4Addr)> = placed
            .pods
            .iter()
            .map(|p| {
                let i = placed
                    .nodes
                    .iter()
                    .position(|x| Some(&x.name) == p.node.as_ref())
                    .unwrap_or(0);
                (
                    PodKey {
                        namespace: p.namespace.clone(),
                        name: p.name.clone(),
                    },
                    (
                        i,
                        placed.nodes[i]
                            .ip
                            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
                    ),
                )
            })
            .collect();
        let mut view = policies.clone();
        view.nodes = infos.clone();
        for p in view.pods.iter_mut() {
            if let Some((i, ip)) = node_of.get(&p.key) {
                p.node = Some(placed.nodes[*i].name.clone());
                p.node_ip = Some(*ip);
            }
        }
        let mut nodes = Vec::new();
        for (i, x) in placed.nodes.iter().enumerate() {
            let local: Vec<LocalPod> = view
                .pods
                .iter()
                .filter(|p| !p.host_network && node_of.get(&p.key).map(|n| n.0) == Some(i))
                .enumerate()
                .map(|(k, p)| LocalPod {
                    key: p.key.clone(),
                    ip: p.ip,
                    mac: openflow::flow::MacAddr(
                        p.mac
                            .unwrap_or_else(|| crate::policy::mac::default_mac(p.ip)),
                    ),
                    ofport: k as u32 + 1,
                })
                .collect();
            let gw = local.len() as u32 + 1;
            let net =
                NodeNetwork::for_node(&infos, &x.name, gw, gw + 1).map_err(|e| e.to_string())?;
            let compiled = compiler::compile_node(&view, &local, Some(&net), 1, None)
                .map_err(|e| e.to_string())?;
            let switch =
                load_switch(&compiled.flows).map_err(|e| format!("node {}: {e}", x.name))?;
            nodes.push(SimNode {
                ip: x.ip.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
                switch,
                pods: local.into_iter().map(|p| (p.key.clone(), p)).collect(),
                rules: compiled.rules,
                net,
            });
        }
        let pods = view
            .pods
            .into_iter()
            .filter_map(|p| Some((p.key.clone(), (node_of.get(&p.key)?.0, p))))
            .collect();
        Ok(SimCluster { nodes, pods })
    }

    /// Sends the probe's first packet through the source node and, across the tunnel, the
    /// destination node.
    pub fn decide(&mut self, probe: &Probe) -> Result<Decision, String> {
        let (src, from) = self
            .pods
            .get(&probe.from)
            .cloned()
            .ok_or_else(|| format!("no pod {}", probe.from))?;
        let (dst_ip, dst) = match &probe.to {
            Destination::Pod(k) => {
                let (n, p) = self.pods.get(k).ok_or_else(|| format!("no pod {k}"))?;
                (p.ip, Some((*n, p.clone())))
            }
            Destination::Ip(std::net::IpAddr::V6(_)) => {
                return Err("IPv6 probes across nodes are not supported yet".into())
            }
            Destination::Ip(std::net::IpAddr::V4(ip)) => (
                *ip,
                self.pods
                    .values()
                    .find(|(_, p)| p.ip == *ip)
                    .map(|(n, p)| (*n, p.clone())),
            ),
        };
        for n in &mut self.nodes {
            n.switch.conntrack_mut().flush();
        }
        let s = &self.nodes[src];
        let (in_port, eth_src, nw_src) = if from.host_network {
            (s.net.gateway.ofport, GATEWAY_MAC, s.ip)
        } else {
            let p = &s.pods[&from.key];
            (p.ofport, p.mac, p.ip)
        };
        // A pod routes everything to the gateway; the host sends to a local pod's own MAC.
        let eth_dst = match &dst {
            Some((n, p)) if from.host_network && *n == src && !p.host_network => s.pods[&p.key].mac,
            _ => GATEWAY_MAC,
        };
        let sport = probe.source_port.unwrap_or(0);
        let pkt = |in_port, eth_src, eth_dst| match probe.protocol {
            Protocol::Tcp => {
                Packet::tcp(in_port, eth_src, eth_dst, nw_src, dst_ip, sport, probe.port)
            }
            Protocol::Udp => {
                Packet::udp(in_port, eth_src, eth_dst, nw_src, dst_ip, sport, probe.port)
            }
            Protocol::Sctp => {
                Packet::sctp(in_port, eth_src, eth_dst, nw_src, dst_ip, sport, probe.port)
            }
            Protocol::Icmp => Packet::icmp(
                in_port,
                eth_src,
                eth_dst,
                nw_src,
                dst_ip,
                (probe.port >> 8) as u8,
                probe.port as u8,
            ),
        };
        let first = self.nodes[src]
            .switch
            .trace(&pkt(in_port, eth_src, eth_dst))
            .map_err(|e| e.to_string())?;
        let mut hits = hits_of(&first);
        let mut rules = self.nodes[src].rules.clone();
        let mut reason = format!("FakeSwitch {}: {}", self.nodes[src].net.node, first.verdict);
        let mut last = (src, first.verdict.clone());
        if delivered_to(&first.verdict, self.nodes[src].net.tunnel_ofport) {
            let tun_dst = first
                .verdict
                .tun_dst
                .ok_or("output to the tunnel without tun_dst")?;
            let d = self
                .nodes
                .iter()
                .position(|n| n.ip == tun_dst)
                .ok_or_else(|| format!("tun_dst {tun_dst} is no node"))?;
            let tun = self.nodes[d].net.tunnel_ofport;
            let second = self.nodes[d]
                .switch
                .trace(&pkt(tun, GATEWAY_MAC, GATEWAY_MAC))
                .map_err(|e| e.to_string())?;
            hits.extend(hits_of(&second).into_iter().map(Hit::on_destination));
            rules.extend(self.nodes[d].rules.iter().map(rule_on_destination));
            reason.push_str(&format!("; {}: {}", self.nodes[d].net.node, second.verdict));
            last = (d, second.verdict);
        }
        let (node, verdict) = last;
        let n = &self.nodes[node];
        let want = match &dst {
            Some((_, p)) if !p.host_network => n.pods.get(&p.key).map(|p| p.ofport),
            _ => Some(n.net.gateway.ofport),
        };
        let delivered = want.is_some_and(|p| delivered_to(&verdict, p));
        let to_agent = handed_to_agent(&verdict);
        Ok(decision_from_hits(
            &hits, &rules, delivered, to_agent, reason,
        ))
    }
}
