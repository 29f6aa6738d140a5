//! Against a real `ovs-vswitchd` (netdev datapath) in a private sandbox, set up exactly as
//! `/work/shared/reference/protocols.md` §3.1. Fails loudly if OVS is not installed.

use std::collections::BTreeSet;
use std::time::Instant;

use openflow::session::Response;
use openflow::{Connection, Error, FlowMod, InvalidFlowMod, Message};

mod common;
use common::Sandbox;

const FLOWS: &[&str] = &[
    "priority=200,in_port=2 actions=load:0x2->NXM_NX_REG0[0..3],resubmit(,1)",
    "table=1, priority=200,ip actions=ct(table=2,zone=65520)",
    "table=2, priority=200,ct_state=+inv+trk,ip actions=drop",
    "table=2, priority=190,ct_state=-new+trk,ct_mark=0x2/0x2,ip actions=goto_table:3",
    "table=3, priority=200,ip,nw_src=10.10.0.2 actions=conjunction(1001,1/2)",
    "table=3, priority=200,ip,reg1=0x3 actions=conjunction(1001,2/2)",
    "table=3, priority=190,conj_id=1001,ip actions=load:0x3e9->NXM_NX_REG3[],ct(commit,table=4,zone=65520,exec(load:0x1->NXM_NX_CT_MARK[1],load:0x3e9->NXM_NX_CT_LABEL[0..31]))",
    "cookie=0x1234, table=4, idle_timeout=30, hard_timeout=60, send_flow_rem check_overlap priority=5,tcp,nw_dst=10.0.0.0/24,tp_dst=80 actions=output:NXM_NX_REG1[0..15]",
    "table=4, priority=4,arp,arp_tpa=10.0.0.1,arp_op=1 actions=set_field:0x5->reg2,NORMAL",
];

fn flows() -> Vec<FlowMod> {
    FLOWS
        .iter()
        .map(|s| s.parse().unwrap_or_else(|e| panic!("{s}: {e}")))
        .collect()
}

fn canonical(v: impl IntoIterator<Item = FlowMod>) -> BTreeSet<String> {
    v.into_iter().map(|f| f.canonical().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_install_atomically_and_dump_back() {
    let sb = Sandbox::start();
    let conn = Connection::connect_unix(sb.mgmt()).await.expect("connect");
    assert_ne!(conn.datapath_id(), 0);

    conn.bundle(&flows()).await.expect("bundle");
    // Requests OVS answers only on failure complete on the barrier the session sends after
    // them (they used to wait forever): one done, one refused (no group 99).
    let done = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        conn.request(Message::SetPacketInFormat(2)),
    )
    .await
    .expect("a request without a reply completes");
    assert!(
        matches!(done, Ok(Response::Message(Message::BarrierReply))),
        "{done:?}"
    );
    let refused = conn
        .request(Message::FlowMod(
            "table=7,priority=1 actions=group:99".parse().expect("flow"),
        ))
        .await;
    assert!(
        matches!(&refused, Err(Error::Switch(e)) if e.to_string().contains("OFPBAC_BAD_OUT_GROUP")),
        "{refused:?}"
    );
    let expected: BTreeSet<String> = FLOWS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        sb.ofctl_dump(),
        expected,
        "ovs-ofctl dump-flows disagrees with what we installed"
    );

    let ours = conn.dump_flows(None).await.expect("dump_flows");
    assert_eq!(
        canonical(ours.iter().map(|s| s.to_flow_mod())),
        canonical(flows())
    );
    assert_eq!(
        conn.dump_flows(Some(3)).await.expect("dump table 3").len(),
        3
    );

    // A bundle whose second flow_mod jumps backwards: refused before anything is sent (OVS
    // refuses it with the same code, see `validate_ovs.rs`), so nothing of it is applied.
    let bad: Vec<FlowMod> = [
        "table=7, priority=1 actions=drop",
        "table=5, priority=1 actions=goto_table:2",
        "table=8, priority=1 actions=drop",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    match conn.bundle(&bad).await {
        Err(Error::Invalid { index, error, flow }) => {
            assert_eq!(index, 1);
            assert_eq!(error, InvalidFlowMod::BadGotoTable { table: 5, goto: 2 });
            assert_eq!(
                error.code().and_then(|c| c.name()),
                Some("OFPBIC_BAD_TABLE_ID")
            );
            assert_eq!(flow, "table=5, priority=1 actions=goto_table:2");
        }
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
    assert_eq!(
        sb.ofctl_dump(),
        expected,
        "a failed bundle changed the flow table"
    );
    conn.barrier().await.expect("connection still usable");

    // A large bundle goes out in batches without per-message waits.
    let many: Vec<FlowMod> = (0..20_000u32)
        .map(|i| {
            format!(
                "table=10, priority=10,ip,nw_src={}.{}.{}.1 actions=goto_table:11",
                10,
                i >> 8,
                i & 0xff
            )
            .parse()
            .unwrap()
        })
        .collect();
    let t = Instant::now();
    conn.bundle(&many).await.expect("large bundle");
    eprintln!("20k flow bundle took {:?}", t.elapsed());
    assert_eq!(
        conn.dump_flows(Some(10))
            .await
            .expect("dump table 10")
            .len(),
        20_000
    );
}

/// A flow_mod that passes validation but fails when the bundle is committed (check_overlap
/// against a flow already installed): OVS sends the flow_mod's own error with its xid, then
/// OFPBFC_MSG_FAILED for the COMMIT; the error names the flow_mod, and nothing is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_failing_at_commit_is_named_by_index_and_text() {
    let sb = Sandbox::start();
    let conn = Connection::connect_unix(sb.mgmt()).await.expect("connect");
    let parse = |v: &[&str]| -> Vec<FlowMod> { v.iter().map(|s| s.parse().unwrap()).collect() };
    conn.bundle(&parse(&["table=1, priority=7,ip actions=drop"]))
        .await
        .expect("first bundle");
    let before = sb.ofctl_dump();
    let bad = parse(&[
        "table=2, priority=1 actions=drop",
        "table=3, priority=1 actions=drop",
        "table=1, check_overlap priority=7,ip,nw_src=10.0.0.1 actions=drop",
    ]);
    match conn.bundle(&bad).await {
        Err(Error::Bundle { index, error, flow }) => {
            assert_eq!(index, Some(2), "{error}");
            assert_eq!(error.name(), Some("OFPFMFC_OVERLAP"), "{error}");
            assert_eq!(
                flow.as_deref(),
                Some("table=1, check_overlap priority=7,ip,nw_src=10.0.0.1 actions=drop")
            );
        }
        other => panic!("expected Error::Bundle, got {other:?}"),
    }
    assert_eq!(
        sb.ofctl_dump(),
        before,
        "a failed bundle changed the flow table"
    );
}
