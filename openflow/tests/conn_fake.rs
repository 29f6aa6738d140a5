//! The connection against a scripted fake switch: ECHO_REQUESTs are answered while the client
//! waits for another reply, and multipart replies flagged MORE are reassembled.

use openflow::message::{frame_len, Hello, SwitchFeatures};
use openflow::multipart::{FlowStats, MultipartReply};
use openflow::{Connection, Match, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

async fn read_msg(s: &mut UnixStream) -> (u32, Message) {
    let mut hdr = [0u8; 8];
    s.read_exact(&mut hdr).await.unwrap();
    let mut buf = hdr.to_vec();
    buf.resize(frame_len(&hdr).unwrap(), 0);
    s.read_exact(&mut buf[8..]).await.unwrap();
    Message::decode(&buf).unwrap()
}

fn stats(table_id: u8) -> FlowStats {
    FlowStats {
        table_id,
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

#[tokio::test]
async fn echo_is_answered_while_waiting_and_multipart_is_reassembled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("br-fake.mgmt");
    let listener = UnixListener::bind(&path).unwrap();
    let switch = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        s.write_all(&Message::Hello(Hello::of13()).encode(100))
            .await
            .unwrap();
        assert!(matches!(read_msg(&mut s).await.1, Message::Hello(_)));
        let (xid, m) = read_msg(&mut s).await;
        assert_eq!(m, Message::FeaturesRequest);
        // Probe the client before answering; it must echo even though it waits for FEATURES.
        s.write_all(&Message::EchoRequest(vec![1, 2, 3]).encode(0xee))
            .await
            .unwrap();
        assert_eq!(
            read_msg(&mut s).await,
            (0xee, Message::EchoReply(vec![1, 2, 3]))
        );
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
        assert!(
            matches!(read_msg(&mut s).await.1, Message::SetConfig(c) if c.miss_send_len == 0xffff)
        );
        let (xid, m) = read_msg(&mut s).await;
        assert_eq!(m, Message::BarrierRequest);
        s.write_all(&Message::BarrierReply.encode(xid))
            .await
            .unwrap();
        let (xid, m) = read_msg(&mut s).await;
        assert!(matches!(m, Message::MultipartRequest { .. }));
        let part = |flags, t| {
            Message::MultipartReply {
                flags,
                body: MultipartReply::Flow(vec![stats(t)]),
            }
            .encode(xid)
        };
        s.write_all(&part(1, 1)).await.unwrap();
        s.write_all(&Message::EchoRequest(vec![]).encode(0xef))
            .await
            .unwrap();
        s.write_all(&part(0, 2)).await.unwrap();
        assert_eq!(read_msg(&mut s).await, (0xef, Message::EchoReply(vec![])));
    });
    let conn = Connection::connect_unix(&path).await.unwrap();
    assert_eq!(conn.datapath_id(), 42);
    let flows = conn.dump_flows(None).await.unwrap();
    assert_eq!(flows, vec![stats(1), stats(2)]);
    switch.await.unwrap();
}
