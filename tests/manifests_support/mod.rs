//! What tests/manifests.rs reads the manifests with: the render (`kubectl kustomize`), the
//! typed round trip that finds unknown fields, RBAC rule lookups, and the containers' command
//! lines with the kubelet's variable expansion.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::Resource;
use serde_json::Value;

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `kubectl kustomize manifests`: the YAML stream `kubectl apply -k manifests/` applies.
pub fn render() -> String {
    render_dir(&root().join("manifests"))
}

/// `kubectl kustomize DIR`.
pub fn render_dir(dir: &Path) -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("running kubectl (needed for `kubectl kustomize`; see docs/install.md)");
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The rendered objects, in order.
pub fn objects() -> Vec<Value> {
    parse_stream(&render())
}

pub fn parse_stream(text: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).expect("rendered YAML");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// The objects of an overlay of the base with the `manifests/antrea-crds` component, as a
/// user's overlay has it (docs/install.md).
pub fn antrea_objects() -> Vec<Value> {
    let dir = tempfile::Builder::new()
        .prefix(".overlay")
        .tempdir_in(root())
        .unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "resources: [../manifests]\ncomponents: [../manifests/antrea-crds]\n",
    )
    .unwrap();
    parse_stream(&render_dir(dir.path()))
}

pub fn name_of(o: &Value) -> String {
    format!(
        "{} {}",
        o["kind"].as_str().unwrap_or("?"),
        o["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// Where `input` has something that `output` (the typed round trip) lost or changed: the
/// fields the type does not know, or values of the wrong shape.
pub fn lost_fields(input: &Value, output: &Value, at: &str, out: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let path = format!("{at}.{k}");
                match b.get(k) {
                    Some(w) => lost_fields(v, w, &path, out),
                    None => out.push(format!("{path}: unknown field")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                lost_fields(v, w, &format!("{at}[{i}]"), out);
            }
        }
        (a, b) if a == b => {}
        // JSON numbers: `maximum: 255` is the f64 255.0 of JSONSchemaProps.
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        (a, b) => out.push(format!("{at}: {a} became {b}")),
    }
}

/// Parses `o` as `T` and returns the fields the round trip lost (empty = every field known).
pub fn round_trip<T: Resource + serde::de::DeserializeOwned + serde::Serialize>(
    o: &Value,
) -> Result<Vec<String>, String> {
    let typed: T = serde_json::from_value(o.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    let mut lost = Vec::new();
    lost_fields(o, &back, "", &mut lost);
    Ok(lost)
}

/// Every problem of `objs`: a kind not expected, a field its type does not know, a namespace
/// other than kube-system.
pub fn type_problems(objs: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    for o in objs {
        let key = (
            o["apiVersion"].as_str().unwrap_or(""),
            o["kind"].as_str().unwrap_or(""),
        );
        macro_rules! check {
            ($($t:ty),*) => {
                $(if key == (<$t>::API_VERSION, <$t>::KIND) {
                    Some(round_trip::<$t>(o))
                } else)* { None }
            };
        }
        let r = check!(
            ServiceAccount,
            ConfigMap,
            Service,
            ClusterRole,
            ClusterRoleBinding,
            Role,
            RoleBinding,
            Deployment,
            DaemonSet,
            PodDisruptionBudget,
            CustomResourceDefinition
        );
        match r {
            None => problems.push(format!("{}: kind {key:?} is not expected here", name_of(o))),
            Some(Err(e)) => problems.push(format!("{}: {e}", name_of(o))),
            Some(Ok(lost)) => {
                problems.extend(lost.into_iter().map(|l| format!("{}: {l}", name_of(o))))
            }
        }
        // Namespaced objects all land in kube-system.
        let cluster_scoped = matches!(
            key.1,
            "ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition"
        );
        let ns = o["metadata"]["namespace"].as_str();
        if cluster_scoped != ns.is_none() || ns.is_some_and(|n| n != "kube-system") {
            problems.push(format!("{}: namespace {ns:?}", name_of(o)));
        }
    }
    problems
}

/// The rules of ClusterRole `name`.
pub fn cluster_role(objs: &[Value], name: &str) -> Vec<PolicyRule> {
    rules_of(objs, "ClusterRole", name)
}

/// The rules of Role `name`.
pub fn role(objs: &[Value], name: &str) -> Vec<PolicyRule> {
    rules_of(objs, "Role", name)
}

pub fn rules_of(objs: &[Value], kind: &str, name: &str) -> Vec<PolicyRule> {
    let o = objs
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name}"));
    serde_json::from_value::<Option<Vec<PolicyRule>>>(o["rules"].clone())
        .unwrap_or_else(|e| panic!("{kind} {name}: {e}"))
        .unwrap_or_default()
}

/// Whether `rules` allow `verb` on `group`/`resource` (any name).
pub fn allows(rules: &[PolicyRule], group: &str, resource: &str, verb: &str) -> bool {
    allows_named(rules, group, resource, verb, None)
}

pub fn allows_named(
    rules: &[PolicyRule],
    group: &str,
    resource: &str,
    verb: &str,
    name: Option<&str>,
) -> bool {
    rules.iter().any(|r| {
        r.api_groups.iter().flatten().any(|g| g == group)
            && r.resources.iter().flatten().any(|x| x == resource)
            && r.verbs.iter().any(|v| v == verb)
            && match (&r.resource_names, name) {
                (None, _) => true,
                (Some(names), Some(n)) => names.iter().any(|x| x == n),
                (Some(_), None) => false,
            }
    })
}

/// The value of `flag` (`--flag=VALUE`) in the controller container's args.
pub fn controller_flag(objs: &[Value], flag: &str) -> Option<String> {
    let d = objs.iter().find(|o| o["kind"] == "Deployment")?;
    let args = d["spec"]["template"]["spec"]["containers"][0]["args"].as_array()?;
    args.iter()
        .filter_map(|a| {
            a.as_str()?
                .strip_prefix(&format!("{flag}="))
                .map(String::from)
        })
        .next()
}

/// A pod template of a workload, with its namespace.
pub fn pod_spec(o: &Value) -> PodSpec {
    serde_json::from_value(o["spec"]["template"]["spec"].clone()).expect("pod template")
}

/// Every container (init containers first) of every Deployment and DaemonSet, with its owner.
pub fn containers(objs: &[Value]) -> Vec<(&Value, Container)> {
    objs.iter()
        .filter(|o| o["kind"] == "Deployment" || o["kind"] == "DaemonSet")
        .flat_map(|o| {
            let spec = pod_spec(o);
            let all = spec
                .init_containers
                .into_iter()
                .flatten()
                .chain(spec.containers);
            all.map(move |c| (o, c)).collect::<Vec<_>>()
        })
        .collect()
}

/// The environment the kubelet gives `c` (docs: "Define dependent environment variables"),
/// on node `node-a` with address 192.0.2.10: `fieldRef`s, `configMapKeyRef`s into the
/// rendered ConfigMaps, and the service-link variables of the namespace's Services.
pub fn container_env(
    objs: &[Value],
    ns: &str,
    c: &Container,
) -> Result<BTreeMap<String, String>, String> {
    let mut env = BTreeMap::new();
    for s in objs.iter().filter(|o| o["kind"] == "Service") {
        let svc: Service = serde_json::from_value(s.clone()).unwrap();
        let name = svc.metadata.name.unwrap().to_uppercase().replace('-', "_");
        let port = svc.spec.unwrap().ports.unwrap()[0].port;
        env.insert(format!("{name}_SERVICE_HOST"), "10.96.0.20".to_string());
        env.insert(format!("{name}_SERVICE_PORT"), port.to_string());
    }
    for e in c.env.iter().flatten() {
        let value = match (&e.value, &e.value_from) {
            (Some(v), _) => expand(v, &env)?,
            (None, Some(from)) => {
                if let Some(f) = &from.field_ref {
                    match f.field_path.as_str() {
                        "spec.nodeName" => "node-a".to_string(),
                        "metadata.namespace" => ns.to_string(),
                        "status.podIP" | "status.hostIP" => "192.0.2.10".to_string(),
                        other => return Err(format!("env {}: fieldRef {other}", e.name)),
                    }
                } else if let Some(k) = &from.config_map_key_ref {
                    let cm = objs
                        .iter()
                        .find(|o| {
                            o["kind"] == "ConfigMap" && o["metadata"]["name"] == k.name.as_str()
                        })
                        .ok_or(format!("env {}: no ConfigMap {}", e.name, k.name))?;
                    cm["data"][&k.key]
                        .as_str()
                        .ok_or(format!(
                            "env {}: ConfigMap {} has no key {}",
                            e.name, k.name, k.key
                        ))?
                        .to_string()
                } else {
                    return Err(format!("env {}: valueFrom not resolved here", e.name));
                }
            }
            (None, None) => String::new(),
        };
        env.insert(e.name.clone(), value);
    }
    Ok(env)
}

/// The kubelet's `$(VAR)` expansion (`$$` is a literal `$`); a reference to a variable not
/// defined is an error here (the kubelet would leave it as text, for the binary to refuse).
pub fn expand(s: &str, env: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(r) = rest.strip_prefix("$$") {
            out.push('$');
            rest = r;
        } else if let Some(r) = rest.strip_prefix("$(") {
            let end = r.find(')').ok_or(format!("{s}: unclosed $("))?;
            let var = &r[..end];
            out.push_str(
                env.get(var)
                    .ok_or(format!("{s}: $({var}) is not defined"))?,
            );
            rest = &r[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The value of `--name=VALUE` in `argv`.
pub fn flag<'a>(argv: &'a [String], name: &str) -> Option<&'a str> {
    argv.iter()
        .find_map(|a| a.strip_prefix(name)?.strip_prefix('='))
}

/// Every container's command line as the kubelet runs it (variables expanded).
pub fn command_lines(objs: &[Value]) -> Vec<(String, Vec<String>)> {
    let mut lines = Vec::new();
    for (o, c) in containers(objs) {
        let ns = o["metadata"]["namespace"].as_str().unwrap();
        let who = format!("{} container {}", name_of(o), c.name);
        let env = container_env(objs, ns, &c).unwrap_or_else(|e| panic!("{who}: {e}"));
        let argv: Vec<String> = c
            .command
            .iter()
            .flatten()
            .chain(c.args.iter().flatten())
            .map(|a| expand(a, &env).unwrap_or_else(|e| panic!("{who}: {e}")))
            .collect();
        assert!(
            !argv.is_empty(),
            "{who}: no command (the image's entrypoint is not ours)"
        );
        lines.push((who, argv));
    }
    lines
}
