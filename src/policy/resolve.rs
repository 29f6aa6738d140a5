//! Resolution: every selector of a validated [`PolicySet`] turned into concrete pods, CIDRs and
//! node IPs of a [`Cluster`], and every rule placed in the precedence order (see
//! [`super::resolved`]).

use std::cmp::Ordering;
use std::net::IpAddr;

use ipnet::IpNet;

use super::error::PolicyError;
use super::model::{
    AdminPort, Cluster, IpBlockSpec, PolicyPort, PolicySet, PortValue, RuleProtocol,
};
use super::model_v1alpha2::CnpProtocol;
use super::resolved::{
    Direction, IpBlock, PortMatch, Protocol, ResolvedPolicies, ResolvedRule, RuleAction, Service,
};
use super::validate::validate;

/// Tier name given to K8s NetworkPolicy rules in [`RuleRef::tier`].
pub const K8S_TIER: &str = "k8s";

/// Resolves `objects` against `cluster` (validating them first): builds the grouping index
/// ([`crate::grouping::Grouping`]) and derives every rule from it, then lints.
///
/// Errors: the first validation error of `objects`.
pub fn resolve(cluster: &Cluster, objects: &PolicySet) -> Result<ResolvedPolicies, PolicyError> {
    validate(objects)?;
    let grouping = crate::grouping::Grouping::build(cluster, objects);
    let mut out = crate::grouping::derive::resolved(&grouping, Some(cluster));
    out.warnings = super::lint::lint(objects, &out);
    Ok(out)
}

pub(crate) fn generated_rule_name(direction: Direction, index: usize) -> String {
    match direction {
        Direction::Ingress => format!("ingress-{index}"),
        Direction::Egress => format!("egress-{index}"),
    }
}

/// The precedence order, as Antrea's `priorityAssigner` (`types.Priority{TierPriority,
/// PolicyPriority, RulePriority}`, `pkg/agent/types/networkpolicy.go`): stage, policy priority,
/// then rule index, so at equal policy priority rule 0 of every policy precedes rule 1 of any
/// (Antrea's e2e `testACNPRulePriority`). Rules still equal are an upstream tie (the same OVS
/// priority in Antrea; the lint reports it): kakine breaks it deterministically, Drop and Reject
/// before Pass before Allow, then policy name, kind and direction. The sort is stable, so the
/// per-namespace parts of one rule keep their namespace order.
pub(crate) fn order(a: &ResolvedRule, b: &ResolvedRule) -> Ordering {
    fn action_key(a: RuleAction) -> u8 {
        match a {
            RuleAction::Drop => 0,
            RuleAction::Reject => 1,
            RuleAction::Pass => 2,
            RuleAction::Allow => 3,
        }
    }
    a.stage
        .precedence_key()
        .cmp(&b.stage.precedence_key())
        .then(a.policy_priority.total_cmp(&b.policy_priority))
        .then(a.rule_index.cmp(&b.rule_index))
        .then(action_key(a.action).cmp(&action_key(b.action)))
        .then_with(|| a.id.policy.cmp(&b.id.policy))
        .then_with(|| a.id.kind.cmp(&b.id.kind))
        .then(a.direction.cmp(&b.direction))
}

/// A rule's `ports` and `protocols` as services: both empty = all traffic.
pub(crate) fn services(ports: &[PolicyPort], protocols: &[RuleProtocol]) -> Option<Vec<Service>> {
    if ports.is_empty() && protocols.is_empty() {
        return None;
    }
    let ports = ports.iter().map(|p| Service {
        protocol: p.protocol,
        port: match &p.port {
            None => PortMatch::Any,
            Some(PortValue::Number(n)) => PortMatch::Range(*n, p.end_port.unwrap_or(*n)),
            Some(PortValue::Name(name)) => PortMatch::Named(name.clone()),
        },
        source: p
            .source_port
            .map(|lo| (lo, p.source_end_port.unwrap_or(lo))),
    });
    let icmp = protocols
        .iter()
        .filter_map(|p| p.icmp.as_ref())
        .map(|i| Service {
            protocol: Protocol::Icmp,
            port: PortMatch::Icmp {
                icmp_type: i.icmp_type,
                icmp_code: i.icmp_code,
            },
            source: None,
        });
    Some(ports.chain(icmp).collect())
}

/// An admin rule's `ports`. A `namedPort` has no protocol of its own: it matches the container
/// port of that name whatever its protocol, so it becomes one named service per protocol.
pub(crate) fn admin_services(ports: &[AdminPort]) -> Vec<Service> {
    let mut out = Vec::new();
    for p in ports {
        let service = |protocol, port| Service {
            protocol,
            port,
            source: None,
        };
        if let Some(n) = &p.port_number {
            out.push(service(n.protocol, PortMatch::Range(n.port, n.port)));
        } else if let Some(r) = &p.port_range {
            out.push(service(r.protocol, PortMatch::Range(r.start, r.end)));
        } else if let Some(name) = &p.named_port {
            for protocol in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
                out.push(service(protocol, PortMatch::Named(name.clone())));
            }
        }
    }
    out
}

/// A v1alpha2 rule's `protocols`; a `destinationNamedPort`, like the v1alpha1 `namedPort`,
/// matches the container port of that name whatever its protocol.
pub(crate) fn v1alpha2_services(protocols: &[CnpProtocol]) -> Vec<Service> {
    let mut out = Vec::new();
    for p in protocols {
        let service = |protocol, port| Service {
            protocol,
            port,
            source: None,
        };
        for (protocol, ports) in [
            (Protocol::Tcp, &p.tcp),
            (Protocol::Udp, &p.udp),
            (Protocol::Sctp, &p.sctp),
        ] {
            let Some(port) = ports.as_ref().and_then(|p| p.destination_port.as_ref()) else {
                continue;
            };
            let (lo, hi) = match (&port.number, &port.range) {
                (Some(n), _) => (*n, *n),
                (None, Some(r)) => (r.start, r.end),
                (None, None) => continue,
            };
            out.push(service(protocol, PortMatch::Range(lo, hi)));
        }
        if let Some(name) = &p.destination_named_port {
            for protocol in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
                out.push(service(protocol, PortMatch::Named(name.clone())));
            }
        }
    }
    out
}

pub(crate) fn ip_block(b: &IpBlockSpec) -> IpBlock {
    IpBlock {
        cidr: b.cidr,
        except: b.except.clone(),
    }
}

/// A `networks` entry: an IPv4 or IPv6 CIDR (or address). Validation has already rejected
/// anything else.
pub fn network(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod logging_tests {
    use super::*;
    use crate::policy::model::{AntreaPolicy, AntreaRule, K8sNetworkPolicy, K8sRule};
    use crate::policy::resolved::RuleAction;

    #[test]
    fn enable_logging_and_the_namespace_annotation_reach_the_resolved_rules() {
        let cluster = Cluster::default()
            .namespace("audited", &[])
            .annotate("audited", "policy.antrea.io/enable-np-logging", "true")
            .namespace("quiet", &[])
            .pod("audited/a", &[], "10.0.0.1")
            .pod("quiet/b", &[], "10.0.0.2");
        let set = PolicySet::default()
            .with(
                AntreaPolicy::test("p")
                    .applied_to_all()
                    .ingress(AntreaRule::new(RuleAction::Drop).logged(Some("lbl"))),
            )
            .with(K8sNetworkPolicy::test("audited", "np").ingress(K8sRule::default()))
            .with(K8sNetworkPolicy::test("quiet", "np").ingress(K8sRule::default()));
        let r = resolve(&cluster, &set).unwrap();
        let logging: Vec<(String, bool, Option<String>)> = r
            .rules
            .iter()
            .map(|x| (x.id.policy.clone(), x.enable_logging, x.log_label.clone()))
            .collect();
        assert!(logging.contains(&("p".into(), true, Some("lbl".into()))));
        assert!(logging.contains(&("audited/np".into(), true, None)));
        assert!(logging.contains(&("quiet/np".into(), false, None)));
        assert_eq!(r.np_logging, ["audited".to_string()].into());
    }
}
