//! [`TokenReviewAuthenticator`]: an agent's projected ServiceAccount token checked with a
//! TokenReview (`authentication.k8s.io/v1`), and bound to the node the agent runs on.
//!
//! The node comes from the token itself: a node-bound token (Kubernetes ≥ 1.32) carries the
//! `authentication.kubernetes.io/node-name` extra; else a pod-bound token carries the pod's
//! name and UID (`authentication.kubernetes.io/pod-name`, `…/pod-uid`), and the node is that
//! pod's `spec.nodeName` (the pod must still exist with that UID). A token of another
//! ServiceAccount than the agent's, for another audience, or bound to neither is refused.
//! Upstream: `pkg/serviceaccount/claims.go` (the extras), Antrea's controller apiserver
//! authentication (`pkg/apiserver/certificate`, TokenReview delegated authentication).

use ::kube::api::{Api, PostParams};
use ::kube::Client;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::core::v1::Pod;

use crate::controller::auth::{AuthError, Authenticator, Identity};

/// The TokenReview `user.extra` key of a node-bound token's node name.
pub const NODE_NAME_EXTRA: &str = "authentication.kubernetes.io/node-name";
/// The TokenReview `user.extra` key of a pod-bound token's pod name.
pub const POD_NAME_EXTRA: &str = "authentication.kubernetes.io/pod-name";
/// The TokenReview `user.extra` key of a pod-bound token's pod UID.
pub const POD_UID_EXTRA: &str = "authentication.kubernetes.io/pod-uid";

/// Authenticates agents by TokenReview; see the module documentation.
#[derive(Clone)]
pub struct TokenReviewAuthenticator {
    client: Client,
    audience: String,
    namespace: String,
    service_account: String,
}

impl std::fmt::Debug for TokenReviewAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenReviewAuthenticator")
            .field("audience", &self.audience)
            .field("namespace", &self.namespace)
            .field("service_account", &self.service_account)
            .finish()
    }
}

impl TokenReviewAuthenticator {
    /// Tokens must be for `audience` (the projected token's `audience`, e.g. `kakine-controller`)
    /// and of the ServiceAccount `namespace/service_account` (the agent's).
    pub fn new(client: Client, audience: &str, namespace: &str, service_account: &str) -> Self {
        TokenReviewAuthenticator {
            client,
            audience: audience.to_string(),
            namespace: namespace.to_string(),
            service_account: service_account.to_string(),
        }
    }

    /// The username the agent's tokens authenticate as.
    fn username(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.namespace, self.service_account
        )
    }

    async fn review(&self, token: &str) -> Result<Identity, AuthError> {
        let reviews: Api<TokenReview> = Api::all(self.client.clone());
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                audiences: Some(vec![self.audience.clone()]),
            },
            ..TokenReview::default()
        };
        let answer = reviews
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| AuthError::Unavailable(format!("TokenReview: {e}")))?;
        let status = answer.status.unwrap_or_default();
        if status.authenticated != Some(true) {
            let why = status.error.filter(|e| !e.is_empty());
            return Err(AuthError::Invalid(
                why.unwrap_or_else(|| "not authenticated".to_string()),
            ));
        }
        if !status
            .audiences
            .as_ref()
            .is_some_and(|a| a.contains(&self.audience))
        {
            return Err(AuthError::Invalid(format!(
                "token is not for audience {:?}",
                self.audience
            )));
        }
        let user = status.user.unwrap_or_default();
        let username = user.username.unwrap_or_default();
        if username != self.username() {
            return Err(AuthError::Invalid(format!(
                "token of {username:?}, not of the agent's ServiceAccount {:?}",
                self.username()
            )));
        }
        let extra = user.extra.unwrap_or_default();
        let one = |key: &str| {
            extra
                .get(key)
                .and_then(|v| v.first())
                .filter(|v| !v.is_empty())
                .cloned()
        };
        if let Some(node) = one(NODE_NAME_EXTRA) {
            return Ok(Identity { node });
        }
        let (Some(pod_name), Some(pod_uid)) = (one(POD_NAME_EXTRA), one(POD_UID_EXTRA)) else {
            return Err(AuthError::Invalid(
                "token is bound to neither a node nor a pod (use a projected ServiceAccount \
                 token)"
                    .to_string(),
            ));
        };
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let pod = match pods.get_opt(&pod_name).await {
            Ok(Some(p)) => p,
            Ok(None) => {
                return Err(AuthError::Invalid(format!(
                    "the token's pod {}/{pod_name} no longer exists",
                    self.namespace
                )))
            }
            Err(e) => return Err(AuthError::Unavailable(format!("get pod {pod_name}: {e}"))),
        };
        if pod.metadata.uid.as_deref() != Some(pod_uid.as_str()) {
            return Err(AuthError::Invalid(format!(
                "the token's pod {}/{pod_name} was replaced (UID {pod_uid} is gone)",
                self.namespace
            )));
        }
        match pod.spec.and_then(|s| s.node_name).filter(|n| !n.is_empty()) {
            Some(node) => Ok(Identity { node }),
            None => Err(AuthError::Invalid(format!(
                "the token's pod {}/{pod_name} is not scheduled to a node",
                self.namespace
            ))),
        }
    }
}

impl Authenticator for TokenReviewAuthenticator {
    fn authenticate(
        &self,
        token: &str,
    ) -> impl std::future::Future<Output = Result<Identity, AuthError>> + Send {
        let token = token.to_string();
        async move { self.review(&token).await }
    }
}
