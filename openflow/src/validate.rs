//! Checking a flow_mod before it is sent: what Open vSwitch would refuse, found without a
//! switch, so a bad flow fails on our side with the field named and nothing half-sent.
//!
//! - [`Match::validate`] runs the decoder's own prerequisite and duplicate checks
//!   ([`Prereqs`], the code [`crate::Message::decode`] runs on every OXM TLV) over the fields
//!   in the canonical order [`Match::emit`] writes them: a match passes exactly when its
//!   encoding decodes. It adds the two checks OVS makes beyond the OXM walk: values a field
//!   does not allow (`mf_is_value_valid`, OFPBMC_BAD_VALUE) and conntrack tuple addresses of
//!   the wrong IP family (`ofputil_decode_flow_mod`, OFPBAC_MATCH_INCONSISTENT).
//! - [`FlowMod::validate`] adds what OVS checks when it decodes a FLOW_MOD
//!   (`lib/ofp-flow.c`, `lib/ofp-actions.c`): one instruction of each type, `goto_table` only
//!   forward, meter ids, table 255 only for DELETE, the defined flag bits.
//!
//! Emit stays infallible and writes what it is given (it runs in hot encode loops, and tests
//! need to write invalid messages); validation is the gate, and the send paths of
//! [`crate::session::Session`] and [`crate::Connection`] run it on every flow_mod before
//! anything goes out. Action-level consistency (`ofpacts_check`: a `set_field:ip_src` on a
//! non-IP match, ...) is not checked: it needs each action's own prerequisites.

use crate::flow::{FlowMod, FlowModCommand, Instruction, Match, MatchField};
use crate::flow_mod::flags;
use crate::message::{MAX_BUNDLED_FLOW_MOD_LEN, MAX_MESSAGE_LEN};
use crate::oxm::{ones, Fid, Prereqs};
use crate::view::{FlowModView, InstructionView};
use crate::wire::Reader;
use crate::{Error, InvalidFlowMod, MatchError, Message};

/// The OFPFF_* bits OF1.3 defines (§7.3.4.1).
const FLAGS_ALL: u16 = flags::SEND_FLOW_REM
    | flags::CHECK_OVERLAP
    | flags::RESET_COUNTS
    | flags::NO_PKT_COUNTS
    | flags::NO_BYT_COUNTS;

/// OFPM_MAX: the last meter id a flow may use (OF1.3 §7.3.4.4).
const METER_MAX: u32 = 0xffff_0000;

impl Match {
    /// Check the match as a switch will check its encoding: every field's prerequisites met
    /// by the fields before it in emit order (`tp_dst` needs `tcp`, `nd_sll` needs
    /// `icmpv6_type=135`, `vlan_pcp` a VLAN, `ct_nw_src` a ct_state of a valid connection
    /// ...), no field twice, every value within what its field allows, and conntrack tuple
    /// addresses of the match's IP family. Masks are checked as [`Match::emit`] writes them
    /// (normalised: a value's bits outside its mask are cleared, not an error).
    ///
    /// Errors: the first offending field in emit order: [`MatchError::DupField`],
    /// [`MatchError::BadValue`], [`MatchError::BadPrereq`] (naming what is missing),
    /// [`MatchError::BadField`] / [`MatchError::BadLen`] for a register or tun_metadata slot
    /// the wire cannot carry, then [`MatchError::Inconsistent`]. Sources: OVS
    /// `lib/nx-match.c` `nx_pull_raw`, `lib/meta-flow.c` `mf_is_value_valid`.
    pub fn validate(&self) -> Result<(), MatchError> {
        if self.bad_slot() != 0 {
            return Err(slot_error(self.bad_slot()));
        }
        // A field this crate does not know is left to the switch to judge. The fields are kept
        // in canonical order, normalised: checked in place, nothing allocated.
        check_canonical(self.fields().filter_map(|f| f.parts()))
    }
}

/// The checks of [`Match::validate`] on known fields in canonical (emit) order.
fn check_canonical(
    fields: impl Iterator<Item = (Fid, u128, Option<u128>)>,
) -> Result<(), MatchError> {
    let mut prereqs = Prereqs::default();
    let mut family = Family::default();
    let mut prev: Option<Fid> = None;
    for (fid, v, m) in fields {
        if prev.is_some_and(|p| p.key() == fid.key()) {
            return Err(MatchError::DupField(fid.name()));
        }
        prev = Some(fid);
        check_value(fid, v)?;
        if let Err(needs) = prereqs.check(fid) {
            return Err(MatchError::BadPrereq {
                field: fid.name(),
                needs,
            });
        }
        prereqs.note(fid, v as u32, m.map_or(u32::MAX, |m| m as u32));
        family.note(fid, v);
    }
    family.check()
}

/// Registers and tun_metadata slots beyond what the wire can name, checked before anything
/// computes their header: 0 for a field the wire can carry, else a code [`slot_error`] turns
/// into the error ([`Match`] keeps the first such field's code instead of the field).
pub(crate) fn slot_code(f: &MatchField) -> u32 {
    match *f {
        MatchField::Reg(n, ..) if n >= 16 => 1,
        MatchField::TunMetadata { idx, .. } if idx >= 64 => 2,
        MatchField::TunMetadata { idx, len, .. } if len > 16 => {
            (crate::oxm::OFPXMC_NXM_1 as u32) << 16 | (40 + idx as u32) << 9 | len as u32
        }
        // A value or mask wider than its `len` bytes: the TLV would cut it.
        MatchField::TunMetadata {
            len, value, mask, ..
        } if len < 16 && (value | mask.unwrap_or(0)) >> (8 * len as u32) != 0 => 2,
        _ => 0,
    }
}

/// The error of a [`slot_code`].
fn slot_error(code: u32) -> MatchError {
    match code {
        1 => MatchError::BadValue("reg"),
        2 => MatchError::BadValue("tun_metadata"),
        header => MatchError::BadLen(header),
    }
}

/// OVS's `mf_is_value_valid`: the bits a field's value may have where they are fewer than
/// its TLV carries, and the OF1.3 ports OVS's 16-bit ports can stand for.
fn check_value(fid: Fid, v: u128) -> Result<(), MatchError> {
    let allowed = match fid {
        // `ofputil_port_from_ofp11`: below OFPP_MAX (0xff00) or a reserved port.
        Fid::InPort if !(0xff00..0xffff_ff00).contains(&v) => return Ok(()),
        Fid::InPort => 0,
        Fid::VlanVid => 0x1fff,
        Fid::VlanPcp | Fid::MplsTc => 0x7,
        Fid::IpDscp => 0x3f,
        Fid::IpEcn | Fid::IpFrag => 0x3,
        Fid::MplsLabel | Fid::Ipv6Flabel => 0xf_ffff,
        Fid::MplsBos | Fid::TunFlags => 0x1,
        Fid::TcpFlags => 0xfff,
        Fid::ArpOp | Fid::CtState => 0xff,
        Fid::Ipv6Exthdr => 0x1ff,
        Fid::PbbIsid => 0xff_ffff,
        Fid::TunMetadata(_, len) => ones(len as u32 * 8),
        _ => return Ok(()),
    };
    if v & !allowed == 0 {
        Ok(())
    } else {
        Err(MatchError::BadValue(fid.name()))
    }
}

/// The eth_type and the conntrack tuple addresses of a match, for OVS's family check.
#[derive(Default)]
struct Family {
    eth_type: Option<u16>,
    /// The first ct_nw_src/dst field seen.
    ct_v4: Option<&'static str>,
    /// The first ct_ipv6_src/dst field seen.
    ct_v6: Option<&'static str>,
}

impl Family {
    fn note(&mut self, fid: Fid, v: u128) {
        match fid {
            Fid::EthType => self.eth_type = Some(v as u16),
            Fid::CtNwSrc | Fid::CtNwDst => {
                self.ct_v4.get_or_insert(fid.name());
            }
            Fid::CtIpv6Src | Fid::CtIpv6Dst => {
                self.ct_v6.get_or_insert(fid.name());
            }
            _ => {}
        }
    }

    /// `ofputil_decode_flow_mod`: ct_nw_src/dst need eth_type IPv4, ct_ipv6_src/dst IPv6.
    fn check(&self) -> Result<(), MatchError> {
        match (self.ct_v4, self.ct_v6) {
            (Some(field), _) if self.eth_type != Some(0x0800) => Err(MatchError::Inconsistent {
                field,
                needs: "ip (eth_type=0x0800)",
            }),
            (_, Some(field)) if self.eth_type != Some(0x86dd) => Err(MatchError::Inconsistent {
                field,
                needs: "ipv6 (eth_type=0x86dd)",
            }),
            _ => Ok(()),
        }
    }
}

/// What the instruction checks need of one instruction: its type and name, and the
/// `goto_table` target or meter id.
enum Inst {
    Goto(u8),
    Meter(u32),
    Other(u16, &'static str),
}

impl Inst {
    fn of(i: &Instruction) -> Inst {
        match i {
            Instruction::GotoTable(t) => Inst::Goto(*t),
            Instruction::Meter(m) => Inst::Meter(*m),
            other => Inst::Other(other.kind(), other.name()),
        }
    }

    fn of_view(i: &InstructionView) -> Inst {
        match i {
            InstructionView::GotoTable(t) => Inst::Goto(*t),
            InstructionView::Meter(m) => Inst::Meter(*m),
            InstructionView::WriteMetadata(..) => Inst::Other(2, "write_metadata"),
            InstructionView::WriteActions(_) => Inst::Other(3, "write_actions"),
            InstructionView::ApplyActions(_) => Inst::Other(4, "apply_actions"),
            InstructionView::ClearActions => Inst::Other(5, "clear_actions"),
            InstructionView::Experimenter { .. } => Inst::Other(0xffff, "experimenter"),
            InstructionView::Unknown { kind, .. } => Inst::Other(*kind, "unknown"),
        }
    }

    /// OFPIT_* type and name.
    fn kind(&self) -> (u16, &'static str) {
        match self {
            Inst::Goto(_) => (1, "goto_table"),
            Inst::Meter(_) => (6, "meter"),
            Inst::Other(k, n) => (*k, n),
        }
    }
}

/// The header and instruction checks of [`FlowMod::validate`], in the order OVS's decoder
/// makes them: instructions pulled (duplicates), flags, table, then each instruction.
fn check_flow_mod(
    command: FlowModCommand,
    table_id: u8,
    flags: u16,
    insts: impl Iterator<Item = Inst> + Clone,
) -> Result<(), InvalidFlowMod> {
    // The OF1.3 types (1..=6) in a bit set; experimenter and unknown types (any u16) by
    // comparing with the ones before, as a flow has few of them.
    let mut seen = 0u64;
    for (n, i) in insts.clone().enumerate() {
        let (kind, name) = i.kind();
        let dup = if kind < 64 {
            let dup = seen & 1 << kind != 0;
            seen |= 1 << kind;
            dup
        } else {
            insts.clone().take(n).any(|p| p.kind().0 == kind)
        };
        if dup {
            return Err(InvalidFlowMod::DupInstruction(name));
        }
    }
    if flags & !FLAGS_ALL != 0 {
        return Err(InvalidFlowMod::BadFlags(flags));
    }
    let delete = matches!(
        command,
        FlowModCommand::Delete | FlowModCommand::DeleteStrict
    );
    if table_id == 0xff && !delete {
        return Err(InvalidFlowMod::AllTables);
    }
    for i in insts {
        match i {
            // A DELETE in all tables has no table to go forward from. OVS takes
            // `goto_table:255` (its `ofpacts_check` bounds the target only for switches with
            // fewer tables), so this does too.
            Inst::Goto(goto) if table_id != 0xff && goto <= table_id => {
                return Err(InvalidFlowMod::BadGotoTable {
                    table: table_id,
                    goto,
                })
            }
            Inst::Meter(m) if m == 0 || m > METER_MAX => return Err(InvalidFlowMod::BadMeter(m)),
            _ => {}
        }
    }
    Ok(())
}

impl FlowMod {
    /// Check the flow_mod as OVS checks a FLOW_MOD it receives: the match
    /// ([`Match::validate`]), at most one instruction of each type, `goto_table` only to a
    /// later table, a meter id in 1..=0xffff0000, table 255 only for DELETE,
    /// and only the OF1.3 flag bits; and that the whole message fits its 16-bit length
    /// ([`FlowMod::encoded_len`] at most [`MAX_MESSAGE_LEN`], 65535 bytes; the bundle send
    /// paths hold it to [`MAX_BUNDLED_FLOW_MOD_LEN`], 65511). What passes is what OVS 3.1
    /// accepts, except the checks of actions against the match (`ofpacts_check`:
    /// `set_field:ip_src` on a non-IP match, `ct` without `ip` ...), which are not made.
    /// [`FlowMod::emit`] writes a flow_mod whether it passes or not.
    ///
    /// Errors: [`InvalidFlowMod`]; its [`code`](InvalidFlowMod::code) is the error OVS would
    /// answer with ([`InvalidFlowMod::TooLong`] has none: it cannot be sent). Sources: OF1.3 §7.3.4.1, §7.2.4; OVS `ofputil_decode_flow_mod`
    /// (`lib/ofp-flow.c`), `decode_openflow11_instructions` and `ofpacts_check`
    /// (`lib/ofp-actions.c`).
    pub fn validate(&self) -> Result<(), InvalidFlowMod> {
        self.validate_within(MAX_MESSAGE_LEN)
    }

    /// [`FlowMod::validate`] with `max` as the longest encoding allowed.
    pub(crate) fn validate_within(&self, max: usize) -> Result<(), InvalidFlowMod> {
        self.r#match.validate()?;
        match self.instructions.long() {
            Some(list) => check_flow_mod(
                self.command,
                self.table_id,
                self.flags,
                list.iter().map(Inst::of),
            )?,
            None => check_flow_mod(
                self.command,
                self.table_id,
                self.flags,
                self.instructions.views().map(|v| Inst::of_view(&v)),
            )?,
        }
        let len = self.encoded_len();
        if len > max {
            return Err(InvalidFlowMod::TooLong {
                len,
                max,
                largest: self.largest_instruction(),
            });
        }
        Ok(())
    }
}

/// [`FlowMod::validate`] of an encoded FLOW_MOD body (what [`FlowMod::emit`] writes), for a
/// bundle (so at most [`MAX_BUNDLED_FLOW_MOD_LEN`] with its header): the decoder's checks through a [`FlowModView`] (no owned flow is built), then the same value,
/// family and instruction checks. Action bodies are not decoded.
pub(crate) fn validate_body(body: &[u8]) -> Result<(), InvalidFlowMod> {
    let len = 8 + body.len();
    if len > MAX_BUNDLED_FLOW_MOD_LEN {
        // Its length fields may hold 0 (see `wire::len16`), so it is not walked.
        return Err(InvalidFlowMod::TooLong {
            len,
            max: MAX_BUNDLED_FLOW_MOD_LEN,
            largest: None,
        });
    }
    let view = FlowModView::parse_body(&mut Reader::new(body, 8)).map_err(|e| match e {
        Error::BadMatch { kind, .. } => InvalidFlowMod::Match(kind),
        e => InvalidFlowMod::Undecodable(e.to_string()),
    })?;
    let mut family = Family::default();
    for f in view.r#match.fields() {
        let Some((fid, v, _)) = f.parts() else {
            continue;
        };
        check_value(fid, v)?;
        family.note(fid, v);
    }
    family.check()?;
    check_flow_mod(
        view.command,
        view.table_id,
        view.flags,
        view.instructions.iter().map(|i| Inst::of_view(&i)),
    )
}

/// The error for the flow_mod at `index` of what a caller asked to send.
pub(crate) fn invalid(index: usize, error: InvalidFlowMod, flow: &FlowMod) -> Error {
    Error::Invalid {
        index,
        error,
        flow: flow.to_string(),
    }
}

/// Check every flow_mod of a list, for a bundle (each must fit a BUNDLE_ADD:
/// [`MAX_BUNDLED_FLOW_MOD_LEN`]): the first invalid one as [`Error::Invalid`].
pub(crate) fn check_all(flow_mods: &[FlowMod]) -> Result<(), Error> {
    for (i, f) in flow_mods.iter().enumerate() {
        f.validate_within(MAX_BUNDLED_FLOW_MOD_LEN)
            .map_err(|e| invalid(i, e, f))?;
    }
    Ok(())
}

/// Check every encoded FLOW_MOD body of a list, for a bundle; the failing flow is decoded for
/// the message when it can be.
pub(crate) fn check_all_encoded<'a>(
    bodies: impl IntoIterator<Item = &'a [u8]>,
) -> Result<(), Error> {
    for (index, body) in bodies.into_iter().enumerate() {
        if let Err(error) = validate_body(body) {
            let flow = FlowMod::decode_body(body)
                .map(|f| f.to_string())
                .unwrap_or_else(|_| "(undecodable)".into());
            return Err(Error::Invalid { index, error, flow });
        }
    }
    Ok(())
}

/// Check a message about to be sent: a FLOW_MOD, alone or inside a BUNDLE_ADD, must pass
/// [`FlowMod::validate`] (inside a BUNDLE_ADD it must fit with the bundle's header,
/// [`MAX_BUNDLED_FLOW_MOD_LEN`]). Other messages, and flow_mods sent raw as [`Message::Unknown`],
/// go out as they are.
pub(crate) fn check_message(msg: &Message) -> Result<(), Error> {
    match msg {
        Message::FlowMod(f) => f.validate().map_err(|e| invalid(0, e, f)),
        Message::BundleAdd { message, .. } => match &**message {
            Message::FlowMod(f) => f
                .validate_within(MAX_BUNDLED_FLOW_MOD_LEN)
                .map_err(|e| invalid(0, e, f)),
            other => check_message(other),
        },
        _ => Ok(()),
    }
}
