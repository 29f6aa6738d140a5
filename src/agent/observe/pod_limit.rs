//! Per-pod limits on packet-ins: the node-wide meters ([`super::ObserveConfig`]) bound what
//! the datapath sends the agent, but one pod sending fast could take that whole budget and
//! leave every other pod's logged and rejected packets unanswered. The packet-in task therefore
//! also holds a token bucket per pod: a pod gets at most `rate` audit lines and Reject answers a
//! second (burst twice that), whatever the others do.
//!
//! The pod is the one the rule applies to: the source of an egress rule's packet, the
//! destination of an ingress rule's (the same pod whose traffic the rule governs), by IPv4
//! address. A packet-in whose rule is unknown counts against its source address.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Instant;

use etherparse::{LaxNetSlice, LaxSlicedPacket};
use openflow::nicira::PacketIn2Prop;

use super::rules::RuleIndex;
use crate::datapath::pipeline::packet_in;
use crate::policy::resolved::Direction;

/// Per-pod packet-ins a second by default: a fifth of the node-wide meters' 500.
pub const DEFAULT_POD_RATE: u32 = 100;

/// Most pods tracked at once; past it, pods whose bucket is full again are forgotten (a
/// forgotten pod starts with a full bucket, which is what it would have anyway).
const MAX_TRACKED: usize = 16_384;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by pod address (sans-IO: the caller passes `now`).
#[derive(Debug, Clone)]
pub struct PodLimiter {
    rate: f64,
    burst: f64,
    buckets: HashMap<Ipv4Addr, Bucket>,
}

impl PodLimiter {
    /// `rate` packet-ins a second per pod, burst `2 × rate`; `0` turns the limit off.
    pub fn new(rate: u32) -> Self {
        PodLimiter {
            rate: f64::from(rate),
            burst: 2.0 * f64::from(rate),
            buckets: HashMap::new(),
        }
    }

    /// Whether `pod` may have one more packet-in handled at `now` (takes a token if so).
    pub fn allow(&mut self, pod: Ipv4Addr, now: Instant) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        if self.buckets.len() >= MAX_TRACKED && !self.buckets.contains_key(&pod) {
            let (rate, burst) = (self.rate, self.burst);
            self.buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst
            });
            if self.buckets.len() >= MAX_TRACKED {
                self.buckets.clear();
            }
        }
        let b = self.buckets.entry(pod).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Default for PodLimiter {
    fn default() -> Self {
        PodLimiter::new(DEFAULT_POD_RATE)
    }
}

/// The pod a packet-in is charged to (see the module docs); `None` for a packet-in without an
/// IPv4 frame (the task handles those without limit: they are refused at once).
pub fn charged_pod(props: &[PacketIn2Prop], rules: &RuleIndex) -> Option<Ipv4Addr> {
    let (mut frame, mut table, mut userdata) = (None, None, None);
    for p in props {
        match p {
            PacketIn2Prop::Packet(d) => frame = Some(d.as_slice()),
            PacketIn2Prop::TableId(t) => table = Some(*t),
            PacketIn2Prop::Userdata(u) => userdata = Some(u.as_slice()),
            _ => {}
        }
    }
    let p = LaxSlicedPacket::from_ethernet(frame?).ok()?;
    let Some(LaxNetSlice::Ipv4(ip)) = &p.net else {
        return None;
    };
    let (src, dst) = (ip.header().source_addr(), ip.header().destination_addr());
    let direction = userdata
        .and_then(packet_in::parse)
        .zip(table)
        .and_then(|((_, rule), table)| rules.for_packet_in(rule, table, src, dst))
        .map(|r| r.direction);
    Some(match direction {
        Some(Direction::Ingress) => dst,
        _ => src,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn one_pod_past_its_budget_leaves_the_others_theirs() {
        let mut l = PodLimiter::new(10);
        let t0 = Instant::now();
        let (noisy, quiet) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let allowed = (0..1000).filter(|_| l.allow(noisy, t0)).count();
        assert_eq!(allowed, 20, "the burst is twice the rate");
        assert!(l.allow(quiet, t0), "another pod still has its budget");
        // Refilled at the rate: half a second gives 5 more.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!((0..100).filter(|_| l.allow(noisy, t1)).count(), 5);
    }

    #[test]
    fn rate_zero_is_no_limit_and_the_table_stays_bounded() {
        let mut off = PodLimiter::new(0);
        assert!((0..10_000).all(|_| off.allow(Ipv4Addr::new(10, 0, 0, 1), Instant::now())));
        let mut l = PodLimiter::new(1);
        let t = Instant::now();
        for i in 0..(MAX_TRACKED as u32 + 10) {
            assert!(l.allow(Ipv4Addr::from(i), t));
        }
        assert!(l.buckets.len() <= MAX_TRACKED);
    }
}
