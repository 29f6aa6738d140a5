//! kakine: container-aware microsegmentation for Kubernetes on Open vSwitch.
//!
//! The crate holds the policy model and reference evaluator ([`policy`]), the reachability
//! scenario runner ([`scenario`]), the priority and id allocators ([`alloc`]), the OVS pipeline declaration ([`pipeline`]), the flow compiler
//! ([`compiler`]), the node agent ([`agent`]) and the sandbox used by the demo and the tests
//! ([`sandbox`]).

pub mod agent;
pub mod alloc;
pub mod annotate;
pub mod compiler;
pub mod demo;
pub mod engine;
pub mod lab;
pub mod observe;
pub mod ovs_engine;
pub mod pipeline;
pub mod policy;
pub mod probe;
pub mod reconcile;
pub mod sandbox;
pub mod scenario;
pub mod soak;
pub mod state;
pub mod stats;
pub mod unixctl;
pub mod watch;
