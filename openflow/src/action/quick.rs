//! Decode fast path for the actions policy pipelines write most: output, set_field and
//! reg_load into registers and conntrack marks, resubmit, conjunction, `ct` with such loads in
//! its exec list, and ct_clear.
//!
//! [`action`] reads one framed action straight from its bytes, with no reader, offsets or
//! error values, and answers only when the action is one of those forms and well formed. Then
//! its answer is exactly what the general decoder ([`super::parse_action`]) gives; anything
//! else (another action, an error, a form kept raw) is `None`, and the general decoder reads
//! the action again and reports it. So the fast path changes no outcome, only its cost; the
//! test below checks that on every action of the golden corpus.

use super::{
    NXAST_CONJUNCTION, NXAST_CT, NXAST_CT_CLEAR, NXAST_REG_LOAD, NXAST_RESUBMIT_TABLE,
    NXAST_RESUBMIT_TABLE_CT, NX_CT_F_COMMIT, NX_CT_F_FORCE, NX_IN_PORT, OFPAT_EXPERIMENTER,
    OFPAT_OUTPUT, OFPAT_SET_FIELD,
};
use crate::error::NX_VENDOR_ID;
use nom::Parser;

use crate::flow::{Action, CtZone, Field};
use crate::grammar::{aligned_item, aligned_items, be16, be32, int_at, tl};
use crate::wire::Reader;
use crate::Error;

// The reads below are at offsets inside lengths the caller has checked; a read past the end
// (which cannot happen) gives 0 rather than a panic.
#[inline(always)]
fn u16_at(b: &[u8], i: usize) -> u16 {
    int_at(b, i).unwrap_or_default()
}

#[inline(always)]
fn u32_at(b: &[u8], i: usize) -> u32 {
    int_at(b, i).unwrap_or_default()
}

#[inline(always)]
fn u64_at(b: &[u8], i: usize) -> u64 {
    int_at(b, i).unwrap_or_default()
}

/// The action in `b`, one whole action whose length field is `b.len()`, when it is one of the
/// forms in the module docs and well formed; `None` otherwise.
#[inline]
pub(super) fn action(b: &[u8]) -> Option<Action> {
    with(b, |a| a)
}

/// Decode the framed action list `list` (see [`super::frame_actions`]; `offset` is its absolute
/// offset) onto the end of `out`: each action through the fast path, the others through the
/// general decoder.
///
/// Errors: the general decoder's, for the first action that does not decode.
#[inline]
pub(crate) fn decode_list(list: &[u8], offset: usize, out: &mut Vec<Action>) -> Result<(), Error> {
    let mut rest = list;
    while let Ok((_, (_, len))) = tl(rest) {
        let at = list.len() - rest.len();
        let (b, next) = rest.split_at(len.max(4).min(rest.len()));
        // Each action is written straight into the list: building it elsewhere and moving it
        // in costs more than decoding it.
        if with(b, |a| out.push(a)).is_none() {
            let mut r = Reader::new(b, offset + at);
            out.push(super::parse_action(&mut r, offset + at)?);
        }
        rest = next;
    }
    Ok(())
}

/// Decode the action list `list` (absolute offset `offset`), checking its framing as
/// [`super::frame_actions`] does, then each body as [`super::parse_action`] does, and hand each
/// action to `emit` as it is read, in wire order, with `false`. The exec actions of a `ct`
/// ([`Action::Ct`], [`Action::CtExt`]) follow it, each with `true`; the `ct` itself is handed on
/// with an empty `exec`, so the common forms decode without allocating. Other nested lists
/// (`clone`) stay inside their action.
///
/// Errors: the first framing or body error, in wire order ([`Error::Truncated`],
/// [`Error::BadLength`], [`Error::BadAction`]); actions before it have been handed on.
#[inline]
pub(crate) fn each(
    list: &[u8],
    offset: usize,
    emit: &mut impl FnMut(Action, bool),
) -> Result<(), Error> {
    // The framing of the whole list first, as the owned decoder checks it.
    if !aligned_items(list) {
        super::frame_actions(&mut Reader::new(list, offset))?;
    }
    let mut rest = list;
    while let Ok((next, (kind, b))) = aligned_item(rest) {
        let at = offset + (list.len() - rest.len());
        let len = b.len();
        rest = next;
        if kind == OFPAT_EXPERIMENTER
            && len >= 24
            && u32_at(b, 4) == NX_VENDOR_ID
            && u16_at(b, 8) == NXAST_CT
            && canonical_ct(b)
        {
            // What [`ct`] takes, vouched for by the bytes: the exec loads each decode.
            emit(ct_with_exec(b, Vec::new()), false);
            each_nested(&b[24..], at + 24, emit)?;
            continue;
        }
        // Any other `ct` (the fast path's with another form, or the general decoder's) has
        // its exec list moved out after it as well.
        let mut flat = |mut a: Action| {
            let exec = match &mut a {
                Action::Ct { exec, .. } | Action::CtExt { exec, .. } => std::mem::take(exec),
                _ => Vec::new(),
            };
            emit(a, false);
            for x in exec {
                emit(x, true);
            }
        };
        if with(b, &mut flat).is_none() {
            flat(super::parse_action(&mut Reader::new(b, at), at)?);
        }
    }
    Ok(())
}

/// The exec list of a `ct` [`canonical_ct`] vouched for, each action handed on with `true`.
#[inline]
fn each_nested(
    mut list: &[u8],
    offset: usize,
    emit: &mut impl FnMut(Action, bool),
) -> Result<(), Error> {
    let start = list.len();
    while let Ok((rest, (_, item))) = aligned_item(list) {
        if with(item, |a| emit(a, true)).is_none() {
            let at = offset + (start - list.len());
            emit(super::parse_action(&mut Reader::new(item, at), at)?, true);
        }
        list = rest;
    }
    Ok(())
}

/// [`action`], handing the decoded action to `emit`.
#[inline(always)]
pub(super) fn with<R>(b: &[u8], emit: impl FnOnce(Action) -> R) -> Option<R> {
    let (body, (kind, len)) = tl(b).ok()?;
    if len != b.len() {
        return None;
    }
    match kind {
        OFPAT_OUTPUT if len == 16 => {
            let (_, (port, max_len)) = (be32, be16).parse(body).ok()?;
            Some(emit(Action::Output { port, max_len }))
        }
        OFPAT_SET_FIELD if len >= 8 => set_field(b).map(emit),
        OFPAT_EXPERIMENTER if len >= 16 && u32_at(b, 4) == NX_VENDOR_ID => match u16_at(b, 8) {
            NXAST_REG_LOAD if len == 24 => reg_load(b, emit),
            NXAST_RESUBMIT_TABLE | NXAST_RESUBMIT_TABLE_CT if len == 16 => {
                if b[13..16] != [0, 0, 0] {
                    return None;
                }
                let (in_port, table) = (u16_at(b, 10), b[12]);
                let ct = u16_at(b, 8) == NXAST_RESUBMIT_TABLE_CT;
                Some(if in_port == NX_IN_PORT && !ct {
                    emit(Action::Resubmit { table })
                } else {
                    emit(Action::ResubmitExt { in_port, table, ct })
                })
            }
            NXAST_CONJUNCTION if len == 16 => Some(emit(Action::Conjunction {
                clause: b[10].wrapping_add(1),
                n_clauses: b[11],
                id: u32_at(b, 12),
            })),
            NXAST_CT if len >= 24 => ct(b).map(emit),
            NXAST_CT_CLEAR if len == 16 && b[10..].iter().all(|x| *x == 0) => {
                Some(emit(Action::CtClear))
            }
            _ => None,
        },
        _ => None,
    }
}

/// Whether the framed action list `list` holds only actions [`canonical_action`] vouches for.
#[inline]
pub(crate) fn canonical_actions(mut list: &[u8]) -> bool {
    while !list.is_empty() {
        let Ok((rest, (_, item))) = aligned_item(list) else {
            return false;
        };
        if !canonical_action(item) {
            return false;
        }
        list = rest;
    }
    true
}

/// Whether the one whole action `b` is a form [`with`] takes (so it decodes without error, to
/// what the general decoder gives) that [`Action::emit`] writes back byte for byte from its
/// decoded value: output; set_field of a register, ct_mark or ct_label at its exact length;
/// reg_load into one; resubmit; conjunction; ct_clear; `ct` with an immediate zone,
/// commit/force only, and an exec list of such loads into ct_mark / ct_label. Every padding
/// byte is zero. A check over the bytes alone, for the decoder that keeps action lists as
/// bytes ([`crate::flow::Instructions`]).
#[inline(always)]
pub(crate) fn canonical_action(b: &[u8]) -> bool {
    let Ok((_, (kind, len))) = tl(b) else {
        return false;
    };
    if len != b.len() {
        return false;
    }
    match kind {
        OFPAT_OUTPUT => len == 16 && u16_at(b, 10) == 0 && u32_at(b, 12) == 0,
        OFPAT_SET_FIELD => canonical_set_field(b, false),
        OFPAT_EXPERIMENTER if len >= 16 && u32_at(b, 4) == NX_VENDOR_ID => match u16_at(b, 8) {
            NXAST_REG_LOAD => canonical_reg_load(b, false),
            NXAST_RESUBMIT_TABLE | NXAST_RESUBMIT_TABLE_CT => {
                len == 16 && u32_at(b, 12) & 0x00ff_ffff == 0
            }
            NXAST_CONJUNCTION => len == 16,
            NXAST_CT_CLEAR => len == 16 && u16_at(b, 10) == 0 && u32_at(b, 12) == 0,
            NXAST_CT if len >= 24 => canonical_ct(b),
            _ => false,
        },
        _ => false,
    }
}

/// [`canonical_action`] for NXAST_CT: the header as [`ct`] takes it with zero padding, and an
/// exec list of loads into ct_mark / ct_label.
#[inline(never)]
fn canonical_ct(b: &[u8]) -> bool {
    let flags = u16_at(b, 10);
    // Padding at 19..22 (the recirculation table at 18).
    if flags & !(NX_CT_F_COMMIT | NX_CT_F_FORCE) != 0
        || u32_at(b, 12) != 0
        || u32_at(b, 18) & 0x00ff_ffff != 0
    {
        return false;
    }
    let mut list = &b[24..];
    while !list.is_empty() {
        let Ok((rest, (kind, item))) = aligned_item(list) else {
            return false;
        };
        let ok = match kind {
            OFPAT_SET_FIELD => canonical_set_field(item, true),
            OFPAT_EXPERIMENTER => {
                u32_at(item, 4) == NX_VENDOR_ID
                    && u16_at(item, 8) == NXAST_REG_LOAD
                    && canonical_reg_load(item, true)
            }
            _ => false,
        };
        if !ok {
            return false;
        }
        list = rest;
    }
    true
}

/// The width in bits of the field [`common_field`] names by the unmasked header `h`, and
/// whether it is ct_mark or ct_label; `None` for any other header. Each of these fields is as
/// wide as its value on the wire.
#[inline(always)]
fn common_width(h: u32) -> Option<(u16, bool)> {
    match h {
        0x0001_d604 => Some((32, true)),
        0x0001_d810 => Some((128, true)),
        h if h & 0xffff_e1ff == 0x0001_0004 => Some((32, false)),
        _ => None,
    }
}

/// [`canonical_action`] for OFPAT_SET_FIELD: what [`set_field`] takes, at the length
/// [`Action::emit`] writes (the TLV padded to 8), into ct_mark / ct_label only when `ct_only`.
/// The header names a whole field ([`common_field`]'s), which is its own set_field header, and
/// the value is as wide as the field, so neither needs a check.
#[inline(always)]
fn canonical_set_field(b: &[u8], ct_only: bool) -> bool {
    let h = u32_at(b, 4);
    match common_width(h) {
        Some((_, ct)) if ct || !ct_only => {}
        _ => return false,
    }
    match h & 0xff {
        // A 4-byte value and 4 bytes of padding.
        4 => b.len() == 16 && u32_at(b, 12) == 0,
        // ct_label: 16 bytes, no padding.
        _ => b.len() == 24,
    }
}

/// [`canonical_action`] for NXAST_REG_LOAD: what [`reg_load`] takes (24 bytes, the bit range
/// inside the field, the value inside the bit range), into ct_mark / ct_label only when
/// `ct_only`.
#[inline(always)]
fn canonical_reg_load(b: &[u8], ct_only: bool) -> bool {
    if b.len() != 24 {
        return false;
    }
    let Some((bits, ct)) = common_width(u32_at(b, 12)) else {
        return false;
    };
    let on = u16_at(b, 10);
    let (ofs, n_bits) = (on >> 6, (on & 0x3f) + 1);
    let value = u64_at(b, 16);
    (ct || !ct_only) && ofs + n_bits <= bits && (n_bits >= 64 || value >> n_bits == 0)
}

/// OFPAT_SET_FIELD of a register or conntrack mark/label without a mask.
#[inline]
fn set_field(b: &[u8]) -> Option<Action> {
    let h = u32_at(b, 4);
    let n = (h & 0xff) as usize;
    let field = common_field(h)?;
    let value = b.get(8..8 + n)?;
    if h != field.set_field_header() || b[8 + n..].iter().any(|x| *x != 0) {
        return None;
    }
    let v = value.iter().fold(0u128, |a, x| a << 8 | u128::from(*x));
    let bits = field.bits();
    if bits < 128 && v >> bits != 0 {
        return None;
    }
    Some(Action::Load {
        field,
        ofs: 0,
        n_bits: bits,
        value: v,
    })
}

/// The field of an unmasked header naming reg0..15, ct_mark or ct_label (the fields the fast
/// path writes), as [`Field::from_header`] names it; `None` for any other header.
#[inline(always)]
fn common_field(h: u32) -> Option<Field> {
    match h {
        0x0001_d604 => Some(Field::CtMark),
        0x0001_d810 => Some(Field::CtLabel),
        h if h & 0xffff_e1ff == 0x0001_0004 => Some(Field::Reg(((h >> 9) & 0xf) as u8)),
        _ => None,
    }
}

/// NXAST_REG_LOAD into a register or conntrack mark/label.
#[inline(always)]
fn reg_load<R>(b: &[u8], emit: impl FnOnce(Action) -> R) -> Option<R> {
    let on = u16_at(b, 10);
    let (ofs, n_bits) = (on >> 6, (on & 0x3f) + 1);
    let field = common_field(u32_at(b, 12))?;
    let value = u64_at(b, 16);
    if ofs + n_bits > field.bits() || (n_bits < 64 && value >> n_bits != 0) {
        return None;
    }
    let value = u128::from(value);
    Some(if ofs == 0 && n_bits == field.bits() {
        emit(Action::RegLoad {
            field,
            ofs,
            n_bits,
            value,
        })
    } else {
        emit(Action::Load {
            field,
            ofs,
            n_bits,
            value,
        })
    })
}

/// NXAST_CT with an immediate zone, commit/force flags only, and an exec list of loads into
/// ct_mark / ct_label (what a policy pipeline commits with).
#[inline(never)]
fn ct(b: &[u8]) -> Option<Action> {
    let flags = u16_at(b, 10);
    if flags & !(NX_CT_F_COMMIT | NX_CT_F_FORCE) != 0 || u32_at(b, 12) != 0 {
        return None;
    }
    let mut list = &b[24..];
    let mut exec = Vec::with_capacity(crate::grammar::count_items(list));
    while !list.is_empty() {
        let (rest, (_, item)) = aligned_item(list).ok()?;
        let a = action(item)?;
        if !matches!(
            a,
            Action::Load {
                field: Field::CtMark | Field::CtLabel,
                ..
            } | Action::RegLoad {
                field: Field::CtMark | Field::CtLabel,
                ..
            }
        ) {
            return None;
        }
        exec.push(a);
        list = rest;
    }
    Some(ct_with_exec(b, exec))
}

/// The NXAST_CT `b` with an immediate zone (its flags, zone, recirculation table and alg, as
/// [`ct`] checked them), with `exec` as its exec list.
#[inline(always)]
fn ct_with_exec(b: &[u8], exec: Vec<Action>) -> Action {
    let flags = u16_at(b, 10);
    let table = (b[18] != 0xff).then_some(b[18]);
    Action::ct(
        flags & NX_CT_F_COMMIT != 0,
        flags & NX_CT_F_FORCE != 0,
        CtZone::Imm(u16_at(b, 16)),
        table,
        u16_at(b, 22),
        exec,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every action list of the golden flow corpus: the fast path answers the general decoder's
    /// answer or nothing, and answers for the forms it is for.
    #[test]
    fn the_fast_path_agrees_with_the_general_decoder_on_the_golden_corpus() {
        let golden = include_str!("../../tests/golden/flows.golden");
        let (mut taken, mut total, mut canonical, mut canonical_mutants) = (0, 0, 0, 0);
        let mut mutants = Vec::new();
        for line in golden.lines() {
            let Some(hex) = line.strip_prefix("hex: ") else {
                continue;
            };
            let Some(bytes) = (0..hex.len())
                .step_by(2)
                .map(|i| {
                    hex.get(i..i + 2)
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                })
                .collect::<Option<Vec<u8>>>()
            else {
                continue;
            };
            let Ok((_, crate::Message::FlowMod(_))) = crate::Message::decode(&bytes) else {
                continue;
            };
            let (_, v) = crate::FlowModView::parse(&bytes).expect("view");
            for i in v.instructions {
                let (crate::view::InstructionView::ApplyActions(a)
                | crate::view::InstructionView::WriteActions(a)) = i
                else {
                    continue;
                };
                let mut list = a.bytes();
                while !list.is_empty() {
                    let len = u16::from_be_bytes([list[2], list[3]]) as usize;
                    let one = &list[..len];
                    let general = super::super::parse_action(&mut Reader::new(one, 0), 0);
                    total += 1;
                    if let Some(fast) = action(one) {
                        taken += 1;
                        assert_eq!(Some(&fast), general.as_ref().ok(), "{}", line);
                    }
                    canonical += usize::from(written_back(one));
                    mutants.push(one.to_vec());
                    list = &list[len..];
                }
            }
        }
        assert!(total > 200, "the corpus has {total} actions");
        assert!(taken > 30, "the fast path took {taken} of {total}");
        // Each action with one byte changed (after the length field), many times over: the
        // changes that reach the checks of the forms the fast path reads.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let (mut agreed, mut tried) = (0, 0);
        for a in &mutants {
            for _ in 0..64 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let mut m = a.clone();
                let at = 4 + (seed as usize >> 8) % (m.len() - 4);
                m[at] = seed as u8;
                let general = super::super::parse_action(&mut Reader::new(&m, 0), 0);
                tried += 1;
                if let Some(fast) = action(&m) {
                    agreed += 1;
                    assert_eq!(Some(&fast), general.as_ref().ok(), "{m:02x?}");
                }
                canonical_mutants += usize::from(written_back(&m));
            }
        }
        assert!(
            agreed > tried / 20,
            "the fast path took {agreed} of {tried} mutants"
        );
        assert!(canonical > 30, "{canonical} canonical of {total}");
        assert!(
            canonical_mutants > 100,
            "{canonical_mutants} canonical mutants"
        );
    }

    /// Whether `b` is one that [`canonical_action`] vouches for; if so, checks that it decodes
    /// and is written back byte for byte.
    fn written_back(b: &[u8]) -> bool {
        if !canonical_action(b) {
            return false;
        }
        let decoded = super::super::parse_action(&mut Reader::new(b, 0), 0)
            .unwrap_or_else(|e| panic!("{b:02x?}: {e}"));
        let mut again = Vec::new();
        decoded.emit(&mut again);
        assert_eq!(again, b, "{decoded:?}");
        true
    }

    #[test]
    fn the_fast_path_leaves_bad_and_unusual_forms_to_the_general_decoder() {
        // reg_load of 0x10 into reg0[0..3]: wider than its bit range (an error).
        let bad_load = [
            0xff, 0xff, 0, 24, 0, 0, 0x23, 0x20, 0, 7, 0, 3, 0, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        assert_eq!(action(&bad_load), None);
        // The same load with value 2 is taken.
        let mut ok = bad_load;
        ok[23] = 2;
        assert_eq!(
            action(&ok),
            Some(Action::Load {
                field: Field::Reg(0),
                ofs: 0,
                n_bits: 4,
                value: 2
            })
        );
        // resubmit with nonzero padding is kept raw by the general decoder.
        let resubmit = [
            0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 14, 0xff, 0xf8, 3, 0, 0, 1,
        ];
        assert_eq!(action(&resubmit), None);
        // A length field that disagrees with the slice.
        let mut short = ok;
        short[3] = 16;
        assert_eq!(action(&short), None);
    }
}
