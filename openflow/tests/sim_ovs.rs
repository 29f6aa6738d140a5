//! Differential check: the fake switch against a real `ovs-vswitchd` (netdev datapath) in a
//! private sandbox, on kakine's own pipeline. Every packet's verdict from
//! [`FakeSwitch`] must agree with the final `Datapath actions` of
//! `ovs-appctl ofproto/trace ksim-br0 FLOW --ct-next STATE`. Fails loudly if OVS is missing.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use openflow::sim::{FakeSwitch, OutPort, Packet, Verdict};
use openflow::{FlowMod, MacAddr, MatchField};

/// kakine's example pipeline: `cargo run --bin kakinectl -- compile examples` (tables by
/// number, ports 1..=6 are the example pods in model order).
const KAKINE_EXAMPLE_FLOWS: &str = "\
cookie=0x1010000000000, table=6, priority=0 actions=goto_table:7
cookie=0x1010000000000, table=7, priority=0 actions=goto_table:8
cookie=0x1010000000000, table=8, priority=0 actions=goto_table:9
cookie=0x1010000000000, table=9, priority=0 actions=goto_table:10
cookie=0x1010000000000, table=10, priority=0 actions=goto_table:11
cookie=0x1010000000000, table=12, priority=0 actions=goto_table:13
cookie=0x1010000000000, table=13, priority=0 actions=goto_table:14
cookie=0x1010000000000, table=14, priority=0 actions=goto_table:15
cookie=0x1010000000000, table=15, priority=0 actions=goto_table:16
cookie=0x1010000000000, table=16, priority=0 actions=goto_table:17
cookie=0x1010000000000, table=17, priority=0 actions=goto_table:18
cookie=0x1010000000000, table=2, priority=200,arp actions=NORMAL
cookie=0x1010000000000, table=4, priority=200,ip actions=ct(table=5,zone=65520)
cookie=0x1010000000000, table=5, priority=200,ct_state=+inv+trk,ip actions=drop
cookie=0x1010000000000, table=5, priority=190,ct_state=-new+est+trk,ip actions=goto_table:9
cookie=0x1010000000000, table=5, priority=190,ct_state=-new+rel+trk,ip actions=goto_table:9
cookie=0x1010000000000, table=5, priority=189,ct_state=+new+trk,ip actions=goto_table:6
cookie=0x1010000000000, table=12, priority=200,ct_state=-new+est+trk,ip actions=goto_table:16
cookie=0x1010000000000, table=12, priority=200,ct_state=-new+rel+trk,ip actions=goto_table:16
cookie=0x1010000000000, table=9, priority=190,reg0=0x400/0x400 actions=drop
cookie=0x1010000000000, table=16, priority=190,reg0=0x400/0x400 actions=drop
cookie=0x1010000000000, table=17, priority=200,ct_state=+new+trk,ip actions=ct(commit,zone=65520,exec(move:NXM_NX_REG6[]->NXM_NX_CT_LABEL[0..31],move:NXM_NX_REG5[]->NXM_NX_CT_LABEL[32..63])),goto_table:18
cookie=0x1010000000000, table=18, priority=190 actions=output:NXM_NX_REG1[]
cookie=0x1020000000001, priority=200,arp,in_port=1 actions=goto_table:1
cookie=0x1020000000001, priority=190,in_port=1 actions=load:0x3->NXM_NX_REG0[0..3],goto_table:3
cookie=0x1020000000001, table=1, priority=200,arp,in_port=1,arp_spa=10.10.1.10,arp_sha=0a:58:0a:0a:01:0a actions=goto_table:2
cookie=0x1020000000001, table=3, priority=200,ip,in_port=1,dl_src=0a:58:0a:0a:01:0a,nw_src=10.10.1.10 actions=goto_table:4
cookie=0x1020000000001, table=11, priority=200,dl_dst=0a:58:0a:0a:01:0a actions=set_field:0x1->reg1,goto_table:12
cookie=0x1020000000002, priority=200,arp,in_port=2 actions=goto_table:1
cookie=0x1020000000002, priority=190,in_port=2 actions=load:0x3->NXM_NX_REG0[0..3],goto_table:3
cookie=0x1020000000002, table=1, priority=200,arp,in_port=2,arp_spa=10.10.1.11,arp_sha=0a:58:0a:0a:01:0b actions=goto_table:2
cookie=0x1020000000002, table=3, priority=200,ip,in_port=2,dl_src=0a:58:0a:0a:01:0b,nw_src=10.10.1.11 actions=goto_table:4
cookie=0x1020000000002, table=11, priority=200,dl_dst=0a:58:0a:0a:01:0b actions=set_field:0x2->reg1,goto_table:12
cookie=0x1020000000003, priority=200,arp,in_port=3 actions=goto_table:1
cookie=0x1020000000003, priority=190,in_port=3 actions=load:0x3->NXM_NX_REG0[0..3],goto_table:3
cookie=0x1020000000003, table=1, priority=200,arp,in_port=3,arp_spa=10.10.2.10,arp_sha=0a:58:0a:0a:02:0a actions=goto_table:2
cookie=0x1020000000003, table=3, priority=200,ip,in_port=3,dl_src=0a:58:0a:0a:02:0a,nw_src=10.10.2.10 actions=goto_table:4
cookie=0x1020000000003, table=11, priority=200,dl_dst=0a:58:0a:0a:02:0a actions=set_field:0x3->reg1,goto_table:12
cookie=0x1020000000004, priority=200,arp,in_port=4 actions=goto_table:1
cookie=0x1020000000004, priority=190,in_port=4 actions=load:0x3->NXM_NX_REG0[0..3],goto_table:3
cookie=0x1020000000004, table=1, priority=200,arp,in_port=4,arp_spa=10.10.2.11,arp_sha=0a:58:0a:0a:02:0b actions=goto_table:2
cookie=0x1020000000004, table=3, priority=200,ip,in_port=4,dl_src=0a:58:0a:0a:02:0b,nw_src=10.10.2.11 actions=goto_table:4
cookie=0x1020000000004, table=11, priority=200,dl_dst=0a:58:0a:0a:02:0b actions=set_field:0x4->reg1,goto_table:12
cookie=0x1020000000005, priority=200,arp,in_port=5 actions=goto_table:1
cookie=0x1020000000005, priority=190,in_port=5 actions=load:0x3->NXM_NX_REG0[0..3],goto_table:3
cookie=0x1020000000005, table=1, priority=200,arp,in_port=5,arp_spa=10.10.3.10,arp_sha=0a:58:0a:0a:03:0a actions=goto_table:2
cookie=0x1020000000005, table=3, priority=200,ip,in_port=5,dl_src=0a:58:0a:0a:03:0a,nw_src=10.10.3.10 actions=goto_table:4
cookie=0x1020000000005, table=11, priority=200,dl_dst=0a:58:0a:0a:03:0a actions=set_field:0x5->reg1,goto_table:12
cookie=0x1020000000006, priority=200,arp,in_port=6 actions=goto_table:1
cookie=0x1020000000006, priority=190,in_port=6 actions=load:0x3->NXM_NX_REG0[0..3],goto_table:3
cookie=0x1020000000006, table=1, priority=200,arp,in_port=6,arp_spa=10.10.3.11,arp_sha=0a:58:0a:0a:03:0b actions=goto_table:2
cookie=0x1020000000006, table=3, priority=200,ip,in_port=6,dl_src=0a:58:0a:0a:03:0b,nw_src=10.10.3.11 actions=goto_table:4
cookie=0x1020000000006, table=11, priority=200,dl_dst=0a:58:0a:0a:03:0b actions=set_field:0x6->reg1,goto_table:12
cookie=0x1030000000004, table=13, priority=59997,ip,nw_src=10.10.1.10 actions=conjunction(4,2/2)
cookie=0x1030000000004, table=13, priority=59997,ip,nw_src=10.10.1.11 actions=conjunction(4,2/2)
cookie=0x1030000000004, table=13, priority=59997,ip,nw_src=10.10.2.10 actions=conjunction(4,2/2)
cookie=0x1030000000004, table=13, priority=59997,ip,nw_src=10.10.2.11 actions=conjunction(4,2/2)
cookie=0x1030000000004, table=13, priority=59997,ip,reg1=0x5 actions=conjunction(4,1/2)
cookie=0x1030000000004, table=13, priority=59997,ip,reg1=0x6 actions=conjunction(4,1/2)
cookie=0x1030000000003, table=13, priority=59998,tcp,tp_dst=8080 actions=conjunction(3,3/3)
cookie=0x1030000000003, table=13, priority=59998,ip,nw_src=10.10.1.10 actions=conjunction(3,2/3)
cookie=0x1030000000003, table=13, priority=59998,ip,reg1=0x3 actions=conjunction(3,1/3)
cookie=0x1030000000003, table=13, priority=59998,ip,reg1=0x4 actions=conjunction(3,1/3)
cookie=0x1030000000002, table=13, priority=59999,ip,nw_src=10.10.2.10 actions=conjunction(2,2/2)
cookie=0x1030000000002, table=13, priority=59999,ip,nw_src=10.10.2.11 actions=conjunction(2,2/2)
cookie=0x1030000000002, table=13, priority=59999,ip,reg1=0x5 actions=conjunction(2,1/2)
cookie=0x1030000000002, table=13, priority=59999,ip,reg1=0x6 actions=conjunction(2,1/2)
cookie=0x1030000000001, table=13, priority=60000,ip,nw_src=10.10.1.10 actions=conjunction(1,2/2)
cookie=0x1030000000001, table=13, priority=60000,ip,nw_src=10.10.1.11 actions=conjunction(1,2/2)
cookie=0x1030000000001, table=13, priority=60000,ip,reg1=0x5 actions=conjunction(1,1/2)
cookie=0x1030000000001, table=13, priority=60000,ip,reg1=0x6 actions=conjunction(1,1/2)
cookie=0x1030000000005, table=14, priority=60000,tcp,tp_dst=5432 actions=conjunction(5,3/3)
cookie=0x1030000000005, table=14, priority=60000,ip,nw_src=10.10.2.10 actions=conjunction(5,2/3)
cookie=0x1030000000005, table=14, priority=60000,ip,nw_src=10.10.3.10 actions=conjunction(5,2/3)
cookie=0x1030000000005, table=14, priority=60000,ip,nw_src=10.10.3.11 actions=conjunction(5,2/3)
cookie=0x1030000000005, table=14, priority=60000,ip,reg1=0x5 actions=conjunction(5,1/3)
cookie=0x1030000000005, table=14, priority=60000,ip,reg1=0x6 actions=conjunction(5,1/3)
cookie=0x1030000000006, table=15, priority=180,ip,nw_src=10.10.1.10 actions=conjunction(6,2/2)
cookie=0x1030000000006, table=15, priority=180,ip,nw_src=10.10.1.11 actions=conjunction(6,2/2)
cookie=0x1030000000006, table=15, priority=180,ip,nw_src=10.10.3.10 actions=conjunction(6,2/2)
cookie=0x1030000000006, table=15, priority=180,ip,nw_src=10.10.3.11 actions=conjunction(6,2/2)
cookie=0x1030000000006, table=15, priority=180,ip,reg1=0x3 actions=conjunction(6,1/2)
cookie=0x1030000000006, table=15, priority=180,ip,reg1=0x4 actions=conjunction(6,1/2)
cookie=0x1030000000001, table=13, priority=60000,conj_id=1,ip actions=load:0x1->NXM_NX_REG0[10],set_field:0x1->reg3,goto_table:16
cookie=0x1030000000001, table=16, priority=200,reg0=0x400/0x400,reg3=0x1 actions=drop
cookie=0x1030000000002, table=13, priority=59999,conj_id=2,ip actions=goto_table:14
cookie=0x1030000000003, table=13, priority=59998,conj_id=3,ip actions=set_field:0x3->reg6,goto_table:16
cookie=0x1030000000004, table=13, priority=59997,conj_id=4,ip actions=load:0x1->NXM_NX_REG0[10],set_field:0x4->reg3,goto_table:16
cookie=0x1030000000004, table=16, priority=200,reg0=0x400/0x400,reg3=0x4 actions=drop
cookie=0x1030000000005, table=14, priority=60000,conj_id=5,ip actions=set_field:0x5->reg6,goto_table:16
cookie=0x1030000000006, table=15, priority=180,conj_id=6,ip actions=load:0x1->NXM_NX_REG0[10],set_field:0x6->reg3,goto_table:16
cookie=0x1030000000006, table=16, priority=200,reg0=0x400/0x400,reg3=0x6 actions=drop
cookie=0x1040000000002, table=15, priority=200,ip,reg1=0x6 actions=drop
cookie=0x1040000000002, table=15, priority=200,ip,reg1=0x5 actions=drop
";

/// Bridge and port names unique to this process and sandbox: on the userspace datapath the bridge
/// and its internal ports are tap devices in the root namespace, shared by parallel tests.
fn unique_name() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("ks{}{n}", std::process::id() % 10_000)
}

/// A private OVS in a temporary directory; Drop deletes the bridge and stops both daemons by
/// the pids in their pid files.
struct Sandbox {
    dir: tempfile::TempDir,
    br: String,
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

impl Sandbox {
    fn run(&self, cmd: &str, args: &[&str]) -> String {
        run_in(self.dir.path(), cmd, args)
    }

    fn p(&self, f: &str) -> String {
        self.dir.path().join(f).to_string_lossy().into_owned()
    }

    fn db(&self) -> String {
        format!("--db=unix:{}", self.p("db.sock"))
    }

    fn start() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("ksim")
            .tempdir()
            .expect("tempdir");
        let sb = Sandbox {
            dir,
            br: unique_name(),
            _lock: lock_netdev(),
        };
        let schema = "/usr/share/openvswitch/vswitch.ovsschema";
        sb.run("ovsdb-tool", &["create", &sb.p("conf.db"), schema]);
        sb.run(
            "ovsdb-server",
            &[
                &format!("--remote=punix:{}", sb.p("db.sock")),
                &format!("--pidfile={}", sb.p("ovsdb-server.pid")),
                &format!("--unixctl={}", sb.p("ovsdb-server.ctl")),
                &format!("--log-file={}", sb.p("ovsdb-server.log")),
                "--detach",
                &sb.p("conf.db"),
            ],
        );
        sb.run("ovs-vsctl", &[&sb.db(), "--no-wait", "init"]);
        sb.run(
            "ovs-vswitchd",
            &[
                &format!("unix:{}", sb.p("db.sock")),
                &format!("--pidfile={}", sb.p("ovs-vswitchd.pid")),
                &format!("--unixctl={}", sb.p("ovs-vswitchd.ctl")),
                &format!("--log-file={}", sb.p("ovs-vswitchd.log")),
                "--detach",
            ],
        );
        let mut args = vec![
            sb.db(),
            "--timeout=20".into(),
            "add-br".into(),
            sb.br.clone(),
            "--".into(),
            "set".into(),
            "Bridge".into(),
            sb.br.clone(),
            "datapath_type=netdev".into(),
            "protocols=OpenFlow13".into(),
            "fail_mode=secure".into(),
        ];
        for n in 1..=6 {
            let port = format!("{}p{n}", sb.br);
            args.extend(
                [
                    "--",
                    "add-port",
                    &sb.br,
                    &port,
                    "--",
                    "set",
                    "Interface",
                    &port,
                    "type=internal",
                    &format!("ofport_request={n}"),
                ]
                .map(String::from),
            );
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sb.run("ovs-vsctl", &args);
        let mgmt = sb.dir.path().join(format!("{}.mgmt", sb.br));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !mgmt.exists() {
            assert!(
                Instant::now() < deadline,
                "{} did not appear",
                mgmt.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        sb
    }

    fn mgmt(&self) -> String {
        format!("unix:{}", self.p(&format!("{}.mgmt", self.br)))
    }

    fn appctl(&self, args: &[&str]) -> String {
        let ctl = self.p("ovs-vswitchd.ctl");
        let mut a = vec!["-t", &ctl];
        a.extend_from_slice(args);
        self.run("ovs-appctl", &a)
    }

    /// odp port number -> OpenFlow port number, from `ovs-appctl dpif/show`
    /// (`\t\tksim1 1/2: (tap)`).
    fn odp_to_ofport(&self) -> BTreeMap<u32, u32> {
        self.appctl(&["dpif/show"])
            .lines()
            .filter_map(|l| {
                let (_, ports) = l.trim().split_once(' ')?;
                let (of, odp) = ports.split(':').next()?.split_once('/')?;
                Some((odp.parse().ok()?, of.parse().ok()?))
            })
            .collect()
    }

    /// The OpenFlow ports of the final `Datapath actions:` of `ofproto/trace`.
    fn trace(&self, flow: &str, ct_next: &str, odp: &BTreeMap<u32, u32>) -> BTreeSet<u32> {
        let out = self.appctl(&["ofproto/trace", &self.br, flow, "--ct-next", ct_next]);
        let last = out
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("Datapath actions: "))
            .unwrap_or_else(|| panic!("no datapath actions in:\n{out}"));
        let mut ports = BTreeSet::new();
        let mut depth = 0;
        let mut tok = String::new();
        for c in last.chars().chain([',']) {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    if let Ok(n) = tok.trim().parse::<u32>() {
                        ports.insert(*odp.get(&n).unwrap_or_else(|| panic!("odp port {n}")));
                    }
                    tok.clear();
                    continue;
                }
                _ => {}
            }
            tok.push(c);
        }
        ports
    }
}

fn run_in(dir: &Path, cmd: &str, args: &[&str]) -> String {
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
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stop_pidfile(pidfile: &Path) {
    let Some(pid) = std::fs::read_to_string(pidfile)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
    else {
        return;
    };
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Internal ports of a netdev bridge are tap devices that outlive ovs-vswitchd.
        let _ = Command::new("ovs-vsctl")
            .args([&self.db(), "--timeout=5", "--if-exists", "del-br", &self.br])
            .env("OVS_RUNDIR", self.dir.path())
            .output();
        stop_pidfile(&self.dir.path().join("ovs-vswitchd.pid"));
        stop_pidfile(&self.dir.path().join("ovsdb-server.pid"));
    }
}

/// The example pods: ofport -> (MAC, IP), read from the SpoofGuard flows (table 3).
fn pods(flows: &[FlowMod]) -> BTreeMap<u32, (MacAddr, Ipv4Addr)> {
    flows
        .iter()
        .filter(|f| f.table_id == 3)
        .filter_map(|f| {
            let (mut port, mut mac, mut ip) = (None, None, None);
            for m in &f.r#match.to_vec() {
                match m {
                    MatchField::InPort(p) => port = Some(*p),
                    MatchField::EthSrc(a, None) => mac = Some(*a),
                    MatchField::Ipv4Src(a, None) => ip = Some(*a),
                    _ => {}
                }
            }
            Some((port?, (mac?, ip?)))
        })
        .collect()
}

/// The OpenFlow ports a verdict names; NORMAL stands for "some port" (OVS floods ARP).
fn comparable(v: &Verdict, ovs: &BTreeSet<u32>) -> bool {
    if v.outputs.contains(&OutPort::Normal) {
        return !ovs.is_empty();
    }
    let ours: BTreeSet<u32> = v
        .outputs
        .iter()
        .filter_map(|o| match o {
            OutPort::Port(p) => Some(*p),
            _ => None,
        })
        .collect();
    ours == *ovs
}

#[test]
fn the_fake_switch_agrees_with_ovs_on_kakines_example_pipeline() {
    let flows: Vec<FlowMod> = KAKINE_EXAMPLE_FLOWS
        .lines()
        .map(|l| l.parse().unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let pods = pods(&flows);
    assert_eq!(pods.len(), 6);

    let sb = Sandbox::start();
    let file = sb.dir.path().join("flows.txt");
    let text: String = flows.iter().map(|f| format!("{f}\n")).collect();
    std::fs::write(&file, text).unwrap();
    sb.run(
        "ovs-ofctl",
        &[
            "-O",
            "OpenFlow13",
            "--bundle",
            "add-flows",
            &sb.mgmt(),
            &file.to_string_lossy(),
        ],
    );
    let odp = sb.odp_to_ofport();
    assert_eq!(
        odp.values().filter(|p| (1..=6).contains(*p)).count(),
        6,
        "{odp:?}"
    );

    let mut packets = Vec::new();
    for (&a, &(amac, aip)) in &pods {
        for (&b, &(bmac, bip)) in &pods {
            if a == b {
                continue;
            }
            for dport in [80, 8080, 5432, 22] {
                packets.push(Packet::tcp(a, amac, bmac, aip, bip, 40000, dport));
            }
            packets.push(Packet::udp(a, amac, bmac, aip, bip, 40000, 53));
            packets.push(Packet::icmp(a, amac, bmac, aip, bip, 8, 0));
            packets.push(Packet::arp(a, amac, MacAddr([0xff; 6]), 1, aip, bip));
            // Spoofed: b's address from a's port.
            packets.push(Packet::tcp(a, amac, bmac, bip, aip, 40000, 80));
        }
    }

    let mut disagree = Vec::new();
    let (mut allowed, mut replies) = (0, 0);
    for p in &packets {
        let mut sw = FakeSwitch::new();
        sw.apply_all(&flows).unwrap();
        let ours = sw.trace(p).unwrap();
        let theirs = sb.trace(&p.to_string(), "trk,new", &odp);
        if !comparable(&ours.verdict, &theirs) {
            disagree.push(format!(
                "{p}: sim {} vs ovs {theirs:?}\n{ours}",
                ours.verdict
            ));
        }
        if ours.verdict.dropped || p.eth_type != openflow::sim::ETH_TYPE_IP {
            continue;
        }
        allowed += 1;
        // The reply of a committed connection: +est+rpl in both.
        let back = p.reply(pods_port(&pods, p.ipv4_dst));
        let ours = sw.trace(&back).unwrap();
        if sw.conntrack().is_empty() {
            continue;
        }
        replies += 1;
        let theirs = sb.trace(&back.to_string(), "trk,est,rpl", &odp);
        if !comparable(&ours.verdict, &theirs) {
            disagree.push(format!(
                "reply {back}: sim {} vs ovs {theirs:?}\n{ours}",
                ours.verdict
            ));
        }
    }
    assert!(
        disagree.is_empty(),
        "{} of {} packets disagree:\n{}",
        disagree.len(),
        packets.len(),
        disagree.join("\n")
    );
    assert!(allowed > 0 && allowed < packets.len(), "{allowed} allowed");
    assert!(replies > 0);
}

fn pods_port(pods: &BTreeMap<u32, (MacAddr, Ipv4Addr)>, ip: Ipv4Addr) -> u32 {
    pods.iter()
        .find(|(_, (_, a))| *a == ip)
        .map(|(p, _)| *p)
        .expect("a pod's address")
}

/// Conjunctions sharing a flow, soft matches beside a normal flow, masks, the action set,
/// output_reg: hand-written flows on ports 1..=6.
const EDGE_FLOWS: &str = "\
priority=100,ip,nw_src=10.0.0.1 actions=conjunction(1,1/2),conjunction(2,1/2)
priority=100,ip,nw_src=10.0.0.3 actions=conjunction(2,1/2)
priority=100,tcp,tp_dst=80 actions=conjunction(1,2/2)
priority=100,tcp,tp_dst=443 actions=conjunction(2,2/2)
priority=100,conj_id=1,ip actions=output:2
priority=100,conj_id=2,ip actions=load:0x3->NXM_NX_REG1[],goto_table:1
priority=100,udp actions=output:4
priority=50,ip,nw_dst=10.0.0.0/255.255.255.252 actions=write_actions(output:5),goto_table:1
priority=10,ip actions=goto_table:1
table=1, priority=10,reg1=0x3 actions=output:NXM_NX_REG1[]
table=1, priority=5,tcp,tp_src=0x9c00/0xff00 actions=output:6
table=1, priority=1,tcp actions=clear_actions
";

#[test]
fn the_fake_switch_agrees_with_ovs_on_conjunction_and_mask_edge_cases() {
    let flows: Vec<FlowMod> = EDGE_FLOWS
        .lines()
        .map(|l| l.parse().unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let mut sw = FakeSwitch::new();
    sw.apply_all(&flows).unwrap();
    let sb = Sandbox::start();
    let file = sb.dir.path().join("flows.txt");
    std::fs::write(&file, EDGE_FLOWS).unwrap();
    sb.run(
        "ovs-ofctl",
        &[
            "-O",
            "OpenFlow13",
            "--bundle",
            "add-flows",
            &sb.mgmt(),
            &file.to_string_lossy(),
        ],
    );
    let odp = sb.odp_to_ofport();
    let mac = |n: u8| MacAddr([0x0a, 0x58, 0, 0, 0, n]);
    let mut disagree = Vec::new();
    let mut n = 0;
    let mut seen = BTreeSet::new();
    for a in 1..=3u8 {
        for b in 2..=6u8 {
            if a == b {
                continue;
            }
            let (aip, bip) = (Ipv4Addr::new(10, 0, 0, a), Ipv4Addr::new(10, 0, 0, b));
            let port = u32::from(a);
            let mut ps: Vec<Packet> = [80, 443, 22]
                .into_iter()
                .flat_map(|d| {
                    [40000, 1000].map(|s| Packet::tcp(port, mac(a), mac(b), aip, bip, s, d))
                })
                .collect();
            ps.push(Packet::udp(port, mac(a), mac(b), aip, bip, 40000, 53));
            ps.push(Packet::icmp(port, mac(a), mac(b), aip, bip, 8, 0));
            for p in ps {
                n += 1;
                let ours = sw.trace(&p).unwrap();
                seen.insert(ours.verdict.to_string());
                let theirs = sb.trace(&p.to_string(), "trk,new", &odp);
                if !comparable(&ours.verdict, &theirs) {
                    disagree.push(format!(
                        "{p}: sim {} vs ovs {theirs:?}\n{ours}",
                        ours.verdict
                    ));
                }
            }
        }
    }
    assert!(seen.len() >= 5, "too few distinct verdicts: {seen:?}");
    assert!(
        disagree.is_empty(),
        "{} of {n} packets disagree:\n{}",
        disagree.len(),
        disagree.join("\n")
    );
}
