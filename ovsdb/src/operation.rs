//! RFC 7047 §5.2 transaction operations as data, their results, and a [`Transaction`] builder.
//!
//! Operations encode to the JSON objects of §5.2, conditions to `[column, function, value]`
//! (§5.1 `<condition>`) and mutations to `[column, mutator, value]` (§5.1 `<mutation>`).
//! Nothing here does I/O; [`crate::Client::transact`] sends the list.

use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value as Json};

use crate::notation::{row_from_json, row_to_json, Row, Uuid, Value};
use crate::Error;

/// Condition function (RFC 7047 §5.1 `<function>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `includes`
    Includes,
    /// `excludes`
    Excludes,
}

impl Function {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Function::Eq => "==",
            Function::Ne => "!=",
            Function::Lt => "<",
            Function::Le => "<=",
            Function::Gt => ">",
            Function::Ge => ">=",
            Function::Includes => "includes",
            Function::Excludes => "excludes",
        }
    }
}

/// `[column, function, value]` (RFC 7047 §5.1 `<condition>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Column name (`_uuid` and `_version` allowed).
    pub column: String,
    /// Comparison.
    pub function: Function,
    /// Right-hand side.
    pub value: Value,
}

impl Condition {
    /// Any condition.
    pub fn new(column: &str, function: Function, value: impl Into<Value>) -> Self {
        Condition {
            column: column.into(),
            function,
            value: value.into(),
        }
    }

    /// `[column, "==", value]`.
    pub fn eq(column: &str, value: impl Into<Value>) -> Self {
        Self::new(column, Function::Eq, value)
    }

    /// `["_uuid", "==", ["uuid", …]]`.
    pub fn uuid(uuid: &Uuid) -> Self {
        Self::eq("_uuid", uuid.clone())
    }

    fn to_json(&self) -> Json {
        json!([self.column, self.function.as_str(), self.value.to_json()])
    }
}

/// Mutator (RFC 7047 §5.1 `<mutator>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutator {
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// `/=`
    Div,
    /// `%=`
    Mod,
    /// `insert` (sets and maps).
    Insert,
    /// `delete` (sets; maps by key set or exact pairs).
    Delete,
}

impl Mutator {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Mutator::Add => "+=",
            Mutator::Sub => "-=",
            Mutator::Mul => "*=",
            Mutator::Div => "/=",
            Mutator::Mod => "%=",
            Mutator::Insert => "insert",
            Mutator::Delete => "delete",
        }
    }
}

/// `[column, mutator, value]` (RFC 7047 §5.1 `<mutation>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    /// Column name.
    pub column: String,
    /// What to do.
    pub mutator: Mutator,
    /// Operand.
    pub value: Value,
}

impl Mutation {
    /// Any mutation.
    pub fn new(column: &str, mutator: Mutator, value: impl Into<Value>) -> Self {
        Mutation {
            column: column.into(),
            mutator,
            value: value.into(),
        }
    }

    /// `[column, "insert", value]`: add to a set or map without reading it first.
    pub fn insert(column: &str, value: impl Into<Value>) -> Self {
        Self::new(column, Mutator::Insert, value)
    }

    /// `[column, "delete", value]`.
    pub fn delete(column: &str, value: impl Into<Value>) -> Self {
        Self::new(column, Mutator::Delete, value)
    }

    fn to_json(&self) -> Json {
        json!([self.column, self.mutator.as_str(), self.value.to_json()])
    }
}

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

/// The successful result of one operation (RFC 7047 §5.2), decoded by shape.
#[derive(Debug, Clone, PartialEq)]
pub enum OpResult {
    /// `{"uuid":["uuid",…]}` from `insert`.
    Inserted(Uuid),
    /// `{"rows":[…]}` from `select`.
    Rows(Vec<Row>),
    /// `{"count":n}` from `update`, `mutate` and `delete`.
    Count(u64),
    /// `{}` from `wait`, `commit`, `comment` and `assert`.
    Empty,
}

impl OpResult {
    /// Decodes one non-error element of a `transact` result array.
    ///
    /// # Errors
    /// [`Error::Notation`] if the element has none of the §5.2 result shapes.
    pub fn from_json(v: &Json) -> Result<Self, Error> {
        let bad = |reason: &str| Error::Notation {
            reason: reason.into(),
            value: v.clone(),
        };
        let o = v
            .as_object()
            .ok_or_else(|| bad("operation result is not an object"))?;
        if let Some(u) = o.get("uuid") {
            return match crate::notation::Atom::from_json(u)? {
                crate::notation::Atom::Uuid(u) => Ok(OpResult::Inserted(u)),
                _ => Err(bad("insert result uuid is not [\"uuid\",…]")),
            };
        }
        if let Some(rows) = o.get("rows") {
            let rows = rows.as_array().ok_or_else(|| bad("rows is not an array"))?;
            return rows
                .iter()
                .map(row_from_json)
                .collect::<Result<_, _>>()
                .map(OpResult::Rows);
        }
        if let Some(c) = o.get("count") {
            return c
                .as_u64()
                .map(OpResult::Count)
                .ok_or_else(|| bad("count is not a number"));
        }
        Ok(OpResult::Empty)
    }

    /// The UUID of an `insert` result.
    pub fn uuid(&self) -> Option<&Uuid> {
        match self {
            OpResult::Inserted(u) => Some(u),
            _ => None,
        }
    }

    /// The rows of a `select` result (empty for other results).
    pub fn rows(&self) -> &[Row] {
        match self {
            OpResult::Rows(r) => r,
            _ => &[],
        }
    }

    /// The count of an `update`/`mutate`/`delete` result.
    pub fn count(&self) -> Option<u64> {
        match self {
            OpResult::Count(c) => Some(*c),
            _ => None,
        }
    }
}

/// Builds the operation list of one `transact` (RFC 7047 §4.1.3).
///
/// ```
/// use ovsdb::{Condition, Mutation, Transaction, Value};
/// let ops = Transaction::new()
///     .insert_named("Interface", [("name", Value::from("p0"))], "iface")
///     .insert_named("Port", [("name", Value::from("p0")), ("interfaces", Value::named_uuid("iface"))], "port")
///     .mutate("Bridge", [Condition::eq("name", "br-int")], [Mutation::insert("ports", Value::named_uuid("port"))])
///     .comment("add port p0")
///     .build();
/// assert_eq!(ops.len(), 4);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Transaction {
    ops: Vec<Operation>,
}

fn row_of<'a>(row: impl IntoIterator<Item = (&'a str, Value)>) -> Row {
    row.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

impl Transaction {
    /// An empty transaction.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends any operation.
    pub fn op(mut self, op: Operation) -> Self {
        self.ops.push(op);
        self
    }

    /// `insert` without a uuid-name.
    pub fn insert<'a>(self, table: &str, row: impl IntoIterator<Item = (&'a str, Value)>) -> Self {
        self.op(Operation::Insert {
            table: table.into(),
            row: row_of(row),
            uuid_name: None,
        })
    }

    /// `insert` with `uuid-name` (must be an `<id>`: `[_A-Za-z][_A-Za-z0-9]*`).
    pub fn insert_named<'a>(
        self,
        table: &str,
        row: impl IntoIterator<Item = (&'a str, Value)>,
        uuid_name: &str,
    ) -> Self {
        self.op(Operation::Insert {
            table: table.into(),
            row: row_of(row),
            uuid_name: Some(uuid_name.into()),
        })
    }

    /// `select` of some columns (`None` = all).
    pub fn select(
        self,
        table: &str,
        conditions: impl IntoIterator<Item = Condition>,
        columns: Option<&[&str]>,
    ) -> Self {
        self.op(Operation::Select {
            table: table.into(),
            conditions: conditions.into_iter().collect(),
            columns: columns.map(|c| c.iter().map(|s| (*s).to_owned()).collect()),
        })
    }

    /// `update`.
    pub fn update<'a>(
        self,
        table: &str,
        conditions: impl IntoIterator<Item = Condition>,
        row: impl IntoIterator<Item = (&'a str, Value)>,
    ) -> Self {
        self.op(Operation::Update {
            table: table.into(),
            conditions: conditions.into_iter().collect(),
            row: row_of(row),
        })
    }

    /// `mutate`.
    pub fn mutate(
        self,
        table: &str,
        conditions: impl IntoIterator<Item = Condition>,
        mutations: impl IntoIterator<Item = Mutation>,
    ) -> Self {
        self.op(Operation::Mutate {
            table: table.into(),
            conditions: conditions.into_iter().collect(),
            mutations: mutations.into_iter().collect(),
        })
    }

    /// `delete`.
    pub fn delete(self, table: &str, conditions: impl IntoIterator<Item = Condition>) -> Self {
        self.op(Operation::Delete {
            table: table.into(),
            conditions: conditions.into_iter().collect(),
        })
    }

    /// `wait` until the selected rows' `columns` equal (`WaitUntil::Eq`) or differ from `rows`.
    pub fn wait(
        self,
        table: &str,
        conditions: impl IntoIterator<Item = Condition>,
        columns: &[&str],
        until: WaitUntil,
        rows: Vec<Row>,
        timeout_ms: Option<u64>,
    ) -> Self {
        self.op(Operation::Wait {
            table: table.into(),
            conditions: conditions.into_iter().collect(),
            columns: columns.iter().map(|s| (*s).to_owned()).collect(),
            until,
            rows,
            timeout_ms,
        })
    }

    /// `comment`.
    pub fn comment(self, text: &str) -> Self {
        self.op(Operation::Comment(text.into()))
    }

    /// The operations, in order.
    pub fn build(self) -> Vec<Operation> {
        self.ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_add_bridge_transaction_encodes_as_in_the_reference() {
        let ops = Transaction::new()
            .insert_named(
                "Interface",
                [("name", "br-test".into()), ("type", "internal".into())],
                "iface_br",
            )
            .mutate(
                "Open_vSwitch",
                [],
                [
                    Mutation::insert("bridges", Value::named_uuid("br")),
                    Mutation::new("next_cfg", Mutator::Add, 1),
                ],
            )
            .select("Open_vSwitch", [], Some(&["next_cfg"]))
            .comment("agent: add bridge br-test")
            .build();
        let got: Vec<Json> = ops.iter().map(Operation::to_json).collect();
        assert_eq!(
            Json::Array(got),
            json!([
                {"op":"insert","table":"Interface","row":{"name":"br-test","type":"internal"},"uuid-name":"iface_br"},
                {"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["bridges","insert",["named-uuid","br"]],["next_cfg","+=",1]]},
                {"op":"select","table":"Open_vSwitch","where":[],"columns":["next_cfg"]},
                {"op":"comment","comment":"agent: add bridge br-test"}
            ])
        );
    }

    #[test]
    fn wait_encodes_until_rows_and_timeout() {
        let row: Row = [("name".to_owned(), Value::from("br-test"))].into();
        let op = Transaction::new()
            .wait(
                "Bridge",
                [Condition::eq("name", "br-test")],
                &["name"],
                WaitUntil::Eq,
                vec![row],
                Some(0),
            )
            .build();
        assert_eq!(
            op[0].to_json(),
            json!({"op":"wait","table":"Bridge","where":[["name","==","br-test"]],"columns":["name"],"until":"==","rows":[{"name":"br-test"}],"timeout":0})
        );
    }

    #[test]
    fn results_decode_by_shape() {
        let u = "550e8400-e29b-41d4-a716-446655440000";
        assert_eq!(
            OpResult::from_json(&json!({"uuid":["uuid",u]}))
                .unwrap()
                .uuid()
                .unwrap()
                .as_str(),
            u
        );
        assert_eq!(
            OpResult::from_json(&json!({"count":2})).unwrap().count(),
            Some(2)
        );
        let rows = OpResult::from_json(&json!({"rows":[{"next_cfg":4}]})).unwrap();
        assert_eq!(rows.rows()[0]["next_cfg"].as_i64(), Some(4));
        assert_eq!(OpResult::from_json(&json!({})).unwrap(), OpResult::Empty);
    }
}
