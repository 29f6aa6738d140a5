//! The OVSDB client: jsonrpsee over the adapter transport, plus the RFC 7047 §4.1 methods.

use std::sync::Arc;
use std::time::Duration;

use jsonrpsee::core::client::{ClientBuilder, ClientT};
use jsonrpsee::core::traits::ToRpcParams;
use jsonrpsee::core::ClientError;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{json, Value as Json};

use crate::jsonrpc::OVSDB_ERROR_CODE;
use crate::notation::is_id;
use crate::operation::{OpResult, Operation};
use crate::transport;
use crate::Error;

/// Default time [`Client`] waits for ovs-vswitchd to apply a change (`cur_cfg`, `ofport`).
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to one ovsdb-server. Cheap to clone; clones share the connection.
///
/// The connection is not re-established if it drops: calls then fail with [`Error::Rpc`] and the
/// owner connects again.
#[derive(Clone)]
pub struct Client {
    rpc: Arc<jsonrpsee::core::client::Client>,
    pub(crate) wait_timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("connected", &self.rpc.is_connected())
            .field("wait_timeout", &self.wait_timeout)
            .finish()
    }
}

/// Positional params as one pre-serialised JSON array (OVSDB params are always an array).
struct Params(Json);

impl ToRpcParams for Params {
    fn to_rpc_params(self) -> Result<Option<Box<RawValue>>, serde_json::Error> {
        RawValue::from_string(self.0.to_string()).map(Some)
    }
}

impl Client {
    /// Connects to `unix:PATH` or `tcp:HOST:PORT` (as `ovs-vsctl --db=`).
    ///
    /// # Errors
    /// [`Error::InvalidTarget`], [`Error::Connect`].
    pub async fn connect(target: &str) -> Result<Client, Error> {
        Self::connect_with_max_message_len(target, crate::jsonrpc::DEFAULT_MAX_MESSAGE_LEN).await
    }

    /// [`Client::connect`] refusing server messages longer than `max` bytes (default
    /// [`crate::jsonrpc::DEFAULT_MAX_MESSAGE_LEN`], 64 MiB): a longer one ends the connection,
    /// and calls fail with [`Error::Rpc`] whose transport error carries a
    /// [`crate::jsonrpc::FrameError::TooLarge`].
    ///
    /// # Errors
    /// [`Error::InvalidTarget`], [`Error::Connect`].
    pub async fn connect_with_max_message_len(target: &str, max: usize) -> Result<Client, Error> {
        let (sender, receiver) = transport::connect(target, max).await?;
        let rpc = ClientBuilder::default().build_with_tokio(sender, receiver);
        Ok(Client {
            rpc: Arc::new(rpc),
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
        })
    }

    /// Sets how long the `vswitch` helpers wait for ovs-vswitchd (default [`DEFAULT_WAIT_TIMEOUT`]).
    pub fn with_wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// Whether the background connection task is still running.
    pub fn is_connected(&self) -> bool {
        self.rpc.is_connected()
    }

    /// Any method: `params` must be a JSON array; returns the `result` member.
    ///
    /// # Errors
    /// [`Error::Server`] for an OVSDB `error` reply, [`Error::Rpc`] for transport failures.
    pub async fn call<R: DeserializeOwned>(&self, method: &str, params: Json) -> Result<R, Error> {
        self.rpc
            .request(method, Params(params))
            .await
            .map_err(|e| rpc_error(method, e))
    }

    /// `list_dbs` (RFC 7047 §4.1.1): `[]` → `["Open_vSwitch","_Server"]`.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn list_dbs(&self) -> Result<Vec<String>, Error> {
        self.call("list_dbs", json!([])).await
    }

    /// `get_schema` (RFC 7047 §4.1.2): the schema object (`name`, `version`, `tables`, …).
    ///
    /// # Errors
    /// [`Error::Server`] `unknown database`, or as [`Client::call`].
    pub async fn get_schema(&self, db: &str) -> Result<Json, Error> {
        self.call("get_schema", json!([db])).await
    }

    /// `echo` (RFC 7047 §4.1.11): the server returns `params` unchanged.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn echo(&self, params: Vec<Json>) -> Result<Vec<Json>, Error> {
        self.call("echo", Json::Array(params)).await
    }

    /// `transact` (RFC 7047 §4.1.3): `[db, op…]` → one result per operation.
    ///
    /// Every element of the result array is checked, including the extra trailing element
    /// that commit-time failures (constraints, references, duplicate index values) append.
    ///
    /// # Errors
    /// - [`Error::InvalidUuidName`] before sending if an `insert` has a uuid-name that is not an `<id>`;
    /// - [`Error::Transaction`] for the first `{"error":…}` element (`index`, `error`, `details`, `op`);
    /// - [`Error::Server`] (e.g. `unknown database`), [`Error::Rpc`], [`Error::Notation`].
    pub async fn transact(&self, db: &str, ops: Vec<Operation>) -> Result<Vec<OpResult>, Error> {
        for op in &ops {
            if let Operation::Insert {
                uuid_name: Some(n), ..
            } = op
            {
                if !is_id(n) {
                    return Err(Error::InvalidUuidName(n.clone()));
                }
            }
        }
        let mut params = vec![Json::from(db)];
        params.extend(ops.iter().map(Operation::to_json));
        let results: Vec<Json> = self.call("transact", Json::Array(params)).await?;
        check_results(ops, results)
    }
}

/// Turns a raw `transact` result array into typed results or the first per-operation error.
fn check_results(mut ops: Vec<Operation>, results: Vec<Json>) -> Result<Vec<OpResult>, Error> {
    for (index, r) in results.iter().enumerate() {
        if let Some(err) = r.get("error") {
            let op = (index < ops.len()).then(|| Box::new(ops.swap_remove(index)));
            return Err(Error::Transaction {
                index,
                error: err.as_str().map_or_else(|| err.to_string(), str::to_owned),
                details: r.get("details").and_then(Json::as_str).map(str::to_owned),
                op,
            });
        }
    }
    if results.len() < ops.len() {
        return Err(Error::Notation {
            reason: format!("{} results for {} operations", results.len(), ops.len()),
            value: Json::Array(results),
        });
    }
    results
        .iter()
        .take(ops.len())
        .map(OpResult::from_json)
        .collect()
}

fn rpc_error(method: &str, e: ClientError) -> Error {
    if let ClientError::Call(obj) = &e {
        if obj.code() == OVSDB_ERROR_CODE {
            let data: Option<Json> = obj.data().and_then(|d| serde_json::from_str(d.get()).ok());
            let details = data
                .as_ref()
                .and_then(|d| d.get("details"))
                .and_then(Json::as_str)
                .map(str::to_owned);
            return Error::Server {
                method: method.into(),
                error: obj.message().to_owned(),
                details,
            };
        }
    }
    Error::Rpc {
        method: method.into(),
        source: e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::Transaction;
    use crate::Value;

    #[test]
    fn the_trailing_commit_error_is_reported_with_its_index() {
        let ops = Transaction::new()
            .insert("Bridge", [("name", Value::from("b"))])
            .build();
        let err = check_results(
            ops,
            vec![
                json!({"uuid":["uuid","550e8400-e29b-41d4-a716-446655440000"]}),
                json!({"error":"constraint violation","details":"duplicate"}),
            ],
        )
        .unwrap_err();
        match err {
            Error::Transaction {
                index,
                error,
                details,
                op,
            } => {
                assert_eq!(
                    (index, error.as_str(), details.as_deref()),
                    (1, "constraint violation", Some("duplicate"))
                );
                assert!(op.is_none());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failing_operation_carries_the_operation() {
        let ops = Transaction::new()
            .comment("a")
            .select("Bridge", [], Some(&["nam"]))
            .comment("c")
            .build();
        let err = check_results(
            ops,
            vec![
                json!({}),
                json!({"error":"unknown column","details":"No column nam"}),
                Json::Null,
            ],
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::Transaction { index: 1, op: Some(op), .. } if op.kind() == "select"),
            "{err:?}"
        );
    }
}
