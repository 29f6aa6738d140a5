//! Policy objects to internal policies: every way an API names pods becomes a group of the
//! index ([`GroupSelector`]), and a rule holds group ids, never pods.
//!
//! The semantics are those of each API (they were `policy::resolve`'s before the index): policy
//! subjects never include host-network pods; a K8s peer without a namespace selector looks in
//! the policy's namespace; an Antrea `namespaces` peer (`match: Self`, `sameLabels`) depends on
//! the applied-to pod's namespace, so such a rule has one part per namespace of its applied-to
//! pods.

use std::collections::{BTreeMap, BTreeSet};

use super::index::{GroupId, GroupIndex};
use super::selector::{GroupSelector, NamespaceScope};
use crate::policy::model::{
    AdminKind, AdminPeer, AdminPolicy, AdminSubject, AntreaKind, AntreaPeer, AntreaPolicy,
    AntreaRule, AppliedTo, ClusterGroup, K8sNetworkPolicy, K8sPeer, NamespacedPods, PeerNamespaces,
    ServiceAccountRef,
};
use crate::policy::model_v1alpha2::{CnpTier, NetworkPolicyV1Alpha2};
use crate::policy::resolve::{
    admin_services, generated_rule_name, ip_block, network, services, v1alpha2_services, K8S_TIER,
};
use crate::policy::resolved::{
    Direction, IpBlock, RuleAction, RuleRef, Service, Stage, ADMIN_BASELINE_TIER, ADMIN_TIER,
    ADMIN_TIER_PRIORITY,
};
use crate::policy::selector::LabelSelector;

/// A rule's peers as groups.
#[derive(Debug, Clone, PartialEq)]
pub enum InternalPeers {
    /// No restriction.
    Any,
    /// The union of these groups' members, these blocks and the IPs of the matching nodes.
    Set {
        /// Address groups.
        groups: Vec<GroupId>,
        /// ipBlock / networks peers.
        ip_blocks: Vec<IpBlock>,
        /// Node selectors (nodeSelector / `nodes` peers), evaluated against the nodes.
        nodes: Vec<LabelSelector>,
    },
}

/// One rule over groups.
#[derive(Debug, Clone, PartialEq)]
pub struct InternalRule {
    /// Who the rule is.
    pub id: RuleRef,
    /// Stage in the precedence order.
    pub stage: Stage,
    /// Policy priority inside its tier.
    pub policy_priority: f64,
    /// Rule index inside its policy and direction.
    pub rule_index: usize,
    /// Direction.
    pub direction: Direction,
    /// Action.
    pub action: RuleAction,
    /// Applied-to groups (their union).
    pub applied_to: Vec<GroupId>,
    /// Only the applied-to members of this namespace: a part of a rule split by a `namespaces`
    /// peer.
    pub namespace_part: Option<String>,
    /// Peers.
    pub peers: InternalPeers,
    /// Services (`None` = all traffic).
    pub services: Option<Vec<Service>>,
    /// Audit logging.
    pub enable_logging: bool,
    /// Antrea `logLabel`.
    pub log_label: Option<String>,
    /// Staged (`enforcementMode: Audit`): reported, never enforced.
    pub staged: bool,
}

/// One policy object over groups: its rules, the groups a K8s NetworkPolicy isolates, and every
/// group it holds (released when the policy goes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InternalPolicy {
    /// Rules in the policy's own order.
    pub rules: Vec<InternalRule>,
    /// Groups isolated for ingress (K8s NetworkPolicy).
    pub isolates_ingress: Vec<GroupId>,
    /// Groups isolated for egress (K8s NetworkPolicy).
    pub isolates_egress: Vec<GroupId>,
    /// Whether a rule depends on its applied-to pods' namespaces (a `namespaces` peer): such a
    /// policy is translated again when pods or namespaces change.
    pub per_namespace: bool,
    /// Every group acquired, one entry per acquisition.
    pub held: Vec<GroupId>,
}

/// What a translation needs beside the index: the groups by name and the tiers.
pub struct Context<'a> {
    /// ClusterGroups by name.
    pub cluster_groups: &'a BTreeMap<String, ClusterGroup>,
    /// Namespaced Groups by (namespace, name).
    pub groups: &'a BTreeMap<(String, String), ClusterGroup>,
    /// Tier name -> (tier priority, is the baseline tier).
    pub tiers: &'a BTreeMap<String, u32>,
    /// The baseline tier's priority.
    pub baseline_priority: u32,
}

/// Translates with the index: acquires groups and records them in the policy.
pub struct Translator<'i, 'c> {
    index: &'i mut GroupIndex,
    ctx: &'c Context<'c>,
    out: InternalPolicy,
}

/// What the rules of one upstream (network-policy-api) policy share.
struct Upstream<'p> {
    kind: &'static str,
    name: &'p str,
    stage: Stage,
    tier: &'static str,
    priority: f64,
    applied_to: Vec<GroupId>,
}

/// What a group or peer contributes.
#[derive(Default)]
struct Members {
    groups: Vec<GroupId>,
    ip_blocks: Vec<IpBlock>,
    nodes: Vec<LabelSelector>,
}

impl<'i, 'c> Translator<'i, 'c> {
    /// A translator of one policy.
    pub fn new(index: &'i mut GroupIndex, ctx: &'c Context<'c>) -> Self {
        Translator {
            index,
            ctx,
            out: InternalPolicy::default(),
        }
    }

    fn acquire(&mut self, s: GroupSelector) -> GroupId {
        let g = self.index.acquire(&s);
        self.out.held.push(g);
        g
    }

    /// `select(pods, namespaces, scope)` of the APIs: pods matching `pods` in namespaces
    /// matching `namespaces`; without a namespace selector, pods of `scope` (every namespace
    /// when `None`).
    fn select(
        &mut self,
        pods: Option<&LabelSelector>,
        namespaces: Option<&LabelSelector>,
        scope: Option<&str>,
        subjects: bool,
    ) -> GroupId {
        let mut s = match (namespaces, scope) {
            (Some(ns), _) => GroupSelector::across(Some(ns), pods),
            (None, Some(ns)) => GroupSelector::in_namespace(ns, pods),
            (None, None) => GroupSelector::across(None, pods),
        };
        s.exclude_host_network = subjects;
        self.acquire(s)
    }

    fn service_account(&mut self, sa: &ServiceAccountRef, subjects: bool) -> GroupId {
        let mut s = GroupSelector::in_namespace(&sa.namespace, None);
        s.service_account = Some(sa.name.clone());
        s.exclude_host_network = subjects;
        self.acquire(s)
    }

    fn lookup(&self, name: &str, scope: Option<&str>) -> Option<ClusterGroup> {
        match scope {
            None => self.ctx.cluster_groups.get(name).cloned(),
            Some(ns) => self
                .ctx
                .groups
                .get(&(ns.to_string(), name.to_string()))
                .cloned(),
        }
    }

    /// A group's members, with its child groups (one level, checked by validation).
    fn group(
        &mut self,
        g: &ClusterGroup,
        scope: Option<&str>,
        depth: usize,
        subjects: bool,
    ) -> Members {
        let s = &g.spec;
        let mut m = Members::default();
        if s.pod_selector.is_some() || s.namespace_selector.is_some() {
            m.groups.push(self.select(
                s.pod_selector.as_ref(),
                s.namespace_selector.as_ref(),
                scope,
                subjects,
            ));
        }
        m.ip_blocks = s.ip_blocks.iter().map(ip_block).collect();
        if depth == 0 {
            for child in &s.child_groups {
                if let Some(c) = self.lookup(child, scope) {
                    let cm = self.group(&c, scope, depth + 1, subjects);
                    m.groups.extend(cm.groups);
                    m.ip_blocks.extend(cm.ip_blocks);
                }
            }
        }
        m
    }

    fn applied_to(&mut self, entries: &[AppliedTo], scope: Option<&str>) -> Vec<GroupId> {
        let mut out = Vec::new();
        for a in entries {
            if let Some(g) = &a.group {
                if let Some(g) = self.lookup(g, scope) {
                    out.extend(self.group(&g, scope, 0, true).groups);
                }
            } else if let Some(sa) = &a.service_account {
                out.push(self.service_account(sa, true));
            } else {
                out.push(self.select(
                    a.pod_selector.as_ref(),
                    a.namespace_selector.as_ref(),
                    scope,
                    true,
                ));
            }
        }
        dedup(out)
    }

    /// The namespaces of the members of `groups`.
    fn member_namespaces(&self, groups: &[GroupId]) -> BTreeSet<String> {
        groups
            .iter()
            .flat_map(|g| self.index.members(*g))
            .filter_map(|p| self.index.pod_by_id(p).map(|e| e.key.namespace.clone()))
            .collect()
    }

    /// The group a `namespaces` peer means for applied-to pods of namespace `own`: `None` when
    /// it selects nothing (a `sameLabels` key the own namespace lacks).
    fn peer_namespaces(
        &mut self,
        n: &PeerNamespaces,
        pods: Option<&LabelSelector>,
        own: &str,
    ) -> Option<GroupId> {
        if n.match_.is_some() {
            return Some(self.acquire(GroupSelector::in_namespace(own, pods)));
        }
        let own_labels = self.index.namespace_labels(own);
        let mut wanted = LabelSelector::default();
        for k in &n.same_labels {
            wanted
                .match_labels
                .insert(k.clone(), own_labels.get(k)?.clone());
        }
        let mut s = GroupSelector::across(Some(&wanted), pods);
        if wanted.match_labels.is_empty() {
            s.namespaces = NamespaceScope::All;
        }
        Some(self.acquire(s))
    }

    fn antrea_peers(
        &mut self,
        peers: &[AntreaPeer],
        scope: Option<&str>,
        own: Option<&str>,
    ) -> InternalPeers {
        let mut m = Members::default();
        for peer in peers {
            if let Some(b) = &peer.ip_block {
                m.ip_blocks.push(ip_block(b));
            } else if let Some(g) = &peer.group {
                if let Some(g) = self.lookup(g, scope) {
                    let gm = self.group(&g, scope, 0, false);
                    m.groups.extend(gm.groups);
                    m.ip_blocks.extend(gm.ip_blocks);
                }
            } else if let Some(n) = &peer.namespaces {
                let own = own.unwrap_or_default();
                if let Some(g) = self.peer_namespaces(n, peer.pod_selector.as_ref(), own) {
                    m.groups.push(g);
                }
            } else if let Some(sa) = &peer.service_account {
                m.groups.push(self.service_account(sa, false));
            } else if let Some(sel) = &peer.node_selector {
                m.nodes.push(sel.clone());
            } else {
                m.groups.push(self.select(
                    peer.pod_selector.as_ref(),
                    peer.namespace_selector.as_ref(),
                    scope,
                    false,
                ));
            }
        }
        into_peers(m)
    }

    /// An Antrea ClusterNetworkPolicy or NetworkPolicy in tier `tier` at `stage`.
    pub fn antrea(mut self, p: &AntreaPolicy, tier: &str, stage: Stage) -> InternalPolicy {
        let scope_owned = match p.kind {
            AntreaKind::Cluster => None,
            AntreaKind::Namespaced => p.metadata.namespace.clone(),
        };
        let scope = scope_owned.as_deref();
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
                let applied_to = self.applied_to(applied, scope);
                for (namespace_part, peers) in
                    self.antrea_rule_peers(rule, direction, &applied_to, scope)
                {
                    self.out.rules.push(InternalRule {
                        id: id.clone(),
                        stage,
                        policy_priority: p.spec.priority,
                        rule_index: index,
                        direction,
                        action: rule.action,
                        applied_to: applied_to.clone(),
                        namespace_part,
                        peers,
                        services: services(&rule.ports, &rule.protocols),
                        enable_logging: rule.enable_logging,
                        log_label: rule.log_label.clone(),
                        staged: rule.staged(&p.spec),
                    });
                }
            }
        }
        self.out
    }

    /// A rule's (namespace part, peers) pairs: one pair for most rules; one per namespace of the
    /// applied-to pods when a peer has `namespaces`.
    fn antrea_rule_peers(
        &mut self,
        rule: &AntreaRule,
        direction: Direction,
        applied_to: &[GroupId],
        scope: Option<&str>,
    ) -> Vec<(Option<String>, InternalPeers)> {
        let peers = match direction {
            Direction::Ingress => &rule.from,
            Direction::Egress => &rule.to,
        };
        if peers.is_empty() {
            return vec![(None, InternalPeers::Any)];
        }
        if !peers.iter().any(|p| p.namespaces.is_some()) {
            return vec![(None, self.antrea_peers(peers, scope, None))];
        }
        self.out.per_namespace = true;
        self.member_namespaces(applied_to)
            .into_iter()
            .map(|ns| {
                let p = self.antrea_peers(peers, scope, Some(&ns));
                (Some(ns), p)
            })
            .collect()
    }

    fn admin_subject(&mut self, subject: &AdminSubject) -> Vec<GroupId> {
        match (&subject.namespaces, &subject.pods) {
            (Some(ns), _) => vec![self.select(None, Some(ns), None, true)],
            (None, Some(pods)) => vec![self.namespaced_pods(pods, true)],
            (None, None) => Vec::new(),
        }
    }

    fn namespaced_pods(&mut self, p: &NamespacedPods, subjects: bool) -> GroupId {
        self.select(
            Some(&p.pod_selector),
            Some(&p.namespace_selector),
            None,
            subjects,
        )
    }

    fn admin_peers(&mut self, peers: &[AdminPeer]) -> InternalPeers {
        let mut m = Members::default();
        for peer in peers {
            // `namespaces` and `pods` peers never select host-network pods (network-policy-api
            // v1alpha1 `AdminNetworkPolicyPeer`); only `nodes` selects node IPs.
            if let Some(ns) = &peer.namespaces {
                m.groups.push(self.select(None, Some(ns), None, true));
            } else if let Some(pods) = &peer.pods {
                m.groups.push(self.namespaced_pods(pods, true));
            } else if let Some(nodes) = &peer.nodes {
                m.nodes.push(nodes.clone());
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
        into_peers(m)
    }

    /// One rule of an upstream (network-policy-api) policy `u`.
    #[allow(clippy::too_many_arguments)]
    fn upstream_rule(
        &mut self,
        u: &Upstream<'_>,
        direction: Direction,
        index: usize,
        name: Option<&String>,
        action: RuleAction,
        peers: &[AdminPeer],
        services: Option<Vec<Service>>,
    ) {
        let peers = self.admin_peers(peers);
        self.out.rules.push(InternalRule {
            id: RuleRef {
                kind: u.kind.to_string(),
                policy: u.name.to_string(),
                tier: u.tier.to_string(),
                rule: name
                    .cloned()
                    .unwrap_or_else(|| generated_rule_name(direction, index)),
            },
            stage: u.stage,
            policy_priority: u.priority,
            rule_index: index,
            direction,
            action,
            applied_to: u.applied_to.clone(),
            namespace_part: None,
            peers,
            services,
            enable_logging: false,
            log_label: None,
            staged: false,
        });
    }

    /// An AdminNetworkPolicy or BaselineAdminNetworkPolicy.
    pub fn admin(mut self, p: &AdminPolicy) -> InternalPolicy {
        let (stage, tier, priority) = match p.kind {
            AdminKind::Admin => (
                Stage::Tier(ADMIN_TIER_PRIORITY),
                ADMIN_TIER,
                p.spec.priority.unwrap_or_default() as f64,
            ),
            AdminKind::Baseline => (Stage::AdminBaseline, ADMIN_BASELINE_TIER, 0.0),
        };
        let u = Upstream {
            kind: p.kind_name(),
            name: &p.metadata.name,
            stage,
            tier,
            priority,
            applied_to: self.admin_subject(&p.spec.subject),
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
                let services = rule.ports.as_deref().map(admin_services);
                self.upstream_rule(
                    &u,
                    direction,
                    index,
                    rule.name.as_ref(),
                    rule.action,
                    peers,
                    services,
                );
            }
        }
        self.out
    }

    /// A v1alpha2 ClusterNetworkPolicy: the Admin tier sorts with AdminNetworkPolicies by
    /// priority, the Baseline tier with the BaselineAdminNetworkPolicy.
    pub fn v1alpha2(mut self, p: &NetworkPolicyV1Alpha2) -> InternalPolicy {
        let (stage, tier) = match p.spec.tier {
            CnpTier::Admin => (Stage::Tier(ADMIN_TIER_PRIORITY), ADMIN_TIER),
            CnpTier::Baseline => (Stage::AdminBaseline, ADMIN_BASELINE_TIER),
        };
        let u = Upstream {
            kind: NetworkPolicyV1Alpha2::KIND,
            name: &p.metadata.name,
            stage,
            tier,
            priority: p.spec.priority as f64,
            applied_to: self.admin_subject(&p.spec.subject),
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
                let services = rule.protocols.as_deref().map(v1alpha2_services);
                self.upstream_rule(
                    &u,
                    direction,
                    index,
                    rule.name.as_ref(),
                    rule.action,
                    peers,
                    services,
                );
            }
        }
        self.out
    }

    fn k8s_peers(&mut self, peers: &[K8sPeer], ns: &str) -> InternalPeers {
        if peers.is_empty() {
            return InternalPeers::Any;
        }
        let mut m = Members::default();
        for peer in peers {
            if let Some(b) = &peer.ip_block {
                m.ip_blocks.push(ip_block(b));
            } else {
                m.groups.push(self.select(
                    peer.pod_selector.as_ref(),
                    peer.namespace_selector.as_ref(),
                    Some(ns),
                    false,
                ));
            }
        }
        into_peers(m)
    }

    /// A Kubernetes NetworkPolicy; `logging` when its namespace turns on the audit log.
    pub fn k8s(mut self, p: &K8sNetworkPolicy, logging: bool) -> InternalPolicy {
        let ns = p.namespace().to_string();
        let selected = self.select(Some(&p.spec.pod_selector), None, Some(&ns), true);
        let (ingress, egress) = p.spec.effective_policy_types();
        for (direction, isolated, rules) in [
            (Direction::Ingress, ingress, &p.spec.ingress),
            (Direction::Egress, egress, &p.spec.egress),
        ] {
            if !isolated {
                continue;
            }
            match direction {
                Direction::Ingress => self.out.isolates_ingress.push(selected),
                Direction::Egress => self.out.isolates_egress.push(selected),
            }
            for (index, rule) in rules.iter().enumerate() {
                let peers = match direction {
                    Direction::Ingress => &rule.from,
                    Direction::Egress => &rule.to,
                };
                let peers = self.k8s_peers(peers, &ns);
                self.out.rules.push(InternalRule {
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
                    applied_to: vec![selected],
                    namespace_part: None,
                    peers,
                    services: services(&rule.ports, &[]),
                    enable_logging: logging,
                    log_label: None,
                    staged: false,
                });
            }
        }
        self.out
    }

    /// The stage of an Antrea policy in tier `tier`.
    pub fn antrea_stage(&self, tier: &str) -> Stage {
        let priority = self.ctx.tiers.get(tier).copied().unwrap_or_default();
        if priority == self.ctx.baseline_priority {
            Stage::Baseline
        } else {
            Stage::Tier(priority)
        }
    }
}

fn dedup(mut v: Vec<GroupId>) -> Vec<GroupId> {
    let mut seen = BTreeSet::new();
    v.retain(|g| seen.insert(*g));
    v
}

fn into_peers(m: Members) -> InternalPeers {
    InternalPeers::Set {
        groups: dedup(m.groups),
        ip_blocks: m.ip_blocks,
        nodes: m.nodes,
    }
}
