//! `Match::validate` / `FlowMod::validate` against our own decoder: the same flow, emitted, must
//! be refused with the same `MatchError` (the prerequisite and duplicate rules are one copy,
//! `oxm::walk::Prereqs`), and the fixed flow must decode. `tests/validate_ovs.rs` holds the
//! same cases against a real ovs-vswitchd.

use openflow::flow::{MacAddr, MatchField as M};
use openflow::{Error, FlowMod, InvalidFlowMod, Match, MatchError, Message};

mod validate_cases;
use validate_cases::*;

/// The match error our decoder gives for the flow's bytes, if any.
fn decoded(f: &FlowMod) -> Result<FlowMod, MatchError> {
    match Message::decode(&Message::FlowMod(f.clone()).encode(1)) {
        Ok((_, Message::FlowMod(d))) => Ok(d),
        Err(Error::BadMatch { kind, .. }) => Err(kind),
        other => panic!("{f}: {other:?}"),
    }
}

#[test]
fn a_missing_prerequisite_or_duplicate_is_refused_like_the_decoder_refuses_its_bytes() {
    let all: Vec<Case> = [
        prerequisite_cases(),
        duplicate_cases(),
        decoder_only_cases(),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(all.len() >= 40, "{} cases", all.len());
    for c in all {
        let InvalidFlowMod::Match(want) = &c.want else {
            panic!("{}: not a match case", c.bad)
        };
        assert_eq!(c.bad.r#match.validate().as_ref(), Err(want), "{}", c.bad);
        assert_eq!(c.bad.validate().as_ref(), Err(&c.want), "{}", c.bad);
        assert_eq!(decoded(&c.bad).as_ref().err(), Some(want), "{}", c.bad);
        assert_eq!(c.good.validate(), Ok(()), "{}", c.good);
        assert_eq!(decoded(&c.good), Ok(c.good.canonical()), "{}", c.good);
    }
}

#[test]
fn values_ct_families_and_instructions_are_refused_and_the_fixed_flows_pass() {
    let all: Vec<Case> = [value_cases(), family_cases(), flow_mod_cases()]
        .into_iter()
        .flatten()
        .collect();
    for c in all {
        assert_eq!(c.bad.validate().as_ref(), Err(&c.want), "{}", c.bad);
        assert_eq!(c.good.validate(), Ok(()), "{}", c.good);
    }
}

#[test]
fn a_mask_is_judged_as_emit_writes_it() {
    // An all-zero mask drops the field, prerequisites and all; value bits outside a mask are
    // cleared on emit, so neither is an error.
    let zero = with_match(vec![
        M::TcpDst(80, Some(0)),
        M::Reg(1, 5, Some(0)),
        M::Reg(1, 3, None),
    ]);
    assert_eq!(zero.validate(), Ok(()));
    let outside = with_match(vec![M::Reg(1, 0xff, Some(0x0f))]);
    assert_eq!(outside.validate(), Ok(()));
    // An all-ones mask makes the field exact, and its value must then fit.
    let exact = with_match(vec![M::VlanVid(0xf005, Some(0xffff))]);
    assert_eq!(
        exact.validate(),
        Err(InvalidFlowMod::Match(MatchError::BadValue("dl_vlan")))
    );
    // A prerequisite given with a mask counts only where OVS's `is_ct_valid` says so.
    let masked_trk = with_match(vec![M::CtState(0x22, 0x02), M::CtTpSrc(80, None)]);
    assert_eq!(masked_trk.validate(), Ok(()));
}

#[test]
fn slots_the_wire_cannot_name_are_refused_before_emit_would_misplace_them() {
    let reg = Match::from(vec![M::Reg(16, 1, None)]);
    assert_eq!(reg.validate(), Err(MatchError::BadValue("reg")));
    let tun = |idx, len| {
        Match::from(vec![M::TunMetadata {
            idx,
            len,
            value: 1,
            mask: None,
        }])
    };
    assert_eq!(
        tun(64, 1).validate(),
        Err(MatchError::BadValue("tun_metadata"))
    );
    assert_eq!(tun(3, 17).validate(), Err(MatchError::BadLen(0x0001_5611)));
    assert_eq!(
        Match::from(vec![M::TunMetadata {
            idx: 3,
            len: 1,
            value: 0x100,
            mask: None
        }])
        .validate(),
        Err(MatchError::BadValue("tun_metadata"))
    );
}

#[test]
fn every_golden_corpus_flow_is_valid() {
    let text = include_str!("golden/flows.golden");
    let mut n = 0;
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("flow: ") {
            let fm: FlowMod = f.parse().unwrap();
            assert_eq!(fm.validate(), Ok(()), "{f}");
            n += 1;
        }
    }
    assert!(n >= 40, "{n} flows");
}

#[test]
fn an_error_names_the_field_and_what_it_needs() {
    let e = flow("ip,tcp_dst=80 actions=drop").validate().unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad match: tp_dst needs tcp or tcp6 (ip_proto=6) first (OFPBMC_BAD_PREREQ)"
    );
    assert_eq!(e.code().and_then(|c| c.name()), Some("OFPBMC_BAD_PREREQ"));
    let mac: MacAddr = "00:11:22:33:44:55".parse().unwrap();
    let e = with_match(vec![M::EthType(0x86dd), M::NdSll(mac, None)]).validate();
    assert_eq!(
        e.map_err(|e| e.to_string()),
        Err("bad match: nd_sll needs icmp6 with icmpv6_type=135 first (OFPBMC_BAD_PREREQ)".into())
    );
}

#[test]
fn experimenter_and_unknown_instruction_types_are_checked_for_duplicates_without_overflow() {
    use openflow::flow::Instruction;
    let exp = || Instruction::Experimenter {
        experimenter: 0x2320,
        data: vec![0; 4],
    };
    let unknown = |kind| Instruction::Unknown {
        kind,
        body: vec![0; 4],
    };
    let with = |insts| FlowMod::add(0, 1, Match::from(vec![]), insts);
    // Type 0xffff and 0x20 are past any small bit set (a `1u8 << kind` panicked in debug).
    assert_eq!(with(vec![exp(), unknown(0x20)]).validate(), Ok(()));
    assert_eq!(
        with(vec![exp(), unknown(0x20), exp()]).validate(),
        Err(InvalidFlowMod::DupInstruction("experimenter"))
    );
    assert_eq!(
        with(vec![unknown(7), unknown(7)]).validate(),
        Err(InvalidFlowMod::DupInstruction("unknown"))
    );
}
