//! The distributed system in the node lab: `kakine-controller --standalone DIR` in the first
//! node's namespace (listening on its underlay address, TLS, a token per node) and one
//! `kakine-agent --controller` per node, real traffic across nodes. An edit of DIR flips the
//! verdict on the server's node; the controller killed, the agents keep enforcing; restarted,
//! they resume and follow the next edit; the per-policy realization counts follow each edit.
//!
//! Security: from the second node's namespace, the real `kakine-agent --controller` with
//! another node's token, no token file, an empty one, a forged token, an `http://` URL, a CA
//! that is not the controller's, and plain TCP: each refused with its cause in the agent's log
//! (the agent retries, or exits for the URL), and the node's OVS gets no policy flow; the
//! right token then brings them (the check can fail).
//!
//! Needs root, Open vSwitch, iproute2 and nftables; fails (never skips) without.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use kakine::datapath::compiler::cookie;
use kakine::lab::cluster_engine::ClusterEngine;
use kakine::lab::controller_lab::{count, LabController};
use kakine::lab::engine::OvsMode;
use kakine::lab::nodes::{LabNode, BRIDGE};
use serde_json::Value;

const WORLD: &str = "
nodes: [{name: node-1}, {name: node-2}]
namespaces: [{name: x}]
pods:
- {namespace: x, name: a, labels: {app: client}, ip: 10.31.0.1, node: node-1}
- {namespace: x, name: b, labels: {app: server}, ip: 10.31.0.2, node: node-2}
";

/// b accepts traffic from pods labelled `app: from`.
fn policy(from: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: server, namespace: x}}
spec:
  podSelector: {{matchLabels: {{app: server}}}}
  ingress:
  - from:
    - podSelector: {{matchLabels: {{app: {from}}}}}
"
    )
}

fn wait_log(path: &Path, what: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(path, what) < n {
        assert!(
            Instant::now() < deadline,
            "no {n}x {what:?} in {}:\n{}",
            path.display(),
            std::fs::read_to_string(path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn connects(engine: &ClusterEngine) -> bool {
    engine
        .lab()
        .pod_command("a", engine.kakinectl())
        .args([
            "probe",
            "connect",
            "10.31.0.2",
            "7000",
            "--timeout-ms",
            "1000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// The status of x/server as the controller serves it, once `until` holds (within 30 s).
fn server_status(
    engine: &ClusterEngine,
    controller: &LabController,
    until: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = controller.realization(engine.lab(), engine.kakinectl());
        let status = all.as_ref().ok().and_then(|all| {
            all["items"]
                .as_array()?
                .iter()
                .find(|i| i["kind"] == "K8sNetworkPolicy" && i["name"] == "x/server")
                .map(|i| i["status"].clone())
        });
        match status {
            Some(s) if until(&s) => return s,
            s => assert!(
                Instant::now() < deadline,
                "x/server's status: {s:?} ({:?})",
                all.err()
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn realized(s: &Value) -> bool {
    s["phase"] == "Realized" && s["currentNodesRealized"] == 1 && s["desiredNodesRealized"] == 1
}

/// A two-node lab of WORLD whose standalone agents are stopped (from then on the controller is
/// the only reader of the directory), the policy `policy("client")` written (b, on node-2, is
/// isolated: node-2's span holds it), and the controller started in node-1.
fn lab_with_controller() -> (ClusterEngine, LabController) {
    let cluster: kakine::policy::Cluster = serde_saphyr::from_str(WORLD).unwrap();
    let mut engine = ClusterEngine::start(&cluster, 2, OvsMode::Traffic, &[]).expect("lab up");
    for i in 0..2 {
        engine.lab_mut().stop_agent(i);
    }
    let input = engine.input().to_path_buf();
    std::fs::write(input.join("policy.yaml"), policy("client")).unwrap();
    let binary = engine.kakinectl().with_file_name("kakine-controller");
    let controller =
        LabController::start(engine.lab(), &binary, &input).expect("the controller listens");
    (engine, controller)
}

#[test]
fn agents_follow_the_controller_across_nodes_and_keep_enforcing_without_it() {
    let (mut engine, mut controller) = lab_with_controller();
    let policy_file = engine.input().join("policy.yaml");
    let agent = engine.agent_binary();
    let logs: Vec<_> = engine.lab().nodes.iter().map(|n| n.agent_log()).collect();
    let before: Vec<usize> = logs.iter().map(|l| count(l, " committed in ")).collect();
    for (i, name) in ["node-1", "node-2"].into_iter().enumerate() {
        let source = controller.agent_source(name);
        engine
            .lab_mut()
            .start_agent_with(i, &agent, &source)
            .unwrap();
    }
    for l in &logs {
        wait_log(l, "subscribed (a snapshot)", 1);
    }
    // node-2 hosts b, the policy's pod: its flows change (node-1's span has no policy, its
    // flows stay as they are and nothing is committed).
    wait_log(&logs[1], " committed in ", before[1] + 1);
    let mut echo = engine
        .lab()
        .pod_command("b", engine.kakinectl())
        .args(["probe", "echo", "--port", "7000"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(connects(&engine), "a (client) reaches b across nodes");
    // node-2's report comes back: the policy realized on the one node of its span.
    let before = server_status(&engine, &controller, realized);
    let generation = before["observedGeneration"].as_i64().unwrap();

    // An edit of the directory reaches node-2 through the controller: a is refused.
    let n = count(&logs[1], "update committed");
    std::fs::write(&policy_file, policy("nobody")).unwrap();
    wait_log(&logs[1], "update committed", n + 1);
    assert!(
        !connects(&engine),
        "the edit reached node-2: a is isolated out"
    );
    // The edit is a new generation of the policy, realized again by node-2 alone.
    let after = server_status(&engine, &controller, |s| {
        s["observedGeneration"].as_i64() > Some(generation) && realized(s)
    });
    assert_eq!(after["conditions"][1]["status"], "False", "{after}");

    // The controller crashes: the agents keep enforcing what they have.
    controller.kill(engine.lab());
    std::thread::sleep(Duration::from_millis(500));
    assert!(!connects(&engine), "still enforced without the controller");

    // It comes back: the agents resume, and follow the next edit.
    controller
        .restart(engine.lab())
        .expect("the controller restarts");
    for l in &logs {
        wait_log(l, "subscribed from version ", 1);
    }
    let n = count(&logs[1], "update committed");
    std::fs::write(&policy_file, policy("client")).unwrap();
    wait_log(&logs[1], "update committed", n + 1);
    assert!(
        connects(&engine),
        "the edit after the restart reached node-2"
    );

    // node-2's agent crashes and restarts: at start it enforces the span it kept, never the
    // lab's standalone `last-good.yaml` (no policy: a would connect), which the first start in
    // controller mode removed.
    let n = count(&logs[1], "update committed");
    std::fs::write(&policy_file, policy("nobody")).unwrap();
    wait_log(&logs[1], "update committed", n + 1);
    let state = engine.lab().nodes[1].state_dir();
    assert!(
        !state.join("last-good.yaml").exists(),
        "a stale last-good.yaml"
    );
    let kept = count(&logs[1], "enforcing the span kept in the state directory");
    engine.lab_mut().stop_agent(1);
    let source = controller.agent_source("node-2");
    engine
        .lab_mut()
        .start_agent_with(1, &agent, &source)
        .unwrap();
    wait_log(
        &logs[1],
        "enforcing the span kept in the state directory",
        kept + 1,
    );
    assert!(!connects(&engine), "the kept span holds across the restart");
    assert_eq!(count(&logs[1], "enforcing the last good policy"), 0);
    let enforced = kakine::agent::inspect::enforced(&state).expect("the kept span reads back");
    assert!(
        enforced
            .isolated_ingress
            .iter()
            .any(|k| k.namespace == "x" && k.name == "b"),
        "explain --enforced reads the controller's span: b is isolated"
    );
    let _ = echo.kill();
    let _ = echo.wait();
}

/// Flows of `node`'s OVS that a policy installs (cookie category POLICY or ISOLATION).
fn policy_flows(node: &LabNode) -> Vec<String> {
    let dump = node
        .ovs
        .ofctl("dump-flows", BRIDGE, &[])
        .expect("dump-flows");
    dump.lines()
        .filter(|l| {
            let Some(c) = l.trim().strip_prefix("cookie=0x") else {
                return false;
            };
            let hex = c.split(',').next().unwrap_or_default();
            let (_, category, _) = cookie::split(u64::from_str_radix(hex, 16).unwrap_or(0));
            matches!(category, cookie::POLICY | cookie::ISOLATION)
        })
        .map(String::from)
        .collect()
}

/// The agent arguments of `source` with `flag`'s value replaced.
fn with(source: &[std::ffi::OsString], flag: &str, value: &Path) -> Vec<std::ffi::OsString> {
    let mut out = source.to_vec();
    let i = out.iter().position(|a| a == flag).expect("the flag") + 1;
    out[i] = value.into();
    out
}

#[test]
fn refused_credentials_get_no_span_and_the_agent_says_why() {
    let (mut engine, controller) = lab_with_controller();
    let agent = engine.agent_binary();
    let log = engine.lab().nodes[1].agent_log();
    let ctl_log = controller.log();
    let right = controller.agent_source("node-2");
    assert!(
        policy_flows(&engine.lab().nodes[1]).is_empty(),
        "no policy flow before any span"
    );
    let dir = controller.dir.clone();
    let file = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let other_ca = dir.join("other-ca");
    kakine::controller::tls::generate(
        &other_ca,
        &[engine.lab().nodes[0].spec.ip.to_string()],
        false,
    )
    .unwrap();
    let cases: Vec<(&str, Vec<std::ffi::OsString>, String)> = vec![
        (
            "another node's token",
            with(&right, "--token-file", &dir.join("token-node-1")),
            "the controller refused the request (403): node \"node-1\" may not read or report \
             the span of node \"node-2\""
                .to_string(),
        ),
        (
            "no token file",
            with(&right, "--token-file", &dir.join("absent")),
            format!(
                "--token-file {}: No such file or directory",
                dir.join("absent").display()
            ),
        ),
        (
            "an empty token file",
            with(&right, "--token-file", &file("empty", "\n")),
            format!(
                "--token-file {}: empty: no token to authenticate with",
                dir.join("empty").display()
            ),
        ),
        (
            "a forged token",
            with(
                &right,
                "--token-file",
                &file("forged", "lab-node-2-forged\n"),
            ),
            "the controller refused the request (401): token refused: unknown token".to_string(),
        ),
        (
            "a CA that is not the controller's",
            with(&right, "--ca-file", &other_ca.join("ca.crt")),
            // BadSignature (a CA of the same name) or UnknownIssuer.
            format!(
                "TLS with {}:10349: invalid peer certificate",
                engine.lab().nodes[0].spec.ip
            ),
        ),
    ];
    for (case, source, why) in &cases {
        let n = count(&log, why);
        engine
            .lab_mut()
            .start_agent_with(1, &agent, source)
            .unwrap();
        // Refused, said, and retried (the token file is read again at each attempt).
        wait_log(&log, why, n + 2);
        assert!(
            policy_flows(&engine.lab().nodes[1]).is_empty(),
            "{case}: node-2 got policy flows"
        );
        engine.lab_mut().stop_agent(1);
    }
    assert_eq!(count(&ctl_log, ": subscribed "), 0, "no span was served");

    // An http:// URL: refused at start, before OVS is touched, and the agent exits.
    let url = controller.url.replace("https://", "http://");
    let out = engine.lab().nodes[1]
        .command(&agent)
        .args(with(&right, "--controller", Path::new(&url)))
        .args(["--node", "node-2", "--ovs-rundir", "/nonexistent"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "--controller {url}: expected https://HOST[:PORT] (the controlplane is TLS only)"
        )),
        "{err}"
    );

    // Plain TCP from node-2's namespace: no HTTP answer, no frame; the controller says why.
    let ip = engine.lab().nodes[0].spec.ip;
    let token = std::fs::read_to_string(dir.join("token-node-2")).unwrap();
    let request = format!(
        "GET /v1/span/node-2 HTTP/1.1\\r\\nHost: x\\r\\nAuthorization: Bearer {}\\r\\n\\r\\n",
        token.trim()
    );
    let script =
        format!("exec 3<>/dev/tcp/{ip}/10349 && printf '{request}' >&3 && timeout 5 cat <&3");
    let n = count(&ctl_log, "TLS handshake refused");
    let out = engine.lab().nodes[1]
        .command("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(!answer.contains("HTTP/1"), "{answer}");
    assert!(!answer.contains("snapshot"), "{answer}");
    wait_log(&ctl_log, "TLS handshake refused", n + 1);
    assert!(policy_flows(&engine.lab().nodes[1]).is_empty());

    // The right credentials: the span and its policy flows (the check above can fail).
    let n = count(&log, " committed in ");
    engine
        .lab_mut()
        .start_agent_with(1, &agent, &right)
        .unwrap();
    wait_log(&log, " committed in ", n + 1);
    assert!(
        !policy_flows(&engine.lab().nodes[1]).is_empty(),
        "the right token brings node-2's policy flows"
    );
}

/// `kakinectl lab up --controller`: the lab's agents follow a controller started in its first
/// node (kakine-06 on two nodes: x/a allowed to x/b across nodes, x/c dropped, as with the
/// standalone agents), the controller counts the policies realized, and `lab down` stops the
/// controller with the rest and says so.
#[test]
fn lab_up_with_a_controller_runs_the_agents_from_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let kakinectl = Path::new(env!("CARGO_BIN_EXE_kakinectl"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lab");
    let up = std::process::Command::new(kakinectl)
        .args(["lab", "up"])
        .arg(root.join("tests/scenarios/kakine-06-custom-tiers.yaml"))
        .args(["--nodes", "2", "--controller", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&up.stdout).to_string();
    // Down whatever happens below.
    struct Down<'a>(&'a Path, &'a Path);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new(self.0)
                .args(["lab", "down", "--dir"])
                .arg(self.1)
                .output();
        }
    }
    let down = Down(kakinectl, &dir);
    assert!(
        up.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(text.contains("controller: https://"), "{text}");
    for n in ["n0", "n1"] {
        let log = dir.join(n).join("agent.log");
        assert_eq!(
            count(&log, "subscribed (a snapshot)"),
            1,
            "{}",
            log.display()
        );
    }
    // The namespace of a pod, as `lab up` prints it.
    let netns = |pod: &str| {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("pod {pod} ")))
            .unwrap_or_else(|| panic!("no pod {pod} in\n{text}"));
        line.split("ip netns exec ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap()
            .to_string()
    };
    let probe = |from: &str| {
        std::process::Command::new("ip")
            .args(["netns", "exec", &netns(from)])
            .arg(kakinectl)
            .args(["probe", "connect", "10.6.0.2", "80", "--timeout-ms", "1000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(
        probe("x/a"),
        Some(0),
        "x/a reaches x/b across nodes:\n{text}"
    );
    assert_eq!(
        probe("x/c"),
        Some(1),
        "x/c is dropped by networkops:\n{text}"
    );
    // The first node's namespace (`node node-1 ip ... : netns NS`), where the controller runs.
    let node1 = text
        .lines()
        .find(|l| l.trim_start().starts_with("node node-1 "))
        .and_then(|l| l.rsplit("netns ").next())
        .unwrap_or_else(|| panic!("no node-1 in\n{text}"))
        .trim()
        .to_string();
    let realization = std::process::Command::new("ip")
        .args(["netns", "exec", &node1])
        .arg(kakinectl)
        .args(["realization", "--controller", "http://127.0.0.1:10350"])
        .output()
        .unwrap();
    let r = String::from_utf8_lossy(&realization.stdout);
    assert!(
        r.lines()
            .any(|l| l.contains("devops-allow") && l.contains("Realized")),
        "{r}"
    );
    let lab_down = || {
        let out = std::process::Command::new(kakinectl)
            .args(["lab", "down", "--dir"])
            .arg(&dir)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let first = lab_down();
    std::mem::forget(down);
    for line in [
        format!("node lab in {} down:", dir.display()),
        "  controller (pid ".to_string(),
        "  agent of n1 (pid ".to_string(),
        "  n0: ovs-vswitchd (pid ".to_string(),
        format!("  directory {} removed", dir.display()),
    ] {
        assert!(first.contains(&line), "no {line:?} in\n{first}");
    }
    assert_eq!(
        lab_down(),
        format!("no lab running in {}: nothing to stop\n", dir.display())
    );
}
