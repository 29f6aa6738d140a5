//! The connection against a hung or hostile fake switch on a unix socket (kakine issue 17): a
//! dump that is never answered fails with `Error::Timeout` at its deadline, a multipart reply
//! that never ends fails with `Error::MultipartTooLarge` at its cap, and both drop the
//! connection; the handshake sends the configured `miss_send_len`.

use std::time::{Duration, Instant};

use openflow::message::{frame_len, Hello, SwitchFeatures};
use openflow::multipart::{FlowStats, MultipartReply};
use openflow::session::{Config, DisconnectReason};
use openflow::{AsyncEvent, Connection, Error, Match, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

async fn read_msg(s: &mut UnixStream) -> Option<(u32, Message)> {
    let mut hdr = [0u8; 8];
    s.read_exact(&mut hdr).await.ok()?;
    let mut buf = hdr.to_vec();
    buf.resize(frame_len(&hdr).unwrap(), 0);
    s.read_exact(&mut buf[8..]).await.ok()?;
    Some(Message::decode(&buf).unwrap())
}

/// Accept one client and do the switch's side of the handshake; returns the socket and the
/// SET_CONFIG's `miss_send_len`.
async fn accept(listener: &UnixListener) -> (UnixStream, u16) {
    let (mut s, _) = listener.accept().await.unwrap();
    s.write_all(&Message::Hello(Hello::of13()).encode(100))
        .await
        .unwrap();
    assert!(matches!(
        read_msg(&mut s).await.unwrap().1,
        Message::Hello(_)
    ));
    let (xid, m) = read_msg(&mut s).await.unwrap();
    assert_eq!(m, Message::FeaturesRequest);
    let f = SwitchFeatures {
        datapath_id: 42,
        n_buffers: 0,
        n_tables: 254,
        auxiliary_id: 0,
        capabilities: 0x4f,
        reserved: 0,
    };
    s.write_all(&Message::FeaturesReply(f).encode(xid))
        .await
        .unwrap();
    let miss_send_len = match read_msg(&mut s).await.unwrap().1 {
        Message::SetConfig(c) => c.miss_send_len,
        other => panic!("{other:?}"),
    };
    let (xid, m) = read_msg(&mut s).await.unwrap();
    assert_eq!(m, Message::BarrierRequest);
    s.write_all(&Message::BarrierReply.encode(xid))
        .await
        .unwrap();
    (s, miss_send_len)
}

fn stats() -> FlowStats {
    FlowStats {
        table_id: 0,
        duration_sec: 1,
        duration_nsec: 2,
        priority: 5,
        idle_timeout: 0,
        hard_timeout: 0,
        flags: 0,
        cookie: 7,
        packet_count: 3,
        byte_count: 4,
        r#match: Match::default(),
        instructions: vec![],
    }
}

async fn disconnect_reason(events: &mut openflow::AsyncEvents) -> DisconnectReason {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), events.next()).await {
            Ok(Some(AsyncEvent::Disconnected(reason))) => return reason,
            Ok(Some(_)) => {}
            other => panic!("no disconnect: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_dump_the_switch_never_answers_fails_at_its_deadline_and_drops_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("br-hung.mgmt");
    let listener = UnixListener::bind(&path).unwrap();
    let switch = tokio::spawn(async move {
        let (mut s, _) = accept(&listener).await;
        let (_, m) = read_msg(&mut s).await.unwrap();
        assert!(matches!(m, Message::MultipartRequest { .. }));
        // Never answer; the client must hang up on us.
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            while read_msg(&mut s).await.is_some() {}
        })
        .await;
        assert!(closed.is_ok(), "the client kept the connection");
    });
    let config = Config {
        request_timeout: Duration::from_millis(300),
        backoff_min: Duration::from_secs(60),
        ..Config::default()
    };
    let conn = Connection::connect_unix_with(&path, config).await.unwrap();
    let mut events = conn.events();
    let started = Instant::now();
    let err = conn.dump_flows(None).await.unwrap_err();
    let waited = started.elapsed();
    match &err {
        Error::Timeout { what, after } => {
            assert_eq!(*after, Duration::from_millis(300));
            assert!(what.starts_with("multipart request"), "{what}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert!(matches!(
        disconnect_reason(&mut events).await,
        DisconnectReason::RequestTimeout(_)
    ));
    switch.await.unwrap();
}

#[tokio::test]
async fn an_endless_multipart_reply_fails_at_its_byte_cap_and_drops_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("br-endless.mgmt");
    let listener = UnixListener::bind(&path).unwrap();
    let switch = tokio::spawn(async move {
        let (mut s, _) = accept(&listener).await;
        let (xid, _) = read_msg(&mut s).await.unwrap();
        let part = Message::MultipartReply {
            flags: 1, // OFPMPF_REPLY_MORE, forever
            body: MultipartReply::Flow(vec![stats(); 100]),
        }
        .encode(xid);
        // At most 256 MiB, so the test ends even if the client never hangs up.
        let mut sent = 0usize;
        while sent < 256 << 20 {
            if s.write_all(&part).await.is_err() {
                return sent;
            }
            sent += part.len();
        }
        panic!("the client took {sent} bytes of an endless reply");
    });
    let config = Config {
        max_multipart_bytes: 1 << 20,
        backoff_min: Duration::from_secs(60),
        ..Config::default()
    };
    let conn = Connection::connect_unix_with(&path, config).await.unwrap();
    let mut events = conn.events();
    match conn.dump_flows(None).await.unwrap_err() {
        Error::MultipartTooLarge {
            parts,
            bytes,
            max_bytes,
            ..
        } => {
            assert_eq!(max_bytes, 1 << 20);
            assert!(bytes > 1 << 20, "{bytes}");
            // Stopped at the first part past the cap.
            assert!(bytes < (1 << 20) + 64 * 1024, "{bytes}");
            assert!(parts > 1, "{parts}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        disconnect_reason(&mut events).await,
        DisconnectReason::ReplyTooLarge(_)
    ));
    let sent = switch.await.unwrap();
    assert!(sent < 64 << 20, "the switch wrote {sent} bytes");
}

#[tokio::test]
async fn a_multipart_reply_of_more_parts_than_the_cap_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("br-parts.mgmt");
    let listener = UnixListener::bind(&path).unwrap();
    let switch = tokio::spawn(async move {
        let (mut s, _) = accept(&listener).await;
        let (xid, _) = read_msg(&mut s).await.unwrap();
        for _ in 0..100 {
            let part = Message::MultipartReply {
                flags: 1,
                body: MultipartReply::Flow(vec![]),
            };
            if s.write_all(&part.encode(xid)).await.is_err() {
                return;
            }
        }
    });
    let config = Config {
        max_multipart_parts: 10,
        backoff_min: Duration::from_secs(60),
        ..Config::default()
    };
    let conn = Connection::connect_unix_with(&path, config).await.unwrap();
    assert!(matches!(
        conn.dump_flows(None).await,
        Err(Error::MultipartTooLarge {
            parts: 11,
            max_parts: 10,
            ..
        })
    ));
    switch.await.unwrap();
}

#[tokio::test]
async fn the_handshake_sends_the_configured_miss_send_len() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("br-miss.mgmt");
    let listener = UnixListener::bind(&path).unwrap();
    for want in [0xffff, 0] {
        let config = Config {
            miss_send_len: want,
            ..Config::default()
        };
        let (conn, (_s, got)) = tokio::join!(
            Connection::connect_unix_with(&path, config),
            accept(&listener)
        );
        conn.unwrap();
        assert_eq!(got, want);
    }
}
