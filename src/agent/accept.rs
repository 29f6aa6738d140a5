//! Per-object acceptance: each object of the input is accepted or refused on its own, as an API
//! server does, instead of one bad document freezing every change.
//!
//! An object's identity is [`ObjectId`]: apiVersion group (the Antrea and kakine CRD groups are
//! one), kind, namespace and name. The `Cluster` model documents are objects too, one per
//! document of each file. [`accept`] takes the documents of every input file, each parsed on its
//! own, and the [`LastGood`] versions (what was accepted before), and decides:
//!
//! - a document that does not parse or validate is **refused**: its last good version stays
//!   enforced, or, for an object never accepted, it is absent;
//! - a document of a kind that is not policy (`v1 ConfigMap`, `apps/v1 Deployment`, ...) is
//!   **skipped** with a warning;
//! - a file that is malformed YAML, or that holds a refused document, deletes nothing: objects
//!   that came from it and are missing now keep their last good version (an edit that breaks
//!   a document's name or kind must not delete the Drop policy it was);
//! - cross-object checks (unknown tier or group, duplicate names, tier priorities, the merged
//!   cluster model) blame the object the error names when that object changed; when the error
//!   names an unchanged object (a policy whose ClusterGroup was deleted), the change that broke
//!   it is found by undoing changes one at a time, and that change is refused instead (the
//!   ClusterGroup's deletion waits: its last good version stays). So a policy never loses what
//!   it references, and a refused edit of a Drop rule leaves the old Drop enforced.
//!
//! Pure: no I/O; the live source ([`crate::agent::watch`]) feeds it and keeps [`LastGood`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::policy::load::{self, Parsed, CLUSTER_API_VERSION, POLICY_GROUPS, POLICY_KINDS};
use crate::policy::model::{Cluster, PolicySet};
use crate::policy::{Location, PolicyError};

/// The identity of an input object (`kubectl`'s `kind.group namespace/name`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectId {
    /// apiVersion group (`crd.antrea.io` is written `crd.kakine.io`; core is empty).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace (K8s NetworkPolicy without one: `default`).
    pub namespace: Option<String>,
    /// Name (for a `Cluster` document: its file, and `#N` for the N-th in that file).
    pub name: String,
}

impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.kind)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        match &self.namespace {
            Some(ns) => write!(f, " {ns}/{}", self.name),
            None => write!(f, " {}", self.name),
        }
    }
}

impl ObjectId {
    /// The identity of a document, from its apiVersion, kind and metadata; `None` when one of
    /// them is missing (or, for a `Cluster`, from `file` and its index among the file's
    /// Cluster documents).
    pub fn of(doc: &Value, file: &Path, cluster_index: usize) -> Option<ObjectId> {
        let api = doc.get("apiVersion")?.as_str()?;
        let kind = doc.get("kind")?.as_str()?;
        if api == CLUSTER_API_VERSION && kind == "Cluster" {
            let mut name = file.display().to_string();
            if cluster_index > 0 {
                name.push_str(&format!("#{cluster_index}"));
            }
            return Some(ObjectId {
                group: "kakine.io".into(),
                kind: kind.into(),
                namespace: None,
                name,
            });
        }
        let meta = doc.get("metadata");
        let name = meta?.get("name")?.as_str().filter(|n| !n.is_empty())?;
        let group = match api.rsplit_once('/').map_or("", |(g, _)| g) {
            "crd.antrea.io" => "crd.kakine.io",
            g => g,
        };
        let mut namespace = meta
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if group == "networking.k8s.io" && kind == "NetworkPolicy" && namespace.is_none() {
            namespace = Some("default".into());
        }
        Some(ObjectId {
            group: group.into(),
            kind: kind.into(),
            namespace,
            name: name.into(),
        })
    }

    /// `name` or `namespace/name`.
    fn full_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// One accepted document: where it came from, its text as a value, and its parse.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    /// The input file.
    pub file: PathBuf,
    /// Its position among the file's documents (order of the merged cluster model).
    pub index: usize,
    /// The document.
    pub value: Value,
    /// Its parse.
    pub parsed: Parsed,
}

impl Doc {
    fn same(&self, other: &Doc) -> bool {
        self.file == other.file && self.value == other.value
    }
}

/// The last good version of every object: what was accepted last.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LastGood {
    /// By identity.
    pub docs: BTreeMap<ObjectId, Doc>,
}

impl LastGood {
    /// The objects of a saved `last-good.yaml` (`saved` is its path): each document after a
    /// `# from FILE` line is an object of FILE (documents before any such line, or that do not
    /// parse, are of `saved` or dropped). Written by [`LastGood::files`] and
    /// [`crate::agent::state::save_last_good`].
    pub fn from_saved(text: &str, saved: &Path) -> LastGood {
        let mut chunks: Vec<(PathBuf, String)> = vec![(saved.to_path_buf(), String::new())];
        for line in text.lines() {
            if line.trim_end() == "---" {
                let file = chunks.last().map(|c| c.0.clone()).unwrap_or_default();
                chunks.push((file, String::new()));
                continue;
            }
            let last = chunks.last_mut().expect("one chunk");
            if let Some(name) = line.strip_prefix("# from ") {
                if last.1.trim().is_empty() {
                    last.0 = serde_json::from_str::<String>(name)
                        .unwrap_or_else(|_| name.to_string())
                        .into();
                    continue;
                }
            }
            last.1.push_str(line);
            last.1.push('\n');
        }
        let mut out = LastGood::default();
        let mut counts: BTreeMap<PathBuf, (usize, usize)> = BTreeMap::new();
        for (file, text) in chunks {
            let Ok(docs) = parse_file(&file, &text) else {
                continue;
            };
            for (value, parsed) in docs {
                let (index, clusters) = counts.entry(file.clone()).or_default();
                let id = ObjectId::of(&value, &file, *clusters);
                if id.as_ref().is_some_and(|i| i.kind == "Cluster") {
                    *clusters += 1;
                }
                *index += 1;
                if let (Some(id), Ok(parsed)) = (id, parsed) {
                    let doc = Doc {
                        file: file.clone(),
                        index: *index - 1,
                        value,
                        parsed,
                    };
                    out.docs.insert(id, doc);
                }
            }
        }
        out
    }

    /// Every document as (file, one-line JSON), in file and document order: what
    /// `last-good.yaml` keeps ([`crate::agent::state::save_last_good`]).
    pub fn files(&self) -> Vec<(PathBuf, String)> {
        self.ordered()
            .into_iter()
            .map(|d| (d.file.clone(), d.value.to_string()))
            .collect()
    }

    fn ordered(&self) -> Vec<&Doc> {
        let mut docs: Vec<&Doc> = self.docs.values().collect();
        docs.sort_by(|a, b| (&a.file, a.index).cmp(&(&b.file, b.index)));
        docs
    }

    /// The merged cluster model and the policy objects, checked as a whole ([`load::assemble`]).
    pub fn assemble(&self) -> Result<(Option<Cluster>, PolicySet), PolicyError> {
        let docs = self.ordered();
        let mut files: Vec<(&Path, Vec<Parsed>)> = Vec::new();
        for d in docs {
            match files.last_mut() {
                Some((f, v)) if *f == d.file.as_path() => v.push(d.parsed.clone()),
                _ => files.push((d.file.as_path(), vec![d.parsed.clone()])),
            }
        }
        load::assemble(files.iter().map(|(f, v)| (*f, v.as_slice())))
    }
}

/// What stays enforced for a refused object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Enforced {
    /// Its last good version.
    LastGood,
    /// Nothing: it was never accepted.
    Absent,
}

/// One refused object (or file, when `object` is empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The input file.
    pub file: PathBuf,
    /// The object (`Kind.group namespace/name`), empty for a whole file.
    pub object: String,
    /// The kind (metric label; `File` for a whole file).
    pub kind: String,
    /// Why, naming file, object and field.
    pub reason: String,
    /// What stays enforced.
    pub enforced: Enforced,
}

impl Refusal {
    /// What was refused: the object, or `file PATH` for a whole file.
    pub fn what(&self) -> String {
        match self.object.is_empty() {
            true => format!("file {}", self.file.display()),
            false => self.object.clone(),
        }
    }
}

/// The refusals of `before` that `now` no longer has (the same object of the same file,
/// whatever the reason now): what a log says is "no longer refused".
pub fn no_longer_refused<'a>(
    before: &'a [Refusal],
    now: &'a [Refusal],
) -> impl Iterator<Item = &'a Refusal> + 'a {
    before
        .iter()
        .filter(move |r| !now.iter().any(|n| n.object == r.object && n.file == r.file))
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = self.what();
        let kept = match self.enforced {
            Enforced::LastGood => "its last good version stays enforced",
            Enforced::Absent => "it is absent",
        };
        write!(f, "{what} refused ({kept}): {}", self.reason)
    }
}

/// What [`accept`] made of an input.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The accepted objects: the next [`LastGood`].
    pub accepted: LastGood,
    /// The merged cluster model of the accepted objects.
    pub cluster: Cluster,
    /// The accepted policy objects.
    pub objects: PolicySet,
    /// Refused objects and files.
    pub refused: Vec<Refusal>,
    /// Documents skipped as not policy (one line each, naming file and object).
    pub skipped: Vec<String>,
}

/// The documents of one file: each document and its own parse, or the file's YAML error.
pub type FileDocs = Result<Vec<(Value, Result<Parsed, PolicyError>)>, PolicyError>;

/// Splits `text` into documents and parses each on its own.
pub fn parse_file(file: &Path, text: &str) -> FileDocs {
    Ok(load::parse_documents(file, text)?
        .into_iter()
        .map(|v| {
            // Every problem of the document in its refusal, not only the first.
            let p = match load::parse_document_all(&v, file) {
                (Some(p), problems) if problems.is_empty() => Ok(p),
                (_, problems) => {
                    Err(
                        PolicyError::all(problems).unwrap_or_else(|| PolicyError::Field {
                            at: Location::file(file),
                            message: "a document that neither parsed nor failed".to_string(),
                        }),
                    )
                }
            };
            (v, p)
        })
        .collect())
}

/// Decides every object of `files` (in name order) against `last`; see the module docs.
///
/// Errors: nothing enforceable (no `Cluster` document accepted, now or before), or the last good
/// objects themselves no longer check out; the error names file, object and field.
pub fn accept(files: &[(&Path, &FileDocs)], last: &LastGood) -> Result<Outcome, PolicyError> {
    let mut refused: Vec<Refusal> = Vec::new();
    let mut skipped = Vec::new();
    // Files whose missing objects keep their last good version.
    let mut holding: BTreeSet<&Path> = BTreeSet::new();
    let mut seen: BTreeMap<ObjectId, Vec<Doc>> = BTreeMap::new();
    let mut refused_ids: BTreeMap<ObjectId, (PathBuf, String)> = BTreeMap::new();
    for &(file, docs) in files {
        let docs = match docs {
            Ok(d) => d,
            Err(e) => {
                holding.insert(file);
                refused.push(Refusal {
                    file: file.to_path_buf(),
                    object: String::new(),
                    kind: "File".into(),
                    reason: e.to_string(),
                    enforced: Enforced::LastGood,
                });
                continue;
            }
        };
        let mut clusters = 0;
        for (index, (value, parsed)) in docs.iter().enumerate() {
            let id = ObjectId::of(value, file, clusters);
            if id.as_ref().is_some_and(|i| i.kind == "Cluster") {
                clusters += 1;
            }
            match (parsed, id) {
                (Ok(p), Some(id)) => seen.entry(id).or_default().push(Doc {
                    file: file.to_path_buf(),
                    index,
                    value: value.clone(),
                    parsed: p.clone(),
                }),
                (Err(e @ PolicyError::UnknownKind { .. }), Some(id)) if !is_policy(&id) => {
                    skipped.push(format!("{}: {id}: {}", file.display(), skip_reason(e)));
                }
                (Err(e), Some(id)) => {
                    holding.insert(file);
                    refused_ids
                        .entry(id)
                        .or_insert_with(|| (file.to_path_buf(), e.to_string()));
                }
                (parsed, None) => {
                    holding.insert(file);
                    let reason = match parsed {
                        Err(e) => e.to_string(),
                        Ok(_) => format!(
                            "{}: document {}: no apiVersion, kind or metadata.name",
                            file.display(),
                            index + 1
                        ),
                    };
                    refused.push(Refusal {
                        file: file.to_path_buf(),
                        object: String::new(),
                        kind: "File".into(),
                        reason,
                        enforced: Enforced::LastGood,
                    });
                }
            }
        }
    }

    // Candidates: one document per identity.
    let mut cand: BTreeMap<ObjectId, Doc> = BTreeMap::new();
    for (id, docs) in seen {
        if refused_ids.contains_key(&id) || docs.len() == 1 {
            if !refused_ids.contains_key(&id) {
                cand.insert(id, docs.into_iter().next().expect("one"));
            }
            continue;
        }
        // The same object twice: the definition that was accepted before stays, if any.
        let keep = last
            .docs
            .get(&id)
            .and_then(|l| docs.iter().position(|d| d.same(l)));
        let files: Vec<String> = docs.iter().map(|d| d.file.display().to_string()).collect();
        for (i, d) in docs.iter().enumerate() {
            if Some(i) != keep {
                refused_ids.entry(id.clone()).or_insert_with(|| {
                    let reason = format!(
                        "{}: {id}: metadata.name: duplicate (defined in {})",
                        d.file.display(),
                        files.join(", ")
                    );
                    (d.file.clone(), reason)
                });
            }
        }
        if let Some(i) = keep {
            refused_ids.remove(&id);
            let d = docs.into_iter().nth(i).expect("position");
            refused.push(Refusal {
                file: d.file.clone(),
                object: id.to_string(),
                kind: id.kind.clone(),
                reason: format!(
                    "{id}: metadata.name: duplicate (defined in {}); the first accepted definition stays",
                    files.join(", ")
                ),
                enforced: Enforced::LastGood,
            });
            cand.insert(id, d);
        }
    }
    for (id, (file, reason)) in refused_ids {
        let enforced = match last.docs.get(&id) {
            Some(l) => {
                cand.insert(id.clone(), l.clone());
                Enforced::LastGood
            }
            None => Enforced::Absent,
        };
        refused.push(Refusal {
            file,
            object: id.to_string(),
            kind: id.kind.clone(),
            reason,
            enforced,
        });
    }
    for (id, l) in &last.docs {
        if !cand.contains_key(id) && holding.contains(l.file.as_path()) {
            cand.insert(id.clone(), l.clone());
            refused.push(Refusal {
                file: l.file.clone(),
                object: id.to_string(),
                kind: id.kind.clone(),
                reason: format!(
                    "{}: {id}: missing, but the file has a refused document: its deletion waits until the file is accepted",
                    l.file.display()
                ),
                enforced: Enforced::LastGood,
            });
        }
    }

    let mut state = LastGood { docs: cand };
    loop {
        let e = match state.assemble() {
            Ok((Some(cluster), objects)) => {
                return Ok(Outcome {
                    accepted: state,
                    cluster,
                    objects,
                    refused,
                    skipped,
                })
            }
            Ok((None, _)) => {
                return Err(load::no_cluster(
                    files
                        .first()
                        .and_then(|(f, _)| f.parent())
                        .unwrap_or(Path::new("")),
                ))
            }
            Err(e) => e,
        };
        let changed: Vec<ObjectId> = changes(&state, last);
        if changed.is_empty() {
            return Err(e);
        }
        let blamed = blame(&e, &state);
        let culprit = match blamed.iter().find(|id| changed.contains(id)) {
            Some(id) => Some((id.clone(), e.to_string())),
            None => changed.iter().find_map(|c| {
                let trial = revert(&state, last, c);
                let fixed = match trial.assemble() {
                    Ok(_) => true,
                    Err(e2) => e2.to_string() != e.to_string(),
                };
                fixed.then(|| {
                    let what = if state.docs.contains_key(c) {
                        "this change"
                    } else {
                        "its deletion"
                    };
                    (c.clone(), format!("{what} would break another object: {e}"))
                })
            }),
        };
        match culprit {
            Some((id, reason)) => {
                let file = state
                    .docs
                    .get(&id)
                    .or_else(|| last.docs.get(&id))
                    .map(|d| d.file.clone())
                    .unwrap_or_default();
                state = revert(&state, last, &id);
                refused.push(Refusal {
                    file,
                    object: id.to_string(),
                    kind: id.kind.clone(),
                    reason,
                    enforced: if state.docs.contains_key(&id) {
                        Enforced::LastGood
                    } else {
                        Enforced::Absent
                    },
                });
            }
            None => {
                // No single change to blame: every change waits.
                for id in &changed {
                    let file = state
                        .docs
                        .get(id)
                        .or_else(|| last.docs.get(id))
                        .map(|d| d.file.clone())
                        .unwrap_or_default();
                    refused.push(Refusal {
                        file,
                        object: id.to_string(),
                        kind: id.kind.clone(),
                        reason: e.to_string(),
                        enforced: if last.docs.contains_key(id) {
                            Enforced::LastGood
                        } else {
                            Enforced::Absent
                        },
                    });
                }
                state = last.clone();
            }
        }
    }
}

/// Whether a document of this identity is policy (refused when bad) rather than skipped.
fn is_policy(id: &ObjectId) -> bool {
    POLICY_KINDS.contains(&id.kind.as_str()) || POLICY_GROUPS.contains(&id.group.as_str())
}

fn skip_reason(e: &PolicyError) -> String {
    match e {
        PolicyError::UnknownKind {
            api_version, kind, ..
        } => format!("{api_version} {kind} is not a policy kind: skipped"),
        other => other.to_string(),
    }
}

/// The identities whose candidate differs from the last good version (new, changed, deleted).
fn changes(state: &LastGood, last: &LastGood) -> Vec<ObjectId> {
    let mut out: Vec<ObjectId> = state
        .docs
        .iter()
        .filter(|(id, d)| last.docs.get(*id).is_none_or(|l| !l.same(d)))
        .map(|(id, _)| id.clone())
        .collect();
    out.extend(
        last.docs
            .keys()
            .filter(|id| !state.docs.contains_key(*id))
            .cloned(),
    );
    out
}

/// `state` with `id` back at its last good version (or absent if it has none).
fn revert(state: &LastGood, last: &LastGood, id: &ObjectId) -> LastGood {
    let mut s = state.clone();
    match last.docs.get(id) {
        Some(l) => s.docs.insert(id.clone(), l.clone()),
        None => s.docs.remove(id),
    };
    s
}

fn location(e: &PolicyError) -> Option<&Location> {
    crate::policy::validate_input::error_location(e).0
}

/// The objects of `state` an error names: same file, kind and name (a cluster-model error
/// names every `Cluster` document of its file).
fn blame(e: &PolicyError, state: &LastGood) -> Vec<ObjectId> {
    let Some(at) = location(e) else {
        return Vec::new();
    };
    let label = at.object.as_deref().unwrap_or("");
    let (kind_part, name) = match label.split_once(" \"") {
        Some((k, n)) => (k, n.trim_end_matches('"')),
        None => (label, ""),
    };
    let kind = kind_part.split_whitespace().next().unwrap_or("");
    state
        .docs
        .iter()
        .filter(|(id, d)| {
            d.file == at.file
                && id.kind == kind
                && (kind == "Cluster" || id.full_name() == name)
                && (!kind_part.contains("K8s") || id.group == "networking.k8s.io")
        })
        .map(|(id, _)| id.clone())
        .collect()
}

#[cfg(test)]
#[path = "accept_tests.rs"]
mod tests;
