//! The crate's one error type.

use std::time::Duration;

use serde_json::Value as Json;

use crate::operation::Operation;

/// Everything that can go wrong talking to ovsdb-server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection target is not `unix:PATH` or `tcp:HOST:PORT`.
    #[error("invalid OVSDB target {0:?} (expected unix:PATH or tcp:HOST:PORT)")]
    InvalidTarget(String),

    /// Connecting the socket failed.
    #[error("cannot connect to {target}")]
    Connect {
        /// The target as given.
        target: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },

    /// The JSON-RPC layer failed (connection lost, timeout, unparsable message).
    #[error("JSON-RPC {method} failed")]
    Rpc {
        /// The method called.
        method: String,
        /// jsonrpsee's error.
        #[source]
        source: jsonrpsee::core::ClientError,
    },

    /// The server answered a request with a JSON-RPC error (RFC 7047 §4.1 `error` member),
    /// e.g. `unknown database` or `unknown method`.
    #[error("{method}: server error {error:?}{}", details.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Server {
        /// The method called.
        method: String,
        /// The `error` string.
        error: String,
        /// The `details` string, if any.
        details: Option<String>,
    },

    /// One element of a `transact` result was `{"error":…}` (RFC 7047 §4.1.3, §5.2), e.g.
    /// `constraint violation`, `referential integrity violation`, `unknown column`.
    /// `index` equal to the number of operations is the commit-time extra element; then `op` is `None`.
    #[error("transaction failed at {} #{index}: {error}{}",
        op.as_ref().map(|o| o.kind()).unwrap_or("commit"),
        details.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Transaction {
        /// Index in the result array.
        index: usize,
        /// The `error` string.
        error: String,
        /// The `details` string, if any.
        details: Option<String>,
        /// The operation that failed (`None` for the trailing commit element).
        op: Option<Box<Operation>>,
    },

    /// A value did not follow RFC 7047 §5.1 notation, or a reply had an unexpected shape.
    #[error("bad OVSDB notation ({reason}): {value}")]
    Notation {
        /// What was wrong.
        reason: String,
        /// The offending JSON.
        value: Json,
    },

    /// A `uuid-name` is not an `<id>` (`[_A-Za-z][_A-Za-z0-9]*`).
    #[error("uuid-name {0:?} is not an <id> ([_A-Za-z][_A-Za-z0-9]*)")]
    InvalidUuidName(String),

    /// A named row does not exist.
    #[error("no {table} named {name:?}")]
    NotFound {
        /// Table.
        table: &'static str,
        /// The `name` looked for.
        name: String,
    },

    /// A port exists on another bridge than the one asked for.
    #[error("port {port:?} is on bridge {actual:?}, not {expected:?}")]
    WrongBridge {
        /// Port name.
        port: String,
        /// Bridge asked for.
        expected: String,
        /// Bridge it is on (empty if none).
        actual: String,
    },

    /// ovs-vswitchd could not set up an interface (`ofport` -1 or an `error` column).
    #[error("interface {name:?} failed (ofport {ofport:?}): {}", error.as_deref().unwrap_or("no error given"))]
    Interface {
        /// Interface name.
        name: String,
        /// The `ofport` column.
        ofport: Option<i64>,
        /// The `error` column.
        error: Option<String>,
    },

    /// ovs-vswitchd did not apply the change in time (cur_cfg or ofport).
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        after: Duration,
    },
}
