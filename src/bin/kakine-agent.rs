//! kakine-agent: programs the node's Open vSwitch from policy.
//!
//! Standalone mode: `kakine-agent --standalone DIR` reads a cluster model and policies from YAML
//! files in DIR instead of a Kubernetes API server.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use kakine::agent::{self, AgentConfig};
use kakine::pipeline;

/// Command-line arguments.
#[derive(Parser, Debug)]
#[command(
    name = "kakine-agent",
    version,
    about = "kakine node agent: tiered network policy on Open vSwitch"
)]
struct Args {
    /// Read the cluster model and policies from the YAML files of this directory.
    #[arg(long, value_name = "DIR")]
    standalone: PathBuf,
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
    #[arg(long, default_value = "system")]
    datapath_type: String,
    /// Prefix of pods' host-side interface names.
    #[arg(long, default_value = "kk")]
    ifname_prefix: String,
    /// This node's name (pods of other nodes are not attached).
    #[arg(long)]
    node: Option<String>,
    /// Exit after programming OVS instead of staying up.
    #[arg(long)]
    once: bool,
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let cfg = AgentConfig {
        input: args.standalone.clone(),
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
    let r = agent::realize(&cfg)
        .await
        .with_context(|| format!("--standalone {}", args.standalone.display()))?;
    for s in &r.notes {
        eprintln!("kakine-agent: warning: {s}");
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
            kakine::sandbox::mac_string(p.mac.0)
        );
    }
    if args.once {
        return Ok(());
    }
    println!("kakine-agent: running; Ctrl-C to stop (flows stay installed)");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
