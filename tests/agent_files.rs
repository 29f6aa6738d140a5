//! The live agent's own files (issue 17, hardening): its lock file is never opened through a
//! symbolic link, a bad `--ifname-prefix` is refused before anything starts, and every error of
//! its input is reported before it waits for Open vSwitch (issue 14). Runs the agent binary;
//! needs no Open vSwitch (it stops, or is stopped, before connecting).

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kakine-agent"))
}

/// The live agent on bridge `brx` of the run directory `run`, without a metrics endpoint.
fn live_agent(input: &std::path::Path, run: &std::path::Path, state: &std::path::Path) -> Command {
    let mut c = agent();
    c.arg("--standalone")
        .arg(input)
        .arg("--ovs-rundir")
        .arg(run)
        .args(["--bridge", "brx", "--metrics-addr", "off"])
        .arg("--state-dir")
        .arg(state);
    c
}

#[test]
fn the_agent_refuses_a_lock_file_that_is_a_symbolic_link() {
    let run = tempfile::tempdir().unwrap();
    let target = run.path().join("elsewhere");
    std::fs::write(&target, "keep me\n").unwrap();
    std::os::unix::fs::symlink(&target, run.path().join("kakine-brx.lock")).unwrap();
    let input = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let out = live_agent(input.path(), run.path(), state.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("kakine-brx.lock (a symbolic link is refused)"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
}

#[test]
fn the_agent_refuses_a_non_ascii_interface_prefix_naming_it() {
    let out = agent()
        .args(["--standalone", "/nonexistent", "--ifname-prefix", "kké"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("\"kké\": 'é' is not an ASCII letter"),
        "{stderr}"
    );
}

/// An input directory holding `tests/bad/several-mistakes.yaml`.
fn several_mistakes() -> tempfile::TempDir {
    let input = tempfile::tempdir().unwrap();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad/several-mistakes.yaml"),
        input.path().join("in.yaml"),
    )
    .unwrap();
    input
}

/// Kills the agent (by its own pid) however the test ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_live_agent_reports_every_input_error_before_it_waits_for_ovsdb() {
    let input = several_mistakes();
    // A run directory without ovsdb-server: the agent retries its connection forever.
    let run = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let child = live_agent(input.path(), run.path(), state.path())
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Running(child);
    let stderr = child.0.stderr.take().unwrap();
    let mut before = Vec::new();
    let mut waited = false;
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if line.contains("waiting for ovsdb-server") {
            waited = true;
            break;
        }
        before.push(line);
    }
    assert!(
        waited,
        "the agent never waited for ovsdb-server:\n{}",
        before.join("\n")
    );
    let errors: Vec<&String> = before.iter().filter(|l| l.contains(" input: ")).collect();
    let expected = [
        "spec.ingress[0].ports[0].endPort: endPort 80 is below port 90",
        "spec.ingress[0].ports[0].port: port 0 is out of range 1-65535",
        "spec.ingress[0].ports[1].endPort: endPort 80 is below port 90",
        "pods[1].ip: pod x/b: IP 10.0.0.1 is already pod x/a's",
        "pods[2].namespace: pod y/c: namespace \"y\" is not declared",
        "spec.priority: priority 2000 out of range (expected 0 to 1000)",
        "spec.ingress[0].from[0]: nodes and networks peers are for egress rules only",
        "spec.priority: priority 0 out of range (expected 1 to 10000)",
        "spec.tier: unknown tier \"nosuch\"",
        "spec.appliedTo[0].group: unknown ClusterGroup \"missing\"",
    ];
    assert_eq!(errors.len(), expected.len(), "{}", before.join("\n"));
    for (line, want) in errors.iter().zip(expected) {
        assert!(
            line.contains("ERROR") && line.ends_with(want),
            "{line}\nexpected ...{want}"
        );
    }
    assert!(
        before
            .iter()
            .any(|l| l.contains("10 error(s); the objects they name are refused")),
        "{}",
        before.join("\n")
    );
}

#[test]
fn the_one_shot_agent_fails_naming_every_input_error_before_it_connects() {
    let input = several_mistakes();
    let run = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let out = live_agent(input.path(), run.path(), state.path())
        .arg("--once")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for want in [
        "spec.ingress[0].ports[0].endPort: endPort 80 is below port 90",
        "spec.ingress[0].ports[1].endPort: endPort 80 is below port 90",
        "pods[1].ip: pod x/b: IP 10.0.0.1 is already pod x/a's",
        "pods[2].namespace: pod y/c: namespace \"y\" is not declared",
        "spec.priority: priority 2000 out of range (expected 0 to 1000)",
        "spec.tier: unknown tier \"nosuch\"",
        "spec.appliedTo[0].group: unknown ClusterGroup \"missing\"",
    ] {
        assert!(stderr.contains(want), "{want} missing in:\n{stderr}");
    }
    // It stopped at its input: it never tried the (absent) ovsdb-server.
    assert!(!stderr.contains("ovsdb"), "{stderr}");
}
