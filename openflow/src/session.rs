//! The OpenFlow 1.3 client protocol without I/O (in the style of quinn-proto and OVS's
//! `reconnect.py`): bytes and `now` go in, bytes, events and the next deadline come out. No
//! socket, no clock, so tests replay whole exchanges.
//!
//! The driver's loop (see [`crate::conn`]) is:
//! 1. feed what it read with [`Session::handle_bytes`], a closed socket with
//!    [`Session::disconnected`], an opened one with [`Session::connected`] (or
//!    [`Session::connect_failed`]), and call [`Session::handle_timeout`] when
//!    [`Session::poll_timeout`] is reached;
//! 2. write everything [`Session::poll_transmit`] gives;
//! 3. act on every [`Session::poll_event`]: [`Event::Connect`] asks it to open a socket,
//!    [`Event::Disconnected`] to close it.
//!
//! What the session does by itself: HELLO and version negotiation by bitmap (OF1.3 §6.3.1),
//! FEATURES_REQUEST and SET_CONFIG(miss_send_len=0xffff) confirmed by a BARRIER, xid
//! allocation and request/reply correlation, answering ECHO_REQUESTs, probing an idle peer with
//! its own ECHO_REQUEST and declaring it dead when no byte arrives in time, multipart
//! reassembly (REPLY_MORE), atomic bundles with errors attributed to the inner message, and
//! reconnection with exponential backoff.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::bundle::{
    BundleControl, BundleCtrlType, BundleXids, OFPBF_ATOMIC, OFPBF_ORDERED, ONFT_BUNDLE_ADD_MESSAGE,
};
use crate::error::ONF_VENDOR_ID;
use crate::error_codes::HelloFailedCode;
use crate::message::{frame_len, Hello, HelloElement, SwitchConfig, SwitchFeatures, OFP13_VERSION};
use crate::multipart::{MultipartReply, OFPMPF_MORE};
use crate::validate;
use crate::wire::put_len_at;
use crate::{Error, ErrorCode, FlowMod, Message, OfpError};

/// Bytes per buffer handed out by [`Session::poll_transmit`] for a large bundle.
const TRANSMIT_CHUNK: usize = 256 * 1024;

/// Timers and versions; [`Config::default`] follows OVS's defaults for a controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Wire versions we speak, as a HELLO bitmap (bit n = version n). Only 1.3 is decoded.
    pub versions: u32,
    /// Send an ECHO_REQUEST after this long without receiving anything (OVS:
    /// `inactivity_probe`, 5 s).
    pub probe_interval: Duration,
    /// Declare the peer dead this long after the probe if still nothing arrived.
    pub probe_timeout: Duration,
    /// The whole handshake (HELLO to the BARRIER_REPLY) must finish within this.
    pub handshake_timeout: Duration,
    /// First reconnect delay; doubled per failed attempt, reset once connected.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// How long a request (a dump, a barrier, a flow_mod's confirming barrier, an echo ...)
    /// may wait for its whole answer (30 s). When it passes the request fails with
    /// [`Error::Timeout`] and the connection is dropped (a switch that lost or ignores a
    /// request is not trusted with the next), then re-established after the backoff.
    pub request_timeout: Duration,
    /// How long each phase of a bundle (OPEN and ADDs to their barrier's reply, COMMIT to its
    /// barrier's reply) may take (120 s: 100k flows take OVS a few seconds); as for
    /// `request_timeout`, expiry fails the bundle with [`Error::Timeout`] and drops the
    /// connection.
    pub bundle_timeout: Duration,
    /// Most MULTIPART_REPLY parts one request may gather (1 Mi). One more fails the request
    /// with [`Error::MultipartTooLarge`] and drops the connection.
    pub max_multipart_parts: usize,
    /// Most bytes (whole messages, headers included) one request's MULTIPART_REPLY parts may
    /// total (256 MiB); past it, as for `max_multipart_parts`.
    pub max_multipart_bytes: usize,
    /// The `miss_send_len` of the SET_CONFIG sent in every handshake (OF1.3 §7.3.2): how many
    /// bytes of a packet a table-miss or `controller` PACKET_IN carries when the action does
    /// not say (0xffff, OFPCML_NO_BUFFER: the whole packet). 0 keeps the packet-ins of a
    /// connection that wants none of their bytes (an agent that only counts them) empty; an
    /// explicit `controller(max_len=...)` still sets its own length.
    pub miss_send_len: u16,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            versions: 1 << OFP13_VERSION,
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(8),
            request_timeout: Duration::from_secs(30),
            bundle_timeout: Duration::from_secs(120),
            max_multipart_parts: 1 << 20,
            max_multipart_bytes: 256 << 20,
            miss_send_len: 0xffff,
        }
    }
}

/// Identifies a request made through the session; its answer comes as [`Event::Response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The reply carrying the request's xid (BARRIER_REPLY, FEATURES_REPLY, ECHO_REPLY, ...).
    Message(Message),
    /// Every MULTIPART_REPLY part, in order, up to the one without REPLY_MORE.
    Multipart(Vec<MultipartReply>),
    /// The bundle was committed.
    BundleCommitted,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The driver reported the socket closed or failing.
    Transport(String),
    /// No byte arrived within `probe_timeout` after our ECHO_REQUEST.
    ProbeTimeout,
    /// The handshake did not finish within `handshake_timeout`.
    HandshakeTimeout,
    /// No common version (we sent HELLO_FAILED/INCOMPATIBLE), or the handshake was refused.
    Handshake(String),
    /// The peer sent bytes that are not OpenFlow framing.
    Protocol(String),
    /// A request got no answer within its deadline ([`Config::request_timeout`],
    /// [`Config::bundle_timeout`]); names the request.
    RequestTimeout(String),
    /// A multipart reply passed [`Config::max_multipart_parts`] or
    /// [`Config::max_multipart_bytes`].
    ReplyTooLarge(String),
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DisconnectReason::Transport(why) => write!(f, "transport: {why}"),
            DisconnectReason::ProbeTimeout => f.write_str("no answer to the echo probe"),
            DisconnectReason::HandshakeTimeout => f.write_str("handshake timed out"),
            DisconnectReason::Handshake(why) => write!(f, "handshake: {why}"),
            DisconnectReason::Protocol(why) => write!(f, "protocol: {why}"),
            DisconnectReason::RequestTimeout(what) => write!(f, "no answer in time to {what}"),
            DisconnectReason::ReplyTooLarge(why) => write!(f, "reply too large: {why}"),
        }
    }
}

/// What the session tells its driver and user.
#[derive(Debug)]
pub enum Event {
    /// Open a transport now, then call [`Session::connected`] or [`Session::connect_failed`].
    Connect,
    /// The handshake finished; `reconnect` is false the first time.
    Connected {
        /// The FEATURES_REPLY.
        features: SwitchFeatures,
        /// Whether an earlier connection had been up.
        reconnect: bool,
    },
    /// The connection is gone (close the transport if it is still open); pending requests
    /// failed with [`Error::Closed`], bundles with [`Error::BundleLost`] (or [`Error::Bundle`]
    /// when the switch had already rejected one of their messages). Nothing is re-sent on the
    /// next connection. A reconnect follows after the backoff.
    Disconnected(DisconnectReason),
    /// The answer to a request.
    Response {
        /// Which request.
        id: RequestId,
        /// The reply, or the switch's ERROR ([`Error::Switch`]; [`Error::Bundle`] for
        /// bundles, `index` being the position of the failing flow_mod), or [`Error::Closed`].
        result: Result<Response, Error>,
    },
    /// A message that answers no request: PACKET_IN, PORT_STATUS, FLOW_REMOVED, an ERROR for
    /// a message sent with [`Session::send`], ...
    Async {
        /// Its xid.
        xid: u32,
        /// The message.
        message: Message,
    },
    /// A message that answers no request and could not be decoded (skipped).
    Undecodable {
        /// Its xid.
        xid: u32,
        /// Why.
        error: Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting until `retry_at` to ask for a new transport.
    Backoff { retry_at: Instant },
    /// [`Event::Connect`] was given; waiting for the driver.
    Connecting,
    /// Transport up; HELLO sent.
    Handshake { deadline: Instant, step: Handshake },
    /// Usable.
    Active,
}

/// The handshake step: which reply is awaited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handshake {
    Hello,
    Features { xid: u32 },
    Barrier { xid: u32, features: SwitchFeatures },
}

/// A request waiting for its answer.
#[derive(Debug)]
struct Waiting {
    id: RequestId,
    /// Its name for [`Error::Timeout`].
    what: String,
    deadline: Instant,
}

/// The parts of a multipart reply so far.
#[derive(Debug, Default)]
struct Parts {
    parts: Vec<MultipartReply>,
    /// Their messages' lengths, bytes.
    bytes: usize,
}

#[derive(Debug)]
enum Pending {
    Single(Waiting),
    Multipart(Waiting, Parts),
    /// The BARRIER that follows a request the switch does not answer: its reply completes the
    /// request with this xid, unless an ERROR for it came first.
    Confirm(u32),
}

#[derive(Debug)]
enum BundlePhase {
    /// OPEN, ADDs and a BARRIER are out; errors are collected until that barrier's reply.
    Adding { barrier: u32 },
    /// COMMIT and a BARRIER are out.
    Committing { commit: u32, barrier: u32 },
    /// DISCARD is out after a failure.
    Discarding { discard: u32 },
}

#[derive(Debug)]
struct BundleOp {
    id: RequestId,
    open: u32,
    xids: BundleXids,
    bundle_id: u32,
    phase: BundlePhase,
    /// The first error that names a flow_mod (else the first error): the flow_mod's index
    /// (None for OPEN/COMMIT) and the switch's ERROR.
    failure: Option<(Option<usize>, OfpError)>,
    /// When the current phase must have ended.
    deadline: Instant,
}

impl BundleOp {
    fn owns(&self, xid: u32) -> bool {
        xid == self.open
            || self.xids.index_of(xid).is_some()
            || match self.phase {
                BundlePhase::Adding { barrier } => xid == barrier,
                BundlePhase::Committing { commit, barrier } => xid == commit || xid == barrier,
                BundlePhase::Discarding { discard } => xid == discard,
            }
    }
}

/// The sans-IO OpenFlow 1.3 client session. See the module documentation.
#[derive(Debug)]
pub struct Session {
    config: Config,
    state: State,
    backoff: Duration,
    ever_connected: bool,
    features: Option<SwitchFeatures>,
    rx: Vec<u8>,
    tx: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    next_xid: u32,
    next_id: u64,
    next_bundle: u32,
    pending: HashMap<u32, Pending>,
    bundles: Vec<BundleOp>,
    last_rx: Instant,
    probe_sent: Option<Instant>,
    /// The last NXT_SET_PACKET_IN_FORMAT sent with a format OVS knows (0, 1, 2): per
    /// connection in OVS, so it is sent again in the handshake after a reconnect.
    packet_in_format: Option<u32>,
    /// The xid of that re-sent format during a handshake: an ERROR for it forgets the format
    /// instead of failing the handshake.
    format_xid: Option<u32>,
    /// The latest `now` given to any method: request deadlines count from it.
    now: Instant,
}

impl Session {
    /// A session that asks for its first transport right away ([`Event::Connect`]). A driver
    /// that already has a connected socket calls [`Session::connected`] straight after.
    pub fn new(config: Config, now: Instant) -> Session {
        Session {
            config,
            state: State::Connecting,
            backoff: config.backoff_min,
            ever_connected: false,
            features: None,
            packet_in_format: None,
            format_xid: None,
            rx: Vec::new(),
            tx: VecDeque::new(),
            events: VecDeque::from([Event::Connect]),
            next_xid: 1,
            next_id: 1,
            next_bundle: 1,
            pending: HashMap::new(),
            bundles: Vec::new(),
            last_rx: now,
            probe_sent: None,
            now,
        }
    }

    /// Whether the handshake has finished and requests are accepted.
    pub fn is_active(&self) -> bool {
        self.state == State::Active
    }

    /// The last FEATURES_REPLY.
    pub fn features(&self) -> Option<SwitchFeatures> {
        self.features
    }

    /// The transport is open: send HELLO and start the handshake.
    pub fn connected(&mut self, now: Instant) {
        self.now = now;
        self.tx.clear();
        self.rx.clear();
        self.last_rx = now;
        self.probe_sent = None;
        self.state = State::Handshake {
            deadline: now + self.config.handshake_timeout,
            step: Handshake::Hello,
        };
        let hello = Hello {
            version: 31 - self.config.versions.leading_zeros() as u8,
            elements: vec![HelloElement::VersionBitmap(vec![self.config.versions])],
        };
        let xid = self.xid();
        self.queue(&Message::Hello(hello), xid);
    }

    /// Opening the transport failed: back off and ask again later.
    pub fn connect_failed(&mut self, now: Instant) {
        self.now = now;
        self.enter_backoff(now);
    }

    /// The transport closed or failed.
    pub fn disconnected(&mut self, now: Instant, reason: DisconnectReason) {
        self.now = now;
        if matches!(self.state, State::Handshake { .. } | State::Active) {
            self.drop_connection(now, reason);
        }
    }

    /// Allocate a fresh xid (never 0).
    fn xid(&mut self) -> u32 {
        let x = self.next_xid;
        self.next_xid = self.next_xid.wrapping_add(1).max(1);
        x
    }

    fn id(&mut self) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        id
    }

    /// Queue one of the session's own messages (HELLO, BARRIER, ECHO, BUNDLE_CONTROL ...: all
    /// short).
    fn queue(&mut self, msg: &Message, xid: u32) {
        if let Err(e) = self.try_queue(msg, xid) {
            tracing::error!(error = %e, "session message not sent");
        }
    }

    /// Queue `msg`, unless it is too long for one OpenFlow message ([`Error::TooLong`]: then
    /// nothing is queued).
    fn try_queue(&mut self, msg: &Message, xid: u32) -> Result<(), Error> {
        let mut buf = Vec::new();
        msg.try_emit(xid, &mut buf)?;
        // Standard, NXT_PACKET_IN, NXT_PACKET_IN2: any other value OVS refuses (OFPBRC_EPERM).
        if let Message::SetPacketInFormat(f @ 0..=2) = msg {
            self.packet_in_format = Some(*f);
        }
        self.tx.push_back(buf);
        Ok(())
    }

    fn enter_backoff(&mut self, now: Instant) {
        self.state = State::Backoff {
            retry_at: now + self.backoff,
        };
        self.backoff = (self.backoff * 2).min(self.config.backoff_max);
    }

    fn drop_connection(&mut self, now: Instant, reason: DisconnectReason) {
        self.rx.clear();
        self.probe_sent = None;
        for (_, p) in self.pending.drain() {
            let id = match p {
                Pending::Single(w) | Pending::Multipart(w, _) => w.id,
                Pending::Confirm(_) => continue,
            };
            self.events.push_back(Event::Response {
                id,
                result: Err(Error::Closed),
            });
        }
        for b in self.bundles.drain(..) {
            let result = match b.failure {
                // A message was refused, so the COMMIT was never sent: nothing applied, and the
                // switch's reason is the one worth reporting.
                Some((index, error)) => Error::Bundle {
                    index,
                    error,
                    flow: None,
                },
                None => Error::BundleLost {
                    maybe_applied: matches!(b.phase, BundlePhase::Committing { .. }),
                    reason: reason.clone(),
                },
            };
            self.events.push_back(Event::Response {
                id: b.id,
                result: Err(result),
            });
        }
        self.events.push_back(Event::Disconnected(reason));
        self.enter_backoff(now);
    }

    /// Send `msg` and report its reply (or ERROR) as [`Event::Response`] with the returned id.
    /// A MULTIPART_REQUEST is answered once its last part has arrived. A message the switch
    /// answers only when it fails (FLOW_MOD, PACKET_OUT, GROUP_MOD, SET_CONFIG, NXT_RESUME ...;
    /// any but the request kinds of OF1.3 §7.3 and the TLV table request) is followed by a
    /// BARRIER, and its response is that [`Message::BarrierReply`]: the switch processed it
    /// without an error. When the session is not
    /// active the response is [`Error::Closed`] at once; for a FLOW_MOD (alone or in a
    /// BUNDLE_ADD) that fails [`FlowMod::validate`] it is [`Error::Invalid`] at once, for any
    /// other message longer than 65535 bytes [`Error::TooLong`], and nothing is sent. The
    /// whole answer must come within [`Config::request_timeout`] of the latest `now` the
    /// session was given (a driver calls [`Session::handle_timeout`] before requesting), and a
    /// multipart one within [`Config::max_multipart_parts`] and
    /// [`Config::max_multipart_bytes`]; else the response is [`Error::Timeout`] or
    /// [`Error::MultipartTooLarge`] and the connection is dropped.
    pub fn request(&mut self, msg: &Message) -> RequestId {
        let id = self.id();
        if let Err(e) = validate::check_message(msg) {
            self.events
                .push_back(Event::Response { id, result: Err(e) });
            return id;
        }
        if self.state != State::Active {
            self.events.push_back(Event::Response {
                id,
                result: Err(Error::Closed),
            });
            return id;
        }
        let xid = self.xid();
        if let Err(e) = self.try_queue(msg, xid) {
            self.events
                .push_back(Event::Response { id, result: Err(e) });
            return id;
        }
        let waiting = Waiting {
            id,
            what: request_name(msg),
            deadline: self.now + self.config.request_timeout,
        };
        let pending = match msg {
            Message::MultipartRequest { .. } => Pending::Multipart(waiting, Parts::default()),
            _ => Pending::Single(waiting),
        };
        self.pending.insert(xid, pending);
        if !has_reply(msg) {
            let barrier = self.xid();
            self.pending.insert(barrier, Pending::Confirm(xid));
            self.queue(&Message::BarrierRequest, barrier);
        }
        id
    }

    /// Send `msg` without waiting for a reply; returns its xid (an ERROR for it comes as
    /// [`Event::Async`]).
    ///
    /// Errors: [`Error::Invalid`] for a FLOW_MOD (alone or in a BUNDLE_ADD) that fails
    /// [`FlowMod::validate`], [`Error::TooLong`] for any other message longer than 65535
    /// bytes, [`Error::Closed`] if the session is not active; nothing is sent then.
    pub fn send(&mut self, msg: &Message) -> Result<u32, Error> {
        validate::check_message(msg)?;
        if self.state != State::Active {
            return Err(Error::Closed);
        }
        let xid = self.xid();
        self.try_queue(msg, xid)?;
        Ok(xid)
    }

    /// A BARRIER_REQUEST; its [`Response::Message`] is the BARRIER_REPLY.
    pub fn barrier(&mut self) -> RequestId {
        self.request(&Message::BarrierRequest)
    }

    /// Apply `flow_mods` as one atomic, ordered bundle, like `ovs-ofctl --bundle add-flows`:
    /// OPEN, one BUNDLE_ADD per flow_mod and a BARRIER go out at once; at the barrier's reply
    /// COMMIT + BARRIER follow if nothing failed, DISCARD otherwise. The response is
    /// [`Response::BundleCommitted`] or [`Error::Bundle`] with the index of the first failing
    /// flow_mod (`flow` is left `None`: the caller has the flow_mods), or [`Error::BundleLost`]
    /// when the connection drops first. Every flow_mod is checked first ([`FlowMod::validate`]):
    /// if one fails, nothing of the bundle is sent and the response is [`Error::Invalid`] with
    /// its index.
    pub fn bundle(&mut self, flow_mods: &[FlowMod]) -> RequestId {
        let valid = validate::check_all(flow_mods);
        self.bundle_with(valid, flow_mods.len(), |i, buf| flow_mods[i].emit(buf))
    }

    /// [`Session::bundle`] of flow_mods already encoded: each of `bodies` is a FLOW_MOD body
    /// (what [`FlowMod::emit`] writes, without the 8-byte header). Lets a caller that keeps its
    /// flows encoded (a reconciler holding 100k flows) install them without decoding: the
    /// bodies are checked in place, as [`FlowMod::validate`] checks a flow_mod (action bodies
    /// aside), and an invalid one stops the bundle before anything is sent.
    pub fn bundle_encoded(&mut self, bodies: &[&[u8]]) -> RequestId {
        let valid = validate::check_all_encoded(bodies.iter().copied());
        self.bundle_with(valid, bodies.len(), |i, buf| {
            buf.extend_from_slice(bodies[i])
        })
    }

    fn bundle_with(
        &mut self,
        valid: Result<(), Error>,
        n: usize,
        body: impl Fn(usize, &mut Vec<u8>),
    ) -> RequestId {
        let id = self.id();
        if let Err(e) = valid {
            self.events
                .push_back(Event::Response { id, result: Err(e) });
            return id;
        }
        if self.state != State::Active {
            self.events.push_back(Event::Response {
                id,
                result: Err(Error::Closed),
            });
            return id;
        }
        let bundle_id = self.next_bundle;
        self.next_bundle = self.next_bundle.wrapping_add(1);
        let flags = OFPBF_ATOMIC | OFPBF_ORDERED;
        let open = self.xid();
        self.queue(
            &Message::BundleControl(BundleControl::new(
                bundle_id,
                BundleCtrlType::OpenRequest,
                flags,
            )),
            open,
        );
        // A contiguous run of xids, so an error's xid gives the flow_mod's index.
        let mut base = self.next_xid;
        if base.checked_add(n as u32 + 1).is_none() {
            base = 1;
        }
        self.next_xid = base + n as u32;
        let mut buf = Vec::with_capacity(TRANSMIT_CHUNK + 4096);
        for i in 0..n {
            emit_bundle_add(base + i as u32, bundle_id, flags, |b| body(i, b), &mut buf);
            if buf.len() >= TRANSMIT_CHUNK {
                self.tx.push_back(std::mem::take(&mut buf));
                buf.reserve(TRANSMIT_CHUNK + 4096);
            }
        }
        let barrier = self.xid();
        Message::BarrierRequest.emit(barrier, &mut buf);
        self.tx.push_back(buf);
        self.bundles.push(BundleOp {
            id,
            open,
            xids: BundleXids {
                first: base,
                len: n,
            },
            bundle_id,
            phase: BundlePhase::Adding { barrier },
            failure: None,
            deadline: self.now + self.config.bundle_timeout,
        });
        id
    }

    /// Bytes received from the transport.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        if !matches!(self.state, State::Handshake { .. } | State::Active) {
            return;
        }
        self.now = now;
        self.last_rx = now;
        self.probe_sent = None;
        self.rx.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(len) = frame_len(&self.rx[start..]) {
            if len < 8 {
                self.drop_connection(
                    now,
                    DisconnectReason::Protocol(format!("message length {len} < 8")),
                );
                return;
            }
            if self.rx.len() - start < len {
                break;
            }
            let frame = self.rx[start..start + len].to_vec();
            start += len;
            self.handle_frame(now, &frame);
            if !matches!(self.state, State::Handshake { .. } | State::Active) {
                return;
            }
        }
        self.rx.drain(..start);
    }

    fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        let xid = u32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        let message = match Message::decode(frame) {
            Ok((_, m)) => m,
            Err(error) => {
                if let Some(p) = self.pending.remove(&xid) {
                    let id = match p {
                        Pending::Single(w) | Pending::Multipart(w, _) => w.id,
                        Pending::Confirm(_) => return,
                    };
                    self.events.push_back(Event::Response {
                        id,
                        result: Err(error),
                    });
                } else {
                    self.events.push_back(Event::Undecodable { xid, error });
                }
                return;
            }
        };
        if let Message::EchoRequest(data) = message {
            self.queue(&Message::EchoReply(data), xid);
            return;
        }
        if let State::Handshake { step, .. } = self.state {
            self.handshake(now, step, xid, message);
            return;
        }
        if let Some(p) = self.pending.remove(&xid) {
            self.answer(now, xid, frame.len(), p, message);
            return;
        }
        if let Some(i) = self.bundles.iter().position(|b| b.owns(xid)) {
            self.bundle_message(i, xid, message);
            return;
        }
        if matches!(message, Message::EchoReply(_)) {
            return; // our probe's answer; any byte already counted as liveness
        }
        self.events.push_back(Event::Async { xid, message });
    }

    fn handshake(&mut self, now: Instant, step: Handshake, xid: u32, message: Message) {
        let deadline = match self.state {
            State::Handshake { deadline, .. } => deadline,
            _ => return,
        };
        match (step, message) {
            (Handshake::Hello, Message::Hello(h)) => match negotiate(self.config.versions, &h) {
                Some(OFP13_VERSION) => {
                    let xid = self.xid();
                    self.queue(&Message::FeaturesRequest, xid);
                    self.state = State::Handshake {
                        deadline,
                        step: Handshake::Features { xid },
                    };
                }
                other => {
                    let err = Message::Error(OfpError::new(
                        ErrorCode::HelloFailed(HelloFailedCode::Incompatible),
                        b"need OpenFlow 1.3".to_vec(),
                    ));
                    self.queue(&err, xid);
                    let why = match other {
                        Some(v) => format!("negotiated version {v:#04x}, not OpenFlow 1.3"),
                        None => format!("no common version with peer hello {h:?}"),
                    };
                    self.drop_connection(now, DisconnectReason::Handshake(why));
                }
            },
            (Handshake::Features { xid: want }, Message::FeaturesReply(features))
                if xid == want =>
            {
                let config = SwitchConfig {
                    flags: 0,
                    miss_send_len: self.config.miss_send_len,
                };
                let x = self.xid();
                self.queue(&Message::SetConfig(config), x);
                self.format_xid = self.packet_in_format.map(|f| {
                    let x = self.xid();
                    self.queue(&Message::SetPacketInFormat(f), x);
                    x
                });
                let barrier = self.xid();
                self.queue(&Message::BarrierRequest, barrier);
                self.state = State::Handshake {
                    deadline,
                    step: Handshake::Barrier {
                        xid: barrier,
                        features,
                    },
                };
            }
            (
                Handshake::Barrier {
                    xid: want,
                    features,
                },
                Message::BarrierReply,
            ) if xid == want => {
                self.state = State::Active;
                self.backoff = self.config.backoff_min;
                self.features = Some(features);
                self.events.push_back(Event::Connected {
                    features,
                    reconnect: self.ever_connected,
                });
                self.ever_connected = true;
            }
            (_, Message::Error(e)) if Some(xid) == self.format_xid => {
                // The switch refuses the packet-in format it took before: keep the connection
                // (the handshake step is unchanged), forget the format.
                tracing::warn!(error = %e, "packet-in format refused after reconnect; not kept");
                self.packet_in_format = None;
                self.format_xid = None;
            }
            (_, Message::Error(e)) => {
                self.drop_connection(now, DisconnectReason::Handshake(e.to_string()))
            }
            (_, message) => tracing::debug!(?message, "ignored during handshake"),
        }
    }

    fn answer(&mut self, now: Instant, xid: u32, len: usize, pending: Pending, message: Message) {
        let (id, result) = match (pending, message) {
            (Pending::Confirm(request), m) => match self.pending.remove(&request) {
                // No ERROR came for the request before this barrier's reply: it was done.
                Some(Pending::Single(w) | Pending::Multipart(w, _)) => {
                    (w.id, Ok(Response::Message(m)))
                }
                // Answered by its ERROR already (a Confirm is never keyed by a request's xid).
                _ => return,
            },
            (Pending::Single(w) | Pending::Multipart(w, _), Message::Error(e)) => {
                (w.id, Err(Error::Switch(e)))
            }
            (Pending::Multipart(w, mut p), Message::MultipartReply { flags, body }) => {
                p.parts.push(body);
                p.bytes += len;
                let (max_parts, max_bytes) = (
                    self.config.max_multipart_parts,
                    self.config.max_multipart_bytes,
                );
                if p.parts.len() > max_parts || p.bytes > max_bytes {
                    let error = Error::MultipartTooLarge {
                        parts: p.parts.len(),
                        bytes: p.bytes,
                        max_parts,
                        max_bytes,
                    };
                    let why = format!("{}: {error}", w.what);
                    self.events.push_back(Event::Response {
                        id: w.id,
                        result: Err(error),
                    });
                    self.drop_connection(now, DisconnectReason::ReplyTooLarge(why));
                    return;
                }
                if flags & OFPMPF_MORE != 0 {
                    self.pending.insert(xid, Pending::Multipart(w, p));
                    return;
                }
                (w.id, Ok(Response::Multipart(p.parts)))
            }
            (Pending::Single(w) | Pending::Multipart(w, _), m) => (w.id, Ok(Response::Message(m))),
        };
        self.events.push_back(Event::Response { id, result });
    }

    fn bundle_message(&mut self, i: usize, xid: u32, message: Message) {
        let b = &mut self.bundles[i];
        if let Message::Error(e) = message {
            let index = b.xids.attribute(xid, &e);
            let better = match &b.failure {
                None => true,
                Some((known, _)) => known.is_none() && index.is_some(),
            };
            if better {
                b.failure = Some((index, e));
            }
            if !matches!(b.phase, BundlePhase::Discarding { discard } if discard == xid) {
                return;
            }
        }
        let flags = OFPBF_ATOMIC | OFPBF_ORDERED;
        let bundle_id = b.bundle_id;
        match b.phase {
            BundlePhase::Adding { barrier } if xid == barrier => {
                if b.failure.is_some() {
                    let discard = self.xid();
                    self.bundles[i].phase = BundlePhase::Discarding { discard };
                    self.bundles[i].deadline = self.now + self.config.bundle_timeout;
                    let ctrl = BundleControl::new(bundle_id, BundleCtrlType::DiscardRequest, flags);
                    self.queue(&Message::BundleControl(ctrl), discard);
                } else {
                    let commit = self.xid();
                    let barrier = self.xid();
                    self.bundles[i].phase = BundlePhase::Committing { commit, barrier };
                    self.bundles[i].deadline = self.now + self.config.bundle_timeout;
                    let ctrl = BundleControl::new(bundle_id, BundleCtrlType::CommitRequest, flags);
                    self.queue(&Message::BundleControl(ctrl), commit);
                    self.queue(&Message::BarrierRequest, barrier);
                }
            }
            BundlePhase::Committing { barrier, .. } if xid == barrier => self.finish_bundle(i),
            BundlePhase::Discarding { discard } if xid == discard => self.finish_bundle(i),
            _ => {} // OPEN_REPLY, COMMIT_REPLY
        }
    }

    fn finish_bundle(&mut self, i: usize) {
        let b = self.bundles.remove(i);
        let result = match b.failure {
            None => Ok(Response::BundleCommitted),
            Some((index, error)) => Err(Error::Bundle {
                index,
                error,
                flow: None,
            }),
        };
        self.events.push_back(Event::Response { id: b.id, result });
    }

    /// The next deadline at which [`Session::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Backoff { retry_at } => Some(retry_at),
            State::Connecting => None,
            State::Handshake { deadline, .. } => Some(deadline),
            State::Active => {
                let probe = match self.probe_sent {
                    Some(sent) => sent + self.config.probe_timeout,
                    None => self.last_rx + self.config.probe_interval,
                };
                Some(
                    self.next_request_deadline()
                        .map_or(probe, |(d, _)| d.min(probe)),
                )
            }
        }
    }

    /// The earliest request or bundle deadline and whose it is (a scan: few requests are in
    /// flight at once, bundles being one each).
    fn next_request_deadline(&self) -> Option<(Instant, Expiring)> {
        let requests = self.pending.iter().filter_map(|(&xid, p)| match p {
            Pending::Single(w) | Pending::Multipart(w, _) => {
                Some((w.deadline, Expiring::Request(xid)))
            }
            Pending::Confirm(_) => None,
        });
        let bundles = self
            .bundles
            .iter()
            .enumerate()
            .map(|(i, b)| (b.deadline, Expiring::Bundle(i)));
        requests.chain(bundles).min_by_key(|&(d, _)| d)
    }

    /// Time has passed: reconnect after backoff, probe an idle peer, give up on a dead one,
    /// fail a request past its deadline (dropping the connection). Also the way to tell the
    /// session the time before [`Session::request`] or [`Session::bundle`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        match self.state {
            State::Backoff { retry_at } if now >= retry_at => {
                self.state = State::Connecting;
                self.events.push_back(Event::Connect);
            }
            State::Handshake { deadline, .. } if now >= deadline => {
                self.drop_connection(now, DisconnectReason::HandshakeTimeout)
            }
            State::Active => match self.next_request_deadline() {
                Some((deadline, which)) if now >= deadline => self.expire(now, which),
                _ => match self.probe_sent {
                    Some(sent) if now >= sent + self.config.probe_timeout => {
                        self.drop_connection(now, DisconnectReason::ProbeTimeout)
                    }
                    None if now >= self.last_rx + self.config.probe_interval => {
                        let xid = self.xid();
                        self.queue(&Message::EchoRequest(Vec::new()), xid);
                        self.probe_sent = Some(now);
                    }
                    _ => {}
                },
            },
            _ => {}
        }
    }

    /// Fail the request or bundle past its deadline with [`Error::Timeout`] and drop the
    /// connection (the others fail as on any drop).
    fn expire(&mut self, now: Instant, which: Expiring) {
        let (id, what, after) = match which {
            Expiring::Request(xid) => match self.pending.remove(&xid) {
                Some(Pending::Single(w) | Pending::Multipart(w, _)) => {
                    (w.id, w.what, self.config.request_timeout)
                }
                _ => return,
            },
            Expiring::Bundle(i) => {
                let b = self.bundles.remove(i);
                let phase = match b.phase {
                    BundlePhase::Adding { .. } => "bundle (adding)",
                    BundlePhase::Committing { .. } => "bundle (committing)",
                    BundlePhase::Discarding { .. } => "bundle (discarding)",
                };
                (b.id, phase.to_string(), self.config.bundle_timeout)
            }
        };
        self.events.push_back(Event::Response {
            id,
            result: Err(Error::Timeout {
                what: what.clone(),
                after,
            }),
        });
        self.drop_connection(now, DisconnectReason::RequestTimeout(what));
    }

    /// The next bytes to write, in order.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.tx.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

/// Which deadline passed.
#[derive(Debug, Clone, Copy)]
enum Expiring {
    /// The request with this xid.
    Request(u32),
    /// The bundle at this index of `bundles`.
    Bundle(usize),
}

/// What [`Error::Timeout`] calls a request: the OpenFlow message name.
fn request_name(msg: &Message) -> String {
    match msg {
        Message::MultipartRequest { body, .. } => format!("multipart request type {}", body.kind()),
        Message::BarrierRequest => "barrier".into(),
        Message::EchoRequest(_) => "echo".into(),
        Message::FeaturesRequest => "features request".into(),
        Message::GetConfigRequest => "get_config".into(),
        Message::RoleRequest(_) => "role request".into(),
        Message::GetAsyncRequest => "get_async".into(),
        Message::BundleControl(_) => "bundle control".into(),
        Message::FlowMod(_) => "flow_mod (its barrier)".into(),
        m => format!("message type {} (its barrier)", m.kind()),
    }
}

/// The version both sides speak (OF1.3 §6.3.1): the highest bit set in both bitmaps, or without a
/// peer bitmap the lower of the two header versions if we support it.
pub fn negotiate(ours: u32, peer: &Hello) -> Option<u8> {
    let bitmap = peer.elements.iter().find_map(|e| match e {
        HelloElement::VersionBitmap(b) => b.first().copied(),
        _ => None,
    });
    let common = match bitmap {
        Some(theirs) => ours & theirs,
        None => {
            let our_max = 31 - ours.leading_zeros().min(31) as u8;
            let v = peer.version.min(our_max);
            if v < 32 {
                ours & (1u32 << v)
            } else {
                0
            }
        }
    };
    (common != 0).then(|| 31 - common.leading_zeros() as u8)
}

/// ONFT_BUNDLE_ADD_MESSAGE wrapping an OFPT_FLOW_MOD, both with `xid`, written straight into
/// `buf` (no intermediate [`Message`]).
fn emit_bundle_add(
    xid: u32,
    bundle_id: u32,
    flags: u16,
    body: impl FnOnce(&mut Vec<u8>),
    buf: &mut Vec<u8>,
) {
    let start = buf.len();
    buf.extend_from_slice(&[OFP13_VERSION, 4, 0, 0]);
    buf.extend_from_slice(&xid.to_be_bytes());
    buf.extend_from_slice(&ONF_VENDOR_ID.to_be_bytes());
    buf.extend_from_slice(&ONFT_BUNDLE_ADD_MESSAGE.to_be_bytes());
    buf.extend_from_slice(&bundle_id.to_be_bytes());
    buf.extend_from_slice(&[0, 0]);
    buf.extend_from_slice(&flags.to_be_bytes());
    let inner = buf.len();
    buf.extend_from_slice(&[OFP13_VERSION, 14, 0, 0]);
    buf.extend_from_slice(&xid.to_be_bytes());
    body(buf);
    // The bodies were checked to fit (`validate::check_all*`), so neither length is 0 here.
    let end = buf.len();
    put_len_at(buf, inner + 2, end - inner);
    put_len_at(buf, start + 2, end - start);
}

/// Whether the switch answers `msg` whether or not it succeeds: the OF1.3 request/reply pairs
/// (§7.3), BUNDLE_CONTROL and the TLV table request. Anything else is answered only by an ERROR.
fn has_reply(msg: &Message) -> bool {
    matches!(
        msg,
        Message::EchoRequest(_)
            | Message::FeaturesRequest
            | Message::GetConfigRequest
            | Message::MultipartRequest { .. }
            | Message::BarrierRequest
            | Message::RoleRequest(_)
            | Message::GetAsyncRequest
            | Message::BundleControl(_)
            | Message::Ext(crate::nicira::ExtMessage::TlvTableRequest)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_add_is_byte_identical_to_the_message_encoder() {
        let fm: FlowMod = "table=3, priority=5,ip,nw_src=10.0.0.1 actions=drop"
            .parse()
            .unwrap();
        let mut ours = Vec::new();
        emit_bundle_add(9, 2, 3, |b| fm.emit(b), &mut ours);
        let msg = Message::BundleAdd {
            bundle_id: 2,
            flags: 3,
            message: Box::new(Message::FlowMod(fm)),
        };
        assert_eq!(ours, msg.encode(9));
    }

    #[test]
    fn negotiation_picks_the_highest_common_bit_or_the_lower_header_version() {
        let ours = 1 << 4;
        let with = |version, bitmap: Option<u32>| Hello {
            version,
            elements: bitmap
                .map(|b| vec![HelloElement::VersionBitmap(vec![b])])
                .unwrap_or_default(),
        };
        assert_eq!(negotiate(ours, &with(6, Some(0x50))), Some(4));
        assert_eq!(negotiate(ours, &with(6, Some(0x40))), None);
        assert_eq!(negotiate(ours, &with(6, None)), Some(4));
        assert_eq!(negotiate(ours, &with(1, None)), None);
        assert_eq!(negotiate(0x12, &with(4, None)), Some(4));
    }
}
