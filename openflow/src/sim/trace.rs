//! What a packet did: the verdict and a short `ofproto/trace`-like list of steps.

use std::fmt::{self, Display, Formatter};
use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::flow::{ct_state, Instruction};
use crate::text::InstructionsText;

/// Where a packet went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutPort {
    /// An OpenFlow port (`output:N`, `output:NXM_NX_REG1[]`, `IN_PORT`).
    Port(u32),
    /// The NORMAL action (L2 switching by OVS).
    Normal,
    /// To the controller (`CONTROLLER`, `controller(...)`).
    Controller,
    /// FLOOD.
    Flood,
    /// ALL.
    All,
    /// LOCAL (the bridge's internal port).
    Local,
}

impl Display for OutPort {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            OutPort::Port(p) => write!(f, "{p}"),
            OutPort::Normal => f.write_str("NORMAL"),
            OutPort::Controller => f.write_str("CONTROLLER"),
            OutPort::Flood => f.write_str("FLOOD"),
            OutPort::All => f.write_str("ALL"),
            OutPort::Local => f.write_str("LOCAL"),
        }
    }
}

/// The fate of a packet: every output of every pass (recirculations included), in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Outputs in the order the actions ran.
    pub outputs: Vec<OutPort>,
    /// No output at all (the pipeline ended without one, or a table missed).
    pub dropped: bool,
    /// The userdata of every packet-in (`controller(userdata=...)`; empty for plain
    /// `controller`), in the order of the [`OutPort::Controller`] outputs.
    pub packet_ins: Vec<Vec<u8>>,
    /// The `tun_dst` the packet carried when it was output to a port (a flow-based tunnel's
    /// remote endpoint); `None` when no flow set one.
    pub tun_dst: Option<Ipv4Addr>,
}

impl Verdict {
    /// Output to exactly the port `p` and nothing else.
    pub fn is_output_to(&self, p: u32) -> bool {
        self.outputs == [OutPort::Port(p)]
    }
}

impl Display for Verdict {
    /// `drop` or the outputs comma-separated, as in `Datapath actions:`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.dropped {
            return f.write_str("drop");
        }
        for (i, o) in self.outputs.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{o}")?;
        }
        Ok(())
    }
}

/// One table lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Recirculation pass: 0 for the packet as received, +1 per `ct(table=..)`.
    pub pass: u8,
    /// Resubmit nesting depth.
    pub depth: u8,
    /// The table.
    pub table: u8,
    /// The packet's ct_state at the lookup.
    pub ct_state: u32,
    /// The matched flow's priority; `None` for a table miss.
    pub priority: Option<u16>,
    /// The matched flow's cookie (0 on a miss).
    pub cookie: u64,
    /// The matched flow in `ovs-ofctl dump-flows` syntax (`None` on a miss).
    pub flow: Option<Arc<str>>,
    /// The instructions executed (empty on a miss, which drops).
    pub actions: Arc<[Instruction]>,
    /// The conjunction id that completed, when the flow was found through one.
    pub conj_id: Option<u32>,
}

/// `ct_state` bits as `ovs-ofctl` names them: `new|trk`.
pub fn ct_state_text(s: u32) -> String {
    const NAMES: [(u32, &str); 6] = [
        (ct_state::NEW, "new"),
        (ct_state::EST, "est"),
        (ct_state::REL, "rel"),
        (ct_state::RPL, "rpl"),
        (ct_state::INV, "inv"),
        (ct_state::TRK, "trk"),
    ];
    let v: Vec<&str> = NAMES
        .iter()
        .filter(|(b, _)| s & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if v.is_empty() {
        "0".into()
    } else {
        v.join("|")
    }
}

/// Every lookup a packet went through, and its verdict.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Trace {
    /// The lookups, in order.
    pub steps: Vec<Step>,
    /// The verdict.
    pub verdict: Verdict,
}

impl Trace {
    /// The tables visited, in order.
    pub fn tables(&self) -> Vec<u8> {
        self.steps.iter().map(|s| s.table).collect()
    }

    /// The step in `table` (the last one, if the table was visited more than once).
    pub fn step(&self, table: u8) -> Option<&Step> {
        self.steps.iter().rev().find(|s| s.table == table)
    }
}

impl Display for Trace {
    /// Reads like a short `ofproto/trace`:
    ///
    /// ```text
    /// 0. priority 190, cookie 0x1020000000001: in_port=1 actions=load:..,goto_table:3
    /// ...
    /// recirc(ct_state=new|trk)
    /// 5. priority 189, cookie 0x1010000000000: ...
    /// Verdict: 2
    /// ```
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut pass = 0;
        for s in &self.steps {
            if s.pass != pass {
                pass = s.pass;
                writeln!(f, "recirc(ct_state={})", ct_state_text(s.ct_state))?;
            }
            let indent = "    ".repeat(s.depth as usize);
            match (&s.flow, s.priority) {
                (Some(flow), Some(p)) => {
                    write!(f, "{indent}{}. priority {p}", s.table)?;
                    if s.cookie != 0 {
                        write!(f, ", cookie {:#x}", s.cookie)?;
                    }
                    if let Some(c) = s.conj_id {
                        write!(f, ", conj_id={c}")?;
                    }
                    writeln!(f, ": {flow}")?;
                    if s.actions.is_empty() {
                        writeln!(f, "{indent}    drop")?;
                    } else {
                        writeln!(f, "{indent}    {}", InstructionsText(&s.actions))?;
                    }
                }
                _ => writeln!(f, "{indent}{}. no match: drop", s.table)?,
            }
        }
        write!(f, "Verdict: {}", self.verdict)
    }
}
