//! The policy's clock: a [`Timestamp`] is a point in time given by the caller.
//!
//! The policy never reads a clock. Every event carries `now`, measured as the time
//! elapsed since an origin the caller picks once (the runtime uses the moment the
//! supervisor was built). Tests drive the policy with any sequence of timestamps.

use std::ops::Add;
use std::time::{Duration, Instant};

/// A point in time, as the [`Duration`] elapsed since an origin chosen by the caller.
///
/// The policy compares timestamps only with each other, so the origin does not matter
/// as long as one policy always uses the same one. The runtime converts from
/// [`std::time::Instant`] with [`Timestamp::since`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use reactree_supervisors::Timestamp;
///
/// let start = Timestamp::ZERO;
/// let later = start + Duration::from_secs(2);
/// assert_eq!(later.saturating_duration_since(start), Duration::from_secs(2));
/// assert_eq!(start.saturating_duration_since(later), Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(Duration);

impl Timestamp {
    /// The origin.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reactree_supervisors::Timestamp;
    ///
    /// assert_eq!(Timestamp::ZERO.elapsed(), Duration::ZERO);
    /// ```
    pub const ZERO: Self = Self(Duration::ZERO);

    /// The timestamp `elapsed` after the origin.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reactree_supervisors::Timestamp;
    ///
    /// let t = Timestamp::from_elapsed(Duration::from_millis(1500));
    /// assert_eq!(t.elapsed(), Duration::from_millis(1500));
    /// ```
    #[must_use]
    pub const fn from_elapsed(elapsed: Duration) -> Self {
        Self(elapsed)
    }

    /// The timestamp of `now`, measured from `origin`; zero if `now` is before `origin`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use reactree_supervisors::Timestamp;
    ///
    /// let origin = Instant::now();
    /// let now = origin + Duration::from_secs(3);
    /// assert_eq!(Timestamp::since(origin, now).elapsed(), Duration::from_secs(3));
    /// ```
    #[must_use]
    pub fn since(origin: Instant, now: Instant) -> Self {
        Self(now.saturating_duration_since(origin))
    }

    /// The time elapsed since the origin.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reactree_supervisors::Timestamp;
    ///
    /// let t = Timestamp::from_elapsed(Duration::from_secs(7));
    /// assert_eq!(t.elapsed().as_secs(), 7);
    /// ```
    #[must_use]
    pub const fn elapsed(self) -> Duration {
        self.0
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reactree_supervisors::Timestamp;
    ///
    /// let a = Timestamp::from_elapsed(Duration::from_secs(1));
    /// let b = Timestamp::from_elapsed(Duration::from_secs(4));
    /// assert_eq!(b.saturating_duration_since(a), Duration::from_secs(3));
    /// ```
    #[must_use]
    pub const fn saturating_duration_since(self, earlier: Self) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Timestamp {
    type Output = Self;

    /// # Panics
    ///
    /// Panics on overflow, like `Duration + Duration`.
    fn add(self, rhs: Duration) -> Self {
        Self(self.0 + rhs)
    }
}

impl From<Duration> for Timestamp {
    fn from(elapsed: Duration) -> Self {
        Self(elapsed)
    }
}
