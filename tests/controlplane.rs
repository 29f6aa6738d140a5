//! The controlplane over its real transport, in one process: `kakine-controller`'s parts
//! (the standalone directory source, the controller, the HTTP/2 + TLS server with a token
//! file) and the agent's (the client, the controller source), on 127.0.0.1.
//!
//! - a node's agent gets a snapshot that derives exactly the node's view of the directory;
//!   editing a file reaches it as a delta that flips the rule's action;
//! - its realization report comes back as the policy's counts, per policy: a change of the
//!   node's span that leaves the policy alone keeps the node counted, an edit of the policy
//!   counts only once the node reports the new generation (realized or failed);
//! - a forged token, no token, another node's span and plain TCP are refused, each with a
//!   clear error;
//! - a restarted controller (new versions) gives a resuming agent a fresh snapshot; the agent's
//!   source keeps the last span on disk and hands it out at start with no controller;
//! - the binaries' command lines: usage on no or unknown arguments, every bad flag of
//!   `kakine-controller` at once before it serves, `kakine-agent --controller`'s flags checked
//!   before OVS is touched.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kakine::agent::controller_source::{ControllerSource, SPAN_FILE};
use kakine::controller::client::{Client, ClientError, FrameStream};
use kakine::controller::realization::{PolicyRealization, RealizationReport};
use kakine::controller::{tls, Realization, RealizationCounts};
use kakine::controlplane::{Frame, NodeSpan};
use kakine::policy::resolved::{ResolvedPolicies, RuleAction};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "support/controlplane_parts.rs"]
mod parts;
use parts::{start, web_to_db, Running, CLUSTER};

fn policy(action: &str) -> String {
    web_to_db("web-to-db", action, None)
}

fn client(r: &Running, certs: &Path, token: &Path, node: &str) -> Client {
    let cfg = tls::client_config(&certs.join(tls::CA_CRT)).unwrap();
    Client::new(
        &format!("https://127.0.0.1:{}", r.addr.port()),
        cfg,
        token.to_path_buf(),
        node,
    )
    .unwrap()
}

async fn next(s: &mut FrameStream) -> Frame {
    tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .expect("a frame within 10 s")
        .expect("the stream goes on")
        .expect("a frame parses")
}

/// The next snapshot or delta, applied (bookmarks skipped).
async fn content(s: &mut FrameStream, span: &mut NodeSpan) -> Frame {
    loop {
        let f = next(s).await;
        span.apply(&f).unwrap();
        if !matches!(f, Frame::Bookmark { .. }) {
            return f;
        }
    }
}

fn actions(p: &ResolvedPolicies) -> Vec<(String, RuleAction)> {
    p.rules
        .iter()
        .map(|r| (r.id.to_string(), r.action))
        .collect()
}

fn write(path: PathBuf, text: &str) -> PathBuf {
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_follows_its_span_over_tls_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, certs) = (tmp.path().join("input"), tmp.path().join("certs"));
    std::fs::create_dir_all(&dir).unwrap();
    write(dir.join("cluster.yaml"), CLUSTER);
    write(dir.join("policy.yaml"), &policy("Drop"));
    tls::generate(&certs, &["127.0.0.1".to_string()], false).unwrap();
    let tokens = write(
        tmp.path().join("tokens"),
        "n1 secret-one-0123456789\nn2 secret-two-0123456789\n",
    );
    let t2 = write(tmp.path().join("t2"), "secret-two-0123456789\n");
    let t1 = write(tmp.path().join("t1"), "secret-one-0123456789\n");
    let forged = write(tmp.path().join("forged"), "secret-three-0123456789\n");

    let first = 1_000;
    let running = start(&dir, &certs, &tokens, first, 0).await;
    let port = running.addr.port();

    // n2 hosts the applied-to pod: the policy is in its span; n1 has none.
    let mut span = NodeSpan::default();
    let mut stream = client(&running, &certs, &t2, "n2")
        .subscribe(None)
        .await
        .unwrap();
    assert!(matches!(
        content(&mut stream, &mut span).await,
        Frame::Snapshot(_)
    ));
    let want = kakine::agent::watch::load_for(&dir, Some("n2")).unwrap().0;
    assert_eq!(actions(&span.derive_from()), actions(&want));
    assert_eq!(
        actions(&span.derive_from()),
        [(
            "application/web-to-db/from-web".to_string(),
            RuleAction::Drop
        )]
    );
    let pods: Vec<String> = span
        .derive_from()
        .pods
        .iter()
        .map(|p| p.key.to_string())
        .collect();
    assert_eq!(pods, ["db/postgres", "web/frontend"]);
    let mut span1 = NodeSpan::default();
    let mut stream1 = client(&running, &certs, &t1, "n1")
        .subscribe(None)
        .await
        .unwrap();
    content(&mut stream1, &mut span1).await;
    assert!(span1.derive_from().rules.is_empty());

    // An edit reaches n2 as a delta: the verdict flips.
    write(dir.join("policy.yaml"), &policy("Allow"));
    let f = content(&mut stream, &mut span).await;
    assert!(matches!(f, Frame::Delta(_)), "{f:?}");
    assert_eq!(
        actions(&span.derive_from()),
        [(
            "application/web-to-db/from-web".to_string(),
            RuleAction::Allow
        )]
    );

    // The realization report comes back as counts.
    let mut counts = running.controller.realization();
    client(&running, &certs, &t2, "n2")
        .report(&RealizationReport {
            version: span.version,
            policies: vec![PolicyRealization {
                kind: "ClusterNetworkPolicy".into(),
                name: "web-to-db".into(),
                generation: 0,
                failure: None,
                pending: None,
            }],
        })
        .await
        .unwrap();
    let c = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            counts.changed().await.unwrap();
            let now = counts.borrow().clone();
            if let Some(c) = now
                .iter()
                .find(|(k, _)| k.name == "web-to-db")
                .map(|(_, c)| c.clone())
            {
                if c.current == 1 {
                    return c;
                }
            }
        }
    })
    .await
    .expect("the counts within 5 s");
    assert_eq!((c.desired, c.current, c.failures.len()), (1, 1, 0));
    let generation = c.generation;
    assert!(generation > first, "{generation}");

    // Per policy: a change of n2's span that leaves the policy's content alone (a new pod of
    // its peer namespace: an address group patch) keeps its generation, and n2 stays counted
    // although its span moved on.
    write(
        dir.join("cluster.yaml"),
        &format!(
            "{CLUSTER}- {{namespace: web, name: frontend2, labels: {{app: frontend}}, ip: \
             10.50.1.11, node: n1}}\n"
        ),
    );
    assert!(matches!(
        content(&mut stream, &mut span).await,
        Frame::Delta(_)
    ));
    assert!(span.version > generation);
    // The counts are recomputed within REALIZATION_EVERY (200 ms) of the batch.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let c = policy_counts(&counts.borrow(), "web-to-db");
    assert_eq!((c.generation, c.desired, c.current), (generation, 1, 1));

    // An edit of the policy is a new generation: n2 is no longer counted until it reports it.
    write(dir.join("policy.yaml"), &policy("Drop"));
    assert!(matches!(
        content(&mut stream, &mut span).await,
        Frame::Delta(_)
    ));
    let c = counts_until(&mut counts, |c| c.generation == span.version).await;
    assert_eq!((c.desired, c.current, c.phase()), (1, 0, "Realizing"));
    let n2 = client(&running, &certs, &t2, "n2");
    let realized = |generation: u64, failure: Option<&str>| RealizationReport {
        version: span.version,
        policies: vec![PolicyRealization {
            kind: "ClusterNetworkPolicy".into(),
            name: "web-to-db".into(),
            generation,
            failure: failure.map(String::from),
            pending: None,
        }],
    };
    // A report of the old generation does not count.
    n2.report(&realized(generation, None)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(policy_counts(&counts.borrow(), "web-to-db").current, 0);
    n2.report(&realized(span.version, None)).await.unwrap();
    let c = counts_until(&mut counts, |c| c.current == 1).await;
    assert_eq!(c.phase(), "Realized");
    n2.report(&realized(span.version, Some("a flow too large")))
        .await
        .unwrap();
    let c = counts_until(&mut counts, |c| !c.failures.is_empty()).await;
    assert_eq!((c.current, c.phase()), (0, "Failed"));
    assert_eq!(c.failures["n2"], "a flow too large");
    write(dir.join("policy.yaml"), &policy("Allow"));
    assert!(matches!(
        content(&mut stream, &mut span).await,
        Frame::Delta(_)
    ));

    // Refusals, each with its reason.
    match client(&running, &certs, &forged, "n2")
        .subscribe(None)
        .await
    {
        Err(ClientError::Refused { status, message }) => {
            assert_eq!(
                (status, message.as_str()),
                (401, "token refused: unknown token")
            )
        }
        r => panic!("a forged token: {:?}", r.err()),
    }
    match client(&running, &certs, &t1, "n2").subscribe(None).await {
        Err(ClientError::Refused { status, message }) => assert_eq!(
            (status, message.as_str()),
            (
                403,
                "node \"n1\" may not read or report the span of node \"n2\""
            )
        ),
        r => panic!("another node's span: {:?}", r.err()),
    }
    let e = Client::new(
        &format!("http://127.0.0.1:{port}"),
        tls::client_config(&certs.join(tls::CA_CRT)).unwrap(),
        t2.clone(),
        "n2",
    )
    .err()
    .unwrap();
    assert!(e.contains("TLS only"), "{e}");
    // Plain TCP: the server answers no HTTP, it closes the connection.
    let mut tcp = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    tcp.write_all(
        b"GET /v1/span/n2 HTTP/1.1\r\nhost: x\r\nauthorization: Bearer secret-two-0123456789\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
    assert!(
        !String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"),
        "{buf:?}"
    );
    assert!(!String::from_utf8_lossy(&buf).contains("snapshot"));

    // The agent's source: a span kept on disk.
    let state = tmp.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let metrics = kakine::agent::observe::Metrics::new();
    let mut src = ControllerSource::start_observed(
        client(&running, &certs, &t2, "n2"),
        Some(state.clone()),
        Some(metrics.clone()),
    );
    let ev = tokio::time::timeout(Duration::from_secs(10), src.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(actions(&ev.input.unwrap().0), actions(&span.derive_from()));
    assert!(state.join(SPAN_FILE).exists());
    let controller_up = |m: &kakine::agent::observe::Metrics| {
        m.encode()
            .lines()
            .find(|l| l.starts_with("kakine_agent_connected{connection=\"controller\"}"))
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
    };
    assert_eq!(controller_up(&metrics).as_deref(), Some("1"));
    drop(src);
    // Refused (another node's token): the connection gauge says so.
    let refused = kakine::agent::observe::Metrics::new();
    let src = ControllerSource::start_observed(
        client(&running, &certs, &t2, "n1"),
        None,
        Some(refused.clone()),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(controller_up(&refused).as_deref(), Some("0"));
    drop(src);

    // The controller restarts with new versions: a resume from the old one gets a snapshot.
    let old = span.version;
    drop(stream);
    drop(stream1);
    running.stop().await;
    let running = start(&dir, &certs, &tokens, old + 1_000_000, port).await;
    let mut stream = client(&running, &certs, &t2, "n2")
        .subscribe(Some(old))
        .await
        .unwrap();
    let f = content(&mut stream, &mut span).await;
    assert!(matches!(f, Frame::Snapshot(_)), "{f:?}");
    assert_eq!(actions(&span.derive_from()), actions(&ev_actions(&dir)));

    // No controller at all: the agent's source hands out the span it kept.
    drop(stream);
    running.stop().await;
    let mut src = ControllerSource::start(client_to(port, &certs, &t2), Some(state));
    let ev = src.current().expect("the kept span");
    assert_eq!(
        actions(&ev.input.unwrap().0),
        [(
            "application/web-to-db/from-web".to_string(),
            RuleAction::Allow
        )]
    );
}

fn policy_counts(r: &Realization, name: &str) -> RealizationCounts {
    r.iter()
        .find(|(k, _)| k.name == name)
        .map(|(_, c)| c.clone())
        .unwrap_or_else(|| panic!("no counts of {name} in {r:?}"))
}

/// The counts of web-to-db once `until` holds (within 5 s).
async fn counts_until(
    rx: &mut tokio::sync::watch::Receiver<Realization>,
    until: impl Fn(&RealizationCounts) -> bool,
) -> RealizationCounts {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let c = policy_counts(&rx.borrow_and_update(), "web-to-db");
            if until(&c) {
                return c;
            }
            rx.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("counts: {:?}", rx.borrow()))
}

fn ev_actions(dir: &Path) -> ResolvedPolicies {
    kakine::agent::watch::load_for(dir, Some("n2")).unwrap().0
}

fn client_to(port: u16, certs: &Path, token: &Path) -> Client {
    Client::new(
        &format!("https://127.0.0.1:{port}"),
        tls::client_config(&certs.join(tls::CA_CRT)).unwrap(),
        token.to_path_buf(),
        "n2",
    )
    .unwrap()
}

/// Runs `program args` to its end (killed after 20 s: a refusal must not serve): exit code and
/// stderr.
fn run_to_end(program: &str, args: &[&str]) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} {args:?} still runs after 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_binaries_refuse_bad_command_lines_before_serving() {
    let ctl = env!("CARGO_BIN_EXE_kakine-controller");
    let agent = env!("CARGO_BIN_EXE_kakine-agent");
    // No argument: the full help, as kakinectl gives it.
    for bin in [ctl, agent] {
        let (code, err) = run_to_end(bin, &[]);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("Usage:") && err.contains("Options:"), "{err}");
    }
    let (code, err) = run_to_end(ctl, &["--bogus"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.starts_with("error: unexpected argument '--bogus' found")
            && err.contains("Usage: kakine-controller [OPTIONS] [COMMAND]"),
        "{err}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    tls::generate(&certs, &["127.0.0.1".to_string()], false).unwrap();
    let tokens = write(tmp.path().join("tokens"), "n1 t1-0123456789abcdef\n");
    let private = std::os::unix::fs::PermissionsExt::from_mode(0o600);
    std::fs::set_permissions(&tokens, private).unwrap();
    let missing = tmp.path().join("missing");
    let listen = ["--listen", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"];
    // A missing directory: refused at start, naming the flag and the path, never served.
    let mut args = vec!["--standalone", missing.to_str().unwrap()];
    args.extend(["--tls-cert-dir", certs.to_str().unwrap()]);
    args.extend(["--tokens", tokens.to_str().unwrap()]);
    args.extend(listen);
    let (code, err) = run_to_end(ctl, &args);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        err,
        format!(
            "kakine-controller: --standalone {}: cannot read the directory: No such file or \
             directory (os error 2)\n",
            missing.display()
        )
    );
    // Every problem at once.
    let mut args = vec!["--standalone", missing.to_str().unwrap()];
    args.extend(["--tls-cert-dir", missing.to_str().unwrap()]);
    args.extend(listen);
    let (code, err) = run_to_end(ctl, &args);
    assert_eq!(code, Some(1), "{err}");
    let m = missing.display();
    assert_eq!(
        err,
        format!(
            "kakine-controller: --tls-cert-dir {m}: {m}/tls.crt: No such file or directory (os \
             error 2)\n--standalone {m}: cannot read the directory: No such file or directory \
             (os error 2)\n--standalone needs --tokens FILE: the agents' per-node credentials \
             (lines `NODE TOKEN`)\n"
        )
    );
    // A short token (naming its line) and a --metrics-addr that is neither an address nor
    // off, at once.
    let short = write(tmp.path().join("short"), "# n1\nn1 t1\n");
    let public = std::os::unix::fs::PermissionsExt::from_mode(0o644);
    std::fs::set_permissions(&short, public).unwrap();
    let mut args = vec!["--standalone", tmp.path().to_str().unwrap()];
    args.extend(["--tls-cert-dir", certs.to_str().unwrap()]);
    args.extend(["--tokens", short.to_str().unwrap()]);
    args.extend(["--listen", "127.0.0.1:0", "--metrics-addr", "nowhere"]);
    let (code, err) = run_to_end(ctl, &args);
    assert_eq!(code, Some(1), "{err}");
    // The file is readable by every user (mode 644): a warning first.
    let (warning, err) = err.split_once('\n').unwrap();
    assert!(
        warning.contains("WARN") && warning.contains("readable by every user (mode 644)"),
        "{warning}"
    );
    assert_eq!(
        err,
        format!(
            "kakine-controller: --metrics-addr nowhere: neither an address (IP:PORT) nor \
             off\n--tokens {}:2: a token of 2 characters; at least 16 (e.g. `openssl rand -hex \
             16`)\n",
            short.display()
        )
    );
    // certs: an existing CA is not replaced without --force; every bad host is named.
    let (code, err) = run_to_end(
        ctl,
        &[
            "certs",
            "--out",
            certs.to_str().unwrap(),
            "--hosts",
            "127.0.0.1",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("ca.crt exists") && err.contains("--force"),
        "{err}"
    );
    let fresh = tmp.path().join("fresh");
    let out = fresh.to_str().unwrap();
    let (code, err) = run_to_end(ctl, &["certs", "--out", out, "--hosts", "999.1.1.1,,ok"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("--hosts \"999.1.1.1\"") && err.contains("--hosts \"\": empty"),
        "{err}"
    );
    assert!(!fresh.exists());
    // The agent: --controller without --ca-file is a usage error; an unreadable CA, or an
    // http:// URL, is refused before OVS is touched (there is none at /nonexistent).
    let (code, err) = run_to_end(agent, &["--controller", "https://x", "--node", "n1"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--ca-file <PATH>"), "{err}");
    let ca = certs.join(tls::CA_CRT);
    for (url, ca, why) in [
        (
            "https://x",
            missing.as_path(),
            format!("kakine-agent: --ca-file {m}: No such file or directory"),
        ),
        (
            "http://x",
            ca.as_path(),
            "kakine-agent: --controller http://x: expected https://HOST[:PORT] (the \
             controlplane is TLS only)"
                .to_string(),
        ),
    ] {
        let mut args = vec!["--controller", url, "--ca-file", ca.to_str().unwrap()];
        args.extend(["--node", "n1", "--ovs-rundir", "/nonexistent"]);
        args.extend(["--metrics-addr", "off"]);
        let (code, err) = run_to_end(agent, &args);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains(&why), "{err}");
    }
}
