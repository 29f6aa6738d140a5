//! `kakinectl validate`: every problem of a set of files at once, as the API server would
//! report them on `kubectl apply`, without a cluster.
//!
//! Per file: unreadable files, invalid UTF-8 (with its line), malformed YAML (with the
//! document's object and the field path, [`super::yaml_context`]); per document, every check of
//! [`super::validate_raw`] and the typed parse; across documents, the set checks of
//! [`super::validate::problems`] (which include [`set_problems`]). The same object twice is not an error: the later
//! wins with a warning, as `kubectl apply` of both would leave it. An input without any object
//! is an error (`kubectl apply`: "no objects passed to apply").

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::error::{Location, PolicyError};
use super::lint::Warning;
use super::load::{parse_document_all, parse_documents, Parsed};
use super::model::{Origin, PolicySet};
use super::validate::BUILTIN_TIERS;

/// Antrea `validate.go`: `maxSupportedTiers` (built-in tiers included).
pub const MAX_TIERS: usize = 20;

/// Everything `validate` found.
#[derive(Debug, Default)]
pub struct Report {
    /// Problems the API server would refuse.
    pub errors: Vec<PolicyError>,
    /// Accepted, but probably not meant (duplicates, lint findings).
    pub warnings: Vec<Warning>,
    /// How many objects were read.
    pub objects: usize,
}

/// Validates every YAML file of `paths` (directories: their `.yaml` / `.yml` files, sorted).
pub fn validate_paths(paths: &[PathBuf]) -> Report {
    let mut report = Report::default();
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            match std::fs::read_dir(p) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|f| f.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                        .collect();
                    found.sort();
                    files.extend(found);
                }
                Err(source) => report.errors.push(PolicyError::Io {
                    path: p.clone(),
                    source,
                }),
            }
        } else {
            files.push(p.clone());
        }
    }
    let mut parsed = Vec::new();
    for f in &files {
        match std::fs::read(f) {
            Ok(bytes) => {
                let docs = validate_bytes(f, &bytes, &mut report.errors);
                parsed.push((f.clone(), docs));
            }
            Err(source) => report.errors.push(PolicyError::Io {
                path: f.clone(),
                source,
            }),
        }
    }
    let super::load::Gathered {
        cluster,
        mut objects,
        errors: model_errors,
        warnings: model_warnings,
    } = super::load::gather(parsed.iter().map(|(f, d)| (f.as_path(), d.as_slice())));
    report.objects = objects.len();
    if report.objects == 0 && cluster.is_none() && report.errors.is_empty() {
        report.errors.push(PolicyError::Invalid {
            at: Location::default(),
            message: "no objects passed to validate (the input holds no document)".to_string(),
        });
    }
    report.errors.extend(model_errors);
    report.warnings.extend(model_warnings);
    report.warnings.extend(dedupe(&mut objects));
    let set_errors = super::validate::problems(&objects);
    let clean = report.errors.is_empty() && set_errors.is_empty();
    report.errors.extend(set_errors);
    // A check made twice (on the document as written and on the typed object) is one error.
    report.errors = PolicyError::distinct(std::mem::take(&mut report.errors));
    if clean {
        if let Ok(r) = super::resolve::resolve(&cluster.unwrap_or_default(), &objects) {
            report.warnings.extend(r.warnings);
        }
    }
    report
}

/// The objects of one file's bytes, every problem pushed to `errors`.
pub fn validate_bytes(file: &Path, bytes: &[u8], errors: &mut Vec<PolicyError>) -> Vec<Parsed> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let before = &bytes[..e.valid_up_to()];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            let column = before.len()
                - before
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |p| p + 1)
                + 1;
            errors.push(PolicyError::Yaml {
                file: file.to_path_buf(),
                message: format!("invalid UTF-8 at line {line}, column {column}"),
            });
            return Vec::new();
        }
    };
    let docs = match parse_documents(file, text) {
        Ok(docs) => docs,
        // One bad document spoils the file for the parser: parse the documents one by one, so
        // the others are still checked and every bad one is named.
        Err(_) => {
            let mut docs = Vec::new();
            let mut first_line = 1;
            for chunk in split_documents(text) {
                let lines = chunk.lines().count();
                match parse_documents(file, chunk) {
                    Ok(d) => docs.extend(d),
                    Err(PolicyError::Yaml { message, .. }) => {
                        errors.push(yaml_error(file, chunk, first_line, &message))
                    }
                    Err(e) => errors.push(e),
                }
                first_line += lines + 1;
            }
            docs
        }
    };
    let mut out = Vec::new();
    // Other Kubernetes objects (a ConfigMap beside the policies) are skipped, as the agent and
    // the loader skip them.
    for doc in docs.iter().filter(|d| super::load::is_policy_document(d)) {
        let (parsed, problems) = parse_document_all(doc, file);
        errors.extend(problems);
        out.extend(parsed);
    }
    out
}

/// The text of each `---`-separated document (the separator lines dropped).
fn split_documents(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    for l in text.split_inclusive('\n') {
        if l.starts_with("---") {
            out.push(&text[start..pos]);
            start = pos + l.len();
        }
        pos += l.len();
    }
    out.push(&text[start..]);
    out
}

/// A parser error of the document `chunk` (starting at `first_line` of the file) with its
/// object and field path, and the line renumbered to the file's.
fn yaml_error(file: &Path, chunk: &str, first_line: usize, message: &str) -> PolicyError {
    let Some(line) = super::yaml_context::line_of(message) else {
        return PolicyError::Yaml {
            file: file.to_path_buf(),
            message: message.to_string(),
        };
    };
    let file_line = line + first_line - 1;
    let message = message.replacen(&format!("line {line}"), &format!("line {file_line}"), 1);
    PolicyError::Field {
        at: Location {
            file: file.to_path_buf(),
            object: super::yaml_context::object_at(chunk, line),
            field: super::yaml_context::path_at(chunk, line),
        },
        message: format!("malformed YAML: {message}"),
    }
}

/// The checks across objects the other validators do not make, every one reported: at most
/// [`MAX_TIERS`] tiers (Antrea `validate.go`, `createValidate` of Tier), and tier references
/// matched case-sensitively (object names are lowercase, so `APPLICATION` names no tier).
pub fn set_problems(objects: &PolicySet) -> Vec<PolicyError> {
    let mut out = Vec::new();
    let total = BUILTIN_TIERS.len() + objects.tiers.len();
    if total > MAX_TIERS {
        let t = &objects.tiers[objects.tiers.len() - 1];
        out.push(PolicyError::Invalid {
            at: super::validate::object_at(&t.origin, "Tier", &t.metadata.name, ""),
            message: format!(
                "maximum number of Tiers supported: {MAX_TIERS} (the {} built-in ones included; \
                 this input has {total})",
                BUILTIN_TIERS.len()
            ),
        });
    }
    for p in &objects.antrea_policies {
        if let Some(t) = p
            .spec
            .tier
            .as_deref()
            .filter(|t| t.chars().any(|c| c.is_ascii_uppercase()))
        {
            out.push(PolicyError::Invalid {
                at: super::validate::object_at(
                    &p.origin,
                    p.kind_name(),
                    &p.full_name(),
                    "spec.tier",
                ),
                message: format!(
                    "unknown tier \"{t}\" (tier names are case-sensitive; did you mean \"{}\"?)",
                    t.to_lowercase()
                ),
            });
        }
    }
    out
}

/// Keeps the later of two objects of the same kind and name, as `kubectl apply` of both would,
/// with a warning naming both files.
pub fn dedupe(objects: &mut PolicySet) -> Vec<Warning> {
    fn keep_last<T>(
        items: &mut Vec<T>,
        kind: impl Fn(&T) -> String,
        name: impl Fn(&T) -> String,
        origin: impl Fn(&T) -> &Origin,
        out: &mut Vec<Warning>,
    ) {
        // Linear: each object's key once, its occurrences in order; every occurrence but the
        // last is replaced by the next one (a warning each), the last is kept.
        let keys: Vec<(String, String)> = items.iter().map(|t| (kind(t), name(t))).collect();
        let mut occurrences: HashMap<&(String, String), Vec<usize>> = HashMap::new();
        for (i, k) in keys.iter().enumerate() {
            occurrences.entry(k).or_default().push(i);
        }
        let mut replaced = vec![false; items.len()];
        let mut pairs: Vec<(usize, usize)> = Vec::new();
        for idx in occurrences.values().filter(|v| v.len() > 1) {
            for w in idx.windows(2) {
                replaced[w[0]] = true;
                pairs.push((w[0], w[1]));
            }
        }
        pairs.sort_unstable();
        for (i, j) in pairs {
            out.push(Warning {
                at: Location {
                    file: origin(&items[j]).file.clone(),
                    object: Some(format!("{} \"{}\"", keys[j].0, keys[j].1)),
                    field: "metadata.name".to_string(),
                },
                message: format!(
                    "defined twice; this later definition replaces the one in {}",
                    origin(&items[i]).file.display()
                ),
            });
        }
        let mut i = 0;
        items.retain(|_| {
            i += 1;
            !replaced[i - 1]
        });
    }
    let mut out = Vec::new();
    keep_last(
        &mut objects.tiers,
        |_| "Tier".into(),
        |t| t.metadata.name.clone(),
        |t| &t.origin,
        &mut out,
    );
    keep_last(
        &mut objects.cluster_groups,
        |_| "ClusterGroup".into(),
        |g| g.metadata.name.clone(),
        |g| &g.origin,
        &mut out,
    );
    keep_last(
        &mut objects.groups,
        |_| "Group".into(),
        |g| {
            format!(
                "{}/{}",
                g.metadata.namespace.as_deref().unwrap_or_default(),
                g.metadata.name
            )
        },
        |g| &g.origin,
        &mut out,
    );
    keep_last(
        &mut objects.antrea_policies,
        |p| p.kind_name().into(),
        |p| p.full_name(),
        |p| &p.origin,
        &mut out,
    );
    keep_last(
        &mut objects.k8s_policies,
        |_| "NetworkPolicy".into(),
        |p| p.full_name(),
        |p| &p.origin,
        &mut out,
    );
    keep_last(
        &mut objects.admin_policies,
        |p| p.kind_name().into(),
        |p| p.metadata.name.clone(),
        |p| &p.origin,
        &mut out,
    );
    keep_last(
        &mut objects.network_policies_v1alpha2,
        |_| "ClusterNetworkPolicy".into(),
        |p| p.metadata.name.clone(),
        |p| &p.origin,
        &mut out,
    );
    out
}

/// One finding as JSON: `{"file", "object", "field", "message"}` (the message without the
/// location, which the other keys carry).
pub fn finding_json(at: Option<&Location>, file: Option<&Path>, text: &str) -> serde_json::Value {
    let location = at.cloned().unwrap_or_else(|| Location {
        file: file.map(Path::to_path_buf).unwrap_or_default(),
        ..Location::default()
    });
    let prefix = format!("{location}: ");
    let message = text.strip_prefix(&prefix).unwrap_or(text);
    serde_json::json!({
        "file": location.file.display().to_string(),
        "object": location.object,
        "field": location.field,
        "message": message,
    })
}

/// The location an error carries, if any, and the file of those that carry only a file.
pub fn error_location(e: &PolicyError) -> (Option<&Location>, Option<&Path>) {
    match e {
        PolicyError::UnknownKind { at, .. }
        | PolicyError::Field { at, .. }
        | PolicyError::UnknownField { at, .. }
        | PolicyError::Unsupported { at, .. }
        | PolicyError::UnknownTier { at, .. }
        | PolicyError::UnknownGroup { at, .. }
        | PolicyError::Duplicate { at, .. }
        | PolicyError::PassInBaseline { at }
        | PolicyError::PriorityOutOfRange { at, .. }
        | PolicyError::Invalid { at, .. } => (Some(at), None),
        PolicyError::Io { path, .. } => (None, Some(path)),
        PolicyError::Yaml { file, .. } | PolicyError::Limit { file, .. } => (None, Some(file)),
        PolicyError::Several { errors } => errors.first().map_or((None, None), error_location),
        PolicyError::ClusterCount { .. } | PolicyError::UnknownNode { .. } => (None, None),
    }
}

impl Report {
    /// The report as JSON: `{"errors": [...], "warnings": [...], "objects": n}`.
    pub fn to_json(&self) -> serde_json::Value {
        let errors: Vec<_> = self
            .errors
            .iter()
            .map(|e| {
                let (at, file) = error_location(e);
                finding_json(at, file, &e.to_string())
            })
            .collect();
        let warnings: Vec<_> = self
            .warnings
            .iter()
            .map(|w| finding_json(Some(&w.at), None, &w.to_string()))
            .collect();
        serde_json::json!({"errors": errors, "warnings": warnings, "objects": self.objects})
    }

    /// The report as text: one `error: ...` / `warning: ...` line each, then a summary line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for e in &self.errors {
            out.push_str(&format!("error: {e}\n"));
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out.push_str(&format!(
            "{} error(s), {} warning(s) in {} object(s)\n",
            self.errors.len(),
            self.warnings.len(),
            self.objects
        ));
        out
    }
}
