//! A rule whose named port resolves to thousands of numbers (issue 17, "an oversized flow"):
//! every flow the compiler emits fits in one OpenFlow message inside a bundle, the FakeSwitch
//! gives the reference evaluator's verdicts, and a real ovs-vswitchd accepts the bundle.
//!
//! Before the fix one egress rule to a named port served on 4,090 different numbers made one
//! shared match flow of about 65.5 KB (4,090 `conjunction` actions of 16 bytes): its length
//! wrapped past 16 bits on the wire and the agent's reconciler panicked decoding it.

use std::time::Duration;

use kakine::datapath::compiler::{self, encoded_len, offline_pods, MAX_FLOW_MOD_BYTES};
use kakine::lab::engine::{Engine, Oracle};
use kakine::lab::sandbox::OvsSandbox;
use kakine::policy::model::{AntreaPeer, AntreaPolicy, AntreaRule};
use kakine::policy::resolved::{PodKey, Protocol, ResolvedPolicies, RuleAction};
use kakine::policy::selector::LabelSelector;
use kakine::policy::{resolve, Cluster, Destination, PolicySet, Probe, Verdict};

/// Servers, each serving the named port `web` on its own number (10000 + i).
const SERVERS: u16 = 4090;

fn web_port(i: u16) -> u16 {
    10_000 + i
}

fn server_ip(i: u16) -> String {
    format!(
        "10.{}.{}.{}",
        100 + i / 250 / 250,
        (i / 250) % 250,
        i % 250 + 1
    )
}

fn key(ns: &str, name: &str) -> PodKey {
    PodKey {
        namespace: ns.into(),
        name: name.into(),
    }
}

/// A client and [`SERVERS`] web pods; `rule` builds the policy from its selectors.
fn cluster() -> Cluster {
    let mut c = Cluster::default().namespace("shop", &[]).pod(
        "shop/client",
        &[("app", "client")],
        "10.99.0.1",
    );
    for i in 0..SERVERS {
        c = c
            .pod(&format!("shop/web-{i}"), &[("app", "web")], &server_ip(i))
            .serving(web_port(i), Protocol::Tcp, Some("web"));
    }
    c
}

/// Egress from the client: allow TCP to the named port `web` of any web pod, drop the rest.
fn egress_policy() -> ResolvedPolicies {
    let policy = AntreaPolicy::test("client-out")
        .tier("securityops")
        .applied_to(LabelSelector::labels([("app", "client")]), None)
        .egress(
            AntreaRule::new(RuleAction::Allow)
                .named("to-web")
                .to(AntreaPeer::pods(LabelSelector::labels([("app", "web")])))
                .named_port(Protocol::Tcp, "web"),
        )
        .egress(AntreaRule::new(RuleAction::Drop).named("drop-rest"));
    resolve(&cluster(), &PolicySet::default().with(policy)).expect("policies resolve")
}

/// Ingress to every web pod: allow TCP from the client to the named port `web`, drop the rest.
fn ingress_policy() -> ResolvedPolicies {
    let policy = AntreaPolicy::test("web-in")
        .tier("securityops")
        .applied_to(LabelSelector::labels([("app", "web")]), None)
        .ingress(
            AntreaRule::new(RuleAction::Allow)
                .named("from-client")
                .from(AntreaPeer::pods(LabelSelector::labels([("app", "client")])))
                .named_port(Protocol::Tcp, "web"),
        )
        .ingress(AntreaRule::new(RuleAction::Drop).named("drop-rest"));
    resolve(&cluster(), &PolicySet::default().with(policy)).expect("policies resolve")
}

fn largest_flow(policies: &ResolvedPolicies) -> usize {
    let compiled = compiler::compile(policies, &offline_pods(policies), 1).expect("compiles");
    compiled.flows.iter().map(encoded_len).max().unwrap()
}

#[test]
fn an_egress_rule_to_a_named_port_on_4090_numbers_compiles_to_flows_that_fit_one_message() {
    let largest = largest_flow(&egress_policy());
    assert!(
        largest <= MAX_FLOW_MOD_BYTES,
        "largest flow {largest} bytes, limit {MAX_FLOW_MOD_BYTES}"
    );
    // Every flow stays small: no flow carries an action per resolved number.
    assert!(largest < 1024, "largest flow {largest} bytes");
}

#[test]
fn an_ingress_rule_to_a_named_port_on_4090_local_pods_compiles_to_flows_that_fit_one_message() {
    let largest = largest_flow(&ingress_policy());
    assert!(largest < 1024, "largest flow {largest} bytes");
}

/// Probes from the client to a sample of servers on their own number (allowed) and on the next
/// server's number (dropped), or the reverse for ingress.
fn probes() -> Vec<(Probe, Verdict)> {
    let mut out = Vec::new();
    for i in [0, 1, 2, 1000, 2047, 2048, 3333, SERVERS - 2, SERVERS - 1] {
        let to = Destination::Pod(key("shop", &format!("web-{i}")));
        for (port, verdict) in [
            (web_port(i), Verdict::Allow),
            (web_port((i + 1) % SERVERS), Verdict::Deny),
        ] {
            let probe = Probe {
                from: key("shop", "client"),
                to: to.clone(),
                protocol: Protocol::Tcp,
                port,
                source_port: None,
            };
            out.push((probe, verdict));
        }
    }
    out
}

fn assert_sim_matches_reference(policies: &ResolvedPolicies) {
    let mut sim = Oracle::new(Engine::Sim, policies).expect("the FakeSwitch takes the flows");
    let mut reference = Oracle::new(Engine::Reference, policies).unwrap();
    for (probe, expected) in probes() {
        let want = reference.decide(&probe).unwrap();
        let got = sim.decide(&probe).unwrap();
        assert_eq!(want.verdict, expected, "reference for {probe:?}");
        assert_eq!(got.verdict, want.verdict, "sim for {probe:?}");
        assert_eq!(
            (got.egress, got.ingress),
            (want.egress, want.ingress),
            "deciding rules for {probe:?}"
        );
    }
}

#[test]
fn verdicts_on_the_fake_switch_stay_right_for_a_named_port_on_4090_numbers() {
    assert_sim_matches_reference(&egress_policy());
    assert_sim_matches_reference(&ingress_policy());
}

fn bridge() -> String {
    format!("k{}of", std::process::id() % 100_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_ovs_vswitchd_accepts_the_bundle_of_a_named_port_on_4090_numbers() {
    let ovs = OvsSandbox::start_temp().expect("sandbox OVS starts (needs openvswitch and root)");
    let br = bridge();
    ovs.vsctl(&[
        "add-br",
        &br,
        "--",
        "set",
        "bridge",
        &br,
        "datapath_type=netdev",
        "fail_mode=secure",
        "protocols=OpenFlow13",
    ])
    .expect("bridge created");
    ovs.wait_bridge(&br, Duration::from_secs(10))
        .expect("bridge up");
    let conn = openflow::Connection::connect_unix(&ovs.mgmt_sock(&br))
        .await
        .expect("OpenFlow connection to the sandbox bridge");
    for policies in [egress_policy(), ingress_policy()] {
        let compiled = compiler::compile(&policies, &offline_pods(&policies), 1).expect("compiles");
        let mut batch = vec![kakine::agent::delete_all()];
        batch.extend(compiled.flows.iter().cloned());
        conn.bundle(&batch).await.expect("OVS accepts the bundle");
        let dump = ovs
            .ofctl("dump-flows", &br, &["--no-names"])
            .expect("dump-flows");
        let installed = dump.lines().filter(|l| l.contains("priority=")).count();
        assert_eq!(installed, compiled.flows.len(), "every flow installed");
    }
}
