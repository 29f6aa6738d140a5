//! `Match`'s order (`Ord`) is that of its canonical wire bytes: it agrees with `Eq` and `Hash`,
//! does not depend on the order the fields were given in, and is the order of the TLVs
//! `Match::emit` writes (the bytes of an `ofp_match` after its 4-byte header).

use std::cmp::Ordering;
use std::hash::{BuildHasher, RandomState};
use std::net::Ipv4Addr;

use openflow::{Match, MatchField as M};
use proptest::prelude::*;

/// The TLVs of the `ofp_match` that `m.emit` writes: after the header, up to its length.
fn emitted_tlvs(m: &Match) -> Vec<u8> {
    let mut buf = Vec::new();
    m.emit(&mut buf);
    let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    buf[4..len].to_vec()
}

/// Fields a policy pipeline matches on, with values from a small range so that two matches
/// often share their first fields (what the flow compiler's map compares), masked or not, in
/// any order; one of each kind.
fn fields() -> impl Strategy<Value = Vec<M>> {
    let mask4 = prop_oneof![
        Just(None),
        (0u32..=32).prop_map(|n| Some(Ipv4Addr::from(u32::MAX.checked_shl(32 - n).unwrap_or(0))))
    ];
    let field = prop_oneof![
        (0u32..4).prop_map(M::InPort),
        prop_oneof![Just(0x0800u16), Just(0x86dd)].prop_map(M::EthType),
        prop_oneof![Just(6u8), Just(17)].prop_map(M::IpProto),
        (
            (0u32..4).prop_map(|a| Ipv4Addr::from(0x0a00_0000 | a)),
            mask4.clone()
        )
            .prop_map(|(a, m)| M::Ipv4Src(a, m)),
        (
            (0u32..4).prop_map(|a| Ipv4Addr::from(0x0a00_0000 | a)),
            mask4
        )
            .prop_map(|(a, m)| M::Ipv4Dst(a, m)),
        (
            78u16..82,
            prop_oneof![Just(None), Just(Some(0xfffe)), Just(Some(0xffff))]
        )
            .prop_map(|(p, m)| M::TcpDst(p, m)),
        (0u8..3, 0u32..3, prop_oneof![Just(None), Just(Some(1u32))])
            .prop_map(|(n, v, m)| M::Reg(n, v, m)),
        (0u32..3).prop_map(M::ConjId),
    ];
    prop::collection::vec(field, 0..7).prop_map(|mut v| {
        // Duplicates keep their input order in the canonical form: one of each kind here.
        let mut seen = Vec::new();
        v.retain(|f| {
            let kind = std::mem::discriminant(f);
            let new = !seen.contains(&kind);
            seen.push(kind);
            new
        });
        v
    })
}

proptest! {
    #[test]
    fn order_is_that_of_the_emitted_tlvs_and_agrees_with_eq_and_hash(
        a in fields(),
        b in fields(),
    ) {
        let (ma, mb) = (Match::from(a.clone()), Match::from(b.clone()));
        let order = ma.cmp(&mb);
        prop_assert_eq!(order, emitted_tlvs(&ma).cmp(&emitted_tlvs(&mb)), "{:?} {:?}", ma, mb);
        prop_assert_eq!(order == Ordering::Equal, ma == mb);
        prop_assert_eq!(mb.cmp(&ma), order.reverse());
        if order == Ordering::Equal {
            let s = RandomState::new();
            prop_assert_eq!(s.hash_one(&ma), s.hash_one(&mb));
        }
        // The same fields given in another order: the same match, in the same place.
        let reversed = Match::from(a.iter().rev().cloned().collect::<Vec<_>>());
        prop_assert_eq!(reversed.cmp(&ma), Ordering::Equal);
        prop_assert_eq!(reversed.cmp(&mb), order);
    }
}

/// Clause matches like the flow compiler's, in their order: `ip` alone (a prefix of the others)
/// first; then by the first TLV after eth_type, in OXM field order (ip_proto 10 before
/// ipv4_src 11 before ipv4_dst 12); one field exact before masked (the has-mask bit of its
/// header), exact values as big-endian numbers.
#[test]
fn compiler_clauses_sort_by_their_bytes() {
    let ip = || M::EthType(0x0800);
    let a = |s: &str| s.parse::<Ipv4Addr>().unwrap();
    let expected = [
        Match::from([ip()]),
        Match::from([ip(), M::IpProto(6), M::TcpDst(80, None)]),
        Match::from([ip(), M::IpProto(6), M::TcpDst(8000, Some(0xffc0))]),
        Match::from([ip(), M::IpProto(17), M::UdpDst(53, None)]),
        Match::from([ip(), M::Ipv4Src(a("10.0.0.9"), None)]),
        Match::from([ip(), M::Ipv4Src(a("10.0.1.1"), None)]),
        Match::from([ip(), M::Ipv4Src(a("10.0.0.0"), Some(a("255.255.255.0")))]),
        Match::from([ip(), M::Ipv4Src(a("192.168.0.0"), Some(a("255.255.0.0")))]),
        Match::from([ip(), M::Ipv4Dst(a("10.0.0.1"), None)]),
    ];
    let mut sorted = expected.to_vec();
    sorted.reverse();
    sorted.sort();
    assert_eq!(sorted, expected);
}
