//! The answer to a packet of a Reject rule, built with `etherparse`: a TCP RST for TCP, an ICMP
//! destination unreachable, administratively prohibited (type 3, code 13, RFC 1812 §5.2.7.1)
//! for UDP, SCTP and ICMP. The answer goes from the rejected destination back to the client, as
//! if the destination had refused.

use etherparse::{
    Icmpv4Type, IpNumber, LinkSlice, NetSlice, PacketBuilder, SlicedPacket, TransportSlice,
};

/// Why a packet gets no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectError {
    /// Not an Ethernet II + IPv4 frame etherparse can read.
    #[error("packet-in frame is not Ethernet II + IPv4: {0}")]
    Undecodable(String),
    /// A TCP RST or an ICMP error: answering it could loop (RFC 793, RFC 1122 §3.2.2).
    #[error("no answer to a TCP RST or an ICMP error")]
    NoAnswer,
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

/// The Ethernet frame that refuses `frame` (the packet the Reject rule sent to the agent), and
/// its kind. TCP: RST from the destination; when the packet carries an ACK the RST takes its
/// acknowledgment number as sequence number, otherwise the RST acknowledges the segment
/// (RFC 793, "Reset Generation"). Others: ICMP type 3 code 13 carrying the packet's IP header
/// and the first 8 bytes of its payload (RFC 792).
///
/// Errors: [`RejectError::Undecodable`] for a frame that is not Ethernet II + IPv4,
/// [`RejectError::NoAnswer`] for a TCP RST or an ICMP error.
pub fn reject_reply(frame: &[u8]) -> Result<(Vec<u8>, RejectKind), RejectError> {
    let bad = |e: String| RejectError::Undecodable(e);
    let p = SlicedPacket::from_ethernet(frame).map_err(|e| bad(e.to_string()))?;
    let Some(LinkSlice::Ethernet2(eth)) = &p.link else {
        return Err(bad("no Ethernet II header".into()));
    };
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        return Err(bad("not IPv4".into()));
    };
    let h = ip.header();
    let builder = PacketBuilder::ethernet2(eth.destination(), eth.source()).ipv4(
        h.destination(),
        h.source(),
        64,
    );
    let mut out = Vec::new();
    if let Some(TransportSlice::Tcp(tcp)) = &p.transport {
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
            let len = tcp.payload().len() as u32 + u32::from(tcp.syn()) + u32::from(tcp.fin());
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
        if let Some(TransportSlice::Icmpv4(icmp)) = &p.transport {
            if ICMP_ERRORS.contains(&icmp.type_u8()) {
                return Err(RejectError::NoAnswer);
            }
        }
    }
    // The original IP header and the first 8 bytes of its payload.
    let quoted_len = (h.slice().len() + 8).min(ip.header().total_len() as usize);
    let quoted = &frame[14..14 + quoted_len.min(frame.len() - 14)];
    builder
        .icmpv4(Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::FilterProhibited,
        ))
        .write(&mut out, quoted)
        .map_err(|e| bad(e.to_string()))?;
    Ok((out, RejectKind::IcmpAdminProhibited))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
