//! The packet the fake switch classifies: the header fields of OVS's `struct flow` that kakine
//! matches on, with builders for the common shapes.

use std::fmt::{self, Display, Formatter};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::flow::MacAddr;
use crate::oxm::{mac_bits, Fid};

/// Ethernet type of IPv4.
pub const ETH_TYPE_IP: u16 = 0x0800;
/// Ethernet type of IPv6.
pub const ETH_TYPE_IPV6: u16 = 0x86dd;
/// IP protocol number of ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;
/// Ethernet type of ARP.
pub const ETH_TYPE_ARP: u16 = 0x0806;
/// IP protocol number of ICMP.
pub const IPPROTO_ICMP: u8 = 1;
/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;
/// IP protocol number of SCTP.
pub const IPPROTO_SCTP: u8 = 132;

/// A packet's headers as the OpenFlow pipeline sees them (OVS `struct flow` without metadata).
///
/// Fields that do not apply to the packet's protocol are zero, as in OVS. `tp_src` / `tp_dst`
/// are shared by TCP, UDP and SCTP, as OVS's `tp_src` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Packet {
    /// Ingress OpenFlow port.
    pub in_port: u32,
    /// Ethernet source.
    pub eth_src: MacAddr,
    /// Ethernet destination.
    pub eth_dst: MacAddr,
    /// Ethernet type.
    pub eth_type: u16,
    /// IPv4 protocol (0 for non-IP).
    pub ip_proto: u8,
    /// IPv4 source (0.0.0.0 for non-IP).
    pub ipv4_src: Ipv4Addr,
    /// IPv4 destination.
    pub ipv4_dst: Ipv4Addr,
    /// TCP / UDP / SCTP source port.
    pub tp_src: u16,
    /// TCP / UDP / SCTP destination port.
    pub tp_dst: u16,
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub icmp_code: u8,
    /// ARP opcode (1 request, 2 reply).
    pub arp_op: u16,
    /// ARP sender protocol address.
    pub arp_spa: Ipv4Addr,
    /// ARP target protocol address.
    pub arp_tpa: Ipv4Addr,
    /// ARP sender hardware address.
    pub arp_sha: MacAddr,
    /// Tunnel destination (`tun_dst`), set by a flow before output to a flow-based tunnel
    /// port; 0.0.0.0 when unset.
    pub tun_dst: Ipv4Addr,
    /// IPv6 source (`::` for non-IPv6).
    pub ipv6_src: Ipv6Addr,
    /// IPv6 destination.
    pub ipv6_dst: Ipv6Addr,
    /// Neighbor Solicitation / Advertisement target (RFC 4861 §4.3-4.4).
    pub nd_target: Ipv6Addr,
}

impl Packet {
    fn ip(
        in_port: u32,
        eth_src: MacAddr,
        eth_dst: MacAddr,
        ipv4_src: Ipv4Addr,
        ipv4_dst: Ipv4Addr,
        ip_proto: u8,
    ) -> Packet {
        Packet {
            in_port,
            eth_src,
            eth_dst,
            eth_type: ETH_TYPE_IP,
            ip_proto,
            ipv4_src,
            ipv4_dst,
            tp_src: 0,
            tp_dst: 0,
            icmp_type: 0,
            icmp_code: 0,
            arp_op: 0,
            arp_spa: Ipv4Addr::UNSPECIFIED,
            arp_tpa: Ipv4Addr::UNSPECIFIED,
            arp_sha: MacAddr::default(),
            tun_dst: Ipv4Addr::UNSPECIFIED,
            ipv6_src: Ipv6Addr::UNSPECIFIED,
            ipv6_dst: Ipv6Addr::UNSPECIFIED,
            nd_target: Ipv6Addr::UNSPECIFIED,
        }
    }

    /// The same packet carried over IPv6 from `src` to `dst`: `eth_type=0x86dd`, the IPv4
    /// addresses cleared, ICMP becoming ICMPv6 (the type and code are the caller's: an echo
    /// request is 128, RFC 4443 §4.1).
    pub fn into_ipv6(self, src: Ipv6Addr, dst: Ipv6Addr) -> Packet {
        Packet {
            eth_type: ETH_TYPE_IPV6,
            ip_proto: match self.ip_proto {
                IPPROTO_ICMP => IPPROTO_ICMPV6,
                p => p,
            },
            ipv4_src: Ipv4Addr::UNSPECIFIED,
            ipv4_dst: Ipv4Addr::UNSPECIFIED,
            ipv6_src: src,
            ipv6_dst: dst,
            ..self
        }
    }

    /// The source address, IPv4 or IPv6 by `eth_type`.
    pub fn src_ip(&self) -> IpAddr {
        match self.eth_type {
            ETH_TYPE_IPV6 => self.ipv6_src.into(),
            _ => self.ipv4_src.into(),
        }
    }

    /// The destination address, IPv4 or IPv6 by `eth_type`.
    pub fn dst_ip(&self) -> IpAddr {
        match self.eth_type {
            ETH_TYPE_IPV6 => self.ipv6_dst.into(),
            _ => self.ipv4_dst.into(),
        }
    }

    /// A TCP segment (`ofproto/trace` flow `tcp,in_port=..,dl_src=..,...,tp_dst=..`).
    pub fn tcp(
        in_port: u32,
        src_mac: MacAddr,
        dst_mac: MacAddr,
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
        sport: u16,
        dport: u16,
    ) -> Packet {
        Packet {
            tp_src: sport,
            tp_dst: dport,
            ..Packet::ip(in_port, src_mac, dst_mac, src_ip, dst_ip, IPPROTO_TCP)
        }
    }

    /// A UDP datagram.
    pub fn udp(
        in_port: u32,
        src_mac: MacAddr,
        dst_mac: MacAddr,
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
        sport: u16,
        dport: u16,
    ) -> Packet {
        Packet {
            tp_src: sport,
            tp_dst: dport,
            ..Packet::ip(in_port, src_mac, dst_mac, src_ip, dst_ip, IPPROTO_UDP)
        }
    }

    /// An SCTP packet.
    pub fn sctp(
        in_port: u32,
        src_mac: MacAddr,
        dst_mac: MacAddr,
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
        sport: u16,
        dport: u16,
    ) -> Packet {
        Packet {
            tp_src: sport,
            tp_dst: dport,
            ..Packet::ip(in_port, src_mac, dst_mac, src_ip, dst_ip, IPPROTO_SCTP)
        }
    }

    /// An ICMP message (8/0 echo request, 0/0 echo reply).
    pub fn icmp(
        in_port: u32,
        src_mac: MacAddr,
        dst_mac: MacAddr,
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
        icmp_type: u8,
        icmp_code: u8,
    ) -> Packet {
        Packet {
            icmp_type,
            icmp_code,
            ..Packet::ip(in_port, src_mac, dst_mac, src_ip, dst_ip, IPPROTO_ICMP)
        }
    }

    /// An ARP packet with `arp_sha = src_mac`.
    pub fn arp(
        in_port: u32,
        src_mac: MacAddr,
        dst_mac: MacAddr,
        op: u16,
        spa: Ipv4Addr,
        tpa: Ipv4Addr,
    ) -> Packet {
        Packet {
            in_port,
            eth_src: src_mac,
            eth_dst: dst_mac,
            eth_type: ETH_TYPE_ARP,
            ip_proto: 0,
            ipv4_src: Ipv4Addr::UNSPECIFIED,
            ipv4_dst: Ipv4Addr::UNSPECIFIED,
            tp_src: 0,
            tp_dst: 0,
            icmp_type: 0,
            icmp_code: 0,
            arp_op: op,
            arp_spa: spa,
            arp_tpa: tpa,
            arp_sha: src_mac,
            tun_dst: Ipv4Addr::UNSPECIFIED,
            ipv6_src: Ipv6Addr::UNSPECIFIED,
            ipv6_dst: Ipv6Addr::UNSPECIFIED,
            nd_target: Ipv6Addr::UNSPECIFIED,
        }
    }

    /// The same packet travelling back: addresses and ports swapped, in on `in_port`
    /// (ICMP echo requests become echo replies).
    pub fn reply(&self, in_port: u32) -> Packet {
        let mut p = *self;
        p.in_port = in_port;
        std::mem::swap(&mut p.eth_src, &mut p.eth_dst);
        std::mem::swap(&mut p.ipv4_src, &mut p.ipv4_dst);
        std::mem::swap(&mut p.ipv6_src, &mut p.ipv6_dst);
        std::mem::swap(&mut p.tp_src, &mut p.tp_dst);
        if p.ip_proto == IPPROTO_ICMP && p.icmp_type == 8 {
            p.icmp_type = 0;
        }
        if p.ip_proto == IPPROTO_ICMPV6 && p.icmp_type == 128 {
            p.icmp_type = 129;
        }
        p
    }

    /// The value of a header field, right-aligned (`None` for pipeline metadata).
    pub(crate) fn header(&self, fid: Fid) -> Option<u128> {
        let ip = |a: Ipv4Addr| u128::from(u32::from(a));
        Some(match fid {
            Fid::InPort => u128::from(self.in_port),
            Fid::EthSrc => mac_bits(self.eth_src),
            Fid::EthDst => mac_bits(self.eth_dst),
            Fid::EthType => u128::from(self.eth_type),
            Fid::IpProto => u128::from(self.ip_proto),
            Fid::Ipv4Src => ip(self.ipv4_src),
            Fid::Ipv4Dst => ip(self.ipv4_dst),
            Fid::TcpSrc | Fid::UdpSrc | Fid::SctpSrc => u128::from(self.tp_src),
            Fid::TcpDst | Fid::UdpDst | Fid::SctpDst => u128::from(self.tp_dst),
            Fid::IcmpType => u128::from(self.icmp_type),
            Fid::IcmpCode => u128::from(self.icmp_code),
            Fid::ArpOp => u128::from(self.arp_op),
            Fid::ArpSpa => ip(self.arp_spa),
            Fid::ArpTpa => ip(self.arp_tpa),
            Fid::ArpSha => mac_bits(self.arp_sha),
            Fid::TunDst => ip(self.tun_dst),
            Fid::Ipv6Src => u128::from(self.ipv6_src),
            Fid::Ipv6Dst => u128::from(self.ipv6_dst),
            Fid::Icmpv6Type => u128::from(self.icmp_type),
            Fid::Icmpv6Code => u128::from(self.icmp_code),
            Fid::NdTarget => u128::from(self.nd_target),
            _ => return None,
        })
    }
}

impl Display for Packet {
    /// The flow syntax of `ovs-appctl ofproto/trace BRIDGE FLOW`, e.g.
    /// `tcp,in_port=1,dl_src=..,dl_dst=..,nw_src=..,nw_dst=..,tcp_src=..,tcp_dst=..`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let proto = match (self.eth_type, self.ip_proto) {
            (ETH_TYPE_ARP, _) => "arp",
            (ETH_TYPE_IP, IPPROTO_TCP) => "tcp",
            (ETH_TYPE_IP, IPPROTO_UDP) => "udp",
            (ETH_TYPE_IP, IPPROTO_SCTP) => "sctp",
            (ETH_TYPE_IP, IPPROTO_ICMP) => "icmp",
            (ETH_TYPE_IP, _) => "ip",
            (ETH_TYPE_IPV6, IPPROTO_TCP) => "tcp6",
            (ETH_TYPE_IPV6, IPPROTO_UDP) => "udp6",
            (ETH_TYPE_IPV6, IPPROTO_SCTP) => "sctp6",
            (ETH_TYPE_IPV6, IPPROTO_ICMPV6) => "icmp6",
            (ETH_TYPE_IPV6, _) => "ipv6",
            _ => "",
        };
        if proto.is_empty() {
            write!(f, "dl_type={:#06x},", self.eth_type)?;
        } else {
            write!(f, "{proto},")?;
        }
        write!(
            f,
            "in_port={},dl_src={},dl_dst={}",
            self.in_port, self.eth_src, self.eth_dst
        )?;
        match proto {
            "arp" => write!(
                f,
                ",arp_op={},arp_spa={},arp_tpa={},arp_sha={}",
                self.arp_op, self.arp_spa, self.arp_tpa, self.arp_sha
            ),
            "" => Ok(()),
            _ => {
                if self.eth_type == ETH_TYPE_IPV6 {
                    write!(f, ",ipv6_src={},ipv6_dst={}", self.ipv6_src, self.ipv6_dst)?;
                } else {
                    write!(f, ",nw_src={},nw_dst={}", self.ipv4_src, self.ipv4_dst)?;
                }
                let l4 = proto.trim_end_matches('6');
                match l4 {
                    "icmp" if proto == "icmp6" => write!(
                        f,
                        ",icmpv6_type={},icmpv6_code={}",
                        self.icmp_type, self.icmp_code
                    ),
                    "icmp" => write!(
                        f,
                        ",icmp_type={},icmp_code={}",
                        self.icmp_type, self.icmp_code
                    ),
                    "ip" | "ipv" => write!(f, ",nw_proto={}", self.ip_proto),
                    _ => write!(f, ",{l4}_src={},{l4}_dst={}", self.tp_src, self.tp_dst),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_ofproto_trace_flow_syntax() {
        let m = MacAddr([2, 0, 0, 0, 0, 1]);
        let p = Packet::udp(3, m, m, [10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 5, 53);
        assert_eq!(
            p.to_string(),
            "udp,in_port=3,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:01,\
             nw_src=10.0.0.1,nw_dst=10.0.0.2,udp_src=5,udp_dst=53"
        );
        let a = Packet::arp(1, m, m, 1, [10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        assert!(a.to_string().starts_with("arp,in_port=1,"));
    }

    #[test]
    fn an_ipv6_packet_shows_and_matches_its_ipv6_fields() {
        let m = MacAddr([2, 0, 0, 0, 0, 1]);
        let (a, b): (Ipv6Addr, Ipv6Addr) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
        let p = Packet::tcp(3, m, m, Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, 5, 80)
            .into_ipv6(a, b);
        assert_eq!(
            p.to_string(),
            "tcp6,in_port=3,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:01,\
             ipv6_src=fd00::1,ipv6_dst=fd00::2,tcp_src=5,tcp_dst=80"
        );
        assert_eq!(p.header(Fid::EthType), Some(0x86dd));
        assert_eq!(p.header(Fid::Ipv6Dst), Some(u128::from(b)));
        assert_eq!(p.header(Fid::Ipv4Dst), Some(0));
        let ping = Packet::icmp(
            3,
            m,
            m,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            128,
            0,
        )
        .into_ipv6(a, b);
        assert!(ping.to_string().starts_with("icmp6,"), "{ping}");
        assert!(
            ping.to_string().ends_with(",icmpv6_type=128,icmpv6_code=0"),
            "{ping}"
        );
        let pong = ping.reply(4);
        assert_eq!(
            (pong.ipv6_src, pong.icmp_type, pong.src_ip()),
            (b, 129, IpAddr::V6(b))
        );
    }

    #[test]
    fn reply_swaps_addresses_ports_and_echo_type() {
        let m = MacAddr([2, 0, 0, 0, 0, 1]);
        let n = MacAddr([2, 0, 0, 0, 0, 2]);
        let p = Packet::icmp(1, m, n, [10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 8, 0);
        let r = p.reply(2);
        assert_eq!((r.in_port, r.eth_src, r.icmp_type), (2, n, 0));
        assert_eq!(r.ipv4_src, p.ipv4_dst);
    }
}
