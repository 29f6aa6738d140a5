//! Load throughput (`cargo bench --bench load`): an Antrea benchmark shape written as a
//! standalone input directory, then loaded with `policy::load_dir` (YAML parse, typed
//! deserialization, the per-document checks and cross-object validation), best of N runs.
//! Prints seconds and MB/s per phase and the peak RSS (`VmHWM`). Timings are printed, never
//! asserted.
//!
//! Arguments (any order): a shape name (default `xlarge-small-ns`), `runs=N` (default 3),
//! `units=N` (default Antrea's scale, [`ShapeName::full_units`]).

use std::path::Path;
use std::time::{Duration, Instant};

use kakine::lab::shapes::{generate, ShapeName, ShapeOptions};
use kakine::lab::shapes_yaml::write_dir;
use kakine::policy::limits::YamlLimits;
use kakine::policy::load::{parse_documents_with, parse_file_with};

fn vm_hwm_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}

/// The best of `runs` timings of `f`.
fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn line(what: &str, took: Duration, bytes: u64) {
    let secs = took.as_secs_f64();
    println!(
        "{what:<40} {secs:>8.3} s {:>8.1} MB/s",
        bytes as f64 / 1e6 / secs
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let shape = args
        .iter()
        .find_map(|a| ShapeName::parse(a))
        .unwrap_or(ShapeName::XlargeSmallNs);
    let runs = args
        .iter()
        .find_map(|a| a.strip_prefix("runs=").and_then(|n| n.parse().ok()))
        .unwrap_or(3);

    let mut options = ShapeOptions::full(shape);
    if let Some(units) = args
        .iter()
        .find_map(|a| a.strip_prefix("units=").and_then(|n| n.parse().ok()))
    {
        options.units = units;
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let t = Instant::now();
    let generated = generate(shape, &options);
    write_dir(&generated, dir.path()).expect("write the shape");
    let written = t.elapsed();
    drop(generated);
    let size = |name: &str| {
        std::fs::metadata(dir.path().join(name))
            .expect("file")
            .len()
    };
    let (cluster_bytes, policy_bytes) = (size("cluster.yaml"), size("policies.yaml"));
    let total = cluster_bytes + policy_bytes;
    println!(
        "{shape}: cluster.yaml {:.1} MB, policies.yaml {:.1} MB (generated and written in {:.2} s)",
        cluster_bytes as f64 / 1e6,
        policy_bytes as f64 / 1e6,
        written.as_secs_f64()
    );

    let limits = YamlLimits::default();
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).expect("read");
    let (cluster_text, policy_text) = (read("cluster.yaml"), read("policies.yaml"));
    let parse = |name: &str, text: &str| {
        parse_documents_with(Path::new(name), text, &limits).expect("parses")
    };
    line(
        "YAML parse, cluster.yaml",
        best(runs, || parse("cluster.yaml", &cluster_text)),
        cluster_bytes,
    );
    line(
        "YAML parse, policies.yaml",
        best(runs, || parse("policies.yaml", &policy_text)),
        policy_bytes,
    );
    line(
        "parse + typed objects, policies.yaml",
        best(runs, || {
            parse_file_with(Path::new("policies.yaml"), &policy_text, &limits).expect("parses")
        }),
        policy_bytes,
    );
    let mut objects = 0;
    let took = best(runs, || {
        let input = kakine::policy::load_dir(dir.path()).expect("loads");
        objects = input.objects.k8s_policies.len() + input.objects.antrea_policies.len();
        input
    });
    line("load_dir (read, parse, validate)", took, total);
    println!(
        "{objects} policies; peak RSS {} MiB; best of {runs} runs",
        vm_hwm_mib()
    );
}
