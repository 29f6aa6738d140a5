//! The `crd.kakine.io/v1beta1` custom resources: Tier, ClusterNetworkPolicy (`kcnp`),
//! NetworkPolicy (`knp`, namespaced), ClusterGroup and Group.
//!
//! The specs are the policy model's own types ([`crate::policy::model`]): one model, whose field
//! names are Antrea's (`crd.antrea.io/v1beta1`, `pkg/apis/crd/v1beta1/types.go`), so an Antrea
//! manifest with its `apiVersion` changed is a kakine one. The OpenAPI schemas are derived from
//! those types (schemars) and carry the CEL `x-kubernetes-validations` of the model's checks
//! that need no other object; [`crds`] renders them, `manifests/crds/` holds them (regenerated
//! with `KAKINE_REGEN_CRDS=1 cargo test --test kube_crds`).

use ::kube::CustomResource;
use ::kube::CustomResourceExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::policy::model::{AntreaPolicySpec, ClusterGroupSpec, TierSpec};

/// The API group of kakine's custom resources.
pub const GROUP: &str = "crd.kakine.io";

/// The version of kakine's custom resources.
pub const VERSION: &str = "v1beta1";

/// Declares a kakine CRD whose spec is a model type: the derive, the group, the version and
/// the category every kind shares, then the kind's own `#[kube]` attributes.
macro_rules! kakine_crd {
    ($(#[$doc:meta])* $spec:ident($model:ty) { $($kube:tt)* }) => {
        $(#[$doc])*
        #[derive(CustomResource, Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
        #[kube(group = "crd.kakine.io", version = "v1beta1", category = "kakine", $($kube)*)]
        #[serde(transparent)]
        pub struct $spec(pub $model);
    };
}

/// Declares a policy CRD: a kakine CRD of an [`AntreaPolicySpec`] with a [`PolicyStatus`] and
/// the printer columns of `kubectl get acnp` (Tier, Priority, Desired Nodes, Current Nodes,
/// Age).
macro_rules! policy_crd {
    ($(#[$doc:meta])* $spec:ident { $($kube:tt)* }) => {
        kakine_crd! {
            $(#[$doc])*
            $spec(AntreaPolicySpec) {
                $($kube)*
                status = "PolicyStatus",
                printcolumn = r#"{"name": "Tier", "type": "string", "jsonPath": ".spec.tier", "description": "The tier the policy belongs to."}"#,
                printcolumn = r#"{"name": "Priority", "type": "number", "jsonPath": ".spec.priority", "description": "The priority of the policy in its tier."}"#,
                printcolumn = r#"{"name": "Desired Nodes", "type": "integer", "jsonPath": ".status.desiredNodesRealized", "description": "The number of nodes that should realize the policy."}"#,
                printcolumn = r#"{"name": "Current Nodes", "type": "integer", "jsonPath": ".status.currentNodesRealized", "description": "The number of nodes that have realized the policy."}"#,
                printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
            }
        }
    };
}

policy_crd! {
    /// `ClusterNetworkPolicy.spec` (`crd.kakine.io/v1beta1`): Antrea's
    /// ClusterNetworkPolicySpec.
    ClusterNetworkPolicySpec {
        kind = "ClusterNetworkPolicy",
        doc = "A kakine ClusterNetworkPolicy: tiered, cluster-wide policy (Antrea's ACNP).",
        shortname = "kcnp",
    }
}

policy_crd! {
    /// `NetworkPolicy.spec` (`crd.kakine.io/v1beta1`, namespaced): Antrea's NetworkPolicySpec.
    NetworkPolicySpec {
        kind = "NetworkPolicy",
        doc = "A kakine NetworkPolicy: tiered policy in a namespace (Antrea's ANNP).",
        namespaced,
        shortname = "knp",
    }
}

kakine_crd! {
    /// `Tier.spec` (`crd.kakine.io/v1beta1`): priority (0..=255) and description.
    TierResourceSpec(TierSpec) {
        kind = "Tier",
        doc = "A tier: an ordered group of kakine policies.",
        shortname = "ktr",
        printcolumn = r#"{"name": "Priority", "type": "integer", "jsonPath": ".spec.priority", "description": "The priority of the tier."}"#,
        printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
    }
}

kakine_crd! {
    /// `ClusterGroup.spec` (`crd.kakine.io/v1beta1`).
    ClusterGroupResourceSpec(ClusterGroupSpec) {
        kind = "ClusterGroup",
        doc = "A group of pods, namespaces or IP blocks, for kakine policies.",
        shortname = "kcg",
        printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
    }
}

kakine_crd! {
    /// `Group.spec` (`crd.kakine.io/v1beta1`, namespaced): a ClusterGroup's shape, in a
    /// namespace.
    GroupResourceSpec(ClusterGroupSpec) {
        kind = "Group",
        doc = "A group of pods or IP blocks in a namespace, for kakine NetworkPolicies.",
        namespaced,
        shortname = "kg",
        printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
    }
}

/// The status of a ClusterNetworkPolicy or NetworkPolicy: realization counts only, as Antrea's
/// `NetworkPolicyStatus` (`pkg/apis/crd/v1beta1/types.go`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatus {
    /// `Realizing`, `Realized` (every node of its span realized its current generation) or
    /// `Failed` (every node of its span realized or failed it, some failed); Antrea's phases.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phase: String,
    /// The `metadata.generation` these counts are of.
    #[serde(default)]
    pub observed_generation: i64,
    /// Nodes that realized the policy.
    #[serde(default)]
    pub current_nodes_realized: i32,
    /// Nodes whose span holds the policy.
    #[serde(default)]
    pub desired_nodes_realized: i32,
    /// `Realizable`, `RealizationFailure` and `RealizationPending`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<PolicyCondition>,
}

/// A condition of a policy's status (Antrea's `NetworkPolicyCondition`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyCondition {
    /// `Realizable`, `RealizationFailure` or `RealizationPending`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// RFC 3339 time the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// A CamelCase reason.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// A human-readable message (for `RealizationFailure`: the failed nodes and why; for
    /// `RealizationPending`: the nodes where it is pending and what it waits for).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// Every kakine CRD, in a fixed order: `(file name, CRD)`. The file name is
/// `crd.kakine.io_<plural>.yaml`, as controller-gen names them.
pub fn crds() -> Vec<(String, CustomResourceDefinition)> {
    [
        Tier::crd(),
        ClusterNetworkPolicy::crd(),
        NetworkPolicy::crd(),
        ClusterGroup::crd(),
        Group::crd(),
    ]
    .into_iter()
    .map(|crd| {
        (
            format!("{GROUP}_{}.yaml", crd.spec.names.plural),
            structural(crd),
        )
    })
    .collect()
}

/// The CRD with `additionalProperties: false` dropped where `properties` is given (the model's
/// `deny_unknown_fields`): a structural schema may not have both, and the API server prunes or,
/// with strict field validation, refuses fields the schema does not name anyway. Integer
/// formats narrower than `int32` become `int32` (Kubernetes' formats are int32 and int64).
fn structural(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                if map.contains_key("properties")
                    && map.get("additionalProperties") == Some(&Value::Bool(false))
                {
                    map.remove("additionalProperties");
                }
                // Kubernetes knows int32 and int64, not schemars' narrower formats (the
                // narrower range is in minimum and maximum).
                if let Some(Value::String(f)) = map.get("format") {
                    if matches!(f.as_str(), "uint8" | "uint16" | "uint32" | "int8" | "int16") {
                        map.insert("format".into(), Value::String("int32".into()));
                    }
                }
                map.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::to_value(&crd) else {
        return crd;
    };
    walk(&mut value);
    serde_json::from_value(value).unwrap_or(crd)
}

/// A CRD as YAML, with the header of a generated file.
///
/// Errors: the YAML serializer's (none for a CRD).
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_saphyr::ser::Error> {
    let body = serde_saphyr::to_string(crd)?;
    Ok(format!(
        "# Generated from src/controller/kube/crd.rs; do not edit.\n\
         # Regenerate: KAKINE_REGEN_CRDS=1 cargo test --test kube_crds\n---\n{body}"
    ))
}
