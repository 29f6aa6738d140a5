//! The invalid flow_mods `tests/validate.rs` and `tests/validate_ovs.rs` judge: each with the
//! same flow fixed and the error `FlowMod::validate` must give, by family.
#![allow(dead_code)] // each test binary uses part of it

use openflow::flow::MatchField as M;
use openflow::{FlowMod, FlowModCommand, Instruction, InvalidFlowMod, Match, MatchError};

/// A flow from text, prerequisites unchecked (the bad flows lack them on purpose).
pub fn flow(s: &str) -> FlowMod {
    FlowMod::parse_unchecked(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

pub fn with_match(fields: Vec<M>) -> FlowMod {
    FlowMod::add(0, 0x8000, Match::from(fields), Vec::new())
}

/// One flow OVS refuses and the same flow fixed, with the error we predict.
pub struct Case {
    pub bad: FlowMod,
    pub good: FlowMod,
    pub want: InvalidFlowMod,
}

fn case(bad: &str, good: &str, want: impl Into<InvalidFlowMod>) -> Case {
    Case {
        bad: flow(bad),
        good: flow(good),
        want: want.into(),
    }
}

pub fn prereq(field: &'static str, needs: &'static str) -> MatchError {
    MatchError::BadPrereq { field, needs }
}

pub const IP_ANY: &str = "ip or ipv6 (eth_type=0x0800 or 0x86dd)";
pub const IP: &str = "ip (eth_type=0x0800)";
pub const IPV6: &str = "ipv6 (eth_type=0x86dd)";
pub const TCP: &str = "tcp or tcp6 (ip_proto=6)";
pub const ARP: &str = "arp or rarp (eth_type=0x0806 or 0x8035)";
pub const MPLS: &str = "mpls or mplsm (eth_type=0x8847 or 0x8848)";
pub const CT: &str =
    "a ct_state of a valid connection (+new, +est, +rel, +rpl, +snat, +dnat or +trk-inv)";
pub const VLAN: &str = "a VLAN (vlan_vid with OFPVID_PRESENT 0x1000)";

/// A missing prerequisite of every family OVS knows, each with the fix.
pub fn prerequisite_cases() -> Vec<Case> {
    let mac = "00:11:22:33:44:55";
    let pcp = |vid: Vec<M>| {
        let mut v = vid;
        v.push(M::VlanPcp(3));
        with_match(v)
    };
    let mut cases = vec![
        case(
            "nw_proto=6 actions=drop",
            "ip,nw_proto=6 actions=drop",
            prereq("nw_proto", IP_ANY),
        ),
        case(
            "nw_tos=8 actions=drop",
            "ip,nw_tos=8 actions=drop",
            prereq("nw_tos", IP_ANY),
        ),
        case(
            "arp,nw_ttl=5 actions=drop",
            "ipv6,nw_ttl=5 actions=drop",
            prereq("nw_ttl", IP_ANY),
        ),
        case(
            "nw_ecn=1 actions=drop",
            "ipv6,nw_ecn=1 actions=drop",
            prereq("nw_ecn", IP_ANY),
        ),
        case(
            "nw_frag=first actions=drop",
            "ip,nw_frag=first actions=drop",
            prereq("nw_frag", IP_ANY),
        ),
        case(
            "ipv6,nw_src=10.0.0.1 actions=drop",
            "ip,nw_src=10.0.0.1 actions=drop",
            prereq("nw_src", IP),
        ),
        case(
            "nw_dst=10.0.0.0/8 actions=drop",
            "ip,nw_dst=10.0.0.0/8 actions=drop",
            prereq("nw_dst", IP),
        ),
        case(
            "ip,tcp_dst=80 actions=drop",
            "tcp,tcp_dst=80 actions=drop",
            prereq("tp_dst", TCP),
        ),
        case(
            "udp,tcp_src=80 actions=drop",
            "tcp6,tcp_src=80 actions=drop",
            prereq("tp_src", TCP),
        ),
        case(
            "udp,tcp_flags=0x2 actions=drop",
            "tcp,tcp_flags=0x2 actions=drop",
            prereq("tcp_flags", TCP),
        ),
        case(
            "tcp,udp_src=53 actions=drop",
            "udp,udp_src=53 actions=drop",
            prereq("tp_src", "udp or udp6 (ip_proto=17)"),
        ),
        case(
            "ip,sctp_dst=9 actions=drop",
            "sctp,sctp_dst=9 actions=drop",
            prereq("tp_dst", "sctp or sctp6 (ip_proto=132)"),
        ),
        case(
            "ip,icmp_type=8 actions=drop",
            "icmp,icmp_type=8 actions=drop",
            prereq("icmp_type", "icmp (eth_type=0x0800,ip_proto=1)"),
        ),
        case(
            "ipv6,nw_proto=1,icmp_code=0 actions=drop",
            "icmp6,icmp_code=0 actions=drop",
            prereq("icmpv6_code", "icmp6 (eth_type=0x86dd,ip_proto=58)"),
        ),
        case(
            "ip,arp_op=1 actions=drop",
            "arp,arp_op=1 actions=drop",
            prereq("arp_op", ARP),
        ),
        case(
            "arp_spa=10.0.0.1 actions=drop",
            "rarp,arp_spa=10.0.0.1 actions=drop",
            prereq("arp_spa", ARP),
        ),
        case(
            &format!("ipv6,arp_tha={mac} actions=drop"),
            &format!("arp,arp_tha={mac} actions=drop"),
            prereq("arp_tha", ARP),
        ),
        case(
            "ip,ipv6_src=::1 actions=drop",
            "ipv6,ipv6_src=::1 actions=drop",
            prereq("ipv6_src", IPV6),
        ),
        case(
            "ipv6_label=0x5 actions=drop",
            "ipv6,ipv6_label=0x5 actions=drop",
            prereq("ipv6_label", IPV6),
        ),
        case(
            "ipv6,icmpv6_type=135 actions=drop",
            "icmp6,icmpv6_type=135 actions=drop",
            prereq("icmpv6_type", "icmp6 (eth_type=0x86dd,ip_proto=58)"),
        ),
        case(
            "icmp6,icmp_type=128,nd_target=::1 actions=drop",
            "icmp6,icmp_type=135,nd_target=::1 actions=drop",
            prereq("nd_target", "icmp6 with icmpv6_type=135 or 136"),
        ),
        case(
            &format!("icmp6,icmp_type=136,nd_sll={mac} actions=drop"),
            &format!("icmp6,icmp_type=135,nd_sll={mac} actions=drop"),
            prereq("nd_sll", "icmp6 with icmpv6_type=135"),
        ),
        case(
            &format!("icmp6,icmp_type=135,nd_tll={mac} actions=drop"),
            &format!("icmp6,icmp_type=136,nd_tll={mac} actions=drop"),
            prereq("nd_tll", "icmp6 with icmpv6_type=136"),
        ),
        case(
            "ip,mpls_label=5 actions=drop",
            "mpls,mpls_label=5 actions=drop",
            prereq("mpls_label", MPLS),
        ),
        case(
            "mpls_tc=1 actions=drop",
            "mplsm,mpls_tc=1 actions=drop",
            prereq("mpls_tc", MPLS),
        ),
        case(
            "mpls_bos=1 actions=drop",
            "mpls,mpls_bos=1 actions=drop",
            prereq("mpls_bos", MPLS),
        ),
        case(
            "ct_state=+trk,ip,ct_nw_src=10.0.0.1 actions=drop",
            "ct_state=+est+trk,ip,ct_nw_src=10.0.0.1 actions=drop",
            prereq("ct_nw_src", CT),
        ),
        case(
            "ct_state=+inv+trk,ct_nw_proto=6 actions=drop",
            "ct_state=-inv+trk,ct_nw_proto=6 actions=drop",
            prereq("ct_nw_proto", CT),
        ),
        case(
            "ct_tp_dst=80 actions=drop",
            "ct_state=+new+trk,ct_tp_dst=80 actions=drop",
            prereq("ct_tp_dst", CT),
        ),
        case(
            "ipv6,ct_ipv6_src=::1 actions=drop",
            "ct_state=+rpl+trk,ipv6,ct_ipv6_src=::1 actions=drop",
            prereq("ct_ipv6_src", CT),
        ),
    ];
    cases.push(Case {
        bad: pcp(vec![]),
        good: pcp(vec![M::VlanVid(0x1000, Some(0x1000))]),
        want: prereq("dl_vlan_pcp", VLAN).into(),
    });
    // A VID without OFPVID_PRESENT matches untagged packets: no VLAN for the PCP.
    cases.push(Case {
        bad: pcp(vec![M::VlanVid(0x0005, None)]),
        good: pcp(vec![M::VlanVid(0x1005, None)]),
        want: prereq("dl_vlan_pcp", VLAN).into(),
    });
    cases
}

/// The same field twice, each with the flow without the second.
pub fn duplicate_cases() -> Vec<Case> {
    vec![
        case(
            "ip,dl_type=0x0800 actions=drop",
            "ip actions=drop",
            MatchError::DupField("dl_type"),
        ),
        case(
            "reg1=1,reg1=2 actions=drop",
            "reg1=1 actions=drop",
            MatchError::DupField("reg1"),
        ),
        case(
            "in_port=1,in_port=2 actions=drop",
            "in_port=1 actions=drop",
            MatchError::DupField("in_port"),
        ),
        case(
            "tcp,tp_dst=80,tcp_dst=81 actions=drop",
            "tcp,tp_dst=80 actions=drop",
            MatchError::DupField("tp_dst"),
        ),
        case(
            "ct_state=+trk,ct_state=+est actions=drop",
            "ct_state=+est+trk actions=drop",
            MatchError::DupField("ct_state"),
        ),
    ]
}

/// Values a field does not allow (OVS `mf_is_value_valid`); our decoder does not check these.
pub fn value_cases() -> Vec<Case> {
    let vlan = |pcp| with_match(vec![M::VlanVid(0x1005, None), M::VlanPcp(pcp)]);
    let ip = |f: M| with_match(vec![M::EthType(0x0800), f]);
    let tcp = |f: M| with_match(vec![M::EthType(0x0800), M::IpProto(6), f]);
    vec![
        Case {
            bad: vlan(8),
            good: vlan(7),
            want: MatchError::BadValue("dl_vlan_pcp").into(),
        },
        Case {
            bad: with_match(vec![M::VlanVid(0x2005, None)]),
            good: with_match(vec![M::VlanVid(0x1005, None)]),
            want: MatchError::BadValue("dl_vlan").into(),
        },
        case(
            "ip,ip_dscp=64 actions=drop",
            "ip,ip_dscp=63 actions=drop",
            MatchError::BadValue("nw_tos"),
        ),
        case(
            "ip,nw_ecn=4 actions=drop",
            "ip,nw_ecn=3 actions=drop",
            MatchError::BadValue("nw_ecn"),
        ),
        case(
            "mpls,mpls_label=0x100000 actions=drop",
            "mpls,mpls_label=0xfffff actions=drop",
            MatchError::BadValue("mpls_label"),
        ),
        case(
            "mpls,mpls_tc=8 actions=drop",
            "mpls,mpls_tc=7 actions=drop",
            MatchError::BadValue("mpls_tc"),
        ),
        case(
            "mpls,mpls_bos=2 actions=drop",
            "mpls,mpls_bos=1 actions=drop",
            MatchError::BadValue("mpls_bos"),
        ),
        case(
            "ipv6,ipv6_label=0x100000 actions=drop",
            "ipv6,ipv6_label=0xfffff actions=drop",
            MatchError::BadValue("ipv6_label"),
        ),
        case(
            "in_port=65280 actions=drop",
            "in_port=65279 actions=drop",
            MatchError::BadValue("in_port"),
        ),
        case(
            "arp,arp_op=256 actions=drop",
            "arp,arp_op=255 actions=drop",
            MatchError::BadValue("arp_op"),
        ),
        Case {
            bad: tcp(M::TcpFlags(0x1000, None)),
            good: tcp(M::TcpFlags(0x800, None)),
            want: MatchError::BadValue("tcp_flags").into(),
        },
        Case {
            bad: ip(M::IpFrag(4, None)),
            good: ip(M::IpFrag(3, None)),
            want: MatchError::BadValue("nw_frag").into(),
        },
        Case {
            bad: with_match(vec![M::CtState(0x120, 0x120)]),
            good: with_match(vec![M::CtState(0x20, 0x20)]),
            want: MatchError::BadValue("ct_state").into(),
        },
        Case {
            bad: with_match(vec![M::TunFlags(2, None)]),
            good: with_match(vec![M::TunFlags(1, None)]),
            want: MatchError::BadValue("tun_flags").into(),
        },
    ]
}

/// Conntrack tuple addresses of the other IP family (OVS: OFPBAC_MATCH_INCONSISTENT).
pub fn family_cases() -> Vec<Case> {
    vec![
        case(
            "ct_state=+est+trk,ct_nw_src=10.0.0.1 actions=drop",
            "ct_state=+est+trk,ip,ct_nw_src=10.0.0.1 actions=drop",
            MatchError::Inconsistent {
                field: "ct_nw_src",
                needs: IP,
            },
        ),
        case(
            "ct_state=+est+trk,ip,ct_ipv6_dst=::1 actions=drop",
            "ct_state=+est+trk,ipv6,ct_ipv6_dst=::1 actions=drop",
            MatchError::Inconsistent {
                field: "ct_ipv6_dst",
                needs: IPV6,
            },
        ),
    ]
}

/// Instruction and header checks, each with a flow OVS takes.
pub fn flow_mod_cases() -> Vec<Case> {
    // Not 254: OVS keeps that table to itself (OFPBRC_EPERM for a controller's flows).
    let mut all_tables = flow("table=253, priority=1 actions=drop");
    let good_table = all_tables.clone();
    all_tables.table_id = 255;
    let mut modify_all = all_tables.clone();
    modify_all.command = FlowModCommand::Modify;
    let mut bad_flags = flow("no_byte_counts actions=drop");
    let good_flags = bad_flags.clone();
    bad_flags.flags |= 0x20;
    let mut delete_back = flow("table=5, actions=goto_table:2");
    delete_back.command = FlowModCommand::Delete;
    let mut delete_forward = delete_back.clone();
    delete_forward.instructions = vec![Instruction::GotoTable(6)].into();
    vec![
        case(
            "table=1, actions=goto_table:2,goto_table:3",
            "table=1, actions=goto_table:2",
            InvalidFlowMod::DupInstruction("goto_table"),
        ),
        case(
            "actions=clear_actions,clear_actions",
            "actions=clear_actions",
            InvalidFlowMod::DupInstruction("clear_actions"),
        ),
        case(
            "actions=write_metadata:0x1/0x1,write_metadata:0x2/0x2",
            "actions=write_metadata:0x1/0x1",
            InvalidFlowMod::DupInstruction("write_metadata"),
        ),
        case(
            "actions=meter:1,meter:2",
            "actions=drop",
            InvalidFlowMod::DupInstruction("meter"),
        ),
        // OVS takes a goto to 255 (see `src/validate.rs`), and so do we.
        case(
            "table=5, actions=goto_table:2",
            "table=5, actions=goto_table:255",
            InvalidFlowMod::BadGotoTable { table: 5, goto: 2 },
        ),
        case(
            "table=5, actions=goto_table:5",
            "table=5, actions=goto_table:254",
            InvalidFlowMod::BadGotoTable { table: 5, goto: 5 },
        ),
        case(
            "actions=meter:0",
            "actions=drop",
            InvalidFlowMod::BadMeter(0),
        ),
        case(
            "actions=meter:4294901761",
            "actions=drop",
            InvalidFlowMod::BadMeter(0xffff_0001),
        ),
        case(
            "actions=meter:4294967293",
            "actions=drop",
            InvalidFlowMod::BadMeter(0xffff_fffd),
        ),
        Case {
            bad: all_tables,
            good: good_table.clone(),
            want: InvalidFlowMod::AllTables,
        },
        Case {
            bad: modify_all,
            good: good_table,
            want: InvalidFlowMod::AllTables,
        },
        Case {
            bad: bad_flags,
            good: good_flags,
            want: InvalidFlowMod::BadFlags(0x30),
        },
        Case {
            bad: delete_back,
            good: delete_forward,
            want: InvalidFlowMod::BadGotoTable { table: 5, goto: 2 },
        },
    ]
}

/// Cases our decoder checks but OVS cannot judge: it does not implement these fields
/// (OFPBMC_BAD_FIELD), or needs a TLV map for tun_metadata.
pub fn decoder_only_cases() -> Vec<Case> {
    let tun = |len, value| M::TunMetadata {
        idx: 0,
        len,
        value,
        mask: None,
    };
    vec![
        Case {
            bad: with_match(vec![M::InPhyPort(1)]),
            good: with_match(vec![M::InPort(1), M::InPhyPort(1)]),
            want: prereq("in_phy_port", "in_port").into(),
        },
        Case {
            bad: with_match(vec![M::EthType(0x0800), M::PbbIsid(5, None)]),
            good: with_match(vec![M::EthType(0x88e7), M::PbbIsid(5, None)]),
            want: prereq("pbb_isid", "eth_type=0x88e7").into(),
        },
        Case {
            bad: with_match(vec![M::Ipv6Exthdr(1, None)]),
            good: with_match(vec![M::EthType(0x86dd), M::Ipv6Exthdr(1, None)]),
            want: prereq("ipv6_exthdr", IPV6).into(),
        },
        Case {
            bad: with_match(vec![tun(1, 7), tun(2, 7)]),
            good: with_match(vec![tun(2, 7)]),
            want: MatchError::DupField("tun_metadata").into(),
        },
    ]
}
