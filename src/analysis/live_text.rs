//! The text and JSON of `kakinectl explain --live` ([`super::live`]): the offline walkthrough,
//! the node's traces and audit lines, then both answers side by side.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::analysis::live::LiveAnswer;
use crate::analysis::walk::{rule_json, Case, Walkthrough};
use crate::policy::resolved::RuleRef;

impl LiveAnswer {
    /// `{verdict, policy_verdict, egress_rule, ingress_rule, ingress_here, hop,
    /// forwarding_drop: null | {node, table, table_miss, at_host, why}, traces: [{node, command,
    /// actions, flows: [{table, cookie, what}]}], audit: [line], audit_note}` (rules as in the
    /// offline JSON; `verdict` is what happened to the packet, `policy_verdict` what the
    /// policies decided: allow when it was dropped by forwarding).
    pub fn to_json(&self) -> Value {
        json!({
            "verdict": self.decision.verdict.to_string(),
            "policy_verdict": self.policy_verdict().to_string(),
            "forwarding_drop": self.forwarding.as_ref().map(|f| json!({
                "node": f.node,
                "table": f.table,
                "table_miss": f.table_miss,
                "at_host": f.at_host,
                "why": f.why,
            })),
            "egress_rule": rule_json(&self.decision.egress),
            "ingress_rule": rule_json(&self.decision.ingress),
            "ingress_here": self.ingress_here,
            "hop": self.hop,
            "traces": self.traces.iter().map(|t| json!({
                "node": t.node,
                "command": t.command,
                "actions": t.actions,
                "flows": t.flows.iter().map(|f| json!({
                    "table": f.table,
                    "cookie": format!("{:#x}", f.cookie),
                    "what": f.what,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "audit": self.audit,
            "audit_note": self.audit_note,
        })
    }
}

/// The text of `explain --live`: the offline walkthrough, the node's trace (command, datapath
/// actions, the rule flows hit, audit lines), then both answers side by side and the verdict
/// of the comparison (`AGREE`, or `DISAGREE` with each difference).
pub fn side_by_side(
    offline: &Walkthrough,
    case: &Case,
    live: &LiveAnswer,
    differ: &[String],
    offline_source: &str,
    node: &str,
) -> String {
    let mut out = offline.to_string();
    let _ = writeln!(
        out,
        "\non the node ({node}): ofproto/trace of the first packet of a new connection"
    );
    for (i, t) in live.traces.iter().enumerate() {
        if i > 0 {
            let _ = writeln!(
                out,
                "  across the tunnel, on the server's node ({}):",
                t.node
            );
        }
        let _ = writeln!(out, "  $ {}", t.command);
        let _ = writeln!(out, "  datapath actions: {}", t.actions);
        if t.flows.is_empty() {
            let _ = writeln!(out, "  no rule flow hit");
        }
        for f in &t.flows {
            let _ = writeln!(out, "  {:<16} cookie {:#x}  {}", f.table, f.cookie, f.what);
        }
    }
    let _ = writeln!(out, "  => {}", live.hop);
    if !live.ingress_here {
        let _ = writeln!(
            out,
            "  (the server is not on this node: its ingress is decided on its own node; --server-node-dir traces it there)"
        );
    }
    match (&live.audit_note, live.audit.is_empty()) {
        (Some(note), _) => {
            let _ = writeln!(out, "  audit log: {note}");
        }
        (None, true) => {
            let _ = writeln!(out, "  audit log: no line of this connection");
        }
        (None, false) => {
            let _ = writeln!(
                out,
                "  audit log ({} newest lines of this connection):",
                live.audit.len()
            );
            for l in &live.audit {
                let _ = writeln!(out, "    {l}");
            }
        }
    }
    let rule = |r: &Option<RuleRef>| {
        r.as_ref()
            .map_or_else(|| "none (default allow)".to_string(), |r| r.to_string())
    };
    let width = [
        offline_source.len() + 10,
        rule(&case.decision.egress).len(),
        rule(&case.decision.ingress).len(),
    ]
    .into_iter()
    .max()
    .unwrap_or(0)
        + 2;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<14}{:<width$}node",
        "",
        format!("offline ({offline_source})")
    );
    let node_verdict = match &live.forwarding {
        Some(f) if f.at_host => format!(
            "{} by policy, then sent to the host ({})",
            live.policy_verdict(),
            f.table
        ),
        Some(f) => format!(
            "{} by policy, then dropped by forwarding ({})",
            live.policy_verdict(),
            f.table
        ),
        None => live.decision.verdict.to_string(),
    };
    let _ = writeln!(
        out,
        "{:<14}{:<width$}{node_verdict}",
        "verdict",
        case.decision.verdict.to_string(),
    );
    let _ = writeln!(
        out,
        "{:<14}{:<width$}{}",
        "egress rule",
        rule(&case.decision.egress),
        rule(&live.decision.egress)
    );
    let _ = writeln!(
        out,
        "{:<14}{:<width$}{}",
        "ingress rule",
        rule(&case.decision.ingress),
        if live.ingress_here {
            rule(&live.decision.ingress)
        } else {
            "(decided on the server's node)".to_string()
        }
    );
    if differ.is_empty() {
        let _ = writeln!(out, "AGREE: the node decides as the offline answer says");
    } else {
        let _ = writeln!(
            out,
            "DISAGREE: the node does not do what the offline answer says (the flows above are what it does):"
        );
        for d in differ {
            let _ = writeln!(out, "  {d}");
        }
    }
    if let Some(f) = live.forwarding.as_ref().filter(|f| f.at_host) {
        let _ = writeln!(
            out,
            "FORWARDING DROP: no policy denies the packet; {} sends it out of its gateway port ({}) to the host, not to the server's node: {}",
            f.node, f.table, f.why
        );
    } else if let Some(f) = &live.forwarding {
        let _ = writeln!(
            out,
            "FORWARDING DROP: no policy denies the packet; the datapath of {} drops it in table {}{}: {}",
            f.node,
            f.table,
            if f.table_miss { " (no flow matches)" } else { "" },
            f.why
        );
    }
    out
}
