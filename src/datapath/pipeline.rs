//! The OVS pipeline, declared once as data.
//!
//! Every table is a row of [`TABLES`]: its name (pushed to OVS as `Flow_Table.name`, so
//! `ovs-ofctl dump-flows --names br-int table=IngressTier` works), its stage, what a packet that
//! matches no flow does, and the tables a flow in it may jump to. Table ids come from the order of
//! the rows. Flows are only built through [`Table::flow`], and [`Table::goto`] refuses a jump that
//! the declaration does not allow, so a wrong `goto_table` is an error when the compiler runs, not
//! a packet silently dropped in OVS. `docs/pipeline.md` is checked against this table by a test.
//!
//! Registers, conntrack zone and ct_label bits are declared here too ([`regs`]).

use openflow::flow::{Action, FlowMod, Instruction, Match};

/// What happens to a packet that matches no flow in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// Dropped.
    Drop,
    /// Continues in the next table (`goto_table:<id+1>` at priority 0).
    Next,
}

/// A pipeline stage (ARCHITECTURE.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Classification by in_port and anti-spoofing.
    Classify,
    /// Conntrack lookup and state checks.
    Conntrack,
    /// Egress security: tiered policy, K8s NetworkPolicy, defaults and baseline, metrics.
    EgressSecurity,
    /// L3/L2 forwarding to local pods.
    Routing,
    /// Ingress security, the same four tables for traffic to local pods.
    IngressSecurity,
    /// Conntrack commit and output.
    Output,
}

/// One table of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    /// Name, as OVS shows it with `--names`.
    pub name: &'static str,
    /// Stage.
    pub stage: Stage,
    /// Table-miss behaviour.
    pub miss: Miss,
    /// Tables a flow of this one may `goto_table` or `ct(table=...)` to.
    pub next: &'static [&'static str],
    /// One line for `docs/pipeline.md`.
    pub doc: &'static str,
}

/// The pipeline, in table-id order (id = index).
pub const TABLES: &[Table] = &[
    Table {
        name: "Classifier",
        stage: Stage::Classify,
        miss: Miss::Drop,
        next: &["ArpSpoofGuard", "ArpResponder", "SpoofGuard", "ConntrackZone"],
        doc: "by in_port: ARP and IPv6 neighbour discovery (ICMPv6 135/136) of a local pod to ArpSpoofGuard, IP of a local pod marks reg0[0..3]=local and goes to SpoofGuard; multi-node: ARP from the gateway to ArpResponder, IP from the gateway (reg0[0..3]=1) and the tunnel (reg0[0..3]=2) to ConntrackZone",
    },
    Table {
        name: "ArpSpoofGuard",
        stage: Stage::Classify,
        miss: Miss::Drop,
        next: &["ArpResponder"],
        doc: "ARP is accepted only with the pod's own arp_spa and arp_sha; neighbour discovery only with its own dl_src (an advertisement: its own address as nd_target)",
    },
    Table {
        name: "ArpResponder",
        stage: Stage::Classify,
        miss: Miss::Drop,
        next: &[],
        doc: "multi-node: a request for the gateway address is answered with the gateway MAC (out IN_PORT); other ARP and neighbour discovery are switched with the NORMAL action",
    },
    Table {
        name: "SpoofGuard",
        stage: Stage::Classify,
        miss: Miss::Drop,
        next: &["ConntrackZone"],
        doc: "IP is accepted only with the pod's own in_port, dl_src and nw_src (IPv6: ipv6_src)",
    },
    Table {
        name: "ConntrackZone",
        stage: Stage::Conntrack,
        miss: Miss::Drop,
        next: &["ConntrackState"],
        doc: "ct(zone=65520) and recirculate to ConntrackState",
    },
    Table {
        name: "ConntrackState",
        stage: Stage::Conntrack,
        miss: Miss::Drop,
        next: &["EgressTier", "EgressMetric"],
        doc: "+inv drops; -new+est and -new+rel skip policy to EgressMetric; +new goes to EgressTier",
    },
    Table {
        name: "EgressTier",
        stage: Stage::EgressSecurity,
        miss: Miss::Next,
        next: &["EgressK8s", "EgressMetric"],
        doc: "tiered egress rules (all tiers but baseline): conjunctive matches; Allow and Drop to EgressMetric, Pass to EgressK8s",
    },
    Table {
        name: "EgressK8s",
        stage: Stage::EgressSecurity,
        miss: Miss::Next,
        next: &["EgressDefault", "EgressMetric"],
        doc: "K8s NetworkPolicy egress allow rules to EgressMetric",
    },
    Table {
        name: "EgressDefault",
        stage: Stage::EgressSecurity,
        miss: Miss::Next,
        next: &["EgressMetric"],
        doc: "K8s egress isolation drops (priority 200; a metered controller(max_len=160,userdata=01.01.00.00.00.00) copy in namespaces with NetworkPolicy logging) and baseline-tier egress rules below them",
    },
    Table {
        name: "EgressMetric",
        stage: Stage::EgressSecurity,
        miss: Miss::Next,
        next: &["L3Forwarding"],
        doc: "per-rule counters: an Allow rule's new connections (reg5 = rule id, +new) and its established packets (ct_label[32..63] = rule id); packets denied by a Drop rule (reg0[10], rule id in reg3) drop here, those of a Reject rule (reg0[10..11]) go to the agent: controller(max_len=160,userdata=01.02.<rule id>,meter_id=2); logged rules send a copy: controller(max_len=160,userdata=01.01.<rule id>,meter_id=1)",
    },
    Table {
        name: "L3Forwarding",
        stage: Stage::Routing,
        miss: Miss::Next,
        next: &["L2Forwarding", "IngressClassifier"],
        doc: "multi-node: a remote node's pod CIDR or IP sets tun_dst to that node and reg1 to the tunnel (to IngressClassifier); a routed packet (dl_dst = gateway MAC) to a local pod gets the pod's MAC; single node: nothing to route",
    },
    Table {
        name: "L2Forwarding",
        stage: Stage::Routing,
        miss: Miss::Drop,
        next: &["IngressClassifier"],
        doc: "by dl_dst of a local pod: its ofport into reg1; multi-node: the gateway MAC (node IPs, the host, outside the cluster) to the gateway port",
    },
    Table {
        name: "IngressClassifier",
        stage: Stage::IngressSecurity,
        miss: Miss::Next,
        next: &["IngressTier", "IngressMetric"],
        doc: "-new+est and -new+rel skip ingress policy to IngressMetric; so does traffic from a pod's own node (nw_src = node IP, reg1 = the pod's ofport; multi-node: nw_src = the gateway address)",
    },
    Table {
        name: "IngressTier",
        stage: Stage::IngressSecurity,
        miss: Miss::Next,
        next: &["IngressK8s", "IngressMetric"],
        doc: "tiered ingress rules (applied-to pods matched by reg1 = ofport); Allow and Drop to IngressMetric, Pass to IngressK8s",
    },
    Table {
        name: "IngressK8s",
        stage: Stage::IngressSecurity,
        miss: Miss::Next,
        next: &["IngressDefault", "IngressMetric"],
        doc: "K8s NetworkPolicy ingress allow rules to IngressMetric",
    },
    Table {
        name: "IngressDefault",
        stage: Stage::IngressSecurity,
        miss: Miss::Next,
        next: &["IngressMetric"],
        doc: "K8s ingress isolation drops (priority 200, logged as in EgressDefault) and baseline-tier ingress rules below them",
    },
    Table {
        name: "IngressMetric",
        stage: Stage::IngressSecurity,
        miss: Miss::Next,
        next: &["ConntrackCommit"],
        doc: "per-rule counters (reg6 and ct_label[0..31] for Allow rules); packets denied by a Drop rule drop here, those of a Reject rule go to the agent (packet-in); logged rules send a metered copy",
    },
    Table {
        name: "ConntrackCommit",
        stage: Stage::Output,
        miss: Miss::Next,
        next: &["Output"],
        doc: "+new+trk: ct(commit) with the egress and ingress rule ids copied into ct_label",
    },
    Table {
        name: "Output",
        stage: Stage::Output,
        miss: Miss::Drop,
        next: &[],
        doc: "output to the port in reg1",
    },
];

// The pipeline must fit OpenFlow's table id space below OFPTT_ALL.
const _: () = assert!(TABLES.len() < 0xff);

/// Registers, ct zone and ct_label layout. One declared map; the non-overlap of register
/// bit ranges is checked by a test.
pub mod regs {
    use openflow::flow::Field;

    /// A named bit range of a register.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct RegField {
        /// Name, for docs and errors.
        pub name: &'static str,
        /// Register number (NXM_NX_REG`n`).
        pub reg: u8,
        /// First bit.
        pub ofs: u16,
        /// Width in bits.
        pub n_bits: u16,
    }

    impl RegField {
        /// The openflow field of the register.
        pub fn field(&self) -> Field {
            Field::Reg(self.reg)
        }
        /// The (value, mask) that matches `value` in this range.
        pub fn match_value(&self, value: u32) -> (u32, u32) {
            let mask = if self.n_bits == 32 {
                u32::MAX
            } else {
                ((1u32 << self.n_bits) - 1) << self.ofs
            };
            ((value << self.ofs) & mask, mask)
        }
    }

    /// reg0[0..3]: where the packet came from (1 = gateway, 2 = tunnel, 3 = local pod).
    pub const PKT_SOURCE: RegField = RegField {
        name: "PktSource",
        reg: 0,
        ofs: 0,
        n_bits: 4,
    };
    /// reg0[10]: a Drop/Reject rule decided; the packet drops in the metric table.
    pub const DENY_MARK: RegField = RegField {
        name: "DenyMark",
        reg: 0,
        ofs: 10,
        n_bits: 1,
    };
    /// reg0[11]: the deciding rule is a Reject (set with [`DENY_MARK`]): the metric table sends
    /// the packet to the agent instead of dropping it.
    pub const REJECT_MARK: RegField = RegField {
        name: "RejectMark",
        reg: 0,
        ofs: 11,
        n_bits: 1,
    };
    /// reg1: output ofport of the packet (set by L2Forwarding, matched by ingress rules).
    pub const TARGET_OFPORT: RegField = RegField {
        name: "TargetOfport",
        reg: 1,
        ofs: 0,
        n_bits: 32,
    };
    /// reg3: id of the Drop/Reject rule that denied the packet.
    pub const DENY_RULE: RegField = RegField {
        name: "DenyRuleId",
        reg: 3,
        ofs: 0,
        n_bits: 32,
    };
    /// reg5: id of the egress rule that allowed the packet.
    pub const EGRESS_RULE: RegField = RegField {
        name: "EgressRuleId",
        reg: 5,
        ofs: 0,
        n_bits: 32,
    };
    /// reg6: id of the ingress rule that allowed the packet.
    pub const INGRESS_RULE: RegField = RegField {
        name: "IngressRuleId",
        reg: 6,
        ofs: 0,
        n_bits: 32,
    };

    /// reg14: id of the staged egress rule the packet reached first (0: none yet); a staged
    /// rule's flows match only while it is 0, so the lookup it resubmits skips them.
    pub const EGRESS_STAGED_RULE: RegField = RegField {
        name: "EgressStagedRuleId",
        reg: 14,
        ofs: 0,
        n_bits: 32,
    };
    /// reg15: the same for ingress.
    pub const INGRESS_STAGED_RULE: RegField = RegField {
        name: "IngressStagedRuleId",
        reg: 15,
        ofs: 0,
        n_bits: 32,
    };

    /// Every register field, for the overlap check and docs.
    pub const ALL: &[RegField] = &[
        PKT_SOURCE,
        DENY_MARK,
        REJECT_MARK,
        TARGET_OFPORT,
        DENY_RULE,
        EGRESS_RULE,
        INGRESS_RULE,
        EGRESS_STAGED_RULE,
        INGRESS_STAGED_RULE,
    ];

    /// PktSource value of a packet from the gateway port (the host).
    pub const SOURCE_GATEWAY: u32 = 1;
    /// PktSource value of a packet from the tunnel (another node).
    pub const SOURCE_TUNNEL: u32 = 2;
    /// PktSource value of a local pod.
    pub const SOURCE_LOCAL_POD: u32 = 3;

    /// The conntrack zone of pod traffic.
    pub const CT_ZONE: u16 = 65520;
    /// ct_label bits holding the ingress rule id.
    pub const CT_LABEL_INGRESS_OFS: u16 = 0;
    /// ct_label bits holding the egress rule id.
    pub const CT_LABEL_EGRESS_OFS: u16 = 32;
}

/// The userdata of the packet-ins the pipeline sends to the agent (Antrea's layout:
/// `category, operation`, then the rule id as 4 bytes big-endian). The operation is a bit set:
/// a logged Reject rule sends `OP_LOG | OP_REJECT`.
pub mod packet_in {
    /// Category of policy packet-ins (Antrea's `PacketInCategoryNP`).
    pub const CATEGORY_POLICY: u8 = 1;
    /// Operation bit: write an audit-log line (Antrea's `PacketInNPLoggingOperation`).
    pub const OP_LOG: u8 = 0b01;
    /// Operation bit: answer with TCP RST / ICMP unreachable (Antrea's
    /// `PacketInNPRejectOperation`).
    pub const OP_REJECT: u8 = 0b10;
    /// Operation bit (kakine's): the rule is staged, the line says what it would do.
    pub const OP_STAGED: u8 = 0b100;
    /// The rule id of a K8s NetworkPolicy isolation drop (rule ids start at 1); the table of the
    /// packet-in says which direction.
    pub const ISOLATION_RULE: u32 = 0;
    /// Bytes of a packet a `controller` action sends the agent (its `max_len`): the largest
    /// headers the audit log and the Reject answer read — Ethernet 14, two VLAN tags 8, IPv4
    /// with options 60, TCP with options 60, 142 in all — rounded up; the payload never
    /// crosses the connection. (The ICMP answer quotes the IP header and 8 bytes, less.)
    pub const MAX_LEN: u16 = 160;

    /// The 6-byte userdata of a packet-in for `operation` decided by rule `rule_id`.
    pub fn userdata(operation: u8, rule_id: u32) -> Vec<u8> {
        let mut v = vec![CATEGORY_POLICY, operation];
        v.extend_from_slice(&rule_id.to_be_bytes());
        v
    }

    /// `(operation, rule id)` of a policy packet-in's userdata; `None` for anything else.
    pub fn parse(userdata: &[u8]) -> Option<(u8, u32)> {
        match userdata {
            [CATEGORY_POLICY, op, a, b, c, d] => Some((*op, u32::from_be_bytes([*a, *b, *c, *d]))),
            _ => None,
        }
    }

    /// Whether a policy packet-in's userdata asks for a Reject answer.
    pub fn is_reject(userdata: &[u8]) -> bool {
        parse(userdata).is_some_and(|(op, _)| op & OP_REJECT != 0)
    }
}

/// The OpenFlow meters that rate-limit packet-ins in the datapath (`controller(meter_id=N)`),
/// installed by the agent before any flow that names them (`crate::agent::observe::ensure_meters`):
/// a flow added while its meter is missing stays unmetered in OVS.
pub mod meters {
    /// Audit-log copies of allowed and dropped packets.
    pub const LOG: u32 = 1;
    /// Packets of Reject rules, answered by the agent.
    pub const REJECT: u32 = 2;
}

/// Named priority bands.
pub mod prio {
    /// Flows above normal (the ARP responder's answer for the gateway address).
    pub const HIGH: u16 = 210;
    /// Normal pipeline flows.
    pub const NORMAL: u16 = 200;
    /// Flows below normal (e.g. "any other packet of a local pod").
    pub const LOW: u16 = 190;
    /// Table-miss flows.
    pub const MISS: u16 = 0;
    /// K8s isolation drops in the default tables.
    pub const ISOLATION: u16 = 200;
    /// Highest priority of tiered rules. Rules are spread across `TIER_BOTTOM..=TIER_TOP` with
    /// gaps, in precedence order ([`crate::datapath::alloc::PriorityAllocator`]).
    pub const TIER_TOP: u16 = 60000;
    /// Lowest priority a tiered rule may take.
    pub const TIER_BOTTOM: u16 = 1000;
    /// Highest priority of K8s NetworkPolicy allow rules.
    pub const K8S_TOP: u16 = 60000;
    /// Highest priority of baseline rules (below the isolation drops).
    pub const BASELINE_TOP: u16 = 180;
    /// Lowest priority of baseline rules.
    pub const BASELINE_BOTTOM: u16 = 10;
}

/// A pipeline error: a jump or name the declaration does not allow.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PipelineError {
    /// No table of that name.
    #[error("no table named {0:?} in the pipeline")]
    UnknownTable(String),
    /// A jump not declared in [`Table::next`].
    #[error("table {from} may not jump to {to} (declared next tables: {allowed:?})")]
    BadJump {
        /// Source table.
        from: &'static str,
        /// Target table.
        to: String,
        /// What the declaration allows.
        allowed: &'static [&'static str],
    },
    /// A band ran out of priorities.
    #[error("{0}")]
    PriorityExhausted(String),
}

/// A handle on a declared table: its id and declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableRef {
    /// OpenFlow table id.
    pub id: u8,
    /// The declaration.
    pub table: &'static Table,
}

/// Looks a table up by name.
pub fn table(name: &str) -> Result<TableRef, PipelineError> {
    TABLES
        .iter()
        .enumerate()
        .find(|(_, t)| t.name == name)
        .map(|(i, t)| TableRef {
            id: i as u8,
            table: t,
        })
        .ok_or_else(|| PipelineError::UnknownTable(name.to_string()))
}

/// `(id, name)` of every table, for OVSDB `Bridge.flow_tables`.
pub fn table_names() -> Vec<(u8, String)> {
    TABLES
        .iter()
        .enumerate()
        .map(|(i, t)| (i as u8, t.name.to_string()))
        .collect()
}

/// The name of table `id`, if declared.
pub fn table_name(id: u8) -> Option<&'static str> {
    TABLES.get(id as usize).map(|t| t.name)
}

impl TableRef {
    /// The id of `to` if this table may jump there.
    pub fn next_id(&self, to: &str) -> Result<u8, PipelineError> {
        if !self.table.next.contains(&to) {
            return Err(PipelineError::BadJump {
                from: self.table.name,
                to: to.to_string(),
                allowed: self.table.next,
            });
        }
        Ok(table(to)?.id)
    }

    /// A `goto_table` instruction to `to`, checked against the declaration.
    pub fn goto(&self, to: &str) -> Result<Instruction, PipelineError> {
        Ok(Instruction::GotoTable(self.next_id(to)?))
    }

    /// An ADD flow_mod in this table.
    pub fn flow(&self, priority: u16, m: Match, instructions: Vec<Instruction>) -> FlowMod {
        FlowMod::add(self.id, priority, m, instructions)
    }

    /// The table-miss flow the declaration asks for: `goto_table:<next>` for [`Miss::Next`]
    /// (the first declared next table), nothing for [`Miss::Drop`] (OF1.3 table-miss drops).
    pub fn miss_flow(&self) -> Result<Option<FlowMod>, PipelineError> {
        match self.table.miss {
            Miss::Drop => Ok(None),
            Miss::Next => {
                let to = self.table.next.first().ok_or_else(|| {
                    PipelineError::UnknownTable(format!(
                        "{}: miss=Next without next",
                        self.table.name
                    ))
                })?;
                Ok(Some(self.flow(
                    prio::MISS,
                    Match::default(),
                    vec![self.goto(to)?],
                )))
            }
        }
    }
}

/// Apply-actions helper.
pub fn apply(actions: Vec<Action>) -> Instruction {
    Instruction::ApplyActions(actions)
}

/// Renders the table list as the Markdown table `docs/pipeline.md` carries.
pub fn markdown_table() -> String {
    let mut s = String::from(
        "| id | table | stage | miss | next tables | what |\n|---|---|---|---|---|---|\n",
    );
    for (i, t) in TABLES.iter().enumerate() {
        s.push_str(&format!(
            "| {} | {} | {:?} | {:?} | {} | {} |\n",
            i,
            t.name,
            t.stage,
            t.miss,
            if t.next.is_empty() {
                "-".to_string()
            } else {
                t.next.join(", ")
            },
            t.doc
        ));
    }
    s
}

/// Renders the register map as the Markdown table `docs/pipeline.md` carries.
pub fn markdown_registers() -> String {
    let mut s = String::from("| field | register bits | what |\n|---|---|---|\n");
    let doc = |name: &str| {
        match name {
        "PktSource" => "where the packet came from (1 = gateway, 2 = tunnel, 3 = local pod)",
        "DenyMark" => "a Drop or Reject rule decided; the packet drops in the metric table",
        "RejectMark" => {
            "with DenyMark: a Reject rule decided; the metric table sends the packet to the agent (controller, userdata 01.02.<rule id>)"
        }
        "TargetOfport" => {
            "output ofport, set by L2Forwarding; ingress rules match the applied-to pod here"
        }
        "DenyRuleId" => "id of the Drop or Reject rule that denied the packet (per-rule counters)",
        "EgressRuleId" => {
            "id of the egress rule that allowed the packet; committed to ct_label[32..63]"
        }
        "IngressRuleId" => {
            "id of the ingress rule that allowed the packet; committed to ct_label[0..31]"
        }
        "EgressStagedRuleId" => {
            "id of the staged egress rule the packet reached first (0: none); staged flows match only 0"
        }
        "IngressStagedRuleId" => "the same for ingress",
        _ => "",
    }
    };
    for r in regs::ALL {
        s.push_str(&format!(
            "| {} | reg{}[{}..{}] | {} |\n",
            r.name,
            r.reg,
            r.ofs,
            r.ofs + r.n_bits - 1,
            doc(r.name)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_jump_goes_forward_to_an_existing_table() {
        for (i, t) in TABLES.iter().enumerate() {
            for n in t.next {
                let target = table(n).unwrap();
                assert!(target.id as usize > i, "{} -> {} goes backwards", t.name, n);
            }
            if t.miss == Miss::Next {
                assert!(
                    !t.next.is_empty(),
                    "{} has miss=Next but no next table",
                    t.name
                );
            }
        }
    }

    #[test]
    fn table_names_are_unique() {
        let mut names: Vec<_> = TABLES.iter().map(|t| t.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), TABLES.len());
    }

    #[test]
    fn an_undeclared_jump_is_refused() {
        let t = table("EgressTier").unwrap();
        assert!(t.goto("EgressK8s").is_ok());
        assert_eq!(
            t.goto("Output"),
            Err(PipelineError::BadJump {
                from: "EgressTier",
                to: "Output".into(),
                allowed: &["EgressK8s", "EgressMetric"]
            })
        );
    }

    #[test]
    fn register_fields_do_not_overlap() {
        for (i, a) in regs::ALL.iter().enumerate() {
            for b in &regs::ALL[i + 1..] {
                if a.reg == b.reg {
                    let disjoint = a.ofs + a.n_bits <= b.ofs || b.ofs + b.n_bits <= a.ofs;
                    assert!(
                        disjoint,
                        "{} and {} overlap in reg{}",
                        a.name, b.name, a.reg
                    );
                }
            }
        }
    }

    #[test]
    fn packet_in_userdata_round_trips() {
        let u = packet_in::userdata(packet_in::OP_REJECT, 0x0102_0304);
        assert_eq!(u, [1, 2, 1, 2, 3, 4]);
        assert_eq!(
            packet_in::parse(&u),
            Some((packet_in::OP_REJECT, 0x0102_0304))
        );
        assert_eq!(packet_in::parse(&[]), None);
        assert!(packet_in::is_reject(&packet_in::userdata(
            packet_in::OP_LOG | packet_in::OP_REJECT,
            7
        )));
        assert!(!packet_in::is_reject(&packet_in::userdata(
            packet_in::OP_LOG,
            7
        )));
    }

    #[test]
    fn register_match_values_are_shifted_into_their_range() {
        assert_eq!(regs::DENY_MARK.match_value(1), (0x400, 0x400));
        assert_eq!(regs::REJECT_MARK.match_value(1), (0x800, 0x800));
        assert_eq!(regs::PKT_SOURCE.match_value(3), (3, 0xf));
        assert_eq!(regs::TARGET_OFPORT.match_value(7), (7, u32::MAX));
    }
}
