//! The results of operations (RFC 7047 §5.2), decoded by shape.

use super::*;

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
