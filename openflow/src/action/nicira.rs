//! Reading Nicira (NXAST_*) actions.

use super::*;

pub(super) fn subfield(r: &mut Reader, off: usize) -> Result<(Option<Field>, u16, u16), Error> {
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

pub(super) fn parse_nicira(
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
