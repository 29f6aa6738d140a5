//! OpenFlow 1.3 flow monitoring as Open vSwitch speaks it (`ovs-ofctl -O OpenFlow13 monitor br
//! watch:`): the ONF experimenter multipart ONFST_FLOW_MONITOR (1870) carrying
//! `onf_flow_monitor_request`s and, in replies, `onf_flow_update_*` entries
//! (`include/openflow/openflow-1.3.h`, `lib/ofp-monitor.c`). OVS 3.1 uses this form in OF1.3;
//! NXST_FLOW_MONITOR (Nicira stats 2) is its OF1.0–1.2 form, with the same flags and events but
//! NXM matches and bare actions. CANCEL / PAUSED / RESUMED are in [`crate::nicira`].
//!
//! The switch answers the request with the matching flows (if [`FMF_INITIAL`]) in a multipart
//! reply with the request's xid, then sends every later change as an unsolicited multipart reply
//! with xid 0. Changes made on the monitoring connection itself come as [`FlowUpdate::Abbrev`]
//! (just the flow_mod's xid) unless [`FMF_OWN`] is set.

use crate::error::ONF_VENDOR_ID;
use crate::flow::{FlowMod, Instruction, Match};
use crate::instruction::{emit_instructions, parse_instructions};
use crate::wire::{item, put_len_at, put_u16_at, Reader};
use crate::Error;

/// ONFST_FLOW_MONITOR experimenter multipart type.
pub const ONFST_FLOW_MONITOR: u32 = 1870;

/// ONFFMF_INITIAL: report the flows that match when the monitor starts.
pub const FMF_INITIAL: u16 = 1 << 0;
/// ONFFMF_ADD: report flows as they are added.
pub const FMF_ADD: u16 = 1 << 1;
/// ONFFMF_DELETE: report flows as they are removed.
pub const FMF_DELETE: u16 = 1 << 2;
/// ONFFMF_MODIFY: report flows as they change.
pub const FMF_MODIFY: u16 = 1 << 3;
/// ONFFMF_ACTIONS: include instructions in full updates.
pub const FMF_ACTIONS: u16 = 1 << 4;
/// ONFFMF_OWN: report this connection's own changes in full, not as ABBREV.
pub const FMF_OWN: u16 = 1 << 5;

/// `onf_flow_monitor_request` (16 bytes + `ofp_match`): which flows to watch and what to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowMonitorRequest {
    /// Monitor id, chosen by the controller (used to cancel).
    pub id: u32,
    /// `FMF_*` bits; at least one of ADD, DELETE, MODIFY (OVS rejects others with
    /// OFPMOFC_BAD_FLAGS).
    pub flags: u16,
    /// Only flows that output to this port (`0xffffffff` = OFPP_ANY, any).
    pub out_port: u32,
    /// One table, or `0xff` for all.
    pub table_id: u8,
    /// Only flows whose match is at least as specific as this (non-strict).
    pub r#match: Match,
}

impl FlowMonitorRequest {
    /// Watch every flow of every table: the initial flows, then adds, deletes and modifications
    /// with their instructions, own changes abbreviated. Equivalent to
    /// `ovs-ofctl monitor br watch:!own`.
    pub fn all(id: u32) -> Self {
        FlowMonitorRequest {
            id,
            flags: FMF_INITIAL | FMF_ADD | FMF_DELETE | FMF_MODIFY | FMF_ACTIONS,
            out_port: 0xffff_ffff,
            table_id: 0xff,
            r#match: Match::default(),
        }
    }

    pub(crate) fn emit(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        buf.extend_from_slice(&self.id.to_be_bytes());
        buf.extend_from_slice(&self.flags.to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&self.out_port.to_be_bytes());
        buf.extend_from_slice(&[self.table_id, 0, 0, 0]);
        let m = buf.len();
        self.r#match.emit(buf);
        let match_len = u16::from_be_bytes([buf[m + 2], buf[m + 3]]);
        put_u16_at(buf, start + 6, match_len);
    }

    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        let id = r.u32("onf_flow_monitor_request")?;
        let flags = r.u16("onf_flow_monitor_request")?;
        let match_len = r.u16("onf_flow_monitor_request")?;
        let out_port = r.u32("onf_flow_monitor_request")?;
        let table_id = r.u8("onf_flow_monitor_request")?;
        r.skip("onf_flow_monitor_request", 3)?;
        let r#match = parse_match(r, match_len)?;
        Ok(FlowMonitorRequest {
            id,
            flags,
            out_port,
            table_id,
            r#match,
        })
    }
}

/// `ofp_match` whose `length` must equal the enclosing structure's `match_len`.
fn parse_match(r: &mut Reader, match_len: u16) -> Result<Match, Error> {
    let off = r.offset();
    if let Some(len) = r.peek_u16(2).filter(|l| *l != match_len) {
        return Err(Error::BadLength {
            what: "match_len",
            offset: off,
            length: len as usize,
        });
    }
    Match::parse(r)
}

open_enum! {
    /// `onf_flow_update_event` / `nx_flow_update_event` of a full update.
    pub enum FlowUpdateEvent: u16 {
        /// ONFFME_ADDED (0): the flow was added (also the initial flows).
        Added = 0, "ADDED";
        /// ONFFME_DELETED (1): the flow was removed; `reason` says why.
        Deleted = 1, "DELETED";
        /// ONFFME_MODIFIED (2): the flow (generally its actions) changed.
        Modified = 2, "MODIFIED";
    }
}

/// ONFFME_ABBREV: the event of [`FlowUpdate::Abbrev`].
pub const FME_ABBREV: u16 = 3;

/// One flow update in an ONFST_FLOW_MONITOR reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowUpdate {
    /// `onf_flow_update_full` (24 bytes + match + instructions).
    Full {
        /// Added, deleted or modified; never `Unknown` when decoded (that is an error).
        event: FlowUpdateEvent,
        /// For DELETED: OFPRR_* (0 idle, 1 hard, 2 delete, 3 group delete, 4 meter delete).
        reason: u16,
        /// Priority.
        priority: u16,
        /// Idle timeout, seconds.
        idle_timeout: u16,
        /// Hard timeout, seconds.
        hard_timeout: u16,
        /// Table.
        table_id: u8,
        /// Cookie.
        cookie: u64,
        /// The flow's match.
        r#match: Match,
        /// Its instructions (empty without [`FMF_ACTIONS`] and for DELETED).
        instructions: Vec<Instruction>,
    },
    /// `onf_flow_update_abbrev`: a change made by this connection's flow_mod with `xid`.
    Abbrev {
        /// The flow_mod's xid.
        xid: u32,
    },
}

impl FlowUpdate {
    /// A full update's flow as an ADD flow_mod (priority, table, cookie, timeouts, match,
    /// instructions), e.g. to print it in `ovs-ofctl` syntax or compare it with the desired
    /// flows; `None` for ABBREV.
    pub fn flow_mod(&self) -> Option<FlowMod> {
        let FlowUpdate::Full {
            priority,
            idle_timeout,
            hard_timeout,
            table_id,
            cookie,
            r#match,
            instructions,
            ..
        } = self
        else {
            return None;
        };
        let mut f = FlowMod::add(*table_id, *priority, r#match.clone(), instructions.clone());
        f.cookie = *cookie;
        f.idle_timeout = *idle_timeout;
        f.hard_timeout = *hard_timeout;
        Some(f)
    }

    pub(crate) fn emit(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        match self {
            FlowUpdate::Abbrev { xid } => {
                buf.extend_from_slice(&8u16.to_be_bytes());
                buf.extend_from_slice(&FME_ABBREV.to_be_bytes());
                buf.extend_from_slice(&xid.to_be_bytes());
            }
            FlowUpdate::Full {
                event,
                reason,
                priority,
                idle_timeout,
                hard_timeout,
                table_id,
                cookie,
                r#match,
                instructions,
            } => {
                buf.extend_from_slice(&[0, 0]);
                for v in [
                    event.code(),
                    *reason,
                    *priority,
                    *idle_timeout,
                    *hard_timeout,
                    0,
                ] {
                    buf.extend_from_slice(&v.to_be_bytes());
                }
                buf.extend_from_slice(&[*table_id, 0]);
                buf.extend_from_slice(&cookie.to_be_bytes());
                let m = buf.len();
                r#match.emit(buf);
                let match_len = u16::from_be_bytes([buf[m + 2], buf[m + 3]]);
                put_u16_at(buf, start + 12, match_len);
                emit_instructions(instructions, buf);
                let len = buf.len() - start;
                put_len_at(buf, start, len);
            }
        }
    }

    /// Errors: [`Error::BadLength`] when the entry's length is short, not a multiple of 8, past
    /// the end, or not 8 for ABBREV; [`Error::BadValue`] for an unknown event (OVS:
    /// NXBRC_FM_BAD_EVENT); match and instruction errors with their offsets.
    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        let off = r.offset();
        let mut e = item(r, 0, 8, "flow update")?;
        let len = e.remaining();
        let bad_len = Error::BadLength {
            what: "flow update",
            offset: off,
            length: len,
        };
        if len % 8 != 0 {
            return Err(bad_len);
        }
        e.skip("flow update", 2)?;
        let event = e.u16("flow update")?;
        if event == FME_ABBREV {
            if len != 8 {
                return Err(bad_len);
            }
            return Ok(FlowUpdate::Abbrev {
                xid: e.u32("flow update abbrev")?,
            });
        }
        let event = FlowUpdateEvent::from_code(event);
        if let FlowUpdateEvent::Unknown(n) = event {
            return Err(Error::BadValue {
                offset: off + 2,
                reason: format!("flow update event {n} (NXBRC_FM_BAD_EVENT)"),
            });
        }
        if len < 24 {
            return Err(bad_len);
        }
        let reason = e.u16("flow update")?;
        let priority = e.u16("flow update")?;
        let idle_timeout = e.u16("flow update")?;
        let hard_timeout = e.u16("flow update")?;
        let match_len = e.u16("flow update")?;
        let table_id = e.u8("flow update")?;
        e.skip("flow update", 1)?;
        let cookie = e.u64("flow update")?;
        let r#match = parse_match(&mut e, match_len)?;
        let instructions = parse_instructions(&mut e)?;
        Ok(FlowUpdate::Full {
            event,
            reason,
            priority,
            idle_timeout,
            hard_timeout,
            table_id,
            cookie,
            r#match,
            instructions,
        })
    }
}

/// Whether an experimenter multipart body (after `type = 0xffff | flags | pad`) is
/// ONFST_FLOW_MONITOR; consumes the experimenter header if so.
pub(crate) fn is_flow_monitor(r: &mut Reader) -> bool {
    let ids = (r.peek_u16(0), r.peek_u16(2), r.peek_u16(4), r.peek_u16(6));
    let want = (
        Some((ONF_VENDOR_ID >> 16) as u16),
        Some(ONF_VENDOR_ID as u16),
        Some(0),
        Some(ONFST_FLOW_MONITOR as u16),
    );
    ids == want && r.skip("experimenter multipart", 8).is_ok()
}

/// Append the ONF experimenter multipart header for ONFST_FLOW_MONITOR.
pub(crate) fn emit_flow_monitor_header(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&ONF_VENDOR_ID.to_be_bytes());
    buf.extend_from_slice(&ONFST_FLOW_MONITOR.to_be_bytes());
}
