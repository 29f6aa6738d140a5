//! The controlplane, pure: what the controller sends each agent and how both ends keep it.
//!
//! - [`message`]: the messages: a node's span as objects keyed by id, [`Snapshot`],
//!   [`Delta`] of [`Change`]s, the stream's [`Frame`]s (docs/controlplane.md lists them);
//! - [`objects`]: [`NodeObjects`], a span as both ends hold it, its four-case diff and its
//!   application;
//! - [`compute`]: a node's span from the [`crate::grouping::Grouping`];
//! - [`fanout`]: [`FanOut`], per node the delta of a batch, versions and bounded histories
//!   (resume or snapshot);
//! - [`touched`]: [`Touched`], what a batch can change, narrowing the nodes the fan-out
//!   recomputes;
//! - [`holders`]: [`Holders`], which node holds which object (the reverse of what was sent);
//! - [`node_span`]: [`NodeSpan`], the agent's end: snapshot + deltas → the
//!   [`crate::policy::ResolvedPolicies`] it enforces.

pub mod compute;
pub mod fanout;
pub mod holders;
pub mod message;
pub mod node_span;
pub mod objects;
pub mod touched;

pub use fanout::{FanOut, Resume, DEFAULT_HISTORY};
pub use holders::Holders;
pub use message::{Change, Delta, Frame, Snapshot};
pub use node_span::{NodeSpan, SpanError};
pub use objects::NodeObjects;
pub use touched::Touched;
