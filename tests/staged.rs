//! Staged policies (`enforcementMode: Audit`): reported by the evaluator and the walkthrough,
//! compiled into flows that count and log what they would do, and never changing a verdict, on
//! the reference evaluator and on the compiled flows (property over random cases).

use std::path::Path;

use kakine::analysis::{matrix, walk, Endpoint, PortSpec, Query, ServiceSpec};
use kakine::datapath::compiler::{self, cookie};
use kakine::datapath::pipeline::packet_in;
use kakine::lab::engine::{Engine, Oracle};
use kakine::policy::load::{parse_document, parse_documents, Parsed};
use kakine::policy::resolved::{PodKey, Protocol, RuleAction};
use kakine::policy::{resolve, Cluster, Destination, PolicySet, Probe, ResolvedPolicies, Verdict};
use openflow::sim::{FakeSwitch, Packet};
use proptest::prelude::*;
use serde_json::{json, Value};

fn cluster() -> Cluster {
    kakine::policy::load_dir(Path::new("examples"))
        .unwrap()
        .cluster
}

fn example_documents() -> Vec<Value> {
    let path = Path::new("examples/policies.yaml");
    parse_documents(path, &std::fs::read_to_string(path).unwrap()).unwrap()
}

fn resolved(docs: &[Value]) -> ResolvedPolicies {
    let mut objects = PolicySet::default();
    for d in docs {
        match parse_document(d, Path::new("t.yaml")).unwrap() {
            Parsed::Object(o) => objects.push(*o),
            Parsed::Cluster(_) => unreachable!(),
        }
    }
    resolve(&cluster(), &objects).unwrap()
}

fn ns(name: &str) -> Value {
    json!({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}})
}

/// A staged policy on api/reports: its egress to db would drop (logged), its ingress from web
/// would allow.
fn lock_down_reports() -> Value {
    json!({
        "apiVersion": "crd.kakine.io/v1beta1",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "lock-down-reports"},
        "spec": {
            "tier": "securityops",
            "priority": 5,
            "enforcementMode": "Audit",
            "appliedTo": [{"podSelector": {"matchLabels": {"app": "reports"}}}],
            "egress": [{"name": "drop-db", "action": "Drop", "enableLogging": true, "to": [ns("db")]}],
            "ingress": [{"name": "allow-web", "action": "Allow", "from": [ns("web")]}],
        }
    })
}

fn key(s: &str) -> PodKey {
    let (namespace, name) = s.split_once('/').unwrap();
    PodKey {
        namespace: namespace.into(),
        name: name.into(),
    }
}

#[test]
fn a_staged_drop_is_reported_as_would_drop_and_changes_no_verdict() {
    let mut docs = example_documents();
    docs.push(lock_down_reports());
    let p = resolved(&docs);
    let q = Query {
        from: Endpoint::parse("api/reports").unwrap(),
        to: Endpoint::parse("api/orders").unwrap(),
        protocol: Protocol::Tcp,
        port: PortSpec::Number(8080),
        source_port: None,
    };
    // Not to db: the staged rule does not match, nothing is reported.
    let w = walk(&p, &q).unwrap();
    assert_eq!(w.cases[0].egress.staged, None);
    let w = walk(
        &p,
        &Query {
            to: Endpoint::parse("db/postgres").unwrap(),
            port: PortSpec::Number(5432),
            ..q
        },
    )
    .unwrap();
    let c = &w.cases[0];
    assert_eq!(c.decision.verdict, Verdict::Deny); // the isolation, as without the staged policy
    assert_eq!(c.decision.egress, None);
    let (rule, action) = c.egress.staged.clone().unwrap();
    assert_eq!((rule.rule.as_str(), action), ("drop-db", RuleAction::Drop));
    assert!(w.to_string().contains(
        "    staged: ClusterNetworkPolicy securityops/lock-down-reports/drop-db would drop this traffic if enforced\n"
    ));
    // The matrix, every cell, equals the examples' own.
    let services = [
        ServiceSpec::Port(Protocol::Tcp, 5432),
        ServiceSpec::Port(Protocol::Tcp, 8080),
    ];
    let with = matrix(&p, &services);
    let without = matrix(&resolved(&example_documents()), &services);
    let verdicts =
        |m: &kakine::analysis::Matrix| m.cells.iter().map(|c| c.verdict).collect::<Vec<_>>();
    assert_eq!(verdicts(&with), verdicts(&without));
    // The evaluator's and the flows' reports agree, and are not empty.
    let probes = probes(&p);
    let (reference, sim) = staged_reports(&p, &probes);
    assert_eq!(reference, sim);
    let reported = |dir: usize, rule: &str| {
        reference
            .iter()
            .filter(|r| r[dir].as_deref() == Some(rule))
            .count()
    };
    // api/reports to db's two pods on 5 services; web's two pods to api/reports on 5.
    assert_eq!(reported(0, "securityops/lock-down-reports/drop-db"), 10);
    assert_eq!(reported(1, "securityops/lock-down-reports/allow-web"), 10);
}

#[test]
fn the_compiled_staged_rule_counts_and_logs_its_hit_and_the_packet_goes_where_the_enforced_rules_send_it(
) {
    let mut docs = example_documents();
    docs.push(lock_down_reports());
    let p = resolved(&docs);
    let local = compiler::offline_pods(&p);
    let compiled = compiler::compile(&p, &local, 1).unwrap();
    let staged = compiled
        .rules
        .iter()
        .find(|r| r.staged && r.rule.rule == "drop-db")
        .unwrap();
    let mut sw = FakeSwitch::new();
    for f in &compiled.flows {
        sw.apply(f).unwrap();
    }
    let pod = |k: &str| local.iter().find(|p| p.key == key(k)).unwrap();
    let (from, to, other) = (pod("api/reports"), pod("db/postgres"), pod("api/orders"));
    let send = |sw: &mut FakeSwitch, to: &compiler::LocalPod, port: u16| {
        sw.conntrack_mut().flush();
        sw.trace(&Packet::tcp(
            from.ofport,
            from.mac,
            to.mac,
            from.ip,
            to.ip,
            40000,
            port,
        ))
        .unwrap()
    };
    let t = send(&mut sw, to, 5432);
    // Counted: the packet hit the staged rule's conj_id flow; logged: a "log + staged" copy.
    let staged_hits = t
        .steps
        .iter()
        .filter(|s| {
            s.conj_id.is_some() && cookie::split(s.cookie) == (1, cookie::POLICY, staged.id)
        })
        .count();
    assert_eq!(staged_hits, 1, "{t:#?}");
    assert!(t.verdict.packet_ins.iter().any(
        |u| packet_in::parse(u) == Some((packet_in::OP_LOG | packet_in::OP_STAGED, staged.id))
    ));
    // Never enforced: db/postgres's isolation still drops it, as without the staged policy.
    assert!(!t.verdict.is_output_to(to.ofport));
    // And to api/orders (not db) the staged rule is not reached: no hit, no copy, delivered.
    let t = send(&mut sw, other, 8080);
    assert!(t.verdict.is_output_to(other.ofport));
    assert!(t.verdict.packet_ins.is_empty(), "{:?}", t.verdict);
}

#[derive(Debug, Clone)]
struct Case {
    /// Per example policy: left out (0), kept enforced (1), kept staged (2), its first rule
    /// staged (3), or its first rule an enforced Reject (4).
    mode: Vec<u8>,
    /// A staged extra policy: tier, action, applied-to and peer namespaces, direction.
    extra: (usize, usize, usize, usize, bool),
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(0u8..5, 6),
        (0usize..3, 0usize..4, 0usize..3, 0usize..3, any::<bool>()),
    )
        .prop_map(|(mode, extra)| Case { mode, extra })
}

fn documents(c: &Case) -> Vec<Value> {
    let mut out = Vec::new();
    for (mut d, mode) in example_documents().into_iter().zip(&c.mode) {
        match mode {
            0 => continue,
            2 if d["kind"] == "ClusterNetworkPolicy" => {
                d["spec"]["enforcementMode"] = json!("Audit")
            }
            3 if d["kind"] == "ClusterNetworkPolicy" => {
                d["spec"]["ingress"][0]["enforcementMode"] = json!("Audit")
            }
            4 if d["kind"] == "ClusterNetworkPolicy" => {
                d["spec"]["ingress"][0]["action"] = json!("Reject")
            }
            _ => {}
        }
        out.push(d);
    }
    let (tier, action, applied, peer, egress) = c.extra;
    let tier = ["securityops", "application", "baseline"][tier];
    let action = match (tier, ["Allow", "Drop", "Reject", "Pass"][action]) {
        ("baseline", "Pass") => "Drop",
        (_, a) => a,
    };
    let names = ["web", "api", "db"];
    let rule = json!({"name": "extra", "action": action, "enableLogging": true,
        if egress { "to" } else { "from" }: [ns(names[peer])]});
    out.push(json!({
        "apiVersion": "crd.kakine.io/v1beta1",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "staged-extra"},
        "spec": {
            "tier": tier,
            "priority": 1,
            "enforcementMode": "Audit",
            "appliedTo": [ns(names[applied])],
            if egress { "egress" } else { "ingress" }: [rule],
        }
    }));
    out
}

fn probes(p: &ResolvedPolicies) -> Vec<Probe> {
    let mut out = Vec::new();
    let services = [
        (Protocol::Tcp, 80),
        (Protocol::Tcp, 5432),
        (Protocol::Tcp, 8080),
        (Protocol::Udp, 53),
        (Protocol::Icmp, 0x0800),
    ];
    for a in &p.pods {
        for b in &p.pods {
            if a.key == b.key {
                continue;
            }
            for (protocol, port) in services {
                out.push(Probe {
                    from: a.key.clone(),
                    to: Destination::Pod(b.key.clone()),
                    protocol,
                    port,
                    source_port: None,
                });
            }
        }
    }
    out
}

fn verdicts(engine: Engine, p: &ResolvedPolicies, probes: &[Probe]) -> Vec<Verdict> {
    let mut oracle = Oracle::new(engine, p).unwrap();
    oracle
        .decide_all(probes)
        .into_iter()
        .map(|d| d.unwrap().verdict)
        .collect()
}

/// The staged rule reported for egress and for ingress.
type Reports = [Option<String>; 2];

/// Per probe, the staged rule each direction reports first: from the evaluator's walk, and
/// from the compiled flows (the first staged `conj_id` flow the packet hits per direction).
fn staged_reports(p: &ResolvedPolicies, probes: &[Probe]) -> (Vec<Reports>, Vec<Reports>) {
    use kakine::policy::evaluate::{evaluate_traced, Source};
    use kakine::policy::resolved::Direction;
    let local = compiler::offline_pods(p);
    let compiled = compiler::compile(p, &local, 1).unwrap();
    let mut sw = FakeSwitch::new();
    for f in &compiled.flows {
        sw.apply(f).unwrap();
    }
    let (mut reference, mut sim) = (Vec::new(), Vec::new());
    for probe in probes {
        let (d, t) = evaluate_traced(p, &Source::Pod(probe.from.clone()), probe);
        let name = |i: Option<usize>| i.map(|i| p.rules[i].id.to_string());
        // The pipeline meets the server's ingress only when the egress let the packet go.
        let egress_allowed = d.ingress.is_some() || d.verdict == Verdict::Allow;
        reference.push([
            name(t.egress.staged),
            if egress_allowed {
                name(t.ingress.staged)
            } else {
                None
            },
        ]);
        let Destination::Pod(to) = &probe.to else {
            unreachable!()
        };
        let (a, b) = (
            local.iter().find(|l| l.key == probe.from).unwrap(),
            local.iter().find(|l| &l.key == to).unwrap(),
        );
        sw.conntrack_mut().flush();
        let pkt = match probe.protocol {
            Protocol::Tcp => Packet::tcp(a.ofport, a.mac, b.mac, a.ip, b.ip, 40000, probe.port),
            Protocol::Udp => Packet::udp(a.ofport, a.mac, b.mac, a.ip, b.ip, 40000, probe.port),
            _ => Packet::icmp(a.ofport, a.mac, b.mac, a.ip, b.ip, 8, 0),
        };
        let trace = sw.trace(&pkt).unwrap();
        let mut hits: Reports = [None, None];
        for step in trace.steps.iter().filter(|s| s.conj_id.is_some()) {
            let (_, category, id) = cookie::split(step.cookie);
            let Some(r) = compiled.rules.iter().find(|r| r.id == id && r.staged) else {
                continue;
            };
            if category != cookie::POLICY {
                continue;
            }
            let slot = &mut hits[usize::from(r.direction == Direction::Ingress)];
            slot.get_or_insert(r.rule.to_string());
        }
        sim.push(hits);
    }
    (reference, sim)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn staged_rules_never_change_a_verdict_on_the_evaluator_or_the_compiled_flows(c in case()) {
        let with = resolved(&documents(&c));
        prop_assert!(with.rules.iter().any(|r| r.staged));
        let mut without = with.clone();
        without.rules.retain(|r| !r.staged);
        let probes = probes(&with);
        let expected = verdicts(Engine::Reference, &without, &probes);
        for engine in [Engine::Reference, Engine::Sim] {
            let got = verdicts(engine, &with, &probes);
            for ((probe, g), e) in probes.iter().zip(&got).zip(&expected) {
                prop_assert_eq!(g, e, "{:?}: {} -> {} {:?}/{}", engine, probe.from, probe.to, probe.protocol, probe.port);
            }
        }
        // What is counted and logged as "would" is what the evaluator reports, probe by probe.
        let (reference, sim) = staged_reports(&with, &probes);
        for ((probe, r), s) in probes.iter().zip(&reference).zip(&sim) {
            prop_assert_eq!(r, s, "{} -> {} {:?}/{}", probe.from, probe.to, probe.protocol, probe.port);
        }
    }
}

#[test]
fn diff_staged_shows_what_promoting_the_staged_rules_would_change() {
    let dir = std::env::temp_dir().join(format!("kakine-staged-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy("examples/cluster.yaml", dir.join("cluster.yaml")).unwrap();
    let mut docs = example_documents();
    docs.push(lock_down_reports());
    let yaml: Vec<String> = docs
        .iter()
        .map(|d| serde_json::to_string(d).unwrap())
        .collect();
    std::fs::write(dir.join("policies.yaml"), yaml.join("\n---\n")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kakinectl"))
        .args(["diff", "--staged", "-o", "json"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let changed: Vec<(String, String, String)> = v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["verdict_changes"] == true)
        .map(|c| {
            (
                c["from"].as_str().unwrap().to_string(),
                c["service"].as_str().unwrap().to_string(),
                c["after"]["ingress"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Promoted, allow-web opens api/reports to web's pods on the ports the baseline closed
    // (8080 from the frontend was already open); drop-db changes no verdict (db isolates).
    let allow = "ClusterNetworkPolicy securityops/lock-down-reports/allow-web".to_string();
    let mut expected = Vec::new();
    for service in ["TCP/80", "TCP/5432", "TCP/8080"] {
        for from in ["web/frontend", "web/admin"] {
            if !(from == "web/frontend" && service == "TCP/8080") {
                expected.push((from.to_string(), service.to_string(), allow.clone()));
            }
        }
    }
    let mut changed_sorted = changed.clone();
    changed_sorted.sort();
    expected.sort();
    assert_eq!(changed_sorted, expected);
    // Promoted, nothing is staged any more.
    let input = kakine::policy::load_dir(&dir).unwrap();
    let promoted = kakine::analysis::diff::enforce_staged(&input.objects);
    let p = resolve(&input.cluster, &promoted).unwrap();
    assert!(p.rules.iter().all(|r| !r.staged));
    std::fs::remove_dir_all(dir).unwrap();
}
