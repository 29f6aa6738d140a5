//! The `cluster` engine: scenario probes answered by a node lab ([`crate::lab::nodes`]), the
//! pods spread over N nodes, each node's own OVS programmed by its own `kakine-agent --node`
//! from the same input directory.
//!
//! [`place`] (pure) turns a scenario's cluster into a multi-node one: the case's own `node:`
//! fields win, other pods go round-robin; each node gets an underlay IP (the case's where it
//! gives one), a gateway address outside every pod address, and one /32 pod CIDR per pod (a
//! scenario's addresses do not come in per-node blocks; an IPAM that hands a node several
//! blocks, as Calico's, routes the same way). Per step the engine writes the cluster model and
//! the step's objects into the input directory, with a marker line, and waits until every
//! agent's `last-good.yaml` holds the marker. A probe is answered by `ofproto/trace` on the
//! source node and, when the packet leaves through the tunnel, on the destination node
//! (`--ct-next trk,new` on both); or, in traffic mode, by a real connection from the client's
//! namespace (ICMP stays a trace). Destinations outside the cluster are addresses of the
//! lab's outside host.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use ipnet::Ipv4Net;

use crate::agent::state::read_agent_state;
use crate::datapath::compiler::CompiledRule;
use crate::datapath::network::{GATEWAY_MAC, GATEWAY_PORT, TUNNEL_PORT};
use crate::lab::engine::{decision_from_hits, parse_trace, rule_on_destination, Hit, OvsMode};
use crate::lab::nodes::{LabSpec, NodeLab, NodeSpec, BRIDGE};
use crate::lab::probe::{Outcome, Transport};
use crate::policy::model::Node;
use crate::policy::resolved::{Direction, PodInfo, PodKey, Protocol, RuleAction, RuleRef};
use crate::policy::{Cluster, Decision, Destination, Probe};

/// How long a real probe waits before calling it dropped.
const TRAFFIC_TIMEOUT: Duration = Duration::from_millis(1500);
/// The namespace annotation that marks which step an input is.
const MARKER_ANNOTATION: &str = "lab.kakine.io/step";
/// How long a step may take to be realized on every node.
const REALIZE_TIMEOUT: Duration = Duration::from_secs(30);

/// A scenario's cluster spread over nodes (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// The cluster with every node (IP, pod CIDRs, gateway) and every pod's node.
    pub cluster: Cluster,
    /// Prefix length of the underlay subnet holding the node IPs.
    pub underlay_len: u8,
    /// The outside host's underlay address.
    pub outside_ip: Ipv4Addr,
}

/// Spreads `cluster` over at least `n` nodes (more if the case names more).
pub fn place(cluster: &Cluster, n: usize) -> Placement {
    let mut out = cluster.clone();
    let mut nodes: Vec<Node> = cluster.nodes.clone();
    for p in &cluster.pods {
        if let Some(name) = &p.node {
            if !nodes.iter().any(|x| &x.name == name) {
                nodes.push(blank_node(name));
            }
        }
    }
    let mut k = 1;
    while nodes.len() < n.max(1) {
        let name = format!("node-{k}");
        if !nodes.iter().any(|x| x.name == name) {
            nodes.push(blank_node(&name));
        }
        k += 1;
    }
    // Underlay: the /24 of the case's first node IP, else 192.168.77.0/24.
    let base = nodes
        .iter()
        .find_map(|x| x.ip)
        .map(|ip| u32::from(ip) & 0xffff_ff00)
        .unwrap_or(u32::from(Ipv4Addr::new(192, 168, 77, 0)));
    let mut used: Vec<Ipv4Addr> = nodes.iter().filter_map(|x| x.ip).collect();
    let mut next = 10u32;
    for x in nodes.iter_mut() {
        if x.ip.is_none() {
            while used.contains(&Ipv4Addr::from(base + next)) {
                next += 1;
            }
            x.ip = Some(Ipv4Addr::from(base + next));
            used.push(Ipv4Addr::from(base + next));
        }
    }
    let mut outside = 254u32;
    while used.contains(&Ipv4Addr::from(base + outside)) {
        outside -= 1;
    }
    let mut rr = 0usize;
    for p in out.pods.iter_mut() {
        if p.node.is_none() {
            p.node = Some(nodes[rr % nodes.len()].name.clone());
            rr += 1;
        }
    }
    for (i, x) in nodes.iter_mut().enumerate() {
        x.gateway_ip = Some(Ipv4Addr::new(169, 254, 100, i as u8 + 1));
        x.pod_cidr = None;
        x.pod_cidrs = out
            .pods
            .iter()
            .filter(|p| !p.host_network && p.node.as_deref() == Some(&x.name))
            .map(|p| Ipv4Net::from(p.ip))
            .collect();
    }
    let underlay_len = crate::lab::pods::common_prefix_len(&used).min(24);
    out.nodes = nodes;
    Placement {
        cluster: out,
        underlay_len,
        outside_ip: Ipv4Addr::from(base + outside),
    }
}

fn blank_node(name: &str) -> Node {
    Node {
        name: name.to_string(),
        ip: None,
        labels: Default::default(),
        pod_cidr: None,
        pod_cidrs: Vec::new(),
        gateway_ip: None,
    }
}

/// The cluster model as the YAML document the agents read (JSON is YAML).
pub fn cluster_document(c: &Cluster) -> serde_json::Value {
    use serde_json::json;
    json!({
        "apiVersion": "kakine.io/v1alpha1",
        "kind": "Cluster",
        "nodes": c.nodes.iter().map(|n| {
            let mut v = json!({"name": n.name, "labels": n.labels});
            if let Some(ip) = n.ip { v["ip"] = json!(ip.to_string()); }
            let cidrs = n.all_pod_cidrs();
            if !cidrs.is_empty() {
                v["podCIDRs"] = json!(cidrs.iter().map(|c| c.to_string()).collect::<Vec<_>>());
            }
            if let Some(g) = n.gateway_ip { v["gatewayIP"] = json!(g.to_string()); }
            v
        }).collect::<Vec<_>>(),
        "namespaces": c.namespaces.iter().map(|n| json!({
            "name": n.name, "labels": n.labels, "annotations": n.annotations,
        })).collect::<Vec<_>>(),
        "pods": c.pods.iter().map(|p| {
            let mut v = json!({
                "namespace": p.namespace, "name": p.name, "labels": p.labels,
                "ip": p.ip.to_string(), "host_network": p.host_network,
                "ports": p.ports.iter().map(|x| {
                    let mut pv = json!({"port": x.port, "protocol": protocol_name(x.protocol)});
                    if let Some(n) = &x.name { pv["name"] = json!(n); }
                    pv
                }).collect::<Vec<_>>(),
            });
            if let Some(n) = &p.node { v["node"] = json!(n); }
            if let Some(m) = p.mac { v["mac"] = json!(crate::policy::mac::mac_string(m)); }
            if let Some(sa) = &p.service_account { v["serviceAccountName"] = json!(sa); }
            v
        }).collect::<Vec<_>>(),
    })
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
        Protocol::Icmp => "ICMP",
    }
}

/// A node lab running one scenario file.
pub struct ClusterEngine {
    lab: NodeLab,
    placement: Placement,
    input: PathBuf,
    kakinectl: PathBuf,
    mode: OvsMode,
    rt: tokio::runtime::Runtime,
    step: u32,
    node_of: BTreeMap<PodKey, usize>,
    fallbacks: BTreeMap<String, usize>,
}

/// Per node: interface name -> ofport, datapath port by ofport, and the rules by id.
struct NodePorts {
    ofport: BTreeMap<String, u32>,
    dp: BTreeMap<u32, u32>,
    rules: Vec<CompiledRule>,
}

impl ClusterEngine {
    /// Makes a lab of at least `nodes` nodes for `cluster` and starts the agents; `external`
    /// are the destinations outside the cluster the probes use, with their TCP ports.
    ///
    /// Errors: the lab could not be made.
    pub fn start(
        cluster: &Cluster,
        nodes: usize,
        mode: OvsMode,
        external: &[(Ipv4Addr, u16)],
    ) -> Result<Self, String> {
        // Several labs may run at once in one process (tests): each its own names.
        static LABS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = LABS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{}x{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("kk-lab-{id}"));
        let prefix = format!("kl{id}");
        Self::start_in(cluster, nodes, mode, external, dir, prefix)
    }

    /// [`ClusterEngine::start`] in directory `dir`, its namespaces named `<prefix>-...`.
    ///
    /// Errors: the lab could not be made.
    pub fn start_in(
        cluster: &Cluster,
        nodes: usize,
        mode: OvsMode,
        external: &[(Ipv4Addr, u16)],
        dir: PathBuf,
        prefix: String,
    ) -> Result<Self, String> {
        let placement = place(cluster, nodes);
        let mut outside_addrs: Vec<Ipv4Addr> = external.iter().map(|(ip, _)| *ip).collect();
        outside_addrs.sort();
        outside_addrs.dedup();
        let mut outside_ports: Vec<u16> = external.iter().map(|(_, p)| *p).collect();
        outside_ports.sort();
        outside_ports.dedup();
        let spec = LabSpec {
            prefix,
            dir: dir.clone(),
            nodes: placement
                .cluster
                .nodes
                .iter()
                .map(|n| NodeSpec {
                    name: n.name.clone(),
                    ip: n.ip.expect("placed nodes have IPs"),
                })
                .collect(),
            underlay_len: placement.underlay_len,
            outside_ip: placement.outside_ip,
            outside_addrs,
            outside_ports,
        };
        let lab = NodeLab::start(spec).map_err(|e| e.to_string())?;
        let kakinectl = crate::lab::ovs_engine::kakinectl_binary();
        let input = dir.join("input");
        std::fs::create_dir_all(&input).map_err(|e| e.to_string())?;
        let node_index = |name: &str| {
            placement
                .cluster
                .nodes
                .iter()
                .position(|n| n.name == name)
                .unwrap_or(0)
        };
        let node_of: BTreeMap<PodKey, usize> = placement
            .cluster
            .pods
            .iter()
            .map(|p| {
                (
                    PodKey {
                        namespace: p.namespace.clone(),
                        name: p.name.clone(),
                    },
                    node_index(p.node.as_deref().unwrap_or_default()),
                )
            })
            .collect();
        let infos: Vec<(PodInfo, usize)> = placement
            .cluster
            .pods
            .iter()
            .map(|p| {
                let info = crate::grouping::derive::pod_info(p, None);
                let n = node_of[&info.key];
                (info, n)
            })
            .collect();
        let gateways: Vec<Ipv4Addr> = placement
            .cluster
            .nodes
            .iter()
            .map(|n| n.gateway_ip.expect("placed nodes have gateways"))
            .collect();
        let sctp = crate::lab::probe::sctp_supported();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let mut engine = ClusterEngine {
            lab,
            placement,
            input,
            kakinectl,
            mode,
            rt,
            step: 0,
            node_of,
            fallbacks: BTreeMap::new(),
        };
        engine.write_input(&engine.placement.cluster.clone(), &[])?;
        let agent = engine.agent_binary();
        engine
            .lab
            .start_agents(&agent, &engine.input)
            .map_err(|e| e.to_string())?;
        // Pods come through kakine-cni, which needs the agents: each ADD returns once the
        // pod's node has committed its flows.
        let kakinectl = engine.kakinectl.clone();
        engine
            .lab
            .add_pods(
                &infos,
                &gateways,
                &kakinectl,
                mode == OvsMode::Traffic,
                sctp,
            )
            .map_err(|e| e.to_string())?;
        engine.wait()?;
        Ok(engine)
    }

    /// The lab.
    pub fn lab(&self) -> &NodeLab {
        &self.lab
    }

    /// Where the pods run and how the nodes are addressed.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// The lab, to crash and restart its parts (restart tests).
    pub fn lab_mut(&mut self) -> &mut NodeLab {
        &mut self.lab
    }

    /// The input directory every agent follows.
    pub fn input(&self) -> &std::path::Path {
        &self.input
    }

    /// The `kakine-agent` binary the lab runs.
    pub fn agent_binary(&self) -> PathBuf {
        self.kakinectl.with_file_name("kakine-agent")
    }

    /// The `kakinectl` binary the lab runs in pods.
    pub fn kakinectl(&self) -> &std::path::Path {
        &self.kakinectl
    }

    /// Leaves the lab running after drop (`kakinectl lab up`).
    pub fn keep(&mut self) {
        self.lab.keep();
    }

    fn write_input(
        &mut self,
        cluster: &Cluster,
        resources: &[serde_json::Value],
    ) -> Result<(), String> {
        self.step += 1;
        // One file, renamed into place: an agent reads the cluster and the objects of one
        // step together, never a mix of two. The step is marked by an annotation (comments
        // do not reach last-good.yaml), which no policy reads.
        let mut marked = cluster.clone();
        if marked.namespaces.is_empty() {
            marked.namespaces.push(crate::policy::model::Namespace {
                name: "kakine-lab".into(),
                labels: Default::default(),
                annotations: Default::default(),
            });
        }
        marked.namespaces[0]
            .annotations
            .insert(MARKER_ANNOTATION.into(), self.marker());
        let mut text = format!("{}\n", cluster_document(&marked));
        for r in resources {
            text.push_str(&format!("---\n{r}\n"));
        }
        let path = self.input.join("lab.yaml");
        let tmp = self.input.join(".lab.yaml.tmp");
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    fn marker(&self) -> String {
        format!("step-{}", self.step)
    }

    fn wait(&self) -> Result<(), String> {
        let marker = format!("\"{MARKER_ANNOTATION}\":\"{}\"", self.marker());
        self.lab.wait_realized(&marker, REALIZE_TIMEOUT)
    }

    /// Realizes one step: the step's cluster (label overrides applied; placed as at the start)
    /// and objects written to the input directory, then every agent's commit awaited.
    ///
    /// Errors: a node did not realize it in time (with its agent log's tail).
    pub fn load(
        &mut self,
        cluster: &Cluster,
        resources: &[serde_json::Value],
    ) -> Result<ClusterStep<'_>, String> {
        self.apply(cluster, resources)?;
        let mut nodes = Vec::new();
        for n in &self.lab.nodes {
            nodes.push(read_node_ports(n)?);
        }
        if self.mode == OvsMode::Traffic {
            for n in &self.lab.nodes {
                for cmd in ["dpctl/flush-conntrack", "revalidator/purge"] {
                    n.ovs.appctl(&[cmd]).map_err(|e| e.to_string())?;
                }
            }
        }
        Ok(ClusterStep {
            engine: self,
            nodes,
        })
    }

    /// Writes one step's input and waits until every node's agent has committed it; returns
    /// how long that took (the file written to the last node's commit, 2 ms resolution).
    ///
    /// Errors: a node did not realize it in time (with its agent log's tail).
    pub fn apply(
        &mut self,
        cluster: &Cluster,
        resources: &[serde_json::Value],
    ) -> Result<Duration, String> {
        let t = std::time::Instant::now();
        let mut placed = self.placement.cluster.clone();
        // Labels may change per step; where pods run and their addresses do not.
        for p in placed.pods.iter_mut() {
            if let Some(q) = cluster
                .pods
                .iter()
                .find(|q| q.namespace == p.namespace && q.name == p.name)
            {
                p.labels = q.labels.clone();
            }
        }
        placed.namespaces = cluster.namespaces.clone();
        self.write_input(&placed, resources)?;
        self.wait()?;
        Ok(t.elapsed())
    }

    /// The engine's fallbacks so far (probes answered by a trace in traffic mode).
    pub fn notes(&self) -> Vec<String> {
        self.fallbacks
            .iter()
            .map(|(why, n)| format!("{n} {why}"))
            .collect()
    }
}

fn read_node_ports(n: &crate::lab::nodes::LabNode) -> Result<NodePorts, String> {
    let ofport = n.interface_ofports().map_err(|e| e.to_string())?;
    let show = n.ovs.appctl(&["dpif/show"]).map_err(|e| e.to_string())?;
    let mut dp = BTreeMap::new();
    let mut in_bridge = false;
    for line in show.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_suffix(':') {
            in_bridge = name == BRIDGE;
            continue;
        }
        if !in_bridge {
            continue;
        }
        if let Some((of, d)) = t
            .split_whitespace()
            .nth(1)
            .and_then(|x| x.trim_end_matches(':').split_once('/'))
        {
            if let (Ok(of), Ok(d)) = (of.parse(), d.parse()) {
                dp.insert(of, d);
            }
        }
    }
    let state = read_agent_state(&n.state_dir())
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let rules = state
        .rules
        .iter()
        .map(|r| CompiledRule {
            id: r.id,
            key: crate::datapath::compiler::RuleKey(String::new()),
            rule: RuleRef {
                kind: r.kind.clone(),
                policy: r.policy.clone(),
                tier: r.tier.clone(),
                rule: r.rule.clone(),
            },
            direction: if r.direction == "Egress" {
                Direction::Egress
            } else {
                Direction::Ingress
            },
            // agent.json does not say which rules are staged: a staged rule's hit reads as
            // its action here (the verdict, from where the packet went, is unaffected).
            staged: false,
            action: match r.action.as_str() {
                "Drop" => RuleAction::Drop,
                "Reject" => RuleAction::Reject,
                "Pass" => RuleAction::Pass,
                _ => RuleAction::Allow,
            },
            priority: 0,
            flows: 0,
            dims: Vec::new(),
        })
        .collect();
    Ok(NodePorts { ofport, dp, rules })
}

/// One step realized on every node.
pub struct ClusterStep<'a> {
    engine: &'a mut ClusterEngine,
    nodes: Vec<NodePorts>,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(yaml: &str) -> Cluster {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn placement_keeps_the_cases_nodes_and_spreads_the_other_pods() {
        let c = cluster(
            "nodes: [{name: node-1, ip: 172.18.0.2}]\n\
             pods:\n\
             - {namespace: x, name: a, ip: 10.0.0.1, node: node-1}\n\
             - {namespace: x, name: b, ip: 10.0.0.2}\n\
             - {namespace: x, name: c, ip: 10.0.0.3}\n\
             - {namespace: x, name: h, ip: 172.18.0.2, node: node-1, host_network: true}\n",
        );
        let p = place(&c, 3);
        let names: Vec<&str> = p.cluster.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["node-1", "node-2", "node-3"]);
        let ips: Vec<String> = p
            .cluster
            .nodes
            .iter()
            .map(|n| n.ip.unwrap().to_string())
            .collect();
        assert_eq!(ips, ["172.18.0.2", "172.18.0.10", "172.18.0.11"]);
        let nodes: Vec<&str> = p
            .cluster
            .pods
            .iter()
            .map(|p| p.node.as_deref().unwrap())
            .collect();
        assert_eq!(nodes, ["node-1", "node-1", "node-2", "node-1"]);
        assert_eq!(
            p.cluster.nodes[0].pod_cidrs,
            [
                "10.0.0.1/32".parse().unwrap(),
                "10.0.0.2/32".parse().unwrap()
            ] as [Ipv4Net; 2]
        );
        assert_eq!(p.cluster.nodes[2].pod_cidrs, Vec::<Ipv4Net>::new());
        assert_eq!(p.outside_ip, Ipv4Addr::new(172, 18, 0, 254));
        assert_eq!(p.underlay_len, 24);
    }

    #[test]
    fn the_cluster_document_reads_back_as_the_same_cluster() {
        let c = cluster(
            "nodes: [{name: n, ip: 192.168.77.1}]\n\
             namespaces: [{name: x, labels: {a: b}}]\n\
             pods: [{namespace: x, name: a, ip: 10.0.0.1, node: n, ports: [{port: 80, protocol: TCP, name: web}]}]\n",
        );
        let p = place(&c, 2);
        let text = cluster_document(&p.cluster).to_string();
        let docs =
            crate::policy::load::parse_documents(std::path::Path::new("c.yaml"), &text).unwrap();
        let back: Cluster =
            match crate::policy::load::parse_document(&docs[0], std::path::Path::new("c.yaml"))
                .unwrap()
            {
                crate::policy::load::Parsed::Cluster(c) => c,
                _ => panic!("not a cluster"),
            };
        assert_eq!(back.pods, p.cluster.pods);
        assert_eq!(
            back.nodes[0].all_pod_cidrs(),
            p.cluster.nodes[0].all_pod_cidrs()
        );
        assert_eq!(back.nodes[0].gateway_ip, p.cluster.nodes[0].gateway_ip);
    }
}
