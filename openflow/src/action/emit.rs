//! Writing actions: [`Action::emit`] and the helpers the ct and learn writers share.

use super::*;

/// Fixed 8-byte standard actions with a small argument: (type, argument bytes).
pub(super) fn std8(buf: &mut Vec<u8>, kind: u16, arg: &[u8]) {
    buf.extend_from_slice(&kind.to_be_bytes());
    buf.extend_from_slice(&[0, 8]);
    let mut body = [0u8; 4];
    body[..arg.len()].copy_from_slice(arg);
    buf.extend_from_slice(&body);
}

pub(super) fn ofs_nbits(ofs: u16, n_bits: u16) -> u16 {
    ofs << 6 | (n_bits.saturating_sub(1) & 0x3f)
}

pub(super) fn nx_header(buf: &mut Vec<u8>, subtype: u16) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&OFPAT_EXPERIMENTER.to_be_bytes());
    buf.extend_from_slice(&[0, 0]);
    buf.extend_from_slice(&NX_VENDOR_ID.to_be_bytes());
    buf.extend_from_slice(&subtype.to_be_bytes());
    start
}

pub(super) fn finish(buf: &mut Vec<u8>, start: usize) {
    pad_to_8(buf, start);
    let len = buf.len() - start;
    put_len_at(buf, start + 2, len);
}

/// A 16-byte Nicira action: its header and `body` (the 6 bytes after the subtype, zero-padded).
/// One fixed-size write, as the common actions are emitted in bulk.
#[inline]
pub(super) fn nx16(buf: &mut Vec<u8>, subtype: u16, body: [u8; 6]) {
    let [v0, v1, v2, v3] = NX_VENDOR_ID.to_be_bytes();
    let [s0, s1] = subtype.to_be_bytes();
    let [b0, b1, b2, b3, b4, b5] = body;
    buf.extend_from_slice(&[
        0xff, 0xff, 0, 16, v0, v1, v2, v3, s0, s1, b0, b1, b2, b3, b4, b5,
    ]);
}

pub(super) fn emit_reg_load(buf: &mut Vec<u8>, field: Field, ofs: u16, n_bits: u16, value: u128) {
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
pub(super) fn emit_set_field(buf: &mut Vec<u8>, field: Field, value: u128) {
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

impl Action {
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
