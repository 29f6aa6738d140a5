//! `kakine-controller --standalone` in a node lab: the controller runs in the first node's
//! namespace, listening on its underlay address, with a CA and serving certificate made for
//! that address and one token per node; the agents follow it with `--controller`
//! (docs/controlplane.md). Its pid file is `server-controller.pid`, so that the lab's teardown
//! stops it like the pods' servers. Its metrics endpoint (`/v1/realization`) listens on
//! `127.0.0.1:`[`METRICS_PORT`] inside that namespace.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::controller::{client::DEFAULT_PORT, tls};
use crate::lab::nodes::NodeLab;

/// The controller's `--metrics-addr` port, on 127.0.0.1 of the first node's namespace.
pub const METRICS_PORT: u16 = 10350;

/// A controller of a lab; see the module documentation.
pub struct LabController {
    /// `https://IP:PORT` of the controlplane.
    pub url: String,
    /// Its directory: `certs/`, `tokens`, `token-NODE`, `state/` (`--state-dir`),
    /// `controller.log`.
    pub dir: PathBuf,
    binary: PathBuf,
    input: PathBuf,
    listen: String,
    child: Option<Child>,
}

impl LabController {
    /// Makes the certificates and tokens and starts `binary --standalone input` in the first
    /// node of `lab`.
    ///
    /// Errors: certificates or files cannot be written; the controller cannot be started or
    /// does not listen within 30 s (with its log).
    pub fn start(lab: &NodeLab, binary: &Path, input: &Path) -> Result<Self, String> {
        let dir = lab.spec.dir.join("controller");
        let ip = lab.nodes[0].spec.ip;
        tls::generate(&dir.join("certs"), &[ip.to_string()], true)?;
        let salt = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut tokens = String::new();
        for n in &lab.nodes {
            let token = format!("lab-{}-{salt:x}", n.spec.name);
            tokens.push_str(&format!("{} {token}\n", n.spec.name));
            let path = dir.join(format!("token-{}", n.spec.name));
            std::fs::write(&path, &token).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let path = dir.join("tokens");
        std::fs::write(&path, tokens).map_err(|e| format!("{}: {e}", path.display()))?;
        let listen = format!("{ip}:{DEFAULT_PORT}");
        let mut c = LabController {
            url: format!("https://{listen}"),
            dir,
            binary: binary.to_path_buf(),
            input: input.to_path_buf(),
            listen,
            child: None,
        };
        c.restart(lab)?;
        Ok(c)
    }

    /// The controller's log.
    pub fn log(&self) -> PathBuf {
        self.dir.join("controller.log")
    }

    fn pidfile(lab: &NodeLab) -> PathBuf {
        lab.spec.dir.join("server-controller.pid")
    }

    /// Starts the controller again (after [`LabController::kill`]) and waits until it listens.
    ///
    /// Errors: as [`LabController::start`].
    pub fn restart(&mut self, lab: &NodeLab) -> Result<(), String> {
        self.kill(lab);
        let log = self.log();
        let before = count(&log, "controlplane on https://");
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let certs = self.dir.join("certs");
        let tokens = self.dir.join("tokens");
        let child = lab.nodes[0]
            .command(&self.binary)
            .arg("--standalone")
            .arg(&self.input)
            .args(["--listen", &self.listen, "--metrics-addr"])
            .arg(format!("127.0.0.1:{METRICS_PORT}"))
            .arg("--tls-cert-dir")
            .arg(&certs)
            .arg("--tokens")
            .arg(&tokens)
            .arg("--state-dir")
            .arg(self.dir.join("state"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{}: {e}", self.binary.display()))?;
        let pidfile = Self::pidfile(lab);
        std::fs::write(&pidfile, format!("{}\n", child.id()))
            .map_err(|e| format!("{}: {e}", pidfile.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while count(&log, "controlplane on https://") == before {
            if Instant::now() > deadline {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!(
                    "the controller did not listen within 30 s:\n{text}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Kills the controller (SIGKILL: a crash), if it runs.
    pub fn kill(&mut self, lab: &NodeLab) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            let _ = std::fs::remove_file(Self::pidfile(lab));
        }
    }

    /// The input arguments of node `node`'s agent: `--controller URL --ca-file .. --token-file
    /// ..`.
    pub fn agent_source(&self, node: &str) -> Vec<OsString> {
        vec![
            "--controller".into(),
            self.url.clone().into(),
            "--ca-file".into(),
            self.dir.join("certs").join(tls::CA_CRT).into(),
            "--token-file".into(),
            self.dir.join(format!("token-{node}")).into(),
        ]
    }
}

impl LabController {
    /// Every policy's realization as the controller serves it (`kakinectl realization
    /// --controller http://127.0.0.1:METRICS_PORT -o json`, run in the first node's namespace):
    /// `{"items": [{"kind", "name", "status"}]}`.
    ///
    /// Errors: kakinectl failed (its message), or printed no JSON.
    pub fn realization(
        &self,
        lab: &NodeLab,
        kakinectl: &Path,
    ) -> Result<serde_json::Value, String> {
        let out = lab.nodes[0]
            .command(kakinectl)
            .args(["realization", "-o", "json", "--controller"])
            .arg(format!("http://127.0.0.1:{METRICS_PORT}"))
            .output()
            .map_err(|e| format!("{}: {e}", kakinectl.display()))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("kakinectl realization: {e}"))
    }
}

impl LabController {
    /// Leaves the controller running when this value goes (a kept lab: `lab down` stops it
    /// by its pid file, `server-controller.pid`).
    pub fn keep(mut self) {
        self.child.take();
    }

    /// The `kakinectl realization` command that reads it, run in the first node of `lab`.
    pub fn realization_command(&self, lab: &NodeLab) -> String {
        format!(
            "ip netns exec {} kakinectl realization --controller http://127.0.0.1:{METRICS_PORT}",
            lab.nodes[0].netns
        )
    }
}

impl Drop for LabController {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Lines of `path` containing `what`.
pub fn count(path: &Path, what: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(what))
        .count()
}
