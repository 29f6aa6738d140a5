//! Scenarios on a real Open vSwitch (`kakinectl test --engine ovs [--traffic]`): per file a
//! sandbox ovs-vswitchd and the pods as network namespaces, per step the agent's realization (one
//! bundle), per probe `ofproto/trace` or a real connection. Needs root, Open vSwitch and iproute2;
//! fails (never skips) without.

use std::path::{Path, PathBuf};

use kakine::lab::engine::{Engine, OvsMode};
use kakine::lab::scenario::run_files_with;

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("scenario directory {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scenario in {}", dir.display());
    files
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(files: &[PathBuf], engine: Engine) -> (kakine::lab::scenario::Summary, String) {
    let mut out = Vec::new();
    let summary = run_files_with(files, &mut out, false, engine).expect("writing to a Vec");
    (summary, String::from_utf8(out).expect("UTF-8 report"))
}

#[test]
fn every_in_scope_scenario_passes_on_a_real_ovs_programmed_by_the_agent() {
    let mut files = yaml_files(&root().join("tests/cases"));
    // Destinations outside the cluster need a gateway and an outside host: a single sandbox
    // node has neither, so that scenario runs on the node lab (tests/cluster.rs, real traffic).
    files.extend(
        yaml_files(&root().join("tests/scenarios"))
            .into_iter()
            .filter(|f| !f.ends_with("kakine-14-egress-outside.yaml")),
    );
    let reference = run(&files, Engine::Reference).0;
    let (ovs, report) = run(&files, Engine::Ovs(OvsMode::Trace));
    assert_eq!(ovs.failed, 0, "failing scenarios on OVS:\n{report}");
    assert_eq!(ovs.passed, reference.passed, "{report}");
    assert_eq!(ovs.unsupported, reference.unsupported, "{report}");
}

#[test]
fn real_tcp_and_udp_between_the_pods_meet_the_expectations() {
    let files = [
        root().join("tests/cases/k8s-01-default-deny-ingress.yaml"),
        root().join("tests/cases/anp-05-egress-udp-rule-order.yaml"),
        root().join("tests/scenarios/kakine-02-source-port.yaml"),
        // Dual stack: real IPv6 TCP between the namespaces (addresses added with `nodad`),
        // neighbour discovery and IPv6 conntrack through the agent's flows.
        root().join("tests/scenarios/kakine-13-ipv6-dual-stack.yaml"),
    ];
    let (summary, report) = run(&files, Engine::Ovs(OvsMode::Traffic));
    assert_eq!(
        (summary.passed, summary.failed),
        (files.len(), 0),
        "{report}"
    );
}

/// A Reject rule with real traffic: the agent's packet-in task answers with a TCP RST, so the
/// rejected clients see a refusal (not a timeout) and the file passes.
#[test]
fn a_reject_rule_with_real_traffic_is_refused_by_the_agent() {
    let files = [root().join("tests/cases/antrea-23-reject-egress.yaml")];
    let (summary, report) = run(&files, Engine::Ovs(OvsMode::Traffic));
    assert_eq!((summary.passed, summary.failed), (1, 0), "{report}");
    assert!(!report.contains("enforced as Drop"), "{report}");
}
