//! Order-maintaining OpenFlow priority allocation with gaps.
//!
//! A tiered table realizes "first match wins" by giving every rule its own priority, strictly
//! decreasing in precedence order. Counting down from the top of the band renumbers every rule
//! below an inserted one; Antrea's `priorityAssigner` avoids that with gaps and local
//! reassignment (`reference/antrea.md` §2.3). [`PriorityAllocator::assign`] does the same as a
//! pure function: previous assignment and new order in, new assignment and the moves out.
//!
//! 1. Keep the largest set of existing rules whose previous priorities are still strictly
//!    decreasing in the new order (a longest decreasing subsequence): every other existing rule
//!    has to move anyway.
//! 2. Place each run of unplaced rules evenly in the gap between its kept neighbours (or the
//!    band edges), so a fresh table is spread across the band and an insert lands mid-gap.
//! 3. When a gap is too small, widen the region one neighbour at a time, preferring neighbours
//!    that are themselves new (free to move), then the side that frees more slots, and spread
//!    the region evenly: only that region is renumbered.

use std::collections::BTreeMap;

/// A priority band `lo..=hi` of one table and the allocator for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriorityAllocator {
    /// Lowest priority a rule may take.
    pub lo: u16,
    /// Highest priority a rule may take.
    pub hi: u16,
}

/// A rule whose priority changed between two assignments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move<K> {
    /// Which rule.
    pub key: K,
    /// Its previous priority.
    pub from: u16,
    /// Its new priority.
    pub to: u16,
}

/// The result of [`PriorityAllocator::assign`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment<K> {
    /// `(rule, priority)` in the order given, priorities strictly decreasing.
    pub priorities: Vec<(K, u16)>,
    /// Rules that had a priority before and have another one now, in order.
    pub moves: Vec<Move<K>>,
}

impl<K: Ord> Assignment<K> {
    /// The assignment as a map, to pass as `previous` to the next [`PriorityAllocator::assign`].
    pub fn to_map(&self) -> BTreeMap<K, u16>
    where
        K: Clone,
    {
        self.priorities.iter().cloned().collect()
    }
}

/// More rules than priorities in the band.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rules} rules do not fit the priority band {lo}..={hi}")]
pub struct BandFull {
    /// Rules asked for.
    pub rules: usize,
    /// The band's lowest priority.
    pub lo: u16,
    /// The band's highest priority.
    pub hi: u16,
}

impl PriorityAllocator {
    /// The allocator of the band `lo..=hi` (`lo <= hi`).
    pub const fn new(lo: u16, hi: u16) -> Self {
        assert!(lo <= hi);
        PriorityAllocator { lo, hi }
    }

    /// How many rules the band holds.
    pub fn capacity(&self) -> usize {
        usize::from(self.hi - self.lo) + 1
    }

    /// Assigns priorities to `order` (highest precedence first), keeping the `previous`
    /// priority of every rule the new order allows and renumbering only where a gap ran out.
    /// Previous priorities outside the band are treated as absent (the rule moves). Keys must
    /// be distinct.
    ///
    /// Errors: [`BandFull`] when `order` has more rules than the band has priorities.
    pub fn assign<K: Ord + Clone>(
        &self,
        previous: &BTreeMap<K, u16>,
        order: &[K],
    ) -> Result<Assignment<K>, BandFull> {
        let n = order.len();
        if n > self.capacity() {
            return Err(BandFull {
                rules: n,
                lo: self.lo,
                hi: self.hi,
            });
        }
        let prev: Vec<Option<u16>> = order
            .iter()
            .map(|k| {
                previous
                    .get(k)
                    .copied()
                    .filter(|p| (self.lo..=self.hi).contains(p))
            })
            .collect();
        // Slot values as i32 so the band edges can be written hi + 1 and lo - 1.
        let mut prio: Vec<Option<i32>> = vec![None; n];
        for i in longest_decreasing(&prev) {
            prio[i] = prev[i].map(i32::from);
        }
        let top = i32::from(self.hi) + 1;
        let bottom = i32::from(self.lo) - 1;
        let mut i = 0;
        while i < n {
            if prio[i].is_some() {
                i += 1;
                continue;
            }
            let mut end = i;
            while end < n && prio[end].is_none() {
                end += 1;
            }
            // The region [start, end) is placed strictly between `upper` and `lower`.
            let mut start = i;
            let bound_above = |s: usize, prio: &[Option<i32>]| {
                if s == 0 {
                    top
                } else {
                    prio[s - 1].expect("placed")
                }
            };
            let bound_below = |e: usize, prio: &[Option<i32>]| {
                if e == n {
                    bottom
                } else {
                    prio[e].expect("placed")
                }
            };
            loop {
                let (upper, lower) = (bound_above(start, &prio), bound_below(end, &prio));
                if (upper - lower - 1) as usize >= end - start {
                    break;
                }
                // Widen by one neighbour: a new rule is free to move, an existing one costs a
                // move; between equals, the side that frees more slots.
                let up = (start > 0).then(|| {
                    let cost = usize::from(prev[start - 1].is_some());
                    (cost, bound_above(start - 1, &prio) - upper)
                });
                let down = (end < n).then(|| {
                    let cost = usize::from(prev[end].is_some());
                    (cost, lower - bound_below(end + 1, &prio))
                });
                let take_up = match (up, down) {
                    (Some((cu, gu)), Some((cd, gd))) => (cu, -gu) <= (cd, -gd),
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                    (None, None) => unreachable!("the band holds every rule"),
                };
                if take_up {
                    start -= 1;
                    prio[start] = None;
                } else {
                    prio[end] = None;
                    end += 1;
                }
            }
            let (upper, lower) = (bound_above(start, &prio), bound_below(end, &prio));
            spread(&mut prio[start..end], upper, lower);
            i = end;
        }
        let mut out = Assignment {
            priorities: Vec::with_capacity(n),
            moves: Vec::new(),
        };
        for (k, p) in order.iter().zip(prio) {
            let p = p.expect("every rule placed") as u16;
            if let Some(from) = previous.get(k).copied().filter(|from| *from != p) {
                out.moves.push(Move {
                    key: k.clone(),
                    from,
                    to: p,
                });
            }
            out.priorities.push((k.clone(), p));
        }
        Ok(out)
    }
}

/// Places `slots.len()` priorities evenly strictly between `upper` and `lower`, decreasing.
/// The caller guarantees `upper - lower - 1 >= slots.len()`.
fn spread(slots: &mut [Option<i32>], upper: i32, lower: i32) {
    let d = i64::from(upper - lower);
    let parts = slots.len() as i64 + 1;
    for (i, s) in slots.iter_mut().enumerate() {
        *s = Some(upper - ((i as i64 + 1) * d / parts) as i32);
    }
}

/// Indices of a longest strictly decreasing subsequence of the `Some` values, ascending.
fn longest_decreasing(values: &[Option<u16>]) -> Vec<usize> {
    // Patience sorting on the negated values (strictly increasing): `tails[l]` is the index
    // ending the best subsequence of length l + 1, `parent` links back.
    let mut tails: Vec<usize> = Vec::new();
    let mut parent: Vec<Option<usize>> = vec![None; values.len()];
    for (i, v) in values.iter().enumerate() {
        let Some(v) = v else { continue };
        let key = -i32::from(*v);
        let l = tails.partition_point(|&t| -i32::from(values[t].expect("some")) < key);
        parent[i] = l.checked_sub(1).map(|p| tails[p]);
        if l == tails.len() {
            tails.push(i);
        } else {
            tails[l] = i;
        }
    }
    let mut out = Vec::with_capacity(tails.len());
    let mut cur = tails.last().copied();
    while let Some(i) = cur {
        out.push(i);
        cur = parent[i];
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys(n: usize) -> Vec<u32> {
        (0..n as u32).collect()
    }

    fn is_strictly_decreasing_in_band(a: &Assignment<u32>, alloc: PriorityAllocator) -> bool {
        a.priorities.windows(2).all(|w| w[0].1 > w[1].1)
            && a.priorities
                .iter()
                .all(|(_, p)| (alloc.lo..=alloc.hi).contains(p))
    }

    #[test]
    fn a_fresh_table_is_spread_across_the_band() {
        let alloc = PriorityAllocator::new(1000, 60000);
        let a = alloc.assign(&BTreeMap::new(), &keys(3)).unwrap();
        let p: Vec<u16> = a.priorities.iter().map(|(_, p)| *p).collect();
        assert_eq!(p, vec![45251, 30500, 15750]);
        assert!(a.moves.is_empty());
    }

    #[test]
    fn an_insert_in_the_middle_lands_in_the_gap_without_moves() {
        let alloc = PriorityAllocator::new(1000, 60000);
        let first = alloc.assign(&BTreeMap::new(), &keys(10)).unwrap();
        let mut order = keys(10);
        order.insert(5, 100);
        let second = alloc.assign(&first.to_map(), &order).unwrap();
        assert!(second.moves.is_empty());
        assert!(is_strictly_decreasing_in_band(&second, alloc));
        for (k, p) in &first.priorities {
            assert_eq!(second.to_map()[k], *p);
        }
    }

    #[test]
    fn an_exhausted_gap_renumbers_a_small_region() {
        // Band 1..=10, rules at 10, 9, 8 and 3: inserting two between 9 and 8 must move 8 (or
        // 9), not the whole table.
        let alloc = PriorityAllocator::new(1, 10);
        let prev: BTreeMap<u32, u16> = [(0, 10), (1, 9), (2, 8), (3, 3)].into();
        let a = alloc.assign(&prev, &[0, 1, 50, 51, 2, 3]).unwrap();
        assert!(is_strictly_decreasing_in_band(&a, alloc), "{a:?}");
        assert_eq!(a.moves.len(), 1, "{a:?}");
        assert_eq!(a.moves[0].key, 2);
    }

    #[test]
    fn a_reorder_moves_only_the_rules_out_of_order() {
        let alloc = PriorityAllocator::new(1000, 60000);
        let first = alloc.assign(&BTreeMap::new(), &keys(5)).unwrap();
        let second = alloc.assign(&first.to_map(), &[0, 3, 1, 2, 4]).unwrap();
        assert_eq!(second.moves.len(), 1);
        assert_eq!(second.moves[0].key, 3);
    }

    #[test]
    fn a_full_band_is_an_error() {
        let alloc = PriorityAllocator::new(10, 12);
        assert!(alloc.assign(&BTreeMap::new(), &keys(3)).is_ok());
        assert_eq!(
            alloc.assign(&BTreeMap::new(), &keys(4)),
            Err(BandFull {
                rules: 4,
                lo: 10,
                hi: 12
            })
        );
    }

    proptest! {
        /// Random edit sequences (inserts, deletes, swaps) on a small band: the order always
        /// holds, priorities stay in the band, and a rule only moves when it must.
        #[test]
        fn order_is_preserved_and_moves_happen_only_when_a_gap_runs_out(
            lo in 0u16..100,
            width in 1u16..200,
            ops in prop::collection::vec((0u8..3, any::<prop::sample::Index>()), 1..60),
        ) {
            let alloc = PriorityAllocator::new(lo, lo + width);
            let mut order: Vec<u32> = Vec::new();
            let mut prev = BTreeMap::new();
            let mut next_key = 0u32;
            for (op, at) in ops {
                let gap_before;
                match op {
                    0 if order.len() < alloc.capacity() => {
                        let pos = at.index(order.len() + 1);
                        let upper = if pos == 0 {
                            i32::from(lo + width) + 1
                        } else {
                            i32::from(prev[&order[pos - 1]])
                        };
                        let lower = if pos == order.len() {
                            i32::from(lo) - 1
                        } else {
                            i32::from(prev[&order[pos]])
                        };
                        gap_before = Some(upper - lower > 1);
                        order.insert(pos, next_key);
                        next_key += 1;
                    }
                    1 if !order.is_empty() => {
                        order.remove(at.index(order.len()));
                        gap_before = Some(true);
                    }
                    2 if order.len() >= 2 => {
                        let i = at.index(order.len() - 1);
                        order.swap(i, i + 1);
                        gap_before = None;
                    }
                    _ => continue,
                }
                let a = alloc.assign(&prev, &order).unwrap();
                prop_assert!(a.priorities.windows(2).all(|w| w[0].1 > w[1].1), "{a:?}");
                prop_assert!(a.priorities.iter().all(|(_, p)| (lo..=lo + width).contains(p)));
                if gap_before == Some(true) {
                    prop_assert!(a.moves.is_empty(), "{a:?}");
                }
                prev = a.to_map();
            }
        }
    }
}
