//! The host side of the multi-node datapath: the gateway's address, the routes to every
//! node's pods, and the masquerade of traffic that leaves the cluster — owned by the agent as
//! Antrea's agent owns its routes and iptables rules (`docs/multinode.md`).
//!
//! [`HostPlan::for_network`] is pure: the `ip -batch` lines and the nftables ruleset a
//! [`NodeNetwork`] asks for. [`apply`] runs them (`ip`, `nft`, and `ip_forward` in
//! `/proc/sys`) in the agent's network namespace; every line is idempotent (`replace`), the
//! routes the agent made carry protocol [`ROUTE_PROTO`] so that those of nodes gone are
//! flushed, and the nftables table is replaced in one transaction.

use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::datapath::network::{NodeNetwork, GATEWAY_MAC, GATEWAY_PORT, GENEVE_POD_MTU};

/// The `proto` number of the routes the agent installs (`ip route ... proto 75`; 75 = 'K'),
/// so that they can be told from everyone else's and flushed.
pub const ROUTE_PROTO: u8 = 75;
/// The nftables table the agent owns (`ip kakine`).
pub const NFT_TABLE: &str = "kakine";

/// What the host must have for a node's network (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPlan {
    /// `ip -batch -` lines, in order.
    pub ip: Vec<String>,
    /// The nftables ruleset (`nft -f -`): the `ip kakine` table, replaced whole.
    pub nft: String,
}

impl HostPlan {
    /// The plan of `net`: the gateway up with its address (/32) and the Geneve MTU; a route to
    /// each local pod CIDR through the gateway, sourced from the node IP (so the host's own
    /// traffic to pods carries the node's address); a route to each remote pod CIDR via that
    /// node's gateway, on-link through `kakine-gw0`, whose next hop resolves to the gateway MAC
    /// (a permanent neighbour entry: the pipeline routes by destination, not by MAC); and the
    /// masquerade of pod traffic that leaves through any other interface.
    pub fn for_network(net: &NodeNetwork) -> HostPlan {
        let gw = GATEWAY_PORT;
        let node_ip = net.node_ip;
        let mac = crate::policy::mac::mac_string(GATEWAY_MAC.0);
        let mut ip = vec![
            format!("link set dev {gw} mtu {GENEVE_POD_MTU} up"),
            format!("address replace {}/32 dev {gw}", net.gateway.ip),
            format!("route flush dev {gw} proto {ROUTE_PROTO}"),
        ];
        for cidr in &net.pod_cidrs {
            ip.push(format!(
                "route replace {cidr} dev {gw} src {node_ip} proto {ROUTE_PROTO}"
            ));
        }
        for remote in &net.remotes {
            ip.push(format!(
                "neighbour replace {} lladdr {mac} dev {gw} nud permanent",
                remote.gateway
            ));
            for cidr in &remote.pod_cidrs {
                ip.push(format!(
                    "route replace {cidr} via {} dev {gw} onlink src {node_ip} proto {ROUTE_PROTO}",
                    remote.gateway
                ));
            }
        }
        let sources: Vec<String> = net.pod_cidrs.iter().map(|c| c.to_string()).collect();
        // A node without pods yet has nothing to masquerade (and nft refuses an empty set).
        let rule = if sources.is_empty() {
            String::new()
        } else {
            format!(
                "    ip saddr {{ {} }} oifname != \"{gw}\" masquerade\n",
                sources.join(", ")
            )
        };
        let nft = format!(
            "table ip {NFT_TABLE}\ndelete table ip {NFT_TABLE}\ntable ip {NFT_TABLE} {{\n  \
             chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n\
             {rule}  }}\n}}\n"
        );
        HostPlan { ip, nft }
    }
}

/// Applies `plan` in this process's network namespace: forwarding on, the `ip` lines, the
/// nftables table.
///
/// Errors: the step that failed and what the tool said (e.g. `kakine-gw0` missing, `nft`
/// not installed).
pub fn apply(plan: &HostPlan) -> Result<(), String> {
    // Written only when off: in a container /proc/sys is read-only, and a node that forwards
    // already (kube-proxy needs it) is left as it is.
    let forward = "/proc/sys/net/ipv4/ip_forward";
    if std::fs::read_to_string(forward)
        .map(|v| v.trim() != "1")
        .unwrap_or(true)
    {
        std::fs::write(forward, "1")
            .map_err(|e| format!("enabling IPv4 forwarding ({forward}): {e}"))?;
    }
    feed(
        Command::new("ip").args(["-batch", "-"]),
        &plan.ip.join("\n"),
        "ip -batch",
    )?;
    feed(Command::new("nft").args(["-f", "-"]), &plan.nft, "nft -f")
}

fn feed(cmd: &mut Command, input: &str, what: &str) -> Result<(), String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: cannot run it: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| format!("{what}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}): {}\ninput:\n{input}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::network::{Gateway, RemoteNode};

    #[test]
    fn the_plan_routes_local_and_remote_pod_cidrs_and_masquerades_the_rest() {
        let net = NodeNetwork {
            node: "a".into(),
            node_ip: "192.168.77.1".parse().unwrap(),
            pod_cidrs: vec!["10.10.1.0/24".parse().unwrap()],
            gateway: Gateway {
                ip: "10.10.1.1".parse().unwrap(),
                ofport: 2,
            },
            tunnel_ofport: 3,
            remotes: vec![RemoteNode {
                name: "b".into(),
                ip: "192.168.77.2".parse().unwrap(),
                pod_cidrs: vec!["10.10.2.0/24".parse().unwrap()],
                gateway: "10.10.2.1".parse().unwrap(),
            }],
        };
        let plan = HostPlan::for_network(&net);
        assert_eq!(
            plan.ip,
            [
                "link set dev kakine-gw0 mtu 1450 up",
                "address replace 10.10.1.1/32 dev kakine-gw0",
                "route flush dev kakine-gw0 proto 75",
                "route replace 10.10.1.0/24 dev kakine-gw0 src 192.168.77.1 proto 75",
                "neighbour replace 10.10.2.1 lladdr 0a:6b:6b:00:00:01 dev kakine-gw0 nud permanent",
                "route replace 10.10.2.0/24 via 10.10.2.1 dev kakine-gw0 onlink src 192.168.77.1 proto 75",
            ]
        );
        assert!(plan
            .nft
            .contains("ip saddr { 10.10.1.0/24 } oifname != \"kakine-gw0\" masquerade"));
    }
}
