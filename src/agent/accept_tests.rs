//! Unit tests of [`super::accept`]: each object accepted or refused on its own.

use super::*;
use crate::policy::resolved::RuleAction;

const CLUSTER: &str = "\
apiVersion: kakine.io/v1alpha1
kind: Cluster
namespaces: [{name: a}, {name: b}]
pods:
- {namespace: a, name: client, labels: {app: client}, ip: 10.30.1.10, ports: []}
- {namespace: b, name: server, labels: {app: server}, ip: 10.30.1.20, ports: []}
";

/// A ClusterNetworkPolicy into namespace `b` with one ingress rule of `action` from `from`
/// (a peer in YAML flow style).
fn cnp(name: &str, action: &str, from: &str) -> String {
    format!(
        "apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {{name: {name}}}
spec:
  tier: securityops
  priority: 5
  appliedTo: [{{namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: b}}}}}}]
  ingress:
  - {{name: r, action: {action}, from: [{from}]}}
"
    )
}

fn from_ns(ns: &str) -> String {
    format!("{{namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {ns}}}}}}}")
}

fn from_group(g: &str) -> String {
    format!("{{group: {g}}}")
}

fn group(name: &str, ns: &str) -> String {
    format!(
        "apiVersion: crd.antrea.io/v1beta1
kind: ClusterGroup
metadata: {{name: {name}}}
spec: {{namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {ns}}}}}}}
"
    )
}

/// Input files from (name, text) pairs, each parsed on its own.
fn input(files: &[(&str, String)]) -> Vec<(PathBuf, FileDocs)> {
    let mut v: Vec<(PathBuf, FileDocs)> = files
        .iter()
        .map(|(n, t)| {
            let p = PathBuf::from(format!("in/{n}"));
            let d = parse_file(&p, t);
            (p, d)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn run(files: &[(&str, String)], last: &LastGood) -> Result<Outcome, PolicyError> {
    let owned = input(files);
    let borrowed: Vec<(&Path, &FileDocs)> = owned.iter().map(|(p, d)| (p.as_path(), d)).collect();
    accept(&borrowed, last)
}

fn accepted(files: &[(&str, String)], last: &LastGood) -> Outcome {
    run(files, last).expect("an enforceable input")
}

/// The action of policy `name`'s rule, as resolved.
fn action(o: &Outcome, name: &str) -> Option<RuleAction> {
    let r = crate::policy::resolve(&o.cluster, &o.objects).unwrap();
    r.rules
        .iter()
        .find(|x| x.id.policy == name)
        .map(|x| x.action)
}

fn refused_objects(o: &Outcome) -> Vec<(String, Enforced)> {
    o.refused
        .iter()
        .map(|r| (r.object.clone(), r.enforced))
        .collect()
}

#[test]
fn a_refused_edit_of_a_drop_keeps_the_old_drop_while_an_unrelated_edit_lands() {
    let first = accepted(
        &[
            ("cluster.yaml", CLUSTER.into()),
            ("deny.yaml", cnp("deny-a", "Drop", &from_ns("a"))),
            ("other.yaml", cnp("other", "Allow", &from_ns("a"))),
        ],
        &LastGood::default(),
    );
    assert!(first.refused.is_empty(), "{:?}", first.refused);
    let next = accepted(
        &[
            ("cluster.yaml", CLUSTER.into()),
            ("deny.yaml", cnp("deny-a", "Dorp", &from_ns("a"))),
            ("other.yaml", cnp("other", "Drop", &from_ns("a"))),
        ],
        &first.accepted,
    );
    assert_eq!(
        refused_objects(&next),
        vec![(
            "ClusterNetworkPolicy.crd.kakine.io deny-a".to_string(),
            Enforced::LastGood
        )]
    );
    let reason = &next.refused[0].reason;
    assert!(
        reason.contains("in/deny.yaml") && reason.contains("spec.ingress[0].action"),
        "{reason}"
    );
    assert_eq!(action(&next, "deny-a"), Some(RuleAction::Drop));
    assert_eq!(
        action(&next, "other"),
        Some(RuleAction::Drop),
        "the edit landed"
    );
    // The refused version is not what is remembered: the old Drop stays the last good one.
    assert_eq!(
        next.accepted
            .docs
            .values()
            .find(|d| d.file.ends_with("deny.yaml")),
        first
            .accepted
            .docs
            .values()
            .find(|d| d.file.ends_with("deny.yaml"))
    );
}

#[test]
fn a_refused_new_object_is_absent() {
    let o = accepted(
        &[
            ("cluster.yaml", CLUSTER.into()),
            ("new.yaml", cnp("new", "Allow", "{bogus: 1}")),
        ],
        &LastGood::default(),
    );
    assert_eq!(
        refused_objects(&o),
        vec![(
            "ClusterNetworkPolicy.crd.kakine.io new".to_string(),
            Enforced::Absent
        )]
    );
    assert_eq!(action(&o, "new"), None);
}

#[test]
fn a_config_map_is_skipped_with_a_warning_and_refuses_nothing() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n";
    let o = accepted(
        &[
            ("cluster.yaml", CLUSTER.into()),
            ("cm.yaml", cm.into()),
            ("p.yaml", cnp("p", "Drop", &from_ns("a"))),
        ],
        &LastGood::default(),
    );
    assert!(o.refused.is_empty(), "{:?}", o.refused);
    assert_eq!(
        o.skipped,
        vec!["in/cm.yaml: ConfigMap settings: v1 ConfigMap is not a policy kind: skipped"]
    );
    assert_eq!(action(&o, "p"), Some(RuleAction::Drop));
    // A misspelt kind in a policy group is refused, not skipped.
    let typo =
        cnp("q", "Drop", &from_ns("a")).replace("ClusterNetworkPolicy", "ClusterNetworkPolcy");
    let o = accepted(
        &[("cluster.yaml", CLUSTER.into()), ("q.yaml", typo)],
        &o.accepted,
    );
    assert!(o.skipped.is_empty());
    assert_eq!(
        refused_objects(&o),
        vec![(
            "ClusterNetworkPolcy.crd.kakine.io q".to_string(),
            Enforced::Absent
        )]
    );
    assert!(o.refused[0].reason.contains("unknown apiVersion/kind"));
}

#[test]
fn a_malformed_file_deletes_nothing_and_every_other_file_moves_on() {
    let first = accepted(
        &[
            ("cluster.yaml", CLUSTER.into()),
            ("deny.yaml", cnp("deny-a", "Drop", &from_ns("a"))),
            ("other.yaml", cnp("other", "Allow", &from_ns("a"))),
        ],
        &LastGood::default(),
    );
    let next = accepted(
        &[
            ("cluster.yaml", CLUSTER.into()),
            ("deny.yaml", "kind: [\n".into()),
            ("other.yaml", cnp("other", "Drop", &from_ns("a"))),
        ],
        &first.accepted,
    );
    assert_eq!(action(&next, "deny-a"), Some(RuleAction::Drop));
    assert_eq!(action(&next, "other"), Some(RuleAction::Drop));
    let kinds: Vec<&str> = next.refused.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["File", "ClusterNetworkPolicy"],
        "{:?}",
        next.refused
    );
    assert!(next.refused[0].reason.contains("malformed YAML"));
    assert!(next.refused[1].reason.contains("deletion waits"));
    // A file renamed away (gone, not broken) is a deletion.
    let gone = accepted(
        &[
            ("cluster.yaml", CLUSTER.into()),
            ("other.yaml", cnp("other", "Drop", &from_ns("a"))),
        ],
        &next.accepted,
    );
    assert!(gone.refused.is_empty());
    assert_eq!(action(&gone, "deny-a"), None);
}

#[test]
fn deleting_a_group_a_drop_still_uses_is_refused_and_the_group_stays() {
    let first = accepted(
        &[
            ("cluster.yaml", CLUSTER.into()),
            ("g.yaml", group("clients", "a")),
            ("deny.yaml", cnp("deny-a", "Drop", &from_group("clients"))),
        ],
        &LastGood::default(),
    );
    assert!(first.refused.is_empty(), "{:?}", first.refused);
    let next = accepted(
        &[
            ("cluster.yaml", CLUSTER.into()),
            ("deny.yaml", cnp("deny-a", "Drop", &from_group("clients"))),
        ],
        &first.accepted,
    );
    assert_eq!(
        refused_objects(&next),
        vec![(
            "ClusterGroup.crd.kakine.io clients".to_string(),
            Enforced::LastGood
        )]
    );
    let reason = &next.refused[0].reason;
    assert!(
        reason.contains("its deletion would break") && reason.contains("deny-a"),
        "{reason}"
    );
    assert_eq!(action(&next, "deny-a"), Some(RuleAction::Drop));
}

#[test]
fn a_policy_naming_a_refused_new_group_is_refused_with_the_group_named() {
    let bad_group = group("clients", "a").replace("namespaceSelector", "nameSpaceSelector");
    let o = accepted(
        &[
            ("cluster.yaml", CLUSTER.into()),
            ("g.yaml", bad_group),
            ("p.yaml", cnp("p", "Allow", &from_group("clients"))),
        ],
        &LastGood::default(),
    );
    let got = refused_objects(&o);
    assert_eq!(got.len(), 2, "{:?}", o.refused);
    assert!(got.contains(&(
        "ClusterGroup.crd.kakine.io clients".to_string(),
        Enforced::Absent
    )));
    let p = o
        .refused
        .iter()
        .find(|r| r.object.ends_with(" p"))
        .expect("the policy refused");
    assert!(
        p.reason.contains("unknown ClusterGroup \"clients\""),
        "{p:?}"
    );
    assert_eq!(p.enforced, Enforced::Absent);
}

#[test]
fn a_second_definition_of_an_accepted_name_is_refused_and_the_first_stays() {
    let first = accepted(
        &[
            ("cluster.yaml", CLUSTER.into()),
            ("b.yaml", cnp("deny-a", "Drop", &from_ns("a"))),
        ],
        &LastGood::default(),
    );
    let next = accepted(
        &[
            ("cluster.yaml", CLUSTER.into()),
            ("a.yaml", cnp("deny-a", "Allow", &from_ns("a"))),
            ("b.yaml", cnp("deny-a", "Drop", &from_ns("a"))),
        ],
        &first.accepted,
    );
    assert_eq!(next.refused.len(), 1, "{:?}", next.refused);
    assert!(next.refused[0].reason.contains("duplicate"));
    assert_eq!(action(&next, "deny-a"), Some(RuleAction::Drop));
}

#[test]
fn a_tier_taking_a_used_priority_is_refused_not_the_tier_that_had_it() {
    let tier = |name: &str, p: u32| {
        format!("apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata: {{name: {name}}}\nspec: {{priority: {p}}}\n")
    };
    let first = accepted(
        &[
            ("cluster.yaml", CLUSTER.into()),
            ("z.yaml", tier("old", 10)),
        ],
        &LastGood::default(),
    );
    let next = accepted(
        &[
            ("cluster.yaml", CLUSTER.into()),
            ("a.yaml", tier("new", 10)),
            ("z.yaml", tier("old", 10)),
        ],
        &first.accepted,
    );
    assert_eq!(
        refused_objects(&next),
        vec![("Tier.crd.kakine.io new".to_string(), Enforced::Absent)]
    );
}

#[test]
fn a_broken_cluster_document_keeps_its_last_good_model() {
    let first = accepted(&[("cluster.yaml", CLUSTER.into())], &LastGood::default());
    let broken = CLUSTER.replace("10.30.1.20", "10.30.1.10");
    let next = accepted(&[("cluster.yaml", broken)], &first.accepted);
    assert_eq!(next.refused.len(), 1, "{:?}", next.refused);
    assert_eq!(next.refused[0].kind, "Cluster");
    assert_eq!(next.cluster, first.cluster);
    // Nothing to fall back on: the input as a whole is refused.
    let none = run(&[("p.yaml", cnp("p", "Drop", "{}"))], &LastGood::default());
    assert!(none.is_err());
}

#[test]
fn last_good_files_round_trip_through_the_yaml_loader() {
    let o = accepted(
        &[
            ("cluster.yaml", CLUSTER.into()),
            ("deny.yaml", cnp("deny-a", "Drop", &from_ns("a"))),
        ],
        &LastGood::default(),
    );
    let mut saved = String::new();
    for (file, text) in o.accepted.files() {
        saved.push_str(&format!("---\n# from {}\n{text}\n", file.display()));
    }
    let back = LastGood::from_saved(&saved, Path::new("state/last-good.yaml"));
    assert_eq!(back, o.accepted);
}
