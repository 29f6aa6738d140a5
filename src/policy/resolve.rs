//! Resolution: every selector of a validated [`PolicySet`] turned into concrete pods and CIDRs of
//! a [`Cluster`], and every rule placed in the precedence order (see [`super::resolved`]).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use super::error::PolicyError;
use super::model::{
    AntreaKind, AntreaPeer, AntreaPolicy, AppliedTo, Cluster, ClusterGroup, IpBlockSpec,
    K8sNetworkPolicy, K8sPeer, PolicyPort, PolicySet, PortValue,
};
use super::resolved::{
    Direction, IpBlock, Peers, PodInfo, PodKey, PortMatch, ResolvedPolicies, ResolvedRule,
    RuleAction, RuleRef, Service, Stage,
};
use super::selector::{LabelSelector, Labels};
use super::validate::{tier_name, tier_table, validate, BASELINE_TIER_PRIORITY};

/// Tier name given to K8s NetworkPolicy rules in [`RuleRef::tier`].
pub const K8S_TIER: &str = "k8s";

/// Resolves `objects` against `cluster` (validating them first).
pub fn resolve(cluster: &Cluster, objects: &PolicySet) -> Result<ResolvedPolicies, PolicyError> {
    validate(objects)?;
    let world = World::new(cluster);
    let tiers = tier_table(objects);
    let groups: BTreeMap<&str, &ClusterGroup> = objects
        .cluster_groups
        .iter()
        .map(|g| (g.metadata.name.as_str(), g))
        .collect();
    let mut out = ResolvedPolicies::default();

    for p in &objects.antrea_policies {
        let tier = tier_name(p);
        let tier_priority = tiers[&tier];
        let stage = if tier_priority == BASELINE_TIER_PRIORITY {
            Stage::Baseline
        } else {
            Stage::Tier(tier_priority)
        };
        let scope = match p.kind {
            AntreaKind::Cluster => None,
            AntreaKind::Namespaced => p.metadata.namespace.as_deref(),
        };
        for (direction, rules) in [
            (Direction::Ingress, &p.spec.ingress),
            (Direction::Egress, &p.spec.egress),
        ] {
            for (index, rule) in rules.iter().enumerate() {
                let applied = if rule.applied_to.is_empty() {
                    &p.spec.applied_to
                } else {
                    &rule.applied_to
                };
                let peers = match direction {
                    Direction::Ingress => &rule.from,
                    Direction::Egress => &rule.to,
                };
                out.rules.push(ResolvedRule {
                    id: rule_ref(p, &tier, direction, index, rule.name.as_deref()),
                    stage,
                    policy_priority: p.spec.priority,
                    rule_index: index,
                    direction,
                    action: rule.action,
                    applied_to: world.applied_to(applied, scope, &groups),
                    peers: world.antrea_peers(peers, scope, &groups),
                    services: services(&rule.ports),
                });
            }
        }
    }

    for p in &objects.k8s_policies {
        resolve_k8s(&world, p, &mut out);
    }

    out.rules.sort_by(order);
    out.pods = cluster
        .pods
        .iter()
        .map(|pod| PodInfo {
            key: PodKey {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
            },
            ip: pod.ip,
            mac: pod.mac,
            node: pod.node.clone(),
            named_ports: pod
                .ports
                .iter()
                .filter_map(|port| {
                    port.name
                        .as_ref()
                        .map(|n| (n.clone(), port.protocol, port.port))
                })
                .collect(),
            ports: pod.ports.iter().map(|p| (p.protocol, p.port)).collect(),
        })
        .collect();
    Ok(out)
}

fn rule_ref(
    p: &AntreaPolicy,
    tier: &str,
    direction: Direction,
    index: usize,
    name: Option<&str>,
) -> RuleRef {
    RuleRef {
        kind: p.kind_name().to_string(),
        policy: p.full_name(),
        tier: tier.to_string(),
        rule: name
            .map(str::to_string)
            .unwrap_or_else(|| generated_rule_name(direction, index)),
    }
}

fn generated_rule_name(direction: Direction, index: usize) -> String {
    match direction {
        Direction::Ingress => format!("ingress-{index}"),
        Direction::Egress => format!("egress-{index}"),
    }
}

fn resolve_k8s(world: &World<'_>, p: &K8sNetworkPolicy, out: &mut ResolvedPolicies) {
    let ns = p.namespace();
    let selected = world.select(Some(&p.spec.pod_selector), None, Some(ns));
    let (ingress, egress) = p.spec.effective_policy_types();
    for (direction, isolated, rules) in [
        (Direction::Ingress, ingress, &p.spec.ingress),
        (Direction::Egress, egress, &p.spec.egress),
    ] {
        if !isolated {
            continue;
        }
        match direction {
            Direction::Ingress => out.isolated_ingress.extend(selected.iter().cloned()),
            Direction::Egress => out.isolated_egress.extend(selected.iter().cloned()),
        }
        for (index, rule) in rules.iter().enumerate() {
            let peers = match direction {
                Direction::Ingress => &rule.from,
                Direction::Egress => &rule.to,
            };
            out.rules.push(ResolvedRule {
                id: RuleRef {
                    kind: "NetworkPolicy".to_string(),
                    policy: p.full_name(),
                    tier: K8S_TIER.to_string(),
                    rule: generated_rule_name(direction, index),
                },
                stage: Stage::K8s,
                policy_priority: 0.0,
                rule_index: index,
                direction,
                action: RuleAction::Allow,
                applied_to: selected.clone(),
                peers: world.k8s_peers(peers, ns),
                services: services(&rule.ports),
            });
        }
    }
}

/// The precedence order: stage, policy priority, policy name, kind, direction, rule index.
fn order(a: &ResolvedRule, b: &ResolvedRule) -> Ordering {
    fn stage_key(s: Stage) -> (u8, u32) {
        match s {
            Stage::Tier(p) => (0, p),
            Stage::K8s => (1, 0),
            Stage::Baseline => (2, 0),
        }
    }
    stage_key(a.stage)
        .cmp(&stage_key(b.stage))
        .then(a.policy_priority.total_cmp(&b.policy_priority))
        .then_with(|| a.id.policy.cmp(&b.id.policy))
        .then_with(|| a.id.kind.cmp(&b.id.kind))
        .then(a.direction.cmp(&b.direction))
        .then(a.rule_index.cmp(&b.rule_index))
}

/// A rule's `ports` as services: empty = all traffic.
fn services(ports: &[PolicyPort]) -> Option<Vec<Service>> {
    if ports.is_empty() {
        return None;
    }
    Some(
        ports
            .iter()
            .map(|p| Service {
                protocol: p.protocol,
                port: match &p.port {
                    None => PortMatch::Any,
                    Some(PortValue::Number(n)) => PortMatch::Range(*n, p.end_port.unwrap_or(*n)),
                    Some(PortValue::Name(name)) => PortMatch::Named(name.clone()),
                },
            })
            .collect(),
    )
}

fn ip_block(b: &IpBlockSpec) -> IpBlock {
    IpBlock {
        cidr: b.cidr,
        except: b.except.clone(),
    }
}

/// The cluster with namespace labels computed once.
struct World<'a> {
    cluster: &'a Cluster,
    namespace_labels: BTreeMap<&'a str, Labels>,
}

impl<'a> World<'a> {
    fn new(cluster: &'a Cluster) -> Self {
        World {
            cluster,
            namespace_labels: cluster
                .namespaces
                .iter()
                .map(|n| (n.name.as_str(), n.effective_labels()))
                .collect(),
        }
    }

    /// Pods matching `pods` in namespaces matching `namespaces`; without a namespace selector,
    /// pods of `scope` (every namespace when `scope` is `None`).
    fn select(
        &self,
        pods: Option<&LabelSelector>,
        namespaces: Option<&LabelSelector>,
        scope: Option<&str>,
    ) -> BTreeSet<PodKey> {
        self.cluster
            .pods
            .iter()
            .filter(|pod| match namespaces {
                Some(sel) => {
                    let implicit;
                    let labels = match self.namespace_labels.get(pod.namespace.as_str()) {
                        Some(l) => l,
                        None => {
                            implicit = Labels::from([(
                                super::model::NAMESPACE_NAME_LABEL.to_string(),
                                pod.namespace.clone(),
                            )]);
                            &implicit
                        }
                    };
                    sel.matches(labels)
                }
                None => scope.is_none_or(|ns| ns == pod.namespace),
            })
            .filter(|pod| pods.is_none_or(|sel| sel.matches(&pod.labels)))
            .map(|pod| PodKey {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
            })
            .collect()
    }

    fn group(&self, g: &ClusterGroup) -> (BTreeSet<PodKey>, Vec<IpBlock>) {
        let s = &g.spec;
        let pods = if s.pod_selector.is_some() || s.namespace_selector.is_some() {
            self.select(s.pod_selector.as_ref(), s.namespace_selector.as_ref(), None)
        } else {
            BTreeSet::new()
        };
        (pods, s.ip_blocks.iter().map(ip_block).collect())
    }

    fn applied_to(
        &self,
        entries: &[AppliedTo],
        scope: Option<&str>,
        groups: &BTreeMap<&str, &ClusterGroup>,
    ) -> BTreeSet<PodKey> {
        let mut out = BTreeSet::new();
        for a in entries {
            match &a.group {
                Some(g) => out.extend(
                    groups
                        .get(g.as_str())
                        .map(|g| self.group(g).0)
                        .unwrap_or_default(),
                ),
                None => out.extend(self.select(
                    a.pod_selector.as_ref(),
                    a.namespace_selector.as_ref(),
                    scope,
                )),
            }
        }
        out
    }

    fn antrea_peers(
        &self,
        peers: &[AntreaPeer],
        scope: Option<&str>,
        groups: &BTreeMap<&str, &ClusterGroup>,
    ) -> Peers {
        if peers.is_empty() {
            return Peers::Any;
        }
        let mut pods = BTreeSet::new();
        let mut ip_blocks = Vec::new();
        for peer in peers {
            if let Some(b) = &peer.ip_block {
                ip_blocks.push(ip_block(b));
            } else if let Some(g) = &peer.group {
                if let Some(g) = groups.get(g.as_str()) {
                    let (p, b) = self.group(g);
                    pods.extend(p);
                    ip_blocks.extend(b);
                }
            } else {
                pods.extend(self.select(
                    peer.pod_selector.as_ref(),
                    peer.namespace_selector.as_ref(),
                    scope,
                ));
            }
        }
        Peers::Set { pods, ip_blocks }
    }

    fn k8s_peers(&self, peers: &[K8sPeer], ns: &str) -> Peers {
        if peers.is_empty() {
            return Peers::Any;
        }
        let mut pods = BTreeSet::new();
        let mut ip_blocks = Vec::new();
        for peer in peers {
            if let Some(b) = &peer.ip_block {
                ip_blocks.push(ip_block(b));
            } else {
                pods.extend(self.select(
                    peer.pod_selector.as_ref(),
                    peer.namespace_selector.as_ref(),
                    Some(ns),
                ));
            }
        }
        Peers::Set { pods, ip_blocks }
    }
}
