//! The owned [`Match`]: building it, its canonical form (OVS's order, masks normalised) and its
//! emit, with the TLV writers the actions share.

use super::table::{Fid, ONF_EXPERIMENTER, ONF_TCP_FLAGS_FIELD};
use crate::flow::{Match, MatchField};
use crate::wire::pad8;

impl Match {
    /// An empty match (matches every packet).
    pub fn new() -> Self {
        Match(Vec::new())
    }

    /// Builder-style: add a field.
    pub fn with(mut self, f: MatchField) -> Self {
        self.0.push(f);
        self
    }

    /// The match as OVS normalises it: fields in OVS's canonical (wire) order, masks normalised
    /// as in [`MatchField::normalized`]. Two matches are equivalent iff their canonical forms are
    /// equal (duplicates are kept; they are invalid anyway).
    pub fn canonical(&self) -> Match {
        let mut v: Vec<MatchField> = self.0.iter().filter_map(MatchField::normalized).collect();
        v.sort_by_key(|f| f.raw().0);
        Match(v)
    }

    /// Length of the `ofp_match` on the wire, including padding (a multiple of 8).
    pub fn buffer_len(&self) -> usize {
        let n = self.unpadded_len();
        n + pad8(n)
    }

    fn unpadded_len(&self) -> usize {
        4 + self
            .canonical()
            .0
            .iter()
            .map(|f| {
                let (fid, _, m) = f.raw();
                let experimenter = if fid == Fid::TcpFlags { 4 } else { 0 };
                experimenter + 4 + fid.len() as usize * if m.is_some() { 2 } else { 1 }
            })
            .sum::<usize>()
    }

    /// Append the `ofp_match` (header, TLVs in canonical order, padding) to `buf`, whether or
    /// not the match passes [`Match::validate`].
    pub fn emit(&self, buf: &mut Vec<u8>) {
        crate::oxm_fast::emit_match(self, buf);
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
    let header = 0xffff_0000 | (field as u32) << 9 | (m.is_some() as u32) << 8 | (4 + body);
    buf.extend_from_slice(&header.to_be_bytes());
    buf.extend_from_slice(&ONF_EXPERIMENTER.to_be_bytes());
    emit_tlv_body(buf, len as usize, v, m);
}

fn emit_tlv_body(buf: &mut Vec<u8>, len: usize, v: u128, m: Option<u128>) {
    buf.extend_from_slice(&v.to_be_bytes()[16 - len..]);
    if let Some(m) = m {
        buf.extend_from_slice(&m.to_be_bytes()[16 - len..]);
    }
}
