//! What an installed flow is for: a cookie (and the agent's `agent.json`) back to tier, policy
//! and rule, pod, or pipeline — what `kakinectl dump-flows` prints next to every flow.
//!
//! Cookies are `round(16) | category(8) | reserved(8) | object(32)` ([`crate::datapath::compiler::cookie`]).

use openflow::FlowStats;

use crate::agent::state::AgentState;
use crate::datapath::compiler::cookie;
use crate::datapath::compiler::REMOTE_NODE_OBJECT;
use crate::datapath::pipeline;

/// The annotation of a flow with `c` as its cookie; `state` is the agent's `agent.json`.
///
/// Shapes: `pipeline`, `pod web/frontend`, `rule 3: Ingress Allow application/frontend-calls-api/allow-frontend`,
/// `K8s NetworkPolicy isolation (ingress)`, `node network: gateway and tunnel`,
/// `node network: routes to remote node 2` (its position in the node network, from 1), `not kakine's (cookie category 0)`, with
/// ` [stale round N]` appended when the round is not the agent's current one.
pub fn annotate(c: u64, state: Option<&AgentState>) -> String {
    let (round, category, object) = cookie::split(c);
    let mut s = match category {
        cookie::PIPELINE => "pipeline".to_string(),
        cookie::POD => match state.and_then(|s| s.pods.iter().find(|p| p.ofport == object)) {
            Some(p) => format!("pod {} ({})", p.pod, p.ip),
            None => format!("pod on port {object}"),
        },
        cookie::POLICY => match state.and_then(|s| s.rules.iter().find(|r| r.id == object)) {
            Some(r) => format!(
                "rule {}: {} {} {}/{}/{}",
                r.id, r.direction, r.action, r.tier, r.policy, r.rule
            ),
            None => format!("rule {object} (unknown to agent.json)"),
        },
        cookie::ISOLATION => format!(
            "K8s NetworkPolicy isolation ({})",
            if object == 1 { "egress" } else { "ingress" }
        ),
        cookie::NETWORK if object == 0 => "node network: gateway and tunnel".to_string(),
        cookie::NETWORK if object & REMOTE_NODE_OBJECT != 0 => format!(
            "node network: routes to remote node {}",
            object & !REMOTE_NODE_OBJECT
        ),
        cookie::NETWORK => match state.and_then(|s| s.pods.iter().find(|p| p.ofport == object)) {
            Some(p) => format!("node network: pod {} ({})", p.pod, p.ip),
            None => format!("node network: pod on port {object}"),
        },
        other => format!("not kakine's (cookie category {other})"),
    };
    if let Some(st) = state {
        if round != st.round && category != 0 {
            s.push_str(&format!(" [stale round {round}]"));
        }
    }
    s
}

/// One `dump-flows` line: the flow in `ovs-ofctl dump-flows --names` syntax with its counters,
/// then `  # ` and its [`annotate`] text.
pub fn line(f: &FlowStats, state: Option<&AgentState>) -> String {
    let text = f.to_flow_mod().to_string();
    let name = pipeline::TABLES
        .get(usize::from(f.table_id))
        .map(|t| t.name)
        .unwrap_or("?");
    // Our Display omits `table=0`; print every table by name, as `--names` does.
    let body = match text.split_once(&format!("table={}, ", f.table_id)) {
        Some((head, tail)) => format!("{head}table={name}, {tail}"),
        None => match text.split_once("priority=") {
            Some((head, tail)) => format!("{head}table={name}, priority={tail}"),
            None => format!("table={name}, {text}"),
        },
    };
    let body = match body.split_once("priority=") {
        Some((head, tail)) => format!(
            "{head}n_packets={}, n_bytes={}, priority={tail}",
            f.packet_count, f.byte_count
        ),
        None => body,
    };
    format!("{body}  # {}", annotate(f.cookie, state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::state::{PodEntry, RuleEntry};

    #[test]
    fn cookies_map_back_to_rules_pods_and_rounds() {
        let st = AgentState {
            bridge: "br-int".into(),
            round: 2,
            rules: vec![RuleEntry {
                id: 7,
                kind: "ClusterNetworkPolicy".into(),
                tier: "application".into(),
                policy: "p".into(),
                rule: "r".into(),
                direction: "Ingress".into(),
                action: "Allow".into(),
                staged: false,
            }],
            pods: vec![PodEntry {
                ofport: 3,
                pod: "web/frontend".into(),
                ip: "10.0.0.3".into(),
            }],
        };
        let s = Some(&st);
        assert_eq!(
            annotate(cookie::make(2, cookie::POLICY, 7), s),
            "rule 7: Ingress Allow application/p/r"
        );
        assert_eq!(
            annotate(cookie::make(1, cookie::POD, 3), s),
            "pod web/frontend (10.0.0.3) [stale round 1]"
        );
        assert_eq!(
            annotate(cookie::make(2, cookie::PIPELINE, 0), s),
            "pipeline"
        );
        assert_eq!(annotate(0, s), "not kakine's (cookie category 0)");
        assert_eq!(
            annotate(cookie::make(2, cookie::NETWORK, 0), s),
            "node network: gateway and tunnel"
        );
        assert_eq!(
            annotate(cookie::make(2, cookie::NETWORK, 3), s),
            "node network: pod web/frontend (10.0.0.3)"
        );
        let route = crate::datapath::compiler::remote_node_object(2);
        assert_eq!(
            annotate(cookie::make(2, cookie::NETWORK, route), s),
            "node network: routes to remote node 3"
        );
        assert_eq!(
            annotate(cookie::make(2, cookie::POLICY, 9), None),
            "rule 9 (unknown to agent.json)"
        );
    }
}
