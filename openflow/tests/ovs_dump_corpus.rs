//! The flow corpus (`tests/golden/flows.txt`) through a real `ovs-vswitchd`: added with one
//! `ovs-ofctl -O OpenFlow13 add-flows` file, dumped with `ovs-ofctl dump-flows` and with our
//! `Connection::dump_flows`; our `Display` of every decoded flow must equal the line OVS prints
//! for it once OVS's stats (`duration=`, `n_packets=`, `n_bytes=`) are stripped.

use std::collections::BTreeSet;
use std::process::Command;

use openflow::Connection;

mod common;
use common::Sandbox;

/// Corpus flows OVS refuses on a netdev bridge (each answered with OFPBRC_EPERM): table 254 is
/// OVS's hidden internal table, and `recirc_id` / `dp_hash` are datapath-internal fields that
/// controllers may not match on.
const SKIP: &[&str] = &[
    "table=254,priority=65535 actions=drop",
    "table=7,priority=85,tun_id=0x5/0xff,pkt_mark=0x1/0x3,dp_hash=0x5,recirc_id=3 actions=drop",
    "table=7,priority=82,pkt_mark=0x10,dp_hash=0x5/0xf,ct_state=+trk,reg3=0x1 actions=drop",
];

// Also skipped: every flow with a `tun_metadata` field. A switch accepts those only once a TLV
// map (`ovs-ofctl add-tlv-map`) gives each option a fixed length, and the corpus uses several
// lengths per option on purpose (parse-flow needs no map); their bytes are checked by the golden
// test against `ovs-ofctl parse-flow`.

fn ofctl(sb: &Sandbox, args: &[&str]) -> String {
    let out = Command::new("ovs-ofctl")
        .args(["-O", "OpenFlow13"])
        .arg(args[0])
        .arg(format!("unix:{}", sb.mgmt().display()))
        .args(&args[1..])
        .output()
        .expect("ovs-ofctl");
    assert!(
        out.status.success(),
        "ovs-ofctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A `dump-flows` line without the stats fields, and without `cookie=0x0, ` / `table=0, ` as
/// OVS itself omits them with `--no-stats`.
fn strip_stats(line: &str) -> String {
    let kept: Vec<&str> = line
        .trim()
        .split(", ")
        .filter(|f| {
            ![
                "duration=",
                "n_packets=",
                "n_bytes=",
                "idle_age=",
                "hard_age=",
            ]
            .iter()
            .any(|p| f.starts_with(p))
                && *f != "cookie=0x0"
                && *f != "table=0"
        })
        .collect();
    kept.join(", ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_flow_dumps_from_ovs_as_our_display_prints_it() {
    let sb = Sandbox::start();
    // The groups and meters the corpus refers to.
    for g in [1, 2] {
        ofctl(
            &sb,
            &[
                "add-group",
                &format!("group_id={g},type=all,bucket=output:1"),
            ],
        );
    }
    for m in [1, 3] {
        ofctl(
            &sb,
            &[
                "add-meter",
                &format!("meter={m},pktps,band=type=drop,rate=10"),
            ],
        );
    }
    let flows: Vec<&str> = include_str!("golden/flows.txt")
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with('#') && !SKIP.contains(l) && !l.contains("tun_metadata")
        })
        .collect();
    let file = sb.dir.path().join("corpus.flows");
    std::fs::write(&file, flows.join("\n") + "\n").unwrap();
    ofctl(&sb, &["add-flows", file.to_str().unwrap()]);

    let ovs: BTreeSet<String> = ofctl(&sb, &["dump-flows"])
        .lines()
        .skip(1) // "OFPST_FLOW reply (OF1.3) (xid=..):"
        .map(strip_stats)
        .collect();
    let conn = Connection::connect_unix(sb.mgmt()).await.expect("connect");
    let ours: BTreeSet<String> = conn
        .dump_flows(None)
        .await
        .expect("dump_flows")
        .iter()
        .map(|f| f.to_flow_mod().to_string())
        .collect();
    eprintln!(
        "{} flows added, {} dumped by OVS, {} by us",
        flows.len(),
        ovs.len(),
        ours.len()
    );
    // Flows that replace one another (same match and priority) count once on both sides.
    assert!(
        ovs.len() + 10 >= flows.len(),
        "{} of {} flows dumped",
        ovs.len(),
        flows.len()
    );
    let only_ovs: Vec<_> = ovs.difference(&ours).collect();
    let only_ours: Vec<_> = ours.difference(&ovs).collect();
    assert!(
        only_ovs.is_empty() && only_ours.is_empty(),
        "OVS prints:\n  {}\nwe print:\n  {}",
        only_ovs
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  "),
        only_ours
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}
