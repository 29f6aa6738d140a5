//! Names and scalar values shared by the match and action text: OVS's name tables (reserved
//! ports, flow_mod flags, ct_state bits, hash fields, packet-in reasons), numbers, addresses
//! with masks, ports, and a field's value as `set_field` prints and reads it (`mf_format`,
//! `mf_parse`).

pub(super) use super::lex::split_top;
use std::fmt::{self, Display, Formatter};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::action::port;
use crate::field::ValueFormat;
use crate::flow::{Field, MacAddr};
use crate::flow_mod::flags;
use crate::Error;

use super::lex::hex_u8;
use super::syntax::{masked, pieces, signed_flags};

const CT_STATE_NAMES: [&str; 8] = ["new", "est", "rel", "rpl", "inv", "trk", "snat", "dnat"];
/// `nx_hash_fields` names, by value.
pub(super) const HASH_FIELDS: [&str; 7] = [
    "eth_src",
    "symmetric_l4",
    "symmetric_l3l4",
    "symmetric_l3l4+udp",
    "nw_src",
    "nw_dst",
    "symmetric_l3",
];
/// `nx_mp_algorithm` names, by value.
pub(super) const MP_ALGORITHMS: [&str; 4] = ["modulo_n", "hash_threshold", "hrw", "iter_hash"];
pub(super) const REASONS: [&str; 6] = [
    "no_match",
    "action",
    "invalid_ttl",
    "action_set",
    "group",
    "packet_out",
];
pub(super) const FLAG_NAMES: [(u16, &str); 5] = [
    (flags::SEND_FLOW_REM, "send_flow_rem"),
    (flags::CHECK_OVERLAP, "check_overlap"),
    (flags::RESET_COUNTS, "reset_counts"),
    (flags::NO_PKT_COUNTS, "no_packet_counts"),
    (flags::NO_BYT_COUNTS, "no_byte_counts"),
];
pub(super) const PORT_NAMES: [(u32, &str); 8] = [
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
        let parts = pieces(s, ':');
        let mut b = [0u8; 6];
        if parts.len() != 6 {
            return Err(perr(s, "expected a MAC address xx:xx:xx:xx:xx:xx"));
        }
        for (i, p) in parts.iter().enumerate() {
            b[i] = hex_u8(p).ok_or_else(|| perr(s, "bad MAC address byte"))?;
        }
        Ok(MacAddr(b))
    }
}

pub(super) fn perr(input: &str, reason: impl Into<String>) -> Error {
    Error::Parse {
        input: input.to_string(),
        reason: reason.into(),
    }
}

/// OVS's `ds_put_hex`/`%#x`: `0` for zero, `0x..` otherwise.
pub(super) fn hex(v: u128) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

pub(super) fn port_name(p: u32) -> String {
    PORT_NAMES
        .iter()
        .find(|(n, _)| *n == p)
        .map_or_else(|| p.to_string(), |(_, s)| s.to_string())
}

pub(super) fn ip_masked(v: Ipv4Addr, m: Option<Ipv4Addr>) -> String {
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

pub(super) fn mac_masked(v: MacAddr, m: Option<MacAddr>) -> String {
    match m {
        None => v.to_string(),
        Some(m) => format!("{v}/{m}"),
    }
}

pub(super) fn u16_masked(v: u16, m: Option<u16>) -> String {
    match m {
        None => v.to_string(),
        Some(m) => format!("{}/{:#x}", hex(v as u128), m),
    }
}

pub(super) fn int_masked(v: u128, m: Option<u128>) -> String {
    match m {
        None => hex(v),
        Some(m) => format!("{}/{}", hex(v), hex(m)),
    }
}

pub(super) fn ct_state_text(v: u32, m: u32) -> String {
    // Every known flag matched: OVS prints the set ones joined by `|` (`new|trk`), `0` for
    // none (`format_flags_masked` with the whole mask).
    if m == 0xff {
        let set: Vec<&str> = CT_STATE_NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| v & 1 << i != 0)
            .map(|(_, n)| *n)
            .collect();
        return if set.is_empty() {
            "0".to_string()
        } else {
            set.join("|")
        };
    }
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

pub(super) fn ip6_masked(v: Ipv6Addr, m: Option<Ipv6Addr>) -> String {
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

impl Field {
    pub(super) fn parse_name(s: &str) -> Option<Field> {
        Field::from_name(s)
    }

    /// The value as `set_field:` prints it (`mf_format`).
    pub(super) fn format_value(self, v: u128) -> String {
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

pub(super) fn num<T: TryFrom<u128>>(s: &str) -> Result<T, Error> {
    let v = super::lex::number(s).ok_or_else(|| perr(s, "expected a number"))?;
    T::try_from(v).map_err(|_| perr(s, "number out of range"))
}

pub(super) fn num_masked<T: TryFrom<u128> + Copy>(s: &str) -> Result<(T, Option<T>), Error> {
    match masked(s) {
        (v, Some(m)) => Ok((num(v)?, Some(num(m)?))),
        (v, None) => Ok((num(v)?, None)),
    }
}

pub(super) fn parse_port(s: &str) -> Result<u32, Error> {
    let up = s.trim().to_ascii_uppercase();
    match PORT_NAMES.iter().find(|(_, n)| *n == up) {
        Some((p, _)) => Ok(*p),
        None => num(s),
    }
}

pub(super) fn ip_masked_parse(s: &str) -> Result<(Ipv4Addr, Option<Ipv4Addr>), Error> {
    let (a, m) = masked(s);
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

pub(super) fn ip6_masked_parse(s: &str) -> Result<(Ipv6Addr, Option<Ipv6Addr>), Error> {
    let (a, m) = masked(s);
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

pub(super) fn mac_masked_parse(s: &str) -> Result<(MacAddr, Option<MacAddr>), Error> {
    match masked(s) {
        (a, Some(m)) => Ok((a.parse()?, Some(m.parse()?))),
        (a, None) => Ok((a.parse()?, None)),
    }
}

pub(super) fn ct_state_parse(s: &str) -> Result<(u32, u32), Error> {
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
    let bit = |name: &str| {
        CT_STATE_NAMES
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| perr(s, "unknown ct_state flag"))
    };
    let Some(signed) = signed_flags(s) else {
        // `new|trk`: these flags set and every other known flag clear, as OVS reads it.
        let mut v = 0u32;
        for name in pieces(s, '|') {
            v |= 1 << bit(name)?;
        }
        return Ok((v, 0xff));
    };
    let (mut v, mut m) = (0u32, 0u32);
    for (plus, name) in signed {
        let i = bit(name)?;
        m |= 1 << i;
        if plus {
            v |= 1 << i;
        }
    }
    Ok((v, m))
}

pub(super) fn parse_field_value(field: Field, s: &str) -> Result<u128, Error> {
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

/// NXM's 16-bit port numbers: reserved ports are the OF1.3 ones minus 0xffff0000.
pub(super) const NX_IN_PORT: u16 = 0xfff8;

pub(super) fn nx_port(s: &str) -> Result<u16, Error> {
    let p = parse_port(s)?;
    if p >= port::MAX {
        Ok((p & 0xffff) as u16)
    } else {
        u16::try_from(p).map_err(|_| perr(s, "port does not fit 16 bits"))
    }
}

pub(super) fn nx_port_name(p: u16) -> String {
    if p >= 0xff00 {
        port_name(0xffff_0000 | p as u32)
    } else {
        p.to_string()
    }
}
