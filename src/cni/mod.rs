//! `kakine-cni`: the CNI plugin (CNI spec 1.0.0) that puts a pod on the node's bridge.
//!
//! A runtime (containerd, CRI-O, through the kubelet) runs the binary with the `CNI_*`
//! environment and the network configuration on stdin; the plugin delegates the address to an
//! IPAM plugin (host-local), makes the veth, and asks the local agent over a unix socket to
//! attach the pod; ADD returns only once the pod's flows and policy are committed, so a pod
//! never starts unprotected. docs/cni.md describes the configuration, the socket protocol and
//! the error codes.
//!
//! - [`spec`]: the spec's versions, error object and codes, result (pure);
//! - [`config`]: the environment and the network configuration, checked (pure);
//! - [`protocol`]: the messages to the agent and the blocking client;
//! - [`ipam`]: the delegated IPAM plugin, run as a runtime runs it;
//! - [`link`]: the veth, with `ip`, `nsenter` and `ethtool`;
//! - [`plugin`]: ADD, DEL, CHECK, VERSION.

pub mod config;
pub mod ipam;
pub mod link;
pub mod plugin;
pub mod protocol;
pub mod spec;

pub use plugin::run;
pub use spec::{CniError, ErrorCode};
