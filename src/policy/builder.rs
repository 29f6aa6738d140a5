//! Chainable builders for the input model, for tests and for code that assembles policies
//! (`AntreaPolicy::test("deny-x").tier("securityops").ingress(AntreaRule::new(Drop)...)`).

use std::net::Ipv4Addr;

use super::model::{
    AntreaKind, AntreaPeer, AntreaPolicy, AntreaPolicySpec, AntreaRule, AppliedTo, Cluster,
    ClusterGroup, ClusterGroupSpec, ContainerPort, IpBlockSpec, K8sNetworkPolicy, K8sPeer,
    K8sPolicySpec, K8sRule, Namespace, ObjectMeta, Origin, Pod, PolicyObject, PolicyPort,
    PolicySet, PolicyType, PortValue, Tier, TierSpec,
};
use super::resolved::{Protocol, RuleAction};
use super::selector::LabelSelector;

fn labels(pairs: &[(&str, &str)]) -> super::selector::Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: name.to_string(),
        namespace: namespace.map(str::to_string),
    }
}

fn cidr(s: &str) -> ipnet::IpNet {
    s.parse()
        .unwrap_or_else(|_| panic!("bad CIDR {s:?} in a builder"))
}

impl Cluster {
    /// Adds a namespace with these labels (plus the implicit metadata.name label).
    pub fn namespace(mut self, name: &str, l: &[(&str, &str)]) -> Self {
        self.namespaces.push(Namespace {
            name: name.to_string(),
            labels: labels(l),
            annotations: Default::default(),
        });
        self
    }

    /// Adds an annotation to the namespace `name` (added before).
    pub fn annotate(mut self, name: &str, key: &str, value: &str) -> Self {
        let ns = self
            .namespaces
            .iter_mut()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no namespace {name} in the builder"));
        ns.annotations.insert(key.to_string(), value.to_string());
        self
    }

    /// Adds a pod `ns/name` with labels and IP, serving nothing yet.
    pub fn pod(mut self, key: &str, l: &[(&str, &str)], ip: &str) -> Self {
        let (namespace, name) = key.split_once('/').expect("pod key is ns/name");
        self.pods.push(Pod {
            namespace: namespace.to_string(),
            name: name.to_string(),
            labels: labels(l),
            ip: ip.parse::<Ipv4Addr>().expect("pod IP"),
            ipv6: None,
            mac: None,
            node: None,
            host_network: false,
            ports: Vec::new(),
            service_account: None,
        });
        self
    }

    /// Gives the last added pod the IPv6 address `ip` (dual stack).
    pub fn ipv6(mut self, ip: &str) -> Self {
        let pod = self.pods.last_mut().expect("ipv6() after pod()");
        pod.ipv6 = Some(ip.parse().expect("pod IPv6 address"));
        self
    }

    /// Declares that the last added pod serves `port`/`protocol`, optionally as a named port.
    pub fn serving(mut self, port: u16, protocol: Protocol, name: Option<&str>) -> Self {
        let pod = self.pods.last_mut().expect("serving() after pod()");
        pod.ports.push(ContainerPort {
            port,
            protocol,
            name: name.map(str::to_string),
        });
        self
    }
}

impl PolicySet {
    /// Adds an object (builder style).
    pub fn with(mut self, object: impl Into<PolicyObject>) -> Self {
        self.push(object.into());
        self
    }
}

impl From<AntreaPolicy> for PolicyObject {
    fn from(p: AntreaPolicy) -> Self {
        PolicyObject::Antrea(p)
    }
}

impl From<K8sNetworkPolicy> for PolicyObject {
    fn from(p: K8sNetworkPolicy) -> Self {
        PolicyObject::K8s(p)
    }
}

impl From<ClusterGroup> for PolicyObject {
    fn from(g: ClusterGroup) -> Self {
        PolicyObject::ClusterGroup(g)
    }
}

impl From<Tier> for PolicyObject {
    fn from(t: Tier) -> Self {
        PolicyObject::Tier(t)
    }
}

impl Tier {
    /// A custom tier.
    pub fn test(name: &str, priority: i64) -> Self {
        Tier {
            metadata: meta(name, None),
            spec: TierSpec {
                priority,
                description: None,
            },
            origin: Origin::default(),
        }
    }
}

impl ClusterGroup {
    /// An empty ClusterGroup.
    pub fn test(name: &str) -> Self {
        ClusterGroup {
            metadata: meta(name, None),
            spec: ClusterGroupSpec::default(),
            origin: Origin::default(),
        }
    }

    /// Sets the pod selector.
    pub fn pods(mut self, sel: LabelSelector) -> Self {
        self.spec.pod_selector = Some(sel);
        self
    }

    /// Adds an IP block.
    pub fn ip_block(mut self, block: &str) -> Self {
        self.spec.ip_blocks.push(IpBlockSpec {
            cidr: cidr(block),
            except: Vec::new(),
        });
        self
    }
}

impl AntreaPolicy {
    /// A ClusterNetworkPolicy in the default tier at priority 1, applied to no pod yet.
    pub fn test(name: &str) -> Self {
        AntreaPolicy {
            kind: AntreaKind::Cluster,
            metadata: meta(name, None),
            spec: AntreaPolicySpec {
                tier: None,
                priority: 1.0,
                applied_to: Vec::new(),
                ingress: Vec::new(),
                egress: Vec::new(),
                enforcement_mode: None,
            },
            origin: Origin::default(),
        }
    }

    /// Makes it an Antrea NetworkPolicy in `namespace`.
    pub fn namespaced(mut self, namespace: &str) -> Self {
        self.kind = AntreaKind::Namespaced;
        self.metadata.namespace = Some(namespace.to_string());
        self
    }

    /// Sets the tier.
    pub fn tier(mut self, tier: &str) -> Self {
        self.spec.tier = Some(tier.to_string());
        self
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: f64) -> Self {
        self.spec.priority = priority;
        self
    }

    /// Adds a policy-level appliedTo entry selecting pods (and optionally namespaces).
    pub fn applied_to(mut self, pods: LabelSelector, namespaces: Option<LabelSelector>) -> Self {
        self.spec.applied_to.push(AppliedTo {
            pod_selector: Some(pods),
            namespace_selector: namespaces,
            ..AppliedTo::default()
        });
        self
    }

    /// Applies to every pod of the cluster.
    pub fn applied_to_all(mut self) -> Self {
        self.spec.applied_to.push(AppliedTo {
            namespace_selector: Some(LabelSelector::default()),
            ..AppliedTo::default()
        });
        self
    }

    /// Adds an ingress rule.
    pub fn ingress(mut self, rule: AntreaRule) -> Self {
        self.spec.ingress.push(rule);
        self
    }

    /// Adds an egress rule.
    pub fn egress(mut self, rule: AntreaRule) -> Self {
        self.spec.egress.push(rule);
        self
    }
}

impl AntreaPeer {
    /// Pods matching `sel` (all namespaces for a ClusterNetworkPolicy).
    pub fn pods(sel: LabelSelector) -> Self {
        AntreaPeer {
            pod_selector: Some(sel),
            ..AntreaPeer::default()
        }
    }

    /// Every pod of the namespaces matching `sel`.
    pub fn namespaces(sel: LabelSelector) -> Self {
        AntreaPeer {
            namespace_selector: Some(sel),
            ..AntreaPeer::default()
        }
    }

    /// An IP block with exceptions.
    pub fn ip_block(block: &str, except: &[&str]) -> Self {
        AntreaPeer {
            ip_block: Some(IpBlockSpec {
                cidr: cidr(block),
                except: except.iter().map(|e| cidr(e)).collect(),
            }),
            ..AntreaPeer::default()
        }
    }

    /// The members of a ClusterGroup.
    pub fn group(name: &str) -> Self {
        AntreaPeer {
            group: Some(name.to_string()),
            ..AntreaPeer::default()
        }
    }
}

fn port(protocol: Protocol, port: Option<PortValue>, end_port: Option<u16>) -> PolicyPort {
    PolicyPort {
        protocol,
        port,
        end_port,
        source_port: None,
        source_end_port: None,
    }
}

impl AntreaRule {
    /// A rule with this action matching everything.
    pub fn new(action: RuleAction) -> Self {
        AntreaRule {
            action,
            name: None,
            from: Vec::new(),
            to: Vec::new(),
            ports: Vec::new(),
            protocols: Vec::new(),
            applied_to: Vec::new(),
            enable_logging: false,
            log_label: None,
            enforcement_mode: None,
        }
    }

    /// Stages the rule (`enforcementMode: Audit`).
    pub fn audit(mut self) -> Self {
        self.enforcement_mode = Some(super::model::EnforcementMode::Audit);
        self
    }

    /// Names the rule.
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    /// Turns on the audit log of the rule (`enableLogging: true`), with a `logLabel`.
    pub fn logged(mut self, label: Option<&str>) -> Self {
        self.enable_logging = true;
        self.log_label = label.map(str::to_string);
        self
    }

    /// Adds a source peer (ingress rules).
    pub fn from(mut self, peer: AntreaPeer) -> Self {
        self.from.push(peer);
        self
    }

    /// Adds a destination peer (egress rules).
    pub fn to(mut self, peer: AntreaPeer) -> Self {
        self.to.push(peer);
        self
    }

    /// Adds a single port.
    pub fn port(mut self, protocol: Protocol, number: u16) -> Self {
        self.ports
            .push(port(protocol, Some(PortValue::Number(number)), None));
        self
    }

    /// Adds a port range `lo..=hi`.
    pub fn port_range(mut self, protocol: Protocol, lo: u16, hi: u16) -> Self {
        self.ports
            .push(port(protocol, Some(PortValue::Number(lo)), Some(hi)));
        self
    }

    /// Adds a named container port.
    pub fn named_port(mut self, protocol: Protocol, name: &str) -> Self {
        self.ports.push(port(
            protocol,
            Some(PortValue::Name(name.to_string())),
            None,
        ));
        self
    }

    /// Adds a rule-level appliedTo entry selecting pods.
    pub fn applied_to(mut self, pods: LabelSelector) -> Self {
        self.applied_to.push(AppliedTo {
            pod_selector: Some(pods),
            ..AppliedTo::default()
        });
        self
    }
}

impl K8sNetworkPolicy {
    /// A K8s NetworkPolicy `namespace/name` selecting every pod of its namespace, with the
    /// default policy types.
    pub fn test(namespace: &str, name: &str) -> Self {
        K8sNetworkPolicy {
            metadata: meta(name, Some(namespace)),
            spec: K8sPolicySpec::default(),
            origin: Origin::default(),
        }
    }

    /// Sets the pod selector.
    pub fn select(mut self, sel: LabelSelector) -> Self {
        self.spec.pod_selector = sel;
        self
    }

    /// Sets explicit policyTypes.
    pub fn policy_types(mut self, ingress: bool, egress: bool) -> Self {
        let mut types = Vec::new();
        if ingress {
            types.push(PolicyType::Ingress);
        }
        if egress {
            types.push(PolicyType::Egress);
        }
        self.spec.policy_types = Some(types);
        self
    }

    /// Adds an ingress rule.
    pub fn ingress(mut self, rule: K8sRule) -> Self {
        self.spec.ingress.push(rule);
        self
    }

    /// Adds an egress rule.
    pub fn egress(mut self, rule: K8sRule) -> Self {
        self.spec.egress.push(rule);
        self
    }
}

impl K8sPeer {
    /// Pods of the policy's namespace matching `sel`.
    pub fn pods(sel: LabelSelector) -> Self {
        K8sPeer {
            pod_selector: Some(sel),
            ..K8sPeer::default()
        }
    }

    /// Every pod of the namespaces matching `sel`.
    pub fn namespaces(sel: LabelSelector) -> Self {
        K8sPeer {
            namespace_selector: Some(sel),
            ..K8sPeer::default()
        }
    }
}

impl K8sRule {
    /// Adds a source peer.
    pub fn from(mut self, peer: K8sPeer) -> Self {
        self.from.push(peer);
        self
    }

    /// Adds a destination peer.
    pub fn to(mut self, peer: K8sPeer) -> Self {
        self.to.push(peer);
        self
    }

    /// Adds a port.
    pub fn port(mut self, protocol: Protocol, number: u16) -> Self {
        self.ports
            .push(port(protocol, Some(PortValue::Number(number)), None));
        self
    }

    /// Adds a named port.
    pub fn named_port(mut self, protocol: Protocol, name: &str) -> Self {
        self.ports.push(port(
            protocol,
            Some(PortValue::Name(name.to_string())),
            None,
        ));
        self
    }
}
