//! Kubernetes label selectors (`matchLabels` + `matchExpressions`), as in `metav1.LabelSelector`.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

/// Labels of a pod or namespace.
pub type Labels = BTreeMap<String, String>;

/// A label selector; the empty selector selects everything.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    /// Every key must be present with exactly this value.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub match_labels: Labels,
    /// Every requirement must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<Requirement>,
}

/// One `matchExpressions` entry.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// Label key.
    pub key: String,
    /// Operator.
    pub operator: Operator,
    /// Values for `In` / `NotIn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// A `matchExpressions` operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, JsonSchema)]
pub enum Operator {
    /// The label's value is one of `values`.
    In,
    /// The label is absent or its value is none of `values`.
    NotIn,
    /// The key is present.
    Exists,
    /// The key is absent.
    DoesNotExist,
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operator::In => "In",
            Operator::NotIn => "NotIn",
            Operator::Exists => "Exists",
            Operator::DoesNotExist => "DoesNotExist",
        })
    }
}

impl<'de> Deserialize<'de> for Operator {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "In" => Ok(Operator::In),
            "NotIn" => Ok(Operator::NotIn),
            "Exists" => Ok(Operator::Exists),
            "DoesNotExist" => Ok(Operator::DoesNotExist),
            _ => Err(de::Error::custom(format!(
                "unknown operator \"{s}\" (expected In, NotIn, Exists or DoesNotExist)"
            ))),
        }
    }
}

impl Requirement {
    /// Whether `labels` satisfy the requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

impl LabelSelector {
    /// A selector with the given `matchLabels` only.
    pub fn labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        LabelSelector {
            match_labels: pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            match_expressions: Vec::new(),
        }
    }

    /// Adds a `matchExpressions` requirement.
    pub fn with_expression(mut self, key: &str, operator: Operator, values: &[&str]) -> Self {
        self.match_expressions.push(Requirement {
            key: key.to_string(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        });
        self
    }

    /// The same selector in a canonical form: expressions and their values sorted and
    /// deduplicated, so that equal selectors compare (and hash) equal.
    pub fn normalized(&self) -> LabelSelector {
        let mut expressions: Vec<Requirement> = self
            .match_expressions
            .iter()
            .map(|r| {
                let mut values = r.values.clone();
                values.sort();
                values.dedup();
                Requirement {
                    key: r.key.clone(),
                    operator: r.operator,
                    values,
                }
            })
            .collect();
        expressions.sort();
        expressions.dedup();
        LabelSelector {
            match_labels: self.match_labels.clone(),
            match_expressions: expressions,
        }
    }

    /// Whether `labels` are selected.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_empty_selector_selects_everything() {
        assert!(LabelSelector::default().matches(&Labels::new()));
        assert!(LabelSelector::default().matches(&labels(&[("a", "b")])));
    }

    #[test]
    fn match_labels_require_every_pair() {
        let s = LabelSelector::labels([("pod", "a"), ("ns", "x")]);
        assert!(s.matches(&labels(&[("pod", "a"), ("ns", "x"), ("z", "1")])));
        assert!(!s.matches(&labels(&[("pod", "a")])));
    }

    #[test]
    fn not_in_matches_pods_without_the_key() {
        let s = LabelSelector::default().with_expression("ns", Operator::NotIn, &["x"]);
        assert!(s.matches(&labels(&[])));
        assert!(s.matches(&labels(&[("ns", "y")])));
        assert!(!s.matches(&labels(&[("ns", "x")])));
    }

    #[test]
    fn in_exists_and_does_not_exist_behave_like_kubernetes() {
        let l = labels(&[("ns", "y")]);
        let sel = |op, v: &[&str]| LabelSelector::default().with_expression("ns", op, v);
        assert!(sel(Operator::In, &["x", "y"]).matches(&l));
        assert!(!sel(Operator::In, &["x"]).matches(&l));
        assert!(sel(Operator::Exists, &[]).matches(&l));
        assert!(!sel(Operator::DoesNotExist, &[]).matches(&l));
    }

    #[test]
    fn an_unknown_operator_is_an_error_naming_it() {
        let v = serde_json::json!({"key": "a", "operator": "Equals", "values": []});
        let err = serde_json::from_value::<Requirement>(v).unwrap_err();
        assert!(
            err.to_string().contains("unknown operator \"Equals\""),
            "{err}"
        );
    }
}
