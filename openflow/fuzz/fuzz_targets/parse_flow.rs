//! `FlowMod::from_str` on arbitrary text must never panic; a parsed flow must print, encode and
//! decode without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use openflow::{FlowMod, Message};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(f) = s.parse::<FlowMod>() {
            let _ = f.to_string();
            let _ = Message::decode(&Message::FlowMod(f).encode(1));
        }
    }
});
