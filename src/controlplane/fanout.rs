//! The pure fan-out: per node, what it was sent (the span before) against its span in the
//! grouping after a batch of events, diffed into one [`Delta`] per node whose span changed
//! (the four cases of [`NodeObjects::diff`]); nodes whose span the batch did not touch get
//! nothing. Each node keeps its last deltas (a bounded history) so that an agent reconnecting
//! from a version inside it resumes with the deltas since; from outside it (too old, or a
//! version of a previous controller run) it gets a fresh snapshot (Antrea's `ramStore`
//! watchers resume the same way).
//!
//! Versions are the controller's, one per batch, strictly increasing; they start at the
//! `first` version given to [`FanOut::new`] (the controller uses its start time in
//! microseconds, so a restarted controller never reuses a version an agent holds).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use super::compute::{Candidates, Spans};
use super::holders::Holders;
use super::message::{Delta, Snapshot};
use super::objects::NodeObjects;
use super::touched::{Nodes, Touched};
use crate::grouping::Grouping;

/// Deltas kept per node by default.
pub const DEFAULT_HISTORY: usize = 64;

struct NodeState {
    objects: NodeObjects,
    history: VecDeque<Arc<Delta>>,
    /// The oldest version a resume can start from: the node's version before the oldest
    /// delta kept.
    floor: u64,
    /// The version of the node's last delta (or the version it was first tracked at).
    changed: u64,
}

impl NodeState {
    /// Node `name` first tracked at `version` with its span `objects` (held in `holders`):
    /// no history, a resume from before `version` gets a snapshot.
    fn tracked(holders: &mut Holders, name: &str, objects: NodeObjects, version: u64) -> Self {
        holders.hold_all(name, &objects);
        NodeState {
            objects,
            history: VecDeque::new(),
            floor: version,
            changed: version,
        }
    }
}

/// How an agent resumes from a version.
#[derive(Debug, Clone, PartialEq)]
pub enum Resume {
    /// The deltas after that version (possibly none), in order.
    Deltas(Vec<Arc<Delta>>),
    /// The version is outside the history: the whole span.
    Snapshot(Snapshot),
}

/// The per-node spans sent and their histories; see the module documentation.
pub struct FanOut {
    version: u64,
    history: usize,
    nodes: BTreeMap<String, NodeState>,
    /// Which node holds which object: the nodes a touched object was in before a batch.
    holders: Holders,
    /// What spans share (wire policies, member sets, pods, nodes), kept from batch to batch.
    spans: Spans,
    /// Whether a batch was applied: the first recomputes every node (and tracks the model's).
    primed: bool,
}

impl FanOut {
    /// A fan-out with no node yet, at version `first`, keeping `history` deltas per node
    /// (at least 1).
    pub fn new(first: u64, history: usize) -> Self {
        FanOut {
            version: first,
            history: history.max(1),
            nodes: BTreeMap::new(),
            holders: Holders::default(),
            spans: Spans::default(),
            primed: false,
        }
    }

    /// The current version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The nodes tracked.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.nodes.keys().map(String::as_str)
    }

    /// After a batch applied to `g`: the next version, and the delta of every node tracked
    /// before whose span changed, every node's span recomputed; the nodes not tracked before
    /// (the model's nodes and those pods name) are tracked from this version on, with their
    /// span and no delta (as [`FanOut::track`]).
    pub fn apply(&mut self, g: &Grouping) -> BTreeMap<String, Arc<Delta>> {
        self.apply_touched(g, &Touched::everything())
    }

    /// As [`FanOut::apply`], recomputing only the nodes whose span the batch can change
    /// ([`Touched::nodes`]: `touched` recorded the batch's events) and the nodes not tracked
    /// before (tracked with their span, no delta); the others get no delta. Cost: the touched objects' holders and users, then per
    /// recomputed node a patch of its span for the batch's candidates ([`Candidates`]: the
    /// touched keys and the objects they bring in or take out); a new node's span, and every
    /// node's after a batch touching every node (node, tier, group, np_logging events), is
    /// built whole.
    pub fn apply_touched(
        &mut self,
        g: &Grouping,
        touched: &Touched,
    ) -> BTreeMap<String, Arc<Delta>> {
        self.version += 1;
        let version = self.version;
        let everything = Touched::everything();
        let touched = match self.primed {
            true => touched,
            false => &everything,
        };
        self.primed = true;
        self.spans.refresh(g, touched);
        // Nodes not tracked yet: the model's and those pods name (all of them after a batch
        // touching every node; else only those of the touched pods can be new).
        let names: BTreeSet<String> = match touched.all {
            true => self.spans.node_names(g),
            false => touched
                .pods
                .iter()
                .filter_map(|k| g.index.pod(k)?.pod.node.clone())
                .collect(),
        };
        let mut dirty = match touched.nodes(g, &self.holders) {
            Nodes::All => None,
            Nodes::Some(d) => Some(d),
        };
        let mut fresh = BTreeSet::new();
        for n in names {
            if let std::collections::btree_map::Entry::Vacant(e) = self.nodes.entry(n) {
                fresh.insert(e.key().clone());
                e.insert(NodeState {
                    objects: NodeObjects::default(),
                    history: VecDeque::new(),
                    floor: version - 1,
                    changed: version - 1,
                });
            }
        }
        if let Some(d) = &mut dirty {
            d.extend(fresh.iter().cloned());
        }
        let candidates = (!touched.all).then(|| Candidates::of(g, touched));
        let mut out = BTreeMap::new();
        let names: Vec<String> = match &dirty {
            None => self.nodes.keys().cloned().collect(),
            Some(d) => d
                .iter()
                .filter(|n| self.nodes.contains_key(*n))
                .cloned()
                .collect(),
        };
        for name in names {
            let st = self.nodes.get_mut(&name).expect("tracked");
            if fresh.contains(&name) {
                // A node not tracked before has no agent (an agent's subscription tracks its
                // node first): it gets its span, not a delta from nothing, which would keep a
                // copy of every object of its span in its history.
                let objects = self.spans.node(g, &name);
                *st = NodeState::tracked(&mut self.holders, &name, objects, version);
                continue;
            }
            // Nodes and np_logging change only in batches touching every node: else the
            // node's are kept and its span patched for the batch's candidates.
            let changes = match &candidates {
                Some(c) => self.spans.patch(g, &name, c, &mut st.objects),
                None => {
                    let now = self.spans.node(g, &name);
                    let changes = st.objects.diff(&now);
                    st.objects = now;
                    changes
                }
            };
            if changes.is_empty() {
                continue;
            }
            self.holders.record(&name, &changes);
            st.changed = version;
            let d = Arc::new(Delta { version, changes });
            st.history.push_back(d.clone());
            if st.history.len() > self.history {
                if let Some(old) = st.history.pop_front() {
                    st.floor = old.version;
                }
            }
            out.insert(name, d);
        }
        out
    }

    /// As [`FanOut::apply_touched`], then every node's span recomputed and compared with what
    /// the node now holds (a check of the narrowing for tests; it costs a full pass).
    ///
    /// Errors: the nodes whose held span differs from their span in `g`, with the changes
    /// the narrowing missed.
    pub fn apply_checked(
        &mut self,
        g: &Grouping,
        touched: &Touched,
    ) -> Result<BTreeMap<String, Arc<Delta>>, String> {
        let out = self.apply_touched(g, touched);
        let mut spans = Spans::new(g);
        let missed: Vec<String> = self
            .nodes
            .iter()
            .filter_map(|(name, st)| {
                let changes = st.objects.diff(&spans.node(g, name));
                (!changes.is_empty()).then(|| format!("node {name}: missed {changes:?}"))
            })
            .collect();
        match missed.is_empty() {
            true => Ok(out),
            false => Err(format!(
                "the narrowed fan-out of {touched:?} missed: {}",
                missed.join("; ")
            )),
        }
    }

    /// Starts tracking node `name` (an agent of a node the model does not name yet) with its
    /// span in `g` at the current version.
    pub fn track(&mut self, name: &str, g: &Grouping) {
        if !self.nodes.contains_key(name) {
            // Before the first batch, the shared objects are not built yet.
            let objects = match self.primed {
                true => self.spans.node(g, name),
                false => Spans::new(g).node(g, name),
            };
            let st = NodeState::tracked(&mut self.holders, name, objects, self.version);
            self.nodes.insert(name.to_string(), st);
        }
    }

    /// The version at which tracked node `name`'s span last changed: a report of that
    /// version or later realized the current span.
    pub fn changed(&self, name: &str) -> Option<u64> {
        Some(self.nodes.get(name)?.changed)
    }

    /// The span of tracked node `name` at the current version.
    pub fn snapshot(&self, name: &str) -> Option<Snapshot> {
        Some(self.nodes.get(name)?.objects.snapshot(self.version))
    }

    /// How tracked node `name` resumes from version `since`: the deltas after it when `since`
    /// lies in the node's history (between its floor and the current version), else a
    /// snapshot. `None` for a node not tracked.
    pub fn resume(&self, name: &str, since: u64) -> Option<Resume> {
        let st = self.nodes.get(name)?;
        if since < st.floor || since > self.version {
            return Some(Resume::Snapshot(st.objects.snapshot(self.version)));
        }
        Some(Resume::Deltas(
            st.history
                .iter()
                .filter(|d| d.version > since)
                .cloned()
                .collect(),
        ))
    }
}
