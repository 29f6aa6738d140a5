//! Checks across objects that no single document's types can express: tiers exist and have
//! unique priorities, names are unique, groups exist, priorities are in range, no `Pass` in the
//! baseline tier.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::error::{Location, PolicyError};
use super::model::{AntreaKind, AntreaPolicy, AppliedTo, Origin, PolicyPort, PolicySet, PortValue};
use super::resolved::RuleAction;

/// The built-in tiers: (name, priority). Names match case-insensitively.
pub const BUILTIN_TIERS: [(&str, u32); 6] = [
    ("emergency", 50),
    ("securityops", 100),
    ("networkops", 150),
    ("platform", 200),
    ("application", 250),
    ("baseline", 253),
];

/// The tier used when a policy names none.
pub const DEFAULT_TIER: &str = "application";

/// Priority of the baseline tier, evaluated after K8s NetworkPolicy.
pub const BASELINE_TIER_PRIORITY: u32 = 253;

/// Priorities a custom tier may not take (reserved by Antrea).
/// 220 is the AdminNetworkPolicy tier ([`super::resolved::ADMIN_TIER_PRIORITY`]).
const RESERVED_TIER_PRIORITIES: [i64; 5] = [220, 251, 252, 254, 255];

/// Accepted range of a policy's `spec.priority`.
pub const POLICY_PRIORITY_RANGE: std::ops::RangeInclusive<f64> = 1.0..=10000.0;

/// The location of `field` in an object.
pub(crate) fn object_at(origin: &Origin, kind: &str, name: &str, field: &str) -> Location {
    Location {
        file: origin.file.clone(),
        object: Some(format!("{kind} \"{name}\"")),
        field: field.to_string(),
    }
}

/// A [`PolicyError::Invalid`] at `at`.
pub(crate) fn invalid(at: Location, message: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        at,
        message: message.into(),
    }
}

/// Every tier by lower-cased name: built-ins plus the set's Tier objects.
pub fn tier_table(objects: &PolicySet) -> BTreeMap<String, u32> {
    let mut tiers: BTreeMap<String, u32> = BUILTIN_TIERS
        .iter()
        .map(|(n, p)| (n.to_string(), *p))
        .collect();
    for t in &objects.tiers {
        if let Ok(p) = u32::try_from(t.spec.priority) {
            tiers.insert(t.metadata.name.to_lowercase(), p);
        }
    }
    tiers
}

/// The tier name a policy is in, lower-cased (default `application`).
pub fn tier_name(p: &AntreaPolicy) -> String {
    p.spec
        .tier
        .as_deref()
        .filter(|t| !t.is_empty())
        .unwrap_or(DEFAULT_TIER)
        .to_lowercase()
}

/// Validates a policy set; the first problem of [`problems`] is returned.
pub fn validate(objects: &PolicySet) -> Result<(), PolicyError> {
    match problems(objects).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Every problem of a policy set, as the API server would list them for `kubectl apply` of
/// the whole input: per object in input order, the checks of the Antrea and network-policy-api
/// validators ([`super::validate_admin`], [`super::validate_v1alpha2`]) and those across
/// objects ([`super::validate_input::set_problems`]).
pub fn problems(objects: &PolicySet) -> Vec<PolicyError> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<(String, String), PathBuf> = BTreeMap::new();
    let mut check_unique = |kind: &str, name: String, origin: &Origin, out: &mut Vec<_>| {
        let at = object_at(origin, kind, &name, "metadata.name");
        match seen.get(&(kind.to_string(), name.clone())) {
            Some(first) => out.push(PolicyError::Duplicate {
                at,
                first: first.clone(),
            }),
            None => {
                seen.insert((kind.to_string(), name), origin.file.clone());
            }
        }
    };
    for t in &objects.tiers {
        check_unique("Tier", t.metadata.name.clone(), &t.origin, &mut out);
    }
    for g in &objects.cluster_groups {
        check_unique("ClusterGroup", g.metadata.name.clone(), &g.origin, &mut out);
    }
    for p in &objects.antrea_policies {
        check_unique(p.kind_name(), p.full_name(), &p.origin, &mut out);
    }
    for p in &objects.k8s_policies {
        check_unique("NetworkPolicy (K8s)", p.full_name(), &p.origin, &mut out);
    }
    for g in &objects.groups {
        match &g.metadata.namespace {
            Some(ns) => check_unique(
                "Group",
                format!("{ns}/{}", g.metadata.name),
                &g.origin,
                &mut out,
            ),
            None => out.push(PolicyError::Invalid {
                at: object_at(&g.origin, "Group", &g.metadata.name, "metadata.namespace"),
                message: "a Group needs a namespace".to_string(),
            }),
        }
    }
    for p in &objects.admin_policies {
        check_unique(p.kind_name(), p.metadata.name.clone(), &p.origin, &mut out);
    }
    for p in &objects.network_policies_v1alpha2 {
        check_unique(
            "ClusterNetworkPolicy (v1alpha2)",
            p.metadata.name.clone(),
            &p.origin,
            &mut out,
        );
    }
    out.extend(super::validate_input::set_problems(objects));
    validate_groups(objects, &mut out);
    out.extend(super::validate_admin::validate_admin(objects));
    out.extend(super::validate_v1alpha2::validate_v1alpha2(objects));

    let mut tier_priorities: BTreeMap<i64, String> = BUILTIN_TIERS
        .iter()
        .map(|(n, p)| (i64::from(*p), n.to_string()))
        .collect();
    for t in &objects.tiers {
        let at = object_at(&t.origin, "Tier", &t.metadata.name, "spec.priority");
        let p = t.spec.priority;
        if !(0..=255).contains(&p) {
            out.push(PolicyError::PriorityOutOfRange {
                at,
                value: p as f64,
                range: "0 to 255",
            });
            continue;
        }
        if RESERVED_TIER_PRIORITIES.contains(&p) {
            out.push(PolicyError::Invalid {
                at: at.clone(),
                message: format!("tier priority {p} is reserved"),
            });
        }
        if BUILTIN_TIERS
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(&t.metadata.name))
        {
            out.push(PolicyError::Invalid {
                at: at.at("metadata.name"),
                message: format!("\"{}\" is a built-in tier", t.metadata.name),
            });
        }
        if let Some(other) = tier_priorities.get(&p) {
            out.push(PolicyError::Invalid {
                at,
                message: format!("tier priority {p} is already used by tier \"{other}\""),
            });
        } else {
            tier_priorities.insert(p, t.metadata.name.clone());
        }
    }

    let tiers = tier_table(objects);
    let groups: Vec<&str> = objects
        .cluster_groups
        .iter()
        .map(|g| g.metadata.name.as_str())
        .collect();
    for p in &objects.antrea_policies {
        let at = object_at(&p.origin, p.kind_name(), &p.full_name(), "");
        if p.kind == AntreaKind::Namespaced && p.metadata.namespace.is_none() {
            out.push(PolicyError::Invalid {
                at: at.at("metadata.namespace"),
                message: "an Antrea NetworkPolicy needs a namespace".to_string(),
            });
        }
        if !POLICY_PRIORITY_RANGE.contains(&p.spec.priority) {
            out.push(PolicyError::PriorityOutOfRange {
                at: at.at("spec.priority"),
                value: p.spec.priority,
                range: "1 to 10000",
            });
        }
        let tier = tier_name(p);
        let tier_priority = tiers.get(&tier).copied();
        // An upper-case tier name is reported by `set_problems` already.
        if tier_priority.is_none() && tier == p.spec.tier.as_deref().unwrap_or(DEFAULT_TIER) {
            out.push(PolicyError::UnknownTier {
                at: at.at("spec.tier"),
                tier: p.spec.tier.clone().unwrap_or_default(),
            });
        }
        let scope = match p.kind {
            AntreaKind::Cluster => None,
            AntreaKind::Namespaced => p.metadata.namespace.as_deref(),
        };
        let group_exists = |g: &str| match scope {
            None => groups.contains(&g),
            Some(ns) => objects
                .groups
                .iter()
                .any(|x| x.metadata.name == g && x.metadata.namespace.as_deref() == Some(ns)),
        };
        let group_kind = if scope.is_some() {
            "Group"
        } else {
            "ClusterGroup"
        };
        let check_groups = |applied: &[AppliedTo], field: &str, out: &mut Vec<PolicyError>| {
            for (i, a) in applied.iter().enumerate() {
                if let Some(g) = &a.group {
                    if !group_exists(g) {
                        out.push(PolicyError::UnknownGroup {
                            at: at.at(format!("{field}[{i}].group")),
                            kind: group_kind,
                            group: g.clone(),
                        });
                    }
                }
                out.extend(
                    check_one_of(
                        &at.at(format!("{field}[{i}]")),
                        &[
                            ("group", a.group.is_some()),
                            ("serviceAccount", a.service_account.is_some()),
                            (
                                "podSelector/namespaceSelector",
                                a.pod_selector.is_some() || a.namespace_selector.is_some(),
                            ),
                        ],
                        true,
                    )
                    .err(),
                );
            }
        };
        check_groups(&p.spec.applied_to, "spec.appliedTo", &mut out);
        for (dir, rules) in [("ingress", &p.spec.ingress), ("egress", &p.spec.egress)] {
            for (i, r) in rules.iter().enumerate() {
                let field = format!("spec.{dir}[{i}]");
                if r.action == RuleAction::Pass && tier_priority == Some(BASELINE_TIER_PRIORITY) {
                    out.push(PolicyError::PassInBaseline {
                        at: at.at(format!("{field}.action")),
                    });
                }
                if p.spec.applied_to.is_empty() && r.applied_to.is_empty() {
                    out.push(PolicyError::Invalid {
                        at: at.at(format!("{field}.appliedTo")),
                        message: "appliedTo is required in the spec or in every rule".to_string(),
                    });
                }
                if !p.spec.applied_to.is_empty() && !r.applied_to.is_empty() {
                    out.push(PolicyError::Invalid {
                        at: at.at(format!("{field}.appliedTo")),
                        message: "appliedTo cannot be set both in the spec and in a rule"
                            .to_string(),
                    });
                }
                check_groups(&r.applied_to, &format!("{field}.appliedTo"), &mut out);
                let (peers, peer_field) = match dir {
                    "ingress" => (&r.from, "from"),
                    _ => (&r.to, "to"),
                };
                let wrong = if dir == "ingress" { &r.to } else { &r.from };
                if !wrong.is_empty() {
                    out.push(PolicyError::Invalid {
                        at: at.at(field.clone()),
                        message: format!("an {dir} rule takes `{peer_field}` peers"),
                    });
                }
                for (j, peer) in peers.iter().enumerate() {
                    let pat = at.at(format!("{field}.{peer_field}[{j}]"));
                    if let Some(g) = &peer.group {
                        if !group_exists(g) {
                            out.push(PolicyError::UnknownGroup {
                                at: pat.at(format!("{}.group", pat.field)),
                                kind: group_kind,
                                group: g.clone(),
                            });
                        }
                    }
                    out.extend(
                        check_one_of(
                            &pat,
                            &[
                                ("ipBlock", peer.ip_block.is_some()),
                                ("group", peer.group.is_some()),
                                ("serviceAccount", peer.service_account.is_some()),
                                ("nodeSelector", peer.node_selector.is_some()),
                                (
                                    "podSelector/namespaceSelector/namespaces",
                                    peer.pod_selector.is_some()
                                        || peer.namespace_selector.is_some()
                                        || peer.namespaces.is_some(),
                                ),
                            ],
                            true,
                        )
                        .err(),
                    );
                    if let Some(n) = &peer.namespaces {
                        let nat = pat.at(format!("{}.namespaces", pat.field));
                        let invalid = |message: &str| PolicyError::Invalid {
                            at: nat.clone(),
                            message: message.to_string(),
                        };
                        if p.kind == AntreaKind::Namespaced {
                            out.push(invalid(
                                "namespaces peers are for ClusterNetworkPolicy only",
                            ));
                        }
                        if peer.namespace_selector.is_some() {
                            out.push(invalid(
                                "namespaces cannot be combined with namespaceSelector",
                            ));
                        }
                        if n.match_.is_some() != n.same_labels.is_empty() {
                            out.push(invalid(
                                "exactly one of match: Self and a non-empty sameLabels",
                            ));
                        }
                    }
                }
                check_ports(&at, &field, &r.ports, &mut out);
                for (j, proto) in r.protocols.iter().enumerate() {
                    let pat = at.at(format!("{field}.protocols[{j}]"));
                    match &proto.icmp {
                        None => out.push(PolicyError::Invalid {
                            at: pat,
                            message: "expected `icmp` (the only protocol implemented)".to_string(),
                        }),
                        Some(i) if i.icmp_code.is_some() && i.icmp_type.is_none() => {
                            out.push(PolicyError::Invalid {
                                at: pat.at(format!("{}.icmp.icmpCode", pat.field)),
                                message: "icmpCode needs icmpType".to_string(),
                            })
                        }
                        Some(_) => {}
                    }
                }
            }
        }
    }
    out
}

/// Port ranges and source port ranges of a rule are well formed.
fn check_ports(at: &Location, field: &str, ports: &[PolicyPort], out: &mut Vec<PolicyError>) {
    for (j, port) in ports.iter().enumerate() {
        let pat = at.at(format!("{field}.ports[{j}]"));
        if let (Some(end), Some(PortValue::Number(start))) = (port.end_port, &port.port) {
            if end < *start {
                out.push(PolicyError::Invalid {
                    at: pat.at(format!("{}.endPort", pat.field)),
                    message: format!("endPort {end} is below port {start}"),
                });
            }
        }
        match (port.source_port, port.source_end_port) {
            (None, Some(_)) => {
                out.push(PolicyError::Invalid {
                    at: pat.at(format!("{}.sourceEndPort", pat.field)),
                    message: "sourceEndPort needs sourcePort".to_string(),
                });
            }
            (Some(start), Some(end)) if end < start => {
                out.push(PolicyError::Invalid {
                    at: pat.at(format!("{}.sourceEndPort", pat.field)),
                    message: format!("sourceEndPort {end} is below sourcePort {start}"),
                });
            }
            _ => {}
        }
    }
}

/// Exactly one (or, with `allow_none`, at most one) of the named alternatives is set.
pub(crate) fn check_one_of(
    at: &Location,
    alternatives: &[(&str, bool)],
    allow_none: bool,
) -> Result<(), PolicyError> {
    let set: Vec<&str> = alternatives
        .iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| *n)
        .collect();
    if set.len() > 1 || (set.is_empty() && !allow_none) {
        let names: Vec<&str> = alternatives.iter().map(|(n, _)| *n).collect();
        return Err(PolicyError::Invalid {
            at: at.clone(),
            message: format!(
                "expected exactly one of {}, found {}",
                names.join(", "),
                if set.is_empty() {
                    "none".to_string()
                } else {
                    set.join(" and ")
                }
            ),
        });
    }
    Ok(())
}

/// ClusterGroup and Group `childGroups`: they exist, are not the group itself, and have no
/// children of their own (one level, as in Antrea).
fn validate_groups(objects: &PolicySet, out: &mut Vec<PolicyError>) {
    let all = objects
        .cluster_groups
        .iter()
        .map(|g| ("ClusterGroup", g, &objects.cluster_groups))
        .chain(objects.groups.iter().map(|g| ("Group", g, &objects.groups)));
    for (kind, g, family) in all {
        let name = match &g.metadata.namespace {
            Some(ns) if kind == "Group" => format!("{ns}/{}", g.metadata.name),
            _ => g.metadata.name.clone(),
        };
        for (i, child) in g.spec.child_groups.iter().enumerate() {
            let at = object_at(&g.origin, kind, &name, &format!("spec.childGroups[{i}]"));
            let found = family.iter().find(|c| {
                c.metadata.name == *child && c.metadata.namespace == g.metadata.namespace
            });
            let Some(c) = found else {
                out.push(PolicyError::UnknownGroup {
                    at,
                    kind,
                    group: child.clone(),
                });
                continue;
            };
            if c.metadata.name == g.metadata.name || !c.spec.child_groups.is_empty() {
                out.push(PolicyError::Invalid {
                    at,
                    message: format!(
                        "child group \"{child}\" has child groups itself (one level only)"
                    ),
                });
            }
        }
        let s = &g.spec;
        let selectors = s.pod_selector.is_some() || s.namespace_selector.is_some();
        if !s.child_groups.is_empty() && (selectors || !s.ip_blocks.is_empty()) {
            out.push(PolicyError::Invalid {
                at: object_at(&g.origin, kind, &name, "spec.childGroups"),
                message: "childGroups cannot be combined with selectors or ipBlocks".to_string(),
            });
        }
    }
}
