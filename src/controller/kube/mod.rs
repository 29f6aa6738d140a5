//! The kube layer: everything of the controller that talks to the Kubernetes API.
//!
//! - [`crd`]: the `crd.kakine.io/v1beta1` custom resources (schemas, printer columns, status);
//! - [`convert`]: API objects to the policy model;
//! - [`watch`]: watchers turning API objects into the controller core's event batches;
//! - [`status`]: realization counts written to the policies' status subresource;
//! - [`lease`]: leader election on a Lease (only the leader writes status);
//! - [`tokenreview`]: agents authenticated by TokenReview and bound to their node;
//! - [`ca`]: the controller's CA published in a ConfigMap;
//! - [`snapshot`]: the objects of one moment as the model (for `kubectl kakine explain`);
//! - [`run`]: all of it for one controller replica.
//!
//! docs/kubernetes.md describes the CRDs, what is watched and the RBAC each part needs.

pub mod ca;
pub mod convert;
pub mod crd;
pub mod lease;
mod run;
pub mod snapshot;
pub mod status;
pub mod tokenreview;
pub mod watch;

pub use run::{policy_resources, run, KubeOptions, PolicyResource};
pub use tokenreview::TokenReviewAuthenticator;
