//! Decoding a FLOW_MOD allocates nothing while its match's TLVs fit inline ([`Match::INLINE`]
//! bytes) and its instructions too ([`openflow::flow::Instructions::INLINE`]), and once for
//! each beyond, however many fields and actions it has: a counting global allocator around
//! `Message::decode` of FLOW_MODs whose matches grow from 0 to 23 fields. Counts, not
//! timings, so a regression fails deterministically.
#![allow(unsafe_code)] // the counting allocator

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::Ipv4Addr;

use openflow::flow::{Action, Field, FlowMod, Instruction, Match, MatchField};
use openflow::Message;
use openflow::RawBytes;

struct Counting;

thread_local! {
    /// Allocations (alloc + realloc) made by this thread; per thread so parallel tests do not
    /// count each other.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made while decoding `bytes` (the decoded value is dropped after counting).
fn allocations_decoding(bytes: &[u8]) -> u64 {
    let before = ALLOCS.with(Cell::get);
    let decoded = Message::decode(bytes).expect("decode");
    let n = ALLOCS.with(Cell::get) - before;
    drop(decoded);
    n
}

/// An IPv4/TCP match of the first `n` of: eth_type, ip_proto, a masked reg, tp_dst, nw_src,
/// ct_mark, nw_dst/16, conj_id, then the other fifteen registers (prerequisites always come
/// before what needs them; the encoder writes the canonical order).
fn match_of(n: usize) -> Match {
    let mut all = vec![
        MatchField::EthType(0x0800),
        MatchField::IpProto(6),
        MatchField::Reg(4, 0x44, Some(0xff)),
        MatchField::TcpDst(443, None),
        MatchField::Ipv4Src(Ipv4Addr::new(10, 0, 0, 1), None),
        MatchField::CtMark(2, Some(2)),
        MatchField::Ipv4Dst(
            Ipv4Addr::new(10, 1, 0, 0),
            Some(Ipv4Addr::new(255, 255, 0, 0)),
        ),
        MatchField::ConjId(7),
    ];
    all.extend(
        (5..16)
            .chain(0..4)
            .map(|r| MatchField::Reg(r, r as u32, None)),
    );
    all.truncate(n);
    Match::from(all)
}

fn flow_mod_bytes(m: Match, instructions: Vec<Instruction>) -> (usize, Vec<u8>) {
    let fm = FlowMod::add(3, 100, m, instructions);
    let mut buf = Vec::new();
    fm.emit_message(1, &mut buf);
    let fields = match Message::decode(&buf).expect("decode") {
        (_, Message::FlowMod(d)) => d.r#match.len(),
        other => panic!("decoded {other:?}"),
    };
    (fields, buf)
}

/// Whether the match of the FLOW_MOD message `bytes` keeps its TLVs inline: the `ofp_match`
/// length (at 50, after the header and the 40 fixed bytes) less its 4-byte header.
fn inline(bytes: &[u8]) -> bool {
    u16::from_be_bytes([bytes[50], bytes[51]]) as usize - 4 <= Match::INLINE
}

#[test]
fn decoding_a_match_allocates_nothing_inline_and_once_beyond() {
    let mut seen = Vec::new();
    for n in 0..=23 {
        let (fields, bytes) = flow_mod_bytes(match_of(n), vec![]);
        seen.push((fields, inline(&bytes), allocations_decoding(&bytes)));
    }
    // No instructions: the only allocation is the heap copy of a match too long to be inline.
    let expected: Vec<(usize, bool, u64)> = seen
        .iter()
        .map(|&(f, inline, _)| (f, inline, u64::from(!inline)))
        .collect();
    assert_eq!(seen, expected);
    // Both cases are covered: 8 common fields inline, 23 fields on the heap.
    assert!(seen.iter().any(|&(f, i, _)| f == 8 && i), "{seen:?}");
    assert!(seen.iter().any(|&(f, i, _)| f == 23 && !i), "{seen:?}");
}

#[test]
fn flow_mod_allocations_do_not_grow_with_the_match() {
    let actions = vec![
        Action::Load {
            field: Field::Reg(3),
            ofs: 0,
            n_bits: 4,
            value: 2,
        },
        Action::Conjunction {
            id: 9,
            clause: 1,
            n_clauses: 2,
        },
        Action::Resubmit { table: 4 },
    ];
    let counts: Vec<(bool, u64)> = (1..=20)
        .map(|n| {
            let insts = vec![Instruction::ApplyActions(actions.clone())];
            let bytes = flow_mod_bytes(match_of(n), insts).1;
            (inline(&bytes), allocations_decoding(&bytes))
        })
        .collect();
    // The instructions (64 bytes) are inline: the match's bytes once they are not inline.
    let expected: Vec<(bool, u64)> = counts
        .iter()
        .map(|&(inline, _)| (inline, u64::from(!inline)))
        .collect();
    assert_eq!(counts, expected);
}

/// Two plain actions: conjunction(9,1/2), resubmit(,4).
fn conjunction_and_resubmit() -> Vec<Action> {
    vec![
        Action::Conjunction {
            id: 9,
            clause: 1,
            n_clauses: 2,
        },
        Action::Resubmit { table: 4 },
    ]
}

#[test]
fn a_view_allocates_nothing_to_check_and_read_its_fields_and_plain_actions() {
    let actions = conjunction_and_resubmit();
    for n in 0..=23 {
        let insts = vec![Instruction::ApplyActions(actions.clone())];
        let (fields, bytes) = flow_mod_bytes(match_of(n), insts);
        let before = ALLOCS.with(Cell::get);
        let (_, view) = openflow::FlowModView::parse(&bytes).expect("view");
        let read = view.r#match.fields().count();
        let decoded: usize = view
            .instructions
            .iter()
            .map(|i| match i {
                openflow::view::InstructionView::ApplyActions(a) => {
                    a.iter().filter(|a| a.is_ok()).count()
                }
                _ => 0,
            })
            .sum();
        assert_eq!(ALLOCS.with(Cell::get) - before, 0, "{n} fields");
        assert_eq!((read, decoded), (fields, 2));
    }
}

#[test]
fn a_view_checks_unknown_fields_and_instructions_without_allocating() {
    let raw = |field: u8| MatchField::Raw {
        class: 0x7fff,
        field,
        experimenter: None,
        value: RawBytes::new(&[field; 3]).unwrap(),
        mask: Some(RawBytes::new(&[0xff; 3]).unwrap()),
    };
    let mut v = match_of(6).to_vec();
    v.insert(0, raw(1));
    v.insert(3, raw(2));
    v.push(raw(3));
    let m = Match::from(v);
    let insts = vec![
        Instruction::GotoTable(4),
        Instruction::Experimenter {
            experimenter: 0x2320,
            data: vec![7; 16],
        },
        Instruction::Unknown {
            kind: 9,
            body: vec![0; 4],
        },
    ];
    let (_, bytes) = flow_mod_bytes(m, insts);
    let before = ALLOCS.with(Cell::get);
    let (_, view) = openflow::FlowModView::parse(&bytes).expect("view");
    let empty = view.r#match.is_empty();
    let raw_instructions = view
        .instructions
        .iter()
        .filter(|i| {
            matches!(
                i,
                openflow::view::InstructionView::Experimenter { .. }
                    | openflow::view::InstructionView::Unknown { .. }
            )
        })
        .count();
    assert_eq!(ALLOCS.with(Cell::get) - before, 0);
    assert_eq!((empty, raw_instructions), (false, 2));
}

/// The goal: a FLOW_MOD whose match has 8 common fields and whose apply_actions has 8
/// actions decodes without allocating, and is its own size, with no heap part.
#[test]
fn eight_fields_and_eight_actions_decode_without_allocating() {
    let m = Match::from(vec![
        MatchField::InPort(3),
        MatchField::EthType(0x0800),
        MatchField::IpProto(6),
        MatchField::Ipv4Src(
            Ipv4Addr::new(10, 1, 0, 0),
            Some(Ipv4Addr::new(255, 255, 0, 0)),
        ),
        MatchField::Ipv4Dst(
            Ipv4Addr::new(10, 2, 3, 0),
            Some(Ipv4Addr::new(255, 255, 255, 0)),
        ),
        MatchField::TcpDst(443, None),
        MatchField::Reg(4, 0x44, Some(0xff)),
        MatchField::CtState(0x22, 0x23),
    ]);
    let mut actions = conjunction_and_resubmit();
    actions.extend([
        Action::Output {
            port: 1,
            max_len: 0,
        },
        Action::Output {
            port: 2,
            max_len: 0,
        },
    ]);
    actions.extend(four_plain_actions());
    let apply = vec![Instruction::ApplyActions(actions)];
    let (fields, bytes) = flow_mod_bytes(m, apply.clone());
    assert_eq!(fields, 8);
    assert_eq!(allocations_decoding(&bytes), 0);
    let Ok((_, Message::FlowMod(f))) = Message::decode(&bytes) else {
        panic!("decode")
    };
    assert_eq!(f.instructions.to_vec(), apply);
}

/// [`FlowModView::parse_items`] hands on eight fields and eight actions, one of them a `ct`
/// with two loads in its exec list, without allocating; the two-pass view's iterator
/// allocates the `ct`'s exec list.
#[test]
fn every_item_in_one_pass_allocates_nothing_even_with_a_ct_exec_list() {
    use openflow::view::{InstructionView, ItemSink};
    use openflow::FlowModView;

    /// Counts and checks each item as it comes; keeps nothing.
    struct Tally(Vec<(bool, bool)>, usize);
    impl ItemSink<'_> for Tally {
        fn field(&mut self, _: MatchField) {
            self.1 += 1;
        }
        fn action(&mut self, a: Action, in_ct: bool) {
            let ct_with_empty_exec = matches!(&a, Action::Ct { exec, .. } if exec.is_empty());
            if self.0.len() < self.0.capacity() {
                self.0.push((ct_with_empty_exec, in_ct));
            }
        }
    }
    let m = match_of(8);
    let mut actions = conjunction_and_resubmit();
    actions.extend([
        Action::Ct {
            commit: true,
            zone: 65520,
            table: Some(4),
            exec: vec![
                Action::Load {
                    field: Field::CtMark,
                    ofs: 1,
                    n_bits: 1,
                    value: 1,
                },
                Action::Load {
                    field: Field::CtLabel,
                    ofs: 0,
                    n_bits: 32,
                    value: 0x1234,
                },
            ],
        },
        Action::Output {
            port: 1,
            max_len: 0,
        },
    ]);
    actions.extend(four_plain_actions());
    let n_actions = actions.len();
    let ct_at = actions
        .iter()
        .position(|a| matches!(a, Action::Ct { .. }))
        .expect("a ct");
    let (fields, bytes) = flow_mod_bytes(m, vec![Instruction::ApplyActions(actions)]);
    assert_eq!((fields, n_actions), (8, 8));
    let mut tally = Tally(Vec::with_capacity(16), 0);
    let before = ALLOCS.with(Cell::get);
    FlowModView::parse_items(&bytes, &mut tally).expect("items");
    assert_eq!(ALLOCS.with(Cell::get) - before, 0);
    assert_eq!(tally.1, 8);
    // The ct with an empty exec, then its two loads, in place.
    assert_eq!(tally.0.len(), n_actions + 2);
    assert_eq!(tally.0[ct_at], (true, false));
    assert_eq!(
        tally.0[ct_at + 1..ct_at + 3],
        [(false, true), (false, true)]
    );
    assert!(tally.0.iter().filter(|(_, in_ct)| *in_ct).count() == 2);
    // The two-pass view allocates the exec list when it decodes the ct.
    let (_, v) = FlowModView::parse(&bytes).expect("view");
    let before = ALLOCS.with(Cell::get);
    for i in v.instructions {
        if let InstructionView::ApplyActions(list) = i {
            for a in list {
                drop(a.expect("action"));
            }
        }
    }
    assert_eq!(ALLOCS.with(Cell::get) - before, 1);
}

/// ct_clear, two resubmits and an output: actions that own nothing.
fn four_plain_actions() -> [Action; 4] {
    [
        Action::CtClear,
        Action::Resubmit { table: 5 },
        Action::Output {
            port: 3,
            max_len: 0,
        },
        Action::Resubmit { table: 6 },
    ]
}
