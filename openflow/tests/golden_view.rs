//! `FlowModView` against OVS's bytes: every golden flow views as it decodes, and every broken
//! FLOW_MOD of the negative corpus is refused with the decoder's error.

use openflow::view::InstructionView;
use openflow::{FlowModView, Message};

mod items;

/// Blocks of `key: value` lines separated by blank lines.
fn blocks(text: &str) -> Vec<Vec<(String, String)>> {
    text.split("\n\n")
        .map(|b| {
            b.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.split_once(": ").map(|(k, v)| (k.into(), v.into())))
                .collect::<Vec<_>>()
        })
        .filter(|b| !b.is_empty())
        .collect()
}

fn get<'a>(b: &'a [(String, String)], k: &str) -> &'a str {
    &b.iter().find(|(key, _)| key == k).expect(k).1
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn every_golden_flow_views_as_it_decodes() {
    let mut n = 0;
    for b in blocks(include_str!("golden/flows.golden")) {
        let (flow, bytes) = (get(&b, "flow"), unhex(get(&b, "hex")));
        let Ok((1, Message::FlowMod(decoded))) = Message::decode(&bytes) else {
            panic!("{flow}: decode");
        };
        let (xid, v) = FlowModView::parse(&bytes).unwrap_or_else(|e| panic!("{flow}: {e}"));
        assert_eq!(xid, 1);
        assert_eq!(v.to_flow_mod().unwrap(), decoded, "{flow}");
        // OVS writes canonical order, so the fields iterate as the decoder sorts them.
        assert_eq!(
            v.r#match.fields().collect::<Vec<_>>(),
            decoded.r#match.to_vec(),
            "{flow}"
        );
        let actions: usize = v
            .instructions
            .iter()
            .map(|i| match i {
                InstructionView::ApplyActions(a) | InstructionView::WriteActions(a) => {
                    a.iter().filter(Result::is_ok).count()
                }
                _ => 0,
            })
            .sum();
        let want: usize = decoded
            .instructions
            .iter()
            .map(|i| match i {
                openflow::Instruction::ApplyActions(a) | openflow::Instruction::WriteActions(a) => {
                    a.len()
                }
                _ => 0,
            })
            .sum();
        assert_eq!(actions, want, "{flow}");
        // One pass gives the view and the items of two.
        let (one, two) = (items::one_pass(&bytes), items::two_passes(&bytes));
        assert_eq!(format!("{one:?}"), format!("{two:?}"), "{flow}");
        n += 1;
    }
    assert!(n >= 134, "{n} flows");
}

#[test]
fn every_broken_flow_mod_is_refused_with_the_decoders_error() {
    let (mut n, mut kept) = (0, 0);
    for b in blocks(include_str!("golden/negative.golden")) {
        let bytes = unhex(get(&b, "hex"));
        if bytes.get(1) != Some(&14) {
            continue;
        }
        let name = get(&b, "negative");
        let view = FlowModView::parse(&bytes).and_then(|(_, v)| v.to_flow_mod());
        if get(&b, "expect") == "Raw" {
            // Not broken for us: an unknown field or instruction, kept as the decoder keeps it.
            let Ok((_, Message::FlowMod(want))) = Message::decode(&bytes) else {
                panic!("{name}")
            };
            assert_eq!(view.expect(name), want, "{name}");
            kept += 1;
            continue;
        }
        let want = Message::decode(&bytes).expect_err(name);
        let got = view.expect_err(name);
        assert_eq!(format!("{got:?}"), format!("{want:?}"), "{name}");
        let one = items::one_pass(&bytes).map(|_| ()).expect_err(name);
        assert_eq!(format!("{one:?}"), format!("{want:?}"), "{name}: one pass");
        n += 1;
    }
    assert!(
        n >= 12 && kept >= 3,
        "{n} broken flow_mods, {kept} kept raw"
    );
}
