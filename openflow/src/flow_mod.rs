//! FLOW_MOD body (OF1.3 §7.3.4.1, `struct ofp11_flow_mod`): 40 fixed bytes, the padded
//! `ofp_match`, then instructions to the end of the message.

use crate::flow::{FlowMod, FlowModCommand, Instructions, Match};
use crate::grammar::flow_mod_fixed;
use crate::instruction::{canonical_instructions, parse_flow_mod_instructions};
use crate::oxm::{match_tlvs, walk_oxms};
use std::cell::RefCell;

use crate::message::{MAX_MESSAGE_LEN, OFP13_VERSION};
use crate::wire::{put_len_at, Reader};
use crate::Error;

/// The [`FlowMod`] of the fixed fields of `$fixed` (a [`Fixed`] or a
/// [`crate::FlowModView`]) with the match `$m` and the instructions `$i`.
macro_rules! flow_mod_of {
    ($fixed:expr, $m:expr, $i:expr) => {
        $crate::flow::FlowMod {
            cookie: $fixed.cookie,
            cookie_mask: $fixed.cookie_mask,
            table_id: $fixed.table_id,
            command: $fixed.command,
            idle_timeout: $fixed.idle_timeout,
            hard_timeout: $fixed.hard_timeout,
            priority: $fixed.priority,
            buffer_id: $fixed.buffer_id,
            out_port: $fixed.out_port,
            out_group: $fixed.out_group,
            flags: $fixed.flags,
            r#match: $m,
            instructions: $i,
        }
    };
}
pub(crate) use flow_mod_of;

/// OFPFF_* flags.
pub mod flags {
    /// Send FLOW_REMOVED when the flow expires or is deleted.
    pub const SEND_FLOW_REM: u16 = 1;
    /// Fail an ADD that overlaps an existing same-priority flow.
    pub const CHECK_OVERLAP: u16 = 2;
    /// Reset counters on MODIFY.
    pub const RESET_COUNTS: u16 = 4;
    /// Do not count packets.
    pub const NO_PKT_COUNTS: u16 = 8;
    /// Do not count bytes.
    pub const NO_BYT_COUNTS: u16 = 0x10;
}

impl FlowModCommand {
    /// The OFPFC_* code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// From an OFPFC_* code.
    pub fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            0 => FlowModCommand::Add,
            1 => FlowModCommand::Modify,
            2 => FlowModCommand::ModifyStrict,
            3 => FlowModCommand::Delete,
            4 => FlowModCommand::DeleteStrict,
            _ => return None,
        })
    }
}

impl FlowMod {
    /// Append the body (everything after the 8-byte `ofp_header`). Infallible: it writes what
    /// it is given, valid or not; [`FlowMod::validate`] is the check (the send paths of
    /// [`crate::session::Session`] and [`crate::Connection`] run it).
    pub fn emit(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.fixed());
        self.r#match.emit(buf);
        self.instructions.emit(buf);
    }

    /// The 40 fixed bytes of the body, written as one block.
    #[inline]
    fn fixed(&self) -> [u8; 40] {
        let mut b = [0u8; 40];
        b[0..8].copy_from_slice(&self.cookie.to_be_bytes());
        b[8..16].copy_from_slice(&self.cookie_mask.to_be_bytes());
        b[16] = self.table_id;
        b[17] = self.command.code();
        b[18..20].copy_from_slice(&self.idle_timeout.to_be_bytes());
        b[20..22].copy_from_slice(&self.hard_timeout.to_be_bytes());
        b[22..24].copy_from_slice(&self.priority.to_be_bytes());
        b[24..28].copy_from_slice(&self.buffer_id.to_be_bytes());
        b[28..32].copy_from_slice(&self.out_port.to_be_bytes());
        b[32..36].copy_from_slice(&self.out_group.to_be_bytes());
        b[36..38].copy_from_slice(&self.flags.to_be_bytes());
        b
    }

    /// Append the whole OFPT_FLOW_MOD message: the 8-byte `ofp_header` with `xid`, then the
    /// body. The same bytes as `Message::FlowMod(self.clone()).emit(xid, buf)` without the
    /// clone; reserve capacity in `buf` to batch many messages without reallocating. A
    /// flow_mod longer than [`MAX_MESSAGE_LEN`] is not written (logged as an error); use
    /// [`FlowMod::try_emit_message`] to get the reason.
    pub fn emit_message(&self, xid: u32, buf: &mut Vec<u8>) {
        if let Err(e) = self.try_emit_message(xid, buf) {
            tracing::error!(error = %e, "flow_mod not encoded");
        }
    }

    /// [`FlowMod::emit_message`], refusing a flow_mod longer than [`MAX_MESSAGE_LEN`] (then
    /// `buf` is left as it was).
    ///
    /// Errors: [`Error::TooLong`] naming the largest instruction and the size.
    pub fn try_emit_message(&self, xid: u32, buf: &mut Vec<u8>) -> Result<(), Error> {
        let start = buf.len();
        buf.extend_from_slice(&[OFP13_VERSION, 14, 0, 0]);
        buf.extend_from_slice(&xid.to_be_bytes());
        self.emit(buf);
        let len = buf.len() - start;
        if len > MAX_MESSAGE_LEN {
            buf.truncate(start);
            return Err(Error::TooLong {
                what: self.size_name(),
                len,
                max: MAX_MESSAGE_LEN,
            });
        }
        put_len_at(buf, start + 2, len);
        Ok(())
    }

    /// Length in bytes of the whole OFPT_FLOW_MOD message, its 8-byte header included: what
    /// [`FlowMod::emit_message`] writes. It must be at most [`MAX_MESSAGE_LEN`] (65535) to be
    /// sent alone, [`crate::message::MAX_BUNDLED_FLOW_MOD_LEN`] (65511) inside a bundle; a flow compiler
    /// splits flows longer than that. Cost: one encode into a reused per-thread buffer, no
    /// allocation (about what sending the flow costs).
    pub fn encoded_len(&self) -> usize {
        thread_local! {
            static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        SCRATCH.with(|s| {
            let mut buf = s.borrow_mut();
            buf.clear();
            self.emit(&mut buf);
            let len = 8 + buf.len();
            // Keep a small buffer for the common flow; let go of one grown by an oversize one.
            if buf.capacity() > 4 * MAX_MESSAGE_LEN {
                *buf = Vec::new();
            }
            len
        })
    }

    /// The largest instruction and its encoded length, for the size errors.
    #[cold]
    pub(crate) fn largest_instruction(&self) -> Option<(&'static str, usize)> {
        self.instructions
            .iter()
            .map(|i| {
                let mut b = Vec::new();
                i.emit(&mut b);
                (i.name(), b.len())
            })
            .max_by_key(|&(_, len)| len)
    }

    /// What [`Error::TooLong`] calls this flow_mod.
    #[cold]
    pub(crate) fn size_name(&self) -> String {
        match self.largest_instruction() {
            Some((name, len)) => format!("flow_mod (its {name} instruction is {len} bytes)"),
            None => "flow_mod".into(),
        }
    }

    /// Decode a FLOW_MOD body (what [`FlowMod::emit`] writes, without the 8-byte header), as
    /// kept by a caller that stores flows encoded.
    ///
    /// Errors: [`Error::BadLength`] for a body longer than a message can carry
    /// ([`MAX_MESSAGE_LEN`] less the header), else as [`crate::Message::decode`] of the whole
    /// message.
    pub fn decode_body(body: &[u8]) -> Result<FlowMod, Error> {
        let len = 8 + body.len();
        if len > MAX_MESSAGE_LEN {
            return Err(Error::BadLength {
                what: "flow_mod body",
                offset: 0,
                length: len,
            });
        }
        let mut msg = Vec::with_capacity(len);
        msg.extend_from_slice(&[OFP13_VERSION, 14, 0, 0, 0, 0, 0, 0]);
        msg.extend_from_slice(body);
        put_len_at(&mut msg, 2, len);
        match crate::Message::decode(&msg)? {
            (_, crate::Message::FlowMod(f)) => Ok(f),
            (_, other) => Err(Error::Unexpected(format!("{other:?}"))),
        }
    }

    /// Decode a body (`r` covers exactly the body) into the whole message, `xid` given: the
    /// path of [`crate::Message::decode`]. Everything is checked on the bytes first; when the
    /// match and the instructions are in canonical form (what OVS and this crate write) the
    /// flow_mod is then built in one expression, its match and instructions copied in, so it
    /// is written once, in place. Anything else goes through [`FlowMod::parse`].
    ///
    /// Errors: as [`FlowMod::parse`].
    #[inline(always)]
    pub(crate) fn decode_message(xid: u32, r: &mut Reader) -> Result<(u32, crate::Message), Error> {
        let start = r.clone();
        let f = Fixed::parse(r)?;
        let tlvs = match_tlvs(r)?;
        let walked = walk_oxms(&mut tlvs.clone(), |_| {})?;
        let instructions = r.peek_rest();
        if !(walked.verbatim && canonical_instructions(instructions)) {
            return Self::decode_message_slow(xid, start);
        }
        r.advance(instructions.len());
        Ok((
            xid,
            crate::Message::FlowMod(flow_mod_of!(
                f,
                Match::from_tlvs(tlvs.peek_rest()),
                Instructions::from_wire(instructions)
            )),
        ))
    }

    /// [`FlowMod::decode_message`] of a body not in canonical form, from its start.
    #[cold]
    #[inline(never)]
    fn decode_message_slow(xid: u32, mut r: Reader) -> Result<(u32, crate::Message), Error> {
        Ok((xid, crate::Message::FlowMod(FlowMod::parse(&mut r)?)))
    }

    /// Parse a body; `r` covers exactly the body (offsets are absolute).
    ///
    /// Errors: [`Error::Truncated`], [`Error::BadValue`] for an unknown command, match,
    /// instruction and action errors.
    #[inline]
    pub(crate) fn parse(r: &mut Reader) -> Result<FlowMod, Error> {
        let f = Fixed::parse(r)?;
        let r#match = Match::parse(r)?;
        let instructions = parse_flow_mod_instructions(r)?;
        Ok(flow_mod_of!(f, r#match, instructions))
    }

    /// The flow_mod with its match in canonical form and instructions in emit order, i.e. what
    /// decoding its encoding gives. [`Match`] and [`crate::flow::Instructions`] are always kept
    /// in that form, so this is a copy (kept for callers of the list model).
    pub fn canonical(&self) -> FlowMod {
        self.clone()
    }
}

/// The 40 fixed bytes of a FLOW_MOD body, shared by [`FlowMod::parse`] and
/// [`crate::FlowModView`].
pub(crate) struct Fixed {
    pub(crate) cookie: u64,
    pub(crate) cookie_mask: u64,
    pub(crate) table_id: u8,
    pub(crate) command: FlowModCommand,
    pub(crate) idle_timeout: u16,
    pub(crate) hard_timeout: u16,
    pub(crate) priority: u16,
    pub(crate) buffer_id: u32,
    pub(crate) out_port: u32,
    pub(crate) out_group: u32,
    pub(crate) flags: u16,
}

impl Fixed {
    /// Errors: [`Error::Truncated`], [`Error::BadValue`] for an unknown command.
    #[inline]
    pub(crate) fn parse(r: &mut Reader) -> Result<Fixed, Error> {
        let at = r.offset();
        match flow_mod_fixed(r.peek_rest()) {
            Ok((_, f)) => {
                r.advance(40);
                Ok(f)
            }
            // Report the field that is cut off, as a field-by-field read would.
            Err(_) if r.remaining() < 40 => Err(Fixed::truncated(r)),
            Err(_) => Err(Fixed::bad_command(at, r.peek_rest()[17])),
        }
    }

    #[cold]
    fn bad_command(at: usize, code: u8) -> Error {
        Error::BadValue {
            offset: at + 17,
            reason: format!("unknown flow_mod command {code}"),
        }
    }

    /// The error of a body shorter than the 40 fixed bytes (the first field that does not fit).
    #[cold]
    fn truncated(r: &mut Reader) -> Error {
        let widths = [8, 8, 1, 1, 2, 2, 2, 4, 4, 4, 2, 2];
        for w in widths {
            if let Err(e) = r.take("flow_mod", w) {
                return e;
            }
        }
        unreachable!("a body of 40 bytes or more has no cut field")
    }
}
