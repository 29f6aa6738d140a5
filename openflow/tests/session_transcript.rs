//! The sans-IO session driven by scripted transcripts: no socket, no clock. Each test plays the
//! switch's side byte for byte and checks what the session writes, reports and schedules.

use std::time::{Duration, Instant};

use openflow::error_codes::{BadActionCode, BadRequestCode};
use openflow::message::{Hello, HelloElement, SwitchFeatures};
use openflow::multipart::{FlowStats, MultipartReply};
use openflow::session::{Config, DisconnectReason, Event, Response, Session};
use openflow::{
    BundleControl, BundleCtrlType, Error, ErrorCode, FlowMod, Match, Message, OfpError,
};

const FEATURES: SwitchFeatures = SwitchFeatures {
    datapath_id: 0xfeed,
    n_buffers: 0,
    n_tables: 254,
    auxiliary_id: 0,
    capabilities: 0x4f,
    reserved: 0,
};

/// A session plus the switch's view of it: everything the session wrote, decoded.
struct Script {
    s: Session,
    t0: Instant,
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

impl Script {
    fn new() -> Script {
        let t0 = Instant::now();
        let mut s = Session::new(Config::default(), t0);
        assert!(matches!(s.poll_event(), Some(Event::Connect)));
        s.connected(t0);
        Script { s, t0 }
    }

    fn at(&self, t: f64) -> Instant {
        self.t0 + secs(t)
    }

    /// Every message the session has queued, decoded.
    fn sent(&mut self) -> Vec<(u32, Message)> {
        let mut out = Vec::new();
        while let Some(bytes) = self.s.poll_transmit() {
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
                out.push(Message::decode(&rest[..len]).expect("session wrote a bad message"));
                rest = &rest[len..];
            }
        }
        out
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.s.poll_event()).collect()
    }

    fn switch_says(&mut self, t: f64, xid: u32, msg: Message) {
        let now = self.at(t);
        self.s.handle_bytes(now, &msg.encode(xid));
    }

    /// Run the scheduled reconnect: its timeout, the Connect event, the transport opened at `t`.
    fn retry_connect(&mut self, t: f64) {
        let retry = self.s.poll_timeout().expect("a reconnect is scheduled");
        self.s.handle_timeout(retry);
        assert!(matches!(self.events()[..], [Event::Connect]));
        self.s.connected(self.at(t));
    }

    /// The transport lost at 1 s and opened again after the 0.25 s backoff, HELLO both ways
    /// and the FEATURES_REPLY given: what the session sends next.
    fn reconnect_to_features(&mut self) -> Vec<(u32, Message)> {
        self.sent();
        self.s
            .disconnected(self.at(1.0), DisconnectReason::Transport("EOF".into()));
        self.events();
        self.retry_connect(1.25);
        self.sent();
        self.switch_says(1.3, 1, Message::Hello(Hello::of13()));
        let (xid, _) = self.sent().remove(0);
        self.switch_says(1.3, xid, Message::FeaturesReply(FEATURES));
        self.sent()
    }

    /// HELLO both ways, FEATURES, SET_CONFIG + BARRIER: the session is active at `t`.
    fn handshake(&mut self, t: f64) {
        let sent = self.sent();
        assert!(matches!(sent[..], [(_, Message::Hello(ref h))] if h.supports_of13()));
        self.switch_says(t, 1, Message::Hello(Hello::of13()));
        let (xid, m) = self.sent().remove(0);
        assert_eq!(m, Message::FeaturesRequest);
        self.switch_says(t, xid, Message::FeaturesReply(FEATURES));
        let sent = self.sent();
        assert!(matches!(sent[0].1, Message::SetConfig(c) if c.miss_send_len == 0xffff));
        assert_eq!(sent[1].1, Message::BarrierRequest);
        assert!(!self.s.is_active());
        self.switch_says(t, sent[1].0, Message::BarrierReply);
        assert!(self.s.is_active());
    }
}

fn flow(s: &str) -> FlowMod {
    s.parse().unwrap()
}

#[test]
fn handshake_negotiates_by_bitmap_and_reports_features() {
    let mut sc = Script::new();
    sc.handshake(0.0);
    let ev = sc.events();
    assert!(
        matches!(ev[..], [Event::Connected { features, reconnect: false }] if features == FEATURES),
        "{ev:?}"
    );
    assert_eq!(sc.s.features(), Some(FEATURES));
}

#[test]
fn a_peer_without_a_common_version_gets_hello_failed_and_is_dropped() {
    let mut sc = Script::new();
    sc.sent();
    let only_1_5 = Hello {
        version: 6,
        elements: vec![HelloElement::VersionBitmap(vec![1 << 6])],
    };
    sc.switch_says(0.0, 7, Message::Hello(only_1_5));
    let sent = sc.sent();
    assert!(
        matches!(&sent[..], [(7, Message::Error(e))] if e.name() == Some("OFPHFC_INCOMPATIBLE")),
        "{sent:?}"
    );
    assert!(matches!(
        sc.events()[..],
        [Event::Disconnected(DisconnectReason::Handshake(_))]
    ));
}

#[test]
fn echo_requests_are_answered_and_an_idle_peer_is_probed_then_declared_dead() {
    let mut sc = Script::new();
    sc.handshake(0.0);
    sc.events();
    // The switch probes us: same xid, same payload.
    sc.switch_says(1.0, 0x77, Message::EchoRequest(vec![0xde, 0xad]));
    assert_eq!(
        sc.sent(),
        vec![(0x77, Message::EchoReply(vec![0xde, 0xad]))]
    );
    // Idle for the probe interval (5 s since the last byte at t=1): we probe.
    assert_eq!(sc.s.poll_timeout(), Some(sc.at(6.0)));
    sc.s.handle_timeout(sc.at(5.9));
    assert!(sc.sent().is_empty());
    sc.s.handle_timeout(sc.at(6.0));
    let sent = sc.sent();
    let [(probe, Message::EchoRequest(_))] = sent[..] else {
        panic!("expected one ECHO_REQUEST, got {sent:?}")
    };
    // The reply keeps the connection alive and re-arms the idle timer.
    sc.switch_says(7.0, probe, Message::EchoReply(vec![]));
    assert!(sc.events().is_empty());
    assert_eq!(sc.s.poll_timeout(), Some(sc.at(12.0)));
    // Next probe goes unanswered: dead 5 s later, and a reconnect is scheduled.
    sc.s.handle_timeout(sc.at(12.0));
    assert_eq!(sc.sent().len(), 1);
    assert_eq!(sc.s.poll_timeout(), Some(sc.at(17.0)));
    sc.s.handle_timeout(sc.at(17.0));
    assert!(matches!(
        sc.events()[..],
        [Event::Disconnected(DisconnectReason::ProbeTimeout)]
    ));
    assert!(!sc.s.is_active());
    assert_eq!(sc.s.poll_timeout(), Some(sc.at(17.25)));
}

#[test]
fn a_failing_bundle_is_discarded_and_the_error_names_the_inner_message() {
    let mut sc = Script::new();
    sc.handshake(0.0);
    sc.events();
    let flows = [
        flow("table=7, priority=1 actions=drop"),
        // Valid, so it is sent; the switch has no group 9.
        flow("table=5, priority=1 actions=group:9"),
        flow("table=8, priority=1 actions=drop"),
    ];
    let id = sc.s.bundle(&flows);
    let sent = sc.sent();
    assert_eq!(sent.len(), 5, "OPEN, 3 ADDs, BARRIER: {sent:?}");
    let (open, Message::BundleControl(ref c)) = sent[0] else {
        panic!("{sent:?}")
    };
    assert_eq!(c.kind, BundleCtrlType::OpenRequest);
    let adds: Vec<u32> = sent[1..4]
        .iter()
        .map(|(x, m)| {
            assert!(matches!(m, Message::BundleAdd { .. }));
            *x
        })
        .collect();
    let (barrier, Message::BarrierRequest) = sent[4] else {
        panic!("{sent:?}")
    };
    // The switch accepts OPEN, rejects the second ADD, then answers the barrier.
    let mut reply = c.clone();
    reply.kind = BundleCtrlType::OpenReply;
    sc.switch_says(0.1, open, Message::BundleControl(reply));
    let bad_group = OfpError::new(ErrorCode::BadAction(BadActionCode::BadOutGroup), vec![]);
    sc.switch_says(0.1, adds[1], Message::Error(bad_group.clone()));
    sc.switch_says(0.1, barrier, Message::BarrierReply);
    assert!(sc.events().is_empty(), "no answer before the discard");
    let sent = sc.sent();
    let [(discard, Message::BundleControl(ref d))] = sent[..] else {
        panic!("expected DISCARD, got {sent:?}")
    };
    assert_eq!(d.kind, BundleCtrlType::DiscardRequest);
    let mut reply = d.clone();
    reply.kind = BundleCtrlType::DiscardReply;
    sc.switch_says(0.2, discard, Message::BundleControl(reply));
    match &sc.events()[..] {
        [Event::Response {
            id: got,
            result: Err(Error::Bundle { index, error, .. }),
        }] => {
            assert_eq!(*got, id);
            assert_eq!(*index, Some(1));
            assert_eq!(*error, bad_group);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_invalid_flow_mod_is_refused_before_anything_of_its_bundle_is_sent() {
    let mut sc = Script::new();
    sc.handshake(0.0);
    sc.events();
    // Built in code: the text parser refuses tcp_dst without tcp already.
    let mut no_tcp = flow("table=1, priority=2,ip actions=drop");
    no_tcp.r#match.push(openflow::MatchField::TcpDst(80, None));
    let flows = [flow("table=1, priority=1 actions=drop"), no_tcp];
    let id = sc.s.bundle(&flows);
    assert!(sc.sent().is_empty(), "no OPEN, ADD or BARRIER");
    match &sc.events()[..] {
        [Event::Response {
            id: got,
            result: Err(Error::Invalid { index, error, flow }),
        }] => {
            assert_eq!(*got, id);
            assert_eq!(*index, 1);
            assert_eq!(
                error.code().and_then(|c| c.name()),
                Some("OFPBMC_BAD_PREREQ")
            );
            assert_eq!(flow, "table=1, priority=2,ip,tp_dst=80 actions=drop");
        }
        other => panic!("{other:?}"),
    }
    // The same flows encoded, and the flow_mod alone: refused, nothing sent.
    let bodies: Vec<Vec<u8>> = flows
        .iter()
        .map(|f| {
            let mut b = Vec::new();
            f.emit(&mut b);
            b
        })
        .collect();
    let refs: Vec<&[u8]> = bodies.iter().map(|b| &b[..]).collect();
    sc.s.bundle_encoded(&refs);
    assert!(matches!(
        &sc.events()[..],
        [Event::Response {
            result: Err(Error::Invalid { index: 1, .. }),
            ..
        }]
    ));
    assert!(matches!(
        sc.s.send(&Message::FlowMod(flows[1].clone())),
        Err(Error::Invalid { index: 0, .. })
    ));
    sc.s.request(&Message::FlowMod(flows[1].clone()));
    assert!(matches!(
        &sc.events()[..],
        [Event::Response {
            result: Err(Error::Invalid { index: 0, .. }),
            ..
        }]
    ));
    assert!(sc.sent().is_empty());
    // The session is untouched: the valid flow alone goes out as a bundle.
    sc.s.bundle(&flows[..1]);
    assert_eq!(sc.sent().len(), 3, "OPEN, ADD, BARRIER");
}

#[test]
fn a_good_bundle_commits_after_its_barrier() {
    let mut sc = Script::new();
    sc.handshake(0.0);
    sc.events();
    let id = sc.s.bundle(&[flow("priority=1 actions=drop")]);
    let sent = sc.sent();
    sc.switch_says(0.1, sent[2].0, Message::BarrierReply);
    let sent = sc.sent();
    assert!(
        matches!(&sent[..], [(_, Message::BundleControl(c)), (_, Message::BarrierRequest)]
            if c.kind == BundleCtrlType::CommitRequest),
        "{sent:?}"
    );
    let commit = BundleControl::new(1, BundleCtrlType::CommitReply, 3);
    sc.switch_says(0.2, sent[0].0, Message::BundleControl(commit));
    sc.switch_says(0.2, sent[1].0, Message::BarrierReply);
    assert!(matches!(
        &sc.events()[..],
        [Event::Response { id: got, result: Ok(Response::BundleCommitted) }] if *got == id
    ));
}

fn stats(table_id: u8) -> FlowStats {
    FlowStats {
        table_id,
        duration_sec: 1,
        duration_nsec: 2,
        priority: 5,
        idle_timeout: 0,
        hard_timeout: 0,
        flags: 0,
        cookie: 7,
        packet_count: 3,
        byte_count: 4,
        r#match: Match::default(),
        instructions: vec![],
    }
}

#[test]
fn multipart_replies_are_reassembled_across_reads_and_interleaved_messages() {
    let mut sc = Script::new();
    sc.handshake(0.0);
    sc.events();
    let req = Message::MultipartRequest {
        flags: 0,
        body: openflow::MultipartRequest::Flow(openflow::FlowStatsRequest::all(None)),
    };
    let id = sc.s.request(&req);
    let (xid, _) = sc.sent()[0];
    let part = |flags, t| {
        Message::MultipartReply {
            flags,
            body: MultipartReply::Flow(vec![stats(t)]),
        }
        .encode(xid)
    };
    // Three parts and a PORT_STATUS in between, delivered in odd-sized pieces.
    // A PORT_STATUS as the decoder sees it (typed since the message families landed).
    let port_status = Message::decode(
        &Message::Unknown {
            kind: 12,
            body: vec![0; 72],
        }
        .encode(0),
    )
    .expect("a PORT_STATUS")
    .1;
    let mut wire = part(1, 1);
    wire.extend(port_status.encode(0));
    wire.extend(part(1, 2));
    wire.extend(part(0, 3));
    for (i, piece) in wire.chunks(13).enumerate() {
        sc.s.handle_bytes(sc.at(0.01 * i as f64), piece);
    }
    let ev = sc.events();
    assert!(matches!(&ev[0], Event::Async { message, .. } if *message == port_status));
    match &ev[1] {
        Event::Response {
            id: got,
            result: Ok(Response::Multipart(parts)),
        } => {
            assert_eq!(*got, id);
            let flows: Vec<FlowStats> = parts
                .iter()
                .flat_map(|p| match p {
                    MultipartReply::Flow(v) => v.clone(),
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(flows, vec![stats(1), stats(2), stats(3)]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn reconnect_backs_off_exponentially_and_resets_after_a_good_handshake() {
    let mut sc = Script::new();
    sc.handshake(0.0);
    sc.events();
    let pending = sc.s.barrier();
    sc.s.disconnected(sc.at(1.0), DisconnectReason::Transport("EOF".into()));
    let ev = sc.events();
    assert!(
        matches!(&ev[..], [Event::Response { id, result: Err(Error::Closed) }, Event::Disconnected(_)] if *id == pending),
        "{ev:?}"
    );
    // 0.25, 0.5, 1, 2, 4, 8, 8 s between failed attempts.
    let mut t = 1.0;
    for delay in [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0] {
        t += delay;
        assert_eq!(sc.s.poll_timeout(), Some(sc.at(t)), "after {delay}");
        sc.s.handle_timeout(sc.at(t - 0.001));
        assert!(sc.events().is_empty());
        sc.s.handle_timeout(sc.at(t));
        assert!(matches!(sc.events()[..], [Event::Connect]));
        assert_eq!(sc.s.poll_timeout(), None, "waiting for the driver");
        sc.s.connect_failed(sc.at(t));
    }
    t += 8.0;
    sc.s.handle_timeout(sc.at(t));
    assert!(matches!(sc.events()[..], [Event::Connect]));
    sc.s.connected(sc.at(t));
    sc.handshake(t);
    assert!(matches!(
        sc.events()[..],
        [Event::Connected {
            reconnect: true,
            ..
        }]
    ));
    sc.s.disconnected(sc.at(t + 1.0), DisconnectReason::Transport("EOF".into()));
    sc.events();
    assert_eq!(sc.s.poll_timeout(), Some(sc.at(t + 1.25)), "backoff reset");
}

#[test]
fn requests_while_disconnected_fail_at_once() {
    let mut sc = Script::new();
    sc.sent();
    let id = sc.s.barrier();
    assert!(matches!(
        &sc.events()[..],
        [Event::Response { id: got, result: Err(Error::Closed) }] if *got == id
    ));
    assert!(sc.sent().is_empty());
}

#[test]
fn a_switch_error_answers_its_request_and_an_unsolicited_one_is_async() {
    let mut sc = Script::new();
    sc.handshake(0.0);
    sc.events();
    let id = sc.s.request(&Message::GetConfigRequest);
    let (xid, _) = sc.sent()[0];
    let e = OfpError::new(ErrorCode::BadRequest(BadRequestCode::BadType), vec![]);
    sc.switch_says(0.1, xid, Message::Error(e.clone()));
    sc.switch_says(0.1, 0xabc, Message::Error(e.clone()));
    let ev = sc.events();
    assert!(
        matches!(&ev[0], Event::Response { id: got, result: Err(Error::Switch(x)) } if *got == id && *x == e)
    );
    assert!(matches!(
        &ev[1],
        Event::Async {
            xid: 0xabc,
            message: Message::Error(_)
        }
    ));
}

/// After a reconnect at `t`, everything the session sends up to the end of the handshake: the
/// handshake's own four messages and nothing else.
fn reconnect_and_handshake(sc: &mut Script, t: f64) -> Vec<Event> {
    sc.retry_connect(t);
    sc.handshake(t);
    sc.events()
}

#[test]
fn a_bundle_cut_off_before_its_commit_fails_as_not_applied_and_is_not_replayed() {
    let mut sc = Script::new();
    sc.handshake(0.0);
    sc.events();
    let flows = [
        flow("table=7, priority=1 actions=drop"),
        flow("table=8, priority=1 actions=drop"),
    ];
    let id = sc.s.bundle(&flows);
    let sent = sc.sent();
    assert_eq!(sent.len(), 4, "OPEN, 2 ADDs, BARRIER: {sent:?}");
    let (open, Message::BundleControl(ref c)) = sent[0] else {
        panic!("{sent:?}")
    };
    // The switch opens the bundle, then the transport goes before the barrier's reply.
    let mut reply = c.clone();
    reply.kind = BundleCtrlType::OpenReply;
    sc.switch_says(0.1, open, Message::BundleControl(reply));
    assert!(sc.events().is_empty());
    sc.s.disconnected(sc.at(0.2), DisconnectReason::Transport("EOF".into()));
    match &sc.events()[..] {
        [Event::Response {
            id: got,
            result:
                Err(
                    e @ Error::BundleLost {
                        maybe_applied: false,
                        reason: DisconnectReason::Transport(why),
                    },
                ),
        }, Event::Disconnected(DisconnectReason::Transport(_))] => {
            assert_eq!(*got, id);
            assert_eq!(why, "EOF");
            assert_eq!(
                e.to_string(),
                "bundle not applied: the connection was lost (transport: EOF)"
            );
        }
        other => panic!("{other:?}"),
    }
    // Nothing more goes out on the dead transport, and the next connection carries only the
    // handshake: no COMMIT, no DISCARD, no BUNDLE_ADD of the lost bundle.
    assert!(sc.sent().is_empty());
    let ev = reconnect_and_handshake(&mut sc, 1.0);
    assert!(
        matches!(
            ev[..],
            [Event::Connected {
                reconnect: true,
                ..
            }]
        ),
        "{ev:?}"
    );
    assert!(sc.sent().is_empty());
    // A late answer to the old bundle's xids is just an unsolicited message now.
    sc.switch_says(1.1, open, Message::BarrierReply);
    assert!(matches!(
        &sc.events()[..],
        [Event::Async { message: Message::BarrierReply, xid }] if *xid == open
    ));
    // And a new bundle starts from OPEN with a new bundle id.
    sc.s.bundle(&flows[..1]);
    let sent = sc.sent();
    assert!(
        matches!(
            &sent[..],
            [
                (_, Message::BundleControl(o)),
                (_, Message::BundleAdd { .. }),
                (_, Message::BarrierRequest)
            ] if o.kind == BundleCtrlType::OpenRequest && o.bundle_id != c.bundle_id
        ),
        "{sent:?}"
    );
}

#[test]
fn a_bundle_cut_off_after_its_commit_went_out_fails_as_maybe_applied() {
    let mut sc = Script::new();
    sc.handshake(0.0);
    sc.events();
    let id = sc.s.bundle(&[flow("priority=1 actions=drop")]);
    let sent = sc.sent();
    sc.switch_says(0.1, sent[2].0, Message::BarrierReply);
    let sent = sc.sent();
    assert!(
        matches!(&sent[..], [(_, Message::BundleControl(c)), (_, Message::BarrierRequest)]
            if c.kind == BundleCtrlType::CommitRequest),
        "{sent:?}"
    );
    sc.s.handle_timeout(sc.at(5.1));
    sc.s.handle_timeout(sc.at(10.1));
    match &sc.events()[..] {
        [Event::Response {
            id: got,
            result:
                Err(
                    e @ Error::BundleLost {
                        maybe_applied: true,
                        reason: DisconnectReason::ProbeTimeout,
                    },
                ),
        }, Event::Disconnected(DisconnectReason::ProbeTimeout)] => {
            assert_eq!(*got, id);
            assert!(e.to_string().contains("outcome unknown"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let ev = reconnect_and_handshake(&mut sc, 11.0);
    assert!(
        matches!(
            ev[..],
            [Event::Connected {
                reconnect: true,
                ..
            }]
        ),
        "{ev:?}"
    );
    assert!(sc.sent().is_empty(), "the COMMIT is not sent again");
}

#[test]
fn a_bundle_cut_off_after_the_switch_refused_a_message_reports_the_refusal() {
    let mut sc = Script::new();
    sc.handshake(0.0);
    sc.events();
    let id = sc.s.bundle(&[
        flow("priority=1 actions=drop"),
        flow("table=5, priority=1 actions=group:9"),
    ]);
    let sent = sc.sent();
    let bad_table = OfpError::new(ErrorCode::BadAction(BadActionCode::BadOutGroup), vec![]);
    sc.switch_says(0.1, sent[2].0, Message::Error(bad_table.clone()));
    sc.s.disconnected(sc.at(0.2), DisconnectReason::Transport("EOF".into()));
    match &sc.events()[..] {
        [Event::Response {
            id: got,
            result: Err(Error::Bundle { index, error, .. }),
        }, Event::Disconnected(_)] => {
            assert_eq!(*got, id);
            assert_eq!(*index, Some(1));
            assert_eq!(*error, bad_table);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_request_the_switch_does_not_answer_completes_on_the_barrier_after_it_or_on_its_error() {
    let mut sc = Script::new();
    sc.handshake(0.0);
    sc.events();
    // Done: a FLOW_MOD, then the BARRIER the session adds; the barrier's reply answers it.
    let id =
        sc.s.request(&Message::FlowMod(flow("priority=1 actions=drop")));
    let sent = sc.sent();
    assert!(
        matches!(
            sent[..],
            [(_, Message::FlowMod(_)), (_, Message::BarrierRequest)]
        ),
        "{sent:?}"
    );
    sc.switch_says(0.1, sent[1].0, Message::BarrierReply);
    match &sc.events()[..] {
        [Event::Response {
            id: got,
            result: Ok(Response::Message(Message::BarrierReply)),
        }] => {
            assert_eq!(*got, id)
        }
        other => panic!("{other:?}"),
    }
    // Refused: the ERROR for the message answers it, and the barrier's reply is then ignored.
    let id = sc.s.request(&Message::SetPacketInFormat(7));
    let sent = sc.sent();
    let bad = OfpError::new(ErrorCode::BadRequest(BadRequestCode::BadType), vec![]);
    sc.switch_says(0.2, sent[0].0, Message::Error(bad.clone()));
    sc.switch_says(0.3, sent[1].0, Message::BarrierReply);
    match &sc.events()[..] {
        [Event::Response {
            id: got,
            result: Err(Error::Switch(e)),
        }] => {
            assert_eq!((*got, e), (id, &bad))
        }
        other => panic!("{other:?}"),
    }
    // A request with a reply of its own gets no barrier.
    sc.s.request(&Message::GetConfigRequest);
    assert!(matches!(sc.sent()[..], [(_, Message::GetConfigRequest)]));
}

#[test]
fn the_packet_in_format_is_set_again_after_a_reconnect_and_forgotten_if_refused_there() {
    let mut sc = Script::new();
    sc.handshake(0.0);
    sc.events();
    // OVS keeps the format per connection (without it packet-ins would come as
    // OFPT_PACKET_IN), so it is set again; a format OVS refuses is never kept: 2 stays.
    sc.s.send(&Message::SetPacketInFormat(2)).expect("send");
    sc.s.send(&Message::SetPacketInFormat(7)).expect("send");
    let sent = sc.reconnect_to_features();
    assert!(
        matches!(
            sent[..],
            [
                (_, Message::SetConfig(_)),
                (_, Message::SetPacketInFormat(2)),
                (_, Message::BarrierRequest)
            ]
        ),
        "{sent:?}"
    );
    // This switch refuses even format 2 now: the handshake still completes.
    let eperm = OfpError::new(ErrorCode::BadRequest(BadRequestCode::Eperm), vec![]);
    sc.switch_says(1.4, sent[1].0, Message::Error(eperm));
    sc.switch_says(1.4, sent[2].0, Message::BarrierReply);
    assert!(sc.s.is_active());
    assert!(
        matches!(
            sc.events()[..],
            [Event::Connected {
                reconnect: true,
                ..
            }]
        ),
        "connected"
    );
}
