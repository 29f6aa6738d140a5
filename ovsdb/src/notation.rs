//! RFC 7047 §5.1 value notation: atoms, sets, maps and UUIDs.
//!
//! JSON shapes handled here:
//!
//! | Rust | JSON |
//! |---|---|
//! | [`Atom::Integer`] / [`Atom::Real`] / [`Atom::Boolean`] / [`Atom::String`] | `42` / `1.5` / `true` / `"br-int"` |
//! | [`Atom::Uuid`] | `["uuid","550e8400-e29b-41d4-a716-446655440000"]` |
//! | [`Atom::NamedUuid`] | `["named-uuid","iface0"]` (only inside the transaction that names it) |
//! | [`Value::Set`] | `["set",[atom, ...]]`; decoders also accept a bare atom as a 1-element set |
//! | [`Value::Map`] | `["map",[[key, value], ...]]` |
//!
//! Encoding always writes sets in the `["set",[...]]` form, which RFC 7047 allows for any size.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value as Json};

use crate::Error;

/// A row: column name to value, as in `insert`/`update` ops and `select` results (RFC 7047 §5.1 `<row>`).
pub type Row = BTreeMap<String, Value>;

/// A row UUID in its canonical 36-character text form (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uuid(String);

impl Uuid {
    /// Parses the 36-character textual form.
    ///
    /// # Errors
    /// [`Error::Notation`] if `s` is not 8-4-4-4-12 hexadecimal digits.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let ok = s.len() == 36
            && s.char_indices().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => c == '-',
                _ => c.is_ascii_hexdigit(),
            });
        if ok {
            Ok(Uuid(s.to_ascii_lowercase()))
        } else {
            Err(Error::Notation {
                reason: "not a 36-character UUID".into(),
                value: Json::String(s.into()),
            })
        }
    }

    /// The textual form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `name` is a valid `<id>` (`[_A-Za-z][_A-Za-z0-9]*`), as RFC 7047 §3.1 requires for
/// `uuid-name`s and lock ids.
pub fn is_id(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// One OVSDB atom (RFC 7047 §5.1 `<atom>`).
#[derive(Debug, Clone, PartialEq)]
pub enum Atom {
    /// 64-bit integer.
    Integer(i64),
    /// Real number.
    Real(f64),
    /// Boolean.
    Boolean(bool),
    /// String.
    String(String),
    /// `["uuid","…"]`.
    Uuid(Uuid),
    /// `["named-uuid","<id>"]`: a row inserted earlier in the same transaction.
    NamedUuid(String),
}

impl Atom {
    /// The JSON form.
    pub fn to_json(&self) -> Json {
        match self {
            Atom::Integer(i) => json!(i),
            Atom::Real(r) => json!(r),
            Atom::Boolean(b) => json!(b),
            Atom::String(s) => json!(s),
            Atom::Uuid(u) => json!(["uuid", u.as_str()]),
            Atom::NamedUuid(n) => json!(["named-uuid", n]),
        }
    }

    /// Decodes the JSON form.
    ///
    /// # Errors
    /// [`Error::Notation`] with the offending JSON.
    pub fn from_json(v: &Json) -> Result<Self, Error> {
        let bad = |reason: &str| Error::Notation {
            reason: reason.into(),
            value: v.clone(),
        };
        match v {
            Json::Bool(b) => Ok(Atom::Boolean(*b)),
            Json::String(s) => Ok(Atom::String(s.clone())),
            Json::Number(n) => n
                .as_i64()
                .map(Atom::Integer)
                .or_else(|| n.as_f64().map(Atom::Real))
                .ok_or_else(|| bad("number out of range")),
            Json::Array(a) => match (a.first().and_then(Json::as_str), a.get(1), a.len()) {
                (Some("uuid"), Some(Json::String(s)), 2) => Ok(Atom::Uuid(Uuid::parse(s)?)),
                (Some("named-uuid"), Some(Json::String(s)), 2) => Ok(Atom::NamedUuid(s.clone())),
                _ => Err(bad("not an atom")),
            },
            _ => Err(bad("not an atom")),
        }
    }

    /// The string, if this is a string atom.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Atom::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an integer atom.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Atom::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The UUID, if this is a `["uuid",…]` atom.
    pub fn as_uuid(&self) -> Option<&Uuid> {
        match self {
            Atom::Uuid(u) => Some(u),
            _ => None,
        }
    }
}

impl From<&str> for Atom {
    fn from(s: &str) -> Self {
        Atom::String(s.into())
    }
}
impl From<String> for Atom {
    fn from(s: String) -> Self {
        Atom::String(s)
    }
}
impl From<i64> for Atom {
    fn from(i: i64) -> Self {
        Atom::Integer(i)
    }
}
impl From<bool> for Atom {
    fn from(b: bool) -> Self {
        Atom::Boolean(b)
    }
}
impl From<Uuid> for Atom {
    fn from(u: Uuid) -> Self {
        Atom::Uuid(u)
    }
}

/// A column value (RFC 7047 §5.1 `<value>`): an atom, a set or a map.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A single atom (also what the server sends for a 1-element set).
    Atom(Atom),
    /// `["set",[…]]`. The empty set clears an optional column.
    Set(Vec<Atom>),
    /// `["map",[[k,v],…]]`.
    Map(Vec<(Atom, Atom)>),
}

impl Value {
    /// The empty set `["set",[]]`.
    pub fn empty_set() -> Self {
        Value::Set(Vec::new())
    }

    /// A set of atoms.
    pub fn set<A: Into<Atom>>(items: impl IntoIterator<Item = A>) -> Self {
        Value::Set(items.into_iter().map(Into::into).collect())
    }

    /// A map of atoms.
    pub fn map<K: Into<Atom>, V: Into<Atom>>(items: impl IntoIterator<Item = (K, V)>) -> Self {
        Value::Map(
            items
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// A `["named-uuid", name]` atom.
    pub fn named_uuid(name: &str) -> Self {
        Value::Atom(Atom::NamedUuid(name.into()))
    }

    /// The JSON form.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Atom(a) => a.to_json(),
            Value::Set(s) => json!(["set", s.iter().map(Atom::to_json).collect::<Vec<_>>()]),
            Value::Map(m) => json!([
                "map",
                m.iter()
                    .map(|(k, v)| json!([k.to_json(), v.to_json()]))
                    .collect::<Vec<_>>()
            ]),
        }
    }

    /// Decodes the JSON form.
    ///
    /// # Errors
    /// [`Error::Notation`] with the offending JSON.
    pub fn from_json(v: &Json) -> Result<Self, Error> {
        let bad = |reason: &str| Error::Notation {
            reason: reason.into(),
            value: v.clone(),
        };
        if let Json::Array(a) = v {
            match (a.first().and_then(Json::as_str), a.get(1), a.len()) {
                (Some("set"), Some(Json::Array(items)), 2) => {
                    return items
                        .iter()
                        .map(Atom::from_json)
                        .collect::<Result<_, _>>()
                        .map(Value::Set);
                }
                (Some("map"), Some(Json::Array(pairs)), 2) => {
                    return pairs
                        .iter()
                        .map(|p| match p {
                            Json::Array(kv) if kv.len() == 2 => {
                                Ok((Atom::from_json(&kv[0])?, Atom::from_json(&kv[1])?))
                            }
                            _ => Err(bad("map pair is not [key, value]")),
                        })
                        .collect::<Result<_, _>>()
                        .map(Value::Map);
                }
                (Some("set" | "map"), _, _) => return Err(bad("malformed set or map")),
                _ => {}
            }
        }
        Atom::from_json(v).map(Value::Atom)
    }

    /// The elements, treating a bare atom as a 1-element set (RFC 7047 §5.1).
    /// A map yields nothing.
    pub fn as_set(&self) -> Vec<&Atom> {
        match self {
            Value::Atom(a) => vec![a],
            Value::Set(s) => s.iter().collect(),
            Value::Map(_) => Vec::new(),
        }
    }

    /// The single atom of an atom or 1-element set (e.g. an optional column that is set).
    pub fn as_atom(&self) -> Option<&Atom> {
        match self {
            Value::Atom(a) => Some(a),
            Value::Set(s) if s.len() == 1 => Some(&s[0]),
            _ => None,
        }
    }

    /// The string of a string atom (or 1-element set).
    pub fn as_str(&self) -> Option<&str> {
        self.as_atom().and_then(Atom::as_str)
    }

    /// The integer of an integer atom (or 1-element set).
    pub fn as_i64(&self) -> Option<i64> {
        self.as_atom().and_then(Atom::as_i64)
    }

    /// The UUID of a uuid atom (or 1-element set).
    pub fn as_uuid(&self) -> Option<&Uuid> {
        self.as_atom().and_then(Atom::as_uuid)
    }

    /// A string-to-string map (e.g. `external_ids`); non-string pairs are skipped.
    pub fn as_string_map(&self) -> BTreeMap<String, String> {
        match self {
            Value::Map(m) => m
                .iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())))
                .collect(),
            _ => BTreeMap::new(),
        }
    }
}

impl<T: Into<Atom>> From<T> for Value {
    fn from(a: T) -> Self {
        Value::Atom(a.into())
    }
}

impl Serialize for Atom {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}
impl<'de> Deserialize<'de> for Atom {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Atom::from_json(&Json::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::from_json(&Json::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}
impl Serialize for Uuid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        json!(["uuid", self.0]).serialize(s)
    }
}
impl<'de> Deserialize<'de> for Uuid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Atom::deserialize(d)? {
            Atom::Uuid(u) => Ok(u),
            other => Err(serde::de::Error::custom(format!(
                "expected [\"uuid\",…], got {other:?}"
            ))),
        }
    }
}

/// Decodes a row object (`{"column": value, …}`).
///
/// # Errors
/// [`Error::Notation`] if it is not an object or a column value does not decode.
pub fn row_from_json(v: &Json) -> Result<Row, Error> {
    let obj = v.as_object().ok_or_else(|| Error::Notation {
        reason: "row is not an object".into(),
        value: v.clone(),
    })?;
    obj.iter()
        .map(|(k, v)| Ok((k.clone(), Value::from_json(v)?)))
        .collect()
}

/// Encodes a row as a JSON object.
pub fn row_to_json(row: &Row) -> Json {
    Json::Object(row.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "550e8400-e29b-41d4-a716-446655440000";

    #[test]
    fn every_shape_round_trips_through_json() {
        let cases = [
            json!(42),
            json!(1.5),
            json!(true),
            json!("br-int"),
            json!(["uuid", U]),
            json!(["named-uuid", "iface0"]),
            json!(["set", []]),
            json!(["set", ["OpenFlow13", "OpenFlow15"]]),
            json!(["map", [["owner", "agent"], ["k", ["uuid", U]]]]),
        ];
        for c in cases {
            let v: Value = serde_json::from_value(c.clone()).unwrap();
            assert_eq!(serde_json::to_value(&v).unwrap(), c);
        }
    }

    #[test]
    fn a_bare_atom_reads_as_a_one_element_set() {
        let v = Value::from_json(&json!("secure")).unwrap();
        assert_eq!(v.as_set(), vec![&Atom::String("secure".into())]);
        assert_eq!(
            Value::from_json(&json!(["set", [7]])).unwrap().as_i64(),
            Some(7)
        );
        assert_eq!(
            Value::from_json(&json!(["set", []])).unwrap().as_str(),
            None
        );
    }

    #[test]
    fn malformed_notation_is_rejected_with_the_value() {
        for bad in [
            json!(["set", 1]),
            json!(["map", [[1]]]),
            json!(["uuid", "x"]),
            json!(null),
            json!({}),
        ] {
            assert!(Value::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_follow_rfc_7047_id_syntax() {
        assert!(is_id("iface_br") && is_id("_x1"));
        assert!(!is_id("agent-lock") && !is_id("1a") && !is_id(""));
    }
}
