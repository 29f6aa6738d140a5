//! Checks the Kubernetes API server would make and serde cannot: value relations inside one
//! document (selector operators and their values, `endPort` against `port`, `except` inside its
//! `cidr`) and the consistency of the cluster model (unique pod names, IPs and MACs, declared
//! namespaces, unique container port names).
//!
//! Each check returns the field path and the message, for the caller's [`super::Location`].

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use serde_json::Value;

use super::model::Cluster;

/// A problem: field path and message.
pub type Problem = (String, String);

/// Checks every selector, port and ipBlock in a policy document's `spec`, wherever they are:
/// every problem, in document order.
pub fn check_spec(spec: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    walk(spec, "spec", &mut out);
    out
}

fn walk(v: &Value, path: &str, out: &mut Vec<Problem>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(exprs)) = map.get("matchExpressions") {
                for (i, e) in exprs.iter().enumerate() {
                    out.extend(check_expression(e, &format!("{path}.matchExpressions[{i}]")).err());
                }
            }
            if map.contains_key("endPort") {
                out.extend(check_port_range(map, path).err());
            }
            if let (Some(Value::String(cidr)), Some(Value::Array(except))) =
                (map.get("cidr"), map.get("except"))
            {
                check_except(cidr, except, path, out);
            }
            for (k, child) in map {
                let child_path = format!("{path}.{k}");
                if let Value::Array(items) = child {
                    for (i, item) in items.iter().enumerate() {
                        match k.as_str() {
                            "from" | "to" => {
                                out.extend(check_peer(item, &format!("{child_path}[{i}]")).err())
                            }
                            "ports" => check_port_numbers(item, &format!("{child_path}[{i}]"), out),
                            _ => {}
                        }
                    }
                }
                walk(child, &child_path, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                walk(child, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// An `ipBlock` peer stands alone (Kubernetes: exactly one peer type per entry).
fn check_peer(peer: &Value, path: &str) -> Result<(), Problem> {
    let Some(map) = peer.as_object() else {
        return Ok(());
    };
    if map.contains_key("ipBlock") {
        if let Some(other) = map.keys().find(|k| *k != "ipBlock") {
            return Err((
                path.to_string(),
                format!("a peer with ipBlock cannot also have {other} (one peer type per entry)"),
            ));
        }
    }
    Ok(())
}

/// The numeric port fields of a `ports` entry: `port`, `endPort`, `sourcePort`,
/// `sourceEndPort` (NetworkPolicy, Antrea) and `portNumber.port`, `portRange.start`,
/// `portRange.end` (AdminNetworkPolicy).
const PORT_FIELDS: &[&[&str]] = &[
    &["port"],
    &["endPort"],
    &["sourcePort"],
    &["sourceEndPort"],
    &["portNumber", "port"],
    &["portRange", "start"],
    &["portRange", "end"],
];

/// Every integer port field of a `ports` entry ([`PORT_FIELDS`]) is 1..=65535, one problem
/// each, naming the field (`spec.ingress[0].ports[0].endPort`). Non-integers (a name, a
/// fraction) are left to the typed parse.
fn check_port_numbers(entry: &Value, path: &str, out: &mut Vec<Problem>) {
    for fields in PORT_FIELDS {
        let Some(v) = fields.iter().try_fold(entry, |v, f| v.get(f)) else {
            continue;
        };
        let n = match (v.as_i64(), v.as_u64()) {
            (Some(n), _) => i128::from(n),
            (None, Some(n)) => i128::from(n),
            (None, None) => continue,
        };
        if !(1..=65535).contains(&n) {
            let name = fields.last().copied().unwrap_or("port");
            out.push((
                format!("{path}.{}", fields.join(".")),
                format!("{name} {n} is out of range 1-65535"),
            ));
        }
    }
}

fn check_expression(e: &Value, path: &str) -> Result<(), Problem> {
    let op = e.get("operator").and_then(Value::as_str).unwrap_or("");
    let n = e
        .get("values")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    match op {
        "In" | "NotIn" if n == 0 => Err((
            format!("{path}.values"),
            format!("operator {op} needs at least one value"),
        )),
        "Exists" | "DoesNotExist" if n > 0 => Err((
            format!("{path}.values"),
            format!("operator {op} takes no values (got {n})"),
        )),
        _ => Ok(()),
    }
}

fn check_port_range(map: &serde_json::Map<String, Value>, path: &str) -> Result<(), Problem> {
    let end = map.get("endPort").and_then(Value::as_u64);
    match (map.get("port"), end) {
        (Some(Value::String(name)), _) => Err((
            format!("{path}.endPort"),
            format!("endPort needs a numeric port, not the named port {name:?}"),
        )),
        (Some(port), Some(end)) => match port.as_u64() {
            // A port out of range is its own problem, not also an order one.
            Some(p) if end < p && p <= 65535 => Err((
                format!("{path}.endPort"),
                format!("endPort {end} is below port {p}"),
            )),
            _ => Ok(()),
        },
        (None, Some(_)) => Err((
            format!("{path}.endPort"),
            "endPort needs a port".to_string(),
        )),
        _ => Ok(()),
    }
}

fn check_except(cidr: &str, except: &[Value], path: &str, out: &mut Vec<Problem>) {
    // An unparsable CIDR is reported by the typed parse with its own message.
    let Ok(block) = cidr.parse::<IpNet>() else {
        return;
    };
    for (i, e) in except.iter().enumerate() {
        let Some(Ok(net)) = e.as_str().map(str::parse::<IpNet>) else {
            continue;
        };
        if !block.contains(&net) {
            out.push((
                format!("{path}.except[{i}]"),
                format!("{net} is not inside the block {block}"),
            ));
        }
    }
}

/// Checks the cluster model: every pod in a declared namespace, unique `namespace/name`, IPs
/// (IPv4 and IPv6) and MAC, and unique container port names per pod, in pod order; then the
/// topology ([`super::topology::problems`]: pods on known nodes, no pod CIDR of two nodes).
/// Every problem.
pub fn check_cluster(cluster: &Cluster) -> Vec<Problem> {
    let mut out = Vec::new();
    let namespaces: BTreeSet<&str> = cluster.namespaces.iter().map(|n| n.name.as_str()).collect();
    let mut names = BTreeSet::new();
    let mut ips: BTreeMap<String, String> = BTreeMap::new();
    let mut macs: BTreeMap<String, String> = BTreeMap::new();
    for (i, pod) in cluster.pods.iter().enumerate() {
        let at = |f: &str| format!("pods[{i}].{f}");
        let key = format!("{}/{}", pod.namespace, pod.name);
        if !namespaces.contains(pod.namespace.as_str()) {
            out.push((
                at("namespace"),
                format!("pod {key}: namespace {:?} is not declared", pod.namespace),
            ));
        }
        if !names.insert(key.clone()) {
            out.push((at("name"), format!("pod {key} is declared twice")));
        }
        match ips.get(&pod.ip.to_string()) {
            Some(other) => out.push((
                at("ip"),
                format!("pod {key}: IP {} is already pod {other}'s", pod.ip),
            )),
            None => {
                ips.insert(pod.ip.to_string(), key.clone());
            }
        }
        if let Some(v6) = pod.ipv6 {
            match ips.get(&v6.to_string()) {
                Some(other) => out.push((
                    at("ipv6"),
                    format!("pod {key}: IP {v6} is already pod {other}'s"),
                )),
                None => {
                    ips.insert(v6.to_string(), key.clone());
                }
            }
        }
        if let Some(mac) = &pod.mac {
            let mac = crate::policy::mac::mac_string(*mac);
            match macs.get(&mac) {
                Some(other) => out.push((
                    at("mac"),
                    format!("pod {key}: MAC {mac} is already pod {other}'s"),
                )),
                None => {
                    macs.insert(mac, key.clone());
                }
            }
        }
        let mut port_names = BTreeSet::new();
        for (j, p) in pod.ports.iter().enumerate() {
            if let Some(name) = &p.name {
                if !port_names.insert(name.clone()) {
                    out.push((
                        at(&format!("ports[{j}].name")),
                        format!("pod {key}: container port name {name:?} is used twice"),
                    ));
                }
            }
        }
    }
    out.extend(super::topology::problems(cluster));
    out
}

/// [`check_cluster`] as one text: `Ok` when the model has no problem, else every problem, one
/// `<prefix><field>: <message>` a line (`prefix` places the model in its document, e.g.
/// `cluster.` in a scenario).
pub fn cluster_ok(cluster: &Cluster, prefix: &str) -> Result<(), String> {
    let lines: Vec<String> = check_cluster(cluster)
        .into_iter()
        .map(|(field, message)| format!("{prefix}{field}: {message}"))
        .collect();
    match lines.is_empty() {
        true => Ok(()),
        false => Err(lines.join("\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> Value {
        serde_json::from_str(yaml).unwrap()
    }

    #[test]
    fn selector_operators_need_the_right_values() {
        let bad = spec(
            r#"{"appliedTo":[{"podSelector":{"matchExpressions":[{"key":"a","operator":"In","values":[]}]}}]}"#,
        );
        assert_eq!(
            check_spec(&bad),
            vec![(
                "spec.appliedTo[0].podSelector.matchExpressions[0].values".into(),
                "operator In needs at least one value".into()
            )]
        );
        let bad =
            spec(r#"{"x":{"matchExpressions":[{"key":"a","operator":"Exists","values":["v"]}]}}"#);
        assert!(check_spec(&bad)[0].1.contains("takes no values"));
        let good =
            spec(r#"{"x":{"matchExpressions":[{"key":"a","operator":"NotIn","values":["v"]}]}}"#);
        assert_eq!(check_spec(&good), Vec::<Problem>::new());
    }

    #[test]
    fn end_port_must_not_be_below_port_nor_follow_a_name() {
        let bad = spec(r#"{"ingress":[{"ports":[{"port":9000,"endPort":8000}]}]}"#);
        assert_eq!(
            check_spec(&bad),
            vec![(
                "spec.ingress[0].ports[0].endPort".into(),
                "endPort 8000 is below port 9000".into()
            )]
        );
        let bad = spec(r#"{"ingress":[{"ports":[{"port":"http","endPort":8000}]}]}"#);
        assert!(check_spec(&bad)[0].1.contains("named port"));
        assert_eq!(
            check_spec(&spec(r#"{"ports":[{"port":80,"endPort":90}]}"#)),
            Vec::<Problem>::new()
        );
    }

    #[test]
    fn an_ip_block_peer_stands_alone_and_ports_are_in_range() {
        let bad =
            spec(r#"{"ingress":[{"from":[{"ipBlock":{"cidr":"10.0.0.0/8"},"podSelector":{}}]}]}"#);
        assert_eq!(
            check_spec(&bad),
            vec![(
                "spec.ingress[0].from[0]".into(),
                "a peer with ipBlock cannot also have podSelector (one peer type per entry)".into()
            )]
        );
        let bad = spec(r#"{"ingress":[{"ports":[{"port":0}]}]}"#);
        assert_eq!(
            check_spec(&bad),
            vec![(
                "spec.ingress[0].ports[0].port".into(),
                "port 0 is out of range 1-65535".into()
            )]
        );
        assert!(!check_spec(&spec(r#"{"ingress":[{"ports":[{"port":70000}]}]}"#)).is_empty());
        assert_eq!(
            check_spec(&spec(r#"{"ingress":[{"ports":[{"port":65535}]}]}"#)),
            Vec::<Problem>::new()
        );
    }

    #[test]
    fn except_must_lie_inside_its_block() {
        let bad = spec(r#"{"to":[{"ipBlock":{"cidr":"10.0.0.0/24","except":["10.0.1.0/28"]}}]}"#);
        assert_eq!(
            check_spec(&bad),
            vec![(
                "spec.to[0].ipBlock.except[0]".into(),
                "10.0.1.0/28 is not inside the block 10.0.0.0/24".into()
            )]
        );
        let good = spec(r#"{"to":[{"ipBlock":{"cidr":"10.0.0.0/24","except":["10.0.0.0/28"]}}]}"#);
        assert_eq!(check_spec(&good), Vec::<Problem>::new());
    }
}
