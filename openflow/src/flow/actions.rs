//! Actions and the fields they touch: [`Field`], [`Action`].

use super::{Bundle, CtZone, Learn, Nat};

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
