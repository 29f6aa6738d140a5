//! Policy compiler: resolved policies and local pods in, OpenFlow flow_mods out (pure).
//!
//! The output is the complete desired flow table of a node: the pipeline's fixed flows
//! ([`crate::pipeline`]), the per-pod classification, anti-spoofing and forwarding flows, and the
//! policy flows. Each rule becomes a conjunction (`conjunction(id, k/n)`, OVS
//! `Documentation/topics/design.rst`, "Conjunctive match") over its dimensions: applied-to pods,
//! peers, services. A rule with N peer addresses, M applied-to pods and P services takes
//! N + M + P + 1 flows instead of N × M × P. A dimension that is unrestricted is left out; a rule
//! left with a single dimension gets a match-all `ip` clause so that it is still a conjunction
//! (the same trick as Antrea's "Drop all" rules).
//!
//! Precedence is realized by priorities: every rule gets its own priority in its table, in the
//! order of [`ResolvedPolicies::rules`], so "first match wins" holds by construction. Priorities
//! and rule ids come from the allocators of [`crate::alloc`], threaded from one compile to the
//! next through [`Allocation`]: a rule keeps its priority and id across compiles, a new rule
//! lands in a gap, and the priority changes a compile causes are listed in [`Compiled::moves`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use openflow::flow::{ct_state, Action, Field, FlowMod, Instruction, MacAddr, Match, MatchField};

use crate::alloc::{IdAllocator, PriorityAllocator};
use crate::pipeline::{self, apply, meters, packet_in, prio, regs, PipelineError, TableRef};
use crate::policy::resolved::{
    Direction, Peers, PodInfo, PodKey, PortMatch, Protocol, ResolvedPolicies, ResolvedRule,
    RuleAction, RuleRef, Service, Stage,
};

const ETH_TYPE_IP: u16 = 0x0800;
const ETH_TYPE_ARP: u16 = 0x0806;
/// OFPP_NORMAL.
const OFPP_NORMAL: u32 = 0xffff_fffa;

/// Cookie categories (`round(16) | category(8) | reserved(8) | object(32)`).
pub mod cookie {
    /// Fixed pipeline flows.
    pub const PIPELINE: u8 = 1;
    /// Per-pod flows (classifier, spoof guard, forwarding).
    pub const POD: u8 = 2;
    /// Policy rule flows; the object is the rule id.
    pub const POLICY: u8 = 3;
    /// K8s NetworkPolicy isolation drops; the object is 1 (egress) or 2 (ingress).
    pub const ISOLATION: u8 = 4;

    /// Packs a cookie.
    pub fn make(round: u16, category: u8, object: u32) -> u64 {
        (u64::from(round) << 48) | (u64::from(category) << 40) | u64::from(object)
    }
    /// Unpacks `(round, category, object)`.
    pub fn split(cookie: u64) -> (u16, u8, u32) {
        ((cookie >> 48) as u16, (cookie >> 40) as u8, cookie as u32)
    }
}

/// A pod attached to this node's bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPod {
    /// Which pod.
    pub key: PodKey,
    /// Its IPv4 address.
    pub ip: Ipv4Addr,
    /// Its MAC address.
    pub mac: MacAddr,
    /// Its OpenFlow port on the bridge.
    pub ofport: u32,
}

/// A rule's identity across compiles: kind, tier, policy, direction and rule name
/// (`ClusterNetworkPolicy/securityops/deny-dns/Egress/rule-0`), with `#n` appended to the n-th
/// repeat of a name. Never a position, so inserting a rule leaves the others' keys alone.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct RuleKey(pub String);

impl std::fmt::Display for RuleKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The keys of `rules`, in order.
pub fn rule_keys(rules: &[ResolvedRule]) -> Vec<RuleKey> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    rules
        .iter()
        .map(|r| {
            let base = format!(
                "{}/{}/{}/{:?}/{}",
                r.id.kind, r.id.tier, r.id.policy, r.direction, r.id.rule
            );
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            RuleKey(if *n == 1 { base } else { format!("{base}#{n}") })
        })
        .collect()
}

/// What one compile hands to the next: each table's priorities by rule, and the ids of every
/// `(rule, part)` (part 0 is the rule's id; a rule split by named ports has parts 1.. for its
/// other conjunctions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allocation {
    /// Table name -> rule -> OpenFlow priority.
    pub priorities: BTreeMap<&'static str, BTreeMap<RuleKey, u16>>,
    /// Rule and conjunction ids, with delayed reuse.
    pub ids: IdAllocator<(RuleKey, u32)>,
}

impl Allocation {
    /// The allocation as plain data (table names as strings), for the agent's state directory.
    pub fn to_saved(&self) -> SavedAllocation {
        SavedAllocation {
            priorities: self
                .priorities
                .iter()
                .map(|(t, m)| {
                    (
                        t.to_string(),
                        m.iter().map(|(k, p)| (k.clone(), *p)).collect(),
                    )
                })
                .collect(),
            ids: self.ids.clone(),
        }
    }

    /// Back from [`SavedAllocation`]; tables the pipeline no longer declares are dropped.
    pub fn from_saved(saved: SavedAllocation) -> Allocation {
        Allocation {
            priorities: saved
                .priorities
                .into_iter()
                .filter_map(|(t, rules)| {
                    let name = pipeline::TABLES.iter().find(|d| d.name == t)?.name;
                    Some((name, rules.into_iter().collect()))
                })
                .collect(),
            ids: saved.ids,
        }
    }
}

/// [`Allocation`] as it is saved (`allocation.json` of the agent's state directory).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SavedAllocation {
    /// Table name -> (rule, priority) pairs.
    pub priorities: Vec<(String, Vec<(RuleKey, u16)>)>,
    /// Rule and conjunction ids.
    pub ids: IdAllocator<(RuleKey, u32)>,
}

/// A rule whose priority a compile changed (the renumbering that goes into the same bundle).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityMove {
    /// The table.
    pub table: &'static str,
    /// The rule.
    pub rule: RuleKey,
    /// Previous priority.
    pub from: u16,
    /// New priority.
    pub to: u16,
}

/// A compiled rule, for annotating flows and counters.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledRule {
    /// Rule id: the `conj_id` of its first conjunction, written to registers, ct_label and
    /// cookies; stable across compiles ([`Allocation`]).
    pub id: u32,
    /// Identity across compiles.
    pub key: RuleKey,
    /// Which rule.
    pub rule: RuleRef,
    /// Its direction.
    pub direction: Direction,
    /// Its action.
    pub action: RuleAction,
    /// Its OpenFlow priority.
    pub priority: u16,
    /// Number of flows it uses: its conjunctive match flows (a flow shared with other rules
    /// counts for each of them), its `conj_id` flows and its metric-table flows.
    pub flows: usize,
    /// The clause sizes of each conjunction the rule became: `(peer matches, applied-to
    /// matches, service matches)`, `None` for an unrestricted dimension (see
    /// [`crate::stats`]).
    pub dims: Vec<(Option<usize>, usize, Option<usize>)>,
}

/// The compiler's output.
#[derive(Debug, Clone, Default)]
pub struct Compiled {
    /// Every flow of the node, in install order.
    pub flows: Vec<FlowMod>,
    /// The rules, by id.
    pub rules: Vec<CompiledRule>,
    /// Notes for the user.
    pub warnings: Vec<String>,
    /// The allocation to pass to the next compile.
    pub allocation: Allocation,
    /// Rules whose priority changed against the previous allocation.
    pub moves: Vec<PriorityMove>,
}

/// Compiler errors.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// A pipeline declaration was violated.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// No rule id left.
    #[error(transparent)]
    Ids(#[from] crate::alloc::IdsExhausted),
}

/// Compiles the node's desired flows from scratch. `round` goes into every cookie.
///
/// Errors: a jump the pipeline does not declare, or more rules than a priority band holds.
pub fn compile(
    policies: &ResolvedPolicies,
    local: &[LocalPod],
    round: u16,
) -> Result<Compiled, CompileError> {
    compile_with(policies, local, round, None)
}

/// [`compile`] against the `previous` compile's [`Allocation`]: rules keep their priorities and
/// ids where the order allows, and [`Compiled::moves`] lists the renumbering.
///
/// Errors: as [`compile`], and [`CompileError::Ids`] when the id space is exhausted.
pub fn compile_with(
    policies: &ResolvedPolicies,
    local: &[LocalPod],
    round: u16,
    previous: Option<&Allocation>,
) -> Result<Compiled, CompileError> {
    let mut out = Compiled::default();
    base_flows(&mut out.flows, round)?;
    pod_flows(&mut out.flows, local, round)?;
    let default = Allocation::default();
    PolicyCompiler::new(policies, local, round).run(&mut out, previous.unwrap_or(&default))?;
    Ok(out)
}

/// The priority band of a rule table.
fn band(table: &str) -> PriorityAllocator {
    match table {
        "EgressTier" | "IngressTier" => PriorityAllocator::new(prio::TIER_BOTTOM, prio::TIER_TOP),
        "EgressK8s" | "IngressK8s" => PriorityAllocator::new(prio::TIER_BOTTOM, prio::K8S_TOP),
        _ => PriorityAllocator::new(prio::BASELINE_BOTTOM, prio::BASELINE_TOP),
    }
}

/// Every pod of the model as a local pod on ports 1..=N in model order, with its MAC or the
/// default one: what `kakinectl compile` and the pipeline golden test compile against.
pub fn offline_pods(policies: &ResolvedPolicies) -> Vec<LocalPod> {
    policies
        .pods
        .iter()
        .enumerate()
        .map(|(i, p)| LocalPod {
            key: p.key.clone(),
            ip: p.ip,
            mac: MacAddr(p.mac.unwrap_or_else(|| crate::sandbox::default_mac(p.ip))),
            ofport: i as u32 + 1,
        })
        .collect()
}

fn with_cookie(mut f: FlowMod, round: u16, category: u8, object: u32) -> FlowMod {
    f.cookie = cookie::make(round, category, object);
    f
}

fn t(name: &str) -> Result<TableRef, PipelineError> {
    pipeline::table(name)
}

fn ip() -> MatchField {
    MatchField::EthType(ETH_TYPE_IP)
}

fn ct(value: u32, mask: u32) -> MatchField {
    MatchField::CtState(value, mask)
}

fn load(field: regs::RegField, value: u32) -> Action {
    Action::Load {
        field: field.field(),
        ofs: field.ofs,
        n_bits: field.n_bits,
        value: value.into(),
    }
}

fn reg_match(field: regs::RegField, value: u32) -> MatchField {
    let (v, m) = field.match_value(value);
    MatchField::Reg(field.reg, v, if m == u32::MAX { None } else { Some(m) })
}

/// The fixed flows of the pipeline: miss flows, conntrack, commit, output.
fn base_flows(flows: &mut Vec<FlowMod>, round: u16) -> Result<(), CompileError> {
    let mut push = |f: FlowMod| flows.push(with_cookie(f, round, cookie::PIPELINE, 0));
    for (i, _) in pipeline::TABLES.iter().enumerate() {
        let tr = t(pipeline::TABLES[i].name)?;
        if let Some(f) = tr.miss_flow()? {
            push(f);
        }
    }
    let arp = t("ArpResponder")?;
    push(arp.flow(
        prio::NORMAL,
        Match(vec![MatchField::EthType(ETH_TYPE_ARP)]),
        vec![apply(vec![Action::Output {
            port: OFPP_NORMAL,
            max_len: 0,
        }])],
    ));

    let zone = t("ConntrackZone")?;
    push(zone.flow(
        prio::NORMAL,
        Match(vec![ip()]),
        vec![apply(vec![Action::Ct {
            commit: false,
            zone: regs::CT_ZONE,
            table: Some(zone.next_id("ConntrackState")?),
            exec: vec![],
        }])],
    ));

    let state = t("ConntrackState")?;
    let (inv, trk, new, est, rel) = (
        ct_state::INV,
        ct_state::TRK,
        ct_state::NEW,
        ct_state::EST,
        ct_state::REL,
    );
    push(state.flow(
        prio::NORMAL,
        Match(vec![ct(inv | trk, inv | trk), ip()]),
        vec![],
    ));
    for bit in [est, rel] {
        push(state.flow(
            prio::LOW,
            Match(vec![ct(bit | trk, new | bit | trk), ip()]),
            vec![state.goto("EgressMetric")?],
        ));
    }
    push(state.flow(
        prio::LOW - 1,
        Match(vec![ct(new | trk, new | trk), ip()]),
        vec![state.goto("EgressTier")?],
    ));

    let icls = t("IngressClassifier")?;
    for bit in [est, rel] {
        push(icls.flow(
            prio::NORMAL,
            Match(vec![ct(bit | trk, new | bit | trk), ip()]),
            vec![icls.goto("IngressMetric")?],
        ));
    }

    for (name, _) in [("EgressMetric", ()), ("IngressMetric", ())] {
        let m = t(name)?;
        let (v, mask) = regs::DENY_MARK.match_value(1);
        push(m.flow(
            prio::LOW,
            Match(vec![MatchField::Reg(0, v, Some(mask))]),
            vec![],
        ));
    }

    let commit = t("ConntrackCommit")?;
    let label_move = |reg: regs::RegField, ofs: u16| Action::Move {
        src: reg.field(),
        src_ofs: 0,
        dst: Field::CtLabel,
        dst_ofs: ofs,
        n_bits: 32,
    };
    push(commit.flow(
        prio::NORMAL,
        Match(vec![ct(new | trk, new | trk), ip()]),
        vec![
            apply(vec![Action::Ct {
                commit: true,
                zone: regs::CT_ZONE,
                table: None,
                exec: vec![
                    label_move(regs::INGRESS_RULE, regs::CT_LABEL_INGRESS_OFS),
                    label_move(regs::EGRESS_RULE, regs::CT_LABEL_EGRESS_OFS),
                ],
            }]),
            commit.goto("Output")?,
        ],
    ));

    let output = t("Output")?;
    let target = regs::TARGET_OFPORT;
    push(output.flow(
        prio::LOW,
        Match::default(),
        vec![apply(vec![Action::OutputReg {
            field: target.field(),
            ofs: target.ofs,
            n_bits: target.n_bits,
        }])],
    ));
    Ok(())
}

/// Per-pod flows: classification, ARP and IP anti-spoofing, L2 forwarding.
fn pod_flows(flows: &mut Vec<FlowMod>, local: &[LocalPod], round: u16) -> Result<(), CompileError> {
    let cls = t("Classifier")?;
    let arp_guard = t("ArpSpoofGuard")?;
    let guard = t("SpoofGuard")?;
    let l2 = t("L2Forwarding")?;
    for pod in local {
        // The object is the ofport: stable while the pod lives, so adding a pod leaves the
        // other pods' flows (and cookies) alone.
        let obj = pod.ofport;
        let mut push = |f: FlowMod| flows.push(with_cookie(f, round, cookie::POD, obj));
        let in_port = MatchField::InPort(pod.ofport);
        push(cls.flow(
            prio::NORMAL,
            Match(vec![in_port.clone(), MatchField::EthType(ETH_TYPE_ARP)]),
            vec![cls.goto("ArpSpoofGuard")?],
        ));
        push(cls.flow(
            prio::LOW,
            Match(vec![in_port.clone()]),
            vec![
                apply(vec![load(regs::PKT_SOURCE, regs::SOURCE_LOCAL_POD)]),
                cls.goto("SpoofGuard")?,
            ],
        ));
        push(arp_guard.flow(
            prio::NORMAL,
            Match(vec![
                in_port.clone(),
                MatchField::EthType(ETH_TYPE_ARP),
                MatchField::ArpSpa(pod.ip, None),
                MatchField::ArpSha(pod.mac, None),
            ]),
            vec![arp_guard.goto("ArpResponder")?],
        ));
        push(guard.flow(
            prio::NORMAL,
            Match(vec![
                in_port,
                MatchField::EthSrc(pod.mac, None),
                ip(),
                MatchField::Ipv4Src(pod.ip, None),
            ]),
            vec![guard.goto("ConntrackZone")?],
        ));
        push(l2.flow(
            prio::NORMAL,
            Match(vec![MatchField::EthDst(pod.mac, None)]),
            vec![
                apply(vec![load(regs::TARGET_OFPORT, pod.ofport)]),
                l2.goto("IngressClassifier")?,
            ],
        ));
    }
    Ok(())
}

/// One clause's flows: each entry is the match fields of one flow (without eth_type).
type Clause = Vec<Vec<MatchField>>;

/// A rule, or the part of a rule with one set of resolved named ports.
struct SubRule {
    applied: Clause,
    peers: Option<Clause>,
    services: Option<Clause>,
}

struct PolicyCompiler<'a> {
    policies: &'a ResolvedPolicies,
    local: BTreeMap<&'a PodKey, &'a LocalPod>,
    pods: BTreeMap<&'a PodKey, &'a PodInfo>,
    round: u16,
    /// Conjunctive match flows, merged by (table, priority, match).
    conj_flows: BTreeMap<(u8, u16, Match), (u32, Vec<Action>)>,
}

impl<'a> PolicyCompiler<'a> {
    fn new(policies: &'a ResolvedPolicies, local: &'a [LocalPod], round: u16) -> Self {
        PolicyCompiler {
            policies,
            local: local.iter().map(|p| (&p.key, p)).collect(),
            pods: policies.pods.iter().map(|p| (&p.key, p)).collect(),
            round,
            conj_flows: BTreeMap::new(),
        }
    }

    fn run(mut self, out: &mut Compiled, previous: &Allocation) -> Result<(), CompileError> {
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
        let subs: Vec<Vec<SubRule>> = rules.iter().map(|r| self.sub_rules(r)).collect();
        let mut live: Vec<(RuleKey, u32)> = keys.iter().map(|k| (k.clone(), 0)).collect();
        for (key, parts) in keys.iter().zip(&subs) {
            live.extend((1..parts.len() as u32).map(|part| (key.clone(), part)));
        }
        out.allocation.ids = previous.ids.next(&live)?;
        let ids = &out.allocation.ids;

        let mut action_flows = Vec::new();
        for (((rule, key), table), parts) in rules.iter().zip(&keys).zip(&tables).zip(subs) {
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
                let mut clauses: Vec<Clause> = vec![sub.applied];
                clauses.extend(sub.peers);
                clauses.extend(sub.services);
                if clauses.iter().any(|c| c.is_empty()) {
                    continue; // a dimension that matches nothing: the rule never applies
                }
                if clauses.len() == 1 {
                    clauses.push(vec![vec![]]);
                }
                let n = clauses.len() as u8;
                used += 1 + clauses.iter().map(Vec::len).sum::<usize>();
                for (k, clause) in clauses.into_iter().enumerate() {
                    for fields in clause {
                        let mut m = vec![ip()];
                        m.extend(fields);
                        let key = (table.id, p, Match(m));
                        let entry = self.conj_flows.entry(key).or_insert((id, Vec::new()));
                        entry.1.push(Action::Conjunction {
                            id: conj,
                            clause: k as u8 + 1,
                            n_clauses: n,
                        });
                    }
                }
                action_flows.push(with_cookie(
                    table.flow(
                        p,
                        Match(vec![ip(), MatchField::ConjId(conj)]),
                        rule_actions(rule, id, table)?,
                    ),
                    self.round,
                    cookie::POLICY,
                    id,
                ));
            }
            for f in metric_flows(rule, id)? {
                used += 1;
                action_flows.push(with_cookie(f, self.round, cookie::POLICY, id));
            }
            out.rules.push(CompiledRule {
                id,
                key: key.clone(),
                rule: rule.id.clone(),
                direction: rule.direction,
                action: rule.action,
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

    fn isolation_flows(&self, out: &mut Compiled) -> Result<(), CompileError> {
        let eg = t("EgressDefault")?;
        for key in &self.policies.isolated_egress {
            if let Some(pod) = self.local.get(key) {
                let f = eg.flow(
                    prio::ISOLATION,
                    Match(vec![ip(), MatchField::Ipv4Src(pod.ip, None)]),
                    self.isolation_actions(key),
                );
                out.flows
                    .push(with_cookie(f, self.round, cookie::ISOLATION, 1));
            }
        }
        let ing = t("IngressDefault")?;
        for key in &self.policies.isolated_ingress {
            if let Some(pod) = self.local.get(key) {
                let f = ing.flow(
                    prio::ISOLATION,
                    Match(vec![ip(), reg_match(regs::TARGET_OFPORT, pod.ofport)]),
                    self.isolation_actions(key),
                );
                out.flows
                    .push(with_cookie(f, self.round, cookie::ISOLATION, 2));
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
    fn applied_clause<'k>(
        &self,
        dir: Direction,
        pods: impl IntoIterator<Item = &'k PodKey>,
    ) -> Clause {
        let mut set = BTreeSet::new();
        for key in pods {
            if let Some(pod) = self.local.get(key) {
                set.insert(match dir {
                    Direction::Egress => vec![MatchField::Ipv4Src(pod.ip, None)],
                    Direction::Ingress => vec![reg_match(regs::TARGET_OFPORT, pod.ofport)],
                });
            }
        }
        set.into_iter().collect()
    }

    fn peer_field(dir: Direction, net: Ipv4Net) -> Vec<MatchField> {
        if net.prefix_len() == 0 {
            return vec![];
        }
        let mask = if net.prefix_len() == 32 {
            None
        } else {
            Some(net.netmask())
        };
        vec![match dir {
            Direction::Egress => MatchField::Ipv4Dst(net.network(), mask),
            Direction::Ingress => MatchField::Ipv4Src(net.network(), mask),
        }]
    }

    fn peer_clause<'k>(
        &self,
        dir: Direction,
        pods: impl IntoIterator<Item = &'k PodKey>,
        blocks: &[crate::policy::resolved::IpBlock],
        node_ips: &BTreeSet<Ipv4Addr>,
    ) -> Clause {
        let mut set = BTreeSet::new();
        for key in pods {
            if let Some(pod) = self.pods.get(key) {
                set.insert(Self::peer_field(dir, Ipv4Net::from(pod.ip)));
            }
        }
        for ip in node_ips {
            set.insert(Self::peer_field(dir, Ipv4Net::from(*ip)));
        }
        for b in blocks {
            for net in cidr_minus(b.cidr.trunc(), &b.except) {
                set.insert(Self::peer_field(dir, net));
            }
        }
        set.into_iter().collect()
    }

    /// Splits a rule by resolved named ports (OVS matches numbers, names resolve per
    /// destination pod) and builds each part's clauses.
    fn sub_rules(&self, rule: &ResolvedRule) -> Vec<SubRule> {
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
        let peers_all = || peer_pods.map(|pods| self.peer_clause(dir, pods, blocks, node_ips));
        let Some(services) = &rule.services else {
            return vec![SubRule {
                applied: self.applied_clause(dir, &rule.applied_to),
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
                applied: self.applied_clause(dir, &rule.applied_to),
                peers: peers_all(),
                services: Some(service_clause(numeric.iter().copied().cloned())),
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
                    .filter(|(k, p)| pods.contains(**k) || blocks.iter().any(|b| b.contains(p.ip)))
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
        for (ports, pods) in groups {
            let services = Some(service_clause(ports));
            subs.push(match dir {
                Direction::Ingress => SubRule {
                    applied: self.applied_clause(dir, pods),
                    peers: peers_all(),
                    services,
                },
                Direction::Egress => SubRule {
                    applied: self.applied_clause(dir, &rule.applied_to),
                    peers: Some(self.peer_clause(dir, pods, &[], &BTreeSet::new())),
                    services,
                },
            });
        }
        subs
    }
}

/// The flows of a services clause: per service, the protocol and the prefix covers of its
/// destination range × its source range (`tp_dst` / `tp_src` masked matches); ICMP type and
/// code as `icmp_type` / `icmp_code`. Named ports must be resolved before.
fn service_clause(services: impl IntoIterator<Item = Service>) -> Clause {
    let mut set = BTreeSet::new();
    for s in services {
        let proto_field = MatchField::IpProto(s.protocol.number());
        let (lo, hi) = match s.port {
            PortMatch::Any => (0, u16::MAX),
            PortMatch::Range(lo, hi) => (lo, hi),
            PortMatch::Named(_) => continue,
            PortMatch::Icmp {
                icmp_type,
                icmp_code,
            } => {
                let mut fields = vec![proto_field];
                fields.extend(icmp_type.map(MatchField::IcmpType));
                fields.extend(icmp_code.map(MatchField::IcmpCode));
                set.insert(fields);
                continue;
            }
        };
        let (src_lo, src_hi) = s.source.unwrap_or((0, u16::MAX));
        for (value, mask) in port_range_masks(lo, hi) {
            for (src_value, src_mask) in port_range_masks(src_lo, src_hi) {
                let mut fields = vec![proto_field.clone()];
                fields.extend(port_field(s.protocol, false, value, mask));
                fields.extend(port_field(s.protocol, true, src_value, src_mask));
                set.insert(fields);
            }
        }
    }
    set.into_iter().collect()
}

/// A masked `tp_dst` (or, with `source`, `tp_src`) match; `None` for the full range.
fn port_field(protocol: Protocol, source: bool, value: u16, mask: u16) -> Option<MatchField> {
    let mask = match mask {
        0 => return None,
        u16::MAX => None,
        m => Some(m),
    };
    Some(match (protocol, source) {
        (Protocol::Tcp, false) => MatchField::TcpDst(value, mask),
        (Protocol::Udp, false) => MatchField::UdpDst(value, mask),
        (Protocol::Sctp, false) => MatchField::SctpDst(value, mask),
        (Protocol::Tcp, true) => MatchField::TcpSrc(value, mask),
        (Protocol::Udp, true) => MatchField::UdpSrc(value, mask),
        (Protocol::Sctp, true) => MatchField::SctpSrc(value, mask),
        (Protocol::Icmp, _) => return None,
    })
}

/// The table a rule's flows live in.
fn rule_table(rule: &ResolvedRule) -> Result<TableRef, PipelineError> {
    let name = match (rule.direction, rule.stage) {
        (Direction::Egress, Stage::Tier(_)) => "EgressTier",
        (Direction::Egress, Stage::K8s) => "EgressK8s",
        (Direction::Egress, Stage::Baseline | Stage::AdminBaseline) => "EgressDefault",
        (Direction::Ingress, Stage::Tier(_)) => "IngressTier",
        (Direction::Ingress, Stage::K8s) => "IngressK8s",
        (Direction::Ingress, Stage::Baseline | Stage::AdminBaseline) => "IngressDefault",
    };
    t(name)
}

fn metric_table(dir: Direction) -> Result<TableRef, PipelineError> {
    t(match dir {
        Direction::Egress => "EgressMetric",
        Direction::Ingress => "IngressMetric",
    })
}

/// A metered `controller(userdata=01.<operation>.<rule id>,meter_id=<meter>)` action.
fn to_agent(operation: u8, rule_id: u32, meter: u32) -> Action {
    Action::Controller2 {
        max_len: u16::MAX,
        reason: 1,
        id: 0,
        userdata: packet_in::userdata(operation, rule_id),
        pause: false,
        meter_id: Some(meter),
    }
}

/// The metric-table flows of a rule, which count its packets, bytes and sessions (read back by
/// `crate::observe::rule_stats`):
/// - Allow: its new connections (`reg5`/`reg6` = rule id, `+new+trk`; with `enableLogging` a
///   metered copy goes to the agent, `controller(userdata=01.01.<id>,meter_id=1)`, and the
///   packet continues) and its established packets (`-new+trk`, the rule id in `ct_label`);
/// - Drop: its packets end here (a logged rule's go to the agent first);
/// - Reject: its packets go to the agent, `controller(userdata=01.02.<id>,meter_id=2)`
///   (`01.03` when logged), which answers with RST / ICMP;
/// - Pass: none (a Pass decides nothing).
fn metric_flows(rule: &ResolvedRule, id: u32) -> Result<Vec<FlowMod>, PipelineError> {
    let metric = metric_table(rule.direction)?;
    let log = if rule.enable_logging {
        packet_in::OP_LOG
    } else {
        0
    };
    let mut disposition = regs::DENY_MARK.match_value(1);
    let actions = match rule.action {
        RuleAction::Pass => return Ok(vec![]),
        RuleAction::Allow => {
            let (allow_reg, label_ofs) = match rule.direction {
                Direction::Egress => (regs::EGRESS_RULE, regs::CT_LABEL_EGRESS_OFS),
                Direction::Ingress => (regs::INGRESS_RULE, regs::CT_LABEL_INGRESS_OFS),
            };
            let next = metric.goto(metric.table.next[0])?;
            let (trk, new) = (ct_state::TRK, ct_state::NEW);
            let mut first = vec![];
            if log != 0 {
                first.push(apply(vec![to_agent(log, id, meters::LOG)]));
            }
            first.push(next.clone());
            let label = u128::from(id) << label_ofs;
            let label_mask = u128::from(u32::MAX) << label_ofs;
            return Ok(vec![
                metric.flow(
                    prio::NORMAL,
                    Match(vec![
                        ct(new | trk, new | trk),
                        ip(),
                        reg_match(allow_reg, id),
                    ]),
                    first,
                ),
                metric.flow(
                    prio::NORMAL,
                    Match(vec![
                        ct(trk, new | trk),
                        ip(),
                        MatchField::CtLabel(label, Some(label_mask)),
                    ]),
                    vec![next],
                ),
            ]);
        }
        RuleAction::Drop if log != 0 => vec![apply(vec![to_agent(log, id, meters::LOG)])],
        RuleAction::Drop => vec![],
        RuleAction::Reject => {
            let (v, m) = regs::REJECT_MARK.match_value(1);
            disposition = (disposition.0 | v, disposition.1 | m);
            vec![apply(vec![to_agent(
                log | packet_in::OP_REJECT,
                id,
                meters::REJECT,
            )])]
        }
    };
    Ok(vec![metric.flow(
        prio::NORMAL,
        Match(vec![
            MatchField::Reg(regs::DENY_MARK.reg, disposition.0, Some(disposition.1)),
            reg_match(regs::DENY_RULE, id),
        ]),
        actions,
    )])
}

/// The instructions of a rule's `conj_id` flow.
fn rule_actions(
    rule: &ResolvedRule,
    id: u32,
    table: TableRef,
) -> Result<Vec<Instruction>, PipelineError> {
    let metric = match rule.direction {
        Direction::Egress => "EgressMetric",
        Direction::Ingress => "IngressMetric",
    };
    let allow_reg = match rule.direction {
        Direction::Egress => regs::EGRESS_RULE,
        Direction::Ingress => regs::INGRESS_RULE,
    };
    Ok(match rule.action {
        RuleAction::Allow => vec![apply(vec![load(allow_reg, id)]), table.goto(metric)?],
        RuleAction::Drop => vec![
            apply(vec![load(regs::DENY_MARK, 1), load(regs::DENY_RULE, id)]),
            table.goto(metric)?,
        ],
        RuleAction::Reject => vec![
            apply(vec![
                load(regs::DENY_MARK, 1),
                load(regs::REJECT_MARK, 1),
                load(regs::DENY_RULE, id),
            ]),
            table.goto(metric)?,
        ],
        // Out of the baseline stage, a Pass skips to K8s NetworkPolicy; inside it (a v1alpha2
        // Baseline-tier Pass), past the rest of the stage to the default allow.
        RuleAction::Pass => match rule.stage {
            Stage::Baseline | Stage::AdminBaseline => vec![table.goto(metric)?],
            Stage::Tier(_) | Stage::K8s => vec![table.goto(match rule.direction {
                Direction::Egress => "EgressK8s",
                Direction::Ingress => "IngressK8s",
            })?],
        },
    })
}

/// `net` minus every `except` network, as a minimal list of disjoint CIDRs.
pub fn cidr_minus(net: Ipv4Net, except: &[Ipv4Net]) -> Vec<Ipv4Net> {
    if except.iter().any(|e| e.contains(&net)) {
        return vec![];
    }
    if !except.iter().any(|e| net.contains(e)) {
        return vec![net];
    }
    match net.subnets(net.prefix_len() + 1) {
        Ok(halves) => halves.flat_map(|h| cidr_minus(h, except)).collect(),
        Err(_) => vec![],
    }
}

/// A minimal set of (value, mask) pairs covering `lo..=hi` (OVS bitwise port match). A full
/// range gives `[(0, 0)]`; a single port gives `[(port, 0xffff)]`.
pub fn port_range_masks(lo: u16, hi: u16) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    let (mut start, end) = (u32::from(lo), u32::from(hi));
    while start <= end {
        // The largest aligned block starting at `start` that stays inside the range.
        let mut size = if start == 0 {
            1u32 << 16
        } else {
            1u32 << start.trailing_zeros()
        };
        while start + size - 1 > end {
            size >>= 1;
        }
        out.push((start as u16, !((size - 1) as u16)));
        start += size;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_become_a_minimal_prefix_cover() {
        assert_eq!(port_range_masks(80, 80), vec![(80, 0xffff)]);
        assert_eq!(port_range_masks(0, 65535), vec![(0, 0)]);
        assert_eq!(
            port_range_masks(8080, 8082),
            vec![(8080, 0xfffe), (8082, 0xffff)]
        );
        assert_eq!(port_range_masks(1, 3), vec![(1, 0xffff), (2, 0xfffe)]);
        // Every port in and only in the range is covered, for a few odd ranges.
        for (lo, hi) in [(1u16, 1000u16), (1024, 65535), (7, 9), (65535, 65535)] {
            let cover = port_range_masks(lo, hi);
            for p in 0..=65535u16 {
                let hit = cover.iter().any(|(v, m)| p & m == *v);
                assert_eq!(hit, p >= lo && p <= hi, "port {p} for {lo}..={hi}");
            }
        }
    }

    #[test]
    fn ipblock_except_is_a_set_difference() {
        let net: Ipv4Net = "10.0.0.0/24".parse().unwrap();
        let ex: Ipv4Net = "10.0.0.128/25".parse().unwrap();
        assert_eq!(
            cidr_minus(net, &[ex]),
            vec!["10.0.0.0/25".parse::<Ipv4Net>().unwrap()]
        );
        let ex2: Ipv4Net = "10.0.0.5/32".parse().unwrap();
        let parts = cidr_minus(net, &[ex2]);
        assert_eq!(parts.len(), 8);
        for i in 0..=255u8 {
            let ip = Ipv4Addr::new(10, 0, 0, i);
            assert_eq!(parts.iter().any(|p| p.contains(&ip)), i != 5);
        }
        assert!(cidr_minus(ex2, &[net]).is_empty());
    }

    #[test]
    fn cookies_pack_round_category_and_object() {
        let c = cookie::make(7, cookie::POLICY, 42);
        assert_eq!(c, 0x0007_0300_0000_002a);
        assert_eq!(cookie::split(c), (7, cookie::POLICY, 42));
    }
}
