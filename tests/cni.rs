//! kakine-cni through its binary, invoked as a runtime invokes it (`CNI_*` environment, the
//! network configuration on stdin), against a node made of a network namespace with its own
//! ovsdb-server, ovs-vswitchd and `kakine-agent --standalone --cni-socket`
//! ([`kakine::lab::cni_node`]). IPAM is Debian's host-local with a private data directory.
//! Verdicts come from real TCP between the pods' namespaces. Needs root, Open vSwitch,
//! iproute2, ethtool and containernetworking-plugins (`make deps`); fails (never skips)
//! without.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kakine::lab::cni_node::{Binaries, CniNode, CniRun, PREFIX};

const NETWORK: &str = "kakine-test";
const SMALL: &str = "kakine-small";

/// Three pods of one namespace on one node's pod CIDR; the model gives no MACs, so the
/// spoof guard can only pass traffic with the MACs the containers really have. Only `client`
/// may reach `server` on 8080; `tiny/one` is the pod of the exhausted /30 network.
const CLUSTER: &str = "\
apiVersion: kakine.io/v1alpha1
kind: Cluster
namespaces:
- name: shop
- name: tiny
pods:
- {namespace: shop, name: client, labels: {app: client}, ip: 10.77.1.10}
- {namespace: shop, name: server, labels: {app: server}, ip: 10.77.1.20, ports: [{port: 8080, protocol: TCP}]}
- {namespace: shop, name: other,  labels: {app: other},  ip: 10.77.1.30}
- {namespace: tiny, name: one,    labels: {app: one},    ip: 10.77.2.2}
- {namespace: tiny, name: two,    labels: {app: two},    ip: 10.77.2.3}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: server-from-client, namespace: shop}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{protocol: TCP, port: 8080}]
";

fn node(tag: &str) -> CniNode {
    let bins = Binaries {
        agent: env!("CARGO_BIN_EXE_kakine-agent").into(),
        cni: env!("CARGO_BIN_EXE_kakine-cni").into(),
        kakinectl: env!("CARGO_BIN_EXE_kakinectl").into(),
    };
    let tag = format!("{tag}{}", std::process::id() % 10_000);
    let mut n =
        CniNode::start(&tag, bins).expect("a node with its own OVS starts (root, Open vSwitch)");
    std::fs::write(n.input().join("cluster.yaml"), CLUSTER).unwrap();
    n.start_agent().expect("kakine-agent starts");
    n
}

/// The conflist entry a runtime streams: `subnet` is the node's pod CIDR for host-local.
fn conf(n: &CniNode, network: &str, subnet: &str, timeout_s: u64) -> String {
    serde_json::json!({
        "cniVersion": "1.0.0",
        "name": network,
        "type": "kakine-cni",
        "agentSocket": n.socket(),
        "agentTimeoutSeconds": timeout_s,
        "ifnamePrefix": PREFIX,
        "mtu": 1450,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]], "dataDir": n.ipam_dir()},
    })
    .to_string()
}

fn shop(n: &CniNode) -> String {
    conf(n, NETWORK, "10.77.1.0/24", 10)
}

/// The environment a kubelet-driven runtime gives: `IP=` asks host-local for the model's
/// address.
fn env(
    command: &str,
    container: &str,
    netns: Option<&Path>,
    pod: &str,
    ip: Option<&str>,
) -> Vec<(&'static str, String)> {
    let (ns, name) = pod.split_once('/').unwrap();
    let mut args = format!("IgnoreUnknown=1;K8S_POD_NAMESPACE={ns};K8S_POD_NAME={name};K8S_POD_INFRA_CONTAINER_ID={container}");
    if let Some(ip) = ip {
        args.push_str(&format!(";IP={ip}"));
    }
    let mut e = vec![
        ("CNI_COMMAND", command.to_string()),
        ("CNI_CONTAINERID", container.to_string()),
        ("CNI_IFNAME", "eth0".to_string()),
        ("CNI_ARGS", args),
        ("CNI_PATH", "/usr/lib/cni".to_string()),
    ];
    if let Some(p) = netns {
        e.push(("CNI_NETNS", p.display().to_string()));
    }
    e
}

fn host_ifname(pod: &str) -> String {
    let (ns, name) = pod.split_once('/').unwrap();
    kakine::agent::interfaces::host_ifname(PREFIX, ns, name)
}

/// `conf` with `prevResult` (what a runtime passes to CHECK and DEL).
fn with_prev(conf: &str, prev: &serde_json::Value) -> String {
    let mut v: serde_json::Value = serde_json::from_str(conf).unwrap();
    v["prevResult"] = prev.clone();
    v.to_string()
}

fn add(n: &mut CniNode, pod: &str, ip: &str) -> (PathBuf, serde_json::Value) {
    let netns = n.pod_netns(pod.split('/').nth(1).unwrap()).unwrap();
    let container = format!("c-{}", pod.replace('/', "-"));
    let r = n.cni(
        &env("ADD", &container, Some(&netns), pod, Some(ip)),
        &shop(n),
    );
    assert_eq!(r.code, 0, "ADD {pod}: {r:?}\nagent log:\n{}", n.agent_log());
    (netns, r.json)
}

#[track_caller]
fn assert_error(r: &CniRun, code: u64, words: &str) {
    assert_ne!(r.code, 0, "{r:?}");
    assert_eq!(r.error_code(), Some(code), "{r:?}");
    assert_eq!(r.json["cniVersion"], "1.0.0", "{r:?}");
    let msg = r.json["msg"].as_str().unwrap_or_default();
    assert!(msg.contains(words), "{words:?} not in {msg:?}");
}

/// Nothing of `pod` is left: no veth in the node, no port on the bridge; and host-local holds
/// exactly `held` of `network`.
#[track_caller]
fn assert_clean(n: &CniNode, pod: &str, network: &str, held: &[&str]) {
    let host = host_ifname(pod);
    assert!(
        !n.host_links().contains(&host),
        "veth {host} of {pod} left: {:?}",
        n.host_links()
    );
    assert!(
        !n.ports().contains(&host),
        "port {host} of {pod} left: {:?}",
        n.ports()
    );
    let want: Vec<Ipv4Addr> = held.iter().map(|a| a.parse().unwrap()).collect();
    assert_eq!(
        n.held_addresses(network),
        want,
        "addresses held by host-local for {network}"
    );
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn add_check_del_and_version_through_the_binary_with_traffic_under_the_policy() {
    let mut n = node("a");
    let v = n.cni(
        &[("CNI_COMMAND", "VERSION".into())],
        r#"{"cniVersion":"1.0.0"}"#,
    );
    assert_eq!(v.code, 0, "{v:?}");
    assert_eq!(v.json["supportedVersions"], serde_json::json!(["1.0.0"]));

    let (client, client_result) = add(&mut n, "shop/client", "10.77.1.10");
    let (server, server_result) = add(&mut n, "shop/server", "10.77.1.20");
    let (other, other_result) = add(&mut n, "shop/other", "10.77.1.30");
    n.serve(&server, &[8080]).unwrap();

    // The result: host veth, container interface in the namespace, address, gateway, route.
    let r = &client_result;
    assert_eq!(r["cniVersion"], "1.0.0");
    assert_eq!(r["interfaces"][0]["name"], host_ifname("shop/client"));
    assert_eq!(r["interfaces"][1]["name"], "eth0");
    assert_eq!(r["interfaces"][1]["sandbox"], client.display().to_string());
    assert_eq!(
        r["ips"],
        serde_json::json!([{"address": "10.77.1.10/24", "gateway": "10.77.1.1", "interface": 1}])
    );
    assert_eq!(
        r["routes"],
        serde_json::json!([{"dst": "0.0.0.0/0", "gw": "10.77.1.1"}])
    );
    let mac = r["interfaces"][1]["mac"].as_str().unwrap().to_string();
    assert_ne!(
        mac, "0a:58:0a:4d:01:0a",
        "the kernel's MAC, not the model's default"
    );
    // The port carries the attachment, with the container's real MAC.
    let port = host_ifname("shop/client");
    let ids = n
        .vsctl(&["get", "Interface", &port, "external_ids"])
        .unwrap();
    for part in [
        format!("mac=\"{mac}\""),
        "container-id=c-shop-client".into(),
        "ip=\"10.77.1.10\"".into(),
    ] {
        assert!(ids.contains(&part), "{part} not in {ids}");
    }
    let mtu = n
        .exec(
            "nsenter",
            &[
                &format!("--net={}", client.display()),
                "ip",
                "-o",
                "link",
                "show",
                "eth0",
            ],
        )
        .unwrap();
    assert!(mtu.contains("mtu 1450"), "{mtu}");
    let offload = n
        .exec(
            "nsenter",
            &[
                &format!("--net={}", client.display()),
                "ethtool",
                "-k",
                "eth0",
            ],
        )
        .unwrap();
    assert!(offload.contains("tx-checksumming: off"), "{offload}");

    // ADD returned after the commit: the policy holds at once, with the containers' MACs.
    let t = Duration::from_millis(1000);
    let connects =
        |n: &CniNode, from: &Path| (0..3).any(|_| n.connects(from, ip("10.77.1.20"), 8080, t));
    assert!(connects(&n, &client), "client -> server:8080 is allowed");
    assert!(
        !n.connects(&other, ip("10.77.1.20"), 8080, t),
        "other -> server:8080 is dropped"
    );

    // CHECK with the ADD result.
    let check = |n: &CniNode, pod: &str, netns: &Path, prev: &serde_json::Value| {
        let container = format!("c-{}", pod.replace('/', "-"));
        n.cni(
            &env("CHECK", &container, Some(netns), pod, None),
            &with_prev(&shop(n), prev),
        )
    };
    let c = check(&n, "shop/client", &client, &client_result);
    assert_eq!(c.code, 0, "{c:?}");
    assert!(c.stdout.trim().is_empty(), "CHECK prints nothing: {c:?}");
    // A CHECK whose default route went missing says so.
    n.exec(
        "nsenter",
        &[
            &format!("--net={}", other.display()),
            "ip",
            "route",
            "del",
            "default",
        ],
    )
    .unwrap();
    let c = check(&n, "shop/other", &other, &other_result);
    assert_error(&c, 103, "no default route via 10.77.1.1");

    // The agent restarts: the attachments come back from the ports, the MACs with them.
    n.stop_agent();
    n.start_agent().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let c = check(&n, "shop/client", &client, &client_result);
        if c.code == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "CHECK after the agent's restart: {c:?}\n{}",
            n.agent_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        connects(&n, &client),
        "client -> server:8080 after the agent's restart"
    );

    // DEL: no veth, no port, no address held; again: still fine (idempotent).
    for _ in 0..2 {
        let d = n.cni(
            &env("DEL", "c-shop-client", Some(&client), "shop/client", None),
            &with_prev(&shop(&n), &client_result),
        );
        assert_eq!(d.code, 0, "{d:?}");
        assert_clean(&n, "shop/client", NETWORK, &["10.77.1.20", "10.77.1.30"]);
    }
    // A runtime's DEL after the namespace is gone, without CNI_NETNS.
    n.delete_pod_netns(&server);
    let d = n.cni(
        &env("DEL", "c-shop-server", None, "shop/server", None),
        &shop(&n),
    );
    assert_eq!(d.code, 0, "{d:?}");
    assert_clean(&n, "shop/server", NETWORK, &["10.77.1.30"]);
    let _ = server_result;
}

#[test]
fn bad_input_gets_the_spec_codes_and_leaves_nothing_behind() {
    let mut n = node("b");
    let netns = n.pod_netns("client").unwrap();
    let good = shop(&n);
    let add_env = env("ADD", "c1", Some(&netns), "shop/client", Some("10.77.1.10"));

    // Malformed configuration, unknown version, missing CNI_NETNS, a namespace that is gone.
    assert_error(
        &n.cni(&add_env, "{\"cniVersion\": "),
        6,
        "network configuration on stdin",
    );
    assert_error(
        &n.cni(&add_env, &good.replace("1.0.0", "9.9.9")),
        1,
        "\"9.9.9\"",
    );
    let no_netns: Vec<_> = add_env
        .iter()
        .filter(|(k, _)| *k != "CNI_NETNS")
        .cloned()
        .collect();
    assert_error(&n.cni(&no_netns, &good), 4, "CNI_NETNS: missing");
    let gone = env(
        "ADD",
        "c1",
        Some(Path::new("/var/run/netns/kk-no-such-ns")),
        "shop/client",
        Some("10.77.1.10"),
    );
    assert_error(&n.cni(&gone, &good), 3, "no such network namespace");
    assert_clean(&n, "shop/client", NETWORK, &[]);

    // The agent refuses: an IP other than the input's (at once), a pod not in its input
    // (after the timeout).
    let wrong_ip = env("ADD", "c1", Some(&netns), "shop/client", Some("10.77.1.99"));
    assert_error(
        &n.cni(&wrong_ip, &good),
        104,
        "has IP 10.77.1.10 in the agent's input, IPAM gave 10.77.1.99",
    );
    assert_clean(&n, "shop/client", NETWORK, &[]);
    let ghost = env("ADD", "c9", Some(&netns), "shop/ghost", None);
    let t = Instant::now();
    let r = n.cni(&ghost, &conf(&n, NETWORK, "10.77.1.0/24", 1));
    assert_error(&r, 104, "pod shop/ghost is not in the agent's input");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "refused after its 1 s timeout: {:?}",
        t.elapsed()
    );
    assert_clean(&n, "shop/ghost", NETWORK, &[]);
    // DEL after a failed ADD is clean.
    let d = n.cni(&env("DEL", "c9", Some(&netns), "shop/ghost", None), &good);
    assert_eq!(d.code, 0, "{d:?}");
    assert_clean(&n, "shop/ghost", NETWORK, &[]);

    // ADD of a container that exists: refused, and the first stays attached.
    let ok = n.cni(&add_env, &good);
    assert_eq!(ok.code, 0, "{ok:?}\n{}", n.agent_log());
    let again = n.cni(&add_env, &good);
    assert_error(&again, 105, "exists already");
    assert!(
        n.ports().contains(&host_ifname("shop/client")),
        "the first ADD's port stays"
    );
    assert_eq!(n.held_addresses(NETWORK), vec![ip("10.77.1.10")]);

    // Another live pod's MAC is refused (it would take over that pod's L2 forwarding), and so
    // is the gateway's; nothing is left behind.
    let client_mac = ok.json["interfaces"][1]["mac"]
        .as_str()
        .unwrap()
        .to_string();
    let server = n.pod_netns("server").unwrap();
    for (mac, why) in [
        (client_mac.as_str(), "is pod shop/client's (container c1)"),
        ("0a:6b:6b:00:00:01", "is the gateway's"),
    ] {
        let mut e = env(
            "ADD",
            "c-s",
            Some(&server),
            "shop/server",
            Some("10.77.1.20"),
        );
        e.iter_mut()
            .filter(|(k, _)| *k == "CNI_ARGS")
            .for_each(|(_, v)| v.push_str(&format!(";MAC={mac}")));
        assert_error(&n.cni(&e, &good), 104, why);
        assert_clean(&n, "shop/server", NETWORK, &["10.77.1.10"]);
    }

    // IPAM exhausted: a /30 has one address for pods.
    let small = conf(&n, SMALL, "10.77.2.0/30", 10);
    let one = n.pod_netns("one").unwrap();
    let r = n.cni(&env("ADD", "c-one", Some(&one), "tiny/one", None), &small);
    assert_eq!(r.code, 0, "{r:?}\n{}", n.agent_log());
    let two = n.pod_netns("two").unwrap();
    let r = n.cni(&env("ADD", "c-two", Some(&two), "tiny/two", None), &small);
    assert_error(&r, 101, "no IP addresses available");
    assert_clean(&n, "tiny/two", SMALL, &["10.77.2.2"]);
    let d = n.cni(&env("DEL", "c-two", Some(&two), "tiny/two", None), &small);
    assert_eq!(d.code, 0, "DEL after a failed ADD: {d:?}");
    assert_clean(&n, "tiny/two", SMALL, &["10.77.2.2"]);

    // The agent is down: ADD fails (try again later) and leaves nothing; DEL still succeeds.
    n.stop_agent();
    let server = n.pod_netns("server").unwrap();
    let r = n.cni(
        &env(
            "ADD",
            "c-s",
            Some(&server),
            "shop/server",
            Some("10.77.1.20"),
        ),
        &good,
    );
    assert_error(&r, 11, "is kakine-agent running");
    assert_clean(&n, "shop/server", NETWORK, &["10.77.1.10"]);
    let d = n.cni(
        &env("DEL", "c-s", Some(&server), "shop/server", None),
        &good,
    );
    assert_eq!(d.code, 0, "DEL with the agent down: {d:?}");
    let d = n.cni(&env("DEL", "c1", Some(&netns), "shop/client", None), &good);
    assert_eq!(d.code, 0, "DEL with the agent down: {d:?}");
    assert!(!n.host_links().contains(&host_ifname("shop/client")));
    assert_eq!(n.held_addresses(NETWORK), Vec::<Ipv4Addr>::new());
    // Back up, the agent sweeps the port whose veth went while it was down.
    n.start_agent().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while n.ports().contains(&host_ifname("shop/client")) {
        assert!(
            Instant::now() < deadline,
            "stale port not swept:\n{}",
            n.agent_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What a runtime does with a conflist (SPEC.md "Network configuration lists"): each plugin
/// gets its entry with the list's `name` and `cniVersion`, the `runtimeConfig` of the
/// capabilities it declares, and the previous plugin's result as `prevResult`; DEL runs them
/// in reverse order.
fn run_conflist(
    n: &CniNode,
    list: &serde_json::Value,
    env: &[(&'static str, String)],
    runtime: &serde_json::Value,
    prev: Option<&serde_json::Value>,
) -> serde_json::Value {
    let mut plugins: Vec<&serde_json::Value> = list["plugins"].as_array().unwrap().iter().collect();
    let del = env.iter().any(|(k, v)| *k == "CNI_COMMAND" && v == "DEL");
    if del {
        plugins.reverse();
    }
    let mut result = prev.cloned();
    for p in plugins {
        let mut conf = p.clone();
        conf["name"] = list["name"].clone();
        conf["cniVersion"] = list["cniVersion"].clone();
        if let Some(caps) = p["capabilities"].as_object() {
            let rc: serde_json::Map<_, _> = caps
                .keys()
                .filter_map(|k| Some((k.clone(), runtime.get(k)?.clone())))
                .collect();
            conf["runtimeConfig"] = rc.into();
        }
        if let Some(r) = &result {
            conf["prevResult"] = r.clone();
        }
        let ty = p["type"].as_str().unwrap();
        let exe = if ty == "kakine-cni" {
            PathBuf::from(env!("CARGO_BIN_EXE_kakine-cni"))
        } else {
            Path::new("/usr/lib/cni").join(ty)
        };
        let r = n.plugin(&exe, env, &conf.to_string());
        assert_eq!(r.code, 0, "{ty}: {r:?}\n{}", n.agent_log());
        if !del {
            result = Some(r.json);
        }
    }
    result.unwrap_or_default()
}

#[test]
fn the_example_conflist_chains_portmap_for_host_port_dnat() {
    let mut n = node("c");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/cni/10-kakine.conflist"),
    )
    .unwrap();
    let mut list: serde_json::Value = serde_json::from_str(&text).unwrap();
    // This node's socket, pod CIDR and data directory instead of a real node's.
    let k = &mut list["plugins"][0];
    k["agentSocket"] = n.socket().display().to_string().into();
    k["ifnamePrefix"] = PREFIX.into();
    k["ipam"]["ranges"] = serde_json::json!([[{"subnet": "10.77.1.0/24"}]]);
    k["ipam"]["dataDir"] = n.ipam_dir().display().to_string().into();
    let netns = n.pod_netns("server").unwrap();
    let runtime = serde_json::json!({
        "portMappings": [{"hostPort": 18080, "containerPort": 8080, "protocol": "tcp"}]
    });
    let add = env(
        "ADD",
        "c-srv",
        Some(&netns),
        "shop/server",
        Some("10.77.1.20"),
    );
    let result = run_conflist(&n, &list, &add, &runtime, None);
    // portmap passes kakine-cni's result on.
    assert_eq!(result["ips"][0]["address"], "10.77.1.20/24", "{result}");
    let nat = n.exec("iptables-save", &["-t", "nat"]).unwrap();
    assert!(
        nat.contains("--dport 18080") && nat.contains("--to-destination 10.77.1.20:8080"),
        "no hostPort DNAT in the node's nat table:\n{nat}"
    );
    let del = env("DEL", "c-srv", Some(&netns), "shop/server", None);
    run_conflist(&n, &list, &del, &runtime, Some(&result));
    let nat = n.exec("iptables-save", &["-t", "nat"]).unwrap();
    assert!(
        !nat.contains("10.77.1.20:8080"),
        "DNAT left after DEL:\n{nat}"
    );
    assert_clean(&n, "shop/server", "kakine", &[]);
}
