//! Multimaps as the reverse indexes keep them (pods and groups by node, policies by group,
//! holders by object): a set of values per key, with no empty set left behind.

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

/// Files `value` under `key` (`add`), or unfiles it ([`unfile`]).
pub(crate) fn file<K: Hash + Eq, V: Ord>(
    map: &mut HashMap<K, BTreeSet<V>>,
    key: K,
    value: V,
    add: bool,
) {
    if add {
        map.entry(key).or_default().insert(value);
    } else {
        unfile(map, &key, &value);
    }
}

/// Removes `value` from the set of `key`, and the key when its set empties.
pub(crate) fn unfile<K, Q, V>(map: &mut HashMap<K, BTreeSet<V>>, key: &Q, value: &V)
where
    K: Hash + Eq + Borrow<Q>,
    Q: Hash + Eq + ?Sized,
    V: Ord,
{
    if let Some(s) = map.get_mut(key) {
        s.remove(value);
        if s.is_empty() {
            map.remove(key);
        }
    }
}
