//! Against a real `ovs-vswitchd` (netdev datapath) in a private sandbox, set up exactly as
//! `/work/shared/reference/protocols.md` §3.1. Fails loudly if OVS is not installed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use openflow::{Connection, Error, FlowMod};

/// The sandbox directory; its Drop stops both daemons by the pids in their pid files.
/// A bridge name unique to this process: on the userspace datapath a bridge is also a tap device
/// in the root namespace, shared by every sandbox on the machine.
fn bridge() -> String {
    format!("kof{}", std::process::id() % 100_000)
}

struct Sandbox {
    dir: tempfile::TempDir,
    /// Dropped after `Drop::drop` stopped the daemons.
    _lock: std::fs::File,
}

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

fn run(dir: &Path, cmd: &str, args: &[&str]) {
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
    fn start() -> Sandbox {
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
        run(
            d,
            "ovs-vswitchd",
            &[
                &db,
                &format!("--pidfile={}", p("ovs-vswitchd.pid")),
                &format!("--unixctl={}", p("ovs-vswitchd.ctl")),
                &format!("--log-file={}", p("ovs-vswitchd.log")),
                "--detach",
            ],
        );
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

    fn mgmt(&self) -> PathBuf {
        self.dir.path().join(format!("{}.mgmt", bridge()))
    }

    /// `ovs-ofctl -O OpenFlow13 dump-flows --no-stats`, one flow per entry.
    fn ofctl_dump(&self) -> BTreeSet<String> {
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

const FLOWS: &[&str] = &[
    "priority=200,in_port=2 actions=load:0x2->NXM_NX_REG0[0..3],resubmit(,1)",
    "table=1, priority=200,ip actions=ct(table=2,zone=65520)",
    "table=2, priority=200,ct_state=+inv+trk,ip actions=drop",
    "table=2, priority=190,ct_state=-new+trk,ct_mark=0x2/0x2,ip actions=goto_table:3",
    "table=3, priority=200,ip,nw_src=10.10.0.2 actions=conjunction(1001,1/2)",
    "table=3, priority=200,ip,reg1=0x3 actions=conjunction(1001,2/2)",
    "table=3, priority=190,conj_id=1001,ip actions=load:0x3e9->NXM_NX_REG3[],ct(commit,table=4,zone=65520,exec(load:0x1->NXM_NX_CT_MARK[1],load:0x3e9->NXM_NX_CT_LABEL[0..31]))",
    "cookie=0x1234, table=4, idle_timeout=30, hard_timeout=60, send_flow_rem check_overlap priority=5,tcp,nw_dst=10.0.0.0/24,tp_dst=80 actions=output:NXM_NX_REG1[0..15]",
    "table=4, priority=4,arp,arp_tpa=10.0.0.1,arp_op=1 actions=set_field:0x5->reg2,NORMAL",
];

fn flows() -> Vec<FlowMod> {
    FLOWS
        .iter()
        .map(|s| s.parse().unwrap_or_else(|e| panic!("{s}: {e}")))
        .collect()
}

fn canonical(v: impl IntoIterator<Item = FlowMod>) -> BTreeSet<String> {
    v.into_iter().map(|f| f.canonical().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_install_atomically_and_dump_back() {
    let sb = Sandbox::start();
    let conn = Connection::connect_unix(sb.mgmt()).await.expect("connect");
    assert_ne!(conn.datapath_id(), 0);

    conn.bundle(&flows()).await.expect("bundle");
    let expected: BTreeSet<String> = FLOWS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        sb.ofctl_dump(),
        expected,
        "ovs-ofctl dump-flows disagrees with what we installed"
    );

    let ours = conn.dump_flows(None).await.expect("dump_flows");
    assert_eq!(
        canonical(ours.iter().map(|s| s.to_flow_mod())),
        canonical(flows())
    );
    assert_eq!(
        conn.dump_flows(Some(3)).await.expect("dump table 3").len(),
        3
    );

    // A bundle whose second flow_mod jumps backwards: nothing of it may be applied.
    let bad: Vec<FlowMod> = [
        "table=7, priority=1 actions=drop",
        "table=5, priority=1 actions=goto_table:2",
        "table=8, priority=1 actions=drop",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    match conn.bundle(&bad).await {
        Err(Error::Bundle { index, error, flow }) => {
            assert_eq!(index, Some(1));
            assert_eq!(error.name(), Some("OFPBIC_BAD_TABLE_ID"), "{error}");
            assert_eq!(
                flow.as_deref(),
                Some("table=5, priority=1 actions=goto_table:2")
            );
        }
        other => panic!("expected Error::Bundle, got {other:?}"),
    }
    assert_eq!(
        sb.ofctl_dump(),
        expected,
        "a failed bundle changed the flow table"
    );
    conn.barrier().await.expect("connection still usable");

    // A large bundle goes out in batches without per-message waits.
    let many: Vec<FlowMod> = (0..20_000u32)
        .map(|i| {
            format!(
                "table=10, priority=10,ip,nw_src={}.{}.{}.1 actions=goto_table:11",
                10,
                i >> 8,
                i & 0xff
            )
            .parse()
            .unwrap()
        })
        .collect();
    let t = Instant::now();
    conn.bundle(&many).await.expect("large bundle");
    eprintln!("20k flow bundle took {:?}", t.elapsed());
    assert_eq!(
        conn.dump_flows(Some(10))
            .await
            .expect("dump table 10")
            .len(),
        20_000
    );
}
