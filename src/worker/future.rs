//! The future a submitter awaits: first, if the queue was full, room in the queue; then
//! the job's result.
//!
//! Invariant: dropping the future before it returned `Ready` abandons the job exactly
//! once (a queued job never runs, a running job sees its token set).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use flume::r#async::SendFut;

use super::error::JobError;
use super::job::{Outcome, QueuedJob};
use super::queue::Queues;

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
    sending: Option<Sending>,
    done: bool,
}

/// A job still waiting for room in the shared queue.
struct Sending {
    send: SendFut<'static, QueuedJob>,
    queues: Arc<Queues>,
}

impl<T> JobFuture<T> {
    /// A future for a job already in a queue (or already settled).
    pub(crate) fn admitted(outcome: Arc<dyn Outcome<T>>) -> Self {
        Self {
            outcome,
            sending: None,
            done: false,
        }
    }

    /// A future for a job that must first wait for room in the shared queue.
    pub(crate) fn sending(
        outcome: Arc<dyn Outcome<T>>,
        send: SendFut<'static, QueuedJob>,
        queues: Arc<Queues>,
    ) -> Self {
        let sending = Some(Sending { send, queues });
        Self {
            outcome,
            sending,
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

    /// Waits for room in the shared queue, if still waiting; `Ready` once admitted.
    fn poll_admission(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(sending) = &mut self.sending else {
            return Poll::Ready(());
        };
        if !sending.queues.shared.is_stopping() {
            // A refused item comes back in the error; dropping it settles it as ShutDown.
            let _sent = std::task::ready!(Pin::new(&mut sending.send).poll(cx));
        }
        if let Some(Sending { send, queues }) = self.sending.take() {
            drop(send);
            queues.after_send();
        }
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
            .field("waiting_for_room", &self.sending.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
