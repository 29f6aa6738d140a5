//! Groups (OF1.3 §7.3.4.2, §7.3.5.9-11): GROUP_MOD, buckets, and the GROUP / GROUP_DESC /
//! GROUP_FEATURES multipart bodies. Equivalent to `ovs-ofctl add-group` / `dump-groups` /
//! `dump-group-stats` / `dump-group-features`.

use crate::action::{emit_actions, parse_actions};
use crate::flow::Action;
use crate::wire::{exact_len, item, put_len_at, Reader};
use crate::Error;

/// OFPG_ANY: "no group" in watch_group and filters.
pub const OFPG_ANY: u32 = 0xffff_ffff;
/// OFPG_ALL: every group (GROUP_MOD DELETE, stats request).
pub const OFPG_ALL: u32 = 0xffff_fffc;

open_enum! {
    /// `ofp_group_mod_command`.
    pub enum GroupModCommand: u16 {
        /// OFPGC_ADD (0).
        Add = 0, "ADD";
        /// OFPGC_MODIFY (1).
        Modify = 1, "MOD";
        /// OFPGC_DELETE (2).
        Delete = 2, "DEL";
    }
}

open_enum! {
    /// `ofp_group_type`.
    pub enum GroupType: u8 {
        /// OFPGT_ALL (0): every bucket.
        All = 0, "all";
        /// OFPGT_SELECT (1): one bucket, by weight.
        Select = 1, "select";
        /// OFPGT_INDIRECT (2): the single bucket.
        Indirect = 2, "indirect";
        /// OFPGT_FF (3): first live bucket.
        FastFailover = 3, "ff";
    }
}

/// `ofp_bucket`: `len u16 | weight u16 | watch_port u32 | watch_group u32 | pad[4] | actions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Relative weight (select groups; 0 otherwise).
    pub weight: u16,
    /// Port whose liveness gates the bucket (fast failover), OFPP_ANY otherwise.
    pub watch_port: u32,
    /// Group whose liveness gates the bucket, OFPG_ANY otherwise.
    pub watch_group: u32,
    /// Actions.
    pub actions: Vec<Action>,
}

/// OFPT_GROUP_MOD body (type 15): `command u16 | type u8 | pad | group_id u32 | buckets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMod {
    /// Add, modify or delete.
    pub command: GroupModCommand,
    /// Group type.
    pub kind: GroupType,
    /// Group id (OFPG_ALL for delete-all).
    pub group_id: u32,
    /// Buckets.
    pub buckets: Vec<Bucket>,
}

/// One GROUP stats reply entry (40 bytes + 16 per bucket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStats {
    /// Group id.
    pub group_id: u32,
    /// Flows and groups that forward to this group.
    pub ref_count: u32,
    /// Packets processed.
    pub packet_count: u64,
    /// Bytes processed.
    pub byte_count: u64,
    /// Seconds alive.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
    /// (packet_count, byte_count) per bucket.
    pub buckets: Vec<(u64, u64)>,
}

/// One GROUP_DESC reply entry: `length u16 | type u8 | pad | group_id u32 | buckets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDesc {
    /// Group type.
    pub kind: GroupType,
    /// Group id.
    pub group_id: u32,
    /// Buckets.
    pub buckets: Vec<Bucket>,
}

/// GROUP_FEATURES reply (40 bytes): `types u32 | capabilities u32 | max_groups[4] u32 |
/// actions[4] u32`, the arrays indexed by group type (all, select, indirect, ff).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupFeatures {
    /// Bit n set: group type n is supported.
    pub types: u32,
    /// OFPGFC_* bits (SELECT_WEIGHT 1, SELECT_LIVENESS 2, CHAINING 4, CHAINING_CHECKS 8).
    pub capabilities: u32,
    /// Maximum number of groups of each type.
    pub max_groups: [u32; 4],
    /// Per type, bit n set: OFPAT_* action type n is supported in buckets.
    pub actions: [u32; 4],
}

impl GroupFeatures {
    /// Append the body.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        let words = [self.types, self.capabilities];
        for w in words.iter().chain(&self.max_groups).chain(&self.actions) {
            buf.extend_from_slice(&w.to_be_bytes());
        }
    }

    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        exact_len(r, 40, "group features reply")?;
        let mut w = [0u32; 10];
        for x in &mut w {
            *x = r.u32("group features")?;
        }
        Ok(GroupFeatures {
            types: w[0],
            capabilities: w[1],
            max_groups: [w[2], w[3], w[4], w[5]],
            actions: [w[6], w[7], w[8], w[9]],
        })
    }
}

impl Bucket {
    /// Append one bucket; its `len` is computed here.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&self.weight.to_be_bytes());
        buf.extend_from_slice(&self.watch_port.to_be_bytes());
        buf.extend_from_slice(&self.watch_group.to_be_bytes());
        buf.extend_from_slice(&[0; 4]);
        emit_actions(&self.actions, buf);
        let len = buf.len() - start;
        put_len_at(buf, start, len);
    }

    fn parse(r: &mut Reader) -> Result<Bucket, Error> {
        let mut b = item(r, 0, 16, "bucket")?;
        b.skip("bucket", 2)?;
        let weight = b.u16("bucket")?;
        let watch_port = b.u32("bucket")?;
        let watch_group = b.u32("bucket")?;
        b.skip("bucket", 4)?;
        Ok(Bucket {
            weight,
            watch_port,
            watch_group,
            actions: parse_actions(&mut b)?,
        })
    }
}

fn parse_buckets(r: &mut Reader) -> Result<Vec<Bucket>, Error> {
    let mut v = Vec::new();
    while !r.is_empty() {
        v.push(Bucket::parse(r)?);
    }
    Ok(v)
}

impl GroupMod {
    /// Append the body.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.command.code().to_be_bytes());
        buf.extend_from_slice(&[self.kind.code(), 0]);
        buf.extend_from_slice(&self.group_id.to_be_bytes());
        self.buckets.iter().for_each(|b| b.emit(buf));
    }

    /// Parse a body. Errors: [`Error::BadLength`] for a bucket length < 16 or past the end,
    /// action errors.
    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        let command = GroupModCommand::from_code(r.u16("group_mod")?);
        let kind = GroupType::from_code(r.u8("group_mod")?);
        r.skip("group_mod", 1)?;
        let group_id = r.u32("group_mod")?;
        Ok(GroupMod {
            command,
            kind,
            group_id,
            buckets: parse_buckets(r)?,
        })
    }
}

impl GroupStats {
    /// Append one entry.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&self.group_id.to_be_bytes());
        buf.extend_from_slice(&self.ref_count.to_be_bytes());
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&self.packet_count.to_be_bytes());
        buf.extend_from_slice(&self.byte_count.to_be_bytes());
        buf.extend_from_slice(&self.duration_sec.to_be_bytes());
        buf.extend_from_slice(&self.duration_nsec.to_be_bytes());
        for (p, b) in &self.buckets {
            buf.extend_from_slice(&p.to_be_bytes());
            buf.extend_from_slice(&b.to_be_bytes());
        }
        let len = buf.len() - start;
        put_len_at(buf, start, len);
    }

    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        let off = r.offset();
        let mut e = item(r, 0, 40, "group stats")?;
        if !(e.remaining() - 40).is_multiple_of(16) {
            return Err(Error::BadLength {
                what: "group stats",
                offset: off,
                length: e.remaining(),
            });
        }
        e.skip("group stats", 4)?;
        let group_id = e.u32("group stats")?;
        let ref_count = e.u32("group stats")?;
        e.skip("group stats", 4)?;
        let packet_count = e.u64("group stats")?;
        let byte_count = e.u64("group stats")?;
        let duration_sec = e.u32("group stats")?;
        let duration_nsec = e.u32("group stats")?;
        let mut buckets = Vec::new();
        while !e.is_empty() {
            buckets.push((e.u64("bucket counter")?, e.u64("bucket counter")?));
        }
        Ok(GroupStats {
            group_id,
            ref_count,
            packet_count,
            byte_count,
            duration_sec,
            duration_nsec,
            buckets,
        })
    }
}

impl GroupDesc {
    /// Append one entry.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        buf.extend_from_slice(&[0, 0, self.kind.code(), 0]);
        buf.extend_from_slice(&self.group_id.to_be_bytes());
        self.buckets.iter().for_each(|b| b.emit(buf));
        let len = buf.len() - start;
        put_len_at(buf, start, len);
    }

    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        let mut e = item(r, 0, 8, "group desc")?;
        e.skip("group desc", 2)?;
        let kind = GroupType::from_code(e.u8("group desc")?);
        e.skip("group desc", 1)?;
        let group_id = e.u32("group desc")?;
        Ok(GroupDesc {
            kind,
            group_id,
            buckets: parse_buckets(&mut e)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_mod_round_trips_and_computes_bucket_lengths() {
        let g = GroupMod {
            command: GroupModCommand::Add,
            kind: GroupType::FastFailover,
            group_id: 7,
            buckets: vec![Bucket {
                weight: 0,
                watch_port: 3,
                watch_group: OFPG_ANY,
                actions: vec![Action::Output {
                    port: 3,
                    max_len: 0,
                }],
            }],
        };
        let mut buf = vec![0xa5];
        g.emit(&mut buf);
        assert_eq!(&buf[9..11], &[0, 32]);
        assert_eq!(GroupMod::parse(&mut Reader::new(&buf[1..], 8)).unwrap(), g);
    }

    #[test]
    fn short_bucket_length_is_bad_length_at_the_bucket() {
        let b = [0, 0, 1, 0, 0, 0, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0];
        let e = GroupMod::parse(&mut Reader::new(&b, 8)).unwrap_err();
        assert!(
            matches!(
                e,
                Error::BadLength {
                    offset: 16,
                    length: 8,
                    ..
                }
            ),
            "{e:?}"
        );
    }
}
