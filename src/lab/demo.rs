//! `kakinectl demo`: the standalone product end to end on this machine.
//!
//! Starts a sandbox OVS in a run directory, creates the example pods as network namespaces, runs
//! `kakine-agent --standalone DIR`, prints the installed flows per table and the reachability
//! matrix measured with real TCP connections next to the reference evaluator's. Everything it
//! started is stopped by pid (and the namespaces deleted) at the end and on Ctrl-C, unless `keep`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::lab::pods::Lab;
use crate::lab::sandbox::OvsSandbox;

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
    let left = clean(&opts.input, &opts.rundir)?;
    if !left.is_empty() {
        print!("{}", clean_report(&opts.rundir, &left));
    }
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
            crate::policy::mac::mac_string(p.netns.mac),
            p.netns.netns,
            p.netns.host_if,
            p.tcp_ports
        );
    }

    let rundir = std::path::absolute(ovs.dir())?;
    // The state directory beside the sandbox: `kakinectl dump-flows` annotates the flows from
    // it and `kakinectl explain --enforced` answers from it.
    let state = rundir.join("state");
    println!(
        "[3/5] $ kakine-agent --standalone {} --ovs-rundir {} --state-dir {} --datapath-type netdev --once",
        opts.input.display(),
        rundir.display(),
        state.display()
    );
    let status = tokio::process::Command::new(&agent)
        .arg("--standalone")
        .arg(&opts.input)
        .arg("--ovs-rundir")
        .arg(&rundir)
        .arg("--state-dir")
        .arg(&state)
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
        "\n[5/5] reachability: real TCP connections between the pods vs the reference evaluator (TCP ports only)"
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
        println!("\nKEEP=1: OVS and the pods stay up. Try:");
        let probe = matrix
            .cells
            .first()
            .map(|c| (c.from.to_string(), c.to.to_string(), c.port));
        println!("{}", keep_commands(&rundir, &state, &kakinectl, probe));
        if let Some(t) = trace_example(&ovs, &lab, &matrix) {
            println!("  {t}");
        }
        println!(
            "  ip netns exec {} bash",
            lab.pods
                .first()
                .map_or("kk-...", |p| p.netns.netns.as_str())
        );
        println!(
            "Stop with: make demo-clean   (or: kakinectl demo {} --rundir {} --clean)",
            opts.input.display(),
            opts.rundir.display()
        );
    }
    Ok(bad)
}

/// The commands printed by a `--keep` run: the environment that points `ovs-ofctl`,
/// `ovs-vsctl` and `kakinectl` at this sandbox, then one example of each.
pub fn keep_commands(
    rundir: &Path,
    state: &Path,
    kakinectl: &Path,
    probe: Option<(String, String, u16)>,
) -> String {
    let k = kakinectl.display();
    let mut lines = vec![
        format!(
            "  export OVS_RUNDIR={} KAKINE_STATE_DIR={}",
            rundir.display(),
            state.display()
        ),
        "  ovs-ofctl -O OpenFlow13 dump-flows --names br-int table=IngressTier".to_string(),
        "  ovs-vsctl show".to_string(),
        format!("  {k} dump-flows --table IngressTier"),
    ];
    if let Some((from, to, port)) = probe {
        lines.push(format!(
            "  {k} explain --enforced --from {from} --to {to} --port {port}"
        ));
        // The same question beside the node's own trace (exit 3 if they disagree).
        lines.push(format!(
            "  {k} explain --live --from {from} --to {to} --port {port}"
        ));
    }
    lines.join("\n")
}

/// An `ofproto/trace` command for the first dropped cell (or the first cell), as a new
/// connection through conntrack.
fn trace_example(ovs: &OvsSandbox, lab: &Lab, matrix: &crate::lab::pods::Matrix) -> Option<String> {
    let cell = matrix
        .cells
        .iter()
        .find(|c| c.expected.verdict == crate::policy::Verdict::Deny)
        .or_else(|| matrix.cells.first())?;
    let pod = |k: &crate::policy::resolved::PodKey| lab.pods.iter().find(|p| &p.info.key == k);
    let (from, to) = (pod(&cell.from)?, pod(&cell.to)?);
    let ofport = ovs
        .vsctl(&["get", "Interface", &from.netns.host_if, "ofport"])
        .ok()?;
    Some(format!(
        "ovs-appctl -t {}/ovs-vswitchd.ctl ofproto/trace br-int 'in_port={},tcp,dl_src={},dl_dst={},nw_src={},nw_dst={},tp_src=40000,tp_dst={}' --ct-next trk,new   # {} -> {}:{}",
        ovs.dir().display(),
        ofport.trim(),
        crate::policy::mac::mac_string(from.netns.mac),
        crate::policy::mac::mac_string(to.netns.mac),
        from.netns.ip,
        to.netns.ip,
        cell.port,
        cell.from,
        cell.to,
        cell.port
    ))
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

/// Stops a sandbox left by `KEEP=1`: the pods' servers by pid file, the sandbox's OVS
/// ([`crate::lab::sandbox::stop_sandbox`]), the `kk-*` namespaces and host veths the run
/// directory's markers name. Returns what it removed, one line each (`netns kk-web-frontend
/// deleted`); empty when nothing was left there.
///
/// Errors: the run directory exists but cannot be resolved.
pub fn clean(input: &Path, rundir: &Path) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    let pods = rundir.join("pods");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&pods)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    for path in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pid"))
    {
        if let Some(pid) = crate::lab::sandbox::stop_pidfile(path, Duration::from_secs(2)) {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy())
                .unwrap_or_default();
            done.push(format!("pod server {name} (pid {pid}) stopped"));
        }
    }
    if rundir.exists() {
        done.extend(crate::lab::sandbox::stop_sandbox(&rundir.canonicalize()?));
    }
    for path in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "netns"))
    {
        // The host end of the pod's veth, looked at before its netns goes: deleting the
        // netns takes the pair with it, at a moment of the kernel's choosing.
        let host_if = std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|h| !h.is_empty() && Path::new("/sys/class/net").join(h).exists());
        if let Some(ns) = path.file_stem().and_then(|s| s.to_str()) {
            if Path::new("/run/netns").join(ns).exists()
                && crate::lab::sandbox::run(
                    std::process::Command::new("ip").args(["netns", "del", ns]),
                )
                .is_ok()
            {
                done.push(format!("netns {ns} deleted"));
            }
        }
        if let Some(host_if) = host_if {
            let gone = !Path::new("/sys/class/net").join(&host_if).exists()
                || crate::lab::sandbox::run(
                    std::process::Command::new("ip").args(["link", "del", &host_if]),
                )
                .is_ok()
                || !Path::new("/sys/class/net").join(&host_if).exists();
            if gone {
                done.push(format!("veth {host_if} deleted"));
            }
        }
        let _ = std::fs::remove_file(path);
    }
    // Only what this run directory's markers name: never interfaces by name alone (another
    // sandbox or a real node may have pods of the same names).
    let _ = input;
    Ok(done)
}

/// What `kakinectl demo --clean` prints: each thing removed, or that there was nothing.
pub fn clean_report(rundir: &Path, done: &[String]) -> String {
    if done.is_empty() {
        return format!(
            "nothing to remove in {}: no sandbox of a --keep run is running there\n",
            rundir.display()
        );
    }
    let mut s = format!("removed the demo sandbox in {}:\n", rundir.display());
    for d in done {
        s.push_str(&format!("  {d}\n"));
    }
    s
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
