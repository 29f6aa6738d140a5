//! The tokio half of the adapter: [`TransportSenderT`]/[`TransportReceiverT`] over a unix or TCP
//! stream, driving the sans-IO rewrites in [`crate::jsonrpc`].

use std::io;
use std::sync::Arc;

use jsonrpsee::core::client::{ReceivedMessage, TransportReceiverT, TransportSenderT};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

use crate::jsonrpc::{inbound, outbound, Framer, Inbound};
use crate::Error;

type Writer = Arc<Mutex<Box<dyn AsyncWrite + Send + Unpin>>>;

/// Where to connect: parsed from `unix:PATH` or `tcp:HOST:PORT` (the `ovs-vsctl --db` syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `unix:PATH`.
    Unix(String),
    /// `tcp:HOST:PORT`.
    Tcp(String),
}

impl Target {
    /// Parses a target string.
    ///
    /// # Errors
    /// [`Error::InvalidTarget`] for anything else.
    pub fn parse(target: &str) -> Result<Self, Error> {
        let invalid = || Error::InvalidTarget(target.into());
        if let Some(path) = target.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(invalid());
            }
            return Ok(Target::Unix(path.into()));
        }
        if let Some(addr) = target.strip_prefix("tcp:") {
            let (host, port) = addr.rsplit_once(':').ok_or_else(invalid)?;
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(invalid());
            }
            let host = host.trim_start_matches('[').trim_end_matches(']');
            return Ok(Target::Tcp(if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            }));
        }
        Err(invalid())
    }
}

/// Outbound half: rewrites jsonrpsee's 2.0 messages to 1.0 and writes them.
pub(crate) struct Sender {
    writer: Writer,
}

/// Inbound half: frames, rewrites, answers `echo`, forwards the rest.
pub(crate) struct Receiver {
    reader: Box<dyn AsyncRead + Send + Unpin>,
    framer: Framer,
    writer: Writer,
    buf: Vec<u8>,
}

/// Opens the socket and returns the two halves for `ClientBuilder::build_with_tokio`.
/// Opens the socket; the receiver's framer refuses messages longer than `max_len` bytes.
pub(crate) async fn connect(target: &str, max_len: usize) -> Result<(Sender, Receiver), Error> {
    let parsed = Target::parse(target)?;
    let conn_err = |source| Error::Connect {
        target: target.into(),
        source,
    };
    let (reader, writer): (
        Box<dyn AsyncRead + Send + Unpin>,
        Box<dyn AsyncWrite + Send + Unpin>,
    ) = match parsed {
        Target::Unix(path) => {
            let s = tokio::net::UnixStream::connect(path)
                .await
                .map_err(conn_err)?;
            let (r, w) = s.into_split();
            (Box::new(r), Box::new(w))
        }
        Target::Tcp(addr) => {
            let s = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(conn_err)?;
            s.set_nodelay(true).map_err(conn_err)?;
            let (r, w) = s.into_split();
            (Box::new(r), Box::new(w))
        }
    };
    let writer: Writer = Arc::new(Mutex::new(writer));
    Ok((
        Sender {
            writer: writer.clone(),
        },
        Receiver {
            reader,
            framer: Framer::with_max_len(max_len),
            writer,
            buf: vec![0; 64 * 1024],
        },
    ))
}

async fn write_all(writer: &Writer, text: &str) -> io::Result<()> {
    let mut w = writer.lock().await;
    w.write_all(text.as_bytes()).await?;
    w.flush().await
}

impl TransportSenderT for Sender {
    type Error = io::Error;

    async fn send(&mut self, msg: String) -> Result<(), io::Error> {
        let text = outbound(&msg).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        tracing::trace!(%text, "ovsdb send");
        write_all(&self.writer, &text).await
    }

    async fn close(&mut self) -> Result<(), io::Error> {
        self.writer.lock().await.shutdown().await
    }
}

impl TransportReceiverT for Receiver {
    type Error = io::Error;

    async fn receive(&mut self) -> Result<ReceivedMessage, io::Error> {
        loop {
            let next = self
                .framer
                .next_message()
                // The typed [`crate::jsonrpc::FrameError`] inside, for a caller to downcast.
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if let Some(msg) = next {
                tracing::trace!(%msg, "ovsdb receive");
                match inbound(msg) {
                    Inbound::Forward(text) => return Ok(ReceivedMessage::Text(text)),
                    Inbound::Reply(text) => write_all(&self.writer, &text).await?,
                    Inbound::Ignore => {}
                }
                continue;
            }
            let n = self.reader.read(&mut self.buf).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "ovsdb-server closed the connection",
                ));
            }
            self.framer.push(&self.buf[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_like_ovs_vsctl_db() {
        assert_eq!(
            Target::parse("unix:/run/db.sock").unwrap(),
            Target::Unix("/run/db.sock".into())
        );
        assert_eq!(
            Target::parse("tcp:127.0.0.1:6640").unwrap(),
            Target::Tcp("127.0.0.1:6640".into())
        );
        assert_eq!(
            Target::parse("tcp:[::1]:6640").unwrap(),
            Target::Tcp("[::1]:6640".into())
        );
        for bad in [
            "",
            "unix:",
            "tcp:1.2.3.4",
            "tcp:h:x",
            "ssl:1.2.3.4:6640",
            "/run/db.sock",
        ] {
            assert!(
                matches!(Target::parse(bad), Err(Error::InvalidTarget(_))),
                "{bad}"
            );
        }
    }
}
