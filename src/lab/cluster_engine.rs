//! The `cluster` engine: scenario probes answered by a node lab ([`crate::lab::nodes`]), the
//! pods spread over N nodes, each node's own OVS programmed by its own `kakine-agent --node`
//! from the same input directory.
//!
//! [`place`](crate::lab::placement::place) spreads a scenario's cluster over the nodes. Per
//! step the engine writes the cluster model and the step's objects into the input directory,
//! with a marker line, and waits until every agent's `last-good.yaml` holds the marker. A probe is answered by `ofproto/trace` on the
//! source node and, when the packet leaves through the tunnel, on the destination node
//! (`--ct-next trk,new` on both); or, in traffic mode, by a real connection from the client's
//! namespace (ICMP stays a trace). Destinations outside the cluster are addresses of the
//! lab's outside host.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use crate::agent::state::read_agent_state;
use crate::datapath::compiler::CompiledRule;
use crate::lab::engine::OvsMode;
use crate::lab::nodes::{LabSpec, NodeLab, NodeSpec, BRIDGE};
use crate::lab::placement::{cluster_document, place, Placement};
use crate::policy::resolved::{Direction, PodInfo, PodKey, RuleAction, RuleRef};
use crate::policy::Cluster;

mod step;
pub use step::ClusterStep;
pub(crate) use step::{hop, l4, Hop};

/// How long a real probe waits before calling it dropped.
const TRAFFIC_TIMEOUT: Duration = Duration::from_millis(1500);
/// The namespace annotation that marks which step an input is.
const MARKER_ANNOTATION: &str = "lab.kakine.io/step";
/// How long a step may take to be realized on every node.
const REALIZE_TIMEOUT: Duration = Duration::from_secs(30);

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
