//! Reachability scenarios (`docs/scenarios.md`, format_version 1): a cluster, steps of
//! complete policy snapshots, and probes with expected verdicts, run through
//! [`resolve`](crate::policy::resolve) and the reference [`evaluate`](crate::policy::evaluate), or
//! another [`Engine`]: a [`Backend`] lives for one file (the `ovs` engine's sandbox and pods) and
//! loads each step's policies into an [`Oracle`].
//!
//! This is what `kakinectl test FILE...` prints: per step `PASS` / `FAIL` / `UNSUPPORTED`, each
//! failing probe with the rules that decided, and a closing `N passed, N failed` line counting
//! files.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Deserialize;
use serde_json::Value;

use crate::lab::engine::{Backend, Engine, Oracle};
use crate::policy::error::{Location, PolicyError};
use crate::policy::load::{parse_document, parse_documents, typed, Parsed};
use crate::policy::model::parse_protocol;
use crate::policy::resolved::{icmp_port, PodKey, Protocol, RuleRef};
use crate::policy::selector::Labels;
use crate::policy::{resolve, Cluster, Destination, PolicySet, Probe, Verdict};

/// A scenario file.
#[derive(Debug, Clone, Deserialize)]
pub struct Scenario {
    /// `<family>-<nn>-<slug>`.
    #[serde(default)]
    pub id: String,
    /// Intent, in plain words.
    #[serde(default)]
    pub description: String,
    /// The world model shared by all steps.
    pub cluster: Cluster,
    /// Policy snapshots with probes.
    pub steps: Vec<Step>,
}

/// One step: a complete set of policy objects and the probes to run against it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Short label.
    #[serde(default)]
    pub name: String,
    /// Optional description.
    #[serde(default)]
    pub description: Option<String>,
    /// Label maps replaced for this step only.
    #[serde(default)]
    pub label_overrides: LabelOverrides,
    /// The policy objects in effect, as raw documents.
    #[serde(default)]
    pub resources: Vec<Value>,
    /// Probes.
    #[serde(default)]
    pub probes: Vec<ProbeSpec>,
}

/// `label_overrides`: whole label maps replaced for one step.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelOverrides {
    /// By pod `ns/name`.
    #[serde(default)]
    pub pods: BTreeMap<String, Labels>,
    /// By namespace name.
    #[serde(default)]
    pub namespaces: BTreeMap<String, Labels>,
}

/// A probe with its expected verdict.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    /// Client `ns/name`.
    pub from: String,
    /// Server `ns/name`.
    #[serde(default)]
    pub to: Option<String>,
    /// Raw destination IP, IPv4 or IPv6 (instead of `to`).
    #[serde(default)]
    pub to_ip: Option<IpAddr>,
    /// `IPv4` (default) or `IPv6`: with `IPv6`, the probe goes from the client's IPv6 address
    /// to the `to` pod's (both pods need one).
    #[serde(default)]
    pub ip_family: Option<String>,
    /// Destination port (unused for ICMP).
    #[serde(default)]
    pub port: u16,
    /// `TCP` / `UDP` / `SCTP`, or `ICMP` (kakine extension: an echo request unless
    /// `icmp_type` / `icmp_code` say otherwise).
    pub protocol: String,
    /// Source port (kakine extension, for rules with `sourcePort`); absent = not fixed, and
    /// then no source-port rule matches.
    #[serde(default)]
    pub source_port: Option<u16>,
    /// ICMP type of an `ICMP` probe (default 8, echo request).
    #[serde(default)]
    pub icmp_type: Option<u8>,
    /// ICMP code of an `ICMP` probe (default 0).
    #[serde(default)]
    pub icmp_code: Option<u8>,
    /// `allow` / `deny` / `reject`.
    pub expect: String,
    /// Inferred rather than read from the source.
    #[serde(default)]
    pub derived: Option<bool>,
    /// Free text.
    #[serde(default)]
    pub note: Option<String>,
}

/// A scenario file reported as unsupported, with the feature that made it so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedFile {
    /// The file.
    pub path: PathBuf,
    /// The out-of-scope feature.
    pub feature: String,
}

/// Counts over scenario files: a file passes when all its steps pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Files whose every step passed.
    pub passed: usize,
    /// Files with a failing step (or that could not be read).
    pub failed: usize,
    /// Files using a feature outside kakine's scope.
    pub unsupported: Vec<UnsupportedFile>,
}

/// How one step went.
enum StepResult {
    Pass,
    Fail,
    Unsupported(String),
}

/// Runs every scenario file, printing a report to `out`; `explain` prints every probe's deciding
/// rules, not only the failing ones'.
pub fn run_files(
    paths: &[PathBuf],
    out: &mut dyn Write,
    explain: bool,
) -> std::io::Result<Summary> {
    run_files_with(paths, out, explain, Engine::Reference)
}

/// [`run_files`] with the probes answered by `engine`.
pub fn run_files_with(
    paths: &[PathBuf],
    out: &mut dyn Write,
    explain: bool,
    engine: Engine,
) -> std::io::Result<Summary> {
    run_files_until(paths, out, explain, engine, &AtomicBool::new(false))
}

/// [`run_files_with`] that stops before the next step once `stop` is set (e.g. by Ctrl-C), so
/// that the `ovs` engine's sandbox and pods are dropped, not left behind; the files not run
/// count as failed.
pub fn run_files_until(
    paths: &[PathBuf],
    out: &mut dyn Write,
    explain: bool,
    engine: Engine,
    stop: &AtomicBool,
) -> std::io::Result<Summary> {
    let mut summary = Summary::default();
    for path in paths {
        if stop.load(Ordering::Relaxed) {
            writeln!(out, "interrupted")?;
            summary.failed += 1;
            break;
        }
        writeln!(out, "{}", path.display())?;
        let scenario = match read_scenario(path) {
            Ok(s) => s,
            Err(e) => {
                writeln!(out, "  FAIL  cannot read scenario: {e}")?;
                summary.failed += 1;
                continue;
            }
        };
        let mut backend = match Backend::start_with(engine, &scenario.cluster, &external(&scenario))
        {
            Ok(b) => b,
            Err(e) => {
                writeln!(out, "  FAIL  cannot start the {engine:?} engine: {e}")?;
                summary.failed += 1;
                continue;
            }
        };
        let mut failed = false;
        let mut unsupported = None;
        for (i, step) in scenario.steps.iter().enumerate() {
            if stop.load(Ordering::Relaxed) {
                failed = true;
                break;
            }
            match run_step(path, &scenario.cluster, i, step, out, explain, &mut backend)? {
                StepResult::Pass => {}
                StepResult::Fail => failed = true,
                StepResult::Unsupported(f) => {
                    unsupported.get_or_insert(f);
                }
            }
        }
        match (failed, unsupported) {
            (true, _) => summary.failed += 1,
            (false, Some(feature)) => summary.unsupported.push(UnsupportedFile {
                path: path.clone(),
                feature,
            }),
            (false, None) => summary.passed += 1,
        }
    }
    if !summary.unsupported.is_empty() {
        writeln!(out, "{} unsupported", summary.unsupported.len())?;
    }
    writeln!(out, "{} passed, {} failed", summary.passed, summary.failed)?;
    Ok(summary)
}

/// The scenario files of `paths`: each file as given, each directory's `.yaml` / `.yml` files in
/// name order (not recursive).
///
/// Errors: a directory that cannot be read, naming it.
pub fn scenario_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if !path.is_dir() {
            out.push(path.clone());
            continue;
        }
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?
        {
            let f = entry?.path();
            if f.is_file() && f.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(f);
            }
        }
        files.sort();
        out.extend(files);
    }
    Ok(out)
}

/// The probes' destinations outside the cluster (`to_ip` of no pod), with their ports.
pub(crate) fn external(scenario: &Scenario) -> Vec<(std::net::Ipv4Addr, u16)> {
    let mut out = Vec::new();
    for step in &scenario.steps {
        for p in &step.probes {
            if let (None, Some(IpAddr::V4(ip))) = (&p.to, p.to_ip) {
                if !scenario.cluster.pods.iter().any(|q| q.ip == ip) {
                    out.push((ip, p.port));
                }
            }
        }
    }
    out
}

/// Reads and parses a scenario file, and checks its cluster as a `Cluster` document is checked
/// ([`crate::policy::sanity::check_cluster`]: pods, IPs and MACs unique, namespaces declared,
/// pods on known nodes, no pod CIDR of two nodes).
///
/// Errors: unreadable or malformed YAML, not one document, a field of the wrong shape (naming
/// the field), or every problem of the cluster at once ([`PolicyError::Several`] for more than
/// one), each at `cluster.<field>` of the file.
pub fn read_scenario(path: &Path) -> Result<Scenario, PolicyError> {
    let scenario = parse_scenario(path)?;
    let problems = crate::policy::sanity::check_cluster(&scenario.cluster)
        .into_iter()
        .map(|(field, message)| PolicyError::Field {
            at: Location::file(path).at(format!("cluster.{field}")),
            message,
        });
    match PolicyError::all(problems) {
        None => Ok(scenario),
        Some(e) => Err(e),
    }
}

fn parse_scenario(path: &Path) -> Result<Scenario, PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let docs = parse_documents(path, &text)?;
    let [doc] = docs.as_slice() else {
        return Err(PolicyError::Invalid {
            at: Location::file(path),
            message: format!("expected one YAML document, found {}", docs.len()),
        });
    };
    typed(doc, &Location::file(path))
}

/// A step's policy objects parsed and resolved against the step's cluster (the scenario's with
/// the step's label overrides): what the evaluator and the compiler both consume.
pub fn resolve_step(
    path: &Path,
    scenario: &Scenario,
    step: &Step,
) -> Result<crate::policy::ResolvedPolicies, PolicyError> {
    let mut objects = PolicySet::default();
    for doc in &step.resources {
        match parse_document(doc, path)? {
            Parsed::Object(o) => objects.push(*o),
            Parsed::Cluster(_) => {
                return Err(PolicyError::Invalid {
                    at: Location::file(path),
                    message: "a Cluster document among a step's resources".to_string(),
                })
            }
        }
    }
    resolve(
        &step_cluster(&scenario.cluster, &step.label_overrides),
        &objects,
    )
}

/// The cluster of a step: the base with the step's label overrides applied.
pub fn step_cluster(base: &Cluster, overrides: &LabelOverrides) -> Cluster {
    let mut cluster = base.clone();
    for pod in &mut cluster.pods {
        if let Some(l) = overrides
            .pods
            .get(&format!("{}/{}", pod.namespace, pod.name))
        {
            pod.labels = l.clone();
        }
    }
    for ns in &mut cluster.namespaces {
        if let Some(l) = overrides.namespaces.get(&ns.name) {
            ns.labels = l.clone();
        }
    }
    cluster
}

fn pod_key(s: &str) -> Option<PodKey> {
    let (namespace, name) = s.split_once('/')?;
    Some(PodKey {
        namespace: namespace.to_string(),
        name: name.to_string(),
    })
}

fn parse_verdict(s: &str) -> Option<Verdict> {
    match s {
        "allow" => Some(Verdict::Allow),
        "deny" => Some(Verdict::Deny),
        "reject" => Some(Verdict::Reject),
        _ => None,
    }
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
        Protocol::Icmp => "ICMP",
    }
}

fn rule_text(rule: &Option<RuleRef>) -> String {
    rule.as_ref()
        .map(|r| format!("{} {r}", r.kind))
        .unwrap_or_else(|| "-".to_string())
}

fn run_step(
    path: &Path,
    base: &Cluster,
    index: usize,
    step: &Step,
    out: &mut dyn Write,
    explain: bool,
    backend: &mut Backend,
) -> std::io::Result<StepResult> {
    let label = format!("step {} \"{}\"", index + 1, step.name);
    let mut objects = PolicySet::default();
    for doc in &step.resources {
        match parse_document(doc, path) {
            Ok(Parsed::Object(o)) => objects.push(*o),
            Ok(Parsed::Cluster(_)) => {
                writeln!(
                    out,
                    "  FAIL  {label}: a Cluster document among the resources"
                )?;
                return Ok(StepResult::Fail);
            }
            Err(e) => {
                let feature = match e {
                    PolicyError::Unsupported { ref feature, .. } => Some(feature.clone()),
                    PolicyError::UnknownField { ref at, ref name } => {
                        Some(format!("unknown field `{name}` at {}", at.field))
                    }
                    PolicyError::UnknownKind {
                        ref api_version,
                        ref kind,
                        ..
                    } => Some(format!("{kind} ({api_version})")),
                    _ => None,
                };
                return match feature {
                    Some(feature) => {
                        writeln!(out, "  UNSUPPORTED  {label}: {feature}")?;
                        Ok(StepResult::Unsupported(feature))
                    }
                    None => {
                        writeln!(out, "  FAIL  {label}: {e}")?;
                        Ok(StepResult::Fail)
                    }
                };
            }
        }
    }
    let cluster = step_cluster(base, &step.label_overrides);
    let resolved = match resolve(&cluster, &objects) {
        Ok(r) => r,
        Err(e) => {
            writeln!(out, "  FAIL  {label}: {e}")?;
            return Ok(StepResult::Fail);
        }
    };
    let mut oracle = match backend.load_step(&cluster, &step.resources, &resolved) {
        Ok(o) => o,
        Err(e) => {
            writeln!(out, "  FAIL  {label}: {e}")?;
            return Ok(StepResult::Fail);
        }
    };
    let mut lines = Vec::new();
    let mut failures = 0;
    let mut probes = Vec::new();
    for p in &step.probes {
        let from = pod_key(&p.from);
        let to = match (&p.to, p.to_ip, p.ip_family.as_deref()) {
            (Some(to), _, None | Some("IPv4")) => pod_key(to).map(Destination::Pod),
            (Some(to), _, Some("IPv6")) => cluster
                .pods
                .iter()
                .find(|c| {
                    pod_key(to).is_some_and(|k| k.namespace == c.namespace && k.name == c.name)
                })
                .and_then(|c| c.ipv6)
                .map(|a| Destination::Ip(a.into())),
            (None, Some(ip), None) => Some(Destination::Ip(ip)),
            _ => None,
        };
        let protocol: Option<Protocol> = match p.protocol.as_str() {
            "ICMP" => Some(Protocol::Icmp),
            other => parse_protocol(other),
        };
        let port = match protocol {
            Some(Protocol::Icmp) => icmp_port(p.icmp_type.unwrap_or(8), p.icmp_code.unwrap_or(0)),
            _ => p.port,
        };
        let expect = parse_verdict(&p.expect);
        let (Some(from), Some(to), Some(protocol), Some(expect)) = (from, to, protocol, expect)
        else {
            failures += 1;
            lines.push(format!("    malformed probe {p:?}"));
            continue;
        };
        let probe = Probe {
            from,
            to,
            protocol,
            port,
            source_port: p.source_port,
        };
        probes.push((probe, expect));
    }
    let just_probes: Vec<Probe> = probes.iter().map(|(p, _)| p.clone()).collect();
    let decisions = oracle.decide_all(&just_probes);
    let real_ovs = matches!(oracle, Oracle::Ovs(_));
    for ((probe, expect), d) in probes.into_iter().zip(decisions) {
        let d = match d {
            Ok(d) => d,
            Err(e) => {
                failures += 1;
                lines.push(format!("    FAIL {} -> {}: {e}", probe.from, probe.to));
                continue;
            }
        };
        let ok = d.verdict == expect;
        if !ok {
            failures += 1;
        }
        if !ok || explain {
            // The ovs engine's reason says how the verdict was measured (trace or traffic).
            let how = if real_ovs {
                format!(": {}", d.reason)
            } else {
                String::new()
            };
            lines.push(format!(
                "    {} {} -> {} {}/{}: expected {expect}, got {} (egress: {}; ingress: {}){how}",
                if ok { "ok  " } else { "FAIL" },
                probe.from,
                probe.to,
                protocol_name(probe.protocol),
                probe.port,
                d.verdict,
                rule_text(&d.egress),
                rule_text(&d.ingress),
            ));
        }
    }
    for note in oracle.notes() {
        lines.push(format!("    note: {note}"));
    }
    let total = step.probes.len();
    let status = if failures == 0 { "PASS" } else { "FAIL" };
    writeln!(
        out,
        "  {status}  {label}: {}/{total} probes as expected",
        total - failures
    )?;
    for line in lines {
        writeln!(out, "{line}")?;
    }
    Ok(if failures == 0 {
        StepResult::Pass
    } else {
        StepResult::Fail
    })
}
