//! A seeded pseudo-random generator for jitter: splitmix64.
//!
//! Jitter needs decorrelation, not cryptographic quality, and the policy must replay
//! exactly from a seed, so a few lines of splitmix64 (Steele, Lea and Flood, 2014)
//! do; every 64-bit seed, zero included, gives a full-period stream.

/// The splitmix64 generator. Invariant: none beyond the state word; any value is valid.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub(crate) const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub(crate) const fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform value in `0..2^32`, as a fraction of `2^32`.
    pub(crate) const fn next_fraction_u32(&mut self) -> u64 {
        self.next_u64() >> 32
    }
}

#[cfg(test)]
mod tests {
    use super::SplitMix64;

    #[test]
    fn matches_the_reference_stream_for_seed_zero() {
        // First outputs of the reference C implementation seeded with 0.
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(rng.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn fractions_stay_below_one() {
        let mut rng = SplitMix64::new(42);
        assert!((0..10_000).all(|_| rng.next_fraction_u32() < 1 << 32));
    }
}
