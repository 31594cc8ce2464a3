//! Counters kept as relaxed atomics, and the snapshot the inspector shows.
//!
//! Invariant: every job handed to the pool is counted once in `submitted` and, once it is
//! settled, once in exactly one of `completed`, `rejected`, `cancelled` or `panicked`. A
//! job is counted as settled *before* its future is woken, so a caller that has awaited
//! all its futures sees the counters add up.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// The pool's counters; all relaxed, as they order nothing.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    submitted: AtomicU64,
    completed: AtomicU64,
    rejected: AtomicU64,
    cancelled: AtomicU64,
    panicked: AtomicU64,
    active: AtomicUsize,
    detached: AtomicUsize,
}

impl Counters {
    pub(crate) fn record_submitted(&self) {
        self.submitted.fetch_add(1, Relaxed);
    }

    pub(crate) fn record_completed(&self) {
        self.completed.fetch_add(1, Relaxed);
    }

    pub(crate) fn record_rejected(&self) {
        self.rejected.fetch_add(1, Relaxed);
    }

    pub(crate) fn record_cancelled(&self) {
        self.cancelled.fetch_add(1, Relaxed);
    }

    pub(crate) fn record_panicked(&self) {
        self.panicked.fetch_add(1, Relaxed);
    }

    pub(crate) fn record_started(&self) {
        self.active.fetch_add(1, Relaxed);
    }

    pub(crate) fn record_stopped(&self) {
        self.active.fetch_sub(1, Relaxed);
    }

    pub(crate) fn record_detached(&self, threads: usize) {
        self.detached.fetch_add(threads, Relaxed);
    }

    /// Fills the counter fields of a snapshot.
    pub(crate) fn snapshot(&self, threads: usize, queue_len: usize, capacity: usize) -> PoolStats {
        PoolStats {
            threads,
            detached: self.detached.load(Relaxed),
            queue_len,
            queue_capacity: capacity,
            active: self.active.load(Relaxed),
            submitted: self.submitted.load(Relaxed),
            completed: self.completed.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            cancelled: self.cancelled.load(Relaxed),
            panicked: self.panicked.load(Relaxed),
        }
    }
}

/// A snapshot of a pool's counters, for the inspector and for tests.
///
/// The counters are read one by one without a lock, so a snapshot taken while jobs run
/// may be off by the jobs settling meanwhile. Once the pool is quiescent (every future
/// settled or dropped), `submitted == completed + rejected + cancelled + panicked`, where:
///
/// - `submitted` counts every job handed to an `execute` or `try_execute` method (plain or
///   ordered), accepted or not;
/// - `completed` counts jobs that ran and returned, including those whose future was
///   dropped while they ran (their result was dropped);
/// - `rejected` counts jobs a `try_` method refused and handed back;
/// - `cancelled` counts jobs that never ran: future dropped or
///   [cancelled](crate::JobFuture::cancel) first, or pool shut down first;
/// - `panicked` counts jobs that ran and panicked.
///
/// # Examples
///
/// ```
/// use reactree::{PoolConfig, WorkerPool};
///
/// let pool = WorkerPool::new(PoolConfig::new().threads(2))?;
/// let ok = pool.handle().execute_fn(|| 1);
/// let bad = pool.handle().execute_fn(|| -> i32 { panic!("no") });
/// # futures_lite::future::block_on(async { let _ = ok.await; let _ = bad.await; });
/// let stats = pool.stats();
/// assert_eq!(stats.submitted, 2);
/// assert_eq!(stats.completed, 1);
/// assert_eq!(stats.panicked, 1);
/// assert_eq!(stats.in_flight(), 0);
/// # Ok::<(), reactree::PoolConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct PoolStats {
    /// Worker threads the pool was configured with; the number never changes.
    pub threads: usize,
    /// Threads that shutdown left running past the grace period (their job ignored its
    /// token). Each exits as soon as its job returns.
    pub detached: usize,
    /// Jobs waiting in the shared queue (ordered lines are not included).
    pub queue_len: usize,
    /// The shared queue's capacity.
    pub queue_capacity: usize,
    /// Jobs running now.
    pub active: usize,
    /// Jobs handed to the pool, accepted or not.
    pub submitted: u64,
    /// Jobs that ran and returned.
    pub completed: u64,
    /// Jobs refused at once by a `try_` method.
    pub rejected: u64,
    /// Jobs that never ran: their future was dropped or cancelled, or the pool shut down.
    pub cancelled: u64,
    /// Jobs that ran and panicked.
    pub panicked: u64,
}

impl PoolStats {
    /// Jobs submitted but not yet settled (queued, waiting for room, or running).
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(1))?;
    /// assert_eq!(pool.stats().in_flight(), 0);
    /// # Ok::<(), reactree::PoolConfigError>(())
    /// ```
    #[must_use]
    pub fn in_flight(&self) -> u64 {
        let settled = self.completed + self.rejected + self.cancelled + self.panicked;
        self.submitted.saturating_sub(settled)
    }
}
