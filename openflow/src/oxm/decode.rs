//! Reading an `ofp_match`: its header and padding, one TLV at a time (length, mask, the
//! experimenter id), the field it names if this crate knows it, and the owned decode built on
//! [`walk_oxms`].

use super::emit::sort_canonical;
use super::table::{Fid, FieldInfo, OFPXMC_EXPERIMENTER, ONF_EXPERIMENTER, ONF_TCP_FLAGS_FIELD};
use super::walk::{walk_oxms, Item};
use crate::flow::{Match, MatchField, RawBytes};
use crate::grammar::tl;
use crate::wire::{pad8, Reader};
use crate::{Error, MatchError};

impl Match {
    /// Parse an `ofp_match` (including its padding) at the reader's position.
    ///
    /// Errors: [`Error::Truncated`], [`Error::BadMatch`] with the TLV offset.
    /// The TLVs are checked in place; when they are in the form [`Match`] keeps (what OVS and
    /// this crate write) they are copied in, else the match is built from the decoded fields.
    #[inline]
    pub(crate) fn parse(r: &mut Reader) -> Result<Match, Error> {
        let mut tlvs = match_tlvs(r)?;
        let bytes = tlvs.peek_rest();
        if walk_oxms(&mut tlvs.clone(), |_| {})?.verbatim {
            return Ok(Match::from_tlvs(bytes));
        }
        parse_oxms(&mut tlvs)
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
    if let Ok((_, (kind, len))) = tl(rest) {
        if kind == 1 && len >= 4 && len + pad8(len) <= rest.len() {
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

/// One TLV as read, its field not yet interpreted (the bytes borrowed from the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawTlv<'a> {
    /// The field's identity and width: the header with hasmask clear and the length of one
    /// value (for an experimenter OXM, without its id). ONF's tcp_flags OXM reads as its Nicira
    /// twin NXM_NX_TCP_FLAGS.
    pub(crate) header: u32,
    /// The id of any other experimenter OXM (class 0xffff).
    pub(crate) experimenter: Option<u32>,
    /// Value bytes.
    pub(crate) value: &'a [u8],
    /// Mask bytes, as long as the value.
    pub(crate) mask: Option<&'a [u8]>,
}

impl RawTlv<'_> {
    /// The TLV as the field this crate does not know, its bytes copied.
    ///
    /// The walk ([`super::walk_oxms`]) refuses values longer than [`RawBytes::MAX`], so this
    /// cannot fail on a checked list; anything longer is cut.
    pub(crate) fn to_raw_field(self) -> MatchField {
        let cut = |b: &[u8]| RawBytes::new(&b[..b.len().min(RawBytes::MAX)]).unwrap_or_default();
        MatchField::Raw {
            class: (self.header >> 16) as u16,
            field: ((self.header >> 9) & 0x7f) as u8,
            experimenter: self.experimenter,
            value: cut(self.value),
            mask: self.mask.map(cut),
        }
    }

    /// Whether `other` names the same unknown field: class, field and experimenter id, at any
    /// length.
    pub(crate) fn same_raw_field(&self, other: &RawTlv) -> bool {
        self.header & !0x1ff == other.header & !0x1ff && self.experimenter == other.experimenter
    }
}

/// Read one TLV header and its value (+mask) without interpreting the field beyond the
/// experimenter id of an experimenter OXM.
///
/// Errors, at the TLV's offset: [`MatchError::BadLen`] for a masked TLV of odd or zero length,
/// an experimenter OXM shorter than its id, or a known field longer than 16 bytes (the model's
/// widest); [`Error::Truncated`] for bytes past the list.
#[inline]
pub(crate) fn parse_tlv<'a>(r: &mut Reader<'a>) -> Result<RawTlv<'a>, Error> {
    let off = r.offset();
    let mut header = r.u32("OXM header")?;
    let class = (header >> 16) as u16;
    let hasmask = header & 0x100 != 0;
    let mut len = (header & 0xff) as usize;
    let bad_len = |header| Error::BadMatch {
        offset: off,
        kind: MatchError::BadLen(header),
    };
    let mut experimenter = None;
    if class == OFPXMC_EXPERIMENTER {
        // Experimenter OXM: the length counts the 4-byte experimenter id (OF1.3 §7.2.3.2).
        if len < 4 {
            return Err(bad_len(header));
        }
        let id = r.u32("OXM experimenter")?;
        len -= 4;
        if id == ONF_EXPERIMENTER && ((header >> 9) & 0x7f) as u8 == ONF_TCP_FLAGS_FIELD {
            // The one OVS writes in OF1.3 is ONFOXM_ET_TCP_FLAGS.
            header = (Fid::TcpFlags.header() & !0xff) | (header & 0x100) | len as u32;
        } else {
            experimenter = Some(id);
        }
    }
    if hasmask {
        if !len.is_multiple_of(2) || len == 0 {
            return Err(bad_len(header));
        }
        len /= 2;
    }
    // Only an unknown field may be wider than the model's u128 values; the lookup runs on this
    // rare path alone.
    if len > 16
        && crate::oxm_fast::find((header >> 16) as u16, (header >> 9) as u8 & 0x7f).is_some()
    {
        return Err(bad_len(header));
    }
    let value = r.take("OXM value", len)?;
    let mask = if hasmask {
        Some(r.take("OXM mask", len)?)
    } else {
        None
    };
    Ok(RawTlv {
        header: (header & !0x1ff) | len as u32,
        experimenter,
        value,
        mask,
    })
}

/// Resolve an unmasked header into a known field (and its row), `None` for a field this crate
/// does not know.
///
/// Errors: [`MatchError::BadLen`] (at `offset`) for a known field of the wrong length.
#[inline]
pub(crate) fn lookup(
    header: u32,
    offset: usize,
) -> Result<Option<(Fid, &'static FieldInfo)>, Error> {
    let Some((fid, info)) =
        crate::oxm_fast::find((header >> 16) as u16, ((header >> 9) & 0x7f) as u8)
    else {
        return Ok(None);
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
    Ok(Some((fid, info)))
}

/// Decode the OXM list into a field list, then the [`Match`] of those fields: the path of a
/// list not in the form [`Match`] keeps (out of order, masks to normalise, NXM headers).
#[cold]
fn parse_oxms(r: &mut Reader) -> Result<Match, Error> {
    let mut fields: Vec<MatchField> =
        Vec::with_capacity(crate::oxm_fast::count_tlvs(r.peek_rest()));
    let walked = walk_oxms(r, |item| match item {
        Item::Field(f) => fields.push(f),
        Item::Raw(t) => fields.push(t.to_raw_field()),
    })?;
    if !walked.ascending {
        sort_canonical(&mut fields);
    }
    Ok(Match::from_fields(&fields))
}
