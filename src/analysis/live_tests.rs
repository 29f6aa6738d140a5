//! Unit tests of [`super`] (`kakinectl explain --live`): what is compared, a forwarding drop,
//! the MAC read from SpoofGuard.

use super::*;
use crate::analysis::walk::{walk, PortSpec};
use openflow::flow::{MacAddr, Match, MatchField};

fn case(from: &str, to: &str, port: u16) -> Case {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let p = crate::agent::load_input(&dir).unwrap();
    let q = Query {
        from: Endpoint::parse(from).unwrap(),
        to: Endpoint::parse(to).unwrap(),
        protocol: Protocol::Tcp,
        port: PortSpec::Number(port),
        source_port: None,
    };
    walk(&p, &q).unwrap().cases.remove(0)
}

fn answer(verdict: Verdict, ingress_here: bool) -> LiveAnswer {
    LiveAnswer {
        traces: Vec::new(),
        decision: Decision {
            verdict,
            egress: None,
            ingress: None,
            reason: String::new(),
        },
        ingress_here,
        hop: String::new(),
        forwarding: None,
        audit: Vec::new(),
        audit_note: None,
    }
}

#[test]
fn with_the_ingress_on_another_node_only_the_egress_is_compared() {
    // Offline: the egress allows, the server's ingress drops (securityops).
    let c = case("web/frontend", "db/postgres", 5432);
    assert_eq!(c.decision.verdict, Verdict::Deny);
    // The packet left by the tunnel: the egress agrees.
    assert!(disagreements(&c, &answer(Verdict::Allow, false)).is_empty());
    // Dropped on the client's node: the egress does not.
    assert_eq!(
        disagreements(&c, &answer(Verdict::Deny, false)),
        ["verdict of the egress: offline allow, node deny"]
    );
    // Delivered on a node holding both: verdict and ingress rule differ.
    assert_eq!(
        disagreements(&c, &answer(Verdict::Allow, true)),
        [
            "verdict: offline deny, node allow",
            "ingress rule: offline securityops/web-never-reaches-db/drop-web, node none (default allow)"
        ]
    );
}

#[test]
fn a_forwarding_drop_is_no_policy_verdict() {
    // Offline: web/frontend -> api/orders:8080 is allowed.
    let c = case("web/frontend", "api/orders", 8080);
    assert_eq!(c.decision.verdict, Verdict::Allow);
    let mut a = answer(Verdict::Deny, false);
    // Dropped with no policy flow denying it and no forwarding drop read: a disagreement.
    assert_eq!(
        disagreements(&c, &a),
        ["verdict of the egress: offline allow, node deny"]
    );
    // The same drop read as forwarding: the node's policies allowed it, they agree.
    a.forwarding = Some(ForwardingDrop {
        node: "run/ovs".into(),
        table: "L2Forwarding".into(),
        table_miss: true,
        at_host: false,
        why: "no route".into(),
    });
    assert_eq!(a.policy_verdict(), Verdict::Allow);
    assert!(disagreements(&c, &a).is_empty());
    // Forwarding does not hide a policy difference: offline the egress drops.
    let c = case("web/frontend", "db/postgres", 5432);
    let mut denied = c.clone();
    denied.egress.verdict = Some(Verdict::Deny);
    assert_eq!(
        disagreements(&denied, &a),
        ["verdict of the egress: offline deny, node allow"]
    );
}

#[test]
fn a_pods_mac_is_read_from_its_spoofguard_flow() {
    let mac = MacAddr([0x0a, 0x58, 10, 10, 1, 10]);
    let flow = |port: u32| openflow::FlowStats {
        table_id: 0,
        duration_sec: 0,
        duration_nsec: 0,
        priority: 200,
        idle_timeout: 0,
        hard_timeout: 0,
        flags: 0,
        cookie: 0,
        packet_count: 0,
        byte_count: 0,
        r#match: Match::from(vec![
            MatchField::InPort(port),
            MatchField::EthSrc(mac, None),
        ]),
        instructions: vec![],
    };
    let pod = |ofport| PodEntry {
        ofport,
        pod: "web/frontend".into(),
        ip: "10.10.1.10".into(),
    };
    assert_eq!(mac_of(&[flow(3), flow(4)], &pod(4)), Some(mac));
    assert_eq!(mac_of(&[flow(3)], &pod(4)), None);
}
