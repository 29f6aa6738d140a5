//! The live loop's side of CNI (`--cni-socket`): the pods' attachments, and the requests
//! waiting for a commit.
//!
//! With a CNI socket a local pod of the input is attached only once kakine-cni's ADD recorded
//! its attachment, and with the MAC its container interface really has (the spoof guard's).
//! ADD is answered after the first committed bundle holding the pod's flows; DEL after the
//! first one without them. A request not answered by its deadline is refused and its
//! attachment dropped, so a failed ADD leaves no port. Attachments live in the OVS ports'
//! `external_ids` (`container-id`, `container-netns`, `container-ifname`, `ip`, `mac`) and are
//! read back when the agent starts.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{AgentError, Live, Realization};
use crate::agent::cni_server::{self, CniCall};
use crate::cni::protocol::{Attachment, Reply, Request};
use crate::policy::resolved::{PodInfo, PodKey};

/// The CNI state of a live agent.
#[derive(Debug)]
pub(super) struct CniState {
    /// The requests from the socket (taken by the loop while it runs).
    pub(super) calls: Option<mpsc::Receiver<CniCall>>,
    /// The pods ADD attached, by pod.
    attachments: BTreeMap<PodKey, Attachment>,
    /// Requests answered after a commit.
    waiting: Vec<Waiter>,
}

#[derive(Debug)]
struct Waiter {
    pod: PodKey,
    /// `Some(container)`: ADD of that container, answered once the pod is attached;
    /// `None`: DEL, answered once it is not.
    add: Option<String>,
    deadline: Instant,
    waited: Duration,
    reply: oneshot::Sender<Reply>,
}

/// `external_ids` of a pod's port beyond [`crate::agent::port_external_ids`].
pub(super) type ExtraIds = Vec<(String, String)>;

/// The extra `external_ids` of an attached pod's port.
pub(super) fn attachment_ids(a: &Attachment) -> [(String, String); 3] {
    [
        ("container-id".into(), a.container_id.clone()),
        ("container-netns".into(), a.netns.clone()),
        ("container-ifname".into(), a.ifname.clone()),
    ]
}

/// An attachment read back from a port's `external_ids` (the agent's restart).
fn from_ids(port: &str, ids: &BTreeMap<String, String>) -> Option<Attachment> {
    let get = |k: &str| ids.get(k).cloned();
    Some(Attachment {
        namespace: get("pod-namespace")?,
        name: get("pod-name")?,
        container_id: get("container-id")?,
        netns: get("container-netns").unwrap_or_default(),
        ifname: get("container-ifname").unwrap_or_default(),
        host_ifname: port.to_string(),
        ip: get("ip")?.parse().ok()?,
        mac: get("mac")?,
    })
}

impl Live {
    /// Serves `path` and reads back the attachments of the bridge's ports whose veth still
    /// exists. Called by [`Live::start`] before the first realization.
    pub(super) async fn start_cni(&mut self, path: &Path) -> Result<(), AgentError> {
        let bridge = self.cfg.agent.bridge.clone();
        let ports = self
            .db()
            .await?
            .list_ports(&bridge)
            .await
            .map_err(|source| AgentError::Ovsdb {
                target: self.cfg.agent.ovsdb.clone(),
                source,
            })?;
        let mut attachments = BTreeMap::new();
        for port in ports {
            let Some(a) = from_ids(&port.name, &port.external_ids) else {
                continue;
            };
            if Path::new("/sys/class/net").join(&port.name).exists() {
                attachments.insert(a.pod(), a);
            } else {
                tracing::info!(
                    "pod {}: its veth {} is gone: not attached again",
                    a.pod(),
                    port.name
                );
            }
        }
        tracing::info!(
            "CNI: {} attachments read back from the bridge",
            attachments.len()
        );
        let calls = cni_server::serve(path).map_err(AgentError::Input)?;
        tracing::info!("CNI requests on {}", path.display());
        self.cni = Some(CniState {
            calls: Some(calls),
            attachments,
            waiting: Vec::new(),
        });
        Ok(())
    }

    /// How `pod` is attached: `None` when it is not to be (CNI mode and no ADD for it, or
    /// ADD gave another address); otherwise the MAC of its port and the extra `external_ids`.
    pub(super) fn cni_port(&self, pod: &PodInfo) -> Option<([u8; 6], ExtraIds)> {
        let model = pod
            .mac
            .unwrap_or_else(|| crate::policy::mac::default_mac(pod.ip));
        let Some(cni) = &self.cni else {
            return Some((model, Vec::new()));
        };
        let a = cni.attachments.get(&pod.key)?;
        let mac = crate::policy::model::parse_mac(&a.mac)?;
        (a.ip == pod.ip).then(|| (mac, attachment_ids(a).to_vec()))
    }

    /// The earliest deadline of a waiting request.
    pub(super) fn cni_deadline(&self) -> Option<Instant> {
        self.cni.as_ref()?.waiting.iter().map(|w| w.deadline).min()
    }

    /// Takes one request: answers it now, or records it to be answered after a commit.
    /// Returns whether a realization is needed.
    pub(super) fn on_cni_call(&mut self, call: CniCall) -> bool {
        let refuse = |reply: oneshot::Sender<Reply>, reason: String| {
            tracing::warn!("CNI: refused: {reason}");
            let _ = reply.send(Reply::Refused { reason });
        };
        match call.request {
            Request::Add {
                attachment,
                timeout_ms,
            } => match self.admit(&attachment) {
                Err(reason) => {
                    refuse(call.reply, reason);
                    false
                }
                Ok(()) => {
                    let pod = attachment.pod();
                    let waited = Duration::from_millis(timeout_ms);
                    tracing::info!(
                        "CNI ADD pod {pod}: container {} {} {} on {}",
                        attachment.container_id,
                        attachment.ip,
                        attachment.mac,
                        attachment.host_ifname
                    );
                    // Attached again, so that the port takes the new external_ids and MAC.
                    self.ports.remove(&pod);
                    let cni = self.cni.as_mut().expect("CNI calls come only with CNI on");
                    cni.waiting.push(Waiter {
                        pod: pod.clone(),
                        add: Some(attachment.container_id.clone()),
                        deadline: Instant::now() + waited,
                        waited,
                        reply: call.reply,
                    });
                    cni.attachments.insert(pod, attachment);
                    true
                }
            },
            Request::Del {
                namespace,
                name,
                container_id,
            } => {
                let pod = PodKey { namespace, name };
                let cni = self.cni.as_mut().expect("CNI calls come only with CNI on");
                if cni
                    .attachments
                    .get(&pod)
                    .is_none_or(|a| a.container_id != container_id)
                {
                    // Nothing of this container's (DEL is idempotent; an older container's
                    // DEL leaves the newer one attached).
                    let _ = call.reply.send(Reply::Ok { ofport: None });
                    return false;
                }
                tracing::info!("CNI DEL pod {pod}: container {container_id}");
                cni.attachments.remove(&pod);
                cni.waiting.push(Waiter {
                    pod,
                    add: None,
                    deadline: Instant::now() + Duration::from_secs(10),
                    waited: Duration::from_secs(10),
                    reply: call.reply,
                });
                true
            }
            Request::Check { attachment } => {
                let reply = match self.check(&attachment) {
                    Ok(ofport) => Reply::Ok {
                        ofport: Some(ofport),
                    },
                    Err(reason) => Reply::Refused { reason },
                };
                let _ = call.reply.send(reply);
                false
            }
        }
    }

    /// Whether an ADD can be taken: the agent's host interface name, a MAC that is neither the
    /// gateway's nor another live pod's, an IP no other live pod has, no other live container
    /// of the pod, and (when the pod is in the input already) this node and its IP.
    fn admit(&self, a: &Attachment) -> Result<(), String> {
        let pod = a.pod();
        let want = crate::agent::interfaces::host_ifname(
            &self.cfg.agent.ifname_prefix,
            &a.namespace,
            &a.name,
        );
        if a.host_ifname != want {
            return Err(format!(
                "pod {pod}: host interface {} is not the agent's name {want} (is the CNI configuration's ifnamePrefix the agent's --ifname-prefix {}?)",
                a.host_ifname, self.cfg.agent.ifname_prefix
            ));
        }
        if crate::policy::model::parse_mac(&a.mac).is_none() {
            return Err(format!(
                "pod {pod}: mac {:?} is not aa:bb:cc:dd:ee:ff",
                a.mac
            ));
        }
        let cni = self.cni.as_ref().expect("CNI calls come only with CNI on");
        let mac = a.mac.to_ascii_lowercase();
        if crate::policy::model::parse_mac(&mac) == Some(crate::datapath::network::GATEWAY_MAC.0) {
            return Err(format!("pod {pod}: mac {mac} is the gateway's"));
        }
        // Another live pod's MAC would take over its L2 forwarding (its traffic redirected
        // here); another live pod's IP, its routed traffic and spoof guard.
        let live = |o: &Attachment| Path::new("/sys/class/net").join(&o.host_ifname).exists();
        for (other, o) in &cni.attachments {
            if *other == pod || !live(o) {
                continue;
            }
            if o.mac.eq_ignore_ascii_case(&mac) {
                return Err(format!(
                    "pod {pod}: mac {mac} is pod {other}'s (container {})",
                    o.container_id
                ));
            }
            if o.ip == a.ip {
                return Err(format!(
                    "pod {pod}: IP {} is pod {other}'s (container {})",
                    a.ip, o.container_id
                ));
            }
        }
        if let Some(old) = cni.attachments.get(&pod) {
            if old.container_id != a.container_id
                && Path::new("/sys/class/net").join(&old.host_ifname).exists()
            {
                return Err(format!(
                    "pod {pod}: attached already for container {} (DEL it first)",
                    old.container_id
                ));
            }
        }
        if let Some(info) = self
            .current
            .as_ref()
            .and_then(|p| p.pods.iter().find(|p| p.key == pod))
        {
            self.agrees(info, a)?;
        }
        Ok(())
    }

    /// An ADD agrees with the input's pod: on this node, with the same IP.
    fn agrees(&self, info: &PodInfo, a: &Attachment) -> Result<(), String> {
        if let (Some(node), Some(pod_node)) = (&self.cfg.agent.node, &info.node) {
            if node != pod_node {
                return Err(format!(
                    "pod {} is on node {pod_node} in the agent's input, this is node {node}",
                    info.key
                ));
            }
        }
        if info.ip != a.ip {
            return Err(format!(
                "pod {} has IP {} in the agent's input, IPAM gave {}",
                info.key, info.ip, a.ip
            ));
        }
        Ok(())
    }

    /// CHECK: the attachment is the agent's, and the pod's flows are committed on its port.
    fn check(&self, a: &Attachment) -> Result<u32, String> {
        let pod = a.pod();
        let cni = self.cni.as_ref().expect("CNI calls come only with CNI on");
        match cni.attachments.get(&pod) {
            None => return Err(format!("pod {pod} is not attached")),
            Some(have) if have != a => {
                return Err(format!(
                    "pod {pod} is attached as {} (the result of ADD says {})",
                    serde_json::to_string(have).unwrap_or_default(),
                    serde_json::to_string(a).unwrap_or_default()
                ))
            }
            Some(_) => {}
        }
        let realized = self.publish.borrow();
        let port = realized
            .as_ref()
            .and_then(|r| r.pods.iter().find(|p| p.key == pod));
        match (port, self.ports.get(&pod)) {
            (Some(p), Some((name, _))) if *name == a.host_ifname => Ok(p.ofport),
            _ => Err(format!(
                "pod {pod}: port {} not attached, or its flows not committed",
                a.host_ifname
            )),
        }
    }

    /// After a commit: answers the requests it settles (ADD: the pod attached, or refused for
    /// good; DEL: the pod gone).
    pub(super) fn answer_cni(&mut self, r: &Realization) {
        let node = self.cfg.agent.node.clone();
        let Some(cni) = self.cni.as_mut() else {
            return;
        };
        let mut refused = Vec::new();
        for w in std::mem::take(&mut cni.waiting) {
            let attached = r.pods.iter().find(|p| p.key == w.pod);
            let outcome = match (&w.add, attached) {
                (Some(_), Some(p)) => Some(Reply::Ok {
                    ofport: Some(p.ofport),
                }),
                (Some(container), None) => r
                    .policies
                    .pods
                    .iter()
                    .find(|p| p.key == w.pod)
                    .map(|info| {
                        let a = cni.attachments.get(&w.pod);
                        let reason = match (a, &node, &info.node) {
                            (Some(a), _, _) if a.ip != info.ip => format!(
                                "pod {} has IP {} in the agent's input, IPAM gave {}",
                                w.pod, info.ip, a.ip
                            ),
                            (_, Some(n), Some(pn)) if n != pn => format!(
                                "pod {} is on node {pn} in the agent's input, this is node {n}",
                                w.pod
                            ),
                            _ => format!(
                                "pod {}: not attached after a commit: its interface is missing or its name is another pod's (see the agent's log)",
                                w.pod
                            ),
                        };
                        refused.push((w.pod.clone(), container.clone()));
                        Reply::Refused { reason }
                    }),
                (None, None) => Some(Reply::Ok { ofport: None }),
                (None, Some(_)) => None,
            };
            match outcome {
                Some(reply) => {
                    if let Reply::Refused { reason } = &reply {
                        tracing::warn!("CNI: refused: {reason}");
                    }
                    let _ = w.reply.send(reply);
                }
                None => cni.waiting.push(w),
            }
        }
        for (pod, container) in refused {
            if cni
                .attachments
                .get(&pod)
                .is_some_and(|a| a.container_id == container)
            {
                cni.attachments.remove(&pod);
            }
        }
    }

    /// Refuses the requests past their deadline and drops their attachments. Returns whether
    /// a realization is needed (to detach a port attached meanwhile).
    pub(super) fn expire_cni(&mut self) -> bool {
        let now = Instant::now();
        let current = self.current.clone();
        let Some(cni) = self.cni.as_mut() else {
            return false;
        };
        let (late, keep): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut cni.waiting)
            .into_iter()
            .partition(|w| w.deadline <= now);
        cni.waiting = keep;
        let mut detach = false;
        for w in late {
            let in_input = current
                .as_ref()
                .is_some_and(|p| p.pods.iter().any(|i| i.key == w.pod));
            let secs = w.waited.as_secs_f64();
            let reason = match (&w.add, in_input) {
                (Some(_), false) => {
                    format!(
                        "pod {} is not in the agent's input (waited {secs} s)",
                        w.pod
                    )
                }
                (Some(_), true) => format!(
                    "pod {}: its flows were not committed within {secs} s (see the agent's log)",
                    w.pod
                ),
                (None, _) => format!("pod {}: its port was not removed within {secs} s", w.pod),
            };
            tracing::warn!("CNI: refused: {reason}");
            if let Some(container) = &w.add {
                if cni
                    .attachments
                    .get(&w.pod)
                    .is_some_and(|a| a.container_id == *container)
                {
                    cni.attachments.remove(&w.pod);
                    detach = true;
                }
            }
            let _ = w.reply.send(Reply::Refused { reason });
        }
        detach
    }
}

/// The next request of the socket, if CNI is on.
pub(super) async fn next_call(calls: &mut Option<mpsc::Receiver<CniCall>>) -> Option<CniCall> {
    match calls {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attachment_survives_the_round_trip_through_external_ids() {
        let a = Attachment {
            namespace: "web".into(),
            name: "frontend".into(),
            container_id: "c1".into(),
            netns: "/var/run/netns/p".into(),
            ifname: "eth0".into(),
            host_ifname: "kk0011aabb".into(),
            ip: "10.10.1.10".parse().unwrap(),
            mac: "c2:ab:f8:4b:50:c6".into(),
        };
        let info = PodInfo {
            key: a.pod(),
            ip: a.ip,
            mac: None,
            node: None,
            node_ip: None,
            ipv6: None,
            host_network: false,
            named_ports: vec![],
            ports: vec![],
        };
        let mut ids = crate::agent::port_external_ids(&info, [0xc2, 0xab, 0xf8, 0x4b, 0x50, 0xc6]);
        ids.extend(attachment_ids(&a));
        assert_eq!(from_ids("kk0011aabb", &ids), Some(a));
        ids.remove("container-id");
        assert_eq!(from_ids("kk0011aabb", &ids), None);
    }
}
