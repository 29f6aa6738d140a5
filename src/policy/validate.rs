//! Checks across objects that no single document's types can express: tiers exist and have
//! unique priorities, names are unique, groups exist, priorities are in range, no `Pass` in the
//! baseline tier.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::error::{Location, PolicyError};
use super::model::{AntreaKind, AntreaPolicy, AppliedTo, Origin, PolicySet};
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
const RESERVED_TIER_PRIORITIES: [i64; 4] = [251, 252, 254, 255];

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

/// Validates a policy set; the first problem found is returned.
pub fn validate(objects: &PolicySet) -> Result<(), PolicyError> {
    let mut seen: BTreeMap<(String, String), PathBuf> = BTreeMap::new();
    let mut check_unique = |kind: &str, name: String, origin: &Origin| {
        let at = object_at(origin, kind, &name, "metadata.name");
        match seen.get(&(kind.to_string(), name.clone())) {
            Some(first) => Err(PolicyError::Duplicate {
                at,
                first: first.clone(),
            }),
            None => {
                seen.insert((kind.to_string(), name), origin.file.clone());
                Ok(())
            }
        }
    };
    for t in &objects.tiers {
        check_unique("Tier", t.metadata.name.clone(), &t.origin)?;
    }
    for g in &objects.cluster_groups {
        check_unique("ClusterGroup", g.metadata.name.clone(), &g.origin)?;
    }
    for p in &objects.antrea_policies {
        check_unique(p.kind_name(), p.full_name(), &p.origin)?;
    }
    for p in &objects.k8s_policies {
        check_unique("NetworkPolicy (K8s)", p.full_name(), &p.origin)?;
    }

    let mut tier_priorities: BTreeMap<i64, String> = BUILTIN_TIERS
        .iter()
        .map(|(n, p)| (i64::from(*p), n.to_string()))
        .collect();
    for t in &objects.tiers {
        let at = object_at(&t.origin, "Tier", &t.metadata.name, "spec.priority");
        let p = t.spec.priority;
        if !(0..=255).contains(&p) {
            return Err(PolicyError::PriorityOutOfRange {
                at,
                value: p as f64,
                range: "0..=255",
            });
        }
        if RESERVED_TIER_PRIORITIES.contains(&p) {
            return Err(PolicyError::Invalid {
                at,
                message: format!("tier priority {p} is reserved"),
            });
        }
        if BUILTIN_TIERS
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(&t.metadata.name))
        {
            return Err(PolicyError::Invalid {
                at: at.at("metadata.name"),
                message: format!("\"{}\" is a built-in tier", t.metadata.name),
            });
        }
        if let Some(other) = tier_priorities.insert(p, t.metadata.name.clone()) {
            return Err(PolicyError::Invalid {
                at,
                message: format!("tier priority {p} is already used by tier \"{other}\""),
            });
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
            return Err(PolicyError::Invalid {
                at: at.at("metadata.namespace"),
                message: "an Antrea NetworkPolicy needs a namespace".to_string(),
            });
        }
        if !POLICY_PRIORITY_RANGE.contains(&p.spec.priority) {
            return Err(PolicyError::PriorityOutOfRange {
                at: at.at("spec.priority"),
                value: p.spec.priority,
                range: "1.0..=10000.0",
            });
        }
        let tier = tier_name(p);
        let Some(&tier_priority) = tiers.get(&tier) else {
            return Err(PolicyError::UnknownTier {
                at: at.at("spec.tier"),
                tier: p.spec.tier.clone().unwrap_or_default(),
            });
        };
        let check_groups = |applied: &[AppliedTo], field: &str| {
            for (i, a) in applied.iter().enumerate() {
                if let Some(g) = &a.group {
                    if !groups.contains(&g.as_str()) {
                        return Err(PolicyError::UnknownGroup {
                            at: at.at(format!("{field}[{i}].group")),
                            group: g.clone(),
                        });
                    }
                }
            }
            Ok(())
        };
        check_groups(&p.spec.applied_to, "spec.appliedTo")?;
        for (dir, rules) in [("ingress", &p.spec.ingress), ("egress", &p.spec.egress)] {
            for (i, r) in rules.iter().enumerate() {
                let field = format!("spec.{dir}[{i}]");
                if r.action == RuleAction::Pass && tier_priority == BASELINE_TIER_PRIORITY {
                    return Err(PolicyError::PassInBaseline {
                        at: at.at(format!("{field}.action")),
                    });
                }
                if p.spec.applied_to.is_empty() && r.applied_to.is_empty() {
                    return Err(PolicyError::Invalid {
                        at: at.at(format!("{field}.appliedTo")),
                        message: "appliedTo is required in the spec or in every rule".to_string(),
                    });
                }
                if !p.spec.applied_to.is_empty() && !r.applied_to.is_empty() {
                    return Err(PolicyError::Invalid {
                        at: at.at(format!("{field}.appliedTo")),
                        message: "appliedTo cannot be set both in the spec and in a rule"
                            .to_string(),
                    });
                }
                check_groups(&r.applied_to, &format!("{field}.appliedTo"))?;
                let (peers, peer_field) = match dir {
                    "ingress" => (&r.from, "from"),
                    _ => (&r.to, "to"),
                };
                let wrong = if dir == "ingress" { &r.to } else { &r.from };
                if !wrong.is_empty() {
                    return Err(PolicyError::Invalid {
                        at: at.at(field.clone()),
                        message: format!("an {dir} rule takes `{peer_field}` peers"),
                    });
                }
                for (j, peer) in peers.iter().enumerate() {
                    if let Some(g) = &peer.group {
                        if !groups.contains(&g.as_str()) {
                            return Err(PolicyError::UnknownGroup {
                                at: at.at(format!("{field}.{peer_field}[{j}].group")),
                                group: g.clone(),
                            });
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
