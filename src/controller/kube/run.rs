//! [`run`]: the watchers, the status writer and leader election of one controller replica.

use ::kube::api::Api;
use ::kube::core::ApiResource;
use ::kube::Client;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::lease::{run_election, LeaseOptions};
use super::status::{run_status, Generations, StatusOptions};
use super::watch::{run_watcher, Closed, Namespaces, Nodes, Pods, Policies, WatchOptions};
use crate::controller::core::SYNCED;
use crate::controller::Realization;
use crate::grouping::Event;

/// What the kube layer of a replica does.
#[derive(Debug, Clone, Default)]
pub struct KubeOptions {
    /// Also watch Antrea's `crd.antrea.io/v1beta1` kinds (migration; `--antrea-crds`).
    pub antrea_crds: bool,
    /// Elect a leader on this Lease (`--leader-elect`); `None`: this replica always leads.
    pub leader_election: Option<LeaseOptions>,
    /// Watcher settings.
    pub watch: WatchOptions,
    /// Status writer settings.
    pub status: StatusOptions,
}

/// A policy kind the controller may watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyResource {
    /// The kind's API resource.
    pub resource: ApiResource,
    /// Watched only when the API server serves it (the network-policy-api CRDs are optional).
    pub optional: bool,
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.to_string(),
        version: version.to_string(),
        api_version: if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        },
        kind: kind.to_string(),
        plural: plural.to_string(),
    }
}

const CRD_KINDS: [(&str, &str); 5] = [
    ("Tier", "tiers"),
    ("ClusterNetworkPolicy", "clusternetworkpolicies"),
    ("NetworkPolicy", "networkpolicies"),
    ("ClusterGroup", "clustergroups"),
    ("Group", "groups"),
];

/// The policy kinds watched: kakine's CRDs and Kubernetes NetworkPolicy always;
/// AdminNetworkPolicy, BaselineAdminNetworkPolicy (v1alpha1) and ClusterNetworkPolicy
/// (v1alpha2) of `policy.networking.k8s.io` when served; Antrea's kinds with `antrea_crds`.
pub fn policy_resources(antrea_crds: bool) -> Vec<PolicyResource> {
    let mut out = Vec::new();
    let mut add = |r: ApiResource, optional: bool| {
        out.push(PolicyResource {
            resource: r,
            optional,
        })
    };
    for (kind, plural) in CRD_KINDS {
        add(resource("crd.kakine.io", "v1beta1", kind, plural), false);
    }
    add(
        resource(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
        ),
        false,
    );
    let npa = "policy.networking.k8s.io";
    add(
        resource(
            npa,
            "v1alpha1",
            "AdminNetworkPolicy",
            "adminnetworkpolicies",
        ),
        true,
    );
    add(
        resource(
            npa,
            "v1alpha1",
            "BaselineAdminNetworkPolicy",
            "baselineadminnetworkpolicies",
        ),
        true,
    );
    add(
        resource(
            npa,
            "v1alpha2",
            "ClusterNetworkPolicy",
            "clusternetworkpolicies",
        ),
        true,
    );
    if antrea_crds {
        for (kind, plural) in CRD_KINDS {
            add(resource("crd.antrea.io", "v1beta1", kind, plural), false);
        }
    }
    out
}

/// Whether the API server serves `r` (its group version lists the plural). A group version
/// that is not served (404) is not; other errors are logged and count as not served.
async fn served(client: &Client, r: &ApiResource) -> bool {
    match client.list_api_group_resources(&r.api_version).await {
        Ok(list) => list.resources.iter().any(|x| x.name == r.plural),
        Err(::kube::Error::Api(s)) if s.code == 404 => false,
        Err(e) => {
            tracing::warn!(api_version = %r.api_version, error = %e, "discovery failed");
            false
        }
    }
}

/// Runs the kube layer of one replica: a watcher per kind sending batches to `events`, the
/// status writer of `realization` (while leading), and leader election; until the controller
/// core drops the receiver of `events` (then `Ok`, every task stopped). Once every watcher's
/// initial list is sent, it sends [`SYNCED`]: the controller serves spans (and `/readyz`
/// answers 200) only from then on, never from a half-listed cluster.
///
/// Optional kinds are discovered once at start: a network-policy-api CRD installed later is
/// watched after a restart.
///
/// Errors: [`Closed`] is not an error here (the core stopped); a task that panics is reported
/// as a [`tokio::task::JoinError`].
pub async fn run(
    client: Client,
    options: KubeOptions,
    events: mpsc::Sender<Vec<Event>>,
    realization: watch::Receiver<Realization>,
) -> Result<(), tokio::task::JoinError> {
    let mut tasks: JoinSet<Result<(), Closed>> = JoinSet::new();
    let (synced_tx, mut synced_rx) = mpsc::unbounded_channel();
    let mut w = options.watch.clone();
    w.synced = Some(synced_tx);
    let mut watchers = 3;
    tasks.spawn(run_watcher(
        Api::all(client.clone()),
        Namespaces,
        w.clone(),
        events.clone(),
    ));
    tasks.spawn(run_watcher(
        Api::all(client.clone()),
        Nodes,
        w.clone(),
        events.clone(),
    ));
    tasks.spawn(run_watcher(
        Api::all(client.clone()),
        Pods,
        w.clone(),
        events.clone(),
    ));
    let generations = Generations::default();
    for p in policy_resources(options.antrea_crds) {
        if p.optional && !served(&client, &p.resource).await {
            tracing::info!(kind = %p.resource.kind, api_version = %p.resource.api_version,
                "not served; not watched");
            continue;
        }
        let api = Api::all_with(client.clone(), &p.resource);
        let source = Policies {
            resource: p.resource,
            generations: Some(generations.clone()),
        };
        tasks.spawn(run_watcher(api, source, w.clone(), events.clone()));
        watchers += 1;
    }
    drop(w);
    let synced_events = events.clone();
    tasks.spawn(async move {
        for _ in 0..watchers {
            if synced_rx.recv().await.is_none() {
                return Ok(());
            }
        }
        tracing::info!("every watcher's initial list is sent ({watchers} watchers)");
        synced_events.send(SYNCED).await.map_err(|_| Closed)
    });
    let (leader_tx, leader_rx) = watch::channel(options.leader_election.is_none());
    if let Some(lease) = options.leader_election.clone() {
        let client = client.clone();
        tasks.spawn(async move {
            run_election(client, lease, leader_tx).await;
            Ok(())
        });
    }
    let status = options.status.clone();
    tasks.spawn(async move {
        run_status(client, realization, generations, leader_rx, status).await;
        Ok(())
    });
    loop {
        tokio::select! {
            _ = events.closed() => {
                tracing::info!("controller core stopped; the kube layer stops");
                tasks.abort_all();
                return Ok(());
            }
            done = tasks.join_next() => match done {
                None => break,
                Some(done) => {
                    if let Err(Closed) = done? {
                        tasks.abort_all();
                        return Ok(());
                    }
                }
            },
        }
    }
    Ok(())
}
