//! RFC 7047 §5.2 transaction operations as data, their results, and a [`Transaction`] builder.
//!
//! Operations encode to the JSON objects of §5.2, conditions to `[column, function, value]`
//! (§5.1 `<condition>`) and mutations to `[column, mutator, value]` (§5.1 `<mutation>`).
//! Nothing here does I/O; [`crate::Client::transact`] sends the list.

use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value as Json};

use crate::notation::{row_from_json, row_to_json, Row, Uuid, Value};
use crate::Error;

mod condition;
mod result;
#[cfg(test)]
mod tests;
mod transaction;

pub use condition::{Condition, Function, Mutation, Mutator};
pub use result::OpResult;
pub use transaction::Transaction;

/// `until` of a `wait` operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitUntil {
    /// Wait until the selected rows equal `rows`.
    Eq,
    /// Wait until they differ.
    Ne,
}

/// One transaction operation (RFC 7047 §5.2.1-§5.2.11; `assert` is §5.2.10).
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// §5.2.1 `insert`; `uuid_name` lets later ops refer to the row as `["named-uuid", name]`.
    Insert {
        /// Table.
        table: String,
        /// Initial column values.
        row: Row,
        /// `uuid-name` (an `<id>`).
        uuid_name: Option<String>,
    },
    /// §5.2.2 `select`; result `{"rows":[…]}`.
    Select {
        /// Table.
        table: String,
        /// `where` (all must hold; empty = every row).
        conditions: Vec<Condition>,
        /// Columns to return; `None` = all.
        columns: Option<Vec<String>>,
    },
    /// §5.2.3 `update`; result `{"count":n}`.
    Update {
        /// Table.
        table: String,
        /// `where`.
        conditions: Vec<Condition>,
        /// New column values.
        row: Row,
    },
    /// §5.2.4 `mutate`; result `{"count":n}`.
    Mutate {
        /// Table.
        table: String,
        /// `where`.
        conditions: Vec<Condition>,
        /// Mutations applied in order.
        mutations: Vec<Mutation>,
    },
    /// §5.2.5 `delete`; result `{"count":n}`.
    Delete {
        /// Table.
        table: String,
        /// `where`.
        conditions: Vec<Condition>,
    },
    /// §5.2.6 `wait`; result `{}` or the error `timed out`.
    Wait {
        /// Table.
        table: String,
        /// `where`.
        conditions: Vec<Condition>,
        /// Columns compared.
        columns: Vec<String>,
        /// `==` or `!=`.
        until: WaitUntil,
        /// Expected rows (only `columns`).
        rows: Vec<Row>,
        /// Milliseconds; `Some(0)` checks once, `None` waits forever.
        timeout_ms: Option<u64>,
    },
    /// §5.2.7 `commit`.
    Commit {
        /// Wait for the commit to reach disk.
        durable: bool,
    },
    /// §5.2.8 `abort`: always fails with `aborted`.
    Abort,
    /// §5.2.9 `comment`: text logged with the transaction.
    Comment(String),
    /// §5.2.10 `assert`: fails with `not owner` unless the lock is held.
    Assert {
        /// Lock id.
        lock: String,
    },
}

fn where_json(conditions: &[Condition]) -> Json {
    Json::Array(conditions.iter().map(Condition::to_json).collect())
}

impl Operation {
    /// The `op` member (`"insert"`, `"select"`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Operation::Insert { .. } => "insert",
            Operation::Select { .. } => "select",
            Operation::Update { .. } => "update",
            Operation::Mutate { .. } => "mutate",
            Operation::Delete { .. } => "delete",
            Operation::Wait { .. } => "wait",
            Operation::Commit { .. } => "commit",
            Operation::Abort => "abort",
            Operation::Comment(_) => "comment",
            Operation::Assert { .. } => "assert",
        }
    }

    /// The JSON object of RFC 7047 §5.2.
    pub fn to_json(&self) -> Json {
        let mut o = Map::new();
        o.insert("op".into(), self.kind().into());
        match self {
            Operation::Insert {
                table,
                row,
                uuid_name,
            } => {
                o.insert("table".into(), table.as_str().into());
                o.insert("row".into(), row_to_json(row));
                if let Some(n) = uuid_name {
                    o.insert("uuid-name".into(), n.as_str().into());
                }
            }
            Operation::Select {
                table,
                conditions,
                columns,
            } => {
                o.insert("table".into(), table.as_str().into());
                o.insert("where".into(), where_json(conditions));
                if let Some(c) = columns {
                    o.insert("columns".into(), json!(c));
                }
            }
            Operation::Update {
                table,
                conditions,
                row,
            } => {
                o.insert("table".into(), table.as_str().into());
                o.insert("where".into(), where_json(conditions));
                o.insert("row".into(), row_to_json(row));
            }
            Operation::Mutate {
                table,
                conditions,
                mutations,
            } => {
                o.insert("table".into(), table.as_str().into());
                o.insert("where".into(), where_json(conditions));
                o.insert(
                    "mutations".into(),
                    Json::Array(mutations.iter().map(Mutation::to_json).collect()),
                );
            }
            Operation::Delete { table, conditions } => {
                o.insert("table".into(), table.as_str().into());
                o.insert("where".into(), where_json(conditions));
            }
            Operation::Wait {
                table,
                conditions,
                columns,
                until,
                rows,
                timeout_ms,
            } => {
                o.insert("table".into(), table.as_str().into());
                o.insert("where".into(), where_json(conditions));
                o.insert("columns".into(), json!(columns));
                let until = match until {
                    WaitUntil::Eq => "==",
                    WaitUntil::Ne => "!=",
                };
                o.insert("until".into(), until.into());
                o.insert(
                    "rows".into(),
                    Json::Array(rows.iter().map(row_to_json).collect()),
                );
                if let Some(t) = timeout_ms {
                    o.insert("timeout".into(), json!(t));
                }
            }
            Operation::Commit { durable } => {
                o.insert("durable".into(), json!(durable));
            }
            Operation::Abort => {}
            Operation::Comment(c) => {
                o.insert("comment".into(), c.as_str().into());
            }
            Operation::Assert { lock } => {
                o.insert("lock".into(), lock.as_str().into());
            }
        }
        Json::Object(o)
    }
}

impl Serialize for Operation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}
