//! Action wire tests: each action against the bytes OVS writes.

use super::*;

fn round_trip(a: Action, bytes: &[u8]) {
    let mut buf = vec![0xa5; 2];
    a.emit(&mut buf);
    assert_eq!(&buf[2..], bytes, "emit {a:?}");
    assert_eq!(a.buffer_len(), bytes.len());
    let got = parse_actions(&mut Reader::new(bytes, 0)).unwrap();
    assert_eq!(got, vec![a]);
}

#[test]
fn conjunction_matches_ovs() {
    round_trip(
        Action::Conjunction {
            id: 1001,
            clause: 1,
            n_clauses: 2,
        },
        &[
            0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 0x22, 0, 2, 0, 0, 3, 0xe9,
        ],
    );
}

#[test]
fn whole_field_load_is_set_field_and_reg_load_stays() {
    round_trip(
        Action::Load {
            field: Field::CtMark,
            ofs: 0,
            n_bits: 32,
            value: 1,
        },
        &[0, 0x19, 0, 0x10, 0, 1, 0xd6, 4, 0, 0, 0, 1, 0, 0, 0, 0],
    );
    round_trip(
        Action::RegLoad {
            field: Field::Reg(3),
            ofs: 0,
            n_bits: 32,
            value: 0x3e9,
        },
        &[
            0xff, 0xff, 0, 24, 0, 0, 0x23, 0x20, 0, 7, 0, 0x1f, 0, 1, 6, 4, 0, 0, 0, 0, 0, 0, 3,
            0xe9,
        ],
    );
}

#[test]
fn resubmit_and_output_reg_match_ovs() {
    round_trip(
        Action::Resubmit { table: 1 },
        &[
            0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 0x0e, 0xff, 0xf8, 1, 0, 0, 0,
        ],
    );
    round_trip(
        Action::OutputReg {
            field: Field::Reg(1),
            ofs: 0,
            n_bits: 16,
        },
        &[
            0xff, 0xff, 0, 24, 0, 0, 0x23, 0x20, 0, 0x0f, 0, 0x0f, 0, 1, 2, 4, 0xff, 0xff, 0, 0, 0,
            0, 0, 0,
        ],
    );
}

#[test]
fn move_matches_ovs() {
    // move:NXM_NX_REG0[0..15]->NXM_NX_REG1[0..15]
    round_trip(
        Action::Move {
            src: Field::Reg(0),
            src_ofs: 0,
            dst: Field::Reg(1),
            dst_ofs: 0,
            n_bits: 16,
        },
        &[
            0xff, 0xff, 0, 24, 0, 0, 0x23, 0x20, 0, 6, 0, 0x10, 0, 0, 0, 0, 0, 1, 0, 4, 0, 1, 2, 4,
        ],
    );
}

#[test]
fn unknown_action_round_trips_raw() {
    let ct_clear = [
        0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 0x2b, 0, 0, 0, 0, 0, 0,
    ];
    let got = parse_actions(&mut Reader::new(&ct_clear, 0)).unwrap();
    let mut buf = Vec::new();
    emit_actions(&got, &mut buf);
    assert_eq!(buf, ct_clear);
}

#[test]
fn bad_lengths_are_errors_with_offsets() {
    let e = parse_actions(&mut Reader::new(
        &[0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0],
        100,
    ))
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::BadLength {
                offset: 100,
                length: 12,
                ..
            }
        ),
        "{e}"
    );
    let e = parse_actions(&mut Reader::new(&[0, 0, 0], 7)).unwrap_err();
    assert!(matches!(e, Error::Truncated { offset: 7, .. }), "{e}");
}
