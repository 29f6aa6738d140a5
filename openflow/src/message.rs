//! OpenFlow 1.3 messages: the 8-byte `ofp_header` (`version u8 | type u8 | length u16 | xid u32`,
//! OF1.3 §7.1) and the bodies this crate understands. Anything else decodes as
//! [`Message::Unknown`] / [`Message::Experimenter`] and re-emits byte for byte.

use crate::bundle::{BundleControl, BundleCtrlType, ONFT_BUNDLE_ADD_MESSAGE, ONFT_BUNDLE_CONTROL};
use crate::control::{AsyncConfig, PortMod, Role, TableMod};
use crate::error::{NX_VENDOR_ID, ONF_VENDOR_ID};
use crate::flow::{FlowMod, Instruction};
use crate::group::GroupMod;
use crate::meter::MeterMod;
use crate::monitor::FlowUpdate;
use crate::multipart::{MultipartReply, MultipartRequest};
use crate::nicira::ExtMessage;
use crate::packet::{FlowRemoved, PacketIn, PacketOut, PortStatus};
use crate::wire::{len16, pad8, put_len_at, Reader};
use crate::{Error, OfpError};

/// OpenFlow 1.3 wire version.
pub const OFP13_VERSION: u8 = 4;

/// The longest OpenFlow message, its 8-byte header included: `ofp_header.length` is 16 bits
/// (OF1.3 §7.1). [`Message::try_emit`] refuses longer ones.
pub const MAX_MESSAGE_LEN: usize = 0xffff;

/// The bytes of an ONFT_BUNDLE_ADD_MESSAGE before the message it carries: `ofp_header` (8),
/// experimenter id and type (8), bundle_id (4), pad (2), flags (2) (OF1.4 §7.3.9.6 as ONF
/// extension 230 for OF1.3).
pub const BUNDLE_ADD_HEADER_LEN: usize = 24;

/// The longest FLOW_MOD (header included) that a BUNDLE_ADD can carry:
/// [`MAX_MESSAGE_LEN`] less [`BUNDLE_ADD_HEADER_LEN`], 65511 bytes. The flows
/// [`crate::session::Session::bundle`] sends must fit this.
pub const MAX_BUNDLED_FLOW_MOD_LEN: usize = MAX_MESSAGE_LEN - BUNDLE_ADD_HEADER_LEN;
/// NXT_SET_PACKET_IN_FORMAT subtype.
pub const NXT_SET_PACKET_IN_FORMAT: u32 = 16;

/// A HELLO element (OF1.3 §7.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelloElement {
    /// OFPHET_VERSIONBITMAP: bit n of the bitmap = wire version n.
    VersionBitmap(Vec<u32>),
    /// Any other element, raw.
    Unknown {
        /// Element type.
        kind: u16,
        /// Element data (without padding).
        data: Vec<u8>,
    },
}

/// HELLO: header version plus elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Header version (highest the sender supports).
    pub version: u8,
    /// Elements.
    pub elements: Vec<HelloElement>,
}

impl Hello {
    /// Our HELLO: version 0x04 with bitmap 0x10 (`ovs-ofctl encode-hello 0x10`).
    pub fn of13() -> Self {
        Hello {
            version: OFP13_VERSION,
            elements: vec![HelloElement::VersionBitmap(vec![1 << OFP13_VERSION])],
        }
    }

    /// Whether the peer supports OF1.3: its bitmap has bit 4, or, without a bitmap, its header
    /// version is ≥ 4 (OF1.3 §6.3.1).
    pub fn supports_of13(&self) -> bool {
        let bitmap = self.elements.iter().find_map(|e| match e {
            HelloElement::VersionBitmap(b) => Some(b),
            _ => None,
        });
        match bitmap {
            Some(b) => b.first().is_some_and(|w| w & (1 << OFP13_VERSION) != 0),
            None => self.version >= OFP13_VERSION,
        }
    }
}

/// FEATURES_REPLY body (OF1.3 §7.3.1, 24 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwitchFeatures {
    /// Datapath id.
    pub datapath_id: u64,
    /// Packet buffers.
    pub n_buffers: u32,
    /// Number of tables.
    pub n_tables: u8,
    /// Auxiliary connection id.
    pub auxiliary_id: u8,
    /// OFPC_* bits.
    pub capabilities: u32,
    /// Reserved.
    pub reserved: u32,
}

/// GET_CONFIG_REPLY / SET_CONFIG body (OF1.3 §7.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwitchConfig {
    /// OFPC_FRAG_* flags.
    pub flags: u16,
    /// Bytes of a table-miss packet to send to the controller (0xffff = whole packet).
    pub miss_send_len: u16,
}

/// An OpenFlow 1.3 message (without its xid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// OFPT_HELLO (0).
    Hello(Hello),
    /// OFPT_ERROR (1).
    Error(OfpError),
    /// OFPT_ECHO_REQUEST (2) with its payload.
    EchoRequest(Vec<u8>),
    /// OFPT_ECHO_REPLY (3) with its payload.
    EchoReply(Vec<u8>),
    /// OFPT_FEATURES_REQUEST (5).
    FeaturesRequest,
    /// OFPT_FEATURES_REPLY (6).
    FeaturesReply(SwitchFeatures),
    /// OFPT_GET_CONFIG_REQUEST (7).
    GetConfigRequest,
    /// OFPT_GET_CONFIG_REPLY (8).
    GetConfigReply(SwitchConfig),
    /// OFPT_SET_CONFIG (9).
    SetConfig(SwitchConfig),
    /// OFPT_PACKET_IN (10).
    PacketIn(PacketIn),
    /// OFPT_FLOW_REMOVED (11).
    FlowRemoved(FlowRemoved),
    /// OFPT_PORT_STATUS (12).
    PortStatus(PortStatus),
    /// OFPT_PACKET_OUT (13).
    PacketOut(PacketOut),
    /// OFPT_FLOW_MOD (14).
    FlowMod(FlowMod),
    /// OFPT_GROUP_MOD (15).
    GroupMod(GroupMod),
    /// OFPT_PORT_MOD (16).
    PortMod(PortMod),
    /// OFPT_TABLE_MOD (17).
    TableMod(TableMod),
    /// OFPT_ROLE_REQUEST (24).
    RoleRequest(Role),
    /// OFPT_ROLE_REPLY (25).
    RoleReply(Role),
    /// OFPT_GET_ASYNC_REQUEST (26).
    GetAsyncRequest,
    /// OFPT_GET_ASYNC_REPLY (27).
    GetAsyncReply(AsyncConfig),
    /// OFPT_SET_ASYNC (28).
    SetAsync(AsyncConfig),
    /// OFPT_METER_MOD (29).
    MeterMod(MeterMod),
    /// A typed Nicira/ONF extension (PACKET_IN2, RESUME, TLV table, flow monitor control).
    Ext(ExtMessage),
    /// OFPT_MULTIPART_REQUEST (18).
    MultipartRequest {
        /// OFPMPF_REQ_MORE.
        flags: u16,
        /// Body.
        body: MultipartRequest,
    },
    /// OFPT_MULTIPART_REPLY (19).
    MultipartReply {
        /// OFPMPF_REPLY_MORE.
        flags: u16,
        /// Body.
        body: MultipartReply,
    },
    /// OFPT_BARRIER_REQUEST (20).
    BarrierRequest,
    /// OFPT_BARRIER_REPLY (21).
    BarrierReply,
    /// ONFT_BUNDLE_CONTROL (experimenter ONF, 2300).
    BundleControl(BundleControl),
    /// ONFT_BUNDLE_ADD_MESSAGE (experimenter ONF, 2301); the inner message carries the same xid.
    BundleAdd {
        /// Bundle id.
        bundle_id: u32,
        /// OFPBF_* flags (must equal the OPEN's).
        flags: u16,
        /// The wrapped message.
        message: Box<Message>,
    },
    /// NXT_SET_PACKET_IN_FORMAT (Nicira 16): 0 standard, 1 nxt_packet_in, 2 nxt_packet_in2.
    SetPacketInFormat(u32),
    /// Any other OFPT_EXPERIMENTER (4) message, raw.
    Experimenter {
        /// Experimenter id.
        experimenter: u32,
        /// Experimenter message type.
        exp_type: u32,
        /// The rest.
        data: Vec<u8>,
    },
    /// Any other message type (QUEUE_GET_CONFIG_REQUEST/REPLY, types from OpenFlow 1.4 on),
    /// body raw.
    Unknown {
        /// `ofp_type`.
        kind: u8,
        /// Body after the header.
        body: Vec<u8>,
    },
}

/// Total length of the message at the start of `buf`, once its header is there.
pub fn frame_len(buf: &[u8]) -> Option<usize> {
    buf.get(2..4)
        .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
}

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

    /// Decode exactly one whole message; returns its xid and the message.
    ///
    /// Errors: [`Error::Truncated`] when `bytes` is shorter than the header or its length field,
    /// [`Error::BadLength`] when the length field is < 8 or shorter than `bytes`,
    /// [`Error::BadVersion`] for a non-1.3 message other than HELLO/ERROR, and body errors
    /// (all with offsets from the start of `bytes`). Never panics.
    pub fn decode(bytes: &[u8]) -> Result<(u32, Message), Error> {
        let (version, kind, xid, mut r) = read_header(bytes)?;
        if kind == 14 {
            // FLOW_MOD, the message decoded in bulk, without the other kinds' frame.
            return match FlowMod::parse(&mut r) {
                Ok(f) => Ok((xid, Message::FlowMod(f))),
                Err(e) => Err(e),
            };
        }
        let msg = Self::decode_body(version, kind, xid, &mut r)?;
        Ok((xid, msg))
    }

    fn decode_body(version: u8, kind: u8, xid: u32, r: &mut Reader) -> Result<Message, Error> {
        let exact = |r: &Reader, n: usize, what: &'static str| {
            if r.remaining() == n {
                Ok(())
            } else {
                Err(Error::BadLength {
                    what,
                    offset: 0,
                    length: r.remaining() + 8,
                })
            }
        };
        Ok(match kind {
            0 => {
                let mut elements = Vec::new();
                while r.remaining() >= 4 {
                    let off = r.offset();
                    let t = r.u16("hello element")?;
                    let l = r.u16("hello element")? as usize;
                    if l < 4 {
                        return Err(Error::BadLength {
                            what: "hello element",
                            offset: off,
                            length: l,
                        });
                    }
                    let data = r.take("hello element", l - 4)?;
                    r.skip("hello element padding", pad8(l).min(r.remaining()))?;
                    elements.push(if t == 1 {
                        HelloElement::VersionBitmap(
                            data.chunks_exact(4)
                                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                                .collect(),
                        )
                    } else {
                        HelloElement::Unknown {
                            kind: t,
                            data: data.to_vec(),
                        }
                    });
                }
                Message::Hello(Hello { version, elements })
            }
            1 => Message::Error(OfpError::parse(r)?),
            2 => Message::EchoRequest(r.rest().to_vec()),
            3 => Message::EchoReply(r.rest().to_vec()),
            4 => {
                let experimenter = r.u32("experimenter header")?;
                let exp_type = r.u32("experimenter header")?;
                match (experimenter, exp_type) {
                    (ONF_VENDOR_ID, ONFT_BUNDLE_CONTROL) => {
                        let bundle_id = r.u32("bundle control")?;
                        let kind = BundleCtrlType::from_code(r.u16("bundle control")?);
                        let flags = r.u16("bundle control")?;
                        Message::BundleControl(BundleControl {
                            bundle_id,
                            kind,
                            flags,
                            properties: r.rest().to_vec(),
                        })
                    }
                    (ONF_VENDOR_ID, ONFT_BUNDLE_ADD_MESSAGE) => {
                        let bundle_id = r.u32("bundle add")?;
                        r.skip("bundle add", 2)?;
                        let flags = r.u16("bundle add")?;
                        let off = r.offset();
                        let inner = r.rest();
                        let (inner_xid, message) =
                            Message::decode(inner).map_err(|e| shift(e, off))?;
                        if inner_xid != xid {
                            return Err(Error::BadValue {
                                offset: off + 4,
                                reason: format!(
                                    "bundled message xid {inner_xid:#x} differs from {xid:#x}"
                                ),
                            });
                        }
                        Message::BundleAdd {
                            bundle_id,
                            flags,
                            message: Box::new(message),
                        }
                    }
                    (NX_VENDOR_ID, NXT_SET_PACKET_IN_FORMAT) => {
                        exact(r, 4, "set_packet_in_format")?;
                        Message::SetPacketInFormat(r.u32("set_packet_in_format")?)
                    }
                    _ => match ExtMessage::parse(experimenter, exp_type, r) {
                        Some(ext) => Message::Ext(ext?),
                        None => Message::Experimenter {
                            experimenter,
                            exp_type,
                            data: r.rest().to_vec(),
                        },
                    },
                }
            }
            5 => {
                exact(r, 0, "features_request")?;
                Message::FeaturesRequest
            }
            6 => {
                exact(r, 24, "features_reply")?;
                let datapath_id = r.u64("features")?;
                let n_buffers = r.u32("features")?;
                let n_tables = r.u8("features")?;
                let auxiliary_id = r.u8("features")?;
                r.skip("features", 2)?;
                let capabilities = r.u32("features")?;
                let reserved = r.u32("features")?;
                Message::FeaturesReply(SwitchFeatures {
                    datapath_id,
                    n_buffers,
                    n_tables,
                    auxiliary_id,
                    capabilities,
                    reserved,
                })
            }
            7 => {
                exact(r, 0, "get_config_request")?;
                Message::GetConfigRequest
            }
            8 | 9 => {
                exact(r, 4, "switch_config")?;
                let c = SwitchConfig {
                    flags: r.u16("switch_config")?,
                    miss_send_len: r.u16("switch_config")?,
                };
                if kind == 8 {
                    Message::GetConfigReply(c)
                } else {
                    Message::SetConfig(c)
                }
            }
            10 => Message::PacketIn(PacketIn::parse(r)?),
            11 => Message::FlowRemoved(FlowRemoved::parse(r)?),
            12 => Message::PortStatus(PortStatus::parse(r)?),
            13 => Message::PacketOut(PacketOut::parse(r)?),
            14 => Message::FlowMod(FlowMod::parse(r)?),
            15 => Message::GroupMod(GroupMod::parse(r)?),
            16 => Message::PortMod(PortMod::parse(r)?),
            17 => Message::TableMod(TableMod::parse(r)?),
            24 => Message::RoleRequest(Role::parse(r)?),
            25 => Message::RoleReply(Role::parse(r)?),
            26 => {
                exact(r, 0, "get_async_request")?;
                Message::GetAsyncRequest
            }
            27 => Message::GetAsyncReply(AsyncConfig::parse(r)?),
            28 => Message::SetAsync(AsyncConfig::parse(r)?),
            29 => Message::MeterMod(MeterMod::parse(r)?),
            18 | 19 => {
                let mp = r.u16("multipart")?;
                let flags = r.u16("multipart")?;
                r.skip("multipart", 4)?;
                if kind == 18 {
                    Message::MultipartRequest {
                        flags,
                        body: MultipartRequest::parse_body(mp, r)?,
                    }
                } else {
                    Message::MultipartReply {
                        flags,
                        body: MultipartReply::parse_body(mp, r)?,
                    }
                }
            }
            20 => {
                exact(r, 0, "barrier_request")?;
                Message::BarrierRequest
            }
            21 => {
                exact(r, 0, "barrier_reply")?;
                Message::BarrierReply
            }
            kind => Message::Unknown {
                kind,
                body: r.rest().to_vec(),
            },
        })
    }
}

/// Re-base an inner message's error offsets onto the outer message.
fn shift(e: Error, by: usize) -> Error {
    match e {
        Error::Truncated {
            what,
            offset,
            needed,
            available,
        } => Error::Truncated {
            what,
            offset: offset + by,
            needed,
            available,
        },
        Error::BadLength {
            what,
            offset,
            length,
        } => Error::BadLength {
            what,
            offset: offset + by,
            length,
        },
        Error::BadMatch { offset, kind } => Error::BadMatch {
            offset: offset + by,
            kind,
        },
        Error::BadAction { offset, reason } => Error::BadAction {
            offset: offset + by,
            reason,
        },
        Error::BadInstruction { offset, reason } => Error::BadInstruction {
            offset: offset + by,
            reason,
        },
        Error::BadValue { offset, reason } => Error::BadValue {
            offset: offset + by,
            reason,
        },
        e => e,
    }
}

/// Check the `ofp_header` of one whole message: (version, type, xid, a reader over the body).
///
/// Errors: [`Error::BadLength`] when the header's length is below 8 or shorter than `bytes`,
/// [`Error::Truncated`] when longer, [`Error::BadVersion`] for a version other than 1.3 (but
/// HELLO and ERROR, which any version may send).
#[inline]
pub(crate) fn read_header(bytes: &[u8]) -> Result<(u8, u8, u32, Reader<'_>), Error> {
    let mut r = Reader::new(bytes, 0);
    let Some(h) = bytes.first_chunk::<8>() else {
        // Report the field that is cut off, as a field-by-field read does.
        r.u8("ofp_header")?;
        r.u8("ofp_header")?;
        r.u16("ofp_header")?;
        r.u32("ofp_header")?;
        unreachable!("eight bytes are a whole header");
    };
    let (version, kind) = (h[0], h[1]);
    let len = u16::from_be_bytes([h[2], h[3]]) as usize;
    let xid = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    r.advance(8);
    if len < 8 || len < bytes.len() {
        return Err(Error::BadLength {
            what: "ofp_header",
            offset: 0,
            length: len,
        });
    }
    if len > bytes.len() {
        return Err(Error::Truncated {
            what: "message",
            offset: 0,
            needed: len,
            available: bytes.len(),
        });
    }
    if version != OFP13_VERSION && kind > 1 {
        return Err(Error::BadVersion { version });
    }
    Ok((version, kind, xid, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_matches_ovs_encode_hello() {
        // ovs-ofctl encode-hello 0x10
        let b = [0x04, 0, 0, 0x10, 0, 0, 0, 1, 0, 1, 0, 8, 0, 0, 0, 0x10];
        assert_eq!(Message::Hello(Hello::of13()).encode(1), b);
        assert_eq!(
            Message::decode(&b).unwrap(),
            (1, Message::Hello(Hello::of13()))
        );
    }

    #[test]
    fn echo_reply_keeps_payload() {
        let b = [4, 2, 0, 12, 0, 0, 0, 5, 0xde, 0xad, 0xbe, 0xef];
        let (xid, m) = Message::decode(&b).unwrap();
        assert_eq!(
            (xid, m),
            (5, Message::EchoRequest(vec![0xde, 0xad, 0xbe, 0xef]))
        );
    }

    #[test]
    fn short_and_long_length_fields_are_errors() {
        assert!(matches!(
            Message::decode(&[4, 20, 0, 4, 0, 0, 0, 1]),
            Err(Error::BadLength { .. })
        ));
        assert!(matches!(
            Message::decode(&[4, 20, 0, 16, 0, 0, 0, 1]),
            Err(Error::Truncated { needed: 16, .. })
        ));
        assert!(matches!(
            Message::decode(&[4, 20, 0]),
            Err(Error::Truncated { offset: 2, .. })
        ));
    }
}
