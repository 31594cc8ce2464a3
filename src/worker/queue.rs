//! The pool's channels and the admission of jobs into them.
//!
//! Two channels feed the workers: the shared queue of jobs, and an unbounded channel of
//! [`SerialRunner`]s, which holds at most one runner per ordered line and so is bounded
//! by the number of lines.
//!
//! Invariants:
//! - the shared queue never holds more than its capacity. Its channel is unbounded: flume
//!   would let a burst of sends to idle workers past its bound (a send that finds a
//!   receiver waiting pushes without looking at the capacity). The [`Gate`] bounds it
//!   instead: a job takes room before it is sent, and gives it back once when it is taken
//!   off the channel, which only [`Queues::recv_job`] (a worker) and [`Queues::drain`]
//!   (shutdown) do. So the channel holds at most the jobs holding room, at most the
//!   capacity. Without room, the awaiting form waits at the gate in submission order, and
//!   the `try_` form is refused;
//! - no job is left in a channel after shutdown: shutdown sets the lifecycle to
//!   `Stopping` and then drains; a submitter (or a worker letting a waiter in) sends and
//!   then checks the lifecycle ([`Queues::after_send`]). The channel lock orders the
//!   drain and the send, so one of the two always sees the other's work.

use std::sync::Arc;

use super::admission::{Gate, LetIn, QueueTicket};
use super::error::TryExecuteError;
use super::future::JobFuture;
use super::job::{Job, QueuedJob, Work};
use super::serial::SerialRunner;
use super::shared::Shared;
use super::unwind::wake_quietly;

/// The channels of one pool, shared by its handles and threads.
#[derive(Debug)]
pub(crate) struct Queues {
    pub(crate) shared: Arc<Shared>,
    pub(crate) gate: Gate,
    jobs_tx: flume::Sender<QueuedJob>,
    jobs_rx: flume::Receiver<QueuedJob>,
    runners_tx: flume::Sender<SerialRunner>,
    pub(crate) runners_rx: flume::Receiver<SerialRunner>,
}

impl Queues {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let gate = Gate::new(shared.queue_capacity);
        let (jobs_tx, jobs_rx) = flume::unbounded();
        let (runners_tx, runners_rx) = flume::unbounded();
        Self {
            shared,
            gate,
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
            return Err(self.refuse(&job, (queued, true)));
        }
        match self.send_admitted(queued) {
            Ok(()) => Ok(JobFuture::admitted(job)),
            Err(queued) => Err(self.refuse(&job, (queued, false))),
        }
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
        match self.gate.admit_or_wait(queued) {
            Ok(queued) => {
                // Unsent only if the channel closed: dropping it settles it as ShutDown.
                let _unsent = self.send_admitted(queued);
                JobFuture::admitted(job)
            }
            Err(ticket) => {
                let ticket = QueueTicket::new(Arc::clone(self), ticket);
                JobFuture::waiting_for_room(job, ticket)
            }
        }
    }

    /// Sends a job that holds room into the shared queue. The receiver lives as long as
    /// `self`, so this cannot fail; if it did, the room is given back with the job.
    fn send_admitted(&self, queued: QueuedJob) -> Result<(), QueuedJob> {
        match self.jobs_tx.send(queued) {
            Ok(()) => {
                self.after_send();
                Ok(())
            }
            Err(flume::SendError(queued)) => {
                self.release_room();
                Err(queued)
            }
        }
    }

    /// Waits for the next job of the shared queue and takes it off, giving its room
    /// back. Nothing awaits between the two, so a dropped future never loses room.
    /// `None` only if the channel closed, which it cannot while `self` lives.
    pub(crate) async fn recv_job(&self) -> Option<QueuedJob> {
        let job = self.jobs_rx.recv_async().await.ok()?;
        if self.release_room() {
            self.after_send();
        }
        Some(job)
    }

    /// Gives back the room of one job taken off the shared queue. If a waiter was let in,
    /// sends its job, wakes its future and returns `true`: the caller must then check
    /// for shutdown, unless it is the drain.
    fn release_room(&self) -> bool {
        let Some(LetIn { job, waker }) = self.gate.release() else {
            return false;
        };
        // The receiver lives as long as `self`; an unsent job would settle as ShutDown.
        let _unsent = self.jobs_tx.send(job);
        if let Some(waker) = waker {
            wake_quietly(waker);
        }
        true
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

    /// Empties both channels and the gate's waiters, settling every job in them as
    /// ShutDown. Each job taken off the shared queue gives its room back, which may let
    /// a late waiter in, so it repeats until all are empty.
    pub(crate) fn drain(&self) -> usize {
        let mut drained = 0;
        loop {
            drained += self.gate.dismiss_all();
            let jobs: Vec<QueuedJob> = self.jobs_rx.drain().collect();
            for _ in &jobs {
                self.release_room();
            }
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
