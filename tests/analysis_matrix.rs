//! `kakinectl matrix`: exact cells on the examples, agreement with every expectation of the
//! repository's scenarios, and `--emit-scenario` files that the reference evaluator and the
//! compiled flows both pass.

use std::path::{Path, PathBuf};
use std::process::Command;

use kakine::analysis::matrix::{declared_services, scenario};
use kakine::analysis::{matrix, ServiceSpec};
use kakine::lab::engine::Engine;
use kakine::lab::scenario::{read_scenario, resolve_step, run_files_with, scenario_files};
use kakine::policy::resolved::{PodKey, Protocol};
use kakine::policy::Verdict;

fn key(s: &str) -> PodKey {
    let (namespace, name) = s.split_once('/').unwrap();
    PodKey {
        namespace: namespace.into(),
        name: name.into(),
    }
}

#[test]
fn the_examples_matrix_on_5432_has_the_tiers_pass_and_k8s_answers_cell_by_cell() {
    let p = kakine::agent::load_input(Path::new("examples")).unwrap();
    let m = matrix(&p, &[ServiceSpec::Port(Protocol::Tcp, 5432)]);
    let text = m.render(false);
    let combined = text
        .split("combined:\n")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap();
    assert_eq!(
        combined,
        "              1  2  3  4  5  6
web/frontend  -  .  X  X  X  X  1
web/admin     .  -  X  X  X  X  2
api/orders    .  .  -  .  .  .  3
api/reports   .  .  .  -  X  X  4
db/postgres   .  .  X  X  -  .  5
db/backup     .  .  X  X  .  -  6"
    );
    let rule = |from: &str, to: &str| {
        let c = m.cell(0, &key(from), &key(to)).unwrap();
        (c.verdict, c.ingress.rule_text())
    };
    assert_eq!(
        rule("api/orders", "db/postgres"),
        (
            Verdict::Allow,
            "NetworkPolicy k8s/db/postgres-clients/ingress-0".to_string()
        )
    );
    assert_eq!(
        rule("api/reports", "db/postgres"),
        (
            Verdict::Deny,
            "isolation by db/postgres-clients".to_string()
        )
    );
    assert_eq!(
        rule("web/admin", "db/backup"),
        (
            Verdict::Deny,
            "ClusterNetworkPolicy securityops/web-never-reaches-db/drop-web".to_string()
        )
    );
    assert_eq!(
        rule("db/postgres", "api/orders"),
        (
            Verdict::Deny,
            "ClusterNetworkPolicy baseline/api-closed-by-default/drop-other-namespaces".to_string()
        )
    );
    // Default columns: the ports the pods declare.
    assert_eq!(
        declared_services(&p)
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
        vec!["TCP/80", "TCP/5432", "TCP/8080"]
    );
}

#[test]
fn ports_parse_as_numbers_protocols_names_and_icmp_or_are_refused() {
    let ok = |s: &str| ServiceSpec::parse(s).unwrap();
    assert_eq!(ok("80"), ServiceSpec::Port(Protocol::Tcp, 80));
    assert_eq!(ok("udp/53"), ServiceSpec::Port(Protocol::Udp, 53));
    assert_eq!(ok("http"), ServiceSpec::Named(Protocol::Tcp, "http".into()));
    assert_eq!(ok("icmp"), ServiceSpec::Icmp(8, 0));
    assert_eq!(ok("ICMP/0/0"), ServiceSpec::Icmp(0, 0));
    for bad in ["70000", "gre/1", "icmp/8", "tcp/", "a/b/c"] {
        assert!(ServiceSpec::parse(bad).is_err(), "{bad}");
    }
}

/// Every pod-to-pod probe (no fixed source port) of every step of the repository's scenarios.
fn scenario_dirs() -> Vec<PathBuf> {
    scenario_files(&[
        PathBuf::from("tests/scenarios"),
        PathBuf::from("tests/cases"),
    ])
    .unwrap()
}

#[test]
fn every_cell_agrees_with_the_expectations_of_the_repositorys_scenarios() {
    let mut checked = 0;
    for file in scenario_dirs() {
        let case = read_scenario(&file).unwrap();
        for step in &case.steps {
            let Ok(p) = resolve_step(&file, &case, step) else {
                continue; // a step using a feature kakine refuses (reported by kakinectl test)
            };
            for probe in &step.probes {
                let (Some(to), None) = (&probe.to, probe.source_port) else {
                    continue;
                };
                if probe.from == *to {
                    continue;
                }
                if probe.ip_family.as_deref() == Some("IPv6") {
                    continue; // the matrix answers IPv4 pod to pod
                }
                let service = match probe.protocol.as_str() {
                    "ICMP" => ServiceSpec::Icmp(
                        probe.icmp_type.unwrap_or(8),
                        probe.icmp_code.unwrap_or(0),
                    ),
                    other => ServiceSpec::parse(&format!("{other}/{}", probe.port)).unwrap(),
                };
                let m = matrix(&p, std::slice::from_ref(&service));
                let Some(cell) = m.cell(0, &key(&probe.from), &key(to)) else {
                    continue; // a host-network end: not a matrix row
                };
                assert_eq!(
                    cell.verdict.to_string(),
                    probe.expect,
                    "{}: step {:?}: {} -> {to} {service}",
                    file.display(),
                    step.name,
                    probe.from
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "only {checked} probes checked");
}

#[test]
fn an_emitted_scenario_passes_on_the_reference_evaluator_and_the_compiled_flows() {
    let out = std::env::temp_dir().join(format!("kakine-matrix-{}.yaml", std::process::id()));
    let run = Command::new(env!("CARGO_BIN_EXE_kakinectl"))
        .args([
            "matrix",
            "examples",
            "--ports",
            "80,5432,api,icmp,udp/53",
            "--emit-scenario",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // 6 pods: 30 ordered pairs on 80, 5432, icmp and udp/53; "api" only on the 2 API pods (5
    // clients each).
    assert_eq!(
        String::from_utf8_lossy(&run.stderr).trim(),
        format!("wrote 130 probes to {}", out.display())
    );
    for engine in [Engine::Reference, Engine::Sim] {
        let mut report = Vec::new();
        let summary =
            run_files_with(std::slice::from_ref(&out), &mut report, false, engine).unwrap();
        assert_eq!(
            (summary.passed, summary.failed),
            (1, 0),
            "{engine:?}: {}",
            String::from_utf8_lossy(&report)
        );
    }
    // A policy change breaks the frozen answers: drop the Pass and api/orders loses db.
    let mut frozen = read_scenario(&out).unwrap();
    frozen.steps[0]
        .resources
        .retain(|d| d["metadata"]["name"] != "api-to-db-is-the-data-teams-call");
    let p = resolve_step(&out, &frozen, &frozen.steps[0]).unwrap();
    let m = matrix(&p, &[ServiceSpec::Port(Protocol::Tcp, 5432)]);
    assert_eq!(
        m.cell(0, &key("api/orders"), &key("db/postgres"))
            .unwrap()
            .verdict,
        Verdict::Deny
    );
    std::fs::remove_file(out).unwrap();
}

#[test]
fn the_scenario_of_a_matrix_keeps_the_inputs_documents() {
    let p = kakine::agent::load_input(Path::new("examples")).unwrap();
    let m = matrix(&p, &[ServiceSpec::Port(Protocol::Tcp, 8080)]);
    let cluster = serde_json::json!({"pods": [{"namespace": "x"}], "namespaces": [{"name": "x"}]});
    let doc = scenario(
        "t",
        &[cluster.clone(), cluster],
        vec![serde_json::json!({"kind": "K"})],
        &m,
    );
    assert_eq!(doc["cluster"]["pods"].as_array().unwrap().len(), 2);
    assert_eq!(doc["steps"][0]["resources"][0]["kind"], "K");
    assert_eq!(doc["steps"][0]["probes"].as_array().unwrap().len(), 30);
    assert_eq!(
        doc["steps"][0]["probes"][1],
        serde_json::json!({"from": "web/frontend", "to": "api/orders", "protocol": "TCP", "port": 8080, "expect": "allow"})
    );
}

#[test]
fn kakinectl_test_takes_a_directory_of_scenarios() {
    let out = Command::new(env!("CARGO_BIN_EXE_kakinectl"))
        .args(["test", "tests/scenarios"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.ends_with("16 passed, 0 failed\n"), "{text}");
    assert!(
        text.starts_with("tests/scenarios/kakine-01-icmp-type-code.yaml\n"),
        "{text}"
    );
}
