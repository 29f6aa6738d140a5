//! Match fields and their raw bytes: [`MatchField`], [`RawBytes`], ct_state bits.

use std::net::{Ipv4Addr, Ipv6Addr};

#[cfg(doc)]
use super::Action;

/// A 48-bit Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

/// A match field with its value and optional mask (`None` = exact match).
///
/// Ports are OpenFlow 1.3 32-bit port numbers. Registers are `NXM_NX_REG0..15` (class 0x0001).
/// On emit, fields are written in canonical order with prerequisites first (OVS's order); a
/// [`MatchField::Raw`] stays right after the field it follows in the list (first if it follows
/// none), so a decoded match re-emits byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchField {
    /// OXM_OF_IN_PORT.
    InPort(u32),
    /// OXM_OF_ETH_DST, optional mask.
    EthDst(MacAddr, Option<MacAddr>),
    /// OXM_OF_ETH_SRC, optional mask.
    EthSrc(MacAddr, Option<MacAddr>),
    /// OXM_OF_ETH_TYPE.
    EthType(u16),
    /// OXM_OF_IP_PROTO (needs EthType 0x0800/0x86dd).
    IpProto(u8),
    /// OXM_OF_IPV4_SRC, optional mask.
    Ipv4Src(Ipv4Addr, Option<Ipv4Addr>),
    /// OXM_OF_IPV4_DST, optional mask.
    Ipv4Dst(Ipv4Addr, Option<Ipv4Addr>),
    /// OXM_OF_TCP_SRC, optional mask.
    TcpSrc(u16, Option<u16>),
    /// OXM_OF_TCP_DST, optional mask.
    TcpDst(u16, Option<u16>),
    /// OXM_OF_UDP_SRC, optional mask.
    UdpSrc(u16, Option<u16>),
    /// OXM_OF_UDP_DST, optional mask.
    UdpDst(u16, Option<u16>),
    /// OXM_OF_SCTP_SRC, optional mask.
    SctpSrc(u16, Option<u16>),
    /// OXM_OF_SCTP_DST, optional mask.
    SctpDst(u16, Option<u16>),
    /// OXM_OF_ICMPV4_TYPE.
    IcmpType(u8),
    /// OXM_OF_ICMPV4_CODE.
    IcmpCode(u8),
    /// OXM_OF_ARP_OP.
    ArpOp(u16),
    /// OXM_OF_ARP_SPA, optional mask.
    ArpSpa(Ipv4Addr, Option<Ipv4Addr>),
    /// OXM_OF_ARP_TPA, optional mask.
    ArpTpa(Ipv4Addr, Option<Ipv4Addr>),
    /// OXM_OF_ARP_SHA, optional mask.
    ArpSha(MacAddr, Option<MacAddr>),
    /// NXM_NX_REG`idx` (idx 0..=15), optional mask.
    Reg(u8, u32, Option<u32>),
    /// NXM_NX_CT_STATE: (value, mask); see [`ct_state`] for the bits.
    CtState(u32, u32),
    /// NXM_NX_CT_ZONE (not maskable).
    CtZone(u16),
    /// NXM_NX_CT_MARK, optional mask.
    CtMark(u32, Option<u32>),
    /// NXM_NX_CT_LABEL (128 bits), optional mask.
    CtLabel(u128, Option<u128>),
    /// NXM_NX_CONJ_ID (not maskable).
    ConjId(u32),
    /// OXM_OF_METADATA, optional mask (`metadata=`).
    Metadata(u64, Option<u64>),
    /// OXM_OF_VLAN_VID: the value includes OFPVID_PRESENT 0x1000 (`dl_vlan=5` is 0x1005).
    VlanVid(u16, Option<u16>),
    /// OXM_OF_VLAN_PCP (needs a VLAN: VLAN_VID with the present bit).
    VlanPcp(u8),
    /// OXM_OF_IP_DSCP, the 6-bit DSCP (`nw_tos` is this shifted left by 2).
    IpDscp(u8),
    /// OXM_OF_IP_ECN (`nw_ecn`).
    IpEcn(u8),
    /// NXM_NX_IP_TTL (`nw_ttl`).
    NwTtl(u8),
    /// OXM_OF_IPV6_SRC, optional mask.
    Ipv6Src(Ipv6Addr, Option<Ipv6Addr>),
    /// OXM_OF_IPV6_DST, optional mask.
    Ipv6Dst(Ipv6Addr, Option<Ipv6Addr>),
    /// OXM_OF_IPV6_FLABEL (20 bits), optional mask.
    Ipv6Flabel(u32, Option<u32>),
    /// OXM_OF_ICMPV6_TYPE (printed as `icmp_type`).
    Icmpv6Type(u8),
    /// OXM_OF_ICMPV6_CODE (printed as `icmp_code`).
    Icmpv6Code(u8),
    /// OXM_OF_IPV6_ND_TARGET (needs ICMPv6 type 135 or 136), optional mask.
    NdTarget(Ipv6Addr, Option<Ipv6Addr>),
    /// OXM_OF_IPV6_ND_SLL (needs ICMPv6 type 135), optional mask.
    NdSll(MacAddr, Option<MacAddr>),
    /// OXM_OF_IPV6_ND_TLL (needs ICMPv6 type 136), optional mask.
    NdTll(MacAddr, Option<MacAddr>),
    /// OXM_OF_ARP_THA, optional mask.
    ArpTha(MacAddr, Option<MacAddr>),
    /// OXM_OF_MPLS_LABEL (20 bits; needs an MPLS eth_type).
    MplsLabel(u32),
    /// OXM_OF_MPLS_TC (3 bits).
    MplsTc(u8),
    /// OXM_OF_MPLS_BOS (1 bit).
    MplsBos(u8),
    /// OXM_OF_TUNNEL_ID (`tun_id`), optional mask.
    TunnelId(u64, Option<u64>),
    /// NXM_NX_TUN_IPV4_SRC (`tun_src`), optional mask.
    TunSrc(Ipv4Addr, Option<Ipv4Addr>),
    /// NXM_NX_TUN_IPV4_DST (`tun_dst`), optional mask.
    TunDst(Ipv4Addr, Option<Ipv4Addr>),
    /// NXM_NX_PKT_MARK, optional mask.
    PktMark(u32, Option<u32>),
    /// NXM_NX_DP_HASH, optional mask.
    DpHash(u32, Option<u32>),
    /// NXM_NX_RECIRC_ID (not maskable).
    RecircId(u32),
    /// OXM_OF_IN_PHY_PORT (needs IN_PORT). OVS does not implement it.
    InPhyPort(u32),
    /// OXM_OF_PBB_ISID (24 bits; needs eth_type 0x88e7), optional mask. OVS does not
    /// implement it.
    PbbIsid(u32, Option<u32>),
    /// OXM_OF_IPV6_EXTHDR (9 bits, `ofp_ipv6exthdr_flags`; needs IPv6), optional mask. OVS does
    /// not implement it.
    Ipv6Exthdr(u16, Option<u16>),
    /// NXM_NX_IP_FRAG (`nw_frag`): bit 0 "is a fragment", bit 1 "is a later fragment"; a mask of
    /// both bits is an exact match (`nw_frag=first` is 1, `later` 3, `not_later` 0/2).
    IpFrag(u8, Option<u8>),
    /// TCP flags (12 bits; needs TCP), optional mask. OF1.3 carries it as the ONF experimenter
    /// OXM ONFOXM_ET_TCP_FLAGS, which is what OVS writes; NXM_NX_TCP_FLAGS decodes too.
    TcpFlags(u16, Option<u16>),
    /// NXM_NX_TUN_FLAGS: bit 0 is `oam`, optional mask.
    TunFlags(u16, Option<u16>),
    /// NXM_NX_CT_NW_PROTO: IP protocol of the conntrack original direction (needs a ct_state
    /// that implies a valid entry, e.g. `+est` or `+trk-inv`).
    CtNwProto(u8),
    /// NXM_NX_CT_NW_SRC, optional mask (same prerequisite as [`MatchField::CtNwProto`]).
    CtNwSrc(Ipv4Addr, Option<Ipv4Addr>),
    /// NXM_NX_CT_NW_DST, optional mask.
    CtNwDst(Ipv4Addr, Option<Ipv4Addr>),
    /// NXM_NX_CT_IPV6_SRC, optional mask.
    CtIpv6Src(Ipv6Addr, Option<Ipv6Addr>),
    /// NXM_NX_CT_IPV6_DST, optional mask.
    CtIpv6Dst(Ipv6Addr, Option<Ipv6Addr>),
    /// NXM_NX_CT_TP_SRC, optional mask.
    CtTpSrc(u16, Option<u16>),
    /// NXM_NX_CT_TP_DST, optional mask.
    CtTpDst(u16, Option<u16>),
    /// NXM_NX_TUN_METADATA`idx` (idx 0..=63): Geneve option space, a `len`-byte value and
    /// optional mask. `ovs-ofctl` needs no TLV map to encode it: the length is that of the value
    /// written (`tun_metadata0=0x1234` is 2 bytes, `=0` is 0 bytes). OVS allows up to 124
    /// bytes; this model up to 16 (longer TLVs decode as [`crate::MatchError::BadLen`]).
    TunMetadata {
        /// Slot 0..=63.
        idx: u8,
        /// Value (and mask) length in bytes, 0..=16.
        len: u8,
        /// Value, right-aligned in `len` bytes.
        value: u128,
        /// Mask, right-aligned in `len` bytes.
        mask: Option<u128>,
    },
    /// A field this crate does not know, kept as read so that it re-emits byte for byte (the
    /// open-enum arm, like [`Action::Raw`]). On the wire it is the TLV
    /// `class u16 | field u7 | hasmask u1 | len u8 | experimenter u32? | value | mask?`, where
    /// `len` counts the experimenter id, value and mask (OF1.3 §7.2.3.2); emit computes
    /// `hasmask` and `len` from `mask` and the byte lengths, which together are at most 255.
    ///
    /// Decode never checks it beyond its framing (hasmask with an odd or zero length, an
    /// experimenter OXM shorter than its id, or bytes past the list are
    /// [`crate::MatchError::BadLen`] / [`crate::Error::Truncated`]): it has no prerequisites, its
    /// mask is not normalised and may leave value bits out. The same `(class, field,
    /// experimenter)` twice is [`crate::MatchError::DupRaw`], as OVS refuses a duplicate field.
    /// OVS refuses unknown fields (OFPBMC_BAD_FIELD); a library keeps what it cannot interpret.
    /// A `Raw` naming a field this crate knows emits as given and decodes as that field.
    ///
    /// Text: `oxm(0x0001:127=0x1234/0xff00)` (class, field, value and mask with every byte),
    /// `oxm(0xffff:0x00002320:21=0x0002)` for an experimenter OXM; not `ovs-ofctl` syntax.
    Raw {
        /// OXM class (0x0000 NXM_0, 0x0001 NXM_1, 0x8000 OpenFlow basic, 0xffff experimenter).
        class: u16,
        /// Field number, 0..=127.
        field: u8,
        /// The experimenter id after the header: `Some` exactly when `class` is 0xffff
        /// (OFPXMC_EXPERIMENTER).
        experimenter: Option<u32>,
        /// Value bytes as on the wire.
        value: RawBytes,
        /// Mask bytes as on the wire (the hasmask bit set), as long as `value`.
        mask: Option<RawBytes>,
    },
}

/// The bytes of a [`MatchField::Raw`] value or mask: at most [`RawBytes::MAX`] (16, the widest
/// OXM basic field), kept inline so that a `MatchField` owns no heap memory (a match list is
/// then dropped and copied without visiting its fields, which the decoder's hot path depends
/// on). An unknown field wider than that is refused by the decoder as
/// [`crate::MatchError::BadField`], as OVS refuses every unknown field.
///
/// Dereferences to the byte slice; equality and order are those of the slice.
#[derive(Clone, Copy, Default)]
pub struct RawBytes {
    len: u8,
    bytes: [u8; RawBytes::MAX],
}

impl RawBytes {
    /// The most bytes a raw value or mask holds.
    pub const MAX: usize = 16;

    /// The bytes `b`; `None` when longer than [`RawBytes::MAX`].
    pub fn new(b: &[u8]) -> Option<RawBytes> {
        let mut bytes = [0; RawBytes::MAX];
        bytes.get_mut(..b.len())?.copy_from_slice(b);
        Some(RawBytes {
            len: b.len() as u8,
            bytes,
        })
    }
}

impl std::ops::Deref for RawBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl std::fmt::Debug for RawBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02x?}", &**self)
    }
}

impl PartialEq for RawBytes {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for RawBytes {}

impl std::hash::Hash for RawBytes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl PartialOrd for RawBytes {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RawBytes {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

/// ct_state bits (`lib/packets.h` CS_*, `meta-flow.xml`).
pub mod ct_state {
    /// Start of a new connection.
    pub const NEW: u32 = 0x01;
    /// Part of an established connection.
    pub const EST: u32 = 0x02;
    /// Related to an existing connection.
    pub const REL: u32 = 0x04;
    /// Reply direction.
    pub const RPL: u32 = 0x08;
    /// Invalid.
    pub const INV: u32 = 0x10;
    /// Tracked (has been through ct).
    pub const TRK: u32 = 0x20;
}
