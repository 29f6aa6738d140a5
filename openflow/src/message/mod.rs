//! OpenFlow 1.3 messages: the 8-byte `ofp_header` (`version u8 | type u8 | length u16 | xid u32`,
//! OF1.3 §7.1) and the bodies this crate understands. Anything else decodes as
//! [`Message::Unknown`] / [`Message::Experimenter`] and re-emits byte for byte.

mod decode;
mod encode;
mod model;

pub(crate) use self::decode::read_header;
pub use self::model::{
    frame_len, Hello, HelloElement, Message, SwitchConfig, SwitchFeatures, BUNDLE_ADD_HEADER_LEN,
    MAX_BUNDLED_FLOW_MOD_LEN, MAX_MESSAGE_LEN, NXT_SET_PACKET_IN_FORMAT, OFP13_VERSION,
};
