//! kakine-agent: programs the node's Open vSwitch from policy.
//!
//! Standalone mode: `kakine-agent --standalone DIR` reads a cluster model and policies from YAML
//! files in DIR instead of a Kubernetes API server.

use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use std::time::Duration;

use kakine::agent::controller_source::ControllerSource;
use kakine::agent::live::{Live, LiveConfig};
use kakine::agent::observe::{
    serve_metrics, spawn_packet_ins_limited, AuditConfig, AuditFormat, AuditLog, PodLimiter,
    Rotation, StatsSource,
};
use kakine::agent::source::Source;
use kakine::agent::watch::DirSource;
use kakine::agent::{self, AgentConfig};
use kakine::datapath::pipeline;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// Command-line arguments.
#[derive(Parser, Debug)]
#[command(
    name = "kakine-agent",
    version,
    arg_required_else_help = true,
    about = "kakine node agent: tiered network policy on Open vSwitch"
)]
pub(crate) struct Args {
    /// Read the cluster model and policies from the YAML files of this directory.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "controller",
        conflicts_with = "controller"
    )]
    standalone: Option<PathBuf>,
    /// Follow the node's span served by kakine-controller at this URL (https://HOST[:PORT];
    /// needs --node, --ca-file).
    #[arg(long, value_name = "URL", requires_all = ["node", "ca_file"])]
    controller: Option<String>,
    /// The CA the controller's certificate is checked against (the kakine-ca ConfigMap's
    /// ca.crt in a cluster).
    #[arg(long, value_name = "PATH")]
    ca_file: Option<PathBuf>,
    /// The bearer token the agent authenticates to the controller with (read at each
    /// connection).
    #[arg(
        long,
        default_value = "/var/run/secrets/kubernetes.io/serviceaccount/token",
        value_name = "PATH"
    )]
    token_file: PathBuf,
    /// Open vSwitch run directory (db.sock and <bridge>.mgmt live here).
    #[arg(long, default_value = "/var/run/openvswitch", value_name = "DIR")]
    ovs_rundir: PathBuf,
    /// OVSDB target; default unix:<ovs-rundir>/db.sock.
    #[arg(long)]
    ovsdb: Option<String>,
    /// Integration bridge name.
    #[arg(long, default_value = "br-int")]
    bridge: String,
    /// Bridge datapath_type: `system` (kernel module) or `netdev` (userspace).
    #[arg(long, default_value = "system", value_parser = ["system", "netdev"])]
    datapath_type: String,
    /// Prefix of pods' host-side interface names: 1 to 7 ASCII letters, digits, '-' or '_'.
    #[arg(long, default_value = "kk", value_parser = ifname_prefix)]
    ifname_prefix: String,
    /// Audit lines and Reject answers per second for one pod (burst twice that), on top of the
    /// node-wide meters; 0 = no per-pod limit.
    #[arg(long, default_value_t = kakine::agent::observe::pod_limit::DEFAULT_POD_RATE, value_name = "PER_SECOND")]
    packet_in_pod_rate: u32,
    /// This node's name: only its view is compiled (the policies whose span holds it, their
    /// applied-to pods on this node, the pods they need); pods of other nodes are not attached.
    #[arg(long)]
    node: Option<String>,
    /// Exit after programming OVS once (delete-all + add in one bundle) instead of staying up.
    #[arg(long)]
    once: bool,
    /// State directory: the last good input (enforced at start), flow annotations, refused
    /// objects (`KAKINE_STATE_DIR` sets it too, as for `kakinectl`).
    #[arg(
        long,
        env = "KAKINE_STATE_DIR",
        default_value = "/var/lib/kakine",
        value_name = "DIR"
    )]
    state_dir: PathBuf,
    /// Seconds between drift checks (installed flows vs a dump); 0 = never.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    drift_interval: f64,
    /// Prometheus metrics endpoint (`GET /metrics`); `off` disables it.
    #[arg(long, default_value = "127.0.0.1:9479", value_name = "ADDR:PORT")]
    metrics_addr: String,
    /// Audit log of rules with enableLogging (and K8s NetworkPolicies in namespaces annotated
    /// `kakine.io/enable-np-logging: "true"`); rotated as the `--audit-log-max-*` flags say;
    /// SIGHUP reopens it (after logrotate moved it).
    #[arg(long, default_value = "/var/log/kakine/np.log", value_name = "FILE")]
    audit_log: PathBuf,
    /// Audit-log lines as JSON objects instead of text.
    #[arg(long)]
    audit_json: bool,
    /// Size in MiB past which the audit log rotates (Antrea's `auditLogging.maxSize`).
    #[arg(long, default_value_t = 100, value_name = "MIB")]
    audit_log_max_size: u64,
    /// Rotated audit-log files kept (`np.log.1` ..; Antrea's `maxBackups`).
    #[arg(long, default_value_t = 5, value_name = "N")]
    audit_log_max_backups: usize,
    /// Days after which a rotated audit-log file is removed; 0 = never (Antrea's `maxAge`).
    #[arg(long, default_value_t = 0, value_name = "DAYS")]
    audit_log_max_age: u64,
    /// Gzip rotated audit-log files (`np.log.1.gz`; Antrea's `compress`).
    #[arg(long)]
    audit_log_compress: bool,
    /// Serve kakine-cni on this unix socket (docs/cni.md): local pods are then attached only
    /// once the plugin's ADD asks, and ADD is answered once the pod's flows are committed.
    #[arg(long, value_name = "PATH")]
    cni_socket: Option<PathBuf>,
    /// Benchmarks only: compile pods that have no interface here as local, on made-up ofports.
    #[arg(long, hide = true)]
    phantom_pods: bool,
    /// On a multi-node model, leave the host's gateway address, routes and masquerade alone
    /// (by default the agent owns them, in its own network namespace).
    #[arg(long)]
    no_host_config: bool,
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        // One line, the whole cause chain; no backtrace even with RUST_BACKTRACE set.
        eprintln!("kakine-agent: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    // The live agent logs each realization at info; the one-shot run only warnings.
    let default = if args.once { "warn" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file or journald gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if args.controller.is_some() && args.once {
        anyhow::bail!("--once reads --standalone DIR; with --controller run the live agent");
    }
    let cfg = AgentConfig {
        // With --controller the input directory is the state directory (nothing is read from
        // it as policy input).
        input: args
            .standalone
            .clone()
            .unwrap_or_else(|| args.state_dir.clone()),
        ovsdb: args
            .ovsdb
            .clone()
            .unwrap_or_else(|| format!("unix:{}", args.ovs_rundir.join("db.sock").display())),
        of_socket: args.ovs_rundir.join(format!("{}.mgmt", args.bridge)),
        bridge: args.bridge.clone(),
        datapath_type: args.datapath_type.clone(),
        ifname_prefix: args.ifname_prefix.clone(),
        node: args.node.clone(),
        round: 1,
    };
    if !args.once {
        return run_live(args, cfg).await;
    }
    let r = agent::realize(&cfg)
        .await
        .with_context(|| format!("--standalone {}", cfg.input.display()))?;
    for s in &r.notes {
        eprintln!("kakine-agent: warning: {s}");
    }
    // What `kakinectl dump-flows` and `explain --enforced` read, as the live agent leaves it.
    if let Err(e) = save_once_state(&args, &cfg, &r) {
        eprintln!(
            "kakine-agent: warning: --state-dir {}: {e}",
            args.state_dir.display()
        );
    }
    for w in &r.policies.warnings {
        eprintln!("kakine-agent: warning: {w}");
    }
    for w in &r.compiled.warnings {
        eprintln!("kakine-agent: warning: {w}");
    }
    println!(
        "kakine-agent: {} programmed: {} tables, {} pods attached, {} rules, {} flows in one bundle ({} ms)",
        cfg.bridge,
        pipeline::TABLES.len(),
        r.pods.len(),
        r.compiled.rules.len(),
        r.compiled.flows.len(),
        r.elapsed.as_millis()
    );
    for p in &r.pods {
        println!(
            "  port {:>3}  {:<12} {} {}",
            p.ofport,
            p.key.to_string(),
            p.ip,
            kakine::policy::mac::mac_string(p.mac.0)
        );
    }
    Ok(())
}

/// `agent.json`, `allocation.json` and `last-good.yaml` of a `--once` run.
fn save_once_state(
    args: &Args,
    cfg: &AgentConfig,
    r: &agent::Realized,
) -> Result<(), kakine::agent::state::StateError> {
    use kakine::agent::state;
    let dir = &args.state_dir;
    let s = state::AgentState::new(&cfg.bridge, cfg.round, &r.compiled, &r.pods);
    state::write_agent_state(dir, &s)?;
    state::write_allocation(dir, &r.compiled.allocation.to_saved())?;
    let mut files = Vec::new();
    for path in state::input_files(&cfg.input)? {
        let text = std::fs::read_to_string(&path).map_err(|source| state::StateError::Io {
            path: path.clone(),
            source,
        })?;
        files.push((path, text));
    }
    state::save_last_good(dir, &files)
}

/// The signals the live agent handles, installed before anything else so that none of them
/// ends the process with the default action: SIGTERM and SIGINT stop it (exit 0), SIGHUP
/// reopens the audit log and re-reads the input.
struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        let on = |k: SignalKind, name: &str| signal(k).with_context(|| format!("{name} handler"));
        Ok(Signals {
            term: on(SignalKind::terminate(), "SIGTERM")?,
            int: on(SignalKind::interrupt(), "SIGINT")?,
            hup: on(SignalKind::hangup(), "SIGHUP")?,
        })
    }
}

/// Resolves at the first SIGTERM or SIGINT, with its name.
async fn stop_signal(term: &mut Signal, int: &mut Signal) -> &'static str {
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// The live agent: enforce the last good state, then follow the input directory.
/// The controller client of `--controller URL --ca-file CA --node NODE`, checked at start,
/// before OVS is touched: a URL that is not `https://`, a CA file that cannot be read.
fn controller_client(args: &Args) -> anyhow::Result<Option<kakine::controller::client::Client>> {
    let Some(url) = &args.controller else {
        return Ok(None);
    };
    let ca = args
        .ca_file
        .as_deref()
        .context("--controller needs --ca-file")?;
    let node = args.node.as_deref().context("--controller needs --node")?;
    let tls =
        kakine::controller::tls::client_config(ca).map_err(|e| anyhow::anyhow!("--ca-file {e}"))?;
    kakine::controller::client::Client::new(url, tls, args.token_file.clone(), node)
        .map(Some)
        .map_err(anyhow::Error::msg)
}

async fn run_live(args: Args, cfg: AgentConfig) -> anyhow::Result<()> {
    let controller = controller_client(&args)?;
    let Signals {
        mut term,
        mut int,
        mut hup,
    } = Signals::install()?;
    if let Some(dir) = &args.standalone {
        report_input(dir);
    }
    let live = LiveConfig {
        agent: cfg,
        state_dir: Some(args.state_dir.clone()),
        drift_interval: Duration::from_secs_f64(args.drift_interval.max(0.0)),
        quiet: Duration::from_millis(5),
        phantom_pods: args.phantom_pods,
        configure_host: !args.no_host_config,
        cni_socket: args.cni_socket.clone(),
    };
    // One live agent per bridge: two would repair each other's flows forever.
    let lock_path = args
        .ovs_rundir
        .join(format!("kakine-{}.lock", live.agent.bridge));
    // Not through a symbolic link: the run directory may be writable by others (O_NOFOLLOW).
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&lock_path)
        .with_context(|| format!("{} (a symbolic link is refused)", lock_path.display()))?;
    if lock.try_lock().is_err() {
        anyhow::bail!(
            "another kakine-agent is programming bridge {} (it holds {})",
            live.agent.bridge,
            lock_path.display()
        );
    }
    // The other mode's kept policy is stale: never enforce it at start.
    match kakine::agent::state::forget_other_source(&args.state_dir, args.controller.is_some()) {
        Ok(Some(path)) => tracing::warn!(
            "{}: removed (kept by an earlier run in the other mode; this run follows {})",
            path.display(),
            if args.controller.is_some() {
                "the controller"
            } else {
                "its input directory"
            }
        ),
        Ok(None) => {}
        Err(e) => anyhow::bail!("{e}: the other mode's kept policy would be enforced at start"),
    }
    let quiet = live.quiet;
    let of_socket = live.agent.of_socket.clone();
    let ovsdb_target = live.agent.ovsdb.clone();
    let agent = tokio::select! {
        r = Live::start(live) => r?,
        name = stop_signal(&mut term, &mut int) => {
            tracing::info!("received {name} while starting: stopped");
            return Ok(());
        }
    };

    // A restarted Open vSwitch waits for our flows (images/scripts/start-ovs): release it after
    // each committed realization.
    tokio::spawn(kakine::agent::restore_wait::clear_after_realizations(
        ovsdb_target,
        agent.subscribe(),
    ));

    // Observability: metrics endpoint, audit log, and the packet-in task (its own connection:
    // the packet-in format is per connection).
    let metrics = agent.metrics();
    if args.metrics_addr != "off" {
        let addr: std::net::SocketAddr = args
            .metrics_addr
            .parse()
            .with_context(|| format!("--metrics-addr {}", args.metrics_addr))?;
        // Statistics on a connection of their own, read at most every 5 s.
        let source = StatsSource::new(
            of_socket.clone(),
            Some(args.ovs_rundir.clone()),
            agent.rule_index(),
        );
        let (bound, _task) = serve_metrics(addr, metrics.clone(), Some(source))
            .await
            .with_context(|| format!("--metrics-addr {addr}"))?;
        tracing::info!("metrics on http://{bound}/metrics (probes: /healthz /livez /readyz)");
    }
    if let Some(dir) = args.audit_log.parent() {
        // Owner and group only: audit lines name pods and their connections.
        kakine::agent::state::create_dir_mode(dir, 0o750)
            .with_context(|| format!("--audit-log {}", dir.display()))?;
    }
    let audit = AuditLog::open(&AuditConfig {
        path: args.audit_log.clone(),
        format: if args.audit_json {
            AuditFormat::Json
        } else {
            AuditFormat::Text
        },
        rotation: Rotation {
            max_bytes: args.audit_log_max_size.max(1) << 20,
            max_backups: args.audit_log_max_backups,
            max_age: (args.audit_log_max_age > 0)
                .then(|| Duration::from_secs(args.audit_log_max_age * 86_400)),
            compress: args.audit_log_compress,
        },
    })
    .with_context(|| format!("--audit-log {}", args.audit_log.display()))?;
    let packet_ins = openflow::Connection::connect_unix(&of_socket)
        .await
        .with_context(|| format!("OpenFlow {}", of_socket.display()))?;
    spawn_packet_ins_limited(
        packet_ins,
        agent.rule_index(),
        audit.clone(),
        metrics.clone(),
        PodLimiter::new(args.packet_in_pod_rate),
    );

    let (reload, reopened, path) = (agent.reload_handle(), audit.clone(), args.audit_log.clone());
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!(
                "received SIGHUP: reopening the audit log {} and re-reading the input",
                path.display()
            );
            reopened.reopen();
            reload.notify_one();
        }
    });

    let source = match (controller, &args.standalone) {
        (Some(client), _) => {
            tracing::info!(
                "following node {}'s span from {}",
                client.node(),
                args.controller.as_deref().unwrap_or_default()
            );
            Some(Source::Controller(Box::new(
                ControllerSource::start_observed(
                    client,
                    Some(args.state_dir.clone()),
                    Some(metrics.clone()),
                ),
            )))
        }
        (None, Some(dir)) => match DirSource::new(dir, quiet) {
            Ok(s) => {
                let s = s.for_node(args.node.clone());
                s.seed(kakine::agent::watch::read_last_good(&args.state_dir));
                Some(Source::Dir(s))
            }
            Err(e) => {
                tracing::error!(
                    "{e}; enforcing the last good policy (if any) until it can be watched"
                );
                None
            }
        },
        (None, None) => anyhow::bail!("--standalone DIR or --controller URL is required"),
    };
    tracing::info!(
        "running; SIGTERM or SIGINT stops (flows stay installed), SIGHUP reopens the audit log and re-reads the input"
    );
    agent
        .run(source, async {
            let name = stop_signal(&mut term, &mut int).await;
            tracing::info!("received {name}: stopping");
        })
        .await;
    audit.flush_all();
    drop(lock);
    tracing::info!("stopped");
    Ok(())
}

/// Every error and warning of the input, logged at once before any connection is tried (a
/// missing ovsdb-server would otherwise hide them behind its retries): the same checks as
/// `kakinectl validate` ([`kakine::policy::validate_input`]). The live agent then goes on: the
/// refused objects keep their last good version, as after any bad edit.
fn report_input(dir: &std::path::Path) {
    let report = kakine::policy::validate_input::validate_paths(&[dir.to_path_buf()]);
    for e in &report.errors {
        tracing::error!("input: {e}");
    }
    for w in &report.warnings {
        tracing::warn!("input: {w}");
    }
    if !report.errors.is_empty() {
        tracing::error!(
            "input {}: {} error(s); the objects they name are refused (their last good version, if any, stays enforced)",
            dir.display(),
            report.errors.len()
        );
    }
}

/// `--ifname-prefix`, checked ([`kakine::agent::interfaces::check_prefix`]).
fn ifname_prefix(s: &str) -> Result<String, String> {
    kakine::agent::interfaces::check_prefix(s).map(|()| s.to_string())
}
