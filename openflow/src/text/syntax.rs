//! The forms of the `ovs-ofctl` text grammar as nom 8 parsers over `&str`, built on the tokens
//! of [`super::lex`]: `KEY[=VALUE]` tokens, `VALUE[/MASK]`, `A->B`, `(BODY)`, the head of an
//! action (`NAME`, `NAME:ARG`, `NAME(ARGS)`), subfields `NAME[ofs..end]`, signed flag lists
//! (`+trk-new`), indexed field names (`reg5`, `xxreg1`), the arguments of `resubmit(...)`,
//! `conjunction(...)` and `ct(...)`, the items of an `actions=` value and the flow's
//! whitespace/comma separated match tokens. Sources: OVS `lib/ofp-actions.c` (`ofpacts_parse`
//! and the `parse_*` of each action), `lib/ofp-flow.c` (`parse_ofp_str__`), `lib/meta-flow.c`
//! (`mf_parse_subfield`, `mf_parse`).
//!
//! The parsers only find the pieces; the callers turn them into values (numbers, fields,
//! ports) and, on failure, name the token and the reason, as [`super::lex`] and
//! [`crate::grammar`] do. Like those, the error type is `()`: a failed form costs nothing.
//!
//! Where OVS splits at the first separator the parsers do too (`take_until`), so `load:1->a->b`
//! is `1` and `a->b`; a `(BODY)` ends at the last `)`.

use nom::branch::alt;
use nom::bytes::complete::{tag, tag_no_case, take_until};
use nom::character::complete::{char, one_of};
use nom::combinator::{
    all_consuming, eof, map, map_opt, opt, peek, recognize, rest, value, verify,
};
use nom::multi::{many1, separated_list1};
use nom::sequence::{preceded, separated_pair};
use nom::Parser;

use super::lex::{digits, till, PResult};

/// `p` over the whole of `s`: its output, or `None` when it fails or leaves input.
pub(super) fn whole<'a, O>(
    s: &'a str,
    p: impl Parser<&'a str, Output = O, Error = ()>,
) -> Option<O> {
    all_consuming(p).parse(s).ok().map(|(_, o)| o)
}

/// `A SEP B`, split at the first `SEP`: `(A, B)`.
pub(super) fn split_first<'a>(
    sep: &'static str,
) -> impl Parser<&'a str, Output = (&'a str, &'a str), Error = ()> {
    separated_pair(take_until(sep), tag(sep), rest)
}

/// `s` split at the first `sep` (see [`split_first`]).
pub(super) fn split_at<'a>(s: &'a str, sep: &'static str) -> Option<(&'a str, &'a str)> {
    whole(s, split_first(sep))
}

/// `KEY[=VALUE]`, split at the first `=`: a keyword (`ip`, `commit`) or a key=value pair.
pub(super) fn key_value(i: &str) -> PResult<'_, (&str, Option<&str>)> {
    (till(|c| c == b'='), opt(preceded(char('='), rest))).parse(i)
}

/// [`key_value`] of a whole token (it always succeeds).
pub(super) fn kv(s: &str) -> (&str, Option<&str>) {
    whole(s, key_value).unwrap_or((s, None))
}

/// `A SEP B` for a one-character ASCII `SEP`, split at its first occurrence: `(A, B)`. (The same as
/// [`split_first`], without a substring search.)
pub(super) fn split_first_char<'a>(
    sep: char,
) -> impl Parser<&'a str, Output = (&'a str, &'a str), Error = ()> {
    debug_assert!(sep.is_ascii(), "{sep:?}");
    separated_pair(till(move |c| c == sep as u8), char(sep), rest)
}

/// `s` split at the first `sep` (see [`split_first_char`]).
pub(super) fn split_at_char(s: &str, sep: char) -> Option<(&str, &str)> {
    whole(s, split_first_char(sep))
}

/// `KEY=VALUE` split at the first `=`; `None` without one.
pub(super) fn kv_pair(s: &str) -> Option<(&str, &str)> {
    split_at_char(s, '=')
}

/// `VALUE[/MASK]`, split at the first `/`.
pub(super) fn masked(s: &str) -> (&str, Option<&str>) {
    let p = (till(|c| c == b'/'), opt(preceded(char('/'), rest)));
    whole(s, p).unwrap_or((s, None))
}

/// `(BODY)`: the text between the opening parenthesis and the last character, a `)`.
pub(super) fn parenthesized(i: &str) -> PResult<'_, &str> {
    preceded(char('('), map_opt(rest, |r: &str| r.strip_suffix(')'))).parse(i)
}

/// The body of a whole `(BODY)` (see [`parenthesized`]).
pub(super) fn paren_body(s: &str) -> Option<&str> {
    whole(s, parenthesized)
}

/// The head of an action: `NAME`, `NAME:ARG` (the argument after the first `:`) or
/// `NAME(ARGS)` (the argument keeps its parentheses), split at the first `:` or `(`.
pub(super) fn action_head(i: &str) -> PResult<'_, (&str, Option<&str>)> {
    let arg = alt((
        preceded(char(':'), rest),
        recognize((peek(char('(')), rest)),
    ));
    (till(|c| c == b':' || c == b'('), opt(arg)).parse(i)
}

/// `NAME[RANGE]` or `NAME`: the name and the text after the `[` (which should end in `]`).
pub(super) fn subfield(s: &str) -> (&str, Option<&str>) {
    let p = (till(|c| c == b'['), opt(preceded(char('['), rest)));
    whole(s, p).unwrap_or((s, None))
}

/// The bits of a subfield, as written between its brackets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BitRange<'a> {
    /// `[]`: the whole field.
    Whole,
    /// `[ofs..end]`.
    Span(&'a str, &'a str),
    /// `[n]`: one bit.
    Bit(&'a str),
}

/// `RANGE]` (what follows a subfield's `[`); `None` without the closing `]`.
pub(super) fn bit_range(after_bracket: &str) -> Option<BitRange<'_>> {
    let inside = map_opt(rest, |r: &str| r.strip_suffix(']'));
    let range = alt((
        value(BitRange::Whole, eof),
        map(split_first(".."), |(a, b)| BitRange::Span(a, b)),
        map(rest, BitRange::Bit),
    ));
    whole(after_bracket, inside.and_then(range))
}

/// `PREFIX<N>` with `N < limit` (decimal, as Rust's `u8::from_str` reads it): `N`.
pub(super) fn indexed(s: &str, prefix: &'static str, limit: u8) -> Option<u8> {
    let n = map_opt(digits(10), |n| u8::try_from(n).ok().filter(|n| *n < limit));
    whole(s, preceded(tag(prefix), n))
}

/// A flag list with signs, `+a-b+c`: (is `+`, name) per flag; a name may be empty.
pub(super) fn signed_flags(s: &str) -> Option<Vec<(bool, &str)>> {
    let flag = (
        map(one_of("+-"), |c| c == '+'),
        till(|c| c == b'+' || c == b'-'),
    );
    whole(s, many1(flag))
}

/// `a<SEP>b<SEP>c`: the pieces between the separators (empty ones included), as
/// `str::split` gives them: `a|b` (flag names), `a.b` (bytes), `a,b` (nat options), `a:b`.
pub(super) fn pieces(s: &str, sep: char) -> Vec<&str> {
    debug_assert!(sep.is_ascii(), "{sep:?}");
    whole(s, separated_list1(char(sep), till(move |c| c == sep as u8))).unwrap_or_default()
}

/// A piece of text separated by commas or spaces, after any number of them.
fn match_token(i: &str) -> PResult<'_, &str> {
    let sep = |c: u8| c == b',' || c == b' ';
    preceded(
        till(move |c| !sep(c)),
        verify(till(sep), |t: &str| !t.is_empty()),
    )
    .parse(i)
}

/// The tokens of a flow's match and keywords, separated by any run of commas and spaces.
pub(super) struct MatchTokens<'a>(pub &'a str);

impl<'a> Iterator for MatchTokens<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        let (rest, tok) = match_token(self.0).ok()?;
        self.0 = rest;
        Some(tok)
    }
}

/// `resubmit(PORT,TABLE[,ct])`'s body: (port, table, what follows a second comma).
pub(super) fn resubmit_args(s: &str) -> Option<(&str, &str, Option<&str>)> {
    let p = (
        till(|c| c == b','),
        char(','),
        till(|c| c == b','),
        opt(preceded(char(','), rest)),
    );
    whole(s, map(p, |(port, _, table, ct)| (port, table, ct)))
}

/// `conjunction(ID,K/N)`'s body: (id, k, n).
pub(super) fn conjunction_args(s: &str) -> Option<(&str, &str, &str)> {
    let p = (
        till(|c| c == b','),
        char(','),
        till(|c| c == b'/'),
        char('/'),
        rest,
    );
    whole(s, map(p, |(id, _, k, _, n)| (id, k, n)))
}

/// One option of `ct(...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CtOption<'a> {
    Commit,
    Force,
    Zone(&'a str),
    Table(&'a str),
    Alg(&'a str),
    /// `nat` or `nat(...)`: the whole option.
    Nat(&'a str),
    /// What follows `exec`, which should be `(ACTIONS)`.
    Exec(&'a str),
}

/// One option of `ct(...)` (`ofpacts_parse` `parse_CT`); `None` for an unknown one.
pub(super) fn ct_option(s: &str) -> Option<CtOption<'_>> {
    let nat = recognize(alt((
        recognize((tag("nat("), rest)),
        all_consuming(tag("nat")),
    )));
    let option = alt((
        value(CtOption::Commit, all_consuming(tag("commit"))),
        value(CtOption::Force, all_consuming(tag("force"))),
        map(preceded(tag("zone="), rest), CtOption::Zone),
        map(preceded(tag("table="), rest), CtOption::Table),
        map(preceded(tag("alg="), rest), CtOption::Alg),
        map(nat, CtOption::Nat),
        map(preceded(tag("exec"), rest), CtOption::Exec),
    ));
    whole(s, option)
}

/// `NAME(BODY)`, e.g. `oxm(...)`, `instruction(...)`: the body.
pub(super) fn call_body<'a>(s: &'a str, name: &'static str) -> Option<&'a str> {
    whole(s, preceded(tag(name), parenthesized))
}

/// `nat` or `nat(...)`, as `ct` takes it and [`crate::Action`]'s `FromStr` reads it alone.
pub(super) fn is_nat(s: &str) -> bool {
    matches!(ct_option(s), Some(CtOption::Nat(_)))
}

/// A match token that is a raw field, `oxm(...)`.
pub(super) fn is_oxm(tok: &str) -> bool {
    let oxm: PResult<'_, &str> = peek(tag("oxm(")).parse(tok);
    oxm.is_ok()
}

/// One item of an `actions=` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum InstructionItem<'a> {
    Drop,
    Meter(&'a str),
    GotoTable(&'a str),
    ClearActions,
    WriteMetadata(&'a str),
    /// `instruction(...)`: the whole item.
    Raw(&'a str),
    /// What follows `write_actions`, from its `(`, which should be `(ACTIONS)`.
    WriteActions(&'a str),
    /// Anything else: an action of the apply-actions list.
    Apply(&'a str),
}

/// One item of an `actions=` value (`ofpacts_parse_instructions`).
pub(super) fn instruction_item(s: &str) -> InstructionItem<'_> {
    let item = alt((
        value(InstructionItem::Drop, all_consuming(tag("drop"))),
        map(preceded(tag("meter:"), rest), InstructionItem::Meter),
        map(
            preceded(tag("goto_table:"), rest),
            InstructionItem::GotoTable,
        ),
        value(
            InstructionItem::ClearActions,
            all_consuming(tag("clear_actions")),
        ),
        map(
            preceded(tag("write_metadata:"), rest),
            InstructionItem::WriteMetadata,
        ),
        map(recognize((tag("instruction("), rest)), InstructionItem::Raw),
        map(
            preceded(tag("write_actions"), recognize((peek(char('(')), rest))),
            InstructionItem::WriteActions,
        ),
    ));
    whole(s, item).unwrap_or(InstructionItem::Apply(s))
}

/// `out_group`'s names, any case: `any` (OFPG_ANY) or `all` (OFPG_ALL).
pub(super) fn group_name(i: &str) -> PResult<'_, u32> {
    use crate::group::{OFPG_ALL, OFPG_ANY};
    alt((
        value(OFPG_ANY, tag_no_case("any")),
        value(OFPG_ALL, tag_no_case("all")),
    ))
    .parse(i)
}

/// A flow's text split at the first `actions=`: (match and keywords, actions).
pub(super) fn flow_parts(s: &str) -> (&str, Option<&str>) {
    let p = alt((
        map(split_first("actions="), |(h, a)| (h, Some(a))),
        map(rest, |h| (h, None)),
    ));
    whole(s, p).unwrap_or((s, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_split_where_ovs_splits() {
        assert_eq!(kv("nw_src=10.0.0.1=x"), ("nw_src", Some("10.0.0.1=x")));
        assert_eq!(kv("ip"), ("ip", None));
        assert_eq!(kv("zone="), ("zone", Some("")));
        assert_eq!(masked("0x5/0xff/1"), ("0x5", Some("0xff/1")));
        assert_eq!(masked("5"), ("5", None));
        assert_eq!(split_at("1->reg0->x", "->"), Some(("1", "reg0->x")));
        assert_eq!(split_at("1-reg0", "->"), None);
        assert_eq!(paren_body("(a,(b))"), Some("a,(b)"));
        assert_eq!(paren_body("(a)b"), None);
        assert_eq!(paren_body("("), None);
        assert_eq!(whole("output:3", action_head), Some(("output", Some("3"))));
        assert_eq!(
            whole("ct(commit):x", action_head),
            Some(("ct", Some("(commit):x")))
        );
        assert_eq!(whole("drop", action_head), Some(("drop", None)));
        assert_eq!(whole("note:", action_head), Some(("note", Some(""))));
    }

    #[test]
    fn subfields_and_bit_ranges() {
        assert_eq!(subfield("reg0[1..3]"), ("reg0", Some("1..3]")));
        assert_eq!(subfield("reg0"), ("reg0", None));
        assert_eq!(bit_range("]"), Some(BitRange::Whole));
        assert_eq!(bit_range("1..3]"), Some(BitRange::Span("1", "3")));
        assert_eq!(bit_range("7]"), Some(BitRange::Bit("7")));
        assert_eq!(bit_range("7"), None);
        assert_eq!(indexed("reg15", "reg", 16), Some(15));
        assert_eq!(indexed("reg+3", "reg", 16), Some(3));
        for bad in ["reg16", "reg", "reg1x", "reg-1", "xreg1"] {
            assert_eq!(indexed(bad, "reg", 16), None, "{bad}");
        }
    }

    #[test]
    fn flag_lists_and_tokens() {
        assert_eq!(
            signed_flags("+trk-new"),
            Some(vec![(true, "trk"), (false, "new")])
        );
        assert_eq!(
            signed_flags("+-new"),
            Some(vec![(true, ""), (false, "new")])
        );
        assert_eq!(signed_flags("trk"), None);
        assert_eq!(pieces("new|trk", '|'), ["new", "trk"]);
        assert_eq!(pieces("", '|'), [""]);
        assert_eq!(pieces("01..ff", '.'), ["01", "", "ff"]);
        for s in ["", "a", ":a::b:", "::"] {
            assert_eq!(pieces(s, ':'), s.split(':').collect::<Vec<_>>(), "{s:?}");
        }
        assert_eq!(
            MatchTokens(" table=3,, ip  nw_src=1.2.3.4,").collect::<Vec<_>>(),
            ["table=3", "ip", "nw_src=1.2.3.4"]
        );
        assert_eq!(MatchTokens(", ").next(), None);
    }

    #[test]
    fn action_arguments() {
        assert_eq!(resubmit_args(",3"), Some(("", "3", None)));
        assert_eq!(resubmit_args("1,2,ct"), Some(("1", "2", Some("ct"))));
        assert_eq!(resubmit_args("1,2,ct,x"), Some(("1", "2", Some("ct,x"))));
        assert_eq!(resubmit_args("3"), None);
        assert_eq!(conjunction_args("1,2/3"), Some(("1", "2", "3")));
        assert_eq!(conjunction_args("1,2"), None);
        assert_eq!(ct_option("commit"), Some(CtOption::Commit));
        assert_eq!(ct_option("commitx"), None);
        assert_eq!(
            ct_option("zone=NXM_NX_REG0[0..15]"),
            Some(CtOption::Zone("NXM_NX_REG0[0..15]"))
        );
        assert_eq!(ct_option("nat(src)"), Some(CtOption::Nat("nat(src)")));
        assert_eq!(ct_option("nat"), Some(CtOption::Nat("nat")));
        assert_eq!(ct_option("natx"), None);
        assert_eq!(ct_option("exec(x)"), Some(CtOption::Exec("(x)")));
        assert_eq!(instruction_item("drop"), InstructionItem::Drop);
        assert_eq!(instruction_item("dropx"), InstructionItem::Apply("dropx"));
        assert_eq!(
            instruction_item("goto_table:3"),
            InstructionItem::GotoTable("3")
        );
        assert_eq!(
            instruction_item("write_actions(output:1)"),
            InstructionItem::WriteActions("(output:1)")
        );
        assert_eq!(flow_parts("ip actions=drop"), ("ip ", Some("drop")));
        assert_eq!(flow_parts("ip"), ("ip", None));
    }
}
