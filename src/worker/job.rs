//! One submitted job: the state shared by its queue entry, the worker that runs it and
//! the future that awaits it. One allocation per job holds all three views.
//!
//! Invariants:
//! - the stage moves `Queued` → (`Running` →) `Finished` → `Consumed`, or to `Abandoned`
//!   when the future goes away, or to `Withdrawn` when a `try_` refusal hands the work
//!   back; the work runs at most once, and only from `Queued`;
//! - the job is counted settled exactly once, by whoever moves it out of `Queued` without
//!   running it (cancelled) or by the worker that ran it (completed or panicked), and
//!   always before the waker is woken;
//! - user values (the work, its output, a panic payload) are dropped outside the lock.

use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::error::JobError;
use super::shared::Shared;
use super::token::{CancelSource, CancellationToken};
use super::unwind::{drop_quietly, panic_message, wake_quietly};
use super::watch::WorkerSlot;

/// Something a worker can run: the user's closure, with or without a token.
pub(crate) trait Work: Send + 'static {
    /// What the closure returns.
    type Output: Send + 'static;
    /// Runs the closure.
    fn call(self, token: &CancellationToken) -> Self::Output;
}

/// A `FnOnce(&CancellationToken) -> T` job.
pub(crate) struct WithToken<F>(pub(crate) F);

impl<F, T> Work for WithToken<F>
where
    F: FnOnce(&CancellationToken) -> T + Send + 'static,
    T: Send + 'static,
{
    type Output = T;

    fn call(self, token: &CancellationToken) -> T {
        (self.0)(token)
    }
}

/// A `FnOnce() -> T` job, which never looks at its token.
pub(crate) struct WithoutToken<F>(pub(crate) F);

impl<F, T> Work for WithoutToken<F>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    type Output = T;

    fn call(self, _token: &CancellationToken) -> T {
        (self.0)()
    }
}

/// The job as its queue entry sees it.
pub(crate) trait Runnable: Send + Sync {
    /// Runs the job on the calling worker, unless it was abandoned or cancelled.
    fn run(self: Arc<Self>, worker: &WorkerSlot);
    /// Settles a job that will never run with `error`, if it is still queued.
    fn discard(&self, error: JobError);
}

/// The job as its future sees it.
pub(crate) trait Outcome<T>: Send + Sync {
    /// Takes the result if it is there, or registers the waker.
    fn poll_outcome(&self, cx: &mut Context<'_>) -> Poll<Result<T, JobError>>;
    /// The future went away: a queued job never runs, a running one sees its token.
    fn abandon(&self);
    /// Cancels the job, keeping the future: a queued job settles as `Cancelled`.
    fn cancel(&self);
}

enum Stage<W: Work> {
    Queued(W),
    Running,
    Finished(Result<W::Output, JobError>),
    Consumed,
    Abandoned,
    Withdrawn,
}

struct Slot<W: Work> {
    stage: Stage<W>,
    waker: Option<Waker>,
}

/// The shared cell of one job.
pub(crate) struct Job<W: Work> {
    shared: Arc<Shared>,
    cancelled: AtomicBool,
    slot: Mutex<Slot<W>>,
}

/// User values that leave the lock to be dropped, and a waker to wake.
type Leftovers<W> = (Option<Stage<W>>, Option<Waker>);

impl<W: Work> Job<W> {
    /// A new queued job; the caller has counted it as submitted.
    pub(crate) fn new(shared: Arc<Shared>, work: W) -> Arc<Self> {
        Arc::new(Self {
            shared,
            cancelled: AtomicBool::new(false),
            slot: Mutex::new(Slot {
                stage: Stage::Queued(work),
                waker: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Slot<W>> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the work back after a `try_` refusal. `None` only if someone else settled
    /// it, which cannot happen before the job was ever shared.
    pub(crate) fn withdraw(&self) -> Option<W> {
        match mem::replace(&mut self.lock().stage, Stage::Withdrawn) {
            Stage::Queued(work) => Some(work),
            _ => None,
        }
    }

    fn transition_to_running(&self) -> Option<W> {
        let mut slot = self.lock();
        match mem::replace(&mut slot.stage, Stage::Running) {
            Stage::Queued(work) => Some(work),
            other => {
                slot.stage = other;
                None
            }
        }
    }

    /// Moves a queued job to `Finished(Err(error))` without running it.
    fn transition_to_settled(&self, error: JobError) -> Leftovers<W> {
        let mut slot = self.lock();
        if !matches!(slot.stage, Stage::Queued(_)) {
            return (None, None);
        }
        self.shared.counters.record_cancelled();
        let work = mem::replace(&mut slot.stage, Stage::Finished(Err(error)));
        (Some(work), slot.waker.take())
    }

    fn transition_to_finished(&self, result: Result<W::Output, JobError>) -> Leftovers<W> {
        let mut slot = self.lock();
        match slot.stage {
            Stage::Running => {
                slot.stage = Stage::Finished(result);
                (None, slot.waker.take())
            }
            _ => (Some(Stage::Finished(result)), None),
        }
    }

    /// Runs the work under `catch_unwind` with the worker's watch slot set, and counts it.
    fn call(self: &Arc<Self>, work: W, worker: &WorkerSlot) -> Result<W::Output, JobError> {
        let counters = &self.shared.counters;
        counters.record_started();
        worker.mark_started(self.shared.epoch);
        tracing::trace!(pool = %self.shared.name, "worker.job: started");
        let token = CancellationToken::new(Arc::clone(self) as Arc<dyn CancelSource>);
        let result = panic::catch_unwind(AssertUnwindSafe(|| work.call(&token)));
        worker.mark_idle();
        counters.record_stopped();
        match result {
            Ok(output) => {
                counters.record_completed();
                tracing::trace!(pool = %self.shared.name, "worker.job: completed");
                Ok(output)
            }
            Err(payload) => {
                counters.record_panicked();
                let message = panic_message(payload.as_ref());
                tracing::warn!(pool = %self.shared.name, panic.message = %message, "worker job panicked");
                drop_quietly(payload);
                Err(JobError::Panicked(message))
            }
        }
    }
}

/// Drops what left the lock and wakes the waker, in that order of safety.
fn settle<W: Work>((values, waker): Leftovers<W>) {
    if let Some(waker) = waker {
        wake_quietly(waker);
    }
    if let Some(values) = values {
        drop_quietly(values);
    }
}

impl<W: Work> Runnable for Job<W> {
    fn run(self: Arc<Self>, worker: &WorkerSlot) {
        let Some(work) = self.transition_to_running() else {
            tracing::trace!(pool = %self.shared.name, "worker.job: skipped, abandoned before start");
            return;
        };
        let result = self.call(work, worker);
        settle(self.transition_to_finished(result));
    }

    fn discard(&self, error: JobError) {
        settle(self.transition_to_settled(error));
    }
}

impl<W: Work> Outcome<W::Output> for Job<W> {
    fn poll_outcome(&self, cx: &mut Context<'_>) -> Poll<Result<W::Output, JobError>> {
        let mut slot = self.lock();
        match mem::replace(&mut slot.stage, Stage::Consumed) {
            Stage::Finished(result) => Poll::Ready(result),
            other => {
                slot.stage = other;
                match &mut slot.waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    waker => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }

    fn abandon(&self) {
        let leftovers = {
            let mut slot = self.lock();
            let old = mem::replace(&mut slot.stage, Stage::Abandoned);
            match old {
                Stage::Queued(_) => self.shared.counters.record_cancelled(),
                Stage::Running => self.cancelled.store(true, Ordering::Release),
                _ => {}
            }
            (Some(old), slot.waker.take())
        };
        // Our own waker: dropping it is enough, waking it would be a spurious wakeup.
        drop_quietly(leftovers);
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        settle(self.transition_to_settled(JobError::Cancelled));
    }
}

impl<W: Work> CancelSource for Job<W> {
    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire) || self.shared.is_stopping()
    }
}

/// A job's place in a queue: an armed guard. Dropped without being run (queue drained at
/// shutdown, channel gone), it settles its job as [`JobError::ShutDown`].
pub(crate) struct QueuedJob {
    job: Option<Arc<dyn Runnable>>,
}

impl QueuedJob {
    pub(crate) fn new(job: Arc<dyn Runnable>) -> Self {
        Self { job: Some(job) }
    }

    /// Runs the job on the calling worker; this disarms the guard.
    pub(crate) fn run(mut self, worker: &WorkerSlot) {
        if let Some(job) = self.job.take() {
            job.run(worker);
        }
    }

    /// Disarms the guard without settling the job (a `try_` refusal hands it back).
    pub(crate) fn disarm(mut self) {
        self.job = None;
    }
}

impl Drop for QueuedJob {
    fn drop(&mut self) {
        if let Some(job) = self.job.take() {
            job.discard(JobError::ShutDown);
        }
    }
}

impl std::fmt::Debug for QueuedJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuedJob")
            .field("armed", &self.job.is_some())
            .finish()
    }
}
