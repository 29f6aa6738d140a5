//! Unknown actions, and known actions naming fields outside the field table, decode to
//! `Action::Raw` and re-emit byte for byte (rust-netlink's rule for unknown attributes).
//! Unknown *match* fields stay an error, as in OVS (`OFPBMC_BAD_FIELD`): a match cannot be
//! partially understood without changing what the flow matches.

use openflow::{Action, Error, Instruction, MatchError, Message};

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A FLOW_MOD with an empty match and one apply_actions instruction holding `actions`.
fn flow_mod(actions: &str) -> Vec<u8> {
    let acts = unhex(actions);
    let mut b = unhex(
        "040e0000 00000001 0000000000000000 0000000000000000 0000000000008000 \
         ffffffff ffffffff ffffffff 00000000 0001000400000000",
    );
    b.extend_from_slice(&[0, 4]);
    b.extend_from_slice(&((8 + acts.len()) as u16).to_be_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&acts);
    let len = b.len() as u16;
    b[2..4].copy_from_slice(&len.to_be_bytes());
    b
}

#[test]
fn unknown_actions_and_unknown_fields_in_actions_round_trip_raw() {
    let cases = [
        // Unknown Nicira subtype 0x7f7f.
        "ffff0010 00002320 7f7f 000000000000",
        // Unknown ONF experimenter action type 3199.
        "ffff0010 4f4e4600 0c7f 000000000000",
        // Unknown experimenter id.
        "ffff0010 00abcdef 0001 000000000000",
        // OFPAT_SET_FIELD on a header outside the table (class 0x7fff).
        "0019 0010 7fff0004 00000005 00000000",
        // NXAST_REG_LOAD on a header outside the table.
        "ffff0018 00002320 0007 001f 7fff0004 0000000000000005",
        // NXAST_REG_MOVE from an unknown field.
        "ffff0018 00002320 0006 0010 0000 0000 7fff0004 00010204",
        // NXAST_REG_LOAD2 on reg3 (a form OVS keeps; not modelled).
        "ffff0018 00002320 0021 00010708 00000005 0000000f 0000",
        // ONF copy_field naming an unknown field.
        "ffff0020 4f4e4600 0c80 0000 0010 0000 0000 0000 7fff0004 00010204 00000000",
        // Unknown standard action type 99.
        "0063 0008 00000000",
    ];
    for hex in cases {
        let bytes = flow_mod(hex);
        let (_, msg) = Message::decode(&bytes).unwrap_or_else(|e| panic!("{hex}: {e}"));
        let Message::FlowMod(fm) = &msg else {
            panic!("{hex}: {msg:?}")
        };
        match &fm.instructions[..] {
            [Instruction::ApplyActions(a)] => {
                assert!(matches!(a[..], [Action::Raw { .. }]), "{hex}: {a:?}")
            }
            other => panic!("{hex}: {other:?}"),
        }
        assert_eq!(msg.encode(1), bytes, "{hex}");
    }
}

#[test]
fn an_unknown_match_field_is_a_bad_field_as_in_ovs() {
    let mut b = flow_mod("");
    // Replace the empty match with one holding an unknown OXM (class 0x7fff, field 0).
    let m = unhex("0001000c 7fff0004 00000005 00000000");
    b.splice(48..56, m);
    let len = b.len() as u16;
    b[2..4].copy_from_slice(&len.to_be_bytes());
    let e = Message::decode(&b).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BadMatch {
                kind: MatchError::BadField(0x7fff_0004),
                ..
            }
        ),
        "{e}"
    );
}
