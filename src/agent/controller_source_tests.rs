//! Unit tests of [`super`]: the realization report an outcome makes.

use super::*;
use crate::controlplane::message::WirePolicy;
use crate::controlplane::{Delta, NodeObjects};
use crate::policy::resolved::{PodKey, RuleRef};

fn wire(name: &str) -> WirePolicy {
    WirePolicy {
        kind: "K8sNetworkPolicy".into(),
        name: name.into(),
        rules: vec![],
        isolates_ingress: vec![],
        isolates_egress: vec![],
    }
}

fn key(name: &str) -> (String, String) {
    ("K8sNetworkPolicy".to_string(), name.to_string())
}

fn rule(policy: &str) -> RuleRef {
    RuleRef {
        kind: "NetworkPolicy".into(),
        policy: policy.into(),
        tier: "k8s".into(),
        rule: "ingress-0".into(),
    }
}

/// Policies x/p, x/q, x/r, x/s, each with one rule (`rule(name)`); x/s isolates too.
fn owners() -> Arc<Owners> {
    let mut o = Owners::default();
    for name in ["x/p", "x/q", "x/r", "x/s"] {
        let r = rule(name);
        o.rules
            .entry((r.kind, r.tier, r.policy))
            .or_default()
            .insert(key(name));
    }
    o.isolations
        .entry("x/s".into())
        .or_default()
        .insert(key("x/s"));
    Arc::new(o)
}

fn outcome(r: &RealizationReport) -> Vec<(String, u64, Option<String>, Option<String>)> {
    r.policies
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.generation,
                p.failure.clone(),
                p.pending.clone(),
            )
        })
        .collect()
}

fn refused(culprit: Option<PolicyRef>) -> Outcome {
    Outcome::Refused {
        error: "too large".into(),
        culprit,
    }
}

#[test]
fn a_refused_bundle_fails_the_culprit_and_leaves_the_other_changes_pending() {
    let mut g = Generations::new();
    let snapshot = NodeObjects::default().snapshot(10);
    let snapshot = Snapshot {
        policies: vec![wire("x/p"), wire("x/q")],
        ..snapshot
    };
    note_generations(&mut g, &Frame::Snapshot(snapshot));
    assert_eq!(g, Generations::from([(key("x/p"), 10), (key("x/q"), 10)]));
    let enforced = g.clone();
    note_generations(
        &mut g,
        &Frame::Delta(Delta {
            version: 12,
            changes: vec![
                Change::PolicyPut(wire("x/q")),
                Change::PolicyDelete {
                    kind: "K8sNetworkPolicy".into(),
                    name: "x/p".into(),
                },
                Change::PolicyPut(wire("x/r")),
            ],
        }),
    );
    note_generations(&mut g, &Frame::Bookmark { version: 13 });
    assert_eq!(g, Generations::from([(key("x/q"), 12), (key("x/r"), 12)]));
    let h = Handed {
        version: 12,
        policies: g.clone(),
        owners: owners(),
    };
    let none = Pending::new();
    let ok = report(
        &h,
        &enforced,
        &none,
        &Outcome::Committed { unattached: vec![] },
    );
    assert_eq!(
        outcome(&ok),
        [
            ("x/q".into(), 12, None, None),
            ("x/r".into(), 12, None, None)
        ]
    );
    // r's rule is the culprit: r failed naming its rule, q (changed too) pending behind it.
    let r = report(
        &h,
        &enforced,
        &none,
        &refused(Some(PolicyRef::Rule(rule("x/r")))),
    );
    let behind = "not applied: NetworkPolicy x/r (rule ingress-0) was refused in the same \
                  bundle, so nothing of it was (the previous state stays enforced)";
    assert_eq!(
        outcome(&r),
        [
            ("x/q".into(), 12, None, Some(behind.into())),
            (
                "x/r".into(),
                12,
                Some("rule ingress-0: too large".into()),
                None
            )
        ]
    );
    // No culprit named: every change failed with the error.
    let r = report(&h, &enforced, &none, &refused(None));
    assert_eq!(
        outcome(&r),
        [
            ("x/q".into(), 12, Some("too large".into()), None),
            ("x/r".into(), 12, Some("too large".into()), None)
        ]
    );
    // A refused bundle that did not change q's content: q is reported as it was enforced
    // (realized; pending when it was), even beside a culprit.
    let h = Handed {
        version: 14,
        policies: Generations::from([(key("x/q"), 12), (key("x/s"), 14)]),
        owners: owners(),
    };
    let isolation = refused(Some(PolicyRef::Isolation("x/s".into())));
    let r = report(&h, &g, &none, &isolation);
    assert_eq!(
        outcome(&r),
        [
            ("x/q".into(), 12, None, None),
            ("x/s".into(), 14, Some("isolation: too large".into()), None)
        ]
    );
    let was_pending = Pending::from([(key("x/q"), "pod x/a: no interface".to_string())]);
    let r = report(&h, &g, &was_pending, &isolation);
    assert_eq!(outcome(&r)[0].3.as_deref(), Some("pod x/a: no interface"));
}

#[test]
fn a_pod_not_attached_leaves_its_policies_pending_naming_it() {
    let h = Handed {
        version: 20,
        policies: Generations::from([(key("x/p"), 20), (key("x/q"), 20), (key("x/s"), 20)]),
        owners: owners(),
    };
    let pod = |name: &str, policies: Vec<PolicyRef>| Unattached {
        pod: PodKey {
            namespace: "x".into(),
            name: name.into(),
        },
        missing: "no interface kak-x on the node yet".into(),
        policies,
    };
    let mut unattached = vec![
        pod("a", vec![PolicyRef::Rule(rule("x/p"))]),
        // An isolation names its policy; a policy the span lacks names none.
        pod(
            "b",
            vec![
                PolicyRef::Isolation("x/s".into()),
                PolicyRef::Rule(rule("y/z")),
            ],
        ),
    ];
    let r = report(
        &h,
        &Generations::new(),
        &Pending::new(),
        &Outcome::Committed {
            unattached: unattached.clone(),
        },
    );
    assert_eq!(
        outcome(&r),
        [
            (
                "x/p".into(),
                20,
                None,
                Some("pod x/a: no interface kak-x on the node yet".into())
            ),
            ("x/q".into(), 20, None, None),
            (
                "x/s".into(),
                20,
                None,
                Some("pod x/b: no interface kak-x on the node yet".into())
            ),
        ]
    );
    // Many pods: three named, the rest counted; the reason stays bounded.
    for n in 0..5 {
        unattached.push(pod(&format!("c{n}"), vec![PolicyRef::Rule(rule("x/p"))]));
    }
    let p = &pending_of(&unattached, &h.owners)[&key("x/p")];
    assert!(
        p.starts_with("pod x/a: ") && p.contains("pod x/c1: "),
        "{p}"
    );
    assert!(p.ends_with(" (and 3 more pods)"), "{p}");
    let r = report(
        &h,
        &Generations::new(),
        &Pending::new(),
        &Outcome::Committed { unattached },
    );
    let sent = r.policies[0].pending.as_deref().unwrap();
    assert!(
        sent.len() <= crate::controller::realization::MAX_REASON,
        "{sent}"
    );
}
