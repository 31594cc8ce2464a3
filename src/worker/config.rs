//! How a pool is configured, and what is refused.

use std::borrow::Cow;
use std::time::Duration;

/// The settings of a [`WorkerPool`](crate::WorkerPool): name, thread count, queue
/// capacity, shutdown grace period and long-job threshold.
///
/// The defaults follow Vert.x: 20 threads, because worker threads exist to sit in
/// blocking calls (files, JDBC-style drivers, DNS), not to burn CPU, so the core count is
/// the wrong measure; an idle worker costs a parked thread and its stack. Pools of
/// CPU-bound work should set `threads` to the core count.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use reactree::{PoolConfig, WorkerPool};
///
/// let config = PoolConfig::new()
///     .name("db")
///     .threads(4)
///     .queue_capacity(256)
///     .shutdown_grace(Duration::from_secs(2))
///     .long_job_threshold(Duration::from_secs(30));
/// let pool = WorkerPool::new(config)?;
/// assert_eq!(pool.name(), "db");
/// # Ok::<(), reactree::PoolConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    pub(crate) name: Cow<'static, str>,
    pub(crate) threads: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) shutdown_grace: Duration,
    pub(crate) long_job_threshold: Duration,
}

impl PoolConfig {
    /// The name of a pool that was not given one: `"default"`.
    pub const DEFAULT_NAME: &'static str = "default";
    /// The default thread count, as Vert.x: 20.
    pub const DEFAULT_THREADS: usize = 20;
    /// The default queue capacity: 1024 jobs.
    pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;
    /// The default time running jobs get to finish once shutdown starts: 5 s.
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
    /// The default time after which a running job is reported as long: 60 s, as Vert.x.
    pub const DEFAULT_LONG_JOB_THRESHOLD: Duration = Duration::from_secs(60);

    /// The default configuration (see the associated constants).
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::PoolConfig;
    ///
    /// assert_eq!(PoolConfig::new(), PoolConfig::default());
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            name: Cow::Borrowed(Self::DEFAULT_NAME),
            threads: Self::DEFAULT_THREADS,
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            shutdown_grace: Self::DEFAULT_SHUTDOWN_GRACE,
            long_job_threshold: Self::DEFAULT_LONG_JOB_THRESHOLD,
        }
    }

    /// Sets the pool's name, used in thread names (`reactree-worker-{name}-{n}`), logs and
    /// statistics. It must be non-empty and free of nul bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().name("files").threads(1))?;
    /// let thread = pool.handle().execute_fn(|| std::thread::current().name().map(String::from));
    /// # let thread = futures_lite::future::block_on(thread);
    /// assert_eq!(thread?.as_deref(), Some("reactree-worker-files-0"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the number of worker threads, at least 1. The pool starts them all at once
    /// and keeps exactly that many for its whole life.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(3))?;
    /// assert_eq!(pool.stats().threads, 3);
    /// # Ok::<(), reactree::PoolConfigError>(())
    /// ```
    #[must_use]
    pub const fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Sets how many jobs may wait in the queue, at least 1. Running jobs do not count.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().queue_capacity(8))?;
    /// assert_eq!(pool.stats().queue_capacity, 8);
    /// # Ok::<(), reactree::PoolConfigError>(())
    /// ```
    #[must_use]
    pub const fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Sets how long [`shutdown`](crate::WorkerPool::shutdown) waits for running jobs
    /// (whose tokens it has set) before it detaches their threads. Zero is allowed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reactree::PoolConfig;
    ///
    /// let config = PoolConfig::new().shutdown_grace(Duration::from_millis(500));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub const fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Sets after how long a running job counts as long, for the runtime's watchdog.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reactree::PoolConfig;
    ///
    /// let config = PoolConfig::new().long_job_threshold(Duration::from_secs(10));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub const fn long_job_threshold(mut self, threshold: Duration) -> Self {
        self.long_job_threshold = threshold;
        self
    }

    /// Checks the configuration without starting anything.
    ///
    /// # Errors
    ///
    /// [`PoolConfigError::EmptyName`], [`PoolConfigError::NameContainsNul`],
    /// [`PoolConfigError::ZeroThreads`] or [`PoolConfigError::ZeroQueueCapacity`].
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, PoolConfigError};
    ///
    /// assert!(PoolConfig::new().validate().is_ok());
    /// let error = PoolConfig::new().threads(0).validate().unwrap_err();
    /// assert!(matches!(error, PoolConfigError::ZeroThreads));
    /// ```
    pub fn validate(&self) -> Result<(), PoolConfigError> {
        if self.name.is_empty() {
            Err(PoolConfigError::EmptyName)
        } else if self.name.contains('\0') {
            Err(PoolConfigError::NameContainsNul)
        } else if self.threads == 0 {
            Err(PoolConfigError::ZeroThreads)
        } else if self.queue_capacity == 0 {
            Err(PoolConfigError::ZeroQueueCapacity)
        } else {
            Ok(())
        }
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a [`WorkerPool`](crate::WorkerPool) could not start.
///
/// # Examples
///
/// ```
/// use reactree::{PoolConfig, PoolConfigError, WorkerPool};
///
/// let error = WorkerPool::new(PoolConfig::new().name("")).unwrap_err();
/// assert!(matches!(error, PoolConfigError::EmptyName));
/// assert_eq!(error.to_string(), "worker pool name is empty");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolConfigError {
    /// The name was empty.
    #[error("worker pool name is empty")]
    EmptyName,
    /// The name contained a nul byte, which thread names cannot hold.
    #[error("worker pool name contains a nul byte")]
    NameContainsNul,
    /// The thread count was zero.
    #[error("worker pool needs at least one thread")]
    ZeroThreads,
    /// The queue capacity was zero.
    #[error("worker queue capacity is zero")]
    ZeroQueueCapacity,
    /// The operating system refused to start a thread; the threads already started were
    /// stopped again.
    #[error("failed to spawn a worker thread")]
    Spawn(#[source] std::io::Error),
}
