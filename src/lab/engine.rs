//! Verdict engines: the same probe answered by the reference evaluator, by the compiled
//! pipeline running on the in-process flow-table interpreter ([`openflow::sim::FakeSwitch`]), or
//! by a real Open vSwitch programmed by the agent ([`crate::lab::ovs_engine`]).
//!
//! The `sim` engine compiles the step's policies exactly as the agent does (every pod local, on
//! ports 1..=N), applies the flow_mods to a FakeSwitch and sends one packet per probe. The verdict
//! is where the packet went: output to the server's port = allow; a packet-in whose userdata
//! says Reject (`controller(userdata=01.02.<rule id>)` in the metric table) = reject, which the
//! agent answers with RST / ICMP; anything else = deny. The deciding rules come from the cookies
//! of the `conj_id` flows the packet hit, and for a reject from the packet-in's rule id.

use std::collections::BTreeMap;
use std::net::IpAddr;

use openflow::sim::{FakeSwitch, OutPort, Packet};

use crate::datapath::compiler::{self, cookie, CompiledRule, LocalPod};
use crate::datapath::pipeline::packet_in;
pub use crate::lab::ovs_engine::{OvsEngine, OvsStep};
use crate::policy::resolved::{Direction, PodKey, Protocol, ResolvedPolicies, RuleAction, RuleRef};
use crate::policy::{evaluate, Cluster, Decision, Destination, Probe, Verdict};

/// Which engine answers probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// `policy::evaluate`, straight from the policy model.
    Reference,
    /// The compiled flows on the FakeSwitch.
    Sim,
    /// The compiled flows of each node on its own FakeSwitch, joined by the tunnel
    /// ([`crate::lab::sim_cluster`]).
    SimCluster {
        /// How many nodes (at least; more if the case names more).
        nodes: usize,
    },
    /// The agent programming a sandbox Open vSwitch, pods as network namespaces.
    Ovs(OvsMode),
    /// A node lab: `nodes` nodes, each its own OVS and agent, joined by Geneve
    /// ([`crate::lab::cluster_engine`]).
    Cluster {
        /// How many nodes (at least; more if the case names more).
        nodes: usize,
        /// Traces or real traffic.
        mode: OvsMode,
    },
}

/// How the `ovs` engine answers a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OvsMode {
    /// `ofproto/trace` of the probe's first packet as a new connection.
    Trace,
    /// A real TCP/UDP/SCTP attempt between the pods' namespaces (`kakinectl probe connect`).
    Traffic,
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "reference" => Ok(Engine::Reference),
            "sim" => Ok(Engine::Sim),
            "ovs" => Ok(Engine::Ovs(OvsMode::Trace)),
            "cluster" => Ok(Engine::Cluster {
                nodes: 3,
                mode: OvsMode::Trace,
            }),
            other => Err(format!(
                "unknown engine {other:?} (expected reference, sim, ovs or cluster)"
            )),
        }
    }
}

/// What an engine keeps across the steps of one scenario file: nothing for the in-process
/// engines; the sandbox OVS and the pods for `ovs`. Dropping it stops and deletes them.
pub enum Backend {
    /// The reference evaluator or the FakeSwitch (each step loads from scratch).
    InProcess(Engine),
    /// A sandbox OVS with the file's pods.
    Ovs(Box<OvsEngine>),
    /// A node lab with the file's pods spread over its nodes.
    Cluster(Box<crate::lab::cluster_engine::ClusterEngine>),
}

impl Backend {
    /// Prepares `engine` for the scenario file whose world is `cluster` (for `ovs`: starts the
    /// sandbox and makes the pods).
    pub fn start(engine: Engine, cluster: &Cluster) -> Result<Self, String> {
        Self::start_with(engine, cluster, &[])
    }

    /// [`Backend::start`], with the destinations outside the cluster the probes use and their
    /// TCP ports (the `cluster` engine's outside host answers on them).
    ///
    /// Errors: every problem of `cluster` ([`crate::policy::sanity::check_cluster`]: a pod IP
    /// twice, a pod on a node `nodes` lacks, ...), one `cluster.<field>: <message>` a line,
    /// before anything starts; or the engine's own.
    pub fn start_with(
        engine: Engine,
        cluster: &Cluster,
        external: &[(std::net::Ipv4Addr, u16)],
    ) -> Result<Self, String> {
        crate::policy::sanity::cluster_ok(cluster, "cluster.")?;
        Ok(match engine {
            Engine::Ovs(mode) => Backend::Ovs(Box::new(OvsEngine::start(cluster, mode)?)),
            Engine::Cluster { nodes, mode } => Backend::Cluster(Box::new(
                crate::lab::cluster_engine::ClusterEngine::start(cluster, nodes, mode, external)?,
            )),
            other => Backend::InProcess(other),
        })
    }

    /// Loads one step: its cluster (label overrides applied), its objects as written, and
    /// their resolution (the `cluster` engine feeds the agents the objects; the others the
    /// resolution).
    pub fn load_step<'a>(
        &'a mut self,
        cluster: &Cluster,
        resources: &[serde_json::Value],
        policies: &'a ResolvedPolicies,
    ) -> Result<Oracle<'a>, String> {
        match self {
            Backend::Cluster(c) => Ok(Oracle::Cluster(c.load(cluster, resources)?)),
            Backend::InProcess(Engine::SimCluster { nodes }) => Ok(Oracle::SimCluster(Box::new(
                crate::lab::sim_cluster::SimCluster::new(cluster, *nodes, policies)?,
            ))),
            other => other.load(policies),
        }
    }

    /// Loads one step's policies (for `ovs`: one agent realization, one bundle).
    pub fn load<'a>(&'a mut self, policies: &'a ResolvedPolicies) -> Result<Oracle<'a>, String> {
        match self {
            Backend::InProcess(engine) => Oracle::new(*engine, policies),
            Backend::Ovs(ovs) => Ok(Oracle::Ovs(ovs.load(policies)?)),
            Backend::Cluster(_) => {
                Err("the cluster engine loads a step's objects (load_step)".into())
            }
        }
    }
}

/// An engine loaded with one set of resolved policies.
pub enum Oracle<'a> {
    /// The reference evaluator.
    Reference(&'a ResolvedPolicies),
    /// The compiled pipeline on a FakeSwitch.
    Sim(Box<SimEngine>),
    /// Each node's compiled pipeline on its own FakeSwitch.
    SimCluster(Box<crate::lab::sim_cluster::SimCluster>),
    /// The policies realized by the agent on a sandbox OVS.
    Ovs(OvsStep<'a>),
    /// The step realized by every node's agent of a node lab.
    Cluster(crate::lab::cluster_engine::ClusterStep<'a>),
}

impl<'a> Oracle<'a> {
    /// Loads `policies` into an in-process `engine` (`ovs` needs a [`Backend`]). Errors: the
    /// compiler or the FakeSwitch refused the flows.
    pub fn new(engine: Engine, policies: &'a ResolvedPolicies) -> Result<Self, String> {
        Ok(match engine {
            Engine::Reference => Oracle::Reference(policies),
            Engine::Sim => Oracle::Sim(Box::new(SimEngine::new(policies)?)),
            Engine::Ovs(_) | Engine::Cluster { .. } | Engine::SimCluster { .. } => {
                return Err("this engine runs in a Backend (load_step)".into())
            }
        })
    }

    /// Answers a probe.
    pub fn decide(&mut self, probe: &Probe) -> Result<Decision, String> {
        match self {
            Oracle::Reference(p) => Ok(evaluate(p, probe)),
            Oracle::Sim(s) => s.decide(probe),
            Oracle::SimCluster(s) => s.decide(probe),
            Oracle::Ovs(o) => o.decide(probe),
            Oracle::Cluster(c) => c
                .decide_all(std::slice::from_ref(probe))
                .pop()
                .unwrap_or_else(|| Err("no decision".into())),
        }
    }

    /// Answers many probes, at once where the engine can (real traffic runs concurrently).
    pub fn decide_all(&mut self, probes: &[Probe]) -> Vec<Result<Decision, String>> {
        match self {
            Oracle::Ovs(o) => o.decide_all(probes),
            Oracle::Cluster(c) => c.decide_all(probes),
            _ => probes.iter().map(|p| self.decide(p)).collect(),
        }
    }

    /// What the engine wants the reader to know about the answers so far (e.g. probes answered
    /// by a trace because the kernel cannot carry their protocol).
    pub fn notes(&self) -> Vec<String> {
        match self {
            Oracle::Ovs(o) => o.notes(),
            Oracle::Cluster(c) => c.notes(),
            _ => Vec::new(),
        }
    }
}

/// The client and server pods of a probe among `pods` (the dual-stack ones' IPv6 addresses
/// in `ipv6`), and the addresses it goes between: the pods' IPv4 addresses, or for a probe to
/// an IPv6 address their IPv6 ones. Errors: a pod missing, or no IPv6 address to send from.
pub(crate) fn endpoints<'a>(
    pods: &'a BTreeMap<PodKey, LocalPod>,
    ipv6: &BTreeMap<PodKey, std::net::Ipv6Addr>,
    probe: &Probe,
) -> Result<(&'a LocalPod, &'a LocalPod, IpAddr, IpAddr), String> {
    let from = pods
        .get(&probe.from)
        .ok_or_else(|| format!("no pod {}", probe.from))?;
    let to = match &probe.to {
        Destination::Pod(k) => pods.get(k),
        Destination::Ip(IpAddr::V4(ip)) => pods.values().find(|p| p.ip == *ip),
        Destination::Ip(IpAddr::V6(ip)) => ipv6
            .iter()
            .find(|(_, a)| *a == ip)
            .and_then(|(k, _)| pods.get(k)),
    }
    .ok_or_else(|| format!("destination {} is not a pod of this node", probe.to))?;
    match probe.to {
        Destination::Ip(IpAddr::V6(dst)) => {
            let src = ipv6
                .get(&probe.from)
                .ok_or_else(|| format!("{} has no IPv6 address to send from", probe.from))?;
            Ok((from, to, IpAddr::V6(*src), IpAddr::V6(dst)))
        }
        _ => Ok((from, to, from.ip.into(), to.ip.into())),
    }
}

/// The compiled pipeline of a policy set on a FakeSwitch.
pub struct SimEngine {
    switch: FakeSwitch,
    pods: BTreeMap<PodKey, LocalPod>,
    /// The IPv6 addresses of the dual-stack pods.
    ipv6: BTreeMap<PodKey, std::net::Ipv6Addr>,
    rules: Vec<CompiledRule>,
    /// The gateway port: where a packet for anything but a pod goes (the host, the outside).
    gateway_ofport: u32,
}

/// The one node of the `sim` engine: every pod local, and a gateway (and an idle tunnel) so
/// that destinations outside the cluster are routed to the host, as on a real node.
fn sim_network(local: &[LocalPod]) -> crate::datapath::network::NodeNetwork {
    use crate::datapath::network::{Gateway, NodeNetwork};
    let next = local.iter().map(|p| p.ofport).max().unwrap_or(0) + 1;
    NodeNetwork {
        node: "sim".into(),
        node_ip: std::net::Ipv4Addr::new(169, 254, 0, 2),
        pod_cidrs: Vec::new(),
        gateway: Gateway {
            ip: std::net::Ipv4Addr::new(169, 254, 0, 1),
            ofport: next,
        },
        tunnel_ofport: next + 1,
        remotes: Vec::new(),
    }
}

impl SimEngine {
    /// Compiles `policies` with every pod local and installs the flows — as the encoded
    /// FLOW_MOD bytes the agent would send to OVS, so the codec is part of what is checked.
    pub fn new(policies: &ResolvedPolicies) -> Result<Self, String> {
        let local = compiler::offline_pods(policies);
        let net = sim_network(&local);
        let compiled = compiler::compile_node(policies, &local, Some(&net), 1, None)
            .map_err(|e| e.to_string())?;
        let switch = load_switch(&compiled.flows)?;
        Ok(SimEngine {
            switch,
            pods: local.into_iter().map(|p| (p.key.clone(), p)).collect(),
            ipv6: policies
                .pods
                .iter()
                .filter_map(|p| p.ipv6.map(|a| (p.key.clone(), a)))
                .collect(),
            rules: compiled.rules,
            gateway_ofport: net.gateway.ofport,
        })
    }

    /// Sends one new connection's first packet for `probe` and reads the verdict.
    pub fn decide(&mut self, probe: &Probe) -> Result<Decision, String> {
        // A destination that is no pod is outside the cluster: routed to the gateway.
        let outside;
        let (from, to, src, dst) = match (endpoints(&self.pods, &self.ipv6, probe), &probe.to) {
            (Ok(e), _) => e,
            (Err(_), Destination::Ip(IpAddr::V4(ip))) if self.pods.contains_key(&probe.from) => {
                outside = LocalPod {
                    key: PodKey {
                        namespace: String::new(),
                        name: ip.to_string(),
                    },
                    ip: *ip,
                    mac: crate::datapath::network::GATEWAY_MAC,
                    ofport: self.gateway_ofport,
                };
                let from = &self.pods[&probe.from];
                (from, &outside, IpAddr::V4(from.ip), IpAddr::V4(*ip))
            }
            (Err(e), _) => return Err(e),
        };
        // An IPv6 probe: the same packet between the two pods' IPv6 addresses.
        let v6 = match (src, dst) {
            (IpAddr::V6(s), IpAddr::V6(d)) => Some((s, d)),
            _ => None,
        };
        // Each probe is a new connection: no conntrack state from earlier probes. A probe that
        // does not fix its source port uses 0, which no realistic sourcePort range covers (the
        // evaluator lets such a probe match no source-port rule).
        self.switch.conntrack_mut().flush();
        let sport = probe.source_port.unwrap_or(0);
        let pkt = match probe.protocol {
            Protocol::Tcp => Packet::tcp(
                from.ofport,
                from.mac,
                to.mac,
                from.ip,
                to.ip,
                sport,
                probe.port,
            ),
            Protocol::Udp => Packet::udp(
                from.ofport,
                from.mac,
                to.mac,
                from.ip,
                to.ip,
                sport,
                probe.port,
            ),
            Protocol::Sctp => Packet::sctp(
                from.ofport,
                from.mac,
                to.mac,
                from.ip,
                to.ip,
                sport,
                probe.port,
            ),
            Protocol::Icmp => {
                let (icmp_type, icmp_code) = ((probe.port >> 8) as u8, probe.port as u8);
                Packet::icmp(
                    from.ofport,
                    from.mac,
                    to.mac,
                    from.ip,
                    to.ip,
                    icmp_type,
                    icmp_code,
                )
            }
        };
        let pkt = match v6 {
            Some((src, dst)) => pkt.into_ipv6(src, dst),
            None => pkt,
        };
        let trace = self.switch.trace(&pkt).map_err(|e| e.to_string())?;
        let hits = hits_of(&trace);
        // A reject is what the flows say: the packet ends at the controller with a Reject
        // packet-in.
        let to_agent = handed_to_agent(&trace.verdict);
        let delivered = delivered_to(&trace.verdict, to.ofport);
        Ok(decision_from_hits(
            &hits,
            &self.rules,
            delivered,
            to_agent,
            format!("FakeSwitch: {}", trace.verdict),
        ))
    }
}

/// The traced decisions with the real attempts' outcomes in place of their verdicts: probe `i`
/// connected = allow, timed out = deny, refused = reject; the deciding rules stay the trace's,
/// and a verdict the trace disagrees with says so in the reason. A probe that could not run is
/// an error.
pub(crate) fn with_traffic(
    mut out: Vec<Result<Decision, String>>,
    measured: impl IntoIterator<
        Item = (
            usize,
            crate::lab::probe::Transport,
            Option<crate::lab::probe::Outcome>,
        ),
    >,
) -> Vec<Result<Decision, String>> {
    use crate::lab::probe::Outcome;
    for (i, t, outcome) in measured {
        let Ok(traced) = &out[i] else { continue };
        let Some(outcome) = outcome else {
            out[i] = Err(format!("the {t:?} probe could not run in the pod"));
            continue;
        };
        let verdict = match outcome {
            Outcome::Connected => Verdict::Allow,
            Outcome::TimedOut => Verdict::Deny,
            Outcome::Refused => Verdict::Reject,
        };
        let reason = if traced.verdict != verdict {
            format!(
                "traffic: {outcome:?}, but ofproto/trace says {} ({})",
                traced.verdict, traced.reason
            )
        } else {
            format!("traffic: {outcome:?}")
        };
        out[i] = Ok(Decision {
            verdict,
            egress: traced.egress.clone(),
            ingress: traced.ingress.clone(),
            reason,
        });
    }
    out
}

/// The flows a FakeSwitch trace matched, as hits.
pub(crate) fn hits_of(trace: &openflow::sim::Trace) -> Vec<Hit> {
    trace
        .steps
        .iter()
        .filter(|step| step.priority.is_some())
        .map(|step| Hit {
            cookie: step.cookie,
            conj: step.conj_id.is_some(),
        })
        .collect()
}

/// A FakeSwitch with `flows` installed — as the encoded FLOW_MOD bytes the agent would send to
/// OVS, so the codec is part of what is checked.
///
/// Errors: the switch refused a flow.
pub(crate) fn load_switch(flows: &[openflow::flow::FlowMod]) -> Result<FakeSwitch, String> {
    let mut bytes = Vec::new();
    for (xid, f) in flows.iter().enumerate() {
        openflow::Message::FlowMod(f.clone()).emit(xid as u32, &mut bytes);
    }
    let mut switch = FakeSwitch::new();
    switch
        .apply_message(&bytes)
        .map_err(|e| format!("FakeSwitch refused the flows: {e}"))?;
    Ok(switch)
}

/// Rule ids are per node: in a decision over two nodes, the destination node's rule ids are
/// moved up by this much ([`Hit::on_destination`], [`rule_on_destination`]).
pub(crate) const DESTINATION_IDS: u32 = 0x8000_0000;

impl Hit {
    /// The hit with its policy rule id moved into the destination node's range.
    pub(crate) fn on_destination(self) -> Hit {
        let (round, category, object) = cookie::split(self.cookie);
        let object = if category == cookie::POLICY {
            object | DESTINATION_IDS
        } else {
            object
        };
        Hit {
            cookie: cookie::make(round, category, object),
            conj: self.conj,
        }
    }
}

/// A destination node's rule with its id moved as [`Hit::on_destination`] moves hits.
pub(crate) fn rule_on_destination(r: &CompiledRule) -> CompiledRule {
    CompiledRule {
        id: r.id | DESTINATION_IDS,
        ..r.clone()
    }
}

/// The ports a packet left by, the agent's copies left out: a logged rule's copy goes to the
/// agent beside the packet.
pub(crate) fn ports_out(v: &openflow::sim::Verdict) -> Vec<&OutPort> {
    v.outputs
        .iter()
        .filter(|o| **o != OutPort::Controller)
        .collect()
}

/// Whether the packet went out of port `p` and no other port.
pub(crate) fn delivered_to(v: &openflow::sim::Verdict, p: u32) -> bool {
    ports_out(v) == [&OutPort::Port(p)]
}

/// Whether the packet ended at the agent with a Reject packet-in (which the agent answers with
/// RST / ICMP), as a Reject rule's flows send it.
pub(crate) fn handed_to_agent(v: &openflow::sim::Verdict) -> bool {
    !v.outputs.is_empty()
        && ports_out(v).is_empty()
        && v.packet_ins.iter().any(|u| packet_in::is_reject(u))
}

/// One flow line of an `ofproto/trace` answer (` 15. ct_state=+new+trk,ip, priority 100,
/// cookie 0x1030000000007`): its table number (when the line shows one) and the hit.
pub(crate) fn trace_line(line: &str) -> Option<(Option<u8>, Hit)> {
    let (head, hex) = line.rsplit_once(", cookie 0x")?;
    let cookie = u64::from_str_radix(hex.trim(), 16).ok()?;
    let table = head
        .trim_start()
        .split_once(". ")
        .and_then(|(t, _)| t.parse().ok());
    Some((
        table,
        Hit {
            cookie,
            conj: head.contains("conj_id="),
        },
    ))
}

/// The last `Datapath actions:` of an `ofproto/trace` answer (trimmed; empty when none).
pub(crate) fn trace_actions(out: &str) -> String {
    out.lines()
        .rev()
        .find_map(|l| l.strip_prefix("Datapath actions: "))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// The last `Datapath actions:` of a trace and the flows it hit.
pub(crate) fn parse_trace(out: &str) -> (String, Vec<Hit>) {
    let hits = out
        .lines()
        .filter_map(trace_line)
        .map(|(_, hit)| hit)
        .collect();
    (trace_actions(out), hits)
}

/// A flow a packet matched on its way through the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    /// The flow's cookie.
    pub cookie: u64,
    /// Whether the flow matches on `conj_id` (a rule's action flow).
    pub conj: bool,
}

/// The decision of a packet's path, the same for every engine that runs the compiled flows:
/// `output` (reached the server's port) = allow; otherwise a Reject rule's flow = reject, any
/// other drop = deny; a Reject rule's packet must also have been handed to the agent
/// (`to_agent`), as the flows do. The deciding rules are the rules of the `conj_id` flows hit (a Pass decides
/// nothing); with no denying rule, the K8s isolation drop of each direction that has one.
pub(crate) fn decision_from_hits(
    hits: &[Hit],
    rules: &[CompiledRule],
    output: bool,
    to_agent: bool,
    reason: String,
) -> Decision {
    decision_from_hits_by(
        hits,
        |id| {
            rules.iter().find(|r| r.id == id).map(|r| HitRule {
                rule: r.rule.clone(),
                direction: r.direction,
                action: r.action,
                staged: r.staged,
            })
        },
        output,
        to_agent,
        reason,
    )
}

/// What [`decision_from_hits_by`] needs of a rule a hit names.
#[derive(Debug, Clone)]
pub(crate) struct HitRule {
    /// Which rule.
    pub rule: RuleRef,
    /// Its direction.
    pub direction: Direction,
    /// Its action.
    pub action: RuleAction,
    /// Staged: decides nothing.
    pub staged: bool,
}

/// [`decision_from_hits`] with the rules looked up by id through `rule` (a live node's
/// `agent.json`, or a compile's rules).
pub(crate) fn decision_from_hits_by(
    hits: &[Hit],
    rule: impl Fn(u32) -> Option<HitRule>,
    output: bool,
    to_agent: bool,
    reason: String,
) -> Decision {
    let mut egress = None;
    let mut ingress = None;
    let mut deny_action = None;
    for hit in hits {
        let (_, category, object) = cookie::split(hit.cookie);
        if !hit.conj || category != cookie::POLICY {
            continue;
        }
        let Some(rule) = rule(object) else {
            continue;
        };
        if rule.action == RuleAction::Pass || rule.staged {
            continue; // a Pass or a staged rule decides nothing; what comes after it does
        }
        match rule.direction {
            Direction::Egress => egress = Some(rule.rule.clone()),
            Direction::Ingress => ingress = Some(rule.rule.clone()),
        }
        if matches!(rule.action, RuleAction::Drop | RuleAction::Reject) {
            deny_action = Some(rule.action);
        }
    }
    let isolation = |dir: &str| RuleRef {
        kind: "NetworkPolicy".into(),
        policy: "<k8s-isolation>".into(),
        tier: "k8s".into(),
        rule: format!("default-deny-{dir}"),
    };
    let verdict = if output {
        Verdict::Allow
    } else if deny_action == Some(RuleAction::Reject) && to_agent {
        // The flows hand a rejected packet to the agent, which answers with RST / ICMP.
        Verdict::Reject
    } else {
        if deny_action.is_none() {
            // No rule denied it: the K8s isolation drop of the first direction that has one.
            for hit in hits {
                let (_, category, object) = cookie::split(hit.cookie);
                if category == cookie::ISOLATION {
                    if object == 1 && egress.is_none() {
                        egress = Some(isolation("egress"));
                    } else if object == 2 && ingress.is_none() {
                        ingress = Some(isolation("ingress"));
                    }
                }
            }
        }
        Verdict::Deny
    };
    Decision {
        verdict,
        egress,
        ingress,
        reason,
    }
}
