//! The owned instruction list of a FLOW_MOD, [`Instructions`]: its instructions kept as the
//! bytes [`crate::instruction::emit_instructions`] writes (OF1.3 §7.2.4, actions §7.2.5 and
//! OVS's Nicira actions, `lib/ofp-actions.c`), inline up to [`Instructions::INLINE`] bytes.

use std::borrow::Cow;
use std::fmt;

use super::inline::InlineBytes;
use crate::flow::{Action, Instruction};
use crate::view::{InstructionIter, InstructionView};

/// A FLOW_MOD's instructions, kept as their wire bytes in canonical form.
///
/// - **Canonical on build.** [`Instructions::from`] (a `Vec`, an array or any iterator of
///   [`Instruction`]s) and [`Instructions::push`] write the instructions as
///   [`crate::FlowMod::emit`] does: in the spec's execution order (meter, apply_actions,
///   clear_actions, write_actions, write_metadata, goto_table, then experimenter and unknown
///   ones in list order), each action in the form OVS writes it.
/// - **Equality, order and hash** are those of the bytes: two lists that encode alike are equal
///   (what comparing [`crate::FlowMod::canonical`] forms meant before).
/// - **Reading**: [`Instructions::views`] borrows each instruction in place
///   ([`InstructionView`], actions decoded as they are iterated, nothing allocated for the
///   common actions); [`Instructions::iter`] and [`Instructions::to_vec`] decode owned
///   [`Instruction`]s (each action list a `Vec`).
/// - **Decode** of a FLOW_MOD checks the instructions and every action as before, then copies
///   the bytes in when they already are in canonical form (what OVS and this crate write for
///   the common actions: output, set_field / reg_load into registers and ct_mark / ct_label,
///   resubmit, conjunction, `ct` with such loads, ct_clear); otherwise it decodes them and
///   writes them again. **Emit** copies the bytes out.
/// - **Size**: `size_of::<Instructions>()` is 144 bytes; a list of at most
///   [`Instructions::INLINE`] bytes (one apply_actions of eight 16-byte actions such as
///   output, resubmit or conjunction) owns no heap memory.
/// - An instruction longer than its 16-bit length field can say (over 65,535 bytes, e.g.
///   4,100 outputs) cannot be framed: such a list is kept as the instructions themselves,
///   emitted as before (with the wrapped length, which [`crate::FlowMod::validate`] and the
///   encoders refuse, naming the instruction).
#[derive(Clone)]
pub struct Instructions {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    /// The wire bytes, canonical.
    Wire(InlineBytes<{ Instructions::INLINE }>),
    /// A list with an instruction too long to frame, in canonical order.
    Long(Box<[Instruction]>),
}

impl Instructions {
    /// Instruction bytes kept inline, without a heap allocation.
    pub const INLINE: usize = 142;

    /// No instruction (the packet is dropped).
    pub const fn new() -> Self {
        Instructions {
            repr: Repr::Wire(InlineBytes::EMPTY),
        }
    }

    /// Instructions whose wire bytes `b` are in canonical form (checked by the caller), copied
    /// in.
    #[inline]
    pub(crate) fn from_wire(b: &[u8]) -> Self {
        Instructions {
            repr: Repr::Wire(InlineBytes::new(b)),
        }
    }

    /// Build from instructions in any order.
    pub fn from_list(list: &[Instruction]) -> Self {
        if !list.is_sorted_by_key(|i| i.rank()) {
            let mut sorted = list.to_vec();
            sorted.sort_by_key(|i| i.rank());
            return Instructions::from_list(&sorted);
        }
        super::inline::with_scratch(|buf| {
            for i in list {
                let start = buf.len();
                i.emit(buf);
                if buf.len() - start > usize::from(u16::MAX) {
                    return Instructions {
                        repr: Repr::Long(list.into()),
                    };
                }
            }
            Instructions::from_wire(buf)
        })
    }

    /// The instructions' wire bytes, as a FLOW_MOD carries them after its match (written
    /// anew for a list too long to frame).
    pub fn bytes(&self) -> Cow<'_, [u8]> {
        match &self.repr {
            Repr::Wire(b) => Cow::Borrowed(b.get()),
            Repr::Long(list) => {
                let mut buf = Vec::new();
                list.iter().for_each(|i| i.emit(&mut buf));
                Cow::Owned(buf)
            }
        }
    }

    /// The wire bytes of a list that can be framed; `None` for one kept as
    /// [`Instruction`]s ([`Instructions::long`]).
    #[inline]
    pub(crate) fn wire(&self) -> Option<&[u8]> {
        match &self.repr {
            Repr::Wire(b) => Some(b.get()),
            Repr::Long(_) => None,
        }
    }

    /// The instructions of a list too long to frame.
    pub(crate) fn long(&self) -> Option<&[Instruction]> {
        match &self.repr {
            Repr::Wire(_) => None,
            Repr::Long(list) => Some(list),
        }
    }

    /// The instructions in place, in canonical order (none for a list too long to frame:
    /// read it with [`Instructions::iter`]).
    pub fn views(&self) -> InstructionIter<'_> {
        InstructionIter::new(self.wire().unwrap_or_default(), 0)
    }

    /// The instructions decoded, in canonical order. An action this crate wrote but cannot read
    /// back (an invalid one built in code, e.g. `conjunction` with clause 0) is given as
    /// [`Action::Raw`] with its bytes.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            views: self.views(),
            long: self.long().unwrap_or_default().iter(),
        }
    }

    /// [`Instructions::iter`] collected.
    pub fn to_vec(&self) -> Vec<Instruction> {
        self.iter().collect()
    }

    /// Number of instructions.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Wire(b) => crate::grammar::count_items(b.get()),
            Repr::Long(list) => list.len(),
        }
    }

    /// Whether there is no instruction.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Add an instruction (the list is written again in canonical order).
    pub fn push(&mut self, i: Instruction) {
        let mut v = self.to_vec();
        v.push(i);
        *self = Instructions::from_list(&v);
    }

    /// Keep only the instructions `keep` accepts.
    pub fn retain(&mut self, keep: impl FnMut(&Instruction) -> bool) {
        let mut v = self.to_vec();
        v.retain(keep);
        *self = Instructions::from_list(&v);
    }

    /// Remove every instruction.
    pub fn clear(&mut self) {
        *self = Instructions::new();
    }

    /// Append the instructions' wire form to `buf` (what a FLOW_MOD carries after its match).
    #[inline]
    pub fn emit(&self, buf: &mut Vec<u8>) {
        match &self.repr {
            Repr::Wire(b) => buf.extend_from_slice(b.get()),
            Repr::Long(list) => list.iter().for_each(|i| i.emit(buf)),
        }
    }
}

/// Iterator over [`Instructions`], each decoded ([`Instructions::iter`]).
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    views: InstructionIter<'a>,
    long: std::slice::Iter<'a, Instruction>,
}

impl Iterator for Iter<'_> {
    type Item = Instruction;

    fn next(&mut self) -> Option<Instruction> {
        match self.views.next() {
            Some(v) => Some(owned(&v)),
            None => self.long.next().cloned(),
        }
    }
}

impl<'a> IntoIterator for &'a Instructions {
    type Item = Instruction;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The owned instruction of a view over bytes this crate wrote: an action that does not read
/// back is kept raw.
fn owned(v: &InstructionView<'_>) -> Instruction {
    if let Ok(i) = v.to_instruction() {
        return i;
    }
    let (InstructionView::ApplyActions(a) | InstructionView::WriteActions(a)) = v else {
        unreachable!("only action lists fail to decode")
    };
    let mut list = Vec::with_capacity(a.len());
    let mut b = a.bytes();
    while let Some(h) = b.first_chunk::<4>() {
        let len = (u16::from_be_bytes([h[2], h[3]]) as usize).clamp(4, b.len());
        let (one, rest) = b.split_at(len);
        let mut r = crate::wire::Reader::new(one, 0);
        list.push(match crate::action::next_action(&mut r) {
            Some(Ok(action)) => action,
            _ => Action::Raw {
                kind: u16::from_be_bytes([h[0], h[1]]),
                body: one[4..].to_vec(),
            },
        });
        b = rest;
    }
    match v {
        InstructionView::WriteActions(_) => Instruction::WriteActions(list),
        _ => Instruction::ApplyActions(list),
    }
}

impl Default for Instructions {
    fn default() -> Self {
        Instructions::new()
    }
}

super::inline::from_items!(Instructions, Instruction, Instructions::from_list);

impl PartialEq for Instructions {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Instructions {}

impl std::hash::Hash for Instructions {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes().hash(state);
    }
}

impl PartialOrd for Instructions {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Instructions {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bytes().cmp(&other.bytes())
    }
}

/// `[instruction, ..]`, decoded.
impl fmt::Debug for Instructions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
