//! Multipart statistics bodies beyond FLOW and PORT_DESC (OF1.3 §7.3.5): DESC, AGGREGATE, TABLE,
//! PORT_STATS, QUEUE, TABLE_FEATURES (properties kept raw per property), and [`reassemble`] for
//! replies split with OFPMPF_REPLY_MORE. GROUP / GROUP_DESC / GROUP_FEATURES bodies are in
//! `group.rs`, METER / METER_CONFIG / METER_FEATURES in `meter.rs`.

use crate::multipart::{MultipartReply, OFPMPF_MORE};
use crate::wire::{exact_len, get_str, item, len16, pad8, put_len_at, put_str, Reader};
use crate::{Error, Message};

/// OFPMP_DESC.
pub const OFPMP_DESC: u16 = 0;
/// OFPMP_AGGREGATE.
pub const OFPMP_AGGREGATE: u16 = 2;
/// OFPMP_TABLE.
pub const OFPMP_TABLE: u16 = 3;
/// OFPMP_PORT_STATS.
pub const OFPMP_PORT_STATS: u16 = 4;
/// OFPMP_QUEUE.
pub const OFPMP_QUEUE: u16 = 5;
/// OFPMP_GROUP.
pub const OFPMP_GROUP: u16 = 6;
/// OFPMP_GROUP_DESC.
pub const OFPMP_GROUP_DESC: u16 = 7;
/// OFPMP_GROUP_FEATURES.
pub const OFPMP_GROUP_FEATURES: u16 = 8;
/// OFPMP_METER.
pub const OFPMP_METER: u16 = 9;
/// OFPMP_METER_CONFIG.
pub const OFPMP_METER_CONFIG: u16 = 10;
/// OFPMP_METER_FEATURES.
pub const OFPMP_METER_FEATURES: u16 = 11;
/// OFPMP_TABLE_FEATURES.
pub const OFPMP_TABLE_FEATURES: u16 = 12;

/// DESC reply (1056 bytes): NUL-padded strings `mfr[256] | hw[256] | sw[256] | serial[32] |
/// dp[256]`. Equivalent to the first lines of `ovs-ofctl show`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Desc {
    /// Manufacturer ("Nicira, Inc.").
    pub mfr_desc: String,
    /// Hardware ("Open vSwitch").
    pub hw_desc: String,
    /// Software version.
    pub sw_desc: String,
    /// Serial number.
    pub serial_num: String,
    /// Datapath description.
    pub dp_desc: String,
}

/// AGGREGATE reply (24 bytes): `packet_count u64 | byte_count u64 | flow_count u32 | pad[4]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggregateStats {
    /// Packets.
    pub packet_count: u64,
    /// Bytes.
    pub byte_count: u64,
    /// Flows.
    pub flow_count: u32,
}

/// TABLE reply entry (24 bytes): `table_id u8 | pad[3] | active_count u32 | lookup_count u64 |
/// matched_count u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableStats {
    /// Table.
    pub table_id: u8,
    /// Flows in the table.
    pub active_count: u32,
    /// Packets looked up.
    pub lookup_count: u64,
    /// Packets that hit.
    pub matched_count: u64,
}

/// PORT_STATS reply entry (112 bytes): `port_no u32 | pad[4] | 12 × u64 counters |
/// duration_sec u32 | duration_nsec u32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortStats {
    /// Port.
    pub port_no: u32,
    /// rx_packets, tx_packets, rx_bytes, tx_bytes, rx_dropped, tx_dropped, rx_errors,
    /// tx_errors, rx_frame_err, rx_over_err, rx_crc_err, collisions (spec order).
    pub counters: [u64; 12],
    /// Seconds alive.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
}

/// QUEUE stats reply entry (40 bytes): `port_no u32 | queue_id u32 | tx_bytes u64 |
/// tx_packets u64 | tx_errors u64 | duration_sec u32 | duration_nsec u32`. Equivalent to a
/// line of `ovs-ofctl queue-stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    /// Port.
    pub port_no: u32,
    /// Queue.
    pub queue_id: u32,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Packets dropped on overrun.
    pub tx_errors: u64,
    /// Seconds alive.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
}

/// A table feature property, raw: `type u16 | length u16 | data`, padded to 8 (the length
/// excludes the padding, which is re-emitted as zeros).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFeatureProp {
    /// OFPTFPT_* type.
    pub kind: u16,
    /// Data after the 4-byte header, without padding.
    pub data: Vec<u8>,
}

/// TABLE_FEATURES entry (64 bytes + properties): `length u16 | table_id u8 | pad[5] | name[32] |
/// metadata_match u64 | metadata_write u64 | config u32 | max_entries u32 | properties`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFeatures {
    /// Table.
    pub table_id: u8,
    /// Name (as set by `ovs-vsctl set Flow_Table`).
    pub name: String,
    /// Matchable metadata bits.
    pub metadata_match: u64,
    /// Writable metadata bits.
    pub metadata_write: u64,
    /// OFPTC_* bits.
    pub config: u32,
    /// Maximum flows.
    pub max_entries: u32,
    /// Properties, raw.
    pub properties: Vec<TableFeatureProp>,
}

impl Desc {
    /// Append the body.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        put_str(buf, &self.mfr_desc, 256);
        put_str(buf, &self.hw_desc, 256);
        put_str(buf, &self.sw_desc, 256);
        put_str(buf, &self.serial_num, 32);
        put_str(buf, &self.dp_desc, 256);
    }

    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        exact_len(r, 1056, "desc reply")?;
        Ok(Desc {
            mfr_desc: get_str(r.take("desc", 256)?),
            hw_desc: get_str(r.take("desc", 256)?),
            sw_desc: get_str(r.take("desc", 256)?),
            serial_num: get_str(r.take("desc", 32)?),
            dp_desc: get_str(r.take("desc", 256)?),
        })
    }
}

impl AggregateStats {
    /// Append the body.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.packet_count.to_be_bytes());
        buf.extend_from_slice(&self.byte_count.to_be_bytes());
        buf.extend_from_slice(&self.flow_count.to_be_bytes());
        buf.extend_from_slice(&[0; 4]);
    }

    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        exact_len(r, 24, "aggregate reply")?;
        let a = AggregateStats {
            packet_count: r.u64("aggregate")?,
            byte_count: r.u64("aggregate")?,
            flow_count: r.u32("aggregate")?,
        };
        r.skip("aggregate", 4)?;
        Ok(a)
    }
}

impl TableStats {
    /// Append one entry.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&[self.table_id, 0, 0, 0]);
        buf.extend_from_slice(&self.active_count.to_be_bytes());
        buf.extend_from_slice(&self.lookup_count.to_be_bytes());
        buf.extend_from_slice(&self.matched_count.to_be_bytes());
    }

    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        let table_id = r.u8("table stats")?;
        r.skip("table stats", 3)?;
        Ok(TableStats {
            table_id,
            active_count: r.u32("table stats")?,
            lookup_count: r.u64("table stats")?,
            matched_count: r.u64("table stats")?,
        })
    }
}

impl PortStats {
    /// Append one entry.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.port_no.to_be_bytes());
        buf.extend_from_slice(&[0; 4]);
        for c in self.counters {
            buf.extend_from_slice(&c.to_be_bytes());
        }
        buf.extend_from_slice(&self.duration_sec.to_be_bytes());
        buf.extend_from_slice(&self.duration_nsec.to_be_bytes());
    }

    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        let port_no = r.u32("port stats")?;
        r.skip("port stats", 4)?;
        let mut counters = [0; 12];
        for c in &mut counters {
            *c = r.u64("port stats")?;
        }
        Ok(PortStats {
            port_no,
            counters,
            duration_sec: r.u32("port stats")?,
            duration_nsec: r.u32("port stats")?,
        })
    }
}

impl QueueStats {
    /// Append one entry.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.port_no.to_be_bytes());
        buf.extend_from_slice(&self.queue_id.to_be_bytes());
        for c in [self.tx_bytes, self.tx_packets, self.tx_errors] {
            buf.extend_from_slice(&c.to_be_bytes());
        }
        buf.extend_from_slice(&self.duration_sec.to_be_bytes());
        buf.extend_from_slice(&self.duration_nsec.to_be_bytes());
    }

    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        Ok(QueueStats {
            port_no: r.u32("queue stats")?,
            queue_id: r.u32("queue stats")?,
            tx_bytes: r.u64("queue stats")?,
            tx_packets: r.u64("queue stats")?,
            tx_errors: r.u64("queue stats")?,
            duration_sec: r.u32("queue stats")?,
            duration_nsec: r.u32("queue stats")?,
        })
    }
}

impl TableFeatures {
    /// Append one entry; lengths and property padding are computed here.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        buf.extend_from_slice(&[0, 0, self.table_id, 0, 0, 0, 0, 0]);
        put_str(buf, &self.name, 32);
        buf.extend_from_slice(&self.metadata_match.to_be_bytes());
        buf.extend_from_slice(&self.metadata_write.to_be_bytes());
        buf.extend_from_slice(&self.config.to_be_bytes());
        buf.extend_from_slice(&self.max_entries.to_be_bytes());
        for p in &self.properties {
            buf.extend_from_slice(&p.kind.to_be_bytes());
            buf.extend_from_slice(&len16(p.data.len() + 4));
            buf.extend_from_slice(&p.data);
            buf.resize(buf.len() + pad8(p.data.len() + 4), 0);
        }
        let len = buf.len() - start;
        put_len_at(buf, start, len);
    }

    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        let mut e = item(r, 0, 64, "table features")?;
        e.skip("table features", 2)?;
        let table_id = e.u8("table features")?;
        e.skip("table features", 5)?;
        let name = get_str(e.take("table features", 32)?);
        let metadata_match = e.u64("table features")?;
        let metadata_write = e.u64("table features")?;
        let config = e.u32("table features")?;
        let max_entries = e.u32("table features")?;
        let mut properties = Vec::new();
        while !e.is_empty() {
            let off = e.offset();
            let kind = e.u16("table feature property")?;
            let len = e.u16("table feature property")? as usize;
            if len < 4 || len - 4 > e.remaining() {
                return Err(Error::BadLength {
                    what: "table feature property",
                    offset: off,
                    length: len,
                });
            }
            let data = e.take("table feature property", len - 4)?.to_vec();
            e.skip(
                "table feature property padding",
                pad8(len).min(e.remaining()),
            )?;
            properties.push(TableFeatureProp { kind, data });
        }
        Ok(TableFeatures {
            table_id,
            name,
            metadata_match,
            metadata_write,
            config,
            max_entries,
            properties,
        })
    }
}

/// Parse fixed-size entries until the reader is empty; `BadLength` unless the body is a multiple
/// of `size`.
pub(crate) fn fixed_entries<T>(
    r: &mut Reader,
    size: usize,
    what: &'static str,
    parse: impl Fn(&mut Reader) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    if !r.remaining().is_multiple_of(size) {
        return Err(Error::BadLength {
            what,
            offset: r.offset(),
            length: r.remaining(),
        });
    }
    let mut v = Vec::new();
    while !r.is_empty() {
        v.push(parse(r)?);
    }
    Ok(v)
}

/// Parse length-prefixed entries until the reader is empty.
pub(crate) fn entries<T>(
    r: &mut Reader,
    parse: impl Fn(&mut Reader) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    let mut v = Vec::new();
    while !r.is_empty() {
        v.push(parse(r)?);
    }
    Ok(v)
}

/// Join a multipart reply split over several messages (OF1.3 §7.3.5: every part but the last
/// has OFPMPF_REPLY_MORE) into one reply whose entries are the concatenation, e.g. the ~20
/// TABLE_FEATURES parts OVS sends for 254 tables.
///
/// Errors: [`Error::Unexpected`] when `parts` is empty, holds a non-multipart message, mixes
/// types, or has MORE on the last part / missing on an earlier one.
pub fn reassemble<'a>(
    parts: impl IntoIterator<Item = &'a Message>,
) -> Result<MultipartReply, Error> {
    let parts: Vec<&Message> = parts.into_iter().collect();
    let mut kind = None;
    let mut body = Vec::new();
    for (i, m) in parts.iter().enumerate() {
        let Message::MultipartReply { flags, body: b } = m else {
            return Err(Error::Unexpected(format!("not a multipart reply: {m:?}")));
        };
        let last = i + 1 == parts.len();
        if (flags & OFPMPF_MORE != 0) == last {
            return Err(Error::Unexpected(format!(
                "multipart part {i} of {}: flags {flags:#x}",
                parts.len()
            )));
        }
        if *kind.get_or_insert(b.kind()) != b.kind() {
            return Err(Error::Unexpected(format!(
                "multipart part {i} has type {}",
                b.kind()
            )));
        }
        b.emit_body(&mut body);
    }
    let kind = kind.ok_or_else(|| Error::Unexpected("no multipart parts".into()))?;
    MultipartReply::parse_body(kind, &mut Reader::new(&body, 16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_features_properties_round_trip_with_padding() {
        let t = TableFeatures {
            table_id: 3,
            name: "classifier".into(),
            metadata_match: u64::MAX,
            metadata_write: u64::MAX,
            config: 0,
            max_entries: 1_000_000,
            properties: vec![
                TableFeatureProp {
                    kind: 2,
                    data: vec![1, 2, 3],
                },
                TableFeatureProp {
                    kind: 0xffff,
                    data: vec![0, 0, 0x23, 0x20, 0, 0, 0, 1],
                },
            ],
        };
        let mut buf = Vec::new();
        t.emit(&mut buf);
        assert_eq!(buf.len(), 64 + 8 + 16);
        assert_eq!(TableFeatures::parse(&mut Reader::new(&buf, 16)).unwrap(), t);
    }

    #[test]
    fn reassemble_joins_parts_and_checks_more_flags() {
        let part = |flags, n: u8| Message::MultipartReply {
            flags,
            body: MultipartReply::Table(vec![TableStats {
                table_id: n,
                active_count: 1,
                lookup_count: 2,
                matched_count: 3,
            }]),
        };
        let (a, b) = (part(OFPMPF_MORE, 0), part(0, 1));
        match reassemble([&a, &b]).unwrap() {
            MultipartReply::Table(v) => assert_eq!(v.len(), 2),
            other => panic!("{other:?}"),
        }
        assert!(reassemble([&b, &a]).is_err());
        assert!(reassemble([] as [&Message; 0]).is_err());
    }
}
