//! The reference evaluator on small builder-made clusters: one behaviour per test.

use kakine::policy::evaluate::K8S_ISOLATION_POLICY;
use kakine::policy::model::{
    AntreaPeer, AntreaPolicy, AntreaRule, ClusterGroup, K8sNetworkPolicy, K8sPeer, K8sRule, Tier,
};
use kakine::policy::resolved::{Direction, PodKey, PortMatch, Protocol, RuleAction, Stage};
use kakine::policy::selector::LabelSelector;
use kakine::policy::{
    evaluate, resolve, Cluster, Decision, Destination, PolicySet, Probe, Verdict,
};

use Protocol::{Tcp, Udp};
use RuleAction::{Allow, Drop, Pass, Reject};

/// x/a, x/b, y/a; every pod serves TCP 80 and UDP 53; x/b names 8080 `web`, x/a names 9090 `web`.
fn cluster() -> Cluster {
    Cluster::default()
        .namespace("x", &[("ns", "x")])
        .namespace("y", &[("ns", "y")])
        .pod("x/a", &[("pod", "a")], "10.0.1.1")
        .serving(80, Tcp, None)
        .serving(9090, Tcp, Some("web"))
        .pod("x/b", &[("pod", "b")], "10.0.1.2")
        .serving(80, Tcp, None)
        .serving(8080, Tcp, Some("web"))
        .pod("y/a", &[("pod", "a")], "10.0.2.1")
        .serving(80, Tcp, None)
        .serving(53, Udp, Some("dns"))
}

fn key(s: &str) -> PodKey {
    let (namespace, name) = s.split_once('/').unwrap();
    PodKey {
        namespace: namespace.into(),
        name: name.into(),
    }
}

fn pods(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector::labels(pairs.iter().copied())
}

fn ns(name: &str) -> LabelSelector {
    LabelSelector::labels([("ns", name)])
}

fn probe_on(set: &PolicySet, from: &str, to: &str, protocol: Protocol, port: u16) -> Decision {
    let resolved = resolve(&cluster(), set).expect("valid policies");
    evaluate(
        &resolved,
        &Probe {
            from: key(from),
            to: Destination::Pod(key(to)),
            protocol,
            port,
            source_port: None,
        },
    )
}

fn probe(set: &PolicySet, from: &str, to: &str) -> Decision {
    probe_on(set, from, to, Tcp, 80)
}

/// A ClusterNetworkPolicy applied to x/b with one ingress rule from anywhere.
fn ingress_to_xb(name: &str, action: RuleAction) -> AntreaPolicy {
    AntreaPolicy::test(name)
        .applied_to(pods(&[("pod", "b")]), Some(ns("x")))
        .ingress(AntreaRule::new(action))
}

#[test]
fn without_policies_everything_is_allowed_by_default() {
    let d = probe(&PolicySet::default(), "x/a", "y/a");
    assert_eq!(d.verdict, Verdict::Allow);
    assert_eq!((d.egress, d.ingress), (None, None));
}

#[test]
fn an_allow_rule_allows_and_is_reported_as_deciding() {
    let set = PolicySet::default().with(ingress_to_xb("allow", Allow));
    let d = probe(&set, "x/a", "x/b");
    assert_eq!(d.verdict, Verdict::Allow);
    assert_eq!(
        d.ingress.unwrap().to_string(),
        "application/allow/ingress-0"
    );
}

#[test]
fn a_drop_rule_denies() {
    let set = PolicySet::default().with(ingress_to_xb("drop", Drop));
    let d = probe(&set, "x/a", "x/b");
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.ingress.unwrap().policy, "drop");
    assert_eq!(probe(&set, "x/b", "x/a").verdict, Verdict::Allow);
}

#[test]
fn a_reject_rule_rejects_at_the_clients_egress() {
    let set = PolicySet::default().with(
        AntreaPolicy::test("reject")
            .applied_to(pods(&[("pod", "a")]), None)
            .egress(
                AntreaRule::new(Reject)
                    .named("no-y")
                    .to(AntreaPeer::namespaces(ns("y"))),
            ),
    );
    let d = probe(&set, "x/a", "y/a");
    assert_eq!(d.verdict, Verdict::Reject);
    assert_eq!(d.egress.unwrap().rule, "no-y");
    assert_eq!(d.ingress, None);
    assert_eq!(probe(&set, "x/a", "x/b").verdict, Verdict::Allow);
}

#[test]
fn egress_is_decided_before_ingress() {
    let set = PolicySet::default()
        .with(
            AntreaPolicy::test("egress-drop")
                .applied_to(pods(&[("pod", "a")]), Some(ns("x")))
                .egress(AntreaRule::new(Drop)),
        )
        .with(ingress_to_xb("ingress-reject", Reject));
    let d = probe(&set, "x/a", "x/b");
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.egress.unwrap().policy, "egress-drop");
    assert_eq!(d.ingress, None);
}

#[test]
fn a_higher_tier_wins_whatever_the_policy_priority() {
    let set = PolicySet::default()
        .with(ingress_to_xb("app-drop", Drop).priority(1.0))
        .with(
            ingress_to_xb("secops-allow", Allow)
                .tier("securityops")
                .priority(50.0),
        );
    let d = probe(&set, "x/a", "x/b");
    assert_eq!(d.verdict, Verdict::Allow);
    assert_eq!(d.ingress.unwrap().tier, "securityops");
}

#[test]
fn a_custom_tier_sits_between_built_in_tiers_by_priority() {
    let set = PolicySet::default()
        .with(Tier::test("mid", 120))
        .with(ingress_to_xb("netops-allow", Allow).tier("networkops"))
        .with(ingress_to_xb("mid-drop", Drop).tier("mid"));
    assert_eq!(probe(&set, "x/a", "x/b").verdict, Verdict::Deny);
}

#[test]
fn a_lower_policy_priority_wins_inside_a_tier() {
    let set = PolicySet::default()
        .with(ingress_to_xb("allow-2", Allow).priority(2.0))
        .with(ingress_to_xb("drop-1", Drop).priority(1.0));
    assert_eq!(probe(&set, "x/a", "x/b").verdict, Verdict::Deny);
    let set = PolicySet::default()
        .with(ingress_to_xb("allow-1", Allow).priority(1.0))
        .with(ingress_to_xb("drop-2", Drop).priority(2.0));
    assert_eq!(probe(&set, "x/a", "x/b").verdict, Verdict::Allow);
}

#[test]
fn rule_order_decides_inside_a_policy() {
    let set = PolicySet::default().with(
        AntreaPolicy::test("ordered")
            .applied_to(pods(&[("pod", "b")]), Some(ns("x")))
            .ingress(AntreaRule::new(Allow).from(AntreaPeer::pods(pods(&[("pod", "a")]))))
            .ingress(AntreaRule::new(Drop)),
    );
    assert_eq!(probe(&set, "x/a", "x/b").verdict, Verdict::Allow);
    assert_eq!(probe(&set, "y/a", "x/b").verdict, Verdict::Allow);
    let d = probe_on(&set, "x/a", "x/b", Udp, 53);
    assert_eq!(
        d.verdict,
        Verdict::Allow,
        "rule 0 has no ports: all traffic"
    );
}

#[test]
fn pass_skips_the_remaining_tiers() {
    let set = PolicySet::default()
        .with(ingress_to_xb("pass", Pass).tier("securityops"))
        .with(ingress_to_xb("drop", Drop));
    let d = probe(&set, "x/a", "x/b");
    assert_eq!(d.verdict, Verdict::Allow);
    assert_eq!(d.ingress, None);
}

#[test]
fn pass_hands_the_decision_to_k8s_isolation() {
    let set = PolicySet::default()
        .with(ingress_to_xb("pass", Pass).tier("securityops"))
        .with(K8sNetworkPolicy::test("x", "deny-all").policy_types(true, false));
    let d = probe(&set, "x/a", "x/b");
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.ingress.unwrap().policy, K8S_ISOLATION_POLICY);
}

#[test]
fn an_antrea_allow_short_circuits_k8s_isolation() {
    let set = PolicySet::default()
        .with(ingress_to_xb("allow", Allow))
        .with(K8sNetworkPolicy::test("x", "deny-all").policy_types(true, false));
    assert_eq!(probe(&set, "x/a", "x/b").verdict, Verdict::Allow);
    assert_eq!(probe(&set, "x/b", "x/a").verdict, Verdict::Deny);
}

#[test]
fn k8s_isolation_ignores_the_baseline_tier() {
    let set = PolicySet::default()
        .with(ingress_to_xb("baseline-allow", Allow).tier("baseline"))
        .with(K8sNetworkPolicy::test("x", "deny-all").policy_types(true, false));
    let d = probe(&set, "x/a", "x/b");
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.ingress.unwrap().rule, "default-deny-ingress");
}

#[test]
fn a_k8s_allow_beats_a_baseline_drop() {
    let set = PolicySet::default()
        .with(ingress_to_xb("baseline-drop", Drop).tier("baseline"))
        .with(
            K8sNetworkPolicy::test("x", "allow-a")
                .ingress(K8sRule::default().from(K8sPeer::pods(pods(&[("pod", "a")])))),
        );
    let d = probe(&set, "x/a", "x/b");
    assert_eq!(d.verdict, Verdict::Allow);
    assert_eq!(d.ingress.unwrap().to_string(), "k8s/x/allow-a/ingress-0");
}

#[test]
fn the_baseline_tier_applies_to_pods_k8s_does_not_isolate() {
    let set = PolicySet::default().with(ingress_to_xb("baseline-drop", Drop).tier("baseline"));
    let d = probe(&set, "y/a", "x/b");
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.ingress.unwrap().tier, "baseline");
}

#[test]
fn a_k8s_pod_selector_peer_is_scoped_to_the_policy_namespace() {
    let set = PolicySet::default().with(
        K8sNetworkPolicy::test("x", "from-pod-a")
            .select(pods(&[("pod", "b")]))
            .ingress(K8sRule::default().from(K8sPeer::pods(pods(&[("pod", "a")])))),
    );
    assert_eq!(probe(&set, "x/a", "x/b").verdict, Verdict::Allow);
    assert_eq!(probe(&set, "y/a", "x/b").verdict, Verdict::Deny);
}

#[test]
fn k8s_egress_isolation_comes_from_policy_types_and_egress_rules() {
    let set = PolicySet::default().with(
        K8sNetworkPolicy::test("x", "egress-to-y")
            .select(pods(&[("pod", "a")]))
            .egress(K8sRule::default().to(K8sPeer::namespaces(ns("y")))),
    );
    let resolved = resolve(&cluster(), &set).unwrap();
    assert!(resolved.isolated_egress.contains(&key("x/a")));
    assert!(
        resolved.isolated_ingress.contains(&key("x/a")),
        "Ingress is always a default type"
    );
    assert_eq!(probe(&set, "x/a", "y/a").verdict, Verdict::Allow);
    assert_eq!(probe(&set, "x/a", "x/b").verdict, Verdict::Deny);
}

#[test]
fn a_named_port_resolves_on_the_destination_pod() {
    let set = PolicySet::default().with(
        AntreaPolicy::test("no-web")
            .applied_to_all()
            .ingress(AntreaRule::new(Drop).named_port(Tcp, "web")),
    );
    assert_eq!(
        probe_on(&set, "y/a", "x/b", Tcp, 8080).verdict,
        Verdict::Deny
    );
    assert_eq!(
        probe_on(&set, "y/a", "x/a", Tcp, 8080).verdict,
        Verdict::Allow
    );
    assert_eq!(
        probe_on(&set, "y/a", "x/a", Tcp, 9090).verdict,
        Verdict::Deny
    );
    assert_eq!(
        probe_on(&set, "y/a", "x/a", Udp, 9090).verdict,
        Verdict::Allow
    );
}

#[test]
fn a_named_k8s_port_must_match_number_and_protocol() {
    let set = PolicySet::default().with(
        K8sNetworkPolicy::test("y", "dns-only").ingress(K8sRule::default().named_port(Udp, "dns")),
    );
    assert_eq!(
        probe_on(&set, "x/a", "y/a", Udp, 53).verdict,
        Verdict::Allow
    );
    assert_eq!(probe_on(&set, "x/a", "y/a", Tcp, 53).verdict, Verdict::Deny);
}

#[test]
fn an_end_port_range_includes_both_ends() {
    let set = PolicySet::default().with(
        AntreaPolicy::test("range")
            .applied_to_all()
            .ingress(AntreaRule::new(Drop).port_range(Tcp, 8080, 8082)),
    );
    let resolved = resolve(&cluster(), &set).unwrap();
    let service = &resolved.rules[0].services.as_ref().unwrap()[0];
    assert_eq!(service.port, PortMatch::Range(8080, 8082));
    for (port, verdict) in [
        (8079, Verdict::Allow),
        (8080, Verdict::Deny),
        (8082, Verdict::Deny),
        (8083, Verdict::Allow),
    ] {
        assert_eq!(
            probe_on(&set, "x/a", "y/a", Tcp, port).verdict,
            verdict,
            "port {port}"
        );
    }
}

#[test]
fn an_ip_block_except_carves_out_pods() {
    let set = PolicySet::default().with(
        AntreaPolicy::test("drop-10")
            .applied_to(pods(&[("pod", "b")]), Some(ns("x")))
            .ingress(
                AntreaRule::new(Drop).from(AntreaPeer::ip_block("10.0.0.0/16", &["10.0.2.0/24"])),
            ),
    );
    assert_eq!(probe(&set, "x/a", "x/b").verdict, Verdict::Deny);
    assert_eq!(probe(&set, "y/a", "x/b").verdict, Verdict::Allow);
}

#[test]
fn a_raw_ip_destination_is_matched_by_ip_blocks() {
    let set = PolicySet::default().with(
        AntreaPolicy::test("no-internet")
            .applied_to_all()
            .egress(AntreaRule::new(Drop).to(AntreaPeer::ip_block("8.8.8.0/24", &[]))),
    );
    let resolved = resolve(&cluster(), &set).unwrap();
    let to_ip = |ip: &str| {
        evaluate(
            &resolved,
            &Probe {
                from: key("x/a"),
                to: Destination::Ip(ip.parse().unwrap()),
                protocol: Tcp,
                port: 443,
                source_port: None,
            },
        )
        .verdict
    };
    assert_eq!(to_ip("8.8.8.8"), Verdict::Deny);
    assert_eq!(to_ip("1.1.1.1"), Verdict::Allow);
}

#[test]
fn a_cluster_group_peer_contributes_pods_and_ip_blocks() {
    let set = PolicySet::default()
        .with(
            ClusterGroup::test("g")
                .pods(pods(&[("pod", "a")]))
                .ip_block("10.0.1.2/32"),
        )
        .with(
            AntreaPolicy::test("from-group")
                .applied_to(pods(&[("pod", "a")]), Some(ns("y")))
                .ingress(AntreaRule::new(Drop).from(AntreaPeer::group("g"))),
        );
    assert_eq!(probe(&set, "x/a", "y/a").verdict, Verdict::Deny);
    assert_eq!(probe(&set, "x/b", "y/a").verdict, Verdict::Deny);
}

#[test]
fn rule_applied_to_overrides_and_annp_selectors_default_to_their_namespace() {
    let set = PolicySet::default().with(
        AntreaPolicy::test("np").namespaced("x").ingress(
            AntreaRule::new(Drop)
                .from(AntreaPeer::pods(pods(&[("pod", "a")])))
                .applied_to(pods(&[("pod", "b")])),
        ),
    );
    assert_eq!(probe(&set, "x/a", "x/b").verdict, Verdict::Deny);
    assert_eq!(
        probe(&set, "y/a", "x/b").verdict,
        Verdict::Allow,
        "peer is x/a only"
    );
    let resolved = resolve(&cluster(), &set).unwrap();
    assert_eq!(resolved.rules[0].applied_to.len(), 1);
    assert_eq!(resolved.rules[0].id.policy, "x/np");
}

#[test]
fn rules_come_out_in_a_deterministic_precedence_order() {
    let set = PolicySet::default()
        .with(K8sNetworkPolicy::test("x", "k").ingress(K8sRule::default()))
        .with(ingress_to_xb("base", Drop).tier("baseline"))
        .with(ingress_to_xb("b", Allow).priority(3.0))
        .with(ingress_to_xb("a", Allow).priority(3.0))
        .with(ingress_to_xb("e", Drop).tier("emergency").priority(9.0));
    let resolved = resolve(&cluster(), &set).unwrap();
    let order: Vec<String> = resolved.rules.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(
        order,
        [
            "emergency/e/ingress-0",
            "application/a/ingress-0",
            "application/b/ingress-0",
            "k8s/x/k/ingress-0",
            "baseline/base/ingress-0",
        ]
    );
    assert_eq!(resolved.rules[0].stage, Stage::Tier(50));
    assert_eq!(resolved.rules[3].stage, Stage::K8s);
    assert_eq!(resolved.rules[4].stage, Stage::Baseline);
    assert!(resolved
        .rules
        .iter()
        .all(|r| r.direction == Direction::Ingress));
}

#[test]
fn resolved_pods_carry_ip_and_named_ports() {
    let resolved = resolve(&cluster(), &PolicySet::default()).unwrap();
    let xb = resolved.pods.iter().find(|p| p.key == key("x/b")).unwrap();
    assert_eq!(xb.ip.to_string(), "10.0.1.2");
    assert_eq!(xb.named_ports, vec![("web".to_string(), Tcp, 8080)]);
}
