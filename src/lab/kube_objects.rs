//! A cluster model as Kubernetes API objects: Namespaces, ServiceAccounts, Pods and Nodes as the
//! API server serves them (with `status`), or as manifests to create in a cluster (no status,
//! pods pinned to real nodes); and back as a `Cluster` document for a standalone directory.
//!
//! Pods are shaped as the upstream NetworkPolicy e2e makes them
//! (`kubernetes/test/e2e/network/netpol/model.go`, `Container.Spec`): one agnhost container per
//! served port and protocol, named `cont-<port>-<proto>`, running `serve-hostname` (TCP, UDP)
//! or `porter` (SCTP, through `SERVE_SCTP_PORT_<port>`), its container port carrying the
//! model's port name when the model declares one. A pod that serves nothing runs `pause`.
//!
//! The inverse of [`crate::controller::kube::convert`]: an object rendered here converts back
//! to the same model value (tested in `tests/plugin_live.rs`).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::policy::model::{ContainerPort, Namespace, Node, Pod};
use crate::policy::resolved::Protocol;
use crate::policy::Cluster;

/// The agnhost image the upstream e2e uses (`registry.k8s.io/e2e-test-images/agnhost`).
pub const AGNHOST_IMAGE: &str = "registry.k8s.io/e2e-test-images/agnhost:2.53";

/// How pods are shaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodShape {
    /// As the API server serves a running pod: `spec.nodeName` the model's node, `status`
    /// with `phase: Running`, `podIP` and `podIPs`.
    Served,
    /// A manifest to create: no status; `spec.nodeName` the model's node mapped through
    /// `nodes` (a model node not in the map leaves the pod to the scheduler).
    Manifest {
        /// The container image (agnhost).
        image: String,
        /// Model node name to the cluster's node name.
        nodes: BTreeMap<String, String>,
    },
}

fn lower(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
        Protocol::Icmp => "icmp",
    }
}

fn upper(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
        Protocol::Icmp => "ICMP",
    }
}

/// A Namespace: its labels with `kubernetes.io/metadata.name` (which the API server sets),
/// its annotations.
pub fn namespace(ns: &Namespace) -> Value {
    let mut meta = json!({"name": ns.name, "labels": ns.effective_labels()});
    if !ns.annotations.is_empty() {
        meta["annotations"] = json!(ns.annotations);
    }
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
}

/// The ServiceAccounts the pods run as, other than `default` (which every namespace has).
pub fn service_accounts(cluster: &Cluster) -> Vec<Value> {
    let mut names: Vec<(&str, &str)> = cluster
        .pods
        .iter()
        .filter_map(|p| {
            p.service_account
                .as_deref()
                .filter(|s| *s != "default")
                .map(|s| (p.namespace.as_str(), s))
        })
        .collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|(ns, name)| {
            json!({"apiVersion": "v1", "kind": "ServiceAccount",
                   "metadata": {"name": name, "namespace": ns}})
        })
        .collect()
}

/// The container serving one port, as the upstream e2e's `Container.Spec`.
fn container(port: &ContainerPort, image: &str) -> Value {
    let proto = lower(port.protocol);
    let n = port.port;
    let mut cp = json!({"containerPort": n, "protocol": upper(port.protocol)});
    if let Some(name) = &port.name {
        cp["name"] = json!(name);
    }
    let (command, env) = match port.protocol {
        Protocol::Sctp => (
            json!(["/agnhost", "porter"]),
            json!([{"name": format!("SERVE_SCTP_PORT_{n}"), "value": "foo"}]),
        ),
        _ => (
            json!([
                "/agnhost",
                "serve-hostname",
                format!("--{proto}"),
                "--http=false",
                "--port",
                n.to_string()
            ]),
            json!([]),
        ),
    };
    let mut c = json!({
        "name": format!("cont-{n}-{proto}"),
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "ports": [cp],
    });
    if env.as_array().is_some_and(|e| !e.is_empty()) {
        c["env"] = env;
    }
    c
}

/// A Pod of the model in `shape`.
pub fn pod(p: &Pod, shape: &PodShape) -> Value {
    let image = match shape {
        PodShape::Served => AGNHOST_IMAGE,
        PodShape::Manifest { image, .. } => image.as_str(),
    };
    let mut containers: Vec<Value> = p
        .ports
        .iter()
        .filter(|cp| cp.protocol != Protocol::Icmp)
        .map(|cp| container(cp, image))
        .collect();
    if containers.is_empty() {
        containers.push(json!({"name": "pause", "image": image,
                               "imagePullPolicy": "IfNotPresent", "args": ["pause"]}));
    }
    let mut spec = json!({"containers": containers});
    let node = match shape {
        PodShape::Served => p.node.clone(),
        PodShape::Manifest { nodes, .. } => p.node.as_ref().and_then(|n| nodes.get(n).cloned()),
    };
    if let Some(n) = node {
        spec["nodeName"] = json!(n);
    }
    if p.host_network {
        spec["hostNetwork"] = json!(true);
    }
    if let Some(sa) = &p.service_account {
        spec["serviceAccountName"] = json!(sa);
    }
    let mut meta = json!({"name": p.name, "namespace": p.namespace});
    if !p.labels.is_empty() {
        meta["labels"] = json!(p.labels);
    }
    let mut o = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec});
    if *shape == PodShape::Served {
        let mut ips = vec![json!({"ip": p.ip.to_string()})];
        if let Some(v6) = p.ipv6 {
            ips.push(json!({"ip": v6.to_string()}));
        }
        o["status"] = json!({"phase": "Running", "podIP": p.ip.to_string(), "podIPs": ips});
    }
    o
}

/// A Node as the API server serves it: labels, `spec.podCIDR(s)`, its `InternalIP`.
pub fn node(n: &Node) -> Value {
    let mut o = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n.name}});
    if !n.labels.is_empty() {
        o["metadata"]["labels"] = json!(n.labels);
    }
    let cidrs: Vec<String> = n.all_pod_cidrs().iter().map(ToString::to_string).collect();
    if let Some(first) = cidrs.first() {
        o["spec"] = json!({"podCIDR": first, "podCIDRs": cidrs});
    }
    if let Some(ip) = n.ip {
        o["status"] = json!({"addresses": [{"type": "InternalIP", "address": ip.to_string()}]});
    }
    o
}

/// The model as a `Cluster` document of a standalone directory (docs/standalone.md), the
/// fields an API object can carry (no MACs, no gateway addresses).
pub fn cluster_document(c: &Cluster) -> Value {
    let port = |cp: &ContainerPort| {
        let mut v = json!({"port": cp.port, "protocol": upper(cp.protocol)});
        if let Some(name) = &cp.name {
            v["name"] = json!(name);
        }
        v
    };
    let pods: Vec<Value> = c
        .pods
        .iter()
        .map(|p| {
            let mut v = json!({"namespace": p.namespace, "name": p.name, "labels": p.labels,
                               "ip": p.ip.to_string(),
                               "ports": p.ports.iter().map(port).collect::<Vec<_>>()});
            if let Some(v6) = p.ipv6 {
                v["ipv6"] = json!(v6.to_string());
            }
            if let Some(n) = &p.node {
                v["node"] = json!(n);
            }
            if p.host_network {
                v["host_network"] = json!(true);
            }
            if let Some(sa) = &p.service_account {
                v["service_account"] = json!(sa);
            }
            v
        })
        .collect();
    let namespaces: Vec<Value> = c
        .namespaces
        .iter()
        .map(|n| json!({"name": n.name, "labels": n.labels, "annotations": n.annotations}))
        .collect();
    let nodes: Vec<Value> = c
        .nodes
        .iter()
        .map(|n| {
            let mut v = json!({"name": n.name, "labels": n.labels});
            if let Some(ip) = n.ip {
                v["ip"] = json!(ip.to_string());
            }
            let cidrs: Vec<String> = n.all_pod_cidrs().iter().map(ToString::to_string).collect();
            if !cidrs.is_empty() {
                v["pod_cidrs"] = json!(cidrs);
            }
            v
        })
        .collect();
    json!({"apiVersion": "kakine.io/v1alpha1", "kind": "Cluster",
           "nodes": nodes, "namespaces": namespaces, "pods": pods})
}
