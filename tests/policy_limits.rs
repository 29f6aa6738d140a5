//! The YAML reader's limits: hostile files are refused quickly, naming the limit they hit and
//! how to raise it; legitimate large files load.

use std::path::Path;

use kakine::policy::limits::YamlLimits;
use kakine::policy::load::parse_documents_with;
use kakine::policy::{load_dir, PolicyError};

/// The classic "billion laughs": ten levels of ten aliases, 10^9 scalars once expanded.
fn billion_laughs() -> String {
    let mut yaml = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..10 {
        let prev = format!("*a{}", level - 1);
        let items = [prev.as_str(); 10].join(", ");
        yaml.push_str(&format!("a{level}: &a{level} [{items}]\n"));
    }
    yaml
}

fn message(result: Result<Vec<serde_json::Value>, PolicyError>) -> String {
    match result {
        Ok(docs) => panic!("expected a limit error, got {} documents", docs.len()),
        Err(e @ PolicyError::Limit { .. }) => e.to_string(),
        Err(e) => panic!("expected a limit error, got {e}"),
    }
}

#[test]
fn a_billion_laughs_alias_bomb_is_refused_naming_the_alias_limit() {
    let err = message(parse_documents_with(
        Path::new("bomb.yaml"),
        &billion_laughs(),
        &YamlLimits::default(),
    ));
    assert!(err.starts_with("bomb.yaml: "), "{err}");
    assert!(
        err.contains("over the limit max-alias-expansion = 1000000"),
        "{err}"
    );
    // Expanding it would take minutes and gigabytes: the limit fired, so the work stopped at a
    // million expanded nodes (how long that takes is a benchmark's question, not a test's).
    assert!(err.contains("KAKINE_MAX_ALIAS_EXPANSION=N"), "{err}");
}

#[test]
fn a_deeply_nested_document_is_refused_naming_the_depth_limit() {
    let mut yaml = String::new();
    for level in 0..200 {
        yaml.push_str(&"  ".repeat(level));
        yaml.push_str("k:\n");
    }
    yaml.push_str(&"  ".repeat(200));
    yaml.push_str("leaf\n");
    let err = message(parse_documents_with(
        Path::new("deep.yaml"),
        &yaml,
        &YamlLimits::default(),
    ));
    assert_eq!(
        err,
        "deep.yaml: a document nests 65 levels deep, over the limit max-yaml-depth = 64; if the \
         input is legitimate, raise it with KAKINE_MAX_YAML_DEPTH=N"
    );
    // Raised, the same document parses.
    let raised = YamlLimits {
        max_depth: 256,
        ..YamlLimits::default()
    };
    let docs = parse_documents_with(Path::new("deep.yaml"), &yaml, &raised).expect("raised");
    assert_eq!(docs.len(), 1);
}

#[test]
fn a_flow_nested_document_is_refused_naming_the_depth_limit() {
    let yaml = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let err = message(parse_documents_with(
        Path::new("flow.yaml"),
        &yaml,
        &YamlLimits::default(),
    ));
    assert!(err.contains("over the limit max-yaml-depth = 64"), "{err}");
}

#[test]
fn a_file_of_75k_policies_loads_in_one_piece() {
    const POLICIES: usize = 75_000;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("cluster.yaml"),
        "apiVersion: kakine.io/v1alpha1\nkind: Cluster\nnamespaces: [{name: x}]\n",
    )
    .expect("write");
    let mut policies = String::with_capacity(POLICIES * 160);
    for i in 0..POLICIES {
        policies.push_str(&format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n\
             metadata: {{name: np-{i}, namespace: x}}\n\
             spec: {{podSelector: {{matchLabels: {{app: a{i}}}}}, policyTypes: [Ingress]}}\n"
        ));
    }
    std::fs::write(dir.path().join("policies.yaml"), &policies).expect("write");
    let input = load_dir(dir.path()).expect("a legitimate large file loads");
    assert_eq!(input.objects.k8s_policies.len(), POLICIES);
    assert_eq!(input.objects.k8s_policies[74_999].metadata.name, "np-74999");
}

#[test]
fn a_file_over_the_size_limit_is_refused_before_parsing() {
    let limits = YamlLimits {
        max_input_bytes: 1024,
        ..YamlLimits::default()
    };
    let yaml = format!("k: {}\n", "x".repeat(2000));
    let err = message(parse_documents_with(Path::new("big.yaml"), &yaml, &limits));
    assert_eq!(
        err,
        "big.yaml: the file is 2004 bytes, over the limit max-input-bytes = 1024; if the input \
         is legitimate, raise it with KAKINE_MAX_INPUT_BYTES=N"
    );
}
