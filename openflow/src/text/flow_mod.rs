//! A whole flow: `Display` and `FromStr` for [`FlowMod`] (`ovs-ofctl dump-flows` /
//! `add-flow`), and the `actions=` value as instructions.

use std::fmt::{self, Display, Formatter, Write};
use std::str::FromStr;

use super::action_parse::parse_action;
use super::action_text::write_list;
use super::match_parse::parse_match_tokens;
use super::raw;
use super::syntax::{
    flow_parts, group_name, instruction_item, masked, paren_body, whole, InstructionItem,
    MatchTokens,
};
use super::values::{hex, num, num_masked, parse_port, perr, port_name, split_top, FLAG_NAMES};
use crate::action::port;
use crate::flow::{FlowMod, FlowModCommand, Instruction, Match};
use crate::Error;

/// Instructions as the `actions=` value: `meter:N,<apply>,clear_actions,write_actions(..),
/// write_metadata:V/M,goto_table:N`, then any `instruction(...)` (see [`Instruction`]'s
/// experimenter and unknown forms), or `drop` when there are none.
pub struct InstructionsText<'a>(pub &'a [Instruction]);

impl Display for InstructionsText<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut sorted: Vec<&Instruction> = self.0.iter().collect();
        sorted.sort_by_key(|i| i.rank());
        let parts: Vec<String> = sorted
            .iter()
            .map(|i| i.to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() {
            f.write_str("drop")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

impl Display for Instruction {
    /// One instruction in `actions=` syntax (apply-actions print as their bare action list).
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Instruction::Meter(m) => write!(f, "meter:{m}"),
            Instruction::ApplyActions(a) => write_list(f, a),
            Instruction::ClearActions => f.write_str("clear_actions"),
            Instruction::WriteActions(a) => {
                f.write_str("write_actions(")?;
                write_list(f, a)?;
                f.write_char(')')
            }
            Instruction::WriteMetadata(v, u64::MAX) => {
                write!(f, "write_metadata:{}", hex(*v as u128))
            }
            Instruction::WriteMetadata(v, m) => {
                write!(f, "write_metadata:{}/{}", hex(*v as u128), hex(*m as u128))
            }
            Instruction::GotoTable(t) => write!(f, "goto_table:{t}"),
            Instruction::Experimenter { .. } | Instruction::Unknown { .. } => {
                f.write_str(&raw::instruction_text(self).unwrap_or_default())
            }
        }
    }
}

/// The OFPFF_* flags as ovs-ofctl words (`send_flow_rem check_overlap`), space-separated.
pub fn flags_text(fl: u16) -> String {
    FLAG_NAMES
        .iter()
        .filter(|(b, _)| fl & b != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Display for FlowMod {
    /// An ADD in `ovs-ofctl -O OpenFlow13 dump-flows --no-stats` syntax:
    /// `[cookie=0x.., ][table=N, ][idle_timeout=N, ][hard_timeout=N, ][flags ]priority=..,match actions=..`.
    ///
    /// Any other command as `ovs-ofctl ofp-print` prints the FLOW_MOD after its header
    /// (`ofputil_flow_mod_format`, `lib/ofp-flow.c`):
    /// `MOD|MOD_STRICT|DEL|DEL_STRICT[ table:N] [priority=N,]match [cookie:0xC/0xM ][idle:N ][hard:N ][buf:0xN ][out_port:P ][flags ]actions=..`.
    /// Like OVS it leaves out a cookie without a mask (OF1.3 neither sets nor matches it then)
    /// and `out_group`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.command != FlowModCommand::Add {
            return self.fmt_ofp_print(f);
        }
        let mut s = String::new();
        if self.cookie != 0 {
            write!(s, "cookie={:#x}, ", self.cookie)?;
        }
        if self.table_id != 0 {
            write!(s, "table={}, ", self.table_id)?;
        }
        if self.idle_timeout != 0 {
            write!(s, "idle_timeout={}, ", self.idle_timeout)?;
        }
        if self.hard_timeout != 0 {
            write!(s, "hard_timeout={}, ", self.hard_timeout)?;
        }
        if self.flags != 0 {
            write!(s, "{} ", flags_text(self.flags))?;
        }
        s.push_str(&self.r#match.to_string_with_priority(self.priority));
        if !s.is_empty() && !s.ends_with(' ') {
            s.push(' ');
        }
        write!(
            f,
            "{s}actions={}",
            InstructionsText(&self.instructions.to_vec())
        )
    }
}

impl FlowMod {
    /// The non-ADD form of `Display` (see there).
    fn fmt_ofp_print(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut s = String::from(command_name(self.command));
        if self.table_id != 0 {
            write!(s, " table:{}", self.table_id)?;
        }
        s.push(' ');
        s.push_str(&self.r#match.to_string_with_priority(self.priority));
        if !s.ends_with(' ') {
            s.push(' ');
        }
        if self.cookie_mask != 0 {
            write!(s, "cookie:{:#x}/{:#x} ", self.cookie, self.cookie_mask)?;
        }
        if self.idle_timeout != 0 {
            write!(s, "idle:{} ", self.idle_timeout)?;
        }
        if self.hard_timeout != 0 {
            write!(s, "hard:{} ", self.hard_timeout)?;
        }
        if self.buffer_id != u32::MAX {
            write!(s, "buf:{:#x} ", self.buffer_id)?;
        }
        if self.out_port != port::ANY {
            write!(s, "out_port:{} ", port_name(self.out_port))?;
        }
        if self.flags != 0 {
            write!(s, "{} ", flags_text(self.flags))?;
        }
        write!(
            f,
            "{s}actions={}",
            InstructionsText(&self.instructions.to_vec())
        )
    }

    /// Parse a flow_mod of any command the way `ovs-ofctl` reads the flows of `add-flow`
    /// (ADD), `mod-flows` (MODIFY), `mod-flows --strict`, `del-flows` and
    /// `del-flows --strict`, e.g. `table=3,priority=7,tcp,tp_dst=80,out_port=3,cookie=0x5/0xff`
    /// for DELETE_STRICT. Per command, as `parse_ofp_str__` (`lib/ofp-flow.c`):
    /// - `table=N` always; without it DELETE and DELETE_STRICT cover all tables (255), the
    ///   others table 0.
    /// - `cookie=V/M` (M may be `-1`) matches cookies, for all but ADD; `cookie=V` sets the
    ///   cookie of an ADD. OF1.3 has no way to set a cookie on MODIFY (OVS drops it without a
    ///   word), so `cookie=V` without a mask is refused for every command but ADD.
    /// - `priority=N` for all but DELETE (default 32768); `idle_timeout`, `hard_timeout` and
    ///   the flag words for ADD and MODIFY; `out_port=P` and `out_group=G` (`any`, `all` or a
    ///   number) for DELETE and DELETE_STRICT.
    /// - `actions=` is required for ADD and MODIFY and refused for DELETE.
    ///
    /// Statistics (`duration=`, `n_packets=`, ...) are ignored. A match field without its
    /// prerequisites (`tcp_dst=80` without `tcp`), or given twice with different values, is
    /// refused as the switch refuses its bytes (`ovs-ofctl` drops such a field, widening the
    /// flow); the other checks are [`FlowMod::validate`]'s, made when the flow is sent.
    ///
    /// Errors: [`Error::Parse`] naming the offending token.
    pub fn parse_with_command(s: &str, command: FlowModCommand) -> Result<FlowMod, Error> {
        Self::parse_text(s, command, true)
    }

    /// An ADD flow as [`FlowMod::from_str`] reads it, but without refusing a match field whose
    /// prerequisites are missing or that is repeated: for building the flows a switch must
    /// refuse (switch tests, negative cases). [`FlowMod::validate`] and every send path still
    /// refuse them.
    ///
    /// Errors: [`Error::Parse`] naming the offending token.
    pub fn parse_unchecked(s: &str) -> Result<FlowMod, Error> {
        Self::parse_text(s, FlowModCommand::Add, false)
    }

    fn parse_text(s: &str, command: FlowModCommand, check: bool) -> Result<FlowMod, Error> {
        let s = s.trim();
        let delete = matches!(
            command,
            FlowModCommand::Delete | FlowModCommand::DeleteStrict
        );
        let (head, acts) = match flow_parts(s) {
            (_, Some(_)) if delete => return Err(perr(s, "a delete takes no actions")),
            (_, None) if !delete => return Err(perr(s, "missing actions=")),
            parts => parts,
        };
        let table = if delete { 0xff } else { 0 };
        let mut fm = FlowMod::add(table, 0x8000, Match::default(), Vec::new());
        fm.command = command;
        parse_match_tokens(&mut fm, MatchTokens(head), Some(command), check)?;
        if let Some(acts) = acts {
            fm.instructions = parse_instructions(acts)?.into();
        }
        Ok(fm)
    }
}

/// `ofputil_flow_mod_format`'s command names.
fn command_name(c: FlowModCommand) -> &'static str {
    match c {
        FlowModCommand::Add => "ADD",
        FlowModCommand::Modify => "MOD",
        FlowModCommand::ModifyStrict => "MOD_STRICT",
        FlowModCommand::Delete => "DEL",
        FlowModCommand::DeleteStrict => "DEL_STRICT",
    }
}

/// A flow_mod keyword of a flow in `ovs-ofctl` text, for `command` (the keyword sets of
/// `parse_ofp_str__`, see [`FlowMod::parse_with_command`]): applied to `fm`, and `true`;
/// `false` when `k` is not one (it is then read as a match field).
pub(super) fn header_keyword(
    fm: &mut FlowMod,
    command: FlowModCommand,
    k: &str,
    v: Option<&str>,
    tok: &str,
) -> Result<bool, Error> {
    use FlowModCommand as C;
    let (priority, modify, delete) = match command {
        C::Add | C::Modify | C::ModifyStrict => (true, true, false),
        C::Delete => (false, false, true),
        C::DeleteStrict => (true, false, true),
    };
    match (k, v) {
        ("table", Some(v)) => fm.table_id = num(v)?,
        ("priority", Some(v)) if priority => fm.priority = num(v)?,
        ("idle_timeout", Some(v)) if modify => fm.idle_timeout = num(v)?,
        ("hard_timeout", Some(v)) if modify => fm.hard_timeout = num(v)?,
        ("cookie", Some(v)) => match (masked(v), command) {
            ((_, Some(_)), C::Add) => {
                return Err(perr(tok, "flow additions cannot use a cookie mask"))
            }
            ((c, Some(m)), _) => {
                fm.cookie = num(c)?;
                fm.cookie_mask = if m.trim() == "-1" { u64::MAX } else { num(m)? };
            }
            ((_, None), C::Add) => fm.cookie = num(v)?,
            ((_, None), _) => {
                return Err(perr(
                    tok,
                    "cannot set a cookie here (to match on a cookie, specify a mask, e.g. cookie=0x7/-1)",
                ))
            }
        },
        ("out_port", Some(v)) if delete => fm.out_port = parse_port(v)?,
        ("out_group", Some(v)) if delete => {
            let v = v.trim();
            fm.out_group = match whole(v, group_name) {
                Some(g) => g,
                // The number as OVS reads it after lowercasing the word.
                None => num(&v.to_ascii_lowercase())?,
            }
        }
        ("duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age" | "importance", Some(_)) => {
        }
        (w, None) if modify && FLAG_NAMES.iter().any(|(_, n)| *n == w) => {
            fm.flags |= FLAG_NAMES
                .iter()
                .find(|(_, n)| *n == w)
                .map_or(0, |(b, _)| *b);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Parse an `actions=` value into instructions (canonical order).
pub fn parse_instructions(s: &str) -> Result<Vec<Instruction>, Error> {
    let items = split_top(s);
    if items.len() == 1 && items[0] == "drop" {
        return Ok(Vec::new());
    }
    let mut apply = Vec::new();
    let mut out = Vec::new();
    for it in items {
        match instruction_item(it) {
            InstructionItem::Drop => {
                return Err(perr(
                    s,
                    "\"drop\" must not be accompanied by any other action or instruction",
                ))
            }
            InstructionItem::Meter(m) => out.push(Instruction::Meter(num(m)?)),
            InstructionItem::GotoTable(t) => out.push(Instruction::GotoTable(num(t)?)),
            InstructionItem::ClearActions => out.push(Instruction::ClearActions),
            InstructionItem::WriteMetadata(w) => {
                let (v, m) = num_masked::<u64>(w)?;
                out.push(Instruction::WriteMetadata(v, m.unwrap_or(u64::MAX)));
            }
            InstructionItem::Raw(it) => out.push(raw::parse_instruction(it)?),
            InstructionItem::WriteActions(w) => {
                let inner = paren_body(w).ok_or_else(|| perr(it, "missing )"))?;
                let mut acts = Vec::new();
                for a in split_top(inner) {
                    acts.extend(parse_action(a)?);
                }
                out.push(Instruction::WriteActions(acts));
            }
            InstructionItem::Apply(it) => apply.extend(parse_action(it)?),
        }
    }
    if !apply.is_empty() {
        out.push(Instruction::ApplyActions(apply));
    }
    out.sort_by_key(|i| i.rank());
    Ok(out)
}

impl FromStr for FlowMod {
    type Err = Error;

    /// Parse an ADD flow in `ovs-ofctl add-flow` / `dump-flows` syntax, e.g.
    /// `table=3,priority=200,ip,nw_src=10.10.0.2 actions=conjunction(1001,1/2)`: what
    /// [`FlowMod::parse_with_command`] reads for [`FlowModCommand::Add`]. Priority defaults
    /// to 32768; statistics (`duration=`, `n_packets=`, ...) are ignored.
    ///
    /// Errors: [`Error::Parse`] naming the offending token.
    fn from_str(s: &str) -> Result<Self, Error> {
        FlowMod::parse_with_command(s, FlowModCommand::Add)
    }
}
