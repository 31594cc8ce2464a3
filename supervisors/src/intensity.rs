//! Restart intensity: how many restarts a supervisor may make in a sliding window
//! before it gives up and escalates to its parent.
//!
//! # Window semantics
//!
//! A restart made at `t` counts against the budget at `now` while
//! `now - t < window`: the window is half-open, so a restart made exactly `window`
//! ago no longer counts. Hence any half-open interval `[s, s + window)` holds at
//! most `max_restarts` restarts. (OTP counts whole seconds and keeps the boundary
//! second; with sub-second timestamps the half-open form is the one that states a
//! clean limit.)

use std::collections::VecDeque;
use std::time::Duration;

use crate::{IntensityError, Timestamp};

/// At most `max_restarts` restarts within any sliding `window`; one more and the
/// supervisor escalates (OTP's `intensity` and `period`).
///
/// The default is 3 restarts in 5 seconds. `max_restarts` 0 means any restart
/// escalates, as in OTP. A zero `window` is invalid: see [`Intensity::validate`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use reactree_supervisors::Intensity;
///
/// let default = Intensity::default();
/// assert_eq!(default, Intensity { max_restarts: 3, window: Duration::from_secs(5) });
/// let strict = Intensity::new(1, Duration::from_secs(60))?;
/// assert_eq!(strict.max_restarts, 1);
/// # Ok::<(), reactree_supervisors::IntensityError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Intensity {
    /// The most restarts allowed within `window`.
    pub max_restarts: u32,
    /// The length of the sliding window; must not be zero.
    pub window: Duration,
}

impl Intensity {
    /// 3 restarts in 5 seconds.
    pub const DEFAULT: Self = Self {
        max_restarts: 3,
        window: Duration::from_secs(5),
    };

    /// An intensity of `max_restarts` in `window`.
    ///
    /// # Errors
    ///
    /// [`IntensityError::ZeroWindow`] if `window` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reactree_supervisors::{Intensity, IntensityError};
    ///
    /// assert!(Intensity::new(5, Duration::from_secs(10)).is_ok());
    /// assert_eq!(Intensity::new(5, Duration::ZERO), Err(IntensityError::ZeroWindow));
    /// ```
    pub const fn new(max_restarts: u32, window: Duration) -> Result<Self, IntensityError> {
        let intensity = Self {
            max_restarts,
            window,
        };
        match intensity.validate() {
            Ok(()) => Ok(intensity),
            Err(error) => Err(error),
        }
    }

    /// Checks an intensity built from its public fields.
    ///
    /// # Errors
    ///
    /// [`IntensityError::ZeroWindow`] if `window` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reactree_supervisors::Intensity;
    ///
    /// let bad = Intensity { max_restarts: 3, window: Duration::ZERO };
    /// assert!(bad.validate().is_err());
    /// ```
    pub const fn validate(&self) -> Result<(), IntensityError> {
        if self.window.is_zero() {
            return Err(IntensityError::ZeroWindow);
        }
        Ok(())
    }
}

impl Default for Intensity {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Whether one more restart fits in the intensity budget.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    /// The restart fits and has been recorded.
    Available,
    /// The restart would exceed the intensity: the supervisor must escalate.
    Exhausted,
}

/// The restarts made within the current window, oldest first, and the total.
///
/// Invariant: `times` is sorted and never holds more than `max_restarts` entries.
#[derive(Debug, Clone, Default)]
pub(crate) struct RestartLog {
    times: VecDeque<Timestamp>,
    total: u64,
}

impl RestartLog {
    pub(crate) const fn new() -> Self {
        Self {
            times: VecDeque::new(),
            total: 0,
        }
    }

    /// Records a restart at `now` if the budget allows it.
    pub(crate) fn transition_to_restart(&mut self, intensity: Intensity, now: Timestamp) -> Budget {
        self.forget_before(intensity.window, now);
        if self.times.len() >= intensity.max_restarts as usize {
            return Budget::Exhausted;
        }
        self.times.push_back(now);
        self.total += 1;
        Budget::Available
    }

    /// The restarts that count against the budget at `now`. `times` is sorted, so those
    /// that no longer count are a prefix, found by binary search: a supervisor reads this
    /// after every event, and a budget of thousands of restarts in a storm of them made
    /// a pass over the log per event.
    pub(crate) fn in_window(&self, window: Duration, now: Timestamp) -> u32 {
        let gone = self.times.partition_point(|&t| !counts(t, window, now));
        u32::try_from(self.times.len() - gone).unwrap_or(u32::MAX)
    }

    /// Every restart recorded since the policy was built.
    pub(crate) const fn total(&self) -> u64 {
        self.total
    }

    fn forget_before(&mut self, window: Duration, now: Timestamp) {
        while self.times.front().is_some_and(|&t| !counts(t, window, now)) {
            self.times.pop_front();
        }
    }
}

/// Whether a restart made at `t` still counts at `now`.
fn counts(t: Timestamp, window: Duration, now: Timestamp) -> bool {
    now.saturating_duration_since(t) < window
}
