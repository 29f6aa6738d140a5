//! Messages longer than a 16-bit length can say (kakine issue 17): a flow_mod of ~4,100
//! actions must be refused by `validate`, by every encoder and by the session, with an error
//! naming the instruction and the size, and never written with a wrapped length. The flow of
//! 4,091 outputs is the longest one that fits: 8 (header) + 40 (fixed) + 8 (empty match) +
//! 8 (apply_actions header) + 4,091 × 16 = 65,520 bytes; 4,092 outputs make 65,536.

use std::time::Instant;

use openflow::flow::{Action, Instruction};
use openflow::message::{MAX_BUNDLED_FLOW_MOD_LEN, MAX_MESSAGE_LEN};
use openflow::session::{Config, Event, RequestId, Response, Session};
use openflow::{Error, FlowMod, InvalidFlowMod, Match, Message};

/// The response to request `id` (the session's first event is its `Connect`).
fn response(s: &mut Session, id: RequestId) -> Result<Response, Error> {
    std::iter::from_fn(|| s.poll_event())
        .find_map(|e| match e {
            Event::Response { id: got, result } if got == id => Some(result),
            _ => None,
        })
        .expect("a response")
}

fn flow_of(outputs: u32) -> FlowMod {
    let actions = (1..=outputs)
        .map(|port| Action::Output { port, max_len: 0 })
        .collect();
    FlowMod::add(
        0,
        100,
        Match::from(vec![]),
        vec![Instruction::ApplyActions(actions)],
    )
}

#[test]
fn a_flow_mod_of_4100_actions_is_refused_by_validate_with_its_size_and_instruction() {
    let f = flow_of(4100);
    assert_eq!(f.encoded_len(), 64 + 4100 * 16);
    assert_eq!(
        f.validate(),
        Err(InvalidFlowMod::TooLong {
            len: 65_664,
            max: MAX_MESSAGE_LEN,
            largest: Some(("apply_actions", 8 + 4100 * 16)),
        })
    );
    let text = f.validate().unwrap_err().to_string();
    assert!(
        text.contains("65664") && text.contains("apply_actions"),
        "{text}"
    );
}

#[test]
fn a_flow_mod_of_4100_actions_is_refused_by_every_encoder_and_nothing_is_written() {
    let f = flow_of(4100);
    let msg = Message::FlowMod(f.clone());
    match msg.try_encode(7) {
        Err(Error::TooLong { what, len, max }) => {
            assert_eq!((len, max), (65_664, 65_535));
            assert!(
                what.contains("apply_actions instruction is 65608 bytes"),
                "{what}"
            );
        }
        other => panic!("{other:?}"),
    }
    let mut buf = vec![0xa5; 3];
    assert!(matches!(
        f.try_emit_message(7, &mut buf),
        Err(Error::TooLong { len: 65_664, .. })
    ));
    assert_eq!(buf, [0xa5; 3], "the buffer is left as it was");
    // The infallible encoders write nothing rather than a wrapped length.
    msg.emit(7, &mut buf);
    f.emit_message(7, &mut buf);
    assert_eq!(buf, [0xa5; 3]);
    assert!(msg.encode(7).is_empty());
    let bundled = Message::BundleAdd {
        bundle_id: 1,
        flags: 0,
        message: Box::new(msg),
    };
    match bundled.try_encode(7) {
        Err(Error::TooLong { what, len, .. }) => {
            assert_eq!(len, 65_664 + 24);
            assert!(what.starts_with("bundle_add of flow_mod"), "{what}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_longest_flow_mod_that_fits_encodes_and_decodes_back() {
    let f = flow_of(4091);
    assert_eq!(f.encoded_len(), 65_520);
    f.validate().unwrap();
    let bytes = Message::FlowMod(f.clone()).try_encode(9).unwrap();
    assert_eq!(bytes.len(), 65_520);
    assert_eq!(u16::from_be_bytes([bytes[2], bytes[3]]), 65_520);
    assert_eq!(
        Message::decode(&bytes).unwrap(),
        (9, Message::FlowMod(f.clone()))
    );
    assert_eq!(FlowMod::decode_body(&bytes[8..]).unwrap(), f);
    // One more output is one byte past the limit.
    assert_eq!(flow_of(4092).encoded_len(), MAX_MESSAGE_LEN + 1);
    assert!(flow_of(4092).validate().is_err());
}

#[test]
fn a_flow_mod_that_fits_alone_but_not_in_a_bundle_add_is_refused_in_a_bundle() {
    let f = flow_of(4091);
    assert!(f.encoded_len() > MAX_BUNDLED_FLOW_MOD_LEN);
    let mut s = Session::new(Config::default(), Instant::now());
    let fits = flow_of(4090);
    assert!(fits.encoded_len() <= MAX_BUNDLED_FLOW_MOD_LEN);
    let id = s.bundle(&[fits, f]);
    match response(&mut s, id) {
        Err(Error::Invalid {
            index: 1,
            error:
                InvalidFlowMod::TooLong {
                    len: 65_520,
                    max: 65_511,
                    ..
                },
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    let bundled = Message::BundleAdd {
        bundle_id: 1,
        flags: 0,
        message: Box::new(Message::FlowMod(flow_of(4091))),
    };
    let id = s.request(&bundled);
    assert!(matches!(
        response(&mut s, id),
        Err(Error::Invalid {
            error: InvalidFlowMod::TooLong { max: 65_511, .. },
            ..
        })
    ));
}

#[test]
fn an_encoded_body_too_long_for_a_message_is_refused_without_wrapping() {
    let body = vec![0u8; MAX_MESSAGE_LEN];
    assert!(matches!(
        FlowMod::decode_body(&body),
        Err(Error::BadLength { length: 65_543, .. })
    ));
    let mut s = Session::new(Config::default(), Instant::now());
    let id = s.bundle_encoded(&[&body]);
    assert!(matches!(
        response(&mut s, id),
        Err(Error::Invalid {
            error: InvalidFlowMod::TooLong { len: 65_543, .. },
            ..
        })
    ));
}
