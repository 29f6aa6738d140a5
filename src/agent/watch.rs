//! The standalone event source: a watched input directory.
//!
//! [`DirSource`] watches the directory with the `notify` crate (inotify on Linux) and turns a
//! burst of file events (an editor's write-rename, `cp` of several files) into one
//! [`SourceEvent`] after a quiet period, carrying the time of the first event of the burst so
//! that realization latency is measured from the change, not from the end of the debounce. The
//! event carries the whole input, loaded and resolved: the live agent diffs flows, not objects,
//! so a snapshot is all it needs (the controller stream will deliver the same shape).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use std::collections::BTreeMap;

use crate::agent::accept::{self, FileDocs, LastGood, Refusal};
use crate::agent::dirwatch::{PathWatch, RECHECK};
use crate::policy::resolved::ResolvedPolicies;

/// One change of the source: the new input, or why it was rejected as a whole.
#[derive(Debug)]
pub struct SourceEvent {
    /// When the first file event of this change was seen.
    pub at: Instant,
    /// The accepted objects, resolved, and their documents (file, text); or the error naming
    /// file, object and field when nothing can be enforced (no cluster model accepted).
    pub input: Result<Loaded, String>,
    /// The objects refused and the documents skipped ([`crate::agent::accept`]).
    pub report: Report,
}

/// A loaded input: the resolved policies and the accepted documents (file, text), what
/// `last-good.yaml` keeps.
pub type Loaded = (ResolvedPolicies, Vec<(PathBuf, String)>);

/// What was refused or skipped in one input.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    /// Refused objects and files (a whole input refused is one refusal of kind `Input`).
    pub refused: Vec<Refusal>,
    /// Documents skipped as not policy.
    pub skipped: Vec<String>,
}

/// Loads and resolves a directory with nothing accepted before.
pub fn load(dir: &Path) -> Result<Loaded, String> {
    load_for(dir, None)
}

/// [`load`] resolving only the view of `node` (all of it with `None`). A one-shot load has no
/// last good version to fall back on, so any refused object fails it, with every error of the
/// input named (file, object, field; [`crate::policy::validate_input`]); skipped documents that
/// are not policy do not.
pub fn load_for(dir: &Path, node: Option<&str>) -> Result<Loaded, String> {
    let (loaded, report) = Loader {
        node: node.map(str::to_string),
        ..Loader::default()
    }
    .load(dir);
    if !report.refused.is_empty() {
        // Every error of the input, as `kakinectl validate` lists them: one refusal can hide
        // others (a refused Cluster document leaves only "no Cluster document").
        let all = crate::policy::validate_input::validate_paths(&[dir.to_path_buf()]);
        let reasons: Vec<String> = match all.errors.is_empty() {
            true => report.refused.iter().map(|r| r.reason.clone()).collect(),
            false => all.errors.iter().map(ToString::to_string).collect(),
        };
        return Err(reasons.join("\n"));
    }
    loaded
}

/// A directory loader that keeps each file's parsed documents and parses again only the files
/// whose text changed (a one-policy edit costs the parse of that file, not of the whole
/// input), and the last good version of every object, against which each object of the next
/// input is accepted or refused on its own ([`accept::accept`]).
#[derive(Debug, Default)]
pub struct Loader {
    /// Path -> (text, its documents).
    cache: BTreeMap<PathBuf, (String, FileDocs)>,
    /// The last accepted objects.
    last: LastGood,
    /// With a node, only its view is resolved ([`crate::grouping::derive::view`]).
    node: Option<String>,
}

impl Loader {
    /// Starts from `last` (the state directory's `last-good.yaml`) instead of nothing.
    pub fn seed(&mut self, last: LastGood) {
        self.last = last;
    }

    /// [`load`], reusing the parse of every unchanged file; the accepted objects become the
    /// last good ones.
    pub fn load(&mut self, dir: &Path) -> (Result<Loaded, String>, Report) {
        match self.load_inner(dir) {
            Ok((loaded, report)) => (Ok(loaded), report),
            Err(e) => {
                let refusal = Refusal {
                    file: dir.to_path_buf(),
                    object: String::new(),
                    kind: "Input".into(),
                    reason: e.clone(),
                    enforced: accept::Enforced::LastGood,
                };
                let report = Report {
                    refused: vec![refusal],
                    skipped: Vec::new(),
                };
                (Err(e), report)
            }
        }
    }

    fn load_inner(&mut self, dir: &Path) -> Result<(Loaded, Report), String> {
        let (outcome, report) = self.accept_dir(dir)?;
        let resolved =
            crate::grouping::resolve_node(&outcome.cluster, &outcome.objects, self.node.as_deref())
                .map_err(|e| e.to_string())?;
        let files = outcome.accepted.files();
        self.last = outcome.accepted;
        Ok(((resolved, files), report))
    }

    /// The objects of `dir` accepted against the last good ones (through the parse cache),
    /// not resolved; the caller makes `outcome.accepted` the last good objects
    /// ([`Loader::seed`]) once it took them. The controller's standalone source reads its
    /// directory so.
    ///
    /// Errors: the directory or a file cannot be read; no cluster model can be assembled.
    pub fn accept_dir(&mut self, dir: &Path) -> Result<(accept::Outcome, Report), String> {
        let files = crate::agent::state::input_files(dir).map_err(|e| e.to_string())?;
        let mut texts = Vec::with_capacity(files.len());
        for path in &files {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            texts.push((path.clone(), text));
        }
        self.cache.retain(|p, _| files.contains(p));
        for (path, text) in texts {
            if self.cache.get(&path).is_some_and(|(t, _)| *t == text) {
                continue;
            }
            let docs = accept::parse_file(&path, &text);
            self.cache.insert(path, (text, docs));
        }
        let input: Vec<(&Path, &FileDocs)> = self
            .cache
            .iter()
            .map(|(p, (_, d))| (p.as_path(), d))
            .collect();
        let mut outcome = accept::accept(&input, &self.last).map_err(|e| e.to_string())?;
        let report = Report {
            refused: std::mem::take(&mut outcome.refused),
            skipped: std::mem::take(&mut outcome.skipped),
        };
        Ok((outcome, report))
    }
}

/// A watched input directory; see the module docs.
pub struct DirSource {
    dir: PathBuf,
    rx: mpsc::UnboundedReceiver<Instant>,
    quiet: Duration,
    /// The parse cache, shared with the blocking load task.
    loader: std::sync::Arc<std::sync::Mutex<Loader>>,
    /// The first file event of the change being debounced.
    first: Option<Instant>,
    /// The load of the change, once debounced.
    loading: Option<tokio::task::JoinHandle<(Result<Loaded, String>, Report)>>,
    /// The watch, following the path ([`crate::agent::dirwatch`]).
    watch: PathWatch,
    /// When to resolve the path again.
    recheck: tokio::time::Interval,
}

impl DirSource {
    /// Starts watching `dir`, following the path when the directory is replaced or a symlink
    /// to it swapped ([`crate::agent::dirwatch`]; checked every [`RECHECK`]). `quiet` is the
    /// debounce: a change is reported once no file event has arrived for that long (20 ms is
    /// plenty for editors and `cp`).
    ///
    /// Errors: the directory cannot be watched (missing, no inotify instances left).
    pub fn new(dir: &Path, quiet: Duration) -> Result<Self, String> {
        let (tx, rx) = mpsc::unbounded_channel();
        let watch = PathWatch::new(dir, move || {
            let _ = tx.send(Instant::now());
        })?;
        let mut recheck = tokio::time::interval(RECHECK);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(DirSource {
            dir: dir.to_path_buf(),
            rx,
            quiet,
            loader: Default::default(),
            first: None,
            loading: None,
            watch,
            recheck,
        })
    }

    /// Resolves only the view of `node` from now on (`kakine-agent --node`): the policies whose
    /// span holds the node, and the pods they need.
    pub fn for_node(self, node: Option<String>) -> Self {
        self.loader.lock().unwrap_or_else(|e| e.into_inner()).node = node;
        self
    }

    /// The directory's current content (no file event needed), through the parse cache.
    pub async fn current(&self) -> SourceEvent {
        let (dir, loader) = (self.dir.clone(), self.loader.clone());
        let at = Instant::now();
        let (input, report) =
            tokio::task::spawn_blocking(move || loader.lock().expect("loader lock").load(&dir))
                .await
                .unwrap_or_else(|e| {
                    (
                        Err(format!("loading the input failed: {e}")),
                        Report::default(),
                    )
                });
        SourceEvent { at, input, report }
    }

    /// Objects are accepted against `last` from now on (the state directory's last good
    /// objects, read with [`read_last_good`]).
    pub fn seed(&self, last: LastGood) {
        self.loader.lock().expect("loader lock").seed(last);
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The next change, loaded; `None` if the watcher stopped.
    ///
    /// Cancel-safe (it is polled in a `select!`): a change seen, or a load started, by a
    /// dropped call is returned by the next one.
    pub async fn next(&mut self) -> Option<SourceEvent> {
        if self.loading.is_none() {
            while self.first.is_none() {
                tokio::select! {
                    t = self.rx.recv() => self.first = Some(t?),
                    _ = self.recheck.tick() => {
                        if self.watch.recheck() {
                            self.first = Some(Instant::now());
                        }
                    }
                }
            }
            loop {
                match tokio::time::timeout(self.quiet, self.rx.recv()).await {
                    Ok(Some(_)) => continue,
                    Ok(None) => return None,
                    Err(_) => break,
                }
            }
            let dir = self.dir.clone();
            let loader = self.loader.clone();
            self.loading = Some(tokio::task::spawn_blocking(move || {
                loader.lock().expect("loader lock").load(&dir)
            }));
        }
        let handle = self.loading.as_mut().expect("set above");
        let (input, report) = handle.await.unwrap_or_else(|e| {
            (
                Err(format!("loading the input failed: {e}")),
                Report::default(),
            )
        });
        self.loading = None;
        let at = self.first.take().unwrap_or_else(Instant::now);
        Some(SourceEvent { at, input, report })
    }
}

/// The last good objects saved in `state_dir` (`last-good.yaml`), each with the input file it
/// came from; none when there is no such file.
pub fn read_last_good(state_dir: &Path) -> LastGood {
    let path = state_dir.join(crate::agent::state::LAST_GOOD);
    match std::fs::read_to_string(&path) {
        Ok(text) => LastGood::from_saved(&text, &path),
        Err(_) => LastGood::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_of_writes_is_one_event_and_bad_input_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut src = DirSource::new(dir.path(), Duration::from_millis(50)).unwrap();
        for f in crate::agent::state::input_files(&examples).unwrap() {
            std::fs::copy(&f, dir.path().join(f.file_name().unwrap())).unwrap();
        }
        let ev = tokio::time::timeout(Duration::from_secs(5), src.next())
            .await
            .unwrap()
            .unwrap();
        let (policies, docs) = ev.input.unwrap();
        // One entry per accepted document, from the two files.
        let files: std::collections::BTreeSet<_> = docs.iter().map(|(p, _)| p).collect();
        assert_eq!(files.len(), 2);
        assert!(docs.len() > 2);
        assert!(!policies.rules.is_empty());
        assert!(ev.at.elapsed() >= Duration::from_millis(50));

        std::fs::write(dir.path().join("zz-bad.yaml"), "kind: [").unwrap();
        let ev = tokio::time::timeout(Duration::from_secs(5), src.next())
            .await
            .unwrap()
            .unwrap();
        // The bad file is refused on its own; the rest stays accepted.
        assert!(ev.input.is_ok());
        let e = &ev.report.refused[0];
        assert_eq!(e.kind, "File");
        assert!(e.reason.contains("zz-bad.yaml"), "{e}");
    }

    #[tokio::test]
    async fn a_replaced_directory_is_read_not_the_old_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("input");
        std::fs::create_dir(&dir).unwrap();
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let files = crate::agent::state::input_files(&examples).unwrap();
        for f in &files {
            std::fs::copy(f, dir.join(f.file_name().unwrap())).unwrap();
        }
        let mut src = DirSource::new(&dir, Duration::from_millis(20)).unwrap();
        assert!(src.current().await.input.is_ok());
        // mv dir dir.old; mkdir dir; (the move is the old directory's last event, read now)
        std::fs::rename(&dir, tmp.path().join("input.old")).unwrap();
        std::fs::create_dir(&dir).unwrap();
        let _ = tokio::time::timeout(Duration::from_millis(500), src.next()).await;
        // cp dir.old/* dir/ (plus a bad file to recognize it by): events of the new directory.
        for f in &files {
            std::fs::copy(f, dir.join(f.file_name().unwrap())).unwrap();
        }
        std::fs::write(dir.join("zz-new.yaml"), "kind: [").unwrap();
        let seen = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let ev = src.next().await.unwrap();
                if ev
                    .report
                    .refused
                    .iter()
                    .any(|r| r.reason.contains("zz-new.yaml"))
                {
                    return ev;
                }
            }
        })
        .await
        .expect("the new directory is read within 5 s");
        assert!(seen.input.is_ok());
    }
}
