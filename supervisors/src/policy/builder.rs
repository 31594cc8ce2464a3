//! The builder of a [`SupervisorPolicy`].

use crate::{Backoff, ConfigError, Intensity, Strategy, SupervisorPolicy};

/// Builds a [`SupervisorPolicy`], starting from the defaults: one for one, 3 restarts
/// in 5 seconds, no backoff, seed 0.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use reactree_supervisors::{Backoff, Intensity, Strategy, SupervisorPolicy};
///
/// let secs = Duration::from_secs;
/// let policy = SupervisorPolicy::builder()
///     .strategy(Strategy::OneForAll)
///     .intensity(Intensity::new(10, secs(60))?)
///     .backoff(Backoff::exponential(secs(1), secs(30), 0.2, secs(15))?)
///     .seed(0x5eed)
///     .build()?;
/// assert_eq!(policy.backoff().cap(), secs(30));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct SupervisorPolicyBuilder {
    strategy: Strategy,
    intensity: Intensity,
    backoff: Backoff,
    seed: u64,
}

impl SupervisorPolicyBuilder {
    /// A builder with the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::SupervisorPolicyBuilder;
    ///
    /// assert_eq!(SupervisorPolicyBuilder::new(), SupervisorPolicyBuilder::default());
    /// ```
    pub const fn new() -> Self {
        Self {
            strategy: Strategy::OneForOne,
            intensity: Intensity::DEFAULT,
            backoff: Backoff::None,
            seed: 0,
        }
    }

    /// Sets the strategy.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::{Strategy, SupervisorPolicy};
    ///
    /// let policy = SupervisorPolicy::builder().strategy(Strategy::OneForAll).build()?;
    /// assert_eq!(policy.strategy(), Strategy::OneForAll);
    /// # Ok::<(), reactree_supervisors::ConfigError>(())
    /// ```
    pub const fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Sets the restart intensity; checked by [`build`](Self::build).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reactree_supervisors::{Intensity, SupervisorPolicy};
    ///
    /// let intensity = Intensity { max_restarts: 0, window: Duration::from_secs(1) };
    /// let policy = SupervisorPolicy::builder().intensity(intensity).build()?;
    /// assert_eq!(policy.intensity().max_restarts, 0);
    /// # Ok::<(), reactree_supervisors::ConfigError>(())
    /// ```
    pub const fn intensity(mut self, intensity: Intensity) -> Self {
        self.intensity = intensity;
        self
    }

    /// Sets the backoff; checked by [`build`](Self::build).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reactree_supervisors::{Backoff, SupervisorPolicy};
    ///
    /// let fixed = Backoff::Fixed(Duration::from_millis(250));
    /// let policy = SupervisorPolicy::builder().backoff(fixed).build()?;
    /// assert_eq!(policy.backoff(), fixed);
    /// # Ok::<(), reactree_supervisors::ConfigError>(())
    /// ```
    pub const fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the seed of the jitter generator. The same seed and the same events give
    /// the same decisions; give each supervisor its own seed to decorrelate them.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::SupervisorPolicy;
    ///
    /// let policy = SupervisorPolicy::builder().seed(1234).build()?;
    /// # let _ = policy;
    /// # Ok::<(), reactree_supervisors::ConfigError>(())
    /// ```
    pub const fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks the configuration and builds the policy.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if the intensity or the backoff is invalid.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reactree_supervisors::{Backoff, ConfigError, SupervisorPolicy};
    ///
    /// let secs = Duration::from_secs;
    /// let bad = Backoff::Exponential { min: secs(9), max: secs(1), jitter: 0.0, reset_after: secs(1) };
    /// let error = SupervisorPolicy::builder().backoff(bad).build().unwrap_err();
    /// assert!(matches!(error, ConfigError::Backoff(_)));
    /// ```
    pub fn build(self) -> Result<SupervisorPolicy, ConfigError> {
        SupervisorPolicy::new(self.strategy, self.intensity, self.backoff, self.seed)
    }
}

impl Default for SupervisorPolicyBuilder {
    fn default() -> Self {
        Self::new()
    }
}
