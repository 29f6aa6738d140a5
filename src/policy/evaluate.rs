//! The reference evaluator: "from A to B on port/protocol: verdict, and the rules that decided",
//! computed directly from [`ResolvedPolicies`], independent of flows.
//!
//! End to end, the client's egress policy applies first, then the server's ingress policy. In
//! each direction: tiered rules in order (first match wins; `Pass` jumps to the K8s stage), then
//! K8s NetworkPolicy (an isolated pod is allowed only by a matching K8s rule, and the baseline
//! tier is not consulted), then, for a pod K8s does not isolate, the baseline tier; nothing
//! matching means allow. Traffic from the server's own node (the node IP) passes its ingress
//! whatever isolates it.

use std::fmt;
use std::net::IpAddr;

use super::resolved::{
    Direction, PodInfo, PodKey, Protocol, ResolvedPolicies, ResolvedRule, RuleAction, RuleRef,
    Stage,
};

/// Policy name of the synthetic rule reported when K8s isolation denies traffic.
pub const K8S_ISOLATION_POLICY: &str = "<k8s-isolation>";

/// The destination of a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A pod of the cluster.
    Pod(PodKey),
    /// A raw IP address (a pod's IP is treated as that pod). An IPv6 address makes the probe
    /// IPv6: the client sends from its own IPv6 address.
    Ip(IpAddr),
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Pod(k) => k.fmt(f),
            Destination::Ip(ip) => ip.fmt(f),
        }
    }
}

/// A connection attempt: client pod, destination, protocol and destination port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Client pod.
    pub from: PodKey,
    /// Server pod or address.
    pub to: Destination,
    /// Protocol.
    pub protocol: Protocol,
    /// Destination port; for ICMP, `type << 8 | code` ([`super::resolved::icmp_port`]).
    pub port: u16,
    /// Source port, when the probe fixes one; a rule restricting source ports matches only a
    /// probe whose source port it contains.
    pub source_port: Option<u16>,
}

/// The end-to-end outcome of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The connection succeeds.
    Allow,
    /// Packets are dropped (the connection times out).
    Deny,
    /// The connection is actively refused (TCP RST / ICMP unreachable).
    Reject,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::Reject => "reject",
        })
    }
}

/// A verdict with the rule that decided each direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// End-to-end verdict.
    pub verdict: Verdict,
    /// Rule deciding the client's egress (`None`: default allow).
    pub egress: Option<RuleRef>,
    /// Rule deciding the server's ingress (`None`: default allow, or not reached because egress
    /// already refused, or the destination is not a pod).
    pub ingress: Option<RuleRef>,
    /// One-line explanation.
    pub reason: String,
}

/// Outcome of one direction.
struct Outcome {
    verdict: Verdict,
    rule: Option<RuleRef>,
}

/// Evaluates `probe` against `p`.
pub fn evaluate(p: &ResolvedPolicies, probe: &Probe) -> Decision {
    let client = p.pods.iter().find(|i| i.key == probe.from);
    let v6 = matches!(probe.to, Destination::Ip(IpAddr::V6(_)));
    let server = match &probe.to {
        Destination::Pod(k) => p.pods.iter().find(|i| &i.key == k),
        Destination::Ip(IpAddr::V4(ip)) => p.pods.iter().find(|i| i.ip == *ip),
        Destination::Ip(IpAddr::V6(ip)) => p.pods.iter().find(|i| i.ipv6 == Some(*ip)),
    };
    // The client's address in the probe's family.
    let client_ip: Option<IpAddr> = client.and_then(|c| match v6 {
        false => Some(c.ip.into()),
        true => c.ipv6.map(IpAddr::from),
    });
    if v6 && client.is_some() && client_ip.is_none() {
        return Decision {
            verdict: Verdict::Deny,
            egress: None,
            ingress: None,
            reason: format!("{} has no IPv6 address to send from", probe.from),
        };
    }
    let server_key = match (&probe.to, server) {
        (_, Some(s)) => Some(s.key.clone()),
        (Destination::Pod(k), None) => Some(k.clone()),
        (Destination::Ip(_), None) => None,
    };
    let server_ip = match (&probe.to, server) {
        (Destination::Ip(ip), _) => Some(*ip),
        (_, Some(s)) => Some(IpAddr::from(s.ip)),
        _ => None,
    };
    let traffic = Traffic {
        protocol: probe.protocol,
        port: probe.port,
        source_port: probe.source_port,
        server,
    };

    let egress = direction(
        p,
        Direction::Egress,
        &probe.from,
        server_key.as_ref(),
        server_ip,
        &traffic,
    );
    if egress.verdict != Verdict::Allow {
        let reason = format!(
            "egress of {} {} by {}",
            probe.from,
            verb(egress.verdict),
            describe(&egress.rule)
        );
        return Decision {
            verdict: egress.verdict,
            egress: egress.rule,
            ingress: None,
            reason,
        };
    }
    // Node addresses are IPv4 in the model: an IPv6 probe never comes from a node.
    let from_own_node = match (server, client) {
        (Some(s), Some(c)) => !v6 && !s.host_network && s.node_ip.is_some_and(|n| n == c.ip),
        _ => false,
    };
    let ingress = match &server_key {
        // A pod never isolates its own node (kubelet probes): the Kubernetes NetworkPolicy
        // concept docs, and Antrea's `nodeSelector` docs (a node's traffic to its own pods is
        // not affected). Another node's traffic is judged by the rules.
        Some(_) if from_own_node => Outcome {
            verdict: Verdict::Allow,
            rule: None,
        },
        Some(key) => direction(
            p,
            Direction::Ingress,
            key,
            Some(&probe.from),
            client_ip,
            &traffic,
        ),
        None => Outcome {
            verdict: Verdict::Allow,
            rule: None,
        },
    };
    let reason = format!(
        "egress of {} allowed by {}; ingress of {} {} by {}",
        probe.from,
        describe(&egress.rule),
        probe.to,
        verb(ingress.verdict),
        describe(&ingress.rule)
    );
    Decision {
        verdict: ingress.verdict,
        egress: egress.rule,
        ingress: ingress.rule,
        reason,
    }
}

fn verb(v: Verdict) -> &'static str {
    match v {
        Verdict::Allow => "allowed",
        Verdict::Deny => "dropped",
        Verdict::Reject => "rejected",
    }
}

fn describe(rule: &Option<RuleRef>) -> String {
    match rule {
        Some(r) => format!("{} {r}", r.kind),
        None => "default allow".to_string(),
    }
}

/// What is matched besides peers: protocol, port, and the destination pod for named ports.
struct Traffic<'a> {
    protocol: Protocol,
    port: u16,
    source_port: Option<u16>,
    server: Option<&'a PodInfo>,
}

impl Traffic<'_> {
    fn matches(&self, rule: &ResolvedRule) -> bool {
        let Some(services) = &rule.services else {
            return true;
        };
        services.iter().any(|s| {
            s.matches(self.protocol, self.port, self.source_port, |name, proto| {
                self.server.and_then(|pod| pod.named_port(name, proto))
            })
        })
    }
}

fn outcome(rule: &ResolvedRule) -> Outcome {
    let verdict = match rule.action {
        RuleAction::Allow | RuleAction::Pass => Verdict::Allow,
        RuleAction::Drop => Verdict::Deny,
        RuleAction::Reject => Verdict::Reject,
    };
    Outcome {
        verdict,
        rule: Some(rule.id.clone()),
    }
}

/// The decision for one direction at the pod `applied` (client for egress, server for ingress).
fn direction(
    p: &ResolvedPolicies,
    dir: Direction,
    applied: &PodKey,
    peer: Option<&PodKey>,
    peer_ip: Option<IpAddr>,
    traffic: &Traffic<'_>,
) -> Outcome {
    let candidates = p.rules.iter().filter(|r| {
        r.direction == dir
            && r.applied_to.contains(applied)
            && r.peers.contains(peer, peer_ip)
            && traffic.matches(r)
    });
    let mut k8s_allow: Option<&ResolvedRule> = None;
    let mut passed = false;
    let isolated = match dir {
        Direction::Ingress => p.isolated_ingress.contains(applied),
        Direction::Egress => p.isolated_egress.contains(applied),
    };
    for rule in candidates {
        match rule.stage {
            Stage::Tier(_) if passed => {}
            Stage::Tier(_) => {
                if rule.action == RuleAction::Pass {
                    passed = true;
                } else {
                    return outcome(rule);
                }
            }
            Stage::K8s => {
                k8s_allow = k8s_allow.or(Some(rule));
            }
            Stage::Baseline | Stage::AdminBaseline => {
                if let Some(allow) = k8s_allow {
                    return outcome(allow);
                }
                if isolated {
                    break;
                }
                // A Baseline-tier (v1alpha2) Pass skips the rest of the tier: the default
                // allow decides. Validation forbids Pass in the Antrea baseline tier and the
                // BaselineAdminNetworkPolicy.
                if rule.action == RuleAction::Pass {
                    return Outcome {
                        verdict: Verdict::Allow,
                        rule: None,
                    };
                }
                return outcome(rule);
            }
        }
    }
    if let Some(allow) = k8s_allow {
        return outcome(allow);
    }
    if isolated {
        return Outcome {
            verdict: Verdict::Deny,
            rule: Some(RuleRef {
                kind: "NetworkPolicy".to_string(),
                policy: K8S_ISOLATION_POLICY.to_string(),
                tier: super::resolve::K8S_TIER.to_string(),
                rule: match dir {
                    Direction::Ingress => "default-deny-ingress".to_string(),
                    Direction::Egress => "default-deny-egress".to_string(),
                },
            }),
        };
    }
    Outcome {
        verdict: Verdict::Allow,
        rule: None,
    }
}
