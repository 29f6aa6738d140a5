//! The captured GROUP_MOD / METER_MOD requests and GROUP, GROUP_DESC, GROUP_FEATURES, METER,
//! METER_CONFIG and METER_FEATURES replies (`tests/golden/captured.golden`) print as OVS printed
//! those very bytes.

use openflow::group::{GroupDesc, GroupType, OFPG_ANY};
use openflow::meter::{MeterBand, MeterConfig, MeterStats};
use openflow::multipart::MultipartReply as R;
use openflow::Message;

mod captured;
use captured::*;

/// A group as OVS prints it in OF1.3: `group_id=N,type=T,bucket=[weight:W,][watch_port:P,]
/// [watch_group:G,]actions=...` (the weight only for select groups).
fn group_text(kind: GroupType, group_id: u32, d: &[openflow::group::Bucket]) -> String {
    let mut s = format!("group_id={group_id},type={}", kind.name().unwrap());
    for b in d {
        s += ",bucket=";
        if kind == GroupType::Select {
            s += &format!("weight:{},", b.weight);
        }
        if b.watch_port != OFPP_ANY {
            s += &format!("watch_port:{},", b.watch_port);
        }
        if b.watch_group != OFPG_ANY {
            s += &format!("watch_group:{},", b.watch_group);
        }
        s += &format!("actions={}", actions_text(&b.actions));
    }
    s
}

#[test]
fn groups_match_ovs_dump_groups_and_stats() {
    for name in ["group_mod_add_select", "group_mod_add_ff"] {
        let (g, m) = decode(name);
        let Message::GroupMod(gm) = m else {
            panic!("{m:?}")
        };
        let text = format!(
            "{} {}",
            gm.command.name().unwrap(),
            group_text(gm.kind, gm.group_id, &gm.buckets)
        );
        assert_eq!(text, g.printed[1].trim(), "{name}");
    }

    let (g, m) = decode("group_desc_reply");
    let Message::MultipartReply {
        body: R::GroupDesc(v),
        ..
    } = m
    else {
        panic!("{m:?}")
    };
    let ours: Vec<String> = v
        .iter()
        .map(|d: &GroupDesc| group_text(d.kind, d.group_id, &d.buckets))
        .collect();
    let theirs: Vec<&str> = g.printed[1..].iter().map(|l| l.trim()).collect();
    assert_eq!(ours, theirs);

    let (g, m) = decode("group_stats_reply");
    let Message::MultipartReply {
        body: R::Group(v), ..
    } = m
    else {
        panic!("{m:?}")
    };
    let ours: Vec<String> = v
        .iter()
        .map(|s| {
            let mut t = format!(
                "group_id={},duration={},ref_count={},packet_count={},byte_count={}",
                s.group_id,
                duration(s.duration_sec, s.duration_nsec),
                s.ref_count,
                s.packet_count,
                s.byte_count
            );
            for (i, (p, b)) in s.buckets.iter().enumerate() {
                t += &format!(",bucket{i}:packet_count={p},byte_count={b}");
            }
            t
        })
        .collect();
    let theirs: Vec<&str> = g.printed[1..].iter().map(|l| l.trim()).collect();
    assert_eq!(ours, theirs);
    assert!(
        v.iter().any(|s| s.packet_count == 1),
        "group 1 saw the packet"
    );

    let (g, m) = decode("group_features_reply");
    let Message::MultipartReply {
        body: R::GroupFeatures(f),
        ..
    } = m
    else {
        panic!("{m:?}")
    };
    let text = g.printed.join("\n");
    assert_eq!(f.types as u64, int(value(&text, "Types:  ")));
    assert_eq!(f.capabilities as u64, int(value(&text, "Capabilities:  ")));
    // OFPAT_* numbers by OVS's name for them.
    let ofpat = [
        (0, "output"),
        (11, "copy_ttl_out"),
        (12, "copy_ttl_in"),
        (15, "set_mpls_ttl"),
        (16, "dec_mpls_ttl"),
        (17, "push_vlan"),
        (18, "strip_vlan"),
        (19, "push_mpls"),
        (20, "pop_mpls"),
        (21, "set_queue"),
        (22, "group"),
        (23, "mod_nw_ttl"),
        (24, "dec_ttl"),
        (25, "set_field"),
        (26, "push_pbb"),
        (27, "pop_pbb"),
    ];
    for (i, kind) in ["all", "select", "indirect", "fast failover"]
        .iter()
        .enumerate()
    {
        let at = text.find(&format!("{kind} group:")).unwrap();
        let block = &text[at..];
        assert_eq!(f.max_groups[i] as u64, int(value(block, "max_groups=")));
        let names = block
            .lines()
            .nth(2)
            .unwrap()
            .trim()
            .strip_prefix("actions: ")
            .unwrap();
        let want: u32 = names
            .split(' ')
            .map(|n| 1 << ofpat.iter().find(|(_, m)| *m == n).expect(n).0)
            .sum();
        assert_eq!(f.actions[i], want, "{kind}");
    }
}

/// A meter as OVS prints it: `meter=N kbps burst stats bands=` then one line per band.
fn meter_text(meter_id: u32, flags: u16, bands: &[MeterBand]) -> Vec<String> {
    let words = ["kbps", "pktps", "burst", "stats"];
    let set: Vec<&str> = (0..4)
        .filter(|b| flags & 1 << b != 0)
        .map(|b| words[b])
        .collect();
    let mut v = vec![format!("meter={meter_id} {} bands=", set.join(" "))];
    for b in bands {
        let MeterBand::Drop { rate, burst_size } = b else {
            panic!("{b:?}")
        };
        v.push(format!("type=drop rate={rate} burst_size={burst_size}"));
    }
    v
}

#[test]
fn meters_match_ovs_dump_meters_and_stats() {
    let (g, m) = decode("meter_mod_add");
    let Message::MeterMod(mm) = m else {
        panic!("{m:?}")
    };
    let mut want = meter_text(mm.meter_id, mm.flags, &mm.bands);
    want[0] = format!("{} {}", mm.command.name().unwrap(), want[0]);
    let mut theirs = vec![g.printed[0].split_once("): ").unwrap().1.to_string()];
    theirs.extend_from_slice(&g.printed[1..]);
    assert_eq!(theirs, want);

    let (g, m) = decode("meter_config_reply");
    let Message::MultipartReply {
        body: R::MeterConfig(v),
        ..
    } = m
    else {
        panic!("{m:?}")
    };
    let ours: Vec<String> = v
        .iter()
        .flat_map(|c: &MeterConfig| meter_text(c.meter_id, c.flags, &c.bands))
        .collect();
    assert_eq!(ours, g.printed[1..]);

    let (g, m) = decode("meter_stats_reply");
    let Message::MultipartReply {
        body: R::Meter(v), ..
    } = m
    else {
        panic!("{m:?}")
    };
    let ours: Vec<String> = v
        .iter()
        .flat_map(|s: &MeterStats| {
            let head = format!(
                "meter:{} flow_count:{} packet_in_count:{} byte_in_count:{} duration:{} bands:",
                s.meter_id,
                s.flow_count,
                s.packet_in_count,
                s.byte_in_count,
                duration(s.duration_sec, s.duration_nsec)
            );
            let bands = s.bands.iter().enumerate();
            std::iter::once(head)
                .chain(bands.map(|(i, (p, b))| format!("{i}: packet_count:{p} byte_count:{b}")))
        })
        .collect();
    assert_eq!(ours, g.printed[1..]);
    assert_eq!(v[0].packet_in_count, 1, "the meter saw the packet");

    let (g, m) = decode("meter_features_reply");
    let Message::MultipartReply {
        body: R::MeterFeatures(f),
        ..
    } = m
    else {
        panic!("{m:?}")
    };
    let p = &g.printed;
    assert_eq!(f.max_meter as u64, int(value(&p[1], "max_meter:")));
    assert_eq!(f.max_bands as u64, int(value(&p[1], "max_bands:")));
    assert_eq!(f.max_color as u64, int(value(&p[1], "max_color:")));
    let bands = p[2].strip_prefix("band_types: ").unwrap();
    assert_eq!(f.band_types, bits(bands, &["", "drop", "dscp_remark"]));
    let caps = p[3].strip_prefix("capabilities: ").unwrap();
    assert_eq!(
        f.capabilities,
        bits(caps, &["kbps", "pktps", "burst", "stats"])
    );
}
