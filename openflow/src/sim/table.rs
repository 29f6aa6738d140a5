//! The flow tables and the flow_mod commands on them (OF1.3 §6.4, with OVS's ADD-replaces and
//! mask normalisation).

use std::sync::Arc;

use crate::action::port;
use crate::flow::{Action, Field, FlowMod, FlowModCommand, Instruction, Match};
use crate::oxm::Fid;

use super::SimError;

/// Number of flow tables (0..=254; 255 means "all" in DELETE).
pub const N_TABLES: usize = 255;
/// `table_id` meaning every table (OFPTT_ALL).
pub const TABLE_ALL: u8 = 0xff;

/// One `conjunction(id, clause/n_clauses)` action of a soft-match flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Conj {
    pub(crate) id: u32,
    pub(crate) clause: u8,
    pub(crate) n_clauses: u8,
}

/// An installed flow, with its match flattened to `(field, value, mask)` for lookup.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) priority: u16,
    pub(crate) cookie: u64,
    /// Canonical match (as OVS stores it).
    pub(crate) r#match: Match,
    /// `(field, value & mask, mask)`, mask all-ones for exact fields.
    pub(crate) fields: Vec<(Fid, u128, u128)>,
    pub(crate) instructions: Arc<[Instruction]>,
    /// Non-empty iff this is a conjunction (soft-match) flow.
    pub(crate) conj: Vec<Conj>,
    /// `ovs-ofctl dump-flows` text, made once on install.
    pub(crate) text: Arc<str>,
}

impl Entry {
    fn new(table: u8, fm: &FlowMod) -> Result<Entry, SimError> {
        let r#match = fm.r#match.canonical();
        let fields = flatten(table, &r#match)?;
        // Decoded once, in canonical (emit) order.
        let instructions = fm.instructions.to_vec();
        let conj = validate(table, &instructions)?;
        let mut shown = fm.canonical();
        shown.table_id = table;
        shown.command = FlowModCommand::Add;
        Ok(Entry {
            priority: fm.priority,
            cookie: fm.cookie,
            r#match,
            fields,
            instructions: instructions.into(),
            conj,
            text: shown.to_string().into(),
        })
    }

    /// Whether a flow_mod's (loose) match selects this flow: every field the flow_mod names is
    /// at least as constrained here, with the same bits (OVS `cls_rule_is_loose_match`).
    fn covered_by(&self, loose: &[(Fid, u128, u128)]) -> bool {
        loose.iter().all(|(fid, v, m)| {
            self.fields
                .iter()
                .any(|(f, ev, em)| f == fid && em & m == *m && ev & m == *v)
        })
    }

    fn outputs_to(&self, out_port: u32) -> bool {
        let hit = |a: &Action| matches!(a, Action::Output { port, .. } if *port == out_port);
        self.instructions.iter().any(|i| match i {
            Instruction::ApplyActions(a) | Instruction::WriteActions(a) => a.iter().any(hit),
            _ => false,
        })
    }
}

/// A canonical match as `(field, value & mask, mask)`, mask all-ones for exact fields.
///
/// Errors: [`SimError::UnsupportedField`] for a [`crate::MatchField::Raw`], which OVS refuses
/// (OFPBMC_BAD_FIELD) and the fake switch could not evaluate.
fn flatten(table: u8, m: &Match) -> Result<Vec<(Fid, u128, u128)>, SimError> {
    m.fields()
        .map(|f| {
            let (fid, v, m) = f.parts().ok_or_else(|| SimError::UnsupportedField {
                table,
                field: Match::from([f.clone()]).to_string(),
            })?;
            let m = m.unwrap_or(u128::MAX);
            Ok((fid, v & m, m))
        })
        .collect()
}

fn bit_range(table: u8, field: Field, ofs: u16, n_bits: u16) -> Result<(), SimError> {
    if matches!(field, Field::Nxm(_))
        && field.registers().is_none()
        && !super::switch::MODELLED.contains(&field)
    {
        return Err(SimError::UnsupportedField {
            table,
            field: field.name(),
        });
    }
    if n_bits == 0 || ofs + n_bits > field.bits() {
        return Err(SimError::BadBitRange {
            table,
            ofs,
            n_bits,
            bits: field.bits(),
        });
    }
    Ok(())
}

fn validate_action(table: u8, a: &Action, in_ct: bool) -> Result<(), SimError> {
    match a {
        Action::Load {
            field, ofs, n_bits, ..
        }
        | Action::RegLoad {
            field, ofs, n_bits, ..
        }
        | Action::OutputReg { field, ofs, n_bits } => bit_range(table, *field, *ofs, *n_bits),
        Action::Move {
            src,
            src_ofs,
            dst,
            dst_ofs,
            n_bits,
        } => {
            bit_range(table, *src, *src_ofs, *n_bits)?;
            bit_range(table, *dst, *dst_ofs, *n_bits)
        }
        Action::Ct { commit, exec, .. } => {
            let bad = |reason: &str| SimError::BadCt {
                table,
                reason: reason.into(),
            };
            if in_ct {
                return Err(bad("ct inside ct"));
            }
            if !exec.is_empty() && !commit {
                return Err(bad("exec without commit"));
            }
            for e in exec {
                let dst = match e {
                    Action::Load { field, .. } | Action::RegLoad { field, .. } => *field,
                    Action::Move { dst, .. } => *dst,
                    other => return Err(bad(&format!("{other} in exec"))),
                };
                if !matches!(dst, Field::CtMark | Field::CtLabel) {
                    return Err(bad("exec may only set ct_mark or ct_label"));
                }
                validate_action(table, e, true)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Checks what OVS checks cheaply; returns the conjunction actions of a soft-match flow.
fn validate(table: u8, instructions: &[Instruction]) -> Result<Vec<Conj>, SimError> {
    let mut conj = Vec::new();
    let mut others = 0;
    for i in instructions {
        match i {
            Instruction::GotoTable(t) if *t <= table => {
                return Err(SimError::GotoBackward { table, target: *t })
            }
            Instruction::GotoTable(t) if *t as usize >= N_TABLES => {
                return Err(SimError::BadTable(*t))
            }
            Instruction::ApplyActions(acts) | Instruction::WriteActions(acts) => {
                for a in acts.iter() {
                    if let Action::Conjunction {
                        id,
                        clause,
                        n_clauses,
                    } = a
                    {
                        if !(2..=64).contains(n_clauses) || *clause == 0 || clause > n_clauses {
                            return Err(SimError::BadConjunction {
                                table,
                                reason: format!("clause {clause}/{n_clauses}"),
                            });
                        }
                        conj.push(Conj {
                            id: *id,
                            clause: *clause,
                            n_clauses: *n_clauses,
                        });
                    } else {
                        validate_action(table, a, false)?;
                        others += 1;
                    }
                }
            }
            Instruction::Experimenter { .. } | Instruction::Unknown { .. } => {
                return Err(SimError::UnknownInstruction {
                    table,
                    kind: i.kind(),
                })
            }
            _ => others += 1,
        }
    }
    if !conj.is_empty() && (others > 0 || instructions.len() > 1) {
        return Err(SimError::BadConjunction {
            table,
            reason: "conjunction mixed with other actions".into(),
        });
    }
    Ok(conj)
}

/// All flow tables: per table, flows sorted by descending priority.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tables {
    pub(crate) tables: Vec<Vec<Arc<Entry>>>,
}

impl Tables {
    pub(crate) fn new() -> Tables {
        Tables {
            tables: (0..N_TABLES).map(|_| Vec::new()).collect(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.tables.iter().map(Vec::len).sum()
    }

    /// Executes a flow_mod; returns the number of flows added, changed or removed.
    pub(crate) fn apply(&mut self, fm: &FlowMod) -> Result<usize, SimError> {
        use FlowModCommand as C;
        let one_table = || {
            if fm.table_id as usize >= N_TABLES {
                Err(SimError::BadTable(fm.table_id))
            } else {
                Ok(fm.table_id)
            }
        };
        match fm.command {
            C::Add => {
                let t = one_table()?;
                let e = Arc::new(Entry::new(t, fm)?);
                let flows = &mut self.tables[t as usize];
                if let Some(old) = flows
                    .iter_mut()
                    .find(|o| o.priority == e.priority && o.r#match == e.r#match)
                {
                    *old = e;
                } else {
                    let at = flows.partition_point(|o| o.priority >= e.priority);
                    flows.insert(at, e);
                }
                Ok(1)
            }
            C::Modify | C::ModifyStrict | C::Delete | C::DeleteStrict => {
                let strict = matches!(fm.command, C::ModifyStrict | C::DeleteStrict);
                let delete = matches!(fm.command, C::Delete | C::DeleteStrict);
                let canon = fm.r#match.canonical();
                let loose = flatten(fm.table_id, &canon)?;
                let selects = |e: &Entry| {
                    (e.cookie & fm.cookie_mask) == (fm.cookie & fm.cookie_mask)
                        && (fm.out_port == port::ANY || !delete || e.outputs_to(fm.out_port))
                        && if strict {
                            e.priority == fm.priority && e.r#match == canon
                        } else {
                            e.covered_by(&loose)
                        }
                };
                let range = if fm.table_id == TABLE_ALL {
                    0..N_TABLES
                } else {
                    let t = one_table()? as usize;
                    t..t + 1
                };
                let mut n = 0;
                for t in range {
                    let flows = &mut self.tables[t];
                    if delete {
                        let before = flows.len();
                        flows.retain(|e| !selects(e));
                        n += before - flows.len();
                    } else {
                        for e in flows.iter_mut() {
                            if selects(e) {
                                let mut m = fm.clone();
                                m.r#match = e.r#match.clone();
                                m.priority = e.priority;
                                m.cookie = e.cookie;
                                *e = Arc::new(Entry::new(t as u8, &m)?);
                                n += 1;
                            }
                        }
                    }
                }
                Ok(n)
            }
        }
    }
}
