//! `kakinectl explain --live`: the connection of a [`Query`] asked of a running node as well —
//! an `ofproto/trace` of its first packet (a new connection) on the node's bridge, decoded back
//! to the deciding tier/policy/rule through the cookies of the `conj_id` flows it hit and the
//! node's `agent.json`, with the audit-log lines of that connection — and set beside the offline
//! answer ([`walk`](super::walk)); [`disagreements`] names where the two differ.
//!
//! The trace starts at the client's port, so the client must be a pod attached to this node.
//! Both directions are decided here when the server is local too (a standalone node). When the
//! packet leaves by the Geneve tunnel (a node lab), it is traced on the server's node as well,
//! arriving from the tunnel, if that node is given; if not, only the egress is decided, and the
//! comparison is of the egress alone. The decoding is the one the `ovs` and `cluster` test
//! engines hold to the reference evaluator ([`crate::lab::engine`]). Its text and JSON:
//! [`super::live_text`].

use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::agent::annotate::annotate;
use crate::agent::state::{read_agent_state, AgentState, PodEntry};
use crate::agent::unixctl;
use crate::analysis::forwarding::{before_ingress, forwarding_drop, to_host, ForwardingDrop};
use crate::analysis::observed::audit_line;
use crate::analysis::walk::{resolve_port, Case, Endpoint, Query};
use crate::datapath::compiler::cookie;
use crate::datapath::network::{GATEWAY_MAC, GATEWAY_PORT, TUNNEL_PORT};
use crate::datapath::pipeline;
use crate::lab::cluster_engine::{hop, l4, Hop};
use crate::lab::engine::{
    decision_from_hits_by, trace_actions, trace_line, Hit, HitRule, DESTINATION_IDS,
};
use crate::lab::ovs_engine::{dp_ports, dpif_ports, outputs_to};
use crate::policy::resolved::{Direction, PodKey, Protocol, ResolvedPolicies, RuleAction};
use crate::policy::{Decision, Destination, Probe, Verdict};

/// The audit-log lines of the connection kept in an answer (the newest).
const AUDIT_LINES: usize = 10;

/// Where a running node keeps what `explain --live` reads.
#[derive(Debug, Clone)]
pub struct NodeDirs {
    /// The OVS run directory (`<bridge>.mgmt`, `ovs-vswitchd.ctl` or `ovs-vswitchd.<pid>.ctl`).
    pub ovs_rundir: PathBuf,
    /// The agent's bridge.
    pub bridge: String,
    /// The agent's state directory (`agent.json`).
    pub state_dir: PathBuf,
    /// The agent's audit log (`--audit-log`); a missing file is noted, not an error.
    pub audit_log: Option<PathBuf>,
}

/// One flow of the trace that names a rule: a rule's `conj_id` flow or a K8s isolation drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracedFlow {
    /// Its table's name.
    pub table: String,
    /// Its cookie.
    pub cookie: u64,
    /// What it is for ([`annotate`]: `rule 3: Ingress Allow tier/policy/rule`, ...).
    pub what: String,
}

/// The trace on one node.
#[derive(Debug, Clone)]
pub struct NodeTrace {
    /// The node's OVS run directory.
    pub node: String,
    /// The `ovs-appctl` command that reproduces the trace.
    pub command: String,
    /// The last `Datapath actions:` of the trace.
    pub actions: String,
    /// The rule flows the packet hit there, in order.
    pub flows: Vec<TracedFlow>,
}

/// The node's answer.
#[derive(Debug, Clone)]
pub struct LiveAnswer {
    /// The traces: the client's node, then (across the tunnel) the server's node when given.
    pub traces: Vec<NodeTrace>,
    /// The verdict and deciding rules read from the flows hit (isolation drops as
    /// `k8s/<k8s-isolation>/default-deny-DIR`, as the evaluator names them).
    pub decision: Decision,
    /// Whether the server's ingress was traced (the server is attached to the client's node,
    /// or the server's node was given); if not, the packet left by the tunnel or the gateway
    /// and only the egress was decided.
    pub ingress_here: bool,
    /// Where the packet went: `delivered to ...`, `tunnel to node 10.0.0.2`, `to the agent`,
    /// `dropped`, `dropped by forwarding in L2Forwarding on ...: why`.
    pub hop: String,
    /// No policy denied the packet and it was dropped all the same: where and why (a node
    /// without a route to the server, [`crate::analysis::forwarding`]). The policies' verdict
    /// on the node is then allow, and [`disagreements`] compares that.
    pub forwarding: Option<ForwardingDrop>,
    /// The newest audit-log lines of this connection (client, server, protocol, port).
    pub audit: Vec<String>,
    /// Why there are no audit lines to show, when that is not "none logged".
    pub audit_note: Option<String>,
}

fn rule_of(state: &AgentState, id: u32) -> Option<HitRule> {
    let r = state.rules.iter().find(|r| r.id == id)?;
    Some(HitRule {
        rule: crate::policy::resolved::RuleRef {
            kind: r.kind.clone(),
            policy: r.policy.clone(),
            tier: r.tier.clone(),
            rule: r.rule.clone(),
        },
        direction: match r.direction.as_str() {
            "Egress" => Direction::Egress,
            _ => Direction::Ingress,
        },
        action: match r.action.as_str() {
            "Allow" => RuleAction::Allow,
            "Drop" => RuleAction::Drop,
            "Reject" => RuleAction::Reject,
            _ => RuleAction::Pass,
        },
        staged: r.staged,
    })
}

/// The address of one end of a live query: a pod's IPv4 address, or one address.
fn address(p: &ResolvedPolicies, e: &Endpoint, which: &str) -> Result<Ipv4Addr, String> {
    match e {
        Endpoint::Pod(k) => p
            .pods
            .iter()
            .find(|i| &i.key == k)
            .map(|i| i.ip)
            .ok_or_else(|| format!("{which} {k}: no such pod in the cluster model")),
        Endpoint::Net(n) if n.prefix_len() == 32 => Ok(n.addr()),
        Endpoint::Net(n) => Err(format!(
            "{which} {n}: --live traces one connection; give one address, not a block"
        )),
    }
}

/// The MAC address of `pod` from its SpoofGuard flow (`in_port`, `dl_src`, `nw_src`).
fn mac_of(guard: &[openflow::FlowStats], pod: &PodEntry) -> Option<openflow::flow::MacAddr> {
    use openflow::flow::MatchField;
    guard.iter().find_map(|f| {
        let m = &f.r#match.to_vec();
        m.contains(&MatchField::InPort(pod.ofport))
            .then(|| {
                m.iter().find_map(|x| match x {
                    MatchField::EthSrc(mac, None) => Some(*mac),
                    _ => None,
                })
            })
            .flatten()
    })
}

/// The `agent.json` of `node`.
fn agent_state(node: &NodeDirs) -> Result<AgentState, String> {
    read_agent_state(&node.state_dir)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "no {} in {}: no kakine-agent has programmed this node (--state-dir or KAKINE_STATE_DIR names the agent's state directory)",
                crate::agent::state::AGENT_STATE,
                node.state_dir.display()
            )
        })
}

/// `ofproto/trace` of `flow` on `node` as a new connection: the trace, the node's `dpif/show`
/// and the command that reproduces the trace.
///
/// Errors: ovs-vswitchd unreachable, or a trace without datapath actions.
async fn trace_on(node: &NodeDirs, flow: &str) -> Result<(String, String, String), String> {
    let ctl = unixctl::vswitchd_socket(&node.ovs_rundir).map_err(|e| e.to_string())?;
    let out = unixctl::call(
        &ctl,
        "ofproto/trace",
        &[node.bridge.as_str(), flow, "--ct-next", "trk,new"],
    )
    .await
    .map_err(|e| e.to_string())?;
    if trace_actions(&out).is_empty() {
        return Err(format!(
            "no datapath actions in the trace of {flow}:\n{out}"
        ));
    }
    let dpif = unixctl::call(&ctl, "dpif/show", &[])
        .await
        .map_err(|e| e.to_string())?;
    let command = format!(
        "ovs-appctl -t {} ofproto/trace {} '{flow}' --ct-next trk,new",
        ctl.display(),
        node.bridge
    );
    Ok((out, dpif, command))
}

/// The rule flows of a trace (a rule's `conj_id` flow, an isolation drop), named through
/// `state`.
fn rule_flows(steps: &[(Option<u8>, Hit)], state: &AgentState) -> Vec<TracedFlow> {
    steps
        .iter()
        .filter(|(_, h)| {
            let (_, category, _) = cookie::split(h.cookie);
            (h.conj && category == cookie::POLICY) || category == cookie::ISOLATION
        })
        .map(|(t, h)| TracedFlow {
            table: t
                .and_then(pipeline::table_name)
                .map_or_else(|| "?".to_string(), str::to_string),
            cookie: h.cookie,
            what: annotate(h.cookie, Some(state)),
        })
        .collect()
}

/// The outer IPv4 source of a `tnl_push` (the client's node).
fn tunnel_source(actions: &str) -> Option<Ipv4Addr> {
    let rest = &actions[actions.find("tnl_push(")?..];
    let rest = &rest[rest.find("ipv4(src=")? + "ipv4(src=".len()..];
    rest.split(',').next()?.parse().ok()
}

/// The attached pod of `state` with address `ip`.
fn attached(state: &AgentState, ip: Ipv4Addr) -> Option<PodEntry> {
    state.pods.iter().find(|p| p.ip == ip.to_string()).cloned()
}

/// The attached pods of `state`, for an error.
fn pods_of(state: &AgentState) -> String {
    if state.pods.is_empty() {
        return "no pods".to_string();
    }
    let names: Vec<&str> = state.pods.iter().map(|p| p.pod.as_str()).collect();
    names.join(", ")
}

/// Asks the node of `node` the connection of `query` (whose pods, addresses and named ports
/// are read in `policies`, the offline answer's input): see the module docs. When the packet
/// leaves by the tunnel and `server_node` is given, it is traced on that node too, arriving
/// from the tunnel, and the ingress is decided there.
///
/// Errors (each naming the file, socket or pod): no `agent.json`; the client is not attached
/// to this node (or the server to `server_node`); the bridge or ovs-vswitchd cannot be
/// reached; a trace has no datapath actions.
pub async fn ask(
    node: &NodeDirs,
    server_node: Option<&NodeDirs>,
    policies: &ResolvedPolicies,
    query: &Query,
) -> Result<LiveAnswer, String> {
    let state = agent_state(node)?;
    let (port, _) = resolve_port(policies, query)?;
    let src = address(policies, &query.from, "--from")?;
    let dst = address(policies, &query.to, "--to")?;
    let client = attached(&state, src).ok_or_else(|| {
        format!(
            "--from {}: not a pod attached to this node ({} lists {}); the trace starts at the client's port, so ask the client's node",
            query.from,
            node.state_dir.join(crate::agent::state::AGENT_STATE).display(),
            pods_of(&state)
        )
    })?;
    let mut server = attached(&state, dst);

    let sock = node.ovs_rundir.join(format!("{}.mgmt", node.bridge));
    let conn = openflow::Connection::connect_unix(&sock).await.map_err(|e| {
        format!(
            "OpenFlow {}: {e} (is ovs-vswitchd running with bridge {}? --ovs-rundir or OVS_RUNDIR names its run directory, --bridge the bridge)",
            sock.display(),
            node.bridge
        )
    })?;
    let guard_table = pipeline::table("SpoofGuard").map_err(|e| e.to_string())?.id;
    let guard = conn
        .dump_flows(Some(guard_table))
        .await
        .map_err(|e| format!("OpenFlow {}: {e}", sock.display()))?;
    let src_mac = mac_of(&guard, &client).ok_or_else(|| {
        format!(
            "{}: no SpoofGuard flow for port {} on {}: the agent has not attached it yet",
            client.pod, client.ofport, node.bridge
        )
    })?;
    let dst_mac = server
        .as_ref()
        .and_then(|s| mac_of(&guard, s))
        .unwrap_or(GATEWAY_MAC);
    // `l4` reads the protocol and ports of the probe, not its client.
    let (namespace, name) = client.pod.split_once('/').unwrap_or(("", &client.pod));
    let probe = Probe {
        from: PodKey {
            namespace: namespace.to_string(),
            name: name.to_string(),
        },
        to: Destination::Ip(dst.into()),
        protocol: query.protocol,
        port,
        source_port: query.source_port,
    };
    let mac = |m: openflow::flow::MacAddr| crate::policy::mac::mac_string(m.0);
    let l4 = l4(&probe);
    let flow = format!(
        "in_port={},{l4},dl_src={},dl_dst={},nw_src={src},nw_dst={dst}",
        client.ofport,
        mac(src_mac),
        mac(dst_mac),
    );
    let (out, dpif, command) = trace_on(node, &flow).await?;
    let mut actions = trace_actions(&out);
    // The trace the packet ended in, and that node's run directory.
    let mut last = (out.clone(), node.ovs_rundir.display().to_string());
    let mut steps: Vec<(Option<u8>, Hit)> = out.lines().filter_map(trace_line).collect();
    let mut traces = vec![NodeTrace {
        node: node.ovs_rundir.display().to_string(),
        command,
        actions: actions.clone(),
        flows: rule_flows(&steps, &state),
    }];
    let mut dp = dp_ports(&dpif, &node.bridge);
    let gateway_of = |dpif: &str, bridge: &str| {
        dpif_ports(dpif, bridge)
            .into_iter()
            .find(|(n, _, _)| n == GATEWAY_PORT)
            .map(|(_, _, dp)| dp)
    };
    let mut gateway = gateway_of(&dpif, &node.bridge);
    let mut on_server_node = String::new();
    let mut peer_state = None;
    if let (Hop::Tunnel(node_ip), None, Some(peer)) = (hop(&actions)?, &server, server_node) {
        // Across the tunnel: the packet as the server's node receives it.
        let pstate = agent_state(peer)?;
        let s = attached(&pstate, dst).ok_or_else(|| {
            format!(
                "--to {}: not a pod attached to the server's node {} (it lists {})",
                query.to,
                peer.ovs_rundir.display(),
                pods_of(&pstate)
            )
        })?;
        let ctl = unixctl::vswitchd_socket(&peer.ovs_rundir).map_err(|e| e.to_string())?;
        let pdpif = unixctl::call(&ctl, "dpif/show", &[])
            .await
            .map_err(|e| e.to_string())?;
        let tun = dpif_ports(&pdpif, &peer.bridge)
            .into_iter()
            .find(|(n, _, _)| n == TUNNEL_PORT)
            .map(|(_, of, _)| of)
            .ok_or_else(|| format!("no {TUNNEL_PORT} on {}", peer.ovs_rundir.display()))?;
        let tun_src =
            tunnel_source(&actions).ok_or_else(|| format!("no tunnel source in {actions}"))?;
        let gw = mac(GATEWAY_MAC);
        let flow = format!(
            "in_port={tun},tun_src={tun_src},tun_dst={node_ip},{l4},dl_src={gw},dl_dst={gw},nw_src={src},nw_dst={dst}"
        );
        let (out, pdpif, command) = trace_on(peer, &flow).await?;
        let psteps: Vec<(Option<u8>, Hit)> = out.lines().filter_map(trace_line).collect();
        actions = trace_actions(&out);
        last = (out.clone(), peer.ovs_rundir.display().to_string());
        traces.push(NodeTrace {
            node: peer.ovs_rundir.display().to_string(),
            command,
            actions: actions.clone(),
            flows: rule_flows(&psteps, &pstate),
        });
        steps.extend(psteps.into_iter().map(|(t, h)| (t, h.on_destination())));
        dp = dp_ports(&pdpif, &peer.bridge);
        gateway = gateway_of(&pdpif, &peer.bridge);
        on_server_node = format!(" on {}", peer.ovs_rundir.display());
        server = Some(s);
        peer_state = Some(pstate);
    }
    let at_host = server.is_none() && matches!(hop(&actions)?, Hop::Port(p) if Some(p) == gateway);
    let (output, where_to) = match (&server, hop(&actions)?) {
        (Some(s), _) => (
            dp.get(&s.ofport).is_some_and(|p| outputs_to(&actions, *p)),
            format!("delivered to {} (port {}){on_server_node}", s.pod, s.ofport),
        ),
        (None, Hop::Tunnel(ip)) => (true, format!("tunnel to node {ip}")),
        (None, Hop::Port(p)) => (true, format!("out of datapath port {p}")),
        (None, _) => (false, String::new()),
    };
    let to_agent = actions.contains("controller(");
    let hits: Vec<Hit> = steps.iter().map(|(_, h)| *h).collect();
    let lookup = |id: u32| match &peer_state {
        Some(p) if id & DESTINATION_IDS != 0 => rule_of(p, id & !DESTINATION_IDS),
        _ => rule_of(&state, id),
    };
    let decision = decision_from_hits_by(
        &hits,
        lookup,
        output,
        to_agent,
        format!("ofproto/trace: datapath actions {actions}"),
    );
    // Dropped with no policy flow denying it: forwarding, not policy.
    let forwarding = if at_host {
        to_host(&last.1, policies, src, dst)
    } else {
        (!output && !to_agent && !denied_by_policy(&hits, lookup))
            .then(|| forwarding_drop(&last.1, &last.0, policies, src, dst))
            .flatten()
    };
    let hop = if let (Some(f), true) = (&forwarding, output) {
        format!(
            "{where_to} ({GATEWAY_PORT}, to the host), not to the server's node: {}",
            f.why
        )
    } else if output {
        where_to
    } else if to_agent && decision.verdict == Verdict::Reject {
        "to the agent (it answers a Reject)".to_string()
    } else if to_agent {
        // A logged rule's packet goes to the agent for its audit log; a Drop ends there.
        "to the agent (logged), then dropped".to_string()
    } else if let Some(f) = &forwarding {
        format!(
            "dropped by forwarding in {} on {}, not by a policy: {}",
            f.table, f.node, f.why
        )
    } else {
        "dropped".to_string()
    };
    // Dropped before the ingress tables: the server's ingress was not decided here.
    let ingress_decided = forwarding
        .as_ref()
        .and_then(|f| pipeline::table(&f.table).ok())
        .is_none_or(|t| !before_ingress(t.id));
    let mut audit = Vec::new();
    let mut audit_note = None;
    // The server's node's log too, when it is another file (a node lab's agents may share one).
    let peer_log = server_node.filter(|p| peer_state.is_some() && p.audit_log != node.audit_log);
    for n in std::iter::once(node).chain(peer_log) {
        let (lines, note) = audit_of(n, src, dst, query.protocol, port);
        audit.extend(lines);
        audit_note = audit_note.or(note);
    }
    Ok(LiveAnswer {
        traces,
        decision,
        ingress_here: server.is_some() && ingress_decided,
        hop,
        forwarding,
        audit,
        audit_note,
    })
}

/// Whether a flow of `hits` denies the packet by policy: a Drop or Reject rule's `conj_id`
/// flow (not staged), or a K8s isolation drop.
fn denied_by_policy(hits: &[Hit], rule: impl Fn(u32) -> Option<HitRule>) -> bool {
    hits.iter().any(|h| {
        let (_, category, object) = cookie::split(h.cookie);
        category == cookie::ISOLATION
            || (h.conj
                && category == cookie::POLICY
                && rule(object).is_some_and(|r| {
                    !r.staged && matches!(r.action, RuleAction::Drop | RuleAction::Reject)
                }))
    })
}

impl LiveAnswer {
    /// The node's policy verdict: the packet's, unless it was dropped by forwarding (then
    /// allow: no policy denied it).
    pub fn policy_verdict(&self) -> Verdict {
        match self.forwarding {
            Some(_) => Verdict::Allow,
            None => self.decision.verdict,
        }
    }
}

/// The newest audit-log lines of `src -> dst` on `protocol`/`port` (for ICMP any).
fn audit_of(
    node: &NodeDirs,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: Protocol,
    port: u16,
) -> (Vec<String>, Option<String>) {
    let Some(path) = &node.audit_log else {
        return (Vec::new(), Some("no audit log given".into()));
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return (
                Vec::new(),
                Some(format!(
                    "{}: {e} (--audit-log names the agent's audit log)",
                    path.display()
                )),
            )
        }
    };
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| {
            audit_line(l).is_some_and(|(c, _)| {
                c.src == src
                    && c.dst == dst
                    && c.protocol == protocol
                    && (protocol == Protocol::Icmp || c.port == port)
            })
        })
        .map(str::to_string)
        .collect();
    let skip = lines.len().saturating_sub(AUDIT_LINES);
    lines.drain(..skip);
    (lines, None)
}

/// Where the node's answer differs from the offline `case`, one line each (empty: they agree).
/// With the ingress decided elsewhere, only the egress is compared: its verdict (the packet
/// left this node or not) and its deciding rule. A forwarding drop ([`LiveAnswer::forwarding`])
/// is no policy verdict: the node's policies then allowed the packet, and that is compared.
pub fn disagreements(case: &Case, live: &LiveAnswer) -> Vec<String> {
    let mut out = Vec::new();
    let show = |r: &Option<crate::policy::resolved::RuleRef>| {
        r.as_ref()
            .map_or_else(|| "none (default allow)".to_string(), |r| r.to_string())
    };
    let node = live.policy_verdict();
    let offline = if live.ingress_here {
        case.decision.verdict
    } else {
        case.egress.verdict.unwrap_or(Verdict::Allow)
    };
    if offline != node {
        out.push(format!(
            "verdict{}: offline {offline}, node {node}",
            if live.ingress_here {
                ""
            } else {
                " of the egress"
            }
        ));
    }
    if case.decision.egress != live.decision.egress {
        out.push(format!(
            "egress rule: offline {}, node {}",
            show(&case.decision.egress),
            show(&live.decision.egress)
        ));
    }
    if live.ingress_here && case.decision.ingress != live.decision.ingress {
        out.push(format!(
            "ingress rule: offline {}, node {}",
            show(&case.decision.ingress),
            show(&live.decision.ingress)
        ));
    }
    out
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
