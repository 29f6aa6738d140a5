//! Policy model: parsing, validation, resolution against a cluster, and the reference evaluator.
//!
//! The flow is `load` (YAML -> [`Input`]), [`resolve`] (selectors -> pods, precedence order ->
//! [`ResolvedPolicies`]), then [`evaluate`] (a probe -> [`Decision`]) or the flow compiler.

pub mod builder;
pub mod error;
pub mod evaluate;
pub mod gather;
pub mod limits;
pub mod lint;
pub mod load;
pub mod mac;
pub mod model;
pub mod model_v1alpha2;
pub mod resolve;
pub mod resolved;
pub mod sanity;
pub mod selector;
pub mod topology;
pub mod validate;
pub mod validate_admin;
pub mod validate_input;
pub mod validate_names;
pub mod validate_raw;
pub mod validate_v1alpha2;
pub mod yaml_context;

pub use error::{LoadError, Location, PolicyError, ResolveError};
pub use evaluate::{evaluate, Decision, Destination, Probe, Verdict};
pub use load::{load_dir, load_files, Input};
pub use model::{Cluster, PolicySet};
pub use resolve::resolve;
pub use resolved::ResolvedPolicies;
