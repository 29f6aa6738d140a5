//! `explain --cluster` and `matrix --cluster`: the live cluster's objects, read with kubectl
//! (`kubectl get --raw`, so the user's kubeconfig, context and credential plugins apply as for
//! any kubectl command), converted by the controller's own conversion
//! ([`kakine::controller::kube::snapshot`]) and resolved as an input directory is.
//!
//! Read: Namespaces, Nodes, Pods, NetworkPolicies, and every policy kind the controller
//! watches ([`kakine::controller::kube::policy_resources`]: kakine's CRDs, the
//! network-policy-api kinds, Antrea's with `--antrea-crds`). A kind whose CRD is not installed
//! is said on stderr and answered without; an unreachable cluster, a refused credential or an
//! RBAC refusal is an error naming every list it hit.

use std::process::{Child, Stdio};

use anyhow::Context as _;
use kakine::controller::kube::policy_resources;
use kakine::controller::kube::snapshot::{ListOf, Snapshot};
use kakine::policy::ResolvedPolicies;
use serde_json::Value;

use crate::cluster::KubeFlags;

/// Where `explain` and `matrix` read the cluster from.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ClusterSource {
    /// Answer from the live cluster's objects (Pods, Namespaces, Nodes, NetworkPolicies,
    /// kakine's CRDs, the network-policy-api kinds when installed), read with kubectl
    /// (`--context`, `--kubeconfig`), instead of DIR.
    #[arg(long)]
    pub cluster: bool,
    /// With `--cluster`, also read Antrea's `crd.antrea.io` kinds (as `kakine-controller
    /// --antrea-crds` enforces them).
    #[arg(long, requires = "cluster")]
    pub antrea_crds: bool,
    /// How to reach the cluster.
    #[command(flatten)]
    pub kube: KubeFlags,
}

/// As the kubectl plugin, `explain` and `matrix` without DIR (nor `--enforced`, `--live`) read
/// the cluster: `kubectl kakine matrix` is `kakinectl matrix --cluster`. `error` is the parse
/// of `argv` as given; when it misses a required argument of one of them, `argv` is parsed
/// again with `--cluster` (whose error, if any, is then the one to show).
pub fn parse_as_plugin(
    cmd: clap::Command,
    argv: &[std::ffi::OsString],
    error: clap::Error,
) -> Result<clap::ArgMatches, clap::Error> {
    let sub = argv.get(1).and_then(|s| s.to_str());
    let given = argv.iter().any(|a| a == "--cluster");
    if error.kind() != clap::error::ErrorKind::MissingRequiredArgument
        || !matches!(sub, Some("explain" | "matrix"))
        || given
    {
        return Err(error);
    }
    let mut again = argv.to_vec();
    again.push("--cluster".into());
    cmd.try_get_matches_from(again)
}

/// The cluster's policies resolved, and what the answer must mention.
pub struct LiveCluster {
    /// The policies resolved over the cluster's pods.
    pub policies: ResolvedPolicies,
    /// What a missing pod's error says.
    pub about: About,
}

/// The cluster read, for messages.
pub struct About {
    /// Pods without an IP yet (`namespace/name`).
    pub pending_pods: Vec<String>,
    /// "the cluster (context C)".
    pub label: String,
}

impl About {
    /// The error for a pod the answer needs and the model lacks.
    pub fn no_pod(&self, key: &str) -> anyhow::Error {
        if self.pending_pods.iter().any(|p| p == key) {
            anyhow::anyhow!("pod {key} in {} has no IP yet (pending)", self.label)
        } else {
            anyhow::anyhow!("no pod {key} in {}", self.label)
        }
    }
}

/// How one list read ended.
enum Outcome {
    Listed(Value),
    NotFound,
    Forbidden(String),
    Unauthorized(String),
    Unreachable(String),
    Failed(String),
}

/// kubectl's error line sorted into what it means. kubectl prints `Error from server
/// (Reason): message` for an API status, and "Unable to connect to the server" / "The
/// connection to the server ... was refused" when nothing answered.
fn outcome(ok: bool, stdout: &[u8], stderr: &[u8]) -> Outcome {
    let err = String::from_utf8_lossy(stderr).trim().to_string();
    if ok {
        return match serde_json::from_slice(stdout) {
            Ok(v) => Outcome::Listed(v),
            Err(e) => Outcome::Failed(format!("the answer is not JSON: {e}")),
        };
    }
    if err.contains("(NotFound)") {
        Outcome::NotFound
    } else if err.contains("(Forbidden)") {
        Outcome::Forbidden(err)
    } else if err.contains("(Unauthorized)") || err.contains("must be logged in") {
        Outcome::Unauthorized(err)
    } else if err.contains("Unable to connect to the server")
        || err.contains("The connection to the server")
        || err.contains("dial tcp")
    {
        Outcome::Unreachable(err)
    } else {
        Outcome::Failed(err)
    }
}

/// One list to read: its path, what it is, and whether a 404 means "not installed".
struct List {
    of: ListOf,
    path: String,
    what: String,
    optional: bool,
}

fn lists(antrea_crds: bool) -> Vec<List> {
    let mut out = vec![
        List {
            of: ListOf::Namespaces,
            path: "/api/v1/namespaces".into(),
            what: "namespaces".into(),
            optional: false,
        },
        List {
            of: ListOf::Nodes,
            path: "/api/v1/nodes".into(),
            what: "nodes".into(),
            optional: false,
        },
        List {
            of: ListOf::Pods,
            path: "/api/v1/pods".into(),
            what: "pods".into(),
            optional: false,
        },
    ];
    for p in policy_resources(antrea_crds) {
        let r = p.resource;
        // Kubernetes NetworkPolicy is built in: a 404 there is no Kubernetes API server.
        let optional = r.group != "networking.k8s.io";
        out.push(List {
            path: format!("/apis/{}/{}", r.api_version, r.plural),
            what: format!("{}.{} ({} {})", r.plural, r.group, r.api_version, r.kind),
            of: ListOf::Policies(r),
            optional,
        });
    }
    out
}

/// How long one read may take (`kubectl --request-timeout`; kubectl's default is none).
const REQUEST_TIMEOUT: &str = "60s";

/// The page size of each list (`kubectl get`'s `--chunk-size` default).
const PAGE: usize = 500;

fn page_path(path: &str, token: Option<&str>) -> String {
    match token {
        None => format!("{path}?limit={PAGE}"),
        Some(t) => format!("{path}?limit={PAGE}&continue={}", percent_encode(t)),
    }
}

/// A continue token in a query (tokens are base64: `+`, `/` and `=` need escaping).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn spawn(kube: &KubeFlags, path: &str) -> anyhow::Result<Child> {
    kube.kubectl(&["get", "--raw", path, "--request-timeout", REQUEST_TIMEOUT])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running kubectl (set KUBECTL to its path if it is not on PATH)")
}

fn finish(child: Child) -> anyhow::Result<Outcome> {
    let out = child.wait_with_output().context("running kubectl")?;
    Ok(outcome(out.status.success(), &out.stdout, &out.stderr))
}

/// Reads the cluster's objects and resolves them; notes (kinds not installed, objects left
/// out, pods without an IP) go to stderr.
///
/// Errors: the cluster unreachable, the credentials refused, any list forbidden by RBAC (all
/// of them named), a list that fails otherwise, or the policies not resolving.
pub fn read(src: &ClusterSource) -> anyhow::Result<LiveCluster> {
    let label = match &src.kube.context {
        Some(c) => format!("the cluster (context {c})"),
        None => "the cluster (kubectl's current context)".to_string(),
    };
    let lists = lists(src.antrea_crds);
    // First pages in parallel: one kubectl each.
    let children: Vec<(Child, String)> = lists
        .iter()
        .map(|l| {
            let p = page_path(&l.path, None);
            spawn(&src.kube, &p).map(|c| (c, p))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut firsts = Vec::new();
    for (child, p) in children {
        firsts.push((finish(child)?, p));
    }
    let (mut forbidden, mut missing) = (Vec::new(), Vec::new());
    let mut failed: Vec<(String, Vec<String>)> = Vec::new();
    let mut listed = Vec::new();
    // One message per distinct failure, with the reads it failed (a kubectl configuration
    // error fails them all alike).
    let mut fail =
        |message: String, path: String| match failed.iter_mut().find(|(m, _)| *m == message) {
            Some((_, paths)) => paths.push(path),
            None => failed.push((message, vec![path])),
        };
    for (l, (o, path)) in lists.iter().zip(firsts) {
        match o {
            Outcome::Listed(v) => listed.push((l, v)),
            Outcome::NotFound if l.optional => missing.push(l.what.clone()),
            Outcome::NotFound => fail(
                "not found (is this a Kubernetes API server?)".to_string(),
                path,
            ),
            Outcome::Forbidden(m) => forbidden.push((l.what.clone(), m)),
            Outcome::Unauthorized(m) => {
                anyhow::bail!("{label} refused kubectl's credentials: {m}")
            }
            Outcome::Unreachable(m) => anyhow::bail!("cannot reach {label}: {m}"),
            Outcome::Failed(m) => fail(m, path),
        }
    }
    if !forbidden.is_empty() {
        let what: Vec<&str> = forbidden.iter().map(|(w, _)| w.as_str()).collect();
        anyhow::bail!(
            "RBAC: the user of {label} may not list {} (all namespaces); reading policies \
             needs get/list on each (`kubectl auth can-i list pods --all-namespaces`). \
             The API server said: {}",
            what.join(", "),
            forbidden[0].1
        );
    }
    if !failed.is_empty() {
        let all = lists.len();
        let text: Vec<String> = failed
            .iter()
            .map(|(m, paths)| match paths.len() {
                n if n == all => format!("{m} (every list)"),
                _ => format!("{m} (GET {})", paths.join(", ")),
            })
            .collect();
        anyhow::bail!("reading {label}: {}", text.join("; "));
    }
    let mut snapshot = Snapshot::default();
    for (l, mut page) in listed {
        loop {
            snapshot.add(&l.of, &page);
            let token = page["metadata"]["continue"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            let Some(token) = token else { break };
            let p = page_path(&l.path, Some(&token));
            page = match finish(spawn(&src.kube, &p)?)? {
                Outcome::Listed(v) => v,
                Outcome::Forbidden(m) | Outcome::Unauthorized(m) | Outcome::Unreachable(m) => {
                    anyhow::bail!("reading {label}, GET {p}: {m}")
                }
                Outcome::Failed(m) => anyhow::bail!("reading {label}, GET {p}: {m}"),
                Outcome::NotFound => anyhow::bail!("reading {label}, GET {p}: not found"),
            };
        }
    }
    if !missing.is_empty() {
        eprintln!(
            "kakinectl: not installed in {label}, answered without them: {}",
            missing.join(", ")
        );
    }
    for e in &snapshot.left_out {
        eprintln!("kakinectl: left out (as the controller leaves it out): {e}");
    }
    let policies = kakine::policy::resolve(&snapshot.cluster, &snapshot.objects)
        .with_context(|| format!("the policies of {label}"))?;
    Ok(LiveCluster {
        policies,
        about: About {
            pending_pods: snapshot.pending_pods,
            label,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_errors_are_sorted_by_what_they_mean() {
        let o = |e: &str| outcome(false, b"", e.as_bytes());
        assert!(matches!(
            o("Error from server (NotFound): the server could not find the requested resource"),
            Outcome::NotFound
        ));
        assert!(matches!(
            o("Error from server (Forbidden): pods is forbidden: User \"u\" cannot list"),
            Outcome::Forbidden(_)
        ));
        assert!(matches!(
            o("The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?"),
            Outcome::Unreachable(_)
        ));
        assert!(matches!(
            o("error: You must be logged in to the server (Unauthorized)"),
            Outcome::Unauthorized(_)
        ));
        assert!(matches!(o("something else"), Outcome::Failed(m) if m == "something else"));
        assert!(matches!(outcome(true, b"{}", b""), Outcome::Listed(_)));
    }

    #[test]
    fn a_continue_token_is_escaped_in_the_next_page_path() {
        assert_eq!(page_path("/api/v1/pods", None), "/api/v1/pods?limit=500");
        assert_eq!(
            page_path("/api/v1/pods", Some("eyJ2Ijo+/=")),
            "/api/v1/pods?limit=500&continue=eyJ2Ijo%2B%2F%3D"
        );
    }
}
