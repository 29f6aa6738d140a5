//! Constant-time field lookup by `(class, field)` and by [`Fid`].

use crate::oxm::{Fid, FieldInfo, FID_COUNT, FIELDS, OFPXMC_NXM_1, OFPXMC_OPENFLOW_BASIC};

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

/// Row of [`FIELDS`] for each [`Fid`] without a payload, indexed by its discriminant
/// ([`NO_ROW`] for `Reg` and `TunMetadata`, which have computed rows).
static FID_ROWS: [u8; FID_COUNT] = {
    let mut t = [NO_ROW; FID_COUNT];
    let mut i = 0;
    while i < FIELDS.len() {
        let d = FIELDS[i].0.discriminant() as usize;
        assert!(t[d] == NO_ROW, "one row per field");
        assert!(
            d != Fid::Reg(0).discriminant() as usize
                && d != Fid::TunMetadata(0, 0).discriminant() as usize,
            "registers and tun_metadata rows are computed"
        );
        t[d] = i as u8;
        i += 1;
    }
    // With the two computed families, every other variant has exactly one row.
    assert!(FIELDS.len() + 2 == FID_COUNT, "every Fid has a row");
    t
};

/// The [`FIELDS`] row of a field without a payload, in constant time.
#[inline]
pub(crate) fn row_of(fid: Fid) -> &'static FieldInfo {
    &FIELDS[FID_ROWS[fid.discriminant() as usize] as usize].1
}
