//! Text of the actions in `action/ext.rs`: `bundle`, `bundle_load`,
//! `sample(...,ingress|egress)` and `set_field:...->tun_metadataN` (OUTPUT_REG2 and copy_field
//! print as `output:` and `move:` in `action_text.rs`),
//! as OVS's `format_*` / `parse_*` in `lib/ofp-actions.c` and `lib/bundle.c` write and read them.

use std::fmt::{self, Formatter, Write};

use super::action_parse::parse_subfield;
use super::action_text::subfield;
use super::syntax::{bit_range, indexed, masked, subfield as subfield_text, whole, BitRange};
use super::values::{num, nx_port, nx_port_name, perr, split_top, HASH_FIELDS};
use crate::flow::{Action, Bundle};
use crate::oxm::ones;
use crate::Error;
use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::combinator::rest;
use nom::sequence::preceded;

/// NX_BD_ALG_* names.
const BD_ALGORITHMS: [&str; 2] = ["active_backup", "hrw"];

/// `ds_put_hex` of a byte string: `0x` and the digits without leading zeros; `0` for zero.
fn bytes_hex(b: &[u8]) -> String {
    let digits: String = b.iter().map(|x| format!("{x:02x}")).collect();
    match digits.trim_start_matches('0') {
        "" => "0".into(),
        d => format!("0x{d}"),
    }
}

/// A number as the shortest big-endian byte string (empty for zero), left-padded to `len`.
fn be_bytes(v: u128, len: usize) -> Vec<u8> {
    let b = v.to_be_bytes();
    b[16 - len..].to_vec()
}

fn min_len(v: u128) -> usize {
    (128 - v.leading_zeros() as usize).div_ceil(8)
}

/// `Display` of the actions this module owns; `None` for any other action.
pub(super) fn fmt(f: &mut Formatter<'_>, a: &Action) -> Option<fmt::Result> {
    Some(match a {
        Action::Bundle(b) => bundle_text(f, b),
        Action::SampleDir {
            probability,
            collector_set_id,
            obs_domain_id,
            obs_point_id,
            sampling_port,
            egress,
        } => (|| {
            write!(f, "sample(probability={probability},collector_set_id={collector_set_id},obs_domain_id={obs_domain_id},obs_point_id={obs_point_id}")?;
            if let Some(p) = sampling_port {
                write!(f, ",sampling_port={}", nx_port_name(*p))?;
            }
            f.write_str(if *egress { ",egress)" } else { ",ingress)" })
        })(),
        Action::SetTunMetadata { idx, value, mask } => (|| {
            write!(f, "set_field:{}", bytes_hex(value))?;
            if let Some(m) = mask {
                write!(f, "/{}", bytes_hex(m))?;
            }
            write!(f, "->tun_metadata{idx}")
        })(),
        _ => return None,
    })
}

fn bundle_text(f: &mut Formatter<'_>, b: &Bundle) -> fmt::Result {
    let fields = HASH_FIELDS
        .get(b.fields as usize)
        .map_or_else(|| b.fields.to_string(), |s| s.to_string());
    let alg = BD_ALGORITHMS
        .get(b.algorithm as usize)
        .map_or_else(|| b.algorithm.to_string(), |s| s.to_string());
    let name = if b.dst.is_some() {
        "bundle_load"
    } else {
        "bundle"
    };
    write!(f, "{name}({fields},{},{alg},ofport,", b.basis)?;
    if let Some((field, ofs, n_bits)) = b.dst {
        write!(f, "{},", subfield(field, ofs, n_bits))?;
    }
    f.write_str("members:")?;
    for (i, m) in b.members.iter().enumerate() {
        if i > 0 {
            f.write_char(',')?;
        }
        f.write_str(&nx_port_name(*m))?;
    }
    f.write_char(')')
}

/// `bundle(...)` / `bundle_load(...)` (`bundle_parse`, `bundle_parse_load`); `slaves:` is the
/// old spelling of `members:`.
pub(super) fn parse_bundle(s: &str, load: bool, inner: &str) -> Result<Action, Error> {
    let parts = split_top(inner);
    let fixed = if load { 5 } else { 4 };
    if parts.len() < fixed + 1 {
        return Err(perr(
            s,
            "expected bundle(fields,basis,algorithm,ofport,[dst,]members:...)",
        ));
    }
    let fields = HASH_FIELDS
        .iter()
        .position(|x| *x == parts[0])
        .ok_or_else(|| perr(s, "unknown bundle fields"))? as u16;
    let basis = num(parts[1])?;
    let algorithm = BD_ALGORITHMS
        .iter()
        .position(|x| *x == parts[2])
        .ok_or_else(|| perr(s, "unknown bundle algorithm"))? as u16;
    if parts[3] != "ofport" {
        return Err(perr(s, "bundle member type must be ofport"));
    }
    let dst = if load {
        Some(parse_subfield(parts[4])?)
    } else {
        None
    };
    let members_tag = alt((tag("members:"), tag("slaves:")));
    let first = whole(parts[fixed], preceded(members_tag, rest))
        .ok_or_else(|| perr(s, "expected members:"))?;
    let members = std::iter::once(first)
        .chain(parts[fixed + 1..].iter().copied())
        .map(nx_port)
        .collect::<Result<Vec<u16>, Error>>()?;
    Ok(Action::Bundle(Box::new(Bundle {
        fields,
        basis,
        algorithm,
        members,
        dst,
    })))
}

/// The slot of `tun_metadataN` / `NXM_NX_TUN_METADATAN`.
fn tun_metadata_slot(name: &str) -> Option<u8> {
    indexed(name, "tun_metadata", 64).or_else(|| indexed(name, "NXM_NX_TUN_METADATA", 64))
}

/// `set_field:V[/M]->tun_metadataN`; `None` if the destination is not tun_metadata. Values
/// are limited to 16 bytes here (OVS allows 124).
pub(super) fn parse_set_tun_metadata(val: &str, dst: &str) -> Result<Option<Action>, Error> {
    let Some(idx) = tun_metadata_slot(dst.trim()) else {
        return Ok(None);
    };
    let (v, m) = match masked(val) {
        (v, Some(m)) => (num::<u128>(v)?, Some(num::<u128>(m)?)),
        (v, None) => (num::<u128>(v)?, None),
    };
    Ok(Some(tun_metadata(idx, v, m)))
}

/// `load:V->NXM_NX_TUN_METADATAN[a..b]`, which OVS turns into a masked set_field.
pub(super) fn parse_load_tun_metadata(
    s: &str,
    val: &str,
    dst: &str,
) -> Result<Option<Action>, Error> {
    let (name, Some(range)) = subfield_text(dst) else {
        return Ok(None);
    };
    let Some(idx) = tun_metadata_slot(name) else {
        return Ok(None);
    };
    let range = bit_range(range).ok_or_else(|| perr(s, "missing ]"))?;
    let (ofs, end): (u32, u32) = match range {
        BitRange::Span(a, b) => (num(a)?, num(b)?),
        // `[]` names no bits here: the empty number is refused as before.
        BitRange::Whole => {
            let n = num("")?;
            (n, n)
        }
        BitRange::Bit(n) => {
            let n = num(n)?;
            (n, n)
        }
    };
    if end < ofs || end >= 128 {
        return Err(perr(
            s,
            "tun_metadata bit range outside the 128 bits supported",
        ));
    }
    let n = end - ofs + 1;
    let v: u128 = num(val)?;
    if n < 128 && v >> n != 0 {
        return Err(perr(s, "value does not fit the bit range"));
    }
    Ok(Some(tun_metadata(idx, v << ofs, Some(ones(n) << ofs))))
}

fn tun_metadata(idx: u8, v: u128, m: Option<u128>) -> Action {
    let len = min_len(v).max(m.map_or(0, min_len));
    Action::SetTunMetadata {
        idx,
        value: be_bytes(v, len),
        mask: m.map(|m| be_bytes(m, len)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tun_metadata_values_are_their_shortest_bytes() {
        assert_eq!(
            tun_metadata(1, 0, None),
            Action::SetTunMetadata {
                idx: 1,
                value: vec![],
                mask: None
            }
        );
        assert_eq!(
            tun_metadata(2, 0x3400, Some(0xff00)),
            Action::SetTunMetadata {
                idx: 2,
                value: vec![0x34, 0],
                mask: Some(vec![0xff, 0])
            }
        );
        assert_eq!(bytes_hex(&[0, 1]), "0x1");
        assert_eq!(bytes_hex(&[]), "0");
    }
}
