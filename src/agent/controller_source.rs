//! The controller source (`kakine-agent --controller URL`): the node's span streamed by the
//! controller (snapshot, then deltas), applied to a [`NodeSpan`] and handed to the live loop
//! as the same [`SourceEvent`]s the directory source gives.
//!
//! The last span received is kept in the state directory ([`SPAN_FILE`], a snapshot as JSON)
//! and enforced at start, before and while the controller is unreachable. A broken stream is
//! retried with backoff (100 ms doubling to 5 s), resuming from the span's version: the
//! controller sends the deltas since, or a fresh snapshot. After each realization the agent
//! reports to the controller the version it realized and every policy of it, realized or
//! failed with the reason.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::agent::watch::{Report, SourceEvent};
use crate::controller::client::{Client, ClientError};
use crate::controller::realization::{PolicyRealization, RealizationReport};
use crate::controlplane::{Frame, NodeSpan, Snapshot};

/// The last span received, in the state directory.
pub const SPAN_FILE: &str = "controller-span.json";

struct Update {
    ev: SourceEvent,
    version: u64,
    policies: Vec<(String, String)>,
}

/// A span streamed from the controller; see the module documentation.
pub struct ControllerSource {
    rx: mpsc::UnboundedReceiver<Update>,
    client: Client,
    /// The version and policies of the last event handed out (what a realization realizes).
    handed: Option<(u64, Vec<(String, String)>)>,
    /// The span kept in the state directory, enforced first.
    saved: Option<Update>,
    _task: tokio::task::JoinHandle<()>,
}

fn update(span: &NodeSpan) -> Update {
    Update {
        ev: SourceEvent {
            at: Instant::now(),
            input: Ok((span.derive_from(), Vec::new())),
            report: Report::default(),
        },
        version: span.version,
        policies: span.objects.policies.keys().cloned().collect(),
    }
}

/// The span kept in `state_dir`, if any and readable.
pub fn read_saved(state_dir: &std::path::Path) -> Option<NodeSpan> {
    let path = state_dir.join(SPAN_FILE);
    let text = std::fs::read(&path).ok()?;
    match serde_json::from_slice::<Snapshot>(&text) {
        Ok(s) => Some(NodeSpan::from_snapshot(&s)),
        Err(e) => {
            tracing::error!("{}: ignored: {e}", path.display());
            None
        }
    }
}

impl ControllerSource {
    /// Starts streaming the span of `client`'s node; `state_dir` keeps the last span.
    pub fn start(client: Client, state_dir: Option<PathBuf>) -> Self {
        let span = state_dir
            .as_deref()
            .and_then(read_saved)
            .unwrap_or_default();
        let saved = (span.version > 0).then(|| update(&span));
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(stream(client.clone(), span, state_dir, tx));
        ControllerSource {
            rx,
            client,
            handed: None,
            saved,
            _task: task,
        }
    }

    /// The span kept in the state directory (once; `None` after, or without one).
    pub fn current(&mut self) -> Option<SourceEvent> {
        let u = self.saved.take()?;
        tracing::info!(
            "enforcing the span kept in the state directory (version {})",
            u.version
        );
        self.handed = Some((u.version, u.policies));
        Some(u.ev)
    }

    /// The latest span received (older ones still queued are skipped); `None` if the
    /// stream task ended.
    ///
    /// Cancel-safe.
    pub async fn next(&mut self) -> Option<SourceEvent> {
        let mut u = self.rx.recv().await?;
        while let Ok(newer) = self.rx.try_recv() {
            u = newer;
        }
        self.handed = Some((u.version, u.policies));
        Some(u.ev)
    }

    /// Reports the realization of the last span handed out: every policy realized, or failed
    /// with `outcome`'s reason (sent in the background).
    pub fn realized(&self, outcome: Result<(), String>) {
        let Some((version, policies)) = self.handed.clone() else {
            return;
        };
        let report = RealizationReport {
            version,
            policies: policies
                .into_iter()
                .map(|(kind, name)| PolicyRealization {
                    kind,
                    name,
                    failure: outcome.clone().err(),
                })
                .collect(),
        };
        let client = self.client.clone();
        tokio::spawn(async move {
            if let Err(e) = client.report(&report).await {
                tracing::warn!("realization report of version {version}: {e}");
            }
        });
    }
}

async fn stream(
    client: Client,
    mut span: NodeSpan,
    state_dir: Option<PathBuf>,
    tx: mpsc::UnboundedSender<Update>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let since = (span.version > 0).then_some(span.version);
        match client.subscribe(since).await {
            Err(e @ ClientError::Refused { .. }) => {
                tracing::error!("node {}: {e}", client.node())
            }
            Err(e) => tracing::warn!("node {}: {e}; the last span stays enforced", client.node()),
            Ok(mut frames) => {
                tracing::info!("node {}: subscribed from version {since:?}", client.node());
                backoff = Duration::from_millis(100);
                loop {
                    let frame = match frames.next().await {
                        Some(Ok(f)) => f,
                        Some(Err(e)) => {
                            tracing::warn!("node {}: {e}; resuming", client.node());
                            break;
                        }
                        None => {
                            tracing::warn!(
                                "node {}: the controller ended the stream; resuming",
                                client.node()
                            );
                            break;
                        }
                    };
                    let content = !matches!(frame, Frame::Bookmark { .. });
                    if let Err(e) = span.apply(&frame) {
                        tracing::error!("node {}: {e}; asking for a fresh snapshot", client.node());
                        span = NodeSpan::default();
                        break;
                    }
                    if content {
                        if let Some(dir) = &state_dir {
                            let snap = serde_json::to_vec(&span.objects.snapshot(span.version))
                                .unwrap_or_default();
                            if let Err(e) = crate::agent::state::write_atomic(dir, SPAN_FILE, &snap)
                            {
                                tracing::error!("{e}");
                            }
                        }
                        if tx.send(update(&span)).is_err() {
                            return;
                        }
                    }
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
