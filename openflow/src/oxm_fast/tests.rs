use std::net::Ipv4Addr;

use super::emit::{emit_canonical, emit_common};
use super::{be_value, count_tlvs, emit_fields, field, find, quick};
use crate::flow::{Match, MatchField};
use crate::oxm::{Fid, FIELDS, OFPXMC_NXM_1, OFPXMC_OPENFLOW_BASIC};

/// A match with a raw field goes through the general path: an exact ct_state (its value
/// form keeps an all-ones mask) is still written exact, as OVS writes it.
#[test]
fn an_exact_ct_state_beside_a_raw_field_is_written_exact() {
    let raw = MatchField::Raw {
        class: 0x7fff,
        field: 1,
        experimenter: None,
        value: crate::RawBytes::new(&[1, 2]).expect("2 bytes"),
        mask: None,
    };
    let mut buf = Vec::new();
    Match::from(vec![MatchField::CtState(0x22, u32::MAX), raw]).emit(&mut buf);
    assert_eq!(
        buf,
        [0, 1, 0, 0x12, 0, 1, 0xd2, 4, 0, 0, 0, 0x22, 0x7f, 0xff, 2, 2, 1, 2]
            .iter()
            .chain(&[0; 6])
            .copied()
            .collect::<Vec<u8>>()
    );
}

/// Every field the encode fast path takes, exact and with all-zero, all-ones and partial
/// masks: written exactly as the general path writes the canonical field.
#[test]
fn the_encode_fast_path_writes_what_the_general_path_writes() {
    use MatchField as M;
    let ip = Ipv4Addr::new;
    let m32 = [
        None,
        Some(0),
        Some(u32::MAX),
        Some(0xffff_ff00),
        Some(0x0000_0f0f),
    ];
    let mut fields = vec![
        M::InPort(7),
        M::EthType(0x0800),
        M::IpProto(6),
        M::TcpSrc(1, None),
        M::TcpDst(443, None),
        M::UdpSrc(53, None),
        M::UdpDst(4789, None),
        M::ConjId(1234),
    ];
    for m in m32 {
        fields.push(M::Ipv4Src(ip(10, 1, 2, 3), m.map(Ipv4Addr::from)));
        fields.push(M::Ipv4Dst(ip(192, 168, 9, 255), m.map(Ipv4Addr::from)));
        fields.push(M::Reg(15, 0xdead_beef, m));
        fields.push(M::CtMark(0x1234_5678, m));
        fields.push(M::CtState(0x22, m.unwrap_or(u32::MAX)));
    }
    for m in [None, Some(0), Some(u64::MAX), Some(0xffff_0000_0000_ffff)] {
        fields.push(M::Metadata(0x0123_4567_89ab_cdef, m));
    }
    for f in fields {
        let (mut fast, mut general) = (Vec::new(), Vec::new());
        let mut last = 0;
        assert_eq!(emit_common(&f, &mut fast, &mut last), Some(true), "{f:?}");
        if let Some(n) = f.normalized() {
            crate::oxm::emit_match_field(&mut general, &n);
        }
        assert_eq!(fast, general, "{f:?}");
    }
}

#[test]
fn every_row_is_found_by_its_class_and_field() {
    for (fid, info) in FIELDS {
        let (found, i) = find(info.class, info.field).expect(info.name);
        assert_eq!((found, i.name), (*fid, info.name));
    }
    assert_eq!(find(OFPXMC_NXM_1, 3).map(|f| f.0), Some(Fid::Reg(3)));
    assert!(find(OFPXMC_OPENFLOW_BASIC, 127).is_none());
    assert!(find(0x4242, 1).is_none());
}

#[test]
fn the_tables_answer_as_the_linear_search_does_for_every_class_and_field() {
    for class in [
        OFPXMC_OPENFLOW_BASIC,
        OFPXMC_NXM_1,
        crate::oxm::OFPXMC_NXM_0,
    ] {
        for field in 0..128u8 {
            assert_eq!(
                find(class, field).map(|f| f.0),
                Fid::from_class_field(class, field),
                "class {class:#x} field {field}"
            );
        }
    }
    assert_eq!(
        find(OFPXMC_NXM_1, 41).map(|f| f.0),
        Some(Fid::TunMetadata(1, 0))
    );
}

/// The general path's reading of one TLV: bytes used and the normalised field.
fn general(b: &[u8]) -> Option<(usize, Fid, Option<MatchField>)> {
    let mut r = crate::wire::Reader::new(b, 0);
    let tlv = crate::oxm::parse_tlv(&mut r).ok()?;
    let (fid, info) = crate::oxm::lookup(tlv.header, 0).ok()??;
    let (v, m) = (be_value(tlv.value), tlv.mask.map(be_value));
    if m.is_some_and(|m| !info.maskable || v & !m != 0) {
        return None;
    }
    let field = crate::oxm::normalized_mask(fid, info, m).map(|m| MatchField::from_raw(fid, v, m));
    Some((r.offset(), fid, field))
}

#[test]
fn the_fast_path_reads_every_tlv_it_takes_as_the_general_path_does() {
    let (mut taken, mut fields) = (0, 0);
    let fids = FIELDS.iter().map(|(f, _)| *f).chain((0..16).map(Fid::Reg));
    for fid in fids {
        let len = fid.len() as usize;
        let exact = fid.header();
        let masked = (exact & !0xff) | 0x100 | (2 * len) as u32;
        let pattern: Vec<u8> = (0..len as u8).map(|i| 0x5a ^ i.wrapping_mul(37)).collect();
        // Each case with whether the general path normalises its mask (all zeros or all
        // ones), which the fast path leaves to it.
        let mut cases: Vec<(Vec<u8>, bool)> =
            vec![([&exact.to_be_bytes()[..], &pattern].concat(), false)];
        for mask in [vec![0xff; len], vec![0; len], vec![0xf0; len]] {
            let norm = mask[0] != 0xf0;
            let value: Vec<u8> = pattern.iter().zip(&mask).map(|(v, m)| v & m).collect();
            cases.push(([&masked.to_be_bytes()[..], &value, &mask].concat(), norm));
            // A value bit outside the mask: the fast path must leave it to the general one.
            let stray: Vec<u8> = value.iter().zip(&mask).map(|(v, m)| v | !m).collect();
            cases.push(([&masked.to_be_bytes()[..], &stray, &mask].concat(), norm));
        }
        let fast = matches!(
            fid,
            Fid::InPort
                | Fid::Metadata
                | Fid::EthType
                | Fid::IpProto
                | Fid::Ipv4Src
                | Fid::Ipv4Dst
                | Fid::TcpSrc
                | Fid::TcpDst
                | Fid::UdpSrc
                | Fid::UdpDst
                | Fid::Reg(_)
                | Fid::ConjId
                | Fid::CtState
                | Fid::CtMark
                | Fid::CtLabel
        );
        for (b, norm) in cases {
            // The iterators' reader agrees with the fast path wherever it answers.
            if let Some(f) = field(&b) {
                fields += 1;
                assert_eq!(quick(&b).map(|q| (q.len, q.field)), Some(f), "{b:02x?}");
            }
            let Some(q) = quick(&b) else {
                // Only what the general path refuses or normalises, or a field it does not know.
                assert!(!fast || norm || general(&b).is_none(), "{fid:?} {b:02x?}");
                continue;
            };
            assert!(fast && !norm, "{fid:?}");
            taken += 1;
            assert_eq!(Some((q.len, q.fid, Some(q.field))), general(&b), "{b:02x?}");
            assert_eq!(q.rank, q.fid.rank());
            // Cut short, it is the general path's to report.
            assert!(quick(&b[..b.len() - 1]).is_none(), "{b:02x?}");
        }
    }
    assert!(taken > 50, "{taken}");
    assert!(fields > 40, "{fields}");
}

#[test]
fn ranks_order_fields_as_their_derived_order_does() {
    let fids: Vec<Fid> = FIELDS
        .iter()
        .map(|(f, _)| *f)
        .chain([
            Fid::Reg(0),
            Fid::Reg(15),
            Fid::TunMetadata(1, 4),
            Fid::TunMetadata(2, 1),
        ])
        .collect();
    for a in &fids {
        for b in &fids {
            assert_eq!(a.cmp(b), a.rank().cmp(&b.rank()), "{a:?} {b:?}");
        }
    }
}

#[test]
fn tlvs_are_counted_by_their_lengths_and_a_short_tail_still_counts() {
    // eth_type, ip_proto, then an ipv4_dst header whose value is cut off.
    let b = [
        0x80, 0, 0x0a, 2, 8, 0, 0x80, 0, 0x14, 1, 6, 0x80, 0, 0x18, 4, 10,
    ];
    assert_eq!(count_tlvs(&b), 3);
    assert_eq!(count_tlvs(&[]), 0);
}

#[test]
fn emit_matches_the_canonical_copy_for_unsorted_masked_fields() {
    let m = [
        MatchField::CtState(0x21, 0x21),
        MatchField::Reg(1, 5, Some(u32::MAX)),
        MatchField::CtMark(3, Some(2)),
        MatchField::Reg(2, 7, Some(0)),
        MatchField::Ipv4Dst(
            Ipv4Addr::new(10, 0, 0, 9),
            Some(Ipv4Addr::new(255, 0, 0, 0)),
        ),
        MatchField::EthType(0x0800),
    ];
    let mut fast = vec![0xa5];
    emit_fields(&m, &mut fast);
    let mut slow = vec![0xa5];
    emit_canonical(&crate::oxm::canonical_fields(&m), &mut slow);
    let mut kept = vec![0xa5];
    Match::from(m).emit(&mut kept);
    assert_eq!(kept, slow);
    assert_eq!(fast, slow);
    assert_eq!(&fast[1..5], &[0, 1, 0, 54]);
}
