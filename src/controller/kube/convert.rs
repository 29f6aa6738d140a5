//! API objects to the policy model: core/v1 Pod, Namespace and Node (k8s-openapi types) and
//! every policy kind (as the API server's JSON) to [`crate::policy::model`].
//!
//! Policy objects go through the same parser and per-object checks as `kakinectl`'s files
//! ([`crate::policy::load::parse_document_all`]), so a policy means the same from a file and
//! from the API. Every error names the object and the field.

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use k8s_openapi::api::core::v1 as core;
use serde_json::{json, Value};

use crate::policy::load::{parse_document_all, Parsed};
use crate::policy::model::{parse_protocol, ContainerPort, Namespace, Node, Pod, PolicyObject};

/// The `file` of the [`Origin`](crate::policy::model::Origin) of objects read from the API.
pub const API_ORIGIN: &str = "kubernetes-api";

/// Why an API object could not be converted: the object (`Kind "ns/name"`), the field path and
/// what is wrong; several problems of one object at once where the parser finds them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {}", problems.join("; "))]
pub struct ConvertError {
    /// `Kind "namespace/name"` or `Kind "name"`.
    pub object: String,
    /// Each problem, `field: message`.
    pub problems: Vec<String>,
}

fn object_name(
    kind: &str,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> String {
    let name = meta.name.as_deref().unwrap_or("");
    match &meta.namespace {
        Some(ns) => format!("{kind} \"{ns}/{name}\""),
        None => format!("{kind} \"{name}\""),
    }
}

/// A Pod in the model: `status.podIPs` (else `status.podIP`) give `ip` (the first IPv4) and
/// `ipv6` (the first IPv6); labels, `spec.nodeName`, `spec.hostNetwork`,
/// `spec.serviceAccountName` and every container's ports.
///
/// `Ok(None)`: the pod is left out for now, because it has no IP yet (pending) or has finished
/// (`status.phase` Succeeded or Failed: its IP may already be another pod's).
///
/// Errors: no name or namespace; an IPv6-only pod (the model needs an IPv4 `ip`); a container
/// port out of 1..=65535 or with an unknown protocol.
pub fn pod(p: &core::Pod) -> Result<Option<Pod>, ConvertError> {
    let object = object_name("Pod", &p.metadata);
    let mut problems = Vec::new();
    let (Some(name), Some(namespace)) = (&p.metadata.name, &p.metadata.namespace) else {
        return Err(ConvertError {
            object,
            problems: vec!["metadata: name and namespace are required".to_string()],
        });
    };
    let status = p.status.as_ref();
    if matches!(
        status.and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    ) {
        return Ok(None);
    }
    let mut ips: Vec<(String, &str)> = Vec::new();
    if let Some(s) = status {
        for (i, ip) in s.pod_ips.iter().flatten().enumerate() {
            ips.push((format!("status.podIPs[{i}].ip"), ip.ip.as_str()));
        }
        if ips.is_empty() {
            if let Some(ip) = &s.pod_ip {
                ips.push(("status.podIP".to_string(), ip.as_str()));
            }
        }
    }
    if ips.is_empty() {
        return Ok(None);
    }
    let (mut v4, mut v6) = (None, None);
    for (field, text) in &ips {
        match text.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => {
                v4.get_or_insert(a);
            }
            Ok(IpAddr::V6(a)) => {
                v6.get_or_insert(a);
            }
            Err(_) => problems.push(format!("{field}: invalid IP address {text:?}")),
        }
    }
    let spec = p.spec.as_ref();
    let mut ports = Vec::new();
    for (i, c) in spec
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        for (j, cp) in c.ports.iter().flatten().enumerate() {
            let at = format!("spec.containers[{i}].ports[{j}]");
            let Ok(port) = u16::try_from(cp.container_port)
                .map_err(|_| ())
                .and_then(|p| if p == 0 { Err(()) } else { Ok(p) })
            else {
                problems.push(format!(
                    "{at}.containerPort: {} is not a port (1..=65535)",
                    cp.container_port
                ));
                continue;
            };
            let proto = cp.protocol.as_deref().unwrap_or("TCP");
            let Some(protocol) = parse_protocol(proto) else {
                problems.push(format!(
                    "{at}.protocol: unknown protocol {proto:?} (expected TCP, UDP or SCTP)"
                ));
                continue;
            };
            ports.push(ContainerPort {
                port,
                protocol,
                name: cp.name.clone(),
            });
        }
    }
    let Some(ip) = v4 else {
        if problems.is_empty() {
            problems.push(
                "status.podIPs: an IPv6-only pod is not supported (the model needs an IPv4 \
                 address)"
                    .to_string(),
            );
        }
        return Err(ConvertError { object, problems });
    };
    if !problems.is_empty() {
        return Err(ConvertError { object, problems });
    }
    Ok(Some(Pod {
        namespace: namespace.clone(),
        name: name.clone(),
        labels: p.metadata.labels.clone().unwrap_or_default(),
        ip,
        ipv6: v6,
        mac: None,
        node: spec.and_then(|s| s.node_name.clone()),
        host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
        ports,
        service_account: spec.and_then(|s| s.service_account_name.clone()),
    }))
}

/// A Namespace in the model: name, labels, annotations.
///
/// Errors: no name.
pub fn namespace(n: &core::Namespace) -> Result<Namespace, ConvertError> {
    let Some(name) = &n.metadata.name else {
        return Err(ConvertError {
            object: "Namespace".to_string(),
            problems: vec!["metadata.name: required".to_string()],
        });
    };
    Ok(Namespace {
        name: name.clone(),
        labels: n.metadata.labels.clone().unwrap_or_default(),
        annotations: n.metadata.annotations.clone().unwrap_or_default(),
    })
}

/// A Node in the model: the first IPv4 `InternalIP` of `status.addresses`, labels, and the IPv4
/// pod CIDRs of `spec.podCIDR` / `spec.podCIDRs` (IPv6 ones are left out: the datapath routes
/// IPv4 pod CIDRs). The gateway address is left to the agent's rule
/// ([`NodeInfo::gateway`](crate::policy::resolved::NodeInfo::gateway): the first address of
/// the first pod CIDR).
///
/// Errors: no name; a pod CIDR that does not parse.
pub fn node(n: &core::Node) -> Result<Node, ConvertError> {
    let object = object_name("Node", &n.metadata);
    let Some(name) = &n.metadata.name else {
        return Err(ConvertError {
            object,
            problems: vec!["metadata.name: required".to_string()],
        });
    };
    let ip = n
        .status
        .iter()
        .flat_map(|s| s.addresses.iter().flatten())
        .filter(|a| a.type_ == "InternalIP")
        .find_map(|a| a.address.parse::<std::net::Ipv4Addr>().ok());
    let mut problems = Vec::new();
    let mut cidrs = Vec::new();
    let spec = n.spec.as_ref();
    let given = spec
        .and_then(|s| s.pod_cidr.as_ref())
        .map(|c| ("spec.podCIDR".to_string(), c))
        .into_iter()
        .chain(
            spec.iter()
                .flat_map(|s| s.pod_cidrs.iter().flatten())
                .enumerate()
                .map(|(i, c)| (format!("spec.podCIDRs[{i}]"), c)),
        );
    for (field, text) in given {
        match text.parse::<IpNet>() {
            Ok(IpNet::V4(net)) => {
                if !cidrs.contains(&net) {
                    cidrs.push(net);
                }
            }
            Ok(IpNet::V6(_)) => {}
            Err(_) => problems.push(format!("{field}: invalid CIDR {text:?}")),
        }
    }
    if !problems.is_empty() {
        return Err(ConvertError { object, problems });
    }
    let mut cidrs = cidrs.into_iter();
    Ok(Node {
        name: name.clone(),
        ip,
        labels: n.metadata.labels.clone().unwrap_or_default(),
        pod_cidr: cidrs.next(),
        pod_cidrs: cidrs.collect(),
        gateway_ip: None,
    })
}

/// A policy object (any kind kakine reads: the `crd.kakine.io` and `crd.antrea.io` kinds,
/// networking.k8s.io/v1 NetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy, v1alpha2
/// ClusterNetworkPolicy) in the model, from the API server's JSON of it (`apiVersion`, `kind`,
/// `metadata`, `spec`; `status` and the server's metadata fields are ignored).
///
/// Errors: every problem [`parse_document_all`] finds, each `field: message`.
pub fn policy(object: &Value) -> Result<PolicyObject, ConvertError> {
    let meta = &object["metadata"];
    let kind = object["kind"].as_str().unwrap_or("");
    let name = meta["name"].as_str().unwrap_or("");
    let label = match meta["namespace"].as_str() {
        Some(ns) => format!("{kind} \"{ns}/{name}\""),
        None => format!("{kind} \"{name}\""),
    };
    let mut doc = json!({
        "apiVersion": object["apiVersion"],
        "kind": object["kind"],
        "metadata": {"name": meta["name"]},
    });
    if let Some(ns) = meta.get("namespace") {
        doc["metadata"]["namespace"] = ns.clone();
    }
    if let Some(spec) = object.get("spec") {
        doc["spec"] = spec.clone();
    }
    let (parsed, problems) = parse_document_all(&doc, Path::new(API_ORIGIN));
    if !problems.is_empty() {
        let problems = problems.iter().map(|e| problem_text(e, &label)).collect();
        return Err(ConvertError {
            object: label,
            problems,
        });
    }
    match parsed {
        Some(Parsed::Object(o)) => Ok(*o),
        _ => Err(ConvertError {
            object: label,
            problems: vec!["not a policy object".to_string()],
        }),
    }
}

/// A parser error without the file and object (the [`ConvertError`] names the object).
fn problem_text(e: &crate::policy::error::PolicyError, object: &str) -> String {
    let text = e.to_string();
    let rest = text
        .strip_prefix(API_ORIGIN)
        .and_then(|t| t.strip_prefix(": "))
        .unwrap_or(&text);
    let rest = rest
        .strip_prefix(object)
        .and_then(|t| t.strip_prefix(": "))
        .unwrap_or(rest);
    rest.to_string()
}
