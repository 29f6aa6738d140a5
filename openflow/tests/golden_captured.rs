//! The captured goldens (`tests/golden/captured.golden`, written by `scripts/capture-replies.py`
//! from a live ovs-vswitchd 3.1): every message decodes to a typed variant, re-encodes byte for
//! byte, and carries the values OVS printed for those very bytes. OVS is not needed to run these
//! tests; the multipart replies are checked in `golden_captured_stats.rs` and
//! `golden_captured_groups.rs`, the packets in `golden_captured_packets.rs`, and
//! `ovs_resume.rs` sends a RESUME back to a live switch.

use openflow::control::ControllerRole;
use openflow::group::{OFPG_ALL, OFPG_ANY};
use openflow::meter::OFPM_ALL;
use openflow::multipart::{FlowStatsRequest, MultipartReply as R, MultipartRequest as Q};
use openflow::nicira::{ExtMessage, TlvMap};
use openflow::text::InstructionsText;
use openflow::{ErrorCode, FlowMod, FlowModCommand, HelloElement, Message};

mod captured;
use captured::*;

const EVERY_MESSAGE: &[&str] = &[
    "hello",
    "features_request",
    "features_reply",
    "get_config_request",
    "get_config_reply",
    "tlv_table_mod",
    "barrier_request",
    "barrier_reply",
    "tlv_table_request",
    "tlv_table_reply",
    "group_mod_add_select",
    "group_mod_add_ff",
    "meter_mod_add",
    "role_request",
    "role_reply",
    "get_async_request",
    "get_async_reply",
    "echo_request",
    "echo_reply",
    "error_role_stale",
    "set_config",
    "set_packet_in_format",
    "packet_out",
    "packet_in2_paused",
    "resume",
    "packet_in2_resumed",
    "port_status_add",
    "flow_removed_hard_timeout",
    "packet_in",
    "desc_request",
    "desc_reply",
    "flow_stats_request",
    "flow_stats_reply",
    "aggregate_request",
    "aggregate_reply",
    "table_stats_request",
    "table_stats_reply",
    "port_stats_request",
    "port_stats_reply",
    "port_desc_request",
    "port_desc_reply",
    "queue_stats_request",
    "queue_stats_reply",
    "group_stats_request",
    "group_stats_reply",
    "group_desc_request",
    "group_desc_reply",
    "group_features_request",
    "group_features_reply",
    "meter_stats_request",
    "meter_stats_reply",
    "meter_config_request",
    "meter_config_reply",
    "meter_features_request",
    "meter_features_reply",
    "table_features_request",
    "table_features_reply_last",
    "error_bad_out_group",
    "error_nx_invalid_tlv_field",
    "error_nx_vendor_of10",
    "error_nx_vendor_of13",
    "flow_mod_modify",
    "flow_mod_modify_cookie",
    "flow_mod_modify_strict",
    "flow_mod_delete_cookie",
    "flow_mod_delete_out_port",
    "flow_mod_delete_out_group",
    "flow_mod_delete_strict",
    "flow_mod_delete_all",
];

#[test]
fn every_captured_message_decodes_typed_and_re_encodes_byte_for_byte() {
    let goldens = all();
    let names: Vec<&str> = goldens.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names, EVERY_MESSAGE,
        "captured.golden lost or gained a message"
    );
    for g in &goldens {
        let (xid, m) = Message::decode(&g.bytes).unwrap_or_else(|e| panic!("{}: {e}", g.name));
        let raw = matches!(
            m,
            Message::Unknown { .. }
                | Message::Experimenter { .. }
                | Message::MultipartRequest {
                    body: Q::Raw { .. },
                    ..
                }
                | Message::MultipartReply {
                    body: R::Raw { .. },
                    ..
                }
        );
        assert!(!raw, "{} ({}) decodes raw: {m:?}", g.name, g.source);
        let encoded = m.encode(xid);
        if g.name == "error_nx_vendor_of10" {
            // The crate writes OpenFlow 1.3 headers only; the body must still be OVS's.
            assert_eq!((g.bytes[0], encoded[0]), (0x01, 0x04));
            assert_eq!(encoded[1..], g.bytes[1..], "{}: re-encode", g.name);
        } else {
            assert_eq!(encoded, g.bytes, "{}: re-encode", g.name);
        }
    }
}

#[test]
fn hello_features_and_config_carry_what_ovs_printed() {
    let (g, m) = decode("hello");
    let Message::Hello(h) = m else {
        panic!("{m:?}")
    };
    let versions = g.printed[1]
        .trim()
        .strip_prefix("version bitmap: ")
        .unwrap();
    let want: u32 = versions.split(", ").map(|v| 1 << int(v)).sum();
    assert_eq!(h.elements, [HelloElement::VersionBitmap(vec![want])]);

    let (g, m) = decode("features_reply");
    let Message::FeaturesReply(f) = m else {
        panic!("{m:?}")
    };
    assert_eq!(
        format!("{:016x}", f.datapath_id),
        value(&g.printed[0], "dpid:")
    );
    assert_eq!(f.n_tables as u64, int(value(&g.printed[1], "n_tables:")));
    assert_eq!(f.n_buffers as u64, int(value(&g.printed[1], "n_buffers:")));
    let caps = [
        "FLOW_STATS",
        "TABLE_STATS",
        "PORT_STATS",
        "GROUP_STATS",
        "",
        "IP_REASM",
        "QUEUE_STATS",
        "",
        "PORT_BLOCKED",
    ];
    let printed_caps = g.printed[2].strip_prefix("capabilities: ").unwrap();
    assert_eq!(f.capabilities, bits(printed_caps, &caps));

    for (name, is_set) in [("get_config_reply", false), ("set_config", true)] {
        let (g, m) = decode(name);
        let c = match m {
            Message::GetConfigReply(c) if !is_set => c,
            Message::SetConfig(c) if is_set => c,
            m => panic!("{name}: {m:?}"),
        };
        let frags = ["normal", "drop", "reassemble", "nx-match"];
        assert_eq!(frags[c.flags as usize], value(&g.printed[0], "frags="));
        assert_eq!(
            c.miss_send_len as u64,
            int(value(&g.printed[0], "miss_send_len="))
        );
    }

    let (g, m) = decode("set_packet_in_format");
    assert_eq!(m, Message::SetPacketInFormat(2));
    assert!(
        g.printed[0].ends_with("format=nxt_packet_in2"),
        "{:?}",
        g.printed
    );
}

#[test]
fn role_async_and_echo_replies_carry_what_ovs_printed() {
    for name in ["role_request", "role_reply"] {
        let (g, m) = decode(name);
        let (Message::RoleRequest(r) | Message::RoleReply(r)) = m else {
            panic!("{m:?}")
        };
        assert_eq!(r.role.name().unwrap(), value(&g.printed[0], "role="));
        assert_eq!(r.generation_id, int(value(&g.printed[0], "generation_id=")));
    }
    assert_eq!(decode("role_reply").1, {
        let Message::RoleRequest(r) = decode("role_request").1 else {
            unreachable!()
        };
        Message::RoleReply(r)
    });

    let (g, m) = decode("get_async_reply");
    let Message::GetAsyncReply(a) = m else {
        panic!("{m:?}")
    };
    let reasons = |kind: &str, nth: usize| -> u32 {
        let line = g
            .printed
            .iter()
            .filter(|l| l.trim_start().starts_with(kind))
            .nth(nth);
        let names: &[&str] = match kind {
            "PACKET_IN:" => &["no_match", "action", "invalid_ttl", "action_set", "group"],
            "PORT_STATUS:" => &["add", "delete", "modify"],
            _ => &["idle", "hard", "delete", "group_delete", "meter_delete"],
        };
        bits(
            line.unwrap().trim_start().strip_prefix(kind).unwrap(),
            names,
        )
    };
    // OVS prints the primary (index 0) block, then the secondary one.
    for i in 0..2 {
        assert_eq!(a.packet_in_mask[i], reasons("PACKET_IN:", i));
        assert_eq!(a.port_status_mask[i], reasons("PORT_STATUS:", i));
        assert_eq!(a.flow_removed_mask[i], reasons("FLOW_REMOVED:", i));
    }

    for (name, reply) in [("echo_request", false), ("echo_reply", true)] {
        let (g, m) = decode(name);
        let payload = match m {
            Message::EchoRequest(p) if !reply => p,
            Message::EchoReply(p) if reply => p,
            m => panic!("{name}: {m:?}"),
        };
        let dumped: String = g.printed[1][10..]
            .replace('-', " ")
            .split_whitespace()
            .collect();
        let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, dumped);
        assert!(g.printed[0].contains(&format!("{} bytes of payload", payload.len())));
    }
    assert!(matches!(
        decode("barrier_request").1,
        Message::BarrierRequest
    ));
    assert!(matches!(decode("barrier_reply").1, Message::BarrierReply));
    assert_eq!(decode("get_async_request").1, Message::GetAsyncRequest);
    assert_eq!(decode("features_request").1, Message::FeaturesRequest);
    assert_eq!(decode("get_config_request").1, Message::GetConfigRequest);
}

#[test]
fn the_requests_ovs_ofctl_sends_decode_to_typed_requests() {
    let all_flows = FlowStatsRequest::all(None);
    for (name, want) in [
        ("desc_request", Q::Desc),
        ("flow_stats_request", Q::Flow(all_flows.clone())),
        ("aggregate_request", Q::Aggregate(all_flows)),
        ("table_stats_request", Q::Table),
        ("port_stats_request", Q::PortStats(OFPP_ANY)),
        ("port_desc_request", Q::PortDesc),
        (
            "queue_stats_request",
            Q::Queue {
                port_no: OFPP_ANY,
                queue_id: 0xffff_ffff,
            },
        ),
        ("group_stats_request", Q::Group(OFPG_ALL)),
        ("group_desc_request", Q::GroupDesc),
        ("group_features_request", Q::GroupFeatures),
        ("meter_stats_request", Q::Meter(OFPM_ALL)),
        ("meter_config_request", Q::MeterConfig(OFPM_ALL)),
        ("meter_features_request", Q::MeterFeatures),
        ("table_features_request", Q::TableFeatures(vec![])),
    ] {
        let (g, m) = decode(name);
        assert_eq!(
            m,
            Message::MultipartRequest {
                flags: 0,
                body: want
            },
            "{name}: {:?}",
            g.printed
        );
    }
    // What OVS printed for the filters: "any" / "all" in its words.
    assert!(golden("port_stats_request").printed[0].ends_with("port_no=ANY"));
    assert!(golden("queue_stats_request").printed[0].ends_with("port=ANY queue=ALL"));
    assert!(golden("group_stats_request").printed[0].ends_with("group_id=ALL"));
    assert!(golden("meter_stats_request").printed[0].ends_with("meter=all"));
}

#[test]
fn tlv_table_mod_and_reply_match_ovs() {
    let rows = |printed: &[String]| -> Vec<TlvMap> {
        let dashes = printed.iter().position(|l| l.contains("------")).unwrap();
        printed[dashes + 1..]
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let c: Vec<&str> = l.split_whitespace().collect();
                TlvMap {
                    option_class: int(c[0]) as u16,
                    option_type: int(c[1]) as u8,
                    option_len: int(c[2]) as u8,
                    index: c[3].strip_prefix("tun_metadata").unwrap().parse().unwrap(),
                }
            })
            .collect()
    };
    let (g, m) = decode("tlv_table_mod");
    let Message::Ext(ExtMessage::TlvTableMod { command, maps }) = m else {
        panic!("{m:?}")
    };
    assert_eq!(
        format!("{} mapping table:", command.name().unwrap()),
        g.printed[1].trim()
    );
    assert_eq!(maps, rows(&g.printed));

    let (g, m) = decode("tlv_table_reply");
    let Message::Ext(ExtMessage::TlvTableReply {
        max_option_space,
        max_fields,
        maps,
    }) = m
    else {
        panic!("{m:?}")
    };
    assert_eq!(
        max_option_space as u64,
        int(value(&g.printed[1], "option space="))
    );
    assert_eq!(max_fields as u64, int(value(&g.printed[1], "max fields=")));
    assert_eq!(maps, rows(&g.printed));
    assert_eq!(
        decode("tlv_table_request").1,
        Message::Ext(ExtMessage::TlvTableRequest)
    );
}

/// The parts of OVS's `OFPT_FLOW_MOD` line: `<cmd> [table:N ][cookie:C[/M] ][out_port:P ]
/// [<priority and match> ]actions=A`.
fn assert_flow_mod_prints_like(f: &FlowMod, line: &str) {
    let body = line.split_once("): ").unwrap().1;
    let (head, actions) = body.split_once("actions=").unwrap();
    let mut words = head.split_whitespace();
    let command = match f.command {
        FlowModCommand::Add => "ADD",
        FlowModCommand::Modify => "MOD",
        FlowModCommand::ModifyStrict => "MOD_STRICT",
        FlowModCommand::Delete => "DEL",
        FlowModCommand::DeleteStrict => "DEL_STRICT",
    };
    assert_eq!(words.next(), Some(command), "{line}");
    let (mut table, mut cookie, mut out_port, mut matches) = (0, None, OFPP_ANY, String::new());
    for w in words {
        if let Some(t) = w.strip_prefix("table:") {
            table = int(t) as u8;
        } else if let Some(c) = w.strip_prefix("cookie:") {
            cookie = Some(c.to_string());
        } else if let Some(p) = w.strip_prefix("out_port:") {
            out_port = int(p) as u32;
        } else {
            matches = w.to_string();
        }
    }
    let our_cookie = match (f.cookie, f.cookie_mask) {
        (0, 0) => None,
        (c, 0) => Some(format!("{c:#x}")),
        (c, m) => Some(format!("{c:#x}/{m:#x}")),
    };
    assert_eq!(
        (f.table_id, our_cookie, f.out_port),
        (table, cookie, out_port),
        "{line}"
    );
    assert_eq!(
        f.r#match.to_string_with_priority(f.priority),
        matches,
        "{line}"
    );
    assert_eq!(
        InstructionsText(&f.instructions.to_vec()).to_string(),
        actions,
        "{line}"
    );
}

#[test]
fn non_add_flow_mods_decode_to_the_command_and_filters_ovs_ofctl_encoded() {
    use FlowModCommand::*;
    for (name, command, out_group) in [
        ("flow_mod_modify", Modify, OFPG_ANY),
        ("flow_mod_modify_cookie", Modify, OFPG_ANY),
        ("flow_mod_modify_strict", ModifyStrict, OFPG_ANY),
        ("flow_mod_delete_cookie", Delete, OFPG_ANY),
        ("flow_mod_delete_out_port", Delete, OFPG_ANY),
        // ofp-print does not show out_group; the capture command asked for group 1.
        ("flow_mod_delete_out_group", Delete, 1),
        ("flow_mod_delete_strict", DeleteStrict, OFPG_ANY),
        ("flow_mod_delete_all", Delete, OFPG_ANY),
    ] {
        let (g, m) = decode(name);
        let Message::FlowMod(f) = m else {
            panic!("{name}: {m:?}")
        };
        assert_eq!((f.command, f.out_group), (command, out_group), "{name}");
        assert_eq!(
            g.source.contains(&format!("out_group={out_group}")),
            out_group != OFPG_ANY
        );
        assert_flow_mod_prints_like(&f, &g.printed[0]);
    }
    let cookie = |n| match decode(n).1 {
        Message::FlowMod(f) => (f.cookie, f.cookie_mask),
        m => panic!("{m:?}"),
    };
    assert_eq!(cookie("flow_mod_modify_cookie"), (5, 0xff));
    assert_eq!(cookie("flow_mod_delete_cookie"), (5, 0xff));
}

#[test]
fn switch_errors_carry_ovs_names_and_the_offending_request() {
    for name in ["error_bad_out_group", "error_nx_invalid_tlv_field"] {
        let (g, m) = decode(name);
        let Message::Error(e) = m else {
            panic!("{m:?}")
        };
        assert_eq!(e.name().unwrap(), word_after(&g.printed[0], "(xid="));
        let Some(Ok((xid, Message::FlowMod(f)))) = e.request() else {
            panic!("{e:?}")
        };
        assert_eq!(Some(xid), e.request_xid());
        assert_flow_mod_prints_like(&f, &g.printed[1]);
    }
    let (_, m) = decode("error_nx_invalid_tlv_field");
    let Message::Error(e) = m else {
        panic!("{m:?}")
    };
    assert!(matches!(e.code, ErrorCode::Nicira(_)), "{:?}", e.code);

    let (g, m) = decode("error_role_stale");
    let Message::Error(e) = m else {
        panic!("{m:?}")
    };
    assert_eq!(e.name().unwrap(), word_after(&g.printed[0], "(xid="));
    let Some(Ok((_, Message::RoleRequest(r)))) = e.request() else {
        panic!("{e:?}")
    };
    assert_eq!((r.role, r.generation_id), (ControllerRole::Master, 5));
    assert!(g.printed[1].ends_with("role=primary generation_id=5"));

    // NXET_VENDOR: real bytes from an OpenFlow 1.0 connection, and the same body under an
    // OpenFlow 1.3 header, which OVS never sends and its own 1.3 printer refuses.
    let (g10, m10) = decode("error_nx_vendor_of10");
    let Message::Error(e10) = m10 else {
        panic!("{m10:?}")
    };
    let nx = ErrorCode::NxVendor {
        vendor: 0x2320,
        kind: 1,
        code: 536,
    };
    assert_eq!(e10.code, nx);
    assert_eq!(e10.name().unwrap(), word_after(&g10.printed[0], "(xid="));
    let xid = u32::from_be_bytes(g10.bytes[4..8].try_into().unwrap());
    assert_eq!(e10.request_xid(), Some(xid));
    assert!(g10.printed[1].starts_with(&format!("NXT_FLOW_MOD (xid={xid:#x})")));
    let (g13, m13) = decode("error_nx_vendor_of13");
    assert_eq!(m13, Message::Error(e10));
    assert!(
        g13.printed[0].contains("***decode error"),
        "{:?}",
        g13.printed
    );
}
