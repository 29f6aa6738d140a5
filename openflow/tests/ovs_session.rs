//! The tokio driver of the session against a real `ovs-vswitchd` (netdev datapath) in a private
//! sandbox as in `ovs_conn.rs`: a connection dropped in the middle of a bundle applies nothing
//! (what OVS does, over a raw socket, and what our `Connection` reports and does after it), and
//! a restarted ovs-vswitchd is reconnected to by itself. Fails loudly if OVS is not installed.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openflow::session::{Config, DisconnectReason};
use openflow::{
    AsyncEvent, BundleControl, BundleCtrlType, Connection, Error, FlowMod, Hello, Message,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::OwnedReadHalf;

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

/// The xid of the proxy's own barrier, never one the session allocates this early.
const PROXY_BARRIER: u32 = 0x7e57_ba77;

/// One whole message from `r`, `None` at EOF or on an error.
async fn read_frame(r: &mut OwnedReadHalf) -> Option<Vec<u8>> {
    let mut m = vec![0u8; 8];
    r.read_exact(&mut m).await.ok()?;
    let len = u16::from_be_bytes([m[2], m[3]]) as usize;
    m.resize(len.max(8), 0);
    r.read_exact(&mut m[8..]).await.ok()?;
    Some(m)
}

fn is_bundle_add(m: &[u8]) -> bool {
    // OFPT_EXPERIMENTER, ONF, ONFT_BUNDLE_ADD_MESSAGE (2301).
    m[1] == 4 && m.get(8..16) == Some(&[0x4f, 0x4e, 0x46, 0, 0, 0, 0x08, 0xfd][..])
}

/// The transport the test breaks: a unix socket at `listener` between a [`Connection`] and the
/// bridge at `switch`, forwarding whole messages both ways. On its first connection, once the
/// `cut_after`-th BUNDLE_ADD has gone through, it sends the switch a BARRIER of its own (when
/// its reply comes, every forwarded ADD is in the switch's open bundle), swallows the reply,
/// sets `cut` and closes both sides without forwarding anything more: the session's own
/// BARRIER and COMMIT never reach the switch. Later connections are forwarded untouched.
async fn cutting_proxy(
    listener: tokio::net::UnixListener,
    switch: PathBuf,
    cut_after: usize,
    cut: Arc<AtomicBool>,
) {
    let mut first = true;
    while let Ok((client, _)) = listener.accept().await {
        let bridge = tokio::net::UnixStream::connect(&switch)
            .await
            .expect("connect to the bridge");
        let limit = first.then_some(cut_after);
        first = false;
        tokio::spawn(forward(client, bridge, limit, cut.clone()));
    }
}

async fn forward(
    client: tokio::net::UnixStream,
    bridge: tokio::net::UnixStream,
    cut_after: Option<usize>,
    cut: Arc<AtomicBool>,
) {
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_bridge, mut to_bridge) = bridge.into_split();
    let (barrier_done, barrier_reply) = tokio::sync::oneshot::channel();
    let back = tokio::spawn(async move {
        let mut barrier_done = Some(barrier_done);
        while let Some(m) = read_frame(&mut from_bridge).await {
            if m[1] == 21 && m[4..8] == PROXY_BARRIER.to_be_bytes() {
                if let Some(done) = barrier_done.take() {
                    let _ = done.send(());
                }
            } else if to_client.write_all(&m).await.is_err() {
                return;
            }
        }
    });
    let mut adds = 0;
    while let Some(m) = read_frame(&mut from_client).await {
        if to_bridge.write_all(&m).await.is_err() {
            break;
        }
        adds += usize::from(is_bundle_add(&m));
        if Some(adds) == cut_after {
            to_bridge
                .write_all(&Message::BarrierRequest.encode(PROXY_BARRIER))
                .await
                .expect("write the proxy's barrier");
            barrier_reply
                .await
                .expect("the switch answers the proxy's barrier");
            cut.store(true, Ordering::SeqCst);
            break;
        }
    }
    // Dropping the halves (the other two with the aborted task) closes both sockets.
    back.abort();
}

#[test]
fn our_connection_cut_mid_bundle_fails_the_bundle_applies_nothing_and_reconnects() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let sb = Sandbox::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let proxy = sb.dir.path().join("proxy.sock");
    rt.block_on(async {
        let listener = tokio::net::UnixListener::bind(&proxy).expect("bind the proxy");
        let cut = Arc::new(AtomicBool::new(false));
        tokio::spawn(cutting_proxy(listener, sb.mgmt(), 20, cut.clone()));
        let config = Config {
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
            ..Config::default()
        };
        let conn = Connection::connect_unix_with(&proxy, config)
            .await
            .expect("connect through the proxy");
        let mut events = conn.events();

        let result = tokio::time::timeout(Duration::from_secs(30), conn.bundle(&flows(0, 50)))
            .await
            .expect("the bundle call did not return within 30 s");
        assert!(
            cut.load(Ordering::SeqCst),
            "the proxy never cut: {result:?}"
        );
        match result {
            Err(
                ref e @ Error::BundleLost {
                    maybe_applied: false,
                    reason: DisconnectReason::Transport(_),
                },
            ) => assert!(e.to_string().starts_with("bundle not applied"), "{e}"),
            other => panic!("a bundle cut off before its commit returned {other:?}"),
        }
        assert_eq!(
            sb.ofctl_dump(),
            BTreeSet::new(),
            "a bundle cut off before its commit was applied"
        );

        // The connection comes back by itself (through the proxy, now forwarding everything)
        // and a new bundle commits.
        let ev = loop {
            let ev = tokio::time::timeout(Duration::from_secs(30), events.next())
                .await
                .expect("no Reconnected event within 30 s");
            if !matches!(ev, Some(AsyncEvent::Disconnected(_))) {
                break ev;
            }
        };
        assert!(matches!(ev, Some(AsyncEvent::Reconnected { .. })), "{ev:?}");
        conn.bundle(&flows(1, 5))
            .await
            .expect("a bundle after the reconnect");
    });
    // Only the second bundle's flows: nothing of the first was applied late or sent again.
    let dump = sb.ofctl_dump();
    assert_eq!(dump.len(), 5, "{dump:?}");
    assert!(dump.iter().all(|l| l.starts_with("table=1,")), "{dump:?}");
}
