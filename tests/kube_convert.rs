//! API objects (as the API server's JSON) to the policy model: pods, namespaces, nodes and
//! policies; errors name the object and the field.

use std::net::{Ipv4Addr, Ipv6Addr};

use k8s_openapi::api::core::v1 as core;
use kakine::controller::kube::convert;
use kakine::policy::model::{AntreaKind, PolicyObject};
use kakine::policy::resolved::{NodeInfo, Protocol};
use serde_json::json;

fn pod(v: serde_json::Value) -> core::Pod {
    serde_json::from_value(v).unwrap()
}

#[test]
fn pod_dual_stack_ports_and_service_account() {
    let p = pod(json!({
        "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "nodeName": "n2", "serviceAccountName": "web", "hostNetwork": false,
            "containers": [
                {"name": "a", "ports": [{"containerPort": 8080, "name": "http"},
                                         {"containerPort": 53, "protocol": "UDP"}]},
                {"name": "b", "ports": [{"containerPort": 9000, "protocol": "SCTP"}]}
            ]
        },
        "status": {"phase": "Running", "podIP": "fd00::5",
                   "podIPs": [{"ip": "fd00::5"}, {"ip": "10.244.2.5"}]}
    }));
    let m = convert::pod(&p).unwrap().unwrap();
    assert_eq!((m.namespace.as_str(), m.name.as_str()), ("shop", "web-1"));
    assert_eq!(m.ip, "10.244.2.5".parse::<Ipv4Addr>().unwrap());
    assert_eq!(m.ipv6, Some("fd00::5".parse::<Ipv6Addr>().unwrap()));
    assert_eq!(m.node.as_deref(), Some("n2"));
    assert_eq!(m.service_account_name(), "web");
    assert_eq!(m.labels["app"], "web");
    let ports: Vec<(u16, Protocol, Option<&str>)> = m
        .ports
        .iter()
        .map(|p| (p.port, p.protocol, p.name.as_deref()))
        .collect();
    assert_eq!(
        ports,
        [
            (8080, Protocol::Tcp, Some("http")),
            (53, Protocol::Udp, None),
            (9000, Protocol::Sctp, None)
        ]
    );
}

#[test]
fn pod_without_ip_or_finished_is_left_out() {
    let pending = pod(json!({"metadata": {"name": "p", "namespace": "x"},
                             "spec": {"containers": []}, "status": {"phase": "Pending"}}));
    assert_eq!(convert::pod(&pending), Ok(None));
    let done = pod(json!({"metadata": {"name": "p", "namespace": "x"},
                          "spec": {"containers": []},
                          "status": {"phase": "Failed", "podIP": "10.0.0.1"}}));
    assert_eq!(convert::pod(&done), Ok(None));
    let host = pod(json!({"metadata": {"name": "h", "namespace": "x"},
                          "spec": {"containers": [], "hostNetwork": true},
                          "status": {"podIPs": [{"ip": "192.168.0.2"}]}}));
    assert!(convert::pod(&host).unwrap().unwrap().host_network);
}

#[test]
fn pod_errors_name_object_and_fields() {
    let p = pod(json!({
        "metadata": {"name": "bad", "namespace": "x"},
        "spec": {"containers": [{"name": "a", "ports": [
            {"containerPort": 70000}, {"containerPort": 80, "protocol": "ICMP"}]}]},
        "status": {"podIPs": [{"ip": "10.0.0.300"}, {"ip": "10.0.0.3"}]}
    }));
    let e = convert::pod(&p).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Pod \"x/bad\": status.podIPs[0].ip: invalid IP address \"10.0.0.300\"; \
         spec.containers[0].ports[0].containerPort: 70000 is not a port (1..=65535); \
         spec.containers[0].ports[1].protocol: unknown protocol \"ICMP\" (expected TCP, UDP or \
         SCTP)"
    );
    let v6 = pod(json!({"metadata": {"name": "v6", "namespace": "x"},
                        "spec": {"containers": []}, "status": {"podIPs": [{"ip": "fd00::1"}]}}));
    assert_eq!(
        convert::pod(&v6).unwrap_err().to_string(),
        "Pod \"x/v6\": status.podIPs: an IPv6-only pod is not supported (the model needs an \
         IPv4 address)"
    );
}

#[test]
fn namespace_and_node() {
    let ns: core::Namespace = serde_json::from_value(json!({"metadata": {
        "name": "shop", "labels": {"team": "a", "kubernetes.io/metadata.name": "shop"},
        "annotations": {"kakine.io/enable-np-logging": "true"}}}))
    .unwrap();
    let m = convert::namespace(&ns).unwrap();
    assert_eq!(m.name, "shop");
    assert_eq!(m.labels["team"], "a");
    assert!(m.np_logging());

    let node: core::Node = serde_json::from_value(json!({
        "metadata": {"name": "n1", "labels": {"zone": "z1"}},
        "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24", "fd00:1::/64",
                                                           "10.245.0.0/24"]},
        "status": {"addresses": [{"type": "Hostname", "address": "n1"},
                                 {"type": "InternalIP", "address": "fd00::10"},
                                 {"type": "InternalIP", "address": "192.168.1.10"}]}
    }))
    .unwrap();
    let m = convert::node(&node).unwrap();
    assert_eq!(m.ip, Some(Ipv4Addr::new(192, 168, 1, 10)));
    assert_eq!(m.pod_cidr, Some("10.244.1.0/24".parse().unwrap()));
    assert_eq!(m.pod_cidrs, vec!["10.245.0.0/24".parse().unwrap()]);
    assert_eq!(m.labels["zone"], "z1");
    // The gateway is the agent's: the first address of the first pod CIDR.
    let info = NodeInfo {
        name: m.name.clone(),
        ip: m.ip,
        pod_cidrs: m.all_pod_cidrs(),
        gateway_ip: m.gateway_ip,
    };
    assert_eq!(info.gateway(), Some(Ipv4Addr::new(10, 244, 1, 1)));

    let bad: core::Node = serde_json::from_value(json!({
        "metadata": {"name": "n2"}, "spec": {"podCIDR": "10.244.300.0/24"}}))
    .unwrap();
    assert_eq!(
        convert::node(&bad).unwrap_err().to_string(),
        "Node \"n2\": spec.podCIDR: invalid CIDR \"10.244.300.0/24\""
    );
}

#[test]
fn policies_of_every_kind() {
    let knp = json!({
        "apiVersion": "crd.kakine.io/v1beta1", "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": "shop", "uid": "u", "generation": 3,
                     "managedFields": [{"manager": "kubectl"}]},
        "spec": {"priority": 5, "tier": "securityops",
                 "appliedTo": [{"podSelector": {}}],
                 "egress": [{"action": "Drop", "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]},
        "status": {"phase": "Realized"}
    });
    match convert::policy(&knp).unwrap() {
        PolicyObject::Antrea(p) => {
            assert_eq!(p.kind, AntreaKind::Namespaced);
            assert_eq!(p.full_name(), "shop/p");
            assert_eq!(p.spec.tier.as_deref(), Some("securityops"));
        }
        other => panic!("{other:?}"),
    }
    let k8s = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "deny", "namespace": "shop"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}
    });
    assert!(matches!(
        convert::policy(&k8s).unwrap(),
        PolicyObject::K8s(_)
    ));
    let anp = json!({
        "apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
        "metadata": {"name": "a"},
        "spec": {"priority": 10, "subject": {"namespaces": {}},
                 "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}]}
    });
    assert!(matches!(
        convert::policy(&anp).unwrap(),
        PolicyObject::Admin(_)
    ));
    let tier = json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "Tier",
                      "metadata": {"name": "devops"}, "spec": {"priority": 120}});
    assert!(matches!(
        convert::policy(&tier).unwrap(),
        PolicyObject::Tier(_)
    ));
}

#[test]
fn policy_errors_name_object_and_every_field() {
    let bad = json!({
        "apiVersion": "crd.kakine.io/v1beta1", "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "bad"},
        "spec": {"priority": 5, "appliedTo": [{"podSelector": {}}],
                 "ingress": [{"action": "Allow",
                              "from": [{"podSelector": {"matchLabels": {"app": "a b"}}}]},
                             {"action": "Accept"}]}
    });
    let e = convert::policy(&bad).unwrap_err();
    assert_eq!(e.object, "ClusterNetworkPolicy \"bad\"");
    assert_eq!(e.problems.len(), 2, "{e}");
    assert!(
        e.problems[0].starts_with("spec.ingress[0].from[0].podSelector.matchLabels.app"),
        "{e}"
    );
    assert!(e.problems[1].starts_with("spec.ingress[1].action"), "{e}");
    assert!(e.problems[1].contains("unknown action \"Accept\""), "{e}");
}
