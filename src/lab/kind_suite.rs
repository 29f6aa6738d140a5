//! kakine's scenario corpus in a real cluster (`make e2e-kind`, `scripts/kind-suite.sh`): a
//! scenario rendered into the objects that create its namespaces and pods (agnhost, as the
//! upstream NetworkPolicy e2e makes them: [`super::kube_objects`]), one file of policies per
//! step, and the probes to run with `kubectl exec ... /agnhost connect`. The script only
//! applies, execs and compares; everything it runs is written here and checked in `make test`
//! (`tests/kind_suite.rs`).
//!
//! The layout of `kakinectl kind-suite render --out DIR` (one directory per scenario id):
//!
//! | file | what |
//! |---|---|
//! | `DIR/<id>/step-<n>-objects.yaml` | Namespaces, ServiceAccounts and Pods with step n's labels |
//! | `DIR/<id>/step-<n>-policies.yaml` | step n's policy objects (Antrea's kinds as `crd.kakine.io`) |
//! | `DIR/<id>/probes.tsv` | `step from-ns from-pod to-ns to-pod port protocol expect`, tab-separated |
//! | `DIR/<id>/unsupported.txt` | instead of the rest: why the scenario cannot run in a cluster |
//!
//! A scenario runs in a cluster only where its expectations do not hang on the model's own
//! addresses and nodes: no `to_ip` probes, no ipBlocks or CIDR peers (computed from the
//! model's pod IPs, which a cluster's IPAM does not give), no node peers or node selectors
//! (the model's node labels), no host-network pods, no IPv6, ICMP or fixed-source-port probes
//! (agnhost `connect` opens TCP, UDP and SCTP connections from an ephemeral port).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::kube_objects::{self, PodShape};
use super::scenario::{step_cluster, Scenario};
use crate::policy::Cluster;

/// How the objects are made for the cluster at hand.
#[derive(Debug, Clone)]
pub struct Options {
    /// The agnhost image of the pods.
    pub image: String,
    /// The cluster's nodes: the scenario's nodes (in the order the model names them) are
    /// pinned to these in turn; pods of a node beyond them are left to the scheduler.
    pub nodes: Vec<String>,
}

/// One probe: a connection from a pod to a pod and the verdict the scenario expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindProbe {
    /// 1-based step.
    pub step: usize,
    /// Client `namespace/name`.
    pub from: String,
    /// Server `namespace/name`.
    pub to: String,
    /// Destination port.
    pub port: u16,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// `allow`, `deny` or `reject`.
    pub expect: String,
}

/// One step's files.
#[derive(Debug, Clone)]
pub struct KindStep {
    /// Namespaces, ServiceAccounts, Pods (the step's labels).
    pub objects: Vec<Value>,
    /// The policy objects.
    pub policies: Vec<Value>,
}

/// A scenario ready for a cluster.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The scenario's id.
    pub id: String,
    /// The steps, in order.
    pub steps: Vec<KindStep>,
    /// Every probe of every step.
    pub probes: Vec<KindProbe>,
}

/// Keys of a policy object whose values come from the model's addresses or nodes.
const MODEL_BOUND_KEYS: [(&str, &str); 5] = [
    (
        "ipBlock",
        "an ipBlock peer (computed from the model's pod IPs)",
    ),
    (
        "ipBlocks",
        "an ipBlocks peer (computed from the model's pod IPs)",
    ),
    (
        "networks",
        "a networks peer (computed from the model's pod IPs)",
    ),
    ("nodeSelector", "a node selector (the model's node labels)"),
    ("nodes", "a node peer (the model's node labels)"),
];

/// The keys of `MODEL_BOUND_KEYS` found anywhere in `v`.
fn model_bound(v: &Value, out: &mut Vec<&'static str>) {
    match v {
        Value::Object(m) => {
            for (k, inner) in m {
                if let Some((_, why)) = MODEL_BOUND_KEYS.iter().find(|(key, _)| key == k) {
                    if !out.contains(why) {
                        out.push(why);
                    }
                }
                model_bound(inner, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| model_bound(x, out)),
        _ => {}
    }
}

/// Why `scenario` cannot run in a cluster (empty: it can), every reason at once.
pub fn unsupported(scenario: &Scenario) -> Vec<String> {
    let mut why: Vec<String> = Vec::new();
    let mut add = |s: String| {
        if !why.contains(&s) {
            why.push(s);
        }
    };
    for p in scenario.cluster.pods.iter().filter(|p| p.host_network) {
        add(format!(
            "pod {}/{} is host-network (its address is the node's)",
            p.namespace, p.name
        ));
    }
    for (i, step) in scenario.steps.iter().enumerate() {
        let mut found = Vec::new();
        step.resources
            .iter()
            .for_each(|r| model_bound(r, &mut found));
        for f in found {
            add(format!("step {}: {f}", i + 1));
        }
        for p in &step.probes {
            if p.to.is_none() || p.to_ip.is_some() {
                add(format!("step {}: a probe to an address (to_ip)", i + 1));
            }
            if p.protocol.eq_ignore_ascii_case("ICMP") {
                add(format!("step {}: an ICMP probe", i + 1));
            }
            if p.source_port.is_some() {
                add(format!("step {}: a probe from a fixed source port", i + 1));
            }
            if p.ip_family.as_deref().is_some_and(|f| f != "IPv4") {
                add(format!("step {}: an IPv6 probe", i + 1));
            }
        }
    }
    why
}

/// The model's node names in the order the model names them (its `nodes`, then pods' nodes).
fn model_nodes(c: &Cluster) -> Vec<String> {
    let mut out: Vec<String> = c.nodes.iter().map(|n| n.name.clone()).collect();
    for p in &c.pods {
        if let Some(n) = &p.node {
            if !out.contains(n) {
                out.push(n.clone());
            }
        }
    }
    out
}

/// A policy object as the cluster takes it: Antrea's `crd.antrea.io` kinds become kakine's
/// `crd.kakine.io` ones (the same schema), so the suite needs no Antrea CRDs.
pub fn as_kakine_kind(policy: &Value) -> Value {
    let mut p = policy.clone();
    if let Some(v) = p["apiVersion"].as_str() {
        if let Some(version) = v.strip_prefix("crd.antrea.io/") {
            p["apiVersion"] = Value::from(format!("crd.kakine.io/{version}"));
        }
    }
    p
}

/// Renders `scenario` for a cluster.
///
/// Errors: the reasons of [`unsupported`].
pub fn render(scenario: &Scenario, options: &Options) -> Result<Rendered, Vec<String>> {
    let why = unsupported(scenario);
    if !why.is_empty() {
        return Err(why);
    }
    let nodes: BTreeMap<String, String> = model_nodes(&scenario.cluster)
        .into_iter()
        .zip(options.nodes.iter().cloned())
        .collect();
    let shape = PodShape::Manifest {
        image: options.image.clone(),
        nodes,
    };
    let mut steps = Vec::new();
    let mut probes = Vec::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        let cluster = step_cluster(&scenario.cluster, &step.label_overrides);
        let mut objects: Vec<Value> = cluster
            .namespaces
            .iter()
            .map(kube_objects::namespace)
            .collect();
        objects.extend(kube_objects::service_accounts(&cluster));
        objects.extend(cluster.pods.iter().map(|p| kube_objects::pod(p, &shape)));
        steps.push(KindStep {
            objects,
            policies: step.resources.iter().map(as_kakine_kind).collect(),
        });
        for p in &step.probes {
            probes.push(KindProbe {
                step: i + 1,
                from: p.from.clone(),
                to: p.to.clone().unwrap_or_default(),
                port: p.port,
                protocol: p.protocol.to_ascii_uppercase(),
                expect: p.expect.clone(),
            });
        }
    }
    Ok(Rendered {
        id: scenario.id.clone(),
        steps,
        probes,
    })
}

/// `probes.tsv`: one line per probe, `step from-ns from-pod to-ns to-pod port protocol
/// expect`, tab-separated.
pub fn probes_tsv(probes: &[KindProbe]) -> String {
    fn split(k: &str) -> (&str, &str) {
        k.split_once('/').unwrap_or(("", k))
    }
    probes
        .iter()
        .map(|p| {
            let (fns, fpod) = split(&p.from);
            let (tns, tpod) = split(&p.to);
            format!(
                "{}\t{fns}\t{fpod}\t{tns}\t{tpod}\t{}\t{}\t{}\n",
                p.step, p.port, p.protocol, p.expect
            )
        })
        .collect()
}

/// Objects as a YAML stream of JSON documents (`kubectl apply -f` reads it).
pub fn stream(objects: &[Value]) -> String {
    objects.iter().map(|o| format!("---\n{o}\n")).collect()
}

/// Writes `r` under `dir/<id>/` (the layout of the module documentation).
///
/// Errors: the directory or a file cannot be written.
pub fn write(dir: &Path, r: &Rendered) -> std::io::Result<()> {
    let d = dir.join(&r.id);
    std::fs::create_dir_all(&d)?;
    for (i, s) in r.steps.iter().enumerate() {
        let n = i + 1;
        std::fs::write(d.join(format!("step-{n}-objects.yaml")), stream(&s.objects))?;
        std::fs::write(
            d.join(format!("step-{n}-policies.yaml")),
            stream(&s.policies),
        )?;
    }
    std::fs::write(d.join("probes.tsv"), probes_tsv(&r.probes))
}

/// Writes why the scenario `id` does not run under `dir/<id>/unsupported.txt`.
///
/// Errors: the directory or the file cannot be written.
pub fn write_unsupported(dir: &Path, id: &str, why: &[String]) -> std::io::Result<()> {
    let d = dir.join(id);
    std::fs::create_dir_all(&d)?;
    std::fs::write(d.join("unsupported.txt"), why.join("\n") + "\n")
}
