//! Serialization and OpenAPI schemas of the model's fields whose Rust types are not the API's
//! (actions and protocols are enums of their own; the API writes them as strings), for the CRDs
//! of `crd.kakine.io` (`src/controller/kube/crd.rs`).

use schemars::{json_schema, Schema, SchemaGenerator};
use serde::Serializer;

use crate::policy::resolved::{Protocol, RuleAction};

/// Writes an Antrea-native rule action as the API spells it (`Allow`, `Drop`, `Reject`, `Pass`).
pub(crate) fn ser_action<S: Serializer>(a: &RuleAction, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match a {
        RuleAction::Allow => "Allow",
        RuleAction::Drop => "Drop",
        RuleAction::Reject => "Reject",
        RuleAction::Pass => "Pass",
    })
}

/// The schema of an Antrea-native rule action: one of `Allow`, `Drop`, `Reject`, `Pass`.
pub(crate) fn action_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": ["Allow", "Drop", "Reject", "Pass"] })
}

/// Writes a port's protocol as the API spells it (`TCP`, `UDP`, `SCTP`; `ICMP` for a probe).
pub(crate) fn ser_protocol<S: Serializer>(p: &Protocol, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
        Protocol::Icmp => "ICMP",
    })
}

/// The schema of a port's protocol: one of `TCP`, `UDP`, `SCTP` (default `TCP`).
pub(crate) fn protocol_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": ["TCP", "UDP", "SCTP"], "default": "TCP" })
}
