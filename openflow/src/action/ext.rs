//! Nicira and ONF actions beyond the core set: `bundle` / `bundle_load` (NXAST 12/13),
//! NXAST_OUTPUT_REG2 (32), NXAST_REG_LOAD2 (33) and OFPAT_SET_FIELD on `tun_metadata<N>`,
//! NXAST_SAMPLE3 (41) and ONF copy_field (ONF 3200). Layouts from OVS `lib/ofp-actions.c`
//! (`struct nx_action_bundle`, `nx_action_output_reg2`, `nx_action_sample2`,
//! `onf_action_copy_field`); bytes checked against `ovs-ofctl -O OpenFlow13 parse-flow`
//! (tests/golden) and, for the forms OVS does not write from text, `ovs-ofctl ofp-print`.

use super::{finish, nx_header, ofs_nbits, raw, NX_IN_PORT_HEADER, OFPAT_SET_FIELD};
use crate::error::ONF_VENDOR_ID;
use crate::flow::{Action, Bundle, Field};
use crate::wire::{pad_to_8, put_len_at, Reader};
use crate::Error;

const NXAST_BUNDLE: u16 = 12;
const NXAST_BUNDLE_LOAD: u16 = 13;
const NXAST_OUTPUT_REG2: u16 = 32;
const NXAST_REG_LOAD2: u16 = 33;
const NXAST_SAMPLE3: u16 = 41;
/// ONF experimenter action type of copy_field (ONF extension 3200 for OF1.3).
const ONFACT_COPY_FIELD: u16 = 3200;
/// NXM_NX_TUN_METADATA0 is NXM_1 field 40; slot N is field 40 + N (64 slots).
const TUN_METADATA0: u32 = 0x0001_5000;
/// NX_ACTION_SAMPLE_INGRESS / NX_ACTION_SAMPLE_EGRESS.
const SAMPLE_INGRESS: u8 = 1;
const SAMPLE_EGRESS: u8 = 2;

/// The Nicira subtypes this module decodes.
pub(super) const SUBTYPES: [u16; 5] = [
    NXAST_BUNDLE,
    NXAST_BUNDLE_LOAD,
    NXAST_OUTPUT_REG2,
    NXAST_REG_LOAD2,
    NXAST_SAMPLE3,
];

/// Append one of this module's actions; other actions are not touched.
pub(super) fn emit(a: &Action, buf: &mut Vec<u8>) {
    match a {
        Action::Bundle(b) => {
            let load = b.dst.is_some();
            let start = nx_header(
                buf,
                if load {
                    NXAST_BUNDLE_LOAD
                } else {
                    NXAST_BUNDLE
                },
            );
            for v in [b.algorithm, b.fields, b.basis] {
                buf.extend_from_slice(&v.to_be_bytes());
            }
            buf.extend_from_slice(&NX_IN_PORT_HEADER.to_be_bytes());
            buf.extend_from_slice(&(b.members.len() as u16).to_be_bytes());
            let (word, dst) = b
                .dst
                .map_or((0, 0), |(f, ofs, n)| (ofs_nbits(ofs, n), f.nxm_header()));
            buf.extend_from_slice(&word.to_be_bytes());
            buf.extend_from_slice(&dst.to_be_bytes());
            buf.extend_from_slice(&[0; 4]);
            for m in &b.members {
                buf.extend_from_slice(&m.to_be_bytes());
            }
            finish(buf, start);
        }
        Action::OutputReg2 { field, ofs, n_bits } => {
            let start = nx_header(buf, NXAST_OUTPUT_REG2);
            buf.extend_from_slice(&ofs_nbits(*ofs, *n_bits).to_be_bytes());
            buf.extend_from_slice(&0xffffu16.to_be_bytes());
            buf.extend_from_slice(&field.nxm_header().to_be_bytes());
            buf.resize(start + 24, 0);
            finish(buf, start);
        }
        Action::CopyField {
            src,
            src_ofs,
            dst,
            dst_ofs,
            n_bits,
        } => {
            let start = buf.len();
            buf.extend_from_slice(&[0xff, 0xff, 0, 0]);
            buf.extend_from_slice(&ONF_VENDOR_ID.to_be_bytes());
            buf.extend_from_slice(&ONFACT_COPY_FIELD.to_be_bytes());
            buf.extend_from_slice(&[0, 0]);
            for v in [*n_bits, *src_ofs, *dst_ofs, 0] {
                buf.extend_from_slice(&v.to_be_bytes());
            }
            // OVS writes the OF1.3 (OXM when there is one) headers here, as in set_field.
            buf.extend_from_slice(&src.set_field_header().to_be_bytes());
            buf.extend_from_slice(&dst.set_field_header().to_be_bytes());
            finish(buf, start);
        }
        Action::SampleDir {
            probability,
            collector_set_id,
            obs_domain_id,
            obs_point_id,
            sampling_port,
            egress,
        } => {
            let start = nx_header(buf, NXAST_SAMPLE3);
            buf.extend_from_slice(&probability.to_be_bytes());
            for v in [collector_set_id, obs_domain_id, obs_point_id] {
                buf.extend_from_slice(&v.to_be_bytes());
            }
            buf.extend_from_slice(&sampling_port.unwrap_or(0xffff).to_be_bytes());
            buf.push(if *egress {
                SAMPLE_EGRESS
            } else {
                SAMPLE_INGRESS
            });
            buf.resize(start + 32, 0);
            finish(buf, start);
        }
        Action::SetTunMetadata { idx, value, mask } => {
            let header = TUN_METADATA0 + ((*idx as u32) << 9);
            let start = match mask {
                None => {
                    let start = buf.len();
                    buf.extend_from_slice(&OFPAT_SET_FIELD.to_be_bytes());
                    buf.extend_from_slice(&[0, 0]);
                    buf.extend_from_slice(&(header | value.len() as u32).to_be_bytes());
                    start
                }
                Some(_) => {
                    let start = nx_header(buf, NXAST_REG_LOAD2);
                    let h = header | 0x100 | (2 * value.len()) as u32;
                    buf.extend_from_slice(&h.to_be_bytes());
                    start
                }
            };
            buf.extend_from_slice(value);
            if let Some(m) = mask {
                buf.extend_from_slice(m);
            }
            pad_to_8(buf, start);
            let len = buf.len() - start;
            put_len_at(buf, start + 2, len);
        }
        _ => {}
    }
}

fn zeros(r: &mut Reader) -> bool {
    r.rest().iter().all(|b| *b == 0)
}

/// A field with Nicira header `h` (exactly as we would write it) covering `ofs..ofs+n_bits`.
fn field_fits(h: u32, ofs: u16, n_bits: u16) -> Option<Field> {
    Field::from_header(h).filter(|f| {
        f.nxm_header() == h && n_bits > 0 && ofs as u32 + n_bits as u32 <= f.bits() as u32
    })
}

/// Decode a Nicira action of [`SUBTYPES`] (reader after the subtype). Forms the model does not
/// express come back as [`Action::Raw`].
pub(super) fn parse_nicira(
    r: &mut Reader,
    off: usize,
    len: usize,
    subtype: u16,
    all: &[u8],
) -> Result<Action, Error> {
    let bad_len = || Error::BadLength {
        what: "action",
        offset: off,
        length: len,
    };
    match subtype {
        NXAST_BUNDLE | NXAST_BUNDLE_LOAD => {
            if len < 32 {
                return Err(bad_len());
            }
            let algorithm = r.u16("bundle algorithm")?;
            let fields = r.u16("bundle fields")?;
            let basis = r.u16("bundle basis")?;
            let member_type = r.u32("bundle member_type")?;
            let n = r.u16("bundle n_members")? as usize;
            let word = r.u16("bundle ofs_nbits")?;
            let dst = r.u32("bundle dst")?;
            let zero = r.take("bundle zero", 4)?;
            if (32 + 2 * n).div_ceil(8) * 8 != len {
                return Err(bad_len());
            }
            let mut members = Vec::with_capacity(n);
            for _ in 0..n {
                members.push(r.u16("bundle member")?);
            }
            let (ofs, n_bits) = (word >> 6, (word & 0x3f) + 1);
            let dst = if subtype == NXAST_BUNDLE_LOAD {
                match field_fits(dst, ofs, n_bits) {
                    Some(f) => Some((f, ofs, n_bits)),
                    None => return Ok(raw(r, all)),
                }
            } else if word != 0 || dst != 0 {
                return Ok(raw(r, all));
            } else {
                None
            };
            if member_type != NX_IN_PORT_HEADER
                || algorithm > 1
                || fields > 6
                || zero.iter().any(|b| *b != 0)
                || !zeros(r)
            {
                return Ok(raw(r, all));
            }
            Ok(Action::Bundle(Box::new(Bundle {
                fields,
                basis,
                algorithm,
                members,
                dst,
            })))
        }
        NXAST_OUTPUT_REG2 => {
            if len != 24 {
                return Err(bad_len());
            }
            let word = r.u16("output_reg2 ofs_nbits")?;
            let max_len = r.u16("output_reg2 max_len")?;
            let h = r.u32("output_reg2 src")?;
            let (ofs, n_bits) = (word >> 6, (word & 0x3f) + 1);
            match field_fits(h, ofs, n_bits) {
                Some(field) if max_len == 0xffff && zeros(r) => {
                    Ok(Action::OutputReg2 { field, ofs, n_bits })
                }
                _ => Ok(raw(r, all)),
            }
        }
        NXAST_REG_LOAD2 => {
            let h = r.u32("reg_load2 field")?;
            let slot = ((h >> 9) & 0x7f) as u8;
            let n = (h & 0xff) as usize;
            let is_md = h >> 16 == 1 && (40..104).contains(&slot);
            // Only a masked tun_metadata write has a model; OVS keeps any other REG_LOAD2 as
            // REG_LOAD2, and so do we (raw).
            if !is_md || h & 0x100 == 0 || n == 0 || !n.is_multiple_of(2) || 10 + n > len {
                return Ok(raw(r, all));
            }
            let value = r.take("reg_load2 value", n / 2)?.to_vec();
            let mask = r.take("reg_load2 mask", n / 2)?.to_vec();
            if !zeros(r) {
                return Ok(raw(r, all));
            }
            Ok(Action::SetTunMetadata {
                idx: slot - 40,
                value,
                mask: Some(mask),
            })
        }
        NXAST_SAMPLE3 => {
            if len != 32 {
                return Err(bad_len());
            }
            let probability = r.u16("sample probability")?;
            let collector_set_id = r.u32("sample collector_set_id")?;
            let obs_domain_id = r.u32("sample obs_domain_id")?;
            let obs_point_id = r.u32("sample obs_point_id")?;
            let port = r.u16("sample sampling_port")?;
            let direction = r.u8("sample direction")?;
            if !matches!(direction, SAMPLE_INGRESS | SAMPLE_EGRESS) || !zeros(r) {
                return Ok(raw(r, all));
            }
            Ok(Action::SampleDir {
                probability,
                collector_set_id,
                obs_domain_id,
                obs_point_id,
                sampling_port: (port != 0xffff).then_some(port),
                egress: direction == SAMPLE_EGRESS,
            })
        }
        _ => Ok(raw(r, all)),
    }
}

/// Decode an ONF experimenter action (reader after the experimenter id).
pub(super) fn parse_onf(
    r: &mut Reader,
    off: usize,
    len: usize,
    all: &[u8],
) -> Result<Action, Error> {
    let exp_type = r.u16("ONF action type")?;
    if exp_type != ONFACT_COPY_FIELD {
        return Ok(raw(r, all));
    }
    if len != 32 {
        return Err(Error::BadLength {
            what: "copy_field action",
            offset: off,
            length: len,
        });
    }
    let pad = r.u16("copy_field pad")?;
    let n_bits = r.u16("copy_field n_bits")?;
    let src_ofs = r.u16("copy_field src_offset")?;
    let dst_ofs = r.u16("copy_field dst_offset")?;
    let pad2 = r.u16("copy_field pad2")?;
    let (sh, dh) = (r.u32("copy_field src")?, r.u32("copy_field dst")?);
    let fits = |h: u32, ofs: u16| {
        Field::from_header(h).filter(|f| {
            f.set_field_header() == h && n_bits > 0 && ofs as u32 + n_bits as u32 <= f.bits() as u32
        })
    };
    match (fits(sh, src_ofs), fits(dh, dst_ofs)) {
        (Some(src), Some(dst)) if pad == 0 && pad2 == 0 && zeros(r) => Ok(Action::CopyField {
            src,
            src_ofs,
            dst,
            dst_ofs,
            n_bits,
        }),
        _ => Ok(raw(r, all)),
    }
}

/// OFPAT_SET_FIELD on `tun_metadata<N>` (reader after the OXM header `h`); `None` if `h` is
/// not a tun_metadata header.
pub(super) fn parse_set_tun_metadata(r: &mut Reader, h: u32) -> Option<Action> {
    let slot = ((h >> 9) & 0x7f) as u8;
    let n = (h & 0xff) as usize;
    if h >> 16 != 1 || !(40..104).contains(&slot) || h & 0x100 != 0 {
        return None;
    }
    let value = r.take("set_field value", n).ok()?.to_vec();
    zeros(r).then_some(Action::SetTunMetadata {
        idx: slot - 40,
        value,
        mask: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Emit and parse both ways, and print as `ovs-ofctl ofp-print` prints a FLOW_MOD with
    /// these bytes.
    fn round_trip(a: Action, hex: &str, ovs_text: &str) {
        assert_eq!(a.to_string(), ovs_text);
        let bytes = unhex(hex);
        let mut buf = vec![0xa5; 3];
        a.emit(&mut buf);
        assert_eq!(&buf[3..], &bytes[..], "emit {a:?}");
        let got = super::super::parse_actions(&mut Reader::new(&bytes, 0)).unwrap();
        assert_eq!(got, vec![a]);
    }

    /// `move:NXM_NX_REG0[0..15]->NXM_NX_REG1[16..31]` as ONF copy_field; `ovs-ofctl ofp-print`
    /// of a FLOW_MOD carrying it prints exactly that `move:`.
    #[test]
    fn copy_field_round_trips_with_oxm_headers() {
        round_trip(
            Action::CopyField {
                src: Field::Reg(0),
                src_ofs: 0,
                dst: Field::Reg(1),
                dst_ofs: 16,
                n_bits: 16,
            },
            "ffff00204f4e46000c8000000010000000100000000100040001020400000000",
            "move:NXM_NX_REG0[0..15]->NXM_NX_REG1[16..31]",
        );
    }

    /// `output:NXM_NX_REG1[0..15]` as OUTPUT_REG2 (ofp-print prints that text).
    #[test]
    fn output_reg2_round_trips() {
        round_trip(
            Action::OutputReg2 {
                field: Field::Reg(1),
                ofs: 0,
                n_bits: 16,
            },
            "ffff0018000023200020000fffff00010204000000000000",
            "output:NXM_NX_REG1[0..15]",
        );
    }

    #[test]
    fn unmodelled_reg_load2_stays_raw() {
        // REG_LOAD2 of reg3, which ofp-print shows as `set_field:0x5/0xf->reg3`; OVS keeps it
        // REG_LOAD2 on re-encode, and so do we (raw bytes).
        let b = unhex("ffff001800002320002100010708000000050000000f0000");
        let got = super::super::parse_actions(&mut Reader::new(&b, 0)).unwrap();
        assert!(matches!(got[..], [Action::Raw { .. }]), "{got:?}");
        let mut buf = Vec::new();
        super::super::emit_actions(&got, &mut buf);
        assert_eq!(buf, b);
    }
}
