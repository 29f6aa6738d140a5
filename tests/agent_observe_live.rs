//! The live agent's health, metrics and audit log on a real Open vSwitch: `kakine-agent`
//! (live mode) against a sandbox OVS with network-namespace pods. `/readyz` and the connected
//! gauge follow an ovs-vswitchd outage; isolation drops are audit-logged and attributed to the
//! NetworkPolicies that isolate the pod; a Reject rule gets one line per connection attempt.
//! Needs root, Open vSwitch and iproute2; fails (never skips) without.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kakine::lab::pods::{Lab, Servers};
use kakine::lab::probe::Outcome;
use kakine::lab::sandbox::OvsSandbox;
use kakine::policy::resolved::PodKey;

const CLUSTER: &str = "\
apiVersion: kakine.io/v1alpha1
kind: Cluster
namespaces:
- name: a
- {name: b, annotations: {kakine.io/enable-np-logging: \"true\"}}
pods:
- {namespace: a, name: client, labels: {app: client}, ip: 10.30.1.10, ports: []}
- {namespace: b, name: server, labels: {app: server}, ip: 10.30.1.20, ports: [{port: 7000, protocol: TCP}, {port: 7001, protocol: TCP}, {port: 7002, protocol: TCP}]}
";

const POLICIES: &str = "\
apiVersion: crd.kakine.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: refuse-7001}
spec:
  tier: application
  priority: 10
  appliedTo: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: b}}}]
  ingress:
  - name: reject-7001
    action: Reject
    enableLogging: true
    from: [{namespaceSelector: {}}]
    ports: [{protocol: TCP, port: 7001}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-echo, namespace: b}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: a}}}]
    ports: [{protocol: TCP, port: 7000}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: b}
spec:
  podSelector: {}
  policyTypes: [Ingress]
";

fn key(s: &str) -> PodKey {
    let (namespace, name) = s.split_once('/').unwrap();
    PodKey {
        namespace: namespace.into(),
        name: name.into(),
    }
}

/// The agent, killed (by its pid) on drop.
struct Agent(Child, PathBuf);

impl Agent {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.1).unwrap_or_default()
    }
    /// The first log line containing `what`, waiting up to 30 s.
    fn wait_for(&self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(l) = self.log().lines().find(|l| l.contains(what)) {
                return l.to_string();
            }
            assert!(Instant::now() < deadline, "no {what:?} in:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path`: (status code, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("endpoint accepts");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: kakine\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (
        code,
        out.split_once("\r\n\r\n").map_or("", |x| x.1).to_string(),
    )
}

/// The value of the first sample line starting with `prefix`.
fn sample(body: &str, prefix: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Polls `path` until its status is `code`; panics after `secs`.
fn wait_status(addr: SocketAddr, path: &str, code: u16, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (c, body) = get(addr, path);
        if c == code {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} stayed {c}: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn audit_lines(path: &Path, what: &[&str]) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| what.iter().all(|w| l.contains(w)))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_a_vswitchd_outage_and_the_audit_log_names_isolating_policies_and_each_rejected_attempt(
) {
    let prefix = format!("o{}", std::process::id() % 100_000);
    let ovs = OvsSandbox::start_temp().expect("sandbox OVS (needs openvswitch-switch, root)");
    let tmp = tempfile::tempdir().unwrap();
    let (input, state) = (tmp.path().join("input"), tmp.path().join("state"));
    std::fs::create_dir_all(&input).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(input.join("cluster.yaml"), CLUSTER).unwrap();
    std::fs::write(input.join("policies.yaml"), POLICIES).unwrap();
    let policies = kakine::agent::load_input(&input).unwrap();
    let servers = Servers {
        kakinectl: Path::new(env!("CARGO_BIN_EXE_kakinectl")),
        udp: false,
        sctp: false,
    };
    let lab = Lab::create_with(&policies, &prefix, Some(servers), None).expect("netns pods");
    let audit = state.join("np.log");
    let log = state.join("agent.log");
    let child = Command::new(env!("CARGO_BIN_EXE_kakine-agent"))
        .arg("--standalone")
        .arg(&input)
        .arg("--ovs-rundir")
        .arg(ovs.dir())
        .arg("--state-dir")
        .arg(&state)
        .args(["--datapath-type", "netdev", "--ifname-prefix", &prefix])
        .args(["--bridge", &format!("{prefix}b"), "--drift-interval", "0"])
        .args(["--metrics-addr", "127.0.0.1:0", "--audit-log"])
        .arg(&audit)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("kakine-agent starts");
    let agent = Agent(child, log);
    let line = agent.wait_for("metrics on http://");
    let addr: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line}"));
    agent.wait_for("restart committed");
    wait_status(addr, "/readyz", 200, 30);
    assert_eq!(get(addr, "/healthz").0, 200);
    assert_eq!(get(addr, "/livez").0, 200);

    let (client, server) = (
        key("a/client"),
        "10.30.1.20".parse::<std::net::Ipv4Addr>().unwrap(),
    );
    let t = Duration::from_millis(1500);
    assert_eq!(
        lab.probe_tcp(&client, server, 7000, t).await,
        Some(Outcome::Connected)
    );

    // Reject: five attempts, five source ports, five lines.
    for _ in 0..5 {
        assert_eq!(
            lab.probe_tcp(&client, server, 7001, t).await,
            Some(Outcome::Refused)
        );
    }
    // Isolation: not allowed by allow-echo, so dropped by the isolation of both policies.
    assert_eq!(
        lab.probe_tcp(&client, server, 7002, t).await,
        Some(Outcome::TimedOut)
    );
    tokio::time::sleep(Duration::from_millis(2500)).await; // dedup windows close
    let rejects = audit_lines(&audit, &[" Reject ", " 10.30.1.20 7001 "]);
    assert_eq!(
        rejects.len(),
        5,
        "one line per attempt:\n{}",
        rejects.join("\n")
    );
    let ports: std::collections::BTreeSet<&str> = rejects
        .iter()
        .map(|l| l.split(' ').nth(9).unwrap())
        .collect();
    assert_eq!(ports.len(), 5, "five source ports: {ports:?}");
    let isolation = audit_lines(&audit, &[" 10.30.1.20 7002 "]);
    assert!(
        !isolation.is_empty(),
        "{}",
        std::fs::read_to_string(&audit).unwrap_or_default()
    );
    for l in &isolation {
        assert!(
            l.contains(" IngressDefault k8s NetworkPolicy:b/allow-echo,b/deny-all default-deny-ingress Ingress Drop b/server 10.30.1.10 "),
            "{l}"
        );
    }
    let text = std::fs::read_to_string(&audit).unwrap();
    let times: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "lines in time order:\n{text}");

    let (_, body) = get(addr, "/metrics");
    let denied = sample(
        &body,
        "kakine_agent_denied_connection_count_total{tier=\"k8s\",policy=\"b/allow-echo,b/deny-all\",rule=\"default-deny-ingress\"",
    );
    assert!(denied.is_some_and(|n| n >= 1.0), "{body}");
    let rejected = sample(
        &body,
        "kakine_agent_denied_connection_count_total{tier=\"application\",policy=\"refuse-7001\"",
    );
    assert!(rejected.is_some_and(|n| n >= 5.0), "{body}");
    for (name, least) in [
        ("kakine_agent_local_pod_count ", 2.0),
        ("kakine_agent_networkpolicy_count ", 3.0),
        ("kakine_agent_connected{connection=\"openflow\"} ", 1.0),
        ("kakine_agent_conntrack_total_connection_count ", 1.0),
        ("kakine_agent_ovs_bundle_commit_seconds_count ", 1.0),
        ("process_open_fds ", 3.0),
    ] {
        assert!(
            sample(&body, name).is_some_and(|n| n >= least),
            "{name}< {least}:\n{body}"
        );
    }

    // ovs-vswitchd down (killed by its pid): not ready, and the endpoint says why, for as
    // long as the outage lasts.
    ovs.kill("ovs-vswitchd");
    let why = wait_status(addr, "/readyz", 503, 15);
    assert!(why.contains("openflow disconnected"), "{why}");
    std::thread::sleep(Duration::from_secs(3));
    let (code, _) = get(addr, "/readyz");
    assert_eq!(code, 503, "still not ready while vswitchd is down");
    let (_, body) = get(addr, "/metrics");
    assert_eq!(
        sample(&body, "kakine_agent_connected{connection=\"openflow\"} "),
        Some(0.0),
        "{body}"
    );
    ovs.start_vswitchd().unwrap();
    wait_status(addr, "/readyz", 200, 45);
    let (_, body) = get(addr, "/metrics");
    assert_eq!(
        sample(&body, "kakine_agent_connected{connection=\"openflow\"} "),
        Some(1.0),
        "{body}"
    );
    assert!(
        sample(
            &body,
            "kakine_agent_reconnects_total{connection=\"openflow\"} "
        )
        .is_some_and(|n| n >= 1.0),
        "{body}"
    );
    assert_eq!(
        lab.probe_tcp(&client, server, 7000, t).await,
        Some(Outcome::Connected)
    );
}
