//! Watchers: each watched kind's `kube::runtime::watcher` stream turned into batches of
//! [`Event`]s for the controller core.
//!
//! A [`Mirror`] per kind remembers what was sent (the converted model value of every object by
//! `namespace/name`), so that:
//! - the initial list is one batch;
//! - a relist (after a watch restart the server cannot resume, e.g. `410 Gone`) sends the diff
//!   of the new list against what was sent: upserts of new and changed objects, deletes of the
//!   vanished ones; nothing lost, nothing repeated;
//! - an update that changes nothing the model holds (status, resourceVersion, a bookmark) sends
//!   nothing;
//! - an object that does not convert (bad policy, malformed pod) is logged with the object and
//!   field, and its last good version stays in force (no policy is lost to a bad edit); a pod
//!   without an IP is left out until it has one.

use std::collections::BTreeMap;
use std::fmt::Debug;

use ::kube::api::{Api, DynamicObject};
use ::kube::core::ApiResource;
use ::kube::runtime::watcher::{self, watcher, Event as WatchEvent};
use ::kube::runtime::WatchStreamExt;
use ::kube::Resource;
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1 as core;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use super::convert::{self, ConvertError};
use super::status::Generations;
use crate::grouping::state::key_of;
use crate::grouping::Event;
use crate::policy::model::PolicyObject;
use crate::policy::resolved::PodKey;

/// One watched kind: how its objects become model values and events.
pub trait Source: Send + 'static {
    /// The API type watched.
    type Object: Resource + Clone + DeserializeOwned + Debug + Send + 'static;
    /// The model value sent for an object (compared to send only changes).
    type Value: Clone + PartialEq + Send + 'static;
    /// The model value of `o`; `Ok(None)` leaves the object out for now.
    ///
    /// Errors: the object does not convert (named with its field).
    fn convert(&self, o: &Self::Object) -> Result<Option<Self::Value>, ConvertError>;
    /// The event that adds or changes `v`.
    fn upsert(&self, v: Self::Value) -> Event;
    /// The event that removes `last`, the value last sent under `key`.
    fn delete(&self, key: &str, last: &Self::Value) -> Event;
}

/// Pods (`core/v1`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Pods;

impl Source for Pods {
    type Object = core::Pod;
    type Value = crate::policy::model::Pod;
    fn convert(&self, o: &core::Pod) -> Result<Option<Self::Value>, ConvertError> {
        convert::pod(o)
    }
    fn upsert(&self, v: Self::Value) -> Event {
        Event::PodUpsert(v)
    }
    fn delete(&self, _: &str, last: &Self::Value) -> Event {
        Event::PodDelete(PodKey {
            namespace: last.namespace.clone(),
            name: last.name.clone(),
        })
    }
}

/// Namespaces (`core/v1`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Namespaces;

impl Source for Namespaces {
    type Object = core::Namespace;
    type Value = crate::policy::model::Namespace;
    fn convert(&self, o: &core::Namespace) -> Result<Option<Self::Value>, ConvertError> {
        convert::namespace(o).map(Some)
    }
    fn upsert(&self, v: Self::Value) -> Event {
        Event::NamespaceUpsert(v)
    }
    fn delete(&self, _: &str, last: &Self::Value) -> Event {
        Event::NamespaceDelete(last.name.clone())
    }
}

/// Nodes (`core/v1`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Nodes;

impl Source for Nodes {
    type Object = core::Node;
    type Value = crate::policy::model::Node;
    fn convert(&self, o: &core::Node) -> Result<Option<Self::Value>, ConvertError> {
        convert::node(o).map(Some)
    }
    fn upsert(&self, v: Self::Value) -> Event {
        Event::NodeUpsert(v)
    }
    fn delete(&self, _: &str, last: &Self::Value) -> Event {
        Event::NodeDelete(last.name.clone())
    }
}

/// A policy kind (any of [`convert::policy`]'s), watched as [`DynamicObject`]s so that one
/// object that does not parse never fails the decoding of a whole list.
#[derive(Debug, Clone)]
pub struct Policies {
    /// The kind's API resource (group, version, kind, plural).
    pub resource: ApiResource,
    /// Where to record each converted policy's `metadata.generation` (for the status writer).
    pub generations: Option<Generations>,
}

impl Source for Policies {
    type Object = DynamicObject;
    type Value = PolicyObject;
    fn convert(&self, o: &DynamicObject) -> Result<Option<PolicyObject>, ConvertError> {
        let mut value = serde_json::to_value(o).map_err(|e| ConvertError {
            object: format!("{} {:?}", self.resource.kind, o.metadata.name),
            problems: vec![e.to_string()],
        })?;
        // List items may come without apiVersion and kind: the resource says them.
        value["apiVersion"] = self.resource.api_version.clone().into();
        value["kind"] = self.resource.kind.clone().into();
        let policy = convert::policy(&value)?;
        if let (Some(g), Some(generation)) = (&self.generations, o.metadata.generation) {
            if let Ok(mut g) = g.lock() {
                g.insert(key_of(&policy), generation);
            }
        }
        Ok(Some(policy))
    }
    fn upsert(&self, v: PolicyObject) -> Event {
        Event::PolicyUpsert(v)
    }
    fn delete(&self, _: &str, last: &PolicyObject) -> Event {
        Event::PolicyDelete(key_of(last))
    }
}

/// What was sent for one kind; see the module documentation.
#[derive(Debug)]
pub struct Mirror<S: Source> {
    source: S,
    sent: BTreeMap<String, S::Value>,
    /// The list being received (between `Init` and `InitDone`).
    listing: Option<BTreeMap<String, S::Value>>,
}

/// `namespace/name`, or `name` for cluster-scoped objects.
fn key<K: Resource>(o: &K) -> String {
    let meta = o.meta();
    let name = meta.name.as_deref().unwrap_or_default();
    match &meta.namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

impl<S: Source> Mirror<S> {
    /// A mirror that has sent nothing.
    pub fn new(source: S) -> Self {
        Mirror {
            source,
            sent: BTreeMap::new(),
            listing: None,
        }
    }

    /// How many objects were sent and not deleted.
    pub fn len(&self) -> usize {
        self.sent.len()
    }

    /// Whether nothing is in force.
    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }

    /// The value of `o` to hold: its conversion, else (on error, logged) the last sent one.
    fn value_of(&self, k: &str, o: &S::Object) -> Option<S::Value> {
        match self.source.convert(o) {
            Ok(v) => v,
            Err(e) => {
                let kept = self.sent.get(k).cloned();
                tracing::warn!(
                    error = %e,
                    kept_previous = kept.is_some(),
                    "object does not convert; its last good version (if any) stays in force"
                );
                kept
            }
        }
    }

    /// The events one watcher event makes (empty: nothing to send).
    pub fn handle(&mut self, event: WatchEvent<S::Object>) -> Vec<Event> {
        match event {
            WatchEvent::Init => {
                self.listing = Some(BTreeMap::new());
                Vec::new()
            }
            WatchEvent::InitApply(o) => {
                let k = key(&o);
                let v = self.value_of(&k, &o);
                let listing = self.listing.get_or_insert_with(BTreeMap::new);
                if let Some(v) = v {
                    listing.insert(k, v);
                }
                Vec::new()
            }
            WatchEvent::InitDone => {
                let listed = self.listing.take().unwrap_or_default();
                let mut out = Vec::new();
                for (k, last) in &self.sent {
                    if !listed.contains_key(k) {
                        out.push(self.source.delete(k, last));
                    }
                }
                for (k, v) in &listed {
                    if self.sent.get(k) != Some(v) {
                        out.push(self.source.upsert(v.clone()));
                    }
                }
                self.sent = listed;
                out
            }
            WatchEvent::Apply(o) => {
                let k = key(&o);
                match self.value_of(&k, &o) {
                    Some(v) if self.sent.get(&k) == Some(&v) => Vec::new(),
                    Some(v) => {
                        self.sent.insert(k, v.clone());
                        vec![self.source.upsert(v)]
                    }
                    None => match self.sent.remove(&k) {
                        Some(last) => vec![self.source.delete(&k, &last)],
                        None => Vec::new(),
                    },
                }
            }
            WatchEvent::Delete(o) => {
                let k = key(&o);
                match self.sent.remove(&k) {
                    Some(last) => vec![self.source.delete(&k, &last)],
                    None => Vec::new(),
                }
            }
        }
    }
}

/// How the watchers run.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Back off after errors (kube's default backoff: exponential, up to ~30 s). Off only in
    /// tests, where a mock answers at once.
    pub backoff: bool,
    /// The watcher configuration (bookmarks on; page size 500).
    pub config: watcher::Config,
    /// Told once, after the batch of the watcher's initial list is sent (an empty list too):
    /// [`super::run`] marks the controller synced when every watcher has told it.
    pub synced: Option<mpsc::UnboundedSender<()>>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            backoff: true,
            config: watcher::Config::default(),
            synced: None,
        }
    }
}

/// The controller core went away (its receiver is closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the controller's event channel is closed")]
pub struct Closed;

/// Runs `source`'s watcher on `api`, sending each non-empty batch to `tx`, until the stream
/// ends (it does not, on its own) or the receiver closes.
///
/// Watch errors (the API server unreachable, `410 Gone`, a broken stream) are logged and the
/// watcher goes on: it resumes the watch, or relists (then the diff is sent).
///
/// Errors: [`Closed`] when `tx`'s receiver is gone.
pub async fn run_watcher<S: Source>(
    api: Api<S::Object>,
    source: S,
    options: WatchOptions,
    tx: mpsc::Sender<Vec<Event>>,
) -> Result<(), Closed> {
    let kind = std::any::type_name::<S>();
    let stream = watcher(api, options.config.clone());
    let mut stream: std::pin::Pin<Box<dyn Stream<Item = _> + Send>> = if options.backoff {
        Box::pin(stream.default_backoff())
    } else {
        Box::pin(stream)
    };
    let mut mirror = Mirror::new(source);
    let mut synced = options.synced.clone();
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => {
                let listed = matches!(event, WatchEvent::InitDone);
                let batch = mirror.handle(event);
                if !batch.is_empty() {
                    tx.send(batch).await.map_err(|_| Closed)?;
                }
                if listed {
                    if let Some(s) = synced.take() {
                        let _ = s.send(());
                    }
                }
            }
            Err(e) => tracing::warn!(kind, error = %e, "watch error; the watcher retries"),
        }
    }
    Ok(())
}
