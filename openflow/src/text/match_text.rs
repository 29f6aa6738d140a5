//! `Display` of a match: OVS `lib/match.c` `match_format`, its print order and the protocol
//! shorthands (`ip`, `tcp6`, `arp` ...).

use std::fmt::{self, Display, Formatter};

use super::fields;
use super::raw;
use super::values::{
    ct_state_text, hex, int_masked, ip6_masked, ip_masked, mac_masked, port_name, u16_masked,
};
use crate::flow::{Match, MatchField};

/// OVS's `vlan_tci` text from the OXM VLAN_VID / VLAN_PCP pair (`match_format`).
fn vlan_text(vid: Option<(u16, Option<u16>)>, pcp: Option<u8>) -> String {
    let (mut tci, mut mask) = (0u16, 0u16);
    if let Some((v, m)) = vid {
        let m = m.unwrap_or(0x1fff) & 0x1fff;
        tci |= v & m;
        mask |= m;
    }
    if let Some(p) = pcp {
        tci |= (p as u16) << 13;
        mask |= 0xe000;
    }
    let (vid_mask, pcp_mask) = (mask & 0x0fff, mask & 0xe000);
    if mask & tci & 0x1000 != 0
        && (vid_mask == 0 || vid_mask == 0x0fff)
        && (pcp_mask == 0 || pcp_mask == 0xe000)
        && (vid_mask != 0 || pcp_mask != 0)
    {
        let mut parts = Vec::new();
        if vid_mask != 0 {
            parts.push(format!("dl_vlan={}", tci & 0x0fff));
        }
        if pcp_mask != 0 {
            parts.push(format!("dl_vlan_pcp={}", tci >> 13));
        }
        parts.join(",")
    } else if mask == 0xffff {
        format!("vlan_tci={tci:#06x}")
    } else {
        format!("vlan_tci={tci:#06x}/{mask:#06x}")
    }
}

/// Position in `match_format`'s print order, and the `key=value` text; `None` for fields
/// folded into the protocol shorthand or into another field's text (VLAN PCP).
fn field_text(
    f: &MatchField,
    shorthand_type: bool,
    shorthand_proto: bool,
    eth_type: Option<u16>,
) -> Option<(u16, String)> {
    use MatchField as M;
    let arp = matches!(eth_type, Some(0x0806) | Some(0x8035));
    let m32 = |m: &Option<u32>| m.map(u128::from);
    Some(match f {
        M::PktMark(v, m) => (0, format!("pkt_mark={}", int_masked(*v as u128, m32(m)))),
        M::RecircId(v) => (1, format!("recirc_id={}", hex(*v as u128))),
        M::DpHash(v, m) => (2, format!("dp_hash={}", int_masked(*v as u128, m32(m)))),
        M::ConjId(v) => (3, format!("conj_id={v}")),
        M::CtState(v, m) => (4, format!("ct_state={}", ct_state_text(*v, *m))),
        M::CtZone(v) => (5, format!("ct_zone={v}")),
        M::CtMark(v, m) => (6, format!("ct_mark={}", int_masked(*v as u128, m32(m)))),
        M::CtLabel(v, m) => (7, format!("ct_label={}", int_masked(*v, *m))),
        M::Reg(n, v, m) => (
            10 + *n as u16,
            format!("reg{n}={}", int_masked(*v as u128, m32(m))),
        ),
        M::TunnelId(v, m) => (
            30,
            format!("tun_id={}", int_masked(*v as u128, m.map(u128::from))),
        ),
        M::TunSrc(v, m) => (31, format!("tun_src={}", ip_masked(*v, *m))),
        M::TunDst(v, m) => (32, format!("tun_dst={}", ip_masked(*v, *m))),
        M::Metadata(v, m) => (
            40,
            format!("metadata={}", int_masked(*v as u128, m.map(u128::from))),
        ),
        M::InPort(p) => (41, format!("in_port={}", port_name(*p))),
        // VLAN_VID carries the PCP too (see `to_string_with_priority`); PCP alone is text-less.
        M::VlanVid(..) | M::VlanPcp(_) => return None,
        M::EthSrc(v, m) => (43, format!("dl_src={}", mac_masked(*v, *m))),
        M::EthDst(v, m) => (44, format!("dl_dst={}", mac_masked(*v, *m))),
        M::EthType(v) if !shorthand_type => (45, format!("dl_type={v:#06x}")),
        M::EthType(_) => return None,
        M::Ipv6Src(v, m) => (46, format!("ipv6_src={}", ip6_masked(*v, *m))),
        M::Ipv6Dst(v, m) => (47, format!("ipv6_dst={}", ip6_masked(*v, *m))),
        M::Ipv4Src(v, m) => (46, format!("nw_src={}", ip_masked(*v, *m))),
        M::ArpSpa(v, m) => (46, format!("arp_spa={}", ip_masked(*v, *m))),
        M::Ipv4Dst(v, m) => (47, format!("nw_dst={}", ip_masked(*v, *m))),
        M::ArpTpa(v, m) => (47, format!("arp_tpa={}", ip_masked(*v, *m))),
        M::Ipv6Flabel(v, m) => (
            48,
            match m {
                None => format!("ipv6_label={v:#07x}"),
                Some(m) => format!("ipv6_label={v:#07x}/{m:#07x}"),
            },
        ),
        M::IpProto(_) if shorthand_proto => return None,
        M::IpProto(v) if arp => (49, format!("arp_op={v}")),
        M::IpProto(v) => (49, format!("nw_proto={v}")),
        M::ArpOp(v) => (49, format!("arp_op={v}")),
        M::IpDscp(v) => (50, format!("nw_tos={}", (*v as u16) << 2)),
        M::IpEcn(v) => (51, format!("nw_ecn={v}")),
        M::NwTtl(v) => (52, format!("nw_ttl={v}")),
        M::MplsLabel(v) => (53, format!("mpls_label={v}")),
        M::MplsTc(v) => (54, format!("mpls_tc={v}")),
        M::MplsBos(v) => (55, format!("mpls_bos={v}")),
        M::ArpSha(v, m) => (57, format!("arp_sha={}", mac_masked(*v, *m))),
        M::ArpTha(v, m) => (58, format!("arp_tha={}", mac_masked(*v, *m))),
        M::IcmpType(v) | M::Icmpv6Type(v) => (60, format!("icmp_type={v}")),
        M::IcmpCode(v) | M::Icmpv6Code(v) => (61, format!("icmp_code={v}")),
        M::NdTarget(v, m) => (62, format!("nd_target={}", ip6_masked(*v, *m))),
        M::NdSll(v, m) => (63, format!("nd_sll={}", mac_masked(*v, *m))),
        M::NdTll(v, m) => (64, format!("nd_tll={}", mac_masked(*v, *m))),
        M::TcpSrc(v, m) | M::UdpSrc(v, m) | M::SctpSrc(v, m) => {
            (70, format!("tp_src={}", u16_masked(*v, *m)))
        }
        M::TcpDst(v, m) | M::UdpDst(v, m) | M::SctpDst(v, m) => {
            (71, format!("tp_dst={}", u16_masked(*v, *m)))
        }
        // Last, in list order: they have no place in OVS's.
        M::Raw { .. } => (u16::MAX, raw::oxm_text(f)?),
        other => return fields::field_text(other),
    })
}

impl Match {
    /// `match_format` with a priority: `priority=N,` unless it is the default 32768, then the
    /// fields in OVS's print order, comma-separated.
    pub fn to_string_with_priority(&self, priority: u16) -> String {
        let canon = self.to_vec();
        let eth_type = canon.iter().find_map(|f| {
            if let MatchField::EthType(t) = f {
                Some(*t)
            } else {
                None
            }
        });
        let ip_proto = canon.iter().find_map(|f| {
            if let MatchField::IpProto(p) = f {
                Some(*p)
            } else {
                None
            }
        });
        let shorthand = match (eth_type, ip_proto) {
            (Some(0x0800), Some(1)) => Some(("icmp", true)),
            (Some(0x0800), Some(2)) => Some(("igmp", true)),
            (Some(0x0800), Some(6)) => Some(("tcp", true)),
            (Some(0x0800), Some(17)) => Some(("udp", true)),
            (Some(0x0800), Some(132)) => Some(("sctp", true)),
            (Some(0x0800), _) => Some(("ip", false)),
            (Some(0x86dd), Some(58)) => Some(("icmp6", true)),
            (Some(0x86dd), Some(6)) => Some(("tcp6", true)),
            (Some(0x86dd), Some(17)) => Some(("udp6", true)),
            (Some(0x86dd), Some(132)) => Some(("sctp6", true)),
            (Some(0x86dd), _) => Some(("ipv6", false)),
            (Some(0x0806), _) => Some(("arp", false)),
            (Some(0x8035), _) => Some(("rarp", false)),
            (Some(0x8847), _) => Some(("mpls", false)),
            (Some(0x8848), _) => Some(("mplsm", false)),
            _ => None,
        };
        let mut items: Vec<(u16, String)> = canon
            .iter()
            .filter_map(|f| {
                field_text(
                    f,
                    shorthand.is_some(),
                    shorthand.is_some_and(|s| s.1),
                    eth_type,
                )
            })
            .collect();
        if let Some((name, _)) = shorthand {
            items.push((9, name.to_string()));
        }
        let vid = canon.iter().find_map(|f| match f {
            MatchField::VlanVid(v, m) => Some((*v, *m)),
            _ => None,
        });
        let pcp = canon.iter().find_map(|f| match f {
            MatchField::VlanPcp(p) => Some(*p),
            _ => None,
        });
        if vid.is_some() || pcp.is_some() {
            items.push((42, vlan_text(vid, pcp)));
        }
        items.sort_by_key(|(rank, _)| *rank);
        let mut parts: Vec<String> = Vec::new();
        if priority != 0x8000 {
            parts.push(format!("priority={priority}"));
        }
        parts.extend(items.into_iter().map(|(_, s)| s));
        parts.join(",")
    }
}

impl Display for Match {
    /// Fields in OVS's `match_format` order, e.g. `ct_state=-new+trk,ip,reg1=0x3`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_with_priority(0x8000))
    }
}
