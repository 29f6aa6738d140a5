//! The IPv6 side of the pipeline, for an input with IPv6 (a dual-stack pod or an IPv6
//! ipBlock; [`enabled`]): the address-family dimension of the rule flows ([`Family`]) and the
//! fixed and per-pod flows IPv6 needs beside IPv4's. An IPv4-only input compiles none of it,
//! so its flows stay byte for byte what they were.
//!
//! - Neighbour discovery (ICMPv6 135 Neighbor Solicitation and 136 Neighbor Advertisement,
//!   RFC 4861 §4.3-4.4) is treated like ARP: Classifier sends it to ArpSpoofGuard, which
//!   accepts it only with the pod's own `dl_src` (and, for an advertisement, the pod's own
//!   address as `nd_target`), and ArpResponder switches it with NORMAL. OVS matches `nd_target`
//!   only with `icmpv6_code=0` (its `MFP_ND` prerequisite), so the flows say so.
//! - SpoofGuard accepts IPv6 only from the pod's own `in_port`, `dl_src` and `ipv6_src`.
//! - Conntrack, the established shortcuts and the commit take the same flows with
//!   `eth_type=0x86dd`; a rule's conjunction takes a second set of clause flows matching
//!   `ipv6_src` / `ipv6_dst` (and ICMPv6 for an ICMP service), with the same `conj_id`.

use std::net::Ipv6Addr;

use super::base::*;
use super::*;

/// Ethernet type of IPv6.
pub(super) const ETH_TYPE_IPV6: u16 = 0x86dd;
/// IP protocol number of ICMPv6.
pub(super) const IPPROTO_ICMPV6: u8 = 58;
/// ICMPv6 Neighbor Solicitation and Neighbor Advertisement (RFC 4861 §4.3, §4.4).
const ND_SOLICIT: u8 = 135;
const ND_ADVERT: u8 = 136;

/// An address family of the rule flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    /// `eth_type=0x0800`, `nw_src` / `nw_dst`, ICMP.
    V4,
    /// `eth_type=0x86dd`, `ipv6_src` / `ipv6_dst`, ICMPv6.
    V6,
}

impl Family {
    /// The `eth_type` match of the family.
    pub(super) fn eth(self) -> MatchField {
        match self {
            Family::V4 => ip(),
            Family::V6 => ipv6(),
        }
    }
}

/// `eth_type=0x86dd`.
pub(super) fn ipv6() -> MatchField {
    MatchField::EthType(ETH_TYPE_IPV6)
}

/// Whether the input has anything IPv6: a pod with an IPv6 address or an IPv6 ipBlock.
pub(super) fn enabled(policies: &ResolvedPolicies) -> bool {
    policies.pods.iter().any(|p| p.ipv6.is_some())
        || policies.rules.iter().any(|r| match &r.peers {
            Peers::Any => false,
            Peers::Set { ip_blocks, .. } => ip_blocks.iter().any(|b| b.cidr.addr().is_ipv6()),
        })
}

/// The fixed IPv6 flows: neighbour discovery switched, conntrack lookup, state checks, the
/// established shortcut of IngressClassifier and the commit, as IPv4's in `base.rs`.
pub(super) fn base_flows(flows: &mut Vec<FlowMod>, round: u16) -> Result<(), CompileError> {
    let mut push = |f: FlowMod| flows.push(with_cookie(f, round, cookie::PIPELINE, 0));
    for nd in [ND_SOLICIT, ND_ADVERT] {
        push(switched(vec![
            ipv6(),
            MatchField::IpProto(IPPROTO_ICMPV6),
            MatchField::Icmpv6Type(nd),
        ])?);
    }
    conntrack_flows(ipv6())?.into_iter().for_each(&mut push);
    established_ingress_flows(ipv6())?
        .into_iter()
        .for_each(&mut push);
    push(commit_flow(ipv6())?);
    Ok(())
}

/// The IPv6 flows of each local pod with an IPv6 address: its neighbour discovery to
/// ArpSpoofGuard and checked there, and its IPv6 anti-spoofing (cookie category POD, object
/// the ofport, as its IPv4 flows).
pub(super) fn pod_flows(
    flows: &mut Vec<FlowMod>,
    policies: &ResolvedPolicies,
    local: &[LocalPod],
    round: u16,
) -> Result<(), CompileError> {
    let addresses: BTreeMap<&PodKey, Ipv6Addr> = policies
        .pods
        .iter()
        .filter_map(|p| p.ipv6.map(|a| (&p.key, a)))
        .collect();
    let cls = t("Classifier")?;
    let arp_guard = t("ArpSpoofGuard")?;
    let guard = t("SpoofGuard")?;
    for pod in local {
        let Some(&addr) = addresses.get(&pod.key) else {
            continue;
        };
        let obj = pod.ofport;
        let mut push = |f: FlowMod| flows.push(with_cookie(f, round, cookie::POD, obj));
        let in_port = MatchField::InPort(pod.ofport);
        let nd = |nd_type: u8| {
            vec![
                in_port.clone(),
                ipv6(),
                MatchField::IpProto(IPPROTO_ICMPV6),
                MatchField::Icmpv6Type(nd_type),
                MatchField::Icmpv6Code(0),
            ]
        };
        for nd_type in [ND_SOLICIT, ND_ADVERT] {
            push(cls.flow(
                prio::NORMAL,
                Match::from(nd(nd_type)),
                vec![cls.goto("ArpSpoofGuard")?],
            ));
        }
        let mut solicit = nd(ND_SOLICIT);
        solicit.push(MatchField::EthSrc(pod.mac, None));
        push(arp_guard.flow(
            prio::NORMAL,
            Match::from(solicit),
            vec![arp_guard.goto("ArpResponder")?],
        ));
        let mut advert = nd(ND_ADVERT);
        advert.push(MatchField::EthSrc(pod.mac, None));
        advert.push(MatchField::NdTarget(addr, None));
        push(arp_guard.flow(
            prio::NORMAL,
            Match::from(advert),
            vec![arp_guard.goto("ArpResponder")?],
        ));
        push(guard.flow(
            prio::NORMAL,
            Match::from(vec![
                in_port,
                MatchField::EthSrc(pod.mac, None),
                ipv6(),
                MatchField::Ipv6Src(addr, None),
            ]),
            vec![guard.goto("ConntrackZone")?],
        ));
    }
    Ok(())
}
