//! The agent's observability: per-rule statistics and Prometheus metrics, the audit log, and
//! the Reject answers. Self-contained; the agent wires it in:
//!
//! ```text
//! let metrics = Metrics::new();                          // clone freely
//! serve_metrics(addr, metrics.clone(), Some(StatsSource::new(mgmt_sock, Some(rundir), rx.clone()))).await?;
//! ensure_meters(&conn, &ObserveConfig::default()).await?;   // before any flow
//! ... compile + bundle ...
//! tx.send(Arc::new(RuleIndex::new(&compiled, &policies, &pods)));   // after each commit
//! spawn_packet_ins(own_conn, rx, AuditLog::open(&audit_cfg)?, metrics.clone());
//! metrics.realization("incremental", seconds, ok);           // per bundle
//! ```
//!
//! - [`rules`]: [`RuleIndex`] (rule id → tier, policy, rule, direction, action, logging) and
//!   [`rule_stats`], the per-rule packets / bytes / sessions from the metric tables' flow stats.
//! - [`metrics`]: [`Metrics`] (`kakine_agent_*`) and the readiness they imply; [`process`]:
//!   `process_*` from `/proc/self`.
//! - [`server`]: [`serve_metrics`] (`/metrics`, `/healthz`, `/livez`, `/readyz`) with its
//!   [`Limits`]; [`stats`]: the cached OVS statistics it reads on a connection of its own.
//! - [`rotate`]: the size/count/age-rotated file under the audit log.
//! - [`audit`]: [`AuditLog`], text or JSON lines, Drop/Reject deduplicated per second, rotated.
//! - [`reject`]: the TCP RST / ICMP administratively-prohibited answer to a rejected packet.
//! - [`packet_in`]: [`ensure_meters`] and [`spawn_packet_ins`], the task that turns packet-ins
//!   into audit lines and Reject answers.
//! - [`pod_limit`]: [`PodLimiter`], the per-pod budget of that task.
//!
//! `docs/observability.md` lists the metrics, the audit-log format and the Reject behaviour.

pub mod audit;
pub mod metrics;
pub mod packet_in;
pub mod pod_limit;
pub mod process;
pub mod reject;
pub mod rotate;
pub mod rules;
pub mod server;
pub mod stats;

pub use audit::{AuditConfig, AuditError, AuditEvent, AuditFormat, AuditLog};
pub use metrics::Metrics;
pub use packet_in::{
    ensure_meters, handle, spawn_packet_ins, spawn_packet_ins_limited, Handled, ObserveConfig,
};
pub use pod_limit::PodLimiter;
pub use reject::{reject_reply, RejectError, RejectKind};
pub use rotate::{RotatingFile, Rotation};
pub use rules::{isolation_stats, rule_stats, RuleIndex, RuleInfo, RuleStats};
pub use server::{serve_metrics, serve_metrics_with, Limits};
pub use stats::StatsSource;
