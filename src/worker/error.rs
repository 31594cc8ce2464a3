//! The errors of the worker pool, one type per operation family.

use std::fmt;

/// Why a job did not produce its value; the error of a [`JobFuture`](crate::JobFuture).
///
/// # Examples
///
/// ```
/// use reactree::{JobError, PoolConfig, WorkerPool};
///
/// let pool = WorkerPool::new(PoolConfig::new().threads(1))?;
/// let job = pool.handle().execute_fn(|| -> u32 { panic!("disk on fire") });
/// # let job = futures_lite::future::block_on(job);
/// let error: JobError = job.unwrap_err();
/// assert!(error.is_panicked());
/// assert_eq!(error.panic_message(), Some("disk on fire"));
/// assert_eq!(error.to_string(), "job panicked: disk on fire");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The job panicked; the payload's text (or a placeholder if it was not a string).
    ///
    /// The worker thread caught the panic and lives on. Treat it like an exception from a
    /// blocking call: log it, or fail the request that needed the result.
    #[error("job panicked: {0}")]
    Panicked(String),
    /// The job was [cancelled](crate::JobFuture::cancel) before it started, so it never ran.
    ///
    /// Expect it only where your own code cancels jobs it still awaits.
    #[error("job cancelled")]
    Cancelled,
    /// The pool shut down before the job started, so it never ran; or the job was submitted
    /// to a pool that had already shut down.
    ///
    /// Expect it while the runtime stops; it is not worth retrying on the same pool.
    #[error("worker pool shut down")]
    ShutDown,
}

impl JobError {
    /// Returns `true` if the job panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::JobError;
    ///
    /// assert!(JobError::Panicked("boom".into()).is_panicked());
    /// assert!(!JobError::ShutDown.is_panicked());
    /// ```
    #[must_use]
    pub fn is_panicked(&self) -> bool {
        matches!(self, Self::Panicked(_))
    }

    /// Returns `true` if the job was cancelled before it started.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::JobError;
    ///
    /// assert!(JobError::Cancelled.is_cancelled());
    /// ```
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled)
    }

    /// Returns `true` if the pool shut down before the job started.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::JobError;
    ///
    /// assert!(JobError::ShutDown.is_shut_down());
    /// ```
    #[must_use]
    pub fn is_shut_down(&self) -> bool {
        matches!(self, Self::ShutDown)
    }

    /// The panic message, if the job panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::JobError;
    ///
    /// assert_eq!(JobError::Panicked("boom".into()).panic_message(), Some("boom"));
    /// assert_eq!(JobError::Cancelled.panic_message(), None);
    /// ```
    #[must_use]
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            Self::Panicked(message) => Some(message),
            _ => None,
        }
    }
}

/// A job the pool refused at once; the job travels back inside ([`into_inner`]).
///
/// Returned by the `try_` submission methods, which never wait.
///
/// [`into_inner`]: TryExecuteError::into_inner
///
/// # Examples
///
/// ```
/// use reactree::{PoolConfig, TryExecuteError, WorkerPool};
///
/// let pool = WorkerPool::new(PoolConfig::new().threads(1))?;
/// let handle = pool.handle();
/// pool.shutdown();
/// let refused: TryExecuteError<_> = handle.try_execute_fn(|| 7).unwrap_err();
/// assert!(refused.is_shut_down());
/// assert_eq!(refused.to_string(), "worker pool shut down");
/// let job = refused.into_inner();
/// assert_eq!(job(), 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum TryExecuteError<F> {
    /// The queue held its capacity of jobs. This is backpressure: shed the work, or use
    /// the awaiting `execute` form to wait for room.
    #[error("worker queue full")]
    Full(F),
    /// The pool has shut down and takes no more jobs.
    #[error("worker pool shut down")]
    ShutDown(F),
}

impl<F> TryExecuteError<F> {
    /// Gives back the refused job.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::TryExecuteError;
    ///
    /// let refused = TryExecuteError::Full("job");
    /// assert_eq!(refused.into_inner(), "job");
    /// ```
    #[must_use]
    pub fn into_inner(self) -> F {
        match self {
            Self::Full(job) | Self::ShutDown(job) => job,
        }
    }

    /// Returns `true` if the queue was full.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::TryExecuteError;
    ///
    /// assert!(TryExecuteError::Full(()).is_full());
    /// ```
    #[must_use]
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    /// Returns `true` if the pool had shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::TryExecuteError;
    ///
    /// assert!(TryExecuteError::ShutDown(()).is_shut_down());
    /// ```
    #[must_use]
    pub fn is_shut_down(&self) -> bool {
        matches!(self, Self::ShutDown(_))
    }
}

impl<F> fmt::Debug for TryExecuteError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::ShutDown(_) => f.write_str("ShutDown(..)"),
        }
    }
}
