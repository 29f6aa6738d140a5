//! NXT_RESUME against a real `ovs-vswitchd` (netdev datapath) in a private sandbox: a packet
//! paused by `controller(pause)` is resumed with the RESUME this crate builds from the
//! PACKET_IN2's properties, and the rest of the flow's actions run. Fails loudly if OVS is not
//! installed.

use std::time::Duration;

use openflow::action::port;
use openflow::nicira::{ExtMessage, PacketIn2Prop};
use openflow::packet::PacketOut;
use openflow::{Action, AsyncEvent, AsyncEvents, Connection, FlowMod, Message, OfpError};

mod common;
use common::Sandbox;

/// Ethernet broadcast from 00:00:00:00:00:01, IPv4 10.0.0.1 -> 10.0.0.2 (34 bytes), the
/// captured goldens' packet.
const FRAME: &str = "ffffffffffff0000000000010800450000140001000040\
                     00f9e50a0000010a000002";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Our connection with PACKET_IN2 turned on and one flow that pauses, loads reg3, then sends
/// the packet to the controller again with other userdata.
async fn paused_pipeline(sb: &Sandbox) -> (Connection, AsyncEvents) {
    let conn = Connection::connect_unix(sb.mgmt()).await.expect("connect");
    let events = conn.events();
    conn.send(Message::SetPacketInFormat(2)).unwrap();
    let flow: FlowMod =
        "priority=100,ip,in_port=LOCAL actions=controller(userdata=01.02.03,pause),\
                         load:0x9->NXM_NX_REG3[],controller(userdata=04.05)"
            .parse()
            .unwrap();
    conn.bundle(&[flow])
        .await
        .expect("install the pausing flow");
    (conn, events)
}

fn send_frame(conn: &Connection) {
    conn.send(Message::PacketOut(PacketOut {
        buffer_id: 0xffff_ffff,
        in_port: port::LOCAL,
        actions: vec![Action::Output {
            port: port::TABLE,
            max_len: 0,
        }],
        data: unhex(FRAME),
    }))
    .unwrap();
}

/// The next PACKET_IN2 or ERROR from the switch (other async messages are skipped).
async fn next(events: &mut AsyncEvents) -> Result<Vec<PacketIn2Prop>, OfpError> {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("nothing from the switch for 10 s")
            .expect("connection task ended");
        match e {
            AsyncEvent::Message {
                message: Message::Ext(ExtMessage::PacketIn2(p)),
                ..
            } => return Ok(p),
            AsyncEvent::Message {
                message: Message::Error(e),
                ..
            } => return Err(e),
            _ => continue,
        }
    }
}

fn metadata(p: &[PacketIn2Prop]) -> String {
    let md = p.iter().find_map(|p| p.metadata_match()).expect("metadata");
    md.expect("metadata decodes").to_string()
}

/// What `ovs-ofctl monitor ... resume` sends back (checked against its bytes in
/// `golden_captured.rs`): the PACKET_IN2's properties without the userdata.
fn resume_of(paused: &[PacketIn2Prop]) -> Message {
    let props = paused
        .iter()
        .filter(|p| !matches!(p, PacketIn2Prop::Userdata(_)))
        .cloned()
        .collect();
    Message::Ext(ExtMessage::Resume(props))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_continuation_runs_the_actions_after_the_pause() {
    let sb = Sandbox::start();
    let (conn, mut events) = paused_pipeline(&sb).await;
    send_frame(&conn);

    let paused = next(&mut events).await.expect("a PACKET_IN2, not an error");
    assert!(paused.contains(&PacketIn2Prop::Userdata(vec![1, 2, 3])));
    assert!(paused.contains(&PacketIn2Prop::Packet(unhex(FRAME))));
    assert!(paused
        .iter()
        .any(|p| matches!(p, PacketIn2Prop::Continuation(c) if !c.is_empty())));
    assert_eq!(
        metadata(&paused),
        "in_port=LOCAL",
        "reg3 is loaded after the pause"
    );

    conn.send(resume_of(&paused)).unwrap();
    conn.barrier().await.expect("barrier after the RESUME");
    // The pipeline went on from the pause: reg3 loaded, then the second controller action.
    let resumed = next(&mut events).await.expect("OVS accepted the RESUME");
    assert!(resumed.contains(&PacketIn2Prop::Userdata(vec![4, 5])));
    assert!(resumed.contains(&PacketIn2Prop::Packet(unhex(FRAME))));
    assert!(!resumed
        .iter()
        .any(|p| matches!(p, PacketIn2Prop::Continuation(_))));
    assert_eq!(metadata(&resumed), "reg3=0x9,in_port=LOCAL");
}

/// The continuation captured in `captured.golden` names the capture's bridge; another switch
/// decodes the RESUME and refuses it as stale, so a well-formed RESUME is told apart from one
/// OVS cannot parse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuation_from_another_bridge_is_refused_as_stale() {
    let text = include_str!("golden/captured.golden");
    let at = text.find("message: packet_in2_paused\n").unwrap();
    let hex = text[at..]
        .lines()
        .find_map(|l| l.strip_prefix("hex: "))
        .unwrap();
    let Ok((_, Message::Ext(ExtMessage::PacketIn2(captured)))) = Message::decode(&unhex(hex))
    else {
        panic!("packet_in2_paused does not decode")
    };

    let sb = Sandbox::start();
    let (conn, mut events) = paused_pipeline(&sb).await;
    conn.send(resume_of(&captured)).unwrap();
    let error = next(&mut events).await.expect_err("a stale continuation");
    assert_eq!(error.name(), Some("NXR_STALE"), "{error}");
    assert!(
        matches!(
            error.request(),
            Some(Ok((_, Message::Ext(ExtMessage::Resume(_)))))
        ),
        "{error}"
    );
    conn.barrier()
        .await
        .expect("the connection is still usable");
}
