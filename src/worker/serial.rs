//! Ordered execution, as Vert.x's `ordered` flag: the jobs of one [`SerialQueue`] run one
//! after another, in submission order, on whichever worker is free, while other jobs
//! keep every thread busy. No thread is pinned.
//!
//! A line holds its jobs in order. While it is non-empty, exactly one [`SerialRunner`]
//! for it exists, either in the runners channel or running on a worker; the runner runs
//! up to [`BATCH`] jobs, then goes to the back of the runners channel so that other lines
//! and plain jobs get their turn.
//!
//! Invariants:
//! - at most one job of a line runs at any time, and jobs start in line order;
//! - `scheduled` is `true` exactly while a runner for the line exists;
//! - a runner dropped without running (shutdown drained it) settles every job of its
//!   line as ShutDown.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::error::TryExecuteError;
use super::future::JobFuture;
use super::handle::PoolHandle;
use super::job::{Job, QueuedJob, WithToken, WithoutToken, Work};
use super::queue::Queues;
use super::token::CancellationToken;
use super::watch::WorkerSlot;

/// Jobs a runner runs before it yields its worker to other work.
const BATCH: usize = 32;

/// A submitter whose jobs run one at a time, in submission order, on a shared pool.
///
/// Get one with [`PoolHandle::ordered`]; a component keeps it for jobs that must not
/// overlap or reorder (writes to one file, calls on one connection). Clones share the
/// same line.
///
/// Capacity: [`try_execute`](Self::try_execute) refuses a job when the pool's queue
/// capacity of jobs already wait in the line. The awaiting [`execute`](Self::execute)
/// never refuses: like a flume sender waiting for room, its job waits past the capacity,
/// still in order, and is admitted as earlier jobs finish; awaiting each result before
/// submitting the next keeps the line short.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use reactree::{PoolConfig, WorkerPool};
///
/// let pool = WorkerPool::new(PoolConfig::new().threads(4))?;
/// let line = pool.handle().ordered();
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let jobs: Vec<_> = (0..10)
///     .map(|i| {
///         let log = Arc::clone(&log);
///         line.execute_fn(move || log.lock().unwrap().push(i))
///     })
///     .collect();
/// # futures_lite::future::block_on(async { for job in jobs { job.await.unwrap(); } });
/// assert_eq!(*log.lock().unwrap(), (0..10).collect::<Vec<_>>());
/// # Ok::<(), reactree::PoolConfigError>(())
/// ```
#[derive(Clone)]
pub struct SerialQueue {
    queues: Arc<Queues>,
    line: Arc<SerialLine>,
}

/// The ordered jobs of one serial queue.
pub(crate) struct SerialLine {
    capacity: usize,
    state: Mutex<LineState>,
}

struct LineState {
    jobs: VecDeque<QueuedJob>,
    scheduled: bool,
}

impl SerialLine {
    fn lock(&self) -> MutexGuard<'_, LineState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the next job, or marks the line unscheduled when it is empty.
    fn next_job(&self) -> Option<QueuedJob> {
        let mut state = self.lock();
        let next = state.jobs.pop_front();
        state.scheduled = next.is_some();
        next
    }

    /// After a batch: whether the line still has jobs (its runner must be requeued), or
    /// else marks it unscheduled.
    fn keep_scheduled(&self) -> bool {
        let mut state = self.lock();
        state.scheduled = !state.jobs.is_empty();
        state.scheduled
    }

    /// Empties the line (dropping settles each job as ShutDown) and unschedules it.
    fn discard(&self) {
        let jobs = {
            let mut state = self.lock();
            state.scheduled = false;
            std::mem::take(&mut state.jobs)
        };
        drop(jobs);
    }
}

impl SerialQueue {
    pub(crate) fn new(queues: Arc<Queues>) -> Self {
        let capacity = queues.shared.queue_capacity;
        let state = Mutex::new(LineState {
            jobs: VecDeque::new(),
            scheduled: false,
        });
        let line = Arc::new(SerialLine { capacity, state });
        Self { queues, line }
    }

    /// Submits an ordered job; it runs after every job submitted before it to this line
    /// has finished. The job is in line at once; nothing waits for room.
    ///
    /// Resolves to the job's value or a [`JobError`](crate::JobError).
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(2))?;
    /// let line = pool.handle().ordered();
    /// let first = line.execute(|_token| 1);
    /// let second = line.execute(|_token| 2);
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(first.await? + second.await?, 3);
    /// # Ok::<(), reactree::JobError>(()) })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn execute<F, T>(&self, job: F) -> JobFuture<T>
    where
        F: FnOnce(&CancellationToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit(WithToken(job))
    }

    /// Like [`execute`](Self::execute), for a job that ignores its token.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(2))?;
    /// let answer = pool.handle().ordered().execute_fn(|| 42);
    /// # let answer = futures_lite::future::block_on(answer);
    /// assert_eq!(answer?, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn execute_fn<F, T>(&self, job: F) -> JobFuture<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit(WithoutToken(job))
    }

    /// Submits an ordered job if the line has room now; never waits.
    ///
    /// # Errors
    ///
    /// [`TryExecuteError::Full`] if the pool's queue capacity of jobs wait in the line,
    /// [`TryExecuteError::ShutDown`] if the pool has shut down; either way the job comes
    /// back inside the error and is counted as rejected.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(1).queue_capacity(1))?;
    /// let (started_tx, started) = flume::bounded::<()>(1);
    /// let (release, gate) = flume::bounded::<()>(0);
    /// // Keep the only worker busy, so that the line's jobs wait.
    /// let blocker = pool.handle().execute_fn(move || {
    ///     started_tx.send(()).ok();
    ///     gate.recv().ok()
    /// });
    /// started.recv()?;
    /// let line = pool.handle().ordered();
    /// let first = line.try_execute(|_| 1)?;
    /// // The line holds one waiting job, its capacity.
    /// let refused = line.try_execute(|_| 2).unwrap_err();
    /// assert!(refused.is_full());
    /// release.send(()).ok();
    /// # futures_lite::future::block_on(async { blocker.await.unwrap(); first.await.unwrap() });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_execute<F, T>(&self, job: F) -> Result<JobFuture<T>, TryExecuteError<F>>
    where
        F: FnOnce(&CancellationToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_submit(WithToken(job))
            .map_err(|error| map_refused(error, |w| w.0))
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
    /// let job = pool.handle().ordered().try_execute_fn(|| "done")?;
    /// # let job = futures_lite::future::block_on(job);
    /// assert_eq!(job?, "done");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_execute_fn<F, T>(&self, job: F) -> Result<JobFuture<T>, TryExecuteError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_submit(WithoutToken(job))
            .map_err(|error| map_refused(error, |w| w.0))
    }

    /// Jobs waiting in this line (not counting the one running, if any).
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(1))?;
    /// assert_eq!(pool.handle().ordered().len(), 0);
    /// # Ok::<(), reactree::PoolConfigError>(())
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.line.lock().jobs.len()
    }

    /// Returns `true` if no job is waiting in this line.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().threads(1))?;
    /// assert!(pool.handle().ordered().is_empty());
    /// # Ok::<(), reactree::PoolConfigError>(())
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.line.lock().jobs.is_empty()
    }

    /// The handle of the pool this line runs on.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::{PoolConfig, WorkerPool};
    ///
    /// let pool = WorkerPool::new(PoolConfig::new().name("files").threads(1))?;
    /// assert_eq!(pool.handle().ordered().handle().name(), "files");
    /// # Ok::<(), reactree::PoolConfigError>(())
    /// ```
    #[must_use]
    pub fn handle(&self) -> PoolHandle {
        PoolHandle::new(Arc::clone(&self.queues))
    }

    fn submit<W: Work>(&self, work: W) -> JobFuture<W::Output> {
        let shared = &self.queues.shared;
        shared.counters.record_submitted();
        let job = Job::new(Arc::clone(shared), work);
        let queued = QueuedJob::new(job.clone());
        if shared.is_stopping() {
            drop(queued);
        } else {
            self.push(queued);
        }
        JobFuture::admitted(job)
    }

    fn try_submit<W: Work>(&self, work: W) -> Result<JobFuture<W::Output>, TryExecuteError<W>> {
        let shared = &self.queues.shared;
        shared.counters.record_submitted();
        if shared.is_stopping() {
            shared.counters.record_rejected();
            return Err(TryExecuteError::ShutDown(work));
        }
        let job = Job::new(Arc::clone(shared), work);
        match self.try_push(QueuedJob::new(job.clone()), self.line.capacity) {
            Ok(()) => Ok(JobFuture::admitted(job)),
            Err(queued) => Err(self.queues.refuse(&job, (queued, true))),
        }
    }

    /// Appends to the line, whatever its length.
    fn push(&self, queued: QueuedJob) {
        let was_idle = self.line.lock().push(queued);
        self.schedule_if(was_idle);
    }

    /// Appends to the line if fewer than `limit` jobs wait in it.
    fn try_push(&self, queued: QueuedJob, limit: usize) -> Result<(), QueuedJob> {
        let was_idle = {
            let mut state = self.line.lock();
            if state.jobs.len() >= limit {
                return Err(queued);
            }
            state.push(queued)
        };
        self.schedule_if(was_idle);
        Ok(())
    }

    /// Queues a runner for a line that was idle until this push.
    fn schedule_if(&self, was_idle: bool) {
        if was_idle {
            self.queues
                .schedule(SerialRunner::new(Arc::clone(&self.line)));
        }
    }
}

impl LineState {
    /// Appends a job; returns `true` if the line was idle, so the caller must schedule
    /// its runner.
    fn push(&mut self, queued: QueuedJob) -> bool {
        self.jobs.push_back(queued);
        !std::mem::replace(&mut self.scheduled, true)
    }
}

/// Maps the work inside a refusal back to the user's closure.
fn map_refused<W, F>(error: TryExecuteError<W>, unwrap: impl FnOnce(W) -> F) -> TryExecuteError<F> {
    match error {
        TryExecuteError::Full(work) => TryExecuteError::Full(unwrap(work)),
        TryExecuteError::ShutDown(work) => TryExecuteError::ShutDown(unwrap(work)),
    }
}

impl fmt::Debug for SerialQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("SerialQueue");
        debug.field("pool", &self.queues.shared.name);
        match self.line.state.try_lock() {
            Ok(state) => debug.field("queued", &state.jobs.len()),
            Err(_) => debug.field("queued", &format_args!("<locked>")),
        };
        debug.finish()
    }
}

/// The right of one line to run its next jobs; an armed guard. Dropped without running
/// (drained at shutdown), it settles the line's jobs as ShutDown.
pub(crate) struct SerialRunner {
    line: Option<Arc<SerialLine>>,
}

impl SerialRunner {
    fn new(line: Arc<SerialLine>) -> Self {
        Self { line: Some(line) }
    }

    /// Runs up to [`BATCH`] jobs of the line on the calling worker, then requeues itself
    /// if the line still has jobs.
    pub(crate) fn run(mut self, queues: &Queues, worker: &WorkerSlot) {
        let Some(line) = self.line.take() else { return };
        for _ in 0..BATCH {
            if queues.shared.is_stopping() {
                line.discard();
                return;
            }
            match line.next_job() {
                Some(job) => job.run(worker),
                None => return,
            }
        }
        if line.keep_scheduled() {
            queues.schedule(Self::new(line));
        }
    }
}

impl Drop for SerialRunner {
    fn drop(&mut self) {
        if let Some(line) = self.line.take() {
            line.discard();
        }
    }
}

impl fmt::Debug for SerialRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SerialRunner")
            .field("armed", &self.line.is_some())
            .finish()
    }
}
