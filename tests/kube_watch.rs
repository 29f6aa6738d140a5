//! The watchers against an API-server verifier on kube's mock service: every request asserted
//! exactly, answered with real JSON; the event batches sent to the controller core asserted
//! exactly (initial list, watch, bookmarks, watch restart, 410 Gone and relist, errors
//! mid-stream).

mod kube_mock;

use std::time::Duration;

use kakine::controller::kube::watch::{run_watcher, Pods, Policies, WatchOptions};
use kakine::grouping::Event;
use kakine::policy::model::PolicyObject;
use kube::api::Api;
use kube::core::ApiResource;
use kube_mock::{bookmark, event, gone, list, pair};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// One line per event, with what the model holds.
fn describe(e: &Event) -> String {
    match e {
        Event::PodUpsert(p) => format!(
            "pod+ {}/{} {} {:?} node={}",
            p.namespace,
            p.name,
            p.ip,
            p.labels,
            p.node.as_deref().unwrap_or("-")
        ),
        Event::PodDelete(k) => format!("pod- {}/{}", k.namespace, k.name),
        Event::PolicyUpsert(o) => match o {
            PolicyObject::Antrea(p) => {
                format!(
                    "policy+ {} {} {}",
                    p.kind_name(),
                    p.full_name(),
                    p.spec.priority
                )
            }
            other => format!("policy+ {other:?}"),
        },
        Event::PolicyDelete(k) => format!("policy- {k}"),
        other => format!("{other:?}"),
    }
}

async fn batch(rx: &mut mpsc::Receiver<Vec<Event>>) -> Vec<String> {
    let b = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a batch within 10 s")
        .expect("watcher running");
    b.iter().map(describe).collect()
}

async fn no_batch(rx: &mut mpsc::Receiver<Vec<Event>>) {
    if let Ok(Some(b)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
        panic!(
            "unexpected batch {:?}",
            b.iter().map(describe).collect::<Vec<_>>()
        );
    }
}

fn pod(name: &str, rv: &str, ip: Option<&str>, labels: Value) -> Value {
    let mut p = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "x", "resourceVersion": rv, "labels": labels},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i",
                  "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}]}]},
        "status": {"phase": "Running"}
    });
    if let Some(ip) = ip {
        p["status"]["podIP"] = json!(ip);
        p["status"]["podIPs"] = json!([{"ip": ip}]);
    }
    p
}

fn options() -> WatchOptions {
    WatchOptions {
        backoff: false,
        ..WatchOptions::default()
    }
}

const LIST: &[(&str, &str)] = &[("limit", "500")];

fn watch_query(rv: &str) -> Vec<(&'static str, String)> {
    vec![
        ("watch", "true".to_string()),
        ("timeoutSeconds", "290".to_string()),
        ("allowWatchBookmarks", "true".to_string()),
        ("resourceVersion", rv.to_string()),
    ]
}

fn q<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn pods_list_watch_bookmark_restart_gone_relist_and_errors() {
    let (client, mut server) = pair();
    let (tx, mut rx) = mpsc::channel(16);
    let task = tokio::spawn(run_watcher(Api::all(client), Pods, options(), tx));

    // The API server is unavailable at first: the watcher lists again.
    let r = server.next().await;
    r.expect("GET", "/api/v1/pods", LIST);
    r.status(503, "ServiceUnavailable", "etcd is down");

    // Initial list: one batch; a pod without an IP is left out.
    let r = server.next().await;
    r.expect("GET", "/api/v1/pods", LIST);
    r.ok(&list(
        "v1",
        "Pod",
        "10",
        &[
            pod("a", "5", Some("10.0.0.1"), json!({"app": "a"})),
            pod("b", "6", None, json!({"app": "b"})),
            pod("c", "7", Some("10.0.0.3"), json!({"app": "c"})),
        ],
    ));
    assert_eq!(
        batch(&mut rx).await,
        [
            r#"pod+ x/a 10.0.0.1 {"app": "a"} node=n1"#,
            r#"pod+ x/c 10.0.0.3 {"app": "c"} node=n1"#
        ]
    );

    // Watch from the list's version: b gets its IP, a changes only its status (nothing to
    // send), c is deleted, then a bookmark.
    let r = server.next().await;
    r.expect("GET", "/api/v1/pods", &q(&watch_query("10")));
    let mut a_ready = pod("a", "12", Some("10.0.0.1"), json!({"app": "a"}));
    a_ready["status"]["conditions"] = json!([{"type": "Ready", "status": "True"}]);
    r.watch(&[
        event(
            "MODIFIED",
            &pod("b", "11", Some("10.0.0.2"), json!({"app": "b"})),
        ),
        event("MODIFIED", &a_ready),
        event(
            "DELETED",
            &pod("c", "13", Some("10.0.0.3"), json!({"app": "c"})),
        ),
        bookmark("v1", "Pod", "14"),
    ]);
    assert_eq!(
        batch(&mut rx).await,
        [r#"pod+ x/b 10.0.0.2 {"app": "b"} node=n1"#]
    );
    assert_eq!(batch(&mut rx).await, ["pod- x/c"]);
    no_batch(&mut rx).await;

    // The stream ended: the watch restarts from the bookmark's version, and is too old.
    let r = server.next().await;
    r.expect("GET", "/api/v1/pods", &q(&watch_query("14")));
    r.watch(&[gone()]);

    // Relist: the batch is the diff against what was sent (b gone, a changed, d new).
    let r = server.next().await;
    r.expect("GET", "/api/v1/pods", LIST);
    r.ok(&list(
        "v1",
        "Pod",
        "20",
        &[
            pod(
                "a",
                "15",
                Some("10.0.0.1"),
                json!({"app": "a", "tier": "web"}),
            ),
            pod("d", "16", Some("10.0.0.4"), json!({"app": "d"})),
        ],
    ));
    assert_eq!(
        batch(&mut rx).await,
        [
            "pod- x/b",
            r#"pod+ x/a 10.0.0.1 {"app": "a", "tier": "web"} node=n1"#,
            r#"pod+ x/d 10.0.0.4 {"app": "d"} node=n1"#
        ]
    );

    // An error mid-stream (a line that is not JSON): logged, the stream goes on.
    let r = server.next().await;
    r.expect("GET", "/api/v1/pods", &q(&watch_query("20")));
    let mut bytes = serde_json::to_vec(&event(
        "MODIFIED",
        &pod("d", "21", Some("10.0.0.4"), json!({"app": "d", "v": "1"})),
    ))
    .unwrap();
    bytes.extend(b"\n{\"type\": \"MODIFIED\", \"object\": {broken\n");
    bytes.extend(
        serde_json::to_vec(&event(
            "MODIFIED",
            &pod("d", "22", Some("10.0.0.4"), json!({"app": "d", "v": "2"})),
        ))
        .unwrap(),
    );
    bytes.push(b'\n');
    r.raw(&bytes);
    assert_eq!(
        batch(&mut rx).await,
        [r#"pod+ x/d 10.0.0.4 {"app": "d", "v": "1"} node=n1"#]
    );
    assert_eq!(
        batch(&mut rx).await,
        [r#"pod+ x/d 10.0.0.4 {"app": "d", "v": "2"} node=n1"#]
    );

    // A finished pod is left out (its IP may be reused).
    let r = server.next().await;
    r.expect("GET", "/api/v1/pods", &q(&watch_query("22")));
    let mut done = pod(
        "a",
        "23",
        Some("10.0.0.1"),
        json!({"app": "a", "tier": "web"}),
    );
    done["status"]["phase"] = json!("Succeeded");
    r.watch(&[event("MODIFIED", &done)]);
    assert_eq!(batch(&mut rx).await, ["pod- x/a"]);

    let _ = server.next().await;
    task.abort();
}

fn kcnp(name: &str, rv: &str, priority: Value, action: &str) -> Value {
    json!({
        "apiVersion": "crd.kakine.io/v1beta1", "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name, "resourceVersion": rv, "generation": 1, "uid": "u-1"},
        "spec": {
            "priority": priority,
            "appliedTo": [{"podSelector": {"matchLabels": {"app": "a"}}}],
            "ingress": [{"action": action, "from": [{"podSelector": {}}]}]
        },
        "status": {"phase": "Realized", "observedGeneration": 1,
                   "currentNodesRealized": 1, "desiredNodesRealized": 1}
    })
}

#[tokio::test]
async fn policies_convert_keep_the_last_good_version_and_delete() {
    let (client, mut server) = pair();
    let (tx, mut rx) = mpsc::channel(16);
    let resource = ApiResource {
        group: "crd.kakine.io".into(),
        version: "v1beta1".into(),
        api_version: "crd.kakine.io/v1beta1".into(),
        kind: "ClusterNetworkPolicy".into(),
        plural: "clusternetworkpolicies".into(),
    };
    let api = Api::all_with(client, &resource);
    let task = tokio::spawn(run_watcher(
        api,
        Policies {
            resource,
            generations: None,
        },
        options(),
        tx,
    ));

    let r = server.next().await;
    r.expect(
        "GET",
        "/apis/crd.kakine.io/v1beta1/clusternetworkpolicies",
        LIST,
    );
    // List items come without apiVersion and kind; a bad policy is left out (and logged).
    let mut good = kcnp("good", "3", json!(5), "Allow");
    let mut bad = kcnp("bad", "4", json!(6), "Accept");
    for p in [&mut good, &mut bad] {
        p.as_object_mut().unwrap().remove("apiVersion");
        p.as_object_mut().unwrap().remove("kind");
    }
    r.ok(&list(
        "crd.kakine.io/v1beta1",
        "ClusterNetworkPolicy",
        "4",
        &[good, bad],
    ));
    assert_eq!(
        batch(&mut rx).await,
        ["policy+ ClusterNetworkPolicy good 5"]
    );

    let r = server.next().await;
    r.expect(
        "GET",
        "/apis/crd.kakine.io/v1beta1/clusternetworkpolicies",
        &q(&watch_query("4")),
    );
    r.watch(&[
        // A status-only update: nothing to send.
        event("MODIFIED", &{
            let mut p = kcnp("good", "5", json!(5), "Allow");
            p["status"]["currentNodesRealized"] = json!(2);
            p
        }),
        // A bad edit: the last good version stays in force.
        event("MODIFIED", &kcnp("good", "6", json!(5), "Accept")),
        event("MODIFIED", &kcnp("good", "7", json!(7.5), "Drop")),
        event("DELETED", &kcnp("good", "8", json!(7.5), "Drop")),
        event("DELETED", &kcnp("bad", "9", json!(6), "Accept")),
    ]);
    assert_eq!(
        batch(&mut rx).await,
        ["policy+ ClusterNetworkPolicy good 7.5"]
    );
    assert_eq!(batch(&mut rx).await, ["policy- ClusterNetworkPolicy good"]);
    no_batch(&mut rx).await;
    let _ = server.next().await;
    task.abort();
}

#[tokio::test]
async fn run_lists_every_kind_discovers_the_optional_ones_marks_synced_and_stops_with_the_core() {
    use kakine::controller::kube::{run, KubeOptions};
    use std::collections::BTreeSet;
    let (client, mut server) = pair();
    let (tx, mut rx) = mpsc::channel(16);
    let (_counts_tx, counts_rx) = tokio::sync::watch::channel(Default::default());
    let options = KubeOptions {
        watch: options(),
        ..KubeOptions::default()
    };
    let task = tokio::spawn(run(client, options, tx, counts_rx));
    let expected: BTreeSet<&str> = [
        "/api/v1/namespaces",
        "/api/v1/nodes",
        "/api/v1/pods",
        "/apis/crd.kakine.io/v1beta1/tiers",
        "/apis/crd.kakine.io/v1beta1/clusternetworkpolicies",
        "/apis/crd.kakine.io/v1beta1/networkpolicies",
        "/apis/crd.kakine.io/v1beta1/clustergroups",
        "/apis/crd.kakine.io/v1beta1/groups",
        "/apis/networking.k8s.io/v1/networkpolicies",
        // Served (discovered); BaselineAdminNetworkPolicy and v1alpha2 are not.
        "/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies",
    ]
    .into();
    let mut listed = BTreeSet::new();
    let mut discovered = BTreeSet::new();
    let mut watches = Vec::new();
    while listed.len() < expected.len() || discovered.len() < 2 {
        let r = server.next().await;
        let path = r.path.clone();
        match path.as_str() {
            "/apis/policy.networking.k8s.io/v1alpha1" => {
                discovered.insert(path);
                r.ok(&json!({"kind": "APIResourceList", "apiVersion": "v1",
                    "groupVersion": "policy.networking.k8s.io/v1alpha1",
                    "resources": [{"name": "adminnetworkpolicies",
                        "singularName": "adminnetworkpolicy", "namespaced": false,
                        "kind": "AdminNetworkPolicy", "verbs": ["get", "list", "watch"]}]}));
            }
            "/apis/policy.networking.k8s.io/v1alpha2" => {
                discovered.insert(path);
                r.status(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                );
            }
            _ if r.query.contains_key("watch") => watches.push(r),
            _ => {
                r.expect("GET", &path, LIST);
                assert!(expected.contains(path.as_str()), "unexpected list {path}");
                assert!(listed.insert(path.clone()), "listed twice: {path}");
                let items = match path.as_str() {
                    "/api/v1/namespaces" => vec![json!({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": "x", "resourceVersion": "1"}})],
                    "/apis/crd.kakine.io/v1beta1/tiers" => vec![json!({
                        "metadata": {"name": "devops", "resourceVersion": "2"},
                        "spec": {"priority": 120}})],
                    _ => vec![],
                };
                r.ok(&list("v1", "Object", "5", &items));
            }
        }
    }
    let mut sent = vec![batch(&mut rx).await, batch(&mut rx).await];
    sent.sort();
    assert!(
        sent[0][0].starts_with("NamespaceUpsert(Namespace { name: \"x\""),
        "{sent:?}"
    );
    assert!(sent[1][0].starts_with("policy+ Tier("), "{sent:?}");
    assert!(sent[1][0].contains("name: \"devops\""), "{sent:?}");
    // Every watcher's initial list sent: then the synced mark (the empty batch), after them;
    // the controller serves spans from it on.
    assert_eq!(batch(&mut rx).await, Vec::<String>::new());
    no_batch(&mut rx).await;
    // The core stops: so does the kube layer, every watcher with it.
    drop(rx);
    let stopped = tokio::time::timeout(Duration::from_secs(5), task).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
    drop(watches);
}
