//! The allocation-free match emitter.

#[cfg(doc)]
use super::quick;
use crate::flow::MatchField;
use crate::oxm::canonical_fields;
use crate::oxm::{emit_field, emit_match_field, Fid};
use crate::wire::{pad8, put_len_at};

/// Matches with at most this many fields are sorted on the stack when emitted.
const INLINE_FIELDS: usize = 32;

/// Append `fields` as an `ofp_match` in the form [`crate::Match`] keeps (canonical order,
/// masks normalised, padding), without allocating for matches of up to [`INLINE_FIELDS`]
/// known fields.
pub(crate) fn emit_fields(m: &[MatchField], buf: &mut Vec<u8>) {
    // Optimistically in list order: a match built in canonical order (as the flow text parser
    // and the decoder build them) is written in one pass. Equal fields stay in input order, as
    // the stable sort below keeps them.
    let start = buf.len();
    buf.extend_from_slice(&[0, 1, 0, 0]);
    let mut last = 0;
    for f in m {
        match emit_common(f, buf, &mut last) {
            Some(true) => continue,
            Some(false) => {
                buf.truncate(start);
                return emit_unsorted(m, buf);
            }
            None => {}
        }
        let Some(parts) = f.parts() else {
            buf.truncate(start);
            // A raw field keeps its place among the others, which the sort cannot know.
            return emit_canonical(&canonical_fields(m), buf);
        };
        let rank = parts.0.rank();
        if rank < last {
            buf.truncate(start);
            return emit_unsorted(m, buf);
        }
        last = rank;
        if let Some((fid, v, mask)) = normalized_raw(parts) {
            emit_field(buf, fid, v, mask);
        }
    }
    finish_match(buf, start);
}

/// The encode fast path for the fields policy pipelines match on (the ones [`quick`] decodes):
/// the TLV written straight from the field, header and value in one fixed-size store, its mask
/// normalised as [`normalized_raw`] does. `Some(true)` when written, `Some(false)` when the
/// field comes before `last` in canonical order (nothing written), `None` for any other field
/// (the general path writes it). `last` is the [`Fid::rank`] of the field before.
#[inline(always)]
pub(super) fn emit_common(f: &MatchField, buf: &mut Vec<u8>, last: &mut u32) -> Option<bool> {
    use MatchField as M;
    let (rank, header, value, mask): (u32, u32, u64, Option<u64>) = match *f {
        M::InPort(p) => (Fid::InPort.rank(), 0x8000_0004, p.into(), None),
        M::Metadata(v, m) => (Fid::Metadata.rank(), 0x8000_0408, v, m),
        M::EthType(v) => (Fid::EthType.rank(), 0x8000_0a02, v.into(), None),
        M::IpProto(v) => (Fid::IpProto.rank(), 0x8000_1401, v.into(), None),
        M::Ipv4Src(a, m) => (
            Fid::Ipv4Src.rank(),
            0x8000_1604,
            u32::from(a).into(),
            m.map(|m| u32::from(m).into()),
        ),
        M::Ipv4Dst(a, m) => (
            Fid::Ipv4Dst.rank(),
            0x8000_1804,
            u32::from(a).into(),
            m.map(|m| u32::from(m).into()),
        ),
        M::TcpSrc(v, None) => (Fid::TcpSrc.rank(), 0x8000_1a02, v.into(), None),
        M::TcpDst(v, None) => (Fid::TcpDst.rank(), 0x8000_1c02, v.into(), None),
        M::UdpSrc(v, None) => (Fid::UdpSrc.rank(), 0x8000_1e02, v.into(), None),
        M::UdpDst(v, None) => (Fid::UdpDst.rank(), 0x8000_2002, v.into(), None),
        M::Reg(n, v, m) if n < 16 => (
            Fid::Reg(n).rank(),
            0x0001_0004 | u32::from(n) << 9,
            v.into(),
            m.map(u64::from),
        ),
        M::ConjId(v) => (Fid::ConjId.rank(), 0x0001_4a04, v.into(), None),
        M::CtState(v, m) => (Fid::CtState.rank(), 0x0001_d204, v.into(), Some(m.into())),
        M::CtMark(v, m) => (Fid::CtMark.rank(), 0x0001_d604, v.into(), m.map(u64::from)),
        _ => return None,
    };
    if rank < *last {
        return Some(false);
    }
    *last = rank;
    let len = header & 0xff;
    let ones = u64::MAX >> (64 - 8 * len);
    let (value, mask) = match mask {
        Some(0) => return Some(true),
        Some(m) if m & ones != ones => (value & m, Some(m)),
        _ => (value, None),
    };
    // Each part stored straight into the buffer at its width: no block built on the stack
    // and copied (that copy stalls on the narrow stores that just built it).
    match mask {
        Some(m) => {
            buf.extend_from_slice(&((header & !0xff) | 0x100 | (2 * len)).to_be_bytes());
            put_word(buf, len, value);
            put_word(buf, len, m);
        }
        None => {
            buf.extend_from_slice(&header.to_be_bytes());
            put_word(buf, len, value);
        }
    }
    Some(true)
}

/// Append the low `len` (1, 2, 4 or 8) bytes of `v`, big-endian.
#[inline(always)]
fn put_word(buf: &mut Vec<u8>, len: u32, v: u64) {
    match len {
        1 => buf.push(v as u8),
        2 => buf.extend_from_slice(&(v as u16).to_be_bytes()),
        4 => buf.extend_from_slice(&(v as u32).to_be_bytes()),
        _ => buf.extend_from_slice(&v.to_be_bytes()),
    }
}

/// [`emit_match`] for a match of known fields out of canonical order.
fn emit_unsorted(m: &[MatchField], buf: &mut Vec<u8>) {
    if m.len() > INLINE_FIELDS {
        return emit_canonical(&canonical_fields(m), buf);
    }
    let mut tlvs = [(Fid::InPort, 0u128, None::<u128>); INLINE_FIELDS];
    let mut n = 0;
    for f in m {
        let Some(parts) = f.parts() else {
            // A raw field after the out-of-order one: only `canonical` places it.
            return emit_canonical(&canonical_fields(m), buf);
        };
        let Some(t) = normalized_raw(parts) else {
            continue;
        };
        // Insertion keeps equal fields in input order, as the stable sort in `canonical` does.
        let mut i = n;
        while i > 0 && tlvs[i - 1].0 > t.0 {
            tlvs[i] = tlvs[i - 1];
            i -= 1;
        }
        tlvs[i] = t;
        n += 1;
    }
    emit_framed(buf, |buf| {
        for &(fid, v, m) in &tlvs[..n] {
            emit_field(buf, fid, v, m);
        }
    });
}

/// Append a match already in canonical form.
pub(super) fn emit_canonical(m: &[MatchField], buf: &mut Vec<u8>) {
    emit_framed(buf, |buf| {
        for f in m {
            emit_match_field(buf, f);
        }
    });
}

/// [`crate::MatchField::normalized`] on the integer triple: `None` for an all-zero mask, exact for
/// an all-ones mask, value ANDed with the mask otherwise.
pub(crate) fn normalized_raw(
    (fid, v, m): (Fid, u128, Option<u128>),
) -> Option<(Fid, u128, Option<u128>)> {
    match m {
        None => Some((fid, v, None)),
        Some(0) => None,
        Some(m) => {
            let ones = fid.all_ones();
            if m & ones == ones {
                Some((fid, v, None))
            } else {
                Some((fid, v & m, Some(m)))
            }
        }
    }
}

/// Append the `ofp_match` header, the TLVs `tlvs` writes, and the padding.
fn emit_framed(buf: &mut Vec<u8>, tlvs: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[0, 1, 0, 0]);
    tlvs(buf);
    finish_match(buf, start);
}

/// Write the length of the `ofp_match` that starts at `start` and pad it to 8 bytes.
#[inline]
fn finish_match(buf: &mut Vec<u8>, start: usize) {
    let len = buf.len() - start;
    put_len_at(buf, start + 2, len);
    // A fixed-size write and a truncate instead of a variable-length fill.
    buf.extend_from_slice(&[0; 8]);
    buf.truncate(buf.len() - 8 + pad8(len));
}
