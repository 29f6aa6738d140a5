//! A sandbox Open vSwitch and network-namespace pods, for the demo and the tests.
//!
//! [`OvsSandbox`] starts its own `ovsdb-server` and `ovs-vswitchd` with their database, sockets,
//! pid files and logs in one directory (`ovsdb-tool create`, then both daemons with `OVS_RUNDIR` set to it,
//! userspace datapath, no kernel module) and stops them by the pids in their pid files when
//! dropped. [`PodNetns`] is a pod made of a network namespace and a veth pair, the way a CNI
//! plugin makes one; dropping it deletes the namespace (and with it the veth pair).
//!
//! Nothing here touches the root namespace's addresses or routes: pod addresses live only inside
//! the pods' namespaces.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Errors of the sandbox: a command that failed or could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A command exited non-zero.
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        cmd: String,
        /// Exit status.
        status: String,
        /// Its standard error.
        stderr: String,
    },
    /// A command could not be started (not installed?).
    #[error(
        "cannot run `{cmd}`: {source} (is Open vSwitch / iproute2 installed? run `make deps`)"
    )]
    Spawn {
        /// The program.
        cmd: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A daemon did not come up in time.
    #[error("{0}")]
    Timeout(String),
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Error.
        source: std::io::Error,
    },
}

/// Runs a command, returning its stdout, or an error with its stderr.
pub fn run(cmd: &mut Command) -> Result<String, SandboxError> {
    let line = format!("{cmd:?}").replace('"', "");
    let out = cmd.output().map_err(|source| SandboxError::Spawn {
        cmd: line.clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(SandboxError::Command {
            cmd: line,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Reads a pid file.
fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
}

/// Stops the process whose pid is in `pidfile`: SIGTERM, then SIGKILL after `grace`; the pid
/// file is removed. Returns the pid it stopped; `None` (nothing done but removing a stale pid
/// file) when the file is missing or the process is gone.
pub fn stop_pidfile(pidfile: &Path, grace: Duration) -> Option<u32> {
    let pid = read_pid(pidfile)?;
    if !pid_alive(pid) {
        let _ = std::fs::remove_file(pidfile);
        return None;
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let deadline = Instant::now() + grace;
    while pid_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if pid_alive(pid) {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .status();
    }
    let _ = std::fs::remove_file(pidfile);
    Some(pid)
}

/// A private Open vSwitch: ovsdb-server + ovs-vswitchd in one directory.
#[derive(Debug)]
pub struct OvsSandbox {
    dir: PathBuf,
    /// The network namespace the daemons run in (a node of the node lab); `None` = this one.
    netns: Option<String>,
    keep: bool,
    _tmp: Option<tempfile::TempDir>,
    /// Held for the sandbox's lifetime; see [`NETDEV_LOCK`]. Dropped after the daemons stop.
    _lock: Option<std::fs::File>,
}

/// Only one userspace-datapath ovs-vswitchd can run on a host at a time: its datapath is the tap
/// device `ovs-netdev`, which a second one cannot open ("Device or resource busy"). Every sandbox
/// on the machine (tests, the demo) takes this lock for its lifetime.
pub const NETDEV_LOCK: &str = "/tmp/ovs-netdev.lock";

/// A sandbox kept running after its process exits (`make demo KEEP=1`) still owns the userspace
/// datapath, but no process holds [`NETDEV_LOCK`] for it any more: it records its
/// `ovs-vswitchd` pid and directory here, and [`lock_netdev`] waits while that pid lives.
pub const NETDEV_KEPT: &str = "/tmp/ovs-netdev.kept";

/// Blocks until this process holds [`NETDEV_LOCK`] (released when the file is dropped) and no
/// kept sandbox other than the one in `dir` ([`NETDEV_KEPT`]) is running.
pub fn lock_netdev_for(dir: Option<&Path>) -> Result<std::fs::File, SandboxError> {
    let io = |source| SandboxError::Io {
        path: NETDEV_LOCK.into(),
        source,
    };
    let mut told = false;
    loop {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(NETDEV_LOCK)
            .map_err(io)?;
        f.lock().map_err(io)?;
        match kept_sandbox() {
            Some((pid, kept)) if Some(kept.as_path()) != dir => {
                if !told {
                    eprintln!(
                        "waiting for the kept sandbox OVS in {} (ovs-vswitchd pid {pid}): only one userspace datapath can run in a namespace; stop it with `make demo-clean` (Ctrl-C to give up)",
                        kept.display()
                    );
                    told = true;
                }
                drop(f);
                std::thread::sleep(Duration::from_millis(500));
            }
            _ => return Ok(f),
        }
    }
}

/// [`lock_netdev_for`] a sandbox that is not a kept one.
pub fn lock_netdev() -> Result<std::fs::File, SandboxError> {
    lock_netdev_for(None)
}

/// The live kept sandbox, if any: (ovs-vswitchd pid, directory). A stale record is removed.
fn kept_sandbox() -> Option<(u32, PathBuf)> {
    let text = std::fs::read_to_string(NETDEV_KEPT).ok()?;
    let (pid, dir) = text.trim().split_once(' ')?;
    let pid: u32 = pid.parse().ok()?;
    if pid_alive(pid) {
        Some((pid, PathBuf::from(dir)))
    } else {
        let _ = std::fs::remove_file(NETDEV_KEPT);
        None
    }
}

impl OvsSandbox {
    /// Starts OVS in a new temporary directory (removed on drop).
    pub fn start_temp() -> Result<Self, SandboxError> {
        let tmp = tempfile::Builder::new()
            .prefix("kk-ovs-")
            .tempdir_in("/tmp")
            .map_err(|source| SandboxError::Io {
                path: "/tmp".into(),
                source,
            })?;
        let mut s = Self::start(tmp.path())?;
        s._tmp = Some(tmp);
        Ok(s)
    }

    /// Starts OVS with everything under `dir` (created if missing). A previous sandbox in the
    /// same directory, if its daemons still run, is stopped first by its pid files.
    ///
    /// Equivalent to: `ovsdb-tool create`, `ovsdb-server --remote=punix:DIR/db.sock --detach`,
    /// `ovs-vsctl --no-wait init`, `OVS_RUNDIR=DIR ovs-vswitchd --detach`.
    pub fn start(dir: &Path) -> Result<Self, SandboxError> {
        Self::start_in(dir, None)
    }

    /// [`OvsSandbox::start`] with the daemons inside network namespace `netns` (`ip netns exec
    /// NS ovsdb-server ...`): a node of the node lab. Each namespace has its own userspace
    /// datapath tap (`ovs-netdev`), so no machine-wide lock is taken for it.
    pub fn start_in(dir: &Path, netns: Option<&str>) -> Result<Self, SandboxError> {
        std::fs::create_dir_all(dir).map_err(|source| SandboxError::Io {
            path: dir.into(),
            source,
        })?;
        let dir = dir.canonicalize().map_err(|source| SandboxError::Io {
            path: dir.into(),
            source,
        })?;
        let s = OvsSandbox {
            dir: dir.clone(),
            netns: netns.map(str::to_string),
            keep: false,
            _tmp: None,
            _lock: match netns {
                Some(_) => None,
                None => Some(lock_netdev_for(Some(&dir))?),
            },
        };
        s.stop_daemons();
        for f in ["conf.db", ".conf.db.~lock~", "db.sock"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        run(Command::new("ovsdb-tool")
            .arg("create")
            .arg(dir.join("conf.db"))
            .arg(schema_path()))?;
        s.start_ovsdb_server()?;
        run(Command::new("ovs-vsctl")
            .arg(format!("--db=unix:{}", dir.join("db.sock").display()))
            .arg("--no-wait")
            .arg("init")
            .env("OVS_RUNDIR", &dir))?;
        s.start_vswitchd()?;
        Ok(s)
    }

    /// Starts `ovsdb-server` on the sandbox's existing `conf.db` (detached, pid file in the
    /// directory). Used by [`start`](Self::start) and by tests that restart it.
    pub fn start_ovsdb_server(&self) -> Result<(), SandboxError> {
        run(self
            .daemon("ovsdb-server")
            .arg(self.dir.join("conf.db"))
            .arg(format!(
                "--remote=punix:{}",
                self.dir.join("db.sock").display()
            ))
            .arg(format!(
                "--pidfile={}",
                self.dir.join("ovsdb-server.pid").display()
            ))
            .arg(format!(
                "--unixctl={}",
                self.dir.join("ovsdb-server.ctl").display()
            ))
            .arg(format!(
                "--log-file={}",
                self.dir.join("ovsdb-server.log").display()
            ))
            .arg("--detach")
            .env("OVS_RUNDIR", &self.dir))?;
        Ok(())
    }

    /// Starts `ovs-vswitchd` against the sandbox's database (detached, pid file in the
    /// directory). Used by [`start`](Self::start) and by tests that restart it.
    pub fn start_vswitchd(&self) -> Result<(), SandboxError> {
        run(self
            .daemon("ovs-vswitchd")
            .arg(format!("unix:{}", self.dir.join("db.sock").display()))
            .arg(format!(
                "--pidfile={}",
                self.dir.join("ovs-vswitchd.pid").display()
            ))
            .arg(format!(
                "--unixctl={}",
                self.dir.join("ovs-vswitchd.ctl").display()
            ))
            .arg(format!(
                "--log-file={}",
                self.dir.join("ovs-vswitchd.log").display()
            ))
            .arg("--detach")
            .env("OVS_RUNDIR", &self.dir))?;
        Ok(())
    }

    /// `program` as a daemon of this sandbox: in its network namespace when it has one.
    fn daemon(&self, program: &str) -> Command {
        match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, program]);
                c
            }
            None => Command::new(program),
        }
    }

    /// Kills `daemon` (`ovs-vswitchd` or `ovsdb-server`) of this sandbox with SIGKILL, by its
    /// pid file, and waits until it is gone: a crash, for restart tests.
    pub fn kill(&self, daemon: &str) {
        let pidfile = self.dir.join(format!("{daemon}.pid"));
        if let Some(pid) = read_pid(&pidfile) {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while pid_alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = std::fs::remove_file(&pidfile);
    }

    /// Keeps the daemons running after drop (the demo's `KEEP=1`), and, for a sandbox in the
    /// root namespace, records them in [`NETDEV_KEPT`] so that other sandboxes wait until they
    /// are stopped. A sandbox in a namespace of its own (a lab node) has its own `ovs-netdev`
    /// and blocks nobody.
    pub fn keep(&mut self) {
        self.keep = true;
        if self.netns.is_some() {
            return;
        }
        if let Some(pid) = read_pid(&self.dir.join("ovs-vswitchd.pid")) {
            let _ = std::fs::write(NETDEV_KEPT, format!("{pid} {}\n", self.dir.display()));
        }
    }

    /// The sandbox directory (OVS_RUNDIR).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The OVSDB target, `unix:DIR/db.sock`.
    pub fn db_target(&self) -> String {
        format!("unix:{}", self.dir.join("db.sock").display())
    }

    /// The OpenFlow service socket of `bridge`, `DIR/<bridge>.mgmt`.
    pub fn mgmt_sock(&self, bridge: &str) -> PathBuf {
        self.dir.join(format!("{bridge}.mgmt"))
    }

    /// Waits until `bridge`'s OpenFlow socket exists.
    pub fn wait_bridge(&self, bridge: &str, timeout: Duration) -> Result<(), SandboxError> {
        let deadline = Instant::now() + timeout;
        while !self.mgmt_sock(bridge).exists() {
            if Instant::now() > deadline {
                return Err(SandboxError::Timeout(format!(
                    "{} did not appear within {timeout:?}",
                    self.mgmt_sock(bridge).display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// `ovs-vsctl --db=unix:DIR/db.sock ARGS`.
    pub fn vsctl(&self, args: &[&str]) -> Result<String, SandboxError> {
        run(Command::new("ovs-vsctl")
            .arg(format!("--db={}", self.db_target()))
            .args(args)
            .env("OVS_RUNDIR", &self.dir))
    }

    /// `ovs-ofctl -O OpenFlow13 CMD unix:DIR/<bridge>.mgmt ARGS`.
    pub fn ofctl(&self, cmd: &str, bridge: &str, args: &[&str]) -> Result<String, SandboxError> {
        run(Command::new("ovs-ofctl")
            .args(["-O", "OpenFlow13", cmd])
            .arg(format!("unix:{}", self.mgmt_sock(bridge).display()))
            .args(args)
            .env("OVS_RUNDIR", &self.dir))
    }

    /// `ovs-appctl -t DIR/ovs-vswitchd.ctl ARGS`.
    pub fn appctl(&self, args: &[&str]) -> Result<String, SandboxError> {
        run(Command::new("ovs-appctl")
            .arg("-t")
            .arg(self.dir.join("ovs-vswitchd.ctl"))
            .args(args)
            .env("OVS_RUNDIR", &self.dir))
    }

    fn stop_daemons(&self) {
        stop_sandbox(&self.dir);
    }

    /// Stops the daemons now (also done on drop unless [`keep`](Self::keep) was called).
    pub fn stop(&mut self) {
        self.stop_daemons();
    }
}

impl Drop for OvsSandbox {
    fn drop(&mut self) {
        if !self.keep {
            self.stop_daemons();
        }
    }
}

/// Stops the OVS of a sandbox directory by its pid files, deleting its bridges first: on the
/// userspace datapath a bridge's internal port is a tap device that outlives ovs-vswitchd.
/// Returns what it did, one line each (`bridge br-int deleted`, `ovs-vswitchd (pid 4242)
/// stopped`); empty when nothing of the sandbox ran.
pub fn stop_sandbox(dir: &Path) -> Vec<String> {
    let mut done = Vec::new();
    let alive = |f: &str| read_pid(&dir.join(f)).is_some_and(pid_alive);
    if alive("ovsdb-server.pid") && alive("ovs-vswitchd.pid") {
        let vsctl = |args: &[&str]| {
            run(Command::new("ovs-vsctl")
                .arg(format!("--db=unix:{}", dir.join("db.sock").display()))
                .arg("--timeout=5")
                .args(args)
                .env("OVS_RUNDIR", dir))
        };
        if let Ok(list) = vsctl(&["list-br"]) {
            for br in list.lines().filter(|l| !l.is_empty()) {
                if vsctl(&["--if-exists", "del-br", br]).is_ok() {
                    done.push(format!("bridge {br} deleted"));
                }
            }
        }
    }
    for daemon in ["ovs-vswitchd", "ovsdb-server"] {
        if let Some(pid) = stop_pidfile(&dir.join(format!("{daemon}.pid")), Duration::from_secs(5))
        {
            done.push(format!("{daemon} (pid {pid}) stopped"));
        }
    }
    if kept_sandbox().is_some_and(|(_, kept)| kept == dir) {
        let _ = std::fs::remove_file(NETDEV_KEPT);
    }
    done
}

/// The Open_vSwitch schema shipped by Debian's openvswitch-common.
pub fn schema_path() -> PathBuf {
    for p in [
        "/usr/share/openvswitch/vswitch.ovsschema",
        "/usr/local/share/openvswitch/vswitch.ovsschema",
    ] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    "/usr/share/openvswitch/vswitch.ovsschema".into()
}

/// A pod: a network namespace with `eth0`, the peer of a host-side veth.
#[derive(Debug)]
pub struct PodNetns {
    /// Network namespace name.
    pub netns: String,
    /// Host-side veth name (the OVS port).
    pub host_if: String,
    /// The pod's address.
    pub ip: Ipv4Addr,
    /// The pod's MAC.
    pub mac: [u8; 6],
    keep: bool,
}

impl PodNetns {
    /// Creates the namespace `netns` with `eth0` (address `ip/prefix_len`, MAC `mac`) whose peer
    /// `host_if` stays in the root namespace, up, without an address.
    ///
    /// Equivalent to `ip netns add`, `ip link add HOST type veth peer name eth0 netns NS`, and
    /// inside the namespace: address, MAC, link up, lo up, and `ethtool -K eth0 tx off` (the
    /// userspace datapath's conntrack marks partially checksummed TCP `+inv`; kernel datapath
    /// nodes do not need it).
    pub fn create(
        netns: &str,
        host_if: &str,
        ip: Ipv4Addr,
        prefix_len: u8,
        mac: [u8; 6],
    ) -> Result<Self, SandboxError> {
        // Leftovers of an interrupted run with the same names.
        let _ = run(Command::new("ip").args(["netns", "del", netns]));
        let _ = run(Command::new("ip").args(["link", "del", host_if]));
        let pod = PodNetns {
            netns: netns.into(),
            host_if: host_if.into(),
            ip,
            mac,
            keep: false,
        };
        run(Command::new("ip").args(["netns", "add", netns]))?;
        run(Command::new("ip").args([
            "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", netns,
        ]))?;
        let ns = |args: &[&str]| run(Command::new("ip").arg("-n").arg(netns).args(args));
        ns(&[
            "link",
            "set",
            "eth0",
            "address",
            &crate::policy::mac::mac_string(mac),
        ])?;
        ns(&["addr", "add", &format!("{ip}/{prefix_len}"), "dev", "eth0"])?;
        ns(&["link", "set", "eth0", "up"])?;
        ns(&["link", "set", "lo", "up"])?;
        // Every destination on-link through eth0, whatever the pods' addresses have in common:
        // the pod ARPs for it and the bridge decides. Inside the pod's namespace only.
        ns(&["route", "replace", "default", "dev", "eth0"])?;
        run(Command::new("ip").args(["link", "set", host_if, "up"]))?;
        run(
            Command::new("ip").args(["netns", "exec", netns, "ethtool", "-K", "eth0", "tx", "off"])
        )?;
        Ok(pod)
    }

    /// Gives the pod the IPv6 address `addr` (dual stack): `addr/64` on eth0 with `nodad`, so
    /// it is usable at once instead of after duplicate address detection, and every IPv6
    /// destination on-link through eth0 (`ip -6 route replace default dev eth0`), inside the
    /// pod's namespace only.
    pub fn add_ipv6(&self, addr: std::net::Ipv6Addr) -> Result<(), SandboxError> {
        let ns = |args: &[&str]| run(Command::new("ip").arg("-n").arg(&self.netns).args(args));
        ns(&[
            "-6",
            "addr",
            "add",
            &format!("{addr}/64"),
            "dev",
            "eth0",
            "nodad",
        ])?;
        ns(&["-6", "route", "replace", "default", "dev", "eth0"])?;
        Ok(())
    }

    /// A command that runs `program` inside the pod's namespace (`ip netns exec NS program`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.netns]).arg(program);
        c
    }

    /// Keeps the namespace after drop.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for PodNetns {
    fn drop(&mut self) {
        if !self.keep {
            let _ = run(Command::new("ip").args(["netns", "del", &self.netns]));
            let _ = run(Command::new("ip").args(["link", "del", &self.host_if]));
        }
    }
}
