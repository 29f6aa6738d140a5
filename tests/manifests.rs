//! The install manifests (`manifests/`, docs/install.md): `kubectl kustomize` renders them;
//! every object parses into its Kubernetes API type (k8s-openapi) with no field left over;
//! `manifests/kakine.yaml` and `manifests/crds/kustomization.yaml` are what `make manifests`
//! writes; the containers' command lines, with the variables the kubelet expands, parse with
//! the binaries' own clap definitions; the conflist is one kakine-cni accepts and its chained
//! plugins exist; RBAC grants what the code asks for and no more than the comments justify.
//!
//! Needs `kubectl` (for `kubectl kustomize`; `make deps` does not install it: docs/install.md).

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Service;
use serde_json::Value;

mod manifests_support;
use manifests_support::*;

#[path = "manifests_checks/hardening.rs"]
mod hardening;

#[path = "../src/bin/kakine-agent.rs"]
#[allow(dead_code, unused_imports)]
mod agent_bin;
#[path = "../src/bin/kakine-controller.rs"]
#[allow(dead_code, unused_imports)]
mod controller_bin;

/// Every rendered object parses into its k8s-openapi type, and nothing in it is a field the
/// type does not have (a typo such as `readinesProbe` would be dropped by the API server's
/// lenient decoding, silently; here it fails).
#[test]
fn every_object_parses_into_its_api_type_with_no_unknown_field() {
    let objs = objects();
    let problems = type_problems(&objs);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let mut kinds = BTreeMap::<&str, usize>::new();
    for o in &objs {
        *kinds.entry(o["kind"].as_str().unwrap()).or_default() += 1;
    }
    for (kind, n) in [
        ("DaemonSet", 1),
        ("Deployment", 1),
        ("Service", 1),
        ("PodDisruptionBudget", 1),
        ("ServiceAccount", 2),
        ("ClusterRole", 2),
    ] {
        assert_eq!(kinds.get(kind), Some(&n), "{kind} objects in {kinds:?}");
    }
    // The images are tagged with the crate's version (`make images` tags them so).
    for (o, c) in containers(&objs) {
        let image = c.image.as_deref().unwrap_or("");
        let tag = image.rsplit_once(':').map(|(_, t)| t);
        assert_eq!(
            tag,
            Some(env!("CARGO_PKG_VERSION")),
            "{} {}: {image}",
            name_of(o),
            c.name
        );
    }
}

/// The Antrea component adds `--antrea-crds` and exactly the read grants it needs.
#[test]
fn the_antrea_component_adds_the_flag_and_its_grants() {
    let objs = antrea_objects();
    let problems = type_problems(&objs);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let args = command_lines(&objs);
    let (_, ctl) = args
        .iter()
        .find(|(_, a)| a[0] == "kakine-controller")
        .unwrap();
    assert!(ctl.iter().any(|a| a == "--antrea-crds"), "{ctl:?}");
    let role = cluster_role(&objs, "kakine-controller-antrea");
    for r in [
        "tiers",
        "clusternetworkpolicies",
        "networkpolicies",
        "clustergroups",
        "groups",
    ] {
        for v in ["get", "list", "watch"] {
            assert!(allows(&role, "crd.antrea.io", r, v), "{v} {r}");
        }
        assert!(!allows(&role, "crd.antrea.io", r, "update"));
    }
    let base = objects();
    assert!(!base
        .iter()
        .any(|o| o["metadata"]["name"] == "kakine-controller-antrea"));
}

/// The round trip finds a misspelt field: the check above can fail.
#[test]
fn a_misspelt_field_is_found() {
    let o: Value = serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 1, "targetPrt": 2}], "selectr": {}}
    });
    let lost = round_trip::<Service>(&o).unwrap();
    assert_eq!(
        lost,
        [
            ".spec.ports[0].targetPrt: unknown field",
            ".spec.selectr: unknown field"
        ]
    );
}

/// `manifests/kakine.yaml` is the render (`make manifests` rewrites it).
#[test]
fn the_rendered_file_is_fresh() {
    let file = std::fs::read_to_string(root().join("manifests/kakine.yaml")).unwrap();
    let body: String = file
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        body == render(),
        "manifests/kakine.yaml is stale: run `make manifests`"
    );
}

/// `manifests/crds/kustomization.yaml` lists every CRD file of the directory, and each of
/// them renders as CustomResourceDefinitions whose crd.kakine.io resources the controller may
/// list and watch.
#[test]
fn every_crd_file_is_installed_and_watched() {
    let dir = root().join("manifests/crds");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".yaml") && f != "kustomization.yaml")
        .collect();
    files.sort();
    let k: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap())
            .unwrap();
    let listed: Vec<String> = k["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        listed, files,
        "manifests/crds/kustomization.yaml: run `make manifests`"
    );

    let objs = objects();
    let crds: Vec<&Value> = objs
        .iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .collect();
    let mut in_files = 0;
    for f in &files {
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap();
        for d in docs.iter().filter(|d| !d.is_null()) {
            assert_eq!(d["kind"], "CustomResourceDefinition", "{f}: {}", name_of(d));
            in_files += 1;
        }
    }
    assert_eq!(crds.len(), in_files, "CRDs rendered vs in manifests/crds");
    let role = cluster_role(&objs, "kakine-controller");
    for crd in crds {
        let group = crd["spec"]["group"].as_str().unwrap();
        let plural = crd["spec"]["names"]["plural"].as_str().unwrap();
        if group == "crd.kakine.io" {
            for verb in ["list", "watch"] {
                assert!(
                    allows(&role, group, plural, verb),
                    "controller may not {verb} {plural}"
                );
            }
        }
    }
}

/// RBAC: the controller may do what it does (watch its inputs, review tokens, write status,
/// hold its Lease, publish its CA), the agent only reads, and nobody gets a wildcard.
#[test]
fn rbac_grants_what_the_code_calls_and_no_wildcard() {
    let objs = objects();
    let ctl = cluster_role(&objs, "kakine-controller");
    for (group, resource, verbs) in [
        ("", "pods", &["get", "list", "watch"][..]),
        ("", "namespaces", &["list", "watch"]),
        ("", "nodes", &["list", "watch"]),
        ("networking.k8s.io", "networkpolicies", &["list", "watch"]),
        (
            "policy.networking.k8s.io",
            "adminnetworkpolicies",
            &["list", "watch"],
        ),
        (
            "policy.networking.k8s.io",
            "baselineadminnetworkpolicies",
            &["list", "watch"],
        ),
        ("crd.kakine.io", "tiers", &["list", "watch"]),
        (
            "crd.kakine.io",
            "clusternetworkpolicies",
            &["list", "watch"],
        ),
        ("crd.kakine.io", "networkpolicies", &["list", "watch"]),
        ("crd.kakine.io", "clustergroups", &["list", "watch"]),
        ("crd.kakine.io", "groups", &["list", "watch"]),
        ("crd.kakine.io", "clusternetworkpolicies/status", &["patch"]),
        ("crd.kakine.io", "networkpolicies/status", &["patch"]),
        ("authentication.k8s.io", "tokenreviews", &["create"]),
    ] {
        for v in verbs {
            assert!(
                allows(&ctl, group, resource, v),
                "controller: {v} {group}/{resource}"
            );
        }
    }
    // The status subresource only: no write on a policy's spec.
    for r in ["clusternetworkpolicies", "networkpolicies", "tiers"] {
        for v in ["update", "patch", "create", "delete"] {
            assert!(
                !allows(&ctl, "crd.kakine.io", r, v),
                "controller may {v} {r}"
            );
        }
    }
    let ns_role = role(&objs, "kakine-controller");
    let ca_cm = controller_flag(&objs, "--ca-configmap").unwrap_or_else(|| "kakine-ca".into());
    assert!(allows_named(
        &ns_role,
        "",
        "configmaps",
        "update",
        Some(&ca_cm)
    ));
    assert!(!allows_named(
        &ns_role,
        "",
        "configmaps",
        "update",
        Some("other")
    ));
    assert!(allows_named(
        &ns_role,
        "coordination.k8s.io",
        "leases",
        "update",
        Some("kakine-controller")
    ));
    let agent = cluster_role(&objs, "kakine-agent");
    assert!(allows(&agent, "", "nodes", "get"));
    // Nothing of the agent's reads Pods (the agent has no Kubernetes client).
    assert!(!allows(&agent, "", "pods", "get"));
    for r in agent.iter().chain(&ctl).chain(&ns_role) {
        let all = r
            .api_groups
            .iter()
            .flatten()
            .chain(r.resources.iter().flatten())
            .chain(&r.verbs);
        assert!(!all.clone().any(|x| x == "*"), "wildcard in {r:?}");
    }
    for r in &agent {
        for v in &r.verbs {
            assert!(
                ["get", "list", "watch"].contains(&v.as_str()),
                "agent may {v}: {r:?}"
            );
        }
    }
}

/// The RBAC table of docs/kubernetes.md (what the kube layer calls, written by its authors)
/// is granted: ClusterRole rows by the controller's ClusterRole (the `--antrea-crds` rows by
/// the Antrea component's), Role rows by its Role in kube-system.
#[test]
fn rbac_covers_the_table_of_docs_kubernetes_md() {
    let doc = std::fs::read_to_string(root().join("docs/kubernetes.md"))
        .expect("docs/kubernetes.md (the kube layer's RBAC table)");
    let table: Vec<Vec<String>> = doc
        .lines()
        .skip_while(|l| l.trim() != "## RBAC")
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.starts_with("| part"))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    assert!(table.len() >= 5, "docs/kubernetes.md ## RBAC: {table:?}");
    let objs = antrea_objects();
    let ctl = cluster_role(&objs, "kakine-controller");
    let antrea = cluster_role(&objs, "kakine-controller-antrea");
    let ns = role(&objs, "kakine-controller");
    let mut missing = Vec::new();
    for row in &table {
        let [part, group, resources, verbs, scope] = &row[..] else {
            panic!("docs/kubernetes.md ## RBAC row {row:?}: not 5 columns");
        };
        let group = if group.starts_with("\"\"") {
            ""
        } else {
            group.as_str()
        };
        let rules = if part.contains("--antrea-crds") {
            &antrea
        } else if scope.starts_with("Role") {
            &ns
        } else {
            &ctl
        };
        for r in resources.split(',').map(str::trim) {
            for v in verbs.split(',').map(str::trim) {
                // The Role names the one Lease and the one CA ConfigMap it may change.
                let name = match r {
                    "leases" => Some("kakine-controller"),
                    "configmaps" => Some("kakine-ca"),
                    _ => None,
                };
                if !allows_named(rules, group, r, v, name) {
                    missing.push(format!("{part}: {v} {group}/{r} ({scope})"));
                }
            }
        }
    }
    assert!(missing.is_empty(), "not granted:\n{}", missing.join("\n"));
}

/// The flags of every container are the binary's real flags: kakine-agent's parse with its
/// own clap definition (src/bin/kakine-agent.rs, src/bin/kakine-controller.rs), the scripts
/// are the image's.
#[test]
fn container_command_lines_parse_with_the_binaries_own_flags() {
    use clap::Parser as _;
    let objs = objects();
    let mut seen = BTreeMap::<String, usize>::new();
    for (who, argv) in command_lines(&objs) {
        let bin = argv[0].clone();
        *seen.entry(bin.clone()).or_default() += 1;
        match bin.as_str() {
            "kakine-agent" => {
                agent_bin::Args::try_parse_from(&argv)
                    .unwrap_or_else(|e| panic!("{who}: {argv:?}: {e}"));
                assert_eq!(flag(&argv, "--node"), Some("node-a"), "{who}");
                assert_eq!(
                    flag(&argv, "--metrics-addr"),
                    Some("192.0.2.10:9479"),
                    "{who}"
                );
            }
            "kakine-controller" => {
                controller_bin::Args::try_parse_from(&argv)
                    .unwrap_or_else(|e| panic!("{who}: {argv:?}: {e}"));
                assert_eq!(flag(&argv, "--namespace"), Some("kube-system"), "{who}");
            }
            "install-cni" | "start-ovs" => {
                let script = root().join("images/scripts").join(&bin);
                assert!(
                    script.is_file(),
                    "{who}: {} is not in the image",
                    script.display()
                );
            }
            other => panic!("{who}: {other} is not a kakine binary or script"),
        }
    }
    assert_eq!(seen.get("kakine-agent"), Some(&1), "{seen:?}");
    assert_eq!(seen.get("kakine-controller"), Some(&1), "{seen:?}");
}

/// The conflist the init container installs is the repository's, kakine-cni accepts its
/// entry, the agent serves the socket it dials with the interface prefix it expects, and the
/// chained and IPAM plugins exist where containernetworking-plugins puts them (the image
/// copies them from there).
#[test]
fn the_conflist_is_one_kakine_cni_accepts_and_its_plugins_exist() {
    use clap::Parser as _;
    let objs = objects();
    let file = std::fs::read_to_string(root().join("manifests/cni/10-kakine.conflist")).unwrap();
    let cm = objs
        .iter()
        .find(|o| {
            o["kind"] == "ConfigMap"
                && o["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .starts_with("kakine-cni-conf")
        })
        .expect("the conflist ConfigMap");
    assert_eq!(
        cm["data"]["10-kakine.conflist"].as_str(),
        Some(file.as_str())
    );
    let list: Value = serde_json::from_str(&file).unwrap();
    let plugins = list["plugins"].as_array().unwrap();
    assert_eq!(
        plugins[0]["type"], "kakine-cni",
        "kakine-cni first in the chain"
    );
    let mut entry = plugins[0].clone();
    entry["name"] = list["name"].clone();
    entry["cniVersion"] = list["cniVersion"].clone();
    let conf = kakine::cni::config::NetConf::parse(entry.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("kakine-cni refuses the conflist's entry: {}", e.to_json()));
    let (_, argv) = command_lines(&objs)
        .into_iter()
        .find(|(_, a)| a[0] == "kakine-agent")
        .unwrap();
    agent_bin::Args::try_parse_from(&argv).unwrap();
    assert_eq!(
        flag(&argv, "--cni-socket").map(PathBuf::from),
        Some(conf.agent_socket)
    );
    // The agent's default prefix unless the manifest sets one.
    assert_eq!(
        flag(&argv, "--ifname-prefix").unwrap_or("kk"),
        conf.ifname_prefix
    );
    let mut needed: Vec<String> = vec![conf.ipam_type.clone()];
    needed.extend(
        plugins[1..]
            .iter()
            .map(|p| p["type"].as_str().unwrap().to_string()),
    );
    for p in needed {
        let path = PathBuf::from("/usr/lib/cni").join(&p);
        assert!(
            path.is_file(),
            "{}: missing (containernetworking-plugins)",
            path.display()
        );
    }
}
