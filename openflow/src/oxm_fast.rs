//! Allocation-free plumbing for the OXM codec in [`crate::oxm`]: constant-time field lookup by
//! `(class, field)` and by [`Fid`] (tables derived at compile time from [`FIELDS`], the one
//! protocol table), a TLV counter that sizes the decoded field list exactly, a match emitter
//! that sorts into OVS's canonical order on the stack instead of building a canonical copy, and
//! [`quick`], the decode fast path for the fields policy pipelines match on.
//!
//! Only [`quick`] knows individual fields, and it is an optimisation: adding a row to [`FIELDS`]
//! (or a special case to [`Fid::from_class_field`]) is enough for decode and emit to pick a
//! field up through the general path.

use std::net::Ipv4Addr;

use crate::flow::{Match, MatchField};
use crate::oxm::{
    emit_field, emit_match_field, facts, Fid, FieldInfo, FID_COUNT, FIELDS, OFPXMC_NXM_1,
    OFPXMC_OPENFLOW_BASIC,
};
use crate::wire::{pad8, put_len_at};

/// Marks a `(class, field)` slot that has no row.
const NO_ROW: u8 = u8::MAX;
const _: () = assert!(FIELDS.len() < NO_ROW as usize, "row numbers must fit a u8");

/// Row of [`FIELDS`] for each 7-bit field number of `class` ([`NO_ROW`] where none).
const fn rows_of(class: u16) -> [u8; 128] {
    let mut t = [NO_ROW; 128];
    let mut i = 0;
    while i < FIELDS.len() {
        let info = &FIELDS[i].1;
        if info.class == class {
            t[info.field as usize & 0x7f] = i as u8;
        }
        i += 1;
    }
    t
}

static BASIC_ROWS: [u8; 128] = rows_of(OFPXMC_OPENFLOW_BASIC);
static NX_ROWS: [u8; 128] = rows_of(OFPXMC_NXM_1);

/// The field with this OXM/NXM class and 7-bit field number, with its table row; `None` when
/// unknown. The two classes in the tables answer in constant time; anything else (other
/// classes, parametrised fields like `reg0..15`) goes through [`Fid::from_class_field`].
#[inline]
pub(crate) fn find(class: u16, field: u8) -> Option<(Fid, &'static FieldInfo)> {
    let row = match class {
        OFPXMC_OPENFLOW_BASIC => BASIC_ROWS[field as usize & 0x7f],
        OFPXMC_NXM_1 => NX_ROWS[field as usize & 0x7f],
        _ => NO_ROW,
    };
    match FIELDS.get(row as usize) {
        Some((fid, info)) => Some((*fid, info)),
        None => Fid::from_class_field(class, field).map(|f| (f, f.info())),
    }
}

/// Row of [`FIELDS`] for each [`Fid`] without a payload, indexed by its discriminant
/// ([`NO_ROW`] for `Reg` and `TunMetadata`, which have computed rows).
static FID_ROWS: [u8; FID_COUNT] = {
    let mut t = [NO_ROW; FID_COUNT];
    let mut i = 0;
    while i < FIELDS.len() {
        let d = FIELDS[i].0.discriminant() as usize;
        assert!(t[d] == NO_ROW, "one row per field");
        assert!(
            d != Fid::Reg(0).discriminant() as usize
                && d != Fid::TunMetadata(0, 0).discriminant() as usize,
            "registers and tun_metadata rows are computed"
        );
        t[d] = i as u8;
        i += 1;
    }
    // With the two computed families, every other variant has exactly one row.
    assert!(FIELDS.len() + 2 == FID_COUNT, "every Fid has a row");
    t
};

/// The [`FIELDS`] row of a field without a payload, in constant time.
#[inline]
pub(crate) fn row_of(fid: Fid) -> &'static FieldInfo {
    &FIELDS[FID_ROWS[fid.discriminant() as usize] as usize].1
}

/// One TLV of a common field read by [`quick`]: its identity and [`Fid::rank`], the
/// [`facts`] its prerequisites need, its length on the wire, the raw value and mask as the
/// prerequisite bookkeeping needs them (low 32 bits; mask all ones when exact), and the field
/// as OVS normalises it (`None`: an all-zero mask, dropped).
pub(crate) struct Quick {
    pub(crate) fid: Fid,
    pub(crate) rank: u32,
    pub(crate) needs: u8,
    pub(crate) len: usize,
    pub(crate) value: u32,
    pub(crate) mask: u32,
    pub(crate) field: Option<MatchField>,
}

/// A big-endian word of a fixed-length field.
trait Word: Copy + Eq + std::ops::Not<Output = Self> + std::ops::BitAnd<Output = Self> {
    const N: usize;
    const ZERO: Self;
    const ONES: Self;
    fn read(b: &[u8]) -> Self;
    fn low32(self) -> u32;
}

macro_rules! word {
    ($($t:ty),*) => {$(
        impl Word for $t {
            const N: usize = std::mem::size_of::<$t>();
            const ZERO: Self = 0;
            const ONES: Self = <$t>::MAX;
            #[inline(always)]
            fn read(b: &[u8]) -> Self {
                <$t>::from_be_bytes(b[..Self::N].try_into().expect("N bytes"))
            }
            #[inline(always)]
            fn low32(self) -> u32 {
                self as u32
            }
        }
    )*};
}
word!(u8, u16, u32, u64, u128);

/// The prerequisites of the fields [`quick`] reads, as OVS's `mf_are_prereqs_ok` has them
/// (the general path in [`crate::oxm`] checks the same for every field).
#[inline(always)]
const fn needs(fid: Fid) -> u8 {
    match fid {
        Fid::IpProto => facts::IP,
        Fid::Ipv4Src | Fid::Ipv4Dst => facts::IPV4,
        Fid::TcpSrc | Fid::TcpDst => facts::IP | facts::TCP,
        Fid::UdpSrc | Fid::UdpDst => facts::IP | facts::UDP,
        _ => 0,
    }
}

/// An unmasked TLV of `W`'s width after its 4-byte header.
#[inline(always)]
fn exact<W: Word>(b: &[u8], fid: Fid, make: impl FnOnce(W) -> MatchField) -> Option<Quick> {
    let v = W::read(b.get(4..4 + W::N)?);
    Some(Quick {
        fid,
        rank: fid.rank(),
        needs: needs(fid),
        len: 4 + W::N,
        value: v.low32(),
        mask: u32::MAX,
        field: Some(make(v)),
    })
}

/// A masked TLV; `None` when a value bit lies outside the mask (the general path reports it).
#[inline(always)]
fn masked<W: Word>(
    b: &[u8],
    fid: Fid,
    make: impl FnOnce(W, Option<W>) -> MatchField,
) -> Option<Quick> {
    let vm = b.get(4..4 + 2 * W::N)?;
    let (v, m) = (W::read(vm), W::read(&vm[W::N..]));
    if v & !m != W::ZERO {
        return None;
    }
    let field = if m == W::ZERO {
        None
    } else if m == W::ONES {
        Some(make(v, None))
    } else {
        Some(make(v, Some(m)))
    };
    Some(Quick {
        fid,
        rank: fid.rank(),
        needs: needs(fid),
        len: 4 + 2 * W::N,
        value: v.low32(),
        mask: m.low32(),
        field,
    })
}

/// The decode fast path: the TLV at the start of `b` when it is one of the fixed-length fields
/// policy pipelines match on (in_port, metadata, eth_type, ip_proto, IPv4 and TCP/UDP ports,
/// reg0..15, ct_state, ct_mark, ct_label, conj_id), recognised by its whole 32-bit header and
/// read in place, value within its mask. `None` for anything else, a short TLV or a value bit
/// outside its mask: the general path then reads the TLV (and reports its error). Ordering,
/// duplicates and prerequisites are the caller's.
#[inline(always)]
pub(crate) fn quick(b: &[u8]) -> Option<Quick> {
    use MatchField as M;
    let h = u32::from_be_bytes(*b.first_chunk::<4>()?);
    let ip = Ipv4Addr::from;
    let ipm = |m: Option<u32>| m.map(Ipv4Addr::from);
    if h & 0xffff_e000 == 0x0001_0000 {
        // NXM_NX_REG0..15, 4 bytes, or 8 with a mask.
        let n = (h >> 9) as u8 & 0xf;
        return match h & 0x1ff {
            0x004 => exact(b, Fid::Reg(n), |v| M::Reg(n, v, None)),
            0x108 => masked(b, Fid::Reg(n), |v, m| M::Reg(n, v, m)),
            _ => None,
        };
    }
    match h {
        0x8000_0004 => exact(b, Fid::InPort, M::InPort),
        0x8000_0408 => exact(b, Fid::Metadata, |v| M::Metadata(v, None)),
        0x8000_0510 => masked(b, Fid::Metadata, M::Metadata),
        0x8000_0a02 => exact(b, Fid::EthType, M::EthType),
        0x8000_1401 => exact(b, Fid::IpProto, M::IpProto),
        0x8000_1604 => exact(b, Fid::Ipv4Src, |v| M::Ipv4Src(ip(v), None)),
        0x8000_1708 => masked(b, Fid::Ipv4Src, |v, m| M::Ipv4Src(ip(v), ipm(m))),
        0x8000_1804 => exact(b, Fid::Ipv4Dst, |v| M::Ipv4Dst(ip(v), None)),
        0x8000_1908 => masked(b, Fid::Ipv4Dst, |v, m| M::Ipv4Dst(ip(v), ipm(m))),
        0x8000_1a02 => exact(b, Fid::TcpSrc, |v| M::TcpSrc(v, None)),
        0x8000_1b04 => masked(b, Fid::TcpSrc, M::TcpSrc),
        0x8000_1c02 => exact(b, Fid::TcpDst, |v| M::TcpDst(v, None)),
        0x8000_1d04 => masked(b, Fid::TcpDst, M::TcpDst),
        0x8000_1e02 => exact(b, Fid::UdpSrc, |v| M::UdpSrc(v, None)),
        0x8000_1f04 => masked(b, Fid::UdpSrc, M::UdpSrc),
        0x8000_2002 => exact(b, Fid::UdpDst, |v| M::UdpDst(v, None)),
        0x8000_2104 => masked(b, Fid::UdpDst, M::UdpDst),
        0x0001_4a04 => exact(b, Fid::ConjId, M::ConjId),
        0x0001_d204 => exact(b, Fid::CtState, |v| M::CtState(v, u32::MAX)),
        0x0001_d308 => masked(b, Fid::CtState, |v, m: Option<u32>| {
            M::CtState(v, m.unwrap_or(u32::MAX))
        }),
        0x0001_d604 => exact(b, Fid::CtMark, |v| M::CtMark(v, None)),
        0x0001_d708 => masked(b, Fid::CtMark, M::CtMark),
        0x0001_d810 => exact(b, Fid::CtLabel, |v| M::CtLabel(v, None)),
        0x0001_d920 => masked(b, Fid::CtLabel, M::CtLabel),
        _ => None,
    }
}

/// Number of TLVs in an OXM list, counted by hopping over their headers (an upper bound on the
/// fields a well-formed list decodes to; a malformed tail stops the count, and the decoder
/// reports it).
pub(crate) fn count_tlvs(mut b: &[u8]) -> usize {
    let mut n = 0;
    while let Some(h) = b.first_chunk::<4>() {
        n += 1;
        b = b.get(4 + h[3] as usize..).unwrap_or_default();
    }
    n
}

/// A big-endian unsigned integer of up to 16 bytes.
#[inline]
pub(crate) fn be_value(b: &[u8]) -> u128 {
    // The common widths without a variable-length copy.
    match b.len() {
        1 => return b[0] as u128,
        2 => return u16::from_be_bytes([b[0], b[1]]) as u128,
        4 => return u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u128,
        _ => {}
    }
    let mut w = [0u8; 16];
    let n = b.len().min(16);
    w[16 - n..].copy_from_slice(&b[..n]);
    u128::from_be_bytes(w)
}

/// Matches with at most this many fields are sorted on the stack when emitted.
const INLINE_FIELDS: usize = 32;

/// Append `m` as an `ofp_match` exactly as [`Match::emit`] specifies (canonical order, masks
/// normalised, padding), without allocating for matches of up to [`INLINE_FIELDS`] known
/// fields.
pub(crate) fn emit_match(m: &Match, buf: &mut Vec<u8>) {
    // Optimistically in list order: a match built in canonical order (as the flow text parser
    // and the decoder build them) is written in one pass. Equal fields stay in input order, as
    // the stable sort below keeps them.
    let start = buf.len();
    buf.extend_from_slice(&[0, 1, 0, 0]);
    let mut last = 0;
    for f in &m.0 {
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
            return emit_canonical(&m.canonical(), buf);
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
fn emit_common(f: &MatchField, buf: &mut Vec<u8>, last: &mut u32) -> Option<bool> {
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
fn emit_unsorted(m: &Match, buf: &mut Vec<u8>) {
    if m.0.len() > INLINE_FIELDS {
        return emit_canonical(&m.canonical(), buf);
    }
    let mut tlvs = [(Fid::InPort, 0u128, None::<u128>); INLINE_FIELDS];
    let mut n = 0;
    for f in &m.0 {
        let Some(parts) = f.parts() else {
            // A raw field after the out-of-order one: only `canonical` places it.
            return emit_canonical(&m.canonical(), buf);
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
fn emit_canonical(m: &Match, buf: &mut Vec<u8>) {
    emit_framed(buf, |buf| {
        for f in &m.0 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::MatchField;
    use std::net::Ipv4Addr;

    /// A match with a raw field goes through the general path: an exact ct_state (its value
    /// form keeps an all-ones mask) is still written exact, as OVS writes it.
    #[test]
    fn an_exact_ct_state_beside_a_raw_field_is_written_exact() {
        let raw = MatchField::Raw {
            class: 0x7fff,
            field: 1,
            experimenter: None,
            value: crate::RawBytes::new(&[1, 2]).expect("2 bytes"),
            mask: None,
        };
        let mut buf = Vec::new();
        emit_match(
            &Match(vec![MatchField::CtState(0x22, u32::MAX), raw]),
            &mut buf,
        );
        assert_eq!(
            buf,
            [0, 1, 0, 0x12, 0, 1, 0xd2, 4, 0, 0, 0, 0x22, 0x7f, 0xff, 2, 2, 1, 2]
                .iter()
                .chain(&[0; 6])
                .copied()
                .collect::<Vec<u8>>()
        );
    }

    /// Every field the encode fast path takes, exact and with all-zero, all-ones and partial
    /// masks: written exactly as the general path writes the canonical field.
    #[test]
    fn the_encode_fast_path_writes_what_the_general_path_writes() {
        use MatchField as M;
        let ip = Ipv4Addr::new;
        let m32 = [
            None,
            Some(0),
            Some(u32::MAX),
            Some(0xffff_ff00),
            Some(0x0000_0f0f),
        ];
        let mut fields = vec![
            M::InPort(7),
            M::EthType(0x0800),
            M::IpProto(6),
            M::TcpSrc(1, None),
            M::TcpDst(443, None),
            M::UdpSrc(53, None),
            M::UdpDst(4789, None),
            M::ConjId(1234),
        ];
        for m in m32 {
            fields.push(M::Ipv4Src(ip(10, 1, 2, 3), m.map(Ipv4Addr::from)));
            fields.push(M::Ipv4Dst(ip(192, 168, 9, 255), m.map(Ipv4Addr::from)));
            fields.push(M::Reg(15, 0xdead_beef, m));
            fields.push(M::CtMark(0x1234_5678, m));
            fields.push(M::CtState(0x22, m.unwrap_or(u32::MAX)));
        }
        for m in [None, Some(0), Some(u64::MAX), Some(0xffff_0000_0000_ffff)] {
            fields.push(M::Metadata(0x0123_4567_89ab_cdef, m));
        }
        for f in fields {
            let (mut fast, mut general) = (Vec::new(), Vec::new());
            let mut last = 0;
            assert_eq!(emit_common(&f, &mut fast, &mut last), Some(true), "{f:?}");
            if let Some(n) = f.normalized() {
                crate::oxm::emit_match_field(&mut general, &n);
            }
            assert_eq!(fast, general, "{f:?}");
        }
    }

    #[test]
    fn every_row_is_found_by_its_class_and_field() {
        for (fid, info) in FIELDS {
            let (found, i) = find(info.class, info.field).expect(info.name);
            assert_eq!((found, i.name), (*fid, info.name));
        }
        assert_eq!(find(OFPXMC_NXM_1, 3).map(|f| f.0), Some(Fid::Reg(3)));
        assert!(find(OFPXMC_OPENFLOW_BASIC, 127).is_none());
        assert!(find(0x4242, 1).is_none());
    }

    #[test]
    fn the_tables_answer_as_the_linear_search_does_for_every_class_and_field() {
        for class in [
            OFPXMC_OPENFLOW_BASIC,
            OFPXMC_NXM_1,
            crate::oxm::OFPXMC_NXM_0,
        ] {
            for field in 0..128u8 {
                assert_eq!(
                    find(class, field).map(|f| f.0),
                    Fid::from_class_field(class, field),
                    "class {class:#x} field {field}"
                );
            }
        }
        assert_eq!(
            find(OFPXMC_NXM_1, 41).map(|f| f.0),
            Some(Fid::TunMetadata(1, 0))
        );
    }

    /// The general path's reading of one TLV: bytes used and the normalised field.
    fn general(b: &[u8]) -> Option<(usize, Fid, Option<MatchField>)> {
        let mut r = crate::wire::Reader::new(b, 0);
        let tlv = crate::oxm::parse_tlv(&mut r).ok()?;
        let (fid, info) = crate::oxm::lookup(tlv.header, 0).ok()??;
        let (v, m) = (be_value(tlv.value), tlv.mask.map(be_value));
        if m.is_some_and(|m| !info.maskable || v & !m != 0) {
            return None;
        }
        let field =
            crate::oxm::normalized_mask(fid, info, m).map(|m| MatchField::from_raw(fid, v, m));
        Some((r.offset(), fid, field))
    }

    #[test]
    fn the_fast_path_reads_every_tlv_it_takes_as_the_general_path_does() {
        let mut taken = 0;
        let fids = FIELDS.iter().map(|(f, _)| *f).chain((0..16).map(Fid::Reg));
        for fid in fids {
            let len = fid.len() as usize;
            let exact = fid.header();
            let masked = (exact & !0xff) | 0x100 | (2 * len) as u32;
            let pattern: Vec<u8> = (0..len as u8).map(|i| 0x5a ^ i.wrapping_mul(37)).collect();
            let mut cases: Vec<Vec<u8>> = vec![[&exact.to_be_bytes()[..], &pattern].concat()];
            for mask in [vec![0xff; len], vec![0; len], vec![0xf0; len]] {
                let value: Vec<u8> = pattern.iter().zip(&mask).map(|(v, m)| v & m).collect();
                cases.push([&masked.to_be_bytes()[..], &value, &mask].concat());
                // A value bit outside the mask: the fast path must leave it to the general one.
                let stray: Vec<u8> = value.iter().zip(&mask).map(|(v, m)| v | !m).collect();
                cases.push([&masked.to_be_bytes()[..], &stray, &mask].concat());
            }
            let fast = matches!(
                fid,
                Fid::InPort
                    | Fid::Metadata
                    | Fid::EthType
                    | Fid::IpProto
                    | Fid::Ipv4Src
                    | Fid::Ipv4Dst
                    | Fid::TcpSrc
                    | Fid::TcpDst
                    | Fid::UdpSrc
                    | Fid::UdpDst
                    | Fid::Reg(_)
                    | Fid::ConjId
                    | Fid::CtState
                    | Fid::CtMark
                    | Fid::CtLabel
            );
            for b in cases {
                let Some(q) = quick(&b) else {
                    // Only what the general path refuses, or a field it does not know.
                    assert!(!fast || general(&b).is_none(), "{fid:?} {b:02x?}");
                    continue;
                };
                assert!(fast, "{fid:?}");
                taken += 1;
                assert_eq!(Some((q.len, q.fid, q.field)), general(&b), "{b:02x?}");
                assert_eq!(q.rank, q.fid.rank());
                // Cut short, it is the general path's to report.
                assert!(quick(&b[..b.len() - 1]).is_none(), "{b:02x?}");
            }
        }
        assert!(taken > 100);
    }

    #[test]
    fn ranks_order_fields_as_their_derived_order_does() {
        let fids: Vec<Fid> = FIELDS
            .iter()
            .map(|(f, _)| *f)
            .chain([
                Fid::Reg(0),
                Fid::Reg(15),
                Fid::TunMetadata(1, 4),
                Fid::TunMetadata(2, 1),
            ])
            .collect();
        for a in &fids {
            for b in &fids {
                assert_eq!(a.cmp(b), a.rank().cmp(&b.rank()), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn tlvs_are_counted_by_their_lengths_and_a_short_tail_still_counts() {
        // eth_type, ip_proto, then an ipv4_dst header whose value is cut off.
        let b = [
            0x80, 0, 0x0a, 2, 8, 0, 0x80, 0, 0x14, 1, 6, 0x80, 0, 0x18, 4, 10,
        ];
        assert_eq!(count_tlvs(&b), 3);
        assert_eq!(count_tlvs(&[]), 0);
    }

    #[test]
    fn emit_matches_the_canonical_copy_for_unsorted_masked_fields() {
        let m = Match(vec![
            MatchField::CtState(0x21, 0x21),
            MatchField::Reg(1, 5, Some(u32::MAX)),
            MatchField::CtMark(3, Some(2)),
            MatchField::Reg(2, 7, Some(0)),
            MatchField::Ipv4Dst(
                Ipv4Addr::new(10, 0, 0, 9),
                Some(Ipv4Addr::new(255, 0, 0, 0)),
            ),
            MatchField::EthType(0x0800),
        ]);
        let mut fast = vec![0xa5];
        emit_match(&m, &mut fast);
        let mut slow = vec![0xa5];
        emit_canonical(&m.canonical(), &mut slow);
        assert_eq!(fast, slow);
        assert_eq!(&fast[1..5], &[0, 1, 0, 54]);
    }
}
