//! The controller: the grouping index fed by batches of events, the per-node spans fanned out
//! to agents over the controlplane, and the agents' realization collected per policy.
//!
//! - [`auth`]: the [`Authenticator`](auth::Authenticator) trait, the token file, the one
//!   authorization rule;
//! - [`realization`]: agents' reports and the per-policy [`RealizationCounts`].

pub mod auth;
pub mod realization;

pub use realization::{Realization, RealizationCounts, RealizationReport};
