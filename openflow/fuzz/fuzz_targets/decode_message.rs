//! `Message::decode` on arbitrary bytes must never panic, and what it accepts must survive a
//! round trip: the re-encoding decodes (same xid) to the message's canonical form, encoding that
//! again gives the same bytes, and a message the crate keeps raw re-encodes byte for byte.
#![no_main]
use libfuzzer_sys::fuzz_target;
use openflow::{Message, MultipartReply, MultipartRequest};

/// Whether `m` is kept as raw bytes after its header, so its encoding must equal the input.
/// The multipart header's 4 pad bytes are not kept (re-emitted as zeros), hence the range.
fn raw_span(m: &Message) -> Option<std::ops::RangeFrom<usize>> {
    match m {
        Message::Unknown { .. }
        | Message::Experimenter { .. }
        | Message::EchoRequest(_)
        | Message::EchoReply(_) => Some(0..),
        Message::MultipartRequest {
            body: MultipartRequest::Raw { .. },
            ..
        }
        | Message::MultipartReply {
            body: MultipartReply::Raw { .. },
            ..
        } => Some(16..),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok((xid, m)) = Message::decode(data) else {
        return;
    };
    let bytes = m.encode(xid);
    let (xid2, m2) = Message::decode(&bytes)
        .unwrap_or_else(|e| panic!("the re-encoding of {m:?} does not decode: {e}"));
    assert_eq!(xid2, xid);
    assert_eq!(
        m2,
        m.canonical(),
        "the re-encoding decodes to another message"
    );
    assert_eq!(
        m2.encode(xid),
        bytes,
        "a second round trip changes the bytes"
    );
    if let Some(span) = raw_span(&m) {
        assert_eq!(
            &bytes[span.clone()],
            &data[span],
            "a raw message is not re-emitted as is"
        );
        assert_eq!(&bytes[..12.min(bytes.len())], &data[..12.min(data.len())]);
    }
});
