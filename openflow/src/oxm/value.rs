//! A [`MatchField`] as its field identity and integer value and mask, both ways, and the mask
//! normalisation OVS applies (`nx_put_raw`).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::table::Fid;
use crate::flow::{MacAddr, MatchField};

/// The Ethernet address in the low 48 bits of `v`.
pub(crate) fn mac(v: u128) -> MacAddr {
    let b = (v as u64).to_be_bytes();
    MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
}

pub(crate) fn mac_bits(m: MacAddr) -> u128 {
    let mut b = [0u8; 8];
    b[2..].copy_from_slice(&m.0);
    u64::from_be_bytes(b) as u128
}

impl MatchField {
    /// The field's identity, value and mask as integers (`None` = exact); `None` for a
    /// [`MatchField::Raw`], which has no [`Fid`].
    #[inline]
    pub(crate) fn parts(&self) -> Option<(Fid, u128, Option<u128>)> {
        use MatchField as M;
        let ip = |a: &Ipv4Addr| u32::from(*a) as u128;
        let ip6 = |a: &Ipv6Addr| u128::from(*a);
        Some(match self {
            M::InPort(p) => (Fid::InPort, *p as u128, None),
            M::EthDst(v, m) => (Fid::EthDst, mac_bits(*v), m.map(mac_bits)),
            M::EthSrc(v, m) => (Fid::EthSrc, mac_bits(*v), m.map(mac_bits)),
            M::EthType(v) => (Fid::EthType, *v as u128, None),
            M::IpProto(v) => (Fid::IpProto, *v as u128, None),
            M::Ipv4Src(v, m) => (Fid::Ipv4Src, ip(v), m.as_ref().map(ip)),
            M::Ipv4Dst(v, m) => (Fid::Ipv4Dst, ip(v), m.as_ref().map(ip)),
            M::TcpSrc(v, m) => (Fid::TcpSrc, *v as u128, m.map(u128::from)),
            M::TcpDst(v, m) => (Fid::TcpDst, *v as u128, m.map(u128::from)),
            M::UdpSrc(v, m) => (Fid::UdpSrc, *v as u128, m.map(u128::from)),
            M::UdpDst(v, m) => (Fid::UdpDst, *v as u128, m.map(u128::from)),
            M::SctpSrc(v, m) => (Fid::SctpSrc, *v as u128, m.map(u128::from)),
            M::SctpDst(v, m) => (Fid::SctpDst, *v as u128, m.map(u128::from)),
            M::IcmpType(v) => (Fid::IcmpType, *v as u128, None),
            M::IcmpCode(v) => (Fid::IcmpCode, *v as u128, None),
            M::ArpOp(v) => (Fid::ArpOp, *v as u128, None),
            M::ArpSpa(v, m) => (Fid::ArpSpa, ip(v), m.as_ref().map(ip)),
            M::ArpTpa(v, m) => (Fid::ArpTpa, ip(v), m.as_ref().map(ip)),
            M::ArpSha(v, m) => (Fid::ArpSha, mac_bits(*v), m.map(mac_bits)),
            M::Reg(n, v, m) => (Fid::Reg(*n), *v as u128, m.map(u128::from)),
            M::CtState(v, m) => (Fid::CtState, *v as u128, Some(*m as u128)),
            M::CtZone(v) => (Fid::CtZone, *v as u128, None),
            M::CtMark(v, m) => (Fid::CtMark, *v as u128, m.map(u128::from)),
            M::CtLabel(v, m) => (Fid::CtLabel, *v, *m),
            M::ConjId(v) => (Fid::ConjId, *v as u128, None),
            M::Metadata(v, m) => (Fid::Metadata, *v as u128, m.map(u128::from)),
            M::VlanVid(v, m) => (Fid::VlanVid, *v as u128, m.map(u128::from)),
            M::VlanPcp(v) => (Fid::VlanPcp, *v as u128, None),
            M::IpDscp(v) => (Fid::IpDscp, *v as u128, None),
            M::IpEcn(v) => (Fid::IpEcn, *v as u128, None),
            M::NwTtl(v) => (Fid::NwTtl, *v as u128, None),
            M::Ipv6Src(v, m) => (Fid::Ipv6Src, ip6(v), m.as_ref().map(ip6)),
            M::Ipv6Dst(v, m) => (Fid::Ipv6Dst, ip6(v), m.as_ref().map(ip6)),
            M::Ipv6Flabel(v, m) => (Fid::Ipv6Flabel, *v as u128, m.map(u128::from)),
            M::Icmpv6Type(v) => (Fid::Icmpv6Type, *v as u128, None),
            M::Icmpv6Code(v) => (Fid::Icmpv6Code, *v as u128, None),
            M::NdTarget(v, m) => (Fid::NdTarget, ip6(v), m.as_ref().map(ip6)),
            M::NdSll(v, m) => (Fid::NdSll, mac_bits(*v), m.map(mac_bits)),
            M::NdTll(v, m) => (Fid::NdTll, mac_bits(*v), m.map(mac_bits)),
            M::ArpTha(v, m) => (Fid::ArpTha, mac_bits(*v), m.map(mac_bits)),
            M::MplsLabel(v) => (Fid::MplsLabel, *v as u128, None),
            M::MplsTc(v) => (Fid::MplsTc, *v as u128, None),
            M::MplsBos(v) => (Fid::MplsBos, *v as u128, None),
            M::TunnelId(v, m) => (Fid::TunnelId, *v as u128, m.map(u128::from)),
            M::TunSrc(v, m) => (Fid::TunSrc, ip(v), m.as_ref().map(ip)),
            M::TunDst(v, m) => (Fid::TunDst, ip(v), m.as_ref().map(ip)),
            M::PktMark(v, m) => (Fid::PktMark, *v as u128, m.map(u128::from)),
            M::DpHash(v, m) => (Fid::DpHash, *v as u128, m.map(u128::from)),
            M::RecircId(v) => (Fid::RecircId, *v as u128, None),
            M::TunMetadata {
                idx,
                len,
                value,
                mask,
            } => (Fid::TunMetadata(*idx, *len), *value, *mask),
            M::InPhyPort(p) => (Fid::InPhyPort, *p as u128, None),
            M::PbbIsid(v, m) => (Fid::PbbIsid, *v as u128, m.map(u128::from)),
            M::Ipv6Exthdr(v, m) => (Fid::Ipv6Exthdr, *v as u128, m.map(u128::from)),
            M::IpFrag(v, m) => (Fid::IpFrag, *v as u128, m.map(u128::from)),
            M::TcpFlags(v, m) => (Fid::TcpFlags, *v as u128, m.map(u128::from)),
            M::TunFlags(v, m) => (Fid::TunFlags, *v as u128, m.map(u128::from)),
            M::CtNwProto(v) => (Fid::CtNwProto, *v as u128, None),
            M::CtNwSrc(v, m) => (Fid::CtNwSrc, ip(v), m.as_ref().map(ip)),
            M::CtNwDst(v, m) => (Fid::CtNwDst, ip(v), m.as_ref().map(ip)),
            M::CtIpv6Src(v, m) => (Fid::CtIpv6Src, ip6(v), m.as_ref().map(ip6)),
            M::CtIpv6Dst(v, m) => (Fid::CtIpv6Dst, ip6(v), m.as_ref().map(ip6)),
            M::CtTpSrc(v, m) => (Fid::CtTpSrc, *v as u128, m.map(u128::from)),
            M::CtTpDst(v, m) => (Fid::CtTpDst, *v as u128, m.map(u128::from)),
            M::Raw { .. } => return None,
        })
    }

    /// The field's identity, `None` for a [`MatchField::Raw`].
    pub(crate) fn fid(&self) -> Option<Fid> {
        self.parts().map(|(fid, ..)| fid)
    }

    /// Inverse of [`MatchField::parts`]; values are truncated to the field width.
    pub(crate) fn from_raw(fid: Fid, v: u128, m: Option<u128>) -> MatchField {
        use MatchField as M;
        let ip = |x: u128| Ipv4Addr::from(x as u32);
        match fid {
            Fid::InPort => M::InPort(v as u32),
            // OF1.0 16-bit port: reserved ports 0xff00.. map to 0xffffff00.. (`ofp11_port`).
            Fid::NxmInPort if v >= 0xff00 => M::InPort(v as u32 | 0xffff_0000),
            Fid::NxmInPort => M::InPort(v as u32),
            Fid::EthDst => M::EthDst(mac(v), m.map(mac)),
            Fid::EthSrc => M::EthSrc(mac(v), m.map(mac)),
            Fid::EthType => M::EthType(v as u16),
            Fid::IpProto => M::IpProto(v as u8),
            Fid::Ipv4Src => M::Ipv4Src(ip(v), m.map(ip)),
            Fid::Ipv4Dst => M::Ipv4Dst(ip(v), m.map(ip)),
            Fid::TcpSrc => M::TcpSrc(v as u16, m.map(|m| m as u16)),
            Fid::TcpDst => M::TcpDst(v as u16, m.map(|m| m as u16)),
            Fid::UdpSrc => M::UdpSrc(v as u16, m.map(|m| m as u16)),
            Fid::UdpDst => M::UdpDst(v as u16, m.map(|m| m as u16)),
            Fid::SctpSrc => M::SctpSrc(v as u16, m.map(|m| m as u16)),
            Fid::SctpDst => M::SctpDst(v as u16, m.map(|m| m as u16)),
            Fid::IcmpType => M::IcmpType(v as u8),
            Fid::IcmpCode => M::IcmpCode(v as u8),
            Fid::ArpOp => M::ArpOp(v as u16),
            Fid::ArpSpa => M::ArpSpa(ip(v), m.map(ip)),
            Fid::ArpTpa => M::ArpTpa(ip(v), m.map(ip)),
            Fid::ArpSha => M::ArpSha(mac(v), m.map(mac)),
            Fid::Reg(n) => M::Reg(n, v as u32, m.map(|m| m as u32)),
            Fid::CtState => M::CtState(v as u32, m.map_or(u32::MAX, |m| m as u32)),
            Fid::CtZone => M::CtZone(v as u16),
            Fid::CtMark => M::CtMark(v as u32, m.map(|m| m as u32)),
            Fid::CtLabel => M::CtLabel(v, m),
            Fid::ConjId => M::ConjId(v as u32),
            Fid::Metadata => M::Metadata(v as u64, m.map(|m| m as u64)),
            Fid::VlanVid => M::VlanVid(v as u16, m.map(|m| m as u16)),
            Fid::VlanPcp => M::VlanPcp(v as u8),
            Fid::IpDscp => M::IpDscp(v as u8),
            Fid::IpEcn => M::IpEcn(v as u8),
            Fid::NwTtl => M::NwTtl(v as u8),
            Fid::Ipv6Src => M::Ipv6Src(Ipv6Addr::from(v), m.map(Ipv6Addr::from)),
            Fid::Ipv6Dst => M::Ipv6Dst(Ipv6Addr::from(v), m.map(Ipv6Addr::from)),
            Fid::Ipv6Flabel => M::Ipv6Flabel(v as u32, m.map(|m| m as u32)),
            Fid::Icmpv6Type => M::Icmpv6Type(v as u8),
            Fid::Icmpv6Code => M::Icmpv6Code(v as u8),
            Fid::NdTarget => M::NdTarget(Ipv6Addr::from(v), m.map(Ipv6Addr::from)),
            Fid::NdSll => M::NdSll(mac(v), m.map(mac)),
            Fid::NdTll => M::NdTll(mac(v), m.map(mac)),
            Fid::ArpTha => M::ArpTha(mac(v), m.map(mac)),
            Fid::MplsLabel => M::MplsLabel(v as u32),
            Fid::MplsTc => M::MplsTc(v as u8),
            Fid::MplsBos => M::MplsBos(v as u8),
            Fid::TunnelId => M::TunnelId(v as u64, m.map(|m| m as u64)),
            Fid::TunSrc => M::TunSrc(ip(v), m.map(ip)),
            Fid::TunDst => M::TunDst(ip(v), m.map(ip)),
            Fid::PktMark => M::PktMark(v as u32, m.map(|m| m as u32)),
            Fid::DpHash => M::DpHash(v as u32, m.map(|m| m as u32)),
            Fid::RecircId => M::RecircId(v as u32),
            Fid::TunMetadata(idx, len) => M::TunMetadata {
                idx,
                len,
                value: v,
                mask: m,
            },
            Fid::InPhyPort => M::InPhyPort(v as u32),
            Fid::PbbIsid => M::PbbIsid(v as u32, m.map(|m| m as u32)),
            Fid::Ipv6Exthdr => M::Ipv6Exthdr(v as u16, m.map(|m| m as u16)),
            Fid::IpFrag => M::IpFrag(v as u8, m.map(|m| m as u8)),
            Fid::TcpFlags => M::TcpFlags(v as u16, m.map(|m| m as u16)),
            Fid::TunFlags => M::TunFlags(v as u16, m.map(|m| m as u16)),
            Fid::CtNwProto => M::CtNwProto(v as u8),
            Fid::CtNwSrc => M::CtNwSrc(ip(v), m.map(ip)),
            Fid::CtNwDst => M::CtNwDst(ip(v), m.map(ip)),
            Fid::CtIpv6Src => M::CtIpv6Src(Ipv6Addr::from(v), m.map(Ipv6Addr::from)),
            Fid::CtIpv6Dst => M::CtIpv6Dst(Ipv6Addr::from(v), m.map(Ipv6Addr::from)),
            Fid::CtTpSrc => M::CtTpSrc(v as u16, m.map(|m| m as u16)),
            Fid::CtTpDst => M::CtTpDst(v as u16, m.map(|m| m as u16)),
        }
    }

    /// The field as OVS normalises it: `None` when its mask is all-zero (the field matches
    /// anything); otherwise value ANDed with the mask, and an all-ones mask made exact. A
    /// [`MatchField::Raw`] is returned as it is: its width and meaning are unknown.
    pub fn normalized(&self) -> Option<MatchField> {
        let Some((fid, v, m)) = self.parts() else {
            return Some(self.clone());
        };
        match m {
            Some(0) => None,
            Some(m) if m & fid.all_ones() == fid.all_ones() => {
                Some(MatchField::from_raw(fid, v, None))
            }
            Some(m) => Some(MatchField::from_raw(fid, v & m, Some(m))),
            None => Some(self.clone()),
        }
    }
}
