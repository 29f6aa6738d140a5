//! `kakinectl explain`: a connection walked through every tier of both directions, from an input
//! directory or from what the agent enforces.

use std::path::PathBuf;

use kakine::analysis::live::{self, NodeDirs};
use kakine::analysis::{walk, Endpoint, PortSpec, Query, Walkthrough};
use kakine::policy::resolved::Protocol;

use crate::args::{OvsArgs, StateDirArgs};
use crate::cluster_objects::{self, ClusterSource};
use crate::protocol;

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// Input directory (cluster model + policies); or `--cluster`, `--enforced`. With `--live`, the
    /// offline side of the comparison (default: what the agent enforces).
    #[arg(
        required_unless_present_any = ["enforced", "live", "cluster"],
        conflicts_with_all = ["enforced", "cluster"]
    )]
    dir: Option<PathBuf>,
    /// The live cluster instead of DIR (`--cluster`).
    #[command(flatten)]
    cluster: ClusterSource,
    /// Answer from the agent's state directory: the policy it enforces, which differs from
    /// the input while objects of the input are refused.
    #[arg(long, conflicts_with = "cluster")]
    enforced: bool,
    /// Ask the running node too: an `ofproto/trace` of the connection's first packet on the
    /// agent's bridge, decoded to the deciding rules, and the audit-log lines of the
    /// connection, beside the offline answer. Exit status 3 when they disagree; 4 when they
    /// agree but the node drops the packet by forwarding (no route to the server: not a
    /// policy, said as `FORWARDING DROP` with the table and why).
    #[arg(long, conflicts_with = "cluster")]
    pub live: bool,
    /// A node's directory as `kakinectl demo --keep` and `kakinectl lab up` leave it (one per
    /// node: `run/lab/n0`): the OVS run directory, with the agent's state in `DIR/state`.
    /// Sets `--ovs-rundir` and `--state-dir`.
    #[arg(long, value_name = "DIR")]
    node_dir: Option<PathBuf>,
    /// With `--live`, the server's node when it is not the client's (a node lab's `run/lab/n1`,
    /// same bridge): the packet that leaves by the tunnel is traced there too, and its ingress
    /// decided and compared.
    #[arg(long, value_name = "DIR", requires = "live")]
    server_node_dir: Option<PathBuf>,
    #[command(flatten)]
    state: StateDirArgs,
    #[command(flatten)]
    ovs: OvsArgs,
    /// The agent's audit log (with `--live`; the agent's default `/var/log/kakine/np.log`).
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// Client: a pod (`namespace/name`), an IPv4 address or a CIDR (answered per block of
    /// addresses the rules treat alike).
    #[arg(long)]
    from: String,
    /// Server: a pod, an IPv4 address or a CIDR.
    #[arg(long)]
    to: String,
    /// Destination port: a number, or a container port name resolved on the destination pod.
    /// Not needed for ICMP (where a number is taken as the ICMP type, as before).
    #[arg(long)]
    port: Option<String>,
    /// TCP, UDP, SCTP or ICMP.
    #[arg(long, default_value = "TCP")]
    protocol: String,
    /// ICMP type (default 8, echo request).
    #[arg(long, value_name = "TYPE")]
    icmp_type: Option<u8>,
    /// ICMP code (default 0).
    #[arg(long, value_name = "CODE")]
    icmp_code: Option<u8>,
    /// Source port of the connection (rules with `sourcePort` match only a fixed one).
    #[arg(long)]
    source_port: Option<u16>,
    /// Output format: `text` or `json`.
    #[arg(short = 'o', long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
    /// Exit status 1 when the connection (or any block of a CIDR) is dropped or rejected, 0
    /// when allowed; errors then exit 2.
    #[arg(long)]
    pub exit_code: bool,
}

pub async fn explain(a: ExplainArgs) -> anyhow::Result<()> {
    let (ovs_rundir, state_dir) = match &a.node_dir {
        Some(d) => (d.clone(), d.join("state")),
        None => (a.ovs.ovs_rundir.clone(), a.state.state_dir.clone()),
    };
    let from = Endpoint::parse(&a.from).map_err(|e| anyhow::anyhow!("--from {e}"))?;
    let to = Endpoint::parse(&a.to).map_err(|e| anyhow::anyhow!("--to {e}"))?;
    let mut about = None;
    let (policies, source) = match &a.dir {
        _ if a.cluster.cluster => {
            let c = cluster_objects::read(&a.cluster)?;
            let label = PathBuf::from(&c.about.label);
            about = Some(c.about);
            (c.policies, label)
        }
        Some(dir) if !a.enforced => (kakine::agent::load_input(dir)?, dir.clone()),
        _ => (
            kakine::agent::inspect::enforced(&state_dir)?,
            kakine::agent::inspect::enforced_file(&state_dir),
        ),
    };
    for e in [&from, &to] {
        if let Endpoint::Pod(key) = e {
            if !policies.pods.iter().any(|p| &p.key == key) {
                if let Some(c) = &about {
                    return Err(c.no_pod(&key.to_string()));
                }
                anyhow::bail!("no pod {key} in the cluster model of {}", source.display());
            }
        }
    }
    let protocol = protocol(&a.protocol)?;
    let port = match (protocol, &a.port) {
        (Protocol::Icmp, port) => {
            // An ICMP --port is the type, as kakinectl took it before --icmp-type.
            let from_port = match port {
                Some(p) => Some(p.parse::<u8>().map_err(|_| {
                    anyhow::anyhow!(
                        "--port {p}: with ICMP, --port is the ICMP type 0-255 (or use --icmp-type)"
                    )
                })?),
                None => None,
            };
            PortSpec::Icmp(
                a.icmp_type.or(from_port).unwrap_or(8),
                a.icmp_code.unwrap_or(0),
            )
        }
        (_, _) if a.icmp_type.is_some() || a.icmp_code.is_some() => {
            anyhow::bail!("--icmp-type and --icmp-code need --protocol ICMP")
        }
        (_, None) => anyhow::bail!("--port is required with {}", a.protocol.to_uppercase()),
        (_, Some(p)) => match p.parse::<u16>() {
            Ok(n) => PortSpec::Number(n),
            Err(_) if p.chars().all(|c| c.is_ascii_digit()) => {
                anyhow::bail!("--port {p}: out of range 0-65535")
            }
            Err(_) => PortSpec::Named(p.clone()),
        },
    };
    let query = Query {
        from,
        to,
        protocol,
        port,
        source_port: a.source_port,
    };
    let answer = walk(&policies, &query).map_err(|e| anyhow::anyhow!("{e}"))?;
    if a.live {
        let node = NodeDirs {
            ovs_rundir,
            bridge: a.ovs.bridge.clone(),
            state_dir,
            audit_log: Some(
                a.audit_log
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("/var/log/kakine/np.log")),
            ),
        };
        let server_node = a.server_node_dir.as_ref().map(|d| NodeDirs {
            ovs_rundir: d.clone(),
            bridge: a.ovs.bridge.clone(),
            state_dir: d.join("state"),
            audit_log: node.audit_log.clone(),
        });
        return live(&a, &policies, &source, &node, server_node.as_ref(), answer).await;
    }
    if a.output == "json" {
        println!("{:#}", answer.to_json());
    } else {
        print!("{answer}");
    }
    if a.exit_code && !answer.allowed() {
        std::process::exit(1);
    }
    Ok(())
}

/// `--live`: the node's answer beside the offline one; exit 3 when they disagree, 4 when they
/// agree and the node drops the packet by forwarding.
async fn live(
    a: &ExplainArgs,
    policies: &kakine::policy::resolved::ResolvedPolicies,
    source: &std::path::Path,
    node: &NodeDirs,
    server_node: Option<&NodeDirs>,
    answer: Walkthrough,
) -> anyhow::Result<()> {
    let [case] = answer.cases.as_slice() else {
        anyhow::bail!(
            "--live traces one connection: --from {} and --to {} cover {} cases",
            a.from,
            a.to,
            answer.cases.len()
        );
    };
    let node_answer = live::ask(node, server_node, policies, &answer.query)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let differ = live::disagreements(case, &node_answer);
    if a.output == "json" {
        println!(
            "{:#}",
            serde_json::json!({
                "offline": answer.to_json(),
                "offline_source": source.display().to_string(),
                "node": node_answer.to_json(),
                "node_dirs": {
                    "ovs_rundir": node.ovs_rundir.display().to_string(),
                    "bridge": node.bridge,
                    "state_dir": node.state_dir.display().to_string(),
                },
                "agree": differ.is_empty(),
                "disagreements": differ,
            })
        );
    } else {
        print!(
            "{}",
            kakine::analysis::live_text::side_by_side(
                &answer,
                case,
                &node_answer,
                &differ,
                &source.display().to_string(),
                &format!("{} {}", node.ovs_rundir.display(), node.bridge),
            )
        );
    }
    if !differ.is_empty() {
        std::process::exit(3);
    }
    if node_answer.forwarding.is_some() {
        std::process::exit(4);
    }
    if a.exit_code && !answer.allowed() {
        std::process::exit(1);
    }
    Ok(())
}
