use crate::RawBytes;
use std::net::Ipv4Addr;

use crate::flow::{Match, MatchField};
use crate::wire::{pad8, Reader};
use crate::{Error, MatchError};

/// `ip,nw_src=10.10.0.2` from `ovs-ofctl -mmmmm -O OpenFlow13 parse-flow`.
const IP_SRC: [u8; 24] = [
    0x00, 0x01, 0x00, 0x12, 0x80, 0x00, 0x0a, 0x02, 0x08, 0x00, 0x80, 0x00, 0x16, 0x04, 0x0a, 0x0a,
    0x00, 0x02, 0, 0, 0, 0, 0, 0,
];

fn ip_src() -> Match {
    Match::from(vec![
        MatchField::Ipv4Src(Ipv4Addr::new(10, 10, 0, 2), None),
        MatchField::EthType(0x0800),
    ])
}

#[test]
fn construct_puts_prerequisites_first_and_pads() {
    let mut buf = vec![0xa5; 3];
    ip_src().emit(&mut buf);
    assert_eq!(&buf[..3], &[0xa5; 3]);
    assert_eq!(&buf[3..], &IP_SRC[..]);
    assert_eq!(ip_src().buffer_len(), 24);
}

#[test]
fn parse_gives_canonical_fields() {
    let m = Match::parse(&mut Reader::new(&IP_SRC, 0)).unwrap();
    assert_eq!(m, ip_src().canonical());
}

#[test]
fn all_ones_mask_is_exact_and_zero_mask_is_omitted() {
    let m = Match::from(vec![
        MatchField::Reg(1, 3, Some(u32::MAX)),
        MatchField::Reg(2, 3, Some(0)),
    ]);
    assert_eq!(
        m.canonical(),
        Match::from(vec![MatchField::Reg(1, 3, None)])
    );
}

#[test]
fn prerequisite_after_dependent_is_rejected() {
    // IPV4_SRC before ETH_TYPE.
    let b = [
        0x00, 0x01, 0x00, 0x12, 0x80, 0x00, 0x16, 0x04, 10, 10, 0, 2, 0x80, 0x00, 0x0a, 0x02, 8, 0,
        0, 0, 0, 0, 0, 0,
    ];
    let e = Match::parse(&mut Reader::new(&b, 48)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BadMatch {
                offset: 52,
                kind: MatchError::BadPrereq {
                    field: "nw_src",
                    needs: "ip (eth_type=0x0800)"
                }
            }
        ),
        "{e}"
    );
}

fn dup_of(tlvs: &[u8]) -> Error {
    let len = 4 + tlvs.len();
    let mut b = vec![0, 1, 0, len as u8];
    b.extend_from_slice(tlvs);
    b.resize(len + pad8(len), 0);
    Match::parse(&mut Reader::new(&b, 0)).unwrap_err()
}

#[test]
fn nxm_in_port_after_the_oxm_in_port_is_a_duplicate_although_it_sorts_later() {
    let e = dup_of(&[0x80, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 2, 0, 5]);
    assert!(
        matches!(
            e,
            Error::BadMatch {
                offset: 12,
                kind: MatchError::DupField("in_port")
            }
        ),
        "{e}"
    );
}

#[test]
fn one_tun_metadata_slot_at_two_lengths_is_a_duplicate() {
    // tun_metadata0 as 1 byte, then as 2 bytes: ascending Fids, one slot.
    let e = dup_of(&[0, 1, 0x50, 1, 7, 0, 1, 0x50, 2, 0, 7]);
    assert!(
        matches!(
            e,
            Error::BadMatch {
                offset: 9,
                kind: MatchError::DupField("tun_metadata")
            }
        ),
        "{e}"
    );
}

/// `ip` then an unknown masked NXM_1 field 127 and an unknown Nicira experimenter OXM, as a
/// switch that knows them would write (hand-assembled: OVS refuses both).
const IP_RAW: [u8; 32] = [
    0x00, 0x01, 0x00, 0x1d, 0x80, 0x00, 0x0a, 0x02, 0x08, 0x00, 0x00, 0x01, 0xff, 0x04, 0x12, 0x00,
    0xff, 0x00, 0xff, 0xff, 0x02, 0x07, 0x00, 0x00, 0x23, 0x20, 0xab, 0xcd, 0xef, 0, 0, 0,
];

fn ip_raw() -> Match {
    Match::from(vec![
        MatchField::EthType(0x0800),
        MatchField::Raw {
            class: 0x0001,
            field: 127,
            experimenter: None,
            value: RawBytes::new(&[0x12, 0x00]).unwrap(),
            mask: Some(RawBytes::new(&[0xff, 0x00]).unwrap()),
        },
        MatchField::Raw {
            class: 0xffff,
            field: 1,
            experimenter: Some(0x2320),
            value: RawBytes::new(&[0xab, 0xcd, 0xef]).unwrap(),
            mask: None,
        },
    ])
}

#[test]
fn construct_writes_raw_fields_as_read_with_computed_lengths() {
    let mut buf = vec![0xa5; 3];
    ip_raw().emit(&mut buf);
    assert_eq!(&buf[..3], &[0xa5; 3]);
    assert_eq!(&buf[3..], &IP_RAW[..]);
    assert_eq!(ip_raw().buffer_len(), IP_RAW.len());
}

#[test]
fn parse_keeps_raw_fields_in_wire_order() {
    let m = Match::parse(&mut Reader::new(&IP_RAW, 0)).unwrap();
    assert_eq!(m, ip_raw());
    assert_eq!(m.canonical(), m);
}

#[test]
fn a_raw_field_wider_than_a_tlv_length_byte_can_say_is_refused_as_a_bad_length() {
    // Masked, 0xff bytes: odd, so not a value and a mask of one length.
    let mut b = vec![0, 1, 1, 7, 0x7f, 0xff, 0x01, 0xff];
    b.extend_from_slice(&[0; 0xff]);
    b.resize(b.len() + pad8(b.len()), 0);
    let e = Match::parse(&mut Reader::new(&b, 0)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BadMatch {
                offset: 4,
                kind: MatchError::BadLen(0x7fff_01ff)
            }
        ),
        "{e}"
    );
}
