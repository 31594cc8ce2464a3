//! Errors, one enum per operation family: checking a configuration, feeding an event.

use std::time::Duration;

use crate::ChildId;

/// An invalid [`Intensity`](crate::Intensity).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use reactree_supervisors::{Intensity, IntensityError};
///
/// let error = Intensity::new(3, Duration::ZERO).unwrap_err();
/// assert_eq!(error, IntensityError::ZeroWindow);
/// assert_eq!(error.to_string(), "intensity window is zero");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntensityError {
    /// The window is zero, so no restart could ever be counted.
    #[error("intensity window is zero")]
    ZeroWindow,
}

/// An invalid [`Backoff`](crate::Backoff).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use reactree_supervisors::{Backoff, BackoffError};
///
/// let secs = Duration::from_secs;
/// let error = Backoff::exponential(secs(1), secs(2), 1.5, secs(5)).unwrap_err();
/// assert!(matches!(error, BackoffError::InvalidJitter { .. }));
/// assert_eq!(error.to_string(), "backoff jitter 1.5 is outside 0.0..=1.0");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BackoffError {
    /// The minimum delay is zero, so doubling it would never grow it.
    #[error("backoff minimum is zero")]
    ZeroMin,
    /// The minimum delay is above the cap.
    #[error("backoff minimum {min:?} is above maximum {max:?}")]
    MinAboveMax {
        /// The minimum given.
        min: Duration,
        /// The maximum given.
        max: Duration,
    },
    /// The jitter factor is NaN or outside `0.0..=1.0`.
    #[error("backoff jitter {jitter} is outside 0.0..=1.0")]
    InvalidJitter {
        /// The jitter given.
        jitter: f64,
    },
}

/// An invalid policy configuration, from
/// [`SupervisorPolicy::new`](crate::SupervisorPolicy::new) or its builder.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use reactree_supervisors::{ConfigError, Intensity, SupervisorPolicy};
///
/// let error = SupervisorPolicy::builder()
///     .intensity(Intensity { max_restarts: 1, window: Duration::ZERO })
///     .build()
///     .unwrap_err();
/// assert!(matches!(error, ConfigError::Intensity(_)));
/// assert_eq!(error.to_string(), "invalid intensity");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The intensity is invalid.
    #[error("invalid intensity")]
    Intensity(#[from] IntensityError),
    /// The backoff is invalid.
    #[error("invalid backoff")]
    Backoff(#[from] BackoffError),
}

/// A lifecycle event the policy cannot accept in its current state.
///
/// The policy is left unchanged by a refused event.
///
/// # Examples
///
/// ```
/// use reactree_supervisors::{EventError, Exit, RestartType, SupervisorPolicy, Timestamp};
///
/// let mut policy = SupervisorPolicy::default();
/// let id = policy.add_child(RestartType::Permanent)?;
/// let error = policy.child_exited(id, Exit::Abnormal, Timestamp::ZERO).unwrap_err();
/// assert_eq!(error, EventError::NotRunning(id));
/// assert_eq!(error.to_string(), "child 0 is not running");
/// # Ok::<(), EventError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The policy does not know this child: never added, or already removed.
    #[error("unknown {0}")]
    UnknownChild(ChildId),
    /// The child was reported started while it is already running.
    #[error("{0} is already running")]
    AlreadyRunning(ChildId),
    /// The child was reported exited while it is not running.
    #[error("{0} is not running")]
    NotRunning(ChildId),
    /// The policy has escalated; it takes no more events.
    #[error("supervisor has escalated")]
    Escalated,
}
