//! `FromStr` side of a match: `ovs-ofctl` match keywords and `key=value` fields into
//! [`MatchField`]s, with the protocol shorthands and `tp_src`/`tp_dst` resolved as OVS does.

use std::str::FromStr;

use super::fields;
use super::flow_mod::header_keyword;
use super::raw;
use super::syntax::{indexed, is_oxm, kv, MatchTokens};
use super::values::{
    ct_state_parse, ip6_masked_parse, ip_masked_parse, mac_masked_parse, num, num_masked,
    parse_port, perr,
};
use crate::flow::{FlowMod, FlowModCommand, Match, MatchField};
use crate::Error;

/// Parse a match (`ip,nw_src=10.0.0.1,reg1=0x3`, no priority) into canonical form.
pub fn parse_match(s: &str) -> Result<Match, Error> {
    let mut fm = FlowMod::add(0, 0x8000, Match::default(), Vec::new());
    parse_match_tokens(&mut fm, MatchTokens(s), None, true)?;
    Ok(fm.r#match)
}

impl FromStr for Match {
    type Err = Error;

    /// The match part of an `ovs-ofctl` flow, e.g. `tcp,nw_src=10.0.0.0/8,tp_dst=80`: match
    /// keywords and fields only (no `priority=`, `table=` or `actions=`), separated by commas
    /// or spaces; the empty string is the empty match. The result is in canonical form
    /// ([`Match::canonical`]), so `m.to_string().parse() == Ok(m.canonical())`. A field
    /// without its prerequisites, or twice with different values, is refused as the decoder
    /// refuses it; field values are checked by [`Match::validate`].
    ///
    /// Errors: [`Error::Parse`] naming the offending token. Source: OVS `lib/ofp-flow.c`
    /// `parse_ofp_str__`, `lib/meta-flow.c` `mf_parse`.
    fn from_str(s: &str) -> Result<Match, Error> {
        parse_match(s)
    }
}

/// Read match tokens into `fm.r#match` (canonical); with a `command`, the flow_mod keywords
/// that command takes too ([`header_keyword`]).
pub(super) fn parse_match_tokens<'a>(
    fm: &mut FlowMod,
    tokens: impl Iterator<Item = &'a str>,
    command: Option<FlowModCommand>,
    check: bool,
) -> Result<(), Error> {
    use MatchField as M;
    let mut fields: Vec<MatchField> = Vec::new();
    let mut tp: Vec<(bool, u16, Option<u16>)> = Vec::new();
    let mut vlan_pcp: Option<u8> = None;
    let mut unknown: Vec<MatchField> = Vec::new();
    for tok in tokens {
        let (k, v) = kv(tok);
        if let Some(command) = command {
            if header_keyword(fm, command, k, v, tok)? {
                continue;
            }
        }
        let need = || v.ok_or_else(|| perr(tok, "expected key=value"));
        match (k, v) {
            ("ip", None) => fields.push(M::EthType(0x0800)),
            ("ipv6", None) => fields.push(M::EthType(0x86dd)),
            ("arp", None) => fields.push(M::EthType(0x0806)),
            ("rarp", None) => fields.push(M::EthType(0x8035)),
            ("mpls", None) => fields.push(M::EthType(0x8847)),
            ("mplsm", None) => fields.push(M::EthType(0x8848)),
            (
                p
                @ ("icmp" | "igmp" | "tcp" | "udp" | "sctp" | "icmp6" | "tcp6" | "udp6" | "sctp6"),
                None,
            ) => {
                let v6 = p.ends_with('6');
                fields.push(M::EthType(if v6 { 0x86dd } else { 0x0800 }));
                fields.push(M::IpProto(match p.trim_end_matches('6') {
                    "icmp" if v6 => 58,
                    "icmp" => 1,
                    "igmp" => 2,
                    "tcp" => 6,
                    "udp" => 17,
                    _ => 132,
                }));
            }
            ("in_port", _) => fields.push(M::InPort(parse_port(need()?)?)),
            ("dl_src" | "eth_src", _) => {
                let (a, m) = mac_masked_parse(need()?)?;
                fields.push(M::EthSrc(a, m));
            }
            ("dl_dst" | "eth_dst", _) => {
                let (a, m) = mac_masked_parse(need()?)?;
                fields.push(M::EthDst(a, m));
            }
            ("dl_type" | "eth_type", _) => fields.push(M::EthType(num(need()?)?)),
            ("nw_src" | "ip_src", _) => {
                let (a, m) = ip_masked_parse(need()?)?;
                fields.push(M::Ipv4Src(a, m));
            }
            ("nw_dst" | "ip_dst", _) => {
                let (a, m) = ip_masked_parse(need()?)?;
                fields.push(M::Ipv4Dst(a, m));
            }
            ("nw_proto" | "ip_proto", _) => fields.push(M::IpProto(num(need()?)?)),
            ("tp_src" | "tp_dst", _) => {
                let (a, m) = num_masked::<u16>(need()?)?;
                tp.push((k == "tp_src", a, m));
            }
            ("tcp_src" | "udp_src" | "sctp_src" | "tcp_dst" | "udp_dst" | "sctp_dst", _) => {
                let (a, m) = num_masked::<u16>(need()?)?;
                fields.push(match k {
                    "tcp_src" => M::TcpSrc(a, m),
                    "tcp_dst" => M::TcpDst(a, m),
                    "udp_src" => M::UdpSrc(a, m),
                    "udp_dst" => M::UdpDst(a, m),
                    "sctp_src" => M::SctpSrc(a, m),
                    _ => M::SctpDst(a, m),
                });
            }
            ("icmp_type", _) => fields.push(M::IcmpType(num(need()?)?)),
            ("icmp_code", _) => fields.push(M::IcmpCode(num(need()?)?)),
            ("arp_op", _) => fields.push(M::ArpOp(num(need()?)?)),
            ("arp_spa", _) => {
                let (a, m) = ip_masked_parse(need()?)?;
                fields.push(M::ArpSpa(a, m));
            }
            ("arp_tpa", _) => {
                let (a, m) = ip_masked_parse(need()?)?;
                fields.push(M::ArpTpa(a, m));
            }
            ("arp_sha", _) => {
                let (a, m) = mac_masked_parse(need()?)?;
                fields.push(M::ArpSha(a, m));
            }
            ("ct_state", _) => {
                let (a, m) = ct_state_parse(need()?)?;
                fields.push(M::CtState(a, m));
            }
            ("ct_zone", _) => fields.push(M::CtZone(num(need()?)?)),
            ("ct_mark", _) => {
                let (a, m) = num_masked::<u32>(need()?)?;
                fields.push(M::CtMark(a, m));
            }
            ("ct_label", _) => {
                let (a, m) = num_masked::<u128>(need()?)?;
                fields.push(M::CtLabel(a, m));
            }
            ("conj_id", _) => fields.push(M::ConjId(num(need()?)?)),
            ("metadata", _) => {
                let (a, m) = num_masked::<u64>(need()?)?;
                fields.push(M::Metadata(a, m));
            }
            ("dl_vlan", _) => {
                let vid: u16 = num(need()?)?;
                // OFP10_VLAN_NONE (0xffff) is "no VLAN", as `ovs-ofctl` reads it; any other
                // value keeps its low 12 bits with OFPVID_PRESENT, as OVS does.
                fields.push(match vid {
                    0xffff => M::VlanVid(0, None),
                    vid => M::VlanVid(0x1000 | (vid & 0x0fff), None),
                });
            }
            // OVS keeps the low 3 bits (`dl_vlan_pcp=8` is 0); a value that does not fit is
            // refused here rather than matched as another priority.
            ("dl_vlan_pcp", _) => match num(need()?)? {
                p @ 0..=7 => vlan_pcp = Some(p),
                _ => return Err(perr(tok, "dl_vlan_pcp is 0..7")),
            },
            ("vlan_tci", _) => {
                let (t, m) = num_masked::<u16>(need()?)?;
                let m = m.unwrap_or(0xffff);
                if m & 0x1fff != 0 {
                    fields.push(M::VlanVid(t & 0x1fff, Some(m & 0x1fff)));
                }
                // Without a VLAN (present bit matched as 0) the PCP is meaningless; OVS drops it.
                match m & 0xe000 {
                    _ if m & 0x1000 != 0 && t & 0x1000 == 0 => {}
                    0 => {}
                    0xe000 => fields.push(M::VlanPcp((t >> 13) as u8)),
                    _ => return Err(perr(tok, "vlan_tci PCP bits must be all or none")),
                }
            }
            ("nw_tos", _) => fields.push(M::IpDscp(num::<u8>(need()?)? >> 2)),
            ("ip_dscp", _) => fields.push(M::IpDscp(num(need()?)?)),
            ("nw_ecn" | "ip_ecn", _) => fields.push(M::IpEcn(num(need()?)?)),
            ("nw_ttl", _) => fields.push(M::NwTtl(num(need()?)?)),
            ("ipv6_src", _) => {
                let (a, m) = ip6_masked_parse(need()?)?;
                fields.push(M::Ipv6Src(a, m));
            }
            ("ipv6_dst", _) => {
                let (a, m) = ip6_masked_parse(need()?)?;
                fields.push(M::Ipv6Dst(a, m));
            }
            ("ipv6_label", _) => {
                let (a, m) = num_masked::<u32>(need()?)?;
                fields.push(M::Ipv6Flabel(a, m));
            }
            ("icmpv6_type", _) => fields.push(M::Icmpv6Type(num(need()?)?)),
            ("icmpv6_code", _) => fields.push(M::Icmpv6Code(num(need()?)?)),
            ("nd_target", _) => {
                let (a, m) = ip6_masked_parse(need()?)?;
                fields.push(M::NdTarget(a, m));
            }
            ("nd_sll", _) => {
                let (a, m) = mac_masked_parse(need()?)?;
                fields.push(M::NdSll(a, m));
            }
            ("nd_tll", _) => {
                let (a, m) = mac_masked_parse(need()?)?;
                fields.push(M::NdTll(a, m));
            }
            ("arp_tha", _) => {
                let (a, m) = mac_masked_parse(need()?)?;
                fields.push(M::ArpTha(a, m));
            }
            ("mpls_label", _) => fields.push(M::MplsLabel(num(need()?)?)),
            ("mpls_tc", _) => fields.push(M::MplsTc(num(need()?)?)),
            ("mpls_bos", _) => fields.push(M::MplsBos(num(need()?)?)),
            ("tun_id" | "tunnel_id", _) => {
                let (a, m) = num_masked::<u64>(need()?)?;
                fields.push(M::TunnelId(a, m));
            }
            ("tun_src", _) => {
                let (a, m) = ip_masked_parse(need()?)?;
                fields.push(M::TunSrc(a, m));
            }
            ("tun_dst", _) => {
                let (a, m) = ip_masked_parse(need()?)?;
                fields.push(M::TunDst(a, m));
            }
            ("pkt_mark", _) => {
                let (a, m) = num_masked::<u32>(need()?)?;
                fields.push(M::PktMark(a, m));
            }
            ("dp_hash", _) => {
                let (a, m) = num_masked::<u32>(need()?)?;
                fields.push(M::DpHash(a, m));
            }
            ("recirc_id", _) => fields.push(M::RecircId(num(need()?)?)),
            (r, _) if indexed(r, "reg", 16).is_some() => {
                let (a, m) = num_masked::<u32>(need()?)?;
                fields.push(M::Reg(indexed(r, "reg", 16).unwrap_or(0), a, m));
            }
            _ if is_oxm(tok) => unknown.push(raw::parse_oxm(tok)?),
            _ => match fields::parse(k, v, tok)? {
                Some(f) => fields.extend(f),
                None => return Err(perr(tok, "unsupported match field or keyword")),
            },
        }
    }
    let proto = fields.iter().find_map(|f| {
        if let M::IpProto(p) = f {
            Some(*p)
        } else {
            None
        }
    });
    if let Some(p) = vlan_pcp {
        // A PCP match implies "has a VLAN" (OVS sets the VID present bit in the mask).
        if !fields.iter().any(|f| matches!(f, M::VlanVid(..))) {
            fields.push(M::VlanVid(0x1000, Some(0x1000)));
        }
        fields.push(M::VlanPcp(p));
    }
    let is_v6 = fields.iter().any(|f| matches!(f, M::EthType(0x86dd)));
    for f in fields.iter_mut() {
        match f {
            M::IcmpType(t) if is_v6 => *f = M::Icmpv6Type(*t),
            M::IcmpCode(c) if is_v6 => *f = M::Icmpv6Code(*c),
            _ => {}
        }
    }
    for (src, v, m) in tp {
        fields.push(match (proto, src) {
            (Some(6), true) => M::TcpSrc(v, m),
            (Some(6), false) => M::TcpDst(v, m),
            (Some(17), true) => M::UdpSrc(v, m),
            (Some(17), false) => M::UdpDst(v, m),
            (Some(132), true) => M::SctpSrc(v, m),
            (Some(132), false) => M::SctpDst(v, m),
            (Some(1), true) => M::IcmpType(v as u8),
            (Some(1), false) => M::IcmpCode(v as u8),
            _ => return Err(perr("tp_src/tp_dst", "needs tcp, udp or sctp")),
        });
    }
    // Unknown fields go last, where `Display` prints them (canonical order keeps them there).
    fields = crate::oxm::canonical_fields(&fields);
    if check {
        // An exact repeat (`ip,ip`) is one field, as OVS reads it.
        fields.dedup();
    }
    // A match the switch would refuse is a parse error here rather than an ERROR later: a field
    // without its prerequisites or given twice with different values (`ovs-ofctl` drops a
    // field without its prerequisite, widening the flow). The checks are the decoder's, i.e.
    // OVS's `oxm_pull_match`.
    let known = Match::from_fields(&fields);
    if check {
        let mut wire = Vec::with_capacity(known.buffer_len());
        known.emit(&mut wire);
        if let Err(e) = Match::parse(&mut crate::wire::Reader::new(&wire, 0)) {
            let reason = match e {
                Error::BadMatch { kind, .. } => kind.to_string(),
                e => e.to_string(),
            };
            return Err(perr(&known.to_string(), reason));
        }
    }
    fields.extend(unknown);
    fm.r#match = Match::from_fields(&fields);
    Ok(())
}
