//! The tokio driver of the session against a real `ovs-vswitchd` (netdev datapath) in a private
//! sandbox as in `ovs_conn.rs`: a connection dropped in the middle of a bundle applies nothing, and
//! a restarted ovs-vswitchd is reconnected to by itself. Fails loudly if OVS is not installed.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use openflow::session::Config;
use openflow::{AsyncEvent, BundleControl, BundleCtrlType, Connection, FlowMod, Hello, Message};

/// The sandbox directory; its Drop stops both daemons by the pids in their pid files.
/// A bridge name unique to this process: on the userspace datapath a bridge is also a tap device
/// in the root namespace, shared by every sandbox on the machine.
fn bridge() -> String {
    format!("kos{}", std::process::id() % 100_000)
}

struct Sandbox {
    dir: tempfile::TempDir,
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
        let sb = Sandbox { dir };
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

    fn start_vswitchd(&self) {
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
    fn kill_vswitchd(&self) {
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

/// Both tests use the one bridge name of this process: run them one after the other.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn flows(table: u8, n: u32) -> Vec<FlowMod> {
    (0..n)
        .map(|i| {
            format!(
                "table={table}, priority=10,ip,nw_src=10.1.{}.{} actions=drop",
                i >> 8,
                i & 0xff
            )
            .parse()
            .unwrap()
        })
        .collect()
}

fn read_msg(s: &mut UnixStream) -> (u32, Message) {
    let mut hdr = [0u8; 8];
    s.read_exact(&mut hdr).unwrap();
    let mut buf = hdr.to_vec();
    buf.resize(u16::from_be_bytes([hdr[2], hdr[3]]) as usize, 0);
    s.read_exact(&mut buf[8..]).unwrap();
    Message::decode(&buf).unwrap()
}

/// Read until the message with `xid` arrives (answering nothing else: no echo within seconds).
fn wait_for(s: &mut UnixStream, xid: u32) -> Message {
    loop {
        let (x, m) = read_msg(s);
        if x == xid {
            return m;
        }
    }
}

#[test]
fn a_connection_dropped_mid_bundle_applies_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let sb = Sandbox::start();
    let mut s = UnixStream::connect(sb.mgmt()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&Message::Hello(Hello::of13()).encode(1))
        .unwrap();
    assert!(matches!(read_msg(&mut s).1, Message::Hello(_)));
    let open = BundleControl::new(1, BundleCtrlType::OpenRequest, 3);
    s.write_all(&Message::BundleControl(open).encode(2))
        .unwrap();
    assert!(
        matches!(wait_for(&mut s, 2), Message::BundleControl(c) if c.kind == BundleCtrlType::OpenReply)
    );
    let mut buf = Vec::new();
    for (i, fm) in flows(0, 100).into_iter().enumerate() {
        Message::BundleAdd {
            bundle_id: 1,
            flags: 3,
            message: Box::new(Message::FlowMod(fm)),
        }
        .emit(10 + i as u32, &mut buf);
    }
    // A barrier proves the ADDs were taken into the bundle before we hang up without COMMIT.
    Message::BarrierRequest.emit(1000, &mut buf);
    s.write_all(&buf).unwrap();
    assert_eq!(wait_for(&mut s, 1000), Message::BarrierReply);
    drop(s);

    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        sb.ofctl_dump(),
        BTreeSet::new(),
        "an uncommitted bundle was applied"
    );

    // The bridge is fine for the next client.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let conn = Connection::connect_unix(sb.mgmt()).await.expect("connect");
        conn.bundle(&flows(0, 3)).await.expect("bundle");
    });
    assert_eq!(sb.ofctl_dump().len(), 3);
}

#[test]
fn a_restarted_vswitchd_is_reconnected_to_and_reported() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let sb = Sandbox::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let config = Config {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
            ..Config::default()
        };
        let conn = Connection::connect_unix_with(sb.mgmt(), config)
            .await
            .expect("connect");
        let dpid = conn.datapath_id();
        let mut events = conn.events();
        conn.bundle(&flows(1, 5)).await.expect("first bundle");

        sb.kill_vswitchd();
        let ev = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("no Disconnected event");
        assert!(matches!(ev, Some(AsyncEvent::Disconnected(_))), "{ev:?}");
        assert!(conn.barrier().await.is_err(), "a request while down must fail");

        sb.start_vswitchd();
        let ev = loop {
            let ev = tokio::time::timeout(Duration::from_secs(60), events.next())
                .await
                .expect("no Reconnected event within 60 s");
            if !matches!(ev, Some(AsyncEvent::Disconnected(_))) {
                break ev;
            }
        };
        assert!(
            matches!(ev, Some(AsyncEvent::Reconnected { features }) if features.datapath_id == dpid),
            "{ev:?}"
        );
        conn.bundle(&flows(2, 7)).await.expect("bundle after reconnect");
        assert_eq!(conn.dump_flows(Some(2)).await.expect("dump").len(), 7);
    });
    let dump = sb.ofctl_dump();
    assert_eq!(
        dump.iter().filter(|l| l.starts_with("table=2")).count(),
        7,
        "{dump:?}"
    );
}
