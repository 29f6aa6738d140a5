//! `FromStr` side of the actions: one `ovs-ofctl` action into [`Action`]s (OVS `ofpacts_parse`
//! in `lib/ofp-actions.c`); `set_field` with a mask becomes one load per run of mask bits.

use std::str::FromStr;

use super::actions;
use super::learn::parse_learn;
use super::lex::hex_u8;
use super::nat::parse_nat;
use super::syntax::{
    action_head, bit_range, conjunction_args, ct_option, is_nat, kv_pair, masked, paren_body,
    pieces, resubmit_args, split_at, subfield, whole, BitRange, CtOption,
};
use super::values::{
    num, nx_port, parse_field_value, parse_port, perr, split_top, HASH_FIELDS, MP_ALGORITHMS,
    NX_IN_PORT, PORT_NAMES, REASONS,
};
use crate::action::port;
use crate::flow::{Action, CtZone, Field};
use crate::oxm::ones;
use crate::Error;

/// `NAME[a..b]`, `NAME[n]`, `NAME[]` or a bare `NAME` (the whole field, as `ovs-ofctl` reads
/// `load:1->reg0`) → (field, ofs, n_bits).
pub(super) fn parse_subfield(s: &str) -> Result<(Field, u16, u16), Error> {
    let (name, range) = subfield(s);
    let field = Field::parse_name(name).ok_or_else(|| perr(s, "unknown field"))?;
    let range = match range {
        None => BitRange::Whole,
        Some(r) => bit_range(r).ok_or_else(|| perr(s, "missing ]"))?,
    };
    let (ofs, end) = match range {
        BitRange::Whole => (0, field.bits() - 1),
        BitRange::Span(a, b) => (num(a)?, num(b)?),
        BitRange::Bit(n) => {
            let n = num(n)?;
            (n, n)
        }
    };
    if end < ofs || end >= field.bits() {
        return Err(perr(s, "bit range outside the field"));
    }
    Ok((field, ofs, end - ofs + 1))
}

/// `set_field:V[/M]->F`: whole field → one Load; masked → one Load per contiguous run of mask
/// bits (what OVS encodes as REG_LOADs).
fn parse_set_field(s: &str, arg: &str) -> Result<Vec<Action>, Error> {
    let (val, dst) =
        split_at(arg, "->").ok_or_else(|| perr(s, "expected set_field:VALUE->FIELD"))?;
    if let Some(a) = actions::parse_set_tun_metadata(val, dst)? {
        return Ok(vec![a]);
    }
    let field = Field::parse_name(dst).ok_or_else(|| perr(s, "unknown set_field destination"))?;
    let (v, m) = match masked(val) {
        (v, Some(m)) => (
            parse_field_value(field, v)?,
            Some(parse_field_value(field, m)?),
        ),
        (v, None) => (parse_field_value(field, v)?, None),
    };
    let all = ones(field.bits() as u32);
    if m.is_none() {
        let width = ones(field.set_field_bits() as u32);
        if v & !width != 0 {
            // OVS: "VALUE is not a valid value for field F".
            return Err(perr(s, "value is not valid for the field (wider than it)"));
        }
        return Ok(vec![Action::Load {
            field,
            ofs: 0,
            n_bits: field.bits(),
            value: v,
        }]);
    }
    let m = m.unwrap_or(all) & all;
    if m == all {
        return Ok(vec![Action::Load {
            field,
            ofs: 0,
            n_bits: field.bits(),
            value: v & all,
        }]);
    }
    let mut out = Vec::new();
    let mut bit = 0u32;
    while bit < field.bits() as u32 {
        if m >> bit & 1 == 0 {
            bit += 1;
            continue;
        }
        let start = bit;
        // OVS's `next_load_segment`: a run of mask bits, at most 64 (one REG_LOAD).
        while bit < field.bits() as u32 && m >> bit & 1 == 1 && bit - start < 64 {
            bit += 1;
        }
        let n = bit - start;
        out.push(Action::Load {
            field,
            ofs: start as u16,
            n_bits: n as u16,
            value: (v >> start) & ones(n),
        });
    }
    Ok(out)
}

/// The actions of `ct(...,exec(ACTIONS))`: `nat` and the writes of conntrack's own mark and
/// label (OVS: "ct action doesn't support nested modification of reg0").
fn parse_ct_exec(body: &str) -> Result<Vec<Action>, Error> {
    let mut exec = Vec::new();
    for x in split_top(body) {
        if is_nat(x) {
            exec.push(Action::Nat(parse_nat(x)?));
            continue;
        }
        let acts = parse_action(x)?;
        let ct_field = |f: &Field| matches!(f, Field::CtMark | Field::CtLabel);
        if !acts.iter().all(|a| match a {
            Action::Load { field, .. } | Action::RegLoad { field, .. } => ct_field(field),
            Action::Move { dst, .. } => ct_field(dst),
            _ => false,
        }) {
            return Err(perr(x, "ct exec only sets ct_mark or ct_label"));
        }
        exec.extend(acts);
    }
    Ok(exec)
}

impl FromStr for Action {
    type Err = Error;

    /// One action in `ovs-ofctl` syntax, e.g. `output:3`,
    /// `ct(commit,zone=5,exec(load:0x1->NXM_NX_CT_MARK[]))`, and `nat(...)` (which OVS only
    /// takes inside `ct(...)`). Inverse of `Display`: `a.to_string().parse() == Ok(a)` for
    /// every action except [`Action::Raw`] and a `load` wider than 64 bits, which print as
    /// several.
    ///
    /// Errors: [`Error::Parse`] for text that is not an action, or that stands for several
    /// (a masked `set_field` is one load per run of mask bits; read those with
    /// [`Action::parse_list`]). Source: OVS `lib/ofp-actions.c` `ofpacts_parse`.
    fn from_str(s: &str) -> Result<Action, Error> {
        let s = s.trim();
        if is_nat(s) {
            return Ok(Action::Nat(parse_nat(s)?));
        }
        let mut v = parse_action(s)?;
        if v.len() == 1 {
            Ok(v.remove(0))
        } else {
            Err(perr(
                s,
                format!("stands for {} actions; use Action::parse_list", v.len()),
            ))
        }
    }
}

impl Action {
    /// A comma-separated action list in `ovs-ofctl` syntax, as in `actions=` but without
    /// instructions: `load:0x1->NXM_NX_REG0[],resubmit(,2)`; `drop` (alone) is the empty
    /// list. Inverse of [`ActionsText`](super::ActionsText).
    ///
    /// Errors: [`Error::Parse`] naming the offending action (an instruction such as
    /// `goto_table:N` is one). Source: OVS `lib/ofp-actions.c` `ofpacts_parse`.
    pub fn parse_list(s: &str) -> Result<Vec<Action>, Error> {
        let items = split_top(s);
        if items == ["drop"] {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(items.len());
        for it in items {
            if it == "drop" {
                return Err(perr(
                    s,
                    "\"drop\" must not be accompanied by any other action",
                ));
            }
            out.extend(parse_action(it)?);
        }
        Ok(out)
    }
}

pub(super) fn parse_action<'a>(s: &'a str) -> Result<Vec<Action>, Error> {
    let one = |a| Ok(vec![a]);
    let (key, arg) = whole(s, action_head).unwrap_or((s, None));
    let paren = |a: &'a str| -> Result<&'a str, Error> {
        paren_body(a).ok_or_else(|| perr(s, "expected (...)"))
    };
    match (key.to_ascii_lowercase().as_str(), arg) {
        ("output", Some(a)) if a.starts_with('(') => {
            let (mut port, mut max_len) = (None, None);
            for kv in split_top(paren(a)?) {
                match kv_pair(kv) {
                    Some(("port", v)) => port = Some(nx_port(v)?),
                    Some(("max_len", v)) => max_len = Some(num(v)?),
                    _ => return Err(perr(s, "expected output(port=N,max_len=M)")),
                }
            }
            match (port, max_len) {
                (Some(port), Some(max_len)) => one(Action::OutputTrunc { port, max_len }),
                _ => Err(perr(s, "output(...) needs port and max_len")),
            }
        }
        ("push" | "pop", Some(a)) => {
            let (field, ofs, n_bits) = parse_subfield(a)?;
            one(if key.eq_ignore_ascii_case("push") {
                Action::StackPush { field, ofs, n_bits }
            } else {
                Action::StackPop { field, ofs, n_bits }
            })
        }
        ("clone", Some(a)) => {
            let mut actions = Vec::new();
            for x in split_top(paren(a)?) {
                if x != "drop" {
                    actions.extend(parse_action(x)?);
                }
            }
            one(Action::Clone(actions))
        }
        ("check_pkt_larger", Some(a)) => {
            let (n, dst) = split_at(a, "->")
                .ok_or_else(|| perr(s, "expected check_pkt_larger(N)->FIELD[bit]"))?;
            let (field, ofs, n_bits) = parse_subfield(dst)?;
            if n_bits != 1 {
                return Err(perr(s, "check_pkt_larger writes one bit"));
            }
            one(Action::CheckPktLarger {
                pkt_len: num(paren(n)?)?,
                field,
                ofs,
            })
        }
        ("sample", Some(a)) => {
            let (mut probability, mut c, mut d, mut o, mut sp) = (None, 0, 0, 0, None);
            let mut egress = None;
            for kv in split_top(paren(a)?) {
                match kv_pair(kv) {
                    None if kv == "ingress" || kv == "egress" => egress = Some(kv == "egress"),
                    Some(("probability", v)) => probability = Some(num(v)?),
                    Some(("collector_set_id", v)) => c = num(v)?,
                    Some(("obs_domain_id", v)) => d = num(v)?,
                    Some(("obs_point_id", v)) => o = num(v)?,
                    Some(("sampling_port", v)) => sp = Some(nx_port(v)?),
                    _ => return Err(perr(s, format!("unsupported sample option {kv:?}"))),
                }
            }
            let probability = probability.ok_or_else(|| perr(s, "sample needs probability"))?;
            if let Some(egress) = egress {
                return one(Action::SampleDir {
                    probability,
                    collector_set_id: c,
                    obs_domain_id: d,
                    obs_point_id: o,
                    sampling_port: sp.filter(|p| *p != 0xffff),
                    egress,
                });
            }
            one(Action::Sample {
                probability,
                collector_set_id: c,
                obs_domain_id: d,
                obs_point_id: o,
                sampling_port: sp.filter(|p| *p != 0xffff),
            })
        }
        ("multipath", Some(a)) => {
            let inner = paren(a)?;
            let v = split_top(inner);
            let [fields, basis, alg, n_links, arg, dst] = v[..] else {
                return Err(perr(
                    s,
                    "expected multipath(fields,basis,alg,n_links,arg,dst)",
                ));
            };
            let fields = HASH_FIELDS
                .iter()
                .position(|x| *x == fields)
                .ok_or_else(|| perr(s, "unknown multipath fields"))?
                as u16;
            let algorithm = MP_ALGORITHMS
                .iter()
                .position(|x| *x == alg)
                .ok_or_else(|| perr(s, "unknown multipath algorithm"))?
                as u16;
            let n_links: u32 = num(n_links)?;
            if !(1..=65536).contains(&n_links) {
                return Err(perr(s, "multipath n_links out of range"));
            }
            let (field, ofs, n_bits) = parse_subfield(dst)?;
            if n_bits > 64 {
                return Err(perr(s, "multipath destination is at most 64 bits"));
            }
            one(Action::Multipath {
                fields,
                basis: num(basis)?,
                algorithm,
                max_link: (n_links - 1) as u16,
                arg: num(arg)?,
                field,
                ofs,
                n_bits,
            })
        }
        ("learn", Some(a)) => one(Action::Learn(Box::new(parse_learn(s, paren(a)?)?))),
        ("fin_timeout", Some(a)) => {
            let (mut idle, mut hard) = (0, 0);
            for kv in split_top(paren(a)?) {
                match kv_pair(kv) {
                    Some(("idle_timeout", v)) => idle = num(v)?,
                    Some(("hard_timeout", v)) => hard = num(v)?,
                    _ => return Err(perr(s, "unknown fin_timeout option")),
                }
            }
            one(Action::FinTimeout { idle, hard })
        }
        ("dec_ttl", Some(a)) => {
            let ids = split_top(paren(a)?)
                .into_iter()
                .map(num)
                .collect::<Result<Vec<u16>, _>>()?;
            if ids.is_empty() {
                return Err(perr(s, "dec_ttl(...) needs at least one id"));
            }
            one(Action::DecTtlIds(ids))
        }
        ("output", Some(a)) if a.contains('[') => {
            let (field, ofs, n_bits) = parse_subfield(a)?;
            one(Action::OutputReg { field, ofs, n_bits })
        }
        // A port number or name first (`output:in_port` is IN_PORT, as in OVS), else a bare
        // field name is the whole field (`output:reg2`).
        ("output", Some(a)) => match parse_port(a) {
            Ok(port) => one(Action::Output { port, max_len: 0 }),
            Err(e) if Field::parse_name(a).is_none() => Err(e),
            Err(_) => {
                let (field, ofs, n_bits) = parse_subfield(a)?;
                one(Action::OutputReg { field, ofs, n_bits })
            }
        },
        ("controller", None) => one(Action::Output {
            port: port::CONTROLLER,
            max_len: u16::MAX,
        }),
        ("controller", Some(a)) if !a.starts_with('(') => one(Action::Output {
            port: port::CONTROLLER,
            max_len: num(a)?,
        }),
        ("controller", Some(a)) => {
            let (mut max_len, mut reason, mut id) = (u16::MAX, 1u8, 0u16);
            let (mut userdata, mut pause, mut meter_id) = (Vec::new(), false, None);
            for kv in split_top(paren(a)?) {
                if kv == "pause" {
                    pause = true;
                    continue;
                }
                match kv_pair(kv) {
                    Some(("meter_id", v)) => meter_id = Some(num(v)?),
                    Some(("max_len", v)) => max_len = num(v)?,
                    Some(("userdata", v)) => {
                        userdata = pieces(v, '.')
                            .into_iter()
                            .map(hex_u8)
                            .collect::<Option<Vec<u8>>>()
                            .ok_or_else(|| perr(s, "userdata is hex bytes separated by dots"))?
                    }
                    Some(("id", v)) => id = num(v)?,
                    Some(("reason", v)) => {
                        reason = REASONS
                            .iter()
                            .position(|r| *r == v)
                            .ok_or_else(|| perr(s, "unknown reason"))?
                            as u8
                    }
                    _ => return Err(perr(s, "unsupported controller option")),
                }
            }
            if !userdata.is_empty() || pause || meter_id.is_some() {
                one(Action::Controller2 {
                    max_len,
                    reason,
                    id,
                    userdata,
                    pause,
                    meter_id,
                })
            } else if reason == 1 && id == 0 {
                one(Action::Output {
                    port: port::CONTROLLER,
                    max_len,
                })
            } else {
                one(Action::Controller {
                    max_len,
                    reason,
                    id,
                })
            }
        }
        ("load", Some(a)) => {
            let (v, dst) =
                split_at(a, "->").ok_or_else(|| perr(s, "expected load:VALUE->FIELD[bits]"))?;
            if let Some(a) = actions::parse_load_tun_metadata(s, v, dst)? {
                return one(a);
            }
            let (field, ofs, n_bits) = parse_subfield(dst)?;
            let value = parse_field_value(field, v)?;
            // A whole 128-bit field (`ct_label`) has no bit above its range.
            if n_bits < 128 && value >> n_bits != 0 {
                return Err(perr(s, "value does not fit the bit range"));
            }
            if n_bits > 64 {
                return Err(perr(s, "load is limited to 64 bits; use set_field"));
            }
            if ofs == 0 && n_bits == field.bits() {
                one(Action::RegLoad {
                    field,
                    ofs,
                    n_bits,
                    value,
                })
            } else {
                one(Action::Load {
                    field,
                    ofs,
                    n_bits,
                    value,
                })
            }
        }
        ("set_field", Some(a)) => parse_set_field(s, a),
        ("move", Some(a)) => {
            let (src, dst) =
                split_at(a, "->").ok_or_else(|| perr(s, "expected move:SRC[]->DST[]"))?;
            let (src, src_ofs, n) = parse_subfield(src)?;
            let (dst, dst_ofs, n2) = parse_subfield(dst)?;
            if n != n2 {
                return Err(perr(s, "source and destination widths differ"));
            }
            one(Action::Move {
                src,
                src_ofs,
                dst,
                dst_ofs,
                n_bits: n,
            })
        }
        ("conjunction", Some(a)) => {
            let (id, k, n) = conjunction_args(paren(a)?)
                .ok_or_else(|| perr(s, "expected conjunction(id,k/n)"))?;
            one(Action::Conjunction {
                id: num(id)?,
                clause: num(k)?,
                n_clauses: num(n)?,
            })
        }
        ("ct", a) => {
            let (mut commit, mut force, mut zone, mut table, mut alg, mut exec) =
                (false, false, CtZone::Imm(0), None, 0u16, Vec::new());
            if let Some(a) = a {
                for kv in split_top(paren(a)?) {
                    match ct_option(kv) {
                        Some(CtOption::Commit) => commit = true,
                        Some(CtOption::Force) => force = true,
                        Some(CtOption::Zone(z)) => {
                            zone = if z.contains('[') {
                                let (field, ofs, n_bits) = parse_subfield(z)?;
                                if n_bits > 64 {
                                    return Err(perr(s, "ct zone is at most 64 bits"));
                                }
                                CtZone::Field { field, ofs, n_bits }
                            } else {
                                CtZone::Imm(num(z)?)
                            }
                        }
                        Some(CtOption::Table(t)) => table = Some(num(t)?),
                        Some(CtOption::Alg(v)) => {
                            alg = match v {
                                "ftp" => 21,
                                "tftp" => 69,
                                _ => num(v)?,
                            }
                        }
                        Some(CtOption::Nat(n)) => exec.push(Action::Nat(parse_nat(n)?)),
                        Some(CtOption::Exec(e)) => exec.extend(parse_ct_exec(paren(e)?)?),
                        None => return Err(perr(s, format!("unsupported ct option {kv:?}"))),
                    }
                }
            }
            one(Action::ct(commit, force, zone, table, alg, exec))
        }
        ("resubmit", Some(a)) if !a.starts_with('(') => one(Action::ResubmitExt {
            in_port: nx_port(a)?,
            table: 0xff,
            ct: false,
        }),
        ("resubmit", Some(a)) => {
            let expected = || perr(s, "expected resubmit(PORT,TABLE[,ct])");
            let (p, t, ct) = resubmit_args(paren(a)?).ok_or_else(expected)?;
            let ct = match ct {
                None => false,
                Some("ct") => true,
                Some(_) => return Err(expected()),
            };
            if p.is_empty() && !ct {
                // What the decoder gives for in_port=IN_PORT, table=255 (this table).
                return one(Action::Resubmit {
                    table: if t.is_empty() { 0xff } else { num(t)? },
                });
            }
            one(Action::ResubmitExt {
                in_port: if p.is_empty() {
                    NX_IN_PORT
                } else {
                    nx_port(p)?
                },
                table: if t.is_empty() { 0xff } else { num(t)? },
                ct,
            })
        }
        ("note", Some(a)) => {
            let mut bytes = Vec::new();
            for h in pieces(a, '.').into_iter().filter(|h| !h.is_empty()) {
                bytes.push(hex_u8(h).ok_or_else(|| perr(s, "bad note byte"))?);
            }
            // OVS pads the note so the action is a multiple of 8 and prints the padding.
            bytes.resize(bytes.len() + crate::wire::pad8(bytes.len() + 10), 0);
            one(Action::Note(bytes))
        }
        ("group", Some(a)) => one(Action::Group(num(a)?)),
        ("set_mpls_ttl", Some(a)) => one(Action::SetMplsTtl(num(a.trim_matches(['(', ')']))?)),
        ("dec_mpls_ttl", None) => one(Action::DecMplsTtl),
        ("push_vlan", Some(a)) => one(Action::PushVlan(num(a)?)),
        ("pop_vlan", None) | ("strip_vlan", None) => one(Action::PopVlan),
        ("push_mpls", Some(a)) => one(Action::PushMpls(num(a)?)),
        ("pop_mpls", Some(a)) => one(Action::PopMpls(num(a)?)),
        ("set_queue", Some(a)) => one(Action::SetQueue(num(a)?)),
        ("mod_nw_ttl", Some(a)) => one(Action::SetNwTtl(num(a)?)),
        ("ct_clear", None) => one(Action::CtClear),
        ("exit", None) => one(Action::Exit),
        ("pop_queue", None) => one(Action::PopQueue),
        // OF1.0 spellings OVS turns into set_field (`ofp-actions.c` parse_SET_*).
        ("set_tunnel" | "set_tunnel64", Some(a)) => parse_set_field(s, &format!("{a}->tun_id")),
        ("mod_dl_src" | "mod_dl_dst" | "mod_nw_src" | "mod_nw_dst" | "mod_nw_ecn", Some(a)) => {
            let field = match key {
                "mod_dl_src" => "eth_src",
                "mod_dl_dst" => "eth_dst",
                "mod_nw_src" => "ip_src",
                "mod_nw_dst" => "ip_dst",
                _ => "nw_ecn",
            };
            parse_set_field(s, &format!("{a}->{field}"))
        }
        ("mod_nw_tos", Some(a)) => {
            let tos: u8 = num(a)?;
            parse_set_field(s, &format!("{}->ip_dscp", tos >> 2))
        }
        ("dec_ttl", None) => one(Action::DecTtl),
        (_, None) if PORT_NAMES.iter().any(|(_, n)| n.eq_ignore_ascii_case(s)) => {
            one(Action::Output {
                port: parse_port(s)?,
                max_len: 0,
            })
        }
        (_, None) if s.bytes().all(|b| b.is_ascii_digit()) => one(Action::Output {
            port: num(s)?,
            max_len: 0,
        }),
        (k @ ("bundle" | "bundle_load"), Some(a)) => {
            one(actions::parse_bundle(s, k == "bundle_load", paren(a)?)?)
        }
        _ => Err(perr(s, "unsupported action")),
    }
}
