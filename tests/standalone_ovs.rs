//! End to end on a real Open vSwitch: a sandbox ovsdb-server + ovs-vswitchd, the example pods as
//! network namespaces, `kakine-agent --standalone examples/`, then real TCP connections and
//! `ofproto/trace` verdicts. Needs root, Open vSwitch and iproute2; fails (never skips) without.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kakine::lab::pods::Lab;
use kakine::lab::probe::Outcome;
use kakine::lab::sandbox::OvsSandbox;
use kakine::policy::resolved::{PodKey, ResolvedPolicies};

/// Names unique to this test process: pods' namespaces and veths, and the bridge (on the
/// userspace datapath a bridge is also a tap device in the root namespace), so the demo or
/// another checkout's tests can run next to these.
fn prefix() -> String {
    format!("k{}", std::process::id() % 100_000)
}

fn bridge() -> String {
    bridge_of(&prefix())
}

fn bridge_of(prefix: &str) -> String {
    format!("{prefix}b")
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn key(s: &str) -> PodKey {
    let (namespace, name) = s.split_once('/').unwrap();
    PodKey {
        namespace: namespace.into(),
        name: name.into(),
    }
}

fn run_agent(ovs: &OvsSandbox, input: &Path, prefix: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kakine-agent"))
        .arg("--standalone")
        .arg(input)
        .arg("--ovs-rundir")
        .arg(ovs.dir())
        // Inside the sandbox: --once writes its state directory (never the host's).
        .arg("--state-dir")
        .arg(ovs.dir().join("state"))
        .args([
            "--datapath-type",
            "netdev",
            "--ifname-prefix",
            prefix,
            "--bridge",
            &bridge_of(prefix),
            "--once",
        ])
        .output()
        .expect("kakine-agent runs")
}

/// `ofproto/trace` of a TCP SYN from `from` to `to:port`, following conntrack recirculation as a
/// new connection: (the last "Datapath actions:", the whole trace).
fn trace(
    ovs: &OvsSandbox,
    policies: &ResolvedPolicies,
    lab: &Lab,
    from: &str,
    to: &str,
    port: u16,
) -> (String, String) {
    let pod = |k: &str| {
        policies
            .pods
            .iter()
            .find(|p| p.key == key(k))
            .unwrap()
            .clone()
    };
    let (src, dst) = (pod(from), pod(to));
    let src_if = &lab
        .pods
        .iter()
        .find(|p| p.info.key == src.key)
        .unwrap()
        .netns
        .host_if;
    let ofport = ovs.vsctl(&["get", "Interface", src_if, "ofport"]).unwrap();
    let mac =
        |p: &kakine::policy::resolved::PodInfo| kakine::policy::mac::mac_string(p.mac.unwrap());
    let flow = format!(
        "in_port={},tcp,dl_src={},dl_dst={},nw_src={},nw_dst={},tp_src=40000,tp_dst={port}",
        ofport.trim(),
        mac(&src),
        mac(&dst),
        src.ip,
        dst.ip
    );
    let out = ovs
        .appctl(&["ofproto/trace", &bridge(), &flow, "--ct-next", "trk,new"])
        .unwrap();
    let last = out
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("Datapath actions: "))
        .unwrap_or_else(|| panic!("no datapath actions in trace of {flow}:\n{out}"));
    (last.to_string(), out)
}

/// The cookie of the `conj_id` flow of the rule named `rule` (`policy/rule`), as the trace prints
/// it: a fresh compile numbers rules 1..=N in precedence order, category 3 is policy.
fn rule_cookie(policies: &ResolvedPolicies, policy_and_rule: &str) -> String {
    let (policy, rule) = policy_and_rule.split_once('/').unwrap();
    let i = policies
        .rules
        .iter()
        .position(|r| r.id.policy.ends_with(policy) && r.id.rule == rule)
        .unwrap_or_else(|| panic!("no rule {policy_and_rule}"));
    format!(
        "cookie {:#x}",
        kakine::datapath::compiler::cookie::make(
            1,
            kakine::datapath::compiler::cookie::POLICY,
            i as u32 + 1
        )
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_enforces_the_example_policies_on_real_tcp_traffic() {
    let ovs =
        OvsSandbox::start_temp().expect("sandbox OVS starts (needs openvswitch-switch and root)");
    let policies = kakine::agent::load_input(&examples()).unwrap();
    let lab = Lab::create(
        &policies,
        &prefix(),
        Path::new(env!("CARGO_BIN_EXE_kakinectl")),
        None,
    )
    .expect("netns pods");

    let out = run_agent(&ovs, &examples(), &prefix());
    assert!(
        out.status.success(),
        "agent failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // --once leaves what `kakinectl dump-flows` and `explain --enforced` read.
    let state = kakine::agent::state::read_agent_state(&ovs.dir().join("state"))
        .unwrap()
        .expect("agent.json written by --once");
    assert_eq!(state.pods.len(), policies.pods.len());
    let enforced = kakine::agent::inspect::enforced(&ovs.dir().join("state")).unwrap();
    assert_eq!(enforced.rules.len(), policies.rules.len());

    // OVSDB: the bridge as configured, the pods' ports with their identity, table names.
    let get = |args: &[&str]| ovs.vsctl(args).unwrap().trim().to_string();
    assert_eq!(
        get(&["get", "Bridge", &bridge(), "protocols"]),
        "[OpenFlow13]"
    );
    assert_eq!(get(&["get", "Bridge", &bridge(), "fail_mode"]), "secure");
    assert_eq!(
        get(&["get", "Bridge", &bridge(), "datapath_type"]),
        "netdev"
    );
    let orders_if = kakine::agent::interfaces::host_ifname(&prefix(), "api", "orders");
    assert_eq!(
        get(&["get", "Interface", &orders_if, "external_ids:pod-name"]),
        "orders"
    );
    assert_eq!(
        get(&["get", "Interface", &orders_if, "external_ids:ip"]),
        "\"10.10.2.10\""
    );

    // Flows by table name, as an operator reads them.
    let dump = ovs.ofctl("dump-flows", &bridge(), &["--names"]).unwrap();
    for table in kakine::datapath::pipeline::TABLES.iter().map(|t| t.name) {
        if !matches!(table, "Classifier" | "ArpSpoofGuard" | "SpoofGuard") {
            continue;
        }
        assert!(
            dump.contains(&format!("table={table},")),
            "no flows in {table}:\n{dump}"
        );
    }
    assert!(dump.contains("conjunction("), "{dump}");
    assert!(dump.contains("ct(commit,zone=65520"), "{dump}");

    // Real TCP between the namespaces, against the reference evaluator.
    let matrix = lab.matrix(&policies, Duration::from_millis(1500)).await;
    let bad = matrix.mismatches();
    assert!(
        bad.is_empty(),
        "cells differ from the evaluator:\n{}",
        matrix.render(true)
    );
    let count = |o: Outcome| {
        matrix
            .cells
            .iter()
            .filter(|c| c.measured == Some(o))
            .count()
    };
    assert!(
        count(Outcome::Connected) >= 5 && count(Outcome::TimedOut) >= 5,
        "{}",
        matrix.render(true)
    );

    // ofproto/trace: one rule of each action, each decided by the expected rule's flow.
    let decided = |from: &str, to: &str, port: u16, rule: &str| {
        let (actions, full) = trace(&ovs, &policies, &lab, from, to, port);
        let cookie = rule_cookie(&policies, rule);
        assert!(
            full.contains(&cookie),
            "{from} -> {to}:{port} not decided by {rule} ({cookie}):\n{full}"
        );
        (actions, full)
    };
    // securityops Drop: web never reaches db.
    let (actions, _) = decided(
        "web/frontend",
        "db/postgres",
        5432,
        "web-never-reaches-db/drop-web",
    );
    assert_eq!(actions, "drop");
    // application Allow: frontend -> api on 8080, committed and output to the orders port.
    let orders_port = get(&["get", "Interface", &orders_if, "ofport"]);
    let (actions, full) = decided(
        "web/frontend",
        "api/orders",
        8080,
        "frontend-calls-api/allow-frontend",
    );
    assert!(actions.starts_with("ct(commit,zone=65520"), "{actions}");
    assert!(
        full.contains(&format!("-> output port is {orders_port}")),
        "{full}"
    );
    // Pass: api -> db jumps over the application-tier Drop to the K8s NetworkPolicy, which
    // admits orders and isolates everything else.
    let (actions, full) = decided(
        "api/orders",
        "db/postgres",
        5432,
        "api-to-db-is-the-data-teams-call/pass-api",
    );
    assert!(actions.starts_with("ct(commit"), "{actions}\n{full}");
    let (actions, _) = decided(
        "api/reports",
        "db/postgres",
        5432,
        "api-to-db-is-the-data-teams-call/pass-api",
    );
    assert_eq!(actions, "drop");
    // Baseline Drop: admin is not the frontend, so the baseline closes the API to it.
    let (actions, _) = decided(
        "web/admin",
        "api/orders",
        8080,
        "api-closed-by-default/drop-other-namespaces",
    );
    assert_eq!(actions, "drop");

    // Bad input on a programmed bridge: a clear error, and the flows stay as they were.
    let before = ovs.ofctl("dump-flows", &bridge(), &["--no-stats"]).unwrap();
    let bad_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        examples().join("cluster.yaml"),
        bad_dir.path().join("cluster.yaml"),
    )
    .unwrap();
    std::fs::write(
        bad_dir.path().join("policy.yaml"),
        "apiVersion: crd.kakine.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: broken}\nspec:\n  priority: high\n  appliedTo: [{podSelector: {}}]\n",
    )
    .unwrap();
    let out = run_agent(&ovs, bad_dir.path(), &prefix());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("policy.yaml") && err.contains("broken") && err.contains("spec.priority"),
        "{err}"
    );
    assert_eq!(
        ovs.ofctl("dump-flows", &bridge(), &["--no-stats"]).unwrap(),
        before
    );
}

/// Every input directory under `tests/inputs/` (regressions and corner cases) behaves on a real
/// OVS with real TCP exactly as the reference evaluator says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_regression_input_behaves_on_ovs_as_the_evaluator_says() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/inputs");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty());
    let prefix = format!("{}r", prefix());
    for dir in dirs {
        let ovs = OvsSandbox::start_temp().expect("sandbox OVS starts");
        let policies = kakine::agent::load_input(&dir).unwrap();
        let lab = Lab::create(
            &policies,
            &prefix,
            Path::new(env!("CARGO_BIN_EXE_kakinectl")),
            None,
        )
        .expect("netns pods");
        let out = run_agent(&ovs, &dir, &prefix);
        assert!(
            out.status.success(),
            "{}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let matrix = lab.matrix(&policies, Duration::from_millis(1500)).await;
        assert!(
            matrix.mismatches().is_empty(),
            "{}: cells differ from the evaluator:\n{}",
            dir.display(),
            matrix.render(true)
        );
        // A dual-stack input is measured over IPv6 too, with connections both made and dropped.
        if policies.pods.iter().any(|p| p.ipv6.is_some()) {
            let v6: Vec<_> = matrix.cells.iter().filter(|c| c.ipv6).collect();
            for outcome in [Outcome::Connected, Outcome::TimedOut] {
                assert!(
                    v6.iter().any(|c| c.measured == Some(outcome)),
                    "{}: no IPv6 cell {outcome:?}:\n{}",
                    dir.display(),
                    matrix.render(true)
                );
            }
        }
    }
}
