//! Rule and `conj_id` allocation with delayed reuse.
//!
//! An id names a rule in `conj_id` flows, registers, `ct_label` and cookies. It stays with its
//! rule across compiles; when the rule goes, the id rests in quarantine for
//! [`IdAllocator::quarantine`] further allocations before another rule may take it, so a flow or
//! a conntrack entry left from the old rule (a failed bundle, an in-flight packet-in, a
//! `ct_label` of a live connection) is never attributed to a new rule. Pure: [`IdAllocator::next`]
//! returns the new state and leaves the old one untouched.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

/// Allocations an id of a deleted rule waits before it can be reused.
pub const DEFAULT_QUARANTINE: u64 = 4;

/// Ids per key, and the ids waiting for reuse. Serializable (the agent keeps it across its
/// restarts, so a rule keeps its id and its conntrack entries stay attributed to it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "K: Serialize", deserialize = "K: Deserialize<'de> + Ord"))]
pub struct IdAllocator<K: Ord> {
    #[serde(with = "pairs")]
    ids: BTreeMap<K, u32>,
    /// Released ids with the generation that released them, oldest first.
    resting: VecDeque<(u32, u64)>,
    /// Ids whose quarantine is over.
    free: BTreeSet<u32>,
    /// The next never-used id.
    fresh: u32,
    /// Allocations done so far.
    generation: u64,
    /// Allocations a released id waits.
    pub quarantine: u64,
}

/// A map as a list of pairs (JSON map keys must be strings; ours are tuples).
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, K: Serialize, V: Serialize>(
        m: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter())
    }

    pub fn deserialize<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        D: Deserializer<'de>,
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
    {
        Vec::<(K, V)>::deserialize(d).map(|v| v.into_iter().collect())
    }
}

/// All 2^32 - 1 ids are taken or resting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no rule id left: {live} live, {resting} in quarantine")]
pub struct IdsExhausted {
    /// Ids in use.
    pub live: usize,
    /// Ids waiting for reuse.
    pub resting: usize,
}

impl<K: Ord + Clone> Default for IdAllocator<K> {
    fn default() -> Self {
        Self::new(DEFAULT_QUARANTINE)
    }
}

impl<K: Ord + Clone> IdAllocator<K> {
    /// An empty allocator whose released ids wait `quarantine` allocations. Ids start at 1 (0
    /// means "no rule" in registers and `ct_label`).
    pub fn new(quarantine: u64) -> Self {
        IdAllocator {
            ids: BTreeMap::new(),
            resting: VecDeque::new(),
            free: BTreeSet::new(),
            fresh: 1,
            generation: 0,
            quarantine,
        }
    }

    /// The id of `key`, if it has one.
    pub fn get(&self, key: &K) -> Option<u32> {
        self.ids.get(key).copied()
    }

    /// Every `(key, id)`, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&K, u32)> {
        self.ids.iter().map(|(k, v)| (k, *v))
    }

    /// Allocations done so far.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The state after one allocation for exactly the keys in `live`: keys that had an id keep
    /// it; keys not in `live` release theirs into quarantine; new keys take, in the order given,
    /// the lowest id whose quarantine is over, else a never-used one.
    ///
    /// Errors: [`IdsExhausted`] when no id is left.
    pub fn next<'k>(&self, live: impl IntoIterator<Item = &'k K>) -> Result<Self, IdsExhausted>
    where
        K: 'k,
    {
        // Saturating: both come from `allocation.json`, which may hold anything.
        let generation = self.generation.saturating_add(1);
        let mut resting = self.resting.clone();
        let mut free = self.free.clone();
        while let Some(&(id, released)) = resting.front() {
            if released.saturating_add(self.quarantine) >= generation {
                break;
            }
            free.insert(id);
            resting.pop_front();
        }
        let live: Vec<&K> = live.into_iter().collect();
        let wanted: BTreeSet<&K> = live.iter().copied().collect();
        let mut ids = BTreeMap::new();
        for (k, id) in &self.ids {
            if wanted.contains(k) {
                ids.insert(k.clone(), *id);
            } else {
                resting.push_back((*id, generation));
            }
        }
        let mut fresh = self.fresh;
        for k in live {
            if ids.contains_key(k) {
                continue;
            }
            let id = match free.pop_first() {
                Some(id) => id,
                None if fresh != 0 => {
                    fresh = fresh.wrapping_add(1);
                    fresh.wrapping_sub(1)
                }
                None => {
                    return Err(IdsExhausted {
                        live: ids.len(),
                        resting: resting.len(),
                    })
                }
            };
            ids.insert(k.clone(), id);
        }
        Ok(IdAllocator {
            ids,
            resting,
            free,
            fresh,
            generation,
            quarantine: self.quarantine,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_saved_allocation_at_the_counters_limits_allocates_without_overflow() {
        let json = r#"{"ids":[],"resting":[[7,18446744073709551615]],"free":[],"fresh":1,
            "generation":18446744073709551615,"quarantine":18446744073709551615}"#;
        let a: IdAllocator<u32> = serde_json::from_str(json).unwrap();
        let b = a.next(&[1u32]).unwrap();
        assert_eq!(b.generation(), u64::MAX);
        assert_eq!(b.get(&1), Some(1));
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_are_stable_per_key_and_start_at_one() {
        let a = IdAllocator::new(2).next(&["a", "b", "c"]).unwrap();
        assert_eq!(
            (a.get(&"a"), a.get(&"b"), a.get(&"c")),
            (Some(1), Some(2), Some(3))
        );
        let b = a.next(&["c", "a", "d"]).unwrap();
        assert_eq!(
            (b.get(&"a"), b.get(&"c"), b.get(&"d")),
            (Some(1), Some(3), Some(4))
        );
        assert_eq!(b.get(&"b"), None);
    }

    #[test]
    fn a_released_id_is_reused_only_after_the_quarantine() {
        let mut a = IdAllocator::new(2).next(&["a", "b"]).unwrap();
        a = a.next(&["a"]).unwrap(); // b's id 2 rests from generation 2
        a = a.next(&["a", "x"]).unwrap(); // generation 3: still resting
        assert_eq!(a.get(&"x"), Some(3));
        a = a.next(&["a", "x", "y"]).unwrap(); // generation 4: still resting
        assert_eq!(a.get(&"y"), Some(4));
        a = a.next(&["a", "x", "y", "z"]).unwrap(); // generation 5: free again
        assert_eq!(a.get(&"z"), Some(2));
    }

    proptest! {
        /// Random live sets: an id is never shared by two live keys, a key keeps its id while it
        /// stays live, and an id released at generation g is not handed out before
        /// g + quarantine + 1.
        #[test]
        fn no_id_is_reused_inside_its_quarantine(
            q in 0u64..4,
            rounds in prop::collection::vec(prop::collection::btree_set(0u8..20, 0..12), 1..30),
        ) {
            let mut a: IdAllocator<u8> = IdAllocator::new(q);
            let mut released_at: BTreeMap<u32, u64> = BTreeMap::new();
            for live in rounds {
                let b = a.next(&live).unwrap();
                let g = b.generation();
                let mut seen = BTreeSet::new();
                for k in &live {
                    let id = b.get(k).unwrap();
                    prop_assert!(seen.insert(id), "id {id} given twice");
                    if let Some(old) = a.get(k) {
                        prop_assert_eq!(old, id);
                    } else if let Some(r) = released_at.get(&id) {
                        prop_assert!(g > r + q, "id {id} released at {r} reused at {g}");
                    }
                }
                for (k, id) in a.iter() {
                    if !live.contains(k) {
                        released_at.insert(id, g);
                    }
                }
                a = b;
            }
        }
    }
}
