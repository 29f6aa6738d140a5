//! One pass over a FLOW_MOD that checks it and hands on every item decoded: the match fields
//! as [`MatchField`]s and the actions as [`Action`]s, in wire order, with nothing allocated
//! for the common forms (a `ct`'s exec actions follow it instead of living in its `exec`).
//!
//! The same checks and errors as [`Message::decode`](crate::Message::decode) for a FLOW_MOD,
//! action bodies included; the items are what [`MatchView::fields`] and [`Actions::iter`]
//! give for the same bytes.

use super::{Actions, FlowModView, InstructionView, Instructions, MatchView};
use crate::action::each;
use crate::flow::{Action, MatchField};
use crate::flow_mod::Fixed;
use crate::instruction::next_instruction;
use crate::oxm::Item;
use crate::Error;

/// What [`FlowModView::parse_items`] hands each decoded item to, in wire order.
///
/// ```
/// use openflow::view::ItemSink;
/// use openflow::{Action, FlowMod, FlowModView, MatchField};
///
/// #[derive(Default)]
/// struct Resubmits {
///     tables: Vec<u8>,
///     fields: usize,
/// }
///
/// impl ItemSink<'_> for Resubmits {
///     fn field(&mut self, _: MatchField) {
///         self.fields += 1;
///     }
///     fn action(&mut self, a: Action, _in_ct: bool) {
///         if let Action::Resubmit { table } = a {
///             self.tables.push(table);
///         }
///     }
/// }
///
/// let flow: FlowMod = "table=0,ip actions=resubmit(,5)".parse()?;
/// let mut bytes = Vec::new();
/// flow.emit_message(1, &mut bytes);
/// let mut r = Resubmits::default();
/// let (_xid, view) = FlowModView::parse_items(&bytes, &mut r)?;
/// assert_eq!((r.fields, r.tables.as_slice(), view.table_id), (1, &[5][..], 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait ItemSink<'a> {
    /// A match field, normalised as [`MatchView::fields`] gives it (an all-zero masked field
    /// left out, an all-ones mask exact; a field this crate does not know as
    /// [`MatchField::Raw`]).
    fn field(&mut self, field: MatchField);

    /// An instruction, before the actions of its list. Does nothing unless overridden.
    fn instruction(&mut self, instruction: InstructionView<'a>) {
        let _ = instruction;
    }

    /// An action of an apply or write list. `in_ct` is true for the exec actions of a `ct`,
    /// which follow it; the `ct` itself ([`Action::Ct`], [`Action::CtExt`]) comes with an
    /// empty `exec`. Other nested lists (`clone`) stay inside their action.
    fn action(&mut self, action: Action, in_ct: bool);
}

impl<'a> FlowModView<'a> {
    /// Check one whole OFPT_FLOW_MOD message (header included), decoding every match field
    /// and every action into `sink` as it is read; returns the xid and the view.
    ///
    /// One pass where [`FlowModView::parse`] and then the iterators take two: the fields come
    /// from the match check itself, and each action body is checked as it is decoded.
    ///
    /// Errors: those of [`Message::decode`](crate::Message::decode) for a FLOW_MOD, action
    /// bodies included; [`Error::BadValue`] for another message type. On an error, the items
    /// already handed on belong to a refused message.
    pub fn parse_items(
        bytes: &'a [u8],
        sink: &mut impl ItemSink<'a>,
    ) -> Result<(u32, FlowModView<'a>), Error> {
        let (xid, mut r) = FlowModView::body(bytes)?;
        let f = Fixed::parse(&mut r)?;
        let r#match = MatchView::parse_at_with(&mut r, |item| {
            sink.field(match item {
                Item::Field(f) => f,
                Item::Raw(tlv) => tlv.to_raw_field(),
            })
        })?;
        let (ibytes, ioffset) = (r.peek_rest(), r.offset());
        while !r.is_empty() {
            let (b, at) = (r.peek_rest(), r.offset());
            // Apply and write actions straight from their bytes: the action framing is checked
            // as each action is decoded. Everything else through the instruction reader.
            if let Some(h) = b.first_chunk::<4>() {
                let kind = u16::from_be_bytes([h[0], h[1]]);
                let len = u16::from_be_bytes([h[2], h[3]]) as usize;
                if (kind == 3 || kind == 4) && len >= 8 && len.is_multiple_of(8) && len <= b.len() {
                    let list = &b[8..len];
                    let actions = Actions::new(list, at + 8);
                    r.advance(len);
                    sink.instruction(if kind == 3 {
                        InstructionView::WriteActions(actions)
                    } else {
                        InstructionView::ApplyActions(actions)
                    });
                    each(list, at + 8, &mut |a, in_ct| sink.action(a, in_ct))?;
                    continue;
                }
            }
            sink.instruction(next_instruction(&mut r)?);
        }
        let instructions = Instructions {
            bytes: ibytes,
            offset: ioffset,
        };
        Ok((xid, FlowModView::of(&f, r#match, instructions)))
    }
}
