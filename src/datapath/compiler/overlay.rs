//! The multi-node flows: gateway and tunnel classification, the gateway's ARP responder, and
//! L3 forwarding to remote nodes (Geneve) and to local pods ([`crate::datapath::network`]).
//!
//! Policy is untouched by them: egress rules match a local pod's source address and ingress
//! rules a local pod's ofport, so a packet from the tunnel meets only the destination node's
//! ingress rules and a packet to the tunnel only the source node's egress rules (Antrea's
//! split); both nodes commit the connection, so its reply is `+est` on each.

use openflow::action::port;
use openflow::flow::{Action, Field, FlowMod, Match, MatchField};

use crate::datapath::network::{NodeNetwork, GATEWAY_MAC};
use crate::datapath::pipeline::{apply, prio, regs};

use super::base::{ip, load, t, with_cookie};
use super::{cookie, CompileError, LocalPod, ETH_TYPE_ARP};

/// ARP opcode of a request (RFC 826).
const ARP_REQUEST: u16 = 1;
/// ARP opcode of a reply.
const ARP_REPLY: u16 = 2;

fn field(name: &str) -> Field {
    Field::from_name(name).unwrap_or_else(|| unreachable!("{name} is a field OVS knows"))
}

fn set(field: Field, bits: u16, value: u128) -> Action {
    Action::Load {
        field,
        ofs: 0,
        n_bits: bits,
        value,
    }
}

fn mac_value(mac: openflow::flow::MacAddr) -> u128 {
    mac.0.iter().fold(0u128, |acc, b| acc << 8 | u128::from(*b))
}

fn copy(src: Field, dst: Field, bits: u16) -> Action {
    Action::Move {
        src,
        src_ofs: 0,
        dst,
        dst_ofs: 0,
        n_bits: bits,
    }
}

/// The cookie object of the routes to the remote node at `position` of the node network:
/// [`REMOTE_NODE_OBJECT`] with the position + 1 (apart from any ofport).
pub fn remote_node_object(position: usize) -> u32 {
    REMOTE_NODE_OBJECT | (position as u32 + 1)
}

/// The bit that marks a NETWORK cookie's object as a remote node's routes.
pub const REMOTE_NODE_OBJECT: u32 = 0x8000_0000;

/// The flows of `net` for the local pods `local` (cookie category NETWORK; object 0 for the
/// gateway's and tunnel's flows, [`remote_node_object`] for a remote node's routes, the pod's
/// ofport for its L3 flow).
pub(super) fn overlay_flows(
    flows: &mut Vec<FlowMod>,
    net: &NodeNetwork,
    local: &[LocalPod],
    round: u16,
) -> Result<(), CompileError> {
    let mut push = |f: FlowMod, object: u32| {
        flows.push(with_cookie(f, round, cookie::NETWORK, object));
    };
    let gw = net.gateway;
    let cls = t("Classifier")?;
    push(
        cls.flow(
            prio::NORMAL,
            Match::from(vec![
                MatchField::InPort(gw.ofport),
                MatchField::EthType(ETH_TYPE_ARP),
            ]),
            vec![cls.goto("ArpResponder")?],
        ),
        0,
    );
    for (ofport, source) in [
        (gw.ofport, regs::SOURCE_GATEWAY),
        (net.tunnel_ofport, regs::SOURCE_TUNNEL),
    ] {
        push(
            cls.flow(
                prio::LOW,
                Match::from(vec![MatchField::InPort(ofport)]),
                vec![
                    apply(vec![load(regs::PKT_SOURCE, source)]),
                    cls.goto("ConntrackZone")?,
                ],
            ),
            0,
        );
    }

    // The gateway's ARP responder: the request turned into its reply in place, sent back out
    // of the port it came in on (Antrea's arpResponderFlow).
    let arp = t("ArpResponder")?;
    let (eth_src, eth_dst) = (Field::EthSrc, Field::EthDst);
    let (sha, tha, spa, tpa) = (
        field("arp_sha"),
        field("arp_tha"),
        field("arp_spa"),
        field("arp_tpa"),
    );
    push(
        arp.flow(
            prio::HIGH,
            Match::from(vec![
                MatchField::EthType(ETH_TYPE_ARP),
                MatchField::ArpOp(ARP_REQUEST),
                MatchField::ArpTpa(gw.ip, None),
            ]),
            vec![apply(vec![
                copy(eth_src, eth_dst, 48),
                set(eth_src, 48, mac_value(GATEWAY_MAC)),
                set(field("arp_op"), 16, u128::from(ARP_REPLY)),
                copy(sha, tha, 48),
                set(sha, 48, mac_value(GATEWAY_MAC)),
                copy(spa, tpa, 32),
                set(spa, 32, u128::from(u32::from(gw.ip))),
                Action::Output {
                    port: port::IN_PORT,
                    max_len: 0,
                },
            ])],
        ),
        0,
    );

    // L3Forwarding: remote nodes through the tunnel.
    let l3 = t("L3Forwarding")?;
    let tun_dst = field("tun_dst");
    for (i, remote) in net.remotes.iter().enumerate() {
        let to_tunnel = || {
            Ok::<_, CompileError>(vec![
                apply(vec![
                    set(eth_src, 48, mac_value(GATEWAY_MAC)),
                    set(eth_dst, 48, mac_value(GATEWAY_MAC)),
                    set(tun_dst, 32, u128::from(u32::from(remote.ip))),
                    load(regs::TARGET_OFPORT, net.tunnel_ofport),
                ]),
                l3.goto("IngressClassifier")?,
            ])
        };
        for cidr in &remote.pod_cidrs {
            let dst = MatchField::Ipv4Dst(cidr.network(), Some(cidr.netmask()));
            let dst = if cidr.prefix_len() == 32 {
                MatchField::Ipv4Dst(cidr.network(), None)
            } else {
                dst
            };
            push(
                l3.flow(prio::NORMAL, Match::from(vec![ip(), dst]), to_tunnel()?),
                remote_node_object(i),
            );
        }
        push(
            l3.flow(
                prio::NORMAL,
                Match::from(vec![ip(), MatchField::Ipv4Dst(remote.ip, None)]),
                to_tunnel()?,
            ),
            remote_node_object(i),
        );
    }
    // A routed packet (to the gateway MAC: from a pod with a /32 or off-subnet address, from
    // the host, or from the tunnel) for a local pod gets the pod's MAC.
    for pod in local {
        push(
            l3.flow(
                prio::NORMAL,
                Match::from(vec![
                    MatchField::EthDst(GATEWAY_MAC, None),
                    ip(),
                    MatchField::Ipv4Dst(pod.ip, None),
                ]),
                vec![
                    apply(vec![
                        set(eth_src, 48, mac_value(GATEWAY_MAC)),
                        set(eth_dst, 48, mac_value(pod.mac)),
                    ]),
                    l3.goto("L2Forwarding")?,
                ],
            ),
            pod.ofport,
        );
    }

    // L2Forwarding: everything else routed goes to the host.
    let l2 = t("L2Forwarding")?;
    push(
        l2.flow(
            prio::NORMAL,
            Match::from(vec![MatchField::EthDst(GATEWAY_MAC, None)]),
            vec![
                apply(vec![load(regs::TARGET_OFPORT, gw.ofport)]),
                l2.goto("IngressClassifier")?,
            ],
        ),
        0,
    );

    // The host's own traffic (kubelet probes) to its pods skips ingress policy.
    let icls = t("IngressClassifier")?;
    push(
        icls.flow(
            prio::LOW,
            Match::from(vec![ip(), MatchField::Ipv4Src(gw.ip, None)]),
            vec![icls.goto("IngressMetric")?],
        ),
        0,
    );
    Ok(())
}
