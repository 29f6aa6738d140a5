//! Agent benchmarks on a real Open vSwitch (`cargo bench --bench agent`, or `make bench-agent`;
//! needs root and Open vSwitch). Figures go to docs/benchmarks.md. Timings are printed, never
//! asserted.
//!
//! 1. **Install rate**: the compiled flows of a generated input (about 10k and 100k flows)
//!    installed by our OpenFlow connection in one bundle, against
//!    `ovs-ofctl -O OpenFlow13 --bundle add-flows` of the same flows (our text form), on the
//!    same OVS in the same run, alternating, median of 3.
//! 2. **Realization latency** with about 10k flows installed: the live agent (in process, real
//!    directory watch) for single-policy add, update and delete and a single pod label change;
//!    p50/p99 from the first file event to the bundle committed.
//! 3. **Agent RSS** with about 100k flows installed (the `kakine-agent` binary).
//! 4. **Restart** with about 100k flows: `kakine-agent` killed (SIGKILL) and started again while
//!    a long TCP connection and a ping run between two netns pods: time to converge, packets lost.
//!
//! Optional arguments: the steps to run (`install latency rss restart`), default all.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kakine::agent::live::{Live, LiveConfig, Realization, PHANTOM_OFPORT_BASE};
use kakine::agent::AgentConfig;
use kakine::datapath::compiler::{compile, LocalPod};
use kakine::lab::pods::{Lab, Servers};
use kakine::lab::sandbox::OvsSandbox;
use openflow::flow::MacAddr;

/// A generated input: `namespaces` × `pods` pods, `policies` ACNPs.
#[derive(Clone, Copy)]
struct Shape {
    namespaces: usize,
    pods: usize,
    policies: usize,
}

/// Two real pods for the restart step (the same as tests/agent_live.rs's soak lab).
const SOAK: &str = "\
- {namespace: a, name: client, labels: {app: client}, ip: 10.20.1.10, ports: []}
- {namespace: b, name: server, labels: {app: server}, ip: 10.20.1.20, ports: []}
";

const SOAK_POLICY: &str = "\
apiVersion: crd.kakine.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: client-to-server}
spec:
  tier: securityops
  priority: 1
  appliedTo: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: b}}}]
  ingress:
  - {name: allow-echo, action: Allow, from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: a}}}], ports: [{protocol: TCP, port: 7000}]}
  - {name: allow-ping, action: Allow, from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: a}}}], protocols: [{icmp: {}}]}
  - {name: drop-rest, action: Drop, from: [{namespaceSelector: {}}]}
";

/// Pod `p` of namespace `ns-n`, one YAML line.
fn pod_line(n: usize, p: usize, app: &str) -> String {
    format!(
        "- {{namespace: ns-{n}, name: pod-{p}, labels: {{app: {app}}}, ip: 10.{}.{}.{}, ports: [{{port: 80, protocol: TCP, name: http}}]}}\n",
        128 + n / 250,
        n % 250,
        p + 1
    )
}

/// The model of namespace `ns-n` alone (the split layout: one Cluster document per namespace).
fn namespace_yaml(s: Shape, n: usize, relabel: bool) -> String {
    let mut y = String::from("apiVersion: kakine.io/v1alpha1\nkind: Cluster\nnamespaces:\n");
    writeln!(
        y,
        "- {{name: ns-{n}, labels: {{team: t{}}}}}\npods:",
        n % 10
    )
    .unwrap();
    for p in 0..s.pods {
        let app = if relabel && p == 0 {
            "relabeled".to_string()
        } else {
            format!("app{}", p % 10)
        };
        y.push_str(&pod_line(n, p, &app));
    }
    y
}

fn cluster_yaml(s: Shape, relabel: bool) -> String {
    let mut y = String::from("apiVersion: kakine.io/v1alpha1\nkind: Cluster\nnamespaces:\n");
    y.push_str("- name: a\n- name: b\n");
    for n in 0..s.namespaces {
        writeln!(y, "- {{name: ns-{n}, labels: {{team: t{}}}}}", n % 10).unwrap();
    }
    y.push_str("pods:\n");
    y.push_str(SOAK);
    for n in 0..s.namespaces {
        for p in 0..s.pods {
            let app = if relabel && n == 0 && p == 0 {
                "relabeled".to_string()
            } else {
                format!("app{}", p % 10)
            };
            y.push_str(&pod_line(n, p, &app));
        }
    }
    y
}

fn policy_yaml(i: usize, port: u16) -> String {
    let action = if i.is_multiple_of(5) { "Drop" } else { "Allow" };
    format!(
        "apiVersion: crd.kakine.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {{name: p-{i}}}
spec:
  tier: application
  priority: {}
  appliedTo: [{{podSelector: {{matchLabels: {{app: app{}}}}}, namespaceSelector: {{matchLabels: {{team: t{}}}}}}}]
  ingress:
  - name: r
    action: {action}
    from: [{{podSelector: {{matchLabels: {{app: app{}}}}}, namespaceSelector: {{matchLabels: {{team: t{}}}}}}}]
    ports: [{{protocol: TCP, port: {port}}}]
",
        i + 1,
        i % 10,
        i % 10,
        (i / 10) % 10,
        (i / 3) % 10
    )
}

fn write_input(dir: &Path, s: Shape) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("cluster.yaml"), cluster_yaml(s, false)).unwrap();
    std::fs::write(dir.join("policies.yaml"), SOAK_POLICY).unwrap();
    // 200 documents a file: the YAML loader caps documents per file.
    for (k, chunk) in (0..s.policies).collect::<Vec<_>>().chunks(200).enumerate() {
        let p: String = chunk
            .iter()
            .map(|&i| format!("---\n{}", policy_yaml(i, 80 + (i % 7) as u16)))
            .collect();
        std::fs::write(dir.join(format!("policies-{k:02}.yaml")), p).unwrap();
    }
}

/// The flows the agent would install for `dir` with every pod local (phantom ofports).
fn flows_of(dir: &Path) -> Vec<openflow::FlowMod> {
    let policies = kakine::agent::load_input(dir).unwrap();
    let pods: Vec<LocalPod> = policies
        .pods
        .iter()
        .enumerate()
        .map(|(i, p)| LocalPod {
            key: p.key.clone(),
            ip: p.ip,
            mac: MacAddr(kakine::policy::mac::default_mac(p.ip)),
            ofport: PHANTOM_OFPORT_BASE + i as u32,
        })
        .collect();
    compile(&policies, &pods, 1).unwrap().flows
}

/// Writes a file of the watched directory atomically (a temporary file outside it, renamed in).
fn put(path: &Path, text: &str) {
    let tmp = path.parent().unwrap().parent().unwrap().join("put.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn add_bridge(ovs: &OvsSandbox, br: &str) {
    ovs.vsctl(&[
        "--may-exist",
        "add-br",
        br,
        "--",
        "set",
        "Bridge",
        br,
        "datapath_type=netdev",
        "protocols=OpenFlow13",
        "fail_mode=secure",
    ])
    .unwrap();
    ovs.wait_bridge(br, Duration::from_secs(10)).unwrap();
}

const SMALL: Shape = Shape {
    namespaces: 20,
    pods: 50,
    policies: 150,
};
const LARGE: Shape = Shape {
    namespaces: 100,
    pods: 100,
    policies: 250,
};

async fn install(ovs: &OvsSandbox, tmp: &Path) {
    println!("## install rate: one bundle, ours vs ovs-ofctl --bundle add-flows (median of 3)");
    let br = "kkbench";
    add_bridge(ovs, br);
    let conn = openflow::Connection::connect_unix(ovs.mgmt_sock(br))
        .await
        .unwrap();
    for (name, shape) in [("10k", SMALL), ("100k", LARGE)] {
        let dir = tmp.join(format!("install-{name}"));
        write_input(&dir, shape);
        let flows = flows_of(&dir);
        let text: String = flows.iter().map(|f| format!("{f}\n")).collect();
        let file = tmp.join(format!("flows-{name}.txt"));
        std::fs::write(&file, &text).unwrap();
        let (mut ours, mut theirs) = (vec![], vec![]);
        for _ in 0..3 {
            conn.bundle(&[kakine::agent::delete_all()]).await.unwrap();
            let t = Instant::now();
            conn.bundle(&flows).await.unwrap();
            ours.push(t.elapsed().as_secs_f64());
            conn.bundle(&[kakine::agent::delete_all()]).await.unwrap();
            let t = Instant::now();
            let out = Command::new("ovs-ofctl")
                .args(["-O", "OpenFlow13", "--bundle", "add-flows"])
                .arg(format!("unix:{}", ovs.mgmt_sock(br).display()))
                .arg(&file)
                .output()
                .unwrap();
            theirs.push(t.elapsed().as_secs_f64());
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let n = conn.dump_flows(None).await.unwrap().len();
        assert_eq!(n, flows.len(), "ovs-ofctl installed every flow");
        let (o, t) = (median(ours), median(theirs));
        println!(
            "{name}: {} flows: kakine {:.3} s ({:.0} flows/s), ovs-ofctl {:.3} s ({:.0} flows/s), ratio {:.2}",
            flows.len(),
            o,
            flows.len() as f64 / o,
            t,
            flows.len() as f64 / t,
            o / t
        );
    }
    conn.bundle(&[kakine::agent::delete_all()]).await.unwrap();
}

async fn latency(ovs: &OvsSandbox, tmp: &Path) {
    println!("## realization latency (event -> bundle committed), live agent in process");
    let br = "kklat";
    let dir = tmp.join("latency");
    write_input(&dir, SMALL);
    let cfg = LiveConfig {
        agent: AgentConfig {
            input: dir.clone(),
            ovsdb: ovs.db_target(),
            of_socket: ovs.mgmt_sock(br),
            bridge: br.into(),
            datapath_type: "netdev".into(),
            ifname_prefix: "kkl".into(),
            node: None,
            round: 1,
        },
        state_dir: None,
        drift_interval: Duration::ZERO,
        quiet: Duration::from_millis(5),
        phantom_pods: true,
        configure_host: false,
        cni_socket: None,
    };
    let live = Live::start(cfg).await.unwrap();
    let mut rx = live.subscribe();
    let source = kakine::agent::watch::DirSource::new(&dir, Duration::from_millis(5)).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(
        live.run(Some(kakine::agent::source::Source::Dir(source)), async {
            let _ = stop_rx.await;
        }),
    );
    let next = |rx: &mut tokio::sync::watch::Receiver<Option<Arc<Realization>>>| {
        let mut rx = rx.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(30), rx.changed())
                .await
                .expect("a realization")
                .unwrap();
            rx.borrow_and_update().clone().unwrap()
        }
    };
    let first = next(&mut rx).await;
    rx.mark_unchanged();
    println!(
        "{} flows installed ({} rules)",
        first.flows,
        first.compiled.rules.len()
    );
    let extra = dir.join("zz-bench.yaml");
    let cluster = dir.join("cluster.yaml");
    let (plain, relabeled) = (cluster_yaml(SMALL, false), cluster_yaml(SMALL, true));
    let mut results: Vec<(&str, Vec<f64>, Vec<f64>, usize)> = vec![];
    for kind in [
        "policy add",
        "policy update",
        "policy delete",
        "pod label",
        "pod label, split model",
    ] {
        if kind == "pod label, split model" {
            // The same model, one Cluster document per namespace: a pod change re-parses only
            // its namespace's file.
            let base = format!(
                "apiVersion: kakine.io/v1alpha1\nkind: Cluster\nnamespaces:\n- name: a\n- name: b\npods:\n{SOAK}"
            );
            std::fs::write(dir.join("cluster-00-base.yaml"), base).unwrap();
            for n in 0..SMALL.namespaces {
                let f = dir.join(format!("cluster-ns-{n:03}.yaml"));
                std::fs::write(f, namespace_yaml(SMALL, n, false)).unwrap();
            }
            std::fs::remove_file(&cluster).unwrap();
            let r = next(&mut rx).await;
            rx.mark_unchanged();
            assert_eq!(r.added + r.deleted, 0, "the split model is the same model");
        }
        let (mut lat, mut wall, mut touched) = (vec![], vec![], 0);
        for i in 0..30 {
            let t = Instant::now();
            match kind {
                "policy add" => put(&extra, &policy_yaml(9000, 9000)),
                "policy update" => put(&extra, &policy_yaml(9000, 9001 + i as u16)),
                "policy delete" => {
                    std::fs::remove_file(&extra).unwrap();
                }
                "pod label" => put(&cluster, if i % 2 == 0 { &relabeled } else { &plain }),
                _ => put(
                    &dir.join("cluster-ns-000.yaml"),
                    &namespace_yaml(SMALL, 0, i % 2 == 0),
                ),
            }
            let r = next(&mut rx).await;
            rx.mark_unchanged();
            wall.push(t.elapsed().as_secs_f64() * 1e3);
            lat.push(r.latency.as_secs_f64() * 1e3);
            touched += r.added + r.deleted;
            // Restore for the next add/delete round.
            match kind {
                "policy add" | "policy delete" if i < 29 => {
                    if kind == "policy add" {
                        std::fs::remove_file(&extra).unwrap();
                    } else {
                        put(&extra, &policy_yaml(9000, 9000));
                    }
                    next(&mut rx).await;
                    rx.mark_unchanged();
                }
                "policy add" => {} // leave it for the updates
                _ => {}
            }
        }
        results.push((kind, lat, wall, touched / 30));
    }
    for (kind, mut lat, mut wall, touched) in results {
        println!(
            "{kind}: p50 {:.1} ms, p99 {:.1} ms (write -> committed p50 {:.1} ms, p99 {:.1} ms); {touched} flows touched per change",
            pct(&mut lat, 0.5),
            pct(&mut lat, 0.99),
            pct(&mut wall, 0.5),
            pct(&mut wall, 0.99)
        );
    }
    let _ = stop_tx.send(());
    let _ = task.await;
}

fn spawn_agent(
    ovs: &OvsSandbox,
    dir: &Path,
    state: &Path,
    br: &str,
    log: &Path,
) -> std::process::Child {
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_kakine-agent"))
        .arg("--standalone")
        .arg(dir)
        .arg("--ovs-rundir")
        .arg(ovs.dir())
        .arg("--state-dir")
        .arg(state)
        .args([
            "--datapath-type",
            "netdev",
            "--ifname-prefix",
            "kkr",
            "--bridge",
            br,
        ])
        .args(["--drift-interval", "0", "--phantom-pods"])
        .envs(
            std::env::var("BENCH_AGENT_ENV")
                .ok()
                .and_then(|v| {
                    v.split_once('=')
                        .map(|(k, v)| vec![(k.to_string(), v.to_string())])
                })
                .unwrap_or_default(),
        )
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap()
}

fn wait_log(log: &Path, what: &str, n: usize, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let hits: Vec<&str> = text.lines().filter(|l| l.contains(what)).collect();
        if hits.len() >= n {
            return hits[n - 1].to_string();
        }
        assert!(Instant::now() < deadline, "no {what:?}:\n{text}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn rss_and_restart(ovs: &OvsSandbox, tmp: &Path, restart: bool) {
    println!("## agent RSS and restart with ~100k flows (kakine-agent binary)");
    let br = "kkrb";
    let dir = tmp.join("large");
    let state = tmp.join("large-state");
    let log = tmp.join("large.log");
    write_input(&dir, LARGE);
    // The two real pods (netns + veth) of the soak; the others are phantoms.
    let soak_dir = tmp.join("soak");
    std::fs::create_dir_all(&soak_dir).unwrap();
    std::fs::write(
        soak_dir.join("cluster.yaml"),
        format!("apiVersion: kakine.io/v1alpha1\nkind: Cluster\nnamespaces:\n- name: a\n- name: b\npods:\n{SOAK}"),
    )
    .unwrap();
    let soak_policies = kakine::agent::load_input(&soak_dir).unwrap();
    let kakinectl = Path::new(env!("CARGO_BIN_EXE_kakinectl"));
    let servers = Servers {
        kakinectl,
        udp: false,
        sctp: false,
    };
    let lab = Lab::create_with(&soak_policies, "kkr", Some(servers), None).unwrap();
    let pod = |ns: &str, name: &str| {
        lab.pod(&kakine::policy::resolved::PodKey {
            namespace: ns.into(),
            name: name.into(),
        })
        .unwrap()
    };
    let (server_ns, client_ns) = (pod("b", "server"), pod("a", "client"));
    let mut echo = server_ns
        .netns
        .command(kakinectl)
        .args(["probe", "echo", "--port", "7000"])
        .spawn()
        .unwrap();

    let t = Instant::now();
    let mut agent = spawn_agent(ovs, &dir, &state, br, &log);
    let line = wait_log(&log, "committed", 1, Duration::from_secs(600));
    println!(
        "start: {:.2} s to the first commit ({})",
        t.elapsed().as_secs_f64(),
        tail(&line)
    );
    std::thread::sleep(Duration::from_millis(500));
    println!(
        "RSS with {} installed: VmRSS {} MiB, VmHWM (peak) {} MiB",
        tail(&line)
            .split(" flows (")
            .nth(1)
            .map(|s| s.trim_end_matches(')'))
            .unwrap_or("?"),
        status_kib(agent.id(), "VmRSS:") / 1024,
        status_kib(agent.id(), "VmHWM:") / 1024
    );
    if restart {
        let soak = client_ns
            .netns
            .command(kakinectl)
            .args(["probe", "soak", "10.20.1.20", "7000", "--seconds", "20"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let ping = client_ns
            .netns
            .command("ping")
            .args(["-q", "-i", "0.01", "-w", "20", "10.20.1.20"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs(2));
        let _ = agent.kill();
        let _ = agent.wait();
        let t = Instant::now();
        agent = spawn_agent(ovs, &dir, &state, br, &log);
        let line = wait_log(&log, "restart committed", 2, Duration::from_secs(600));
        println!(
            "restart: {:.2} s from the new process to the restart bundle committed ({})",
            t.elapsed().as_secs_f64(),
            tail(&line)
        );
        let soak = soak.wait_with_output().unwrap();
        let ping = ping.wait_with_output().unwrap();
        println!(
            "across the restart: TCP {}; ping {}",
            String::from_utf8_lossy(&soak.stdout).trim(),
            String::from_utf8_lossy(&ping.stdout)
                .lines()
                .find(|l| l.contains("transmitted"))
                .unwrap_or("?")
        );
    }
    let _ = agent.kill();
    let _ = agent.wait();
    let _ = echo.kill();
    let _ = echo.wait();
}

fn tail(line: &str) -> &str {
    line.rsplit("kakine::agent::live")
        .next()
        .unwrap_or(line)
        .trim_start_matches([':', ' '])
        .trim_start_matches("\u{1b}[0m")
        .trim_start_matches([':', ' '])
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let all = args.is_empty();
    let want = |s: &str| all || args.iter().any(|a| a == s);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if want("sizes") {
        let tmp = tempfile::tempdir().unwrap();
        for (name, shape) in [("small", SMALL), ("large", LARGE)] {
            let dir = tmp.path().join(name);
            write_input(&dir, shape);
            let t = Instant::now();
            kakine::policy::load_files(&[dir.join("cluster.yaml")]).unwrap();
            println!(
                "{name}: cluster.yaml alone {:.1} ms",
                t.elapsed().as_secs_f64() * 1e3
            );
            let text = std::fs::read_to_string(dir.join("cluster.yaml")).unwrap();
            let t = Instant::now();
            let docs = kakine::policy::load::parse_documents(&dir, &text).unwrap();
            println!(
                "{name}: yaml parse {:.1} ms",
                t.elapsed().as_secs_f64() * 1e3
            );
            let t = Instant::now();
            let _ = kakine::policy::load::parse_document(&docs[0], &dir).unwrap();
            println!(
                "{name}: typed+sanity {:.1} ms",
                t.elapsed().as_secs_f64() * 1e3
            );
            let t = Instant::now();
            let input = kakine::policy::load_dir(&dir).unwrap();
            let t_load = t.elapsed();
            let policies = kakine::policy::resolve(&input.cluster, &input.objects).unwrap();
            let t_resolve = t.elapsed() - t_load;
            let t = Instant::now();
            let pods = kakine::datapath::compiler::offline_pods(&policies);
            let flows = compile(&policies, &pods, 1).unwrap().flows;
            let t_compile = t.elapsed();
            let t = Instant::now();
            let table = kakine::datapath::reconcile::FlowTable::from_flows(&flows);
            let rss = || status_kib(std::process::id(), "VmRSS:") / 1024;
            println!(
                "{name}: RSS with input, policies, flows and table: {} MiB",
                rss()
            );
            drop(flows);
            drop(pods);
            kakine::agent::live::trim_heap();
            println!(
                "{name}: RSS without the flow_mods (input, policies, table): {} MiB",
                rss()
            );
            drop(input);
            kakine::agent::live::trim_heap();
            println!("{name}: RSS without the parsed input: {} MiB", rss());
            drop(policies);
            kakine::agent::live::trim_heap();
            println!("{name}: RSS with the table only: {} MiB", rss());
            let bytes: usize = table.iter().map(|f| f.encoded_len()).sum();
            println!(
                "{name}: table {} flows, {} encoded bytes ({:.0} B/flow)",
                table.len(),
                bytes,
                bytes as f64 / table.len() as f64
            );
            let d = kakine::datapath::reconcile::diff(&table, &table).expect("flows decode");
            let t_diff = t.elapsed();
            assert!(d.is_empty());
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            println!(
                "{name}: {} flows; load {:.1} ms, resolve {:.1} ms, compile {:.1} ms, table+diff {:.1} ms",
                table.len(),
                ms(t_load),
                ms(t_resolve),
                ms(t_compile),
                ms(t_diff)
            );
        }
        if !all {
            return;
        }
    }
    let ovs = OvsSandbox::start_temp().expect("sandbox OVS (needs root and openvswitch-switch)");
    let tmp = tempfile::tempdir().unwrap();
    let tmp: PathBuf = tmp.path().to_path_buf();
    rt.block_on(async {
        if want("install") {
            install(&ovs, &tmp).await;
        }
        if want("latency") {
            latency(&ovs, &tmp).await;
        }
        if want("rss") || want("restart") {
            rss_and_restart(&ovs, &tmp, want("restart")).await;
        }
    });
}
