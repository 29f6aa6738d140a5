//! Decoding a [`Message`] and its `ofp_header`.

use super::{
    Hello, HelloElement, Message, SwitchConfig, SwitchFeatures, NXT_SET_PACKET_IN_FORMAT,
    OFP13_VERSION,
};
use crate::bundle::{BundleControl, BundleCtrlType, ONFT_BUNDLE_ADD_MESSAGE, ONFT_BUNDLE_CONTROL};
use crate::control::{AsyncConfig, PortMod, Role, TableMod};
use crate::error::{NX_VENDOR_ID, ONF_VENDOR_ID};
use crate::flow::FlowMod;
use crate::grammar::ofp_header;
use crate::group::GroupMod;
use crate::meter::MeterMod;
use crate::multipart::{MultipartReply, MultipartRequest};
use crate::nicira::ExtMessage;
use crate::packet::{FlowRemoved, PacketIn, PacketOut, PortStatus};
use crate::wire::{pad8, Reader};
use crate::{Error, OfpError};

impl Message {
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
            return FlowMod::decode_message(xid, &mut r);
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
    let Ok((_, (version, kind, len, xid))) = ofp_header(bytes) else {
        // Report the field that is cut off, as a field-by-field read does.
        r.u8("ofp_header")?;
        r.u8("ofp_header")?;
        r.u16("ofp_header")?;
        r.u32("ofp_header")?;
        unreachable!("eight bytes are a whole header");
    };
    let len = usize::from(len);
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
