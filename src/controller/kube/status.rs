//! The status writer: the agents' realization counts ([`Realization`]) written to the status
//! subresource of kakine's ClusterNetworkPolicy and NetworkPolicy objects.
//!
//! Counts only (`phase`, `observedGeneration`, `currentNodesRealized`, `desiredNodesRealized`,
//! conditions `Realizable` and `RealizationFailure`, and kakine's `RealizationPending`), as
//! Antrea's status controller
//! (`pkg/controller/networkpolicy/status_controller.go`) writes them. Each write is a JSON merge
//! patch of `status` alone; an object is written at most once per `min_interval` (1 s) and
//! only when its status changed; a conflict (409) is retried, a vanished object (404) dropped.
//! Only the leader writes ([`super::lease`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ::kube::api::{Api, Patch, PatchParams};
use ::kube::Client;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use super::crd::{ClusterNetworkPolicy, NetworkPolicy, PolicyCondition, PolicyStatus};
use crate::controller::{Realization, RealizationCounts};
use crate::grouping::PolicyKey;

/// The `metadata.generation` of each policy as last converted by the watchers (shared with
/// [`super::watch::Policies`]), for `observedGeneration`.
pub type Generations = Arc<Mutex<HashMap<PolicyKey, i64>>>;

/// The status of a policy with `counts` at `generation`. `previous` keeps each condition's
/// `lastTransitionTime` while its status does not change; `now` is RFC 3339.
pub fn status_of(
    counts: &RealizationCounts,
    generation: i64,
    previous: Option<&PolicyStatus>,
    now: &str,
) -> PolicyStatus {
    let mut status = untimed_status(counts, generation);
    for c in &mut status.conditions {
        let before = previous.and_then(|p| p.conditions.iter().find(|b| b.type_ == c.type_));
        c.last_transition_time = match before {
            Some(b) if b.status == c.status => b.last_transition_time.clone(),
            _ => Some(now.to_string()),
        };
    }
    status
}

/// The status of a policy with `counts` at `generation`, its conditions without transition
/// times: `phase` ([`RealizationCounts::phase`]), the counts, `Realizable` (True: a policy the
/// controller refuses never reaches the grouping), `RealizationFailure` (True with reason
/// `NetworkPolicyRealizationFailedOnNode` and `NODE: REASON; ...` when a node of the span
/// failed on the current generation) and `RealizationPending` (kakine's: True with reason
/// `NetworkPolicyRealizationPendingOnNode` and `NODE: WHAT IT WAITS FOR; ...` when it is
/// pending on a node of the span). The standalone controller serves it as is
/// (`GET /v1/realization`).
pub fn untimed_status(counts: &RealizationCounts, generation: i64) -> PolicyStatus {
    let by_node = |type_: &str, reason: &str, nodes: &BTreeMap<String, String>| {
        let message = nodes
            .iter()
            .map(|(node, why)| format!("{node}: {why}"))
            .collect::<Vec<_>>()
            .join("; ");
        PolicyCondition {
            type_: type_.to_string(),
            status: if nodes.is_empty() { "False" } else { "True" }.to_string(),
            last_transition_time: None,
            reason: if nodes.is_empty() {
                String::new()
            } else {
                reason.to_string()
            },
            message,
        }
    };
    let conditions = vec![
        PolicyCondition {
            type_: "Realizable".to_string(),
            status: "True".to_string(),
            last_transition_time: None,
            reason: String::new(),
            message: String::new(),
        },
        by_node(
            "RealizationFailure",
            "NetworkPolicyRealizationFailedOnNode",
            &counts.failures,
        ),
        by_node(
            "RealizationPending",
            "NetworkPolicyRealizationPendingOnNode",
            &counts.pending,
        ),
    ];
    PolicyStatus {
        phase: counts.phase().to_string(),
        observed_generation: generation,
        current_nodes_realized: i32::try_from(counts.current).unwrap_or(i32::MAX),
        desired_nodes_realized: i32::try_from(counts.desired).unwrap_or(i32::MAX),
        conditions,
    }
}

/// How the status writer runs.
#[derive(Debug, Clone)]
pub struct StatusOptions {
    /// The least time between two writes of one object (1 s).
    pub min_interval: Duration,
    /// Attempts of one write on conflict (3).
    pub attempts: u32,
}

impl Default for StatusOptions {
    fn default() -> Self {
        StatusOptions {
            min_interval: Duration::from_secs(1),
            attempts: 3,
        }
    }
}

/// What happened to one write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Patched.
    Done,
    /// The object is gone (404).
    Gone,
    /// Failed (logged); retried on the next change or tick.
    Failed,
}

/// Writes `status` to the object of `key` (a kakine ClusterNetworkPolicy `name` or
/// NetworkPolicy `namespace/name`; other kinds are not kakine's to write): a merge patch of
/// `status`, retried on conflict up to `attempts` times.
pub async fn write(
    client: &Client,
    key: &PolicyKey,
    status: &PolicyStatus,
    attempts: u32,
) -> Written {
    let patch = Patch::Merge(json!({ "status": status }));
    let params = PatchParams::default();
    for attempt in 1..=attempts.max(1) {
        let result = match (key.kind, key.name.split_once('/')) {
            ("ClusterNetworkPolicy", None) => Api::<ClusterNetworkPolicy>::all(client.clone())
                .patch_status(&key.name, &params, &patch)
                .await
                .map(|_| ()),
            ("NetworkPolicy", Some((ns, name))) => {
                Api::<NetworkPolicy>::namespaced(client.clone(), ns)
                    .patch_status(name, &params, &patch)
                    .await
                    .map(|_| ())
            }
            _ => return Written::Gone,
        };
        match result {
            Ok(()) => return Written::Done,
            Err(::kube::Error::Api(s)) if s.code == 404 => return Written::Gone,
            Err(::kube::Error::Api(s)) if s.code == 409 && attempt < attempts => {
                tracing::debug!(%key, attempt, "status write conflict; retrying");
            }
            Err(e) => {
                tracing::warn!(%key, error = %e, "status write failed");
                return Written::Failed;
            }
        }
    }
    Written::Failed
}

/// Whether a policy key names a kakine object with a status subresource.
pub fn has_status(key: &PolicyKey) -> bool {
    matches!(key.kind, "ClusterNetworkPolicy" | "NetworkPolicy")
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Runs the status writer until `realization`'s sender is gone: on each change of the counts
/// (and each `min_interval` while writes are pending), writes every changed status whose
/// object was not written within `min_interval`, while `leader` is true.
pub async fn run_status(
    client: Client,
    mut realization: watch::Receiver<Realization>,
    generations: Generations,
    mut leader: watch::Receiver<bool>,
    options: StatusOptions,
) {
    let mut written: BTreeMap<PolicyKey, (PolicyStatus, Instant)> = BTreeMap::new();
    loop {
        let mut pending = false;
        if *leader.borrow() {
            let counts = realization.borrow_and_update().clone();
            let now = now_rfc3339();
            for (key, c) in counts.iter().filter(|(k, _)| has_status(k)) {
                let generation = generations
                    .lock()
                    .map(|g| g.get(key).copied().unwrap_or(0))
                    .unwrap_or(0);
                let previous = written.get(key).map(|(s, _)| s);
                let status = status_of(c, generation, previous, &now);
                if previous == Some(&status) {
                    continue;
                }
                if let Some((_, at)) = written.get(key) {
                    if at.elapsed() < options.min_interval {
                        pending = true;
                        continue;
                    }
                }
                match write(&client, key, &status, options.attempts).await {
                    Written::Done => {
                        written.insert(key.clone(), (status, Instant::now()));
                    }
                    Written::Gone => {
                        written.remove(key);
                    }
                    Written::Failed => pending = true,
                }
            }
            written.retain(|k, _| counts.contains_key(k));
        } else {
            // A follower forgets what it wrote: on becoming leader it writes everything again.
            written.clear();
        }
        tokio::select! {
            changed = realization.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            Ok(()) = leader.changed() => {}
            _ = tokio::time::sleep(options.min_interval), if pending => {}
        }
    }
}
