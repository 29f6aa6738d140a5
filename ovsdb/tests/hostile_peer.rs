//! The client against a fake server on a unix socket that streams one endless JSON value
//! (kakine issue 17): the call fails once the value passes the framer's limit, with the typed
//! `ovsdb::jsonrpc::FrameError::TooLarge` in its source, the connection ends, and the fake server is cut off
//! long before it has written its bounded 64 MiB.

use std::time::Duration;

use ovsdb::{Client, Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

#[tokio::test]
async fn an_endless_json_value_fails_the_call_at_the_size_limit_and_ends_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut req = [0u8; 4096];
        let _ = s.read(&mut req).await.unwrap();
        s.write_all(br#"{"id":0,"error":null,"result":"#)
            .await
            .unwrap();
        let chunk = [b'['; 64 * 1024];
        let mut sent = 0usize;
        while sent < 64 << 20 {
            if s.write_all(&chunk).await.is_err() {
                return sent;
            }
            sent += chunk.len();
        }
        sent
    });
    let client = Client::connect_with_max_message_len(&format!("unix:{}", path.display()), 1 << 20)
        .await
        .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(20), client.list_dbs())
        .await
        .expect("the call must fail, not hang")
        .unwrap_err();
    assert!(matches!(err, Error::Rpc { .. }), "{err:?}");
    // The typed framing error travels inside jsonrpsee's transport error (boxed there, so
    // read from its Debug form: the variant and its fields).
    let debug = format!("{err:?}");
    assert!(
        debug.contains("TooLarge { len: ") && debug.contains("max: 1048576 }"),
        "{debug}"
    );
    let sent = server.await.unwrap();
    assert!(
        sent < 32 << 20,
        "the server wrote {sent} bytes before the client hung up"
    );
    assert!(!client.is_connected());
}
