//! `kakinectl explain`: which rules decide a connection, from an input directory or from what
//! the agent enforces.

use std::path::PathBuf;

use kakine::policy::resolved::Protocol;

use crate::{pod_key, protocol};

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
    /// Client pod, `namespace/name`.
    #[arg(long)]
    from: String,
    /// Server pod, `namespace/name`.
    #[arg(long)]
    to: String,
    /// Destination port (for ICMP: the ICMP type, e.g. 8 for a ping).
    #[arg(long)]
    port: u16,
    /// TCP, UDP, SCTP or ICMP.
    #[arg(long, default_value = "TCP")]
    protocol: String,
}

pub fn explain(a: ExplainArgs) -> anyhow::Result<()> {
    let ExplainArgs {
        dir,
        enforced,
        state_dir,
        from,
        to,
        port,
        protocol: proto,
    } = a;
    let (policies, source) = match dir {
        Some(dir) if !enforced => (kakine::agent::load_input(&dir)?, dir),
        _ => (
            kakine::agent::inspect::enforced(&state_dir)?,
            state_dir.join(kakine::agent::state::LAST_GOOD),
        ),
    };
    for pod in [&from, &to] {
        let key = pod_key(pod)?;
        if !policies.pods.iter().any(|p| p.key == key) {
            anyhow::bail!("no pod {pod} in the cluster model of {}", source.display());
        }
    }
    let probe = kakine::policy::Probe {
        from: pod_key(&from)?,
        to: kakine::policy::Destination::Pod(pod_key(&to)?),
        protocol: protocol(&proto)?,
        // For ICMP, --port is the ICMP type (code 0).
        port: match protocol(&proto)? {
            Protocol::Icmp => {
                let icmp_type = u8::try_from(port)
                    .map_err(|_| anyhow::anyhow!("ICMP type {port} is out of range 0-255"))?;
                kakine::policy::resolved::icmp_port(icmp_type, 0)
            }
            _ => port,
        },
        source_port: None,
    };
    let d = kakine::policy::evaluate(&policies, &probe);
    let rule = |r: &Option<kakine::policy::resolved::RuleRef>| {
        r.as_ref()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "-".into())
    };
    println!(
        "{from} -> {to} {}/{port}: {:?}",
        proto.to_uppercase(),
        d.verdict
    );
    println!("  egress:  {}", rule(&d.egress));
    println!("  ingress: {}", rule(&d.ingress));
    println!("  {}", d.reason);
    Ok(())
}
