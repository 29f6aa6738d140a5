//! The analyst's questions, answered offline from resolved policies (pure): the walkthrough of
//! one connection through every tier of both directions ([`walk`]), the reachability matrix of
//! every pod pair ([`matrix`]), and what changes between two policy sets ([`diff`]).
//!
//! Everything here asks the reference evaluator ([`crate::policy::evaluate`]); nothing
//! re-implements precedence.

pub mod diff;
pub mod matrix;
pub mod walk;

pub use matrix::{matrix, Matrix, ServiceSpec};
pub use walk::{walk, Endpoint, PortSpec, Query, Walkthrough};
