//! Grouping, pure: label sets, selectors, groups, spans and a node's view, kept up to date
//! event by event.
//!
//! - [`selector`]: [`GroupSelector`], the normal form of every way an API names pods, and
//!   [`LabelSet`], what pods with the same namespace and labels share;
//! - [`index`]: [`GroupIndex`], label sets x groups, membership and [`GroupDelta`]s;
//! - [`translate`]: policy objects to [`InternalPolicy`]s whose rules hold group ids;
//! - [`state`]: [`Grouping`], the cluster and the policies as events ([`Event`]), with spans;
//! - [`derive`]: the [`ResolvedPolicies`](crate::policy::ResolvedPolicies) the compiler and the
//!   reference evaluator consume, for the whole cluster or for one node's view.
//!
//! Cost is label sets x selectors, never pods x policies: a pod joins the groups of its label
//! set; identical selectors are one group, shared by every rule; a rule's member sets are shared
//! (`Arc`), never copied per rule.

pub mod derive;
pub mod index;
pub mod selector;
pub mod state;
pub mod translate;

pub use index::{GroupDelta, GroupId, GroupIndex, LabelSetId, PodId};
pub use selector::{GroupSelector, LabelSet, NamespaceScope};
pub use state::{Event, Grouping, PolicyKey, Span};
pub use translate::{InternalPeers, InternalPolicy, InternalRule};
