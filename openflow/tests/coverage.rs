//! Codec coverage beyond what `ovs-ofctl parse-flow` can produce (the golden corpus covers the
//! rest), checked against hand-assembled bytes:
//! - match fields OVS lacks, from the OF1.3 spec (§7.2.3.7 OXM_OF_IN_PHY_PORT 1,
//!   OXM_OF_PBB_ISID 37, OXM_OF_IPV6_EXTHDR 39), and NXM_NX_TCP_FLAGS (`meta-flow.h`), which OVS
//!   decodes as well as the ONF OXM it writes;
//! - unknown actions, and known actions naming fields outside the field table, decode to
//!   `Action::Raw` and re-emit byte for byte (rust-netlink's rule for unknown attributes);
//! - unknown match fields (`MatchField::Raw`) and experimenter or unknown instructions, which
//!   OVS refuses (`OFPBMC_BAD_FIELD`, `OFPBIC_BAD_EXPERIMENTER`, `OFPBIC_UNKNOWN_INST`), the same
//!   way: kept and re-emitted byte for byte, in their place.

use openflow::view::InstructionView;
use openflow::RawBytes;
use openflow::{
    Action, Error, FlowMod, FlowModView, Instruction, Match, MatchError, MatchField as M, Message,
};

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A FLOW_MOD (table 0, priority 0x8000, no instructions) around an OXM TLV list.
fn flow_mod(oxms: &str) -> Vec<u8> {
    let oxms = unhex(oxms);
    let mut m = vec![0, 1];
    m.extend_from_slice(&((4 + oxms.len()) as u16).to_be_bytes());
    m.extend_from_slice(&oxms);
    m.resize(m.len().div_ceil(8) * 8, 0);
    let mut b = unhex(
        "040e0000 00000001 0000000000000000 0000000000000000 0000000000008000 \
         ffffffff ffffffff ffffffff 00000000",
    );
    b.extend_from_slice(&m);
    let len = b.len() as u16;
    b[2..4].copy_from_slice(&len.to_be_bytes());
    b
}

fn both_ways(fields: Vec<M>, oxms: &str) {
    let fm = FlowMod::add(0, 0x8000, Match::from(fields.clone()), vec![]);
    let want = flow_mod(oxms);
    assert_eq!(Message::FlowMod(fm.clone()).encode(1), want, "{fields:?}");
    match Message::decode(&want) {
        Ok((1, Message::FlowMod(got))) => assert_eq!(got.r#match, fm.r#match.canonical()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn in_phy_port_follows_in_port() {
    both_ways(
        vec![M::InPhyPort(5), M::InPort(3)],
        "80000004 00000003 80000204 00000005",
    );
    let e = Message::decode(&flow_mod("80000204 00000005")).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BadMatch {
                kind: MatchError::BadPrereq {
                    field: "in_phy_port",
                    ..
                },
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn nxm_in_port_decodes_as_the_oxm_in_port_ovs_writes_back() {
    for (nxm, port) in [("00000002 0005", 5), ("00000002 fffe", 0xffff_fffe)] {
        let Ok((_, Message::FlowMod(fm))) = Message::decode(&flow_mod(nxm)) else {
            panic!("{nxm}");
        };
        assert_eq!(fm.r#match, Match::from(vec![M::InPort(port)]));
    }
    let dup = Message::decode(&flow_mod("00000002 0005 80000004 00000005")).unwrap_err();
    assert!(
        matches!(
            dup,
            Error::BadMatch {
                kind: MatchError::DupField("in_port"),
                ..
            }
        ),
        "{dup}"
    );
}

#[test]
fn pbb_isid_is_a_masked_24_bit_field() {
    both_ways(
        vec![M::EthType(0x88e7), M::PbbIsid(0x123456, None)],
        "80000a02 88e7 80004a03 123456",
    );
    both_ways(
        vec![M::EthType(0x88e7), M::PbbIsid(0x123456, Some(0xffff00))],
        "80000a02 88e7 80004b06 123400 ffff00",
    );
}

#[test]
fn ipv6_exthdr_needs_ipv6() {
    both_ways(
        vec![M::EthType(0x86dd), M::Ipv6Exthdr(0x4, Some(0x4))],
        "80000a02 86dd 80004f04 0004 0004",
    );
    let e = Message::decode(&flow_mod("80000a02 0800 80004f04 0004 0004")).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BadMatch {
                kind: MatchError::BadPrereq {
                    field: "ipv6_exthdr",
                    ..
                },
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn nicira_tcp_flags_decode_like_the_onf_oxm() {
    let nxm = flow_mod("80000a02 0800 80001401 06 00014504 0002 0012");
    let onf = flow_mod("80000a02 0800 80001401 06 ffff5508 4f4e4600 0002 0012");
    let (Ok((_, Message::FlowMod(a))), Ok((_, Message::FlowMod(b)))) =
        (Message::decode(&nxm), Message::decode(&onf))
    else {
        panic!("decode");
    };
    assert_eq!(a, b);
    assert!(a.r#match.fields().any(|f| f == M::TcpFlags(2, Some(0x12))));
    // Re-emitted as OVS writes OF1.3: the ONF experimenter OXM.
    assert_eq!(Message::FlowMod(a).encode(1), onf);
}

/// A [`M::Raw`] without experimenter id.
fn raw(class: u16, field: u8, value: &[u8], mask: Option<&[u8]>) -> M {
    M::Raw {
        class,
        field,
        experimenter: None,
        value: RawBytes::new(value).expect("at most 16 bytes"),
        mask: mask.map(|m| RawBytes::new(m).expect("at most 16 bytes")),
    }
}

/// Decoding `bytes` gives `fields` in this order, the view agrees, and encoding gives `bytes`.
fn kept_in_place(bytes: &[u8], fields: &[M]) {
    let Ok((1, Message::FlowMod(fm))) = Message::decode(bytes) else {
        panic!("decode {:?}", Message::decode(bytes))
    };
    assert_eq!(fm.r#match.to_vec(), fields);
    assert_eq!(Message::FlowMod(fm.clone()).encode(1), bytes);
    let (_, view) = FlowModView::parse(bytes).expect("view");
    assert_eq!(view.r#match.fields().collect::<Vec<_>>(), fields);
    assert_eq!(view.to_flow_mod().expect("owned"), fm);
}

#[test]
fn unknown_fields_decode_raw_in_their_place_and_re_emit_byte_for_byte() {
    let ip = M::EthType(0x0800);
    let tcp = M::IpProto(6);
    let cases = [
        // First, unmasked (class 0x7fff, field 0).
        (
            "7fff0004 00000005 80000a02 0800",
            vec![raw(0x7fff, 0, &[0, 0, 0, 5], None), ip.clone()],
        ),
        // Between a prerequisite and its dependant, masked (NXM_1 field 127).
        (
            "80000a02 0800 0001ff04 1200 ff00 80001401 06",
            vec![
                ip.clone(),
                raw(0x0001, 127, &[0x12, 0], Some(&[0xff, 0])),
                tcp.clone(),
            ],
        ),
        // Last (OpenFlow basic field 120), and as wide as a raw field may be (16 bytes).
        (
            "80000a02 0800 80001401 06 8000f010 000102030405060708090a0b0c0d0e0f",
            vec![
                ip.clone(),
                tcp.clone(),
                raw(0x8000, 120, &(0..16).collect::<Vec<u8>>(), None),
            ],
        ),
        // A mask is not normalised: all-zero, all-ones and value bits outside it are kept.
        (
            "7fff0104 00ff 0000 7fff0304 00ff ffff 7fff0504 0f0f 00ff",
            vec![
                raw(0x7fff, 0, &[0, 0xff], Some(&[0, 0])),
                raw(0x7fff, 1, &[0, 0xff], Some(&[0xff, 0xff])),
                raw(0x7fff, 2, &[0x0f, 0x0f], Some(&[0, 0xff])),
            ],
        ),
        // Experimenter OXMs: a Nicira one, masked, and an ONF one other than tcp_flags.
        (
            "ffff5508 00002320 0002 0012 ffff0206 4f4e4600 abcd",
            vec![
                M::Raw {
                    class: 0xffff,
                    field: 42,
                    experimenter: Some(0x2320),
                    value: RawBytes::new(&[0, 2]).unwrap(),
                    mask: Some(RawBytes::new(&[0, 0x12]).unwrap()),
                },
                M::Raw {
                    class: 0xffff,
                    field: 1,
                    experimenter: Some(0x4f4e_4600),
                    value: RawBytes::new(&[0xab, 0xcd]).unwrap(),
                    mask: None,
                },
            ],
        ),
    ];
    for (oxms, fields) in cases {
        kept_in_place(&flow_mod(oxms), &fields);
        both_ways(fields, oxms);
    }
}

#[test]
fn an_unknown_field_wider_than_16_bytes_is_refused_as_ovs_refuses_unknown_fields() {
    // eth_type=ip, then OpenFlow basic field 120 with 17 value bytes.
    let bytes = flow_mod("80000a02 0800 8000f011 000102030405060708090a0b0c0d0e0f10");
    let err = Message::decode(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadMatch {
                offset: 58,
                kind: MatchError::BadField(0x8000_f011)
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        format!("{:?}", FlowModView::parse(&bytes).map(|_| ())),
        format!("{:?}", Err::<(), _>(err))
    );
    // Sixteen bytes are kept.
    assert!(RawBytes::new(&[0; 16]).is_some() && RawBytes::new(&[0; 17]).is_none());
}

#[test]
fn an_unknown_match_field_is_kept_raw_where_ovs_refuses_it() {
    let mut b = flow_mod_with_actions("");
    // Replace the empty match with one holding an unknown OXM (class 0x7fff, field 0).
    let m = unhex("0001000c 7fff0004 00000005 00000000");
    b.splice(48..56, m);
    let len = b.len() as u16;
    b[2..4].copy_from_slice(&len.to_be_bytes());
    kept_in_place(&b, &[raw(0x7fff, 0, &[0, 0, 0, 5], None)]);
}

#[test]
fn a_raw_field_moves_with_the_known_field_it_follows_when_they_are_sorted() {
    // reg1 before in_port is out of canonical order; the raw field stays after reg1.
    let wire = flow_mod("00010204 00000007 7fff0002 abcd 80000004 00000003");
    let Ok((_, Message::FlowMod(fm))) = Message::decode(&wire) else {
        panic!("decode")
    };
    let sorted = vec![
        M::InPort(3),
        M::Reg(1, 7, None),
        raw(0x7fff, 0, &[0xab, 0xcd], None),
    ];
    assert_eq!(fm.r#match.to_vec(), sorted);
    let (_, view) = FlowModView::parse(&wire).expect("view");
    assert_eq!(view.r#match.to_match().to_vec(), sorted);
    assert_eq!(
        Message::FlowMod(fm).encode(1),
        flow_mod("80000004 00000003 00010204 00000007 7fff0002 abcd")
    );
}

#[test]
fn the_same_unknown_field_twice_is_a_duplicate_at_any_length_but_not_for_another_experimenter() {
    let dup = |oxms: &str| match Message::decode(&flow_mod(oxms)) {
        Err(Error::BadMatch {
            offset,
            kind: MatchError::DupRaw(h),
        }) => Some((offset, h)),
        Ok(_) => None,
        Err(e) => panic!("{oxms}: {e}"),
    };
    // The second TLV starts at 48 + 4 + 6.
    assert_eq!(
        dup("7fff0002 0001 7fff0104 0002 00ff"),
        Some((58, 0x7fff_0104))
    );
    assert_eq!(
        dup("ffff0206 00002320 0001 ffff0206 00002320 0002"),
        Some((62, 0xffff_0206))
    );
    assert_eq!(dup("ffff0206 00002320 0001 ffff0206 00abcdef 0002"), None);
    assert_eq!(dup("7fff0002 0001 7fff0202 0002"), None);
}

#[test]
fn experimenter_and_unknown_instructions_round_trip_raw_after_the_known_ones() {
    // goto_table:1, then an experimenter instruction with 8 bytes of data, then type 7.
    let insts = "0001000801000000 ffff0010000023200102030405060708 0007000800000009";
    let mut b = flow_mod_with_actions("");
    b.truncate(56);
    b.extend_from_slice(&unhex(insts));
    let len = b.len() as u16;
    b[2..4].copy_from_slice(&len.to_be_bytes());
    let want = vec![
        Instruction::GotoTable(1),
        Instruction::Experimenter {
            experimenter: 0x2320,
            data: vec![1, 2, 3, 4, 5, 6, 7, 8],
        },
        Instruction::Unknown {
            kind: 7,
            body: vec![0, 0, 0, 9],
        },
    ];
    let Ok((_, Message::FlowMod(fm))) = Message::decode(&b) else {
        panic!("decode {:?}", Message::decode(&b))
    };
    assert_eq!(fm.instructions.to_vec(), want);
    assert_eq!(Message::FlowMod(fm.clone()).encode(1), b);
    let (_, view) = FlowModView::parse(&b).expect("view");
    let views: Vec<InstructionView> = view.instructions.iter().collect();
    assert_eq!(
        views[1..],
        [
            InstructionView::Experimenter {
                experimenter: 0x2320,
                data: &[1, 2, 3, 4, 5, 6, 7, 8],
            },
            InstructionView::Unknown {
                kind: 7,
                body: &[0, 0, 0, 9],
            },
        ]
    );
    assert_eq!(view.to_flow_mod().expect("owned"), fm);
    // Written first, they are re-emitted after the known instructions.
    let mut first = FlowMod::add(0, 0x8000, Match::new(), vec![]);
    first.instructions = vec![want[2].clone(), want[1].clone(), want[0].clone()].into();
    let mut again = b.clone();
    again.truncate(56);
    again.extend_from_slice(&unhex(
        "0001000801000000 0007000800000009 ffff0010000023200102030405060708",
    ));
    assert_eq!(Message::FlowMod(first).encode(1), again);
}

#[test]
fn ct_tuple_fields_need_a_valid_connection() {
    // ct_state=+trk alone does not imply a valid entry (OVS `is_ct_valid`).
    let trk = "80000a02 0800 0001d308 00000020 00000020 0001f004 01020304";
    let e = Message::decode(&flow_mod(trk)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BadMatch {
                kind: MatchError::BadPrereq {
                    field: "ct_nw_src",
                    ..
                },
                ..
            }
        ),
        "{e}"
    );
    let est = "80000a02 0800 0001d308 00000022 00000022 0001f004 01020304";
    assert!(Message::decode(&flow_mod(est)).is_ok());
}

/// A FLOW_MOD with an empty match and one apply_actions instruction holding `actions`.
fn flow_mod_with_actions(actions: &str) -> Vec<u8> {
    let acts = unhex(actions);
    let mut b = unhex(
        "040e0000 00000001 0000000000000000 0000000000000000 0000000000008000 \
         ffffffff ffffffff ffffffff 00000000 0001000400000000",
    );
    b.extend_from_slice(&[0, 4]);
    b.extend_from_slice(&((8 + acts.len()) as u16).to_be_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&acts);
    let len = b.len() as u16;
    b[2..4].copy_from_slice(&len.to_be_bytes());
    b
}

#[test]
fn unknown_actions_and_unknown_fields_in_actions_round_trip_raw() {
    let cases = [
        // Unknown Nicira subtype 0x7f7f.
        "ffff0010 00002320 7f7f 000000000000",
        // Unknown ONF experimenter action type 3199.
        "ffff0010 4f4e4600 0c7f 000000000000",
        // Unknown experimenter id.
        "ffff0010 00abcdef 0001 000000000000",
        // OFPAT_SET_FIELD on a header outside the table (class 0x7fff).
        "0019 0010 7fff0004 00000005 00000000",
        // NXAST_REG_LOAD on a header outside the table.
        "ffff0018 00002320 0007 001f 7fff0004 0000000000000005",
        // NXAST_REG_MOVE from an unknown field.
        "ffff0018 00002320 0006 0010 0000 0000 7fff0004 00010204",
        // NXAST_REG_LOAD2 on reg3 (a form OVS keeps; not modelled).
        "ffff0018 00002320 0021 00010708 00000005 0000000f 0000",
        // ONF copy_field naming an unknown field.
        "ffff0020 4f4e4600 0c80 0000 0010 0000 0000 0000 7fff0004 00010204 00000000",
        // Unknown standard action type 99.
        "0063 0008 00000000",
    ];
    for hex in cases {
        let bytes = flow_mod_with_actions(hex);
        let (_, msg) = Message::decode(&bytes).unwrap_or_else(|e| panic!("{hex}: {e}"));
        let Message::FlowMod(fm) = &msg else {
            panic!("{hex}: {msg:?}")
        };
        match &fm.instructions.to_vec()[..] {
            [Instruction::ApplyActions(a)] => {
                assert!(matches!(a[..], [Action::Raw { .. }]), "{hex}: {a:?}")
            }
            other => panic!("{hex}: {other:?}"),
        }
        assert_eq!(msg.encode(1), bytes, "{hex}");
    }
}
