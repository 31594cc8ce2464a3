//! The future a submitter awaits: first, if the queue (or the ordered line) was full,
//! room in it; then the job's result.
//!
//! Invariant: dropping the future before it returned `Ready` abandons the job exactly
//! once (a queued job never runs, a running job sees its token set). The job is
//! abandoned before the wait for room is given up (its ticket is a field, dropped after
//! `Drop::drop`), so a job dropped while waiting is counted once, as cancelled.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::admission::QueueTicket;
use super::error::JobError;
use super::job::Outcome;
use super::serial::LineTicket;

/// The result of a job submitted to a worker pool.
///
/// Resolves to the job's value, or to a [`JobError`]. When awaited inside a component
/// task, the continuation runs on the awaiting task's own thread (the component's
/// reactor), never on the worker.
///
/// Dropping it cancels the job: a job that has not started never runs (counted as
/// cancelled), a running job sees its [`CancellationToken`](crate::CancellationToken)
/// set and its result is dropped when it returns.
///
/// # Panics
///
/// Polling it again after it returned `Ready` panics.
///
/// # Examples
///
/// ```
/// use reactree::{PoolConfig, WorkerPool};
///
/// let pool = WorkerPool::new(PoolConfig::new().threads(2))?;
/// let length = pool.handle().execute_fn(|| std::fs::read_dir(".").map(|d| d.count()));
/// # let length = futures_lite::future::block_on(length);
/// assert!(length?.is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The value must be `Send`, as it crosses from the worker thread:
///
/// ```compile_fail
/// use reactree::{PoolConfig, WorkerPool};
///
/// let pool = WorkerPool::new(PoolConfig::new()).unwrap();
/// let _job = pool.handle().execute_fn(|| std::rc::Rc::new(1));
/// ```
#[must_use = "dropping a JobFuture cancels its job"]
pub struct JobFuture<T> {
    outcome: Arc<dyn Outcome<T>>,
    admission: Option<Admission>,
    done: bool,
}

/// Where a job waits for room, if it was not admitted at once.
enum Admission {
    /// At the gate of the shared queue.
    Shared(QueueTicket),
    /// In an ordered line's list of waiting submitters.
    Line(LineTicket),
}

impl<T> JobFuture<T> {
    /// A future for a job already in a queue (or already settled).
    pub(crate) fn admitted(outcome: Arc<dyn Outcome<T>>) -> Self {
        Self {
            outcome,
            admission: None,
            done: false,
        }
    }

    /// A future for a job that must first wait for room in the shared queue.
    pub(crate) fn waiting_for_room(outcome: Arc<dyn Outcome<T>>, ticket: QueueTicket) -> Self {
        Self {
            outcome,
            admission: Some(Admission::Shared(ticket)),
            done: false,
        }
    }

    /// A future for an ordered job that must first wait for room in its line.
    pub(crate) fn waiting_in_line(outcome: Arc<dyn Outcome<T>>, ticket: LineTicket) -> Self {
        Self {
            outcome,
            admission: Some(Admission::Line(ticket)),
            done: false,
        }
    }

    /// Cancels the job but keeps the future, which then resolves to
    /// [`JobError::Cancelled`] if the job had not started, or to the job's own result if
    /// it had (its token is set, so a job that checks it can return early).
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(1))?;
    /// let (release, gate) = flume::bounded::<()>(0);
    /// let blocker = pool.handle().execute_fn(move || gate.recv().ok());
    /// let queued = pool.handle().execute_fn(|| "never runs");
    /// queued.cancel();
    /// release.send(()).ok();
    /// # futures_lite::future::block_on(async {
    /// assert!(blocker.await.is_ok());
    /// assert!(queued.await.unwrap_err().is_cancelled());
    /// # });
    /// # Ok::<(), reactree::PoolConfigError>(())
    /// ```
    pub fn cancel(&self) {
        self.outcome.cancel();
    }

    /// Waits for room in the shared queue or the line, if still waiting; `Ready` once
    /// admitted (or settled by shutdown).
    fn poll_admission(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.admission {
            None => return Poll::Ready(()),
            Some(Admission::Shared(ticket)) => std::task::ready!(ticket.poll_admitted(cx)),
            Some(Admission::Line(ticket)) => std::task::ready!(ticket.poll_admitted(cx)),
        }
        self.admission = None;
        Poll::Ready(())
    }
}

impl<T> Future for JobFuture<T> {
    type Output = Result<T, JobError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "JobFuture polled after completion");
        std::task::ready!(this.poll_admission(cx));
        let result = std::task::ready!(this.outcome.poll_outcome(cx));
        this.done = true;
        Poll::Ready(result)
    }
}

impl<T> Drop for JobFuture<T> {
    fn drop(&mut self) {
        if !self.done {
            self.outcome.abandon();
        }
    }
}

impl<T> fmt::Debug for JobFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobFuture")
            .field("waiting_for_room", &self.admission.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
