//! What the agent reports realized is true (a new user's findings, issue "truthful
//! realization"), on the real parts: the standalone controller's parts over HTTP/2 + TLS on
//! 127.0.0.1, the live agent in process with the controller source, a sandbox ovs-vswitchd and
//! the pods as network namespaces. Needs root, Open vSwitch and iproute2; fails (never skips)
//! without.
//!
//! - a local pod whose interface does not exist yet leaves the policies applied to it (here a
//!   K8s NetworkPolicy isolating its namespace) pending on the node (naming the pod and the
//!   missing interface), not realized; once its veth appears they are realized;
//! - a bundle OVS refuses (a table full: `Flow_Table` `flow_limit` with `overflow_policy=refuse`)
//!   fails the policy whose flow OVS named, the other changed policy is pending (its previous
//!   content stays enforced), an unchanged one stays realized; once the table has room the
//!   retried bundle realizes them all.

use std::path::Path;
use std::time::Duration;

use kakine::agent::controller_source::ControllerSource;
use kakine::agent::live::{Live, LiveConfig};
use kakine::agent::source::Source;
use kakine::agent::AgentConfig;
use kakine::controller::client::Client;
use kakine::controller::{tls, Realization, RealizationCounts};
use kakine::lab::pods::Lab;
use kakine::lab::sandbox::OvsSandbox;
use kakine::policy::{resolve, Cluster, PolicySet};

#[path = "support/controlplane_parts.rs"]
mod parts;
use parts::{from_web, start};

/// One node; `db/postgres` and `late/job` on it, `web/frontend` elsewhere (no node).
const CLUSTER: &str = "\
apiVersion: kakine.io/v1alpha1
kind: Cluster
nodes:
- {name: n1, ip: 192.168.60.1}
namespaces:
- {name: web}
- {name: db}
- {name: late}
pods:
- {namespace: web, name: frontend, labels: {app: frontend}, ip: 10.66.1.10}
- {namespace: db, name: postgres, labels: {app: postgres}, ip: 10.66.2.10, node: n1}
- {namespace: late, name: job, labels: {app: job}, ip: 10.66.3.10, node: n1}
";

/// A ClusterNetworkPolicy applied to namespace `db`, allowing `web` on TCP `port`.
fn to_db(name: &str, port: u32) -> String {
    from_web(name, "Allow", "db", Some(port))
}

/// A K8s NetworkPolicy isolating namespace `late` for ingress (no rule: an isolation only).
const LATE: &str = "\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: late-job, namespace: late}
spec: {podSelector: {}, policyTypes: [Ingress]}
";

/// A ClusterNetworkPolicy applied to `db`, its egress rule dropping TCP 5432 to a block.
const EGRESS: &str = "\
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: egress-block}
spec:
  priority: 6
  tier: application
  appliedTo:
  - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: db}}
  egress:
  - name: to-block
    action: Drop
    ports: [{protocol: TCP, port: 5432}]
    to:
    - ipBlock: {cidr: 10.99.0.0/16}
";

const TOKEN: &str = "n1-token-0123456789abcdef";

/// The counts of policy `name` (empty while the controller has none).
fn counts(r: &Realization, name: &str) -> RealizationCounts {
    r.iter()
        .find(|(k, _)| k.name == name)
        .map(|(_, c)| c.clone())
        .unwrap_or_default()
}

/// Waits (20 s at most) until `until` holds of the counts.
async fn until(
    rx: &mut tokio::sync::watch::Receiver<Realization>,
    what: &str,
    until: impl Fn(&Realization) -> bool,
) -> Realization {
    let r = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let now = rx.borrow_and_update().clone();
            if until(&now) {
                return now;
            }
            rx.changed().await.unwrap();
        }
    })
    .await;
    r.unwrap_or_else(|_| panic!("{what}: not within 20 s; counts: {:#?}", rx.borrow()))
}

/// A pod of the model as a network namespace with its veth on the host.
fn pod_netns(prefix: &str, ns: &str, name: &str, ip: &str) -> Lab {
    let world = resolve(
        &Cluster::default()
            .namespace(ns, &[])
            .pod(&format!("{ns}/{name}"), &[], ip),
        &PolicySet::default(),
    )
    .expect("resolves");
    Lab::create_with(&world, prefix, None, None).expect("netns pod (needs root and iproute2)")
}

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_reports_what_it_enforces() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, certs) = (tmp.path().join("input"), tmp.path().join("certs"));
    std::fs::create_dir_all(&dir).unwrap();
    write(&dir, "cluster.yaml", CLUSTER);
    write(&dir, "stable.yaml", &to_db("stable", 80));
    write(&dir, "edited.yaml", &to_db("edited", 443));
    write(&dir, "late.yaml", LATE);
    tls::generate(&certs, &["127.0.0.1".to_string()], false).unwrap();
    std::fs::write(tmp.path().join("tokens"), format!("n1 {TOKEN}\n")).unwrap();
    std::fs::write(tmp.path().join("token"), format!("{TOKEN}\n")).unwrap();

    // The controller's parts.
    let running = start(&dir, &certs, &tmp.path().join("tokens"), 100, 0).await;
    let mut realization = running.controller.realization();

    // The node: a sandbox OVS, db/postgres's namespace; late/job has none yet.
    let ovs = OvsSandbox::start_temp().expect("sandbox OVS starts (needs openvswitch and root)");
    let prefix = format!("q{}", std::process::id() % 100_000);
    let _postgres = pod_netns(&prefix, "db", "postgres", "10.66.2.10");
    let bridge = format!("{prefix}b");
    let agent = AgentConfig {
        input: tmp.path().join("unused"),
        ovsdb: ovs.db_target(),
        of_socket: ovs.mgmt_sock(&bridge),
        bridge: bridge.clone(),
        datapath_type: "netdev".into(),
        ifname_prefix: prefix.clone(),
        node: Some("n1".into()),
        round: 1,
    };
    let live = Live::start(LiveConfig {
        agent,
        state_dir: None,
        drift_interval: Duration::ZERO,
        quiet: Duration::from_millis(20),
        phantom_pods: false,
        configure_host: false,
        cni_socket: None,
    })
    .await
    .expect("the agent starts on the sandbox OVS");
    let client = Client::new(
        &format!("https://127.0.0.1:{}", running.addr.port()),
        tls::client_config(&certs.join(tls::CA_CRT)).unwrap(),
        tmp.path().join("token"),
        "n1",
    )
    .unwrap();
    let source = Source::Controller(Box::new(ControllerSource::start(client, None)));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let agent_task = tokio::spawn(live.run(Some(source), async {
        let _ = stopped.await;
    }));

    // 1. late/job has no interface: its policy is not realized on n1, the others are.
    let r = until(&mut realization, "the first report", |r| {
        counts(r, "stable").current == 1 && counts(r, "edited").current == 1
    })
    .await;
    let late = counts(&r, "late/late-job");
    assert_eq!((late.desired, late.current), (1, 0), "{late:?}");
    assert!(late.failures.is_empty(), "{late:?}");
    let ifname = kakine::agent::interfaces::host_ifname(&prefix, "late", "job");
    let pending = late.pending.get("n1").cloned().unwrap_or_default();
    assert!(
        pending.contains("pod late/job") && pending.contains(&ifname),
        "{late:?}"
    );
    assert_eq!(late.phase(), "Realizing");

    // Its veth appears: the agent attaches it and reports the policy realized.
    let _job = pod_netns(&prefix, "late", "job", "10.66.3.10");
    let r = until(&mut realization, "late-job realized", |r| {
        counts(r, "late/late-job").current == 1
    })
    .await;
    assert!(counts(&r, "late/late-job").pending.is_empty());

    // 2. OVS refuses the next bundle: EgressTier holds no more flows than it has.
    let (egress_tier, _) = kakine::datapath::pipeline::table_names()
        .into_iter()
        .find(|(_, n)| n == "EgressTier")
        .unwrap();
    let table = format!("table={egress_tier}");
    let flows = ovs
        .ofctl("dump-flows", &bridge, &["--no-stats", &table])
        .unwrap();
    let n = flows.lines().filter(|l| l.contains("priority")).count();
    let uuid = ovs
        .vsctl(&[
            "--bare",
            "--columns=_uuid",
            "find",
            "Flow_Table",
            "name=EgressTier",
        ])
        .unwrap();
    let uuid = uuid.trim().to_string();
    assert!(!uuid.is_empty(), "the agent names its tables");
    ovs.vsctl(&[
        "set",
        "Flow_Table",
        &uuid,
        &format!("flow_limit={n}"),
        "overflow_policy=refuse",
    ])
    .unwrap();
    // One change: `edited` edited (ingress only), `egress-block` new (EgressTier).
    write(&dir, "changes.yaml", EGRESS);
    write(&dir, "edited.yaml", &to_db("edited", 8443));
    let r = until(&mut realization, "the refusal reported", |r| {
        !counts(r, "egress-block").failures.is_empty()
    })
    .await;
    let culprit = counts(&r, "egress-block");
    let failure = &culprit.failures["n1"];
    assert!(
        failure.starts_with("rule to-block: ") && failure.contains("OFPFMFC_TABLE_FULL"),
        "the failure names the rule whose flow OVS refused, and why: {culprit:?}"
    );
    assert!(culprit.pending.is_empty());
    let edited = counts(&r, "edited");
    assert_eq!(edited.current, 0, "{edited:?}");
    assert!(
        edited.failures.is_empty(),
        "edited is not the culprit: {edited:?}"
    );
    assert!(
        edited
            .pending
            .get("n1")
            .is_some_and(|p| p.contains("egress-block")),
        "edited is pending behind the culprit: {edited:?}"
    );
    assert_eq!(edited.phase(), "Realizing");
    assert_eq!(counts(&r, "stable").current, 1);
    assert_eq!(counts(&r, "late/late-job").current, 1);
    // Nothing of it was applied: the old port of `edited` is still what OVS has.
    let all = ovs.ofctl("dump-flows", &bridge, &["--no-stats"]).unwrap();
    assert!(all.contains("tp_dst=443"), "{all}");
    assert!(!all.contains("tp_dst=8443"), "{all}");

    // The table has room again: the retried bundle realizes both.
    ovs.vsctl(&["clear", "Flow_Table", &uuid, "flow_limit"])
        .unwrap();
    let r = until(&mut realization, "all realized", |r| {
        ["stable", "edited", "egress-block", "late/late-job"]
            .iter()
            .all(|p| counts(r, p).current == 1)
    })
    .await;
    assert!(r
        .values()
        .all(|c| c.failures.is_empty() && c.pending.is_empty()));

    let _ = stop.send(());
    let _ = agent_task.await;
    running.stop().await;
}
