//! `kakinectl graph` and `kakinectl recommend`: the dependency map of observed traffic, and the
//! least-privilege policies that keep exactly it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use kakine::analysis::observed::{graph, parse_audit, parse_conntrack, Connection, Graph};
use kakine::analysis::{recommend, render};

#[derive(clap::Args, Debug)]
pub struct ObservedArgs {
    /// Input directory (cluster model + the running policies).
    dir: PathBuf,
    /// Conntrack dumps of the nodes (`ovs-appctl dpctl/dump-conntrack` output), one file each.
    #[arg(long, value_name = "FILE")]
    conntrack: Vec<PathBuf>,
    /// Audit logs of the agents (text or JSON lines); their Allow lines are connections.
    #[arg(long, value_name = "FILE")]
    audit_log: Vec<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct GraphArgs {
    #[command(flatten)]
    input: ObservedArgs,
    /// Output format: `dot` (Graphviz), `svg`, `html` (a page with the SVG and the edge table)
    /// or `json`.
    #[arg(short = 'o', long, default_value = "dot", value_parser = ["dot", "svg", "html", "json"])]
    output: String,
}

#[derive(clap::Args, Debug)]
pub struct RecommendArgs {
    #[command(flatten)]
    input: ObservedArgs,
    /// The tier of the recommended ClusterNetworkPolicies.
    #[arg(long, default_value = "application")]
    tier: String,
    /// Their priority inside the tier.
    #[arg(long, default_value_t = 100.0)]
    priority: f64,
}

fn observed(a: &ObservedArgs) -> anyhow::Result<(kakine::policy::Input, Graph, Vec<Connection>)> {
    if a.conntrack.is_empty() && a.audit_log.is_empty() {
        anyhow::bail!("no traffic given: name --conntrack and/or --audit-log files");
    }
    let input = kakine::policy::load_dir(&a.dir)?;
    let p = kakine::policy::resolve(&input.cluster, &input.objects)?;
    let mut connections = Vec::new();
    for f in &a.conntrack {
        let text = std::fs::read_to_string(f).with_context(|| f.display().to_string())?;
        connections.extend(parse_conntrack(&text));
    }
    for f in &a.audit_log {
        let text = std::fs::read_to_string(f).with_context(|| f.display().to_string())?;
        connections.extend(parse_audit(&text));
    }
    let labels: BTreeMap<String, BTreeMap<String, String>> = input
        .cluster
        .pods
        .iter()
        .map(|p| (format!("{}/{}", p.namespace, p.name), p.labels.clone()))
        .collect();
    let g = graph(&p, &labels, &connections);
    Ok((input, g, connections))
}

pub fn graph_cmd(a: GraphArgs) -> anyhow::Result<()> {
    let (_, g, _) = observed(&a.input)?;
    match a.output.as_str() {
        "svg" => print!("{}", render::svg(&g)),
        "html" => print!(
            "{}",
            render::html(&g, &format!("kakine: traffic of {}", a.input.dir.display()))
        ),
        "json" => println!(
            "{:#}",
            serde_json::json!({
                "nodes": g.nodes.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
                "edges": g.edges.iter().map(|e| serde_json::json!({
                    "from": e.from.to_string(), "to": e.to.to_string(),
                    "service": render::service(e), "connections": e.connections,
                })).collect::<Vec<_>>(),
            })
        ),
        _ => print!("{}", render::dot(&g)),
    }
    Ok(())
}

pub fn recommend_cmd(a: RecommendArgs) -> anyhow::Result<()> {
    let (input, g, connections) = observed(&a.input)?;
    let docs = recommend::recommend(&input.cluster, &g, &a.tier, a.priority);
    let proof = recommend::prove(&input, &docs, &connections).map_err(|e| anyhow::anyhow!(e))?;
    for d in &docs {
        print!("---\n{}", serde_saphyr::to_string(d).context("YAML")?);
    }
    eprintln!(
        "proof: {} observed pod-to-pod connections stay allowed, {} would break; {} of {} cells change verdict",
        proof.kept,
        proof.broken.len(),
        proof.diff.cells.iter().filter(|c| c.verdict_changes()).count(),
        proof.diff.compared
    );
    for b in &proof.broken {
        eprintln!("  would break: {b}");
    }
    if !proof.broken.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
