//! The reconciler's pure core: desired flows against installed flows, as one bundle.
//!
//! A flow's identity in OpenFlow is `(table, priority, match)` (OF1.3 §6.4: an ADD with an
//! identical match and priority replaces the entry). [`FlowTable`] keys flows that way, with the
//! match in canonical (sorted) field order so that a dump from OVS and a compile of ours compare
//! equal. [`diff`] turns two tables into the flow_mods that make the installed one the desired
//! one: an ADD for each new or changed flow (which replaces a changed one in place, so a
//! datapath never sees it missing) and a DELETE_STRICT for each flow that is no longer desired.
//! Unchanged flows are not touched, so a change to one rule rewrites only that rule's flows and
//! the shared match flows whose conjunction lists it changes.
//!
//! [`restart`] is the bundle of an agent that starts against flows it did not install in this
//! run: every desired flow is added with the new cookie round (replacing an identical old flow in
//! place), then every older round is swept by cookie (design doc §4: "a restarted agent installs
//! its new round and sweeps older rounds in the same bundle, so the datapath never sees a gap").

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use openflow::flow::{FlowMod, FlowModCommand, Instruction, Match};

use crate::compiler::cookie;

/// A flow's OpenFlow identity: table, priority and match (fields in canonical order).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowKey {
    /// Table id.
    pub table: u8,
    /// Priority.
    pub priority: u16,
    /// The match, fields sorted.
    pub r#match: Match,
}

/// What a flow does besides its identity: compared to decide whether a flow changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowBody {
    /// The cookie (round, category, object).
    pub cookie: u64,
    /// Idle and hard timeouts, seconds.
    pub timeouts: (u16, u16),
    /// The instructions.
    pub instructions: Vec<Instruction>,
}

/// A set of flows by identity. Later flows with the same identity replace earlier ones (what an
/// OpenFlow ADD does).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowTable(pub BTreeMap<FlowKey, FlowBody>);

impl FlowTable {
    /// The table of a list of ADD flow_mods (a compile's output, or a dump's
    /// [`openflow::FlowStats::to_flow_mod`]).
    pub fn from_flows<'a>(flows: impl IntoIterator<Item = &'a FlowMod>) -> Self {
        FlowTable(flows.into_iter().map(split).collect())
    }

    /// Number of flows.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no flow.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every flow as an ADD flow_mod, in key order.
    pub fn flow_mods(&self) -> Vec<FlowMod> {
        self.0.iter().map(|(k, b)| join(k, b)).collect()
    }

    /// The cookie rounds present.
    pub fn rounds(&self) -> BTreeSet<u16> {
        self.0.values().map(|b| cookie::split(b.cookie).0).collect()
    }

    /// Flows per table id.
    pub fn per_table(&self) -> BTreeMap<u8, usize> {
        let mut out = BTreeMap::new();
        for k in self.0.keys() {
            *out.entry(k.table).or_insert(0) += 1;
        }
        out
    }

    /// Applies flow_mods the way a switch does (ADD replaces by identity, DELETE_STRICT removes
    /// by identity, DELETE removes by table and cookie/mask), for checking a bundle.
    pub fn apply(&mut self, mods: &[FlowMod]) {
        for m in mods {
            match m.command {
                FlowModCommand::Add => {
                    let (k, b) = split(m);
                    self.0.insert(k, b);
                }
                FlowModCommand::DeleteStrict => {
                    self.0.remove(&split(m).0);
                }
                FlowModCommand::Delete => self.0.retain(|k, b| {
                    let table = m.table_id == 0xff || m.table_id == k.table;
                    let cookie = (b.cookie & m.cookie_mask) == (m.cookie & m.cookie_mask);
                    !(table && cookie && m.r#match.0.is_empty())
                }),
                FlowModCommand::Modify | FlowModCommand::ModifyStrict => {
                    let (k, b) = split(m);
                    if let Some(old) = self.0.get_mut(&k) {
                        old.instructions = b.instructions;
                    }
                }
            }
        }
    }
}

fn split(f: &FlowMod) -> (FlowKey, FlowBody) {
    let mut fields = f.r#match.0.clone();
    fields.sort();
    (
        FlowKey {
            table: f.table_id,
            priority: f.priority,
            r#match: Match(fields),
        },
        FlowBody {
            cookie: f.cookie,
            timeouts: (f.idle_timeout, f.hard_timeout),
            instructions: f.instructions.clone(),
        },
    )
}

fn join(k: &FlowKey, b: &FlowBody) -> FlowMod {
    let mut f = FlowMod::add(
        k.table,
        k.priority,
        k.r#match.clone(),
        b.instructions.clone(),
    );
    f.cookie = b.cookie;
    (f.idle_timeout, f.hard_timeout) = b.timeouts;
    f
}

/// The difference between two flow tables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Flows to add: new, or changed (an ADD replaces the old version in place).
    pub add: Vec<FlowMod>,
    /// Of those, how many replace a changed flow.
    pub changed: usize,
    /// Flows to delete (strict), no longer desired.
    pub delete: Vec<FlowMod>,
}

impl Diff {
    /// True when the tables are equal.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.delete.is_empty()
    }

    /// The bundle: additions first, then deletions (order does not matter for correctness:
    /// the identities are disjoint; the bundle is atomic).
    pub fn flow_mods(&self) -> Vec<FlowMod> {
        self.add.iter().chain(&self.delete).cloned().collect()
    }
}

impl fmt::Display for Diff {
    /// `+3 ~1 -2` (added, of which changed, deleted), then one line per flow.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "+{} ~{} -{}",
            self.add.len() - self.changed,
            self.changed,
            self.delete.len()
        )?;
        for a in &self.add {
            write!(f, "\n  add    {a}")?;
        }
        for d in &self.delete {
            write!(f, "\n  delete {d}")?;
        }
        Ok(())
    }
}

/// The flow_mods that turn `installed` into `desired`; see the module docs.
pub fn diff(installed: &FlowTable, desired: &FlowTable) -> Diff {
    let mut out = Diff::default();
    for (k, b) in &desired.0 {
        match installed.0.get(k) {
            Some(old) if old == b => {}
            Some(_) => {
                out.changed += 1;
                out.add.push(join(k, b));
            }
            None => out.add.push(join(k, b)),
        }
    }
    for k in installed.0.keys() {
        if !desired.0.contains_key(k) {
            let mut f = FlowMod::add(k.table, k.priority, k.r#match.clone(), vec![]);
            f.command = FlowModCommand::DeleteStrict;
            out.delete.push(f);
        }
    }
    out
}

/// A DELETE of every flow whose cookie round is `round`, in every table.
pub fn sweep_round(round: u16) -> FlowMod {
    let mut f = FlowMod::add(0xff, 0, Match::default(), vec![]);
    f.command = FlowModCommand::Delete;
    f.cookie = cookie::make(round, 0, 0);
    f.cookie_mask = cookie::make(u16::MAX, 0, 0);
    f
}

/// The restart bundle: every desired flow (cookies of the new round), then a sweep of each
/// round of `installed` other than the desired flows' round. Flows of the agent's previous run
/// that are still desired are replaced in place by the ADD; the rest go with the sweep.
pub fn restart(installed: &FlowTable, desired: &FlowTable) -> Vec<FlowMod> {
    let new: BTreeSet<u16> = desired.rounds();
    let mut out = desired.flow_mods();
    out.extend(installed.rounds().difference(&new).map(|&r| sweep_round(r)));
    out
}

/// The cookie round a restarted agent uses: one past the highest round installed (skipping 0,
/// which marks flows that are not ours), or 1 on an empty bridge.
pub fn next_round(installed: &FlowTable) -> u16 {
    match installed.rounds().into_iter().max() {
        None => 1,
        Some(r) => r.checked_add(1).filter(|&n| n != 0).unwrap_or(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openflow::flow::{Action, MatchField};
    use proptest::prelude::*;

    fn flow(table: u8, prio: u16, port: u32, out: u32, round: u16) -> FlowMod {
        let mut f = FlowMod::add(
            table,
            prio,
            Match(vec![MatchField::EthType(0x800), MatchField::InPort(port)]),
            vec![Instruction::ApplyActions(vec![Action::Output {
                port: out,
                max_len: 0,
            }])],
        );
        f.cookie = cookie::make(round, cookie::POD, port);
        f
    }

    #[test]
    fn match_order_does_not_matter() {
        let a = flow(1, 10, 3, 4, 1);
        let mut b = a.clone();
        b.r#match.0.reverse();
        let d = diff(&FlowTable::from_flows([&a]), &FlowTable::from_flows([&b]));
        assert!(d.is_empty(), "{d}");
    }

    #[test]
    fn changed_actions_are_one_add() {
        let a = flow(1, 10, 3, 4, 1);
        let b = flow(1, 10, 3, 5, 1);
        let d = diff(&FlowTable::from_flows([&a]), &FlowTable::from_flows([&b]));
        assert_eq!((d.add.len(), d.changed, d.delete.len()), (1, 1, 0));
        assert_eq!(d.to_string().lines().next(), Some("+0 ~1 -0"));
    }

    #[test]
    fn restart_sweeps_only_old_rounds() {
        let old = FlowTable::from_flows(&[flow(1, 10, 3, 4, 6), flow(1, 10, 9, 4, 6)]);
        let new = FlowTable::from_flows(&[flow(1, 10, 3, 4, 7)]);
        assert_eq!(next_round(&old), 7);
        let bundle = restart(&old, &new);
        assert_eq!(bundle.len(), 2);
        let mut t = old.clone();
        t.apply(&bundle);
        assert_eq!(t, new);
        assert_eq!(next_round(&FlowTable::default()), 1);
        let wrap = FlowTable::from_flows(&[flow(1, 1, 1, 1, u16::MAX)]);
        assert_eq!(next_round(&wrap), 1);
    }

    fn table() -> impl Strategy<Value = Vec<FlowMod>> {
        prop::collection::vec(
            (0u8..3, 0u16..3, 1u32..6, 1u32..4, 1u16..3)
                .prop_map(|(t, p, port, out, r)| flow(t, p, port, out, r)),
            0..12,
        )
    }

    proptest! {
        /// Applying the diff to the installed table gives the desired table, and touches no
        /// flow that is equal on both sides.
        #[test]
        fn diff_applied_is_desired(a in table(), b in table()) {
            let (installed, desired) = (FlowTable::from_flows(&a), FlowTable::from_flows(&b));
            let d = diff(&installed, &desired);
            let mut t = installed.clone();
            t.apply(&d.flow_mods());
            prop_assert_eq!(&t, &desired);
            let same = installed.0.iter().filter(|(k, v)| desired.0.get(*k) == Some(*v)).count();
            prop_assert_eq!(d.add.len(), desired.len() - same);
            let gone = installed.0.keys().filter(|k| !desired.0.contains_key(*k)).count();
            prop_assert_eq!(d.delete.len(), gone);
        }

        /// The restart bundle turns any installed table into the desired one.
        #[test]
        fn restart_applied_is_desired(a in table(), b in table()) {
            let installed = FlowTable::from_flows(&a);
            let round = next_round(&installed);
            let desired = FlowTable::from_flows(&b.iter().map(|f| {
                let mut f = f.clone();
                let (_, c, o) = cookie::split(f.cookie);
                f.cookie = cookie::make(round, c, o);
                f
            }).collect::<Vec<_>>());
            let mut t = installed.clone();
            t.apply(&restart(&installed, &desired));
            prop_assert_eq!(t, desired);
        }
    }
}
