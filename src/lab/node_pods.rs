//! A node lab's pods, made as a kubelet makes them: a network namespace, then `kakine-cni ADD`
//! run in the node's namespace with a runtime's environment, which gets the address from
//! `host-local` and returns once the node's agent has committed the pod's flows and policy.
//!
//! A scenario's pods keep the addresses and MACs of its cluster model wherever they land, so
//! a node's pods share no subnet of their own: the network configuration asks for
//! `podAddress: host` (a /32 and an on-link gateway, Calico's layout), host-local hands out
//! exactly the node's pod addresses (one single-address range each, the node's /32 pod CIDRs)
//! and the runtime asks for each pod's address and MAC (`CNI_ARGS` `IP=`, `MAC=`).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::json;

use crate::datapath::network::GENEVE_POD_MTU;
use crate::lab::sandbox::{run, SandboxError};
use crate::policy::resolved::PodInfo;

/// Where `host-local` is looked for (Debian's `containernetworking-plugins`).
pub const CNI_PATH: &str = "/usr/lib/cni";

/// The name of the lab's network (host-local keeps its reservations under it).
pub const NETWORK: &str = "kakine-lab";

/// A node's network configuration for kakine-cni: its agent's socket, `podAddress: host`, and
/// host-local over `addresses` (each a range of its own, the gateway `gateway`), with its data
/// in `ipam_dir`.
pub fn network_config(
    socket: &Path,
    ipam_dir: &Path,
    addresses: &[Ipv4Addr],
    gateway: Ipv4Addr,
) -> serde_json::Value {
    let ranges: Vec<serde_json::Value> = addresses
        .iter()
        .map(|a| {
            // host-local allocates from nothing smaller than a /30; the /24 around the address
            // is only the range's frame, the range is the address alone.
            let frame = ipnet::Ipv4Net::new(*a, 24)
                .expect("24 is a valid prefix")
                .trunc();
            json!({"subnet": frame.to_string(), "rangeStart": a.to_string(),
                   "rangeEnd": a.to_string(), "gateway": gateway.to_string()})
        })
        .collect();
    json!({
        "cniVersion": "1.0.0",
        "name": NETWORK,
        "type": "kakine-cni",
        "agentSocket": socket,
        "agentTimeoutSeconds": 60,
        "mtu": GENEVE_POD_MTU,
        "podAddress": "host",
        "ipam": {"type": "host-local", "dataDir": ipam_dir, "ranges": [ranges]},
    })
}

/// One pod to add on a node.
#[derive(Debug, Clone, Copy)]
pub struct PodAdd<'a> {
    /// The `kakine-cni` binary.
    pub cni: &'a Path,
    /// The node's namespace, where the plugin runs.
    pub node_ns: &'a str,
    /// The pod's namespace (made here), also its container id.
    pub pod_ns: &'a str,
    /// The pod.
    pub info: &'a PodInfo,
    /// The node's network configuration ([`network_config`]).
    pub config: &'a str,
}

/// Makes the pod's namespace and runs `kakine-cni ADD` for it in the node's namespace; then
/// its loopback up. IPv6 is turned off in the pod (kakine-cni is IPv4 only).
///
/// Errors: a command failed; the plugin's error object (code and message) is in the error.
pub fn add(p: &PodAdd<'_>) -> Result<(), SandboxError> {
    let info = p.info;
    let mac = info
        .mac
        .unwrap_or_else(|| crate::policy::mac::default_mac(info.ip));
    let _ = run(Command::new("ip").args(["netns", "del", p.pod_ns]));
    run(Command::new("ip").args(["netns", "add", p.pod_ns]))?;
    run(Command::new("ip").args(["netns", "exec", p.pod_ns]).args([
        "sysctl",
        "-qw",
        "net.ipv6.conf.all.disable_ipv6=1",
    ]))?;
    let args = format!(
        "IgnoreUnknown=1;K8S_POD_NAMESPACE={};K8S_POD_NAME={};IP={};MAC={}",
        info.key.namespace,
        info.key.name,
        info.ip,
        crate::policy::mac::mac_string(mac)
    );
    let netns = PathBuf::from("/var/run/netns").join(p.pod_ns);
    let mut child = Command::new("ip")
        .args(["netns", "exec", p.node_ns])
        .arg(p.cni)
        .env("CNI_COMMAND", "ADD")
        .env("CNI_CONTAINERID", p.pod_ns)
        .env("CNI_NETNS", &netns)
        .env("CNI_IFNAME", "eth0")
        .env("CNI_ARGS", &args)
        .env("CNI_PATH", CNI_PATH)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| SandboxError::Spawn {
            cmd: p.cni.display().to_string(),
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write as _;
        let _ = stdin.write_all(p.config.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|source| SandboxError::Spawn {
            cmd: p.cni.display().to_string(),
            source,
        })?;
    if !out.status.success() {
        return Err(SandboxError::Timeout(format!(
            "kakine-cni ADD of pod {} on {}: {} {}",
            info.key,
            p.node_ns,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    run(Command::new("ip").args(["-n", p.pod_ns, "link", "set", "lo", "up"]))?;
    Ok(())
}

/// `kakine-cni` beside `kakinectl` (both are binaries of this package).
pub fn cni_binary(kakinectl: &Path) -> PathBuf {
    kakinectl.with_file_name("kakine-cni")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_configuration_is_one_kakine_cni_accepts_with_one_range_per_address() {
        let v = network_config(
            Path::new("/run/lab/n0/cni.sock"),
            Path::new("/run/lab/n0/ipam"),
            &[Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 1, 9)],
            Ipv4Addr::new(169, 254, 100, 1),
        );
        let conf = crate::cni::config::NetConf::parse(v.to_string().as_bytes()).unwrap();
        assert_eq!(conf.pod_address, crate::cni::config::PodAddress::Host);
        assert_eq!(conf.mtu, 1450);
        assert_eq!(conf.agent_socket, PathBuf::from("/run/lab/n0/cni.sock"));
        assert_eq!(
            v["ipam"]["ranges"][0][1],
            json!({"subnet": "10.0.1.0/24", "rangeStart": "10.0.1.9",
                   "rangeEnd": "10.0.1.9", "gateway": "169.254.100.1"})
        );
    }
}
