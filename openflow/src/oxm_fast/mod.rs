//! Allocation-free plumbing for the OXM codec in [`crate::oxm`]: constant-time field lookup by
//! `(class, field)` and by [`Fid`] (tables derived at compile time from [`FIELDS`], the one
//! protocol table), a TLV counter that sizes the decoded field list exactly, a match emitter
//! that sorts into OVS's canonical order on the stack instead of building a canonical copy, and
//! [`quick`], the decode fast path for the fields policy pipelines match on.
//!
//! Only [`quick`] knows individual fields, and it is an optimisation: adding a row to [`FIELDS`]
//! (or a special case to [`Fid::from_class_field`]) is enough for decode and emit to pick a
//! field up through the general path.

#[cfg(doc)]
use crate::oxm::{Fid, FIELDS};

mod decode;
mod emit;
mod lookup;
#[cfg(test)]
mod tests;

pub(crate) use self::decode::{field, quick};
pub(crate) use self::emit::{emit_fields, normalized_raw};
pub(crate) use self::lookup::{find, row_of};
pub(crate) use crate::grammar::{be_value, count_tlvs};
