//! Validation lints: problems that do not stop a policy set from being enforced but are almost
//! certainly mistakes. [`super::resolve`] runs them and returns them in
//! [`ResolvedPolicies::warnings`]; `kakinectl compile` and the agent print them.
//!
//! - a rule name used twice in one policy;
//! - a conflict: two rules of different policies at the same effective priority (stage, policy
//!   priority, rule index) with different actions whose traffic overlaps (precedence between them
//!   is then only kakine's tie-break: Drop and Reject before Allow, then by policy name);
//! - a shadowed rule: every packet it matches is matched by an earlier rule (applied-to pods,
//!   peers and services all contained), so it never decides.
//!
//! The containment and overlap tests are conservative: a lint is only reported when it holds.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::Ipv4Addr;

use ipnet::IpNet;

use super::error::Location;
use super::model::PolicySet;
use super::model_v1alpha2::NetworkPolicyV1Alpha2;
use super::resolved::{
    Direction, IpBlock, Peers, PodKey, PortMatch, ResolvedPolicies, ResolvedRule, RuleAction,
    Service, Stage,
};

/// A lint finding: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The policy (file, object) and the rule (`spec.ingress[0]` or the rule name).
    pub at: Location,
    /// What is suspicious.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// Every lint finding of `objects` as resolved into `resolved`.
pub fn lint(objects: &PolicySet, resolved: &ResolvedPolicies) -> Vec<Warning> {
    let files = origins(objects);
    let at = |r: &ResolvedRule| Location {
        file: files
            .get(&(r.id.kind.clone(), r.id.policy.clone()))
            .cloned()
            .unwrap_or_default(),
        object: Some(format!("{} \"{}\"", r.id.kind, r.id.policy)),
        field: format!("rule \"{}\"", r.id.rule),
    };
    let mut out = duplicate_names(objects);
    let ips: BTreeMap<&PodKey, Ipv4Addr> = resolved.pods.iter().map(|p| (&p.key, p.ip)).collect();
    let rules = &resolved.rules;
    // (later, earlier, warning), sorted so that the findings read in precedence order.
    let mut found: Vec<(usize, usize, Warning)> = Vec::new();
    // A staged rule decides nothing: it neither conflicts nor hides (it can be hidden).
    let conflict = |earlier: &ResolvedRule, later: &ResolvedRule| {
        !earlier.staged
            && !later.staged
            && earlier.id != later.id
            && earlier.direction == later.direction
            && same_effective_priority(earlier, later)
            && earlier.id.policy != later.id.policy
            && earlier.action != later.action
            && overlaps(earlier, later)
    };

    // Conflicts: only rules at the same effective priority can conflict, so only pairs inside
    // one (stage, priority, rule index, direction) bucket are compared.
    let mut buckets: HashMap<(u8, u32, u64, usize, Direction), Vec<usize>> = HashMap::new();
    for (i, r) in rules.iter().enumerate() {
        if r.stage == Stage::K8s {
            continue;
        }
        let (class, tier) = r.stage.precedence_key();
        buckets
            .entry((
                class,
                tier,
                r.policy_priority.to_bits(),
                r.rule_index,
                r.direction,
            ))
            .or_default()
            .push(i);
    }
    for members in buckets.values() {
        for (x, &j) in members.iter().enumerate() {
            let later = &rules[j];
            if later.applied_to.is_empty() {
                continue;
            }
            for &i in &members[..x] {
                let earlier = &rules[i];
                if conflict(earlier, later) {
                    found.push((
                        j,
                        i,
                        Warning {
                            at: at(later),
                            message: format!(
                                "conflicts with {} {} at the same priority ({:?} here, {:?} there); \
                                 kakine breaks the tie Drop and Reject first, then by policy name",
                                earlier.id.kind, earlier.id, later.action, earlier.action
                            ),
                        },
                    ));
                }
            }
        }
    }

    // Shadowing: an earlier rule hides a later one only if its applied-to pods include the later
    // rule's, so only rules whose applied-to set holds the later rule's first pod are candidates:
    // an index from pod to the distinct applied-to sets holding it (sets are shared between
    // rules, so this costs the distinct sets' sizes, not rules x pods).
    let mut set_of: HashMap<*const BTreeSet<PodKey>, usize> = HashMap::new();
    let mut set_rules: Vec<Vec<usize>> = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let id = *set_of
            .entry(std::sync::Arc::as_ptr(&r.applied_to))
            .or_insert_with(|| {
                set_rules.push(Vec::new());
                set_rules.len() - 1
            });
        set_rules[id].push(i);
    }
    let mut by_pod: HashMap<&PodKey, Vec<usize>> = HashMap::new();
    for (id, members) in set_rules.iter().enumerate() {
        for k in rules[members[0]].applied_to.iter() {
            by_pod.entry(k).or_default().push(id);
        }
    }
    for (j, later) in rules.iter().enumerate() {
        let Some(first) = later.applied_to.iter().next() else {
            continue;
        };
        let mut candidates: Vec<usize> = Vec::new();
        for &set in by_pod.get(first).map(Vec::as_slice).unwrap_or_default() {
            for &i in set_rules[set].iter().take_while(|&&i| i < j) {
                let earlier = &rules[i];
                if earlier.id != later.id
                    && earlier.direction == later.direction
                    && can_shadow(earlier, later)
                {
                    candidates.push(i);
                }
            }
        }
        candidates.sort_unstable();
        // The first (highest-precedence) rule that hides it is the one worth naming; a pair that
        // conflicts is reported as a conflict instead.
        if let Some(&i) = candidates
            .iter()
            .find(|&&i| !conflict(&rules[i], later) && contains(&rules[i], later, &ips))
        {
            let earlier = &rules[i];
            found.push((
                j,
                i,
                Warning {
                    at: at(later),
                    message: format!(
                        "shadowed by the earlier rule {} {}: it never decides",
                        earlier.id.kind, earlier.id
                    ),
                },
            ));
        }
    }
    found.sort_by_key(|(j, i, _)| (*j, *i));
    out.extend(found.into_iter().map(|(_, _, w)| w));
    out
}

/// The file of each policy, by (kind, name as in [`super::resolved::RuleRef::policy`]).
fn origins(objects: &PolicySet) -> BTreeMap<(String, String), std::path::PathBuf> {
    let mut m = BTreeMap::new();
    for p in &objects.k8s_policies {
        m.insert(
            ("NetworkPolicy".to_string(), p.full_name()),
            p.origin.file.clone(),
        );
    }
    for p in &objects.antrea_policies {
        m.insert(
            (p.kind_name().to_string(), p.full_name()),
            p.origin.file.clone(),
        );
    }
    for p in &objects.admin_policies {
        let key = (p.kind_name().to_string(), p.metadata.name.clone());
        m.insert(key, p.origin.file.clone());
    }
    for p in &objects.network_policies_v1alpha2 {
        let key = (
            NetworkPolicyV1Alpha2::KIND.to_string(),
            p.metadata.name.clone(),
        );
        m.insert(key, p.origin.file.clone());
    }
    m
}

fn duplicate_names(objects: &PolicySet) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut check = |at: Location, names: Vec<(String, Option<&String>)>| {
        let mut seen = BTreeSet::new();
        for (field, name) in names {
            if let Some(name) = name {
                if !seen.insert(name.clone()) {
                    out.push(Warning {
                        at: at.at(format!("{field}.name")),
                        message: format!("duplicate rule name \"{name}\" in this policy"),
                    });
                }
            }
        }
    };
    for p in &objects.antrea_policies {
        let at = super::validate::object_at(&p.origin, p.kind_name(), &p.full_name(), "");
        let names = rule_names(&p.spec.ingress, &p.spec.egress, |r| r.name.as_ref());
        check(at, names);
    }
    for p in &objects.admin_policies {
        let at = super::validate::object_at(&p.origin, p.kind_name(), &p.metadata.name, "");
        let names = rule_names(&p.spec.ingress, &p.spec.egress, |r| r.name.as_ref());
        check(at, names);
    }
    for p in &objects.network_policies_v1alpha2 {
        let kind = NetworkPolicyV1Alpha2::KIND;
        let at = super::validate::object_at(&p.origin, kind, &p.metadata.name, "");
        let names = rule_names(&p.spec.ingress, &p.spec.egress, |r| r.name.as_ref());
        check(at, names);
    }
    out
}

fn rule_names<'a, R>(
    ingress: &'a [R],
    egress: &'a [R],
    name: impl Fn(&'a R) -> Option<&'a String>,
) -> Vec<(String, Option<&'a String>)> {
    let ing = ingress
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("spec.ingress[{i}]"), name(r)));
    let eg = egress
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("spec.egress[{i}]"), name(r)));
    ing.chain(eg).collect()
}

fn same_effective_priority(a: &ResolvedRule, b: &ResolvedRule) -> bool {
    a.stage != Stage::K8s
        && a.stage == b.stage
        && a.policy_priority == b.policy_priority
        && a.rule_index == b.rule_index
}

/// Whether `earlier` matching first can hide `later`: K8s allows are a union, not an order; a
/// Pass hides only the tiered rules after it.
fn can_shadow(earlier: &ResolvedRule, later: &ResolvedRule) -> bool {
    if earlier.staged {
        return false;
    }
    let both_k8s = earlier.stage == Stage::K8s && later.stage == Stage::K8s;
    let pass_hides = earlier.action != RuleAction::Pass
        || matches!(later.stage, Stage::Tier(_))
        || (earlier.stage == Stage::AdminBaseline && later.stage == Stage::AdminBaseline);
    !both_k8s && pass_hides
}

fn overlaps(a: &ResolvedRule, b: &ResolvedRule) -> bool {
    a.applied_to.intersection(&b.applied_to).next().is_some()
        && peers_overlap(&a.peers, &b.peers)
        && match (&a.services, &b.services) {
            (None, _) | (_, None) => true,
            (Some(x), Some(y)) => x.iter().any(|s| y.iter().any(|t| service_overlaps(s, t))),
        }
}

fn nets_overlap(a: IpNet, b: IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn peers_overlap(a: &Peers, b: &Peers) -> bool {
    match (a, b) {
        (Peers::Any, _) | (_, Peers::Any) => true,
        (
            Peers::Set {
                pods: pa,
                ip_blocks: ba,
                node_ips: na,
            },
            Peers::Set {
                pods: pb,
                ip_blocks: bb,
                node_ips: nb,
            },
        ) => {
            pa.intersection(pb).next().is_some()
                || na.intersection(nb).next().is_some()
                || ba
                    .iter()
                    .any(|x| bb.iter().any(|y| nets_overlap(x.cidr, y.cidr)))
        }
    }
}

fn service_overlaps(a: &Service, b: &Service) -> bool {
    let sources = match (a.source, b.source) {
        (Some((l1, h1)), Some((l2, h2))) => l1 <= h2 && l2 <= h1,
        _ => true,
    };
    a.protocol == b.protocol
        && sources
        && match (&a.port, &b.port) {
            (PortMatch::Any, _) | (_, PortMatch::Any) => true,
            (PortMatch::Range(l1, h1), PortMatch::Range(l2, h2)) => l1 <= h2 && l2 <= h1,
            (PortMatch::Named(x), PortMatch::Named(y)) => x == y,
            (
                PortMatch::Icmp {
                    icmp_type: t1,
                    icmp_code: c1,
                },
                PortMatch::Icmp {
                    icmp_type: t2,
                    icmp_code: c2,
                },
            ) => compatible(*t1, *t2) && compatible(*c1, *c2),
            // A name may resolve to a number in the range on some pod.
            (PortMatch::Named(_), _) | (_, PortMatch::Named(_)) => true,
            _ => false,
        }
}

fn compatible(a: Option<u8>, b: Option<u8>) -> bool {
    a.is_none() || b.is_none() || a == b
}

/// Whether every packet `inner` matches is matched by `outer`.
fn contains(outer: &ResolvedRule, inner: &ResolvedRule, ips: &BTreeMap<&PodKey, Ipv4Addr>) -> bool {
    inner.applied_to.is_subset(&outer.applied_to)
        && peers_contain(&outer.peers, &inner.peers, ips)
        && match (&outer.services, &inner.services) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(o), Some(i)) => i.iter().all(|s| o.iter().any(|t| service_contains(t, s))),
        }
}

fn block_contains(outer: &IpBlock, inner: &IpBlock) -> bool {
    outer.cidr.contains(&inner.cidr)
        && outer
            .except
            .iter()
            .all(|e| !nets_overlap(*e, inner.cidr) || inner.except.iter().any(|x| x.contains(e)))
}

fn peers_contain(outer: &Peers, inner: &Peers, ips: &BTreeMap<&PodKey, Ipv4Addr>) -> bool {
    match (outer, inner) {
        (Peers::Any, _) => true,
        (Peers::Set { .. }, Peers::Any) => false,
        (
            Peers::Set {
                pods: po,
                ip_blocks: bo,
                node_ips: no,
            },
            Peers::Set {
                pods: pi,
                ip_blocks: bi,
                node_ips: ni,
            },
        ) => {
            let covered = |ip: Ipv4Addr| bo.iter().any(|b| b.contains(ip));
            pi.iter()
                .all(|k| po.contains(k) || ips.get(k).is_some_and(|ip| covered(*ip)))
                && ni.iter().all(|ip| no.contains(ip) || covered(*ip))
                && bi.iter().all(|b| bo.iter().any(|o| block_contains(o, b)))
        }
    }
}

fn service_contains(outer: &Service, inner: &Service) -> bool {
    let sources = match (outer.source, inner.source) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some((lo, hi)), Some((l, h))) => lo <= l && h <= hi,
    };
    outer.protocol == inner.protocol
        && sources
        && match (&outer.port, &inner.port) {
            (PortMatch::Any, _) => true,
            (PortMatch::Range(lo, hi), PortMatch::Range(l, h)) => lo <= l && h <= hi,
            (PortMatch::Named(x), PortMatch::Named(y)) => x == y,
            (
                PortMatch::Icmp {
                    icmp_type: t1,
                    icmp_code: c1,
                },
                PortMatch::Icmp {
                    icmp_type: t2,
                    icmp_code: c2,
                },
            ) => (t1.is_none() || t1 == t2) && (c1.is_none() || c1 == c2),
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::model::{AntreaPeer, AntreaPolicy, AntreaRule};
    use crate::policy::resolved::Protocol;
    use crate::policy::selector::LabelSelector;
    use crate::policy::{resolve, Cluster};

    fn cluster() -> Cluster {
        Cluster::default()
            .namespace("x", &[])
            .pod("x/a", &[("pod", "a")], "10.0.0.1")
            .pod("x/b", &[("pod", "b")], "10.0.0.2")
    }

    fn a() -> LabelSelector {
        LabelSelector::labels([("pod", "a")])
    }

    #[test]
    fn a_staged_rule_hides_nothing_but_can_be_hidden() {
        let set = |staged_first: bool| {
            let (all, web) = (
                AntreaRule::new(RuleAction::Drop).named("all"),
                AntreaRule::new(RuleAction::Allow)
                    .named("web")
                    .from(AntreaPeer::pods(a()))
                    .port(Protocol::Tcp, 80),
            );
            let (all, web) = if staged_first {
                (all.audit(), web)
            } else {
                (all, web.audit())
            };
            PolicySet::default().with(
                AntreaPolicy::test("p")
                    .applied_to(LabelSelector::default(), None)
                    .ingress(all)
                    .ingress(web),
            )
        };
        assert_eq!(resolve(&cluster(), &set(true)).unwrap().warnings, vec![]);
        let w = resolve(&cluster(), &set(false)).unwrap().warnings;
        assert_eq!(w.len(), 1, "{w:?}");
    }

    #[test]
    fn a_rule_inside_an_earlier_one_is_reported_as_shadowed() {
        let set = PolicySet::default().with(
            AntreaPolicy::test("p")
                .applied_to(LabelSelector::default(), None)
                .ingress(AntreaRule::new(RuleAction::Drop).named("all"))
                .ingress(
                    AntreaRule::new(RuleAction::Allow)
                        .named("web")
                        .from(AntreaPeer::pods(a()))
                        .port(Protocol::Tcp, 80),
                ),
        );
        let w = resolve(&cluster(), &set).unwrap().warnings;
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].message.contains("shadowed by the earlier rule"),
            "{w:?}"
        );
        assert!(w[0].to_string().contains("rule \"web\""), "{}", w[0]);
    }

    #[test]
    fn duplicate_rule_names_and_same_priority_conflicts_are_reported() {
        let set = PolicySet::default()
            .with(
                AntreaPolicy::test("p1")
                    .applied_to(a(), None)
                    .ingress(
                        AntreaRule::new(RuleAction::Allow)
                            .named("r")
                            .port(Protocol::Tcp, 80),
                    )
                    .ingress(
                        AntreaRule::new(RuleAction::Allow)
                            .named("r")
                            .port(Protocol::Udp, 53),
                    ),
            )
            .with(
                AntreaPolicy::test("p2")
                    .applied_to(a(), None)
                    .ingress(AntreaRule::new(RuleAction::Drop).port(Protocol::Tcp, 80)),
            );
        let w: Vec<String> = resolve(&cluster(), &set)
            .unwrap()
            .warnings
            .iter()
            .map(|w| w.to_string())
            .collect();
        assert!(
            w.iter()
                .any(|w| w.contains("spec.ingress[1].name: duplicate rule name \"r\"")),
            "{w:?}"
        );
        assert!(w.iter().any(|w| w.contains("conflicts with")), "{w:?}");
    }

    /// The lint as first written: every pair of rules compared. The oracle of the indexed one.
    fn pairwise(resolved: &ResolvedPolicies) -> Vec<String> {
        let ips: BTreeMap<&PodKey, Ipv4Addr> =
            resolved.pods.iter().map(|p| (&p.key, p.ip)).collect();
        let rules = &resolved.rules;
        let mut out = Vec::new();
        for (j, later) in rules.iter().enumerate() {
            if later.applied_to.is_empty() {
                continue;
            }
            let mut shadowed = false;
            for earlier in &rules[..j] {
                if earlier.id == later.id || earlier.direction != later.direction {
                    continue;
                }
                if same_effective_priority(earlier, later)
                    && earlier.id.policy != later.id.policy
                    && earlier.action != later.action
                    && overlaps(earlier, later)
                {
                    out.push(format!("{} conflicts with {}", later.id, earlier.id));
                } else if !shadowed && can_shadow(earlier, later) && contains(earlier, later, &ips)
                {
                    shadowed = true;
                    out.push(format!("{} shadowed by {}", later.id, earlier.id));
                }
            }
        }
        out
    }

    fn rule_strategy() -> impl proptest::strategy::Strategy<Value = ResolvedRule> {
        use crate::policy::resolved::{RuleRef, Service};
        use proptest::prelude::*;
        (
            0..4usize,
            0..3usize,
            0..2usize,
            0..2usize,
            0..4usize,
            prop::collection::btree_set(0..4usize, 0..4),
            prop::option::of(prop::collection::btree_set(0..4usize, 0..4)),
            prop::option::of(80u16..83),
        )
            .prop_map(
                |(policy, stage, prio, index, action, applied, peers, port)| {
                    let key = |i: usize| PodKey {
                        namespace: "x".into(),
                        name: format!("p{i}"),
                    };
                    ResolvedRule {
                        id: RuleRef {
                            kind: "ClusterNetworkPolicy".into(),
                            policy: format!("pol{policy}"),
                            tier: "t".into(),
                            rule: format!("r{index}"),
                        },
                        stage: [Stage::Tier(100), Stage::K8s, Stage::Baseline][stage],
                        policy_priority: prio as f64,
                        rule_index: index,
                        direction: Direction::Ingress,
                        action: [
                            RuleAction::Allow,
                            RuleAction::Drop,
                            RuleAction::Reject,
                            RuleAction::Pass,
                        ][action],
                        applied_to: std::sync::Arc::new(applied.into_iter().map(key).collect()),
                        peers: match peers {
                            None => Peers::Any,
                            Some(p) => Peers::Set {
                                pods: std::sync::Arc::new(p.into_iter().map(key).collect()),
                                ip_blocks: Vec::new(),
                                node_ips: BTreeSet::new(),
                            },
                        },
                        services: port.map(|p| {
                            vec![Service {
                                protocol: Protocol::Tcp,
                                port: PortMatch::Range(p, p),
                                source: None,
                            }]
                        }),
                        enable_logging: false,
                        log_label: None,
                        staged: false,
                    }
                },
            )
    }

    proptest::proptest! {
        #[test]
        fn the_indexed_lint_finds_what_comparing_every_pair_finds(
            rules in proptest::collection::vec(rule_strategy(), 0..12)
        ) {
            let mut rules = rules;
            // Shared sets, as the grouping derives them: equal sets become one Arc.
            for i in 1..rules.len() {
                if let Some(j) = (0..i).find(|&j| rules[j].applied_to == rules[i].applied_to) {
                    rules[i].applied_to = rules[j].applied_to.clone();
                }
            }
            let resolved = ResolvedPolicies { rules, ..ResolvedPolicies::default() };
            let indexed: Vec<String> = lint(&PolicySet::default(), &resolved)
                .iter()
                .map(|w| w.message.clone())
                .collect();
            let expected = pairwise(&resolved);
            proptest::prop_assert_eq!(indexed.len(), expected.len(), "{:?} vs {:?}", indexed, expected);
            for (w, e) in indexed.iter().zip(&expected) {
                let other = e.split_once(if e.contains(" conflicts with ") { " conflicts with " } else { " shadowed by " }).unwrap().1;
                proptest::prop_assert!(w.contains(other), "{} vs {}", w, e);
            }
        }
    }
}
