//! The cluster model's identity and topology checks, wherever a model is read: `kakinectl
//! validate` (a `Cluster` document), scenarios (`kakinectl test`, every engine) and the agent's
//! per-object acceptance. Each case asserts the exact object, field and message.

use std::path::{Path, PathBuf};

use kakine::agent::accept::{accept, parse_file, Enforced, FileDocs, LastGood, Outcome};
use kakine::lab::engine::{Backend, Engine, OvsMode};
use kakine::lab::scenario::{read_scenario, run_files};
use kakine::policy::validate_input::{validate_paths, Report};
use kakine::policy::PolicyError;

/// A `Cluster` document: `nodes` and `pods` in YAML flow style, one namespace `x`.
fn cluster(nodes: &[impl AsRef<str>], pods: &[impl AsRef<str>]) -> String {
    format!(
        "apiVersion: kakine.io/v1alpha1\nkind: Cluster\nnodes: [{}]\nnamespaces: [{{name: x}}]\npods: [{}]\n",
        list(nodes),
        list(pods)
    )
}

fn list(items: &[impl AsRef<str>]) -> String {
    let v: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    v.join(", ")
}

/// No nodes, or no pods.
const NONE: [&str; 0] = [];

fn node(name: &str, cidrs: &str) -> String {
    let host = name.trim_start_matches('n');
    format!("{{name: {name}, ip: 192.168.77.{host}, podCIDRs: [{cidrs}]}}")
}

fn pod(name: &str, ip: &str, node: &str) -> String {
    format!("{{namespace: x, name: {name}, ip: {ip}, node: {node}}}")
}

/// `validate` of files (name, text) in one directory.
fn validate(files: &[(&str, String)]) -> Report {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    validate_paths(&[dir.path().to_path_buf()])
}

/// (file name, object, field, message) of each finding of a report's JSON list.
fn findings(report: &Report, list: &str) -> Vec<(String, String, String, String)> {
    report.to_json()[list]
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            let file = Path::new(&s("file"))
                .file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default();
            (file, s("object"), s("field"), s("message"))
        })
        .collect()
}

fn finding(
    file: &str,
    field: &str,
    message: impl Into<String>,
) -> (String, String, String, String) {
    (file.into(), "Cluster".into(), field.into(), message.into())
}

/// The error of two nodes' overlapping pod CIDRs.
fn overlap(first: &str, second: &str, a: &str, b: &str) -> String {
    format!(
        "nodes \"{first}\" and \"{second}\" have overlapping pod CIDRs {a} and {b} (a pod CIDR \
         belongs to one node: the others route its addresses to that node)"
    )
}

const DUPLICATE_IP: &str = "pod x/b: IP 10.0.0.1 is already pod x/a's";

#[test]
fn a_pod_on_a_node_the_nodes_list_lacks_is_refused_naming_the_pod_field_and_known_nodes() {
    let r = validate(&[(
        "cluster.yaml",
        cluster(
            &["{name: n1}", "{name: n2}"],
            &[pod("a", "10.0.0.1", "n1"), pod("b", "10.0.0.2", "n9")],
        ),
    )]);
    assert_eq!(
        findings(&r, "errors"),
        vec![finding(
            "cluster.yaml",
            "pods[1].node",
            "pod x/b: node \"n9\" is not in the cluster model's nodes (its nodes: n1, n2)"
        )]
    );
    // Without a nodes list, the nodes pods name are the model's.
    let r = validate(&[(
        "cluster.yaml",
        cluster(
            &NONE,
            &[pod("a", "10.0.0.1", "n1"), pod("b", "10.0.0.2", "n9")],
        ),
    )]);
    assert!(r.errors.is_empty(), "{}", r.to_text());
}

#[test]
fn overlapping_pod_cidrs_of_two_nodes_are_refused_naming_both_nodes_and_cidrs() {
    let nodes = [
        node("n1", "10.0.0.0/16"),
        node("n2", "10.1.0.0/24, 10.0.3.0/24"),
        node("n3", "10.1.0.0/24"),
        // A node's own nested CIDRs are no clash.
        node("n4", "10.2.0.0/16, 10.2.1.0/24"),
    ];
    // The nodes in a second Cluster document: the field is that document's.
    let r = validate(&[
        ("a.yaml", cluster(&NONE, &NONE)),
        ("b.yaml", cluster(&nodes, &NONE)),
    ]);
    assert_eq!(
        findings(&r, "errors"),
        vec![
            finding(
                "b.yaml",
                "nodes[1].podCIDRs[1]",
                overlap("n1", "n2", "10.0.0.0/16", "10.0.3.0/24")
            ),
            finding(
                "b.yaml",
                "nodes[2].podCIDRs[0]",
                overlap("n2", "n3", "10.1.0.0/24", "10.1.0.0/24")
            ),
        ]
    );
}

#[test]
fn every_problem_of_a_cluster_document_is_reported_at_once() {
    let r = validate(&[(
        "cluster.yaml",
        cluster(
            &[node("n1", "10.0.0.0/24"), node("n2", "10.0.0.128/25")],
            &[pod("a", "10.0.0.1", "n1"), pod("b", "10.0.0.1", "n3")],
        ),
    )]);
    assert_eq!(
        findings(&r, "errors"),
        vec![
            finding("cluster.yaml", "pods[1].ip", DUPLICATE_IP),
            finding(
                "cluster.yaml",
                "pods[1].node",
                "pod x/b: node \"n3\" is not in the cluster model's nodes (its nodes: n1, n2)"
            ),
            finding(
                "cluster.yaml",
                "nodes[1].podCIDRs[0]",
                overlap("n1", "n2", "10.0.0.0/24", "10.0.0.128/25")
            ),
        ]
    );
}

#[test]
fn a_pod_ip_outside_its_nodes_pod_cidr_is_a_warning_naming_the_pod() {
    let r = validate(&[(
        "cluster.yaml",
        cluster(
            &[node("n1", "10.0.1.0/24"), node("n2", "10.0.2.0/24")],
            &[
                pod("home", "10.0.1.5", "n1"),
                pod("lost", "10.9.0.5", "n1"),
                pod("astray", "10.0.2.7", "n1"),
                "{namespace: x, name: host, ip: 192.168.77.1, node: n1, host_network: true}".into(),
            ],
        ),
    )]);
    assert!(r.errors.is_empty(), "{}", r.to_text());
    assert_eq!(
        findings(&r, "warnings"),
        vec![
            finding(
                "cluster.yaml",
                "pods[1].ip",
                "pod x/lost: IP 10.9.0.5 is outside every node's pod CIDR: other nodes cannot \
                 route to it"
            ),
            finding(
                "cluster.yaml",
                "pods[2].ip",
                "pod x/astray: IP 10.0.2.7 is in node \"n2\"'s pod CIDR 10.0.2.0/24, not in that \
                 of its node \"n1\": other nodes route it to \"n2\""
            ),
        ]
    );
    // Nodes without pod CIDRs say nothing about pod addresses.
    let r = validate(&[(
        "cluster.yaml",
        cluster(&["{name: n1}"], &[pod("lost", "10.9.0.5", "n1")]),
    )]);
    assert_eq!(r.errors.len() + r.warnings.len(), 0, "{}", r.to_text());
}

#[test]
fn a_pod_without_a_node_in_a_model_of_several_nodes_is_a_warning() {
    let r = validate(&[(
        "cluster.yaml",
        cluster(
            &["{name: n1}", "{name: n2}"],
            &[
                pod("placed", "10.0.1.5", "n1"),
                "{namespace: x, name: drifter, ip: 10.0.1.6}".into(),
                "{namespace: x, name: host, ip: 192.168.77.1, host_network: true}".into(),
            ],
        ),
    )]);
    assert!(r.errors.is_empty(), "{}", r.to_text());
    assert_eq!(
        findings(&r, "warnings"),
        vec![
            finding(
                "cluster.yaml",
                "pods[1].node",
                "pod x/drifter: no node in a model of 2 nodes: every node's agent takes it as \
                 its own (give it its node)"
            ),
            // n1 hosts a pod and has no pod CIDR; n2 hosts none.
            finding(
                "cluster.yaml",
                "nodes[0].podCIDR",
                "node n1: no podCIDR in a model of 2 nodes: the other nodes have no route to \
                 its pods (traffic to them from another node is dropped)"
            ),
        ]
    );
    // One node (or none): a pod without a node is that node's, as standalone models write it.
    let r = validate(&[(
        "cluster.yaml",
        cluster(&["{name: n1}"], &["{namespace: x, name: d, ip: 10.0.1.6}"]),
    )]);
    assert_eq!(r.errors.len() + r.warnings.len(), 0, "{}", r.to_text());
}

/// A scenario file whose cluster is `cluster` (flow style), one step with one probe.
fn scenario(dir: &Path, cluster: &str) -> PathBuf {
    let path = dir.join("case.yaml");
    let text = format!(
        "id: case\ncluster: {cluster}\nsteps:\n- name: s\n  probes:\n  - {{from: x/a, to: x/b, port: 80, protocol: TCP, expect: allow}}\n"
    );
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn a_scenario_with_a_pod_ip_twice_is_refused_by_the_reader_and_by_every_engine() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = scenario(
        dir.path(),
        "{namespaces: [{name: x}], pods: [{namespace: x, name: a, ip: 10.0.0.1}, {namespace: x, name: b, ip: 10.0.0.1}]}",
    );
    let e = read_scenario(&path).expect_err("a duplicate IP");
    assert_eq!(
        e.to_string(),
        format!("{}: cluster.pods[1].ip: {DUPLICATE_IP}", path.display())
    );
    let mut out = Vec::new();
    let summary = run_files(std::slice::from_ref(&path), &mut out, false).expect("a Vec");
    assert_eq!((summary.passed, summary.failed), (0, 1));
    let report = String::from_utf8(out).expect("UTF-8");
    assert!(
        report.contains(&format!("FAIL  cannot read scenario: {e}")),
        "{report}"
    );
    // The engines refuse such a model before starting anything (no sandbox, no node lab).
    let model = read_scenario_unchecked(&path);
    for engine in [
        Engine::Reference,
        Engine::Ovs(OvsMode::Traffic),
        Engine::Cluster {
            nodes: 2,
            mode: OvsMode::Traffic,
        },
    ] {
        match Backend::start(engine, &model) {
            Err(e) => assert_eq!(
                e,
                format!("cluster.pods[1].ip: {DUPLICATE_IP}"),
                "{engine:?}"
            ),
            Ok(_) => panic!("{engine:?} accepted a pod IP twice"),
        }
    }
}

/// The scenario's cluster as written, without the reader's checks.
fn read_scenario_unchecked(path: &Path) -> kakine::policy::Cluster {
    let text = std::fs::read_to_string(path).expect("read");
    let docs = kakine::policy::load::parse_documents(path, &text).expect("YAML");
    serde_json::from_value(docs[0]["cluster"].clone()).expect("a cluster")
}

#[test]
fn a_scenario_pod_on_an_unknown_node_names_the_pod_and_every_problem_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = scenario(
        dir.path(),
        "{nodes: [{name: n1}], namespaces: [{name: x}], pods: [{namespace: x, name: a, ip: 10.0.0.1, node: n2}, {namespace: x, name: b, ip: 10.0.0.1, node: n1}]}",
    );
    let e = read_scenario(&path).expect_err("two problems");
    let PolicyError::Several { errors } = e else {
        panic!("expected every problem at once, got {e}");
    };
    let p = path.display();
    assert_eq!(
        errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec![
            format!("{p}: cluster.pods[1].ip: {DUPLICATE_IP}"),
            format!(
                "{p}: cluster.pods[0].node: pod x/a: node \"n2\" is not in the cluster model's \
                 nodes (its nodes: n1)"
            ),
        ]
    );
}

fn accept_files(files: &[(&str, String)], last: &LastGood) -> Outcome {
    let parsed: Vec<(PathBuf, FileDocs)> = files
        .iter()
        .map(|(n, t)| {
            let p = PathBuf::from(format!("in/{n}"));
            let d = parse_file(&p, t);
            (p, d)
        })
        .collect();
    let borrowed: Vec<(&Path, &FileDocs)> = parsed.iter().map(|(p, d)| (p.as_path(), d)).collect();
    accept(&borrowed, last).expect("an enforceable input")
}

/// The agent refuses a topology problem as input, one `Cluster` document at a time (the unit
/// of the model it accepts or refuses), keeping that document's last good version, instead of
/// retrying the datapath on "overlapping pod CIDRs".
#[test]
fn the_agent_refuses_the_cluster_document_with_a_topology_problem_and_keeps_its_last_good_version()
{
    let nodes = |second: &str| cluster(&[node("n1", "10.0.1.0/24"), node("n2", second)], &NONE);
    let pods = |extra: &str| {
        let mut p = vec![pod("a", "10.0.1.5", "n1")];
        if !extra.is_empty() {
            p.push(extra.to_string());
        }
        cluster(&NONE, &p)
    };
    let first = accept_files(
        &[
            ("nodes.yaml", nodes("10.0.2.0/24")),
            ("pods.yaml", pods("")),
        ],
        &LastGood::default(),
    );
    assert!(first.refused.is_empty(), "{:?}", first.refused);

    // A new pod on a node nobody declared: its document is refused, the other one lands.
    let next = accept_files(
        &[
            ("nodes.yaml", nodes("10.0.2.0/24")),
            ("pods.yaml", pods(&pod("b", "10.0.2.5", "n9"))),
        ],
        &first.accepted,
    );
    let refused: Vec<_> = next
        .refused
        .iter()
        .map(|r| (r.object.as_str(), r.enforced, r.reason.as_str()))
        .collect();
    assert_eq!(
        refused,
        vec![(
            "Cluster.kakine.io in/pods.yaml",
            Enforced::LastGood,
            "in/pods.yaml: Cluster: pods[1].node: pod x/b: node \"n9\" is not in the cluster \
             model's nodes (its nodes: n1, n2)"
        )]
    );
    assert_eq!(next.cluster, first.cluster);

    // A node's pod CIDR over another's: the nodes document is refused, naming both.
    let next = accept_files(
        &[
            ("nodes.yaml", nodes("10.0.0.0/16")),
            ("pods.yaml", pods("")),
        ],
        &first.accepted,
    );
    let refused: Vec<_> = next
        .refused
        .iter()
        .map(|r| (r.object.as_str(), r.enforced, r.reason.as_str()))
        .collect();
    assert_eq!(
        refused,
        vec![(
            "Cluster.kakine.io in/nodes.yaml",
            Enforced::LastGood,
            "in/nodes.yaml: Cluster: nodes[1].podCIDRs[0]: nodes \"n1\" and \"n2\" have \
             overlapping pod CIDRs 10.0.1.0/24 and 10.0.0.0/16 (a pod CIDR belongs to one node: \
             the others route its addresses to that node)"
        )]
    );
    assert_eq!(next.cluster, first.cluster);
}
