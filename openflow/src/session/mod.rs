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
//! FEATURES_REQUEST and SET_CONFIG (`miss_send_len` from [`Config`]) confirmed by a BARRIER, xid
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

mod bundle;
mod config;
mod event;
mod handshake;
#[cfg(test)]
mod tests;
mod timers;

use bundle::*;
pub use config::Config;
pub use event::{DisconnectReason, Event, RequestId, Response};
pub use handshake::negotiate;

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

    /// The next bytes to write, in order.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.tx.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
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
