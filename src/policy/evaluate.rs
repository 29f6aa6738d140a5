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
    let from = Source::Pod(probe.from.clone());
    decide(p, &from, probe, None)
}

/// The client of a connection: a pod, or an address (a pod's IP is treated as that pod; any
/// other address is outside the cluster and has no egress policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A pod of the cluster.
    Pod(PodKey),
    /// A raw IP address (IPv4 or IPv6; an IPv6 one makes the probe IPv6).
    Ip(IpAddr),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Pod(k) => k.fmt(f),
            Source::Ip(ip) => ip.fmt(f),
        }
    }
}

/// What a rule the evaluator met did to the packet (the walkthrough's vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The rule applies to the pod but not to this traffic (peers or ports differ).
    NoMatch,
    /// It decided the direction (Allow, Drop, Reject of a tier or the baseline).
    Decides,
    /// A tier's `Pass`: the remaining tiers are skipped, K8s NetworkPolicy comes next.
    Passes,
    /// A tier rule after a `Pass`: not consulted (`matched` says whether it would have matched).
    SkippedByPass,
    /// The first K8s NetworkPolicy rule admitting the traffic: it allows.
    K8sAllows,
    /// A later K8s NetworkPolicy rule admitting it too.
    K8sAlsoAllows,
    /// A baseline rule not consulted: K8s NetworkPolicy isolates the pod, or already allowed.
    NotConsulted,
    /// A v1alpha2 `Baseline` tier `Pass`: the default allow decides.
    PassesToDefault,
    /// A staged rule (`enforcementMode: Audit`), the first reached that matches: it would
    /// decide with its action were it enforced; it decides nothing, the walk goes on.
    Staged,
    /// A staged rule matching after an earlier staged one: not reported (only the first staged
    /// rule reached is, as the pipeline counts and logs it).
    StagedBehind,
}

/// One rule the evaluator met in one direction: `index` into [`ResolvedPolicies::rules`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Index of the rule.
    pub index: usize,
    /// Whether its peers and services match the traffic.
    pub matched: bool,
    /// What it did.
    pub effect: Effect,
}

/// The evaluation of one direction, rule by rule, in precedence order; rules after the one that
/// decided are not listed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LegTrace {
    /// The pod whose policy this is (`None`: an address outside the cluster, no policy).
    pub pod: Option<PodKey>,
    /// The rules applied to the pod in this direction, as met.
    pub seen: Vec<Seen>,
    /// Whether K8s NetworkPolicy isolates the pod in this direction.
    pub isolated: bool,
    /// The direction's verdict on its own.
    pub verdict: Option<Verdict>,
    /// The rule that decided it (`None`: default allow).
    pub rule: Option<RuleRef>,
    /// Ingress only: the client is the server's own node, which no policy isolates.
    pub from_own_node: bool,
    /// The staged rule this traffic reaches first and matches: index into
    /// [`ResolvedPolicies::rules`]; it would decide with its action were it enforced.
    pub staged: Option<usize>,
}

/// Both directions of an evaluation. The ingress leg is evaluated even when egress already
/// refused, to show what the server's policy would do (`Decision` is unchanged by it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Trace {
    /// The client's egress.
    pub egress: LegTrace,
    /// The server's ingress.
    pub ingress: LegTrace,
}

/// [`evaluate`] from any [`Source`], recording both directions rule by rule; the decision is
/// the one [`evaluate`] gives (`probe.from` is ignored in favour of `from`).
pub fn evaluate_traced(p: &ResolvedPolicies, from: &Source, probe: &Probe) -> (Decision, Trace) {
    let mut trace = Trace::default();
    let d = decide(p, from, probe, Some(&mut trace));
    (d, trace)
}

fn decide(
    p: &ResolvedPolicies,
    from: &Source,
    probe: &Probe,
    mut trace: Option<&mut Trace>,
) -> Decision {
    // IPv6 when the destination or the source address is: the pods send from their own IPv6
    // address.
    let v6 = matches!(probe.to, Destination::Ip(IpAddr::V6(_)))
        || matches!(from, Source::Ip(IpAddr::V6(_)));
    let client = match from {
        Source::Pod(k) => p.pods.iter().find(|i| &i.key == k),
        Source::Ip(IpAddr::V4(ip)) => p.pods.iter().find(|i| i.ip == *ip),
        Source::Ip(IpAddr::V6(ip)) => p.pods.iter().find(|i| i.ipv6 == Some(*ip)),
    };
    let client_key = match (from, client) {
        (_, Some(c)) => Some(c.key.clone()),
        (Source::Pod(k), None) => Some(k.clone()),
        (Source::Ip(_), None) => None,
    };
    // The client's address in the probe's family.
    let client_ip: Option<IpAddr> = match (from, client) {
        (Source::Ip(ip), _) => Some(*ip),
        (_, Some(c)) if v6 => c.ipv6.map(IpAddr::from),
        (_, Some(c)) => Some(c.ip.into()),
        _ => None,
    };
    if v6 && client.is_some() && client_ip.is_none() {
        return Decision {
            verdict: Verdict::Deny,
            egress: None,
            ingress: None,
            reason: format!("{from} has no IPv6 address to send from"),
        };
    }
    let server = match &probe.to {
        Destination::Pod(k) => p.pods.iter().find(|i| &i.key == k),
        Destination::Ip(IpAddr::V4(ip)) => p.pods.iter().find(|i| i.ip == *ip),
        Destination::Ip(IpAddr::V6(ip)) => p.pods.iter().find(|i| i.ipv6 == Some(*ip)),
    };
    let server_key = match (&probe.to, server) {
        (_, Some(s)) => Some(s.key.clone()),
        (Destination::Pod(k), None) => Some(k.clone()),
        (Destination::Ip(_), None) => None,
    };
    let server_ip = match (&probe.to, server) {
        (Destination::Ip(ip), _) => Some(*ip),
        (_, Some(s)) if v6 => s.ipv6.map(IpAddr::from),
        (_, Some(s)) => Some(IpAddr::from(s.ip)),
        _ => None,
    };
    let traffic = Traffic {
        protocol: probe.protocol,
        port: probe.port,
        source_port: probe.source_port,
        server,
    };

    let egress = match &client_key {
        Some(key) => direction(
            p,
            Direction::Egress,
            key,
            server_key.as_ref(),
            server_ip,
            &traffic,
            trace.as_deref_mut().map(|t| &mut t.egress),
        ),
        None => Outcome {
            verdict: Verdict::Allow,
            rule: None,
        },
    };
    // Node addresses are IPv4 in the model: an IPv6 probe never comes from a node.
    let from_own_node = match (server, client_ip) {
        (Some(s), Some(c)) => {
            !v6 && !s.host_network && s.node_ip.is_some_and(|n| IpAddr::V4(n) == c)
        }
        _ => false,
    };
    let refused = egress.verdict != Verdict::Allow;
    // Untraced, a refused egress ends the evaluation; traced, the ingress is still walked.
    let ingress = if refused && trace.is_none() {
        None
    } else {
        Some(match &server_key {
            // A pod never isolates its own node (kubelet probes): the Kubernetes NetworkPolicy
            // concept docs, and Antrea's `nodeSelector` docs (a node's traffic to its own pods
            // is not affected). Another node's traffic is judged by the rules.
            Some(key) if from_own_node => {
                if let Some(t) = trace.as_deref_mut() {
                    t.ingress = LegTrace {
                        pod: Some(key.clone()),
                        from_own_node: true,
                        verdict: Some(Verdict::Allow),
                        ..LegTrace::default()
                    };
                }
                Outcome {
                    verdict: Verdict::Allow,
                    rule: None,
                }
            }
            Some(key) => direction(
                p,
                Direction::Ingress,
                key,
                client_key.as_ref(),
                client_ip,
                &traffic,
                trace.map(|t| &mut t.ingress),
            ),
            None => Outcome {
                verdict: Verdict::Allow,
                rule: None,
            },
        })
    };
    let egress_text = |verdict: Verdict| match &client_key {
        Some(_) => format!(
            "egress of {from} {} by {}",
            verb(verdict),
            describe(&egress.rule)
        ),
        None => format!("{from} is outside the cluster (no egress policy)"),
    };
    if refused {
        let reason = egress_text(egress.verdict);
        return Decision {
            verdict: egress.verdict,
            egress: egress.rule,
            ingress: None,
            reason,
        };
    }
    let ingress = ingress.expect("evaluated when egress allows");
    let reason = format!(
        "{}; ingress of {} {} by {}",
        egress_text(Verdict::Allow),
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

/// The decision for one direction at the pod `applied` (client for egress, server for ingress),
/// recording every rule met into `rec` when given.
fn direction(
    p: &ResolvedPolicies,
    dir: Direction,
    applied: &PodKey,
    peer: Option<&PodKey>,
    peer_ip: Option<IpAddr>,
    traffic: &Traffic<'_>,
    mut rec: Option<&mut LegTrace>,
) -> Outcome {
    let isolated = match dir {
        Direction::Ingress => p.isolated_ingress.contains(applied),
        Direction::Egress => p.isolated_egress.contains(applied),
    };
    if let Some(r) = rec.as_deref_mut() {
        r.pod = Some(applied.clone());
        r.isolated = isolated;
    }
    let out = 'decide: {
        let mut note = |index: usize, matched: bool, effect: Effect| {
            if let Some(r) = rec.as_deref_mut() {
                r.seen.push(Seen {
                    index,
                    matched,
                    effect,
                });
            }
        };
        let applicable = p
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.direction == dir && r.applied_to.contains(applied));
        let mut k8s_allow: Option<&ResolvedRule> = None;
        let mut passed = false;
        let mut staged_hit = false;
        for (index, rule) in applicable {
            let matched = rule.peers.contains(peer, peer_ip) && traffic.matches(rule);
            if rule.staged {
                // A staged rule never decides: reported where the walk reaches it, then the
                // walk goes on as if it were absent.
                let effect = match rule.stage {
                    Stage::Tier(_) if passed => Effect::SkippedByPass,
                    _ if !matched => Effect::NoMatch,
                    Stage::Baseline | Stage::AdminBaseline if k8s_allow.is_some() || isolated => {
                        Effect::NotConsulted
                    }
                    _ if staged_hit => Effect::StagedBehind,
                    _ => Effect::Staged,
                };
                staged_hit |= effect == Effect::Staged;
                note(index, matched, effect);
                continue;
            }
            match rule.stage {
                Stage::Tier(_) if passed => note(index, matched, Effect::SkippedByPass),
                _ if !matched => note(index, false, Effect::NoMatch),
                Stage::Tier(_) => {
                    if rule.action == RuleAction::Pass {
                        note(index, true, Effect::Passes);
                        passed = true;
                    } else {
                        note(index, true, Effect::Decides);
                        break 'decide outcome(rule);
                    }
                }
                Stage::K8s => {
                    if k8s_allow.is_none() {
                        note(index, true, Effect::K8sAllows);
                        k8s_allow = Some(rule);
                    } else {
                        note(index, true, Effect::K8sAlsoAllows);
                    }
                }
                Stage::Baseline | Stage::AdminBaseline => {
                    if let Some(allow) = k8s_allow {
                        note(index, true, Effect::NotConsulted);
                        break 'decide outcome(allow);
                    }
                    if isolated {
                        note(index, true, Effect::NotConsulted);
                        break;
                    }
                    // A Baseline-tier (v1alpha2) Pass skips the rest of the tier: the default
                    // allow decides. Validation forbids Pass in the Antrea baseline tier and the
                    // BaselineAdminNetworkPolicy.
                    if rule.action == RuleAction::Pass {
                        note(index, true, Effect::PassesToDefault);
                        break 'decide Outcome {
                            verdict: Verdict::Allow,
                            rule: None,
                        };
                    }
                    note(index, true, Effect::Decides);
                    break 'decide outcome(rule);
                }
            }
        }
        if let Some(allow) = k8s_allow {
            break 'decide outcome(allow);
        }
        if isolated {
            break 'decide Outcome {
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
    };
    if let Some(r) = rec {
        r.verdict = Some(out.verdict);
        r.rule = out.rule.clone();
        r.staged = r
            .seen
            .iter()
            .find(|s| s.effect == Effect::Staged)
            .map(|s| s.index);
    }
    out
}
