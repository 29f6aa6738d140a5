//! Random clusters, policies and event sequences for the grouping and controlplane property
//! tests: a test event ([`Ev`]) becomes index events ([`events`]) against a mirrored [`World`].

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kakine::grouping::state::key_of;
use kakine::grouping::Event;
use kakine::policy::load::{parse_document, Parsed};
use kakine::policy::model::{Namespace, Node, Pod, PolicyObject};
use kakine::policy::resolved::{PodKey, ResolvedPolicies};
use kakine::policy::{Cluster, PolicySet};
use proptest::prelude::*;
use serde_json::{json, Value};

pub const NAMESPACES: usize = 4;
pub const PODS: usize = 10;
pub const NODES: usize = 3;
pub const POLICIES: usize = 6;

#[derive(Debug, Clone)]
pub enum Ev {
    /// Pod slot, namespace, app label, tier label, node, host network, service account.
    Pod(usize, usize, usize, bool, usize, bool, bool),
    PodDelete(usize),
    /// Namespace, team label, env label.
    Namespace(usize, usize, bool),
    /// Node, zone.
    Node(usize, usize),
    /// Policy slot, policy shape.
    Policy(usize, Shape),
    PolicyDelete(usize),
}

#[derive(Debug, Clone)]
pub enum Shape {
    /// K8s NetworkPolicy in namespace: podSelector app, peer app, peer by namespace team.
    K8s(usize, Option<usize>, Option<usize>, Option<usize>),
    /// ACNP: appliedTo app, namespace team; peer kind.
    Acnp(Option<usize>, Option<usize>, usize),
    /// AdminNetworkPolicy: subject namespace team, peer app.
    Anp(usize, Option<usize>),
    /// K8s NetworkPolicy in namespace, podSelector app: egress to any peer on the port named
    /// `http` (the tier pods declare it), so those pods are in its span ([`named_shape`]).
    K8sNamedEgress(usize, Option<usize>),
}

pub fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        4 => (0..PODS, 0..NAMESPACES, 0..3usize, any::<bool>(), 0..NODES, prop::bool::weighted(0.1), any::<bool>())
            .prop_map(|(a, b, c, d, e, f, g)| Ev::Pod(a, b, c, d, e, f, g)),
        1 => (0..PODS).prop_map(Ev::PodDelete),
        1 => (0..NAMESPACES, 0..3usize, any::<bool>()).prop_map(|(a, b, c)| Ev::Namespace(a, b, c)),
        1 => (0..NODES, 0..2usize).prop_map(|(a, b)| Ev::Node(a, b)),
        3 => (0..POLICIES, shape()).prop_map(|(a, b)| Ev::Policy(a, b)),
        1 => (0..POLICIES).prop_map(Ev::PolicyDelete),
    ]
}

/// As [`ev`], the policies also of [`Shape::K8sNamedEgress`].
pub fn ev_named() -> impl Strategy<Value = Ev> {
    prop_oneof![
        6 => ev(),
        1 => (0..POLICIES, named_shape()).prop_map(|(a, b)| Ev::Policy(a, b)),
    ]
}

/// [`Shape::K8sNamedEgress`].
pub fn named_shape() -> impl Strategy<Value = Shape> {
    (0..NAMESPACES, prop::option::of(0..3usize)).prop_map(|(a, b)| Shape::K8sNamedEgress(a, b))
}

pub fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        (
            0..NAMESPACES,
            prop::option::of(0..3usize),
            prop::option::of(0..3usize),
            prop::option::of(0..3usize)
        )
            .prop_map(|(a, b, c, d)| Shape::K8s(a, b, c, d)),
        (
            prop::option::of(0..3usize),
            prop::option::of(0..3usize),
            0..5usize
        )
            .prop_map(|(a, b, c)| Shape::Acnp(a, b, c)),
        (0..3usize, prop::option::of(0..3usize)).prop_map(|(a, b)| Shape::Anp(a, b)),
    ]
}

pub fn app(i: usize) -> Value {
    json!({"matchLabels": {"app": format!("a{i}")}})
}

pub fn team(i: usize) -> Value {
    json!({"matchLabels": {"team": format!("t{i}")}})
}

pub fn object(slot: usize, shape: &Shape) -> PolicyObject {
    let doc = match shape {
        Shape::K8s(ns, sel, peer_app, peer_team) => {
            let mut peer = json!({});
            if let Some(a) = peer_app {
                peer["podSelector"] = app(*a);
            }
            if let Some(t) = peer_team {
                peer["namespaceSelector"] = team(*t);
            }
            let from = if peer_app.is_none() && peer_team.is_none() {
                json!([])
            } else {
                json!([peer])
            };
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": format!("p{slot}"), "namespace": format!("ns{ns}")},
                "spec": {"podSelector": sel.map(app).unwrap_or(json!({})),
                         "policyTypes": ["Ingress", "Egress"],
                         "ingress": [{"from": from}]}})
        }
        Shape::K8sNamedEgress(ns, sel) => {
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": format!("p{slot}"), "namespace": format!("ns{ns}")},
                "spec": {"podSelector": sel.map(app).unwrap_or(json!({})),
                         "policyTypes": ["Egress"],
                         "egress": [{"ports": [{"protocol": "TCP", "port": "http"}]}]}})
        }
        Shape::Acnp(sel, ns_team, peer) => {
            let mut applied = json!({});
            applied["podSelector"] = sel.map(app).unwrap_or(json!({}));
            if let Some(t) = ns_team {
                applied["namespaceSelector"] = team(*t);
            }
            let from = match peer {
                0 => json!({"namespaces": {"match": "Self"}}),
                1 => json!({"namespaces": {"sameLabels": ["team"]}, "podSelector": app(1)}),
                2 => json!({"nodeSelector": {"matchLabels": {"zone": "z0"}}}),
                3 => json!({"serviceAccount": {"name": "robot", "namespace": "ns1"}}),
                _ => {
                    json!({"namespaceSelector": json!({"matchExpressions": [{"key": "env", "operator": "Exists"}]})})
                }
            };
            json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
                "metadata": {"name": format!("p{slot}")},
                "spec": {"priority": 5, "appliedTo": [applied],
                         "ingress": [{"action": "Drop", "from": [from]}]}})
        }
        Shape::Anp(t, peer_app) => json!({"apiVersion": "policy.networking.k8s.io/v1alpha1",
            "kind": "AdminNetworkPolicy", "metadata": {"name": format!("p{slot}")},
            "spec": {"priority": slot, "subject": {"namespaces": team(*t)},
                     "egress": [{"action": "Deny", "to": [{"pods": {
                         "namespaceSelector": {}, "podSelector": peer_app.map(app).unwrap_or(json!({}))}}]}]}}),
    };
    match parse_document(&doc, Path::new("gen.yaml")).expect("a generated object parses") {
        Parsed::Object(o) => *o,
        Parsed::Cluster(_) => unreachable!("no cluster document is generated"),
    }
}

/// The world as the test mirrors it, to rebuild from scratch.
#[derive(Default, Clone)]
pub struct World {
    pub pods: BTreeMap<usize, Pod>,
    pub namespaces: BTreeMap<usize, Namespace>,
    pub nodes: BTreeMap<usize, Node>,
    pub policies: BTreeMap<usize, PolicyObject>,
}

impl World {
    pub fn cluster(&self) -> Cluster {
        Cluster {
            nodes: self.nodes.values().cloned().collect(),
            namespaces: self.namespaces.values().cloned().collect(),
            pods: self.pods.values().cloned().collect(),
        }
    }
    pub fn objects(&self) -> PolicySet {
        let mut set = PolicySet::default();
        for o in self.policies.values() {
            set.push(o.clone());
        }
        set
    }
}

pub fn pod(
    slot: usize,
    ns: usize,
    a: usize,
    tier: bool,
    node: usize,
    host: bool,
    robot: bool,
) -> Pod {
    serde_json::from_value(json!({
        "namespace": format!("ns{ns}"), "name": format!("pod{slot}"),
        "labels": if tier { json!({"app": format!("a{a}"), "tier": "web"}) } else { json!({"app": format!("a{a}")}) },
        "ip": format!("10.0.0.{}", slot + 1), "node": format!("n{node}"), "host_network": host,
        "serviceAccountName": if robot { "robot" } else { "default" },
        // A named port (for the policies' named egress ports) on the tier pods.
        "ports": if tier { json!([{"port": 8080, "name": "http"}]) } else { json!([]) },
    }))
    .expect("a generated pod parses")
}

/// Turns a test event into index events (a pod that moves namespace is deleted and added).
pub fn events(world: &mut World, ev: &Ev) -> Vec<Event> {
    match ev.clone() {
        Ev::Pod(slot, ns, a, tier, node, host, robot) => {
            let p = pod(slot, ns, a, tier, node, host, robot);
            let mut out = Vec::new();
            if let Some(old) = world.pods.get(&slot) {
                if old.namespace != p.namespace {
                    out.push(Event::PodDelete(PodKey {
                        namespace: old.namespace.clone(),
                        name: old.name.clone(),
                    }));
                }
            }
            world.pods.insert(slot, p.clone());
            out.push(Event::PodUpsert(p));
            out
        }
        Ev::PodDelete(slot) => match world.pods.remove(&slot) {
            Some(p) => vec![Event::PodDelete(PodKey {
                namespace: p.namespace,
                name: p.name,
            })],
            None => vec![],
        },
        Ev::Namespace(ns, t, env) => {
            let mut labels = serde_json::Map::new();
            labels.insert("team".into(), json!(format!("t{t}")));
            if env {
                labels.insert("env".into(), json!("prod"));
            }
            let n: Namespace =
                serde_json::from_value(json!({"name": format!("ns{ns}"), "labels": labels}))
                    .expect("namespace");
            world.namespaces.insert(ns, n.clone());
            vec![Event::NamespaceUpsert(n)]
        }
        Ev::Node(i, zone) => {
            let n: Node = serde_json::from_value(
                json!({"name": format!("n{i}"), "ip": format!("192.168.0.{}", i + 1),
                "labels": {"zone": format!("z{zone}")}}),
            )
            .expect("node");
            world.nodes.insert(i, n.clone());
            vec![Event::NodeUpsert(n)]
        }
        Ev::Policy(slot, shape) => {
            let o = object(slot, &shape);
            let mut out = Vec::new();
            if let Some(old) = world.policies.get(&slot) {
                if key_of(old) != key_of(&o) {
                    out.push(Event::PolicyDelete(key_of(old)));
                }
            }
            world.policies.insert(slot, o.clone());
            out.push(Event::PolicyUpsert(o));
            out
        }
        Ev::PolicyDelete(slot) => match world.policies.remove(&slot) {
            Some(o) => vec![Event::PolicyDelete(key_of(&o))],
            None => vec![],
        },
    }
}

/// A derivation as comparable text: rules in order, isolation, pods.
pub fn text(r: &ResolvedPolicies) -> Vec<String> {
    let mut out: Vec<String> = r
        .rules
        .iter()
        .map(|rule| {
            format!(
                "{} {:?} {} {:?} {:?} applied={:?} peers={:?} services={:?}",
                rule.id,
                rule.stage,
                rule.rule_index,
                rule.direction,
                rule.action,
                rule.applied_to,
                rule.peers,
                rule.services
            )
        })
        .collect();
    out.push(format!("isolated in {:?}", r.isolated_ingress));
    out.push(format!("isolated out {:?}", r.isolated_egress));
    out.push(format!("isolated by {:?}", r.isolated_by));
    let pods: BTreeSet<String> = r
        .pods
        .iter()
        .map(|p| format!("{} {:?} {:?}", p.key, p.ip, p.node))
        .collect();
    out.push(format!("pods {pods:?}"));
    out
}
