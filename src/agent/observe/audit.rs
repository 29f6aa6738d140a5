//! The audit log: one line per connection a logged rule decided.
//!
//! Text lines (Antrea's `np.log` field order) or JSON lines, in a file rotated by size, count
//! and age ([`RotatingFile`]) that survives files deleted or moved under it. Allow events are
//! one per connection already (only a connection's first packet is sent to the agent). Drop and
//! Reject events are deduplicated per connection attempt: the first packet of a
//! [`DedupKey`] (rule, table, source and destination address and port, protocol) opens a
//! [`DEDUP_WINDOW`]; the same attempt's packets inside it (a retransmitted SYN) only count, and
//! one line with the count is written when the window closes ([`AuditLog::flush`]). Another
//! source port is another attempt and another line.
//!
//! Lines are written in the order of their events' times: an Allow line waits behind a Drop
//! window opened before it (at most [`DEDUP_WINDOW`]). Time is a parameter, so the dedup and
//! the order are tested without a clock.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::policy::resolved::{PodKey, RuleAction};

use super::rotate::RotatingFile;
pub use super::rotate::Rotation;
use super::rules::RuleInfo;

/// The dedup window of Drop / Reject events: a TCP client's first SYN retransmission comes
/// 1 s after the SYN (Linux `TCP_TIMEOUT_INIT`), so repeats faster than that are one line.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(1);

/// Line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditFormat {
    /// Space-separated fields, `-` for a missing one (see `docs/observability.md`).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Where and how the audit log is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// The log file (rotated files get `.1`, `.2`, ... appended, `.gz` when compressed).
    pub path: PathBuf,
    /// Line format.
    pub format: AuditFormat,
    /// Size, count and age of rotation (`--audit-log-max-size`, `-max-backups`, `-max-age`,
    /// `-compress`).
    pub rotation: Rotation,
}

/// A bad [`AuditConfig`].
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A size of zero.
    #[error("audit log {path}: {field} must be > 0")]
    Zero {
        /// The log path.
        path: PathBuf,
        /// `max_bytes`.
        field: &'static str,
    },
}

/// One packet a logged rule decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// When the agent received it.
    pub time: SystemTime,
    /// The pipeline table that sent it (`IngressMetric`, `EgressDefault`, ...).
    pub table: String,
    /// The deciding rule.
    pub rule: RuleInfo,
    /// The local pod the rule applies to (the source for egress, the destination for ingress).
    pub applied_to: Option<PodKey>,
    /// Source address.
    pub src_ip: Ipv4Addr,
    /// Source port (TCP, UDP, SCTP).
    pub src_port: Option<u16>,
    /// Destination address.
    pub dst_ip: Ipv4Addr,
    /// Destination port (TCP, UDP, SCTP).
    pub dst_port: Option<u16>,
    /// `TCP`, `UDP`, `SCTP`, `ICMP` or the IP protocol number.
    pub protocol: String,
    /// IP total length in bytes.
    pub length: u16,
}

/// What makes two Drop / Reject packets one connection attempt: rule id, table, source
/// address and port, destination address and port, protocol.
pub type DedupKey = (
    u32,
    String,
    Ipv4Addr,
    Option<u16>,
    Ipv4Addr,
    Option<u16>,
    String,
);

enum Sink {
    File(RotatingFile),
    Writer(Box<dyn Write + Send>),
}

/// An event waiting for its line: `key` is `None` for an Allow (final at once).
struct Entry {
    key: Option<DedupKey>,
    event: AuditEvent,
    packets: u64,
}

struct Inner {
    out: Sink,
    format: AuditFormat,
    /// Events by arrival (sequence number), so lines come out in time order.
    queue: BTreeMap<u64, Entry>,
    /// Open Drop / Reject windows: key → sequence number in `queue`.
    open: HashMap<DedupKey, u64>,
    next: u64,
}

/// The audit log; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AuditLog(Arc<Mutex<Inner>>);

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditLog")
    }
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".to_string(), T::to_string)
}

/// A name field of a text line, escaped ([`crate::agent::escape::escape_field`]).
fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    crate::agent::escape::escape_field(s)
}

/// One line for `event` seen `packets` times, without the newline.
pub fn format_line(event: &AuditEvent, packets: u64, format: AuditFormat) -> String {
    let time = humantime::format_rfc3339_micros(event.time).to_string();
    let r = &event.rule;
    match format {
        AuditFormat::Text => format!(
            "{time} {} {} {}:{} {} {:?} {} {} {} {} {} {} {} {} {} [{packets} packets]",
            esc(&event.table),
            esc(&r.tier),
            esc(&r.kind),
            esc(&r.policy),
            esc(&r.rule),
            r.direction,
            r.action_name(),
            esc(&opt(&event.applied_to)),
            event.src_ip,
            opt(&event.src_port),
            event.dst_ip,
            opt(&event.dst_port),
            esc(&event.protocol),
            event.length,
            esc(r.log_label.as_deref().unwrap_or("-")),
        ),
        AuditFormat::Json => serde_json::json!({
            "time": time,
            "table": event.table,
            "tier": r.tier,
            "kind": r.kind,
            "policy": r.policy,
            "rule": r.rule,
            "direction": format!("{:?}", r.direction),
            "action": r.action_name(),
            "staged": r.staged,
            "appliedTo": event.applied_to.as_ref().map(PodKey::to_string),
            "srcIP": event.src_ip.to_string(),
            "srcPort": event.src_port,
            "dstIP": event.dst_ip.to_string(),
            "dstPort": event.dst_port,
            "protocol": event.protocol,
            "length": event.length,
            "logLabel": r.log_label,
            "packets": packets,
        })
        .to_string(),
    }
}

impl AuditLog {
    /// The log file of `cfg`, appended to and rotated by `cfg.rotation`; the file is opened at
    /// the first line (and again whenever it went away).
    ///
    /// Errors: [`AuditError::Zero`] for a zero size.
    pub fn open(cfg: &AuditConfig) -> Result<Self, AuditError> {
        if cfg.rotation.max_bytes == 0 {
            return Err(AuditError::Zero {
                path: cfg.path.clone(),
                field: "max_bytes",
            });
        }
        let file = RotatingFile::new(&cfg.path, cfg.rotation.clone());
        Ok(Self::with_sink(Sink::File(file), cfg.format))
    }
}

impl AuditLog {
    /// A log writing to `out` (tests, stdout).
    pub fn to_writer(out: impl Write + Send + 'static, format: AuditFormat) -> Self {
        Self::with_sink(Sink::Writer(Box::new(out)), format)
    }

    fn with_sink(out: Sink, format: AuditFormat) -> Self {
        AuditLog(Arc::new(Mutex::new(Inner {
            out,
            format,
            queue: BTreeMap::new(),
            open: HashMap::new(),
            next: 0,
        })))
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes the log file; the next line opens its path again (SIGHUP after logrotate moved
    /// the file away). A no-op for [`AuditLog::to_writer`].
    pub fn reopen(&self) {
        if let Sink::File(f) = &mut self.inner().out {
            f.reopen();
        }
    }

    /// Records `event`: an Allow is final at once; a Drop / Reject opens or counts in the
    /// window of its [`DedupKey`]. Lines that are due at `event.time` are written first.
    pub fn record(&self, event: AuditEvent) {
        self.flush(event.time);
        let mut inner = self.inner();
        let key = (event.rule.action != RuleAction::Allow).then(|| {
            (
                event.rule.id,
                event.table.clone(),
                event.src_ip,
                event.src_port,
                event.dst_ip,
                event.dst_port,
                event.protocol.clone(),
            )
        });
        if let Some(seq) = key.as_ref().and_then(|k| inner.open.get(k).copied()) {
            if let Some(e) = inner.queue.get_mut(&seq) {
                e.packets = e.packets.saturating_add(1);
                return;
            }
        }
        let seq = inner.next;
        inner.next += 1;
        if let Some(k) = &key {
            inner.open.insert(k.clone(), seq);
        }
        inner.queue.insert(
            seq,
            Entry {
                key,
                event,
                packets: 1,
            },
        );
        drop(inner);
        // An Allow with nothing open before it is written now.
        self.flush(SystemTime::UNIX_EPOCH);
    }

    /// Writes, oldest first, the lines that are final at `now`: Allows, and windows opened at
    /// least [`DEDUP_WINDOW`] before `now`; stops at the first window still open, so the file
    /// stays in time order.
    pub fn flush(&self, now: SystemTime) {
        let mut inner = self.inner();
        while let Some(entry) = inner.queue.first_entry() {
            let e = entry.get();
            let due = e.key.is_none()
                || now.duration_since(e.event.time).unwrap_or_default() >= DEDUP_WINDOW;
            if !due {
                break;
            }
            let e = entry.remove();
            if let Some(k) = &e.key {
                inner.open.remove(k);
            }
            let line = format_line(&e.event, e.packets, inner.format);
            write_line(&mut inner.out, &line);
        }
    }

    /// Writes every open window (at shutdown).
    pub fn flush_all(&self) {
        self.flush(SystemTime::now() + DEDUP_WINDOW * 2);
    }
}

fn write_line(out: &mut Sink, line: &str) {
    let r = match out {
        Sink::File(f) => f.write_line(line),
        Sink::Writer(w) => w
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|_| w.flush()),
    };
    if let Err(e) = r {
        tracing::warn!("audit log: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::resolved::Direction;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Buf {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn event(action: RuleAction, at_ms: u64) -> AuditEvent {
        AuditEvent {
            time: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + at_ms),
            table: "IngressMetric".into(),
            rule: RuleInfo {
                id: 4,
                kind: "ClusterNetworkPolicy".into(),
                tier: "securityops".into(),
                policy: "web".into(),
                rule: "allow-http".into(),
                direction: Direction::Ingress,
                action,
                enable_logging: true,
                log_label: Some("audit-web".into()),
                staged: false,
            },
            applied_to: Some(PodKey {
                namespace: "prod".into(),
                name: "web".into(),
            }),
            src_ip: Ipv4Addr::new(10, 0, 0, 1),
            src_port: Some(40000),
            dst_ip: Ipv4Addr::new(10, 0, 0, 2),
            dst_port: Some(80),
            protocol: "TCP".into(),
            length: 60,
        }
    }

    #[test]
    fn an_allow_line_carries_every_field_in_order() {
        let buf = Buf::default();
        let log = AuditLog::to_writer(buf.clone(), AuditFormat::Text);
        log.record(event(RuleAction::Allow, 0));
        assert_eq!(
            buf.text(),
            "2023-11-14T22:13:20.000000Z IngressMetric securityops ClusterNetworkPolicy:web allow-http Ingress Allow prod/web 10.0.0.1 40000 10.0.0.2 80 TCP 60 audit-web [1 packets]\n"
        );
    }

    #[test]
    fn a_name_with_a_newline_cannot_forge_a_second_text_line() {
        let buf = Buf::default();
        let log = AuditLog::to_writer(buf.clone(), AuditFormat::Text);
        let mut e = event(RuleAction::Allow, 0);
        e.rule.policy = "web\n2023-11-14T22:13:20.000000Z IngressMetric forged".into();
        e.rule.log_label = Some("a b".into());
        log.record(e);
        let text = buf.text();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains(" ClusterNetworkPolicy:web\\x0a2023-11-14T22:13:20.000000Z\\x20IngressMetric\\x20forged allow-http ")
                && text.contains(" a\\x20b [1 packets]"),
            "{text}"
        );
    }

    #[test]
    fn drops_within_a_second_become_one_line_with_their_count() {
        let buf = Buf::default();
        let log = AuditLog::to_writer(buf.clone(), AuditFormat::Text);
        for ms in [0, 300, 999] {
            log.record(event(RuleAction::Drop, ms));
        }
        assert_eq!(buf.text(), "", "a drop waits for its window to close");
        log.record(event(RuleAction::Drop, 1000)); // closes the first window, opens a second
        assert!(buf.text().ends_with(" [3 packets]\n"), "{}", buf.text());
        assert_eq!(buf.text().lines().count(), 1);
        log.flush(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_002_000));
        assert!(buf.text().ends_with(" [1 packets]\n"), "{}", buf.text());
        assert_eq!(buf.text().lines().count(), 2);
    }

    #[test]
    fn json_lines_have_named_fields() {
        let buf = Buf::default();
        let log = AuditLog::to_writer(buf.clone(), AuditFormat::Json);
        log.record(event(RuleAction::Allow, 0));
        let v: serde_json::Value = serde_json::from_str(buf.text().trim()).unwrap();
        assert_eq!(v["policy"], "web");
        assert_eq!(v["dstPort"], 80);
        assert_eq!(v["appliedTo"], "prod/web");
        assert_eq!(v["logLabel"], "audit-web");
        assert_eq!(v["packets"], 1);
    }

    #[test]
    fn a_staged_rules_lines_say_what_it_would_do() {
        let mut e = event(RuleAction::Drop, 0);
        e.rule.staged = true;
        let text = format_line(&e, 2, AuditFormat::Text);
        assert!(
            text.contains(
                " securityops ClusterNetworkPolicy:web allow-http Ingress WouldDrop prod/web "
            ),
            "{text}"
        );
        let v: serde_json::Value =
            serde_json::from_str(&format_line(&e, 2, AuditFormat::Json)).unwrap();
        assert_eq!(
            (v["action"].as_str(), v["staged"].as_bool()),
            (Some("WouldDrop"), Some(true))
        );
        assert_eq!(e.rule.labels()[4], ("action", "WouldDrop".to_string()));
    }

    fn config(path: PathBuf, max_bytes: u64, max_backups: usize) -> AuditConfig {
        AuditConfig {
            path,
            format: AuditFormat::Text,
            rotation: Rotation {
                max_bytes,
                max_backups,
                ..Rotation::default()
            },
        }
    }

    fn from_port(mut e: AuditEvent, port: u16) -> AuditEvent {
        e.src_port = Some(port);
        e
    }

    #[test]
    fn each_connection_attempt_is_its_own_reject_line_and_a_retransmission_is_not() {
        let buf = Buf::default();
        let log = AuditLog::to_writer(buf.clone(), AuditFormat::Text);
        // Five attempts from five source ports, the first one retransmitting its SYN.
        for (ms, port) in [
            (0, 40000),
            (10, 40001),
            (20, 40002),
            (30, 40003),
            (40, 40004),
        ] {
            log.record(from_port(event(RuleAction::Reject, ms), port));
        }
        log.record(from_port(event(RuleAction::Reject, 900), 40000));
        log.flush(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_002_000));
        let text = buf.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[0].contains(" 10.0.0.1 40000 ") && lines[0].ends_with("[2 packets]"));
        for (line, port) in lines[1..].iter().zip(40001..) {
            assert!(line.contains(&format!(" 10.0.0.1 {port} ")), "{line}");
            assert!(line.ends_with("[1 packets]"), "{line}");
        }
    }

    #[test]
    fn lines_are_written_in_the_order_of_their_events() {
        let buf = Buf::default();
        let log = AuditLog::to_writer(buf.clone(), AuditFormat::Text);
        log.record(event(RuleAction::Drop, 0));
        log.record(from_port(event(RuleAction::Allow, 200), 41000));
        assert_eq!(
            buf.text(),
            "",
            "the allow waits behind the open drop window"
        );
        log.flush(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_001_000));
        let text = buf.text();
        let times: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(
            times,
            ["2023-11-14T22:13:20.000000Z", "2023-11-14T22:13:20.200000Z"]
        );
        assert!(text.lines().next().unwrap().contains(" Drop "));
    }

    #[test]
    fn a_line_break_in_a_name_does_not_forge_a_line() {
        let mut e = event(RuleAction::Allow, 0);
        e.rule.rule = "x\n2023-11-14T22:13:20.000000Z forged".into();
        assert_eq!(format_line(&e, 1, AuditFormat::Text).lines().count(), 1);
    }

    #[test]
    fn a_zero_rotation_size_is_refused_with_the_field_named() {
        let cfg = config("/tmp/x.log".into(), 0, 3);
        let e = AuditLog::open(&cfg).unwrap_err();
        assert_eq!(e.to_string(), "audit log /tmp/x.log: max_bytes must be > 0");
    }

    #[test]
    fn the_file_rotates_at_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path().join("np.log"), 300, 2);
        let log = AuditLog::open(&cfg).unwrap();
        for i in 0..6 {
            log.record(event(RuleAction::Allow, i));
        }
        assert!(dir.path().join("np.log.1").exists());
        assert!(std::fs::metadata(&cfg.path).unwrap().len() <= 300);
    }

    #[test]
    fn lines_keep_coming_when_rotated_files_and_the_log_itself_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path().join("np.log"), 300, 2);
        let log = AuditLog::open(&cfg).unwrap();
        let mut written = 0;
        for round in 0..5 {
            for i in 0..7 {
                log.record(event(RuleAction::Allow, round * 100 + i));
                written += 1;
            }
            // logrotate gone wrong, or an operator's `rm np.log*`.
            for e in std::fs::read_dir(dir.path()).unwrap() {
                std::fs::remove_file(e.unwrap().path()).unwrap();
            }
        }
        log.record(event(RuleAction::Allow, 999));
        written += 1;
        assert!(written > 30);
        let text = std::fs::read_to_string(&cfg.path).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.starts_with("2023-11-14T22:13:20.999000Z "), "{text}");
    }

    #[test]
    fn reopen_leaves_a_moved_file_behind() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path().join("np.log"), 1 << 20, 2);
        let log = AuditLog::open(&cfg).unwrap();
        log.record(event(RuleAction::Allow, 0));
        let moved = dir.path().join("np.log.moved");
        std::fs::rename(&cfg.path, &moved).unwrap();
        log.reopen();
        log.record(event(RuleAction::Allow, 1));
        assert_eq!(std::fs::read_to_string(&moved).unwrap().lines().count(), 1);
        assert_eq!(
            std::fs::read_to_string(&cfg.path).unwrap().lines().count(),
            1
        );
    }
}
