//! `learn` (NXAST_LEARN, NXAST_LEARN2): written and read.

use super::*;

pub(super) fn emit_learn(buf: &mut Vec<u8>, l: &Learn) {
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
pub(super) fn learn_field(r: &mut Reader, n_bits: u16) -> Option<(Field, u16)> {
    let h = r.u32("learn field").ok()?;
    let ofs = r.u16("learn ofs").ok()?;
    field_at(h, ofs, n_bits)
}

/// A field header read from `r` whose bit offset `ofs` came earlier in the action.
pub(super) fn learn_field_at(r: &mut Reader, ofs: u16, n_bits: u16) -> Option<(Field, u16)> {
    field_at(r.u32("learn field").ok()?, ofs, n_bits)
}

/// The field with Nicira header `h` (exactly the header we would write) if `ofs..ofs+n_bits`
/// fits in it.
pub(super) fn field_at(h: u32, ofs: u16, n_bits: u16) -> Option<(Field, u16)> {
    let field = Field::from_header(h).filter(|f| f.nxm_header() == h)?;
    (ofs as u32 + n_bits as u32 <= field.bits() as u32).then_some((field, ofs))
}

/// Decode a LEARN or (`learn2`) LEARN2 body (after the subtype); `None` for forms the model
/// does not express.
pub(super) fn parse_learn(r: &mut Reader, learn2: bool) -> Option<Learn> {
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
