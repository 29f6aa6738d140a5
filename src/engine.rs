//! Verdict engines: the same probe answered by the reference evaluator or by the compiled
//! pipeline running on the in-process flow-table interpreter ([`openflow::sim::FakeSwitch`]).
//!
//! The `sim` engine compiles the step's policies exactly as the agent does (every pod local, on
//! ports 1..=N), applies the flow_mods to a FakeSwitch and sends one packet per probe. The verdict
//! is where the packet went: output to the server's port = allow; a packet-in whose userdata
//! says Reject (`controller(userdata=01.02.<rule id>)` in the metric table) = reject, which the
//! agent answers with RST / ICMP; anything else = deny. The deciding rules come from the cookies
//! of the `conj_id` flows the packet hit, and for a reject from the packet-in's rule id.

use std::collections::BTreeMap;

use openflow::sim::{FakeSwitch, OutPort, Packet};

use crate::compiler::{self, cookie, CompiledRule, LocalPod};
use crate::pipeline::packet_in;
use crate::policy::resolved::{Direction, PodKey, Protocol, ResolvedPolicies, RuleAction, RuleRef};
use crate::policy::{evaluate, Decision, Destination, Probe, Verdict};

/// Which engine answers probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// `policy::evaluate`, straight from the policy model.
    Reference,
    /// The compiled flows on the FakeSwitch.
    Sim,
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "reference" => Ok(Engine::Reference),
            "sim" => Ok(Engine::Sim),
            other => Err(format!(
                "unknown engine {other:?} (expected reference or sim)"
            )),
        }
    }
}

/// An engine loaded with one set of resolved policies.
pub enum Oracle<'a> {
    /// The reference evaluator.
    Reference(&'a ResolvedPolicies),
    /// The compiled pipeline on a FakeSwitch.
    Sim(Box<SimEngine>),
}

impl<'a> Oracle<'a> {
    /// Loads `policies` into `engine`. Errors: the compiler or the FakeSwitch refused the flows.
    pub fn new(engine: Engine, policies: &'a ResolvedPolicies) -> Result<Self, String> {
        Ok(match engine {
            Engine::Reference => Oracle::Reference(policies),
            Engine::Sim => Oracle::Sim(Box::new(SimEngine::new(policies)?)),
        })
    }

    /// Answers a probe.
    pub fn decide(&mut self, probe: &Probe) -> Result<Decision, String> {
        match self {
            Oracle::Reference(p) => Ok(evaluate(p, probe)),
            Oracle::Sim(s) => s.decide(probe),
        }
    }
}

/// The compiled pipeline of a policy set on a FakeSwitch.
pub struct SimEngine {
    switch: FakeSwitch,
    pods: BTreeMap<PodKey, LocalPod>,
    rules: Vec<CompiledRule>,
}

impl SimEngine {
    /// Compiles `policies` with every pod local and installs the flows.
    pub fn new(policies: &ResolvedPolicies) -> Result<Self, String> {
        let local = compiler::offline_pods(policies);
        let compiled = compiler::compile(policies, &local, 1).map_err(|e| e.to_string())?;
        let mut switch = FakeSwitch::new();
        switch
            .apply_all(&compiled.flows)
            .map_err(|e| format!("FakeSwitch refused the flows: {e}"))?;
        Ok(SimEngine {
            switch,
            pods: local.into_iter().map(|p| (p.key.clone(), p)).collect(),
            rules: compiled.rules,
        })
    }

    /// Sends one new connection's first packet for `probe` and reads the verdict.
    pub fn decide(&mut self, probe: &Probe) -> Result<Decision, String> {
        let from = self
            .pods
            .get(&probe.from)
            .ok_or_else(|| format!("no pod {}", probe.from))?;
        let to = match &probe.to {
            Destination::Pod(k) => self.pods.get(k),
            Destination::Ip(ip) => self.pods.values().find(|p| p.ip == *ip),
        }
        .ok_or_else(|| format!("destination {} is not a pod of this node", probe.to))?;
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
        let trace = self.switch.trace(&pkt).map_err(|e| e.to_string())?;

        let mut egress = None;
        let mut ingress = None;
        let mut deny_action = None;
        for step in &trace.steps {
            let (_, category, object) = cookie::split(step.cookie);
            if step.conj_id.is_none() || category != cookie::POLICY {
                continue;
            }
            let Some(rule) = self.rules.iter().find(|r| r.id == object) else {
                continue;
            };
            if rule.action == RuleAction::Pass {
                continue; // a Pass decides nothing; what comes after it does
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
        // A reject is what the flows say: the packet ends at the controller with a Reject
        // packet-in naming the rule.
        let rejected_by = match (&trace.verdict.outputs[..], &trace.verdict.packet_ins[..]) {
            ([OutPort::Controller], [userdata]) => match packet_in::parse(userdata) {
                Some((packet_in::OP_REJECT, id)) => self.rules.iter().find(|r| r.id == id),
                _ => None,
            },
            _ => None,
        };
        let verdict = if trace.verdict.is_output_to(to.ofport) {
            Verdict::Allow
        } else if let Some(rule) = rejected_by {
            match rule.direction {
                Direction::Egress => egress = Some(rule.rule.clone()),
                Direction::Ingress => ingress = Some(rule.rule.clone()),
            }
            Verdict::Reject
        } else {
            if deny_action.is_none() {
                // No rule denied it: the K8s isolation drop of the first direction that has one.
                for step in &trace.steps {
                    let (_, category, object) = cookie::split(step.cookie);
                    if category == cookie::ISOLATION && step.priority.is_some() {
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
        Ok(Decision {
            verdict,
            egress,
            ingress,
            reason: format!("FakeSwitch: {}", trace.verdict),
        })
    }
}
