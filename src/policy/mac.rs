//! The MAC conventions of the cluster model: the default MAC of a pod without one, and the
//! `aa:bb:cc:dd:ee:ff` text form.

use std::net::Ipv4Addr;

/// The MAC of a pod without one in the cluster model: `0a:58` + its IPv4 address, as the
/// Kubernetes bridge CNI plugin derives it.
pub fn default_mac(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x0a, 0x58, o[0], o[1], o[2], o[3]]
}

/// Formats a MAC as `aa:bb:cc:dd:ee:ff`.
pub fn mac_string(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_mac_embeds_the_ip() {
        assert_eq!(
            mac_string(default_mac(Ipv4Addr::new(10, 10, 1, 11))),
            "0a:58:0a:0a:01:0b"
        );
    }
}
