//! What `kakinectl` reads from a running agent's state directory: the policy it enforces
//! (`last-good.yaml`, for `explain --enforced`) and what its last input refused
//! (`refused.json`, for `kakinectl refused`).

use std::path::Path;

use crate::agent::accept::Enforced;
use crate::agent::state;
use crate::agent::watch::Report;
use crate::agent::AgentError;
use crate::policy::ResolvedPolicies;

/// The file holding the policy the agent of `state_dir` enforces: the controller's span
/// (`controller-span.json`) when there is one (controller mode), else `last-good.yaml`
/// (which may not exist).
pub fn enforced_file(state_dir: &Path) -> std::path::PathBuf {
    let span = state_dir.join(crate::agent::controller_source::SPAN_FILE);
    if span.is_file() {
        span
    } else {
        state_dir.join(state::LAST_GOOD)
    }
}

/// The policy the agent of `state_dir` enforces ([`enforced_file`]), resolved.
///
/// Errors: neither file there (the agent has not realized anything, or another state
/// directory is meant), or one that does not load (naming file, object and field).
pub fn enforced(state_dir: &Path) -> Result<ResolvedPolicies, AgentError> {
    let path = enforced_file(state_dir);
    if path.ends_with(crate::agent::controller_source::SPAN_FILE) {
        return crate::agent::controller_source::read_saved(state_dir)
            .map(|s| s.derive_from())
            .ok_or_else(|| AgentError::Input(format!("{}: not a readable span", path.display())));
    }
    if !path.is_file() {
        return Err(AgentError::Input(format!(
            "{}: no {} nor {} (has an agent with --state-dir {} realized anything?)",
            state_dir.display(),
            state::LAST_GOOD,
            crate::agent::controller_source::SPAN_FILE,
            state_dir.display()
        )));
    }
    let input = crate::policy::load_files(std::slice::from_ref(&path))
        .map_err(|e| AgentError::Input(e.to_string()))?;
    crate::policy::resolve(&input.cluster, &input.objects)
        .map_err(|e| AgentError::Input(e.to_string()))
}

/// `kakinectl refused`: one block per refused object (what, where, what stays enforced, why),
/// then the skipped documents; a line saying so when nothing is refused.
pub fn render_refused(report: &Report) -> String {
    let mut out = String::new();
    if report.refused.is_empty() {
        out.push_str("nothing refused: every object of the input is enforced as written\n");
    }
    for r in &report.refused {
        let what = if r.object.is_empty() {
            format!("{} {}", r.kind, r.file.display())
        } else {
            r.object.clone()
        };
        let enforced = match r.enforced {
            Enforced::LastGood => "its last good version",
            Enforced::Absent => "nothing (never accepted)",
        };
        out.push_str(&format!(
            "refused   {what}\n  file:     {}\n  enforced: {enforced}\n  reason:   {}\n",
            r.file.display(),
            r.reason
        ));
    }
    for s in &report.skipped {
        out.push_str(&format!("skipped   {s}\n"));
    }
    out
}

/// Reads `refused.json` of `state_dir`.
///
/// Errors: no such file (no live agent has run with this state directory) or a bad one.
pub fn refused(state_dir: &Path) -> Result<Report, AgentError> {
    state::read_refused(state_dir)
        .map_err(|e| AgentError::Input(e.to_string()))?
        .ok_or_else(|| {
            AgentError::Input(format!(
                "{}: no {} (has a live agent run with --state-dir {}?)",
                state_dir.display(),
                state::REFUSED,
                state_dir.display()
            ))
        })
}
