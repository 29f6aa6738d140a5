//! `kakinectl explain` as a walkthrough: both directions tier by tier, Pass hops, isolation
//! named, endpoints outside the cluster, named ports, ICMP, source ports, JSON and exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

use kakine::analysis::{walk, Endpoint, PortSpec, Query};
use kakine::policy::evaluate::Effect;
use kakine::policy::resolved::{Protocol, RuleAction};
use kakine::policy::{ResolvedPolicies, Verdict};

fn examples() -> ResolvedPolicies {
    kakine::agent::load_input(Path::new("examples")).expect("examples load")
}

/// A fresh input directory holding `cluster.yaml` of the examples and `policies.yaml`.
fn input(name: &str, policies: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kakine-explain-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy("examples/cluster.yaml", dir.join("cluster.yaml")).unwrap();
    std::fs::write(dir.join("policies.yaml"), policies).unwrap();
    dir
}

/// A ClusterNetworkPolicy applied to namespace `ns`, with `rules` (YAML lines of `ingress:` /
/// `egress:`).
fn acnp(name: &str, tier: &str, ns: &str, rules: &str) -> String {
    format!(
        "apiVersion: crd.kakine.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {{name: {name}}}
spec:
  tier: {tier}
  priority: 1
  appliedTo: [{{namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {ns}}}}}}}]
{rules}---
"
    )
}

fn query(from: &str, to: &str, port: PortSpec) -> Query {
    Query {
        from: Endpoint::parse(from).unwrap(),
        to: Endpoint::parse(to).unwrap(),
        protocol: if matches!(port, PortSpec::Icmp(..)) {
            Protocol::Icmp
        } else {
            Protocol::Tcp
        },
        port,
        source_port: None,
    }
}

#[test]
fn a_pass_hop_and_the_tier_it_skips_are_shown_before_the_k8s_rule_that_decides() {
    let w = walk(
        &examples(),
        &query("api/orders", "db/postgres", PortSpec::Number(5432)),
    )
    .unwrap();
    assert_eq!(w.cases.len(), 1);
    let text = w.to_string();
    let ingress = text.split("  ingress of db/postgres:\n").nth(1).unwrap();
    assert_eq!(
        ingress,
        "    tier securityops (100)
      no match               ClusterNetworkPolicy securityops/web-never-reaches-db/drop-web
      passes                 ClusterNetworkPolicy securityops/api-to-db-is-the-data-teams-call/pass-api
    tier application (250): skipped by a Pass
      skipped (would match)  ClusterNetworkPolicy application/db-closed-to-outsiders/drop-outsiders
    K8s NetworkPolicy
      db/postgres is isolated by db/postgres-clients
      allows                 NetworkPolicy k8s/db/postgres-clients/ingress-0
    => allowed by NetworkPolicy k8s/db/postgres-clients/ingress-0
"
    );
    assert!(text.starts_with("api/orders -> db/postgres TCP/5432: Allow\n"));
}

#[test]
fn an_isolation_drop_names_the_network_policies_that_isolate_the_pod() {
    let w = walk(
        &examples(),
        &query("api/reports", "db/postgres", PortSpec::Number(5432)),
    )
    .unwrap();
    let c = &w.cases[0];
    assert_eq!(c.decision.verdict, Verdict::Deny);
    assert_eq!(c.ingress.isolating, vec!["db/postgres-clients".to_string()]);
    assert!(
        w.to_string().contains(
            "=> dropped by isolation: db/postgres isolated by db/postgres-clients and none of their rules admits this traffic"
        ),
        "{w}"
    );
    let json = w.to_json();
    assert_eq!(
        json["cases"][0]["ingress"]["isolating"][0],
        "db/postgres-clients"
    );
    assert_eq!(json["cases"][0]["verdict"], "deny");
}

#[test]
fn an_egress_refusal_still_shows_what_the_servers_ingress_would_do() {
    let from_web = "[{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: web}}}]";
    let to_db = "[{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: db}}}]";
    let policies = acnp(
        "web-egress",
        "securityops",
        "web",
        &format!("  egress:\n  - {{name: drop-db, action: Drop, to: {to_db}}}\n"),
    ) + &acnp(
        "db-ingress",
        "application",
        "db",
        &format!("  ingress:\n  - {{name: reject-web, action: Reject, from: {from_web}}}\n"),
    );
    let dir = input("egress", &policies);
    let p = kakine::agent::load_input(&dir).unwrap();
    let w = walk(
        &p,
        &query("web/frontend", "db/postgres", PortSpec::Number(5432)),
    )
    .unwrap();
    let c = &w.cases[0];
    assert_eq!(c.decision.verdict, Verdict::Deny);
    assert!(c.egress.reached && !c.ingress.reached);
    assert_eq!(c.ingress.verdict, Some(Verdict::Reject));
    assert_eq!(c.ingress.rule.as_ref().unwrap().rule, "reject-web");
    assert!(w.to_string().contains(
        "ingress of db/postgres (not reached: egress refused; shown for what it would do):"
    ));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_cidr_client_is_split_into_the_blocks_the_rules_tell_apart() {
    let dir = input(
        "cidr",
        &acnp(
            "partners",
            "application",
            "web",
            "  ingress:
  - name: allow-partners
    action: Allow
    from: [{ipBlock: {cidr: 192.168.0.0/16, except: [192.168.7.0/24]}}]
  - {name: drop-rest, action: Drop}
",
        ),
    );
    let p = kakine::agent::load_input(&dir).unwrap();
    let w = walk(
        &p,
        &query("192.168.0.0/16", "web/frontend", PortSpec::Number(80)),
    )
    .unwrap();
    let cases: Vec<(Vec<String>, Verdict, String)> = w
        .cases
        .iter()
        .map(|c| {
            (
                c.from.clone(),
                c.decision.verdict,
                c.decision.ingress.as_ref().unwrap().rule.clone(),
            )
        })
        .collect();
    assert_eq!(
        cases,
        vec![
            (
                vec!["192.168.0.0/16 except 192.168.7.0/24".to_string()],
                Verdict::Allow,
                "allow-partners".to_string()
            ),
            (
                vec!["192.168.7.0/24".to_string()],
                Verdict::Deny,
                "drop-rest".to_string()
            ),
        ]
    );
    // Outside the cluster: no egress policy.
    assert!(w.cases.iter().all(|c| c.egress.pod.is_none()));
    // One address and a pod's address.
    let one = walk(
        &p,
        &query("192.168.7.9", "web/frontend", PortSpec::Number(80)),
    )
    .unwrap();
    assert_eq!(one.cases[0].decision.verdict, Verdict::Deny);
    let pod = walk(
        &p,
        &query("10.10.2.10", "web/frontend", PortSpec::Number(80)),
    )
    .unwrap();
    assert_eq!(pod.cases[0].from, vec!["api/orders".to_string()]);
    assert_eq!(
        pod.cases[0].egress.pod.as_ref().map(|k| k.to_string()),
        Some("api/orders".to_string())
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_named_port_resolves_on_the_destination_or_is_refused_naming_what_it_declares() {
    let p = examples();
    let w = walk(
        &p,
        &query("web/frontend", "api/orders", PortSpec::Named("api".into())),
    )
    .unwrap();
    assert_eq!(w.service, "TCP/api=8080");
    assert_eq!(w.cases[0].decision.verdict, Verdict::Allow);
    let e = walk(
        &p,
        &query("web/frontend", "api/orders", PortSpec::Named("http".into())),
    )
    .unwrap_err();
    assert_eq!(
        e,
        "api/orders declares no TCP port named \"http\" (it declares: api=TCP/8080)"
    );
    let e = walk(
        &p,
        &query("web/frontend", "10.0.0.0/8", PortSpec::Named("api".into())),
    )
    .unwrap_err();
    assert!(e.contains("resolves on a destination pod"), "{e}");
}

#[test]
fn icmp_needs_no_port_and_source_ports_reach_source_port_rules() {
    let case = kakine::lab::scenario::read_scenario(Path::new(
        "tests/scenarios/kakine-02-source-port.yaml",
    ))
    .unwrap();
    let p =
        kakine::lab::scenario::resolve_step(Path::new("kakine-02"), &case, &case.steps[0]).unwrap();
    let mut q = query("x/a", "x/b", PortSpec::Number(80));
    let verdict = |q: &Query| walk(&p, q).unwrap().cases[0].decision.verdict;
    assert_eq!(verdict(&q), Verdict::Deny);
    q.source_port = Some(1500);
    assert_eq!(verdict(&q), Verdict::Allow);
    let icmp = walk(&p, &query("x/a", "x/b", PortSpec::Icmp(8, 0))).unwrap();
    assert_eq!(icmp.service, "ICMP 8/0");
    let steps = &icmp.cases[0].ingress.stages[0].rules;
    assert_eq!(
        steps
            .iter()
            .map(|s| (s.rule.rule.as_str(), s.action, s.effect))
            .collect::<Vec<_>>(),
        vec![
            (
                "allow-80-from-low-ports",
                RuleAction::Allow,
                Effect::NoMatch
            ),
            ("drop-rest", RuleAction::Drop, Effect::Decides),
        ]
    );
}

fn kakinectl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kakinectl"))
        .args(args)
        .output()
        .expect("run kakinectl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn explain_exit_code_says_allowed_denied_or_error_and_json_parses() {
    let base = [
        "explain",
        "examples",
        "--exit-code",
        "--from",
        "web/frontend",
    ];
    let with = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        kakinectl(&a)
    };
    assert_eq!(with(&["--to", "api/orders", "--port", "8080"]).0, 0);
    assert_eq!(with(&["--to", "db/postgres", "--port", "5432"]).0, 1);
    let (code, _, err) = with(&["--to", "db/nobody", "--port", "5432"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no pod db/nobody in the cluster model of examples"));
    // Without --exit-code a deny is an answer, not a failure.
    let (code, out, _) = kakinectl(&[
        "explain",
        "examples",
        "--from",
        "web/frontend",
        "--to",
        "db/postgres",
        "--port",
        "5432",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["service"], "TCP/5432");
    assert_eq!(
        v["cases"][0]["ingress_rule"]["policy"],
        "web-never-reaches-db"
    );
    assert_eq!(
        v["cases"][0]["ingress"]["stages"][0]["rules"][0]["effect"],
        "decides"
    );
    // ICMP without a port; the old `--port` as ICMP type still works.
    let (code, out, err) = kakinectl(&[
        "explain",
        "examples",
        "--from",
        "web/frontend",
        "--to",
        "api/orders",
        "--protocol",
        "icmp",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("web/frontend -> api/orders ICMP 8/0: Deny"),
        "{out}"
    );
    let (_, out, _) = kakinectl(&[
        "explain",
        "examples",
        "--from",
        "web/frontend",
        "--to",
        "api/orders",
        "--protocol",
        "icmp",
        "--port",
        "0",
    ]);
    assert!(
        out.starts_with("web/frontend -> api/orders ICMP 0/0:"),
        "{out}"
    );
}
