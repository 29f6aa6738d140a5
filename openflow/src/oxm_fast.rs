//! Allocation-free plumbing for the OXM codec in [`crate::oxm`]: constant-time field lookup by
//! `(class, field)` (tables derived at compile time from [`FIELDS`], the one protocol table),
//! a TLV counter that sizes the decoded field list exactly, and a match emitter that sorts into
//! OVS's canonical order on the stack instead of building a canonical copy.
//!
//! Nothing here knows individual fields: adding a row to [`FIELDS`] (or a special case to
//! [`Fid::from_class_field`]) is enough for decode and emit to pick it up.

use crate::flow::Match;
use crate::oxm::{emit_field, Fid, FieldInfo, FIELDS, OFPXMC_NXM_1, OFPXMC_OPENFLOW_BASIC};
use crate::wire::{pad8, put_u16_at};

/// Marks a `(class, field)` slot that has no row.
const NO_ROW: u8 = u8::MAX;
const _: () = assert!(FIELDS.len() < NO_ROW as usize, "row numbers must fit a u8");

/// Row of [`FIELDS`] for each 7-bit field number of `class` ([`NO_ROW`] where none).
const fn rows_of(class: u16) -> [u8; 128] {
    let mut t = [NO_ROW; 128];
    let mut i = 0;
    while i < FIELDS.len() {
        let info = &FIELDS[i].1;
        if info.class == class {
            t[info.field as usize & 0x7f] = i as u8;
        }
        i += 1;
    }
    t
}

static BASIC_ROWS: [u8; 128] = rows_of(OFPXMC_OPENFLOW_BASIC);
static NX_ROWS: [u8; 128] = rows_of(OFPXMC_NXM_1);

/// The field with this OXM/NXM class and 7-bit field number, with its table row; `None` when
/// unknown. The two classes in the tables answer in constant time; anything else (other
/// classes, parametrised fields like `reg0..15`) goes through [`Fid::from_class_field`].
#[inline]
pub(crate) fn find(class: u16, field: u8) -> Option<(Fid, &'static FieldInfo)> {
    let row = match class {
        OFPXMC_OPENFLOW_BASIC => BASIC_ROWS[field as usize & 0x7f],
        OFPXMC_NXM_1 => NX_ROWS[field as usize & 0x7f],
        _ => NO_ROW,
    };
    match FIELDS.get(row as usize) {
        Some((fid, info)) => Some((*fid, info)),
        None => Fid::from_class_field(class, field).map(|f| (f, f.info())),
    }
}

/// Number of TLVs in an OXM list, counted by hopping over their headers (an upper bound on the
/// fields a well-formed list decodes to; a malformed tail stops the count, and the decoder
/// reports it).
pub(crate) fn count_tlvs(mut b: &[u8]) -> usize {
    let mut n = 0;
    while let Some(h) = b.first_chunk::<4>() {
        n += 1;
        b = b.get(4 + h[3] as usize..).unwrap_or_default();
    }
    n
}

/// A big-endian unsigned integer of up to 16 bytes.
#[inline]
pub(crate) fn be_value(b: &[u8]) -> u128 {
    // The common widths without a variable-length copy.
    match b.len() {
        1 => return b[0] as u128,
        2 => return u16::from_be_bytes([b[0], b[1]]) as u128,
        4 => return u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u128,
        _ => {}
    }
    let mut w = [0u8; 16];
    let n = b.len().min(16);
    w[16 - n..].copy_from_slice(&b[..n]);
    u128::from_be_bytes(w)
}

/// Matches with at most this many fields are sorted on the stack when emitted.
const INLINE_FIELDS: usize = 32;

/// Append `m` as an `ofp_match` exactly as [`Match::emit`] specifies (canonical order, masks
/// normalised, padding), without allocating for matches of up to [`INLINE_FIELDS`] fields.
pub(crate) fn emit_match(m: &Match, buf: &mut Vec<u8>) {
    if m.0.len() > INLINE_FIELDS {
        return emit_sorted(m.canonical().0.iter().map(|f| f.raw()), buf);
    }
    let mut tlvs = [(Fid::InPort, 0u128, None::<u128>); INLINE_FIELDS];
    let mut n = 0;
    for f in &m.0 {
        let Some(t) = normalized_raw(f.raw()) else {
            continue;
        };
        // Insertion keeps equal fields in input order, as the stable sort in `canonical` does.
        let mut i = n;
        while i > 0 && tlvs[i - 1].0 > t.0 {
            tlvs[i] = tlvs[i - 1];
            i -= 1;
        }
        tlvs[i] = t;
        n += 1;
    }
    emit_sorted(tlvs[..n].iter().copied(), buf);
}

/// [`crate::MatchField::normalized`] on the raw triple: `None` for an all-zero mask, exact for
/// an all-ones mask, value ANDed with the mask otherwise.
fn normalized_raw((fid, v, m): (Fid, u128, Option<u128>)) -> Option<(Fid, u128, Option<u128>)> {
    match m {
        None => Some((fid, v, None)),
        Some(0) => None,
        Some(m) => {
            let ones = fid.all_ones();
            if m & ones == ones {
                Some((fid, v, None))
            } else {
                Some((fid, v & m, Some(m)))
            }
        }
    }
}

fn emit_sorted(tlvs: impl Iterator<Item = (Fid, u128, Option<u128>)>, buf: &mut Vec<u8>) {
    let start = buf.len();
    buf.extend_from_slice(&[0, 1, 0, 0]);
    for (fid, v, m) in tlvs {
        emit_field(buf, fid, v, m);
    }
    let len = buf.len() - start;
    put_u16_at(buf, start + 2, len as u16);
    buf.resize(buf.len() + pad8(len), 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::MatchField;
    use std::net::Ipv4Addr;

    #[test]
    fn every_row_is_found_by_its_class_and_field() {
        for (fid, info) in FIELDS {
            let (found, i) = find(info.class, info.field).expect(info.name);
            assert_eq!((found, i.name), (*fid, info.name));
        }
        assert_eq!(find(OFPXMC_NXM_1, 3).map(|f| f.0), Some(Fid::Reg(3)));
        assert!(find(OFPXMC_OPENFLOW_BASIC, 127).is_none());
        assert!(find(0x4242, 1).is_none());
    }

    #[test]
    fn the_tables_answer_as_the_linear_search_does_for_every_class_and_field() {
        for class in [
            OFPXMC_OPENFLOW_BASIC,
            OFPXMC_NXM_1,
            crate::oxm::OFPXMC_NXM_0,
        ] {
            for field in 0..128u8 {
                assert_eq!(
                    find(class, field).map(|f| f.0),
                    Fid::from_class_field(class, field),
                    "class {class:#x} field {field}"
                );
            }
        }
        assert_eq!(
            find(OFPXMC_NXM_1, 41).map(|f| f.0),
            Some(Fid::TunMetadata(1, 0))
        );
    }

    #[test]
    fn tlvs_are_counted_by_their_lengths_and_a_short_tail_still_counts() {
        // eth_type, ip_proto, then an ipv4_dst header whose value is cut off.
        let b = [
            0x80, 0, 0x0a, 2, 8, 0, 0x80, 0, 0x14, 1, 6, 0x80, 0, 0x18, 4, 10,
        ];
        assert_eq!(count_tlvs(&b), 3);
        assert_eq!(count_tlvs(&[]), 0);
    }

    #[test]
    fn emit_matches_the_canonical_copy_for_unsorted_masked_fields() {
        let m = Match(vec![
            MatchField::CtState(0x21, 0x21),
            MatchField::Reg(1, 5, Some(u32::MAX)),
            MatchField::CtMark(3, Some(2)),
            MatchField::Reg(2, 7, Some(0)),
            MatchField::Ipv4Dst(
                Ipv4Addr::new(10, 0, 0, 9),
                Some(Ipv4Addr::new(255, 0, 0, 0)),
            ),
            MatchField::EthType(0x0800),
        ]);
        let mut fast = vec![0xa5];
        emit_match(&m, &mut fast);
        let mut slow = vec![0xa5];
        emit_sorted(m.canonical().0.iter().map(|f| f.raw()), &mut slow);
        assert_eq!(fast, slow);
        assert_eq!(&fast[1..5], &[0, 1, 0, 54]);
    }
}
