//! Broken messages (`tests/golden/negative.golden`, written by `scripts/gen-golden.sh` with
//! `ovs-ofctl ofp-print`'s verdict beside each): truncated bodies, short messages and bad
//! length fields of every message family give the typed error named in `expect`, at the byte
//! offset given after `@`, where OVS also rejects or warns. `expect: Raw` marks the one place we
//! part ways with OVS on purpose: an unknown match field or instruction, which OVS refuses, is
//! kept raw and re-encoded byte for byte.

use openflow::{Error, Instruction, MatchError, MatchField, Message};

/// Blocks of `key: value` lines separated by blank lines.
fn blocks(text: &str) -> Vec<Vec<(String, String)>> {
    text.split("\n\n")
        .map(|b| {
            b.lines()
                .filter_map(|l| l.split_once(": "))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        })
        .filter(|b| !b.is_empty())
        .collect()
}

fn get<'a>(b: &'a [(String, String)], k: &str) -> &'a str {
    &b.iter().find(|(key, _)| key == k).unwrap().1
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The error's class name and byte offset.
fn class(e: &Error) -> (&'static str, Option<usize>) {
    match e {
        Error::Truncated { offset, .. } => ("Truncated", Some(*offset)),
        Error::BadLength { offset, .. } => ("BadLength", Some(*offset)),
        Error::BadValue { offset, .. } => ("BadValue", Some(*offset)),
        Error::BadAction { offset, .. } => ("BadAction", Some(*offset)),
        Error::BadInstruction { offset, .. } => ("BadInstruction", Some(*offset)),
        Error::BadMatch { offset, kind } => (
            match kind {
                MatchError::BadPrereq { .. } => "BadPrereq",
                MatchError::DupField(_) => "DupField",
                MatchError::BadWildcards(_) => "BadWildcards",
                MatchError::BadField(_) => "BadField",
                MatchError::BadLen(_) => "BadLen",
                MatchError::DupRaw(_) => "DupRaw",
                _ => "BadMatch",
            },
            Some(*offset),
        ),
        _ => ("other", None),
    }
}

#[test]
fn broken_messages_give_typed_errors_at_offsets_where_ovs_complains() {
    let all = blocks(include_str!("golden/negative.golden"));
    assert!(all.len() >= 29, "{} cases", all.len());
    for b in all {
        let (name, expect) = (get(&b, "negative"), get(&b, "expect"));
        let printed = get(&b, "ofp-print");
        let bytes = unhex(get(&b, "hex"));
        if expect == "Raw" {
            kept_raw(name, &bytes, printed);
            continue;
        }
        let err = Message::decode(&bytes).expect_err(name);
        let (want, offset) = match expect.split_once('@') {
            Some((k, o)) => (k, Some(o.parse::<usize>().unwrap())),
            None => (expect, None),
        };
        let (got, at) = class(&err);
        assert_eq!(got, want, "{name}: {err:?}");
        if let Some(o) = offset {
            assert_eq!(at, Some(o), "{name}: {err}");
        }
        assert!(
            at.is_some_and(|o| o <= bytes.len()),
            "{name}: offset of {err:?}"
        );
        let ovs_marker = match want {
            "Truncated" | "BadLength" => "too short|truncated|only uses|BAD_LEN|leftover",
            "BadValue" => "BAD_EVENT",
            other => other,
        };
        let ovs_marker = match want {
            // OVS refuses an unknown field before it looks at its length or for a duplicate.
            "BadLen" => "OFPBMC_BAD_LEN|OFPBMC_BAD_FIELD",
            "DupRaw" => "OFPBMC_BAD_FIELD",
            "BadPrereq" => "OFPBMC_BAD_PREREQ",
            "DupField" => "OFPBMC_DUP_FIELD",
            "BadWildcards" => "OFPBMC_BAD_WILDCARDS",
            "BadField" => "OFPBMC_BAD_FIELD",
            _ => ovs_marker,
        };
        assert!(
            ovs_marker.split('|').any(|m| printed.contains(m)) || printed.contains("decode error"),
            "{name}: OVS printed {printed}"
        );
    }
}

/// An `expect: Raw` case: decodes with an unknown match field or instruction, re-encodes to the
/// same bytes, and OVS refuses it as unknown.
fn kept_raw(name: &str, bytes: &[u8], printed: &str) {
    let (xid, msg) = Message::decode(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let Message::FlowMod(fm) = &msg else {
        panic!("{name}: {msg:?}")
    };
    let raw_field = fm
        .r#match
        .fields()
        .any(|f| matches!(f, MatchField::Raw { .. }));
    let raw_instruction = fm.instructions.iter().any(|i| {
        matches!(
            i,
            Instruction::Experimenter { .. } | Instruction::Unknown { .. }
        )
    });
    assert!(raw_field || raw_instruction, "{name}: {fm:?}");
    assert_eq!(msg.encode(xid), bytes, "{name}");
    assert!(
        [
            "OFPBMC_BAD_FIELD",
            "OFPBIC_UNKNOWN_INST",
            "OFPBIC_BAD_EXPERIMENTER"
        ]
        .iter()
        .any(|m| printed.contains(m)),
        "{name}: OVS printed {printed}"
    );
}
