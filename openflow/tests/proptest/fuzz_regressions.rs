//! Inputs the fuzz targets (`openflow/fuzz`) found, kept as plain tests.

use super::round_trips;
use openflow::packet::PortStatus;
use openflow::{Error, FlowMod, Message};

/// PORT_STATUS (type 12) whose 16-byte port name field holds `name`.
fn port_status(name: [u8; 16]) -> Vec<u8> {
    let mut b = vec![4, 12, 0, 80, 0, 0, 0, 33, 2, 0, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&[0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 79, 0, 0, 0]);
    b.extend_from_slice(&name);
    b.extend_from_slice(&[0; 32]);
    b
}

fn port_name(b: &[u8]) -> String {
    match Message::decode(b) {
        Ok((_, Message::PortStatus(PortStatus { port, .. }))) => port.name,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_port_name_of_invalid_utf8_decodes_to_what_it_re_encodes_to() {
    // decode_message: 0xff bytes decoded as U+FFFD (3 bytes each) were cut on re-emit, so
    // the re-encoding decoded to another name.
    let mut name = [0xff; 16];
    name[8..].fill(0);
    let b = port_status(name);
    assert_eq!(port_name(&b), "????????");
    round_trips(&b).unwrap();
    // A multi-byte character cut by the field keeps its whole bytes, the rest are `?`.
    let mut name = [0; 16];
    name[..15].copy_from_slice("abcdefghijklmn\u{e9}".as_bytes()[..15].try_into().unwrap());
    assert_eq!(port_name(&port_status(name)), "abcdefghijklmn?");
}

#[test]
fn a_port_name_filling_its_field_is_read_as_ovs_reads_it_to_15_bytes() {
    let b = port_status(*b"0123456789abcdef");
    assert_eq!(port_name(&b), "0123456789abcde");
    round_trips(&b).unwrap();
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn parse_error(s: &str) -> String {
    match s.parse::<FlowMod>() {
        Err(Error::Parse { input, reason }) => format!("{input}: {reason}"),
        other => panic!("{s}: {other:?}"),
    }
}

#[test]
fn a_flow_whose_match_lacks_a_prerequisite_or_repeats_a_field_does_not_parse() {
    // parse_flow: these parsed, and the switch (like our decoder) refuses their encoding
    // with OFPBMC_BAD_PREREQ / OFPBMC_DUP_FIELD; `ovs-ofctl` drops `tp_dst=80` instead,
    // which widens the flow to every packet.
    assert_eq!(
        parse_error("table=7,tcp_dst=80 actions=drop"),
        "tp_dst=80: tp_dst needs tcp or tcp6 (ip_proto=6) first (OFPBMC_BAD_PREREQ)"
    );
    assert_eq!(
        parse_error("sctp_src=5,tcp actions=drop"),
        "tcp,tp_src=5: tp_src needs sctp or sctp6 (ip_proto=132) first (OFPBMC_BAD_PREREQ)"
    );
    assert_eq!(
        parse_error("pbb_isid=94,ip actions=drop"),
        "ip,pbb_isid=0x5e: pbb_isid needs eth_type=0x88e7 first (OFPBMC_BAD_PREREQ)"
    );
    assert_eq!(
        parse_error("eth_type=3,ip actions=drop"),
        "dl_type=0x0003,dl_type=0x0800: duplicate field dl_type (OFPBMC_DUP_FIELD)"
    );
    // The same field twice with the same value is the one field.
    let f: FlowMod = "ip,ip,tcp actions=drop".parse().unwrap();
    assert_eq!(f.to_string(), "tcp actions=drop");
}

#[test]
fn a_numeric_ct_state_is_the_eight_flags_as_ovs_encodes_it() {
    // parse_flow: `ct_state=0x12` was an exact 32-bit match, printed as the 8 flags, which
    // parse back as 0x12/0xff: another flow_mod. OVS writes 0x12/0xff for both.
    // `ovs-ofctl -mmmmm -O OpenFlow13 parse-flow 'ct_state=0x21 actions=drop'`:
    let ovs = unhex(
        "040e0040000000010000000000000000000000000000000000000000000080\
         00ffffffffffffffffffffffff0000000000010010\
         0001d30800000021000000ff",
    );
    let f: FlowMod = "ct_state=0x21 actions=drop".parse().unwrap();
    assert_eq!(Message::FlowMod(f.clone()).encode(1), ovs);
    let again: FlowMod = f.to_string().parse().unwrap();
    assert_eq!(again, f);
    // Bits OVS has no flag for are refused, as `ovs-ofctl` refuses them.
    assert_eq!(
        parse_error("ct_state=0x1005/0x1c1 actions=drop"),
        "0x1005/0x1c1: unknown ct_state flag(s)"
    );
}

#[test]
fn a_reg_move_whose_offset_plus_length_overflows_u16_is_a_bad_action() {
    // decode_message: `src_ofs + n_bits` in u16 panicked with overflow checks on and, without
    // them, wrapped below the field width so that reg0[65535..] was accepted.
    let mut b = vec![4, 14, 0, 88, 0, 0, 0, 1];
    b.extend_from_slice(&[0; 16]); // cookie, cookie_mask
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x80, 0]); // table, ADD, timeouts, priority
    b.extend_from_slice(&[0xff; 12]); // buffer_id, out_port, out_group
    b.extend_from_slice(&[0; 4]); // flags, pad
    b.extend_from_slice(&[0, 1, 0, 4, 0, 0, 0, 0]); // empty OXM match
    b.extend_from_slice(&[0, 4, 0, 32, 0, 0, 0, 0]); // apply_actions
                                                     // NXAST_REG_MOVE: n_bits 2, src_ofs 0xffff, dst_ofs 0, reg0 -> reg1.
    b.extend_from_slice(&[0xff, 0xff, 0, 24, 0, 0, 0x23, 0x20, 0, 6]);
    b.extend_from_slice(&[0, 2, 0xff, 0xff, 0, 0, 0, 1, 0, 4, 0, 1, 2, 4]);
    assert_eq!(b.len(), 88);
    match Message::decode(&b) {
        Err(Error::BadAction { offset, reason }) => {
            assert_eq!(offset, 64);
            assert_eq!(reason, "reg_move bit range outside its fields");
        }
        other => panic!("{other:?}"),
    }
    // The same move inside the field decodes.
    b[76..78].copy_from_slice(&[0, 30]);
    assert!(Message::decode(&b).is_ok());
}

#[test]
fn exact_tcp_flags_print_as_a_flag_list_that_parses_back() {
    // parse_flow: `tcp_flags=5` printed as OVS prints it, `fin|rst`, which did not parse.
    // `ovs-ofctl -mmmmm -O OpenFlow13 parse-flow 'tcp,tcp_flags=fin|rst actions=drop'`:
    let ovs = unhex(
        "040e005000000001000000000000000000000000000000000000000000008000\
         ffffffffffffffffffffffff000000000001001980000a0208008000140106ff\
         ff54064f4e4600000500000000000000",
    );
    for text in [
        "tcp,tcp_flags=5 actions=drop",
        "tcp,tcp_flags=fin|rst actions=drop",
    ] {
        let f: FlowMod = text.parse().unwrap();
        assert_eq!(f.to_string(), "tcp,tcp_flags=fin|rst actions=drop");
        assert_eq!(Message::FlowMod(f).encode(1), ovs, "{text}");
    }
    // As `ovs-ofctl`: "0x1000: unknown TCP flag(s)".
    assert_eq!(
        parse_error("tcp,tcp_flags=0x1000 actions=drop"),
        "0x1000: unknown flag(s)"
    );
}

#[test]
fn a_vlan_priority_past_three_bits_does_not_parse() {
    // parse_flow: `dl_vlan_pcp=8` encoded 8, which the printer (like OVS's `ovs-ofctl`) reads
    // as its low 3 bits, 0: another flow.
    assert_eq!(
        parse_error("dl_vlan_pcp=8 actions=drop"),
        "dl_vlan_pcp=8: dl_vlan_pcp is 0..7"
    );
    let f: FlowMod = "dl_vlan_pcp=7 actions=drop".parse().unwrap();
    assert_eq!(f.to_string(), "dl_vlan_pcp=7 actions=drop");
}

#[test]
fn ct_exec_writes_only_conntrack_mark_and_label() {
    // parse_flow: `exec(set_field:..->arp_spa)` parsed, and the decoder (like OVS, which
    // refuses it: "ct action doesn't support nested modification") keeps such a ct raw.
    assert_eq!(
        parse_error("tcp actions=ct(commit,exec(set_field:0x1->reg0))"),
        "set_field:0x1->reg0: ct exec only sets ct_mark or ct_label"
    );
    let f: FlowMod = "tcp actions=ct(commit,exec(load:0x1->NXM_NX_CT_MARK[]))"
        .parse()
        .unwrap();
    assert_eq!(
        f.to_string(),
        "tcp actions=ct(commit,exec(load:0x1->NXM_NX_CT_MARK[]))"
    );
}
