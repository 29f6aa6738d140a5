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

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use openflow::flow::{FlowMod, FlowModCommand, Match};

use crate::datapath::compiler::cookie;

/// One flow of a [`FlowTable`], borrowed: its canonical encoded FLOW_MOD body (OF1.3
/// §7.3.4.1: 40 fixed bytes, then the `ofp_match` with its fields in canonical order and
/// padding, then the instructions), about 90 bytes for a policy flow.
///
/// Ordered and compared as an OpenFlow identity, `(table, priority, match)`: two flows that
/// would replace each other are equal; [`Flow::same`] compares everything.
#[derive(Debug, Clone, Copy)]
pub struct Flow<'a>(&'a [u8]);

/// A flow of a [`FlowTable`] that does not decode back to a flow_mod.
#[derive(Debug, thiserror::Error)]
#[error(
    "stored flow of table {table} priority {priority} ({bytes} bytes) does not decode: {source}"
)]
pub struct StoredFlowError {
    /// Table id.
    pub table: u8,
    /// Priority.
    pub priority: u16,
    /// Size of the stored FLOW_MOD body, bytes.
    pub bytes: usize,
    /// Why it does not decode.
    pub source: openflow::Error,
}

/// `ofp_flow_mod` body offsets (after the 8-byte header).
const COOKIE: usize = 0;
const TABLE: usize = 16;
const PRIORITY: usize = 22;
const MATCH: usize = 40;

/// Appends the canonical encoding of `f` as an ADD to `buf`: command, cookie mask, buffer,
/// out_port/group and flags reset; the match emitted in canonical order.
fn encode(f: &FlowMod, buf: &mut Vec<u8>) {
    let mut fixed = FlowMod::add(f.table_id, f.priority, Match::from(vec![]), vec![]);
    fixed.cookie = f.cookie;
    (fixed.idle_timeout, fixed.hard_timeout) = (f.idle_timeout, f.hard_timeout);
    let start = buf.len();
    fixed.emit(buf);
    buf.truncate(start + MATCH);
    f.r#match.emit(buf);
    f.instructions.emit(buf);
}

impl<'a> Flow<'a> {
    /// Size of the stored encoding, bytes.
    pub fn encoded_len(&self) -> usize {
        self.0.len()
    }

    /// Table id.
    pub fn table(&self) -> u8 {
        self.0[TABLE]
    }

    /// Priority.
    pub fn priority(&self) -> u16 {
        u16::from_be_bytes([self.0[PRIORITY], self.0[PRIORITY + 1]])
    }

    /// Cookie.
    pub fn cookie(&self) -> u64 {
        u64::from_be_bytes(self.0[COOKIE..COOKIE + 8].try_into().expect("8 bytes"))
    }

    /// The encoded `ofp_match`, padding included.
    fn match_bytes(&self) -> &'a [u8] {
        let len = usize::from(u16::from_be_bytes([self.0[MATCH + 2], self.0[MATCH + 3]]));
        &self.0[MATCH..(MATCH + len.div_ceil(8) * 8).min(self.0.len())]
    }

    /// Identity and body equal (cookie, timeouts, instructions).
    pub fn same(&self, other: &Flow<'_>) -> bool {
        self.0 == other.0
    }

    /// The flow as an ADD flow_mod.
    ///
    /// Errors: [`StoredFlowError`] when the stored encoding does not decode (a flow too large
    /// for one OpenFlow message, whose 16-bit lengths wrapped); the compiler refuses such flows
    /// ([`crate::datapath::compiler::CompileError::FlowTooLarge`]), and this never panics.
    pub fn flow_mod(&self) -> Result<FlowMod, StoredFlowError> {
        FlowMod::decode_body(self.0).map_err(|source| StoredFlowError {
            table: self.table(),
            priority: self.priority(),
            bytes: self.0.len(),
            source,
        })
    }

    /// A DELETE_STRICT of this flow's identity. Errors: as [`Flow::flow_mod`].
    pub fn delete_strict(&self) -> Result<FlowMod, StoredFlowError> {
        let mut f = self.flow_mod()?;
        f.command = FlowModCommand::DeleteStrict;
        f.cookie = 0;
        f.instructions.clear();
        Ok(f)
    }

    fn key(&self) -> (u8, u16, &'a [u8]) {
        (self.table(), self.priority(), self.match_bytes())
    }
}

impl PartialEq for Flow<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Flow<'_> {}
impl PartialOrd for Flow<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Flow<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// A set of flows by identity, stored in one contiguous buffer with a sorted index (about 90
/// bytes and 8 bytes of index a flow: 100k flows take about 10 MB in two allocations, which the
/// allocator returns whole to the kernel when the table goes). Later flows with the same
/// identity replace earlier ones (what an OpenFlow ADD does).
#[derive(Debug, Clone, Default)]
pub struct FlowTable {
    arena: Vec<u8>,
    /// (offset, length) of each flow in `arena`, sorted by identity, identities unique.
    index: Vec<(u32, u32)>,
}

impl PartialEq for FlowTable {
    /// Same flows with the same bodies.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a.same(&b))
    }
}
impl Eq for FlowTable {}

impl FlowTable {
    /// The table of a list of ADD flow_mods (a compile's output, or a dump's
    /// [`openflow::FlowStats::to_flow_mod`]).
    pub fn from_flows<'f>(flows: impl IntoIterator<Item = &'f FlowMod>) -> Self {
        let mut arena = Vec::new();
        let mut spans = Vec::new();
        for f in flows {
            let start = arena.len();
            encode(f, &mut arena);
            spans.push((start as u32, (arena.len() - start) as u32));
        }
        arena.shrink_to_fit();
        let mut t = FlowTable {
            arena,
            index: Vec::new(),
        };
        // Stable sort, then keep the last of equal identities.
        spans.sort_by(|a, b| t.at(*a).cmp(&t.at(*b)));
        let mut index: Vec<(u32, u32)> = Vec::with_capacity(spans.len());
        for span in spans {
            match index.last_mut() {
                Some(last) if t.at(*last) == t.at(span) => *last = span,
                _ => index.push(span),
            }
        }
        index.shrink_to_fit();
        t.index = index;
        t
    }

    fn at(&self, (off, len): (u32, u32)) -> Flow<'_> {
        Flow(&self.arena[off as usize..(off + len) as usize])
    }

    /// Number of flows.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when there is no flow.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The flows, in identity order.
    pub fn iter(&self) -> impl Iterator<Item = Flow<'_>> {
        self.index.iter().map(|&s| self.at(s))
    }

    /// The flow with `flow`'s identity, if any.
    pub fn get(&self, flow: &Flow<'_>) -> Option<Flow<'_>> {
        self.index
            .binary_search_by(|&s| self.at(s).cmp(flow))
            .ok()
            .map(|i| self.at(self.index[i]))
    }

    /// Every flow as an ADD flow_mod, in identity order. Errors: as [`Flow::flow_mod`].
    pub fn flow_mods(&self) -> Result<Vec<FlowMod>, StoredFlowError> {
        self.iter().map(|f| f.flow_mod()).collect()
    }

    /// The cookie rounds present.
    pub fn rounds(&self) -> BTreeSet<u16> {
        self.iter().map(|f| cookie::split(f.cookie()).0).collect()
    }

    /// Flows per table id.
    pub fn per_table(&self) -> BTreeMap<u8, usize> {
        let mut out = BTreeMap::new();
        for f in self.iter() {
            *out.entry(f.table()).or_insert(0) += 1;
        }
        out
    }

    /// The table after applying flow_mods the way a switch does (ADD replaces by identity,
    /// DELETE_STRICT removes by identity, DELETE with an empty match removes by table and
    /// cookie/mask, MODIFY replaces the instructions), for checking a bundle.
    ///
    /// Errors: as [`Flow::flow_mod`].
    pub fn apply(&self, mods: &[FlowMod]) -> Result<FlowTable, StoredFlowError> {
        let mut flows = self.flow_mods()?;
        for m in mods {
            let same = |f: &FlowMod| {
                let (a, b) = (FlowTable::from_flows([f]), FlowTable::from_flows([m]));
                let same = a.iter().next() == b.iter().next();
                same
            };
            match m.command {
                FlowModCommand::Add => {
                    flows.retain(|f| !same(f));
                    flows.push(m.clone());
                }
                FlowModCommand::DeleteStrict => flows.retain(|f| !same(f)),
                FlowModCommand::Delete => flows.retain(|f| {
                    let table = m.table_id == 0xff || m.table_id == f.table_id;
                    let cookie = (f.cookie & m.cookie_mask) == (m.cookie & m.cookie_mask);
                    !(table && cookie && m.r#match.is_empty())
                }),
                FlowModCommand::Modify | FlowModCommand::ModifyStrict => {
                    for f in flows.iter_mut().filter(|f| same(f)) {
                        f.instructions = m.instructions.clone();
                    }
                }
            }
        }
        Ok(FlowTable::from_flows(&flows))
    }
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

/// One step of the merge walk of two tables.
enum Step<'a> {
    Same,
    Changed(Flow<'a>),
    Added(Flow<'a>),
    Deleted(Flow<'a>),
}

/// Walks two tables in identity order, calling `f` for each flow.
fn walk<'a>(installed: &'a FlowTable, desired: &'a FlowTable, mut f: impl FnMut(Step<'a>)) {
    let (mut a, mut b) = (installed.iter().peekable(), desired.iter().peekable());
    loop {
        match (a.peek().copied(), b.peek().copied()) {
            (None, None) => break,
            (Some(old), Some(new)) if old == new => {
                f(if old.same(&new) {
                    Step::Same
                } else {
                    Step::Changed(new)
                });
                a.next();
                b.next();
            }
            (Some(old), Some(new)) if old < new => {
                f(Step::Deleted(old));
                a.next();
            }
            (Some(old), None) => {
                f(Step::Deleted(old));
                a.next();
            }
            (_, Some(new)) => {
                f(Step::Added(new));
                b.next();
            }
        }
    }
}

/// The flow_mods that turn `installed` into `desired`; see the module docs.
///
/// Errors: the first flow that does not decode (see [`Flow::flow_mod`]).
pub fn diff(installed: &FlowTable, desired: &FlowTable) -> Result<Diff, StoredFlowError> {
    let mut out = Diff::default();
    let mut failed = None;
    walk(installed, desired, |step| {
        let r = match step {
            Step::Same => return,
            Step::Changed(new) => {
                out.changed += 1;
                new.flow_mod().map(|f| out.add.push(f))
            }
            Step::Added(new) => new.flow_mod().map(|f| out.add.push(f)),
            Step::Deleted(old) => old.delete_strict().map(|f| out.delete.push(f)),
        };
        if let Err(e) = r {
            failed.get_or_insert(e);
        }
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// What [`diff`] would do, counted without building flow_mods: (added including changed,
/// changed, deleted).
pub fn diff_counts(installed: &FlowTable, desired: &FlowTable) -> (usize, usize, usize) {
    let (mut added, mut changed, mut deleted) = (0, 0, 0);
    walk(installed, desired, |step| match step {
        Step::Same => {}
        Step::Changed(_) => {
            added += 1;
            changed += 1;
        }
        Step::Added(_) => added += 1,
        Step::Deleted(_) => deleted += 1,
    });
    (added, changed, deleted)
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
///
/// Errors: as [`FlowTable::flow_mods`].
pub fn restart(
    installed: &FlowTable,
    desired: &FlowTable,
) -> Result<Vec<FlowMod>, StoredFlowError> {
    let new: BTreeSet<u16> = desired.rounds();
    let mut out = desired.flow_mods()?;
    out.extend(installed.rounds().difference(&new).map(|&r| sweep_round(r)));
    Ok(out)
}

/// [`restart`], encoded for [`openflow::Connection::bundle_encoded`]: the FLOW_MOD bodies of
/// every desired flow (straight from the table, nothing decoded) and the sweeps, as an arena and
/// `(offset, length)` spans in bundle order.
pub fn restart_encoded(installed: &FlowTable, desired: &FlowTable) -> (Vec<u8>, Vec<(u32, u32)>) {
    let new: BTreeSet<u16> = desired.rounds();
    let mut arena = desired.arena.clone();
    let mut spans = desired.index.clone();
    for &r in installed.rounds().difference(&new) {
        let start = arena.len();
        sweep_round(r).emit(&mut arena);
        spans.push((start as u32, (arena.len() - start) as u32));
    }
    (arena, spans)
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
    use openflow::flow::{Action, Instruction, MatchField};
    use proptest::prelude::*;

    fn flow(table: u8, prio: u16, port: u32, out: u32, round: u16) -> FlowMod {
        let mut f = FlowMod::add(
            table,
            prio,
            Match::from(vec![MatchField::EthType(0x800), MatchField::InPort(port)]),
            vec![Instruction::ApplyActions(vec![Action::Output {
                port: out,
                max_len: 0,
            }])],
        );
        f.cookie = cookie::make(round, cookie::POD, port);
        f
    }

    #[test]
    fn a_stored_flow_decodes_to_its_canonical_flow_mod() {
        let mut f = flow(3, 10, 7, 2, 5);
        f.idle_timeout = 9;
        let table = FlowTable::from_flows([&f]);
        let stored = table.iter().next().unwrap();
        assert_eq!(
            (stored.table(), stored.priority(), stored.cookie()),
            (3, 10, f.cookie)
        );
        assert_eq!(stored.flow_mod().unwrap(), f.canonical());
        let d = stored.delete_strict().unwrap();
        assert_eq!(
            (d.command, d.r#match.clone()),
            (FlowModCommand::DeleteStrict, f.r#match.canonical())
        );
    }

    #[test]
    fn match_order_does_not_matter() {
        let a = flow(1, 10, 3, 4, 1);
        let mut b = a.clone();
        b.r#match = b.r#match.to_vec().into_iter().rev().collect();
        let d = diff(&FlowTable::from_flows([&a]), &FlowTable::from_flows([&b])).unwrap();
        assert!(d.is_empty(), "{d}");
    }

    #[test]
    fn changed_actions_are_one_add() {
        let a = flow(1, 10, 3, 4, 1);
        let b = flow(1, 10, 3, 5, 1);
        let d = diff(&FlowTable::from_flows([&a]), &FlowTable::from_flows([&b])).unwrap();
        assert_eq!((d.add.len(), d.changed, d.delete.len()), (1, 1, 0));
        assert_eq!(d.to_string().lines().next(), Some("+0 ~1 -0"));
    }

    #[test]
    fn restart_sweeps_only_old_rounds() {
        let old = FlowTable::from_flows(&[flow(1, 10, 3, 4, 6), flow(1, 10, 9, 4, 6)]);
        let new = FlowTable::from_flows(&[flow(1, 10, 3, 4, 7)]);
        assert_eq!(next_round(&old), 7);
        let bundle = restart(&old, &new).unwrap();
        assert_eq!(bundle.len(), 2);
        assert_eq!(old.apply(&bundle).unwrap(), new);
        // The encoded form is the same bundle.
        let (arena, spans) = restart_encoded(&old, &new);
        let decoded: Vec<FlowMod> = spans
            .iter()
            .map(|&(o, l)| FlowMod::decode_body(&arena[o as usize..(o + l) as usize]).unwrap())
            .collect();
        assert_eq!(decoded, bundle);
        assert_eq!(next_round(&FlowTable::default()), 1);
        let wrap = FlowTable::from_flows(&[flow(1, 1, 1, 1, u16::MAX)]);
        assert_eq!(next_round(&wrap), 1);
    }

    #[test]
    fn a_flow_too_large_for_one_message_is_an_error_in_the_diff_not_a_panic() {
        // 4,100 conjunction actions: 65,664 bytes, whose 16-bit lengths wrap when encoded.
        let actions = (1..=4100)
            .map(|id| Action::Conjunction {
                id,
                clause: 1,
                n_clauses: 2,
            })
            .collect();
        let big = FlowMod::add(
            1,
            10,
            Match::from(vec![MatchField::EthType(0x800)]),
            vec![Instruction::ApplyActions(actions)],
        );
        let desired = FlowTable::from_flows([&big]);
        let e = diff(&FlowTable::default(), &desired).unwrap_err();
        assert_eq!((e.table, e.priority), (1, 10));
        assert!(e.bytes > usize::from(u16::MAX), "{e}");
        assert!(restart(&FlowTable::default(), &desired).is_err());
        assert!(desired.flow_mods().is_err());
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
            let d = diff(&installed, &desired).unwrap();
            prop_assert_eq!(&installed.apply(&d.flow_mods()).unwrap(), &desired);
            prop_assert_eq!(diff_counts(&installed, &desired), (d.add.len(), d.changed, d.delete.len()));
            let same = installed.iter().filter(|f| desired.get(f).is_some_and(|d| d.same(f))).count();
            prop_assert_eq!(d.add.len(), desired.len() - same);
            let gone = installed.iter().filter(|f| desired.get(f).is_none()).count();
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
            prop_assert_eq!(installed.apply(&restart(&installed, &desired).unwrap()).unwrap(), desired);
        }
    }
}
