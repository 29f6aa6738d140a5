//! Conditions (RFC 7047 §5.1 `<condition>`) and mutations (§5.1 `<mutation>`).

use super::*;

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

    pub(super) fn to_json(&self) -> Json {
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

    pub(super) fn to_json(&self) -> Json {
        json!([self.column, self.mutator.as_str(), self.value.to_json()])
    }
}
