//! The pool: it owns the worker threads and carries out shutdown.

use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::config::{PoolConfig, PoolConfigError};
use super::handle::PoolHandle;
use super::queue::Queues;
use super::shared::{Shared, Transition};
use super::stats::PoolStats;
use super::thread as worker_thread;

/// A fixed set of worker threads with a bounded queue, for blocking work (Vert.x's
/// `executeBlocking`).
///
/// The pool starts all its threads in [`new`](Self::new) and keeps exactly that many
/// until [`shutdown`](Self::shutdown): not more under load, not fewer when jobs panic.
/// Submit jobs through a [`PoolHandle`]. Dropping the pool shuts it down.
///
/// # Examples
///
/// ```
/// use reactree::{PoolConfig, WorkerPool};
///
/// let pool = WorkerPool::new(PoolConfig::new().name("files").threads(2))?;
/// let handle = pool.handle();
/// let listing = handle.execute_fn(|| std::fs::read_dir(".").map(|dir| dir.count()));
/// # let listing = futures_lite::future::block_on(listing);
/// assert!(listing?.is_ok());
/// let report = pool.shutdown();
/// assert_eq!(report.joined, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WorkerPool {
    queues: Arc<Queues>,
    threads: Vec<JoinHandle<()>>,
    exited: flume::Receiver<usize>,
    grace: Duration,
}

/// What [`WorkerPool::shutdown`] did with the threads.
///
/// # Examples
///
/// ```
/// use reactree::{PoolConfig, WorkerPool};
///
/// let pool = WorkerPool::new(PoolConfig::new().threads(3))?;
/// let report = pool.shutdown();
/// assert_eq!((report.joined, report.detached), (3, 0));
/// # Ok::<(), reactree::PoolConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Threads that finished within the grace period and were joined.
    pub joined: usize,
    /// Threads still running a job (which ignored its token) when the grace period
    /// ended. They were detached: each exits on its own once its job returns, and the
    /// job's future, if still held, then gets its result. Also counted in
    /// [`PoolStats::detached`].
    pub detached: usize,
}

impl WorkerPool {
    /// Starts a pool: validates `config`, then spawns all its threads, named
    /// `reactree-worker-{name}-{n}` for `n` in `0..threads`.
    ///
    /// # Errors
    ///
    /// Any [`PoolConfigError`]: an invalid configuration (see [`PoolConfig::validate`]), or a
    /// thread the operating system refused to start (the threads already started are
    /// stopped again).
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, PoolConfigError, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(2))?;
    /// assert_eq!(pool.stats().threads, 2);
    /// let error = WorkerPool::new(PoolConfig::new().queue_capacity(0)).unwrap_err();
    /// assert!(matches!(error, PoolConfigError::ZeroQueueCapacity));
    /// # Ok::<(), PoolConfigError>(())
    /// ```
    pub fn new(config: PoolConfig) -> Result<Self, PoolConfigError> {
        config.validate()?;
        let queues = Arc::new(Queues::new(Arc::new(Shared::new(&config))));
        let (exited_tx, exited) = flume::unbounded();
        let mut pool = Self {
            queues,
            threads: Vec::with_capacity(config.threads),
            exited,
            grace: config.shutdown_grace,
        };
        for index in 0..config.threads {
            let spawned = worker_thread::spawn(index, &pool.queues, &exited_tx)?;
            pool.threads.push(spawned);
        }
        tracing::info!(
            pool = %config.name,
            threads = config.threads,
            queue.capacity = config.queue_capacity,
            "worker pool started"
        );
        Ok(pool)
    }

    /// A handle to submit jobs from any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(1))?;
    /// let answer = pool.handle().execute_fn(|| 42);
    /// # let answer = futures_lite::future::block_on(answer);
    /// assert_eq!(answer?, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn handle(&self) -> PoolHandle {
        PoolHandle::new(Arc::clone(&self.queues))
    }

    /// The pool's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(1))?;
    /// assert_eq!(pool.name(), "default");
    /// # Ok::<(), reactree::PoolConfigError>(())
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.queues.shared.name
    }

    /// A snapshot of the pool's counters; see [`PoolStats`].
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(1))?;
    /// assert_eq!(pool.stats().submitted, 0);
    /// # Ok::<(), reactree::PoolConfigError>(())
    /// ```
    #[must_use]
    pub fn stats(&self) -> PoolStats {
        self.handle().stats()
    }

    /// Stops the pool and waits, at most the grace period, for its threads.
    ///
    /// In order: the pool stops taking jobs (submissions settle with
    /// [`JobError::ShutDown`](crate::JobError::ShutDown), `try_` forms refuse); idle
    /// threads exit; every queued job, plain or ordered, is dropped unrun and its future
    /// resolves to `ShutDown`; every running job's token is set. Threads that finish within
    /// the grace period are joined. A thread whose job ignores its token past the grace
    /// period is detached, not waited for: it exits by itself when the job returns (the
    /// job's future, if still held, then gets the result), and it is counted in [`ShutdownReport::detached`] and
    /// [`PoolStats::detached`]. So shutdown never takes much longer than the grace period.
    ///
    /// Dropping the pool does the same.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(2))?;
    /// let handle = pool.handle();
    /// let report = pool.shutdown();
    /// assert_eq!(report.detached, 0);
    /// # let late = futures_lite::future::block_on(handle.execute_fn(|| 1));
    /// assert!(late.unwrap_err().is_shut_down());
    /// # Ok::<(), reactree::PoolConfigError>(())
    /// ```
    pub fn shutdown(mut self) -> ShutdownReport {
        self.stop()
    }

    /// Shutdown proper; idempotent, shared by `shutdown` and `Drop`.
    fn stop(&mut self) -> ShutdownReport {
        let shared = Arc::clone(&self.queues.shared);
        if shared.transition_to_stopping() == Transition::AlreadyDone {
            return ShutdownReport::default();
        }
        tracing::info!(pool = %shared.name, "worker pool stopping");
        let deadline = crate::rt::from_now(self.grace);
        self.queues.inbox.close();
        let cancelled = self.queues.drain();
        let exited = self.await_exits(deadline);
        let report = self.join_or_detach(&exited);
        self.queues.drain();
        let _stopped = shared.transition_to_stopped();
        tracing::info!(
            pool = %shared.name,
            cancelled,
            joined = report.joined,
            detached = report.detached,
            "worker pool stopped"
        );
        report
    }

    /// Collects exit reports until every thread has reported or `deadline` passes.
    fn await_exits(&self, deadline: Instant) -> Vec<bool> {
        let mut exited = vec![false; self.threads.len()];
        let mut waiting = self.threads.len();
        let me = std::thread::current().id();
        if self.threads.iter().any(|t| t.thread().id() == me) {
            // Dropped from one of its own jobs: that thread cannot exit before we return,
            // so it is detached rather than waited for.
            waiting -= 1;
        }
        while waiting > 0 {
            match self.exited.recv_deadline(deadline) {
                Ok(index) if !exited[index] => {
                    exited[index] = true;
                    waiting -= 1;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        exited
    }

    /// Joins the threads that exited; detaches (and counts) the others.
    fn join_or_detach(&mut self, exited: &[bool]) -> ShutdownReport {
        let mut report = ShutdownReport::default();
        for (handle, &done) in self.threads.drain(..).zip(exited) {
            if done {
                // The thread has left its loop; a panic past it cannot happen, ignore it.
                let _joined = handle.join();
                report.joined += 1;
            } else {
                report.detached += 1;
            }
        }
        if report.detached > 0 {
            let shared = &self.queues.shared;
            shared.counters.record_detached(report.detached);
            tracing::warn!(
                pool = %shared.name,
                detached = report.detached,
                "worker threads still running past the shutdown grace period were detached"
            );
        }
        report
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        let _report = self.stop();
    }
}

impl fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPool")
            .field("name", &self.name())
            .field("threads", &self.threads.len())
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}
