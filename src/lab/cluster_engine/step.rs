//! One step of the cluster engine realized on every node: its probes answered by
//! `ofproto/trace` on the source node and, through the tunnel, on the destination node, or by
//! real connections.

use crate::datapath::compiler::CompiledRule;
use crate::datapath::network::{GATEWAY_MAC, GATEWAY_PORT, TUNNEL_PORT};
use crate::lab::engine::{decision_from_hits, parse_trace, rule_on_destination, Hit, OvsMode};
use crate::lab::nodes::BRIDGE;
use crate::lab::probe::{Outcome, Transport};
use crate::policy::resolved::{PodInfo, PodKey, Protocol};
use crate::policy::{Decision, Destination, Probe};
use futures::StreamExt;
use std::net::Ipv4Addr;

use super::{ClusterEngine, NodePorts, TRAFFIC_TIMEOUT};

/// One step realized on every node.
pub struct ClusterStep<'a> {
    pub(super) engine: &'a mut ClusterEngine,
    pub(super) nodes: Vec<NodePorts>,
}

/// Where a probe's packet ends on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hop {
    /// Out of the given datapath port.
    Port(u32),
    /// Into the tunnel, to this node IP.
    Tunnel(Ipv4Addr),
    /// To the agent (a Reject rule).
    Controller,
    /// Dropped.
    Drop,
}

impl ClusterStep<'_> {
    /// The engine's fallbacks so far.
    pub fn notes(&self) -> Vec<String> {
        self.engine.notes()
    }

    fn pod_info(&self, key: &PodKey) -> Option<&crate::lab::nodes::LabPod> {
        self.engine.lab.pod(key)
    }

    fn destination(&self, to: &Destination) -> (Ipv4Addr, Option<&crate::lab::nodes::LabPod>) {
        match to {
            Destination::Pod(k) => {
                let p = self.pod_info(k);
                (p.map_or(Ipv4Addr::UNSPECIFIED, |p| p.info.ip), p)
            }
            Destination::Ip(std::net::IpAddr::V4(ip)) => (
                *ip,
                self.engine
                    .lab
                    .pods
                    .iter()
                    .find(|p| p.info.ip == *ip && !p.info.host_network),
            ),
            // IPv6 across nodes is not built yet: no destination, the probe is an error.
            Destination::Ip(std::net::IpAddr::V6(_)) => (Ipv4Addr::UNSPECIFIED, None),
        }
    }

    fn trace_on(&self, node: usize, flow: &str) -> Result<(Hop, Vec<Hit>, String), String> {
        let n = &self.engine.lab.nodes[node];
        let out = n
            .ovs
            .appctl(&["ofproto/trace", BRIDGE, flow, "--ct-next", "trk,new"])
            .map_err(|e| e.to_string())?;
        let (actions, hits) = parse_trace(&out);
        let hop = hop(&actions)?;
        Ok((hop, hits, actions))
    }

    /// The probe traced through the source node and, across the tunnel, the destination node.
    pub fn trace(&self, probe: &Probe) -> Result<Decision, String> {
        let from = self
            .pod_info(&probe.from)
            .ok_or_else(|| format!("no pod {}", probe.from))?;
        let src_node = self.engine.node_of[&probe.from];
        let (dst_ip, dst_pod) = self.destination(&probe.to);
        if dst_ip.is_unspecified() {
            return Err(format!("no destination {}", probe.to));
        }
        let l4 = l4(probe);
        let ports = &self.nodes[src_node];
        let mac = |p: &PodInfo| {
            crate::policy::mac::mac_string(
                p.mac
                    .unwrap_or_else(|| crate::policy::mac::default_mac(p.ip)),
            )
        };
        let gw = crate::policy::mac::mac_string(GATEWAY_MAC.0);
        let src_node_ip = self.engine.lab.nodes[src_node].spec.ip;
        let (in_port, dl_src, nw_src) = if from.info.host_network {
            (
                *ports.ofport.get(GATEWAY_PORT).ok_or("no gateway port")?,
                gw.clone(),
                src_node_ip,
            )
        } else {
            let name = crate::agent::interfaces::host_ifname(
                "kk",
                &from.info.key.namespace,
                &from.info.key.name,
            );
            (
                *ports
                    .ofport
                    .get(&name)
                    .ok_or_else(|| format!("{} is not attached", probe.from))?,
                mac(&from.info),
                from.info.ip,
            )
        };
        // A pod routes everything to the gateway; the host sends to a local pod's own MAC.
        let dl_dst = match dst_pod {
            Some(p) if from.info.host_network && self.engine.node_of[&p.info.key] == src_node => {
                mac(&p.info)
            }
            _ => gw.clone(),
        };
        let flow = format!("in_port={in_port},{l4},dl_src={dl_src},dl_dst={dl_dst},nw_src={nw_src},nw_dst={dst_ip}");
        let (hop, mut hits, actions) = self.trace_on(src_node, &flow)?;
        let mut reason = format!("{}: {actions}", self.engine.lab.nodes[src_node].spec.name);
        let mut rules: Vec<CompiledRule> = ports.rules.clone();
        let delivered = match hop {
            Hop::Tunnel(node_ip) => {
                let dst_node = self
                    .engine
                    .lab
                    .nodes
                    .iter()
                    .position(|n| n.spec.ip == node_ip)
                    .ok_or_else(|| format!("the tunnel goes to {node_ip}, no node of the lab"))?;
                let dports = &self.nodes[dst_node];
                let tun = *dports.ofport.get(TUNNEL_PORT).ok_or("no tunnel port")?;
                let flow = format!("in_port={tun},tun_src={src_node_ip},tun_dst={node_ip},{l4},dl_src={gw},dl_dst={gw},nw_src={nw_src},nw_dst={dst_ip}");
                let (hop2, hits2, actions2) = self.trace_on(dst_node, &flow)?;
                hits.extend(hits2.into_iter().map(Hit::on_destination));
                rules.extend(dports.rules.iter().map(rule_on_destination));
                reason.push_str(&format!(
                    "; {}: {actions2}",
                    self.engine.lab.nodes[dst_node].spec.name
                ));
                match hop2 {
                    Hop::Port(p) => Some(self.reaches(dst_node, p, dst_pod)),
                    Hop::Controller => None,
                    _ => Some(false),
                }
            }
            Hop::Port(p) => Some(self.reaches(src_node, p, dst_pod)),
            Hop::Controller => None,
            Hop::Drop => Some(false),
        };
        Ok(decision_from_hits(
            &hits,
            &rules,
            delivered == Some(true),
            delivered.is_none(),
            format!("ofproto/trace: {reason}"),
        ))
    }

    /// Whether datapath port `dp` of `node` is where the probe should arrive: the destination
    /// pod's port, or the gateway for the host (host-network pods, node IPs, outside).
    fn reaches(&self, node: usize, dp: u32, dst: Option<&crate::lab::nodes::LabPod>) -> bool {
        let ports = &self.nodes[node];
        let want = match dst {
            Some(p) if !p.info.host_network => {
                let name = crate::agent::interfaces::host_ifname(
                    "kk",
                    &p.info.key.namespace,
                    &p.info.key.name,
                );
                ports.ofport.get(&name).copied()
            }
            _ => ports.ofport.get(GATEWAY_PORT).copied(),
        };
        want.and_then(|of| ports.dp.get(&of))
            .is_some_and(|d| *d == dp)
    }

    /// Answers every probe; in traffic mode the real attempts run concurrently.
    pub fn decide_all(&mut self, probes: &[Probe]) -> Vec<Result<Decision, String>> {
        let traced: Vec<Result<Decision, String>> = probes.iter().map(|p| self.trace(p)).collect();
        if self.engine.mode == OvsMode::Trace {
            return traced;
        }
        let mut wire = Vec::new();
        for (i, (p, d)) in probes.iter().zip(&traced).enumerate() {
            if d.is_err() {
                continue;
            }
            let t = match p.protocol {
                Protocol::Tcp => Transport::Tcp,
                Protocol::Udp => Transport::Udp,
                Protocol::Sctp if crate::lab::probe::sctp_supported() => Transport::Sctp,
                Protocol::Sctp | Protocol::Icmp => {
                    *self
                        .engine
                        .fallbacks
                        .entry(format!("{:?} probes answered by ofproto/trace", p.protocol))
                        .or_default() += 1;
                    continue;
                }
            };
            let (ip, _) = self.destination(&p.to);
            wire.push((i, t, ip));
        }
        let engine = &*self.engine;
        let measured: Vec<Option<Outcome>> = engine.rt.block_on(
            futures::stream::iter(wire.iter().map(|&(i, t, ip)| {
                let p = &probes[i];
                engine.lab.probe(
                    &p.from,
                    ip,
                    t,
                    p.port,
                    p.source_port.unwrap_or(0),
                    TRAFFIC_TIMEOUT,
                )
            }))
            .buffered(16)
            .collect(),
        );
        let measured = wire.iter().zip(measured).map(|(&(i, t, _), o)| (i, t, o));
        crate::lab::engine::with_traffic(traced, measured)
    }
}

pub(crate) fn l4(probe: &Probe) -> String {
    match probe.protocol {
        Protocol::Icmp => format!(
            "icmp,icmp_type={},icmp_code={}",
            probe.port >> 8,
            probe.port & 0xff
        ),
        p => {
            let name = match p {
                Protocol::Udp => "udp",
                Protocol::Sctp => "sctp",
                _ => "tcp",
            };
            format!(
                "{name},{name}_src={},{name}_dst={}",
                probe.source_port.unwrap_or(0),
                probe.port
            )
        }
    }
}

/// Where the datapath `actions` of a trace send the packet: into the tunnel (`tnl_push` with
/// its outer destination), to the agent (`controller(...)`), out of the last plain port, or
/// nowhere (dropped).
///
/// Errors: a `tnl_push` without a readable outer IPv4 destination.
pub(crate) fn hop(actions: &str) -> Result<Hop, String> {
    Ok(if let Some(i) = actions.find("tnl_push(") {
        let rest = &actions[i..];
        let dst = rest
            .find("ipv4(src=")
            .and_then(|j| rest[j..].split("dst=").nth(1))
            .and_then(|s| s.split(',').next())
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no tunnel destination in {actions}"))?;
        Hop::Tunnel(dst)
    } else if actions.contains("controller(") {
        Hop::Controller
    } else if let Some(p) = last_port(actions) {
        Hop::Port(p)
    } else {
        Hop::Drop
    })
}

/// The last plain port number among the top-level datapath actions.
fn last_port(actions: &str) -> Option<u32> {
    crate::lab::ovs_engine::top_level_actions(actions)
        .iter()
        .rev()
        .find_map(|a| a.trim().parse().ok())
}
