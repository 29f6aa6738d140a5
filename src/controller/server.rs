//! The controlplane server: HTTP/2 over TLS (hyper 1, tokio-rustls), two routes
//! (docs/controlplane.md):
//!
//! - `GET /v1/span/{node}[?since=VERSION]`: `200` and a stream of NDJSON [`Frame`]s (a
//!   snapshot, or the deltas after `since` when the controller still has them; then every
//!   delta and a bookmark each keepalive), until the agent goes or is cut off; `503` with
//!   `Retry-After` until the source's initial content is applied ([`Controller::synced`]);
//! - `POST /v1/realization/{node}`: a JSON [`RealizationReport`] of at most [`MAX_REPORT`]
//!   bytes, answered `204` (`413` when larger).
//!
//! Every request carries `Authorization: Bearer TOKEN`, checked by one code path
//! ([`auth::check`]): `401` without or with a refused token, `403` for another node's span;
//! the refusal is logged with the peer's address, at most [`REFUSED_BODY`] bytes of a refused
//! request's body are read, and the connection is then closed (HTTP/2 GOAWAY).
//!
//! Any pod can reach the port, so what an unauthenticated peer holds is bounded
//! ([`ServeOptions`]): a connection that does not complete a TLS handshake within
//! [`ServeOptions::handshake_timeout`] (plain TCP, an idle socket, a client not trusting the
//! CA) is closed before any HTTP is read, one that makes no authenticated request within as
//! long again after it is closed too (GOAWAY), and beyond [`ServeOptions::max_connections`]
//! connections a new one is closed at once.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};

use super::auth::{self, Authenticator};
use super::core::Controller;
use super::realization::RealizationReport;
use crate::controlplane::Frame;

/// The policies a realization report may list ([`MAX_REPORT`] is sized for them): a node's
/// span of 10,000 policies.
pub const REPORT_POLICIES: usize = 10_000;

/// The largest realization report accepted, in bytes: [`REPORT_POLICIES`] entries of at most
/// about 620 bytes of JSON each (kind, a 253-character name, a 16-digit generation, a failure or
/// pending reason of at most
/// [`MAX_REASON`](super::realization::MAX_REASON) bytes; a typical entry is under 100). A test holds a
/// report of that many such entries under it.
pub const MAX_REPORT: usize = 8 << 20;

/// The most bytes read of a refused request's body before the refusal is answered and the
/// connection closed.
pub const REFUSED_BODY: usize = 64 << 10;

/// What an unauthenticated peer may hold; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// A TLS handshake not done within this is abandoned and the connection closed.
    pub handshake_timeout: Duration,
    /// Connections served at once (`kakine-controller --max-connections`); one more is closed
    /// as soon as it is accepted. Each agent holds one (its span stream; its reports reuse a
    /// short-lived one).
    pub max_connections: usize,
}

impl Default for ServeOptions {
    /// 10 s and 4096 connections (a cluster of 2,000 nodes with room for reconnects).
    fn default() -> Self {
        ServeOptions {
            handshake_timeout: Duration::from_secs(10),
            max_connections: 4096,
        }
    }
}

/// The stream of a span subscription as a response body: one JSON line per frame.
pub struct FrameBody {
    rx: mpsc::Receiver<Arc<Frame>>,
    /// Fires when the stream's token no longer proves its node (credentials read again).
    revoked: Option<oneshot::Receiver<()>>,
}

impl hyper::body::Body for FrameBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        if let Some(r) = &mut self.revoked {
            match Pin::new(r).poll(cx) {
                Poll::Ready(Ok(())) => return Poll::Ready(None),
                // The watcher is gone (no reloads any more): nothing to wait for.
                Poll::Ready(Err(_)) => self.revoked = None,
                Poll::Pending => {}
            }
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(f)) => {
                let mut line = serde_json::to_vec(&*f).unwrap_or_default();
                line.push(b'\n');
                Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from(line)))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

type Body = Either<Full<Bytes>, FrameBody>;

fn text(status: StatusCode, msg: impl std::fmt::Display) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Either::Left(Full::new(Bytes::from(format!("{msg}\n")))))
        .expect("a valid response")
}

/// [`serve_with`] with the default [`ServeOptions`].
pub async fn serve<A: Authenticator>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    controller: Arc<Controller>,
    auth: Arc<A>,
) {
    serve_with(listener, tls, controller, auth, ServeOptions::default()).await
}

/// Serves the controlplane on `listener` until the task is dropped: each connection's TLS
/// handshake and HTTP/2 on its own task, within `options`' bounds.
pub async fn serve_with<A: Authenticator>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    controller: Arc<Controller>,
    auth: Arc<A>,
    options: ServeOptions,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let slots = Arc::new(Semaphore::new(options.max_connections));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("controlplane accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(
                "controlplane: {peer}: closed, {} connections already (--max-connections)",
                options.max_connections
            );
            drop(tcp);
            continue;
        };
        let (acceptor, controller, auth) = (acceptor.clone(), controller.clone(), auth.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let tls =
                match tokio::time::timeout(options.handshake_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::info!("controlplane: {peer}: TLS handshake refused: {e}");
                        return;
                    }
                    Err(_) => {
                        tracing::info!(
                            "controlplane: {peer}: no TLS handshake within {:?}: closed",
                            options.handshake_timeout
                        );
                        return;
                    }
                };
            let close = Arc::new(Notify::new());
            let authenticated = Arc::new(AtomicBool::new(false));
            let (on_refusal, on_auth) = (close.clone(), authenticated.clone());
            let svc = hyper::service::service_fn(move |req| {
                let (controller, auth) = (controller.clone(), auth.clone());
                let (close, authenticated) = (on_refusal.clone(), on_auth.clone());
                async move {
                    let (resp, verdict) = handle(req, peer, &controller, &auth).await;
                    match verdict {
                        Verdict::Refused => close.notify_one(),
                        Verdict::Authenticated => authenticated.store(true, Ordering::Relaxed),
                        Verdict::Unchecked => {}
                    }
                    Ok::<_, Infallible>(resp)
                }
            });
            let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), svc);
            tokio::pin!(conn);
            // A peer that completes TLS (any pod can) has as long again to authenticate.
            let first = tokio::time::sleep(options.handshake_timeout);
            tokio::pin!(first);
            let mut waiting = true;
            let done = loop {
                let why = tokio::select! {
                    r = conn.as_mut() => break r,
                    _ = close.notified() => "refused",
                    _ = &mut first, if waiting => match authenticated.load(Ordering::Relaxed) {
                        true => {
                            waiting = false;
                            continue;
                        }
                        false => "no authenticated request within the handshake timeout",
                    },
                };
                tracing::info!("controlplane: {peer}: {why}: closing the connection");
                // The refusal is sent, then GOAWAY; a peer that does not let go is dropped.
                conn.as_mut().graceful_shutdown();
                break tokio::time::timeout(Duration::from_secs(5), conn)
                    .await
                    .unwrap_or(Ok(()));
            };
            if let Err(e) = done {
                tracing::debug!("controlplane: {peer}: {e}");
            }
        });
    }
}

/// What [`handle`] made of a request's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No route: not checked.
    Unchecked,
    /// Refused (`401`, `403`, `503` authenticator down): the connection is closed.
    Refused,
    /// Authenticated and authorized.
    Authenticated,
}

/// One request from `peer`; see the module documentation. Also says what it made of the
/// credentials ([`Verdict`]).
pub async fn handle<A: Authenticator>(
    req: Request<Incoming>,
    peer: SocketAddr,
    controller: &Controller,
    auth: &Arc<A>,
) -> (Response<Body>, Verdict) {
    let path = req.uri().path().to_string();
    let (route, node) = match path.strip_prefix("/v1/span/") {
        Some(n) => ("span", n),
        None => match path.strip_prefix("/v1/realization/") {
            Some(n) => ("realization", n),
            None => {
                return (
                    text(StatusCode::NOT_FOUND, format!("no route {path}")),
                    Verdict::Unchecked,
                )
            }
        },
    };
    if node.is_empty() || node.contains('/') {
        return (
            text(StatusCode::NOT_FOUND, format!("no route {path}")),
            Verdict::Unchecked,
        );
    }
    let header = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    if let Err(e) = auth::check(&**auth, header, node).await {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
        tracing::warn!("controlplane: {peer}: {} {path}: {e}", status.as_u16());
        if req.method() == hyper::Method::POST {
            // Read (and drop) a little of the body first: answering while the client still
            // sends makes hyper reset the stream, and the client sees a stream error, not the
            // refusal. No more than REFUSED_BODY: the peer is not trusted.
            let _ = Limited::new(req.into_body(), REFUSED_BODY).collect().await;
        }
        return (text(status, e), Verdict::Refused);
    }
    let resp = match (route, req.method()) {
        ("span", &hyper::Method::GET) if !controller.synced() => {
            let mut r = text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the controller has not applied its source's initial content yet (a directory \
                 that does not validate, or watches not synced): no span is served until it \
                 has; keep enforcing the last span and retry",
            );
            r.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from_static("5"),
            );
            r
        }
        ("span", &hyper::Method::GET) => {
            let since = match since(req.uri().query()) {
                Ok(s) => s,
                Err(e) => return (text(StatusCode::BAD_REQUEST, e), Verdict::Authenticated),
            };
            let sub = controller.subscribe(node, since);
            let revoked = header.and_then(|h| watch_revocation(auth, h, node, peer));
            Response::builder()
                .header("content-type", "application/x-ndjson")
                .body(Either::Right(FrameBody {
                    rx: sub.frames,
                    revoked,
                }))
                .expect("a valid response")
        }
        ("realization", &hyper::Method::POST) => report(req, node, controller).await,
        _ => text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} {path}: method not allowed", req.method()),
        ),
    };
    (resp, Verdict::Authenticated)
}

/// For an authenticator whose credentials are read again ([`Authenticator::reloads`]): a task
/// that checks the stream's credentials (`header`) after each reload and fires the returned
/// receiver when they no longer prove node `node` (a revoked or changed token: the stream
/// ends, logged; the agent's reconnect is then refused as any other). The task ends with the
/// stream.
fn watch_revocation<A: Authenticator>(
    auth: &Arc<A>,
    header: &str,
    node: &str,
    peer: SocketAddr,
) -> Option<oneshot::Receiver<()>> {
    let mut reloads = auth.reloads()?;
    let (tx, rx) = oneshot::channel();
    let (auth, header, node) = (auth.clone(), header.to_string(), node.to_string());
    tokio::spawn(async move {
        let mut tx = tx;
        loop {
            tokio::select! {
                _ = tx.closed() => return,
                r = reloads.changed() => if r.is_err() { return },
            }
            if let Err(e) = auth::check(&*auth, Some(&header), &node).await {
                tracing::warn!(
                    "controlplane: {peer}: the span stream of node {node} ended: its credentials \
                     no longer hold after they were read again ({e})"
                );
                let _ = tx.send(());
                return;
            }
        }
    });
    Some(rx)
}

/// `POST /v1/realization/{node}`: the report recorded, `204`; `413` above [`MAX_REPORT`].
async fn report(req: Request<Incoming>, node: &str, controller: &Controller) -> Response<Body> {
    let body = match Limited::new(req.into_body(), MAX_REPORT).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("realization report of node {node}: larger than {MAX_REPORT} bytes"),
            )
        }
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("report body: {e}")),
    };
    match serde_json::from_slice::<RealizationReport>(&body) {
        Ok(r) => {
            controller.report(node, r);
            Response::builder()
                .status(StatusCode::NO_CONTENT)
                .body(Either::Left(Full::new(Bytes::new())))
                .expect("a valid response")
        }
        Err(e) => text(
            StatusCode::BAD_REQUEST,
            format!("realization report of node {node}: {e}"),
        ),
    }
}

/// `since=VERSION` of a query string.
fn since(query: Option<&str>) -> Result<Option<u64>, String> {
    for pair in query.unwrap_or_default().split('&') {
        if let Some(v) = pair.strip_prefix("since=") {
            return v
                .parse()
                .map(Some)
                .map_err(|_| format!("since={v}: not a version (an unsigned integer)"));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::realization::{PolicyRealization, MAX_REASON};

    #[test]
    fn a_report_of_the_most_policies_with_long_names_fits_the_cap() {
        let entry = PolicyRealization {
            kind: "ClusterNetworkPolicy".into(),
            name: "n".repeat(253),
            generation: 1_765_090_000_000_000,
            failure: Some("f".repeat(MAX_REASON)),
            pending: None,
        };
        let report = RealizationReport {
            version: u64::MAX,
            policies: vec![entry; REPORT_POLICIES],
        };
        let len = serde_json::to_vec(&report).unwrap().len();
        assert!(len <= MAX_REPORT, "{len} > {MAX_REPORT}");
        // And the cap is not an order of magnitude above what it is for.
        assert!(len * 2 > MAX_REPORT, "{len} is far under {MAX_REPORT}");
    }
}
