//! The live loop: source changes, reconnects, drift checks and retries with backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openflow::conn::AsyncEvent;

use crate::agent::source::Source;
use crate::agent::watch::{DirSource, SourceEvent};

use super::*;

impl Live {
    /// Runs until `shutdown` resolves: source changes, reconnects, drift checks and retries.
    /// `source` is `None` when only the persisted state is enforced (the input directory is
    /// then watched as soon as it can be).
    pub async fn run(
        mut self,
        mut source: Option<Source>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let drift_every = if self.cfg.drift_interval.is_zero() {
            Duration::from_secs(3600 * 24 * 365)
        } else {
            self.cfg.drift_interval
        };
        let mut drift = tokio::time::interval(drift_every);
        drift.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        drift.tick().await;
        // What to redo after a failure: a source input or a resync.
        let mut pending: Option<Pending> = None;
        let mut backoff = Backoff::new();
        let mut retry_at: Option<tokio::time::Instant> = None;
        // Once a second: the input directory if it could not be watched yet, and pods whose
        // interface appeared or went away.
        let mut housekeeping = tokio::time::interval(Duration::from_secs(1));
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut told_missing = false;
        let reload = self.reload.clone();
        let mut cni_calls = self.cni.as_mut().and_then(|c| c.calls.take());
        // A controller source is never replaced by a watch of the input directory.
        let from_controller = matches!(source, Some(Source::Controller(_)));
        if let Some(src) = &mut source {
            // The source's current content (no file event happened yet).
            if let Some(ev) = src.current().await {
                self.report_input(&ev);
                pending = Some(Pending::Input(Box::new(ev)));
                retry_at = Some(tokio::time::Instant::now());
            }
        }
        loop {
            self.metrics.set_connected(
                "ovsdb",
                self.db.as_ref().is_some_and(|db| db.is_connected()),
            );
            let retry = async {
                match retry_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            let cni_deadline = self.cni_deadline();
            let cni_expiry = async {
                match cni_deadline {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                call = cni::next_call(&mut cni_calls) => match call {
                    Some(call) => if self.on_cni_call(call) { wake(&mut pending, &mut retry_at) },
                    None => cni_calls = None,
                },
                _ = cni_expiry => if self.expire_cni() { wake(&mut pending, &mut retry_at) },
                ev = next_source(&mut source) => {
                    match ev {
                        Some(ev) => { self.report_input(&ev); pending = Some(Pending::Input(Box::new(ev))); retry_at = Some(tokio::time::Instant::now()); backoff = Backoff::new(); }
                        None => { tracing::error!("the input source stopped"); source = None; }
                    }
                }
                _ = reload.notified() => match &source {
                    Some(Source::Controller(_)) => tracing::info!("re-read asked: the controller source follows the controller's stream"),
                    Some(Source::Dir(src)) => {
                        tracing::info!("re-reading {}", src.dir().display());
                        let ev = src.current().await;
                        self.report_input(&ev);
                        pending = Some(Pending::Input(Box::new(ev)));
                        retry_at = Some(tokio::time::Instant::now());
                        backoff = Backoff::new();
                    }
                    None => tracing::info!("{} is not watched yet: retried every second", self.cfg.agent.input.display()),
                },
                ev = self.events.next() => match ev {
                    Some(AsyncEvent::Reconnected { .. }) => {
                        self.stats.openflow_reconnects += 1;
                        self.metrics.reconnect("openflow");
                        self.metrics.reconnect_attempt("openflow", true);
                        self.metrics.set_connected("openflow", true);
                        tracing::warn!("OpenFlow connection back: reinstalling");
                        if !matches!(pending, Some(Pending::Input(_))) {
                            pending = Some(Pending::Resync(Instant::now()));
                        }
                        retry_at = Some(tokio::time::Instant::now());
                    }
                    Some(AsyncEvent::Disconnected(reason)) => {
                        self.metrics.set_connected("openflow", false);
                        tracing::warn!("OpenFlow connection to {} lost ({reason:?}); reconnecting", self.cfg.agent.of_socket.display());
                    }
                    Some(AsyncEvent::Message { .. }) => {}
                    None => { tracing::error!("OpenFlow connection ended"); return; }
                },
                _ = housekeeping.tick(), if pending.is_none() => {
                    if source.is_none() && !from_controller {
                        match DirSource::new(&self.cfg.agent.input, self.cfg.quiet) {
                            Ok(src) => {
                                tracing::info!("watching {}", self.cfg.agent.input.display());
                                if let Some(dir) = &self.cfg.state_dir {
                                    src.seed(crate::agent::watch::read_last_good(dir));
                                }
                                let ev = src.current().await;
                                self.report_input(&ev);
                                pending = Some(Pending::Input(Box::new(ev)));
                                retry_at = Some(tokio::time::Instant::now());
                                source = Some(Source::Dir(src));
                                told_missing = false;
                            }
                            Err(e) if !told_missing => {
                                tracing::warn!("{e}; retrying every second");
                                told_missing = true;
                            }
                            Err(_) => {}
                        }
                    }
                    if pending.is_none() && self.interfaces_changed() {
                        tracing::info!("a pod interface appeared or went away: attaching again");
                        pending = Some(Pending::Reattach(Instant::now()));
                        retry_at = Some(tokio::time::Instant::now());
                    }
                }
                _ = drift.tick(), if pending.is_none() => {
                    if self.db.as_ref().is_none_or(|db| !db.is_connected()) {
                        self.db = None;
                        if let Err(e) = self.db().await { tracing::warn!("{e}"); }
                    }
                    if let Err(e) = self.check_drift().await { tracing::warn!("drift check: {e}"); }
                }
                _ = retry => {
                    let outcome = match pending.take() {
                        Some(Pending::Input(ev)) => {
                            let at = ev.at;
                            match ev.input {
                                Err(e) => { self.stats.rejected += 1; tracing::error!("input rejected, the previous policy stays enforced: {e}"); Ok(()) }
                                Ok((p, files)) => {
                                    let p = Arc::new(p);
                                    // The controller source has no documents: last-good.yaml is left alone.
                                    let docs = (!files.is_empty()).then(|| files.clone());
                                    match self.realize(p.clone(), docs, Kind::Update, at).await {
                                        Ok(_) => { if let Some(s) = &mut source { s.realized(self.committed()) } Ok(()) }
                                        // The compiler refuses the same input every time (a flow too
                                        // large, two pods on one port): refused, not retried.
                                        Err(e @ AgentError::Compile(_)) => { self.stats.rejected += 1; self.report_refusal(&mut source, &e); tracing::error!("input rejected, the previous policy stays enforced: {e}"); Ok(()) }
                                        // A flow_mod the switch refused is reported, and retried (a
                                        // full table may get room); a lost connection only retried.
                                        Err(e) => { self.report_refusal(&mut source, &e); pending = Some(Pending::Input(Box::new(SourceEvent { at, input: Ok(((*p).clone(), files)), report: Default::default() }))); Err(e) }
                                    }
                                }
                            }
                        }
                        Some(Pending::Reattach(at)) => match self.current.clone() {
                            Some(p) => match self.realize(p, None, Kind::Update, at).await {
                                Ok(_) => { if let Some(s) = &mut source { s.reattached(self.committed()) } Ok(()) }
                                Err(e) => { pending = Some(Pending::Reattach(at)); Err(e) }
                            },
                            None => Ok(()),
                        },
                        Some(Pending::Resync(at)) => match self.resync(at).await {
                            Ok(()) => Ok(()),
                            Err(e) => { pending = Some(Pending::Resync(at)); Err(e) }
                        },
                        None => Ok(()),
                    };
                    match outcome {
                        Ok(()) => { retry_at = None; backoff = Backoff::new(); }
                        Err(e) => {
                            let d = backoff.next();
                            tracing::error!("{e}; retrying in {} ms", d.as_millis());
                            retry_at = Some(tokio::time::Instant::now() + d);
                        }
                    }
                }
            }
        }
    }
}

impl Live {
    /// Tells `source` of a refusal ([`Live::refusal`]); a failure that is no refusal is not
    /// reported (it is retried).
    fn report_refusal(&self, source: &mut Option<Source>, e: &AgentError) {
        if let (Some(s), Some(outcome)) = (source.as_mut(), self.refusal(e)) {
            s.realized(outcome);
        }
    }
}

/// Realizes the current input again soon (a CNI ADD or DEL), unless a realization is pending
/// anyway: it attaches the pods too.
fn wake(pending: &mut Option<Pending>, retry_at: &mut Option<tokio::time::Instant>) {
    if pending.is_none() {
        *pending = Some(Pending::Reattach(Instant::now()));
        *retry_at = Some(tokio::time::Instant::now());
    }
}

enum Pending {
    Input(Box<SourceEvent>),
    Resync(Instant),
    /// Pod interfaces changed: attach and realize the current input again.
    Reattach(Instant),
}

async fn next_source(source: &mut Option<Source>) -> Option<SourceEvent> {
    match source {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

/// Hands the heap pages freed by a realization (the compile's flow_mods, the bundle) back to
/// the kernel: glibc keeps them otherwise, and a 100k-flow compile would stay in the agent's
/// RSS for good (`malloc_trim(3)`).
#[allow(unsafe_code)]
pub fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Exponential backoff: 100 ms doubling to 5 s.
pub(super) struct Backoff(Duration);

impl Backoff {
    pub(super) fn new() -> Self {
        Backoff(Duration::from_millis(100))
    }
    pub(super) fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
        d
    }
    pub(super) async fn wait(&mut self) {
        tokio::time::sleep(self.next()).await;
    }
}
