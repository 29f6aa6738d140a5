//! Meters (OF1.3 §7.3.4.4, §7.3.5.12-14): METER_MOD with its bands, and the METER /
//! METER_CONFIG / METER_FEATURES multipart bodies. Equivalent to `ovs-ofctl add-meter` /
//! `meter-stats` / `dump-meters` / `meter-features`.

use crate::wire::{exact_len, item, put_len_at, Reader};
use crate::Error;

/// OFPM_ALL: every meter (delete, stats request).
pub const OFPM_ALL: u32 = 0xffff_ffff;

/// OFPMF_* meter flags.
pub mod flags {
    /// Rate in kb/s.
    pub const KBPS: u16 = 1;
    /// Rate in packets/s.
    pub const PKTPS: u16 = 2;
    /// Honour burst_size.
    pub const BURST: u16 = 4;
    /// Collect statistics.
    pub const STATS: u16 = 8;
}

open_enum! {
    /// `ofp_meter_mod_command`.
    pub enum MeterModCommand: u16 {
        /// OFPMC_ADD (0).
        Add = 0, "ADD";
        /// OFPMC_MODIFY (1).
        Modify = 1, "MOD";
        /// OFPMC_DELETE (2).
        Delete = 2, "DEL";
    }
}

/// A meter band (`ofp_meter_band_header` + body, 16 bytes for the standard types):
/// `type u16 | len u16 | rate u32 | burst_size u32 | ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeterBand {
    /// OFPMBT_DROP (1): `pad[4]`.
    Drop {
        /// Rate.
        rate: u32,
        /// Burst size.
        burst_size: u32,
    },
    /// OFPMBT_DSCP_REMARK (2): `prec_level u8 | pad[3]`.
    DscpRemark {
        /// Rate.
        rate: u32,
        /// Burst size.
        burst_size: u32,
        /// Drop precedence increase.
        prec_level: u8,
    },
    /// OFPMBT_EXPERIMENTER (0xffff): `experimenter u32 | data`.
    Experimenter {
        /// Rate.
        rate: u32,
        /// Burst size.
        burst_size: u32,
        /// Experimenter id.
        experimenter: u32,
        /// Anything after the experimenter id.
        data: Vec<u8>,
    },
    /// Any other band type, body after `burst_size` raw.
    Unknown {
        /// Band type.
        kind: u16,
        /// Rate.
        rate: u32,
        /// Burst size.
        burst_size: u32,
        /// The rest of the band.
        body: Vec<u8>,
    },
}

/// OFPT_METER_MOD body (type 29): `command u16 | flags u16 | meter_id u32 | bands`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterMod {
    /// Add, modify or delete.
    pub command: MeterModCommand,
    /// OFPMF_* flags.
    pub flags: u16,
    /// Meter id.
    pub meter_id: u32,
    /// Bands.
    pub bands: Vec<MeterBand>,
}

/// One METER stats reply entry (40 bytes + 16 per band).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterStats {
    /// Meter id.
    pub meter_id: u32,
    /// Flows using the meter.
    pub flow_count: u32,
    /// Packets in.
    pub packet_in_count: u64,
    /// Bytes in.
    pub byte_in_count: u64,
    /// Seconds alive.
    pub duration_sec: u32,
    /// Nanoseconds beyond `duration_sec`.
    pub duration_nsec: u32,
    /// (packet_band_count, byte_band_count) per band.
    pub bands: Vec<(u64, u64)>,
}

/// One METER_CONFIG reply entry: `length u16 | flags u16 | meter_id u32 | bands`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterConfig {
    /// OFPMF_* flags.
    pub flags: u16,
    /// Meter id.
    pub meter_id: u32,
    /// Bands.
    pub bands: Vec<MeterBand>,
}

/// METER_FEATURES reply (16 bytes): `max_meter u32 | band_types u32 | capabilities u32 |
/// max_bands u8 | max_color u8 | pad[2]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterFeatures {
    /// Maximum number of meters.
    pub max_meter: u32,
    /// Bit n set: band type n is supported (OVS: 1 << OFPMBT_DROP).
    pub band_types: u32,
    /// The [`flags`] the switch supports, as bits.
    pub capabilities: u32,
    /// Maximum bands per meter.
    pub max_bands: u8,
    /// Maximum color value.
    pub max_color: u8,
}

impl MeterFeatures {
    /// Append the body.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        for w in [self.max_meter, self.band_types, self.capabilities] {
            buf.extend_from_slice(&w.to_be_bytes());
        }
        buf.extend_from_slice(&[self.max_bands, self.max_color, 0, 0]);
    }

    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        exact_len(r, 16, "meter features reply")?;
        let f = MeterFeatures {
            max_meter: r.u32("meter features")?,
            band_types: r.u32("meter features")?,
            capabilities: r.u32("meter features")?,
            max_bands: r.u8("meter features")?,
            max_color: r.u8("meter features")?,
        };
        r.skip("meter features", 2)?;
        Ok(f)
    }
}

impl MeterBand {
    /// Append one band; `len` is computed here.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        let (kind, rate, burst) = match self {
            MeterBand::Drop { rate, burst_size } => (1, rate, burst_size),
            MeterBand::DscpRemark {
                rate, burst_size, ..
            } => (2, rate, burst_size),
            MeterBand::Experimenter {
                rate, burst_size, ..
            } => (0xffff, rate, burst_size),
            MeterBand::Unknown {
                kind,
                rate,
                burst_size,
                ..
            } => (*kind, rate, burst_size),
        };
        buf.extend_from_slice(&kind.to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&rate.to_be_bytes());
        buf.extend_from_slice(&burst.to_be_bytes());
        match self {
            MeterBand::Drop { .. } => buf.extend_from_slice(&[0; 4]),
            MeterBand::DscpRemark { prec_level, .. } => {
                buf.extend_from_slice(&[*prec_level, 0, 0, 0])
            }
            MeterBand::Experimenter {
                experimenter, data, ..
            } => {
                buf.extend_from_slice(&experimenter.to_be_bytes());
                buf.extend_from_slice(data);
            }
            MeterBand::Unknown { body, .. } => buf.extend_from_slice(body),
        }
        let len = buf.len() - start;
        put_len_at(buf, start + 2, len);
    }

    fn parse(r: &mut Reader) -> Result<MeterBand, Error> {
        let off = r.offset();
        let mut b = item(r, 2, 12, "meter band")?;
        let kind = b.u16("meter band")?;
        b.skip("meter band", 2)?;
        let rate = b.u32("meter band")?;
        let burst_size = b.u32("meter band")?;
        let fixed = |b: &Reader| {
            if b.remaining() == 4 {
                Ok(())
            } else {
                Err(Error::BadLength {
                    what: "meter band",
                    offset: off,
                    length: b.remaining() + 12,
                })
            }
        };
        Ok(match kind {
            1 => {
                fixed(&b)?;
                MeterBand::Drop { rate, burst_size }
            }
            2 => {
                fixed(&b)?;
                MeterBand::DscpRemark {
                    rate,
                    burst_size,
                    prec_level: b.u8("dscp_remark")?,
                }
            }
            0xffff => MeterBand::Experimenter {
                rate,
                burst_size,
                experimenter: b.u32("experimenter band")?,
                data: b.rest().to_vec(),
            },
            kind => MeterBand::Unknown {
                kind,
                rate,
                burst_size,
                body: b.rest().to_vec(),
            },
        })
    }
}

fn parse_bands(r: &mut Reader) -> Result<Vec<MeterBand>, Error> {
    let mut v = Vec::new();
    while !r.is_empty() {
        v.push(MeterBand::parse(r)?);
    }
    Ok(v)
}

impl MeterMod {
    /// Append the body.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.command.code().to_be_bytes());
        buf.extend_from_slice(&self.flags.to_be_bytes());
        buf.extend_from_slice(&self.meter_id.to_be_bytes());
        self.bands.iter().for_each(|b| b.emit(buf));
    }

    /// Parse a body. Errors: [`Error::BadLength`] for a band whose length is short, past the
    /// end, or wrong for its type.
    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        Ok(MeterMod {
            command: MeterModCommand::from_code(r.u16("meter_mod")?),
            flags: r.u16("meter_mod")?,
            meter_id: r.u32("meter_mod")?,
            bands: parse_bands(r)?,
        })
    }
}

impl MeterStats {
    /// Append one entry.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        buf.extend_from_slice(&self.meter_id.to_be_bytes());
        buf.extend_from_slice(&[0; 8]);
        buf.extend_from_slice(&self.flow_count.to_be_bytes());
        buf.extend_from_slice(&self.packet_in_count.to_be_bytes());
        buf.extend_from_slice(&self.byte_in_count.to_be_bytes());
        buf.extend_from_slice(&self.duration_sec.to_be_bytes());
        buf.extend_from_slice(&self.duration_nsec.to_be_bytes());
        for (p, b) in &self.bands {
            buf.extend_from_slice(&p.to_be_bytes());
            buf.extend_from_slice(&b.to_be_bytes());
        }
        let len = buf.len() - start;
        put_len_at(buf, start + 4, len);
    }

    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        let off = r.offset();
        let mut e = item(r, 4, 40, "meter stats")?;
        if !(e.remaining() - 40).is_multiple_of(16) {
            return Err(Error::BadLength {
                what: "meter stats",
                offset: off,
                length: e.remaining(),
            });
        }
        let meter_id = e.u32("meter stats")?;
        e.skip("meter stats", 8)?;
        let flow_count = e.u32("meter stats")?;
        let packet_in_count = e.u64("meter stats")?;
        let byte_in_count = e.u64("meter stats")?;
        let duration_sec = e.u32("meter stats")?;
        let duration_nsec = e.u32("meter stats")?;
        let mut bands = Vec::new();
        while !e.is_empty() {
            bands.push((e.u64("band counter")?, e.u64("band counter")?));
        }
        Ok(MeterStats {
            meter_id,
            flow_count,
            packet_in_count,
            byte_in_count,
            duration_sec,
            duration_nsec,
            bands,
        })
    }
}

impl MeterConfig {
    /// Append one entry.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&self.flags.to_be_bytes());
        buf.extend_from_slice(&self.meter_id.to_be_bytes());
        self.bands.iter().for_each(|b| b.emit(buf));
        let len = buf.len() - start;
        put_len_at(buf, start, len);
    }

    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        let mut e = item(r, 0, 8, "meter config")?;
        e.skip("meter config", 2)?;
        Ok(MeterConfig {
            flags: e.u16("meter config")?,
            meter_id: e.u32("meter config")?,
            bands: parse_bands(&mut e)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_mod_matches_protocols_md_live_bytes() {
        // [live] METER_MOD ADD meter=1 kbps burst bands= type=drop rate=1000 burst_size=100
        let body = [
            0, 0, 0, 5, 0, 0, 0, 1, 0, 1, 0, 0x10, 0, 0, 3, 0xe8, 0, 0, 0, 0x64, 0, 0, 0, 0,
        ];
        let m = MeterMod::parse(&mut Reader::new(&body, 8)).unwrap();
        assert_eq!(
            m.bands,
            vec![MeterBand::Drop {
                rate: 1000,
                burst_size: 100
            }]
        );
        let mut buf = Vec::new();
        m.emit(&mut buf);
        assert_eq!(buf, body);
    }

    #[test]
    fn unknown_and_experimenter_bands_round_trip() {
        let m = MeterMod {
            command: MeterModCommand::Unknown(9),
            flags: 0,
            meter_id: 2,
            bands: vec![
                MeterBand::Experimenter {
                    rate: 1,
                    burst_size: 2,
                    experimenter: 0x2320,
                    data: vec![0; 8],
                },
                MeterBand::Unknown {
                    kind: 7,
                    rate: 3,
                    burst_size: 4,
                    body: vec![1, 2, 3, 4],
                },
            ],
        };
        let mut buf = Vec::new();
        m.emit(&mut buf);
        assert_eq!(MeterMod::parse(&mut Reader::new(&buf, 8)).unwrap(), m);
    }
}
