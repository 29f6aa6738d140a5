//! `kakinectl lab up|down`: a node lab kept running for a person to poke at with `ovs-ofctl`,
//! `ovs-appctl ofproto/trace` and `ip netns exec`.

use std::fmt::Write as _;
use std::path::Path;

use std::time::{Duration, Instant};

use crate::lab::cluster_engine::ClusterEngine;
use crate::lab::controller_lab::{count, LabController};
use crate::lab::engine::OvsMode;
use crate::lab::scenario::{read_scenario, step_cluster};

/// The namespace prefix of a lab kept in `dir`: `kk` and four hex digits of a hash of the
/// absolute directory, so that labs in two directories never share a namespace name (and a
/// user's own namespaces are never taken for a lab's).
pub fn prefix(dir: &Path) -> String {
    // FNV-1a: stable across runs and builds (the prefix must be the same for `lab down`).
    let mut h: u32 = 0x811c_9dc5;
    for b in dir.as_os_str().as_encoded_bytes() {
        h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
    }
    format!("kk{:04x}", (h ^ (h >> 16)) & 0xffff)
}

/// Whether a lab kept in `dir` still runs: a process of its pid files alive, or a namespace
/// of its `netns.list` present.
fn running(dir: &Path) -> bool {
    let alive = |p: &Path| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
            .is_some_and(|pid| Path::new("/proc").join(pid.to_string()).exists())
    };
    let pids = walk_pidfiles(dir).into_iter().any(|p| alive(&p));
    let namespaces = std::fs::read_to_string(dir.join("netns.list"))
        .unwrap_or_default()
        .lines()
        .any(|ns| !ns.is_empty() && Path::new("/var/run/netns").join(ns).exists());
    pids || namespaces
}

/// The `*.pid` files of `dir` and of its subdirectories one level down (the nodes').
fn walk_pidfiles(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    if let Ok(rd) = std::fs::read_dir(dir) {
        dirs.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    for d in dirs {
        if let Ok(rd) = std::fs::read_dir(&d) {
            out.extend(
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "pid")),
            );
        }
    }
    out
}

/// Brings up a node lab of at least `nodes` nodes for scenario file `path`, realizes its step
/// `step` (1-based) on every node, leaves everything running in `dir`, and returns what a
/// person needs to poke at it. With `controller`, the step realized, `kakine-controller
/// --standalone` on the lab's input starts in the first node and every agent is started again
/// following it (`--controller`, [`crate::lab::controller_lab`]); `up` returns once each has
/// committed the span it was sent.
///
/// Errors: the scenario cannot be read, has no such step, the lab cannot be made, or (with
/// `controller`) the controller does not listen or an agent commits no span within 30 s.
pub fn up(
    path: &Path,
    nodes: usize,
    step: usize,
    dir: &Path,
    controller: bool,
) -> Result<String, String> {
    let scenario = read_scenario(path).map_err(|e| e.to_string())?;
    let s = scenario.steps.get(step.wrapping_sub(1)).ok_or_else(|| {
        format!(
            "{}: no step {step} (it has {})",
            path.display(),
            scenario.steps.len()
        )
    })?;
    let dir = std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if running(&dir) {
        return Err(format!(
            "a lab is up in {d} already: stop it first with `kakinectl lab down --dir {d}`, or pick another --dir",
            d = dir.display()
        ));
    }
    let mut engine = ClusterEngine::start_in(
        &scenario.cluster,
        nodes,
        OvsMode::Traffic,
        &crate::lab::scenario::external(&scenario),
        dir.clone(),
        prefix(&dir),
    )?;
    let cluster = step_cluster(&scenario.cluster, &s.label_overrides);
    drop(engine.load(&cluster, &s.resources)?);
    let controller = if controller {
        Some(follow_controller(&mut engine)?)
    } else {
        None
    };
    engine.keep();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "node lab up in {} (step {step} {:?} of {})",
        dir.display(),
        s.name,
        path.display()
    );
    for (n, node) in engine
        .lab()
        .nodes
        .iter()
        .zip(&engine.placement().cluster.nodes)
    {
        let d = n.ovs.dir().display().to_string();
        let _ = writeln!(
            out,
            "  node {} ip {} gateway {}: netns {}\n    ovs-ofctl -O OpenFlow13 --names dump-flows unix:{d}/br-int.mgmt\n    ovs-appctl -t {d}/ovs-vswitchd.ctl ofproto/trace br-int '...'\n    agent log {}",
            n.spec.name,
            n.spec.ip,
            node.gateway_ip.map(|g| g.to_string()).unwrap_or_default(),
            n.netns,
            n.agent_log().display()
        );
    }
    for p in &engine.lab().pods {
        let _ = writeln!(
            out,
            "  pod {} {} on {}: ip netns exec {} ...",
            p.info.key,
            p.info.ip,
            engine.lab().nodes[p.node].spec.name,
            p.netns
        );
    }
    match controller {
        Some(c) => {
            let _ = writeln!(
                out,
                "controller: {} in netns {} (--standalone {}/input), log {}\n    {}\n  the agents follow it with --controller (tokens and CA in {})",
                c.url,
                engine.lab().nodes[0].netns,
                dir.display(),
                c.log().display(),
                c.realization_command(engine.lab()),
                c.dir.display()
            );
            let _ = writeln!(
                out,
                "input: {}/input/lab.yaml (the controller follows it); stop with: kakinectl lab down --dir {}",
                dir.display(),
                dir.display()
            );
            c.keep();
        }
        None => {
            let _ = writeln!(
                out,
                "input: {}/input/lab.yaml (the agents follow it); stop with: kakinectl lab down --dir {}",
                dir.display(),
                dir.display()
            );
        }
    }
    Ok(out)
}

/// The controller in the first node of `engine`'s lab on its input, and every node's agent
/// started again following it; returns once each agent has committed a span.
///
/// Errors: the controller does not listen, an agent cannot be started or commits no span
/// within 30 s (with its log).
fn follow_controller(engine: &mut ClusterEngine) -> Result<LabController, String> {
    let binary = engine.kakinectl().with_file_name("kakine-controller");
    let agent = engine.agent_binary();
    let input = engine.input().to_path_buf();
    let n = engine.lab().nodes.len();
    for i in 0..n {
        engine.lab_mut().stop_agent(i);
    }
    let controller = LabController::start(engine.lab(), &binary, &input)?;
    for i in 0..n {
        let node = engine.lab().nodes[i].spec.name.clone();
        let log = engine.lab().nodes[i].agent_log();
        let before = count(&log, " committed in ");
        engine
            .lab_mut()
            .start_agent_with(i, &agent, &controller.agent_source(&node))
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while count(&log, "subscribed (a snapshot)") == 0 || count(&log, " committed in ") == before
        {
            if Instant::now() > deadline {
                return Err(format!(
                    "the agent of {node} committed no span of the controller within 30 s:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(controller)
}

/// Stops and deletes a lab kept in `dir` (agents, servers, OVS, namespaces) and the directory.
/// Returns what `kakinectl lab down` prints: each thing stopped or deleted, or that there was
/// no lab there.
pub fn down(dir: &Path) -> String {
    let done = crate::lab::nodes::teardown(dir);
    let existed = dir.exists();
    let _ = std::fs::remove_dir_all(dir);
    let mut out = if done.is_empty() {
        format!("no lab running in {}: nothing to stop", dir.display())
    } else {
        format!("node lab in {} down:", dir.display())
    };
    for d in &done {
        out.push_str(&format!("\n  {d}"));
    }
    if existed {
        out.push_str(&format!("\n  directory {} removed", dir.display()));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labs_in_two_directories_get_two_prefixes_and_a_directory_always_the_same() {
        let a = prefix(Path::new("/tmp/kklab"));
        let b = prefix(Path::new("/tmp/other/kklab"));
        assert_ne!(a, b);
        assert_eq!(a, prefix(Path::new("/tmp/kklab")));
        assert!(a.starts_with("kk") && a.len() == 6, "{a}");
    }

    #[test]
    fn a_directory_without_a_lab_is_not_running() {
        let d = tempfile::tempdir().unwrap();
        assert!(!running(d.path()));
        std::fs::write(d.path().join("netns.list"), "kk-no-such-namespace-here\n").unwrap();
        std::fs::create_dir(d.path().join("n0")).unwrap();
        std::fs::write(
            d.path().join("n0/agent.pid"),
            format!("{}\n", std::process::id()),
        )
        .unwrap();
        assert!(running(d.path()), "a live pid file means a running lab");
    }
}
