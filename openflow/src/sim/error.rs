//! What the fake switch rejects: flow_mods real OVS would refuse, and lookups whose result OVS
//! leaves undefined.

/// A flow_mod the switch refuses (with the OFPET/OFPBxC error OVS sends) or a packet whose
/// verdict is undefined.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The bytes are not a valid OpenFlow message.
    #[error("cannot decode message: {0}")]
    Decode(#[from] crate::Error),
    /// The message is not a FLOW_MOD.
    #[error("not a flow_mod: message type {kind}")]
    NotFlowMod {
        /// OFPT_* type of the message.
        kind: u8,
    },
    /// `goto_table` to the same or an earlier table (OFPBIC_BAD_TABLE_ID).
    #[error("table {table}: goto_table:{target} does not go forward")]
    GotoBackward {
        /// The flow's table.
        table: u8,
        /// The goto target.
        target: u8,
    },
    /// A table id above 254 where one table is required (OFPFMFC_BAD_TABLE_ID).
    #[error("bad table id {0}")]
    BadTable(u8),
    /// A `conjunction` action together with other actions or instructions, or with clause
    /// numbers out of range (NXBAC_BAD_CONJUNCTION / OFPBAC_BAD_TYPE).
    #[error("table {table}: bad conjunction flow: {reason}")]
    BadConjunction {
        /// The flow's table.
        table: u8,
        /// What is wrong.
        reason: String,
    },
    /// `ct(exec(...))` without `commit`, or exec actions other than loads / moves into
    /// ct_mark or ct_label (OFPBAC_BAD_ARGUMENT).
    #[error("table {table}: bad ct action: {reason}")]
    BadCt {
        /// The flow's table.
        table: u8,
        /// What is wrong.
        reason: String,
    },
    /// A bit range outside its field.
    #[error("table {table}: bit range {ofs}+{n_bits} outside a {bits}-bit field")]
    BadBitRange {
        /// The flow's table.
        table: u8,
        /// First bit.
        ofs: u16,
        /// Number of bits.
        n_bits: u16,
        /// Width of the field.
        bits: u16,
    },
    /// An action reads or writes a field the fake switch does not model (it models registers,
    /// `xreg`/`xxreg`, ct_mark, ct_label, in_port and the Ethernet addresses), or the match
    /// names a field this crate does not know ([`crate::MatchField::Raw`], OFPBMC_BAD_FIELD in
    /// OVS).
    #[error("table {table}: field {field} is not modelled by the fake switch")]
    UnsupportedField {
        /// The flow's table.
        table: u8,
        /// The field's meta-flow name.
        field: String,
    },
    /// More than one flow matches at the highest matching priority: OVS picks one
    /// arbitrarily, so the verdict is undefined.
    #[error("table {table}: {} flows match at priority {priority}: {}", flows.len(), flows.join(" | "))]
    Ambiguous {
        /// The table.
        table: u8,
        /// The tied priority.
        priority: u16,
        /// The tied flows, as text.
        flows: Vec<String>,
    },
    /// An experimenter instruction (OFPBIC_BAD_EXPERIMENTER in OVS) or one of a type OF1.3 does
    /// not define (OFPBIC_UNKNOWN_INST).
    #[error("table {table}: instruction type {kind:#06x} is not supported")]
    UnknownInstruction {
        /// The flow's table.
        table: u8,
        /// OFPIT_* type (0xffff for experimenter).
        kind: u16,
    },
    /// Resubmits nested deeper than OVS's limit (64).
    #[error("resubmit depth exceeded at table {0}")]
    TooDeep(u8),
}
