//! Flows per rule against the conjunctive-match floor (`kakinectl compile DIR --stats`).
//!
//! A rule with N peer addresses, M applied-to pods and P service matches needs at least
//! N + M + P + 1 flows as a conjunction (one match flow per clause entry and one `conj_id` flow),
//! where a cross product would need N × M × P. P counts prefix-cover entries: a port range
//! becomes several masked matches. Two more flows are part of the encoding: a rule left with one
//! dimension gets a match-all `ip` clause, and a rule has metric-table flows (two for an Allow rule:
//! new and established packets; one for a Drop / Reject rule). The floor
//! here is that sum; `produced` is what the compiler actually emitted for the rule. Match flows
//! shared by several rules are installed once, so the node's distinct policy flows can be fewer
//! than the sum over rules.

use std::fmt;

use crate::datapath::compiler::{cookie, Compiled};
use crate::policy::resolved::{ResolvedPolicies, RuleAction};

/// One rule's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleStats {
    /// Rule id (as in cookies and registers).
    pub id: u32,
    /// `tier/policy/rule`.
    pub rule: String,
    /// Peer address matches (pod IPs, CIDRs after `except`, node IPs), over all parts.
    pub peers: usize,
    /// Applied-to pods on this node, over all parts.
    pub applied: usize,
    /// Services as written (entries of `ports` / `protocols`).
    pub services: usize,
    /// Service matches after range decomposition (prefix-cover entries), over all parts.
    pub service_matches: usize,
    /// Conjunctions the rule became (more than one when named ports resolve differently).
    pub parts: usize,
    /// N + M + P + 1 per conjunction, plus the match-all clause and metric flows the encoding
    /// needs.
    pub floor: usize,
    /// Flows the compiler emitted for the rule (shared match flows counted for every sharer).
    pub produced: usize,
}

/// Figures for a whole compile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stats {
    /// Per rule, in precedence order.
    pub rules: Vec<RuleStats>,
    /// Sum of the floors.
    pub floor: usize,
    /// Sum of the per-rule flows.
    pub produced: usize,
    /// Distinct policy flows installed (after merging shared match flows).
    pub installed_policy_flows: usize,
    /// Every flow of the node (pipeline, pods, policy, isolation).
    pub total_flows: usize,
    /// What N × M × P (+1) per conjunction would have cost without conjunctive matches.
    pub cross_product: u128,
}

/// Computes the figures of `compiled`, compiled from `policies`.
pub fn stats(policies: &ResolvedPolicies, compiled: &Compiled) -> Stats {
    let mut out = Stats {
        total_flows: compiled.flows.len(),
        installed_policy_flows: compiled
            .flows
            .iter()
            .filter(|f| cookie::split(f.cookie).1 == cookie::POLICY)
            .count(),
        ..Stats::default()
    };
    for (rule, c) in policies.rules.iter().zip(&compiled.rules) {
        let mut r = RuleStats {
            id: c.id,
            rule: c.rule.to_string(),
            peers: 0,
            applied: 0,
            services: rule.services.as_ref().map_or(0, Vec::len),
            service_matches: 0,
            parts: c.dims.len(),
            floor: 0,
            produced: c.flows,
        };
        for &(n, m, p) in &c.dims {
            r.peers += n.unwrap_or(0);
            r.applied += m;
            r.service_matches += p.unwrap_or(0);
            // A dimension with no entries never matches: the part emits nothing.
            if m == 0 || n == Some(0) || p == Some(0) {
                continue;
            }
            let (n, p) = (n.unwrap_or(0), p.unwrap_or(0));
            let single = n == 0 && p == 0;
            r.floor += n + m + p + 1 + usize::from(single);
            out.cross_product += (n.max(1) as u128) * (m as u128) * (p.max(1) as u128) + 1;
        }
        // Metric-table flows: an Allow rule counts new and established packets, a Drop /
        // Reject rule its denied ones.
        let metric = match rule.action {
            RuleAction::Allow => 2,
            RuleAction::Drop | RuleAction::Reject => 1,
            RuleAction::Pass => 0,
        };
        r.floor += metric;
        out.cross_product += metric as u128;
        out.floor += r.floor;
        out.produced += r.produced;
        out.rules.push(r);
    }
    out
}

impl fmt::Display for Stats {
    /// A table, one line per rule, then the totals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:>5} {:>6} {:>6} {:>4} {:>6} {:>5} {:>6} {:>8}  rule",
            "id", "peers", "pods", "svc", "svc-pc", "parts", "floor", "produced"
        )?;
        for r in &self.rules {
            writeln!(
                f,
                "{:>5} {:>6} {:>6} {:>4} {:>6} {:>5} {:>6} {:>8}  {}",
                r.id,
                r.peers,
                r.applied,
                r.services,
                r.service_matches,
                r.parts,
                r.floor,
                r.produced,
                r.rule
            )?;
        }
        writeln!(
            f,
            "total: {} rules, floor {}, produced {} ({} distinct policy flows after sharing; \
             cross product would be {}); {} flows on the node",
            self.rules.len(),
            self.floor,
            self.produced,
            self.installed_policy_flows,
            self.cross_product,
            self.total_flows
        )
    }
}
