//! One node in a network namespace, driven as a kubelet drives a node's CNI: its own
//! ovsdb-server and ovs-vswitchd (userspace datapath) and `kakine-agent --cni-socket` run
//! inside the node's namespace, pods are network namespaces that `kakine-cni` is invoked for
//! with a runtime's environment. Nothing touches the root namespace; dropping the node stops
//! what it started (by pid) and deletes its namespaces (and with them every veth and tap).
//! Used by tests/cni.rs and benches/cni.rs.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::sandbox::{run, stop_pidfile, SandboxError};

/// The interface prefix of the node's pods (the agent's `--ifname-prefix`, the configuration's
/// `ifnamePrefix`).
pub const PREFIX: &str = "kc";
/// The node's bridge.
pub const BRIDGE: &str = "br-int";

/// The binaries a node runs.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `kakine-agent`.
    pub agent: PathBuf,
    /// `kakine-cni`.
    pub cni: PathBuf,
    /// `kakinectl` (probe servers and clients).
    pub kakinectl: PathBuf,
}

/// What one `kakine-cni` run printed and returned.
#[derive(Debug, Clone)]
pub struct CniRun {
    /// The exit code.
    pub code: i32,
    /// Stdout as JSON (`Null` when empty or not JSON).
    pub json: serde_json::Value,
    /// Stdout as text.
    pub stdout: String,
    /// Stderr.
    pub stderr: String,
}

impl CniRun {
    /// The error code of the error object printed, if any.
    pub fn error_code(&self) -> Option<u64> {
        self.json.get("code").and_then(serde_json::Value::as_u64)
    }
}

/// A node; see the module docs.
#[derive(Debug)]
pub struct CniNode {
    /// The node's network namespace.
    pub netns: String,
    /// Its directory: OVS, the input, the agent's state, host-local's data, the socket.
    pub dir: PathBuf,
    bins: Binaries,
    agent: Option<Child>,
    children: Vec<Child>,
    pods: Vec<String>,
    _tmp: tempfile::TempDir,
}

impl CniNode {
    /// Creates the namespace `kc<tag>-node` and starts OVS in it.
    ///
    /// Errors: a command failing (not root, OVS missing).
    pub fn start(tag: &str, bins: Binaries) -> Result<CniNode, SandboxError> {
        let tmp = tempfile::Builder::new()
            .prefix("kk-cni-")
            .tempdir_in("/tmp")
            .map_err(|source| SandboxError::Io {
                path: "/tmp".into(),
                source,
            })?;
        let dir = tmp.path().to_path_buf();
        let netns = format!("{PREFIX}{tag}-node");
        let _ = run(Command::new("ip").args(["netns", "del", &netns]));
        run(Command::new("ip").args(["netns", "add", &netns]))?;
        let node = CniNode {
            netns,
            dir: dir.clone(),
            bins,
            agent: None,
            children: Vec::new(),
            pods: Vec::new(),
            _tmp: tmp,
        };
        node.exec("ip", &["link", "set", "lo", "up"])?;
        for d in ["input", "state", "ipam", "ovs"] {
            std::fs::create_dir_all(dir.join(d)).map_err(|source| SandboxError::Io {
                path: dir.join(d),
                source,
            })?;
        }
        let ovs = node.ovs_dir();
        let s = |p: &str| ovs.join(p).display().to_string();
        run(Command::new("ovsdb-tool")
            .arg("create")
            .arg(ovs.join("conf.db"))
            .arg(super::sandbox::schema_path()))?;
        node.exec_env(
            "ovsdb-server",
            &[
                &s("conf.db"),
                &format!("--remote=punix:{}", s("db.sock")),
                &format!("--pidfile={}", s("ovsdb-server.pid")),
                &format!("--unixctl={}", s("ovsdb-server.ctl")),
                &format!("--log-file={}", s("ovsdb-server.log")),
                "--detach",
            ],
        )?;
        node.vsctl(&["--no-wait", "init"])?;
        node.exec_env(
            "ovs-vswitchd",
            &[
                &format!("unix:{}", s("db.sock")),
                &format!("--pidfile={}", s("ovs-vswitchd.pid")),
                &format!("--unixctl={}", s("ovs-vswitchd.ctl")),
                &format!("--log-file={}", s("ovs-vswitchd.log")),
                "--detach",
            ],
        )?;
        Ok(node)
    }

    /// OVS_RUNDIR of the node.
    pub fn ovs_dir(&self) -> PathBuf {
        self.dir.join("ovs")
    }

    /// The agent's input directory.
    pub fn input(&self) -> PathBuf {
        self.dir.join("input")
    }

    /// host-local's `dataDir`.
    pub fn ipam_dir(&self) -> PathBuf {
        self.dir.join("ipam")
    }

    /// The agent's CNI socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("state/cni.sock")
    }

    /// The agent's log.
    pub fn agent_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("state/agent.log")).unwrap_or_default()
    }

    /// `ip netns exec NODE program args`.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String, SandboxError> {
        run(Command::new("ip")
            .args(["netns", "exec", &self.netns, program])
            .args(args))
    }

    fn exec_env(&self, program: &str, args: &[&str]) -> Result<String, SandboxError> {
        run(Command::new("ip")
            .args(["netns", "exec", &self.netns, program])
            .args(args)
            .env("OVS_RUNDIR", self.ovs_dir()))
    }

    /// `ovs-vsctl` against the node's database.
    pub fn vsctl(&self, args: &[&str]) -> Result<String, SandboxError> {
        run(Command::new("ovs-vsctl")
            .arg(format!(
                "--db=unix:{}",
                self.ovs_dir().join("db.sock").display()
            ))
            .args(args)
            .env("OVS_RUNDIR", self.ovs_dir()))
    }

    /// Starts `kakine-agent --standalone INPUT --cni-socket SOCK` in the node's namespace and
    /// waits for its socket.
    ///
    /// Errors: it cannot start, or no socket within 30 s (the log is in the error).
    pub fn start_agent(&mut self) -> Result<(), SandboxError> {
        self.stop_agent();
        let _ = std::fs::remove_file(self.socket());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("state/agent.log"))
            .map_err(|source| SandboxError::Io {
                path: self.dir.join("state/agent.log"),
                source,
            })?;
        let state = self.dir.join("state");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns])
            .arg(&self.bins.agent)
            .arg("--standalone")
            .arg(self.input())
            .arg("--ovs-rundir")
            .arg(self.ovs_dir())
            .arg("--state-dir")
            .arg(&state)
            .arg("--cni-socket")
            .arg(self.socket())
            .args(["--datapath-type", "netdev", "--ifname-prefix", PREFIX])
            .args(["--bridge", BRIDGE, "--drift-interval", "0"])
            .args(["--metrics-addr", "off", "--audit-log"])
            .arg(state.join("audit.log"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|source| SandboxError::Spawn {
                cmd: "kakine-agent".into(),
                source,
            })?;
        self.agent = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.socket().exists() {
            if Instant::now() > deadline {
                return Err(SandboxError::Timeout(format!(
                    "no CNI socket from kakine-agent within 30 s:\n{}",
                    self.agent_log()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Stops the agent (SIGKILL: a crash; its ports and flows stay).
    pub fn stop_agent(&mut self) {
        if let Some(mut c) = self.agent.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Creates a pod's network namespace (what the runtime does before calling CNI) and
    /// returns its path.
    pub fn pod_netns(&mut self, tag: &str) -> Result<PathBuf, SandboxError> {
        let name = format!("{}-{tag}", self.netns.trim_end_matches("-node"));
        let _ = run(Command::new("ip").args(["netns", "del", &name]));
        run(Command::new("ip").args(["netns", "add", &name]))?;
        run(Command::new("ip").args(["-n", &name, "link", "set", "lo", "up"]))?;
        self.pods.push(name.clone());
        Ok(PathBuf::from("/var/run/netns").join(name))
    }

    /// Deletes a pod's network namespace.
    pub fn delete_pod_netns(&mut self, path: &Path) {
        if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
            let _ = run(Command::new("ip").args(["netns", "del", name]));
            self.pods.retain(|p| p != name);
        }
    }

    /// Runs `kakine-cni` in the node's namespace as a runtime does: `env` are the `CNI_*`
    /// variables, `conf` goes to stdin.
    pub fn cni(&self, env: &[(&str, String)], conf: &str) -> CniRun {
        self.plugin(&self.bins.cni, env, conf)
    }

    /// Runs the CNI plugin `exe` in the node's namespace as a runtime does (the chained
    /// plugins of a conflist: `portmap`).
    pub fn plugin(&self, exe: &Path, env: &[(&str, String)], conf: &str) -> CniRun {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns])
            .arg(exe)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("kakine-cni starts");
        {
            use std::io::Write as _;
            let mut stdin = child.stdin.take().expect("piped");
            let _ = stdin.write_all(conf.as_bytes());
        }
        let out = child.wait_with_output().expect("kakine-cni runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        CniRun {
            code: out.status.code().unwrap_or(-1),
            json: serde_json::from_str(&stdout).unwrap_or_default(),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The pods' host interfaces in the node's namespace (names with [`PREFIX`]).
    pub fn host_links(&self) -> Vec<String> {
        let out = self.exec("ip", &["-o", "link", "show"]).unwrap_or_default();
        out.lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .filter(|n| n.starts_with(PREFIX))
            .collect()
    }

    /// The bridge's ports.
    pub fn ports(&self) -> Vec<String> {
        self.vsctl(&["list-ports", BRIDGE])
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The addresses host-local holds for `network` (its data directory's files named by
    /// address).
    pub fn held_addresses(&self, network: &str) -> Vec<Ipv4Addr> {
        let mut held: Vec<Ipv4Addr> = std::fs::read_dir(self.ipam_dir().join(network))
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        held.sort();
        held
    }

    /// Starts `kakinectl probe serve --tcp PORTS` in a pod's namespace (stopped on drop).
    pub fn serve(&mut self, netns: &Path, ports: &[u16]) -> Result<(), SandboxError> {
        let list: Vec<String> = ports.iter().map(u16::to_string).collect();
        let child = Command::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .arg(&self.bins.kakinectl)
            .args(["probe", "serve", "--tcp", &list.join(",")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| SandboxError::Spawn {
                cmd: "kakinectl probe serve".into(),
                source,
            })?;
        self.children.push(child);
        Ok(())
    }

    /// Whether a TCP connection from the pod at `netns` to `ip:port` is answered within
    /// `timeout` (`kakinectl probe connect`).
    pub fn connects(&self, netns: &Path, ip: Ipv4Addr, port: u16, timeout: Duration) -> bool {
        Command::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .arg(&self.bins.kakinectl)
            .args(["probe", "connect", &ip.to_string(), &port.to_string()])
            .args(["--timeout-ms", &timeout.as_millis().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for CniNode {
    fn drop(&mut self) {
        self.stop_agent();
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let ovs = self.ovs_dir();
        stop_pidfile(&ovs.join("ovs-vswitchd.pid"), Duration::from_secs(5));
        stop_pidfile(&ovs.join("ovsdb-server.pid"), Duration::from_secs(5));
        for p in &self.pods {
            let _ = run(Command::new("ip").args(["netns", "del", p]));
        }
        let _ = run(Command::new("ip").args(["netns", "del", &self.netns]));
    }
}
