//! The controller: the grouping index fed by batches of events, the per-node spans fanned out
//! to agents over the controlplane, and the agents' realization collected per policy.
//!
//! - [`auth`]: the [`Authenticator`](auth::Authenticator) trait, the token file, the one
//!   authorization rule;
//! - [`realization`]: agents' reports and the per-policy [`RealizationCounts`];
//! - [`core`]: [`Controller`]: batches in, deltas to subscribers (bounded, slow ones cut off);
//! - [`standalone`]: the `--standalone DIR` source of batches;
//! - [`tls`]: certificate directories, client configuration, `certs` generation;
//! - [`server`]: HTTP/2 over TLS, the span stream and the realization reports;
//! - [`client`]: the agent's end of the transport.
//! - [`metrics`]: `/metrics`, `/healthz`, `/readyz`;
//! - [`kube`]: everything that talks to the Kubernetes API (CRDs, watchers, status, Lease,
//!   TokenReview).

pub mod auth;
pub mod client;
pub mod core;
pub mod kube;
pub mod metrics;
pub mod realization;
pub mod server;
pub mod standalone;
pub mod tls;

pub use core::Controller;
pub use realization::{Realization, RealizationCounts, RealizationReport};
