//! The live agent's side of a truthful realization report ([`crate::agent::outcome`]): the
//! bundle sent with the policy of the flow the switch refuses remembered, the outcome of a
//! commit (the local pods not attached and the policies applied to them) and of a refusal
//! (the policy the error names).

use std::sync::Arc;

use openflow::FlowMod;

use super::{AgentError, Live};
use crate::agent::outcome::{self, Outcome, Unattached};
use crate::datapath::compiler::CompiledRule;
use crate::datapath::reconcile::{self, FlowTable};
use crate::policy::resolved::PodKey;

/// The position of the flow_mod a switch refused, when the error names one.
fn refused_index(e: &openflow::Error) -> Option<usize> {
    match e {
        openflow::Error::Bundle { index, .. } => *index,
        openflow::Error::Invalid { index, .. } => Some(*index),
        _ => None,
    }
}

impl Live {
    /// Sends the bundle turning the installed flows into `desired`: the restart bundle (the
    /// whole new round, older rounds swept) the first time, else the difference, if any. When
    /// the switch refuses a flow_mod, the policy of its rule (among `rules`, the compile's) is
    /// kept for [`Live::refusal`].
    ///
    /// Errors: OpenFlow (the bundle was not applied); a stored flow that does not decode.
    pub(super) async fn send_bundle(
        &mut self,
        desired: &FlowTable,
        rules: &[CompiledRule],
    ) -> Result<(), AgentError> {
        self.refused_by = None;
        let (added, _, deleted) = reconcile::diff_counts(&self.installed, desired);
        let sent = if self.restart_pending {
            // The whole new round, encoded straight from the table (no 100k flow_mods built).
            let (arena, spans) = reconcile::restart_encoded(&self.installed, desired);
            let arena: Arc<[u8]> = arena.into();
            let r = self.conn.bundle_encoded(arena.clone(), spans.clone()).await;
            r.map_err(|e| {
                let cookie = refused_index(&e)
                    .and_then(|i| spans.get(i))
                    .and_then(|&(off, len)| {
                        FlowMod::decode_body(&arena[off as usize..(off + len) as usize]).ok()
                    })
                    .map(|f| f.cookie);
                (e, cookie)
            })
        } else if added + deleted > 0 {
            let d = reconcile::diff(&self.installed, desired)?;
            tracing::debug!("diff {d}");
            let flow_mods = d.flow_mods();
            let r = self.conn.bundle(&flow_mods).await;
            r.map_err(|e| {
                let cookie = refused_index(&e)
                    .and_then(|i| flow_mods.get(i))
                    .map(|f| f.cookie);
                (e, cookie)
            })
        } else {
            Ok(())
        };
        sent.map_err(|(source, cookie)| {
            self.refused_by = cookie.and_then(|c| outcome::cookie_culprit(c, rules));
            AgentError::OpenFlow {
                socket: self.cfg.agent.of_socket.clone(),
                source,
            }
        })
    }

    /// The outcome of a refused realization that was refused for good (the compiler's
    /// refusal, a flow_mod the switch refused): the error and the policy it names. `None` for
    /// a failure that is not a refusal (a connection lost, OVSDB): the realization is retried
    /// and nothing is reported.
    pub fn refusal(&self, e: &AgentError) -> Option<Outcome> {
        let culprit = match e {
            AgentError::Compile(c) => outcome::compile_culprit(c),
            AgentError::OpenFlow { source, .. } if refused_index(source).is_some() => {
                self.refused_by.clone()
            }
            _ => return None,
        };
        Some(Outcome::Refused {
            error: e.to_string(),
            culprit,
        })
    }

    /// The outcome of the last committed realization: the local pods not attached, each with
    /// the policies applied to it.
    pub fn committed(&self) -> Outcome {
        let Some(policies) = &self.current else {
            return Outcome::Committed {
                unattached: Vec::new(),
            };
        };
        let unattached = self
            .unattached
            .iter()
            .map(|(pod, missing)| Unattached {
                pod: pod.clone(),
                missing: missing.clone(),
                policies: outcome::applied_to(policies, pod),
            })
            .collect();
        Outcome::Committed { unattached }
    }

    /// Records the local pods left unattached by a port sync, logging those newly so.
    pub(super) fn note_unattached(&mut self, now: Vec<(PodKey, String)>) {
        for (pod, missing) in &now {
            if !self
                .unattached
                .iter()
                .any(|(p, m)| p == pod && m == missing)
            {
                tracing::info!(
                    "pod {pod}: not attached: {missing}; the policies applied to it are pending on this node until it is"
                );
            }
        }
        self.unattached = now;
    }
}
