//! `ct` and `nat` (NXAST_CT, NXAST_NAT): written and read.

use super::*;

pub(super) fn emit_ct(
    buf: &mut Vec<u8>,
    flags: u16,
    zone: CtZone,
    table: Option<u8>,
    alg: u16,
    exec: &[Action],
) {
    let start = buf.len();
    let (src, word) = match zone {
        CtZone::Imm(z) => (0, z),
        CtZone::Field { field, ofs, n_bits } => (field.nxm_header(), ofs_nbits(ofs, n_bits)),
    };
    let mut a = [0u8; 24];
    a[..4].copy_from_slice(&[0xff, 0xff, 0, 0]);
    a[4..8].copy_from_slice(&NX_VENDOR_ID.to_be_bytes());
    a[8..10].copy_from_slice(&NXAST_CT.to_be_bytes());
    a[10..12].copy_from_slice(&flags.to_be_bytes());
    a[12..16].copy_from_slice(&src.to_be_bytes());
    a[16..18].copy_from_slice(&word.to_be_bytes());
    a[18] = table.unwrap_or(0xff);
    a[22..24].copy_from_slice(&alg.to_be_bytes());
    buf.extend_from_slice(&a);
    for a in exec {
        a.emit(buf);
    }
    finish(buf, start);
}

/// NX_NAT_F_* flags and NX_NAT_RANGE_* bits.
pub(super) mod nat {
    pub const F_SRC: u16 = 1;
    pub const F_DST: u16 = 2;
    pub const F_PERSISTENT: u16 = 4;
    pub const F_HASH: u16 = 8;
    pub const F_RANDOM: u16 = 0x10;
    pub const V4_MIN: u16 = 1;
    pub const V4_MAX: u16 = 2;
    pub const V6_MIN: u16 = 4;
    pub const V6_MAX: u16 = 8;
    pub const P_MIN: u16 = 0x10;
    pub const P_MAX: u16 = 0x20;
}

pub(super) fn emit_nat(buf: &mut Vec<u8>, n: &Nat) {
    let start = nx_header(buf, NXAST_NAT);
    buf.extend_from_slice(&[0, 0]);
    let mut flags = match n.src {
        Some(true) => nat::F_SRC,
        Some(false) => nat::F_DST,
        None => 0,
    };
    for (on, bit) in [
        (n.persistent, nat::F_PERSISTENT),
        (n.hash, nat::F_HASH),
        (n.random, nat::F_RANDOM),
    ] {
        if on {
            flags |= bit;
        }
    }
    buf.extend_from_slice(&flags.to_be_bytes());
    let present_at = buf.len();
    buf.extend_from_slice(&[0, 0]);
    let mut present = 0u16;
    match n.addr {
        Some(NatAddr::V4(min, max)) => {
            present |= nat::V4_MIN;
            buf.extend_from_slice(&min.octets());
            if let Some(max) = max {
                present |= nat::V4_MAX;
                buf.extend_from_slice(&max.octets());
            }
        }
        Some(NatAddr::V6(min, max)) => {
            present |= nat::V6_MIN;
            buf.extend_from_slice(&min.octets());
            if let Some(max) = max {
                present |= nat::V6_MAX;
                buf.extend_from_slice(&max.octets());
            }
        }
        None => {}
    }
    if let Some((min, max)) = n.ports {
        present |= nat::P_MIN;
        buf.extend_from_slice(&min.to_be_bytes());
        if let Some(max) = max {
            present |= nat::P_MAX;
            buf.extend_from_slice(&max.to_be_bytes());
        }
    }
    put_u16_at(buf, present_at, present);
    finish(buf, start);
}

/// Decode a NAT body (after the subtype); `None` for forms the model does not express.
pub(super) fn parse_nat(r: &mut Reader) -> Option<Nat> {
    if r.u16("nat pad").ok()? != 0 {
        return None;
    }
    let flags = r.u16("nat flags").ok()?;
    let present = r.u16("nat range_present").ok()?;
    let src = match flags & (nat::F_SRC | nat::F_DST) {
        0 => None,
        nat::F_SRC => Some(true),
        nat::F_DST => Some(false),
        _ => return None,
    };
    if flags & !0x1f != 0 || present & !0x3f != 0 {
        return None;
    }
    if src.is_none() && (flags != 0 || present != 0) {
        return None;
    }
    let has = |b: u16| present & b != 0;
    if (has(nat::V4_MAX) && !has(nat::V4_MIN))
        || (has(nat::V6_MAX) && !has(nat::V6_MIN))
        || (has(nat::P_MAX) && !has(nat::P_MIN))
        || (has(nat::V4_MIN) && has(nat::V6_MIN))
    {
        return None;
    }
    let v4 = |r: &mut Reader| -> Option<Ipv4Addr> {
        let b = r.take("nat ipv4", 4).ok()?;
        Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    };
    let v6 = |r: &mut Reader| -> Option<Ipv6Addr> {
        let b: [u8; 16] = r.take("nat ipv6", 16).ok()?.try_into().ok()?;
        Some(Ipv6Addr::from(b))
    };
    let addr = if has(nat::V4_MIN) {
        let min = v4(r)?;
        let max = if has(nat::V4_MAX) { Some(v4(r)?) } else { None };
        if min.is_unspecified() || max.is_some_and(|m| m.is_unspecified()) {
            return None;
        }
        Some(NatAddr::V4(min, max))
    } else if has(nat::V6_MIN) {
        let min = v6(r)?;
        let max = if has(nat::V6_MAX) { Some(v6(r)?) } else { None };
        if min.is_unspecified() || max.is_some_and(|m| m.is_unspecified()) {
            return None;
        }
        Some(NatAddr::V6(min, max))
    } else {
        None
    };
    let ports = if has(nat::P_MIN) {
        let min = r.u16("nat port min").ok()?;
        let max = if has(nat::P_MAX) {
            Some(r.u16("nat port max").ok()?)
        } else {
            None
        };
        if min == 0 || max == Some(0) {
            return None;
        }
        Some((min, max))
    } else {
        None
    };
    // OVS prints a port range only after an address.
    if ports.is_some() && addr.is_none() {
        return None;
    }
    if r.rest().iter().any(|b| *b != 0) {
        return None;
    }
    Some(Nat {
        src,
        persistent: flags & nat::F_PERSISTENT != 0,
        hash: flags & nat::F_HASH != 0,
        random: flags & nat::F_RANDOM != 0,
        addr,
        ports,
    })
}
