//! The agent's state directory: the last good policy input, and what the installed flows mean.
//!
//! Layout of `--state-dir` (default `/var/lib/kakine`):
//! - `last-good.yaml`: every YAML document of the last input the agent realized, concatenated
//!   (`---` between files). At start the agent enforces it before it reads any source, so policy
//!   holds while the source (a directory, later the controller) is away or broken.
//! - `controller-span.json` instead, in controller mode (`--controller`): the last span the
//!   controller sent ([`crate::agent::controller_source::SPAN_FILE`]), enforced at start the
//!   same way. Each mode removes the other's file when it starts ([`forget_other_source`]):
//!   a stale policy of another mode is never enforced, nor shown by `kakinectl explain
//!   --enforced`.
//! - `agent.json`: [`AgentState`]: the bridge, the cookie round, and for each rule id and pod
//!   object the names `kakinectl dump-flows` prints next to each flow.
//!
//! Both files are written to a temporary file in the same directory and renamed over the old
//! one, so a crash leaves either the old or the new version, never a torn one.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::datapath::compiler::{Compiled, LocalPod, SavedAllocation};

/// Name of the last-good input file inside the state directory.
pub const LAST_GOOD: &str = "last-good.yaml";
/// Name of the flow-annotation file inside the state directory.
pub const AGENT_STATE: &str = "agent.json";
/// Name of the saved priority and rule-id allocation inside the state directory.
pub const ALLOCATION: &str = "allocation.json";
/// Name of the refused-objects report inside the state directory.
pub const REFUSED: &str = "refused.json";

/// State-directory errors, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An input file is a symbolic link leading out of the input directory.
    #[error("{path}: a symbolic link to {target}, outside the input directory; refused")]
    Symlink {
        /// The link.
        path: PathBuf,
        /// Where it leads.
        target: PathBuf,
    },
    /// `agent.json` is not valid.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

/// One rule, as `agent.json` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleEntry {
    /// Rule id (cookie object of category POLICY; conj_id).
    pub id: u32,
    /// Kind of the policy (`ClusterNetworkPolicy`, `NetworkPolicy`, ...).
    pub kind: String,
    /// Tier name.
    pub tier: String,
    /// Policy (`namespace/name` for namespaced kinds).
    pub policy: String,
    /// Rule name.
    pub rule: String,
    /// `Ingress` or `Egress`.
    pub direction: String,
    /// `Allow`, `Drop`, `Reject` or `Pass`.
    pub action: String,
    /// Staged (`enforcementMode: Audit`): its flows count and log, never decide. Absent in
    /// the `agent.json` of older agents (read as not staged).
    #[serde(default)]
    pub staged: bool,
}

/// One attached pod, as `agent.json` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodEntry {
    /// Its ofport (cookie object of category POD).
    pub ofport: u32,
    /// `namespace/name`.
    pub pod: String,
    /// IPv4 address.
    pub ip: String,
}

/// What the installed flows mean: written after every committed realization.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentState {
    /// The bridge.
    pub bridge: String,
    /// The cookie round of this agent run.
    pub round: u16,
    /// Rules by id.
    pub rules: Vec<RuleEntry>,
    /// Attached pods.
    pub pods: Vec<PodEntry>,
}

impl AgentState {
    /// The state of a compile.
    pub fn new(bridge: &str, round: u16, compiled: &Compiled, pods: &[LocalPod]) -> Self {
        AgentState {
            bridge: bridge.to_string(),
            round,
            rules: compiled
                .rules
                .iter()
                .map(|r| RuleEntry {
                    id: r.id,
                    kind: r.rule.kind.to_string(),
                    tier: r.rule.tier.to_string(),
                    policy: r.rule.policy.to_string(),
                    rule: r.rule.rule.to_string(),
                    direction: format!("{:?}", r.direction),
                    action: format!("{:?}", r.action),
                    staged: r.staged,
                })
                .collect(),
            pods: pods
                .iter()
                .map(|p| PodEntry {
                    ofport: p.ofport,
                    pod: p.key.to_string(),
                    ip: p.ip.to_string(),
                })
                .collect(),
        }
    }
}

/// Reads `agent.json` of `dir`; `Ok(None)` when there is none.
///
/// Errors: [`StateError`] naming the file when it cannot be read or parsed.
pub fn read_agent_state(dir: &Path) -> Result<Option<AgentState>, StateError> {
    read_json(dir, AGENT_STATE)
}

/// Writes `agent.json` of `dir` (atomically).
pub fn write_agent_state(dir: &Path, state: &AgentState) -> Result<(), StateError> {
    write_json(dir, AGENT_STATE, state)
}

/// Reads `allocation.json` of `dir`; `Ok(None)` when there is none.
///
/// Errors: [`StateError`] naming the file when it cannot be read or parsed.
pub fn read_allocation(dir: &Path) -> Result<Option<SavedAllocation>, StateError> {
    read_json(dir, ALLOCATION)
}

/// Writes `allocation.json` of `dir` (atomically).
pub fn write_allocation(dir: &Path, a: &SavedAllocation) -> Result<(), StateError> {
    write_json(dir, ALLOCATION, a)
}

/// Reads `refused.json` of `dir` (what the last input refused and skipped); `Ok(None)` when
/// there is none.
///
/// Errors: [`StateError`] naming the file when it cannot be read or parsed.
pub fn read_refused(dir: &Path) -> Result<Option<crate::agent::watch::Report>, StateError> {
    read_json(dir, REFUSED)
}

/// Writes `refused.json` of `dir` (atomically).
pub fn write_refused(dir: &Path, r: &crate::agent::watch::Report) -> Result<(), StateError> {
    write_json(dir, REFUSED, r)
}

fn read_json<T: serde::de::DeserializeOwned>(
    dir: &Path,
    name: &str,
) -> Result<Option<T>, StateError> {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| StateError::Json { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StateError::Io { path, source }),
    }
}

fn write_json<T: Serialize>(dir: &Path, name: &str, value: &T) -> Result<(), StateError> {
    let json = serde_json::to_vec_pretty(value).map_err(|source| StateError::Json {
        path: dir.join(name),
        source,
    })?;
    write_atomic(dir, name, &json)
}

/// The YAML files of an input directory, sorted (what [`crate::policy::load_dir`] reads).
///
/// A symbolic link is followed only when it resolves inside `dir` (a Kubernetes ConfigMap
/// volume links each file to `..data/<file>` in the same directory); a link that leads out of
/// it is refused, so the agent never reads, nor copies into `last-good.yaml`, a file its input
/// directory does not hold.
///
/// Errors: the directory cannot be read, or [`StateError::Symlink`] naming the link and where
/// it leads.
pub fn input_files(dir: &Path) -> Result<Vec<PathBuf>, StateError> {
    let io = |source| StateError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let root = dir.canonicalize().map_err(io)?;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        if !path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            continue;
        }
        let kind = entry.file_type().map_err(io)?;
        if kind.is_symlink() {
            let target = match path.canonicalize() {
                Ok(t) => t,
                Err(_) => continue, // dangling: a ConfigMap update in flight, or nothing
            };
            if !target.starts_with(&root) {
                return Err(StateError::Symlink { path, target });
            }
            if target.is_file() {
                files.push(path);
            }
        } else if kind.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Saves `files` (the input just realized) as `last-good.yaml` of `dir` (atomically).
pub fn save_last_good(dir: &Path, files: &[(PathBuf, String)]) -> Result<(), StateError> {
    let mut out = String::from("# kakine-agent: the last policy input it realized\n");
    for (path, text) in files {
        // Escaped: a file name with a newline would otherwise end the comment.
        let name = path.display().to_string();
        out.push_str(&format!(
            "---\n# from {}\n",
            crate::agent::escape::escape_field(&name)
        ));
        out.push_str(text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    write_atomic(dir, LAST_GOOD, out.as_bytes())
}

/// The path of `last-good.yaml` in `dir`, if there is one.
pub fn last_good(dir: &Path) -> Option<PathBuf> {
    let p = dir.join(LAST_GOOD);
    p.is_file().then_some(p)
}

/// Removes from `dir` the kept policy of the source the agent does not follow: `last-good.yaml`
/// when it follows a controller (`controller = true`), the controller's kept span otherwise.
/// Returns the path removed, if any.
///
/// Errors: the file exists and cannot be removed.
pub fn forget_other_source(dir: &Path, controller: bool) -> Result<Option<PathBuf>, StateError> {
    let name = if controller {
        LAST_GOOD
    } else {
        crate::agent::controller_source::SPAN_FILE
    };
    let path = dir.join(name);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(Some(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StateError::Io { path, source }),
    }
}

/// Creates `dir` and its missing parents with mode 0700 (owner only: the state directory
/// holds the policy input and the flows' meaning). An existing directory keeps its mode.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    create_dir_mode(dir, 0o700)
}

/// Creates `dir` and its missing parents with `mode` (before the umask); an existing directory
/// keeps its mode.
pub fn create_dir_mode(dir: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
}

/// Writes `dir/name` atomically (a temporary file renamed over it).
///
/// Errors: [`StateError::Io`] naming the path.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StateError> {
    let path = dir.join(name);
    let io = |source| StateError::Io {
        path: path.clone(),
        source,
    };
    create_private_dir(dir).map_err(io)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(&path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_removes_only_the_other_modes_kept_policy() {
        let dir = tempfile::tempdir().unwrap();
        let span = dir.path().join(crate::agent::controller_source::SPAN_FILE);
        let write_both = || {
            save_last_good(dir.path(), &[("a.yaml".into(), "a: 1\n".into())]).unwrap();
            std::fs::write(&span, "{}").unwrap();
        };
        write_both();
        assert_eq!(
            forget_other_source(dir.path(), true).unwrap(),
            Some(dir.path().join(LAST_GOOD))
        );
        assert!(last_good(dir.path()).is_none() && span.is_file());
        assert_eq!(forget_other_source(dir.path(), true).unwrap(), None);
        write_both();
        assert_eq!(
            forget_other_source(dir.path(), false).unwrap(),
            Some(span.clone())
        );
        assert!(last_good(dir.path()).is_some() && !span.exists());
    }

    #[test]
    fn last_good_round_trips_through_the_loader() {
        let dir = tempfile::tempdir().unwrap();
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let files: Vec<_> = input_files(&examples)
            .unwrap()
            .into_iter()
            .map(|p| {
                let t = std::fs::read_to_string(&p).unwrap();
                (p, t)
            })
            .collect();
        save_last_good(dir.path(), &files).unwrap();
        let saved = last_good(dir.path()).unwrap();
        let a = crate::policy::load_dir(&examples).unwrap();
        let b = crate::policy::load_files(&[saved]).unwrap();
        let ra = crate::policy::resolve(&a.cluster, &a.objects).unwrap();
        let rb = crate::policy::resolve(&b.cluster, &b.objects).unwrap();
        assert_eq!(format!("{:?}", ra.rules), format!("{:?}", rb.rules));
        assert_eq!(format!("{:?}", ra.pods), format!("{:?}", rb.pods));
    }

    #[test]
    fn an_input_symlink_out_of_the_directory_is_refused_and_one_inside_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.yaml"), "x: 1\n").unwrap();
        // A ConfigMap volume: policy.yaml -> ..data/policy.yaml, ..data -> ..2026_01_01.
        let data = dir.path().join("..2026_01_01");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("policy.yaml"), "y: 2\n").unwrap();
        std::os::unix::fs::symlink("..2026_01_01", dir.path().join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/policy.yaml", dir.path().join("policy.yaml")).unwrap();
        std::fs::write(dir.path().join("plain.yml"), "z: 3\n").unwrap();
        let files = input_files(dir.path()).unwrap();
        let names: Vec<_> = files.iter().map(|p| p.file_name().unwrap()).collect();
        assert_eq!(names, ["plain.yml", "policy.yaml"]);

        let link = dir.path().join("stolen.yaml");
        std::os::unix::fs::symlink(outside.path().join("secret.yaml"), &link).unwrap();
        let e = input_files(dir.path()).unwrap_err();
        assert!(
            matches!(e, StateError::Symlink { ref path, .. } if *path == link),
            "{e}"
        );
        assert!(e.to_string().contains("outside the input directory"), "{e}");
    }

    #[test]
    fn a_file_name_with_a_newline_stays_in_its_comment_in_last_good() {
        let dir = tempfile::tempdir().unwrap();
        let name = PathBuf::from("in/evil\nkind: Forged.yaml");
        save_last_good(dir.path(), &[(name, "a: 1\n".into())]).unwrap();
        let text = std::fs::read_to_string(dir.path().join(LAST_GOOD)).unwrap();
        assert!(
            text.contains("# from in/evil\\x0akind:\\x20Forged.yaml\n"),
            "{text}"
        );
        assert!(!text.lines().any(|l| l.starts_with("kind:")), "{text}");
    }

    #[test]
    fn the_state_directory_is_created_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("state/kakine");
        write_agent_state(&dir, &AgentState::default()).unwrap();
        for d in [&dir, &top.path().join("state")] {
            let mode = std::fs::metadata(d).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", d.display());
        }
    }

    #[test]
    fn a_saved_allocation_gives_every_rule_its_id_and_priority_back() {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let policies = crate::agent::load_input(&examples).unwrap();
        let pods = crate::datapath::compiler::offline_pods(&policies);
        let first = crate::datapath::compiler::compile(&policies, &pods, 1).unwrap();
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_allocation(dir.path()).unwrap(), None);
        write_allocation(dir.path(), &first.allocation.to_saved()).unwrap();
        let saved = read_allocation(dir.path()).unwrap().unwrap();
        let back = crate::datapath::compiler::Allocation::from_saved(saved);
        assert_eq!(back, first.allocation);
        let again =
            crate::datapath::compiler::compile_with(&policies, &pods, 2, Some(&back)).unwrap();
        let ids = |c: &Compiled| {
            c.rules
                .iter()
                .map(|r| (r.key.clone(), r.id, r.priority))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&again), ids(&first));
    }

    #[test]
    fn agent_state_round_trips_and_names_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_agent_state(dir.path()).unwrap(), None);
        let s = AgentState {
            bridge: "br-int".into(),
            round: 3,
            ..Default::default()
        };
        write_agent_state(dir.path(), &s).unwrap();
        assert_eq!(read_agent_state(dir.path()).unwrap(), Some(s));
        std::fs::write(dir.path().join(AGENT_STATE), b"{").unwrap();
        let e = read_agent_state(dir.path()).unwrap_err().to_string();
        assert!(e.contains("agent.json"), "{e}");
    }
}
