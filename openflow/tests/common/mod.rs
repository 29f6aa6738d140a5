//! A private Open vSwitch for the OpenFlow tests: ovsdb-server + ovs-vswitchd (netdev datapath)
//! in a temporary directory with one bridge, torn down by the pids in their pid files. Fails
//! loudly if OVS is not installed.
#![allow(dead_code)] // each test binary uses part of it

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Only one userspace-datapath ovs-vswitchd can run on a host at a time (its datapath is the tap
/// device `ovs-netdev`); every sandbox on the machine holds this lock for its lifetime (the same
/// file as `kakine::sandbox::NETDEV_LOCK`).
fn lock_netdev() -> std::fs::File {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/tmp/ovs-netdev.lock")
        .expect("open /tmp/ovs-netdev.lock");
    f.lock().expect("lock /tmp/ovs-netdev.lock");
    f
}

/// The sandbox directory; its Drop stops both daemons by the pids in their pid files.
/// A bridge name unique to this process: on the userspace datapath a bridge is also a tap device
/// in the root namespace, shared by every sandbox on the machine.
pub fn bridge() -> String {
    format!("kof{}", std::process::id() % 100_000)
}

pub struct Sandbox {
    pub dir: tempfile::TempDir,
    /// Dropped after `Drop::drop` stopped the daemons.
    _lock: std::fs::File,
}

pub fn run(dir: &Path, cmd: &str, args: &[&str]) {
    let out = Command::new(cmd)
        .args(args)
        .env("OVS_RUNDIR", dir)
        .env("OVS_LOGDIR", dir)
        .env("OVS_DBDIR", dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd} (is Open vSwitch installed?): {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Sandbox {
    pub fn start() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("ovs")
            .tempdir()
            .expect("tempdir");
        let sb = Sandbox {
            dir,
            _lock: lock_netdev(),
        };
        let d = sb.dir.path();
        let p = |f: &str| d.join(f).to_string_lossy().into_owned();
        let db = format!("unix:{}", p("db.sock"));
        run(
            d,
            "ovsdb-tool",
            &[
                "create",
                &p("conf.db"),
                "/usr/share/openvswitch/vswitch.ovsschema",
            ],
        );
        run(
            d,
            "ovsdb-server",
            &[
                &format!("--remote=punix:{}", p("db.sock")),
                &format!("--pidfile={}", p("ovsdb-server.pid")),
                &format!("--unixctl={}", p("ovsdb-server.ctl")),
                &format!("--log-file={}", p("ovsdb-server.log")),
                "--detach",
                &p("conf.db"),
            ],
        );
        run(
            d,
            "ovs-vsctl",
            &[&format!("--db={db}"), "--no-wait", "init"],
        );
        sb.start_vswitchd();
        run(
            d,
            "ovs-vsctl",
            &[
                &format!("--db={db}"),
                "--timeout=20",
                "add-br",
                &bridge(),
                "--",
                "set",
                "Bridge",
                &bridge(),
                "datapath_type=netdev",
                "protocols=OpenFlow13",
                "fail_mode=secure",
            ],
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while !sb.mgmt().exists() {
            assert!(
                Instant::now() < deadline,
                "{}.mgmt did not appear",
                bridge()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        sb
    }

    pub fn start_vswitchd(&self) {
        let d = self.dir.path();
        let p = |f: &str| d.join(f).to_string_lossy().into_owned();
        run(
            d,
            "ovs-vswitchd",
            &[
                &format!("unix:{}", p("db.sock")),
                &format!("--pidfile={}", p("ovs-vswitchd.pid")),
                &format!("--unixctl={}", p("ovs-vswitchd.ctl")),
                &format!("--log-file={}", p("ovs-vswitchd.log")),
                "--detach",
            ],
        );
    }

    /// Kill ovs-vswitchd by its pid file and wait until it is gone.
    pub fn kill_vswitchd(&self) {
        let pid = std::fs::read_to_string(self.dir.path().join("ovs-vswitchd.pid"))
            .expect("ovs-vswitchd.pid");
        let pid = pid.trim().to_string();
        assert!(Command::new("kill").arg(&pid).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}")).exists() {
            assert!(Instant::now() < deadline, "ovs-vswitchd {pid} did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn mgmt(&self) -> PathBuf {
        self.dir.path().join(format!("{}.mgmt", bridge()))
    }

    /// `ovs-ofctl -O OpenFlow13 dump-flows --no-stats`, one flow per entry.
    pub fn ofctl_dump(&self) -> BTreeSet<String> {
        let out = Command::new("ovs-ofctl")
            .args(["-O", "OpenFlow13", "dump-flows", "--no-stats"])
            .arg(format!("unix:{}", self.mgmt().display()))
            .output()
            .expect("ovs-ofctl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Deleting the bridge first lets ovs-vswitchd remove its tap device.
        let _ = Command::new("ovs-vsctl")
            .arg(format!(
                "--db=unix:{}",
                self.dir.path().join("db.sock").display()
            ))
            .args(["--timeout=5", "--if-exists", "del-br", &bridge()])
            .status();
        for daemon in ["ovs-vswitchd", "ovsdb-server"] {
            let pidfile = self.dir.path().join(format!("{daemon}.pid"));
            let Ok(pid) = std::fs::read_to_string(&pidfile) else {
                continue;
            };
            let pid = pid.trim().to_string();
            let _ = Command::new("kill").arg(&pid).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
