//! The captured goldens (`tests/golden/captured.golden`, written by `scripts/capture-replies.py`
//! from a live ovs-vswitchd 3.1) and readers for what `ovs-ofctl ofp-parse` printed for them,
//! shared by the `golden_captured*` tests.
#![allow(dead_code)] // each test binary uses part of it

use openflow::nicira::{ExtMessage, PacketIn2Prop};
use openflow::{Action, Message};

/// OFPP_ANY: no port (filters, watch ports).
pub const OFPP_ANY: u32 = 0xffff_ffff;

/// One captured message.
pub struct Golden {
    pub name: String,
    pub source: String,
    pub bytes: Vec<u8>,
    /// `ovs-ofctl ofp-parse` of the bytes, one entry per line.
    pub printed: Vec<String>,
}

pub fn all() -> Vec<Golden> {
    include_str!("../golden/captured.golden")
        .split("\n\n")
        .filter_map(|block| {
            let get = |key: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
                    .map(str::to_string)
            };
            let hex = get("hex")?;
            Some(Golden {
                name: get("message")?,
                source: get("source")?,
                bytes: (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect(),
                printed: get("ofp-print")?.split('|').map(str::to_string).collect(),
            })
        })
        .collect()
}

pub fn golden(name: &str) -> Golden {
    all()
        .into_iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("no {name} in captured.golden"))
}

pub fn decode(name: &str) -> (Golden, Message) {
    let g = golden(name);
    let (_, m) = Message::decode(&g.bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    (g, m)
}

/// The value after `key` in `text`, up to a comma, space, line end or the end.
pub fn value<'a>(text: &'a str, key: &str) -> &'a str {
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("no {key:?} in {text:?}"))
        + key.len();
    let rest = &text[at..];
    &rest[..rest.find([',', ' ', '\n']).unwrap_or(rest.len())]
}

/// The whitespace-separated word after the first word starting with `prefix`.
pub fn word_after<'a>(text: &'a str, prefix: &str) -> &'a str {
    let mut words = text.split_whitespace();
    words.find(|w| w.starts_with(prefix));
    words
        .next()
        .unwrap_or_else(|| panic!("nothing after {prefix:?} in {text:?}"))
}

/// A number as OVS prints it: decimal, `0x` hex, or `?` for an all-ones (unsupported) counter.
pub fn int(s: &str) -> u64 {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None if s == "?" => u64::MAX,
        None => s.parse().unwrap_or_else(|_| panic!("not a number: {s:?}")),
    }
}

/// `ofp_print_duration`: seconds, then milliseconds when exact, else the nanoseconds trimmed.
pub fn duration(sec: u32, nsec: u32) -> String {
    let frac = match nsec {
        0 => String::new(),
        n if n % 1_000_000 == 0 => format!(".{:03}", n / 1_000_000),
        n => format!(".{n:09}").trim_end_matches('0').to_string(),
    };
    format!("{sec}{frac}s")
}

/// The bit set of the names in `text` (space-separated) that appear in `names` (bit = index).
pub fn bits(text: &str, names: &[&str]) -> u32 {
    text.split_whitespace()
        .filter(|w| *w != "(off)" && *w != "0")
        .map(|w| {
            let i = names.iter().position(|n| *n == w);
            1 << i.unwrap_or_else(|| panic!("unknown name {w} in {text:?}"))
        })
        .sum()
}

pub fn actions_text(actions: &[Action]) -> String {
    let v: Vec<String> = actions.iter().map(|a| a.to_string()).collect();
    v.join(",")
}

pub fn props(name: &str) -> (Golden, Vec<PacketIn2Prop>) {
    match decode(name) {
        (g, Message::Ext(ExtMessage::PacketIn2(p) | ExtMessage::Resume(p))) => (g, p),
        (_, m) => panic!("{name}: {m:?}"),
    }
}
