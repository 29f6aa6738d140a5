//! The cluster's objects at one moment, as the controller holds them after its initial lists:
//! each list the API server answered (`GET /api/v1/pods`, `.../networkpolicies`, ...) converted
//! item by item by the watchers' own [`Source`]s (so by [`super::convert`]), into the model's
//! [`Cluster`] and [`PolicySet`]. `kubectl kakine explain` and `matrix` answer from it
//! (docs/install.md, "The kubectl plugin").

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::convert::ConvertError;
use super::watch::{Namespaces, Nodes, Pods, Policies, Source};
use crate::policy::{Cluster, PolicySet};

/// The objects of a cluster in the model, and what was left out.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Nodes, namespaces and pods (those with an IP).
    pub cluster: Cluster,
    /// Every policy object that converts.
    pub objects: PolicySet,
    /// Objects that do not convert (the controller logs and leaves them out too), each naming
    /// the object and field.
    pub left_out: Vec<ConvertError>,
    /// Pods without an IP yet, or finished (`namespace/name`): not in the model.
    pub pending_pods: Vec<String>,
}

/// Which list an API answer is.
#[derive(Debug, Clone)]
pub enum ListOf {
    /// `core/v1` Pods.
    Pods,
    /// `core/v1` Namespaces.
    Namespaces,
    /// `core/v1` Nodes.
    Nodes,
    /// A policy kind ([`super::policy_resources`]).
    Policies(::kube::core::ApiResource),
}

/// The items of `list` (an API list's JSON, `{"items": [...]}`) converted by `source`: the
/// converted values, and the keys (`namespace/name`) of items left out for now.
///
/// Items of typed lists come without `apiVersion` and `kind` (the API server leaves them out):
/// they are set from `api_version` and `kind` first.
fn convert_items<S: Source>(
    source: &S,
    list: &Value,
    api_version: &str,
    kind: &str,
    left_out: &mut Vec<ConvertError>,
) -> (Vec<S::Value>, Vec<String>)
where
    S::Object: DeserializeOwned,
{
    let (mut values, mut skipped) = (Vec::new(), Vec::new());
    for item in list["items"].as_array().into_iter().flatten() {
        let mut item = item.clone();
        item["apiVersion"] = api_version.into();
        item["kind"] = kind.into();
        let meta = &item["metadata"];
        let key = match meta["namespace"].as_str() {
            Some(ns) => format!("{ns}/{}", meta["name"].as_str().unwrap_or_default()),
            None => meta["name"].as_str().unwrap_or_default().to_string(),
        };
        let object: S::Object = match serde_json::from_value(item) {
            Ok(o) => o,
            Err(e) => {
                left_out.push(ConvertError {
                    object: format!("{kind} \"{key}\""),
                    problems: vec![e.to_string()],
                });
                continue;
            }
        };
        match source.convert(&object) {
            Ok(Some(v)) => values.push(v),
            Ok(None) => skipped.push(key),
            Err(e) => left_out.push(e),
        }
    }
    (values, skipped)
}

impl Snapshot {
    /// Adds the items of one list answer.
    pub fn add(&mut self, of: &ListOf, list: &Value) {
        let left_out = &mut self.left_out;
        match of {
            ListOf::Pods => {
                let (pods, pending) = convert_items(&Pods, list, "v1", "Pod", left_out);
                self.cluster.pods.extend(pods);
                self.pending_pods.extend(pending);
            }
            ListOf::Namespaces => {
                let (ns, _) = convert_items(&Namespaces, list, "v1", "Namespace", left_out);
                self.cluster.namespaces.extend(ns);
            }
            ListOf::Nodes => {
                let (nodes, _) = convert_items(&Nodes, list, "v1", "Node", left_out);
                self.cluster.nodes.extend(nodes);
            }
            ListOf::Policies(r) => {
                let source = Policies {
                    resource: r.clone(),
                    generations: None,
                };
                let (objects, _) = convert_items(&source, list, &r.api_version, &r.kind, left_out);
                for o in objects {
                    self.objects.push(o);
                }
            }
        }
    }
}
