//! The node agent: from policy input to a programmed `br-int`.
//!
//! One realization, in order, so that bad input never reaches OVS:
//! 1. load and validate the input, resolve every selector (pure; any error stops here);
//! 2. OVSDB: create or update `br-int` (OpenFlow13, fail_mode secure, the configured
//!    datapath_type), name its flow tables, attach each local pod's host-side veth as a port
//!    with the pod's identity in `external_ids`, and read back the assigned ofports;
//! 3. compile the node's desired flows (pure);
//! 4. OpenFlow: replace every flow of the bridge in **one atomic bundle** (delete all + add),
//!    confirmed by barrier. If OVS rejects any flow, nothing changes.

pub mod accept;
pub mod annotate;
pub mod cni_server;
pub mod controller_source;
pub mod dirwatch;
pub mod escape;
pub mod host;
pub mod inspect;
pub mod interfaces;
pub mod live;
pub mod observe;
pub mod outcome;
pub mod restore_wait;
pub mod source;
pub mod state;
pub mod unixctl;
pub mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use openflow::flow::{FlowMod, FlowModCommand, MacAddr, Match};

use crate::datapath::compiler::{self, Compiled, LocalPod};
use crate::datapath::pipeline;
use crate::policy::resolved::{PodInfo, ResolvedPolicies};

/// How the agent reaches OVS and what it programs.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The standalone input directory (cluster model + policies).
    pub input: PathBuf,
    /// OVSDB target, e.g. `unix:/var/run/openvswitch/db.sock`.
    pub ovsdb: String,
    /// OpenFlow socket of the bridge, e.g. `/var/run/openvswitch/br-int.mgmt`.
    pub of_socket: PathBuf,
    /// Bridge name.
    pub bridge: String,
    /// `Bridge.datapath_type`: `netdev` (userspace) or `system` (kernel).
    pub datapath_type: String,
    /// Prefix of pods' host-side interface names ([`crate::agent::interfaces::host_ifname`]).
    pub ifname_prefix: String,
    /// This node's name; pods of other nodes are not attached. `None` = every pod is local.
    pub node: Option<String>,
    /// Cookie round of this agent run.
    pub round: u16,
}

/// Agent errors. Each names the object or step that failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The policy input is invalid (nothing was sent to OVS).
    #[error("{0}")]
    Input(String),
    /// The compiler refused the policies (nothing was sent to OVS).
    #[error("compile: {0}")]
    Compile(#[from] compiler::CompileError),
    /// A flow held by the reconciler does not decode (nothing was sent to OVS).
    #[error("reconcile: {0}")]
    Reconcile(#[from] crate::datapath::reconcile::StoredFlowError),
    /// OVSDB failed.
    #[error("ovsdb {target}: {source}")]
    Ovsdb {
        /// The OVSDB target.
        target: String,
        /// The error.
        source: ovsdb::Error,
    },
    /// The host's network configuration failed (multi-node: gateway address, routes,
    /// masquerade); no flow was sent.
    #[error("host network: {0}")]
    Host(String),
    /// OpenFlow failed; the bundle was not applied.
    #[error("openflow {socket}: {source}")]
    OpenFlow {
        /// The socket.
        socket: PathBuf,
        /// The error.
        source: openflow::Error,
    },
}

/// What one realization did.
#[derive(Debug)]
pub struct Realized {
    /// The pods attached to the bridge.
    pub pods: Vec<LocalPod>,
    /// What the agent did or skipped besides the flows (pods not attached, stale ports removed).
    pub notes: Vec<String>,
    /// The compiled flows and rules.
    pub compiled: Compiled,
    /// The resolved policies.
    pub policies: ResolvedPolicies,
    /// Time from start to bundle committed.
    pub elapsed: Duration,
}

/// Loads and resolves a standalone input directory.
/// The files are those of [`crate::agent::state::input_files`] (no symbolic link out of `dir`).
pub fn load_input(dir: &Path) -> Result<ResolvedPolicies, AgentError> {
    load_input_for(dir, None)
}

/// [`load_input`] resolving only the view of `node` (`kakine-agent --node`): the policies whose
/// span holds the node and the pods they need, so an agent on a large input does the work of
/// one node.
pub fn load_input_for(dir: &Path, node: Option<&str>) -> Result<ResolvedPolicies, AgentError> {
    crate::agent::watch::load_for(dir, node)
        .map(|(resolved, _)| resolved)
        .map_err(AgentError::Input)
}

/// The settings of the agent's OpenFlow connections that do not read packet-ins (the main one
/// and the statistics one): `miss_send_len` 0 (OF1.3 §7.3.2), so a table-miss packet-in carries
/// no bytes of the packet. Every controller connection still receives the pipeline's
/// `controller` packet-ins, capped by their own `max_len` (160 bytes); only the packet-in task's
/// connection reads them.
pub fn quiet_connection() -> openflow::session::Config {
    openflow::session::Config {
        miss_send_len: 0,
        ..openflow::session::Config::default()
    }
}

/// A flow_mod deleting every flow of every table (`ovs-ofctl del-flows`).
pub fn delete_all() -> FlowMod {
    let mut f = FlowMod::add(0xff, 0, Match::default(), vec![]);
    f.command = FlowModCommand::Delete;
    f
}

/// The `external_ids` of a pod's port: `pod-name`, `pod-namespace`, `ip`, `mac` (what the
/// agent and `ovs-vsctl list Interface` show about whose port it is).
pub fn port_external_ids(pod: &PodInfo, mac: [u8; 6]) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("pod-name".to_string(), pod.key.name.clone()),
        ("pod-namespace".to_string(), pod.key.namespace.clone()),
        ("ip".to_string(), pod.ip.to_string()),
        ("mac".to_string(), crate::policy::mac::mac_string(mac)),
    ])
}

/// Refuses to change the `datapath_type` of an existing bridge: OVS would re-create it, and
/// every port (every pod) would be cut off until it is changed back.
///
/// Errors: [`AgentError::Input`] naming both types, or the OVSDB error.
pub async fn check_datapath_type(db: &ovsdb::Client, cfg: &AgentConfig) -> Result<(), AgentError> {
    let have = db
        .bridge_datapath_type(&cfg.bridge)
        .await
        .map_err(|source| AgentError::Ovsdb {
            target: cfg.ovsdb.clone(),
            source,
        })?;
    let normal = |t: &str| {
        if t.is_empty() {
            "system".to_string()
        } else {
            t.to_string()
        }
    };
    match have {
        Some(t) if normal(&t) != normal(&cfg.datapath_type) => Err(AgentError::Input(format!(
            "bridge {} has datapath_type {}; --datapath-type {} would re-create it and cut every pod off (pass --datapath-type {})",
            cfg.bridge,
            normal(&t),
            cfg.datapath_type,
            normal(&t)
        ))),
        _ => Ok(()),
    }
}

/// Runs one realization of the input directory `cfg.input` (see the module docs).
pub async fn realize(cfg: &AgentConfig) -> Result<Realized, AgentError> {
    let start = Instant::now();
    let policies = load_input_for(&cfg.input, cfg.node.as_deref())?;
    let mut r = realize_resolved(cfg, &policies).await?;
    r.elapsed = start.elapsed();
    Ok(r)
}

/// Steps 2 to 4 of a realization for policies already loaded and resolved (`cfg.input` is not
/// read): what [`realize`] does after step 1, and what the `ovs` scenario engine runs per step.
pub async fn realize_resolved(
    cfg: &AgentConfig,
    policies: &ResolvedPolicies,
) -> Result<Realized, AgentError> {
    let start = Instant::now();

    let ovsdb_err = |source| AgentError::Ovsdb {
        target: cfg.ovsdb.clone(),
        source,
    };
    let db = ovsdb::Client::connect(&cfg.ovsdb)
        .await
        .map_err(ovsdb_err)?;
    let bridge = ovsdb::BridgeConfig {
        name: cfg.bridge.clone(),
        datapath_type: cfg.datapath_type.clone(),
        protocols: vec!["OpenFlow13".into()],
        fail_mode: Some("secure".into()),
        external_ids: BTreeMap::from([("kakine.io/managed-by".into(), "kakine-agent".into())]),
    };
    check_datapath_type(&db, cfg).await?;
    db.ensure_bridge(&bridge).await.map_err(ovsdb_err)?;
    db.set_flow_table_names(&cfg.bridge, &pipeline::table_names())
        .await
        .map_err(ovsdb_err)?;

    let mut pods = Vec::new();
    let mut notes = Vec::new();
    let local: Vec<&PodInfo> = policies
        .pods
        .iter()
        .filter(|pod| match (&cfg.node, &pod.node) {
            (Some(node), Some(pod_node)) => node == pod_node,
            _ => true,
        })
        .collect();
    let (ifnames, collisions) = crate::agent::interfaces::assign_host_ifnames(
        &cfg.ifname_prefix,
        local.iter().map(|p| &p.key),
    );
    for c in &collisions {
        tracing::error!("{c}");
        notes.push(c.to_string());
    }
    for pod in local {
        let Some(ifname) = ifnames.get(&pod.key) else {
            continue; // refused above: its name is another pod's
        };
        if !Path::new("/sys/class/net").join(ifname).exists() {
            notes.push(format!(
                "pod {}: no interface {ifname} on this host",
                pod.key
            ));
            continue;
        }
        let mac = pod
            .mac
            .unwrap_or_else(|| crate::policy::mac::default_mac(pod.ip));
        let ofport = db
            .ensure_port(&cfg.bridge, ifname, &port_external_ids(pod, mac))
            .await
            .map_err(ovsdb_err)?;
        pods.push(LocalPod {
            key: pod.key.clone(),
            ip: pod.ip,
            mac: MacAddr(mac),
            ofport,
        });
    }

    let compiled = compiler::compile(policies, &pods, cfg.round)?;

    let of_err = |source| AgentError::OpenFlow {
        socket: cfg.of_socket.clone(),
        source,
    };
    wait_for_socket(&cfg.of_socket, Duration::from_secs(30)).await;
    let conn =
        openflow::Connection::connect_unix_with(&cfg.of_socket, crate::agent::quiet_connection())
            .await
            .map_err(of_err)?;
    let mut batch = Vec::with_capacity(compiled.flows.len() + 1);
    batch.push(delete_all());
    batch.extend(compiled.flows.iter().cloned());
    conn.bundle(&batch).await.map_err(of_err)?;

    // Ports of pods no longer in the input (the agent's own: they carry a pod identity).
    let attached: std::collections::BTreeSet<&String> =
        pods.iter().filter_map(|p| ifnames.get(&p.key)).collect();
    for port in db.list_ports(&cfg.bridge).await.map_err(ovsdb_err)? {
        if port.external_ids.contains_key("pod-name") && !attached.contains(&port.name) {
            db.delete_port(&cfg.bridge, &port.name)
                .await
                .map_err(ovsdb_err)?;
            notes.push(format!(
                "port {} of a pod no longer in the input: removed",
                port.name
            ));
        }
    }

    Ok(Realized {
        pods,
        notes,
        compiled,
        policies: policies.clone(),
        elapsed: start.elapsed(),
    })
}

async fn wait_for_socket(path: &Path, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !path.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
