//! Removing entries from a long ordered table without moving the others.
//!
//! A supervisor's children (and its policy's) are kept in start order in a deque and
//! found by searching their ascending ids or keys. Removing one from the middle of a
//! deque moves up to half of the entries: O(n) per removal, and O(n²) to undeploy many
//! in a scattered order. Instead, an entry removed from the middle is *buried*: it
//! stays in place as a tombstone that keeps its key for the searches and is skipped by
//! everything else, and the table's owner sweeps the tombstones once they outnumber the
//! live entries ([`should_sweep`]), so the table stays within twice its live entries
//! and a removal costs O(1) amortized. Entries at an end, or within [`NEAR`] of one,
//! are removed outright, as before: that moves few entries and leaves no tombstone.

use std::collections::VecDeque;

/// Entries closer than this to an end are removed outright rather than buried (moving
/// fewer than this many); tombstones are swept only past this many.
pub const NEAR: usize = 32;

/// Removes the entry at `at` from `list`, in which entries for which `is_gone` holds
/// are tombstones. At an end, or within [`NEAR`] of one, it leaves the list, with any
/// tombstones it would leave at that end; in the middle, `bury` makes it a tombstone
/// in place. Returns the entry if it left the list (`None` if it was buried) and how
/// many tombstones left with it. Positions after `at` shift down by one when the
/// entry leaves, and stay when it is buried.
///
/// # Panics
///
/// If `at` is out of bounds.
///
/// # Examples
///
/// ```
/// use std::collections::VecDeque;
/// use reactree_supervisors::tombstones::remove;
///
/// // (key, gone)
/// let mut list: VecDeque<(u32, bool)> = (0..100).map(|k| (k, false)).collect();
/// // From the middle: buried in place.
/// assert_eq!(remove(&mut list, 50, |e| e.1, |e| e.1 = true), (None, 0));
/// assert_eq!(list.len(), 100);
/// // Near the start: removed outright.
/// assert_eq!(remove(&mut list, 1, |e| e.1, |e| e.1 = true), (Some((1, false)), 0));
/// assert_eq!(list.len(), 99);
/// ```
pub fn remove<T>(
    list: &mut VecDeque<T>,
    at: usize,
    is_gone: impl Fn(&T) -> bool,
    bury: impl FnOnce(&mut T),
) -> (Option<T>, usize) {
    let len = list.len();
    assert!(at < len, "removing entry {at} of {len}");
    let mut dropped = 0;
    if at + 1 == len {
        let entry = list.pop_back();
        while list.back().is_some_and(&is_gone) {
            list.pop_back();
            dropped += 1;
        }
        (entry, dropped)
    } else if at == 0 {
        let entry = list.pop_front();
        while list.front().is_some_and(&is_gone) {
            list.pop_front();
            dropped += 1;
        }
        (entry, dropped)
    } else if at.min(len - 1 - at) < NEAR {
        // Near an end, not at it: the ends stay as they were.
        (list.remove(at), 0)
    } else {
        bury(&mut list[at]);
        (None, 0)
    }
}

/// Whether a table of `len` entries, `gone` of them tombstones, should be swept now:
/// once the tombstones outnumber the live entries (and [`NEAR`]).
///
/// # Examples
///
/// ```
/// use reactree_supervisors::tombstones::should_sweep;
///
/// assert!(!should_sweep(10, 6));
/// assert!(!should_sweep(100, 40));
/// assert!(should_sweep(100, 51));
/// ```
#[must_use]
pub const fn should_sweep(len: usize, gone: usize) -> bool {
    gone > NEAR && 2 * gone > len
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Removing every entry of a long table in a scattered order: each removal takes
    /// exactly the entry asked for (the live entries stay in order, the ends are never
    /// tombstones), and with sweeps as `should_sweep` says, the table stays within
    /// twice its live entries (plus `NEAR`).
    #[test]
    fn scattered_removals_keep_order_ends_and_bounds() {
        const COUNT: u32 = 1_000;
        let mut list: VecDeque<(u32, bool)> = (0..COUNT).map(|k| (k, false)).collect();
        let mut gone = 0;
        let mut live: Vec<u32> = (0..COUNT).collect();
        for step in 0..COUNT {
            let key = (step * 7) % COUNT;
            let at = list.binary_search_by_key(&key, |e| e.0).expect("present");
            let (taken, dropped) = remove(&mut list, at, |e| e.1, |e| e.1 = true);
            match taken {
                Some(entry) => assert_eq!(entry, (key, false)),
                None => gone += 1,
            }
            gone -= dropped;
            if should_sweep(list.len(), gone) {
                list.retain(|e| !e.1);
                gone = 0;
            }
            live.retain(|&k| k != key);
            let listed: Vec<u32> = list.iter().filter(|e| !e.1).map(|e| e.0).collect();
            assert_eq!(listed, live);
            assert_eq!(list.iter().filter(|e| e.1).count(), gone);
            assert!(list.front().is_none_or(|e| !e.1));
            assert!(list.back().is_none_or(|e| !e.1));
            assert!(list.len() <= 2 * live.len() + NEAR + 1);
        }
        assert!(list.is_empty());
    }
}
