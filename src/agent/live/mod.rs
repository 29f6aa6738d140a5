//! The long-running agent: an event source in, one atomic bundle per change out.
//!
//! [`Live`] keeps what it installed ([`FlowTable`]) and, for every change of the source (a
//! [`SourceEvent`]), compiles the node's desired flows, diffs them against the installed ones
//! ([`reconcile::diff`]) and commits only the difference as one OpenFlow bundle confirmed by
//! barrier. A failed bundle changes nothing in OVS and nothing in the agent's state; it is retried
//! with backoff. Bad input is rejected with its error while the previous policy stays enforced.
//!
//! Restarts and failures:
//! - **Agent start:** the flows already on the bridge are read back; the new cookie round is one
//!   past the highest found; the first realization installs the whole new round and sweeps the
//!   older rounds in the same bundle ([`reconcile::restart`]), so traffic never sees a gap. The
//!   last good input (`last-good.yaml` in the state directory) is enforced first, before the
//!   source is read.
//! - **ovs-vswitchd restart:** the OpenFlow connection reconnects by itself
//!   ([`openflow::conn::AsyncEvent::Reconnected`]); the agent re-reads the ports' ofports and the
//!   flows (now none) and reinstalls everything.
//! - **ovsdb-server restart:** an OVSDB error drops the client; the next attempt reconnects, with
//!   backoff. Ports are ensured by name, so a retry never duplicates one.
//! - **Drift:** every `drift_interval` the flows are dumped and compared with what the agent
//!   installed; a difference (a flow deleted or added by hand) is logged flow by flow and
//!   repaired with one bundle.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{AgentConfig, AgentError};
use crate::agent::observe::{Metrics, ObserveConfig, RuleIndex};
use crate::agent::state::{self, AgentState};
use crate::agent::watch::SourceEvent;
use crate::datapath::compiler::{self, Allocation, Compiled, LocalPod};
use crate::datapath::pipeline;
use crate::datapath::reconcile::{self, FlowTable};
use crate::policy::resolved::{PodKey, ResolvedPolicies};

pub mod changes;
mod cni;
mod outcome;
mod ports;
mod report;
mod run;

use ports::connect_db;
pub use run::trim_heap;
use run::Backoff;

/// The live agent's settings beyond [`AgentConfig`] (whose `round` is ignored: the live agent
/// picks its round from the bridge).
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// Where OVS is and what to program.
    pub agent: AgentConfig,
    /// The state directory (`last-good.yaml`, `agent.json`); `None` = nothing persisted.
    pub state_dir: Option<PathBuf>,
    /// How often installed flows are compared with a dump; zero = never.
    pub drift_interval: Duration,
    /// Debounce of the watched directory.
    pub quiet: Duration,
    /// Benchmarks only: a pod with no interface on this host is still compiled as local, on
    /// the made-up ofport [`PHANTOM_OFPORT_BASE`] + its index in the input (no OVSDB port).
    pub phantom_pods: bool,
    /// On a multi-node model (nodes with pod CIDRs, and `agent.node` set): configure the host's
    /// gateway address, routes and masquerade ([`crate::agent::host`]); `false` leaves the host
    /// to someone else (the tunnel and gateway ports and their flows are made either way).
    pub configure_host: bool,
    /// `--cni-socket`: serve kakine-cni here; local pods are then attached only once its ADD
    /// asked for them ([`crate::agent::cni_server`], docs/cni.md). `None` = attach every local
    /// pod whose veth exists.
    pub cni_socket: Option<PathBuf>,
}

/// First ofport of [`LiveConfig::phantom_pods`] (far above what OVS assigns to real ports).
pub const PHANTOM_OFPORT_BASE: u32 = 0x8000;

/// What one committed realization was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The first bundle of this run (new round, older rounds swept).
    Restart,
    /// A change of the source.
    Update,
    /// Reinstall after ovs-vswitchd came back.
    Reconnect,
    /// Repair of flows changed behind the agent's back.
    Repair,
}

impl Kind {
    /// Lower-case name (log lines, metric labels).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Restart => "restart",
            Kind::Update => "update",
            Kind::Reconnect => "reconnect",
            Kind::Repair => "repair",
        }
    }
}

/// One committed (or empty) realization, published to observers after each commit.
#[derive(Debug, Clone)]
pub struct Realization {
    /// Which kind.
    pub kind: Kind,
    /// Cookie round.
    pub round: u16,
    /// The policies realized.
    pub policies: Arc<ResolvedPolicies>,
    /// The compile (rules, allocation, warnings; its `flows` are moved into the installed
    /// table, see `flows`).
    pub compiled: Compiled,
    /// Flows installed.
    pub flows: usize,
    /// The attached pods.
    pub pods: Vec<LocalPod>,
    /// Flows added (new or changed), of which changed, and deleted.
    pub added: usize,
    /// Flows replaced in place.
    pub changed: usize,
    /// Flows deleted.
    pub deleted: usize,
    /// From the source event (or the trigger) to the bundle committed.
    pub latency: Duration,
}

/// Counters of a live agent.
#[derive(Debug, Clone, Default)]
pub struct LiveStats {
    /// Committed realizations.
    pub realizations: u64,
    /// Failed attempts (bundle or OVSDB errors).
    pub failures: u64,
    /// Inputs rejected (bad YAML, invalid objects).
    pub rejected: u64,
    /// Drift repairs.
    pub repairs: u64,
    /// OpenFlow reconnects seen.
    pub openflow_reconnects: u64,
    /// OVSDB reconnects made.
    pub ovsdb_reconnects: u64,
}

/// The live agent; see the module docs.
pub struct Live {
    cfg: LiveConfig,
    db: Option<ovsdb::Client>,
    conn: openflow::Connection,
    events: openflow::conn::AsyncEvents,
    installed: FlowTable,
    round: u16,
    restart_pending: bool,
    ports: BTreeMap<PodKey, (String, u32)>,
    ports_swept: bool,
    /// The gateway's and the tunnel's ofports, once made (multi-node).
    network_ports: Option<(u32, u32)>,
    /// The host plan last applied (multi-node).
    host_plan: Option<crate::agent::host::HostPlan>,
    allocation: Option<Allocation>,
    current: Option<Arc<ResolvedPolicies>>,
    stats: LiveStats,
    publish: tokio::sync::watch::Sender<Option<Arc<Realization>>>,
    metrics: Metrics,
    rules: tokio::sync::watch::Sender<Arc<RuleIndex>>,
    meters: ObserveConfig,
    /// Rule id → policy of the installed compile (names the deleted flows' policies).
    rule_policies: BTreeMap<u32, String>,
    /// The last input's refused and skipped objects.
    refused: crate::agent::watch::Report,
    /// Notified to re-read the input (SIGHUP).
    reload: Arc<tokio::sync::Notify>,
    /// The pods' CNI attachments and waiting requests (`--cni-socket`).
    cni: Option<cni::CniState>,
    /// The local pods of the last port sync not attached, with what is missing.
    unattached: Vec<(PodKey, String)>,
    /// The policy of the flow the switch refused in the last bundle, if it named one.
    refused_by: Option<crate::agent::outcome::PolicyRef>,
}

impl Live {
    /// Connects to OVSDB and OpenFlow (retrying with backoff until both answer), creates the
    /// bridge, reads the installed flows, picks the round, and enforces `last-good.yaml` of the
    /// state directory if there is one.
    ///
    /// Errors: OVSDB refusing the bridge, the OpenFlow handshake failing for a reason other than
    /// the socket not being there yet, or the persisted state failing to realize.
    pub async fn start(cfg: LiveConfig) -> Result<Live, AgentError> {
        let a = &cfg.agent;
        let metrics = Metrics::new();
        let mut backoff = Backoff::new();
        let db = loop {
            let r = connect_db(a).await;
            match r {
                Ok(db) => break db,
                // A wrong --datapath-type is not going to fix itself.
                Err(e @ AgentError::Input(_)) => return Err(e),
                Err(e) => {
                    metrics.reconnect_attempt("ovsdb", false);
                    tracing::warn!("waiting for ovsdb-server at {}: {e:#}; retrying", a.ovsdb);
                    backoff.wait().await;
                }
            }
        };
        metrics.set_connected("ovsdb", true);
        let mut backoff = Backoff::new();
        let conn = loop {
            match openflow::Connection::connect_unix_with(
                &a.of_socket,
                crate::agent::quiet_connection(),
            )
            .await
            {
                Ok(c) => break c,
                Err(openflow::Error::Io(e)) => {
                    metrics.reconnect_attempt("openflow", false);
                    tracing::warn!(
                        "waiting for ovs-vswitchd's OpenFlow socket {} (is ovs-vswitchd running with this run directory, and the bridge created?): {e}; retrying",
                        a.of_socket.display()
                    );
                    backoff.wait().await;
                }
                Err(source) => {
                    return Err(AgentError::OpenFlow {
                        socket: a.of_socket.clone(),
                        source,
                    })
                }
            }
        };
        metrics.set_connected("openflow", true);
        let events = conn.events();
        let (publish, _) = tokio::sync::watch::channel(None);
        let (rules, _) = tokio::sync::watch::channel(Arc::new(RuleIndex::default()));
        let mut live = Live {
            cfg,
            db: Some(db),
            conn,
            events,
            installed: FlowTable::default(),
            round: 1,
            restart_pending: true,
            ports: BTreeMap::new(),
            ports_swept: false,
            network_ports: None,
            host_plan: None,
            allocation: None,
            current: None,
            stats: LiveStats::default(),
            publish,
            metrics,
            rules,
            meters: ObserveConfig::default(),
            rule_policies: BTreeMap::new(),
            refused: Default::default(),
            reload: Default::default(),
            cni: None,
            unattached: Vec::new(),
            refused_by: None,
        };
        live.ensure_meters().await?;
        live.installed = live.dump().await?;
        live.round = reconcile::next_round(&live.installed);
        // Rules keep their ids and priorities across restarts: the ct_label of a live
        // connection and the per-rule counters stay with the same rule.
        if let Some(dir) = live.cfg.state_dir.as_deref() {
            match state::read_allocation(dir) {
                Ok(Some(saved)) => live.allocation = Some(Allocation::from_saved(saved)),
                Ok(None) => {}
                Err(e) => tracing::error!("{e}: ignored (rules get new ids)"),
            }
        }
        tracing::info!(
            "{}: {} flows installed (rounds {:?}); this run is round {}",
            live.cfg.agent.bridge,
            live.installed.len(),
            live.installed.rounds(),
            live.round
        );
        if let Some(path) = live.cfg.cni_socket.clone() {
            live.start_cni(&path).await?;
        }
        if let Some(path) = live.cfg.state_dir.as_deref().and_then(state::last_good) {
            let t = Instant::now();
            let loaded = crate::policy::load_files(std::slice::from_ref(&path))
                .map_err(|e| e.to_string())
                .and_then(|i| {
                    crate::grouping::resolve_node(
                        &i.cluster,
                        &i.objects,
                        live.cfg.agent.node.as_deref(),
                    )
                    .map_err(|e| e.to_string())
                });
            match loaded {
                Ok(p) => {
                    tracing::info!("enforcing the last good policy ({})", path.display());
                    live.realize(Arc::new(p), None, Kind::Restart, t).await?;
                }
                Err(e) => tracing::error!("{}: ignored: {e}", path.display()),
            }
        }
        Ok(live)
    }

    /// A receiver of every committed realization (latest only).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Option<Arc<Realization>>> {
        self.publish.subscribe()
    }

    /// The OpenFlow connection (for observers: packet-ins, stats).
    pub fn connection(&self) -> &openflow::Connection {
        &self.conn
    }

    /// The Prometheus metrics the agent updates (serve them with
    /// [`crate::agent::observe::serve_metrics`]).
    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    /// The rule index of the installed flows, updated after each commit (for the packet-in
    /// task and the per-rule statistics).
    pub fn rule_index(&self) -> tokio::sync::watch::Receiver<Arc<RuleIndex>> {
        self.rules.subscribe()
    }

    /// The packet-in meters (log and Reject rate limits), installed before any flow: OVS binds
    /// a `controller(meter_id=N)` action to its meter when the flow is added.
    async fn ensure_meters(&self) -> Result<(), AgentError> {
        crate::agent::observe::ensure_meters(&self.conn, &self.meters)
            .await
            .map_err(|source| AgentError::OpenFlow {
                socket: self.cfg.agent.of_socket.clone(),
                source,
            })
    }

    /// A handle that makes the running agent re-read its input (what SIGHUP does): the
    /// directory's current content is loaded and realized as a change.
    pub fn reload_handle(&self) -> Arc<tokio::sync::Notify> {
        self.reload.clone()
    }

    /// The counters.
    pub fn stats(&self) -> &LiveStats {
        &self.stats
    }

    /// The flows the agent believes are installed.
    pub fn installed(&self) -> &FlowTable {
        &self.installed
    }

    /// The cookie round of this run.
    pub fn round(&self) -> u16 {
        self.round
    }

    /// Realizes one source event: a rejected input is logged and changes nothing.
    ///
    /// Errors: as [`Live::realize`]; the agent state is unchanged then and the caller retries.
    pub async fn apply(&mut self, ev: SourceEvent) -> Result<Option<Arc<Realization>>, AgentError> {
        self.report_input(&ev);
        match ev.input {
            Err(e) => {
                self.stats.rejected += 1;
                tracing::error!("input rejected, the previous policy stays enforced: {e}");
                Ok(None)
            }
            Ok((policies, files)) => self
                .realize(Arc::new(policies), Some(files), Kind::Update, ev.at)
                .await
                .map(Some),
        }
    }

    /// Attaches the pods, compiles, and commits the difference against the installed flows as
    /// one bundle (the restart bundle the first time). On success the input is saved as the
    /// last good one (when `files` is given) and published.
    ///
    /// Errors: OVSDB (the client is dropped and reconnected next time), OpenFlow (bundle
    /// rejected: the error names the flow; nothing changed), compile.
    pub async fn realize(
        &mut self,
        policies: Arc<ResolvedPolicies>,
        files: Option<Vec<(PathBuf, String)>>,
        kind: Kind,
        at: Instant,
    ) -> Result<Arc<Realization>, AgentError> {
        let kind = if self.restart_pending {
            Kind::Restart
        } else {
            kind
        };
        let r = self.realize_inner(policies, files, kind, at).await;
        self.metrics
            .realization(kind.as_str(), at.elapsed().as_secs_f64(), r.is_ok());
        match &r {
            Ok(_) => {
                let names = pipeline::table_names();
                let counts = self
                    .installed
                    .per_table()
                    .into_iter()
                    .filter_map(|(id, n)| {
                        names
                            .iter()
                            .find(|(i, _)| *i == id)
                            .map(|(_, name)| (name.as_str(), n as u64))
                    })
                    .collect();
                self.metrics.flows_per_table(&counts);
            }
            Err(AgentError::Ovsdb { .. }) => self.metrics.ovsdb_error(),
            Err(AgentError::OpenFlow { .. }) => self.metrics.openflow_error(),
            Err(_) => {}
        }
        if r.is_err() {
            self.stats.failures += 1;
        }
        r
    }

    /// [`Live::realize`] without the bookkeeping; `kind` is already `Restart` for the first
    /// bundle of the run.
    async fn realize_inner(
        &mut self,
        policies: Arc<ResolvedPolicies>,
        files: Option<Vec<(PathBuf, String)>>,
        kind: Kind,
        at: Instant,
    ) -> Result<Arc<Realization>, AgentError> {
        let network = self.sync_network(&policies).await?;
        let pods = self.sync_ports(&policies).await?;
        let mut compiled = compiler::compile_node(
            &policies,
            &pods,
            network.as_ref(),
            self.round,
            self.allocation.as_ref(),
        )?;
        // The flows live on only in the compact table (see `reconcile::Flow`).
        let desired = FlowTable::from_flows(&std::mem::take(&mut compiled.flows));
        let (added, changed, deleted) = reconcile::diff_counts(&self.installed, &desired);
        let new_policies = changes::rule_policies(&compiled);
        let per_policy = (!self.restart_pending && added + deleted > 0).then(|| {
            changes::per_policy(
                &self.installed,
                &desired,
                &self.rule_policies,
                &new_policies,
            )
        });
        let bundle_start = Instant::now();
        self.send_bundle(&desired, &compiled.rules).await?;
        if self.restart_pending || added + deleted > 0 {
            self.metrics
                .bundle_commit(bundle_start.elapsed().as_secs_f64());
        }
        let latency = at.elapsed();
        self.installed = desired;
        self.restart_pending = false;
        self.allocation = Some(compiled.allocation.clone());
        self.current = Some(policies.clone());
        self.stats.realizations += 1;
        let line = format!(
            "{} committed in {:.1} ms: +{} ~{} -{} flows ({} installed, round {})",
            kind.as_str(),
            latency.as_secs_f64() * 1e3,
            added - changed,
            changed,
            deleted,
            self.installed.len(),
            self.round
        );
        // The state first: whoever reads the log line finds the state of that commit.
        if let Some(dir) = &self.cfg.state_dir {
            if let Some(files) = &files {
                if let Err(e) = state::save_last_good(dir, files) {
                    tracing::error!("{e}");
                }
            }
            let s = AgentState::new(&self.cfg.agent.bridge, self.round, &compiled, &pods);
            if let Err(e) = state::write_agent_state(dir, &s) {
                tracing::error!("{e}");
            }
            if let Err(e) = state::write_allocation(dir, &compiled.allocation.to_saved()) {
                tracing::error!("{e}");
            }
        }
        // A change that changes nothing is not news.
        if kind == Kind::Restart || added + deleted > 0 {
            tracing::info!("{line}");
        } else {
            tracing::debug!("{line}");
        }
        for (policy, c) in per_policy.unwrap_or_default() {
            tracing::info!(
                "{}",
                changes::describe(&policy, c, &self.rule_policies, &new_policies)
            );
        }
        self.rule_policies = new_policies;
        for m in &compiled.moves {
            tracing::info!(
                "priority move in {}: {} {} -> {}",
                m.table,
                m.rule,
                m.from,
                m.to
            );
        }
        let r = Arc::new(Realization {
            kind,
            round: self.round,
            policies: policies.clone(),
            flows: self.installed.len(),
            compiled,
            pods,
            added,
            changed,
            deleted,
            latency,
        });
        let (ingress, egress) =
            r.compiled
                .rules
                .iter()
                .fold((0, 0), |(i, e), c| match c.direction {
                    crate::policy::resolved::Direction::Ingress => (i + 1, e),
                    crate::policy::resolved::Direction::Egress => (i, e + 1),
                });
        let mut enforcing: std::collections::BTreeSet<&str> = r
            .compiled
            .rules
            .iter()
            .map(|c| c.rule.policy.as_str())
            .collect();
        for i in &r.policies.isolated_by {
            if r.pods.iter().any(|p| i.pods.contains(&p.key)) {
                enforcing.insert(i.policy.as_str());
            }
        }
        self.metrics
            .enforced(r.pods.len(), enforcing.len(), ingress, egress);
        self.rules
            .send_replace(Arc::new(RuleIndex::new(&r.compiled, &r.policies, &r.pods)));
        self.publish.send_replace(Some(r.clone()));
        self.answer_cni(&r);
        trim_heap();
        Ok(r)
    }

    /// Dumps the bridge's flows.
    async fn dump(&self) -> Result<FlowTable, AgentError> {
        let stats = self
            .conn
            .dump_flows(None)
            .await
            .map_err(|source| AgentError::OpenFlow {
                socket: self.cfg.agent.of_socket.clone(),
                source,
            })?;
        let flows: Vec<_> = stats.iter().map(|s| s.to_flow_mod()).collect();
        Ok(FlowTable::from_flows(&flows))
    }

    /// Compares the bridge's flows with what the agent installed and repairs any difference in
    /// one bundle. Returns the number of flows re-added and removed.
    ///
    /// Errors: the dump or the repair bundle failed.
    pub async fn check_drift(&mut self) -> Result<(usize, usize), AgentError> {
        let t = Instant::now();
        let found = self.dump().await?;
        let d = reconcile::diff(&found, &self.installed)?;
        if d.is_empty() {
            return Ok((0, 0));
        }
        tracing::warn!("drift: the bridge differs from what the agent installed; repairing {d}");
        self.conn
            .bundle(&d.flow_mods())
            .await
            .map_err(|source| AgentError::OpenFlow {
                socket: self.cfg.agent.of_socket.clone(),
                source,
            })?;
        self.stats.repairs += 1;
        self.metrics
            .drift_repair(d.add.len() as u64, d.delete.len() as u64);
        tracing::info!(
            "repair committed in {:.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        Ok((d.add.len(), d.delete.len()))
    }

    /// After ovs-vswitchd came back: ofports are re-read, the flows dumped, and everything
    /// missing reinstalled.
    ///
    /// Errors: as [`Live::realize`].
    pub async fn resync(&mut self, at: Instant) -> Result<(), AgentError> {
        self.ports.clear();
        self.network_ports = None;
        self.ensure_meters().await?;
        self.installed = self.dump().await?;
        if let Some(p) = self.current.clone() {
            self.realize(p, None, Kind::Reconnect, at).await?;
        }
        Ok(())
    }
}
