//! Policy rules to conjunctive flows: each rule's applied-to, peer and service clauses, merged
//! match flows, `conj_id` flows and priorities.

use super::base::*;
use super::clauses::*;
use super::ipv6::{ipv6, Family};
use super::*;

/// One clause's flows: each entry is the match fields of one flow (without eth_type).
pub(super) type Clause = Vec<Vec<MatchField>>;

/// The most parts (conjunctions) a rule's named ports split it into; past it the named ports
/// become one part with a combined clause (`PolicyCompiler::paired_sub_rule`). A flow that the
/// parts share carries one 16-byte `conjunction` action per part, so 1,024 parts keep it near
/// 16 KiB, well inside one OpenFlow message (`size.rs`).
pub(super) const MAX_SHARED_PARTS: usize = 1024;

/// A rule, or the part of a rule with one set of resolved named ports.
pub(super) struct SubRule {
    applied: Clause,
    peers: Option<Clause>,
    services: Option<Clause>,
}

pub(super) struct PolicyCompiler<'a> {
    policies: &'a ResolvedPolicies,
    local: BTreeMap<&'a PodKey, &'a LocalPod>,
    pods: BTreeMap<&'a PodKey, &'a PodInfo>,
    round: u16,
    /// Whether the input has IPv6: each rule part then gets IPv6 clause flows too.
    v6: bool,
    /// Conjunctive match flows, merged by (table, priority, match).
    conj_flows: BTreeMap<(u8, u16, Match), (u32, Vec<Action>)>,
}

impl<'a> PolicyCompiler<'a> {
    pub(super) fn new(policies: &'a ResolvedPolicies, local: &'a [LocalPod], round: u16) -> Self {
        PolicyCompiler {
            policies,
            local: local.iter().map(|p| (&p.key, p)).collect(),
            pods: policies.pods.iter().map(|p| (&p.key, p)).collect(),
            round,
            v6: super::ipv6::enabled(policies),
            conj_flows: BTreeMap::new(),
        }
    }

    pub(super) fn run(
        mut self,
        out: &mut Compiled,
        previous: &Allocation,
    ) -> Result<(), CompileError> {
        let rules = &self.policies.rules;
        let keys = rule_keys(rules);
        let tables = rules
            .iter()
            .map(rule_table)
            .collect::<Result<Vec<_>, _>>()?;

        // Priorities, per table, in precedence order.
        let mut orders: BTreeMap<&'static str, Vec<RuleKey>> = BTreeMap::new();
        for (key, table) in keys.iter().zip(&tables) {
            orders
                .entry(table.table.name)
                .or_default()
                .push(key.clone());
        }
        let none = BTreeMap::new();
        for (name, order) in &orders {
            let prev = previous.priorities.get(name).unwrap_or(&none);
            let a = band(name)
                .assign(prev, order)
                .map_err(|e| PipelineError::PriorityExhausted(format!("table {name}: {e}")))?;
            out.moves.extend(a.moves.iter().map(|m| PriorityMove {
                table: name,
                rule: m.key.clone(),
                from: m.from,
                to: m.to,
            }));
            out.allocation.priorities.insert(name, a.to_map());
        }

        // Ids: part 0 of every rule first, so a fresh compile numbers rules 1..=N in order.
        let subs: Vec<Vec<SubRule>> = rules
            .iter()
            .map(|r| self.sub_rules(r, Family::V4))
            .collect();
        // The same parts, in the same order (named ports resolve per pod, whatever the
        // family), with IPv6 clauses.
        let mut subs6: Vec<std::vec::IntoIter<SubRule>> = rules
            .iter()
            .map(|r| match self.v6 {
                true => self.sub_rules(r, Family::V6).into_iter(),
                false => Vec::new().into_iter(),
            })
            .collect();
        let mut live: Vec<(RuleKey, u32)> = keys.iter().map(|k| (k.clone(), 0)).collect();
        for (key, parts) in keys.iter().zip(&subs) {
            live.extend((1..parts.len() as u32).map(|part| (key.clone(), part)));
        }
        out.allocation.ids = previous.ids.next(&live)?;
        let ids = &out.allocation.ids;

        let mut action_flows = Vec::new();
        for ((((rule, key), table), parts), parts6) in rules
            .iter()
            .zip(&keys)
            .zip(&tables)
            .zip(subs)
            .zip(subs6.iter_mut())
        {
            let table = *table;
            let p = out.allocation.priorities[table.table.name][key];
            let id = ids.get(&(key.clone(), 0)).expect("allocated");
            let mut used = 0;
            let mut dims = Vec::new();
            for (part, sub) in parts.into_iter().enumerate() {
                let conj = ids.get(&(key.clone(), part as u32)).expect("allocated");
                dims.push((
                    sub.peers.as_ref().map(Vec::len),
                    sub.applied.len(),
                    sub.services.as_ref().map(Vec::len),
                ));
                let v6 = parts6.next();
                for (family, sub) in [(Family::V4, Some(sub)), (Family::V6, v6)] {
                    let Some(sub) = sub else { continue };
                    let staged = rule.staged.then(|| staged_reg(rule.direction));
                    let Some(n) = self.clause_flows(sub, family, staged, (table, p), (id, conj))
                    else {
                        continue; // a dimension that matches nothing: the rule never applies
                    };
                    used += 1 + n;
                    action_flows.push(with_cookie(
                        table.flow(
                            p,
                            Match::from(vec![family.eth(), MatchField::ConjId(conj)]),
                            rule_actions(rule, id, table)?,
                        ),
                        self.round,
                        cookie::POLICY,
                        id,
                    ));
                }
            }
            for f in metric_flows(rule, id, self.v6)? {
                used += 1;
                action_flows.push(with_cookie(f, self.round, cookie::POLICY, id));
            }
            out.rules.push(CompiledRule {
                id,
                key: key.clone(),
                rule: rule.id.clone(),
                direction: rule.direction,
                action: rule.action,
                staged: rule.staged,
                priority: p,
                flows: used,
                dims,
            });
        }
        for ((table, priority, m), (rule_id, actions)) in std::mem::take(&mut self.conj_flows) {
            let f = FlowMod::add(table, priority, m, vec![apply(actions)]);
            out.flows
                .push(with_cookie(f, self.round, cookie::POLICY, rule_id));
        }
        out.flows.extend(action_flows);
        self.isolation_flows(out)?;
        Ok(())
    }

    /// The clause flows of one rule part in one family, merged into `conj_flows` under the
    /// rule's `conj_id`; how many clause flows, or `None` when a dimension matches nothing. A
    /// staged rule's flows (`staged`: its direction's register) match only while it is unset.
    fn clause_flows(
        &mut self,
        sub: SubRule,
        family: Family,
        staged: Option<regs::RegField>,
        (table, p): (TableRef, u16),
        (id, conj): (u32, u32),
    ) -> Option<usize> {
        let mut clauses: Vec<Clause> = vec![sub.applied];
        clauses.extend(sub.peers);
        clauses.extend(sub.services);
        if clauses.iter().any(|c| c.is_empty()) {
            return None;
        }
        if clauses.len() == 1 {
            clauses.push(vec![vec![]]);
        }
        let n = clauses.len() as u8;
        let count = clauses.iter().map(Vec::len).sum::<usize>();
        for (k, clause) in clauses.into_iter().enumerate() {
            for fields in clause {
                let mut m = vec![family.eth()];
                m.extend(fields);
                if let Some(reg) = staged {
                    m.push(reg_match(reg, 0));
                }
                let key = (table.id, p, Match::from(m));
                let entry = self.conj_flows.entry(key).or_insert((id, Vec::new()));
                entry.1.push(Action::Conjunction {
                    id: conj,
                    clause: k as u8 + 1,
                    n_clauses: n,
                });
            }
        }
        Some(count)
    }

    fn isolation_flows(&self, out: &mut Compiled) -> Result<(), CompileError> {
        let eg = t("EgressDefault")?;
        for key in &self.policies.isolated_egress {
            if let Some(pod) = self.local.get(key) {
                let f = eg.flow(
                    prio::ISOLATION,
                    Match::from(vec![ip(), MatchField::Ipv4Src(pod.ip, None)]),
                    self.isolation_actions(key),
                );
                out.flows
                    .push(with_cookie(f, self.round, cookie::ISOLATION, 1));
                if let Some(addr) = self.pods.get(key).and_then(|p| p.ipv6) {
                    let f = eg.flow(
                        prio::ISOLATION,
                        Match::from(vec![ipv6(), MatchField::Ipv6Src(addr, None)]),
                        self.isolation_actions(key),
                    );
                    out.flows
                        .push(with_cookie(f, self.round, cookie::ISOLATION, 1));
                }
            }
        }
        let ing = t("IngressDefault")?;
        for key in &self.policies.isolated_ingress {
            if let Some(pod) = self.local.get(key) {
                let f = ing.flow(
                    prio::ISOLATION,
                    Match::from(vec![ip(), reg_match(regs::TARGET_OFPORT, pod.ofport)]),
                    self.isolation_actions(key),
                );
                out.flows
                    .push(with_cookie(f, self.round, cookie::ISOLATION, 2));
                if self.v6 {
                    let f = ing.flow(
                        prio::ISOLATION,
                        Match::from(vec![ipv6(), reg_match(regs::TARGET_OFPORT, pod.ofport)]),
                        self.isolation_actions(key),
                    );
                    out.flows
                        .push(with_cookie(f, self.round, cookie::ISOLATION, 2));
                }
            }
        }
        Ok(())
    }

    /// The actions of the isolation drop of `pod`: none (drop), or a metered copy to the agent
    /// for the audit log when its namespace turns NetworkPolicy logging on.
    fn isolation_actions(&self, pod: &PodKey) -> Vec<Instruction> {
        if !self.policies.np_logging.contains(&pod.namespace) {
            return vec![];
        }
        vec![apply(vec![to_agent(
            packet_in::OP_LOG,
            packet_in::ISOLATION_RULE,
            meters::LOG,
        )])]
    }

    /// The applied-to clause of a set of pods: only pods on this node are enforced here.
    /// The applied-to clause of a set of pods: only pods on this node are enforced here (in
    /// IPv6, egress: only those with an IPv6 address).
    fn applied_clause<'k>(
        &self,
        dir: Direction,
        pods: impl IntoIterator<Item = &'k PodKey>,
        family: Family,
    ) -> Clause {
        let mut set = BTreeSet::new();
        for key in pods {
            if let Some(pod) = self.local.get(key) {
                set.extend(match (dir, family) {
                    (Direction::Egress, Family::V4) => {
                        Some(vec![MatchField::Ipv4Src(pod.ip, None)])
                    }
                    (Direction::Egress, Family::V6) => self
                        .pods
                        .get(key)
                        .and_then(|p| p.ipv6)
                        .map(|a| vec![MatchField::Ipv6Src(a, None)]),
                    (Direction::Ingress, _) => {
                        Some(vec![reg_match(regs::TARGET_OFPORT, pod.ofport)])
                    }
                });
            }
        }
        set.into_iter().collect()
    }

    fn peer_field(dir: Direction, net: IpNet) -> Vec<MatchField> {
        if net.prefix_len() == 0 {
            return vec![];
        }
        let full = net.prefix_len() == net.max_prefix_len();
        vec![match (dir, net) {
            (Direction::Egress, IpNet::V4(n)) => {
                MatchField::Ipv4Dst(n.network(), (!full).then(|| n.netmask()))
            }
            (Direction::Ingress, IpNet::V4(n)) => {
                MatchField::Ipv4Src(n.network(), (!full).then(|| n.netmask()))
            }
            (Direction::Egress, IpNet::V6(n)) => {
                MatchField::Ipv6Dst(n.network(), (!full).then(|| n.netmask()))
            }
            (Direction::Ingress, IpNet::V6(n)) => {
                MatchField::Ipv6Src(n.network(), (!full).then(|| n.netmask()))
            }
        }]
    }

    /// The peer clause in one family: the peer pods' addresses of the family, the node IPs
    /// (IPv4), the ipBlocks of the family minus their exceptions.
    fn peer_clause<'k>(
        &self,
        dir: Direction,
        pods: impl IntoIterator<Item = &'k PodKey>,
        blocks: &[crate::policy::resolved::IpBlock],
        node_ips: &BTreeSet<Ipv4Addr>,
        family: Family,
    ) -> Clause {
        let mut set = BTreeSet::new();
        for key in pods {
            if let Some(pod) = self.pods.get(key) {
                let addr = match family {
                    Family::V4 => Some(IpNet::from(IpAddr::V4(pod.ip))),
                    Family::V6 => pod.ipv6.map(|a| IpNet::from(IpAddr::V6(a))),
                };
                set.extend(addr.map(|a| Self::peer_field(dir, a)));
            }
        }
        if family == Family::V4 {
            for ip in node_ips {
                set.insert(Self::peer_field(dir, IpNet::from(IpAddr::V4(*ip))));
            }
        }
        for b in blocks {
            if b.cidr.addr().is_ipv6() != (family == Family::V6) {
                continue;
            }
            for net in cidr_minus(b.cidr.trunc(), &b.except) {
                set.insert(Self::peer_field(dir, net));
            }
        }
        set.into_iter().collect()
    }

    /// The named-port part of a rule whose names resolve to more than [`MAX_SHARED_PARTS`]
    /// distinct port sets, as one conjunction: each destination pod and its own numbers make
    /// one flow of a combined clause (egress: `nw_dst=<pod>,tp_dst=<n>` in place of the peer and
    /// service clauses; ingress: `reg_target=<ofport>,tp_dst=<n>` in place of the applied-to and
    /// service clauses). The same packets match as with one part per port set, and the shared
    /// flows carry one `conjunction` action instead of one per part.
    fn paired_sub_rule(
        &self,
        rule: &ResolvedRule,
        groups: BTreeMap<BTreeSet<Service>, Vec<&PodKey>>,
        peers: Option<Clause>,
        family: Family,
    ) -> SubRule {
        let dir = rule.direction;
        let mut pairs = BTreeSet::new();
        for (ports, pods) in groups {
            let services = service_clause(ports, family);
            let firsts: Clause = match dir {
                Direction::Ingress => self.applied_clause(dir, pods, family),
                Direction::Egress => self.peer_clause(dir, pods, &[], &BTreeSet::new(), family),
            };
            for first in &firsts {
                for service in &services {
                    pairs.insert(first.iter().chain(service).cloned().collect::<Vec<_>>());
                }
            }
        }
        let pairs: Clause = pairs.into_iter().collect();
        match dir {
            Direction::Ingress => SubRule {
                applied: pairs,
                peers,
                services: None,
            },
            Direction::Egress => SubRule {
                applied: self.applied_clause(dir, rule.applied_to.iter(), family),
                peers: None,
                services: Some(pairs),
            },
        }
    }

    /// Splits a rule by resolved named ports (OVS matches numbers, names resolve per
    /// destination pod) and builds each part's clauses in `family`. The parts, and their
    /// order, do not depend on the family.
    fn sub_rules(&self, rule: &ResolvedRule, family: Family) -> Vec<SubRule> {
        let dir = rule.direction;
        let no_nodes = BTreeSet::new();
        let (peer_pods, blocks, node_ips): (Option<&BTreeSet<PodKey>>, &[_], _) = match &rule.peers
        {
            Peers::Any => (None, &[], &no_nodes),
            Peers::Set {
                pods,
                ip_blocks,
                node_ips,
            } => (Some(pods), ip_blocks.as_slice(), node_ips),
        };
        let peers_all =
            || peer_pods.map(|pods| self.peer_clause(dir, pods, blocks, node_ips, family));
        let Some(services) = &rule.services else {
            return vec![SubRule {
                applied: self.applied_clause(dir, rule.applied_to.iter(), family),
                peers: peers_all(),
                services: None,
            }];
        };
        let (named, numeric): (Vec<&Service>, Vec<&Service>) = services
            .iter()
            .partition(|s| matches!(s.port, PortMatch::Named(_)));
        let mut subs = Vec::new();
        if !numeric.is_empty() || named.is_empty() {
            subs.push(SubRule {
                applied: self.applied_clause(dir, rule.applied_to.iter(), family),
                peers: peers_all(),
                services: Some(service_clause(numeric.iter().copied().cloned(), family)),
            });
        }
        if named.is_empty() {
            return subs;
        }
        // Destination pods of the named ports, grouped by what the names resolve to.
        let destinations: Vec<&PodKey> = match dir {
            Direction::Ingress => rule.applied_to.iter().collect(),
            // A named port resolves only on a pod: the peer pods, and the pods whose address
            // lies in an ipBlock peer (as the evaluator sees them).
            Direction::Egress => match peer_pods {
                Some(pods) => self
                    .pods
                    .iter()
                    .filter(|(k, p)| {
                        pods.contains(**k)
                            || blocks
                                .iter()
                                .any(|b| b.contains(p.ip) || p.ipv6.is_some_and(|a| b.contains(a)))
                    })
                    .map(|(k, _)| *k)
                    .collect(),
                None => self.pods.keys().copied().collect(),
            },
        };
        let mut groups: BTreeMap<BTreeSet<Service>, Vec<&PodKey>> = BTreeMap::new();
        for key in destinations {
            let Some(pod) = self.pods.get(key) else {
                continue;
            };
            let resolved: BTreeSet<Service> = named
                .iter()
                .filter_map(|s| {
                    let PortMatch::Named(name) = &s.port else {
                        return None;
                    };
                    pod.named_port(name, s.protocol).map(|n| Service {
                        port: PortMatch::Range(n, n),
                        ..(*s).clone()
                    })
                })
                .collect();
            if !resolved.is_empty() {
                groups.entry(resolved).or_default().push(key);
            }
        }
        if let (Direction::Egress, Some(peer_pods)) = (dir, peer_pods) {
            // The parts do not depend on the family, their destinations do: a pod reached
            // through an ipBlock is a destination in the family of its address in the block.
            for pods in groups.values_mut() {
                pods.retain(|k| {
                    peer_pods.contains(*k)
                        || self.pods.get(*k).is_some_and(|p| {
                            blocks.iter().any(|b| match family {
                                Family::V4 => b.contains(p.ip),
                                Family::V6 => p.ipv6.is_some_and(|a| b.contains(a)),
                            })
                        })
                });
            }
        }
        if groups.len() > MAX_SHARED_PARTS {
            subs.push(self.paired_sub_rule(rule, groups, peers_all(), family));
            return subs;
        }
        for (ports, pods) in groups {
            let services = Some(service_clause(ports, family));
            subs.push(match dir {
                Direction::Ingress => SubRule {
                    applied: self.applied_clause(dir, pods, family),
                    peers: peers_all(),
                    services,
                },
                Direction::Egress => SubRule {
                    applied: self.applied_clause(dir, rule.applied_to.iter(), family),
                    peers: Some(self.peer_clause(dir, pods, &[], &BTreeSet::new(), family)),
                    services,
                },
            });
        }
        subs
    }
}
