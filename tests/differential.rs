//! Differential test: for random clusters and random policy sets of every input API (Antrea
//! ClusterNetworkPolicy in every built-in tier and namespaced NetworkPolicy, ClusterGroups with
//! ipBlocks and childGroups, K8s NetworkPolicy, AdminNetworkPolicy, the
//! BaselineAdminNetworkPolicy, v1alpha2 ClusterNetworkPolicy in both tiers; named ports, ICMP and
//! sourcePort rules), the compiled flows running on the FakeSwitch give the same verdict and the
//! same deciding rules as the reference evaluator, for every probe (TCP, UDP, an ICMP echo, and a
//! TCP connection from a fixed source port).
//!
//! A failure prints the minimal case (proptest shrinks it) in the scenario format (JSON is YAML),
//! ready to drop into a file and run with `kakinectl test --engine sim`.
//! `PROPTEST_CASES=5000 cargo test --test differential` (or `make proptest`) runs more cases.
//!
//! A sample of the same random cases (fixed seed) also runs on a real Open vSwitch programmed by
//! the agent (`--engine ovs`, `ofproto/trace`): `OVS_DIFFERENTIAL_CASES` sets how many (10).

use std::path::Path;

use kakine::lab::engine::{Backend, Engine, Oracle, OvsMode};
use kakine::policy::load::{parse_document, Parsed};
use kakine::policy::resolved::Protocol;
use kakine::policy::{resolve, Cluster, Destination, PolicySet, Probe};
use proptest::prelude::*;
use serde_json::{json, Value};

const NAMESPACES: [&str; 3] = ["ns0", "ns1", "ns2"];
const APPS: [&str; 3] = ["a0", "a1", "a2"];
const TIERS: [&str; 4] = ["securityops", "platform", "application", "baseline"];
/// An ICMP echo request's probe port (`icmp_port(8, 0)`).
const ECHO: u16 = 8 << 8;
/// The source port of the source-port probe: inside `Port::Src(true)`'s range, outside
/// `Port::Src(false)`'s.
const SOURCE_PORT: u16 = 30005;
/// Probes: protocol, destination port (ICMP: type and code), source port.
const PROBES: [(Protocol, u16, Option<u16>); 6] = [
    (Protocol::Tcp, 80, None),
    (Protocol::Tcp, 81, None),
    (Protocol::Tcp, 8080, None),
    (Protocol::Udp, 53, None),
    (Protocol::Tcp, 80, Some(SOURCE_PORT)),
    (Protocol::Icmp, ECHO, None),
];

#[derive(Debug, Clone)]
struct PodSpec {
    ns: usize,
    app: usize,
    role: bool,
    web: bool,
    /// Dual stack: the pod has an IPv6 address too ([`pod_ip6`]).
    v6: bool,
}

#[derive(Debug, Clone)]
enum Sel {
    All,
    App(usize),
    NotApp(usize),
    Role,
}

#[derive(Debug, Clone)]
enum NsSel {
    All,
    Name(usize),
    NotName(usize),
    Prod,
}

#[derive(Debug, Clone)]
enum Peer {
    Pods(Sel),
    Ns(NsSel),
    NsPods(NsSel, Sel),
    /// A block around pod `pod`'s address, `/prefix`, optionally minus that pod.
    Block {
        pod: usize,
        prefix: u8,
        except_pod: bool,
    },
    /// ClusterGroup `cg<n>` (ClusterNetworkPolicy only; elsewhere all pods of the namespace).
    Group(usize),
    /// `namespaces: {match: Self}` (ClusterNetworkPolicy only; elsewhere all pods).
    SelfNs,
    /// `namespaces: {sameLabels: [env]}` (ClusterNetworkPolicy only; elsewhere all pods).
    SameEnv,
}

#[derive(Debug, Clone)]
enum Port {
    Num(u16),
    Range(u16, u16),
    Named(&'static str),
    Udp53,
    AllTcp,
    /// ICMP: echo request only (`true`) or any type.
    Icmp(bool),
    /// TCP 80 from source ports 30000..=30010 (`true`, the probe's source port inside) or
    /// 40000..=40010 (outside). Antrea only; elsewhere TCP 80.
    Src(bool),
}

#[derive(Debug, Clone)]
struct Rule {
    ingress: bool,
    action: usize,
    peers: Option<Vec<Peer>>,
    ports: Option<Vec<Port>>,
}

#[derive(Debug, Clone)]
struct Acnp {
    tier: usize,
    priority: u8,
    applied: (NsSel, Sel),
    /// `appliedTo: [{group: cg<n>}]` instead, when there are groups.
    applied_group: Option<usize>,
    rules: Vec<Rule>,
}

/// A K8s NetworkPolicy rule: peers (`None` = absent) and ports (`None` = absent).
type K8sRule = (Option<Vec<Peer>>, Option<Vec<Port>>);

#[derive(Debug, Clone)]
struct K8sNp {
    ns: usize,
    sel: Sel,
    types: usize,
    ingress: Vec<K8sRule>,
    egress: Vec<K8sRule>,
}

/// A ClusterGroup `cg<i>`.
#[derive(Debug, Clone)]
enum GroupSpec {
    Pods(NsSel, Sel),
    /// An ipBlock, as [`Peer::Block`].
    Block(usize, u8, bool),
    /// childGroups: the listed groups that have no children of their own.
    Children(Vec<usize>),
}

/// An Antrea namespaced NetworkPolicy.
#[derive(Debug, Clone)]
struct Annp {
    ns: usize,
    tier: usize,
    priority: u8,
    sel: Sel,
    rules: Vec<Rule>,
}

/// An upstream (network-policy-api) policy: AdminNetworkPolicy, the BaselineAdminNetworkPolicy,
/// or a v1alpha2 ClusterNetworkPolicy (`baseline` picks its tier).
#[derive(Debug, Clone)]
struct Upstream {
    baseline: bool,
    priority: u8,
    subject: (NsSel, Option<Sel>),
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Case {
    pods: Vec<PodSpec>,
    groups: Vec<GroupSpec>,
    acnps: Vec<Acnp>,
    annps: Vec<Annp>,
    k8s: Vec<K8sNp>,
    anps: Vec<Upstream>,
    banp: Option<Upstream>,
    cnps: Vec<Upstream>,
}

fn sel() -> impl Strategy<Value = Sel> {
    prop_oneof![
        Just(Sel::All),
        (0..3usize).prop_map(Sel::App),
        (0..3usize).prop_map(Sel::NotApp),
        Just(Sel::Role)
    ]
}

fn ns_sel() -> impl Strategy<Value = NsSel> {
    prop_oneof![
        Just(NsSel::All),
        (0..3usize).prop_map(NsSel::Name),
        (0..3usize).prop_map(NsSel::NotName),
        Just(NsSel::Prod)
    ]
}

fn peer() -> impl Strategy<Value = Peer> {
    prop_oneof![
        sel().prop_map(Peer::Pods),
        ns_sel().prop_map(Peer::Ns),
        (ns_sel(), sel()).prop_map(|(n, s)| Peer::NsPods(n, s)),
        (0..8usize, block_prefix(), any::<bool>()).prop_map(|(pod, prefix, except_pod)| {
            Peer::Block {
                pod,
                prefix,
                except_pod,
            }
        }),
        (0..3usize).prop_map(Peer::Group),
        Just(Peer::SelfNs),
        Just(Peer::SameEnv),
    ]
}

fn port() -> impl Strategy<Value = Port> {
    prop_oneof![
        prop_oneof![Just(80u16), Just(81), Just(8080)].prop_map(Port::Num),
        Just(Port::Range(80, 81)),
        Just(Port::Range(81, 8080)),
        prop_oneof![Just("http"), Just("web"), Just("dns")].prop_map(Port::Named),
        Just(Port::Udp53),
        Just(Port::AllTcp),
        any::<bool>().prop_map(Port::Icmp),
        any::<bool>().prop_map(Port::Src),
    ]
}

fn peers() -> impl Strategy<Value = Option<Vec<Peer>>> {
    prop::option::weighted(0.8, prop::collection::vec(peer(), 0..3))
}

fn ports() -> impl Strategy<Value = Option<Vec<Port>>> {
    prop::option::weighted(0.6, prop::collection::vec(port(), 0..3))
}

fn rule() -> impl Strategy<Value = Rule> {
    (any::<bool>(), 0..4usize, peers(), ports()).prop_map(|(ingress, action, peers, ports)| Rule {
        ingress,
        action,
        peers: peers.map(|p| {
            if p.is_empty() {
                vec![Peer::Pods(Sel::All)]
            } else {
                p
            }
        }),
        ports: ports.map(|p| if p.is_empty() { vec![Port::AllTcp] } else { p }),
    })
}

fn case() -> impl Strategy<Value = Case> {
    let pod = (
        0..3usize,
        0..3usize,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(ns, app, role, web, v6)| PodSpec {
            ns,
            app,
            role,
            web,
            v6,
        });
    let acnp = (
        0..4usize,
        1..4u8,
        (ns_sel(), sel()),
        prop::option::weighted(0.2, 0..3usize),
        prop::collection::vec(rule(), 1..4),
    )
        .prop_map(|(tier, priority, applied, applied_group, rules)| Acnp {
            tier,
            priority,
            applied,
            applied_group,
            rules,
        });
    let k8s_rules = || prop::collection::vec((peers(), ports()), 0..3);
    let k8s = (0..3usize, sel(), 0..3usize, k8s_rules(), k8s_rules()).prop_map(
        |(ns, sel, types, ingress, egress)| K8sNp {
            ns,
            sel,
            types,
            ingress,
            egress,
        },
    );
    let group = prop_oneof![
        (ns_sel(), sel()).prop_map(|(n, s)| GroupSpec::Pods(n, s)),
        (0..8usize, block_prefix(), any::<bool>())
            .prop_map(|(pod, prefix, except)| GroupSpec::Block(pod, prefix, except)),
        prop::collection::vec(0..3usize, 1..3).prop_map(GroupSpec::Children),
    ];
    let annp = (
        0..3usize,
        0..4usize,
        1..4u8,
        sel(),
        prop::collection::vec(rule(), 1..3),
    )
        .prop_map(|(ns, tier, priority, sel, rules)| Annp {
            ns,
            tier,
            priority,
            sel,
            rules,
        });
    let upstream = || {
        (
            any::<bool>(),
            0..4u8,
            (ns_sel(), prop::option::of(sel())),
            prop::collection::vec(rule(), 1..4),
        )
            .prop_map(|(baseline, priority, subject, rules)| Upstream {
                baseline,
                priority,
                subject,
                rules,
            })
    };
    (
        (
            prop::collection::vec(pod, 2..7),
            prop::collection::vec(group, 0..3),
            prop::collection::vec(acnp, 0..3),
            prop::collection::vec(annp, 0..2),
        ),
        (
            prop::collection::vec(k8s, 0..3),
            prop::collection::vec(upstream(), 0..3),
            prop::option::weighted(0.3, upstream()),
            prop::collection::vec(upstream(), 0..3),
        ),
    )
        .prop_map(
            |((pods, groups, acnps, annps), (k8s, anps, banp, cnps))| Case {
                pods,
                groups,
                acnps,
                annps,
                k8s,
                anps,
                banp,
                cnps,
            },
        )
}

fn pod_ip(case: &Case, i: usize) -> String {
    format!("10.1.{}.{}", case.pods[i].ns, 10 + i)
}

/// The IPv6 address pod `i` has when it is dual stack (and an ipBlock of its can name anyway).
fn pod_ip6(case: &Case, i: usize) -> std::net::Ipv6Addr {
    format!("fd00:{}::{:x}", case.pods[i].ns, 10 + i)
        .parse()
        .unwrap()
}

/// An ipBlock's prefix length: 32, 24 or 16 of a pod's IPv4 address, or 128, 120 or 112 of
/// its IPv6 address.
fn block_prefix() -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(32u8),
        Just(24),
        Just(16),
        Just(128),
        Just(120),
        Just(112)
    ]
}

fn sel_json(s: &Sel) -> Value {
    match s {
        Sel::All => json!({}),
        Sel::App(a) => json!({"matchLabels": {"app": APPS[*a]}}),
        Sel::NotApp(a) => {
            json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": [APPS[*a]]}]})
        }
        Sel::Role => json!({"matchExpressions": [{"key": "role", "operator": "Exists"}]}),
    }
}

fn ns_sel_json(s: &NsSel) -> Value {
    match s {
        NsSel::All => json!({}),
        NsSel::Name(n) => json!({"matchLabels": {"kubernetes.io/metadata.name": NAMESPACES[*n]}}),
        NsSel::NotName(n) => json!({"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [NAMESPACES[*n]]}]}),
        NsSel::Prod => json!({"matchLabels": {"env": "prod"}}),
    }
}

/// Which API a peer or port is written for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Api {
    /// Antrea ClusterNetworkPolicy: every peer and port kind.
    Acnp,
    /// Antrea namespaced NetworkPolicy: no groups, no `namespaces` peers.
    Annp,
    /// K8s NetworkPolicy: no groups, no `namespaces` peers, no ICMP, no source ports.
    K8s,
}

fn block_cidr(case: &Case, pod: usize, prefix: u8, except_pod: bool) -> Value {
    let i = pod % case.pods.len();
    let ip: std::net::IpAddr = match prefix {
        0..=32 => std::net::IpAddr::V4(pod_ip(case, i).parse().unwrap()),
        _ => std::net::IpAddr::V6(pod_ip6(case, i)),
    };
    let net = ipnet::IpNet::new(ip, prefix).unwrap().trunc();
    let mut block = json!({"cidr": net.to_string()});
    if except_pod && prefix < net.max_prefix_len() {
        block["except"] = json!([format!("{ip}/{}", net.max_prefix_len())]);
    }
    block
}

fn peer_json(case: &Case, api: Api, p: &Peer) -> Value {
    match p {
        Peer::Pods(s) => json!({"podSelector": sel_json(s)}),
        Peer::Ns(n) => json!({"namespaceSelector": ns_sel_json(n)}),
        Peer::NsPods(n, s) => {
            json!({"namespaceSelector": ns_sel_json(n), "podSelector": sel_json(s)})
        }
        Peer::Block {
            pod,
            prefix,
            except_pod,
        } => json!({"ipBlock": block_cidr(case, *pod, *prefix, *except_pod)}),
        Peer::Group(g) if api == Api::Acnp && !case.groups.is_empty() => {
            json!({"group": format!("cg{}", g % case.groups.len())})
        }
        Peer::SelfNs if api == Api::Acnp => json!({"namespaces": {"match": "Self"}}),
        Peer::SameEnv if api == Api::Acnp => json!({"namespaces": {"sameLabels": ["env"]}}),
        Peer::Group(_) | Peer::SelfNs | Peer::SameEnv => json!({"podSelector": {}}),
    }
}

/// A rule's `ports` and (Antrea) `protocols`.
fn ports_json(api: Api, ports: &[Port]) -> (Vec<Value>, Vec<Value>) {
    let mut out = Vec::new();
    let mut protocols = Vec::new();
    for p in ports {
        out.push(match p {
            Port::Num(n) => json!({"protocol": "TCP", "port": n}),
            Port::Range(a, b) => json!({"protocol": "TCP", "port": a, "endPort": b}),
            Port::Named(n) if *n == "dns" => json!({"protocol": "UDP", "port": n}),
            Port::Named(n) => json!({"protocol": "TCP", "port": n}),
            Port::Udp53 => json!({"protocol": "UDP", "port": 53}),
            Port::AllTcp => json!({"protocol": "TCP"}),
            Port::Icmp(echo) if api != Api::K8s => {
                protocols.push(if *echo {
                    json!({"icmp": {"icmpType": 8, "icmpCode": 0}})
                } else {
                    json!({"icmp": {}})
                });
                continue;
            }
            Port::Src(inside) if api != Api::K8s => {
                let lo = if *inside { 30000 } else { 40000 };
                json!({"protocol": "TCP", "port": 80, "sourcePort": lo, "sourceEndPort": lo + 10})
            }
            Port::Icmp(_) => json!({"protocol": "UDP", "port": 53}),
            Port::Src(_) => json!({"protocol": "TCP", "port": 80}),
        });
    }
    (out, protocols)
}

/// An upstream policy's peer; `egress` admits `networks`.
fn upstream_peer_json(case: &Case, egress: bool, p: &Peer) -> Value {
    let pods = |n: &NsSel, s: &Sel| json!({"pods": {"namespaceSelector": ns_sel_json(n), "podSelector": sel_json(s)}});
    match p {
        Peer::Pods(s) => pods(&NsSel::All, s),
        Peer::Ns(n) => json!({"namespaces": ns_sel_json(n)}),
        Peer::NsPods(n, s) => pods(n, s),
        Peer::Block { pod, prefix, .. } if egress => {
            json!({"networks": [block_cidr(case, *pod, *prefix, false)["cidr"]]})
        }
        Peer::Block { .. } => json!({"namespaces": ns_sel_json(&NsSel::Prod)}),
        Peer::Group(_) | Peer::SelfNs | Peer::SameEnv => json!({"namespaces": {}}),
    }
}

/// A v1alpha1 `ports` entry.
fn v1alpha1_port_json(p: &Port) -> Value {
    match p {
        Port::Num(n) => json!({"portNumber": {"protocol": "TCP", "port": n}}),
        Port::Range(a, b) => json!({"portRange": {"protocol": "TCP", "start": a, "end": b}}),
        Port::Named(n) => json!({"namedPort": n}),
        Port::Udp53 | Port::Icmp(_) => json!({"portNumber": {"protocol": "UDP", "port": 53}}),
        Port::AllTcp => json!({"portRange": {"protocol": "TCP", "start": 1, "end": 65535}}),
        Port::Src(_) => json!({"portNumber": {"protocol": "TCP", "port": 80}}),
    }
}

/// A v1alpha2 `protocols` entry; `named` says whether the rule's peers admit named ports.
fn v1alpha2_protocol_json(p: &Port, named: bool) -> Value {
    match p {
        Port::Num(n) => json!({"tcp": {"destinationPort": {"number": n}}}),
        Port::Range(a, b) => {
            json!({"tcp": {"destinationPort": {"range": {"start": a, "end": b}}}})
        }
        Port::Named(n) if named => json!({"destinationNamedPort": n}),
        Port::Udp53 | Port::Icmp(_) => json!({"udp": {"destinationPort": {"number": 53}}}),
        Port::AllTcp => json!({"tcp": {"destinationPort": {"range": {"start": 1, "end": 65535}}}}),
        Port::Named(_) | Port::Src(_) => json!({"tcp": {"destinationPort": {"number": 80}}}),
    }
}

/// An Antrea rule (ClusterNetworkPolicy or namespaced NetworkPolicy).
fn antrea_rule_json(case: &Case, api: Api, tier: &str, j: usize, r: &Rule) -> Value {
    let mut action = ["Allow", "Drop", "Pass", "Reject"][r.action];
    if action == "Pass" && tier == "baseline" {
        action = "Drop";
    }
    let mut rule = json!({"name": format!("r{j}"), "action": action});
    if let Some(peers) = &r.peers {
        let key = if r.ingress { "from" } else { "to" };
        rule[key] = Value::Array(peers.iter().map(|p| peer_json(case, api, p)).collect());
    }
    if let Some(ports) = &r.ports {
        let (ports, protocols) = ports_json(api, ports);
        if !ports.is_empty() {
            rule["ports"] = Value::Array(ports);
        }
        if !protocols.is_empty() {
            rule["protocols"] = Value::Array(protocols);
        }
    }
    rule
}

/// Which upstream kind an [`Upstream`] is written as.
#[derive(Debug, Clone, Copy, PartialEq)]
enum UpstreamKind {
    Anp,
    Banp,
    V1Alpha2,
}

fn upstream_json(case: &Case, kind: UpstreamKind, name: String, u: &Upstream) -> Value {
    let subject = match &u.subject {
        (n, None) => json!({"namespaces": ns_sel_json(n)}),
        (n, Some(s)) => {
            json!({"pods": {"namespaceSelector": ns_sel_json(n), "podSelector": sel_json(s)}})
        }
    };
    let (mut ingress, mut egress) = (Vec::new(), Vec::new());
    for (j, r) in u.rules.iter().enumerate() {
        let action = match kind {
            UpstreamKind::Anp => ["Allow", "Deny", "Pass", "Deny"][r.action],
            UpstreamKind::Banp => ["Allow", "Deny", "Allow", "Deny"][r.action],
            UpstreamKind::V1Alpha2 => ["Accept", "Deny", "Pass", "Deny"][r.action],
        };
        let peers = r
            .peers
            .clone()
            .unwrap_or_else(|| vec![Peer::Ns(NsSel::All)]);
        let peers: Vec<Value> = peers
            .iter()
            .map(|p| upstream_peer_json(case, !r.ingress, p))
            .collect();
        let named = !peers.iter().any(|p| p.get("networks").is_some());
        let mut rule = json!({"name": format!("r{j}"), "action": action});
        rule[if r.ingress { "from" } else { "to" }] = Value::Array(peers);
        if let Some(ports) = &r.ports {
            rule[if kind == UpstreamKind::V1Alpha2 {
                "protocols"
            } else {
                "ports"
            }] = match kind {
                UpstreamKind::V1Alpha2 => ports
                    .iter()
                    .map(|p| v1alpha2_protocol_json(p, named))
                    .collect(),
                _ => ports.iter().map(v1alpha1_port_json).collect(),
            };
        }
        if r.ingress {
            ingress.push(rule)
        } else {
            egress.push(rule)
        }
    }
    let mut spec = json!({"subject": subject, "ingress": ingress, "egress": egress});
    let (api_version, kind_name) = match kind {
        UpstreamKind::Anp => {
            spec["priority"] = json!(u.priority);
            ("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy")
        }
        UpstreamKind::Banp => (
            "policy.networking.k8s.io/v1alpha1",
            "BaselineAdminNetworkPolicy",
        ),
        UpstreamKind::V1Alpha2 => {
            spec["priority"] = json!(u.priority);
            spec["tier"] = json!(if u.baseline { "Baseline" } else { "Admin" });
            ("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy")
        }
    };
    json!({"apiVersion": api_version, "kind": kind_name, "metadata": {"name": name}, "spec": spec})
}

fn group_json(case: &Case, i: usize, g: &GroupSpec) -> Value {
    let spec = match g {
        GroupSpec::Pods(n, s) => {
            json!({"namespaceSelector": ns_sel_json(n), "podSelector": sel_json(s)})
        }
        GroupSpec::Block(pod, prefix, except) => {
            json!({"ipBlocks": [block_cidr(case, *pod, *prefix, *except)]})
        }
        GroupSpec::Children(children) => {
            let mut names: Vec<String> = children
                .iter()
                .map(|c| c % case.groups.len())
                .filter(|c| *c != i && !matches!(case.groups[*c], GroupSpec::Children(_)))
                .map(|c| format!("cg{c}"))
                .collect();
            names.dedup();
            if names.is_empty() {
                json!({"podSelector": sel_json(&Sel::Role)})
            } else {
                json!({"childGroups": names})
            }
        }
    };
    json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterGroup",
           "metadata": {"name": format!("cg{i}")}, "spec": spec})
}

/// The case as a scenario document (format_version 1), without probes.
fn scenario(case: &Case) -> Value {
    let namespaces: Vec<Value> = NAMESPACES
        .iter()
        .enumerate()
        .map(|(i, n)| {
            json!({"name": n, "labels": {"kubernetes.io/metadata.name": n, "env": if i == 0 { "prod" } else { "dev" }}})
        })
        .collect();
    let pods: Vec<Value> = case
        .pods
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut labels = json!({"app": APPS[p.app]});
            if p.role {
                labels["role"] = json!("db");
            }
            let mut ports = vec![
                json!({"port": 80, "protocol": "TCP", "name": "http"}),
                json!({"port": 8080, "protocol": "TCP"}),
                json!({"port": 53, "protocol": "UDP", "name": "dns"}),
            ];
            ports.push(if p.web {
                json!({"port": 81, "protocol": "TCP", "name": "web"})
            } else {
                json!({"port": 81, "protocol": "TCP"})
            });
            let mut pod = json!({"namespace": NAMESPACES[p.ns], "name": format!("p{i}"),
                   "labels": labels, "ip": pod_ip(case, i), "ports": ports});
            if p.v6 {
                pod["ipv6"] = json!(pod_ip6(case, i).to_string());
            }
            pod
        })
        .collect();
    let mut resources = Vec::new();
    for (i, g) in case.groups.iter().enumerate() {
        resources.push(group_json(case, i, g));
    }
    for (i, a) in case.acnps.iter().enumerate() {
        let tier = TIERS[a.tier];
        let applied = match a.applied_group {
            Some(g) if !case.groups.is_empty() => {
                json!({"group": format!("cg{}", g % case.groups.len())})
            }
            _ => {
                json!({"namespaceSelector": ns_sel_json(&a.applied.0), "podSelector": sel_json(&a.applied.1)})
            }
        };
        let (mut ingress, mut egress) = (Vec::new(), Vec::new());
        for (j, r) in a.rules.iter().enumerate() {
            let rule = antrea_rule_json(case, Api::Acnp, tier, j, r);
            if r.ingress {
                ingress.push(rule)
            } else {
                egress.push(rule)
            }
        }
        resources.push(json!({
            "apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
            "metadata": {"name": format!("acnp{i}")},
            "spec": {"tier": tier, "priority": a.priority,
                     "appliedTo": [applied],
                     "ingress": ingress, "egress": egress}}));
    }
    for (i, a) in case.annps.iter().enumerate() {
        let tier = TIERS[a.tier];
        let (mut ingress, mut egress) = (Vec::new(), Vec::new());
        for (j, r) in a.rules.iter().enumerate() {
            let rule = antrea_rule_json(case, Api::Annp, tier, j, r);
            if r.ingress {
                ingress.push(rule)
            } else {
                egress.push(rule)
            }
        }
        resources.push(json!({
            "apiVersion": "crd.antrea.io/v1beta1", "kind": "NetworkPolicy",
            "metadata": {"name": format!("annp{i}"), "namespace": NAMESPACES[a.ns]},
            "spec": {"tier": tier, "priority": a.priority,
                     "appliedTo": [{"podSelector": sel_json(&a.sel)}],
                     "ingress": ingress, "egress": egress}}));
    }
    for (i, k) in case.k8s.iter().enumerate() {
        let types: Vec<&str> = match k.types {
            0 => vec!["Ingress"],
            1 => vec!["Egress"],
            _ => vec!["Ingress", "Egress"],
        };
        let rules = |rs: &[K8sRule], key: &str| -> Vec<Value> {
            rs.iter()
                .map(|(peers, ports)| {
                    let mut r = json!({});
                    if let Some(p) = peers {
                        r[key] =
                            Value::Array(p.iter().map(|p| peer_json(case, Api::K8s, p)).collect());
                    }
                    if let Some(p) = ports {
                        r["ports"] = Value::Array(ports_json(Api::K8s, p).0);
                    }
                    r
                })
                .collect()
        };
        resources.push(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": format!("np{i}"), "namespace": NAMESPACES[k.ns]},
            "spec": {"podSelector": sel_json(&k.sel), "policyTypes": types,
                     "ingress": rules(&k.ingress, "from"), "egress": rules(&k.egress, "to")}}));
    }
    for (i, u) in case.anps.iter().enumerate() {
        resources.push(upstream_json(case, UpstreamKind::Anp, format!("anp{i}"), u));
    }
    if let Some(u) = &case.banp {
        resources.push(upstream_json(case, UpstreamKind::Banp, "default".into(), u));
    }
    for (i, u) in case.cnps.iter().enumerate() {
        resources.push(upstream_json(
            case,
            UpstreamKind::V1Alpha2,
            format!("cnp{i}"),
            u,
        ));
    }
    json!({"format_version": 1, "id": "kakine-99-differential-failure", "title": "shrunk differential case",
           "cluster": {"namespaces": namespaces, "pods": pods},
           "steps": [{"name": "random", "resources": resources, "probes": []}]})
}

/// Runs every probe of the case through the reference evaluator and `engine`; returns the
/// mismatches as scenario probes (with the reference verdict as `expect`) and the scenario itself.
fn compare(case: &Case) -> Result<(), String> {
    compare_with(case, Engine::Sim)
}

fn compare_with(case: &Case, engine: Engine) -> Result<(), String> {
    let doc = scenario(case);
    let cluster: Cluster = serde_json::from_value(json!({
        "namespaces": doc["cluster"]["namespaces"], "pods": doc["cluster"]["pods"]}))
    .map_err(|e| format!("cluster: {e}"))?;
    let mut objects = PolicySet::default();
    for r in doc["steps"][0]["resources"].as_array().unwrap() {
        match parse_document(r, Path::new("random.yaml")).map_err(|e| e.to_string())? {
            Parsed::Object(o) => objects.push(*o),
            Parsed::Cluster(_) => unreachable!(),
        }
    }
    let resolved = resolve(&cluster, &objects).map_err(|e| e.to_string())?;
    let mut reference = Oracle::new(Engine::Reference, &resolved)?;
    let mut backend = Backend::start(engine, &cluster)?;
    let mut sim = backend.load(&resolved)?;
    let mut bad = Vec::new();
    for from in &resolved.pods {
        for to in &resolved.pods {
            if from.key == to.key {
                continue;
            }
            // Over IPv4, and between two dual-stack pods over IPv6 too.
            let mut destinations = vec![Destination::Pod(to.key.clone())];
            if let (Some(_), Some(v6)) = (from.ipv6, to.ipv6) {
                destinations.push(Destination::Ip(v6.into()));
            }
            for (destination, (protocol, port, source_port)) in destinations
                .iter()
                .flat_map(|d| PROBES.into_iter().map(move |p| (d, p)))
            {
                let probe = Probe {
                    from: from.key.clone(),
                    to: destination.clone(),
                    protocol,
                    port,
                    source_port,
                };
                let r = reference.decide(&probe)?;
                let s = sim.decide(&probe)?;
                if r.verdict != s.verdict || r.egress != s.egress || r.ingress != s.ingress {
                    let mut probe = json!({
                        "from": from.key.to_string(), "to": to.key.to_string(), "port": port,
                        "protocol": match protocol {
                            Protocol::Tcp => "TCP",
                            Protocol::Udp => "UDP",
                            Protocol::Sctp => "SCTP",
                            Protocol::Icmp => "ICMP",
                        },
                        "expect": r.verdict.to_string(),
                        "note": format!("{engine:?}: {} (egress {:?}, ingress {:?}); reference egress {:?}, ingress {:?}",
                            s.verdict, s.egress.map(|r| r.to_string()), s.ingress.map(|r| r.to_string()),
                            r.egress.map(|r| r.to_string()), r.ingress.map(|r| r.to_string()))
                    });
                    if protocol == Protocol::Icmp {
                        probe["port"] = json!(0);
                    }
                    if let Some(sport) = source_port {
                        probe["source_port"] = json!(sport);
                    }
                    if matches!(destination, Destination::Ip(_)) {
                        probe["ip_family"] = json!("IPv6");
                    }
                    bad.push(probe);
                }
            }
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    let mut doc = doc;
    let n = bad.len();
    doc["steps"][0]["probes"] = Value::Array(bad);
    Err(format!(
        "{n} probes differ between the reference evaluator and the compiled flows on {engine:?}:\n{}",
        serde_json::to_string_pretty(&doc).unwrap()
    ))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(1000),
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn compiled_flows_on_the_fake_switch_agree_with_the_reference_evaluator(case in case()) {
        if let Err(e) = compare(&case) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// The first `OVS_DIFFERENTIAL_CASES` (default 10) cases of a fixed-seed generator, realized by
/// the agent on a sandbox OVS and traced: the same verdicts and deciding rules as the evaluator.
/// Fails (never skips) without Open vSwitch.
#[test]
fn compiled_flows_on_a_real_ovs_agree_with_the_reference_evaluator_on_a_random_sample() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let n: usize = std::env::var("OVS_DIFFERENTIAL_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(10);
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let mut probed_rules = 0;
    for i in 0..n {
        let case = case()
            .new_tree(&mut runner)
            .expect("a random case")
            .current();
        probed_rules += case.acnps.len() + case.k8s.len();
        if let Err(e) = compare_with(&case, Engine::Ovs(OvsMode::Trace)) {
            panic!("random case {i} of the fixed seed: {e}");
        }
    }
    assert!(probed_rules > 0, "the sample has no policy at all");
}
