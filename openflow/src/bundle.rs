//! ONF bundle extension for OF1.3 (ONFT 2300/2301; the OF1.4 `ofp_bundle_ctrl_msg` /
//! `ofp_bundle_add_msg` bodies inside an ONF experimenter message, `openflow-1.4.h`).

use crate::OfpError;

/// Bundle flags: all-or-nothing.
pub const OFPBF_ATOMIC: u16 = 1;
/// Bundle flags: apply in order.
pub const OFPBF_ORDERED: u16 = 2;
/// ONFT_BUNDLE_CONTROL experimenter type.
pub const ONFT_BUNDLE_CONTROL: u32 = 2300;
/// ONFT_BUNDLE_ADD_MESSAGE experimenter type.
pub const ONFT_BUNDLE_ADD_MESSAGE: u32 = 2301;

/// `ofp_bundle_ctrl_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BundleCtrlType {
    /// OPEN_REQUEST (0).
    OpenRequest,
    /// OPEN_REPLY (1).
    OpenReply,
    /// CLOSE_REQUEST (2).
    CloseRequest,
    /// CLOSE_REPLY (3).
    CloseReply,
    /// COMMIT_REQUEST (4).
    CommitRequest,
    /// COMMIT_REPLY (5).
    CommitReply,
    /// DISCARD_REQUEST (6).
    DiscardRequest,
    /// DISCARD_REPLY (7).
    DiscardReply,
    /// Any other value.
    Unknown(u16),
}

impl BundleCtrlType {
    /// Wire value.
    pub fn code(self) -> u16 {
        match self {
            BundleCtrlType::OpenRequest => 0,
            BundleCtrlType::OpenReply => 1,
            BundleCtrlType::CloseRequest => 2,
            BundleCtrlType::CloseReply => 3,
            BundleCtrlType::CommitRequest => 4,
            BundleCtrlType::CommitReply => 5,
            BundleCtrlType::DiscardRequest => 6,
            BundleCtrlType::DiscardReply => 7,
            BundleCtrlType::Unknown(n) => n,
        }
    }

    /// From the wire value.
    pub fn from_code(n: u16) -> Self {
        match n {
            0 => BundleCtrlType::OpenRequest,
            1 => BundleCtrlType::OpenReply,
            2 => BundleCtrlType::CloseRequest,
            3 => BundleCtrlType::CloseReply,
            4 => BundleCtrlType::CommitRequest,
            5 => BundleCtrlType::CommitReply,
            6 => BundleCtrlType::DiscardRequest,
            7 => BundleCtrlType::DiscardReply,
            n => BundleCtrlType::Unknown(n),
        }
    }
}

/// BUNDLE_CONTROL body: `bundle_id u32 | type u16 | flags u16 | properties`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleControl {
    /// Bundle id chosen by the controller.
    pub bundle_id: u32,
    /// Request/reply type.
    pub kind: BundleCtrlType,
    /// OFPBF_* flags.
    pub flags: u16,
    /// Bundle properties, raw.
    pub properties: Vec<u8>,
}

impl BundleControl {
    /// A request of `kind` for `bundle_id` with `flags` and no properties.
    pub fn new(bundle_id: u32, kind: BundleCtrlType, flags: u16) -> Self {
        BundleControl {
            bundle_id,
            kind,
            flags,
            properties: Vec::new(),
        }
    }
}

/// The xids of one bundle's BUNDLE_ADD messages: a contiguous run `first..first + len`, message
/// `i` carrying `first + i` (the ONF bundle extension requires the inner message to carry the
/// outer xid, and an error about a bundled message carries that xid, at add or at commit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleXids {
    /// Xid of message 0.
    pub first: u32,
    /// Number of messages.
    pub len: usize,
}

impl BundleXids {
    /// Index of the message with `xid`, if it is one of the run.
    pub fn index_of(&self, xid: u32) -> Option<usize> {
        let i = xid.wrapping_sub(self.first) as usize;
        (i < self.len).then_some(i)
    }

    /// Index of the message an ERROR is about: by the ERROR's own xid (`error_xid`), else by the
    /// xid of the request echoed in its data. `None` for errors about the bundle as a whole
    /// (OPEN, COMMIT: e.g. `OFPBFC_MSG_FAILED`, which OVS sends after the message's own error).
    pub fn attribute(&self, error_xid: u32, error: &OfpError) -> Option<usize> {
        self.index_of(error_xid)
            .or_else(|| error.request_xid().and_then(|x| self.index_of(x)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_codes::{BadInstructionCode, OnfErrorCode};
    use crate::ErrorCode;

    #[test]
    fn an_error_is_attributed_by_its_xid_or_the_echoed_request_xid() {
        let xids = BundleXids {
            first: 0xffff_fffe,
            len: 3,
        };
        let bad_table = OfpError::new(
            ErrorCode::BadInstruction(BadInstructionCode::BadTableId),
            vec![4, 4, 0, 0x48, 0, 0, 0, 1],
        );
        assert_eq!(xids.attribute(0xffff_ffff, &bad_table), Some(1));
        // The commit's own error; its data echoes the inner message with xid 0 = index 2.
        let failed = OfpError::new(
            ErrorCode::Onf(OnfErrorCode::OfpbfcMsgFailed),
            vec![4, 14, 0, 8, 0, 0, 0, 0],
        );
        assert_eq!(xids.attribute(7, &failed), Some(2));
        assert_eq!(xids.attribute(7, &OfpError::new(failed.code, vec![])), None);
        assert_eq!(xids.index_of(1), None);
    }
}
