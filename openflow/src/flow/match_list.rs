//! The owned match, [`Match`]: its fields kept as the OXM TLVs [`Match::emit`] writes
//! (OF1.3 §7.2.3.2; OVS `nx_put_raw` in `lib/nx-match.c`), inline up to [`Match::INLINE`]
//! bytes.

use std::fmt;

use super::inline::InlineBytes;
use crate::flow::MatchField;
use crate::view::Fields;

/// An OXM match: a set of [`MatchField`]s kept as their TLVs in OVS's canonical form, exactly
/// the bytes an `ofp_match` carries between its 4-byte header and its padding.
///
/// - **Canonical on build.** [`Match::from`] (a `Vec`, an array or any iterator of fields),
///   [`Match::with`] and [`Match::push`] write the fields as OVS does: canonical order with
///   prerequisites first, all-ones masks made exact, all-zero masked fields left out, values
///   ANDed with their mask, tcp_flags as the ONF experimenter OXM; a [`MatchField::Raw`] stays
///   right after the known field it follows in the input (first if none), as its TLV.
///   Duplicates and missing prerequisites are kept: [`Match::validate`] reports them.
/// - **Equality and hash** are those of the canonical bytes: two matches with the same fields
///   in any order are equal (what comparing [`Match::canonical`] forms meant before). **Order**
///   is that of the canonical bytes (see the `Ord` impl), so `Ord` agrees with `Eq`.
/// - **Reading** is through [`Match::fields`], which decodes each TLV into a [`MatchField`] on
///   the fly (in canonical order, normalised), or [`Match::tlvs`] for the bytes.
/// - **Decode** checks the TLVs as OVS's `oxm_pull_match` does, then copies them in when they
///   already are in canonical form (what OVS and this crate write); otherwise it builds the
///   match from the decoded fields. **Emit** writes the header, the bytes and the padding.
/// - **Size**: `size_of::<Match>()` is 96 bytes; a match whose TLVs take at most
///   [`Match::INLINE`] bytes (e.g. in_port, eth_type, ip_proto, a masked nw_src and nw_dst,
///   tp_dst, a masked reg and ct_state: 73 bytes) owns no heap memory.
/// - A register above 15 or a tun_metadata slot above 63 or longer than 16 bytes cannot be
///   written on the wire: it is left out of the bytes and remembered as the error
///   [`Match::validate`] returns.
#[derive(Clone)]
pub struct Match {
    tlvs: InlineBytes<{ Match::INLINE }>,
    /// The first field that could not be written ([`crate::validate`]'s slot check), as the
    /// code [`Match::bad_slot`] gives; 0 when none.
    bad: u32,
}

impl Match {
    /// TLV bytes kept inline, without a heap allocation.
    pub const INLINE: usize = 86;

    /// An empty match (matches every packet).
    pub const fn new() -> Self {
        Match {
            tlvs: InlineBytes::EMPTY,
            bad: 0,
        }
    }

    /// A match of canonical TLV bytes, copied in (the decoder's path: `b` was checked and is
    /// what [`Match::from`] would write for its fields).
    #[inline]
    pub(crate) fn from_tlvs(b: &[u8]) -> Self {
        Match {
            tlvs: InlineBytes::new(b),
            bad: 0,
        }
    }

    /// Build from fields in any order (see the type's docs for the canonical form).
    pub fn from_fields(fields: &[MatchField]) -> Self {
        let mut bad = 0;
        super::inline::with_scratch(|buf| {
            let slot_ok = |f: &MatchField| crate::validate::slot_code(f) == 0;
            if fields.iter().all(slot_ok) {
                crate::oxm_fast::emit_fields(fields, buf);
            } else {
                bad = fields
                    .iter()
                    .map(crate::validate::slot_code)
                    .find(|&c| c != 0)
                    .unwrap_or(0);
                let ok: Vec<MatchField> = fields.iter().filter(|f| slot_ok(f)).cloned().collect();
                crate::oxm_fast::emit_fields(&ok, buf);
            }
            let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
            let mut m = Match::from_tlvs(&buf[4..len]);
            m.bad = bad;
            m
        })
    }

    /// The TLVs in canonical order: what an `ofp_match` carries after its 4-byte header,
    /// without the padding.
    #[inline]
    pub fn tlvs(&self) -> &[u8] {
        self.tlvs.get()
    }

    /// The fields, decoded one by one from the TLVs, in canonical order.
    pub fn fields(&self) -> Fields<'_> {
        Fields::new(self.tlvs())
    }

    /// The fields as a list (canonical order).
    pub fn to_vec(&self) -> Vec<MatchField> {
        self.fields().collect()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        crate::oxm_fast::count_tlvs(self.tlvs())
    }

    /// Whether the match has no field (matches every packet).
    pub fn is_empty(&self) -> bool {
        self.tlvs().is_empty() && self.bad == 0
    }

    /// Builder-style: add a field.
    pub fn with(mut self, f: MatchField) -> Self {
        self.push(f);
        self
    }

    /// Add a field (the match is rewritten in canonical form).
    pub fn push(&mut self, f: MatchField) {
        let mut v = self.to_vec();
        v.push(f);
        let bad = self.bad;
        *self = Match::from_fields(&v);
        if bad != 0 {
            self.bad = bad;
        }
    }

    /// Keep only the fields `keep` accepts.
    pub fn retain(&mut self, keep: impl FnMut(&MatchField) -> bool) {
        let mut v = self.to_vec();
        v.retain(keep);
        let bad = self.bad;
        *self = Match::from_fields(&v);
        self.bad = bad;
    }

    /// The match as OVS normalises it. A [`Match`] is always kept in that form, so this is a
    /// copy (kept for callers of the list model).
    pub fn canonical(&self) -> Match {
        self.clone()
    }

    /// The code of the first field that could not be written (0 = none), for
    /// [`Match::validate`].
    pub(crate) fn bad_slot(&self) -> u32 {
        self.bad
    }
}

impl Default for Match {
    fn default() -> Self {
        Match::new()
    }
}

super::inline::from_items!(Match, MatchField, Match::from_fields);

impl<'a> IntoIterator for &'a Match {
    type Item = MatchField;
    type IntoIter = Fields<'a>;

    fn into_iter(self) -> Fields<'a> {
        self.fields()
    }
}

impl PartialEq for Match {
    fn eq(&self, other: &Self) -> bool {
        self.tlvs() == other.tlvs() && self.bad == other.bad
    }
}

impl Eq for Match {}

impl std::hash::Hash for Match {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.tlvs().hash(state);
        self.bad.hash(state);
    }
}

impl PartialOrd for Match {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The canonical TLV bytes compared as byte strings (lexicographic, a match that is a prefix of
/// another first), then [`Match::bad_slot`]: one `memcmp`, no field decoded, and consistent
/// with `Eq` and `Hash`, which look at the same two parts. Matches that share their first TLVs
/// are ordered by the first TLV that differs: by its header (OXM class, field, has-mask bit,
/// length; so an exact field before the same field masked) and then by its value and mask as
/// big-endian numbers. The order of OVS's own `ofp_match` bytes, not a field-by-field order: the
/// flow compiler's conjunction flows of one table and priority come out in it.
impl Ord for Match {
    #[inline]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.tlvs().cmp(other.tlvs()).then(self.bad.cmp(&other.bad))
    }
}

/// `Match([field, ..])`, the fields decoded.
impl fmt::Debug for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct List<'a>(&'a Match);
        impl fmt::Debug for List<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list().entries(self.0.fields()).finish()
            }
        }
        f.debug_tuple("Match").field(&List(self)).finish()
    }
}
