//! Operating the live agent: signals, audit-log rotation, per-object acceptance and the tools
//! that read its state directory, on the `kakine-agent` binary against a sandbox OVS with real
//! TCP between network-namespace pods. One sandbox, one lab and one agent for the whole story
//! (the steps build on each other). Needs root, Open vSwitch and iproute2; fails without.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kakine::lab::pods::Lab;
use kakine::lab::probe::Outcome;
use kakine::lab::sandbox::OvsSandbox;
use kakine::policy::resolved::PodKey;

const CLUSTER: &str = "\
apiVersion: kakine.io/v1alpha1
kind: Cluster
namespaces: [{name: a}, {name: b}]
pods:
- {namespace: a, name: client, labels: {app: client}, ip: 10.40.1.10, ports: []}
- {namespace: b, name: server, labels: {app: server}, ip: 10.40.1.20, ports: [{port: 7000, protocol: TCP}, {port: 7001, protocol: TCP}, {port: 7002, protocol: TCP}]}
";

const SERVER: &str = "10.40.1.20";

/// A ClusterNetworkPolicy into namespace `b` from namespace `a`: one logged rule of `action`
/// on `ports` (plus ICMP for an Allow), in `tier`.
fn policy(name: &str, tier: &str, action: &str, ports: &[u16]) -> String {
    let ports: Vec<String> = ports
        .iter()
        .map(|p| format!("{{protocol: TCP, port: {p}}}"))
        .collect();
    let icmp = if action == "Allow" {
        format!("\n  - {{name: ping, action: {action}, from: [{{namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: a}}}}}}], protocols: [{{icmp: {{}}}}]}}")
    } else {
        String::new()
    };
    format!(
        "apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {{name: {name}}}
spec:
  tier: {tier}
  priority: 5
  appliedTo: [{{namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: b}}}}}}]
  ingress:
  - name: r
    action: {action}
    enableLogging: true
    from: [{{namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: a}}}}}}]
    ports: [{}]{icmp}
",
        ports.join(", ")
    )
}

/// Everything else into `b` drops.
fn closed() -> String {
    policy("b-closed", "baseline", "Drop", &[]).replace("    ports: []\n", "")
}

fn key(s: &str) -> PodKey {
    let (namespace, name) = s.split_once('/').unwrap();
    PodKey {
        namespace: namespace.into(),
        name: name.into(),
    }
}

/// Writes `path` by rename from outside the watched directory (one complete change).
fn put(path: &Path, text: &str) {
    let tmp = path.parent().unwrap().parent().unwrap().join(".put");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The agent under test; killed on drop if a step failed before it stopped.
struct Agent {
    child: Child,
    log: PathBuf,
}

impl Agent {
    fn start(ovs: &OvsSandbox, input: &Path, state: &Path, prefix: &str) -> Agent {
        let log = state.join("agent.log");
        let child = Command::new(env!("CARGO_BIN_EXE_kakine-agent"))
            .arg("--standalone")
            .arg(input)
            .arg("--ovs-rundir")
            .arg(ovs.dir())
            .arg("--state-dir")
            .arg(state)
            .args(["--datapath-type", "netdev", "--ifname-prefix", prefix])
            .args(["--bridge", &format!("{prefix}b"), "--drift-interval", "0"])
            .args(["--metrics-addr", "127.0.0.1:0", "--audit-log"])
            .arg(state.join("np.log"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("kakine-agent starts");
        Agent { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log has `n` lines containing `what`; returns the last of them.
    fn wait_for(&self, what: &str, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.log();
            let lines: Vec<&str> = log.lines().filter(|l| l.contains(what)).collect();
            if lines.len() >= n {
                return lines[n - 1].to_string();
            }
            assert!(Instant::now() < deadline, "no {n}× {what:?} in:\n{log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// `GET /metrics` from the address the agent logged.
    fn metrics(&self) -> String {
        use std::io::{Read, Write};
        let line = self.wait_for("metrics on http://", 1);
        let addr = line
            .split("http://")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `port` of the server: connected (within three 1 s tries) or timed out.
async fn reaches(lab: &Lab, port: u16) -> bool {
    for _ in 0..3 {
        let o = lab
            .probe_tcp(
                &key("a/client"),
                SERVER.parse::<std::net::Ipv4Addr>().unwrap(),
                port,
                Duration::from_secs(1),
            )
            .await;
        if o == Some(Outcome::Connected) {
            return true;
        }
    }
    false
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

fn kakinectl(args: &[&str], state: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kakinectl"))
        .args(args)
        .env("KAKINE_STATE_DIR", state)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "kakinectl {args:?}: {}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reopens_the_audit_log_bad_objects_are_refused_alone_and_sigterm_stops_cleanly() {
    let prefix = format!("o{}", std::process::id() % 100_000);
    let ovs = OvsSandbox::start_temp().expect("sandbox OVS (needs openvswitch-switch, root)");
    let tmp = tempfile::tempdir().unwrap();
    let (input, state) = (tmp.path().join("input"), tmp.path().join("state"));
    std::fs::create_dir_all(&input).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(input.join("cluster.yaml"), CLUSTER).unwrap();
    std::fs::write(input.join("closed.yaml"), closed()).unwrap();
    let allow = input.join("allow.yaml");
    let deny = input.join("deny.yaml");
    std::fs::write(
        &allow,
        policy("allow-a", "application", "Allow", &[7000, 7001]),
    )
    .unwrap();
    std::fs::write(&deny, policy("deny-7001", "securityops", "Drop", &[7001])).unwrap();
    let policies = kakine::agent::load_input(&input).unwrap();
    let kctl = Path::new(env!("CARGO_BIN_EXE_kakinectl"));
    let lab = Lab::create(&policies, &prefix, kctl, None).expect("netns pods");
    let mut agent = Agent::start(&ovs, &input, &state, &prefix);
    agent.wait_for("restart committed", 1);
    assert!(reaches(&lab, 7000).await);
    assert!(!reaches(&lab, 7001).await, "the Drop holds");

    // SIGHUP during traffic, after logrotate's move: the agent lives on, new audit lines go to
    // a fresh np.log, a steady ping loses nothing, and an edit made before the signal lands.
    let np = state.join("np.log");
    let moved = state.join("np.log.moved");
    let client = lab.pod(&key("a/client")).unwrap();
    let ping = client
        .netns
        .command("ping")
        .args(["-q", "-i", "0.02", "-c", "150", "-w", "6", SERVER])
        .stdout(Stdio::piped())
        .spawn()
        .expect("ping runs");
    assert!(
        lines(&np) > 0,
        "the Allow and Drop lines of the probes above"
    );
    std::fs::rename(&np, &moved).unwrap();
    put(
        &allow,
        &policy("allow-a", "application", "Allow", &[7000, 7001, 7002]),
    );
    agent.signal("HUP");
    agent.wait_for("received SIGHUP: reopening the audit log", 1);
    agent.wait_for("re-reading", 1);
    let before = lines(&moved);
    assert!(
        reaches(&lab, 7002).await,
        "the edit landed:\n{}",
        agent.log()
    );
    assert!(reaches(&lab, 7000).await);
    let out = ping.wait_with_output().unwrap();
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        summary.contains("150 packets transmitted, 150 received"),
        "{summary}"
    );
    assert!(agent.alive(), "SIGHUP ended the agent:\n{}", agent.log());
    std::thread::sleep(Duration::from_millis(1200)); // the audit flush tick
    assert!(
        lines(&np) > 0,
        "no line in the fresh np.log:\n{}",
        agent.log()
    );
    assert_eq!(lines(&moved), before, "lines still went to the moved file");

    // A bad edit of the Drop beside a good edit, a bad new object and a ConfigMap: the good
    // edit lands, the old Drop stays enforced (real traffic), the bad objects are refused and
    // counted, the ConfigMap is skipped with a warning.
    put(&deny, &policy("deny-7001", "securityops", "Dorp", &[7001]));
    put(
        &input.join("zz-new.yaml"),
        &policy("zz-new", "emergency", "Allow", &[7001]).replace("priority: 5", "priority: 0"),
    );
    put(
        &input.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: b}\ndata: {k: v}\n",
    );
    put(
        &allow,
        &policy("allow-a", "application", "Allow", &[7000, 7001]),
    );
    let refused = agent.wait_for("refused: ClusterNetworkPolicy.crd.kakine.io deny-7001", 1);
    assert!(
        refused.contains("its last good version stays enforced")
            && refused.contains("deny.yaml")
            && refused.contains("spec.ingress[0].action"),
        "{refused}"
    );
    let new = agent.wait_for("refused: ClusterNetworkPolicy.crd.kakine.io zz-new", 1);
    assert!(
        new.contains("it is absent")
            && new.contains("zz-new.yaml")
            && new.contains("spec.priority"),
        "{new}"
    );
    agent.wait_for("v1 ConfigMap is not a policy kind: skipped", 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while reaches(&lab, 7002).await {
        assert!(Instant::now() < deadline, "the Allow edit never landed");
    }
    assert!(reaches(&lab, 7000).await);
    assert!(
        !reaches(&lab, 7001).await,
        "the refused edit opened the Drop:\n{}",
        agent.log()
    );
    let metrics = agent.metrics();
    assert!(
        metrics.contains("kakine_agent_input_objects_refused{kind=\"ClusterNetworkPolicy\"} 2"),
        "{metrics}"
    );
    let report = kakinectl(&["refused"], &state);
    assert!(
        report.contains("refused   ClusterNetworkPolicy.crd.kakine.io deny-7001")
            && report.contains("enforced: its last good version")
            && report.contains("enforced: nothing (never accepted)")
            && report.contains("skipped   ")
            && report.contains("ConfigMap"),
        "{report}"
    );
    let explain = kakinectl(
        &[
            "explain",
            "--enforced",
            "--from",
            "a/client",
            "--to",
            "b/server",
            "--port",
            "7001",
        ],
        &state,
    );
    assert!(
        explain.contains("Deny") && explain.contains("deny-7001"),
        "{explain}"
    );

    // The fix: both refusals clear, and the Drop's new version is enforced.
    put(
        &deny,
        &policy("deny-7001", "securityops", "Drop", &[7000, 7001]),
    );
    std::fs::remove_file(input.join("zz-new.yaml")).unwrap();
    agent.wait_for("deny-7001: no longer refused", 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while reaches(&lab, 7000).await {
        assert!(Instant::now() < deadline, "the fixed Drop never landed");
    }
    let report = kakinectl(&["refused"], &state);
    assert!(report.starts_with("nothing refused"), "{report}");

    // SIGTERM: logged, exit 0, within a few seconds.
    agent.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = agent.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "SIGTERM did not stop the agent");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}\n{}", agent.log());
    let log = agent.log();
    assert!(
        log.contains("received SIGTERM: stopping") && log.contains("stopped"),
        "{log}"
    );
}
