//! Tests against a real ovsdb-server (and ovs-vswitchd where vswitchd must apply changes).
//!
//! Every test starts its own servers in a temporary directory and stops them by the pids in their
//! pid files when its [`Ovs`] guard drops, also when the test fails. The OVS 3.1 binaries are
//! required: a missing binary fails the test, it never skips it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ovsdb::{BridgeConfig, Client, Condition, Error, Mutation, Transaction, Value};

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A short name unique to this process and call, prefixed `kodb` (fits IFNAMSIZ with a suffix).
fn unique(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("kodb{tag}{}{n}", std::process::id() % 10000)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} ({e}); Open vSwitch 3.1 must be installed"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One sandbox: ovsdb-server (+ optional ovs-vswitchd) and veths, torn down on drop.
struct Ovs {
    dir: tempfile::TempDir,
    tcp_port: u16,
    vswitchd: bool,
    /// Links to delete on drop: veths, and the tap devices the netdev datapath makes for bridges.
    links: Vec<String>,
    /// Held while an ovs-vswitchd runs; dropped after `Drop::drop` stopped it.
    _lock: Option<std::fs::File>,
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

impl Ovs {
    fn start(vswitchd: bool) -> Ovs {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        let p = |f: &str| d.join(f).display().to_string();
        run(Command::new("ovsdb-tool").args(["create", &p("conf.db"), SCHEMA]));
        let mut ovs = Ovs {
            dir,
            tcp_port: 0,
            vswitchd: false,
            links: Vec::new(),
            _lock: vswitchd.then(lock_netdev),
        };
        run(Command::new("ovsdb-server").args([
            &format!("--remote=punix:{}", p("db.sock")),
            "--remote=ptcp:0:127.0.0.1",
            "--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
            &format!("--pidfile={}", p("ovsdb-server.pid")),
            &format!("--unixctl={}", p("ovsdb-server.ctl")),
            &format!("--log-file={}", p("ovsdb-server.log")),
            "--detach",
            &p("conf.db"),
        ]));
        ovs.tcp_port = ovs.find_tcp_port();
        run(Command::new("ovs-vsctl").args([&format!("--db={}", ovs.unix()), "--no-wait", "init"]));
        if vswitchd {
            run(Command::new("ovs-vswitchd").env("OVS_RUNDIR", &d).args([
                ovs.unix().as_str(),
                &format!("--pidfile={}", p("ovs-vswitchd.pid")),
                &format!("--unixctl={}", p("ovs-vswitchd.ctl")),
                &format!("--log-file={}", p("ovs-vswitchd.log")),
                "--detach",
            ]));
            ovs.vswitchd = true;
        }
        ovs
    }

    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }

    fn unix(&self) -> String {
        format!("unix:{}", self.path("db.sock").display())
    }

    fn tcp(&self) -> String {
        format!("tcp:127.0.0.1:{}", self.tcp_port)
    }

    /// ovsdb-server logs "0:127.0.0.1: listening on port N" for `ptcp:0`.
    fn find_tcp_port(&self) -> u16 {
        self.nth_listening_port(0)
    }

    fn nth_listening_port(&self, n: usize) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = std::fs::read_to_string(self.path("ovsdb-server.log")).unwrap_or_default();
            if let Some(port) = log
                .lines()
                .filter_map(|l| l.split("listening on port ").nth(1))
                .nth(n)
                .and_then(|s| s.trim().parse().ok())
            {
                return port;
            }
            assert!(
                Instant::now() < deadline,
                "no TCP port in ovsdb-server.log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Adds a Manager row listening on another TCP port with a short inactivity probe, so the
    /// server sends `echo` after `probe_ms` idle and disconnects `probe_ms` later without a reply.
    fn tcp_with_probe(&self, probe_ms: u32) -> String {
        self.vsctl(&[
            "--",
            "--id=@m",
            "create",
            "Manager",
            "target=\"ptcp:0:127.0.0.1\"",
            &format!("inactivity_probe={probe_ms}"),
            "--",
            "set",
            "Open_vSwitch",
            ".",
            "manager_options=@m",
        ]);
        format!("tcp:127.0.0.1:{}", self.nth_listening_port(1))
    }

    fn vsctl(&self, args: &[&str]) -> String {
        let db = format!("--db={}", self.unix());
        let mut all = vec![db.as_str(), "--no-wait"];
        all.extend_from_slice(args);
        run(Command::new("ovs-vsctl").args(all)).trim().to_owned()
    }

    /// A veth pair `NAME`/`NAMEp`, deleted with the sandbox. Returns `NAME`.
    fn veth(&mut self) -> String {
        let name = unique("v");
        run(Command::new("ip").args([
            "link",
            "add",
            &name,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{name}p"),
        ]));
        self.links.push(name.clone());
        run(Command::new("ip").args(["link", "set", &name, "up"]));
        name
    }

    /// A unique bridge name whose netdev tap device is deleted with the sandbox.
    fn bridge_name(&mut self) -> String {
        let name = unique("b");
        self.links.push(name.clone());
        name
    }

    async fn client(&self) -> Client {
        Client::connect(&self.unix())
            .await
            .expect("connect")
            .with_wait_timeout(Duration::from_secs(30))
    }
}

fn stop(pidfile: &Path) {
    let Ok(pid) = std::fs::read_to_string(pidfile) else {
        return;
    };
    let pid = pid.trim();
    if Command::new("kill").args(["-TERM", pid]).status().is_err() {
        return;
    }
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while proc_dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if proc_dir.exists() {
        let _ = Command::new("kill").args(["-KILL", pid]).status();
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        if self.vswitchd {
            stop(&self.path("ovs-vswitchd.pid"));
        }
        stop(&self.path("ovsdb-server.pid"));
        for v in &self.links {
            let _ = Command::new("ip").args(["link", "del", v]).status();
        }
    }
}

fn bridge(name: &str) -> BridgeConfig {
    BridgeConfig {
        name: name.into(),
        datapath_type: "netdev".into(),
        protocols: vec!["OpenFlow13".into()],
        fail_mode: Some("secure".into()),
        external_ids: [("owner".to_owned(), "kakine".to_owned())].into(),
    }
}

fn transaction_error(e: Error) -> (usize, String, Option<String>, Option<&'static str>) {
    match e {
        Error::Transaction {
            index,
            error,
            details,
            op,
        } => (index, error, details, op.map(|o| o.kind())),
        other => panic!("expected Error::Transaction, got {other:?}"),
    }
}

#[tokio::test]
async fn basic_methods_work_over_unix_and_tcp() {
    let ovs = Ovs::start(false);
    for target in [ovs.unix(), ovs.tcp()] {
        let c = Client::connect(&target).await.unwrap();
        let dbs = c.list_dbs().await.unwrap();
        assert!(
            dbs.contains(&"Open_vSwitch".to_owned()) && dbs.contains(&"_Server".to_owned()),
            "{dbs:?}"
        );
        let schema = c.get_schema("Open_vSwitch").await.unwrap();
        assert_eq!(schema["name"], "Open_vSwitch");
        assert!(schema["tables"]["Bridge"].is_object());
        let echoed = c.echo(vec!["ping".into(), 7.into()]).await.unwrap();
        assert_eq!(
            echoed,
            vec![serde_json::json!("ping"), serde_json::json!(7)]
        );
        match c.get_schema("Nope").await.unwrap_err() {
            Error::Server { error, .. } => assert_eq!(error, "unknown database"),
            other => panic!("{other:?}"),
        }
        match c
            .call::<serde_json::Value>("no_such_method", serde_json::json!([]))
            .await
            .unwrap_err()
        {
            Error::Server { error, .. } => assert_eq!(error, "unknown method"),
            other => panic!("{other:?}"),
        }
        // The connection survives error replies.
        let r = c
            .transact(
                "Open_vSwitch",
                Transaction::new()
                    .select("Open_vSwitch", [], Some(&["next_cfg"]))
                    .build(),
            )
            .await
            .unwrap();
        assert_eq!(r[0].rows().len(), 1);
    }
    assert!(matches!(
        Client::connect("udp:1.2.3.4:1").await,
        Err(Error::InvalidTarget(_))
    ));
    assert!(matches!(
        Client::connect(&format!("unix:{}", ovs.path("missing.sock").display())).await,
        Err(Error::Connect { .. })
    ));
}

#[tokio::test]
async fn server_errors_surface_as_typed_transaction_errors() {
    let ovs = Ovs::start(false);
    let c = ovs.client().await;
    let br = unique("b");

    // Constraint violation: fail_mode outside its enum; fails before any waiting on vswitchd.
    let mut cfg = bridge(&br);
    cfg.fail_mode = Some("bogus".into());
    let (_, error, details, _) = transaction_error(c.ensure_bridge(&cfg).await.unwrap_err());
    assert_eq!(error, "constraint violation");
    assert!(details.unwrap().contains("bogus"));

    // Referential integrity: a Port whose interface does not exist.
    let ops = Transaction::new()
        .insert_named(
            "Port",
            [
                ("name", Value::from("p")),
                (
                    "interfaces",
                    ovsdb::Uuid::parse("00000000-0000-0000-0000-000000000001")
                        .unwrap()
                        .into(),
                ),
            ],
            "port",
        )
        .build();
    let (index, error, _, op) =
        transaction_error(c.transact("Open_vSwitch", ops).await.unwrap_err());
    assert_eq!(error, "referential integrity violation");
    assert_eq!(
        (index, op),
        (1, None),
        "reported in the commit-time extra element"
    );

    // Unknown column and unknown table fail at the operation, which the error carries.
    let ops = Transaction::new()
        .comment("first")
        .select("Bridge", [Condition::eq("nam", "x")], None)
        .build();
    let (index, error, details, op) =
        transaction_error(c.transact("Open_vSwitch", ops).await.unwrap_err());
    assert_eq!(
        (index, error.as_str(), op),
        (1, "unknown column", Some("select"))
    );
    assert!(details.unwrap().contains("nam"));
    let ops = Transaction::new().select("Bridgee", [], None).build();
    let (index, error, _, op) =
        transaction_error(c.transact("Open_vSwitch", ops).await.unwrap_err());
    assert_eq!((index, op), (0, Some("select")));
    assert!(
        error.contains("unknown table") || error == "syntax error",
        "{error}"
    );

    // Duplicate name: the second identical insert fails at commit on the unique index.
    let add = || {
        Transaction::new()
            .insert_named(
                "Interface",
                [
                    ("name", Value::from(br.as_str())),
                    ("type", "internal".into()),
                ],
                "i",
            )
            .insert_named(
                "Port",
                [
                    ("name", Value::from(br.as_str())),
                    ("interfaces", Value::named_uuid("i")),
                ],
                "p",
            )
            .insert_named(
                "Bridge",
                [
                    ("name", Value::from(br.as_str())),
                    ("ports", Value::named_uuid("p")),
                ],
                "b",
            )
            .mutate(
                "Open_vSwitch",
                [],
                [Mutation::insert("bridges", Value::named_uuid("b"))],
            )
            .build()
    };
    let r = c.transact("Open_vSwitch", add()).await.unwrap();
    assert!(r[2].uuid().is_some());
    let (index, error, details, op) =
        transaction_error(c.transact("Open_vSwitch", add()).await.unwrap_err());
    assert_eq!(
        (index, error.as_str(), op),
        (4, "constraint violation", None)
    );
    assert!(details.unwrap().contains("identical values"));

    // Immutable column.
    let ops = Transaction::new()
        .update(
            "Bridge",
            [Condition::eq("name", br.as_str())],
            [("name", Value::from("x"))],
        )
        .build();
    let (_, error, _, op) = transaction_error(c.transact("Open_vSwitch", ops).await.unwrap_err());
    assert_eq!(
        (error.as_str(), op),
        ("constraint violation", Some("update"))
    );

    // Client-side checks.
    let ops = Transaction::new()
        .insert_named("Bridge", [], "agent-lock")
        .build();
    assert!(
        matches!(c.transact("Open_vSwitch", ops).await, Err(Error::InvalidUuidName(n)) if n == "agent-lock")
    );
    assert!(matches!(
        c.ensure_port("kodb-missing", "p0", &BTreeMap::new()).await,
        Err(Error::NotFound {
            table: "Bridge",
            ..
        })
    ));
}

#[tokio::test]
async fn bridges_and_ports_are_created_updated_and_deleted() {
    let mut ovs = Ovs::start(true);
    let c = ovs.client().await;
    let br = ovs.bridge_name();
    let cfg = bridge(&br);

    let uuid = c.ensure_bridge(&cfg).await.unwrap();
    assert_eq!(ovs.vsctl(&["list-br"]), br);
    assert_eq!(ovs.vsctl(&["get", "Bridge", &br, "_uuid"]), uuid.as_str());
    assert_eq!(
        ovs.vsctl(&["get", "Bridge", &br, "datapath_type"]),
        "netdev"
    );
    assert_eq!(ovs.vsctl(&["get", "Bridge", &br, "fail_mode"]), "secure");
    assert_eq!(
        ovs.vsctl(&["get", "Bridge", &br, "protocols"]),
        "[OpenFlow13]"
    );
    assert_eq!(
        ovs.vsctl(&["get", "Bridge", &br, "external_ids:owner"]),
        "kakine"
    );
    assert!(
        ovs.path(&format!("{br}.mgmt")).exists(),
        "vswitchd created the bridge"
    );

    // Idempotent, and updates to the config.
    let mut cfg2 = cfg.clone();
    cfg2.fail_mode = None;
    cfg2.protocols = vec!["OpenFlow13".into(), "OpenFlow15".into()];
    assert_eq!(c.ensure_bridge(&cfg2).await.unwrap(), uuid);
    assert_eq!(c.ensure_bridge(&cfg2).await.unwrap(), uuid);
    assert_eq!(ovs.vsctl(&["get", "Bridge", &br, "fail_mode"]), "[]");
    assert_eq!(
        ovs.vsctl(&["get", "Bridge", &br, "protocols"]),
        "[OpenFlow13, OpenFlow15]"
    );

    // Flow table names replace earlier ones.
    c.set_flow_table_names(&br, &[(0, "Classifier".into()), (10, "Ingress".into())])
        .await
        .unwrap();
    c.set_flow_table_names(&br, &[(0, "Classifier".into()), (20, "Egress".into())])
        .await
        .unwrap();
    let names = ovs.vsctl(&["--bare", "--columns=name", "list", "Flow_Table"]);
    let mut names: Vec<&str> = names.split_whitespace().collect();
    names.sort();
    assert_eq!(
        names,
        ["Classifier", "Egress"],
        "old Flow_Table rows are garbage-collected"
    );
    assert!(matches!(
        c.set_flow_table_names("kodb-missing", &[]).await,
        Err(Error::NotFound { .. })
    ));

    // Ports.
    let (p1, p2) = (ovs.veth(), ovs.veth());
    let ids: BTreeMap<String, String> = [("pod-name".to_owned(), "web-0".to_owned())].into();
    let of1 = c.ensure_port(&br, &p1, &ids).await.unwrap();
    let of2 = c.ensure_port(&br, &p2, &BTreeMap::new()).await.unwrap();
    assert!(of1 > 0 && of2 > 0 && of1 != of2);
    assert_eq!(
        ovs.vsctl(&["get", "Interface", &p1, "ofport"]),
        of1.to_string()
    );
    assert_eq!(
        ovs.vsctl(&["get", "Interface", &p1, "external_ids:pod-name"]),
        "web-0"
    );
    assert_eq!(
        ovs.vsctl(&["get", "Port", &p1, "external_ids:pod-name"]),
        "web-0"
    );
    let mut expected = [p1.clone(), p2.clone()];
    expected.sort();
    assert_eq!(ovs.vsctl(&["list-ports", &br]), expected.join("\n"));

    // Re-ensuring updates external_ids and keeps the ofport.
    let ids2: BTreeMap<String, String> = [("pod-name".to_owned(), "web-1".to_owned())].into();
    assert_eq!(c.ensure_port(&br, &p1, &ids2).await.unwrap(), of1);
    assert_eq!(
        ovs.vsctl(&["get", "Interface", &p1, "external_ids:pod-name"]),
        "web-1"
    );

    let ports = c.list_ports(&br).await.unwrap();
    assert_eq!(
        ports.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let info = ports.iter().find(|p| p.name == p1).unwrap();
    assert_eq!(
        (info.ofport, &info.external_ids, &info.error),
        (Some(of1), &ids2, &None)
    );

    // Deletes are idempotent, and garbage collection removes the rows.
    c.delete_port(&br, &p1).await.unwrap();
    c.delete_port(&br, &p1).await.unwrap();
    assert_eq!(ovs.vsctl(&["list-ports", &br]), p2);
    assert_eq!(
        ovs.vsctl(&[
            "--bare",
            "--columns=name",
            "find",
            "Interface",
            &format!("name={p1}")
        ]),
        ""
    );

    c.delete_bridge(&br).await.unwrap();
    c.delete_bridge(&br).await.unwrap();
    assert_eq!(ovs.vsctl(&["list-br"]), "");
    assert_eq!(ovs.vsctl(&["--bare", "--columns=name", "list", "Port"]), "");
    assert_eq!(
        ovs.vsctl(&["--bare", "--columns=name", "list", "Flow_Table"]),
        ""
    );
}

#[tokio::test]
async fn a_port_without_a_device_reports_the_interface_error() {
    let mut ovs = Ovs::start(true);
    let c = ovs.client().await;
    let br = ovs.bridge_name();
    c.ensure_bridge(&bridge(&br)).await.unwrap();
    let name = unique("n");
    match c
        .ensure_port(&br, &name, &BTreeMap::new())
        .await
        .unwrap_err()
    {
        Error::Interface {
            name: n,
            ofport,
            error,
        } => {
            assert_eq!(n, name);
            assert_eq!(ofport, Some(-1));
            assert!(error.unwrap().contains("No such device"));
        }
        other => panic!("{other:?}"),
    }
    let ports = c.list_ports(&br).await.unwrap();
    assert_eq!((ports.len(), ports[0].ofport), (1, None));
    c.delete_port(&br, &name).await.unwrap();
    assert!(c.list_ports(&br).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_server_echo_is_answered_so_an_idle_tcp_connection_survives() {
    let ovs = Ovs::start(false);
    run(Command::new("ovs-appctl").args([
        "-t",
        &ovs.path("ovsdb-server.ctl").display().to_string(),
        "vlog/set",
        "jsonrpc:file:dbg",
    ]));
    let target = ovs.tcp_with_probe(1000);
    let c = Client::connect(&target).await.unwrap();
    c.list_dbs().await.unwrap();
    // Control: a connection that never answers is dropped by the same probe.
    let silent = tokio::net::TcpStream::connect(target.trim_start_matches("tcp:"))
        .await
        .unwrap();
    // Probe after 1 s idle, disconnect 1 s later without a reply: 4 s covers two rounds.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(c.is_connected());
    let r = c
        .transact(
            "Open_vSwitch",
            Transaction::new()
                .select("Open_vSwitch", [], Some(&["next_cfg"]))
                .build(),
        )
        .await
        .unwrap();
    assert_eq!(r[0].rows().len(), 1);
    drop(silent);
    let log = std::fs::read_to_string(ovs.path("ovsdb-server.log")).unwrap();
    let probes_unanswered = log.matches("no response to inactivity probe").count();
    assert_eq!(
        probes_unanswered, 1,
        "only the silent control connection is dropped:\n{log}"
    );
    assert!(
        log.matches("send request, method=\"echo\"").count() >= 3,
        "the server probed both connections, ours repeatedly:\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("received reply") && l.contains("id=\"echo\"")),
        "and received our replies:\n{log}"
    );
}
