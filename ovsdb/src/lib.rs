//! RFC 7047 OVSDB client for kakine, with typed `Open_vSwitch` helpers.
//!
//! # Coverage
//! - §4 wire protocol: JSON-RPC 1.0 over `unix:PATH` or `tcp:HOST:PORT`, concatenated JSON
//!   texts with no delimiter ([`jsonrpc::Framer`]).
//! - §4.1.1 `list_dbs`, §4.1.2 `get_schema`, §4.1.3 `transact`, §4.1.11 `echo` (both ways: we
//!   can send it, and the server's inactivity-probe `echo` is answered). `monitor` (§4.1.5) is not
//!   implemented yet.
//! - §5.1 notation ([`notation`]): atoms, `["set",…]`, `["map",…]`, `["uuid",…]`, `["named-uuid",…]`,
//!   conditions and mutations.
//! - §5.2 operations ([`operation`]): insert, select, update, mutate, delete, wait, commit, abort,
//!   comment, assert, built as data by [`Transaction`]. Every element of a `transact` result,
//!   including the extra commit-time element, is checked and surfaces as [`Error::Transaction`].
//! - [`vswitch`]: idempotent bridge/port helpers for the `Open_vSwitch` schema (`ovs-vsctl`
//!   equivalents), which wait for ovs-vswitchd through `next_cfg`/`cur_cfg`.
//!
//! # The jsonrpsee adapter, and why
//! jsonrpsee is the project's JSON-RPC engine but speaks 2.0, and ovsdb-server speaks 1.0: it
//! drops a connection that sends `"jsonrpc"` or omits `params`, answers `"error":null` next to
//! `result`, sends error payloads that are strings or `{"error","details"}` objects, sends
//! notifications with `"id":null`, and sends its own `echo` requests, which jsonrpsee cannot
//! parse (an unparsable message ends its client). So the transport given to
//! `ClientBuilder::build_with_tokio` rewrites every message ([`jsonrpc::outbound`] /
//! [`jsonrpc::inbound`]): outbound it strips `jsonrpc` and always sends `params`; inbound it frames
//! the stream, adds `jsonrpc`, drops `"error":null`, turns OVSDB errors into error objects
//! (code −32000, `message` = the OVSDB `error`, `data` = the payload), drops `"id":null` from
//! notifications, and answers the server's `echo` itself without forwarding it. The rewrites are
//! sans-IO functions, unit-tested without a server.
//!
//! ```no_run
//! # async fn f() -> Result<(), ovsdb::Error> {
//! use ovsdb::{BridgeConfig, Client};
//! let c = Client::connect("unix:/var/run/openvswitch/db.sock").await?;
//! c.ensure_bridge(&BridgeConfig {
//!     name: "br-int".into(),
//!     datapath_type: "netdev".into(),
//!     protocols: vec!["OpenFlow13".into()],
//!     fail_mode: Some("secure".into()),
//!     ..Default::default()
//! })
//! .await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![deny(unsafe_code)]

mod client;
mod error;
pub mod jsonrpc;
pub mod notation;
pub mod operation;
mod transport;
pub mod vswitch;

pub use client::{Client, DEFAULT_WAIT_TIMEOUT};
pub use error::Error;
pub use notation::{Atom, Row, Uuid, Value};
pub use operation::{
    Condition, Function, Mutation, Mutator, OpResult, Operation, Transaction, WaitUntil,
};
pub use transport::Target;
pub use vswitch::{BridgeConfig, InterfaceSpec, PortInfo};
