//! The agent's end of the controlplane transport: one HTTP/2 connection over TLS to the
//! controller (`https://HOST[:PORT]`, default port 10349), a span subscription read as NDJSON
//! [`Frame`]s, and realization reports. The token is read from its file at every connection
//! (a projected ServiceAccount token is rotated in place).

use std::path::PathBuf;
use std::sync::Arc;

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;

use super::realization::RealizationReport;
use crate::controlplane::Frame;

/// The controlplane's default port.
pub const DEFAULT_PORT: u16 = 10349;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting, TLS or HTTP/2 failed (retry with backoff).
    #[error("{0}")]
    Connect(String),
    /// The controller refused the request (401, 403, ...), with its explanation.
    #[error("the controller refused the request ({status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The controller's text.
        message: String,
    },
    /// A frame that does not parse.
    #[error("bad frame from the controller: {0}")]
    Frame(String),
}

/// A controller address, TLS configuration and credentials.
#[derive(Clone)]
pub struct Client {
    host: String,
    port: u16,
    tls: Arc<rustls::ClientConfig>,
    token_file: PathBuf,
    node: String,
}

impl Client {
    /// A client of `url` (`https://HOST[:PORT]`) for node `node`.
    ///
    /// Errors: a URL that is not `https://` (the controlplane is TLS only) or has a bad port.
    pub fn new(
        url: &str,
        tls: Arc<rustls::ClientConfig>,
        token_file: PathBuf,
        node: &str,
    ) -> Result<Self, String> {
        let rest = url.strip_prefix("https://").ok_or_else(|| {
            format!(
                "--controller {url}: expected https://HOST[:PORT] (the controlplane is TLS only)"
            )
        })?;
        let rest = rest.trim_end_matches('/');
        // HOST, HOST:PORT, [V6], [V6]:PORT.
        let (host, port) = match rest.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((h, "")) => (h, None),
                Some((h, p)) => (h, p.strip_prefix(':')),
                None => return Err(format!("--controller {url}: unclosed [")),
            },
            None => match rest.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            },
        };
        let port: u16 = match port {
            None => DEFAULT_PORT,
            Some(p) => p
                .parse()
                .map_err(|_| format!("--controller {url}: bad port {p:?}"))?,
        };
        let host = host.to_string();
        if host.is_empty() {
            return Err(format!("--controller {url}: no host"));
        }
        Ok(Client {
            host,
            port,
            tls,
            token_file,
            node: node.to_string(),
        })
    }

    /// The node this client speaks for.
    pub fn node(&self) -> &str {
        &self.node
    }

    async fn connect<B>(&self) -> Result<SendRequest<B>, ClientError>
    where
        B: hyper::body::Body + Send + Unpin + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let e = |m: String| ClientError::Connect(m);
        let addr = format!("{}:{}", self.host, self.port);
        let host = match self.host.parse::<std::net::IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(self.host.clone())
                .map_err(|err| e(format!("{}: {err}", self.host)))?,
        };
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|err| e(format!("connect {addr}: {err}")))?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(host, tcp)
            .await
            .map_err(|err| e(format!("TLS with {addr}: {err}")))?;
        let (send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .map_err(|err| e(format!("HTTP/2 with {addr}: {err}")))?;
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!("controlplane connection: {err}");
            }
        });
        Ok(send)
    }

    /// The token of the token file, read now.
    ///
    /// Errors ([`ClientError::Connect`], retried): the file cannot be read, or is empty (a
    /// request without a token would only be refused).
    fn token(&self) -> Result<String, ClientError> {
        let path = self.token_file.display();
        let token = std::fs::read_to_string(&self.token_file)
            .map(|t| t.trim().to_string())
            .map_err(|err| ClientError::Connect(format!("--token-file {path}: {err}")))?;
        if token.is_empty() {
            return Err(ClientError::Connect(format!(
                "--token-file {path}: empty: no token to authenticate with"
            )));
        }
        Ok(token)
    }

    fn uri(&self, path: &str) -> String {
        match self.host.contains(':') {
            true => format!("https://[{}]:{}{path}", self.host, self.port),
            false => format!("https://{}:{}{path}", self.host, self.port),
        }
    }

    /// Subscribes to the node's span, from `since` when given.
    ///
    /// Errors: [`ClientError::Connect`]; [`ClientError::Refused`] with the controller's
    /// explanation (a forged token, another node's span).
    pub async fn subscribe(&self, since: Option<u64>) -> Result<FrameStream, ClientError> {
        let token = self.token()?;
        let mut send = self.connect::<Empty<Bytes>>().await?;
        let mut path = format!("/v1/span/{}", self.node);
        if let Some(v) = since {
            path.push_str(&format!("?since={v}"));
        }
        let req = hyper::Request::get(self.uri(&path))
            .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Empty::new())
            .map_err(|err| ClientError::Connect(err.to_string()))?;
        let resp = send
            .send_request(req)
            .await
            .map_err(|err| ClientError::Connect(format!("GET {path}: {err}")))?;
        let body = refused(resp).await?;
        Ok(FrameStream {
            body,
            buf: Vec::new(),
        })
    }

    /// Sends a realization report.
    ///
    /// Errors: as [`Client::subscribe`].
    pub async fn report(&self, report: &RealizationReport) -> Result<(), ClientError> {
        let token = self.token()?;
        let mut send = self.connect::<Full<Bytes>>().await?;
        let path = format!("/v1/realization/{}", self.node);
        let body = serde_json::to_vec(report).map_err(|err| ClientError::Frame(err.to_string()))?;
        let req = hyper::Request::post(self.uri(&path))
            .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|err| ClientError::Connect(err.to_string()))?;
        let resp = send
            .send_request(req)
            .await
            .map_err(|err| ClientError::Connect(format!("POST {path}: {err}")))?;
        refused(resp).await.map(|_| ())
    }
}

/// The body of a 2xx response, or the refusal with the controller's text.
async fn refused(resp: hyper::Response<Incoming>) -> Result<Incoming, ClientError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp.into_body());
    }
    let text = resp
        .into_body()
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).trim().to_string())
        .unwrap_or_default();
    Err(ClientError::Refused {
        status: status.as_u16(),
        message: text,
    })
}

/// A span subscription's frames.
pub struct FrameStream {
    body: Incoming,
    buf: Vec<u8>,
}

impl FrameStream {
    /// The next frame; `None` when the controller ended the stream.
    ///
    /// Errors: the connection broke ([`ClientError::Connect`]); a line that is not a frame
    /// ([`ClientError::Frame`]).
    pub async fn next(&mut self) -> Option<Result<Frame, ClientError>> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(
                    serde_json::from_slice(&line[..i])
                        .map_err(|e| ClientError::Frame(e.to_string())),
                );
            }
            match self.body.frame().await? {
                Ok(f) => {
                    if let Ok(data) = f.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                Err(e) => return Some(Err(ClientError::Connect(e.to_string()))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<(String, u16), String> {
        let tls = Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        );
        Client::new(url, tls, PathBuf::from("t"), "n").map(|c| (c.host, c.port))
    }

    #[test]
    fn controller_urls() {
        assert_eq!(parse("https://ctl"), Ok(("ctl".into(), DEFAULT_PORT)));
        assert_eq!(parse("https://10.0.0.1:99/"), Ok(("10.0.0.1".into(), 99)));
        assert_eq!(parse("https://[fd00::1]:99"), Ok(("fd00::1".into(), 99)));
        assert_eq!(
            parse("https://[fd00::1]"),
            Ok(("fd00::1".into(), DEFAULT_PORT))
        );
        assert_eq!(
            parse("http://ctl"),
            Err("--controller http://ctl: expected https://HOST[:PORT] (the controlplane is TLS only)".into())
        );
        assert_eq!(
            parse("https://ctl:x"),
            Err("--controller https://ctl:x: bad port \"x\"".into())
        );
    }
}
