//! What `kakinectl spans` prints: the groups and their sizes, and per node the span sizes (how
//! many policies, groups, rules and pods its view holds).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::index::GroupId;
use super::selector::{GroupSelector, NamespaceScope};
use super::state::{address_groups, applied_groups, Grouping};
use crate::policy::selector::{LabelSelector, Operator};

/// One node's share of the policy set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSpan {
    /// Policies whose span holds the node.
    pub policies: usize,
    /// Their rules.
    pub rules: usize,
    /// Applied-to groups of those policies.
    pub applied_to_groups: usize,
    /// Address groups of those policies.
    pub address_groups: usize,
    /// Pods on the node.
    pub local_pods: usize,
}

/// The report. Built by [`report`], printed by its `Display`.
#[derive(Debug, Clone, Default)]
pub struct SpansReport {
    /// Pods indexed.
    pub pods: usize,
    /// Distinct label sets.
    pub label_sets: usize,
    /// Groups (distinct selectors).
    pub groups: usize,
    /// Policies with rules or isolation.
    pub policies: usize,
    /// Their rules.
    pub rules: usize,
    /// Group count per member-count bucket (`0`, `1`, `2-10`, ...).
    pub size_histogram: BTreeMap<usize, usize>,
    /// The largest groups: members, selector text.
    pub largest: Vec<(usize, String)>,
    /// Per node (every node of the model, and every node a pod names).
    pub nodes: BTreeMap<String, NodeSpan>,
}

const BUCKETS: [(usize, &str); 6] = [
    (0, "0"),
    (1, "1"),
    (10, "2-10"),
    (100, "11-100"),
    (1000, "101-1000"),
    (usize::MAX, ">1000"),
];

/// The report of `g`; with `node`, only that node's line.
pub fn report(g: &Grouping, node: Option<&str>) -> SpansReport {
    let mut r = SpansReport {
        pods: g.index.pod_count(),
        label_sets: g.index.label_set_count(),
        groups: g.index.group_count(),
        policies: g.policies.len(),
        rules: g.policies.values().map(|p| p.rules.len()).sum(),
        ..SpansReport::default()
    };
    let mut sizes: Vec<(usize, GroupId)> = g
        .index
        .groups()
        .map(|id| (g.index.member_count(id), id))
        .collect();
    for (n, _) in &sizes {
        let bucket = BUCKETS
            .iter()
            .position(|(max, _)| n <= max)
            .unwrap_or(BUCKETS.len() - 1);
        *r.size_histogram.entry(bucket).or_default() += 1;
    }
    sizes.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    r.largest = sizes
        .iter()
        .take(5)
        .map(|(n, id)| {
            (
                *n,
                g.index.selector(*id).map(selector_text).unwrap_or_default(),
            )
        })
        .collect();

    let mut names: BTreeSet<String> = g.nodes.keys().cloned().collect();
    for (_, e) in g.index.pods() {
        if let Some(n) = &e.pod.node {
            names.insert(n.clone());
        }
    }
    if let Some(n) = node {
        names = BTreeSet::from([n.to_string()]);
    }
    let mut per_node: BTreeMap<String, (NodeSpan, BTreeSet<GroupId>, BTreeSet<GroupId>)> =
        names.into_iter().map(|n| (n, Default::default())).collect();
    for (_, e) in g.index.pods() {
        if let Some(entry) = e.pod.node.as_ref().and_then(|n| per_node.get_mut(n)) {
            entry.0.local_pods += 1;
        }
    }
    for p in g.policies.values() {
        for n in g.policy_span(p) {
            if let Some((span, applied, address)) = per_node.get_mut(&n) {
                span.policies += 1;
                span.rules += p.rules.len();
                applied.extend(applied_groups(p));
                address.extend(address_groups(p));
            }
        }
    }
    r.nodes = per_node
        .into_iter()
        .map(|(n, (mut span, applied, address))| {
            span.applied_to_groups = applied.len();
            span.address_groups = address.len();
            (n, span)
        })
        .collect();
    r
}

/// A selector as one line: `ns=web [app=db]`, `ns[team=a] *`, `all-ns * sa=robot`.
pub fn selector_text(s: &GroupSelector) -> String {
    let ns = match &s.namespaces {
        NamespaceScope::Name(n) => format!("ns={n}"),
        NamespaceScope::Selector(sel) => format!("ns[{}]", label_selector_text(sel)),
        NamespaceScope::All => "all-ns".to_string(),
    };
    let pods = match &s.pods {
        None => "*".to_string(),
        Some(p) => format!("[{}]", label_selector_text(p)),
    };
    let mut out = format!("{ns} {pods}");
    if let Some(sa) = &s.service_account {
        out.push_str(&format!(" sa={sa}"));
    }
    if s.exclude_host_network {
        out.push_str(" (no host-network)");
    }
    out
}

/// A label selector in `kubectl get -l` syntax: `app=db,tier in (a,b),!legacy`; `*` when
/// empty.
pub fn label_selector_text(s: &LabelSelector) -> String {
    let mut parts: Vec<String> = s
        .match_labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for r in &s.match_expressions {
        parts.push(match r.operator {
            Operator::In => format!("{} in ({})", r.key, r.values.join(",")),
            Operator::NotIn => format!("{} notin ({})", r.key, r.values.join(",")),
            Operator::Exists => r.key.clone(),
            Operator::DoesNotExist => format!("!{}", r.key),
        });
    }
    if parts.is_empty() {
        "*".to_string()
    } else {
        parts.join(",")
    }
}

impl fmt::Display for SpansReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} pods in {} label sets; {} groups; {} policies, {} rules",
            self.pods, self.label_sets, self.groups, self.policies, self.rules
        )?;
        write!(f, "group sizes:")?;
        for (bucket, count) in &self.size_histogram {
            write!(f, " {}:{count}", BUCKETS[*bucket].1)?;
        }
        writeln!(f)?;
        for (n, sel) in &self.largest {
            writeln!(f, "  {n:>8} members  {sel}")?;
        }
        writeln!(
            f,
            "{:<24} {:>9} {:>8} {:>8} {:>10} {:>10}",
            "NODE", "POLICIES", "RULES", "PODS", "APPLIED-TO", "ADDRESS"
        )?;
        for (name, s) in &self.nodes {
            writeln!(
                f,
                "{:<24} {:>9} {:>8} {:>8} {:>10} {:>10}",
                name, s.policies, s.rules, s.local_pods, s.applied_to_groups, s.address_groups
            )?;
        }
        Ok(())
    }
}
