//! The strict check of an OXM list, as OVS's `oxm_pull_match` for FLOW_MOD: canonical order,
//! duplicates, masks and prerequisites, with the fast path of [`crate::oxm_fast::quick`].
//! A field this crate does not know passes once its framing is checked and it is no duplicate.

use super::decode::{lookup, parse_tlv, RawTlv};
use super::table::{Fid, FieldInfo};
use crate::flow::{MatchField, RawBytes};
use crate::wire::Reader;
use crate::{Error, MatchError};

/// Facts about the packet a match has established, as [`Walk::have`] bits: what the
/// prerequisites of the fields [`crate::oxm_fast::quick`] reads need.
pub(crate) mod facts {
    /// eth_type is IPv4 or IPv6.
    pub(crate) const IP: u8 = 1;
    /// eth_type is IPv4.
    pub(crate) const IPV4: u8 = 2;
    /// ip_proto is TCP.
    pub(crate) const TCP: u8 = 4;
    /// ip_proto is UDP.
    pub(crate) const UDP: u8 = 8;
}

/// What [`walk_oxms`] remembers of the TLVs already read: their order, and the values later
/// fields' prerequisites depend on.
#[derive(Default)]
struct Walk {
    /// Some TLV broke canonical (strictly ascending) order.
    descending: bool,
    /// Some TLV is not written as [`crate::Match`] keeps its field (a mask to normalise, a
    /// header of another form).
    rewritten: bool,
    /// The smallest [`Fid::rank`] the next TLV may have to keep the order ascending
    /// (`u32::MAX` once it is broken, so the fast path steps aside).
    next_rank: u32,
    /// What the fields read so far establish.
    prereqs: Prereqs,
}

/// What the fields of a match seen so far establish for the prerequisites of later ones: the
/// values OVS's `mf_are_match_prereqs_ok` (`lib/meta-flow.c`) looks at. The one copy of the
/// prerequisite rules, fed field by field by the decoder ([`walk_oxms`], in wire order) and by
/// [`Match::validate`](crate::Match::validate) (in the canonical order emit writes), so a match
/// passes validation exactly when its encoding decodes.
#[derive(Default)]
pub(crate) struct Prereqs {
    /// [`facts`] established so far.
    pub(crate) have: u8,
    in_port: bool,
    eth_type: Option<u16>,
    ip_proto: Option<u8>,
    icmpv6_type: Option<u8>,
    vlan_present: bool,
    /// (value, mask) of ct_state.
    ct_state: Option<(u32, u32)>,
}

/// A field as [`walk_oxms`] hands it on: a known field decoded, or one this crate does not know
/// still borrowed, so that a caller that only checks the list (a view) copies nothing.
pub(crate) enum Item<'a> {
    /// A known field, as OVS normalises it.
    Field(MatchField),
    /// An unknown field, for [`MatchField::Raw`].
    Raw(RawTlv<'a>),
}

/// What [`walk_oxms`] found about a list it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Walked {
    /// The known fields came in canonical (strictly ascending) order: the field list needs no
    /// sort (unknown fields keep their place after the field they follow, see
    /// [`super::emit::sort_canonical`]).
    pub(crate) ascending: bool,
    /// The list is byte for byte what [`crate::Match`] keeps for its fields: ascending, and
    /// every TLV in the form emit writes (masks normalised, OXM headers, tcp_flags as the ONF
    /// OXM). A decoder may then copy the bytes in.
    pub(crate) verbatim: bool,
}

/// Check an OXM list (the TLVs of an `ofp_match`, to the end of `r`) as strictly as OVS's
/// `oxm_pull_match` does for FLOW_MOD, handing `sink` each field in wire order: known fields as
/// OVS normalises them (an all-ones mask made exact, an all-zero masked field dropped), unknown
/// ones raw. Returns the list's order and form ([`Walked`]).
///
/// Each TLV is first offered to [`crate::oxm_fast::quick`]; whatever it does not take, or
/// that fails an order or prerequisite check here, is read again by the general path, which
/// reports the error. So the fast path changes no outcome, only its cost.
///
/// Nothing is allocated: a duplicate of a known field can only follow a field that broke the
/// ascending order, and only then are the TLVs already read searched for it; an unknown field
/// has no order, so they are searched for each one.
#[inline]
pub(crate) fn walk_oxms<'a>(
    r: &mut Reader<'a>,
    mut sink: impl FnMut(Item<'a>),
) -> Result<Walked, Error> {
    let list = r.peek_rest();
    let base = r.offset();
    let mut w = Walk::default();
    while !r.is_empty() {
        if let Some(q) = crate::oxm_fast::quick(r.peek_rest()) {
            if q.rank >= w.next_rank && q.needs & !w.prereqs.have == 0 {
                w.note(q.fid, q.rank, q.value, q.mask);
                r.advance(q.len);
                sink(Item::Field(q.field));
                continue;
            }
        }
        if let Some(item) = w.general(r, list, base)? {
            sink(item);
        }
    }
    Ok(Walked {
        ascending: !w.descending,
        verbatim: !w.descending && !w.rewritten,
    })
}

impl Walk {
    /// Remember a field that passed: its order, and the values prerequisites depend on.
    #[inline(always)]
    fn note(&mut self, fid: Fid, rank: u32, v: u32, m: u32) {
        self.next_rank = if self.descending { u32::MAX } else { rank + 1 };
        self.prereqs.note(fid, v, m);
    }

    /// Read and check one TLV of any kind: a known field as OVS normalises it (`None` when an
    /// all-zero mask drops it), an unknown one raw. `list` is the whole OXM list, `base` its
    /// absolute offset.
    #[inline(never)]
    fn general<'a>(
        &mut self,
        r: &mut Reader<'a>,
        list: &[u8],
        base: usize,
    ) -> Result<Option<Item<'a>>, Error> {
        let off = r.offset();
        let tlv = parse_tlv(r)?;
        let bad = |kind| Error::BadMatch { offset: off, kind };
        let Some((fid, info)) = lookup(tlv.header, off)? else {
            if tlv.value.len() > RawBytes::MAX {
                // Too wide to keep inline (see RawBytes); OVS refuses every unknown field so.
                let at = off - base;
                let wire = u32::from_be_bytes(list[at..at + 4].try_into().expect("header read"));
                return Err(bad(MatchError::BadField(wire)));
            }
            if read_before(&list[..off - base], base, |t| t.same_raw_field(&tlv)) {
                let at = off - base;
                let wire = u32::from_be_bytes(list[at..at + 4].try_into().expect("header read"));
                return Err(bad(MatchError::DupRaw(wire)));
            }
            return Ok(Some(Item::Raw(tlv)));
        };
        let rank = fid.key().rank();
        if rank < self.next_rank {
            self.descending = true;
        }
        let known = |t: &RawTlv| {
            lookup(t.header, 0).is_ok_and(|f| f.is_some_and(|(f, _)| f.key() == fid.key()))
        };
        if self.descending && read_before(&list[..off - base], base, known) {
            return Err(bad(MatchError::DupField(fid.name())));
        }
        let v = crate::oxm_fast::be_value(tlv.value);
        let m = tlv.mask.map(crate::oxm_fast::be_value);
        if let Some(m) = m {
            if !info.maskable {
                return Err(bad(MatchError::BadMask(fid.name())));
            }
            if v & !m != 0 {
                return Err(bad(MatchError::BadWildcards(fid.name())));
            }
        }
        if let Err(needs) = self.prereqs.check(fid) {
            return Err(bad(MatchError::BadPrereq {
                field: fid.name(),
                needs,
            }));
        }
        self.note(fid, rank, v as u32, m.map_or(u32::MAX, |m| m as u32));
        let field = normalized_mask(fid, info, m).map(|m| MatchField::from_raw(fid, v, m));
        let at = off - base;
        let wire = u32::from_be_bytes(list[at..at + 4].try_into().expect("header read"));
        if !field
            .as_ref()
            .is_some_and(|f| written_as(f, (fid, v, m), wire))
        {
            self.rewritten = true;
        }
        Ok(field.map(Item::Field))
    }
}

impl Prereqs {
    /// Remember a field that passed, by its value and mask (low 32 bits; all ones when exact).
    #[inline(always)]
    pub(crate) fn note(&mut self, fid: Fid, v: u32, m: u32) {
        match fid {
            Fid::InPort | Fid::NxmInPort => self.in_port = true,
            Fid::EthType => {
                self.eth_type = Some(v as u16);
                self.have |= match v {
                    0x0800 => facts::IP | facts::IPV4,
                    0x86dd => facts::IP,
                    _ => 0,
                };
            }
            Fid::IpProto => {
                self.ip_proto = Some(v as u8);
                self.have |= match v {
                    6 => facts::TCP,
                    17 => facts::UDP,
                    _ => 0,
                };
            }
            Fid::Icmpv6Type => self.icmpv6_type = Some(v as u8),
            Fid::VlanVid => self.vlan_present = v & 0x1000 != 0,
            Fid::CtState => self.ct_state = Some((v, m)),
            _ => {}
        }
    }

    /// Whether the fields noted so far meet `fid`'s prerequisites (`meta-flow.xml`); `Err`
    /// says what is missing, in `ovs-ofctl` terms.
    pub(crate) fn check(&self, fid: Fid) -> Result<(), &'static str> {
        let eth_type = self.eth_type;
        let ip_proto = self.ip_proto;
        let is_ip = matches!(eth_type, Some(0x0800) | Some(0x86dd));
        let (ok, needs) = match fid {
            Fid::IpProto | Fid::IpDscp | Fid::IpEcn | Fid::NwTtl | Fid::IpFrag => {
                (is_ip, "ip or ipv6 (eth_type=0x0800 or 0x86dd)")
            }
            Fid::Ipv4Src | Fid::Ipv4Dst => (eth_type == Some(0x0800), "ip (eth_type=0x0800)"),
            Fid::TcpSrc | Fid::TcpDst | Fid::TcpFlags => {
                (is_ip && ip_proto == Some(6), "tcp or tcp6 (ip_proto=6)")
            }
            Fid::UdpSrc | Fid::UdpDst => (is_ip && ip_proto == Some(17), "udp or udp6 (ip_proto=17)"),
            Fid::SctpSrc | Fid::SctpDst => {
                (is_ip && ip_proto == Some(132), "sctp or sctp6 (ip_proto=132)")
            }
            Fid::IcmpType | Fid::IcmpCode => (
                eth_type == Some(0x0800) && ip_proto == Some(1),
                "icmp (eth_type=0x0800,ip_proto=1)",
            ),
            Fid::ArpOp | Fid::ArpSpa | Fid::ArpTpa | Fid::ArpSha | Fid::ArpTha => (
                matches!(eth_type, Some(0x0806) | Some(0x8035)),
                "arp or rarp (eth_type=0x0806 or 0x8035)",
            ),
            Fid::Ipv6Src | Fid::Ipv6Dst | Fid::Ipv6Flabel | Fid::Ipv6Exthdr => {
                (eth_type == Some(0x86dd), "ipv6 (eth_type=0x86dd)")
            }
            Fid::Icmpv6Type | Fid::Icmpv6Code => (
                eth_type == Some(0x86dd) && ip_proto == Some(58),
                "icmp6 (eth_type=0x86dd,ip_proto=58)",
            ),
            Fid::NdTarget => (
                eth_type == Some(0x86dd) && matches!(self.icmpv6_type, Some(135) | Some(136)),
                "icmp6 with icmpv6_type=135 or 136",
            ),
            Fid::NdSll => (
                eth_type == Some(0x86dd) && self.icmpv6_type == Some(135),
                "icmp6 with icmpv6_type=135",
            ),
            Fid::NdTll => (
                eth_type == Some(0x86dd) && self.icmpv6_type == Some(136),
                "icmp6 with icmpv6_type=136",
            ),
            Fid::MplsLabel | Fid::MplsTc | Fid::MplsBos => (
                matches!(eth_type, Some(0x8847) | Some(0x8848)),
                "mpls or mplsm (eth_type=0x8847 or 0x8848)",
            ),
            Fid::VlanPcp => (self.vlan_present, "a VLAN (vlan_vid with OFPVID_PRESENT 0x1000)"),
            Fid::InPhyPort => (self.in_port, "in_port"),
            Fid::PbbIsid => (eth_type == Some(0x88e7), "eth_type=0x88e7"),
            Fid::CtNwProto
            | Fid::CtNwSrc
            | Fid::CtNwDst
            | Fid::CtIpv6Src
            | Fid::CtIpv6Dst
            | Fid::CtTpSrc
            | Fid::CtTpDst => (
                self.ct_state.is_some_and(|(v, m)| ct_valid(v, m)),
                "a ct_state of a valid connection (+new, +est, +rel, +rpl, +snat, +dnat or +trk-inv)",
            ),
            _ => (true, ""),
        };
        if ok {
            Ok(())
        } else {
            Err(needs)
        }
    }
}

/// The mask as OVS normalises it: `None` (drop the field) for an all-zero mask, `Some(None)`
/// (exact) for none or an all-ones mask, else the mask. Values were checked to lie within
/// their mask, so they need no ANDing.
pub(crate) fn normalized_mask(fid: Fid, info: &FieldInfo, m: Option<u128>) -> Option<Option<u128>> {
    match m {
        None => Some(None),
        Some(0) => None,
        Some(m) if m & fid.all_ones_of(info) == fid.all_ones_of(info) => Some(None),
        m => Some(m),
    }
}

/// Whether the decoded field `f` is written as the TLV it was read from: the same
/// `(fid, value, mask)` after normalisation, under the header emit writes for it (`wire`, the
/// TLV's first four bytes; tcp_flags as the ONF experimenter OXM).
fn written_as(f: &MatchField, read: (Fid, u128, Option<u128>), wire: u32) -> bool {
    if f.parts().and_then(crate::oxm_fast::normalized_raw) != Some(read) {
        return false;
    }
    let (fid, _, m) = read;
    let h = fid.header();
    let len = h & 0xff;
    let expected = match (fid, m.is_some()) {
        (Fid::TcpFlags, masked) => {
            let body = len * if masked { 2 } else { 1 };
            (super::OFPXMC_EXPERIMENTER as u32) << 16
                | (super::table::ONF_TCP_FLAGS_FIELD as u32) << 9
                | (masked as u32) << 8
                | (4 + body)
        }
        (_, true) => (h & !0xff) | 0x100 | (2 * len),
        (_, false) => h,
    };
    wire == expected
}

/// Whether a TLV in `tlvs` (already checked; `base` is its absolute offset) is `same`.
fn read_before(tlvs: &[u8], base: usize, same: impl Fn(&RawTlv) -> bool) -> bool {
    let mut r = Reader::new(tlvs, base);
    while let Ok(t) = parse_tlv(&mut r) {
        if same(&t) {
            return true;
        }
    }
    false
}

/// OVS `is_ct_valid` for a match: the ct_* tuple fields need a ct_state that implies a valid
/// conntrack entry (new, est, rel, rpl, snat or dnat set, or +trk with an explicit -inv).
fn ct_valid(v: u32, m: u32) -> bool {
    use crate::flow::ct_state::{EST, INV, NEW, REL, RPL, TRK};
    const SNAT: u32 = 0x40;
    const DNAT: u32 = 0x80;
    v & (NEW | EST | REL | RPL | SNAT | DNAT) != 0 || (v & TRK != 0 && m & INV != 0 && v & INV == 0)
}
