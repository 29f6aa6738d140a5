//! Actions: OF1.3 standard (§7.2.5) and Nicira extensions (`lib/ofp-actions.c`).
//!
//! Every action is `type u16 | len u16 (multiple of 8) | body`; Nicira actions are
//! `0xffff | len | 0x00002320 | subtype u16 | body`, zero-padded to `len`. Unknown actions and
//! known ones in forms this model does not express (e.g. `ct` with an unknown flag) decode as
//! [`Action::Raw`] and re-emit byte for byte.

use crate::error::{NX_VENDOR_ID, ONF_VENDOR_ID};
use crate::flow::{Action, CtZone, Field, Learn, LearnDst, LearnSpec, LearnSrc, Nat, NatAddr};
use crate::oxm::{emit_tlv, ones};
use crate::view::Actions;
use crate::wire::{len16, pad_to_8, put_len_at, put_u16_at, Reader};
use crate::Error;
use std::net::{Ipv4Addr, Ipv6Addr};

mod ct;
mod emit;
mod ext;
mod learn;
mod nicira;
mod quick;
#[cfg(test)]
mod tests;

use ct::*;
use emit::*;
use learn::*;
use nicira::*;
pub(crate) use quick::{canonical_actions, decode_list, each};

/// OFPAT_OUTPUT.
pub const OFPAT_OUTPUT: u16 = 0;
/// OFPAT_GROUP.
pub const OFPAT_GROUP: u16 = 22;
/// OFPAT_DEC_NW_TTL.
pub const OFPAT_DEC_NW_TTL: u16 = 24;
/// OFPAT_SET_FIELD.
pub const OFPAT_SET_FIELD: u16 = 25;
/// OFPAT_EXPERIMENTER.
pub const OFPAT_EXPERIMENTER: u16 = 0xffff;

/// OF1.3 reserved port numbers (`ofp_port_no`).
pub mod port {
    /// Highest physical port.
    pub const MAX: u32 = 0xffff_ff00;
    /// Send back out the input port.
    pub const IN_PORT: u32 = 0xffff_fff8;
    /// Submit to the first table (PACKET_OUT only).
    pub const TABLE: u32 = 0xffff_fff9;
    /// Normal L2/L3 processing.
    pub const NORMAL: u32 = 0xffff_fffa;
    /// Flood (excluding blocked ports).
    pub const FLOOD: u32 = 0xffff_fffb;
    /// All ports but the input port.
    pub const ALL: u32 = 0xffff_fffc;
    /// To the controller.
    pub const CONTROLLER: u32 = 0xffff_fffd;
    /// The local (bridge) port.
    pub const LOCAL: u32 = 0xffff_fffe;
    /// Wildcard / none.
    pub const ANY: u32 = 0xffff_ffff;
}

const NXAST_RESUBMIT_TABLE: u16 = 14;
const NXAST_OUTPUT_REG: u16 = 15;
const NXAST_REG_LOAD: u16 = 7;
const NXAST_REG_MOVE: u16 = 6;
const NXAST_NOTE: u16 = 8;
const NXAST_CONTROLLER: u16 = 20;
const NXAST_CONJUNCTION: u16 = 34;
const NXAST_CONTROLLER2: u16 = 37;
/// NXAST_CONTROLLER2 property types (`enum nx_action_controller2_prop_type`).
const NXAC2PT_MAX_LEN: u16 = 0;
const NXAC2PT_CONTROLLER_ID: u16 = 1;
const NXAC2PT_REASON: u16 = 2;
const NXAC2PT_USERDATA: u16 = 3;
const NXAC2PT_PAUSE: u16 = 4;
const NXAC2PT_METER_ID: u16 = 5;
const NXAST_CT: u16 = 35;
const NXAST_LEARN: u16 = 16;
const NXAST_LEARN2: u16 = 45;
/// NX_LEARN_F_WRITE_RESULT: LEARN2 writes "was it learned" to `result_dst`.
const NX_LEARN_F_WRITE_RESULT: u16 = 4;
const NXAST_MULTIPATH: u16 = 10;
const NXAST_STACK_PUSH: u16 = 27;
const NXAST_STACK_POP: u16 = 28;
const NXAST_SAMPLE: u16 = 29;
const NXAST_SAMPLE2: u16 = 38;
const NXAST_CLONE: u16 = 42;
const NXAST_CHECK_PKT_LARGER: u16 = 49;
const NXAST_FIN_TIMEOUT: u16 = 19;
const NXAST_DEC_TTL_CNT_IDS: u16 = 21;
const NXAST_OUTPUT_TRUNC: u16 = 39;
const NXAST_NAT: u16 = 36;
/// NX_CT_F_COMMIT / NX_CT_F_FORCE.
const NX_CT_F_COMMIT: u16 = 1;
const NX_CT_F_FORCE: u16 = 2;
const NXAST_EXIT: u16 = 17;
const NXAST_POP_QUEUE: u16 = 5;
const NXAST_CT_CLEAR: u16 = 43;
const NXAST_RESUBMIT_TABLE_CT: u16 = 44;

/// NXM_OF_IN_PORT, the member type of `bundle`.
const NX_IN_PORT_HEADER: u32 = 0x0000_0002;

/// NXM `in_port` placeholder meaning "keep the current in_port" in resubmit.
const NX_IN_PORT: u16 = 0xfff8;

impl Action {
    /// A `ct` action in its canonical variant: [`Action::Ct`] when the zone is immediate and
    /// neither `force` nor `alg` is set, [`Action::CtExt`] otherwise. Decoding and text parsing
    /// both build `ct` through here, so each wire form has one value.
    pub fn ct(
        commit: bool,
        force: bool,
        zone: CtZone,
        table: Option<u8>,
        alg: u16,
        exec: Vec<Action>,
    ) -> Action {
        match zone {
            CtZone::Imm(zone) if !force && alg == 0 => Action::Ct {
                commit,
                zone,
                table,
                exec,
            },
            _ => Action::CtExt {
                commit,
                force,
                zone,
                table,
                alg,
                exec,
            },
        }
    }
}

/// Append a list of actions.
pub fn emit_actions(actions: &[Action], buf: &mut Vec<u8>) {
    for a in actions {
        a.emit(buf);
    }
}

/// Parse actions until the reader is empty.
///
/// Errors: [`Error::BadLength`] for a length that is < 8, not a multiple of 8 or past the end;
/// [`Error::BadAction`] for a known action with an invalid body.
pub(crate) fn parse_actions(r: &mut Reader) -> Result<Vec<Action>, Error> {
    frame_actions(r)?.to_vec()
}

/// Check the framing of the action list to the end of `r` (every length at least 8, a multiple
/// of 8 and within the list) and consume it, leaving the bodies to be decoded.
///
/// Errors: [`Error::Truncated`] for a cut header, [`Error::BadLength`] for a bad length.
pub(crate) fn frame_actions<'a>(r: &mut Reader<'a>) -> Result<Actions<'a>, Error> {
    let offset = r.offset();
    let bytes = r.peek_rest();
    while !r.is_empty() {
        let off = r.offset();
        let len = r.peek_u16(2).ok_or_else(|| Error::Truncated {
            what: "action header",
            offset: off,
            needed: 4,
            available: r.remaining(),
        })? as usize;
        if len < 8 || !len.is_multiple_of(8) || len > r.remaining() {
            return Err(Error::BadLength {
                what: "action",
                offset: off,
                length: len,
            });
        }
        r.skip("action", len)?;
    }
    Ok(Actions::new(bytes, offset))
}

/// Decode the next action of a framed list (see [`frame_actions`]); `None` at the end.
pub(crate) fn next_action(r: &mut Reader) -> Option<Result<Action, Error>> {
    let off = r.offset();
    let len = r.peek_u16(2)? as usize;
    if let Some(b) = r.peek_rest().get(..len) {
        // Built in the return slot: moving a decoded action costs more than decoding it.
        if let Some(a) = quick::with(b, |a| Some(Ok(a))) {
            r.advance(len);
            return a;
        }
    }
    let mut a = r.sub("action", len).ok()?;
    Some(parse_action(&mut a, off))
}

fn bad(offset: usize, reason: impl Into<String>) -> Error {
    Error::BadAction {
        offset,
        reason: reason.into(),
    }
}

fn raw(r: &Reader, all: &[u8]) -> Action {
    let _ = r;
    Action::Raw {
        kind: u16::from_be_bytes([all[0], all[1]]),
        body: all[4..].to_vec(),
    }
}

fn parse_action(r: &mut Reader, off: usize) -> Result<Action, Error> {
    let all = r.clone().rest();
    let kind = r.u16("action type")?;
    let len = r.u16("action length")? as usize;
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
    match kind {
        OFPAT_OUTPUT => {
            fixed(16)?;
            let port = r.u32("output port")?;
            let max_len = r.u16("output max_len")?;
            Ok(Action::Output { port, max_len })
        }
        OFPAT_GROUP => {
            fixed(8)?;
            Ok(Action::Group(r.u32("group id")?))
        }
        OFPAT_DEC_NW_TTL => {
            fixed(8)?;
            Ok(Action::DecTtl)
        }
        15..=21 | 23 => {
            fixed(8)?;
            let b = r.take("action body", 4)?;
            let (b8, b16) = (b[0], u16::from_be_bytes([b[0], b[1]]));
            let pad_ok = |n: usize| b[n..].iter().all(|x| *x == 0);
            Ok(match kind {
                15 if pad_ok(1) => Action::SetMplsTtl(b8),
                16 if pad_ok(0) => Action::DecMplsTtl,
                17 if pad_ok(2) => Action::PushVlan(b16),
                18 if pad_ok(0) => Action::PopVlan,
                19 if pad_ok(2) => Action::PushMpls(b16),
                20 if pad_ok(2) => Action::PopMpls(b16),
                21 => Action::SetQueue(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
                23 if pad_ok(1) => Action::SetNwTtl(b8),
                _ => raw(r, all),
            })
        }
        OFPAT_SET_FIELD => {
            let h = r.u32("set_field OXM")?;
            let n = (h & 0xff) as usize;
            if h & 0x100 != 0 || 8 + n > len {
                return Err(bad(off, "set_field with mask or bad OXM length"));
            }
            if let Some(a) = ext::parse_set_tun_metadata(&mut r.clone(), h) {
                return Ok(a);
            }
            let Some(field) = Field::from_header(h) else {
                return Ok(raw(r, all));
            };
            if h != field.set_field_header() {
                return Ok(raw(r, all));
            }
            let v = r
                .take("set_field value", n)?
                .iter()
                .fold(0u128, |a, b| a << 8 | *b as u128);
            if r.rest().iter().any(|b| *b != 0) {
                return Err(bad(off, "nonzero set_field padding"));
            }
            if field.set_field_bits() < 128 && v >> field.set_field_bits() != 0 {
                // OVS refuses it (OFPBAC_BAD_SET_ARGUMENT); keep the bytes.
                return Ok(raw(r, all));
            }
            Ok(Action::Load {
                field,
                ofs: 0,
                n_bits: field.bits(),
                value: v,
            })
        }
        OFPAT_EXPERIMENTER => {
            let vendor = r.u32("experimenter id")?;
            if vendor == ONF_VENDOR_ID {
                return ext::parse_onf(r, off, len, all);
            }
            if vendor != NX_VENDOR_ID {
                return Ok(raw(r, all));
            }
            let subtype = r.u16("nicira subtype")?;
            parse_nicira(r, off, len, subtype, all)
        }
        _ => Ok(raw(r, all)),
    }
}
