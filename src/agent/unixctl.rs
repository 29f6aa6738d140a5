//! The agent's unixctl client: one `ovs-appctl` command to ovs-vswitchd, over its control
//! socket, without a process or a shell. Used for read-only statistics
//! (`dpctl/ct-stats-show`: the conntrack entry count).
//!
//! The socket is `<rundir>/ovs-vswitchd.ctl` when the daemon was started with
//! `--unixctl=<that>`, else `<rundir>/ovs-vswitchd.<pid>.ctl` with the pid of
//! `<rundir>/ovs-vswitchd.pid` (what `ovs-appctl -t ovs-vswitchd` finds; lib/daemon.c).
//! The protocol is JSON-RPC 1.0: `{"method": cmd, "params": [args], "id": n}`, answered by
//! `{"result": text, "error": null, "id": n}` (lib/unixctl.c).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest answer read (a `ct-stats-show` is a few hundred bytes).
const MAX_REPLY: usize = 1 << 20;

/// A unixctl call that failed.
#[derive(Debug, thiserror::Error)]
pub enum UnixctlError {
    /// The socket could not be found or reached, or the connection broke.
    #[error("unixctl {path}: {source}")]
    Io {
        /// The socket (or the pid file that should name it).
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The daemon answered with an error, or not with JSON-RPC.
    #[error("unixctl {path} `{command}`: {message}")]
    Reply {
        /// The socket.
        path: PathBuf,
        /// The command.
        command: String,
        /// The daemon's message or what came back.
        message: String,
    },
}

/// The control socket of ovs-vswitchd in `rundir` (see the module docs).
///
/// Errors: [`UnixctlError::Io`] when neither socket nor pid file is there.
pub fn vswitchd_socket(rundir: &Path) -> Result<PathBuf, UnixctlError> {
    let fixed = rundir.join("ovs-vswitchd.ctl");
    if fixed.exists() {
        return Ok(fixed);
    }
    let pidfile = rundir.join("ovs-vswitchd.pid");
    let pid = std::fs::read_to_string(&pidfile).map_err(|source| UnixctlError::Io {
        path: pidfile.clone(),
        source,
    })?;
    Ok(rundir.join(format!("ovs-vswitchd.{}.ctl", pid.trim())))
}

/// Runs `command args...` on the unixctl socket `path` and returns its text (equivalent to
/// `ovs-appctl -t PATH command args...`). The caller bounds the time.
///
/// Errors: [`UnixctlError`].
pub async fn call(path: &Path, command: &str, args: &[&str]) -> Result<String, UnixctlError> {
    let io = |source| UnixctlError::Io {
        path: path.to_path_buf(),
        source,
    };
    let reply_err = |message: String| UnixctlError::Reply {
        path: path.to_path_buf(),
        command: command.to_string(),
        message,
    };
    let mut s = tokio::net::UnixStream::connect(path).await.map_err(io)?;
    let request = json!({"method": command, "params": args, "id": 0});
    s.write_all(request.to_string().as_bytes())
        .await
        .map_err(io)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let reply: Value = loop {
        let n = s.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Err(reply_err("connection closed before a reply".into()));
        }
        buf.extend_from_slice(&chunk[..n]);
        match serde_json::from_slice(&buf) {
            Ok(v) => break v,
            Err(e) if e.is_eof() && buf.len() < MAX_REPLY => continue,
            Err(e) => return Err(reply_err(e.to_string())),
        }
    };
    match (&reply["result"], &reply["error"]) {
        (Value::String(out), Value::Null) => Ok(out.clone()),
        (_, Value::String(message)) => Err(reply_err(message.trim().to_string())),
        _ => Err(reply_err(reply.to_string())),
    }
}

/// The `Total:` count of a `dpctl/ct-stats-show` answer:
///
/// ```text
/// Connections Stats:
///     Total: 12
///     TCP: 10
/// ```
pub fn conntrack_total(ct_stats: &str) -> Option<u64> {
    ct_stats
        .lines()
        .find_map(|l| l.trim().strip_prefix("Total:")?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_is_read_from_ct_stats_show() {
        let text = "Connections Stats:\n    Total: 12\n    TCP: 10\n    UDP: 2\n";
        assert_eq!(conntrack_total(text), Some(12));
        assert_eq!(conntrack_total("Connections Stats:\n"), None);
    }

    #[tokio::test]
    async fn a_call_sends_json_rpc_and_returns_the_result_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ovs-vswitchd.ctl");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap();
            let req: Value = serde_json::from_slice(&buf[..n]).unwrap();
            assert_eq!(req["method"], "dpctl/ct-stats-show");
            // The answer in two writes, as a slow daemon might send it.
            let reply = r#"{"id":0,"error":null,"result":"Connections Stats:\n    Total: 3\n"}"#;
            s.write_all(&reply.as_bytes()[..20]).await.unwrap();
            s.flush().await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            s.write_all(&reply.as_bytes()[20..]).await.unwrap();
        });
        assert_eq!(vswitchd_socket(dir.path()).unwrap(), path);
        let out = call(&path, "dpctl/ct-stats-show", &[]).await.unwrap();
        assert_eq!(conntrack_total(&out), Some(3));
        server.await.unwrap();
    }
}
