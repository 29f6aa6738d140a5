//! Text of what this crate keeps without interpreting: a match field it does not know
//! ([`MatchField::Raw`]) and an experimenter or unknown instruction. `ovs-ofctl` has no syntax
//! for them (OVS refuses them), so the forms here are our own and do not pretend to be OVS's;
//! they carry every byte, so `Display` and `FromStr` round-trip:
//!
//! - `oxm(0x0001:127=0x1234/0xff00)`: class, field number, value and optional mask;
//!   `oxm(0xffff:0x00002320:21=0x0002)` with the experimenter id of an experimenter OXM.
//! - `instruction(experimenter=0x00002320,data=0x0102030405060708)` and
//!   `instruction(type=0x0007,body=0x00000000)`.
//!
//! Byte strings are `0x` and two digits per byte, leading zeros kept (`0x` alone is empty).

use std::fmt::Write;

use super::syntax::{call_body, kv_pair, masked, pieces};
use super::values::{num, perr, split_top};
use crate::flow::{Instruction, MatchField, RawBytes};
use crate::Error;

/// `0x` and every byte as two hex digits.
fn bytes_text(b: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * b.len());
    s.push_str("0x");
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// The inverse of [`bytes_text`]: `0x` and an even number of hex digits.
fn parse_bytes(s: &str) -> Result<Vec<u8>, Error> {
    super::lex::byte_string(s).ok_or_else(|| perr(s, "expected 0x and two hex digits per byte"))
}

/// `oxm(...)` of a [`MatchField::Raw`]; `None` for any other field.
pub(super) fn oxm_text(f: &MatchField) -> Option<String> {
    let MatchField::Raw {
        class,
        field,
        experimenter,
        value,
        mask,
    } = f
    else {
        return None;
    };
    let mut s = format!("oxm({class:#06x}:");
    if let Some(e) = experimenter {
        let _ = write!(s, "{e:#010x}:");
    }
    let _ = write!(s, "{field}={}", bytes_text(value));
    if let Some(m) = mask {
        let _ = write!(s, "/{}", bytes_text(m));
    }
    s.push(')');
    Some(s)
}

/// A whole `oxm(CLASS:[EXPERIMENTER:]FIELD=VALUE[/MASK])` token.
///
/// Errors: [`Error::Parse`] naming the token.
pub(super) fn parse_oxm(tok: &str) -> Result<MatchField, Error> {
    let inner = call_body(tok, "oxm").ok_or_else(|| perr(tok, "expected oxm(...)"))?;
    let (id, bytes) = kv_pair(inner).ok_or_else(|| perr(tok, "expected oxm(CLASS:FIELD=VALUE)"))?;
    let parts = pieces(id, ':');
    let (class, experimenter, field) = match parts[..] {
        [class, field] => (class, None, field),
        [class, experimenter, field] => (class, Some(num::<u32>(experimenter)?), field),
        _ => {
            return Err(perr(
                tok,
                "expected CLASS:FIELD or CLASS:EXPERIMENTER:FIELD",
            ))
        }
    };
    let field: u8 = num(field)?;
    if field > 0x7f {
        return Err(perr(tok, "OXM field numbers are 7 bits"));
    }
    let inline = |b: Vec<u8>| {
        RawBytes::new(&b).ok_or_else(|| perr(tok, "a raw field holds at most 16 bytes"))
    };
    let (value, mask) = match masked(bytes) {
        (v, Some(m)) => (inline(parse_bytes(v)?)?, Some(inline(parse_bytes(m)?)?)),
        (v, None) => (inline(parse_bytes(v)?)?, None),
    };
    if mask.is_some_and(|m| m.len() != value.len()) {
        return Err(perr(tok, "mask and value differ in length"));
    }
    Ok(MatchField::Raw {
        class: num(class)?,
        field,
        experimenter,
        value,
        mask,
    })
}

/// `instruction(...)` of an experimenter or unknown instruction; `None` for the others.
pub(super) fn instruction_text(i: &Instruction) -> Option<String> {
    Some(match i {
        Instruction::Experimenter { experimenter, data } => format!(
            "instruction(experimenter={experimenter:#010x},data={})",
            bytes_text(data)
        ),
        Instruction::Unknown { kind, body } => {
            format!("instruction(type={kind:#06x},body={})", bytes_text(body))
        }
        _ => return None,
    })
}

/// A whole `instruction(experimenter=E,data=D)` or `instruction(type=T,body=B)` item.
///
/// Errors: [`Error::Parse`] naming the item.
pub(super) fn parse_instruction(it: &str) -> Result<Instruction, Error> {
    let inner =
        call_body(it, "instruction").ok_or_else(|| perr(it, "expected instruction(...)"))?;
    let pairs: Vec<(&str, &str)> = split_top(inner)
        .into_iter()
        .map(|kv| kv_pair(kv).ok_or_else(|| perr(it, "expected key=value")))
        .collect::<Result<_, _>>()?;
    match pairs[..] {
        [("experimenter", e), ("data", d)] => Ok(Instruction::Experimenter {
            experimenter: num(e)?,
            data: parse_bytes(d)?,
        }),
        [("type", t), ("body", b)] => Ok(Instruction::Unknown {
            kind: num(t)?,
            body: parse_bytes(b)?,
        }),
        _ => Err(perr(
            it,
            "expected instruction(experimenter=E,data=D) or instruction(type=T,body=B)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_fields_print_every_byte_and_parse_back() {
        let cases = [
            (
                MatchField::Raw {
                    class: 0x0001,
                    field: 127,
                    experimenter: None,
                    value: RawBytes::new(&[0x00, 0x34]).unwrap(),
                    mask: Some(RawBytes::new(&[0xff, 0x00]).unwrap()),
                },
                "oxm(0x0001:127=0x0034/0xff00)",
            ),
            (
                MatchField::Raw {
                    class: 0xffff,
                    field: 21,
                    experimenter: Some(0x2320),
                    value: RawBytes::default(),
                    mask: None,
                },
                "oxm(0xffff:0x00002320:21=0x)",
            ),
        ];
        for (f, text) in cases {
            assert_eq!(oxm_text(&f).as_deref(), Some(text));
            assert_eq!(parse_oxm(text).unwrap(), f);
        }
    }

    #[test]
    fn a_raw_field_with_a_mask_of_another_length_or_odd_digits_is_refused() {
        for bad in [
            "oxm(0x0001:127=0x0034/0xff)",
            "oxm(0x0001:127=0x034)",
            "oxm(0x0001:128=0x00)",
            "oxm(0x0001=0x00)",
        ] {
            assert!(matches!(parse_oxm(bad), Err(Error::Parse { .. })), "{bad}");
        }
    }

    #[test]
    fn experimenter_and_unknown_instructions_print_every_byte_and_parse_back() {
        let cases = [
            (
                Instruction::Experimenter {
                    experimenter: 0x4f4e_4600,
                    data: vec![1, 2, 3, 4, 5, 6, 7, 8],
                },
                "instruction(experimenter=0x4f4e4600,data=0x0102030405060708)",
            ),
            (
                Instruction::Unknown {
                    kind: 7,
                    body: vec![0, 0, 0, 9],
                },
                "instruction(type=0x0007,body=0x00000009)",
            ),
        ];
        for (i, text) in cases {
            assert_eq!(instruction_text(&i).as_deref(), Some(text));
            assert_eq!(parse_instruction(text).unwrap(), i);
        }
    }
}
