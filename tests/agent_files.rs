//! The live agent's own files (issue 17, hardening): its lock file is never opened through a
//! symbolic link, and a bad `--ifname-prefix` is refused before anything starts. Runs the
//! agent binary; needs no Open vSwitch (it stops before connecting).

use std::process::Command;

fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kakine-agent"))
}

#[test]
fn the_agent_refuses_a_lock_file_that_is_a_symbolic_link() {
    let run = tempfile::tempdir().unwrap();
    let target = run.path().join("elsewhere");
    std::fs::write(&target, "keep me\n").unwrap();
    std::os::unix::fs::symlink(&target, run.path().join("kakine-brx.lock")).unwrap();
    let input = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let out = agent()
        .arg("--standalone")
        .arg(input.path())
        .arg("--ovs-rundir")
        .arg(run.path())
        .args(["--bridge", "brx", "--metrics-addr", "off"])
        .arg("--state-dir")
        .arg(state.path())
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
