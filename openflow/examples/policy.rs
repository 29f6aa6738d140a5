//! Program a bridge the way a policy controller does, with the crate's public API only:
//! connect, install a conjunctive allow rule as one atomic bundle, read the flows back, watch
//! for a change made by someone else, and delete by cookie.
//!
//! ```text
//! cargo run -p openflow --example policy -- /var/run/openvswitch/br-int.mgmt
//! ```
//!
//! The bridge must exist (`ovs-vsctl add-br br-int`); the example leaves it as it found it
//! (its flows carry cookie 0x4b4b and are deleted at the end). Guide: `docs/openflow.md`.

use std::time::Duration;

use openflow::monitor::FlowUpdate;
use openflow::{
    Connection, FlowMod, FlowModCommand, FlowMonitorRequest, Match, MatchField, MonitorEvent,
};

const COOKIE: u64 = 0x4b4b;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let socket = std::env::args()
        .nth(1)
        .ok_or("usage: policy <bridge>.mgmt (e.g. /var/run/openvswitch/br-int.mgmt)")?;
    let conn = Connection::connect_unix(&socket).await?;
    println!("connected to datapath {:016x}", conn.datapath_id());

    // Allow 10.0.0.0/24 -> port 80 or 443: one conjunction, each clause a flow, committed as
    // one bundle (all or nothing). Flows are written in `ovs-ofctl` syntax and checked
    // (prerequisites, duplicates, instruction rules) before anything is sent.
    let flows: Vec<FlowMod> = [
        "table=0,priority=100,cookie=0x4b4b,ip,nw_src=10.0.0.0/24 actions=conjunction(7,1/2)",
        "table=0,priority=100,cookie=0x4b4b,tcp,tp_dst=80 actions=conjunction(7,2/2)",
        "table=0,priority=100,cookie=0x4b4b,tcp,tp_dst=443 actions=conjunction(7,2/2)",
        "table=0,priority=100,cookie=0x4b4b,conj_id=7,ip \
         actions=ct(commit,zone=1,exec(load:0x1->NXM_NX_CT_MARK[])),normal",
        "table=0,priority=1,cookie=0x4b4b actions=drop",
    ]
    .iter()
    .map(|text| text.parse())
    .collect::<Result<_, _>>()?;
    conn.bundle(&flows).await?;

    // A flow OVS would refuse never leaves the process: the error names the flow and field.
    // (The text parser refuses `tp_dst=22` without `tcp` already; a flow built in code is
    // checked when it is sent.)
    let bad = FlowMod::add(
        0,
        5,
        Match::from(vec![MatchField::TcpDst(22, None)]),
        vec![],
    );
    if let Err(e) = conn.bundle(&[bad]).await {
        println!("refused before sending: {e}");
    }

    for f in conn.dump_flows(Some(0)).await? {
        if f.cookie == COOKIE {
            println!(
                "installed: {}  (packets {})",
                f.to_flow_mod(),
                f.packet_count
            );
        }
    }

    // Watch table 0: the initial flows, then changes by anyone else.
    let mut monitor = conn.monitor_flows(FlowMonitorRequest::all(1)).await?;
    println!("monitor sees {} flows", monitor.initial().len());
    let other = Connection::connect_unix(&socket).await?;
    other
        .bundle(&["table=0,priority=50,cookie=0x4b4b,arp actions=normal".parse()?])
        .await?;
    if let Ok(Some(MonitorEvent::Update(update))) =
        tokio::time::timeout(Duration::from_secs(2), monitor.next()).await
    {
        if let (FlowUpdate::Full { event, .. }, Some(flow)) = (&update, update.flow_mod()) {
            println!("monitor: {event:?} {flow}");
        }
    }

    // Delete everything this example added: a non-strict DELETE filtered by cookie.
    let delete = FlowMod::parse_with_command("table=0,cookie=0x4b4b/-1", FlowModCommand::Delete)?;
    conn.bundle(&[delete]).await?;
    let left = conn.dump_flows(Some(0)).await?;
    println!(
        "deleted; {} flows with cookie {COOKIE:#x} left",
        left.iter().filter(|f| f.cookie == COOKIE).count()
    );
    Ok(())
}
