//! The supervision policy: a state machine fed with child lifecycle events that
//! answers each exit with a [`Decision`].
//!
//! It holds the child table, the restart log for the intensity limit, and the
//! seeded generator for jitter. It never reads a clock, sleeps or spawns: the caller
//! passes `now` with every event and carries out the decisions.

mod builder;
mod children;
#[cfg(test)]
mod tests;

pub use builder::SupervisorPolicyBuilder;

use crate::backoff::SplitMix64;
use crate::intensity::{Budget, RestartLog};
use crate::{
    Backoff, ChildId, ChildInfo, ChildState, ConfigError, Decision, EventError, Exit, Intensity,
    RestartType, Strategy, Timestamp,
};
use children::Children;

/// The supervision policy of one supervisor.
///
/// Feed it the lifecycle of its children, in the order things happen:
/// [`add_child`](Self::add_child) in start order, [`child_started`](Self::child_started),
/// [`child_exited`](Self::child_exited) or [`child_start_failed`](Self::child_start_failed)
/// (both answer with a [`Decision`]), and [`remove_child`](Self::remove_child).
/// The same seed and the same events always give the same decisions.
///
/// Timestamps are expected not to go backwards; one earlier than a previous event's
/// is taken as that previous time.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use reactree_supervisors::{Exit, Intensity, RestartType, SupervisorPolicy, Timestamp};
///
/// let mut policy = SupervisorPolicy::builder()
///     .intensity(Intensity::new(1, Duration::from_secs(5))?)
///     .build()?;
/// let worker = policy.add_child(RestartType::Permanent)?;
/// policy.child_started(worker, Timestamp::ZERO)?;
///
/// let at = |secs| Timestamp::from_elapsed(Duration::from_secs(secs));
/// let first = policy.child_exited(worker, Exit::Abnormal, at(1))?;
/// assert_eq!(first.to_restart(), [worker]);
/// policy.child_started(worker, at(1))?;
/// let second = policy.child_exited(worker, Exit::Abnormal, at(2))?;
/// assert!(second.is_escalate());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SupervisorPolicy {
    strategy: Strategy,
    intensity: Intensity,
    backoff: Backoff,
    children: Children,
    log: RestartLog,
    rng: SplitMix64,
    state: PolicyState,
    latest: Timestamp,
}

/// Whether the policy still supervises or has given up.
///
/// # Examples
///
/// ```
/// use reactree_supervisors::{PolicyState, SupervisorPolicy};
///
/// assert_eq!(SupervisorPolicy::default().state(), PolicyState::Supervising);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyState {
    /// Taking events and deciding restarts.
    Supervising,
    /// The intensity was exceeded; the supervisor must fail. Terminal.
    Escalated,
}

/// Restart counts, for inspectors.
///
/// # Examples
///
/// ```
/// use reactree_supervisors::{SupervisorPolicy, Timestamp};
///
/// let stats = SupervisorPolicy::default().stats(Timestamp::ZERO);
/// assert_eq!(stats.restarts_in_window, 0);
/// assert_eq!(stats.total_restarts, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stats {
    /// Restarts that count against the intensity at the time asked.
    pub restarts_in_window: u32,
    /// Restart decisions since the policy was built.
    pub total_restarts: u64,
    /// Children the policy knows.
    pub children: usize,
    /// Children running.
    pub running: usize,
}

impl SupervisorPolicy {
    /// A policy with the given strategy, intensity, backoff and jitter seed.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if the intensity or the backoff is invalid.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::{Backoff, Intensity, Strategy, SupervisorPolicy};
    ///
    /// let policy = SupervisorPolicy::new(Strategy::OneForAll, Intensity::default(), Backoff::None, 7)?;
    /// assert_eq!(policy.strategy(), Strategy::OneForAll);
    /// # Ok::<(), reactree_supervisors::ConfigError>(())
    /// ```
    pub fn new(
        strategy: Strategy,
        intensity: Intensity,
        backoff: Backoff,
        seed: u64,
    ) -> Result<Self, ConfigError> {
        intensity.validate()?;
        backoff.validate()?;
        Ok(Self::from_valid_parts(strategy, intensity, backoff, seed))
    }

    /// A builder starting from the defaults: one for one, 3 restarts in 5 seconds, no
    /// backoff, seed 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::{Strategy, SupervisorPolicy};
    ///
    /// let policy = SupervisorPolicy::builder().strategy(Strategy::RestForOne).seed(42).build()?;
    /// assert_eq!(policy.strategy(), Strategy::RestForOne);
    /// # Ok::<(), reactree_supervisors::ConfigError>(())
    /// ```
    pub const fn builder() -> SupervisorPolicyBuilder {
        SupervisorPolicyBuilder::new()
    }

    const fn from_valid_parts(
        strategy: Strategy,
        intensity: Intensity,
        backoff: Backoff,
        seed: u64,
    ) -> Self {
        Self {
            strategy,
            intensity,
            backoff,
            children: Children::new(),
            log: RestartLog::new(),
            rng: SplitMix64::new(seed),
            state: PolicyState::Supervising,
            latest: Timestamp::ZERO,
        }
    }

    /// The strategy.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::{Strategy, SupervisorPolicy};
    ///
    /// assert_eq!(SupervisorPolicy::default().strategy(), Strategy::OneForOne);
    /// ```
    #[must_use]
    pub const fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The restart intensity.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::{Intensity, SupervisorPolicy};
    ///
    /// assert_eq!(SupervisorPolicy::default().intensity(), Intensity::DEFAULT);
    /// ```
    #[must_use]
    pub const fn intensity(&self) -> Intensity {
        self.intensity
    }

    /// The backoff.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::{Backoff, SupervisorPolicy};
    ///
    /// assert_eq!(SupervisorPolicy::default().backoff(), Backoff::None);
    /// ```
    #[must_use]
    pub const fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// Whether the policy still supervises or has escalated.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::{PolicyState, SupervisorPolicy};
    ///
    /// assert_eq!(SupervisorPolicy::default().state(), PolicyState::Supervising);
    /// ```
    #[must_use]
    pub const fn state(&self) -> PolicyState {
        self.state
    }

    /// Adds a child after all existing ones in start order, idle until reported
    /// started.
    ///
    /// # Errors
    ///
    /// [`EventError::Escalated`] once the policy has escalated.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::{RestartType, SupervisorPolicy};
    ///
    /// let mut policy = SupervisorPolicy::default();
    /// let id = policy.add_child(RestartType::Temporary)?;
    /// assert_eq!(policy.children().map(|c| c.id).collect::<Vec<_>>(), [id]);
    /// # Ok::<(), reactree_supervisors::EventError>(())
    /// ```
    pub fn add_child(&mut self, restart_type: RestartType) -> Result<ChildId, EventError> {
        self.ensure_supervising()?;
        Ok(self.children.add(restart_type))
    }

    /// Forgets a child the runtime has removed (undeployed), in whatever state it
    /// is, and returns its last snapshot. The runtime stops it itself; that exit is
    /// not reported.
    ///
    /// # Errors
    ///
    /// [`EventError::UnknownChild`] if the child is not known, and
    /// [`EventError::Escalated`] once the policy has escalated.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::{EventError, RestartType, SupervisorPolicy};
    ///
    /// let mut policy = SupervisorPolicy::default();
    /// let id = policy.add_child(RestartType::Permanent)?;
    /// assert_eq!(policy.remove_child(id)?.id, id);
    /// assert_eq!(policy.remove_child(id), Err(EventError::UnknownChild(id)));
    /// # Ok::<(), EventError>(())
    /// ```
    pub fn remove_child(&mut self, id: ChildId) -> Result<ChildInfo, EventError> {
        self.ensure_supervising()?;
        let index = self.children.position(id)?;
        Ok(self.children.remove_at(index).info())
    }

    /// Records that a child has started (for the first time, or after a restart).
    ///
    /// # Errors
    ///
    /// [`EventError::UnknownChild`], [`EventError::AlreadyRunning`], and
    /// [`EventError::Escalated`] once the policy has escalated.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::{EventError, RestartType, SupervisorPolicy, Timestamp};
    ///
    /// let mut policy = SupervisorPolicy::default();
    /// let id = policy.add_child(RestartType::Permanent)?;
    /// policy.child_started(id, Timestamp::ZERO)?;
    /// assert_eq!(policy.child_started(id, Timestamp::ZERO), Err(EventError::AlreadyRunning(id)));
    /// # Ok::<(), EventError>(())
    /// ```
    pub fn child_started(&mut self, id: ChildId, now: Timestamp) -> Result<(), EventError> {
        self.ensure_supervising()?;
        let index = self.children.position(id)?;
        if self.children.at(index).state.is_running() {
            return Err(EventError::AlreadyRunning(id));
        }
        let since = self.observe(now);
        self.children.at(index).state = ChildState::Running { since };
        Ok(())
    }

    /// Records that a running child has exited, and decides what to do.
    ///
    /// A temporary child is removed. A transient child that exited normally is left
    /// idle. Otherwise the strategy picks the children to restart, the intensity
    /// decides between restarting and escalating, and the backoff sets the delay.
    ///
    /// # Errors
    ///
    /// [`EventError::UnknownChild`], [`EventError::NotRunning`] (for instance a
    /// sibling the policy itself told the runtime to stop), and
    /// [`EventError::Escalated`] once the policy has escalated.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::{Decision, Exit, RestartType, SupervisorPolicy, Timestamp};
    ///
    /// let mut policy = SupervisorPolicy::default();
    /// let job = policy.add_child(RestartType::Transient)?;
    /// policy.child_started(job, Timestamp::ZERO)?;
    /// assert_eq!(policy.child_exited(job, Exit::Normal, Timestamp::ZERO)?, Decision::Ignore);
    /// # Ok::<(), reactree_supervisors::EventError>(())
    /// ```
    pub fn child_exited(
        &mut self,
        id: ChildId,
        exit: Exit,
        now: Timestamp,
    ) -> Result<Decision, EventError> {
        self.ensure_supervising()?;
        let index = self.children.position(id)?;
        if !self.children.at(index).state.is_running() {
            return Err(EventError::NotRunning(id));
        }
        let now = self.observe(now);
        let stable = self.backoff.stable_period();
        self.children.at(index).transition_to_stopped(now, stable);
        Ok(self.decide(index, exit, now))
    }

    /// Records that starting a child failed (its `start` returned an error or
    /// panicked), and decides what to do. A failed start is an abnormal exit with no
    /// uptime: it counts against the intensity and grows the backoff, as OTP counts
    /// every restart attempt.
    ///
    /// # Errors
    ///
    /// [`EventError::UnknownChild`], [`EventError::AlreadyRunning`], and
    /// [`EventError::Escalated`] once the policy has escalated.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::{RestartType, SupervisorPolicy, Timestamp};
    ///
    /// let mut policy = SupervisorPolicy::default();
    /// let id = policy.add_child(RestartType::Permanent)?;
    /// let decision = policy.child_start_failed(id, Timestamp::ZERO)?;
    /// assert_eq!(decision.to_restart(), [id]);
    /// # Ok::<(), reactree_supervisors::EventError>(())
    /// ```
    pub fn child_start_failed(
        &mut self,
        id: ChildId,
        now: Timestamp,
    ) -> Result<Decision, EventError> {
        self.ensure_supervising()?;
        let index = self.children.position(id)?;
        if self.children.at(index).state.is_running() {
            return Err(EventError::AlreadyRunning(id));
        }
        let now = self.observe(now);
        self.children.at(index).state = ChildState::Idle;
        Ok(self.decide(index, Exit::Abnormal, now))
    }

    /// A snapshot of one child, or `None` if unknown.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::{RestartType, SupervisorPolicy};
    ///
    /// let mut policy = SupervisorPolicy::default();
    /// let id = policy.add_child(RestartType::Permanent)?;
    /// assert_eq!(policy.child(id).map(|c| c.restarts), Some(0));
    /// # Ok::<(), reactree_supervisors::EventError>(())
    /// ```
    #[must_use]
    pub fn child(&self, id: ChildId) -> Option<ChildInfo> {
        self.children.get(id).map(children::Child::info)
    }

    /// Snapshots of every child, in start order.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::{RestartType, SupervisorPolicy};
    ///
    /// let mut policy = SupervisorPolicy::default();
    /// policy.add_child(RestartType::Permanent)?;
    /// policy.add_child(RestartType::Transient)?;
    /// assert_eq!(policy.children().count(), 2);
    /// # Ok::<(), reactree_supervisors::EventError>(())
    /// ```
    pub fn children(&self) -> impl ExactSizeIterator<Item = ChildInfo> + '_ {
        self.children.iter().map(children::Child::info)
    }

    /// Restarts within the intensity window ending at `now`, and restarts in all: the
    /// counters of [`stats`](Self::stats) without its count of running children, which
    /// takes a pass over them.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::{SupervisorPolicy, Timestamp};
    ///
    /// let policy = SupervisorPolicy::default();
    /// assert_eq!(policy.restart_counts(Timestamp::ZERO), (0, 0));
    /// ```
    #[must_use]
    pub fn restart_counts(&self, now: Timestamp) -> (u32, u64) {
        (
            self.log.in_window(self.intensity.window, now),
            self.log.total(),
        )
    }

    /// Restarts in all, since the policy was made: needs no clock. While it is 0, so is
    /// the count within the window.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::{RestartType, SupervisorPolicy, Timestamp};
    ///
    /// let mut policy = SupervisorPolicy::default();
    /// assert_eq!(policy.total_restarts(), 0);
    /// let id = policy.add_child(RestartType::Permanent)?;
    /// let _ = policy.child_start_failed(id, Timestamp::ZERO)?;
    /// assert_eq!(policy.total_restarts(), 1);
    /// # Ok::<(), reactree_supervisors::EventError>(())
    /// ```
    #[must_use]
    pub const fn total_restarts(&self) -> u64 {
        self.log.total()
    }

    /// Restart counts as of `now`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reactree_supervisors::{RestartType, SupervisorPolicy, Timestamp};
    ///
    /// let mut policy = SupervisorPolicy::default();
    /// let id = policy.add_child(RestartType::Permanent)?;
    /// let _ = policy.child_start_failed(id, Timestamp::ZERO)?;
    /// assert_eq!(policy.stats(Timestamp::ZERO).restarts_in_window, 1);
    /// let later = Timestamp::from_elapsed(Duration::from_secs(5));
    /// assert_eq!(policy.stats(later).restarts_in_window, 0);
    /// assert_eq!(policy.stats(later).total_restarts, 1);
    /// # Ok::<(), reactree_supervisors::EventError>(())
    /// ```
    #[must_use]
    pub fn stats(&self, now: Timestamp) -> Stats {
        Stats {
            restarts_in_window: self.log.in_window(self.intensity.window, now),
            total_restarts: self.log.total(),
            children: self.children.len(),
            running: self
                .children
                .iter()
                .filter(|c| c.state.is_running())
                .count(),
        }
    }

    fn ensure_supervising(&self) -> Result<(), EventError> {
        match self.state {
            PolicyState::Supervising => Ok(()),
            PolicyState::Escalated => Err(EventError::Escalated),
        }
    }

    /// Clamps `now` so time never goes backwards, and remembers it.
    fn observe(&mut self, now: Timestamp) -> Timestamp {
        self.latest = self.latest.max(now);
        self.latest
    }

    /// Decides after the child at `index` stopped with `exit`; it is already idle.
    fn decide(&mut self, index: usize, exit: Exit, now: Timestamp) -> Decision {
        let restart_type = self.children.at(index).restart_type;
        if restart_type == RestartType::Temporary {
            let child = self.children.remove_at(index).id;
            return Decision::Remove { child };
        }
        if !restart_type.restarts_after(exit) {
            return Decision::Ignore;
        }
        match self.log.transition_to_restart(self.intensity, now) {
            Budget::Available => self.transition_to_restart(index),
            Budget::Exhausted => self.transition_to_escalated(),
        }
    }

    fn transition_to_restart(&mut self, index: usize) -> Decision {
        let delay = self.next_delay(index);
        // Positions, tombstones included: the range skips them.
        let affected = self.strategy.affected(index, self.children.slots());
        let plan = self.children.transition_to_restarting(affected);
        Decision::Restart {
            stop: plan.stop,
            remove: plan.remove,
            restart: plan.restart,
            delay,
        }
    }

    /// The delay for a restart caused by the child at `index`; extends its streak.
    fn next_delay(&mut self, index: usize) -> std::time::Duration {
        let child = self.children.at(index);
        let streak = child.consecutive_restarts;
        child.consecutive_restarts = streak.saturating_add(1);
        self.backoff.delay(u32::from(streak), &mut self.rng)
    }

    fn transition_to_escalated(&mut self) -> Decision {
        self.state = PolicyState::Escalated;
        Decision::Escalate {
            stop: self.children.stop_all(),
        }
    }
}

impl Default for SupervisorPolicy {
    /// One for one, 3 restarts in 5 seconds, no backoff, seed 0.
    fn default() -> Self {
        Self::from_valid_parts(Strategy::OneForOne, Intensity::DEFAULT, Backoff::None, 0)
    }
}

/// The policy moves between threads with its supervisor.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SupervisorPolicy>();
    assert_send_sync::<Decision>();
};
