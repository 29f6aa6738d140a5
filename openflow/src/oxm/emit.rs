//! The owned [`Match`]: building it, its canonical form (OVS's order, masks normalised) and its
//! emit, with the TLV writers the actions share.

use super::table::{Fid, OFPXMC_EXPERIMENTER, ONF_EXPERIMENTER, ONF_TCP_FLAGS_FIELD};
use crate::flow::{Match, MatchField};
use crate::wire::pad8;

impl Match {
    /// Length of the `ofp_match` on the wire, including padding (a multiple of 8).
    pub fn buffer_len(&self) -> usize {
        let n = 4 + self.tlvs().len();
        n + pad8(n)
    }

    /// Append the `ofp_match`: header, the TLVs (canonical order), padding. Written whether
    /// or not the match passes [`Match::validate`].
    #[inline]
    pub fn emit(&self, buf: &mut Vec<u8>) {
        let t = self.tlvs();
        let n = 4 + t.len();
        buf.reserve(n + 8);
        buf.extend_from_slice(&[0, 1]);
        buf.extend_from_slice(&(n as u16).to_be_bytes());
        buf.extend_from_slice(t);
        // A fixed-size write and a truncate instead of a variable-length fill.
        buf.extend_from_slice(&[0; 8]);
        buf.truncate(buf.len() - 8 + pad8(n));
    }
}

/// The fields as OVS normalises them: masks normalised as in [`MatchField::normalized`], in
/// canonical order ([`sort_canonical`]). Duplicates are kept.
pub(crate) fn canonical_fields(fields: &[MatchField]) -> Vec<MatchField> {
    let mut v: Vec<MatchField> = fields.iter().filter_map(MatchField::normalized).collect();
    sort_canonical(&mut v);
    v
}

/// Sort fields into canonical order: the known ones by [`Fid`] (stably: duplicates keep their
/// order), each [`MatchField::Raw`] staying right after the known field it follows in `v`, in
/// its order among the raw fields there, or first if no known field comes before it. Raw
/// fields have no place in OVS's order, and this keeps a decoded list, whose known fields OVS
/// wrote in canonical order, exactly in wire order.
pub(crate) fn sort_canonical(v: &mut Vec<MatchField>) {
    if !v.iter().any(|f| matches!(f, MatchField::Raw { .. })) {
        v.sort_by_key(MatchField::fid);
        return;
    }
    // Each field keyed by the known field it is or follows: a stable sort on the key moves a
    // raw field together with that one.
    let mut anchor = None;
    let mut keyed: Vec<(Option<Fid>, MatchField)> = std::mem::take(v)
        .into_iter()
        .map(|f| {
            anchor = f.fid().or(anchor);
            (anchor, f)
        })
        .collect();
    keyed.sort_by_key(|(key, _)| *key);
    v.extend(keyed.into_iter().map(|(_, f)| f));
}

/// Append one field of a canonical match: a known one as [`emit_field`] writes it (its mask
/// already normalised), a [`MatchField::Raw`] as it was read.
pub(crate) fn emit_match_field(buf: &mut Vec<u8>, f: &MatchField) {
    let MatchField::Raw {
        class,
        field,
        experimenter,
        value,
        mask,
    } = f
    else {
        // Normalised once more: ct_state keeps an all-ones mask in its value form, and on the
        // wire that is exact.
        if let Some((fid, v, m)) = f.parts().and_then(crate::oxm_fast::normalized_raw) {
            emit_field(buf, fid, v, m);
        }
        return;
    };
    let hasmask = mask.is_some() as u32;
    // The 8-bit length keeps to its own bits: a longer field is the caller's error.
    let len = raw_len(f) as u32 & 0xff;
    let header = (*class as u32) << 16 | (*field as u32 & 0x7f) << 9 | hasmask << 8 | len;
    buf.extend_from_slice(&header.to_be_bytes());
    if let Some(e) = experimenter {
        buf.extend_from_slice(&e.to_be_bytes());
    }
    buf.extend_from_slice(value);
    if let Some(m) = mask {
        buf.extend_from_slice(m);
    }
}

/// The length byte of a [`MatchField::Raw`]'s TLV: experimenter id, value and mask (0 for a
/// known field).
fn raw_len(f: &MatchField) -> usize {
    match f {
        MatchField::Raw {
            experimenter,
            value,
            mask,
            ..
        } => experimenter.map_or(0, |_| 4) + value.len() + mask.map_or(0, |m| m.len()),
        _ => 0,
    }
}

/// Append one TLV: header (with hasmask and doubled length when masked), value, mask.
pub(crate) fn emit_tlv(buf: &mut Vec<u8>, header: u32, v: u128, m: Option<u128>) {
    let len = (header & 0xff) as usize;
    let header = match m {
        Some(_) => (header & !0xff) | 0x100 | (2 * len) as u32,
        None => header,
    };
    buf.extend_from_slice(&header.to_be_bytes());
    emit_tlv_body(buf, len, v, m);
}

/// Append one match field as OVS writes it in an OF1.3 match: tcp_flags as the ONF experimenter
/// OXM, every other field as its OXM/NXM TLV.
pub(crate) fn emit_field(buf: &mut Vec<u8>, fid: Fid, v: u128, m: Option<u128>) {
    if fid == Fid::TcpFlags {
        emit_onf_tlv(buf, ONF_TCP_FLAGS_FIELD, fid.info().len, v, m);
    } else {
        emit_tlv(buf, fid.header(), v, m);
    }
}

/// Append an ONF experimenter OXM: `0xffff | field | hasmask | len (counting the experimenter
/// id) | experimenter | value | mask?` (OF1.3 §7.2.3.2).
fn emit_onf_tlv(buf: &mut Vec<u8>, field: u8, len: u8, v: u128, m: Option<u128>) {
    let body = len as u32 * if m.is_some() { 2 } else { 1 };
    let header = (OFPXMC_EXPERIMENTER as u32) << 16
        | (field as u32) << 9
        | (m.is_some() as u32) << 8
        | (4 + body);
    buf.extend_from_slice(&header.to_be_bytes());
    buf.extend_from_slice(&ONF_EXPERIMENTER.to_be_bytes());
    emit_tlv_body(buf, len as usize, v, m);
}

/// Append the low `len` bytes of `v`, then of `m`, big-endian.
fn emit_tlv_body(buf: &mut Vec<u8>, len: usize, v: u128, m: Option<u128>) {
    put_be(buf, len, v);
    if let Some(m) = m {
        put_be(buf, len, m);
    }
}

/// Append the low `len` bytes of `v`, big-endian: one fixed-size store for the common widths
/// (a variable-length copy per field costs more than the field).
#[inline(always)]
fn put_be(buf: &mut Vec<u8>, len: usize, v: u128) {
    match len {
        1 => buf.push(v as u8),
        2 => buf.extend_from_slice(&(v as u16).to_be_bytes()),
        4 => buf.extend_from_slice(&(v as u32).to_be_bytes()),
        8 => buf.extend_from_slice(&(v as u64).to_be_bytes()),
        16 => buf.extend_from_slice(&v.to_be_bytes()),
        _ => buf.extend_from_slice(&v.to_be_bytes()[16 - len.min(16)..]),
    }
}
