//! kakine: container-aware microsegmentation for Kubernetes on Open vSwitch.
//!
//! The crate is laid out by role, in the order a policy change travels (docs/architecture.md
//! draws the map):
//!
//! - [`policy`]: the input models (Antrea, Kubernetes, network-policy-api), loading, validation,
//!   lint, selector resolution and the reference evaluator (pure);
//! - [`grouping`]: label sets, selectors and groups in one incremental index, spans, and a
//!   node's view: what the resolved rules are derived from (pure);
//! - [`datapath`]: the OVS pipeline declared as data, the compiler from resolved rules to
//!   flow_mods, the priority and id allocators, the reconciler's diff into one bundle, and the
//!   flow statistics (pure);
//! - [`agent`]: the node agent: its input sources, the live loop, the state directory, pod
//!   interfaces, observability (metrics, audit log, Reject) and flow annotation;
//! - [`analysis`]: the analyst's questions answered offline: a connection's walkthrough, the
//!   reachability matrix, the difference two policy sets make (pure);
//! - [`controlplane`]: the controller-to-agent messages (a node's span as a snapshot and
//!   ordered deltas) and the pure fan-out from the grouping to each node (pure);
//! - [`controller`]: the controller: events in, spans served to agents over HTTP/2 + TLS,
//!   their realization reports counted per policy;
//! - [`cni`]: the `kakine-cni` plugin: the CNI environment and configuration, IPAM delegated
//!   to host-local, the pod's veth, and the request that makes the agent attach the pod;
//! - [`lab`]: the test bench: sandbox OVS, network-namespace pods, probes, the demo, and the
//!   scenario runner with its engines. Nothing outside `lab` imports it.

pub mod agent;
pub mod analysis;
pub mod cni;
pub mod controller;
pub mod controlplane;
pub mod datapath;
pub mod grouping;
pub mod lab;
pub mod policy;
