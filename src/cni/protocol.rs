//! The messages between kakine-cni and the agent's CNI server (docs/cni.md "The agent
//! socket"): one JSON request and one JSON reply per connection on a unix socket, the
//! request ended by the client shutting down its write side. Both sides use these types; the
//! plugin's blocking client is [`call`], the agent's server is `crate::agent::cni_server`.

use std::io::{Read as _, Write as _};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::policy::resolved::PodKey;

/// The most bytes a request or reply may take.
pub const MAX_MESSAGE_BYTES: u64 = 64 * 1024;

/// A pod's attachment: what ADD made and the agent records (and keeps in the OVS port's
/// `external_ids`, so that it survives the agent's restart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// `K8S_POD_NAMESPACE`.
    pub namespace: String,
    /// `K8S_POD_NAME`.
    pub name: String,
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_NETNS`.
    pub netns: String,
    /// `CNI_IFNAME`: the container side of the veth.
    pub ifname: String,
    /// The host side of the veth: the OVS port.
    pub host_ifname: String,
    /// The address IPAM gave.
    pub ip: Ipv4Addr,
    /// The MAC the container's interface has, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
}

impl Attachment {
    /// The pod.
    pub fn pod(&self) -> PodKey {
        PodKey {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

/// A request to the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    /// ADD: attach the pod and answer once its flows and policy are committed, or refuse
    /// within `timeoutMs`.
    Add {
        /// The attachment.
        #[serde(flatten)]
        attachment: Attachment,
        /// How long the agent may take.
        #[serde(rename = "timeoutMs")]
        timeout_ms: u64,
    },
    /// DEL: detach the pod of this container; answered once its port and flows are gone
    /// (at once if the agent holds no such attachment).
    Del {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The container; a DEL of an older container of the same pod detaches nothing.
        #[serde(rename = "containerId")]
        container_id: String,
    },
    /// CHECK: is this attachment the agent's, attached and realized?
    Check {
        /// What ADD made.
        #[serde(flatten)]
        attachment: Attachment,
    },
}

/// The agent's reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Reply {
    /// Done: for ADD and CHECK the pod's OpenFlow port.
    Ok {
        /// The pod's ofport (ADD, CHECK).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ofport: Option<u32>,
    },
    /// Refused, with the reason (names the pod and what differs).
    Refused {
        /// Why.
        reason: String,
    },
}

/// Why a call to the agent failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The socket is missing or nobody listens: the agent is down.
    #[error("agent socket {path}: {source} (is kakine-agent running with --cni-socket {path}?)")]
    Unavailable {
        /// The socket.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The agent took longer than the timeout, or the exchange broke off.
    #[error("agent socket {path}: {what}")]
    Exchange {
        /// The socket.
        path: String,
        /// What went wrong.
        what: String,
    },
}

/// Sends `request` to the agent at `socket` and reads its reply, giving up after `timeout`.
///
/// Errors: [`CallError::Unavailable`] when nothing listens; [`CallError::Exchange`] for a
/// timeout, a broken connection or a reply that does not decode.
pub fn call(socket: &Path, request: &Request, timeout: Duration) -> Result<Reply, CallError> {
    let path = socket.display().to_string();
    let exchange = |what: String| CallError::Exchange {
        path: path.clone(),
        what,
    };
    let mut s = std::os::unix::net::UnixStream::connect(socket).map_err(|source| {
        CallError::Unavailable {
            path: path.clone(),
            source,
        }
    })?;
    s.set_read_timeout(Some(timeout))
        .and_then(|()| s.set_write_timeout(Some(timeout)))
        .map_err(|e| exchange(e.to_string()))?;
    let body = serde_json::to_vec(request).map_err(|e| exchange(e.to_string()))?;
    s.write_all(&body)
        .and_then(|()| s.shutdown(std::net::Shutdown::Write))
        .map_err(|e| exchange(format!("sending the request: {e}")))?;
    let mut reply = Vec::new();
    s.take(MAX_MESSAGE_BYTES)
        .read_to_end(&mut reply)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                exchange(format!("no reply within {} s", timeout.as_secs_f64()))
            }
            _ => exchange(format!("reading the reply: {e}")),
        })?;
    serde_json::from_slice(&reply).map_err(|e| {
        exchange(format!(
            "reply {:?}: {e}",
            String::from_utf8_lossy(&reply[..reply.len().min(200)])
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attachment() -> Attachment {
        Attachment {
            namespace: "web".into(),
            name: "frontend".into(),
            container_id: "c1".into(),
            netns: "/var/run/netns/p".into(),
            ifname: "eth0".into(),
            host_ifname: "kk12345678".into(),
            ip: Ipv4Addr::new(10, 10, 1, 10),
            mac: "0a:58:0a:0a:01:0a".into(),
        }
    }

    #[test]
    fn requests_and_replies_have_the_documented_json() {
        let add = Request::Add {
            attachment: attachment(),
            timeout_ms: 2000,
        };
        let text = serde_json::to_string(&add).unwrap();
        assert_eq!(
            text,
            r#"{"op":"add","namespace":"web","name":"frontend","containerId":"c1","netns":"/var/run/netns/p","ifname":"eth0","hostIfname":"kk12345678","ip":"10.10.1.10","mac":"0a:58:0a:0a:01:0a","timeoutMs":2000}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), add);
        let del = r#"{"op":"del","namespace":"web","name":"frontend","containerId":"c1"}"#;
        assert!(matches!(
            serde_json::from_str::<Request>(del).unwrap(),
            Request::Del { .. }
        ));
        assert_eq!(
            serde_json::to_string(&Reply::Ok { ofport: Some(3) }).unwrap(),
            r#"{"status":"ok","ofport":3}"#
        );
        assert_eq!(
            serde_json::to_string(&Reply::Refused {
                reason: "no".into()
            })
            .unwrap(),
            r#"{"status":"refused","reason":"no"}"#
        );
    }

    #[test]
    fn a_missing_socket_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let e = call(
            &dir.path().join("cni.sock"),
            &Request::Check {
                attachment: attachment(),
            },
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(e, CallError::Unavailable { .. }), "{e}");
        assert!(e.to_string().contains("--cni-socket"), "{e}");
    }
}
