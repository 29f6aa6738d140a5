//! `kakinectl lab up|down`: a node lab kept running for a person to poke at with `ovs-ofctl`,
//! `ovs-appctl ofproto/trace` and `ip netns exec`.

use std::fmt::Write as _;
use std::path::Path;

use crate::lab::cluster_engine::ClusterEngine;
use crate::lab::engine::OvsMode;
use crate::lab::scenario::{read_scenario, step_cluster};

/// The namespace prefix of a kept lab.
pub const PREFIX: &str = "kklab";

/// Brings up a node lab of at least `nodes` nodes for scenario file `path`, realizes its step
/// `step` (1-based) on every node, leaves everything running in `dir`, and returns what a
/// person needs to poke at it.
///
/// Errors: the scenario cannot be read, has no such step, or the lab cannot be made.
pub fn up(path: &Path, nodes: usize, step: usize, dir: &Path) -> Result<String, String> {
    let scenario = read_scenario(path).map_err(|e| e.to_string())?;
    let s = scenario.steps.get(step.wrapping_sub(1)).ok_or_else(|| {
        format!(
            "{}: no step {step} (it has {})",
            path.display(),
            scenario.steps.len()
        )
    })?;
    let dir = std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut engine = ClusterEngine::start_in(
        &scenario.cluster,
        nodes,
        OvsMode::Traffic,
        &crate::lab::scenario::external(&scenario),
        dir.clone(),
        PREFIX.to_string(),
    )?;
    let cluster = step_cluster(&scenario.cluster, &s.label_overrides);
    drop(engine.load(&cluster, &s.resources)?);
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
    let _ = writeln!(
        out,
        "input: {}/input/lab.yaml (the agents follow it); stop with: kakinectl lab down --dir {}",
        dir.display(),
        dir.display()
    );
    Ok(out)
}

/// Stops and deletes a lab kept in `dir` (agents, servers, OVS, namespaces) and the directory.
pub fn down(dir: &Path) {
    crate::lab::nodes::teardown(dir);
    let _ = std::fs::remove_dir_all(dir);
}
