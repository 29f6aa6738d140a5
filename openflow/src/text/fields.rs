//! Text of the match fields beyond the core set: flag fields (`tcp_flags`, `tun_flags`,
//! `nw_frag`), the conntrack tuple (`ct_nw_src` ...), the OF1.3 fields OVS lacks, and the
//! register families `xreg<N>` / `xxreg<N>` (which OVS writes as pairs / quads of `reg<N>`).
//!
//! Print forms follow OVS `lib/match.c` (`match_format`, `format_flags_masked`) and parse forms
//! `lib/meta-flow.c` (`mf_from_tcp_flags_string`, `mf_from_frag_string`).

use super::syntax::{indexed, pieces, signed_flags};
use super::values::{
    hex, int_masked, ip6_masked, ip6_masked_parse, ip_masked, ip_masked_parse, num, num_masked,
    parse_port, perr, port_name, u16_masked,
};
use crate::flow::MatchField;
use crate::Error;

/// TCP flag names by bit (`packet_tcp_flag_to_string`).
const TCP_FLAGS: [&str; 12] = [
    "fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns", "[200]", "[400]", "[800]",
];
/// Tunnel flag names by bit (`flow_tun_flag_to_string`); only `oam` reaches a match.
const TUN_FLAGS: [&str; 4] = ["oam", "df", "csum", "key"];
/// `nw_frag` keywords: (name, value, mask), first match wins both ways (`all_frags[]`).
const FRAGS: [(&str, u8, u8); 7] = [
    ("no", 0, 3),
    ("first", 1, 3),
    ("later", 3, 3),
    ("no", 0, 1),
    ("yes", 1, 1),
    ("not_later", 0, 2),
    ("later", 2, 2),
];

/// `format_flags_masked`: all bits of `max` → `a|b` list; otherwise `+a-b` per mask bit.
fn flags_masked(names: &[&str], v: u32, m: u32, max: u32) -> String {
    let name = |bit: usize| names.get(bit).copied().unwrap_or("[Unknown]");
    if m == max {
        if v == 0 {
            return "0".into();
        }
        let parts: Vec<&str> = (0..32).filter(|b| v >> b & 1 == 1).map(name).collect();
        return parts.join("|");
    }
    if m == 0 {
        return "0/0".into();
    }
    (0..32)
        .filter(|b| m >> b & 1 == 1)
        .map(|b| format!("{}{}", if v >> b & 1 == 1 { '+' } else { '-' }, name(b)))
        .collect()
}

/// `+a-b`, `a|b` or `V[/M]` into (value, mask); `max` is the mask of a bare number and of the
/// `a|b` list (exactly these flags set), which is what [`flags_masked`] prints for that mask.
/// Value bits without a name are refused, as OVS refuses them ("unknown TCP flag(s)").
fn flags_parse(names: &[&str], s: &str, max: u32) -> Result<(u32, u32), Error> {
    let bit = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| perr(s, "unknown flag"))
    };
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        let (v, m) = num_masked::<u32>(s)?;
        let m = m.unwrap_or(max);
        let named = u32::MAX >> (32 - names.len());
        if v & !named != 0 || (m != max && m & !named != 0) {
            return Err(perr(s, "unknown flag(s)"));
        }
        return Ok((v, m));
    }
    let Some(signed) = signed_flags(s) else {
        let mut v = 0u32;
        for name in pieces(s, '|') {
            v |= 1 << bit(name)?;
        }
        return Ok((v, max));
    };
    let (mut v, mut m) = (0u32, 0u32);
    for (plus, name) in signed {
        let b = bit(name)?;
        m |= 1 << b;
        if plus {
            v |= 1 << b;
        }
    }
    Ok((v, m))
}

/// Print rank (see `field_text`) and `key=value` text of the fields this module owns.
pub(super) fn field_text(f: &MatchField) -> Option<(u16, String)> {
    use MatchField as M;
    let m16 = |m: &Option<u16>| m.map(u128::from);
    Some(match f {
        M::CtNwSrc(v, m) => (8, format!("ct_nw_src={}", ip_masked(*v, *m))),
        M::CtIpv6Src(v, m) => (8, format!("ct_ipv6_src={}", ip6_masked(*v, *m))),
        M::CtNwDst(v, m) => (8, format!("ct_nw_dst={}", ip_masked(*v, *m))),
        M::CtIpv6Dst(v, m) => (8, format!("ct_ipv6_dst={}", ip6_masked(*v, *m))),
        M::CtNwProto(v) => (8, format!("ct_nw_proto={v}")),
        M::CtTpSrc(v, m) => (8, format!("ct_tp_src={}", u16_masked(*v, *m))),
        M::CtTpDst(v, m) => (8, format!("ct_tp_dst={}", u16_masked(*v, *m))),
        M::TunFlags(v, m) => {
            let m = m.map_or(0xf, |m| m as u32 & 0xf);
            let v = *v as u32 & m;
            (
                33,
                format!("tun_flags={}", flags_masked(&TUN_FLAGS, v, m, 0xf)),
            )
        }
        M::TunMetadata {
            idx, value, mask, ..
        } => (
            34,
            format!("tun_metadata{idx}={}", int_masked(*value, *mask)),
        ),
        M::InPhyPort(p) => (41, format!("in_phy_port={}", port_name(*p))),
        M::Ipv6Exthdr(v, m) => (
            48,
            format!("ipv6_exthdr={}", int_masked(*v as u128, m16(m))),
        ),
        M::IpFrag(v, m) => {
            let m = m.unwrap_or(3) & 3;
            let name = FRAGS
                .iter()
                .find(|(_, fv, fm)| *fm == m && *fv == v & m)
                .map_or_else(
                    || format!("{}/{}", hex(*v as u128), hex(m as u128)),
                    |f| f.0.into(),
                );
            (56, format!("nw_frag={name}"))
        }
        M::PbbIsid(v, m) => (
            56,
            format!("pbb_isid={}", int_masked(*v as u128, m.map(u128::from))),
        ),
        M::TcpFlags(v, m) => {
            let m = m.map_or(0xfff, |m| m as u32 & 0xfff);
            let v = *v as u32 & m;
            (
                72,
                format!("tcp_flags={}", flags_masked(&TCP_FLAGS, v, m, 0xfff)),
            )
        }
        _ => return None,
    })
}

/// The fields for one `key=value` token this module owns; `None` if the key is not one.
pub(super) fn parse(k: &str, v: Option<&str>, tok: &str) -> Result<Option<Vec<MatchField>>, Error> {
    use MatchField as M;
    let need = || v.ok_or_else(|| perr(tok, "expected key=value"));
    let field = match k {
        "ct_nw_src" | "ct_nw_dst" => {
            let (a, m) = ip_masked_parse(need()?)?;
            if k == "ct_nw_src" {
                M::CtNwSrc(a, m)
            } else {
                M::CtNwDst(a, m)
            }
        }
        "ct_ipv6_src" | "ct_ipv6_dst" => {
            let (a, m) = ip6_masked_parse(need()?)?;
            if k == "ct_ipv6_src" {
                M::CtIpv6Src(a, m)
            } else {
                M::CtIpv6Dst(a, m)
            }
        }
        "ct_nw_proto" => M::CtNwProto(num(need()?)?),
        "ct_tp_src" | "ct_tp_dst" => {
            let (a, m) = num_masked::<u16>(need()?)?;
            if k == "ct_tp_src" {
                M::CtTpSrc(a, m)
            } else {
                M::CtTpDst(a, m)
            }
        }
        "tun_flags" => {
            let (a, m) = flags_parse(&TUN_FLAGS, need()?, 0xffff)?;
            M::TunFlags(a as u16, Some(m as u16))
        }
        "tcp_flags" => {
            // A bare number or flag list is an exact match (OVS writes no mask for it), though
            // only the 12 low bits have flags.
            let (a, m) = flags_parse(&TCP_FLAGS, need()?, 0xffff)?;
            M::TcpFlags(a as u16, Some(m as u16))
        }
        "nw_frag" | "ip_frag" => {
            let s = need()?;
            let (_, fv, fm) = FRAGS
                .iter()
                .find(|(n, _, _)| *n == s)
                .ok_or_else(|| perr(tok, "nw_frag is no, yes, first, later or not_later"))?;
            M::IpFrag(*fv, Some(*fm))
        }
        "in_phy_port" => M::InPhyPort(parse_port(need()?)?),
        "pbb_isid" => {
            let (a, m) = num_masked::<u32>(need()?)?;
            M::PbbIsid(a, m)
        }
        "ipv6_exthdr" => {
            let (a, m) = num_masked::<u16>(need()?)?;
            M::Ipv6Exthdr(a, m)
        }
        k if k.starts_with("tun_metadata") => {
            let Some(idx) = indexed(k, "tun_metadata", 64) else {
                return Ok(None);
            };
            let (value, mask) = num_masked::<u128>(need()?)?;
            // The TLV is as long as the longer of value and mask, in whole bytes (0 for `=0`).
            let bytes = |x: u128| (128 - x.leading_zeros()).div_ceil(8) as u8;
            let len = bytes(value).max(mask.map_or(0, bytes));
            M::TunMetadata {
                idx,
                len,
                value,
                mask,
            }
        }
        _ => return parse_register_family(k, v, tok),
    };
    Ok(Some(vec![field]))
}

/// `xreg<N>=V[/M]` (64 bits = reg<2N> high, reg<2N+1> low) and `xxreg<N>=V[/M]` (128 bits over
/// reg<4N>..reg<4N+3>), split as OVS's `nx_put_raw` writes them; all-zero mask halves vanish.
fn parse_register_family(
    k: &str,
    v: Option<&str>,
    tok: &str,
) -> Result<Option<Vec<MatchField>>, Error> {
    let (first, count) = if let Some(n) = indexed(k, "xxreg", 4) {
        (4 * n, 4u8)
    } else if let Some(n) = indexed(k, "xreg", 8) {
        (2 * n, 2u8)
    } else {
        return Ok(None);
    };
    let (a, m) = num_masked::<u128>(v.ok_or_else(|| perr(tok, "expected key=value"))?)?;
    let bits = 32 * count as u32;
    if bits < 128 && (a >> bits != 0 || m.is_some_and(|m| m >> bits != 0)) {
        return Err(perr(tok, "value wider than the register"));
    }
    let m = m.unwrap_or(crate::oxm::ones(bits));
    let fields = (0..count)
        .map(|i| {
            let shift = 32 * (count - 1 - i) as u32;
            let (rv, rm) = ((a >> shift) as u32, (m >> shift) as u32);
            MatchField::Reg(first + i, rv, Some(rm))
        })
        .collect();
    Ok(Some(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_flags_print_like_format_flags_masked() {
        assert_eq!(flags_masked(&TCP_FLAGS, 0x2, 0x12, 0xfff), "+syn-ack");
        assert_eq!(flags_masked(&TCP_FLAGS, 0x12, 0xfff, 0xfff), "syn|ack");
        assert_eq!(flags_masked(&TCP_FLAGS, 0, 0xfff, 0xfff), "0");
        assert_eq!(
            flags_parse(&TCP_FLAGS, "+syn-ack", 0xfff).unwrap(),
            (2, 0x12)
        );
        assert!(flags_parse(&TCP_FLAGS, "+bogus", 0xfff).is_err());
    }

    #[test]
    fn xreg_splits_into_registers_high_first() {
        let f = parse("xreg1", Some("0x5"), "xreg1=0x5").unwrap().unwrap();
        assert_eq!(
            f,
            vec![
                MatchField::Reg(2, 0, Some(u32::MAX)),
                MatchField::Reg(3, 5, Some(u32::MAX))
            ]
        );
        assert!(parse("xreg8", Some("1"), "xreg8=1").unwrap().is_none());
    }
}
