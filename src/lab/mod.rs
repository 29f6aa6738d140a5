//! The test bench, never imported by the product: a sandbox Open vSwitch, pods as network
//! namespaces, real-traffic probes and soak connections, the demo, Antrea's benchmark shapes, and the scenario runner with
//! its three engines (reference evaluator, in-process FakeSwitch, real OVS).

pub mod cluster_engine;
pub mod cni_node;
pub mod controller_lab;
pub mod demo;
pub mod engine;
pub mod kind_suite;
pub mod kube_objects;
pub mod lab_cmd;
pub mod node_pods;
pub mod nodes;
pub mod ovs_engine;
pub mod placement;
pub mod pods;
pub mod probe;
pub mod sandbox;
pub mod scenario;
pub mod shapes;
pub mod shapes_yaml;
pub mod sim_cluster;
pub mod soak;
pub mod unixctl;
