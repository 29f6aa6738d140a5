//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go's `leaderelection`
//! (`tools/leaderelection/leaderelection.go`, `resourcelock/leaselock.go`): two controller
//! replicas, one leader; only the leader writes status, both serve agents.
//!
//! Each round ([`Elector::round`]) reads the Lease and:
//! - none: creates it, holding it;
//! - held by us: renews it (`renewTime`), by an update carrying the read `resourceVersion`;
//! - held by another: takes it over only when its record has not changed for a whole
//!   `leaseDurationSeconds` as observed locally (client-go's rule: the local clock, never a
//!   comparison with the holder's), incrementing `leaseTransitions`.
//!
//! A conflict (409: someone else wrote first) or any error makes this replica a follower for
//! the round; so does failing to renew for `lease_duration`.

use std::time::Duration;

use ::kube::api::{Api, PostParams};
use ::kube::Client;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use tokio::sync::watch;
use tokio::time::Instant;

/// Leader election settings.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease (`kakine-controller`).
    pub name: String,
    /// This replica's identity (its pod name).
    pub identity: String,
    /// How long a Lease is held without renewal (15 s, client-go's default).
    pub lease_duration: Duration,
    /// How often the Lease is read and renewed (2 s).
    pub retry_period: Duration,
}

impl LeaseOptions {
    /// The defaults for `namespace/name`, held as `identity`.
    pub fn new(namespace: &str, name: &str, identity: &str) -> Self {
        LeaseOptions {
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity: identity.to_string(),
            lease_duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// One replica's elector: the last Lease record seen and when it was seen.
#[derive(Debug)]
pub struct Elector {
    api: Api<Lease>,
    options: LeaseOptions,
    observed: Option<(LeaseSpec, Instant)>,
    renewed: Option<Instant>,
}

impl Elector {
    /// An elector of `options.namespace/options.name`.
    pub fn new(client: Client, options: LeaseOptions) -> Self {
        Elector {
            api: Api::namespaced(client, &options.namespace),
            options,
            observed: None,
            renewed: None,
        }
    }

    fn spec(&self, transitions: i32, acquired: Option<MicroTime>) -> LeaseSpec {
        let now = MicroTime(Timestamp::now());
        LeaseSpec {
            holder_identity: Some(self.options.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.options.lease_duration.as_secs()).unwrap_or(i32::MAX),
            ),
            acquire_time: Some(acquired.unwrap_or_else(|| now.clone())),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// One round: read, then create, renew or take over the Lease when due. Returns whether
    /// this replica leads after the round.
    pub async fn round(&mut self) -> bool {
        let leads = self.try_round().await.unwrap_or_else(|e| {
            tracing::debug!(error = %e, "lease round failed");
            false
        });
        if leads {
            self.renewed = Some(Instant::now());
            return true;
        }
        // A leader that cannot renew keeps leading only until its Lease could have expired.
        self.renewed
            .is_some_and(|at| at.elapsed() < self.options.lease_duration)
            && self.holder_is_us()
    }

    fn holder_is_us(&self) -> bool {
        self.observed
            .as_ref()
            .and_then(|(s, _)| s.holder_identity.as_deref())
            == Some(self.options.identity.as_str())
    }

    async fn try_round(&mut self) -> Result<bool, ::kube::Error> {
        let pp = PostParams::default();
        let Some(lease) = self.api.get_opt(&self.options.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.options.name.clone()),
                    namespace: Some(self.options.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(0, None)),
            };
            let created = self.api.create(&pp, &lease).await?;
            self.observe(created.spec.unwrap_or_default());
            return Ok(true);
        };
        let current = lease.spec.clone().unwrap_or_default();
        let changed = self.observed.as_ref().map(|(s, _)| s) != Some(&current);
        if changed {
            self.observe(current.clone());
        }
        let holder = current.holder_identity.as_deref().unwrap_or("");
        let ours = holder == self.options.identity;
        let transitions = current.lease_transitions.unwrap_or(0);
        let spec = if ours {
            self.spec(transitions, current.acquire_time.clone())
        } else {
            let duration = current
                .lease_duration_seconds
                .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0)))
                .unwrap_or(self.options.lease_duration);
            let seen = self.observed.as_ref().map(|(_, at)| *at);
            let expired = holder.is_empty() || seen.is_some_and(|at| at.elapsed() >= duration);
            if !expired {
                return Ok(false);
            }
            self.spec(transitions + 1, None)
        };
        let mut update = lease;
        update.spec = Some(spec);
        let replaced = self.api.replace(&self.options.name, &pp, &update).await?;
        self.observe(replaced.spec.unwrap_or_default());
        Ok(true)
    }

    fn observe(&mut self, spec: LeaseSpec) {
        self.observed = Some((spec, Instant::now()));
    }
}

/// Runs leader election until `leader`'s receivers are all gone, publishing whether this
/// replica leads after each round (every `retry_period`).
pub async fn run_election(client: Client, options: LeaseOptions, leader: watch::Sender<bool>) {
    let period = options.retry_period;
    let mut elector = Elector::new(client, options);
    loop {
        let leads = elector.round().await;
        leader.send_if_modified(|l| std::mem::replace(l, leads) != leads);
        if leader.is_closed() {
            return;
        }
        tokio::time::sleep(period).await;
    }
}
