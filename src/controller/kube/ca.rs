//! The controller's CA published in a ConfigMap (`ca.crt`), as Antrea's `antrea-ca`
//! (`pkg/apiserver/certificate/cacert_controller.go`): agents and `kubectl` users read it to
//! trust the controlplane.

use std::collections::BTreeMap;

use ::kube::api::{Api, Patch, PatchParams};
use ::kube::Client;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The field manager of the controller's server-side applies.
pub const FIELD_MANAGER: &str = "kakine-controller";

/// Writes `ca_pem` as `ca.crt` of the ConfigMap `namespace/name` (server-side apply, forced:
/// the controller owns the field), creating it if absent.
///
/// Errors: the API server's (RBAC: `configmaps` `get`, `create`, `patch` in `namespace`).
pub async fn publish_ca(
    client: &Client,
    namespace: &str,
    name: &str,
    ca_pem: &str,
) -> Result<(), ::kube::Error> {
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/name".to_string(),
                "kakine".to_string(),
            )])),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([("ca.crt".to_string(), ca_pem.to_string())])),
        ..ConfigMap::default()
    };
    let mut value = serde_json::to_value(&cm).map_err(::kube::Error::SerdeError)?;
    value["apiVersion"] = "v1".into();
    value["kind"] = "ConfigMap".into();
    Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(value),
        )
        .await?;
    Ok(())
}
