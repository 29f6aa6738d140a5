//! Sans-IO JSON-RPC 1.0 ⇄ 2.0 adapter between ovsdb-server and jsonrpsee (see the crate docs).
//!
//! [`Framer`] splits the undelimited stream of concatenated JSON texts (RFC 7047 §4) into
//! messages; [`inbound`] rewrites one server message for jsonrpsee or answers it; [`outbound`]
//! rewrites one jsonrpsee message for ovsdb-server. No sockets here: tests feed bytes.

use serde_json::{json, Map, Value as Json};

/// The JSON-RPC error code given to every OVSDB error (the OVSDB payload goes in `data`).
pub const OVSDB_ERROR_CODE: i32 = -32000;

/// Splits a byte stream of concatenated JSON values.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, `Ok(None)` if more bytes are needed.
    ///
    /// # Errors
    /// The JSON syntax error; the stream cannot be resynchronised after one.
    pub fn next_message(&mut self) -> Result<Option<Json>, serde_json::Error> {
        let mut it = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Json>();
        match it.next() {
            Some(Ok(v)) => {
                let used = it.byte_offset();
                self.buf.drain(..used);
                Ok(Some(v))
            }
            Some(Err(e)) if e.is_eof() => Ok(None),
            Some(Err(e)) => Err(e),
            None => {
                // Only whitespace buffered.
                self.buf.clear();
                Ok(None)
            }
        }
    }
}

/// What to do with one inbound message.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// Hand this JSON-RPC 2.0 text to jsonrpsee.
    Forward(String),
    /// A server→client request (RFC 7047 §4.1.11 `echo`): write this reply to the server and
    /// tell jsonrpsee nothing.
    Reply(String),
    /// Nothing to do (a message that is not JSON-RPC at all).
    Ignore,
}

/// Rewrites one server message (RFC 7047 §4, JSON-RPC 1.0) for jsonrpsee (JSON-RPC 2.0).
///
/// - request `{"id":X,"method":"echo","params":P}` → [`Inbound::Reply`] `{"id":X,"result":P,"error":null}`;
///   other server requests are answered with the error `"unknown method"`;
/// - notification `{"id":null,"method":M,"params":P}` → `{"jsonrpc":"2.0","method":M,"params":P}`;
/// - success `{"id":N,"result":R,"error":null}` → `{"jsonrpc":"2.0","id":N,"result":R}`;
/// - error `{"id":N,"error":E}` (E a string or `{"error":…,"details":…}`) →
///   `{"jsonrpc":"2.0","id":N,"error":{"code":-32000,"message":<E or E.error>,"data":E}}`.
pub fn inbound(msg: Json) -> Inbound {
    let Json::Object(mut o) = msg else {
        return Inbound::Ignore;
    };
    let id = o.remove("id").unwrap_or(Json::Null);
    if let Some(method) = o.get("method").and_then(Json::as_str).map(str::to_owned) {
        if !id.is_null() {
            let reply = if method == "echo" {
                json!({"id": id, "result": o.remove("params").unwrap_or(json!([])), "error": null})
            } else {
                json!({"id": id, "result": null, "error": "unknown method"})
            };
            return Inbound::Reply(reply.to_string());
        }
        o.insert("jsonrpc".into(), "2.0".into());
        if !o.contains_key("params") {
            o.insert("params".into(), json!([]));
        }
        return Inbound::Forward(Json::Object(o).to_string());
    }
    let mut out = Map::new();
    out.insert("jsonrpc".into(), "2.0".into());
    out.insert("id".into(), id);
    match o.remove("error") {
        None | Some(Json::Null) => {
            out.insert("result".into(), o.remove("result").unwrap_or(Json::Null));
        }
        Some(err) => {
            let message = match &err {
                Json::String(s) => s.clone(),
                Json::Object(e) => e
                    .get("error")
                    .and_then(Json::as_str)
                    .unwrap_or("error")
                    .to_owned(),
                other => other.to_string(),
            };
            out.insert(
                "error".into(),
                json!({"code": OVSDB_ERROR_CODE, "message": message, "data": err}),
            );
        }
    }
    Inbound::Forward(Json::Object(out).to_string())
}

/// Rewrites one jsonrpsee request or notification for ovsdb-server: removes `"jsonrpc"` and
/// adds `"params":[]` when absent (ovsdb-server drops the connection otherwise, protocols.md §4.1).
///
/// # Errors
/// The JSON error if `msg` is not JSON.
pub fn outbound(msg: &str) -> Result<String, serde_json::Error> {
    let mut v: Json = serde_json::from_str(msg)?;
    if let Json::Object(o) = &mut v {
        o.remove("jsonrpc");
        if !o.contains_key("params") || o["params"].is_null() {
            o.insert("params".into(), json!([]));
        }
    }
    serde_json::to_string(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fwd(v: Json) -> Json {
        match inbound(v) {
            Inbound::Forward(s) => serde_json::from_str(&s).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn framer_splits_concatenated_and_partial_messages() {
        let mut f = Framer::default();
        f.push(br#"{"id":1,"result":["a}"],"error":null}{"id":null,"#);
        assert_eq!(f.next_message().unwrap().unwrap()["result"], json!(["a}"]));
        assert_eq!(f.next_message().unwrap(), None);
        f.push(br#""method":"update","params":[null,{}]} "#);
        assert_eq!(f.next_message().unwrap().unwrap()["method"], "update");
        assert_eq!(f.next_message().unwrap(), None);
        f.push(b"]");
        assert!(f.next_message().is_err());
    }

    #[test]
    fn success_responses_lose_error_null_and_gain_jsonrpc() {
        assert_eq!(
            fwd(json!({"id":1,"result":["Open_vSwitch","_Server"],"error":null})),
            json!({"jsonrpc":"2.0","id":1,"result":["Open_vSwitch","_Server"]})
        );
    }

    #[test]
    fn ovsdb_error_payloads_become_error_objects() {
        assert_eq!(
            fwd(json!({"id":3,"error":"unknown method"})),
            json!({"jsonrpc":"2.0","id":3,"error":{"code":-32000,"message":"unknown method","data":"unknown method"}})
        );
        let e = json!({"error":"unknown database","details":"transact request specifies unknown database Nope"});
        assert_eq!(
            fwd(json!({"id":4,"result":null,"error":e})),
            json!({"jsonrpc":"2.0","id":4,"error":{"code":-32000,"message":"unknown database","data":e}})
        );
    }

    #[test]
    fn notifications_lose_id_null() {
        assert_eq!(
            fwd(json!({"id":null,"method":"update2","params":["mon2",{}]})),
            json!({"jsonrpc":"2.0","method":"update2","params":["mon2",{}]})
        );
    }

    #[test]
    fn the_server_echo_is_answered_not_forwarded() {
        let Inbound::Reply(reply) = inbound(json!({"id":"echo","method":"echo","params":[]}))
        else {
            panic!("echo was not answered");
        };
        let reply: Json = serde_json::from_str(&reply).unwrap();
        assert_eq!(reply, json!({"id":"echo","result":[],"error":null}));
    }

    #[test]
    fn outbound_strips_jsonrpc_and_always_sends_params() {
        let out: Json = serde_json::from_str(
            &outbound(r#"{"jsonrpc":"2.0","id":0,"method":"list_dbs"}"#).unwrap(),
        )
        .unwrap();
        assert_eq!(out, json!({"id":0,"method":"list_dbs","params":[]}));
    }
}
