//! The datapath, pure: resolved rules to flows to bundles.
//!
//! - [`pipeline`]: the OVS tables, registers and cookies, declared once as data;
//! - [`network`]: a node's gateway, tunnel and the remote nodes it routes to (multi-node);
//! - [`compiler`]: resolved policies and local pods in, the node's desired flow_mods out;
//! - [`alloc`]: the priority and `conj_id` allocators threaded from one compile to the next;
//! - [`reconcile`]: desired against installed flows, as one bundle;
//! - [`stats`]: flows per rule against the conjunctive-match floor.

pub mod alloc;
pub mod compiler;
pub mod network;
pub mod pipeline;
pub mod reconcile;
pub mod stats;
