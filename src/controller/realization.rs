//! Realization: what each agent reports it enforces, counted per policy.
//!
//! A policy's **generation** is the controlplane version at which its content (its
//! `WirePolicy`, the same on every node) last changed; the controller keeps it
//! ([`crate::controller::core`]). An agent knows, for each policy of its span, the version of
//! the frame that last brought the policy's content (a `policy_put` delta, or a snapshot):
//! that is at or after the policy's generation once the agent has its current content.
//!
//! An agent reports, after each realization (committed bundle or refused one), the span
//! version it realized and every policy of its span with the generation it realized and the
//! outcome ([`RealizationReport`]). The controller keeps the last report of each node and
//! publishes, per policy, [`RealizationCounts`] as Antrea's status controller computes them
//! (`pkg/controller/networkpolicy/status_controller.go`, `syncHandler`): `desired` = the nodes
//! of its span; `current` = those that realized its current generation; `failures` = those
//! that failed on its current generation, with the reason; `pending` = those where it is
//! pending, with what it waits for (reports of an older generation and of nodes out of the span
//! do not count). The kube layer writes them to the CRD status, the
//! standalone controller serves them (`GET /v1/realization`).

use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher;

use serde::{Deserialize, Serialize};

use crate::controlplane::message::WirePolicy;
use crate::grouping::{PolicyKey, Span};

/// The counts of one policy; see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealizationCounts {
    /// The policy's generation: the controlplane version of its current content (0 while no
    /// node was sent it).
    #[serde(default)]
    pub generation: u64,
    /// Nodes whose span holds the policy (`desiredNodesRealized`).
    pub desired: u32,
    /// Nodes of the span that reported the policy realized at its generation
    /// (`currentNodesRealized`).
    pub current: u32,
    /// Nodes of the span that failed to realize its generation: node name -> reason
    /// (`RealizationFailure`).
    pub failures: BTreeMap<String, String>,
    /// Nodes of the span where its generation is pending: not realized yet, nothing wrong
    /// with the policy itself (a local pod's interface missing, another policy's flow refused
    /// in the same bundle); node name -> what it waits for (`RealizationPending`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pending: BTreeMap<String, String>,
}

impl RealizationCounts {
    /// The phase, as Antrea's: `Realized` when every node of the span realized the current
    /// generation (a span of no node included), `Failed` when every node of it either realized
    /// or failed and some failed, else `Realizing` (a pending node is neither).
    pub fn phase(&self) -> &'static str {
        let failed = self.failures.len() as u32;
        if self.current >= self.desired && failed == 0 {
            "Realized"
        } else if failed > 0 && self.current + failed >= self.desired {
            "Failed"
        } else {
            "Realizing"
        }
    }
}

/// The per-policy counts the controller publishes (a `tokio::sync::watch` of it).
pub type Realization = BTreeMap<PolicyKey, RealizationCounts>;

/// One policy in a report: its key (`kind` and `name` of [`PolicyKey`]), the generation
/// realized (or failed, or pending), and why it failed or what it waits for (both `None` =
/// realized).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRealization {
    /// Policy kind, as [`PolicyKey::kind`].
    pub kind: String,
    /// Policy name, as [`PolicyKey::name`].
    pub name: String,
    /// The version of the frame that brought the content realized (or failed); 0 (absent):
    /// the report's version.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u64,
    /// The failure reason; `None` when realized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Pending: the generation is not realized on the node yet, and the policy is not at
    /// fault; what it waits for (a local pod's interface, another policy refused in the same
    /// bundle). `None` when realized or failed. A controller older than this field reads a
    /// pending entry as realized: upgrade the controller first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
}

/// The most bytes of a failure or pending reason an agent reports ([`bounded_reason`]).
pub const MAX_REASON: usize = 256;

/// `reason` cut to at most [`MAX_REASON`] bytes (at a character boundary, ending in `…` when
/// cut), so that a node's report of every policy of its span stays under the server's cap.
pub fn bounded_reason(reason: &str) -> String {
    if reason.len() <= MAX_REASON {
        return reason.to_string();
    }
    let mut end = MAX_REASON - '…'.len_utf8();
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &reason[..end])
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// An agent's report (`POST /v1/realization/{node}`, JSON): the span version it realized, and
/// the policies of that span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealizationReport {
    /// The span version realized.
    pub version: u64,
    /// Every policy of the realized span.
    pub policies: Vec<PolicyRealization>,
}

/// The generation of every policy: the version at which its content last changed, as seen in
/// what the controller sends (each `policy_put` of a batch's deltas, each snapshot). A policy
/// put to a node that joins its span with unchanged content keeps its generation. Memory: one
/// content hash and one version per policy.
#[derive(Debug, Default)]
pub struct PolicyGenerations {
    by_kind: HashMap<String, HashMap<String, (u64, u64)>>,
}

/// A [`Hasher`] fed by `serde_json` output.
struct HashWriter(std::collections::hash_map::DefaultHasher);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn content_hash(p: &WirePolicy) -> u64 {
    let mut w = HashWriter(Default::default());
    // Serializing a WirePolicy cannot fail (string keys, no non-finite floats).
    let _ = serde_json::to_writer(&mut w, p);
    w.0.finish()
}

impl PolicyGenerations {
    /// Notes that `p`'s content was sent at `version`: a content not seen before (or a new
    /// policy) gets generation `version`; the same content keeps its generation.
    pub fn observe(&mut self, p: &WirePolicy, version: u64) {
        let hash = content_hash(p);
        let by_name = self.by_kind.entry(p.kind.clone()).or_default();
        match by_name.get_mut(&p.name) {
            Some((h, _)) if *h == hash => {}
            Some(e) => *e = (hash, version),
            None => {
                by_name.insert(p.name.clone(), (hash, version));
            }
        }
    }

    /// The generation of policy `kind`/`name`; 0 when its content was never sent.
    pub fn get(&self, kind: &str, name: &str) -> u64 {
        self.by_kind
            .get(kind)
            .and_then(|m| m.get(name))
            .map_or(0, |(_, g)| *g)
    }

    /// Forgets the policies `keep` says are gone.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        for (kind, by_name) in &mut self.by_kind {
            by_name.retain(|name, _| keep(kind, name));
        }
        self.by_kind.retain(|_, m| !m.is_empty());
    }
}

/// The counts of each policy of `policies` (key, span, generation) from the last report of
/// each node; see the module documentation. A policy entry of a report without a generation
/// counts at the report's version. Cost: one pass over the reports' entries and one over the
/// policies' spans.
pub fn count<'a>(
    policies: impl IntoIterator<Item = (&'a PolicyKey, Span, u64)>,
    reports: &BTreeMap<String, RealizationReport>,
) -> Realization {
    // (kind, name) -> (node, generation, entry) of each report entry.
    type Entries<'r> = Vec<(&'r str, u64, &'r PolicyRealization)>;
    let mut by_policy: HashMap<(&str, &str), Entries> = HashMap::new();
    for (node, r) in reports {
        for p in &r.policies {
            let generation = if p.generation == 0 {
                r.version
            } else {
                p.generation
            };
            by_policy
                .entry((p.kind.as_str(), p.name.as_str()))
                .or_default()
                .push((node.as_str(), generation, p));
        }
    }
    let mut out = Realization::new();
    for (key, span, generation) in policies {
        let mut c = RealizationCounts {
            generation,
            desired: span.len() as u32,
            ..RealizationCounts::default()
        };
        for (node, realized, entry) in by_policy
            .get(&(key.kind, key.name.as_str()))
            .into_iter()
            .flatten()
        {
            if !span.contains(*node) || *realized < generation {
                continue;
            }
            match (&entry.failure, &entry.pending) {
                (Some(reason), _) => {
                    c.failures.insert(node.to_string(), reason.clone());
                }
                (None, Some(why)) => {
                    c.pending.insert(node.to_string(), why.clone());
                }
                (None, None) => c.current += 1,
            }
        }
        out.insert(key.clone(), c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(desired: u32, current: u32, failed: &[&str]) -> RealizationCounts {
        RealizationCounts {
            generation: 7,
            desired,
            current,
            failures: failed
                .iter()
                .map(|n| (n.to_string(), "refused".to_string()))
                .collect(),
            ..RealizationCounts::default()
        }
    }

    #[test]
    fn phases_are_antreas() {
        assert_eq!(counts(3, 3, &[]).phase(), "Realized");
        assert_eq!(counts(0, 0, &[]).phase(), "Realized");
        assert_eq!(counts(3, 1, &[]).phase(), "Realizing");
        // A failure while another node has not reported yet: still realizing.
        assert_eq!(counts(3, 1, &["n2"]).phase(), "Realizing");
        assert_eq!(counts(3, 2, &["n2"]).phase(), "Failed");
        assert_eq!(counts(2, 0, &["n1", "n2"]).phase(), "Failed");
    }

    #[test]
    fn a_reason_is_cut_at_a_character_boundary() {
        assert_eq!(bounded_reason("short"), "short");
        let long = "é".repeat(200);
        let cut = bounded_reason(&long);
        assert!(cut.len() <= MAX_REASON, "{}", cut.len());
        assert!(cut.ends_with('…') && cut.starts_with("éé"));
        assert_eq!(cut.len(), MAX_REASON - 1);
    }

    #[test]
    fn a_pending_entry_counts_neither_realized_nor_failed() {
        let key = PolicyKey {
            kind: "K8sNetworkPolicy",
            name: "x/p".into(),
        };
        let span: Span = ["n1", "n2"].map(String::from).into();
        let pending = PolicyRealization {
            pending: Some("pod x/a: no interface".into()),
            ..entry(30, None)
        };
        let r = reports(&[("n1", 30, entry(30, None)), ("n2", 30, pending.clone())]);
        let c = &count([(&key, span.clone(), 30)], &r)[&key];
        assert_eq!(
            (c.current, c.failures.len(), c.phase()),
            (1, 0, "Realizing")
        );
        assert_eq!(
            c.pending,
            BTreeMap::from([("n2".to_string(), "pod x/a: no interface".to_string())])
        );
        // Pending on an older generation: not counted at all.
        let r = reports(&[(
            "n2",
            20,
            PolicyRealization {
                generation: 20,
                ..pending
            },
        )]);
        assert!(count([(&key, span, 30)], &r)[&key].pending.is_empty());
        // A report without the field reads as before.
        let old: PolicyRealization =
            serde_json::from_str(r#"{"kind": "K8sNetworkPolicy", "name": "x/p"}"#).unwrap();
        assert_eq!(old.pending, None);
    }

    #[test]
    fn a_report_without_generations_reads_as_before() {
        let r: RealizationReport = serde_json::from_str(
            r#"{"version": 9, "policies": [{"kind": "K8sNetworkPolicy", "name": "x/p"}]}"#,
        )
        .unwrap();
        assert_eq!(r.policies[0].generation, 0);
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"version":9,"policies":[{"kind":"K8sNetworkPolicy","name":"x/p"}]}"#
        );
    }

    fn wire(name: &str, isolates: u32) -> WirePolicy {
        WirePolicy {
            kind: "K8sNetworkPolicy".into(),
            name: name.into(),
            rules: vec![],
            isolates_ingress: vec![isolates],
            isolates_egress: vec![],
        }
    }

    #[test]
    fn a_generation_moves_with_the_content_only() {
        let mut g = PolicyGenerations::default();
        assert_eq!(g.get("K8sNetworkPolicy", "x/p"), 0);
        g.observe(&wire("x/p", 1), 10);
        // The same content put again (a node joining the span): the generation stays.
        g.observe(&wire("x/p", 1), 20);
        assert_eq!(g.get("K8sNetworkPolicy", "x/p"), 10);
        g.observe(&wire("x/p", 2), 30);
        assert_eq!(g.get("K8sNetworkPolicy", "x/p"), 30);
        g.observe(&wire("x/q", 2), 40);
        g.retain(|_, name| name == "x/q");
        assert_eq!(g.get("K8sNetworkPolicy", "x/p"), 0);
        assert_eq!(g.get("K8sNetworkPolicy", "x/q"), 40);
    }

    fn entry(generation: u64, failure: Option<&str>) -> PolicyRealization {
        PolicyRealization {
            kind: "K8sNetworkPolicy".into(),
            name: "x/p".into(),
            generation,
            failure: failure.map(String::from),
            pending: None,
        }
    }

    fn reports(of: &[(&str, u64, PolicyRealization)]) -> BTreeMap<String, RealizationReport> {
        of.iter()
            .map(|(node, version, p)| {
                let r = RealizationReport {
                    version: *version,
                    policies: vec![p.clone()],
                };
                (node.to_string(), r)
            })
            .collect()
    }

    #[test]
    fn only_nodes_of_the_span_at_the_current_generation_count() {
        let key = PolicyKey {
            kind: "K8sNetworkPolicy",
            name: "x/p".into(),
        };
        let span: Span = ["n1", "n2", "n3", "n4"].map(String::from).into();
        let r = reports(&[
            // Realized the current generation (30), at a later span version.
            ("n1", 50, entry(30, None)),
            // Realized an older content: not current.
            ("n2", 50, entry(20, None)),
            // Failed on the current generation: a failure.
            ("n3", 40, entry(40, Some("flow too large"))),
            // Failed on an older one: neither.
            ("n4", 25, entry(25, Some("old"))),
            // Not in the span: ignored.
            ("n9", 50, entry(30, None)),
        ]);
        let c = &count([(&key, span.clone(), 30)], &r)[&key];
        assert_eq!((c.generation, c.desired, c.current), (30, 4, 1));
        assert_eq!(
            c.failures,
            BTreeMap::from([("n3".to_string(), "flow too large".to_string())])
        );
        assert_eq!(c.phase(), "Realizing");
        // A report without generations counts at its version.
        let r = reports(&[("n1", 30, entry(0, None)), ("n2", 29, entry(0, None))]);
        let c = &count([(&key, span, 30)], &r)[&key];
        assert_eq!(c.current, 1);
        // No node holds it: realized, as Antrea's 0/0.
        let c = &count([(&key, Span::new(), 30)], &r)[&key];
        assert_eq!((c.desired, c.current, c.phase()), (0, 0, "Realized"));
    }
}
