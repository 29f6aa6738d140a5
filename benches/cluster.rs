//! Node-lab benchmarks (`make bench-cluster`; needs root, Open vSwitch, iproute2, nftables and
//! python3). Figures go to docs/benchmarks.md; timings are printed, never asserted.
//!
//! 1. **Policy change until committed on every node**, labs of 3 and 10 nodes (two pods per
//!    node): a namespace-wide K8s NetworkPolicy flips its port, the input file is written, and
//!    the time until every node's agent has committed it (its `last-good.yaml` holds the step's
//!    marker; 2 ms polling) is taken; p50/p99 over the runs.
//! 2. **Cross-node TCP throughput and latency**: a 2-node lab, one pod per node, a bulk TCP
//!    transfer (python3 sockets) and a ping, first through kakine's pipeline with a policy
//!    allowing the traffic from a peer group, then with the agents stopped and plain forwarding flows (ARP responder,
//!    routes, tunnel; no conntrack, no policy) on the same nodes, same run.
//!
//! 3. **The same events through the controller** (`controller`): `kakine-controller
//!    --standalone DIR` in the first node (as `tests/controlplane_lab.rs` runs it) and one
//!    `kakine-agent --controller` per node; the input file is written and the time until every
//!    agent has logged a commit is taken, for the policy flips of 1 and for pod-label flips.
//!    The file-watch path's pod-label flips are measured in 1 beside it, same run.
//!
//! A pod-label event: pod `p0-0` flips between `app: web` and `app: db` under a policy
//! admitting `app: web` pods on every pod of the namespace: the address group changes on every
//! node.
//!
//! Optional arguments: the steps to run (`change throughput controller`), default all three.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kakine::lab::cluster_engine::ClusterEngine;
use kakine::lab::controller_lab::{count, LabController};
use kakine::lab::engine::OvsMode;
use kakine::lab::placement::cluster_document;
use kakine::policy::Cluster;

fn cluster(nodes: usize, pods_per_node: usize) -> Cluster {
    let mut y = String::from("nodes:\n");
    for n in 0..nodes {
        y.push_str(&format!("- {{name: node-{n}}}\n"));
    }
    y.push_str("namespaces: [{name: x}]\npods:\n");
    for n in 0..nodes {
        for p in 0..pods_per_node {
            y.push_str(&format!(
                "- {{namespace: x, name: p{n}-{p}, labels: {{app: web}}, ip: 10.40.{n}.{}, node: node-{n}}}\n",
                p + 1
            ));
        }
    }
    serde_saphyr::from_str(&y).expect("generated cluster")
}

fn policy(port: u16) -> Vec<serde_json::Value> {
    vec![serde_json::json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "web", "namespace": "x"},
        "spec": {
            "podSelector": {},
            "ingress": [{"ports": [{"protocol": "TCP", "port": port}]},
                        {"ports": [{"protocol": "TCP", "port": 5201}]}],
        },
    })]
}

/// The throughput run's policy: ingress from the namespace's `app: web` pods on any port and
/// protocol (a peer group, so the pipeline's conjunctions are on the path; ICMP passes for the
/// latency run).
fn throughput_policy() -> Vec<serde_json::Value> {
    vec![serde_json::json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "web", "namespace": "x"},
        "spec": {
            "podSelector": {},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}],
        },
    })]
}

/// Every pod of x admits the `app: web` pods on TCP 80: the `app: web` address group is in
/// every node's span.
fn peer_policy() -> Vec<serde_json::Value> {
    let mut p = throughput_policy();
    p[0]["spec"]["ingress"][0]["ports"] = serde_json::json!([{"protocol": "TCP", "port": 80}]);
    p
}

/// `c` with pod `p0-0` labelled `app: web` (`web`) or `app: db`.
fn relabelled(c: &Cluster, web: bool) -> Cluster {
    let mut c = c.clone();
    for p in c.pods.iter_mut().filter(|p| p.name == "p0-0") {
        let app = if web { "web" } else { "db" };
        p.labels.insert("app".into(), app.into());
    }
    c
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(what: &str, nodes: usize, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{what} committed on all {nodes} nodes: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} events)",
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms[ms.len() - 1],
        ms.len()
    );
}

fn change(nodes: usize, runs: usize) {
    let c = cluster(nodes, 2);
    let mut engine = ClusterEngine::start(&c, nodes, OvsMode::Trace, &[]).expect("lab up");
    engine.apply(&c, &policy(80)).expect("first policy");
    let mut ms = Vec::new();
    for i in 0..runs {
        let d = engine
            .apply(&c, &policy(if i % 2 == 0 { 81 } else { 80 }))
            .expect("change realized");
        ms.push(d.as_secs_f64() * 1e3);
    }
    report("file watch: policy change", nodes, ms);
    engine.apply(&c, &peer_policy()).expect("peer policy");
    let mut ms = Vec::new();
    for i in 0..runs {
        let d = engine
            .apply(&relabelled(&c, i % 2 == 1), &peer_policy())
            .expect("relabel realized");
        ms.push(d.as_secs_f64() * 1e3);
    }
    report("file watch: pod-label change", nodes, ms);
}

/// Writes the controller's input: the lab's cluster and `resources`, one file renamed into
/// place (the controller reads it as one change).
fn write_input(dir: &Path, cluster: &Cluster, resources: &[serde_json::Value]) {
    let mut text = format!("{}\n", cluster_document(cluster));
    for r in resources {
        text.push_str(&format!("---\n{r}\n"));
    }
    let tmp = dir.join(".lab.yaml.tmp");
    std::fs::write(&tmp, text).expect("input written");
    std::fs::rename(&tmp, dir.join("lab.yaml")).expect("input renamed");
}

/// Commits of kind `kind` (`restart`, `update`) logged by each agent so far.
fn commits(logs: &[PathBuf], kind: &str) -> Vec<usize> {
    let line = format!("{kind} committed in ");
    logs.iter().map(|l| count(l, &line)).collect()
}

/// Waits (2 ms polling, 30 s at most) until every agent logged a commit of `kind` after
/// `before`.
fn wait_commits(logs: &[PathBuf], kind: &str, before: &[usize]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while commits(logs, kind).iter().zip(before).any(|(n, b)| n <= b) {
        if Instant::now() > deadline {
            let tails: Vec<String> = logs
                .iter()
                .map(|l| std::fs::read_to_string(l).unwrap_or_default())
                .collect();
            panic!(
                "not every agent committed within 30 s:\n{}",
                tails.join("\n----\n")
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// One event through the controller: the input written, every agent's commit awaited.
fn through(dir: &Path, logs: &[PathBuf], c: &Cluster, resources: &[serde_json::Value]) -> f64 {
    let before = commits(logs, "update");
    let t = Instant::now();
    write_input(dir, c, resources);
    wait_commits(logs, "update", &before);
    t.elapsed().as_secs_f64() * 1e3
}

fn controller(nodes: usize, runs: usize) {
    let c = cluster(nodes, 2);
    let mut engine = ClusterEngine::start(&c, nodes, OvsMode::Trace, &[]).expect("lab up");
    engine.apply(&c, &policy(80)).expect("first policy");
    // The lab's file-watching agents go: the controller is the only reader of the directory.
    for i in 0..nodes {
        engine.lab_mut().stop_agent(i);
    }
    let placed = engine.placement().cluster.clone();
    let dir = engine.input().to_path_buf();
    write_input(&dir, &placed, &policy(80));
    let binary = engine.kakinectl().with_file_name("kakine-controller");
    let lab_controller =
        LabController::start(engine.lab(), &binary, &dir).expect("the controller listens");
    let agent = engine.agent_binary();
    let logs: Vec<PathBuf> = engine.lab().nodes.iter().map(|n| n.agent_log()).collect();
    let names: Vec<String> = engine
        .lab()
        .nodes
        .iter()
        .map(|n| n.spec.name.clone())
        .collect();
    let before = commits(&logs, "restart");
    for (i, name) in names.iter().enumerate() {
        let source = lab_controller.agent_source(name);
        engine
            .lab_mut()
            .start_agent_with(i, &agent, &source)
            .expect("agent started");
    }
    // Each agent's first realization: the controller's snapshot.
    wait_commits(&logs, "restart", &before);
    let ms = (0..runs)
        .map(|i| {
            through(
                &dir,
                &logs,
                &placed,
                &policy(if i % 2 == 0 { 81 } else { 80 }),
            )
        })
        .collect();
    report("controller: policy change", nodes, ms);
    through(&dir, &logs, &placed, &peer_policy());
    let ms = (0..runs)
        .map(|i| {
            through(
                &dir,
                &logs,
                &relabelled(&placed, i % 2 == 1),
                &peer_policy(),
            )
        })
        .collect();
    report("controller: pod-label change", nodes, ms);
    drop(lab_controller);
}

const SERVER: &str = "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',5201))\ns.listen(4)\nwhile True:\n  c,_=s.accept()\n  while c.recv(1<<20): pass\n  c.close()\n";
const CLIENT: &str = "import socket,sys,time\nn=int(sys.argv[2])\nb=b'x'*(1<<16)\ns=socket.create_connection((sys.argv[1],5201))\nt=time.time()\nfor _ in range(n//len(b)): s.sendall(b)\ns.shutdown(socket.SHUT_WR)\ns.recv(1)\nprint('%.1f' % (n*8/(time.time()-t)/1e6))\n";

fn in_pod(engine: &ClusterEngine, pod: &str) -> Command {
    engine.lab().pod_command(pod, "env")
}

/// (Mbit/s of a 256 MB transfer, median of 3; ping RTT avg ms over 200).
fn measure(engine: &ClusterEngine) -> (f64, f64) {
    let mut rates = Vec::new();
    for _ in 0..3 {
        let out = in_pod(engine, "p0-0")
            .args([
                "python3",
                "-c",
                CLIENT,
                "10.40.1.1",
                &(256u64 << 20).to_string(),
            ])
            .output()
            .expect("python3 client");
        let s = String::from_utf8_lossy(&out.stdout);
        rates.push(s.trim().parse::<f64>().unwrap_or(0.0));
    }
    rates.sort_by(f64::total_cmp);
    let ping = in_pod(engine, "p0-0")
        .args(["ping", "-q", "-c", "200", "-i", "0.01", "10.40.1.1"])
        .output()
        .expect("ping");
    let text = String::from_utf8_lossy(&ping.stdout);
    let avg = text
        .lines()
        .find(|l| l.contains("rtt"))
        .and_then(|l| l.split('=').nth(1))
        .and_then(|v| v.trim().split('/').nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    (rates[1], avg)
}

/// Plain forwarding flows for node `i` of the 2-node lab: the gateway's ARP responder, local
/// pods by destination, the other node's pods through the tunnel.
fn plain_flows(engine: &ClusterEngine, i: usize) -> String {
    let node = &engine.lab().nodes[i];
    let ports = node.interface_ofports().expect("ovs-vsctl");
    let port = |name: &str| -> u32 { *ports.get(name).unwrap_or_else(|| panic!("no port {name}")) };
    let gw_mac = "0a:6b:6b:00:00:01";
    let gw = format!("169.254.100.{}", i + 1);
    let gw_hex = format!("0xa9fe64{:02x}", i + 1);
    let mut f = format!(
        "table=0,priority=100,arp,arp_op=1,arp_tpa={gw} actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:{gw_mac},load:2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],load:0x0a6b6b000001->NXM_NX_ARP_SHA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:{gw_hex}->NXM_OF_ARP_SPA[],IN_PORT\ntable=0,priority=90,arp actions=NORMAL\n"
    );
    for p in &engine.lab().pods {
        let ip = p.info.ip;
        if p.node == i {
            let name = kakine::agent::interfaces::host_ifname(
                "kk",
                &p.info.key.namespace,
                &p.info.key.name,
            );
            let mac = kakine::policy::mac::mac_string(kakine::policy::mac::default_mac(ip));
            f.push_str(&format!(
                "table=0,priority=80,ip,nw_dst={ip} actions=mod_dl_src:{gw_mac},mod_dl_dst:{mac},output:{}\n",
                port(&name)
            ));
        } else {
            let peer = engine.lab().nodes[p.node].spec.ip;
            f.push_str(&format!(
                "table=0,priority=80,ip,nw_dst={ip} actions=mod_dl_src:{gw_mac},mod_dl_dst:{gw_mac},set_field:{peer}->tun_dst,output:{}\n",
                port("kakine-tun0")
            ));
        }
    }
    f
}

fn throughput() {
    let c = cluster(2, 1);
    let mut engine = ClusterEngine::start(&c, 2, OvsMode::Traffic, &[]).expect("lab up");
    engine.apply(&c, &throughput_policy()).expect("policy");
    let mut server = in_pod(&engine, "p1-0")
        .args(["python3", "-c", SERVER])
        .stdout(Stdio::null())
        .spawn()
        .expect("python3 server");
    std::thread::sleep(Duration::from_millis(300));
    let (k_rate, k_rtt) = measure(&engine);
    for i in 0..2 {
        engine.lab_mut().stop_agent(i);
    }
    for i in 0..2 {
        let flows = plain_flows(&engine, i);
        let path = engine.input().join(format!("plain-{i}.flows"));
        std::fs::write(&path, flows).unwrap();
        let node = &engine.lab().nodes[i];
        node.ovs
            .ofctl("replace-flows", "br-int", &[path.to_str().unwrap()])
            .expect("plain flows installed");
    }
    let (p_rate, p_rtt) = measure(&engine);
    println!(
        "cross-node TCP (256 MB, median of 3): kakine pipeline {k_rate:.0} Mbit/s, plain forwarding {p_rate:.0} Mbit/s ({:.0}%)",
        100.0 * k_rate / p_rate
    );
    println!("cross-node ping RTT avg (200 pings): kakine pipeline {k_rtt:.3} ms, plain forwarding {p_rtt:.3} ms");
    let _ = server.kill();
    let _ = server.wait();
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |s: &str| args.is_empty() || args.iter().any(|a| a == s);
    if want("change") {
        change(3, 100);
        change(10, 100);
    }
    if want("throughput") {
        throughput();
    }
    if want("controller") {
        controller(3, 100);
        controller(10, 100);
    }
}
