//! OFPT_ERROR against OVS's printer: every OF1.3 type/code and every Nicira/ONF experimenter
//! code that `ovs-ofctl ofp-print` names gets the same name from us, and the ones OVS cannot
//! name get none (`tests/golden/errors.golden`, written by `scripts/gen-golden.sh`).

use openflow::{ErrorCode, Message};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn every_error_code_has_the_name_ovs_prints_and_round_trips() {
    let mut named = 0;
    for line in include_str!("golden/errors.golden").lines() {
        if line.starts_with('#') {
            continue;
        }
        let (hex, printed) = line.split_once(" | ").unwrap();
        let bytes = unhex(hex);
        let (xid, m) = Message::decode(&bytes).unwrap_or_else(|e| panic!("{hex}: {e}"));
        assert_eq!(Message::encode(&m, xid), bytes, "{hex} re-encodes");
        let Message::Error(e) = m else {
            panic!("{hex}: {m:?}")
        };
        let ovs = printed
            .strip_prefix("OFPT_ERROR (OF1.3) (xid=0x9): ")
            .unwrap_or_else(|| panic!("{printed}"));
        if ovs.starts_with("***decode error") {
            assert_eq!(
                e.name(),
                None,
                "{hex}: OVS cannot name it, we call it {:?}",
                e.code
            );
        } else {
            assert_eq!(e.name(), Some(ovs), "{hex}: {:?}", e.code);
            named += 1;
            if !matches!(e.code, ErrorCode::HelloFailed(_)) {
                // The echoed BARRIER_REQUEST is decoded and named in Display.
                assert_eq!(e.request_xid(), Some(1));
                assert!(matches!(
                    e.request(),
                    Some(Ok((1, Message::BarrierRequest)))
                ));
                assert_eq!(e.to_string(), format!("{ovs} for message type 20 xid 0x1"));
            }
        }
    }
    // 14 standard types' codes + NX + ONF in OVS 3.1's OF1.3 table.
    assert_eq!(named, 171);
}

#[test]
fn typed_codes_encode_as_ovs_sends_them() {
    use openflow::error_codes::{BadActionCode, NxErrorCode, OnfErrorCode};
    use openflow::OfpError;
    let cases = [
        (
            ErrorCode::BadAction(BadActionCode::BadOutPort),
            "0401000c0000000700020004",
        ),
        (
            ErrorCode::Onf(OnfErrorCode::OfpbfcMsgFailed),
            "0401001000000007ffff09094f4e4600",
        ),
        (
            ErrorCode::Nicira(NxErrorCode::NxbrcMustBeZero),
            "0401001000000007ffff000400002320",
        ),
    ];
    for (code, hex) in cases {
        let e = OfpError::new(code, vec![]);
        let (kind, c, exp) = code.parts();
        assert_eq!(ErrorCode::from_parts(kind, c, exp), code);
        let bytes = Message::Error(e.clone()).encode(7);
        assert_eq!(bytes, unhex(hex), "{code}");
        assert_eq!(Message::decode(&bytes).unwrap(), (7, Message::Error(e)));
    }
    assert_eq!(
        ErrorCode::BadAction(BadActionCode::BadOutPort).to_string(),
        "OFPBAC_BAD_OUT_PORT"
    );
    assert_eq!(
        ErrorCode::Unknown { kind: 77, code: 3 }.to_string(),
        "type=77,code=3"
    );
}
