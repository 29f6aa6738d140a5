//! The fixed flows of the pipeline and the per-pod flows, with the small flow builders the
//! other parts share.

use super::*;

pub(super) fn with_cookie(mut f: FlowMod, round: u16, category: u8, object: u32) -> FlowMod {
    f.cookie = cookie::make(round, category, object);
    f
}

pub(super) fn t(name: &str) -> Result<TableRef, PipelineError> {
    pipeline::table(name)
}

pub(super) fn ip() -> MatchField {
    MatchField::EthType(ETH_TYPE_IP)
}

pub(super) fn ct(value: u32, mask: u32) -> MatchField {
    MatchField::CtState(value, mask)
}

pub(super) fn load(field: regs::RegField, value: u32) -> Action {
    Action::Load {
        field: field.field(),
        ofs: field.ofs,
        n_bits: field.n_bits,
        value: value.into(),
    }
}

pub(super) fn reg_match(field: regs::RegField, value: u32) -> MatchField {
    let (v, m) = field.match_value(value);
    MatchField::Reg(field.reg, v, if m == u32::MAX { None } else { Some(m) })
}

/// The fixed flows of the pipeline: miss flows, conntrack, commit, output.
pub(super) fn base_flows(flows: &mut Vec<FlowMod>, round: u16) -> Result<(), CompileError> {
    let mut push = |f: FlowMod| flows.push(with_cookie(f, round, cookie::PIPELINE, 0));
    for (i, _) in pipeline::TABLES.iter().enumerate() {
        let tr = t(pipeline::TABLES[i].name)?;
        if let Some(f) = tr.miss_flow()? {
            push(f);
        }
    }
    push(switched(vec![MatchField::EthType(ETH_TYPE_ARP)])?);

    conntrack_flows(ip())?.into_iter().for_each(&mut push);
    established_ingress_flows(ip())?
        .into_iter()
        .for_each(&mut push);

    for (name, _) in [("EgressMetric", ()), ("IngressMetric", ())] {
        let m = t(name)?;
        let (v, mask) = regs::DENY_MARK.match_value(1);
        push(m.flow(
            prio::LOW,
            Match::from(vec![MatchField::Reg(0, v, Some(mask))]),
            vec![],
        ));
    }

    push(commit_flow(ip())?);

    let output = t("Output")?;
    let target = regs::TARGET_OFPORT;
    push(output.flow(
        prio::LOW,
        Match::default(),
        vec![apply(vec![Action::OutputReg {
            field: target.field(),
            ofs: target.ofs,
            n_bits: target.n_bits,
        }])],
    ));
    Ok(())
}

/// An ArpResponder flow: what `fields` match is switched with the NORMAL action.
pub(super) fn switched(fields: Vec<MatchField>) -> Result<FlowMod, PipelineError> {
    Ok(t("ArpResponder")?.flow(
        prio::NORMAL,
        Match::from(fields),
        vec![apply(vec![Action::Output {
            port: OFPP_NORMAL,
            max_len: 0,
        }])],
    ))
}

/// The conntrack lookup and state flows of one family (`eth`: `ip` or `ipv6`): ct(zone,
/// table=ConntrackState); `+inv` drops, `-new+est` / `-new+rel` skip policy, `+new` goes to
/// EgressTier.
pub(super) fn conntrack_flows(eth: MatchField) -> Result<Vec<FlowMod>, PipelineError> {
    let zone = t("ConntrackZone")?;
    let state = t("ConntrackState")?;
    let (inv, trk, new, est, rel) = (
        ct_state::INV,
        ct_state::TRK,
        ct_state::NEW,
        ct_state::EST,
        ct_state::REL,
    );
    let mut out = vec![
        zone.flow(
            prio::NORMAL,
            Match::from(vec![eth.clone()]),
            vec![apply(vec![Action::Ct {
                commit: false,
                zone: regs::CT_ZONE,
                table: Some(zone.next_id("ConntrackState")?),
                exec: vec![],
            }])],
        ),
        state.flow(
            prio::NORMAL,
            Match::from(vec![ct(inv | trk, inv | trk), eth.clone()]),
            vec![],
        ),
    ];
    for bit in [est, rel] {
        out.push(state.flow(
            prio::LOW,
            Match::from(vec![ct(bit | trk, new | bit | trk), eth.clone()]),
            vec![state.goto("EgressMetric")?],
        ));
    }
    out.push(state.flow(
        prio::LOW - 1,
        Match::from(vec![ct(new | trk, new | trk), eth]),
        vec![state.goto("EgressTier")?],
    ));
    Ok(out)
}

/// IngressClassifier's shortcut of one family: established and related packets skip ingress
/// policy.
pub(super) fn established_ingress_flows(eth: MatchField) -> Result<Vec<FlowMod>, PipelineError> {
    let icls = t("IngressClassifier")?;
    let (trk, new) = (ct_state::TRK, ct_state::NEW);
    [ct_state::EST, ct_state::REL]
        .into_iter()
        .map(|bit| {
            Ok(icls.flow(
                prio::NORMAL,
                Match::from(vec![ct(bit | trk, new | bit | trk), eth.clone()]),
                vec![icls.goto("IngressMetric")?],
            ))
        })
        .collect()
}

/// ConntrackCommit's flow of one family: `+new+trk` is committed with both rule ids in
/// ct_label.
pub(super) fn commit_flow(eth: MatchField) -> Result<FlowMod, PipelineError> {
    let commit = t("ConntrackCommit")?;
    let (trk, new) = (ct_state::TRK, ct_state::NEW);
    let label_move = |reg: regs::RegField, ofs: u16| Action::Move {
        src: reg.field(),
        src_ofs: 0,
        dst: Field::CtLabel,
        dst_ofs: ofs,
        n_bits: 32,
    };
    Ok(commit.flow(
        prio::NORMAL,
        Match::from(vec![ct(new | trk, new | trk), eth]),
        vec![
            apply(vec![Action::Ct {
                commit: true,
                zone: regs::CT_ZONE,
                table: None,
                exec: vec![
                    label_move(regs::INGRESS_RULE, regs::CT_LABEL_INGRESS_OFS),
                    label_move(regs::EGRESS_RULE, regs::CT_LABEL_EGRESS_OFS),
                ],
            }]),
            commit.goto("Output")?,
        ],
    ))
}

/// Per-pod flows: classification, ARP and IP anti-spoofing, L2 forwarding.
pub(super) fn pod_flows(
    flows: &mut Vec<FlowMod>,
    local: &[LocalPod],
    round: u16,
) -> Result<(), CompileError> {
    let cls = t("Classifier")?;
    let arp_guard = t("ArpSpoofGuard")?;
    let guard = t("SpoofGuard")?;
    let l2 = t("L2Forwarding")?;
    for pod in local {
        // The object is the ofport: stable while the pod lives, so adding a pod leaves the
        // other pods' flows (and cookies) alone.
        let obj = pod.ofport;
        let mut push = |f: FlowMod| flows.push(with_cookie(f, round, cookie::POD, obj));
        let in_port = MatchField::InPort(pod.ofport);
        push(cls.flow(
            prio::NORMAL,
            Match::from(vec![in_port.clone(), MatchField::EthType(ETH_TYPE_ARP)]),
            vec![cls.goto("ArpSpoofGuard")?],
        ));
        push(cls.flow(
            prio::LOW,
            Match::from(vec![in_port.clone()]),
            vec![
                apply(vec![load(regs::PKT_SOURCE, regs::SOURCE_LOCAL_POD)]),
                cls.goto("SpoofGuard")?,
            ],
        ));
        push(arp_guard.flow(
            prio::NORMAL,
            Match::from(vec![
                in_port.clone(),
                MatchField::EthType(ETH_TYPE_ARP),
                MatchField::ArpSpa(pod.ip, None),
                MatchField::ArpSha(pod.mac, None),
            ]),
            vec![arp_guard.goto("ArpResponder")?],
        ));
        push(guard.flow(
            prio::NORMAL,
            Match::from(vec![
                in_port,
                MatchField::EthSrc(pod.mac, None),
                ip(),
                MatchField::Ipv4Src(pod.ip, None),
            ]),
            vec![guard.goto("ConntrackZone")?],
        ));
        push(l2.flow(
            prio::NORMAL,
            Match::from(vec![MatchField::EthDst(pod.mac, None)]),
            vec![
                apply(vec![load(regs::TARGET_OFPORT, pod.ofport)]),
                l2.goto("IngressClassifier")?,
            ],
        ));
    }
    Ok(())
}
