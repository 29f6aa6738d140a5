//! A fake Open vSwitch bridge: an in-process interpreter of the OpenFlow tables kakine installs,
//! so tests assert packet verdicts instead of flow text (Faucet's fake OpenFlow table).
//!
//! [`FakeSwitch`] takes real flow_mods ([`FlowMod`](crate::FlowMod) values or the encoded bytes
//! sent to OVS) and answers a [`Packet`]'s [`Verdict`] and [`Trace`]. It follows OF1.3 §5-6 and
//! OVS where they differ: ADD replaces a flow with the same match and priority, masks normalise,
//! conjunctive match as in OVS `Documentation/topics/design.rst`, output to the input port is
//! skipped, `ct(table=N)` forks a tracked copy that recirculates to table N.
//!
//! ```
//! use openflow::sim::{FakeSwitch, Packet};
//! use openflow::FlowMod;
//!
//! let mut sw = FakeSwitch::new();
//! sw.apply(&"priority=10,tcp,tp_dst=80 actions=output:2".parse::<FlowMod>().unwrap()).unwrap();
//! let m = |b| openflow::MacAddr([0, 0, 0, 0, 0, b]);
//! let p = Packet::tcp(1, m(1), m(2), [10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 40000, 80);
//! assert!(sw.process(&p).unwrap().is_output_to(2));
//! ```
//!
//! Not modelled: idle/hard timeouts, counters, groups, meters, TTLs, TCP state (`+inv`),
//! `+rel`, NAT, packet-ins beyond reporting [`OutPort::Controller`].

mod conntrack;
mod error;
mod packet;
mod switch;
mod table;
mod trace;

pub use conntrack::{Conn, ConnKey, Conntrack};
pub use error::SimError;
pub use packet::{
    Packet, ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP,
    IPPROTO_TCP, IPPROTO_UDP,
};
pub use switch::FakeSwitch;
pub use table::{N_TABLES, TABLE_ALL};
pub use trace::{ct_state_text, OutPort, Step, Trace, Verdict};
