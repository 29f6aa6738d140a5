//! The commands: what ADD, DEL, CHECK and VERSION do, in order, and what each undoes when a
//! later step fails (docs/cni.md "What the commands do").

use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::Ipv4Net;

use super::config::{Command, Invocation, NetConf, PodAddress};
use super::ipam;
use super::link::{self, VethSpec};
use super::protocol::{self, Attachment, CallError, Reply, Request};
use super::spec::{self, CniError, CniResult, ErrorCode, Interface, IpConfig, Route, CNI_VERSION};
use crate::policy::resolved::PodKey;

/// Extra time the plugin waits for the agent's reply beyond the timeout the agent is given,
/// so that the agent's own refusal arrives rather than the plugin's timeout.
const REPLY_MARGIN: Duration = Duration::from_secs(2);

/// Runs one invocation: the environment through `var`, the network configuration `stdin`.
/// Returns the JSON to print on success (`None` prints nothing: DEL and CHECK).
///
/// Errors: a [`CniError`] with the spec's code; the binary prints it and exits 1.
pub fn run(
    var: impl Fn(&str) -> Option<String>,
    stdin: &[u8],
) -> Result<Option<serde_json::Value>, CniError> {
    let inv = Invocation::from_env(var)?;
    if inv.command == Command::Version {
        // Whatever version the runtime gives on stdin, the answer is the same list.
        return Ok(Some(spec::version_json()));
    }
    let conf = NetConf::parse(stdin)?;
    match inv.command {
        Command::Add => add(&inv, &conf).map(|r| Some(to_json(&r))),
        Command::Del => del(&inv, &conf).map(|()| None),
        Command::Check => check(&inv, &conf).map(|()| None),
        Command::Version => unreachable!("answered above"),
    }
}

fn to_json(r: &CniResult) -> serde_json::Value {
    serde_json::to_value(r).unwrap_or_default()
}

fn pod_of(inv: &Invocation) -> &PodKey {
    inv.pod
        .as_ref()
        .expect("Invocation::from_env requires the pod for ADD, DEL, CHECK")
}

/// The IPv4 address and gateway of an IPAM (or ADD) result.
fn ipv4_of(r: &CniResult) -> Option<(Ipv4Net, Ipv4Addr)> {
    r.ips.first().map(|ip| {
        (
            ip.address,
            ip.gateway.unwrap_or_else(|| first_address(ip.address)),
        )
    })
}

/// The first address of a subnet (`10.10.1.1` of `10.10.1.0/24`): the gateway when IPAM gives
/// none.
fn first_address(net: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()).saturating_add(1))
}

/// The container's routes: the IPAM result's, and a default route via the gateway unless it
/// has one.
fn routes_of(ipam: &CniResult) -> Vec<Route> {
    let mut routes = ipam.routes.clone();
    if !routes.iter().any(|r| r.dst.prefix_len() == 0) {
        routes.push(Route {
            dst: Ipv4Net::default(),
            gw: None,
        });
    }
    routes
}

fn agent_error(e: CallError) -> CniError {
    CniError::new(ErrorCode::TryAgainLater, e.to_string())
}

/// ADD: IPAM, the veth, then the agent; on any failure the steps done are undone (veth
/// deleted, address released) before the error is returned.
fn add(inv: &Invocation, conf: &NetConf) -> Result<CniResult, CniError> {
    let pod = pod_of(inv);
    let netns = inv.netns.as_deref().expect("ADD requires CNI_NETNS");
    if !netns.exists() {
        return Err(CniError::new(
            ErrorCode::UnknownContainer,
            format!("CNI_NETNS {}: no such network namespace", netns.display()),
        ));
    }
    let host = conf.host_ifname(pod);
    if link::exists(&host) {
        return Err(CniError::new(
            ErrorCode::ContainerExists,
            format!(
                "pod {pod}: its interface {host} exists already (ADD of a container that exists; DEL it first)"
            ),
        ));
    }
    let ipam = ipam::delegate(Command::Add, inv, conf)?.expect("ADD gives a result");
    let release = || {
        if let Err(e) = ipam::delegate(Command::Del, inv, conf) {
            eprintln!("kakine-cni: undoing ADD: {e}");
        }
    };
    let Some((ipam_address, gateway)) = ipv4_of(&ipam) else {
        release();
        return Err(CniError::new(
            ErrorCode::IpamFailure,
            format!("IPAM {}: no IPv4 address in its result", conf.ipam_type),
        ));
    };
    let host_layout = conf.pod_address == PodAddress::Host;
    let address = match host_layout {
        true => Ipv4Net::from(ipam_address.addr()),
        false => ipam_address,
    };
    let routes = routes_of(&ipam);
    let undo = || {
        if let Err(e) = link::delete(&host) {
            eprintln!("kakine-cni: undoing ADD: {e}");
        }
        release();
    };
    let veth = VethSpec {
        host: &host,
        container: &inv.ifname,
        netns,
        mtu: conf.mtu,
        address,
        routes: &routes,
        gateway,
        gateway_on_link: host_layout,
        mac: conf.mac.as_deref().or(inv.mac.as_deref()),
    };
    let (host_mac, mac) = link::create(&veth).inspect_err(|_| undo())?;
    let attachment = Attachment {
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
        container_id: inv.container_id.clone(),
        netns: netns.display().to_string(),
        ifname: inv.ifname.clone(),
        host_ifname: host.clone(),
        ip: address.addr(),
        mac: mac.clone(),
    };
    let request = Request::Add {
        attachment,
        timeout_ms: conf.agent_timeout.as_millis() as u64,
    };
    match protocol::call(
        &conf.agent_socket,
        &request,
        conf.agent_timeout + REPLY_MARGIN,
    ) {
        Ok(Reply::Ok { .. }) => {}
        Ok(Reply::Refused { reason }) => {
            undo();
            return Err(CniError::new(
                ErrorCode::AgentRefused,
                format!("the agent refused pod {pod}: {reason}"),
            ));
        }
        Err(e) => {
            undo();
            return Err(agent_error(e));
        }
    }
    Ok(CniResult {
        cni_version: CNI_VERSION.into(),
        interfaces: vec![
            Interface {
                name: host,
                mac: host_mac,
                sandbox: String::new(),
            },
            Interface {
                name: inv.ifname.clone(),
                mac,
                sandbox: netns.display().to_string(),
            },
        ],
        ips: vec![IpConfig {
            address,
            gateway: Some(gateway),
            interface: Some(1),
        }],
        routes: routes
            .into_iter()
            .map(|r| Route {
                gw: r.gw.or(Some(gateway)),
                ..r
            })
            .collect(),
        dns: ipam.dns,
    })
}

/// DEL: the agent detaches the pod, the veth is deleted, the address released. Each step is
/// idempotent; the agent being down does not fail DEL (it sweeps the port when it comes back).
fn del(inv: &Invocation, conf: &NetConf) -> Result<(), CniError> {
    let pod = pod_of(inv);
    let request = Request::Del {
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
        container_id: inv.container_id.clone(),
    };
    match protocol::call(
        &conf.agent_socket,
        &request,
        conf.agent_timeout + REPLY_MARGIN,
    ) {
        Ok(Reply::Ok { .. }) => {}
        Ok(Reply::Refused { reason }) => {
            eprintln!("kakine-cni: DEL of pod {pod}: the agent: {reason}")
        }
        Err(e) => {
            eprintln!("kakine-cni: DEL of pod {pod}: {e}; its port goes when the agent is back")
        }
    }
    link::delete(&conf.host_ifname(pod))?;
    ipam::delegate(Command::Del, inv, conf)?;
    Ok(())
}

/// CHECK: IPAM's own CHECK, the veth against `prevResult`, and the agent's port.
fn check(inv: &Invocation, conf: &NetConf) -> Result<(), CniError> {
    let pod = pod_of(inv);
    let netns = inv.netns.as_deref().expect("CHECK requires CNI_NETNS");
    let Some(prev) = &conf.prev_result else {
        return Err(CniError::new(
            ErrorCode::InvalidNetworkConfig,
            "prevResult: missing (CHECK compares with the result of ADD)",
        ));
    };
    let container = prev
        .interfaces
        .iter()
        .position(|i| i.name == inv.ifname && !i.sandbox.is_empty());
    let ip = prev.ips.iter().find(|ip| ip.interface == container);
    let (Some(index), Some(ip)) = (container, ip) else {
        return Err(CniError::new(
            ErrorCode::InvalidNetworkConfig,
            format!("prevResult: no interface {} with an address", inv.ifname),
        ));
    };
    let mac = &prev.interfaces[index].mac;
    ipam::delegate(Command::Check, inv, conf)?;
    let host = conf.host_ifname(pod);
    link::check(&link::Expected {
        host: &host,
        container: &inv.ifname,
        netns,
        address: ip.address,
        gateway: ip.gateway.unwrap_or_else(|| first_address(ip.address)),
        mac,
        mtu: conf.mtu,
    })?;
    let attachment = Attachment {
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
        container_id: inv.container_id.clone(),
        netns: netns.display().to_string(),
        ifname: inv.ifname.clone(),
        host_ifname: host,
        ip: ip.address.addr(),
        mac: mac.clone(),
    };
    match protocol::call(
        &conf.agent_socket,
        &Request::Check { attachment },
        conf.agent_timeout,
    ) {
        Ok(Reply::Ok { .. }) => Ok(()),
        Ok(Reply::Refused { reason }) => Err(CniError::new(
            ErrorCode::CheckFailed,
            format!("CHECK pod {pod}: the agent: {reason}"),
        )),
        Err(e) => Err(agent_error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_route_is_added_unless_ipam_gives_one_and_the_gateway_defaults_to_the_first_address(
    ) {
        let mut r: CniResult = serde_json::from_str(
            r#"{"cniVersion":"1.0.0","ips":[{"address":"10.10.1.10/24"}],"routes":[{"dst":"10.96.0.0/12"}]}"#,
        )
        .unwrap();
        assert_eq!(
            ipv4_of(&r),
            Some((
                "10.10.1.10/24".parse().unwrap(),
                Ipv4Addr::new(10, 10, 1, 1)
            ))
        );
        let routes = routes_of(&r);
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[1].dst.to_string(), "0.0.0.0/0");
        r.routes[0].dst = "0.0.0.0/0".parse().unwrap();
        assert_eq!(routes_of(&r).len(), 1);
    }

    #[test]
    fn version_needs_no_configuration_and_a_missing_command_is_code_4() {
        let out = run(|k| (k == "CNI_COMMAND").then(|| "VERSION".to_string()), b"")
            .unwrap()
            .unwrap();
        assert_eq!(out["supportedVersions"][0], "1.0.0");
        let e = run(|_| None, b"{}").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidEnvironment);
    }
}
