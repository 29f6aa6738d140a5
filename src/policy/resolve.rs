//! Resolution: every selector of a validated [`PolicySet`] turned into concrete pods, CIDRs and
//! node IPs of a [`Cluster`], and every rule placed in the precedence order (see
//! [`super::resolved`]).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};

use super::error::PolicyError;
use super::model::{
    AdminKind, AdminPeer, AdminPolicy, AdminPort, AdminSubject, AntreaKind, AntreaPeer,
    AntreaPolicy, AntreaRule, AppliedTo, Cluster, ClusterGroup, IpBlockSpec, K8sNetworkPolicy,
    K8sPeer, NamespacedPods, PeerNamespaces, PolicyPort, PolicySet, PortValue, RuleProtocol,
    ServiceAccountRef,
};
use super::model_v1alpha2::{CnpProtocol, CnpTier, NetworkPolicyV1Alpha2};
use super::resolved::{
    Direction, IpBlock, Peers, PodInfo, PodKey, PortMatch, Protocol, ResolvedPolicies,
    ResolvedRule, RuleAction, RuleRef, Service, Stage, ADMIN_BASELINE_TIER, ADMIN_TIER,
    ADMIN_TIER_PRIORITY,
};
use super::selector::{LabelSelector, Labels};
use super::validate::{tier_name, tier_table, validate, BASELINE_TIER_PRIORITY};

/// Tier name given to K8s NetworkPolicy rules in [`RuleRef::tier`].
pub const K8S_TIER: &str = "k8s";

/// Resolves `objects` against `cluster` (validating them first).
pub fn resolve(cluster: &Cluster, objects: &PolicySet) -> Result<ResolvedPolicies, PolicyError> {
    validate(objects)?;
    let world = World::new(cluster, objects);
    let tiers = tier_table(objects);
    let mut out = ResolvedPolicies::default();

    for p in &objects.antrea_policies {
        let tier = tier_name(p);
        let tier_priority = tiers[&tier];
        let stage = if tier_priority == BASELINE_TIER_PRIORITY {
            Stage::Baseline
        } else {
            Stage::Tier(tier_priority)
        };
        resolve_antrea(&world, p, &tier, stage, &mut out);
    }
    for p in &objects.admin_policies {
        resolve_admin(&world, p, &mut out);
    }
    for p in &objects.network_policies_v1alpha2 {
        resolve_v1alpha2(&world, p, &mut out);
    }
    for p in &objects.k8s_policies {
        resolve_k8s(&world, p, &mut out);
    }

    out.np_logging = cluster
        .namespaces
        .iter()
        .filter(|n| n.np_logging())
        .map(|n| n.name.clone())
        .collect();
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
    out.warnings = super::lint::lint(objects, &out);
    Ok(out)
}

fn generated_rule_name(direction: Direction, index: usize) -> String {
    match direction {
        Direction::Ingress => format!("ingress-{index}"),
        Direction::Egress => format!("egress-{index}"),
    }
}

fn resolve_antrea(
    world: &World<'_>,
    p: &AntreaPolicy,
    tier: &str,
    stage: Stage,
    out: &mut ResolvedPolicies,
) {
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
            let id = RuleRef {
                kind: p.kind_name().to_string(),
                policy: p.full_name(),
                tier: tier.to_string(),
                rule: rule
                    .name
                    .clone()
                    .unwrap_or_else(|| generated_rule_name(direction, index)),
            };
            let applied_to = world.subjects(world.applied_to(applied, scope));
            for (applied_to, peers) in world.antrea_rule_peers(rule, direction, applied_to, scope) {
                out.rules.push(ResolvedRule {
                    id: id.clone(),
                    stage,
                    policy_priority: p.spec.priority,
                    rule_index: index,
                    direction,
                    action: rule.action,
                    applied_to,
                    peers,
                    services: services(&rule.ports, &rule.protocols),
                    enable_logging: rule.enable_logging,
                    log_label: rule.log_label.clone(),
                });
            }
        }
    }
}

fn resolve_admin(world: &World<'_>, p: &AdminPolicy, out: &mut ResolvedPolicies) {
    let (stage, tier, priority) = match p.kind {
        AdminKind::Admin => (
            Stage::Tier(ADMIN_TIER_PRIORITY),
            ADMIN_TIER,
            p.spec.priority.unwrap_or_default() as f64,
        ),
        AdminKind::Baseline => (Stage::AdminBaseline, ADMIN_BASELINE_TIER, 0.0),
    };
    let policy = AdminRules {
        kind: p.kind_name(),
        name: &p.metadata.name,
        stage,
        tier,
        priority,
        applied_to: world.admin_subject(&p.spec.subject),
    };
    for (direction, rules) in [
        (Direction::Ingress, &p.spec.ingress),
        (Direction::Egress, &p.spec.egress),
    ] {
        for (index, rule) in rules.iter().enumerate() {
            let peers = match direction {
                Direction::Ingress => &rule.from,
                Direction::Egress => &rule.to,
            };
            out.rules.push(policy.rule(
                direction,
                index,
                rule.name.as_deref(),
                rule.action,
                world.admin_peers(peers),
                rule.ports.as_deref().map(admin_services),
            ));
        }
    }
}

/// A v1alpha2 ClusterNetworkPolicy: the Admin tier sorts with AdminNetworkPolicies by
/// priority, the Baseline tier with the BaselineAdminNetworkPolicy (which sorts as priority 0).
fn resolve_v1alpha2(world: &World<'_>, p: &NetworkPolicyV1Alpha2, out: &mut ResolvedPolicies) {
    let (stage, tier) = match p.spec.tier {
        CnpTier::Admin => (Stage::Tier(ADMIN_TIER_PRIORITY), ADMIN_TIER),
        CnpTier::Baseline => (Stage::AdminBaseline, ADMIN_BASELINE_TIER),
    };
    let policy = AdminRules {
        kind: NetworkPolicyV1Alpha2::KIND,
        name: &p.metadata.name,
        stage,
        tier,
        priority: p.spec.priority as f64,
        applied_to: world.admin_subject(&p.spec.subject),
    };
    for (direction, rules) in [
        (Direction::Ingress, &p.spec.ingress),
        (Direction::Egress, &p.spec.egress),
    ] {
        for (index, rule) in rules.iter().enumerate() {
            let peers = match direction {
                Direction::Ingress => &rule.from,
                Direction::Egress => &rule.to,
            };
            out.rules.push(policy.rule(
                direction,
                index,
                rule.name.as_deref(),
                rule.action,
                world.admin_peers(peers),
                rule.protocols.as_deref().map(v1alpha2_services),
            ));
        }
    }
}

/// What the rules of one upstream (network-policy-api) policy share.
struct AdminRules<'p> {
    kind: &'static str,
    name: &'p str,
    stage: Stage,
    tier: &'static str,
    priority: f64,
    applied_to: BTreeSet<PodKey>,
}

impl AdminRules<'_> {
    fn rule(
        &self,
        direction: Direction,
        index: usize,
        name: Option<&str>,
        action: RuleAction,
        peers: Peers,
        services: Option<Vec<Service>>,
    ) -> ResolvedRule {
        ResolvedRule {
            id: RuleRef {
                kind: self.kind.to_string(),
                policy: self.name.to_string(),
                tier: self.tier.to_string(),
                rule: name
                    .map(str::to_string)
                    .unwrap_or_else(|| generated_rule_name(direction, index)),
            },
            stage: self.stage,
            policy_priority: self.priority,
            rule_index: index,
            direction,
            action,
            applied_to: self.applied_to.clone(),
            peers,
            services,
            enable_logging: false,
            log_label: None,
        }
    }
}

fn resolve_k8s(world: &World<'_>, p: &K8sNetworkPolicy, out: &mut ResolvedPolicies) {
    let ns = p.namespace();
    let selected = world.subjects(world.select(Some(&p.spec.pod_selector), None, Some(ns)));
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
        for pod in &selected {
            out.isolated_by
                .entry((direction, pod.clone()))
                .or_default()
                .insert(p.full_name());
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
                services: services(&rule.ports, &[]),
                enable_logging: world.np_logging(ns),
                log_label: None,
            });
        }
    }
}

/// The precedence order: stage, policy priority, policy name, kind, direction, rule index.
/// The sort is stable, so the per-namespace parts of one rule keep their namespace order.
fn order(a: &ResolvedRule, b: &ResolvedRule) -> Ordering {
    fn stage_key(s: Stage) -> (u8, u32) {
        match s {
            Stage::Tier(p) => (0, p),
            Stage::K8s => (1, 0),
            Stage::Baseline => (2, 0),
            Stage::AdminBaseline => (3, 0),
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

/// A rule's `ports` and `protocols` as services: both empty = all traffic.
fn services(ports: &[PolicyPort], protocols: &[RuleProtocol]) -> Option<Vec<Service>> {
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
fn admin_services(ports: &[AdminPort]) -> Vec<Service> {
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
fn v1alpha2_services(protocols: &[CnpProtocol]) -> Vec<Service> {
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

fn ip_block(b: &IpBlockSpec) -> IpBlock {
    IpBlock {
        cidr: b.cidr,
        except: b.except.clone(),
    }
}

/// A `networks` entry: an IPv4 CIDR (or address), or `None` for IPv6 (single stack: ignored).
/// Validation has already rejected anything else.
pub fn network(s: &str) -> Option<Ipv4Net> {
    match s.parse::<IpNet>() {
        Ok(IpNet::V4(n)) => Some(n),
        Ok(IpNet::V6(_)) => None,
        Err(_) => s.parse::<Ipv4Addr>().ok().map(Ipv4Net::from),
    }
}

/// What a group or peer contributes to a rule's peers.
#[derive(Default)]
struct Members {
    pods: BTreeSet<PodKey>,
    ip_blocks: Vec<IpBlock>,
    node_ips: BTreeSet<Ipv4Addr>,
}

impl Members {
    fn extend(&mut self, other: Members) {
        self.pods.extend(other.pods);
        self.ip_blocks.extend(other.ip_blocks);
        self.node_ips.extend(other.node_ips);
    }

    fn into_peers(self) -> Peers {
        Peers::Set {
            pods: self.pods,
            ip_blocks: self.ip_blocks,
            node_ips: self.node_ips,
        }
    }
}

/// The cluster with namespace labels computed once, and the groups by name.
struct World<'a> {
    cluster: &'a Cluster,
    namespace_labels: BTreeMap<&'a str, Labels>,
    cluster_groups: BTreeMap<&'a str, &'a ClusterGroup>,
    /// Namespaced Groups by (namespace, name).
    groups: BTreeMap<(&'a str, &'a str), &'a ClusterGroup>,
    /// The distinct namespaces of the pods.
    pod_namespaces: Vec<&'a str>,
}

impl<'a> World<'a> {
    /// Whether the namespace `ns` turns on the audit log of its K8s NetworkPolicies.
    fn np_logging(&self, ns: &str) -> bool {
        self.cluster
            .namespaces
            .iter()
            .any(|n| n.name == ns && n.np_logging())
    }

    fn new(cluster: &'a Cluster, objects: &'a PolicySet) -> Self {
        let mut pod_namespaces: Vec<&str> =
            cluster.pods.iter().map(|p| p.namespace.as_str()).collect();
        pod_namespaces.sort_unstable();
        pod_namespaces.dedup();
        World {
            cluster,
            pod_namespaces,
            namespace_labels: cluster
                .namespaces
                .iter()
                .map(|n| (n.name.as_str(), n.effective_labels()))
                .collect(),
            cluster_groups: objects
                .cluster_groups
                .iter()
                .map(|g| (g.metadata.name.as_str(), g))
                .collect(),
            groups: objects
                .groups
                .iter()
                .map(|g| {
                    let ns = g.metadata.namespace.as_deref().unwrap_or_default();
                    ((ns, g.metadata.name.as_str()), g)
                })
                .collect(),
        }
    }

    /// The labels of namespace `ns` (only the implicit name label for one the model lacks).
    fn ns_labels(&self, ns: &str) -> Labels {
        self.namespace_labels.get(ns).cloned().unwrap_or_else(|| {
            Labels::from([(
                super::model::NAMESPACE_NAME_LABEL.to_string(),
                ns.to_string(),
            )])
        })
    }

    /// Pods matching `pods` in namespaces matching `namespaces`; without a namespace selector,
    /// pods of `scope` (every namespace when `scope` is `None`).
    fn select(
        &self,
        pods: Option<&LabelSelector>,
        namespaces: Option<&LabelSelector>,
        scope: Option<&str>,
    ) -> BTreeSet<PodKey> {
        self.select_where(pods, |ns| match namespaces {
            Some(sel) => sel.matches(&self.ns_labels(ns)),
            None => scope.is_none_or(|s| s == ns),
        })
    }

    /// Pods matching `pods` (all when `None`) in the namespaces `ns_filter` accepts.
    fn select_where(
        &self,
        pods: Option<&LabelSelector>,
        ns_filter: impl Fn(&str) -> bool,
    ) -> BTreeSet<PodKey> {
        // The filter once per namespace, not once per pod (it may compute label maps).
        let accepted: std::collections::BTreeSet<&str> = self
            .pod_namespaces
            .iter()
            .copied()
            .filter(|ns| ns_filter(ns))
            .collect();
        self.cluster
            .pods
            .iter()
            .filter(|pod| accepted.contains(pod.namespace.as_str()))
            .filter(|pod| pods.is_none_or(|sel| sel.matches(&pod.labels)))
            .map(|pod| PodKey {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
            })
            .collect()
    }

    /// The subject of an upstream policy: host-network pods excluded.
    fn admin_subject(&self, subject: &AdminSubject) -> BTreeSet<PodKey> {
        self.subjects(match (&subject.namespaces, &subject.pods) {
            (Some(ns), _) => self.select(None, Some(ns), None),
            (None, Some(pods)) => self.namespaced_pods(pods),
            (None, None) => BTreeSet::new(),
        })
    }

    fn namespaced_pods(&self, p: &NamespacedPods) -> BTreeSet<PodKey> {
        self.select(Some(&p.pod_selector), Some(&p.namespace_selector), None)
    }

    fn service_account(&self, sa: &ServiceAccountRef) -> BTreeSet<PodKey> {
        self.cluster
            .pods
            .iter()
            .filter(|p| p.namespace == sa.namespace && p.service_account_name() == sa.name)
            .map(|pod| PodKey {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
            })
            .collect()
    }

    fn node_ips(&self, sel: &LabelSelector) -> BTreeSet<Ipv4Addr> {
        self.cluster
            .nodes
            .iter()
            .filter(|n| sel.matches(&n.labels))
            .filter_map(|n| n.ip)
            .collect()
    }

    /// Policies apply to pods with their own network namespace: host-network pods are never
    /// subjects (as in Kubernetes and Antrea).
    fn subjects(&self, mut set: BTreeSet<PodKey>) -> BTreeSet<PodKey> {
        set.retain(|k| {
            !self
                .cluster
                .pods
                .iter()
                .any(|p| p.host_network && p.namespace == k.namespace && p.name == k.name)
        });
        set
    }

    /// The group a policy of `scope` names: a ClusterGroup for a cluster-scoped policy, a Group
    /// of its namespace for a namespaced one.
    fn lookup(&self, name: &str, scope: Option<&str>) -> Option<&'a ClusterGroup> {
        match scope {
            None => self.cluster_groups.get(name).copied(),
            Some(ns) => self.groups.get(&(ns, name)).copied(),
        }
    }

    /// A group's members, with its child groups (one level, checked by validation).
    fn group(&self, g: &ClusterGroup, scope: Option<&str>, depth: usize) -> Members {
        let s = &g.spec;
        let mut m = Members::default();
        if s.pod_selector.is_some() || s.namespace_selector.is_some() {
            m.pods = self.select(
                s.pod_selector.as_ref(),
                s.namespace_selector.as_ref(),
                scope,
            );
        }
        m.ip_blocks = s.ip_blocks.iter().map(ip_block).collect();
        if depth == 0 {
            for child in &s.child_groups {
                if let Some(c) = self.lookup(child, scope) {
                    m.extend(self.group(c, scope, depth + 1));
                }
            }
        }
        m
    }

    fn applied_to(&self, entries: &[AppliedTo], scope: Option<&str>) -> BTreeSet<PodKey> {
        let mut out = BTreeSet::new();
        for a in entries {
            if let Some(g) = &a.group {
                if let Some(g) = self.lookup(g, scope) {
                    out.extend(self.group(g, scope, 0).pods);
                }
            } else if let Some(sa) = &a.service_account {
                out.extend(self.service_account(sa));
            } else {
                out.extend(self.select(
                    a.pod_selector.as_ref(),
                    a.namespace_selector.as_ref(),
                    scope,
                ));
            }
        }
        out
    }

    /// A rule's (applied-to, peers) pairs. Peers with `namespaces` depend on the applied-to
    /// pod's namespace, so such a rule is split into one part per namespace.
    fn antrea_rule_peers(
        &self,
        rule: &AntreaRule,
        direction: Direction,
        applied_to: BTreeSet<PodKey>,
        scope: Option<&str>,
    ) -> Vec<(BTreeSet<PodKey>, Peers)> {
        let peers = match direction {
            Direction::Ingress => &rule.from,
            Direction::Egress => &rule.to,
        };
        if peers.is_empty() {
            return vec![(applied_to, Peers::Any)];
        }
        if !peers.iter().any(|p| p.namespaces.is_some()) {
            return vec![(applied_to, self.antrea_peers(peers, scope, None))];
        }
        let mut by_ns: BTreeMap<String, BTreeSet<PodKey>> = BTreeMap::new();
        for k in applied_to {
            by_ns.entry(k.namespace.clone()).or_default().insert(k);
        }
        by_ns
            .into_iter()
            .map(|(ns, pods)| {
                let peers = self.antrea_peers(peers, scope, Some(&ns));
                (pods, peers)
            })
            .collect()
    }

    /// The namespaces a `namespaces` peer means for an applied-to pod of `own`.
    fn peer_namespaces(&self, n: &PeerNamespaces, own: &str) -> impl Fn(&str) -> bool + '_ {
        let own_labels = self.ns_labels(own);
        let wanted: Option<Vec<(String, String)>> = n
            .same_labels
            .iter()
            .map(|k| own_labels.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        let own = own.to_string();
        let self_match = n.match_.is_some();
        move |ns: &str| {
            if self_match {
                return ns == own;
            }
            // A namespace lacking one of the keys shares nothing with anyone.
            wanted.as_ref().is_some_and(|w| {
                let labels = self.ns_labels(ns);
                w.iter().all(|(k, v)| labels.get(k) == Some(v))
            })
        }
    }

    fn antrea_peers(&self, peers: &[AntreaPeer], scope: Option<&str>, own: Option<&str>) -> Peers {
        let mut m = Members::default();
        for peer in peers {
            if let Some(b) = &peer.ip_block {
                m.ip_blocks.push(ip_block(b));
            } else if let Some(g) = &peer.group {
                if let Some(g) = self.lookup(g, scope) {
                    m.extend(self.group(g, scope, 0));
                }
            } else if let Some(n) = &peer.namespaces {
                let own = own.unwrap_or_default();
                m.pods.extend(
                    self.select_where(peer.pod_selector.as_ref(), self.peer_namespaces(n, own)),
                );
            } else if let Some(sa) = &peer.service_account {
                m.pods.extend(self.service_account(sa));
            } else if let Some(sel) = &peer.node_selector {
                m.node_ips.extend(self.node_ips(sel));
            } else {
                m.pods.extend(self.select(
                    peer.pod_selector.as_ref(),
                    peer.namespace_selector.as_ref(),
                    scope,
                ));
            }
        }
        m.into_peers()
    }

    fn admin_peers(&self, peers: &[AdminPeer]) -> Peers {
        let mut m = Members::default();
        for peer in peers {
            if let Some(ns) = &peer.namespaces {
                m.pods.extend(self.select(None, Some(ns), None));
            } else if let Some(pods) = &peer.pods {
                m.pods.extend(self.namespaced_pods(pods));
            } else if let Some(nodes) = &peer.nodes {
                m.node_ips.extend(self.node_ips(nodes));
            } else if let Some(networks) = &peer.networks {
                m.ip_blocks
                    .extend(
                        networks
                            .iter()
                            .filter_map(|n| network(n))
                            .map(|cidr| IpBlock {
                                cidr,
                                except: Vec::new(),
                            }),
                    );
            }
        }
        m.into_peers()
    }

    fn k8s_peers(&self, peers: &[K8sPeer], ns: &str) -> Peers {
        if peers.is_empty() {
            return Peers::Any;
        }
        let mut m = Members::default();
        for peer in peers {
            if let Some(b) = &peer.ip_block {
                m.ip_blocks.push(ip_block(b));
            } else {
                m.pods.extend(self.select(
                    peer.pod_selector.as_ref(),
                    peer.namespace_selector.as_ref(),
                    Some(ns),
                ));
            }
        }
        m.into_peers()
    }
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
