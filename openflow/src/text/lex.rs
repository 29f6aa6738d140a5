//! The lexical layer of the `ovs-ofctl` text grammar as nom 8 parsers over `&str`: numbers
//! (decimal, or `0x`/`0X` hexadecimal, as OVS's `str_to_*` read them), byte strings (`0x` and
//! two hex digits per byte) and the split of a list at its top-level commas (commas inside
//! parentheses belong to the item: `ct(commit,exec(...)),resubmit(,3)` is two actions).
//!
//! Like [`crate::grammar`], the parsers carry no error value: the callers in this module's
//! siblings name the token and the reason.

use nom::branch::alt;
use nom::bytes::complete::{tag, tag_no_case, take_while1, take_while_m_n};
use nom::character::complete::char;
use nom::combinator::{all_consuming, map_opt, map_res, opt, recognize};
use nom::multi::many0;
use nom::sequence::preceded;
use nom::{IResult, Parser};

/// What the text parsers return: the rest of the input and the value, or `Err` with no detail.
pub(super) type PResult<'a, T> = IResult<&'a str, T, ()>;

/// Digits of `radix` with an optional leading `+` (what Rust's `from_str_radix` accepts for
/// an unsigned type), read as a u128; fails on no digit or overflow.
pub(super) fn digits(radix: u32) -> impl FnMut(&str) -> PResult<'_, u128> {
    move |i| {
        map_res(
            recognize((opt(char('+')), take_while1(|c: char| c.is_digit(radix)))),
            |d: &str| u128::from_str_radix(d, radix),
        )
        .parse(i)
    }
}

/// Everything before the first byte that `stop` accepts (all of the input without one): nom's
/// `take_till` for the ASCII separators of the text grammar. Like [`crate::grammar`]'s leaves it
/// is ours for cost: nom 8's `&str` `take_till` decodes every character and calls its predicate
/// through `char_indices`; an ASCII separator never occurs inside a multi-byte UTF-8 sequence,
/// so a byte scan finds the same place and the split stays on a character boundary. A `stop`
/// that accepts a byte inside a character fails the parse there rather than split it.
#[inline]
pub(super) fn till(stop: impl Fn(u8) -> bool) -> impl Fn(&str) -> PResult<'_, &str> {
    move |i: &str| {
        let at = i.bytes().position(&stop).unwrap_or(i.len());
        match i.split_at_checked(at) {
            Some((taken, rest)) => Ok((rest, taken)),
            None => Err(nom::Err::Error(())),
        }
    }
}

/// A whole number token (surrounding whitespace ignored): `0x`/`0X` and hex digits, or decimal
/// digits; `None` for anything else or a value past u128.
pub(super) fn number(s: &str) -> Option<u128> {
    let v: PResult<'_, u128> =
        all_consuming(alt((preceded(tag_no_case("0x"), digits(16)), digits(10)))).parse(s.trim());
    v.ok().map(|(_, v)| v)
}

/// A whole hexadecimal byte without `0x` (`ff`, `+f`, `0ff`), as `u8::from_str_radix(s, 16)`
/// reads it; `None` for anything else.
pub(super) fn hex_u8(s: &str) -> Option<u8> {
    let v: PResult<'_, u8> = all_consuming(map_opt(digits(16), |v| u8::try_from(v).ok())).parse(s);
    v.ok().map(|(_, v)| v)
}

/// A whole byte string token: `0x` and an even number of hex digits (`0x` alone is empty);
/// `None` for anything else.
pub(super) fn byte_string(s: &str) -> Option<Vec<u8>> {
    let hex_byte = map_res(
        take_while_m_n(2, 2, |c: char| c.is_ascii_hexdigit()),
        |d: &str| u8::from_str_radix(d, 16),
    );
    let bytes: PResult<'_, Vec<u8>> = all_consuming(preceded(tag("0x"), many0(hex_byte))).parse(s);
    bytes.ok().map(|(_, v)| v)
}

/// One item of a comma-separated list: everything up to a comma outside parentheses (an
/// unbalanced `)` closes nothing and is kept).
fn item(i: &str) -> PResult<'_, &str> {
    let mut depth = 0i32;
    for (at, c) in i.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => return Ok((&i[at..], &i[..at])),
            _ => {}
        }
    }
    Ok(("", i))
}

/// Split at top-level commas (not inside parentheses); items trimmed, empty ones dropped.
pub(super) fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Ok((after, it)) = item(rest) {
        let it = it.trim();
        if !it.is_empty() {
            out.push(it);
        }
        match char::<_, ()>(',').parse(after) {
            Ok((next, _)) => rest = next,
            Err(_) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_decimal_or_0x_hex_as_from_str_radix_reads_them() {
        assert_eq!(number("42"), Some(42));
        assert_eq!(number(" 0x2a "), Some(42));
        assert_eq!(number("0X2A"), Some(42));
        assert_eq!(number("+7"), Some(7));
        assert_eq!(number("0x+7"), Some(7));
        assert_eq!(number(&u128::MAX.to_string()), Some(u128::MAX));
        for bad in [
            "",
            "0x",
            "+",
            "-1",
            "1x",
            "0x1g",
            "12 3",
            "340282366920938463463374607431768211456",
        ] {
            assert_eq!(number(bad), None, "{bad:?}");
        }
        // The same answers as the standard library's parsers they replace.
        for s in [
            "0",
            "007",
            "0x00ff",
            "99999999999999999999",
            "+0x1",
            "0x",
            "٣",
        ] {
            let t = s.trim();
            let std = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(h) => u128::from_str_radix(h, 16).ok(),
                None => t.parse::<u128>().ok(),
            };
            assert_eq!(number(s), std, "{s:?}");
        }
    }

    #[test]
    fn till_splits_before_the_first_stop_byte_on_a_character_boundary() {
        let comma = till(|b| b == b',');
        assert_eq!(comma("é,ü"), Ok((",ü", "é")));
        assert_eq!(comma("éü"), Ok(("", "éü")));
        assert_eq!(comma(""), Ok(("", "")));
        // A stop inside a character (0xa9, the second byte of `é`) fails instead of splitting.
        assert!(till(|b| b == 0xa9)("aé").is_err());
    }

    #[test]
    fn byte_strings_are_0x_and_two_digits_per_byte() {
        assert_eq!(byte_string("0x"), Some(vec![]));
        assert_eq!(byte_string("0x00ff12"), Some(vec![0, 0xff, 0x12]));
        for bad in ["", "0x1", "0xfg", "ff", "0X00", "0x+1"] {
            assert_eq!(byte_string(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn split_top_keeps_parenthesised_commas_in_their_item() {
        assert_eq!(
            split_top("ct(commit,exec(load:1->NXM_NX_CT_MARK[])), resubmit(,3),,"),
            ["ct(commit,exec(load:1->NXM_NX_CT_MARK[]))", "resubmit(,3)"]
        );
        assert_eq!(split_top(""), Vec::<&str>::new());
        // An unbalanced `)` leaves the depth below zero: no later comma splits.
        assert_eq!(split_top("a),b"), ["a),b"]);
        assert_eq!(split_top("(a,b),c"), ["(a,b)", "c"]);
    }
}
