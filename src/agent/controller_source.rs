//! The controller source (`kakine-agent --controller URL`): the node's span streamed by the
//! controller (snapshot, then deltas), applied to a [`NodeSpan`] and handed to the live loop
//! as the same [`SourceEvent`]s the directory source gives.
//!
//! The last span received is kept in the state directory ([`SPAN_FILE`], a snapshot as JSON)
//! and enforced at start, before and while the controller is unreachable. A broken stream is
//! retried with backoff (100 ms doubling to 5 s), resuming from the span's version: the
//! controller sends the deltas since, or a fresh snapshot. A refused subscription (a token
//! refused, another node's span) is logged as an error and retried the same way: the token
//! file is read again at each attempt. A controller that has no valid content yet answers
//! `503`: logged as a warning, retried, the last span enforced meanwhile.
//!
//! After each realization the agent reports to the controller the version it realized and
//! every policy of it with its generation (the version of the frame that last brought the
//! policy's content: its `policy_put`, or the snapshot). A bundle refused realizes nothing new:
//! the policies whose generation the agent had realized before are reported realized at that
//! generation (they stay enforced), the others failed with the reason
//! ([`crate::controller::realization`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::agent::watch::{Report, SourceEvent};
use crate::controller::client::{Client, ClientError};
use crate::controller::realization::{PolicyRealization, RealizationReport};
use crate::controlplane::{Change, Frame, NodeSpan, Snapshot};

/// The last span received, in the state directory.
pub const SPAN_FILE: &str = "controller-span.json";

/// Policy (kind, name) -> its generation: the version of the frame that last brought its
/// content.
type Generations = BTreeMap<(String, String), u64>;

struct Update {
    ev: SourceEvent,
    version: u64,
    policies: Generations,
}

/// A span streamed from the controller; see the module documentation.
pub struct ControllerSource {
    rx: mpsc::UnboundedReceiver<Update>,
    client: Client,
    /// The version and policies of the last event handed out (what a realization realizes).
    handed: Option<(u64, Generations)>,
    /// The policy generations of the last span realized (what stays enforced when a later one
    /// is refused).
    enforced: Generations,
    /// The span kept in the state directory, enforced first.
    saved: Option<Update>,
    _task: tokio::task::JoinHandle<()>,
}

fn update(span: &NodeSpan, generations: &Generations) -> Update {
    Update {
        ev: SourceEvent {
            at: Instant::now(),
            input: Ok((span.derive_from(), Vec::new())),
            report: Report::default(),
        },
        version: span.version,
        policies: generations.clone(),
    }
}

/// Notes the policies `frame` brings (applied to the span already).
fn note_generations(generations: &mut Generations, frame: &Frame) {
    match frame {
        Frame::Snapshot(s) => {
            *generations = s
                .policies
                .iter()
                .map(|p| ((p.kind.clone(), p.name.clone()), s.version))
                .collect();
        }
        Frame::Delta(d) => {
            for c in &d.changes {
                match c {
                    Change::PolicyPut(p) => {
                        generations.insert((p.kind.clone(), p.name.clone()), d.version);
                    }
                    Change::PolicyDelete { kind, name } => {
                        generations.remove(&(kind.clone(), name.clone()));
                    }
                    _ => {}
                }
            }
        }
        Frame::Bookmark { .. } => {}
    }
}

/// The report of realizing `policies` at `version` with `outcome`; `enforced` are the
/// generations realized before (see the module documentation).
fn report(
    version: u64,
    policies: &Generations,
    enforced: &Generations,
    outcome: &Result<(), String>,
) -> RealizationReport {
    RealizationReport {
        version,
        policies: policies
            .iter()
            .map(|((kind, name), generation)| {
                let failure = match outcome {
                    Ok(()) => None,
                    Err(_) if enforced.get(&(kind.clone(), name.clone())) == Some(generation) => {
                        None
                    }
                    Err(e) => Some(e.clone()),
                };
                PolicyRealization {
                    kind: kind.clone(),
                    name: name.clone(),
                    generation: *generation,
                    failure,
                }
            })
            .collect(),
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
        Self::start_observed(client, state_dir, None)
    }

    /// As [`start`](Self::start), and sets `kakine_agent_connected{connection="controller"}`
    /// of `metrics`: 1 while subscribed, 0 while refused or unreachable.
    pub fn start_observed(
        client: Client,
        state_dir: Option<PathBuf>,
        metrics: Option<crate::agent::observe::Metrics>,
    ) -> Self {
        let span = state_dir
            .as_deref()
            .and_then(read_saved)
            .unwrap_or_default();
        // The span kept holds the generations it was written at: its version.
        let generations: Generations = span
            .objects
            .policies
            .keys()
            .map(|k| (k.clone(), span.version))
            .collect();
        let saved = (span.version > 0).then(|| update(&span, &generations));
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(stream(
            client.clone(),
            span,
            generations,
            state_dir,
            tx,
            metrics,
        ));
        ControllerSource {
            rx,
            client,
            handed: None,
            enforced: Generations::new(),
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

    /// Reports the realization of the last span handed out (sent in the background): every
    /// policy realized; or, with `outcome` an error, those of a generation not realized before
    /// failed with its reason.
    pub fn realized(&mut self, outcome: Result<(), String>) {
        let Some((version, policies)) = &self.handed else {
            return;
        };
        let version = *version;
        let report = report(version, policies, &self.enforced, &outcome);
        if outcome.is_ok() {
            self.enforced = policies.clone();
        }
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
    mut generations: Generations,
    state_dir: Option<PathBuf>,
    tx: mpsc::UnboundedSender<Update>,
    metrics: Option<crate::agent::observe::Metrics>,
) {
    let connected = |up: bool| {
        if let Some(m) = &metrics {
            m.set_connected("controller", up);
        }
    };
    connected(false);
    let mut backoff = Duration::from_millis(100);
    loop {
        let since = (span.version > 0).then_some(span.version);
        let subscribed = client.subscribe(since).await;
        connected(subscribed.is_ok());
        match subscribed {
            Err(e @ ClientError::Refused { status: 503, .. }) => tracing::warn!(
                "node {}: {e}; the last span stays enforced, retrying",
                client.node()
            ),
            Err(e @ ClientError::Refused { .. }) => {
                tracing::error!("node {}: {e}", client.node())
            }
            Err(e) => tracing::warn!("node {}: {e}; the last span stays enforced", client.node()),
            Ok(mut frames) => {
                match since {
                    Some(v) => {
                        tracing::info!("node {}: subscribed from version {v}", client.node())
                    }
                    None => tracing::info!("node {}: subscribed (a snapshot)", client.node()),
                }
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
                    note_generations(&mut generations, &frame);
                    if content {
                        if let Some(dir) = &state_dir {
                            let snap = serde_json::to_vec(&span.objects.snapshot(span.version))
                                .unwrap_or_default();
                            if let Err(e) = crate::agent::state::write_atomic(dir, SPAN_FILE, &snap)
                            {
                                tracing::error!("{e}");
                            }
                        }
                        if tx.send(update(&span, &generations)).is_err() {
                            return;
                        }
                    }
                }
            }
        }
        connected(false);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controlplane::message::WirePolicy;
    use crate::controlplane::{Delta, NodeObjects};

    fn wire(name: &str) -> WirePolicy {
        WirePolicy {
            kind: "K8sNetworkPolicy".into(),
            name: name.into(),
            rules: vec![],
            isolates_ingress: vec![],
            isolates_egress: vec![],
        }
    }

    fn key(name: &str) -> (String, String) {
        ("K8sNetworkPolicy".to_string(), name.to_string())
    }

    #[test]
    fn a_refused_bundle_fails_only_the_generations_not_enforced_before() {
        let mut g = Generations::new();
        let snapshot = NodeObjects::default().snapshot(10);
        let snapshot = Snapshot {
            policies: vec![wire("x/p"), wire("x/q")],
            ..snapshot
        };
        note_generations(&mut g, &Frame::Snapshot(snapshot));
        assert_eq!(g, Generations::from([(key("x/p"), 10), (key("x/q"), 10)]));
        let enforced = g.clone();
        note_generations(
            &mut g,
            &Frame::Delta(Delta {
                version: 12,
                changes: vec![
                    Change::PolicyPut(wire("x/q")),
                    Change::PolicyDelete {
                        kind: "K8sNetworkPolicy".into(),
                        name: "x/p".into(),
                    },
                    Change::PolicyPut(wire("x/r")),
                ],
            }),
        );
        note_generations(&mut g, &Frame::Bookmark { version: 13 });
        assert_eq!(g, Generations::from([(key("x/q"), 12), (key("x/r"), 12)]));
        let outcome = |r: &RealizationReport| {
            r.policies
                .iter()
                .map(|p| (p.name.clone(), p.generation, p.failure.clone()))
                .collect::<Vec<_>>()
        };
        let ok = report(12, &g, &enforced, &Ok(()));
        assert_eq!(
            outcome(&ok),
            [("x/q".into(), 12, None), ("x/r".into(), 12, None)]
        );
        // q at 10 stays enforced, but 12 was refused: both new generations fail.
        let refused = report(12, &g, &enforced, &Err("too large".into()));
        assert_eq!(
            outcome(&refused),
            [
                ("x/q".into(), 12, Some("too large".into())),
                ("x/r".into(), 12, Some("too large".into()))
            ]
        );
        // A refused bundle that did not change q's content: q is reported realized.
        let unchanged = Generations::from([(key("x/q"), 12), (key("x/s"), 14)]);
        let refused = report(14, &unchanged, &g, &Err("too large".into()));
        assert_eq!(
            outcome(&refused),
            [
                ("x/q".into(), 12, None),
                ("x/s".into(), 14, Some("too large".into()))
            ]
        );
    }
}
