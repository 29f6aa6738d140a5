//! The one error type of the policy front end: loading, validation and resolution.
//!
//! Every variant that concerns an object carries a [`Location`] (file, object, field path) so the
//! message reads like `examples/policies.yaml: ClusterNetworkPolicy "deny-x": spec.ingress[0].action:
//! unknown action "Dorp" (expected Allow, Drop, Reject or Pass)`.

use std::fmt;
use std::path::PathBuf;

/// Where a problem is: the file, the object in it and the field path inside the object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// The file the object came from (empty for objects built in code).
    pub file: PathBuf,
    /// `Kind "name"` of the object, when known.
    pub object: Option<String>,
    /// Field path inside the object (`spec.ingress[0].action`), empty for the whole object.
    pub field: String,
}

impl Location {
    /// A location naming only a file.
    pub fn file(file: impl Into<PathBuf>) -> Self {
        Location {
            file: file.into(),
            ..Location::default()
        }
    }

    /// The same location, pointing at `field` instead.
    pub fn at(&self, field: impl Into<String>) -> Self {
        Location {
            field: field.into(),
            ..self.clone()
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if !self.file.as_os_str().is_empty() {
            parts.push(self.file.display().to_string());
        }
        if let Some(object) = &self.object {
            parts.push(object.clone());
        }
        if !self.field.is_empty() {
            parts.push(self.field.clone());
        }
        if parts.is_empty() {
            parts.push("<input>".to_string());
        }
        f.write_str(&parts.join(": "))
    }
}

/// Everything that can go wrong between YAML files and [`super::ResolvedPolicies`].
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML itself is malformed (the message carries the line and column).
    #[error("{}: malformed YAML: {message}", file.display())]
    Yaml {
        /// The file.
        file: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A document whose `apiVersion`/`kind` pair is not one kakine accepts.
    #[error("{at}: unknown apiVersion/kind \"{api_version} {kind}\"")]
    UnknownKind {
        /// Where.
        at: Location,
        /// The document's apiVersion.
        api_version: String,
        /// The document's kind.
        kind: String,
    },
    /// A field of the wrong type, a missing field, a bad enum value, an invalid CIDR... (the
    /// message comes from the field's deserializer).
    #[error("{at}: {message}")]
    Field {
        /// Where, down to the field.
        at: Location,
        /// What is wrong.
        message: String,
    },
    /// A field kakine does not know.
    #[error("{at}: unknown field `{name}`")]
    UnknownField {
        /// Where (the object holding the field).
        at: Location,
        /// The field's name.
        name: String,
    },
    /// A real Antrea / Kubernetes feature that kakine does not implement (yet).
    #[error("{at}: unsupported feature: {feature}")]
    Unsupported {
        /// Where.
        at: Location,
        /// The feature, in words.
        feature: String,
    },
    /// A policy names a tier that is neither built in nor defined by a Tier object.
    #[error("{at}: unknown tier \"{tier}\"")]
    UnknownTier {
        /// Where (`spec.tier`).
        at: Location,
        /// The tier name.
        tier: String,
    },
    /// A `group` reference to a ClusterGroup (or namespaced Group) that does not exist.
    #[error("{at}: unknown {kind} \"{group}\"")]
    UnknownGroup {
        /// Where.
        at: Location,
        /// `ClusterGroup` or `Group`.
        kind: &'static str,
        /// The group name.
        group: String,
    },
    /// Two objects of the same kind with the same (namespaced) name.
    #[error("{at}: duplicate name (also defined in {})", first.display())]
    Duplicate {
        /// The second definition (its `metadata.name`).
        at: Location,
        /// The file of the first definition.
        first: PathBuf,
    },
    /// `Pass` in the baseline tier: there is nothing left to pass to.
    #[error("{at}: action Pass is not allowed in the baseline tier")]
    PassInBaseline {
        /// Where (`spec.ingress[i].action`).
        at: Location,
    },
    /// A priority outside its allowed range.
    #[error("{at}: priority {value} out of range (expected {range})")]
    PriorityOutOfRange {
        /// Where (`spec.priority`).
        at: Location,
        /// The value given.
        value: f64,
        /// The accepted range, in words.
        range: &'static str,
    },
    /// Any other violated rule of the API (message says which).
    #[error("{at}: {message}")]
    Invalid {
        /// Where.
        at: Location,
        /// What is wrong.
        message: String,
    },
    /// A resource limit of the YAML reader was hit (the message names the limit, its value and
    /// the environment variable that raises it; see [`super::limits`]).
    #[error("{}: {message}", file.display())]
    Limit {
        /// The file (or, for a bad limit setting, the environment variable).
        file: PathBuf,
        /// What exceeded which limit.
        message: String,
    },
    /// No or more than one `Cluster` document among the inputs.
    #[error("{message}")]
    ClusterCount {
        /// What was found.
        message: String,
    },
    /// Several problems of one input, every one, in input order (the loader reports them all
    /// at once, as `kubectl apply` of the input would; built by [`PolicyError::all`], never
    /// nested, never fewer than two).
    #[error("{} errors:\n{}", errors.len(), list(errors))]
    Several {
        /// The problems.
        errors: Vec<PolicyError>,
    },
    /// A node view was asked of a node the cluster model does not have (`--node`).
    #[error("node \"{node}\" is not in the cluster model (its nodes: {known})")]
    UnknownNode {
        /// The node asked for.
        node: String,
        /// The nodes the model has (those of `nodes:` and those pods name), comma-separated.
        known: String,
    },
}

impl PolicyError {
    /// Whether `self` (a check on the document as written) already names the field of
    /// `parse` (the typed parse's error), or one inside it: `port: 70000` is then one fault,
    /// said by the check (`port 70000 is out of range 1-65535`), not also by serde at the same
    /// field (`expected a port number 1-65535 or a container port name`).
    pub(crate) fn names_the_field_of(&self, parse: &PolicyError) -> bool {
        let (PolicyError::Field { at: a, .. }, PolicyError::Field { at: b, .. }) = (self, parse)
        else {
            return false;
        };
        if a.file != b.file || a.object != b.object || b.field.is_empty() {
            return false;
        }
        a.field == b.field
            || a.field
                .strip_prefix(b.field.as_str())
                .is_some_and(|rest| rest.starts_with(['.', '[']))
    }

    /// One error for a list of problems: `None` for none, the problem itself for one,
    /// [`PolicyError::Several`] (flattened, [`PolicyError::distinct`]) for more.
    pub fn all(errors: impl IntoIterator<Item = PolicyError>) -> Option<PolicyError> {
        let flat = errors.into_iter().flat_map(PolicyError::into_list);
        let mut flat = PolicyError::distinct(flat.collect());
        match flat.len() {
            0 => None,
            1 => flat.pop(),
            _ => Some(PolicyError::Several { errors: flat }),
        }
    }

    /// `errors` without repeats (the same message twice: a check made on the document as
    /// written and again on the typed object), in order.
    pub fn distinct(errors: Vec<PolicyError>) -> Vec<PolicyError> {
        let mut seen = std::collections::HashSet::new();
        errors
            .into_iter()
            .filter(|e| seen.insert(e.to_string()))
            .collect()
    }

    /// The problems this error stands for: those of [`PolicyError::Several`], or itself.
    pub fn into_list(self) -> Vec<PolicyError> {
        match self {
            PolicyError::Several { errors } => errors,
            e => vec![e],
        }
    }
}

/// One problem per line, indented, for [`PolicyError::Several`].
fn list(errors: &[PolicyError]) -> String {
    let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
    lines.join("\n")
}

/// Errors of [`super::load_dir`] / [`super::load_files`].
pub type LoadError = PolicyError;

/// Errors of [`super::resolve`].
pub type ResolveError = PolicyError;
