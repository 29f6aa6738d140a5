//! The live agent on a real Open vSwitch: `kakine-agent --standalone DIR` (no `--once`) follows
//! its input directory, repairs drift, survives its own restart and those of ovs-vswitchd and
//! ovsdb-server, and enforces its last good state at start. Verdicts come from real TCP between
//! network-namespace pods; "nothing lost" from a real long TCP connection and a steady ping.
//! Needs root, Open vSwitch and iproute2; fails (never skips) without.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kakine::lab::Lab;
use kakine::policy::resolved::{PodKey, ResolvedPolicies};
use kakine::probe::Outcome;
use kakine::sandbox::{self, OvsSandbox};

fn key(s: &str) -> PodKey {
    let (namespace, name) = s.split_once('/').unwrap();
    PodKey {
        namespace: namespace.into(),
        name: name.into(),
    }
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// A running `kakine-agent` (live mode) whose stderr goes to a file; killed on drop.
struct Agent {
    child: Child,
    log: PathBuf,
}

impl Agent {
    fn start(ovs: &OvsSandbox, input: &Path, state: &Path, prefix: &str) -> Agent {
        let log = state.join("agent.log");
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kakine-agent"))
            .arg("--standalone")
            .arg(input)
            .arg("--ovs-rundir")
            .arg(ovs.dir())
            .arg("--state-dir")
            .arg(state)
            .args(["--datapath-type", "netdev", "--ifname-prefix", prefix])
            .args(["--bridge", &format!("{prefix}b"), "--drift-interval", "0.5"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("kakine-agent starts");
        Agent { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log has `n` lines containing `what`; returns the last such line.
    fn wait_for(&self, what: &str, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.log();
            let lines: Vec<&str> = log.lines().filter(|l| l.contains(what)).collect();
            if lines.len() >= n {
                return lines[n - 1].to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no {n}× {what:?} in the agent log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: a crash, no clean-up.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Flows as `ovs-ofctl dump-flows` prints them, with the statistics stripped, and each one's
/// `duration` in seconds.
fn flows(ovs: &OvsSandbox, bridge: &str) -> BTreeMap<String, f64> {
    let dump = ovs.ofctl("dump-flows", bridge, &[]).unwrap();
    dump.lines()
        .filter(|l| l.contains("table="))
        .map(|l| {
            let mut duration = 0.0;
            let kept: Vec<&str> = l
                .trim()
                .split(", ")
                .filter(|part| {
                    if let Some(d) = part.strip_prefix("duration=") {
                        duration = d.trim_end_matches('s').parse().unwrap_or(0.0);
                        return false;
                    }
                    !(part.starts_with("n_packets=")
                        || part.starts_with("n_bytes=")
                        || part.starts_with("idle_age=")
                        || part.starts_with("hard_age="))
                })
                .collect();
            (kept.join(", "), duration)
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in kakine::state::input_files(from).unwrap() {
        std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
    }
}

async fn assert_matrix(lab: &Lab, policies: &ResolvedPolicies, what: &str) {
    let m = lab.matrix(policies, Duration::from_millis(1000)).await;
    assert!(
        m.mismatches().is_empty(),
        "{what}: cells differ from the evaluator:\n{}",
        m.render(true)
    );
}

/// `+a ~c -d` of a "committed" log line.
fn counts(line: &str) -> (usize, usize, usize) {
    let part = line.split(": ").last().unwrap();
    let mut it = part.split_whitespace().take(3).map(|t| {
        t.trim_start_matches(['+', '~', '-'])
            .parse::<usize>()
            .unwrap()
    });
    (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
}

const EXTRA: &str = "\
apiVersion: crd.kakine.io/v1beta1
kind: ClusterNetworkPolicy
metadata:
  name: freeze-api
spec:
  tier: securityops
  priority: 5
  appliedTo:
  - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: api}}
  ingress:
  - name: drop-web
    action: Drop
    from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: web}}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_agent_follows_its_directory_rejects_bad_input_and_repairs_drift() {
    let prefix = format!("l{}", std::process::id() % 100_000);
    let bridge = format!("{prefix}b");
    let ovs = OvsSandbox::start_temp().expect("sandbox OVS (needs openvswitch-switch, root)");
    let tmp = tempfile::tempdir().unwrap();
    let (input, state) = (tmp.path().join("input"), tmp.path().join("state"));
    copy_dir(&examples(), &input);
    std::fs::create_dir_all(&state).unwrap();
    let policies = kakine::agent::load_input(&input).unwrap();
    let kakinectl = Path::new(env!("CARGO_BIN_EXE_kakinectl"));
    let lab = Lab::create(&policies, &prefix, kakinectl, None).expect("netns pods");

    let agent = Agent::start(&ovs, &input, &state, &prefix);
    agent.wait_for("restart committed", 1);
    assert_matrix(&lab, &policies, "at start").await;
    let before = flows(&ovs, &bridge);
    let round: Vec<&String> = before
        .keys()
        .filter(|f| !f.contains("cookie=0x1"))
        .collect();
    assert!(round.is_empty(), "flows not of round 1: {round:?}");

    // A policy added: only its flows and the shared match flows it joins are written.
    let (frontend, orders) = (key("web/frontend"), key("api/orders"));
    let orders_ip = lab.pod(&orders).unwrap().info.ip;
    std::thread::sleep(Duration::from_millis(1100)); // so that untouched flows age visibly
    std::fs::write(input.join("zz-extra.yaml"), EXTRA).unwrap();
    let line = agent.wait_for("update committed", 1);
    let (added, changed, deleted) = counts(&line);
    let after = flows(&ovs, &bridge);
    let new: Vec<_> = after.keys().filter(|f| !before.contains_key(*f)).collect();
    let gone: Vec<_> = before.keys().filter(|f| !after.contains_key(*f)).collect();
    assert_eq!(new.len(), added + changed, "{line}\nnew: {new:#?}");
    assert_eq!(gone.len(), changed + deleted, "{line}\ngone: {gone:#?}");
    assert!(added > 0 && added + changed < before.len() / 4, "{line}");
    for (f, d) in &after {
        if let Some(old) = before.get(f) {
            assert!(
                d >= old,
                "an unchanged flow was rewritten: {f} ({old}s -> {d}s)"
            );
        }
    }
    let dt = Duration::from_millis(1000);
    assert_eq!(
        lab.probe_tcp(&frontend, orders_ip, 8080, dt).await,
        Some(Outcome::TimedOut)
    );
    assert_matrix(
        &lab,
        &kakine::agent::load_input(&input).unwrap(),
        "extra policy",
    )
    .await;

    // Bad input: rejected with the file named, flows untouched, traffic as before.
    let enforced = flows(&ovs, &bridge);
    std::fs::write(input.join("zz-bad.yaml"), "kind: [\n").unwrap();
    let line = agent.wait_for("input rejected", 1);
    assert!(line.contains("zz-bad.yaml"), "{line}");
    assert_eq!(
        flows(&ovs, &bridge).keys().collect::<Vec<_>>(),
        enforced.keys().collect::<Vec<_>>()
    );
    std::fs::remove_file(input.join("zz-bad.yaml")).unwrap();
    agent.wait_for("update committed", 2);

    // The policy deleted: frontend reaches orders again.
    std::fs::remove_file(input.join("zz-extra.yaml")).unwrap();
    agent.wait_for("update committed", 3);
    assert_eq!(
        lab.probe_tcp(&frontend, orders_ip, 8080, dt).await,
        Some(Outcome::Connected)
    );
    assert_eq!(
        flows(&ovs, &bridge).keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "back to the original flows"
    );

    // A pod label change: reports becomes an `app: orders` client of postgres.
    let cluster = std::fs::read_to_string(input.join("cluster.yaml")).unwrap();
    let relabeled = cluster.replace(
        "name: reports,  labels: {app: reports}",
        "name: reports,  labels: {app: orders}",
    );
    assert_ne!(cluster, relabeled);
    std::fs::write(input.join("cluster.yaml"), relabeled).unwrap();
    agent.wait_for("update committed", 4);
    let (reports, postgres) = (key("api/reports"), key("db/postgres"));
    let pg_ip = lab.pod(&postgres).unwrap().info.ip;
    assert_eq!(
        lab.probe_tcp(&reports, pg_ip, 5432, dt).await,
        Some(Outcome::Connected)
    );
    let relabeled = kakine::agent::load_input(&input).unwrap();
    assert_matrix(&lab, &relabeled, "pod relabeled").await;

    // Drift: a flow deleted by hand and a foreign one added are repaired and logged.
    let enforced = flows(&ovs, &bridge);
    let victim = enforced
        .keys()
        .find(|f| f.contains("conjunction("))
        .expect("a conjunction flow")
        .clone();
    let (table_and_prio, _) = victim.split_once(" actions=").unwrap();
    let matchspec: String = table_and_prio
        .split(", ")
        .filter(|p| !p.starts_with("cookie="))
        .collect::<Vec<_>>()
        .join(",");
    sandbox::run(
        Command::new("ovs-ofctl")
            .args(["-O", "OpenFlow13", "--strict", "del-flows"])
            .arg(format!("unix:{}", ovs.mgmt_sock(&bridge).display()))
            .arg(&matchspec),
    )
    .unwrap();
    ovs.ofctl(
        "add-flow",
        &bridge,
        &["table=0,priority=65000,ip,nw_src=10.99.0.1,actions=drop"],
    )
    .unwrap();
    let line = agent.wait_for("drift:", 1);
    assert!(line.contains("+1 ~0 -1"), "{line}");
    agent.wait_for("repair committed", 1);
    assert_eq!(
        flows(&ovs, &bridge).keys().collect::<Vec<_>>(),
        enforced.keys().collect::<Vec<_>>(),
        "repaired"
    );
    let log = agent.log();
    assert!(
        log.contains("10.99.0.1"),
        "the repair names the foreign flow:\n{log}"
    );
}
