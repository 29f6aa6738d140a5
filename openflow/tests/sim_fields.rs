//! The fake switch on actions over the register families and the newer actions: it models
//! `xreg`/`xxreg` writes and reads (halves / quarters of `reg<N>`, OVS `meta-flow.h`) and
//! `ct_clear`, refuses fields it does not model with a typed error, and runs the other new
//! actions without panicking.

use std::net::Ipv4Addr;

use openflow::sim::{FakeSwitch, OutPort, Packet, SimError};
use openflow::{FlowMod, MacAddr};

fn switch(flows: &[&str]) -> Result<FakeSwitch, SimError> {
    let mut sw = FakeSwitch::new();
    for f in flows {
        let fm: FlowMod = f.parse().unwrap_or_else(|e| panic!("bad flow {f:?}: {e}"));
        sw.apply(&fm)?;
    }
    Ok(sw)
}

fn tcp() -> Packet {
    Packet::tcp(
        1,
        MacAddr([0x0a, 0x58, 0, 0, 0, 1]),
        MacAddr([0x0a, 0x58, 0, 0, 0, 2]),
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        40000,
        80,
    )
}

#[test]
fn xreg_and_xxreg_are_views_of_the_registers() {
    let mut sw = switch(&[
        // xreg0 = reg0:reg1, reg0 the high half.
        "priority=10 actions=set_field:0x200000003->xreg0,resubmit(,1)",
        // xxreg0 = reg0:reg1:reg2:reg3; bits 64..79 are reg1's low 16 bits.
        "table=1,priority=10,reg0=2,reg1=3 actions=move:NXM_NX_XXREG0[64..79]->NXM_NX_REG5[0..15],output:NXM_NX_REG5[0..15]",
        "table=1,priority=5 actions=output:9",
    ])
    .unwrap();
    assert_eq!(sw.process(&tcp()).unwrap().outputs, [OutPort::Port(3)]);
}

#[test]
fn a_partial_write_to_an_xxreg_lands_in_the_right_register() {
    let mut sw = switch(&[
        // Bits 32..47 of xxreg1 are the low 16 bits of reg6 (xxreg1 = reg4:reg5:reg6:reg7).
        "priority=10 actions=load:0x7->NXM_NX_XXREG1[32..47],resubmit(,1)",
        "table=1,priority=10,reg6=7 actions=output:7",
        "table=1,priority=5 actions=output:9",
    ])
    .unwrap();
    assert_eq!(sw.process(&tcp()).unwrap().outputs, [OutPort::Port(7)]);
}

#[test]
fn a_field_the_switch_does_not_model_is_a_typed_error() {
    let e = switch(&["priority=10,ip actions=set_field:1.2.3.4->ip_src"]).unwrap_err();
    assert!(
        matches!(&e, SimError::UnsupportedField { field, .. } if field == "ip_src"),
        "{e}"
    );
}

#[test]
fn newer_actions_run_without_panicking() {
    let mut sw = switch(&[
        "priority=10 actions=bundle(eth_src,50,active_backup,ofport,members:1,2),sample(probability=10,collector_set_id=1,obs_domain_id=2,obs_point_id=3,egress),set_field:0x34/0xff->tun_metadata0,learn(table=1,limit=10,result_dst=NXM_NX_REG0[0],in_port=5),ct_clear,output:4",
    ])
    .unwrap();
    assert_eq!(sw.process(&tcp()).unwrap().outputs, [OutPort::Port(4)]);
}

#[test]
fn ct_clear_forgets_the_conntrack_state() {
    let flows = |clear: &str| {
        let t1 = format!("table=1,priority=10,ct_state=+trk,ip actions={clear}resubmit(,2)");
        switch(&[
            "priority=10,ip actions=ct(table=1,zone=1)",
            &t1,
            "table=2,priority=10,ct_state=-trk,ip actions=output:4",
            "table=2,priority=10,ct_state=+trk,ip actions=output:5",
        ])
        .unwrap()
    };
    assert_eq!(
        flows("").process(&tcp()).unwrap().outputs,
        [OutPort::Port(5)]
    );
    assert_eq!(
        flows("ct_clear,").process(&tcp()).unwrap().outputs,
        [OutPort::Port(4)]
    );
}
