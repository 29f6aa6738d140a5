//! The install's security posture (issue #13), checked on the render: what each pod may do
//! and where its images come from.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::manifests_support::*;

/// The Deployment and the DaemonSet: the objects with a pod template.
fn workloads(objs: &[Value]) -> Vec<&Value> {
    objs.iter()
        .filter(|o| o["kind"] == "Deployment" || o["kind"] == "DaemonSet")
        .collect()
}

/// Every pod runs with the runtime's default seccomp profile; no long-running container holds
/// SYS_MODULE (only the one-shot `load-openvswitch` init container does); every container has
/// a read-only root filesystem, drops ALL capabilities and cannot escalate.
#[test]
fn every_pod_is_seccomp_confined_and_no_long_running_container_loads_modules() {
    let objs = objects();
    let workloads = workloads(&objs);
    assert_eq!(workloads.len(), 2);
    for o in &workloads {
        let spec = pod_spec(o);
        let seccomp = spec
            .security_context
            .as_ref()
            .and_then(|s| s.seccomp_profile.as_ref())
            .map(|p| p.type_.as_str());
        assert_eq!(seccomp, Some("RuntimeDefault"), "{}", name_of(o));
        let init: BTreeSet<String> = spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| c.name.clone())
            .collect();
        for c in spec
            .init_containers
            .iter()
            .flatten()
            .chain(&spec.containers)
        {
            let who = format!("{} {}", name_of(o), c.name);
            let sc = c.security_context.clone().unwrap_or_default();
            assert_eq!(sc.privileged, None, "{who}");
            assert_eq!(sc.allow_privilege_escalation, Some(false), "{who}");
            assert_eq!(sc.read_only_root_filesystem, Some(true), "{who}");
            let caps = sc.capabilities.unwrap_or_default();
            assert_eq!(caps.drop, Some(vec!["ALL".to_string()]), "{who}");
            let add = caps.add.unwrap_or_default();
            for cap in &add {
                assert!(
                    [
                        "NET_ADMIN",
                        "SYS_NICE",
                        "SYS_RESOURCE",
                        "IPC_LOCK",
                        "SYS_MODULE"
                    ]
                    .contains(&cap.as_str()),
                    "{who}: {cap}"
                );
            }
            if add.iter().any(|c| c == "SYS_MODULE") {
                assert!(
                    init.contains(&c.name),
                    "{who}: SYS_MODULE in a long-running container"
                );
                assert_eq!(
                    c.command.as_deref(),
                    Some(&["start-ovs".to_string(), "--load-module".to_string()][..]),
                    "{who}"
                );
            }
        }
    }
    // The module is still loaded by someone: the DaemonSet has the init container.
    let ds = workloads.iter().find(|o| o["kind"] == "DaemonSet").unwrap();
    let spec = pod_spec(ds);
    let loader = spec
        .init_containers
        .iter()
        .flatten()
        .find(|c| c.name == "load-openvswitch")
        .expect("the load-openvswitch init container");
    let caps = loader
        .security_context
        .clone()
        .unwrap()
        .capabilities
        .unwrap();
    assert_eq!(caps.add, Some(vec!["SYS_MODULE".to_string()]));
}

/// The API token: the agent's ServiceAccount may only `get` Nodes (no Pods, no list or watch),
/// its pod mounts no token automatically, and only install-cni mounts the API token; the
/// agent container has only its controller-audience token. The controller pod spells out
/// its API token too (it runs a kube client).
#[test]
fn only_install_cni_holds_an_api_token_and_the_agent_reads_no_pods() {
    let objs = objects();
    let agent = cluster_role(&objs, "kakine-agent");
    for v in [
        "get", "list", "watch", "create", "update", "patch", "delete",
    ] {
        assert!(!allows(&agent, "", "pods", v), "agent may {v} pods");
        assert!(
            !allows(&agent, "", "nodes", v) || v == "get",
            "agent may {v} nodes"
        );
    }
    assert!(allows(&agent, "", "nodes", "get"));
    assert_eq!(agent.len(), 1, "{agent:?}");

    for o in workloads(&objs) {
        let spec = pod_spec(o);
        assert_eq!(
            spec.automount_service_account_token,
            Some(false),
            "{}",
            name_of(o)
        );
        let api_volume = spec
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == "kube-api-access")
            .and_then(|v| v.projected.clone())
            .unwrap_or_else(|| panic!("{}: no kube-api-access volume", name_of(o)));
        let sources = api_volume.sources.unwrap_or_default();
        let token = sources
            .iter()
            .find_map(|s| s.service_account_token.as_ref())
            .expect("a serviceAccountToken source");
        assert_eq!(token.audience, None, "the API server's audience");
        assert!(sources.iter().any(|s| s
            .config_map
            .as_ref()
            .is_some_and(|c| c.name == "kube-root-ca.crt")));
        assert!(sources.iter().any(|s| s.downward_api.is_some()));
        let holders: Vec<String> = spec
            .init_containers
            .iter()
            .flatten()
            .chain(&spec.containers)
            .filter(|c| {
                c.volume_mounts.iter().flatten().any(|m| {
                    m.name == "kube-api-access"
                        && m.mount_path == "/var/run/secrets/kubernetes.io/serviceaccount"
                })
            })
            .map(|c| c.name.clone())
            .collect();
        let expected = if o["kind"] == "DaemonSet" {
            "install-cni"
        } else {
            "kakine-controller"
        };
        assert_eq!(holders, [expected], "{}", name_of(o));
    }
}

/// No image name resolves to a public registry by default (docker.io would serve whoever
/// registered the name): every image names a registry host, `localhost` by default, and
/// `make images` builds exactly those names.
#[test]
fn images_never_resolve_to_a_public_registry_and_make_images_builds_them() {
    let objs = objects();
    let makefile = std::fs::read_to_string(root().join("Makefile")).unwrap();
    let prefix = makefile
        .lines()
        .find_map(|l| l.strip_prefix("IMAGE_PREFIX ?= "))
        .expect("IMAGE_PREFIX in the Makefile")
        .trim();
    for (o, c) in containers(&objs) {
        let image = c.image.clone().unwrap_or_default();
        let (host, _) = image.split_once('/').unwrap_or(("", ""));
        assert_eq!(host, "localhost", "{} {}: {image}", name_of(o), c.name);
        let repo = image.rsplit_once(':').unwrap().0;
        let built = format!(
            "-t $(IMAGE_PREFIX)/{}:$(VERSION)",
            repo.rsplit('/').next().unwrap()
        );
        assert!(
            makefile.contains(&built) && repo.starts_with(&format!("{prefix}/")),
            "{image}: `make images` does not build it"
        );
    }
}

/// The labels scripts/e2e-kind.sh selects pods by (`-l KEY=VALUE`, to collect their logs) are
/// on every pod template.
#[test]
fn the_pods_carry_the_labels_e2e_kind_collects_by() {
    let script = std::fs::read_to_string(root().join("scripts/e2e-kind.sh")).unwrap();
    let selectors: BTreeSet<&str> = script
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "-l")
        .map(|w| w[1])
        .collect();
    assert!(!selectors.is_empty(), "scripts/e2e-kind.sh selects no pods");
    let objs = objects();
    for o in workloads(&objs) {
        let labels = &o["spec"]["template"]["metadata"]["labels"];
        for sel in &selectors {
            let (k, v) = sel.split_once('=').expect("KEY=VALUE selector");
            assert_eq!(labels[k], v, "{}: pod template label {k}", name_of(o));
        }
    }
}

/// The agent, its ovs container and the controller have a startup probe, so their liveness
/// probes count only after start-up (a slow ovs container must not get the agent killed).
#[test]
fn long_running_containers_have_a_startup_probe_of_minutes() {
    let objs = objects();
    for o in workloads(&objs) {
        for c in pod_spec(o).containers {
            let who = format!("{} {}", name_of(o), c.name);
            let live = c.liveness_probe.expect(&who);
            let start = c
                .startup_probe
                .unwrap_or_else(|| panic!("{who}: no startupProbe"));
            let budget = start.period_seconds.unwrap_or(10) * start.failure_threshold.unwrap_or(3);
            assert!(budget >= 300, "{who}: {budget} s to start");
            assert_eq!(live.initial_delay_seconds, None, "{who}");
            assert_eq!(
                (
                    start.http_get.map(|h| h.path),
                    start.exec.map(|e| e.command)
                ),
                (live.http_get.map(|h| h.path), live.exec.map(|e| e.command)),
                "{who}: the startup probe asks what the liveness probe asks"
            );
        }
    }
}
