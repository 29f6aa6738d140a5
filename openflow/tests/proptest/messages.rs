//! Every [`Message`] variant and every body the crate decodes, generated valid (what the
//! decoder accepts), for the round-trip identity; and bodies that reach the deep decoders with
//! random bytes, for the never-panics properties.

use super::{a_match, action, any_flow_mod, instructions, round_trips};
use openflow::bundle::{BundleControl, BundleCtrlType};
use openflow::control::{AsyncConfig, ControllerRole, PortMod, Role, TableMod};
use openflow::error_codes::HelloFailedCode;
use openflow::group::{
    Bucket, GroupDesc, GroupFeatures, GroupMod, GroupModCommand, GroupStats, GroupType,
};
use openflow::message::{SwitchConfig, SwitchFeatures};
use openflow::meter::{
    MeterBand, MeterConfig, MeterFeatures, MeterMod, MeterModCommand, MeterStats,
};
use openflow::monitor::{FlowMonitorRequest, FlowUpdate, FlowUpdateEvent};
use openflow::multipart::{FlowStats, FlowStatsRequest, MultipartReply, MultipartRequest};
use openflow::nicira::{ExtMessage, PacketIn2Prop, TlvMap, TlvTableModCommand};
use openflow::packet::{
    FlowRemoved, FlowRemovedReason, PacketIn, PacketInReason, PacketOut, PortReason, PortStatus,
};
use openflow::stats::{
    AggregateStats, Desc, PortStats, QueueStats, TableFeatureProp, TableFeatures, TableStats,
};
use openflow::{
    Action, ErrorCode, Hello, HelloElement, MacAddr, Message, OfpError, Port, NXET_VENDOR,
    NX_VENDOR_ID, ONF_VENDOR_ID,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=max)
}

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

/// A name for a NUL-padded field of `field` bytes: at most `field - 1` bytes of UTF-8
/// without NUL (what the decoder can give back), multi-byte characters included.
fn name(field: usize) -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        8 => (0x20u8..0x7f).prop_map(char::from),
        1 => prop::sample::select(vec!['é', 'ß', '→', '網', '🦀']),
    ];
    prop::collection::vec(ch, 0..field).prop_map(move |cs| {
        let mut s = String::new();
        for c in cs {
            if s.len() + c.len_utf8() < field {
                s.push(c);
            }
        }
        s
    })
}

fn output() -> impl Strategy<Value = Vec<Action>> {
    prop::collection::vec(
        (0u32..0xffff_ff00).prop_map(|port| Action::Output { port, max_len: 0 }),
        0..3,
    )
}

fn actions() -> impl Strategy<Value = Vec<Action>> {
    prop_oneof![3 => output(), 1 => prop::collection::vec(action(), 0..3)]
}

fn bucket() -> impl Strategy<Value = Bucket> {
    (any::<u16>(), any::<u32>(), any::<u32>(), actions()).prop_map(
        |(weight, watch_port, watch_group, actions)| Bucket {
            weight,
            watch_port,
            watch_group,
            actions,
        },
    )
}

fn band() -> impl Strategy<Value = MeterBand> {
    prop_oneof![
        (any::<u32>(), any::<u32>())
            .prop_map(|(rate, burst_size)| MeterBand::Drop { rate, burst_size }),
        (any::<u32>(), any::<u32>(), any::<u8>()).prop_map(|(rate, burst_size, p)| {
            MeterBand::DscpRemark {
                rate,
                burst_size,
                prec_level: p,
            }
        }),
        (any::<u32>(), any::<u32>(), any::<u32>(), bytes(8)).prop_map(
            |(rate, burst_size, experimenter, data)| MeterBand::Experimenter {
                rate,
                burst_size,
                experimenter,
                data,
            }
        ),
        // Any other type keeps its body raw.
        (3u16..0xffff, any::<u32>(), any::<u32>(), bytes(8)).prop_map(
            |(kind, rate, burst_size, body)| MeterBand::Unknown {
                kind,
                rate,
                burst_size,
                body,
            }
        ),
    ]
}

/// OXM TLVs as PACKET_IN2 metadata carries them: a match's TLVs without the `ofp_match`
/// header and padding.
fn metadata() -> impl Strategy<Value = Vec<u8>> {
    a_match().prop_map(|m| {
        let mut buf = Vec::new();
        m.emit(&mut buf);
        let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
        buf[4..len].to_vec()
    })
}

fn pin2_prop() -> impl Strategy<Value = PacketIn2Prop> {
    prop_oneof![
        bytes(20).prop_map(PacketIn2Prop::Packet),
        any::<u32>().prop_map(PacketIn2Prop::FullLen),
        any::<u32>().prop_map(PacketIn2Prop::BufferId),
        any::<u8>().prop_map(PacketIn2Prop::TableId),
        any::<u64>().prop_map(PacketIn2Prop::Cookie),
        any::<u8>().prop_map(PacketIn2Prop::Reason),
        metadata().prop_map(PacketIn2Prop::Metadata),
        bytes(20).prop_map(PacketIn2Prop::Userdata),
        bytes(20).prop_map(PacketIn2Prop::Continuation),
        (9u16.., bytes(20)).prop_map(|(kind, data)| PacketIn2Prop::Unknown { kind, data }),
    ]
}

fn tlv_maps() -> impl Strategy<Value = Vec<TlvMap>> {
    prop::collection::vec(any::<(u16, u8, u8, u16)>(), 0..4).prop_map(|v| {
        v.into_iter()
            .map(|(option_class, option_type, option_len, index)| TlvMap {
                option_class,
                option_type,
                option_len,
                index,
            })
            .collect()
    })
}

fn ext() -> impl Strategy<Value = ExtMessage> {
    prop_oneof![
        prop::collection::vec(pin2_prop(), 0..6).prop_map(ExtMessage::PacketIn2),
        prop::collection::vec(pin2_prop(), 0..4).prop_map(ExtMessage::Resume),
        (any::<u16>(), tlv_maps()).prop_map(|(c, maps)| ExtMessage::TlvTableMod {
            command: TlvTableModCommand::from_code(c),
            maps,
        }),
        Just(ExtMessage::TlvTableRequest),
        (any::<u32>(), any::<u16>(), tlv_maps()).prop_map(
            |(max_option_space, max_fields, maps)| ExtMessage::TlvTableReply {
                max_option_space,
                max_fields,
                maps,
            }
        ),
        any::<u32>().prop_map(ExtMessage::FlowMonitorCancel),
        Just(ExtMessage::FlowMonitorPaused),
        Just(ExtMessage::FlowMonitorResumed),
    ]
}

/// Typed codes of every form: the OF1.3 types (codes known and not), experimenter errors
/// from Nicira, ONF and others, NXET_VENDOR, and unknown types.
fn error_code() -> impl Strategy<Value = ErrorCode> {
    let code = || prop_oneof![3 => 0u16..20, 1 => any::<u16>()];
    prop_oneof![
        4 => (0u16..14, code()).prop_map(|(t, c)| ErrorCode::from_parts(t, c, None)),
        3 => (
            prop_oneof![Just(NX_VENDOR_ID), Just(ONF_VENDOR_ID), any::<u32>()],
            prop_oneof![code(), 2300u16..2320],
        )
            .prop_map(|(e, c)| ErrorCode::from_parts(0xffff, c, Some(e))),
        1 => (
            prop_oneof![Just(NX_VENDOR_ID), any::<u32>()],
            any::<u16>(),
            code()
        )
            .prop_map(|(vendor, kind, code)| ErrorCode::NxVendor { vendor, kind, code }),
        // NXET_VENDOR with code 0 is the NxVendor form above.
        1 => (14u16..0xffff, any::<u16>())
            .prop_filter("NXVC_VENDOR_ERROR", |(t, c)| (*t, *c) != (NXET_VENDOR, 0))
            .prop_map(|(t, c)| ErrorCode::from_parts(t, c, None)),
    ]
}

fn error() -> impl Strategy<Value = OfpError> {
    // The data: the offending request (or its first 64 bytes), or text for HELLO_FAILED.
    let data = prop_oneof![
        bytes(40),
        (any_flow_mod(), any::<u32>(), any::<bool>()).prop_map(|(f, xid, cut)| {
            let mut b = Message::FlowMod(f).encode(xid);
            if cut {
                b.truncate(64);
            }
            b
        }),
    ];
    prop_oneof![
        4 => (error_code(), data).prop_map(|(code, data)| OfpError::new(code, data)),
        1 => "[ -~]{0,40}".prop_map(|t| OfpError::new(
            ErrorCode::HelloFailed(HelloFailedCode::Incompatible),
            t.into_bytes()
        )),
    ]
}

fn hello() -> impl Strategy<Value = Hello> {
    let element = prop_oneof![
        prop::collection::vec(any::<u32>(), 0..4).prop_map(HelloElement::VersionBitmap),
        (any::<u16>(), bytes(20))
            .prop_filter("type 1 is the version bitmap", |(k, _)| *k != 1)
            .prop_map(|(kind, data)| HelloElement::Unknown { kind, data }),
    ];
    (any::<u8>(), prop::collection::vec(element, 0..4))
        .prop_map(|(version, elements)| Hello { version, elements })
}

fn port() -> impl Strategy<Value = Port> {
    (
        any::<u32>(),
        mac(),
        name(16),
        any::<(u32, u32)>(),
        any::<[u32; 4]>(),
        any::<(u32, u32)>(),
    )
        .prop_map(
            |(port_no, hw_addr, name, (config, state), features, (curr_speed, max_speed))| Port {
                port_no,
                hw_addr,
                name,
                config,
                state,
                features,
                curr_speed,
                max_speed,
            },
        )
}

fn flow_stats_request() -> impl Strategy<Value = FlowStatsRequest> {
    (
        any::<u8>(),
        any::<u32>(),
        any::<u32>(),
        any::<u64>(),
        any::<u64>(),
        a_match(),
    )
        .prop_map(
            |(table_id, out_port, out_group, cookie, cookie_mask, r#match)| FlowStatsRequest {
                table_id,
                out_port,
                out_group,
                cookie,
                cookie_mask,
                r#match,
            },
        )
}

fn flow_stats() -> impl Strategy<Value = FlowStats> {
    (
        any::<(u8, u32, u32, u16, u16, u16, u16)>(),
        any::<(u64, u64, u64)>(),
        a_match(),
        instructions(),
    )
        .prop_map(
            |(
                (table_id, duration_sec, duration_nsec, priority, idle, hard, flags),
                (cookie, packet_count, byte_count),
                r#match,
                instructions,
            )| FlowStats {
                table_id,
                duration_sec,
                duration_nsec,
                priority,
                idle_timeout: idle,
                hard_timeout: hard,
                flags,
                cookie,
                packet_count,
                byte_count,
                r#match,
                instructions,
            },
        )
}

fn table_features() -> impl Strategy<Value = TableFeatures> {
    let prop_ = (any::<u16>(), bytes(20)).prop_map(|(kind, data)| TableFeatureProp { kind, data });
    (
        any::<u8>(),
        name(32),
        any::<(u64, u64, u32, u32)>(),
        prop::collection::vec(prop_, 0..4),
    )
        .prop_map(
            |(
                table_id,
                name,
                (metadata_match, metadata_write, config, max_entries),
                properties,
            )| {
                TableFeatures {
                    table_id,
                    name,
                    metadata_match,
                    metadata_write,
                    config,
                    max_entries,
                    properties,
                }
            },
        )
}

fn flow_monitor_request() -> impl Strategy<Value = FlowMonitorRequest> {
    (
        any::<u32>(),
        any::<u16>(),
        any::<u32>(),
        any::<u8>(),
        a_match(),
    )
        .prop_map(
            |(id, flags, out_port, table_id, r#match)| FlowMonitorRequest {
                id,
                flags,
                out_port,
                table_id,
                r#match,
            },
        )
}

fn flow_update() -> impl Strategy<Value = FlowUpdate> {
    prop_oneof![
        any::<u32>().prop_map(|xid| FlowUpdate::Abbrev { xid }),
        (
            0u16..3,
            any::<(u16, u16, u16, u16, u8, u64)>(),
            a_match(),
            instructions()
        )
            .prop_map(
                |(
                    event,
                    (reason, priority, idle_timeout, hard_timeout, table_id, cookie),
                    r#match,
                    instructions,
                )| FlowUpdate::Full {
                    event: FlowUpdateEvent::from_code(event),
                    reason,
                    priority,
                    idle_timeout,
                    hard_timeout,
                    table_id,
                    cookie,
                    r#match,
                    instructions,
                }
            ),
    ]
}

/// A body that does not start with the ONFST_FLOW_MONITOR experimenter header.
fn not_flow_monitor() -> impl Strategy<Value = Vec<u8>> {
    bytes(40).prop_filter("ONFST_FLOW_MONITOR", |b| {
        b.get(..8) != Some(&[0x4f, 0x4e, 0x46, 0, 0, 0, 0x07, 0x4e])
    })
}

fn multipart_request() -> impl Strategy<Value = MultipartRequest> {
    use MultipartRequest as R;
    prop_oneof![
        flow_stats_request().prop_map(R::Flow),
        flow_stats_request().prop_map(R::Aggregate),
        Just(R::Desc),
        Just(R::Table),
        Just(R::PortDesc),
        Just(R::GroupDesc),
        any::<u32>().prop_map(R::PortStats),
        any::<u32>().prop_map(R::Group),
        any::<u32>().prop_map(R::Meter),
        any::<u32>().prop_map(R::MeterConfig),
        prop::collection::vec(table_features(), 0..3).prop_map(R::TableFeatures),
        prop::collection::vec(flow_monitor_request(), 0..3).prop_map(R::FlowMonitor),
        any::<(u32, u32)>().prop_map(|(port_no, queue_id)| R::Queue { port_no, queue_id }),
        Just(R::GroupFeatures),
        Just(R::MeterFeatures),
        // Types kept raw: those without a decoder, the body-less ones with a body, and
        // experimenter multiparts other than the flow monitor.
        (14u16..0xffff, bytes(40)).prop_map(|(kind, body)| R::Raw { kind, body }),
        (
            prop::sample::select(vec![0u16, 3, 7, 8, 11, 13]),
            prop::collection::vec(any::<u8>(), 1..20)
        )
            .prop_map(|(kind, body)| R::Raw { kind, body }),
        not_flow_monitor().prop_map(|body| R::Raw { kind: 0xffff, body }),
    ]
}

fn multipart_reply() -> impl Strategy<Value = MultipartReply> {
    use MultipartReply as R;
    let counters = || prop::collection::vec(any::<(u64, u64)>(), 0..3);
    prop_oneof![
        prop::collection::vec(flow_stats(), 0..3).prop_map(R::Flow),
        prop::collection::vec(port(), 0..3).prop_map(R::PortDesc),
        (name(256), name(256), name(256), name(32), name(256)).prop_map(
            |(mfr_desc, hw_desc, sw_desc, serial_num, dp_desc)| R::Desc(Desc {
                mfr_desc,
                hw_desc,
                sw_desc,
                serial_num,
                dp_desc,
            })
        ),
        any::<(u64, u64, u32)>().prop_map(|(packet_count, byte_count, flow_count)| {
            R::Aggregate(AggregateStats {
                packet_count,
                byte_count,
                flow_count,
            })
        }),
        prop::collection::vec(any::<(u8, u32, u64, u64)>(), 0..4).prop_map(|v| R::Table(
            v.into_iter()
                .map(
                    |(table_id, active_count, lookup_count, matched_count)| TableStats {
                        table_id,
                        active_count,
                        lookup_count,
                        matched_count,
                    }
                )
                .collect()
        )),
        prop::collection::vec(any::<(u32, [u64; 12], u32, u32)>(), 0..3).prop_map(|v| {
            R::PortStats(
                v.into_iter()
                    .map(
                        |(port_no, counters, duration_sec, duration_nsec)| PortStats {
                            port_no,
                            counters,
                            duration_sec,
                            duration_nsec,
                        },
                    )
                    .collect(),
            )
        }),
        prop::collection::vec((any::<(u32, u32, u64, u64, u32, u32)>(), counters()), 0..3)
            .prop_map(|v| R::Group(
                v.into_iter()
                    .map(
                        |((group_id, ref_count, packet_count, byte_count, s, ns), buckets)| {
                            GroupStats {
                                group_id,
                                ref_count,
                                packet_count,
                                byte_count,
                                duration_sec: s,
                                duration_nsec: ns,
                                buckets,
                            }
                        }
                    )
                    .collect()
            )),
        prop::collection::vec(
            (
                any::<u8>(),
                any::<u32>(),
                prop::collection::vec(bucket(), 0..3)
            ),
            0..3
        )
        .prop_map(|v| R::GroupDesc(
            v.into_iter()
                .map(|(t, group_id, buckets)| GroupDesc {
                    kind: GroupType::from_code(t),
                    group_id,
                    buckets,
                })
                .collect()
        )),
        prop::collection::vec((any::<(u32, u32, u64, u64, u32, u32)>(), counters()), 0..3)
            .prop_map(|v| R::Meter(
                v.into_iter()
                    .map(|((meter_id, flow_count, packets, bytes, s, ns), bands)| {
                        MeterStats {
                            meter_id,
                            flow_count,
                            packet_in_count: packets,
                            byte_in_count: bytes,
                            duration_sec: s,
                            duration_nsec: ns,
                            bands,
                        }
                    })
                    .collect()
            )),
        prop::collection::vec(
            (
                any::<u16>(),
                any::<u32>(),
                prop::collection::vec(band(), 0..3)
            ),
            0..3
        )
        .prop_map(|v| R::MeterConfig(
            v.into_iter()
                .map(|(flags, meter_id, bands)| MeterConfig {
                    flags,
                    meter_id,
                    bands,
                })
                .collect()
        )),
        prop::collection::vec(table_features(), 0..3).prop_map(R::TableFeatures),
        prop::collection::vec(flow_update(), 0..4).prop_map(R::FlowMonitor),
        prop::collection::vec(any::<(u32, u32, u64, u64, u64, u32, u32)>(), 0..3).prop_map(|v| {
            R::Queue(
                v.into_iter()
                    .map(
                        |(port_no, queue_id, tx_bytes, tx_packets, tx_errors, s, ns)| QueueStats {
                            port_no,
                            queue_id,
                            tx_bytes,
                            tx_packets,
                            tx_errors,
                            duration_sec: s,
                            duration_nsec: ns,
                        },
                    )
                    .collect(),
            )
        }),
        any::<(u32, u32, [u32; 4], [u32; 4])>().prop_map(
            |(types, capabilities, max_groups, actions)| R::GroupFeatures(GroupFeatures {
                types,
                capabilities,
                max_groups,
                actions,
            })
        ),
        any::<(u32, u32, u32, u8, u8)>().prop_map(
            |(max_meter, band_types, capabilities, max_bands, max_color)| {
                R::MeterFeatures(MeterFeatures {
                    max_meter,
                    band_types,
                    capabilities,
                    max_bands,
                    max_color,
                })
            }
        ),
        (14u16..0xffff, bytes(40)).prop_map(|(kind, body)| R::Raw { kind, body }),
        not_flow_monitor().prop_map(|body| R::Raw { kind: 0xffff, body }),
    ]
}

/// An experimenter message that no typed variant claims.
fn raw_experimenter() -> impl Strategy<Value = Message> {
    let known = |e: u32, t: u32| match e {
        NX_VENDOR_ID => matches!(t, 16 | 24..=26 | 28 | 30),
        ONF_VENDOR_ID => matches!(t, 1870..=1872 | 2300 | 2301),
        _ => false,
    };
    (
        prop_oneof![Just(NX_VENDOR_ID), Just(ONF_VENDOR_ID), any::<u32>()],
        prop_oneof![0u32..40, 1860u32..2310, any::<u32>()],
        bytes(40),
    )
        .prop_filter("a typed experimenter message", move |(e, t, _)| {
            !known(*e, *t)
        })
        .prop_map(|(experimenter, exp_type, data)| Message::Experimenter {
            experimenter,
            exp_type,
            data,
        })
}

/// A message a bundle can carry; mostly FLOW_MODs, as the session sends.
fn bundled() -> impl Strategy<Value = Message> {
    prop_oneof![
        4 => any_flow_mod().prop_map(Message::FlowMod),
        1 => group_mod().prop_map(Message::GroupMod),
        1 => port_mod().prop_map(Message::PortMod),
    ]
}

fn group_mod() -> impl Strategy<Value = GroupMod> {
    (
        any::<u16>(),
        any::<u8>(),
        any::<u32>(),
        prop::collection::vec(bucket(), 0..3),
    )
        .prop_map(|(c, t, group_id, buckets)| GroupMod {
            command: GroupModCommand::from_code(c),
            kind: GroupType::from_code(t),
            group_id,
            buckets,
        })
}

fn port_mod() -> impl Strategy<Value = PortMod> {
    (any::<u32>(), mac(), any::<(u32, u32, u32)>()).prop_map(
        |(port_no, hw_addr, (config, mask, advertise))| PortMod {
            port_no,
            hw_addr,
            config,
            mask,
            advertise,
        },
    )
}

/// Every variant of [`Message`].
pub(super) fn message() -> impl Strategy<Value = Message> {
    let switch_config = || {
        any::<(u16, u16)>().prop_map(|(flags, miss_send_len)| SwitchConfig {
            flags,
            miss_send_len,
        })
    };
    let role = || {
        (prop_oneof![0u32..4, any::<u32>()], any::<u64>()).prop_map(|(r, generation_id)| Role {
            role: ControllerRole::from_code(r),
            generation_id,
        })
    };
    let async_config = || {
        any::<[u32; 6]>().prop_map(|m| AsyncConfig {
            packet_in_mask: [m[0], m[1]],
            port_status_mask: [m[2], m[3]],
            flow_removed_mask: [m[4], m[5]],
        })
    };
    prop_oneof![
        1 => hello().prop_map(Message::Hello),
        1 => error().prop_map(Message::Error),
        1 => bytes(40).prop_map(Message::EchoRequest),
        1 => bytes(40).prop_map(Message::EchoReply),
        1 => raw_experimenter(),
        1 => Just(Message::FeaturesRequest),
        1 => any::<(u64, u32, u8, u8, u32, u32)>().prop_map(
            |(datapath_id, n_buffers, n_tables, auxiliary_id, capabilities, reserved)| {
                Message::FeaturesReply(SwitchFeatures {
                    datapath_id,
                    n_buffers,
                    n_tables,
                    auxiliary_id,
                    capabilities,
                    reserved,
                })
            }
        ),
        1 => Just(Message::GetConfigRequest),
        1 => switch_config().prop_map(Message::GetConfigReply),
        1 => switch_config().prop_map(Message::SetConfig),
        1 => (any::<(u32, u16, u8, u8, u64)>(), a_match(), bytes(60)).prop_map(
            |((buffer_id, total_len, reason, table_id, cookie), r#match, data)| {
                Message::PacketIn(PacketIn {
                    buffer_id,
                    total_len,
                    reason: PacketInReason::from_code(reason),
                    table_id,
                    cookie,
                    r#match,
                    data,
                })
            }
        ),
        1 => (
            any::<(u64, u16, u8, u8, u32, u32)>(),
            any::<(u16, u16, u64, u64)>(),
            a_match()
        )
            .prop_map(
                |(
                    (cookie, priority, reason, table_id, duration_sec, duration_nsec),
                    (idle_timeout, hard_timeout, packet_count, byte_count),
                    r#match,
                )| Message::FlowRemoved(FlowRemoved {
                    cookie,
                    priority,
                    reason: FlowRemovedReason::from_code(reason),
                    table_id,
                    duration_sec,
                    duration_nsec,
                    idle_timeout,
                    hard_timeout,
                    packet_count,
                    byte_count,
                    r#match,
                })
            ),
        1 => (any::<u8>(), port()).prop_map(|(reason, port)| Message::PortStatus(PortStatus {
            reason: PortReason::from_code(reason),
            port,
        })),
        1 => (any::<u32>(), any::<u32>(), actions(), bytes(30)).prop_map(
            |(buffer_id, in_port, actions, data)| Message::PacketOut(PacketOut {
                buffer_id,
                in_port,
                actions,
                data,
            })
        ),
        3 => any_flow_mod().prop_map(Message::FlowMod),
        1 => group_mod().prop_map(Message::GroupMod),
        1 => port_mod().prop_map(Message::PortMod),
        1 => any::<(u8, u32)>().prop_map(|(table_id, config)| Message::TableMod(TableMod {
            table_id,
            config
        })),
        1 => role().prop_map(Message::RoleRequest),
        1 => role().prop_map(Message::RoleReply),
        1 => Just(Message::GetAsyncRequest),
        1 => async_config().prop_map(Message::GetAsyncReply),
        1 => async_config().prop_map(Message::SetAsync),
        1 => (any::<u16>(), any::<u16>(), any::<u32>(), prop::collection::vec(band(), 0..3))
            .prop_map(|(c, flags, meter_id, bands)| Message::MeterMod(MeterMod {
                command: MeterModCommand::from_code(c),
                flags,
                meter_id,
                bands,
            })),
        3 => ext().prop_map(Message::Ext),
        4 => (any::<u16>(), multipart_request())
            .prop_map(|(flags, body)| Message::MultipartRequest { flags, body }),
        5 => (any::<u16>(), multipart_reply())
            .prop_map(|(flags, body)| Message::MultipartReply { flags, body }),
        1 => Just(Message::BarrierRequest),
        1 => Just(Message::BarrierReply),
        1 => (
            any::<u32>(),
            prop_oneof![0u16..8, any::<u16>()],
            any::<u16>(),
            bytes(16)
        )
            .prop_map(|(bundle_id, kind, flags, properties)| {
                Message::BundleControl(BundleControl {
                    bundle_id,
                    kind: BundleCtrlType::from_code(kind),
                    flags,
                    properties,
                })
            }),
        2 => (any::<u32>(), any::<u16>(), bundled()).prop_map(|(bundle_id, flags, m)| {
            Message::BundleAdd {
                bundle_id,
                flags,
                message: Box::new(m),
            }
        }),
        1 => prop_oneof![0u32..3, any::<u32>()].prop_map(Message::SetPacketInFormat),
        // Types without a decoder: QUEUE_GET_CONFIG (22/23) and anything past METER_MOD.
        1 => (prop_oneof![22u8..24, 30u8..=255], bytes(40))
            .prop_map(|(kind, body)| Message::Unknown { kind, body }),
    ]
}

/// `kind`, `body` framed as a 1.3 message with a correct length.
fn framed(kind: u8, xid: u32, body: &[u8]) -> Vec<u8> {
    let mut b = vec![4, kind, 0, 0];
    b.extend_from_slice(&xid.to_be_bytes());
    b.extend_from_slice(body);
    let n = b.len() as u16;
    b[2..4].copy_from_slice(&n.to_be_bytes());
    b
}

/// An OFPT_EXPERIMENTER whose header names Nicira or ONF and, mostly, a subtype the crate
/// decodes, followed by random bytes: the extension decoders' input.
fn experimenter_bytes() -> impl Strategy<Value = Vec<u8>> {
    let nx = prop::sample::select(vec![16u32, 24, 25, 26, 28, 30]);
    let onf = prop::sample::select(vec![1870u32, 1871, 1872, 2300, 2301]);
    (
        prop_oneof![
            (Just(NX_VENDOR_ID), prop_oneof![4 => nx, 1 => any::<u32>()]),
            (
                Just(ONF_VENDOR_ID),
                prop_oneof![4 => onf, 1 => any::<u32>()]
            ),
        ],
        any::<u32>(),
        prop_oneof![
            bytes(120),
            (bytes(8), super::any_flow_mod(), any::<u32>()).prop_map(
                // A bundle-add body around a valid or nearly valid inner message.
                |(head, f, xid)| [head, Message::FlowMod(f).encode(xid)].concat()
            )
        ],
    )
        .prop_map(|((vendor, subtype), xid, tail)| {
            let body = [&vendor.to_be_bytes()[..], &subtype.to_be_bytes(), &tail].concat();
            framed(4, xid, &body)
        })
}

/// A MULTIPART request or reply of any type 0..=19 or 0xffff (then mostly with the
/// ONFST_FLOW_MONITOR header) and a random body.
fn multipart_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just(18u8), Just(19u8)],
        prop_oneof![4 => 0u16..=19, 1 => Just(0xffff)],
        any::<u16>(),
        any::<bool>(),
        bytes(200),
    )
        .prop_map(|(kind, mp, flags, monitor, tail)| {
            let mut body = [mp.to_be_bytes(), flags.to_be_bytes(), [0, 0], [0, 0]].concat();
            if mp == 0xffff && monitor {
                body.extend_from_slice(&ONF_VENDOR_ID.to_be_bytes());
                body.extend_from_slice(&1870u32.to_be_bytes());
            }
            body.extend_from_slice(&tail);
            framed(kind, 1, &body)
        })
}

/// One change to a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(prop::sample::Index, u8),
    Truncate(prop::sample::Index),
    Extend(Vec<u8>),
    Insert(prop::sample::Index, Vec<u8>),
    Remove(prop::sample::Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<prop::sample::Index>(), 1u8..).prop_map(|(i, x)| Mutation::Flip(i, x)),
        1 => any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        1 => prop::collection::vec(any::<u8>(), 1..16).prop_map(Mutation::Extend),
        1 => (any::<prop::sample::Index>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<prop::sample::Index>(), 1usize..8)
            .prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
}

fn mutate(mut b: Vec<u8>, ms: &[Mutation], fix_length: bool) -> Vec<u8> {
    for m in ms {
        if b.is_empty() {
            break;
        }
        match m {
            Mutation::Flip(i, x) => {
                let i = i.index(b.len());
                b[i] ^= x;
            }
            Mutation::Truncate(i) => b.truncate(i.index(b.len())),
            Mutation::Extend(v) => b.extend_from_slice(v),
            Mutation::Insert(i, v) => {
                let i = i.index(b.len());
                b.splice(i..i, v.iter().copied());
            }
            Mutation::Remove(i, n) => {
                let i = i.index(b.len());
                b.drain(i..(i + n).min(b.len()));
            }
        }
    }
    // Mostly keep the header's length right, so that the body decoders see the change.
    if fix_length && b.len() >= 4 && b.len() <= 0xffff {
        let n = b.len() as u16;
        b[2..4].copy_from_slice(&n.to_be_bytes());
    }
    b
}

// Default case count, as above.
proptest! {
    #[test]
    fn every_message_emits_then_decodes_to_itself(m in message(), xid in any::<u32>()) {
        let bytes = m.encode(xid);
        let decoded = Message::decode(&bytes)
            .unwrap_or_else(|e| panic!("{e}: {m:?}\n{bytes:02x?}"));
        prop_assert_eq!(decoded, (xid, m.canonical()));
        prop_assert_eq!(m.canonical().encode(xid), bytes);
    }

    #[test]
    fn decode_never_panics_on_experimenter_bodies_and_round_trips_what_it_accepts(
        b in experimenter_bytes()
    ) {
        round_trips(&b)?;
    }

    #[test]
    fn decode_never_panics_on_multipart_bodies_and_round_trips_what_it_accepts(
        b in multipart_bytes()
    ) {
        round_trips(&b)?;
    }

    #[test]
    fn decode_never_panics_on_random_bodies_of_every_type(
        kind in prop_oneof![0u8..=30, any::<u8>()],
        xid in any::<u32>(),
        body in bytes(200),
    ) {
        round_trips(&framed(kind, xid, &body))?;
    }

    #[test]
    fn decode_never_panics_on_mutated_messages_and_round_trips_what_it_accepts(
        m in message(),
        ms in prop::collection::vec(mutation(), 1..4),
        fix_length in prop::bool::weighted(0.9),
    ) {
        round_trips(&mutate(m.encode(7), &ms, fix_length))?;
    }
}

/// The variant of `m`, down to the multipart body, extension message and FLOW_MOD command.
/// Every match is exhaustive, so a new variant does not compile until it is named here.
fn variant(m: &Message) -> String {
    use MultipartReply as P;
    use MultipartRequest as Q;
    let name = match m {
        Message::Hello(_) => "Hello",
        Message::Error(_) => "Error",
        Message::EchoRequest(_) => "EchoRequest",
        Message::EchoReply(_) => "EchoReply",
        Message::FeaturesRequest => "FeaturesRequest",
        Message::FeaturesReply(_) => "FeaturesReply",
        Message::GetConfigRequest => "GetConfigRequest",
        Message::GetConfigReply(_) => "GetConfigReply",
        Message::SetConfig(_) => "SetConfig",
        Message::PacketIn(_) => "PacketIn",
        Message::FlowRemoved(_) => "FlowRemoved",
        Message::PortStatus(_) => "PortStatus",
        Message::PacketOut(_) => "PacketOut",
        Message::FlowMod(f) => return format!("FlowMod::{:?}", f.command),
        Message::GroupMod(_) => "GroupMod",
        Message::PortMod(_) => "PortMod",
        Message::TableMod(_) => "TableMod",
        Message::RoleRequest(_) => "RoleRequest",
        Message::RoleReply(_) => "RoleReply",
        Message::GetAsyncRequest => "GetAsyncRequest",
        Message::GetAsyncReply(_) => "GetAsyncReply",
        Message::SetAsync(_) => "SetAsync",
        Message::MeterMod(_) => "MeterMod",
        Message::Ext(e) => match e {
            ExtMessage::PacketIn2(p) if p.iter().any(|p| p.metadata_match().is_some()) => {
                "PacketIn2+Metadata"
            }
            ExtMessage::PacketIn2(_) => "PacketIn2",
            ExtMessage::Resume(_) => "Resume",
            ExtMessage::TlvTableMod { .. } => "TlvTableMod",
            ExtMessage::TlvTableRequest => "TlvTableRequest",
            ExtMessage::TlvTableReply { .. } => "TlvTableReply",
            ExtMessage::FlowMonitorCancel(_) => "FlowMonitorCancel",
            ExtMessage::FlowMonitorPaused => "FlowMonitorPaused",
            ExtMessage::FlowMonitorResumed => "FlowMonitorResumed",
        },
        Message::MultipartRequest { body, .. } => match body {
            Q::Flow(_) => "Request::Flow",
            Q::PortDesc => "Request::PortDesc",
            Q::Desc => "Request::Desc",
            Q::Aggregate(_) => "Request::Aggregate",
            Q::Table => "Request::Table",
            Q::PortStats(_) => "Request::PortStats",
            Q::Group(_) => "Request::Group",
            Q::GroupDesc => "Request::GroupDesc",
            Q::Meter(_) => "Request::Meter",
            Q::MeterConfig(_) => "Request::MeterConfig",
            Q::TableFeatures(_) => "Request::TableFeatures",
            Q::FlowMonitor(_) => "Request::FlowMonitor",
            Q::Queue { .. } => "Request::Queue",
            Q::GroupFeatures => "Request::GroupFeatures",
            Q::MeterFeatures => "Request::MeterFeatures",
            Q::Raw { .. } => "Request::Raw",
        },
        Message::MultipartReply { body, .. } => match body {
            P::Flow(_) => "Reply::Flow",
            P::PortDesc(_) => "Reply::PortDesc",
            P::Desc(_) => "Reply::Desc",
            P::Aggregate(_) => "Reply::Aggregate",
            P::Table(_) => "Reply::Table",
            P::PortStats(_) => "Reply::PortStats",
            P::Group(_) => "Reply::Group",
            P::GroupDesc(_) => "Reply::GroupDesc",
            P::Meter(_) => "Reply::Meter",
            P::MeterConfig(_) => "Reply::MeterConfig",
            P::TableFeatures(_) => "Reply::TableFeatures",
            P::FlowMonitor(_) => "Reply::FlowMonitor",
            P::Queue(_) => "Reply::Queue",
            P::GroupFeatures(_) => "Reply::GroupFeatures",
            P::MeterFeatures(_) => "Reply::MeterFeatures",
            P::Raw { .. } => "Reply::Raw",
        },
        Message::BarrierRequest => "BarrierRequest",
        Message::BarrierReply => "BarrierReply",
        Message::BundleControl(_) => "BundleControl",
        Message::BundleAdd { message, .. } => match **message {
            Message::FlowMod(_) => "BundleAdd+FlowMod",
            _ => "BundleAdd",
        },
        Message::SetPacketInFormat(_) => "SetPacketInFormat",
        Message::Experimenter { .. } => "Experimenter",
        Message::Unknown { .. } => "Unknown",
    };
    name.to_string()
}

#[test]
fn the_message_generator_produces_every_variant() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = message();
    let seen: std::collections::BTreeSet<String> = (0..6000)
        .map(|_| variant(&strategy.new_tree(&mut runner).unwrap().current()))
        .collect();
    let mut all: Vec<String> = [
        "Hello",
        "Error",
        "EchoRequest",
        "EchoReply",
        "FeaturesRequest",
        "FeaturesReply",
        "GetConfigRequest",
        "GetConfigReply",
        "SetConfig",
        "PacketIn",
        "FlowRemoved",
        "PortStatus",
        "PacketOut",
        "GroupMod",
        "PortMod",
        "TableMod",
        "RoleRequest",
        "RoleReply",
        "GetAsyncRequest",
        "GetAsyncReply",
        "SetAsync",
        "MeterMod",
        "BarrierRequest",
        "BarrierReply",
        "BundleControl",
        "BundleAdd",
        "BundleAdd+FlowMod",
        "SetPacketInFormat",
        "Experimenter",
        "Unknown",
        "PacketIn2",
        "PacketIn2+Metadata",
        "Resume",
        "TlvTableMod",
        "TlvTableRequest",
        "TlvTableReply",
        "FlowMonitorCancel",
        "FlowMonitorPaused",
        "FlowMonitorResumed",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for c in ["Add", "Modify", "ModifyStrict", "Delete", "DeleteStrict"] {
        all.push(format!("FlowMod::{c}"));
    }
    for side in ["Request", "Reply"] {
        for b in [
            "Flow",
            "PortDesc",
            "Desc",
            "Aggregate",
            "Table",
            "PortStats",
            "Group",
            "GroupDesc",
            "Meter",
            "MeterConfig",
            "TableFeatures",
            "FlowMonitor",
            "Queue",
            "GroupFeatures",
            "MeterFeatures",
            "Raw",
        ] {
            all.push(format!("{side}::{b}"));
        }
    }
    let missing: Vec<&String> = all.iter().filter(|v| !seen.contains(*v)).collect();
    assert!(missing.is_empty(), "never generated: {missing:?}");
    assert_eq!(seen.len(), all.len(), "{seen:?}");
}
