//! The public scale shapes of Antrea's NetworkPolicy controller benchmark, generated
//! deterministically as kakine's input model (a [`Cluster`] and a [`PolicySet`]) for benchmarks
//! that start from objects in memory, and written as standalone YAML ([`super::shapes_yaml`])
//! for the load benchmark and for users (`kakinectl shape`, `scripts/gen-shapes.sh`).
//!
//! Source: antrea-io/antrea `pkg/controller/networkpolicy/networkpolicy_controller_perf_test.go`
//! (`getXLargeScaleWithSmallNamespaces`, `getXLargeScaleWithLargeNamespaces`,
//! `getXLargeScaleWithOneNamespace`, and the `...SmallNamespacesACNP` / `...ANNP` variants).
//! Antrea names namespaces with `rand.String(8)`; here the same 8 characters come from a seeded
//! generator, so one seed gives one input. Antrea gives pods random IPs and node names; here IPs
//! count up from 10.0.0.1 (unique in 10.0.0.0/8) and pods go round-robin over `nodes` nodes
//! named `node-<i>` with IPs from 172.16.0.1.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use crate::policy::model::{
    AntreaPeer, AntreaPolicy, AntreaRule, AppliedTo, K8sNetworkPolicy, K8sPeer, K8sRule, Namespace,
    Node, Pod,
};
use crate::policy::resolved::RuleAction;
use crate::policy::selector::{LabelSelector, Labels};
use crate::policy::{Cluster, PolicySet};

/// One of Antrea's benchmark shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeName {
    /// 25,000 namespaces × (4 pods, 3 K8s NetworkPolicies): 100k pods, 75k policies.
    XlargeSmallNs,
    /// 100 namespaces × (1,000 pods, 101 K8s NetworkPolicies each selecting 10 pods, plus a
    /// default deny): 100k pods, 10,100 policies.
    XlargeLargeNs,
    /// 1 namespace, 10,000 pods and 10,000 K8s NetworkPolicies each selecting every pod.
    XlargeOneNs,
    /// [`ShapeName::XlargeSmallNs`] as 75k ClusterNetworkPolicies.
    XlargeSmallNsAcnp,
    /// [`ShapeName::XlargeSmallNs`] as 75k Antrea NetworkPolicies.
    XlargeSmallNsAnnp,
}

impl ShapeName {
    /// Every shape, in the order of the table.
    pub const ALL: [ShapeName; 5] = [
        ShapeName::XlargeSmallNs,
        ShapeName::XlargeLargeNs,
        ShapeName::XlargeOneNs,
        ShapeName::XlargeSmallNsAcnp,
        ShapeName::XlargeSmallNsAnnp,
    ];

    /// The name on the command line (`xlarge-small-ns`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ShapeName::XlargeSmallNs => "xlarge-small-ns",
            ShapeName::XlargeLargeNs => "xlarge-large-ns",
            ShapeName::XlargeOneNs => "xlarge-one-ns",
            ShapeName::XlargeSmallNsAcnp => "xlarge-small-ns-acnp",
            ShapeName::XlargeSmallNsAnnp => "xlarge-small-ns-annp",
        }
    }

    /// Parses a name written by [`ShapeName::as_str`].
    pub fn parse(name: &str) -> Option<ShapeName> {
        ShapeName::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// How many times Antrea repeats the shape's unit: namespaces for the namespace shapes,
    /// pod + policy pairs for the one-namespace shape.
    pub fn full_units(self) -> usize {
        match self {
            ShapeName::XlargeLargeNs => 100,
            ShapeName::XlargeOneNs => 10_000,
            _ => 25_000,
        }
    }
}

impl std::fmt::Display for ShapeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to generate a shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShapeOptions {
    /// Nodes the pods are spread over, round-robin (at least 1).
    pub nodes: usize,
    /// Seed of the namespace names.
    pub seed: u64,
    /// Repetitions of the shape's unit ([`ShapeName::full_units`] for Antrea's scale; fewer
    /// for tests).
    pub units: usize,
}

impl ShapeOptions {
    /// Antrea's full scale of `shape` on 100 nodes, seed 1.
    pub fn full(shape: ShapeName) -> Self {
        ShapeOptions {
            nodes: 100,
            seed: 1,
            units: shape.full_units(),
        }
    }
}

/// A generated input: the cluster model and the policies, as the loader would return them
/// (objects carry no origin file).
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Which shape.
    pub name: ShapeName,
    /// Nodes, namespaces and pods.
    pub cluster: Cluster,
    /// The policies.
    pub policies: PolicySet,
}

/// splitmix64 (Steele, Lea, Flood 2014): a small seeded generator, enough for names.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 8 characters from the alphabet of Kubernetes' `rand.String` (consonants and digits).
    fn name(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..8)
            .map(|_| ALPHABET[(self.next() % ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

fn labels(key: &str, value: &str) -> Labels {
    Labels::from([(key.to_string(), value.to_string())])
}

fn select(key: &str, value: &str) -> LabelSelector {
    LabelSelector::labels([(key, value)])
}

/// Builds the cluster model as pods are added: IPs counting up, nodes round-robin.
struct ClusterBuilder {
    cluster: Cluster,
    nodes: usize,
}

impl ClusterBuilder {
    fn new(nodes: usize) -> Self {
        let nodes = nodes.max(1);
        let node_base = u32::from(Ipv4Addr::new(172, 16, 0, 1));
        let cluster = Cluster {
            nodes: (0..nodes)
                .map(|i| Node {
                    name: format!("node-{i}"),
                    ip: Some(Ipv4Addr::from(node_base + i as u32)),
                    labels: Labels::new(),
                    pod_cidr: None,
                    pod_cidrs: Vec::new(),
                    gateway_ip: None,
                })
                .collect(),
            ..Cluster::default()
        };
        ClusterBuilder { cluster, nodes }
    }

    fn namespace(&mut self, name: &str) {
        self.cluster.namespaces.push(Namespace {
            name: name.to_string(),
            labels: labels("app", name),
            annotations: Labels::new(),
        });
    }

    fn pod(&mut self, namespace: &str, name: String, labels: Labels) {
        let i = self.cluster.pods.len();
        let base = u32::from(Ipv4Addr::new(10, 0, 0, 1));
        self.cluster.pods.push(Pod {
            namespace: namespace.to_string(),
            name,
            labels,
            ip: Ipv4Addr::from(base + i as u32),
            ipv6: None,
            mac: None,
            node: Some(format!("node-{}", i % self.nodes)),
            host_network: false,
            ports: Vec::new(),
            service_account: None,
        });
    }
}

/// The K8s policy Antrea's `newNetworkPolicy(ns, name, sel, sel, nil, nil, nil)` builds:
/// `podSelector: sel`, one ingress rule from `podSelector: sel`, policyTypes Ingress and Egress
/// (no egress rule: selected pods send nothing). `sel` `None` is `default-deny-all`: every pod,
/// no rule.
fn k8s_policy(namespace: &str, name: &str, sel: Option<LabelSelector>) -> K8sNetworkPolicy {
    let policy = K8sNetworkPolicy::test(namespace, name).policy_types(true, true);
    match sel {
        Some(sel) => policy
            .select(sel.clone())
            .ingress(K8sRule::default().from(K8sPeer::pods(sel))),
        None => policy,
    }
}

/// Unique namespace names drawn from `rng`.
fn namespace_names(rng: &mut SplitMix64, count: usize) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut names = Vec::with_capacity(count);
    while names.len() < count {
        let name = rng.name();
        if seen.insert(name.clone()) {
            names.push(name);
        }
    }
    names
}

/// Generates `name` with `options`; the same options give the same shape.
pub fn generate(name: ShapeName, options: &ShapeOptions) -> Shape {
    let mut rng = SplitMix64(options.seed);
    let mut cluster = ClusterBuilder::new(options.nodes);
    let mut policies = PolicySet::default();
    match name {
        ShapeName::XlargeSmallNs | ShapeName::XlargeSmallNsAcnp | ShapeName::XlargeSmallNsAnnp => {
            for ns in namespace_names(&mut rng, options.units) {
                cluster.namespace(&ns);
                for (pod, i) in [("pod1", 1), ("pod2", 1), ("pod3", 2), ("pod4", 2)] {
                    let labels = labels(&format!("app-{i}"), &format!("scale-{i}"));
                    cluster.pod(&ns, pod.to_string(), labels);
                }
                small_namespace_policies(name, &ns, &mut policies);
            }
        }
        ShapeName::XlargeLargeNs => {
            for ns in namespace_names(&mut rng, options.units) {
                cluster.namespace(&ns);
                policies
                    .k8s_policies
                    .push(k8s_policy(&ns, "default-deny-all", None));
                for i in 0..100 {
                    let (key, value) = (format!("app-{i}"), format!("scale-{i}"));
                    let sel = Some(select(&key, &value));
                    policies
                        .k8s_policies
                        .push(k8s_policy(&ns, &format!("np-{i}"), sel));
                    for j in 0..10 {
                        cluster.pod(&ns, format!("pod-{i}-{j}"), labels(&key, &value));
                    }
                }
            }
        }
        ShapeName::XlargeOneNs => {
            let ns = namespace_names(&mut rng, 1).remove(0);
            cluster.namespace(&ns);
            for k in 0..options.units {
                let sel = Some(select("app-1", "scale-1"));
                policies
                    .k8s_policies
                    .push(k8s_policy(&ns, &format!("np-{k}"), sel));
                cluster.pod(&ns, format!("pod-{k}"), labels("app-1", "scale-1"));
            }
        }
    }
    Shape {
        name,
        cluster: cluster.cluster,
        policies,
    }
}

/// The three policies of one small namespace, in the shape's API.
///
/// The Antrea-native translation keeps the K8s meaning, in the application tier:
/// `np-1` / `np-2` are Allow rules at priority 1 applied to the labelled pods of the namespace,
/// from the same pods; `default-deny-all` is an ingress Drop rule and an egress Drop rule (any
/// peer) at priority 2 applied to every pod of the namespace, so the allows win and everything
/// else is dropped both ways, as K8s isolation does. A ClusterNetworkPolicy names the namespace
/// by its `app: <ns>` label (appliedTo and peers: namespaceSelector + podSelector) and carries
/// the namespace in its name (`<ns>-np-1`: cluster-scoped names must be unique); an Antrea
/// NetworkPolicy lives in the namespace and uses podSelectors alone.
fn small_namespace_policies(name: ShapeName, ns: &str, policies: &mut PolicySet) {
    let selectors = [("np-1", "app-1", "scale-1"), ("np-2", "app-2", "scale-2")];
    if name == ShapeName::XlargeSmallNs {
        policies
            .k8s_policies
            .push(k8s_policy(ns, "default-deny-all", None));
        for (policy, key, value) in selectors {
            let sel = Some(select(key, value));
            policies.k8s_policies.push(k8s_policy(ns, policy, sel));
        }
        return;
    }
    let cluster_scoped = name == ShapeName::XlargeSmallNsAcnp;
    let namespaces = cluster_scoped.then(|| select("app", ns));
    let base = |policy: &str, priority: f64| {
        let p = if cluster_scoped {
            AntreaPolicy::test(&format!("{ns}-{policy}"))
        } else {
            AntreaPolicy::test(policy).namespaced(ns)
        };
        p.tier("application").priority(priority)
    };
    let mut deny = base("default-deny-all", 2.0);
    deny.spec.applied_to.push(AppliedTo {
        pod_selector: Some(LabelSelector::default()),
        namespace_selector: namespaces.clone(),
        ..AppliedTo::default()
    });
    deny = deny
        .ingress(AntreaRule::new(RuleAction::Drop).named("default-deny-ingress"))
        .egress(AntreaRule::new(RuleAction::Drop).named("default-deny-egress"));
    policies.antrea_policies.push(deny);
    for (policy, key, value) in selectors {
        let peer = AntreaPeer {
            namespace_selector: namespaces.clone(),
            ..AntreaPeer::pods(select(key, value))
        };
        let allow = base(policy, 1.0)
            .applied_to(select(key, value), namespaces.clone())
            .ingress(
                AntreaRule::new(RuleAction::Allow)
                    .named("allow-same-app")
                    .from(peer),
            );
        policies.antrea_policies.push(allow);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(name: ShapeName, units: usize) -> Shape {
        generate(
            name,
            &ShapeOptions {
                nodes: 3,
                seed: 7,
                units,
            },
        )
    }

    #[test]
    fn names_round_trip_through_parse() {
        for shape in ShapeName::ALL {
            assert_eq!(ShapeName::parse(shape.as_str()), Some(shape));
        }
        assert_eq!(ShapeName::parse("xlarge"), None);
    }

    #[test]
    fn the_same_seed_gives_the_same_shape_and_another_seed_other_names() {
        let a = small(ShapeName::XlargeSmallNs, 5);
        assert_eq!(a, small(ShapeName::XlargeSmallNs, 5));
        let other = generate(
            ShapeName::XlargeSmallNs,
            &ShapeOptions {
                nodes: 3,
                seed: 8,
                units: 5,
            },
        );
        assert_ne!(
            a.cluster.namespaces[0].name,
            other.cluster.namespaces[0].name
        );
        assert_eq!(a.cluster.namespaces[0].name.len(), 8);
    }

    #[test]
    fn pods_get_unique_addresses_and_go_round_robin_over_the_nodes() {
        let shape = small(ShapeName::XlargeSmallNs, 2);
        let pods = &shape.cluster.pods;
        assert_eq!(pods[0].ip, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(pods[7].ip, Ipv4Addr::new(10, 0, 0, 8));
        let nodes: Vec<_> = pods.iter().map(|p| p.node.as_deref().unwrap()).collect();
        assert_eq!(
            nodes,
            ["node-0", "node-1", "node-2", "node-0", "node-1", "node-2", "node-0", "node-1"]
        );
        assert_eq!(shape.cluster.nodes.len(), 3);
        assert_eq!(
            shape.cluster.nodes[2].ip,
            Some(Ipv4Addr::new(172, 16, 0, 3))
        );
    }
}
