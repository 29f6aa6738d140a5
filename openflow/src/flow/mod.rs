//! The flow model shared by the codec, the text form and the compiler.
//!
//! Shapes follow OF1.3 §7.3.4.1 (`ofp_flow_mod`), §7.2.3 (OXM match), §7.2.4 (instructions),
//! §7.2.5 (actions), and Open vSwitch's Nicira extensions (`nicira-ext.h`, `meta-flow.xml`).

mod action_bodies;
mod actions;
mod flow_mod;
mod inline;
mod instructions;
mod match_fields;
mod match_list;

pub use self::action_bodies::{Bundle, CtZone, Learn, LearnDst, LearnSpec, LearnSrc, Nat, NatAddr};
pub use self::actions::{Action, Field};
pub use self::flow_mod::{FlowMod, FlowModCommand, Instruction};
pub use self::instructions::Instructions;
pub use self::match_fields::{ct_state, MacAddr, MatchField, RawBytes};
pub use self::match_list::Match;
