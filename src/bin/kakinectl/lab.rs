//! The test bench's commands: scenario runs, the demo, benchmark shapes and traffic probes.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;

#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// Scenario files (format: docs/scenarios.md), or directories of them (their .yaml/.yml
    /// files, in name order).
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
}

/// `kakinectl lab` subcommands.
#[derive(Subcommand, Debug)]
pub enum LabCmd {
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
        /// The distributed mode: `kakine-controller --standalone` on the lab's input in the
        /// first node's namespace (TLS, a token per node) and each node's agent following it
        /// with `--controller` instead of reading the input itself.
        #[arg(long)]
        controller: bool,
    },
    /// Stop and delete the lab kept in `--dir`.
    Down {
        /// The lab's directory.
        #[arg(long, default_value = "run/lab")]
        dir: PathBuf,
    },
}

pub async fn lab(cmd: LabCmd) -> anyhow::Result<()> {
    match cmd {
        LabCmd::Up {
            file,
            nodes,
            step,
            dir,
            controller,
        } => {
            let out = tokio::task::spawn_blocking(move || {
                kakine::lab::lab_cmd::up(&file, nodes.into(), step, &dir, controller)
            })
            .await?
            .map_err(|e| anyhow::anyhow!(e))?;
            print!("{out}");
        }
        LabCmd::Down { dir } => print!("{}", kakine::lab::lab_cmd::down(&dir)),
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
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
}

#[derive(clap::Args, Debug)]
pub struct ShapeArgs {
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
pub enum ProbeCmd {
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

pub async fn test(a: TestArgs) -> anyhow::Result<()> {
    use kakine::lab::engine::{Engine, OvsMode};
    let TestArgs {
        files,
        explain,
        engine,
        traffic,
        nodes,
    } = a;
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
    let files = kakine::lab::scenario::scenario_files(&files)?;
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
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
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
    Ok(())
}

pub fn shape(a: ShapeArgs) -> anyhow::Result<()> {
    use kakine::lab::shapes::{generate, ShapeOptions};
    let ShapeArgs {
        name,
        out,
        nodes,
        seed,
        units,
    } = a;
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
    Ok(())
}

pub async fn demo(a: DemoArgs) -> anyhow::Result<()> {
    let DemoArgs {
        dir,
        rundir,
        keep,
        explain,
        flows_per_table,
        clean,
    } = a;
    if clean {
        let done = kakine::lab::demo::clean(&dir, &rundir)?;
        print!("{}", kakine::lab::demo::clean_report(&rundir, &done));
        return Ok(());
    }
    let opts = kakine::lab::demo::DemoOptions {
        input: dir,
        rundir,
        keep,
        explain,
        flows_per_table,
    };
    // Dropping the demo future on Ctrl-C drops its guards: servers, namespaces, OVS.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
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
    Ok(())
}

pub fn probe(cmd: ProbeCmd) -> anyhow::Result<()> {
    match cmd {
        ProbeCmd::Serve {
            name,
            tcp,
            udp,
            sctp,
        } => kakine::lab::probe::serve(&tcp, &udp, &sctp, &name)?,
        ProbeCmd::Connect {
            ip,
            port,
            protocol,
            source_port,
            timeout_ms,
        } => {
            let timeout = Duration::from_millis(timeout_ms);
            let o = kakine::lab::probe::connect(protocol, ip, port, source_port, timeout)
                .with_context(|| format!("{protocol:?} socket"))?;
            std::process::exit(o.exit_code());
        }
        ProbeCmd::Echo { port } => {
            kakine::lab::soak::echo(port).with_context(|| format!("echo server on TCP {port}"))?
        }
        ProbeCmd::Soak {
            ip,
            port,
            seconds,
            interval_ms,
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
