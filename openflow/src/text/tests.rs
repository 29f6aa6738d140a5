//! Whole-flow text round trips.

use crate::flow::FlowMod;
use crate::Error;

fn rt(s: &str) {
    let f: FlowMod = s.parse().unwrap();
    assert_eq!(f.to_string(), s);
}

#[test]
fn dump_flows_lines_round_trip() {
    rt("table=3, priority=200,ip,nw_src=10.10.0.2 actions=conjunction(1001,1/2)");
    rt("table=2, priority=190,ct_state=-new+trk,ct_mark=0x2/0x2,ip actions=goto_table:3");
    rt("priority=200,in_port=2 actions=load:0x2->NXM_NX_REG0[0..3],resubmit(,1)");
    rt("table=3, priority=190,conj_id=1001,ip actions=load:0x3e9->NXM_NX_REG3[],ct(commit,table=4,zone=65520,exec(load:0x1->NXM_NX_CT_MARK[1],load:0x3e9->NXM_NX_CT_LABEL[0..31]))");
    rt("cookie=0x1234, table=9, idle_timeout=30, hard_timeout=60, send_flow_rem check_overlap reset_counts priority=5,ip,nw_dst=10.0.0.0/24 actions=group:1");
    rt("table=9, priority=4,ip actions=meter:1,output:3");
    rt("actions=drop");
}

#[test]
fn masked_set_field_splits_into_runs() {
    let f: FlowMod = "actions=set_field:0x5/0x5->reg0".parse().unwrap();
    assert_eq!(
        f.to_string(),
        "actions=load:0x1->NXM_NX_REG0[0],load:0x1->NXM_NX_REG0[2]"
    );
}

#[test]
fn unknown_keyword_is_a_parse_error() {
    assert!(matches!(
        "frobnicate=1 actions=drop".parse::<FlowMod>(),
        Err(Error::Parse { .. })
    ));
    assert!(matches!(
        "ip actions=drop,output:1".parse::<FlowMod>(),
        Err(Error::Parse { .. })
    ));
}

#[test]
fn unknown_fields_and_instructions_round_trip_in_their_own_syntax() {
    rt("priority=5,ip,oxm(0x0001:127=0x1200/0xff00),oxm(0xffff:0x00002320:1=0xabcdef) actions=output:1,instruction(experimenter=0x00002320,data=0x0102030405060708),instruction(type=0x0007,body=0x00000009)");
    // Printed last whatever their place in the match, and parsed back to the end of it.
    let f: FlowMod = "oxm(0x7fff:0=0x05),tcp,tp_dst=80 actions=drop"
        .parse()
        .unwrap();
    assert_eq!(
        f.to_string(),
        "tcp,tp_dst=80,oxm(0x7fff:0=0x05) actions=drop"
    );
}

#[test]
fn one_action_parses_alone_and_a_list_with_parse_list() {
    use crate::flow::{Action, Field};
    let a: Action = "ct(commit,zone=5,exec(load:0x1->NXM_NX_CT_MARK[]))"
        .parse()
        .unwrap();
    assert_eq!(
        a.to_string(),
        "ct(commit,zone=5,exec(load:0x1->NXM_NX_CT_MARK[]))"
    );
    // A masked set_field is two REG_LOADs: one action list, not one action.
    let e = "set_field:0x5/0x5->reg0".parse::<Action>().unwrap_err();
    assert!(e.to_string().contains("stands for 2 actions"), "{e}");
    let loads = Action::parse_list("set_field:0x5/0x5->reg0,output:3").unwrap();
    assert_eq!(loads.len(), 3);
    assert_eq!(
        loads[0],
        Action::Load {
            field: Field::Reg(0),
            ofs: 0,
            n_bits: 1,
            value: 1
        }
    );
    assert_eq!(Action::parse_list("drop").unwrap(), vec![]);
    assert!(Action::parse_list("drop,output:1").is_err());
    // Instructions are not actions.
    assert!(Action::parse_list("output:1,goto_table:2").is_err());
    // `nat` alone is an Action (it prints so inside `ct`), though OVS takes it only there.
    let nat: Action = "nat(src=10.0.0.1-10.0.0.9)".parse().unwrap();
    assert_eq!(nat.to_string(), "nat(src=10.0.0.1-10.0.0.9)");
    assert!(Action::parse_list("nat").is_err());
}

#[test]
fn a_match_parses_without_flow_keywords() {
    use crate::flow::{Match, MatchField};
    assert_eq!("".parse::<Match>().unwrap(), Match::new());
    let m: Match = "tcp,nw_src=10.0.0.0/8,tp_dst=80".parse().unwrap();
    assert_eq!(m.to_string(), "tcp,nw_src=10.0.0.0/8,tp_dst=80");
    assert!(m.fields().any(|f| f == MatchField::TcpDst(80, None)));
    assert!("priority=5,ip".parse::<Match>().is_err());
    assert!("ip actions=drop".parse::<Match>().is_err());
}

#[test]
fn set_field_vlan_vid_keeps_the_present_bit_as_ovs_does() {
    // `ovs-ofctl -O OpenFlow13 parse-flow` keeps 4196 (0x1064: VLAN 100 with OFPVID_PRESENT)
    // and refuses 0x2000 ("not a valid value for field vlan_vid").
    let f: FlowMod = "dl_vlan=100 actions=push_vlan:0x8100,set_field:4196->vlan_vid,output:4"
        .parse()
        .unwrap();
    assert_eq!(
        f.to_string(),
        "dl_vlan=100 actions=push_vlan:0x8100,set_field:4196->vlan_vid,output:4"
    );
    let bytes = crate::Message::FlowMod(f.clone()).encode(1);
    // OFPAT_SET_FIELD, OXM_OF_VLAN_VID, 0x1064.
    let want = [0, 25, 0, 16, 0x80, 0, 0x0c, 2, 0x10, 0x64, 0, 0, 0, 0, 0, 0];
    assert!(bytes.windows(16).any(|w| w == want), "{bytes:02x?}");
    assert_eq!(
        crate::Message::decode(&bytes).unwrap().1,
        crate::Message::FlowMod(f.canonical())
    );
    assert!("actions=set_field:0x2000->vlan_vid"
        .parse::<FlowMod>()
        .is_err());
    assert!("actions=set_field:70000->tcp_dst"
        .parse::<FlowMod>()
        .is_err());
}

#[test]
fn resubmit_with_neither_port_nor_table_prints_as_ovs_does_and_parses_back() {
    // NXAST_RESUBMIT_TABLE in_port=0xfff8 (IN_PORT) table=255 in an OF1.3 FLOW_MOD;
    // `ovs-ofctl ofp-print` of these bytes (OVS 3.1) prints `ADD actions=resubmit(,)`.
    let hex = "040e005000000001000000000000000000000000000000000000000000008000\
               ffffffffffffffffffffffff000000000001000400000000000400180000000\
               0ffff001000002320000efff8ff000000";
    let hex: String = hex.split_whitespace().collect();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let (_, msg) = crate::Message::decode(&bytes).unwrap();
    let crate::Message::FlowMod(f) = msg else {
        panic!("{msg:?}")
    };
    assert_eq!(f.to_string(), "actions=resubmit(,)");
    let parsed: FlowMod = "actions=resubmit(,)".parse().unwrap();
    assert_eq!(parsed, f);
    rt("actions=resubmit(,,ct)");
    rt("actions=resubmit:3");
    rt("actions=resubmit(3,5)");
}

#[test]
fn an_empty_bit_range_built_by_hand_prints_without_overflow() {
    use crate::flow::{Action, Field};
    let mv = Action::Move {
        src: Field::Reg(0),
        src_ofs: 0,
        dst: Field::Reg(1),
        dst_ofs: 4,
        n_bits: 0,
    };
    assert_eq!(
        crate::text::ActionsText(&[mv]).to_string(),
        "move:NXM_NX_REG0[0..-1]->NXM_NX_REG1[4..3]"
    );
}

/// Found by the `parse_flow` fuzz target: a load into the whole of a 128-bit field shifted a
/// u128 by 128 (a panic in a debug build). It is refused, as every load wider than 64 bits is.
#[test]
fn a_load_into_all_128_bits_of_ct_label_is_an_error_not_a_panic() {
    for text in [
        "actions=load:0x2->NXM_NX_CT_LABEL[]",
        "priority=200,in_port=2 actions=load:0x2->        ct_label   ",
    ] {
        match text.parse::<FlowMod>() {
            Err(Error::Parse { reason, .. }) => {
                assert!(reason.contains("limited to 64 bits"), "{text}: {reason}")
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}
