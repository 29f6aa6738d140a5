//! What a runtime hands the plugin: the `CNI_*` environment ([`Invocation`]) and the network
//! configuration on stdin ([`NetConf`]), parsed and checked with every problem named at once.
//! Pure: variables and bytes in, values or a [`CniError`] with the spec's code out.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::spec::{CniError, CniResult, ErrorCode, SUPPORTED_VERSIONS};
use crate::policy::resolved::PodKey;

/// The agent's socket when the configuration gives none (`kakine-agent --cni-socket`).
pub const DEFAULT_AGENT_SOCKET: &str = "/var/run/kakine/cni.sock";
/// The MTU when the configuration gives none: 1500 less Geneve's 50 bytes of overhead.
pub const DEFAULT_MTU: u32 = 1450;
/// How long ADD waits for the agent to commit the pod's flows when the configuration does
/// not say (`agentTimeoutSeconds`).
pub const DEFAULT_AGENT_TIMEOUT: Duration = Duration::from_secs(10);

/// `CNI_COMMAND` (SPEC.md "Parameters").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Add the container to the network.
    Add,
    /// Remove it (idempotent).
    Del,
    /// Check that its networking is as ADD left it.
    Check,
    /// Report the supported spec versions.
    Version,
}

/// The `CNI_*` environment of one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// `CNI_COMMAND`.
    pub command: Command,
    /// `CNI_CONTAINERID` (empty for VERSION).
    pub container_id: String,
    /// `CNI_NETNS`: the network namespace's path; `None` for VERSION and a DEL without one.
    pub netns: Option<PathBuf>,
    /// `CNI_IFNAME`: the interface to create inside the container.
    pub ifname: String,
    /// The pod, from `CNI_ARGS` `K8S_POD_NAMESPACE` and `K8S_POD_NAME`.
    pub pod: Option<PodKey>,
    /// `CNI_ARGS` as given, passed on to the IPAM plugin (which reads `IP=`).
    pub args: String,
    /// The MAC the runtime asks for in `CNI_ARGS` (`MAC=`, as the standard `bridge` plugin
    /// reads it), normalised to lower case.
    pub mac: Option<String>,
    /// `CNI_PATH`: where delegated plugins are looked for, in order.
    pub path: Vec<PathBuf>,
}

impl Invocation {
    /// Reads the environment through `var` (`std::env::var` in the binary).
    ///
    /// Errors: [`ErrorCode::InvalidEnvironment`] naming every missing or invalid variable
    /// (a DEL may go without `CNI_NETNS`, as the spec allows).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Invocation, CniError> {
        let get = |k: &str| var(k).unwrap_or_default();
        let command = match get("CNI_COMMAND").as_str() {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "VERSION" => Command::Version,
            "" => return Err(env_error(vec!["CNI_COMMAND: missing".into()])),
            other => {
                return Err(env_error(vec![format!(
                    "CNI_COMMAND {other:?}: not one of ADD, DEL, CHECK, VERSION"
                )]))
            }
        };
        let mut inv = Invocation {
            command,
            container_id: get("CNI_CONTAINERID"),
            netns: var("CNI_NETNS")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            ifname: get("CNI_IFNAME"),
            pod: None,
            args: get("CNI_ARGS"),
            mac: None,
            path: std::env::split_paths(&get("CNI_PATH")).collect(),
        };
        if command == Command::Version {
            return Ok(inv);
        }
        let mut problems = Vec::new();
        if let Err(e) = check_container_id(&inv.container_id) {
            problems.push(e);
        }
        if inv.netns.is_none() && command != Command::Del {
            problems.push("CNI_NETNS: missing".into());
        }
        if let Err(e) = check_ifname(&inv.ifname) {
            problems.push(format!("CNI_IFNAME {:?}: {e}", inv.ifname));
        }
        if inv.path.iter().all(|p| p.as_os_str().is_empty()) {
            problems.push("CNI_PATH: missing (where the IPAM plugin is looked for)".into());
        }
        match pod_from_args(&inv.args) {
            Ok(pod) => inv.pod = Some(pod),
            Err(e) => problems.extend(e),
        }
        match mac_from_args(&inv.args) {
            Ok(mac) => inv.mac = mac,
            Err(e) => problems.push(e),
        }
        if problems.is_empty() {
            Ok(inv)
        } else {
            Err(env_error(problems))
        }
    }
}

fn env_error(problems: Vec<String>) -> CniError {
    CniError::new(ErrorCode::InvalidEnvironment, problems.join("; "))
}

/// SPEC.md: a container ID is not empty, starts with an ASCII letter or digit, and goes on
/// with letters, digits, `_`, `.` or `-`.
fn check_container_id(id: &str) -> Result<(), String> {
    let mut chars = id.chars();
    match chars.next() {
        None => Err("CNI_CONTAINERID: missing".into()),
        Some(c) if !c.is_ascii_alphanumeric() => Err(format!(
            "CNI_CONTAINERID {id:?}: must start with an ASCII letter or digit"
        )),
        _ if chars.any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) => Err(
            format!("CNI_CONTAINERID {id:?}: only ASCII letters, digits, '_', '.' and '-'"),
        ),
        _ => Ok(()),
    }
}

/// SPEC.md: an interface name is not empty, not `.` or `..`, under 16 bytes, without `/`, `:`
/// or white space.
pub fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("missing".into());
    }
    if name == "." || name == ".." {
        return Err("may not be '.' or '..'".into());
    }
    if name.len() > 15 {
        return Err("longer than 15 bytes".into());
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Err("may not hold '/', ':' or white space".into());
    }
    Ok(())
}

/// The pod of `CNI_ARGS` (`K=V;K=V`, as the kubelet passes `IgnoreUnknown=1;
/// K8S_POD_NAMESPACE=..;K8S_POD_NAME=..;K8S_POD_INFRA_CONTAINER_ID=..`). Other keys (`IP`)
/// are for the IPAM plugin.
fn pod_from_args(args: &str) -> Result<PodKey, Vec<String>> {
    let mut problems = Vec::new();
    let (mut namespace, mut name) = (None, None);
    for pair in args.split(';').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("K8S_POD_NAMESPACE", v)) => namespace = Some(v),
            Some(("K8S_POD_NAME", v)) => name = Some(v),
            Some(_) => {}
            None => problems.push(format!("CNI_ARGS: {pair:?} is not KEY=VALUE")),
        }
    }
    for (key, v) in [("K8S_POD_NAMESPACE", namespace), ("K8S_POD_NAME", name)] {
        if v.is_none_or(str::is_empty) {
            problems.push(format!("CNI_ARGS: {key} missing"));
        }
    }
    match (namespace, name) {
        (Some(ns), Some(n)) if problems.is_empty() => Ok(PodKey {
            namespace: ns.into(),
            name: n.into(),
        }),
        _ => Err(problems),
    }
}

/// The `MAC=` of `CNI_ARGS`, if any.
fn mac_from_args(args: &str) -> Result<Option<String>, String> {
    match args.split(';').find_map(|pair| pair.strip_prefix("MAC=")) {
        None => Ok(None),
        Some(v) => check_mac(v)
            .map(Some)
            .map_err(|e| format!("CNI_ARGS: MAC {v:?}: {e}")),
    }
}

/// A unicast Ethernet address written `xx:xx:xx:xx:xx:xx`, in lower case.
///
/// Errors: not six hex pairs, or a multicast address (the low bit of the first octet set).
pub fn check_mac(mac: &str) -> Result<String, String> {
    let octets: Vec<Option<u8>> = mac
        .split(':')
        .map(|o| {
            (o.len() == 2)
                .then(|| u8::from_str_radix(o, 16).ok())
                .flatten()
        })
        .collect();
    match octets.as_slice() {
        [Some(first), rest @ ..] if rest.len() == 5 && rest.iter().all(Option::is_some) => {
            if first & 1 == 1 {
                Err("a multicast address cannot be an interface's".into())
            } else {
                Ok(mac.to_ascii_lowercase())
            }
        }
        _ => Err("not an Ethernet address (six hex pairs separated by ':')".into()),
    }
}

/// How the pod's address is laid out in its namespace (`podAddress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PodAddress {
    /// `subnet` (the default): the address with IPAM's prefix; the subnet's other addresses
    /// are on-link (reached over br-int by L2), everything else via the gateway (Antrea's
    /// layout: one pod CIDR per node).
    #[default]
    Subnet,
    /// `host`: a /32; the gateway on-link and every route through it (Calico's layout), for
    /// nodes whose pods do not share a subnet of their own (the node lab, where a scenario's
    /// pods keep their addresses on whatever node they land).
    Host,
}

/// The network configuration of kakine-cni (one entry of a conflist, as the runtime streams it
/// on stdin; docs/cni.md lists the fields).
#[derive(Debug, Clone, PartialEq)]
pub struct NetConf {
    /// `cniVersion`, one of [`SUPPORTED_VERSIONS`].
    pub cni_version: String,
    /// `name`: the network's name (host-local keys its data directory by it).
    pub name: String,
    /// `agentSocket`: the agent's unix socket.
    pub agent_socket: PathBuf,
    /// `agentTimeoutSeconds`: how long ADD waits for the pod's flows to be committed.
    pub agent_timeout: Duration,
    /// `mtu` of both ends of the veth.
    pub mtu: u32,
    /// `ifnamePrefix`: the agent's `--ifname-prefix`.
    pub ifname_prefix: String,
    /// `ipam.type`: the IPAM plugin's executable, looked for in `CNI_PATH`.
    pub ipam_type: String,
    /// `podAddress`: `subnet` or `host` ([`PodAddress`]).
    pub pod_address: PodAddress,
    /// `runtimeConfig.mac`: the MAC the runtime asks for (the CNI conventions' `mac`
    /// capability), normalised to lower case; it wins over `CNI_ARGS` `MAC=`.
    pub mac: Option<String>,
    /// `prevResult` (CHECK and DEL of a chain).
    pub prev_result: Option<CniResult>,
    /// The configuration as given: delegated plugins get these very bytes.
    pub raw: Vec<u8>,
}

impl NetConf {
    /// Parses and checks the configuration.
    ///
    /// Errors: [`ErrorCode::DecodingFailure`] when `bytes` is not a JSON object;
    /// [`ErrorCode::IncompatibleVersion`] for a `cniVersion` not supported;
    /// [`ErrorCode::InvalidNetworkConfig`] naming every invalid field at once.
    pub fn parse(bytes: &[u8]) -> Result<NetConf, CniError> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| {
            CniError::new(
                ErrorCode::DecodingFailure,
                format!("network configuration on stdin: {e}"),
            )
        })?;
        let Some(obj) = v.as_object() else {
            return Err(CniError::new(
                ErrorCode::DecodingFailure,
                "network configuration on stdin: not a JSON object",
            ));
        };
        let version = match obj.get("cniVersion") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(CniError::new(
                    ErrorCode::InvalidNetworkConfig,
                    format!("cniVersion: {other} is not a string"),
                ))
            }
            None => {
                return Err(CniError::new(
                    ErrorCode::InvalidNetworkConfig,
                    "cniVersion: missing",
                ))
            }
        };
        if !SUPPORTED_VERSIONS.contains(&version.as_str()) {
            return Err(CniError::new(
                ErrorCode::IncompatibleVersion,
                format!(
                    "cniVersion {version:?}: kakine-cni supports {}",
                    SUPPORTED_VERSIONS.join(", ")
                ),
            ));
        }
        let mut problems = Vec::new();
        let mut string = |key: &str, default: Option<&str>| match obj.get(key) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            None if default.is_some() => default.unwrap_or_default().to_string(),
            Some(other) => {
                problems.push(format!("{key}: {other} is not a non-empty string"));
                String::new()
            }
            None => {
                problems.push(format!("{key}: missing"));
                String::new()
            }
        };
        let name = string("name", None);
        let _type = string("type", None);
        let agent_socket = PathBuf::from(string("agentSocket", Some(DEFAULT_AGENT_SOCKET)));
        let ifname_prefix = string("ifnamePrefix", Some("kk"));
        if let Err(e) = crate::agent::interfaces::check_prefix(&ifname_prefix) {
            problems.push(format!("ifnamePrefix: {e}"));
        }
        let mut number =
            |key: &str, default: u64, range: std::ops::RangeInclusive<u64>| match obj.get(key) {
                None => default,
                Some(v) => match v.as_u64().filter(|n| range.contains(n)) {
                    Some(n) => n,
                    None => {
                        problems.push(format!(
                            "{key}: {v} is not a whole number from {} to {}",
                            range.start(),
                            range.end()
                        ));
                        default
                    }
                },
            };
        let mtu = number("mtu", u64::from(DEFAULT_MTU), 68..=65535) as u32;
        let agent_timeout = Duration::from_secs(number(
            "agentTimeoutSeconds",
            DEFAULT_AGENT_TIMEOUT.as_secs(),
            1..=300,
        ));
        let ipam_type = match obj.get("ipam").map(|i| i.get("type")) {
            Some(Some(Value::String(t))) if !t.is_empty() && !t.contains('/') => t.clone(),
            Some(Some(t)) => {
                problems.push(format!("ipam.type: {t} is not a plugin name"));
                String::new()
            }
            _ => {
                problems.push(
                    "ipam.type: missing (kakine-cni delegates IPAM, e.g. to host-local)".into(),
                );
                String::new()
            }
        };
        let pod_address = match obj.get("podAddress") {
            None => PodAddress::Subnet,
            Some(Value::String(s)) if s == "subnet" => PodAddress::Subnet,
            Some(Value::String(s)) if s == "host" => PodAddress::Host,
            Some(other) => {
                problems.push(format!("podAddress: {other} is not \"subnet\" or \"host\""));
                PodAddress::Subnet
            }
        };
        let mac = match obj.get("runtimeConfig").and_then(|r| r.get("mac")) {
            None | Some(Value::Null) => None,
            Some(Value::String(m)) => match check_mac(m) {
                Ok(m) => Some(m),
                Err(e) => {
                    problems.push(format!("runtimeConfig.mac {m:?}: {e}"));
                    None
                }
            },
            Some(other) => {
                problems.push(format!("runtimeConfig.mac: {other} is not a string"));
                None
            }
        };
        let prev_result = match obj.get("prevResult") {
            None | Some(Value::Null) => None,
            Some(p) => match serde_json::from_value::<CniResult>(p.clone()) {
                Ok(r) => Some(r),
                Err(e) => {
                    problems.push(format!("prevResult: {e}"));
                    None
                }
            },
        };
        if !problems.is_empty() {
            return Err(CniError::new(
                ErrorCode::InvalidNetworkConfig,
                format!("network configuration: {}", problems.join("; ")),
            ));
        }
        Ok(NetConf {
            cni_version: version,
            name,
            agent_socket,
            agent_timeout,
            mtu,
            ifname_prefix,
            ipam_type,
            pod_address,
            mac,
            prev_result,
            raw: bytes.to_vec(),
        })
    }

    /// The host-side veth name of `pod` ([`crate::agent::interfaces::host_ifname`]), the name
    /// the agent attaches.
    pub fn host_ifname(&self, pod: &PodKey) -> String {
        crate::agent::interfaces::host_ifname(&self.ifname_prefix, &pod.namespace, &pod.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    const KUBELET_ARGS: &str =
        "IgnoreUnknown=1;K8S_POD_NAMESPACE=web;K8S_POD_NAME=frontend;K8S_POD_INFRA_CONTAINER_ID=abc;IP=10.10.1.10";

    #[test]
    fn a_kubelet_environment_gives_the_pod_and_keeps_cni_args_for_ipam() {
        let inv = Invocation::from_env(env(&[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "abc123"),
            ("CNI_NETNS", "/var/run/netns/p"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_ARGS", KUBELET_ARGS),
            ("CNI_PATH", "/opt/cni/bin:/usr/lib/cni"),
        ]))
        .unwrap();
        assert_eq!(inv.command, Command::Add);
        assert_eq!(inv.pod.unwrap().to_string(), "web/frontend");
        assert_eq!(inv.args, KUBELET_ARGS);
        assert_eq!(inv.path.len(), 2);
    }

    #[test]
    fn every_missing_variable_is_named_at_once_with_code_4() {
        let e = Invocation::from_env(env(&[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "-bad"),
            ("CNI_IFNAME", "a/b"),
            ("CNI_ARGS", "K8S_POD_NAME=x;junk"),
        ]))
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidEnvironment);
        for part in [
            "CNI_CONTAINERID \"-bad\"",
            "CNI_NETNS: missing",
            "CNI_IFNAME \"a/b\"",
            "CNI_PATH: missing",
            "\"junk\" is not KEY=VALUE",
            "K8S_POD_NAMESPACE missing",
        ] {
            assert!(e.msg.contains(part), "{part} not in {}", e.msg);
        }
        let e = Invocation::from_env(env(&[("CNI_COMMAND", "STATUS")])).unwrap_err();
        assert!(e.msg.contains("\"STATUS\""), "{e}");
        // DEL may come without a namespace; VERSION needs nothing else.
        let del = Invocation::from_env(env(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_ARGS", KUBELET_ARGS),
            ("CNI_PATH", "/usr/lib/cni"),
        ]))
        .unwrap();
        assert_eq!(del.netns, None);
        Invocation::from_env(env(&[("CNI_COMMAND", "VERSION")])).unwrap();
    }

    #[test]
    fn a_requested_mac_is_read_from_cni_args_and_runtime_config_and_checked() {
        let base = [
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_NETNS", "/var/run/netns/p"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/usr/lib/cni"),
        ];
        let with_args = |args: &str| {
            let mut pairs = base.to_vec();
            pairs.push(("CNI_ARGS", args));
            Invocation::from_env(env(&pairs))
        };
        let inv = with_args(&format!("{KUBELET_ARGS};MAC=0A:58:0A:00:00:05")).unwrap();
        assert_eq!(inv.mac.as_deref(), Some("0a:58:0a:00:00:05"));
        assert_eq!(with_args(KUBELET_ARGS).unwrap().mac, None);
        for (bad, why) in [
            ("01:00:5e:00:00:01", "multicast"),
            ("0a:58:0a:00:05", "six hex pairs"),
            ("0a:58:0a:00:00:zz", "six hex pairs"),
        ] {
            let e = with_args(&format!("{KUBELET_ARGS};MAC={bad}")).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidEnvironment);
            assert!(e.msg.contains(bad) && e.msg.contains(why), "{e}");
        }
        let c = NetConf::parse(
            br#"{"cniVersion":"1.0.0","name":"k","type":"kakine-cni","podAddress":"host","runtimeConfig":{"mac":"0A:58:0A:00:00:07"},"ipam":{"type":"host-local"}}"#,
        )
        .unwrap();
        assert_eq!(c.mac.as_deref(), Some("0a:58:0a:00:00:07"));
        assert_eq!(c.pod_address, PodAddress::Host);
        let e = NetConf::parse(
            br#"{"cniVersion":"1.0.0","name":"k","type":"kakine-cni","podAddress":"routed","runtimeConfig":{"mac":"ff:ff:ff:ff:ff:ff"},"ipam":{"type":"host-local"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidNetworkConfig);
        assert!(e.msg.contains("podAddress: \"routed\""), "{e}");
        assert!(
            e.msg.contains("runtimeConfig.mac \"ff:ff:ff:ff:ff:ff\""),
            "{e}"
        );
    }

    #[test]
    fn a_configuration_takes_defaults_and_its_errors_carry_the_spec_codes() {
        let c = NetConf::parse(
            br#"{"cniVersion":"1.0.0","name":"kakine","type":"kakine-cni","ipam":{"type":"host-local"}}"#,
        )
        .unwrap();
        assert_eq!(c.mtu, 1450);
        assert_eq!(c.agent_socket, PathBuf::from(DEFAULT_AGENT_SOCKET));
        assert_eq!(c.ipam_type, "host-local");
        assert_eq!(
            NetConf::parse(b"{not json").unwrap_err().code,
            ErrorCode::DecodingFailure
        );
        let e = NetConf::parse(br#"{"cniVersion":"0.3.1","name":"k","type":"t"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::IncompatibleVersion);
        assert!(e.msg.contains("\"0.3.1\""), "{e}");
        let e = NetConf::parse(
            br#"{"cniVersion":"1.0.0","type":"t","mtu":20,"ifnamePrefix":"a/b","prevResult":{"ips":[{"address":"x"}]}}"#,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidNetworkConfig);
        for part in [
            "name: missing",
            "mtu: 20",
            "ifnamePrefix",
            "ipam.type: missing",
            "prevResult",
        ] {
            assert!(e.msg.contains(part), "{part} not in {}", e.msg);
        }
    }
}
