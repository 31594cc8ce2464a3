//! The pool's queues and the admission of jobs into them.
//!
//! One [`Inbox`] feeds the workers: the shared queue of jobs, and the [`SerialRunner`]s,
//! at most one runner per ordered line and so bounded by the number of lines.
//!
//! Invariants:
//! - the shared queue never holds more than its capacity. The inbox itself is
//!   unbounded; the [`Gate`] bounds it: a job takes room before it is pushed, and gives
//!   it back once when it is taken off, which only [`Queues::next_for_worker`] (a
//!   worker) and [`Queues::drain`] (shutdown) do. So the inbox holds at most the jobs
//!   holding room, at most the capacity. Without room, the awaiting form waits at the
//!   gate in submission order, and the `try_` form is refused;
//! - no job is left in the inbox after shutdown: shutdown sets the lifecycle to
//!   `Stopping` and then drains; a submitter (or a worker letting a waiter in) sends and
//!   then checks the lifecycle ([`Queues::after_send`]). The inbox's lock orders the
//!   drain and the push, so one of the two always sees the other's work.

use std::sync::Arc;

use super::admission::{Gate, LetIn, QueueTicket};
use super::error::TryExecuteError;
use super::future::JobFuture;
use super::inbox::{Inbox, Next};
use super::job::{Job, QueuedJob, Work};
use super::serial::SerialRunner;
use super::shared::Shared;
use super::unwind::wake_quietly;

/// The queues of one pool, shared by its handles and threads.
#[derive(Debug)]
pub(crate) struct Queues {
    pub(crate) shared: Arc<Shared>,
    pub(crate) gate: Gate,
    pub(crate) inbox: Inbox,
}

impl Queues {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let gate = Gate::new(shared.queue_capacity);
        Self {
            shared,
            gate,
            inbox: Inbox::default(),
        }
    }

    /// Jobs waiting in the shared queue.
    pub(crate) fn len(&self) -> usize {
        self.inbox.jobs_len()
    }

    /// Submits `work` if there is room now and nobody waits for it.
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
        let queued = QueuedJob::new(job.clone());
        if !self.gate.try_admit() {
            return Err(self.refuse(&job, queued));
        }
        self.send_admitted(queued);
        Ok(JobFuture::admitted(job))
    }

    /// Hands work refused for want of room back, uncounted except as rejected.
    pub(crate) fn refuse<W: Work>(&self, job: &Job<W>, queued: QueuedJob) -> TryExecuteError<W> {
        queued.disarm();
        self.shared.counters.record_rejected();
        // The job was never shared, so nobody can have moved it out of `Queued`.
        TryExecuteError::Full(job.withdraw().expect("a refused job is still queued"))
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
        match self.gate.admit_or_wait(queued) {
            Ok(queued) => {
                self.send_admitted(queued);
                JobFuture::admitted(job)
            }
            Err(ticket) => {
                let ticket = QueueTicket::new(Arc::clone(self), ticket);
                JobFuture::waiting_for_room(job, ticket)
            }
        }
    }

    /// Puts a job that holds room into the shared queue.
    fn send_admitted(&self, queued: QueuedJob) {
        self.inbox.push_job(queued);
        self.after_send();
    }

    /// Blocks a worker thread until it has work: a runner, or a job of the shared queue,
    /// whose room it gives back at once (which may let a waiter in); `Stop` once the
    /// pool is stopping.
    pub(crate) fn next_for_worker(&self) -> Next {
        let next = self.inbox.next();
        if matches!(next, Next::Job(_)) && self.release_room() {
            self.after_send();
        }
        next
    }

    /// Gives back the room of one job taken off the shared queue. If a waiter was let in,
    /// sends its job, wakes its future and returns `true`: the caller must then check
    /// for shutdown, unless it is the drain.
    fn release_room(&self) -> bool {
        let Some(LetIn { job, waker }) = self.gate.release() else {
            return false;
        };
        self.inbox.push_job(job);
        if let Some(waker) = waker {
            wake_quietly(waker);
        }
        true
    }

    /// Queues an ordered line's runner; never waits, never refuses.
    pub(crate) fn schedule(&self, runner: SerialRunner) {
        self.inbox.push_runner(runner);
        self.after_send();
    }

    /// Called after every successful send: if shutdown began meanwhile, the item may have
    /// arrived after shutdown's drain, so drain again here.
    pub(crate) fn after_send(&self) {
        if self.shared.is_stopping() {
            self.drain();
        }
    }

    /// Empties both channels and the gate's waiters, settling every job in them as
    /// ShutDown. Each job taken off the shared queue gives its room back, which may let
    /// a late waiter in, so it repeats until all are empty.
    pub(crate) fn drain(&self) -> usize {
        let mut drained = 0;
        loop {
            drained += self.gate.dismiss_all();
            let (jobs, runners) = self.inbox.drain();
            for _ in &jobs {
                self.release_room();
            }
            if jobs.is_empty() && runners.is_empty() {
                return drained;
            }
            drained += jobs.len();
            drop(jobs);
            drop(runners);
        }
    }
}
