//! The controlplane fan-out under random clusters, policies and event sequences (batched at
//! random), with agents that disconnect and resume and a controller that restarts: after every
//! batch, each node's agent, having applied its snapshot and every delta it received (through
//! their JSON frames), derives exactly the view `grouping::derive::view` gives for the node,
//! and holds no object outside the node's span; and the narrowed fan-out (only the nodes the
//! batch's [`Touched`] names recomputed) equals the full recompute on every node.
//!
//! `PROPTEST_CASES=2000 cargo test --test controlplane_fanout` runs more sequences.

use std::collections::BTreeSet;

use kakine::controlplane::{FanOut, Frame, NodeSpan, Resume, Touched};
use kakine::grouping::derive::{on_node, view};
use kakine::grouping::state::address_groups;
use kakine::grouping::Grouping;
use proptest::prelude::*;

#[path = "support/grouping_events.rs"]
mod grouping_events;
use grouping_events::*;

/// A step: a batch of test events, then what happens to the agents and the controller.
#[derive(Debug, Clone)]
enum Step {
    Batch(Vec<Ev>),
    /// The agent of node i disconnects (misses deltas until it resumes).
    Disconnect(usize),
    /// The agent of node i resumes from its version.
    Resume(usize),
    /// The controller restarts: every agent resumes against the new one.
    Restart,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => prop::collection::vec(ev_named(), 1..4).prop_map(Step::Batch),
        1 => (0..NODES).prop_map(Step::Disconnect),
        1 => (0..NODES).prop_map(Step::Resume),
        1 => Just(Step::Restart),
    ]
}

struct Agent {
    span: NodeSpan,
    connected: bool,
}

/// Through the wire: the frame as JSON and back.
fn wire(f: &Frame) -> Frame {
    serde_json::from_str(&serde_json::to_string(f).expect("a frame serializes"))
        .expect("a frame parses")
}

fn resume(fo: &mut FanOut, g: &Grouping, name: &str, a: &mut Agent) -> Result<(), String> {
    fo.track(name, g);
    match fo.resume(name, a.span.version).expect("tracked") {
        Resume::Snapshot(s) => a.span.apply(&wire(&Frame::Snapshot(s))),
        Resume::Deltas(ds) => ds
            .iter()
            .try_for_each(|d| a.span.apply(&wire(&Frame::Delta((**d).clone())))),
    }
    .map_err(|e| format!("{name}: resume: {e}"))?;
    a.span
        .apply(&Frame::Bookmark {
            version: fo.version(),
        })
        .map_err(|e| e.to_string())?;
    a.connected = true;
    Ok(())
}

/// The agent's span: derives the node's view, and holds nothing outside the node's span.
fn check(g: &Grouping, name: &str, a: &Agent) -> Result<(), String> {
    let got = a.span.derive_from();
    let want = view(g, name);
    if text(&got) != text(&want) || got.nodes != want.nodes || got.np_logging != want.np_logging {
        return Err(format!(
            "{name}: the span derives {:#?}\nthe view is {:#?}",
            text(&got),
            text(&want)
        ));
    }
    let o = &a.span.objects;
    let mut addr = BTreeSet::new();
    for (kind, pname) in o.policies.keys() {
        let (_, p) = g
            .policies
            .iter()
            .find(|(k, _)| k.kind == kind && k.name == *pname)
            .ok_or_else(|| format!("{name}: holds policy {kind} {pname}, deleted"))?;
        if !g.policy_spans(p, name) {
            return Err(format!("{name}: holds {kind} {pname}, outside its span"));
        }
        addr.extend(address_groups(p).map(|g| g.0));
    }
    if let Some(id) = o.address_groups.keys().find(|id| !addr.contains(id)) {
        return Err(format!(
            "{name}: holds address group {id}, outside its span"
        ));
    }
    for (id, members) in &o.applied_to_groups {
        for k in members.iter() {
            let pod = g.index.pod(k).ok_or_else(|| format!("{k} deleted"))?;
            if !on_node(pod.pod.node.as_deref(), name) {
                return Err(format!(
                    "{name}: applied-to group {id} holds {k} of another node"
                ));
            }
        }
    }
    Ok(())
}

fn run(steps: &[Step], history: usize, nodes: usize) -> Result<(), String> {
    let mut world = World::default();
    let mut g = Grouping::new();
    let mut fo = FanOut::new(1000, history);
    let names: Vec<String> = (0..nodes).map(|n| format!("n{n}")).collect();
    let mut agents: Vec<Agent> = names
        .iter()
        .map(|_| Agent {
            span: NodeSpan::default(),
            connected: false,
        })
        .collect();
    for (name, a) in names.iter().zip(&mut agents) {
        resume(&mut fo, &g, name, a)?;
    }
    for (i, s) in steps.iter().enumerate() {
        match s {
            Step::Batch(evs) => {
                let mut touched = Touched::default();
                for ev in evs {
                    for e in events(&mut world, ev) {
                        touched.apply(&mut g, e);
                    }
                }
                // The narrowed fan-out equals the full recompute on every node.
                let deltas = fo
                    .apply_checked(&g, &touched)
                    .map_err(|e| format!("step {i} ({s:?}): {e}"))?;
                for (name, a) in names.iter().zip(&mut agents) {
                    if let (true, Some(d)) = (a.connected, deltas.get(name)) {
                        a.span
                            .apply(&wire(&Frame::Delta((**d).clone())))
                            .map_err(|e| format!("step {i}: {name}: {e}"))?;
                    }
                }
            }
            Step::Disconnect(n) => agents[*n].connected = false,
            Step::Resume(n) => resume(&mut fo, &g, &names[*n], &mut agents[*n])?,
            Step::Restart => {
                fo = FanOut::new(fo.version() + 1000, history);
                for (name, a) in names.iter().zip(&mut agents) {
                    resume(&mut fo, &g, name, a)?;
                }
            }
        }
        for (name, a) in names.iter().zip(&agents) {
            if a.connected {
                check(&g, name, a).map_err(|e| format!("after step {i} ({s:?}): {e}"))?;
            }
        }
    }
    // Everyone back: every node ends with exactly its span.
    for (name, a) in names.iter().zip(&mut agents) {
        resume(&mut fo, &g, name, a)?;
        check(&g, name, a).map_err(|e| format!("at the end: {e}"))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(150)))]

    #[test]
    fn every_agent_ends_with_exactly_its_span(
        steps in prop::collection::vec(step(), 1..30),
        history in 1..6usize,
    ) {
        if let Err(e) = run(&steps, history, NODES) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// Agents of the wide run: as many as the fan-out property asks for.
const WIDE_NODES: usize = 1000;
/// Pod slots of the wide run (each slot is an address `10.0.0.{slot + 1}`).
const WIDE_PODS: usize = 240;

/// A pod event of the wide run: any of [`WIDE_PODS`] pods on any of [`WIDE_NODES`] nodes.
fn wide_pod() -> impl Strategy<Value = Ev> {
    (
        0..WIDE_PODS,
        0..NAMESPACES,
        0..3usize,
        any::<bool>(),
        0..WIDE_NODES,
        prop::bool::weighted(0.05),
        any::<bool>(),
    )
        .prop_map(|(a, b, c, d, e, f, g)| Ev::Pod(a, b, c, d, e, f, g))
}

fn wide_step() -> impl Strategy<Value = Step> {
    let ev = prop_oneof![
        6 => wide_pod(),
        1 => (0..WIDE_PODS).prop_map(Ev::PodDelete),
        1 => (0..NAMESPACES, 0..3usize, any::<bool>()).prop_map(|(a, b, c)| Ev::Namespace(a, b, c)),
        1 => (0..NODES, 0..2usize).prop_map(|(a, b)| Ev::Node(a, b)),
        3 => (0..POLICIES, shape()).prop_map(|(a, b)| Ev::Policy(a, b)),
        1 => (0..POLICIES, named_shape()).prop_map(|(a, b)| Ev::Policy(a, b)),
        1 => (0..POLICIES).prop_map(Ev::PolicyDelete),
    ];
    prop_oneof![
        4 => prop::collection::vec(ev, 1..30).prop_map(Step::Batch),
        2 => (0..WIDE_NODES).prop_map(Step::Disconnect),
        2 => (0..WIDE_NODES).prop_map(Step::Resume),
        1 => Just(Step::Restart),
    ]
}

proptest! {
    // Few cases by default (each is 1,000 agents checked after every step);
    // `KAKINE_WIDE_CASES=N` runs more.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("KAKINE_WIDE_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2)))]

    /// The fan-out property at 1,000 agents: a populated cluster, then random batches,
    /// agent disconnects and resumes, and controller restarts; after every step each connected
    /// agent holds exactly its span, and at the end every one does.
    #[test]
    fn a_thousand_agents_each_end_with_exactly_their_span(
        start in prop::collection::vec(wide_pod(), 150..200),
        steps in prop::collection::vec(wide_step(), 4..10),
        history in 1..6usize,
    ) {
        let all: Vec<Step> = std::iter::once(Step::Batch(start)).chain(steps).collect();
        if let Err(e) = run(&all, history, WIDE_NODES) {
            prop_assert!(false, "{}", e);
        }
    }
}

#[test]
fn a_resume_inside_the_history_gets_the_deltas_since_and_outside_it_a_snapshot() {
    let mut world = World::default();
    let mut g = Grouping::new();
    let mut fo = FanOut::new(10, 2);
    let mut versions = Vec::new();
    for slot in 0..4 {
        for e in events(&mut world, &Ev::Pod(slot, 0, 0, false, 0, false, false)) {
            g.apply(e);
        }
        let d = fo.apply(&g);
        versions.push(fo.changed("n0").expect("tracked"));
        // The first batch tracks n0 with its span and sends no delta (no agent holds it): a
        // resume from before it is a snapshot. The next batches send n0 a delta each.
        assert_eq!(
            d.get("n0").map(|d| d.version),
            (slot > 0).then_some(11 + slot as u64)
        );
        if slot == 0 {
            assert!(matches!(fo.resume("n0", 10), Some(Resume::Snapshot(_))));
        }
    }
    assert_eq!(versions, [11, 12, 13, 14]);
    // Two deltas kept: from 12 on, deltas; before, a snapshot.
    match fo.resume("n0", 12).unwrap() {
        Resume::Deltas(ds) => {
            assert_eq!(ds.iter().map(|d| d.version).collect::<Vec<_>>(), [13, 14])
        }
        r => panic!("{r:?}"),
    }
    match fo.resume("n0", 11).unwrap() {
        Resume::Snapshot(s) => {
            assert_eq!(s.version, 14);
            assert_eq!(s.pods.len(), 4);
        }
        r => panic!("{r:?}"),
    }
    // A version of another controller run (ahead of this one): a snapshot.
    assert!(matches!(fo.resume("n0", 99), Some(Resume::Snapshot(_))));
    assert_eq!(fo.resume("n0", 14), Some(Resume::Deltas(vec![])));
    // A batch touching only n1's pods sends n0 nothing; n1, new, is tracked with its span
    // and gets no delta (no agent holds it).
    let mut touched = Touched::default();
    for e in events(&mut world, &Ev::Pod(7, 1, 0, false, 1, false, false)) {
        touched.apply(&mut g, e);
    }
    let d = fo.apply_checked(&g, &touched).unwrap();
    assert!(d.is_empty(), "{:?}", d.keys());
    assert_eq!(fo.nodes().collect::<Vec<_>>(), ["n0", "n1"]);
    assert_eq!(fo.changed("n1"), Some(15));
}

#[test]
fn the_first_event_after_a_build_touches_only_what_it_changes() {
    use kakine::grouping::Event;
    use kakine::lab::shapes::{generate, ShapeName, ShapeOptions};
    use kakine::policy::resolved::PodKey;
    let options = ShapeOptions {
        nodes: 10,
        seed: 1,
        units: 20,
    };
    let shape = generate(ShapeName::XlargeSmallNs, &options);
    let mut g = Grouping::build(&shape.cluster, &shape.policies);
    let mut fo = FanOut::new(1, 4);
    assert!(
        fo.apply(&g).is_empty(),
        "new nodes are tracked with their span, no delta"
    );
    assert_eq!(fo.nodes().count(), 10, "every node tracked");
    // A label no selector reads: the pod stays in its groups.
    let mut pod = shape.cluster.pods[0].clone();
    pod.labels.insert("unread".into(), "1".into());
    let key = PodKey {
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
    };
    let mut touched = Touched::default();
    touched.apply(&mut g, Event::PodUpsert(pod));
    // The build's own member additions are no delta of the first event (they made it
    // recompute every node: the p99 of docs/benchmarks.md).
    assert_eq!(touched.groups, BTreeSet::new());
    assert_eq!(touched.pods, BTreeSet::from([key]));
    let d = fo.apply_checked(&g, &touched).unwrap();
    // Its node and its namespace mate's (the other member of its `app-1` address group).
    assert!(
        d.keys().all(|n| n == "node-0" || n == "node-1"),
        "{:?}",
        d.keys()
    );
}
