//! CNI benchmark (`cargo bench --bench cni`, or `make bench-cni`; needs root, Open vSwitch and
//! containernetworking-plugins). Figures go to docs/benchmarks.md; timings are printed, never
//! asserted.
//!
//! A node in a network namespace ([`kakine::lab::cni_node`]) with `kakine-agent --cni-socket`
//! and a policy that lets only `bench/client` reach the other pods on TCP 8080. For each of
//! `PODS` pods (default 50; first argument), one after the other as a kubelet starts them: the
//! pod's namespace is made and its server started (not timed), then `kakine-cni` ADD runs
//! (timed: the binary with IPAM, veth and the agent's commit) and the client connects until
//! answered (timed: ADD start to the first answered connection, each attempt a
//! `kakinectl probe connect` of 200 ms). Then every pod is deleted (DEL timed).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use kakine::lab::cni_node::{Binaries, CniNode, PREFIX};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn model(pods: usize) -> String {
    let mut s = String::from(
        "apiVersion: kakine.io/v1alpha1\nkind: Cluster\nnamespaces:\n- name: bench\npods:\n\
         - {namespace: bench, name: client, labels: {app: client}, ip: 10.77.0.10}\n",
    );
    for i in 0..pods {
        let _ = writeln!(
            s,
            "- {{namespace: bench, name: p{i}, labels: {{app: target}}, ip: 10.77.{}.{}, ports: [{{port: 8080, protocol: TCP}}]}}",
            1 + i / 250,
            1 + i % 250
        );
    }
    s.push_str(
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: from-client, namespace: bench}\n\
         spec:\n  podSelector: {matchLabels: {app: target}}\n  policyTypes: [Ingress]\n  ingress:\n\
         \x20 - from: [{podSelector: {matchLabels: {app: client}}}]\n    ports: [{protocol: TCP, port: 8080}]\n",
    );
    s
}

fn env(command: &str, pod: &str, netns: &Path, ip: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CNI_COMMAND", command.into()),
        ("CNI_CONTAINERID", format!("c-{pod}")),
        ("CNI_NETNS", netns.display().to_string()),
        ("CNI_IFNAME", "eth0".into()),
        (
            "CNI_ARGS",
            format!("IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME={pod};IP={ip}"),
        ),
        ("CNI_PATH", "/usr/lib/cni".into()),
    ]
}

fn main() {
    let pods: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(50);
    let bins = Binaries {
        agent: env!("CARGO_BIN_EXE_kakine-agent").into(),
        cni: env!("CARGO_BIN_EXE_kakine-cni").into(),
        kakinectl: env!("CARGO_BIN_EXE_kakinectl").into(),
    };
    let mut n = CniNode::start(&format!("bn{}", std::process::id() % 1000), bins)
        .expect("a node starts (root, Open vSwitch)");
    std::fs::write(n.input().join("cluster.yaml"), model(pods)).unwrap();
    n.start_agent().expect("kakine-agent starts");
    let conf = serde_json::json!({
        "cniVersion": "1.0.0", "name": "bench", "type": "kakine-cni",
        "agentSocket": n.socket(), "ifnamePrefix": PREFIX,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.77.0.0/16"}]], "dataDir": n.ipam_dir()},
    })
    .to_string();
    let client = n.pod_netns("client").unwrap();
    let r = n.cni(&env("ADD", "client", &client, "10.77.0.10"), &conf);
    assert_eq!(r.code, 0, "{r:?}\n{}", n.agent_log());

    println!("## CNI ADD to pod reachable under its policy ({pods} pods, one after the other)");
    let (mut adds, mut reach, mut dels) = (Vec::new(), Vec::new(), Vec::new());
    let mut made = Vec::new();
    for i in 0..pods {
        let ip = format!("10.77.{}.{}", 1 + i / 250, 1 + i % 250);
        let netns = n.pod_netns(&format!("p{i}")).unwrap();
        n.serve(&netns, &[8080]).unwrap();
        let t = Instant::now();
        let r = n.cni(&env("ADD", &format!("p{i}"), &netns, &ip), &conf);
        assert_eq!(r.code, 0, "{r:?}\n{}", n.agent_log());
        adds.push(t.elapsed().as_secs_f64() * 1e3);
        let target = ip.parse().unwrap();
        while !n.connects(&client, target, 8080, Duration::from_millis(200)) {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "p{i} never reachable"
            );
        }
        reach.push(t.elapsed().as_secs_f64() * 1e3);
        made.push((format!("p{i}"), netns, ip));
    }
    for (pod, netns, ip) in &made {
        let t = Instant::now();
        let r = n.cni(&env("DEL", pod, netns, ip), &conf);
        assert_eq!(r.code, 0, "{r:?}");
        dels.push(t.elapsed().as_secs_f64() * 1e3);
    }
    for (what, v) in [
        (
            "ADD (kakine-cni run to exit 0: IPAM, veth, flows committed)",
            &mut adds,
        ),
        ("ADD start to the first answered connection", &mut reach),
        (
            "DEL (port and flows removed, veth deleted, address released)",
            &mut dels,
        ),
    ] {
        println!(
            "{what}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            pct(v, 0.5),
            pct(v, 0.99),
            pct(v, 1.0)
        );
    }
    // The agent's share: from the request taken to the bundle committed ("update committed
    // in X ms" of its log), one line per ADD and DEL.
    let mut agent: Vec<f64> = n
        .agent_log()
        .lines()
        .filter_map(|l| {
            l.split("update committed in ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    if !agent.is_empty() {
        println!(
            "agent, request to bundle committed ({} realizations): p50 {:.1} ms, p99 {:.1} ms",
            agent.len(),
            pct(&mut agent, 0.5),
            pct(&mut agent, 0.99)
        );
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at the end: {}", load.trim());
}
