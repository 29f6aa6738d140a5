//! `FlowMod::from_str` on arbitrary text must never panic, and a flow it accepts must be one we
//! can send and read back: its encoding decodes to its canonical form, and its `Display` text
//! parses again to a flow with the same encoding.
#![no_main]
use libfuzzer_sys::fuzz_target;
use openflow::{FlowMod, Message};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(f) = s.parse::<FlowMod>() else {
        return;
    };
    let bytes = Message::FlowMod(f.clone()).encode(1);
    match Message::decode(&bytes) {
        Ok((1, Message::FlowMod(d))) => assert_eq!(d, f.canonical(), "{s:?}"),
        other => panic!("{s:?} parses to {f:?}, whose encoding decodes to {other:?}"),
    }
    let text = f.to_string();
    let again: FlowMod = text
        .parse()
        .unwrap_or_else(|e| panic!("{s:?} prints as {text:?}, which does not parse: {e}"));
    assert_eq!(
        Message::FlowMod(again).encode(1),
        bytes,
        "{s:?} prints as {text:?}, which parses to another flow"
    );
});
