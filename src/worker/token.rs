//! The flag a running job reads to learn that nobody wants its result any more.
//!
//! Invariant: a token only ever goes from "not cancelled" to "cancelled", never back.

use std::fmt;
use std::sync::Arc;

/// Where a token reads its state: the job it belongs to (and, through it, the pool).
pub(crate) trait CancelSource: Send + Sync {
    /// Whether the job should stop early.
    fn is_cancelled(&self) -> bool;
}

/// Tells a running job that its result is no longer wanted.
///
/// Every job receives a `&CancellationToken`. It becomes cancelled, and stays so, when
/// the job's [`JobFuture`](crate::JobFuture) is dropped or
/// [cancelled](crate::JobFuture::cancel) while the job runs, or when the pool
/// [shuts down](crate::WorkerPool::shutdown). Checking it is a couple of atomic loads, so
/// a long job can check it in its inner loop. A job that never checks it simply runs to
/// the end; its result is then dropped.
///
/// Tokens are cheap to clone and may be sent to other threads the job starts.
///
/// # Examples
///
/// ```
/// use reactree::{PoolConfig, WorkerPool};
///
/// let pool = WorkerPool::new(PoolConfig::new().threads(1))?;
/// let sum = pool.handle().execute(|token| {
///     let mut sum = 0u64;
///     for i in 0..1_000 {
///         if token.is_cancelled() {
///             break;
///         }
///         sum += i;
///     }
///     sum
/// });
/// # let sum = futures_lite::future::block_on(sum);
/// assert_eq!(sum?, 499_500);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CancellationToken {
    source: Arc<dyn CancelSource>,
}

impl CancellationToken {
    pub(crate) fn new(source: Arc<dyn CancelSource>) -> Self {
        Self { source }
    }

    /// Returns `true` once the job's result is no longer wanted.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(1))?;
    /// let seen = pool.handle().execute(|token| token.is_cancelled());
    /// # let seen = futures_lite::future::block_on(seen);
    /// assert_eq!(seen?, false);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.source.is_cancelled()
    }
}

impl fmt::Debug for CancellationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancellationToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
