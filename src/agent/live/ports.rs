//! The pods' ports on the bridge: attached through OVSDB by interface name, their ofports read
//! back, and re-attached when a veth appears or disappears.

use std::collections::{BTreeMap, BTreeSet};

use openflow::flow::MacAddr;

use super::{AgentConfig, AgentError};
use crate::agent::interfaces::{assign_host_ifnames, IfnameCollision};
use crate::datapath::compiler::LocalPod;
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
            .filter(|pod| match (&a.node, &pod.node) {
                (Some(node), Some(pod_node)) => node == pod_node,
                _ => true,
            })
            .filter(|pod| self.cni_port(pod).is_some());
        let (attached, new): (Vec<&PodInfo>, Vec<&PodInfo>) =
            local.partition(|p| self.ports.contains_key(&p.key));
        assign_host_ifnames(
            &a.ifname_prefix,
            attached.iter().chain(&new).map(|p| &p.key),
        )
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
        let (ifnames, collisions) = self.local_ifnames(policies);
        for c in &collisions {
            tracing::error!("{c}");
        }
        for (index, pod) in policies.pods.iter().enumerate() {
            let Some(ifname) = ifnames.get(&pod.key).cloned() else {
                continue; // not local, or refused: its interface name is another pod's
            };
            let Some((mac, cni_ids)) = self.cni_port(pod) else {
                continue; // CNI did not ask for it
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
            tracing::info!("port {name}: pod no longer in the input, detached");
        }
        for (k, _) in gone {
            self.ports.remove(&k);
        }
        self.ports_swept = true;
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
