//! [`Transaction`]: a builder of operation lists.

use super::*;

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

pub(super) fn row_of<'a>(row: impl IntoIterator<Item = (&'a str, Value)>) -> Row {
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
