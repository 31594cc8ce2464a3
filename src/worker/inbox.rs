//! What the worker threads wait on: the shared queue's jobs and the ordered lines'
//! runners, in one mutex-guarded state with one condition variable.
//!
//! Workers are plain threads, so they block on a `Condvar` rather than on futures. The
//! pool used to have each worker `block_on` a race of three `flume` receivers (jobs,
//! runners, stop); under load a job could then sit in the channel while a worker stayed
//! parked (seen as a job queued with a worker idle until another job came). Here a
//! push and a worker's check for work happen under the same lock, so a worker either
//! sees the item or is already waiting when `notify_one` runs: no wake-up is lost.
//!
//! Invariants:
//! - a push never fails, closed or not: items pushed after `close` are drained by the
//!   shutdown path (`Queues::after_send`), as before;
//! - once closed, `next` returns `Stop` at once, even with items left (shutdown drains
//!   them and settles each as ShutDown);
//! - runners are served before jobs: there is at most one runner per ordered line, so
//!   they cannot starve the jobs, while a flood of jobs could starve the lines.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::job::QueuedJob;
use super::serial::SerialRunner;

/// What a worker takes next.
pub(crate) enum Next {
    Job(QueuedJob),
    Serial(SerialRunner),
    Stop,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<QueuedJob>,
    runners: VecDeque<SerialRunner>,
    closed: bool,
}

/// The workers' inbox.
#[derive(Default)]
pub(crate) struct Inbox {
    state: Mutex<State>,
    ready: Condvar,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Inbox")
            .field("jobs", &state.jobs.len())
            .field("runners", &state.runners.len())
            .field("closed", &state.closed)
            .finish()
    }
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a job of the shared queue and wakes one waiting worker.
    pub(crate) fn push_job(&self, job: QueuedJob) {
        self.lock().jobs.push_back(job);
        self.ready.notify_one();
    }

    /// Queues an ordered line's runner and wakes one waiting worker.
    pub(crate) fn push_runner(&self, runner: SerialRunner) {
        self.lock().runners.push_back(runner);
        self.ready.notify_one();
    }

    /// Jobs of the shared queue waiting for a worker.
    pub(crate) fn jobs_len(&self) -> usize {
        self.lock().jobs.len()
    }

    /// Blocks the calling worker thread until there is work or the inbox is closed.
    pub(crate) fn next(&self) -> Next {
        let mut state = self.lock();
        loop {
            if state.closed {
                return Next::Stop;
            }
            if let Some(runner) = state.runners.pop_front() {
                return Next::Serial(runner);
            }
            if let Some(job) = state.jobs.pop_front() {
                return Next::Job(job);
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Takes everything queued (shutdown's drain).
    pub(crate) fn drain(&self) -> (Vec<QueuedJob>, Vec<SerialRunner>) {
        let mut state = self.lock();
        (
            state.jobs.drain(..).collect(),
            state.runners.drain(..).collect(),
        )
    }

    /// Tells every worker to stop: waiting ones wake, and `next` returns `Stop` from now
    /// on.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}
