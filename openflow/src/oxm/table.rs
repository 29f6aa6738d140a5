//! The protocol table: one row per match field ([`FIELDS`]), the field identity [`Fid`] and
//! what follows from a row (header, width, all-ones mask, canonical rank, name) (OF1.3
//! §7.2.3.7, OVS `meta-flow.h`).

/// OXM class of the OpenFlow basic fields.
pub const OFPXMC_OPENFLOW_BASIC: u16 = 0x8000;
/// NXM_0 (`NXM_OF_*`) class.
pub const OFPXMC_NXM_0: u16 = 0x0000;
/// NXM_1 (`NXM_NX_*`) class.
pub const OFPXMC_NXM_1: u16 = 0x0001;
/// OFPXMC_EXPERIMENTER: the header is followed by a 4-byte experimenter id (OF1.3 §7.2.3.2).
pub const OFPXMC_EXPERIMENTER: u16 = 0xffff;

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
        /// NXM_OF_IN_PORT (16-bit): decoded into
        /// [`MatchField::InPort`](crate::flow::MatchField::InPort), never emitted (OVS writes the
        /// OXM form in OF1.3).
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
pub(super) const ONF_EXPERIMENTER: u32 = 0x4f4e_4600;
/// ONFOXM_ET_TCP_FLAGS: class 0xffff, field 42, after the experimenter id. OVS writes tcp_flags
/// in OF1.3 matches this way (`meta-flow.h`: "OXM: ONFOXM_ET_TCP_FLAGS(42) since OF1.3").
pub(super) const ONF_TCP_FLAGS_FIELD: u8 = 42;

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
