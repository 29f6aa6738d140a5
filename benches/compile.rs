//! Compile benchmark on Antrea-style shapes (`cargo bench --bench compile`, or `make bench`).
//!
//! 10k pods in 100 namespaces, 1k ClusterNetworkPolicies (namespace-selector and pod-selector
//! peers, single ports and ranges, some ipBlocks with `except`), every pod local (the
//! single-node worst case `kakinectl compile` uses). Prints resolve and compile time, peak RSS
//! (`VmHWM`), flows against the N+M+P+1 floor, and the priority moves of 100 single-policy
//! inserts in the middle with the gap allocator and with a countdown renumbering, in the same
//! run. Timings are printed, never asserted. Optional argument: the number of policies.

use std::collections::BTreeMap;
use std::time::Instant;

use kakine::datapath::alloc::PriorityAllocator;
use kakine::datapath::compiler::{compile, offline_pods, rule_keys};
use kakine::datapath::pipeline::prio;
use kakine::policy::model::{AntreaPeer, AntreaPolicy, AntreaRule};
use kakine::policy::resolved::{Direction, Protocol, RuleAction, Stage};
use kakine::policy::selector::LabelSelector;
use kakine::policy::{resolve, Cluster, PolicySet};

const NAMESPACES: usize = 100;
const PODS_PER_NAMESPACE: usize = 100;
const TEAMS: usize = 50;
const APPS: usize = 10;

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn cluster() -> Cluster {
    let mut c = Cluster::default();
    for n in 0..NAMESPACES {
        let team = format!("t{}", n % TEAMS);
        c = c.namespace(&format!("ns-{n}"), &[("team", &team)]);
        for p in 0..PODS_PER_NAMESPACE {
            let app = format!("app{}", p % APPS);
            c = c
                .pod(
                    &format!("ns-{n}/pod-{p}"),
                    &[("app", &app)],
                    &format!("10.{}.{}.{}", n, p / 200, p % 200 + 1),
                )
                .serving(80, Protocol::Tcp, None);
        }
    }
    c
}

fn policy(i: usize) -> AntreaPolicy {
    let sel = |k: &str, v: String| LabelSelector::labels([(k, v.as_str())]);
    let mut rule = AntreaRule::new(if i.is_multiple_of(5) {
        RuleAction::Drop
    } else {
        RuleAction::Allow
    })
    .named("r0");
    rule = if i.is_multiple_of(2) {
        rule.from(AntreaPeer::namespaces(sel(
            "team",
            format!("t{}", (i * 7) % TEAMS),
        )))
    } else {
        rule.from(AntreaPeer::pods(sel(
            "app",
            format!("app{}", (i * 3) % APPS),
        )))
    };
    if i % 10 == 3 {
        rule = rule.from(AntreaPeer::ip_block("192.168.0.0/16", &["192.168.7.0/24"]));
    }
    rule = if i % 4 == 1 {
        rule.port_range(Protocol::Tcp, 8000, 8100)
    } else {
        rule.port(Protocol::Tcp, 80)
    };
    AntreaPolicy::test(&format!("p-{i}"))
        .tier(if i.is_multiple_of(10) {
            "securityops"
        } else {
            "application"
        })
        .priority(1.0 + (i % 100) as f64)
        .applied_to(
            sel("app", format!("app{}", i % APPS)),
            Some(sel("team", format!("t{}", i % TEAMS))),
        )
        .ingress(rule)
}

/// `(gap allocator moves, countdown moves)` over `inserts` single inserts in the middle of
/// `order`, each on top of the previous one; positions from a fixed LCG.
fn insert_moves(order: &[String], inserts: usize) -> (usize, usize) {
    let alloc = PriorityAllocator::new(prio::TIER_BOTTOM, prio::TIER_TOP);
    let mut order: Vec<String> = order.to_vec();
    let mut prev: BTreeMap<String, u16> = alloc.assign(&BTreeMap::new(), &order).unwrap().to_map();
    let (mut gap, mut countdown) = (0, 0);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for k in 0..inserts {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // Somewhere in the middle half.
        let pos = order.len() / 4 + (seed >> 33) as usize % (order.len() / 2).max(1);
        order.insert(pos, format!("inserted-{k}"));
        let a = alloc.assign(&prev, &order).unwrap();
        gap += a.moves.len();
        // Countdown renumbering (top, top-1, ...): every rule below the insert moves.
        countdown += order.len() - pos - 1;
        prev = a.to_map();
    }
    (gap, countdown)
}

fn main() {
    let policies: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let t = Instant::now();
    let cluster = cluster();
    let mut set = PolicySet::default();
    for i in 0..policies {
        set = set.with(policy(i));
    }
    let build = t.elapsed();

    let t = Instant::now();
    let resolved = resolve(&cluster, &set).expect("valid policies");
    let resolve_time = t.elapsed();
    let rss_resolve = vm_hwm_kib();

    let pods = offline_pods(&resolved);
    let t = Instant::now();
    let compiled = compile(&resolved, &pods, 1).expect("compiles");
    let compile_time = t.elapsed();
    let rss_compile = vm_hwm_kib();
    let stats = kakine::datapath::stats::stats(&resolved, &compiled);

    let keys = rule_keys(&resolved.rules);
    let tier_ingress: Vec<String> = resolved
        .rules
        .iter()
        .zip(&keys)
        .filter(|(r, _)| matches!(r.stage, Stage::Tier(_)) && r.direction == Direction::Ingress)
        .map(|(_, k)| k.0.clone())
        .collect();
    const INSERTS: usize = 100;
    let t = Instant::now();
    let (gap, countdown) = insert_moves(&tier_ingress, INSERTS);
    let insert_time = t.elapsed();

    println!(
        "shape: {} pods in {NAMESPACES} namespaces, {policies} policies, {} rules, all pods local",
        cluster.pods.len(),
        resolved.rules.len()
    );
    println!("build input:   {:>9.1} ms", build.as_secs_f64() * 1e3);
    println!(
        "resolve:       {:>9.1} ms   peak RSS {:>7} MiB",
        resolve_time.as_secs_f64() * 1e3,
        rss_resolve / 1024
    );
    println!(
        "compile:       {:>9.1} ms   peak RSS {:>7} MiB",
        compile_time.as_secs_f64() * 1e3,
        rss_compile / 1024
    );
    println!(
        "flows:         {} on the node, {} policy flows installed; per-rule produced {} = floor {}; cross product would be {}",
        stats.total_flows, stats.installed_policy_flows, stats.produced, stats.floor, stats.cross_product
    );
    println!(
        "priority moves per single insert in the middle of IngressTier ({} rules, {INSERTS} inserts, {:.1} ms total): gap allocator {:.2}, countdown {:.1}",
        tier_ingress.len(),
        insert_time.as_secs_f64() * 1e3,
        gap as f64 / INSERTS as f64,
        countdown as f64 / INSERTS as f64
    );
}
