//! [`NodeSpan`]: the agent's end of the stream. It applies a snapshot and then deltas in
//! version order, and derives from its objects the [`ResolvedPolicies`] the agent compiles
//! ([`NodeSpan::derive_from`]): the same content [`crate::grouping::derive::view`] gives for
//! the node from the whole grouping (rules in precedence order, isolation, pods, nodes), pods
//! in key order, without lint warnings (lint runs where the policy objects are: the
//! controller).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::message::{Delta, Frame, Snapshot, WirePeers, WireRule};
use super::objects::{ApplyError, Members, NodeObjects};
use crate::grouping::derive::isolate;
use crate::policy::resolve::order;
use crate::policy::resolved::{Direction, Peers, PodSet, ResolvedPolicies, ResolvedRule};

/// A node's span as the agent holds it; see the module documentation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeSpan {
    /// The version of the last snapshot, delta or bookmark applied (0: none yet).
    pub version: u64,
    /// The objects.
    pub objects: NodeObjects,
}

/// Why a frame was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpanError {
    /// A delta whose version is not after the span's (a replay or a reordering).
    #[error("delta {got} is not after version {have}")]
    OutOfOrder {
        /// The span's version.
        have: u64,
        /// The delta's.
        got: u64,
    },
    /// A delta that does not fit the objects.
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

impl NodeSpan {
    /// The span of a snapshot.
    pub fn from_snapshot(s: &Snapshot) -> Self {
        NodeSpan {
            version: s.version,
            objects: NodeObjects::from_snapshot(s),
        }
    }

    /// Applies one frame: a snapshot replaces the span, a delta changes it, a bookmark moves
    /// the version on.
    ///
    /// Errors: [`SpanError`] for a delta not after the current version or not fitting the
    /// objects (ask for a fresh snapshot then).
    pub fn apply(&mut self, f: &Frame) -> Result<(), SpanError> {
        match f {
            Frame::Snapshot(s) => *self = NodeSpan::from_snapshot(s),
            Frame::Delta(d) => self.apply_delta(d)?,
            Frame::Bookmark { version } => self.version = self.version.max(*version),
        }
        Ok(())
    }

    /// Applies one delta; see [`NodeSpan::apply`].
    pub fn apply_delta(&mut self, d: &Delta) -> Result<(), SpanError> {
        if d.version <= self.version {
            return Err(SpanError::OutOfOrder {
                have: self.version,
                got: d.version,
            });
        }
        self.objects.apply(d)?;
        self.version = d.version;
        Ok(())
    }

    /// The resolved policies of the span; see the module documentation.
    pub fn derive_from(&self) -> ResolvedPolicies {
        derive_from(&self.objects)
    }
}

/// Unions built once per derivation: one group is its shared set itself.
struct Unions<'a> {
    groups: &'a BTreeMap<u32, Members>,
    cache: BTreeMap<Vec<u32>, PodSet>,
}

impl Unions<'_> {
    fn of(&mut self, ids: &[u32]) -> PodSet {
        if let [one] = ids {
            return self.groups.get(one).cloned().unwrap_or_default();
        }
        if let Some(s) = self.cache.get(ids) {
            return s.clone();
        }
        let s: PodSet = Arc::new(
            ids.iter()
                .filter_map(|i| self.groups.get(i))
                .flat_map(|m| m.iter().cloned())
                .collect(),
        );
        self.cache.insert(ids.to_vec(), s.clone());
        s
    }
}

/// [`NodeSpan::derive_from`] of a node's objects.
pub fn derive_from(o: &NodeObjects) -> ResolvedPolicies {
    let mut applied = Unions {
        groups: &o.applied_to_groups,
        cache: BTreeMap::new(),
    };
    let mut address = Unions {
        groups: &o.address_groups,
        cache: BTreeMap::new(),
    };
    let mut out = ResolvedPolicies::default();
    let mut isolating: BTreeSet<(Direction, u32)> = BTreeSet::new();
    // Policies in key order (kind, name), as the grouping visits them.
    for p in o.policies.values() {
        for r in &p.rules {
            out.rules.push(rule(r, &mut applied, &mut address));
        }
        for (direction, groups) in [
            (Direction::Ingress, &p.isolates_ingress),
            (Direction::Egress, &p.isolates_egress),
        ] {
            for g in groups {
                let pods = applied.of(std::slice::from_ref(g));
                isolate(
                    &mut out,
                    direction,
                    &p.name,
                    pods,
                    isolating.insert((direction, *g)),
                );
            }
        }
    }
    out.rules.sort_by(order);
    out.np_logging = o.np_logging.clone();
    out.pods = o.pods.values().map(|p| (**p).clone()).collect();
    out.nodes = o.nodes.values().map(|n| (**n).clone()).collect();
    out
}

fn rule(r: &WireRule, applied: &mut Unions, address: &mut Unions) -> ResolvedRule {
    let mut applied_to = applied.of(&r.applied_to);
    if let Some(ns) = &r.namespace_part {
        applied_to = Arc::new(
            applied_to
                .iter()
                .filter(|k| k.namespace == *ns)
                .cloned()
                .collect(),
        );
    }
    ResolvedRule {
        id: r.id.clone(),
        stage: r.stage,
        policy_priority: r.policy_priority,
        rule_index: r.rule_index,
        direction: r.direction,
        action: r.action,
        applied_to,
        peers: match &r.peers {
            WirePeers::Any => Peers::Any,
            WirePeers::Set {
                groups,
                ip_blocks,
                node_ips,
            } => Peers::Set {
                pods: address.of(groups),
                ip_blocks: ip_blocks.clone(),
                node_ips: node_ips.clone(),
            },
        },
        services: r.services.clone(),
        enable_logging: r.enable_logging,
        log_label: r.log_label.clone(),
        staged: r.staged,
    }
}
