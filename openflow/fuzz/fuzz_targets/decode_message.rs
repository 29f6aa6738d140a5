//! `Message::decode` on arbitrary bytes must never panic, and what it accepts must survive a
//! round trip: the re-encoding decodes (same xid) to the message's canonical form, encoding that
//! again gives the same bytes, and a message the crate keeps raw re-encodes byte for byte.
//! On a FLOW_MOD, the one-pass `FlowModView::parse_items` must accept exactly what the decoder
//! accepts, with the same error, and hand on as many fields as the decoded match has.
#![no_main]
use libfuzzer_sys::fuzz_target;
use openflow::view::ItemSink;
use openflow::{Action, FlowModView, MatchField, Message, MultipartReply, MultipartRequest};

/// Counts the fields `parse_items` hands on.
struct Fields(usize);

impl ItemSink<'_> for Fields {
    fn field(&mut self, _: MatchField) {
        self.0 += 1;
    }
    fn action(&mut self, _: Action, _: bool) {}
}

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
    let decoded = Message::decode(data);
    if data.get(1) == Some(&14) {
        let mut fields = Fields(0);
        let one = FlowModView::parse_items(data, &mut fields);
        match (&decoded, one) {
            (Ok((xid, Message::FlowMod(f))), Ok((x, _))) => {
                assert_eq!(*xid, x);
                // The decoded match drops nothing the one pass hands on (both normalise).
                assert_eq!(f.r#match.len(), fields.0, "fields of {f:?}");
            }
            (Err(want), Err(got)) => assert_eq!(format!("{got:?}"), format!("{want:?}")),
            (want, got) => panic!("one pass {got:?}, the decoder {want:?}"),
        }
    }
    let Ok((xid, m)) = decoded else {
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
