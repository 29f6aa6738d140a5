//! `ofp_match` and OXM/NXM TLVs (OF1.3 §7.2.3; OVS `lib/nx-match.c`).
//!
//! Wire shape: `type u16 (OFPMT_OXM = 1) | length u16 | TLVs | pad to 8`, where `length` counts
//! the 4-byte header and the TLVs but not the padding. A TLV is
//! `class u16 | field u7 | hasmask u1 | len u8 | value | mask?`.
//!
//! Emit follows OVS (`nx_put_raw`): canonical field order with prerequisites first, all-ones masks
//! written unmasked, all-zero masks omitted, and the value ANDed with its mask. Decode is as strict
//! as OVS's `oxm_pull_match` for FLOW_MOD: bad prerequisites, duplicates, value bits outside the
//! mask, masks on unmaskable fields and unknown fields are errors carrying the TLV's byte offset.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::flow::{MacAddr, Match, MatchField};
use crate::wire::{pad8, Reader};
use crate::{Error, MatchError};

/// OXM class of the OpenFlow basic fields.
pub const OFPXMC_OPENFLOW_BASIC: u16 = 0x8000;
/// NXM_0 (`NXM_OF_*`) class.
pub const OFPXMC_NXM_0: u16 = 0x0000;
/// NXM_1 (`NXM_NX_*`) class.
pub const OFPXMC_NXM_1: u16 = 0x0001;

/// Declares [`Fid`] and numbers its variants in declaration order, so tables can be indexed by
/// field in constant time.
macro_rules! fid_enum {
    (
        $(#[$meta:meta])*
        pub(crate) enum Fid {
            $($(#[$vmeta:meta])* $v:ident $(($($t:ty),*))?,)*
        }
    ) => {
        $(#[$meta])*
        pub(crate) enum Fid {
            $($(#[$vmeta])* $v $(($($t),*))?,)*
        }

        /// Number of [`Fid`] variants.
        pub(crate) const FID_COUNT: usize = [$(stringify!($v)),*].len();

        impl Fid {
            /// The variant's position in the declaration.
            pub(crate) const fn discriminant(self) -> u8 {
                #[repr(u8)]
                enum Tag {
                    $($v),*
                }
                match self {
                    $(Fid::$v { .. } => Tag::$v as u8),*
                }
            }
        }
    };
}

fid_enum! {
    /// Identifies a match field independently of its value (one row of [`FIELDS`]).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub(crate) enum Fid {
        DpHash,
        RecircId,
        ConjId,
        InPort,
        /// NXM_OF_IN_PORT (16-bit): decoded into [`MatchField::InPort`], never emitted (OVS writes
        /// the OXM form in OF1.3).
        NxmInPort,
        InPhyPort,
        EthSrc,
        EthDst,
        EthType,
        VlanVid,
        VlanPcp,
        MplsTc,
        MplsBos,
        MplsLabel,
        PbbIsid,
        Ipv4Src,
        Ipv4Dst,
        Ipv6Src,
        Ipv6Dst,
        IpFrag,
        IpDscp,
        IpEcn,
        NwTtl,
        Ipv6Flabel,
        Ipv6Exthdr,
        IpProto,
        TcpSrc,
        TcpDst,
        TcpFlags,
        UdpSrc,
        UdpDst,
        SctpSrc,
        SctpDst,
        IcmpType,
        IcmpCode,
        Icmpv6Type,
        Icmpv6Code,
        NdTarget,
        NdSll,
        NdTll,
        ArpOp,
        ArpSpa,
        ArpTpa,
        ArpSha,
        ArpTha,
        TunnelId,
        TunFlags,
        TunSrc,
        TunDst,
        /// `tun_metadata<idx>` with a `len`-byte value (variable length on the wire).
        TunMetadata(u8, u8),
        Reg(u8),
        PktMark,
        CtState,
        CtZone,
        CtMark,
        CtLabel,
        CtNwSrc,
        CtIpv6Src,
        CtNwDst,
        CtIpv6Dst,
        CtNwProto,
        CtTpSrc,
        CtTpDst,
        Metadata,
    }
}

/// One row of the field table.
pub(crate) struct FieldInfo {
    pub(crate) class: u16,
    pub(crate) field: u8,
    /// Value length in bytes.
    pub(crate) len: u8,
    pub(crate) maskable: bool,
    /// ovs-ofctl name (the `Display` name; regs are formatted separately).
    pub(crate) name: &'static str,
}

const fn fi(class: u16, field: u8, len: u8, maskable: bool, name: &'static str) -> FieldInfo {
    FieldInfo {
        class,
        field,
        len,
        maskable,
        name,
    }
}

const B: u16 = OFPXMC_OPENFLOW_BASIC;
const NX: u16 = OFPXMC_NXM_1;

/// The protocol table: every supported match field (OF1.3 §7.2.3.7, `meta-flow.h`).
pub(crate) const FIELDS: &[(Fid, FieldInfo)] = &[
    (Fid::DpHash, fi(NX, 35, 4, true, "dp_hash")),
    (Fid::RecircId, fi(NX, 36, 4, false, "recirc_id")),
    (Fid::ConjId, fi(NX, 37, 4, false, "conj_id")),
    (Fid::InPort, fi(B, 0, 4, false, "in_port")),
    (Fid::EthSrc, fi(B, 4, 6, true, "dl_src")),
    (Fid::EthDst, fi(B, 3, 6, true, "dl_dst")),
    (Fid::EthType, fi(B, 5, 2, false, "dl_type")),
    (Fid::Ipv4Src, fi(B, 11, 4, true, "nw_src")),
    (Fid::Ipv4Dst, fi(B, 12, 4, true, "nw_dst")),
    (Fid::IpProto, fi(B, 10, 1, false, "nw_proto")),
    (Fid::TcpSrc, fi(B, 13, 2, true, "tp_src")),
    (Fid::TcpDst, fi(B, 14, 2, true, "tp_dst")),
    (Fid::UdpSrc, fi(B, 15, 2, true, "tp_src")),
    (Fid::UdpDst, fi(B, 16, 2, true, "tp_dst")),
    (Fid::SctpSrc, fi(B, 17, 2, true, "tp_src")),
    (Fid::SctpDst, fi(B, 18, 2, true, "tp_dst")),
    (Fid::IcmpType, fi(B, 19, 1, false, "icmp_type")),
    (Fid::IcmpCode, fi(B, 20, 1, false, "icmp_code")),
    (Fid::ArpOp, fi(B, 21, 2, false, "arp_op")),
    (Fid::ArpSpa, fi(B, 22, 4, true, "arp_spa")),
    (Fid::ArpTpa, fi(B, 23, 4, true, "arp_tpa")),
    (Fid::ArpSha, fi(B, 24, 6, true, "arp_sha")),
    (Fid::ArpTha, fi(B, 25, 6, true, "arp_tha")),
    (Fid::Metadata, fi(B, 2, 8, true, "metadata")),
    (Fid::VlanVid, fi(B, 6, 2, true, "dl_vlan")),
    (Fid::VlanPcp, fi(B, 7, 1, false, "dl_vlan_pcp")),
    (Fid::IpDscp, fi(B, 8, 1, false, "nw_tos")),
    (Fid::IpEcn, fi(B, 9, 1, false, "nw_ecn")),
    (Fid::NwTtl, fi(NX, 29, 1, false, "nw_ttl")),
    (Fid::Ipv6Src, fi(B, 26, 16, true, "ipv6_src")),
    (Fid::Ipv6Dst, fi(B, 27, 16, true, "ipv6_dst")),
    (Fid::Ipv6Flabel, fi(B, 28, 4, true, "ipv6_label")),
    (Fid::Icmpv6Type, fi(B, 29, 1, false, "icmpv6_type")),
    (Fid::Icmpv6Code, fi(B, 30, 1, false, "icmpv6_code")),
    (Fid::NdTarget, fi(B, 31, 16, true, "nd_target")),
    (Fid::NdSll, fi(B, 32, 6, true, "nd_sll")),
    (Fid::NdTll, fi(B, 33, 6, true, "nd_tll")),
    (Fid::MplsLabel, fi(B, 34, 4, false, "mpls_label")),
    (Fid::MplsTc, fi(B, 35, 1, false, "mpls_tc")),
    (Fid::MplsBos, fi(B, 36, 1, false, "mpls_bos")),
    (Fid::TunnelId, fi(B, 38, 8, true, "tun_id")),
    (Fid::TunSrc, fi(NX, 31, 4, true, "tun_src")),
    (Fid::TunDst, fi(NX, 32, 4, true, "tun_dst")),
    (Fid::PktMark, fi(NX, 33, 4, true, "pkt_mark")),
    (Fid::CtState, fi(NX, 105, 4, true, "ct_state")),
    (Fid::CtZone, fi(NX, 106, 2, false, "ct_zone")),
    (Fid::CtMark, fi(NX, 107, 4, true, "ct_mark")),
    (Fid::CtLabel, fi(NX, 108, 16, true, "ct_label")),
    // OF1.3 basic fields OVS does not implement (OVS 3.1 rejects them as OFPBMC_BAD_FIELD).
    (Fid::InPhyPort, fi(B, 1, 4, false, "in_phy_port")),
    (Fid::PbbIsid, fi(B, 37, 3, true, "pbb_isid")),
    (Fid::Ipv6Exthdr, fi(B, 39, 2, true, "ipv6_exthdr")),
    (Fid::IpFrag, fi(NX, 26, 1, true, "nw_frag")),
    (Fid::NxmInPort, fi(OFPXMC_NXM_0, 0, 2, false, "in_port")),
    // NXM_NX_TCP_FLAGS is the identity; OF1.3 matches carry ONFOXM_ET_TCP_FLAGS (see
    // `ONF_TCP_FLAGS`).
    (Fid::TcpFlags, fi(NX, 34, 2, true, "tcp_flags")),
    (Fid::TunFlags, fi(NX, 104, 2, true, "tun_flags")),
    (Fid::CtNwProto, fi(NX, 119, 1, false, "ct_nw_proto")),
    (Fid::CtNwSrc, fi(NX, 120, 4, true, "ct_nw_src")),
    (Fid::CtNwDst, fi(NX, 121, 4, true, "ct_nw_dst")),
    (Fid::CtIpv6Src, fi(NX, 122, 16, true, "ct_ipv6_src")),
    (Fid::CtIpv6Dst, fi(NX, 123, 16, true, "ct_ipv6_dst")),
    (Fid::CtTpSrc, fi(NX, 124, 2, true, "ct_tp_src")),
    (Fid::CtTpDst, fi(NX, 125, 2, true, "ct_tp_dst")),
];

/// ONF experimenter id (`ONF_VENDOR_ID`) of experimenter OXMs.
const ONF_EXPERIMENTER: u32 = 0x4f4e_4600;
/// ONFOXM_ET_TCP_FLAGS: class 0xffff, field 42, after the experimenter id. OVS writes tcp_flags
/// in OF1.3 matches this way (`meta-flow.h`: "OXM: ONFOXM_ET_TCP_FLAGS(42) since OF1.3").
const ONF_TCP_FLAGS_FIELD: u8 = 42;

const REG_INFO: FieldInfo = fi(NX, 0, 4, true, "reg");
/// NXM_NX_TUN_METADATA0..63 are NXM_1 fields 40..103; the length is the TLV's (see
/// [`Fid::len`]).
const TUN_METADATA_INFO: FieldInfo = fi(NX, 40, 0, true, "tun_metadata");

impl Fid {
    pub(crate) fn info(self) -> &'static FieldInfo {
        match self {
            Fid::Reg(_) => &REG_INFO,
            Fid::TunMetadata(..) => &TUN_METADATA_INFO,
            _ => crate::oxm_fast::row_of(self),
        }
    }

    /// The unmasked 32-bit OXM/NXM header.
    pub(crate) fn header(self) -> u32 {
        let i = self.info();
        let field = match self {
            Fid::Reg(n) => n,
            Fid::TunMetadata(idx, _) => i.field + idx,
            _ => i.field,
        };
        (i.class as u32) << 16 | (field as u32) << 9 | self.len() as u32
    }

    /// Value length in bytes: the table's, or a tun_metadata TLV's own.
    pub(crate) fn len(self) -> u8 {
        self.len_of(self.info())
    }

    /// [`Fid::len`] given the field's row (saves the table lookup).
    pub(crate) fn len_of(self, info: &FieldInfo) -> u8 {
        match self {
            Fid::TunMetadata(_, len) => len,
            _ => info.len,
        }
    }

    /// The field's place in canonical order as one integer: `a < b` exactly when
    /// `a.rank() < b.rank()` (variant, then payload, as the derived `Ord`).
    #[inline(always)]
    pub(crate) const fn rank(self) -> u32 {
        let payload = match self {
            Fid::Reg(n) => (n as u32) << 8,
            Fid::TunMetadata(idx, len) => (idx as u32) << 8 | len as u32,
            _ => 0,
        };
        (self.discriminant() as u32) << 16 | payload
    }

    /// The identity duplicates are checked on (a tun_metadata slot whatever its length).
    pub(crate) fn key(self) -> Fid {
        match self {
            Fid::TunMetadata(idx, _) => Fid::TunMetadata(idx, 0),
            Fid::NxmInPort => Fid::InPort,
            f => f,
        }
    }

    pub(crate) fn from_class_field(class: u16, field: u8) -> Option<Fid> {
        if class == NX && field < 16 {
            return Some(Fid::Reg(field));
        }
        if class == NX && (40..104).contains(&field) {
            return Some(Fid::TunMetadata(field - 40, 0));
        }
        FIELDS
            .iter()
            .find(|(_, i)| i.class == class && i.field == field)
            .map(|(f, _)| *f)
    }

    pub(crate) fn name(self) -> &'static str {
        const REGS: [&str; 16] = [
            "reg0", "reg1", "reg2", "reg3", "reg4", "reg5", "reg6", "reg7", "reg8", "reg9",
            "reg10", "reg11", "reg12", "reg13", "reg14", "reg15",
        ];
        match self {
            Fid::Reg(n) => REGS.get(n as usize).copied().unwrap_or("reg"),
            _ => self.info().name,
        }
    }

    /// The field's all-ones mask: its byte width, except the 13-bit VLAN_VID (present bit +
    /// VID) and the 20-bit IPv6 flow label.
    pub(crate) fn all_ones(self) -> u128 {
        self.all_ones_of(self.info())
    }

    /// [`Fid::all_ones`] given the field's row (saves the table lookup).
    pub(crate) fn all_ones_of(self, info: &FieldInfo) -> u128 {
        match self {
            Fid::VlanVid => 0x1fff,
            Fid::Ipv6Flabel => 0xfffff,
            // `nxm_put_frag`: both frag bits (FLOW_NW_FRAG_MASK) count as an exact match.
            Fid::IpFrag => 0x3,
            Fid::Ipv6Exthdr => 0x1ff,
            _ => ones(self.len_of(info) as u32 * 8),
        }
    }
}

/// A mask of `bits` low 1-bits.
pub(crate) fn ones(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// The Ethernet address in the low 48 bits of `v`.
pub(crate) fn mac(v: u128) -> MacAddr {
    let b = (v as u64).to_be_bytes();
    MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
}

pub(crate) fn mac_bits(m: MacAddr) -> u128 {
    let mut b = [0u8; 8];
    b[2..].copy_from_slice(&m.0);
    u64::from_be_bytes(b) as u128
}

impl MatchField {
    /// The field's identity, value and mask as integers (`None` = exact).
    pub(crate) fn raw(&self) -> (Fid, u128, Option<u128>) {
        use MatchField as M;
        let ip = |a: &Ipv4Addr| u32::from(*a) as u128;
        let ip6 = |a: &Ipv6Addr| u128::from(*a);
        match self {
            M::InPort(p) => (Fid::InPort, *p as u128, None),
            M::EthDst(v, m) => (Fid::EthDst, mac_bits(*v), m.map(mac_bits)),
            M::EthSrc(v, m) => (Fid::EthSrc, mac_bits(*v), m.map(mac_bits)),
            M::EthType(v) => (Fid::EthType, *v as u128, None),
            M::IpProto(v) => (Fid::IpProto, *v as u128, None),
            M::Ipv4Src(v, m) => (Fid::Ipv4Src, ip(v), m.as_ref().map(ip)),
            M::Ipv4Dst(v, m) => (Fid::Ipv4Dst, ip(v), m.as_ref().map(ip)),
            M::TcpSrc(v, m) => (Fid::TcpSrc, *v as u128, m.map(u128::from)),
            M::TcpDst(v, m) => (Fid::TcpDst, *v as u128, m.map(u128::from)),
            M::UdpSrc(v, m) => (Fid::UdpSrc, *v as u128, m.map(u128::from)),
            M::UdpDst(v, m) => (Fid::UdpDst, *v as u128, m.map(u128::from)),
            M::SctpSrc(v, m) => (Fid::SctpSrc, *v as u128, m.map(u128::from)),
            M::SctpDst(v, m) => (Fid::SctpDst, *v as u128, m.map(u128::from)),
            M::IcmpType(v) => (Fid::IcmpType, *v as u128, None),
            M::IcmpCode(v) => (Fid::IcmpCode, *v as u128, None),
            M::ArpOp(v) => (Fid::ArpOp, *v as u128, None),
            M::ArpSpa(v, m) => (Fid::ArpSpa, ip(v), m.as_ref().map(ip)),
            M::ArpTpa(v, m) => (Fid::ArpTpa, ip(v), m.as_ref().map(ip)),
            M::ArpSha(v, m) => (Fid::ArpSha, mac_bits(*v), m.map(mac_bits)),
            M::Reg(n, v, m) => (Fid::Reg(*n), *v as u128, m.map(u128::from)),
            M::CtState(v, m) => (Fid::CtState, *v as u128, Some(*m as u128)),
            M::CtZone(v) => (Fid::CtZone, *v as u128, None),
            M::CtMark(v, m) => (Fid::CtMark, *v as u128, m.map(u128::from)),
            M::CtLabel(v, m) => (Fid::CtLabel, *v, *m),
            M::ConjId(v) => (Fid::ConjId, *v as u128, None),
            M::Metadata(v, m) => (Fid::Metadata, *v as u128, m.map(u128::from)),
            M::VlanVid(v, m) => (Fid::VlanVid, *v as u128, m.map(u128::from)),
            M::VlanPcp(v) => (Fid::VlanPcp, *v as u128, None),
            M::IpDscp(v) => (Fid::IpDscp, *v as u128, None),
            M::IpEcn(v) => (Fid::IpEcn, *v as u128, None),
            M::NwTtl(v) => (Fid::NwTtl, *v as u128, None),
            M::Ipv6Src(v, m) => (Fid::Ipv6Src, ip6(v), m.as_ref().map(ip6)),
            M::Ipv6Dst(v, m) => (Fid::Ipv6Dst, ip6(v), m.as_ref().map(ip6)),
            M::Ipv6Flabel(v, m) => (Fid::Ipv6Flabel, *v as u128, m.map(u128::from)),
            M::Icmpv6Type(v) => (Fid::Icmpv6Type, *v as u128, None),
            M::Icmpv6Code(v) => (Fid::Icmpv6Code, *v as u128, None),
            M::NdTarget(v, m) => (Fid::NdTarget, ip6(v), m.as_ref().map(ip6)),
            M::NdSll(v, m) => (Fid::NdSll, mac_bits(*v), m.map(mac_bits)),
            M::NdTll(v, m) => (Fid::NdTll, mac_bits(*v), m.map(mac_bits)),
            M::ArpTha(v, m) => (Fid::ArpTha, mac_bits(*v), m.map(mac_bits)),
            M::MplsLabel(v) => (Fid::MplsLabel, *v as u128, None),
            M::MplsTc(v) => (Fid::MplsTc, *v as u128, None),
            M::MplsBos(v) => (Fid::MplsBos, *v as u128, None),
            M::TunnelId(v, m) => (Fid::TunnelId, *v as u128, m.map(u128::from)),
            M::TunSrc(v, m) => (Fid::TunSrc, ip(v), m.as_ref().map(ip)),
            M::TunDst(v, m) => (Fid::TunDst, ip(v), m.as_ref().map(ip)),
            M::PktMark(v, m) => (Fid::PktMark, *v as u128, m.map(u128::from)),
            M::DpHash(v, m) => (Fid::DpHash, *v as u128, m.map(u128::from)),
            M::RecircId(v) => (Fid::RecircId, *v as u128, None),
            M::TunMetadata {
                idx,
                len,
                value,
                mask,
            } => (Fid::TunMetadata(*idx, *len), *value, *mask),
            M::InPhyPort(p) => (Fid::InPhyPort, *p as u128, None),
            M::PbbIsid(v, m) => (Fid::PbbIsid, *v as u128, m.map(u128::from)),
            M::Ipv6Exthdr(v, m) => (Fid::Ipv6Exthdr, *v as u128, m.map(u128::from)),
            M::IpFrag(v, m) => (Fid::IpFrag, *v as u128, m.map(u128::from)),
            M::TcpFlags(v, m) => (Fid::TcpFlags, *v as u128, m.map(u128::from)),
            M::TunFlags(v, m) => (Fid::TunFlags, *v as u128, m.map(u128::from)),
            M::CtNwProto(v) => (Fid::CtNwProto, *v as u128, None),
            M::CtNwSrc(v, m) => (Fid::CtNwSrc, ip(v), m.as_ref().map(ip)),
            M::CtNwDst(v, m) => (Fid::CtNwDst, ip(v), m.as_ref().map(ip)),
            M::CtIpv6Src(v, m) => (Fid::CtIpv6Src, ip6(v), m.as_ref().map(ip6)),
            M::CtIpv6Dst(v, m) => (Fid::CtIpv6Dst, ip6(v), m.as_ref().map(ip6)),
            M::CtTpSrc(v, m) => (Fid::CtTpSrc, *v as u128, m.map(u128::from)),
            M::CtTpDst(v, m) => (Fid::CtTpDst, *v as u128, m.map(u128::from)),
        }
    }

    /// Inverse of [`MatchField::raw`]; values are truncated to the field width.
    pub(crate) fn from_raw(fid: Fid, v: u128, m: Option<u128>) -> MatchField {
        use MatchField as M;
        let ip = |x: u128| Ipv4Addr::from(x as u32);
        match fid {
            Fid::InPort => M::InPort(v as u32),
            // OF1.0 16-bit port: reserved ports 0xff00.. map to 0xffffff00.. (`ofp11_port`).
            Fid::NxmInPort if v >= 0xff00 => M::InPort(v as u32 | 0xffff_0000),
            Fid::NxmInPort => M::InPort(v as u32),
            Fid::EthDst => M::EthDst(mac(v), m.map(mac)),
            Fid::EthSrc => M::EthSrc(mac(v), m.map(mac)),
            Fid::EthType => M::EthType(v as u16),
            Fid::IpProto => M::IpProto(v as u8),
            Fid::Ipv4Src => M::Ipv4Src(ip(v), m.map(ip)),
            Fid::Ipv4Dst => M::Ipv4Dst(ip(v), m.map(ip)),
            Fid::TcpSrc => M::TcpSrc(v as u16, m.map(|m| m as u16)),
            Fid::TcpDst => M::TcpDst(v as u16, m.map(|m| m as u16)),
            Fid::UdpSrc => M::UdpSrc(v as u16, m.map(|m| m as u16)),
            Fid::UdpDst => M::UdpDst(v as u16, m.map(|m| m as u16)),
            Fid::SctpSrc => M::SctpSrc(v as u16, m.map(|m| m as u16)),
            Fid::SctpDst => M::SctpDst(v as u16, m.map(|m| m as u16)),
            Fid::IcmpType => M::IcmpType(v as u8),
            Fid::IcmpCode => M::IcmpCode(v as u8),
            Fid::ArpOp => M::ArpOp(v as u16),
            Fid::ArpSpa => M::ArpSpa(ip(v), m.map(ip)),
            Fid::ArpTpa => M::ArpTpa(ip(v), m.map(ip)),
            Fid::ArpSha => M::ArpSha(mac(v), m.map(mac)),
            Fid::Reg(n) => M::Reg(n, v as u32, m.map(|m| m as u32)),
            Fid::CtState => M::CtState(v as u32, m.map_or(u32::MAX, |m| m as u32)),
            Fid::CtZone => M::CtZone(v as u16),
            Fid::CtMark => M::CtMark(v as u32, m.map(|m| m as u32)),
            Fid::CtLabel => M::CtLabel(v, m),
            Fid::ConjId => M::ConjId(v as u32),
            Fid::Metadata => M::Metadata(v as u64, m.map(|m| m as u64)),
            Fid::VlanVid => M::VlanVid(v as u16, m.map(|m| m as u16)),
            Fid::VlanPcp => M::VlanPcp(v as u8),
            Fid::IpDscp => M::IpDscp(v as u8),
            Fid::IpEcn => M::IpEcn(v as u8),
            Fid::NwTtl => M::NwTtl(v as u8),
            Fid::Ipv6Src => M::Ipv6Src(Ipv6Addr::from(v), m.map(Ipv6Addr::from)),
            Fid::Ipv6Dst => M::Ipv6Dst(Ipv6Addr::from(v), m.map(Ipv6Addr::from)),
            Fid::Ipv6Flabel => M::Ipv6Flabel(v as u32, m.map(|m| m as u32)),
            Fid::Icmpv6Type => M::Icmpv6Type(v as u8),
            Fid::Icmpv6Code => M::Icmpv6Code(v as u8),
            Fid::NdTarget => M::NdTarget(Ipv6Addr::from(v), m.map(Ipv6Addr::from)),
            Fid::NdSll => M::NdSll(mac(v), m.map(mac)),
            Fid::NdTll => M::NdTll(mac(v), m.map(mac)),
            Fid::ArpTha => M::ArpTha(mac(v), m.map(mac)),
            Fid::MplsLabel => M::MplsLabel(v as u32),
            Fid::MplsTc => M::MplsTc(v as u8),
            Fid::MplsBos => M::MplsBos(v as u8),
            Fid::TunnelId => M::TunnelId(v as u64, m.map(|m| m as u64)),
            Fid::TunSrc => M::TunSrc(ip(v), m.map(ip)),
            Fid::TunDst => M::TunDst(ip(v), m.map(ip)),
            Fid::PktMark => M::PktMark(v as u32, m.map(|m| m as u32)),
            Fid::DpHash => M::DpHash(v as u32, m.map(|m| m as u32)),
            Fid::RecircId => M::RecircId(v as u32),
            Fid::TunMetadata(idx, len) => M::TunMetadata {
                idx,
                len,
                value: v,
                mask: m,
            },
            Fid::InPhyPort => M::InPhyPort(v as u32),
            Fid::PbbIsid => M::PbbIsid(v as u32, m.map(|m| m as u32)),
            Fid::Ipv6Exthdr => M::Ipv6Exthdr(v as u16, m.map(|m| m as u16)),
            Fid::IpFrag => M::IpFrag(v as u8, m.map(|m| m as u8)),
            Fid::TcpFlags => M::TcpFlags(v as u16, m.map(|m| m as u16)),
            Fid::TunFlags => M::TunFlags(v as u16, m.map(|m| m as u16)),
            Fid::CtNwProto => M::CtNwProto(v as u8),
            Fid::CtNwSrc => M::CtNwSrc(ip(v), m.map(ip)),
            Fid::CtNwDst => M::CtNwDst(ip(v), m.map(ip)),
            Fid::CtIpv6Src => M::CtIpv6Src(Ipv6Addr::from(v), m.map(Ipv6Addr::from)),
            Fid::CtIpv6Dst => M::CtIpv6Dst(Ipv6Addr::from(v), m.map(Ipv6Addr::from)),
            Fid::CtTpSrc => M::CtTpSrc(v as u16, m.map(|m| m as u16)),
            Fid::CtTpDst => M::CtTpDst(v as u16, m.map(|m| m as u16)),
        }
    }

    /// The field as OVS normalises it: `None` when its mask is all-zero (the field matches
    /// anything); otherwise value ANDed with the mask, and an all-ones mask made exact.
    pub fn normalized(&self) -> Option<MatchField> {
        let (fid, v, m) = self.raw();
        match m {
            Some(0) => None,
            Some(m) if m & fid.all_ones() == fid.all_ones() => {
                Some(MatchField::from_raw(fid, v, None))
            }
            Some(m) => Some(MatchField::from_raw(fid, v & m, Some(m))),
            None => Some(self.clone()),
        }
    }
}

impl Match {
    /// An empty match (matches every packet).
    pub fn new() -> Self {
        Match(Vec::new())
    }

    /// Builder-style: add a field.
    pub fn with(mut self, f: MatchField) -> Self {
        self.0.push(f);
        self
    }

    /// The match as OVS normalises it: fields in OVS's canonical (wire) order, masks normalised
    /// as in [`MatchField::normalized`]. Two matches are equivalent iff their canonical forms are
    /// equal (duplicates are kept; they are invalid anyway).
    pub fn canonical(&self) -> Match {
        let mut v: Vec<MatchField> = self.0.iter().filter_map(MatchField::normalized).collect();
        v.sort_by_key(|f| f.raw().0);
        Match(v)
    }

    /// Length of the `ofp_match` on the wire, including padding (a multiple of 8).
    pub fn buffer_len(&self) -> usize {
        let n = self.unpadded_len();
        n + pad8(n)
    }

    fn unpadded_len(&self) -> usize {
        4 + self
            .canonical()
            .0
            .iter()
            .map(|f| {
                let (fid, _, m) = f.raw();
                let experimenter = if fid == Fid::TcpFlags { 4 } else { 0 };
                experimenter + 4 + fid.len() as usize * if m.is_some() { 2 } else { 1 }
            })
            .sum::<usize>()
    }

    /// Append the `ofp_match` (header, TLVs in canonical order, padding) to `buf`.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        crate::oxm_fast::emit_match(self, buf);
    }

    /// Parse an `ofp_match` (including its padding) at the reader's position.
    ///
    /// Errors: [`Error::Truncated`], [`Error::BadMatch`] with the TLV offset.
    pub(crate) fn parse(r: &mut Reader) -> Result<Match, Error> {
        parse_oxms(&mut match_tlvs(r)?)
    }
}

/// Read an `ofp_match` header and padding at the reader's position; the TLVs, unchecked.
///
/// Errors: [`Error::Truncated`], [`Error::BadMatch`] for a type other than OXM,
/// [`Error::BadLength`] for a length below 4.
#[inline]
pub(crate) fn match_tlvs<'a>(r: &mut Reader<'a>) -> Result<Reader<'a>, Error> {
    let start = r.offset();
    // The common case in one bounds check: an OXM match whose TLVs and padding are all there.
    let rest = r.peek_rest();
    if let Some(h) = rest.first_chunk::<4>() {
        let len = u16::from_be_bytes([h[2], h[3]]) as usize;
        if h[..2] == [0, 1] && len >= 4 && len + pad8(len) <= rest.len() {
            let body = Reader::new(&rest[4..len], start + 4);
            r.advance(len + pad8(len));
            return Ok(body);
        }
    }
    let kind = r.u16("ofp_match")?;
    let len = r.u16("ofp_match")? as usize;
    if kind != 1 {
        return Err(Error::BadMatch {
            offset: start,
            kind: MatchError::BadType(kind),
        });
    }
    if len < 4 {
        return Err(Error::BadLength {
            what: "ofp_match",
            offset: start,
            length: len,
        });
    }
    let body = r.sub("ofp_match", len - 4)?;
    r.skip("ofp_match padding", pad8(len))?;
    Ok(body)
}

/// Append one TLV: header (with hasmask and doubled length when masked), value, mask.
pub(crate) fn emit_tlv(buf: &mut Vec<u8>, header: u32, v: u128, m: Option<u128>) {
    let len = (header & 0xff) as usize;
    let header = match m {
        Some(_) => (header & !0xff) | 0x100 | (2 * len) as u32,
        None => header,
    };
    buf.extend_from_slice(&header.to_be_bytes());
    emit_tlv_body(buf, len, v, m);
}

/// Append one match field as OVS writes it in an OF1.3 match: tcp_flags as the ONF experimenter
/// OXM, every other field as its OXM/NXM TLV.
pub(crate) fn emit_field(buf: &mut Vec<u8>, fid: Fid, v: u128, m: Option<u128>) {
    if fid == Fid::TcpFlags {
        emit_onf_tlv(buf, ONF_TCP_FLAGS_FIELD, fid.info().len, v, m);
    } else {
        emit_tlv(buf, fid.header(), v, m);
    }
}

/// Append an ONF experimenter OXM: `0xffff | field | hasmask | len (counting the experimenter
/// id) | experimenter | value | mask?` (OF1.3 §7.2.3.2).
fn emit_onf_tlv(buf: &mut Vec<u8>, field: u8, len: u8, v: u128, m: Option<u128>) {
    let body = len as u32 * if m.is_some() { 2 } else { 1 };
    let header = 0xffff_0000 | (field as u32) << 9 | (m.is_some() as u32) << 8 | (4 + body);
    buf.extend_from_slice(&header.to_be_bytes());
    buf.extend_from_slice(&ONF_EXPERIMENTER.to_be_bytes());
    emit_tlv_body(buf, len as usize, v, m);
}

fn emit_tlv_body(buf: &mut Vec<u8>, len: usize, v: u128, m: Option<u128>) {
    buf.extend_from_slice(&v.to_be_bytes()[16 - len..]);
    if let Some(m) = m {
        buf.extend_from_slice(&m.to_be_bytes()[16 - len..]);
    }
}

/// A TLV as read: unmasked header, value bytes, mask bytes (borrowed from the message).
pub(crate) type RawTlv<'a> = (u32, &'a [u8], Option<&'a [u8]>);

/// Read one TLV header and its value (+mask) without interpreting the field.
/// Returns (header with hasmask cleared and unmasked length, value, mask).
#[inline]
pub(crate) fn parse_tlv<'a>(r: &mut Reader<'a>) -> Result<RawTlv<'a>, Error> {
    let off = r.offset();
    let mut header = r.u32("OXM header")?;
    let class = (header >> 16) as u16;
    let hasmask = header & 0x100 != 0;
    let mut len = (header & 0xff) as usize;
    if class == 0xffff {
        // Experimenter OXM: the length counts the 4-byte experimenter id. The one OVS writes in
        // OF1.3 is ONFOXM_ET_TCP_FLAGS; it reads as its Nicira twin NXM_NX_TCP_FLAGS.
        let field = ((header >> 9) & 0x7f) as u8;
        if field != ONF_TCP_FLAGS_FIELD || len < 4 || r.u32("OXM experimenter")? != ONF_EXPERIMENTER
        {
            return Err(Error::BadMatch {
                offset: off,
                kind: MatchError::BadField(header),
            });
        }
        len -= 4;
        header = (Fid::TcpFlags.header() & !0xff) | (header & 0x100) | len as u32;
    }
    if hasmask {
        if !len.is_multiple_of(2) || len == 0 {
            return Err(Error::BadMatch {
                offset: off,
                kind: MatchError::BadLen(header),
            });
        }
        len /= 2;
    }
    if len > 16 {
        return Err(Error::BadMatch {
            offset: off,
            kind: MatchError::BadLen(header),
        });
    }
    let value = r.take("OXM value", len)?;
    let mask = if hasmask {
        Some(r.take("OXM mask", len)?)
    } else {
        None
    };
    Ok(((header & !0x1ff) | len as u32, value, mask))
}

/// Resolve an unmasked header into a known field (and its row) with the right length.
#[inline]
pub(crate) fn lookup(header: u32, offset: usize) -> Result<(Fid, &'static FieldInfo), Error> {
    let Some((fid, info)) =
        crate::oxm_fast::find((header >> 16) as u16, ((header >> 9) & 0x7f) as u8)
    else {
        return Err(Error::BadMatch {
            offset,
            kind: MatchError::BadField(header),
        });
    };
    let fid = match fid {
        Fid::TunMetadata(idx, _) => Fid::TunMetadata(idx, (header & 0xff) as u8),
        f => f,
    };
    if fid.len_of(info) as u32 != header & 0xff {
        return Err(Error::BadMatch {
            offset,
            kind: MatchError::BadLen(header),
        });
    }
    Ok((fid, info))
}

/// Decode the OXM list into a field list allocated once at its exact size. OVS writes fields in
/// canonical order, so the list is only sorted when a field arrives out of order.
fn parse_oxms(r: &mut Reader) -> Result<Match, Error> {
    let mut fields: Vec<MatchField> =
        Vec::with_capacity(crate::oxm_fast::count_tlvs(r.peek_rest()));
    let ascending = walk_oxms(r, |f| fields.push(f))?;
    if !ascending {
        fields.sort_by_key(|f| f.raw().0);
    }
    Ok(Match(fields))
}

/// Facts about the packet a match has established, as [`Walk::have`] bits: what the
/// prerequisites of the fields [`crate::oxm_fast::quick`] reads need.
pub(crate) mod facts {
    /// eth_type is IPv4 or IPv6.
    pub(crate) const IP: u8 = 1;
    /// eth_type is IPv4.
    pub(crate) const IPV4: u8 = 2;
    /// ip_proto is TCP.
    pub(crate) const TCP: u8 = 4;
    /// ip_proto is UDP.
    pub(crate) const UDP: u8 = 8;
}

/// What [`walk_oxms`] remembers of the TLVs already read: their order, and the values later
/// fields' prerequisites depend on.
#[derive(Default)]
struct Walk {
    /// Some TLV broke canonical (strictly ascending) order.
    descending: bool,
    /// The smallest [`Fid::rank`] the next TLV may have to keep the order ascending
    /// (`u32::MAX` once it is broken, so the fast path steps aside).
    next_rank: u32,
    /// [`facts`] established so far.
    have: u8,
    in_port: bool,
    eth_type: Option<u16>,
    ip_proto: Option<u8>,
    icmpv6_type: Option<u8>,
    vlan_present: bool,
    /// (value, mask) of ct_state.
    ct_state: Option<(u32, u32)>,
}

/// Check an OXM list (the TLVs of an `ofp_match`, to the end of `r`) as strictly as OVS's
/// `oxm_pull_match` does for FLOW_MOD, handing `sink` each field as OVS normalises it (an
/// all-ones mask made exact, an all-zero masked field dropped) in wire order. Returns whether
/// the wire order was canonical (strictly ascending), i.e. whether the fields need no sort.
///
/// Each TLV is first offered to [`crate::oxm_fast::quick`]; whatever it does not take, or
/// that fails an order or prerequisite check here, is read again by the general path, which
/// reports the error. So the fast path changes no outcome, only its cost.
///
/// Nothing is allocated: a duplicate can only follow a field that broke the ascending order,
/// and only then are the TLVs already read searched for it.
#[inline]
pub(crate) fn walk_oxms(r: &mut Reader, mut sink: impl FnMut(MatchField)) -> Result<bool, Error> {
    let list = r.peek_rest();
    let base = r.offset();
    let mut w = Walk::default();
    while !r.is_empty() {
        if let Some(q) = crate::oxm_fast::quick(r.peek_rest()) {
            if q.rank >= w.next_rank && q.needs & !w.have == 0 {
                w.note(q.fid, q.rank, q.value, q.mask);
                r.advance(q.len);
                if let Some(f) = q.field {
                    sink(f);
                }
                continue;
            }
        }
        if let Some(f) = w.general(r, list, base)? {
            sink(f);
        }
    }
    Ok(!w.descending)
}

impl Walk {
    /// Remember a field that passed: its order, and the values prerequisites depend on.
    #[inline(always)]
    fn note(&mut self, fid: Fid, rank: u32, v: u32, m: u32) {
        self.next_rank = if self.descending { u32::MAX } else { rank + 1 };
        match fid {
            Fid::InPort | Fid::NxmInPort => self.in_port = true,
            Fid::EthType => {
                self.eth_type = Some(v as u16);
                self.have |= match v {
                    0x0800 => facts::IP | facts::IPV4,
                    0x86dd => facts::IP,
                    _ => 0,
                };
            }
            Fid::IpProto => {
                self.ip_proto = Some(v as u8);
                self.have |= match v {
                    6 => facts::TCP,
                    17 => facts::UDP,
                    _ => 0,
                };
            }
            Fid::Icmpv6Type => self.icmpv6_type = Some(v as u8),
            Fid::VlanVid => self.vlan_present = v & 0x1000 != 0,
            Fid::CtState => self.ct_state = Some((v, m)),
            _ => {}
        }
    }

    /// Read and check one TLV of any kind: the field as OVS normalises it, `None` when an
    /// all-zero mask drops it. `list` is the whole OXM list, `base` its absolute offset.
    #[inline(never)]
    fn general(
        &mut self,
        r: &mut Reader,
        list: &[u8],
        base: usize,
    ) -> Result<Option<MatchField>, Error> {
        let off = r.offset();
        let (header, value, mask) = parse_tlv(r)?;
        let (fid, info) = lookup(header, off)?;
        let bad = |kind| Error::BadMatch { offset: off, kind };
        let rank = fid.key().rank();
        if rank < self.next_rank {
            self.descending = true;
        }
        if self.descending && read_before(&list[..off - base], base, fid.key()) {
            return Err(bad(MatchError::DupField(fid.name())));
        }
        let v = crate::oxm_fast::be_value(value);
        let m = mask.map(crate::oxm_fast::be_value);
        if let Some(m) = m {
            if !info.maskable {
                return Err(bad(MatchError::BadMask(fid.name())));
            }
            if v & !m != 0 {
                return Err(bad(MatchError::BadWildcards(fid.name())));
            }
        }
        let eth_type = self.eth_type;
        let ip_proto = self.ip_proto;
        let icmpv6_type = self.icmpv6_type;
        let is_ip = matches!(eth_type, Some(0x0800) | Some(0x86dd));
        let prereq_ok = match fid {
            Fid::IpProto => is_ip,
            Fid::Ipv4Src | Fid::Ipv4Dst => eth_type == Some(0x0800),
            Fid::TcpSrc | Fid::TcpDst => is_ip && ip_proto == Some(6),
            Fid::UdpSrc | Fid::UdpDst => is_ip && ip_proto == Some(17),
            Fid::SctpSrc | Fid::SctpDst => is_ip && ip_proto == Some(132),
            Fid::IcmpType | Fid::IcmpCode => eth_type == Some(0x0800) && ip_proto == Some(1),
            Fid::ArpOp | Fid::ArpSpa | Fid::ArpTpa | Fid::ArpSha | Fid::ArpTha => {
                matches!(eth_type, Some(0x0806) | Some(0x8035))
            }
            Fid::IpDscp | Fid::IpEcn | Fid::NwTtl => is_ip,
            Fid::Ipv6Src | Fid::Ipv6Dst | Fid::Ipv6Flabel => eth_type == Some(0x86dd),
            Fid::Icmpv6Type | Fid::Icmpv6Code => eth_type == Some(0x86dd) && ip_proto == Some(58),
            Fid::NdTarget => {
                eth_type == Some(0x86dd) && matches!(icmpv6_type, Some(135) | Some(136))
            }
            Fid::NdSll => eth_type == Some(0x86dd) && icmpv6_type == Some(135),
            Fid::NdTll => eth_type == Some(0x86dd) && icmpv6_type == Some(136),
            Fid::MplsLabel | Fid::MplsTc | Fid::MplsBos => {
                matches!(eth_type, Some(0x8847) | Some(0x8848))
            }
            Fid::VlanPcp => self.vlan_present,
            Fid::InPhyPort => self.in_port,
            Fid::PbbIsid => eth_type == Some(0x88e7),
            Fid::Ipv6Exthdr => eth_type == Some(0x86dd),
            Fid::IpFrag => is_ip,
            Fid::TcpFlags => is_ip && ip_proto == Some(6),
            Fid::CtNwProto
            | Fid::CtNwSrc
            | Fid::CtNwDst
            | Fid::CtIpv6Src
            | Fid::CtIpv6Dst
            | Fid::CtTpSrc
            | Fid::CtTpDst => self.ct_state.is_some_and(|(v, m)| ct_valid(v, m)),
            _ => true,
        };
        if !prereq_ok {
            return Err(bad(MatchError::BadPrereq(fid.name())));
        }
        self.note(fid, rank, v as u32, m.map_or(u32::MAX, |m| m as u32));
        Ok(normalized_mask(fid, info, m).map(|m| MatchField::from_raw(fid, v, m)))
    }
}

/// The mask as OVS normalises it: `None` (drop the field) for an all-zero mask, `Some(None)`
/// (exact) for none or an all-ones mask, else the mask. Values were checked to lie within
/// their mask, so they need no ANDing.
pub(crate) fn normalized_mask(fid: Fid, info: &FieldInfo, m: Option<u128>) -> Option<Option<u128>> {
    match m {
        None => Some(None),
        Some(0) => None,
        Some(m) if m & fid.all_ones_of(info) == fid.all_ones_of(info) => Some(None),
        m => Some(m),
    }
}

/// Whether a TLV in `tlvs` (already checked; `base` is its absolute offset) has this
/// duplicate-check key.
fn read_before(tlvs: &[u8], base: usize, key: Fid) -> bool {
    let mut r = Reader::new(tlvs, base);
    while let Ok((header, ..)) = parse_tlv(&mut r) {
        if lookup(header, 0).is_ok_and(|(fid, _)| fid.key() == key) {
            return true;
        }
    }
    false
}

/// OVS `is_ct_valid` for a match: the ct_* tuple fields need a ct_state that implies a valid
/// conntrack entry (new, est, rel, rpl, snat or dnat set, or +trk with an explicit -inv).
fn ct_valid(v: u32, m: u32) -> bool {
    use crate::flow::ct_state::{EST, INV, NEW, REL, RPL, TRK};
    const SNAT: u32 = 0x40;
    const DNAT: u32 = 0x80;
    v & (NEW | EST | REL | RPL | SNAT | DNAT) != 0 || (v & TRK != 0 && m & INV != 0 && v & INV == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ip,nw_src=10.10.0.2` from `ovs-ofctl -mmmmm -O OpenFlow13 parse-flow`.
    const IP_SRC: [u8; 24] = [
        0x00, 0x01, 0x00, 0x12, 0x80, 0x00, 0x0a, 0x02, 0x08, 0x00, 0x80, 0x00, 0x16, 0x04, 0x0a,
        0x0a, 0x00, 0x02, 0, 0, 0, 0, 0, 0,
    ];

    fn ip_src() -> Match {
        Match(vec![
            MatchField::Ipv4Src(Ipv4Addr::new(10, 10, 0, 2), None),
            MatchField::EthType(0x0800),
        ])
    }

    #[test]
    fn construct_puts_prerequisites_first_and_pads() {
        let mut buf = vec![0xa5; 3];
        ip_src().emit(&mut buf);
        assert_eq!(&buf[..3], &[0xa5; 3]);
        assert_eq!(&buf[3..], &IP_SRC[..]);
        assert_eq!(ip_src().buffer_len(), 24);
    }

    #[test]
    fn parse_gives_canonical_fields() {
        let m = Match::parse(&mut Reader::new(&IP_SRC, 0)).unwrap();
        assert_eq!(m, ip_src().canonical());
    }

    #[test]
    fn all_ones_mask_is_exact_and_zero_mask_is_omitted() {
        let m = Match(vec![
            MatchField::Reg(1, 3, Some(u32::MAX)),
            MatchField::Reg(2, 3, Some(0)),
        ]);
        assert_eq!(m.canonical(), Match(vec![MatchField::Reg(1, 3, None)]));
    }

    #[test]
    fn prerequisite_after_dependent_is_rejected() {
        // IPV4_SRC before ETH_TYPE.
        let b = [
            0x00, 0x01, 0x00, 0x12, 0x80, 0x00, 0x16, 0x04, 10, 10, 0, 2, 0x80, 0x00, 0x0a, 0x02,
            8, 0, 0, 0, 0, 0, 0, 0,
        ];
        let e = Match::parse(&mut Reader::new(&b, 48)).unwrap_err();
        assert!(
            matches!(
                e,
                Error::BadMatch {
                    offset: 52,
                    kind: MatchError::BadPrereq("nw_src")
                }
            ),
            "{e}"
        );
    }

    fn dup_of(tlvs: &[u8]) -> Error {
        let len = 4 + tlvs.len();
        let mut b = vec![0, 1, 0, len as u8];
        b.extend_from_slice(tlvs);
        b.resize(len + pad8(len), 0);
        Match::parse(&mut Reader::new(&b, 0)).unwrap_err()
    }

    #[test]
    fn nxm_in_port_after_the_oxm_in_port_is_a_duplicate_although_it_sorts_later() {
        let e = dup_of(&[0x80, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 2, 0, 5]);
        assert!(
            matches!(
                e,
                Error::BadMatch {
                    offset: 12,
                    kind: MatchError::DupField("in_port")
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn one_tun_metadata_slot_at_two_lengths_is_a_duplicate() {
        // tun_metadata0 as 1 byte, then as 2 bytes: ascending Fids, one slot.
        let e = dup_of(&[0, 1, 0x50, 1, 7, 0, 1, 0x50, 2, 0, 7]);
        assert!(
            matches!(
                e,
                Error::BadMatch {
                    offset: 9,
                    kind: MatchError::DupField("tun_metadata")
                }
            ),
            "{e}"
        );
    }
}
