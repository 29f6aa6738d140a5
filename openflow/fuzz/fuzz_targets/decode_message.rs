//! `Message::decode` on arbitrary bytes must never panic; what decodes must re-encode and decode
//! to the same message.
#![no_main]
use libfuzzer_sys::fuzz_target;
use openflow::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok((xid, m)) = Message::decode(data) {
        let again = m.encode(xid);
        let _ = Message::decode(&again);
    }
});
