//! The pool's channels and the admission of jobs into them.
//!
//! Two channels feed the workers: the bounded shared queue of jobs, and an unbounded
//! channel of [`SerialRunner`]s, which holds at most one runner per ordered line and so
//! is bounded by the number of lines.
//!
//! Invariants:
//! - the shared queue never holds more than its capacity: the awaiting form waits in
//!   flume's list of pending senders, the `try_` form is refused;
//! - no job is left in a channel after shutdown: shutdown sets the lifecycle to
//!   `Stopping` and then drains; a submitter sends and then checks the lifecycle
//!   ([`Queues::after_send`]). The channel lock orders the drain and the send, so one of
//!   the two always sees the other's work.

use std::sync::Arc;

use super::error::TryExecuteError;
use super::future::JobFuture;
use super::job::{Job, QueuedJob, Work};
use super::serial::SerialRunner;
use super::shared::Shared;

/// The channels of one pool, shared by its handles and threads.
#[derive(Debug)]
pub(crate) struct Queues {
    pub(crate) shared: Arc<Shared>,
    jobs_tx: flume::Sender<QueuedJob>,
    pub(crate) jobs_rx: flume::Receiver<QueuedJob>,
    runners_tx: flume::Sender<SerialRunner>,
    pub(crate) runners_rx: flume::Receiver<SerialRunner>,
}

impl Queues {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let (jobs_tx, jobs_rx) = flume::bounded(shared.queue_capacity);
        let (runners_tx, runners_rx) = flume::unbounded();
        Self {
            shared,
            jobs_tx,
            jobs_rx,
            runners_tx,
            runners_rx,
        }
    }

    /// Jobs waiting in the shared queue.
    pub(crate) fn len(&self) -> usize {
        self.jobs_tx.len()
    }

    /// Submits `work` if there is room now.
    pub(crate) fn try_submit<W: Work>(
        &self,
        work: W,
    ) -> Result<JobFuture<W::Output>, TryExecuteError<W>> {
        let counters = &self.shared.counters;
        counters.record_submitted();
        if self.shared.is_stopping() {
            counters.record_rejected();
            return Err(TryExecuteError::ShutDown(work));
        }
        let job = Job::new(Arc::clone(&self.shared), work);
        let refusal = match self.jobs_tx.try_send(QueuedJob::new(job.clone())) {
            Ok(()) => {
                self.after_send();
                return Ok(JobFuture::admitted(job));
            }
            Err(flume::TrySendError::Full(queued)) => (queued, true),
            Err(flume::TrySendError::Disconnected(queued)) => (queued, false),
        };
        Err(self.refuse(&job, refusal))
    }

    /// Hands refused work back, uncounted except as rejected.
    pub(crate) fn refuse<W: Work>(
        &self,
        job: &Job<W>,
        (queued, full): (QueuedJob, bool),
    ) -> TryExecuteError<W> {
        queued.disarm();
        self.shared.counters.record_rejected();
        // The job was never shared, so nobody can have moved it out of `Queued`.
        let work = job.withdraw().expect("a refused job is still queued");
        if full {
            TryExecuteError::Full(work)
        } else {
            TryExecuteError::ShutDown(work)
        }
    }

    /// Submits `work`, waiting (in the returned future) for room if the queue is full.
    pub(crate) fn submit<W: Work>(self: &Arc<Self>, work: W) -> JobFuture<W::Output> {
        self.shared.counters.record_submitted();
        let job = Job::new(Arc::clone(&self.shared), work);
        let queued = QueuedJob::new(job.clone());
        if self.shared.is_stopping() {
            drop(queued);
            return JobFuture::admitted(job);
        }
        match self.jobs_tx.try_send(queued) {
            Ok(()) => {
                self.after_send();
                JobFuture::admitted(job)
            }
            Err(flume::TrySendError::Full(queued)) => {
                let send = self.jobs_tx.clone().into_send_async(queued);
                JobFuture::sending(job, send, Arc::clone(self))
            }
            Err(flume::TrySendError::Disconnected(queued)) => {
                drop(queued);
                JobFuture::admitted(job)
            }
        }
    }

    /// Queues an ordered line's runner; never waits, never refuses.
    pub(crate) fn schedule(&self, runner: SerialRunner) {
        // The receiver lives as long as `self`, so the send cannot fail; if it did, the
        // runner would be dropped, settling its line's jobs as ShutDown.
        let _unsent = self.runners_tx.send(runner);
        self.after_send();
    }

    /// Called after every successful send: if shutdown began meanwhile, the item may have
    /// arrived after shutdown's drain, so drain again here.
    pub(crate) fn after_send(&self) {
        if self.shared.is_stopping() {
            self.drain();
        }
    }

    /// Empties both channels, settling every job in them as ShutDown. Repeats until
    /// empty, as each drain pulls in senders that were waiting for room.
    pub(crate) fn drain(&self) -> usize {
        let mut drained = 0;
        loop {
            let jobs: Vec<QueuedJob> = self.jobs_rx.drain().collect();
            let runners: Vec<SerialRunner> = self.runners_rx.drain().collect();
            if jobs.is_empty() && runners.is_empty() {
                return drained;
            }
            drained += jobs.len();
            drop(jobs);
            drop(runners);
        }
    }
}
