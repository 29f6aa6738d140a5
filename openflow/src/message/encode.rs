//! Encoding a [`Message`]: its type, canonical form and bytes.

use super::{HelloElement, Message, MAX_MESSAGE_LEN, NXT_SET_PACKET_IN_FORMAT, OFP13_VERSION};
use crate::bundle::{ONFT_BUNDLE_ADD_MESSAGE, ONFT_BUNDLE_CONTROL};
use crate::error::{NX_VENDOR_ID, ONF_VENDOR_ID};
use crate::flow::Instruction;
use crate::monitor::FlowUpdate;
use crate::multipart::{MultipartReply, MultipartRequest};
use crate::wire::{len16, pad8, put_len_at};
use crate::Error;

impl Message {
    /// The `ofp_type` byte.
    pub fn kind(&self) -> u8 {
        match self {
            Message::Hello(_) => 0,
            Message::Error(_) => 1,
            Message::EchoRequest(_) => 2,
            Message::EchoReply(_) => 3,
            Message::BundleControl(_)
            | Message::BundleAdd { .. }
            | Message::SetPacketInFormat(_)
            | Message::Ext(_)
            | Message::Experimenter { .. } => 4,
            Message::FeaturesRequest => 5,
            Message::FeaturesReply(_) => 6,
            Message::GetConfigRequest => 7,
            Message::GetConfigReply(_) => 8,
            Message::SetConfig(_) => 9,
            Message::PacketIn(_) => 10,
            Message::FlowRemoved(_) => 11,
            Message::PortStatus(_) => 12,
            Message::PacketOut(_) => 13,
            Message::FlowMod(_) => 14,
            Message::GroupMod(_) => 15,
            Message::PortMod(_) => 16,
            Message::TableMod(_) => 17,
            Message::RoleRequest(_) => 24,
            Message::RoleReply(_) => 25,
            Message::GetAsyncRequest => 26,
            Message::GetAsyncReply(_) => 27,
            Message::SetAsync(_) => 28,
            Message::MeterMod(_) => 29,
            Message::MultipartRequest { .. } => 18,
            Message::MultipartReply { .. } => 19,
            Message::BarrierRequest => 20,
            Message::BarrierReply => 21,
            Message::Unknown { kind, .. } => *kind,
        }
    }

    /// The message as decoding its encoding gives it: every match in canonical form
    /// ([`crate::Match::canonical`]) and every instruction list in emit order, also inside a
    /// bundled message, flow stats, flow monitor requests and updates, PACKET_IN and
    /// FLOW_REMOVED. For any message the decoder returned, `decode(encode(m)) ==
    /// m.canonical()`; the property tests and the fuzz target check exactly that.
    pub fn canonical(&self) -> Message {
        fn insts(v: &mut [Instruction]) {
            v.sort_by_key(|i| i.rank());
        }
        let mut m = self.clone();
        match &mut m {
            Message::FlowMod(f) => *f = f.canonical(),
            Message::BundleAdd { message, .. } => **message = message.canonical(),
            Message::PacketIn(p) => p.r#match = p.r#match.canonical(),
            Message::FlowRemoved(f) => f.r#match = f.r#match.canonical(),
            Message::MultipartRequest { body, .. } => match body {
                MultipartRequest::Flow(f) | MultipartRequest::Aggregate(f) => {
                    f.r#match = f.r#match.canonical()
                }
                MultipartRequest::FlowMonitor(v) => {
                    for r in v {
                        r.r#match = r.r#match.canonical();
                    }
                }
                _ => {}
            },
            Message::MultipartReply { body, .. } => match body {
                MultipartReply::Flow(v) => {
                    for f in v {
                        f.r#match = f.r#match.canonical();
                        insts(&mut f.instructions);
                    }
                }
                MultipartReply::FlowMonitor(v) => {
                    for u in v {
                        if let FlowUpdate::Full {
                            r#match,
                            instructions,
                            ..
                        } = u
                        {
                            *r#match = r#match.canonical();
                            insts(instructions);
                        }
                    }
                }
                _ => {}
            },
            _ => {}
        }
        m
    }

    /// Encode with header and `xid`. Lengths are computed here, never stored. A message longer
    /// than [`MAX_MESSAGE_LEN`] encodes to nothing (an empty vector, logged as an error): use
    /// [`Message::try_encode`] to get the reason.
    pub fn encode(&self, xid: u32) -> Vec<u8> {
        let mut buf = Vec::with_capacity(64);
        self.emit(xid, &mut buf);
        buf
    }

    /// [`Message::encode`], refusing a message longer than [`MAX_MESSAGE_LEN`].
    ///
    /// Errors: [`Error::TooLong`] naming the message (for a FLOW_MOD, its largest
    /// instruction) and its size.
    pub fn try_encode(&self, xid: u32) -> Result<Vec<u8>, Error> {
        let mut buf = Vec::with_capacity(64);
        self.try_emit(xid, &mut buf)?;
        Ok(buf)
    }

    /// Append the encoded message to `buf` (used to batch many messages in one write). A
    /// message longer than [`MAX_MESSAGE_LEN`] is not written at all (logged as an error, as
    /// no wrapped length may reach a switch); the send paths use [`Message::try_emit`].
    pub fn emit(&self, xid: u32, buf: &mut Vec<u8>) {
        if let Err(e) = self.try_emit(xid, buf) {
            tracing::error!(error = %e, "OpenFlow message not encoded");
        }
    }

    /// [`Message::emit`], refusing a message longer than [`MAX_MESSAGE_LEN`]: then `buf` is
    /// left as it was.
    ///
    /// Errors: [`Error::TooLong`] naming the message (for a FLOW_MOD or a BUNDLE_ADD of one,
    /// the flow_mod's largest instruction) and its size.
    pub fn try_emit(&self, xid: u32, buf: &mut Vec<u8>) -> Result<(), Error> {
        let start = buf.len();
        self.emit_unchecked(xid, buf);
        let len = buf.len() - start;
        if len > MAX_MESSAGE_LEN {
            buf.truncate(start);
            return Err(Error::TooLong {
                what: self.size_name(),
                len,
                max: MAX_MESSAGE_LEN,
            });
        }
        Ok(())
    }

    /// What [`Error::TooLong`] calls this message.
    #[cold]
    fn size_name(&self) -> String {
        match self {
            Message::FlowMod(f) => f.size_name(),
            Message::BundleAdd { message, .. } => format!("bundle_add of {}", message.size_name()),
            m => format!("OpenFlow message type {}", m.kind()),
        }
    }

    /// Write the message whatever its length; a length field that does not fit 16 bits is
    /// written as 0 (see [`crate::wire::len16`]), and the caller checks the total.
    fn emit_unchecked(&self, xid: u32, buf: &mut Vec<u8>) {
        let start = buf.len();
        let version = match self {
            Message::Hello(h) => h.version,
            _ => OFP13_VERSION,
        };
        buf.extend_from_slice(&[version, self.kind(), 0, 0]);
        buf.extend_from_slice(&xid.to_be_bytes());
        match self {
            Message::Hello(h) => {
                for e in &h.elements {
                    let s = buf.len();
                    let (kind, data): (u16, Vec<u8>) = match e {
                        HelloElement::VersionBitmap(b) => {
                            (1, b.iter().flat_map(|w| w.to_be_bytes()).collect())
                        }
                        HelloElement::Unknown { kind, data } => (*kind, data.clone()),
                    };
                    buf.extend_from_slice(&kind.to_be_bytes());
                    buf.extend_from_slice(&len16(data.len() + 4));
                    buf.extend_from_slice(&data);
                    buf.resize(buf.len() + pad8(buf.len() - s), 0);
                }
            }
            Message::Error(e) => e.emit(buf),
            Message::EchoRequest(d) | Message::EchoReply(d) => buf.extend_from_slice(d),
            Message::FeaturesRequest
            | Message::GetConfigRequest
            | Message::BarrierRequest
            | Message::BarrierReply => {}
            Message::FeaturesReply(f) => {
                buf.extend_from_slice(&f.datapath_id.to_be_bytes());
                buf.extend_from_slice(&f.n_buffers.to_be_bytes());
                buf.extend_from_slice(&[f.n_tables, f.auxiliary_id, 0, 0]);
                buf.extend_from_slice(&f.capabilities.to_be_bytes());
                buf.extend_from_slice(&f.reserved.to_be_bytes());
            }
            Message::GetConfigReply(c) | Message::SetConfig(c) => {
                buf.extend_from_slice(&c.flags.to_be_bytes());
                buf.extend_from_slice(&c.miss_send_len.to_be_bytes());
            }
            Message::FlowMod(f) => f.emit(buf),
            Message::PacketIn(p) => p.emit(buf),
            Message::FlowRemoved(f) => f.emit(buf),
            Message::PortStatus(p) => p.emit(buf),
            Message::PacketOut(p) => p.emit(buf),
            Message::GroupMod(g) => g.emit(buf),
            Message::PortMod(p) => p.emit(buf),
            Message::TableMod(t) => t.emit(buf),
            Message::RoleRequest(r) | Message::RoleReply(r) => r.emit(buf),
            Message::GetAsyncRequest => {}
            Message::GetAsyncReply(a) | Message::SetAsync(a) => a.emit(buf),
            Message::MeterMod(m) => m.emit(buf),
            Message::Ext(e) => e.emit(buf),
            Message::MultipartRequest { flags, body } => {
                buf.extend_from_slice(&body.kind().to_be_bytes());
                buf.extend_from_slice(&flags.to_be_bytes());
                buf.extend_from_slice(&[0; 4]);
                body.emit_body(buf);
            }
            Message::MultipartReply { flags, body } => {
                buf.extend_from_slice(&body.kind().to_be_bytes());
                buf.extend_from_slice(&flags.to_be_bytes());
                buf.extend_from_slice(&[0; 4]);
                body.emit_body(buf);
            }
            Message::BundleControl(b) => {
                buf.extend_from_slice(&ONF_VENDOR_ID.to_be_bytes());
                buf.extend_from_slice(&ONFT_BUNDLE_CONTROL.to_be_bytes());
                buf.extend_from_slice(&b.bundle_id.to_be_bytes());
                buf.extend_from_slice(&b.kind.code().to_be_bytes());
                buf.extend_from_slice(&b.flags.to_be_bytes());
                buf.extend_from_slice(&b.properties);
            }
            Message::BundleAdd {
                bundle_id,
                flags,
                message,
            } => {
                buf.extend_from_slice(&ONF_VENDOR_ID.to_be_bytes());
                buf.extend_from_slice(&ONFT_BUNDLE_ADD_MESSAGE.to_be_bytes());
                buf.extend_from_slice(&bundle_id.to_be_bytes());
                buf.extend_from_slice(&[0, 0]);
                buf.extend_from_slice(&flags.to_be_bytes());
                message.emit_unchecked(xid, buf);
            }
            Message::SetPacketInFormat(f) => {
                buf.extend_from_slice(&NX_VENDOR_ID.to_be_bytes());
                buf.extend_from_slice(&NXT_SET_PACKET_IN_FORMAT.to_be_bytes());
                buf.extend_from_slice(&f.to_be_bytes());
            }
            Message::Experimenter {
                experimenter,
                exp_type,
                data,
            } => {
                buf.extend_from_slice(&experimenter.to_be_bytes());
                buf.extend_from_slice(&exp_type.to_be_bytes());
                buf.extend_from_slice(data);
            }
            Message::Unknown { body, .. } => buf.extend_from_slice(body),
        }
        let len = buf.len() - start;
        put_len_at(buf, start + 2, len);
    }
}
