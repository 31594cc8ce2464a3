//! Searching the ascending keys of a sequence that is mostly used at its ends.
//!
//! A supervisor's children are kept in start order, so their ids (and the runtime's
//! keys) ascend. Undeploys most often take the oldest or the newest child: a plain
//! binary search over a million children would cost some twenty cache misses for
//! either, where galloping from the start costs a few probes near it.

/// Where `key` is among `len` ascending keys (`key_at(i)` is the key at `i`),
/// searching from the start: 1, 2, 4, ... entries in until past it, then by halves
/// below that bound. Costs O(log i) probes for a key at position `i`; `None` if no
/// key equals `key`.
///
/// # Examples
///
/// ```
/// use reactree_supervisors::search::gallop;
///
/// let keys = [3, 5, 8, 13, 21];
/// assert_eq!(gallop(keys.len(), |i| keys[i], 13), Some(3));
/// assert_eq!(gallop(keys.len(), |i| keys[i], 4), None);
/// ```
pub fn gallop(len: usize, key_at: impl Fn(usize) -> u64, key: u64) -> Option<usize> {
    use std::cmp::Ordering;
    let mut low = 0;
    let mut step = 1;
    let mut high = loop {
        let probe = low + step - 1;
        if probe >= len {
            break len;
        }
        match key_at(probe).cmp(&key) {
            Ordering::Equal => return Some(probe),
            Ordering::Greater => break probe,
            Ordering::Less => {
                low = probe + 1;
                step *= 2;
            }
        }
    };
    while low < high {
        let mid = low + (high - low) / 2;
        match key_at(mid).cmp(&key) {
            Ordering::Equal => return Some(mid),
            Ordering::Greater => high = mid,
            Ordering::Less => low = mid + 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::gallop;

    #[test]
    fn gallop_finds_every_key_and_no_other() {
        for len in 0..40usize {
            // Ascending keys with gaps: 10, 13, 16, ...
            let keys: Vec<u64> = (0..len as u64).map(|i| 10 + 3 * i).collect();
            for (i, &key) in keys.iter().enumerate() {
                assert_eq!(
                    gallop(len, |j| keys[j], key),
                    Some(i),
                    "len {len} key {key}"
                );
            }
            for missing in [0, 11, 12, 10 + 3 * len as u64, u64::MAX] {
                assert_eq!(gallop(len, |j| keys[j], missing), None, "len {len}");
            }
        }
    }
}
