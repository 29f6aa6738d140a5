//! `kakinectl diff BEFORE AFTER`: the reachability cells that change between two inputs, each
//! with its deciding rules before and after, and what the change costs each node in flows (the
//! bundle the agent would send: the AFTER compile threaded from the BEFORE allocation, diffed as
//! the reconciler diffs).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use serde_json::{json, Value};

use crate::analysis::matrix::{Cell, Matrix};
use crate::datapath::compiler::{self, CompileError};
use crate::datapath::reconcile::{diff_counts, FlowTable};
use crate::grouping::derive::on_node;
use crate::policy::model::EnforcementMode;
use crate::policy::resolved::PodKey;
use crate::policy::{Input, PolicyError, PolicySet, Verdict};

/// One cell on one side: its verdict and deciding rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    /// End to end.
    pub verdict: Verdict,
    /// The client's egress rule (text, `default allow` when none).
    pub egress: String,
    /// The server's ingress rule (text).
    pub ingress: String,
}

impl Side {
    fn of(c: &Cell) -> Side {
        Side {
            verdict: c.verdict,
            egress: c.egress.rule_text(),
            ingress: c.ingress.rule_text(),
        }
    }
}

/// A cell that differs between the two inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellChange {
    /// The client.
    pub from: PodKey,
    /// The server.
    pub to: PodKey,
    /// The service (`TCP/5432`).
    pub service: String,
    /// Before (`None`: no such cell, e.g. a pod that did not exist).
    pub before: Option<Side>,
    /// After.
    pub after: Option<Side>,
}

impl CellChange {
    /// Whether the verdict changes (a cell appearing or vanishing counts).
    pub fn verdict_changes(&self) -> bool {
        self.before.as_ref().map(|s| s.verdict) != self.after.as_ref().map(|s| s.verdict)
    }
}

/// What one node's flows would go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeDelta {
    /// The node (`*` when the model names none: every pod local).
    pub node: String,
    /// Flows added (new or replaced).
    pub added: usize,
    /// Of those, replacing a changed flow.
    pub changed: usize,
    /// Flows deleted.
    pub deleted: usize,
    /// Flows before and after.
    pub flows: (usize, usize),
    /// Rules compiled for the node before and after.
    pub rules: (usize, usize),
}

/// The difference two inputs make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// The cells whose verdict or deciding rules change, by service, client, server.
    pub cells: Vec<CellChange>,
    /// How many cells were compared (the union of both sides).
    pub compared: usize,
    /// Per node, the flow delta.
    pub nodes: Vec<NodeDelta>,
}

impl Diff {
    /// Whether a verdict changes: `kakinectl diff` exits 1.
    pub fn verdicts_change(&self) -> bool {
        self.cells.iter().any(CellChange::verdict_changes)
    }
}

/// The cells that differ between two matrices (over the same services, by name): verdict or
/// deciding rules; a cell on one side only is a change.
pub fn cells(before: &Matrix, after: &Matrix) -> (Vec<CellChange>, usize) {
    type Key = (String, PodKey, PodKey);
    let index = |m: &Matrix| -> BTreeMap<Key, Side> {
        m.cells
            .iter()
            .map(|c| {
                (
                    (
                        m.services[c.service].to_string(),
                        c.from.clone(),
                        c.to.clone(),
                    ),
                    Side::of(c),
                )
            })
            .collect()
    };
    let (b, a) = (index(before), index(after));
    let keys: BTreeSet<&Key> = b.keys().chain(a.keys()).collect();
    let mut order: Vec<String> = before.services.iter().map(|s| s.to_string()).collect();
    for s in &after.services {
        if !order.contains(&s.to_string()) {
            order.push(s.to_string());
        }
    }
    let mut out: Vec<CellChange> = keys
        .iter()
        .filter(|k| b.get(*k) != a.get(*k))
        .map(|(service, from, to)| CellChange {
            from: from.clone(),
            to: to.clone(),
            service: service.clone(),
            before: b.get(&(service.clone(), from.clone(), to.clone())).cloned(),
            after: a.get(&(service.clone(), from.clone(), to.clone())).cloned(),
        })
        .collect();
    out.sort_by_key(|c| order.iter().position(|s| *s == c.service));
    (out, keys.len())
}

/// The flow delta of every node of either model: the AFTER view compiled against the BEFORE
/// compile's allocation (as the live agent threads it), diffed as the reconciler does.
///
/// Errors: an input the grouping or the compiler refuses.
pub fn flow_delta(before: &Input, after: &Input) -> Result<Vec<NodeDelta>, DiffError> {
    let mut nodes: BTreeSet<String> = BTreeSet::new();
    for input in [before, after] {
        nodes.extend(input.cluster.nodes.iter().map(|n| n.name.clone()));
        nodes.extend(input.cluster.pods.iter().filter_map(|p| p.node.clone()));
    }
    let names: Vec<Option<String>> = if nodes.is_empty() {
        vec![None]
    } else {
        nodes.into_iter().map(Some).collect()
    };
    let mut out = Vec::new();
    for node in names {
        let b = compile_node(before, node.as_deref(), None)?;
        let a = compile_node(after, node.as_deref(), b.as_ref().map(|c| &c.allocation))?;
        let table = |c: &Option<compiler::Compiled>| {
            FlowTable::from_flows(c.iter().flat_map(|c| c.flows.iter()))
        };
        let (added, changed, deleted) = diff_counts(&table(&b), &table(&a));
        let count = |c: &Option<compiler::Compiled>| {
            c.as_ref()
                .map_or((0, 0), |c| (c.flows.len(), c.rules.len()))
        };
        out.push(NodeDelta {
            node: node.unwrap_or_else(|| "*".to_string()),
            added,
            changed,
            deleted,
            flows: (count(&b).0, count(&a).0),
            rules: (count(&b).1, count(&a).1),
        });
    }
    Ok(out)
}

/// The node's compile, `None` when the model lacks the node.
fn compile_node(
    input: &Input,
    node: Option<&str>,
    previous: Option<&compiler::Allocation>,
) -> Result<Option<compiler::Compiled>, DiffError> {
    if let Some(n) = node {
        if crate::grouping::check_node(&input.cluster, n).is_err() {
            return Ok(None);
        }
    }
    let policies = crate::grouping::resolve_node(&input.cluster, &input.objects, node)?;
    let mut pods = compiler::offline_pods(&policies);
    if let Some(n) = node {
        let local: BTreeSet<&PodKey> = policies
            .pods
            .iter()
            .filter(|p| on_node(p.node.as_deref(), n))
            .map(|p| &p.key)
            .collect();
        pods.retain(|p| local.contains(&p.key));
    }
    Ok(Some(compiler::compile_with(&policies, &pods, 1, previous)?))
}

/// `objects` with every staged policy and rule enforced (`enforcementMode: Audit` made
/// `Enforce`): the AFTER side of `kakinectl diff --staged`, whose BEFORE is `objects` as they
/// are enforced.
pub fn enforce_staged(objects: &PolicySet) -> PolicySet {
    let mut out = objects.clone();
    for p in &mut out.antrea_policies {
        let staged = p.spec.enforcement_mode == Some(EnforcementMode::Audit);
        p.spec.enforcement_mode = None;
        for r in p.spec.ingress.iter_mut().chain(p.spec.egress.iter_mut()) {
            if staged || r.enforcement_mode == Some(EnforcementMode::Audit) {
                r.enforcement_mode = None;
            }
        }
    }
    out
}

/// Why a diff could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// An input the grouping refuses.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// An input the compiler refuses.
    #[error(transparent)]
    Compile(#[from] CompileError),
}

/// The whole diff: cells from the two matrices, flows from the two inputs.
///
/// Errors: as [`flow_delta`].
pub fn diff(before: (&Input, &Matrix), after: (&Input, &Matrix)) -> Result<Diff, DiffError> {
    let (cells, compared) = cells(before.1, after.1);
    Ok(Diff {
        cells,
        compared,
        nodes: flow_delta(before.0, after.0)?,
    })
}

fn side_text(s: &Option<Side>) -> String {
    match s {
        Some(s) => format!(
            "{} (egress: {}; ingress: {})",
            s.verdict, s.egress, s.ingress
        ),
        None => "no such cell".to_string(),
    }
}

impl fmt::Display for Diff {
    /// The text of `kakinectl diff`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        let (verdicts, rules): (Vec<&CellChange>, Vec<&CellChange>) =
            self.cells.iter().partition(|c| c.verdict_changes());
        let _ = writeln!(
            out,
            "{} of {} cells change verdict",
            verdicts.len(),
            self.compared
        );
        let word = |s: &Option<Side>| {
            s.as_ref()
                .map_or("-".to_string(), |s| s.verdict.to_string())
        };
        for c in &verdicts {
            let _ = writeln!(
                out,
                "  {} -> {} {}: {} -> {}",
                c.from,
                c.to,
                c.service,
                word(&c.before),
                word(&c.after)
            );
            let _ = writeln!(out, "    before: {}", side_text(&c.before));
            let _ = writeln!(out, "    after:  {}", side_text(&c.after));
        }
        if !rules.is_empty() {
            let _ = writeln!(
                out,
                "{} cells keep their verdict but change the deciding rule",
                rules.len()
            );
            for c in &rules {
                let _ = writeln!(out, "  {} -> {} {}", c.from, c.to, c.service);
                let _ = writeln!(out, "    before: {}", side_text(&c.before));
                let _ = writeln!(out, "    after:  {}", side_text(&c.after));
            }
        }
        let _ = writeln!(out, "flows per node (added ~changed -deleted):");
        for n in &self.nodes {
            let _ = writeln!(
                out,
                "  {}: +{} ~{} -{} (flows {} -> {}, rules {} -> {})",
                n.node,
                n.added - n.changed,
                n.changed,
                n.deleted,
                n.flows.0,
                n.flows.1,
                n.rules.0,
                n.rules.1
            );
        }
        f.write_str(&out)
    }
}

impl Diff {
    /// The diff as JSON: `compared`, `cells` (`from`, `to`, `service`, `verdict_changes`,
    /// `before` / `after` each `{verdict, egress, ingress}` or null) and `nodes`.
    pub fn to_json(&self) -> Value {
        let side = |s: &Option<Side>| match s {
            Some(s) => {
                json!({"verdict": s.verdict.to_string(), "egress": s.egress, "ingress": s.ingress})
            }
            None => Value::Null,
        };
        json!({
            "compared": self.compared,
            "verdicts_change": self.verdicts_change(),
            "cells": self.cells.iter().map(|c| json!({
                "from": c.from.to_string(),
                "to": c.to.to_string(),
                "service": c.service,
                "verdict_changes": c.verdict_changes(),
                "before": side(&c.before),
                "after": side(&c.after),
            })).collect::<Vec<_>>(),
            "nodes": self.nodes.iter().map(|n| json!({
                "node": n.node,
                "added": n.added - n.changed,
                "changed": n.changed,
                "deleted": n.deleted,
                "flows": [n.flows.0, n.flows.1],
                "rules": [n.rules.0, n.rules.1],
            })).collect::<Vec<_>>(),
        })
    }
}
