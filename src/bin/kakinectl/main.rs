//! kakinectl: inspect and test kakine policy.
//!
//! One module per command group: `offline` (validate, compile, spans) and `explain` answer from
//! an input directory (`explain --live` beside a running node's trace); `node` (dump-flows,
//! refused) reads what a running agent holds; `cluster` (realization, dump-flows --node) reads a
//! live cluster through kubectl, as the kubectl plugin `kubectl kakine`, and `cluster_objects`
//! its objects for `explain --cluster` and `matrix --cluster`; `lab` (test, demo,
//! shape, probe) drives the test bench, `kind_suite` renders the scenario corpus for a cluster; `args` holds the argument blocks they share.

mod analysis;
mod args;
mod cluster;
mod cluster_objects;
mod explain;
mod kind_suite;
mod lab;
mod node;
mod observed;
mod offline;

use clap::{Parser, Subcommand};
use kakine::policy::resolved::Protocol;

#[derive(Parser, Debug)]
#[command(
    name = "kakinectl",
    version,
    about = "Inspect, explain and test kakine network policy"
)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run reachability scenario files (or the scenario files of directories) through the
    /// reference evaluator.
    Test(lab::TestArgs),
    /// Validate policy files offline as the API server would, reporting every error at once
    /// (docs/standalone.md, "Validating"). Exit status 1 on errors (or on warnings with
    /// `--strict`), else 0.
    Validate(offline::ValidateArgs),
    /// Answer "may A reach B on PORT?" from a standalone input directory: both directions walked
    /// tier by tier, every Pass, the NetworkPolicies that isolate, the deciding rules; with
    /// `--enforced`, from what the agent enforces (its last good state) instead; with `--live`,
    /// beside the running node's `ofproto/trace` of it (exit 3 when they disagree, 4 when the
    /// node drops the packet by forwarding: no route, not a policy).
    Explain(explain::ExplainArgs),
    /// The reachability matrix of every pod pair on a list of ports (egress, ingress and
    /// combined), with the deciding rules on request; `--emit-scenario` freezes it as a scenario.
    Matrix(analysis::MatrixArgs),
    /// The reachability cells that change between two inputs, with their deciding rules before
    /// and after, and the flow delta per node. Exit status 1 when a verdict changes, 0 when
    /// none does, 2 on an error.
    Diff(analysis::DiffArgs),
    /// The dependency map of observed traffic (conntrack dumps, audit logs) between workloads
    /// (namespace/app), as Graphviz DOT, a standalone SVG or an HTML page.
    Graph(observed::GraphArgs),
    /// The least-privilege ClusterNetworkPolicies that keep exactly the observed connections,
    /// proven with `diff` against the running set; exit 1 if they would break one.
    Recommend(observed::RecommendArgs),
    /// Compile a standalone input directory and print the flows (ovs-ofctl syntax), no OVS needed.
    Compile(offline::CompileArgs),
    /// The bridge's installed flows (`ovs-ofctl dump-flows --names` syntax, with counters), each
    /// annotated with what it is for: tier/policy/rule, pod, or pipeline (from its cookie and the
    /// agent's `agent.json`).
    DumpFlows(node::DumpFlowsArgs),
    /// The realization of kakine's policies in a live cluster (their status: phase, nodes
    /// realized of those that need them, failing nodes), read with kubectl's configuration.
    Realization(cluster::RealizationArgs),
    /// The groups, their sizes and the span of every node (or of one), with time and peak memory
    /// per phase: what the controller computes and each agent receives.
    Spans(offline::SpansArgs),
    /// What the agent's last input refused (each object with its file, what stays enforced and
    /// why) and skipped (documents that are not policy), from its state directory.
    Refused(node::RefusedArgs),
    /// The standalone demo: sandbox OVS, netns pods, kakine-agent, flows, reachability matrix.
    Demo(lab::DemoArgs),
    /// A node lab kept running: several nodes on this machine, each a network namespace with its
    /// own Open vSwitch and kakine-agent, joined by Geneve, with a scenario's pods (docs/multinode.md).
    Lab {
        #[command(subcommand)]
        cmd: lab::LabCmd,
    },
    /// Write one of Antrea's controller benchmark shapes as a standalone input directory
    /// (`cluster.yaml`, `policies.yaml`): xlarge-small-ns, xlarge-large-ns, xlarge-one-ns,
    /// xlarge-small-ns-acnp, xlarge-small-ns-annp.
    Shape(lab::ShapeArgs),
    /// kakine's scenario corpus for a real cluster (`make e2e-kind`, `scripts/kind-suite.sh`):
    /// each scenario's namespaces, pods, policies per step and probes, as files.
    KindSuite {
        #[command(subcommand)]
        cmd: kind_suite::KindSuiteCmd,
    },
    /// Traffic probes (run inside pod namespaces with `ip netns exec`).
    Probe {
        #[command(subcommand)]
        cmd: lab::ProbeCmd,
    },
}

fn protocol(s: &str) -> anyhow::Result<Protocol> {
    Ok(match s.to_ascii_uppercase().as_str() {
        "TCP" => Protocol::Tcp,
        "UDP" => Protocol::Udp,
        "SCTP" => Protocol::Sctp,
        "ICMP" => Protocol::Icmp,
        other => anyhow::bail!("unknown protocol {other:?} (expected TCP, UDP, SCTP or ICMP)"),
    })
}

#[tokio::main]
async fn main() {
    quiet_on_broken_pipe();
    // As `kubectl kakine`, help and errors name the command the user typed.
    let args = if cluster::invoked_as_plugin() {
        let cmd = || <Args as clap::CommandFactory>::command().bin_name("kubectl kakine");
        let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
        let m = cmd()
            .try_get_matches_from(&argv)
            .or_else(|e| cluster_objects::parse_as_plugin(cmd(), &argv, e))
            .unwrap_or_else(|e| e.exit());
        <Args as clap::FromArgMatches>::from_arg_matches(&m).unwrap_or_else(|e| e.exit())
    } else {
        Args::parse()
    };
    // Where the exit status is the answer (1: denied, changed), an error must not look like one.
    let error_status = match &args.cmd {
        Cmd::Explain(a) if a.exit_code || a.live => 2,
        Cmd::Diff(_) => 2,
        _ => 1,
    };
    if let Err(e) = run(args).await {
        // One line, the whole cause chain; no backtrace even with RUST_BACKTRACE set.
        eprintln!("kakinectl: {e:#}");
        std::process::exit(error_status);
    }
}

/// `kakinectl ... | head` closes our stdout early: `print!` then panics with "failed printing to
/// stdout: Broken pipe". Exit quietly with 141 (128 + SIGPIPE), as a shell tool killed by
/// SIGPIPE does, instead of a panic and a backtrace.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

async fn run(args: Args) -> anyhow::Result<()> {
    match args.cmd {
        Cmd::Test(a) => lab::test(a).await,
        Cmd::Validate(a) => offline::validate(a),
        Cmd::Explain(a) => explain::explain(a).await,
        Cmd::Matrix(a) => analysis::matrix_cmd(a),
        Cmd::Diff(a) => analysis::diff_cmd(a),
        Cmd::Graph(a) => observed::graph_cmd(a),
        Cmd::Recommend(a) => observed::recommend_cmd(a),
        Cmd::Compile(a) => offline::compile(a),
        Cmd::Spans(a) => offline::spans(a),
        Cmd::DumpFlows(a) => node::dump_flows(a).await,
        Cmd::Realization(a) => cluster::realization(a),
        Cmd::Refused(a) => node::refused(a),
        Cmd::Demo(a) => lab::demo(a).await,
        Cmd::Lab { cmd } => lab::lab(cmd).await,
        Cmd::Shape(a) => lab::shape(a),
        Cmd::KindSuite { cmd } => kind_suite::kind_suite(cmd),
        Cmd::Probe { cmd } => lab::probe(cmd),
    }
}
