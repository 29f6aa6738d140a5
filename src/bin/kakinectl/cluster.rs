//! Commands that read a live cluster, for `kubectl kakine ...` (kakinectl installed as the
//! kubectl plugin `kubectl-kakine`, docs/install.md). They run `kubectl` itself, so the user's
//! kubeconfig, context, credential plugins and proxies apply exactly as they do for kubectl.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context as _;
use serde_json::Value;

/// How to reach the cluster: kubectl's own flags, passed on.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KubeFlags {
    /// The kubeconfig context (`kubectl --context`); default: the current context.
    #[arg(long)]
    pub context: Option<String>,
    /// The kubeconfig file (`kubectl --kubeconfig`); default: `KUBECONFIG` or ~/.kube/config.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
}

impl KubeFlags {
    /// `kubectl [--kubeconfig F] [--context C] ARGS`.
    pub(crate) fn kubectl(&self, args: &[&str]) -> Command {
        let mut c = Command::new(std::env::var_os("KUBECTL").unwrap_or("kubectl".into()));
        if let Some(k) = &self.kubeconfig {
            c.arg("--kubeconfig").arg(k);
        }
        if let Some(ctx) = &self.context {
            c.arg("--context").arg(ctx);
        }
        c.args(args);
        c
    }

    /// Runs kubectl and parses its JSON output.
    fn get_json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let out = self
            .kubectl(args)
            .output()
            .context("running kubectl (set KUBECTL to its path if it is not on PATH)")?;
        if !out.status.success() {
            anyhow::bail!(
                "kubectl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        serde_json::from_slice(&out.stdout)
            .with_context(|| format!("kubectl {}: output is not JSON", args.join(" ")))
    }
}

#[derive(clap::Args, Debug)]
pub struct RealizationArgs {
    /// Only the policies of this name.
    name: Option<String>,
    /// Read a standalone controller instead of the cluster: its `--metrics-addr`,
    /// `http://HOST:PORT` (`GET /v1/realization`, docs/controlplane.md).
    #[arg(long, value_name = "URL")]
    controller: Option<String>,
    /// `table`, or `json`: `{"items": [{"kind", "name", "status"}]}`, the status as the CRD's.
    #[arg(long, short, default_value = "table", value_parser = ["table", "json"])]
    output: String,
    #[command(flatten)]
    kube: KubeFlags,
}

/// `kakinectl realization`: each kakine policy's realization from its status (written by the
/// leading controller from the agents' reports: docs/kubernetes.md, "Status"), or from a
/// standalone controller (`--controller`): phase, the nodes that realized it of those whose
/// span holds it, and the failing nodes with their reasons.
pub fn realization(a: RealizationArgs) -> anyhow::Result<()> {
    // A namespaced policy's name is `namespace/name`: either matches.
    let wanted = |name: &str| {
        let short = name.rsplit('/').next().unwrap_or(name);
        a.name.as_deref().is_none_or(|n| n == name || n == short)
    };
    let mut items = Vec::new();
    if let Some(url) = &a.controller {
        let all = http_get_json(url, "/v1/realization")?;
        for item in all["items"].as_array().into_iter().flatten() {
            if wanted(item["name"].as_str().unwrap_or_default()) {
                items.push(item.clone());
            }
        }
    } else {
        for (kind, resource) in [
            (
                "ClusterNetworkPolicy",
                "clusternetworkpolicies.crd.kakine.io",
            ),
            ("NetworkPolicy", "networkpolicies.crd.kakine.io"),
        ] {
            let list = a
                .kube
                .get_json(&["get", resource, "--all-namespaces", "-o", "json"])?;
            for item in list["items"].as_array().into_iter().flatten() {
                let name = item["metadata"]["name"].as_str().unwrap_or_default();
                let full = match item["metadata"]["namespace"].as_str() {
                    Some(ns) => format!("{ns}/{name}"),
                    None => name.to_string(),
                };
                if wanted(&full) {
                    items.push(serde_json::json!({
                        "kind": kind, "name": full, "status": item["status"],
                    }));
                }
            }
        }
    }
    if items.is_empty() {
        anyhow::bail!(
            "no kakine policy{} {}",
            a.name
                .as_ref()
                .map(|n| format!(" named {n}"))
                .unwrap_or_default(),
            match &a.controller {
                Some(url) => format!("served by the controller at {url}"),
                None => "in the cluster".to_string(),
            }
        );
    }
    if a.output == "json" {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "items": items }))?
        );
        return Ok(());
    }
    let rows: Vec<[String; 6]> = items
        .iter()
        .map(|i| {
            realization_row(
                i["kind"].as_str().unwrap_or_default(),
                i["name"].as_str().unwrap_or_default(),
                &i["status"],
            )
        })
        .collect();
    print!("{}", render_rows(&rows));
    Ok(())
}

/// One line of `realization`: kind, name, phase, current/desired nodes, the failing nodes
/// with their reasons and the pending ones with what they wait for (`-` for none).
fn realization_row(kind: &str, name: &str, status: &Value) -> [String; 6] {
    let n = |k: &str| {
        status[k]
            .as_i64()
            .map_or("-".to_string(), |v| v.to_string())
    };
    let condition = |type_: &str| {
        status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == type_ && c["status"] == "True")
            .and_then(|c| c["message"].as_str())
            .filter(|m| !m.is_empty())
            .unwrap_or("-")
            .to_string()
    };
    [
        kind.to_string(),
        name.to_string(),
        status["phase"].as_str().unwrap_or("-").to_string(),
        format!(
            "{}/{}",
            n("currentNodesRealized"),
            n("desiredNodesRealized")
        ),
        condition("RealizationFailure"),
        condition("RealizationPending"),
    ]
}

/// `GET path` of `url` (`http://HOST:PORT`, plain HTTP/1.0) as JSON.
fn http_get_json(url: &str, path: &str) -> anyhow::Result<Value> {
    use std::io::{Read, Write};
    let addr = url
        .strip_prefix("http://")
        .map(|a| a.trim_end_matches('/'))
        .with_context(|| {
            format!("--controller {url}: expected http://HOST:PORT (its --metrics-addr)")
        })?;
    let timeout = std::time::Duration::from_secs(10);
    let mut tcp = std::net::TcpStream::connect(addr)
        .with_context(|| format!("--controller {url}: connect"))?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    write!(tcp, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer)
        .with_context(|| format!("--controller {url}: read"))?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("{url}{path}: not an HTTP answer"))?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        anyhow::bail!("{url}{path}: {status}: {}", body.trim());
    }
    serde_json::from_str(body).with_context(|| format!("{url}{path}: not JSON"))
}

fn render_rows(rows: &[[String; 6]]) -> String {
    let head = ["KIND", "NAME", "PHASE", "NODES", "FAILURES", "PENDING"].map(String::from);
    let all: Vec<&[String; 6]> = std::iter::once(&head).chain(rows).collect();
    let width = |i: usize| all.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..5).map(width).collect();
    all.iter()
        .map(|r| {
            let mut line = String::new();
            for (cell, w) in r.iter().zip(&widths) {
                line.push_str(&format!("{cell:<w$}  "));
            }
            line.push_str(&r[5]);
            line.trim_end().to_string() + "\n"
        })
        .collect()
}

/// The kakine-agent pod of `node`.
fn agent_pod(kube: &KubeFlags, namespace: &str, node: &str) -> anyhow::Result<String> {
    let selector = format!("spec.nodeName={node}");
    let pods = kube.get_json(&[
        "get",
        "pods",
        "-n",
        namespace,
        "-l",
        "app.kubernetes.io/name=kakine-agent",
        "--field-selector",
        &selector,
        "-o",
        "json",
    ])?;
    pods["items"][0]["metadata"]["name"]
        .as_str()
        .map(String::from)
        .with_context(|| format!("no kakine-agent pod on node {node} in namespace {namespace}"))
}

/// `dump-flows --node NODE`: the same command run by the node's agent container (`kubectl
/// exec`), whose kakinectl reads br-int and the agent's state directory there.
///
/// `namespace` is the namespace kakine runs in (`--kakine-namespace`).
pub fn dump_flows_on(
    kube: &KubeFlags,
    namespace: &str,
    node: &str,
    table: Option<&str>,
) -> anyhow::Result<()> {
    let pod = agent_pod(kube, namespace, node)?;
    let mut args = vec![
        "exec",
        "-n",
        namespace,
        &pod,
        "-c",
        "kakine-agent",
        "--",
        "kakinectl",
        "dump-flows",
    ];
    if let Some(t) = table {
        args.extend(["--table", t]);
    }
    let status = kube.kubectl(&args).status().context("running kubectl")?;
    if !status.success() {
        anyhow::bail!("kubectl exec {pod} (node {node}): {status}");
    }
    Ok(())
}

/// Whether this process was started as the kubectl plugin (`kubectl kakine` runs the
/// `kubectl-kakine` found on PATH, a link to kakinectl).
pub fn invoked_as_plugin() -> bool {
    std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
        .is_some_and(|f| f == "kubectl-kakine")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_becomes_one_row_with_its_failures_and_pending_nodes() {
        let status = serde_json::json!({
            "phase": "Failed", "observedGeneration": 2,
            "currentNodesRealized": 2, "desiredNodesRealized": 3,
            "conditions": [
                {"type": "Realizable", "status": "True"},
                {"type": "RealizationFailure", "status": "True", "message": "node-c: bundle refused"},
                {"type": "RealizationPending", "status": "False"}
            ]
        });
        let row = realization_row("ClusterNetworkPolicy", "deny-all", &status);
        assert_eq!(
            row,
            [
                "ClusterNetworkPolicy",
                "deny-all",
                "Failed",
                "2/3",
                "node-c: bundle refused",
                "-"
            ]
        );
        let pending = serde_json::json!({
            "phase": "Realizing",
            "currentNodesRealized": 1, "desiredNodesRealized": 2,
            "conditions": [
                {"type": "RealizationFailure", "status": "False"},
                {"type": "RealizationPending", "status": "True",
                 "message": "node-a: pod db/job: no interface kak1 on the node yet"}
            ]
        });
        let row2 = realization_row("NetworkPolicy", "db/p", &pending);
        assert_eq!(
            row2[4..],
            ["-", "node-a: pod db/job: no interface kak1 on the node yet"]
        );
        let empty = realization_row("NetworkPolicy", "ns/p", &Value::Null);
        assert_eq!(empty, ["NetworkPolicy", "ns/p", "-", "-/-", "-", "-"]);
        assert_eq!(
            render_rows(&[row, row2]),
            "KIND                  NAME      PHASE      NODES  FAILURES                PENDING\n\
             ClusterNetworkPolicy  deny-all  Failed     2/3    node-c: bundle refused  -\n\
             NetworkPolicy         db/p      Realizing  1/2    -                       node-a: pod db/job: no interface kak1 on the node yet\n"
        );
    }
}
