//! Checks of `policy.networking.k8s.io/v1alpha2` ClusterNetworkPolicies that their types cannot
//! express (the upstream CRD's OpenAPI and CEL rules).

use super::error::{Location, PolicyError};
use super::model::PolicySet;
use super::model_v1alpha2::{CnpPorts, CnpRule, NetworkPolicyV1Alpha2};
use super::validate::{check_one_of, invalid, object_at};
use super::validate_admin::{check_peers, check_subject, ADMIN_PRIORITY_RANGE};

/// Most rules per direction, peers per rule and protocol entries per rule.
pub const MAX_V1ALPHA2_ITEMS: usize = 25;

/// Validates every v1alpha2 ClusterNetworkPolicy of `objects`: every problem, in input order.
pub fn validate_v1alpha2(objects: &PolicySet) -> Vec<PolicyError> {
    let mut out = Vec::new();
    for p in &objects.network_policies_v1alpha2 {
        let at = object_at(&p.origin, NetworkPolicyV1Alpha2::KIND, &p.metadata.name, "");
        if !ADMIN_PRIORITY_RANGE.contains(&p.spec.priority) {
            out.push(PolicyError::PriorityOutOfRange {
                at: at.at("spec.priority"),
                value: p.spec.priority as f64,
                range: "0 to 1000",
            });
        }
        out.extend(check_subject(&at, &p.spec.subject));
        for (dir, rules) in [("ingress", &p.spec.ingress), ("egress", &p.spec.egress)] {
            if rules.len() > MAX_V1ALPHA2_ITEMS {
                out.push(invalid(
                    at.at(format!("spec.{dir}")),
                    format!("{} rules (at most {MAX_V1ALPHA2_ITEMS})", rules.len()),
                ));
            }
            for (i, r) in rules.iter().enumerate() {
                check_rule(&at, &format!("spec.{dir}[{i}]"), dir, r, &mut out);
            }
        }
    }
    out
}

fn check_rule(at: &Location, field: &str, dir: &str, r: &CnpRule, out: &mut Vec<PolicyError>) {
    check_peers(at, field, dir, (&r.from, &r.to), MAX_V1ALPHA2_ITEMS, out);
    let peers = if dir == "ingress" { &r.from } else { &r.to };
    let Some(protocols) = &r.protocols else {
        return;
    };
    if protocols.is_empty() || protocols.len() > MAX_V1ALPHA2_ITEMS {
        out.push(invalid(
            at.at(format!("{field}.protocols")),
            format!("1..={MAX_V1ALPHA2_ITEMS} entries required (omit the field for all traffic)"),
        ));
    }
    for (j, p) in protocols.iter().enumerate() {
        let pat = at.at(format!("{field}.protocols[{j}]"));
        out.extend(
            check_one_of(
                &pat,
                &[
                    ("tcp", p.tcp.is_some()),
                    ("udp", p.udp.is_some()),
                    ("sctp", p.sctp.is_some()),
                    ("destinationNamedPort", p.destination_named_port.is_some()),
                ],
                false,
            )
            .err(),
        );
        for (name, ports) in [("tcp", &p.tcp), ("udp", &p.udp), ("sctp", &p.sctp)] {
            if let Some(ports) = ports {
                check_ports(&pat.at(format!("{}.{name}", pat.field)), ports, out);
            }
        }
        let no_names = peers
            .iter()
            .any(|p| p.nodes.is_some() || p.networks.is_some());
        if p.destination_named_port.is_some() && no_names {
            out.push(invalid(
                pat.at(format!("{}.destinationNamedPort", pat.field)),
                "nodes and networks peers have no named ports",
            ));
        }
    }
}

fn check_ports(at: &Location, ports: &CnpPorts, out: &mut Vec<PolicyError>) {
    let Some(port) = &ports.destination_port else {
        out.push(invalid(at.clone(), "destinationPort is required"));
        return;
    };
    let at = at.at(format!("{}.destinationPort", at.field));
    out.extend(
        check_one_of(
            &at,
            &[
                ("number", port.number.is_some()),
                ("range", port.range.is_some()),
            ],
            false,
        )
        .err(),
    );
    if port.number == Some(0) {
        out.push(invalid(
            at.at(format!("{}.number", at.field)),
            "port 0 (expected 1..=65535)",
        ));
    }
    if let Some(range) = &port.range {
        if range.start == 0 || range.start >= range.end {
            out.push(invalid(
                at.at(format!("{}.range", at.field)),
                format!(
                    "start {} must be at least 1 and below end {}",
                    range.start, range.end
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::policy::load::{parse_document, Parsed};
    use crate::policy::model::PolicySet;

    fn error_of(spec: &str) -> String {
        let yaml = format!(
            "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\n\
             metadata: {{name: c}}\nspec:\n{spec}"
        );
        let doc: serde_json::Value = serde_saphyr::from_str(&yaml).expect("YAML");
        let mut set = PolicySet::default();
        match parse_document(&doc, std::path::Path::new("in.yaml")) {
            Ok(Parsed::Object(o)) => set.push(*o),
            Ok(Parsed::Cluster(_)) => panic!("a cluster"),
            Err(e) => return e.to_string(),
        }
        super::validate_v1alpha2(&set)[0].to_string()
    }

    #[test]
    fn an_allow_action_is_an_error_naming_file_object_and_field() {
        let e = error_of(
            "  tier: Admin\n  priority: 1\n  subject: {namespaces: {}}\n  ingress:\n\
             \x20 - {action: Allow, from: [{namespaces: {}}]}\n",
        );
        assert!(
            e.starts_with("in.yaml: ClusterNetworkPolicy \"c\": spec.ingress[0].action: "),
            "{e}"
        );
        assert!(e.contains("expected Accept, Deny or Pass"), "{e}");
    }

    #[test]
    fn an_unknown_tier_and_a_missing_priority_are_errors() {
        let e = error_of("  tier: Platform\n  priority: 1\n  subject: {namespaces: {}}\n");
        assert!(e.contains("spec.tier"), "{e}");
        let e = error_of("  tier: Admin\n  subject: {namespaces: {}}\n");
        assert!(e.contains("priority"), "{e}");
    }

    #[test]
    fn protocol_entries_need_exactly_one_field_and_a_port() {
        let rule = |protocols: &str| {
            format!(
                "  tier: Baseline\n  priority: 0\n  subject: {{namespaces: {{}}}}\n  egress:\n\
                 \x20 - {{action: Deny, to: [{{networks: [10.0.0.0/8]}}], protocols: {protocols}}}\n"
            )
        };
        let e = error_of(&rule(
            "[{tcp: {destinationPort: {number: 80}}, udp: {destinationPort: {number: 53}}}]",
        ));
        assert!(e.contains("spec.egress[0].protocols[0]: expected exactly one of tcp, udp, sctp, destinationNamedPort, found tcp and udp"), "{e}");
        let e = error_of(&rule("[{tcp: {}}]"));
        assert!(
            e.contains("spec.egress[0].protocols[0].tcp: destinationPort is required"),
            "{e}"
        );
        let e = error_of(&rule(
            "[{udp: {destinationPort: {range: {start: 90, end: 80}}}}]",
        ));
        assert!(
            e.contains("protocols[0].udp.destinationPort.range: start 90"),
            "{e}"
        );
        let e = error_of(&rule("[{destinationNamedPort: web}]"));
        assert!(e.contains("no named ports"), "{e}");
    }

    #[test]
    fn a_domain_names_peer_is_reported_as_unsupported() {
        let e = error_of(
            "  tier: Admin\n  priority: 1\n  subject: {namespaces: {}}\n  egress:\n\
             \x20 - {action: Accept, to: [{domainNames: [example.com]}]}\n",
        );
        assert!(e.contains("spec.egress[0].to[0].domainNames"), "{e}");
        assert!(e.contains("domainNames peers"), "{e}");
    }
}
