//! Grouping, pure: label sets, selectors, groups, spans and a node's view, kept up to date
//! event by event.
//!
//! - [`selector`]: [`GroupSelector`], the normal form of every way an API names pods, and
//!   [`LabelSet`], what pods with the same namespace and labels share;
//! - [`index`]: [`GroupIndex`], label sets x groups, membership and [`GroupDelta`]s;
//! - [`translate`]: policy objects to [`InternalPolicy`]s whose rules hold group ids;
//! - [`state`]: [`Grouping`], the cluster and the policies as events ([`Event`]), with spans;
//! - [`report`]: group sizes and per-node span sizes (`kakinectl spans`);
//! - [`derive`]: the [`ResolvedPolicies`](crate::policy::ResolvedPolicies) the compiler and the
//!   reference evaluator consume, for the whole cluster or for one node's view.
//!
//! Cost is label sets x selectors, never pods x policies: a pod joins the groups of its label
//! set; identical selectors are one group, shared by every rule; a rule's member sets are shared
//! (`Arc`), never copied per rule.

pub mod derive;
pub mod index;
pub mod report;
pub mod selector;
mod slab;
pub mod state;
pub mod translate;

pub use index::{GroupDelta, GroupId, GroupIndex, LabelSetId, PodId, ANY_NODE};
pub use selector::{GroupSelector, LabelSet, NamespaceScope};
pub use state::{Event, Grouping, PolicyKey, Span};
pub use translate::{InternalPeers, InternalPolicy, InternalRule};

use crate::policy::error::PolicyError;
use crate::policy::model::{Cluster, PolicySet};
use crate::policy::resolved::ResolvedPolicies;

/// [`crate::policy::resolve`], or with `node` only that node's view (see [`derive::view`]),
/// linted as the agent enforces it.
///
/// Errors: the first validation error of `objects`.
pub fn resolve_node(
    cluster: &Cluster,
    objects: &PolicySet,
    node: Option<&str>,
) -> Result<ResolvedPolicies, PolicyError> {
    let Some(node) = node else {
        return crate::policy::resolve(cluster, objects);
    };
    crate::policy::validate::validate(objects)?;
    let grouping = Grouping::build(cluster, objects);
    let mut out = derive::view(&grouping, node);
    out.warnings = crate::policy::lint::lint(objects, &out);
    Ok(out)
}
