//! Observability end to end on a real Open vSwitch: the agent's flows with logged and Reject
//! rules, the packet-in task and the metrics endpoint, real TCP and UDP clients in network
//! namespaces. Needs root, Open vSwitch and iproute2; fails (never skips) without.

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kakine::agent::observe::{
    ensure_meters, serve_metrics, spawn_packet_ins, AuditConfig, AuditFormat, AuditLog, Metrics,
    ObserveConfig, RuleIndex, StatsSource,
};
use kakine::agent::{realize_resolved, AgentConfig};
use kakine::lab::pods::{Lab, Servers};
use kakine::lab::probe::{Outcome, Transport};
use kakine::lab::sandbox::OvsSandbox;
use kakine::policy::model::{AntreaPolicy, AntreaRule};
use kakine::policy::resolved::{PodKey, Protocol, ResolvedPolicies, RuleAction};
use kakine::policy::selector::LabelSelector;
use kakine::policy::{resolve, Cluster, PolicySet};

fn prefix() -> String {
    format!("v{}", std::process::id() % 100_000)
}

fn key(ns: &str, name: &str) -> PodKey {
    PodKey {
        namespace: ns.into(),
        name: name.into(),
    }
}

/// client -> web: TCP 80 allowed and logged, TCP 8080 and UDP 5353 rejected, anything else
/// dropped and logged. web serves all three ports, so a packet that got through would connect.
fn policies() -> ResolvedPolicies {
    let cluster = Cluster::default()
        .namespace("prod", &[])
        .pod("prod/client", &[("app", "client")], "10.77.0.1")
        .pod("prod/web", &[("app", "web")], "10.77.0.2")
        .serving(80, Protocol::Tcp, None)
        .serving(8080, Protocol::Tcp, None)
        .serving(5353, Protocol::Udp, None);
    let policy = AntreaPolicy::test("web-guard")
        .tier("securityops")
        .applied_to(LabelSelector::labels([("app", "web")]), None)
        .ingress(
            AntreaRule::new(RuleAction::Allow)
                .named("allow-http")
                .port(Protocol::Tcp, 80)
                .logged(Some("web-audit")),
        )
        .ingress(
            AntreaRule::new(RuleAction::Reject)
                .named("reject-alt")
                .port(Protocol::Tcp, 8080)
                .port(Protocol::Udp, 5353),
        )
        .ingress(
            AntreaRule::new(RuleAction::Drop)
                .named("drop-rest")
                .logged(None),
        );
    resolve(&cluster, &PolicySet::default().with(policy)).expect("policies resolve")
}

/// `GET /metrics` over a plain TCP connection: the body.
fn scrape(addr: std::net::SocketAddr) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("metrics endpoint accepts");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: kakine\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(
        out.starts_with("HTTP/1.0 200") || out.starts_with("HTTP/1.1 200"),
        "{out}"
    );
    out.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// The value of the sample whose line starts with `name{` and contains every `label="v"`.
fn sample(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    body.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logged_and_rejected_traffic_shows_in_the_audit_log_the_clients_and_the_metrics() {
    let ovs = OvsSandbox::start_temp().expect("sandbox OVS starts (needs openvswitch and root)");
    let policies = policies();
    let kakinectl = PathBuf::from(env!("CARGO_BIN_EXE_kakinectl"));
    let servers = Servers {
        kakinectl: &kakinectl,
        udp: true,
        sctp: false,
    };
    let lab = Lab::create_with(&policies, &prefix(), Some(servers), None).expect("netns pods");
    let bridge = format!("{}b", prefix());
    let cfg = AgentConfig {
        input: PathBuf::new(),
        ovsdb: ovs.db_target(),
        of_socket: ovs.mgmt_sock(&bridge),
        bridge,
        datapath_type: "netdev".into(),
        ifname_prefix: prefix(),
        node: None,
        round: 1,
    };
    // The first realization makes the bridge; the meters go in before the flows that use them
    // are installed again.
    realize_resolved(&cfg, &policies)
        .await
        .expect("agent realizes");
    let conn = openflow::Connection::connect_unix(&cfg.of_socket)
        .await
        .expect("openflow");
    ensure_meters(&conn, &ObserveConfig::default())
        .await
        .expect("meters");
    ensure_meters(&conn, &ObserveConfig::default())
        .await
        .expect("meters are idempotent");
    let realized = realize_resolved(&cfg, &policies)
        .await
        .expect("agent realizes");
    let meters = ovs
        .ofctl("dump-meters", &cfg.bridge, &["-O", "OpenFlow13"])
        .unwrap();
    assert!(
        meters.contains("meter=1 pktps burst stats bands=\ntype=drop rate=500 burst_size=1000"),
        "{meters}"
    );

    let index = RuleIndex::new(&realized.compiled, &policies, &realized.pods);
    let (_tx, rx) = tokio::sync::watch::channel(Arc::new(index));
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("np.log");
    let audit = AuditLog::open(&AuditConfig {
        path: log_path.clone(),
        format: AuditFormat::Text,
        rotation: kakine::agent::observe::Rotation {
            max_bytes: 1 << 20,
            max_backups: 2,
            ..Default::default()
        },
    })
    .unwrap();
    let metrics = Metrics::new();
    let task = spawn_packet_ins(conn.clone(), rx.clone(), audit, metrics.clone());
    let (addr, server) = serve_metrics(
        "127.0.0.1:0".parse().unwrap(),
        metrics.clone(),
        Some(StatsSource::new(cfg.of_socket.clone(), None, rx)),
    )
    .await
    .expect("metrics endpoint binds");

    let (client, web) = (key("prod", "client"), Ipv4Addr::new(10, 77, 0, 2));
    let t = Duration::from_millis(1500);
    let probe = |tr: Transport, port: u16| lab.probe(&client, web, tr, port, 0, t);
    for _ in 0..3 {
        assert_eq!(probe(Transport::Tcp, 80).await, Some(Outcome::Connected));
    }
    assert_eq!(
        probe(Transport::Tcp, 8080).await,
        Some(Outcome::Refused),
        "a Reject rule answers TCP with an RST (connection refused), not a timeout; metrics:\n{}",
        metrics.encode()
    );
    assert_eq!(
        probe(Transport::Udp, 5353).await,
        Some(Outcome::Refused),
        "a Reject rule answers UDP with ICMP administratively prohibited"
    );
    assert_eq!(probe(Transport::Tcp, 9090).await, Some(Outcome::TimedOut));

    let body = scrape(addr);
    let rule = |r: &str| {
        vec![
            ("tier", "securityops"),
            ("policy", "web-guard"),
            ("rule", r),
            ("direction", "Ingress"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect::<Vec<_>>()
    };
    let get = |name: &str, r: &str| {
        let labels = rule(r);
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        sample(&body, name, &labels).unwrap_or_else(|| panic!("no {name} for {r} in\n{body}"))
    };
    assert_eq!(get("kakine_agent_rule_sessions_total", "allow-http"), 3.0);
    assert!(
        get("kakine_agent_rule_packets_total", "allow-http") > 3.0,
        "{body}"
    );
    assert!(
        get("kakine_agent_rule_bytes_total", "allow-http") > 180.0,
        "{body}"
    );
    assert_eq!(
        get("kakine_agent_rule_packets_total", "reject-alt"),
        2.0,
        "{body}"
    );
    assert!(
        get("kakine_agent_rule_packets_total", "drop-rest") >= 1.0,
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            "kakine_agent_rejects_sent_total",
            &[("reply", "tcp_rst")]
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            "kakine_agent_rejects_sent_total",
            &[("reply", "icmp_admin_prohibited")]
        ),
        Some(1.0),
        "{body}"
    );
    assert!(
        !body.contains("10.77.0."),
        "no address in any label:\n{body}"
    );

    // The drop line appears once its one-second dedup window has closed.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !read(&log_path).contains(" Drop ") && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = read(&log_path);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&log_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the audit log holds addresses: owner-only");
    }
    let allows: Vec<&str> = log.lines().filter(|l| l.contains(" Allow ")).collect();
    assert_eq!(allows.len(), 3, "one line per allowed connection:\n{log}");
    assert!(
        allows[0].contains(
            " IngressMetric securityops ClusterNetworkPolicy:web-guard allow-http Ingress Allow prod/web 10.77.0.1 "
        ) && allows[0].contains(" 10.77.0.2 80 TCP 60 web-audit [1 packets]"),
        "{log}"
    );
    let dropped = log
        .lines()
        .find(|l| l.contains(" drop-rest Ingress Drop "))
        .unwrap_or_else(|| panic!("no drop line:\n{log}"));
    assert!(dropped.contains(" 10.77.0.2 9090 TCP 60 - ["), "{dropped}");
    assert!(
        !log.contains("reject-alt"),
        "the Reject rule is not logged:\n{log}"
    );

    server.abort();
    task.abort();
    drop(lab);
}
