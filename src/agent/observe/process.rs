//! Process metrics from `/proc/self`, under the names every Prometheus client library uses
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_open_fds`, ...), so
//! the usual dashboards and alerts work unchanged. Read at each scrape; a file that cannot be
//! read leaves its metric out.

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

/// `USER_HZ`: the unit of the times in `/proc/<pid>/stat`, 100 on every Linux ABI (proc(5)).
const USER_HZ: f64 = 100.0;

/// What `/proc/self` says of this process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessStats {
    /// User + system CPU time, seconds.
    pub cpu_seconds: f64,
    /// Resident set size, bytes (`VmRSS`).
    pub resident_bytes: u64,
    /// Virtual memory size, bytes (`VmSize`).
    pub virtual_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// Start time, seconds since the Unix epoch.
    pub start_time_seconds: f64,
}

/// The `kB` value of `key:` in a `/proc/<pid>/status` text, in bytes.
fn status_kb(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Parses the `stat`, `status` and system `btime` of a process (proc(5)): `None` for a field
/// that is missing. `stat`'s command name may hold spaces and parentheses; fields are counted
/// after its last `)`.
pub fn parse(stat: &str, status: &str, btime: Option<u64>) -> ProcessStats {
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    // Fields from 3 (state) on: utime is field 14, stime 15, starttime 22.
    let f: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let cpu = field(14).unwrap_or(0) + field(15).unwrap_or(0);
    ProcessStats {
        cpu_seconds: cpu as f64 / USER_HZ,
        resident_bytes: status_kb(status, "VmRSS:").unwrap_or(0),
        virtual_bytes: status_kb(status, "VmSize:").unwrap_or(0),
        open_fds: 0,
        start_time_seconds: match (btime, field(22)) {
            (Some(b), Some(start)) => b as f64 + start as f64 / USER_HZ,
            _ => 0.0,
        },
    }
}

/// This process's statistics now.
pub fn read_self() -> ProcessStats {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let btime = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
    });
    let mut p = parse(&stat, &status, btime);
    p.open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    p
}

/// The collector the metrics registry encodes at each scrape.
#[derive(Debug)]
pub(super) struct ProcessCollector;

impl prometheus_client::collector::Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let p = read_self();
        ConstCounter::new(p.cpu_seconds).encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "User and system CPU time spent, in seconds",
            None,
            MetricType::Counter,
        )?)?;
        for (name, help, v) in [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                p.resident_bytes as f64,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                p.virtual_bytes as f64,
            ),
            (
                "process_open_fds",
                "Open file descriptors",
                p.open_fds as f64,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch, in seconds",
                p.start_time_seconds,
            ),
        ] {
            ConstGauge::new(v).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Gauge,
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_a_command_name_with_spaces_and_parentheses() {
        // proc(5) field order; comm "(my (agent) x)"; utime 250, stime 50, starttime 1000.
        let stat = "42 (my (agent) x) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 1000 5000 300 18446744073709551615";
        let status = "Name:\tx\nVmSize:\t  20000 kB\nVmRSS:\t    1234 kB\n";
        let p = parse(stat, status, Some(1_700_000_000));
        assert_eq!(p.cpu_seconds, 3.0);
        assert_eq!(p.resident_bytes, 1234 * 1024);
        assert_eq!(p.virtual_bytes, 20000 * 1024);
        assert_eq!(p.start_time_seconds, 1_700_000_010.0);
    }

    #[test]
    fn this_process_has_memory_and_open_files() {
        let p = read_self();
        assert!(p.resident_bytes > 0 && p.open_fds >= 3, "{p:?}");
        assert!(p.start_time_seconds > 1.6e9, "{p:?}");
    }
}
