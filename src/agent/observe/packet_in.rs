//! The packet-in task: audit-log lines and Reject answers for the packets the pipeline sends to
//! the agent, and the meters that rate-limit those packets in the datapath.
//!
//! The pipeline's `controller(max_len=160,userdata=01.<op>.<rule id>,meter_id=N)` actions reach this task
//! as NXT_PACKET_IN2 (the task asks for that format with NXT_SET_PACKET_IN_FORMAT, again after
//! each reconnect: only PACKET_IN2 carries the userdata). [`handle`] is the sans-IO core: a
//! packet-in and the rule index in, an audit event and a PACKET_OUT out.
//!
//! Reject answers leave by PACKET_OUT straight to the port the rejected packet came in on
//! (`in_port` from the packet-in metadata): they never enter the pipeline, so they cannot be
//! rejected, logged or answered again — no loop.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};
use openflow::flow::Action;
use openflow::meter::{flags, MeterBand, MeterMod, MeterModCommand, OFPM_ALL};
use openflow::multipart::{MultipartReply, MultipartRequest};
use openflow::nicira::{ExtMessage, PacketIn2Prop};
use openflow::packet::PacketOut;
use openflow::session::Response;
use openflow::{AsyncEvent, Message};
use tokio::sync::watch;

use super::audit::{AuditEvent, AuditLog};
use super::metrics::Metrics;
use super::pod_limit::{charged_pod, PodLimiter};
use super::reject::{reject_reply, RejectKind};
use super::rules::RuleIndex;
use crate::datapath::pipeline::{self, meters, packet_in};
use crate::policy::resolved::Direction;

/// NXT_SET_PACKET_IN_FORMAT value for NXT_PACKET_IN2.
const PACKET_IN_FORMAT_NXT2: u32 = 2;
/// OFPP_CONTROLLER, the in_port of a PACKET_OUT from the agent.
const OFPP_CONTROLLER: u32 = 0xffff_fffd;
/// OFP_NO_BUFFER.
const NO_BUFFER: u32 = 0xffff_ffff;

/// Rates of the packet-in meters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObserveConfig {
    /// Audit-log copies per second ([`meters::LOG`]); the burst is twice the rate.
    pub log_rate: u32,
    /// Reject packets per second ([`meters::REJECT`]); the burst is twice the rate.
    pub reject_rate: u32,
}

impl Default for ObserveConfig {
    /// 500 packets/s each, Antrea's default `packetInRate`.
    fn default() -> Self {
        ObserveConfig {
            log_rate: 500,
            reject_rate: 500,
        }
    }
}

impl ObserveConfig {
    /// The METER_MODs (without command) of the packet-in meters: packets/s, burst = 2 × rate,
    /// one drop band (`ovs-ofctl -O OpenFlow13 add-meter br-int
    /// meter=1,pktps,burst,stats,bands=type=drop,rate=500,burst_size=1000`).
    pub fn meters(&self) -> Vec<MeterMod> {
        [
            (meters::LOG, self.log_rate),
            (meters::REJECT, self.reject_rate),
        ]
        .into_iter()
        .map(|(meter_id, rate)| MeterMod {
            command: MeterModCommand::Add,
            flags: flags::PKTPS | flags::BURST | flags::STATS,
            meter_id,
            bands: vec![MeterBand::Drop {
                rate,
                burst_size: rate.saturating_mul(2),
            }],
        })
        .collect()
    }
}

async fn meter_configs(
    conn: &openflow::Connection,
) -> Result<Vec<openflow::meter::MeterConfig>, openflow::Error> {
    let req = Message::MultipartRequest {
        flags: 0,
        body: MultipartRequest::MeterConfig(OFPM_ALL),
    };
    let mut out = Vec::new();
    match conn.request(req).await? {
        Response::Multipart(parts) => {
            for part in parts {
                if let MultipartReply::MeterConfig(v) = part {
                    out.extend(v);
                }
            }
            Ok(out)
        }
        other => Err(openflow::Error::Unexpected(format!("{other:?}"))),
    }
}

/// Adds the packet-in meters, or modifies them when their bands differ; idempotent. Call it
/// before installing flows: OVS binds a `controller(meter_id=N)` action to its meter when the
/// flow is added, and a flow added while the meter is missing stays unmetered. Meters are not
/// part of a bundle (OVS bundles carry flow and port mods only).
///
/// Errors: the switch refused a meter (it is then still missing or different after the
/// barrier: [`openflow::Error::Unexpected`] naming it), or the connection failed.
pub async fn ensure_meters(
    conn: &openflow::Connection,
    cfg: &ObserveConfig,
) -> Result<(), openflow::Error> {
    let wanted = cfg.meters();
    let installed = meter_configs(conn).await?;
    let matches = |m: &MeterMod, have: &[openflow::meter::MeterConfig]| {
        have.iter()
            .any(|c| c.meter_id == m.meter_id && c.flags == m.flags && c.bands == m.bands)
    };
    for m in &wanted {
        if matches(m, &installed) {
            continue;
        }
        let mut m = m.clone();
        if installed.iter().any(|c| c.meter_id == m.meter_id) {
            m.command = MeterModCommand::Modify;
        }
        conn.send(Message::MeterMod(m))?;
    }
    conn.barrier().await?;
    let installed = meter_configs(conn).await?;
    for m in &wanted {
        if !matches(m, &installed) {
            return Err(openflow::Error::Unexpected(format!(
                "meter {} was not installed as {:?} (switch has {:?})",
                m.meter_id,
                m.bands,
                installed.iter().find(|c| c.meter_id == m.meter_id)
            )));
        }
    }
    Ok(())
}

/// What one packet-in asks of the agent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Handled {
    /// The audit-log event (logged rules).
    pub event: Option<AuditEvent>,
    /// The answer to send (Reject rules) and its kind.
    pub reject: Option<(PacketOut, RejectKind)>,
    /// The metric label of the packet-in's operation (`log`, `reject`, `log_reject`,
    /// `invalid`).
    pub operation: &'static str,
    /// Why something could not be done (undecodable frame, unknown rule).
    pub problem: Option<String>,
}

/// The sans-IO core: what to do with the PACKET_IN2 `props` received at `now`.
pub fn handle(props: &[PacketIn2Prop], rules: &RuleIndex, now: SystemTime) -> Handled {
    let mut h = Handled {
        operation: "invalid",
        ..Handled::default()
    };
    let (mut frame, mut table, mut userdata, mut in_port) = (None, None, None, None);
    for p in props {
        match p {
            PacketIn2Prop::Packet(d) => frame = Some(d.as_slice()),
            PacketIn2Prop::TableId(t) => table = Some(*t),
            PacketIn2Prop::Userdata(u) => userdata = Some(u.as_slice()),
            PacketIn2Prop::Metadata(_) => in_port = p.metadata_in_port(),
            _ => {}
        }
    }
    let (Some(frame), Some(table), Some((op, rule_id))) =
        (frame, table, userdata.and_then(packet_in::parse))
    else {
        h.problem = Some("packet-in without frame, table or policy userdata".into());
        return h;
    };
    h.operation = match (op & packet_in::OP_LOG != 0, op & packet_in::OP_REJECT != 0) {
        (true, true) => "log_reject",
        (true, false) => "log",
        (false, true) => "reject",
        (false, false) => "invalid",
    };
    if op & packet_in::OP_REJECT != 0 {
        match (reject_reply(frame), in_port) {
            (Ok((data, kind)), Some(port)) => {
                h.reject = Some((
                    PacketOut {
                        buffer_id: NO_BUFFER,
                        in_port: OFPP_CONTROLLER,
                        actions: vec![Action::Output { port, max_len: 0 }],
                        data,
                    },
                    kind,
                ))
            }
            (Err(e), _) => h.problem = Some(format!("reject: {e}")),
            (_, None) => h.problem = Some("reject: packet-in without in_port".into()),
        }
    }
    if op & packet_in::OP_LOG == 0 {
        return h;
    }
    match audit_event(frame, table, rule_id, rules, now) {
        Ok(e) => h.event = Some(e),
        Err(e) => h.problem = Some(format!("log: {e}")),
    }
    h
}

fn audit_event(
    frame: &[u8],
    table: u8,
    rule_id: u32,
    rules: &RuleIndex,
    now: SystemTime,
) -> Result<AuditEvent, String> {
    // Lax: the frame is cut to the controller action's max_len (`packet_in::MAX_LEN`).
    let p = LaxSlicedPacket::from_ethernet(frame).map_err(|e| e.to_string())?;
    let Some(LaxNetSlice::Ipv4(ip)) = &p.net else {
        return Err("not IPv4".into());
    };
    let h = ip.header();
    let (protocol, ports) = match &p.transport {
        Some(TransportSlice::Tcp(t)) => (
            "TCP".to_string(),
            Some((t.source_port(), t.destination_port())),
        ),
        Some(TransportSlice::Udp(u)) => (
            "UDP".to_string(),
            Some((u.source_port(), u.destination_port())),
        ),
        Some(TransportSlice::Icmpv4(_)) => ("ICMP".to_string(), None),
        _ if h.protocol().0 == 132 => {
            // etherparse has no SCTP header; its common header starts with the two ports.
            let payload = ip.payload().payload;
            let port = |i: usize| {
                payload
                    .get(i..i + 2)
                    .map(|b| u16::from_be_bytes([b[0], b[1]]))
            };
            ("SCTP".to_string(), port(0).zip(port(2)))
        }
        _ => (h.protocol().0.to_string(), None),
    };
    let (src_ip, dst_ip) = (h.source_addr(), h.destination_addr());
    let rule = rules
        .for_packet_in(rule_id, table, src_ip, dst_ip)
        .ok_or_else(|| format!("no rule {rule_id} (table {table})"))?;
    let applied_to = rules
        .pod(match rule.direction {
            Direction::Egress => src_ip,
            Direction::Ingress => dst_ip,
        })
        .cloned();
    Ok(AuditEvent {
        time: now,
        table: pipeline::table_name(table).unwrap_or("?").to_string(),
        rule,
        applied_to,
        src_ip,
        src_port: ports.map(|p| p.0),
        dst_ip,
        dst_port: ports.map(|p| p.1),
        protocol,
        length: h.total_len(),
    })
}

/// Spawns the packet-in task on `conn` (a connection of its own to the bridge, since the packet-in
/// format is per connection): it answers Reject packets, writes audit-log lines, flushes the
/// audit log's dedup windows every second and counts packet-ins in `metrics`. It reads the
/// current rules from `rules` at each packet and ends when the connection task ends.
pub fn spawn_packet_ins(
    conn: openflow::Connection,
    rules: watch::Receiver<Arc<RuleIndex>>,
    audit: AuditLog,
    metrics: Metrics,
) -> tokio::task::JoinHandle<()> {
    spawn_packet_ins_limited(conn, rules, audit, metrics, PodLimiter::default())
}

/// [`spawn_packet_ins`] with the per-pod budget `limiter` ([`super::pod_limit`]): a packet-in
/// past its pod's budget is dropped unanswered and unlogged, counted as operation
/// `rate_limited`.
pub fn spawn_packet_ins_limited(
    conn: openflow::Connection,
    rules: watch::Receiver<Arc<RuleIndex>>,
    audit: AuditLog,
    metrics: Metrics,
    mut limiter: PodLimiter,
) -> tokio::task::JoinHandle<()> {
    let mut events = conn.events();
    tokio::spawn(async move {
        if conn
            .send(Message::SetPacketInFormat(PACKET_IN_FORMAT_NXT2))
            .is_err()
        {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let event = tokio::select! {
                e = events.next() => e,
                _ = tick.tick() => {
                    audit.flush(SystemTime::now());
                    continue;
                }
            };
            match event {
                None => break,
                Some(AsyncEvent::Reconnected { .. }) => {
                    let _ = conn.send(Message::SetPacketInFormat(PACKET_IN_FORMAT_NXT2));
                }
                Some(AsyncEvent::Message {
                    message: Message::Ext(ExtMessage::PacketIn2(props)),
                    ..
                }) => {
                    let index = rules.borrow().clone();
                    if let Some(pod) = charged_pod(&props, &index) {
                        if !limiter.allow(pod, std::time::Instant::now()) {
                            metrics.packet_in("rate_limited");
                            continue;
                        }
                    }
                    let h = handle(&props, &index, SystemTime::now());
                    metrics.packet_in(h.operation);
                    if let Some((out, kind)) = h.reject {
                        match conn.send(Message::PacketOut(out)) {
                            Ok(()) => metrics.reject_sent(kind.label()),
                            Err(_) => metrics.openflow_error(),
                        }
                    }
                    if let Some(e) = h.event {
                        audit.record(e);
                    }
                    if let Some(p) = h.problem {
                        tracing::debug!("packet-in: {p}");
                    }
                }
                Some(AsyncEvent::Message {
                    message: Message::Error(e),
                    ..
                }) => {
                    tracing::warn!("packet-in connection: switch error {e:?}");
                    metrics.openflow_error();
                }
                Some(_) => {}
            }
        }
        audit.flush_all();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule fixture and the id of the table its packet-ins come from.
    fn index() -> (RuleIndex, u32, u8) {
        let (rules, id) = super::super::rules::tests::fixture();
        let table = pipeline::TABLES
            .iter()
            .position(|t| t.name == "IngressMetric")
            .unwrap() as u8;
        (rules, id, table)
    }

    #[test]
    fn a_packet_cut_to_max_len_is_still_logged_and_answered() {
        let (rules, id, table) = index();
        let mut frame = Vec::new();
        etherparse::PacketBuilder::ethernet2([0xaa, 0, 0, 0, 0, 1], [0xaa, 0, 0, 0, 0, 2])
            .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
            .udp(40000, 5353)
            .write(&mut frame, &[9; 1000])
            .unwrap();
        frame.truncate(usize::from(packet_in::MAX_LEN));
        let mut in_port = vec![0x80, 0x00, 0x00, 0x04];
        in_port.extend_from_slice(&1u32.to_be_bytes());
        let props = vec![
            PacketIn2Prop::Packet(frame),
            PacketIn2Prop::TableId(table),
            PacketIn2Prop::Userdata(packet_in::userdata(
                packet_in::OP_LOG | packet_in::OP_REJECT,
                id,
            )),
            PacketIn2Prop::Metadata(in_port),
        ];
        let h = handle(&props, &rules, SystemTime::UNIX_EPOCH);
        assert_eq!(h.problem, None);
        let e = h.event.expect("an audit event");
        assert_eq!((e.src_port, e.dst_port), (Some(40000), Some(5353)));
        // The length the IP header gives, not the bytes that reached the agent.
        assert_eq!(e.length, 20 + 8 + 1000);
        let (out, kind) = h.reject.expect("a Reject answer");
        assert_eq!(kind, RejectKind::IcmpAdminProhibited);
        assert_eq!(
            out.actions,
            vec![Action::Output {
                port: 1,
                max_len: 0
            }]
        );
        // A pod past its budget is not handled at all (see `pod_limit`).
        assert_eq!(
            super::super::pod_limit::charged_pod(&props, &rules),
            Some("10.77.0.2".parse().unwrap())
        );
    }
}
