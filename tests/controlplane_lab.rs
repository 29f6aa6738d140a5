//! The distributed system in the node lab: `kakine-controller --standalone DIR` in the first
//! node's namespace (listening on its underlay address, TLS, a token per node) and one
//! `kakine-agent --controller` per node, real traffic across nodes. An edit of DIR flips the
//! verdict on the server's node; the controller killed, the agents keep enforcing; restarted,
//! they resume and follow the next edit. Needs root, Open vSwitch, iproute2 and nftables;
//! fails (never skips) without.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use kakine::lab::cluster_engine::ClusterEngine;
use kakine::lab::controller_lab::{count, LabController};
use kakine::lab::engine::OvsMode;

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

#[test]
fn agents_follow_the_controller_across_nodes_and_keep_enforcing_without_it() {
    let cluster: kakine::policy::Cluster = serde_saphyr::from_str(WORLD).unwrap();
    let mut engine = ClusterEngine::start(&cluster, 2, OvsMode::Traffic, &[]).expect("lab up");
    // The lab's standalone agents go: from now on the controller is the only reader of the
    // directory.
    for i in 0..2 {
        engine.lab_mut().stop_agent(i);
    }
    let input = engine.input().to_path_buf();
    let policy_file = input.join("policy.yaml");
    std::fs::write(&policy_file, policy("client")).unwrap();
    let binary = engine.kakinectl().with_file_name("kakine-controller");
    let mut controller =
        LabController::start(engine.lab(), &binary, &input).expect("the controller listens");
    let agent = engine.agent_binary();
    let logs: Vec<_> = engine.lab().nodes.iter().map(|n| n.agent_log()).collect();
    let before: Vec<usize> = logs.iter().map(|l| count(l, "update committed")).collect();
    for (i, name) in ["node-1", "node-2"].into_iter().enumerate() {
        let source = controller.agent_source(name);
        engine
            .lab_mut()
            .start_agent_with(i, &agent, &source)
            .unwrap();
    }
    for l in &logs {
        wait_log(l, "subscribed from version None", 1);
    }
    // node-2 hosts b, the policy's pod: its flows change (node-1's span has no policy, its
    // flows stay as they are and nothing is committed).
    wait_log(&logs[1], "update committed", before[1] + 1);
    let mut echo = engine
        .lab()
        .pod_command("b", engine.kakinectl())
        .args(["probe", "echo", "--port", "7000"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(connects(&engine), "a (client) reaches b across nodes");

    // An edit of the directory reaches node-2 through the controller: a is refused.
    let n = count(&logs[1], "update committed");
    std::fs::write(&policy_file, policy("nobody")).unwrap();
    wait_log(&logs[1], "update committed", n + 1);
    assert!(
        !connects(&engine),
        "the edit reached node-2: a is isolated out"
    );

    // The controller crashes: the agents keep enforcing what they have.
    controller.kill(engine.lab());
    std::thread::sleep(Duration::from_millis(500));
    assert!(!connects(&engine), "still enforced without the controller");

    // It comes back: the agents resume, and follow the next edit.
    controller
        .restart(engine.lab())
        .expect("the controller restarts");
    for l in &logs {
        wait_log(l, "subscribed from version Some(", 1);
    }
    let n = count(&logs[1], "update committed");
    std::fs::write(&policy_file, policy("client")).unwrap();
    wait_log(&logs[1], "update committed", n + 1);
    assert!(
        connects(&engine),
        "the edit after the restart reached node-2"
    );
    let _ = echo.kill();
    let _ = echo.wait();
}
