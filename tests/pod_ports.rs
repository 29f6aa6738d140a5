//! Two pods whose host interface names hash alike (issue 17, "two pods can share one OVS
//! port"): the agent attaches the first, refuses the second with an error naming both, and the
//! spoof guard admits one pod on the port. On a sandbox Open vSwitch with the first pod as a
//! network namespace; needs root, Open vSwitch and iproute2, and fails (never skips) without.

use std::path::PathBuf;

use kakine::agent::{realize_resolved, AgentConfig};
use kakine::lab::pods::Lab;
use kakine::lab::sandbox::OvsSandbox;
use kakine::policy::resolved::{PodKey, ResolvedPolicies};
use kakine::policy::{resolve, Cluster, PolicySet};

/// A prefix unique to this test process (the collision does not depend on it: the hash covers
/// `namespace/name` only).
fn prefix() -> String {
    format!("h{}", std::process::id() % 100_000)
}

fn key(ns: &str, name: &str) -> PodKey {
    PodKey {
        namespace: ns.into(),
        name: name.into(),
    }
}

fn world(names: &[&str]) -> ResolvedPolicies {
    let mut c = Cluster::default().namespace("tenant", &[]);
    for (i, n) in names.iter().enumerate() {
        c = c.pod(&format!("tenant/{n}"), &[], &format!("10.66.0.{}", i + 1));
    }
    resolve(&c, &PolicySet::default()).expect("resolves")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_whose_interface_name_is_another_pods_is_refused_naming_both() {
    let ovs = OvsSandbox::start_temp().expect("sandbox OVS starts (needs openvswitch and root)");
    let prefix = prefix();
    // Only the first pod's veth exists: the second's name is the same.
    let _lab = Lab::create_with(&world(&["web-329599"]), &prefix, None, None).expect("netns pod");
    let cfg = AgentConfig {
        input: PathBuf::new(),
        ovsdb: ovs.db_target(),
        of_socket: ovs.mgmt_sock(&format!("{prefix}b")),
        bridge: format!("{prefix}b"),
        datapath_type: "netdev".into(),
        ifname_prefix: prefix.clone(),
        node: None,
        round: 1,
    };
    let both = world(&["web-329599", "web-532382"]);
    let r = realize_resolved(&cfg, &both)
        .await
        .expect("the realization goes on without the refused pod");
    let attached: Vec<&PodKey> = r.pods.iter().map(|p| &p.key).collect();
    assert_eq!(attached, vec![&key("tenant", "web-329599")]);
    let note = r
        .notes
        .iter()
        .find(|n| n.contains("not attached"))
        .unwrap_or_else(|| panic!("no refusal among {:?}", r.notes));
    assert!(
        note.starts_with("pod tenant/web-532382: ") && note.contains("pod tenant/web-329599's"),
        "{note}"
    );
    // One port on the bridge, and one spoof-guard flow admitting one address on it.
    let ports = ovs.vsctl(&["list-ports", &cfg.bridge]).expect("list-ports");
    assert_eq!(ports.lines().count(), 1, "{ports}");
    let flows = ovs
        .ofctl("dump-flows", &cfg.bridge, &["--no-names"])
        .expect("dump-flows");
    assert!(flows.contains("nw_src=10.66.0.1"), "{flows}");
    assert!(!flows.contains("10.66.0.2"), "{flows}");
}
