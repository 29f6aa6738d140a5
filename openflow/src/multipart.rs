//! MULTIPART request/reply bodies (OF1.3 §7.3.5): `type u16 | flags u16 | pad[4] | body`.
//! Every OF1.3 type (DESC, FLOW, AGGREGATE, TABLE, PORT_STATS, QUEUE, GROUP, GROUP_DESC,
//! GROUP_FEATURES, METER, METER_CONFIG, METER_FEATURES, TABLE_FEATURES, PORT_DESC) and ONF flow
//! monitoring are decoded; other experimenter bodies and types OF1.3 does not define are kept raw
//! and re-emitted byte for byte.

use crate::flow::{Instruction, MacAddr, Match};
use crate::group::{GroupDesc, GroupFeatures, GroupStats};
use crate::instruction::{emit_instructions, parse_instructions};
use crate::meter::{MeterConfig, MeterFeatures, MeterStats};
use crate::monitor::{emit_flow_monitor_header, is_flow_monitor, FlowMonitorRequest, FlowUpdate};
use crate::stats::*;
use crate::wire::{exact_len, get_str, put_len_at, Reader};
use crate::Error;

/// OFPMP_FLOW.
pub const OFPMP_FLOW: u16 = 1;
/// OFPMP_PORT_DESC.
pub const OFPMP_PORT_DESC: u16 = 13;
/// OFPMP_EXPERIMENTER: `experimenter u32 | exp_type u32 | body`.
pub const OFPMP_EXPERIMENTER: u16 = 0xffff;
/// OFPMPF_REQ_MORE / OFPMPF_REPLY_MORE.
pub const OFPMPF_MORE: u16 = 1;

/// FLOW stats request (32 bytes + match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowStatsRequest {
    /// Table (0xff = all).
    pub table_id: u8,
    /// Filter by output port (0xffffffff = any).
    pub out_port: u32,
    /// Filter by output group (0xffffffff = any).
    pub out_group: u32,
    /// Cookie filter value.
    pub cookie: u64,
    /// Cookie filter mask (0 = any).
    pub cookie_mask: u64,
    /// Match filter (non-strict).
    pub r#match: Match,
}

impl FlowStatsRequest {
    /// All flows of `table` (`None` = all tables).
    pub fn all(table: Option<u8>) -> Self {
        FlowStatsRequest {
            table_id: table.unwrap_or(0xff),
            out_port: 0xffff_ffff,
            out_group: 0xffff_ffff,
            cookie: 0,
            cookie_mask: 0,
            r#match: Match::default(),
        }
    }
}

/// One FLOW stats reply entry (48 bytes + match + instructions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowStats {
    /// Table id.
    pub table_id: u8,
    /// Seconds the flow has been installed.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
    /// Priority.
    pub priority: u16,
    /// Idle timeout (s).
    pub idle_timeout: u16,
    /// Hard timeout (s).
    pub hard_timeout: u16,
    /// OFPFF_* flags.
    pub flags: u16,
    /// Cookie.
    pub cookie: u64,
    /// Packets matched.
    pub packet_count: u64,
    /// Bytes matched.
    pub byte_count: u64,
    /// The match.
    pub r#match: Match,
    /// Instructions (empty = drop).
    pub instructions: Vec<Instruction>,
}

/// One `ofp_port` (64 bytes) from a PORT_DESC reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// Port number.
    pub port_no: u32,
    /// MAC address.
    pub hw_addr: MacAddr,
    /// Name (NUL padding removed).
    pub name: String,
    /// OFPPC_* bits.
    pub config: u32,
    /// OFPPS_* bits.
    pub state: u32,
    /// Current, advertised, supported, peer features (OFPPF_*).
    pub features: [u32; 4],
    /// Current speed (kbps).
    pub curr_speed: u32,
    /// Max speed (kbps).
    pub max_speed: u32,
}

/// A MULTIPART_REQUEST body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartRequest {
    /// OFPMP_FLOW.
    Flow(FlowStatsRequest),
    /// OFPMP_PORT_DESC (no body).
    PortDesc,
    /// OFPMP_DESC (no body).
    Desc,
    /// OFPMP_AGGREGATE: same body as FLOW.
    Aggregate(FlowStatsRequest),
    /// OFPMP_TABLE (no body).
    Table,
    /// OFPMP_PORT_STATS: `port_no u32 | pad[4]` (OFPP_ANY = all).
    PortStats(u32),
    /// OFPMP_QUEUE: `port_no u32 | queue_id u32` (OFPP_ANY / OFPQ_ALL 0xffffffff = all).
    Queue {
        /// Port.
        port_no: u32,
        /// Queue.
        queue_id: u32,
    },
    /// OFPMP_GROUP: `group_id u32 | pad[4]` (OFPG_ALL = all).
    Group(u32),
    /// OFPMP_GROUP_DESC (no body).
    GroupDesc,
    /// OFPMP_GROUP_FEATURES (no body).
    GroupFeatures,
    /// OFPMP_METER: `meter_id u32 | pad[4]` (OFPM_ALL = all).
    Meter(u32),
    /// OFPMP_METER_CONFIG: `meter_id u32 | pad[4]`.
    MeterConfig(u32),
    /// OFPMP_METER_FEATURES (no body).
    MeterFeatures,
    /// OFPMP_TABLE_FEATURES: empty to query, entries to set.
    TableFeatures(Vec<TableFeatures>),
    /// ONFST_FLOW_MONITOR (OFPMP_EXPERIMENTER, ONF, 1870): monitors to start, see
    /// [`crate::monitor`].
    FlowMonitor(Vec<FlowMonitorRequest>),
    /// Any other type, body kept raw.
    Raw {
        /// OFPMP_* type.
        kind: u16,
        /// Body after the 8-byte multipart header.
        body: Vec<u8>,
    },
}

/// A MULTIPART_REPLY body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartReply {
    /// OFPMP_FLOW entries.
    Flow(Vec<FlowStats>),
    /// OFPMP_PORT_DESC entries.
    PortDesc(Vec<Port>),
    /// OFPMP_DESC.
    Desc(Desc),
    /// OFPMP_AGGREGATE.
    Aggregate(AggregateStats),
    /// OFPMP_TABLE entries.
    Table(Vec<TableStats>),
    /// OFPMP_PORT_STATS entries.
    PortStats(Vec<PortStats>),
    /// OFPMP_QUEUE entries.
    Queue(Vec<QueueStats>),
    /// OFPMP_GROUP entries.
    Group(Vec<GroupStats>),
    /// OFPMP_GROUP_DESC entries.
    GroupDesc(Vec<GroupDesc>),
    /// OFPMP_GROUP_FEATURES.
    GroupFeatures(GroupFeatures),
    /// OFPMP_METER entries.
    Meter(Vec<MeterStats>),
    /// OFPMP_METER_CONFIG entries.
    MeterConfig(Vec<MeterConfig>),
    /// OFPMP_METER_FEATURES.
    MeterFeatures(MeterFeatures),
    /// OFPMP_TABLE_FEATURES entries.
    TableFeatures(Vec<TableFeatures>),
    /// ONFST_FLOW_MONITOR updates (OFPMP_EXPERIMENTER, ONF, 1870), see [`crate::monitor`].
    FlowMonitor(Vec<FlowUpdate>),
    /// Any other type, body kept raw.
    Raw {
        /// OFPMP_* type.
        kind: u16,
        /// Body after the 8-byte multipart header.
        body: Vec<u8>,
    },
}

impl MultipartRequest {
    pub(crate) fn kind(&self) -> u16 {
        match self {
            MultipartRequest::Flow(_) => OFPMP_FLOW,
            MultipartRequest::PortDesc => OFPMP_PORT_DESC,
            MultipartRequest::Desc => OFPMP_DESC,
            MultipartRequest::Aggregate(_) => OFPMP_AGGREGATE,
            MultipartRequest::Table => OFPMP_TABLE,
            MultipartRequest::PortStats(_) => OFPMP_PORT_STATS,
            MultipartRequest::Queue { .. } => OFPMP_QUEUE,
            MultipartRequest::Group(_) => OFPMP_GROUP,
            MultipartRequest::GroupDesc => OFPMP_GROUP_DESC,
            MultipartRequest::GroupFeatures => OFPMP_GROUP_FEATURES,
            MultipartRequest::Meter(_) => OFPMP_METER,
            MultipartRequest::MeterConfig(_) => OFPMP_METER_CONFIG,
            MultipartRequest::MeterFeatures => OFPMP_METER_FEATURES,
            MultipartRequest::TableFeatures(_) => OFPMP_TABLE_FEATURES,
            MultipartRequest::FlowMonitor(_) => OFPMP_EXPERIMENTER,
            MultipartRequest::Raw { kind, .. } => *kind,
        }
    }

    pub(crate) fn emit_body(&self, buf: &mut Vec<u8>) {
        match self {
            MultipartRequest::Flow(f) | MultipartRequest::Aggregate(f) => {
                buf.extend_from_slice(&[f.table_id, 0, 0, 0]);
                buf.extend_from_slice(&f.out_port.to_be_bytes());
                buf.extend_from_slice(&f.out_group.to_be_bytes());
                buf.extend_from_slice(&[0; 4]);
                buf.extend_from_slice(&f.cookie.to_be_bytes());
                buf.extend_from_slice(&f.cookie_mask.to_be_bytes());
                f.r#match.emit(buf);
            }
            MultipartRequest::PortDesc
            | MultipartRequest::Desc
            | MultipartRequest::Table
            | MultipartRequest::GroupDesc
            | MultipartRequest::GroupFeatures
            | MultipartRequest::MeterFeatures => {}
            MultipartRequest::Queue { port_no, queue_id } => {
                buf.extend_from_slice(&port_no.to_be_bytes());
                buf.extend_from_slice(&queue_id.to_be_bytes());
            }
            MultipartRequest::PortStats(id)
            | MultipartRequest::Group(id)
            | MultipartRequest::Meter(id)
            | MultipartRequest::MeterConfig(id) => {
                buf.extend_from_slice(&id.to_be_bytes());
                buf.extend_from_slice(&[0; 4]);
            }
            MultipartRequest::TableFeatures(v) => v.iter().for_each(|t| t.emit(buf)),
            MultipartRequest::FlowMonitor(v) => {
                emit_flow_monitor_header(buf);
                v.iter().for_each(|m| m.emit(buf));
            }
            MultipartRequest::Raw { body, .. } => buf.extend_from_slice(body),
        }
    }

    pub(crate) fn parse_body(kind: u16, r: &mut Reader) -> Result<Self, Error> {
        Ok(match kind {
            OFPMP_FLOW | OFPMP_AGGREGATE => {
                let table_id = r.u8("flow stats request")?;
                r.skip("flow stats request", 3)?;
                let out_port = r.u32("flow stats request")?;
                let out_group = r.u32("flow stats request")?;
                r.skip("flow stats request", 4)?;
                let cookie = r.u64("flow stats request")?;
                let cookie_mask = r.u64("flow stats request")?;
                let r#match = Match::parse(r)?;
                let f = FlowStatsRequest {
                    table_id,
                    out_port,
                    out_group,
                    cookie,
                    cookie_mask,
                    r#match,
                };
                if kind == OFPMP_FLOW {
                    MultipartRequest::Flow(f)
                } else {
                    MultipartRequest::Aggregate(f)
                }
            }
            OFPMP_PORT_DESC if r.is_empty() => MultipartRequest::PortDesc,
            OFPMP_DESC if r.is_empty() => MultipartRequest::Desc,
            OFPMP_TABLE if r.is_empty() => MultipartRequest::Table,
            OFPMP_GROUP_DESC if r.is_empty() => MultipartRequest::GroupDesc,
            OFPMP_GROUP_FEATURES if r.is_empty() => MultipartRequest::GroupFeatures,
            OFPMP_METER_FEATURES if r.is_empty() => MultipartRequest::MeterFeatures,
            OFPMP_QUEUE => {
                exact_len(r, 8, "queue stats request")?;
                MultipartRequest::Queue {
                    port_no: r.u32("queue stats request")?,
                    queue_id: r.u32("queue stats request")?,
                }
            }
            OFPMP_PORT_STATS | OFPMP_GROUP | OFPMP_METER | OFPMP_METER_CONFIG => {
                exact_len(r, 8, "multipart request id")?;
                let id = r.u32("multipart request id")?;
                r.skip("multipart request pad", 4)?;
                match kind {
                    OFPMP_PORT_STATS => MultipartRequest::PortStats(id),
                    OFPMP_GROUP => MultipartRequest::Group(id),
                    OFPMP_METER => MultipartRequest::Meter(id),
                    _ => MultipartRequest::MeterConfig(id),
                }
            }
            OFPMP_TABLE_FEATURES => {
                MultipartRequest::TableFeatures(entries(r, TableFeatures::parse)?)
            }
            OFPMP_EXPERIMENTER if is_flow_monitor(r) => {
                MultipartRequest::FlowMonitor(entries(r, FlowMonitorRequest::parse)?)
            }
            _ => MultipartRequest::Raw {
                kind,
                body: r.rest().to_vec(),
            },
        })
    }
}

impl FlowStats {
    /// Append one reply entry.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        buf.extend_from_slice(&[0, 0, self.table_id, 0]);
        buf.extend_from_slice(&self.duration_sec.to_be_bytes());
        buf.extend_from_slice(&self.duration_nsec.to_be_bytes());
        buf.extend_from_slice(&self.priority.to_be_bytes());
        buf.extend_from_slice(&self.idle_timeout.to_be_bytes());
        buf.extend_from_slice(&self.hard_timeout.to_be_bytes());
        buf.extend_from_slice(&self.flags.to_be_bytes());
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&self.cookie.to_be_bytes());
        buf.extend_from_slice(&self.packet_count.to_be_bytes());
        buf.extend_from_slice(&self.byte_count.to_be_bytes());
        self.r#match.emit(buf);
        emit_instructions(&self.instructions, buf);
        let len = buf.len() - start;
        put_len_at(buf, start, len);
    }

    fn parse(r: &mut Reader) -> Result<FlowStats, Error> {
        let off = r.offset();
        let len = r.peek_u16(0).unwrap_or(0) as usize;
        if len < 56 || len > r.remaining() {
            return Err(Error::BadLength {
                what: "flow stats entry",
                offset: off,
                length: len,
            });
        }
        let mut e = r.sub("flow stats entry", len)?;
        e.skip("flow stats", 2)?;
        let table_id = e.u8("flow stats")?;
        e.skip("flow stats", 1)?;
        let duration_sec = e.u32("flow stats")?;
        let duration_nsec = e.u32("flow stats")?;
        let priority = e.u16("flow stats")?;
        let idle_timeout = e.u16("flow stats")?;
        let hard_timeout = e.u16("flow stats")?;
        let flags = e.u16("flow stats")?;
        e.skip("flow stats", 4)?;
        let cookie = e.u64("flow stats")?;
        let packet_count = e.u64("flow stats")?;
        let byte_count = e.u64("flow stats")?;
        let r#match = Match::parse(&mut e)?;
        let instructions = parse_instructions(&mut e)?;
        Ok(FlowStats {
            table_id,
            duration_sec,
            duration_nsec,
            priority,
            idle_timeout,
            hard_timeout,
            flags,
            cookie,
            packet_count,
            byte_count,
            r#match,
            instructions,
        })
    }
}

impl Port {
    pub(crate) fn emit(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.port_no.to_be_bytes());
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&self.hw_addr.0);
        buf.extend_from_slice(&[0; 2]);
        let mut name = [0u8; 16];
        let n = self.name.len().min(15);
        name[..n].copy_from_slice(&self.name.as_bytes()[..n]);
        buf.extend_from_slice(&name);
        for v in [self.config, self.state] {
            buf.extend_from_slice(&v.to_be_bytes());
        }
        for v in self.features {
            buf.extend_from_slice(&v.to_be_bytes());
        }
        buf.extend_from_slice(&self.curr_speed.to_be_bytes());
        buf.extend_from_slice(&self.max_speed.to_be_bytes());
    }

    pub(crate) fn parse(r: &mut Reader) -> Result<Port, Error> {
        let port_no = r.u32("ofp_port")?;
        r.skip("ofp_port", 4)?;
        let mut hw = [0u8; 6];
        hw.copy_from_slice(r.take("ofp_port", 6)?);
        r.skip("ofp_port", 2)?;
        let name = r.take("ofp_port", 16)?;
        let name = get_str(name);
        let config = r.u32("ofp_port")?;
        let state = r.u32("ofp_port")?;
        let features = [
            r.u32("ofp_port")?,
            r.u32("ofp_port")?,
            r.u32("ofp_port")?,
            r.u32("ofp_port")?,
        ];
        let curr_speed = r.u32("ofp_port")?;
        let max_speed = r.u32("ofp_port")?;
        Ok(Port {
            port_no,
            hw_addr: MacAddr(hw),
            name,
            config,
            state,
            features,
            curr_speed,
            max_speed,
        })
    }
}

impl MultipartReply {
    pub(crate) fn kind(&self) -> u16 {
        match self {
            MultipartReply::Flow(_) => OFPMP_FLOW,
            MultipartReply::PortDesc(_) => OFPMP_PORT_DESC,
            MultipartReply::Desc(_) => OFPMP_DESC,
            MultipartReply::Aggregate(_) => OFPMP_AGGREGATE,
            MultipartReply::Table(_) => OFPMP_TABLE,
            MultipartReply::PortStats(_) => OFPMP_PORT_STATS,
            MultipartReply::Queue(_) => OFPMP_QUEUE,
            MultipartReply::Group(_) => OFPMP_GROUP,
            MultipartReply::GroupDesc(_) => OFPMP_GROUP_DESC,
            MultipartReply::GroupFeatures(_) => OFPMP_GROUP_FEATURES,
            MultipartReply::Meter(_) => OFPMP_METER,
            MultipartReply::MeterConfig(_) => OFPMP_METER_CONFIG,
            MultipartReply::MeterFeatures(_) => OFPMP_METER_FEATURES,
            MultipartReply::TableFeatures(_) => OFPMP_TABLE_FEATURES,
            MultipartReply::FlowMonitor(_) => OFPMP_EXPERIMENTER,
            MultipartReply::Raw { kind, .. } => *kind,
        }
    }

    pub(crate) fn emit_body(&self, buf: &mut Vec<u8>) {
        match self {
            MultipartReply::Flow(v) => v.iter().for_each(|f| f.emit(buf)),
            MultipartReply::PortDesc(v) => v.iter().for_each(|p| p.emit(buf)),
            MultipartReply::Desc(d) => d.emit(buf),
            MultipartReply::Aggregate(a) => a.emit(buf),
            MultipartReply::Table(v) => v.iter().for_each(|t| t.emit(buf)),
            MultipartReply::PortStats(v) => v.iter().for_each(|p| p.emit(buf)),
            MultipartReply::Queue(v) => v.iter().for_each(|q| q.emit(buf)),
            MultipartReply::Group(v) => v.iter().for_each(|g| g.emit(buf)),
            MultipartReply::GroupDesc(v) => v.iter().for_each(|g| g.emit(buf)),
            MultipartReply::GroupFeatures(g) => g.emit(buf),
            MultipartReply::Meter(v) => v.iter().for_each(|m| m.emit(buf)),
            MultipartReply::MeterConfig(v) => v.iter().for_each(|m| m.emit(buf)),
            MultipartReply::MeterFeatures(m) => m.emit(buf),
            MultipartReply::TableFeatures(v) => v.iter().for_each(|t| t.emit(buf)),
            MultipartReply::FlowMonitor(v) => {
                emit_flow_monitor_header(buf);
                v.iter().for_each(|u| u.emit(buf));
            }
            MultipartReply::Raw { body, .. } => buf.extend_from_slice(body),
        }
    }

    pub(crate) fn parse_body(kind: u16, r: &mut Reader) -> Result<Self, Error> {
        Ok(match kind {
            OFPMP_FLOW => {
                let mut v = Vec::new();
                while !r.is_empty() {
                    v.push(FlowStats::parse(r)?);
                }
                MultipartReply::Flow(v)
            }
            OFPMP_PORT_DESC => {
                if !r.remaining().is_multiple_of(64) {
                    return Err(Error::BadLength {
                        what: "port desc reply",
                        offset: r.offset(),
                        length: r.remaining(),
                    });
                }
                let mut v = Vec::new();
                while !r.is_empty() {
                    v.push(Port::parse(r)?);
                }
                MultipartReply::PortDesc(v)
            }
            OFPMP_DESC => MultipartReply::Desc(Desc::parse(r)?),
            OFPMP_AGGREGATE => MultipartReply::Aggregate(AggregateStats::parse(r)?),
            OFPMP_TABLE => {
                MultipartReply::Table(fixed_entries(r, 24, "table stats", TableStats::parse)?)
            }
            OFPMP_PORT_STATS => {
                MultipartReply::PortStats(fixed_entries(r, 112, "port stats", PortStats::parse)?)
            }
            OFPMP_QUEUE => {
                MultipartReply::Queue(fixed_entries(r, 40, "queue stats", QueueStats::parse)?)
            }
            OFPMP_GROUP => MultipartReply::Group(entries(r, GroupStats::parse)?),
            OFPMP_GROUP_FEATURES => MultipartReply::GroupFeatures(GroupFeatures::parse(r)?),
            OFPMP_METER_FEATURES => MultipartReply::MeterFeatures(MeterFeatures::parse(r)?),
            OFPMP_GROUP_DESC => MultipartReply::GroupDesc(entries(r, GroupDesc::parse)?),
            OFPMP_METER => MultipartReply::Meter(entries(r, MeterStats::parse)?),
            OFPMP_METER_CONFIG => MultipartReply::MeterConfig(entries(r, MeterConfig::parse)?),
            OFPMP_TABLE_FEATURES => {
                MultipartReply::TableFeatures(entries(r, TableFeatures::parse)?)
            }
            OFPMP_EXPERIMENTER if is_flow_monitor(r) => {
                MultipartReply::FlowMonitor(entries(r, FlowUpdate::parse)?)
            }
            _ => MultipartReply::Raw {
                kind,
                body: r.rest().to_vec(),
            },
        })
    }
}
