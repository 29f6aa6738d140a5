//! `kakinectl explain`: a connection walked through every tier of both directions, from an input
//! directory or from what the agent enforces.

use std::path::PathBuf;

use kakine::analysis::{walk, Endpoint, PortSpec, Query};
use kakine::policy::resolved::Protocol;

use crate::protocol;

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// Input directory (cluster model + policies); not with `--enforced`.
    #[arg(required_unless_present = "enforced", conflicts_with = "enforced")]
    dir: Option<PathBuf>,
    /// Answer from the agent's state directory: the policy it enforces, which differs from
    /// the input while objects of the input are refused.
    #[arg(long)]
    enforced: bool,
    /// The agent's state directory (with `--enforced`).
    #[arg(
        long,
        env = "KAKINE_STATE_DIR",
        default_value = "/var/lib/kakine",
        value_name = "DIR"
    )]
    state_dir: PathBuf,
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

pub fn explain(a: ExplainArgs) -> anyhow::Result<()> {
    let (policies, source) = match &a.dir {
        Some(dir) if !a.enforced => (kakine::agent::load_input(dir)?, dir.clone()),
        _ => (
            kakine::agent::inspect::enforced(&a.state_dir)?,
            a.state_dir.join(kakine::agent::state::LAST_GOOD),
        ),
    };
    let from = Endpoint::parse(&a.from).map_err(|e| anyhow::anyhow!("--from {e}"))?;
    let to = Endpoint::parse(&a.to).map_err(|e| anyhow::anyhow!("--to {e}"))?;
    for e in [&from, &to] {
        if let Endpoint::Pod(key) = e {
            if !policies.pods.iter().any(|p| &p.key == key) {
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
