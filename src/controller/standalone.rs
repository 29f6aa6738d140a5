//! The standalone source (`kakine-controller --standalone DIR`): the same YAML directory
//! `kakinectl` and `kakine-agent --standalone` read, watched (following the path when the
//! directory is replaced, [`crate::agent::dirwatch`]), loaded as the agent's loader does (each
//! object accepted or refused on its own, [`crate::agent::accept`]), and each new content
//! diffed against the previous one into one batch of [`Event`]s.
//!
//! With a state directory (`--state-dir`), the last good version of every object is kept in
//! its `last-good.yaml` (the agent's format, [`crate::agent::state::save_last_good`]) after
//! each content served, and read back at start: the controller serves it at once, and an
//! object whose file is refused now keeps its last good version across restarts, as it does
//! while running. The first batch is followed by [`SYNCED`]; nothing is sent before a content
//! validates, so no agent is ever served an empty span.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::agent::accept::{no_longer_refused, LastGood, Refusal};
use crate::agent::dirwatch::{PathWatch, RECHECK};
use crate::agent::watch::Loader;
use crate::controller::core::SYNCED;
use crate::grouping::state::key_of;
use crate::grouping::{Event, PolicyKey};
use crate::policy::model::{Cluster, Namespace, Node, Pod, PolicyObject};
use crate::policy::resolved::PodKey;
use crate::policy::PolicySet;

/// The objects of one content, by identity.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Objects {
    nodes: BTreeMap<String, Node>,
    namespaces: BTreeMap<String, Namespace>,
    pods: BTreeMap<PodKey, Pod>,
    policies: BTreeMap<PolicyKey, PolicyObject>,
}

impl Objects {
    /// The objects of a cluster model and a policy set.
    pub fn new(cluster: &Cluster, set: &PolicySet) -> Self {
        let mut policies = BTreeMap::new();
        let all = set
            .tiers
            .iter()
            .cloned()
            .map(PolicyObject::Tier)
            .chain(
                set.cluster_groups
                    .iter()
                    .cloned()
                    .map(PolicyObject::ClusterGroup),
            )
            .chain(set.groups.iter().cloned().map(PolicyObject::Group))
            .chain(
                set.antrea_policies
                    .iter()
                    .cloned()
                    .map(PolicyObject::Antrea),
            )
            .chain(set.admin_policies.iter().cloned().map(PolicyObject::Admin))
            .chain(
                set.network_policies_v1alpha2
                    .iter()
                    .cloned()
                    .map(PolicyObject::V1Alpha2),
            )
            .chain(set.k8s_policies.iter().cloned().map(PolicyObject::K8s));
        for o in all {
            policies.insert(key_of(&o), o);
        }
        Objects {
            nodes: cluster
                .nodes
                .iter()
                .map(|n| (n.name.clone(), n.clone()))
                .collect(),
            namespaces: cluster
                .namespaces
                .iter()
                .map(|n| (n.name.clone(), n.clone()))
                .collect(),
            pods: cluster
                .pods
                .iter()
                .map(|p| {
                    let key = PodKey {
                        namespace: p.namespace.clone(),
                        name: p.name.clone(),
                    };
                    (key, p.clone())
                })
                .collect(),
            policies,
        }
    }

    /// The events that turn `self` into `new`: upserts of what is new or changed (nodes,
    /// namespaces, pods, then tiers and groups before the policies that name them), then
    /// deletions of what is gone (policies first).
    pub fn diff(&self, new: &Objects) -> Vec<Event> {
        let mut out = Vec::new();
        upserts(&self.nodes, &new.nodes, &mut out, |n| {
            Event::NodeUpsert(n.clone())
        });
        upserts(&self.namespaces, &new.namespaces, &mut out, |n| {
            Event::NamespaceUpsert(n.clone())
        });
        upserts(&self.pods, &new.pods, &mut out, |p| {
            Event::PodUpsert(p.clone())
        });
        let reference = |o: &PolicyObject| {
            matches!(
                o,
                PolicyObject::Tier(_) | PolicyObject::ClusterGroup(_) | PolicyObject::Group(_)
            )
        };
        for first in [true, false] {
            for (k, o) in &new.policies {
                if reference(o) == first && self.policies.get(k) != Some(o) {
                    out.push(Event::PolicyUpsert(o.clone()));
                }
            }
        }
        for first in [false, true] {
            for (k, o) in &self.policies {
                if reference(o) == first && !new.policies.contains_key(k) {
                    out.push(Event::PolicyDelete(k.clone()));
                }
            }
        }
        deletions(&self.pods, &new.pods, &mut out, |k| {
            Event::PodDelete(k.clone())
        });
        deletions(&self.namespaces, &new.namespaces, &mut out, |k| {
            Event::NamespaceDelete(k.clone())
        });
        deletions(&self.nodes, &new.nodes, &mut out, |k| {
            Event::NodeDelete(k.clone())
        });
        out
    }
}

fn upserts<K: Ord, V: PartialEq>(
    old: &BTreeMap<K, V>,
    new: &BTreeMap<K, V>,
    out: &mut Vec<Event>,
    ev: impl Fn(&V) -> Event,
) {
    out.extend(
        new.iter()
            .filter(|(k, v)| old.get(*k) != Some(*v))
            .map(|(_, v)| ev(v)),
    );
}

fn deletions<K: Ord, V>(
    old: &BTreeMap<K, V>,
    new: &BTreeMap<K, V>,
    out: &mut Vec<Event>,
    ev: impl Fn(&K) -> Event,
) {
    out.extend(old.keys().filter(|k| !new.contains_key(*k)).map(ev));
}

/// Loads `dir` with `loader`: the accepted objects, validated as a whole, and the accepted
/// documents as `last-good.yaml` keeps them (file, text); refused objects keep their previous
/// version. `refused` holds the refusals of the previous load: a new refusal is logged as an
/// error (once, not at every load), one that went away at info ("no longer refused").
///
/// Errors: the directory cannot be read, no cluster model, or the accepted set fails
/// validation (the previous content then stays served).
pub fn load(
    loader: &mut Loader,
    dir: &Path,
    refused: &mut Vec<Refusal>,
) -> Result<(Objects, Vec<(PathBuf, String)>), String> {
    let (outcome, report) = loader.accept_dir(dir)?;
    for r in &report.refused {
        if !refused.contains(r) {
            // The refusal says what stays served: the last good version, or nothing.
            tracing::error!("{r}");
        }
    }
    for r in no_longer_refused(refused, &report.refused) {
        tracing::info!("{}: no longer refused", r.what());
    }
    *refused = report.refused.clone();
    crate::policy::validate::validate(&outcome.objects).map_err(|e| e.to_string())?;
    let objects = Objects::new(&outcome.cluster, &outcome.objects);
    let files = outcome.accepted.files();
    loader.seed(outcome.accepted);
    Ok((objects, files))
}

/// The objects of a kept last good state, checked as a whole.
///
/// Errors: no cluster model, or the set fails validation (a state written by another version).
pub fn last_good_objects(last: &LastGood) -> Result<Objects, String> {
    let (cluster, set) = last.assemble().map_err(|e| e.to_string())?;
    let cluster = cluster.ok_or("no Cluster document")?;
    crate::policy::validate::validate(&set).map_err(|e| e.to_string())?;
    Ok(Objects::new(&cluster, &set))
}

/// [`watch_with`] without a state directory.
///
/// Errors: the directory cannot be watched.
pub async fn watch(
    dir: PathBuf,
    quiet: Duration,
    batches: mpsc::Sender<Vec<Event>>,
) -> Result<(), String> {
    watch_with(dir, quiet, None, batches).await
}

/// Watches `dir` and sends a batch of events for its first valid content (or first the last
/// good state kept in `state_dir`), then [`SYNCED`], then a batch for each change (after
/// `quiet` without file events), until `batches` closes. Each content served is saved in
/// `state_dir`.
///
/// Errors: the directory cannot be watched; `state_dir` cannot be created.
pub async fn watch_with(
    dir: PathBuf,
    quiet: Duration,
    state_dir: Option<PathBuf>,
    batches: mpsc::Sender<Vec<Event>>,
) -> Result<(), String> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watch = PathWatch::new(&dir, move || {
        let _ = tx.send(());
    })?;
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut loader = Loader::default();
    let mut served = Objects::default();
    let mut saved = Vec::new();
    let mut synced = false;
    if let Some(state) = &state_dir {
        crate::agent::state::create_private_dir(state)
            .map_err(|e| format!("--state-dir {}: {e}", state.display()))?;
        let last = crate::agent::watch::read_last_good(state);
        if !last.docs.is_empty() {
            match last_good_objects(&last) {
                Ok(objects) => {
                    tracing::info!(
                        "{}: serving the last good content kept in {} until {} is read",
                        state.display(),
                        crate::agent::state::LAST_GOOD,
                        dir.display()
                    );
                    let events = served.diff(&objects);
                    if batches.send(events).await.is_err() || batches.send(SYNCED).await.is_err() {
                        return Ok(());
                    }
                    synced = true;
                    served = objects;
                    saved = last.files();
                }
                Err(e) => tracing::error!(
                    "{}: the kept last good content does not validate, not served: {e}",
                    state.display()
                ),
            }
            loader.seed(last);
        }
    }
    let mut refused = Vec::new();
    // Whether the last load was refused as a whole (said once accepted again).
    let mut input_refused = false;
    loop {
        let d = dir.clone();
        let (l, r, loaded) = tokio::task::spawn_blocking(move || {
            let loaded = load(&mut loader, &d, &mut refused);
            (loader, refused, loaded)
        })
        .await
        .map_err(|e| format!("loading {}: {e}", dir.display()))?;
        (loader, refused) = (l, r);
        if loaded.is_ok() && std::mem::take(&mut input_refused) {
            tracing::info!("{}: input accepted again", dir.display());
        }
        input_refused = loaded.is_err();
        match loaded {
            Ok((objects, files)) => {
                let events = served.diff(&objects);
                if !events.is_empty() {
                    tracing::info!("{}: {} change(s)", dir.display(), events.len());
                    if batches.send(events).await.is_err() {
                        return Ok(());
                    }
                }
                if !synced {
                    if batches.send(SYNCED).await.is_err() {
                        return Ok(());
                    }
                    synced = true;
                }
                served = objects;
                if let Some(state) = state_dir.as_deref().filter(|_| files != saved) {
                    match crate::agent::state::save_last_good(state, &files) {
                        Ok(()) => saved = files,
                        Err(e) => tracing::error!("keeping the last good content: {e}"),
                    }
                }
            }
            Err(e) if synced => tracing::error!(
                "{}: input refused, the previous content stays served: {e}",
                dir.display()
            ),
            Err(e) => tracing::error!(
                "{}: input refused; no span is served until it validates: {e}",
                dir.display()
            ),
        }
        // The next change: a first file event or the path naming another directory, then
        // quiet.
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(()) => break,
                    None => return Ok(()),
                },
                _ = recheck.tick() => if watch.recheck() {
                    break;
                },
            }
        }
        while let Ok(Some(())) = tokio::time::timeout(quiet, rx.recv()).await {}
    }
}
