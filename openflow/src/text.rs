//! The `ovs-ofctl` flow text form: `Display` as `ovs-ofctl -O OpenFlow13 dump-flows --no-stats`
//! prints (OVS `lib/match.c` `match_format`, `lib/ofp-actions.c` `format_*`), and `FromStr`
//! for the same syntax (`ovs-ofctl add-flow`), restricted to the fields and actions of
//! [`crate::flow`].
//!
//! ```
//! use openflow::FlowMod;
//! let f: FlowMod = "table=3, priority=200,ip,nw_src=10.10.0.2 actions=conjunction(1001,1/2)".parse().unwrap();
//! assert_eq!(f.to_string(), "table=3, priority=200,ip,nw_src=10.10.0.2 actions=conjunction(1001,1/2)");
//! ```

use std::fmt::{self, Display, Formatter, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::action::port;
use crate::field::ValueFormat;
use crate::flow::{
    Action, CtZone, Field, FlowMod, FlowModCommand, Instruction, Learn, LearnDst, LearnSpec,
    LearnSrc, MacAddr, Match, MatchField, Nat, NatAddr,
};
use crate::flow_mod::flags;
use crate::oxm::ones;
use crate::Error;

mod actions;
mod fields;

const CT_STATE_NAMES: [&str; 8] = ["new", "est", "rel", "rpl", "inv", "trk", "snat", "dnat"];
/// `nx_hash_fields` names, by value.
const HASH_FIELDS: [&str; 7] = [
    "eth_src",
    "symmetric_l4",
    "symmetric_l3l4",
    "symmetric_l3l4+udp",
    "nw_src",
    "nw_dst",
    "symmetric_l3",
];
/// `nx_mp_algorithm` names, by value.
const MP_ALGORITHMS: [&str; 4] = ["modulo_n", "hash_threshold", "hrw", "iter_hash"];
const REASONS: [&str; 6] = [
    "no_match",
    "action",
    "invalid_ttl",
    "action_set",
    "group",
    "packet_out",
];
const FLAG_NAMES: [(u16, &str); 5] = [
    (flags::SEND_FLOW_REM, "send_flow_rem"),
    (flags::CHECK_OVERLAP, "check_overlap"),
    (flags::RESET_COUNTS, "reset_counts"),
    (flags::NO_PKT_COUNTS, "no_packet_counts"),
    (flags::NO_BYT_COUNTS, "no_byte_counts"),
];
const PORT_NAMES: [(u32, &str); 8] = [
    (port::IN_PORT, "IN_PORT"),
    (port::TABLE, "TABLE"),
    (port::NORMAL, "NORMAL"),
    (port::FLOOD, "FLOOD"),
    (port::ALL, "ALL"),
    (port::CONTROLLER, "CONTROLLER"),
    (port::LOCAL, "LOCAL"),
    (port::ANY, "ANY"),
];

impl Display for MacAddr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let parts: Vec<&str> = s.split(':').collect();
        let mut b = [0u8; 6];
        if parts.len() != 6 {
            return Err(perr(s, "expected a MAC address xx:xx:xx:xx:xx:xx"));
        }
        for (i, p) in parts.iter().enumerate() {
            b[i] = u8::from_str_radix(p, 16).map_err(|_| perr(s, "bad MAC address byte"))?;
        }
        Ok(MacAddr(b))
    }
}

fn perr(input: &str, reason: impl Into<String>) -> Error {
    Error::Parse {
        input: input.to_string(),
        reason: reason.into(),
    }
}

/// OVS's `ds_put_hex`/`%#x`: `0` for zero, `0x..` otherwise.
fn hex(v: u128) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

fn port_name(p: u32) -> String {
    PORT_NAMES
        .iter()
        .find(|(n, _)| *n == p)
        .map_or_else(|| p.to_string(), |(_, s)| s.to_string())
}

fn ip_masked(v: Ipv4Addr, m: Option<Ipv4Addr>) -> String {
    match m {
        None => v.to_string(),
        Some(m) => {
            let mb = u32::from(m);
            if mb.leading_ones() + mb.trailing_zeros() == 32 {
                format!("{v}/{}", mb.leading_ones())
            } else {
                format!("{v}/{m}")
            }
        }
    }
}

fn mac_masked(v: MacAddr, m: Option<MacAddr>) -> String {
    match m {
        None => v.to_string(),
        Some(m) => format!("{v}/{m}"),
    }
}

fn u16_masked(v: u16, m: Option<u16>) -> String {
    match m {
        None => v.to_string(),
        Some(m) => format!("{}/{:#x}", hex(v as u128), m),
    }
}

fn int_masked(v: u128, m: Option<u128>) -> String {
    match m {
        None => hex(v),
        Some(m) => format!("{}/{}", hex(v), hex(m)),
    }
}

fn ct_state_text(v: u32, m: u32) -> String {
    let mut s = String::new();
    for (i, name) in CT_STATE_NAMES.iter().enumerate() {
        let bit = 1u32 << i;
        if m & bit != 0 {
            s.push(if v & bit != 0 { '+' } else { '-' });
            s.push_str(name);
        }
    }
    s
}

fn ip6_masked(v: Ipv6Addr, m: Option<Ipv6Addr>) -> String {
    match m {
        None => v.to_string(),
        Some(m) => {
            let mb = u128::from(m);
            if mb.leading_ones() + mb.trailing_zeros() == 128 {
                format!("{v}/{}", mb.leading_ones())
            } else {
                format!("{v}/{m}")
            }
        }
    }
}

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
        other => return fields::field_text(other),
    })
}

impl Match {
    /// `match_format` with a priority: `priority=N,` unless it is the default 32768, then the
    /// fields in OVS's print order, comma-separated.
    pub fn to_string_with_priority(&self, priority: u16) -> String {
        let canon = self.canonical();
        let eth_type = canon.0.iter().find_map(|f| {
            if let MatchField::EthType(t) = f {
                Some(*t)
            } else {
                None
            }
        });
        let ip_proto = canon.0.iter().find_map(|f| {
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
            .0
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
        let vid = canon.0.iter().find_map(|f| match f {
            MatchField::VlanVid(v, m) => Some((*v, *m)),
            _ => None,
        });
        let pcp = canon.0.iter().find_map(|f| match f {
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

impl Field {
    fn parse_name(s: &str) -> Option<Field> {
        Field::from_name(s)
    }

    /// The value as `set_field:` prints it (`mf_format`).
    fn format_value(self, v: u128) -> String {
        match self.value_format() {
            ValueFormat::Port if self.bits() == 16 && v >= 0xff00 => {
                port_name(v as u32 | 0xffff_0000)
            }
            ValueFormat::Port => port_name(v as u32),
            ValueFormat::Mac => crate::oxm::mac(v).to_string(),
            ValueFormat::Ipv4 => Ipv4Addr::from(v as u32).to_string(),
            ValueFormat::Ipv6 => Ipv6Addr::from(v).to_string(),
            ValueFormat::Dec => v.to_string(),
            ValueFormat::Hex => hex(v),
        }
    }
}

fn subfield(field: Field, ofs: u16, n_bits: u16) -> String {
    let name = field.nxm_name();
    if ofs == 0 && n_bits == field.bits() {
        format!("{name}[]")
    } else if n_bits == 1 {
        format!("{name}[{ofs}]")
    } else {
        format!("{name}[{ofs}..{}]", ofs as u32 + n_bits as u32 - 1)
    }
}

fn write_list(f: &mut Formatter<'_>, actions: &[Action]) -> fmt::Result {
    for (i, a) in actions.iter().enumerate() {
        if i > 0 {
            f.write_char(',')?;
        }
        write!(f, "{a}")?;
    }
    Ok(())
}

/// OVS `format_CT`: flags, table, zone, a leading `nat` outside `exec(...)`, the rest inside,
/// then `alg`.
fn ct_text(
    f: &mut Formatter<'_>,
    commit: bool,
    force: bool,
    table: Option<u8>,
    zone: CtZone,
    alg: u16,
    exec: &[Action],
) -> fmt::Result {
    let mut parts = Vec::new();
    if commit {
        parts.push("commit".to_string());
    }
    if force {
        parts.push("force".to_string());
    }
    if let Some(t) = table {
        parts.push(format!("table={t}"));
    }
    match zone {
        CtZone::Imm(0) => {}
        CtZone::Imm(z) => parts.push(format!("zone={z}")),
        CtZone::Field { field, ofs, n_bits } => {
            parts.push(format!("zone={}", subfield(field, ofs, n_bits)))
        }
    }
    let mut rest = exec;
    if let Some((first @ Action::Nat(_), tail)) = exec.split_first() {
        parts.push(first.to_string());
        rest = tail;
    }
    if !rest.is_empty() {
        let inner: Vec<String> = rest.iter().map(|a| a.to_string()).collect();
        parts.push(format!("exec({})", inner.join(",")));
    }
    match alg {
        0 => {}
        21 => parts.push("alg=ftp".into()),
        69 => parts.push("alg=tftp".into()),
        a => parts.push(format!("alg={a}")),
    }
    write!(f, "ct({})", parts.join(","))
}

/// OVS `format_NAT`.
fn nat_text(f: &mut Formatter<'_>, n: &Nat) -> fmt::Result {
    f.write_str("nat")?;
    let Some(src) = n.src else {
        return Ok(());
    };
    f.write_str(if src { "(src" } else { "(dst" })?;
    if let Some(addr) = n.addr {
        f.write_char('=')?;
        match addr {
            NatAddr::V4(min, max) => {
                write!(f, "{min}")?;
                if let Some(max) = max.filter(|m| *m != min) {
                    write!(f, "-{max}")?;
                }
            }
            NatAddr::V6(min, max) => {
                // Brackets only when a port follows (OVS `ipv6_format_addr_bracket`).
                let b = |a: Ipv6Addr| {
                    if n.ports.is_some() {
                        format!("[{a}]")
                    } else {
                        a.to_string()
                    }
                };
                f.write_str(&b(min))?;
                if let Some(max) = max.filter(|m| *m != min) {
                    write!(f, "-{}", b(max))?;
                }
            }
        }
        if let Some((min, max)) = n.ports {
            write!(f, ":{min}")?;
            if let Some(max) = max.filter(|m| *m != min) {
                write!(f, "-{max}")?;
            }
        }
    }
    // OVS prints the flags only after a range (so `nat(src,hash)` prints as `nat(src)`).
    if n.addr.is_some() {
        for (on, name) in [
            (n.persistent, "persistent"),
            (n.hash, "hash"),
            (n.random, "random"),
        ] {
            if on {
                write!(f, ",{name}")?;
            }
        }
    }
    f.write_char(')')
}

/// `nat` or `nat(src|dst[=ADDR[-ADDR][:PORT[-PORT]]][,persistent][,hash][,random])`.
fn parse_nat(s: &str) -> Result<Nat, Error> {
    let mut n = Nat::default();
    let Some(inner) = s.strip_prefix("nat") else {
        return Err(perr(s, "expected nat"));
    };
    if inner.is_empty() {
        return Ok(n);
    }
    let inner = inner
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .ok_or_else(|| perr(s, "expected nat(...)"))?;
    for kv in inner.split(',').map(str::trim).filter(|x| !x.is_empty()) {
        let (k, v) = match kv.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (kv, None),
        };
        match (k, v) {
            ("src" | "dst", v) => {
                if n.src.is_some() {
                    return Err(perr(s, "nat takes one of src and dst"));
                }
                n.src = Some(k == "src");
                if let Some(v) = v {
                    parse_nat_range(s, v, &mut n)?;
                }
            }
            ("persistent", None) => n.persistent = true,
            ("hash", None) => n.hash = true,
            ("random", None) => n.random = true,
            _ => return Err(perr(s, format!("unknown nat option {kv:?}"))),
        }
    }
    if n.src.is_none() {
        return Err(perr(s, "nat options need src or dst"));
    }
    Ok(n)
}

fn parse_nat_range(s: &str, v: &str, n: &mut Nat) -> Result<(), Error> {
    let (addrs, ports) = if v.starts_with('[') {
        // [A]-[B]:P-Q
        match v.rfind(']') {
            Some(i) => match v[i + 1..].strip_prefix(':') {
                Some(p) => (&v[..=i], Some(p)),
                None if i + 1 == v.len() => (v, None),
                None => return Err(perr(s, "bad nat range")),
            },
            None => return Err(perr(s, "bad nat range")),
        }
    } else {
        match v.split_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (v, None),
        }
    };
    // An unbracketed IPv6 range carries no port.
    let (addrs, ports) = if !v.starts_with('[') && v.matches(':').count() > 1 {
        (v, None)
    } else {
        (addrs, ports)
    };
    let addr = if addrs.contains('[') || addrs.matches(':').count() > 1 {
        let six = |x: &str| -> Result<Ipv6Addr, Error> {
            let x = x.trim();
            x.strip_prefix('[')
                .and_then(|x| x.strip_suffix(']'))
                .unwrap_or(x)
                .parse()
                .map_err(|_| perr(s, "bad nat IPv6 address"))
        };
        let (min, max) = match addrs.split_once('-') {
            Some((a, b)) => (six(a)?, Some(six(b)?)),
            None => (six(addrs)?, None),
        };
        NatAddr::V6(min, max.filter(|m| !m.is_unspecified()))
    } else {
        let four = |x: &str| -> Result<Ipv4Addr, Error> {
            x.parse().map_err(|_| perr(s, "bad nat IPv4 address"))
        };
        let (min, max) = match addrs.split_once('-') {
            Some((a, b)) => (four(a)?, Some(four(b)?)),
            None => (four(addrs)?, None),
        };
        NatAddr::V4(min, max.filter(|m| !m.is_unspecified()))
    };
    let unspecified = match addr {
        NatAddr::V4(a, _) => a.is_unspecified(),
        NatAddr::V6(a, _) => a.is_unspecified(),
    };
    if unspecified {
        return Err(perr(s, "nat address must be nonzero"));
    }
    n.addr = Some(addr);
    if let Some(p) = ports {
        let (min, max): (u16, Option<u16>) = match p.split_once('-') {
            Some((a, b)) => (num(a)?, Some(num(b)?)),
            None => (num(p)?, None),
        };
        if min == 0 {
            return Err(perr(s, "nat port must be nonzero"));
        }
        n.ports = Some((min, max.filter(|m| *m != 0)));
    }
    Ok(())
}

/// OVS `learn_format`.
fn learn_text(f: &mut Formatter<'_>, l: &Learn) -> fmt::Result {
    write!(f, "learn(table={}", l.table)?;
    for (v, name) in [
        (l.idle_timeout, "idle_timeout"),
        (l.hard_timeout, "hard_timeout"),
        (l.fin_idle_timeout, "fin_idle_timeout"),
        (l.fin_hard_timeout, "fin_hard_timeout"),
    ] {
        if v != 0 {
            write!(f, ",{name}={v}")?;
        }
    }
    if l.priority != 0x8000 {
        write!(f, ",priority={}", l.priority)?;
    }
    if l.flags & 1 != 0 {
        f.write_str(",send_flow_rem")?;
    }
    if l.flags & 2 != 0 {
        f.write_str(",delete_learned")?;
    }
    if l.cookie != 0 {
        write!(f, ",cookie={:#x}", l.cookie)?;
    }
    if l.limit != 0 {
        write!(f, ",limit={}", l.limit)?;
    }
    if let Some((field, ofs)) = l.result_dst {
        write!(f, ",result_dst={}", subfield(field, ofs, 1))?;
    }
    for spec in &l.specs {
        f.write_char(',')?;
        let n = spec.n_bits;
        match (spec.dst, spec.src) {
            (LearnDst::Match { field, ofs }, LearnSrc::Imm(v)) => {
                if ofs == 0 && n == field.bits() {
                    write!(f, "{}={}", field.name(), field.format_value(v))?;
                } else {
                    write!(f, "{}={}", subfield(field, ofs, n), hex(v))?;
                }
            }
            (LearnDst::Match { field, ofs }, LearnSrc::Field { field: sf, ofs: so }) => {
                f.write_str(&subfield(field, ofs, n))?;
                if sf != field || so != ofs {
                    write!(f, "={}", subfield(sf, so, n))?;
                }
            }
            (LearnDst::Load { field, ofs }, LearnSrc::Imm(v)) => {
                write!(f, "load:{}->{}", hex(v), subfield(field, ofs, n))?;
            }
            (LearnDst::Load { field, ofs }, LearnSrc::Field { field: sf, ofs: so }) => {
                write!(
                    f,
                    "load:{}->{}",
                    subfield(sf, so, n),
                    subfield(field, ofs, n)
                )?;
            }
            (LearnDst::Output, LearnSrc::Field { field, ofs }) => {
                write!(f, "output:{}", subfield(field, ofs, n))?;
            }
            (LearnDst::Output, LearnSrc::Imm(v)) => write!(f, "output:{}", hex(v))?,
        }
    }
    f.write_char(')')
}

/// `FIELD[a..b]` or a whole-field name.
fn learn_subfield(s: &str) -> Result<(Field, u16, u16), Error> {
    if s.contains('[') {
        parse_subfield(s)
    } else {
        let field = Field::parse_name(s).ok_or_else(|| perr(s, "unknown field"))?;
        Ok((field, 0, field.bits()))
    }
}

fn parse_learn(s: &str, inner: &str) -> Result<Learn, Error> {
    let mut l = Learn::default();
    for kv in split_top(inner) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "table" => l.table = num(v)?,
            "idle_timeout" => l.idle_timeout = num(v)?,
            "hard_timeout" => l.hard_timeout = num(v)?,
            "fin_idle_timeout" => l.fin_idle_timeout = num(v)?,
            "fin_hard_timeout" => l.fin_hard_timeout = num(v)?,
            "priority" => l.priority = num(v)?,
            "cookie" => l.cookie = num(v)?,
            "send_flow_rem" if v.is_empty() => l.flags |= 1,
            "delete_learned" if v.is_empty() => l.flags |= 2,
            "limit" => l.limit = num(v)?,
            "result_dst" => {
                let (field, ofs, n_bits) = parse_subfield(v)?;
                if n_bits != 1 {
                    return Err(perr(s, "learn result_dst is one bit"));
                }
                l.result_dst = Some((field, ofs));
            }
            _ => l.specs.push(parse_learn_spec(s, kv)?),
        }
    }
    Ok(l)
}

fn parse_learn_spec(s: &str, kv: &str) -> Result<LearnSpec, Error> {
    let imm = |field: Field, n_bits: u16, v: &str| -> Result<u128, Error> {
        let v = parse_field_value(field, v)?;
        if n_bits < 128 && v >> n_bits != 0 {
            return Err(perr(s, "learn value does not fit its bits"));
        }
        Ok(v)
    };
    if let Some(a) = kv.strip_prefix("load:") {
        let (src, dst) = a
            .split_once("->")
            .ok_or_else(|| perr(s, "expected load:SRC->DST in learn"))?;
        let (field, ofs, n_bits) = parse_subfield(dst)?;
        let src = if src.contains('[') {
            let (sf, so, sn) = parse_subfield(src)?;
            if sn != n_bits {
                return Err(perr(s, "learn load widths differ"));
            }
            LearnSrc::Field { field: sf, ofs: so }
        } else {
            LearnSrc::Imm(imm(field, n_bits, src)?)
        };
        return Ok(LearnSpec {
            n_bits,
            src,
            dst: LearnDst::Load { field, ofs },
        });
    }
    if let Some(a) = kv.strip_prefix("output:") {
        let (field, ofs, n_bits) = parse_subfield(a)?;
        return Ok(LearnSpec {
            n_bits,
            src: LearnSrc::Field { field, ofs },
            dst: LearnDst::Output,
        });
    }
    let (dst, src) = match kv.split_once('=') {
        Some((d, v)) => (d, Some(v)),
        None => (kv, None),
    };
    let (field, ofs, n_bits) = learn_subfield(dst)?;
    let src = match src {
        None => LearnSrc::Field { field, ofs },
        Some(v) if v.contains('[') => {
            let (sf, so, sn) = parse_subfield(v)?;
            if sn != n_bits {
                return Err(perr(s, "learn match widths differ"));
            }
            LearnSrc::Field { field: sf, ofs: so }
        }
        Some(v) => LearnSrc::Imm(imm(field, n_bits, v)?),
    };
    Ok(LearnSpec {
        n_bits,
        src,
        dst: LearnDst::Match { field, ofs },
    })
}

impl Display for Action {
    /// ovs-ofctl action syntax, e.g. `load:0x3e9->NXM_NX_REG3[]`, `ct(commit,table=4,zone=65520)`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Action::Bundle(_) | Action::SampleDir { .. } | Action::SetTunMetadata { .. } => {
                actions::fmt(f, self).unwrap_or(Ok(()))
            }
            Action::Output {
                port: port::CONTROLLER,
                max_len,
            } => write!(f, "CONTROLLER:{max_len}"),
            Action::Output { port, .. } if *port < port::MAX => write!(f, "output:{port}"),
            Action::Output { port, .. } => f.write_str(&port_name(*port)),
            Action::OutputReg { field, ofs, n_bits }
            | Action::OutputReg2 { field, ofs, n_bits } => {
                write!(f, "output:{}", subfield(*field, *ofs, *n_bits))
            }
            Action::Load {
                field,
                ofs: 0,
                n_bits,
                value,
            } if *n_bits == field.bits() => {
                write!(
                    f,
                    "set_field:{}->{}",
                    field.format_value(*value),
                    field.name()
                )
            }
            Action::Load {
                field,
                ofs,
                n_bits,
                value,
            }
            | Action::RegLoad {
                field,
                ofs,
                n_bits,
                value,
            } => {
                // One `load:` per 64-bit REG_LOAD piece, as the wire form has them.
                let mut done = 0u16;
                while done < *n_bits {
                    let n = (*n_bits - done).min(64);
                    if done > 0 {
                        f.write_char(',')?;
                    }
                    let v = (*value >> done) & ones(n as u32);
                    write!(f, "load:{}->{}", hex(v), subfield(*field, ofs + done, n))?;
                    done += n;
                }
                Ok(())
            }
            Action::Move {
                src,
                src_ofs,
                dst,
                dst_ofs,
                n_bits,
            }
            | Action::CopyField {
                src,
                src_ofs,
                dst,
                dst_ofs,
                n_bits,
            } => {
                write!(
                    f,
                    "move:{}->{}",
                    subfield(*src, *src_ofs, *n_bits),
                    subfield(*dst, *dst_ofs, *n_bits)
                )
            }
            Action::Conjunction {
                id,
                clause,
                n_clauses,
            } => write!(f, "conjunction({id},{clause}/{n_clauses})"),
            Action::Ct {
                commit,
                zone,
                table,
                exec,
            } => ct_text(f, *commit, false, *table, CtZone::Imm(*zone), 0, exec),
            Action::CtExt {
                commit,
                force,
                zone,
                table,
                alg,
                exec,
            } => ct_text(f, *commit, *force, *table, *zone, *alg, exec),
            Action::Nat(n) => nat_text(f, n),
            Action::Learn(l) => learn_text(f, l),
            Action::StackPush { field, ofs, n_bits } => {
                write!(f, "push:{}", subfield(*field, *ofs, *n_bits))
            }
            Action::StackPop { field, ofs, n_bits } => {
                write!(f, "pop:{}", subfield(*field, *ofs, *n_bits))
            }
            Action::Clone(actions) if actions.is_empty() => f.write_str("clone(drop)"),
            Action::Clone(actions) => {
                f.write_str("clone(")?;
                write_list(f, actions)?;
                f.write_char(')')
            }
            Action::CheckPktLarger {
                pkt_len,
                field,
                ofs,
            } => write!(
                f,
                "check_pkt_larger({pkt_len})->{}",
                subfield(*field, *ofs, 1)
            ),
            Action::Sample {
                probability,
                collector_set_id,
                obs_domain_id,
                obs_point_id,
                sampling_port,
            } => {
                write!(f, "sample(probability={probability},collector_set_id={collector_set_id},obs_domain_id={obs_domain_id},obs_point_id={obs_point_id}")?;
                if let Some(p) = sampling_port {
                    write!(f, ",sampling_port={}", nx_port_name(*p))?;
                }
                f.write_char(')')
            }
            Action::Multipath {
                fields,
                basis,
                algorithm,
                max_link,
                arg,
                field,
                ofs,
                n_bits,
            } => {
                let fields = HASH_FIELDS
                    .get(*fields as usize)
                    .map_or_else(|| fields.to_string(), |s| s.to_string());
                let alg = MP_ALGORITHMS
                    .get(*algorithm as usize)
                    .map_or_else(|| algorithm.to_string(), |s| s.to_string());
                write!(
                    f,
                    "multipath({fields},{basis},{alg},{},{arg},{})",
                    *max_link as u32 + 1,
                    subfield(*field, *ofs, *n_bits)
                )
            }
            Action::FinTimeout { idle, hard } => {
                let mut parts = Vec::new();
                if *idle != 0 {
                    parts.push(format!("idle_timeout={idle}"));
                }
                if *hard != 0 {
                    parts.push(format!("hard_timeout={hard}"));
                }
                write!(f, "fin_timeout({})", parts.join(","))
            }
            Action::OutputTrunc { port, max_len } => {
                write!(f, "output(port={},max_len={max_len})", nx_port_name(*port))
            }
            Action::DecTtlIds(ids) => {
                let ids: Vec<String> = ids.iter().map(u16::to_string).collect();
                write!(f, "dec_ttl({})", ids.join(","))
            }
            Action::Resubmit { table } => write!(f, "resubmit(,{table})"),
            Action::Note(bytes) => {
                let h: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
                write!(f, "note:{}", h.join("."))
            }
            Action::Controller {
                max_len,
                reason,
                id,
            } => {
                if *reason == 1 && *id == 0 {
                    return write!(f, "CONTROLLER:{max_len}");
                }
                let mut parts = Vec::new();
                if *reason != 1 {
                    parts.push(match REASONS.get(*reason as usize) {
                        Some(r) => format!("reason={r}"),
                        None => format!("reason={reason}"),
                    });
                }
                if *max_len != u16::MAX {
                    parts.push(format!("max_len={max_len}"));
                }
                if *id != 0 {
                    parts.push(format!("id={id}"));
                }
                write!(f, "controller({})", parts.join(","))
            }
            Action::Controller2 {
                max_len,
                reason,
                id,
                userdata,
                pause,
                meter_id,
            } => {
                let mut parts = Vec::new();
                if *reason != 1 {
                    parts.push(match REASONS.get(*reason as usize) {
                        Some(r) => format!("reason={r}"),
                        None => format!("reason={reason}"),
                    });
                }
                if *max_len != u16::MAX {
                    parts.push(format!("max_len={max_len}"));
                }
                if *id != 0 {
                    parts.push(format!("id={id}"));
                }
                if !userdata.is_empty() {
                    let h: Vec<String> = userdata.iter().map(|b| format!("{b:02x}")).collect();
                    parts.push(format!("userdata={}", h.join(".")));
                }
                if *pause {
                    parts.push("pause".to_string());
                }
                if let Some(m) = meter_id {
                    parts.push(format!("meter_id={m}"));
                }
                write!(f, "controller({})", parts.join(","))
            }
            Action::Group(g) => write!(f, "group:{g}"),
            Action::SetMplsTtl(t) => write!(f, "set_mpls_ttl({t})"),
            Action::DecMplsTtl => f.write_str("dec_mpls_ttl"),
            Action::PushVlan(e) => write!(f, "push_vlan:{e:#06x}"),
            Action::PopVlan => f.write_str("pop_vlan"),
            Action::PushMpls(e) => write!(f, "push_mpls:{e:#06x}"),
            Action::PopMpls(e) => write!(f, "pop_mpls:{e:#06x}"),
            Action::SetQueue(q) => write!(f, "set_queue:{q}"),
            Action::SetNwTtl(t) => write!(f, "mod_nw_ttl:{t}"),
            Action::CtClear => f.write_str("ct_clear"),
            Action::Exit => f.write_str("exit"),
            Action::PopQueue => f.write_str("pop_queue"),
            Action::ResubmitExt {
                in_port,
                table: 0xff,
                ct: false,
            } => write!(f, "resubmit:{}", nx_port_name(*in_port)),
            Action::ResubmitExt { in_port, table, ct } => {
                f.write_str("resubmit(")?;
                if *in_port != NX_IN_PORT {
                    f.write_str(&nx_port_name(*in_port))?;
                }
                f.write_char(',')?;
                if *table != 0xff {
                    write!(f, "{table}")?;
                }
                f.write_str(if *ct { ",ct)" } else { ")" })
            }
            Action::DecTtl => f.write_str("dec_ttl"),
            Action::Raw { kind, body } => {
                let h: String = body.iter().map(|b| format!("{b:02x}")).collect();
                write!(f, "raw({kind:#06x},{h})")
            }
        }
    }
}

/// Instructions as the `actions=` value: `meter:N,<apply>,clear_actions,write_actions(..),
/// write_metadata:V/M,goto_table:N`, or `drop` when there are none.
pub struct InstructionsText<'a>(pub &'a [Instruction]);

impl Display for InstructionsText<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut sorted: Vec<&Instruction> = self.0.iter().collect();
        sorted.sort_by_key(|i| i.rank());
        let parts: Vec<String> = sorted
            .iter()
            .map(|i| i.to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() {
            f.write_str("drop")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

impl Display for Instruction {
    /// One instruction in `actions=` syntax (apply-actions print as their bare action list).
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Instruction::Meter(m) => write!(f, "meter:{m}"),
            Instruction::ApplyActions(a) => write_list(f, a),
            Instruction::ClearActions => f.write_str("clear_actions"),
            Instruction::WriteActions(a) => {
                f.write_str("write_actions(")?;
                write_list(f, a)?;
                f.write_char(')')
            }
            Instruction::WriteMetadata(v, u64::MAX) => {
                write!(f, "write_metadata:{}", hex(*v as u128))
            }
            Instruction::WriteMetadata(v, m) => {
                write!(f, "write_metadata:{}/{}", hex(*v as u128), hex(*m as u128))
            }
            Instruction::GotoTable(t) => write!(f, "goto_table:{t}"),
        }
    }
}

/// The OFPFF_* flags as ovs-ofctl words (`send_flow_rem check_overlap`), space-separated.
pub fn flags_text(fl: u16) -> String {
    FLAG_NAMES
        .iter()
        .filter(|(b, _)| fl & b != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Display for FlowMod {
    /// `ovs-ofctl -O OpenFlow13 dump-flows --no-stats` syntax:
    /// `[cookie=0x.., ][table=N, ][idle_timeout=N, ][hard_timeout=N, ][flags ]priority=..,match actions=..`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        if self.cookie != 0 {
            write!(s, "cookie={:#x}, ", self.cookie)?;
        }
        if self.table_id != 0 {
            write!(s, "table={}, ", self.table_id)?;
        }
        if self.idle_timeout != 0 {
            write!(s, "idle_timeout={}, ", self.idle_timeout)?;
        }
        if self.hard_timeout != 0 {
            write!(s, "hard_timeout={}, ", self.hard_timeout)?;
        }
        if self.flags != 0 {
            write!(s, "{} ", flags_text(self.flags))?;
        }
        s.push_str(&self.r#match.to_string_with_priority(self.priority));
        if !s.is_empty() && !s.ends_with(' ') {
            s.push(' ');
        }
        write!(f, "{s}actions={}", InstructionsText(&self.instructions))
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

fn num<T: TryFrom<u128>>(s: &str) -> Result<T, Error> {
    let t = s.trim();
    let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u128::from_str_radix(h, 16),
        None => t.parse::<u128>(),
    }
    .map_err(|_| perr(s, "expected a number"))?;
    T::try_from(v).map_err(|_| perr(s, "number out of range"))
}

fn num_masked<T: TryFrom<u128> + Copy>(s: &str) -> Result<(T, Option<T>), Error> {
    match s.split_once('/') {
        Some((v, m)) => Ok((num(v)?, Some(num(m)?))),
        None => Ok((num(s)?, None)),
    }
}

fn parse_port(s: &str) -> Result<u32, Error> {
    let up = s.trim().to_ascii_uppercase();
    match PORT_NAMES.iter().find(|(_, n)| *n == up) {
        Some((p, _)) => Ok(*p),
        None => num(s),
    }
}

fn ip_masked_parse(s: &str) -> Result<(Ipv4Addr, Option<Ipv4Addr>), Error> {
    let (a, m) = match s.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    let a: Ipv4Addr = a.parse().map_err(|_| perr(s, "expected an IPv4 address"))?;
    let m = match m {
        None => None,
        Some(m) if m.contains('.') => Some(m.parse().map_err(|_| perr(s, "bad IPv4 mask"))?),
        Some(m) => {
            let n: u32 = num(m)?;
            if n > 32 {
                return Err(perr(s, "prefix length > 32"));
            }
            Some(Ipv4Addr::from(if n == 0 {
                0
            } else {
                u32::MAX << (32 - n)
            }))
        }
    };
    Ok((a, m))
}

fn ip6_masked_parse(s: &str) -> Result<(Ipv6Addr, Option<Ipv6Addr>), Error> {
    let (a, m) = match s.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    let a: Ipv6Addr = a.parse().map_err(|_| perr(s, "expected an IPv6 address"))?;
    let m = match m {
        None => None,
        Some(m) if m.contains(':') => Some(m.parse().map_err(|_| perr(s, "bad IPv6 mask"))?),
        Some(m) => {
            let n: u32 = num(m)?;
            if n > 128 {
                return Err(perr(s, "prefix length > 128"));
            }
            Some(Ipv6Addr::from(if n == 0 {
                0
            } else {
                u128::MAX << (128 - n)
            }))
        }
    };
    Ok((a, m))
}

fn mac_masked_parse(s: &str) -> Result<(MacAddr, Option<MacAddr>), Error> {
    match s.split_once('/') {
        Some((a, m)) => Ok((a.parse()?, Some(m.parse()?))),
        None => Ok((s.parse()?, None)),
    }
}

fn ct_state_parse(s: &str) -> Result<(u32, u32), Error> {
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        // OVS knows the 8 flags of CT_STATE_NAMES and matches a bare number on those bits
        // (`ct_state=0x21` is 0x21/0xff on the wire); any other bit is an error there too.
        let (v, m) = num_masked::<u32>(s)?;
        let m = m.unwrap_or(0xff);
        if (v | m) & !0xff != 0 {
            return Err(perr(s, "unknown ct_state flag(s)"));
        }
        return Ok((v, m));
    }
    let (mut v, mut m) = (0u32, 0u32);
    let mut rest = s;
    while !rest.is_empty() {
        let plus = match rest.as_bytes()[0] {
            b'+' => true,
            b'-' => false,
            _ => return Err(perr(s, "ct_state flags must start with + or -")),
        };
        rest = &rest[1..];
        let end = rest.find(['+', '-']).unwrap_or(rest.len());
        let name = &rest[..end];
        let i = CT_STATE_NAMES
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| perr(s, "unknown ct_state flag"))?;
        m |= 1 << i;
        if plus {
            v |= 1 << i;
        }
        rest = &rest[end..];
    }
    Ok((v, m))
}

/// Split at top-level commas (not inside parentheses).
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out.into_iter().filter(|x| !x.is_empty()).collect()
}

/// `NAME[a..b]`, `NAME[n]` or `NAME[]` → (field, ofs, n_bits).
fn parse_subfield(s: &str) -> Result<(Field, u16, u16), Error> {
    let (name, range) = s
        .split_once('[')
        .ok_or_else(|| perr(s, "expected FIELD[bits]"))?;
    let field = Field::parse_name(name).ok_or_else(|| perr(s, "unknown field"))?;
    let range = range
        .strip_suffix(']')
        .ok_or_else(|| perr(s, "missing ]"))?;
    let (ofs, end) = if range.is_empty() {
        (0, field.bits() - 1)
    } else if let Some((a, b)) = range.split_once("..") {
        (num(a)?, num(b)?)
    } else {
        let n = num(range)?;
        (n, n)
    };
    if end < ofs || end >= field.bits() {
        return Err(perr(s, "bit range outside the field"));
    }
    Ok((field, ofs, end - ofs + 1))
}

fn parse_field_value(field: Field, s: &str) -> Result<u128, Error> {
    match field.value_format() {
        ValueFormat::Mac if s.contains(':') => Ok(crate::oxm::mac_bits(s.parse()?)),
        ValueFormat::Ipv4 if s.contains('.') => s
            .parse::<Ipv4Addr>()
            .map(|a| u32::from(a) as u128)
            .map_err(|_| perr(s, "bad IPv4 address")),
        ValueFormat::Ipv6 if s.contains(':') => s
            .parse::<Ipv6Addr>()
            .map(u128::from)
            .map_err(|_| perr(s, "bad IPv6 address")),
        ValueFormat::Port if field.bits() == 16 => nx_port(s).map(u128::from),
        ValueFormat::Port => parse_port(s).map(u128::from),
        _ => num(s),
    }
}

/// `set_field:V[/M]->F`: whole field → one Load; masked → one Load per contiguous run of mask
/// bits (what OVS encodes as REG_LOADs).
fn parse_set_field(s: &str, arg: &str) -> Result<Vec<Action>, Error> {
    let (val, dst) = arg
        .split_once("->")
        .ok_or_else(|| perr(s, "expected set_field:VALUE->FIELD"))?;
    if let Some(a) = actions::parse_set_tun_metadata(val, dst)? {
        return Ok(vec![a]);
    }
    let field = Field::parse_name(dst).ok_or_else(|| perr(s, "unknown set_field destination"))?;
    let (v, m) = match val.split_once('/') {
        Some((v, m)) => (
            parse_field_value(field, v)?,
            Some(parse_field_value(field, m)?),
        ),
        None => (parse_field_value(field, val)?, None),
    };
    let all = ones(field.bits() as u32);
    let m = m.unwrap_or(all) & all;
    if m == all {
        return Ok(vec![Action::Load {
            field,
            ofs: 0,
            n_bits: field.bits(),
            value: v & all,
        }]);
    }
    let mut out = Vec::new();
    let mut bit = 0u32;
    while bit < field.bits() as u32 {
        if m >> bit & 1 == 0 {
            bit += 1;
            continue;
        }
        let start = bit;
        // OVS's `next_load_segment`: a run of mask bits, at most 64 (one REG_LOAD).
        while bit < field.bits() as u32 && m >> bit & 1 == 1 && bit - start < 64 {
            bit += 1;
        }
        let n = bit - start;
        out.push(Action::Load {
            field,
            ofs: start as u16,
            n_bits: n as u16,
            value: (v >> start) & ones(n),
        });
    }
    Ok(out)
}

/// NXM's 16-bit port numbers: reserved ports are the OF1.3 ones minus 0xffff0000.
const NX_IN_PORT: u16 = 0xfff8;

fn nx_port(s: &str) -> Result<u16, Error> {
    let p = parse_port(s)?;
    if p >= port::MAX {
        Ok((p & 0xffff) as u16)
    } else {
        u16::try_from(p).map_err(|_| perr(s, "port does not fit 16 bits"))
    }
}

fn nx_port_name(p: u16) -> String {
    if p >= 0xff00 {
        port_name(0xffff_0000 | p as u32)
    } else {
        p.to_string()
    }
}

fn parse_action(s: &str) -> Result<Vec<Action>, Error> {
    let one = |a| Ok(vec![a]);
    let (key, arg) = match s.find([':', '(']) {
        Some(i) if s.as_bytes()[i] == b':' => (&s[..i], Some(&s[i + 1..])),
        Some(i) => (&s[..i], Some(&s[i..])),
        None => (s, None),
    };
    let paren = |a: &str| -> Result<String, Error> {
        a.strip_prefix('(')
            .and_then(|x| x.strip_suffix(')'))
            .map(str::to_string)
            .ok_or_else(|| perr(s, "expected (...)"))
    };
    match (key.to_ascii_lowercase().as_str(), arg) {
        ("output", Some(a)) if a.starts_with('(') => {
            let (mut port, mut max_len) = (None, None);
            for kv in split_top(&paren(a)?) {
                match kv.split_once('=') {
                    Some(("port", v)) => port = Some(nx_port(v)?),
                    Some(("max_len", v)) => max_len = Some(num(v)?),
                    _ => return Err(perr(s, "expected output(port=N,max_len=M)")),
                }
            }
            match (port, max_len) {
                (Some(port), Some(max_len)) => one(Action::OutputTrunc { port, max_len }),
                _ => Err(perr(s, "output(...) needs port and max_len")),
            }
        }
        ("push" | "pop", Some(a)) => {
            let (field, ofs, n_bits) = parse_subfield(a)?;
            one(if key.eq_ignore_ascii_case("push") {
                Action::StackPush { field, ofs, n_bits }
            } else {
                Action::StackPop { field, ofs, n_bits }
            })
        }
        ("clone", Some(a)) => {
            let mut actions = Vec::new();
            for x in split_top(&paren(a)?) {
                if x != "drop" {
                    actions.extend(parse_action(x)?);
                }
            }
            one(Action::Clone(actions))
        }
        ("check_pkt_larger", Some(a)) => {
            let (n, dst) = a
                .split_once("->")
                .ok_or_else(|| perr(s, "expected check_pkt_larger(N)->FIELD[bit]"))?;
            let (field, ofs, n_bits) = parse_subfield(dst)?;
            if n_bits != 1 {
                return Err(perr(s, "check_pkt_larger writes one bit"));
            }
            one(Action::CheckPktLarger {
                pkt_len: num(&paren(n)?)?,
                field,
                ofs,
            })
        }
        ("sample", Some(a)) => {
            let (mut probability, mut c, mut d, mut o, mut sp) = (None, 0, 0, 0, None);
            let mut egress = None;
            for kv in split_top(&paren(a)?) {
                match kv.split_once('=') {
                    None if kv == "ingress" || kv == "egress" => egress = Some(kv == "egress"),
                    Some(("probability", v)) => probability = Some(num(v)?),
                    Some(("collector_set_id", v)) => c = num(v)?,
                    Some(("obs_domain_id", v)) => d = num(v)?,
                    Some(("obs_point_id", v)) => o = num(v)?,
                    Some(("sampling_port", v)) => sp = Some(nx_port(v)?),
                    _ => return Err(perr(s, format!("unsupported sample option {kv:?}"))),
                }
            }
            let probability = probability.ok_or_else(|| perr(s, "sample needs probability"))?;
            if let Some(egress) = egress {
                return one(Action::SampleDir {
                    probability,
                    collector_set_id: c,
                    obs_domain_id: d,
                    obs_point_id: o,
                    sampling_port: sp.filter(|p| *p != 0xffff),
                    egress,
                });
            }
            one(Action::Sample {
                probability,
                collector_set_id: c,
                obs_domain_id: d,
                obs_point_id: o,
                sampling_port: sp.filter(|p| *p != 0xffff),
            })
        }
        ("multipath", Some(a)) => {
            let inner = paren(a)?;
            let v = split_top(&inner);
            let [fields, basis, alg, n_links, arg, dst] = v[..] else {
                return Err(perr(
                    s,
                    "expected multipath(fields,basis,alg,n_links,arg,dst)",
                ));
            };
            let fields = HASH_FIELDS
                .iter()
                .position(|x| *x == fields)
                .ok_or_else(|| perr(s, "unknown multipath fields"))?
                as u16;
            let algorithm = MP_ALGORITHMS
                .iter()
                .position(|x| *x == alg)
                .ok_or_else(|| perr(s, "unknown multipath algorithm"))?
                as u16;
            let n_links: u32 = num(n_links)?;
            if !(1..=65536).contains(&n_links) {
                return Err(perr(s, "multipath n_links out of range"));
            }
            let (field, ofs, n_bits) = parse_subfield(dst)?;
            if n_bits > 64 {
                return Err(perr(s, "multipath destination is at most 64 bits"));
            }
            one(Action::Multipath {
                fields,
                basis: num(basis)?,
                algorithm,
                max_link: (n_links - 1) as u16,
                arg: num(arg)?,
                field,
                ofs,
                n_bits,
            })
        }
        ("learn", Some(a)) => one(Action::Learn(Box::new(parse_learn(s, &paren(a)?)?))),
        ("fin_timeout", Some(a)) => {
            let (mut idle, mut hard) = (0, 0);
            for kv in split_top(&paren(a)?) {
                match kv.split_once('=') {
                    Some(("idle_timeout", v)) => idle = num(v)?,
                    Some(("hard_timeout", v)) => hard = num(v)?,
                    _ => return Err(perr(s, "unknown fin_timeout option")),
                }
            }
            one(Action::FinTimeout { idle, hard })
        }
        ("dec_ttl", Some(a)) => {
            let ids = split_top(&paren(a)?)
                .into_iter()
                .map(num)
                .collect::<Result<Vec<u16>, _>>()?;
            if ids.is_empty() {
                return Err(perr(s, "dec_ttl(...) needs at least one id"));
            }
            one(Action::DecTtlIds(ids))
        }
        ("output", Some(a)) if a.contains('[') => {
            let (field, ofs, n_bits) = parse_subfield(a)?;
            one(Action::OutputReg { field, ofs, n_bits })
        }
        ("output", Some(a)) => one(Action::Output {
            port: parse_port(a)?,
            max_len: 0,
        }),
        ("controller", None) => one(Action::Output {
            port: port::CONTROLLER,
            max_len: u16::MAX,
        }),
        ("controller", Some(a)) if !a.starts_with('(') => one(Action::Output {
            port: port::CONTROLLER,
            max_len: num(a)?,
        }),
        ("controller", Some(a)) => {
            let (mut max_len, mut reason, mut id) = (u16::MAX, 1u8, 0u16);
            let (mut userdata, mut pause, mut meter_id) = (Vec::new(), false, None);
            for kv in split_top(&paren(a)?) {
                if kv == "pause" {
                    pause = true;
                    continue;
                }
                match kv.split_once('=') {
                    Some(("meter_id", v)) => meter_id = Some(num(v)?),
                    Some(("max_len", v)) => max_len = num(v)?,
                    Some(("userdata", v)) => {
                        userdata = v
                            .split('.')
                            .map(|b| u8::from_str_radix(b, 16))
                            .collect::<Result<Vec<u8>, _>>()
                            .map_err(|_| perr(s, "userdata is hex bytes separated by dots"))?
                    }
                    Some(("id", v)) => id = num(v)?,
                    Some(("reason", v)) => {
                        reason = REASONS
                            .iter()
                            .position(|r| *r == v)
                            .ok_or_else(|| perr(s, "unknown reason"))?
                            as u8
                    }
                    _ => return Err(perr(s, "unsupported controller option")),
                }
            }
            if !userdata.is_empty() || pause || meter_id.is_some() {
                one(Action::Controller2 {
                    max_len,
                    reason,
                    id,
                    userdata,
                    pause,
                    meter_id,
                })
            } else if reason == 1 && id == 0 {
                one(Action::Output {
                    port: port::CONTROLLER,
                    max_len,
                })
            } else {
                one(Action::Controller {
                    max_len,
                    reason,
                    id,
                })
            }
        }
        ("load", Some(a)) => {
            let (v, dst) = a
                .split_once("->")
                .ok_or_else(|| perr(s, "expected load:VALUE->FIELD[bits]"))?;
            if let Some(a) = actions::parse_load_tun_metadata(s, v, dst)? {
                return one(a);
            }
            let (field, ofs, n_bits) = parse_subfield(dst)?;
            let value = parse_field_value(field, v)?;
            if value >> n_bits != 0 {
                return Err(perr(s, "value does not fit the bit range"));
            }
            if n_bits > 64 {
                return Err(perr(s, "load is limited to 64 bits; use set_field"));
            }
            if ofs == 0 && n_bits == field.bits() {
                one(Action::RegLoad {
                    field,
                    ofs,
                    n_bits,
                    value,
                })
            } else {
                one(Action::Load {
                    field,
                    ofs,
                    n_bits,
                    value,
                })
            }
        }
        ("set_field", Some(a)) => parse_set_field(s, a),
        ("move", Some(a)) => {
            let (src, dst) = a
                .split_once("->")
                .ok_or_else(|| perr(s, "expected move:SRC[]->DST[]"))?;
            let (src, src_ofs, n) = parse_subfield(src)?;
            let (dst, dst_ofs, n2) = parse_subfield(dst)?;
            if n != n2 {
                return Err(perr(s, "source and destination widths differ"));
            }
            one(Action::Move {
                src,
                src_ofs,
                dst,
                dst_ofs,
                n_bits: n,
            })
        }
        ("conjunction", Some(a)) => {
            let inner = paren(a)?;
            let (id, rest) = inner
                .split_once(',')
                .ok_or_else(|| perr(s, "expected conjunction(id,k/n)"))?;
            let (k, n) = rest
                .split_once('/')
                .ok_or_else(|| perr(s, "expected conjunction(id,k/n)"))?;
            one(Action::Conjunction {
                id: num(id)?,
                clause: num(k)?,
                n_clauses: num(n)?,
            })
        }
        ("ct", a) => {
            let (mut commit, mut force, mut zone, mut table, mut alg, mut exec) =
                (false, false, CtZone::Imm(0), None, 0u16, Vec::new());
            if let Some(a) = a {
                for kv in split_top(&paren(a)?) {
                    if kv == "commit" {
                        commit = true;
                    } else if kv == "force" {
                        force = true;
                    } else if let Some(z) = kv.strip_prefix("zone=") {
                        zone = if z.contains('[') {
                            let (field, ofs, n_bits) = parse_subfield(z)?;
                            if n_bits > 64 {
                                return Err(perr(s, "ct zone is at most 64 bits"));
                            }
                            CtZone::Field { field, ofs, n_bits }
                        } else {
                            CtZone::Imm(num(z)?)
                        };
                    } else if let Some(t) = kv.strip_prefix("table=") {
                        table = Some(num(t)?);
                    } else if let Some(v) = kv.strip_prefix("alg=") {
                        alg = match v {
                            "ftp" => 21,
                            "tftp" => 69,
                            _ => num(v)?,
                        };
                    } else if kv == "nat" || kv.starts_with("nat(") {
                        exec.push(Action::Nat(parse_nat(kv)?));
                    } else if let Some(e) = kv.strip_prefix("exec") {
                        for x in split_top(&paren(e)?) {
                            if x == "nat" || x.starts_with("nat(") {
                                exec.push(Action::Nat(parse_nat(x)?));
                            } else {
                                let acts = parse_action(x)?;
                                // OVS: "ct action doesn't support nested modification of reg0";
                                // only conntrack's own mark and label can be written there.
                                let ct_field =
                                    |f: &Field| matches!(f, Field::CtMark | Field::CtLabel);
                                if !acts.iter().all(|a| match a {
                                    Action::Load { field, .. } | Action::RegLoad { field, .. } => {
                                        ct_field(field)
                                    }
                                    Action::Move { dst, .. } => ct_field(dst),
                                    _ => false,
                                }) {
                                    return Err(perr(x, "ct exec only sets ct_mark or ct_label"));
                                }
                                exec.extend(acts);
                            }
                        }
                    } else {
                        return Err(perr(s, format!("unsupported ct option {kv:?}")));
                    }
                }
            }
            one(Action::ct(commit, force, zone, table, alg, exec))
        }
        ("resubmit", Some(a)) if !a.starts_with('(') => one(Action::ResubmitExt {
            in_port: nx_port(a)?,
            table: 0xff,
            ct: false,
        }),
        ("resubmit", Some(a)) => {
            let inner = paren(a)?;
            match inner.split_once(',') {
                Some(("", t)) if !t.contains(',') && !t.is_empty() => {
                    one(Action::Resubmit { table: num(t)? })
                }
                Some((p, rest)) => {
                    let (t, ct) = match rest.split_once(',') {
                        Some((t, "ct")) => (t, true),
                        Some(_) => return Err(perr(s, "expected resubmit(PORT,TABLE[,ct])")),
                        None => (rest, false),
                    };
                    one(Action::ResubmitExt {
                        in_port: if p.is_empty() {
                            NX_IN_PORT
                        } else {
                            nx_port(p)?
                        },
                        table: if t.is_empty() { 0xff } else { num(t)? },
                        ct,
                    })
                }
                None => Err(perr(s, "expected resubmit(PORT,TABLE[,ct])")),
            }
        }
        ("note", Some(a)) => {
            let mut bytes = Vec::new();
            for h in a.split('.').filter(|h| !h.is_empty()) {
                bytes.push(u8::from_str_radix(h, 16).map_err(|_| perr(s, "bad note byte"))?);
            }
            // OVS pads the note so the action is a multiple of 8 and prints the padding.
            bytes.resize(bytes.len() + crate::wire::pad8(bytes.len() + 10), 0);
            one(Action::Note(bytes))
        }
        ("group", Some(a)) => one(Action::Group(num(a)?)),
        ("set_mpls_ttl", Some(a)) => one(Action::SetMplsTtl(num(a.trim_matches(['(', ')']))?)),
        ("dec_mpls_ttl", None) => one(Action::DecMplsTtl),
        ("push_vlan", Some(a)) => one(Action::PushVlan(num(a)?)),
        ("pop_vlan", None) | ("strip_vlan", None) => one(Action::PopVlan),
        ("push_mpls", Some(a)) => one(Action::PushMpls(num(a)?)),
        ("pop_mpls", Some(a)) => one(Action::PopMpls(num(a)?)),
        ("set_queue", Some(a)) => one(Action::SetQueue(num(a)?)),
        ("mod_nw_ttl", Some(a)) => one(Action::SetNwTtl(num(a)?)),
        ("ct_clear", None) => one(Action::CtClear),
        ("exit", None) => one(Action::Exit),
        ("pop_queue", None) => one(Action::PopQueue),
        // OF1.0 spellings OVS turns into set_field (`ofp-actions.c` parse_SET_*).
        ("set_tunnel" | "set_tunnel64", Some(a)) => parse_set_field(s, &format!("{a}->tun_id")),
        ("mod_dl_src" | "mod_dl_dst" | "mod_nw_src" | "mod_nw_dst" | "mod_nw_ecn", Some(a)) => {
            let field = match key {
                "mod_dl_src" => "eth_src",
                "mod_dl_dst" => "eth_dst",
                "mod_nw_src" => "ip_src",
                "mod_nw_dst" => "ip_dst",
                _ => "nw_ecn",
            };
            parse_set_field(s, &format!("{a}->{field}"))
        }
        ("mod_nw_tos", Some(a)) => {
            let tos: u8 = num(a)?;
            parse_set_field(s, &format!("{}->ip_dscp", tos >> 2))
        }
        ("dec_ttl", None) => one(Action::DecTtl),
        (_, None) if PORT_NAMES.iter().any(|(_, n)| n.eq_ignore_ascii_case(s)) => {
            one(Action::Output {
                port: parse_port(s)?,
                max_len: 0,
            })
        }
        (_, None) if s.bytes().all(|b| b.is_ascii_digit()) => one(Action::Output {
            port: num(s)?,
            max_len: 0,
        }),
        (k @ ("bundle" | "bundle_load"), Some(a)) => {
            one(actions::parse_bundle(s, k == "bundle_load", &paren(a)?)?)
        }
        _ => Err(perr(s, "unsupported action")),
    }
}

/// Parse an `actions=` value into instructions (canonical order).
pub fn parse_instructions(s: &str) -> Result<Vec<Instruction>, Error> {
    let items = split_top(s);
    if items.len() == 1 && items[0] == "drop" {
        return Ok(Vec::new());
    }
    let mut apply = Vec::new();
    let mut out = Vec::new();
    for it in items {
        if it == "drop" {
            return Err(perr(
                s,
                "\"drop\" must not be accompanied by any other action or instruction",
            ));
        } else if let Some(m) = it.strip_prefix("meter:") {
            out.push(Instruction::Meter(num(m)?));
        } else if let Some(t) = it.strip_prefix("goto_table:") {
            out.push(Instruction::GotoTable(num(t)?));
        } else if it == "clear_actions" {
            out.push(Instruction::ClearActions);
        } else if let Some(w) = it.strip_prefix("write_metadata:") {
            let (v, m) = num_masked::<u64>(w)?;
            out.push(Instruction::WriteMetadata(v, m.unwrap_or(u64::MAX)));
        } else if let Some(w) = it.strip_prefix("write_actions(") {
            let inner = w.strip_suffix(')').ok_or_else(|| perr(it, "missing )"))?;
            let mut acts = Vec::new();
            for a in split_top(inner) {
                acts.extend(parse_action(a)?);
            }
            out.push(Instruction::WriteActions(acts));
        } else {
            apply.extend(parse_action(it)?);
        }
    }
    if !apply.is_empty() {
        out.push(Instruction::ApplyActions(apply));
    }
    out.sort_by_key(|i| i.rank());
    Ok(out)
}

/// Parse a match (`ip,nw_src=10.0.0.1,reg1=0x3`, no priority) into canonical form.
pub fn parse_match(s: &str) -> Result<Match, Error> {
    let mut fm = FlowMod::add(0, 0x8000, Match::default(), Vec::new());
    parse_match_tokens(&mut fm, s.split([',', ' ']).filter(|t| !t.is_empty()), true)?;
    Ok(fm.r#match)
}

fn parse_match_tokens<'a>(
    fm: &mut FlowMod,
    tokens: impl Iterator<Item = &'a str>,
    only_match: bool,
) -> Result<(), Error> {
    use MatchField as M;
    let mut fields: Vec<MatchField> = Vec::new();
    let mut tp: Vec<(bool, u16, Option<u16>)> = Vec::new();
    let mut vlan_pcp: Option<u8> = None;
    for tok in tokens {
        let (k, v) = match tok.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (tok, None),
        };
        let need = || v.ok_or_else(|| perr(tok, "expected key=value"));
        let header_field = !only_match;
        match (k, v) {
            ("table", Some(v)) if header_field => fm.table_id = num(v)?,
            ("priority", Some(v)) if header_field => fm.priority = num(v)?,
            ("idle_timeout", Some(v)) if header_field => fm.idle_timeout = num(v)?,
            ("hard_timeout", Some(v)) if header_field => fm.hard_timeout = num(v)?,
            ("cookie", Some(v)) if header_field => {
                let (c, m) = num_masked::<u64>(v)?;
                fm.cookie = c;
                fm.cookie_mask = m.unwrap_or(0);
            }
            (
                "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age" | "importance",
                Some(_),
            ) if header_field => {}
            (w, None) if header_field && FLAG_NAMES.iter().any(|(_, n)| *n == w) => {
                fm.flags |= FLAG_NAMES
                    .iter()
                    .find(|(_, n)| *n == w)
                    .map_or(0, |(b, _)| *b);
            }
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
                fields.push(M::VlanVid(0x1000 | (vid & 0x0fff), None));
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
            (r, _) if r.starts_with("reg") && r[3..].parse::<u8>().is_ok_and(|n| n < 16) => {
                let (a, m) = num_masked::<u32>(need()?)?;
                fields.push(M::Reg(r[3..].parse().unwrap_or(0), a, m));
            }
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
    let mut m = Match(fields).canonical();
    m.0.dedup();
    // A match the switch would refuse is a parse error here rather than an ERROR later: a field
    // without its prerequisites (`tcp_dst=80` without `tcp`; `ovs-ofctl` drops it, widening the
    // flow) or given twice with different values. The checks are the decoder's, i.e. OVS's.
    let mut wire = Vec::with_capacity(m.buffer_len());
    m.emit(&mut wire);
    if let Err(e) = Match::parse(&mut crate::wire::Reader::new(&wire, 0)) {
        let reason = match e {
            Error::BadMatch { kind, .. } => kind.to_string(),
            e => e.to_string(),
        };
        return Err(perr(&m.to_string(), reason));
    }
    fm.r#match = m;
    Ok(())
}

impl FromStr for FlowMod {
    type Err = Error;

    /// Parse an ADD flow in `ovs-ofctl add-flow` / `dump-flows` syntax, e.g.
    /// `table=3,priority=200,ip,nw_src=10.10.0.2 actions=conjunction(1001,1/2)`. Priority
    /// defaults to 32768; statistics (`duration=`, `n_packets=`, ...) are ignored.
    ///
    /// Errors: [`Error::Parse`] naming the offending token.
    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        let i = s
            .find("actions=")
            .ok_or_else(|| perr(s, "missing actions="))?;
        let (head, acts) = (&s[..i], &s[i + "actions=".len()..]);
        let mut fm = FlowMod::add(0, 0x8000, Match::default(), Vec::new());
        parse_match_tokens(
            &mut fm,
            head.split([',', ' ']).filter(|t| !t.is_empty()),
            false,
        )?;
        fm.instructions = parse_instructions(acts)?;
        fm.command = FlowModCommand::Add;
        Ok(fm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
