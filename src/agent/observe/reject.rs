//! The answer to a packet of a Reject rule, built with `etherparse`: a TCP RST for TCP, an ICMP
//! destination unreachable, administratively prohibited (type 3, code 13, RFC 1812 §5.2.7.1)
//! for UDP, SCTP and ICMP. The answer goes from the rejected destination back to the client, as
//! if the destination had refused. Broadcast, multicast and non-initial fragments get no
//! answer (RFC 1122 §3.2.2); VLAN tags are kept.

use std::net::Ipv4Addr;

use etherparse::{
    DoubleVlanHeader, Icmpv4Type, IpNumber, LaxLinkExtSlice, LaxNetSlice, LaxSlicedPacket,
    LinkSlice, PacketBuilder, TcpSlice, TransportSlice, VlanHeader,
};

/// Why a packet gets no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectError {
    /// Not an Ethernet II (optionally VLAN-tagged) + IPv4 frame etherparse can read.
    #[error("packet-in frame is not Ethernet II + IPv4: {0}")]
    Undecodable(String),
    /// A TCP RST or an ICMP error: answering it could loop (RFC 793, RFC 1122 §3.2.2).
    #[error("no answer to a TCP RST or an ICMP error")]
    NoAnswer,
    /// A packet to or from a broadcast or multicast address, or a non-initial fragment: RFC
    /// 1122 §3.2.2 forbids ICMP errors for these, and a RST to a group makes no sense.
    #[error("no answer to a broadcast, multicast or non-initial fragment ({0})")]
    NotAnswerable(&'static str),
}

/// The kind of answer, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectKind {
    /// A TCP RST.
    TcpRst,
    /// An ICMP destination unreachable, administratively prohibited.
    IcmpAdminProhibited,
}

impl RejectKind {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            RejectKind::TcpRst => "tcp_rst",
            RejectKind::IcmpAdminProhibited => "icmp_admin_prohibited",
        }
    }
}

/// ICMP types that are errors (RFC 1122 §3.2.2: never answered with an ICMP error).
const ICMP_ERRORS: [u8; 5] = [3, 4, 5, 11, 12];

/// Whether an IPv4 address names no single host: multicast, limited broadcast, unspecified.
fn not_one_host(a: Ipv4Addr) -> bool {
    a.is_multicast() || a.is_broadcast() || a.is_unspecified()
}

/// The Ethernet frame that refuses `frame` (the packet the Reject rule sent to the agent,
/// possibly cut to the controller action's `max_len`,
/// [`crate::datapath::pipeline::packet_in::MAX_LEN`]), and its kind. VLAN tags (one or two) are
/// read and copied onto the answer. TCP: RST from the destination; when the packet carries an
/// ACK the RST takes its acknowledgment number as sequence number, otherwise the RST
/// acknowledges the segment, its length taken from the IP header (RFC 793, "Reset
/// Generation"). Others: ICMP type 3 code 13 carrying the packet's IP header and the first 8
/// bytes of its payload (RFC 792).
///
/// Errors: [`RejectError::Undecodable`] for a frame that is not Ethernet II + IPv4,
/// [`RejectError::NoAnswer`] for a TCP RST or an ICMP error, [`RejectError::NotAnswerable`]
/// for a broadcast or multicast (Ethernet or IP) destination or source, or a fragment other
/// than the first (RFC 1122 §3.2.2).
pub fn reject_reply(frame: &[u8]) -> Result<(Vec<u8>, RejectKind), RejectError> {
    let bad = |e: String| RejectError::Undecodable(e);
    let p = LaxSlicedPacket::from_ethernet(frame).map_err(|e| bad(e.to_string()))?;
    let Some(LinkSlice::Ethernet2(eth)) = &p.link else {
        return Err(bad("no Ethernet II header".into()));
    };
    let Some(LaxNetSlice::Ipv4(ip)) = &p.net else {
        return Err(bad("not IPv4".into()));
    };
    let h = ip.header();
    if eth.destination()[0] & 1 != 0 || eth.source()[0] & 1 != 0 {
        return Err(RejectError::NotAnswerable("Ethernet group address"));
    }
    if not_one_host(h.destination_addr()) || not_one_host(h.source_addr()) {
        return Err(RejectError::NotAnswerable("IP address of no single host"));
    }
    if h.fragments_offset().value() != 0 {
        return Err(RejectError::NotAnswerable("non-initial fragment"));
    }
    let mut vlans = Vec::new();
    for ext in &p.link_exts {
        match ext {
            LaxLinkExtSlice::Vlan(v) => vlans.push(v.to_header()),
            LaxLinkExtSlice::Macsec(_) => return Err(bad("MACsec frame".into())),
        }
    }
    let eth_step = PacketBuilder::ethernet2(eth.destination(), eth.source());
    let (src, dst) = (h.destination(), h.source());
    let builder = match vlans.as_slice() {
        [] => eth_step.ipv4(src, dst, 64),
        [one] => eth_step
            .vlan(VlanHeader::Single(one.clone()))
            .ipv4(src, dst, 64),
        [outer, inner, ..] => eth_step
            .vlan(VlanHeader::Double(DoubleVlanHeader {
                outer: outer.clone(),
                inner: inner.clone(),
            }))
            .ipv4(src, dst, 64),
    };
    let payload = ip.payload().payload;
    let tcp = match &p.transport {
        Some(TransportSlice::Tcp(tcp)) => Some(tcp.clone()),
        // An initial fragment: etherparse leaves its transport header unread.
        None if h.protocol() == IpNumber::TCP => TcpSlice::from_slice(payload).ok(),
        _ => None,
    };
    let mut out = Vec::new();
    if let Some(tcp) = tcp {
        if tcp.rst() {
            return Err(RejectError::NoAnswer);
        }
        let (sport, dport) = (tcp.destination_port(), tcp.source_port());
        let builder = if tcp.ack() {
            // The RST takes the segment's acknowledgment number as its sequence number.
            builder
                .tcp(sport, dport, tcp.acknowledgment_number(), 0)
                .rst()
        } else {
            // The segment's length from the IP header: the frame may be cut short.
            let data = usize::from(h.total_len())
                .saturating_sub(h.slice().len())
                .saturating_sub(tcp.header_len());
            let len = (data as u32)
                .wrapping_add(u32::from(tcp.syn()))
                .wrapping_add(u32::from(tcp.fin()));
            builder
                .tcp(sport, dport, 0, 0)
                .rst()
                .ack(tcp.sequence_number().wrapping_add(len))
        };
        builder
            .write(&mut out, &[])
            .map_err(|e| bad(e.to_string()))?;
        return Ok((out, RejectKind::TcpRst));
    }
    if h.protocol() == IpNumber::ICMP {
        match payload.first() {
            Some(t) if ICMP_ERRORS.contains(t) => return Err(RejectError::NoAnswer),
            _ => {}
        }
    }
    // The original IP header and the first 8 bytes of its payload.
    let mut quoted = h.slice().to_vec();
    quoted.extend_from_slice(&payload[..payload.len().min(8)]);
    builder
        .icmpv4(Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::FilterProhibited,
        ))
        .write(&mut out, &quoted)
        .map_err(|e| bad(e.to_string()))?;
    Ok((out, RejectKind::IcmpAdminProhibited))
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket};

    const CLIENT: [u8; 6] = [0xaa, 0, 0, 0, 0, 1];
    const SERVER: [u8; 6] = [0xaa, 0, 0, 0, 0, 2];

    fn syn() -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(CLIENT, SERVER)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 8080, 1000, 64240)
            .syn()
            .write(&mut v, &[])
            .unwrap();
        v
    }

    #[test]
    fn a_syn_is_answered_by_an_rst_ack_from_the_destination() {
        let (reply, kind) = reject_reply(&syn()).unwrap();
        assert_eq!(kind, RejectKind::TcpRst);
        let p = SlicedPacket::from_ethernet(&reply).unwrap();
        let Some(LinkSlice::Ethernet2(eth)) = p.link else {
            panic!()
        };
        assert_eq!((eth.source(), eth.destination()), (SERVER, CLIENT));
        let Some(NetSlice::Ipv4(ip)) = p.net else {
            panic!()
        };
        assert_eq!(ip.header().source(), [10, 0, 0, 2]);
        let Some(TransportSlice::Tcp(tcp)) = p.transport else {
            panic!()
        };
        assert_eq!((tcp.source_port(), tcp.destination_port()), (8080, 40000));
        assert!(tcp.rst() && tcp.ack() && !tcp.syn());
        assert_eq!(tcp.acknowledgment_number(), 1001);
        assert_eq!(tcp.sequence_number(), 0);
    }

    #[test]
    fn a_udp_datagram_is_answered_by_icmp_admin_prohibited_quoting_it() {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(CLIENT, SERVER)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(40000, 5353)
            .write(&mut v, b"kakine probe\n")
            .unwrap();
        let (reply, kind) = reject_reply(&v).unwrap();
        assert_eq!(kind, RejectKind::IcmpAdminProhibited);
        let p = SlicedPacket::from_ethernet(&reply).unwrap();
        let Some(TransportSlice::Icmpv4(icmp)) = p.transport else {
            panic!()
        };
        assert_eq!((icmp.type_u8(), icmp.code_u8()), (3, 13));
        // The original IP header (20 bytes) and the UDP header (8 bytes).
        assert_eq!(icmp.payload(), &v[14..14 + 28]);
    }

    #[test]
    fn an_rst_or_an_icmp_error_gets_no_answer() {
        let mut rst = Vec::new();
        PacketBuilder::ethernet2(CLIENT, SERVER)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 8080, 1, 0)
            .rst()
            .write(&mut rst, &[])
            .unwrap();
        assert_eq!(reject_reply(&rst), Err(RejectError::NoAnswer));
        let mut icmp_error = Vec::new();
        PacketBuilder::ethernet2(CLIENT, SERVER)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .icmpv4(Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::Port,
            ))
            .write(&mut icmp_error, &[0; 28])
            .unwrap();
        assert_eq!(reject_reply(&icmp_error), Err(RejectError::NoAnswer));
        assert!(matches!(
            reject_reply(&[0; 10]),
            Err(RejectError::Undecodable(_))
        ));
    }

    fn udp(dst_mac: [u8; 6], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(CLIENT, dst_mac)
            .ipv4([10, 0, 0, 1], dst, 64)
            .udp(40000, 5353)
            .write(&mut v, payload)
            .unwrap();
        v
    }

    #[test]
    fn a_vlan_tagged_packet_is_answered_on_its_vlan_quoting_its_ip_header() {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(CLIENT, SERVER)
            .single_vlan(etherparse::VlanId::try_new(42).unwrap())
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(40000, 5353)
            .write(&mut v, b"kakine probe\n")
            .unwrap();
        let (reply, kind) = reject_reply(&v).unwrap();
        assert_eq!(kind, RejectKind::IcmpAdminProhibited);
        let p = SlicedPacket::from_ethernet(&reply).unwrap();
        let Some(etherparse::LinkExtSlice::Vlan(tag)) = p.link_exts.first() else {
            panic!("the answer lost the VLAN tag")
        };
        assert_eq!(tag.vlan_identifier().value(), 42);
        let Some(TransportSlice::Icmpv4(icmp)) = p.transport else {
            panic!()
        };
        // The IP header starts after 14 + 4 bytes, not 14.
        assert_eq!(icmp.payload(), &v[18..18 + 28]);

        let mut syn = Vec::new();
        PacketBuilder::ethernet2(CLIENT, SERVER)
            .single_vlan(etherparse::VlanId::try_new(42).unwrap())
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 8080, 1000, 64240)
            .syn()
            .write(&mut syn, &[])
            .unwrap();
        let (reply, kind) = reject_reply(&syn).unwrap();
        assert_eq!(kind, RejectKind::TcpRst);
        let p = SlicedPacket::from_ethernet(&reply).unwrap();
        assert_eq!(p.link_exts.len(), 1);
        let Some(TransportSlice::Tcp(tcp)) = p.transport else {
            panic!()
        };
        assert!(tcp.rst() && tcp.acknowledgment_number() == 1001);
    }

    #[test]
    fn broadcast_multicast_and_non_initial_fragments_get_no_answer() {
        let group_mac = [0x01, 0x00, 0x5e, 0, 0, 5];
        for (frame, why) in [
            (udp([0xff; 6], [10, 0, 0, 2], b"x"), "Ethernet broadcast"),
            (udp(group_mac, [10, 0, 0, 2], b"x"), "Ethernet multicast"),
            (udp(SERVER, [255, 255, 255, 255], b"x"), "IP broadcast"),
            (udp(SERVER, [224, 0, 0, 5], b"x"), "IP multicast"),
        ] {
            assert!(
                matches!(reject_reply(&frame), Err(RejectError::NotAnswerable(_))),
                "{why}"
            );
        }
        // The same datagram as the second fragment (offset 16 × 8 bytes).
        let mut frag = udp(SERVER, [10, 0, 0, 2], &[7; 40]);
        frag[14 + 6..14 + 8].copy_from_slice(&16u16.to_be_bytes());
        assert_eq!(
            reject_reply(&frag),
            Err(RejectError::NotAnswerable("non-initial fragment"))
        );
        // The first fragment (more fragments set, offset 0) is answered.
        let mut first = udp(SERVER, [10, 0, 0, 2], &[7; 40]);
        first[14 + 6] = 0x20;
        assert!(reject_reply(&first).is_ok());
    }

    #[test]
    fn a_packet_cut_to_the_controller_max_len_is_still_answered() {
        let max = usize::from(crate::datapath::pipeline::packet_in::MAX_LEN);
        let full = udp(SERVER, [10, 0, 0, 2], &[7; 400]);
        let (reply, _) = reject_reply(&full[..max]).unwrap();
        let p = SlicedPacket::from_ethernet(&reply).unwrap();
        let Some(TransportSlice::Icmpv4(icmp)) = p.transport else {
            panic!()
        };
        assert_eq!(icmp.payload(), &full[14..14 + 28]);

        // A data segment without ACK: the RST acknowledges all of it, per the IP length.
        let mut seg = Vec::new();
        PacketBuilder::ethernet2(CLIENT, SERVER)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 8080, 1000, 64240)
            .write(&mut seg, &[1; 500])
            .unwrap();
        let (reply, _) = reject_reply(&seg[..max]).unwrap();
        let p = SlicedPacket::from_ethernet(&reply).unwrap();
        let Some(TransportSlice::Tcp(tcp)) = p.transport else {
            panic!()
        };
        assert_eq!(tcp.acknowledgment_number(), 1500);
    }
}
