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
//! policy's content: its `policy_put`, or the snapshot) and its state
//! ([`crate::controller::realization`], [`Outcome`]):
//! - committed: realized; pending (naming the pods and what they miss) when a local pod it
//!   applies to is not attached (no interface yet, no CNI ADD yet);
//! - refused (nothing of the bundle applied): the policy whose rule the error names failed with
//!   the error; the other policies whose generation the agent had realized before stay
//!   realized (they stay enforced, pending if they were); the others pending behind the
//!   culprit; when the error names no policy, those failed with it.
//!
//! The report is sent again when the local pods' attachments change (a veth appeared), and
//! never twice the same.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::agent::outcome::{Outcome, PolicyRef, Unattached};
use crate::agent::watch::{Report, SourceEvent};
use crate::controller::client::{Client, ClientError};
use crate::controller::realization::{bounded_reason, PolicyRealization, RealizationReport};
use crate::controlplane::{Change, Frame, NodeSpan, Snapshot};

/// The last span received, in the state directory.
pub const SPAN_FILE: &str = "controller-span.json";

/// A policy of the span: (kind, name) of its `WirePolicy`.
type Key = (String, String);

/// Policy (kind, name) -> its generation: the version of the frame that last brought its
/// content.
type Generations = BTreeMap<Key, u64>;

/// The policies of a span by what the datapath names them ([`PolicyRef`]): a rule's (kind,
/// tier, policy), an isolation's `namespace/name`.
#[derive(Debug, Default)]
struct Owners {
    rules: HashMap<(String, String, String), BTreeSet<Key>>,
    isolations: HashMap<String, BTreeSet<Key>>,
}

impl Owners {
    /// Cost: one pass over the span's policies and their rules.
    fn of_span(span: &NodeSpan) -> Owners {
        let mut o = Owners::default();
        for (key, p) in &span.objects.policies {
            for r in &p.rules {
                let id = (r.id.kind.clone(), r.id.tier.clone(), r.id.policy.clone());
                o.rules.entry(id).or_default().insert(key.clone());
            }
            if !p.isolates_ingress.is_empty() || !p.isolates_egress.is_empty() {
                o.isolations
                    .entry(p.name.clone())
                    .or_default()
                    .insert(key.clone());
            }
        }
        o
    }

    /// The span's policies `p` names (none when the span has no such policy).
    fn of(&self, p: &PolicyRef) -> BTreeSet<Key> {
        let found = match p {
            PolicyRef::Rule(r) => {
                let id = (r.kind.clone(), r.tier.clone(), r.policy.clone());
                self.rules.get(&id)
            }
            PolicyRef::Isolation(name) => self.isolations.get(name),
        };
        found.cloned().unwrap_or_default()
    }
}

struct Update {
    ev: SourceEvent,
    version: u64,
    policies: Generations,
    owners: Arc<Owners>,
}

/// What a realization realizes: the version, policies and owners of the last event handed out.
struct Handed {
    version: u64,
    policies: Generations,
    owners: Arc<Owners>,
}

/// Pending policies: (kind, name) -> why.
type Pending = BTreeMap<Key, String>;

/// A span streamed from the controller; see the module documentation.
pub struct ControllerSource {
    rx: mpsc::UnboundedReceiver<Update>,
    client: Client,
    /// The last event handed out (what a realization realizes).
    handed: Option<Handed>,
    /// How its realization went.
    outcome: Option<Outcome>,
    /// The policy generations of the last span realized (what stays enforced when a later one
    /// is refused).
    enforced: Generations,
    /// Of those, the ones pending on unattached pods.
    enforced_pending: Pending,
    /// The last report sent.
    sent: Option<RealizationReport>,
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
        owners: Arc::new(Owners::of_span(span)),
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

/// The pending policies of `unattached` pods: each policy applied to one, with the pods (the
/// first three, and how many more).
fn pending_of(unattached: &[Unattached], owners: &Owners) -> Pending {
    let mut pods: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    for u in unattached {
        let keys: BTreeSet<Key> = u.policies.iter().flat_map(|p| owners.of(p)).collect();
        for k in keys {
            pods.entry(k).or_default().push(u.reason());
        }
    }
    pods.into_iter()
        .map(|(k, reasons)| {
            let mut why = reasons[..reasons.len().min(3)].join("; ");
            if reasons.len() > 3 {
                why.push_str(&format!(" (and {} more pods)", reasons.len() - 3));
            }
            (k, why)
        })
        .collect()
}

/// The report of realizing `h` with `outcome`; `enforced` are the generations realized before
/// and `enforced_pending` those of them pending (see the module documentation).
fn report(
    h: &Handed,
    enforced: &Generations,
    enforced_pending: &Pending,
    outcome: &Outcome,
) -> RealizationReport {
    let entry =
        |(kind, name): &Key, generation, failure: Option<String>, pending: Option<String>| {
            PolicyRealization {
                kind: kind.clone(),
                name: name.clone(),
                generation,
                failure: failure.as_deref().map(bounded_reason),
                pending: pending.as_deref().map(bounded_reason),
            }
        };
    let policies = match outcome {
        Outcome::Committed { unattached } => {
            let pending = pending_of(unattached, &h.owners);
            h.policies
                .iter()
                .map(|(k, g)| entry(k, *g, None, pending.get(k).cloned()))
                .collect()
        }
        Outcome::Refused { error, culprit } => {
            let culprits = culprit.as_ref().map(|c| h.owners.of(c)).unwrap_or_default();
            h.policies
                .iter()
                .map(|(k, g)| match culprit {
                    Some(PolicyRef::Rule(r)) if culprits.contains(k) => {
                        entry(k, *g, Some(format!("rule {}: {error}", r.rule)), None)
                    }
                    Some(PolicyRef::Isolation(_)) if culprits.contains(k) => {
                        entry(k, *g, Some(format!("isolation: {error}")), None)
                    }
                    _ if enforced.get(k) == Some(g) => {
                        entry(k, *g, None, enforced_pending.get(k).cloned())
                    }
                    Some(c) if !culprits.is_empty() => {
                        let why = format!(
                            "not applied: {c} was refused in the same bundle, so nothing of it \
                             was (the previous state stays enforced)"
                        );
                        entry(k, *g, None, Some(why))
                    }
                    _ => entry(k, *g, Some(error.clone()), None),
                })
                .collect()
        }
    };
    RealizationReport {
        version: h.version,
        policies,
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
            outcome: None,
            enforced: Generations::new(),
            enforced_pending: Pending::new(),
            sent: None,
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
        self.hand(u)
    }

    fn hand(&mut self, u: Update) -> Option<SourceEvent> {
        self.handed = Some(Handed {
            version: u.version,
            policies: u.policies,
            owners: u.owners,
        });
        self.outcome = None;
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
        self.hand(u)
    }

    /// Reports the realization of the last span handed out (sent in the background); see
    /// the module documentation.
    pub fn realized(&mut self, outcome: Outcome) {
        let Some(h) = &self.handed else {
            return;
        };
        if let Outcome::Committed { unattached } = &outcome {
            self.enforced = h.policies.clone();
            self.enforced_pending = pending_of(unattached, &h.owners);
        }
        self.outcome = Some(outcome);
        self.send();
    }

    /// Reports again after the input enforced was realized again with pods attached or
    /// detached: `outcome` (a commit) lists the local pods still not attached.
    pub fn reattached(&mut self, outcome: Outcome) {
        let (Some(h), Outcome::Committed { unattached }) = (&self.handed, &outcome) else {
            return;
        };
        self.enforced_pending = pending_of(unattached, &h.owners);
        if matches!(self.outcome, Some(Outcome::Committed { .. })) {
            self.outcome = Some(outcome);
        }
        self.send();
    }

    /// Sends the report of the handed span and its outcome, unless it is the one sent last.
    fn send(&mut self) {
        let (Some(h), Some(outcome)) = (&self.handed, &self.outcome) else {
            return;
        };
        let report = report(h, &self.enforced, &self.enforced_pending, outcome);
        if self.sent.as_ref() == Some(&report) {
            return;
        }
        self.sent = Some(report.clone());
        let version = h.version;
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
#[path = "controller_source_tests.rs"]
mod tests;
