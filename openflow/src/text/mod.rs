//! The `ovs-ofctl` flow text form: `Display` as `ovs-ofctl -O OpenFlow13 dump-flows --no-stats`
//! prints (OVS `lib/match.c` `match_format`, `lib/ofp-actions.c` `format_*`), and `FromStr`
//! for the same syntax (`ovs-ofctl add-flow`), restricted to the fields and actions of
//! [`crate::flow`]: for whole flows, matches and single actions, with
//! [`Action::parse_list`](crate::Action::parse_list) / [`ActionsText`] for action lists.
//! MODIFY and DELETE flow_mods are read as `ovs-ofctl mod-flows` / `del-flows` read them
//! ([`FlowMod::parse_with_command`](crate::FlowMod::parse_with_command)) and printed as
//! `ovs-ofctl ofp-print` prints them.
//!
//! ```
//! use openflow::FlowMod;
//! let f: FlowMod = "table=3, priority=200,ip,nw_src=10.10.0.2 actions=conjunction(1001,1/2)".parse().unwrap();
//! assert_eq!(f.to_string(), "table=3, priority=200,ip,nw_src=10.10.0.2 actions=conjunction(1001,1/2)");
//! ```

mod action_parse;
mod action_text;
mod actions;
mod fields;
mod flow_mod;
mod learn;
mod lex;
mod match_parse;
mod match_text;
mod nat;
mod raw;
mod syntax;
#[cfg(test)]
mod tests;
mod values;

pub use action_text::ActionsText;
pub use flow_mod::{flags_text, parse_instructions, InstructionsText};
pub use match_parse::parse_match;
