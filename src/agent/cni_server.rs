//! The agent's CNI server (`kakine-agent --cni-socket PATH`): a unix socket on which
//! kakine-cni sends one JSON request per connection ([`crate::cni::protocol`]). Each request
//! is handed to the live loop as a [`CniCall`]; the loop answers it (ADD once the pod's flows
//! are committed, see `live::cni`), and the server writes the reply back. The socket is made
//! 0600: only root (the runtime) may attach pods.

use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

use crate::cni::protocol::{Reply, Request, MAX_MESSAGE_BYTES};

/// One request for the live loop, and where its reply goes.
#[derive(Debug)]
pub struct CniCall {
    /// The request.
    pub request: Request,
    /// Answered by the loop (dropping it answers "the agent is stopping").
    pub reply: oneshot::Sender<Reply>,
}

/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The loop's answer to anything but ADD and DEL comes at once; this bounds the wait anyway.
const LOOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests queued for the loop at most.
const QUEUE: usize = 1024;

/// Binds `path` (a stale socket there is replaced, any other file refused; its directory is
/// created 0700) and serves it until the returned receiver is dropped.
///
/// Errors: the directory cannot be made, `path` is not a socket, or the bind fails.
pub fn serve(path: &Path) -> Result<mpsc::Receiver<CniCall>, String> {
    let fail = |e: std::io::Error| format!("--cni-socket {}: {e}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::agent::state::create_dir_mode(dir, 0o700).map_err(|e| e.to_string())?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path).map_err(fail)?,
        Ok(_) => {
            return Err(format!(
                "--cni-socket {}: exists and is not a socket",
                path.display()
            ))
        }
        Err(_) => {}
    }
    let listener = UnixListener::bind(path).map_err(fail)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(accept(listener, path.to_path_buf(), tx));
    Ok(rx)
}

async fn accept(listener: UnixListener, path: PathBuf, tx: mpsc::Sender<CniCall>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream, tx.clone()));
            }
            Err(e) => {
                tracing::warn!("CNI socket {}: accept: {e}", path.display());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        if tx.is_closed() {
            return;
        }
    }
}

async fn connection(mut stream: UnixStream, tx: mpsc::Sender<CniCall>) {
    let reply = match read_request(&mut stream).await {
        Err(reason) => Reply::Refused { reason },
        Ok(request) => {
            let (reply, rx) = oneshot::channel();
            let wait = match &request {
                Request::Add { timeout_ms, .. } => {
                    Duration::from_millis(*timeout_ms) + LOOP_TIMEOUT
                }
                _ => LOOP_TIMEOUT,
            };
            if tx.send(CniCall { request, reply }).await.is_err() {
                Reply::Refused {
                    reason: "the agent is stopping".into(),
                }
            } else {
                match tokio::time::timeout(wait, rx).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(_)) => Reply::Refused {
                        reason: "the agent is stopping".into(),
                    },
                    Err(_) => Reply::Refused {
                        reason: format!(
                            "no answer from the agent's loop within {} s",
                            wait.as_secs()
                        ),
                    },
                }
            }
        }
    };
    let body = serde_json::to_vec(&reply).unwrap_or_default();
    if let Err(e) = stream.write_all(&body).await {
        tracing::warn!("CNI reply not delivered: {e}");
    }
    let _ = stream.shutdown().await;
}

async fn read_request(stream: &mut UnixStream) -> Result<Request, String> {
    let mut buf = Vec::new();
    let mut limited = (&mut *stream).take(MAX_MESSAGE_BYTES + 1);
    match tokio::time::timeout(READ_TIMEOUT, limited.read_to_end(&mut buf)).await {
        Err(_) => {
            return Err(format!(
                "request: not complete within {} s",
                READ_TIMEOUT.as_secs()
            ))
        }
        Ok(Err(e)) => return Err(format!("request: {e}")),
        Ok(Ok(_)) => {}
    }
    if buf.len() as u64 > MAX_MESSAGE_BYTES {
        return Err(format!("request: larger than {MAX_MESSAGE_BYTES} bytes"));
    }
    serde_json::from_slice(&buf).map_err(|e| format!("request: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_reaches_the_loop_and_its_answer_the_client() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/cni.sock");
        let mut rx = serve(&path).unwrap();
        tokio::spawn(async move {
            while let Some(call) = rx.recv().await {
                let ofport = match call.request {
                    Request::Del { .. } => None,
                    _ => Some(7),
                };
                let _ = call.reply.send(Reply::Ok { ofport });
            }
        });
        let p = path.clone();
        let reply = tokio::task::spawn_blocking(move || {
            crate::cni::protocol::call(
                &p,
                &Request::Del {
                    namespace: "a".into(),
                    name: "b".into(),
                    container_id: "c".into(),
                },
                Duration::from_secs(5),
            )
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(reply, Reply::Ok { ofport: None });
        // A request that is not JSON is refused by the server itself.
        let mut s = UnixStream::connect(&path).await.unwrap();
        s.write_all(b"{oops").await.unwrap();
        s.shutdown().await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(
            out.starts_with(r#"{"status":"refused","reason":"request: "#),
            "{out}"
        );
        // A second agent's bind replaces the stale socket; a regular file is refused.
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "").unwrap();
        assert!(serve(&plain).unwrap_err().contains("not a socket"));
    }
}
