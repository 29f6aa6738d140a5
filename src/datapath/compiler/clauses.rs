//! Clause builders and the actions of a rule: services to port-range prefix covers, ipBlocks to
//! set differences, the metric tables' flows and the packet-in actions of logged rules.

use super::base::*;
use super::ipv6::{ipv6, Family, IPPROTO_ICMPV6};
use super::rules::Clause;
use super::*;

/// The flows of a services clause: per service, the protocol and the prefix covers of its
/// destination range × its source range (`tp_dst` / `tp_src` masked matches); ICMP type and
/// code as `icmp_type` / `icmp_code` (in IPv6, ICMPv6's `icmpv6_type` / `icmpv6_code`, as
/// Antrea matches an `icmp` protocol there). Named ports must be resolved before.
pub(super) fn service_clause(
    services: impl IntoIterator<Item = Service>,
    family: Family,
) -> Clause {
    let mut set = BTreeSet::new();
    for s in services {
        let proto_field = MatchField::IpProto(s.protocol.number());
        let (lo, hi) = match s.port {
            PortMatch::Any => (0, u16::MAX),
            PortMatch::Range(lo, hi) => (lo, hi),
            PortMatch::Named(_) => continue,
            PortMatch::Icmp {
                icmp_type,
                icmp_code,
            } => {
                let fields = match family {
                    Family::V4 => {
                        let mut fields = vec![proto_field];
                        fields.extend(icmp_type.map(MatchField::IcmpType));
                        fields.extend(icmp_code.map(MatchField::IcmpCode));
                        fields
                    }
                    Family::V6 => {
                        let mut fields = vec![MatchField::IpProto(IPPROTO_ICMPV6)];
                        fields.extend(icmp_type.map(MatchField::Icmpv6Type));
                        fields.extend(icmp_code.map(MatchField::Icmpv6Code));
                        fields
                    }
                };
                set.insert(fields);
                continue;
            }
        };
        let (src_lo, src_hi) = s.source.unwrap_or((0, u16::MAX));
        for (value, mask) in port_range_masks(lo, hi) {
            for (src_value, src_mask) in port_range_masks(src_lo, src_hi) {
                let mut fields = vec![proto_field.clone()];
                fields.extend(port_field(s.protocol, false, value, mask));
                fields.extend(port_field(s.protocol, true, src_value, src_mask));
                set.insert(fields);
            }
        }
    }
    set.into_iter().collect()
}

/// A masked `tp_dst` (or, with `source`, `tp_src`) match; `None` for the full range.
pub(super) fn port_field(
    protocol: Protocol,
    source: bool,
    value: u16,
    mask: u16,
) -> Option<MatchField> {
    let mask = match mask {
        0 => return None,
        u16::MAX => None,
        m => Some(m),
    };
    Some(match (protocol, source) {
        (Protocol::Tcp, false) => MatchField::TcpDst(value, mask),
        (Protocol::Udp, false) => MatchField::UdpDst(value, mask),
        (Protocol::Sctp, false) => MatchField::SctpDst(value, mask),
        (Protocol::Tcp, true) => MatchField::TcpSrc(value, mask),
        (Protocol::Udp, true) => MatchField::UdpSrc(value, mask),
        (Protocol::Sctp, true) => MatchField::SctpSrc(value, mask),
        (Protocol::Icmp, _) => return None,
    })
}

/// The table a rule's flows live in.
pub(super) fn rule_table(rule: &ResolvedRule) -> Result<TableRef, PipelineError> {
    let name = match (rule.direction, rule.stage) {
        (Direction::Egress, Stage::Tier(_)) => "EgressTier",
        (Direction::Egress, Stage::K8s) => "EgressK8s",
        (Direction::Egress, Stage::Baseline | Stage::AdminBaseline) => "EgressDefault",
        (Direction::Ingress, Stage::Tier(_)) => "IngressTier",
        (Direction::Ingress, Stage::K8s) => "IngressK8s",
        (Direction::Ingress, Stage::Baseline | Stage::AdminBaseline) => "IngressDefault",
    };
    t(name)
}

pub(super) fn metric_table(dir: Direction) -> Result<TableRef, PipelineError> {
    t(match dir {
        Direction::Egress => "EgressMetric",
        Direction::Ingress => "IngressMetric",
    })
}

/// A metered `controller(max_len=160,userdata=01.<operation>.<rule id>,meter_id=<meter>)`
/// action: the packet's headers only ([`packet_in::MAX_LEN`]).
pub(super) fn to_agent(operation: u8, rule_id: u32, meter: u32) -> Action {
    Action::Controller2 {
        max_len: packet_in::MAX_LEN,
        reason: 1,
        id: 0,
        userdata: packet_in::userdata(operation, rule_id),
        pause: false,
        meter_id: Some(meter),
    }
}

/// The metric-table flows of a rule, which count its packets, bytes and sessions (read back by
/// `crate::agent::observe::rule_stats`):
/// - Allow: its new connections (`reg5`/`reg6` = rule id, `+new+trk`; with `enableLogging` a
///   metered copy goes to the agent, `controller(max_len=160,userdata=01.01.<id>,meter_id=1)`, and the
///   packet continues) and its established packets (`-new+trk`, the rule id in `ct_label`);
/// - Drop: its packets end here (a logged rule's go to the agent first);
/// - Reject: its packets go to the agent, `controller(max_len=160,userdata=01.02.<id>,meter_id=2)`
///   (`01.03` when logged), which answers with RST / ICMP;
/// - Pass: none (a Pass decides nothing).
///
/// With `v6`, an Allow rule's two flows come again for IPv6.
pub(super) fn metric_flows(
    rule: &ResolvedRule,
    id: u32,
    v6: bool,
) -> Result<Vec<FlowMod>, PipelineError> {
    if rule.staged {
        return Ok(vec![]); // counted by its own conj_id flow: it decides nothing
    }
    let metric = metric_table(rule.direction)?;
    let log = if rule.enable_logging {
        packet_in::OP_LOG
    } else {
        0
    };
    let mut disposition = regs::DENY_MARK.match_value(1);
    let actions = match rule.action {
        RuleAction::Pass => return Ok(vec![]),
        RuleAction::Allow => {
            let (allow_reg, label_ofs) = match rule.direction {
                Direction::Egress => (regs::EGRESS_RULE, regs::CT_LABEL_EGRESS_OFS),
                Direction::Ingress => (regs::INGRESS_RULE, regs::CT_LABEL_INGRESS_OFS),
            };
            let next = metric.goto(metric.table.next[0])?;
            let (trk, new) = (ct_state::TRK, ct_state::NEW);
            let mut first = vec![];
            if log != 0 {
                first.push(apply(vec![to_agent(log, id, meters::LOG)]));
            }
            first.push(next.clone());
            let label = u128::from(id) << label_ofs;
            let label_mask = u128::from(u32::MAX) << label_ofs;
            let families = if v6 { vec![ip(), ipv6()] } else { vec![ip()] };
            let mut flows = Vec::new();
            for eth in families {
                flows.push(metric.flow(
                    prio::NORMAL,
                    Match::from(vec![
                        ct(new | trk, new | trk),
                        eth.clone(),
                        reg_match(allow_reg, id),
                    ]),
                    first.clone(),
                ));
                flows.push(metric.flow(
                    prio::NORMAL,
                    Match::from(vec![
                        ct(trk, new | trk),
                        eth,
                        MatchField::CtLabel(label, Some(label_mask)),
                    ]),
                    vec![next.clone()],
                ));
            }
            return Ok(flows);
        }
        RuleAction::Drop if log != 0 => vec![apply(vec![to_agent(log, id, meters::LOG)])],
        RuleAction::Drop => vec![],
        RuleAction::Reject => {
            let (v, m) = regs::REJECT_MARK.match_value(1);
            disposition = (disposition.0 | v, disposition.1 | m);
            vec![apply(vec![to_agent(
                log | packet_in::OP_REJECT,
                id,
                meters::REJECT,
            )])]
        }
    };
    Ok(vec![metric.flow(
        prio::NORMAL,
        Match::from(vec![
            MatchField::Reg(regs::DENY_MARK.reg, disposition.0, Some(disposition.1)),
            reg_match(regs::DENY_RULE, id),
        ]),
        actions,
    )])
}

/// The instructions of a rule's `conj_id` flow.
pub(super) fn rule_actions(
    rule: &ResolvedRule,
    id: u32,
    table: TableRef,
) -> Result<Vec<Instruction>, PipelineError> {
    let metric = match rule.direction {
        Direction::Egress => "EgressMetric",
        Direction::Ingress => "IngressMetric",
    };
    let allow_reg = match rule.direction {
        Direction::Egress => regs::EGRESS_RULE,
        Direction::Ingress => regs::INGRESS_RULE,
    };
    if rule.staged {
        // Mark the packet, copy it to the agent when logged, and look the table up again: the
        // staged rule's flows match only an unmarked packet, so the lookup finds what the
        // enforced rules decide, as if the staged rule were absent.
        let mut actions = vec![load(staged_reg(rule.direction), id)];
        if rule.enable_logging {
            actions.push(to_agent(
                packet_in::OP_LOG | packet_in::OP_STAGED,
                id,
                meters::LOG,
            ));
        }
        actions.push(Action::Resubmit { table: table.id });
        return Ok(vec![apply(actions)]);
    }
    Ok(match rule.action {
        RuleAction::Allow => vec![apply(vec![load(allow_reg, id)]), table.goto(metric)?],
        RuleAction::Drop => vec![
            apply(vec![load(regs::DENY_MARK, 1), load(regs::DENY_RULE, id)]),
            table.goto(metric)?,
        ],
        RuleAction::Reject => vec![
            apply(vec![
                load(regs::DENY_MARK, 1),
                load(regs::REJECT_MARK, 1),
                load(regs::DENY_RULE, id),
            ]),
            table.goto(metric)?,
        ],
        // Out of the baseline stage, a Pass skips to K8s NetworkPolicy; inside it (a v1alpha2
        // Baseline-tier Pass), past the rest of the stage to the default allow.
        RuleAction::Pass => match rule.stage {
            Stage::Baseline | Stage::AdminBaseline => vec![table.goto(metric)?],
            Stage::Tier(_) | Stage::K8s => vec![table.goto(match rule.direction {
                Direction::Egress => "EgressK8s",
                Direction::Ingress => "IngressK8s",
            })?],
        },
    })
}

/// The register marking a staged rule's hit in `direction`.
pub(super) fn staged_reg(direction: Direction) -> regs::RegField {
    match direction {
        Direction::Egress => regs::EGRESS_STAGED_RULE,
        Direction::Ingress => regs::INGRESS_STAGED_RULE,
    }
}

/// `net` minus every `except` network, as a minimal list of disjoint CIDRs (IPv4 or IPv6; an
/// exception of the other family takes nothing away).
pub fn cidr_minus(net: IpNet, except: &[IpNet]) -> Vec<IpNet> {
    if except.iter().any(|e| e.contains(&net)) {
        return vec![];
    }
    if !except.iter().any(|e| net.contains(e)) {
        return vec![net];
    }
    match net.subnets(net.prefix_len() + 1) {
        Ok(halves) => halves.flat_map(|h| cidr_minus(h, except)).collect(),
        Err(_) => vec![],
    }
}

/// A minimal set of (value, mask) pairs covering `lo..=hi` (OVS bitwise port match). A full
/// range gives `[(0, 0)]`; a single port gives `[(port, 0xffff)]`.
pub fn port_range_masks(lo: u16, hi: u16) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    let (mut start, end) = (u32::from(lo), u32::from(hi));
    while start <= end {
        // The largest aligned block starting at `start` that stays inside the range.
        let mut size = if start == 0 {
            1u32 << 16
        } else {
            1u32 << start.trailing_zeros()
        };
        while start + size - 1 > end {
            size >>= 1;
        }
        out.push((start as u16, !((size - 1) as u16)));
        start += size;
    }
    out
}
