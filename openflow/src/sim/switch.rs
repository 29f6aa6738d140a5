//! [`FakeSwitch`]: flow tables, registers and conntrack, executed the way `ovs-vswitchd`
//! translates a packet (OF1.3 §5.1-5.10, OVS `ofproto-dpif-xlate.c` and the classifier's
//! conjunctive match).

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::action::port;
use crate::bundle::BundleCtrlType;
use crate::flow::{Action, Field, FlowMod, Instruction, MacAddr};
use crate::message::{frame_len, Message};
use crate::oxm::{mac_bits, ones, Fid};

use super::conntrack::Conntrack;
use super::packet::Packet;
use super::table::{Entry, Tables};
use super::trace::{OutPort, Step, Trace, Verdict};
use super::SimError;

/// OVS's limit on nested resubmits (`MAX_DEPTH` in `ofproto-dpif-xlate.c`).
const MAX_DEPTH: u8 = 64;
/// OVS's limit on recirculations of one packet.
const MAX_PASSES: u8 = 32;

/// An in-process Open vSwitch bridge for tests: it takes the flow_mods kakine sends (as
/// [`FlowMod`] values or encoded bytes) and answers what a packet does, like
/// `ovs-appctl ofproto/trace` on a real bridge, without OVS.
///
/// Conntrack state persists across packets, so a test can send a SYN and then its reply.
#[derive(Debug, Clone, Default)]
pub struct FakeSwitch {
    tables: Tables,
    conntrack: Conntrack,
    bundles: BTreeMap<u32, Vec<FlowMod>>,
}

/// The pipeline metadata and headers of a packet in flight.
#[derive(Debug, Clone)]
struct State {
    pkt: Packet,
    regs: [u32; 16],
    metadata: u64,
    ct_state: u32,
    ct_zone: u16,
    ct_mark: u32,
    ct_label: u128,
    action_set: Vec<Action>,
    pass: u8,
}

impl State {
    fn new(pkt: Packet) -> State {
        State {
            pkt,
            regs: [0; 16],
            metadata: 0,
            ct_state: 0,
            ct_zone: 0,
            ct_mark: 0,
            ct_label: 0,
            action_set: Vec::new(),
            pass: 0,
        }
    }

    /// A match field's value; `conj_id` is only non-zero during a conjunction's re-lookup.
    fn value(&self, fid: Fid, conj_id: u32) -> u128 {
        match fid {
            Fid::Reg(n) => u128::from(self.regs[n as usize & 15]),
            Fid::CtState => u128::from(self.ct_state),
            Fid::CtZone => u128::from(self.ct_zone),
            Fid::CtMark => u128::from(self.ct_mark),
            Fid::CtLabel => self.ct_label,
            Fid::ConjId => u128::from(conj_id),
            f => self.pkt.header(f).unwrap_or(0),
        }
    }

    fn matches(&self, e: &Entry, conj_id: u32) -> bool {
        e.fields
            .iter()
            .all(|(fid, v, m)| self.value(*fid, conj_id) & m == *v)
    }

    fn get(&self, field: Field) -> u128 {
        match field {
            Field::Reg(n) => u128::from(self.regs[n as usize & 15]),
            Field::CtMark => u128::from(self.ct_mark),
            Field::CtLabel => self.ct_label,
            Field::InPort => u128::from(self.pkt.in_port),
            Field::EthSrc => mac_bits(self.pkt.eth_src),
            Field::EthDst => mac_bits(self.pkt.eth_dst),
            f if f == TUN_DST => u128::from(u32::from(self.pkt.tun_dst)),
            f if f == ARP_OP => u128::from(self.pkt.arp_op),
            f if f == ARP_SPA => u128::from(u32::from(self.pkt.arp_spa)),
            f if f == ARP_TPA => u128::from(u32::from(self.pkt.arp_tpa)),
            f if f == ARP_SHA => mac_bits(self.pkt.arp_sha),
            f if f == ARP_THA => 0,
            // Validation admits only the register families here (see `table::validate_action`).
            Field::Nxm(_) => field.registers().map_or(0, |(first, n)| {
                (first..first + n).fold(0u128, |acc, r| {
                    acc << 32 | u128::from(self.regs[r as usize & 15])
                })
            }),
        }
    }

    fn set(&mut self, field: Field, v: u128) {
        match field {
            Field::Reg(n) => self.regs[n as usize & 15] = v as u32,
            Field::CtMark => self.ct_mark = v as u32,
            Field::CtLabel => self.ct_label = v,
            Field::InPort => self.pkt.in_port = v as u32,
            Field::EthSrc => self.pkt.eth_src = mac(v),
            Field::EthDst => self.pkt.eth_dst = mac(v),
            f if f == TUN_DST => self.pkt.tun_dst = Ipv4Addr::from(v as u32),
            f if f == ARP_OP => self.pkt.arp_op = v as u16,
            f if f == ARP_SPA => self.pkt.arp_spa = Ipv4Addr::from(v as u32),
            f if f == ARP_TPA => self.pkt.arp_tpa = Ipv4Addr::from(v as u32),
            f if f == ARP_SHA => self.pkt.arp_sha = mac(v),
            // The target hardware address is not modelled (no probe reads it).
            f if f == ARP_THA => {}
            Field::Nxm(_) => {
                if let Some((first, n)) = field.registers() {
                    for (i, r) in (first..first + n).enumerate() {
                        let shift = 32 * (n as usize - 1 - i);
                        self.regs[r as usize & 15] = (v >> shift) as u32;
                    }
                }
            }
        }
    }
}

/// NXM_NX_TUN_IPV4_DST, the one tunnel field the switch models (a flow sets it before output
/// to a flow-based tunnel port; [`Verdict::tun_dst`] reports it).
pub(crate) const TUN_DST: Field = Field::Nxm(0x0001_4004);
/// NXM_OF_ARP_OP and the ARP address fields an ARP responder rewrites (OVS's
/// `arpResponder` flows); the target hardware address is accepted but not kept.
pub(crate) const ARP_OP: Field = Field::Nxm(0x0000_1e02);
pub(crate) const ARP_SPA: Field = Field::Nxm(0x0000_2004);
pub(crate) const ARP_TPA: Field = Field::Nxm(0x0000_2204);
pub(crate) const ARP_SHA: Field = Field::Nxm(0x0001_2206);
pub(crate) const ARP_THA: Field = Field::Nxm(0x0001_2406);

/// The non-register fields the switch models in `load`/`move` (validation admits them).
pub(crate) const MODELLED: [Field; 6] = [TUN_DST, ARP_OP, ARP_SPA, ARP_TPA, ARP_SHA, ARP_THA];

fn mac(v: u128) -> MacAddr {
    let b = (v as u64).to_be_bytes();
    MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// `dst[ofs..ofs+n]` set to the low `n` bits of `v`.
fn put_bits(dst: u128, ofs: u16, n: u16, v: u128) -> u128 {
    let m = ones(n as u32) << ofs;
    (dst & !m) | ((v << ofs) & m)
}

fn get_bits(src: u128, ofs: u16, n: u16) -> u128 {
    (src >> ofs) & ones(n as u32)
}

/// A lookup's result: the flow, and the conjunction id that led to it.
type Hit = (Arc<Entry>, Option<u32>);

/// One packet's translation: the tables (shared), conntrack (mutable), the trace being built.
struct Xlate<'a> {
    tables: &'a Tables,
    conntrack: &'a mut Conntrack,
    steps: Vec<Step>,
    outputs: Vec<OutPort>,
    packet_ins: Vec<Vec<u8>>,
    tun_dst: Option<Ipv4Addr>,
    recircs: VecDeque<(State, u8)>,
}

impl Xlate<'_> {
    /// The flow a packet hits in `table`, with the conjunction id that led there.
    ///
    /// Per priority, highest first: flows whose actions are only `conjunction(...)` are soft
    /// matches; when every clause of an id has one, the table is looked up again with
    /// `conj_id` set and that result wins; otherwise the soft matches are discarded and a
    /// normal flow at this priority (or below) is taken (OVS `classifier_lookup__`).
    fn lookup(&self, table: u8, st: &State) -> Result<Option<Hit>, SimError> {
        let flows = &self.tables.tables[table as usize];
        let mut i = 0;
        while i < flows.len() {
            let prio = flows[i].priority;
            let end = i + flows[i..].partition_point(|e| e.priority == prio);
            let mut hard: Vec<&Arc<Entry>> = Vec::new();
            // (id, n_clauses, clause bits seen)
            let mut clauses: Vec<(u32, u8, u64)> = Vec::new();
            for e in &flows[i..end] {
                if !st.matches(e, 0) {
                    continue;
                }
                if e.conj.is_empty() {
                    hard.push(e);
                    continue;
                }
                for c in &e.conj {
                    let bit = 1u64 << (c.clause - 1);
                    match clauses.iter_mut().find(|(id, _, _)| *id == c.id) {
                        Some(x) => x.2 |= bit,
                        None => clauses.push((c.id, c.n_clauses, bit)),
                    }
                }
            }
            let done = clauses
                .iter()
                .filter(|(_, n, bits)| *bits == ones(u32::from(*n)) as u64)
                .map(|(id, _, _)| *id)
                .min();
            if let Some(id) = done {
                if let Some(e) = self.hard_lookup(table, st, id)? {
                    return Ok(Some((e, Some(id))));
                }
            }
            match hard.len() {
                0 => {}
                1 => return Ok(Some((hard[0].clone(), None))),
                _ => return Err(ambiguous(table, prio, &hard)),
            }
            i = end;
        }
        Ok(None)
    }

    /// Highest-priority normal flow with `conj_id` set (the re-lookup of a conjunction).
    fn hard_lookup(
        &self,
        table: u8,
        st: &State,
        conj_id: u32,
    ) -> Result<Option<Arc<Entry>>, SimError> {
        let flows = &self.tables.tables[table as usize];
        let mut hit: Vec<&Arc<Entry>> = Vec::new();
        for e in flows {
            if hit.first().is_some_and(|h| h.priority != e.priority) {
                break;
            }
            if e.conj.is_empty() && st.matches(e, conj_id) {
                hit.push(e);
            }
        }
        match hit.len() {
            0 => Ok(None),
            1 => Ok(Some(hit[0].clone())),
            _ => Err(ambiguous(table, hit[0].priority, &hit)),
        }
    }

    /// Runs the pipeline from `table` until a flow without `goto_table` or a miss.
    fn pipeline(&mut self, st: &mut State, mut table: u8, depth: u8) -> Result<(), SimError> {
        if depth > MAX_DEPTH {
            return Err(SimError::TooDeep(table));
        }
        loop {
            let Some((e, conj_id)) = self.lookup(table, st)? else {
                self.steps.push(Step {
                    pass: st.pass,
                    depth,
                    table,
                    ct_state: st.ct_state,
                    priority: None,
                    cookie: 0,
                    flow: None,
                    actions: Arc::new([]),
                    conj_id: None,
                });
                return Ok(());
            };
            self.steps.push(Step {
                pass: st.pass,
                depth,
                table,
                ct_state: st.ct_state,
                priority: Some(e.priority),
                cookie: e.cookie,
                flow: Some(e.text.clone()),
                actions: e.instructions.clone(),
                conj_id,
            });
            let mut next = None;
            // Sorted on install into the order of OF1.3 §5.9.
            for ins in e.instructions.iter() {
                match ins {
                    Instruction::ApplyActions(acts) => self.actions(st, acts, depth)?,
                    Instruction::ClearActions => st.action_set.clear(),
                    Instruction::WriteActions(acts) => {
                        for a in acts {
                            let d = std::mem::discriminant(a);
                            st.action_set.retain(|x| std::mem::discriminant(x) != d);
                            st.action_set.push(a.clone());
                        }
                    }
                    Instruction::WriteMetadata(v, m) => {
                        st.metadata = (st.metadata & !m) | (v & m);
                    }
                    Instruction::GotoTable(t) => next = Some(*t),
                    // Metering is not modelled; the others are refused on install.
                    Instruction::Meter(_)
                    | Instruction::Experimenter { .. }
                    | Instruction::Unknown { .. } => {}
                }
            }
            match next {
                Some(t) => table = t,
                None => return Ok(()),
            }
        }
    }

    /// A top-level pass: the pipeline from `table`, then the action set (outputs last).
    fn pass(&mut self, mut st: State, table: u8) -> Result<(), SimError> {
        self.pipeline(&mut st, table, 0)?;
        let mut set = std::mem::take(&mut st.action_set);
        set.sort_by_key(|a| matches!(a, Action::Output { .. } | Action::OutputReg { .. }));
        self.actions(&mut st, &set, 0)
    }

    fn output(&mut self, st: &State, p: u32) {
        let o = match p {
            port::NORMAL => OutPort::Normal,
            port::CONTROLLER => {
                self.packet_ins.push(Vec::new());
                OutPort::Controller
            }
            port::FLOOD => OutPort::Flood,
            port::ALL => OutPort::All,
            port::LOCAL => OutPort::Local,
            port::IN_PORT => OutPort::Port(st.pkt.in_port),
            // OVS skips output to the input port unless it is written as IN_PORT.
            p if p == st.pkt.in_port || p >= port::MAX => return,
            p => OutPort::Port(p),
        };
        if matches!(o, OutPort::Port(_)) && !st.pkt.tun_dst.is_unspecified() {
            self.tun_dst = Some(st.pkt.tun_dst);
        }
        self.outputs.push(o);
    }

    fn actions(&mut self, st: &mut State, acts: &[Action], depth: u8) -> Result<(), SimError> {
        for a in acts {
            match a {
                Action::Output { port, .. } => self.output(st, *port),
                Action::OutputReg { field, ofs, n_bits } => {
                    let p = get_bits(st.get(*field), *ofs, *n_bits) as u32;
                    self.output(st, p);
                }
                Action::Controller { .. } => {
                    self.outputs.push(OutPort::Controller);
                    self.packet_ins.push(Vec::new());
                }
                Action::Controller2 { userdata, .. } => {
                    self.outputs.push(OutPort::Controller);
                    self.packet_ins.push(userdata.clone());
                }
                Action::Load {
                    field,
                    ofs,
                    n_bits,
                    value,
                }
                | Action::RegLoad {
                    field,
                    ofs,
                    n_bits,
                    value,
                } => {
                    let v = put_bits(st.get(*field), *ofs, *n_bits, *value);
                    st.set(*field, v);
                }
                Action::Move {
                    src,
                    src_ofs,
                    dst,
                    dst_ofs,
                    n_bits,
                } => {
                    let bits = get_bits(st.get(*src), *src_ofs, *n_bits);
                    let v = put_bits(st.get(*dst), *dst_ofs, *n_bits, bits);
                    st.set(*dst, v);
                }
                Action::Ct {
                    commit,
                    zone,
                    table,
                    exec,
                } => self.ct(st, *commit, *zone, *table, exec)?,
                Action::Resubmit { table } => {
                    let saved = std::mem::take(&mut st.action_set);
                    self.pipeline(st, *table, depth + 1)?;
                    st.action_set = saved;
                }
                Action::CtClear => {
                    st.ct_state = 0;
                    st.ct_zone = 0;
                    st.ct_mark = 0;
                    st.ct_label = 0;
                }
                Action::Conjunction { .. }
                | Action::Note(_)
                | Action::Group(_)
                | Action::DecTtl
                | Action::Raw { .. } => {}
                // Header rewrites, queues, exit, ct_clear and resubmit by port are not modelled.
                _ => {}
            }
        }
        Ok(())
    }

    /// `ct(...)`: look the packet up in `zone`, commit it (running `exec` on the connection),
    /// and with `table` fork a tracked copy that recirculates there. The packet itself goes on
    /// untracked, as in OVS.
    fn ct(
        &mut self,
        st: &State,
        commit: bool,
        zone: u16,
        table: Option<u8>,
        exec: &[Action],
    ) -> Result<(), SimError> {
        let found = self.conntrack.lookup(zone, &st.pkt);
        let (mut mark, mut label) = found
            .key
            .and_then(|k| self.conntrack.get(&k))
            .map_or((0, 0), |c| (c.mark, c.label));
        if let (true, Some(key)) = (commit, found.key) {
            let conn = self.conntrack.commit(key);
            let mut scratch = st.clone();
            scratch.ct_mark = conn.mark;
            scratch.ct_label = conn.label;
            self.actions(&mut scratch, exec, 0)?;
            let conn = self.conntrack.commit(key);
            conn.mark = scratch.ct_mark;
            conn.label = scratch.ct_label;
            (mark, label) = (conn.mark, conn.label);
        }
        if let Some(t) = table {
            if st.pass + 1 >= MAX_PASSES {
                return Err(SimError::TooDeep(t));
            }
            let mut fork = st.clone();
            fork.ct_state = found.state;
            fork.ct_zone = zone;
            fork.ct_mark = mark;
            fork.ct_label = label;
            fork.action_set.clear();
            fork.pass = st.pass + 1;
            self.recircs.push_back((fork, t));
        }
        Ok(())
    }
}

fn ambiguous(table: u8, priority: u16, flows: &[&Arc<Entry>]) -> SimError {
    SimError::Ambiguous {
        table,
        priority,
        flows: flows.iter().map(|e| e.text.to_string()).collect(),
    }
}

impl FakeSwitch {
    /// An empty bridge: no flows (every packet drops) and no connections.
    pub fn new() -> FakeSwitch {
        FakeSwitch {
            tables: Tables::new(),
            conntrack: Conntrack::default(),
            bundles: BTreeMap::new(),
        }
    }

    /// Executes one flow_mod, like `ovs-ofctl add-flow` / `mod-flows` / `del-flows`; returns
    /// how many flows it added, changed or removed.
    ///
    /// Errors: what OVS rejects (see [`SimError`]); the tables are unchanged then.
    pub fn apply(&mut self, fm: &FlowMod) -> Result<usize, SimError> {
        self.tables.apply(fm)
    }

    /// Executes every flow_mod in order, atomically (all or none, like a bundle).
    pub fn apply_all<'a>(
        &mut self,
        fms: impl IntoIterator<Item = &'a FlowMod>,
    ) -> Result<(), SimError> {
        let mut t = self.tables.clone();
        for fm in fms {
            t.apply(fm)?;
        }
        self.tables = t;
        Ok(())
    }

    /// Executes the OpenFlow 1.3 messages in `bytes` (one or more, back to back) as the bridge
    /// would: FLOW_MODs, and ONF bundles (OPEN / ADD / COMMIT applied atomically, DISCARD);
    /// barriers, echo and the other messages that do not change the tables are ignored.
    /// Returns how many flows were added, changed or removed.
    pub fn apply_message(&mut self, bytes: &[u8]) -> Result<usize, SimError> {
        let mut n = 0;
        let mut rest = bytes;
        while !rest.is_empty() {
            let len = match frame_len(rest) {
                Some(l) if (8..=rest.len()).contains(&l) => l,
                _ => rest.len(),
            };
            let (_, msg) = Message::decode(&rest[..len])?;
            rest = &rest[len..];
            n += self.message(msg)?;
        }
        Ok(n)
    }

    fn message(&mut self, msg: Message) -> Result<usize, SimError> {
        match msg {
            Message::FlowMod(fm) => self.apply(&fm),
            Message::BundleAdd {
                bundle_id, message, ..
            } => match *message {
                Message::FlowMod(fm) => {
                    self.bundles.entry(bundle_id).or_default().push(fm);
                    Ok(0)
                }
                other => Err(SimError::NotFlowMod { kind: other.kind() }),
            },
            Message::BundleControl(c) => match c.kind {
                BundleCtrlType::OpenRequest => {
                    self.bundles.insert(c.bundle_id, Vec::new());
                    Ok(0)
                }
                BundleCtrlType::CommitRequest => {
                    let fms = self.bundles.remove(&c.bundle_id).unwrap_or_default();
                    self.apply_all(&fms)?;
                    Ok(fms.len())
                }
                BundleCtrlType::DiscardRequest => {
                    self.bundles.remove(&c.bundle_id);
                    Ok(0)
                }
                _ => Ok(0),
            },
            _ => Ok(0),
        }
    }

    /// Sends `pkt` through the pipeline from table 0; the verdict and every lookup, like
    /// `ovs-appctl ofproto/trace` (but committing to conntrack, as a real packet would).
    ///
    /// Errors: [`SimError::Ambiguous`] when two flows tie, [`SimError::TooDeep`].
    pub fn trace(&mut self, pkt: &Packet) -> Result<Trace, SimError> {
        let mut x = Xlate {
            tables: &self.tables,
            conntrack: &mut self.conntrack,
            steps: Vec::new(),
            outputs: Vec::new(),
            packet_ins: Vec::new(),
            tun_dst: None,
            recircs: VecDeque::new(),
        };
        x.pass(State::new(*pkt), 0)?;
        while let Some((st, table)) = x.recircs.pop_front() {
            x.pass(st, table)?;
        }
        let dropped = x.outputs.is_empty();
        Ok(Trace {
            steps: x.steps,
            verdict: Verdict {
                outputs: x.outputs,
                dropped,
                packet_ins: x.packet_ins,
                tun_dst: x.tun_dst,
            },
        })
    }

    /// [`FakeSwitch::trace`] without the steps.
    pub fn process(&mut self, pkt: &Packet) -> Result<Verdict, SimError> {
        self.trace(pkt).map(|t| t.verdict)
    }

    /// The connection tracker.
    pub fn conntrack(&self) -> &Conntrack {
        &self.conntrack
    }

    /// The connection tracker, to flush or inspect.
    pub fn conntrack_mut(&mut self) -> &mut Conntrack {
        &mut self.conntrack
    }

    /// Number of installed flows.
    pub fn flow_count(&self) -> usize {
        self.tables.len()
    }

    /// The flows of `table` in lookup order, in `ovs-ofctl dump-flows` syntax.
    pub fn dump_flows(&self, table: u8) -> Vec<String> {
        self.tables
            .tables
            .get(table as usize)
            .map(|t| t.iter().map(|e| e.text.to_string()).collect())
            .unwrap_or_default()
    }
}
