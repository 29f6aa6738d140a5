//! Runs every shared reachability scenario through resolve + evaluate.

use std::path::{Path, PathBuf};

use kakine::engine::Engine;
use kakine::scenario::{run_files, run_files_with};

fn case_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/cases");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "the shared scenario directory {} is missing: {e}",
            dir.display()
        )
    });
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scenario in {}", dir.display());
    files
}

#[test]
fn every_in_scope_shared_case_passes_and_unsupported_ones_name_their_feature() {
    let files = case_files();
    let mut out = Vec::new();
    let summary = run_files(&files, &mut out, false).expect("writing to a Vec");
    let report = String::from_utf8(out).expect("UTF-8 report");
    println!("{report}");
    assert_eq!(summary.failed, 0, "failing scenarios:\n{report}");
    for u in &summary.unsupported {
        assert!(
            !u.feature.trim().is_empty(),
            "{} is unsupported without naming a feature",
            u.path.display()
        );
    }
    assert_eq!(
        summary.passed + summary.unsupported.len(),
        files.len(),
        "{report}"
    );
    assert!(report
        .trim_end()
        .ends_with(&format!("{} passed, 0 failed", summary.passed)));
}

#[test]
fn every_in_scope_shared_case_passes_on_the_compiled_flows_in_the_fake_switch() {
    let files = case_files();
    let mut out = Vec::new();
    let reference = run_files(&files, &mut Vec::new(), false).expect("writing to a Vec");
    let sim = run_files_with(&files, &mut out, false, Engine::Sim).expect("writing to a Vec");
    let report = String::from_utf8(out).expect("UTF-8 report");
    assert_eq!(
        sim.failed, 0,
        "failing scenarios on the sim engine:\n{report}"
    );
    assert_eq!(sim.passed, reference.passed, "{report}");
}

const SMALL: &str = "\
format_version: 1
id: own-01-small
cluster:
  namespaces: [{name: x}]
  pods:
  - {namespace: x, name: a, labels: {pod: a}, ip: 10.0.0.1, ports: [{port: 80, protocol: TCP}]}
  - {namespace: x, name: b, labels: {pod: b}, ip: 10.0.0.2, ports: [{port: 80, protocol: TCP}]}
steps:
- name: deny b
  resources:
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: deny, namespace: x}
    spec: {podSelector: {matchLabels: {pod: b}}, policyTypes: [Ingress]}
  probes:
  - {from: x/a, to: x/b, port: 80, protocol: TCP, expect: EXPECT}
";

fn run_one(text: &str) -> (kakine::scenario::Summary, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("own-01-small.yaml");
    std::fs::write(&path, text).expect("write");
    let mut out = Vec::new();
    let summary = run_files(&[path], &mut out, false).expect("writing to a Vec");
    (summary, String::from_utf8(out).expect("UTF-8"))
}

#[test]
fn a_failing_probe_is_printed_with_expected_got_and_the_deciding_rule() {
    let (summary, report) = run_one(&SMALL.replace("EXPECT", "allow"));
    assert_eq!((summary.passed, summary.failed), (0, 1));
    assert!(
        report.contains("FAIL  step 1 \"deny b\": 0/1 probes"),
        "{report}"
    );
    assert!(
        report.contains("x/a -> x/b TCP/80: expected allow, got deny"),
        "{report}"
    );
    assert!(
        report.contains("k8s/<k8s-isolation>/default-deny-ingress"),
        "{report}"
    );
    assert!(report.ends_with("0 passed, 1 failed\n"), "{report}");
}

#[test]
fn a_passing_scenario_counts_as_passed() {
    let (summary, report) = run_one(&SMALL.replace("EXPECT", "deny"));
    assert_eq!((summary.passed, summary.failed), (1, 0));
    assert!(report.ends_with("1 passed, 0 failed\n"), "{report}");
}

#[test]
fn an_out_of_scope_feature_is_unsupported_and_counted_on_its_own_line() {
    let text = SMALL.replace("EXPECT", "deny").replace(
        "policyTypes: [Ingress]}",
        "policyTypes: [Ingress], ingress: [{from: [{fqdn: a.b}]}]}",
    );
    let (summary, report) = run_one(&text);
    assert_eq!((summary.passed, summary.failed), (0, 0));
    assert_eq!(summary.unsupported[0].feature, "FQDN peers");
    assert!(
        report.contains("UNSUPPORTED  step 1 \"deny b\": FQDN peers"),
        "{report}"
    );
    assert!(
        report.ends_with("1 unsupported\n0 passed, 0 failed\n"),
        "{report}"
    );
}
