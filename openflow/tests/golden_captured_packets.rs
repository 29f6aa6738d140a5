//! The captured PACKET_OUT, PACKET_IN, PACKET_IN2 (paused and resumed), NXT_RESUME and
//! FLOW_REMOVED (`tests/golden/captured.golden`) carry the values OVS printed for those very
//! bytes, and ovs-ofctl's RESUME is the one this crate builds from the PACKET_IN2.

use openflow::nicira::{ExtMessage, PacketIn2Prop};
use openflow::Message;

mod captured;
use captured::*;

/// The frame OVS describes on the last printed line (`dl_src=..,dl_dst=..,nw_src=..,nw_dst=..`).
fn assert_frame_matches(frame: &[u8], printed: &[String]) {
    let flow = printed.last().unwrap();
    let mac = |b: &[u8]| openflow::MacAddr(b.try_into().unwrap()).to_string();
    let ip = |b: &[u8]| std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string();
    assert_eq!(mac(&frame[0..6]), value(flow, "dl_dst="));
    assert_eq!(mac(&frame[6..12]), value(flow, "dl_src="));
    assert_eq!(ip(&frame[26..30]), value(flow, "nw_src="));
    assert_eq!(ip(&frame[30..34]), value(flow, "nw_dst="));
}

#[test]
fn paused_packet_in2_carries_what_ovs_printed_and_a_continuation() {
    let (g, p) = props("packet_in2_paused");
    let head = &g.printed[0];
    let frame = p.iter().find_map(|p| match p {
        PacketIn2Prop::Packet(f) => Some(f.clone()),
        _ => None,
    });
    let frame = frame.unwrap();
    assert_eq!(frame.len() as u64, int(value(head, "total_len=")));
    assert_eq!(frame.len() as u64, int(value(head, "data_len=")));
    assert_frame_matches(&frame, &g.printed);
    // OVS omits table_id=0 when printing and sends no COOKIE property for a paused packet.
    assert!(p.contains(&PacketIn2Prop::TableId(0)) && !head.contains("table_id="));
    assert!(!p.iter().any(|p| matches!(p, PacketIn2Prop::Cookie(_))));
    assert!(p.contains(&PacketIn2Prop::Reason(1)) && head.contains("(via action)"));
    let md = p.iter().find_map(|p| p.metadata_match()).unwrap().unwrap();
    assert_eq!(md.to_string(), word_after(head, "total_len="));
    assert_eq!(g.printed[1].trim(), "userdata=01.02.03");
    assert!(p.contains(&PacketIn2Prop::Userdata(vec![1, 2, 3])));
    // The continuation nests properties 8-aligned (4 zero bytes after its own header); the
    // first, 0x8000 (NXCPT_BRIDGE), is the bridge UUID OVS printed, as the four 32-bit words of
    // OVS's `struct uuid` in the capturing host's byte order (x86: little-endian).
    let cont = p.iter().find_map(|p| match p {
        PacketIn2Prop::Continuation(c) => Some(c.clone()),
        _ => None,
    });
    let cont = cont.expect("a paused PACKET_IN2 has a continuation");
    assert_eq!(cont[..8], [0, 0, 0, 0, 0x80, 0x00, 0x00, 0x14]);
    let w: Vec<u32> = cont[8..24]
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let uuid = format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:04x}{:08x}",
        w[0],
        w[1] >> 16,
        w[1] & 0xffff,
        w[2] >> 16,
        w[2] & 0xffff,
        w[3]
    );
    assert_eq!(uuid, value(&g.printed[2], "continuation.bridge="));
}

#[test]
fn ovs_ofctl_resumes_with_the_paused_properties_minus_userdata_as_we_encode_it() {
    let (_, paused) = props("packet_in2_paused");
    let (g, resume) = props("resume");
    let want: Vec<PacketIn2Prop> = paused
        .into_iter()
        .filter(|p| !matches!(p, PacketIn2Prop::Userdata(_)))
        .collect();
    assert_eq!(resume, want);
    let xid = u32::from_be_bytes(g.bytes[4..8].try_into().unwrap());
    assert_eq!(Message::Ext(ExtMessage::Resume(want)).encode(xid), g.bytes);
    assert!(g.printed[0].starts_with("NXT_RESUME (OF1.3)"));
}

#[test]
fn resumed_packet_in2_and_plain_packet_in_carry_what_ovs_printed() {
    let (_, m) = decode("packet_out");
    let Message::PacketOut(out) = m else {
        panic!("{m:?}")
    };
    let g = golden("packet_out");
    assert_eq!(value(&g.printed[0], "in_port="), "LOCAL");
    assert_eq!(out.in_port, 0xffff_fffe);
    assert_eq!(actions_text(&out.actions), value(&g.printed[0], "actions="));
    assert_eq!(
        out.data.len() as u64,
        int(value(&g.printed[0], "data_len="))
    );
    assert_frame_matches(&out.data, &g.printed);

    let (g, p) = props("packet_in2_resumed");
    let head = &g.printed[0];
    assert!(p.contains(&PacketIn2Prop::TableId(int(value(head, "table_id=")) as u8)));
    assert!(p.contains(&PacketIn2Prop::Cookie(int(value(head, "cookie=")))));
    assert!(p.contains(&PacketIn2Prop::Packet(out.data.clone())));
    assert!(
        p.contains(&PacketIn2Prop::Userdata(vec![4, 5])) && g.printed[1].trim() == "userdata=04.05"
    );
    assert!(!p
        .iter()
        .any(|p| matches!(p, PacketIn2Prop::Continuation(_))));
    let md = p.iter().find_map(|p| p.metadata_match()).unwrap().unwrap();
    assert_eq!(md.to_string(), word_after(head, "total_len="));

    let (g, m) = decode("packet_in");
    let Message::PacketIn(pi) = m else {
        panic!("{m:?}")
    };
    let head = &g.printed[0];
    assert_eq!(pi.table_id as u64, int(value(head, "table_id=")));
    assert_eq!(pi.cookie, int(value(head, "cookie=")));
    assert_eq!(pi.total_len as u64, int(value(head, "total_len=")));
    assert_eq!(pi.r#match.to_string(), word_after(head, "total_len="));
    assert_eq!(
        format!("{})", pi.reason.name().unwrap()),
        value(head, "(via ")
    );
    assert_eq!(pi.data, out.data);
}

#[test]
fn flow_removed_carries_what_ovs_printed() {
    let (g, m) = decode("flow_removed_hard_timeout");
    let Message::FlowRemoved(f) = m else {
        panic!("{m:?}")
    };
    let p = &g.printed[0];
    assert_eq!(
        f.r#match.to_string_with_priority(f.priority),
        word_after(p, "(xid=")
    );
    assert_eq!(f.reason.name().unwrap(), value(p, "reason="));
    assert_eq!(f.table_id as u64, int(value(p, "table_id=")));
    assert_eq!(f.cookie, int(value(p, "cookie:")));
    assert_eq!(
        duration(f.duration_sec, f.duration_nsec),
        value(p, "duration")
    );
    assert_eq!(f.idle_timeout as u64, int(value(p, " idle")));
    assert_eq!(f.hard_timeout as u64, int(value(p, " hard")));
    assert_eq!(f.packet_count, int(value(p, " pkts")));
    assert_eq!(f.byte_count, int(value(p, " bytes")));
}
