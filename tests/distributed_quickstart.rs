//! docs/distributed-quickstart.md run as written: its `sh` blocks, in order, in one bash
//! (with `W` a temporary directory and the binaries of this build first on `PATH`) — a
//! sandbox OVS with the example pods left by `kakinectl demo --keep`, certificates and tokens,
//! `kakine-controller --standalone` on 127.0.0.1, one `kakine-agent --controller` on the
//! sandbox, the realization counted from the agent's report, real TCP from a pod's namespace
//! allowed and dropped as the policies say, `explain --live` agreeing, an edit of the
//! directory flipping a connection, and `demo --clean` saying what it removed. A step of the
//! document that stops working fails here.
//!
//! Needs root, Open vSwitch, iproute2, openssl and the ports 10349, 10350 and 9479 of
//! 127.0.0.1 free; fails (never skips) without. The other test needs nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const DOC: &str = "docs/distributed-quickstart.md";

/// The `sh` blocks of the document, in order.
fn sh_blocks(doc: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line) {
            (None, "```sh") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// Whatever the script left running when it failed half-way: the agent and the controller by
/// their pid files, then the sandbox.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for pid in ["agent.pid", "controller.pid"] {
            kakine::lab::sandbox::stop_pidfile(&self.0.join(pid), Duration::from_secs(2));
        }
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let _ = kakine::lab::demo::clean(&examples, &self.0.join("ovs"));
    }
}

/// The position of `what` in `text` at or after `from`, or a failure showing the output.
fn find(text: &str, from: usize, what: &str) -> usize {
    match text[from..].find(what) {
        Some(i) => from + i,
        None => panic!("no {what:?} after byte {from} of the walkthrough's output:\n{text}"),
    }
}

#[test]
fn the_distributed_quickstart_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join(DOC)).unwrap();
    let blocks = sh_blocks(&doc);
    assert_eq!(
        blocks.len(),
        7,
        "the walkthrough's steps changed: {blocks:#?}"
    );
    for port in [10349, 10350, 9479] {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "127.0.0.1:{port} is taken: the walkthrough listens there"
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path().join("w");
    let _cleanup = Cleanup(w.clone());
    // This build's binaries, wherever CARGO_TARGET_DIR puts them.
    let bin = Path::new(env!("CARGO_BIN_EXE_kakinectl")).parent().unwrap();
    let mut script = String::new();
    for (i, b) in blocks.iter().enumerate() {
        script.push_str(&b.replace("$PWD/target/debug", &bin.display().to_string()));
        script.push_str(&format!("echo \"@@ block {} rc=$?\"\n", i + 1));
    }
    let out = Command::new("timeout")
        .args(["300", "bash", "-c", &script])
        .current_dir(root)
        .env("W", &w)
        .output()
        .expect("bash runs");
    let text = format!(
        "{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Every block ran to its end (its last command succeeded).
    for i in 1..=blocks.len() {
        assert!(
            text.contains(&format!("@@ block {i} rc=0")),
            "block {i}:\n{text}"
        );
    }
    let at = find(&text, 0, "Stop with:");
    let at = find(&text, at, "wrote ");
    let at = find(&text, at, "node node-1: subscribed (a snapshot)");
    let at = find(&text, at, "frontend-calls-api");
    let line = text[at..].lines().next().unwrap();
    assert!(
        line.split_whitespace().collect::<Vec<_>>()[1..] == ["Realized", "1/1", "-", "-"],
        "{line}"
    );
    let at = find(&text, at, "frontend -> orders:8080 exit 0");
    let at = find(&text, at, "frontend -> postgres:5432 exit 1");
    let at = find(
        &text,
        at,
        "AGREE: the node decides as the offline answer says",
    );
    // The edit moved the allow rule off 8080.
    let at = find(&text, at, "frontend -> orders:8080 exit 1");
    let at = find(&text, at, "removed the demo sandbox in");
    for removed in [
        "bridge br-int deleted",
        "ovs-vswitchd (pid ",
        "netns kk-web-frontend deleted",
    ] {
        find(&text, at, removed);
    }
    assert!(!Path::new("/run/netns/kk-web-frontend").exists(), "{text}");
    assert!(!w.exists(), "the last block removes W");
}

/// `demo --clean` where nothing runs says so (it used to print nothing at all).
#[test]
fn demo_clean_says_there_was_nothing_to_remove() {
    let tmp = tempfile::tempdir().unwrap();
    let rundir = tmp.path().join("ovs");
    let out = Command::new(env!("CARGO_BIN_EXE_kakinectl"))
        .args(["demo", "examples", "--clean", "--rundir"])
        .arg(&rundir)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "nothing to remove in {}: no sandbox of a --keep run is running there\n",
            rundir.display()
        )
    );
}
