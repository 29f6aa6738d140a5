//! Rule precedence at equal policy priority, as Antrea orders rules: (tier priority, policy
//! priority, rule index), and kakine's deterministic tie-break among rules still equal.

use kakine::policy::model::{AntreaPeer, AntreaPolicy, AntreaRule};
use kakine::policy::resolved::{PodKey, Protocol, RuleAction};
use kakine::policy::selector::LabelSelector;
use kakine::policy::{
    evaluate, resolve, Cluster, Decision, Destination, PolicySet, Probe, Verdict,
};

use RuleAction::{Allow, Drop, Reject};

fn cluster() -> Cluster {
    Cluster::default()
        .namespace("x", &[("ns", "x")])
        .namespace("y", &[("ns", "y")])
        .namespace("z", &[("ns", "z")])
        .pod("x/a", &[("pod", "a")], "10.0.1.1")
        .serving(80, Protocol::Tcp, None)
        .pod("y/a", &[("pod", "a")], "10.0.2.1")
        .serving(80, Protocol::Tcp, None)
        .pod("z/a", &[("pod", "a")], "10.0.3.1")
        .serving(80, Protocol::Tcp, None)
}

fn ns(name: &str) -> LabelSelector {
    LabelSelector::labels([("ns", name)])
}

fn key(s: &str) -> PodKey {
    let (namespace, name) = s.split_once('/').unwrap();
    PodKey {
        namespace: namespace.into(),
        name: name.into(),
    }
}

fn probe(set: &PolicySet, from: &str, to: &str) -> Decision {
    let resolved = resolve(&cluster(), set).expect("valid policies");
    evaluate(
        &resolved,
        &Probe {
            from: key(from),
            to: Destination::Pod(key(to)),
            protocol: Protocol::Tcp,
            port: 80,
            source_port: None,
        },
    )
}

/// An ACNP at priority 5 applied to namespace x with one egress rule per `(action, namespace)`.
fn egress_policy(name: &str, rules: &[(RuleAction, &str)]) -> AntreaPolicy {
    let mut p = AntreaPolicy::test(name)
        .priority(5.0)
        .applied_to(LabelSelector::default(), Some(ns("x")));
    for (action, to) in rules {
        p = p.egress(AntreaRule::new(*action).to(AntreaPeer::namespaces(ns(to))));
    }
    p
}

#[test]
fn rule_zero_of_either_policy_precedes_rule_one_of_the_other_at_equal_priority() {
    let set = PolicySet::default()
        .with(egress_policy("acnp-allow", &[(Allow, "z"), (Allow, "y")]))
        .with(egress_policy("acnp-deny", &[(Drop, "y"), (Drop, "z")]));
    let to_y = probe(&set, "x/a", "y/a");
    assert_eq!(to_y.verdict, Verdict::Deny);
    assert_eq!(
        to_y.egress.unwrap().to_string(),
        "application/acnp-deny/egress-0"
    );
    let to_z = probe(&set, "x/a", "z/a");
    assert_eq!(to_z.verdict, Verdict::Allow);
    assert_eq!(
        to_z.egress.unwrap().to_string(),
        "application/acnp-allow/egress-0"
    );
}

#[test]
fn a_lower_policy_priority_still_wins_over_a_lower_rule_index() {
    let set = PolicySet::default()
        .with(egress_policy("first", &[(Allow, "z"), (Allow, "y")]).priority(1.0))
        .with(egress_policy("second", &[(Drop, "y")]));
    assert_eq!(probe(&set, "x/a", "y/a").verdict, Verdict::Allow);
}

#[test]
fn equal_rules_of_equal_priority_put_drop_before_allow_whatever_the_names() {
    for (allow, drop) in [("a-allow", "z-drop"), ("z-allow", "a-drop")] {
        let set = PolicySet::default()
            .with(egress_policy(allow, &[(Allow, "y")]))
            .with(egress_policy(drop, &[(Drop, "y")]));
        let d = probe(&set, "x/a", "y/a");
        assert_eq!(d.verdict, Verdict::Deny, "{allow} vs {drop}");
        assert_eq!(d.egress.unwrap().policy, drop);
    }
}

#[test]
fn equal_rules_of_equal_priority_put_reject_before_allow() {
    let set = PolicySet::default()
        .with(egress_policy("a-allow", &[(Allow, "y")]))
        .with(egress_policy("b-reject", &[(Reject, "y")]));
    assert_eq!(probe(&set, "x/a", "y/a").verdict, Verdict::Reject);
}

#[test]
fn the_lint_still_reports_the_conflict_of_equal_rules() {
    let set = PolicySet::default()
        .with(egress_policy("a-allow", &[(Allow, "y")]))
        .with(egress_policy("z-drop", &[(Drop, "y")]));
    let resolved = resolve(&cluster(), &set).expect("valid policies");
    let conflicts: Vec<String> = resolved
        .warnings
        .iter()
        .map(ToString::to_string)
        .filter(|w| w.contains("conflicts with"))
        .collect();
    assert_eq!(conflicts.len(), 1, "{:?}", resolved.warnings);
    assert!(
        conflicts[0].contains("ClusterNetworkPolicy \"a-allow\"")
            && conflicts[0].contains("z-drop")
            && conflicts[0].contains("Drop and Reject first"),
        "{conflicts:?}"
    );
}
