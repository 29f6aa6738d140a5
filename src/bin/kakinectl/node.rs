//! Commands that read a running agent: its bridge's flows and its state directory.

use crate::args::{OvsArgs, StateDirArgs};

#[derive(clap::Args, Debug)]
pub struct DumpFlowsArgs {
    #[command(flatten)]
    ovs: OvsArgs,
    #[command(flatten)]
    state: StateDirArgs,
    /// Only this table (name or number).
    #[arg(long)]
    table: Option<String>,
    /// Dump the flows of this node of a live cluster, through its kakine-agent pod (`kubectl
    /// exec`, with kubectl's configuration) instead of the local bridge.
    #[arg(long, value_name = "NODE")]
    node: Option<String>,
    #[command(flatten)]
    kube: crate::cluster::KubeFlags,
    /// With `--node`: the namespace kakine runs in.
    #[arg(long, default_value = "kube-system", value_name = "NS")]
    kakine_namespace: String,
}

#[derive(clap::Args, Debug)]
pub struct RefusedArgs {
    #[command(flatten)]
    state: StateDirArgs,
}

pub async fn dump_flows(a: DumpFlowsArgs) -> anyhow::Result<()> {
    let DumpFlowsArgs {
        ovs: OvsArgs { ovs_rundir, bridge },
        state: StateDirArgs { state_dir },
        table,
        node,
        kube,
        kakine_namespace,
    } = a;
    if let Some(node) = node {
        return crate::cluster::dump_flows_on(&kube, &kakine_namespace, &node, table.as_deref());
    }
    let table = match table {
        None => None,
        Some(t) => Some(match t.parse::<u8>() {
            Ok(n) => n,
            Err(_) => {
                kakine::datapath::pipeline::table(&t)
                    .map_err(|e| anyhow::anyhow!("--table {t}: {e}"))?
                    .id
            }
        }),
    };
    let state = kakine::agent::state::read_agent_state(&state_dir)?;
    if state.is_none() {
        eprintln!(
            "kakinectl: no {} in {}: rules and pods are shown by id",
            kakine::agent::state::AGENT_STATE,
            state_dir.display()
        );
    }
    let sock = ovs_rundir.join(format!("{bridge}.mgmt"));
    let conn = match openflow::Connection::connect_unix(&sock).await {
        Ok(c) => c,
        // One line: the I/O error is the whole story (no "I/O: x: x" chain).
        Err(openflow::Error::Io(e)) => anyhow::bail!(
            "OpenFlow {}: {e} (is ovs-vswitchd running with bridge {bridge}? --ovs-rundir or OVS_RUNDIR names its run directory)",
            sock.display()
        ),
        Err(e) => anyhow::bail!("OpenFlow {}: {e}", sock.display()),
    };
    let mut flows = conn.dump_flows(table).await?;
    flows.sort_by_key(|f| (f.table_id, std::cmp::Reverse(f.priority)));
    for f in &flows {
        println!("{}", kakine::agent::annotate::line(f, state.as_ref()));
    }
    Ok(())
}

pub fn refused(a: RefusedArgs) -> anyhow::Result<()> {
    print!(
        "{}",
        kakine::agent::inspect::render_refused(&kakine::agent::inspect::refused(
            &a.state.state_dir
        )?)
    );
    Ok(())
}
