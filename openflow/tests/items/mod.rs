//! What [`FlowModView::parse_items`] hands on, and the same computed in two passes (the view,
//! then its iterators), for the tests that compare them with each other and with
//! [`openflow::Message::decode`].
#![allow(dead_code)] // each test binary uses part of it

use openflow::view::{InstructionView, ItemSink};
use openflow::{Action, Error, FlowModView, MatchField};

/// Every item of a flow_mod in wire order: the match fields, the number of instructions, and
/// the actions with whether each is in a `ct`'s exec list (the `ct` itself with an empty one).
#[derive(Debug, Default, PartialEq)]
pub struct Items {
    pub fields: Vec<MatchField>,
    pub instructions: usize,
    pub actions: Vec<(Action, bool)>,
}

impl ItemSink<'_> for Items {
    fn field(&mut self, field: MatchField) {
        self.fields.push(field);
    }
    fn instruction(&mut self, _: InstructionView<'_>) {
        self.instructions += 1;
    }
    fn action(&mut self, action: Action, in_ct: bool) {
        self.actions.push((action, in_ct));
    }
}

/// [`FlowModView::parse_items`]: the xid, the view and the items.
pub fn one_pass(b: &[u8]) -> Result<(u32, FlowModView<'_>, Items), Error> {
    let mut items = Items::default();
    let (xid, v) = FlowModView::parse_items(b, &mut items)?;
    Ok((xid, v, items))
}

/// The same in two passes: [`FlowModView::parse`], then [`openflow::MatchView::fields`] and
/// each action list's iterator, a `ct`'s exec moved out after it; the first action error.
pub fn two_passes(b: &[u8]) -> Result<(u32, FlowModView<'_>, Items), Error> {
    let (xid, v) = FlowModView::parse(b)?;
    let mut items = Items {
        fields: v.r#match.fields().collect(),
        ..Items::default()
    };
    for i in v.instructions {
        items.instructions += 1;
        let (InstructionView::ApplyActions(list) | InstructionView::WriteActions(list)) = i else {
            continue;
        };
        for a in list {
            let mut a = a?;
            let exec = match &mut a {
                Action::Ct { exec, .. } | Action::CtExt { exec, .. } => std::mem::take(exec),
                _ => Vec::new(),
            };
            items.actions.push((a, false));
            items.actions.extend(exec.into_iter().map(|x| (x, true)));
        }
    }
    Ok((xid, v, items))
}
