//! Instructions (OF1.3 §7.2.4): `type u16 | len u16 | body`, each 8-byte aligned.
//!
//! Emit order is the spec's execution order, which is also what OVS writes:
//! meter, apply_actions, clear_actions, write_actions, write_metadata, goto_table; then
//! experimenter and unknown instructions in their order in the list. The order of instructions
//! in a message carries no meaning (OF1.3 §5.9 runs them in the fixed order), so a decoded list
//! whose unknown instructions came last re-emits byte for byte.

use nom::Parser;

use crate::action::{emit_actions, frame_actions};
use crate::flow::{Instruction, Instructions};
use crate::grammar::{aligned_item, aligned_items, be64, count_items, int_at};
use crate::view::InstructionView;
use crate::wire::{pad_to_8, put_len_at, Reader};
use crate::Error;

impl Instruction {
    /// OFPIT_* type code (0xffff for OFPIT_EXPERIMENTER).
    pub fn kind(&self) -> u16 {
        match self {
            Instruction::GotoTable(_) => 1,
            Instruction::WriteMetadata(..) => 2,
            Instruction::WriteActions(_) => 3,
            Instruction::ApplyActions(_) => 4,
            Instruction::ClearActions => 5,
            Instruction::Meter(_) => 6,
            Instruction::Experimenter { .. } => 0xffff,
            Instruction::Unknown { kind, .. } => *kind,
        }
    }

    /// The ovs-ofctl name of the instruction's type (`apply_actions`, `goto_table`, ...;
    /// `experimenter` and `unknown` for the kept ones).
    pub fn name(&self) -> &'static str {
        match self {
            Instruction::GotoTable(_) => "goto_table",
            Instruction::Meter(_) => "meter",
            Instruction::WriteMetadata(..) => "write_metadata",
            Instruction::WriteActions(_) => "write_actions",
            Instruction::ApplyActions(_) => "apply_actions",
            Instruction::ClearActions => "clear_actions",
            Instruction::Experimenter { .. } => "experimenter",
            Instruction::Unknown { .. } => "unknown",
        }
    }

    /// Position in the canonical emit order.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Instruction::Meter(_) => 0,
            Instruction::ApplyActions(_) => 1,
            Instruction::ClearActions => 2,
            Instruction::WriteActions(_) => 3,
            Instruction::WriteMetadata(..) => 4,
            Instruction::GotoTable(_) => 5,
            Instruction::Experimenter { .. } | Instruction::Unknown { .. } => 6,
        }
    }

    /// Append this instruction's wire form.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        buf.extend_from_slice(&self.kind().to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        match self {
            Instruction::GotoTable(t) => buf.extend_from_slice(&[*t, 0, 0, 0]),
            Instruction::WriteMetadata(v, m) => {
                buf.extend_from_slice(&[0; 4]);
                buf.extend_from_slice(&v.to_be_bytes());
                buf.extend_from_slice(&m.to_be_bytes());
            }
            Instruction::WriteActions(a) | Instruction::ApplyActions(a) => {
                buf.extend_from_slice(&[0; 4]);
                emit_actions(a, buf);
            }
            Instruction::ClearActions => buf.extend_from_slice(&[0; 4]),
            Instruction::Meter(m) => buf.extend_from_slice(&m.to_be_bytes()),
            Instruction::Experimenter { experimenter, data } => {
                buf.extend_from_slice(&experimenter.to_be_bytes());
                buf.extend_from_slice(data);
                pad_to_8(buf, start);
            }
            Instruction::Unknown { body, .. } => {
                buf.extend_from_slice(body);
                pad_to_8(buf, start);
            }
        }
        let len = buf.len() - start;
        put_len_at(buf, start + 2, len);
    }
}

/// Append instructions in canonical order (see the module docs).
pub fn emit_instructions(insts: &[Instruction], buf: &mut Vec<u8>) {
    if insts.is_sorted_by_key(|i| i.rank()) {
        insts.iter().for_each(|i| i.emit(buf));
        return;
    }
    // One pass per rank: a stable sort without a sorted copy.
    let top = insts.iter().map(|i| i.rank()).max().unwrap_or(0);
    for rank in 0..=top {
        insts
            .iter()
            .filter(|i| i.rank() == rank)
            .for_each(|i| i.emit(buf));
    }
}

/// Parse a FLOW_MOD's instructions (to the end of the reader) into [`Instructions`]: the bytes
/// copied in when [`canonical_instructions`] vouches for them (each checked as the decoder
/// checks it, and already in the form emit writes), else decoded as [`parse_instructions`]
/// does and written again.
///
/// Errors: those of [`parse_instructions`].
#[inline]
pub(crate) fn parse_flow_mod_instructions(r: &mut Reader) -> Result<Instructions, Error> {
    let bytes = r.peek_rest();
    if canonical_instructions(bytes) {
        r.advance(bytes.len());
        return Ok(Instructions::from_wire(bytes));
    }
    Ok(Instructions::from_list(&parse_instructions(r)?))
}

/// Whether `b` is an instruction list that decodes without error and that emit would write
/// byte for byte from what it decodes to: instructions in canonical order
/// ([`Instruction::rank`]), each of its type's exact length with zero padding, and every action
/// one of the common forms [`crate::action::canonical_actions`] vouches for. A check over the
/// bytes alone: nothing is decoded. `false` says nothing about validity (the caller then
/// decodes the list, which reports any error).
#[inline]
pub(crate) fn canonical_instructions(mut b: &[u8]) -> bool {
    // The 4 bytes after the type and length: padding for all but meter and goto_table.
    let pad = |item: &[u8]| int_at::<u32>(item, 4) == Some(0);
    let mut last = 0;
    while !b.is_empty() {
        let Ok((rest, (kind, item))) = aligned_item(b) else {
            return false;
        };
        let (rank, ok) = match kind {
            6 => (0, item.len() == 8),
            4 => (1, pad(item) && crate::action::canonical_actions(&item[8..])),
            5 => (2, item.len() == 8 && pad(item)),
            3 => (3, pad(item) && crate::action::canonical_actions(&item[8..])),
            2 => (4, item.len() == 24 && pad(item)),
            // The table, then 3 bytes of padding.
            1 => (
                5,
                item.len() == 8 && int_at::<u32>(item, 4).is_some_and(|w| w & 0xff_ffff == 0),
            ),
            // Experimenter (its id in the first 8 bytes) and unknown types are kept as read.
            0xffff | 7.. => (6, true),
            _ => return false,
        };
        if !ok || rank < last {
            return false;
        }
        last = rank;
        b = rest;
    }
    true
}

/// Parse instructions until the reader is empty; an experimenter or unknown instruction is kept
/// as [`Instruction::Experimenter`] / [`Instruction::Unknown`].
///
/// Errors: [`Error::BadLength`] for a bad instruction length, plus action errors.
pub(crate) fn parse_instructions(r: &mut Reader) -> Result<Vec<Instruction>, Error> {
    let bytes = r.peek_rest();
    let mut out = Vec::with_capacity(count_items(bytes));
    if instructions_ok(bytes) {
        // The framing is known good: read each instruction straight from its bytes.
        let mut rest = bytes;
        while let Ok((next, (kind, b))) = aligned_item(rest) {
            let at = bytes.len() - rest.len();
            let known = match kind {
                1 => int_at(b, 4).map(Instruction::GotoTable),
                2 => (be64, be64)
                    .parse(&b[8..])
                    .ok()
                    .map(|(_, (v, m))| Instruction::WriteMetadata(v, m)),
                3 | 4 => {
                    let list = &b[8..];
                    let mut actions = Vec::with_capacity(count_items(list));
                    crate::action::decode_list(list, r.offset() + at + 8, &mut actions)?;
                    Some(if kind == 3 {
                        Instruction::WriteActions(actions)
                    } else {
                        Instruction::ApplyActions(actions)
                    })
                }
                5 => Some(Instruction::ClearActions),
                6 => int_at(b, 4).map(Instruction::Meter),
                _ => None,
            };
            out.push(match known {
                Some(i) => i,
                None => next_instruction(&mut Reader::new(b, r.offset() + at))?.to_instruction()?,
            });
            rest = next;
        }
        r.advance(bytes.len());
        return Ok(out);
    }
    while !r.is_empty() {
        out.push(next_instruction(r)?.to_instruction()?);
    }
    Ok(out)
}

/// Whether `b` is an instruction list [`next_instruction`] reads to the end without an error:
/// every instruction's length a multiple of 8, the size of its type for the fixed-size ones,
/// and every action list framed as [`frame_actions`] requires ([`aligned_item`]). A check over
/// the bytes with no reader, offsets or error values; on `false` the caller walks the list with
/// [`next_instruction`] to find the error.
#[inline]
pub(crate) fn instructions_ok(mut b: &[u8]) -> bool {
    while !b.is_empty() {
        let Ok((rest, (kind, item))) = aligned_item(b) else {
            return false;
        };
        let ok = match kind {
            1 | 5 | 6 => item.len() == 8,
            2 => item.len() == 24,
            3 | 4 => aligned_items(&item[8..]),
            // Experimenter (its id in the first 8 bytes) and unknown types: any length.
            _ => true,
        };
        if !ok {
            return false;
        }
        b = rest;
    }
    true
}

/// Read the next instruction in place: its length and the fixed fields of its type checked, and
/// for apply/write_actions the framing of its action list (the action bodies are left to
/// [`Actions`](crate::view::Actions)).
///
/// Errors: as [`parse_instructions`], except errors inside action bodies.
pub(crate) fn next_instruction<'a>(r: &mut Reader<'a>) -> Result<InstructionView<'a>, Error> {
    let off = r.offset();
    let kind = r.u16("instruction type")?;
    let len = r.u16("instruction length")? as usize;
    if len < 8 || !len.is_multiple_of(8) || len - 4 > r.remaining() {
        return Err(Error::BadLength {
            what: "instruction",
            offset: off,
            length: len,
        });
    }
    let mut b = r.sub("instruction", len - 4)?;
    let fixed = |n: usize| {
        if len == n {
            Ok(())
        } else {
            Err(Error::BadLength {
                what: "instruction",
                offset: off,
                length: len,
            })
        }
    };
    Ok(match kind {
        1 => {
            fixed(8)?;
            InstructionView::GotoTable(b.u8("goto table")?)
        }
        2 => {
            fixed(24)?;
            b.skip("pad", 4)?;
            InstructionView::WriteMetadata(b.u64("metadata")?, b.u64("metadata mask")?)
        }
        3 | 4 => {
            b.skip("pad", 4)?;
            let a = frame_actions(&mut b)?;
            if kind == 3 {
                InstructionView::WriteActions(a)
            } else {
                InstructionView::ApplyActions(a)
            }
        }
        5 => {
            fixed(8)?;
            InstructionView::ClearActions
        }
        6 => {
            fixed(8)?;
            InstructionView::Meter(b.u32("meter id")?)
        }
        0xffff => InstructionView::Experimenter {
            experimenter: b.u32("instruction experimenter")?,
            data: b.rest(),
        },
        kind => InstructionView::Unknown {
            kind,
            body: b.rest(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Action;

    #[test]
    fn meter_goes_first_whatever_the_input_order() {
        let insts = vec![
            Instruction::ApplyActions(vec![Action::Output {
                port: 3,
                max_len: 0,
            }]),
            Instruction::Meter(1),
        ];
        let mut buf = vec![0xa5];
        emit_instructions(&insts, &mut buf);
        assert_eq!(&buf[1..9], &[0, 6, 0, 8, 0, 0, 0, 1]);
        let parsed = parse_instructions(&mut Reader::new(&buf[1..], 0)).unwrap();
        assert_eq!(parsed, vec![insts[1].clone(), insts[0].clone()]);
    }

    #[test]
    fn goto_table_is_eight_bytes() {
        let mut buf = Vec::new();
        Instruction::GotoTable(5).emit(&mut buf);
        assert_eq!(buf, [0, 1, 0, 8, 5, 0, 0, 0]);
    }

    #[test]
    fn experimenter_and_unknown_instructions_are_written_as_kept_and_padded_to_8() {
        let insts = [
            Instruction::Experimenter {
                experimenter: 0x2320,
                data: vec![1, 2, 3, 4, 5, 6, 7, 8],
            },
            // Three bytes of body: padded with zeros to 8.
            Instruction::Unknown {
                kind: 0x4242,
                body: vec![9, 9, 9],
            },
        ];
        let mut buf = vec![0xa5];
        emit_instructions(&insts, &mut buf);
        assert_eq!(
            &buf[1..],
            &[
                0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 1, 2, 3, 4, 5, 6, 7, 8, //
                0x42, 0x42, 0, 8, 9, 9, 9, 0,
            ]
        );
        let parsed = parse_instructions(&mut Reader::new(&buf[1..], 0)).unwrap();
        assert_eq!(parsed[0], insts[0]);
        assert_eq!(
            parsed[1],
            Instruction::Unknown {
                kind: 0x4242,
                body: vec![9, 9, 9, 0],
            }
        );
        assert!(instructions_ok(&buf[1..]));
    }
}
