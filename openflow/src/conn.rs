//! A tokio OpenFlow 1.3 client for a bridge's management socket (`<rundir>/<bridge>.mgmt`,
//! what `ovs-ofctl ... unix:/var/run/openvswitch/br-int.mgmt` talks to).
//!
//! A background task owns the read half: it frames and decodes messages, answers
//! ECHO_REQUESTs itself (OVS probes an idle mgmt connection every 60 s and drops it without a
//! reply), and hands everything else to the [`Connection`]. Writes share the write half under a
//! mutex, in batches, so echo replies interleave with a long bundle.

use std::path::Path;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;

use crate::bundle::{BundleControl, BundleCtrlType, OFPBF_ATOMIC, OFPBF_ORDERED};
use crate::message::{frame_len, Hello, SwitchConfig, SwitchFeatures};
use crate::multipart::{FlowStatsRequest, MultipartReply, MultipartRequest, OFPMPF_MORE};
use crate::{Error, FlowMod, FlowStats, Message, OfpError};

/// Bytes written per lock of the write half.
const WRITE_BATCH: usize = 256 * 1024;

type Inbound = Result<(u32, Message), Error>;

/// An OpenFlow 1.3 connection to one bridge.
pub struct Connection {
    writer: Arc<Mutex<OwnedWriteHalf>>,
    rx: mpsc::UnboundedReceiver<Inbound>,
    reader: JoinHandle<()>,
    features: SwitchFeatures,
    next_xid: u32,
    next_bundle: u32,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn read_loop(
    mut rd: tokio::net::unix::OwnedReadHalf,
    writer: Arc<Mutex<OwnedWriteHalf>>,
    tx: mpsc::UnboundedSender<Inbound>,
) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        while let Some(len) = frame_len(&buf) {
            if len < 8 {
                let _ = tx.send(Err(Error::BadLength {
                    what: "ofp_header",
                    offset: 0,
                    length: len,
                }));
                return;
            }
            if buf.len() < len {
                break;
            }
            let frame = buf.split_to(len);
            match Message::decode(&frame) {
                Ok((xid, Message::EchoRequest(data))) => {
                    let reply = Message::EchoReply(data).encode(xid);
                    if writer.lock().await.write_all(&reply).await.is_err() {
                        let _ = tx.send(Err(Error::Closed));
                        return;
                    }
                }
                other => {
                    if tx.send(other).is_err() {
                        return;
                    }
                }
            }
        }
        buf.reserve(64 * 1024);
        match rd.read_buf(&mut buf).await {
            Ok(0) => {
                let _ = tx.send(Err(Error::Closed));
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = tx.send(Err(Error::Io(e)));
                return;
            }
        }
        if buf.is_empty() {
            buf.advance(0);
        }
    }
}

/// The index of `xid` in a run of `n` xids starting at `base`.
fn index_of(xid: u32, base: u32, n: usize) -> Option<usize> {
    let i = xid.wrapping_sub(base) as usize;
    (i < n).then_some(i)
}

impl Connection {
    /// Connect to a unix socket and do the handshake: HELLO (1.3 bitmap) + version check,
    /// FEATURES_REQUEST, SET_CONFIG(miss_send_len=0xffff) so async messages are delivered on the
    /// mgmt socket, then a BARRIER.
    ///
    /// Errors: [`Error::Io`] if the socket cannot be opened, [`Error::Handshake`] if the switch
    /// does not speak OpenFlow 1.3, [`Error::Closed`] if it hangs up.
    pub async fn connect_unix(path: impl AsRef<Path>) -> Result<Connection, Error> {
        let stream = UnixStream::connect(path.as_ref()).await?;
        let (rd, wr) = stream.into_split();
        let writer = Arc::new(Mutex::new(wr));
        let (tx, rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_loop(rd, writer.clone(), tx));
        let mut conn = Connection {
            writer,
            rx,
            reader,
            features: SwitchFeatures {
                datapath_id: 0,
                n_buffers: 0,
                n_tables: 0,
                auxiliary_id: 0,
                capabilities: 0,
                reserved: 0,
            },
            next_xid: 1,
            next_bundle: 1,
        };
        let xid = conn.xid();
        conn.send(&Message::Hello(Hello::of13()), xid).await?;
        match conn.recv().await? {
            (_, Message::Hello(h)) if h.supports_of13() => {}
            (_, Message::Hello(h)) => {
                let err = Message::Error(OfpError {
                    kind: 0,
                    code: 0,
                    experimenter: None,
                    data: b"need OpenFlow 1.3".to_vec(),
                });
                let _ = conn.send(&err, xid).await;
                return Err(Error::Handshake(format!(
                    "peer does not support OpenFlow 1.3 (hello {h:?})"
                )));
            }
            (_, m) => return Err(Error::Handshake(format!("expected HELLO, got {m:?}"))),
        }
        let xid = conn.xid();
        conn.send(&Message::FeaturesRequest, xid).await?;
        loop {
            match conn.recv().await? {
                (x, Message::FeaturesReply(f)) if x == xid => {
                    conn.features = f;
                    break;
                }
                (x, Message::Error(e)) if x == xid => {
                    return Err(Error::Handshake(format!("FEATURES_REQUEST: {e}")))
                }
                other => tracing::debug!(?other, "ignored during handshake"),
            }
        }
        let xid = conn.xid();
        conn.send(
            &Message::SetConfig(SwitchConfig {
                flags: 0,
                miss_send_len: 0xffff,
            }),
            xid,
        )
        .await?;
        conn.barrier().await?;
        Ok(conn)
    }

    /// The switch's datapath id from FEATURES_REPLY.
    pub fn datapath_id(&self) -> u64 {
        self.features.datapath_id
    }

    /// The whole FEATURES_REPLY.
    pub fn features(&self) -> SwitchFeatures {
        self.features
    }

    fn xid(&mut self) -> u32 {
        let x = self.next_xid;
        self.next_xid = self.next_xid.wrapping_add(1).max(1);
        x
    }

    /// Send one message with `xid`.
    pub async fn send(&mut self, msg: &Message, xid: u32) -> Result<(), Error> {
        let bytes = msg.encode(xid);
        self.writer.lock().await.write_all(&bytes).await?;
        Ok(())
    }

    /// The next message from the switch that is not an ECHO_REQUEST (those are answered).
    pub async fn recv(&mut self) -> Result<(u32, Message), Error> {
        self.rx.recv().await.ok_or(Error::Closed)?
    }

    /// Send a BARRIER_REQUEST and wait for its reply; every earlier message has then been
    /// processed. Errors: [`Error::Switch`] if the switch answers the barrier with an error.
    pub async fn barrier(&mut self) -> Result<(), Error> {
        let xid = self.xid();
        self.send(&Message::BarrierRequest, xid).await?;
        loop {
            match self.recv().await? {
                (x, Message::BarrierReply) if x == xid => return Ok(()),
                (x, Message::Error(e)) if x == xid => return Err(Error::Switch(e)),
                other => tracing::debug!(?other, "ignored while waiting for barrier"),
            }
        }
    }

    async fn bundle_ctrl(
        &mut self,
        bundle_id: u32,
        kind: BundleCtrlType,
    ) -> Result<Result<(), OfpError>, Error> {
        let xid = self.xid();
        let msg = Message::BundleControl(BundleControl::new(
            bundle_id,
            kind,
            OFPBF_ATOMIC | OFPBF_ORDERED,
        ));
        self.send(&msg, xid).await?;
        loop {
            match self.recv().await? {
                (x, Message::BundleControl(_)) if x == xid => return Ok(Ok(())),
                (x, Message::Error(e)) if x == xid => return Ok(Err(e)),
                other => tracing::debug!(?other, "ignored while waiting for bundle reply"),
            }
        }
    }

    /// Apply `flow_mods` as one atomic, ordered bundle (ONF bundle extension, like
    /// `ovs-ofctl --bundle add-flows`): OPEN, one BUNDLE_ADD per flow_mod (written in large
    /// batches without waiting per message), BARRIER; then COMMIT and BARRIER if no ADD failed,
    /// DISCARD otherwise.
    ///
    /// Errors: [`Error::Bundle`] when the switch rejects a flow_mod (`index` is its position in
    /// `flow_mods`, found by xid) or the commit; nothing is applied then.
    pub async fn bundle(&mut self, flow_mods: &[FlowMod]) -> Result<(), Error> {
        if flow_mods.is_empty() {
            return Ok(());
        }
        let bundle_id = self.next_bundle;
        self.next_bundle = self.next_bundle.wrapping_add(1);
        let flags = OFPBF_ATOMIC | OFPBF_ORDERED;
        if let Err(error) = self
            .bundle_ctrl(bundle_id, BundleCtrlType::OpenRequest)
            .await?
        {
            return Err(Error::Bundle {
                index: None,
                error,
                flow: None,
            });
        }
        let base = self.next_xid;
        let n = flow_mods.len();
        self.next_xid = base.wrapping_add(n as u32).max(1);
        let mut batch = Vec::with_capacity(WRITE_BATCH + 4096);
        for (i, fm) in flow_mods.iter().enumerate() {
            let add = Message::BundleAdd {
                bundle_id,
                flags,
                message: Box::new(Message::FlowMod(fm.clone())),
            };
            add.emit(base.wrapping_add(i as u32), &mut batch);
            if batch.len() >= WRITE_BATCH {
                self.writer.lock().await.write_all(&batch).await?;
                batch.clear();
            }
        }
        let barrier = self.xid();
        Message::BarrierRequest.emit(barrier, &mut batch);
        self.writer.lock().await.write_all(&batch).await?;
        drop(batch);

        let fail = |index: Option<usize>, error: OfpError| Error::Bundle {
            index,
            flow: index.map(|i| flow_mods[i].to_string()),
            error,
        };
        let mut first: Option<(Option<usize>, OfpError)> = None;
        loop {
            match self.recv().await? {
                (x, Message::BarrierReply) if x == barrier => break,
                (x, Message::Error(e)) => {
                    if first.is_none() {
                        first = Some((index_of(x, base, n), e));
                    }
                }
                other => tracing::debug!(?other, "ignored during bundle"),
            }
        }
        if let Some((index, error)) = first {
            let _ = self
                .bundle_ctrl(bundle_id, BundleCtrlType::DiscardRequest)
                .await?;
            return Err(fail(index, error));
        }

        let commit = self.xid();
        let barrier = self.xid();
        let mut buf = Message::BundleControl(BundleControl::new(
            bundle_id,
            BundleCtrlType::CommitRequest,
            flags,
        ))
        .encode(commit);
        Message::BarrierRequest.emit(barrier, &mut buf);
        self.writer.lock().await.write_all(&buf).await?;
        let (mut add_err, mut commit_err) = (None, None);
        loop {
            match self.recv().await? {
                (x, Message::BarrierReply) if x == barrier => break,
                (x, Message::Error(e)) if x == commit => commit_err = Some(e),
                (x, Message::Error(e)) => {
                    if add_err.is_none() {
                        add_err = Some((index_of(x, base, n), e));
                    }
                }
                other => tracing::debug!(?other, "ignored during bundle commit"),
            }
        }
        match (add_err, commit_err) {
            (Some((index, error)), _) => Err(fail(index, error)),
            (None, Some(error)) => Err(fail(None, error)),
            (None, None) => Ok(()),
        }
    }

    /// Dump flow stats of one table, or all tables when `None` (MULTIPART FLOW, reassembling
    /// replies flagged REPLY_MORE). Errors: [`Error::Switch`] if the request is rejected.
    pub async fn dump_flows(&mut self, table: Option<u8>) -> Result<Vec<FlowStats>, Error> {
        let xid = self.xid();
        let req = Message::MultipartRequest {
            flags: 0,
            body: MultipartRequest::Flow(FlowStatsRequest::all(table)),
        };
        self.send(&req, xid).await?;
        let mut out = Vec::new();
        loop {
            match self.recv().await? {
                (x, Message::MultipartReply { flags, body }) if x == xid => {
                    match body {
                        MultipartReply::Flow(v) => out.extend(v),
                        other => return Err(Error::Unexpected(format!("{other:?}"))),
                    }
                    if flags & OFPMPF_MORE == 0 {
                        return Ok(out);
                    }
                }
                (x, Message::Error(e)) if x == xid => return Err(Error::Switch(e)),
                other => tracing::debug!(?other, "ignored during flow dump"),
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
