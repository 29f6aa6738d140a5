//! `kakinectl explain`: one connection walked through the client's egress and the server's
//! ingress, tier by tier, with every `Pass`, the NetworkPolicies that isolate a pod, and the rule
//! that decided. Endpoints may be pods, addresses or CIDRs outside the cluster; a CIDR is split
//! into the blocks on which every rule agrees, and each block answered once.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};
use serde_json::{json, Value};

use crate::policy::evaluate::{evaluate_traced, Effect, LegTrace, Source};
use crate::policy::resolved::{
    icmp_port, Direction, Peers, PodKey, Protocol, ResolvedPolicies, RuleAction, RuleRef, Stage,
};
use crate::policy::{Decision, Destination, Probe, Verdict};

/// One end of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A pod of the cluster model.
    Pod(PodKey),
    /// An address (`/32`) or a block of addresses; an address that is a pod's IP is that pod.
    Net(Ipv4Net),
}

impl Endpoint {
    /// Parses `namespace/name`, an IPv4 address or an IPv4 CIDR.
    ///
    /// Errors: none of the three, with the text.
    pub fn parse(s: &str) -> Result<Endpoint, String> {
        if let Ok(ip) = s.parse::<Ipv4Addr>() {
            return Ok(Endpoint::Net(Ipv4Net::from(ip)));
        }
        if let Ok(net) = s.parse::<Ipv4Net>() {
            return Ok(Endpoint::Net(net.trunc()));
        }
        match s.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(Endpoint::Pod(PodKey {
                    namespace: ns.to_string(),
                    name: name.to_string(),
                }))
            }
            _ => Err(format!(
                "{s:?}: expected a pod (namespace/name), an IPv4 address or a CIDR"
            )),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Pod(k) => k.fmt(f),
            Endpoint::Net(n) if n.prefix_len() == 32 => n.addr().fmt(f),
            Endpoint::Net(n) => n.fmt(f),
        }
    }
}

/// The destination port of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    /// A number.
    Number(u16),
    /// A container port name, resolved on the destination pod for the query's protocol.
    Named(String),
    /// ICMP type and code.
    Icmp(u8, u8),
}

/// A connection to explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Client.
    pub from: Endpoint,
    /// Server.
    pub to: Endpoint,
    /// Protocol.
    pub protocol: Protocol,
    /// Destination port.
    pub port: PortSpec,
    /// Source port, when fixed.
    pub source_port: Option<u16>,
}

/// One answered case of a query: the blocks of addresses (or the pods) it covers, and its walk.
#[derive(Debug, Clone)]
pub struct Case {
    /// The client blocks this case covers (the client itself when not a block).
    pub from: Vec<String>,
    /// The server blocks this case covers.
    pub to: Vec<String>,
    /// The end-to-end decision.
    pub decision: Decision,
    /// The client's egress.
    pub egress: Leg,
    /// The server's ingress.
    pub ingress: Leg,
}

/// One direction, stage by stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Leg {
    /// The pod whose policy it is; `None`: an address outside the cluster.
    pub pod: Option<PodKey>,
    /// The stages met, in precedence order.
    pub stages: Vec<StageWalk>,
    /// K8s NetworkPolicies isolating the pod in this direction (`namespace/name`).
    pub isolating: Vec<String>,
    /// The direction's own verdict (`None`: not evaluated, e.g. no pod).
    pub verdict: Option<Verdict>,
    /// The rule that decided (`None`: default allow).
    pub rule: Option<RuleRef>,
    /// Whether the packet reaches this direction (ingress after a refusing egress does not).
    pub reached: bool,
    /// Ingress from the pod's own node: never isolated.
    pub from_own_node: bool,
    /// The staged rule that would decide were it enforced, with its action.
    pub staged: Option<(RuleRef, RuleAction)>,
}

impl Leg {
    /// Whether two legs read the same but for whose they are.
    fn same_walk(&self, other: &Leg) -> bool {
        self.pod.is_some() == other.pod.is_some()
            && self.stages == other.stages
            && self.isolating == other.isolating
            && self.verdict == other.verdict
            && self.rule == other.rule
            && self.reached == other.reached
            && self.from_own_node == other.from_own_node
            && self.staged == other.staged
    }
}

/// The rules of one stage (a tier, K8s NetworkPolicy, the baseline) that apply to the pod.
#[derive(Debug, Clone, PartialEq)]
pub struct StageWalk {
    /// `tier securityops (100)`, `K8s NetworkPolicy`, `tier baseline`, ...
    pub name: String,
    /// The rules met.
    pub rules: Vec<RuleStep>,
}

/// One rule met.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleStep {
    /// Which rule.
    pub rule: RuleRef,
    /// Its action.
    pub action: RuleAction,
    /// Whether it matches this traffic.
    pub matched: bool,
    /// What it did.
    pub effect: Effect,
}

/// The answer to a [`Query`]: one case per set of blocks that behave alike.
#[derive(Debug, Clone)]
pub struct Walkthrough {
    /// The query, as asked.
    pub query: Query,
    /// The protocol and port as a string (`TCP/5432`, `TCP/http=8080`, `ICMP 8/0`).
    pub service: String,
    /// The cases.
    pub cases: Vec<Case>,
}

impl Walkthrough {
    /// Whether every case allows.
    pub fn allowed(&self) -> bool {
        self.cases
            .iter()
            .all(|c| c.decision.verdict == Verdict::Allow)
    }
}

/// Walks `query` through `p`.
///
/// Errors: a pod the model lacks; a named port the destination does not declare for the
/// protocol (or a named port to a destination that is not a pod); a port with ICMP or ICMP
/// type/code with another protocol.
pub fn walk(p: &ResolvedPolicies, query: &Query) -> Result<Walkthrough, String> {
    for e in [&query.from, &query.to] {
        if let Endpoint::Pod(k) = e {
            if !p.pods.iter().any(|i| &i.key == k) {
                return Err(format!("no pod {k} in the cluster model"));
            }
        }
    }
    let (port, service) = resolve_port(p, query)?;
    let cuts = boundaries(p);
    let froms: Vec<(Source, String)> = blocks(p, &query.from, &cuts);
    let tos: Vec<(Destination, String)> = blocks(p, &query.to, &cuts);
    let mut cases: Vec<Case> = Vec::new();
    // Blocks with the same answer (verdict and deciding rules) share a case.
    for (from, from_name) in &froms {
        for (to, to_name) in &tos {
            // `evaluate_traced` takes the client from `from`; `probe.from` is not read.
            let probe = Probe {
                from: PodKey {
                    namespace: String::new(),
                    name: from_name.clone(),
                },
                to: to.clone(),
                protocol: query.protocol,
                port,
                source_port: query.source_port,
            };
            let (decision, trace) = evaluate_traced(p, from, &probe);
            let egress_refused = decision.verdict != Verdict::Allow && decision.ingress.is_none();
            let egress = leg(p, Direction::Egress, &trace.egress, true);
            let ingress = leg(p, Direction::Ingress, &trace.ingress, !egress_refused);
            // Cases merge only when their walks read the same, whoever the pods are.
            if let Some(c) = cases.iter_mut().find(|c| {
                c.decision.verdict == decision.verdict
                    && c.decision.egress == decision.egress
                    && c.decision.ingress == decision.ingress
                    && c.egress.same_walk(&egress)
                    && c.ingress.same_walk(&ingress)
            }) {
                push_new(&mut c.from, from_name);
                push_new(&mut c.to, to_name);
                continue;
            }
            cases.push(Case {
                from: vec![from_name.clone()],
                to: vec![to_name.clone()],
                egress,
                ingress,
                decision,
            });
        }
    }
    let all_from: Vec<String> = froms.into_iter().map(|(_, n)| n).collect();
    let all_to: Vec<String> = tos.into_iter().map(|(_, n)| n).collect();
    for c in &mut cases {
        c.from = shortest(&query.from, &c.from, &all_from);
        c.to = shortest(&query.to, &c.to, &all_to);
    }
    Ok(Walkthrough {
        query: query.clone(),
        service,
        cases,
    })
}

fn push_new(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

/// The blocks of one case, aggregated, or the query's block "except" the others' when that is
/// shorter (`10.0.0.0/8 except web/frontend, 10.10.1.11`).
fn shortest(query: &Endpoint, mine: &[String], all: &[String]) -> Vec<String> {
    let own = aggregate(mine);
    let Endpoint::Net(net) = query else {
        return own;
    };
    let others: Vec<String> = all.iter().filter(|n| !mine.contains(n)).cloned().collect();
    let others = aggregate(&others);
    if others.is_empty() || others.len() >= own.len() {
        return own;
    }
    vec![format!("{net} except {}", others.join(", "))]
}

/// Adjacent blocks merged (`10.0.0.0/25` and `10.0.0.128/25` are `10.0.0.0/24`); pods kept.
fn aggregate(names: &[String]) -> Vec<String> {
    let (nets, pods): (Vec<&String>, Vec<&String>) =
        names.iter().partition(|n| n.parse::<Ipv4Net>().is_ok());
    let nets: Vec<Ipv4Net> = nets.iter().filter_map(|n| n.parse().ok()).collect();
    let mut out: Vec<String> = pods.into_iter().cloned().collect();
    out.extend(Ipv4Net::aggregate(&nets).iter().map(|n| {
        if n.prefix_len() == 32 {
            n.addr().to_string()
        } else {
            n.to_string()
        }
    }));
    out
}

/// The destination port of `q` as the number the evaluator takes (ICMP: type << 8 | code) and
/// as the walkthrough's service string (`TCP/5432`, `TCP/http=8080`, `ICMP 8/0`).
///
/// Errors: as [`walk`]'s for the port.
pub fn resolve_port(p: &ResolvedPolicies, q: &Query) -> Result<(u16, String), String> {
    let proto = protocol_name(q.protocol);
    match (&q.port, q.protocol) {
        (PortSpec::Icmp(t, c), Protocol::Icmp) => Ok((icmp_port(*t, *c), format!("ICMP {t}/{c}"))),
        (PortSpec::Icmp(..), _) => Err(format!("an ICMP type and code need ICMP, not {proto}")),
        (_, Protocol::Icmp) => Err("ICMP has no port: give the ICMP type and code".to_string()),
        (PortSpec::Number(n), _) => Ok((*n, format!("{proto}/{n}"))),
        (PortSpec::Named(name), _) => {
            let pod = match &q.to {
                Endpoint::Pod(k) => p.pods.iter().find(|i| &i.key == k),
                Endpoint::Net(n) if n.prefix_len() == 32 => {
                    p.pods.iter().find(|i| i.ip == n.addr())
                }
                Endpoint::Net(_) => None,
            }
            .ok_or_else(|| {
                format!(
                    "the named port {name:?} resolves on a destination pod; {} is not one",
                    q.to
                )
            })?;
            let n = pod.named_port(name, q.protocol).ok_or_else(|| {
                let declared: Vec<String> = pod
                    .named_ports
                    .iter()
                    .map(|(n, pr, num)| format!("{n}={}/{num}", protocol_name(*pr)))
                    .collect();
                format!(
                    "{} declares no {proto} port named {name:?} (it declares: {})",
                    pod.key,
                    if declared.is_empty() {
                        "none".to_string()
                    } else {
                        declared.join(", ")
                    }
                )
            })?;
            Ok((n, format!("{proto}/{name}={n}")))
        }
    }
}

/// Protocol names as policies write them.
pub fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
        Protocol::Icmp => "ICMP",
    }
}

/// Every block of addresses some rule or pod distinguishes: ipBlocks and their exceptions, node
/// IPs, pod IPs. Inside a block that contains none of them strictly, every address is answered
/// alike.
fn boundaries(p: &ResolvedPolicies) -> BTreeSet<Ipv4Net> {
    let mut cuts = BTreeSet::new();
    for r in &p.rules {
        if let Peers::Set {
            ip_blocks,
            node_ips,
            ..
        } = &r.peers
        {
            // The walkthrough's address endpoints are IPv4: IPv6 blocks cut nothing in them.
            for b in ip_blocks {
                cuts.extend(v4(b.cidr.trunc()));
                cuts.extend(b.except.iter().filter_map(|e| v4(e.trunc())));
            }
            cuts.extend(node_ips.iter().map(|ip| Ipv4Net::from(*ip)));
        }
    }
    for pod in &p.pods {
        cuts.insert(Ipv4Net::from(pod.ip));
        cuts.extend(pod.node_ip.map(Ipv4Net::from));
    }
    cuts
}

fn v4(net: IpNet) -> Option<Ipv4Net> {
    match net {
        IpNet::V4(n) => Some(n),
        IpNet::V6(_) => None,
    }
}

/// An endpoint as the evaluator's sources (or destinations): a pod, or one representative
/// address per uniform block, with the block's name.
fn blocks<T: From<Rep>>(
    p: &ResolvedPolicies,
    e: &Endpoint,
    cuts: &BTreeSet<Ipv4Net>,
) -> Vec<(T, String)> {
    match e {
        Endpoint::Pod(k) => vec![(T::from(Rep::Pod(k.clone())), k.to_string())],
        Endpoint::Net(net) => {
            let inside: Vec<Ipv4Net> = cuts
                .iter()
                .filter(|c| c.prefix_len() > net.prefix_len() && net.contains(*c))
                .copied()
                .collect();
            let mut out = Vec::new();
            split(*net, &inside, &mut out);
            out.into_iter()
                .map(|b| {
                    let pod = p.pods.iter().find(|i| i.ip == b.addr());
                    let name = match pod {
                        Some(pod) if b.prefix_len() == 32 => pod.key.to_string(),
                        _ if b.prefix_len() == 32 => b.addr().to_string(),
                        _ => b.to_string(),
                    };
                    (T::from(Rep::Ip(b.network())), name)
                })
                .collect()
        }
    }
}

fn split(net: Ipv4Net, cuts: &[Ipv4Net], out: &mut Vec<Ipv4Net>) {
    let inside: Vec<Ipv4Net> = cuts
        .iter()
        .filter(|c| c.prefix_len() > net.prefix_len() && net.contains(*c))
        .copied()
        .collect();
    if inside.is_empty() {
        out.push(net);
        return;
    }
    for half in net
        .subnets(net.prefix_len() + 1)
        .expect("a prefix shorter than a cut inside it")
    {
        split(half, &inside, out);
    }
}

/// A representative endpoint, turned into the evaluator's source or destination.
enum Rep {
    Pod(PodKey),
    Ip(Ipv4Addr),
}

impl From<Rep> for Source {
    fn from(r: Rep) -> Source {
        match r {
            Rep::Pod(k) => Source::Pod(k),
            Rep::Ip(ip) => Source::Ip(ip.into()),
        }
    }
}

impl From<Rep> for Destination {
    fn from(r: Rep) -> Destination {
        match r {
            Rep::Pod(k) => Destination::Pod(k),
            Rep::Ip(ip) => Destination::Ip(ip.into()),
        }
    }
}

/// The name of a stage as the walkthrough prints it.
fn stage_name(stage: Stage, tier: &str) -> String {
    match stage {
        Stage::Tier(prio) => format!("tier {tier} ({prio})"),
        Stage::K8s => "K8s NetworkPolicy".to_string(),
        Stage::Baseline => format!("tier {tier} (baseline)"),
        Stage::AdminBaseline => "BaselineAdminNetworkPolicy".to_string(),
    }
}

fn leg(p: &ResolvedPolicies, dir: Direction, t: &LegTrace, reached: bool) -> Leg {
    let mut stages: Vec<StageWalk> = Vec::new();
    let mut keys: Vec<(u8, u32)> = Vec::new();
    for seen in &t.seen {
        let rule = &p.rules[seen.index];
        let key = rule.stage.precedence_key();
        let name = stage_name(rule.stage, &rule.id.tier);
        if stages.last().is_none_or(|s| s.name != name) {
            stages.push(StageWalk {
                name,
                rules: Vec::new(),
            });
            keys.push(key);
        }
        stages.last_mut().expect("pushed").rules.push(RuleStep {
            rule: rule.id.clone(),
            action: rule.action,
            matched: seen.matched,
            effect: seen.effect,
        });
    }
    let isolating: Vec<String> = t
        .pod
        .as_ref()
        .map(|pod| {
            p.isolating(dir, pod)
                .into_iter()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    // An isolated pod meets the K8s stage even when no rule of it admits the traffic, unless a
    // tier decided first.
    let tier_decided = t
        .seen
        .iter()
        .any(|s| s.effect == Effect::Decides && matches!(p.rules[s.index].stage, Stage::Tier(_)));
    let has_k8s = keys.contains(&Stage::K8s.precedence_key());
    if t.isolated && !tier_decided && !has_k8s {
        let at = keys
            .iter()
            .position(|k| *k > Stage::K8s.precedence_key())
            .unwrap_or(keys.len());
        stages.insert(
            at,
            StageWalk {
                name: stage_name(Stage::K8s, ""),
                rules: Vec::new(),
            },
        );
    }
    Leg {
        pod: t.pod.clone(),
        stages,
        isolating,
        verdict: t.verdict,
        rule: t.rule.clone(),
        reached,
        from_own_node: t.from_own_node,
        staged: t.staged.map(|i| (p.rules[i].id.clone(), p.rules[i].action)),
    }
}

fn effect_text(step: &RuleStep) -> &'static str {
    match step.effect {
        Effect::NoMatch => "no match",
        Effect::Decides => match step.action {
            RuleAction::Allow | RuleAction::Pass => "allows",
            RuleAction::Drop => "drops",
            RuleAction::Reject => "rejects",
        },
        Effect::Passes => "passes",
        Effect::SkippedByPass if step.matched => "skipped (would match)",
        Effect::SkippedByPass => "skipped",
        Effect::K8sAllows => "allows",
        Effect::K8sAlsoAllows => "also allows",
        Effect::NotConsulted => "not consulted",
        Effect::PassesToDefault => "passes",
        Effect::Staged => match step.action {
            RuleAction::Allow => "would allow (staged)",
            RuleAction::Drop => "would drop (staged)",
            RuleAction::Reject => "would reject (staged)",
            RuleAction::Pass => "would pass (staged)",
        },
        Effect::StagedBehind => "staged, not reached",
    }
}

fn effect_key(e: Effect) -> &'static str {
    match e {
        Effect::NoMatch => "no-match",
        Effect::Decides => "decides",
        Effect::Passes => "passes",
        Effect::SkippedByPass => "skipped-by-pass",
        Effect::K8sAllows => "allows",
        Effect::K8sAlsoAllows => "also-allows",
        Effect::NotConsulted => "not-consulted",
        Effect::PassesToDefault => "passes-to-default",
        Effect::Staged => "staged",
        Effect::StagedBehind => "staged-behind",
    }
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Allow => "allowed",
        Verdict::Deny => "dropped",
        Verdict::Reject => "rejected",
    }
}

fn rule_text(r: &RuleRef) -> String {
    format!("{} {r}", r.kind)
}

fn leg_text(out: &mut String, title: &str, leg: &Leg, many: bool) {
    let Some(pod) = &leg.pod else {
        let who = if title == "egress" {
            "client"
        } else {
            "server"
        };
        let _ = writeln!(
            out,
            "  {title}: the {who} is outside the cluster: no policy, allowed"
        );
        return;
    };
    // A case of several pods shows one of them; the walk reads the same for each.
    let whose = if many {
        format!(
            "each {} (as {pod})",
            if title == "egress" {
                "client"
            } else {
                "server"
            }
        )
    } else {
        pod.to_string()
    };
    let reached = if leg.reached {
        ""
    } else {
        " (not reached: egress refused; shown for what it would do)"
    };
    let _ = writeln!(out, "  {title} of {whose}{reached}:");
    if leg.from_own_node {
        let _ = writeln!(
            out,
            "    from the pod's own node: never isolated, allowed whatever the rules say"
        );
        return;
    }
    if leg.stages.is_empty() {
        let _ = writeln!(out, "    no rule applies to {pod} in this direction");
    }
    for stage in &leg.stages {
        let passed_over = !stage.rules.is_empty()
            && stage
                .rules
                .iter()
                .all(|r| r.effect == Effect::SkippedByPass);
        let note = if passed_over {
            ": skipped by a Pass"
        } else {
            ""
        };
        let _ = writeln!(out, "    {}{note}", stage.name);
        if stage.name == stage_name(Stage::K8s, "") && !leg.isolating.is_empty() {
            let _ = writeln!(
                out,
                "      {pod} is isolated by {}",
                leg.isolating.join(", ")
            );
        }
        for r in &stage.rules {
            let _ = writeln!(out, "      {:<22} {}", effect_text(r), rule_text(&r.rule));
        }
    }
    let verdict = leg.verdict.unwrap_or(Verdict::Allow);
    let by = match &leg.rule {
        Some(r) if r.policy == crate::policy::evaluate::K8S_ISOLATION_POLICY => format!(
            "isolation: {} isolated by {} and none of their rules admits this traffic",
            pod,
            leg.isolating.join(", ")
        ),
        Some(r) => rule_text(r),
        None => {
            let _ = writeln!(out, "    => {}: no rule decided", verdict_word(verdict));
            staged_text(out, leg);
            return;
        }
    };
    let _ = writeln!(out, "    => {} by {by}", verdict_word(verdict));
    staged_text(out, leg);
}

/// The staged rule's "would" line of a leg, if any.
fn staged_text(out: &mut String, leg: &Leg) {
    if let Some((rule, action)) = &leg.staged {
        let would = match action {
            RuleAction::Allow => "allow",
            RuleAction::Drop => "drop",
            RuleAction::Reject => "reject",
            RuleAction::Pass => "pass",
        };
        let _ = writeln!(
            out,
            "    staged: {} would {would} this traffic if enforced",
            rule_text(rule)
        );
    }
}

impl fmt::Display for Walkthrough {
    /// The text `kakinectl explain` prints: a headline per case, then each direction stage by
    /// stage.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        for case in &self.cases {
            let _ = writeln!(
                out,
                "{} -> {} {}: {:?}",
                case.from.join(", "),
                case.to.join(", "),
                self.service,
                case.decision.verdict
            );
            let many = |names: &[String]| names.len() > 1 || names.iter().any(|n| n.contains(' '));
            leg_text(&mut out, "egress", &case.egress, many(&case.from));
            leg_text(&mut out, "ingress", &case.ingress, many(&case.to));
        }
        f.write_str(&out)
    }
}

pub(crate) fn rule_json(r: &Option<RuleRef>) -> Value {
    match r {
        Some(r) => json!({"kind": r.kind, "tier": r.tier, "policy": r.policy, "rule": r.rule}),
        None => Value::Null,
    }
}

fn leg_json(leg: &Leg) -> Value {
    json!({
        "pod": leg.pod.as_ref().map(|k| k.to_string()),
        "reached": leg.reached,
        "verdict": leg.verdict.map(|v| v.to_string()),
        "rule": rule_json(&leg.rule),
        "isolating": leg.isolating,
        "from_own_node": leg.from_own_node,
        "staged": leg.staged.as_ref().map(|(r, a)| json!({"rule": rule_json(&Some(r.clone())), "action": format!("{a:?}")})),
        "stages": leg.stages.iter().map(|s| json!({
            "stage": s.name,
            "rules": s.rules.iter().map(|r| json!({
                "rule": rule_json(&Some(r.rule.clone())),
                "action": format!("{:?}", r.action),
                "matched": r.matched,
                "effect": effect_key(r.effect),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

impl Walkthrough {
    /// The walkthrough as JSON (`kakinectl explain -o json`): `from`, `to`, `service` and one
    /// entry of `cases` per set of blocks answered alike, each with `verdict`, the deciding
    /// `egress_rule` / `ingress_rule`, `reason`, and both legs stage by stage.
    pub fn to_json(&self) -> Value {
        json!({
            "from": self.query.from.to_string(),
            "to": self.query.to.to_string(),
            "service": self.service,
            "source_port": self.query.source_port,
            "cases": self.cases.iter().map(|c| json!({
                "from": c.from,
                "to": c.to,
                "verdict": c.decision.verdict.to_string(),
                "egress_rule": rule_json(&c.decision.egress),
                "ingress_rule": rule_json(&c.decision.ingress),
                "reason": c.decision.reason,
                "egress": leg_json(&c.egress),
                "ingress": leg_json(&c.ingress),
            })).collect::<Vec<_>>(),
        })
    }
}
