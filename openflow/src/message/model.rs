//! The message model: wire constants, HELLO, FEATURES and CONFIG bodies, [`Message`].

use crate::bundle::BundleControl;
use crate::control::{AsyncConfig, PortMod, Role, TableMod};
use crate::flow::FlowMod;
use crate::group::GroupMod;
use crate::meter::MeterMod;
use crate::multipart::{MultipartReply, MultipartRequest};
use crate::nicira::ExtMessage;
use crate::packet::{FlowRemoved, PacketIn, PacketOut, PortStatus};
use crate::OfpError;

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
