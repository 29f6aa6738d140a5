//! Differential test: for random clusters and random policy sets (Antrea ClusterNetworkPolicy in
//! every built-in tier, K8s NetworkPolicy), the compiled flows running on the FakeSwitch give the
//! same verdict and the same deciding rules as the reference evaluator, for every probe.
//!
//! A failure prints the minimal case (proptest shrinks it) in the scenario format (JSON is YAML),
//! ready to drop into a file and run with `kakinectl test --engine sim`.
//! `PROPTEST_CASES=5000 cargo test --test differential` (or `make proptest`) runs more cases.
//!
//! A sample of the same random cases (fixed seed) also runs on a real Open vSwitch programmed by
//! the agent (`--engine ovs`, `ofproto/trace`): `OVS_DIFFERENTIAL_CASES` sets how many (10).

use std::path::Path;

use kakine::engine::{Backend, Engine, Oracle, OvsMode};
use kakine::policy::load::{parse_document, Parsed};
use kakine::policy::resolved::{PodKey, Protocol};
use kakine::policy::{resolve, Cluster, Destination, PolicySet, Probe};
use proptest::prelude::*;
use serde_json::{json, Value};

const NAMESPACES: [&str; 3] = ["ns0", "ns1", "ns2"];
const APPS: [&str; 3] = ["a0", "a1", "a2"];
const TIERS: [&str; 4] = ["securityops", "platform", "application", "baseline"];
const PROBES: [(Protocol, u16); 4] = [
    (Protocol::Tcp, 80),
    (Protocol::Tcp, 81),
    (Protocol::Tcp, 8080),
    (Protocol::Udp, 53),
];

#[derive(Debug, Clone)]
struct PodSpec {
    ns: usize,
    app: usize,
    role: bool,
    web: bool,
}

#[derive(Debug, Clone)]
enum Sel {
    All,
    App(usize),
    NotApp(usize),
    Role,
}

#[derive(Debug, Clone)]
enum NsSel {
    All,
    Name(usize),
    NotName(usize),
    Prod,
}

#[derive(Debug, Clone)]
enum Peer {
    Pods(Sel),
    Ns(NsSel),
    NsPods(NsSel, Sel),
    /// A block around pod `pod`'s address, `/prefix`, optionally minus that pod.
    Block {
        pod: usize,
        prefix: u8,
        except_pod: bool,
    },
}

#[derive(Debug, Clone)]
enum Port {
    Num(u16),
    Range(u16, u16),
    Named(&'static str),
    Udp53,
    AllTcp,
}

#[derive(Debug, Clone)]
struct Rule {
    ingress: bool,
    action: usize,
    peers: Option<Vec<Peer>>,
    ports: Option<Vec<Port>>,
}

#[derive(Debug, Clone)]
struct Acnp {
    tier: usize,
    priority: u8,
    applied: (NsSel, Sel),
    rules: Vec<Rule>,
}

/// A K8s NetworkPolicy rule: peers (`None` = absent) and ports (`None` = absent).
type K8sRule = (Option<Vec<Peer>>, Option<Vec<Port>>);

#[derive(Debug, Clone)]
struct K8sNp {
    ns: usize,
    sel: Sel,
    types: usize,
    ingress: Vec<K8sRule>,
    egress: Vec<K8sRule>,
}

#[derive(Debug, Clone)]
struct Case {
    pods: Vec<PodSpec>,
    acnps: Vec<Acnp>,
    k8s: Vec<K8sNp>,
}

fn sel() -> impl Strategy<Value = Sel> {
    prop_oneof![
        Just(Sel::All),
        (0..3usize).prop_map(Sel::App),
        (0..3usize).prop_map(Sel::NotApp),
        Just(Sel::Role)
    ]
}

fn ns_sel() -> impl Strategy<Value = NsSel> {
    prop_oneof![
        Just(NsSel::All),
        (0..3usize).prop_map(NsSel::Name),
        (0..3usize).prop_map(NsSel::NotName),
        Just(NsSel::Prod)
    ]
}

fn peer() -> impl Strategy<Value = Peer> {
    prop_oneof![
        sel().prop_map(Peer::Pods),
        ns_sel().prop_map(Peer::Ns),
        (ns_sel(), sel()).prop_map(|(n, s)| Peer::NsPods(n, s)),
        (
            0..8usize,
            prop_oneof![Just(32u8), Just(24), Just(16)],
            any::<bool>()
        )
            .prop_map(|(pod, prefix, except_pod)| Peer::Block {
                pod,
                prefix,
                except_pod
            }),
    ]
}

fn port() -> impl Strategy<Value = Port> {
    prop_oneof![
        prop_oneof![Just(80u16), Just(81), Just(8080)].prop_map(Port::Num),
        Just(Port::Range(80, 81)),
        Just(Port::Range(81, 8080)),
        prop_oneof![Just("http"), Just("web"), Just("dns")].prop_map(Port::Named),
        Just(Port::Udp53),
        Just(Port::AllTcp),
    ]
}

fn peers() -> impl Strategy<Value = Option<Vec<Peer>>> {
    prop::option::weighted(0.8, prop::collection::vec(peer(), 0..3))
}

fn ports() -> impl Strategy<Value = Option<Vec<Port>>> {
    prop::option::weighted(0.6, prop::collection::vec(port(), 0..3))
}

fn rule() -> impl Strategy<Value = Rule> {
    (any::<bool>(), 0..4usize, peers(), ports()).prop_map(|(ingress, action, peers, ports)| Rule {
        ingress,
        action,
        peers: peers.map(|p| {
            if p.is_empty() {
                vec![Peer::Pods(Sel::All)]
            } else {
                p
            }
        }),
        ports: ports.map(|p| if p.is_empty() { vec![Port::AllTcp] } else { p }),
    })
}

fn case() -> impl Strategy<Value = Case> {
    let pod = (0..3usize, 0..3usize, any::<bool>(), any::<bool>())
        .prop_map(|(ns, app, role, web)| PodSpec { ns, app, role, web });
    let acnp = (
        0..4usize,
        1..4u8,
        (ns_sel(), sel()),
        prop::collection::vec(rule(), 1..4),
    )
        .prop_map(|(tier, priority, applied, rules)| Acnp {
            tier,
            priority,
            applied,
            rules,
        });
    let k8s_rules = || prop::collection::vec((peers(), ports()), 0..3);
    let k8s = (0..3usize, sel(), 0..3usize, k8s_rules(), k8s_rules()).prop_map(
        |(ns, sel, types, ingress, egress)| K8sNp {
            ns,
            sel,
            types,
            ingress,
            egress,
        },
    );
    (
        prop::collection::vec(pod, 2..7),
        prop::collection::vec(acnp, 0..4),
        prop::collection::vec(k8s, 0..3),
    )
        .prop_map(|(pods, acnps, k8s)| Case { pods, acnps, k8s })
}

fn pod_ip(case: &Case, i: usize) -> String {
    format!("10.1.{}.{}", case.pods[i].ns, 10 + i)
}

fn sel_json(s: &Sel) -> Value {
    match s {
        Sel::All => json!({}),
        Sel::App(a) => json!({"matchLabels": {"app": APPS[*a]}}),
        Sel::NotApp(a) => {
            json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": [APPS[*a]]}]})
        }
        Sel::Role => json!({"matchExpressions": [{"key": "role", "operator": "Exists"}]}),
    }
}

fn ns_sel_json(s: &NsSel) -> Value {
    match s {
        NsSel::All => json!({}),
        NsSel::Name(n) => json!({"matchLabels": {"kubernetes.io/metadata.name": NAMESPACES[*n]}}),
        NsSel::NotName(n) => json!({"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [NAMESPACES[*n]]}]}),
        NsSel::Prod => json!({"matchLabels": {"env": "prod"}}),
    }
}

fn peer_json(case: &Case, p: &Peer) -> Value {
    match p {
        Peer::Pods(s) => json!({"podSelector": sel_json(s)}),
        Peer::Ns(n) => json!({"namespaceSelector": ns_sel_json(n)}),
        Peer::NsPods(n, s) => {
            json!({"namespaceSelector": ns_sel_json(n), "podSelector": sel_json(s)})
        }
        Peer::Block {
            pod,
            prefix,
            except_pod,
        } => {
            let i = pod % case.pods.len();
            let ip: std::net::Ipv4Addr = pod_ip(case, i).parse().unwrap();
            let net = ipnet::Ipv4Net::new(ip, *prefix).unwrap().trunc();
            let mut block = json!({"cidr": net.to_string()});
            if *except_pod && *prefix < 32 {
                block["except"] = json!([format!("{ip}/32")]);
            }
            json!({"ipBlock": block})
        }
    }
}

fn port_json(p: &Port) -> Value {
    match p {
        Port::Num(n) => json!({"protocol": "TCP", "port": n}),
        Port::Range(a, b) => json!({"protocol": "TCP", "port": a, "endPort": b}),
        Port::Named(n) if *n == "dns" => json!({"protocol": "UDP", "port": n}),
        Port::Named(n) => json!({"protocol": "TCP", "port": n}),
        Port::Udp53 => json!({"protocol": "UDP", "port": 53}),
        Port::AllTcp => json!({"protocol": "TCP"}),
    }
}

/// The case as a scenario document (format_version 1), without probes.
fn scenario(case: &Case) -> Value {
    let namespaces: Vec<Value> = NAMESPACES
        .iter()
        .enumerate()
        .map(|(i, n)| {
            json!({"name": n, "labels": {"kubernetes.io/metadata.name": n, "env": if i == 0 { "prod" } else { "dev" }}})
        })
        .collect();
    let pods: Vec<Value> = case
        .pods
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut labels = json!({"app": APPS[p.app]});
            if p.role {
                labels["role"] = json!("db");
            }
            let mut ports = vec![
                json!({"port": 80, "protocol": "TCP", "name": "http"}),
                json!({"port": 8080, "protocol": "TCP"}),
                json!({"port": 53, "protocol": "UDP", "name": "dns"}),
            ];
            ports.push(if p.web {
                json!({"port": 81, "protocol": "TCP", "name": "web"})
            } else {
                json!({"port": 81, "protocol": "TCP"})
            });
            json!({"namespace": NAMESPACES[p.ns], "name": format!("p{i}"), "labels": labels,
                   "ip": pod_ip(case, i), "ports": ports})
        })
        .collect();
    let mut resources = Vec::new();
    for (i, a) in case.acnps.iter().enumerate() {
        let tier = TIERS[a.tier];
        let mut ingress = Vec::new();
        let mut egress = Vec::new();
        for (j, r) in a.rules.iter().enumerate() {
            let mut action = ["Allow", "Drop", "Pass", "Reject"][r.action];
            if action == "Pass" && tier == "baseline" {
                action = "Drop";
            }
            let mut rule = json!({"name": format!("r{j}"), "action": action});
            if let Some(peers) = &r.peers {
                let key = if r.ingress { "from" } else { "to" };
                rule[key] = Value::Array(peers.iter().map(|p| peer_json(case, p)).collect());
            }
            if let Some(ports) = &r.ports {
                rule["ports"] = Value::Array(ports.iter().map(port_json).collect());
            }
            if r.ingress {
                ingress.push(rule)
            } else {
                egress.push(rule)
            }
        }
        resources.push(json!({
            "apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
            "metadata": {"name": format!("acnp{i}")},
            "spec": {"tier": tier, "priority": a.priority,
                     "appliedTo": [{"namespaceSelector": ns_sel_json(&a.applied.0), "podSelector": sel_json(&a.applied.1)}],
                     "ingress": ingress, "egress": egress}}));
    }
    for (i, k) in case.k8s.iter().enumerate() {
        let types: Vec<&str> = match k.types {
            0 => vec!["Ingress"],
            1 => vec!["Egress"],
            _ => vec!["Ingress", "Egress"],
        };
        let rules = |rs: &[K8sRule], key: &str| -> Vec<Value> {
            rs.iter()
                .map(|(peers, ports)| {
                    let mut r = json!({});
                    if let Some(p) = peers {
                        r[key] = Value::Array(p.iter().map(|p| peer_json(case, p)).collect());
                    }
                    if let Some(p) = ports {
                        r["ports"] = Value::Array(p.iter().map(port_json).collect());
                    }
                    r
                })
                .collect()
        };
        resources.push(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": format!("np{i}"), "namespace": NAMESPACES[k.ns]},
            "spec": {"podSelector": sel_json(&k.sel), "policyTypes": types,
                     "ingress": rules(&k.ingress, "from"), "egress": rules(&k.egress, "to")}}));
    }
    json!({"format_version": 1, "id": "kakine-99-differential-failure", "title": "shrunk differential case",
           "cluster": {"namespaces": namespaces, "pods": pods},
           "steps": [{"name": "random", "resources": resources, "probes": []}]})
}

/// Runs every probe of the case through the reference evaluator and `engine`; returns the
/// mismatches as scenario probes (with the reference verdict as `expect`) and the scenario itself.
fn compare(case: &Case) -> Result<(), String> {
    compare_with(case, Engine::Sim)
}

fn compare_with(case: &Case, engine: Engine) -> Result<(), String> {
    let doc = scenario(case);
    let cluster: Cluster = serde_json::from_value(json!({
        "namespaces": doc["cluster"]["namespaces"], "pods": doc["cluster"]["pods"]}))
    .map_err(|e| format!("cluster: {e}"))?;
    let mut objects = PolicySet::default();
    for r in doc["steps"][0]["resources"].as_array().unwrap() {
        match parse_document(r, Path::new("random.yaml")).map_err(|e| e.to_string())? {
            Parsed::Object(o) => objects.push(*o),
            Parsed::Cluster(_) => unreachable!(),
        }
    }
    let resolved = resolve(&cluster, &objects).map_err(|e| e.to_string())?;
    let mut reference = Oracle::new(Engine::Reference, &resolved)?;
    let mut backend = Backend::start(engine, &cluster)?;
    let mut sim = backend.load(&resolved)?;
    let keys: Vec<PodKey> = resolved.pods.iter().map(|p| p.key.clone()).collect();
    let mut bad = Vec::new();
    for from in &keys {
        for to in &keys {
            if from == to {
                continue;
            }
            for (protocol, port) in PROBES {
                let probe = Probe {
                    from: from.clone(),
                    to: Destination::Pod(to.clone()),
                    protocol,
                    port,
                    source_port: None,
                };
                let r = reference.decide(&probe)?;
                let s = sim.decide(&probe)?;
                if r.verdict != s.verdict || r.egress != s.egress || r.ingress != s.ingress {
                    bad.push(json!({
                        "from": from.to_string(), "to": to.to_string(), "port": port,
                        "protocol": if protocol == Protocol::Tcp { "TCP" } else { "UDP" },
                        "expect": r.verdict.to_string(),
                        "note": format!("{engine:?}: {} (egress {:?}, ingress {:?}); reference egress {:?}, ingress {:?}",
                            s.verdict, s.egress.map(|r| r.to_string()), s.ingress.map(|r| r.to_string()),
                            r.egress.map(|r| r.to_string()), r.ingress.map(|r| r.to_string()))
                    }));
                }
            }
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    let mut doc = doc;
    let n = bad.len();
    doc["steps"][0]["probes"] = Value::Array(bad);
    Err(format!(
        "{n} probes differ between the reference evaluator and the compiled flows on {engine:?}:\n{}",
        serde_json::to_string_pretty(&doc).unwrap()
    ))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(1000),
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn compiled_flows_on_the_fake_switch_agree_with_the_reference_evaluator(case in case()) {
        if let Err(e) = compare(&case) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// The first `OVS_DIFFERENTIAL_CASES` (default 10) cases of a fixed-seed generator, realized by
/// the agent on a sandbox OVS and traced: the same verdicts and deciding rules as the evaluator.
/// Fails (never skips) without Open vSwitch.
#[test]
fn compiled_flows_on_a_real_ovs_agree_with_the_reference_evaluator_on_a_random_sample() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let n: usize = std::env::var("OVS_DIFFERENTIAL_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(10);
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let mut probed_rules = 0;
    for i in 0..n {
        let case = case()
            .new_tree(&mut runner)
            .expect("a random case")
            .current();
        probed_rules += case.acnps.len() + case.k8s.len();
        if let Err(e) = compare_with(&case, Engine::Ovs(OvsMode::Trace)) {
            panic!("random case {i} of the fixed seed: {e}");
        }
    }
    assert!(probed_rules > 0, "the sample has no policy at all");
}
