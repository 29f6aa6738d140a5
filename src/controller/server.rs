//! The controlplane server: HTTP/2 over TLS (hyper 1, tokio-rustls), two routes
//! (docs/controlplane.md):
//!
//! - `GET /v1/span/{node}[?since=VERSION]`: `200` and a stream of NDJSON [`Frame`]s (a
//!   snapshot, or the deltas after `since` when the controller still has them; then every
//!   delta and a bookmark each keepalive), until the agent goes or is cut off;
//! - `POST /v1/realization/{node}`: a JSON [`RealizationReport`], answered `204`.
//!
//! Every request carries `Authorization: Bearer TOKEN`, checked by one code path
//! ([`auth::check`]): `401` without or with a refused token, `403` for another node's span.
//! A connection that does not complete a TLS handshake (plain TCP, a client not trusting the
//! CA) is closed before any HTTP is read.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::auth::{self, Authenticator};
use super::core::Controller;
use super::realization::RealizationReport;
use crate::controlplane::Frame;

/// The largest realization report accepted, in bytes.
pub const MAX_REPORT: usize = 16 << 20;

/// The stream of a span subscription as a response body: one JSON line per frame.
pub struct FrameBody {
    rx: mpsc::Receiver<Arc<Frame>>,
}

impl hyper::body::Body for FrameBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
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

/// Serves the controlplane on `listener` until the task is dropped: each connection's TLS
/// handshake and HTTP/2 on its own task.
pub async fn serve<A: Authenticator>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    controller: Arc<Controller>,
    auth: Arc<A>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("controlplane accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let (acceptor, controller, auth) = (acceptor.clone(), controller.clone(), auth.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::info!("controlplane: {peer}: TLS handshake refused: {e}");
                    return;
                }
            };
            let svc = hyper::service::service_fn(move |req| {
                let (controller, auth) = (controller.clone(), auth.clone());
                async move { Ok::<_, Infallible>(handle(req, &controller, &*auth).await) }
            });
            if let Err(e) = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), svc)
                .await
            {
                tracing::debug!("controlplane: {peer}: {e}");
            }
        });
    }
}

/// One request; see the module documentation.
pub async fn handle<A: Authenticator>(
    req: Request<Incoming>,
    controller: &Controller,
    auth: &A,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    let (route, node) = match path.strip_prefix("/v1/span/") {
        Some(n) => ("span", n),
        None => match path.strip_prefix("/v1/realization/") {
            Some(n) => ("realization", n),
            None => return text(StatusCode::NOT_FOUND, format!("no route {path}")),
        },
    };
    if node.is_empty() || node.contains('/') {
        return text(StatusCode::NOT_FOUND, format!("no route {path}"));
    }
    let header = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    if let Err(e) = auth::check(auth, header, node).await {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED);
        tracing::warn!("controlplane: {path}: {e}");
        if req.method() == hyper::Method::POST {
            // Read (and drop) the body first: answering while the client still sends makes
            // hyper reset the stream, and the client sees a stream error, not the refusal.
            let _ = Limited::new(req.into_body(), MAX_REPORT).collect().await;
        }
        return text(status, e);
    }
    match (route, req.method()) {
        ("span", &hyper::Method::GET) => {
            let since = match since(req.uri().query()) {
                Ok(s) => s,
                Err(e) => return text(StatusCode::BAD_REQUEST, e),
            };
            let sub = controller.subscribe(node, since);
            Response::builder()
                .header("content-type", "application/x-ndjson")
                .body(Either::Right(FrameBody { rx: sub.frames }))
                .expect("a valid response")
        }
        ("realization", &hyper::Method::POST) => {
            let node = node.to_string();
            let body = match Limited::new(req.into_body(), MAX_REPORT).collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => return text(StatusCode::BAD_REQUEST, format!("report body: {e}")),
            };
            match serde_json::from_slice::<RealizationReport>(&body) {
                Ok(r) => {
                    controller.report(&node, r);
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
        _ => text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} {path}: method not allowed", req.method()),
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
