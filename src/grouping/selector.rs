//! What a group selects, in one normal form, and the label sets it is matched against.
//!
//! Every way a policy names pods (a K8s `podSelector` in the policy's namespace, a
//! `namespaceSelector` + `podSelector` pair, an Antrea `serviceAccount`, an upstream `subject`)
//! becomes a [`GroupSelector`]; identical ones are interned once by the index and shared by every
//! rule that uses them, like the selector items of Antrea's `pkg/controller/grouping`.

use crate::policy::selector::{LabelSelector, Labels};

/// Which namespaces a [`GroupSelector`] looks in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NamespaceScope {
    /// One namespace, by name (a namespaced policy's own namespace, `namespaces: {match: Self}`).
    Name(String),
    /// Every namespace whose labels the selector matches (labels include the implicit
    /// `kubernetes.io/metadata.name`).
    Selector(LabelSelector),
    /// Every namespace.
    All,
}

/// A pod selection in normal form: the unit of sharing. Two rules that select the same pods the
/// same way hold the same group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupSelector {
    /// The namespaces looked in.
    pub namespaces: NamespaceScope,
    /// The pods' labels; `None` = every pod of those namespaces.
    pub pods: Option<LabelSelector>,
    /// Only pods running as this service account (Antrea `serviceAccount` peers and
    /// appliedTo).
    pub service_account: Option<String>,
    /// Leave host-network pods out (policy subjects never include them; neither do the
    /// network-policy-api `namespaces` / `pods` peers).
    pub exclude_host_network: bool,
}

impl GroupSelector {
    /// `pods` in the namespace `ns` (a K8s NetworkPolicy's own `podSelector`).
    pub fn in_namespace(ns: &str, pods: Option<&LabelSelector>) -> Self {
        GroupSelector {
            namespaces: NamespaceScope::Name(ns.to_string()),
            pods: pods.map(LabelSelector::normalized),
            service_account: None,
            exclude_host_network: false,
        }
    }

    /// `pods` in the namespaces `namespaces` selects (every namespace when `None`).
    pub fn across(namespaces: Option<&LabelSelector>, pods: Option<&LabelSelector>) -> Self {
        GroupSelector {
            namespaces: match namespaces {
                Some(s) if *s == LabelSelector::default() => NamespaceScope::All,
                Some(s) => NamespaceScope::Selector(s.normalized()),
                None => NamespaceScope::All,
            },
            pods: pods.map(LabelSelector::normalized),
            service_account: None,
            exclude_host_network: false,
        }
    }

    /// The same selection without host-network pods.
    pub fn without_host_network(mut self) -> Self {
        self.exclude_host_network = true;
        self
    }

    /// Whether a label set in a namespace with `ns_labels` is selected.
    pub fn matches(&self, set: &LabelSet, ns_labels: &Labels) -> bool {
        let in_scope = match &self.namespaces {
            NamespaceScope::Name(n) => *n == set.namespace,
            NamespaceScope::Selector(s) => s.matches(ns_labels),
            NamespaceScope::All => true,
        };
        in_scope && self.matches_pods(set)
    }

    /// Whether the pod part (labels, service account, host network) selects `set`, whatever its
    /// namespace.
    pub fn matches_pods(&self, set: &LabelSet) -> bool {
        self.pods.as_ref().is_none_or(|s| s.matches(&set.labels))
            && self
                .service_account
                .as_ref()
                .is_none_or(|sa| *sa == set.service_account)
            && !(self.exclude_host_network && set.host_network)
    }

    /// A `(key, value)` every selected namespace must carry, if the scope requires one: the
    /// key under which the index files a cluster-scoped selector, so that a new namespace is
    /// matched only against the selectors that can select it.
    pub fn namespace_anchor(&self) -> Option<(&str, &str)> {
        match &self.namespaces {
            NamespaceScope::Selector(s) => s
                .match_labels
                .iter()
                .next()
                .map(|(k, v)| (k.as_str(), v.as_str())),
            _ => None,
        }
    }
}

/// Pods with the same namespace, labels, service account and host-network flag are one label
/// set: the index matches selectors against label sets, never against pods (the pods of one
/// Deployment share one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelSet {
    /// The pods' namespace.
    pub namespace: String,
    /// The pods' labels.
    pub labels: Labels,
    /// Their service account (`default` when the pod names none).
    pub service_account: String,
    /// Whether they share the node's network namespace.
    pub host_network: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::selector::Operator;

    fn set(ns: &str, labels: &[(&str, &str)], host_network: bool) -> LabelSet {
        LabelSet {
            namespace: ns.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            service_account: "default".into(),
            host_network,
        }
    }

    #[test]
    fn equal_selectors_written_differently_are_one_normal_form() {
        let a = LabelSelector::default().with_expression("tier", Operator::In, &["b", "a"]);
        let b = LabelSelector::default().with_expression("tier", Operator::In, &["a", "b", "a"]);
        assert_eq!(
            GroupSelector::across(Some(&a), None),
            GroupSelector::across(Some(&b), None)
        );
        // An empty namespace selector is every namespace.
        assert_eq!(
            GroupSelector::across(Some(&LabelSelector::default()), None).namespaces,
            NamespaceScope::All
        );
    }

    #[test]
    fn a_named_scope_matches_only_its_namespace_and_host_network_pods_can_be_left_out() {
        let sel = GroupSelector::in_namespace("x", Some(&LabelSelector::labels([("app", "a")])));
        let ns = Labels::new();
        assert!(sel.matches(&set("x", &[("app", "a")], false), &ns));
        assert!(!sel.matches(&set("y", &[("app", "a")], false), &ns));
        assert!(!sel.matches(&set("x", &[("app", "b")], false), &ns));
        assert!(sel.matches(&set("x", &[("app", "a")], true), &ns));
        let sel = sel.without_host_network();
        assert!(!sel.matches(&set("x", &[("app", "a")], true), &ns));
    }
}
