//! What the live agent says about each input's refused and skipped objects: a log line per
//! change of the report, the `kakine_agent_input_objects_refused` gauge, and
//! `STATE_DIR/refused.json` for `kakinectl refused`.

use crate::agent::accept::no_longer_refused;
use crate::agent::state;
use crate::agent::watch::{Report, SourceEvent};

use super::Live;

impl Live {
    /// Publishes the report of a source event: new refusals are logged at warn (each names the
    /// file, object and field, and what stays enforced), refusals that went away at info; the
    /// gauge and `refused.json` always show the latest report.
    pub fn report_input(&mut self, ev: &SourceEvent) {
        let now = &ev.report;
        let before = std::mem::take(&mut self.refused);
        for r in &now.refused {
            if !before.refused.contains(r) {
                tracing::warn!("refused: {r}");
            }
        }
        for r in no_longer_refused(&before.refused, &now.refused) {
            tracing::info!("{}: no longer refused", r.what());
        }
        for s in &now.skipped {
            if !before.skipped.contains(s) {
                tracing::warn!("{s}");
            }
        }
        self.metrics
            .set_refused(now.refused.iter().map(|r| r.kind.as_str()));
        if let Some(dir) = &self.cfg.state_dir {
            if let Err(e) = state::write_refused(dir, now) {
                tracing::error!("{e}");
            }
        }
        self.refused = Report::clone(now);
    }
}
