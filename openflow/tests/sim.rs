//! The fake switch against OpenFlow / OVS semantics: tables, conjunctive match, conntrack.

use std::net::Ipv4Addr;

use openflow::bundle::OFPBF_ATOMIC;
use openflow::flow::ct_state;
use openflow::sim::{FakeSwitch, OutPort, Packet, SimError};
use openflow::{BundleControl, BundleCtrlType, FlowMod, FlowModCommand, MacAddr, Message};

fn flow(s: &str) -> FlowMod {
    s.parse().unwrap_or_else(|e| panic!("bad flow {s:?}: {e}"))
}

/// A switch with `flows` (ovs-ofctl syntax) installed.
fn switch(flows: &[&str]) -> FakeSwitch {
    let mut sw = FakeSwitch::new();
    for f in flows {
        sw.apply(&flow(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    sw
}

fn mac(n: u8) -> MacAddr {
    MacAddr([0x0a, 0x58, 0, 0, 0, n])
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// TCP from host `a` (port a, 10.0.0.a) to host `b` on `dport`.
fn tcp(a: u8, b: u8, dport: u16) -> Packet {
    Packet::tcp(
        u32::from(a),
        mac(a),
        mac(b),
        Ipv4Addr::new(10, 0, 0, a),
        Ipv4Addr::new(10, 0, 0, b),
        40000,
        dport,
    )
}

fn verdict(sw: &mut FakeSwitch, p: &Packet) -> Vec<OutPort> {
    sw.process(p).unwrap().outputs
}

#[test]
fn the_highest_priority_matching_flow_wins_and_a_miss_drops() {
    let mut sw = switch(&[
        "priority=10,ip actions=output:9",
        "priority=20,tcp,tp_dst=80 actions=output:2",
        "priority=30,tcp,tp_dst=80,nw_src=10.0.0.3 actions=drop",
    ]);
    assert_eq!(verdict(&mut sw, &tcp(1, 2, 80)), [OutPort::Port(2)]);
    assert_eq!(verdict(&mut sw, &tcp(1, 2, 22)), [OutPort::Port(9)]);
    assert!(sw.process(&tcp(3, 2, 80)).unwrap().dropped);
    let arp = Packet::arp(1, mac(1), mac(0xff), 1, ip("10.0.0.1"), ip("10.0.0.2"));
    let t = sw.trace(&arp).unwrap();
    assert!(t.verdict.dropped);
    assert_eq!(t.steps[0].priority, None, "table-miss without a flow drops");
}

#[test]
fn masked_fields_match_prefixes_and_bit_ranges() {
    let mut sw = switch(&[
        "priority=10,ip,nw_dst=10.0.0.0/255.255.255.252 actions=output:5",
        "priority=20,tcp,tp_dst=0x400/0xfc00 actions=output:6",
        "priority=30,reg0=0x3/0xf,ip actions=output:7",
        "table=1, priority=1 actions=drop",
    ]);
    assert_eq!(verdict(&mut sw, &tcp(1, 2, 1025)), [OutPort::Port(6)]);
    assert_eq!(verdict(&mut sw, &tcp(1, 3, 80)), [OutPort::Port(5)]);
    assert!(sw.process(&tcp(1, 4, 80)).unwrap().dropped);
}

#[test]
fn registers_loaded_by_bit_range_steer_goto_and_output_reg() {
    let mut sw = switch(&[
        "priority=1,ip actions=load:0x3->NXM_NX_REG0[0..3],load:0x5->NXM_NX_REG1[],goto_table:2",
        "table=2, priority=5,reg0=0x3/0xf actions=move:NXM_NX_REG1[]->NXM_NX_REG2[],goto_table:7",
        "table=7, priority=5 actions=output:NXM_NX_REG2[]",
    ]);
    let t = sw.trace(&tcp(1, 2, 80)).unwrap();
    assert_eq!(t.tables(), [0, 2, 7]);
    assert!(t.verdict.is_output_to(5), "{t}");
}

#[test]
fn goto_table_must_go_forward() {
    let mut sw = FakeSwitch::new();
    let err = sw
        .apply(&flow("table=3, priority=1 actions=goto_table:3"))
        .unwrap_err();
    assert!(matches!(
        err,
        SimError::GotoBackward {
            table: 3,
            target: 3
        }
    ));
    assert_eq!(sw.flow_count(), 0);
}

#[test]
fn add_replaces_a_flow_with_the_same_normalised_match_and_priority() {
    let mut sw = switch(&[
        "priority=10,ip,nw_src=10.0.0.1 actions=output:2",
        "priority=10,ip,nw_src=10.0.0.1/255.255.255.255 actions=output:3",
        "priority=10,ip,nw_src=10.0.0.1,nw_dst=0.0.0.0/0.0.0.0 actions=output:4",
    ]);
    assert_eq!(sw.flow_count(), 1);
    assert_eq!(verdict(&mut sw, &tcp(1, 2, 80)), [OutPort::Port(4)]);
}

#[test]
fn two_overlapping_flows_at_one_priority_are_reported() {
    let mut sw = switch(&[
        "priority=10,ip,nw_src=10.0.0.1 actions=output:2",
        "priority=10,tcp actions=output:3",
    ]);
    let err = sw.process(&tcp(1, 2, 80)).unwrap_err();
    assert!(
        matches!(
            err,
            SimError::Ambiguous {
                table: 0,
                priority: 10,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn delete_by_cookie_and_mask_in_every_table() {
    let mut sw = switch(&[
        "cookie=0x10001, priority=10,ip actions=goto_table:1",
        "cookie=0x10002, table=1, priority=10,ip actions=output:2",
        "cookie=0x20001, table=1, priority=5,ip actions=output:3",
    ]);
    let mut del = flow("priority=0 actions=drop");
    del.command = FlowModCommand::Delete;
    del.table_id = 0xff;
    del.cookie = 0x10000;
    del.cookie_mask = 0xffff_0000;
    assert_eq!(sw.apply(&del).unwrap(), 2);
    assert_eq!(sw.flow_count(), 1);
    assert!(sw.process(&tcp(1, 2, 80)).unwrap().dropped);
}

#[test]
fn delete_strict_and_modify_select_flows_as_ovs_does() {
    let mut sw = switch(&[
        "priority=10,ip,nw_src=10.0.0.1 actions=output:2",
        "priority=20,ip,nw_src=10.0.0.1,nw_dst=10.0.0.2 actions=output:3",
    ]);
    // MODIFY is loose: it changes every flow at least as specific as its match.
    let mut m = flow("ip,nw_src=10.0.0.1 actions=output:4");
    m.command = FlowModCommand::Modify;
    assert_eq!(sw.apply(&m).unwrap(), 2);
    assert_eq!(verdict(&mut sw, &tcp(1, 2, 80)), [OutPort::Port(4)]);
    let mut d = flow("priority=20,ip,nw_src=10.0.0.1 actions=drop");
    d.command = FlowModCommand::DeleteStrict;
    assert_eq!(sw.apply(&d).unwrap(), 0, "strict needs the exact match");
    d.r#match = flow("ip,nw_src=10.0.0.1,nw_dst=10.0.0.2 actions=drop").r#match;
    assert_eq!(sw.apply(&d).unwrap(), 1);
    assert_eq!(sw.flow_count(), 1);
}

#[test]
fn write_actions_run_at_the_end_and_clear_actions_empties_the_set() {
    let mut sw = switch(&[
        "priority=1 actions=write_actions(output:2),goto_table:1",
        "table=1, priority=1,tcp actions=clear_actions,write_actions(output:3)",
        "table=1, priority=0 actions=drop",
    ]);
    assert_eq!(verdict(&mut sw, &tcp(1, 2, 80)), [OutPort::Port(3)]);
    let udp = Packet::udp(1, mac(1), mac(2), ip("10.0.0.1"), ip("10.0.0.2"), 5, 53);
    assert_eq!(verdict(&mut sw, &udp), [OutPort::Port(2)]);
}

#[test]
fn output_to_the_input_port_is_skipped_and_normal_and_controller_are_reported() {
    let mut sw = switch(&[
        "priority=10,tcp actions=output:1,output:2",
        "priority=10,arp actions=NORMAL",
        "priority=10,udp actions=CONTROLLER:65535",
        "priority=5,ip actions=IN_PORT",
    ]);
    assert_eq!(verdict(&mut sw, &tcp(1, 2, 80)), [OutPort::Port(2)]);
    let arp = Packet::arp(1, mac(1), mac(0xff), 1, ip("10.0.0.1"), ip("10.0.0.2"));
    assert_eq!(verdict(&mut sw, &arp), [OutPort::Normal]);
    let udp = Packet::udp(1, mac(1), mac(2), ip("10.0.0.1"), ip("10.0.0.2"), 5, 53);
    assert_eq!(verdict(&mut sw, &udp), [OutPort::Controller]);
    let sctp = Packet::sctp(1, mac(1), mac(2), ip("10.0.0.1"), ip("10.0.0.2"), 5, 9);
    assert_eq!(verdict(&mut sw, &sctp), [OutPort::Port(1)]);
}

#[test]
fn a_packet_in_carries_the_userdata_of_its_controller_action() {
    let mut sw = switch(&[
        "priority=10,tcp actions=controller(userdata=01.02.00.00.00.05)",
        "priority=10,udp actions=controller",
    ]);
    let v = sw.process(&tcp(1, 2, 80)).unwrap();
    assert_eq!(v.outputs, [OutPort::Controller]);
    assert_eq!(v.packet_ins, [vec![1, 2, 0, 0, 0, 5]]);
    let udp = Packet::udp(1, mac(1), mac(2), ip("10.0.0.1"), ip("10.0.0.2"), 5, 53);
    assert_eq!(sw.process(&udp).unwrap().packet_ins, [Vec::<u8>::new()]);
}

#[test]
fn resubmit_runs_a_table_and_comes_back() {
    let mut sw = switch(&[
        "priority=1 actions=resubmit(,5),output:3",
        "table=5, priority=1 actions=load:0x7->NXM_NX_REG1[],output:2",
    ]);
    let t = sw.trace(&tcp(1, 2, 80)).unwrap();
    assert_eq!(t.verdict.outputs, [OutPort::Port(2), OutPort::Port(3)]);
    assert_eq!(t.steps[1].depth, 1);
}

#[test]
fn encoded_flow_mods_and_bundles_are_applied_like_values() {
    let mut sw = FakeSwitch::new();
    let mut bytes = Message::FlowMod(flow("priority=1,tcp actions=output:2")).encode(1);
    bytes.extend(Message::BarrierRequest.encode(2));
    assert_eq!(sw.apply_message(&bytes).unwrap(), 1);
    assert_eq!(verdict(&mut sw, &tcp(1, 2, 80)), [OutPort::Port(2)]);
    let (open, commit) = (
        BundleControl::new(7, BundleCtrlType::OpenRequest, OFPBF_ATOMIC),
        BundleControl::new(7, BundleCtrlType::CommitRequest, OFPBF_ATOMIC),
    );
    let add = |f: &str| Message::BundleAdd {
        bundle_id: 7,
        flags: OFPBF_ATOMIC,
        message: Box::new(Message::FlowMod(flow(f))),
    };
    let mut bundle = Message::BundleControl(open).encode(3);
    bundle.extend(add("priority=2,tcp actions=output:3").encode(4));
    bundle.extend(add("priority=3,tcp,tp_dst=80 actions=output:4").encode(5));
    assert_eq!(
        sw.apply_message(&bundle).unwrap(),
        0,
        "nothing before commit"
    );
    assert_eq!(verdict(&mut sw, &tcp(1, 2, 80)), [OutPort::Port(2)]);
    assert_eq!(
        sw.apply_message(&Message::BundleControl(commit).encode(6))
            .unwrap(),
        2
    );
    assert_eq!(verdict(&mut sw, &tcp(1, 2, 80)), [OutPort::Port(4)]);
    assert!(matches!(
        sw.apply_message(&[4, 14, 0, 8]),
        Err(SimError::Decode(_))
    ));
}

// ---- conjunctive match --------------------------------------------------------------------

#[test]
fn a_two_clause_conjunction_needs_both_clauses() {
    let mut sw = switch(&[
        "priority=100,ip,nw_src=10.0.0.1 actions=conjunction(7,1/2)",
        "priority=100,ip,nw_src=10.0.0.3 actions=conjunction(7,1/2)",
        "priority=100,tcp,tp_dst=80 actions=conjunction(7,2/2)",
        "priority=100,conj_id=7,ip actions=output:9",
        "priority=1 actions=drop",
    ]);
    let t = sw.trace(&tcp(1, 2, 80)).unwrap();
    assert!(t.verdict.is_output_to(9));
    assert_eq!(t.steps[0].conj_id, Some(7));
    assert!(sw.process(&tcp(3, 2, 80)).unwrap().is_output_to(9));
    assert!(sw.process(&tcp(1, 2, 22)).unwrap().dropped);
    assert!(sw.process(&tcp(2, 1, 80)).unwrap().dropped);
}

#[test]
fn a_three_clause_conjunction_needs_all_three() {
    let mut sw = switch(&[
        "priority=100,reg1=0x2 actions=conjunction(3,1/3)",
        "priority=100,ip,nw_src=10.0.0.1 actions=conjunction(3,2/3)",
        "priority=100,tcp,tp_dst=8080 actions=conjunction(3,3/3)",
        "priority=100,conj_id=3,ip actions=output:2",
    ]);
    // reg1 is 0 at table 0, so clause 1 never matches: route reg1 through a first table.
    assert!(sw.process(&tcp(1, 2, 8080)).unwrap().dropped);
    let mut sw = switch(&[
        "priority=1 actions=load:0x2->NXM_NX_REG1[],goto_table:1",
        "table=1, priority=100,reg1=0x2 actions=conjunction(3,1/3)",
        "table=1, priority=100,ip,nw_src=10.0.0.1 actions=conjunction(3,2/3)",
        "table=1, priority=100,tcp,tp_dst=8080 actions=conjunction(3,3/3)",
        "table=1, priority=100,conj_id=3,ip actions=output:2",
    ]);
    assert!(sw.process(&tcp(1, 2, 8080)).unwrap().is_output_to(2));
    assert!(sw.process(&tcp(1, 2, 80)).unwrap().dropped);
    assert!(sw.process(&tcp(3, 2, 8080)).unwrap().dropped);
}

#[test]
fn an_incomplete_conjunction_falls_through_to_lower_priorities() {
    let mut sw = switch(&[
        "priority=200,ip,nw_src=10.0.0.1 actions=conjunction(1,1/2)",
        "priority=200,tcp,tp_dst=22 actions=conjunction(1,2/2)",
        "priority=200,conj_id=1,ip actions=drop",
        "priority=100,ip,nw_src=10.0.0.1 actions=conjunction(2,1/2)",
        "priority=100,tcp,tp_dst=80 actions=conjunction(2,2/2)",
        "priority=100,conj_id=2,ip actions=output:2",
        "priority=10,ip actions=output:9",
    ]);
    assert!(sw.process(&tcp(1, 2, 22)).unwrap().dropped);
    let t = sw.trace(&tcp(1, 2, 80)).unwrap();
    assert!(t.verdict.is_output_to(2));
    assert_eq!(t.steps[0].conj_id, Some(2));
    assert!(sw.process(&tcp(1, 2, 443)).unwrap().is_output_to(9));
}

#[test]
fn one_flow_can_be_a_clause_of_two_conjunctions() {
    let mut sw = switch(&[
        "priority=100,ip,nw_src=10.0.0.1 actions=conjunction(1,1/2),conjunction(2,1/2)",
        "priority=100,tcp,tp_dst=80 actions=conjunction(1,2/2)",
        "priority=100,tcp,tp_dst=443 actions=conjunction(2,2/2)",
        "priority=100,conj_id=1,ip actions=output:80",
        "priority=100,conj_id=2,ip actions=output:43",
    ]);
    assert!(sw.process(&tcp(1, 2, 80)).unwrap().is_output_to(80));
    assert!(sw.process(&tcp(1, 2, 443)).unwrap().is_output_to(43));
    assert!(sw.process(&tcp(1, 2, 22)).unwrap().dropped);
}

#[test]
fn when_two_conjunctions_complete_the_lowest_id_wins() {
    let mut sw = switch(&[
        "priority=100,ip actions=conjunction(9,1/2),conjunction(4,1/2)",
        "priority=100,tcp actions=conjunction(9,2/2),conjunction(4,2/2)",
        "priority=100,conj_id=9,ip actions=output:9",
        "priority=100,conj_id=4,ip actions=output:4",
    ]);
    let t = sw.trace(&tcp(1, 2, 80)).unwrap();
    assert!(t.verdict.is_output_to(4));
    assert_eq!(t.steps[0].conj_id, Some(4));
}

#[test]
fn soft_matches_do_not_hide_a_normal_flow_at_the_same_priority() {
    let flows = [
        "priority=100,ip,nw_src=10.0.0.1 actions=conjunction(1,1/2)",
        "priority=100,tcp,tp_dst=80 actions=conjunction(1,2/2)",
        "priority=100,conj_id=1,ip actions=output:2",
        "priority=100,udp actions=output:3",
    ];
    let mut sw = switch(&flows);
    // Only clause 1 matches: the normal flow at the same priority is the match.
    let udp = Packet::udp(1, mac(1), mac(2), ip("10.0.0.1"), ip("10.0.0.2"), 5, 53);
    assert!(sw.process(&udp).unwrap().is_output_to(3));
    // The conjunction completes and its re-lookup finds the conj_id flow.
    assert!(sw.process(&tcp(1, 2, 80)).unwrap().is_output_to(2));
    // A normal flow that also matches the re-lookup ties with the conj_id flow.
    let mut sw = switch(&flows);
    sw.apply(&flow("priority=100,tcp,nw_dst=10.0.0.2 actions=output:4"))
        .unwrap();
    assert!(matches!(
        sw.process(&tcp(1, 2, 80)),
        Err(SimError::Ambiguous { priority: 100, .. })
    ));
}

#[test]
fn conjunction_mixed_with_other_actions_is_rejected() {
    let mut sw = FakeSwitch::new();
    for bad in [
        "priority=1,ip actions=conjunction(1,1/2),output:2",
        "priority=1,ip actions=conjunction(1,1/2),goto_table:3",
        "priority=1,ip actions=conjunction(1,3/2)",
    ] {
        assert!(
            matches!(sw.apply(&flow(bad)), Err(SimError::BadConjunction { .. })),
            "{bad}"
        );
    }
}

#[test]
fn unknown_fields_and_instructions_are_refused_as_ovs_refuses_them() {
    let mut sw = FakeSwitch::new();
    let err = sw
        .apply(&flow(
            "table=2, priority=1,ip,oxm(0x7fff:0=0x05) actions=drop",
        ))
        .unwrap_err();
    assert!(
        matches!(&err, SimError::UnsupportedField { table: 2, field } if field == "oxm(0x7fff:0=0x05)"),
        "{err}"
    );
    for (insts, kind) in [
        ("instruction(experimenter=0x00002320,data=0x)", 0xffff),
        ("output:1,instruction(type=0x0007,body=0x00000000)", 7),
    ] {
        let err = sw
            .apply(&flow(&format!("table=2, priority=1 actions={insts}")))
            .unwrap_err();
        assert!(
            matches!(err, SimError::UnknownInstruction { table: 2, kind: k } if k == kind),
            "{err}"
        );
    }
    assert_eq!(sw.flow_count(), 0);
}

// ---- conntrack ----------------------------------------------------------------------------

/// A miniature of kakine's pipeline: ct in table 1, policy in 3 (allow tcp/80 only), commit
/// with the rule id moved from reg6 into ct_label[0..31], output by reg1.
fn ct_switch() -> FakeSwitch {
    switch(&[
        "priority=10,ip,in_port=1 actions=load:0x2->NXM_NX_REG1[],goto_table:1",
        "priority=10,ip,in_port=2 actions=load:0x1->NXM_NX_REG1[],goto_table:1",
        "table=1, priority=10,ip actions=ct(table=2,zone=65520)",
        "table=2, priority=20,ct_state=-new+est+trk,ip actions=goto_table:4",
        "table=2, priority=10,ct_state=+new+trk,ip actions=goto_table:3",
        "table=3, priority=50,tcp,tp_dst=80 actions=load:0x2a->NXM_NX_REG6[],goto_table:4",
        "table=3, priority=0 actions=drop",
        "table=4, priority=20,ct_state=+new+trk,ip actions=ct(commit,zone=65520,exec(move:NXM_NX_REG6[]->NXM_NX_CT_LABEL[0..31])),goto_table:5",
        "table=4, priority=0 actions=goto_table:5",
        "table=5, priority=0 actions=output:NXM_NX_REG1[]",
    ])
}

#[test]
fn a_syn_is_new_and_after_commit_its_reply_is_established_and_skips_policy() {
    let mut sw = ct_switch();
    let syn = tcp(1, 2, 80);
    let t = sw.trace(&syn).unwrap();
    assert!(t.verdict.is_output_to(2), "{t}");
    assert_eq!(
        t.step(2).unwrap().ct_state,
        ct_state::TRK | ct_state::NEW,
        "{t}"
    );
    assert_eq!(sw.conntrack().len(), 1);

    let reply = syn.reply(2);
    let t = sw.trace(&reply).unwrap();
    assert!(t.verdict.is_output_to(1), "{t}");
    let s = t.step(2).unwrap();
    assert_eq!(s.ct_state, ct_state::TRK | ct_state::EST | ct_state::RPL);
    assert!(!t.tables().contains(&3), "the reply skips policy: {t}");

    // Without a commit (port 22 is denied) nothing is remembered.
    assert!(sw.process(&tcp(1, 2, 22)).unwrap().dropped);
    assert!(sw.process(&tcp(1, 2, 22).reply(2)).unwrap().dropped);
    assert_eq!(sw.conntrack().len(), 1);
}

#[test]
fn commit_moves_the_rule_id_from_a_register_into_ct_label() {
    let mut sw = ct_switch();
    let syn = tcp(1, 2, 80);
    sw.process(&syn).unwrap();
    let (_, conn) = sw.conntrack().find(65520, &syn).unwrap();
    assert_eq!(conn.label, 0x2a);
    // Later packets see it in ct_label.
    sw.apply(&flow(
        "table=2, priority=30,ct_state=+est+trk,ct_label=0x2a/0xffffffff,ip actions=output:7",
    ))
    .unwrap();
    assert!(sw.process(&syn.reply(2)).unwrap().is_output_to(7));
    sw.conntrack_mut().flush();
    assert!(sw.process(&syn.reply(2)).unwrap().dropped);
}

#[test]
fn ct_exec_without_commit_is_rejected() {
    let mut sw = FakeSwitch::new();
    let err = sw
        .apply(&flow(
            "priority=1,ip actions=ct(zone=1,exec(load:0x1->NXM_NX_CT_MARK[]))",
        ))
        .unwrap_err();
    assert!(matches!(err, SimError::BadCt { .. }), "{err}");
}

#[test]
fn icmp_echo_and_reply_are_tracked_like_a_connection() {
    let mut sw = switch(&[
        "priority=10,ip actions=ct(table=1,zone=5)",
        "table=1, priority=10,ct_state=+new+trk,icmp,icmp_type=8 actions=ct(commit,zone=5),output:2",
        "table=1, priority=10,ct_state=+est+rpl+trk,icmp actions=output:1",
    ]);
    let echo = Packet::icmp(1, mac(1), mac(2), ip("10.0.0.1"), ip("10.0.0.2"), 8, 0);
    assert!(sw.process(&echo).unwrap().is_output_to(2));
    assert!(sw.process(&echo.reply(2)).unwrap().is_output_to(1));
}

#[test]
fn a_trace_reads_like_ofproto_trace() {
    let mut sw = ct_switch();
    let text = sw.trace(&tcp(1, 2, 80)).unwrap().to_string();
    assert!(text.contains("recirc(ct_state=new|trk)"), "{text}");
    assert!(text.ends_with("Verdict: 2"), "{text}");
}
