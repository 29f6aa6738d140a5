//! What one realization of a source event came to, as the live agent tells its source
//! ([`crate::agent::source::Source::realized`]) and the controller source reports it
//! (docs/controlplane.md, "Realization"): committed, with the local pods that are not on the
//! bridge (the policies applied to them are pending there); or refused as a whole (nothing of
//! the bundle applied, the previous state enforced), with the policy whose rule the error
//! names, if it names one.

use crate::datapath::compiler::{cookie, CompileError, CompiledRule};
use crate::policy::resolved::{PodKey, ResolvedPolicies, RuleRef};

/// A policy as the datapath knows it: by one of its rules, or, for a K8s NetworkPolicy's
/// isolation, by its `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PolicyRef {
    /// The policy of this rule ([`RuleRef::kind`], [`RuleRef::tier`], [`RuleRef::policy`]).
    Rule(RuleRef),
    /// The K8s NetworkPolicy (`namespace/name`) isolating pods.
    Isolation(String),
}

impl std::fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyRef::Rule(r) => write!(f, "{} {} (rule {})", r.kind, r.policy, r.rule),
            PolicyRef::Isolation(p) => write!(f, "NetworkPolicy {p} (isolation)"),
        }
    }
}

/// A local pod of the input that is not attached to the bridge: the policies applied to it
/// are not enforced for it on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unattached {
    /// The pod.
    pub pod: PodKey,
    /// What is missing, e.g. `no interface kak1234abcd on the node yet`.
    pub missing: String,
    /// The policies applied to it: one rule per policy, and the isolations holding it.
    pub policies: Vec<PolicyRef>,
}

impl Unattached {
    /// `pod NS/NAME: MISSING`, what a pending policy's report says.
    pub fn reason(&self) -> String {
        format!("pod {}: {}", self.pod, self.missing)
    }
}

/// How the realization of the last source event went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The bundle committed: every policy is enforced, except on the `unattached` pods.
    Committed {
        /// The local pods not attached.
        unattached: Vec<Unattached>,
    },
    /// Refused as a whole: nothing of it was applied, the previous state stays enforced.
    Refused {
        /// The error.
        error: String,
        /// The policy whose rule the error names (the compiler's oversized flow, the flow OVS
        /// refused); `None` when it names none (a pipeline or per-pod flow, two pods on one
        /// port).
        culprit: Option<PolicyRef>,
    },
}

/// The policies applied to `pod` in `policies`: one [`PolicyRef::Rule`] per policy whose
/// rules apply to it, and a [`PolicyRef::Isolation`] per K8s NetworkPolicy isolating it.
/// Cost: one set lookup per rule and per isolation.
pub fn applied_to(policies: &ResolvedPolicies, pod: &PodKey) -> Vec<PolicyRef> {
    let mut out: Vec<PolicyRef> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for r in &policies.rules {
        if r.applied_to.contains(pod) && seen.insert((&r.id.kind, &r.id.tier, &r.id.policy)) {
            out.push(PolicyRef::Rule(r.id.clone()));
        }
    }
    let mut isolations: Vec<&str> = policies
        .isolated_by
        .iter()
        .filter(|i| i.pods.contains(pod))
        .map(|i| i.policy.as_str())
        .collect();
    isolations.sort_unstable();
    isolations.dedup();
    out.extend(
        isolations
            .into_iter()
            .map(|p| PolicyRef::Isolation(p.into())),
    );
    out
}

/// The policy a compile error names: the rule of an oversized flow.
pub fn compile_culprit(e: &CompileError) -> Option<PolicyRef> {
    match e {
        CompileError::FlowTooLarge { owner, .. } => owner.as_deref().cloned().map(PolicyRef::Rule),
        _ => None,
    }
}

/// The policy of the flow whose `cookie` a switch refused, among `rules` (the compile sent):
/// a policy rule's flow names its rule; other flows (pipeline, pods, isolation) none.
pub fn cookie_culprit(cookie_value: u64, rules: &[CompiledRule]) -> Option<PolicyRef> {
    let (_, category, object) = cookie::split(cookie_value);
    if category != cookie::POLICY {
        return None;
    }
    rules
        .iter()
        .find(|r| r.id == object)
        .map(|r| PolicyRef::Rule(r.rule.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policies_of_a_pod_are_its_rules_policies_and_isolations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("input.yaml");
        std::fs::write(
            &path,
            "\
apiVersion: kakine.io/v1alpha1
kind: Cluster
namespaces: [{name: db}, {name: web}]
pods:
- {namespace: db, name: postgres, labels: {app: pg}, ip: 10.0.0.1}
- {namespace: web, name: front, labels: {app: front}, ip: 10.0.0.2}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: db}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: pg}
spec:
  priority: 1
  tier: application
  appliedTo:
  - podSelector: {matchLabels: {app: pg}}
  ingress:
  - {name: a, action: Allow, from: [{podSelector: {matchLabels: {app: front}}}]}
  - {name: b, action: Drop, from: [{podSelector: {}}]}
",
        )
        .unwrap();
        let input = crate::policy::load_files(&[path]).unwrap();
        let p = crate::policy::resolve(&input.cluster, &input.objects).unwrap();
        let key = |name: &str| &p.pods.iter().find(|i| i.key.name == name).unwrap().key;
        let refs = applied_to(&p, key("postgres"));
        let shown: Vec<String> = refs.iter().map(|r| r.to_string()).collect();
        // One entry for pg (two rules), one for the isolation of deny.
        assert_eq!(
            shown,
            [
                "ClusterNetworkPolicy pg (rule a)",
                "NetworkPolicy db/deny (isolation)"
            ]
        );
        assert!(applied_to(&p, key("front")).is_empty());
    }
}
