//! A client of a daemon's unixctl socket: the JSON-RPC that `ovs-appctl` speaks, on one
//! connection kept open, so that thousands of `ofproto/trace` calls cost no process each.
//!
//! `Unixctl::connect(dir.join("ovs-vswitchd.ctl"))?.call("dpif/show", &[])` is equivalent to
//! `ovs-appctl -t DIR/ovs-vswitchd.ctl dpif/show`.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// Errors of a unixctl call.
#[derive(Debug, thiserror::Error)]
pub enum UnixctlError {
    /// The socket could not be reached or the connection broke.
    #[error("unixctl {path}: {source}")]
    Io {
        /// The socket.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The daemon answered with an error (what `ovs-appctl` prints on stderr).
    #[error("`{command}`: {message}")]
    Command {
        /// The command and its arguments.
        command: String,
        /// The daemon's message.
        message: String,
    },
    /// The answer was not JSON-RPC.
    #[error("unixctl {path}: malformed reply {reply}")]
    Malformed {
        /// The socket.
        path: PathBuf,
        /// What came back.
        reply: String,
    },
}

/// One open unixctl connection.
pub struct Unixctl {
    path: PathBuf,
    stream: UnixStream,
    replies: serde_json::StreamDeserializer<'static, serde_json::de::IoRead<UnixStream>, Value>,
    next_id: u64,
}

impl Unixctl {
    /// Connects to the unixctl socket `path` (e.g. `DIR/ovs-vswitchd.ctl`).
    pub fn connect(path: &Path) -> Result<Self, UnixctlError> {
        let io = |source| UnixctlError::Io {
            path: path.to_path_buf(),
            source,
        };
        let stream = UnixStream::connect(path).map_err(io)?;
        let reader = stream.try_clone().map_err(io)?;
        Ok(Unixctl {
            path: path.to_path_buf(),
            stream,
            replies: serde_json::Deserializer::from_reader(reader).into_iter(),
            next_id: 0,
        })
    }

    /// Runs `command args...` and returns its output.
    pub fn call(&mut self, command: &str, args: &[&str]) -> Result<String, UnixctlError> {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"method": command, "params": args, "id": id});
        self.stream
            .write_all(request.to_string().as_bytes())
            .map_err(|source| UnixctlError::Io {
                path: self.path.clone(),
                source,
            })?;
        let malformed = |reply: String| UnixctlError::Malformed {
            path: self.path.clone(),
            reply,
        };
        let reply = match self.replies.next() {
            Some(Ok(v)) => v,
            Some(Err(e)) => return Err(malformed(e.to_string())),
            None => return Err(malformed("end of stream".into())),
        };
        if reply["id"] != json!(id) {
            return Err(malformed(reply.to_string()));
        }
        match (&reply["result"], &reply["error"]) {
            (Value::String(out), Value::Null) => Ok(out.clone()),
            (_, Value::String(message)) => Err(UnixctlError::Command {
                command: std::iter::once(command)
                    .chain(args.iter().copied())
                    .collect::<Vec<_>>()
                    .join(" "),
                message: message.trim().to_string(),
            }),
            _ => Err(malformed(reply.to_string())),
        }
    }
}
