//! The audit log: one line per packet a logged rule decided.
//!
//! Text lines (Antrea's `np.log` field order) or JSON lines, in a file that rotates by size
//! (`file-rotate`). Allow events are written at once; Drop and Reject events are deduplicated
//! per second: the first event of a (rule, source, destination, port, protocol) opens a
//! one-second window, repeats inside it only count, and one line with the count is written when
//! the window closes ([`AuditLog::flush`]). Time is a parameter, so the dedup is tested without
//! a clock.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::policy::resolved::{PodKey, RuleAction};

use super::rules::RuleInfo;

/// The dedup window of Drop / Reject events.
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
    /// The log file (rotated files get `.1`, `.2`, ... appended).
    pub path: PathBuf,
    /// Line format.
    pub format: AuditFormat,
    /// Size in bytes at which the file rotates (> 0).
    pub max_bytes: usize,
    /// Rotated files kept (> 0).
    pub max_files: usize,
}

/// A bad [`AuditConfig`] or a file that cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A size or count of zero.
    #[error("audit log {path}: {field} must be > 0")]
    Zero {
        /// The log path.
        path: PathBuf,
        /// `max_bytes` or `max_files`.
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

type DedupKey = (u32, String, Ipv4Addr, Ipv4Addr, Option<u16>, String);

struct Inner {
    out: Box<dyn Write + Send>,
    format: AuditFormat,
    pending: BTreeMap<DedupKey, (AuditEvent, u64)>,
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
            "{time} {} {} {}:{} {} {:?} {:?} {} {} {} {} {} {} {} {} [{packets} packets]",
            esc(&event.table),
            esc(&r.tier),
            esc(&r.kind),
            esc(&r.policy),
            esc(&r.rule),
            r.direction,
            r.action,
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
            "action": format!("{:?}", r.action),
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
    /// Opens (appends to) the log file of `cfg`, rotating at `cfg.max_bytes` and keeping
    /// `cfg.max_files` rotated files.
    ///
    /// Errors: [`AuditError::Zero`] for a zero size or count.
    pub fn open(cfg: &AuditConfig) -> Result<Self, AuditError> {
        for (field, v) in [("max_bytes", cfg.max_bytes), ("max_files", cfg.max_files)] {
            if v == 0 {
                return Err(AuditError::Zero {
                    path: cfg.path.clone(),
                    field,
                });
            }
        }
        // The lines hold pod addresses: owner-only, like the state directory's files.
        let mut open = std::fs::OpenOptions::new();
        open.read(true).create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let file = file_rotate::FileRotate::new(
            &cfg.path,
            file_rotate::suffix::AppendCount::new(cfg.max_files),
            file_rotate::ContentLimit::BytesSurpassed(cfg.max_bytes),
            file_rotate::compression::Compression::None,
            Some(open),
        );
        Ok(Self::to_writer(file, cfg.format))
    }

    /// A log writing to `out` (tests, stdout).
    pub fn to_writer(out: impl Write + Send + 'static, format: AuditFormat) -> Self {
        AuditLog(Arc::new(Mutex::new(Inner {
            out: Box::new(out),
            format,
            pending: BTreeMap::new(),
        })))
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `event`: an Allow is written now; a Drop / Reject opens or counts in its dedup
    /// window. Windows older than [`DEDUP_WINDOW`] at `event.time` are flushed first.
    pub fn record(&self, event: AuditEvent) {
        self.flush(event.time);
        let mut inner = self.inner();
        if event.rule.action == RuleAction::Allow {
            let line = format_line(&event, 1, inner.format);
            write_line(&mut inner, &line);
            return;
        }
        let key = (
            event.rule.id,
            event.table.clone(),
            event.src_ip,
            event.dst_ip,
            event.dst_port,
            event.protocol.clone(),
        );
        let n = &mut inner.pending.entry(key).or_insert((event, 0)).1;
        *n = n.saturating_add(1);
    }

    /// Writes the windows opened at least [`DEDUP_WINDOW`] before `now`.
    pub fn flush(&self, now: SystemTime) {
        let mut inner = self.inner();
        let due: Vec<DedupKey> = inner
            .pending
            .iter()
            .filter(|(_, (e, _))| now.duration_since(e.time).unwrap_or_default() >= DEDUP_WINDOW)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            if let Some((event, n)) = inner.pending.remove(&key) {
                let line = format_line(&event, n, inner.format);
                write_line(&mut inner, &line);
            }
        }
    }

    /// Writes every open window (at shutdown).
    pub fn flush_all(&self) {
        self.flush(SystemTime::now() + DEDUP_WINDOW * 2);
    }
}

fn write_line(inner: &mut Inner, line: &str) {
    // One write per line, so that a rotation never splits a line across files.
    let bytes = format!("{line}\n");
    if let Err(e) = inner
        .out
        .write_all(bytes.as_bytes())
        .and_then(|_| inner.out.flush())
    {
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
    fn a_zero_rotation_size_is_refused_with_the_field_named() {
        let cfg = AuditConfig {
            path: "/tmp/x.log".into(),
            format: AuditFormat::Text,
            max_bytes: 0,
            max_files: 3,
        };
        let e = AuditLog::open(&cfg).unwrap_err();
        assert_eq!(e.to_string(), "audit log /tmp/x.log: max_bytes must be > 0");
    }

    #[test]
    fn the_file_rotates_at_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = AuditConfig {
            path: dir.path().join("np.log"),
            format: AuditFormat::Text,
            max_bytes: 300,
            max_files: 2,
        };
        let log = AuditLog::open(&cfg).unwrap();
        for i in 0..6 {
            log.record(event(RuleAction::Allow, i));
        }
        assert!(dir.path().join("np.log.1").exists());
        assert!(std::fs::metadata(&cfg.path).unwrap().len() < 600);
    }
}
