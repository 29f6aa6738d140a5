//! The input model: the cluster (namespaces, pods) and the policy objects as users write them.
//!
//! Field names are the Kubernetes API JSON names; the types deserialize straight from the YAML
//! documents (`deny_unknown_fields` everywhere below `spec`, so a typo or an unimplemented feature
//! is reported instead of silently ignored).

mod admin;
mod cluster;
mod de;
mod objects;
mod schema;
mod set;

pub use admin::*;
pub use cluster::*;
pub(crate) use de::Document;
pub use de::{parse_mac, parse_protocol};
pub use objects::*;
pub use set::*;

/// The label every namespace carries implicitly.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";
