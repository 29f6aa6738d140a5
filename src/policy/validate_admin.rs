//! Checks of AdminNetworkPolicy and BaselineAdminNetworkPolicy that their types cannot express
//! (the CEL and OpenAPI rules of `policy.networking.k8s.io/v1alpha1`).

use super::error::{Location, PolicyError};
use super::model::{AdminKind, AdminPeer, AdminRule, AdminSubject, PolicySet};
use super::resolved::RuleAction;
use super::validate::{check_one_of, invalid, object_at};

/// Accepted range of an AdminNetworkPolicy's `spec.priority`.
pub const ADMIN_PRIORITY_RANGE: std::ops::RangeInclusive<i64> = 0..=1000;

/// Most rules an admin policy may have per direction.
pub const MAX_ADMIN_RULES: usize = 100;

/// Validates every admin policy of `objects`: every problem, in input order.
pub fn validate_admin(objects: &PolicySet) -> Vec<PolicyError> {
    let mut out = Vec::new();
    for p in &objects.admin_policies {
        let at = object_at(&p.origin, p.kind_name(), &p.metadata.name, "");
        match (p.kind, p.spec.priority) {
            (AdminKind::Admin, None) => out.push(invalid(
                at.at("spec.priority"),
                "an AdminNetworkPolicy needs a priority",
            )),
            (AdminKind::Admin, Some(v)) if !ADMIN_PRIORITY_RANGE.contains(&v) => {
                out.push(PolicyError::PriorityOutOfRange {
                    at: at.at("spec.priority"),
                    value: v as f64,
                    range: "0 to 1000",
                })
            }
            (AdminKind::Baseline, Some(_)) => out.push(invalid(
                at.at("spec.priority"),
                "a BaselineAdminNetworkPolicy has no priority",
            )),
            _ => {}
        }
        if p.kind == AdminKind::Baseline && p.metadata.name != "default" {
            out.push(invalid(
                at.at("metadata.name"),
                "the BaselineAdminNetworkPolicy must be named \"default\"",
            ));
        }
        out.extend(check_subject(&at, &p.spec.subject));
        for (dir, rules) in [("ingress", &p.spec.ingress), ("egress", &p.spec.egress)] {
            if rules.len() > MAX_ADMIN_RULES {
                out.push(invalid(
                    at.at(format!("spec.{dir}")),
                    format!("{} rules (at most {MAX_ADMIN_RULES})", rules.len()),
                ));
            }
            for (i, r) in rules.iter().enumerate() {
                let field = format!("spec.{dir}[{i}]");
                if r.action == RuleAction::Pass && p.kind == AdminKind::Baseline {
                    out.push(invalid(
                        at.at(format!("{field}.action")),
                        "a BaselineAdminNetworkPolicy rule is Allow or Deny",
                    ));
                }
                check_rule(&at, &field, dir, r, &mut out);
            }
        }
    }
    out
}

fn check_rule(at: &Location, field: &str, dir: &str, r: &AdminRule, out: &mut Vec<PolicyError>) {
    check_peers(at, field, dir, (&r.from, &r.to), MAX_ADMIN_RULES, out);
    for (j, port) in r.ports.iter().flatten().enumerate() {
        let pat = at.at(format!("{field}.ports[{j}]"));
        out.extend(
            check_one_of(
                &pat,
                &[
                    ("portNumber", port.port_number.is_some()),
                    ("namedPort", port.named_port.is_some()),
                    ("portRange", port.port_range.is_some()),
                ],
                false,
            )
            .err(),
        );
        if let Some(range) = &port.port_range {
            if range.end < range.start {
                out.push(invalid(
                    pat.at(format!("{}.portRange.end", pat.field)),
                    format!("end {} is below start {}", range.end, range.start),
                ));
            }
        }
    }
}

/// `spec.subject`: exactly one of `namespaces` and `pods`. Shared with the v1alpha2
/// ClusterNetworkPolicy.
pub(crate) fn check_subject(at: &Location, subject: &AdminSubject) -> Option<PolicyError> {
    check_one_of(
        &at.at("spec.subject"),
        &[
            ("namespaces", subject.namespaces.is_some()),
            ("pods", subject.pods.is_some()),
        ],
        false,
    )
    .err()
}

/// The peers of a rule (`from`, `to`): those of its direction only, 1 to `max` of them, each
/// well formed ([`check_peer`]). Shared with the v1alpha2 ClusterNetworkPolicy.
pub(crate) fn check_peers(
    at: &Location,
    field: &str,
    dir: &str,
    (from, to): (&[AdminPeer], &[AdminPeer]),
    max: usize,
    out: &mut Vec<PolicyError>,
) {
    let (peers, peer_field, wrong) = match dir {
        "ingress" => (from, "from", to),
        _ => (to, "to", from),
    };
    if !wrong.is_empty() {
        out.push(invalid(
            at.at(field),
            format!("an {dir} rule takes `{peer_field}` peers"),
        ));
    }
    if peers.is_empty() || peers.len() > max {
        out.push(invalid(
            at.at(format!("{field}.{peer_field}")),
            format!("1..={max} peers required"),
        ));
    }
    for (j, peer) in peers.iter().enumerate() {
        check_peer(&at.at(format!("{field}.{peer_field}[{j}]")), dir, peer, out);
    }
}

/// The problems of one admin peer (also the v1alpha2 ClusterNetworkPolicy's), pushed to `out`.
pub(crate) fn check_peer(at: &Location, dir: &str, peer: &AdminPeer, out: &mut Vec<PolicyError>) {
    out.extend(
        check_one_of(
            at,
            &[
                ("namespaces", peer.namespaces.is_some()),
                ("pods", peer.pods.is_some()),
                ("nodes", peer.nodes.is_some()),
                ("networks", peer.networks.is_some()),
            ],
            false,
        )
        .err(),
    );
    if dir == "ingress" && (peer.nodes.is_some() || peer.networks.is_some()) {
        out.push(invalid(
            at.clone(),
            "nodes and networks peers are for egress rules only",
        ));
    }
    for (k, n) in peer.networks.iter().flatten().enumerate() {
        let valid = n.parse::<ipnet::IpNet>().is_ok() || n.parse::<std::net::IpAddr>().is_ok();
        if !valid {
            out.push(invalid(
                at.at(format!("{}.networks[{k}]", at.field)),
                format!("invalid CIDR \"{n}\""),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::policy::load::{parse_document, Parsed};
    use crate::policy::model::PolicySet;

    fn error_of(yaml: &str) -> String {
        let doc: serde_json::Value = serde_saphyr::from_str(yaml).expect("YAML");
        let mut set = PolicySet::default();
        match parse_document(&doc, std::path::Path::new("in.yaml")) {
            Ok(Parsed::Object(o)) => set.push(*o),
            Ok(Parsed::Cluster(_)) => panic!("a cluster"),
            Err(e) => return e.to_string(),
        }
        super::validate_admin(&set)[0].to_string()
    }

    #[test]
    fn a_baseline_pass_rule_is_an_error_naming_file_object_and_field() {
        let e = error_of(
            "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: BaselineAdminNetworkPolicy\n\
             metadata: {name: default}\nspec:\n  subject: {namespaces: {}}\n  ingress:\n\
             \x20 - {name: p, action: Pass, from: [{namespaces: {}}]}\n",
        );
        assert_eq!(
            e,
            "in.yaml: BaselineAdminNetworkPolicy \"default\": spec.ingress[0].action: \
             a BaselineAdminNetworkPolicy rule is Allow or Deny"
        );
    }

    #[test]
    fn an_admin_peer_with_two_kinds_and_an_ingress_node_peer_are_errors() {
        let anp = |peer: &str| {
            format!(
                "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\n\
                 metadata: {{name: a}}\nspec:\n  priority: 3\n  subject: {{namespaces: {{}}}}\n\
                 \x20 ingress:\n  - {{name: r, action: Deny, from: [{peer}]}}\n"
            )
        };
        let e = error_of(&anp("{namespaces: {}, nodes: {}}"));
        assert!(
            e.contains("spec.ingress[0].from[0]: expected exactly one of namespaces, pods, nodes, networks, found namespaces and nodes"),
            "{e}"
        );
        let e = error_of(&anp("{nodes: {}}"));
        assert!(e.contains("egress rules only"), "{e}");
    }
}
