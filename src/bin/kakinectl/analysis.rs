//! `kakinectl matrix` and `kakinectl diff`: reachability of every pod pair, and what a change to
//! the policies changes.

use std::path::{Path, PathBuf};

use anyhow::Context;
use kakine::analysis::matrix::{declared_services, scenario};
use kakine::analysis::{matrix, ServiceSpec};
use kakine::policy::ResolvedPolicies;
use serde_json::Value;

use crate::cluster_objects::ClusterSource;

#[derive(clap::Args, Debug)]
pub struct MatrixArgs {
    /// Input directory (cluster model + policies); or `--cluster`.
    #[arg(required_unless_present = "cluster", conflicts_with = "cluster")]
    dir: Option<PathBuf>,
    /// The live cluster instead of DIR (`--cluster`).
    #[command(flatten)]
    cluster: ClusterSource,
    /// Comma-separated services: `80`, `tcp/80`, `udp/53`, `sctp/9`, a container port name
    /// (`http`, `udp/dns`; resolved on each server), `icmp` or `icmp/TYPE/CODE`. Default: every
    /// port the cluster model's pods declare.
    #[arg(long, value_delimiter = ',')]
    ports: Vec<String>,
    /// Print each cell's deciding egress and ingress rules.
    #[arg(long)]
    rules: bool,
    /// Output format: `text` or `json`.
    #[arg(short = 'o', long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
    /// Also write the combined verdicts as a scenario file (docs/scenarios.md), for
    /// `kakinectl test` to hold later changes to.
    #[arg(long, value_name = "FILE", conflicts_with = "cluster")]
    emit_scenario: Option<PathBuf>,
}

/// The services of `--ports`, or the model's declared ports.
fn services(ports: &[String], p: &ResolvedPolicies) -> anyhow::Result<Vec<ServiceSpec>> {
    if ports.is_empty() {
        let s = declared_services(p);
        if s.is_empty() {
            anyhow::bail!("the cluster model's pods declare no ports: name some with --ports");
        }
        return Ok(s);
    }
    let (ok, bad): (Vec<_>, Vec<_>) = ports
        .iter()
        .map(|s| ServiceSpec::parse(s))
        .partition(Result::is_ok);
    if !bad.is_empty() {
        let errors: Vec<String> = bad.into_iter().filter_map(Result::err).collect();
        anyhow::bail!("--ports: {}", errors.join("; "));
    }
    Ok(ok.into_iter().filter_map(Result::ok).collect())
}

/// The input's documents as written: its `Cluster` documents and its policy documents (other
/// Kubernetes objects skipped), files in name order.
fn documents(dir: &Path) -> anyhow::Result<(Vec<Value>, Vec<Value>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| dir.display().to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let (mut clusters, mut policies) = (Vec::new(), Vec::new());
    for f in files {
        let text = std::fs::read_to_string(&f).with_context(|| f.display().to_string())?;
        for doc in kakine::policy::load::parse_documents(&f, &text)? {
            if doc.get("kind").and_then(Value::as_str) == Some("Cluster") {
                clusters.push(doc);
            } else if kakine::policy::load::is_policy_document(&doc) {
                policies.push(doc);
            }
        }
    }
    Ok((clusters, policies))
}

pub fn matrix_cmd(a: MatrixArgs) -> anyhow::Result<()> {
    let p = match &a.dir {
        Some(dir) if !a.cluster.cluster => kakine::agent::load_input(dir)?,
        _ => crate::cluster_objects::read(&a.cluster)?.policies,
    };
    let services = services(&a.ports, &p)?;
    let m = matrix(&p, &services);
    if a.output == "json" {
        println!("{:#}", m.to_json());
    } else {
        print!("{}", m.render(a.rules));
    }
    if let (Some(file), Some(dir)) = (&a.emit_scenario, &a.dir) {
        let (clusters, policies) = documents(dir)?;
        let id = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "matrix".to_string());
        let doc = scenario(&id, &clusters, policies, &m);
        let text = format!(
            "# Reachability scenario (docs/scenarios.md), written by kakinectl matrix --emit-scenario.\n{}",
            serde_saphyr::to_string(&doc).context("scenario as YAML")?
        );
        std::fs::write(file, text).with_context(|| file.display().to_string())?;
        eprintln!("wrote {} probes to {}", m.cells.len(), file.display());
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// The input before the change: a directory (cluster model + policies) or a policy file
    /// (then the cluster model comes from the other side).
    before: PathBuf,
    /// The input after the change (not with `--staged`).
    #[arg(required_unless_present = "staged", conflicts_with = "staged")]
    after: Option<PathBuf>,
    /// Compare BEFORE as enforced with BEFORE with its staged policies and rules enforced:
    /// what promoting them would change.
    #[arg(long)]
    staged: bool,
    /// Comma-separated services, as for `matrix`. Default: every port either model's pods
    /// declare.
    #[arg(long, value_delimiter = ',')]
    ports: Vec<String>,
    /// Output format: `text` or `json`.
    #[arg(short = 'o', long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

/// An input directory, or a file of policy documents (with or without a cluster model).
fn load(path: &Path) -> anyhow::Result<kakine::policy::Input> {
    let input = if path.is_dir() {
        kakine::policy::load_dir(path)?
    } else {
        kakine::policy::load_files(&[path.to_path_buf()])?
    };
    Ok(input)
}

fn has_model(input: &kakine::policy::Input) -> bool {
    !input.cluster.pods.is_empty() || !input.cluster.namespaces.is_empty()
}

pub fn diff_cmd(a: DiffArgs) -> anyhow::Result<()> {
    let before_path = a.before.clone();
    let (mut before, mut after, after_path) = match &a.after {
        Some(after) => (load(&a.before)?, load(after)?, after.clone()),
        None => {
            let before = load(&a.before)?;
            let mut after = before.clone();
            after.objects = kakine::analysis::diff::enforce_staged(&before.objects);
            (before, after, a.before.clone())
        }
    };
    match (has_model(&before), has_model(&after)) {
        (true, false) => after.cluster = before.cluster.clone(),
        (false, true) => before.cluster = after.cluster.clone(),
        (false, false) => anyhow::bail!(
            "neither {} nor {} holds a cluster model (a Cluster document)",
            before_path.display(),
            after_path.display()
        ),
        (true, true) => {}
    }
    let resolve = |i: &kakine::policy::Input, path: &Path| {
        kakine::policy::resolve(&i.cluster, &i.objects).with_context(|| path.display().to_string())
    };
    let (rb, ra) = (
        resolve(&before, &before_path)?,
        resolve(&after, &after_path)?,
    );
    let services = if a.ports.is_empty() {
        let mut s = declared_services(&rb);
        s.extend(declared_services(&ra));
        s.sort();
        s.dedup();
        if s.is_empty() {
            anyhow::bail!("the cluster models' pods declare no ports: name some with --ports");
        }
        s
    } else {
        services(&a.ports, &rb)?
    };
    let (mb, ma) = (matrix(&rb, &services), matrix(&ra, &services));
    let d = kakine::analysis::diff::diff((&before, &mb), (&after, &ma))?;
    if a.output == "json" {
        println!("{:#}", d.to_json());
    } else {
        print!("{d}");
    }
    if d.verdicts_change() {
        std::process::exit(1);
    }
    Ok(())
}
