//! The controller's state: the grouping index fed by batches of events, the fan-out of each
//! batch to the agents subscribed to its nodes, and the realization counts.
//!
//! One [`Controller`] is shared (an `Arc`) by the batch loop ([`Controller::run`]) and the
//! server's requests; its state sits behind one mutex, so that a subscription (snapshot or
//! resume, then registration) never misses or repeats a delta. Each subscriber has a bounded
//! buffer ([`SUBSCRIBER_BUFFER`] frames): a subscriber whose buffer is full when a delta comes
//! is cut off (its stream ends) and resumes from its version when it reconnects, so a slow
//! agent never holds deltas for the others or grows the controller's memory (the lesson of
//! antrea-io/antrea#277 and #292).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::realization::{self, PolicyGenerations, Realization, RealizationReport};
use crate::controlplane::{Change, FanOut, Frame, Resume, Touched, DEFAULT_HISTORY};
use crate::grouping::{Event, Grouping};

/// Frames buffered per subscriber before it is cut off.
pub const SUBSCRIBER_BUFFER: usize = 256;

/// The batch a source sends once its initial content is sent (the standalone directory's
/// first valid content; every Kubernetes watcher's initial list): the empty batch. Batches are
/// applied in order, so it is applied after that content ([`Controller::synced`]).
pub const SYNCED: Vec<Event> = Vec::new();

/// How often the realization counts are recomputed when reports or batches came.
pub const REALIZATION_EVERY: Duration = Duration::from_millis(200);

struct Subscriber {
    tx: mpsc::Sender<Arc<Frame>>,
}

struct State {
    grouping: Grouping,
    fanout: FanOut,
    subscribers: BTreeMap<String, Vec<Subscriber>>,
    /// The last report of each node.
    reports: BTreeMap<String, RealizationReport>,
    /// Each policy's generation, from what was sent.
    generations: PolicyGenerations,
    /// Reports or batches since the counts were last computed.
    dirty: bool,
    /// Subscribers cut off for a full buffer, in all.
    cut_off: u64,
}

/// The controller; see the module documentation.
pub struct Controller {
    state: Mutex<State>,
    realization: watch::Sender<Realization>,
    /// The source's initial content is applied ([`Controller::synced`]).
    synced: AtomicBool,
}

/// A subscription: the frames of one node's span, snapshot or resume first.
pub struct Subscription {
    /// The frames; the stream ends when the subscriber is cut off or the controller stops.
    pub frames: mpsc::Receiver<Arc<Frame>>,
}

impl Controller {
    /// A controller with an empty grouping whose first version is `first` (the controller
    /// uses its start time in microseconds; see [`crate::controlplane::fanout`]).
    pub fn new(first: u64) -> Arc<Self> {
        Arc::new(Controller {
            state: Mutex::new(State {
                grouping: Grouping::new(),
                fanout: FanOut::new(first, DEFAULT_HISTORY),
                subscribers: BTreeMap::new(),
                reports: BTreeMap::new(),
                generations: PolicyGenerations::default(),
                dirty: false,
                cut_off: 0,
            }),
            realization: watch::channel(Realization::new()).0,
            synced: AtomicBool::new(false),
        })
    }

    /// Whether the source's initial content is applied: until then no span is served (an
    /// empty grouping would tell every agent to remove every pod and policy) and `/readyz`
    /// answers 503. A source marks it by sending [`SYNCED`] after its initial batches.
    pub fn synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// A first version for [`Controller::new`]: now in microseconds since the epoch.
    pub fn first_version() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_micros() as u64)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies one batch of events and sends each subscribed node its delta. The empty batch
    /// ([`SYNCED`]) marks the source's initial content applied ([`Controller::synced`]).
    pub fn apply(&self, batch: Vec<Event>) {
        if batch.is_empty() {
            if !self.synced.swap(true, Ordering::AcqRel) {
                tracing::info!("the source's initial content is applied: spans are served");
            }
            return;
        }
        let mut st = self.lock();
        let st = &mut *st;
        let mut touched = Touched::default();
        for e in batch {
            touched.apply(&mut st.grouping, e);
        }
        let deltas = st.fanout.apply_touched(&st.grouping, &touched);
        let version = st.fanout.version();
        // Each policy put once per batch: its content is the same for every node.
        let mut seen = std::collections::HashSet::new();
        for d in deltas.values() {
            for c in &d.changes {
                if let Change::PolicyPut(p) = c {
                    if seen.insert((p.kind.as_str(), p.name.as_str())) {
                        st.generations.observe(p, d.version);
                    }
                }
            }
        }
        for (node, subs) in &mut st.subscribers {
            let frame = match deltas.get(node) {
                Some(d) => Arc::new(Frame::Delta((**d).clone())),
                None => Arc::new(Frame::Bookmark { version }),
            };
            let before = subs.len();
            subs.retain(|s| s.tx.try_send(frame.clone()).is_ok());
            if subs.len() < before {
                tracing::warn!(
                    "{} subscriber(s) of node {node} cut off (buffer full or gone); they resume on reconnect",
                    before - subs.len()
                );
                st.cut_off += (before - subs.len()) as u64;
            }
        }
        st.subscribers.retain(|_, s| !s.is_empty());
        st.dirty = true;
    }

    /// Subscribes to node `node`'s span: a snapshot, or the deltas after `since` when it lies
    /// in the node's history, then every delta (and a bookmark per batch without one).
    pub fn subscribe(&self, node: &str, since: Option<u64>) -> Subscription {
        let mut st = self.lock();
        let st = &mut *st;
        st.fanout.track(node, &st.grouping);
        let version = st.fanout.version();
        let first: Vec<Frame> = match since.and_then(|v| st.fanout.resume(node, v)) {
            Some(Resume::Deltas(ds)) => ds
                .iter()
                .map(|d| Frame::Delta((**d).clone()))
                .chain([Frame::Bookmark { version }])
                .collect(),
            Some(Resume::Snapshot(s)) => vec![Frame::Snapshot(s)],
            None => st
                .fanout
                .snapshot(node)
                .map(Frame::Snapshot)
                .into_iter()
                .collect(),
        };
        // A snapshot may carry content no delta carried (changed while no node held it).
        if let Some(Frame::Snapshot(s)) = first.first() {
            for p in &s.policies {
                st.generations.observe(p, s.version);
            }
        }
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER.max(first.len() + 1));
        for f in first {
            let _ = tx.try_send(Arc::new(f));
        }
        st.subscribers
            .entry(node.to_string())
            .or_default()
            .push(Subscriber { tx });
        match since {
            Some(v) => tracing::info!("node {node}: subscribed from version {v} at {version}"),
            None => tracing::info!("node {node}: subscribed (a snapshot) at {version}"),
        }
        if !st.grouping.nodes.is_empty() && !st.grouping.nodes.contains_key(node) {
            let known: Vec<&str> = st.grouping.nodes.keys().map(String::as_str).collect();
            tracing::warn!(
                "node {node} is not in the cluster model (its nodes: {}): it is sent the span of \
                 a node without pods (a mistyped --node, or a node removed from the model)",
                known.join(", ")
            );
        }
        Subscription { frames: rx }
    }

    /// Sends every subscriber a bookmark (keepalive), cutting off those whose buffer is full.
    pub fn bookmark(&self) {
        let mut st = self.lock();
        let frame = Arc::new(Frame::Bookmark {
            version: st.fanout.version(),
        });
        for subs in st.subscribers.values_mut() {
            subs.retain(|s| !s.tx.is_closed() && s.tx.try_send(frame.clone()).is_ok());
        }
        st.subscribers.retain(|_, s| !s.is_empty());
    }

    /// Records node `node`'s realization report.
    pub fn report(&self, node: &str, report: RealizationReport) {
        let mut st = self.lock();
        st.reports.insert(node.to_string(), report);
        st.dirty = true;
    }

    /// The per-policy realization counts, updated at most every [`REALIZATION_EVERY`].
    pub fn realization(&self) -> watch::Receiver<Realization> {
        self.realization.subscribe()
    }

    /// Subscribers cut off for a full buffer since the start.
    pub fn cut_off(&self) -> u64 {
        self.lock().cut_off
    }

    /// The current version.
    pub fn version(&self) -> u64 {
        self.lock().fanout.version()
    }

    /// Recomputes the realization counts when reports or batches came since the last time.
    pub fn update_realization(&self) {
        let counts = {
            let mut st = self.lock();
            if !st.dirty {
                return;
            }
            st.dirty = false;
            let st = &mut *st;
            let live: std::collections::HashSet<(&str, &str)> = st
                .grouping
                .policies
                .keys()
                .map(|k| (k.kind, k.name.as_str()))
                .collect();
            st.generations
                .retain(|kind, name| live.contains(&(kind, name)));
            counts(st)
        };
        self.realization.send_if_modified(|c| {
            let changed = *c != counts;
            *c = counts;
            changed
        });
    }

    /// Applies the batches of `batches` until it closes (the kube layer's watchers or the
    /// standalone directory feed it), keeping subscribers alive with a bookmark every
    /// `keepalive` and the realization counts fresh.
    pub async fn run(
        self: Arc<Self>,
        mut batches: mpsc::Receiver<Vec<Event>>,
        keepalive: Duration,
    ) {
        let mut bookmark = tokio::time::interval(keepalive);
        let mut realization = tokio::time::interval(REALIZATION_EVERY);
        loop {
            tokio::select! {
                b = batches.recv() => match b {
                    Some(b) => {
                        let me = self.clone();
                        // The batch's fan-out is CPU work: off the runtime's reactor threads.
                        let _ = tokio::task::spawn_blocking(move || me.apply(b)).await;
                    }
                    None => return,
                },
                _ = bookmark.tick() => self.bookmark(),
                _ = realization.tick() => self.update_realization(),
            }
        }
    }
}

/// The counts of every policy ([`realization::count`]): its span, its generation, the
/// nodes' last reports.
fn counts(st: &State) -> Realization {
    realization::count(
        st.grouping.policies.iter().map(|(key, p)| {
            (
                key,
                st.grouping.policy_span(p),
                st.generations.get(key.kind, &key.name),
            )
        }),
        &st.reports,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controlplane::NodeSpan;
    use tokio::sync::mpsc::error::TryRecvError;

    fn pod(i: usize) -> Event {
        Event::PodUpsert(
            serde_json::from_value(serde_json::json!({
                "namespace": "ns", "name": format!("p{i}"),
                "ip": format!("10.1.{}.{}", i / 200, i % 200 + 1), "node": "n1",
            }))
            .expect("a pod"),
        )
    }

    #[test]
    fn a_slow_subscriber_is_cut_off_and_catches_up_when_it_resumes() {
        let c = Controller::new(100);
        c.apply(vec![pod(0)]);
        let mut sub = c.subscribe("n1", None);
        let n = SUBSCRIBER_BUFFER + 10;
        for i in 1..n {
            c.apply(vec![pod(i)]);
        }
        // Its buffer filled: cut off, the others (none here) unaffected.
        assert_eq!(c.cut_off(), 1);
        let mut span = NodeSpan::default();
        loop {
            match sub.frames.try_recv() {
                Ok(f) => span.apply(&f).unwrap(),
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => panic!("a cut-off stream ends"),
            }
        }
        assert!(span.version < c.version());
        assert_eq!(span.derive_from().pods.len(), SUBSCRIBER_BUFFER);
        // It resumes from what it had: 10 deltas behind, inside the history, so the deltas
        // since and a bookmark.
        let mut sub = c.subscribe("n1", Some(span.version));
        let mut deltas = 0;
        loop {
            let f = sub.frames.try_recv().unwrap();
            span.apply(&f).unwrap();
            match &*f {
                Frame::Delta(_) => deltas += 1,
                Frame::Bookmark { .. } => break,
                Frame::Snapshot(_) => panic!("a resume inside the history is no snapshot"),
            }
        }
        assert_eq!(deltas, 10);
        assert_eq!(span.version, c.version());
        assert_eq!(span.derive_from().pods.len(), n);
        // From before the history: a snapshot.
        let mut sub = c.subscribe("n1", Some(101));
        assert!(matches!(
            *sub.frames.try_recv().unwrap(),
            Frame::Snapshot(_)
        ));
        // Caught up: a resume from the current version is a bookmark only.
        let mut sub = c.subscribe("n1", Some(c.version()));
        assert!(matches!(
            *sub.frames.try_recv().unwrap(),
            Frame::Bookmark { .. }
        ));
        assert!(matches!(sub.frames.try_recv(), Err(TryRecvError::Empty)));
    }
}
