//! The ONFST_FLOW_MONITOR goldens (`tests/golden/messages.golden`, checked by `ovs-ofctl
//! ofp-print`) decode to the values OVS printed, and re-encode byte for byte.

use openflow::monitor::{
    FlowUpdate, FMF_ACTIONS, FMF_ADD, FMF_DELETE, FMF_INITIAL, FMF_MODIFY, FMF_OWN,
};
use openflow::{
    FlowMod, FlowMonitorRequest, FlowUpdateEvent, Match, Message, MultipartReply, MultipartRequest,
};

fn golden(name: &str) -> Vec<u8> {
    let text = include_str!("golden/messages.golden");
    let at = text.find(&format!("message: {name}\n")).expect(name);
    let hex = text[at..]
        .lines()
        .nth(1)
        .unwrap()
        .strip_prefix("hex: ")
        .unwrap();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn the_request_ovs_ofctl_monitor_sends_round_trips() {
    // ofp-print: id=1 flags=initial,add,delete,modify,actions,own
    let want = Message::MultipartRequest {
        flags: 0,
        body: MultipartRequest::FlowMonitor(vec![FlowMonitorRequest {
            flags: FMF_INITIAL | FMF_ADD | FMF_DELETE | FMF_MODIFY | FMF_ACTIONS | FMF_OWN,
            ..FlowMonitorRequest::all(1)
        }]),
    };
    let bytes = golden("onf_flow_monitor_request");
    assert_eq!(Message::decode(&bytes).unwrap(), (0x46, want.clone()));
    assert_eq!(want.encode(0x46), bytes);
}

#[test]
fn the_reply_decodes_to_added_deleted_and_abbrev() {
    // ofp-print: event=ADDED table=1 cookie=0 ip actions=output:2
    //            event=DELETED reason=delete table=1 cookie=0x1234 ip
    //            event=ABBREV xid=0x42
    let added: FlowMod = "table=1, priority=7,ip actions=output:2".parse().unwrap();
    let ip: Match = added.r#match.clone();
    let want = Message::MultipartReply {
        flags: 0,
        body: MultipartReply::FlowMonitor(vec![
            FlowUpdate::Full {
                event: FlowUpdateEvent::Added,
                reason: 0,
                priority: 7,
                idle_timeout: 0,
                hard_timeout: 0,
                table_id: 1,
                cookie: 0,
                r#match: ip.clone(),
                instructions: added.instructions.to_vec(),
            },
            FlowUpdate::Full {
                event: FlowUpdateEvent::Deleted,
                reason: 2,
                priority: 7,
                idle_timeout: 0,
                hard_timeout: 0,
                table_id: 1,
                cookie: 0x1234,
                r#match: ip,
                instructions: vec![],
            },
            FlowUpdate::Abbrev { xid: 0x42 },
        ]),
    };
    let bytes = golden("onf_flow_monitor_reply");
    let (xid, got) = Message::decode(&bytes).unwrap();
    assert_eq!((xid, &got), (0, &want));
    assert_eq!(want.encode(0), bytes);
    let Message::MultipartReply {
        body: MultipartReply::FlowMonitor(u),
        ..
    } = got
    else {
        unreachable!()
    };
    assert_eq!(u[0].flow_mod().unwrap().to_string(), added.to_string());
    assert_eq!(u[2].flow_mod(), None);
}
