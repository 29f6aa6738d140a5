//! Fixed-size controller-to-switch bodies: PORT_MOD (§7.3.4.3), TABLE_MOD (§7.3.3),
//! ROLE_REQUEST/REPLY (§7.3.9) and GET_ASYNC_REPLY/SET_ASYNC (§7.3.10).

use crate::flow::MacAddr;
use crate::wire::{exact_len, Reader};
use crate::Error;

open_enum! {
    /// `ofp_controller_role` (OVS prints MASTER as "primary", SLAVE as "secondary").
    pub enum ControllerRole: u32 {
        /// OFPCR_ROLE_NOCHANGE (0).
        NoChange = 0, "nochange";
        /// OFPCR_ROLE_EQUAL (1).
        Equal = 1, "equal";
        /// OFPCR_ROLE_MASTER (2).
        Master = 2, "primary";
        /// OFPCR_ROLE_SLAVE (3).
        Slave = 3, "secondary";
    }
}

/// OFPT_PORT_MOD body (type 16, 32 bytes):
/// `port_no u32 | pad[4] | hw_addr[6] | pad[2] | config u32 | mask u32 | advertise u32 | pad[4]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortMod {
    /// Port.
    pub port_no: u32,
    /// Must equal the port's address (sanity check).
    pub hw_addr: MacAddr,
    /// OFPPC_* bits to set.
    pub config: u32,
    /// OFPPC_* bits to change.
    pub mask: u32,
    /// OFPPF_* features to advertise (0 = unchanged).
    pub advertise: u32,
}

/// OFPT_TABLE_MOD body (type 17, 8 bytes): `table_id u8 | pad[3] | config u32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableMod {
    /// Table (0xff = all).
    pub table_id: u8,
    /// OFPTC_* bits (deprecated in 1.3; 0).
    pub config: u32,
}

/// ROLE_REQUEST / ROLE_REPLY body (types 24/25, 16 bytes): `role u32 | pad[4] | generation_id u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    /// Requested or current role.
    pub role: ControllerRole,
    /// Master election generation (ignored for EQUAL/NOCHANGE).
    pub generation_id: u64,
}

/// GET_ASYNC_REPLY / SET_ASYNC body (types 27/28, 24 bytes): three pairs of reason bitmaps,
/// index 0 for master/equal, 1 for slave; bit n = reason n.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsyncConfig {
    /// PACKET_IN reasons.
    pub packet_in_mask: [u32; 2],
    /// PORT_STATUS reasons.
    pub port_status_mask: [u32; 2],
    /// FLOW_REMOVED reasons.
    pub flow_removed_mask: [u32; 2],
}

impl PortMod {
    /// Append the body.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.port_no.to_be_bytes());
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&self.hw_addr.0);
        buf.extend_from_slice(&[0; 2]);
        for v in [self.config, self.mask, self.advertise, 0] {
            buf.extend_from_slice(&v.to_be_bytes());
        }
    }

    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        exact_len(r, 32, "port_mod")?;
        let port_no = r.u32("port_mod")?;
        r.skip("port_mod", 4)?;
        let mut hw = [0; 6];
        hw.copy_from_slice(r.take("port_mod", 6)?);
        r.skip("port_mod", 2)?;
        let p = PortMod {
            port_no,
            hw_addr: MacAddr(hw),
            config: r.u32("port_mod")?,
            mask: r.u32("port_mod")?,
            advertise: r.u32("port_mod")?,
        };
        r.skip("port_mod", 4)?;
        Ok(p)
    }
}

impl TableMod {
    /// Append the body.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&[self.table_id, 0, 0, 0]);
        buf.extend_from_slice(&self.config.to_be_bytes());
    }

    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        exact_len(r, 8, "table_mod")?;
        let table_id = r.u8("table_mod")?;
        r.skip("table_mod", 3)?;
        Ok(TableMod {
            table_id,
            config: r.u32("table_mod")?,
        })
    }
}

impl Role {
    /// Append the body.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.role.code().to_be_bytes());
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&self.generation_id.to_be_bytes());
    }

    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        exact_len(r, 16, "role")?;
        let role = ControllerRole::from_code(r.u32("role")?);
        r.skip("role", 4)?;
        Ok(Role {
            role,
            generation_id: r.u64("role")?,
        })
    }
}

impl AsyncConfig {
    /// Append the body.
    pub fn emit(&self, buf: &mut Vec<u8>) {
        for v in [
            self.packet_in_mask,
            self.port_status_mask,
            self.flow_removed_mask,
        ]
        .iter()
        .flatten()
        {
            buf.extend_from_slice(&v.to_be_bytes());
        }
    }

    pub(crate) fn parse(r: &mut Reader) -> Result<Self, Error> {
        exact_len(r, 24, "async config")?;
        let mut pair =
            || -> Result<[u32; 2], Error> { Ok([r.u32("async config")?, r.u32("async config")?]) };
        Ok(AsyncConfig {
            packet_in_mask: pair()?,
            port_status_mask: pair()?,
            flow_removed_mask: pair()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_async_matches_protocols_md_live_bytes() {
        let b = [
            0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0, 7, 0, 0, 0, 7, 0, 0, 0, 0xf, 0, 0, 0, 0,
        ];
        let a = AsyncConfig::parse(&mut Reader::new(&b, 8)).unwrap();
        assert_eq!(a.packet_in_mask, [7, 3]);
        let mut out = Vec::new();
        a.emit(&mut out);
        assert_eq!(out, b);
    }

    #[test]
    fn fixed_bodies_reject_other_lengths() {
        let e = PortMod::parse(&mut Reader::new(&[0; 31], 8)).unwrap_err();
        assert!(
            matches!(
                e,
                Error::BadLength {
                    offset: 8,
                    length: 31,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = TableMod::parse(&mut Reader::new(&[0; 7], 8)).unwrap_err();
        assert!(matches!(e, Error::BadLength { length: 7, .. }), "{e:?}");
        let e = Role::parse(&mut Reader::new(&[0; 17], 8)).unwrap_err();
        assert!(matches!(e, Error::BadLength { length: 17, .. }), "{e:?}");
    }
}
