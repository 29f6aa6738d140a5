//! `kakinectl diff`: the cells a change alters with their rules before and after, the flow
//! delta per node, the exit status; and, over random changes, the diff is exactly the
//! difference of the two matrices.

use std::path::{Path, PathBuf};
use std::process::Command;

use kakine::analysis::diff::{cells, diff, flow_delta};
use kakine::analysis::matrix::declared_services;
use kakine::analysis::{matrix, ServiceSpec};
use kakine::policy::load::{parse_document, parse_documents, Parsed};
use kakine::policy::resolved::Protocol;
use kakine::policy::{resolve, Input, PolicySet};
use proptest::prelude::*;
use serde_json::Value;

fn example_documents() -> Vec<Value> {
    let path = Path::new("examples/policies.yaml");
    parse_documents(path, &std::fs::read_to_string(path).unwrap()).unwrap()
}

fn input_of(docs: &[Value]) -> Input {
    let cluster = kakine::policy::load_dir(Path::new("examples"))
        .unwrap()
        .cluster;
    let mut objects = PolicySet::default();
    for d in docs {
        match parse_document(d, Path::new("t.yaml")).unwrap() {
            Parsed::Object(o) => objects.push(*o),
            Parsed::Cluster(_) => unreachable!(),
        }
    }
    Input { cluster, objects }
}

/// The examples with the db NetworkPolicy's second peer (db's own pods) removed.
fn after_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kakine-diff-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy("examples/cluster.yaml", dir.join("cluster.yaml")).unwrap();
    let policies = std::fs::read_to_string("examples/policies.yaml")
        .unwrap()
        .replace("    - podSelector: {}\n    ports:", "    ports:");
    std::fs::write(dir.join("policies.yaml"), policies).unwrap();
    dir
}

fn kakinectl(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kakinectl"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn narrowing_a_network_policy_shows_the_cells_it_closes_with_both_rules_and_exits_1() {
    let after = after_dir();
    let (code, out) = kakinectl(&["diff", "examples", after.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        out,
        "2 of 90 cells change verdict
  db/backup -> db/postgres TCP/5432: allow -> deny
    before: allow (egress: default allow; ingress: NetworkPolicy k8s/db/postgres-clients/ingress-0)
    after:  deny (egress: default allow; ingress: isolation by db/postgres-clients)
  db/postgres -> db/backup TCP/5432: allow -> deny
    before: allow (egress: default allow; ingress: NetworkPolicy k8s/db/postgres-clients/ingress-0)
    after:  deny (egress: default allow; ingress: isolation by db/postgres-clients)
flows per node (added ~changed -deleted):
  *: +0 ~0 -2 (flows 98 -> 96, rules 6 -> 6)
"
    );
    let (code, json) = kakinectl(&["diff", "examples", after.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["cells"].as_array().unwrap().len(), 2);
    assert_eq!(v["nodes"][0]["deleted"], 2);
    // A policy file against a directory: the model comes from the directory; nothing changes.
    let (code, out) = kakinectl(&["diff", "examples", "examples/policies.yaml"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("0 of 90 cells change verdict\n"), "{out}");
    // An error is 2, not a "changed".
    let (code, _) = kakinectl(&["diff", "examples", "/nonexistent"]);
    assert_eq!(code, 2);
    std::fs::remove_dir_all(after).unwrap();
}

#[test]
fn the_flow_delta_is_counted_per_node_and_spares_the_nodes_a_change_does_not_reach() {
    let mut before = input_of(&example_documents());
    // db's pods on node b, everyone else on node a.
    for pod in &mut before.cluster.pods {
        pod.node = Some(if pod.namespace == "db" { "b" } else { "a" }.to_string());
    }
    let mut docs = example_documents();
    docs.retain(|d| d["metadata"]["name"] != "frontend-calls-api");
    let after = Input {
        cluster: before.cluster.clone(),
        objects: input_of(&docs).objects,
    };
    let nodes = flow_delta(&before, &after).unwrap();
    let by = |n: &str| nodes.iter().find(|d| d.node == n).unwrap().clone();
    // Node a's view (api's two policies) loses the removed rule; node b's view (db's four
    // rules) never held it: not a flow changes there.
    assert_eq!(by("a").rules, (2, 1));
    assert!(by("a").deleted > 0, "{:?}", by("a"));
    assert_eq!(by("b").rules, (4, 4));
    assert_eq!((by("b").added, by("b").deleted), (0, 0), "{:?}", by("b"));
}

#[derive(Debug, Clone)]
struct Variant {
    keep: Vec<bool>,
    flip: Vec<u8>,
}

fn variant() -> impl Strategy<Value = Variant> {
    (
        proptest::collection::vec(any::<bool>(), 6),
        proptest::collection::vec(0u8..4, 6),
    )
        .prop_map(|(keep, flip)| Variant { keep, flip })
}

/// The examples, some policies left out and some first rules' actions changed.
fn docs_of(v: &Variant) -> Vec<Value> {
    let mut out = Vec::new();
    for (i, mut d) in example_documents().into_iter().enumerate() {
        if !v.keep[i] {
            continue;
        }
        if d["kind"] == "ClusterNetworkPolicy" {
            let baseline = d["spec"]["tier"] == "baseline";
            let actions = if baseline {
                ["Allow", "Drop", "Reject", "Drop"]
            } else {
                ["Allow", "Drop", "Reject", "Pass"]
            };
            d["spec"]["ingress"][0]["action"] = Value::from(actions[v.flip[i] as usize]);
        }
        out.push(d);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_diff_is_exactly_the_difference_of_the_two_matrices(a in variant(), b in variant()) {
        let (ia, ib) = (input_of(&docs_of(&a)), input_of(&docs_of(&b)));
        let ra = resolve(&ia.cluster, &ia.objects).unwrap();
        let rb = resolve(&ib.cluster, &ib.objects).unwrap();
        let mut services = declared_services(&ra);
        services.push(ServiceSpec::Icmp(8, 0));
        services.push(ServiceSpec::Port(Protocol::Udp, 53));
        let (ma, mb) = (matrix(&ra, &services), matrix(&rb, &services));
        let d = diff((&ia, &ma), (&ib, &mb)).unwrap();
        prop_assert_eq!(d.compared, ma.cells.len());
        let mut expected = Vec::new();
        for (x, y) in ma.cells.iter().zip(&mb.cells) {
            prop_assert_eq!((&x.from, &x.to, x.service), (&y.from, &y.to, y.service));
            if x.verdict != y.verdict {
                expected.push((x.from.clone(), x.to.clone(), services[x.service].to_string(), x.verdict, y.verdict));
            }
        }
        let got: Vec<_> = d
            .cells
            .iter()
            .filter(|c| c.verdict_changes())
            .map(|c| (c.from.clone(), c.to.clone(), c.service.clone(), c.before.as_ref().unwrap().verdict, c.after.as_ref().unwrap().verdict))
            .collect();
        let mut sorted = got.clone();
        sorted.sort_by(|x, y| (&x.2, &x.0, &x.1).cmp(&(&y.2, &y.0, &y.1)));
        expected.sort_by(|x, y| (&x.2, &x.0, &x.1).cmp(&(&y.2, &y.0, &y.1)));
        prop_assert_eq!(sorted, expected);
        prop_assert_eq!(d.verdicts_change(), !got.is_empty());
        // Unchanged inputs: nothing changes, not a flow.
        let same = diff((&ia, &ma), (&ia, &ma)).unwrap();
        prop_assert!(same.cells.is_empty());
        prop_assert!(same.nodes.iter().all(|n| n.added + n.deleted == 0));
        // The diff is antisymmetric.
        let (back, _) = cells(&mb, &ma);
        prop_assert_eq!(back.len(), d.cells.len());
    }
}
