//! `kakinectl kind-suite render`: scenarios as the objects and probes `scripts/kind-suite.sh`
//! applies and runs in a cluster ([`kakine::lab::kind_suite`]).

use std::path::PathBuf;

use anyhow::Context as _;
use kakine::lab::kind_suite::{self, Options};
use kakine::lab::kube_objects::AGNHOST_IMAGE;
use kakine::lab::scenario::{read_scenario, scenario_files};

#[derive(clap::Subcommand, Debug)]
pub enum KindSuiteCmd {
    /// Write each scenario as `OUT/<id>/step-<n>-objects.yaml`, `step-<n>-policies.yaml` and
    /// `probes.tsv`, or `OUT/<id>/unsupported.txt` with every reason it cannot run in a
    /// cluster; one line per scenario on stdout. Exit status 1 when a file is not a scenario.
    Render(RenderArgs),
}

#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// Scenario files, or directories of them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Comma-separated node names of the cluster: the scenario's nodes are pinned to them in
    /// turn (`spec.nodeName`); default: no pinning.
    #[arg(long, value_delimiter = ',')]
    nodes: Vec<String>,
    /// The pods' agnhost image.
    #[arg(long, default_value = AGNHOST_IMAGE)]
    image: String,
}

pub fn kind_suite(cmd: KindSuiteCmd) -> anyhow::Result<()> {
    let KindSuiteCmd::Render(a) = cmd;
    let options = Options {
        image: a.image,
        nodes: a.nodes.into_iter().filter(|n| !n.is_empty()).collect(),
    };
    let mut bad = Vec::new();
    for file in scenario_files(&a.paths)? {
        let scenario = match read_scenario(&file) {
            Ok(s) => s,
            Err(e) => {
                bad.push(format!("{}: {e}", file.display()));
                continue;
            }
        };
        if scenario.id.is_empty() {
            bad.push(format!("{}: the scenario has no id", file.display()));
            continue;
        }
        match kind_suite::render(&scenario, &options) {
            Ok(r) => {
                kind_suite::write(&a.out, &r).with_context(|| a.out.display().to_string())?;
                println!(
                    "{}: {} steps, {} probes",
                    r.id,
                    r.steps.len(),
                    r.probes.len()
                );
            }
            Err(why) => {
                kind_suite::write_unsupported(&a.out, &scenario.id, &why)
                    .with_context(|| a.out.display().to_string())?;
                println!("{}: not run in a cluster: {}", scenario.id, why.join("; "));
            }
        }
    }
    if !bad.is_empty() {
        anyhow::bail!("{}", bad.join("\n"));
    }
    Ok(())
}
