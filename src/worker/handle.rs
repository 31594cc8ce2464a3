//! The cheap handle through which any thread submits jobs to a pool.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use super::error::TryExecuteError;
use super::future::JobFuture;
use super::job::{WithToken, WithoutToken};
use super::queue::Queues;
use super::serial::SerialQueue;
use super::stats::PoolStats;
use super::token::CancellationToken;
use super::watch::OverdueJob;

/// A handle to a [`WorkerPool`](crate::WorkerPool): cheap to clone, `Send + Sync`,
/// usable from any thread (`main`, an adapter thread, a component on its reactor).
///
/// Submission follows the house pattern: [`execute`](Self::execute) waits for room in
/// the queue without blocking a thread, [`try_execute`](Self::try_execute) never waits
/// and hands a refused job back. The `_fn` variants take a job that ignores its token.
/// Every job is queued at once when there is room; the returned future only does the
/// waiting.
///
/// A handle outliving its pool stays valid: submissions then settle with
/// [`JobError::ShutDown`](crate::JobError::ShutDown).
///
/// # Examples
///
/// ```
/// use reactree::{PoolConfig, WorkerPool};
///
/// let pool = WorkerPool::new(PoolConfig::new().name("io").threads(2))?;
/// let handle = pool.handle();
/// let from_thread = std::thread::spawn(move || {
///     futures_lite::future::block_on(handle.execute_fn(|| 6 * 7))
/// });
/// assert_eq!(from_thread.join().unwrap()?, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct PoolHandle {
    queues: Arc<Queues>,
}

impl PoolHandle {
    pub(crate) fn new(queues: Arc<Queues>) -> Self {
        Self { queues }
    }

    /// Submits a job, which receives a [`CancellationToken`]; if the queue is full, the
    /// returned future first waits for room (without blocking a thread).
    ///
    /// The future resolves to the job's value, or to a
    /// [`JobError`](crate::JobError): `Panicked` if it panicked, `ShutDown` if the pool
    /// stopped before it started. Dropping the future cancels the job.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(1))?;
    /// let bytes = pool.handle().execute(|token| {
    ///     let mut read = 0;
    ///     while read < 4096 && !token.is_cancelled() {
    ///         read += 512; // stands in for one blocking read
    ///     }
    ///     read
    /// });
    /// # let bytes = futures_lite::future::block_on(bytes);
    /// assert_eq!(bytes?, 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn execute<F, T>(&self, job: F) -> JobFuture<T>
    where
        F: FnOnce(&CancellationToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.queues.submit(WithToken(job))
    }

    /// Like [`execute`](Self::execute), for a job that ignores its token.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(1))?;
    /// let text = pool.handle().execute_fn(|| String::from("from a worker"));
    /// # let text = futures_lite::future::block_on(text);
    /// assert_eq!(text?, "from a worker");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn execute_fn<F, T>(&self, job: F) -> JobFuture<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.queues.submit(WithoutToken(job))
    }

    /// Submits a job if the queue has room now; never waits.
    ///
    /// # Errors
    ///
    /// [`TryExecuteError::Full`] if the queue is at capacity, [`TryExecuteError::ShutDown`]
    /// if the pool has shut down; either way the job comes back inside the error and is
    /// counted as rejected.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(1))?;
    /// let job = pool.handle().try_execute(|_token| 1 + 1)?;
    /// # let job = futures_lite::future::block_on(job);
    /// assert_eq!(job?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_execute<F, T>(&self, job: F) -> Result<JobFuture<T>, TryExecuteError<F>>
    where
        F: FnOnce(&CancellationToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.queues
            .try_submit(WithToken(job))
            .map_err(|error| match error {
                TryExecuteError::Full(work) => TryExecuteError::Full(work.0),
                TryExecuteError::ShutDown(work) => TryExecuteError::ShutDown(work.0),
            })
    }

    /// Like [`try_execute`](Self::try_execute), for a job that ignores its token.
    ///
    /// # Errors
    ///
    /// As [`try_execute`](Self::try_execute).
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(1))?;
    /// match pool.handle().try_execute_fn(|| "work") {
    ///     Ok(job) => {
    /// #       let job = futures_lite::future::block_on(job);
    ///         assert_eq!(job?, "work");
    ///     }
    ///     Err(refused) => {
    ///         // Backpressure: shed load, or run the job later.
    ///         let job = refused.into_inner();
    ///         assert_eq!(job(), "work");
    ///     }
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_execute_fn<F, T>(&self, job: F) -> Result<JobFuture<T>, TryExecuteError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.queues
            .try_submit(WithoutToken(job))
            .map_err(|error| match error {
                TryExecuteError::Full(work) => TryExecuteError::Full(work.0),
                TryExecuteError::ShutDown(work) => TryExecuteError::ShutDown(work.0),
            })
    }

    /// A new ordered line on this pool: its jobs run one at a time in submission order.
    /// See [`SerialQueue`].
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(4))?;
    /// let line = pool.handle().ordered();
    /// let job = line.execute_fn(|| "in order");
    /// # let job = futures_lite::future::block_on(job);
    /// assert_eq!(job?, "in order");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn ordered(&self) -> SerialQueue {
        SerialQueue::new(Arc::clone(&self.queues))
    }

    /// The pool's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().name("db").threads(1))?;
    /// assert_eq!(pool.handle().name(), "db");
    /// # Ok::<(), reactree::PoolConfigError>(())
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.queues.shared.name
    }

    /// Returns `true` once the pool has begun shutting down.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(1))?;
    /// let handle = pool.handle();
    /// assert!(!handle.is_shut_down());
    /// pool.shutdown();
    /// assert!(handle.is_shut_down());
    /// # Ok::<(), reactree::PoolConfigError>(())
    /// ```
    #[must_use]
    pub fn is_shut_down(&self) -> bool {
        self.queues.shared.is_stopping()
    }

    /// A snapshot of the pool's counters; see [`PoolStats`].
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(2).queue_capacity(16))?;
    /// let stats = pool.handle().stats();
    /// assert_eq!((stats.threads, stats.queue_capacity), (2, 16));
    /// # Ok::<(), reactree::PoolConfigError>(())
    /// ```
    #[must_use]
    pub fn stats(&self) -> PoolStats {
        let shared = &self.queues.shared;
        let queue_len = self.queues.len();
        shared
            .counters
            .snapshot(shared.threads, queue_len, shared.queue_capacity)
    }

    /// The jobs that, at `now`, have run longer than the pool's long-job threshold; for
    /// the runtime's watchdog.
    pub(crate) fn overdue_jobs(&self, now: Instant) -> Vec<OverdueJob> {
        self.queues.shared.overdue_jobs(now)
    }

    /// The name of worker thread `index`, to name it in the watchdog's warning.
    pub(crate) fn thread_name(&self, index: usize) -> String {
        self.queues.shared.thread_name(index)
    }
}

impl fmt::Debug for PoolHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolHandle")
            .field("name", &self.name())
            .field("shut_down", &self.is_shut_down())
            .finish()
    }
}
