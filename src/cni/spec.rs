//! The CNI specification's data (containernetworking/cni `SPEC.md`, spec version 1.0.0): the
//! versions this plugin speaks, the error object with the well-known codes, the ADD result and
//! the VERSION answer. Pure: serde types and their text.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// The spec version of every result and error this plugin prints.
pub const CNI_VERSION: &str = "1.0.0";

/// The `cniVersion`s a network configuration may give (SPEC.md "Version"). host-local of
/// Debian's containernetworking-plugins 1.1 speaks up to 1.0.0, so 1.1.0 is not offered.
pub const SUPPORTED_VERSIONS: &[&str] = &["1.0.0"];

/// A well-known error code (SPEC.md "Error"), or one of this plugin's own (100 and up, which the
/// spec leaves to plugins; docs/cni.md lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 1: the configuration's `cniVersion` is not one the plugin supports.
    IncompatibleVersion,
    /// 2: a field of the network configuration is not supported (the message names it).
    UnsupportedField,
    /// 3: the container (its network namespace) is unknown or does not exist; the runtime
    /// need not clean up.
    UnknownContainer,
    /// 4: a necessary environment variable (`CNI_*`, or a `CNI_ARGS` key) is missing or invalid.
    InvalidEnvironment,
    /// 5: an I/O failure, such as reading stdin.
    IoFailure,
    /// 6: the content (the network configuration) does not decode.
    DecodingFailure,
    /// 7: the network configuration is invalid.
    InvalidNetworkConfig,
    /// 11: a transient condition (the agent is not answering); try again later.
    TryAgainLater,
    /// 101: the delegated IPAM plugin failed (its code and message in `details`).
    IpamFailure,
    /// 102: the container's interface could not be set up.
    InterfaceFailure,
    /// 103: CHECK found the container's networking differing from what ADD made.
    CheckFailed,
    /// 104: the agent refused to attach the pod (not in its input, another IP, not committed in
    /// time).
    AgentRefused,
    /// 105: the pod's interface exists already: ADD of a container that exists.
    ContainerExists,
    /// Any other code (read from a delegated plugin).
    Other(u32),
}

impl ErrorCode {
    /// The number printed in the error object.
    pub fn number(self) -> u32 {
        match self {
            ErrorCode::IncompatibleVersion => 1,
            ErrorCode::UnsupportedField => 2,
            ErrorCode::UnknownContainer => 3,
            ErrorCode::InvalidEnvironment => 4,
            ErrorCode::IoFailure => 5,
            ErrorCode::DecodingFailure => 6,
            ErrorCode::InvalidNetworkConfig => 7,
            ErrorCode::TryAgainLater => 11,
            ErrorCode::IpamFailure => 101,
            ErrorCode::InterfaceFailure => 102,
            ErrorCode::CheckFailed => 103,
            ErrorCode::AgentRefused => 104,
            ErrorCode::ContainerExists => 105,
            ErrorCode::Other(n) => n,
        }
    }

    /// The code of `number` (the inverse of [`ErrorCode::number`]).
    pub fn from_number(number: u32) -> ErrorCode {
        [
            ErrorCode::IncompatibleVersion,
            ErrorCode::UnsupportedField,
            ErrorCode::UnknownContainer,
            ErrorCode::InvalidEnvironment,
            ErrorCode::IoFailure,
            ErrorCode::DecodingFailure,
            ErrorCode::InvalidNetworkConfig,
            ErrorCode::TryAgainLater,
            ErrorCode::IpamFailure,
            ErrorCode::InterfaceFailure,
            ErrorCode::CheckFailed,
            ErrorCode::AgentRefused,
            ErrorCode::ContainerExists,
        ]
        .into_iter()
        .find(|c| c.number() == number)
        .unwrap_or(ErrorCode::Other(number))
    }
}

/// The error object a plugin prints on stdout when it fails (SPEC.md "Error"), and the
/// crate's error of the `cni` module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CNI error {}: {msg}{}", code.number(), if details.is_empty() { String::new() } else { format!(" ({details})") })]
pub struct CniError {
    /// The code.
    pub code: ErrorCode,
    /// A short message naming the object and field.
    pub msg: String,
    /// Longer details (the output of a failed command, a delegated plugin's error).
    pub details: String,
}

impl CniError {
    /// An error with `code` and `msg`, no details.
    pub fn new(code: ErrorCode, msg: impl Into<String>) -> CniError {
        CniError {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    /// The same error with `details`.
    pub fn with_details(mut self, details: impl Into<String>) -> CniError {
        self.details = details.into();
        self
    }

    /// The JSON object of SPEC.md "Error": `cniVersion`, `code`, `msg`, `details` (omitted
    /// when empty).
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "cniVersion": CNI_VERSION,
            "code": self.code.number(),
            "msg": self.msg,
        });
        if !self.details.is_empty() {
            v["details"] = self.details.clone().into();
        }
        v
    }

    /// Reads a delegated plugin's error object (`code`, `msg`, `details`; other fields
    /// ignored). `None` if `text` is not one.
    pub fn from_json(text: &str) -> Option<CniError> {
        #[derive(Deserialize)]
        struct Wire {
            code: u32,
            #[serde(default)]
            msg: String,
            #[serde(default)]
            details: String,
        }
        let w: Wire = serde_json::from_str(text).ok()?;
        Some(CniError {
            code: ErrorCode::from_number(w.code),
            msg: w.msg,
            details: w.details,
        })
    }
}

/// One interface of a result (SPEC.md "Success": `interfaces`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// Its name (the host-side veth, or `CNI_IFNAME` in the sandbox).
    pub name: String,
    /// Its MAC, `aa:bb:cc:dd:ee:ff`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// The network namespace path for a container interface; empty for a host interface.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
}

/// One address of a result (SPEC.md "Success": `ips`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// The address with its prefix length, `10.10.1.10/24`.
    pub address: Ipv4Net,
    /// The default gateway of the address's subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv4Addr>,
    /// Index into `interfaces` of the interface holding the address (absent in an IPAM
    /// plugin's result).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

/// One route of a result (SPEC.md "Success": `routes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Destination.
    pub dst: Ipv4Net,
    /// Next hop; the default gateway when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<Ipv4Addr>,
}

/// The result of ADD (SPEC.md "Success"), and the abbreviated one of an IPAM plugin
/// (no `interfaces`). Unknown fields are ignored; `dns` is passed through as given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CniResult {
    /// Always [`CNI_VERSION`] in what this plugin prints.
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    /// Interfaces: `[0]` the host veth, `[1]` the container's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    /// Addresses.
    #[serde(default)]
    pub ips: Vec<IpConfig>,
    /// Routes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// DNS, as the IPAM plugin gave it.
    #[serde(default)]
    pub dns: serde_json::Value,
}

/// The answer to VERSION (SPEC.md "VERSION").
pub fn version_json() -> serde_json::Value {
    serde_json::json!({
        "cniVersion": CNI_VERSION,
        "supportedVersions": SUPPORTED_VERSIONS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_code_reads_back_as_itself_and_others_stay_numbers() {
        for n in 0..200 {
            assert_eq!(ErrorCode::from_number(n).number(), n);
        }
        assert_eq!(ErrorCode::from_number(7), ErrorCode::InvalidNetworkConfig);
        assert_eq!(ErrorCode::from_number(999), ErrorCode::Other(999));
    }

    #[test]
    fn an_error_prints_the_spec_object_and_a_delegated_error_reads_back() {
        let e = CniError::new(ErrorCode::UnknownContainer, "CNI_NETNS /x: no such file");
        assert_eq!(
            e.to_json().to_string(),
            r#"{"cniVersion":"1.0.0","code":3,"msg":"CNI_NETNS /x: no such file"}"#
        );
        let e = e.with_details("more");
        assert_eq!(e.to_json()["details"], "more");
        // host-local's own form: no cniVersion, code 999.
        let back =
            CniError::from_json(r#"{"code": 999, "msg": "no IP addresses available"}"#).unwrap();
        assert_eq!(back.code, ErrorCode::Other(999));
        assert_eq!(back.msg, "no IP addresses available");
        assert!(CniError::from_json("{}").is_none());
    }

    #[test]
    fn an_ipam_result_of_host_local_parses_and_a_result_prints_without_empty_fields() {
        let text = r#"{"cniVersion":"1.0.0","ips":[{"address":"10.9.0.2/30","gateway":"10.9.0.1"}],"dns":{}}"#;
        let r: CniResult = serde_json::from_str(text).unwrap();
        assert_eq!(r.ips[0].address.to_string(), "10.9.0.2/30");
        assert_eq!(r.ips[0].gateway, Some(Ipv4Addr::new(10, 9, 0, 1)));
        assert!(r.interfaces.is_empty() && r.routes.is_empty());
        assert_eq!(serde_json::to_string(&r).unwrap(), text);
        assert_eq!(
            version_json().to_string(),
            r#"{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}"#
        );
    }
}
