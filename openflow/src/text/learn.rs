//! The `learn(...)` action: OVS `learn_format` and `learn_parse` (`lib/learn.c`).

use std::fmt::{self, Formatter, Write};

use super::action_parse::parse_subfield;
use super::action_text::subfield;
use super::syntax::{kv as key_value_of, kv_pair, split_at, whole};
use super::values::{hex, num, parse_field_value, perr, split_top};
use crate::flow::{Field, Learn, LearnDst, LearnSpec, LearnSrc};
use crate::Error;
use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::combinator::{map, rest, value};
use nom::sequence::preceded;
use nom::Parser;

/// OVS `learn_format`.
pub(super) fn learn_text(f: &mut Formatter<'_>, l: &Learn) -> fmt::Result {
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

/// A flow spec of `learn(...)`, by its form (`learn_parse_spec`).
#[derive(Clone, Copy)]
enum LearnSpecText<'a> {
    /// `load:SRC->DST`: what follows `load:`.
    Load(&'a str),
    /// `output:SRC`: what follows `output:`.
    Output(&'a str),
    /// `DST[=SRC]`: a match spec.
    Match,
}

fn learn_spec(i: &str) -> super::lex::PResult<'_, LearnSpecText<'_>> {
    alt((
        map(preceded(tag("load:"), rest), LearnSpecText::Load),
        map(preceded(tag("output:"), rest), LearnSpecText::Output),
        value(LearnSpecText::Match, rest),
    ))
    .parse(i)
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

pub(super) fn parse_learn(s: &str, inner: &str) -> Result<Learn, Error> {
    let mut l = Learn::default();
    for kv in split_top(inner) {
        let (k, v) = kv_pair(kv).unwrap_or((kv, ""));
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
    let spec = whole(kv, learn_spec).unwrap_or(LearnSpecText::Match);
    if let LearnSpecText::Load(a) = spec {
        let (src, dst) =
            split_at(a, "->").ok_or_else(|| perr(s, "expected load:SRC->DST in learn"))?;
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
    if let LearnSpecText::Output(a) = spec {
        let (field, ofs, n_bits) = parse_subfield(a)?;
        return Ok(LearnSpec {
            n_bits,
            src: LearnSrc::Field { field, ofs },
            dst: LearnDst::Output,
        });
    }
    let (dst, src) = key_value_of(kv);
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
