//! Every flow the compiler produces for `examples/` encodes to exactly the bytes Open vSwitch's
//! own encoder gives for its text (`tests/golden/pipeline.golden`, made by
//! `scripts/gen-pipeline-golden.sh`), and decodes back to the same flow.

use openflow::Message;

fn golden() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/pipeline.golden"
    ))
    .expect("tests/golden/pipeline.golden (run scripts/gen-pipeline-golden.sh)");
    let mut out = Vec::new();
    let mut flow = None;
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("flow: ") {
            flow = Some(f.to_string());
        } else if let Some(h) = line.strip_prefix("hex: ") {
            out.push((flow.take().expect("flow before hex"), h.to_string()));
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_example_pipeline_encodes_exactly_as_ovs_encodes_it() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let policies = kakine::agent::load_input(&dir).unwrap();
    let compiled = kakine::datapath::compiler::compile(
        &policies,
        &kakine::datapath::compiler::offline_pods(&policies),
        1,
    )
    .unwrap();
    let golden = golden();
    assert_eq!(
        compiled.flows.len(),
        golden.len(),
        "the compiler's output changed: run scripts/gen-pipeline-golden.sh and review the diff"
    );
    for (flow, (text, ovs_hex)) in compiled.flows.iter().zip(&golden) {
        assert_eq!(
            &flow.to_string(),
            text,
            "flow order or text changed: regenerate the golden file"
        );
        let msg = Message::FlowMod(flow.clone());
        assert_eq!(
            hex(&msg.encode(1)),
            *ovs_hex,
            "our bytes differ from OVS's for {text}"
        );
        let bytes: Vec<u8> = (0..ovs_hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&ovs_hex[i..i + 2], 16).unwrap())
            .collect();
        let (xid, decoded) = Message::decode(&bytes).unwrap();
        assert_eq!(xid, 1);
        match decoded {
            Message::FlowMod(f) => assert_eq!(f.canonical(), flow.clone().canonical(), "{text}"),
            other => panic!("decoded {other:?}"),
        }
    }
}

#[test]
fn every_example_rule_compiles_to_exactly_its_conjunctive_floor() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let policies = kakine::agent::load_input(&dir).unwrap();
    let compiled = kakine::datapath::compiler::compile(
        &policies,
        &kakine::datapath::compiler::offline_pods(&policies),
        1,
    )
    .unwrap();
    let stats = kakine::datapath::stats::stats(&policies, &compiled);
    assert!(!stats.rules.is_empty());
    for r in &stats.rules {
        assert_eq!(r.produced, r.floor, "{stats}");
    }
    assert_eq!(stats.produced, stats.floor, "{stats}");
    // Shared match flows are installed once: never more distinct flows than the floor.
    assert!(stats.installed_policy_flows <= stats.floor, "{stats}");
}
