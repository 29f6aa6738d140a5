//! The agent's observability: per-rule statistics and Prometheus metrics, the audit log, and
//! the Reject answers. Self-contained; the agent wires it in:
//!
//! ```text
//! let metrics = Metrics::new();                          // clone freely
//! serve_metrics(addr, metrics.clone(), Some(StatsSource { conn, rules: rx.clone() })).await?;
//! ensure_meters(&conn, &ObserveConfig::default()).await?;   // before any flow
//! ... compile + bundle ...
//! tx.send(Arc::new(RuleIndex::new(&compiled, &policies, &pods)));   // after each commit
//! spawn_packet_ins(own_conn, rx, AuditLog::open(&audit_cfg)?, metrics.clone());
//! metrics.realization("incremental", seconds, ok);           // per bundle
//! ```
//!
//! - [`rules`]: [`RuleIndex`] (rule id → tier, policy, rule, direction, action, logging) and
//!   [`rule_stats`], the per-rule packets / bytes / sessions from the metric tables' flow stats.
//! - [`metrics`]: [`Metrics`] (`kakine_agent_*`) and [`serve_metrics`] (`GET /metrics`).
//! - [`audit`]: [`AuditLog`], text or JSON lines, Drop/Reject deduplicated per second, rotated.
//! - [`reject`]: the TCP RST / ICMP administratively-prohibited answer to a rejected packet.
//! - [`packet_in`]: [`ensure_meters`] and [`spawn_packet_ins`], the task that turns packet-ins
//!   into audit lines and Reject answers.
//!
//! `docs/observability.md` lists the metrics, the audit-log format and the Reject behaviour.

pub mod audit;
pub mod metrics;
pub mod packet_in;
pub mod reject;
pub mod rules;

pub use audit::{AuditConfig, AuditError, AuditEvent, AuditFormat, AuditLog, AuditRotation};
pub use metrics::{serve_metrics, Metrics, StatsSource};
pub use packet_in::{ensure_meters, handle, spawn_packet_ins, Handled, ObserveConfig};
pub use reject::{reject_reply, RejectError, RejectKind};
pub use rules::{rule_stats, RuleIndex, RuleInfo, RuleStats};
