//! What a realization changed, per policy: the lines `policy web/allow-frontend updated:
//! +7 ~0 -0` of the agent's log. Pure: two flow tables and the rule-id → policy maps of their
//! compiles in, counts out.

use std::collections::BTreeMap;

use crate::datapath::compiler::{cookie, Compiled};
use crate::datapath::reconcile::FlowTable;

/// Rule id → policy name (`namespace/name` for namespaced kinds) of one compile.
pub fn rule_policies(compiled: &Compiled) -> BTreeMap<u32, String> {
    compiled
        .rules
        .iter()
        .map(|r| (r.id, r.rule.policy.clone()))
        .collect()
}

/// One policy's flows added, replaced in place and deleted by a realization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PolicyChange {
    /// New flows.
    pub added: usize,
    /// Flows replaced in place (same table, priority and match; other actions or cookie).
    pub changed: usize,
    /// Flows removed.
    pub deleted: usize,
}

/// The policy flows that differ between `installed` (compiled with rule ids `old`) and
/// `desired` (rule ids `new`), per policy name. Flows of other cookie categories (pipeline,
/// pods, isolation) are not counted; a policy whose flows are all equal is absent.
pub fn per_policy(
    installed: &FlowTable,
    desired: &FlowTable,
    old: &BTreeMap<u32, String>,
    new: &BTreeMap<u32, String>,
) -> BTreeMap<String, PolicyChange> {
    let mut out: BTreeMap<String, PolicyChange> = BTreeMap::new();
    let name = |c: u64, names: &BTreeMap<u32, String>| {
        let (_, category, id) = cookie::split(c);
        (category == cookie::POLICY).then(|| names.get(&id).cloned())?
    };
    for f in desired.iter() {
        let Some(policy) = name(f.cookie(), new) else {
            continue;
        };
        match installed.get(&f) {
            None => out.entry(policy).or_default().added += 1,
            Some(old) if !old.same(&f) => out.entry(policy).or_default().changed += 1,
            Some(_) => {}
        }
    }
    for f in installed.iter() {
        if desired.get(&f).is_none() {
            if let Some(policy) = name(f.cookie(), old) {
                out.entry(policy).or_default().deleted += 1;
            }
        }
    }
    out
}

/// The log line of one policy's change: `added`, `removed` or `updated` by whether the policy
/// is in `old` and `new`.
pub fn describe(
    policy: &str,
    c: PolicyChange,
    old: &BTreeMap<u32, String>,
    new: &BTreeMap<u32, String>,
) -> String {
    let had = old.values().any(|p| p == policy);
    let has = new.values().any(|p| p == policy);
    let verb = match (had, has) {
        (false, true) => "added",
        (true, false) => "removed",
        _ => "updated",
    };
    format!(
        "policy {policy} {verb}: +{} ~{} -{}",
        c.added, c.changed, c.deleted
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use openflow::flow::{FlowMod, Match, MatchField};

    fn flow(rule: u32, prio: u16, table: u8) -> FlowMod {
        let mut f = FlowMod::add(
            table,
            prio,
            Match::from(vec![MatchField::Reg(1, u32::from(prio), None)]),
            vec![],
        );
        f.cookie = cookie::make(1, cookie::POLICY, rule);
        f
    }

    #[test]
    fn each_policy_gets_its_own_counts_and_unchanged_policies_none() {
        let old = BTreeMap::from([
            (1, "web/allow-frontend".to_string()),
            (2, "db/deny".to_string()),
        ]);
        let new = BTreeMap::from([
            (1, "web/allow-frontend".to_string()),
            (3, "api/new".to_string()),
        ]);
        let installed = FlowTable::from_flows(&[flow(1, 10, 5), flow(2, 20, 5)]);
        let mut moved = flow(1, 10, 5);
        moved.cookie = cookie::make(2, cookie::POLICY, 1); // same identity, new cookie
        let desired = FlowTable::from_flows(&[moved, flow(1, 11, 5), flow(3, 30, 5)]);
        let c = per_policy(&installed, &desired, &old, &new);
        assert_eq!(
            c["web/allow-frontend"],
            PolicyChange {
                added: 1,
                changed: 1,
                deleted: 0
            }
        );
        assert_eq!(
            c["db/deny"],
            PolicyChange {
                added: 0,
                changed: 0,
                deleted: 1
            }
        );
        assert_eq!(
            c["api/new"],
            PolicyChange {
                added: 1,
                changed: 0,
                deleted: 0
            }
        );
        assert_eq!(
            describe("db/deny", c["db/deny"], &old, &new),
            "policy db/deny removed: +0 ~0 -1"
        );
        assert_eq!(
            describe("web/allow-frontend", c["web/allow-frontend"], &old, &new),
            "policy web/allow-frontend updated: +1 ~1 -0"
        );
        let same = per_policy(&installed, &installed, &old, &old);
        assert!(same.is_empty(), "{same:?}");
    }
}
