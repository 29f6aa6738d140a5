//! `kakinectl validate`'s checks, one case per rule: the exact object and field the error names
//! (the upstream validator each follows is named in `src/policy/validate_raw.rs`).

use kakine::policy::validate_input::{validate_paths, Report};

fn report(text: &[u8]) -> Report {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("in.yaml");
    std::fs::write(&path, text).expect("write");
    validate_paths(&[path])
}

/// (object, field, message) of every error.
fn errors(text: &str) -> Vec<(String, String, String)> {
    let json = report(text.as_bytes()).to_json();
    json["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["object"].as_str().unwrap_or_default().to_string(),
                e["field"].as_str().unwrap_or_default().to_string(),
                e["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn k8s(meta: &str, spec: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {meta}\nspec: {spec}\n"
    )
}
fn anp(spec: &str) -> String {
    format!("apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata: {{name: anp}}\nspec: {spec}\n")
}
fn acnp(kind: &str, meta: &str, spec: &str) -> String {
    format!("apiVersion: crd.antrea.io/v1beta1\nkind: {kind}\nmetadata: {meta}\nspec: {spec}\n")
}

const NP: &str = "NetworkPolicy \"x/np\"";
const ANP: &str = "AdminNetworkPolicy \"anp\"";

#[test]
fn every_rule_names_its_object_and_field() {
    let long_rule = "r".repeat(101);
    let many_nets: Vec<String> = (0..26).map(|i| format!("10.0.{i}.0/24")).collect();
    let cases: Vec<(String, &str, String, &str)> = vec![
        // object names: DNS-1123 subdomain; namespaces: DNS-1123 label
        (k8s("{name: Np, namespace: x}", "{}"), "NetworkPolicy \"x/Np\"", "metadata.name".into(), "RFC 1123 subdomain"),
        (k8s(&format!("{{name: {}, namespace: x}}", "a".repeat(254)), "{}"), "", "metadata.name".into(), "no more than 253"),
        (k8s("{name: np, namespace: a.b}", "{}"), "NetworkPolicy \"a.b/np\"", "metadata.namespace".into(), "RFC 1123 label"),
        // labels: keys, values, expressions
        (k8s("{name: np, namespace: x}", "{podSelector: {matchLabels: {-a: b}}}"), NP, "spec.podSelector.matchLabels".into(), "name part must consist"),
        (k8s("{name: np, namespace: x}", &format!("{{podSelector: {{matchLabels: {{a: {}}}}}}}", "v".repeat(64))), NP, "spec.podSelector.matchLabels.a".into(), "no more than 63"),
        (k8s("{name: np, namespace: x}", "{podSelector: {matchExpressions: [{key: a/b/c, operator: Exists}]}}"), NP, "spec.podSelector.matchExpressions[0].key".into(), "qualified name"),
        (k8s("{name: np, namespace: x}", "{podSelector: {matchExpressions: [{key: a, operator: In, values: [\"-x\"]}]}}"), NP, "spec.podSelector.matchExpressions[0].values[0]".into(), "valid label"),
        (acnp("ClusterNetworkPolicy", "{name: c}", "{priority: 1, appliedTo: [{podSelector: {}}], ingress: [{action: Allow, from: [{namespaces: {sameLabels: [\"/x\"]}}]}]}"), "ClusterNetworkPolicy \"c\"", "spec.ingress[0].from[0].namespaces.sameLabels[0]".into(), "prefix part must be non-empty"),
        // named ports
        (k8s("{name: np, namespace: x}", "{ingress: [{ports: [{port: \"8080\"}]}]}"), NP, "spec.ingress[0].ports[0].port".into(), "quoted number"),
        (k8s("{name: np, namespace: x}", "{ingress: [{ports: [{port: abcdefghijklmnop}]}]}"), NP, "spec.ingress[0].ports[0].port".into(), "no more than 15"),
        (anp("{priority: 1, subject: {namespaces: {}}, ingress: [{action: Allow, from: [{namespaces: {}}], ports: [{namedPort: Web}]}]}"), ANP, "spec.ingress[0].ports[0].namedPort".into(), "alpha-numeric"),
        // list limits
        (anp(&format!("{{priority: 1, subject: {{namespaces: {{}}}}, egress: [{{action: Deny, to: [{{networks: [{}]}}]}}]}}", many_nets.join(", "))), ANP, "spec.egress[0].to[0].networks".into(), "at most 25"),
        (anp(&format!("{{priority: 1, subject: {{namespaces: {{}}}}, egress: [{{name: {long_rule}, action: Deny, to: [{{namespaces: {{}}}}]}}]}}")), ANP, "spec.egress[0].name".into(), "100 characters"),
        (k8s("{name: np, namespace: x}", "{policyTypes: [Ingress, Egress, Ingress]}"), NP, "spec.policyTypes".into(), "at most 2"),
        (acnp("ClusterNetworkPolicy", "{name: c}", &format!("{{priority: 1, appliedTo: [{{podSelector: {{}}}}], ingress: [{{action: Drop, logLabel: {}}}]}}", "l".repeat(64))), "ClusterNetworkPolicy \"c\"", "spec.ingress[0].logLabel".into(), "no more than 63"),
        // CIDR strictness
        (acnp("ClusterNetworkPolicy", "{name: c}", "{priority: 1, appliedTo: [{podSelector: {}}], ingress: [{action: Drop, from: [{ipBlock: {cidr: 10.0.0.1}}]}]}"), "ClusterNetworkPolicy \"c\"", "spec.ingress[0].from[0].ipBlock.cidr".into(), "needs a prefix length"),
        (acnp("ClusterNetworkPolicy", "{name: c}", "{priority: 1, appliedTo: [{podSelector: {}}], ingress: [{action: Drop, from: [{ipBlock: {cidr: 10.01.0.0/16}}]}]}"), "ClusterNetworkPolicy \"c\"", "spec.ingress[0].from[0].ipBlock.cidr".into(), "leading zero"),
        (anp("{priority: 1, subject: {namespaces: {}}, egress: [{action: Deny, to: [{networks: [10.0.0.1]}]}]}"), ANP, "spec.egress[0].to[0].networks[0]".into(), "needs a prefix length"),
        (anp("{priority: 1, subject: {namespaces: {}}, egress: [{action: Deny, to: [{networks: [\"::ffff:10.0.0.0/104\"]}]}]}"), ANP, "spec.egress[0].to[0].networks[0]".into(), "IPv4-mapped"),
        (k8s("{name: np, namespace: x}", "{ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/8]}}]}]}"), NP, "spec.ingress[0].from[0].ipBlock.except[0]".into(), "strict subset"),
        // empty things
        (k8s("{name: np, namespace: x}", "{ingress: [{from: [{}]}]}"), NP, "spec.ingress[0].from[0]".into(), "must specify a peer"),
        (anp("{priority: 1, subject: {namespaces: {}}, ingress: [{action: Allow, from: [{namespaces: {}}], ports: []}]}"), ANP, "spec.ingress[0].ports".into(), "at least 1 item"),
        (acnp("NetworkPolicy", "{name: annp, namespace: x}", "{priority: 1, appliedTo: [{namespaceSelector: {}}]}"), "NetworkPolicy \"x/annp\"", "spec.appliedTo[0].namespaceSelector".into(), "namespaceSelector cannot be set"),
        (acnp("ClusterGroup", "{name: g}", "{podSelector: {}, ipBlocks: [{cidr: 10.0.0.0/8}]}"), "ClusterGroup \"g\"", "spec.ipBlocks".into(), "cannot be combined"),
        // tier names are case-sensitive
        (acnp("ClusterNetworkPolicy", "{name: c}", "{tier: APPLICATION, priority: 1, appliedTo: [{podSelector: {}}]}"), "ClusterNetworkPolicy \"c\"", "spec.tier".into(), "case-sensitive"),
        // YAML errors name the object and the field path
        ("apiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata:\n  name: c\nspec:\n  priority: 1\n  priority: 2\n".into(), "ClusterNetworkPolicy c", "spec.priority".into(), "duplicate"),
    ];
    for (text, object, field, message) in &cases {
        let found = errors(text);
        assert!(
            found
                .iter()
                .any(|(o, f, m)| (object.is_empty() || o == object)
                    && f == field
                    && m.contains(message)),
            "expected {object} {field}: ...{message}... in {found:#?}\nfor\n{text}"
        );
    }
}

/// A port number out of range is one error naming its field, in every API and for every
/// numeric port field: the range check, never also the typed parse's complaint about the
/// same field (`port: 70000` once gave "a port number or a container port name" beside it).
#[test]
fn a_port_out_of_range_is_one_error_naming_its_field() {
    let c = "ClusterNetworkPolicy \"c\"";
    let acnp_ports = |ports: &str| {
        acnp(
            "ClusterNetworkPolicy",
            "{name: c}",
            &format!("{{priority: 1, appliedTo: [{{podSelector: {{}}}}], ingress: [{{action: Allow, from: [{{podSelector: {{}}}}], ports: [{ports}]}}]}}"),
        )
    };
    let anp_ports = |ports: &str| {
        anp(&format!(
            "{{priority: 1, subject: {{namespaces: {{}}}}, ingress: [{{action: Allow, from: [{{namespaces: {{}}}}], ports: [{ports}]}}]}}"
        ))
    };
    let at = "spec.ingress[0].ports[0]";
    let cases: Vec<(String, &str, &str, &str)> = vec![
        (
            k8s(
                "{name: np, namespace: x}",
                "{ingress: [{ports: [{port: 70000}]}]}",
            ),
            NP,
            "port",
            "port 70000 is out of range 1-65535",
        ),
        (
            k8s(
                "{name: np, namespace: x}",
                "{ingress: [{ports: [{port: -1}]}]}",
            ),
            NP,
            "port",
            "port -1 is out of range 1-65535",
        ),
        (
            k8s(
                "{name: np, namespace: x}",
                "{ingress: [{ports: [{port: 80, endPort: 70000}]}]}",
            ),
            NP,
            "endPort",
            "endPort 70000 is out of range 1-65535",
        ),
        (
            k8s(
                "{name: np, namespace: x}",
                "{ingress: [{ports: [{port: 70000, endPort: 80}]}]}",
            ),
            NP,
            "port",
            "port 70000 is out of range 1-65535",
        ),
        (
            acnp_ports("{protocol: TCP, port: 70000}"),
            c,
            "port",
            "port 70000 is out of range 1-65535",
        ),
        (
            acnp_ports("{protocol: TCP, port: 80, endPort: 70000}"),
            c,
            "endPort",
            "endPort 70000 is out of range 1-65535",
        ),
        (
            acnp_ports("{protocol: TCP, sourcePort: 70000}"),
            c,
            "sourcePort",
            "sourcePort 70000 is out of range 1-65535",
        ),
        (
            acnp_ports("{protocol: TCP, sourcePort: 80, sourceEndPort: 70000}"),
            c,
            "sourceEndPort",
            "sourceEndPort 70000 is out of range 1-65535",
        ),
        (
            anp_ports("{portNumber: {protocol: TCP, port: 70000}}"),
            ANP,
            "portNumber.port",
            "port 70000 is out of range 1-65535",
        ),
        (
            anp_ports("{portRange: {protocol: TCP, start: 80, end: 70000}}"),
            ANP,
            "portRange.end",
            "end 70000 is out of range 1-65535",
        ),
    ];
    for (text, object, field, message) in cases {
        assert_eq!(
            errors(&text),
            [(
                object.to_string(),
                format!("{at}.{field}"),
                message.to_string()
            )],
            "{text}"
        );
    }
    // Integers that are not ports: the typed parse's error, with the range it expected.
    assert_eq!(
        errors(&acnp(
            "ClusterNetworkPolicy",
            "{name: c}",
            "{priority: 1, appliedTo: [{podSelector: {}}], ingress: [{action: Allow, from: [{podSelector: {}}], protocols: [{icmp: {icmpType: 300}}]}]}"
        )),
        [(
            c.to_string(),
            "spec.ingress[0].protocols[0].icmp.icmpType".to_string(),
            "invalid value: integer `300`, expected an integer 0-255".to_string()
        )]
    );
    assert_eq!(
        errors("apiVersion: kakine.io/v1alpha1\nkind: Cluster\nnamespaces: [{name: x}]\npods:\n- {namespace: x, name: a, ip: 10.0.0.1, ports: [{port: 70000, protocol: TCP}]}\n"),
        [(
            "Cluster".to_string(),
            "pods[0].ports[0].port".to_string(),
            "invalid value: integer `70000`, expected an integer 0-65535".to_string()
        )]
    );
    // Not a number at all: the typed parse's error, which says what it expected.
    assert_eq!(
        errors(&k8s(
            "{name: np, namespace: x}",
            "{ingress: [{ports: [{port: 1.5}]}]}"
        )),
        [(
            NP.to_string(),
            format!("{at}.port"),
            "expected a port number 1-65535 or a container port name".to_string()
        )]
    );
}

#[test]
fn every_error_of_the_input_is_reported_at_once() {
    let text = format!(
        "{}---\n{}",
        k8s("{name: Np, namespace: x}", "{ingress: [{from: [{}]}]}"),
        anp("{priority: 1, subject: {namespaces: {}}, egress: [{action: Deny, to: [{networks: [10.0.0.1]}]}]}")
    );
    let found = errors(&text);
    assert_eq!(found.len(), 3, "{found:#?}");
}

#[test]
fn a_bad_document_does_not_hide_the_errors_of_the_others() {
    let text = format!(
        "apiVersion: v1\nkind: X\nmetadata: {{name: a}}\nspec: {{a: 1, a: 2}}\n---\n{}",
        k8s("{name: Np, namespace: x}", "{}")
    );
    let found = errors(&text);
    assert!(
        found
            .iter()
            .any(|(o, f, m)| o == "X a" && f == "spec" && m.contains("line 4")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|(_, f, _)| f == "metadata.name"),
        "{found:#?}"
    );
}

#[test]
fn invalid_utf8_names_its_line() {
    let r = report(b"apiVersion: v1\nkind: X\nmetadata: {name: \"\xff\"}\n");
    assert_eq!(r.errors.len(), 1);
    assert!(
        r.errors[0].to_string().contains("invalid UTF-8 at line 3"),
        "{}",
        r.errors[0]
    );
}

#[test]
fn an_input_without_objects_is_an_error() {
    let r = report(b"# nothing\n");
    assert_eq!(r.errors.len(), 1);
    assert!(
        r.errors[0].to_string().contains("no objects"),
        "{}",
        r.errors[0]
    );
}

#[test]
fn valid_inputs_are_accepted_a_missing_pod_selector_and_a_repeated_object() {
    let np = k8s("{name: np, namespace: x}", "{policyTypes: [Ingress]}");
    let r = report(format!("{np}---\n{np}").as_bytes());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(
        r.warnings[0].to_string().contains("defined twice"),
        "{}",
        r.warnings[0]
    );
}

#[test]
fn the_command_exits_1_on_errors_and_0_on_warnings_unless_strict() {
    let bin = env!("CARGO_BIN_EXE_kakinectl");
    let dir = tempfile::tempdir().expect("temp dir");
    let np = k8s("{name: np, namespace: x}", "{}");
    let warn = dir.path().join("warn.yaml");
    std::fs::write(&warn, format!("{np}---\n{np}")).expect("write");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, k8s("{name: Np, namespace: x}", "{}")).expect("write");
    let run = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(bin)
            .arg("validate")
            .args(args)
            .output()
            .expect("run kakinectl")
    };
    assert_eq!(run(&[warn.as_os_str()]).status.code(), Some(0));
    assert_eq!(
        run(&["--strict".as_ref(), warn.as_os_str()]).status.code(),
        Some(1)
    );
    let out = run(&["-o".as_ref(), "json".as_ref(), bad.as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["errors"][0]["object"], "NetworkPolicy \"x/Np\"");
    assert_eq!(json["errors"][0]["field"], "metadata.name");
}

#[test]
fn a_configmap_beside_the_policies_is_skipped_by_the_loader_and_the_validator_as_by_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["cluster.yaml", "policies.yaml"] {
        std::fs::copy(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples")
                .join(f),
            dir.path().join(f),
        )
        .unwrap();
    }
    std::fs::write(
        dir.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: db}\ndata: {a: b}\n",
    )
    .unwrap();
    let report = validate_paths(&[dir.path().to_path_buf()]);
    assert!(report.errors.is_empty(), "{}", report.to_text());
    let with = kakine::policy::load_dir(dir.path()).expect("the ConfigMap is skipped");
    std::fs::remove_file(dir.path().join("cm.yaml")).unwrap();
    let without = kakine::policy::load_dir(dir.path()).unwrap();
    assert_eq!(with.objects, without.objects);
    // A misspelt kind in a policy group is still an error.
    std::fs::write(
        dir.path().join("typo.yaml"),
        "apiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolcy\nmetadata: {name: x}\nspec: {}\n",
    )
    .unwrap();
    assert!(kakine::policy::load_dir(dir.path()).is_err());
    assert!(!validate_paths(&[dir.path().to_path_buf()])
        .errors
        .is_empty());
}

/// The ten mistakes of `tests/bad/several-mistakes.yaml`, in the order they are reported: the
/// documents as written, the merged cluster model, then the checks across objects.
pub const SEVERAL_MISTAKES: [(&str, &str, &str); 10] = [
    (
        "ClusterNetworkPolicy \"c\"",
        "spec.ingress[0].ports[0].endPort",
        "endPort 80 is below port 90",
    ),
    (
        "NetworkPolicy \"x/np\"",
        "spec.ingress[0].ports[0].port",
        "port 0 is out of range 1-65535",
    ),
    (
        "NetworkPolicy \"x/np\"",
        "spec.ingress[0].ports[1].endPort",
        "endPort 80 is below port 90",
    ),
    (
        "Cluster",
        "pods[1].ip",
        "pod x/b: IP 10.0.0.1 is already pod x/a's",
    ),
    (
        "Cluster",
        "pods[2].namespace",
        "pod y/c: namespace \"y\" is not declared",
    ),
    (
        "AdminNetworkPolicy \"anp\"",
        "spec.priority",
        "priority 2000 out of range (expected 0 to 1000)",
    ),
    (
        "AdminNetworkPolicy \"anp\"",
        "spec.ingress[0].from[0]",
        "nodes and networks peers are for egress rules only",
    ),
    (
        "ClusterNetworkPolicy \"c\"",
        "spec.priority",
        "priority 0 out of range (expected 1 to 10000)",
    ),
    (
        "ClusterNetworkPolicy \"c\"",
        "spec.tier",
        "unknown tier \"nosuch\"",
    ),
    (
        "ClusterNetworkPolicy \"c\"",
        "spec.appliedTo[0].group",
        "unknown ClusterGroup \"missing\"",
    ),
];

#[test]
fn an_input_with_ten_mistakes_of_the_older_checks_reports_all_ten_in_order() {
    let text = include_str!("bad/several-mistakes.yaml");
    let found = errors(text);
    let expected: Vec<(String, String, String)> = SEVERAL_MISTAKES
        .iter()
        .map(|(o, f, m)| (o.to_string(), f.to_string(), m.to_string()))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn ipv6_cidrs_are_accepted_in_every_api_and_a_pods_ipv6_address_is_unique() {
    let text = format!(
        "{}---\n{}---\n{}---\n{}",
        k8s(
            "{name: np, namespace: x}",
            "{ingress: [{from: [{ipBlock: {cidr: \"fd00:11::/64\", except: [\"fd00:11::2/128\"]}}]}]}"
        ),
        acnp(
            "ClusterNetworkPolicy",
            "{name: c}",
            "{priority: 1, appliedTo: [{podSelector: {}}], egress: [{action: Drop, to: [{ipBlock: {cidr: \"fd00::/8\"}}]}]}"
        ),
        anp("{priority: 1, subject: {namespaces: {}}, egress: [{action: Deny, to: [{networks: [\"fd00:10::1/128\"]}]}]}"),
        "apiVersion: kakine.io/v1alpha1\nkind: Cluster\nnamespaces: [{name: x}]\npods:\n\
         - {namespace: x, name: a, ip: 10.0.0.1, ipv6: \"fd00::1\"}\n\
         - {namespace: x, name: b, ip: 10.0.0.2, ipv6: \"fd00::1\"}\n"
    );
    assert_eq!(
        errors(&text),
        vec![(
            "Cluster".to_string(),
            "pods[1].ipv6".to_string(),
            "pod x/b: IP fd00::1 is already pod x/a's".to_string()
        )]
    );
}
