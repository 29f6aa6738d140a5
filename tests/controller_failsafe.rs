//! The standalone controller fails safe (issue #12, a new user's findings), each checked on
//! the real parts (the directory source, the controller, the HTTP/2 + TLS server, real
//! sockets on 127.0.0.1):
//!
//! - a restart keeps serving the last good version of an object whose file is refused now
//!   (a bad port, a duplicate name across two files), from `--state-dir`; without a state
//!   directory the same restart loses it (the defect, kept as the contrast);
//! - no span is served before the first valid content: a Cluster document that does not
//!   validate, or an empty directory, gets `503` with `Retry-After`, `/readyz` says 503; the
//!   fixed file then serves the span;
//! - a replaced directory (`mv dir dir.old; mkdir dir; cp …`) and a swapped symlink are read;
//! - an idle TCP connection is closed after the handshake timeout, connections beyond the
//!   bound are closed at once, a refused POST closes its connection, a report above the cap is
//!   refused with 413;
//! - the binary reads its tokens file again on SIGHUP and goes on (`--metrics-addr off`); an
//!   open span stream whose token the reload revoked ends, one whose token stays goes on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kakine::controller::auth::TokenFile;
use kakine::controller::client::{Client, ClientError};
use kakine::controller::realization::{PolicyRealization, RealizationReport};
use kakine::controller::server::{self, ServeOptions};
use kakine::controller::{metrics, standalone, tls, Controller};
use kakine::controlplane::{Frame, NodeSpan};
use kakine::policy::resolved::RuleAction;
use tokio::io::AsyncReadExt;

#[path = "support/controlplane_parts.rs"]
mod parts;
use parts::{web_to_db, Running, CLUSTER};

/// A Drop policy applied to `db` (node n2) from `web`, on `port`.
fn policy(name: &str, port: u32) -> String {
    web_to_db(name, "Drop", Some(port))
}

const TOKEN: &str = "n2-token-0123456789abcdef";

impl Running {
    /// Waits (5 s at most) for the source's initial content; whether it came.
    async fn synced(&self) -> bool {
        for _ in 0..250 {
            if self.controller.synced() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Node n2's span as a fresh subscriber gets it.
    fn span(&self) -> NodeSpan {
        let mut sub = self.controller.subscribe("n2", None);
        let mut span = NodeSpan::default();
        while let Ok(f) = sub.frames.try_recv() {
            span.apply(&f).unwrap();
        }
        span
    }

    /// The rules of node n2's span: (rule id, action).
    fn rules(&self) -> Vec<(String, RuleAction)> {
        self.span()
            .derive_from()
            .rules
            .iter()
            .map(|r| (r.id.to_string(), r.action))
            .collect()
    }
}

async fn start(dir: &Path, state: Option<&Path>, certs: &Path, options: ServeOptions) -> Running {
    let controller = Controller::new(Controller::first_version());
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let auth = Arc::new(TokenFile::from_pairs([("n2", TOKEN)]));
    let (dir, state) = (dir.to_path_buf(), state.map(Path::to_path_buf));
    let tasks = vec![
        tokio::spawn(async move {
            standalone::watch_with(dir, Duration::from_millis(20), state, tx)
                .await
                .unwrap()
        }),
        tokio::spawn(controller.clone().run(rx, Duration::from_millis(200))),
        tokio::spawn(server::serve_with(
            listener,
            tls::server_config(certs).unwrap(),
            controller.clone(),
            auth,
            options,
        )),
    ];
    Running {
        controller,
        addr,
        tasks,
    }
}

fn client(r: &Running, certs: &Path, token: &str) -> Client {
    let token_file = certs.join(format!("token-{}", token.len()));
    std::fs::write(&token_file, token).unwrap();
    Client::new(
        &format!("https://127.0.0.1:{}", r.addr.port()),
        tls::client_config(&certs.join(tls::CA_CRT)).unwrap(),
        token_file,
        "n2",
    )
    .unwrap()
}

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, certs) = (tmp.path().join("input"), tmp.path().join("certs"));
    std::fs::create_dir_all(&dir).unwrap();
    tls::generate(&certs, &["127.0.0.1".to_string()], false).unwrap();
    (tmp, dir, certs)
}

/// Waits until `f` holds (5 s at most).
async fn until(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..250 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn drop_rule(name: &str) -> Vec<(String, RuleAction)> {
    vec![(format!("application/{name}/from-web"), RuleAction::Drop)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_serving_the_last_good_version_of_a_refused_object() {
    let (tmp, dir, certs) = setup();
    let state = tmp.path().join("state");
    std::fs::write(dir.join("cluster.yaml"), CLUSTER).unwrap();
    std::fs::write(dir.join("policy.yaml"), policy("deny-5432", 5432)).unwrap();
    std::fs::write(dir.join("other.yaml"), policy("deny-6379", 6379)).unwrap();
    let opts = ServeOptions::default();
    let r = start(&dir, Some(&state), &certs, opts).await;
    assert!(r.synced().await);
    let both = [drop_rule("deny-5432"), drop_rule("deny-6379")].concat();
    assert!(until(|| r.rules() == both).await, "{:?}", r.rules());
    // A port out of range, and deny-5432 given again in the other file: both refused, the
    // last good versions stay served while running ...
    std::fs::write(dir.join("policy.yaml"), policy("deny-5432", 70000)).unwrap();
    std::fs::write(
        dir.join("other.yaml"),
        format!(
            "{}---\n{}",
            policy("deny-6379", 6379),
            policy("deny-5432", 1)
        ),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(r.rules(), both);
    r.stop().await;
    // ... and after a restart, from the state directory.
    let r = start(&dir, Some(&state), &certs, opts).await;
    assert!(r.synced().await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(r.rules(), both);
    // deny-5432 still on its last good port, not the refused 70000 or the duplicate's 1.
    let services = format!("{:?}", r.span().derive_from().rules[0].services);
    assert!(services.contains("5432"), "{services}");
    r.stop().await;
    // Without a state directory the restart loses what was refused (the defect #12 found).
    let r = start(&dir, None, &certs, opts).await;
    assert!(r.synced().await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(r.rules(), drop_rule("deny-6379"));
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_span_is_served_before_the_first_valid_content() {
    let (_tmp, dir, certs) = setup();
    // A pod on an undeclared node: the Cluster document is refused, nothing validates.
    std::fs::write(
        dir.join("cluster.yaml"),
        CLUSTER.replace("node: n2}", "node: n9}"),
    )
    .unwrap();
    std::fs::write(dir.join("policy.yaml"), policy("deny-5432", 5432)).unwrap();
    let r = start(&dir, None, &certs, ServeOptions::default()).await;
    let metrics_addr = {
        let (a, _) = metrics::serve("127.0.0.1:0".parse().unwrap(), r.controller.clone())
            .await
            .unwrap();
        a
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!r.controller.synced());
    match client(&r, &certs, TOKEN).subscribe(None).await {
        Err(ClientError::Refused { status, message }) => {
            assert_eq!(status, 503);
            assert!(message.contains("no span is served"), "{message}");
        }
        Err(e) => panic!("expected a 503, got {e}"),
        Ok(_) => panic!("a span was served before any valid content"),
    }
    let (status, body) = http_get(metrics_addr, "/readyz").await;
    assert!(status.contains("503"), "{status} {body}");
    // The fixed file: served, ready.
    std::fs::write(dir.join("cluster.yaml"), CLUSTER).unwrap();
    assert!(r.synced().await);
    let mut frames = client(&r, &certs, TOKEN).subscribe(None).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), frames.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Frame::Snapshot(s) = first else {
        panic!("a snapshot first, got {first:?}")
    };
    assert_eq!(s.policies.len(), 1);
    assert!(http_get(metrics_addr, "/readyz").await.0.contains("200"));
    r.stop().await;

    // An empty directory: nothing to serve either.
    let empty = dir.with_file_name("empty");
    std::fs::create_dir(&empty).unwrap();
    let r = start(&empty, None, &certs, ServeOptions::default()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!r.controller.synced());
    let e = client(&r, &certs, TOKEN).subscribe(None).await.err();
    assert!(
        matches!(e, Some(ClientError::Refused { status: 503, .. })),
        "{e:?}"
    );
    r.stop().await;
}

/// `GET path` over plain HTTP/1: the status line and the body.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out.lines().next().unwrap_or_default().to_string();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_directory_and_a_swapped_symlink_are_followed() {
    let (tmp, dir, certs) = setup();
    std::fs::write(dir.join("cluster.yaml"), CLUSTER).unwrap();
    std::fs::write(dir.join("policy.yaml"), policy("deny-5432", 5432)).unwrap();
    let r = start(&dir, None, &certs, ServeOptions::default()).await;
    assert!(r.synced().await);
    assert!(until(|| r.rules() == drop_rule("deny-5432")).await);
    // mv dir dir.old; mkdir dir; cp dir.old/* dir/ (and an edit)
    let old = tmp.path().join("input.old");
    std::fs::rename(&dir, &old).unwrap();
    std::fs::create_dir(&dir).unwrap();
    // The move is the old directory's last event: read (an empty directory, refused) before
    // the copy, so that only following the path can see the copy.
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::copy(old.join("cluster.yaml"), dir.join("cluster.yaml")).unwrap();
    std::fs::write(dir.join("policy.yaml"), policy("deny-6379", 6379)).unwrap();
    assert!(
        until(|| r.rules() == drop_rule("deny-6379")).await,
        "{:?}",
        r.rules()
    );
    r.stop().await;

    // A symlink swapped atomically: ln -sfn v2 tmp && mv -T tmp link
    let (v1, v2, link) = (
        tmp.path().join("v1"),
        tmp.path().join("v2"),
        tmp.path().join("link"),
    );
    for (v, name) in [(&v1, "deny-1"), (&v2, "deny-2")] {
        std::fs::create_dir(v).unwrap();
        std::fs::write(v.join("cluster.yaml"), CLUSTER).unwrap();
        std::fs::write(v.join("policy.yaml"), policy(name, 80)).unwrap();
    }
    std::os::unix::fs::symlink(&v1, &link).unwrap();
    let r = start(&link, None, &certs, ServeOptions::default()).await;
    assert!(r.synced().await);
    assert!(until(|| r.rules() == drop_rule("deny-1")).await);
    let swap = tmp.path().join("swap");
    std::os::unix::fs::symlink(&v2, &swap).unwrap();
    std::fs::rename(&swap, &link).unwrap();
    assert!(
        until(|| r.rules() == drop_rule("deny-2")).await,
        "{:?}",
        r.rules()
    );
    r.stop().await;
}

/// A raw HTTP/2 connection over TLS to `r`: its request sender and the connection's task
/// (it ends when the server closes the connection).
async fn h2(
    r: &Running,
    certs: &Path,
) -> (
    hyper::client::conn::http2::SendRequest<http_body_util::Full<hyper::body::Bytes>>,
    tokio::task::JoinHandle<Result<(), hyper::Error>>,
) {
    let tcp = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    let tls =
        tokio_rustls::TlsConnector::from(tls::client_config(&certs.join(tls::CA_CRT)).unwrap())
            .connect("127.0.0.1".try_into().unwrap(), tcp)
            .await
            .unwrap();
    let (send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    (send, tokio::spawn(conn))
}

/// Reads until the peer closes (`Ok`) or `within` passes (`Err`).
async fn closed_within(s: &mut tokio::net::TcpStream, within: Duration) -> Result<(), ()> {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .map_err(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_surplus_connections_are_closed() {
    let (_tmp, dir, certs) = setup();
    std::fs::write(dir.join("cluster.yaml"), CLUSTER).unwrap();
    let options = ServeOptions {
        handshake_timeout: Duration::from_millis(500),
        max_connections: 2,
    };
    let r = start(&dir, None, &certs, options).await;
    // Two idle TCP connections (no TLS handshake) hold both slots; a third is closed at once.
    let mut a = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    let mut b = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut c = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    assert_eq!(
        closed_within(&mut c, Duration::from_millis(300)).await,
        Ok(()),
        "the connection beyond the bound is closed at once"
    );
    // The idle ones are closed after the handshake timeout, not before.
    let t0 = std::time::Instant::now();
    assert_eq!(closed_within(&mut a, Duration::from_secs(3)).await, Ok(()));
    assert_eq!(closed_within(&mut b, Duration::from_secs(3)).await, Ok(()));
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );
    // Their slots are free again: a new connection is held until its own timeout.
    let mut d = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    assert_eq!(
        closed_within(&mut d, Duration::from_millis(200)).await,
        Err(())
    );
    drop(d);
    // A peer that completes TLS and HTTP/2 but sends no request is closed as long again after.
    let t0 = std::time::Instant::now();
    let (_send, conn) = h2(&r, &certs).await;
    tokio::time::timeout(Duration::from_secs(5), conn)
        .await
        .expect("a connection with no authenticated request is closed")
        .unwrap()
        .ok();
    assert!(
        t0.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t0.elapsed()
    );
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_post_closes_its_connection_and_a_huge_report_is_refused() {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    let (_tmp, dir, certs) = setup();
    std::fs::write(dir.join("cluster.yaml"), CLUSTER).unwrap();
    let r = start(&dir, None, &certs, ServeOptions::default()).await;
    assert!(r.synced().await);
    // A forged token with a 1 MiB body, on a raw HTTP/2 connection.
    let (mut send, conn) = h2(&r, &certs).await;
    let req = hyper::Request::post("https://127.0.0.1/v1/realization/n2")
        .header("authorization", "Bearer forged-token-0123456789")
        .body(Full::new(Bytes::from(vec![b' '; 1 << 20])))
        .unwrap();
    if let Ok(resp) = send.send_request(req).await {
        assert_eq!(resp.status(), 401);
        let _ = resp.into_body().collect().await;
    }
    // The server closes the connection (GOAWAY, then the TCP connection).
    tokio::time::timeout(Duration::from_secs(5), conn)
        .await
        .expect("the refused connection is closed by the server")
        .unwrap()
        .ok();
    // An authenticated report above the cap: 413, not read into memory.
    let entry = PolicyRealization {
        kind: "ClusterNetworkPolicy".into(),
        name: "n".repeat(253),
        generation: 1,
        failure: None,
        pending: None,
    };
    let huge = RealizationReport {
        version: 1,
        policies: vec![entry; server::MAX_REPORT / 250],
    };
    match client(&r, &certs, TOKEN).report(&huge).await {
        Err(ClientError::Refused { status, .. }) => assert_eq!(status, 413),
        other => panic!("expected a 413, got {other:?}"),
    }
    r.stop().await;
}

/// Kills the process it holds when dropped (the test's own child, by its pid).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reads_the_tokens_again_ends_revoked_streams_and_the_controller_goes_on() {
    let (tmp, dir, certs) = setup();
    std::fs::write(dir.join("cluster.yaml"), CLUSTER).unwrap();
    let tokens = tmp.path().join("tokens");
    std::fs::write(&tokens, "n1 n1-token-0123456789abcdef\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(tmp.path().join("controller.log")).unwrap();
    let mut child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_kakine-controller"))
            .arg("--standalone")
            .arg(&dir)
            .arg("--tls-cert-dir")
            .arg(&certs)
            .arg("--tokens")
            .arg(&tokens)
            .arg("--state-dir")
            .arg(tmp.path().join("state"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--metrics-addr", "off"])
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let r = Running {
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        controller: Controller::new(1),
        tasks: Vec::new(),
    };
    // n2's token is not in the file yet: 401 (once the controller listens).
    let mut refused = None;
    for _ in 0..100 {
        match client(&r, &certs, TOKEN).subscribe(None).await {
            Err(ClientError::Refused { status, .. }) => {
                refused = Some(status);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert_eq!(refused, Some(401));
    std::fs::write(&tokens, format!("n2 {TOKEN}\n")).unwrap();
    let pid = child.0.id().to_string();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(hup.success());
    let mut frames = None;
    for _ in 0..100 {
        if let Ok(f) = client(&r, &certs, TOKEN).subscribe(None).await {
            frames = Some(f);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut frames = frames.expect("the new token is accepted after SIGHUP");
    let first = tokio::time::timeout(Duration::from_secs(5), frames.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(first, Frame::Snapshot(_)), "{first:?}");
    assert!(child.0.try_wait().unwrap().is_none(), "still running");
    // It kept what it served.
    assert!(tmp.path().join("state/last-good.yaml").is_file());

    // A reload that keeps n2's token keeps its stream open...
    let hup = || {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    std::fs::write(
        &tokens,
        format!("n2 {TOKEN}\nn1 n1-token-0123456789abcdef\n"),
    )
    .unwrap();
    hup();
    let kept = tokio::time::timeout(Duration::from_millis(1500), frames.next()).await;
    assert!(
        kept.is_err() || matches!(kept, Ok(Some(Ok(Frame::Bookmark { .. })))),
        "the stream of a token still in the file changed at a reload: {kept:?}"
    );
    // ...one that revokes it ends the stream, and the token is refused from then on.
    std::fs::write(&tokens, "n2 another-token-0123456789abcdef\n").unwrap();
    hup();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match frames.next().await {
                Some(Ok(Frame::Bookmark { .. })) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("the stream of a revoked token ends after the reload");
    assert!(
        !matches!(ended, Some(Ok(_))),
        "a revoked token's stream went on: {ended:?}"
    );
    assert!(matches!(
        client(&r, &certs, TOKEN).subscribe(None).await,
        Err(ClientError::Refused { status: 401, .. })
    ));
    let log = std::fs::read_to_string(tmp.path().join("controller.log")).unwrap();
    assert!(
        log.contains("the span stream of node n2 ended: its credentials no longer hold"),
        "{log}"
    );
}

#[test]
fn a_refusal_is_tracked_from_load_to_load_so_it_is_logged_once_and_its_end_too() {
    let (_tmp, dir, _certs) = setup();
    std::fs::write(dir.join("cluster.yaml"), CLUSTER).unwrap();
    std::fs::write(dir.join("policy.yaml"), policy("deny-5432", 5432)).unwrap();
    let mut loader = kakine::agent::watch::Loader::default();
    let mut refused = Vec::new();
    kakine::controller::standalone::load(&mut loader, &dir, &mut refused).unwrap();
    assert!(refused.is_empty(), "{refused:?}");
    // A port out of range: refused, and still refused at the next load (logged once).
    std::fs::write(dir.join("policy.yaml"), policy("deny-5432", 70000)).unwrap();
    for _ in 0..2 {
        kakine::controller::standalone::load(&mut loader, &dir, &mut refused).unwrap();
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(refused[0].reason.contains("70000"), "{refused:?}");
    }
    // Fixed: no longer refused.
    std::fs::write(dir.join("policy.yaml"), policy("deny-5432", 5433)).unwrap();
    kakine::controller::standalone::load(&mut loader, &dir, &mut refused).unwrap();
    assert!(refused.is_empty(), "{refused:?}");
}
