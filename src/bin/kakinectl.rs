//! kakinectl: inspect and test kakine policy.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kakine::policy::resolved::{PodKey, Protocol};

#[derive(Parser, Debug)]
#[command(
    name = "kakinectl",
    version,
    about = "Inspect, explain and test kakine network policy"
)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run reachability scenario files through the reference evaluator.
    Test {
        /// Scenario files (format: docs/scenarios.md).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print every probe with its deciding rules, not only the failing ones.
        #[arg(long)]
        explain: bool,
        /// Who answers the probes: `reference` (the policy evaluator), `sim` (the compiled
        /// flows on the in-process FakeSwitch) or `ovs` (the agent programming a sandbox Open
        /// vSwitch with the file's pods as network namespaces; probes answered by
        /// `ofproto/trace`; needs root) or `cluster` (a node lab of `--nodes` nodes, each its own
        /// OVS and kakine-agent, joined by Geneve; needs root).
        #[arg(long, default_value = "reference")]
        engine: kakine::lab::engine::Engine,
        /// With `--engine ovs` or `cluster`: answer probes with real TCP/UDP/SCTP traffic
        /// between the pods' namespaces instead of traces.
        #[arg(long)]
        traffic: bool,
        /// How many nodes: with `--engine cluster` (default 3) each its own OVS and
        /// kakine-agent, joined by Geneve; with `--engine sim` each node's flows on its own
        /// FakeSwitch, joined by the tunnel. A case's own `node:` fields win.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=16))]
        nodes: Option<u16>,
    },
    /// Validate policy files offline as the API server would, reporting every error at once
    /// (docs/standalone.md, "Validating"). Exit status 1 on errors (or on warnings with
    /// `--strict`), else 0.
    Validate {
        /// YAML files and directories (their .yaml/.yml files).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format: `text` or `json`.
        #[arg(short = 'o', long, default_value = "text", value_parser = ["text", "json"])]
        output: String,
        /// Warnings fail too.
        #[arg(long)]
        strict: bool,
    },
    /// Answer "may A reach B on PORT?" from a standalone input directory, with the deciding rules;
    /// with `--enforced`, from what the agent enforces (its last good state) instead.
    Explain {
        /// Input directory (cluster model + policies); not with `--enforced`.
        #[arg(required_unless_present = "enforced", conflicts_with = "enforced")]
        dir: Option<PathBuf>,
        /// Answer from the agent's state directory: the policy it enforces, which differs from
        /// the input while objects of the input are refused.
        #[arg(long)]
        enforced: bool,
        /// The agent's state directory (with `--enforced`).
        #[arg(
            long,
            env = "KAKINE_STATE_DIR",
            default_value = "/var/lib/kakine",
            value_name = "DIR"
        )]
        state_dir: PathBuf,
        /// Client pod, `namespace/name`.
        #[arg(long)]
        from: String,
        /// Server pod, `namespace/name`.
        #[arg(long)]
        to: String,
        /// Destination port (for ICMP: the ICMP type, e.g. 8 for a ping).
        #[arg(long)]
        port: u16,
        /// TCP, UDP, SCTP or ICMP.
        #[arg(long, default_value = "TCP")]
        protocol: String,
    },
    /// Compile a standalone input directory and print the flows (ovs-ofctl syntax), no OVS needed.
    Compile {
        /// Input directory.
        dir: PathBuf,
        /// Compile only this node's view (its pods as local, the policies whose span holds it),
        /// as `kakine-agent --node` does.
        #[arg(long)]
        node: Option<String>,
        /// Print, instead of the flows, each rule's peers (N), applied-to pods (M), services
        /// (P, and their prefix-cover entries), the N+M+P+1 floor, the flows produced, and totals.
        #[arg(long)]
        stats: bool,
    },
    /// The bridge's installed flows (`ovs-ofctl dump-flows --names` syntax, with counters), each
    /// annotated with what it is for: tier/policy/rule, pod, or pipeline (from its cookie and the
    /// agent's `agent.json`).
    DumpFlows {
        /// Open vSwitch run directory (the bridge's `<bridge>.mgmt` socket is here); as for
        /// `ovs-ofctl`, `OVS_RUNDIR` sets it.
        #[arg(
            long,
            env = "OVS_RUNDIR",
            default_value = "/var/run/openvswitch",
            value_name = "DIR"
        )]
        ovs_rundir: PathBuf,
        /// Bridge name.
        #[arg(long, default_value = "br-int")]
        bridge: String,
        /// The agent's state directory (for `agent.json`).
        #[arg(
            long,
            env = "KAKINE_STATE_DIR",
            default_value = "/var/lib/kakine",
            value_name = "DIR"
        )]
        state_dir: PathBuf,
        /// Only this table (name or number).
        #[arg(long)]
        table: Option<String>,
    },
    /// The groups, their sizes and the span of every node (or of one), with time and peak memory
    /// per phase: what the controller computes and each agent receives.
    Spans {
        /// Input directory.
        dir: PathBuf,
        /// Only this node's line.
        #[arg(long)]
        node: Option<String>,
    },
    /// What the agent's last input refused (each object with its file, what stays enforced and
    /// why) and skipped (documents that are not policy), from its state directory.
    Refused {
        /// The agent's state directory.
        #[arg(
            long,
            env = "KAKINE_STATE_DIR",
            default_value = "/var/lib/kakine",
            value_name = "DIR"
        )]
        state_dir: PathBuf,
    },
    /// The standalone demo: sandbox OVS, netns pods, kakine-agent, flows, reachability matrix.
    Demo {
        /// Input directory.
        #[arg(default_value = "examples")]
        dir: PathBuf,
        /// Sandbox run directory.
        #[arg(long, default_value = "run/ovs")]
        rundir: PathBuf,
        /// Leave OVS and the pods running.
        #[arg(long)]
        keep: bool,
        /// Print each cell's deciding tier/policy/rule.
        #[arg(long)]
        explain: bool,
        /// Flows shown per table.
        #[arg(long, default_value_t = 4)]
        flows_per_table: usize,
        /// Stop what a `--keep` run left behind, then exit.
        #[arg(long)]
        clean: bool,
    },
    /// A node lab kept running: several nodes on this machine, each a network namespace with its
    /// own Open vSwitch and kakine-agent, joined by Geneve, with a scenario's pods (docs/multinode.md).
    Lab {
        #[command(subcommand)]
        cmd: LabCmd,
    },
    /// Write one of Antrea's controller benchmark shapes as a standalone input directory
    /// (`cluster.yaml`, `policies.yaml`): xlarge-small-ns, xlarge-large-ns, xlarge-one-ns,
    /// xlarge-small-ns-acnp, xlarge-small-ns-annp.
    Shape {
        /// The shape's name.
        #[arg(value_parser = parse_shape)]
        name: kakine::lab::shapes::ShapeName,
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Nodes the pods are spread over, round-robin.
        #[arg(long, default_value_t = 100, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        nodes: usize,
        /// Seed of the namespace names.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Repetitions of the shape's unit (namespaces; pods and policies for xlarge-one-ns);
        /// default Antrea's scale.
        #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        units: Option<usize>,
    },
    /// Traffic probes (run inside pod namespaces with `ip netns exec`).
    Probe {
        #[command(subcommand)]
        cmd: ProbeCmd,
    },
}

fn parse_shape(name: &str) -> Result<kakine::lab::shapes::ShapeName, String> {
    use kakine::lab::shapes::ShapeName;
    ShapeName::parse(name).ok_or_else(|| {
        let names: Vec<&str> = ShapeName::ALL.iter().map(|s| s.as_str()).collect();
        format!(
            "unknown shape \"{name}\" (expected one of {})",
            names.join(", ")
        )
    })
}

#[derive(Subcommand, Debug)]
enum ProbeCmd {
    /// Serve forever: accept TCP connections and SCTP associations, echo UDP datagrams.
    Serve {
        /// Name written to each client.
        #[arg(long, default_value = "kakine")]
        name: String,
        /// Comma-separated TCP ports.
        #[arg(long, value_delimiter = ',')]
        tcp: Vec<u16>,
        /// Comma-separated UDP ports (each datagram is sent back).
        #[arg(long, value_delimiter = ',')]
        udp: Vec<u16>,
        /// Comma-separated SCTP ports (needs SCTP in the kernel).
        #[arg(long, value_delimiter = ',')]
        sctp: Vec<u16>,
    },
    /// One attempt: a TCP or SCTP connection, or a UDP datagram waiting for its echo; exit 0
    /// answered, 1 timed out (dropped), 2 refused (rejected: RST, ICMP port unreachable, ABORT).
    Connect {
        /// Server address (IPv4 or IPv6).
        ip: std::net::IpAddr,
        /// Server port.
        port: u16,
        /// tcp, udp or sctp.
        #[arg(long, value_enum, default_value = "tcp")]
        protocol: kakine::lab::probe::Transport,
        /// Source port (default: any).
        #[arg(long, default_value_t = 0)]
        source_port: u16,
        /// Timeout in milliseconds.
        #[arg(long, default_value_t = 1500)]
        timeout_ms: u64,
    },
    /// Serve forever: echo every TCP connection on a port (for `probe soak`).
    Echo {
        /// TCP port.
        #[arg(long)]
        port: u16,
    },
    /// One long TCP connection: send a sequence number every interval and count the echoes;
    /// prints a JSON report; exit 0 when every number came back, 1 otherwise.
    Soak {
        /// Server address.
        ip: std::net::Ipv4Addr,
        /// Server port.
        port: u16,
        /// How long, in seconds.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Milliseconds between numbers.
        #[arg(long, default_value_t = 10)]
        interval_ms: u64,
    },
}

fn pod_key(s: &str) -> anyhow::Result<PodKey> {
    let (namespace, name) = s
        .split_once('/')
        .with_context(|| format!("{s:?}: expected namespace/name"))?;
    Ok(PodKey {
        namespace: namespace.into(),
        name: name.into(),
    })
}

fn protocol(s: &str) -> anyhow::Result<Protocol> {
    Ok(match s.to_ascii_uppercase().as_str() {
        "TCP" => Protocol::Tcp,
        "UDP" => Protocol::Udp,
        "SCTP" => Protocol::Sctp,
        "ICMP" => Protocol::Icmp,
        other => anyhow::bail!("unknown protocol {other:?} (expected TCP, UDP, SCTP or ICMP)"),
    })
}

#[tokio::main]
async fn main() {
    quiet_on_broken_pipe();
    if let Err(e) = run(Args::parse()).await {
        // One line, the whole cause chain; no backtrace even with RUST_BACKTRACE set.
        eprintln!("kakinectl: {e:#}");
        std::process::exit(1);
    }
}

/// `kakinectl ... | head` closes our stdout early: `print!` then panics with "failed printing to
/// stdout: Broken pipe". Exit quietly with 141 (128 + SIGPIPE), as a shell tool killed by
/// SIGPIPE does, instead of a panic and a backtrace.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// `kakinectl lab` subcommands.
#[derive(Subcommand, Debug)]
enum LabCmd {
    /// Bring a lab up for a scenario file's cluster and realize one of its steps.
    Up {
        /// The scenario file (format: docs/scenarios.md).
        file: PathBuf,
        /// Nodes (at least; more if the case names more).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=16))]
        nodes: u16,
        /// Which step to realize (1-based).
        #[arg(long, default_value_t = 1)]
        step: usize,
        /// Where the lab keeps its OVS, agents' state and logs.
        #[arg(long, default_value = "run/lab")]
        dir: PathBuf,
    },
    /// Stop and delete the lab kept in `--dir`.
    Down {
        /// The lab's directory.
        #[arg(long, default_value = "run/lab")]
        dir: PathBuf,
    },
}

async fn run(args: Args) -> anyhow::Result<()> {
    match args.cmd {
        Cmd::Lab { cmd } => match cmd {
            LabCmd::Up {
                file,
                nodes,
                step,
                dir,
            } => {
                let out = tokio::task::spawn_blocking(move || {
                    kakine::lab::lab_cmd::up(&file, nodes.into(), step, &dir)
                })
                .await?
                .map_err(|e| anyhow::anyhow!(e))?;
                print!("{out}");
            }
            LabCmd::Down { dir } => kakine::lab::lab_cmd::down(&dir),
        },
        Cmd::Test {
            files,
            explain,
            engine,
            traffic,
            nodes,
        } => {
            use kakine::lab::engine::{Engine, OvsMode};
            let mode = if traffic {
                OvsMode::Traffic
            } else {
                OvsMode::Trace
            };
            let engine = match (engine, traffic) {
                (Engine::Ovs(_), _) => Engine::Ovs(mode),
                (Engine::Cluster { .. }, _) => Engine::Cluster {
                    nodes: nodes.unwrap_or(3).into(),
                    mode,
                },
                (Engine::Sim, false) if nodes.is_some() => Engine::SimCluster {
                    nodes: nodes.unwrap_or(1).into(),
                },
                (_, true) => anyhow::bail!("--traffic needs --engine ovs or cluster"),
                (e, false) => e,
            };
            // The ovs engine drives the agent on its own runtime: run the files off this one.
            // On Ctrl-C / SIGTERM the runner stops after the current step and drops its
            // sandbox OVS and pods before we exit.
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = stop.clone();
            let mut runner = tokio::task::spawn_blocking(move || {
                kakine::lab::scenario::run_files_until(
                    &files,
                    &mut std::io::stdout(),
                    explain,
                    engine,
                    &flag,
                )
            });
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            let summary = tokio::select! {
                r = &mut runner => r??,
                _ = tokio::signal::ctrl_c() => {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    let _ = runner.await;
                    eprintln!("\ninterrupted: sandbox OVS stopped and pods deleted");
                    std::process::exit(130);
                }
                _ = term.recv() => {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    let _ = runner.await;
                    eprintln!("\nterminated: sandbox OVS stopped and pods deleted");
                    std::process::exit(143);
                }
            };
            if summary.failed > 0 {
                std::process::exit(1);
            }
        }
        Cmd::Validate {
            paths,
            output,
            strict,
        } => {
            let report = kakine::policy::validate_input::validate_paths(&paths);
            if output == "json" {
                println!("{:#}", report.to_json());
            } else {
                print!("{}", report.to_text());
            }
            if !report.errors.is_empty() || (strict && !report.warnings.is_empty()) {
                std::process::exit(1);
            }
        }
        Cmd::Explain {
            dir,
            enforced,
            state_dir,
            from,
            to,
            port,
            protocol: proto,
        } => {
            let (policies, source) = match dir {
                Some(dir) if !enforced => (kakine::agent::load_input(&dir)?, dir),
                _ => (
                    kakine::agent::inspect::enforced(&state_dir)?,
                    state_dir.join(kakine::agent::state::LAST_GOOD),
                ),
            };
            for pod in [&from, &to] {
                let key = pod_key(pod)?;
                if !policies.pods.iter().any(|p| p.key == key) {
                    anyhow::bail!("no pod {pod} in the cluster model of {}", source.display());
                }
            }
            let probe = kakine::policy::Probe {
                from: pod_key(&from)?,
                to: kakine::policy::Destination::Pod(pod_key(&to)?),
                protocol: protocol(&proto)?,
                // For ICMP, --port is the ICMP type (code 0).
                port: match protocol(&proto)? {
                    Protocol::Icmp => {
                        let icmp_type = u8::try_from(port).map_err(|_| {
                            anyhow::anyhow!("ICMP type {port} is out of range 0-255")
                        })?;
                        kakine::policy::resolved::icmp_port(icmp_type, 0)
                    }
                    _ => port,
                },
                source_port: None,
            };
            let d = kakine::policy::evaluate(&policies, &probe);
            let rule = |r: &Option<kakine::policy::resolved::RuleRef>| {
                r.as_ref()
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "-".into())
            };
            println!(
                "{from} -> {to} {}/{port}: {:?}",
                proto.to_uppercase(),
                d.verdict
            );
            println!("  egress:  {}", rule(&d.egress));
            println!("  ingress: {}", rule(&d.ingress));
            println!("  {}", d.reason);
        }
        Cmd::DumpFlows {
            ovs_rundir,
            bridge,
            state_dir,
            table,
        } => {
            let table = match table {
                None => None,
                Some(t) => Some(match t.parse::<u8>() {
                    Ok(n) => n,
                    Err(_) => {
                        kakine::datapath::pipeline::table(&t)
                            .map_err(|e| anyhow::anyhow!("--table {t}: {e}"))?
                            .id
                    }
                }),
            };
            let state = kakine::agent::state::read_agent_state(&state_dir)?;
            if state.is_none() {
                eprintln!(
                    "kakinectl: no {} in {}: rules and pods are shown by id",
                    kakine::agent::state::AGENT_STATE,
                    state_dir.display()
                );
            }
            let sock = ovs_rundir.join(format!("{bridge}.mgmt"));
            let conn = match openflow::Connection::connect_unix(&sock).await {
                Ok(c) => c,
                // One line: the I/O error is the whole story (no "I/O: x: x" chain).
                Err(openflow::Error::Io(e)) => anyhow::bail!(
                    "OpenFlow {}: {e} (is ovs-vswitchd running with bridge {bridge}? --ovs-rundir or OVS_RUNDIR names its run directory)",
                    sock.display()
                ),
                Err(e) => anyhow::bail!("OpenFlow {}: {e}", sock.display()),
            };
            let mut flows = conn.dump_flows(table).await?;
            flows.sort_by_key(|f| (f.table_id, std::cmp::Reverse(f.priority)));
            for f in &flows {
                println!("{}", kakine::agent::annotate::line(f, state.as_ref()));
            }
        }
        Cmd::Refused { state_dir } => {
            print!(
                "{}",
                kakine::agent::inspect::render_refused(&kakine::agent::inspect::refused(
                    &state_dir
                )?)
            );
        }
        Cmd::Compile { dir, node, stats } => {
            let input = kakine::policy::load_dir(&dir)?;
            let policies =
                kakine::grouping::resolve_node(&input.cluster, &input.objects, node.as_deref())?;
            let mut pods = kakine::datapath::compiler::offline_pods(&policies);
            if let Some(n) = &node {
                let on_node: std::collections::BTreeSet<&PodKey> = policies
                    .pods
                    .iter()
                    .filter(|p| kakine::grouping::derive::on_node(p.node.as_deref(), n))
                    .map(|p| &p.key)
                    .collect();
                pods.retain(|p| on_node.contains(&p.key));
            }
            let compiled = kakine::datapath::compiler::compile(&policies, &pods, 1)?;
            for w in &policies.warnings {
                eprintln!("warning: {w}");
            }
            for w in &compiled.warnings {
                eprintln!("warning: {w}");
            }
            if stats {
                print!("{}", kakine::datapath::stats::stats(&policies, &compiled));
                return Ok(());
            }
            for f in &compiled.flows {
                println!("{f}");
            }
            for r in &compiled.rules {
                eprintln!(
                    "rule {:>4} prio {:>5} {:?} {:?} {} ({} flows)",
                    r.id, r.priority, r.direction, r.action, r.rule, r.flows
                );
            }
        }
        Cmd::Spans { dir, node } => {
            let mut phases = Phases::new();
            let input = phases.run("load (parse + validate)", || kakine::policy::load_dir(&dir))?;
            if let Some(n) = &node {
                kakine::grouping::check_node(&input.cluster, n)?;
            }
            let g = phases.run("groups and spans", || {
                kakine::grouping::Grouping::build(&input.cluster, &input.objects)
            });
            let derived = phases.run("internal rules to resolved rules", || match &node {
                Some(n) => kakine::grouping::derive::view(&g, n),
                None => kakine::grouping::derive::resolved(&g, Some(&input.cluster)),
            });
            let report = phases.run("report", || {
                kakine::grouping::report::report(&g, node.as_deref())
            });
            print!("{report}");
            if let Some(n) = &node {
                println!(
                    "view of {n}: {} rules, {} pods",
                    derived.rules.len(),
                    derived.pods.len()
                );
            }
            print!("{phases}");
        }
        Cmd::Shape {
            name,
            out,
            nodes,
            seed,
            units,
        } => {
            use kakine::lab::shapes::{generate, ShapeOptions};
            let options = ShapeOptions {
                nodes,
                seed,
                units: units.unwrap_or(name.full_units()),
            };
            let shape = generate(name, &options);
            kakine::lab::shapes_yaml::write_dir(&shape, &out)
                .with_context(|| format!("writing {name} to {}", out.display()))?;
            println!(
                "{name}: {} nodes, {} namespaces, {} pods, {} policies in {}",
                shape.cluster.nodes.len(),
                shape.cluster.namespaces.len(),
                shape.cluster.pods.len(),
                shape.policies.k8s_policies.len() + shape.policies.antrea_policies.len(),
                out.display()
            );
        }
        Cmd::Demo {
            dir,
            rundir,
            keep,
            explain,
            flows_per_table,
            clean,
        } => {
            if clean {
                return kakine::lab::demo::clean(&dir, &rundir);
            }
            let opts = kakine::lab::demo::DemoOptions {
                input: dir,
                rundir,
                keep,
                explain,
                flows_per_table,
            };
            // Dropping the demo future on Ctrl-C drops its guards: servers, namespaces, OVS.
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            let result = tokio::select! {
                r = kakine::lab::demo::run(&opts) => Some(r),
                _ = tokio::signal::ctrl_c() => None,
                _ = term.recv() => None,
            };
            match result {
                Some(r) => {
                    if r? > 0 {
                        std::process::exit(1);
                    }
                }
                None => {
                    eprintln!("\ninterrupted: OVS stopped and pods deleted");
                    std::process::exit(130);
                }
            }
        }
        Cmd::Probe {
            cmd:
                ProbeCmd::Serve {
                    name,
                    tcp,
                    udp,
                    sctp,
                },
        } => {
            kakine::lab::probe::serve(&tcp, &udp, &sctp, &name)?;
        }
        Cmd::Probe {
            cmd:
                ProbeCmd::Connect {
                    ip,
                    port,
                    protocol,
                    source_port,
                    timeout_ms,
                },
        } => {
            let timeout = Duration::from_millis(timeout_ms);
            let o = kakine::lab::probe::connect(protocol, ip, port, source_port, timeout)
                .with_context(|| format!("{protocol:?} socket"))?;
            std::process::exit(o.exit_code());
        }
        Cmd::Probe {
            cmd: ProbeCmd::Echo { port },
        } => kakine::lab::soak::echo(port).with_context(|| format!("echo server on TCP {port}"))?,
        Cmd::Probe {
            cmd:
                ProbeCmd::Soak {
                    ip,
                    port,
                    seconds,
                    interval_ms,
                },
        } => {
            let ms = Duration::from_millis;
            let r = kakine::lab::soak::soak(
                ip,
                port,
                Duration::from_secs_f64(seconds),
                ms(interval_ms),
                ms(2000),
            )
            .with_context(|| format!("TCP {ip}:{port}"))?;
            println!("{}", serde_json::to_string(&r)?);
            std::process::exit(if r.broken || r.sent != r.echoed { 1 } else { 0 });
        }
    }
    Ok(())
}

/// Wall-clock time and peak RSS of each phase of a command (`VmHWM` of `/proc/self/status`,
/// reset before each phase through `/proc/self/clear_refs` where the kernel allows it).
struct Phases(Vec<(&'static str, Duration, Option<u64>)>);

impl Phases {
    fn new() -> Self {
        Phases(Vec::new())
    }

    fn run<T>(&mut self, name: &'static str, f: impl FnOnce() -> T) -> T {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let t = std::time::Instant::now();
        let out = f();
        self.0.push((name, t.elapsed(), peak_rss_kib()));
        out
    }
}

impl std::fmt::Display for Phases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (name, d, rss) in &self.0 {
            let rss = rss.map_or("?".to_string(), |k| format!("{:.1} MB", k as f64 / 1024.0));
            writeln!(
                f,
                "phase {name:<34} {:>10.3} s  peak RSS {rss}",
                d.as_secs_f64()
            )?;
        }
        Ok(())
    }
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
