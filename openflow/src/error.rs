//! The crate's error type, and the OFPT_ERROR message (OF1.3 §7.4.4) with typed codes and OVS's
//! names (the code tables are data in [`crate::error_codes`]).

use std::fmt;

use crate::error_codes::*;
use crate::session::DisconnectReason;
use crate::wire::Reader;
use crate::Message;

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
    // With the flow known, its text and the error's name; else the error with what it echoes.
    #[error("bundle failed{}: {}", index.map(|i| format!(" at flow_mod #{i}")).unwrap_or_default(), match flow {
        Some(f) => format!("{} for `{f}`", error.code),
        None => error.to_string(),
    })]
    Bundle {
        /// Index in the slice given to `bundle` of the flow_mod the switch rejected (by xid).
        index: Option<usize>,
        /// The decoded error.
        error: OfpError,
        /// `Display` of the failing flow_mod.
        flow: Option<String>,
    },
    /// A flow_mod the switch would refuse, caught before anything was sent (see
    /// [`FlowMod::validate`](crate::FlowMod::validate)); for a bundle, none of it was sent.
    #[error("invalid flow_mod #{index}: {error} in `{flow}`")]
    Invalid {
        /// Position of the flow_mod in what was given to send (0 for a single message).
        index: usize,
        /// What is wrong.
        error: InvalidFlowMod,
        /// `Display` of the flow_mod.
        flow: String,
    },
    /// The connection dropped while a bundle was in flight. Before its COMMIT went out the
    /// switch discards the open bundle with the connection (OVS does), so nothing was applied;
    /// once the COMMIT was queued the bundle may or may not have been applied (dump the flows to
    /// know). Either way nothing of it is sent again after the reconnect.
    #[error("bundle {}: the connection was lost ({reason})", if *maybe_applied {
        "outcome unknown, its COMMIT was sent but not confirmed"
    } else {
        "not applied"
    })]
    BundleLost {
        /// Whether the COMMIT had been queued, so that the switch may have applied the bundle.
        maybe_applied: bool,
        /// Why the connection ended.
        reason: DisconnectReason,
    },
    /// The switch sent something we did not expect at this point.
    #[error("unexpected message: {0}")]
    Unexpected(String),
    /// A message too long for the 16-bit OpenFlow length field (OF1.3 §7.1: at most
    /// [`MAX_MESSAGE_LEN`](crate::message::MAX_MESSAGE_LEN) bytes with its header). Nothing
    /// of it was written.
    #[error("{what} encodes to {len} bytes, more than the {max} an OpenFlow message can carry")]
    TooLong {
        /// The message (and, for a FLOW_MOD, its largest instruction with its size).
        what: String,
        /// Its encoded length, bytes (the whole message with its header).
        len: usize,
        /// The limit, bytes.
        max: usize,
    },
    /// A request got no complete answer within its deadline
    /// ([`Config::request_timeout`](crate::session::Config::request_timeout) or
    /// [`Config::bundle_timeout`](crate::session::Config::bundle_timeout)); the connection was
    /// dropped with it, as the switch is hung or lost our request.
    #[error("{what} got no answer within {after:?}; connection dropped")]
    Timeout {
        /// The request (`multipart flow`, `barrier`, `bundle` ...).
        what: String,
        /// The deadline that passed.
        after: std::time::Duration,
    },
    /// A multipart reply grew past its cap
    /// ([`Config::max_multipart_parts`](crate::session::Config::max_multipart_parts) or
    /// [`Config::max_multipart_bytes`](crate::session::Config::max_multipart_bytes)); the
    /// parts were dropped with the connection.
    #[error("multipart reply over its cap: {parts} parts, {bytes} bytes (limits {max_parts} parts, {max_bytes} bytes); connection dropped")]
    MultipartTooLarge {
        /// Parts received, this one included.
        parts: usize,
        /// Bytes received (whole messages), this one included.
        bytes: usize,
        /// The parts limit.
        max_parts: usize,
        /// The bytes limit.
        max_bytes: usize,
    },
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
    /// Unknown class/field (OFPBMC_BAD_FIELD), as OVS reports it. This crate's decoder does not
    /// return it: it keeps unknown fields as [`crate::MatchField::Raw`].
    #[error("unknown OXM field {0:#010x} (OFPBMC_BAD_FIELD)")]
    BadField(u32),
    /// A mask on a field that cannot be masked (OFPBMC_BAD_MASK).
    #[error("field {0} is not maskable (OFPBMC_BAD_MASK)")]
    BadMask(&'static str),
    /// Value has 1-bits where the mask is 0 (OFPBMC_BAD_WILDCARDS).
    #[error("value of {0} has bits outside its mask (OFPBMC_BAD_WILDCARDS)")]
    BadWildcards(&'static str),
    /// A field's prerequisite is missing or comes later (OFPBMC_BAD_PREREQ), as OVS's
    /// `mf_are_match_prereqs_ok` decides it: e.g. `tp_dst` without `tcp`.
    #[error("{field} needs {needs} first (OFPBMC_BAD_PREREQ)")]
    BadPrereq {
        /// The field (ovs-ofctl name).
        field: &'static str,
        /// What it needs, in ovs-ofctl terms (`tcp or tcp6 (ip_proto=6)`).
        needs: &'static str,
    },
    /// The same field twice (OFPBMC_DUP_FIELD).
    #[error("duplicate field {0} (OFPBMC_DUP_FIELD)")]
    DupField(&'static str),
    /// The same unknown field ([`crate::MatchField::Raw`]: class, field and experimenter id)
    /// twice, by the second one's header as on the wire (OFPBMC_DUP_FIELD).
    #[error("duplicate unknown OXM field {0:#010x} (OFPBMC_DUP_FIELD)")]
    DupRaw(u32),
    /// A value that the field does not allow, e.g. reg index > 15 (OFPBMC_BAD_VALUE).
    #[error("bad value for {0} (OFPBMC_BAD_VALUE)")]
    BadValue(&'static str),
    /// A conntrack original-direction address of the other IP family than the match's
    /// eth_type, or without one: OVS refuses the whole flow_mod with OFPBAC_MATCH_INCONSISTENT
    /// (`ofputil_decode_flow_mod`, `lib/ofp-flow.c`), not with a match error.
    #[error("{field} needs {needs} (OFPBAC_MATCH_INCONSISTENT)")]
    Inconsistent {
        /// The field (ovs-ofctl name).
        field: &'static str,
        /// The eth_type it needs.
        needs: &'static str,
    },
}

impl MatchError {
    /// The error a switch answers with for such a match (what OVS sends).
    pub fn code(&self) -> ErrorCode {
        let bmc = |c| ErrorCode::BadMatch(c);
        match self {
            MatchError::BadType(_) => bmc(BadMatchCode::BadType),
            MatchError::BadLen(_) => bmc(BadMatchCode::BadLen),
            MatchError::BadField(_) => bmc(BadMatchCode::BadField),
            MatchError::BadMask(_) => bmc(BadMatchCode::BadMask),
            MatchError::BadWildcards(_) => bmc(BadMatchCode::BadWildcards),
            MatchError::BadPrereq { .. } => bmc(BadMatchCode::BadPrereq),
            MatchError::DupField(_) | MatchError::DupRaw(_) => bmc(BadMatchCode::DupField),
            MatchError::BadValue(_) => bmc(BadMatchCode::BadValue),
            MatchError::Inconsistent { .. } => {
                ErrorCode::BadAction(BadActionCode::MatchInconsistent)
            }
        }
    }
}

/// Why a [`FlowMod`](crate::FlowMod) would be refused by the switch, found before sending it
/// ([`FlowMod::validate`](crate::FlowMod::validate)). Each maps to the error OVS 3.1 answers
/// with ([`InvalidFlowMod::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidFlowMod {
    /// The match is invalid.
    #[error("bad match: {0}")]
    Match(#[from] MatchError),
    /// Two instructions of one type, e.g. two `goto_table` (OFPBIC_DUP_INST, an ONF
    /// experimenter code in OF1.3).
    #[error("two {0} instructions (OFPBIC_DUP_INST)")]
    DupInstruction(&'static str),
    /// `goto_table` to a table that is not after the flow's own (OF1.3 §5.1: the pipeline only
    /// goes forward) (OFPBIC_BAD_TABLE_ID).
    #[error("goto_table:{goto} from table {table} (OFPBIC_BAD_TABLE_ID)")]
    BadGotoTable {
        /// The flow's table.
        table: u8,
        /// The goto_table target.
        goto: u8,
    },
    /// A meter id outside 1..=0xffff0000 (OFPM_MAX); OVS refuses the virtual meters too
    /// (OFPMMFC_INVALID_METER).
    #[error("meter:{0} is not a valid meter id (OFPMMFC_INVALID_METER)")]
    BadMeter(u32),
    /// An ADD or MODIFY in table 255 (OFPTT_ALL, valid for DELETE only)
    /// (OFPFMFC_BAD_TABLE_ID).
    #[error("table 255 (all tables) is only valid for delete (OFPFMFC_BAD_TABLE_ID)")]
    AllTables,
    /// Flag bits OF1.3 does not define (OFPFMFC_BAD_FLAGS).
    #[error("unknown flow_mod flags {0:#x} (OFPFMFC_BAD_FLAGS)")]
    BadFlags(u16),
    /// An encoded body that does not decode (only for flow_mods sent encoded).
    #[error("undecodable flow_mod: {0}")]
    Undecodable(String),
    /// The flow_mod does not fit one OpenFlow message: its encoding ([`FlowMod::encoded_len`](
    /// crate::FlowMod::encoded_len)) is longer than `max`, 65535 bytes alone
    /// ([`MAX_MESSAGE_LEN`](crate::message::MAX_MESSAGE_LEN)) or 65511 inside a BUNDLE_ADD
    /// ([`MAX_BUNDLED_FLOW_MOD_LEN`](crate::message::MAX_BUNDLED_FLOW_MOD_LEN)). Split its
    /// actions over several flows.
    #[error("flow_mod encodes to {len} bytes, more than {max}{}", largest.map(|(n, l)| format!(" (its {n} instruction is {l} bytes)")).unwrap_or_default())]
    TooLong {
        /// Encoded length with the 8-byte header, bytes.
        len: usize,
        /// The limit that applies, bytes.
        max: usize,
        /// The largest instruction's name and encoded length, bytes.
        largest: Option<(&'static str, usize)>,
    },
}

impl InvalidFlowMod {
    /// The error OVS answers with for such a flow_mod; `None` for
    /// [`InvalidFlowMod::Undecodable`], whose code depends on the bytes.
    pub fn code(&self) -> Option<ErrorCode> {
        Some(match self {
            InvalidFlowMod::Match(m) => m.code(),
            InvalidFlowMod::DupInstruction(_) => ErrorCode::Onf(OnfErrorCode::OfpbicDupInst),
            InvalidFlowMod::BadGotoTable { .. } => {
                ErrorCode::BadInstruction(BadInstructionCode::BadTableId)
            }
            InvalidFlowMod::BadMeter(_) => {
                ErrorCode::MeterModFailed(MeterModFailedCode::InvalidMeter)
            }
            InvalidFlowMod::AllTables => ErrorCode::FlowModFailed(FlowModFailedCode::BadTableId),
            InvalidFlowMod::BadFlags(_) => ErrorCode::FlowModFailed(FlowModFailedCode::BadFlags),
            // Never reaches a switch: no length field can carry it.
            InvalidFlowMod::Undecodable(_) | InvalidFlowMod::TooLong { .. } => return None,
        })
    }
}

/// Nicira experimenter id.
pub const NX_VENDOR_ID: u32 = 0x0000_2320;
/// ONF experimenter id ("ONF\0").
pub const ONF_VENDOR_ID: u32 = 0x4f4e_4600;
/// NXET_VENDOR: OVS's OpenFlow 1.0 error type for vendor errors (`nicira-ext.h`); the code is
/// NXVC_VENDOR_ERROR (0) and the data starts with `nx_vendor_error`.
pub const NXET_VENDOR: u16 = 0xb0c2;

/// The type and code of an OFPT_ERROR, typed: every OF1.3 type with its codes as open enums,
/// experimenter errors from Nicira and ONF (how OVS sends its extension errors in OF1.3), and
/// the OpenFlow 1.0 NXET_VENDOR form. Unknown values are kept and re-emitted unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// OFPET_HELLO_FAILED (0).
    HelloFailed(HelloFailedCode),
    /// OFPET_BAD_REQUEST (1).
    BadRequest(BadRequestCode),
    /// OFPET_BAD_ACTION (2).
    BadAction(BadActionCode),
    /// OFPET_BAD_INSTRUCTION (3).
    BadInstruction(BadInstructionCode),
    /// OFPET_BAD_MATCH (4).
    BadMatch(BadMatchCode),
    /// OFPET_FLOW_MOD_FAILED (5).
    FlowModFailed(FlowModFailedCode),
    /// OFPET_GROUP_MOD_FAILED (6).
    GroupModFailed(GroupModFailedCode),
    /// OFPET_PORT_MOD_FAILED (7).
    PortModFailed(PortModFailedCode),
    /// OFPET_TABLE_MOD_FAILED (8).
    TableModFailed(TableModFailedCode),
    /// OFPET_QUEUE_OP_FAILED (9).
    QueueOpFailed(QueueOpFailedCode),
    /// OFPET_SWITCH_CONFIG_FAILED (10).
    SwitchConfigFailed(SwitchConfigFailedCode),
    /// OFPET_ROLE_REQUEST_FAILED (11).
    RoleRequestFailed(RoleRequestFailedCode),
    /// OFPET_METER_MOD_FAILED (12).
    MeterModFailed(MeterModFailedCode),
    /// OFPET_TABLE_FEATURES_FAILED (13).
    TableFeaturesFailed(TableFeaturesFailedCode),
    /// OFPET_EXPERIMENTER with [`NX_VENDOR_ID`].
    Nicira(NxErrorCode),
    /// OFPET_EXPERIMENTER with [`ONF_VENDOR_ID`] (bundles, OF1.4 errors back-ported to 1.3).
    Onf(OnfErrorCode),
    /// OFPET_EXPERIMENTER from any other experimenter.
    Experimenter {
        /// Experimenter id.
        experimenter: u32,
        /// `exp_code`.
        exp_code: u16,
    },
    /// NXET_VENDOR / NXVC_VENDOR_ERROR with `nx_vendor_error { vendor, type, code }`.
    NxVendor {
        /// Vendor id (0x2320 for Nicira).
        vendor: u32,
        /// The vendor's error type.
        kind: u16,
        /// The vendor's error code.
        code: u16,
    },
    /// A type this crate does not know.
    Unknown {
        /// `ofp_error_type`.
        kind: u16,
        /// The code.
        code: u16,
    },
}

impl ErrorCode {
    /// From the wire's `type`, `code` and (for OFPET_EXPERIMENTER) experimenter id. NXET_VENDOR
    /// is not built here: it comes from the message decoder.
    pub fn from_parts(kind: u16, code: u16, experimenter: Option<u32>) -> ErrorCode {
        use ErrorCode as E;
        match (ErrorType::from_code(kind), experimenter) {
            (ErrorType::Experimenter, Some(NX_VENDOR_ID)) => {
                E::Nicira(NxErrorCode::from_code(code))
            }
            (ErrorType::Experimenter, Some(ONF_VENDOR_ID)) => E::Onf(OnfErrorCode::from_code(code)),
            (ErrorType::Experimenter, Some(experimenter)) => E::Experimenter {
                experimenter,
                exp_code: code,
            },
            (ErrorType::HelloFailed, _) => E::HelloFailed(HelloFailedCode::from_code(code)),
            (ErrorType::BadRequest, _) => E::BadRequest(BadRequestCode::from_code(code)),
            (ErrorType::BadAction, _) => E::BadAction(BadActionCode::from_code(code)),
            (ErrorType::BadInstruction, _) => {
                E::BadInstruction(BadInstructionCode::from_code(code))
            }
            (ErrorType::BadMatch, _) => E::BadMatch(BadMatchCode::from_code(code)),
            (ErrorType::FlowModFailed, _) => E::FlowModFailed(FlowModFailedCode::from_code(code)),
            (ErrorType::GroupModFailed, _) => {
                E::GroupModFailed(GroupModFailedCode::from_code(code))
            }
            (ErrorType::PortModFailed, _) => E::PortModFailed(PortModFailedCode::from_code(code)),
            (ErrorType::TableModFailed, _) => {
                E::TableModFailed(TableModFailedCode::from_code(code))
            }
            (ErrorType::QueueOpFailed, _) => E::QueueOpFailed(QueueOpFailedCode::from_code(code)),
            (ErrorType::SwitchConfigFailed, _) => {
                E::SwitchConfigFailed(SwitchConfigFailedCode::from_code(code))
            }
            (ErrorType::RoleRequestFailed, _) => {
                E::RoleRequestFailed(RoleRequestFailedCode::from_code(code))
            }
            (ErrorType::MeterModFailed, _) => {
                E::MeterModFailed(MeterModFailedCode::from_code(code))
            }
            (ErrorType::TableFeaturesFailed, _) => {
                E::TableFeaturesFailed(TableFeaturesFailedCode::from_code(code))
            }
            (ErrorType::Experimenter | ErrorType::Unknown(_), _) => E::Unknown { kind, code },
        }
    }

    /// The wire `type`, `code` (or `exp_code`) and experimenter id (for NXET_VENDOR: 0xb0c2, 0,
    /// no experimenter; the `nx_vendor_error` follows, written by the message encoder).
    pub fn parts(self) -> (u16, u16, Option<u32>) {
        use ErrorCode as E;
        let std = |t: ErrorType, c: u16| (t.code(), c, None);
        match self {
            E::HelloFailed(c) => std(ErrorType::HelloFailed, c.code()),
            E::BadRequest(c) => std(ErrorType::BadRequest, c.code()),
            E::BadAction(c) => std(ErrorType::BadAction, c.code()),
            E::BadInstruction(c) => std(ErrorType::BadInstruction, c.code()),
            E::BadMatch(c) => std(ErrorType::BadMatch, c.code()),
            E::FlowModFailed(c) => std(ErrorType::FlowModFailed, c.code()),
            E::GroupModFailed(c) => std(ErrorType::GroupModFailed, c.code()),
            E::PortModFailed(c) => std(ErrorType::PortModFailed, c.code()),
            E::TableModFailed(c) => std(ErrorType::TableModFailed, c.code()),
            E::QueueOpFailed(c) => std(ErrorType::QueueOpFailed, c.code()),
            E::SwitchConfigFailed(c) => std(ErrorType::SwitchConfigFailed, c.code()),
            E::RoleRequestFailed(c) => std(ErrorType::RoleRequestFailed, c.code()),
            E::MeterModFailed(c) => std(ErrorType::MeterModFailed, c.code()),
            E::TableFeaturesFailed(c) => std(ErrorType::TableFeaturesFailed, c.code()),
            E::Nicira(c) => (0xffff, c.code(), Some(NX_VENDOR_ID)),
            E::Onf(c) => (0xffff, c.code(), Some(ONF_VENDOR_ID)),
            E::Experimenter {
                experimenter,
                exp_code,
            } => (0xffff, exp_code, Some(experimenter)),
            E::NxVendor { .. } => (NXET_VENDOR, 0, None),
            E::Unknown { kind, code } => (kind, code, None),
        }
    }

    /// The name `ovs-ofctl` prints for this error (`OFPBAC_BAD_OUT_PORT`, `OFPBFC_MSG_FAILED`,
    /// `NXBRC_NXM_INVALID`, ...); `None` when OVS has no name for it either.
    pub fn name(self) -> Option<&'static str> {
        use ErrorCode as E;
        match self {
            E::HelloFailed(c) => c.name(),
            E::BadRequest(c) => c.name(),
            E::BadAction(c) => c.name(),
            E::BadInstruction(c) => c.name(),
            E::BadMatch(c) => c.name(),
            E::FlowModFailed(c) => c.name(),
            E::GroupModFailed(c) => c.name(),
            E::PortModFailed(c) => c.name(),
            E::TableModFailed(c) => c.name(),
            E::QueueOpFailed(c) => c.name(),
            E::SwitchConfigFailed(c) => c.name(),
            E::RoleRequestFailed(c) => c.name(),
            E::MeterModFailed(c) => c.name(),
            E::TableFeaturesFailed(c) => c.name(),
            E::Nicira(c) => c.name(),
            E::Onf(c) => c.name(),
            E::NxVendor {
                vendor: NX_VENDOR_ID,
                kind,
                code,
            } => NX_VENDOR_ERRORS
                .iter()
                .find(|(t, c, _)| (*t, *c) == (kind, code))
                .map(|(_, _, n)| *n),
            E::NxVendor { .. } | E::Experimenter { .. } | E::Unknown { .. } => None,
        }
    }
}

impl fmt::Display for ErrorCode {
    /// OVS's name, or the raw numbers when there is none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.name() {
            return f.write_str(n);
        }
        match *self {
            ErrorCode::Experimenter {
                experimenter,
                exp_code,
            } => write!(f, "experimenter={experimenter:#x},exp_code={exp_code}"),
            ErrorCode::NxVendor { vendor, kind, code } => {
                write!(f, "vendor={vendor:#x},type={kind},code={code}")
            }
            _ => {
                let (kind, code, exp) = self.parts();
                match exp {
                    Some(e) => write!(f, "experimenter={e:#x},exp_code={code}"),
                    None => write!(f, "type={kind},code={code}"),
                }
            }
        }
    }
}

/// An OFPT_ERROR body (OF1.3 §7.4.4): `type u16 | code u16 | data`, or for experimenter errors
/// `0xffff | exp_code u16 | experimenter u32 | data`, or for NXET_VENDOR
/// `0xb0c2 | 0 | vendor u32 | type u16 | code u16 | data`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OfpError {
    /// Type and code.
    pub code: ErrorCode,
    /// For HELLO_FAILED an ASCII explanation; otherwise the start (OVS: all) of the offending
    /// request, see [`OfpError::request`].
    pub data: Vec<u8>,
}

impl OfpError {
    /// An error with `code` and `data`.
    pub fn new(code: ErrorCode, data: Vec<u8>) -> OfpError {
        OfpError { code, data }
    }

    /// OVS's name for this error (`OFPBIC_BAD_TABLE_ID`, `OFPBFC_MSG_FAILED`, ...), if known.
    pub fn name(&self) -> Option<&'static str> {
        self.code.name()
    }

    /// The xid of the offending request in `data`, if at least a header was echoed.
    pub fn request_xid(&self) -> Option<u32> {
        if matches!(self.code, ErrorCode::HelloFailed(_)) {
            return None;
        }
        self.data
            .get(4..8)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The offending request decoded from `data`: `None` for HELLO_FAILED (its data is text) or
    /// when less than a header was echoed; `Some(Err)` when the echo is cut short (the spec only
    /// requires 64 bytes) or does not decode, with offsets relative to the start of `data`.
    pub fn request(&self) -> Option<Result<(u32, Message), Error>> {
        if matches!(self.code, ErrorCode::HelloFailed(_)) || self.data.len() < 8 {
            return None;
        }
        Some(Message::decode(&self.data))
    }

    /// The explanation carried by a HELLO_FAILED error (lossy UTF-8), `None` for other types.
    pub fn hello_text(&self) -> Option<String> {
        matches!(self.code, ErrorCode::HelloFailed(_))
            .then(|| String::from_utf8_lossy(&self.data).into_owned())
    }

    /// Parse the body after the `ofp_header`. Errors: [`Error::Truncated`] when the type and
    /// code, the experimenter id or the `nx_vendor_error` are cut short.
    pub(crate) fn parse(r: &mut Reader) -> Result<OfpError, Error> {
        let kind = r.u16("ofp_error_msg")?;
        let code = r.u16("ofp_error_msg")?;
        let code = match kind {
            0xffff => ErrorCode::from_parts(kind, code, Some(r.u32("ofp_error_experimenter_msg")?)),
            NXET_VENDOR if code == 0 => ErrorCode::NxVendor {
                vendor: r.u32("nx_vendor_error")?,
                kind: r.u16("nx_vendor_error")?,
                code: r.u16("nx_vendor_error")?,
            },
            _ => ErrorCode::from_parts(kind, code, None),
        };
        Ok(OfpError {
            code,
            data: r.rest().to_vec(),
        })
    }

    /// Append the body after the `ofp_header`.
    pub(crate) fn emit(&self, buf: &mut Vec<u8>) {
        let (kind, code, experimenter) = self.code.parts();
        buf.extend_from_slice(&kind.to_be_bytes());
        buf.extend_from_slice(&code.to_be_bytes());
        if let Some(x) = experimenter {
            buf.extend_from_slice(&x.to_be_bytes());
        }
        if let ErrorCode::NxVendor { vendor, kind, code } = self.code {
            buf.extend_from_slice(&vendor.to_be_bytes());
            buf.extend_from_slice(&kind.to_be_bytes());
            buf.extend_from_slice(&code.to_be_bytes());
        }
        buf.extend_from_slice(&self.data);
    }
}

impl fmt::Display for OfpError {
    /// `OFPBIC_BAD_TABLE_ID for flow_mod \`table=5, ... actions=goto_table:2\``: the name, then
    /// what the offending request was (a flow_mod, also inside a bundle add, in flow syntax).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(text) = self.hello_text() {
            return write!(f, " ({text:?})");
        }
        match self.request() {
            Some(Ok((_, Message::FlowMod(fm)))) => write!(f, " for flow_mod `{fm}`"),
            Some(Ok((_, Message::BundleAdd { message, .. }))) => match *message {
                Message::FlowMod(fm) => write!(f, " for bundled flow_mod `{fm}`"),
                m => write!(f, " for bundled message type {}", m.kind()),
            },
            _ => match (self.data.get(1), self.request_xid()) {
                (Some(t), Some(xid)) => write!(f, " for message type {t} xid {xid:#x}"),
                _ => Ok(()),
            },
        }
    }
}

/// OVS's name of an error (type, code, experimenter), e.g. `(3, 2, None)` → `OFPBIC_BAD_TABLE_ID`.
pub fn error_name(kind: u16, code: u16, experimenter: Option<u32>) -> Option<&'static str> {
    ErrorCode::from_parts(kind, code, experimenter).name()
}
