//! An API-server verifier on kube's mock service (`tower_test::mock::pair`), as kube-rs's
//! reference controller (controller-rs) tests its reconciler: the test takes each request the
//! client makes, asserts it exactly (method, path, query, body) and answers with real JSON.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use kube::client::Body;
use kube::Client;
use serde_json::{json, Value};
use tower_test::mock::{self, Handle, SendResponse};

/// The mock's handle: requests in, responses out.
pub struct ApiServer {
    handle: Handle<Request<Body>, Response<Body>>,
}

/// A request received, with its parts taken apart for assertions.
pub struct Received {
    /// `GET`, `PATCH`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query parameters.
    pub query: BTreeMap<String, String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body as JSON (`Value::Null` when empty).
    pub body: Value,
    send: SendResponse<Response<Body>>,
}

/// A client over the mock, and the mock's server side.
pub fn pair() -> (Client, ApiServer) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, "default"), ApiServer { handle })
}

impl ApiServer {
    /// The next request (panics after 10 s without one).
    pub async fn next(&mut self) -> Received {
        let (request, send) =
            tokio::time::timeout(Duration::from_secs(10), self.handle.next_request())
                .await
                .expect("the client made no request within 10 s")
                .expect("the client is gone");
        let method = request.method().to_string();
        let path = request.uri().path().to_string();
        let query = request
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_string(), v.to_string())
            })
            .collect();
        let content_type = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("request body is JSON")
        };
        Received {
            method,
            path,
            query,
            content_type,
            body,
            send,
        }
    }

    /// Asserts that no request comes within `ms` milliseconds.
    pub async fn idle(&mut self, ms: u64) {
        if let Ok(Some((r, _))) =
            tokio::time::timeout(Duration::from_millis(ms), self.handle.next_request()).await
        {
            panic!("unexpected request {} {}", r.method(), r.uri());
        }
    }
}

impl Received {
    /// Asserts method, path and query parameters (exactly these, no more).
    pub fn expect(&self, method: &str, path: &str, query: &[(&str, &str)]) {
        assert_eq!(
            (self.method.as_str(), self.path.as_str()),
            (method, path),
            "request {} {}",
            self.method,
            self.path
        );
        let want: BTreeMap<String, String> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(self.query, want, "query of {} {}", self.method, self.path);
    }

    /// Answers 200 with `body`.
    pub fn ok(self, body: &Value) {
        self.respond(StatusCode::OK, serde_json::to_vec(body).unwrap());
    }

    /// Answers 200 with a watch stream: one JSON event per line, then the end of the stream.
    pub fn watch(self, events: &[Value]) {
        let mut bytes = Vec::new();
        for e in events {
            bytes.extend(serde_json::to_vec(e).unwrap());
            bytes.push(b'\n');
        }
        self.respond(StatusCode::OK, bytes);
    }

    /// Answers 200 with raw bytes (a broken stream).
    pub fn raw(self, bytes: &[u8]) {
        self.respond(StatusCode::OK, bytes.to_vec());
    }

    /// Answers `code` with a `Status` naming `reason`.
    pub fn status(self, code: u16, reason: &str, message: &str) {
        self.respond(
            StatusCode::from_u16(code).unwrap(),
            serde_json::to_vec(&status(code, reason, message)).unwrap(),
        );
    }

    fn respond(self, code: StatusCode, bytes: Vec<u8>) {
        let response = Response::builder()
            .status(code)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(bytes))
            .unwrap();
        self.send.send_response(response);
    }
}

/// A `meta/v1` Status object.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code
    })
}

/// A list of `kind` at `resource_version`.
pub fn list(api_version: &str, kind: &str, resource_version: &str, items: &[Value]) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": format!("{kind}List"),
        "metadata": {"resourceVersion": resource_version},
        "items": items,
    })
}

/// A watch event line's object: `{"type": TYPE, "object": OBJECT}`.
pub fn event(type_: &str, object: &Value) -> Value {
    json!({"type": type_, "object": object})
}

/// A BOOKMARK event at `resource_version`.
pub fn bookmark(api_version: &str, kind: &str, resource_version: &str) -> Value {
    json!({"type": "BOOKMARK", "object": {
        "apiVersion": api_version, "kind": kind,
        "metadata": {"resourceVersion": resource_version}
    }})
}

/// The `410 Gone` a watch gets when its resourceVersion is too old.
pub fn gone() -> Value {
    json!({"type": "ERROR", "object": status(410, "Expired", "too old resource version")})
}
