//! `kakinectl explain --cluster` and `matrix --cluster` against a local API endpoint served to
//! the real `kubectl`: scenarios of the corpus rendered to the objects an API server lists
//! (typed lists without items' kinds, pages with continue tokens), a bearer token and a
//! context from a kubeconfig; the answers must equal the offline commands' on the same
//! scenario written as a standalone directory. Then the errors: unreachable, RBAC forbidden,
//! CRDs not installed.
//!
//! Needs `kubectl` on PATH (or `KUBECTL`), as `tests/manifests.rs` does.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use kakine::controller::kube::policy_resources;
use kakine::lab::kind_suite::as_kakine_kind;
use kakine::lab::kube_objects::{self, PodShape};
use kakine::lab::scenario::{read_scenario, step_cluster, Scenario};
use serde_json::{json, Value};

const TOKEN: &str = "plugin-test-token";
/// Items per page: small, so that every list of a scenario takes several pages.
const PAGE: usize = 3;

/// What the endpoint serves: list path -> items; the paths it refuses with 403.
struct Api {
    lists: BTreeMap<String, (String, String, Vec<Value>)>,
    forbidden: BTreeSet<String>,
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": message, "reason": reason, "code": code.as_u16()});
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn query(req: &Request) -> BTreeMap<String, String> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            // The only escapes a continue token needs here.
            let v = v
                .replace("%2B", "+")
                .replace("%2F", "/")
                .replace("%3D", "=");
            (k.to_string(), v)
        })
        .collect()
}

async fn handle(State(api): State<Arc<Api>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if path == "/version" {
        let v = json!({"major": "1", "minor": "32", "gitVersion": "v1.32.0"});
        return Response::new(Body::from(v.to_string()));
    }
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {TOKEN}")) {
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    }
    if api.forbidden.contains(&path) {
        let resource = path.rsplit('/').next().unwrap_or_default();
        return status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!("{resource} is forbidden: User \"alice\" cannot list resource \"{resource}\" at the cluster scope"),
        );
    }
    let Some((api_version, kind, items)) = api.lists.get(&path) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let q = query(&req);
    assert_eq!(q.get("limit").map(String::as_str), Some("500"), "{path}");
    // Continue tokens look like the API server's (base64, with `+`, `/`, `=`).
    let from: usize = q
        .get("continue")
        .map(|t| {
            t.trim_start_matches("c+/")
                .trim_end_matches('=')
                .parse()
                .unwrap()
        })
        .unwrap_or(0);
    let page: Vec<Value> = items.iter().skip(from).take(PAGE).cloned().collect();
    let mut meta = json!({"resourceVersion": "42"});
    if from + PAGE < items.len() {
        meta["continue"] = json!(format!("c+/{}=", from + PAGE));
    }
    let list = json!({"kind": format!("{kind}List"), "apiVersion": api_version,
                      "metadata": meta, "items": page});
    Response::new(Body::from(list.to_string()))
}

/// Serves `api` over HTTPS on 127.0.0.1 (its own thread and runtime), with a CA and serving
/// certificate written into `certs` (kubectl sends a bearer token over TLS only); returns the
/// address.
fn serve(api: Api, certs: &Path) -> SocketAddr {
    kakine::controller::tls::generate(certs, &["127.0.0.1".to_string()], false).unwrap();
    let mut tls = (*kakine::controller::tls::server_config(certs).unwrap()).clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(Arc::new(api));
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (tcp, _) = l.accept().await.unwrap();
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    addr
}

/// A kubeconfig whose current context points at nothing listening, and whose context
/// `scenario` points at `addr` with the bearer token.
fn kubeconfig(dir: &Path, addr: SocketAddr) -> PathBuf {
    let path = dir.join("kubeconfig");
    let ca = dir.join("certs/ca.crt").display().to_string();
    let text = format!(
        "apiVersion: v1\nkind: Config\n\
         clusters:\n\
         - {{name: test, cluster: {{server: \"https://{addr}\", certificate-authority: {ca}}}}}\n\
         - {{name: nowhere, cluster: {{server: \"http://127.0.0.1:1\"}}}}\n\
         users: [{{name: alice, user: {{token: {TOKEN}}}}}]\n\
         contexts:\n\
         - {{name: scenario, context: {{cluster: test, user: alice}}}}\n\
         - {{name: nowhere, context: {{cluster: nowhere, user: alice}}}}\n\
         current-context: nowhere\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The objects of step 1 of `scenario` as the API server lists them. Built-in lists' items
/// carry no `apiVersion`/`kind`; custom resources' do.
fn api_of(scenario: &Scenario, served_crds: &[&str]) -> Api {
    let step = &scenario.steps[0];
    let cluster = step_cluster(&scenario.cluster, &step.label_overrides);
    let bare = |mut o: Value| {
        let m = o.as_object_mut().unwrap();
        m.remove("apiVersion");
        m.remove("kind");
        o
    };
    let mut lists = BTreeMap::new();
    let mut core = |plural: &str, kind: &str, items: Vec<Value>| {
        let items = items.into_iter().map(bare).collect();
        lists.insert(
            format!("/api/v1/{plural}"),
            ("v1".to_string(), kind.to_string(), items),
        );
    };
    core(
        "namespaces",
        "Namespace",
        cluster
            .namespaces
            .iter()
            .map(kube_objects::namespace)
            .collect(),
    );
    core(
        "nodes",
        "Node",
        cluster.nodes.iter().map(kube_objects::node).collect(),
    );
    core(
        "pods",
        "Pod",
        cluster
            .pods
            .iter()
            .map(|p| kube_objects::pod(p, &PodShape::Served))
            .collect(),
    );
    // Antrea's kinds are served as kakine's unless Antrea's group is.
    let resources: Vec<Value> = step
        .resources
        .iter()
        .map(|o| match served_crds.contains(&"crd.antrea.io") {
            true => o.clone(),
            false => as_kakine_kind(o),
        })
        .collect();
    let mut placed = 0;
    for p in policy_resources(true) {
        let r = p.resource;
        let builtin = r.group == "networking.k8s.io";
        if !builtin && !served_crds.contains(&r.group.as_str()) {
            continue;
        }
        let items: Vec<Value> = resources
            .iter()
            .filter(|o| o["apiVersion"] == r.api_version.as_str() && o["kind"] == r.kind.as_str())
            .map(|o| if builtin { bare(o.clone()) } else { o.clone() })
            .collect();
        placed += items.len();
        lists.insert(
            format!("/apis/{}/{}", r.api_version, r.plural),
            (r.api_version.clone(), r.kind.clone(), items),
        );
    }
    assert_eq!(
        placed,
        resources.len(),
        "{}: a policy kind not served",
        scenario.id
    );
    Api {
        lists,
        forbidden: BTreeSet::new(),
    }
}

/// Step 1 of `scenario` as a standalone directory.
fn offline_dir(scenario: &Scenario, dir: &Path) {
    let step = &scenario.steps[0];
    let cluster = step_cluster(&scenario.cluster, &step.label_overrides);
    std::fs::write(
        dir.join("cluster.yaml"),
        kube_objects::cluster_document(&cluster).to_string(),
    )
    .unwrap();
    let docs: Vec<String> = step.resources.iter().map(Value::to_string).collect();
    std::fs::write(dir.join("policies.yaml"), docs.join("\n---\n")).unwrap();
}

fn kakinectl(args: &[&str], home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kakinectl"))
        .args(args)
        // kubectl keeps its discovery cache and dispatcher state under $HOME.
        .env("HOME", home)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `args` offline on DIR and with `--cluster`, and returns both outputs.
fn both(args: &[&str], dir: &Path, kc: &Path, extra: &[&str]) -> (Output, Output) {
    let d = dir.to_str().unwrap();
    let mut offline: Vec<&str> = vec![args[0], d];
    offline.extend(&args[1..]);
    let k = kc.to_str().unwrap();
    let mut live: Vec<&str> = vec![args[0], "--cluster", "--kubeconfig", k];
    live.extend(["--context", "scenario"]);
    live.extend(extra);
    live.extend(&args[1..]);
    (kakinectl(&offline, dir), kakinectl(&live, dir))
}

fn same_answer(file: &str, served_crds: &[&str], extra: &[&str]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let scenario = read_scenario(&path).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let addr = serve(api_of(&scenario, served_crds), &tmp.path().join("certs"));
    let kc = kubeconfig(tmp.path(), addr);
    offline_dir(&scenario, tmp.path());
    let probe = &scenario.steps[0].probes[0];
    let port = probe.port.to_string();
    let to = probe.to.clone().unwrap();
    let questions: Vec<Vec<&str>> = vec![
        vec!["matrix", "--rules"],
        vec!["matrix", "-o", "json"],
        vec![
            "explain",
            "--from",
            &probe.from,
            "--to",
            &to,
            "--port",
            &port,
            "--protocol",
            &probe.protocol,
        ],
    ];
    for q in questions {
        let (offline, live) = both(&q, tmp.path(), &kc, extra);
        assert!(
            offline.status.success(),
            "{file} {q:?} offline: {}",
            text(&offline.stderr)
        );
        assert!(
            live.status.success(),
            "{file} {q:?} --cluster: {}",
            text(&live.stderr)
        );
        assert!(!offline.stdout.is_empty());
        assert_eq!(text(&live.stdout), text(&offline.stdout), "{file} {q:?}");
        // Every policy kind not served is named as not installed, and only those.
        let stderr = text(&live.stderr);
        for p in policy_resources(extra.contains(&"--antrea-crds")) {
            let r = p.resource;
            let served = r.group == "networking.k8s.io" || served_crds.contains(&r.group.as_str());
            let named = stderr.contains(&format!("{}.{} ", r.plural, r.group));
            assert_eq!(named, !served, "{file}: {} in {stderr}", r.plural);
        }
    }
}

#[test]
fn kubernetes_networkpolicies_answer_as_offline() {
    same_answer(
        "tests/cases/k8s-26-ingress-from-updated-pod-label.yaml",
        &["crd.kakine.io"],
        &[],
    );
}

#[test]
fn antrea_kinds_behind_the_flag_answer_as_offline() {
    same_answer(
        "tests/cases/antrea-11-rule-appliedto-clustergroup.yaml",
        &["crd.antrea.io"],
        &["--antrea-crds"],
    );
}

#[test]
fn admin_policies_and_nodes_answer_as_offline() {
    same_answer(
        "tests/scenarios/kakine-05-node-selector.yaml",
        &["crd.kakine.io", "policy.networking.k8s.io"],
        &[],
    );
    same_answer(
        "tests/cases/anp-12-ingress-named-port.yaml",
        &["policy.networking.k8s.io"],
        &[],
    );
}

#[test]
fn v1alpha2_tiers_answer_as_offline() {
    same_answer(
        "tests/scenarios/kakine-09-cnp-v1alpha2-tiers.yaml",
        &["crd.kakine.io", "policy.networking.k8s.io"],
        &[],
    );
}

#[test]
fn kubectl_kakine_reads_the_cluster_without_a_directory() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/k8s-21-ingress-named-port.yaml");
    let scenario = read_scenario(&path).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let addr = serve(
        api_of(&scenario, &["crd.kakine.io"]),
        &tmp.path().join("certs"),
    );
    let kc = kubeconfig(tmp.path(), addr);
    offline_dir(&scenario, tmp.path());
    // kubectl finds the plugin on PATH, as `make install-plugin` leaves it.
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kakinectl"), bin.join("kubectl-kakine"))
        .unwrap();
    let path_var = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".to_string());
    let live = Command::new(kubectl)
        .args([
            "kakine",
            "matrix",
            "--rules",
            "--kubeconfig",
            kc.to_str().unwrap(),
        ])
        .args(["--context", "scenario"])
        .env("PATH", path_var)
        .env("HOME", tmp.path())
        .output()
        .unwrap();
    let offline = kakinectl(
        &["matrix", tmp.path().to_str().unwrap(), "--rules"],
        tmp.path(),
    );
    assert!(live.status.success(), "{}", text(&live.stderr));
    assert!(offline.status.success(), "{}", text(&offline.stderr));
    assert_eq!(text(&live.stdout), text(&offline.stdout));
}

/// The stderr of `kakinectl QUESTION --cluster` against `api` (or nothing listening) in
/// `context`, which must fail with exit status 1.
fn live_error_of(question: &[&str], api: Option<Api>, context: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let addr = match api {
        Some(api) => serve(api, &tmp.path().join("certs")),
        None => "127.0.0.1:1".parse().unwrap(),
    };
    let kc = kubeconfig(tmp.path(), addr);
    let mut args = vec![
        question[0],
        "--cluster",
        "--kubeconfig",
        kc.to_str().unwrap(),
    ];
    args.extend(["--context", context]);
    args.extend(&question[1..]);
    let out = kakinectl(&args, tmp.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    text(&out.stderr)
}

fn live_error(api: Option<Api>, context: &str) -> String {
    live_error_of(&["matrix"], api, context)
}

#[test]
fn a_pod_without_an_ip_is_named_pending() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/k8s-01-default-deny-ingress.yaml");
    let mut api = api_of(&read_scenario(&path).unwrap(), &["crd.kakine.io"]);
    let pods = &mut api.lists.get_mut("/api/v1/pods").unwrap().2;
    let a = pods
        .iter_mut()
        .find(|p| p["metadata"]["namespace"] == "x" && p["metadata"]["name"] == "a")
        .unwrap();
    a["status"] = json!({"phase": "Pending"});
    let question = ["explain", "--from", "x/a", "--to", "x/b", "--port", "80"];
    let e = live_error_of(&question, Some(api), "scenario");
    assert!(
        e.ends_with(
            "kakinectl: pod x/a in the cluster (context scenario) has no IP yet (pending)\n"
        ),
        "{e}"
    );
}

#[test]
fn an_unreachable_cluster_is_one_clear_error() {
    // The current context points at a closed port.
    let e = live_error(None, "nowhere");
    assert!(
        e.starts_with("kakinectl: cannot reach the cluster (context nowhere): "),
        "{e}"
    );
    assert!(e.contains("127.0.0.1:1"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
}

#[test]
fn rbac_refusals_name_every_list_refused() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/k8s-01-default-deny-ingress.yaml");
    let mut api = api_of(&read_scenario(&path).unwrap(), &["crd.kakine.io"]);
    api.forbidden = ["/api/v1/pods", "/apis/crd.kakine.io/v1beta1/tiers"]
        .map(String::from)
        .into();
    let e = live_error(Some(api), "scenario");
    assert!(
        e.contains("RBAC: the user of the cluster (context scenario) may not list "),
        "{e}"
    );
    assert!(
        e.contains("pods, tiers.crd.kakine.io (crd.kakine.io/v1beta1 Tier)"),
        "{e}"
    );
    assert!(e.contains("pods is forbidden: User \"alice\""), "{e}");
}
