//! Asynchronous messages and PACKET_OUT (OF1.3 §7.4.1-3, §7.3.7): PACKET_IN, FLOW_REMOVED,
//! PORT_STATUS, PACKET_OUT. Parse and emit of each body live here, tested both ways.

use crate::action::{emit_actions, parse_actions};
use crate::flow::{Action, Match};
use crate::multipart::Port;
use crate::wire::{exact_len, put_u16_at, Reader};
use crate::Error;

open_enum! {
    /// `ofp_packet_in_reason` (OF1.3 §7.4.1), OVS spelling.
    pub enum PacketInReason: u8 {
        /// OFPR_NO_MATCH (0): table miss.
        NoMatch = 0, "no_match";
        /// OFPR_ACTION (1): output to CONTROLLER.
        Action = 1, "action";
        /// OFPR_INVALID_TTL (2).
        InvalidTtl = 2, "invalid_ttl";
    }
}

open_enum! {
    /// `ofp_flow_removed_reason` (OF1.3 §7.4.2).
    pub enum FlowRemovedReason: u8 {
        /// OFPRR_IDLE_TIMEOUT (0).
        IdleTimeout = 0, "idle";
        /// OFPRR_HARD_TIMEOUT (1).
        HardTimeout = 1, "hard";
        /// OFPRR_DELETE (2).
        Delete = 2, "delete";
        /// OFPRR_GROUP_DELETE (3).
        GroupDelete = 3, "group_delete";
    }
}

open_enum! {
    /// `ofp_port_reason` (OF1.3 §7.4.3).
    pub enum PortReason: u8 {
        /// OFPPR_ADD (0).
        Add = 0, "ADD";
        /// OFPPR_DELETE (1).
        Delete = 1, "DELETE";
        /// OFPPR_MODIFY (2).
        Modify = 2, "MODIFY";
    }
}

/// OFPT_PACKET_IN body (type 10, OF1.3 §7.4.1):
/// `buffer_id u32 | total_len u16 | reason u8 | table_id u8 | cookie u64 | ofp_match (padded) |
/// pad[2] | frame`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketIn {
    /// Buffer id, OFP_NO_BUFFER (0xffffffff) when unbuffered (always, since OVS 2.7).
    pub buffer_id: u32,
    /// Full length of the frame (`data` may be shorter).
    pub total_len: u16,
    /// Why the packet was sent.
    pub reason: PacketInReason,
    /// Table the packet was in.
    pub table_id: u8,
    /// Cookie of the flow that sent it.
    pub cookie: u64,
    /// Pipeline metadata (IN_PORT, regs, tun_id, ...).
    pub r#match: Match,
    /// The frame (or its first `miss_send_len` bytes).
    pub data: Vec<u8>,
}

/// OFPT_FLOW_REMOVED body (type 11, OF1.3 §7.4.2, 40 bytes + match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRemoved {
    /// Cookie of the flow.
    pub cookie: u64,
    /// Priority.
    pub priority: u16,
    /// Why it was removed.
    pub reason: FlowRemovedReason,
    /// Table.
    pub table_id: u8,
    /// Seconds it was installed.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
    /// Idle timeout from the flow_mod.
    pub idle_timeout: u16,
    /// Hard timeout from the flow_mod.
    pub hard_timeout: u16,
    /// Packets matched.
    pub packet_count: u64,
    /// Bytes matched.
    pub byte_count: u64,
    /// The flow's match.
    pub r#match: Match,
}

/// OFPT_PORT_STATUS body (type 12, OF1.3 §7.4.3): `reason u8 | pad[7] | ofp_port (64 B)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortStatus {
    /// Added, deleted or modified.
    pub reason: PortReason,
    /// The port.
    pub port: Port,
}

/// OFPT_PACKET_OUT body (type 13, OF1.3 §7.3.7):
/// `buffer_id u32 | in_port u32 | actions_len u16 | pad[6] | actions | frame`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketOut {
    /// Buffer id, or OFP_NO_BUFFER with the frame in `data`.
    pub buffer_id: u32,
    /// Ingress port for the actions (OFPP_CONTROLLER 0xfffffffd for controller packets).
    pub in_port: u32,
    /// Actions applied to the packet.
    pub actions: Vec<Action>,
    /// The frame.
    pub data: Vec<u8>,
}

impl PacketIn {
    /// Append the body.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.buffer_id.to_be_bytes());
        buf.extend_from_slice(&self.total_len.to_be_bytes());
        buf.extend_from_slice(&[self.reason.code(), self.table_id]);
        buf.extend_from_slice(&self.cookie.to_be_bytes());
        self.r#match.emit(buf);
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&self.data);
    }

    /// Parse a body (the reader covers exactly the body).
    ///
    /// Errors: [`Error::Truncated`], match errors.
    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        let buffer_id = r.u32("packet_in")?;
        let total_len = r.u16("packet_in")?;
        let reason = PacketInReason::from_code(r.u8("packet_in")?);
        let table_id = r.u8("packet_in")?;
        let cookie = r.u64("packet_in")?;
        let r#match = Match::parse(r)?;
        r.skip("packet_in pad", 2)?;
        Ok(PacketIn {
            buffer_id,
            total_len,
            reason,
            table_id,
            cookie,
            r#match,
            data: r.rest().to_vec(),
        })
    }
}

impl FlowRemoved {
    /// Append the body.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.cookie.to_be_bytes());
        buf.extend_from_slice(&self.priority.to_be_bytes());
        buf.extend_from_slice(&[self.reason.code(), self.table_id]);
        buf.extend_from_slice(&self.duration_sec.to_be_bytes());
        buf.extend_from_slice(&self.duration_nsec.to_be_bytes());
        buf.extend_from_slice(&self.idle_timeout.to_be_bytes());
        buf.extend_from_slice(&self.hard_timeout.to_be_bytes());
        buf.extend_from_slice(&self.packet_count.to_be_bytes());
        buf.extend_from_slice(&self.byte_count.to_be_bytes());
        self.r#match.emit(buf);
    }

    /// Parse a body. Errors: [`Error::Truncated`], match errors, [`Error::BadLength`] for
    /// trailing bytes.
    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        let cookie = r.u64("flow_removed")?;
        let priority = r.u16("flow_removed")?;
        let reason = FlowRemovedReason::from_code(r.u8("flow_removed")?);
        let table_id = r.u8("flow_removed")?;
        let duration_sec = r.u32("flow_removed")?;
        let duration_nsec = r.u32("flow_removed")?;
        let idle_timeout = r.u16("flow_removed")?;
        let hard_timeout = r.u16("flow_removed")?;
        let packet_count = r.u64("flow_removed")?;
        let byte_count = r.u64("flow_removed")?;
        let r#match = Match::parse(r)?;
        exact_len(r, 0, "flow_removed")?;
        Ok(FlowRemoved {
            cookie,
            priority,
            reason,
            table_id,
            duration_sec,
            duration_nsec,
            idle_timeout,
            hard_timeout,
            packet_count,
            byte_count,
            r#match,
        })
    }
}

impl PortStatus {
    /// Append the body.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&[self.reason.code(), 0, 0, 0, 0, 0, 0, 0]);
        self.port.emit(buf);
    }

    /// Parse a body (exactly 72 bytes).
    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        exact_len(r, 72, "port_status")?;
        let reason = PortReason::from_code(r.u8("port_status")?);
        r.skip("port_status pad", 7)?;
        Ok(PortStatus {
            reason,
            port: Port::parse(r)?,
        })
    }
}

impl PacketOut {
    /// Append the body; `actions_len` is computed here.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.buffer_id.to_be_bytes());
        buf.extend_from_slice(&self.in_port.to_be_bytes());
        let at = buf.len();
        buf.extend_from_slice(&[0; 8]);
        let start = buf.len();
        emit_actions(&self.actions, buf);
        let n = buf.len() - start;
        put_u16_at(buf, at, n as u16);
        buf.extend_from_slice(&self.data);
    }

    /// Parse a body. Errors: [`Error::BadLength`] when `actions_len` runs past the end, action
    /// errors.
    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        let buffer_id = r.u32("packet_out")?;
        let in_port = r.u32("packet_out")?;
        let off = r.offset();
        let actions_len = r.u16("packet_out")? as usize;
        r.skip("packet_out pad", 6)?;
        if actions_len > r.remaining() {
            return Err(Error::BadLength {
                what: "packet_out actions_len",
                offset: off,
                length: actions_len,
            });
        }
        let mut a = r.sub("packet_out actions", actions_len)?;
        let actions = parse_actions(&mut a)?;
        Ok(PacketOut {
            buffer_id,
            in_port,
            actions,
            data: r.rest().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{MacAddr, MatchField};

    fn round_trip<T: PartialEq + std::fmt::Debug>(
        v: &T,
        emit: impl Fn(&T, &mut Vec<u8>),
        parse: impl Fn(&mut Reader) -> Result<T, Error>,
    ) -> Vec<u8> {
        let mut buf = vec![0xa5];
        emit(v, &mut buf);
        let got = parse(&mut Reader::new(&buf[1..], 8)).unwrap();
        assert_eq!(&got, v);
        buf.split_off(1)
    }

    #[test]
    fn packet_in_round_trips_with_match_padding_and_frame() {
        let p = PacketIn {
            buffer_id: u32::MAX,
            total_len: 4,
            reason: PacketInReason::Action,
            table_id: 7,
            cookie: 0x1234,
            r#match: Match::new().with(MatchField::InPort(3)),
            data: vec![1, 2, 3, 4],
        };
        let b = round_trip(&p, PacketIn::emit, PacketIn::parse);
        assert_eq!(b.len(), 16 + 16 + 2 + 4);
        assert_eq!(&b[16..20], &[0, 1, 0, 12]);
    }

    #[test]
    fn flow_removed_and_port_status_round_trip() {
        let f = FlowRemoved {
            cookie: 9,
            priority: 100,
            reason: FlowRemovedReason::Unknown(9),
            table_id: 3,
            duration_sec: 1,
            duration_nsec: 2,
            idle_timeout: 10,
            hard_timeout: 0,
            packet_count: 5,
            byte_count: 500,
            r#match: Match::new(),
        };
        assert_eq!(
            round_trip(&f, FlowRemoved::emit, FlowRemoved::parse).len(),
            48
        );
        let s = PortStatus {
            reason: PortReason::Modify,
            port: Port {
                port_no: 1,
                hw_addr: MacAddr([2, 0, 0, 0, 0, 1]),
                name: "p1".into(),
                config: 0,
                state: 4,
                features: [0; 4],
                curr_speed: 0,
                max_speed: 0,
            },
        };
        assert_eq!(
            round_trip(&s, PortStatus::emit, PortStatus::parse).len(),
            72
        );
    }

    #[test]
    fn packet_out_actions_len_past_end_is_bad_length_at_its_offset() {
        let b = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 16, 0, 0, 0, 0, 0, 0];
        let e = PacketOut::parse(&mut Reader::new(&b, 8)).unwrap_err();
        assert!(
            matches!(
                e,
                Error::BadLength {
                    offset: 16,
                    length: 16,
                    ..
                }
            ),
            "{e:?}"
        );
    }
}
