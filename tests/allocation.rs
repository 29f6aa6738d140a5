//! Priorities and rule ids survive recompiles: the compiler threads its [`Allocation`] from one
//! compile to the next, and a Reject rule's flows send the packet to the agent.

use kakine::datapath::compiler::{compile, compile_with, offline_pods};
use kakine::policy::resolved::{ResolvedPolicies, RuleAction};

fn examples() -> ResolvedPolicies {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    kakine::agent::load_input(&dir).unwrap()
}

#[test]
fn a_rule_inserted_in_the_middle_moves_no_other_rule_and_changes_no_id() {
    let mut policies = examples();
    let pods = offline_pods(&policies);
    let first = compile(&policies, &pods, 1).unwrap();
    let mut extra = policies.rules[1].clone();
    extra.id.rule = "inserted".into();
    policies.rules.insert(2, extra);
    let second = compile_with(&policies, &pods, 1, Some(&first.allocation)).unwrap();
    assert!(second.moves.is_empty(), "{:?}", second.moves);
    for old in &first.rules {
        let new = second.rules.iter().find(|r| r.key == old.key).unwrap();
        assert_eq!(
            (new.id, new.priority),
            (old.id, old.priority),
            "{}",
            old.key
        );
    }
    let inserted = &second.rules[2];
    assert!(inserted.priority < second.rules[1].priority);
    assert!(inserted.priority > first.rules[2].priority);
    assert!(first.rules.iter().all(|r| r.id != inserted.id));
}

#[test]
fn a_deleted_rules_id_is_not_given_to_the_next_new_rule() {
    let mut policies = examples();
    let pods = offline_pods(&policies);
    let first = compile(&policies, &pods, 1).unwrap();
    let removed = policies.rules.remove(0);
    let second = compile_with(&policies, &pods, 1, Some(&first.allocation)).unwrap();
    let mut fresh = removed.clone();
    fresh.id.rule = "new".into();
    policies.rules.insert(0, fresh);
    let third = compile_with(&policies, &pods, 1, Some(&second.allocation)).unwrap();
    assert_ne!(third.rules[0].id, first.rules[0].id);
}

#[test]
fn a_reject_rule_marks_the_packet_and_sends_it_to_the_agent_in_a_flow_ovs_accepts() {
    let mut policies = examples();
    let i = policies
        .rules
        .iter()
        .position(|r| r.action == RuleAction::Drop)
        .unwrap();
    policies.rules[i].action = RuleAction::Reject;
    let compiled = compile(&policies, &offline_pods(&policies), 1).unwrap();
    let id = compiled.rules[i].id;
    let texts: Vec<String> = compiled.flows.iter().map(|f| f.to_string()).collect();
    let needle = format!("controller(max_len=160,userdata=01.02.{},meter_id=2)", {
        let b = id.to_be_bytes();
        format!("{:02x}.{:02x}.{:02x}.{:02x}", b[0], b[1], b[2], b[3])
    });
    let metric = texts
        .iter()
        .find(|t| t.contains(&needle))
        .unwrap_or_else(|| panic!("no {needle} in\n{}", texts.join("\n")));
    assert!(metric.contains("reg0=0xc00/0xc00"), "{metric}");
    assert!(texts
        .iter()
        .any(|t| t.contains("load:0x1->NXM_NX_REG0[11]")));
    let out = std::process::Command::new("ovs-ofctl")
        .args(["-O", "OpenFlow13", "parse-flow", metric])
        .output()
        .expect("ovs-ofctl (Open vSwitch) is needed by this test");
    assert!(
        out.status.success(),
        "OVS rejects {metric}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
