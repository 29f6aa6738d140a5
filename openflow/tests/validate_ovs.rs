//! `FlowMod::validate` against a real `ovs-vswitchd` in a private sandbox (`tests/common`):
//! every case of `tests/validate_cases`, sent raw, must be refused with the error code
//! `InvalidFlowMod::code` predicts, and each fixed flow accepted; and the connection must
//! refuse an invalid flow_mod before it sends anything. Fails loudly if Open vSwitch is not
//! installed.

use std::time::Duration;

use openflow::conn::AsyncEvent;
use openflow::{Connection, Error, FlowMod, InvalidFlowMod, Message};

mod common;
use common::Sandbox;

mod validate_cases;
use validate_cases::*;

/// Send `f`'s bytes unchecked (as an unknown message of type FLOW_MOD), then a barrier; the
/// ERROR OVS answered with, if any.
async fn ovs_verdict(
    conn: &Connection,
    events: &mut openflow::AsyncEvents,
    f: &FlowMod,
) -> Option<String> {
    let mut body = Vec::new();
    f.emit(&mut body);
    conn.send(Message::Unknown { kind: 14, body }).unwrap();
    conn.barrier().await.expect("barrier");
    let mut verdict = None;
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(20), events.next()).await {
        if let AsyncEvent::Message {
            message: Message::Error(e),
            ..
        } = ev
        {
            assert!(verdict.is_none(), "{f}: two errors");
            verdict = Some(e.code.to_string());
        }
    }
    verdict
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ovs_refuses_what_validation_refuses_with_the_predicted_code_and_takes_the_fix() {
    let sb = Sandbox::start();
    let conn = Connection::connect_unix(sb.mgmt()).await.expect("connect");
    let mut events = conn.events();
    let all: Vec<Case> = [
        prerequisite_cases(),
        duplicate_cases(),
        value_cases(),
        family_cases(),
        flow_mod_cases(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut disagreements = Vec::new();
    for c in &all {
        let want = c.want.code().and_then(|c| c.name()).expect("a named code");
        match ovs_verdict(&conn, &mut events, &c.bad).await {
            Some(got) if got == want => {}
            got => disagreements.push(format!("{}: we say {want}, OVS {got:?}", c.bad)),
        }
        if let Some(got) = ovs_verdict(&conn, &mut events, &c.good).await {
            disagreements.push(format!("{}: valid for us, OVS says {got}", c.good));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} cases:\n{}",
        disagreements.len(),
        all.len(),
        disagreements.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_refuses_an_invalid_flow_mod_before_sending_any_of_its_bundle() {
    let sb = Sandbox::start();
    let conn = Connection::connect_unix(sb.mgmt()).await.expect("connect");
    let good = flow("table=1, priority=5,ip actions=drop");
    let bad = flow("table=1, priority=6,ip,tcp_dst=80 actions=drop");
    match conn.bundle(&[good.clone(), bad.clone()]).await {
        Err(Error::Invalid { index, error, flow }) => {
            assert_eq!(index, 1);
            assert_eq!(error, InvalidFlowMod::Match(prereq("tp_dst", TCP)));
            assert_eq!(flow, "table=1, priority=6,ip,tp_dst=80 actions=drop");
        }
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
    // The encoded path checks the bodies in place, with the same verdict.
    let mut arena = Vec::new();
    let mut spans = Vec::new();
    for f in [&good, &bad] {
        let start = arena.len();
        f.emit(&mut arena);
        spans.push((start as u32, (arena.len() - start) as u32));
    }
    match conn.bundle_encoded(arena.into(), spans).await {
        Err(Error::Invalid {
            index: 1, error, ..
        }) => {
            assert_eq!(error, InvalidFlowMod::Match(prereq("tp_dst", TCP)))
        }
        other => panic!("expected Error::Invalid at 1, got {other:?}"),
    }
    match conn.send(Message::FlowMod(bad.clone())) {
        Err(Error::Invalid { index: 0, .. }) => {}
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
    match conn.request(Message::FlowMod(bad)).await {
        Err(Error::Invalid { index: 0, .. }) => {}
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
    conn.barrier().await.expect("still connected");
    assert!(sb.ofctl_dump().is_empty(), "{:?}", sb.ofctl_dump());
    conn.bundle(&[good]).await.expect("the valid flow alone");
    assert_eq!(sb.ofctl_dump().len(), 1);
}
