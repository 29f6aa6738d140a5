//! The captured multipart statistics replies (DESC, AGGREGATE, QUEUE, FLOW, TABLE, PORT_STATS,
//! PORT_DESC, TABLE_FEATURES; `tests/golden/captured.golden`) and the PORT_STATUS carry the
//! values OVS printed for those very bytes.

use openflow::multipart::{MultipartReply as R, Port};
use openflow::Message;

mod captured;
use captured::*;

#[test]
fn desc_aggregate_and_queue_replies_carry_what_ovs_printed() {
    let (g, m) = decode("desc_reply");
    let Message::MultipartReply {
        body: R::Desc(d), ..
    } = m
    else {
        panic!("{m:?}")
    };
    let line = |k: &str| {
        g.printed
            .iter()
            .find_map(|l| l.strip_prefix(k))
            .unwrap()
            .to_string()
    };
    assert_eq!(d.mfr_desc, line("Manufacturer: "));
    assert_eq!(d.hw_desc, line("Hardware: "));
    assert_eq!(d.sw_desc, line("Software: "));
    assert_eq!(d.serial_num, line("Serial Num: "));
    assert_eq!(d.dp_desc, line("DP Description: "));

    let (g, m) = decode("aggregate_reply");
    let Message::MultipartReply {
        body: R::Aggregate(a),
        ..
    } = m
    else {
        panic!("{m:?}")
    };
    let p = &g.printed[0];
    assert_eq!(a.packet_count, int(value(p, "packet_count=")));
    assert_eq!(a.byte_count, int(value(p, "byte_count=")));
    assert_eq!(a.flow_count as u64, int(value(p, "flow_count=")));
    assert!(
        a.packet_count > 0,
        "the captured packet went through no flow"
    );

    let (g, m) = decode("queue_stats_reply");
    let Message::MultipartReply {
        body: R::Queue(q), ..
    } = m
    else {
        panic!("{m:?}")
    };
    assert!(g.printed[0].ends_with(&format!(": {} queues", q.len())));
}

/// A `dump-flows` line without the stats fields, and without `cookie=0x0, ` / `table=0, ` as
/// OVS itself omits them with `--no-stats` (as in `ovs_dump_corpus.rs`).
fn strip_stats(line: &str) -> String {
    let stats = ["duration=", "n_packets=", "n_bytes="];
    let kept: Vec<&str> = line
        .trim()
        .split(", ")
        .filter(|f| {
            !stats.iter().any(|p| f.starts_with(p)) && *f != "cookie=0x0" && *f != "table=0"
        })
        .collect();
    kept.join(", ")
}

#[test]
fn flow_stats_entries_print_like_the_dump_flows_lines() {
    let (g, m) = decode("flow_stats_reply");
    let Message::MultipartReply {
        body: R::Flow(flows),
        ..
    } = m
    else {
        panic!("{m:?}")
    };
    let lines = &g.printed[1..];
    assert_eq!(flows.len(), lines.len());
    for (f, line) in flows.iter().zip(lines) {
        assert_eq!(format!("{:#x}", f.cookie), value(line, "cookie="), "{line}");
        assert_eq!(
            duration(f.duration_sec, f.duration_nsec),
            value(line, "duration=")
        );
        assert_eq!(f.table_id as u64, int(value(line, "table=")), "{line}");
        assert_eq!(f.packet_count, int(value(line, "n_packets=")), "{line}");
        assert_eq!(f.byte_count, int(value(line, "n_bytes=")), "{line}");
        assert_eq!(f.to_flow_mod().to_string(), strip_stats(line));
    }
    let hit: Vec<u8> = flows
        .iter()
        .filter(|f| f.packet_count > 0)
        .map(|f| f.table_id)
        .collect();
    assert_eq!(
        hit,
        [0, 0, 1, 2, 4],
        "the tables the captured packets went through"
    );
}

#[test]
fn table_stats_entries_match_ovs_including_ditto_ranges() {
    let (g, m) = decode("table_stats_reply");
    let Message::MultipartReply {
        body: R::Table(tables),
        ..
    } = m
    else {
        panic!("{m:?}")
    };
    let mut want = Vec::new(); // (table, active, lookup, matched)
    let mut lines = g.printed.iter().map(|l| l.trim());
    while let Some(l) = lines.next() {
        if let Some(range) = l
            .strip_prefix("tables ")
            .and_then(|r| r.strip_suffix(": ditto"))
        {
            let (a, b) = range.split_once("...").unwrap();
            let &(_, act, look, mat) = want.last().unwrap();
            want.extend((int(a)..=int(b)).map(|t| (t, act, look, mat)));
        } else if let Some(t) = l.strip_prefix("table ").and_then(|t| t.strip_suffix(':')) {
            let v = lines.next().unwrap();
            let n = |k| int(value(v, k));
            want.push((int(t), n("active="), n("lookup="), n("matched=")));
        }
    }
    let ours: Vec<_> = tables
        .iter()
        .map(|t| {
            let (a, l, m) = (t.active_count as u64, t.lookup_count, t.matched_count);
            (t.table_id as u64, a, l, m)
        })
        .collect();
    assert_eq!(ours, want);
    assert_eq!(ours.len(), 254);
}

#[test]
fn port_stats_counters_match_ovs_per_port() {
    let (g, m) = decode("port_stats_reply");
    let Message::MultipartReply {
        body: R::PortStats(ports),
        ..
    } = m
    else {
        panic!("{m:?}")
    };
    assert!(g.printed[0].ends_with(&format!("{} ports", ports.len())));
    let text = g.printed.join("\n");
    for p in &ports {
        let label = match p.port_no {
            0xffff_fffe => "LOCAL".to_string(),
            n => format!("{n:>2}"),
        };
        let at = text.find(&format!("port {label}: ")).expect(&label);
        let block: Vec<&str> = text[at..].lines().take(3).collect();
        let (rx, tx) = (block[0], block[1]);
        let c = |line: &str, k: &str| int(value(line, k));
        let want = [
            c(rx, "pkts="),
            c(tx, "pkts="),
            c(rx, "bytes="),
            c(tx, "bytes="),
            c(rx, "drop="),
            c(tx, "drop="),
            c(rx, "errs="),
            c(tx, "errs="),
            c(rx, "frame="),
            c(rx, "over="),
            c(rx, "crc="),
            c(tx, "coll="),
        ];
        assert_eq!(p.counters, want, "port {label}");
        assert_eq!(
            duration(p.duration_sec, p.duration_nsec),
            value(block[2], "duration=")
        );
    }
    let moved: Vec<u32> = ports
        .iter()
        .filter(|p| p.counters[0] + p.counters[1] > 0)
        .map(|p| p.port_no)
        .collect();
    assert_eq!(moved, [1, 2], "the patch ports the resumed packet crossed");
}

/// Check `ports` against OVS's `<no>(<name>): addr:<mac>` blocks with their `config:`,
/// `state:`, `current:` and `speed:` lines.
fn assert_ports_match(ports: &[Port], printed: &[String]) {
    let config = ["PORT_DOWN", "", "NO_RECV", "", "", "NO_FWD", "NO_PACKET_IN"];
    let state = ["LINK_DOWN", "BLOCKED", "LIVE"];
    let features = [
        "10MB-HD",
        "10MB-FD",
        "100MB-HD",
        "100MB-FD",
        "1GB-HD",
        "1GB-FD",
        "10GB-FD",
        "40GB-FD",
        "100GB-FD",
        "1TB-FD",
        "OTHER",
        "COPPER",
        "FIBER",
        "AUTO_NEG",
        "AUTO_PAUSE",
        "AUTO_PAUSE_ASYM",
    ];
    let mut seen = 0;
    for (i, l) in printed.iter().enumerate() {
        let Some(head) = l.split_once("): addr:") else {
            continue;
        };
        let (no, name) = head.0.rsplit(' ').next().unwrap().split_once('(').unwrap();
        let no = if no == "LOCAL" {
            0xffff_fffe
        } else {
            int(no) as u32
        };
        let p = ports
            .iter()
            .find(|p| p.port_no == no)
            .unwrap_or_else(|| panic!("OVS printed port {no}, we have none"));
        assert_eq!(
            (p.name.as_str(), p.hw_addr.to_string()),
            (name, head.1.to_string())
        );
        let field = |k: &str| {
            printed[i + 1..]
                .iter()
                .take_while(|l| !l.contains("): addr:"))
                .find_map(|l| l.trim().strip_prefix(k))
                .map(str::trim)
        };
        assert_eq!(p.config, bits(field("config:").unwrap(), &config), "{name}");
        assert_eq!(p.state, bits(field("state:").unwrap(), &state), "{name}");
        assert_eq!(
            p.features[0],
            field("current:").map_or(0, |f| bits(f, &features))
        );
        let speed = field("speed:").unwrap();
        let mbps: Vec<u64> = speed.split(' ').filter_map(|w| w.parse().ok()).collect();
        assert_eq!(
            mbps,
            [p.curr_speed as u64 / 1000, p.max_speed as u64 / 1000]
        );
        seen += 1;
    }
    assert_eq!(seen, ports.len(), "OVS printed a different number of ports");
}

#[test]
fn port_desc_and_port_status_match_ovs() {
    let (g, m) = decode("port_desc_reply");
    let Message::MultipartReply {
        body: R::PortDesc(ports),
        ..
    } = m
    else {
        panic!("{m:?}")
    };
    assert_ports_match(&ports, &g.printed);
    let mut names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["kcapbr", "pa", "pb", "pc"]);

    let (g, m) = decode("port_status_add");
    let Message::PortStatus(s) = m else {
        panic!("{m:?}")
    };
    assert_eq!(
        format!("{}:", s.reason.name().unwrap()),
        word_after(&g.printed[0], "(xid=")
    );
    assert_ports_match(std::slice::from_ref(&s.port), &g.printed);
}

#[test]
fn the_last_table_features_part_matches_ovs() {
    let (g, m) = decode("table_features_reply_last");
    let Message::MultipartReply {
        flags,
        body: R::TableFeatures(v),
    } = m
    else {
        panic!("{m:?}")
    };
    assert_eq!(flags, 0, "the last part has no OFPMPF_REPLY_MORE");
    let ids: Vec<u8> = v.iter().map(|t| t.table_id).collect();
    assert_eq!(ids, (244..=253).collect::<Vec<u8>>());
    let text = g.printed.join("\n");
    let unnamed: Vec<u8> = v
        .iter()
        .filter(|t| t.name.is_empty())
        .map(|t| t.table_id)
        .collect();
    let ditto = format!(
        "tables {}...{}: ditto",
        unnamed[0],
        unnamed[unnamed.len() - 1]
    );
    assert!(text.contains(&ditto), "{ditto}");
    for t in v.iter().filter(|t| !t.name.is_empty()) {
        let head = format!("table {} (\"{}\"):", t.table_id, t.name);
        assert!(text.contains(&head), "{head}");
    }
    for t in &v {
        assert_eq!(t.max_entries as u64, int(value(&text, "max_entries=")));
        assert_eq!(t.metadata_match, int(value(&text, "match=")));
        assert_eq!(t.metadata_write, int(value(&text, "write=")));
    }
    assert_eq!(
        (v[0].name.as_str(), v[9].name.as_str()),
        ("audit", "egress")
    );
    // OFPTFPT_NEXT_TABLES (2): "next tables: 245-253" for table 244, none for the last table.
    let next = |t: &openflow::stats::TableFeatures| -> Vec<u8> {
        t.properties
            .iter()
            .filter(|p| p.kind == 2)
            .flat_map(|p| p.data.clone())
            .collect()
    };
    let (a, b) = value(&text, "next tables: ").split_once('-').unwrap();
    assert_eq!(
        next(&v[0]),
        (int(a) as u8..=int(b) as u8).collect::<Vec<u8>>()
    );
    assert_eq!(next(&v[9]), Vec::<u8>::new());
    // OFPTFPT_INSTRUCTIONS (0): instruction ids, goto_table only where there is a next table.
    let inst = [
        "",
        "goto_table",
        "write_metadata",
        "write_actions",
        "apply_actions",
    ];
    let inst = [&inst[..], &["clear_actions", "meter"]].concat();
    let ids = |t: &openflow::stats::TableFeatures| -> u32 {
        let p = t.properties.iter().find(|p| p.kind == 0).unwrap();
        p.data
            .chunks(4)
            .map(|c| 1 << u16::from_be_bytes([c[0], c[1]]))
            .sum()
    };
    let printed: Vec<u32> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("instructions: "))
        .map(|l| bits(l, &inst))
        .collect();
    assert_eq!(printed, [ids(&v[0]), ids(&v[9])]);
}
