//! `kakinectl recommend`: the least-privilege policies that keep exactly the observed
//! connections: per server workload, one ClusterNetworkPolicy in a chosen tier allowing each
//! observed client on each observed service, then dropping the rest of its ingress. Proven
//! with [`crate::analysis::diff`] against the running set before anyone applies them.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::analysis::observed::{Graph, Workload};
use crate::policy::resolved::Protocol;
use crate::policy::selector::Labels;
use crate::policy::Cluster;

/// The pod selector of a workload: `app: X` when its pods carry an `app` label, else the
/// labels of its one pod.
fn selector(cluster: &Cluster, ns: &str, app: &str) -> Labels {
    let pods: Vec<&crate::policy::model::Pod> = cluster
        .pods
        .iter()
        .filter(|p| p.namespace == ns)
        .filter(|p| p.labels.get("app").map_or(p.name == app, |a| a == app))
        .collect();
    if pods.iter().any(|p| p.labels.contains_key("app")) {
        return Labels::from([("app".to_string(), app.to_string())]);
    }
    pods.first().map(|p| p.labels.clone()).unwrap_or_default()
}

fn namespace(ns: &str) -> Value {
    json!({"matchLabels": {"kubernetes.io/metadata.name": ns}})
}

/// A Kubernetes object name from free text: lowercase alphanumerics and `-`.
fn object_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    out.truncate(60);
    out.trim_matches('-').to_string()
}

/// The recommended ClusterNetworkPolicies (as documents, `crd.kakine.io/v1beta1`), one per
/// server workload of `g`, in `tier` at `priority`. Servers outside the cluster get none.
pub fn recommend(cluster: &Cluster, g: &Graph, tier: &str, priority: f64) -> Vec<Value> {
    let mut by_server: BTreeMap<(&str, &str), BTreeMap<&Workload, Vec<Value>>> = BTreeMap::new();
    for e in &g.edges {
        let Workload::App(ns, app) = &e.to else {
            continue;
        };
        let port = match e.protocol {
            Protocol::Icmp => json!({"icmp": {}}),
            p => json!({"protocol": crate::analysis::walk::protocol_name(p), "port": e.port}),
        };
        by_server
            .entry((ns.as_str(), app.as_str()))
            .or_default()
            .entry(&e.from)
            .or_default()
            .push(port);
    }
    let mut out = Vec::new();
    for ((ns, app), clients) in by_server {
        let mut rules = Vec::new();
        for (client, services) in clients {
            let (ports, protocols): (Vec<Value>, Vec<Value>) =
                services.into_iter().partition(|s| s.get("icmp").is_none());
            let from = match client {
                Workload::App(cns, capp) => json!([{
                    "namespaceSelector": namespace(cns),
                    "podSelector": {"matchLabels": selector(cluster, cns, capp)},
                }]),
                Workload::External(ip) => json!([{"ipBlock": {"cidr": format!("{ip}/32")}}]),
            };
            let mut rule = json!({
                "name": object_name(&format!("allow-{client}")),
                "action": "Allow",
                "from": from,
            });
            if !ports.is_empty() {
                rule["ports"] = Value::from(ports);
            }
            if !protocols.is_empty() {
                rule["protocols"] = Value::from(protocols);
            }
            rules.push(rule);
        }
        rules.push(json!({"name": "drop-the-rest", "action": "Drop"}));
        out.push(json!({
            "apiVersion": "crd.kakine.io/v1beta1",
            "kind": "ClusterNetworkPolicy",
            "metadata": {"name": object_name(&format!("recommended-{ns}-{app}"))},
            "spec": {
                "tier": tier,
                "priority": priority,
                "appliedTo": [{
                    "namespaceSelector": namespace(ns),
                    "podSelector": {"matchLabels": selector(cluster, ns, app)},
                }],
                "ingress": rules,
            }
        }));
    }
    out
}

/// The proof of a recommendation: the diff it makes against the running set, and the observed
/// connections between pods that stay allowed or would break.
#[derive(Debug, Clone)]
pub struct Proof {
    /// Running set -> running set plus the recommendation.
    pub diff: crate::analysis::diff::Diff,
    /// Observed pod-to-pod connections (distinct cells) still allowed.
    pub kept: usize,
    /// Observed pod-to-pod cells the recommendation would deny (a mistake: expected empty).
    pub broken: Vec<String>,
}

/// Proves `recommended` against `running`: the diff over the observed services, and every
/// observed connection between pods still allowed.
///
/// Errors: a recommended document the loader refuses, or an input the grouping or compiler
/// refuses.
pub fn prove(
    running: &crate::policy::Input,
    recommended: &[Value],
    connections: &[crate::analysis::observed::Connection],
) -> Result<Proof, String> {
    use crate::analysis::matrix::{matrix, ServiceSpec};
    use crate::policy::load::{parse_document, Parsed};
    let mut after = running.clone();
    for doc in recommended {
        match parse_document(doc, std::path::Path::new("recommended.yaml"))
            .map_err(|e| e.to_string())?
        {
            Parsed::Object(o) => after.objects.push(*o),
            Parsed::Cluster(_) => return Err("a Cluster among the recommendations".into()),
        }
    }
    let resolve = |i: &crate::policy::Input| {
        crate::policy::resolve(&i.cluster, &i.objects).map_err(|e| e.to_string())
    };
    let (rb, ra) = (resolve(running)?, resolve(&after)?);
    let spec = |c: &crate::analysis::observed::Connection| match c.protocol {
        Protocol::Icmp => ServiceSpec::Icmp(8, 0),
        p => ServiceSpec::Port(p, c.port),
    };
    let mut services: Vec<ServiceSpec> = connections.iter().map(spec).collect();
    services.sort();
    services.dedup();
    let (mb, ma) = (matrix(&rb, &services), matrix(&ra, &services));
    let diff =
        crate::analysis::diff::diff((running, &mb), (&after, &ma)).map_err(|e| e.to_string())?;
    let pod = |ip| ra.pods.iter().find(|p| p.ip == ip && !p.host_network);
    let mut cells: Vec<(String, String, usize)> = Vec::new();
    for c in connections {
        let (Some(a), Some(b)) = (pod(c.src), pod(c.dst)) else {
            continue;
        };
        let si = services.iter().position(|s| *s == spec(c)).expect("listed");
        cells.push((a.key.to_string(), b.key.to_string(), si));
    }
    cells.sort();
    cells.dedup();
    let mut kept = 0;
    let mut broken = Vec::new();
    for (a, b, si) in cells {
        let allowed = ma
            .cells
            .iter()
            .find(|c| c.service == si && c.from.to_string() == a && c.to.to_string() == b)
            .is_some_and(|c| c.verdict == crate::policy::Verdict::Allow);
        if allowed {
            kept += 1;
        } else {
            broken.push(format!("{a} -> {b} {}", services[si]));
        }
    }
    Ok(Proof { diff, kept, broken })
}
