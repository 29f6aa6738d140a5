//! Commands answered from an input directory alone: validate, compile, spans.

use std::path::PathBuf;
use std::time::Duration;

use kakine::policy::resolved::PodKey;

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// YAML files and directories (their .yaml/.yml files).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format: `text` or `json`.
    #[arg(short = 'o', long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
    /// Warnings fail too.
    #[arg(long)]
    strict: bool,
}

#[derive(clap::Args, Debug)]
pub struct CompileArgs {
    /// Input directory.
    dir: PathBuf,
    /// Compile only this node's view (its pods as local, the policies whose span holds it),
    /// as `kakine-agent --node` does.
    #[arg(long)]
    node: Option<String>,
    /// Print, instead of the flows, each rule's peers (N), applied-to pods (M), services
    /// (P, and their prefix-cover entries), the N+M+P+1 floor, the flows produced, and totals.
    #[arg(long)]
    stats: bool,
}

#[derive(clap::Args, Debug)]
pub struct SpansArgs {
    /// Input directory.
    dir: PathBuf,
    /// Only this node's line.
    #[arg(long)]
    node: Option<String>,
}

pub fn validate(a: ValidateArgs) -> anyhow::Result<()> {
    let report = kakine::policy::validate_input::validate_paths(&a.paths);
    if a.output == "json" {
        println!("{:#}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    if !report.errors.is_empty() || (a.strict && !report.warnings.is_empty()) {
        std::process::exit(1);
    }
    Ok(())
}

pub fn compile(a: CompileArgs) -> anyhow::Result<()> {
    let CompileArgs { dir, node, stats } = a;
    let input = kakine::policy::load_dir(&dir)?;
    let policies = kakine::grouping::resolve_node(&input.cluster, &input.objects, node.as_deref())?;
    let mut pods = kakine::datapath::compiler::offline_pods(&policies);
    if let Some(n) = &node {
        let on_node: std::collections::BTreeSet<&PodKey> = policies
            .pods
            .iter()
            .filter(|p| kakine::grouping::derive::on_node(p.node.as_deref(), n))
            .map(|p| &p.key)
            .collect();
        pods.retain(|p| on_node.contains(&p.key));
    }
    let compiled = kakine::datapath::compiler::compile(&policies, &pods, 1)?;
    for w in &policies.warnings {
        eprintln!("warning: {w}");
    }
    for w in &compiled.warnings {
        eprintln!("warning: {w}");
    }
    if stats {
        print!("{}", kakine::datapath::stats::stats(&policies, &compiled));
        return Ok(());
    }
    for f in &compiled.flows {
        println!("{f}");
    }
    for r in &compiled.rules {
        eprintln!(
            "rule {:>4} prio {:>5} {:?} {:?} {} ({} flows)",
            r.id, r.priority, r.direction, r.action, r.rule, r.flows
        );
    }
    Ok(())
}

pub fn spans(a: SpansArgs) -> anyhow::Result<()> {
    let SpansArgs { dir, node } = a;
    let mut phases = Phases::new();
    let input = phases.run("load (parse + validate)", || kakine::policy::load_dir(&dir))?;
    if let Some(n) = &node {
        kakine::grouping::check_node(&input.cluster, n)?;
    }
    let g = phases.run("groups and spans", || {
        kakine::grouping::Grouping::build(&input.cluster, &input.objects)
    });
    let derived = phases.run("internal rules to resolved rules", || match &node {
        Some(n) => kakine::grouping::derive::view(&g, n),
        None => kakine::grouping::derive::resolved(&g, Some(&input.cluster)),
    });
    let report = phases.run("report", || {
        kakine::grouping::report::report(&g, node.as_deref())
    });
    print!("{report}");
    if let Some(n) = &node {
        println!(
            "view of {n}: {} rules, {} pods",
            derived.rules.len(),
            derived.pods.len()
        );
    }
    print!("{phases}");
    Ok(())
}

/// Wall-clock time and peak RSS of each phase of a command (`VmHWM` of `/proc/self/status`,
/// reset before each phase through `/proc/self/clear_refs` where the kernel allows it).
struct Phases(Vec<(&'static str, Duration, Option<u64>)>);

impl Phases {
    fn new() -> Self {
        Phases(Vec::new())
    }

    fn run<T>(&mut self, name: &'static str, f: impl FnOnce() -> T) -> T {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let t = std::time::Instant::now();
        let out = f();
        self.0.push((name, t.elapsed(), peak_rss_kib()));
        out
    }
}

impl std::fmt::Display for Phases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (name, d, rss) in &self.0 {
            let rss = rss.map_or("?".to_string(), |k| format!("{:.1} MB", k as f64 / 1024.0));
            writeln!(
                f,
                "phase {name:<34} {:>10.3} s  peak RSS {rss}",
                d.as_secs_f64()
            )?;
        }
        Ok(())
    }
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
