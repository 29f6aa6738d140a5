//! Session unit tests: the bundle encoder and version negotiation.

use super::*;

#[test]
fn bundle_add_is_byte_identical_to_the_message_encoder() {
    let fm: FlowMod = "table=3, priority=5,ip,nw_src=10.0.0.1 actions=drop"
        .parse()
        .unwrap();
    let mut ours = Vec::new();
    emit_bundle_add(9, 2, 3, |b| fm.emit(b), &mut ours);
    let msg = Message::BundleAdd {
        bundle_id: 2,
        flags: 3,
        message: Box::new(Message::FlowMod(fm)),
    };
    assert_eq!(ours, msg.encode(9));
}

#[test]
fn negotiation_picks_the_highest_common_bit_or_the_lower_header_version() {
    let ours = 1 << 4;
    let with = |version, bitmap: Option<u32>| Hello {
        version,
        elements: bitmap
            .map(|b| vec![HelloElement::VersionBitmap(vec![b])])
            .unwrap_or_default(),
    };
    assert_eq!(negotiate(ours, &with(6, Some(0x50))), Some(4));
    assert_eq!(negotiate(ours, &with(6, Some(0x40))), None);
    assert_eq!(negotiate(ours, &with(6, None)), Some(4));
    assert_eq!(negotiate(ours, &with(1, None)), None);
    assert_eq!(negotiate(0x12, &with(4, None)), Some(4));
}
