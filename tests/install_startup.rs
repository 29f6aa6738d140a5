//! The agent DaemonSet's start-up sequence, run as the DaemonSet runs it but in a network
//! namespace of this test instead of a node (docs/install.md, "Node start-up"):
//! `install-cni` puts kakine-cni, its chained plugins and the conflist with the node's pod
//! CIDRs in place; `start-ovs` brings ovsdb-server and ovs-vswitchd up (userspace datapath
//! here); kakine-agent programs br-int. Then the ovs container restarts: `start-ovs` finds
//! br-int in its database and sets flow-restore-wait, and the agent reinstalls its flows and
//! removes it. The load-openvswitch init container's mode of `start-ovs` is checked too.
//!
//! Needs root and Open vSwitch (`make deps`); fails loudly without them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kakine::lab::sandbox::schema_path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A network namespace of this test, with the ovs container's and the agent's processes in it;
/// everything is stopped and removed on drop, also when an assertion failed.
struct Node {
    netns: String,
    dir: tempfile::TempDir,
    ovs: Option<Child>,
    agent: Option<Child>,
}

impl Node {
    fn new() -> Node {
        let netns = format!("kkinst{}", std::process::id());
        let _ = Command::new("ip")
            .args(["netns", "del", &netns])
            .stderr(Stdio::null())
            .status();
        let ok = Command::new("ip").args(["netns", "add", &netns]).status();
        assert!(
            ok.is_ok_and(|s| s.success()),
            "ip netns add {netns} (root needed)"
        );
        let dir = tempfile::tempdir().unwrap();
        Node {
            netns,
            dir,
            ovs: None,
            agent: None,
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// The ovs container's environment (its hostPath directories are this test's).
    fn ovs_env(&self, c: &mut Command) {
        c.env("OVS_RUNDIR", self.path("run"))
            .env("OVS_DBDIR", self.path("db"))
            .env("OVS_LOGDIR", self.path("log"))
            .env("OVS_DATAPATH_TYPE", "netdev")
            .env("OVS_SCHEMA", schema_path())
            .env("OVS_NO_MLOCKALL", "1");
    }

    fn in_netns(&self, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.netns]).arg(program);
        c
    }

    /// `start-ovs`, as the ovs container's command; returns once `start-ovs --check` passes.
    fn start_ovs(&mut self) {
        let mut c = self.in_netns(&root().join("images/scripts/start-ovs"));
        self.ovs_env(&mut c);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("start-ovs.log"))
            .unwrap();
        c.stdout(log.try_clone().unwrap()).stderr(log);
        self.ovs = Some(c.spawn().expect("start-ovs"));
        self.wait("start-ovs --check", || {
            let mut c = self.in_netns(&root().join("images/scripts/start-ovs"));
            self.ovs_env(&mut c);
            c.arg("--check").stdout(Stdio::null()).stderr(Stdio::null());
            c.status().is_ok_and(|s| s.success())
        });
    }

    /// SIGTERM to start-ovs (the kubelet stopping the container): both daemons exit.
    fn stop_ovs(&mut self) {
        if let Some(mut c) = self.ovs.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
        // `ip netns exec` passes the signal on as the shell's exec; the daemons are stopped
        // by start-ovs's trap. Make sure, by their pid files, for a failed run.
        for d in ["ovs-vswitchd", "ovsdb-server"] {
            kakine::lab::sandbox::stop_pidfile(
                &self.path(&format!("run/{d}.pid")),
                Duration::from_secs(5),
            );
        }
    }

    fn vsctl(&self, args: &[&str]) -> String {
        let mut c = self.in_netns(Path::new("ovs-vsctl"));
        c.arg(format!("--db=unix:{}", self.path("run/db.sock").display()))
            .args(args);
        let out = c.output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn flow_count(&self) -> usize {
        let mut c = self.in_netns(Path::new("ovs-ofctl"));
        c.args(["-O", "OpenFlow13", "dump-flows"])
            .arg(format!("unix:{}", self.path("run/br-int.mgmt").display()));
        let out = c.output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("actions="))
            .count()
    }

    fn start_agent(&mut self) {
        let log = std::fs::File::create(self.path("agent.log")).unwrap();
        let mut c = self.in_netns(Path::new(env!("CARGO_BIN_EXE_kakine-agent")));
        c.arg("--standalone")
            .arg(root().join("examples"))
            .arg("--ovs-rundir")
            .arg(self.path("run"))
            .args(["--datapath-type", "netdev", "--metrics-addr", "off"])
            .arg("--state-dir")
            .arg(self.path("state"))
            .arg("--audit-log")
            .arg(self.path("log/np.log"))
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        self.agent = Some(c.spawn().expect("kakine-agent"));
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    fn wait(&self, what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(
                Instant::now() < deadline,
                "{what}: not after 30 s\n--- start-ovs:\n{}\n--- agent:\n{}",
                self.log("start-ovs.log"),
                self.log("agent.log")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut a) = self.agent.take() {
            let _ = a.kill();
            let _ = a.wait();
        }
        self.stop_ovs();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

/// `install-cni` with the pod CIDRs given (the API server's Node is not here): the plugin,
/// the chained plugins and the conflist, which kakine-cni accepts.
#[test]
fn install_cni_puts_the_plugin_and_the_nodes_conflist_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let (bin, conf) = (dir.path().join("bin"), dir.path().join("net.d"));
    let out = Command::new(root().join("images/scripts/install-cni"))
        .env("POD_CIDRS", "10.244.3.0/24,fd00:10:244:3::/64")
        .env("HOST_CNI_BIN", &bin)
        .env("HOST_CNI_CONF", &conf)
        .env(
            "CNI_CONF_TEMPLATE",
            root().join("manifests/cni/10-kakine.conflist"),
        )
        .env("KAKINE_CNI", env!("CARGO_BIN_EXE_kakine-cni"))
        .output()
        .expect("install-cni (bash, jq)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(bin.join("kakine-cni")).unwrap(),
        std::fs::read(env!("CARGO_BIN_EXE_kakine-cni")).unwrap()
    );
    for p in ["host-local", "portmap"] {
        assert!(bin.join(p).is_file(), "{p} not installed");
    }
    let list: serde_json::Value =
        serde_json::from_slice(&std::fs::read(conf.join("10-kakine.conflist")).unwrap()).unwrap();
    assert_eq!(
        list["plugins"][0]["ipam"]["ranges"],
        serde_json::json!([[{"subnet": "10.244.3.0/24"}], [{"subnet": "fd00:10:244:3::/64"}]])
    );
    let mut entry = list["plugins"][0].clone();
    entry["name"] = list["name"].clone();
    entry["cniVersion"] = list["cniVersion"].clone();
    let c = kakine::cni::config::NetConf::parse(entry.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{}", e.to_json()));
    assert_eq!(c.ipam_type, "host-local");
    // No temporary file left beside the targets.
    let left: Vec<_> = std::fs::read_dir(&conf)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["10-kakine.conflist"]);

    // Without pod CIDRs and without a node name: a clear error, nothing half-written.
    let out = Command::new(root().join("images/scripts/install-cni"))
        .env_remove("POD_CIDRS")
        .env_remove("NODE_NAME")
        .env("HOST_CNI_BIN", dir.path().join("bin2"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NODE_NAME is not set"));
    assert!(!dir.path().join("bin2").exists());
}

/// OVS up, the agent's flows on br-int; the ovs container restarts: flow-restore-wait is set
/// by start-ovs and removed by the agent once its flows are back.
#[test]
fn start_ovs_then_agent_and_an_ovs_restart_waits_for_the_agents_flows() {
    let mut n = Node::new();
    n.start_ovs();
    assert!(
        n.log("start-ovs.log").contains("restart false"),
        "{}",
        n.log("start-ovs.log")
    );
    n.start_agent();
    n.wait("the agent's flows on br-int", || n.flow_count() > 20);
    let flows = n.flow_count();
    assert_eq!(n.vsctl(&["get", "Open_vSwitch", ".", "other_config"]), "{}");

    n.stop_ovs();
    n.start_ovs();
    let log = n.log("start-ovs.log");
    assert!(log.contains("br-int exists: flow-restore-wait"), "{log}");
    // The agent reconnects, reinstalls the same pipeline, then releases ovs-vswitchd.
    n.wait("flow-restore-wait removed", || {
        !n.vsctl(&["get", "Open_vSwitch", ".", "other_config"])
            .contains("flow-restore-wait")
    });
    assert_eq!(n.flow_count(), flows, "{}", n.log("agent.log"));
    assert!(
        n.log("agent.log").contains("flow-restore-wait removed"),
        "{}",
        n.log("agent.log")
    );
}

/// The load-openvswitch init container (`start-ovs --load-module`, the only container with
/// SYS_MODULE): with the userspace datapath it loads nothing and starts nothing; a datapath
/// type that is neither is refused by name. (The kernel datapath's modprobe is not run here:
/// the test must not load modules into the host's kernel.)
#[test]
fn load_module_is_a_no_op_for_netdev_and_refuses_an_unknown_datapath() {
    let dir = tempfile::tempdir().unwrap();
    let run = |datapath: &str| {
        Command::new(root().join("images/scripts/start-ovs"))
            .arg("--load-module")
            .env("OVS_DATAPATH_TYPE", datapath)
            .env("OVS_RUNDIR", dir.path().join("run"))
            .env("OVS_DBDIR", dir.path().join("db"))
            .env("OVS_LOGDIR", dir.path().join("log"))
            .output()
            .expect("start-ovs (bash)")
    };
    let out = run("netdev");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let out = run("dpdk");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("OVS_DATAPATH_TYPE dpdk: not system or netdev"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
