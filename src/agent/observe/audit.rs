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

/// Rotation beyond size and count (Antrea's agent `auditLogging` `maxAge` and `compress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditRotation {
    /// Rotated files older than this (by modification time) are deleted; `None` keeps them
    /// (up to `max_files`).
    pub max_age: Option<Duration>,
    /// Rotated files are gzipped (`np.log.2.gz`); the newest rotated one stays plain.
    pub compress: bool,
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
    /// What the file was opened with ([`AuditLog::reopen`]); `None` for a plain writer.
    file: Option<(AuditConfig, AuditRotation)>,
    /// When rotated files were last checked against `max_age`.
    pruned: Option<SystemTime>,
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

/// One line for `event` seen `packets` times, without the newline.
pub fn format_line(event: &AuditEvent, packets: u64, format: AuditFormat) -> String {
    let time = humantime::format_rfc3339_micros(event.time).to_string();
    let r = &event.rule;
    match format {
        AuditFormat::Text => format!(
            "{time} {} {} {}:{} {} {:?} {:?} {} {} {} {} {} {} {} {} [{packets} packets]",
            event.table,
            r.tier,
            r.kind,
            r.policy,
            r.rule,
            r.direction,
            r.action,
            opt(&event.applied_to),
            event.src_ip,
            opt(&event.src_port),
            event.dst_ip,
            opt(&event.dst_port),
            event.protocol,
            event.length,
            r.log_label.as_deref().unwrap_or("-"),
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
        Self::open_rotating(cfg, AuditRotation::default())
    }

    /// [`AuditLog::open`] with age-based deletion and compression of rotated files.
    ///
    /// Errors: [`AuditError::Zero`] for a zero size or count.
    pub fn open_rotating(cfg: &AuditConfig, rotation: AuditRotation) -> Result<Self, AuditError> {
        let log = Self::to_writer(rotating_file(cfg, rotation)?, cfg.format);
        log.inner().file = Some((cfg.clone(), rotation));
        prune(cfg, rotation, SystemTime::now());
        Ok(log)
    }

    /// Opens the file again at its path: after `mv np.log np.log.moved` (logrotate's default),
    /// new lines go to a fresh `np.log`, not to the moved file. What SIGHUP does. A writer
    /// that is not a file is left as it is.
    ///
    /// Errors: [`AuditError::Zero`] cannot happen here (the settings were checked at open).
    pub fn reopen(&self) -> Result<(), AuditError> {
        let mut inner = self.inner();
        let Some((cfg, rotation)) = inner.file.clone() else {
            return Ok(());
        };
        let _ = inner.out.flush();
        inner.out = Box::new(rotating_file(&cfg, rotation)?);
        drop(inner);
        prune(&cfg, rotation, SystemTime::now());
        Ok(())
    }
}

/// The size-rotated file of `cfg`.
fn rotating_file(
    cfg: &AuditConfig,
    rotation: AuditRotation,
) -> Result<file_rotate::FileRotate<file_rotate::suffix::AppendCount>, AuditError> {
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
    let compression = if rotation.compress {
        file_rotate::compression::Compression::OnRotate(1)
    } else {
        file_rotate::compression::Compression::None
    };
    Ok(file_rotate::FileRotate::new(
        &cfg.path,
        file_rotate::suffix::AppendCount::new(cfg.max_files),
        file_rotate::ContentLimit::BytesSurpassed(cfg.max_bytes),
        compression,
        Some(open),
    ))
}

/// Deletes the rotated files of `cfg` (`np.log.N`, `np.log.N.gz`) older than `max_age` at `now`.
fn prune(cfg: &AuditConfig, rotation: AuditRotation, now: SystemTime) {
    let (Some(max_age), Some(dir), Some(name)) = (
        rotation.max_age,
        cfg.path.parent(),
        cfg.path.file_name().and_then(|n| n.to_str()),
    ) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        dir
    }) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(rest) = file.to_str().and_then(|f| f.strip_prefix(name)) else {
            continue;
        };
        let n = rest.strip_prefix('.').map(|r| r.trim_end_matches(".gz"));
        if !n.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > max_age);
        if old {
            if let Err(err) = std::fs::remove_file(e.path()) {
                tracing::warn!("audit log: {}: {err}", e.path().display());
            }
        }
    }
}

impl AuditLog {
    /// A log writing to `out` (tests, stdout).
    pub fn to_writer(out: impl Write + Send + 'static, format: AuditFormat) -> Self {
        AuditLog(Arc::new(Mutex::new(Inner {
            out: Box::new(out),
            format,
            pending: BTreeMap::new(),
            file: None,
            pruned: None,
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
        inner.pending.entry(key).or_insert((event, 0)).1 += 1;
    }

    /// Writes the windows opened at least [`DEDUP_WINDOW`] before `now`; once a minute, also
    /// deletes rotated files older than the rotation's `max_age`.
    pub fn flush(&self, now: SystemTime) {
        let mut inner = self.inner();
        if let Some((cfg, rotation)) = inner.file.clone().filter(|(_, r)| r.max_age.is_some()) {
            let due = inner.pruned.is_none_or(|t| {
                now.duration_since(t).unwrap_or_default() >= Duration::from_secs(60)
            });
            if due {
                inner.pruned = Some(now);
                prune(&cfg, rotation, now);
            }
        }
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
    fn reopen_after_a_move_writes_to_a_fresh_file_and_age_prunes_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = AuditConfig {
            path: dir.path().join("np.log"),
            format: AuditFormat::Text,
            max_bytes: 1 << 20,
            max_files: 2,
        };
        let rotation = AuditRotation {
            max_age: Some(Duration::from_secs(3600)),
            compress: false,
        };
        std::fs::write(dir.path().join("np.log.1"), "old\n").unwrap();
        let old = std::fs::File::options()
            .write(true)
            .open(dir.path().join("np.log.1"))
            .unwrap();
        old.set_modified(SystemTime::now() - Duration::from_secs(7200))
            .unwrap();
        let log = AuditLog::open_rotating(&cfg, rotation).unwrap();
        assert!(!dir.path().join("np.log.1").exists(), "older than max_age");
        log.record(event(RuleAction::Allow, 0));
        let moved = dir.path().join("np.log.moved");
        std::fs::rename(&cfg.path, &moved).unwrap();
        log.reopen().unwrap();
        log.record(event(RuleAction::Allow, 1));
        let lines = |p: &std::path::Path| std::fs::read_to_string(p).unwrap().lines().count();
        assert_eq!(lines(&moved), 1);
        assert_eq!(lines(&cfg.path), 1);
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
