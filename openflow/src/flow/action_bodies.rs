//! The bodies of ct, nat, learn and bundle actions.

use std::net::{Ipv4Addr, Ipv6Addr};

#[cfg(doc)]
use super::Action;
use super::Field;

/// The zone of a `ct` action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CtZone {
    /// `zone=N`.
    Imm(u16),
    /// `zone=FIELD[a..b]`: taken from a field's bits.
    Field {
        /// The field.
        field: Field,
        /// First bit.
        ofs: u16,
        /// Number of bits.
        n_bits: u16,
    },
}

/// Address range of a [`Nat`]: `min` and, when given as `min-max`, `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NatAddr {
    /// IPv4 range (both nonzero; OVS encodes `max` whenever it is given, even equal to `min`).
    V4(Ipv4Addr, Option<Ipv4Addr>),
    /// IPv6 range (printed in brackets).
    V6(Ipv6Addr, Option<Ipv6Addr>),
}

/// NXAST_NAT body as OVS encodes it: only present range parts are on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Nat {
    /// `None` for a bare `nat`; `Some(true)` = `src`, `Some(false)` = `dst`.
    pub src: Option<bool>,
    /// NX_NAT_F_PERSISTENT.
    pub persistent: bool,
    /// NX_NAT_F_PROTO_HASH.
    pub hash: bool,
    /// NX_NAT_F_PROTO_RANDOM.
    pub random: bool,
    /// Address range.
    pub addr: Option<NatAddr>,
    /// Port range (min nonzero; `max` as given, printed only when it differs from `min`).
    pub ports: Option<(u16, Option<u16>)>,
}

/// The body of a `learn` action (NXAST_LEARN, `struct nx_action_learn`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Learn {
    /// Table of the learned flow (`table=`, default 1).
    pub table: u8,
    /// Idle timeout of the learned flow (0 = none).
    pub idle_timeout: u16,
    /// Hard timeout of the learned flow (0 = none).
    pub hard_timeout: u16,
    /// `fin_idle_timeout` of the learned flow.
    pub fin_idle_timeout: u16,
    /// `fin_hard_timeout` of the learned flow.
    pub fin_hard_timeout: u16,
    /// Priority of the learned flow (default 0x8000).
    pub priority: u16,
    /// Cookie of the learned flow.
    pub cookie: u64,
    /// NX_LEARN_F_SEND_FLOW_REM 1, NX_LEARN_F_DELETE_LEARNED 2.
    pub flags: u16,
    /// The flow_mod specs, in order.
    pub specs: Vec<LearnSpec>,
    /// `limit=N`: at most N flows learned (0 = unlimited). Nonzero makes it NXAST_LEARN2.
    pub limit: u32,
    /// `result_dst=FIELD[bit]`: the bit set to whether the flow was learned (field, bit).
    /// Makes it NXAST_LEARN2 with NX_LEARN_F_WRITE_RESULT (4) in the flags.
    pub result_dst: Option<(Field, u16)>,
}

impl Default for Learn {
    fn default() -> Self {
        Learn {
            table: 1,
            idle_timeout: 0,
            hard_timeout: 0,
            fin_idle_timeout: 0,
            fin_hard_timeout: 0,
            priority: 0x8000,
            cookie: 0,
            flags: 0,
            specs: Vec::new(),
            limit: 0,
            result_dst: None,
        }
    }
}

/// The body of a `bundle` / `bundle_load` action (`struct nx_action_bundle`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bundle {
    /// `nx_hash_fields`, as for [`Action::Multipath`] (eth_src 0, symmetric_l4 1, ...).
    pub fields: u16,
    /// Hash basis.
    pub basis: u16,
    /// NX_BD_ALG_ACTIVE_BACKUP 0, NX_BD_ALG_HRW 1.
    pub algorithm: u16,
    /// Member OpenFlow ports (16-bit, `member_type` NXM_OF_IN_PORT, printed `ofport`).
    pub members: Vec<u16>,
    /// `bundle_load` destination (field, first bit, number of bits); `None` for `bundle`.
    pub dst: Option<(Field, u16, u16)>,
}

/// Source of a learn spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LearnSrc {
    /// Bits `ofs..ofs+n_bits` of a field of the packet being processed.
    Field {
        /// The field.
        field: Field,
        /// First bit.
        ofs: u16,
    },
    /// An immediate value (right-aligned, `n_bits` wide).
    Imm(u128),
}

/// Destination of a learn spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LearnDst {
    /// A match field of the learned flow.
    Match {
        /// The field.
        field: Field,
        /// First bit.
        ofs: u16,
    },
    /// A `load` action in the learned flow.
    Load {
        /// The field.
        field: Field,
        /// First bit.
        ofs: u16,
    },
    /// An `output` action in the learned flow (source must be a field).
    Output,
}

/// One `nx_flow_mod_spec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LearnSpec {
    /// Width in bits (1..=128 here).
    pub n_bits: u16,
    /// Source.
    pub src: LearnSrc,
    /// Destination.
    pub dst: LearnDst,
}
