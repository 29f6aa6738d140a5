//! The flow model shared by the codec, the text form and the compiler.
//!
//! Shapes follow OF1.3 §7.3.4.1 (`ofp_flow_mod`), §7.2.3 (OXM match), §7.2.4 (instructions),
//! §7.2.5 (actions), and Open vSwitch's Nicira extensions (`nicira-ext.h`, `meta-flow.xml`).

use std::net::{Ipv4Addr, Ipv6Addr};

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

/// A list of match fields. Order in the vector does not matter; emit sorts canonically.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Match(pub Vec<MatchField>);

/// A field that an action writes or reads as a whole or by bit range (NXM/OXM header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// NXM_NX_REG`n` (32 bits).
    Reg(u8),
    /// NXM_NX_CT_MARK (32 bits).
    CtMark,
    /// NXM_NX_CT_LABEL (128 bits).
    CtLabel,
    /// NXM_OF_IN_PORT / OXM in_port.
    InPort,
    /// Ethernet source / destination.
    EthSrc,
    /// Ethernet destination.
    EthDst,
    /// Any other field of [`crate::field::FIELDS`] or the `xreg`/`xxreg` families, by the
    /// header OVS writes for it in Nicira actions (`NXM_OF_IP_SRC` = 0x00000e04). Build it with
    /// [`Field::from_header`] / [`Field::from_name`], which pick the named variants above when
    /// they apply, so each field has one value.
    Nxm(u32),
}

/// An OpenFlow action (OF1.3 standard or Nicira extension).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
// A one-byte tag first: `Option<Result<Action, _>>` is then told apart by that byte, not by a
// wide niche compare that stalls on the stores that just wrote the action (decode hot path).
#[repr(u8)]
pub enum Action {
    /// OFPAT_OUTPUT to a port (`max_len` only matters for CONTROLLER).
    Output {
        /// Port number (OF1.3 32-bit, reserved ports in `action::port`).
        port: u32,
        /// Bytes to send to the controller (only for CONTROLLER).
        max_len: u16,
    },
    /// NXAST_OUTPUT_REG: output to the port in `field[ofs..ofs+n_bits]`.
    OutputReg {
        /// The field.
        field: Field,
        /// First bit (0 = least significant).
        ofs: u16,
        /// Number of bits.
        n_bits: u16,
    },
    /// Load `value` into `field[ofs..ofs+n_bits]`. Emitted as OVS does: OFPAT_SET_FIELD when the
    /// whole field is written, NXAST_REG_LOAD otherwise (`load:V->NXM_NX_REGn[a..b]`).
    Load {
        /// The field.
        field: Field,
        /// First bit (0 = least significant).
        ofs: u16,
        /// Number of bits.
        n_bits: u16,
        /// Value, right-aligned (bit 0 lands at `ofs`).
        value: u128,
    },
    /// NXAST_REG_MOVE (subtype 6, 24 bytes): `move:SRC[src_ofs..]->DST[dst_ofs..]` copying
    /// `n_bits` bits; allowed inside `ct(exec(...))` with a ct_mark / ct_label destination.
    Move {
        /// Source field.
        src: Field,
        /// First source bit.
        src_ofs: u16,
        /// Destination field.
        dst: Field,
        /// First destination bit.
        dst_ofs: u16,
        /// Number of bits.
        n_bits: u16,
    },
    /// NXAST_CONJUNCTION: `conjunction(id, clause/n_clauses)`, clause is 1-based here.
    Conjunction {
        /// Conjunction id (matched by `conj_id`).
        id: u32,
        /// 1-based clause number.
        clause: u8,
        /// Number of clauses (2..=64).
        n_clauses: u8,
    },
    /// NXAST_CT.
    Ct {
        /// `commit` flag.
        commit: bool,
        /// Immediate zone.
        zone: u16,
        /// Recirculation table (`None` = no recirculation, 0xff on the wire).
        table: Option<u8>,
        /// Nested actions: `exec(...)` loads/moves to ct_mark / ct_label and [`Action::Nat`]
        /// (a leading `nat` prints outside `exec(...)`, as OVS does).
        exec: Vec<Action>,
    },
    /// NXAST_RESUBMIT_TABLE: `resubmit(,table)` with in_port kept.
    Resubmit {
        /// Table to resubmit to (in_port kept).
        table: u8,
    },
    /// NXAST_NOTE bytes.
    Note(Vec<u8>),
    /// NXAST_REG_LOAD written as such even when it covers the whole field: what ovs-ofctl's
    /// `load:V->NXM_NX_REG3[]` produces (a partial [`Action::Load`] encodes identically, so
    /// decode yields `RegLoad` only for whole-field REG_LOADs).
    RegLoad {
        /// The field.
        field: Field,
        /// First bit (0 = least significant).
        ofs: u16,
        /// Number of bits.
        n_bits: u16,
        /// Value, right-aligned (bit 0 lands at `ofs`).
        value: u128,
    },
    /// NXAST_CONTROLLER (20): `controller(reason=...,max_len=...,id=...)`. Plain `controller`
    /// is `Output { port: CONTROLLER, max_len: 0xffff }` instead, as in OVS.
    Controller {
        /// Bytes of the packet to send (0xffff = all).
        max_len: u16,
        /// `ofp_packet_in_reason` (0 no_match, 1 action, 2 invalid_ttl, ...).
        reason: u8,
        /// Controller connection id.
        id: u16,
    },
    /// NXAST_CONTROLLER2 (37):
    /// `controller(reason=...,max_len=...,id=...,userdata=01.02...,pause,meter_id=N)`, what OVS
    /// emits when the action carries userdata, `pause` or a meter. Properties are written as
    /// OVS does (`encode_CONTROLLER` in `lib/ofp-actions.c`): only those that differ from the
    /// defaults (max_len 0xffff, id 0, reason 1 = action, no pause, no meter). A packet-in it
    /// causes carries `userdata` back to the controller unchanged.
    Controller2 {
        /// Bytes of the packet to send (0xffff = all).
        max_len: u16,
        /// `ofp_packet_in_reason` (1 = action).
        reason: u8,
        /// Controller connection id.
        id: u16,
        /// Opaque bytes returned in the packet-in (NXAC2PT_USERDATA).
        userdata: Vec<u8>,
        /// NXAC2PT_PAUSE: freeze the pipeline until the controller resumes it (NXT_RESUME).
        pause: bool,
        /// NXAC2PT_METER_ID: the meter that rate-limits the packet-ins of this action in the
        /// datapath (`None` = OVS's `NX_CTLR_NO_METER`, unmetered).
        meter_id: Option<u32>,
    },
    /// OFPAT_GROUP (22): `group:N`.
    Group(u32),
    /// OFPAT_DEC_NW_TTL (24): `dec_ttl`.
    DecTtl,
    /// OFPAT_SET_MPLS_TTL (15): `set_mpls_ttl(N)`.
    SetMplsTtl(u8),
    /// OFPAT_DEC_MPLS_TTL (16): `dec_mpls_ttl`.
    DecMplsTtl,
    /// OFPAT_PUSH_VLAN (17): `push_vlan:0x8100` (the new tag's TPID).
    PushVlan(u16),
    /// OFPAT_POP_VLAN (18): `pop_vlan`.
    PopVlan,
    /// OFPAT_PUSH_MPLS (19): `push_mpls:0x8847` (the MPLS ethertype).
    PushMpls(u16),
    /// OFPAT_POP_MPLS (20): `pop_mpls:0x0800` (the ethertype of the payload).
    PopMpls(u16),
    /// OFPAT_SET_QUEUE (21): `set_queue:N`.
    SetQueue(u32),
    /// OFPAT_SET_NW_TTL (23): `mod_nw_ttl:N`.
    SetNwTtl(u8),
    /// NXAST_CT_CLEAR (43): `ct_clear`.
    CtClear,
    /// NXAST_EXIT (17): `exit`.
    Exit,
    /// NXAST_POP_QUEUE (5): `pop_queue`, back to the queue the packet came with.
    PopQueue,
    /// NXAST_RESUBMIT_TABLE (14) or, with `ct`, NXAST_RESUBMIT_TABLE_CT (44) in the forms
    /// [`Action::Resubmit`] does not cover: `resubmit:5`, `resubmit(3,4)`, `resubmit(,6,ct)`.
    ResubmitExt {
        /// 16-bit NXM port to resubmit as (0xfff8 = keep the current in_port).
        in_port: u16,
        /// Table (0xff = the current table).
        table: u8,
        /// Look up with the conntrack original-direction tuple.
        ct: bool,
    },
    /// NXAST_NAT (36), only inside `ct(...)`: `nat`, `nat(src=A[-B][:P[-Q]],persistent,hash,random)`.
    Nat(Nat),
    /// NXAST_CT in the forms [`Action::Ct`] does not cover: `force`, a zone taken from a field
    /// (`zone=NXM_NX_REG5[0..15]`) or an `alg`.
    CtExt {
        /// `commit` flag.
        commit: bool,
        /// `force` flag (commit in this direction, ending a connection in the other).
        force: bool,
        /// Zone: immediate or a register bit range.
        zone: CtZone,
        /// Recirculation table (`None` = no recirculation).
        table: Option<u8>,
        /// Application-layer gateway as an L4 port (21 ftp, 69 tftp); 0 = none.
        alg: u16,
        /// Nested actions (`exec(...)` loads and `nat`).
        exec: Vec<Action>,
    },
    /// NXAST_FIN_TIMEOUT (19): `fin_timeout(idle_timeout=N,hard_timeout=M)`; 0 = unchanged.
    FinTimeout {
        /// Idle timeout after a TCP FIN or RST, seconds.
        idle: u16,
        /// Hard timeout after a TCP FIN or RST, seconds.
        hard: u16,
    },
    /// NXAST_OUTPUT_TRUNC (39): `output(port=N,max_len=M)`, output truncated to `max_len` bytes.
    OutputTrunc {
        /// 16-bit port number (reserved ports as 0xfff8..).
        port: u16,
        /// Bytes of the packet to keep.
        max_len: u32,
    },
    /// NXAST_DEC_TTL_CNT_IDS (21): `dec_ttl(id,...)`, the controller ids to notify when the TTL
    /// expires (plain `dec_ttl` is [`Action::DecTtl`]).
    DecTtlIds(Vec<u16>),
    /// NXAST_STACK_PUSH (27): `push:FIELD[a..b]`.
    StackPush {
        /// The field.
        field: Field,
        /// First bit.
        ofs: u16,
        /// Number of bits.
        n_bits: u16,
    },
    /// NXAST_STACK_POP (28): `pop:FIELD[a..b]`.
    StackPop {
        /// The field.
        field: Field,
        /// First bit.
        ofs: u16,
        /// Number of bits.
        n_bits: u16,
    },
    /// NXAST_CLONE (42): `clone(actions)`; the nested actions run on a copy of the packet.
    Clone(Vec<Action>),
    /// NXAST_CHECK_PKT_LARGER (49): `check_pkt_larger(N)->FIELD[bit]`, sets the bit to whether
    /// the packet is longer than `pkt_len` bytes.
    CheckPktLarger {
        /// Length to compare with.
        pkt_len: u16,
        /// Destination field.
        field: Field,
        /// Destination bit.
        ofs: u16,
    },
    /// NXAST_SAMPLE (29), or NXAST_SAMPLE2 (38) when `sampling_port` is given:
    /// `sample(probability=P,collector_set_id=C,obs_domain_id=D,obs_point_id=O[,sampling_port=N])`.
    Sample {
        /// Packets sampled per 65535.
        probability: u16,
        /// IPFIX collector set.
        collector_set_id: u32,
        /// Observation domain id.
        obs_domain_id: u32,
        /// Observation point id.
        obs_point_id: u32,
        /// Sampling port (16-bit), SAMPLE2 only.
        sampling_port: Option<u16>,
    },
    /// NXAST_MULTIPATH (10): `multipath(fields,basis,algorithm,n_links,arg,FIELD[a..b])`.
    Multipath {
        /// `nx_hash_fields` (eth_src 0, symmetric_l4 1, symmetric_l3l4 2, symmetric_l3l4+udp 3,
        /// nw_src 4, nw_dst 5, symmetric_l3 6).
        fields: u16,
        /// Hash basis.
        basis: u16,
        /// modulo_n 0, hash_threshold 1, hrw 2, iter_hash 3.
        algorithm: u16,
        /// Number of links minus one (the wire's `max_link`).
        max_link: u16,
        /// Algorithm argument.
        arg: u32,
        /// Destination field.
        field: Field,
        /// First destination bit.
        ofs: u16,
        /// Number of destination bits.
        n_bits: u16,
    },
    /// NXAST_LEARN (16): `learn(table=N,...,specs)`.
    Learn(Box<Learn>),
    /// NXAST_BUNDLE (12) or, with a destination, NXAST_BUNDLE_LOAD (13):
    /// `bundle(fields,basis,algorithm,ofport,members:1,2)` outputs to one live member port,
    /// `bundle_load(fields,basis,algorithm,ofport,DST[a..b],members:1,2)` writes it to `DST`.
    Bundle(Box<Bundle>),
    /// NXAST_OUTPUT_REG2 (32): `output:FIELD[a..b]` as OVS decodes it from a switch or a
    /// controller that chose the wider form (OVS itself writes NXAST_OUTPUT_REG, i.e.
    /// [`Action::OutputReg`]; the text is the same, so `FromStr` gives `OutputReg`).
    OutputReg2 {
        /// The field.
        field: Field,
        /// First bit.
        ofs: u16,
        /// Number of bits.
        n_bits: u16,
    },
    /// ONF copy_field (ONF experimenter action 3200, OF1.3 extension): what OVS prints as
    /// `move:SRC[..]->DST[..]`. OVS writes [`Action::Move`] (NXAST_REG_MOVE) for that text in
    /// OF1.3 and this form only when re-encoding a copy_field it received; `FromStr` gives
    /// `Move`.
    CopyField {
        /// Source field.
        src: Field,
        /// First source bit.
        src_ofs: u16,
        /// Destination field.
        dst: Field,
        /// First destination bit.
        dst_ofs: u16,
        /// Number of bits.
        n_bits: u16,
    },
    /// NXAST_SAMPLE3 (41): `sample(...,[sampling_port=N,]ingress|egress)`, a [`Action::Sample`]
    /// with the direction of the sampled flow.
    SampleDir {
        /// Packets sampled per 65535.
        probability: u16,
        /// IPFIX collector set.
        collector_set_id: u32,
        /// Observation domain id.
        obs_domain_id: u32,
        /// Observation point id.
        obs_point_id: u32,
        /// Sampling port (16-bit); `None` is OFPP_NONE (0xffff) on the wire.
        sampling_port: Option<u16>,
        /// `egress` (NX_ACTION_SAMPLE_EGRESS 2) or `ingress` (1).
        egress: bool,
    },
    /// `set_field:V[/M]->tun_metadataN` (and `load:V->NXM_NX_TUN_METADATAN[a..b]`): a write to
    /// variable-length Geneve option space. Unmasked it is OFPAT_SET_FIELD with the NXM header,
    /// masked NXAST_REG_LOAD2 (33) with a masked TLV, as OVS writes them. The value's length is
    /// the TLV's length (1..=124 bytes).
    SetTunMetadata {
        /// Option slot, 0..=63 (NXM_NX_TUN_METADATA0 is NXM_1 field 40).
        idx: u8,
        /// Value bytes.
        value: Vec<u8>,
        /// Mask bytes, the same length as `value`.
        mask: Option<Vec<u8>>,
    },
    /// Any other action, and NXAST_CONTROLLER2 with `pause` or `meter_id`: round-trips raw
    /// (type, bytes after the 4-byte header).
    Raw {
        /// Action type (0xffff for experimenter actions).
        kind: u16,
        /// Bytes after the 4-byte type/length header.
        body: Vec<u8>,
    },
}

/// The zone of a `ct` action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CtZone {
    /// `zone=N`.
    Imm(u16),
    /// `zone=FIELD[a..b]`: taken from a field's bits.
    Field {
        /// The field.
        field: Field,
        /// First bit.
        ofs: u16,
        /// Number of bits.
        n_bits: u16,
    },
}

/// Address range of a [`Nat`]: `min` and, when given as `min-max`, `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NatAddr {
    /// IPv4 range (both nonzero; OVS encodes `max` whenever it is given, even equal to `min`).
    V4(Ipv4Addr, Option<Ipv4Addr>),
    /// IPv6 range (printed in brackets).
    V6(Ipv6Addr, Option<Ipv6Addr>),
}

/// NXAST_NAT body as OVS encodes it: only present range parts are on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Nat {
    /// `None` for a bare `nat`; `Some(true)` = `src`, `Some(false)` = `dst`.
    pub src: Option<bool>,
    /// NX_NAT_F_PERSISTENT.
    pub persistent: bool,
    /// NX_NAT_F_PROTO_HASH.
    pub hash: bool,
    /// NX_NAT_F_PROTO_RANDOM.
    pub random: bool,
    /// Address range.
    pub addr: Option<NatAddr>,
    /// Port range (min nonzero; `max` as given, printed only when it differs from `min`).
    pub ports: Option<(u16, Option<u16>)>,
}

/// The body of a `learn` action (NXAST_LEARN, `struct nx_action_learn`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Learn {
    /// Table of the learned flow (`table=`, default 1).
    pub table: u8,
    /// Idle timeout of the learned flow (0 = none).
    pub idle_timeout: u16,
    /// Hard timeout of the learned flow (0 = none).
    pub hard_timeout: u16,
    /// `fin_idle_timeout` of the learned flow.
    pub fin_idle_timeout: u16,
    /// `fin_hard_timeout` of the learned flow.
    pub fin_hard_timeout: u16,
    /// Priority of the learned flow (default 0x8000).
    pub priority: u16,
    /// Cookie of the learned flow.
    pub cookie: u64,
    /// NX_LEARN_F_SEND_FLOW_REM 1, NX_LEARN_F_DELETE_LEARNED 2.
    pub flags: u16,
    /// The flow_mod specs, in order.
    pub specs: Vec<LearnSpec>,
    /// `limit=N`: at most N flows learned (0 = unlimited). Nonzero makes it NXAST_LEARN2.
    pub limit: u32,
    /// `result_dst=FIELD[bit]`: the bit set to whether the flow was learned (field, bit).
    /// Makes it NXAST_LEARN2 with NX_LEARN_F_WRITE_RESULT (4) in the flags.
    pub result_dst: Option<(Field, u16)>,
}

impl Default for Learn {
    fn default() -> Self {
        Learn {
            table: 1,
            idle_timeout: 0,
            hard_timeout: 0,
            fin_idle_timeout: 0,
            fin_hard_timeout: 0,
            priority: 0x8000,
            cookie: 0,
            flags: 0,
            specs: Vec::new(),
            limit: 0,
            result_dst: None,
        }
    }
}

/// The body of a `bundle` / `bundle_load` action (`struct nx_action_bundle`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bundle {
    /// `nx_hash_fields`, as for [`Action::Multipath`] (eth_src 0, symmetric_l4 1, ...).
    pub fields: u16,
    /// Hash basis.
    pub basis: u16,
    /// NX_BD_ALG_ACTIVE_BACKUP 0, NX_BD_ALG_HRW 1.
    pub algorithm: u16,
    /// Member OpenFlow ports (16-bit, `member_type` NXM_OF_IN_PORT, printed `ofport`).
    pub members: Vec<u16>,
    /// `bundle_load` destination (field, first bit, number of bits); `None` for `bundle`.
    pub dst: Option<(Field, u16, u16)>,
}

/// Source of a learn spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LearnSrc {
    /// Bits `ofs..ofs+n_bits` of a field of the packet being processed.
    Field {
        /// The field.
        field: Field,
        /// First bit.
        ofs: u16,
    },
    /// An immediate value (right-aligned, `n_bits` wide).
    Imm(u128),
}

/// Destination of a learn spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LearnDst {
    /// A match field of the learned flow.
    Match {
        /// The field.
        field: Field,
        /// First bit.
        ofs: u16,
    },
    /// A `load` action in the learned flow.
    Load {
        /// The field.
        field: Field,
        /// First bit.
        ofs: u16,
    },
    /// An `output` action in the learned flow (source must be a field).
    Output,
}

/// One `nx_flow_mod_spec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LearnSpec {
    /// Width in bits (1..=128 here).
    pub n_bits: u16,
    /// Source.
    pub src: LearnSrc,
    /// Destination.
    pub dst: LearnDst,
}

/// An OF1.3 instruction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Instruction {
    /// OFPIT_GOTO_TABLE.
    GotoTable(u8),
    /// OFPIT_APPLY_ACTIONS.
    ApplyActions(Vec<Action>),
    /// OFPIT_WRITE_ACTIONS.
    WriteActions(Vec<Action>),
    /// OFPIT_CLEAR_ACTIONS.
    ClearActions,
    /// OFPIT_WRITE_METADATA (value, mask).
    WriteMetadata(u64, u64),
    /// OFPIT_METER.
    Meter(u32),
    /// OFPIT_EXPERIMENTER (0xffff): `type u16 | len u16 | experimenter u32 | data`, `len` a
    /// multiple of 8 (OF1.3 §7.2.4). OVS refuses it (OFPBIC_BAD_EXPERIMENTER); decode keeps it
    /// so that it re-emits byte for byte. Emitted after the six known instructions.
    Experimenter {
        /// Experimenter id (e.g. [`crate::NX_VENDOR_ID`]).
        experimenter: u32,
        /// The bytes after the experimenter id as received, padding included; emit pads them
        /// with zeros when the instruction would not end on a multiple of 8.
        data: Vec<u8>,
    },
    /// An instruction of a type OF1.3 does not define (not 1..=6, not 0xffff). OVS refuses it
    /// (OFPBIC_UNKNOWN_INST), but a decoder that is a library keeps what it cannot interpret:
    /// it re-emits byte for byte, after the known instructions. A `kind` of a known type emits
    /// as given and decodes as that instruction.
    Unknown {
        /// OFPIT_* type.
        kind: u16,
        /// The bytes after the 4-byte type/length header as received, padding included; emit
        /// pads them with zeros to a multiple of 8 as for [`Instruction::Experimenter`].
        body: Vec<u8>,
    },
}

/// OFPFC_* flow_mod commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowModCommand {
    /// OFPFC_ADD (0).
    Add,
    /// OFPFC_MODIFY (1).
    Modify,
    /// OFPFC_MODIFY_STRICT (2).
    ModifyStrict,
    /// OFPFC_DELETE (3).
    Delete,
    /// OFPFC_DELETE_STRICT (4).
    DeleteStrict,
}

/// An OF1.3 FLOW_MOD body (`struct ofp11_flow_mod`, 40 bytes + match + instructions).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowMod {
    /// Opaque controller cookie.
    pub cookie: u64,
    /// Cookie mask (MODIFY/DELETE only; must be 0 on ADD).
    pub cookie_mask: u64,
    /// Table id (0xff = all, DELETE only).
    pub table_id: u8,
    /// Command.
    pub command: FlowModCommand,
    /// Idle timeout in seconds (0 = permanent).
    pub idle_timeout: u16,
    /// Hard timeout in seconds (0 = permanent).
    pub hard_timeout: u16,
    /// Priority (higher wins).
    pub priority: u16,
    /// Buffer id (0xffffffff = none).
    pub buffer_id: u32,
    /// DELETE filter port (0xffffffff = any).
    pub out_port: u32,
    /// DELETE filter group (0xffffffff = any).
    pub out_group: u32,
    /// OFPFF_* flags.
    pub flags: u16,
    /// The match.
    pub r#match: Match,
    /// Instructions; empty = drop.
    pub instructions: Vec<Instruction>,
}

impl FlowMod {
    /// An ADD flow_mod with defaults (`buffer_id`, `out_port`, `out_group` = none/any).
    pub fn add(
        table_id: u8,
        priority: u16,
        r#match: Match,
        instructions: Vec<Instruction>,
    ) -> Self {
        FlowMod {
            cookie: 0,
            cookie_mask: 0,
            table_id,
            command: FlowModCommand::Add,
            idle_timeout: 0,
            hard_timeout: 0,
            priority,
            buffer_id: 0xffff_ffff,
            out_port: 0xffff_ffff,
            out_group: 0xffff_ffff,
            flags: 0,
            r#match,
            instructions,
        }
    }
}
