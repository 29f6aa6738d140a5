//! `kakinectl graph` and `recommend`: observed connections from conntrack dumps and audit logs,
//! the dependency map (DOT, SVG, an HTML page rendered in a real headless Chromium), and the
//! least-privilege policies that keep exactly them, proven with `diff`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use kakine::agent::observe::audit::{format_line, AuditEvent, AuditFormat};
use kakine::agent::observe::rules::RuleInfo;
use kakine::analysis::observed::{graph, parse_audit, parse_conntrack, Connection, Workload};
use kakine::analysis::recommend::{prove, recommend};
use kakine::analysis::render;
use kakine::policy::resolved::{Direction, PodKey, Protocol, RuleAction};

/// Six connections as `ovs-appctl dpctl/dump-conntrack` prints them: the frontend calls both
/// API pods (orders twice), orders calls postgres, orders pings the frontend, reports asks an
/// outside DNS server.
const CONNTRACK: &str = "\
tcp,orig=(src=10.10.1.10,dst=10.10.2.10,sport=40000,dport=8080),reply=(src=10.10.2.10,dst=10.10.1.10,sport=8080,dport=40000),zone=65520,protoinfo=(state=ESTABLISHED)
tcp,orig=(src=10.10.1.10,dst=10.10.2.10,sport=40001,dport=8080),reply=(src=10.10.2.10,dst=10.10.1.10,sport=8080,dport=40001),zone=65520,protoinfo=(state=ESTABLISHED)
tcp,orig=(src=10.10.1.10,dst=10.10.2.11,sport=40002,dport=8080),reply=(src=10.10.2.11,dst=10.10.1.10,sport=8080,dport=40002),zone=65520,protoinfo=(state=ESTABLISHED)
tcp,orig=(src=10.10.2.10,dst=10.10.3.10,sport=50000,dport=5432),reply=(src=10.10.3.10,dst=10.10.2.10,sport=5432,dport=50000),zone=65520,protoinfo=(state=ESTABLISHED)
icmp,orig=(src=10.10.2.10,dst=10.10.1.10,id=7,type=8,code=0),reply=(src=10.10.1.10,dst=10.10.2.10,id=7,type=0,code=0),zone=65520
udp,orig=(src=10.10.2.11,dst=192.0.2.53,sport=33333,dport=53),reply=(src=192.0.2.53,dst=10.10.2.11,sport=53,dport=33333),zone=65520
";

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn examples() -> (kakine::policy::Input, kakine::policy::ResolvedPolicies) {
    let input = kakine::policy::load_dir(Path::new("examples")).unwrap();
    let p = kakine::policy::resolve(&input.cluster, &input.objects).unwrap();
    (input, p)
}

fn labels(input: &kakine::policy::Input) -> BTreeMap<String, BTreeMap<String, String>> {
    input
        .cluster
        .pods
        .iter()
        .map(|p| (format!("{}/{}", p.namespace, p.name), p.labels.clone()))
        .collect()
}

#[test]
fn conntrack_entries_and_the_agents_audit_lines_are_connections() {
    let c = parse_conntrack(CONNTRACK);
    assert_eq!(c.len(), 6);
    assert_eq!(
        c[4],
        Connection {
            src: ip("10.10.2.10"),
            dst: ip("10.10.1.10"),
            protocol: Protocol::Icmp,
            port: 0
        }
    );
    assert_eq!((c[5].protocol, c[5].port), (Protocol::Udp, 53));
    // The agent's own audit lines, both formats: an Allow is a connection, a Drop is not.
    let event = |action| AuditEvent {
        time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        table: "IngressMetric".into(),
        rule: RuleInfo {
            id: 3,
            kind: "ClusterNetworkPolicy".into(),
            tier: "application".into(),
            policy: "frontend-calls-api".into(),
            rule: "allow-frontend".into(),
            direction: Direction::Ingress,
            action,
            enable_logging: true,
            log_label: None,
            staged: false,
        },
        applied_to: Some(PodKey {
            namespace: "api".into(),
            name: "orders".into(),
        }),
        src_ip: ip("10.10.1.10"),
        src_port: Some(40000),
        dst_ip: ip("10.10.2.10"),
        dst_port: Some(8080),
        protocol: "TCP".into(),
        length: 60,
    };
    let mut log = String::new();
    for format in [AuditFormat::Text, AuditFormat::Json] {
        for action in [RuleAction::Allow, RuleAction::Drop] {
            log += &format_line(&event(action), 1, format);
            log.push('\n');
        }
    }
    let a = parse_audit(&log);
    let expected = Connection {
        src: ip("10.10.1.10"),
        dst: ip("10.10.2.10"),
        protocol: Protocol::Tcp,
        port: 8080,
    };
    assert_eq!(a, vec![expected, expected]);
}

#[test]
fn the_map_joins_pods_into_workloads_and_counts_connections_per_service() {
    let (input, p) = examples();
    let g = graph(&p, &labels(&input), &parse_conntrack(CONNTRACK));
    let edges: Vec<String> = g
        .edges
        .iter()
        .map(|e| {
            format!(
                "{} -> {} {} x{}",
                e.from,
                e.to,
                render::service(e),
                e.connections
            )
        })
        .collect();
    assert_eq!(
        edges,
        vec![
            "api/orders -> db/postgres TCP/5432 x1",
            "api/orders -> web/frontend ICMP x1",
            "api/reports -> 192.0.2.53 UDP/53 x1",
            "web/frontend -> api/orders TCP/8080 x2",
            "web/frontend -> api/reports TCP/8080 x1",
        ]
    );
    assert_eq!(g.nodes.len(), 5);
    assert!(g.nodes.contains(&Workload::External(ip("192.0.2.53"))));
    let dot = render::dot(&g);
    assert!(
        dot.contains("\"web/frontend\" -> \"api/orders\" [label=\"TCP/8080 x2\"];"),
        "{dot}"
    );
    assert!(
        dot.contains("subgraph cluster_0 {\n    label=\"api\";"),
        "{dot}"
    );
}

#[test]
fn the_recommendation_keeps_every_observed_connection_and_closes_the_rest() {
    let (input, p) = examples();
    let connections = parse_conntrack(CONNTRACK);
    let g = graph(&p, &labels(&input), &connections);
    let docs = recommend(&input.cluster, &g, "application", 100.0);
    let names: Vec<&str> = docs
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "recommended-api-orders",
            "recommended-api-reports",
            "recommended-db-postgres",
            "recommended-web-frontend"
        ]
    );
    assert_eq!(
        docs[2]["spec"]["ingress"][0]["ports"],
        serde_json::json!([{"protocol": "TCP", "port": 5432}])
    );
    assert_eq!(
        docs[3]["spec"]["ingress"][0]["protocols"],
        serde_json::json!([{"icmp": {}}])
    );
    let proof = prove(&input, &docs, &connections).unwrap();
    // Four distinct pod-to-pod cells (the frontend's two calls to orders are one cell).
    assert_eq!(
        (proof.kept, proof.broken.len()),
        (4, 0),
        "{:?}",
        proof.broken
    );
    // What changes is only closed, and never an observed cell.
    let changed: Vec<_> = proof
        .diff
        .cells
        .iter()
        .filter(|c| c.verdict_changes())
        .collect();
    assert!(!changed.is_empty());
    for c in &changed {
        assert_eq!(
            c.after.as_ref().unwrap().verdict,
            kakine::policy::Verdict::Deny,
            "{c:?}"
        );
        assert!(
            c.after.as_ref().unwrap().ingress.contains("recommended-"),
            "{c:?}"
        );
    }
    // A recommendation that would break an observed connection is caught: the frontend's
    // policy allowing TCP/1 instead of the ping. (Breaking orders -> postgres would not show:
    // the securityops Pass jumps over the application tier to db's NetworkPolicy.)
    let mut bad = docs.clone();
    bad[3]["spec"]["ingress"][0] = serde_json::json!({
        "name": "wrong", "action": "Allow", "ports": [{"protocol": "TCP", "port": 1}]
    });
    let proof = prove(&input, &bad, &connections).unwrap();
    assert_eq!(
        proof.broken,
        vec!["api/orders -> web/frontend ICMP 8/0".to_string()]
    );
}

fn kakinectl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kakinectl"))
        .args(args)
        .output()
        .unwrap()
}

fn browser() -> &'static str {
    for b in ["chromium", "chromium-headless-shell"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {b}")])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return b;
        }
    }
    panic!(
        "no headless Chromium (chromium or chromium-headless-shell): run scripts/install-deps.sh"
    );
}

#[test]
fn the_html_map_renders_in_headless_chromium_with_the_inputs_numbers() {
    let dir = std::env::temp_dir().join(format!("kakine-graph-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ct = dir.join("node-1.conntrack");
    std::fs::write(&ct, CONNTRACK).unwrap();
    let out = kakinectl(&[
        "graph",
        "examples",
        "-o",
        "html",
        "--conntrack",
        ct.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page: PathBuf = dir.join("map.html");
    std::fs::write(&page, &out.stdout).unwrap();
    let url = format!("file://{}", page.display());
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
    ];
    let dom = Command::new(browser())
        .args(common)
        .args(["--dump-dom", &url])
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    // The script ran: it counted the table's rows and connections, and the SVG's edges.
    assert!(dom.contains("<span id=\"workloads\">5</span>"), "{dom}");
    assert!(dom.contains("<span id=\"edges\">5</span>"), "{dom}");
    assert!(dom.contains("<span id=\"connections\">6</span>"), "{dom}");
    assert!(dom.contains("data-rendered=\"5\""), "{dom}");
    // And it draws: a screenshot of the page is a real PNG.
    let png = dir.join("map.png");
    let shot = Command::new(browser())
        .args(common)
        .args([
            &format!("--screenshot={}", png.display()),
            "--window-size=1000,1000",
            &url,
        ])
        .output()
        .unwrap();
    let bytes = std::fs::read(&png).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&shot.stderr)
        )
    });
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 10_000, "{} bytes", bytes.len());
    // recommend on the same input: the proof passes, the YAML loads.
    let out = kakinectl(&["recommend", "examples", "--conntrack", ct.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("proof: 4 observed pod-to-pod connections stay allowed, 0 would break;"),
        "{err}"
    );
    let rec = dir.join("recommended.yaml");
    std::fs::write(&rec, &out.stdout).unwrap();
    std::fs::copy("examples/cluster.yaml", dir.join("cluster.yaml")).unwrap();
    std::fs::copy("examples/policies.yaml", dir.join("policies.yaml")).unwrap();
    std::fs::remove_file(&ct).unwrap();
    let input = kakine::policy::load_dir(&dir).unwrap();
    assert_eq!(input.objects.antrea_policies.len(), 5 + 4);
    std::fs::remove_dir_all(dir).unwrap();
}
