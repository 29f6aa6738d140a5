//! Grouping, pure: label sets, selectors, groups, spans and a node's view, kept up to date
//! event by event.
//!
//! - [`selector`]: [`GroupSelector`], the normal form of every way an API names pods, and
//!   [`LabelSet`], what pods with the same namespace and labels share;
//! - [`index`]: [`GroupIndex`], label sets x groups, membership and [`GroupDelta`]s;
//! - [`translate`]: policy objects to [`InternalPolicy`]s whose rules hold group ids;
//! - [`state`]: [`Grouping`], the cluster and the policies as events ([`Event`]), with spans;
//! - [`users`]: [`users::PolicyUsers`], the policies by the groups and port names they use;
//! - [`report`]: group sizes and per-node span sizes (`kakinectl spans`);
//! - [`derive`]: the [`ResolvedPolicies`](crate::policy::ResolvedPolicies) the compiler and the
//!   reference evaluator consume, for the whole cluster or for one node's view.
//!
//! Cost is label sets x selectors, never pods x policies: a pod joins the groups of its label
//! set; identical selectors are one group, shared by every rule; a rule's member sets are shared
//! (`Arc`), never copied per rule.

mod by_node;
pub mod derive;
pub mod index;
pub(crate) mod multimap;
pub mod report;
pub mod selector;
mod slab;
pub mod state;
pub mod translate;
pub mod users;

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
/// Errors: [`PolicyError::UnknownNode`] for a node neither the model's `nodes:` nor any pod
/// names (a typo would otherwise compile an empty view and detach every pod); the first
/// validation error of `objects`.
pub fn resolve_node(
    cluster: &Cluster,
    objects: &PolicySet,
    node: Option<&str>,
) -> Result<ResolvedPolicies, PolicyError> {
    let Some(node) = node else {
        return crate::policy::resolve(cluster, objects);
    };
    check_node(cluster, node)?;
    crate::policy::validate::validate(objects)?;
    let grouping = Grouping::build(cluster, objects);
    let mut out = derive::view(&grouping, node);
    out.warnings = crate::policy::lint::lint(objects, &out);
    Ok(out)
}

/// Whether the model knows node `node` (its `nodes:` or a pod's `node:`); a model that names
/// no node accepts any.
///
/// Errors: [`PolicyError::UnknownNode`], naming up to ten of the nodes it has.
pub fn check_node(cluster: &Cluster, node: &str) -> Result<(), PolicyError> {
    let known: std::collections::BTreeSet<&str> = cluster
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .chain(cluster.pods.iter().filter_map(|p| p.node.as_deref()))
        .collect();
    // A model that names no node at all (a single-node input) has every pod on every node.
    if !known.is_empty() && !known.contains(node) {
        let mut list: Vec<&str> = known.iter().copied().take(10).collect();
        if known.len() > 10 {
            list.push("...");
        }
        return Err(PolicyError::UnknownNode {
            node: node.to_string(),
            known: list.join(", "),
        });
    }
    Ok(())
}
