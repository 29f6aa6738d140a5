//! Instructions and the FLOW_MOD body: [`Instruction`], [`FlowModCommand`], [`FlowMod`].

use super::{Action, Instructions, Match};

/// An OF1.3 instruction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Instruction {
    /// OFPIT_GOTO_TABLE.
    GotoTable(u8),
    /// OFPIT_APPLY_ACTIONS.
    ApplyActions(Vec<Action>),
    /// OFPIT_WRITE_ACTIONS.
    WriteActions(Vec<Action>),
    /// OFPIT_CLEAR_ACTIONS.
    ClearActions,
    /// OFPIT_WRITE_METADATA (value, mask).
    WriteMetadata(u64, u64),
    /// OFPIT_METER.
    Meter(u32),
    /// OFPIT_EXPERIMENTER (0xffff): `type u16 | len u16 | experimenter u32 | data`, `len` a
    /// multiple of 8 (OF1.3 §7.2.4). OVS refuses it (OFPBIC_BAD_EXPERIMENTER); decode keeps it
    /// so that it re-emits byte for byte. Emitted after the six known instructions.
    Experimenter {
        /// Experimenter id (e.g. [`crate::NX_VENDOR_ID`]).
        experimenter: u32,
        /// The bytes after the experimenter id as received, padding included; emit pads them
        /// with zeros when the instruction would not end on a multiple of 8.
        data: Vec<u8>,
    },
    /// An instruction of a type OF1.3 does not define (not 1..=6, not 0xffff). OVS refuses it
    /// (OFPBIC_UNKNOWN_INST), but a decoder that is a library keeps what it cannot interpret:
    /// it re-emits byte for byte, after the known instructions. A `kind` of a known type emits
    /// as given and decodes as that instruction.
    Unknown {
        /// OFPIT_* type.
        kind: u16,
        /// The bytes after the 4-byte type/length header as received, padding included; emit
        /// pads them with zeros to a multiple of 8 as for [`Instruction::Experimenter`].
        body: Vec<u8>,
    },
}

/// OFPFC_* flow_mod commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowModCommand {
    /// OFPFC_ADD (0).
    Add,
    /// OFPFC_MODIFY (1).
    Modify,
    /// OFPFC_MODIFY_STRICT (2).
    ModifyStrict,
    /// OFPFC_DELETE (3).
    Delete,
    /// OFPFC_DELETE_STRICT (4).
    DeleteStrict,
}

/// An OF1.3 FLOW_MOD body (`struct ofp11_flow_mod`, 40 bytes + match + instructions).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowMod {
    /// Opaque controller cookie.
    pub cookie: u64,
    /// Cookie mask (MODIFY/DELETE only; must be 0 on ADD).
    pub cookie_mask: u64,
    /// Table id (0xff = all, DELETE only).
    pub table_id: u8,
    /// Command.
    pub command: FlowModCommand,
    /// Idle timeout in seconds (0 = permanent).
    pub idle_timeout: u16,
    /// Hard timeout in seconds (0 = permanent).
    pub hard_timeout: u16,
    /// Priority (higher wins).
    pub priority: u16,
    /// Buffer id (0xffffffff = none).
    pub buffer_id: u32,
    /// DELETE filter port (0xffffffff = any).
    pub out_port: u32,
    /// DELETE filter group (0xffffffff = any).
    pub out_group: u32,
    /// OFPFF_* flags.
    pub flags: u16,
    /// The match.
    pub r#match: Match,
    /// Instructions; empty = drop.
    pub instructions: Instructions,
}

impl FlowMod {
    /// An ADD flow_mod with defaults (`buffer_id`, `out_port`, `out_group` = none/any);
    /// `instructions` as a `Vec<Instruction>`, an array or [`Instructions`].
    pub fn add(
        table_id: u8,
        priority: u16,
        r#match: Match,
        instructions: impl Into<Instructions>,
    ) -> Self {
        let instructions = instructions.into();
        FlowMod {
            cookie: 0,
            cookie_mask: 0,
            table_id,
            command: FlowModCommand::Add,
            idle_timeout: 0,
            hard_timeout: 0,
            priority,
            buffer_id: 0xffff_ffff,
            out_port: 0xffff_ffff,
            out_group: 0xffff_ffff,
            flags: 0,
            r#match,
            instructions,
        }
    }
}
