//! `RuntimeBuilder`: reactors, default mailbox capacity, default request timeout.

use std::time::Duration;

use crate::reactor::IdlePolicy;
use crate::runtime::BuildError;
use crate::supervisor::{Backoff, Intensity, Strategy, Supervisor, SupervisorSpec};
use crate::watchdog::DEFAULT_BLOCKED_THRESHOLD;
use crate::{ChildSpec, PoolConfig, Runtime};

/// The default capacity of a component's mailbox.
pub const DEFAULT_MAILBOX_CAPACITY: usize = 1024;

/// The default timeout of a bus request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of a [`Runtime`]; [`build`](RuntimeBuilder::build) validates them and starts
/// the reactor threads, the worker pools and the watchdog.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use reactree::{BuildError, Runtime};
///
/// let runtime = Runtime::builder()
///     .reactors(2)
///     .mailbox_capacity(256)
///     .request_timeout(Duration::from_secs(1))
///     .build()?;
/// assert_eq!(runtime.handle().reactors(), 2);
///
/// assert!(matches!(Runtime::builder().reactors(0).build(), Err(BuildError::ZeroReactors)));
/// # Ok::<(), BuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RuntimeBuilder {
    pub(crate) reactors: Option<usize>,
    pub(crate) mailbox_capacity: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) worker_pool: PoolConfig,
    pub(crate) named_pools: Vec<PoolConfig>,
    pub(crate) blocked_threshold: Option<Duration>,
    pub(crate) idle: IdlePolicy,
    pub(crate) root: SupervisorSpec,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RuntimeBuilder {
    /// The defaults: one reactor per available CPU, mailboxes of 1024, requests time out
    /// after 5 s, a default worker pool of `PoolConfig::new()` (20 threads, a queue of
    /// 1024) named `default`, and a watchdog reporting polls that hold a reactor for over
    /// 2 s.
    pub const fn new() -> Self {
        Self {
            reactors: None,
            mailbox_capacity: DEFAULT_MAILBOX_CAPACITY,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            worker_pool: PoolConfig::new(),
            named_pools: Vec::new(),
            blocked_threshold: Some(DEFAULT_BLOCKED_THRESHOLD),
            idle: IdlePolicy::Park,
            root: Supervisor::builder_const(),
        }
    }

    /// The root supervisor's strategy (default one-for-one).
    #[must_use]
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.root = self.root.strategy(strategy);
        self
    }

    /// The root supervisor's restart intensity (default 3 in 5 s). Past it, the runtime
    /// shuts down and [`Runtime::wait`] returns the failure.
    #[must_use]
    pub fn intensity(mut self, intensity: Intensity) -> Self {
        self.root = self.root.intensity(intensity);
        self
    }

    /// The root supervisor's backoff (default none).
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.root = self.root.backoff(backoff);
        self
    }

    /// Adds a component to the root of the static tree, started (in order) by `build`.
    #[must_use]
    pub fn child(mut self, spec: ChildSpec) -> Self {
        self.root = self.root.child(spec);
        self
    }

    /// Adds a supervisor to the root of the static tree, started (in order) by `build`.
    #[must_use]
    pub fn supervisor(mut self, spec: SupervisorSpec) -> Self {
        self.root = self.root.supervisor(spec);
        self
    }

    /// The number of reactor threads of the root supervisor (nested supervisors may add
    /// their own).
    #[must_use]
    pub const fn reactors(mut self, reactors: usize) -> Self {
        self.reactors = Some(reactors);
        self
    }

    /// The mailbox capacity of components whose spec sets none (at most `u32::MAX`;
    /// more is taken as `u32::MAX`).
    #[must_use]
    pub const fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.mailbox_capacity = capacity;
        self
    }

    /// The timeout of requests that set none.
    #[must_use]
    pub const fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The settings of the default worker pool, the one
    /// [`Context::execute_blocking`](crate::Context::execute_blocking) uses. Its name is
    /// always `default`.
    #[must_use]
    pub fn worker_pool(mut self, config: PoolConfig) -> Self {
        self.worker_pool = config;
        self
    }

    /// Adds a named worker pool, reachable with [`Handle::pool`](crate::Handle::pool) and
    /// [`Context::pool`](crate::Context::pool).
    #[must_use]
    pub fn named_pool(mut self, config: PoolConfig) -> Self {
        self.named_pools.push(config);
        self
    }

    /// How long one poll of component code may hold its reactor before the watchdog
    /// reports it (default 2 s; a few milliseconds is fine for tests). The watchdog looks
    /// every quarter of this, at most every second.
    #[must_use]
    pub const fn blocked_threshold(mut self, threshold: Duration) -> Self {
        self.blocked_threshold = Some(threshold);
        self
    }

    /// Runs without the watchdog thread (and without its per-poll bookkeeping).
    #[must_use]
    pub const fn without_watchdog(mut self) -> Self {
        self.blocked_threshold = None;
        self
    }

    /// What an idle reactor does (default [`IdlePolicy::Park`]). Opt in to
    /// [`IdlePolicy::Spin`] when the latency of request-reply across reactors matters
    /// more than CPU: an idle reactor then watches for a wake-up for that long before it
    /// parks its thread, so a reply arriving meanwhile costs no OS wake-up (here, about
    /// 12 µs per round trip across two reactors without, a few µs with). While messages
    /// flow, each reactor keeps a core busy. [`IdlePolicy::ParkOutsidePoller`] costs no
    /// CPU and cuts the OS wake-up itself to a futex wake (here, a round trip across two
    /// reactors p50 16.4 µs instead of 18.6 µs), at one more hop for the reactors' timers
    /// and I/O: for reactors that pass messages rather than serve I/O.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reactree::{IdlePolicy, Runtime};
    ///
    /// let runtime = Runtime::builder()
    ///     .reactors(2)
    ///     .idle_policy(IdlePolicy::Spin(Duration::from_micros(50)))
    ///     .build()?;
    /// runtime.shutdown();
    /// # Ok::<(), reactree::BuildError>(())
    /// ```
    #[must_use]
    pub const fn idle_policy(mut self, policy: IdlePolicy) -> Self {
        self.idle = policy;
        self
    }

    /// The worker pools to start, the default first, or a typed error.
    pub(crate) fn pools(&self) -> Result<Vec<PoolConfig>, BuildError> {
        let mut pools = vec![self.worker_pool.clone().name(crate::runtime::DEFAULT_POOL)];
        for config in &self.named_pools {
            if pools.iter().any(|p| p.name == config.name) {
                return Err(BuildError::DuplicatePool(config.name.to_string()));
            }
            pools.push(config.clone());
        }
        for config in &pools {
            config.validate()?;
        }
        Ok(pools)
    }

    pub(crate) fn validate(&self) -> Result<usize, BuildError> {
        let reactors = self.reactors.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        if reactors == 0 {
            return Err(BuildError::ZeroReactors);
        }
        if self.mailbox_capacity == 0 {
            return Err(BuildError::ZeroMailboxCapacity);
        }
        if self.request_timeout.is_zero() {
            return Err(BuildError::ZeroRequestTimeout);
        }
        if self.blocked_threshold.is_some_and(|t| t.is_zero()) {
            return Err(BuildError::ZeroBlockedThreshold);
        }
        Ok(reactors)
    }

    /// Starts the runtime's reactor threads.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] for a zero setting, or when the OS refuses a thread (then the
    /// threads already started are stopped and joined).
    pub fn build(self) -> Result<Runtime, BuildError> {
        Runtime::start(self)
    }
}
