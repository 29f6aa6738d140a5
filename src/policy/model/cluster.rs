//! The cluster model: nodes, namespaces, pods and their served ports.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv4Net;
use serde::Deserialize;

use super::de::*;
use super::*;
use crate::policy::resolved::Protocol;
use crate::policy::selector::Labels;

// ---------------------------------------------------------------------------------------------
// Cluster model

/// The world the policies apply to: the `cluster` block of a scenario, or a standalone
/// `kakine.io/v1alpha1 Cluster` document.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Nodes (only where node peers or host-network pods matter).
    #[serde(default)]
    pub nodes: Vec<Node>,
    /// Namespaces.
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
    /// Pods.
    #[serde(default)]
    pub pods: Vec<Pod>,
}

/// A node of the cluster model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Node name.
    pub name: String,
    /// Node IP.
    #[serde(default)]
    pub ip: Option<Ipv4Addr>,
    /// Node labels.
    #[serde(default)]
    pub labels: Labels,
    /// The node's pod CIDR, as Kubernetes assigns it (`spec.podCIDR`); written `pod_cidr` or
    /// `podCIDR`. Only a multi-node datapath needs it: remote pods are routed by it.
    #[serde(default, alias = "podCIDR", deserialize_with = "de_opt_cidr")]
    pub pod_cidr: Option<Ipv4Net>,
    /// More pod CIDRs of the node (`spec.podCIDRs`, or address blocks of an IPAM that hands a
    /// node several, as Calico's does); written `pod_cidrs` or `podCIDRs`.
    #[serde(default, alias = "podCIDRs", deserialize_with = "de_cidrs_v4")]
    pub pod_cidrs: Vec<Ipv4Net>,
    /// The address of the node's gateway port (`kakine-gw0`); the first address of its first
    /// pod CIDR when not given. Written `gateway_ip` or `gatewayIP`.
    #[serde(default, alias = "gatewayIP")]
    pub gateway_ip: Option<Ipv4Addr>,
}

impl Node {
    /// Every pod CIDR of the node: `pod_cidr`, then `pod_cidrs`, without repeats.
    pub fn all_pod_cidrs(&self) -> Vec<Ipv4Net> {
        let mut out: Vec<Ipv4Net> = Vec::new();
        for c in self.pod_cidr.iter().chain(&self.pod_cidrs) {
            if !out.contains(c) {
                out.push(*c);
            }
        }
        out
    }
}

/// A namespace and its labels.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Namespace {
    /// Name.
    pub name: String,
    /// Labels as written (see [`Namespace::effective_labels`]).
    #[serde(default)]
    pub labels: Labels,
    /// Annotations; [`NP_LOGGING_ANNOTATIONS`] set to `"true"` turns on the audit log of the
    /// namespace's K8s NetworkPolicies ([`Namespace::np_logging`]).
    #[serde(default)]
    pub annotations: Labels,
}

/// Namespace annotations that turn on the audit log of K8s NetworkPolicies in the namespace
/// when set to `"true"`: kakine's own, and Antrea's two spellings (its docs'
/// `networkpolicy.antrea.io/enable-logging` and `policy.antrea.io/enable-np-logging`).
pub const NP_LOGGING_ANNOTATIONS: &[&str] = &[
    "kakine.io/enable-np-logging",
    "networkpolicy.antrea.io/enable-logging",
    "policy.antrea.io/enable-np-logging",
];

impl Namespace {
    /// Whether an [`NP_LOGGING_ANNOTATIONS`] annotation is `"true"`.
    pub fn np_logging(&self) -> bool {
        NP_LOGGING_ANNOTATIONS
            .iter()
            .any(|a| self.annotations.get(*a).is_some_and(|v| v == "true"))
    }

    /// The labels selectors see: the written ones plus `kubernetes.io/metadata.name`.
    pub fn effective_labels(&self) -> Labels {
        let mut labels = self.labels.clone();
        labels.insert(NAMESPACE_NAME_LABEL.to_string(), self.name.clone());
        labels
    }
}

/// A pod of the cluster model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
    /// IPv4 address.
    pub ip: Ipv4Addr,
    /// IPv6 address, for a dual-stack pod (Kubernetes `status.podIPs`' second entry). A pod
    /// always has its IPv4 `ip`, so that IPv4-only models read as before; see
    /// `docs/pipeline.md` (IPv6 and dual stack) for why the shape is `ip` plus `ipv6`.
    #[serde(default)]
    pub ipv6: Option<Ipv6Addr>,
    /// MAC address of its interface (`aa:bb:cc:dd:ee:ff`), when known.
    #[serde(default, deserialize_with = "de_mac")]
    pub mac: Option<[u8; 6]>,
    /// Node the pod runs on.
    #[serde(default)]
    pub node: Option<String>,
    /// Whether the pod uses the host network (its IP is then the node's).
    #[serde(default)]
    pub host_network: bool,
    /// What the pod serves; `name` where the pod spec declares a named container port.
    #[serde(default)]
    pub ports: Vec<ContainerPort>,
    /// The pod's `spec.serviceAccountName` (`default` when absent, as Kubernetes defaults it).
    /// Written `service_account` or `serviceAccountName`.
    #[serde(default, alias = "serviceAccountName")]
    pub service_account: Option<String>,
}

impl Pod {
    /// The service account the pod runs as (`default` when the model gives none).
    pub fn service_account_name(&self) -> &str {
        self.service_account.as_deref().unwrap_or("default")
    }
}

/// A port a pod serves.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerPort {
    /// Port number.
    pub port: u16,
    /// Protocol (default TCP).
    #[serde(default = "tcp", deserialize_with = "de_protocol")]
    pub protocol: Protocol,
    /// Container port name, if declared.
    #[serde(default)]
    pub name: Option<String>,
}
