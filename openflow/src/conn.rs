//! A tokio OpenFlow 1.3 client for a bridge's management socket (`<rundir>/<bridge>.mgmt`,
//! what `ovs-ofctl ... unix:/var/run/openvswitch/br-int.mgmt` talks to): a thin driver around
//! the sans-IO [`Session`].
//!
//! One spawned task owns the socket and the session; [`Connection`] is a cloneable handle that
//! sends it commands. The task reads and writes in the same `select!`, so ECHO_REQUESTs are
//! answered and errors drained while a long bundle is being written, and it reconnects with
//! backoff when the switch goes away (reported as [`AsyncEvent::Reconnected`]).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::monitor::{FlowMonitorRequest, FlowUpdate};
use crate::multipart::{FlowStatsRequest, MultipartReply, MultipartRequest};
use crate::nicira::ExtMessage;
use crate::session::{Config, DisconnectReason, Event, RequestId, Response, Session};
use crate::{Error, FlowMod, FlowStats, Message, SwitchFeatures};

/// A message or connection change not tied to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
// A `Message` is as large as a `FlowMod`, which keeps its match and instructions inline (280
// bytes); an event is moved once, so boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum AsyncEvent {
    /// PACKET_IN, PORT_STATUS, FLOW_REMOVED, an unsolicited ERROR, ...
    Message {
        /// Its xid.
        xid: u32,
        /// The message.
        message: Message,
    },
    /// The connection dropped; a reconnect is under way.
    Disconnected(DisconnectReason),
    /// The connection is back (handshake done); flows may need reinstalling.
    Reconnected {
        /// The new FEATURES_REPLY.
        features: SwitchFeatures,
    },
}

/// The stream of [`AsyncEvent`]s of one [`Connection::events`] subscription.
#[derive(Debug)]
pub struct AsyncEvents(mpsc::UnboundedReceiver<AsyncEvent>);

impl AsyncEvents {
    /// The next event; `None` once the connection task has ended.
    pub async fn next(&mut self) -> Option<AsyncEvent> {
        self.0.recv().await
    }
}

enum Command {
    Request(Message, oneshot::Sender<Result<Response, Error>>),
    Send(Message),
    Bundle(Vec<FlowMod>, oneshot::Sender<Result<Response, Error>>),
    BundleEncoded(
        Arc<[u8]>,
        Vec<(u32, u32)>,
        oneshot::Sender<Result<Response, Error>>,
    ),
    Subscribe(mpsc::UnboundedSender<AsyncEvent>),
}

/// A cloneable handle to an OpenFlow 1.3 connection to one bridge. The connection lives as long
/// as any handle does.
#[derive(Clone)]
pub struct Connection {
    cmd: mpsc::UnboundedSender<Command>,
    features: Arc<Mutex<SwitchFeatures>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("features", &self.features())
            .finish()
    }
}

impl Connection {
    /// Connect to a unix socket and do the handshake with default timers: HELLO (1.3 bitmap)
    /// and version negotiation, FEATURES_REQUEST, SET_CONFIG (`miss_send_len` 0xffff by default) so async
    /// messages are delivered on the mgmt socket, then a BARRIER.
    ///
    /// Errors: [`Error::Io`] if the socket cannot be opened, [`Error::Handshake`] if the switch
    /// does not speak OpenFlow 1.3 or the handshake times out, [`Error::Closed`] if it hangs up.
    pub async fn connect_unix(path: impl AsRef<Path>) -> Result<Connection, Error> {
        Self::connect_unix_with(path, Config::default()).await
    }

    /// [`Connection::connect_unix`] with explicit timers.
    pub async fn connect_unix_with(
        path: impl AsRef<Path>,
        config: Config,
    ) -> Result<Connection, Error> {
        let path = path.as_ref().to_path_buf();
        let stream = UnixStream::connect(&path).await?;
        let (cmd, rx) = mpsc::unbounded_channel();
        let (up_tx, up_rx) = oneshot::channel();
        let features = Arc::new(Mutex::new(SwitchFeatures {
            datapath_id: 0,
            n_buffers: 0,
            n_tables: 0,
            auxiliary_id: 0,
            capabilities: 0,
            reserved: 0,
        }));
        let now = Instant::now().into_std();
        let mut session = Session::new(config, now);
        let _ = session.poll_event(); // the initial Connect: we already are
        session.connected(now);
        let driver = Driver {
            path,
            session,
            socket: Some(stream.into_split()),
            out: Vec::new(),
            out_off: 0,
            waiting: HashMap::new(),
            bundles: HashMap::new(),
            subscribers: Vec::new(),
            features: features.clone(),
            up: Some(up_tx),
            done: false,
        };
        tokio::spawn(driver.run(rx));
        match up_rx.await {
            Ok(Ok(())) => Ok(Connection { cmd, features }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Closed),
        }
    }

    /// The switch's datapath id from the last FEATURES_REPLY.
    pub fn datapath_id(&self) -> u64 {
        self.features().datapath_id
    }

    /// The last FEATURES_REPLY.
    pub fn features(&self) -> SwitchFeatures {
        *self.features.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribe to async messages and connection changes from now on.
    pub fn events(&self) -> AsyncEvents {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = self.cmd.send(Command::Subscribe(tx));
        AsyncEvents(rx)
    }

    async fn call(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<Response, Error>>) -> Command,
    ) -> Result<Response, Error> {
        let (tx, rx) = oneshot::channel();
        self.cmd.send(make(tx)).map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Send `msg` and wait for the reply with its xid (all parts for a MULTIPART_REQUEST).
    /// Errors: [`Error::Switch`] if the switch answers with an ERROR, [`Error::Closed`] if the
    /// connection is down, [`Error::Invalid`] (nothing sent) for a FLOW_MOD that fails
    /// [`FlowMod::validate`], [`Error::TooLong`] for another message longer than 65535 bytes,
    /// [`Error::Timeout`] when no whole answer came within [`Config::request_timeout`] and
    /// [`Error::MultipartTooLarge`] for a reply over the caps (both drop the connection, which
    /// then reconnects).
    pub async fn request(&self, msg: Message) -> Result<Response, Error> {
        self.call(|tx| Command::Request(msg, tx)).await
    }

    /// Send `msg` without waiting (an ERROR for it arrives on [`Connection::events`]).
    ///
    /// Errors: [`Error::Invalid`] for a FLOW_MOD (alone or in a BUNDLE_ADD) that fails
    /// [`FlowMod::validate`] (nothing is sent), [`Error::TooLong`] for another message longer
    /// than 65535 bytes, [`Error::Closed`] if the connection task has ended. A flow_mod sent
    /// as [`Message::Unknown`] of type 14 goes out unchecked.
    pub fn send(&self, msg: Message) -> Result<(), Error> {
        crate::validate::check_message(&msg)?;
        if !matches!(msg, Message::FlowMod(_) | Message::BundleAdd { .. }) {
            // Checked here, as the connection task has no one to tell.
            msg.try_encode(0)?;
        }
        self.cmd.send(Command::Send(msg)).map_err(|_| Error::Closed)
    }

    /// Send a BARRIER_REQUEST and wait for its reply; every earlier message has then been
    /// processed. Errors: [`Error::Switch`] if the switch answers the barrier with an error.
    pub async fn barrier(&self) -> Result<(), Error> {
        self.request(Message::BarrierRequest).await.map(|_| ())
    }

    /// Apply `flow_mods` as one atomic, ordered bundle (ONF bundle extension, like
    /// `ovs-ofctl --bundle add-flows`); see [`Session::bundle`].
    ///
    /// Errors: [`Error::Invalid`] when a flow_mod fails [`FlowMod::validate`] (`index` is its
    /// position in `flow_mods`); nothing of the bundle is sent then. [`Error::Bundle`] when the
    /// switch rejects a flow_mod (`index` found by xid) or the commit; nothing is applied then.
    /// [`Error::BundleLost`] if the connection drops before the commit is confirmed: with
    /// `maybe_applied: false` (dropped before the COMMIT) nothing was applied. The bundle is not
    /// re-sent on the reconnect; [`Error::Closed`] if the connection was already down.
    pub async fn bundle(&self, flow_mods: &[FlowMod]) -> Result<(), Error> {
        if flow_mods.is_empty() {
            return Ok(());
        }
        let owned = flow_mods.to_vec();
        match self.call(|tx| Command::Bundle(owned, tx)).await {
            Ok(_) => Ok(()),
            Err(Error::Bundle { index, error, .. }) => Err(Error::Bundle {
                index,
                flow: index.and_then(|i| flow_mods.get(i)).map(|f| f.to_string()),
                error,
            }),
            Err(e) => Err(e),
        }
    }

    /// [`Connection::bundle`] of flow_mods already encoded: `spans` are `(offset, length)` of
    /// FLOW_MOD bodies (what [`FlowMod::emit`] writes) in `arena`, applied in that order. For a
    /// caller that keeps its flows encoded: nothing is decoded or copied per flow.
    ///
    /// Errors: as [`Connection::bundle`] (the bodies are checked in place, see
    /// [`Session::bundle_encoded`]); the offending flow is decoded for the message.
    pub async fn bundle_encoded(
        &self,
        arena: Arc<[u8]>,
        spans: Vec<(u32, u32)>,
    ) -> Result<(), Error> {
        if spans.is_empty() {
            return Ok(());
        }
        let (a, sp) = (arena.clone(), spans.clone());
        match self.call(|tx| Command::BundleEncoded(a, sp, tx)).await {
            Ok(_) => Ok(()),
            Err(Error::Bundle { index, error, .. }) => Err(Error::Bundle {
                index,
                flow: index.and_then(|i| spans.get(i)).and_then(|&(off, len)| {
                    FlowMod::decode_body(&arena[off as usize..(off + len) as usize])
                        .ok()
                        .map(|f| f.to_string())
                }),
                error,
            }),
            Err(e) => Err(e),
        }
    }

    /// Start a flow monitor (ONFST_FLOW_MONITOR request, like `ovs-ofctl -O OpenFlow13 monitor
    /// br watch:`) and wait for its initial reply; see [`crate::monitor`] for the flags. Use
    /// [`FlowMonitorRequest::all`] to watch everything (drift detection: a flow added or deleted
    /// by hand with `ovs-ofctl` shows up as a [`MonitorEvent::Update`]).
    ///
    /// Errors: [`Error::Switch`] if the switch rejects the request (e.g. OFPMOFC_BAD_FLAGS),
    /// [`Error::Closed`] if the connection is down. Use a fresh id per monitor on a
    /// connection: OVS 3.1 answers a reused id with a malformed ERROR that matches no request,
    /// so that call does not return (wrap it in a timeout if ids may repeat).
    pub async fn monitor_flows(&self, request: FlowMonitorRequest) -> Result<FlowMonitor, Error> {
        // Subscribe first: updates may follow the initial reply at once.
        let events = self.events();
        let id = request.id;
        let req = Message::MultipartRequest {
            flags: 0,
            body: MultipartRequest::FlowMonitor(vec![request]),
        };
        let mut initial = Vec::new();
        match self.request(req).await? {
            Response::Multipart(parts) => {
                for part in parts {
                    match part {
                        MultipartReply::FlowMonitor(v) => initial.extend(v),
                        other => return Err(Error::Unexpected(format!("{other:?}"))),
                    }
                }
            }
            other => return Err(Error::Unexpected(format!("{other:?}"))),
        }
        Ok(FlowMonitor {
            id,
            initial,
            events,
            pending: VecDeque::new(),
            conn: self.clone(),
        })
    }

    /// Dump flow stats of one table, or all tables when `None` (MULTIPART FLOW, reassembled
    /// from replies flagged REPLY_MORE). Errors: [`Error::Switch`] if the request is rejected.
    pub async fn dump_flows(&self, table: Option<u8>) -> Result<Vec<FlowStats>, Error> {
        let req = Message::MultipartRequest {
            flags: 0,
            body: MultipartRequest::Flow(FlowStatsRequest::all(table)),
        };
        let mut out = Vec::new();
        match self.request(req).await? {
            Response::Multipart(parts) => {
                for part in parts {
                    match part {
                        MultipartReply::Flow(v) => out.extend(v),
                        other => return Err(Error::Unexpected(format!("{other:?}"))),
                    }
                }
                Ok(out)
            }
            other => Err(Error::Unexpected(format!("{other:?}"))),
        }
    }
}

/// What a [`FlowMonitor`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonitorEvent {
    /// A flow was added, deleted or modified (by anyone; this connection's own changes come as
    /// [`FlowUpdate::Abbrev`] unless the request had [`crate::monitor::FMF_OWN`]).
    Update(FlowUpdate),
    /// The switch stopped sending updates because this connection fell behind
    /// (ONFT_FLOW_MONITOR_PAUSED); changes in between are lost.
    Paused,
    /// Updates flow again (ONFT_FLOW_MONITOR_RESUMED); the switch first re-sends what changed.
    Resumed,
    /// The connection dropped: the switch forgot the monitor. After
    /// [`AsyncEvent::Reconnected`] start a new one with [`Connection::monitor_flows`].
    Lost(DisconnectReason),
}

/// A running flow monitor (`ovs-ofctl -O OpenFlow13 monitor br watch:`): the flows that matched
/// when it started, then every change as a [`MonitorEvent`]. The switch sends updates per
/// connection, not per monitor, so two monitors on one connection both see the union.
#[derive(Debug)]
pub struct FlowMonitor {
    id: u32,
    initial: Vec<FlowUpdate>,
    events: AsyncEvents,
    /// Updates of a multi-update reply not yet handed out by [`FlowMonitor::next`].
    pending: VecDeque<FlowUpdate>,
    conn: Connection,
}

impl FlowMonitor {
    /// The monitor's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The flows that matched at the start (ADDED updates; empty without `FMF_INITIAL`).
    pub fn initial(&self) -> &[FlowUpdate] {
        &self.initial
    }

    /// The next event; `None` once the connection task has ended.
    pub async fn next(&mut self) -> Option<MonitorEvent> {
        if let Some(u) = self.pending.pop_front() {
            return Some(MonitorEvent::Update(u));
        }
        loop {
            match self.events.next().await? {
                AsyncEvent::Message {
                    message:
                        Message::MultipartReply {
                            body: MultipartReply::FlowMonitor(updates),
                            ..
                        },
                    ..
                } => {
                    // A reply may carry several updates; hand them out one by one.
                    self.pending.extend(updates);
                    if let Some(u) = self.pending.pop_front() {
                        return Some(MonitorEvent::Update(u));
                    }
                }
                AsyncEvent::Message {
                    message: Message::Ext(ExtMessage::FlowMonitorPaused),
                    ..
                } => return Some(MonitorEvent::Paused),
                AsyncEvent::Message {
                    message: Message::Ext(ExtMessage::FlowMonitorResumed),
                    ..
                } => return Some(MonitorEvent::Resumed),
                AsyncEvent::Disconnected(reason) => return Some(MonitorEvent::Lost(reason)),
                _ => {}
            }
        }
    }

    /// Stop the monitor (ONFT_FLOW_MONITOR_CANCEL; the switch does not answer unless the id is
    /// unknown, which comes back as an ERROR on [`Connection::events`]).
    pub fn cancel(self) -> Result<(), Error> {
        self.conn
            .send(Message::Ext(ExtMessage::FlowMonitorCancel(self.id)))
    }
}

type Reply = oneshot::Sender<Result<Response, Error>>;

struct Driver {
    path: PathBuf,
    session: Session,
    socket: Option<(OwnedReadHalf, OwnedWriteHalf)>,
    out: Vec<u8>,
    out_off: usize,
    waiting: HashMap<RequestId, Reply>,
    bundles: HashMap<RequestId, Reply>,
    subscribers: Vec<mpsc::UnboundedSender<AsyncEvent>>,
    features: Arc<Mutex<SwitchFeatures>>,
    up: Option<oneshot::Sender<Result<(), Error>>>,
    /// The first handshake failed: the task ends.
    done: bool,
}

/// How much to read per call.
const READ_CHUNK: usize = 64 * 1024;

impl Driver {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            self.pump().await;
            if self.done || self.up.as_ref().is_some_and(|t| t.is_closed()) {
                return;
            }
            let deadline = self
                .session
                .poll_timeout()
                .map(Instant::from_std)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let writing = self.out_off < self.out.len();
            let Some((rd, wr)) = self.socket.as_mut() else {
                tokio::select! {
                    cmd = commands.recv() => match cmd {
                        Some(cmd) => self.command(cmd),
                        None => return,
                    },
                    _ = tokio::time::sleep_until(deadline) => {
                        self.session.handle_timeout(Instant::now().into_std())
                    }
                }
                continue;
            };
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => return,
                },
                n = rd.read(&mut buf) => {
                    let now = Instant::now().into_std();
                    match n {
                        Ok(0) => self.lost(DisconnectReason::Transport("closed by the switch".into())),
                        Ok(n) => self.session.handle_bytes(now, &buf[..n]),
                        Err(e) => self.lost(DisconnectReason::Transport(e.to_string())),
                    }
                }
                n = wr.write(&self.out[self.out_off..]), if writing => match n {
                    Ok(n) => self.out_off += n,
                    Err(e) => self.lost(DisconnectReason::Transport(e.to_string())),
                },
                _ = tokio::time::sleep_until(deadline) => {
                    self.session.handle_timeout(Instant::now().into_std())
                }
            }
        }
    }

    fn lost(&mut self, reason: DisconnectReason) {
        self.socket = None;
        self.session.disconnected(Instant::now().into_std(), reason);
    }

    fn command(&mut self, cmd: Command) {
        // The session counts request deadlines from the latest time it was given.
        self.session.handle_timeout(Instant::now().into_std());
        match cmd {
            Command::Request(msg, tx) => {
                let id = self.session.request(&msg);
                self.waiting.insert(id, tx);
            }
            Command::Send(msg) => {
                // Checked by `Connection::send`; a closed session drops it, as documented.
                let _ = self.session.send(&msg);
            }
            Command::Bundle(flows, tx) => {
                let id = self.session.bundle(&flows);
                self.bundles.insert(id, tx);
            }
            Command::BundleEncoded(arena, spans, tx) => {
                let bodies: Vec<&[u8]> = spans
                    .iter()
                    .map(|&(off, len)| &arena[off as usize..(off + len) as usize])
                    .collect();
                let id = self.session.bundle_encoded(&bodies);
                self.bundles.insert(id, tx);
            }
            Command::Subscribe(tx) => self.subscribers.push(tx),
        }
    }

    fn publish(&mut self, ev: AsyncEvent) {
        self.subscribers.retain(|s| s.send(ev.clone()).is_ok());
    }

    /// Move the session's output to the write buffer and act on its events.
    async fn pump(&mut self) {
        loop {
            if self.out_off == self.out.len() {
                self.out.clear();
                self.out_off = 0;
            }
            while let Some(bytes) = self.session.poll_transmit() {
                if self.socket.is_some() {
                    self.out.extend_from_slice(&bytes);
                }
                if self.out.len() - self.out_off >= 4 * READ_CHUNK {
                    break; // let the select write and read before taking more
                }
            }
            let Some(ev) = self.session.poll_event() else {
                return;
            };
            match ev {
                Event::Connect => {
                    let now = Instant::now().into_std();
                    match UnixStream::connect(&self.path).await {
                        Ok(s) => {
                            self.socket = Some(s.into_split());
                            self.out.clear();
                            self.out_off = 0;
                            self.session.connected(Instant::now().into_std());
                        }
                        Err(e) => {
                            tracing::debug!(path = %self.path.display(), error = %e, "reconnect failed");
                            self.session.connect_failed(now);
                        }
                    }
                }
                Event::Connected {
                    features,
                    reconnect,
                } => {
                    *self.features.lock().unwrap_or_else(|e| e.into_inner()) = features;
                    if let Some(up) = self.up.take() {
                        let _ = up.send(Ok(()));
                    }
                    if reconnect {
                        self.publish(AsyncEvent::Reconnected { features });
                    }
                }
                Event::Disconnected(reason) => {
                    // Flush what the session queued last (HELLO_FAILED) before closing.
                    if let Some((_, wr)) = self.socket.as_mut() {
                        let _ = wr.write_all(&self.out[self.out_off..]).await;
                        while let Some(bytes) = self.session.poll_transmit() {
                            let _ = wr.write_all(&bytes).await;
                        }
                    }
                    self.socket = None;
                    self.out.clear();
                    self.out_off = 0;
                    if let Some(up) = self.up.take() {
                        let _ = up.send(Err(match reason {
                            DisconnectReason::Transport(_) => Error::Closed,
                            other => Error::Handshake(format!("{other:?}")),
                        }));
                        // Never connected: no reconnection for a failed first handshake.
                        self.done = true;
                        return;
                    }
                    tracing::info!(?reason, "OpenFlow connection lost; reconnecting");
                    self.publish(AsyncEvent::Disconnected(reason));
                }
                Event::Response { id, result } => {
                    if let Some(tx) = self
                        .waiting
                        .remove(&id)
                        .or_else(|| self.bundles.remove(&id))
                    {
                        let _ = tx.send(result);
                    }
                }
                Event::Async { xid, message } => self.publish(AsyncEvent::Message { xid, message }),
                Event::Undecodable { xid, error } => {
                    tracing::warn!(xid, %error, "undecodable message from the switch")
                }
            }
        }
    }
}

impl FlowStats {
    /// The flow as an ADD flow_mod (for comparing a dump with what was installed).
    pub fn to_flow_mod(&self) -> FlowMod {
        let mut f = FlowMod::add(
            self.table_id,
            self.priority,
            self.r#match.clone(),
            self.instructions.clone(),
        );
        f.cookie = self.cookie;
        f.idle_timeout = self.idle_timeout;
        f.hard_timeout = self.hard_timeout;
        f.flags = self.flags;
        f
    }
}
