//! The pods' ports on the bridge: attached through OVSDB by interface name, their ofports read
//! back, and re-attached when a veth appears or disappears.

use std::collections::{BTreeMap, BTreeSet};

use openflow::flow::MacAddr;

use super::{AgentConfig, AgentError};
use crate::agent::host::HostPlan;
use crate::agent::interfaces::{assign_host_ifnames, IfnameCollision};
use crate::datapath::compiler::LocalPod;
use crate::datapath::network::{self, NodeNetwork};
use crate::datapath::pipeline;
use crate::policy::resolved::{PodInfo, PodKey, ResolvedPolicies};

use super::*;

impl Live {
    /// Whether a local pod of the current input gained or lost its interface since the last
    /// realization (its veth created or deleted after the pod entered the input).
    pub(super) fn interfaces_changed(&self) -> bool {
        let Some(policies) = &self.current else {
            return false;
        };
        let (ifnames, _) = self.local_ifnames(policies);
        ifnames.iter().any(|(key, ifname)| {
            let exists = std::path::Path::new("/sys/class/net").join(ifname).exists();
            exists != self.ports.contains_key(key)
        })
    }

    /// Whether `pod` is to be on this node: its node is the agent's `--node`, or either is
    /// not given.
    fn is_local(&self, pod: &PodInfo) -> bool {
        match (&self.cfg.agent.node, &pod.node) {
            (Some(node), Some(pod_node)) => node == pod_node,
            _ => true,
        }
    }

    /// Whether `pod` is one this node owes an interface: not host-network, and the model puts
    /// it on this node (or the agent has no `--node`). A pod the model puts on no node is
    /// attached where its interface is, and missed nowhere.
    fn placed_here(&self, pod: &PodInfo) -> bool {
        !pod.host_network
            && match (&self.cfg.agent.node, &pod.node) {
                (Some(node), Some(pod_node)) => node == pod_node,
                (None, _) => true,
                (Some(_), None) => false,
            }
    }

    /// The host interface names of the local pods of `policies`, each name given to one pod
    /// only: pods already attached keep theirs, then input order decides
    /// ([`crate::agent::interfaces::assign_host_ifnames`]); the refused pods come second.
    fn local_ifnames(
        &self,
        policies: &ResolvedPolicies,
    ) -> (BTreeMap<PodKey, String>, Vec<IfnameCollision>) {
        let a = &self.cfg.agent;
        let local = policies
            .pods
            .iter()
            .filter(|pod| self.is_local(pod))
            .filter(|pod| self.cni_port(pod).is_some());
        let (attached, new): (Vec<&PodInfo>, Vec<&PodInfo>) =
            local.partition(|p| self.ports.contains_key(&p.key));
        assign_host_ifnames(
            &a.ifname_prefix,
            attached.iter().chain(&new).map(|p| &p.key),
        )
    }

    /// On a multi-node model: the gateway and tunnel ports made (once per connection), the
    /// node's network built from the model, and the host configured when its plan changed.
    /// `None` on a single-node input or without `--node`.
    ///
    /// Errors: the model lacks what the node needs ([`crate::datapath::network::NetworkError`],
    /// as [`AgentError::Input`]); OVSDB; the host configuration ([`AgentError::Host`]).
    pub(super) async fn sync_network(
        &mut self,
        policies: &ResolvedPolicies,
    ) -> Result<Option<NodeNetwork>, AgentError> {
        let Some(node) = self.cfg.agent.node.clone() else {
            return Ok(None);
        };
        if !network::is_multi_node(&policies.nodes) {
            return Ok(None);
        }
        // The model is checked before anything is made.
        NodeNetwork::for_node(&policies.nodes, &node, 0, 0)
            .map_err(|e| AgentError::Input(e.to_string()))?;
        let (gw, tun) = match self.network_ports {
            Some(p) => p,
            None => {
                let p = self.ensure_network_ports().await.inspect_err(|e| {
                    if let AgentError::Ovsdb { .. } = e {
                        self.db = None;
                    }
                })?;
                self.network_ports = Some(p);
                p
            }
        };
        let net = NodeNetwork::for_node(&policies.nodes, &node, gw, tun)
            .map_err(|e| AgentError::Input(e.to_string()))?;
        if self.cfg.configure_host {
            let plan = HostPlan::for_network(&net);
            if self.host_plan.as_ref() != Some(&plan) {
                crate::agent::host::apply(&plan).map_err(AgentError::Host)?;
                tracing::info!(
                    "host configured for node {node}: gateway {}, {} remote node(s)",
                    net.gateway.ip,
                    net.remotes.len()
                );
                self.host_plan = Some(plan);
            }
        }
        Ok(Some(net))
    }

    async fn ensure_network_ports(&mut self) -> Result<(u32, u32), AgentError> {
        let a = self.cfg.agent.clone();
        let ovsdb_err = |source| AgentError::Ovsdb {
            target: a.ovsdb.clone(),
            source,
        };
        let ids = BTreeMap::from([("kakine.io/role".to_string(), "gateway".to_string())]);
        let gateway = ovsdb::InterfaceSpec {
            iface_type: "internal".into(),
            mac: Some(crate::policy::mac::mac_string(network::GATEWAY_MAC.0)),
            mtu_request: Some(i64::from(network::GENEVE_POD_MTU)),
            ..Default::default()
        };
        let gw = self
            .db()
            .await?
            .ensure_port_with(&a.bridge, network::GATEWAY_PORT, &gateway, &ids)
            .await
            .map_err(ovsdb_err)?;
        let ids = BTreeMap::from([("kakine.io/role".to_string(), "tunnel".to_string())]);
        let tunnel = ovsdb::InterfaceSpec {
            iface_type: "geneve".into(),
            options: BTreeMap::from([("remote_ip".to_string(), "flow".to_string())]),
            ..Default::default()
        };
        let tun = self
            .db()
            .await?
            .ensure_port_with(&a.bridge, network::TUNNEL_PORT, &tunnel, &ids)
            .await
            .map_err(ovsdb_err)?;
        tracing::info!(
            "{} port {gw}, {} port {tun}",
            network::GATEWAY_PORT,
            network::TUNNEL_PORT
        );
        Ok((gw, tun))
    }

    pub(super) async fn db(&mut self) -> Result<&ovsdb::Client, AgentError> {
        if self.db.as_ref().is_none_or(|db| !db.is_connected()) {
            self.metrics.set_connected("ovsdb", false);
            let r = connect_db(&self.cfg.agent).await;
            self.metrics.reconnect_attempt("ovsdb", r.is_ok());
            let db = r?;
            self.metrics.set_connected("ovsdb", true);
            self.stats.ovsdb_reconnects += 1;
            self.metrics.reconnect("ovsdb");
            tracing::info!("OVSDB {} connected", self.cfg.agent.ovsdb);
            self.db = Some(db);
        }
        Ok(self.db.as_ref().expect("set above"))
    }

    /// Attaches the local pods of `policies` (new ones only), detaches pods no longer there,
    /// and returns the attached pods with their ofports.
    pub(super) async fn sync_ports(
        &mut self,
        policies: &ResolvedPolicies,
    ) -> Result<Vec<LocalPod>, AgentError> {
        let r = self.sync_ports_inner(policies).await;
        if let Err(AgentError::Ovsdb { .. }) = &r {
            self.db = None;
        }
        r
    }

    async fn sync_ports_inner(
        &mut self,
        policies: &ResolvedPolicies,
    ) -> Result<Vec<LocalPod>, AgentError> {
        let a = self.cfg.agent.clone();
        let ovsdb_err = |source| AgentError::Ovsdb {
            target: a.ovsdb.clone(),
            source,
        };
        let mut out = Vec::new();
        let mut wanted = BTreeSet::new();
        let mut unattached = Vec::new();
        let (ifnames, collisions) = self.local_ifnames(policies);
        for c in &collisions {
            tracing::error!("{c}");
        }
        for (index, pod) in policies.pods.iter().enumerate() {
            let Some(ifname) = ifnames.get(&pod.key).cloned() else {
                // Not local; or local and not attached: CNI did not ask for it, or its
                // interface name is another pod's.
                if self.placed_here(pod) {
                    let missing = match collisions.iter().find(|c| c.refused == pod.key) {
                        Some(c) => format!(
                            "its host interface name {} is also pod {}'s",
                            c.ifname, c.holder
                        ),
                        None => "no CNI ADD for it at its address yet".to_string(),
                    };
                    unattached.push((pod.key.clone(), missing));
                }
                continue;
            };
            let Some((mac, cni_ids)) = self.cni_port(pod) else {
                continue; // CNI did not ask for it (not listed in `ifnames`)
            };
            if !std::path::Path::new("/sys/class/net")
                .join(&ifname)
                .exists()
            {
                if self.cfg.phantom_pods {
                    out.push(LocalPod {
                        key: pod.key.clone(),
                        ip: pod.ip,
                        mac: MacAddr(mac),
                        ofport: PHANTOM_OFPORT_BASE + index as u32,
                    });
                } else if self.placed_here(pod) {
                    unattached.push((
                        pod.key.clone(),
                        format!("no interface {ifname} on the node yet (its CNI ADD has not run)"),
                    ));
                }
                continue;
            }
            let ofport = match self.ports.get(&pod.key) {
                Some((n, ofport)) if *n == ifname => *ofport,
                _ => {
                    let mut ids = crate::agent::port_external_ids(pod, mac);
                    ids.extend(cni_ids);
                    let ofport = self
                        .db()
                        .await?
                        .ensure_port(&a.bridge, &ifname, &ids)
                        .await
                        .map_err(ovsdb_err)?;
                    tracing::info!("pod {} attached: {ifname} port {ofport}", pod.key);
                    self.ports.insert(pod.key.clone(), (ifname.clone(), ofport));
                    ofport
                }
            };
            wanted.insert(ifname);
            out.push(LocalPod {
                key: pod.key.clone(),
                ip: pod.ip,
                mac: MacAddr(mac),
                ofport,
            });
        }
        // Pods gone from the input; on the first pass also ports left by an earlier run.
        let gone: Vec<(PodKey, String)> = self
            .ports
            .iter()
            .filter(|(_, (n, _))| !wanted.contains(n))
            .map(|(k, (n, _))| (k.clone(), n.clone()))
            .collect();
        let mut stale: Vec<String> = gone.iter().map(|(_, n)| n.clone()).collect();
        if !self.ports_swept {
            for port in self
                .db()
                .await?
                .list_ports(&a.bridge)
                .await
                .map_err(ovsdb_err)?
            {
                if port.external_ids.contains_key("pod-name") && !wanted.contains(&port.name) {
                    stale.push(port.name);
                }
            }
        }
        stale.sort();
        stale.dedup();
        for name in stale {
            self.db()
                .await?
                .delete_port(&a.bridge, &name)
                .await
                .map_err(ovsdb_err)?;
            tracing::info!(
                "port {name}: detached (its pod is not attached here any more: gone from the input, on another node or with another IP there, or its CNI attachment ended)"
            );
        }
        for (k, _) in gone {
            self.ports.remove(&k);
        }
        self.ports_swept = true;
        self.note_unattached(unattached);
        Ok(out)
    }
}

pub(super) async fn connect_db(a: &AgentConfig) -> Result<ovsdb::Client, AgentError> {
    let err = |source| AgentError::Ovsdb {
        target: a.ovsdb.clone(),
        source,
    };
    let db = ovsdb::Client::connect(&a.ovsdb).await.map_err(err)?;
    let bridge = ovsdb::BridgeConfig {
        name: a.bridge.clone(),
        datapath_type: a.datapath_type.clone(),
        protocols: vec!["OpenFlow13".into()],
        fail_mode: Some("secure".into()),
        external_ids: BTreeMap::from([("kakine.io/managed-by".into(), "kakine-agent".into())]),
    };
    crate::agent::check_datapath_type(&db, a).await?;
    db.ensure_bridge(&bridge).await.map_err(err)?;
    db.set_flow_table_names(&a.bridge, &pipeline::table_names())
        .await
        .map_err(err)?;
    Ok(db)
}
