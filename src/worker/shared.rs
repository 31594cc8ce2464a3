//! What every job, thread and handle of one pool shares: identity, lifecycle, counters
//! and the per-thread watch slots. It holds no channel, so a queued job that keeps it
//! alive can never keep its own queue alive.
//!
//! Invariant: the lifecycle only moves forward, `Running` → `Stopping` → `Stopped`.

use std::sync::atomic::{AtomicU8, Ordering::SeqCst};
use std::time::{Duration, Instant};

use super::config::PoolConfig;
use super::stats::Counters;
use super::watch::{self, OverdueJob, WorkerSlot};

/// The state shared by one pool's jobs, threads and handles.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) name: Box<str>,
    pub(crate) threads: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) long_job_threshold: Duration,
    pub(crate) counters: Counters,
    pub(crate) slots: Box<[WorkerSlot]>,
    pub(crate) epoch: Instant,
    lifecycle: AtomicU8,
}

/// Where a pool is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Lifecycle {
    /// Taking and running jobs.
    Running = 0,
    /// Shutdown has begun: queued jobs are cancelled, running ones see their token set.
    Stopping = 1,
    /// Threads joined or detached.
    Stopped = 2,
}

/// The result of asking for a lifecycle transition.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// This caller made the transition and must carry it out.
    Proceed,
    /// Someone else already did.
    AlreadyDone,
}

impl Shared {
    pub(crate) fn new(config: &PoolConfig) -> Self {
        Self {
            name: config.name.as_ref().into(),
            threads: config.threads,
            queue_capacity: config.queue_capacity,
            long_job_threshold: config.long_job_threshold,
            counters: Counters::default(),
            slots: (0..config.threads).map(|_| WorkerSlot::default()).collect(),
            epoch: Instant::now(),
            lifecycle: AtomicU8::new(Lifecycle::Running as u8),
        }
    }

    /// The name of worker thread `index`.
    pub(crate) fn thread_name(&self, index: usize) -> String {
        format!("reactree-worker-{}-{index}", self.name)
    }

    /// `true` once shutdown has begun. `SeqCst`, paired with the queue lock: see
    /// [`Queues::after_send`](super::queue::Queues::after_send).
    pub(crate) fn is_stopping(&self) -> bool {
        self.lifecycle.load(SeqCst) != Lifecycle::Running as u8
    }

    pub(crate) fn transition_to_stopping(&self) -> Transition {
        self.transition(Lifecycle::Running, Lifecycle::Stopping)
    }

    pub(crate) fn transition_to_stopped(&self) -> Transition {
        self.transition(Lifecycle::Stopping, Lifecycle::Stopped)
    }

    fn transition(&self, from: Lifecycle, to: Lifecycle) -> Transition {
        match self
            .lifecycle
            .compare_exchange(from as u8, to as u8, SeqCst, SeqCst)
        {
            Ok(_) => Transition::Proceed,
            Err(_) => Transition::AlreadyDone,
        }
    }

    /// The jobs that, at `now`, have run past the long-job threshold.
    pub(crate) fn overdue_jobs(&self, now: Instant) -> Vec<OverdueJob> {
        watch::overdue_jobs(&self.slots, self.epoch, self.long_job_threshold, now)
    }
}
