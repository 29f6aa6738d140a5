//! Reading YAML: files and directories of multi-document YAML, each document dispatched on
//! `apiVersion` + `kind` into the [model](super::model).
//!
//! Documents are first parsed into a generic value, then deserialized through
//! `serde_path_to_error`, so every error names the file, the object and the field path.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{Location, PolicyError};
use super::limits::YamlLimits;
use super::model::{
    AdminKind, AdminPolicy, AntreaKind, AntreaPolicy, Cluster, ClusterGroup, Document,
    K8sNetworkPolicy, Origin, PolicyObject, PolicySet, Tier,
};
use super::model_v1alpha2::NetworkPolicyV1Alpha2;
use super::validate::problems;
use super::validate_raw::{check_document, Api};

pub use super::gather::{gather, Gathered};

/// Antrea-compatible CRD groups accepted for Tier, ClusterNetworkPolicy, NetworkPolicy,
/// ClusterGroup and Group.
pub const CRD_API_VERSIONS: [&str; 2] = ["crd.kakine.io/v1beta1", "crd.antrea.io/v1beta1"];

/// apiVersion of the SIG network-policy-api AdminNetworkPolicy and BaselineAdminNetworkPolicy.
pub const ADMIN_API_VERSION: &str = "policy.networking.k8s.io/v1alpha1";

/// apiVersion of the SIG network-policy-api ClusterNetworkPolicy (Admin and Baseline tiers).
pub const V1ALPHA2_API_VERSION: &str = "policy.networking.k8s.io/v1alpha2";

/// apiVersion of the standalone cluster model document.
pub const CLUSTER_API_VERSION: &str = "kakine.io/v1alpha1";

/// Everything read from a set of input files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Input {
    /// The cluster model.
    pub cluster: Cluster,
    /// The policy objects, validated.
    pub objects: PolicySet,
}

/// One document of an input file.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A `kakine.io/v1alpha1 Cluster` document.
    Cluster(Cluster),
    /// A policy object (boxed: far larger than a cluster model).
    Object(Box<PolicyObject>),
}

/// Field names that belong to real Antrea / K8s / network-policy-api features kakine does not
/// implement, with the feature's name.
const UNSUPPORTED_FIELDS: &[(&str, &str)] = &[
    ("fqdn", "FQDN peers"),
    ("l7Protocols", "L7 protocols"),
    ("igmp", "IGMP protocols"),
    ("toServices", "toServices"),
    ("service", "Service appliedTo"),
    ("externalEntitySelector", "external entities"),
    ("serviceReference", "ClusterGroup serviceReference"),
    ("scope", "multicluster peer scope"),
    ("domainNames", "domainNames peers"),
];

/// Loads every `*.yaml` / `*.yml` file of `dir` (not recursive, in name order); exactly one
/// `Cluster` document must be among them.
pub fn load_dir(dir: &Path) -> Result<Input, PolicyError> {
    let entries = std::fs::read_dir(dir).map_err(|source| PolicyError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| PolicyError::Io {
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    let (cluster, objects) = load_all(&files)?;
    match cluster {
        Some(cluster) => Ok(Input { cluster, objects }),
        None => Err(no_cluster(dir)),
    }
}

/// Loads the given files; at most one `Cluster` document (none gives an empty cluster).
pub fn load_files(paths: &[PathBuf]) -> Result<Input, PolicyError> {
    let (cluster, objects) = load_all(paths)?;
    Ok(Input {
        cluster: cluster.unwrap_or_default(),
        objects,
    })
}

/// Every file read and parsed, every problem of every file and document collected, then the
/// model and cross-object checks of [`assemble_all`] on what parsed: all of them reported at
/// once ([`PolicyError::all`]).
fn load_all(paths: &[PathBuf]) -> Result<(Option<Cluster>, PolicySet), PolicyError> {
    let limits = YamlLimits::from_env()?;
    let mut errors = Vec::new();
    let mut parsed = Vec::with_capacity(paths.len());
    for path in paths {
        let io = |source| PolicyError::Io {
            path: path.clone(),
            source,
        };
        // Refused before it is read, so a huge file costs no memory.
        let text = std::fs::metadata(path)
            .map_err(io)
            .and_then(|m| limits.check_size(path, m.len()))
            .and_then(|()| std::fs::read_to_string(path).map_err(io));
        match text {
            Ok(text) => {
                let (docs, problems) = parse_file_all(path, &text, &limits);
                errors.extend(problems);
                parsed.push((path.clone(), docs));
            }
            Err(e) => errors.push(e),
        }
    }
    let assembled = assemble_all(parsed.iter().map(|(p, d)| (p.as_path(), d.as_slice())));
    match (assembled, PolicyError::all(errors)) {
        (Ok(input), None) => Ok(input),
        (Ok(_), Some(e)) => Err(e),
        (Err(more), e) => Err(PolicyError::all(e.into_iter().chain(more)).expect("some")),
    }
}

/// Parses every document of one file (`file` names it in errors).
///
/// Errors: malformed YAML, or a document that is not a valid object (naming file, object and
/// field).
pub fn parse_file(file: &Path, text: &str) -> Result<Vec<Parsed>, PolicyError> {
    parse_file_with(file, text, &YamlLimits::from_env()?)
}

/// [`parse_file`] under the given limits.
pub fn parse_file_with(
    file: &Path,
    text: &str,
    limits: &YamlLimits,
) -> Result<Vec<Parsed>, PolicyError> {
    parse_documents_with(file, text, limits)?
        .iter()
        .filter(|doc| keep_policy(file, doc))
        .map(|doc| parse_document(doc, file))
        .collect()
}

/// [`parse_file_with`] with every problem of every document: the documents that parsed, and
/// the problems (a malformed file is one problem and no documents).
pub fn parse_file_all(
    file: &Path,
    text: &str,
    limits: &YamlLimits,
) -> (Vec<Parsed>, Vec<PolicyError>) {
    let docs = match parse_documents_with(file, text, limits) {
        Ok(docs) => docs,
        Err(e) => return (Vec::new(), vec![e]),
    };
    let mut parsed = Vec::with_capacity(docs.len());
    let mut problems = Vec::new();
    for doc in docs.iter().filter(|doc| keep_policy(file, doc)) {
        let (p, more) = parse_document_all(doc, file);
        parsed.extend(p);
        problems.extend(more);
    }
    (parsed, problems)
}

/// Whether to read a document, with a warning for one that is not policy.
fn keep_policy(file: &Path, doc: &Value) -> bool {
    let policy = is_policy_document(doc);
    if !policy {
        tracing::warn!(
            "{}: {}: not a policy kind: skipped",
            file.display(),
            kind_of(doc)
        );
    }
    policy
}

/// Kinds kakine reads in any API group; a document of another kind outside
/// [`POLICY_GROUPS`] (a `v1 ConfigMap`, an `apps/v1 Deployment`) is not policy and is skipped
/// with a warning, by the agent and by `kakinectl` alike.
pub const POLICY_KINDS: [&str; 8] = [
    "Tier",
    "ClusterNetworkPolicy",
    "NetworkPolicy",
    "ClusterGroup",
    "Group",
    "AdminNetworkPolicy",
    "BaselineAdminNetworkPolicy",
    "Cluster",
];

/// API groups whose every kind is policy (a misspelt kind there is an error, not skipped).
pub const POLICY_GROUPS: [&str; 4] = [
    "crd.kakine.io",
    "crd.antrea.io",
    "policy.networking.k8s.io",
    "kakine.io",
];

/// Whether a YAML document is policy (read, and refused when bad) rather than another
/// Kubernetes object to skip; a document without a string `kind` is policy (so that its error is
/// reported).
pub fn is_policy_document(doc: &Value) -> bool {
    let Some(kind) = doc.get("kind").and_then(Value::as_str) else {
        return true;
    };
    let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    POLICY_KINDS.contains(&kind) || POLICY_GROUPS.contains(&group)
}

/// `apiVersion kind namespace/name` of a document, for messages.
fn kind_of(doc: &Value) -> String {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let meta = doc.get("metadata");
    let name = text(meta.and_then(|m| m.get("name")));
    let ns = text(meta.and_then(|m| m.get("namespace")));
    let name = if ns.is_empty() {
        name
    } else {
        format!("{ns}/{name}")
    };
    format!(
        "{} {} {name}",
        text(doc.get("apiVersion")),
        text(doc.get("kind"))
    )
}

/// Puts parsed files together (in the order given): the `Cluster` documents merged into one
/// model (nodes, namespaces and pods of each, in order: a large model can be split, say one
/// file per namespace, so that a change re-parses only its file), checked as a whole, then the
/// cross-object validation of [`super::validate::validate`].
///
/// Errors: the first of [`assemble_all`]'s: a model problem (undeclared namespace, a pod, IP or
/// MAC twice), naming the file and the field of the document it is in; or a validation error.
pub fn assemble<'a>(
    files: impl IntoIterator<Item = (&'a Path, &'a [Parsed])>,
) -> Result<(Option<Cluster>, PolicySet), PolicyError> {
    assemble_all(files).map_err(|errors| errors.into_iter().next().expect("some"))
}

/// [`assemble`] with every problem (at least one on `Err`): those of the model, then those of
/// [`super::validate::problems`].
pub fn assemble_all<'a>(
    files: impl IntoIterator<Item = (&'a Path, &'a [Parsed])>,
) -> Result<(Option<Cluster>, PolicySet), Vec<PolicyError>> {
    let Gathered {
        cluster,
        mut objects,
        mut errors,
        ..
    } = gather(files);
    // The same object twice: the later wins, as `kubectl apply` of both would leave it.
    super::validate_input::dedupe(&mut objects);
    errors.extend(problems(&objects));
    if errors.is_empty() {
        Ok((cluster, objects))
    } else {
        Err(errors)
    }
}

/// The error of a directory without a `Cluster` document.
pub fn no_cluster(dir: &Path) -> PolicyError {
    PolicyError::ClusterCount {
        message: format!(
            "{}: no {CLUSTER_API_VERSION} Cluster document among the YAML files",
            dir.display()
        ),
    }
}

/// Splits YAML text into its documents as generic values (empty documents are skipped), under
/// the [`YamlLimits`] of the environment ([`YamlLimits::from_env`]).
///
/// Errors: malformed YAML; a limit hit ([`PolicyError::Limit`], naming it); a bad limit
/// variable.
pub fn parse_documents(file: &Path, text: &str) -> Result<Vec<Value>, PolicyError> {
    parse_documents_with(file, text, &YamlLimits::from_env()?)
}

/// [`parse_documents`] under the given limits.
pub fn parse_documents_with(
    file: &Path,
    text: &str,
    limits: &YamlLimits,
) -> Result<Vec<Value>, PolicyError> {
    limits.check_size(file, text.len() as u64)?;
    // The deserializer recurses once per level: parse on a thread whose stack fits the depth
    // limit, so the limit holds whatever stack the caller runs on (a tokio worker has 2 MiB).
    let parsed = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("yaml-parse".to_string())
            .stack_size(limits.parse_stack_bytes())
            .spawn_scoped(scope, || {
                serde_saphyr::from_multiple_with_options::<Value>(text, limits.options(text))
            })
            .map(|handle| handle.join())
    });
    let parsed = match parsed {
        Ok(Ok(parsed)) => parsed,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(source) => {
            return Err(PolicyError::Io {
                path: file.to_path_buf(),
                source,
            })
        }
    };
    let docs = parsed.map_err(|e| {
        limits
            .explain(file, text.len(), &e)
            .unwrap_or_else(|| PolicyError::Yaml {
                file: file.to_path_buf(),
                // The first line has line and column; the source snippet after it is dropped
                // so the error stays one line.
                message: e
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches("error: ")
                    // The library's advice is for its API users, not for ours.
                    .replace(", set DuplicateKeyPolicy in Options if acceptable", ""),
            })
    })?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Parses one document, dispatching on `apiVersion` + `kind`.
pub fn parse_document(doc: &Value, file: &Path) -> Result<Parsed, PolicyError> {
    let mut problems = Vec::new();
    let parsed = parse_checked(doc, file, &mut problems);
    match problems.into_iter().next() {
        Some(first) => Err(first),
        None => parsed,
    }
}

/// [`parse_document`] with every problem of the document: the API server's checks on the
/// document as written ([`super::validate_raw`]) all, then the typed parse's first error. The
/// object is returned when it parsed, even with problems.
pub fn parse_document_all(doc: &Value, file: &Path) -> (Option<Parsed>, Vec<PolicyError>) {
    let mut problems = Vec::new();
    match parse_checked(doc, file, &mut problems) {
        Ok(p) => (Some(p), problems),
        Err(e) => {
            if !problems
                .iter()
                .any(|p| p.to_string() == e.to_string() || p.names_the_field_of(&e))
            {
                problems.push(e);
            }
            (None, problems)
        }
    }
}

fn parse_checked(
    doc: &Value,
    file: &Path,
    problems: &mut Vec<PolicyError>,
) -> Result<Parsed, PolicyError> {
    let mut at = Location::file(file);
    let Some(map) = doc.as_object() else {
        return Err(PolicyError::Field {
            at,
            message: "a document must be a mapping with apiVersion and kind".to_string(),
        });
    };
    let text = |key: &str| map.get(key).and_then(Value::as_str).unwrap_or("");
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    for key in ["apiVersion", "kind"] {
        if text(key).is_empty() {
            return Err(PolicyError::Field {
                at: at.at(key),
                message: format!("missing or non-string {key}"),
            });
        }
    }
    let meta = map.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let namespace = meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str);
    at.object = Some(match namespace {
        Some(ns) => format!("{kind} \"{ns}/{name}\""),
        None if name.is_empty() => kind.to_string(),
        None => format!("{kind} \"{name}\""),
    });
    let origin = Origin {
        file: file.to_path_buf(),
    };

    let admin = api_version == ADMIN_API_VERSION
        && matches!(kind, "AdminNetworkPolicy" | "BaselineAdminNetworkPolicy");
    let v1alpha2 = api_version == V1ALPHA2_API_VERSION && kind == "ClusterNetworkPolicy";
    if api_version.starts_with("policy.networking.k8s.io/") && !admin && !v1alpha2 {
        return Err(PolicyError::Unsupported {
            at,
            feature: format!("{kind} ({api_version})"),
        });
    }
    if api_version == CLUSTER_API_VERSION && kind == "Cluster" {
        let mut body = map.clone();
        for key in ["apiVersion", "kind", "metadata"] {
            body.remove(key);
        }
        // The model's own checks (declared namespaces, unique names and addresses) run in
        // [`assemble`], on the model merged from every Cluster document.
        let cluster = typed::<Cluster>(&Value::Object(body), &at)?;
        return Ok(Parsed::Cluster(cluster));
    }
    let crd = CRD_API_VERSIONS.contains(&api_version);
    let k8s = api_version == "networking.k8s.io/v1";
    if !((crd
        && matches!(
            kind,
            "Tier" | "ClusterNetworkPolicy" | "NetworkPolicy" | "ClusterGroup" | "Group"
        ))
        || (k8s && kind == "NetworkPolicy")
        || admin
        || v1alpha2)
    {
        return Err(PolicyError::UnknownKind {
            at,
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        });
    }
    if let Some(spec) = map.get("spec") {
        if let Some((field, feature)) = find_unsupported(spec, "spec") {
            return Err(PolicyError::Unsupported {
                at: at.at(field),
                feature,
            });
        }
    }
    let api = if k8s {
        Api::Kubernetes
    } else if crd {
        Api::Antrea
    } else {
        Api::Admin
    };
    problems.extend(
        check_document(api, kind, map)
            .into_iter()
            .map(|(field, message)| PolicyError::Field {
                at: at.at(field),
                message,
            }),
    );
    if let Some(spec) = map.get("spec") {
        problems.extend(
            super::sanity::check_spec(spec)
                .into_iter()
                .map(|(field, message)| PolicyError::Field {
                    at: at.at(field),
                    message,
                }),
        );
    }
    if v1alpha2 {
        let d: Document<_> = typed(doc, &at)?;
        return Ok(Parsed::Object(Box::new(PolicyObject::V1Alpha2(
            NetworkPolicyV1Alpha2 {
                metadata: d.metadata,
                spec: d.spec,
                origin,
            },
        ))));
    }
    let object = match (k8s || admin, kind) {
        (true, "AdminNetworkPolicy" | "BaselineAdminNetworkPolicy") => {
            let d: Document<_> = typed(doc, &at)?;
            PolicyObject::Admin(AdminPolicy {
                kind: if kind == "AdminNetworkPolicy" {
                    AdminKind::Admin
                } else {
                    AdminKind::Baseline
                },
                metadata: d.metadata,
                spec: d.spec,
                origin,
            })
        }
        (true, _) => {
            let d: Document<_> = typed(doc, &at)?;
            PolicyObject::K8s(K8sNetworkPolicy {
                metadata: d.metadata,
                spec: d.spec,
                origin,
            })
        }
        (false, "Tier") => {
            let d: Document<_> = typed(doc, &at)?;
            PolicyObject::Tier(Tier {
                metadata: d.metadata,
                spec: d.spec,
                origin,
            })
        }
        (false, "ClusterGroup") => {
            let d: Document<_> = typed(doc, &at)?;
            PolicyObject::ClusterGroup(ClusterGroup {
                metadata: d.metadata,
                spec: d.spec,
                origin,
            })
        }
        (false, "Group") => {
            let d: Document<_> = typed(doc, &at)?;
            PolicyObject::Group(ClusterGroup {
                metadata: d.metadata,
                spec: d.spec,
                origin,
            })
        }
        (false, kind) => {
            let d: Document<_> = typed(doc, &at)?;
            PolicyObject::Antrea(AntreaPolicy {
                kind: if kind == "ClusterNetworkPolicy" {
                    AntreaKind::Cluster
                } else {
                    AntreaKind::Namespaced
                },
                metadata: d.metadata,
                spec: d.spec,
                origin,
            })
        }
    };
    Ok(Parsed::Object(Box::new(object)))
}

/// Deserializes `value` as `T`, turning errors into [`PolicyError`]s with the field path.
pub(crate) fn typed<T: DeserializeOwned>(value: &Value, at: &Location) -> Result<T, PolicyError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let message = e.inner().to_string();
        if let Some(rest) = message.strip_prefix("unknown field `") {
            let name = rest.split('`').next().unwrap_or("").to_string();
            let parent = path
                .rsplit_once('.')
                .map(|(p, _)| p.to_string())
                .unwrap_or_default();
            let field = if path.ends_with(&name) { parent } else { path };
            return PolicyError::UnknownField {
                at: at.at(field),
                name,
            };
        }
        PolicyError::Field {
            at: at.at(path),
            message: integer_range(message),
        }
    })
}

/// serde's "expected u16" said as the range a YAML author knows: `invalid value: integer
/// `70000`, expected an integer 0-65535`.
fn integer_range(message: String) -> String {
    const RANGES: [(&str, &str); 3] = [
        ("expected u8", "expected an integer 0-255"),
        ("expected u16", "expected an integer 0-65535"),
        ("expected u32", "expected an integer 0-4294967295"),
    ];
    match RANGES.iter().find(|(rust, _)| message.ends_with(rust)) {
        Some((rust, range)) => format!("{}{range}", &message[..message.len() - rust.len()]),
        None => message,
    }
}

/// The first out-of-scope feature used under `value` (a field path and the feature's name).
pub fn find_unsupported(value: &Value, path: &str) -> Option<(String, String)> {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let here = format!("{path}.{key}");
                if let Some((_, feature)) = UNSUPPORTED_FIELDS.iter().find(|(f, _)| f == key) {
                    return Some((here, feature.to_string()));
                }
                if key == "protocol" {
                    if let Some(p) = v.as_str().filter(|p| p.starts_with("ICMP")) {
                        return Some((here, format!("{p} protocol")));
                    }
                }
                if let Some(found) = find_unsupported(v, &here) {
                    return Some(found);
                }
            }
            None
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_unsupported(v, &format!("{path}[{i}]"))),
        _ => None,
    }
}
