//! The analyst's questions, answered offline from resolved policies (pure): the walkthrough of
//! one connection through every tier of both directions ([`walk`]), the reachability matrix of
//! every pod pair ([`matrix`]), what changes between two policy sets ([`diff`]), and observed
//! traffic as a dependency map ([`observed`], [`render`]) with the least-privilege policies
//! that keep it ([`recommend`]).
//!
//! Every verdict here comes from the reference evaluator ([`crate::policy::evaluate`]);
//! nothing re-implements precedence.

pub mod diff;
pub mod forwarding;
pub mod live;
pub mod live_text;
pub mod matrix;
pub mod observed;
pub mod recommend;
pub mod render;
pub mod walk;

pub use matrix::{matrix, Matrix, ServiceSpec};
pub use walk::{walk, Endpoint, PortSpec, Query, Walkthrough};
