//! `kakinectl matrix`: the offline truth table of every pod pair on a list of ports, for each
//! direction on its own (the client's egress, the server's ingress) and combined, as
//! policy-assistant's probe mode prints them, but with Antrea tiers, ANP/BANP and K8s
//! NetworkPolicy together, and the deciding rules per cell.
//!
//! A pod never meets itself (loopback does not cross the bridge) and host-network pods are never
//! subjects: both are left out. The cost is pods² × ports evaluations, each walking the rules
//! applied to the two pods.

use std::fmt::{self, Write as _};

use serde_json::{json, Value};

use crate::analysis::walk::protocol_name;
use crate::policy::evaluate::{evaluate_traced, LegTrace, Source, K8S_ISOLATION_POLICY};
use crate::policy::resolved::{
    icmp_port, Direction, PodInfo, PodKey, Protocol, ResolvedPolicies, RuleRef,
};
use crate::policy::{Destination, Probe, Verdict};

/// A column of ports the matrix probes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ServiceSpec {
    /// A protocol and port number.
    Port(Protocol, u16),
    /// A container port name, resolved on each destination pod (cells whose destination lacks it
    /// are empty).
    Named(Protocol, String),
    /// ICMP type and code.
    Icmp(u8, u8),
}

impl ServiceSpec {
    /// Parses `80`, `tcp/80`, `udp/53`, `sctp/9`, `http`, `tcp/http`, `icmp` (echo request) or
    /// `icmp/TYPE/CODE`.
    ///
    /// Errors: an unknown protocol or a malformed number, naming the entry.
    pub fn parse(s: &str) -> Result<ServiceSpec, String> {
        let bad = |why: &str| {
            format!("{s:?}: {why} (expected PORT, PROTO/PORT, NAME, icmp or icmp/TYPE/CODE)")
        };
        let parts: Vec<&str> = s.split('/').collect();
        let proto = |p: &str| match p.to_ascii_uppercase().as_str() {
            "TCP" => Ok(Protocol::Tcp),
            "UDP" => Ok(Protocol::Udp),
            "SCTP" => Ok(Protocol::Sctp),
            "ICMP" => Ok(Protocol::Icmp),
            _ => Err(bad("unknown protocol")),
        };
        let port_or_name = |p: Protocol, x: &str| match x.parse::<u16>() {
            Ok(n) => Ok(ServiceSpec::Port(p, n)),
            Err(_) if x.chars().all(|c| c.is_ascii_digit()) => Err(bad("port out of range")),
            Err(_) if x.is_empty() => Err(bad("empty port")),
            Err(_) => Ok(ServiceSpec::Named(p, x.to_string())),
        };
        match parts.as_slice() {
            [one] if one.eq_ignore_ascii_case("icmp") => Ok(ServiceSpec::Icmp(8, 0)),
            [one] => port_or_name(Protocol::Tcp, one),
            [p, t, c] if p.eq_ignore_ascii_case("icmp") => {
                let n = |x: &str| {
                    x.parse::<u8>()
                        .map_err(|_| bad("ICMP type and code are 0-255"))
                };
                Ok(ServiceSpec::Icmp(n(t)?, n(c)?))
            }
            [p, x] => match proto(p)? {
                Protocol::Icmp => Err(bad("ICMP has no port")),
                p => port_or_name(p, x),
            },
            _ => Err(bad("malformed")),
        }
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        match self {
            ServiceSpec::Port(p, _) | ServiceSpec::Named(p, _) => *p,
            ServiceSpec::Icmp(..) => Protocol::Icmp,
        }
    }
}

impl fmt::Display for ServiceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceSpec::Port(p, n) => write!(f, "{}/{n}", protocol_name(*p)),
            ServiceSpec::Named(p, n) => write!(f, "{}/{n}", protocol_name(*p)),
            ServiceSpec::Icmp(t, c) => write!(f, "ICMP {t}/{c}"),
        }
    }
}

/// One direction of a cell: its verdict on its own and the rule that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Half {
    /// The verdict of this direction alone.
    pub verdict: Verdict,
    /// The deciding rule (`None`: default allow).
    pub rule: Option<RuleRef>,
    /// For a K8s isolation drop, the NetworkPolicies that isolate the pod.
    pub isolating: Vec<String>,
}

impl Half {
    /// `Kind tier/policy/rule`, `isolation by ns/np, ...`, or `default allow`.
    pub fn rule_text(&self) -> String {
        match &self.rule {
            Some(r) if r.policy == K8S_ISOLATION_POLICY => {
                format!("isolation by {}", self.isolating.join(", "))
            }
            r => rule_text(r),
        }
    }
}

/// One pod pair on one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// The client.
    pub from: PodKey,
    /// The server.
    pub to: PodKey,
    /// The service column (index into [`Matrix::services`]).
    pub service: usize,
    /// The port number probed (named ports resolved on the server; ICMP `type << 8 | code`).
    pub port: u16,
    /// The client's egress on its own.
    pub egress: Half,
    /// The server's ingress on its own (as if egress allowed).
    pub ingress: Half,
    /// End to end.
    pub verdict: Verdict,
}

/// The truth table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    /// The pods, rows and columns, in model order.
    pub pods: Vec<PodKey>,
    /// The service columns.
    pub services: Vec<ServiceSpec>,
    /// Every cell, by service, then client, then server; a named port the server lacks has none.
    pub cells: Vec<Cell>,
}

/// The services the model's pods declare (`ports` of the cluster model), sorted: the default
/// columns.
pub fn declared_services(p: &ResolvedPolicies) -> Vec<ServiceSpec> {
    let mut s: Vec<ServiceSpec> = p
        .pods
        .iter()
        .flat_map(|pod| pod.ports.iter())
        .map(|(proto, port)| ServiceSpec::Port(*proto, *port))
        .collect();
    s.sort();
    s.dedup();
    s
}

/// The matrix of every pair of pods (not host-network, not a pod with itself) on `services`.
pub fn matrix(p: &ResolvedPolicies, services: &[ServiceSpec]) -> Matrix {
    let pods: Vec<&PodInfo> = p.pods.iter().filter(|i| !i.host_network).collect();
    let mut cells = Vec::new();
    for (si, service) in services.iter().enumerate() {
        for from in &pods {
            for to in &pods {
                if from.key == to.key {
                    continue;
                }
                let port = match service {
                    ServiceSpec::Port(_, n) => *n,
                    ServiceSpec::Named(proto, name) => match to.named_port(name, *proto) {
                        Some(n) => n,
                        None => continue,
                    },
                    ServiceSpec::Icmp(t, c) => icmp_port(*t, *c),
                };
                let probe = Probe {
                    from: from.key.clone(),
                    to: Destination::Pod(to.key.clone()),
                    protocol: service.protocol(),
                    port,
                    source_port: None,
                };
                let (d, trace) = evaluate_traced(p, &Source::Pod(from.key.clone()), &probe);
                cells.push(Cell {
                    from: from.key.clone(),
                    to: to.key.clone(),
                    service: si,
                    port,
                    egress: half(p, Direction::Egress, &trace.egress),
                    ingress: half(p, Direction::Ingress, &trace.ingress),
                    verdict: d.verdict,
                });
            }
        }
    }
    Matrix {
        pods: pods.iter().map(|i| i.key.clone()).collect(),
        services: services.to_vec(),
        cells,
    }
}

fn half(p: &ResolvedPolicies, dir: Direction, t: &LegTrace) -> Half {
    let isolating = match (&t.rule, &t.pod) {
        (Some(r), Some(pod)) if r.policy == K8S_ISOLATION_POLICY => p
            .isolating(dir, pod)
            .into_iter()
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    Half {
        verdict: t.verdict.unwrap_or(Verdict::Allow),
        rule: t.rule.clone(),
        isolating,
    }
}

/// The cell symbol: `.` allow, `X` deny, `R` reject (policy-assistant's, plus reject).
pub fn symbol(v: Verdict) -> char {
    match v {
        Verdict::Allow => '.',
        Verdict::Deny => 'X',
        Verdict::Reject => 'R',
    }
}

/// `Kind tier/policy/rule`, or `default allow`.
pub fn rule_text(r: &Option<RuleRef>) -> String {
    r.as_ref()
        .map(|r| format!("{} {r}", r.kind))
        .unwrap_or_else(|| "default allow".to_string())
}

impl Matrix {
    /// The cell of `from` to `to` on service `service`.
    pub fn cell(&self, service: usize, from: &PodKey, to: &PodKey) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.service == service && &c.from == from && &c.to == to)
    }

    fn table(
        &self,
        out: &mut String,
        service: usize,
        title: &str,
        pick: impl Fn(&Cell) -> Verdict,
    ) {
        let width = self
            .pods
            .iter()
            .map(|k| k.to_string().len())
            .max()
            .unwrap_or(0);
        let _ = writeln!(out, "{title}:");
        let _ = write!(out, "{:width$}", "");
        for (i, _) in self.pods.iter().enumerate() {
            let _ = write!(out, " {:>2}", i + 1);
        }
        let _ = writeln!(out);
        for (i, from) in self.pods.iter().enumerate() {
            let _ = write!(out, "{:width$}", from.to_string());
            for to in &self.pods {
                let c = self
                    .cell(service, from, to)
                    .map_or('-', |c| symbol(pick(c)));
                let _ = write!(out, "  {c}");
            }
            let _ = writeln!(out, "  {}", i + 1);
        }
    }

    /// The text of `kakinectl matrix`: per service, the egress, ingress and combined tables
    /// (rows: clients, columns: servers, numbered as the rows), and with `rules` one line per
    /// cell with its deciding rules.
    pub fn render(&self, rules: bool) -> String {
        let mut out = String::new();
        for (si, service) in self.services.iter().enumerate() {
            let _ = writeln!(out, "{service}");
            self.table(&mut out, si, "egress", |c| c.egress.verdict);
            self.table(&mut out, si, "ingress", |c| c.ingress.verdict);
            self.table(&mut out, si, "combined", |c| c.verdict);
            if rules {
                let _ = writeln!(out, "rules:");
                for c in self.cells.iter().filter(|c| c.service == si) {
                    let _ = writeln!(
                        out,
                        "  {} -> {} {}: {} (egress: {}; ingress: {})",
                        c.from,
                        c.to,
                        service,
                        c.verdict,
                        c.egress.rule_text(),
                        c.ingress.rule_text()
                    );
                }
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(
            out,
            "{} pods, {} services: . allow, X drop, R reject, - none (the pod itself, or a named port it lacks)",
            self.pods.len(),
            self.services.len()
        );
        out
    }

    /// The matrix as JSON: `pods`, `services` and `cells` (`from`, `to`, `service`, `port`,
    /// `verdict`, `egress` and `ingress` each `{verdict, rule}`).
    pub fn to_json(&self) -> Value {
        let half = |h: &Half| {
            json!({
                "verdict": h.verdict.to_string(),
                "rule": h.rule.as_ref().map(|r| format!("{} {r}", r.kind)),
                "isolating": h.isolating,
            })
        };
        json!({
            "pods": self.pods.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
            "services": self.services.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "cells": self.cells.iter().map(|c| json!({
                "from": c.from.to_string(),
                "to": c.to.to_string(),
                "service": self.services[c.service].to_string(),
                "port": c.port,
                "verdict": c.verdict.to_string(),
                "egress": half(&c.egress),
                "ingress": half(&c.ingress),
            })).collect::<Vec<_>>(),
        })
    }

    /// The combined verdicts as scenario probes (docs/scenarios.md): named ports resolved, ICMP
    /// as `icmp_type` / `icmp_code`.
    pub fn probes(&self) -> Vec<Value> {
        self.cells
            .iter()
            .map(|c| {
                let service = &self.services[c.service];
                let mut probe = json!({
                    "from": c.from.to_string(),
                    "to": c.to.to_string(),
                    "protocol": protocol_name(service.protocol()),
                    "expect": c.verdict.to_string(),
                });
                match service {
                    ServiceSpec::Icmp(t, code) => {
                        probe["icmp_type"] = json!(t);
                        probe["icmp_code"] = json!(code);
                    }
                    _ => probe["port"] = json!(c.port),
                }
                probe
            })
            .collect()
    }
}

/// A scenario file (docs/scenarios.md) that freezes a matrix: the input's cluster model (its
/// `Cluster` documents merged), one step holding the input's policy documents, and one probe per
/// cell expecting its combined verdict. `kakinectl test` then checks that a later change keeps
/// every answer.
pub fn scenario(id: &str, clusters: &[Value], resources: Vec<Value>, m: &Matrix) -> Value {
    let mut cluster = json!({"nodes": [], "namespaces": [], "pods": []});
    for doc in clusters {
        for key in ["nodes", "namespaces", "pods"] {
            if let (Some(Value::Array(from)), Some(Value::Array(to))) =
                (doc.get(key), cluster.get_mut(key))
            {
                to.extend(from.iter().cloned());
            }
        }
    }
    json!({
        "format_version": 1,
        "id": id,
        "title": format!("reachability matrix of {id}, frozen by kakinectl matrix --emit-scenario"),
        "source": {"repo": "kakine", "path": "kakinectl matrix", "test": "own", "function": "own"},
        "description": format!(
            "Every pod pair on {}: the combined verdicts the reference evaluator gave when the file was written.",
            m.services.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
        ),
        "cluster": cluster,
        "steps": [{
            "name": "as written",
            "resources": resources,
            "probes": m.probes(),
        }],
    })
}
