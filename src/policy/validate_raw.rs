//! The API server's checks on one document as written, before it is typed: object names, label
//! keys and values, named ports, list limits, CIDR syntax and empty things. Every problem is
//! returned, not only the first, each as (field path, message).
//!
//! Sources, per check below: Kubernetes `pkg/apis/networking/validation/validation.go`
//! (`ValidateNetworkPolicy*`), apimachinery `pkg/api/validation/objectmeta.go` and
//! `pkg/apis/meta/v1/validation/validation.go` (`ValidateLabelSelector`), Antrea
//! `pkg/controller/networkpolicy/validate.go` and its CRD schemas
//! (`build/charts/antrea/crds/`), and the network-policy-api CRDs
//! (`config/crd/standard/policy.networking.k8s.io_adminnetworkpolicies.yaml`).

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::sanity::Problem;
use super::validate_names::{dns1123_label, dns1123_subdomain, label_key, label_value, port_name};

/// network-policy-api CRD: `networks` `maxItems: 25`.
pub const ANP_NETWORKS_MAX: usize = 25;
/// network-policy-api CRD: a rule's `name` `maxLength: 100`.
pub const ANP_RULE_NAME_MAX: usize = 100;
/// network-policy-api CRD: `ingress` / `egress` `maxItems: 100`.
pub const ANP_RULES_MAX: usize = 100;
/// Kubernetes `ValidateNetworkPolicySpec`: at most Ingress and Egress.
pub const POLICY_TYPES_MAX: usize = 2;

/// Which API a document belongs to, for the checks that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `networking.k8s.io/v1`.
    Kubernetes,
    /// Antrea's CRDs (`crd.antrea.io/v1beta1`, `crd.kakine.io/v1beta1`).
    Antrea,
    /// network-policy-api (`policy.networking.k8s.io`).
    Admin,
}

/// Every problem of the document `doc` of `kind` in `api`.
pub fn check_document(api: Api, kind: &str, doc: &Map<String, Value>) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut push = |field: String, messages: Vec<String>| {
        out.extend(messages.into_iter().map(|m| (field.clone(), m)));
    };
    // apimachinery `ValidateObjectMeta`: names are DNS-1123 subdomains for these kinds
    // (`NameIsDNSSubdomain`; custom resources likewise), a namespace a DNS-1123 label.
    let meta = doc.get("metadata").and_then(Value::as_object);
    match meta.and_then(|m| m.get("name")) {
        Some(Value::String(name)) => push("metadata.name".into(), dns1123_subdomain(name)),
        _ => push(
            "metadata.name".into(),
            vec!["name or generateName is required".into()],
        ),
    }
    if let Some(Value::String(ns)) = meta.and_then(|m| m.get("namespace")) {
        push("metadata.namespace".into(), dns1123_label(ns));
    }
    if let Some(spec) = doc.get("spec") {
        let mut walker = Walker {
            api,
            kind,
            out: Vec::new(),
        };
        walker.spec(spec);
        walker.walk(spec, "spec", None);
        out.extend(walker.out);
    }
    out
}

struct Walker<'a> {
    api: Api,
    kind: &'a str,
    out: Vec<Problem>,
}

impl Walker<'_> {
    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.out.push((field.into(), message.into()));
    }

    fn push_all(&mut self, field: &str, messages: Vec<String>, value: &str) {
        for m in messages {
            self.push(field, format!("{value:?}: {m}"));
        }
    }

    /// Checks that concern the spec as a whole.
    fn spec(&mut self, spec: &Value) {
        let Some(spec) = spec.as_object() else { return };
        match self.api {
            // Kubernetes `ValidateNetworkPolicySpec`: `policyTypes` has at most 2 entries.
            Api::Kubernetes => {
                if let Some(Value::Array(t)) = spec.get("policyTypes") {
                    if t.len() > POLICY_TYPES_MAX {
                        self.push(
                            "spec.policyTypes",
                            format!(
                                "must have at most {POLICY_TYPES_MAX} items (got {})",
                                t.len()
                            ),
                        );
                    }
                }
            }
            Api::Admin => {
                for dir in ["ingress", "egress"] {
                    if let Some(Value::Array(rules)) = spec.get(dir) {
                        if rules.len() > ANP_RULES_MAX {
                            self.push(
                                format!("spec.{dir}"),
                                format!("must have at most {ANP_RULES_MAX} items"),
                            );
                        }
                        for (i, r) in rules.iter().enumerate() {
                            if let Some(Value::String(n)) = r.get("name") {
                                if n.chars().count() > ANP_RULE_NAME_MAX {
                                    self.push(
                                        format!("spec.{dir}[{i}].name"),
                                        format!(
                                            "may not be longer than {ANP_RULE_NAME_MAX} characters"
                                        ),
                                    );
                                }
                            }
                        }
                    }
                }
            }
            Api::Antrea => {
                // Antrea `validate.go` (`validateAppliedTo`): an Antrea NetworkPolicy is
                // namespaced, its appliedTo cannot select namespaces.
                if self.kind == "NetworkPolicy" {
                    let mut lists = vec![("spec.appliedTo".to_string(), spec.get("appliedTo"))];
                    for dir in ["ingress", "egress"] {
                        if let Some(Value::Array(rules)) = spec.get(dir) {
                            for (i, r) in rules.iter().enumerate() {
                                lists.push((
                                    format!("spec.{dir}[{i}].appliedTo"),
                                    r.get("appliedTo"),
                                ));
                            }
                        }
                    }
                    for (field, list) in lists {
                        let Some(Value::Array(list)) = list else {
                            continue;
                        };
                        for (j, a) in list.iter().enumerate() {
                            if a.get("namespaceSelector").is_some() {
                                self.push(
                                    format!("{field}[{j}].namespaceSelector"),
                                    "namespaceSelector cannot be set in the appliedTo of an \
                                     Antrea NetworkPolicy (it applies in its own namespace)",
                                );
                            }
                        }
                    }
                }
                // Antrea `validate.go` (`validateClusterGroup` / `validateGroup`): at most one
                // of podSelector/namespaceSelector, ipBlocks, childGroups.
                if matches!(self.kind, "ClusterGroup" | "Group") {
                    let selectors =
                        spec.contains_key("podSelector") || spec.contains_key("namespaceSelector");
                    let blocks = spec
                        .get("ipBlocks")
                        .and_then(Value::as_array)
                        .is_some_and(|b| !b.is_empty());
                    if selectors && blocks {
                        self.push(
                            "spec.ipBlocks",
                            "ipBlocks cannot be combined with podSelector or namespaceSelector",
                        );
                    }
                }
            }
        }
    }

    /// Walks the spec; `parent` is the key holding `v`.
    fn walk(&mut self, v: &Value, path: &str, parent: Option<&str>) {
        match v {
            Value::Object(map) => {
                self.object(map, path, parent);
                for (k, child) in map {
                    self.walk(child, &format!("{path}.{k}"), Some(k));
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    self.walk(child, &format!("{path}[{i}]"), parent);
                }
            }
            _ => {}
        }
    }

    fn object(&mut self, map: &Map<String, Value>, path: &str, parent: Option<&str>) {
        // apimachinery `ValidateLabelSelector` / `ValidateLabels`.
        if let Some(Value::Object(labels)) = map.get("matchLabels") {
            for (k, v) in labels {
                let at = format!("{path}.matchLabels");
                self.push_all(&at, label_key(k), k);
                match v {
                    Value::String(v) => {
                        let at = format!("{at}.{k}");
                        self.push_all(&at, label_value(v), v);
                    }
                    other => self.push(
                        format!("{at}.{k}"),
                        format!("expected a string, got {other}"),
                    ),
                }
            }
        }
        if let Some(Value::Array(exprs)) = map.get("matchExpressions") {
            for (i, e) in exprs.iter().enumerate() {
                let at = format!("{path}.matchExpressions[{i}]");
                if let Some(Value::String(k)) = e.get("key") {
                    self.push_all(&format!("{at}.key"), label_key(k), k);
                }
                if let Some(Value::Array(values)) = e.get("values") {
                    for (j, v) in values.iter().enumerate() {
                        if let Value::String(v) = v {
                            self.push_all(&format!("{at}.values[{j}]"), label_value(v), v);
                        }
                    }
                }
            }
        }
        // Antrea `validate.go` (`validatePeers`): sameLabels are label keys.
        if let Some(Value::Array(keys)) = map.get("sameLabels") {
            for (i, k) in keys.iter().enumerate() {
                if let Value::String(k) = k {
                    self.push_all(&format!("{path}.sameLabels[{i}]"), label_key(k), k);
                }
            }
        }
        // Antrea CRD schema: `logLabel` pattern and `maxLength: 63`, a label value's rule.
        if let Some(Value::String(l)) = map.get("logLabel") {
            self.push_all(&format!("{path}.logLabel"), label_value(l), l);
        }
        // Kubernetes `ValidateNetworkPolicyPort` / Antrea: a string port is an IANA service
        // name; a quoted number is neither a number nor a name.
        if parent == Some("ports") {
            if let Some(Value::String(p)) = map.get("port") {
                let at = format!("{path}.port");
                if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) {
                    self.push(
                        at,
                        format!("{p:?} is a quoted number, not a port name (write it unquoted)"),
                    );
                } else {
                    self.push_all(&at, port_name(p), p);
                }
            }
            if let Some(Value::String(p)) = map.get("namedPort") {
                self.push_all(&format!("{path}.namedPort"), port_name(p), p);
            }
        }
        if let Some(Value::Array(ports)) = map.get("ports") {
            // network-policy-api CRD: `ports` `minItems: 1`.
            if self.api == Api::Admin && ports.is_empty() {
                self.push(
                    format!("{path}.ports"),
                    "must have at least 1 item (omit ports for all)",
                );
            }
        }
        if let Some(Value::Object(block)) = map.get("ipBlock") {
            self.ip_block(block, &format!("{path}.ipBlock"));
        }
        if parent == Some("ipBlocks") {
            self.ip_block(map, path);
        }
        if let Some(Value::Array(nets)) = map.get("networks") {
            self.networks(nets, &format!("{path}.networks"));
        }
        // Kubernetes `ValidateNetworkPolicyPeer`: a peer sets at least one field.
        if self.api == Api::Kubernetes && matches!(parent, Some("from" | "to")) && map.is_empty() {
            self.push(
                path,
                "must specify a peer (podSelector, namespaceSelector or ipBlock)",
            );
        }
    }

    /// Kubernetes `ValidateIPBlock` (`ValidateCIDR`: Go's `net.ParseCIDR`, which wants a prefix
    /// and refuses leading zeros; `except` a strict subset of `cidr`), as Antrea's ipBlocks.
    fn ip_block(&mut self, block: &Map<String, Value>, path: &str) {
        let cidr = match block.get("cidr") {
            Some(Value::String(c)) => c.as_str(),
            _ => return,
        };
        let parsed = self.strict_cidr(cidr, &format!("{path}.cidr"));
        if let Some(Value::Array(except)) = block.get("except") {
            for (i, e) in except.iter().enumerate() {
                let Value::String(e) = e else { continue };
                let at = format!("{path}.except[{i}]");
                if let (Some(net), Some(block)) = (self.strict_cidr(e, &at), parsed) {
                    if net == block {
                        self.push(
                            at,
                            format!("{e:?} must be a strict subset of the cidr {cidr:?}"),
                        );
                    }
                }
            }
        }
    }

    fn strict_cidr(&mut self, s: &str, at: &str) -> Option<ipnet::IpNet> {
        if !s.contains('/') {
            self.push(
                at,
                format!("{s:?} is not a CIDR: it needs a prefix length (e.g. {s}/32)"),
            );
            return None;
        }
        if leading_zero(s) {
            self.push(at, format!("{s:?} has a leading zero in an IPv4 octet"));
            return None;
        }
        // An unparsable CIDR is reported by the typed parse, with the expected form.
        s.parse::<ipnet::IpNet>().ok()
    }

    /// network-policy-api: `networks` are CIDRs (`format: cidr` with a `/`), at most 25, and
    /// no IPv4-mapped IPv6 (the CRD's CEL rule `!isCIDR(self) || cidr(self).ip().family() ...`).
    fn networks(&mut self, nets: &[Value], path: &str) {
        if nets.len() > ANP_NETWORKS_MAX {
            self.push(
                path,
                format!(
                    "must have at most {ANP_NETWORKS_MAX} items (got {})",
                    nets.len()
                ),
            );
        }
        for (i, n) in nets.iter().enumerate() {
            let Value::String(s) = n else { continue };
            let at = format!("{path}[{i}]");
            if let Some(net) = self.strict_cidr(s, &at) {
                if let IpAddr::V6(v6) = net.addr() {
                    if v6.to_ipv4_mapped().is_some() {
                        self.push(
                            at,
                            format!("{s:?} is an IPv4-mapped IPv6 CIDR; write the IPv4 CIDR"),
                        );
                    }
                }
            }
        }
    }
}

/// Whether an IPv4 CIDR has an octet written with a leading zero (`010.0.0.0/8`).
fn leading_zero(s: &str) -> bool {
    let addr = s.split('/').next().unwrap_or_default();
    !addr.contains(':') && addr.split('.').any(|o| o.len() > 1 && o.starts_with('0'))
}
