//! What the policy tells the runtime to do after a child exits or fails to start.

use std::time::Duration;

use crate::ChildId;

/// The policy's answer to a child's exit or failed start. The runtime carries it out.
///
/// # Examples
///
/// ```
/// use reactree_supervisors::{Exit, RestartType, Strategy, SupervisorPolicy, Timestamp};
///
/// let mut policy = SupervisorPolicy::builder().strategy(Strategy::RestForOne).build()?;
/// let a = policy.add_child(RestartType::Permanent)?;
/// let b = policy.add_child(RestartType::Permanent)?;
/// let c = policy.add_child(RestartType::Permanent)?;
/// for id in [a, b, c] {
///     policy.child_started(id, Timestamp::ZERO)?;
/// }
/// let decision = policy.child_exited(b, Exit::Abnormal, Timestamp::ZERO)?;
/// assert_eq!(decision.to_stop(), [c]);
/// assert_eq!(decision.to_restart(), [b, c]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a decision does nothing until the runtime carries it out"]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Nothing to do: the child stays down and keeps its place (a transient child
    /// that exited normally). It may be started again later.
    Ignore,
    /// The child is gone for good: drop it (a temporary child exited or failed to
    /// start). The policy has already forgotten it.
    Remove {
        /// The child to drop.
        child: ChildId,
    },
    /// Stop the children in `stop`, in that order (reverse start order), drop those in
    /// `remove`, wait `delay`, then start those in `restart`, in that order (start
    /// order). Each start is reported with
    /// [`child_started`](crate::SupervisorPolicy::child_started) or
    /// [`child_start_failed`](crate::SupervisorPolicy::child_start_failed).
    ///
    /// The exits of the stopped children are not reported to the policy. A later
    /// `Restart` naming a child supersedes any plan still pending for it.
    Restart {
        /// Running siblings to stop first, in reverse start order. The failed child
        /// is not among them: it has already stopped.
        stop: Vec<ChildId>,
        /// Temporary children among the affected ones: stopped if running (they are
        /// in `stop`), never restarted, already forgotten by the policy.
        remove: Vec<ChildId>,
        /// Children to start, in start order, the failed child included.
        restart: Vec<ChildId>,
        /// How long to wait after stopping and before starting.
        delay: Duration,
    },
    /// The restart intensity is exceeded: stop every child in `stop` (all running
    /// children, in reverse start order), then fail the supervisor so that its
    /// parent decides. The policy takes no more events.
    Escalate {
        /// Every running child, in reverse start order.
        stop: Vec<ChildId>,
    },
}

impl Decision {
    /// The children to stop, in the order to stop them; empty for `Ignore` and
    /// `Remove`.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::Decision;
    ///
    /// assert!(Decision::Ignore.to_stop().is_empty());
    /// ```
    #[must_use]
    pub fn to_stop(&self) -> &[ChildId] {
        match self {
            Self::Restart { stop, .. } | Self::Escalate { stop } => stop,
            Self::Ignore | Self::Remove { .. } => &[],
        }
    }

    /// The children to start again, in start order; empty unless `Restart`.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::Decision;
    ///
    /// assert!(Decision::Escalate { stop: Vec::new() }.to_restart().is_empty());
    /// ```
    #[must_use]
    pub fn to_restart(&self) -> &[ChildId] {
        match self {
            Self::Restart { restart, .. } => restart,
            Self::Ignore | Self::Remove { .. } | Self::Escalate { .. } => &[],
        }
    }

    /// The delay before restarting; `None` unless `Restart`.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::Decision;
    ///
    /// assert_eq!(Decision::Ignore.delay(), None);
    /// ```
    #[must_use]
    pub const fn delay(&self) -> Option<Duration> {
        match self {
            Self::Restart { delay, .. } => Some(*delay),
            Self::Ignore | Self::Remove { .. } | Self::Escalate { .. } => None,
        }
    }

    /// Whether this is an `Escalate`.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::Decision;
    ///
    /// assert!(Decision::Escalate { stop: Vec::new() }.is_escalate());
    /// ```
    #[must_use]
    pub const fn is_escalate(&self) -> bool {
        matches!(self, Self::Escalate { .. })
    }
}
