//! The decode fast path ([`quick`]): the common OXM TLVs read with the nom parsers of
//! [`crate::grammar`].

use std::net::Ipv4Addr;

use nom::Parser;

use crate::flow::MatchField;
use crate::grammar::{int_at, oxm_header, BeInt};
use crate::oxm::{facts, Fid};

/// One TLV of a common field read by [`quick`]: its identity and [`Fid::rank`], the
/// [`facts`] its prerequisites need, its length on the wire, the raw value and mask as the
/// prerequisite bookkeeping needs them (low 32 bits; mask all ones when exact), and the field
/// (masks all zeros or all ones are left to the general path, which normalises them).
pub(crate) struct Quick {
    pub(crate) fid: Fid,
    pub(crate) rank: u32,
    pub(crate) needs: u8,
    pub(crate) len: usize,
    pub(crate) value: u32,
    pub(crate) mask: u32,
    pub(crate) field: MatchField,
}

/// A big-endian word of a fixed-length field.
trait Word: BeInt + Copy + Eq + std::ops::Not<Output = Self> + std::ops::BitAnd<Output = Self> {
    const N: usize;
    const ZERO: Self;
    const ONES: Self;
    fn low32(self) -> u32;
}

macro_rules! word {
    ($($t:ty),*) => {$(
        impl Word for $t {
            const N: usize = std::mem::size_of::<$t>();
            const ZERO: Self = 0;
            const ONES: Self = <$t>::MAX;
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
    let v = int_at::<W>(b, 4)?;
    Some(Quick {
        fid,
        rank: fid.rank(),
        needs: needs(fid),
        len: 4 + W::N,
        value: v.low32(),
        mask: u32::MAX,
        field: make(v),
    })
}

/// A masked TLV; `None` when a value bit lies outside the mask (the general path reports it)
/// or the mask is all zeros or all ones (the general path normalises it).
#[inline(always)]
fn masked<W: Word>(
    b: &[u8],
    fid: Fid,
    make: impl FnOnce(W, Option<W>) -> MatchField,
) -> Option<Quick> {
    // The value and mask as one block, so the two reads need one bounds check.
    let (_, (v, m)) = (W::be, W::be).parse(b.get(4..4 + 2 * W::N)?).ok()?;
    if v & !m != W::ZERO {
        return None;
    }
    // An all-zero or all-ones mask is left to the general path, which normalises it: what
    // this path takes is then written as [`crate::Match`] keeps it.
    if m == W::ZERO || m == W::ONES {
        return None;
    }
    let field = make(v, Some(m));
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
/// read in place, value within its mask. `None` for anything else, a short TLV, a value bit
/// outside its mask, or a mask to normalise: the general path then reads the TLV (and reports
/// its error). What it takes is in the form [`crate::Match`] keeps. Ordering, duplicates and
/// prerequisites are the caller's.
#[inline(always)]
pub(crate) fn quick(b: &[u8]) -> Option<Quick> {
    use MatchField as M;
    let (_, h) = oxm_header(b).ok()?;
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

/// The field of a checked TLV at the start of `b` when it is one of [`quick`]'s, read for a
/// caller that only wants the field (an iterator over a checked match): its length on the wire
/// and the field, built in place with no bookkeeping. `None` for anything else, a short TLV, a
/// value bit outside its mask, or a mask to normalise (all zeros or all ones): the general
/// path then reads it.
#[inline(always)]
pub(crate) fn field(b: &[u8]) -> Option<(usize, MatchField)> {
    use MatchField as M;
    let h = int_at::<u32>(b, 0)?;
    // An exact value of `W`'s width, or a masked one kept as it is.
    fn exact<W: Word>(b: &[u8]) -> Option<W> {
        int_at::<W>(b, 4)
    }
    fn masked<W: Word>(b: &[u8]) -> Option<(W, W)> {
        let (_, (v, m)) = (W::be, W::be).parse(b.get(4..4 + 2 * W::N)?).ok()?;
        (v & !m == W::ZERO && m != W::ZERO && m != W::ONES).then_some((v, m))
    }
    let ip = Ipv4Addr::from;
    if h & 0xffff_e000 == 0x0001_0000 {
        let n = (h >> 9) as u8 & 0xf;
        return match h & 0x1ff {
            0x004 => Some((8, M::Reg(n, exact(b)?, None))),
            0x108 => masked(b).map(|(v, m)| (12, M::Reg(n, v, Some(m)))),
            _ => None,
        };
    }
    Some(match h {
        0x8000_0004 => (8, M::InPort(exact(b)?)),
        0x8000_0408 => (12, M::Metadata(exact(b)?, None)),
        0x8000_0510 => masked(b).map(|(v, m)| (20, M::Metadata(v, Some(m))))?,
        0x8000_0a02 => (6, M::EthType(exact(b)?)),
        0x8000_1401 => (5, M::IpProto(exact(b)?)),
        0x8000_1604 => (8, M::Ipv4Src(ip(exact::<u32>(b)?), None)),
        0x8000_1708 => masked::<u32>(b).map(|(v, m)| (12, M::Ipv4Src(ip(v), Some(ip(m)))))?,
        0x8000_1804 => (8, M::Ipv4Dst(ip(exact::<u32>(b)?), None)),
        0x8000_1908 => masked::<u32>(b).map(|(v, m)| (12, M::Ipv4Dst(ip(v), Some(ip(m)))))?,
        0x8000_1a02 => (6, M::TcpSrc(exact(b)?, None)),
        0x8000_1c02 => (6, M::TcpDst(exact(b)?, None)),
        0x8000_1e02 => (6, M::UdpSrc(exact(b)?, None)),
        0x8000_2002 => (6, M::UdpDst(exact(b)?, None)),
        0x0001_4a04 => (8, M::ConjId(exact(b)?)),
        0x0001_d204 => (8, M::CtState(exact(b)?, u32::MAX)),
        0x0001_d308 => masked(b).map(|(v, m)| (12, M::CtState(v, m)))?,
        0x0001_d604 => (8, M::CtMark(exact(b)?, None)),
        0x0001_d708 => masked(b).map(|(v, m)| (12, M::CtMark(v, Some(m))))?,
        _ => return None,
    })
}
