//! A scenario's cluster spread over the nodes of a node lab ([`place`], pure), and the cluster
//! model as the YAML document the lab's agents read ([`cluster_document`]).
//!
//! The case's own `node:` fields win, other pods go round-robin; each node gets an underlay IP
//! (the case's where it gives one), a gateway address outside every pod address, and one /32 pod
//! CIDR per pod (a scenario's addresses do not come in per-node blocks; an IPAM that hands a
//! node several blocks, as Calico's, routes the same way).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::policy::model::Node;
use crate::policy::resolved::Protocol;
use crate::policy::Cluster;

/// A scenario's cluster spread over nodes (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// The cluster with every node (IP, pod CIDRs, gateway) and every pod's node.
    pub cluster: Cluster,
    /// Prefix length of the underlay subnet holding the node IPs.
    pub underlay_len: u8,
    /// The outside host's underlay address.
    pub outside_ip: Ipv4Addr,
}

/// Spreads `cluster` over at least `n` nodes (more if the case names more).
pub fn place(cluster: &Cluster, n: usize) -> Placement {
    let mut out = cluster.clone();
    let mut nodes: Vec<Node> = cluster.nodes.clone();
    for p in &cluster.pods {
        if let Some(name) = &p.node {
            if !nodes.iter().any(|x| &x.name == name) {
                nodes.push(blank_node(name));
            }
        }
    }
    let mut k = 1;
    while nodes.len() < n.max(1) {
        let name = format!("node-{k}");
        if !nodes.iter().any(|x| x.name == name) {
            nodes.push(blank_node(&name));
        }
        k += 1;
    }
    // Underlay: the /24 of the case's first node IP, else 192.168.77.0/24.
    let base = nodes
        .iter()
        .find_map(|x| x.ip)
        .map(|ip| u32::from(ip) & 0xffff_ff00)
        .unwrap_or(u32::from(Ipv4Addr::new(192, 168, 77, 0)));
    let mut used: Vec<Ipv4Addr> = nodes.iter().filter_map(|x| x.ip).collect();
    let mut next = 10u32;
    for x in nodes.iter_mut() {
        if x.ip.is_none() {
            while used.contains(&Ipv4Addr::from(base + next)) {
                next += 1;
            }
            x.ip = Some(Ipv4Addr::from(base + next));
            used.push(Ipv4Addr::from(base + next));
        }
    }
    let mut outside = 254u32;
    while used.contains(&Ipv4Addr::from(base + outside)) {
        outside -= 1;
    }
    let mut rr = 0usize;
    for p in out.pods.iter_mut() {
        if p.node.is_none() {
            p.node = Some(nodes[rr % nodes.len()].name.clone());
            rr += 1;
        }
    }
    for (i, x) in nodes.iter_mut().enumerate() {
        x.gateway_ip = Some(Ipv4Addr::new(169, 254, 100, i as u8 + 1));
        x.pod_cidr = None;
        x.pod_cidrs = out
            .pods
            .iter()
            .filter(|p| !p.host_network && p.node.as_deref() == Some(&x.name))
            .map(|p| Ipv4Net::from(p.ip))
            .collect();
    }
    let underlay_len = crate::lab::pods::common_prefix_len(&used).min(24);
    out.nodes = nodes;
    Placement {
        cluster: out,
        underlay_len,
        outside_ip: Ipv4Addr::from(base + outside),
    }
}

fn blank_node(name: &str) -> Node {
    Node {
        name: name.to_string(),
        ip: None,
        labels: Default::default(),
        pod_cidr: None,
        pod_cidrs: Vec::new(),
        gateway_ip: None,
    }
}

/// The cluster model as the YAML document the agents read (JSON is YAML).
pub fn cluster_document(c: &Cluster) -> serde_json::Value {
    use serde_json::json;
    json!({
        "apiVersion": "kakine.io/v1alpha1",
        "kind": "Cluster",
        "nodes": c.nodes.iter().map(|n| {
            let mut v = json!({"name": n.name, "labels": n.labels});
            if let Some(ip) = n.ip { v["ip"] = json!(ip.to_string()); }
            let cidrs = n.all_pod_cidrs();
            if !cidrs.is_empty() {
                v["podCIDRs"] = json!(cidrs.iter().map(|c| c.to_string()).collect::<Vec<_>>());
            }
            if let Some(g) = n.gateway_ip { v["gatewayIP"] = json!(g.to_string()); }
            v
        }).collect::<Vec<_>>(),
        "namespaces": c.namespaces.iter().map(|n| json!({
            "name": n.name, "labels": n.labels, "annotations": n.annotations,
        })).collect::<Vec<_>>(),
        "pods": c.pods.iter().map(|p| {
            let mut v = json!({
                "namespace": p.namespace, "name": p.name, "labels": p.labels,
                "ip": p.ip.to_string(), "host_network": p.host_network,
                "ports": p.ports.iter().map(|x| {
                    let mut pv = json!({"port": x.port, "protocol": protocol_name(x.protocol)});
                    if let Some(n) = &x.name { pv["name"] = json!(n); }
                    pv
                }).collect::<Vec<_>>(),
            });
            if let Some(n) = &p.node { v["node"] = json!(n); }
            if let Some(m) = p.mac { v["mac"] = json!(crate::policy::mac::mac_string(m)); }
            if let Some(sa) = &p.service_account { v["serviceAccountName"] = json!(sa); }
            v
        }).collect::<Vec<_>>(),
    })
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
        Protocol::Icmp => "ICMP",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(yaml: &str) -> Cluster {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn placement_keeps_the_cases_nodes_and_spreads_the_other_pods() {
        let c = cluster(
            "nodes: [{name: node-1, ip: 172.18.0.2}]\n\
             pods:\n\
             - {namespace: x, name: a, ip: 10.0.0.1, node: node-1}\n\
             - {namespace: x, name: b, ip: 10.0.0.2}\n\
             - {namespace: x, name: c, ip: 10.0.0.3}\n\
             - {namespace: x, name: h, ip: 172.18.0.2, node: node-1, host_network: true}\n",
        );
        let p = place(&c, 3);
        let names: Vec<&str> = p.cluster.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["node-1", "node-2", "node-3"]);
        let ips: Vec<String> = p
            .cluster
            .nodes
            .iter()
            .map(|n| n.ip.unwrap().to_string())
            .collect();
        assert_eq!(ips, ["172.18.0.2", "172.18.0.10", "172.18.0.11"]);
        let nodes: Vec<&str> = p
            .cluster
            .pods
            .iter()
            .map(|p| p.node.as_deref().unwrap())
            .collect();
        assert_eq!(nodes, ["node-1", "node-1", "node-2", "node-1"]);
        assert_eq!(
            p.cluster.nodes[0].pod_cidrs,
            [
                "10.0.0.1/32".parse().unwrap(),
                "10.0.0.2/32".parse().unwrap()
            ] as [Ipv4Net; 2]
        );
        assert_eq!(p.cluster.nodes[2].pod_cidrs, Vec::<Ipv4Net>::new());
        assert_eq!(p.outside_ip, Ipv4Addr::new(172, 18, 0, 254));
        assert_eq!(p.underlay_len, 24);
    }

    #[test]
    fn the_cluster_document_reads_back_as_the_same_cluster() {
        let c = cluster(
            "nodes: [{name: n, ip: 192.168.77.1}]\n\
             namespaces: [{name: x, labels: {a: b}}]\n\
             pods: [{namespace: x, name: a, ip: 10.0.0.1, node: n, ports: [{port: 80, protocol: TCP, name: web}]}]\n",
        );
        let p = place(&c, 2);
        let text = cluster_document(&p.cluster).to_string();
        let docs =
            crate::policy::load::parse_documents(std::path::Path::new("c.yaml"), &text).unwrap();
        let back: Cluster =
            match crate::policy::load::parse_document(&docs[0], std::path::Path::new("c.yaml"))
                .unwrap()
            {
                crate::policy::load::Parsed::Cluster(c) => c,
                _ => panic!("not a cluster"),
            };
        assert_eq!(back.pods, p.cluster.pods);
        assert_eq!(
            back.nodes[0].all_pod_cidrs(),
            p.cluster.nodes[0].all_pod_cidrs()
        );
        assert_eq!(back.nodes[0].gateway_ip, p.cluster.nodes[0].gateway_ip);
    }
}
