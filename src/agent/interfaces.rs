//! Pod interfaces on the node: the host-side name of a pod's veth, the same when the pod is
//! created (the CNI step) and when the agent attaches it to the bridge.
//!
//! A name is a prefix and a 32-bit hash, so two pods can get the same name
//! (`tenant/web-329599` and `tenant/web-532382` do with the prefix `kk`). Both would then be
//! attached to one OVS port, and each would pass the other's spoof guard. [`assign_host_ifnames`]
//! gives each name to one pod only: the first in the order given keeps it, every other pod
//! that hashes to it is refused with a [`IfnameCollision`] naming both pods.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::policy::resolved::PodKey;

/// The most bytes of the prefix kept: 7 bytes and 8 hex digits fill IFNAMSIZ (15 bytes).
pub const MAX_PREFIX_BYTES: usize = 7;

/// The host-side interface name of a pod: `<prefix><8 hex digits of FNV-1a("ns/name")>`,
/// at most 15 bytes (IFNAMSIZ). The same function names the interface when the pod is created
/// (the CNI step) and when the agent attaches it to the bridge, like Antrea's
/// `GenerateContainerInterfaceName`. The prefix is cut to at most [`MAX_PREFIX_BYTES`] bytes at
/// a character boundary ([`check_prefix`] is what the agent accepts).
pub fn host_ifname(prefix: &str, namespace: &str, name: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in namespace.bytes().chain([b'/']).chain(name.bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let mut cut = prefix.len().min(MAX_PREFIX_BYTES);
    while !prefix.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut s = String::from(&prefix[..cut]);
    let _ = write!(s, "{h:08x}");
    s
}

/// Checks an `--ifname-prefix`: 1 to [`MAX_PREFIX_BYTES`] ASCII letters, digits, `-` or `_`
/// (a Linux interface name may not hold `/`, `:` or white space, and tools quote little else).
///
/// Errors: a sentence naming the prefix and what is wrong with it.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.len() > MAX_PREFIX_BYTES {
        return Err(format!(
            "interface name prefix {prefix:?}: must be 1 to {MAX_PREFIX_BYTES} bytes"
        ));
    }
    if let Some(c) = prefix
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "interface name prefix {prefix:?}: {c:?} is not an ASCII letter, digit, '-' or '_'"
        ));
    }
    Ok(())
}

/// A pod not attached because its host interface name is already another pod's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfnameCollision {
    /// The interface name both pods hash to.
    pub ifname: String,
    /// The pod that keeps the name.
    pub holder: PodKey,
    /// The pod refused.
    pub refused: PodKey,
}

impl std::fmt::Display for IfnameCollision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pod {}: not attached: its host interface name {} is also pod {}'s (hash \
             collision); rename one of the pods",
            self.refused, self.ifname, self.holder
        )
    }
}

/// Host interface names for `pods`, each name given to one pod only: the first pod in the
/// order of `pods` keeps a name, every later pod hashing to it is refused. Callers list the
/// pods that already hold a port first, so a new pod never takes an attached pod's port.
pub fn assign_host_ifnames<'a>(
    prefix: &str,
    pods: impl IntoIterator<Item = &'a PodKey>,
) -> (BTreeMap<PodKey, String>, Vec<IfnameCollision>) {
    let mut by_name: BTreeMap<String, &PodKey> = BTreeMap::new();
    let mut names = BTreeMap::new();
    let mut refused = Vec::new();
    for key in pods {
        if names.contains_key(key) {
            continue;
        }
        let ifname = host_ifname(prefix, &key.namespace, &key.name);
        match by_name.get(&ifname) {
            Some(holder) => refused.push(IfnameCollision {
                ifname,
                holder: (*holder).clone(),
                refused: key.clone(),
            }),
            None => {
                by_name.insert(ifname.clone(), key);
                names.insert(key.clone(), ifname);
            }
        }
    }
    (names, refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ns: &str, name: &str) -> PodKey {
        PodKey {
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn host_interface_names_fit_ifnamsiz_and_are_stable() {
        let a = host_ifname("kk", "x", "a");
        assert_eq!(a, host_ifname("kk", "x", "a"));
        assert_ne!(a, host_ifname("kk", "x", "b"));
        assert!(host_ifname("longprefix", "namespace", "pod").len() <= 15);
        assert!(a.starts_with("kk"));
    }

    #[test]
    fn a_non_ascii_prefix_is_cut_at_a_character_boundary_and_refused_by_the_check() {
        // "kkkkkké" is 8 bytes; byte 7 falls inside the 'é'.
        let name = host_ifname("kkkkkké", "x", "a");
        assert!(name.starts_with("kkkkkk") && name.len() == 14, "{name}");
        assert!(check_prefix("kkkkkké").unwrap_err().contains("\"kkkkkké\""));
        assert!(check_prefix("ké").unwrap_err().contains("'é'"));
        assert!(check_prefix("").is_err());
        assert!(check_prefix("a/b").is_err());
        check_prefix("kk").unwrap();
        check_prefix("k-8_x").unwrap();
    }

    #[test]
    fn two_pods_whose_names_hash_alike_are_not_given_one_interface() {
        let (a, b) = (key("tenant", "web-329599"), key("tenant", "web-532382"));
        // The collision the review found, with the agent's default prefix.
        assert_eq!(
            host_ifname("kk", &a.namespace, &a.name),
            host_ifname("kk", &b.namespace, &b.name)
        );
        let other = key("tenant", "db");
        let (names, refused) = assign_host_ifnames("kk", [&a, &other, &b]);
        assert_eq!(names.len(), 2);
        assert_eq!(names[&a], host_ifname("kk", "tenant", "web-329599"));
        assert!(names.contains_key(&other) && !names.contains_key(&b));
        assert_eq!(
            refused,
            vec![IfnameCollision {
                ifname: names[&a].clone(),
                holder: a.clone(),
                refused: b.clone(),
            }]
        );
        let msg = refused[0].to_string();
        assert!(
            msg.contains("tenant/web-532382") && msg.contains("tenant/web-329599"),
            "{msg}"
        );
        // The order decides who keeps the name.
        let (names, refused) = assign_host_ifnames("kk", [&b, &a]);
        assert!(names.contains_key(&b) && refused[0].refused == a);
    }
}
