//! Reading an `ofp_match`: its header and padding, one TLV at a time (length, mask, the ONF
//! experimenter form), the field it names, and the owned decode built on [`walk_oxms`].

use super::table::{Fid, FieldInfo, ONF_EXPERIMENTER, ONF_TCP_FLAGS_FIELD};
use super::walk::walk_oxms;
use crate::flow::{Match, MatchField};
use crate::wire::{pad8, Reader};
use crate::{Error, MatchError};

impl Match {
    /// Parse an `ofp_match` (including its padding) at the reader's position.
    ///
    /// Errors: [`Error::Truncated`], [`Error::BadMatch`] with the TLV offset.
    pub(crate) fn parse(r: &mut Reader) -> Result<Match, Error> {
        parse_oxms(&mut match_tlvs(r)?)
    }
}

/// Read an `ofp_match` header and padding at the reader's position; the TLVs, unchecked.
///
/// Errors: [`Error::Truncated`], [`Error::BadMatch`] for a type other than OXM,
/// [`Error::BadLength`] for a length below 4.
#[inline]
pub(crate) fn match_tlvs<'a>(r: &mut Reader<'a>) -> Result<Reader<'a>, Error> {
    let start = r.offset();
    // The common case in one bounds check: an OXM match whose TLVs and padding are all there.
    let rest = r.peek_rest();
    if let Some(h) = rest.first_chunk::<4>() {
        let len = u16::from_be_bytes([h[2], h[3]]) as usize;
        if h[..2] == [0, 1] && len >= 4 && len + pad8(len) <= rest.len() {
            let body = Reader::new(&rest[4..len], start + 4);
            r.advance(len + pad8(len));
            return Ok(body);
        }
    }
    let kind = r.u16("ofp_match")?;
    let len = r.u16("ofp_match")? as usize;
    if kind != 1 {
        return Err(Error::BadMatch {
            offset: start,
            kind: MatchError::BadType(kind),
        });
    }
    if len < 4 {
        return Err(Error::BadLength {
            what: "ofp_match",
            offset: start,
            length: len,
        });
    }
    let body = r.sub("ofp_match", len - 4)?;
    r.skip("ofp_match padding", pad8(len))?;
    Ok(body)
}

/// A TLV as read: unmasked header, value bytes, mask bytes (borrowed from the message).
pub(crate) type RawTlv<'a> = (u32, &'a [u8], Option<&'a [u8]>);

/// Read one TLV header and its value (+mask) without interpreting the field.
/// Returns (header with hasmask cleared and unmasked length, value, mask).
#[inline]
pub(crate) fn parse_tlv<'a>(r: &mut Reader<'a>) -> Result<RawTlv<'a>, Error> {
    let off = r.offset();
    let mut header = r.u32("OXM header")?;
    let class = (header >> 16) as u16;
    let hasmask = header & 0x100 != 0;
    let mut len = (header & 0xff) as usize;
    if class == 0xffff {
        // Experimenter OXM: the length counts the 4-byte experimenter id. The one OVS writes in
        // OF1.3 is ONFOXM_ET_TCP_FLAGS; it reads as its Nicira twin NXM_NX_TCP_FLAGS.
        let field = ((header >> 9) & 0x7f) as u8;
        if field != ONF_TCP_FLAGS_FIELD || len < 4 || r.u32("OXM experimenter")? != ONF_EXPERIMENTER
        {
            return Err(Error::BadMatch {
                offset: off,
                kind: MatchError::BadField(header),
            });
        }
        len -= 4;
        header = (Fid::TcpFlags.header() & !0xff) | (header & 0x100) | len as u32;
    }
    if hasmask {
        if !len.is_multiple_of(2) || len == 0 {
            return Err(Error::BadMatch {
                offset: off,
                kind: MatchError::BadLen(header),
            });
        }
        len /= 2;
    }
    if len > 16 {
        return Err(Error::BadMatch {
            offset: off,
            kind: MatchError::BadLen(header),
        });
    }
    let value = r.take("OXM value", len)?;
    let mask = if hasmask {
        Some(r.take("OXM mask", len)?)
    } else {
        None
    };
    Ok(((header & !0x1ff) | len as u32, value, mask))
}

/// Resolve an unmasked header into a known field (and its row) with the right length.
#[inline]
pub(crate) fn lookup(header: u32, offset: usize) -> Result<(Fid, &'static FieldInfo), Error> {
    let Some((fid, info)) =
        crate::oxm_fast::find((header >> 16) as u16, ((header >> 9) & 0x7f) as u8)
    else {
        return Err(Error::BadMatch {
            offset,
            kind: MatchError::BadField(header),
        });
    };
    let fid = match fid {
        Fid::TunMetadata(idx, _) => Fid::TunMetadata(idx, (header & 0xff) as u8),
        f => f,
    };
    if fid.len_of(info) as u32 != header & 0xff {
        return Err(Error::BadMatch {
            offset,
            kind: MatchError::BadLen(header),
        });
    }
    Ok((fid, info))
}

/// Decode the OXM list into a field list allocated once at its exact size. OVS writes fields in
/// canonical order, so the list is only sorted when a field arrives out of order.
fn parse_oxms(r: &mut Reader) -> Result<Match, Error> {
    let mut fields: Vec<MatchField> =
        Vec::with_capacity(crate::oxm_fast::count_tlvs(r.peek_rest()));
    let ascending = walk_oxms(r, |f| fields.push(f))?;
    if !ascending {
        fields.sort_by_key(|f| f.raw().0);
    }
    Ok(Match(fields))
}
