//! Fields as actions name them: `load:`, `move:`, `set_field:`, `output:FIELD[..]`, `learn`,
//! `push`/`pop`, `multipath`, `bundle_load` and the `ct` zone all take a field and a bit range.
//!
//! [`FIELDS`] is the protocol table, one row per field OVS can name in an action: its meta-flow
//! name (`set_field:..->ip_src`), the NXM/OXM name OVS prints in subfields (`NXM_OF_IP_SRC[]`),
//! the header OVS writes in Nicira actions (`mf_nxm_header`, the first header the field had), the
//! header it writes in OF1.3 `OFPAT_SET_FIELD` (the OF1.2/1.3 OXM header when the field has
//! one), the width in bits and the value syntax. Source: OVS `include/openvswitch/meta-flow.h`
//! (`Type:`, `Formatting:`, `NXM:`, `OXM:` of every `MFF_*`), checked against
//! `ovs-ofctl -mmmmm -O OpenFlow13 parse-flow` (tests/golden). The register families (`reg<N>`,
//! `xreg<N>`, `xxreg<N>`) are computed, not listed.

use crate::flow::Field;

/// How `set_field:` prints and parses a field's value (`Formatting:` in `meta-flow.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueFormat {
    /// `0x..` (`0` for zero).
    Hex,
    /// Decimal.
    Dec,
    /// Dotted quad.
    Ipv4,
    /// RFC 5952 IPv6.
    Ipv6,
    /// `aa:bb:cc:dd:ee:ff`.
    Mac,
    /// A port number; reserved ports by name (`LOCAL`).
    Port,
}

/// One row of [`FIELDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDef {
    /// meta-flow name, as `set_field:` prints it.
    pub name: &'static str,
    /// NXM/OXM name, as `load:`/`move:` print it.
    pub nxm_name: &'static str,
    /// Header in Nicira actions (`NXAST_REG_LOAD`, `NXAST_REG_MOVE`, learn specs ...).
    pub header: u32,
    /// Header in OF1.3 `OFPAT_SET_FIELD`.
    pub set_field_header: u32,
    /// Width in bits (may be less than the header's byte length: `ip_dscp` is 6).
    pub bits: u16,
    /// Value syntax.
    pub format: ValueFormat,
}

const fn d(
    name: &'static str,
    nxm_name: &'static str,
    header: u32,
    set_field_header: u32,
    bits: u16,
    format: ValueFormat,
) -> FieldDef {
    FieldDef {
        name,
        nxm_name,
        header,
        set_field_header,
        bits,
        format,
    }
}

use ValueFormat::{Dec, Hex, Ipv4, Ipv6, Mac, Port};

/// Every non-register field an action can name (`meta-flow.h`), in `meta-flow.h` order.
#[rustfmt::skip]
pub const FIELDS: &[FieldDef] = &[
    d("dp_hash", "NXM_NX_DP_HASH", 0x0001_4604, 0x0001_4604, 32, Hex),
    d("recirc_id", "NXM_NX_RECIRC_ID", 0x0001_4804, 0x0001_4804, 32, Dec),
    d("conj_id", "NXM_NX_CONJ_ID", 0x0001_4a04, 0x0001_4a04, 32, Dec),
    d("tun_id", "NXM_NX_TUN_ID", 0x0001_2008, 0x8000_4c08, 64, Hex),
    d("tun_src", "NXM_NX_TUN_IPV4_SRC", 0x0001_3e04, 0x0001_3e04, 32, Ipv4),
    d("tun_dst", "NXM_NX_TUN_IPV4_DST", 0x0001_4004, 0x0001_4004, 32, Ipv4),
    d("tun_ipv6_src", "NXM_NX_TUN_IPV6_SRC", 0x0001_da10, 0x0001_da10, 128, Ipv6),
    d("tun_ipv6_dst", "NXM_NX_TUN_IPV6_DST", 0x0001_dc10, 0x0001_dc10, 128, Ipv6),
    d("tun_flags", "NXM_NX_TUN_FLAGS", 0x0001_d002, 0x0001_d002, 1, Hex),
    d("tun_gbp_id", "NXM_NX_TUN_GBP_ID", 0x0001_4c02, 0x0001_4c02, 16, Dec),
    d("tun_gbp_flags", "NXM_NX_TUN_GBP_FLAGS", 0x0001_4e01, 0x0001_4e01, 8, Hex),
    d("metadata", "OXM_OF_METADATA", 0x8000_0408, 0x8000_0408, 64, Hex),
    d("in_port", "NXM_OF_IN_PORT", 0x0000_0002, 0x0000_0002, 16, Port),
    d("in_port_oxm", "OXM_OF_IN_PORT", 0x8000_0004, 0x8000_0004, 32, Port),
    d("pkt_mark", "NXM_NX_PKT_MARK", 0x0001_4204, 0x0001_4204, 32, Hex),
    d("ct_state", "NXM_NX_CT_STATE", 0x0001_d204, 0x0001_d204, 32, Hex),
    d("ct_zone", "NXM_NX_CT_ZONE", 0x0001_d402, 0x0001_d402, 16, Hex),
    d("ct_mark", "NXM_NX_CT_MARK", 0x0001_d604, 0x0001_d604, 32, Hex),
    d("ct_label", "NXM_NX_CT_LABEL", 0x0001_d810, 0x0001_d810, 128, Hex),
    d("ct_nw_proto", "NXM_NX_CT_NW_PROTO", 0x0001_ee01, 0x0001_ee01, 8, Dec),
    d("ct_nw_src", "NXM_NX_CT_NW_SRC", 0x0001_f004, 0x0001_f004, 32, Ipv4),
    d("ct_nw_dst", "NXM_NX_CT_NW_DST", 0x0001_f204, 0x0001_f204, 32, Ipv4),
    d("ct_ipv6_src", "NXM_NX_CT_IPV6_SRC", 0x0001_f410, 0x0001_f410, 128, Ipv6),
    d("ct_ipv6_dst", "NXM_NX_CT_IPV6_DST", 0x0001_f610, 0x0001_f610, 128, Ipv6),
    d("ct_tp_src", "NXM_NX_CT_TP_SRC", 0x0001_f802, 0x0001_f802, 16, Dec),
    d("ct_tp_dst", "NXM_NX_CT_TP_DST", 0x0001_fa02, 0x0001_fa02, 16, Dec),
    d("eth_src", "NXM_OF_ETH_SRC", 0x0000_0406, 0x8000_0806, 48, Mac),
    d("eth_dst", "NXM_OF_ETH_DST", 0x0000_0206, 0x8000_0606, 48, Mac),
    d("eth_type", "NXM_OF_ETH_TYPE", 0x0000_0602, 0x8000_0a02, 16, Hex),
    d("vlan_tci", "NXM_OF_VLAN_TCI", 0x0000_0802, 0x0000_0802, 16, Hex),
    d("vlan_vid", "OXM_OF_VLAN_VID", 0x8000_0c02, 0x8000_0c02, 12, Dec),
    d("vlan_pcp", "OXM_OF_VLAN_PCP", 0x8000_0e01, 0x8000_0e01, 3, Dec),
    d("mpls_label", "OXM_OF_MPLS_LABEL", 0x8000_4404, 0x8000_4404, 20, Dec),
    d("mpls_tc", "OXM_OF_MPLS_TC", 0x8000_4601, 0x8000_4601, 3, Dec),
    d("mpls_bos", "OXM_OF_MPLS_BOS", 0x8000_4801, 0x8000_4801, 1, Dec),
    d("mpls_ttl", "NXM_NX_MPLS_TTL", 0x0001_3c01, 0x0001_3c01, 8, Dec),
    d("ip_src", "NXM_OF_IP_SRC", 0x0000_0e04, 0x8000_1604, 32, Ipv4),
    d("ip_dst", "NXM_OF_IP_DST", 0x0000_1004, 0x8000_1804, 32, Ipv4),
    d("ipv6_src", "NXM_NX_IPV6_SRC", 0x0001_2610, 0x8000_3410, 128, Ipv6),
    d("ipv6_dst", "NXM_NX_IPV6_DST", 0x0001_2810, 0x8000_3610, 128, Ipv6),
    d("ipv6_label", "NXM_NX_IPV6_LABEL", 0x0001_3604, 0x8000_3804, 20, Hex),
    d("nw_proto", "NXM_OF_IP_PROTO", 0x0000_0c01, 0x8000_1401, 8, Dec),
    d("nw_tos", "NXM_OF_IP_TOS", 0x0000_0a01, 0x0000_0a01, 8, Dec),
    d("ip_dscp", "OXM_OF_IP_DSCP", 0x8000_1001, 0x8000_1001, 6, Dec),
    d("nw_ecn", "NXM_NX_IP_ECN", 0x0001_3801, 0x8000_1201, 2, Dec),
    d("nw_ttl", "NXM_NX_IP_TTL", 0x0001_3a01, 0x0001_3a01, 8, Dec),
    d("ip_frag", "NXM_NX_IP_FRAG", 0x0001_3401, 0x0001_3401, 2, Hex),
    d("arp_op", "NXM_OF_ARP_OP", 0x0000_1e02, 0x8000_2a02, 16, Dec),
    d("arp_spa", "NXM_OF_ARP_SPA", 0x0000_2004, 0x8000_2c04, 32, Ipv4),
    d("arp_tpa", "NXM_OF_ARP_TPA", 0x0000_2204, 0x8000_2e04, 32, Ipv4),
    d("arp_sha", "NXM_NX_ARP_SHA", 0x0001_2206, 0x8000_3006, 48, Mac),
    d("arp_tha", "NXM_NX_ARP_THA", 0x0001_2406, 0x8000_3206, 48, Mac),
    d("tcp_src", "NXM_OF_TCP_SRC", 0x0000_1202, 0x8000_1a02, 16, Dec),
    d("tcp_dst", "NXM_OF_TCP_DST", 0x0000_1402, 0x8000_1c02, 16, Dec),
    d("tcp_flags", "NXM_NX_TCP_FLAGS", 0x0001_4402, 0x0001_4402, 12, Hex),
    d("udp_src", "NXM_OF_UDP_SRC", 0x0000_1602, 0x8000_1e02, 16, Dec),
    d("udp_dst", "NXM_OF_UDP_DST", 0x0000_1802, 0x8000_2002, 16, Dec),
    d("sctp_src", "OXM_OF_SCTP_SRC", 0x8000_2202, 0x8000_2202, 16, Dec),
    d("sctp_dst", "OXM_OF_SCTP_DST", 0x8000_2402, 0x8000_2402, 16, Dec),
    d("icmp_type", "NXM_OF_ICMP_TYPE", 0x0000_1a01, 0x8000_2601, 8, Dec),
    d("icmp_code", "NXM_OF_ICMP_CODE", 0x0000_1c01, 0x8000_2801, 8, Dec),
    d("icmpv6_type", "NXM_NX_ICMPV6_TYPE", 0x0001_2a01, 0x8000_3a01, 8, Dec),
    d("icmpv6_code", "NXM_NX_ICMPV6_CODE", 0x0001_2c01, 0x8000_3c01, 8, Dec),
    d("nd_target", "NXM_NX_ND_TARGET", 0x0001_2e10, 0x8000_3e10, 128, Ipv6),
    d("nd_sll", "NXM_NX_ND_SLL", 0x0001_3006, 0x8000_4006, 48, Mac),
    d("nd_tll", "NXM_NX_ND_TLL", 0x0001_3206, 0x8000_4206, 48, Mac),
];

/// meta-flow aliases accepted on input (`aka` in `meta-flow.h`).
const ALIASES: &[(&str, &str)] = &[
    ("tunnel_id", "tun_id"),
    ("dl_src", "eth_src"),
    ("dl_dst", "eth_dst"),
    ("dl_type", "eth_type"),
    ("nw_src", "ip_src"),
    ("nw_dst", "ip_dst"),
    ("ip_proto", "nw_proto"),
    ("ip_ecn", "nw_ecn"),
    ("nw_frag", "ip_frag"),
    ("tp_src", "tcp_src"),
    ("tp_dst", "tcp_dst"),
];

/// Register families: (meta-flow prefix, NXM/OXM name prefix, header of register 0, count,
/// header step per register, width). `reg<N>` is NXM_NX_REG, `xreg<N>` the OF1.3
/// `OXM_OF_PKT_REG<N>` (class 0x8001), `xxreg<N>` NXM_NX_XXREG (NXM_1 fields 111..114).
const FAMILIES: &[(&str, &str, u32, u8, u32, u16)] = &[
    ("reg", "NXM_NX_REG", 0x0001_0004, 16, 0x200, 32),
    ("xreg", "OXM_OF_PKT_REG", 0x8001_0008, 8, 0x200, 64),
    ("xxreg", "NXM_NX_XXREG", 0x0001_de10, 4, 0x200, 128),
];

/// A field's identity in [`FIELDS`] or a register family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Def {
    Row(&'static FieldDef),
    Family(usize, u8),
}

fn def_of_header(h: u32) -> Option<Def> {
    for (i, (_, _, h0, count, step, _)) in FAMILIES.iter().enumerate() {
        if h >= *h0 && (h - h0).is_multiple_of(*step) && (h - h0) / step < *count as u32 {
            return Some(Def::Family(i, ((h - h0) / step) as u8));
        }
    }
    FIELDS
        .iter()
        .find(|r| r.header == h || r.set_field_header == h)
        .map(Def::Row)
}

fn def_of_name(s: &str) -> Option<Def> {
    let s = s.trim();
    for (i, (mf, nxm, _, count, _, _)) in FAMILIES.iter().enumerate() {
        for prefix in [*mf, *nxm] {
            if let Some(n) = s
                .get(..prefix.len())
                .filter(|p| p.eq_ignore_ascii_case(prefix))
                .and_then(|_| s[prefix.len()..].parse::<u8>().ok())
            {
                return (n < *count).then_some(Def::Family(i, n));
            }
        }
    }
    let name = ALIASES
        .iter()
        .find(|(a, _)| a.eq_ignore_ascii_case(s))
        .map_or(s, |(_, n)| n);
    FIELDS
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(name) || r.nxm_name.eq_ignore_ascii_case(name))
        .map(Def::Row)
}

impl Field {
    fn def(self) -> Option<Def> {
        def_of_header(self.nxm_header())
    }

    /// The field for an NXM/OXM header (hasmask clear): either header OVS knows for it (the
    /// Nicira one or the OF1.3 OXM one) gives the same field. `None` for headers not in
    /// [`FIELDS`] or the register families.
    pub fn from_header(h: u32) -> Option<Field> {
        // Fast path for what policy pipelines load and move: registers and conntrack marks.
        match h {
            0x0001_d604 => return Some(Field::CtMark),
            0x0001_d810 => return Some(Field::CtLabel),
            h if h & 0xffff_e1ff == 0x0001_0004 => return Some(Field::Reg(((h >> 9) & 0xf) as u8)),
            _ => {}
        }
        let canonical = match def_of_header(h)? {
            Def::Row(r) => r.header,
            Def::Family(i, n) => FAMILIES[i].2 + n as u32 * FAMILIES[i].4,
        };
        Some(match canonical {
            0x0001_d604 => Field::CtMark,
            0x0001_d810 => Field::CtLabel,
            0x0000_0002 => Field::InPort,
            0x0000_0406 => Field::EthSrc,
            0x0000_0206 => Field::EthDst,
            h if h & 0xffff_e1ff == 0x0001_0004 => Field::Reg(((h >> 9) & 0xf) as u8),
            h => Field::Nxm(h),
        })
    }

    /// The field for a meta-flow name (`ip_src`, `reg3`, `xxreg1`, aliases such as `nw_src`)
    /// or an NXM/OXM name (`NXM_OF_IP_SRC`, `OXM_OF_PKT_REG1`); case-insensitive.
    pub fn from_name(s: &str) -> Option<Field> {
        let h = match def_of_name(s)? {
            Def::Row(r) => r.header,
            Def::Family(i, n) => FAMILIES[i].2 + n as u32 * FAMILIES[i].4,
        };
        Field::from_header(h)
    }

    /// Width in bits of the values `set_field` writes: [`Field::bits`], except `vlan_vid`,
    /// whose 13th bit is OFPVID_PRESENT (0x1000, OF1.3 §7.2.3.7): `set_field:4196->vlan_vid`
    /// writes VLAN 100 with the present bit, while `load`/`move` see 12 bits (OVS
    /// `mf_is_value_valid`, `MFF_VLAN_VID`).
    pub fn set_field_bits(self) -> u16 {
        match self {
            Field::Nxm(0x8000_0c02) => 13,
            f => f.bits(),
        }
    }

    /// Width in bits (`mf_field.n_bits`).
    pub fn bits(self) -> u16 {
        // The named variants without a table search (what policy pipelines load most).
        match self {
            Field::Reg(_) | Field::CtMark => return 32,
            Field::CtLabel => return 128,
            Field::InPort => return 16,
            Field::EthSrc | Field::EthDst => return 48,
            Field::Nxm(_) => {}
        }
        match self.def() {
            Some(Def::Row(r)) => r.bits,
            Some(Def::Family(i, _)) => FAMILIES[i].5,
            // A header outside the table: its byte length.
            None => (self.nxm_header() & 0xff) as u16 * 8,
        }
    }

    /// Header used in Nicira actions (`NXM_NX_REG3` = 0x00010604, `NXM_OF_IP_SRC` =
    /// 0x00000e04, `OXM_OF_PKT_REG1` = 0x80010208).
    pub fn nxm_header(self) -> u32 {
        match self {
            Field::Reg(n) => 0x0001_0004 | (n as u32 & 0x7f) << 9,
            Field::CtMark => 0x0001_d604,
            Field::CtLabel => 0x0001_d810,
            Field::InPort => 0x0000_0002,
            Field::EthSrc => 0x0000_0406,
            Field::EthDst => 0x0000_0206,
            Field::Nxm(h) => h,
        }
    }

    /// Header OVS uses in OF1.3 OFPAT_SET_FIELD: the OF1.2/1.3 OXM header when the field has
    /// one (`eth_src` 0x80000806), the Nicira header otherwise (`reg3`, `ct_mark`).
    pub fn set_field_header(self) -> u32 {
        match self.def() {
            Some(Def::Row(r)) => r.set_field_header,
            _ => self.nxm_header(),
        }
    }

    /// NXM/OXM name as `load:`/`move:`/`output:` print it (`NXM_NX_REG3`, `NXM_OF_IP_SRC`).
    pub fn nxm_name(self) -> String {
        match self.def() {
            Some(Def::Row(r)) => r.nxm_name.to_string(),
            Some(Def::Family(i, n)) => format!("{}{n}", FAMILIES[i].1),
            None => format!("{:#010x}", self.nxm_header()),
        }
    }

    /// meta-flow name as `set_field:` prints it (`reg3`, `ct_mark`, `eth_src`, `ip_src`).
    pub fn name(self) -> String {
        match self.def() {
            Some(Def::Row(r)) => r.name.to_string(),
            Some(Def::Family(i, n)) => format!("{}{n}", FAMILIES[i].0),
            None => self.nxm_name(),
        }
    }

    /// The 32-bit registers this field is made of, most significant first, as (first, count):
    /// `reg<N>` is (N, 1), `xreg<N>` (2N, 2), `xxreg<N>` (4N, 4) (`meta-flow.h`: "xreg0 is
    /// reg0 and reg1, with reg0 the most significant"). `None` for other fields.
    pub fn registers(self) -> Option<(u8, u8)> {
        match self {
            Field::Reg(n) => Some((n, 1)),
            _ => match self.def()? {
                Def::Family(1, n) => Some((2 * n, 2)),
                Def::Family(2, n) => Some((4 * n, 4)),
                _ => None,
            },
        }
    }

    /// How `set_field:` prints this field's value.
    pub fn value_format(self) -> ValueFormat {
        match self.def() {
            Some(Def::Row(r)) => r.format,
            _ => ValueFormat::Hex,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_round_trips_through_its_headers_and_names() {
        for r in FIELDS {
            let f = Field::from_header(r.header).expect(r.name);
            assert_eq!(f.nxm_header(), r.header, "{}", r.name);
            assert_eq!(
                Field::from_header(r.set_field_header),
                Some(f),
                "{}",
                r.name
            );
            assert_eq!(Field::from_name(r.name), Some(f), "{}", r.name);
            assert_eq!(Field::from_name(r.nxm_name), Some(f), "{}", r.name);
            assert_eq!(f.name(), r.name);
            assert!(r.bits as u32 <= (r.header & 0x7f) * 8, "{}", r.name);
        }
    }

    #[test]
    fn register_families_are_computed() {
        assert_eq!(Field::from_name("reg15"), Some(Field::Reg(15)));
        assert_eq!(Field::from_name("NXM_NX_REG3"), Some(Field::Reg(3)));
        assert_eq!(Field::from_name("reg16"), None);
        let x1 = Field::from_name("xreg1").unwrap();
        assert_eq!(x1.nxm_header(), 0x8001_0208);
        assert_eq!((x1.nxm_name().as_str(), x1.bits()), ("OXM_OF_PKT_REG1", 64));
        let xx3 = Field::from_name("NXM_NX_XXREG3").unwrap();
        assert_eq!(
            (xx3.nxm_header(), xx3.name().as_str()),
            (0x0001_e410, "xxreg3")
        );
        assert_eq!(Field::from_name("xxreg4"), None);
        assert_eq!(x1.registers(), Some((2, 2)));
        assert_eq!(xx3.registers(), Some((12, 4)));
        assert_eq!(Field::CtMark.registers(), None);
    }

    #[test]
    fn the_widths_of_named_variants_agree_with_the_table() {
        for f in [
            Field::Reg(3),
            Field::CtMark,
            Field::CtLabel,
            Field::InPort,
            Field::EthSrc,
            Field::EthDst,
        ] {
            let table = match f.def() {
                Some(Def::Row(r)) => r.bits,
                Some(Def::Family(i, _)) => FAMILIES[i].5,
                None => panic!("{f:?} has no row"),
            };
            assert_eq!(f.bits(), table, "{f:?}");
        }
    }

    #[test]
    fn named_variants_are_canonical() {
        assert_eq!(Field::from_header(0x8000_0806), Some(Field::EthSrc));
        assert_eq!(Field::from_name("ct_mark"), Some(Field::CtMark));
        assert_eq!(Field::from_name("nw_src"), Field::from_header(0x8000_1604));
        assert_eq!(Field::from_header(0x7fff_0004), None);
    }
}
