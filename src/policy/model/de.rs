//! Field deserializers with messages that name the bad value.

use std::fmt;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};
use serde::de::{self, Deserializer, IgnoredAny};
use serde::Deserialize;

use super::*;
use crate::policy::resolved::{Protocol, RuleAction};

// ---------------------------------------------------------------------------------------------
// Field deserializers with messages that name the bad value.

pub(super) fn tcp() -> Protocol {
    Protocol::Tcp
}

/// Parses `TCP`/`UDP`/`SCTP`.
pub fn parse_protocol(s: &str) -> Option<Protocol> {
    match s {
        "TCP" => Some(Protocol::Tcp),
        "UDP" => Some(Protocol::Udp),
        "SCTP" => Some(Protocol::Sctp),
        _ => None,
    }
}

pub(super) fn de_protocol<'de, D: Deserializer<'de>>(d: D) -> Result<Protocol, D::Error> {
    let s = String::deserialize(d)?;
    parse_protocol(&s).ok_or_else(|| {
        de::Error::custom(format!(
            "unknown protocol \"{s}\" (expected TCP, UDP or SCTP)"
        ))
    })
}

pub(super) fn de_admin_action<'de, D: Deserializer<'de>>(d: D) -> Result<RuleAction, D::Error> {
    let s = String::deserialize(d)?;
    match s.as_str() {
        "Allow" => Ok(RuleAction::Allow),
        "Deny" => Ok(RuleAction::Drop),
        "Pass" => Ok(RuleAction::Pass),
        _ => Err(de::Error::custom(format!(
            "unknown action \"{s}\" (expected Allow, Deny or Pass)"
        ))),
    }
}

pub(super) fn de_action<'de, D: Deserializer<'de>>(d: D) -> Result<RuleAction, D::Error> {
    let s = String::deserialize(d)?;
    match s.as_str() {
        "Allow" => Ok(RuleAction::Allow),
        "Drop" => Ok(RuleAction::Drop),
        "Reject" => Ok(RuleAction::Reject),
        "Pass" => Ok(RuleAction::Pass),
        _ => Err(de::Error::custom(format!(
            "unknown action \"{s}\" (expected Allow, Drop, Reject or Pass)"
        ))),
    }
}

/// An IPv4 or IPv6 CIDR (a bare address is its /32 or /128; the strict forms each API wants
/// are checked on the document as written, [`crate::policy::validate_raw`]).
pub(super) fn parse_cidr<E: de::Error>(s: &str) -> Result<IpNet, E> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| {
            E::custom(format!(
                "invalid CIDR \"{s}\" (expected a CIDR such as 10.0.0.0/16 or fd00::/64)"
            ))
        })
}

pub(super) fn de_cidr<'de, D: Deserializer<'de>>(d: D) -> Result<IpNet, D::Error> {
    parse_cidr(&String::deserialize(d)?)
}

/// An IPv4 CIDR (a node's pod CIDRs are IPv4 for now).
fn parse_cidr_v4<E: de::Error>(s: &str) -> Result<Ipv4Net, E> {
    match parse_cidr(s)? {
        IpNet::V4(n) => Ok(n),
        IpNet::V6(_) => Err(E::custom(format!(
            "pod CIDR \"{s}\": IPv6 pod CIDRs are not supported yet (expected e.g. 10.244.1.0/24)"
        ))),
    }
}

pub(super) fn de_opt_cidr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Ipv4Net>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|s| parse_cidr_v4(&s))
        .transpose()
}

pub(super) fn de_cidrs_v4<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Ipv4Net>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| parse_cidr_v4(s))
        .collect()
}

pub(super) fn de_cidrs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    struct Cidrs;
    impl<'de> de::Visitor<'de> for Cidrs {
        type Value = Vec<IpNet>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of CIDRs")
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                out.push(parse_cidr(&s)?);
            }
            Ok(out)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(Cidrs)
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (byte, part) in mac.iter_mut().zip(parts) {
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    Some(mac)
}

pub(super) fn de_mac<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 6]>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => parse_mac(&s).map(Some).ok_or_else(|| {
            de::Error::custom(format!(
                "invalid MAC address \"{s}\" (expected aa:bb:cc:dd:ee:ff)"
            ))
        }),
    }
}

/// A whole policy document: `apiVersion`, `kind`, `metadata`, `spec` (and an ignored `status`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Document<S> {
    #[allow(dead_code)]
    pub api_version: String,
    #[allow(dead_code)]
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: S,
    #[serde(default)]
    #[allow(dead_code)]
    pub status: Option<IgnoredAny>,
}
