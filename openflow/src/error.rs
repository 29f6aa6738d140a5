//! The crate's error type, and OpenFlow ERROR codes with OVS's names (OF1.3 §7.4.4,
//! `lib/ofp-errors.h`).

use std::fmt;

/// Everything that can go wrong in this crate: decoding (with the byte offset from the start of
/// the message), flow text parsing, and the connection.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input ended before a structure did.
    #[error("truncated {what} at offset {offset}: need {needed} bytes, have {available}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Byte offset of the structure.
        offset: usize,
        /// Bytes needed.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// A length field is inconsistent (too short, not a multiple of 8, past the end, ...).
    #[error("bad length {length} for {what} at offset {offset}")]
    BadLength {
        /// What carried the length.
        what: &'static str,
        /// Byte offset of the length's structure.
        offset: usize,
        /// The length found.
        length: usize,
    },
    /// The header's version is not OpenFlow 1.3 (0x04).
    #[error("unsupported OpenFlow version {version:#04x}")]
    BadVersion {
        /// The version byte found.
        version: u8,
    },
    /// An invalid `ofp_match` (maps to an `OFPBMC_*` code).
    #[error("bad match at offset {offset}: {kind}")]
    BadMatch {
        /// Byte offset of the offending OXM TLV (or `ofp_match`).
        offset: usize,
        /// What is wrong.
        kind: MatchError,
    },
    /// An invalid action (maps to an `OFPBAC_*` code).
    #[error("bad action at offset {offset}: {reason}")]
    BadAction {
        /// Byte offset of the action.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// An invalid instruction (maps to an `OFPBIC_*` code).
    #[error("bad instruction at offset {offset}: {reason}")]
    BadInstruction {
        /// Byte offset of the instruction.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// A field or value out of range in an otherwise well-framed message.
    #[error("bad value at offset {offset}: {reason}")]
    BadValue {
        /// Byte offset.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// Flow text (ovs-ofctl syntax) that could not be parsed.
    #[error("cannot parse {input:?}: {reason}")]
    Parse {
        /// The offending text.
        input: String,
        /// Why.
        reason: String,
    },
    /// Socket I/O failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The switch closed the connection.
    #[error("connection closed by the switch")]
    Closed,
    /// Version negotiation or the FEATURES exchange failed.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// The switch answered a request with an OFPT_ERROR.
    #[error("switch error: {0}")]
    Switch(OfpError),
    /// An atomic bundle failed; nothing was applied.
    #[error("bundle failed{}: {error}{}", index.map(|i| format!(" at flow_mod #{i}")).unwrap_or_default(), flow.as_ref().map(|f| format!(" for `{f}`")).unwrap_or_default())]
    Bundle {
        /// Index in the slice given to `bundle` of the flow_mod the switch rejected (by xid).
        index: Option<usize>,
        /// The decoded error.
        error: OfpError,
        /// `Display` of the failing flow_mod.
        flow: Option<String>,
    },
    /// The switch sent something we did not expect at this point.
    #[error("unexpected message: {0}")]
    Unexpected(String),
}

/// Why an `ofp_match` is invalid; each maps to an `OFPBMC_*` code (OF1.3 §7.4.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// `ofp_match.type` is not OFPMT_OXM (OFPBMC_BAD_TYPE).
    #[error("match type {0} is not OXM (OFPBMC_BAD_TYPE)")]
    BadType(u16),
    /// The OXM TLV length does not fit the field (OFPBMC_BAD_LEN).
    #[error("bad OXM length for header {0:#010x} (OFPBMC_BAD_LEN)")]
    BadLen(u32),
    /// Unknown class/field (OFPBMC_BAD_FIELD).
    #[error("unknown OXM field {0:#010x} (OFPBMC_BAD_FIELD)")]
    BadField(u32),
    /// A mask on a field that cannot be masked (OFPBMC_BAD_MASK).
    #[error("field {0} is not maskable (OFPBMC_BAD_MASK)")]
    BadMask(&'static str),
    /// Value has 1-bits where the mask is 0 (OFPBMC_BAD_WILDCARDS).
    #[error("value of {0} has bits outside its mask (OFPBMC_BAD_WILDCARDS)")]
    BadWildcards(&'static str),
    /// A field's prerequisite is missing or comes later (OFPBMC_BAD_PREREQ).
    #[error("prerequisite of {0} not met (OFPBMC_BAD_PREREQ)")]
    BadPrereq(&'static str),
    /// The same field twice (OFPBMC_DUP_FIELD).
    #[error("duplicate field {0} (OFPBMC_DUP_FIELD)")]
    DupField(&'static str),
    /// A value that the field does not allow, e.g. reg index > 15 (OFPBMC_BAD_VALUE).
    #[error("bad value for {0} (OFPBMC_BAD_VALUE)")]
    BadValue(&'static str),
}

/// A decoded OFPT_ERROR: `type u16 | code u16 | data`, or for experimenter errors
/// `0xffff | exp_code u16 | experimenter u32 | data` (OF1.3 §7.4.4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OfpError {
    /// `ofp_error_type` (0xffff = experimenter).
    pub kind: u16,
    /// The code, or `exp_code` for experimenter errors.
    pub code: u16,
    /// Experimenter id (`0x2320` Nicira, `0x4f4e4600` ONF) when `kind == 0xffff`.
    pub experimenter: Option<u32>,
    /// The start of the offending request, as sent back by the switch.
    pub data: Vec<u8>,
}

impl OfpError {
    /// OVS's name for this error (`OFPBIC_BAD_TABLE_ID`, `OFPBFC_MSG_FAILED`, ...), if known.
    pub fn name(&self) -> Option<&'static str> {
        error_name(self.kind, self.code, self.experimenter)
    }

    /// The xid of the offending request in `data`, if at least a header was echoed.
    pub fn request_xid(&self) -> Option<u32> {
        self.data
            .get(4..8)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

impl fmt::Display for OfpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name(), self.experimenter) {
            (Some(n), _) => write!(f, "{n}")?,
            (None, Some(e)) => write!(f, "experimenter {e:#x} code {}", self.code)?,
            (None, None) => write!(f, "type {} code {}", self.kind, self.code)?,
        }
        match self.experimenter {
            Some(e) => write!(f, " (experimenter {e:#x}, code {})", self.code),
            None => write!(f, " (type {}, code {})", self.kind, self.code),
        }
    }
}

/// Nicira experimenter id.
pub const NX_VENDOR_ID: u32 = 0x0000_2320;
/// ONF experimenter id ("ONF\0").
pub const ONF_VENDOR_ID: u32 = 0x4f4e_4600;

/// (type, prefix, code names) for the OF1.3 error types; verified with `ovs-ofctl print-error`.
const ERROR_NAMES: &[(u16, &[&str])] = &[
    (0, &["OFPHFC_INCOMPATIBLE", "OFPHFC_EPERM"]),
    (
        1,
        &[
            "OFPBRC_BAD_VERSION",
            "OFPBRC_BAD_TYPE",
            "OFPBRC_BAD_STAT",
            "OFPBRC_BAD_VENDOR",
            "OFPBRC_BAD_SUBTYPE",
            "OFPBRC_EPERM",
            "OFPBRC_BAD_LEN",
            "OFPBRC_BUFFER_EMPTY",
            "OFPBRC_BUFFER_UNKNOWN",
            "OFPBRC_BAD_TABLE_ID",
            "OFPBRC_IS_SECONDARY",
            "OFPBRC_BAD_PORT",
            "OFPBRC_BAD_PACKET",
            "OFPBRC_MULTIPART_BUFFER_OVERFLOW",
        ],
    ),
    (
        2,
        &[
            "OFPBAC_BAD_TYPE",
            "OFPBAC_BAD_LEN",
            "OFPBAC_BAD_VENDOR",
            "OFPBAC_BAD_VENDOR_TYPE",
            "OFPBAC_BAD_OUT_PORT",
            "OFPBAC_BAD_ARGUMENT",
            "OFPBAC_EPERM",
            "OFPBAC_TOO_MANY",
            "OFPBAC_BAD_QUEUE",
            "OFPBAC_BAD_OUT_GROUP",
            "OFPBAC_MATCH_INCONSISTENT",
            "OFPBAC_UNSUPPORTED_ORDER",
            "OFPBAC_BAD_TAG",
            "OFPBAC_BAD_SET_TYPE",
            "OFPBAC_BAD_SET_LEN",
            "OFPBAC_BAD_SET_ARGUMENT",
        ],
    ),
    (
        3,
        &[
            "OFPBIC_UNKNOWN_INST",
            "OFPBIC_UNSUP_INST",
            "OFPBIC_BAD_TABLE_ID",
            "OFPBIC_UNSUP_METADATA",
            "OFPBIC_UNSUP_METADATA_MASK",
            "OFPBIC_BAD_EXPERIMENTER",
            "OFPBIC_BAD_EXP_TYPE",
            "OFPBIC_BAD_LEN",
            "OFPBIC_EPERM",
        ],
    ),
    (
        4,
        &[
            "OFPBMC_BAD_TYPE",
            "OFPBMC_BAD_LEN",
            "OFPBMC_BAD_TAG",
            "OFPBMC_BAD_DL_ADDR_MASK",
            "OFPBMC_BAD_NW_ADDR_MASK",
            "OFPBMC_BAD_WILDCARDS",
            "OFPBMC_BAD_FIELD",
            "OFPBMC_BAD_VALUE",
            "OFPBMC_BAD_MASK",
            "OFPBMC_BAD_PREREQ",
            "OFPBMC_DUP_FIELD",
            "OFPBMC_EPERM",
        ],
    ),
    (
        5,
        &[
            "OFPFMFC_UNKNOWN",
            "OFPFMFC_TABLE_FULL",
            "OFPFMFC_BAD_TABLE_ID",
            "OFPFMFC_OVERLAP",
            "OFPFMFC_EPERM",
            "OFPFMFC_BAD_TIMEOUT",
            "OFPFMFC_BAD_COMMAND",
            "OFPFMFC_BAD_FLAGS",
        ],
    ),
    (
        6,
        &[
            "OFPGMFC_GROUP_EXISTS",
            "OFPGMFC_INVALID_GROUP",
            "OFPGMFC_WEIGHT_UNSUPPORTED",
            "OFPGMFC_OUT_OF_GROUPS",
            "OFPGMFC_OUT_OF_BUCKETS",
            "OFPGMFC_CHAINING_UNSUPPORTED",
            "OFPGMFC_WATCH_UNSUPPORTED",
            "OFPGMFC_LOOP",
            "OFPGMFC_UNKNOWN_GROUP",
            "OFPGMFC_CHAINED_GROUP",
            "OFPGMFC_BAD_TYPE",
            "OFPGMFC_BAD_COMMAND",
            "OFPGMFC_BAD_BUCKET",
            "OFPGMFC_BAD_WATCH",
            "OFPGMFC_EPERM",
        ],
    ),
    (
        7,
        &[
            "OFPPMFC_BAD_PORT",
            "OFPPMFC_BAD_HW_ADDR",
            "OFPPMFC_BAD_CONFIG",
            "OFPPMFC_BAD_ADVERTISE",
            "OFPPMFC_EPERM",
        ],
    ),
    (
        8,
        &["OFPTMFC_BAD_TABLE", "OFPTMFC_BAD_CONFIG", "OFPTMFC_EPERM"],
    ),
    (
        9,
        &["OFPQOFC_BAD_PORT", "OFPQOFC_BAD_QUEUE", "OFPQOFC_EPERM"],
    ),
    (
        10,
        &["OFPSCFC_BAD_FLAGS", "OFPSCFC_BAD_LEN", "OFPSCFC_EPERM"],
    ),
    (11, &["OFPRRFC_STALE", "OFPRRFC_UNSUP", "OFPRRFC_BAD_ROLE"]),
    (
        12,
        &[
            "OFPMMFC_UNKNOWN",
            "OFPMMFC_METER_EXISTS",
            "OFPMMFC_INVALID_METER",
            "OFPMMFC_UNKNOWN_METER",
            "OFPMMFC_BAD_COMMAND",
            "OFPMMFC_BAD_FLAGS",
            "OFPMMFC_BAD_RATE",
            "OFPMMFC_BAD_BURST",
            "OFPMMFC_BAD_BAND",
            "OFPMMFC_BAD_BAND_VALUE",
            "OFPMMFC_OUT_OF_METERS",
            "OFPMMFC_OUT_OF_BANDS",
        ],
    ),
    (
        13,
        &[
            "OFPTFFC_BAD_TABLE",
            "OFPTFFC_BAD_METADATA",
            "OFPTFFC_BAD_TYPE",
            "OFPTFFC_BAD_LEN",
            "OFPTFFC_BAD_ARGUMENT",
            "OFPTFFC_EPERM",
        ],
    ),
];

const ONF_BUNDLE_ERRORS: &[&str] = &[
    "OFPBFC_UNKNOWN",
    "OFPBFC_EPERM",
    "OFPBFC_BAD_ID",
    "OFPBFC_BUNDLE_EXIST",
    "OFPBFC_BUNDLE_CLOSED",
    "OFPBFC_OUT_OF_BUNDLES",
    "OFPBFC_BAD_TYPE",
    "OFPBFC_BAD_FLAGS",
    "OFPBFC_MSG_BAD_LEN",
    "OFPBFC_MSG_BAD_XID",
    "OFPBFC_MSG_UNSUP",
    "OFPBFC_MSG_CONFLICT",
    "OFPBFC_MSG_TOO_MANY",
    "OFPBFC_MSG_FAILED",
    "OFPBFC_TIMEOUT",
    "OFPBFC_BUNDLE_IN_PROGRESS",
];

const NICIRA_ERRORS: &[(u16, &str)] = &[
    (2, "NXBRC_NXM_INVALID"),
    (3, "NXBRC_NXM_BAD_TYPE"),
    (4, "NXBRC_MUST_BE_ZERO"),
    (5, "NXBRC_BAD_REASON"),
    (11, "NXBAC_MUST_BE_ZERO"),
    (12, "NXFMFC_HARDWARE"),
    (13, "NXFMFC_BAD_TABLE_ID"),
    (15, "NXBAC_BAD_CONJUNCTION"),
    (37, "NXFMFC_INVALID_TLV_FIELD"),
    (42, "NXBAC_CT_DATAPATH_SUPPORT"),
];

/// OVS's name of an error (type, code, experimenter), e.g. `(3, 2, None)` → `OFPBIC_BAD_TABLE_ID`.
pub fn error_name(kind: u16, code: u16, experimenter: Option<u32>) -> Option<&'static str> {
    match experimenter {
        Some(ONF_VENDOR_ID) => code
            .checked_sub(2300)
            .and_then(|i| ONF_BUNDLE_ERRORS.get(i as usize))
            .copied(),
        Some(NX_VENDOR_ID) => NICIRA_ERRORS
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, n)| *n),
        Some(_) => None,
        None => ERROR_NAMES
            .iter()
            .find(|(t, _)| *t == kind)
            .and_then(|(_, names)| names.get(code as usize))
            .copied(),
    }
}
