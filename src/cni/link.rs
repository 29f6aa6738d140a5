//! The pod's veth: created, configured, checked and deleted with the tools a node has
//! (`ip`, `nsenter --net=PATH`, `ethtool`), no shell. The host side stays in the plugin's
//! network namespace (the node's), the container side goes to `CNI_NETNS`.

use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

use ipnet::Ipv4Net;
use serde_json::Value;

use super::spec::{CniError, ErrorCode, Route};

/// What ADD asks of the veth.
#[derive(Debug, Clone)]
pub struct VethSpec<'a> {
    /// The host side's name (the OVS port).
    pub host: &'a str,
    /// The container side's name (`CNI_IFNAME`).
    pub container: &'a str,
    /// The container's network namespace (`CNI_NETNS`).
    pub netns: &'a Path,
    /// Both ends' MTU.
    pub mtu: u32,
    /// The container's address.
    pub address: Ipv4Net,
    /// The routes in the container (the default route via the gateway among them).
    pub routes: &'a [Route],
    /// The gateway, for routes without one.
    pub gateway: Ipv4Addr,
    /// Whether the gateway gets an on-link route of its own (a /32 pod, whose gateway is in
    /// no subnet of its).
    pub gateway_on_link: bool,
    /// The container side's MAC when the runtime asks for one; else the kernel's random one.
    pub mac: Option<&'a str>,
}

/// The MACs of a veth made by [`create`]: (host side, container side).
pub type Macs = (String, String);

/// Runs `program args`, feeding `input` on stdin when given; its stdout, or the error naming
/// the command and its stderr.
fn run(program: &str, args: &[&str], input: Option<&str>) -> Result<String, String> {
    let line = format!("{program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("`{line}`: {e}"))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("`{line}`: stdin: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("`{line}`: {e}"))?;
    if !out.status.success() {
        let input = input
            .map(|t| format!(" with input {t:?}"))
            .unwrap_or_default();
        return Err(format!(
            "`{line}`{input} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `nsenter --net=NETNS program args`.
fn in_netns(
    netns: &Path,
    program: &str,
    args: &[&str],
    input: Option<&str>,
) -> Result<String, String> {
    let net = format!("--net={}", netns.display());
    let mut all = vec![net.as_str(), program];
    all.extend_from_slice(args);
    run("nsenter", &all, input)
}

/// Whether the interface `name` exists in this process's network namespace (read from
/// `/proc/self/net/dev`, which follows the namespace whatever `/sys` is mounted from).
pub fn exists(name: &str) -> bool {
    std::fs::read_to_string("/proc/self/net/dev").is_ok_and(|t| {
        t.lines()
            .filter_map(|l| l.split_once(':'))
            .any(|(n, _)| n.trim() == name)
    })
}

fn interface_error(msg: String) -> CniError {
    CniError::new(ErrorCode::InterfaceFailure, msg)
}

/// The `address` of the first object of an `ip -j link show` output.
fn link_mac(json: &str) -> Option<String> {
    let v: Value = serde_json::from_str(json.trim()).ok()?;
    v.get(0)?.get("address")?.as_str().map(str::to_string)
}

/// Creates the veth and configures the container side: `ip link add HOST mtu M type veth peer
/// name IF mtu M netns NETNS` and the host side up with ARP off in one `ip -batch`; inside the
/// namespace the MAC when asked, the address, link up, the gateway's on-link route when asked,
/// the routes, and `ethtool -K IF tx off` (the userspace datapath's conntrack marks partially
/// checksummed TCP invalid). ARP is off on the host side because on the userspace datapath the
/// node's kernel still sees the frames of an OVS port: it would answer the pod's ARP for the
/// gateway (a local address of the node) with the veth's own MAC, and the pod's packets would
/// bypass the pipeline. Nothing is undone here on failure: the caller deletes the host
/// side ([`delete`]), which takes the container side with it.
///
/// Errors: [`ErrorCode::InterfaceFailure`] naming the command and its stderr.
pub fn create(spec: &VethSpec<'_>) -> Result<Macs, CniError> {
    // One `ip -batch` for the host side; the path quoted (iproute2's batch reads "..." as one
    // word), so a path with a quote, backslash or line break is refused rather than misread.
    if spec.netns.to_string_lossy().contains(['"', '\n', '\\']) {
        return Err(interface_error(format!(
            "CNI_NETNS {:?}: a path with a quote, backslash or line break is not supported",
            spec.netns
        )));
    }
    let host = run(
        "ip",
        &["-j", "-batch", "-"],
        Some(&format!(
            "link add {h} mtu {m} type veth peer name {c} mtu {m} netns \"{n}\"\nlink set {h} arp off up\nlink show dev {h}\n",
            h = spec.host,
            m = spec.mtu,
            c = spec.container,
            n = spec.netns.display()
        )),
    )
    .map_err(interface_error)?;
    let mut batch = String::new();
    if let Some(mac) = spec.mac {
        batch.push_str(&format!("link set {} address {mac}\n", spec.container));
    }
    batch.push_str(&format!(
        "addr add {} dev {c}\nlink set {c} up\n",
        spec.address,
        c = spec.container
    ));
    if spec.gateway_on_link {
        batch.push_str(&format!(
            "route add {}/32 dev {} scope link\n",
            spec.gateway, spec.container
        ));
    }
    for r in spec.routes {
        batch.push_str(&format!(
            "route add {} via {} dev {}\n",
            r.dst,
            r.gw.unwrap_or(spec.gateway),
            spec.container
        ));
    }
    batch.push_str(&format!("link show dev {}\n", spec.container));
    let container = in_netns(spec.netns, "ip", &["-j", "-batch", "-"], Some(&batch))
        .map_err(interface_error)?;
    in_netns(
        spec.netns,
        "ethtool",
        &["-K", spec.container, "tx", "off"],
        None,
    )
    .map_err(interface_error)?;
    match (link_mac(&host), link_mac(&container)) {
        (Some(h), Some(c)) => Ok((h, c)),
        _ => Err(interface_error(format!(
            "veth {}/{}: no MAC in `ip -j link show`: {host} {container}",
            spec.host, spec.container
        ))),
    }
}

/// Deletes the host side of a veth (and so its peer), if it exists: `ip link del HOST`.
/// Idempotent.
///
/// Errors: [`ErrorCode::InterfaceFailure`] when it exists and cannot be deleted.
pub fn delete(host: &str) -> Result<(), CniError> {
    if !exists(host) {
        return Ok(());
    }
    match run("ip", &["link", "del", host], None) {
        Ok(_) => Ok(()),
        Err(_) if !exists(host) => Ok(()),
        Err(e) => Err(interface_error(e)),
    }
}

/// What CHECK compares.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The host side.
    pub host: &'a str,
    /// The container side.
    pub container: &'a str,
    /// Its namespace.
    pub netns: &'a Path,
    /// Its address.
    pub address: Ipv4Net,
    /// Its default gateway.
    pub gateway: Ipv4Addr,
    /// Its MAC (from the ADD result).
    pub mac: &'a str,
    /// Its MTU.
    pub mtu: u32,
}

/// Compares the veth with what ADD made: the host side exists; inside the namespace the
/// container side is up with `address`, `mac` and `mtu`, and the default route goes via
/// `gateway` (other routes may have been changed by a later plugin of the chain). Every
/// difference is named.
///
/// Errors: [`ErrorCode::CheckFailed`] with the differences.
pub fn check(e: &Expected<'_>) -> Result<(), CniError> {
    let mut problems = Vec::new();
    if !exists(e.host) {
        problems.push(format!("host interface {} missing", e.host));
    }
    let batch = format!("addr show dev {}\nroute show default\n", e.container);
    match in_netns(e.netns, "ip", &["-j", "-batch", "-"], Some(&batch)) {
        Err(err) => problems.push(err),
        Ok(out) => {
            let docs: Vec<Value> = serde_json::Deserializer::from_str(&out)
                .into_iter::<Value>()
                .filter_map(Result::ok)
                .collect();
            let link = docs
                .first()
                .and_then(|d| d.get(0))
                .cloned()
                .unwrap_or_default();
            let has = |key: &str| link.get(key).cloned().unwrap_or_default();
            if has("address").as_str() != Some(e.mac) {
                problems.push(format!(
                    "{} MAC {} (ADD gave {})",
                    e.container,
                    has("address"),
                    e.mac
                ));
            }
            if has("mtu").as_u64() != Some(u64::from(e.mtu)) {
                problems.push(format!(
                    "{} MTU {} (expected {})",
                    e.container,
                    has("mtu"),
                    e.mtu
                ));
            }
            if !has("flags")
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == "UP"))
            {
                problems.push(format!("{} is not up", e.container));
            }
            let addr_found = has("addr_info").as_array().is_some_and(|a| {
                a.iter().any(|i| {
                    i.get("local").and_then(Value::as_str) == Some(&e.address.addr().to_string())
                        && i.get("prefixlen").and_then(Value::as_u64)
                            == Some(u64::from(e.address.prefix_len()))
                })
            });
            if !addr_found {
                problems.push(format!("{} lacks address {}", e.container, e.address));
            }
            let route_found = docs.get(1).and_then(Value::as_array).is_some_and(|rs| {
                rs.iter().any(|r| {
                    r.get("gateway").and_then(Value::as_str) == Some(&e.gateway.to_string())
                        && r.get("dev").and_then(Value::as_str) == Some(e.container)
                })
            });
            if !route_found {
                problems.push(format!(
                    "no default route via {} dev {}",
                    e.gateway, e.container
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CniError::new(
            ErrorCode::CheckFailed,
            format!("CHECK {}: {}", e.container, problems.join("; ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mac_is_read_from_ip_json_and_this_namespace_has_loopback() {
        let out = r#"[{"ifindex":2,"ifname":"eth0","mtu":1450,"address":"c2:ab:f8:4b:50:c6"}]"#;
        assert_eq!(link_mac(out).as_deref(), Some("c2:ab:f8:4b:50:c6"));
        assert_eq!(link_mac("[]"), None);
        assert!(exists("lo"));
        assert!(!exists("kk-no-such"));
    }
}
