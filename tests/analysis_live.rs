//! `kakinectl explain --live` against a running node: a sandbox ovsdb-server + ovs-vswitchd, the
//! example pods as network namespaces and a live `kakine-agent --standalone` with an audit log.
//! The rule the node's `ofproto/trace` names must be the offline answer's for an allow, a deny by
//! a tier rule and a K8s isolation drop (with its audit line after a real attempt); after the
//! allow rule's flows are deleted with `ovs-ofctl`, the command says they disagree (exit 3).
//! A packet for a pod of another node this node has no route to is a forwarding drop (exit 4),
//! never a disagreement with the policies.
//! Needs root, Open vSwitch and iproute2; fails (never skips) without.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kakine::lab::pods::{Lab, Servers};
use kakine::lab::probe::Outcome;
use kakine::lab::sandbox::OvsSandbox;
use kakine::policy::resolved::PodKey;
use serde_json::Value;

/// The agent, killed (by its pid) when the test ends, passing or not.
struct Agent(Child, PathBuf);

impl Agent {
    /// `kakine-agent --standalone input` (with `extra` flags) on the sandbox of `node_dir`, its
    /// state in `node_dir/state` as `kakinectl demo --keep` leaves it, its log in `log`.
    fn start(
        input: &Path,
        node_dir: &Path,
        (prefix, bridge): (&str, &str),
        audit: &Path,
        log: PathBuf,
        extra: &[&str],
    ) -> Agent {
        let child = Command::new(env!("CARGO_BIN_EXE_kakine-agent"))
            .arg("--standalone")
            .arg(input)
            .args(extra)
            .arg("--ovs-rundir")
            .arg(node_dir)
            .arg("--state-dir")
            .arg(node_dir.join("state"))
            .args(["--datapath-type", "netdev", "--ifname-prefix", prefix])
            .args(["--bridge", bridge, "--drift-interval", "0"])
            .args(["--metrics-addr", "off", "--audit-log"])
            .arg(audit)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("kakine-agent starts");
        Agent(child, log)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.1).unwrap_or_default()
    }

    /// Waits (30 s at most) until its log has `n` lines with `what`.
    fn wait(&self, what: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.log().matches(what).count() < n {
            assert!(Instant::now() < deadline, "no {what:?}:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `kakinectl explain --live -o json` on the node: (exit status, the JSON answer).
fn explain(node_dir: &Path, bridge: &str, audit: &Path, from: &str, to: &str) -> (i32, Value) {
    let (to, port) = to.rsplit_once(':').unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kakinectl"))
        .args(["explain", "--live", "--node-dir"])
        .arg(node_dir)
        .args(["--bridge", bridge, "--audit-log"])
        .arg(audit)
        .args(["--from", from, "--to", to, "--port", port, "-o", "json"])
        .output()
        .expect("kakinectl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{from} -> {to}:{port}: not JSON ({e}):\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

fn rule(v: &Value) -> String {
    if v.is_null() {
        return "none".into();
    }
    format!(
        "{}/{}/{}",
        v["tier"].as_str().unwrap(),
        v["policy"].as_str().unwrap(),
        v["rule"].as_str().unwrap()
    )
}

/// (verdict, egress rule, ingress rule) of the offline answer and of the node's.
fn sides(v: &Value) -> [(String, String, String); 2] {
    let case = &v["offline"]["cases"][0];
    let node = &v["node"];
    [case, node].map(|x| {
        (
            x["verdict"].as_str().unwrap().to_string(),
            rule(&x["egress_rule"]),
            rule(&x["ingress_rule"]),
        )
    })
}

/// A node of its own for a test: (interface prefix `tag` + pid, bridge, sandbox OVS, a
/// temporary directory, its empty `input` directory).
fn node(tag: &str) -> (String, String, OvsSandbox, tempfile::TempDir, PathBuf) {
    let prefix = format!("{tag}{}", std::process::id() % 100_000);
    let bridge = format!("{prefix}b");
    let ovs = OvsSandbox::start_temp().expect("sandbox OVS (needs openvswitch-switch, root)");
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    std::fs::create_dir_all(&input).unwrap();
    (prefix, bridge, ovs, tmp, input)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_names_the_offline_rule_and_a_deleted_flow_is_a_disagreement() {
    let (prefix, bridge, ovs, tmp, input) = node("l");
    // The examples, with the db namespace's NetworkPolicy logging (its isolation drops too).
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let cluster = std::fs::read_to_string(examples.join("cluster.yaml")).unwrap();
    let cluster = cluster.replace(
        "- name: db\n  labels: {team: data}",
        "- name: db\n  labels: {team: data}\n  annotations: {kakine.io/enable-np-logging: \"true\"}",
    );
    assert!(cluster.contains("enable-np-logging"), "examples changed");
    std::fs::write(input.join("cluster.yaml"), cluster).unwrap();
    std::fs::copy(examples.join("policies.yaml"), input.join("policies.yaml")).unwrap();
    let policies = kakine::agent::load_input(&input).unwrap();
    let servers = Servers {
        kakinectl: Path::new(env!("CARGO_BIN_EXE_kakinectl")),
        udp: false,
        sctp: false,
    };
    let lab = Lab::create_with(&policies, &prefix, Some(servers), None).expect("netns pods");

    // The node's layout as `kakinectl demo --keep` leaves it: the state in `<rundir>/state`.
    let node_dir = ovs.dir().to_path_buf();
    let state = node_dir.join("state");
    let audit = tmp.path().join("np.log");
    let log = tmp.path().join("agent.log");
    let agent = Agent::start(&input, &node_dir, (&prefix, &bridge), &audit, log, &[]);
    agent.wait("restart committed", 1);

    let ask = |from: &str, to: &str| explain(&node_dir, &bridge, &audit, from, to);
    let s = |v: (&str, &str, &str)| (v.0.to_string(), v.1.to_string(), v.2.to_string());

    // Allow by an application-tier rule.
    let (code, v) = ask("web/frontend", "api/orders:8080");
    let want = s((
        "allow",
        "none",
        "application/frontend-calls-api/allow-frontend",
    ));
    assert_eq!(sides(&v), [want.clone(), want], "{v:#}");
    assert_eq!((code, v["agree"].as_bool()), (0, Some(true)), "{v:#}");
    assert!(
        v["node"]["hop"].as_str().unwrap().contains("api/orders"),
        "{v:#}"
    );

    // Deny by a securityops rule.
    let (code, v) = ask("web/frontend", "db/postgres:5432");
    let want = s(("deny", "none", "securityops/web-never-reaches-db/drop-web"));
    assert_eq!(sides(&v), [want.clone(), want], "{v:#}");
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["node"]["hop"], "dropped");

    // A K8s isolation drop, after a real attempt that the agent audit-logs.
    let reports = PodKey {
        namespace: "api".into(),
        name: "reports".into(),
    };
    let postgres: std::net::Ipv4Addr = "10.10.3.10".parse().unwrap();
    assert_eq!(
        lab.probe_tcp(&reports, postgres, 5432, Duration::from_millis(800))
            .await,
        Some(Outcome::TimedOut)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let v = loop {
        let (code, v) = ask("api/reports", "db/postgres:5432");
        assert_eq!(code, 0, "{v:#}");
        if v["node"]["audit"].as_array().is_some_and(|a| !a.is_empty()) {
            break v;
        }
        assert!(Instant::now() < deadline, "no audit line:\n{v:#}");
        std::thread::sleep(Duration::from_millis(300));
    };
    let want = s(("deny", "none", "k8s/<k8s-isolation>/default-deny-ingress"));
    assert_eq!(sides(&v), [want.clone(), want], "{v:#}");
    assert_eq!(
        v["offline"]["cases"][0]["ingress"]["isolating"],
        serde_json::json!(["db/postgres-clients"])
    );
    let line = v["node"]["audit"][0].as_str().unwrap();
    assert!(
        line.contains("NetworkPolicy:db/postgres-clients default-deny-ingress Ingress Drop")
            && line.contains(" 10.10.2.11 ")
            && line.contains(" 10.10.3.10 5432 TCP "),
        "{line}"
    );
    let flows = v["node"]["traces"][0]["flows"].as_array().unwrap();
    assert!(
        flows
            .iter()
            .any(|f| f["what"] == "K8s NetworkPolicy isolation (ingress)"),
        "{v:#}"
    );

    // Tampered: the allow rule's flows deleted behind the agent's back (no drift repair).
    let rule_id = kakine::agent::state::read_agent_state(&state)
        .unwrap()
        .unwrap()
        .rules
        .iter()
        .find(|r| r.policy == "frontend-calls-api" && r.rule == "allow-frontend")
        .expect("the allow rule in agent.json")
        .id;
    let round = kakine::agent::state::read_agent_state(&state)
        .unwrap()
        .unwrap()
        .round;
    let cookie = kakine::datapath::compiler::cookie::make(
        round,
        kakine::datapath::compiler::cookie::POLICY,
        rule_id,
    );
    ovs.ofctl("del-flows", &bridge, &[&format!("cookie={cookie:#x}/-1")])
        .unwrap();
    let (code, v) = ask("web/frontend", "api/orders:8080");
    let [offline, node] = sides(&v);
    assert_eq!(
        offline,
        s((
            "allow",
            "none",
            "application/frontend-calls-api/allow-frontend"
        ))
    );
    assert_eq!(
        node,
        s((
            "deny",
            "none",
            "baseline/api-closed-by-default/drop-other-namespaces"
        )),
        "{v:#}"
    );
    assert_eq!((code, v["agree"].as_bool()), (3, Some(false)), "{v:#}");
    assert_eq!(
        v["disagreements"],
        serde_json::json!([
            "verdict: offline allow, node deny",
            "ingress rule: offline application/frontend-calls-api/allow-frontend, node baseline/api-closed-by-default/drop-other-namespaces"
        ])
    );

    // The same in text: both sides and the disagreement, loudly.
    let out = Command::new(env!("CARGO_BIN_EXE_kakinectl"))
        .args(["explain", "--live", "--node-dir"])
        .arg(&node_dir)
        .args(["--bridge", &bridge, "--from", "web/frontend"])
        .args(["--to", "api/orders", "--port", "8080"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("DISAGREE")
            && text.contains("ofproto/trace")
            && text.contains("baseline/api-closed-by-default/drop-other-namespaces"),
        "{text}"
    );
    drop(agent);
    drop(lab);
}

/// The agent of node-1 of a model of two nodes, on a sandbox OVS with the example pods:
/// web/frontend and web/admin on node-1, the others on node-2. Traffic to node-2's pods is
/// allowed by the policies and dropped by forwarding: with no podCIDR on any node there is no
/// multi-node network (L2Forwarding misses), with one on node-1 only the packet goes to the
/// host by the gateway port. `explain --live` says so (exit 4, `forwarding_drop` with the
/// table and why) and agrees with the policies; before, it reported "verdict of the egress:
/// offline allow, node deny" (exit 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_of_a_node_without_a_route_is_a_forwarding_drop_not_a_policy_disagreement() {
    let (prefix, bridge, ovs, tmp, input) = node("f");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut cluster = std::fs::read_to_string(examples.join("cluster.yaml")).unwrap();
    for (pod, node) in [
        ("frontend", "node-1"),
        ("admin", "node-1"),
        ("orders", "node-2"),
        ("reports", "node-2"),
        ("postgres", "node-2"),
        ("backup", "node-2"),
    ] {
        let at = cluster
            .find(&format!("name: {pod},"))
            .expect("examples changed");
        cluster.insert_str(at, &format!("node: {node}, "));
    }
    let with_nodes = |node1: &str| {
        cluster.replacen(
            "kind: Cluster\n",
            &format!("kind: Cluster\nnodes: [{{name: node-1, ip: 192.168.50.1{node1}}}, {{name: node-2, ip: 192.168.50.2}}]\n"),
            1,
        )
    };
    std::fs::write(input.join("cluster.yaml"), with_nodes("")).unwrap();
    std::fs::copy(examples.join("policies.yaml"), input.join("policies.yaml")).unwrap();
    let policies = kakine::agent::load_input(&input).unwrap();
    let lab = Lab::create_with(&policies, &prefix, None, None).expect("netns pods");
    let node_dir = ovs.dir().to_path_buf();
    let audit = tmp.path().join("np.log");
    let log = tmp.path().join("agent.log");
    let node1 = ["--node", "node-1", "--no-host-config"];
    let agent = Agent::start(&input, &node_dir, (&prefix, &bridge), &audit, log, &node1);
    agent.wait("restart committed", 1);
    let ask = |from: &str, to: &str| explain(&node_dir, &bridge, &audit, from, to);

    // Both on node-1: delivered, no forwarding drop.
    let (code, v) = ask("web/frontend", "web/admin:80");
    assert_eq!(code, 0, "{v:#}");
    assert!(v["node"]["forwarding_drop"].is_null(), "{v:#}");

    // No node declares a podCIDR: no multi-node network, L2Forwarding has no flow for it.
    let (code, v) = ask("web/frontend", "api/orders:8080");
    let fwd = &v["node"]["forwarding_drop"];
    assert_eq!((code, v["agree"].as_bool()), (4, Some(true)), "{v:#}");
    assert_eq!(v["disagreements"], serde_json::json!([]), "{v:#}");
    assert_eq!(
        (&v["node"]["verdict"], &v["node"]["policy_verdict"]),
        (&"deny".into(), &"allow".into()),
        "{v:#}"
    );
    assert_eq!(
        (&fwd["table"], &fwd["table_miss"], &fwd["at_host"]),
        (&"L2Forwarding".into(), &true.into(), &false.into()),
        "{v:#}"
    );
    assert!(
        fwd["why"].as_str().unwrap().starts_with(
            "no route from node node-1 to pod api/orders (10.10.2.10) on node node-2: no node of the cluster model declares a podCIDR"
        ),
        "{v:#}"
    );

    // node-1 has a podCIDR, node-2 none: the packet leaves by the gateway port to the host.
    let n = agent.log().matches("update committed").count();
    std::fs::write(
        input.join("cluster.yaml"),
        with_nodes(", podCIDR: 10.10.1.0/24"),
    )
    .unwrap();
    agent.wait("update committed", n + 1);
    let (code, v) = ask("web/frontend", "api/orders:8080");
    let fwd = &v["node"]["forwarding_drop"];
    assert_eq!((code, v["agree"].as_bool()), (4, Some(true)), "{v:#}");
    assert_eq!(v["node"]["verdict"], "allow", "{v:#}");
    assert_eq!(fwd["at_host"], true, "{v:#}");
    assert!(
        fwd["why"]
            .as_str()
            .unwrap()
            .contains("node node-2 has no podCIDR in the cluster model"),
        "{v:#}"
    );
    drop(agent);
    drop(lab);
}

/// A node lab of two nodes (kakine-06: custom tiers): a client's node asked with the server's
/// node beside it traces the packet across the Geneve tunnel, and the ingress rule decided on
/// the server's node (with that node's own rule ids) is the offline one.
#[test]
fn across_the_tunnel_the_servers_node_decides_the_offline_ingress_rule() {
    use kakine::lab::cluster_engine::ClusterEngine;
    use kakine::lab::engine::OvsMode;
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/kakine-06-custom-tiers.yaml");
    let scenario = kakine::lab::scenario::read_scenario(&file).unwrap();
    let mut engine =
        ClusterEngine::start(&scenario.cluster, 2, OvsMode::Trace, &[]).expect("lab up");
    drop(
        engine
            .load(&scenario.cluster, &scenario.steps[0].resources)
            .expect("step 1 realized on both nodes"),
    );
    let lab = engine.lab();
    let node_of = |pod: &str| {
        let p = lab
            .pods
            .iter()
            .find(|p| p.info.key.to_string() == pod)
            .unwrap();
        lab.nodes[p.node].dir.clone()
    };
    let ask = |from: &str, to: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_kakinectl"))
            .args(["explain", "--live", "--node-dir"])
            .arg(node_of(from))
            .arg("--server-node-dir")
            .arg(node_of(to))
            .args(["--audit-log", "/nonexistent/np.log"])
            .args(["--from", from, "--to", to, "--port", "80", "-o", "json"])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
        });
        (out.status.code(), v)
    };
    let s = |v: (&str, &str, &str)| (v.0.to_string(), v.1.to_string(), v.2.to_string());
    for (from, to, want) in [
        (
            "x/a",
            "x/b",
            s(("allow", "none", "devops/devops-allow/from-x-a")),
        ),
        (
            "x/c",
            "x/b",
            s(("deny", "none", "networkops/networkops-drop/drop-all")),
        ),
        (
            "y/a",
            "x/c",
            s(("deny", "none", "late/late-drop/drop-from-y")),
        ),
    ] {
        assert_ne!(node_of(from), node_of(to), "placement changed");
        let (code, v) = ask(from, to);
        assert_eq!(sides(&v), [want.clone(), want], "{from} -> {to}: {v:#}");
        assert_eq!(code, Some(0), "{v:#}");
        let traces = v["node"]["traces"].as_array().unwrap();
        assert_eq!(traces.len(), 2, "{v:#}");
        assert!(
            traces[0]["actions"].as_str().unwrap().contains("tnl_push("),
            "{v:#}"
        );
    }
}
