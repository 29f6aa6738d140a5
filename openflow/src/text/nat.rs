//! The `nat(...)` argument of `ct`: OVS `format_NAT` and `parse_NAT`.

use std::fmt::{self, Formatter, Write};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::lex::PResult;
use super::syntax::{kv as key_value, paren_body, pieces, split_at_char, whole};
use super::values::{num, perr};
use crate::flow::{Nat, NatAddr};
use crate::Error;
use nom::bytes::complete::tag;
use nom::character::complete::char;
use nom::combinator::{map_opt, rest};
use nom::sequence::preceded;
use nom::Parser;

/// OVS `format_NAT`.
pub(super) fn nat_text(f: &mut Formatter<'_>, n: &Nat) -> fmt::Result {
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
pub(super) fn parse_nat(s: &str) -> Result<Nat, Error> {
    let mut n = Nat::default();
    let Some(inner) = whole(s, preceded(tag("nat"), rest)) else {
        return Err(perr(s, "expected nat"));
    };
    if inner.is_empty() {
        return Ok(n);
    }
    let inner = paren_body(inner).ok_or_else(|| perr(s, "expected nat(...)"))?;
    for kv in pieces(inner, ',')
        .into_iter()
        .map(str::trim)
        .filter(|x| !x.is_empty())
    {
        let (k, v) = key_value(kv);
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

/// `[ADDR]`: the IPv6 address between the brackets (the last character a `]`).
fn bracketed(i: &str) -> PResult<'_, &str> {
    preceded(char('['), map_opt(rest, |r: &str| r.strip_suffix(']'))).parse(i)
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
        match split_at_char(v, ':') {
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
            whole(x, bracketed)
                .unwrap_or(x)
                .parse()
                .map_err(|_| perr(s, "bad nat IPv6 address"))
        };
        let (min, max) = match split_at_char(addrs, '-') {
            Some((a, b)) => (six(a)?, Some(six(b)?)),
            None => (six(addrs)?, None),
        };
        NatAddr::V6(min, max.filter(|m| !m.is_unspecified()))
    } else {
        let four = |x: &str| -> Result<Ipv4Addr, Error> {
            x.parse().map_err(|_| perr(s, "bad nat IPv4 address"))
        };
        let (min, max) = match split_at_char(addrs, '-') {
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
        let (min, max): (u16, Option<u16>) = match split_at_char(p, '-') {
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
