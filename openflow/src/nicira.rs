//! Nicira/ONF extension messages (OFPT_EXPERIMENTER, `nicira-ext.h`, `ofp-msgs.h`):
//! NXT_PACKET_IN2 (30) and NXT_RESUME (28) with their property lists, the TLV table
//! (NXT 24/25/26, `ovs-ofctl add-tlv-map` / `dump-tlv-map`), and OF1.3 flow-monitor control
//! (ONFT 1870-1872; the NXT 21-23 forms are OF1.0-only in OVS and stay raw here). The header is `ofp_header | vendor u32 | subtype u32`.

use crate::error::{NX_VENDOR_ID, ONF_VENDOR_ID};
use crate::flow::Match;
use crate::wire::{exact_len, len16, pad8, Reader};
use crate::Error;

/// NXT_TLV_TABLE_MOD.
pub const NXT_TLV_TABLE_MOD: u32 = 24;
/// NXT_TLV_TABLE_REQUEST.
pub const NXT_TLV_TABLE_REQUEST: u32 = 25;
/// NXT_TLV_TABLE_REPLY.
pub const NXT_TLV_TABLE_REPLY: u32 = 26;
/// NXT_RESUME.
pub const NXT_RESUME: u32 = 28;
/// NXT_PACKET_IN2.
pub const NXT_PACKET_IN2: u32 = 30;
/// ONFT_FLOW_MONITOR_CANCEL (OF1.3 form of OF1.4 flow monitoring).
pub const ONFT_FLOW_MONITOR_CANCEL: u32 = 1870;
/// ONFT_FLOW_MONITOR_PAUSED.
pub const ONFT_FLOW_MONITOR_PAUSED: u32 = 1871;
/// ONFT_FLOW_MONITOR_RESUMED.
pub const ONFT_FLOW_MONITOR_RESUMED: u32 = 1872;

/// A PACKET_IN2 / RESUME property (`enum nx_packet_in2_prop_type`): `type u16 | len u16 |
/// value`, padded to 8; `len` excludes the padding. Unknown types round-trip raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketIn2Prop {
    /// NXPINT_PACKET (0): the frame.
    Packet(Vec<u8>),
    /// NXPINT_FULL_LEN (1): the frame's full length when `Packet` is truncated.
    FullLen(u32),
    /// NXPINT_BUFFER_ID (2).
    BufferId(u32),
    /// NXPINT_TABLE_ID (3).
    TableId(u8),
    /// NXPINT_COOKIE (4): 4 zero bytes then the u64 (OVS `ofpprop_put_u64`).
    Cookie(u64),
    /// NXPINT_REASON (5): `ofp_packet_in_reason`.
    Reason(u8),
    /// NXPINT_METADATA (6): OXM TLVs without the `ofp_match` header; see
    /// [`PacketIn2Prop::metadata_match`].
    Metadata(Vec<u8>),
    /// NXPINT_USERDATA (7): from `controller(userdata=..)`.
    Userdata(Vec<u8>),
    /// NXPINT_CONTINUATION (8): opaque; send back unchanged in NXT_RESUME.
    Continuation(Vec<u8>),
    /// Any other property.
    Unknown {
        /// Property type.
        kind: u16,
        /// Value without padding.
        data: Vec<u8>,
    },
}

open_enum! {
    /// `nx_tlv_table_mod_command`.
    pub enum TlvTableModCommand: u16 {
        /// NXTTMC_ADD (0).
        Add = 0, "ADD";
        /// NXTTMC_DELETE (1).
        Delete = 1, "DEL";
        /// NXTTMC_CLEAR (2).
        Clear = 2, "CLEAR";
    }
}

/// `nx_tlv_map` (8 bytes): `option_class u16 | option_type u8 | option_len u8 | index u16 |
/// pad[2]`: Geneve option (class, type, len) → `tun_metadata<index>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlvMap {
    /// Geneve option class.
    pub option_class: u16,
    /// Geneve option type.
    pub option_type: u8,
    /// Option length in bytes (multiple of 4, ≤ 124).
    pub option_len: u8,
    /// N of `tun_metadataN`.
    pub index: u16,
}

/// A typed Nicira/ONF extension message (the experimenter header is implied by the variant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtMessage {
    /// NXT_PACKET_IN2 (30): properties in wire order.
    PacketIn2(Vec<PacketIn2Prop>),
    /// NXT_RESUME (28): the PACKET, METADATA and CONTINUATION of a paused PACKET_IN2.
    Resume(Vec<PacketIn2Prop>),
    /// NXT_TLV_TABLE_MOD (24): `command u16 | pad[6] | maps`.
    TlvTableMod {
        /// Add, delete or clear.
        command: TlvTableModCommand,
        /// Mappings.
        maps: Vec<TlvMap>,
    },
    /// NXT_TLV_TABLE_REQUEST (25), no body.
    TlvTableRequest,
    /// NXT_TLV_TABLE_REPLY (26): `max_option_space u32 | max_fields u16 | reserved[10] | maps`.
    TlvTableReply {
        /// Total option bytes the switch supports (OVS: 256).
        max_option_space: u32,
        /// Number of tun_metadata fields (OVS: 64).
        max_fields: u16,
        /// Current mappings.
        maps: Vec<TlvMap>,
    },
    /// ONFT_FLOW_MONITOR_CANCEL (1870): `id u32`.
    FlowMonitorCancel(u32),
    /// ONFT_FLOW_MONITOR_PAUSED (1871), no body: the switch stopped sending updates.
    FlowMonitorPaused,
    /// ONFT_FLOW_MONITOR_RESUMED (1872), no body.
    FlowMonitorResumed,
}

impl PacketIn2Prop {
    /// The OXM_OF_IN_PORT of a `Metadata` property, read by walking the TLVs without decoding
    /// the others (OVS also puts conntrack tuple fields there that [`Match`] may refuse).
    pub fn metadata_in_port(&self) -> Option<u32> {
        let PacketIn2Prop::Metadata(oxms) = self else {
            return None;
        };
        let mut rest = oxms.as_slice();
        while rest.len() >= 4 {
            let header = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
            let len = (header & 0xff) as usize;
            let value = rest.get(4..4 + len)?;
            // OXM class 0x8000 (OpenFlow basic), field 0 (IN_PORT), no mask, 4 bytes.
            if header == 0x8000_0004 {
                return Some(u32::from_be_bytes([value[0], value[1], value[2], value[3]]));
            }
            rest = &rest[4 + len..];
        }
        None
    }

    /// The metadata as a [`Match`] (e.g. IN_PORT, regs), for a `Metadata` property.
    pub fn metadata_match(&self) -> Option<Result<Match, Error>> {
        let PacketIn2Prop::Metadata(oxms) = self else {
            return None;
        };
        let mut m = vec![0, 1];
        m.extend_from_slice(&len16(oxms.len() + 4));
        m.extend_from_slice(oxms);
        m.resize(m.len() + pad8(m.len()), 0);
        Some(Match::parse(&mut Reader::new(&m, 0)))
    }

    fn emit(&self, buf: &mut Vec<u8>) {
        let (kind, data): (u16, Vec<u8>) = match self {
            PacketIn2Prop::Packet(d) => (0, d.clone()),
            PacketIn2Prop::FullLen(v) => (1, v.to_be_bytes().to_vec()),
            PacketIn2Prop::BufferId(v) => (2, v.to_be_bytes().to_vec()),
            PacketIn2Prop::TableId(v) => (3, vec![*v]),
            PacketIn2Prop::Cookie(v) => (4, [[0; 4].as_slice(), &v.to_be_bytes()].concat()),
            PacketIn2Prop::Reason(v) => (5, vec![*v]),
            PacketIn2Prop::Metadata(d) => (6, d.clone()),
            PacketIn2Prop::Userdata(d) => (7, d.clone()),
            PacketIn2Prop::Continuation(d) => (8, d.clone()),
            PacketIn2Prop::Unknown { kind, data } => (*kind, data.clone()),
        };
        buf.extend_from_slice(&kind.to_be_bytes());
        buf.extend_from_slice(&len16(data.len() + 4));
        buf.extend_from_slice(&data);
        buf.resize(buf.len() + pad8(data.len() + 4), 0);
    }

    fn parse(r: &mut Reader) -> Result<Self, Error> {
        let off = r.offset();
        let kind = r.u16("packet_in2 property")?;
        let len = r.u16("packet_in2 property")? as usize;
        if len < 4 || len - 4 > r.remaining() {
            return Err(Error::BadLength {
                what: "packet_in2 property",
                offset: off,
                length: len,
            });
        }
        let mut v = r.sub("packet_in2 property", len - 4)?;
        r.skip("packet_in2 property padding", pad8(len).min(r.remaining()))?;
        let sized = |v: &Reader, n: usize| {
            if v.remaining() == n {
                Ok(())
            } else {
                Err(Error::BadLength {
                    what: "packet_in2 property",
                    offset: off,
                    length: len,
                })
            }
        };
        Ok(match kind {
            0 => PacketIn2Prop::Packet(v.rest().to_vec()),
            1 | 2 => {
                sized(&v, 4)?;
                let x = v.u32("packet_in2 property")?;
                if kind == 1 {
                    PacketIn2Prop::FullLen(x)
                } else {
                    PacketIn2Prop::BufferId(x)
                }
            }
            3 | 5 => {
                sized(&v, 1)?;
                let x = v.u8("packet_in2 property")?;
                if kind == 3 {
                    PacketIn2Prop::TableId(x)
                } else {
                    PacketIn2Prop::Reason(x)
                }
            }
            4 => {
                sized(&v, 12)?;
                v.skip("cookie pad", 4)?;
                PacketIn2Prop::Cookie(v.u64("cookie")?)
            }
            6 => PacketIn2Prop::Metadata(v.rest().to_vec()),
            7 => PacketIn2Prop::Userdata(v.rest().to_vec()),
            8 => PacketIn2Prop::Continuation(v.rest().to_vec()),
            kind => PacketIn2Prop::Unknown {
                kind,
                data: v.rest().to_vec(),
            },
        })
    }
}

impl TlvMap {
    fn emit(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.option_class.to_be_bytes());
        buf.extend_from_slice(&[self.option_type, self.option_len]);
        buf.extend_from_slice(&self.index.to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
    }

    fn parse_all(r: &mut Reader) -> Result<Vec<TlvMap>, Error> {
        crate::stats::fixed_entries(r, 8, "nx_tlv_map", |r| {
            let m = TlvMap {
                option_class: r.u16("nx_tlv_map")?,
                option_type: r.u8("nx_tlv_map")?,
                option_len: r.u8("nx_tlv_map")?,
                index: r.u16("nx_tlv_map")?,
            };
            r.skip("nx_tlv_map", 2)?;
            Ok(m)
        })
    }
}

impl ExtMessage {
    /// (experimenter id, subtype) of the header.
    pub fn ids(&self) -> (u32, u32) {
        match self {
            ExtMessage::PacketIn2(_) => (NX_VENDOR_ID, NXT_PACKET_IN2),
            ExtMessage::Resume(_) => (NX_VENDOR_ID, NXT_RESUME),
            ExtMessage::TlvTableMod { .. } => (NX_VENDOR_ID, NXT_TLV_TABLE_MOD),
            ExtMessage::TlvTableRequest => (NX_VENDOR_ID, NXT_TLV_TABLE_REQUEST),
            ExtMessage::TlvTableReply { .. } => (NX_VENDOR_ID, NXT_TLV_TABLE_REPLY),
            ExtMessage::FlowMonitorCancel(_) => (ONF_VENDOR_ID, ONFT_FLOW_MONITOR_CANCEL),
            ExtMessage::FlowMonitorPaused => (ONF_VENDOR_ID, ONFT_FLOW_MONITOR_PAUSED),
            ExtMessage::FlowMonitorResumed => (ONF_VENDOR_ID, ONFT_FLOW_MONITOR_RESUMED),
        }
    }

    /// Append the experimenter header's vendor and subtype, then the body.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        let (vendor, subtype) = self.ids();
        buf.extend_from_slice(&vendor.to_be_bytes());
        buf.extend_from_slice(&subtype.to_be_bytes());
        match self {
            ExtMessage::PacketIn2(p) | ExtMessage::Resume(p) => p.iter().for_each(|p| p.emit(buf)),
            ExtMessage::TlvTableMod { command, maps } => {
                buf.extend_from_slice(&command.code().to_be_bytes());
                buf.extend_from_slice(&[0; 6]);
                maps.iter().for_each(|m| m.emit(buf));
            }
            ExtMessage::TlvTableRequest
            | ExtMessage::FlowMonitorPaused
            | ExtMessage::FlowMonitorResumed => {}
            ExtMessage::TlvTableReply {
                max_option_space,
                max_fields,
                maps,
            } => {
                buf.extend_from_slice(&max_option_space.to_be_bytes());
                buf.extend_from_slice(&max_fields.to_be_bytes());
                buf.extend_from_slice(&[0; 10]);
                maps.iter().for_each(|m| m.emit(buf));
            }
            ExtMessage::FlowMonitorCancel(id) => buf.extend_from_slice(&id.to_be_bytes()),
        }
    }

    /// Parse the body after the experimenter header; `None` for (vendor, subtype) pairs this
    /// module does not know (the caller keeps them raw).
    pub(crate) fn parse(vendor: u32, subtype: u32, r: &mut Reader) -> Option<Result<Self, Error>> {
        let props = |r: &mut Reader| -> Result<Vec<PacketIn2Prop>, Error> {
            let mut v = Vec::new();
            while !r.is_empty() {
                v.push(PacketIn2Prop::parse(r)?);
            }
            Ok(v)
        };
        let known = match vendor {
            NX_VENDOR_ID => matches!(subtype, 24..=26 | 28 | 30),
            ONF_VENDOR_ID => (1870..=1872).contains(&subtype),
            _ => false,
        };
        if !known {
            return None;
        }
        let mut parse = || -> Result<Self, Error> {
            Ok(match (vendor, subtype) {
                (NX_VENDOR_ID, NXT_PACKET_IN2) => ExtMessage::PacketIn2(props(r)?),
                (NX_VENDOR_ID, NXT_RESUME) => ExtMessage::Resume(props(r)?),
                (NX_VENDOR_ID, NXT_TLV_TABLE_MOD) => {
                    let command = TlvTableModCommand::from_code(r.u16("tlv_table_mod")?);
                    r.skip("tlv_table_mod", 6)?;
                    ExtMessage::TlvTableMod {
                        command,
                        maps: TlvMap::parse_all(r)?,
                    }
                }
                (NX_VENDOR_ID, NXT_TLV_TABLE_REQUEST) => {
                    exact_len(r, 0, "tlv_table_request")?;
                    ExtMessage::TlvTableRequest
                }
                (NX_VENDOR_ID, NXT_TLV_TABLE_REPLY) => {
                    let max_option_space = r.u32("tlv_table_reply")?;
                    let max_fields = r.u16("tlv_table_reply")?;
                    r.skip("tlv_table_reply", 10)?;
                    ExtMessage::TlvTableReply {
                        max_option_space,
                        max_fields,
                        maps: TlvMap::parse_all(r)?,
                    }
                }
                (_, ONFT_FLOW_MONITOR_CANCEL) => {
                    exact_len(r, 4, "flow_monitor_cancel")?;
                    ExtMessage::FlowMonitorCancel(r.u32("flow_monitor_cancel")?)
                }
                (_, ONFT_FLOW_MONITOR_PAUSED) => {
                    exact_len(r, 0, "flow_monitor_paused")?;
                    ExtMessage::FlowMonitorPaused
                }
                _ => {
                    exact_len(r, 0, "flow_monitor_resumed")?;
                    ExtMessage::FlowMonitorResumed
                }
            })
        };
        Some(parse())
    }
}

#[cfg(test)]
mod metadata_tests {
    use super::*;

    #[test]
    fn in_port_is_found_past_fields_the_match_decoder_refuses() {
        // NXM_NX field 120 (a conntrack tuple field OVS puts in packet-in metadata), then
        // OXM_OF_IN_PORT = 3.
        let oxms = [
            0x00, 0x01, 0xf0, 0x04, 10, 0, 0, 1, 0x80, 0x00, 0x00, 0x04, 0, 0, 0, 3,
        ];
        let prop = PacketIn2Prop::Metadata(oxms.to_vec());
        assert_eq!(prop.metadata_in_port(), Some(3));
        assert_eq!(
            PacketIn2Prop::Metadata(oxms[..8].to_vec()).metadata_in_port(),
            None
        );
        assert_eq!(PacketIn2Prop::TableId(1).metadata_in_port(), None);
    }
}
