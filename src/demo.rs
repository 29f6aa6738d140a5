//! `kakinectl demo`: the standalone product end to end on this machine.
//!
//! Starts a sandbox OVS in a run directory, creates the example pods as network namespaces, runs
//! `kakine-agent --standalone DIR`, prints the installed flows per table and the reachability
//! matrix measured with real TCP connections next to the reference evaluator's. Everything it
//! started is stopped by pid (and the namespaces deleted) at the end and on Ctrl-C, unless `keep`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::lab::Lab;
use crate::sandbox::OvsSandbox;

/// Demo options.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Input directory (cluster model + policies).
    pub input: PathBuf,
    /// Sandbox run directory (db, sockets, pid files, logs).
    pub rundir: PathBuf,
    /// Leave OVS and the pods running at the end.
    pub keep: bool,
    /// Print each cell's deciding tier/policy/rule.
    pub explain: bool,
    /// Flows shown per table.
    pub flows_per_table: usize,
}

fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let p = exe.with_file_name(name);
    if !p.exists() {
        bail!(
            "{} not found next to {} (run `cargo build` first)",
            name,
            exe.display()
        );
    }
    Ok(p)
}

/// Runs the demo; returns the number of matrix cells that disagree with the evaluator.
pub async fn run(opts: &DemoOptions) -> anyhow::Result<usize> {
    let kakinectl = std::env::current_exe()?;
    let agent = sibling_binary("kakine-agent")?;
    // Validate the input before starting anything.
    let policies = crate::agent::load_input(&opts.input)?;

    println!("kakine demo: standalone kakine on a sandbox Open vSwitch\n");
    // Whatever an earlier `--keep` run left in this run directory goes first.
    clean(&opts.input, &opts.rundir)?;
    println!(
        "[1/5] sandbox OVS (ovsdb-server + ovs-vswitchd, userspace datapath) in {}",
        opts.rundir.display()
    );
    let mut ovs = OvsSandbox::start(&opts.rundir).context("starting the sandbox OVS")?;

    println!("[2/5] pods as network namespaces with veth pairs:");
    let mut lab = Lab::create(&policies, "kk", &kakinectl, Some(&opts.rundir.join("pods")))
        .context("creating pod namespaces")?;
    for p in &lab.pods {
        println!(
            "      {:<14} {:<12} {}  netns {:<16} host veth {}  serves TCP {:?}",
            p.info.key.to_string(),
            p.info.ip,
            crate::sandbox::mac_string(p.netns.mac),
            p.netns.netns,
            p.netns.host_if,
            p.tcp_ports
        );
    }

    let rundir = ovs.dir().to_path_buf();
    println!(
        "[3/5] $ kakine-agent --standalone {} --ovs-rundir {} --datapath-type netdev --once",
        opts.input.display(),
        rundir.display()
    );
    let status = tokio::process::Command::new(&agent)
        .arg("--standalone")
        .arg(&opts.input)
        .arg("--ovs-rundir")
        .arg(&rundir)
        .args(["--datapath-type", "netdev", "--once"])
        .status()
        .await?;
    if !status.success() {
        bail!("kakine-agent failed ({status})");
    }

    println!(
        "\n[4/5] installed flows: ovs-ofctl -O OpenFlow13 dump-flows --names --no-stats unix:{}/br-int.mgmt (excerpt per table)",
        rundir.display()
    );
    let dump = ovs.ofctl("dump-flows", "br-int", &["--names", "--no-stats"])?;
    print!("{}", excerpt(&dump, opts.flows_per_table));

    println!(
        "\n[5/5] reachability: real TCP connections between the pods vs the reference evaluator"
    );
    let matrix = lab.matrix(&policies, Duration::from_millis(1500)).await;
    print!("{}", matrix.render(opts.explain));
    let bad = matrix.mismatches().len();
    if bad == 0 {
        println!(
            "\nall {} measured cells match the reference evaluator",
            matrix.cells.len()
        );
    } else {
        println!(
            "\n{bad} of {} cells differ from the reference evaluator (marked !)",
            matrix.cells.len()
        );
    }
    if !opts.explain {
        println!("(run with EXPLAIN=1, or kakinectl demo --explain, for each cell's deciding tier/policy/rule)");
    }
    if opts.keep {
        lab.keep();
        ovs.keep();
        println!(
            "\nKEEP=1: OVS and the pods stay up. Try:\n  ovs-ofctl -O OpenFlow13 dump-flows --names unix:{0}/br-int.mgmt\n  ovs-appctl -t {0}/ovs-vswitchd.ctl ofproto/trace br-int 'in_port=...,tcp,...'\nStop with: make demo-clean",
            rundir.display()
        );
    }
    Ok(bad)
}

/// Groups `ovs-ofctl dump-flows --names` lines by table and keeps `per_table` of each.
pub fn excerpt(dump: &str, per_table: usize) -> String {
    let mut tables: Vec<(String, Vec<String>)> = Vec::new();
    for line in dump.lines() {
        let line = line.trim();
        // `cookie=..., table=T, flow` (with --no-stats) or `table=T, cookie=..., flow`.
        let mut rest = line;
        let mut table = None;
        while let Some((head, tail)) = rest.split_once(", ") {
            if let Some(t) = head.strip_prefix("table=") {
                table = Some(t);
            } else if !head.starts_with("cookie=") {
                break;
            }
            rest = tail;
        }
        let Some(table) = table else { continue };
        let flow = rest;
        match tables.last_mut() {
            Some((t, flows)) if t == table => flows.push(flow.to_string()),
            _ => tables.push((table.to_string(), vec![flow.to_string()])),
        }
    }
    let mut s = String::new();
    for (table, flows) in tables {
        s.push_str(&format!("  table={table} ({} flows)\n", flows.len()));
        for f in flows.iter().take(per_table) {
            s.push_str(&format!("      {f}\n"));
        }
        if flows.len() > per_table {
            s.push_str(&format!("      ... {} more\n", flows.len() - per_table));
        }
    }
    s
}

/// Stops a sandbox left by `KEEP=1`: the daemons by pid file, the `kk-*` namespaces of the input.
pub fn clean(input: &Path, rundir: &Path) -> anyhow::Result<()> {
    if let Ok(entries) = std::fs::read_dir(rundir.join("pods")) {
        for e in entries.flatten() {
            crate::sandbox::stop_pidfile(&e.path(), Duration::from_secs(2));
        }
    }
    if rundir.exists() {
        crate::sandbox::stop_sandbox(&rundir.canonicalize()?);
    }
    if let Ok(policies) = crate::agent::load_input(input) {
        for p in &policies.pods {
            let ns = format!("kk-{}-{}", p.key.namespace, p.key.name);
            let host = crate::sandbox::host_ifname("kk", &p.key.namespace, &p.key.name);
            if Path::new("/run/netns").join(&ns).exists() {
                let _ = crate::sandbox::run(
                    std::process::Command::new("ip").args(["netns", "del", &ns]),
                );
            }
            if Path::new("/sys/class/net").join(&host).exists() {
                let _ = crate::sandbox::run(
                    std::process::Command::new("ip").args(["link", "del", &host]),
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_groups_flows_by_table_and_drops_the_cookie() {
        let dump = "OFPST_FLOW reply (OF1.3) (xid=0x2):\n cookie=0x1, table=Classifier, priority=200,in_port=1 actions=goto_table:ArpSpoofGuard\n table=Classifier, priority=190 actions=drop\n table=Output, priority=190 actions=output:NXM_NX_REG1[]\n";
        let e = excerpt(dump, 1);
        assert_eq!(
            e,
            "  table=Classifier (2 flows)\n      priority=200,in_port=1 actions=goto_table:ArpSpoofGuard\n      ... 1 more\n  table=Output (1 flows)\n      priority=190 actions=output:NXM_NX_REG1[]\n"
        );
    }
}
