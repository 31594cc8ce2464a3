//! Ordered execution, as Vert.x's `ordered` flag: the jobs of one [`SerialQueue`] run one
//! after another, in submission order, on whichever worker is free, while other jobs
//! keep every thread busy. No thread is pinned.
//!
//! A line holds its jobs in order. While it is non-empty, exactly one [`SerialRunner`]
//! for it exists, either in the runners channel or running on a worker; the runner runs
//! up to [`BATCH`] jobs, then goes to the back of the runners channel so that other lines
//! and plain jobs get their turn.
//!
//! A line holds at most the pool's queue capacity of jobs. An awaiting submission that
//! finds it full joins the line's first-come list of waiters ([`Waiters`]) at once (not
//! at its first poll, so submission order decides), and its future holds a
//! [`LineTicket`]. Each time the runner takes a job, it moves the first waiter into the
//! line and wakes it.
//!
//! Invariants:
//! - at most one job of a line runs at any time, and jobs start in line order;
//! - the line holds at most `capacity` jobs; waiters exist only while it is full, so a
//!   later submission (awaiting or `try_`) never overtakes a waiter;
//! - waiters leave the list only in order (moved into the line), or when their future
//!   goes away, or at shutdown (the list's own invariants are in `waiters`);
//! - `scheduled` is `true` exactly while a runner for the line exists;
//! - a runner dropped without running (shutdown drained it) settles every job of its
//!   line, and every waiter's job, as ShutDown.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::error::TryExecuteError;
use super::future::JobFuture;
use super::handle::PoolHandle;
use super::job::{Job, QueuedJob, WithToken, WithoutToken, Work};
use super::queue::Queues;
use super::shared::Shared;
use super::token::CancellationToken;
use super::unwind::wake_quietly;
use super::waiters::Waiters;
use super::watch::WorkerSlot;

/// Jobs a runner runs before it yields its worker to other work.
const BATCH: usize = 32;

/// A submitter whose jobs run one at a time, in submission order, on a shared pool.
///
/// Get one with [`PoolHandle::ordered`]; a component keeps it for jobs that must not
/// overlap or reorder (writes to one file, calls on one connection). Clones share the
/// same line.
///
/// Capacity: the line holds at most the pool's queue capacity of jobs waiting to start
/// (the running one does not count). On a full line, the awaiting
/// [`execute`](Self::execute) returns a future that first waits, without blocking a
/// thread, for room; waiting submissions take their places in submission order, so a
/// later job never overtakes one still waiting. Dropping such a future means its job
/// never runs (counted as cancelled); shutdown settles it with
/// [`JobError::ShutDown`](crate::JobError::ShutDown). [`try_execute`](Self::try_execute)
/// refuses at once while the line is full.
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
    /// Submissions waiting for room in the line; each future holds its [`LineTicket`].
    waiters: Waiters<QueuedJob>,
    scheduled: bool,
}

impl SerialLine {
    fn lock(&self) -> MutexGuard<'_, LineState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the next job, or marks the line unscheduled when it is empty. The room it
    /// makes goes to the first waiter, which is woken.
    fn next_job(&self) -> Option<QueuedJob> {
        let (next, admitted) = {
            let mut state = self.lock();
            let next = state.jobs.pop_front();
            state.scheduled = next.is_some();
            (next, state.admit_first_waiter(self.capacity))
        };
        if let Some(waker) = admitted {
            wake_quietly(waker);
        }
        next
    }

    /// After a batch: whether the line still has jobs (its runner must be requeued), or
    /// else marks it unscheduled.
    fn keep_scheduled(&self) -> bool {
        let mut state = self.lock();
        state.scheduled = !state.jobs.is_empty();
        state.scheduled
    }

    /// Empties the line and its waiters (dropping settles each job as ShutDown, then
    /// each waiter is woken) and unschedules it.
    fn discard(&self) {
        let (jobs, waiters) = {
            let mut state = self.lock();
            state.scheduled = false;
            (std::mem::take(&mut state.jobs), state.waiters.take_all())
        };
        drop(jobs);
        waiters.dismiss();
    }
}

impl SerialQueue {
    pub(crate) fn new(queues: Arc<Queues>) -> Self {
        let capacity = queues.shared.queue_capacity;
        let state = Mutex::new(LineState {
            jobs: VecDeque::new(),
            waiters: Waiters::new(),
            scheduled: false,
        });
        let line = Arc::new(SerialLine { capacity, state });
        Self { queues, line }
    }

    /// Submits an ordered job; it runs after every job submitted before it to this line
    /// has finished. If the line is full, the returned future first waits (without
    /// blocking a thread) for room; the job keeps its place in submission order meanwhile.
    ///
    /// Resolves to the job's value or a [`JobError`](crate::JobError): `ShutDown` if the
    /// pool stopped before the job started, even while it waited for room. Dropping the
    /// future cancels the job.
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
    /// [`TryExecuteError::Full`] if the pool's queue capacity of jobs wait in the line
    /// (other submissions may then be waiting for room, and this one does not overtake
    /// them), [`TryExecuteError::ShutDown`] if the pool has shut down; either way the job
    /// comes back inside the error and is counted as rejected.
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

    /// Jobs waiting to start in this line, at most the pool's queue capacity: neither the
    /// running job nor submissions still waiting for room count.
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

    /// Returns `true` if no job is waiting to start in this line.
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
            return JobFuture::admitted(job);
        }
        match self.push_or_wait(queued) {
            None => JobFuture::admitted(job),
            Some(ticket) => JobFuture::waiting_in_line(job, ticket),
        }
    }

    fn try_submit<W: Work>(&self, work: W) -> Result<JobFuture<W::Output>, TryExecuteError<W>> {
        let shared = &self.queues.shared;
        shared.counters.record_submitted();
        if shared.is_stopping() {
            shared.counters.record_rejected();
            return Err(TryExecuteError::ShutDown(work));
        }
        let job = Job::new(Arc::clone(shared), work);
        match self.try_push(QueuedJob::new(job.clone())) {
            Ok(()) => Ok(JobFuture::admitted(job)),
            Err(queued) => Err(self.queues.refuse(&job, queued)),
        }
    }

    /// Appends to the line if it has room; else adds a waiter behind the others and
    /// returns its ticket.
    fn push_or_wait(&self, queued: QueuedJob) -> Option<LineTicket> {
        let was_idle = {
            let mut state = self.line.lock();
            if !state.has_room(self.line.capacity) {
                let ticket = state.waiters.push_back(queued);
                let shared = Arc::clone(&self.queues.shared);
                return Some(LineTicket::new(Arc::clone(&self.line), shared, ticket));
            }
            state.push(queued)
        };
        self.schedule_if(was_idle);
        None
    }

    /// Appends to the line if it has room.
    fn try_push(&self, queued: QueuedJob) -> Result<(), QueuedJob> {
        let was_idle = {
            let mut state = self.line.lock();
            if !state.has_room(self.line.capacity) {
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
    /// Whether a new job may join the line now: it is below `capacity` and nobody waits
    /// ahead.
    fn has_room(&self, capacity: usize) -> bool {
        self.jobs.len() < capacity && self.waiters.is_empty()
    }

    /// Appends a job; returns `true` if the line was idle, so the caller must schedule
    /// its runner.
    fn push(&mut self, queued: QueuedJob) -> bool {
        self.jobs.push_back(queued);
        !std::mem::replace(&mut self.scheduled, true)
    }

    /// Moves the first waiter into the line if there is room; returns its waker.
    fn admit_first_waiter(&mut self, capacity: usize) -> Option<Waker> {
        if self.jobs.len() >= capacity {
            return None;
        }
        let (job, waker) = self.waiters.pop_front()?.into_parts();
        // Room implies a job was just taken, so the runner exists: `scheduled` stays.
        self.jobs.push_back(job);
        waker
    }
}

/// A future's claim on its waiter in a full line: an armed guard. Dropped while the
/// waiter still waits, it takes the waiter out; its job then never runs.
pub(crate) struct LineTicket {
    line: Arc<SerialLine>,
    shared: Arc<Shared>,
    ticket: u64,
    waiting: bool,
}

impl LineTicket {
    fn new(line: Arc<SerialLine>, shared: Arc<Shared>, ticket: u64) -> Self {
        Self {
            line,
            shared,
            ticket,
            waiting: true,
        }
    }

    /// `Ready` once the waiter left the list: moved into the line, or settled at
    /// shutdown. A waiter polled after shutdown began leaves at once, settled ShutDown,
    /// so it never waits behind a job that ignores its token.
    pub(crate) fn poll_admitted(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.waiting {
            return Poll::Ready(());
        }
        if self.shared.is_stopping() {
            self.withdraw();
            return Poll::Ready(());
        }
        std::task::ready!(self.line.lock().waiters.poll_left(self.ticket, cx));
        self.waiting = false;
        Poll::Ready(())
    }

    /// Takes the waiter out of the list if it still waits, and drops its job outside the
    /// lock: a job its future abandoned was counted then, a live one settles as ShutDown.
    fn withdraw(&mut self) {
        if std::mem::replace(&mut self.waiting, false) {
            let waiter = self.line.lock().waiters.remove(self.ticket);
            drop(waiter);
        }
    }
}

impl Drop for LineTicket {
    fn drop(&mut self) {
        self.withdraw();
    }
}

impl fmt::Debug for LineTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineTicket")
            .field("ticket", &self.ticket)
            .field("waiting", &self.waiting)
            .finish()
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
            Ok(state) => debug
                .field("queued", &state.jobs.len())
                .field("waiting_for_room", &state.waiters.len()),
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
