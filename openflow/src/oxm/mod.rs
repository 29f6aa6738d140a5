//! `ofp_match` and OXM/NXM TLVs (OF1.3 §7.2.3; OVS `lib/nx-match.c`).
//!
//! Wire shape: `type u16 (OFPMT_OXM = 1) | length u16 | TLVs | pad to 8`, where `length` counts
//! the 4-byte header and the TLVs but not the padding. A TLV is
//! `class u16 | field u7 | hasmask u1 | len u8 | value | mask?`.
//!
//! Emit follows OVS (`nx_put_raw`): canonical field order with prerequisites first, all-ones masks
//! written unmasked, all-zero masks omitted, and the value ANDed with its mask. Decode is as strict
//! as OVS's `oxm_pull_match` for FLOW_MOD: bad prerequisites, duplicates, value bits outside the
//! mask and masks on unmaskable fields are errors carrying the TLV's byte offset. Unknown fields
//! are the exception: OVS refuses them (OFPBMC_BAD_FIELD), this crate keeps them as
//! [`MatchField::Raw`](crate::MatchField::Raw), which re-emits byte for byte.

mod decode;
mod emit;
mod table;
#[cfg(test)]
mod tests;
mod value;
mod walk;

pub use table::{OFPXMC_EXPERIMENTER, OFPXMC_NXM_0, OFPXMC_NXM_1, OFPXMC_OPENFLOW_BASIC};

pub(crate) use decode::{lookup, match_tlvs, parse_tlv};
pub(crate) use emit::{canonical_fields, emit_field, emit_match_field, emit_tlv, sort_canonical};
pub(crate) use table::{ones, Fid, FieldInfo, FID_COUNT, FIELDS};
pub(crate) use value::{mac, mac_bits};
pub(crate) use walk::{facts, normalized_mask, walk_oxms, Item, Prereqs};
