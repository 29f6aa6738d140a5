//! The `ovs` engine: scenario probes answered by a real Open vSwitch programmed by the agent.
//!
//! Per scenario file: a sandbox `ovs-vswitchd` (userspace datapath) and the file's pods as
//! network namespaces ([`Lab`]), made once. Per step: [`agent::realize_resolved`], the agent's
//! own code path (OVSDB bridge and ports, then one atomic bundle replacing the previous step's
//! flows). Per probe, in trace mode, `ofproto/trace <bridge> '<flow>' --ct-next trk,new` over one
//! unixctl connection: the last `Datapath actions:` outputting to the server's datapath port
//! (`dpif/show`) = allow, anything else = deny, or reject when a Reject rule's flow decided; the
//! deciding rules come from the cookies of the `conj_id` flows in the trace, as for the `sim`
//! engine. In traffic mode the verdict is a real connection between the namespaces
//! (`kakinectl probe connect`), the deciding rules still from the trace; the agent's packet-in
//! task ([`crate::agent::observe`]) runs beside the probes and answers Reject rules with RST / ICMP.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::StreamExt;

use crate::agent::observe::{self, RuleIndex};
use crate::agent::{self, AgentConfig};
use crate::datapath::compiler::{CompiledRule, LocalPod};
#[cfg(test)]
use crate::lab::engine::Hit;
use crate::lab::engine::{decision_from_hits, parse_trace, OvsMode};
use crate::lab::pods::{Lab, Servers};
use crate::lab::probe::{Outcome, Transport};
use crate::lab::sandbox::OvsSandbox;
use crate::lab::unixctl::Unixctl;
use crate::policy::resolved::{PodKey, Protocol, ResolvedPolicies};
use crate::policy::{resolve, Cluster, Decision, PolicySet, Probe};

/// How long a real probe waits for an answer before calling it dropped.
const TRAFFIC_TIMEOUT: Duration = Duration::from_millis(1500);
/// Real probes in flight at once.
const TRAFFIC_PARALLEL: usize = 32;

/// A sandbox OVS with one scenario file's pods. Dropping it deletes the pods, the bridge and the
/// daemons (field order: the unixctl connection, then the pods, then OVS).
pub struct OvsEngine {
    ctl: Unixctl,
    lab: Lab,
    ovs: OvsSandbox,
    rt: tokio::runtime::Runtime,
    cfg: AgentConfig,
    mode: OvsMode,
    /// OpenFlow port -> datapath port, from `dpif/show`.
    dp_ports: BTreeMap<u32, u32>,
    /// Traffic mode: the agent's packet-in task (Reject answers) and where it reads the rules.
    packet_ins: Option<(
        tokio::sync::watch::Sender<Arc<RuleIndex>>,
        tokio::task::JoinHandle<()>,
    )>,
}

/// One step's policies realized on the bridge.
pub struct OvsStep<'a> {
    engine: &'a mut OvsEngine,
    pods: BTreeMap<PodKey, LocalPod>,
    /// The IPv6 addresses of the dual-stack pods.
    ipv6: BTreeMap<PodKey, Ipv6Addr>,
    rules: Vec<CompiledRule>,
    /// Probes answered by a trace although real traffic was asked for, with why.
    fallbacks: BTreeMap<String, usize>,
}

/// Names unique to this process and engine: `o` + 6 base-36 digits of (pid, counter), so the
/// pods' namespaces and veths and the bridge's tap device do not collide with another engine,
/// test or checkout running next to this one.
fn unique_prefix() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = u64::from(std::process::id()) * 1000 + u64::from(NEXT.fetch_add(1, Ordering::Relaxed));
    let mut n = n % 36u64.pow(6);
    let mut s = String::from("o");
    let mut digits = Vec::new();
    for _ in 0..6 {
        digits.push(char::from_digit((n % 36) as u32, 36).unwrap_or('0'));
        n /= 36;
    }
    s.extend(digits.into_iter().rev());
    s
}

/// The `kakinectl` binary the pods run for real traffic: `$KAKINECTL`, this process if it is
/// kakinectl, else `kakinectl` next to this executable or one directory up (cargo puts test
/// binaries in `target/<profile>/deps/`).
pub fn kakinectl_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("KAKINECTL") {
        return p.into();
    }
    let exe = std::env::current_exe().unwrap_or_default();
    if exe
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("kakinectl"))
    {
        return exe;
    }
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    for candidate in [dir.join("kakinectl"), dir.join("../kakinectl")] {
        if candidate.exists() {
            return candidate;
        }
    }
    "kakinectl".into()
}

/// Whether SCTP sockets can be opened, checked once per process.
fn sctp_supported() -> bool {
    static SCTP: OnceLock<bool> = OnceLock::new();
    *SCTP.get_or_init(crate::lab::probe::sctp_supported)
}

impl OvsEngine {
    /// Starts a sandbox OVS and makes every pod of `cluster` (with servers on their ports in
    /// traffic mode).
    pub fn start(cluster: &Cluster, mode: OvsMode) -> Result<Self, String> {
        let world = resolve(cluster, &PolicySet::default()).map_err(|e| e.to_string())?;
        let prefix = unique_prefix();
        let bridge = format!("{prefix}b");
        let ovs = OvsSandbox::start_temp().map_err(|e| format!("sandbox OVS: {e}"))?;
        let kakinectl = kakinectl_binary();
        let servers = (mode == OvsMode::Traffic).then_some(Servers {
            kakinectl: &kakinectl,
            udp: true,
            sctp: sctp_supported(),
        });
        let lab =
            Lab::create_with(&world, &prefix, servers, None).map_err(|e| format!("pods: {e}"))?;
        let ctl = Unixctl::connect(&ovs.dir().join("ovs-vswitchd.ctl"))
            .map_err(|e| format!("ovs-vswitchd: {e}"))?;
        let cfg = AgentConfig {
            input: PathBuf::new(),
            ovsdb: ovs.db_target(),
            of_socket: ovs.mgmt_sock(&bridge),
            bridge,
            datapath_type: "netdev".into(),
            ifname_prefix: prefix,
            node: None,
            round: 1,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        Ok(OvsEngine {
            ctl,
            lab,
            ovs,
            rt,
            cfg,
            mode,
            dp_ports: BTreeMap::new(),
            packet_ins: None,
        })
    }

    /// The sandbox (for tests that look at OVS directly).
    pub fn sandbox(&self) -> &OvsSandbox {
        &self.ovs
    }

    /// The bridge the agent programs.
    pub fn bridge(&self) -> &str {
        &self.cfg.bridge
    }

    /// In traffic mode, once: the packet-in meters and the agent's packet-in task, which
    /// answers Reject rules' packets (the bridge exists after a first realization).
    fn start_packet_ins(&mut self) -> Result<(), String> {
        let of_socket = self.cfg.of_socket.clone();
        let (tx, rx) = tokio::sync::watch::channel(Arc::new(RuleIndex::default()));
        let task = self.rt.block_on(async {
            let conn = openflow::Connection::connect_unix(&of_socket)
                .await
                .map_err(|e| format!("packet-in connection: {e}"))?;
            observe::ensure_meters(&conn, &observe::ObserveConfig::default())
                .await
                .map_err(|e| format!("meters: {e}"))?;
            let audit = observe::AuditLog::to_writer(std::io::sink(), Default::default());
            Ok::<_, String>(observe::spawn_packet_ins(
                conn,
                rx,
                audit,
                observe::Metrics::new(),
            ))
        })?;
        self.packet_ins = Some((tx, task));
        Ok(())
    }

    /// Realizes `policies` with the agent's code path: one bundle replacing every flow.
    pub fn load(&mut self, policies: &ResolvedPolicies) -> Result<OvsStep<'_>, String> {
        let realize = |engine: &mut Self| {
            engine
                .rt
                .block_on(agent::realize_resolved(&engine.cfg, policies))
                .map_err(|e| format!("agent: {e}"))
        };
        let mut realized = realize(self)?;
        if self.mode == OvsMode::Traffic && self.packet_ins.is_none() {
            // Flows bind their meter when added: realize again now that the meters exist.
            self.start_packet_ins()?;
            realized = realize(self)?;
        }
        if let Some((tx, _)) = &self.packet_ins {
            let index = RuleIndex::new(&realized.compiled, policies, &realized.pods);
            let _ = tx.send(Arc::new(index));
        }
        if let Some(note) = realized.notes.first() {
            return Err(format!("agent: {note}"));
        }
        if realized
            .pods
            .iter()
            .any(|p| !self.dp_ports.contains_key(&p.ofport))
        {
            self.dp_ports = self.read_dp_ports()?;
        }
        if self.mode == OvsMode::Traffic {
            // Connections of the previous step must not carry over as established, nor its
            // datapath flows decide this step's first packets.
            for cmd in ["dpctl/flush-conntrack", "revalidator/purge"] {
                self.ctl.call(cmd, &[]).map_err(|e| e.to_string())?;
            }
        }
        Ok(OvsStep {
            engine: self,
            pods: realized
                .pods
                .into_iter()
                .map(|p| (p.key.clone(), p))
                .collect(),
            ipv6: policies
                .pods
                .iter()
                .filter_map(|p| p.ipv6.map(|a| (p.key.clone(), a)))
                .collect(),
            rules: realized.compiled.rules,
            fallbacks: BTreeMap::new(),
        })
    }

    /// `dpif/show` of the bridge: `name ofport/dpport: (type)` lines.
    fn read_dp_ports(&mut self) -> Result<BTreeMap<u32, u32>, String> {
        let out = self.ctl.call("dpif/show", &[]).map_err(|e| e.to_string())?;
        Ok(dp_ports(&out, &self.cfg.bridge))
    }
}

/// OpenFlow port -> datapath port of `bridge`, from a `dpif/show` answer ([`dpif_ports`]).
pub(crate) fn dp_ports(dpif_show: &str, bridge: &str) -> BTreeMap<u32, u32> {
    dpif_ports(dpif_show, bridge)
        .into_iter()
        .map(|(_, of, dp)| (of, dp))
        .collect()
}

/// (name, OpenFlow port, datapath port) of every port of `bridge`, from a `dpif/show` answer
/// (`bridge:` headers, then `name ofport/dpport: (type)` lines).
pub(crate) fn dpif_ports(dpif_show: &str, bridge: &str) -> Vec<(String, u32, u32)> {
    let mut ports = Vec::new();
    let mut in_bridge = false;
    for line in dpif_show.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_suffix(':') {
            in_bridge = name == bridge;
            continue;
        }
        if !in_bridge {
            continue;
        }
        let mut words = trimmed.split_whitespace();
        let (Some(name), Some(numbers)) = (words.next(), words.next()) else {
            continue;
        };
        let Some((of, dp)) = numbers.trim_end_matches(':').split_once('/') else {
            continue;
        };
        if let (Ok(of), Ok(dp)) = (of.parse(), dp.parse()) {
            ports.push((name.to_string(), of, dp));
        }
    }
    ports
}

/// The top-level items of a datapath action list (commas inside `ct(...)` do not split).
pub(crate) fn top_level_actions(actions: &str) -> Vec<&str> {
    let mut depth = 0i32;
    let mut start = 0;
    let mut items = Vec::new();
    for (i, c) in actions.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&actions[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&actions[start..]);
    items
}

/// Whether datapath `actions` output to datapath port `port` (top-level comma-separated action
/// list; commas inside `ct(...)` do not split).
pub(crate) fn outputs_to(actions: &str, port: u32) -> bool {
    top_level_actions(actions)
        .iter()
        .any(|a| a.trim() == port.to_string())
}

fn transport(p: Protocol) -> Option<Transport> {
    match p {
        Protocol::Tcp => Some(Transport::Tcp),
        Protocol::Udp => Some(Transport::Udp),
        Protocol::Sctp => Some(Transport::Sctp),
        Protocol::Icmp => None,
    }
}

impl OvsStep<'_> {
    fn endpoints(&self, probe: &Probe) -> Result<(&LocalPod, &LocalPod, IpAddr, IpAddr), String> {
        crate::lab::engine::endpoints(&self.pods, &self.ipv6, probe)
    }

    /// `ofproto/trace` of the probe's first packet as a new connection. As in the `sim` engine, a
    /// probe that does not fix its source port uses 0, which no realistic sourcePort range covers.
    pub fn trace(&mut self, probe: &Probe) -> Result<Decision, String> {
        let (from, to, src, dst) = self.endpoints(probe)?;
        let (six, addrs) = match (src, dst) {
            (IpAddr::V6(s), IpAddr::V6(d)) => ("6", format!("ipv6_src={s},ipv6_dst={d}")),
            (s, d) => ("", format!("nw_src={s},nw_dst={d}")),
        };
        let l4 = match probe.protocol {
            // OVS names the ICMPv6 fields `icmpv6_type` / `icmpv6_code`.
            Protocol::Icmp => format!(
                "icmp{six},icmp{}_type={},icmp{}_code={}",
                if six.is_empty() { "" } else { "v6" },
                probe.port >> 8,
                if six.is_empty() { "" } else { "v6" },
                probe.port & 0xff
            ),
            p => {
                // `tp_src` is OVS's alias of `tcp_src` only.
                let name = match p {
                    Protocol::Udp => "udp",
                    Protocol::Sctp => "sctp",
                    _ => "tcp",
                };
                format!(
                    "{name}{six},{name}_src={},{name}_dst={}",
                    probe.source_port.unwrap_or(0),
                    probe.port
                )
            }
        };
        let flow = format!(
            "in_port={},{l4},dl_src={},dl_dst={},{addrs}",
            from.ofport,
            crate::policy::mac::mac_string(from.mac.0),
            crate::policy::mac::mac_string(to.mac.0),
        );
        let to_ofport = to.ofport;
        let engine = &mut *self.engine;
        let dp_port = *engine
            .dp_ports
            .get(&to_ofport)
            .ok_or_else(|| format!("no datapath port for OpenFlow port {to_ofport}"))?;
        let bridge = engine.cfg.bridge.clone();
        let out = engine
            .ctl
            .call(
                "ofproto/trace",
                &[bridge.as_str(), flow.as_str(), "--ct-next", "trk,new"],
            )
            .map_err(|e| e.to_string())?;
        let (actions, hits) = parse_trace(&out);
        if actions.is_empty() {
            return Err(format!(
                "no datapath actions in the trace of {flow}:\n{out}"
            ));
        }
        Ok(decision_from_hits(
            &hits,
            &self.rules,
            outputs_to(&actions, dp_port),
            // OVS shows the packet-in as `userspace(...,controller(...))`.
            actions.contains("controller("),
            format!("ofproto/trace: datapath actions {actions}"),
        ))
    }

    /// Answers one probe (see the module docs).
    pub fn decide(&mut self, probe: &Probe) -> Result<Decision, String> {
        self.decide_all(std::slice::from_ref(probe))
            .pop()
            .unwrap_or_else(|| Err("no decision".into()))
    }

    /// Answers every probe; in traffic mode the real attempts run concurrently.
    pub fn decide_all(&mut self, probes: &[Probe]) -> Vec<Result<Decision, String>> {
        let traced: Vec<Result<Decision, String>> = probes.iter().map(|p| self.trace(p)).collect();
        if self.engine.mode == OvsMode::Trace {
            return traced;
        }
        // Which probes go on the wire, and why the others stay traces.
        let mut wire = Vec::new();
        for (i, (probe, d)) in probes.iter().zip(&traced).enumerate() {
            if d.is_err() {
                continue;
            }
            let why = match transport(probe.protocol) {
                None => Some("ICMP probes answered by ofproto/trace (no ICMP client yet)"),
                Some(Transport::Sctp) if !sctp_supported() => {
                    Some("SCTP probes answered by ofproto/trace: this kernel opens no SCTP sockets")
                }
                Some(t) => {
                    let Ok((_, _, _, dst)) = self.endpoints(probe) else {
                        continue;
                    };
                    wire.push((i, t, dst));
                    None
                }
            };
            if let Some(why) = why {
                *self.fallbacks.entry(why.to_string()).or_default() += 1;
            }
        }
        let engine = &*self.engine;
        let lab = &engine.lab;
        let measured: Vec<Option<Outcome>> = engine.rt.block_on(
            futures::stream::iter(wire.iter().map(|&(i, t, ip)| {
                let p = &probes[i];
                lab.probe(
                    &p.from,
                    ip,
                    t,
                    p.port,
                    p.source_port.unwrap_or(0),
                    TRAFFIC_TIMEOUT,
                )
            }))
            .buffered(TRAFFIC_PARALLEL)
            .collect(),
        );
        let measured = wire.iter().zip(measured).map(|(&(i, t, _), o)| (i, t, o));
        crate::lab::engine::with_traffic(traced, measured)
    }

    /// The fallbacks of this step, one line each with its count.
    pub fn notes(&self) -> Vec<String> {
        self.fallbacks
            .iter()
            .map(|(why, n)| format!("{n} {why}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datapath_actions_output_only_to_a_top_level_port() {
        assert!(outputs_to("ct(commit,zone=65520,label=0x1/0xff),4", 4));
        assert!(!outputs_to("ct(commit,zone=65520,nat(src=4)),5", 4));
        assert!(!outputs_to("drop", 4));
    }

    #[test]
    fn trace_lines_give_cookies_and_conjunction_flows() {
        let out = " 0. in_port=1, priority 200, cookie 0x1020000000001\n    goto_table:1\n\
                   45. conj_id=7,ip, priority 100, cookie 0x1030000000007\n\
                   Datapath actions: ct(zone=65520),recirc(0x1)\n\
                   Datapath actions: drop\n";
        let (actions, hits) = parse_trace(out);
        assert_eq!(actions, "drop");
        assert_eq!(
            hits,
            vec![
                Hit {
                    cookie: 0x1020000000001,
                    conj: false
                },
                Hit {
                    cookie: 0x1030000000007,
                    conj: true
                }
            ]
        );
    }

    #[test]
    fn prefixes_fit_interface_names_and_differ_per_engine() {
        let (a, b) = (unique_prefix(), unique_prefix());
        assert_ne!(a, b);
        assert_eq!(a.len(), 7);
    }
}
