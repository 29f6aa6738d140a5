//! Property tests: emit-then-decode is the identity (up to canonical form) for every message
//! the crate has, FLOW_MODs built from the model (unknown match fields and instructions
//! included) among them, and decode never panics on arbitrary bytes, on bodies that reach the
//! extension and multipart decoders, or on mutated encodings, and what it accepts there
//! round-trips.

use std::net::{Ipv4Addr, Ipv6Addr};

use openflow::field::FIELDS;
use openflow::flow::{Bundle, CtZone, Learn, LearnDst, LearnSpec, LearnSrc, Nat, NatAddr};
use openflow::RawBytes;
use openflow::{
    Action, Field, FlowMod, FlowModCommand, FlowModView, Instruction, MacAddr, Match,
    MatchField as M, Message,
};
use proptest::prelude::*;

mod items;
use proptest::test_runner::TestCaseError;

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}
fn ip() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

/// Fields with valid prerequisites: pick an L2 type, then optional L3/L4 fields that fit it.
fn a_match() -> impl Strategy<Value = Match> {
    let common = prop::collection::vec(
        prop_oneof![
            any::<u32>().prop_map(M::InPort),
            (mac(), proptest::option::of(mac())).prop_map(|(a, m)| M::EthSrc(a, m)),
            (mac(), proptest::option::of(mac())).prop_map(|(a, m)| M::EthDst(a, m)),
            (0u8..16, any::<u32>(), proptest::option::of(any::<u32>()))
                .prop_map(|(n, v, m)| M::Reg(n, v, m)),
            (any::<u32>(), 1u32..).prop_map(|(v, m)| M::CtState(v & 0xff, m & 0xff)),
            any::<u16>().prop_map(M::CtZone),
            (any::<u32>(), proptest::option::of(any::<u32>())).prop_map(|(v, m)| M::CtMark(v, m)),
            (any::<u128>(), proptest::option::of(any::<u128>()))
                .prop_map(|(v, m)| M::CtLabel(v, m)),
            any::<u32>().prop_map(M::ConjId),
            (any::<u64>(), proptest::option::of(any::<u64>())).prop_map(|(v, m)| M::Metadata(v, m)),
            (any::<u64>(), proptest::option::of(any::<u64>())).prop_map(|(v, m)| M::TunnelId(v, m)),
            (ip(), proptest::option::of(ip())).prop_map(|(a, m)| M::TunSrc(a, m)),
            (ip(), proptest::option::of(ip())).prop_map(|(a, m)| M::TunDst(a, m)),
            (any::<u32>(), proptest::option::of(any::<u32>())).prop_map(|(v, m)| M::PktMark(v, m)),
            (any::<u32>(), proptest::option::of(any::<u32>())).prop_map(|(v, m)| M::DpHash(v, m)),
            any::<u32>().prop_map(M::RecircId),
            (any::<u16>(), proptest::option::of(any::<u16>())).prop_map(|(v, m)| M::TunFlags(v, m)),
            any::<u32>().prop_map(M::InPhyPort),
            (
                0u8..64,
                0u8..=16,
                any::<u128>(),
                proptest::option::of(any::<u128>())
            )
                .prop_map(|(idx, len, v, m)| {
                    let all = if len == 0 {
                        0
                    } else {
                        u128::MAX >> (128 - 8 * len as u32)
                    };
                    M::TunMetadata {
                        idx,
                        len,
                        value: v & all,
                        mask: m.map(|m| m & all),
                    }
                }),
        ],
        0..5,
    );
    // The conntrack tuple, under a ct_state that implies a valid entry (+est+trk).
    let ct = proptest::option::of((
        ip(),
        proptest::option::of(ip()),
        any::<u8>(),
        any::<u16>(),
        proptest::option::of(any::<u16>()),
        any::<u128>().prop_map(Ipv6Addr::from),
    ))
    .prop_map(|t| match t {
        None => vec![],
        Some((a, m, proto, p, pm, a6)) => vec![
            M::CtState(0x22, 0x22),
            M::CtNwSrc(a, m),
            M::CtNwDst(a, None),
            M::CtIpv6Src(a6, None),
            M::CtIpv6Dst(a6, Some(a6)),
            M::CtNwProto(proto),
            M::CtTpSrc(p, pm),
            M::CtTpDst(p, None),
        ],
    });
    let vlan = prop_oneof![
        Just(vec![]),
        (0u16..0x1000).prop_map(|v| vec![M::VlanVid(0x1000 | v, None)]),
        (0u16..0x1000, 0u8..8).prop_map(|(v, p)| vec![M::VlanVid(0x1000 | v, None), M::VlanPcp(p)]),
        Just(vec![M::VlanVid(0x1000, Some(0x1000)), M::VlanPcp(3)]),
    ];
    let l3 = prop_oneof![
        Just(vec![]),
        (
            ip(),
            proptest::option::of(ip()),
            0usize..6,
            any::<u16>(),
            proptest::option::of(any::<u16>())
        )
            .prop_map(|(a, m, l4, p, pm)| {
                let mut v = vec![M::EthType(0x0800), M::Ipv4Src(a, m), M::Ipv4Dst(a, None)];
                match l4 {
                    0 => v.extend([
                        M::IpProto(6),
                        M::TcpSrc(p, pm),
                        M::TcpDst(p, None),
                        M::TcpFlags(p, pm.map(|m| m & 0xfff)),
                        M::IpFrag(p as u8 & 3, pm.map(|m| m as u8)),
                    ]),
                    1 => v.extend([M::IpProto(17), M::UdpSrc(p, None), M::UdpDst(p, pm)]),
                    2 => v.extend([M::IpProto(132), M::SctpSrc(p, pm), M::SctpDst(p, pm)]),
                    3 => v.extend([
                        M::IpProto(1),
                        M::IcmpType(p as u8),
                        M::IcmpCode((p >> 8) as u8),
                    ]),
                    4 => v.push(M::IpProto(47)),
                    _ => {}
                }
                v
            }),
        (
            ip(),
            proptest::option::of(ip()),
            mac(),
            proptest::option::of(mac()),
            any::<u16>()
        )
            .prop_map(|(a, m, h, hm, op)| vec![
                M::EthType(0x0806),
                M::ArpOp(op),
                M::ArpSpa(a, m),
                M::ArpTpa(a, None),
                M::ArpSha(h, hm)
            ]),
        (any::<u32>(), proptest::option::of(any::<u32>())).prop_map(|(v, m)| vec![
            M::EthType(0x88e7),
            M::PbbIsid(v & 0xff_ffff, m.map(|m| m & 0xff_ffff))
        ]),
    ];
    let ip6 = || any::<u128>().prop_map(Ipv6Addr::from);
    let l3 = prop_oneof![
        4 => l3,
        1 => (
            ip6(),
            proptest::option::of(ip6()),
            any::<u32>(),
            0u8..64,
            any::<u8>(),
            mac(),
            any::<bool>()
        )
            .prop_map(|(a, m, label, dscp, ttl, h, na)| {
                vec![
                    M::EthType(0x86dd),
                    M::Ipv6Src(a, m),
                    M::Ipv6Dst(a, None),
                    M::Ipv6Flabel(label & 0xfffff, Some(label & 0xff)),
                    M::Ipv6Exthdr(label as u16 & 0x1ff, Some((label >> 16) as u16)),
                    M::IpDscp(dscp),
                    M::IpEcn(ttl & 3),
                    M::NwTtl(ttl),
                    M::IpProto(58),
                    M::Icmpv6Type(if na { 136 } else { 135 }),
                    M::Icmpv6Code(0),
                    M::NdTarget(a, m),
                    if na { M::NdTll(h, None) } else { M::NdSll(h, None) },
                ]
            }),
        1 => (0u32..0x100000, 0u8..8, 0u8..2).prop_map(|(l, tc, bos)| vec![
            M::EthType(0x8847),
            M::MplsLabel(l),
            M::MplsTc(tc),
            M::MplsBos(bos)
        ]),
    ];
    (common, l3, vlan, ct, raw_fields()).prop_map(|(mut c, l3, vlan, ct, raw)| {
        c.extend(vlan);
        // One of each field: duplicates are invalid on the wire.
        c.sort_by_key(|f| (std::mem::discriminant(f).clone_key(), reg_no(f)));
        c.dedup_by(|a, b| {
            std::mem::discriminant(a) == std::mem::discriminant(b) && reg_no(a) == reg_no(b)
        });
        if !ct.is_empty() {
            c.retain(|f| !matches!(f, M::CtState(..)));
            c.extend(ct);
        }
        // in_phy_port needs in_port.
        if c.iter().any(|f| matches!(f, M::InPhyPort(_)))
            && !c.iter().any(|f| matches!(f, M::InPort(_)))
        {
            c.push(M::InPort(1));
        }
        c.extend(l3);
        // Unknown fields anywhere: they keep their place after the field they follow.
        for (at, f) in raw {
            c.insert(at.index(c.len() + 1), f);
        }
        Match::from(c)
    })
}

/// Fields this crate does not know, each (class, field, experimenter) once, with where to put
/// them: unknown fields of the basic and NXM_1 classes, another class, and experimenter OXMs
/// (Nicira's, and ONF's other than tcp_flags), masked or not, up to 20 bytes wide.
fn raw_fields() -> impl Strategy<Value = Vec<(prop::sample::Index, M)>> {
    let id = prop_oneof![
        (40u8..128).prop_map(|f| (0x8000u16, f, None)),
        prop_oneof![109u8..119, 126u8..128].prop_map(|f| (0x0001, f, None)),
        (0u8..128).prop_map(|f| (0x7fff, f, None)),
        (0u8..128).prop_map(|f| (0xffff, f, Some(0x2320u32))),
        (0u8..128)
            .prop_filter("ONF tcp_flags is known", |f| *f != 42)
            .prop_map(|f| (0xffff, f, Some(0x4f4e_4600))),
    ];
    let bytes = prop::collection::vec(any::<u8>(), 0..=RawBytes::MAX);
    let one = (id, bytes, any::<bool>(), any::<prop::sample::Index>()).prop_map(
        |((class, field, experimenter), value, masked, at)| {
            // A masked TLV needs a nonzero length.
            let masked = masked && !value.is_empty();
            let mask: Option<Vec<u8>> =
                masked.then(|| value.iter().map(|b| b.rotate_left(3)).collect());
            let inline = |b: &[u8]| RawBytes::new(b).expect("at most RawBytes::MAX");
            let f = M::Raw {
                class,
                field,
                experimenter,
                value: inline(&value),
                mask: mask.as_deref().map(inline),
            };
            (at, f)
        },
    );
    prop::collection::vec(one, 0..3).prop_map(|mut v| {
        // Duplicates are invalid on the wire.
        v.sort_by_key(|(_, f)| raw_id(f));
        v.dedup_by(|(_, a), (_, b)| raw_id(a) == raw_id(b));
        v
    })
}

fn raw_id(f: &M) -> Option<(u16, u8, Option<u32>)> {
    match f {
        M::Raw {
            class,
            field,
            experimenter,
            ..
        } => Some((*class, *field, *experimenter)),
        _ => None,
    }
}

trait CloneKey {
    fn clone_key(self) -> String;
}
impl<T: std::fmt::Debug> CloneKey for std::mem::Discriminant<T> {
    fn clone_key(self) -> String {
        format!("{self:?}")
    }
}
fn reg_no(f: &M) -> Option<u8> {
    if let M::Reg(n, ..) = f {
        Some(*n)
    } else {
        None
    }
}

fn field() -> impl Strategy<Value = Field> {
    // Any field of the action table or a register family, at least 2 bits wide (so that
    // `partial` finds a range that is not the whole field).
    let table: Vec<Field> = FIELDS
        .iter()
        .filter_map(|r| Field::from_header(r.header))
        .filter(|f| f.bits() >= 2)
        .collect();
    prop_oneof![
        3 => (0u8..16).prop_map(Field::Reg),
        1 => Just(Field::CtMark),
        1 => Just(Field::CtLabel),
        1 => Just(Field::InPort),
        1 => Just(Field::EthSrc),
        1 => Just(Field::EthDst),
        1 => (0u8..8).prop_map(|n| Field::from_name(&format!("xreg{n}")).unwrap()),
        1 => (0u8..4).prop_map(|n| Field::from_name(&format!("xxreg{n}")).unwrap()),
        3 => proptest::sample::select(table),
    ]
}

/// Two ranges of the same width inside `a` and `b`: (src_ofs, dst_ofs, n_bits).
fn two_ranges(a: Field, b: Field) -> impl Strategy<Value = (Field, u16, Field, u16, u16)> {
    let n_max = a.bits().min(b.bits());
    (1..=n_max).prop_flat_map(move |n| {
        (0..=a.bits() - n, 0..=b.bits() - n).prop_map(move |(so, dof)| (a, so, b, dof, n))
    })
}

/// A bit range of at most 64 bits inside `f`, not the whole field.
fn partial(f: Field) -> impl Strategy<Value = (Field, u16, u16)> {
    let bits = f.bits();
    (0..bits, 1u16..=64).prop_filter_map("range", move |(ofs, n)| {
        (ofs + n <= bits && !(ofs == 0 && n == bits)).then_some((f, ofs, n))
    })
}

fn ct_load() -> impl Strategy<Value = Action> {
    prop_oneof![Just(Field::CtMark), Just(Field::CtLabel)]
        .prop_flat_map(partial)
        .prop_flat_map(|(field, ofs, n_bits)| {
            any::<u64>().prop_map(move |v| Action::Load {
                field,
                ofs,
                n_bits,
                value: v as u128 & ((1u128 << n_bits) - 1),
            })
        })
}

/// `nat` as OVS encodes it: bare, or src/dst with optional ranges (ports only after an address).
fn nat() -> impl Strategy<Value = Action> {
    let v4 = (1u32..).prop_map(Ipv4Addr::from);
    let v6 = (1u128..).prop_map(Ipv6Addr::from);
    let addr = prop_oneof![
        (v4.clone(), proptest::option::of(v4)).prop_map(|(a, b)| NatAddr::V4(a, b)),
        (v6.clone(), proptest::option::of(v6)).prop_map(|(a, b)| NatAddr::V6(a, b)),
    ];
    let ports = (1u16.., proptest::option::of(1u16..));
    prop_oneof![
        Just(Action::Nat(Nat::default())),
        (
            any::<bool>(),
            any::<[bool; 3]>(),
            proptest::option::of(addr),
            proptest::option::of(ports)
        )
            .prop_map(|(src, [persistent, hash, random], addr, ports)| {
                Action::Nat(Nat {
                    src: Some(src),
                    persistent,
                    hash,
                    random,
                    addr,
                    ports: ports.filter(|_| addr.is_some()),
                })
            }),
    ]
}

fn ct_exec() -> impl Strategy<Value = Vec<Action>> {
    prop::collection::vec(prop_oneof![3 => ct_load(), 1 => nat()], 0..3)
}

fn ct_zone() -> impl Strategy<Value = CtZone> {
    prop_oneof![
        any::<u16>().prop_map(CtZone::Imm),
        field()
            .prop_flat_map(partial)
            .prop_map(|(field, ofs, n_bits)| CtZone::Field { field, ofs, n_bits }),
    ]
}

/// A learn spec with source and destination ranges inside their fields.
fn learn_spec() -> impl Strategy<Value = LearnSpec> {
    (
        field(),
        field(),
        0u8..5,
        any::<u128>(),
        any::<u16>(),
        any::<u16>(),
    )
        .prop_map(|(sf, df, kind, v, a, b)| {
            let n_bits = 1 + a % sf.bits().min(df.bits());
            let so = b % (sf.bits() - n_bits + 1);
            let dofs = (a / 7) % (df.bits() - n_bits + 1);
            let imm = v & (u128::MAX >> (128 - n_bits));
            let (src, dst) = match kind {
                0 => (
                    LearnSrc::Field { field: sf, ofs: so },
                    LearnDst::Match {
                        field: df,
                        ofs: dofs,
                    },
                ),
                1 => (
                    LearnSrc::Imm(imm),
                    LearnDst::Match {
                        field: df,
                        ofs: dofs,
                    },
                ),
                2 => (
                    LearnSrc::Field { field: sf, ofs: so },
                    LearnDst::Load {
                        field: df,
                        ofs: dofs,
                    },
                ),
                3 => (
                    LearnSrc::Imm(imm),
                    LearnDst::Load {
                        field: df,
                        ofs: dofs,
                    },
                ),
                _ => (LearnSrc::Field { field: sf, ofs: so }, LearnDst::Output),
            };
            LearnSpec { n_bits, src, dst }
        })
}

fn learn() -> impl Strategy<Value = Action> {
    (
        any::<(u8, u16, u16, u16, u16, u16, u64)>(),
        0u16..4,
        prop::collection::vec(learn_spec(), 0..5),
        any::<u32>(),
        proptest::option::of(field().prop_flat_map(|f| (Just(f), 0..f.bits()))),
    )
        .prop_map(
            |(
                (table, idle, hard, fin_idle, fin_hard, priority, cookie),
                flags,
                specs,
                limit,
                result_dst,
            )| {
                Action::Learn(Box::new(Learn {
                    table,
                    idle_timeout: idle,
                    hard_timeout: hard,
                    fin_idle_timeout: fin_idle,
                    fin_hard_timeout: fin_hard,
                    priority,
                    cookie,
                    flags,
                    specs,
                    limit,
                    result_dst,
                }))
            },
        )
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (0u32..0xffff_ff00, any::<u16>())
            .prop_map(|(port, max_len)| Action::Output { port, max_len }),
        field()
            .prop_flat_map(partial)
            .prop_map(|(field, ofs, n_bits)| Action::OutputReg { field, ofs, n_bits }),
        field()
            .prop_flat_map(partial)
            .prop_flat_map(|(field, ofs, n_bits)| {
                any::<u64>().prop_map(move |v| Action::Load {
                    field,
                    ofs,
                    n_bits,
                    value: v as u128 & ((1u128 << n_bits) - 1),
                })
            }),
        (field(), any::<u128>()).prop_map(|(field, v)| Action::Load {
            field,
            ofs: 0,
            n_bits: field.bits(),
            value: v & (u128::MAX >> (128 - field.bits()))
        }),
        (0u8..16, any::<u32>()).prop_map(|(n, v)| Action::RegLoad {
            field: Field::Reg(n),
            ofs: 0,
            n_bits: 32,
            value: v as u128
        }),
        (0u8..16, 0u8..16, 1u16..=16).prop_map(|(a, b, n)| Action::Move {
            src: Field::Reg(a),
            src_ofs: 0,
            dst: Field::Reg(b),
            dst_ofs: 16,
            n_bits: n
        }),
        (any::<u32>(), 1u8..=64, 2u8..=64).prop_map(|(id, k, n)| Action::Conjunction {
            id,
            clause: k,
            n_clauses: n
        }),
        (
            any::<bool>(),
            any::<u16>(),
            proptest::option::of(0u8..0xff),
            ct_exec()
        )
            .prop_map(|(commit, zone, table, exec)| Action::Ct {
                commit,
                zone,
                table,
                exec
            }),
        (
            any::<bool>(),
            ct_zone(),
            proptest::option::of(0u8..0xff),
            prop_oneof![Just(0u16), Just(21u16), Just(69u16)],
            ct_exec()
        )
            .prop_map(|(commit, zone, table, alg, exec)| Action::CtExt {
                commit,
                force: true,
                zone,
                table,
                alg,
                exec
            }),
        (any::<bool>(), any::<bool>(), ct_zone(), 1u16..).prop_map(|(commit, force, zone, alg)| {
            Action::CtExt {
                commit,
                force,
                zone,
                table: None,
                alg,
                exec: vec![],
            }
        }),
        any::<u8>().prop_map(|table| Action::Resubmit { table }),
        (0usize..3)
            .prop_flat_map(|k| prop::collection::vec(any::<u8>(), 6 + 8 * k))
            .prop_map(Action::Note),
        (any::<u16>(), any::<u8>(), any::<u16>()).prop_map(|(max_len, reason, id)| {
            Action::Controller {
                max_len,
                reason,
                id,
            }
        }),
        (
            any::<u16>(),
            any::<u8>(),
            any::<u16>(),
            prop::collection::vec(any::<u8>(), 0..12),
            any::<bool>(),
            prop::option::of(0..u32::MAX),
        )
            .prop_filter(
                "OVS writes NXAST_CONTROLLER without userdata, pause or meter",
                |(_, _, _, userdata, pause, meter_id)| {
                    !userdata.is_empty() || *pause || meter_id.is_some()
                }
            )
            .prop_map(
                |(max_len, reason, id, userdata, pause, meter_id)| Action::Controller2 {
                    max_len,
                    reason,
                    id,
                    userdata,
                    pause,
                    meter_id,
                }
            ),
        any::<u32>().prop_map(Action::Group),
        Just(Action::DecTtl),
        any::<u8>().prop_map(Action::SetMplsTtl),
        Just(Action::DecMplsTtl),
        any::<u16>().prop_map(Action::PushVlan),
        Just(Action::PopVlan),
        any::<u16>().prop_map(Action::PushMpls),
        any::<u16>().prop_map(Action::PopMpls),
        any::<u32>().prop_map(Action::SetQueue),
        any::<u8>().prop_map(Action::SetNwTtl),
        (any::<u16>(), any::<u16>()).prop_map(|(idle, hard)| Action::FinTimeout { idle, hard }),
        (any::<u16>(), any::<u32>())
            .prop_map(|(port, max_len)| Action::OutputTrunc { port, max_len }),
        prop::collection::vec(any::<u16>(), 1..6).prop_map(Action::DecTtlIds),
        field()
            .prop_flat_map(|f| (Just(f), 0..f.bits(), 1..=f.bits()))
            .prop_filter_map("range", |(field, ofs, n)| (ofs + n <= field.bits())
                .then_some((field, ofs, n)))
            .prop_flat_map(|(field, ofs, n_bits)| prop_oneof![
                Just(Action::StackPush { field, ofs, n_bits }),
                Just(Action::StackPop { field, ofs, n_bits })
            ]),
        prop::collection::vec(
            prop_oneof![
                (0u32..0xffff_ff00).prop_map(|port| Action::Output { port, max_len: 0 }),
                any::<u8>().prop_map(|table| Action::Resubmit { table }),
                Just(Action::Clone(vec![Action::PopVlan])),
            ],
            0..4
        )
        .prop_map(Action::Clone),
        (any::<u16>(), field())
            .prop_flat_map(|(pkt_len, field)| (Just(pkt_len), Just(field), 0..field.bits()))
            .prop_map(|(pkt_len, field, ofs)| Action::CheckPktLarger {
                pkt_len,
                field,
                ofs
            }),
        (
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            proptest::option::of(0u16..0xffff)
        )
            .prop_map(
                |(probability, collector_set_id, obs_domain_id, obs_point_id, sampling_port)| {
                    Action::Sample {
                        probability,
                        collector_set_id,
                        obs_domain_id,
                        obs_point_id,
                        sampling_port,
                    }
                }
            ),
        (
            0u16..=6,
            any::<u16>(),
            0u16..=3,
            any::<u16>(),
            any::<u32>(),
            field().prop_flat_map(partial)
        )
            .prop_map(
                |(fields, basis, algorithm, max_link, arg, (field, ofs, n_bits))| {
                    Action::Multipath {
                        fields,
                        basis,
                        algorithm,
                        max_link,
                        arg,
                        field,
                        ofs,
                        n_bits,
                    }
                }
            ),
        learn(),
        (field(), field())
            .prop_flat_map(|(a, b)| two_ranges(a, b))
            .prop_flat_map(|(src, src_ofs, dst, dst_ofs, n_bits)| prop_oneof![
                Just(Action::Move {
                    src,
                    src_ofs,
                    dst,
                    dst_ofs,
                    n_bits
                }),
                Just(Action::CopyField {
                    src,
                    src_ofs,
                    dst,
                    dst_ofs,
                    n_bits
                }),
            ]),
        field()
            .prop_flat_map(partial)
            .prop_map(|(field, ofs, n_bits)| Action::OutputReg2 { field, ofs, n_bits }),
        (
            0u16..=6,
            any::<u16>(),
            0u16..=1,
            prop::collection::vec(any::<u16>(), 0..6),
            proptest::option::of(field().prop_flat_map(partial))
        )
            .prop_map(|(fields, basis, algorithm, members, dst)| {
                Action::Bundle(Box::new(Bundle {
                    fields,
                    basis,
                    algorithm,
                    members,
                    dst,
                }))
            }),
        (
            any::<(u16, u32, u32, u32)>(),
            proptest::option::of(0u16..0xffff),
            any::<bool>()
        )
            .prop_map(|((probability, c, d, o), sampling_port, egress)| {
                Action::SampleDir {
                    probability,
                    collector_set_id: c,
                    obs_domain_id: d,
                    obs_point_id: o,
                    sampling_port,
                    egress,
                }
            }),
        (0u8..64, 0usize..20, any::<bool>()).prop_flat_map(|(idx, n, masked)| {
            (
                prop::collection::vec(any::<u8>(), n),
                prop::collection::vec(any::<u8>(), n),
            )
                .prop_map(move |(value, mask)| {
                    // A masked write carries at least one byte (OVS never writes an empty one).
                    let masked = masked && n > 0;
                    let value = if masked {
                        value.iter().zip(&mask).map(|(v, m)| v & m).collect()
                    } else {
                        value
                    };
                    Action::SetTunMetadata {
                        idx,
                        value,
                        mask: masked.then_some(mask),
                    }
                })
        }),
        Just(Action::CtClear),
        Just(Action::Exit),
        Just(Action::PopQueue),
        (any::<u16>(), any::<u8>(), any::<bool>())
            .prop_filter("plain resubmit(,T) is Action::Resubmit", |(p, _, ct)| {
                *p != 0xfff8 || *ct
            })
            .prop_map(|(in_port, table, ct)| Action::ResubmitExt { in_port, table, ct }),
        // An unknown Nicira subtype stays raw.
        prop::collection::vec(any::<u8>(), 1..3).prop_map(|w| Action::Raw {
            kind: 0xffff,
            body: [
                &[0, 0, 0x23, 0x20, 0x7f, 0x7f][..],
                &vec![0; 6 + 8 * (w.len() - 1)]
            ]
            .concat()
        }),
    ]
}

fn instructions() -> impl Strategy<Value = Vec<Instruction>> {
    (
        proptest::option::of(any::<u32>().prop_map(Instruction::Meter)),
        proptest::option::of(
            prop::collection::vec(action(), 0..5).prop_map(Instruction::ApplyActions),
        ),
        proptest::option::of(Just(Instruction::ClearActions)),
        proptest::option::of(
            prop::collection::vec(action(), 0..3).prop_map(Instruction::WriteActions),
        ),
        proptest::option::of(
            (any::<u64>(), any::<u64>()).prop_map(|(v, m)| Instruction::WriteMetadata(v, m)),
        ),
        proptest::option::of(any::<u8>().prop_map(Instruction::GotoTable)),
        proptest::option::of((any::<u32>(), 0usize..4, any::<u8>()).prop_map(
            |(experimenter, n, b)| Instruction::Experimenter {
                experimenter,
                data: vec![b; 8 * n],
            },
        )),
        proptest::option::of(
            (7u16..0xffff, 0usize..3, any::<u8>()).prop_map(|(kind, n, b)| Instruction::Unknown {
                kind,
                body: vec![b; 4 + 8 * n],
            }),
        ),
    )
        .prop_map(|(a, b, c, d, e, f, g, h)| {
            let mut v: Vec<Instruction> = [a, b, c, d, e, f, g, h].into_iter().flatten().collect();
            v.reverse(); // emit must reorder
            v
        })
}

fn flow_mod() -> impl Strategy<Value = FlowMod> {
    (
        any::<u64>(),
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
        any::<u16>(),
        0u16..0x20,
        a_match(),
        instructions(),
    )
        .prop_map(|(cookie, table, prio, idle, hard, flags, m, i)| {
            let mut f = FlowMod::add(table, prio, m, i);
            f.cookie = cookie;
            f.idle_timeout = idle;
            f.hard_timeout = hard;
            f.flags = flags;
            f
        })
}

// Every property runs proptest's default 256 cases (the whole file takes a few seconds in a
// debug build); `PROPTEST_CASES=5000 cargo test -p openflow --test proptest` searches longer.
proptest! {
    #[test]
    fn emit_then_decode_is_identity(fm in any_flow_mod(), xid in any::<u32>()) {
        let bytes = Message::FlowMod(fm.clone()).encode(xid);
        let (x, decoded) = Message::decode(&bytes).unwrap_or_else(|e| panic!("{e}: {fm:?}"));
        prop_assert_eq!(x, xid);
        prop_assert_eq!(decoded, Message::FlowMod(fm.canonical()));
    }

    #[test]
    fn decode_never_panics_on_random_bytes(mut bytes in prop::collection::vec(any::<u8>(), 0..300), kind in prop_oneof![Just(14u8), Just(19u8), Just(4u8), Just(1u8), any::<u8>()]) {
        if bytes.len() >= 8 {
            // Make most inputs well-framed so the body parsers get exercised.
            bytes[0] = 4;
            bytes[1] = kind;
            let n = bytes.len() as u16;
            bytes[2..4].copy_from_slice(&n.to_be_bytes());
        }
        let _ = Message::decode(&bytes);
    }

    #[test]
    fn decode_never_panics_on_mutated_flow_mods(fm in any_flow_mod(), at in any::<prop::sample::Index>(), val in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut bytes = Message::FlowMod(fm).encode(1);
        let i = at.index(bytes.len());
        bytes[i] = val;
        let _ = Message::decode(&bytes);
        let c = cut.index(bytes.len());
        let _ = Message::decode(&bytes[..c]);
    }

    #[test]
    fn a_view_agrees_with_the_decoder_on_mutated_and_cut_flow_mods(fm in any_flow_mod(), at in any::<prop::sample::Index>(), val in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut bytes = Message::FlowMod(fm).encode(1);
        let i = at.index(bytes.len());
        bytes[i] = val;
        let c = cut.index(bytes.len());
        for b in [&bytes[..], &bytes[..c]] {
            if b.get(1) != Some(&14) {
                continue;
            }
            let view = FlowModView::parse(b).and_then(|(x, v)| Ok((x, Message::FlowMod(v.to_flow_mod()?))));
            prop_assert_eq!(format!("{view:?}"), format!("{:?}", Message::decode(b)));
        }
    }

    #[test]
    fn one_pass_agrees_with_the_decoder_and_the_two_pass_view(fm in any_flow_mod(), at in any::<prop::sample::Index>(), val in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut bytes = Message::FlowMod(fm.clone()).encode(1);
        let whole = bytes.clone();
        let i = at.index(bytes.len());
        bytes[i] = val;
        let c = cut.index(bytes.len());
        for b in [&whole[..], &bytes[..], &bytes[..c]] {
            if b.get(1) != Some(&14) {
                continue;
            }
            let one = items::one_pass(b);
            match Message::decode(b) {
                Err(e) => prop_assert_eq!(format!("{:?}", one.map(|_| ())), format!("{:?}", Err::<(), _>(e))),
                Ok(_) => prop_assert_eq!(format!("{one:?}"), format!("{:?}", items::two_passes(b))),
            }
        }
        // The unmutated flow_mod's items are its canonical form's, in order.
        let (_, _, got) = items::one_pass(&whole).expect("an emitted flow_mod");
        prop_assert_eq!(got.fields, fm.canonical().r#match.to_vec());
    }

    #[test]
    fn a_view_of_an_emitted_flow_mod_gives_its_canonical_form(fm in any_flow_mod()) {
        let bytes = Message::FlowMod(fm.clone()).encode(1);
        let (_, v) = FlowModView::parse(&bytes).unwrap_or_else(|e| panic!("{e}: {fm:?}"));
        let canonical = fm.canonical();
        prop_assert_eq!(v.r#match.fields().collect::<Vec<_>>(), canonical.r#match.to_vec());
        prop_assert_eq!(v.to_flow_mod().unwrap(), canonical);
    }
}

/// A FLOW_MOD with any command and any value in the fields the model's ADD leaves at their
/// defaults (cookie_mask, buffer_id, out_port, out_group, flags).
fn any_flow_mod() -> impl Strategy<Value = FlowMod> {
    (
        flow_mod(),
        0u8..5,
        any::<u64>(),
        prop_oneof![Just(u32::MAX), any::<u32>()],
        prop_oneof![Just(u32::MAX), any::<u32>()],
        prop_oneof![Just(u32::MAX), any::<u32>()],
        any::<u16>(),
    )
        .prop_map(
            |(mut f, command, cookie_mask, buffer_id, out_port, out_group, flags)| {
                f.command = FlowModCommand::from_code(command).expect("0..5 are the commands");
                f.cookie_mask = cookie_mask;
                f.buffer_id = buffer_id;
                f.out_port = out_port;
                f.out_group = out_group;
                f.flags = flags;
                f
            },
        )
}

/// What the `decode_message` fuzz target checks, for one input: whatever decodes re-encodes
/// to bytes that decode, with the same xid, to the message's canonical form, and that form
/// encodes to the same bytes again. Decoding must not panic, which proptest reports too.
fn round_trips(bytes: &[u8]) -> Result<(), TestCaseError> {
    let Ok((xid, m)) = Message::decode(bytes) else {
        return Ok(());
    };
    let again = m.encode(xid);
    let (x2, m2) = Message::decode(&again).map_err(|e| {
        TestCaseError::fail(format!("{m:?} re-encodes to bytes that do not decode: {e}"))
    })?;
    prop_assert_eq!(x2, xid);
    prop_assert_eq!(&m2, &m.canonical(), "input {:02x?}", bytes);
    prop_assert_eq!(
        m2.encode(xid),
        again,
        "a second round trip changes the bytes"
    );
    Ok(())
}

#[path = "proptest/messages.rs"]
mod messages;

#[path = "proptest/fuzz_regressions.rs"]
mod fuzz_regressions;
