//! Sans-IO JSON-RPC 1.0 ⇄ 2.0 adapter between ovsdb-server and jsonrpsee (see the crate docs).
//!
//! [`Framer`] splits the undelimited stream of concatenated JSON texts (RFC 7047 §4) into
//! messages; [`inbound`] rewrites one server message for jsonrpsee or answers it; [`outbound`]
//! rewrites one jsonrpsee message for ovsdb-server. No sockets here: tests feed bytes.

use serde_json::{json, Map, Value as Json};

/// The JSON-RPC error code given to every OVSDB error (the OVSDB payload goes in `data`).
pub const OVSDB_ERROR_CODE: i32 = -32000;

/// The longest message [`Framer::default`] accepts: 64 MiB (a full `monitor` reply of a
/// large Open_vSwitch database is a few MiB).
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 64 << 20;

/// Why the byte stream cannot be framed; the connection cannot be resynchronised after any.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A message grew past the framer's limit before it ended (a hostile or broken peer
    /// streaming one endless value).
    #[error("OVSDB message longer than {max} bytes (received {len} without its end)")]
    TooLarge {
        /// Bytes of the unfinished message received so far.
        len: usize,
        /// The limit ([`Framer::with_max_len`]).
        max: usize,
    },
    /// A message that is not a JSON object or array (RFC 7047 §4: every message is an
    /// object), at byte `offset` of the stream.
    #[error("OVSDB stream byte {offset}: {byte:#04x} does not start a JSON object")]
    NotAnObject {
        /// Offset in the stream.
        offset: u64,
        /// The byte found.
        byte: u8,
    },
    /// The message's JSON is malformed.
    #[error("malformed OVSDB message: {0}")]
    Syntax(#[from] serde_json::Error),
}

/// Splits a byte stream of concatenated JSON values (RFC 7047 §4: objects, no delimiter).
///
/// The scan is incremental: the framer keeps its place (nesting depth, inside a string or an
/// escape) between pushes, so each byte is looked at once however the value is cut (O(n)
/// over a stream, where re-parsing from the start on each read is O(n²)), and only a
/// complete value is parsed. A value longer than the limit fails with
/// [`FrameError::TooLarge`] as soon as the limit is passed, so memory stays bounded by it.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out (dropped on the next push).
    consumed: usize,
    /// Where the scan resumes.
    scan: usize,
    /// Offset in `buf` where the current value starts, once its first byte is seen.
    start: Option<usize>,
    /// Nesting depth of `{`/`[` in the current value.
    depth: usize,
    in_string: bool,
    escape: bool,
    max: usize,
    /// Stream offset of `buf[0]`, for errors.
    base: u64,
    /// Bytes scanned in all (each byte of the stream once).
    scanned: u64,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::with_max_len(DEFAULT_MAX_MESSAGE_LEN)
    }
}

impl Framer {
    /// A framer refusing messages longer than `max` bytes.
    pub fn with_max_len(max: usize) -> Self {
        Framer {
            buf: Vec::new(),
            consumed: 0,
            scan: 0,
            start: None,
            depth: 0,
            in_string: false,
            escape: false,
            max,
            base: 0,
            scanned: 0,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.consumed > 0 {
            self.buf.drain(..self.consumed);
            self.base += self.consumed as u64;
            self.scan -= self.consumed;
            self.start = self.start.map(|s| s - self.consumed);
            self.consumed = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered and not yet handed out.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.consumed
    }

    /// The next complete message, `Ok(None)` if more bytes are needed.
    ///
    /// # Errors
    /// [`FrameError`]; the stream cannot be resynchronised after one.
    pub fn next_message(&mut self) -> Result<Option<Json>, FrameError> {
        let Some(end) = self.scan_to_end()? else {
            return Ok(None);
        };
        let start = self.start.take().unwrap_or(self.consumed);
        if end - start > self.max {
            return Err(FrameError::TooLarge {
                len: end - start,
                max: self.max,
            });
        }
        let value = serde_json::from_slice(&self.buf[start..end])?;
        self.consumed = end;
        self.scan = end;
        Ok(Some(value))
    }

    /// Scan on from where the last call stopped; the end (exclusive) of the current value
    /// once it is complete.
    fn scan_to_end(&mut self) -> Result<Option<usize>, FrameError> {
        let from = self.scan;
        let end = self.scan_from(from);
        self.scanned += (self.scan - from) as u64;
        end
    }

    fn scan_from(&mut self, from: usize) -> Result<Option<usize>, FrameError> {
        let mut i = from;
        while i < self.buf.len() {
            let b = self.buf[i];
            i += 1;
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b' ' | b'\t' | b'\r' | b'\n' if self.start.is_none() => {
                    self.consumed = i;
                    continue;
                }
                b'{' | b'[' => {
                    self.start.get_or_insert(i - 1);
                    self.depth += 1;
                }
                _ if self.start.is_none() => {
                    self.scan = i;
                    return Err(FrameError::NotAnObject {
                        offset: self.base + (i - 1) as u64,
                        byte: b,
                    });
                }
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        self.scan = i;
                        return Ok(Some(i));
                    }
                }
                b'"' => self.in_string = true,
                _ => {}
            }
        }
        self.scan = i;
        if let Some(start) = self.start {
            if i - start > self.max {
                return Err(FrameError::TooLarge {
                    len: i - start,
                    max: self.max,
                });
            }
        }
        Ok(None)
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
        assert!(matches!(
            f.next_message(),
            Err(FrameError::NotAnObject { byte: b']', .. })
        ));
    }

    #[test]
    fn framer_finds_messages_cut_anywhere_even_inside_strings_and_escapes() {
        let text = br#" {"id":1,"result":["a}\"]{[", {"k":[1,2,{}]}],"error":null}
[{"x":"\\"}] "#;
        let want: Vec<Json> = serde_json::Deserializer::from_slice(text)
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(want.len(), 2);
        for cut in 0..text.len() {
            let mut f = Framer::default();
            let mut got = Vec::new();
            for part in [&text[..cut], &text[cut..]] {
                f.push(part);
                while let Some(v) = f.next_message().unwrap() {
                    got.push(v);
                }
            }
            assert_eq!(got, want, "cut at {cut}");
        }
    }

    #[test]
    fn framer_refuses_a_message_past_its_limit_before_buffering_more() {
        let mut f = Framer::with_max_len(1000);
        f.push(br#"{"id":1,"result":"#);
        let mut pushed = 0;
        let err = loop {
            f.push(&[b'['; 100]);
            pushed += 100;
            assert!(pushed < 2000, "still buffering at {pushed} bytes");
            match f.next_message() {
                Ok(None) => continue,
                Err(e) => break e,
                Ok(Some(v)) => panic!("{v}"),
            }
        };
        assert!(
            matches!(err, FrameError::TooLarge { max: 1000, len } if len > 1000 && len <= 1100)
        );
        assert!(f.buffered() <= 1100 + 17);
        // A complete message over the limit in one push is refused too.
        let mut f = Framer::with_max_len(10);
        f.push(br#"{"id":12345678}"#);
        assert!(matches!(
            f.next_message(),
            Err(FrameError::TooLarge { len: 15, .. })
        ));
    }

    #[test]
    fn framer_scans_each_byte_once_however_the_stream_is_cut() {
        // One 1 MiB message in 16-byte reads: the old framer re-parsed from the start on each
        // read (65,536 parses of up to 1 MiB); this one looks at each byte once.
        let mut msg = br#"{"id":1,"result":""#.to_vec();
        msg.extend(std::iter::repeat_n(b'x', 1 << 20));
        msg.extend_from_slice(br#"","error":null} {"id":2}"#);
        let mut f = Framer::default();
        let mut got = Vec::new();
        for chunk in msg.chunks(16) {
            f.push(chunk);
            while let Some(v) = f.next_message().unwrap() {
                got.push(v);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0]["result"].as_str().unwrap().len(), 1 << 20);
        assert_eq!(f.scanned, msg.len() as u64);
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
