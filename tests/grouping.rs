//! The grouping index under random event sequences: after every event (a pod added, moved,
//! relabelled or deleted, a namespace relabelled, a node relabelled, a policy added, changed or
//! deleted), the incrementally maintained index derives exactly what a from-scratch build of the
//! same cluster and policies derives; every group's members are exactly the pods its selector
//! matches; the deltas the events returned, replayed, give those members; and a node's view holds
//! the policies whose span holds the node (with only the node's applied-to members), the pods
//! they need, and nothing else.
//!
//! `PROPTEST_CASES=2000 cargo test --test grouping` runs more sequences.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kakine::grouping::derive::{resolved, view};
use kakine::grouping::state::{address_groups, applied_groups, key_of};
use kakine::grouping::{Event, GroupSelector, Grouping, LabelSet, PolicyKey};
use kakine::policy::load::{parse_document, Parsed};
use kakine::policy::model::{Namespace, Node, Pod, PolicyObject};
use kakine::policy::resolved::{Peers, PodKey, ResolvedPolicies};
use kakine::policy::{Cluster, PolicySet};
use proptest::prelude::*;
use serde_json::{json, Value};

const NAMESPACES: usize = 4;
const PODS: usize = 10;
const NODES: usize = 3;
const POLICIES: usize = 6;

#[derive(Debug, Clone)]
enum Ev {
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
enum Shape {
    /// K8s NetworkPolicy in namespace: podSelector app, peer app, peer by namespace team.
    K8s(usize, Option<usize>, Option<usize>, Option<usize>),
    /// ACNP: appliedTo app, namespace team; peer kind.
    Acnp(Option<usize>, Option<usize>, usize),
    /// AdminNetworkPolicy: subject namespace team, peer app.
    Anp(usize, Option<usize>),
}

fn ev() -> impl Strategy<Value = Ev> {
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

fn shape() -> impl Strategy<Value = Shape> {
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

fn app(i: usize) -> Value {
    json!({"matchLabels": {"app": format!("a{i}")}})
}

fn team(i: usize) -> Value {
    json!({"matchLabels": {"team": format!("t{i}")}})
}

fn object(slot: usize, shape: &Shape) -> PolicyObject {
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
struct World {
    pods: BTreeMap<usize, Pod>,
    namespaces: BTreeMap<usize, Namespace>,
    nodes: BTreeMap<usize, Node>,
    policies: BTreeMap<usize, PolicyObject>,
}

impl World {
    fn cluster(&self) -> Cluster {
        Cluster {
            nodes: self.nodes.values().cloned().collect(),
            namespaces: self.namespaces.values().cloned().collect(),
            pods: self.pods.values().cloned().collect(),
        }
    }
    fn objects(&self) -> PolicySet {
        let mut set = PolicySet::default();
        for o in self.policies.values() {
            set.push(o.clone());
        }
        set
    }
}

fn pod(slot: usize, ns: usize, a: usize, tier: bool, node: usize, host: bool, robot: bool) -> Pod {
    serde_json::from_value(json!({
        "namespace": format!("ns{ns}"), "name": format!("pod{slot}"),
        "labels": if tier { json!({"app": format!("a{a}"), "tier": "web"}) } else { json!({"app": format!("a{a}")}) },
        "ip": format!("10.0.0.{}", slot + 1), "node": format!("n{node}"), "host_network": host,
        "serviceAccountName": if robot { "robot" } else { "default" },
    }))
    .expect("a generated pod parses")
}

/// Turns a test event into index events (a pod that moves namespace is deleted and added).
fn events(world: &mut World, ev: &Ev) -> Vec<Event> {
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
fn text(r: &ResolvedPolicies) -> Vec<String> {
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

/// Every live group's members against its selector evaluated pod by pod.
fn check_members(g: &Grouping) -> Result<(), String> {
    for gid in g.index.groups() {
        let sel: &GroupSelector = g.index.selector(gid).expect("live group");
        let brute: BTreeSet<PodKey> = g
            .index
            .pods()
            .filter(|(_, e)| {
                let set = LabelSet {
                    namespace: e.pod.namespace.clone(),
                    labels: e.pod.labels.clone(),
                    service_account: e.pod.service_account_name().to_string(),
                    host_network: e.pod.host_network,
                };
                sel.matches(&set, &g.index.namespace_labels(&e.pod.namespace))
            })
            .map(|(_, e)| e.key.clone())
            .collect();
        let members = g.index.member_keys(gid);
        if members != brute {
            return Err(format!(
                "group {sel:?}: members {members:?}, selector matches {brute:?}"
            ));
        }
    }
    Ok(())
}

/// The view of `node` against a brute-force reading of the whole derivation.
fn check_view(g: &Grouping, node: &str) -> Result<(), String> {
    let whole = resolved(g, None);
    let v = view(g, node);
    let on_node: BTreeSet<PodKey> = whole
        .pods
        .iter()
        .filter(|p| p.node.as_deref() == Some(node))
        .map(|p| p.key.clone())
        .collect();
    // Policies whose span holds the node, read pod by pod.
    let spanning: BTreeSet<&PolicyKey> = g
        .policies
        .iter()
        .filter(|(_, p)| {
            applied_groups(p).any(|a| {
                g.index.members(a).any(|m| {
                    g.index
                        .pod_by_id(m)
                        .is_some_and(|e| e.pod.node.as_deref() == Some(node))
                })
            })
        })
        .map(|(k, _)| k)
        .collect();
    let spanning_rules: usize = g
        .policies
        .iter()
        .filter(|(k, _)| spanning.contains(k))
        .map(|(_, p)| p.rules.len())
        .sum();
    if v.rules.len() != spanning_rules {
        return Err(format!(
            "view of {node}: {} rules, {spanning_rules} expected",
            v.rules.len()
        ));
    }
    let mut needed = on_node.clone();
    for (_, p) in g.policies.iter().filter(|(k, _)| spanning.contains(k)) {
        for a in address_groups(p) {
            needed.extend(g.index.member_keys(a));
        }
    }
    let view_pods: BTreeSet<PodKey> = v.pods.iter().map(|p| p.key.clone()).collect();
    if view_pods != needed {
        return Err(format!(
            "view of {node}: pods {view_pods:?}, needed {needed:?}"
        ));
    }
    for r in &v.rules {
        if r.applied_to.iter().any(|k| !on_node.contains(k)) {
            return Err(format!(
                "view of {node}: rule {} applies to another node's pod",
                r.id
            ));
        }
        let full = whole
            .rules
            .iter()
            .filter(|w| w.id == r.id && w.direction == r.direction && w.peers == r.peers)
            .find(|w| {
                let local: BTreeSet<PodKey> = w
                    .applied_to
                    .iter()
                    .filter(|k| on_node.contains(*k))
                    .cloned()
                    .collect();
                local == *r.applied_to
            });
        if full.is_none() {
            return Err(format!(
                "view of {node}: rule {} is not the whole rule restricted to the node",
                r.id
            ));
        }
        if let Peers::Set { pods, .. } = &r.peers {
            if pods.iter().any(|k| !view_pods.contains(k)) {
                return Err(format!(
                    "view of {node}: a peer of rule {} is missing from its pods",
                    r.id
                ));
            }
        }
    }
    let iso: BTreeSet<PodKey> = whole
        .isolated_ingress
        .intersection(&on_node)
        .cloned()
        .collect();
    if v.isolated_ingress != iso {
        return Err(format!(
            "view of {node}: isolation {:?}, expected {iso:?}",
            v.isolated_ingress
        ));
    }
    Ok(())
}

fn run(evs: &[Ev]) -> Result<(), String> {
    let mut world = World::default();
    let mut g = Grouping::new();
    // The members each group should have, replayed from deltas, by (group, selector).
    let mut shadow: BTreeMap<(u32, GroupSelector), BTreeSet<PodKey>> = BTreeMap::new();
    for (i, ev) in evs.iter().enumerate() {
        for e in events(&mut world, ev) {
            for (gid, d) in g.apply(e) {
                let sel = g
                    .index
                    .selector(gid)
                    .cloned()
                    .expect("a delta of a live group");
                let m = shadow.entry((gid.0, sel)).or_default();
                for k in &d.removed {
                    if !m.remove(k) {
                        return Err(format!("event {i}: delta removes {k}, not a member"));
                    }
                }
                for k in d.added {
                    if !m.insert(k.clone()) {
                        return Err(format!("event {i}: delta adds {k} twice"));
                    }
                }
            }
            // A released group's deletion is its event: forget what it had.
            shadow.retain(|(gid, sel), _| {
                g.index.selector(kakine::grouping::GroupId(*gid)) == Some(sel)
            });
        }
        let scratch = Grouping::build(&world.cluster(), &world.objects());
        let (a, b) = (text(&resolved(&g, None)), text(&resolved(&scratch, None)));
        if a != b {
            return Err(format!(
                "after event {i} ({ev:?}):\nincremental {a:#?}\nfrom scratch {b:#?}"
            ));
        }
        check_members(&g).map_err(|e| format!("after event {i}: {e}"))?;
        for gid in g.index.groups() {
            let sel = g.index.selector(gid).cloned().expect("live");
            let replayed = shadow
                .get(&(gid.0, sel.clone()))
                .cloned()
                .unwrap_or_default();
            if replayed != g.index.member_keys(gid) {
                return Err(format!(
                    "after event {i}: deltas of {sel:?} replay to {replayed:?}"
                ));
            }
        }
        for n in 0..NODES {
            check_view(&g, &format!("n{n}")).map_err(|e| format!("after event {i}: {e}"))?;
        }
        if g.index.group_count() != scratch.index.group_count() {
            return Err(format!(
                "after event {i}: {} groups live, {} from scratch (a group leaked)",
                g.index.group_count(),
                scratch.index.group_count()
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(200)))]

    #[test]
    fn the_incremental_index_equals_a_from_scratch_build_after_every_event(evs in prop::collection::vec(ev(), 1..40)) {
        run(&evs).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn a_relabelled_pod_moves_between_groups_and_the_delta_says_so() {
    let mut world = World::default();
    let mut g = Grouping::new();
    let apply = |g: &mut Grouping, world: &mut World, ev: Ev| {
        let mut all = BTreeMap::new();
        for e in events(world, &ev) {
            all.extend(g.apply(e));
        }
        all
    };
    apply(&mut g, &mut world, Ev::Namespace(0, 0, false));
    apply(
        &mut g,
        &mut world,
        Ev::Policy(0, Shape::K8s(0, Some(1), None, None)),
    );
    let d = apply(&mut g, &mut world, Ev::Pod(0, 0, 1, false, 0, false, false));
    let key = PodKey {
        namespace: "ns0".into(),
        name: "pod0".into(),
    };
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        d.values().next().unwrap().added,
        BTreeSet::from([key.clone()])
    );
    // Relabelled away from app=a1: it leaves the group.
    let d = apply(&mut g, &mut world, Ev::Pod(0, 0, 2, false, 0, false, false));
    assert_eq!(
        d.values().next().unwrap().removed,
        BTreeSet::from([key.clone()])
    );
    // A label the selector ignores: nothing changes.
    apply(&mut g, &mut world, Ev::Pod(0, 0, 1, false, 0, false, false));
    let d = apply(&mut g, &mut world, Ev::Pod(0, 0, 1, true, 0, false, false));
    assert!(d.is_empty(), "{d:?}");
    // The span follows the pod's node.
    let p = g.policies.values().next().unwrap();
    assert_eq!(g.policy_span(p), BTreeSet::from(["n0".to_string()]));
    apply(&mut g, &mut world, Ev::Pod(0, 0, 1, true, 2, false, false));
    let p = g.policies.values().next().unwrap();
    assert_eq!(g.policy_span(p), BTreeSet::from(["n2".to_string()]));
}

#[test]
fn identical_selectors_of_many_policies_are_one_group_whose_members_are_shared() {
    let mut g = Grouping::new();
    g.apply(Event::PodUpsert(pod(0, 0, 1, false, 0, false, false)));
    for slot in 0..50 {
        g.apply(Event::PolicyUpsert(object(
            slot,
            &Shape::K8s(0, Some(1), Some(1), None),
        )));
    }
    // One applied-to group (app=a1 in ns0, subjects) and one address group (app=a1 in ns0).
    assert_eq!(g.index.group_count(), 2);
    let r = resolved(&g, None);
    assert_eq!(r.rules.len(), 50);
    assert!(r
        .rules
        .windows(2)
        .all(|w| std::sync::Arc::ptr_eq(&w[0].applied_to, &w[1].applied_to)));
}

/// What `kakine-agent --node` compiles: one node's view of Antrea's small-namespace shape spread
/// over ten nodes holds only the rules whose applied-to pods run there, and compiles with only
/// that node's pods as local.
#[test]
fn one_node_of_ten_compiles_only_the_rules_of_its_own_pods() {
    use kakine::datapath::compiler::{compile, cookie, offline_pods};
    use kakine::lab::shapes::{generate, ShapeName, ShapeOptions};
    let shape = generate(
        ShapeName::XlargeSmallNs,
        &ShapeOptions {
            nodes: 10,
            seed: 1,
            units: 50,
        },
    );
    let whole = kakine::grouping::resolve_node(&shape.cluster, &shape.policies, None).unwrap();
    let view =
        kakine::grouping::resolve_node(&shape.cluster, &shape.policies, Some("node-3")).unwrap();
    let on_node: BTreeSet<PodKey> = shape
        .cluster
        .pods
        .iter()
        .filter(|p| p.node.as_deref() == Some("node-3"))
        .map(|p| PodKey {
            namespace: p.namespace.clone(),
            name: p.name.clone(),
        })
        .collect();
    assert_eq!(on_node.len(), 20, "200 pods round-robin over 10 nodes");
    let expected: Vec<String> = whole
        .rules
        .iter()
        .filter(|r| r.applied_to.iter().any(|k| on_node.contains(k)))
        .map(|r| r.id.to_string())
        .collect();
    let got: Vec<String> = view.rules.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(got, expected);
    assert!(
        got.len() * 3 < whole.rules.len(),
        "{} of {}",
        got.len(),
        whole.rules.len()
    );
    let mut local = offline_pods(&view);
    local.retain(|p| on_node.contains(&p.key));
    let compiled = compile(&view, &local, 1).unwrap();
    let pod_objects: BTreeSet<u32> = compiled
        .flows
        .iter()
        .map(|f| cookie::split(f.cookie))
        .filter(|(_, category, _)| *category == cookie::POD)
        .map(|(_, _, object)| object)
        .collect();
    assert!(pod_objects.len() <= on_node.len(), "{pod_objects:?}");
    assert_eq!(compiled.rules.len(), view.rules.len());
}
