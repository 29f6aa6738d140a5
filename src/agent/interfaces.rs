//! Pod interfaces on the node: the host-side name of a pod's veth, the same when the pod is
//! created (the CNI step) and when the agent attaches it to the bridge.

use std::fmt::Write as _;

/// The host-side interface name of a pod: `<prefix><8 hex digits of FNV-1a("ns/name")>`,
/// at most 15 bytes (IFNAMSIZ). The same function names the interface when the pod is created
/// (the CNI step) and when the agent attaches it to the bridge, like Antrea's
/// `GenerateContainerInterfaceName`.
pub fn host_ifname(prefix: &str, namespace: &str, name: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in namespace.bytes().chain([b'/']).chain(name.bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let mut s = String::new();
    s.push_str(&prefix[..prefix.len().min(7)]);
    let _ = write!(s, "{h:08x}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_interface_names_fit_ifnamsiz_and_are_stable() {
        let a = host_ifname("kk", "x", "a");
        assert_eq!(a, host_ifname("kk", "x", "a"));
        assert_ne!(a, host_ifname("kk", "x", "b"));
        assert!(host_ifname("longprefix", "namespace", "pod").len() <= 15);
        assert!(a.starts_with("kk"));
    }
}
