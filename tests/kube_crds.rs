//! The `crd.kakine.io` CRDs: `manifests/crds/` is what `src/controller/kube/crd.rs` generates
//! (regenerate with `KAKINE_REGEN_CRDS=1 cargo test --test kube_crds`), and every Antrea or
//! kakine policy document of `examples/`, `tests/scenarios/` and `tests/cases/` validates
//! against the generated OpenAPI schema, structurally (types, enums, ranges, patterns, required
//! fields; unknown fields refused, as `kubectl apply --validate=strict` refuses them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kakine::controller::kube::crd::{crd_yaml, crds};
use kakine::policy::load::parse_documents;
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn manifests_crds_are_fresh() {
    let dir = root().join("manifests/crds");
    let generated: BTreeMap<String, String> = crds()
        .iter()
        .map(|(file, crd)| (file.clone(), crd_yaml(crd).expect("CRD serializes")))
        .collect();
    assert_eq!(generated.len(), 5);
    if std::env::var_os("KAKINE_REGEN_CRDS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in &generated {
            std::fs::write(dir.join(file), text).unwrap();
        }
    }
    let mut on_disk = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("manifests/crds exists") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        // The kustomization beside the CRDs is the install's (checked by tests/manifests.rs).
        if path.extension().is_some_and(|e| e == "yaml") && name != "kustomization.yaml" {
            on_disk.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    assert_eq!(
        on_disk.keys().collect::<Vec<_>>(),
        generated.keys().collect::<Vec<_>>(),
        "manifests/crds: regenerate with KAKINE_REGEN_CRDS=1 cargo test --test kube_crds"
    );
    for (file, text) in &generated {
        assert!(
            on_disk[file] == *text,
            "manifests/crds/{file} is stale: regenerate with KAKINE_REGEN_CRDS=1 cargo test \
             --test kube_crds"
        );
    }
}

#[test]
fn crds_have_the_antrea_shape() {
    let all: BTreeMap<String, Value> = crds()
        .into_iter()
        .map(|(_, c)| (c.spec.names.kind.clone(), serde_json::to_value(&c).unwrap()))
        .collect();
    let kcnp = &all["ClusterNetworkPolicy"];
    assert_eq!(kcnp["spec"]["group"], "crd.kakine.io");
    assert_eq!(kcnp["spec"]["scope"], "Cluster");
    assert_eq!(kcnp["spec"]["names"]["shortNames"], json!(["kcnp"]));
    assert_eq!(all["NetworkPolicy"]["spec"]["scope"], "Namespaced");
    assert_eq!(
        all["NetworkPolicy"]["spec"]["names"]["shortNames"],
        json!(["knp"])
    );
    let version = &kcnp["spec"]["versions"][0];
    assert_eq!(version["name"], "v1beta1");
    assert_eq!(version["subresources"]["status"], json!({}));
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        ["Tier", "Priority", "Desired Nodes", "Current Nodes", "Age"]
    );
    let schema = &version["schema"]["openAPIV3Schema"];
    let status = &schema["properties"]["status"]["properties"];
    for field in [
        "phase",
        "observedGeneration",
        "currentNodesRealized",
        "desiredNodesRealized",
        "conditions",
    ] {
        assert!(status.get(field).is_some(), "status.{field}");
    }
    let spec = &schema["properties"]["spec"];
    assert_eq!(spec["properties"]["priority"]["minimum"], json!(1.0));
    assert_eq!(spec["properties"]["priority"]["maximum"], json!(10000.0));
    let rule = &spec["properties"]["ingress"]["items"];
    assert_eq!(
        rule["properties"]["action"]["enum"],
        json!(["Allow", "Drop", "Reject", "Pass"])
    );
    // Every list above a CEL rule is bounded (the API server's cost budget).
    assert_eq!(spec["properties"]["ingress"]["maxItems"], 1000);
    for list in ["from", "to", "ports", "protocols", "appliedTo"] {
        assert_eq!(rule["properties"][list]["maxItems"], 100, "{list}");
    }
    let peer = &rule["properties"]["from"]["items"];
    let cel = peer["x-kubernetes-validations"]
        .as_array()
        .expect("peer CEL");
    assert!(cel[0]["rule"].as_str().unwrap().contains("size() <= 1"));
    assert_eq!(
        rule["properties"]["ports"]["items"]["properties"]["port"]["x-kubernetes-int-or-string"],
        json!(true)
    );
    // Structural: no `additionalProperties: false` beside `properties` anywhere.
    let text = serde_json::to_string(&all).unwrap();
    assert!(!text.contains("\"additionalProperties\":false"));
    // Only formats Kubernetes knows.
    for f in ["uint8", "uint16", "uint32", "int8", "int16"] {
        assert!(!text.contains(&format!("\"format\":\"{f}\"")), "{f}");
    }
    let icmp_type =
        &rule["properties"]["protocols"]["items"]["properties"]["icmp"]["properties"]["icmpType"];
    assert_eq!(
        (
            &icmp_type["format"],
            &icmp_type["minimum"],
            &icmp_type["maximum"]
        ),
        (&json!("int32"), &json!(0.0), &json!(255.0))
    );
}

// ---------------------------------------------------------------------------------------------
// A structural OpenAPI v3 validator: the subset of the API server's checks a CRD schema uses.

fn check(schema: &Value, v: &Value, path: &str, out: &mut Vec<String>) {
    if v.is_null() {
        if schema["nullable"] != json!(true) {
            out.push(format!("{path}: null is not allowed"));
        }
        return;
    }
    if schema["x-kubernetes-int-or-string"] == json!(true) {
        if !(v.is_i64() || v.is_u64() || v.is_string()) {
            out.push(format!("{path}: expected an integer or a string, got {v}"));
        }
        return;
    }
    if let Some(options) = schema["enum"].as_array() {
        if !options.contains(v) {
            out.push(format!("{path}: {v} is not one of {options:?}"));
        }
    }
    match schema["type"].as_str() {
        Some("object") => {
            let Some(map) = v.as_object() else {
                return out.push(format!("{path}: expected an object, got {v}"));
            };
            for r in schema["required"].as_array().into_iter().flatten() {
                if !map.contains_key(r.as_str().unwrap()) {
                    out.push(format!("{path}.{}: required", r.as_str().unwrap()));
                }
            }
            let preserve = schema["x-kubernetes-preserve-unknown-fields"] == json!(true);
            for (k, child) in map {
                let here = format!("{path}.{k}");
                if let Some(s) = schema["properties"].get(k) {
                    check(s, child, &here, out);
                } else if schema["additionalProperties"].is_object() {
                    check(&schema["additionalProperties"], child, &here, out);
                } else if !preserve && schema.get("properties").is_some() {
                    out.push(format!("{here}: unknown field"));
                }
            }
        }
        Some("array") => match v.as_array() {
            Some(items) => {
                if let Some(max) = schema["maxItems"].as_u64() {
                    if items.len() as u64 > max {
                        out.push(format!("{path}: more than {max} items"));
                    }
                }
                for (i, item) in items.iter().enumerate() {
                    check(&schema["items"], item, &format!("{path}[{i}]"), out);
                }
            }
            None => out.push(format!("{path}: expected an array, got {v}")),
        },
        Some("string") => match v.as_str() {
            Some(s) => {
                if let Some(max) = schema["maxLength"].as_u64() {
                    if s.chars().count() as u64 > max {
                        out.push(format!("{path}: longer than {max}"));
                    }
                }
                if let Some(p) = schema["pattern"].as_str() {
                    if !regex::Regex::new(p).unwrap().is_match(s) {
                        out.push(format!("{path}: {s:?} does not match {p}"));
                    }
                }
            }
            None => out.push(format!("{path}: expected a string, got {v}")),
        },
        Some("integer") | Some("number") => {
            let ok = if schema["type"] == "integer" {
                v.is_i64() || v.is_u64()
            } else {
                v.is_number()
            };
            if !ok {
                return out.push(format!("{path}: expected {}, got {v}", schema["type"]));
            }
            let x = v.as_f64().unwrap();
            if schema["minimum"].as_f64().is_some_and(|m| x < m) {
                out.push(format!("{path}: {x} is below {}", schema["minimum"]));
            }
            if schema["maximum"].as_f64().is_some_and(|m| x > m) {
                out.push(format!("{path}: {x} is above {}", schema["maximum"]));
            }
        }
        Some("boolean") if !v.is_boolean() => {
            out.push(format!("{path}: expected a boolean, got {v}"));
        }
        _ => {}
    }
}

/// The openAPIV3Schema of each kakine kind.
fn schemas() -> BTreeMap<String, Value> {
    crds()
        .into_iter()
        .map(|(_, c)| {
            let v = serde_json::to_value(&c.spec.versions[0]).unwrap();
            (
                c.spec.names.kind.clone(),
                v["schema"]["openAPIV3Schema"].clone(),
            )
        })
        .collect()
}

/// Every mapping under `v` that is an Antrea or kakine CRD document.
fn crd_documents<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(map) => {
            let api = map.get("apiVersion").and_then(Value::as_str);
            if matches!(api, Some("crd.kakine.io/v1beta1" | "crd.antrea.io/v1beta1")) {
                out.push(v);
            } else {
                map.values().for_each(|c| crd_documents(c, out));
            }
        }
        Value::Array(items) => items.iter().for_each(|c| crd_documents(c, out)),
        _ => {}
    }
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

fn validate(schemas: &BTreeMap<String, Value>, doc: &Value) -> Vec<String> {
    let kind = doc["kind"].as_str().unwrap_or("");
    let Some(schema) = schemas.get(kind) else {
        return vec![format!("no kakine CRD for kind {kind:?}")];
    };
    let mut doc = doc.clone();
    // apiVersion, kind and metadata are the API server's own (not in a CRD's schema).
    for key in ["apiVersion", "kind", "metadata"] {
        doc.as_object_mut().unwrap().remove(key);
    }
    let mut out = Vec::new();
    check(schema, &doc, "", &mut out);
    out
}

#[test]
fn sample_policies_validate_against_the_crd_schemas() {
    let schemas = schemas();
    let mut checked = 0;
    let mut problems = Vec::new();
    for dir in ["examples", "tests/scenarios", "tests/cases"] {
        for file in yaml_files(&root().join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap();
            let docs = parse_documents(&file, &text).expect("sample YAML parses");
            let mut found = Vec::new();
            docs.iter().for_each(|d| crd_documents(d, &mut found));
            for doc in found {
                checked += 1;
                for p in validate(&schemas, doc) {
                    problems.push(format!(
                        "{}: {} {}: {p}",
                        file.display(),
                        doc["kind"],
                        doc["metadata"]["name"]
                    ));
                }
            }
        }
    }
    assert!(checked >= 50, "only {checked} CRD documents found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn schema_refuses_what_kakinectl_refuses() {
    let schemas = schemas();
    let good = json!({
        "apiVersion": "crd.kakine.io/v1beta1",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "p"},
        "spec": {
            "tier": "securityops",
            "priority": 5,
            "appliedTo": [{"podSelector": {"matchLabels": {"app": "a"}}}],
            "ingress": [{"action": "Allow", "from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}],
                         "ports": [{"protocol": "TCP", "port": "http"}]}]
        }
    });
    assert_eq!(validate(&schemas, &good), Vec::<String>::new());
    let bad = |path: &[&str], value: Value| {
        let mut doc = good.clone();
        let mut at = &mut doc;
        for (i, p) in path.iter().enumerate() {
            if i + 1 == path.len() {
                at[*p] = value.clone();
            } else if let Ok(n) = p.parse::<usize>() {
                at = &mut at[n];
            } else {
                at = &mut at[*p];
            }
        }
        validate(&schemas, &doc)
    };
    assert_eq!(
        bad(&["spec", "ingress", "0", "action"], json!("Accept")),
        [
            r#".spec.ingress[0].action: "Accept" is not one of [String("Allow"), String("Drop"), String("Reject"), String("Pass")]"#
        ]
    );
    assert_eq!(
        bad(&["spec", "priority"], json!(10001)),
        [".spec.priority: 10001 is above 10000.0"]
    );
    assert_eq!(
        bad(&["spec", "ingress", "0", "sources"], json!([])),
        [".spec.ingress[0].sources: unknown field"]
    );
    assert_eq!(
        bad(&["spec", "tier"], json!("Not a tier!")),
        [r#".spec.tier: "Not a tier!" does not match ^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"#]
    );
    let many: Vec<Value> = (0..101).map(|_| json!({"podSelector": {}})).collect();
    assert_eq!(
        bad(&["spec", "ingress", "0", "from"], json!(many)),
        [".spec.ingress[0].from: more than 100 items"]
    );
    assert_eq!(
        bad(&["spec", "ingress", "0", "ports", "0", "port"], json!(true)),
        [".spec.ingress[0].ports[0].port: expected an integer or a string, got true"]
    );
}
