//! The tokio driver of the session against a real `ovs-vswitchd` (netdev datapath) in a private
//! sandbox as in `ovs_conn.rs`: a connection dropped in the middle of a bundle applies nothing, and
//! a restarted ovs-vswitchd is reconnected to by itself. Fails loudly if OVS is not installed.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use openflow::session::Config;
use openflow::{AsyncEvent, BundleControl, BundleCtrlType, Connection, FlowMod, Hello, Message};

mod common;
use common::Sandbox;

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
