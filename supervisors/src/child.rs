//! Children as the policy sees them: an id, a restart type, a state.
//!
//! The policy knows nothing of what a child is; it tracks only what it needs to
//! decide: the order children were added in, their [`RestartType`], and whether each
//! one is running, idle, or waiting to be restarted.

use std::fmt;

use crate::Timestamp;

/// The id of a child, assigned by the policy when the child is added.
///
/// Ids are small `Copy` values that are never reused within one policy, and a child
/// added later has a larger id. The runtime keeps its own map from `ChildId` to its
/// handle for the child.
///
/// # Examples
///
/// ```
/// use reactree_supervisors::{RestartType, SupervisorPolicy};
///
/// let mut policy = SupervisorPolicy::default();
/// let first = policy.add_child(RestartType::Permanent)?;
/// let second = policy.add_child(RestartType::Permanent)?;
/// assert!(first < second);
/// assert_eq!(first.to_string(), "child 0");
/// # Ok::<(), reactree_supervisors::EventError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChildId(u64);

impl ChildId {
    pub(crate) const fn new(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw number behind the id, for logs and inspectors.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::{RestartType, SupervisorPolicy};
    ///
    /// let mut policy = SupervisorPolicy::default();
    /// let id = policy.add_child(RestartType::Transient)?;
    /// assert_eq!(id.get(), 0);
    /// # Ok::<(), reactree_supervisors::EventError>(())
    /// ```
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ChildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "child {}", self.0)
    }
}

/// When a child that stopped is started again (OTP's `restart` field of a child spec).
///
/// # Examples
///
/// ```
/// use reactree_supervisors::{Exit, RestartType};
///
/// assert!(RestartType::Permanent.restarts_after(Exit::Normal));
/// assert!(!RestartType::Transient.restarts_after(Exit::Normal));
/// assert!(RestartType::Transient.restarts_after(Exit::Abnormal));
/// assert!(!RestartType::Temporary.restarts_after(Exit::Abnormal));
/// assert_eq!(RestartType::default(), RestartType::Permanent);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum RestartType {
    /// Always restarted, whatever the exit.
    ///
    /// Use for services that must always be up: a component owning a bus address
    /// others depend on, a connection pool, a cache.
    #[default]
    Permanent,
    /// Restarted only after an abnormal exit; a normal exit leaves it down.
    ///
    /// Use for work that ends by itself when done (a migration, a one-off import) but
    /// must be retried if it crashes.
    Transient,
    /// Never restarted; removed from the supervisor when it exits, and also when a
    /// sibling's failure stops it under [`OneForAll`](crate::Strategy::OneForAll) or
    /// [`RestForOne`](crate::Strategy::RestForOne). Its exit never restarts siblings.
    ///
    /// Use for best-effort, fire-and-forget children (a request handler spawned per
    /// job) whose loss is acceptable. kameo calls this `Never`.
    Temporary,
}

impl RestartType {
    /// Whether a child of this type is restarted after it exits with `exit`.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::{Exit, RestartType};
    ///
    /// assert!(RestartType::Permanent.restarts_after(Exit::Abnormal));
    /// ```
    #[must_use]
    pub const fn restarts_after(self, exit: Exit) -> bool {
        match self {
            Self::Permanent => true,
            Self::Transient => matches!(exit, Exit::Abnormal),
            Self::Temporary => false,
        }
    }
}

/// How a child ended.
///
/// # Examples
///
/// ```
/// use reactree_supervisors::Exit;
///
/// let exit = Exit::Abnormal;
/// assert_ne!(exit, Exit::Normal);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exit {
    /// The child finished by itself, or shut down on request (OTP's `normal`,
    /// `shutdown` and `{shutdown, _}`).
    Normal,
    /// The child failed: a panic, an error from `start`, or any other crash.
    Abnormal,
}

/// Where a child is in its lifecycle, as far as the policy knows.
///
/// # Examples
///
/// ```
/// use reactree_supervisors::{ChildState, RestartType, SupervisorPolicy, Timestamp};
///
/// let mut policy = SupervisorPolicy::default();
/// let id = policy.add_child(RestartType::Permanent)?;
/// assert_eq!(policy.child(id).map(|c| c.state), Some(ChildState::Idle));
/// policy.child_started(id, Timestamp::ZERO)?;
/// assert!(policy.child(id).is_some_and(|c| c.state.is_running()));
/// # Ok::<(), reactree_supervisors::EventError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChildState {
    /// Not running and no restart planned: added but not started yet, or a transient
    /// child that exited normally.
    Idle,
    /// Running since the given time.
    Running {
        /// When the child was last reported started.
        since: Timestamp,
    },
    /// Named in a [`Decision::Restart`](crate::Decision::Restart): the runtime is
    /// stopping it, waiting out the delay, or starting it.
    Restarting,
}

impl ChildState {
    /// Whether the child is running.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree_supervisors::{ChildState, Timestamp};
    ///
    /// assert!(ChildState::Running { since: Timestamp::ZERO }.is_running());
    /// assert!(!ChildState::Restarting.is_running());
    /// ```
    #[must_use]
    pub const fn is_running(self) -> bool {
        matches!(self, Self::Running { .. })
    }
}

/// A snapshot of one child, for inspectors.
///
/// # Examples
///
/// ```
/// use reactree_supervisors::{RestartType, SupervisorPolicy};
///
/// let mut policy = SupervisorPolicy::default();
/// let id = policy.add_child(RestartType::Transient)?;
/// let info = policy.child(id).expect("just added");
/// assert_eq!(info.id, id);
/// assert_eq!(info.restart_type, RestartType::Transient);
/// assert_eq!(info.restarts, 0);
/// # Ok::<(), reactree_supervisors::EventError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ChildInfo {
    /// The child's id.
    pub id: ChildId,
    /// The child's restart type.
    pub restart_type: RestartType,
    /// Where the child is in its lifecycle.
    pub state: ChildState,
    /// How many times the child was named in a restart decision.
    pub restarts: u64,
    /// Restarts this child caused in a row, without a stable run in between; the
    /// exponential backoff grows with it.
    pub consecutive_restarts: u32,
}
