//! A packet of `kakinectl explain --live` that no policy denied and that still did not leave
//! the node: a **forwarding drop** (no flow in a forwarding table for its destination), said
//! as such, with the table and why in the cluster model's terms, rather than as the node's
//! datapath disagreeing with the policies ([`super::live`]).
//!
//! The usual cause is a destination the node has no route for: a pod of another node when no
//! node of the model declares a `podCIDR` (the agent then programs no multi-node network: no
//! gateway, tunnel or routes, docs/multinode.md; the packet misses L2Forwarding and is
//! dropped), or a node without a `podCIDR` among nodes that have one (the others route only
//! pod CIDRs through the tunnel: the packet goes to the host by the gateway port, as traffic
//! outside the cluster would, and the host routes only pod CIDRs to other nodes either).

use std::net::Ipv4Addr;

use crate::datapath::network::is_multi_node;
use crate::datapath::pipeline::{self, Stage};
use crate::policy::resolved::ResolvedPolicies;

/// Where and why a packet no policy denied was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardingDrop {
    /// The node whose datapath dropped it (its OVS run directory).
    pub node: String,
    /// The table it ended in (`L2Forwarding`), as `ofproto/trace` shows it.
    pub table: String,
    /// Whether it ended there because no flow matched (a table miss, which drops).
    pub table_miss: bool,
    /// The packet left the bridge by the gateway port to the host (a pod of another node
    /// routed as an outside address) instead of being dropped in the datapath.
    pub at_host: bool,
    /// Why, in the cluster model's terms (`node node-2 has no podCIDR ...`).
    pub why: String,
}

/// The last table an `ofproto/trace` answer shows the packet in (its id) and whether that
/// line is a table miss (`12. No match.`). Lines of flows read ` 12. dl_dst=..., priority
/// 100, cookie 0x...`, nested resubmits indented further; `None` when no line names a table.
pub fn last_table(trace: &str) -> Option<(u8, bool)> {
    trace.lines().rev().find_map(|l| {
        let (id, rest) = l.trim_start().split_once(". ")?;
        let id: u8 = id.parse().ok()?;
        Some((id, rest.trim_start().starts_with("No match")))
    })
}

/// Whether the packet's path ends before the ingress tables (so the server's ingress policy
/// was not reached): its last table is in a stage before [`Stage::IngressSecurity`].
pub fn before_ingress(table: u8) -> bool {
    pipeline::TABLES.get(usize::from(table)).is_some_and(|t| {
        matches!(
            t.stage,
            Stage::Classify | Stage::Conntrack | Stage::EgressSecurity | Stage::Routing
        )
    })
}

/// What `ofproto/trace` says when a packet output to a tunnel port has no route to its
/// endpoint (lib/tnl-ports, ofproto-dpif-xlate.c).
const TUNNEL_NO_ROUTE: &str = "native tunnel routing failed";

/// The forwarding drop of `trace`, an `ofproto/trace` answer on `node` whose packet no policy
/// denied and that was dropped, from `src` to `dst` read in `policies`: the table it ended in
/// ([`last_table`]) and why (no route in the model, no underlay route for the tunnel, the
/// table's miss). `None` when the trace names no table.
pub fn forwarding_drop(
    node: &str,
    trace: &str,
    policies: &ResolvedPolicies,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) -> Option<ForwardingDrop> {
    let (table, table_miss) = last_table(trace)?;
    let name = pipeline::table_name(table).map_or_else(|| format!("table {table}"), str::to_string);
    let routing = pipeline::TABLES
        .get(usize::from(table))
        .is_some_and(|t| t.stage == Stage::Routing);
    let why = match (routing, route_why(policies, src, dst)) {
        _ if trace.contains(TUNNEL_NO_ROUTE) => {
            let endpoint = tunnel_endpoint(trace);
            let remote = endpoint
                .and_then(|ip| policies.nodes.iter().find(|n| n.ip == Some(ip)))
                .map_or_else(String::new, |n| format!(" (node {})", n.name));
            format!(
                "output to the tunnel, but OVS has no route to its endpoint {}{remote} ({TUNNEL_NO_ROUTE}): the node IP must be on an OVS bridge with a route to the other nodes (ovs-appctl ovs/route/show; docs/multinode.md)",
                endpoint.map_or_else(|| "?".to_string(), |ip| ip.to_string())
            )
        }
        (true, Some(why)) => why,
        _ if table_miss => format!("no flow of {name} matches the packet (a table miss drops)"),
        _ => format!("a flow of {name} drops the packet"),
    };
    Some(ForwardingDrop {
        node: node.to_string(),
        table: name,
        table_miss,
        at_host: false,
        why,
    })
}

/// The tunnel endpoint (`tun_dst=`) of the trace's last `Final flow:`.
fn tunnel_endpoint(trace: &str) -> Option<Ipv4Addr> {
    let flow = trace
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("Final flow: "))?;
    let rest = &flow[flow.find("tun_dst=")? + "tun_dst=".len()..];
    rest.split(',').next()?.parse().ok()
}

/// A packet for `dst` that left `node` by the gateway port to the host: a forwarding drop
/// when `dst` is a pod of another node the model gives no route to (L2Forwarding sends what
/// L3Forwarding routed nowhere to the host); `None` when that is where it belongs (an
/// address outside the pods).
pub fn to_host(
    node: &str,
    policies: &ResolvedPolicies,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) -> Option<ForwardingDrop> {
    let why = route_why(policies, src, dst)?;
    Some(ForwardingDrop {
        node: node.to_string(),
        table: "L2Forwarding".to_string(),
        table_miss: false,
        at_host: true,
        why: format!(
            "{why}; sent to the host by the gateway port as an address outside the cluster, and the host routes only pod CIDRs to other nodes"
        ),
    })
}

/// Why a node has no route from `src` to `dst`, in the model's terms; `None` when the model
/// says nothing about it (`dst` is no pod of it).
fn route_why(p: &ResolvedPolicies, src: Ipv4Addr, dst: Ipv4Addr) -> Option<String> {
    let server = p.pods.iter().find(|i| i.ip == dst)?;
    let client_node = p
        .pods
        .iter()
        .find(|i| i.ip == src)
        .and_then(|i| i.node.as_deref());
    let Some(node) = server.node.as_deref() else {
        return Some(format!(
            "pod {} ({dst}) is not attached to this node and has no node in the cluster model",
            server.key
        ));
    };
    let here = client_node.map_or_else(String::new, |n| format!(" from node {n}"));
    if !is_multi_node(&p.nodes) {
        return Some(format!(
            "no route{here} to pod {} ({dst}) on node {node}: no node of the cluster model declares a podCIDR, so the agent programs no multi-node network (gateway, tunnel, routes) and only this node's pods are reachable (docs/multinode.md)",
            server.key
        ));
    }
    let info = p.nodes.iter().find(|n| n.name == node);
    match info {
        None => Some(format!(
            "no route{here} to pod {} ({dst}): its node {node} is not among the cluster model's nodes",
            server.key
        )),
        Some(n) if n.pod_cidrs.is_empty() => Some(format!(
            "no route{here} to pod {} ({dst}) on node {node}: node {node} has no podCIDR in the cluster model, and the other nodes route only pod CIDRs through the tunnel (docs/multinode.md)",
            server.key
        )),
        Some(n) if n.ip.is_none() || n.gateway().is_none() => Some(format!(
            "no route{here} to pod {} ({dst}) on node {node}: node {node} has no ip in the cluster model (the tunnel endpoint)",
            server.key
        )),
        Some(n) if !n.pod_cidrs.iter().any(|c| c.contains(&dst)) => Some(format!(
            "no route{here} to pod {} ({dst}) on node {node}: its address is outside node {node}'s podCIDR ({})",
            server.key,
            n.pod_cidrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(nodes: &str) -> ResolvedPolicies {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("cluster.yaml"),
            format!(
                "apiVersion: kakine.io/v1alpha1\nkind: Cluster\nnodes: {nodes}\nnamespaces: [{{name: x}}]\npods:\n- {{namespace: x, name: a, ip: 10.1.0.5, node: n1}}\n- {{namespace: x, name: b, ip: 10.2.0.5, node: n2}}\n"
            ),
        )
        .unwrap();
        crate::agent::load_input(dir.path()).unwrap()
    }

    #[test]
    fn the_last_table_of_a_trace_and_a_miss_are_read() {
        let trace = "bridge(\"br-int\")\n----------------\n 0. in_port=3, priority 200, cookie 0x1\n    goto_table:3\n12. dl_dst=0a:58:0a:0a:01:0a, priority 100, cookie 0x5\n    resubmit\n        13. No match.\n            drop\n\nFinal flow: unchanged\nDatapath actions: drop\n";
        assert_eq!(last_table(trace), Some((13, true)));
        assert_eq!(
            last_table(" 4. ip, priority 0, cookie 0x2\n"),
            Some((4, false))
        );
        assert_eq!(last_table("Datapath actions: drop\n"), None);
    }

    #[test]
    fn the_reason_names_the_node_without_a_pod_cidr() {
        let l2 = pipeline::table("L2Forwarding").unwrap().id;
        let (a, b) = ("10.1.0.5".parse().unwrap(), "10.2.0.5".parse().unwrap());
        // No node declares a podCIDR: no multi-node network at all.
        let p = model("[{name: n1, ip: 192.168.0.1}, {name: n2, ip: 192.168.0.2}]");
        let miss =
            |t: u8| format!(" 0. in_port=1, priority 200, cookie 0x1\n{t}. No match.\n    drop\n");
        let d = forwarding_drop("run/ovs", &miss(l2), &p, a, b).unwrap();
        assert_eq!((d.table.as_str(), d.table_miss), ("L2Forwarding", true));
        assert!(d.why.starts_with("no route from node n1 to pod x/b (10.2.0.5) on node n2: no node of the cluster model declares a podCIDR"), "{}", d.why);
        // n1 has one, n2 has none.
        let p = model("[{name: n1, ip: 192.168.0.1, podCIDR: 10.1.0.0/24}, {name: n2, ip: 192.168.0.2, gatewayIP: 169.254.1.1}]");
        let d = forwarding_drop("run/ovs", &miss(l2), &p, a, b).unwrap();
        assert!(
            d.why
                .contains("node n2 has no podCIDR in the cluster model"),
            "{}",
            d.why
        );
        let h = to_host("run/ovs", &p, a, b).expect("x/b is a pod without a route");
        assert!(h.at_host && h.why.starts_with(&d.why), "{}", h.why);
        // An address outside the pods belongs to the host.
        assert_eq!(
            to_host("run/ovs", &p, a, "192.0.2.1".parse().unwrap()),
            None
        );
        // Outside the routing tables: the table's own words.
        let guard = pipeline::table("SpoofGuard").unwrap().id;
        let d = forwarding_drop("run/ovs", &miss(guard), &p, a, b).unwrap();
        assert_eq!(
            d.why,
            "no flow of SpoofGuard matches the packet (a table miss drops)"
        );
        // Output to a tunnel OVS cannot route (as ofproto/trace says it).
        let output = pipeline::table("Output").unwrap().id;
        let trace = format!("{output}. priority 190, cookie 0x4\n    output:NXM_NX_REG1[]\n     -> output to native tunnel\n     >> native tunnel routing failed\n\nFinal flow: recirc_id=0xb,eth,tcp,reg1=0x8,tun_src=0.0.0.0,tun_dst=192.168.0.2,tun_ipv6_src=::\nDatapath actions: ct(commit,zone=65520)\n");
        let d = forwarding_drop("run/ovs", &trace, &p, a, b).unwrap();
        assert_eq!(d.table, "Output");
        assert!(
            d.why.starts_with(
                "output to the tunnel, but OVS has no route to its endpoint 192.168.0.2 (node n2)"
            ),
            "{}",
            d.why
        );
        assert!(before_ingress(l2) && !before_ingress(pipeline::table("Output").unwrap().id));
    }
}
