//! The kube layer's writes and reviews against an API-server verifier on kube's mock service:
//! status patches (body, conflict retry, rate limit, leader only), TokenReview
//! (allowed; expired, another ServiceAccount, another audience, unbound; another node by a
//! node-bound or a pod-bound token; pod replaced or gone), Lease (acquire, renew, lose, take over).

mod kube_mock;

use std::collections::BTreeMap;
use std::time::Duration;

use kakine::controller::auth::{check, AuthError, Authenticator, Identity};
use kakine::controller::kube::crd::PolicyStatus;
use kakine::controller::kube::lease::{Elector, LeaseOptions};
use kakine::controller::kube::status::{
    run_status, status_of, write, Generations, StatusOptions, Written,
};
use kakine::controller::kube::TokenReviewAuthenticator;
use kakine::controller::RealizationCounts;
use kakine::grouping::PolicyKey;
use kube_mock::pair;
use serde_json::{json, Value};
use tokio::sync::watch;

fn counts(desired: u32, current: u32, failures: &[(&str, &str)]) -> RealizationCounts {
    RealizationCounts {
        generation: 1,
        desired,
        current,
        failures: failures
            .iter()
            .map(|(n, r)| (n.to_string(), r.to_string()))
            .collect(),
        ..RealizationCounts::default()
    }
}

fn kcnp(name: &str) -> PolicyKey {
    PolicyKey {
        kind: "ClusterNetworkPolicy",
        name: name.to_string(),
    }
}

#[test]
fn status_phases_and_conditions() {
    let s = status_of(&counts(3, 1, &[]), 4, None, "2026-01-01T00:00:00Z");
    assert_eq!(
        serde_json::to_value(&s).unwrap(),
        json!({
            "phase": "Realizing", "observedGeneration": 4,
            "currentNodesRealized": 1, "desiredNodesRealized": 3,
            "conditions": [
                {"type": "Realizable", "status": "True",
                 "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "RealizationFailure", "status": "False",
                 "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "RealizationPending", "status": "False",
                 "lastTransitionTime": "2026-01-01T00:00:00Z"}
            ]
        })
    );
    let realized = status_of(&counts(3, 3, &[]), 4, Some(&s), "2026-01-01T00:01:00Z");
    assert_eq!(realized.phase, "Realized");
    // Unchanged conditions keep their transition time.
    assert_eq!(realized.conditions, s.conditions);
    let failed = status_of(
        &counts(3, 2, &[("n2", "flow table full"), ("n3", "OVS down")]),
        5,
        Some(&realized),
        "2026-01-01T00:02:00Z",
    );
    assert_eq!(failed.phase, "Failed");
    let f = &failed.conditions[1];
    assert_eq!(
        (f.status.as_str(), f.reason.as_str(), f.message.as_str()),
        (
            "True",
            "NetworkPolicyRealizationFailedOnNode",
            "n2: flow table full; n3: OVS down"
        )
    );
    assert_eq!(
        f.last_transition_time.as_deref(),
        Some("2026-01-01T00:02:00Z")
    );
    // A span of no node is realized (Antrea: currentNodes == desiredNodes).
    assert_eq!(
        status_of(&counts(0, 0, &[]), 1, None, "t").phase,
        "Realized"
    );
    // A failure while a node has not reported yet: still realizing, the failure a condition.
    let partial = status_of(&counts(3, 1, &[("n2", "x")]), 1, None, "t");
    assert_eq!(
        (
            partial.phase.as_str(),
            partial.conditions[1].status.as_str()
        ),
        ("Realizing", "True")
    );
    // Pending on a node: still realizing, what it waits for a condition of its own.
    let mut c = counts(2, 1, &[]);
    c.pending
        .insert("n2".into(), "pod db/job: no interface".into());
    let pending = status_of(&c, 1, None, "t");
    let p = &pending.conditions[2];
    assert_eq!(
        (
            pending.phase.as_str(),
            p.type_.as_str(),
            p.status.as_str(),
            p.reason.as_str(),
            p.message.as_str()
        ),
        (
            "Realizing",
            "RealizationPending",
            "True",
            "NetworkPolicyRealizationPendingOnNode",
            "n2: pod db/job: no interface"
        )
    );
}

fn policy_json(name: &str, status: &Value) -> Value {
    json!({"apiVersion": "crd.kakine.io/v1beta1", "kind": "ClusterNetworkPolicy",
           "metadata": {"name": name, "resourceVersion": "9", "generation": 2},
           "spec": {"priority": 1}, "status": status})
}

#[tokio::test]
async fn status_patch_body_and_conflict_retry() {
    let (client, mut server) = pair();
    let status = status_of(&counts(2, 1, &[]), 2, None, "2026-01-01T00:00:00Z");
    let body = json!({ "status": serde_json::to_value(&status).unwrap() });
    let writer = tokio::spawn({
        let status = status.clone();
        async move { write(&client, &kcnp("p"), &status, 3).await }
    });
    let path = "/apis/crd.kakine.io/v1beta1/clusternetworkpolicies/p/status";
    let r = server.next().await;
    r.expect("PATCH", path, &[]);
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(r.body, body);
    r.status(409, "Conflict", "the object has been modified");
    let r = server.next().await;
    r.expect("PATCH", path, &[]);
    assert_eq!(r.body, body);
    r.ok(&policy_json("p", &body["status"]));
    assert_eq!(writer.await.unwrap(), Written::Done);

    // A namespaced policy that is gone.
    let (client, mut server) = pair();
    let key = PolicyKey {
        kind: "NetworkPolicy",
        name: "shop/q".to_string(),
    };
    let writer =
        tokio::spawn(async move { write(&client, &key, &PolicyStatus::default(), 3).await });
    let r = server.next().await;
    r.expect(
        "PATCH",
        "/apis/crd.kakine.io/v1beta1/namespaces/shop/networkpolicies/q/status",
        &[],
    );
    r.status(404, "NotFound", "networkpolicies \"q\" not found");
    assert_eq!(writer.await.unwrap(), Written::Gone);
}

#[tokio::test]
async fn status_writer_rate_limits_and_writes_only_as_leader() {
    let (client, mut server) = pair();
    let (counts_tx, counts_rx) = watch::channel(BTreeMap::new());
    let (leader_tx, leader_rx) = watch::channel(false);
    let generations = Generations::default();
    generations.lock().unwrap().insert(kcnp("p"), 7);
    let options = StatusOptions {
        min_interval: Duration::from_millis(400),
        attempts: 3,
    };
    let task = tokio::spawn(run_status(
        client,
        counts_rx,
        generations,
        leader_rx,
        options,
    ));
    let path = "/apis/crd.kakine.io/v1beta1/clusternetworkpolicies/p/status";
    let k8s_key = PolicyKey {
        kind: "K8sNetworkPolicy",
        name: "shop/deny".to_string(),
    };

    // A follower writes nothing.
    counts_tx.send_replace(BTreeMap::from([
        (kcnp("p"), counts(2, 1, &[])),
        (k8s_key.clone(), counts(2, 2, &[])),
    ]));
    server.idle(200).await;

    // The leader writes (kakine kinds only), with the watched generation.
    leader_tx.send_replace(true);
    let r = server.next().await;
    r.expect("PATCH", path, &[]);
    assert_eq!(r.body["status"]["observedGeneration"], 7);
    assert_eq!(r.body["status"]["currentNodesRealized"], 1);
    let first = r.body["status"].clone();
    r.ok(&policy_json("p", &first));

    // A change right after is held back until a second has passed (here 400 ms)...
    counts_tx.send_replace(BTreeMap::from([(kcnp("p"), counts(2, 2, &[]))]));
    server.idle(250).await;
    // ...then written once, with the latest counts.
    let r = server.next().await;
    r.expect("PATCH", path, &[]);
    assert_eq!(r.body["status"]["currentNodesRealized"], 2);
    assert_eq!(r.body["status"]["phase"], "Realized");
    let second = policy_json("p", &r.body["status"]);
    r.ok(&second);

    // The same counts again: nothing to write.
    counts_tx.send_replace(BTreeMap::from([(kcnp("p"), counts(2, 2, &[]))]));
    server.idle(600).await;
    drop(counts_tx);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the writer stops when the counts' sender is gone")
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// TokenReview

fn review_answer(authenticated: bool, username: &str, extra: Value, error: &str) -> Value {
    json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "metadata": {},
        "spec": {"token": "t", "audiences": ["kakine-controller"]},
        "status": {"authenticated": authenticated, "error": error,
                   "audiences": ["kakine-controller"],
                   "user": {"username": username, "uid": "u", "extra": extra}}
    })
}

const AGENT: &str = "system:serviceaccount:kube-system:kakine-agent";

async fn review(
    answer: Value,
    then: Option<(&'static str, Value)>,
    node: &str,
) -> Result<Identity, AuthError> {
    let (client, mut server) = pair();
    let auth =
        TokenReviewAuthenticator::new(client, "kakine-controller", "kube-system", "kakine-agent");
    let node = node.to_string();
    let asked = tokio::spawn(async move { check(&auth, Some("Bearer t0ken"), &node).await });
    let r = server.next().await;
    r.expect("POST", "/apis/authentication.k8s.io/v1/tokenreviews", &[]);
    assert_eq!(
        r.body["spec"],
        json!({"token": "t0ken", "audiences": ["kakine-controller"]})
    );
    assert_eq!(r.body["kind"], "TokenReview");
    r.ok(&answer);
    if let Some((path, pod)) = then {
        let r = server.next().await;
        r.expect("GET", path, &[]);
        if pod.is_null() {
            r.status(404, "NotFound", "pods not found");
        } else {
            r.ok(&pod);
        }
    }
    asked.await.unwrap()
}

#[tokio::test]
async fn tokenreview_node_bound_token() {
    let extra = json!({"authentication.kubernetes.io/node-name": ["n1"],
                       "authentication.kubernetes.io/pod-name": ["kakine-agent-x"]});
    let ok = review(review_answer(true, AGENT, extra.clone(), ""), None, "n1").await;
    assert_eq!(ok, Ok(Identity { node: "n1".into() }));
    // The same token asking for another node's span.
    let wrong = review(review_answer(true, AGENT, extra, ""), None, "n2").await;
    assert_eq!(
        wrong,
        Err(AuthError::Forbidden {
            identity: "n1".into(),
            requested: "n2".into()
        })
    );
}

#[tokio::test]
async fn tokenreview_pod_bound_token() {
    let extra = json!({"authentication.kubernetes.io/pod-name": ["kakine-agent-x"],
                       "authentication.kubernetes.io/pod-uid": ["uid-1"]});
    let path = "/api/v1/namespaces/kube-system/pods/kakine-agent-x";
    let pod = |uid: &str| {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "kakine-agent-x", "namespace": "kube-system", "uid": uid},
               "spec": {"nodeName": "n3", "containers": []}})
    };
    let ok = review(
        review_answer(true, AGENT, extra.clone(), ""),
        Some((path, pod("uid-1"))),
        "n3",
    )
    .await;
    assert_eq!(ok, Ok(Identity { node: "n3".into() }));
    // The same pod-bound token asking for another node's span: its pod runs on n3.
    let elsewhere = review(
        review_answer(true, AGENT, extra.clone(), ""),
        Some((path, pod("uid-1"))),
        "n1",
    )
    .await;
    assert_eq!(
        elsewhere,
        Err(AuthError::Forbidden {
            identity: "n3".into(),
            requested: "n1".into()
        })
    );
    let replaced = review(
        review_answer(true, AGENT, extra.clone(), ""),
        Some((path, pod("uid-2"))),
        "n3",
    )
    .await;
    assert!(
        matches!(&replaced, Err(AuthError::Invalid(m)) if m.contains("was replaced")),
        "{replaced:?}"
    );
    let gone = review(
        review_answer(true, AGENT, extra, ""),
        Some((path, Value::Null)),
        "n3",
    )
    .await;
    assert!(
        matches!(&gone, Err(AuthError::Invalid(m)) if m.contains("no longer exists")),
        "{gone:?}"
    );
}

#[tokio::test]
async fn tokenreview_refusals() {
    // An expired token: the API server says why.
    let denied = review(
        review_answer(false, "", json!({}), "token has expired"),
        None,
        "n1",
    )
    .await;
    assert_eq!(denied, Err(AuthError::Invalid("token has expired".into())));
    let node = json!({"authentication.kubernetes.io/node-name": ["n1"]});
    let other = review(
        review_answer(true, "system:serviceaccount:default:web", node.clone(), ""),
        None,
        "n1",
    )
    .await;
    assert!(
        matches!(&other, Err(AuthError::Invalid(m)) if m.contains("not of the agent's")),
        "{other:?}"
    );
    let unbound = review(review_answer(true, AGENT, json!({}), ""), None, "n1").await;
    assert!(
        matches!(&unbound, Err(AuthError::Invalid(m)) if m.contains("bound to neither")),
        "{unbound:?}"
    );
    // A token for another audience: the API server authenticates it but names the token's
    // audiences, not the controller's.
    let mut wrong_audience = review_answer(true, AGENT, node.clone(), "");
    wrong_audience["status"]["audiences"] = json!(["https://kubernetes.default.svc"]);
    let wrong_audience = review(wrong_audience, None, "n1").await;
    assert_eq!(
        wrong_audience,
        Err(AuthError::Invalid(
            "token is not for audience \"kakine-controller\"".into()
        ))
    );
    let mut no_audience = review_answer(true, AGENT, node, "");
    no_audience["status"]
        .as_object_mut()
        .unwrap()
        .remove("audiences");
    assert!(matches!(
        review(no_audience, None, "n1").await,
        Err(AuthError::Invalid(m)) if m.contains("not for audience")
    ));
    // No Authorization header: refused before any request.
    let (client, _server) = pair();
    let auth =
        TokenReviewAuthenticator::new(client, "kakine-controller", "kube-system", "kakine-agent");
    assert_eq!(check(&auth, None, "n1").await, Err(AuthError::Missing));
    // The API server failing: unavailable, not refused.
    let (client, mut server) = pair();
    let auth =
        TokenReviewAuthenticator::new(client, "kakine-controller", "kube-system", "kakine-agent");
    let asked = tokio::spawn(async move { auth.authenticate("t").await });
    server
        .next()
        .await
        .status(500, "InternalError", "etcd timeout");
    assert!(matches!(
        asked.await.unwrap(),
        Err(AuthError::Unavailable(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Lease

const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kakine-controller";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases";

fn lease(holder: &str, rv: &str, renew: &str, transitions: i32) -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
           "metadata": {"name": "kakine-controller", "namespace": "kube-system",
                        "resourceVersion": rv},
           "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                    "acquireTime": "2026-01-01T00:00:00.000000Z",
                    "renewTime": renew, "leaseTransitions": transitions}})
}

#[tokio::test]
async fn lease_acquire_renew_lose_and_take_over() {
    let (client, mut server) = pair();
    let mut options = LeaseOptions::new("kube-system", "kakine-controller", "replica-a");
    options.lease_duration = Duration::from_secs(1);
    let mut elector = Elector::new(client, options);
    let round = |mut e: Elector| tokio::spawn(async move { (e.round().await, e) });

    // Acquire: no Lease yet, create it.
    let t = round(elector);
    server
        .next()
        .await
        .status(404, "NotFound", "leases not found");
    let r = server.next().await;
    r.expect("POST", LEASES, &[]);
    assert_eq!(r.body["spec"]["holderIdentity"], "replica-a");
    assert_eq!(r.body["spec"]["leaseTransitions"], 0);
    assert_eq!(r.body["spec"]["leaseDurationSeconds"], 1);
    let created = r.body.clone();
    let mut answer = created.clone();
    answer["metadata"]["resourceVersion"] = json!("1");
    r.ok(&answer);
    let (leads, e) = t.await.unwrap();
    assert!(leads);
    elector = e;

    // Renew: update with the read resourceVersion, a new renewTime.
    let t = round(elector);
    let r = server.next().await;
    r.expect("GET", LEASE, &[]);
    r.ok(&answer);
    let r = server.next().await;
    r.expect("PUT", LEASE, &[]);
    assert_eq!(r.body["metadata"]["resourceVersion"], "1");
    assert_eq!(r.body["spec"]["holderIdentity"], "replica-a");
    assert_eq!(
        r.body["spec"]["acquireTime"],
        created["spec"]["acquireTime"]
    );
    assert_eq!(r.body["spec"]["leaseTransitions"], 0);
    let renewed = r.body.clone();
    r.ok(&renewed);
    let (leads, e) = t.await.unwrap();
    assert!(leads);
    elector = e;

    // Lose: another replica holds it now (a fresh record): follower, no write.
    let other = lease("replica-b", "7", "2026-01-01T00:00:05.000000Z", 1);
    let t = round(elector);
    server.next().await.ok(&other);
    let (leads, e) = t.await.unwrap();
    assert!(!leads);
    elector = e;
    server.idle(50).await;

    // Take over: the same record seen unchanged, on the local clock, for its whole
    // leaseDurationSeconds (1 s here).
    let mut short = other.clone();
    short["spec"]["leaseDurationSeconds"] = json!(1);
    let t = round(elector);
    server.next().await.ok(&short);
    let (leads, e) = t.await.unwrap();
    assert!(!leads, "first sight of the record starts the clock");
    elector = e;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let t = round(elector);
    server.next().await.ok(&short);
    let r = server.next().await;
    r.expect("PUT", LEASE, &[]);
    assert_eq!(r.body["metadata"]["resourceVersion"], "7");
    assert_eq!(r.body["spec"]["holderIdentity"], "replica-a");
    assert_eq!(r.body["spec"]["leaseTransitions"], 2);
    // Replica b renewed in between: conflict, follower.
    r.status(409, "Conflict", "the object has been modified");
    let (leads, _) = t.await.unwrap();
    assert!(!leads);
}

// ---------------------------------------------------------------------------------------------
// CA ConfigMap

#[tokio::test]
async fn ca_published_by_server_side_apply() {
    use kakine::controller::kube::ca::publish_ca;
    let (client, mut server) = pair();
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let t = tokio::spawn(async move { publish_ca(&client, "kube-system", "kakine-ca", pem).await });
    let r = server.next().await;
    r.expect(
        "PATCH",
        "/api/v1/namespaces/kube-system/configmaps/kakine-ca",
        &[("fieldManager", "kakine-controller"), ("force", "true")],
    );
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(
        r.body,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "kakine-ca", "namespace": "kube-system",
                            "labels": {"app.kubernetes.io/name": "kakine"}},
               "data": {"ca.crt": pem}})
    );
    let answer = r.body.clone();
    r.ok(&answer);
    t.await.unwrap().unwrap();
}
