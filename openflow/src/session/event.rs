//! What the session reports: [`Event`], [`Response`], [`DisconnectReason`].

use super::*;

/// Identifies a request made through the session; its answer comes as [`Event::Response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
// A `Message` is as large as a `FlowMod`, which keeps its match and instructions inline (280
// bytes); a response is moved once, so boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Response {
    /// The reply carrying the request's xid (BARRIER_REPLY, FEATURES_REPLY, ECHO_REPLY, ...).
    Message(Message),
    /// Every MULTIPART_REPLY part, in order, up to the one without REPLY_MORE.
    Multipart(Vec<MultipartReply>),
    /// The bundle was committed.
    BundleCommitted,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The driver reported the socket closed or failing.
    Transport(String),
    /// No byte arrived within `probe_timeout` after our ECHO_REQUEST.
    ProbeTimeout,
    /// The handshake did not finish within `handshake_timeout`.
    HandshakeTimeout,
    /// No common version (we sent HELLO_FAILED/INCOMPATIBLE), or the handshake was refused.
    Handshake(String),
    /// The peer sent bytes that are not OpenFlow framing.
    Protocol(String),
    /// A request got no answer within its deadline ([`Config::request_timeout`],
    /// [`Config::bundle_timeout`]); names the request.
    RequestTimeout(String),
    /// A multipart reply passed [`Config::max_multipart_parts`] or
    /// [`Config::max_multipart_bytes`].
    ReplyTooLarge(String),
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DisconnectReason::Transport(why) => write!(f, "transport: {why}"),
            DisconnectReason::ProbeTimeout => f.write_str("no answer to the echo probe"),
            DisconnectReason::HandshakeTimeout => f.write_str("handshake timed out"),
            DisconnectReason::Handshake(why) => write!(f, "handshake: {why}"),
            DisconnectReason::Protocol(why) => write!(f, "protocol: {why}"),
            DisconnectReason::RequestTimeout(what) => write!(f, "no answer in time to {what}"),
            DisconnectReason::ReplyTooLarge(why) => write!(f, "reply too large: {why}"),
        }
    }
}

/// What the session tells its driver and user.
#[derive(Debug)]
pub enum Event {
    /// Open a transport now, then call [`Session::connected`] or [`Session::connect_failed`].
    Connect,
    /// The handshake finished; `reconnect` is false the first time.
    Connected {
        /// The FEATURES_REPLY.
        features: SwitchFeatures,
        /// Whether an earlier connection had been up.
        reconnect: bool,
    },
    /// The connection is gone (close the transport if it is still open); pending requests
    /// failed with [`Error::Closed`], bundles with [`Error::BundleLost`] (or [`Error::Bundle`]
    /// when the switch had already rejected one of their messages). Nothing is re-sent on the
    /// next connection. A reconnect follows after the backoff.
    Disconnected(DisconnectReason),
    /// The answer to a request.
    Response {
        /// Which request.
        id: RequestId,
        /// The reply, or the switch's ERROR ([`Error::Switch`]; [`Error::Bundle`] for
        /// bundles, `index` being the position of the failing flow_mod), or [`Error::Closed`].
        result: Result<Response, Error>,
    },
    /// A message that answers no request: PACKET_IN, PORT_STATUS, FLOW_REMOVED, an ERROR for
    /// a message sent with [`Session::send`], ...
    Async {
        /// Its xid.
        xid: u32,
        /// The message.
        message: Message,
    },
    /// A message that answers no request and could not be decoded (skipped).
    Undecodable {
        /// Its xid.
        xid: u32,
        /// Why.
        error: Error,
    },
}
