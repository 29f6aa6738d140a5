//! `Display` of the actions in [`crate::flow`] as OVS's `format_*` in `lib/ofp-actions.c`
//! print them, with the sub-field syntax `NXM_NX_REG0[0..15]` they share.

use std::fmt::{self, Display, Formatter, Write};

use super::actions;
use super::learn::learn_text;
use super::nat::nat_text;
use super::values::{
    hex, nx_port_name, port_name, HASH_FIELDS, MP_ALGORITHMS, NX_IN_PORT, REASONS,
};
use crate::action::port;
use crate::flow::{Action, CtZone, Field};
use crate::oxm::ones;

pub(super) fn subfield(field: Field, ofs: u16, n_bits: u16) -> String {
    let name = field.nxm_name();
    if ofs == 0 && n_bits == field.bits() {
        format!("{name}[]")
    } else if n_bits == 1 {
        format!("{name}[{ofs}]")
    } else {
        // i64: an empty slice (n_bits 0, only built by hand) prints as `[ofs..ofs-1]` rather
        // than underflowing.
        format!("{name}[{ofs}..{}]", ofs as i64 + n_bits as i64 - 1)
    }
}

/// An action list as `ovs-ofctl` prints it: comma-separated, `drop` when empty. Inverse of
/// [`Action::parse_list`].
///
/// ```
/// use openflow::{text::ActionsText, Action};
/// let v = Action::parse_list("load:0x2->NXM_NX_REG0[0..3],resubmit(,1)").unwrap();
/// assert_eq!(ActionsText(&v).to_string(), "load:0x2->NXM_NX_REG0[0..3],resubmit(,1)");
/// assert_eq!(ActionsText(&[]).to_string(), "drop");
/// ```
pub struct ActionsText<'a>(pub &'a [Action]);

impl Display for ActionsText<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("drop");
        }
        write_list(f, self.0)
    }
}

pub(super) fn write_list(f: &mut Formatter<'_>, actions: &[Action]) -> fmt::Result {
    for (i, a) in actions.iter().enumerate() {
        if i > 0 {
            f.write_char(',')?;
        }
        write!(f, "{a}")?;
    }
    Ok(())
}

/// OVS `format_CT`: flags, table, zone, a leading `nat` outside `exec(...)`, the rest inside,
/// then `alg`.
fn ct_text(
    f: &mut Formatter<'_>,
    commit: bool,
    force: bool,
    table: Option<u8>,
    zone: CtZone,
    alg: u16,
    exec: &[Action],
) -> fmt::Result {
    let mut parts = Vec::new();
    if commit {
        parts.push("commit".to_string());
    }
    if force {
        parts.push("force".to_string());
    }
    if let Some(t) = table {
        parts.push(format!("table={t}"));
    }
    match zone {
        CtZone::Imm(0) => {}
        CtZone::Imm(z) => parts.push(format!("zone={z}")),
        CtZone::Field { field, ofs, n_bits } => {
            parts.push(format!("zone={}", subfield(field, ofs, n_bits)))
        }
    }
    let mut rest = exec;
    if let Some((first @ Action::Nat(_), tail)) = exec.split_first() {
        parts.push(first.to_string());
        rest = tail;
    }
    if !rest.is_empty() {
        let inner: Vec<String> = rest.iter().map(|a| a.to_string()).collect();
        parts.push(format!("exec({})", inner.join(",")));
    }
    match alg {
        0 => {}
        21 => parts.push("alg=ftp".into()),
        69 => parts.push("alg=tftp".into()),
        a => parts.push(format!("alg={a}")),
    }
    write!(f, "ct({})", parts.join(","))
}

impl Display for Action {
    /// ovs-ofctl action syntax, e.g. `load:0x3e9->NXM_NX_REG3[]`, `ct(commit,table=4,zone=65520)`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Action::Bundle(_) | Action::SampleDir { .. } | Action::SetTunMetadata { .. } => {
                actions::fmt(f, self).unwrap_or(Ok(()))
            }
            Action::Output {
                port: port::CONTROLLER,
                max_len,
            } => write!(f, "CONTROLLER:{max_len}"),
            Action::Output { port, .. } if *port < port::MAX => write!(f, "output:{port}"),
            Action::Output { port, .. } => f.write_str(&port_name(*port)),
            Action::OutputReg { field, ofs, n_bits }
            | Action::OutputReg2 { field, ofs, n_bits } => {
                write!(f, "output:{}", subfield(*field, *ofs, *n_bits))
            }
            Action::Load {
                field,
                ofs: 0,
                n_bits,
                value,
            } if *n_bits == field.bits() => {
                write!(
                    f,
                    "set_field:{}->{}",
                    field.format_value(*value),
                    field.name()
                )
            }
            Action::Load {
                field,
                ofs,
                n_bits,
                value,
            }
            | Action::RegLoad {
                field,
                ofs,
                n_bits,
                value,
            } => {
                // One `load:` per 64-bit REG_LOAD piece, as the wire form has them.
                let mut done = 0u16;
                while done < *n_bits {
                    let n = (*n_bits - done).min(64);
                    if done > 0 {
                        f.write_char(',')?;
                    }
                    let v = (*value >> done) & ones(n as u32);
                    write!(f, "load:{}->{}", hex(v), subfield(*field, ofs + done, n))?;
                    done += n;
                }
                Ok(())
            }
            Action::Move {
                src,
                src_ofs,
                dst,
                dst_ofs,
                n_bits,
            }
            | Action::CopyField {
                src,
                src_ofs,
                dst,
                dst_ofs,
                n_bits,
            } => {
                write!(
                    f,
                    "move:{}->{}",
                    subfield(*src, *src_ofs, *n_bits),
                    subfield(*dst, *dst_ofs, *n_bits)
                )
            }
            Action::Conjunction {
                id,
                clause,
                n_clauses,
            } => write!(f, "conjunction({id},{clause}/{n_clauses})"),
            Action::Ct {
                commit,
                zone,
                table,
                exec,
            } => ct_text(f, *commit, false, *table, CtZone::Imm(*zone), 0, exec),
            Action::CtExt {
                commit,
                force,
                zone,
                table,
                alg,
                exec,
            } => ct_text(f, *commit, *force, *table, *zone, *alg, exec),
            Action::Nat(n) => nat_text(f, n),
            Action::Learn(l) => learn_text(f, l),
            Action::StackPush { field, ofs, n_bits } => {
                write!(f, "push:{}", subfield(*field, *ofs, *n_bits))
            }
            Action::StackPop { field, ofs, n_bits } => {
                write!(f, "pop:{}", subfield(*field, *ofs, *n_bits))
            }
            Action::Clone(actions) if actions.is_empty() => f.write_str("clone(drop)"),
            Action::Clone(actions) => {
                f.write_str("clone(")?;
                write_list(f, actions)?;
                f.write_char(')')
            }
            Action::CheckPktLarger {
                pkt_len,
                field,
                ofs,
            } => write!(
                f,
                "check_pkt_larger({pkt_len})->{}",
                subfield(*field, *ofs, 1)
            ),
            Action::Sample {
                probability,
                collector_set_id,
                obs_domain_id,
                obs_point_id,
                sampling_port,
            } => {
                write!(f, "sample(probability={probability},collector_set_id={collector_set_id},obs_domain_id={obs_domain_id},obs_point_id={obs_point_id}")?;
                if let Some(p) = sampling_port {
                    write!(f, ",sampling_port={}", nx_port_name(*p))?;
                }
                f.write_char(')')
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
                let fields = HASH_FIELDS
                    .get(*fields as usize)
                    .map_or_else(|| fields.to_string(), |s| s.to_string());
                let alg = MP_ALGORITHMS
                    .get(*algorithm as usize)
                    .map_or_else(|| algorithm.to_string(), |s| s.to_string());
                write!(
                    f,
                    "multipath({fields},{basis},{alg},{},{arg},{})",
                    *max_link as u32 + 1,
                    subfield(*field, *ofs, *n_bits)
                )
            }
            Action::FinTimeout { idle, hard } => {
                let mut parts = Vec::new();
                if *idle != 0 {
                    parts.push(format!("idle_timeout={idle}"));
                }
                if *hard != 0 {
                    parts.push(format!("hard_timeout={hard}"));
                }
                write!(f, "fin_timeout({})", parts.join(","))
            }
            Action::OutputTrunc { port, max_len } => {
                write!(f, "output(port={},max_len={max_len})", nx_port_name(*port))
            }
            Action::DecTtlIds(ids) => {
                let ids: Vec<String> = ids.iter().map(u16::to_string).collect();
                write!(f, "dec_ttl({})", ids.join(","))
            }
            // Table 255 is "this table", which OVS prints as an empty table.
            Action::Resubmit { table: 0xff } => f.write_str("resubmit(,)"),
            Action::Resubmit { table } => write!(f, "resubmit(,{table})"),
            Action::Note(bytes) => {
                let h: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
                write!(f, "note:{}", h.join("."))
            }
            Action::Controller {
                max_len,
                reason,
                id,
            } => {
                if *reason == 1 && *id == 0 {
                    return write!(f, "CONTROLLER:{max_len}");
                }
                let mut parts = Vec::new();
                if *reason != 1 {
                    parts.push(match REASONS.get(*reason as usize) {
                        Some(r) => format!("reason={r}"),
                        None => format!("reason={reason}"),
                    });
                }
                if *max_len != u16::MAX {
                    parts.push(format!("max_len={max_len}"));
                }
                if *id != 0 {
                    parts.push(format!("id={id}"));
                }
                write!(f, "controller({})", parts.join(","))
            }
            Action::Controller2 {
                max_len,
                reason,
                id,
                userdata,
                pause,
                meter_id,
            } => {
                let mut parts = Vec::new();
                if *reason != 1 {
                    parts.push(match REASONS.get(*reason as usize) {
                        Some(r) => format!("reason={r}"),
                        None => format!("reason={reason}"),
                    });
                }
                if *max_len != u16::MAX {
                    parts.push(format!("max_len={max_len}"));
                }
                if *id != 0 {
                    parts.push(format!("id={id}"));
                }
                if !userdata.is_empty() {
                    let h: Vec<String> = userdata.iter().map(|b| format!("{b:02x}")).collect();
                    parts.push(format!("userdata={}", h.join(".")));
                }
                if *pause {
                    parts.push("pause".to_string());
                }
                if let Some(m) = meter_id {
                    parts.push(format!("meter_id={m}"));
                }
                write!(f, "controller({})", parts.join(","))
            }
            Action::Group(g) => write!(f, "group:{g}"),
            Action::SetMplsTtl(t) => write!(f, "set_mpls_ttl({t})"),
            Action::DecMplsTtl => f.write_str("dec_mpls_ttl"),
            Action::PushVlan(e) => write!(f, "push_vlan:{e:#06x}"),
            Action::PopVlan => f.write_str("pop_vlan"),
            Action::PushMpls(e) => write!(f, "push_mpls:{e:#06x}"),
            Action::PopMpls(e) => write!(f, "pop_mpls:{e:#06x}"),
            Action::SetQueue(q) => write!(f, "set_queue:{q}"),
            Action::SetNwTtl(t) => write!(f, "mod_nw_ttl:{t}"),
            Action::CtClear => f.write_str("ct_clear"),
            Action::Exit => f.write_str("exit"),
            Action::PopQueue => f.write_str("pop_queue"),
            // As OVS's `format_RESUBMIT`: the `resubmit:PORT` form only with a port, so
            // in_port=IN_PORT table=255 prints `resubmit(,)`, which parses back.
            Action::ResubmitExt {
                in_port,
                table: 0xff,
                ct: false,
            } if *in_port != NX_IN_PORT => write!(f, "resubmit:{}", nx_port_name(*in_port)),
            Action::ResubmitExt { in_port, table, ct } => {
                f.write_str("resubmit(")?;
                if *in_port != NX_IN_PORT {
                    f.write_str(&nx_port_name(*in_port))?;
                }
                f.write_char(',')?;
                if *table != 0xff {
                    write!(f, "{table}")?;
                }
                f.write_str(if *ct { ",ct)" } else { ")" })
            }
            Action::DecTtl => f.write_str("dec_ttl"),
            Action::Raw { kind, body } => {
                let h: String = body.iter().map(|b| format!("{b:02x}")).collect();
                write!(f, "raw({kind:#06x},{h})")
            }
        }
    }
}
