//! Loading YAML inputs: the happy path and one clear error per kind of bad input.

use std::path::Path;

use kakine::policy::model::{AntreaKind, PolicyType, PortValue};
use kakine::policy::resolved::{Protocol, RuleAction};
use kakine::policy::{load_dir, load_files, PolicyError};

const CLUSTER: &str = "\
apiVersion: kakine.io/v1alpha1
kind: Cluster
namespaces:
- {name: x, labels: {ns: x}}
- {name: y}
pods:
- namespace: x
  name: a
  labels: {pod: a}
  ip: 10.0.0.1
  mac: \"aa:bb:cc:dd:ee:01\"
  node: node-1
  ports: [{port: 80, protocol: TCP, name: http}, {port: 53, protocol: UDP}]
";

/// Writes `files` into a fresh directory and loads it.
fn load(
    files: &[(&str, &str)],
) -> (
    tempfile::TempDir,
    Result<kakine::policy::Input, PolicyError>,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let result = load_dir(dir.path());
    (dir, result)
}

/// Loads the cluster plus one policy file and returns the error message, with the temp path
/// replaced by `DIR`.
fn error_of(policy: &str) -> String {
    let (dir, result) = load(&[("cluster.yaml", CLUSTER), ("policies.yaml", policy)]);
    let err = result.expect_err("the input is invalid");
    err.to_string()
        .replace(&dir.path().display().to_string(), "DIR")
}

fn cnp(spec: &str) -> String {
    format!(
        "apiVersion: crd.kakine.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {{name: deny-x}}\nspec:\n{spec}"
    )
}

#[test]
fn a_directory_with_a_cluster_and_every_kind_loads() {
    let policies = "\
apiVersion: crd.antrea.io/v1beta1
kind: Tier
metadata: {name: mytier}
spec: {priority: 120, description: custom}
---
apiVersion: crd.kakine.io/v1beta1
kind: ClusterGroup
metadata: {name: web}
spec:
  podSelector: {matchLabels: {pod: a}}
---
apiVersion: crd.kakine.io/v1beta1
kind: ClusterGroup
metadata: {name: nets}
spec:
  ipBlocks: [{cidr: 10.1.0.0/16}]
---
apiVersion: crd.kakine.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: deny-x}
spec:
  tier: mytier
  priority: 5
  appliedTo: [{group: web}]
  ingress:
  - action: Drop
    name: no-dns
    from: [{namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: [x]}]}}]
    ports: [{protocol: UDP, port: 53}, {port: http}, {port: 8080, endPort: 8090}]
---
apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: annp, namespace: x}
spec:
  priority: 1.5
  appliedTo: [{podSelector: {}}]
  egress:
  - action: Pass
    to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.9.0.0/16]}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: k8s, namespace: x}
spec:
  podSelector: {}
  egress: [{to: [{podSelector: {matchLabels: {pod: a}}}], ports: [{port: 80}]}]
";
    let (_dir, result) = load(&[("cluster.yaml", CLUSTER), ("policies.yml", policies)]);
    let input = result.expect("valid input");
    assert_eq!(input.cluster.namespaces.len(), 2);
    let pod = &input.cluster.pods[0];
    assert_eq!(pod.mac, Some([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01]));
    assert_eq!(pod.ports[1].protocol, Protocol::Udp);
    let o = &input.objects;
    assert_eq!(o.tiers[0].spec.priority, 120);
    assert_eq!(
        o.cluster_groups[1].spec.ip_blocks[0].cidr.to_string(),
        "10.1.0.0/16"
    );
    assert_eq!(o.antrea_policies[0].kind, AntreaKind::Cluster);
    assert_eq!(o.antrea_policies[1].kind, AntreaKind::Namespaced);
    let rule = &o.antrea_policies[0].spec.ingress[0];
    assert_eq!(rule.action, RuleAction::Drop);
    assert_eq!(rule.ports[1].protocol, Protocol::Tcp);
    assert_eq!(rule.ports[1].port, Some(PortValue::Name("http".into())));
    assert_eq!(rule.ports[2].end_port, Some(8090));
    let k8s = &o.k8s_policies[0];
    assert_eq!(k8s.spec.policy_types, None);
    assert_eq!(k8s.spec.effective_policy_types(), (true, true));
    let _ = PolicyType::Ingress;
}

#[test]
fn load_files_accepts_inputs_without_a_cluster() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("p.yaml");
    std::fs::write(
        &path,
        cnp("  priority: 1\n  appliedTo: [{podSelector: {}}]\n"),
    )
    .unwrap();
    let input = load_files(&[path]).expect("valid");
    assert!(input.cluster.pods.is_empty());
    assert_eq!(input.objects.antrea_policies.len(), 1);
}

#[test]
fn a_directory_without_a_cluster_document_is_an_error() {
    let (_dir, result) = load(&[(
        "p.yaml",
        &cnp("  priority: 1\n  appliedTo: [{podSelector: {}}]\n"),
    )]);
    assert!(matches!(result, Err(PolicyError::ClusterCount { .. })));
}

#[test]
fn cluster_documents_in_several_files_merge_and_are_checked_as_one_model() {
    // b.yaml's pod lives in a namespace that a.yaml declares.
    let more = "apiVersion: kakine.io/v1alpha1\nkind: Cluster\npods:\n- {namespace: y, name: c, ip: 10.0.0.3}\n";
    let (_dir, result) = load(&[("a.yaml", CLUSTER), ("b.yaml", more)]);
    let input = result.expect("merged");
    assert_eq!(input.cluster.namespaces.len(), 2);
    let pods: Vec<_> = input.cluster.pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(pods, ["a", "c"]);

    // The same pod declared again in b.yaml: the error names b.yaml and its own index.
    let twice = "apiVersion: kakine.io/v1alpha1\nkind: Cluster\npods:\n- {namespace: y, name: c, ip: 10.0.0.3}\n- {namespace: x, name: a, ip: 10.0.0.9}\n";
    let (_dir, result) = load(&[("a.yaml", CLUSTER), ("b.yaml", twice)]);
    let err = result.expect_err("a pod twice").to_string();
    assert!(err.contains("b.yaml"), "{err}");
    assert!(err.contains("pods[1].name"), "{err}");
    assert!(err.contains("pod x/a is declared twice"), "{err}");
}

#[test]
fn malformed_yaml_names_the_file_and_line() {
    let msg = error_of("apiVersion: v1\nkind: [unclosed\nmetadata: {name: a}\n");
    assert!(
        msg.starts_with("DIR/policies.yaml: malformed YAML"),
        "{msg}"
    );
    assert!(msg.contains("line"), "{msg}");
}

#[test]
fn an_unknown_kind_names_api_version_and_kind() {
    let msg = error_of(
        "apiVersion: crd.kakine.io/v1beta1\nkind: Frobnicator\nmetadata: {name: f}\nspec: {}\n",
    );
    assert_eq!(
        msg,
        "DIR/policies.yaml: Frobnicator \"f\": unknown apiVersion/kind \"crd.kakine.io/v1beta1 Frobnicator\""
    );
}

#[test]
fn a_field_of_the_wrong_type_names_its_path() {
    let msg = error_of(&cnp(
        "  priority: \"high\"\n  appliedTo: [{podSelector: {}}]\n",
    ));
    assert!(
        msg.starts_with(
            "DIR/policies.yaml: ClusterNetworkPolicy \"deny-x\": spec.priority: invalid type"
        ),
        "{msg}"
    );
}

#[test]
fn an_unknown_action_reads_like_the_documented_example() {
    let msg = error_of(&cnp(
        "  priority: 1\n  appliedTo: [{podSelector: {}}]\n  ingress:\n  - action: Dorp\n",
    ));
    assert_eq!(
        msg,
        "DIR/policies.yaml: ClusterNetworkPolicy \"deny-x\": spec.ingress[0].action: unknown action \"Dorp\" (expected Allow, Drop, Reject or Pass)"
    );
}

#[test]
fn an_unknown_selector_operator_names_the_full_field_path() {
    let msg = error_of(&cnp(
        "  priority: 1\n  appliedTo: [{podSelector: {}}]\n  ingress:\n  - action: Drop\n    from:\n    - podSelector:\n        matchExpressions: [{key: a, operator: Equals, values: [b]}]\n",
    ));
    assert_eq!(
        msg,
        "DIR/policies.yaml: ClusterNetworkPolicy \"deny-x\": spec.ingress[0].from[0].podSelector.matchExpressions[0].operator: unknown operator \"Equals\" (expected In, NotIn, Exists or DoesNotExist)"
    );
}

#[test]
fn an_unknown_tier_is_an_error_on_spec_tier() {
    let msg = error_of(&cnp(
        "  tier: nosuch\n  priority: 1\n  appliedTo: [{podSelector: {}}]\n",
    ));
    assert_eq!(
        msg,
        "DIR/policies.yaml: ClusterNetworkPolicy \"deny-x\": spec.tier: unknown tier \"nosuch\""
    );
}

#[test]
fn tier_names_are_case_sensitive() {
    let msg = error_of(&cnp(
        "  tier: SecurityOps\n  priority: 1\n  appliedTo: [{podSelector: {}}]\n",
    ));
    assert_eq!(
        msg,
        "DIR/policies.yaml: ClusterNetworkPolicy \"deny-x\": spec.tier: unknown tier \"SecurityOps\" (tier names are case-sensitive; did you mean \"securityops\"?)"
    );
}

#[test]
fn an_invalid_cidr_names_the_value_and_field() {
    let msg = error_of(&cnp(
        "  priority: 1\n  appliedTo: [{podSelector: {}}]\n  egress:\n  - action: Drop\n    to: [{ipBlock: {cidr: 10.0.0.300/8}}]\n",
    ));
    assert_eq!(
        msg,
        "DIR/policies.yaml: ClusterNetworkPolicy \"deny-x\": spec.egress[0].to[0].ipBlock.cidr: invalid CIDR \"10.0.0.300/8\" (expected a CIDR such as 10.0.0.0/16 or fd00::/64)"
    );
}

#[test]
fn the_same_object_twice_is_accepted_and_the_later_wins() {
    let first = cnp("  priority: 1\n  appliedTo: [{podSelector: {}}]\n");
    let later = cnp("  priority: 7\n  appliedTo: [{podSelector: {}}]\n");
    let (_dir, result) = load(&[
        ("cluster.yaml", CLUSTER),
        ("policies.yaml", &format!("{first}---\n{later}")),
    ]);
    let input = result.expect("a repeated object is not an error");
    assert_eq!(input.objects.antrea_policies.len(), 1);
    assert_eq!(input.objects.antrea_policies[0].spec.priority, 7.0);
}

#[test]
fn pass_in_the_baseline_tier_is_an_error() {
    let msg = error_of(&cnp(
        "  tier: baseline\n  priority: 1\n  appliedTo: [{podSelector: {}}]\n  ingress:\n  - action: Pass\n",
    ));
    assert_eq!(
        msg,
        "DIR/policies.yaml: ClusterNetworkPolicy \"deny-x\": spec.ingress[0].action: action Pass is not allowed in the baseline tier"
    );
}

#[test]
fn a_policy_priority_out_of_range_is_an_error() {
    let msg = error_of(&cnp("  priority: 0.5\n  appliedTo: [{podSelector: {}}]\n"));
    assert_eq!(
        msg,
        "DIR/policies.yaml: ClusterNetworkPolicy \"deny-x\": spec.priority: priority 0.5 out of range (expected 1 to 10000)"
    );
}

#[test]
fn a_tier_priority_out_of_range_is_an_error() {
    let msg = error_of("apiVersion: crd.kakine.io/v1beta1\nkind: Tier\nmetadata: {name: t}\nspec: {priority: 300}\n");
    assert_eq!(
        msg,
        "DIR/policies.yaml: Tier \"t\": spec.priority: priority 300 out of range (expected 0 to 255)"
    );
}

#[test]
fn an_unknown_cluster_group_is_an_error() {
    let msg = error_of(&cnp("  priority: 1\n  appliedTo: [{group: nosuch}]\n"));
    assert_eq!(
        msg,
        "DIR/policies.yaml: ClusterNetworkPolicy \"deny-x\": spec.appliedTo[0].group: unknown ClusterGroup \"nosuch\""
    );
}

#[test]
fn an_unknown_field_is_named() {
    let msg = error_of(&cnp(
        "  priority: 1\n  appliedTo: [{podSelector: {}}]\n  ingres: []\n",
    ));
    assert!(msg.contains("unknown field `ingres`"), "{msg}");
    assert!(msg.contains("ClusterNetworkPolicy \"deny-x\""), "{msg}");
}

#[test]
fn an_out_of_scope_feature_is_reported_as_unsupported() {
    let msg = error_of(&cnp(
        "  priority: 1\n  appliedTo: [{podSelector: {}}]\n  egress:\n  - action: Allow\n    to: [{fqdn: example.com}]\n",
    ));
    assert_eq!(
        msg,
        "DIR/policies.yaml: ClusterNetworkPolicy \"deny-x\": spec.egress[0].to[0].fqdn: unsupported feature: FQDN peers"
    );
}

#[test]
fn a_bad_mac_address_is_an_error_in_the_cluster_document() {
    let (dir, result) = load(&[(
        "cluster.yaml",
        "apiVersion: kakine.io/v1alpha1\nkind: Cluster\npods:\n- {namespace: x, name: a, ip: 10.0.0.1, mac: zz}\n",
    )]);
    let msg = result.expect_err("bad MAC").to_string();
    let msg = msg.replace(&dir.path().display().to_string(), "DIR");
    assert!(
        msg.contains("pods[0].mac: invalid MAC address \"zz\""),
        "{msg}"
    );
}

#[test]
fn namespace_names_like_y_and_n_stay_strings() {
    let (_dir, result) = load(&[(
        "cluster.yaml",
        "apiVersion: kakine.io/v1alpha1\nkind: Cluster\nnamespaces:\n- {name: y, labels: {ns: n}}\n",
    )]);
    let input = result.expect("YAML 1.2 booleans only");
    assert_eq!(input.cluster.namespaces[0].name, "y");
    assert_eq!(input.cluster.namespaces[0].labels["ns"], "n");
}

#[test]
fn missing_files_give_an_io_error_naming_the_path() {
    let err = load_dir(Path::new("/nonexistent/kakine")).expect_err("missing");
    assert!(err.to_string().starts_with("/nonexistent/kakine:"), "{err}");
}

/// Loads a cluster model alone and returns the error message, with the temp path as `DIR`.
fn cluster_error_of(cluster: &str) -> String {
    let (dir, result) = load(&[("cluster.yaml", cluster)]);
    let err = result.expect_err("the cluster model is invalid");
    err.to_string()
        .replace(&dir.path().display().to_string(), "DIR")
}

#[test]
fn two_pods_with_one_ip_are_refused() {
    let cluster = format!("{CLUSTER}- {{namespace: y, name: b, ip: 10.0.0.1}}\n");
    assert_eq!(
        cluster_error_of(&cluster),
        "DIR/cluster.yaml: Cluster: pods[1].ip: pod y/b: IP 10.0.0.1 is already pod x/a's"
    );
}

#[test]
fn a_pod_in_an_undeclared_namespace_is_refused() {
    let cluster = format!("{CLUSTER}- {{namespace: z, name: b, ip: 10.0.0.2}}\n");
    assert_eq!(
        cluster_error_of(&cluster),
        "DIR/cluster.yaml: Cluster: pods[1].namespace: pod z/b: namespace \"z\" is not declared"
    );
}

#[test]
fn an_end_port_below_its_port_is_refused() {
    let policy = cnp("  priority: 1\n  appliedTo: [{podSelector: {}}]\n  ingress:\n  - action: Allow\n    ports: [{protocol: TCP, port: 9000, endPort: 8000}]\n");
    assert_eq!(
        error_of(&policy),
        "DIR/policies.yaml: ClusterNetworkPolicy \"deny-x\": spec.ingress[0].ports[0].endPort: endPort 8000 is below port 9000"
    );
}

#[test]
fn the_loader_reports_every_error_of_an_input_at_once() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad/several-mistakes.yaml");
    let e = load_files(std::slice::from_ref(&path)).expect_err("ten mistakes");
    let PolicyError::Several { errors } = &e else {
        panic!("expected every error, got one: {e}");
    };
    let found: Vec<String> = errors.iter().map(ToString::to_string).collect();
    // The same list, in the same order, as `kakinectl validate` gives
    // (tests/policy_validate.rs, `SEVERAL_MISTAKES`).
    let file = path.display();
    assert_eq!(
        found,
        vec![
            format!("{file}: ClusterNetworkPolicy \"c\": spec.ingress[0].ports[0].endPort: endPort 80 is below port 90"),
            format!("{file}: NetworkPolicy \"x/np\": spec.ingress[0].ports[0].port: port 0 is out of range 1-65535"),
            format!("{file}: NetworkPolicy \"x/np\": spec.ingress[0].ports[1].endPort: endPort 80 is below port 90"),
            format!("{file}: Cluster: pods[1].ip: pod x/b: IP 10.0.0.1 is already pod x/a's"),
            format!("{file}: Cluster: pods[2].namespace: pod y/c: namespace \"y\" is not declared"),
            format!("{file}: AdminNetworkPolicy \"anp\": spec.priority: priority 2000 out of range (expected 0 to 1000)"),
            format!("{file}: AdminNetworkPolicy \"anp\": spec.ingress[0].from[0]: nodes and networks peers are for egress rules only"),
            format!("{file}: ClusterNetworkPolicy \"c\": spec.priority: priority 0 out of range (expected 1 to 10000)"),
            format!("{file}: ClusterNetworkPolicy \"c\": spec.tier: unknown tier \"nosuch\""),
            format!("{file}: ClusterNetworkPolicy \"c\": spec.appliedTo[0].group: unknown ClusterGroup \"missing\""),
        ]
    );
    assert!(e.to_string().starts_with("10 errors:\n  "), "{e}");
}
