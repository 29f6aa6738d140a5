//! Codec throughput on 100k Antrea-style policy flow_mods (conjunction, ct with exec loads,
//! reg loads, masks), side by side with the `rovs-openflow` crate on the same batch, plus
//! allocations per decoded match field (a counting global allocator).
//!
//! `cargo bench -p openflow --bench codec` (or `make bench-openflow`); figures in
//! `docs/benchmarks.md`. `cargo bench -p openflow --bench codec -- 10000` for a smaller batch.
#![allow(unsafe_code)] // the counting allocator

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use openflow::view::{InstructionView, ItemSink};
use openflow::{FlowMod, FlowModView, Message};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One policy rule of the model: the four flows Antrea installs for it.
struct Rule {
    id: u32,
    src: Ipv4Addr,
    dst_port: u16,
    reg: u32,
}

fn model(n_flows: usize) -> Vec<Rule> {
    (0..n_flows.div_ceil(4) as u32)
        .map(|i| Rule {
            id: 1000 + i,
            src: Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8),
            dst_port: 1024 + (i % 60000) as u16,
            reg: i & 0xffff,
        })
        .collect()
}

fn ours(rules: &[Rule], n: usize) -> Vec<FlowMod> {
    let mut v = Vec::with_capacity(n);
    for r in rules {
        let p = 100 + (r.id % 1000);
        for text in [
            format!("table=3, priority={p},ip,nw_src={} actions=conjunction({},1/2)", r.src, r.id),
            format!("table=3, priority={p},tcp,reg1={:#x},tp_dst={} actions=conjunction({},2/2)", r.reg, r.dst_port, r.id),
            format!("table=3, priority={p},conj_id={},ip actions=load:{:#x}->NXM_NX_REG3[],ct(commit,table=4,zone=65520,exec(load:0x1->NXM_NX_CT_MARK[1],load:{:#x}->NXM_NX_CT_LABEL[0..31]))", r.id, r.id, r.id),
            format!("table=2, priority={p},ct_state=-new+trk,ct_mark=0x2/0x2,ip,nw_dst={}/24 actions=load:0x2->NXM_NX_REG0[0..3],resubmit(,3)", r.src),
        ] {
            v.push(text.parse().unwrap_or_else(|e| panic!("{text}: {e}")));
        }
    }
    v.truncate(n);
    v
}

/// The same rules through rovs-openflow's builder: it has no reg match, conjunction or ct exec,
/// so each flow is the closest it can express (same match shapes with ct_mark for the reg,
/// goto/resubmit for conjunction, ct commit + reg load).
fn theirs(rules: &[Rule], n: usize) -> Vec<rovs_openflow::Flow> {
    use rovs_openflow::{ActionList, Flow, Match};
    let mut v = Vec::with_capacity(n);
    for r in rules {
        let p = 100 + (r.id % 1000) as u16;
        let f1 = Flow::add()
            .table(3)
            .priority(p)
            .match_fields(Match::new().eth_type(0x0800).ipv4_src(r.src, 32))
            .actions(ActionList::new().resubmit_table(5));
        let f2 = Flow::add()
            .table(3)
            .priority(p)
            .match_fields(
                Match::new()
                    .eth_type(0x0800)
                    .ip_proto(6)
                    .ct_mark(r.reg)
                    .tcp_dst(r.dst_port),
            )
            .actions(ActionList::new().resubmit_table(5));
        let f3 = Flow::add()
            .table(3)
            .priority(p)
            .match_fields(
                Match::new()
                    .eth_type(0x0800)
                    .ct_mark_masked(r.id, 0xffff_ffff),
            )
            .actions(
                ActionList::new()
                    .load_field(0x0001_0604, 0, 32, r.id as u64)
                    .ct(1, 65520, Some(4)),
            );
        let f4 = Flow::add()
            .table(2)
            .priority(p)
            .match_fields(
                Match::new()
                    .eth_type(0x0800)
                    .ct_state_masked(0x20, 0x21)
                    .ct_mark_masked(2, 2)
                    .ipv4_dst(r.src, 24),
            )
            .actions(
                ActionList::new()
                    .load_field(0x0001_0004, 0, 4, 2)
                    .resubmit_table(3),
            );
        v.extend([f1, f2, f3, f4]);
    }
    v.truncate(n);
    v
}

fn report(what: &str, n: usize, bytes: usize, secs: f64) -> f64 {
    let rate = n as f64 / secs;
    println!(
        "{what:<34} {:>10.0} msg/s {:>8.1} MB/s  ({n} msgs, {:.1} MB, {:.3} s)",
        rate,
        bytes as f64 / secs / 1e6,
        bytes as f64 / 1e6,
        secs
    );
    rate
}

fn best<T>(mut f: impl FnMut() -> T) -> (T, f64) {
    let mut best = f64::MAX;
    let mut out = None;
    for _ in 0..5 {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    (out.unwrap(), best)
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let rules = model(n);
    let our_flows = ours(&rules, n);
    let their_flows = theirs(&rules, n);
    if let Some(phase) = std::env::args().find_map(|a| a.strip_prefix("profile=").map(String::from))
    {
        return profile(&phase, &our_flows, &their_flows);
    }
    println!("batch: {n} flow_mods, 4 Antrea shapes (best of 5 runs each)");
    // The model's sizes: what a caller keeping many decoded flow_mods pays per flow_mod, before
    // the heap lists of its match, instructions and actions.
    println!(
        "size_of: FlowMod {} B, MatchField {} B, Instruction {} B, Action {} B",
        std::mem::size_of::<FlowMod>(),
        std::mem::size_of::<openflow::MatchField>(),
        std::mem::size_of::<openflow::Instruction>(),
        std::mem::size_of::<openflow::Action>()
    );

    // Encode: whole OFPT_FLOW_MOD messages. Ours into one reserved buffer; rovs through its
    // only whole-message path (`Flow::to_message` then `Message::encode`, one buffer each).
    let (mut buf, mut ends) = (Vec::with_capacity(n * 200), Vec::with_capacity(n));
    let (_, t) = best(|| {
        buf.clear();
        ends.clear();
        for (i, f) in our_flows.iter().enumerate() {
            f.emit_message(i as u32, &mut buf);
            ends.push(buf.len());
        }
    });
    let r_ours_enc = report("encode  openflow (kakine)", n, buf.len(), t);
    let ((rbytes, rlen), t) = best(|| {
        let mut total = 0usize;
        let mut out = Vec::with_capacity(n);
        for (i, f) in their_flows.iter().enumerate() {
            let m = f
                .to_message(rovs_openflow::Version::Of13, i as u32)
                .encode();
            total += m.len();
            out.push(m);
        }
        (out, total)
    });
    black_box(&rbytes);
    let r_rovs_enc = report("encode  rovs-openflow 0.2.0", n, rlen, t);

    // Decode: our decoder on our bytes; rovs on the same bytes (its Match + InstructionList
    // decoders on each flow_mod body, as it has no FLOW_MOD decoder). Both consume and drop
    // each decoded value inside the timed loop.
    let frames: Vec<&[u8]> = ends
        .iter()
        .scan(0, |s, &e| {
            let f = &buf[*s..e];
            *s = e;
            Some(f)
        })
        .collect();
    let (_, t) = best(|| {
        for f in &frames {
            black_box(Message::decode(f).expect("decode"));
        }
    });
    let r_ours_dec = report("decode  kakine owned FlowMod", n, buf.len(), t);
    // The borrowed view: checked once (header, lengths, every OXM TLV with prerequisites and
    // masks, instructions, action framing), nothing decoded.
    let (_, t) = best(|| {
        for f in &frames {
            black_box(FlowModView::parse(f).expect("view"));
        }
    });
    let r_view = report("decode  kakine view, checked", n, buf.len(), t);
    // The view, then every match field and every action decoded (what rovs' decoders do).
    let (_, t) = best(|| {
        for f in &frames {
            black_box(walk_view(f));
        }
    });
    let r_view_walk = report("decode  kakine view + every item", n, buf.len(), t);
    // Every match field and action typed in one checked pass (`FlowModView::parse_items`).
    let (_, t) = best(|| {
        for f in &frames {
            black_box(walk_items(f));
        }
    });
    let r_items = report("decode  kakine every item, 1 pass", n, buf.len(), t);
    // The owned decode, then every match field and action through its typed iterators.
    let (_, t) = best(|| {
        for f in &frames {
            black_box(walk_owned(f));
        }
    });
    let r_owned_walk = report("decode  kakine owned + every item", n, buf.len(), t);
    let rovs_decode = |f: &[u8]| {
        let body = &f[8 + 40..];
        rovs_openflow::Match::decode(body).and_then(|(m, used)| {
            rovs_openflow::InstructionList::decode(&body[used..]).map(|i| (m, i))
        })
    };
    let ((ok, failed), t) = best(|| {
        let (mut ok, mut failed) = (0usize, 0usize);
        for f in &frames {
            match rovs_decode(f) {
                Ok(x) => {
                    black_box(x);
                    ok += 1
                }
                Err(_) => failed += 1,
            }
        }
        (ok, failed)
    });
    let r_rovs_dec = report("decode  rovs-openflow 0.2.0", n, buf.len(), t);
    println!("rovs decoded {ok} of {n} of our flow_mods ({failed} errors)");

    // Allocations on the decode path (not timed): whole flow_mods, and the same flow_mods with
    // their instructions cut off, so what remains is the match (per decoded match field).
    let fields: usize = frames
        .iter()
        .map(|f| match Message::decode(f).expect("decode") {
            (_, Message::FlowMod(m)) => m.r#match.len(),
            _ => 0,
        })
        .sum();
    let match_only: Vec<Vec<u8>> = frames.iter().map(|f| without_instructions(f)).collect();
    let allocs = |decode: &dyn Fn(&[u8])| {
        let before = ALLOCS.load(Ordering::Relaxed);
        for f in &frames {
            decode(f);
        }
        ALLOCS.load(Ordering::Relaxed) - before
    };
    let ours = allocs(&|f| drop(black_box(Message::decode(f).expect("decode"))));
    let theirs = allocs(&|f| drop(black_box(rovs_decode(f).expect("decode"))));
    let before = ALLOCS.load(Ordering::Relaxed);
    for f in &match_only {
        drop(black_box(Message::decode(f).expect("decode match-only")));
    }
    let in_matches = ALLOCS.load(Ordering::Relaxed) - before;
    println!(
        "decode allocations: kakine {:.2} per flow_mod, rovs {:.2} per flow_mod; \
         matches alone: {in_matches} for {fields} fields = {:.2} per match field",
        ours as f64 / n as f64,
        theirs as f64 / n as f64,
        in_matches as f64 / fields as f64
    );
    let view_allocs = allocs(&|f| {
        black_box(FlowModView::parse(f).expect("view"));
    });
    let walk_allocs = allocs(&|f| {
        black_box(walk_view(f));
    });
    let owned_walk_allocs = allocs(&|f| {
        black_box(walk_owned(f));
    });
    let items_allocs = allocs(&|f| {
        black_box(walk_items(f));
    });
    println!(
        "view allocations: {:.2} per flow_mod checked, {:.2} per flow_mod with every field and \
         action decoded (ct exec lists); owned + every item {:.2}; every item in one pass {:.2}",
        view_allocs as f64 / n as f64,
        walk_allocs as f64 / n as f64,
        owned_walk_allocs as f64 / n as f64,
        items_allocs as f64 / n as f64
    );
    println!(
        "ratio kakine/rovs: encode {:.2}x; decode owned {:.2}x, owned + every item {:.2}x, \
         view checked {:.2}x, view + every item {:.2}x, every item in one pass {:.2}x",
        r_ours_enc / r_rovs_enc,
        r_ours_dec / r_rovs_dec,
        r_owned_walk / r_rovs_dec,
        r_view / r_rovs_dec,
        r_view_walk / r_rovs_dec,
        r_items / r_rovs_dec
    );
}

/// View a flow_mod and decode every match field and every action, dropping each: the work
/// rovs' `Match::decode` + `InstructionList::decode` do, on a checked message. Returns a
/// checksum so nothing is optimised away.
#[inline(never)]
fn walk_view(f: &[u8]) -> usize {
    let (_, v) = FlowModView::parse(f).expect("view");
    let mut n = 0;
    for field in v.r#match.fields() {
        black_box(&field);
        n += 1;
    }
    for i in v.instructions {
        if let InstructionView::ApplyActions(a) | InstructionView::WriteActions(a) = i {
            for action in a {
                black_box(action.expect("action"));
                n += 1;
            }
        }
    }
    n
}

/// Every match field and every action of a flow_mod, typed, in the one pass of
/// [`FlowModView::parse_items`] (checks included): what rovs' decoders hand back. Returns a
/// checksum so nothing is optimised away.
#[inline(never)]
fn walk_items(f: &[u8]) -> usize {
    struct Count(usize);
    impl ItemSink<'_> for Count {
        fn field(&mut self, field: openflow::MatchField) {
            black_box(&field);
            self.0 += 1;
        }
        fn action(&mut self, action: openflow::Action, in_ct: bool) {
            black_box((&action, in_ct));
            self.0 += 1;
        }
    }
    let mut n = Count(0);
    FlowModView::parse_items(f, &mut n).expect("items");
    n.0
}

/// Decode a flow_mod owned ([`Message::decode`]), then decode every match field and every
/// action of it through its typed iterators, dropping each: the owned decoder plus the work of
/// rovs' decoders. Returns a checksum so nothing is optimised away.
#[inline(never)]
fn walk_owned(f: &[u8]) -> usize {
    let Ok((_, Message::FlowMod(m))) = Message::decode(f) else {
        panic!("decode")
    };
    let mut n = 0;
    for field in m.r#match.fields() {
        black_box(&field);
        n += 1;
    }
    for i in m.instructions.views() {
        if let InstructionView::ApplyActions(a) | InstructionView::WriteActions(a) = i {
            for action in a {
                black_box(action.expect("action"));
                n += 1;
            }
        }
    }
    n
}

/// The flow_mod in `frame` with its instructions cut off (header length fixed up).
fn without_instructions(frame: &[u8]) -> Vec<u8> {
    let match_len = u16::from_be_bytes([frame[50], frame[51]]) as usize;
    let end = 48 + match_len.div_ceil(8) * 8;
    let mut v = frame[..end].to_vec();
    v[2..4].copy_from_slice(&(end as u16).to_be_bytes());
    v
}

/// `profile=encode|decode|view|walk|owned-walk|items|validate|rovs-encode|rovs-decode|none`: run one phase 50 times over the batch and print
/// nothing else, for `perf record` (see docs/benchmarks.md).
fn profile(phase: &str, flows: &[FlowMod], theirs: &[rovs_openflow::Flow]) {
    let mut buf = Vec::with_capacity(flows.len() * 200);
    let mut ends = Vec::with_capacity(flows.len());
    for (i, f) in flows.iter().enumerate() {
        f.emit_message(i as u32, &mut buf);
        ends.push(buf.len());
    }
    let mut start = 0;
    let frames: Vec<&[u8]> = ends
        .iter()
        .map(|&e| {
            let f = &buf[start..e];
            start = e;
            f
        })
        .collect();
    let mut out = Vec::with_capacity(buf.len());
    for _ in 0..50 {
        match phase {
            "encode" => {
                out.clear();
                for (i, f) in flows.iter().enumerate() {
                    f.emit_message(i as u32, &mut out);
                }
                black_box(&out);
            }
            "decode" => frames
                .iter()
                .for_each(|f| drop(black_box(Message::decode(f)))),
            "view" => frames
                .iter()
                .for_each(|f| drop(black_box(FlowModView::parse(f)))),
            "none" => {}
            "validate" => flows.iter().for_each(|f| {
                black_box(f.validate()).expect("valid");
            }),
            "rovs-encode" => {
                let mut total = 0;
                for (i, f) in theirs.iter().enumerate() {
                    let m = f
                        .to_message(rovs_openflow::Version::Of13, i as u32)
                        .encode();
                    total += m.len();
                    black_box(m);
                }
                black_box(total);
            }
            "rovs-decode" => frames.iter().for_each(|f| {
                let body = &f[8 + 40..];
                let m = rovs_openflow::Match::decode(body).expect("rovs match");
                black_box(rovs_openflow::InstructionList::decode(&body[m.1..]).map(|i| (m, i)))
                    .expect("rovs instructions");
            }),
            "walk" => frames.iter().for_each(|f| {
                black_box(walk_view(f));
            }),
            "owned-walk" => frames.iter().for_each(|f| {
                black_box(walk_owned(f));
            }),
            "items" => frames.iter().for_each(|f| {
                black_box(walk_items(f));
            }),
            other => panic!("profile={other}: see the docs of `profile`"),
        }
    }
}
