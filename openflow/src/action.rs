//! Actions: OF1.3 standard (§7.2.5) and Nicira extensions (`lib/ofp-actions.c`).
//!
//! Every action is `type u16 | len u16 (multiple of 8) | body`; Nicira actions are
//! `0xffff | len | 0x00002320 | subtype u16 | body`, zero-padded to `len`. Unknown actions and
//! known ones in forms this model does not express (e.g. `ct` with an unknown flag) decode as
//! [`Action::Raw`] and re-emit byte for byte.

use crate::error::{NX_VENDOR_ID, ONF_VENDOR_ID};
use crate::flow::{Action, CtZone, Field, Learn, LearnDst, LearnSpec, LearnSrc, Nat, NatAddr};
use crate::oxm::{emit_tlv, ones};
use crate::view::Actions;
use crate::wire::{len16, pad_to_8, put_len_at, put_u16_at, Reader};
use crate::Error;
use std::net::{Ipv4Addr, Ipv6Addr};

mod ext;
mod quick;
pub(crate) use quick::decode_list;

/// OFPAT_OUTPUT.
pub const OFPAT_OUTPUT: u16 = 0;
/// OFPAT_GROUP.
pub const OFPAT_GROUP: u16 = 22;
/// OFPAT_DEC_NW_TTL.
pub const OFPAT_DEC_NW_TTL: u16 = 24;
/// OFPAT_SET_FIELD.
pub const OFPAT_SET_FIELD: u16 = 25;
/// OFPAT_EXPERIMENTER.
pub const OFPAT_EXPERIMENTER: u16 = 0xffff;

/// OF1.3 reserved port numbers (`ofp_port_no`).
pub mod port {
    /// Highest physical port.
    pub const MAX: u32 = 0xffff_ff00;
    /// Send back out the input port.
    pub const IN_PORT: u32 = 0xffff_fff8;
    /// Submit to the first table (PACKET_OUT only).
    pub const TABLE: u32 = 0xffff_fff9;
    /// Normal L2/L3 processing.
    pub const NORMAL: u32 = 0xffff_fffa;
    /// Flood (excluding blocked ports).
    pub const FLOOD: u32 = 0xffff_fffb;
    /// All ports but the input port.
    pub const ALL: u32 = 0xffff_fffc;
    /// To the controller.
    pub const CONTROLLER: u32 = 0xffff_fffd;
    /// The local (bridge) port.
    pub const LOCAL: u32 = 0xffff_fffe;
    /// Wildcard / none.
    pub const ANY: u32 = 0xffff_ffff;
}

const NXAST_RESUBMIT_TABLE: u16 = 14;
const NXAST_OUTPUT_REG: u16 = 15;
const NXAST_REG_LOAD: u16 = 7;
const NXAST_REG_MOVE: u16 = 6;
const NXAST_NOTE: u16 = 8;
const NXAST_CONTROLLER: u16 = 20;
const NXAST_CONJUNCTION: u16 = 34;
const NXAST_CONTROLLER2: u16 = 37;
/// NXAST_CONTROLLER2 property types (`enum nx_action_controller2_prop_type`).
const NXAC2PT_MAX_LEN: u16 = 0;
const NXAC2PT_CONTROLLER_ID: u16 = 1;
const NXAC2PT_REASON: u16 = 2;
const NXAC2PT_USERDATA: u16 = 3;
const NXAC2PT_PAUSE: u16 = 4;
const NXAC2PT_METER_ID: u16 = 5;
const NXAST_CT: u16 = 35;
const NXAST_LEARN: u16 = 16;
const NXAST_LEARN2: u16 = 45;
/// NX_LEARN_F_WRITE_RESULT: LEARN2 writes "was it learned" to `result_dst`.
const NX_LEARN_F_WRITE_RESULT: u16 = 4;
const NXAST_MULTIPATH: u16 = 10;
const NXAST_STACK_PUSH: u16 = 27;
const NXAST_STACK_POP: u16 = 28;
const NXAST_SAMPLE: u16 = 29;
const NXAST_SAMPLE2: u16 = 38;
const NXAST_CLONE: u16 = 42;
const NXAST_CHECK_PKT_LARGER: u16 = 49;
const NXAST_FIN_TIMEOUT: u16 = 19;
const NXAST_DEC_TTL_CNT_IDS: u16 = 21;
const NXAST_OUTPUT_TRUNC: u16 = 39;
const NXAST_NAT: u16 = 36;
/// NX_CT_F_COMMIT / NX_CT_F_FORCE.
const NX_CT_F_COMMIT: u16 = 1;
const NX_CT_F_FORCE: u16 = 2;
const NXAST_EXIT: u16 = 17;
const NXAST_POP_QUEUE: u16 = 5;
const NXAST_CT_CLEAR: u16 = 43;
const NXAST_RESUBMIT_TABLE_CT: u16 = 44;

/// Fixed 8-byte standard actions with a small argument: (type, argument bytes).
fn std8(buf: &mut Vec<u8>, kind: u16, arg: &[u8]) {
    buf.extend_from_slice(&kind.to_be_bytes());
    buf.extend_from_slice(&[0, 8]);
    let mut body = [0u8; 4];
    body[..arg.len()].copy_from_slice(arg);
    buf.extend_from_slice(&body);
}

/// NXM_OF_IN_PORT, the member type of `bundle`.
const NX_IN_PORT_HEADER: u32 = 0x0000_0002;

/// NXM `in_port` placeholder meaning "keep the current in_port" in resubmit.
const NX_IN_PORT: u16 = 0xfff8;

fn ofs_nbits(ofs: u16, n_bits: u16) -> u16 {
    ofs << 6 | (n_bits.saturating_sub(1) & 0x3f)
}

fn nx_header(buf: &mut Vec<u8>, subtype: u16) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&OFPAT_EXPERIMENTER.to_be_bytes());
    buf.extend_from_slice(&[0, 0]);
    buf.extend_from_slice(&NX_VENDOR_ID.to_be_bytes());
    buf.extend_from_slice(&subtype.to_be_bytes());
    start
}

fn finish(buf: &mut Vec<u8>, start: usize) {
    pad_to_8(buf, start);
    let len = buf.len() - start;
    put_len_at(buf, start + 2, len);
}

/// A 16-byte Nicira action: its header and `body` (the 6 bytes after the subtype, zero-padded).
/// One fixed-size write, as the common actions are emitted in bulk.
#[inline]
fn nx16(buf: &mut Vec<u8>, subtype: u16, body: [u8; 6]) {
    let [v0, v1, v2, v3] = NX_VENDOR_ID.to_be_bytes();
    let [s0, s1] = subtype.to_be_bytes();
    let [b0, b1, b2, b3, b4, b5] = body;
    buf.extend_from_slice(&[
        0xff, 0xff, 0, 16, v0, v1, v2, v3, s0, s1, b0, b1, b2, b3, b4, b5,
    ]);
}

fn emit_reg_load(buf: &mut Vec<u8>, field: Field, ofs: u16, n_bits: u16, value: u128) {
    // REG_LOAD carries at most 64 bits; OVS splits wider runs into 64-bit pieces.
    let mut done = 0u16;
    while done < n_bits.max(1) {
        let n = (n_bits - done).min(64);
        let v = (value >> done) & ones(n as u32);
        let mut a = [0u8; 24];
        a[..4].copy_from_slice(&[0xff, 0xff, 0, 24]);
        a[4..8].copy_from_slice(&NX_VENDOR_ID.to_be_bytes());
        a[8..10].copy_from_slice(&NXAST_REG_LOAD.to_be_bytes());
        a[10..12].copy_from_slice(&ofs_nbits(ofs + done, n).to_be_bytes());
        a[12..16].copy_from_slice(&field.nxm_header().to_be_bytes());
        a[16..].copy_from_slice(&(v as u64).to_be_bytes());
        buf.extend_from_slice(&a);
        if n_bits == 0 {
            break;
        }
        done += n;
    }
}

/// OFPAT_SET_FIELD of a whole field (OF1.3 §7.2.5): header, the field's OXM TLV, zero padding
/// to a multiple of 8, written as one fixed-size block for fields of up to 16 bytes.
fn emit_set_field(buf: &mut Vec<u8>, field: Field, value: u128) {
    let header = field.set_field_header();
    let n = (header & 0xff) as usize;
    if n > 16 {
        let start = buf.len();
        buf.extend_from_slice(&[0, 25, 0, 0]);
        emit_tlv(buf, header, value, None);
        finish(buf, start);
        return;
    }
    let len = (8 + n).div_ceil(8) * 8;
    let mut a = [0u8; 24];
    a[..4].copy_from_slice(&[0, 25, 0, len as u8]);
    a[4..8].copy_from_slice(&header.to_be_bytes());
    a[8..8 + n].copy_from_slice(&value.to_be_bytes()[16 - n..]);
    match len {
        16 => buf.extend_from_slice(&a[..16]),
        _ => buf.extend_from_slice(&a),
    }
}

fn emit_ct(
    buf: &mut Vec<u8>,
    flags: u16,
    zone: CtZone,
    table: Option<u8>,
    alg: u16,
    exec: &[Action],
) {
    let start = buf.len();
    let (src, word) = match zone {
        CtZone::Imm(z) => (0, z),
        CtZone::Field { field, ofs, n_bits } => (field.nxm_header(), ofs_nbits(ofs, n_bits)),
    };
    let mut a = [0u8; 24];
    a[..4].copy_from_slice(&[0xff, 0xff, 0, 0]);
    a[4..8].copy_from_slice(&NX_VENDOR_ID.to_be_bytes());
    a[8..10].copy_from_slice(&NXAST_CT.to_be_bytes());
    a[10..12].copy_from_slice(&flags.to_be_bytes());
    a[12..16].copy_from_slice(&src.to_be_bytes());
    a[16..18].copy_from_slice(&word.to_be_bytes());
    a[18] = table.unwrap_or(0xff);
    a[22..24].copy_from_slice(&alg.to_be_bytes());
    buf.extend_from_slice(&a);
    for a in exec {
        a.emit(buf);
    }
    finish(buf, start);
}

/// NX_NAT_F_* flags and NX_NAT_RANGE_* bits.
mod nat {
    pub const F_SRC: u16 = 1;
    pub const F_DST: u16 = 2;
    pub const F_PERSISTENT: u16 = 4;
    pub const F_HASH: u16 = 8;
    pub const F_RANDOM: u16 = 0x10;
    pub const V4_MIN: u16 = 1;
    pub const V4_MAX: u16 = 2;
    pub const V6_MIN: u16 = 4;
    pub const V6_MAX: u16 = 8;
    pub const P_MIN: u16 = 0x10;
    pub const P_MAX: u16 = 0x20;
}

fn emit_nat(buf: &mut Vec<u8>, n: &Nat) {
    let start = nx_header(buf, NXAST_NAT);
    buf.extend_from_slice(&[0, 0]);
    let mut flags = match n.src {
        Some(true) => nat::F_SRC,
        Some(false) => nat::F_DST,
        None => 0,
    };
    for (on, bit) in [
        (n.persistent, nat::F_PERSISTENT),
        (n.hash, nat::F_HASH),
        (n.random, nat::F_RANDOM),
    ] {
        if on {
            flags |= bit;
        }
    }
    buf.extend_from_slice(&flags.to_be_bytes());
    let present_at = buf.len();
    buf.extend_from_slice(&[0, 0]);
    let mut present = 0u16;
    match n.addr {
        Some(NatAddr::V4(min, max)) => {
            present |= nat::V4_MIN;
            buf.extend_from_slice(&min.octets());
            if let Some(max) = max {
                present |= nat::V4_MAX;
                buf.extend_from_slice(&max.octets());
            }
        }
        Some(NatAddr::V6(min, max)) => {
            present |= nat::V6_MIN;
            buf.extend_from_slice(&min.octets());
            if let Some(max) = max {
                present |= nat::V6_MAX;
                buf.extend_from_slice(&max.octets());
            }
        }
        None => {}
    }
    if let Some((min, max)) = n.ports {
        present |= nat::P_MIN;
        buf.extend_from_slice(&min.to_be_bytes());
        if let Some(max) = max {
            present |= nat::P_MAX;
            buf.extend_from_slice(&max.to_be_bytes());
        }
    }
    put_u16_at(buf, present_at, present);
    finish(buf, start);
}

/// Decode a NAT body (after the subtype); `None` for forms the model does not express.
fn parse_nat(r: &mut Reader) -> Option<Nat> {
    if r.u16("nat pad").ok()? != 0 {
        return None;
    }
    let flags = r.u16("nat flags").ok()?;
    let present = r.u16("nat range_present").ok()?;
    let src = match flags & (nat::F_SRC | nat::F_DST) {
        0 => None,
        nat::F_SRC => Some(true),
        nat::F_DST => Some(false),
        _ => return None,
    };
    if flags & !0x1f != 0 || present & !0x3f != 0 {
        return None;
    }
    if src.is_none() && (flags != 0 || present != 0) {
        return None;
    }
    let has = |b: u16| present & b != 0;
    if (has(nat::V4_MAX) && !has(nat::V4_MIN))
        || (has(nat::V6_MAX) && !has(nat::V6_MIN))
        || (has(nat::P_MAX) && !has(nat::P_MIN))
        || (has(nat::V4_MIN) && has(nat::V6_MIN))
    {
        return None;
    }
    let v4 = |r: &mut Reader| -> Option<Ipv4Addr> {
        let b = r.take("nat ipv4", 4).ok()?;
        Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    };
    let v6 = |r: &mut Reader| -> Option<Ipv6Addr> {
        let b: [u8; 16] = r.take("nat ipv6", 16).ok()?.try_into().ok()?;
        Some(Ipv6Addr::from(b))
    };
    let addr = if has(nat::V4_MIN) {
        let min = v4(r)?;
        let max = if has(nat::V4_MAX) { Some(v4(r)?) } else { None };
        if min.is_unspecified() || max.is_some_and(|m| m.is_unspecified()) {
            return None;
        }
        Some(NatAddr::V4(min, max))
    } else if has(nat::V6_MIN) {
        let min = v6(r)?;
        let max = if has(nat::V6_MAX) { Some(v6(r)?) } else { None };
        if min.is_unspecified() || max.is_some_and(|m| m.is_unspecified()) {
            return None;
        }
        Some(NatAddr::V6(min, max))
    } else {
        None
    };
    let ports = if has(nat::P_MIN) {
        let min = r.u16("nat port min").ok()?;
        let max = if has(nat::P_MAX) {
            Some(r.u16("nat port max").ok()?)
        } else {
            None
        };
        if min == 0 || max == Some(0) {
            return None;
        }
        Some((min, max))
    } else {
        None
    };
    // OVS prints a port range only after an address.
    if ports.is_some() && addr.is_none() {
        return None;
    }
    if r.rest().iter().any(|b| *b != 0) {
        return None;
    }
    Some(Nat {
        src,
        persistent: flags & nat::F_PERSISTENT != 0,
        hash: flags & nat::F_HASH != 0,
        random: flags & nat::F_RANDOM != 0,
        addr,
        ports,
    })
}

fn emit_learn(buf: &mut Vec<u8>, l: &Learn) {
    // OVS `encode_LEARN`: LEARN2 when a limit or a result destination is set.
    let learn2 = l.limit != 0 || l.result_dst.is_some();
    let start = nx_header(buf, if learn2 { NXAST_LEARN2 } else { NXAST_LEARN });
    for v in [l.idle_timeout, l.hard_timeout, l.priority] {
        buf.extend_from_slice(&v.to_be_bytes());
    }
    buf.extend_from_slice(&l.cookie.to_be_bytes());
    let write_result = if l.result_dst.is_some() {
        NX_LEARN_F_WRITE_RESULT
    } else {
        0
    };
    buf.extend_from_slice(&(l.flags | write_result).to_be_bytes());
    buf.push(l.table);
    buf.push(0);
    buf.extend_from_slice(&l.fin_idle_timeout.to_be_bytes());
    buf.extend_from_slice(&l.fin_hard_timeout.to_be_bytes());
    if learn2 {
        buf.extend_from_slice(&l.limit.to_be_bytes());
        let (field, ofs) = l.result_dst.map_or((None, 0), |(f, o)| (Some(f), o));
        buf.extend_from_slice(&ofs.to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        if let Some(f) = field {
            buf.extend_from_slice(&f.nxm_header().to_be_bytes());
        }
    }
    for spec in &l.specs {
        let mut h = spec.n_bits & 0x3ff;
        if matches!(spec.src, LearnSrc::Imm(_)) {
            h |= 1 << 13;
        }
        h |= match spec.dst {
            LearnDst::Match { .. } => 0,
            LearnDst::Load { .. } => 1 << 11,
            LearnDst::Output => 2 << 11,
        };
        buf.extend_from_slice(&h.to_be_bytes());
        match spec.src {
            LearnSrc::Field { field, ofs } => {
                buf.extend_from_slice(&field.nxm_header().to_be_bytes());
                buf.extend_from_slice(&ofs.to_be_bytes());
            }
            LearnSrc::Imm(v) => {
                let n = spec.n_bits.div_ceil(16) as usize * 2;
                buf.extend_from_slice(&v.to_be_bytes()[16 - n.min(16)..]);
            }
        }
        match spec.dst {
            LearnDst::Match { field, ofs } | LearnDst::Load { field, ofs } => {
                buf.extend_from_slice(&field.nxm_header().to_be_bytes());
                buf.extend_from_slice(&ofs.to_be_bytes());
            }
            LearnDst::Output => {}
        }
    }
    finish(buf, start);
}

/// A modelled field at `h` with room for `ofs..ofs+n_bits`.
fn learn_field(r: &mut Reader, n_bits: u16) -> Option<(Field, u16)> {
    let h = r.u32("learn field").ok()?;
    let ofs = r.u16("learn ofs").ok()?;
    field_at(h, ofs, n_bits)
}

/// A field header read from `r` whose bit offset `ofs` came earlier in the action.
fn learn_field_at(r: &mut Reader, ofs: u16, n_bits: u16) -> Option<(Field, u16)> {
    field_at(r.u32("learn field").ok()?, ofs, n_bits)
}

/// The field with Nicira header `h` (exactly the header we would write) if `ofs..ofs+n_bits`
/// fits in it.
fn field_at(h: u32, ofs: u16, n_bits: u16) -> Option<(Field, u16)> {
    let field = Field::from_header(h).filter(|f| f.nxm_header() == h)?;
    (ofs as u32 + n_bits as u32 <= field.bits() as u32).then_some((field, ofs))
}

/// Decode a LEARN or (`learn2`) LEARN2 body (after the subtype); `None` for forms the model
/// does not express.
fn parse_learn(r: &mut Reader, learn2: bool) -> Option<Learn> {
    let idle_timeout = r.u16("learn idle").ok()?;
    let hard_timeout = r.u16("learn hard").ok()?;
    let priority = r.u16("learn priority").ok()?;
    let cookie = r.u64("learn cookie").ok()?;
    let flags = r.u16("learn flags").ok()?;
    let table = r.u8("learn table").ok()?;
    let pad = r.u8("learn pad").ok()?;
    let fin_idle_timeout = r.u16("learn fin_idle").ok()?;
    let fin_hard_timeout = r.u16("learn fin_hard").ok()?;
    let allowed = if learn2 { 7 } else { 3 };
    if flags & !allowed != 0 || pad != 0 {
        return None;
    }
    let (mut limit, mut result_dst) = (0, None);
    if learn2 {
        limit = r.u32("learn2 limit").ok()?;
        let ofs = r.u16("learn2 result_dst_ofs").ok()?;
        if r.u16("learn2 pad").ok()? != 0 {
            return None;
        }
        if flags & NX_LEARN_F_WRITE_RESULT != 0 {
            let (field, ofs) = learn_field_at(r, ofs, 1)?;
            result_dst = Some((field, ofs));
        } else if ofs != 0 || limit == 0 {
            // OVS would re-encode a limitless, resultless LEARN2 the same way; we would write
            // LEARN, so keep the bytes.
            return None;
        }
    }
    let flags = flags & 3;
    let mut specs = Vec::new();
    while r.remaining() >= 2 {
        let h = r.u16("learn spec").ok()?;
        if h == 0 {
            break;
        }
        let n_bits = h & 0x3ff;
        if h & 0xc000 != 0 || n_bits == 0 || n_bits > 128 {
            return None;
        }
        let imm = h & (1 << 13) != 0;
        let src = if imm {
            let n = n_bits.div_ceil(16) as usize * 2;
            let b = r.take("learn immediate", n).ok()?;
            let v = b.iter().fold(0u128, |a, x| a << 8 | *x as u128);
            if n_bits < 128 && v >> n_bits != 0 {
                return None;
            }
            LearnSrc::Imm(v)
        } else {
            let (field, ofs) = learn_field(r, n_bits)?;
            LearnSrc::Field { field, ofs }
        };
        let dst = match (h >> 11) & 3 {
            0 => {
                let (field, ofs) = learn_field(r, n_bits)?;
                LearnDst::Match { field, ofs }
            }
            1 => {
                let (field, ofs) = learn_field(r, n_bits)?;
                LearnDst::Load { field, ofs }
            }
            2 if !imm => LearnDst::Output,
            _ => return None,
        };
        specs.push(LearnSpec { n_bits, src, dst });
    }
    if r.rest().iter().any(|b| *b != 0) {
        return None;
    }
    Some(Learn {
        table,
        idle_timeout,
        hard_timeout,
        fin_idle_timeout,
        fin_hard_timeout,
        priority,
        cookie,
        flags,
        specs,
        limit,
        result_dst,
    })
}

impl Action {
    /// A `ct` action in its canonical variant: [`Action::Ct`] when the zone is immediate and
    /// neither `force` nor `alg` is set, [`Action::CtExt`] otherwise. Decoding and text parsing
    /// both build `ct` through here, so each wire form has one value.
    pub fn ct(
        commit: bool,
        force: bool,
        zone: CtZone,
        table: Option<u8>,
        alg: u16,
        exec: Vec<Action>,
    ) -> Action {
        match zone {
            CtZone::Imm(zone) if !force && alg == 0 => Action::Ct {
                commit,
                zone,
                table,
                exec,
            },
            _ => Action::CtExt {
                commit,
                force,
                zone,
                table,
                alg,
                exec,
            },
        }
    }

    /// Append this action's wire form to `buf`. A [`Action::Load`] may produce several
    /// REG_LOADs (one per 64-bit piece) exactly as OVS does.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        match self {
            Action::Output { port, max_len } => {
                let ([p0, p1, p2, p3], [m0, m1]) = (port.to_be_bytes(), max_len.to_be_bytes());
                buf.extend_from_slice(&[0, 0, 0, 16, p0, p1, p2, p3, m0, m1, 0, 0, 0, 0, 0, 0]);
            }
            Action::Group(g) => {
                buf.extend_from_slice(&[0, 22, 0, 8]);
                buf.extend_from_slice(&g.to_be_bytes());
            }
            Action::DecTtl => buf.extend_from_slice(&[0, 24, 0, 8, 0, 0, 0, 0]),
            Action::SetMplsTtl(t) => std8(buf, 15, &[*t]),
            Action::DecMplsTtl => std8(buf, 16, &[]),
            Action::PushVlan(e) => std8(buf, 17, &e.to_be_bytes()),
            Action::PopVlan => std8(buf, 18, &[]),
            Action::PushMpls(e) => std8(buf, 19, &e.to_be_bytes()),
            Action::PopMpls(e) => std8(buf, 20, &e.to_be_bytes()),
            Action::SetQueue(q) => std8(buf, 21, &q.to_be_bytes()),
            Action::SetNwTtl(t) => std8(buf, 23, &[*t]),
            Action::CtClear => nx16(buf, NXAST_CT_CLEAR, [0; 6]),
            Action::Exit => nx16(buf, NXAST_EXIT, [0; 6]),
            Action::PopQueue => nx16(buf, NXAST_POP_QUEUE, [0; 6]),
            Action::ResubmitExt { in_port, table, ct } => {
                let subtype = if *ct {
                    NXAST_RESUBMIT_TABLE_CT
                } else {
                    NXAST_RESUBMIT_TABLE
                };
                let [p0, p1] = in_port.to_be_bytes();
                nx16(buf, subtype, [p0, p1, *table, 0, 0, 0]);
            }
            Action::Load {
                field,
                ofs,
                n_bits,
                value,
            } => {
                if *ofs == 0 && *n_bits == field.bits() {
                    emit_set_field(buf, *field, *value & ones(field.set_field_bits() as u32));
                } else {
                    emit_reg_load(buf, *field, *ofs, *n_bits, *value);
                }
            }
            Action::RegLoad {
                field,
                ofs,
                n_bits,
                value,
            } => emit_reg_load(buf, *field, *ofs, *n_bits, *value),
            Action::OutputReg { field, ofs, n_bits } => {
                let start = nx_header(buf, NXAST_OUTPUT_REG);
                buf.extend_from_slice(&ofs_nbits(*ofs, *n_bits).to_be_bytes());
                buf.extend_from_slice(&field.nxm_header().to_be_bytes());
                buf.extend_from_slice(&0xffffu16.to_be_bytes());
                finish(buf, start);
            }
            Action::Move {
                src,
                src_ofs,
                dst,
                dst_ofs,
                n_bits,
            } => {
                let start = nx_header(buf, NXAST_REG_MOVE);
                for v in [*n_bits, *src_ofs, *dst_ofs] {
                    buf.extend_from_slice(&v.to_be_bytes());
                }
                buf.extend_from_slice(&src.nxm_header().to_be_bytes());
                buf.extend_from_slice(&dst.nxm_header().to_be_bytes());
                finish(buf, start);
            }
            Action::Conjunction {
                id,
                clause,
                n_clauses,
            } => {
                let [i0, i1, i2, i3] = id.to_be_bytes();
                let body = [clause.wrapping_sub(1), *n_clauses, i0, i1, i2, i3];
                nx16(buf, NXAST_CONJUNCTION, body);
            }
            Action::Ct {
                commit,
                zone,
                table,
                exec,
            } => emit_ct(buf, *commit as u16, CtZone::Imm(*zone), *table, 0, exec),
            Action::CtExt {
                commit,
                force,
                zone,
                table,
                alg,
                exec,
            } => {
                let mut flags = 0;
                if *commit {
                    flags |= NX_CT_F_COMMIT;
                }
                if *force {
                    flags |= NX_CT_F_FORCE;
                }
                emit_ct(buf, flags, *zone, *table, *alg, exec)
            }
            Action::Nat(n) => emit_nat(buf, n),
            Action::Learn(l) => emit_learn(buf, l),
            Action::StackPush { field, ofs, n_bits } | Action::StackPop { field, ofs, n_bits } => {
                let subtype = if matches!(self, Action::StackPush { .. }) {
                    NXAST_STACK_PUSH
                } else {
                    NXAST_STACK_POP
                };
                let start = nx_header(buf, subtype);
                buf.extend_from_slice(&ofs.to_be_bytes());
                buf.extend_from_slice(&field.nxm_header().to_be_bytes());
                buf.extend_from_slice(&n_bits.to_be_bytes());
                buf.extend_from_slice(&[0; 6]);
                finish(buf, start);
            }
            Action::Clone(actions) => {
                let start = nx_header(buf, NXAST_CLONE);
                buf.extend_from_slice(&[0; 6]);
                for a in actions {
                    a.emit(buf);
                }
                finish(buf, start);
            }
            Action::CheckPktLarger {
                pkt_len,
                field,
                ofs,
            } => {
                let start = nx_header(buf, NXAST_CHECK_PKT_LARGER);
                buf.extend_from_slice(&pkt_len.to_be_bytes());
                buf.extend_from_slice(&ofs.to_be_bytes());
                buf.extend_from_slice(&field.nxm_header().to_be_bytes());
                finish(buf, start);
            }
            Action::Sample {
                probability,
                collector_set_id,
                obs_domain_id,
                obs_point_id,
                sampling_port,
            } => {
                let subtype = if sampling_port.is_some() {
                    NXAST_SAMPLE2
                } else {
                    NXAST_SAMPLE
                };
                let start = nx_header(buf, subtype);
                buf.extend_from_slice(&probability.to_be_bytes());
                for v in [collector_set_id, obs_domain_id, obs_point_id] {
                    buf.extend_from_slice(&v.to_be_bytes());
                }
                if let Some(p) = sampling_port {
                    buf.extend_from_slice(&p.to_be_bytes());
                    buf.extend_from_slice(&[0; 6]);
                }
                finish(buf, start);
            }
            Action::Multipath {
                fields,
                basis,
                algorithm,
                max_link,
                arg,
                field,
                ofs,
                n_bits,
            } => {
                let start = nx_header(buf, NXAST_MULTIPATH);
                for v in [*fields, *basis, 0, *algorithm, *max_link] {
                    buf.extend_from_slice(&v.to_be_bytes());
                }
                buf.extend_from_slice(&arg.to_be_bytes());
                buf.extend_from_slice(&[0, 0]);
                buf.extend_from_slice(&ofs_nbits(*ofs, *n_bits).to_be_bytes());
                buf.extend_from_slice(&field.nxm_header().to_be_bytes());
                finish(buf, start);
            }
            Action::FinTimeout { idle, hard } => {
                let start = nx_header(buf, NXAST_FIN_TIMEOUT);
                buf.extend_from_slice(&idle.to_be_bytes());
                buf.extend_from_slice(&hard.to_be_bytes());
                finish(buf, start);
            }
            Action::OutputTrunc { port, max_len } => {
                let start = nx_header(buf, NXAST_OUTPUT_TRUNC);
                buf.extend_from_slice(&port.to_be_bytes());
                buf.extend_from_slice(&max_len.to_be_bytes());
                finish(buf, start);
            }
            Action::DecTtlIds(ids) => {
                let start = nx_header(buf, NXAST_DEC_TTL_CNT_IDS);
                buf.extend_from_slice(&(ids.len() as u16).to_be_bytes());
                buf.extend_from_slice(&[0; 4]);
                for id in ids {
                    buf.extend_from_slice(&id.to_be_bytes());
                }
                finish(buf, start);
            }
            Action::Resubmit { table } => {
                let [p0, p1] = NX_IN_PORT.to_be_bytes();
                nx16(buf, NXAST_RESUBMIT_TABLE, [p0, p1, *table, 0, 0, 0]);
            }
            Action::Note(bytes) => {
                let start = nx_header(buf, NXAST_NOTE);
                buf.extend_from_slice(bytes);
                finish(buf, start);
            }
            Action::Controller {
                max_len,
                reason,
                id,
            } => {
                let start = nx_header(buf, NXAST_CONTROLLER);
                buf.extend_from_slice(&max_len.to_be_bytes());
                buf.extend_from_slice(&id.to_be_bytes());
                buf.push(*reason);
                finish(buf, start);
            }
            Action::Controller2 {
                max_len,
                reason,
                id,
                userdata,
                pause,
                meter_id,
            } => {
                let start = nx_header(buf, NXAST_CONTROLLER2);
                buf.extend_from_slice(&[0; 6]);
                // Each property: type, length without padding, value, zero-padded to 8 bytes
                // (OVS `ofpprop_put`).
                let mut prop = |kind: u16, value: &[u8]| {
                    let p = buf.len();
                    buf.extend_from_slice(&kind.to_be_bytes());
                    buf.extend_from_slice(&len16(value.len() + 4));
                    buf.extend_from_slice(value);
                    pad_to_8(buf, p);
                };
                // OVS's `ofpprop_put_u16` writes a u16 with two bytes of padding inside the
                // property (length 8), its `ofpprop_put_u8` a bare byte (length 5).
                let u16_prop = |v: u16| {
                    let [a, b] = v.to_be_bytes();
                    [a, b, 0, 0]
                };
                if *max_len != u16::MAX {
                    prop(NXAC2PT_MAX_LEN, &u16_prop(*max_len));
                }
                if *id != 0 {
                    prop(NXAC2PT_CONTROLLER_ID, &u16_prop(*id));
                }
                if *reason != 1 {
                    prop(NXAC2PT_REASON, &[*reason]);
                }
                if !userdata.is_empty() {
                    prop(NXAC2PT_USERDATA, userdata);
                }
                if *pause {
                    prop(NXAC2PT_PAUSE, &[]);
                }
                if let Some(meter) = meter_id {
                    prop(NXAC2PT_METER_ID, &meter.to_be_bytes());
                }
                finish(buf, start);
            }
            Action::Bundle(_)
            | Action::OutputReg2 { .. }
            | Action::CopyField { .. }
            | Action::SampleDir { .. }
            | Action::SetTunMetadata { .. } => ext::emit(self, buf),
            Action::Raw { kind, body } => {
                buf.extend_from_slice(&kind.to_be_bytes());
                buf.extend_from_slice(&len16(body.len() + 4));
                buf.extend_from_slice(body);
            }
        }
    }

    /// Length of [`Action::emit`]'s output in bytes.
    pub fn buffer_len(&self) -> usize {
        let mut v = Vec::new();
        self.emit(&mut v);
        v.len()
    }
}

/// Append a list of actions.
pub fn emit_actions(actions: &[Action], buf: &mut Vec<u8>) {
    for a in actions {
        a.emit(buf);
    }
}

/// Parse actions until the reader is empty.
///
/// Errors: [`Error::BadLength`] for a length that is < 8, not a multiple of 8 or past the end;
/// [`Error::BadAction`] for a known action with an invalid body.
pub(crate) fn parse_actions(r: &mut Reader) -> Result<Vec<Action>, Error> {
    frame_actions(r)?.to_vec()
}

/// Check the framing of the action list to the end of `r` (every length at least 8, a multiple
/// of 8 and within the list) and consume it, leaving the bodies to be decoded.
///
/// Errors: [`Error::Truncated`] for a cut header, [`Error::BadLength`] for a bad length.
pub(crate) fn frame_actions<'a>(r: &mut Reader<'a>) -> Result<Actions<'a>, Error> {
    let offset = r.offset();
    let bytes = r.peek_rest();
    let mut count = 0;
    while !r.is_empty() {
        let off = r.offset();
        let len = r.peek_u16(2).ok_or_else(|| Error::Truncated {
            what: "action header",
            offset: off,
            needed: 4,
            available: r.remaining(),
        })? as usize;
        if len < 8 || !len.is_multiple_of(8) || len > r.remaining() {
            return Err(Error::BadLength {
                what: "action",
                offset: off,
                length: len,
            });
        }
        r.skip("action", len)?;
        count += 1;
    }
    Ok(Actions::new(bytes, offset, count))
}

/// Decode the next action of a framed list (see [`frame_actions`]); `None` at the end.
pub(crate) fn next_action(r: &mut Reader) -> Option<Result<Action, Error>> {
    let off = r.offset();
    let len = r.peek_u16(2)? as usize;
    if let Some(b) = r.peek_rest().get(..len) {
        // Built in the return slot: moving a decoded action costs more than decoding it.
        if let Some(a) = quick::with(b, |a| Some(Ok(a))) {
            r.advance(len);
            return a;
        }
    }
    let mut a = r.sub("action", len).ok()?;
    Some(parse_action(&mut a, off))
}

fn bad(offset: usize, reason: impl Into<String>) -> Error {
    Error::BadAction {
        offset,
        reason: reason.into(),
    }
}

fn raw(r: &Reader, all: &[u8]) -> Action {
    let _ = r;
    Action::Raw {
        kind: u16::from_be_bytes([all[0], all[1]]),
        body: all[4..].to_vec(),
    }
}

fn parse_action(r: &mut Reader, off: usize) -> Result<Action, Error> {
    let all = r.clone().rest();
    let kind = r.u16("action type")?;
    let len = r.u16("action length")? as usize;
    let fixed = |n: usize| {
        if len == n {
            Ok(())
        } else {
            Err(Error::BadLength {
                what: "action",
                offset: off,
                length: len,
            })
        }
    };
    match kind {
        OFPAT_OUTPUT => {
            fixed(16)?;
            let port = r.u32("output port")?;
            let max_len = r.u16("output max_len")?;
            Ok(Action::Output { port, max_len })
        }
        OFPAT_GROUP => {
            fixed(8)?;
            Ok(Action::Group(r.u32("group id")?))
        }
        OFPAT_DEC_NW_TTL => {
            fixed(8)?;
            Ok(Action::DecTtl)
        }
        15..=21 | 23 => {
            fixed(8)?;
            let b = r.take("action body", 4)?;
            let (b8, b16) = (b[0], u16::from_be_bytes([b[0], b[1]]));
            let pad_ok = |n: usize| b[n..].iter().all(|x| *x == 0);
            Ok(match kind {
                15 if pad_ok(1) => Action::SetMplsTtl(b8),
                16 if pad_ok(0) => Action::DecMplsTtl,
                17 if pad_ok(2) => Action::PushVlan(b16),
                18 if pad_ok(0) => Action::PopVlan,
                19 if pad_ok(2) => Action::PushMpls(b16),
                20 if pad_ok(2) => Action::PopMpls(b16),
                21 => Action::SetQueue(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
                23 if pad_ok(1) => Action::SetNwTtl(b8),
                _ => raw(r, all),
            })
        }
        OFPAT_SET_FIELD => {
            let h = r.u32("set_field OXM")?;
            let n = (h & 0xff) as usize;
            if h & 0x100 != 0 || 8 + n > len {
                return Err(bad(off, "set_field with mask or bad OXM length"));
            }
            if let Some(a) = ext::parse_set_tun_metadata(&mut r.clone(), h) {
                return Ok(a);
            }
            let Some(field) = Field::from_header(h) else {
                return Ok(raw(r, all));
            };
            if h != field.set_field_header() {
                return Ok(raw(r, all));
            }
            let v = r
                .take("set_field value", n)?
                .iter()
                .fold(0u128, |a, b| a << 8 | *b as u128);
            if r.rest().iter().any(|b| *b != 0) {
                return Err(bad(off, "nonzero set_field padding"));
            }
            if field.set_field_bits() < 128 && v >> field.set_field_bits() != 0 {
                // OVS refuses it (OFPBAC_BAD_SET_ARGUMENT); keep the bytes.
                return Ok(raw(r, all));
            }
            Ok(Action::Load {
                field,
                ofs: 0,
                n_bits: field.bits(),
                value: v,
            })
        }
        OFPAT_EXPERIMENTER => {
            let vendor = r.u32("experimenter id")?;
            if vendor == ONF_VENDOR_ID {
                return ext::parse_onf(r, off, len, all);
            }
            if vendor != NX_VENDOR_ID {
                return Ok(raw(r, all));
            }
            let subtype = r.u16("nicira subtype")?;
            parse_nicira(r, off, len, subtype, all)
        }
        _ => Ok(raw(r, all)),
    }
}

fn subfield(r: &mut Reader, off: usize) -> Result<(Option<Field>, u16, u16), Error> {
    let on = r.u16("ofs_nbits")?;
    let h = r.u32("field header")?;
    let (ofs, n_bits) = (on >> 6, (on & 0x3f) + 1);
    let field = Field::from_header(h).filter(|f| f.nxm_header() == h);
    if let Some(f) = field {
        if ofs + n_bits > f.bits() {
            return Err(bad(
                off,
                format!(
                    "bit range {}..{} outside {}-bit field",
                    ofs,
                    ofs + n_bits - 1,
                    f.bits()
                ),
            ));
        }
    }
    Ok((field, ofs, n_bits))
}

fn parse_nicira(
    r: &mut Reader,
    off: usize,
    len: usize,
    subtype: u16,
    all: &[u8],
) -> Result<Action, Error> {
    let fixed = |n: usize| {
        if len == n {
            Ok(())
        } else {
            Err(Error::BadLength {
                what: "action",
                offset: off,
                length: len,
            })
        }
    };
    match subtype {
        NXAST_REG_LOAD => {
            fixed(24)?;
            let (field, ofs, n_bits) = subfield(r, off)?;
            let value = r.u64("reg_load value")? as u128;
            let Some(field) = field else {
                return Ok(raw(r, all));
            };
            if n_bits < 64 && value >> n_bits != 0 {
                return Err(bad(off, "reg_load value wider than its bit range"));
            }
            if ofs == 0 && n_bits == field.bits() {
                Ok(Action::RegLoad {
                    field,
                    ofs,
                    n_bits,
                    value,
                })
            } else {
                Ok(Action::Load {
                    field,
                    ofs,
                    n_bits,
                    value,
                })
            }
        }
        NXAST_OUTPUT_REG => {
            fixed(24)?;
            let (field, ofs, n_bits) = subfield(r, off)?;
            let max_len = r.u16("output_reg max_len")?;
            match field {
                Some(field) if max_len == 0xffff && r.rest().iter().all(|b| *b == 0) => {
                    Ok(Action::OutputReg { field, ofs, n_bits })
                }
                _ => Ok(raw(r, all)),
            }
        }
        NXAST_REG_MOVE => {
            fixed(24)?;
            let n_bits = r.u16("reg_move n_bits")?;
            let src_ofs = r.u16("reg_move src_ofs")?;
            let dst_ofs = r.u16("reg_move dst_ofs")?;
            let src = Field::from_header(r.u32("reg_move src")?);
            let dst = Field::from_header(r.u32("reg_move dst")?);
            match (src, dst) {
                (Some(src), Some(dst))
                    if src.nxm_header()
                        == u32::from_be_bytes([all[16], all[17], all[18], all[19]])
                        && dst.nxm_header()
                            == u32::from_be_bytes([all[20], all[21], all[22], all[23]]) =>
                {
                    // In u32: the three are any u16 on the wire, and their sum may not fit.
                    let fits = |ofs: u16, f: Field| {
                        u32::from(ofs) + u32::from(n_bits) <= u32::from(f.bits())
                    };
                    if n_bits == 0 || !fits(src_ofs, src) || !fits(dst_ofs, dst) {
                        return Err(bad(off, "reg_move bit range outside its fields"));
                    }
                    Ok(Action::Move {
                        src,
                        src_ofs,
                        dst,
                        dst_ofs,
                        n_bits,
                    })
                }
                _ => Ok(raw(r, all)),
            }
        }
        NXAST_CONJUNCTION => {
            fixed(16)?;
            let clause = r.u8("conjunction clause")?;
            let n_clauses = r.u8("conjunction n_clauses")?;
            let id = r.u32("conjunction id")?;
            Ok(Action::Conjunction {
                id,
                clause: clause.wrapping_add(1),
                n_clauses,
            })
        }
        NXAST_RESUBMIT_TABLE | NXAST_RESUBMIT_TABLE_CT => {
            fixed(16)?;
            let in_port = r.u16("resubmit in_port")?;
            let table = r.u8("resubmit table")?;
            if r.rest().iter().any(|b| *b != 0) {
                return Ok(raw(r, all));
            }
            let ct = subtype == NXAST_RESUBMIT_TABLE_CT;
            // `resubmit(,T)` keeps the packet's in_port: that is Action::Resubmit, for every
            // T, so each wire form has exactly one decoded value.
            if in_port == NX_IN_PORT && !ct {
                return Ok(Action::Resubmit { table });
            }
            Ok(Action::ResubmitExt { in_port, table, ct })
        }
        NXAST_CT_CLEAR | NXAST_EXIT | NXAST_POP_QUEUE
            if len == 16 && r.rest().iter().all(|b| *b == 0) =>
        {
            Ok(match subtype {
                NXAST_EXIT => Action::Exit,
                NXAST_POP_QUEUE => Action::PopQueue,
                _ => Action::CtClear,
            })
        }
        NXAST_NOTE => Ok(Action::Note(r.rest().to_vec())),
        NXAST_CONTROLLER => {
            fixed(16)?;
            let max_len = r.u16("controller max_len")?;
            let id = r.u16("controller id")?;
            let reason = r.u8("controller reason")?;
            if r.u8("controller pad")? != 0 {
                return Ok(raw(r, all));
            }
            Ok(Action::Controller {
                max_len,
                reason,
                id,
            })
        }
        NXAST_CONTROLLER2 => {
            if r.take("controller2 pad", 6).is_err() {
                return Ok(raw(r, all));
            }
            let (mut max_len, mut reason, mut id, mut userdata) = (u16::MAX, 1u8, 0u16, Vec::new());
            let (mut pause, mut meter_id) = (false, None);
            while r.remaining() >= 4 {
                let kind = r.u16("controller2 property type")?;
                let plen = r.u16("controller2 property length")? as usize;
                let padded = plen.div_ceil(8) * 8;
                if plen < 4 || padded - 4 > r.remaining() {
                    return Ok(raw(r, all));
                }
                let body = r.take("controller2 property", padded - 4)?;
                let value = &body[..plen - 4];
                match (kind, value.len()) {
                    (NXAC2PT_MAX_LEN, 4) if value[2..] == [0, 0] => {
                        max_len = u16::from_be_bytes([value[0], value[1]])
                    }
                    (NXAC2PT_CONTROLLER_ID, 4) if value[2..] == [0, 0] => {
                        id = u16::from_be_bytes([value[0], value[1]])
                    }
                    (NXAC2PT_REASON, 1) => reason = value[0],
                    (NXAC2PT_USERDATA, _) if !value.is_empty() => userdata = value.to_vec(),
                    (NXAC2PT_PAUSE, 0) => pause = true,
                    // OVS's NX_CTLR_NO_METER (u32::MAX) is never written: keep it raw.
                    (NXAC2PT_METER_ID, 4) if value != [0xff; 4] => {
                        meter_id =
                            Some(u32::from_be_bytes([value[0], value[1], value[2], value[3]]))
                    }
                    // Unknown properties: keep the action's bytes.
                    _ => return Ok(raw(r, all)),
                }
            }
            if !r.rest().iter().all(|b| *b == 0)
                || (userdata.is_empty() && !pause && meter_id.is_none())
            {
                // Without userdata, pause or meter OVS writes NXAST_CONTROLLER; keep anything
                // else as raw so it re-emits byte for byte.
                return Ok(raw(r, all));
            }
            Ok(Action::Controller2 {
                max_len,
                reason,
                id,
                userdata,
                pause,
                meter_id,
            })
        }
        NXAST_CT => {
            if len < 24 {
                return Err(Error::BadLength {
                    what: "ct action",
                    offset: off,
                    length: len,
                });
            }
            let flags = r.u16("ct flags")?;
            let zone_src = r.u32("ct zone_src")?;
            let zone = r.u16("ct zone")?;
            let table = r.u8("ct recirc_table")?;
            r.skip("ct pad", 3)?;
            let alg = r.u16("ct alg")?;
            let exec = parse_actions(r)?;
            let plain = exec.iter().all(|a| {
                matches!(
                    a,
                    Action::Load {
                        field: Field::CtMark | Field::CtLabel,
                        ..
                    } | Action::RegLoad {
                        field: Field::CtMark | Field::CtLabel,
                        ..
                    } | Action::Move {
                        dst: Field::CtMark | Field::CtLabel,
                        ..
                    } | Action::Nat(_)
                )
            });
            if flags & !(NX_CT_F_COMMIT | NX_CT_F_FORCE) != 0 || !plain {
                return Ok(raw(r, all));
            }
            let table = (table != 0xff).then_some(table);
            let commit = flags & NX_CT_F_COMMIT != 0;
            let force = flags & NX_CT_F_FORCE != 0;
            let zone = if zone_src == 0 {
                CtZone::Imm(zone)
            } else {
                let (ofs, n_bits) = (zone >> 6, (zone & 0x3f) + 1);
                match Field::from_header(zone_src) {
                    Some(field)
                        if field.nxm_header() == zone_src && ofs + n_bits <= field.bits() =>
                    {
                        CtZone::Field { field, ofs, n_bits }
                    }
                    _ => return Ok(raw(r, all)),
                }
            };
            Ok(Action::ct(commit, force, zone, table, alg, exec))
        }
        NXAST_FIN_TIMEOUT => {
            fixed(16)?;
            let idle = r.u16("fin_timeout idle")?;
            let hard = r.u16("fin_timeout hard")?;
            if r.rest().iter().any(|b| *b != 0) {
                return Ok(raw(r, all));
            }
            Ok(Action::FinTimeout { idle, hard })
        }
        NXAST_OUTPUT_TRUNC => {
            fixed(16)?;
            let port = r.u16("output_trunc port")?;
            let max_len = r.u32("output_trunc max_len")?;
            Ok(Action::OutputTrunc { port, max_len })
        }
        NXAST_DEC_TTL_CNT_IDS => {
            let n = r.u16("dec_ttl n_controllers")? as usize;
            let zeros = r.take("dec_ttl pad", 4)?;
            if n == 0 || zeros.iter().any(|b| *b != 0) || len != (16 + 2 * n).div_ceil(8) * 8 {
                return Ok(raw(r, all));
            }
            let mut ids = Vec::with_capacity(n);
            for _ in 0..n {
                ids.push(r.u16("dec_ttl id")?);
            }
            if r.rest().iter().any(|b| *b != 0) {
                return Ok(raw(r, all));
            }
            Ok(Action::DecTtlIds(ids))
        }
        NXAST_STACK_PUSH | NXAST_STACK_POP => {
            fixed(24)?;
            let ofs = r.u16("stack offset")?;
            let h = r.u32("stack field")?;
            let n_bits = r.u16("stack n_bits")?;
            let field = Field::from_header(h).filter(|f| f.nxm_header() == h);
            match field {
                Some(field)
                    if n_bits > 0
                        && ofs as u32 + n_bits as u32 <= field.bits() as u32
                        && r.rest().iter().all(|b| *b == 0) =>
                {
                    Ok(if subtype == NXAST_STACK_PUSH {
                        Action::StackPush { field, ofs, n_bits }
                    } else {
                        Action::StackPop { field, ofs, n_bits }
                    })
                }
                _ => Ok(raw(r, all)),
            }
        }
        NXAST_CLONE => {
            if len < 16 {
                return Err(Error::BadLength {
                    what: "clone action",
                    offset: off,
                    length: len,
                });
            }
            if r.take("clone pad", 6)?.iter().any(|b| *b != 0) {
                return Ok(raw(r, all));
            }
            Ok(Action::Clone(parse_actions(r)?))
        }
        NXAST_CHECK_PKT_LARGER => {
            fixed(24)?;
            let pkt_len = r.u16("check_pkt_larger pkt_len")?;
            let ofs = r.u16("check_pkt_larger offset")?;
            let h = r.u32("check_pkt_larger dst")?;
            let field = Field::from_header(h).filter(|f| f.nxm_header() == h);
            match field {
                Some(field) if ofs < field.bits() && r.rest().iter().all(|b| *b == 0) => {
                    Ok(Action::CheckPktLarger {
                        pkt_len,
                        field,
                        ofs,
                    })
                }
                _ => Ok(raw(r, all)),
            }
        }
        NXAST_SAMPLE | NXAST_SAMPLE2 => {
            fixed(if subtype == NXAST_SAMPLE { 24 } else { 32 })?;
            let probability = r.u16("sample probability")?;
            let collector_set_id = r.u32("sample collector_set_id")?;
            let obs_domain_id = r.u32("sample obs_domain_id")?;
            let obs_point_id = r.u32("sample obs_point_id")?;
            let sampling_port = if subtype == NXAST_SAMPLE2 {
                let p = r.u16("sample sampling_port")?;
                if p == 0xffff || r.rest().iter().any(|b| *b != 0) {
                    return Ok(raw(r, all));
                }
                Some(p)
            } else {
                None
            };
            Ok(Action::Sample {
                probability,
                collector_set_id,
                obs_domain_id,
                obs_point_id,
                sampling_port,
            })
        }
        NXAST_MULTIPATH => {
            fixed(32)?;
            let fields = r.u16("multipath fields")?;
            let basis = r.u16("multipath basis")?;
            let pad1 = r.u16("multipath pad")?;
            let algorithm = r.u16("multipath algorithm")?;
            let max_link = r.u16("multipath max_link")?;
            let arg = r.u32("multipath arg")?;
            let pad2 = r.u16("multipath pad")?;
            let (field, ofs, n_bits) = subfield(r, off)?;
            match field {
                Some(field) if pad1 == 0 && pad2 == 0 && fields <= 6 && algorithm <= 3 => {
                    Ok(Action::Multipath {
                        fields,
                        basis,
                        algorithm,
                        max_link,
                        arg,
                        field,
                        ofs,
                        n_bits,
                    })
                }
                _ => Ok(raw(r, all)),
            }
        }
        NXAST_LEARN | NXAST_LEARN2 if len >= 32 => match parse_learn(r, subtype == NXAST_LEARN2) {
            Some(l) => Ok(Action::Learn(Box::new(l))),
            None => Ok(raw(r, all)),
        },
        s if ext::SUBTYPES.contains(&s) => ext::parse_nicira(r, off, len, subtype, all),
        NXAST_NAT => match parse_nat(r) {
            Some(n) if len >= 16 => Ok(Action::Nat(n)),
            _ => Ok(raw(r, all)),
        },
        _ => Ok(raw(r, all)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(a: Action, bytes: &[u8]) {
        let mut buf = vec![0xa5; 2];
        a.emit(&mut buf);
        assert_eq!(&buf[2..], bytes, "emit {a:?}");
        assert_eq!(a.buffer_len(), bytes.len());
        let got = parse_actions(&mut Reader::new(bytes, 0)).unwrap();
        assert_eq!(got, vec![a]);
    }

    #[test]
    fn conjunction_matches_ovs() {
        round_trip(
            Action::Conjunction {
                id: 1001,
                clause: 1,
                n_clauses: 2,
            },
            &[
                0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 0x22, 0, 2, 0, 0, 3, 0xe9,
            ],
        );
    }

    #[test]
    fn whole_field_load_is_set_field_and_reg_load_stays() {
        round_trip(
            Action::Load {
                field: Field::CtMark,
                ofs: 0,
                n_bits: 32,
                value: 1,
            },
            &[0, 0x19, 0, 0x10, 0, 1, 0xd6, 4, 0, 0, 0, 1, 0, 0, 0, 0],
        );
        round_trip(
            Action::RegLoad {
                field: Field::Reg(3),
                ofs: 0,
                n_bits: 32,
                value: 0x3e9,
            },
            &[
                0xff, 0xff, 0, 24, 0, 0, 0x23, 0x20, 0, 7, 0, 0x1f, 0, 1, 6, 4, 0, 0, 0, 0, 0, 0,
                3, 0xe9,
            ],
        );
    }

    #[test]
    fn resubmit_and_output_reg_match_ovs() {
        round_trip(
            Action::Resubmit { table: 1 },
            &[
                0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 0x0e, 0xff, 0xf8, 1, 0, 0, 0,
            ],
        );
        round_trip(
            Action::OutputReg {
                field: Field::Reg(1),
                ofs: 0,
                n_bits: 16,
            },
            &[
                0xff, 0xff, 0, 24, 0, 0, 0x23, 0x20, 0, 0x0f, 0, 0x0f, 0, 1, 2, 4, 0xff, 0xff, 0,
                0, 0, 0, 0, 0,
            ],
        );
    }

    #[test]
    fn move_matches_ovs() {
        // move:NXM_NX_REG0[0..15]->NXM_NX_REG1[0..15]
        round_trip(
            Action::Move {
                src: Field::Reg(0),
                src_ofs: 0,
                dst: Field::Reg(1),
                dst_ofs: 0,
                n_bits: 16,
            },
            &[
                0xff, 0xff, 0, 24, 0, 0, 0x23, 0x20, 0, 6, 0, 0x10, 0, 0, 0, 0, 0, 1, 0, 4, 0, 1,
                2, 4,
            ],
        );
    }

    #[test]
    fn unknown_action_round_trips_raw() {
        let ct_clear = [
            0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 0x2b, 0, 0, 0, 0, 0, 0,
        ];
        let got = parse_actions(&mut Reader::new(&ct_clear, 0)).unwrap();
        let mut buf = Vec::new();
        emit_actions(&got, &mut buf);
        assert_eq!(buf, ct_clear);
    }

    #[test]
    fn bad_lengths_are_errors_with_offsets() {
        let e = parse_actions(&mut Reader::new(
            &[0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0],
            100,
        ))
        .unwrap_err();
        assert!(
            matches!(
                e,
                Error::BadLength {
                    offset: 100,
                    length: 12,
                    ..
                }
            ),
            "{e}"
        );
        let e = parse_actions(&mut Reader::new(&[0, 0, 0], 7)).unwrap_err();
        assert!(matches!(e, Error::Truncated { offset: 7, .. }), "{e}");
    }
}
