//! Backoff: how long to wait before a restart.
//!
//! The exponential form follows Akka's `restartWithBackoff` (delay doubling from a
//! minimum to a cap, a stable period that resets the count) and fixes its gap: jitter
//! only ever shortens the delay, so no delay exceeds the cap.

mod rng;

use std::time::Duration;

use crate::BackoffError;
pub(crate) use rng::SplitMix64;

/// How long the runtime waits, after stopping the affected children, before it
/// starts them again.
///
/// The exponential delay grows with the failed child's consecutive failures: the
/// `n`th failure in a row (counting from 0) has the nominal delay
/// `min(max, min * 2^n)`, and jitter takes a random fraction, at most `jitter`, off
/// it, so every delay lies in `[nominal * (1 - jitter), nominal]` and never exceeds
/// `max`. The count goes back to 0 when the child exits after running for at least
/// `reset_after`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use reactree_supervisors::Backoff;
///
/// let backoff = Backoff::exponential(
///     Duration::from_millis(100),
///     Duration::from_secs(1),
///     0.2,
///     Duration::from_secs(10),
/// )?;
/// let nominal: Vec<_> = (0..6).map(|n| backoff.nominal_delay(n).as_millis()).collect();
/// assert_eq!(nominal, [100, 200, 400, 800, 1000, 1000]);
/// assert_eq!(backoff.cap(), Duration::from_secs(1));
/// # Ok::<(), reactree_supervisors::BackoffError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Backoff {
    /// Restart at once (OTP's behaviour).
    ///
    /// Use when a restart is cheap and failures are rare; the intensity limit is the
    /// only brake.
    #[default]
    None,
    /// Wait the same delay before every restart (RabbitMQ's `supervisor2`).
    ///
    /// Use when the cause of failures recovers on a known time scale, such as a
    /// peer's reconnect interval.
    Fixed(Duration),
    /// Double the delay per consecutive failure, from `min` up to `max`, with jitter.
    ///
    /// Use when failures come from an outside resource that may be down for a while
    /// (a database, a remote service), so restarts should slow down and spread out.
    Exponential {
        /// The delay before the first restart; must not be zero.
        min: Duration,
        /// The cap; no delay is ever longer. Must be at least `min`.
        max: Duration,
        /// The largest fraction taken off a delay at random, within `0.0..=1.0`.
        jitter: f64,
        /// How long a child must stay up for its failure count to reset.
        reset_after: Duration,
    },
}

impl Backoff {
    /// An exponential backoff, checked.
    ///
    /// # Errors
    ///
    /// See [`Backoff::validate`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reactree_supervisors::{Backoff, BackoffError};
    ///
    /// let secs = Duration::from_secs;
    /// assert!(Backoff::exponential(secs(1), secs(30), 0.1, secs(15)).is_ok());
    /// let inverted = Backoff::exponential(secs(30), secs(1), 0.1, secs(15));
    /// assert!(matches!(inverted, Err(BackoffError::MinAboveMax { .. })));
    /// ```
    pub fn exponential(
        min: Duration,
        max: Duration,
        jitter: f64,
        reset_after: Duration,
    ) -> Result<Self, BackoffError> {
        let backoff = Self::Exponential {
            min,
            max,
            jitter,
            reset_after,
        };
        backoff.validate().map(|()| backoff)
    }

    /// Checks a backoff built from its variants.
    ///
    /// # Errors
    ///
    /// For [`Backoff::Exponential`]: [`BackoffError::ZeroMin`] if `min` is zero (the
    /// delay would never grow), [`BackoffError::MinAboveMax`] if `min > max`, and
    /// [`BackoffError::InvalidJitter`] if `jitter` is NaN or outside `0.0..=1.0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reactree_supervisors::{Backoff, BackoffError};
    ///
    /// let secs = Duration::from_secs;
    /// let nan = Backoff::Exponential { min: secs(1), max: secs(2), jitter: f64::NAN, reset_after: secs(5) };
    /// assert!(matches!(nan.validate(), Err(BackoffError::InvalidJitter { .. })));
    /// assert!(Backoff::Fixed(secs(1)).validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<(), BackoffError> {
        let Self::Exponential {
            min, max, jitter, ..
        } = *self
        else {
            return Ok(());
        };
        if min.is_zero() {
            return Err(BackoffError::ZeroMin);
        }
        if min > max {
            return Err(BackoffError::MinAboveMax { min, max });
        }
        if !(0.0..=1.0).contains(&jitter) {
            return Err(BackoffError::InvalidJitter { jitter });
        }
        Ok(())
    }

    /// The longest delay this backoff can produce.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reactree_supervisors::Backoff;
    ///
    /// assert_eq!(Backoff::None.cap(), Duration::ZERO);
    /// assert_eq!(Backoff::Fixed(Duration::from_secs(2)).cap(), Duration::from_secs(2));
    /// ```
    #[must_use]
    pub const fn cap(&self) -> Duration {
        match *self {
            Self::None => Duration::ZERO,
            Self::Fixed(delay) => delay,
            Self::Exponential { max, .. } => max,
        }
    }

    /// The delay before jitter for the restart that follows `failures` earlier
    /// consecutive failures of the same child.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reactree_supervisors::Backoff;
    ///
    /// let secs = Duration::from_secs;
    /// let backoff = Backoff::exponential(secs(3), secs(30), 0.0, secs(16))?;
    /// assert_eq!(backoff.nominal_delay(0), secs(3));
    /// assert_eq!(backoff.nominal_delay(3), secs(24));
    /// assert_eq!(backoff.nominal_delay(4), secs(30));
    /// assert_eq!(backoff.nominal_delay(u32::MAX), secs(30));
    /// # Ok::<(), reactree_supervisors::BackoffError>(())
    /// ```
    #[must_use]
    pub fn nominal_delay(&self, failures: u32) -> Duration {
        match *self {
            Self::None => Duration::ZERO,
            Self::Fixed(delay) => delay,
            Self::Exponential { min, max, .. } => {
                doubled(min, failures).map_or(max, |d| d.min(max))
            }
        }
    }

    /// How long a child must run for its consecutive-failure count to reset: the
    /// `reset_after` of an exponential backoff, zero otherwise (any run resets it).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reactree_supervisors::Backoff;
    ///
    /// assert_eq!(Backoff::None.stable_period(), Duration::ZERO);
    /// ```
    #[must_use]
    pub const fn stable_period(&self) -> Duration {
        match *self {
            Self::Exponential { reset_after, .. } => reset_after,
            Self::None | Self::Fixed(_) => Duration::ZERO,
        }
    }

    /// The jittered delay for the restart after `failures` consecutive failures.
    pub(crate) fn delay(&self, failures: u32, rng: &mut SplitMix64) -> Duration {
        let nominal = self.nominal_delay(failures);
        match *self {
            Self::Exponential { jitter, .. } if jitter > 0.0 => shorten(nominal, jitter, rng),
            _ => nominal,
        }
    }
}

/// `base * 2^n`, or `None` on overflow.
fn doubled(base: Duration, n: u32) -> Option<Duration> {
    base.checked_mul(1_u32.checked_shl(n)?)
}

/// Takes a random fraction in `[0, jitter)` off `nominal`, in integer nanoseconds so
/// the result is never above `nominal` nor below `nominal * (1 - jitter)`.
fn shorten(nominal: Duration, jitter: f64, rng: &mut SplitMix64) -> Duration {
    // `jitter` is within 0..=1, so the fixed-point scale is within 0..=2^32.
    let scale = (jitter * f64::from(1_u32 << 31) * 2.0) as u128;
    let nanos = nominal.as_nanos();
    // Both products stay below 2^126: `nanos` < 2^94 for any `Duration`.
    let most = (nanos * scale) >> 32;
    let cut = (most * u128::from(rng.next_fraction_u32())) >> 32;
    from_nanos(nanos - cut)
}

fn from_nanos(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // The remainder is below 10^9, so it fits in u32.
    Duration::new(secs, (nanos % NANOS_PER_SEC) as u32)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{SplitMix64, shorten};

    #[test]
    fn full_jitter_never_reaches_zero_nor_exceeds_nominal() {
        let mut rng = SplitMix64::new(7);
        let nominal = Duration::from_nanos(1_000);
        for _ in 0..10_000 {
            let delay = shorten(nominal, 1.0, &mut rng);
            assert!(delay > Duration::ZERO && delay <= nominal, "{delay:?}");
        }
    }

    #[test]
    fn shortening_the_largest_duration_does_not_overflow() {
        let mut rng = SplitMix64::new(1);
        let delay = shorten(Duration::MAX, 0.5, &mut rng);
        assert!(delay <= Duration::MAX && delay >= Duration::MAX / 2);
    }
}
