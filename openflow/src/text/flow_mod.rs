//! A whole flow: `Display` and `FromStr` for [`FlowMod`] (`ovs-ofctl dump-flows` /
//! `add-flow`), and the `actions=` value as instructions.

use std::fmt::{self, Display, Formatter, Write};
use std::str::FromStr;

use super::action_parse::parse_action;
use super::action_text::write_list;
use super::match_parse::parse_match_tokens;
use super::raw;
use super::values::{hex, num, num_masked, perr, split_top, FLAG_NAMES};
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
    /// `ovs-ofctl -O OpenFlow13 dump-flows --no-stats` syntax:
    /// `[cookie=0x.., ][table=N, ][idle_timeout=N, ][hard_timeout=N, ][flags ]priority=..,match actions=..`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
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
        write!(f, "{s}actions={}", InstructionsText(&self.instructions))
    }
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
        if it == "drop" {
            return Err(perr(
                s,
                "\"drop\" must not be accompanied by any other action or instruction",
            ));
        } else if let Some(m) = it.strip_prefix("meter:") {
            out.push(Instruction::Meter(num(m)?));
        } else if let Some(t) = it.strip_prefix("goto_table:") {
            out.push(Instruction::GotoTable(num(t)?));
        } else if it == "clear_actions" {
            out.push(Instruction::ClearActions);
        } else if let Some(w) = it.strip_prefix("write_metadata:") {
            let (v, m) = num_masked::<u64>(w)?;
            out.push(Instruction::WriteMetadata(v, m.unwrap_or(u64::MAX)));
        } else if it.starts_with("instruction(") {
            out.push(raw::parse_instruction(it)?);
        } else if let Some(w) = it.strip_prefix("write_actions(") {
            let inner = w.strip_suffix(')').ok_or_else(|| perr(it, "missing )"))?;
            let mut acts = Vec::new();
            for a in split_top(inner) {
                acts.extend(parse_action(a)?);
            }
            out.push(Instruction::WriteActions(acts));
        } else {
            apply.extend(parse_action(it)?);
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
    /// `table=3,priority=200,ip,nw_src=10.10.0.2 actions=conjunction(1001,1/2)`. Priority
    /// defaults to 32768; statistics (`duration=`, `n_packets=`, ...) are ignored.
    ///
    /// Errors: [`Error::Parse`] naming the offending token.
    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        let i = s
            .find("actions=")
            .ok_or_else(|| perr(s, "missing actions="))?;
        let (head, acts) = (&s[..i], &s[i + "actions=".len()..]);
        let mut fm = FlowMod::add(0, 0x8000, Match::default(), Vec::new());
        parse_match_tokens(
            &mut fm,
            head.split([',', ' ']).filter(|t| !t.is_empty()),
            false,
        )?;
        fm.instructions = parse_instructions(acts)?;
        fm.command = FlowModCommand::Add;
        Ok(fm)
    }
}
