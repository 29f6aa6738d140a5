//! A connection tracker reduced to what the pipeline can observe: committed connections per
//! zone, keyed by 5-tuple, with their ct_mark and ct_label.
//!
//! Like netfilter and OVS's userspace conntrack, a connection is `+new` until it is committed
//! and a packet was seen in the reply direction; after that both directions are `+est`, reply
//! packets also `+rpl`. Uncommitted connections leave no trace. TCP flags, timeouts, `+rel`
//! and `+inv` are not modelled (`+inv` is only given to non-IP packets).

use std::collections::HashMap;
use std::net::IpAddr;

use crate::flow::ct_state;

use super::packet::{Packet, ETH_TYPE_IP, ETH_TYPE_IPV6};

/// A connection key in the original direction: zone, protocol, addresses and ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnKey {
    /// Conntrack zone.
    pub zone: u16,
    /// IP protocol.
    pub proto: u8,
    /// Source address (IPv4 or IPv6).
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (0 for ICMP).
    pub sport: u16,
    /// Destination port (0 for ICMP).
    pub dport: u16,
}

impl ConnKey {
    fn of(zone: u16, p: &Packet) -> ConnKey {
        ConnKey {
            zone,
            proto: p.ip_proto,
            src: p.src_ip(),
            dst: p.dst_ip(),
            sport: p.tp_src,
            dport: p.tp_dst,
        }
    }

    fn reversed(self) -> ConnKey {
        ConnKey {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            ..self
        }
    }
}

/// A committed connection (one line of `ovs-appctl dpctl/dump-conntrack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Conn {
    /// ct_mark.
    pub mark: u32,
    /// ct_label.
    pub label: u128,
    /// A packet was seen in the reply direction.
    pub seen_reply: bool,
}

/// What `ct` found for a packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lookup {
    pub(crate) state: u32,
    /// The connection's key in its original direction (None for non-IP).
    pub(crate) key: Option<ConnKey>,
}

/// Committed connections of every zone.
#[derive(Debug, Clone, Default)]
pub struct Conntrack {
    conns: HashMap<ConnKey, Conn>,
}

impl Conntrack {
    /// Classifies a packet in `zone` (and records that the reply direction was seen).
    pub(crate) fn lookup(&mut self, zone: u16, p: &Packet) -> Lookup {
        if p.eth_type != ETH_TYPE_IP && p.eth_type != ETH_TYPE_IPV6 {
            return Lookup {
                state: ct_state::TRK | ct_state::INV,
                key: None,
            };
        }
        let k = ConnKey::of(zone, p);
        let trk = ct_state::TRK;
        if let Some(c) = self.conns.get(&k) {
            let state = if c.seen_reply {
                trk | ct_state::EST
            } else {
                trk | ct_state::NEW
            };
            return Lookup {
                state,
                key: Some(k),
            };
        }
        let r = k.reversed();
        if let Some(c) = self.conns.get_mut(&r) {
            c.seen_reply = true;
            return Lookup {
                state: trk | ct_state::EST | ct_state::RPL,
                key: Some(r),
            };
        }
        Lookup {
            state: trk | ct_state::NEW,
            key: Some(k),
        }
    }

    /// Commits a connection (no-op if it exists) and returns it for `exec` to update.
    pub(crate) fn commit(&mut self, key: ConnKey) -> &mut Conn {
        self.conns.entry(key).or_default()
    }

    /// The connection with this original-direction key.
    pub fn get(&self, key: &ConnKey) -> Option<&Conn> {
        self.conns.get(key)
    }

    /// The connection a packet belongs to in `zone`, either direction.
    pub fn find(&self, zone: u16, p: &Packet) -> Option<(ConnKey, &Conn)> {
        let k = ConnKey::of(zone, p);
        [k, k.reversed()]
            .into_iter()
            .find_map(|k| self.conns.get(&k).map(|c| (k, c)))
    }

    /// Number of committed connections.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// No committed connections.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Forgets every connection, like `ovs-appctl dpctl/flush-conntrack`.
    pub fn flush(&mut self) {
        self.conns.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::MacAddr;

    fn syn() -> Packet {
        let m = MacAddr([2, 0, 0, 0, 0, 1]);
        Packet::tcp(
            1,
            m,
            m,
            [10, 0, 0, 1].into(),
            [10, 0, 0, 2].into(),
            1000,
            80,
        )
    }

    #[test]
    fn an_uncommitted_connection_is_new_every_time() {
        let mut ct = Conntrack::default();
        for _ in 0..2 {
            assert_eq!(ct.lookup(1, &syn()).state, ct_state::TRK | ct_state::NEW);
        }
        assert!(ct.is_empty());
    }

    #[test]
    fn a_committed_connection_is_new_until_its_reply_then_established_both_ways() {
        let mut ct = Conntrack::default();
        let k = ct.lookup(1, &syn()).key.unwrap();
        ct.commit(k);
        assert_eq!(ct.lookup(1, &syn()).state, ct_state::TRK | ct_state::NEW);
        let rpl = ct.lookup(1, &syn().reply(2));
        assert_eq!(rpl.state, ct_state::TRK | ct_state::EST | ct_state::RPL);
        assert_eq!(rpl.key, Some(k));
        assert_eq!(ct.lookup(1, &syn()).state, ct_state::TRK | ct_state::EST);
    }

    #[test]
    fn zones_are_separate() {
        let mut ct = Conntrack::default();
        let k = ct.lookup(1, &syn()).key.unwrap();
        ct.commit(k);
        let other = ct.lookup(2, &syn().reply(2));
        assert_eq!(other.state, ct_state::TRK | ct_state::NEW);
    }
}
