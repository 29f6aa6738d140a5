//! Connections observed on nodes, read from what the agents leave: conntrack entries
//! (`ovs-appctl dpctl/dump-conntrack` lines) and audit-log lines of logged Allow rules (text or
//! JSON, docs/observability.md), mapped onto the cluster model's workloads: the input of
//! `kakinectl graph` and `kakinectl recommend`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::policy::resolved::{PodInfo, Protocol, ResolvedPolicies};

/// One observed connection: client, server, protocol, destination port (ICMP: 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Connection {
    /// Client address.
    pub src: Ipv4Addr,
    /// Server address.
    pub dst: Ipv4Addr,
    /// Protocol.
    pub protocol: Protocol,
    /// Destination port (0 for ICMP).
    pub port: u16,
}

fn protocol_of(s: &str) -> Option<Protocol> {
    match s.to_ascii_lowercase().as_str() {
        "tcp" | "6" => Some(Protocol::Tcp),
        "udp" | "17" => Some(Protocol::Udp),
        "sctp" | "132" => Some(Protocol::Sctp),
        "icmp" | "1" => Some(Protocol::Icmp),
        _ => None,
    }
}

/// The value of `key=` inside the first `orig=(...)` of a conntrack line.
fn orig_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find("orig=(")? + "orig=(".len();
    let end = start + line[start..].find(')')?;
    line[start..end].split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then_some(v)
    })
}

/// Parses `ovs-appctl dpctl/dump-conntrack` output (one entry a line:
/// `tcp,orig=(src=10.10.1.10,dst=10.10.2.10,sport=40000,dport=8080),reply=(...),zone=65520,...`;
/// lines of other protocols or without an `orig` tuple are skipped). The original direction
/// is the client's: the connection is `src -> dst:dport`.
pub fn parse_conntrack(text: &str) -> Vec<Connection> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let protocol = protocol_of(line.split(',').next()?)?;
            let src = orig_field(line, "src")?.parse().ok()?;
            let dst = orig_field(line, "dst")?.parse().ok()?;
            let port = match protocol {
                Protocol::Icmp => 0,
                _ => orig_field(line, "dport")?.parse().ok()?,
            };
            Some(Connection {
                src,
                dst,
                protocol,
                port,
            })
        })
        .collect()
}

/// Parses audit-log lines (text or JSON), keeping those of Allow rules: each is one connection
/// a logged rule allowed. Drop, Reject and staged lines are attempts, not connections.
pub fn parse_audit(text: &str) -> Vec<Connection> {
    text.lines()
        .filter_map(audit_line)
        .filter(|(_, action)| action == "Allow")
        .map(|(c, _)| c)
        .collect()
}

/// One audit-log line (text or JSON, docs/observability.md): its connection and its action
/// (`Allow`, `Drop`, `Reject`, `Pass`, `WouldDrop`, ...); `None` for a line that is neither.
pub fn audit_line(line: &str) -> Option<(Connection, String)> {
    let line = line.trim();
    if line.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        let protocol = protocol_of(v["protocol"].as_str()?)?;
        let c = Connection {
            src: v["srcIP"].as_str()?.parse().ok()?,
            dst: v["dstIP"].as_str()?.parse().ok()?,
            protocol,
            port: v["dstPort"].as_u64().unwrap_or(0) as u16,
        };
        return Some((c, v["action"].as_str()?.to_string()));
    }
    // time table tier kind:policy rule direction action applied-to src-ip src-port
    // dst-ip dst-port protocol ip-length log-label [N packets]
    let f: Vec<&str> = line.split(' ').collect();
    if f.len() < 14 {
        return None;
    }
    let protocol = protocol_of(f[12])?;
    let c = Connection {
        src: f[8].parse().ok()?,
        dst: f[10].parse().ok()?,
        protocol,
        port: f[11].parse().unwrap_or(0),
    };
    Some((c, f[6].to_string()))
}

/// A workload: the pods of one namespace sharing an `app` label (or one pod without it), or an
/// address outside the cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Workload {
    /// `namespace`, `app` (the pod's name when it has no `app` label).
    App(String, String),
    /// An address no pod has.
    External(Ipv4Addr),
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Workload::App(ns, app) => write!(f, "{ns}/{app}"),
            Workload::External(ip) => write!(f, "{ip}"),
        }
    }
}

/// The workload of a pod.
pub fn workload_of(pod: &PodInfo, labels: Option<&BTreeMap<String, String>>) -> Workload {
    let app = labels
        .and_then(|l| l.get("app"))
        .cloned()
        .unwrap_or_else(|| pod.key.name.clone());
    Workload::App(pod.key.namespace.clone(), app)
}

/// An edge of the dependency map: who talks to whom on what, how many connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// Client workload.
    pub from: Workload,
    /// Server workload.
    pub to: Workload,
    /// Protocol.
    pub protocol: Protocol,
    /// Destination port (0 for ICMP).
    pub port: u16,
    /// Connections observed.
    pub connections: u64,
}

/// The dependency map: workloads and the edges between them, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Graph {
    /// Every workload an edge touches.
    pub nodes: Vec<Workload>,
    /// The edges.
    pub edges: Vec<Edge>,
}

/// The map of `connections` over the pods of `p` (`labels` gives each pod's labels, by
/// `namespace/name`).
pub fn graph(
    p: &ResolvedPolicies,
    labels: &BTreeMap<String, BTreeMap<String, String>>,
    connections: &[Connection],
) -> Graph {
    let by_ip: BTreeMap<Ipv4Addr, Workload> = p
        .pods
        .iter()
        .filter(|pod| !pod.host_network)
        .map(|pod| (pod.ip, workload_of(pod, labels.get(&pod.key.to_string()))))
        .collect();
    let of = |ip: Ipv4Addr| by_ip.get(&ip).cloned().unwrap_or(Workload::External(ip));
    let mut edges: BTreeMap<(Workload, Workload, Protocol, u16), u64> = BTreeMap::new();
    for c in connections {
        *edges
            .entry((of(c.src), of(c.dst), c.protocol, c.port))
            .or_default() += 1;
    }
    let mut nodes: Vec<Workload> = edges
        .keys()
        .flat_map(|(a, b, _, _)| [a.clone(), b.clone()])
        .collect();
    nodes.sort();
    nodes.dedup();
    Graph {
        nodes,
        edges: edges
            .into_iter()
            .map(|((from, to, protocol, port), connections)| Edge {
                from,
                to,
                protocol,
                port,
                connections,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audit_line_gives_its_connection_and_action_in_text_and_json() {
        let c = Connection {
            src: Ipv4Addr::new(10, 10, 2, 11),
            dst: Ipv4Addr::new(10, 10, 3, 10),
            protocol: Protocol::Tcp,
            port: 5432,
        };
        let text = "2026-11-29T18:40:02.413094Z IngressDefault k8s NetworkPolicy:db/postgres-clients default-deny-ingress Ingress Drop db/postgres 10.10.2.11 40000 10.10.3.10 5432 TCP 60 <nil> [1 packets]";
        assert_eq!(audit_line(text), Some((c, "Drop".to_string())));
        let json = r#"{"action":"WouldDrop","srcIP":"10.10.2.11","dstIP":"10.10.3.10","dstPort":5432,"protocol":"TCP"}"#;
        assert_eq!(audit_line(json), Some((c, "WouldDrop".to_string())));
        assert_eq!(audit_line("kakine-agent started"), None);
        assert!(parse_audit(text).is_empty(), "a Drop is no connection");
    }
}
