//! `kakinectl kind-suite render` on the whole scenario corpus: what `scripts/kind-suite.sh`
//! applies and probes in a cluster (`make e2e-kind`), checked without one. Every object parses
//! into its k8s-openapi type with no field lost (or, for kakine's and the network-policy-api
//! kinds, through the controller's conversion), every pod serves what the model says on the
//! node it is pinned to, and the probe list is exactly the scenario's expectations.

#[allow(dead_code)]
mod manifests_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kakine::controller::kube::convert;
use kakine::lab::kind_suite::unsupported;
use kakine::lab::scenario::{read_scenario, scenario_files, step_cluster, Scenario};
use manifests_support::round_trip;
use serde_json::Value;

const NODES: [&str; 3] = ["kind-control-plane", "kind-worker", "kind-worker2"];

fn corpus() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    scenario_files(&[root.join("tests/cases"), root.join("tests/scenarios")]).unwrap()
}

fn render(out: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = Command::new(env!("CARGO_BIN_EXE_kakinectl"))
        .args(["kind-suite", "render", "--out"])
        .arg(out)
        .args(["--nodes", &NODES.join(",")])
        .arg(root.join("tests/cases"))
        .arg(root.join("tests/scenarios"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// The documents of a rendered stream.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    text.split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// Every field of `o` known to its type (k8s-openapi), or, for custom resources, the
/// controller's conversion accepting it.
fn type_problems(o: &Value) -> Vec<String> {
    let name = format!("{} {}", o["kind"], o["metadata"]["name"]);
    let r = match (
        o["apiVersion"].as_str().unwrap(),
        o["kind"].as_str().unwrap(),
    ) {
        ("v1", "Namespace") => round_trip::<Namespace>(o),
        ("v1", "ServiceAccount") => round_trip::<ServiceAccount>(o),
        ("v1", "Pod") => round_trip::<Pod>(o),
        ("networking.k8s.io/v1", "NetworkPolicy") => round_trip::<NetworkPolicy>(o),
        (v, _) if v.starts_with("crd.antrea.io/") => Err("an Antrea kind left as is".into()),
        _ => convert::policy(o)
            .map(|_| Vec::new())
            .map_err(|e| e.to_string()),
    };
    match r {
        Ok(lost) => lost.into_iter().map(|l| format!("{name}: {l}")).collect(),
        Err(e) => vec![format!("{name}: {e}")],
    }
}

/// The scenario's probes, as `probes.tsv` lines, read from the file's own YAML.
fn expected_probes(s: &Scenario) -> Vec<String> {
    let mut out = Vec::new();
    for (i, step) in s.steps.iter().enumerate() {
        for p in &step.probes {
            let (fns, fpod) = p.from.split_once('/').unwrap();
            let to = p.to.as_deref().unwrap();
            let (tns, tpod) = to.split_once('/').unwrap();
            out.push(format!(
                "{}\t{fns}\t{fpod}\t{tns}\t{tpod}\t{}\t{}\t{}",
                i + 1,
                p.port,
                p.protocol,
                p.expect
            ));
        }
    }
    out
}

/// The (port, protocol) a rendered pod serves, from its containers' ports and commands.
fn served(pod: &Value) -> BTreeSet<(u16, String)> {
    let mut out = BTreeSet::new();
    for c in pod["spec"]["containers"].as_array().unwrap() {
        for p in c["ports"].as_array().into_iter().flatten() {
            let port = p["containerPort"].as_u64().unwrap() as u16;
            let proto = p["protocol"].as_str().unwrap().to_string();
            let cmd: Vec<&str> = c["command"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap())
                .collect();
            // The container runs the server of that port and protocol.
            let serves = match proto.as_str() {
                "SCTP" => {
                    cmd == ["/agnhost", "porter"]
                        && c["env"][0]["name"] == format!("SERVE_SCTP_PORT_{port}")
                }
                p => {
                    let flag = format!("--{}", p.to_ascii_lowercase());
                    let port = port.to_string();
                    cmd[..2] == ["/agnhost", "serve-hostname"]
                        && cmd.contains(&flag.as_str())
                        && cmd.windows(2).any(|w| w == ["--port", port.as_str()])
                }
            };
            assert!(serves, "{}: {c}", pod["metadata"]["name"]);
            out.insert((port, proto));
        }
    }
    out
}

#[test]
fn the_whole_corpus_renders_into_typed_objects_and_the_scenarios_probes() {
    let out = tempfile::tempdir().unwrap();
    let report = render(out.path());
    let files = corpus();
    assert_eq!(report.lines().count(), files.len(), "{report}");
    let (mut run, mut not_run) = (Vec::new(), Vec::new());
    for file in files {
        let s = read_scenario(&file).unwrap();
        let dir = out.path().join(&s.id);
        let why = unsupported(&s);
        if dir.join("unsupported.txt").exists() {
            let text = std::fs::read_to_string(dir.join("unsupported.txt")).unwrap();
            assert!(!why.is_empty(), "{}", s.id);
            assert_eq!(text, why.join("\n") + "\n");
            assert!(!dir.join("probes.tsv").exists());
            not_run.push(s.id.clone());
            continue;
        }
        assert!(why.is_empty(), "{}: {why:?}", s.id);
        run.push(s.id.clone());
        // Probes: exactly the scenario's, in order.
        let tsv = std::fs::read_to_string(dir.join("probes.tsv")).unwrap();
        let probes: Vec<String> = tsv.lines().map(String::from).collect();
        assert_eq!(probes, expected_probes(&s), "{}", s.id);
        for (i, step) in s.steps.iter().enumerate() {
            let n = i + 1;
            let objects = documents(&dir.join(format!("step-{n}-objects.yaml")));
            let policies = documents(&dir.join(format!("step-{n}-policies.yaml")));
            let problems: Vec<String> = objects
                .iter()
                .chain(&policies)
                .flat_map(type_problems)
                .collect();
            assert!(problems.is_empty(), "{} step {n}: {problems:#?}", s.id);
            assert_eq!(policies.len(), step.resources.len());
            // The pods: the model's, with the step's labels, serving its ports, pinned.
            let cluster = step_cluster(&s.cluster, &step.label_overrides);
            let pods: Vec<&Value> = objects.iter().filter(|o| o["kind"] == "Pod").collect();
            assert_eq!(pods.len(), cluster.pods.len(), "{}", s.id);
            for (pod, model) in pods.iter().zip(&cluster.pods) {
                assert_eq!(pod["metadata"]["namespace"], model.namespace.as_str());
                assert_eq!(pod["metadata"]["name"], model.name.as_str());
                let labels: std::collections::BTreeMap<String, String> =
                    serde_json::from_value(pod["metadata"]["labels"].clone()).unwrap_or_default();
                assert_eq!(labels, model.labels, "{} {}", s.id, model.name);
                let want: BTreeSet<(u16, String)> = model
                    .ports
                    .iter()
                    .map(|p| (p.port, format!("{:?}", p.protocol).to_ascii_uppercase()))
                    .collect();
                assert_eq!(served(pod), want, "{} {}", s.id, model.name);
                if let Some(node) = &model.node {
                    let at = s.cluster.nodes.iter().position(|n| &n.name == node);
                    if let Some(i) = at.filter(|i| *i < NODES.len()) {
                        assert_eq!(pod["spec"]["nodeName"], NODES[i], "{}", s.id);
                    }
                }
            }
            let namespaces = objects.iter().filter(|o| o["kind"] == "Namespace").count();
            assert_eq!(namespaces, cluster.namespaces.len());
            // Every probe's server serves the probed port.
            for p in &step.probes {
                let to = p.to.as_deref().unwrap();
                let pod = pods
                    .iter()
                    .find(|o| {
                        format!(
                            "{}/{}",
                            o["metadata"]["namespace"].as_str().unwrap(),
                            o["metadata"]["name"].as_str().unwrap()
                        ) == to
                    })
                    .unwrap();
                assert!(
                    served(pod).contains(&(p.port, p.protocol.to_ascii_uppercase())),
                    "{} step {n}: {to} does not serve {}/{}",
                    s.id,
                    p.port,
                    p.protocol
                );
            }
        }
    }
    // What cannot run in a cluster, and why, is a fixed list: a scenario that stops being
    // portable (or becomes so) changes it here.
    assert_eq!(
        not_run,
        [
            "anp-13-egress-node-peers",
            "antrea-15-clustergroup-ipblocks-peer",
            "kakine-01-icmp-type-code",
            "kakine-02-source-port",
            "kakine-05-node-selector",
            "kakine-08-child-groups",
            "kakine-09-cnp-v1alpha2-tiers",
            "kakine-11-own-node-exempt",
            "kakine-12-anp-peers-skip-host-network",
            "kakine-13-ipv6-dual-stack",
            "kakine-14-egress-outside",
            "kakine-16-named-port-through-blocks",
        ]
    );
    assert_eq!(run.len(), 37, "{run:?}");
}

#[test]
fn a_scenario_bound_to_the_models_addresses_says_every_reason() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let s = read_scenario(&root.join("tests/scenarios/kakine-13-ipv6-dual-stack.yaml")).unwrap();
    let why = unsupported(&s);
    assert!(
        why.contains(&"step 1: an ipBlock peer (computed from the model's pod IPs)".to_string()),
        "{why:?}"
    );
    assert!(why.iter().any(|w| w.ends_with("an IPv6 probe")), "{why:?}");
    assert!(why.iter().any(|w| w.ends_with("an ICMP probe")), "{why:?}");
}

/// A stand-in for kubectl that answers what `scripts/kind-suite.sh` asks: `apply -o name`
/// names the file's objects, `get pod` gives `NS.POD` as the pod's address, and `exec ...
/// /agnhost connect NS.POD:PORT` answers as `$FAKE_VERDICTS` says (lines `from to port
/// protocol verdict`): exit 0 for allow, `REFUSED` for reject, `TIMEOUT` for deny. Every call is
/// logged to `$FAKE_LOG`.
const FAKE_KUBECTL: &str = r#"#!/usr/bin/env bash
echo "$*" >>"$FAKE_LOG"
case $1 in
apply)
    if [ "${4:-}" = "-o" ]; then
        grep -v '^---' "$3" | jq -r '(.kind | ascii_downcase) + "/" + .metadata.name'
        step=${3##*/step-}
        echo "${step%-objects.yaml}" >"$FAKE_LOG.step"
    fi ;;
get) echo -n "$4.$5" ;;
exec)
    from="$3/$4"; dest=${8%:*}; port=${8##*:}; proto=${10#--protocol=}
    v=$(awk -v s="$(cat "$FAKE_LOG.step")" -v f="$from" -v d="${dest/./\/}" -v p="$port" \
        -v q="${proto^^}" '$1 == s && $2 == f && $3 == d && $4 == p && $5 == q { print $6 }' \
        "$FAKE_VERDICTS")
    case $v in
    allow) exit 0 ;;
    reject) echo "REFUSED"; exit 1 ;;
    deny) echo "TIMEOUT"; exit 1 ;;
    *) echo "no verdict for $from $dest $port $proto"; exit 1 ;;
    esac ;;
esac
exit 0
"#;

#[test]
fn the_suite_script_probes_compares_and_counts_scenarios() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let (suite, bin) = (tmp.path().join("suite"), tmp.path().join("bin"));
    std::fs::create_dir(&bin).unwrap();
    let kubectl = bin.join("kubectl");
    std::fs::write(&kubectl, FAKE_KUBECTL).unwrap();
    std::fs::set_permissions(
        &kubectl,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_kakinectl"))
        .args(["kind-suite", "render", "--out"])
        .arg(&suite)
        .arg(root.join("tests/cases/k8s-26-ingress-from-updated-pod-label.yaml"))
        .arg(root.join("tests/scenarios/kakine-04-service-account.yaml"))
        .arg(root.join("tests/scenarios/kakine-01-icmp-type-code.yaml"))
        .output()
        .unwrap();
    assert!(o.status.success());
    // The cluster answers as the scenarios expect, but for one probe of kakine-04.
    let mut verdicts = String::new();
    for id in [
        "k8s-26-ingress-from-updated-pod-label",
        "kakine-04-service-account",
    ] {
        let tsv = std::fs::read_to_string(suite.join(id).join("probes.tsv")).unwrap();
        for (i, line) in tsv.lines().enumerate() {
            let f: Vec<&str> = line.split('\t').collect();
            let mut expect = f[7];
            if id.starts_with("kakine-04") && i == 0 {
                assert_eq!(expect, "allow");
                expect = "deny";
            }
            verdicts += &format!(
                "{} {}/{} {}/{} {} {} {expect}\n",
                f[0], f[1], f[2], f[3], f[4], f[5], f[6]
            );
        }
    }
    std::fs::write(tmp.path().join("verdicts"), verdicts).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let log = tmp.path().join("log");
    let o = Command::new("bash")
        .arg(root.join("scripts/kind-suite.sh"))
        .arg(&suite)
        .env("PATH", path)
        .env("SETTLE", "0")
        .env("FAKE_LOG", &log)
        .env("FAKE_VERDICTS", tmp.path().join("verdicts"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        lines,
        [
            "k8s-26-ingress-from-updated-pod-label: PASS",
            "kakine-01-icmp-type-code: not run in a cluster: step 1: an ICMP probe",
            "kakine-04-service-account step 1: x/web -> x/db 5432/TCP: expected allow, got deny",
            "kakine-04-service-account: FAIL",
            "1 not run in a cluster",
            "1 passed, 1 failed",
        ]
    );
    // Per step: objects, pods ready, policies, probes, policies deleted; policies and objects
    // deleted last.
    let calls = std::fs::read_to_string(&log).unwrap();
    let k8s26: Vec<&str> = calls
        .lines()
        .filter(|l| l.contains("k8s-26") && !l.starts_with("exec"))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    let steps = read_scenario(&root.join("tests/cases/k8s-26-ingress-from-updated-pod-label.yaml"))
        .unwrap()
        .steps;
    let mut want: Vec<&str> = Vec::new();
    for step in &steps {
        want.push("apply");
        if !step.resources.is_empty() {
            want.extend(["apply", "delete"]);
        }
    }
    // Then every policy file and every objects file, deleted again whatever happened (the
    // same clean-up the script's trap runs when it is stopped mid-scenario).
    want.extend(
        steps
            .iter()
            .filter(|s| !s.resources.is_empty())
            .map(|_| "delete"),
    );
    want.extend(steps.iter().map(|_| "delete"));
    assert_eq!(k8s26, want, "{calls}");
    let execs = calls.lines().filter(|l| l.starts_with("exec -n")).count();
    let probes = [
        "k8s-26-ingress-from-updated-pod-label",
        "kakine-04-service-account",
    ]
    .iter()
    .map(|id| {
        std::fs::read_to_string(suite.join(id).join("probes.tsv"))
            .unwrap()
            .lines()
            .count()
    })
    .sum::<usize>();
    assert_eq!(execs, probes);
}
