//! Flow monitoring against a real `ovs-vswitchd`: flows added and deleted by hand with
//! `ovs-ofctl` show up on [`Connection::monitor_flows`] (what the agent uses to detect drift).

use std::process::Command;

use openflow::monitor::FlowUpdate;
use openflow::{Connection, FlowMod, FlowMonitorRequest, FlowUpdateEvent, MonitorEvent};

mod common;
use common::Sandbox;

fn ofctl(sb: &Sandbox, args: &[&str]) {
    let out = Command::new("ovs-ofctl")
        .args(["-O", "OpenFlow13"])
        .args(args.iter().take(1))
        .arg(format!("unix:{}", sb.mgmt().display()))
        .args(args.iter().skip(1))
        .output()
        .expect("ovs-ofctl");
    assert!(
        out.status.success(),
        "ovs-ofctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn next_update(m: &mut openflow::FlowMonitor) -> FlowUpdate {
    match m.next().await {
        Some(MonitorEvent::Update(u)) => u,
        other => panic!("expected an update, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_sees_flows_added_and_deleted_with_ovs_ofctl() {
    let sb = Sandbox::start();
    let conn = Connection::connect_unix(sb.mgmt()).await.expect("connect");
    let existing: FlowMod = "table=1, priority=5,ip actions=drop".parse().unwrap();
    conn.bundle(std::slice::from_ref(&existing))
        .await
        .expect("bundle");

    let mut mon = conn
        .monitor_flows(FlowMonitorRequest::all(7))
        .await
        .expect("monitor");
    let initial: Vec<String> = mon
        .initial()
        .iter()
        .map(|u| u.flow_mod().expect("full update").to_string())
        .collect();
    assert_eq!(initial, [existing.to_string()]);

    let by_hand = "table=2, priority=9,tcp,tp_dst=80 actions=output:3";
    ofctl(&sb, &["add-flow", by_hand]);
    let u = next_update(&mut mon).await;
    assert!(
        matches!(
            u,
            FlowUpdate::Full {
                event: FlowUpdateEvent::Added,
                ..
            }
        ),
        "{u:?}"
    );
    assert_eq!(u.flow_mod().unwrap().to_string(), by_hand);

    ofctl(&sb, &["del-flows", "table=1"]);
    let u = next_update(&mut mon).await;
    match &u {
        FlowUpdate::Full {
            event: FlowUpdateEvent::Deleted,
            reason,
            table_id: 1,
            instructions,
            ..
        } => {
            assert_eq!(*reason, 2, "OFPRR_DELETE");
            assert!(instructions.is_empty());
        }
        other => panic!("expected DELETED in table 1, got {other:?}"),
    }

    // Our own change is abbreviated to the flow_mod's xid.
    conn.bundle(&["table=3, priority=1 actions=drop".parse().unwrap()])
        .await
        .expect("own bundle");
    assert!(matches!(
        next_update(&mut mon).await,
        FlowUpdate::Abbrev { .. }
    ));

    mon.cancel().expect("cancel");
    conn.barrier().await.expect("still usable after cancel");
}
