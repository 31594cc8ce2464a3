//! Per-thread start times of running jobs, read by the runtime's long-job watchdog.
//!
//! Invariant: a worker's slot holds 0 while it is idle and `1 + nanoseconds since the
//! pool's epoch` while it runs a job; only the worker itself writes its slot.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// One worker thread's "current job started at" timestamp.
#[derive(Debug, Default)]
pub(crate) struct WorkerSlot {
    started: AtomicU64,
}

impl WorkerSlot {
    /// Records that this worker starts a job now.
    pub(crate) fn mark_started(&self, epoch: Instant) {
        self.mark_started_at(epoch, Instant::now());
    }

    pub(crate) fn mark_started_at(&self, epoch: Instant, now: Instant) {
        let nanos = now.saturating_duration_since(epoch).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX - 1);
        self.started.store(nanos + 1, Relaxed);
    }

    /// Records that this worker's job returned.
    pub(crate) fn mark_idle(&self) {
        self.started.store(0, Relaxed);
    }

    /// When the current job started, if one runs.
    pub(crate) fn started(&self, epoch: Instant) -> Option<Instant> {
        match self.started.load(Relaxed) {
            0 => None,
            stamp => Some(epoch + Duration::from_nanos(stamp - 1)),
        }
    }
}

/// A job that has run on one worker for longer than the pool's long-job threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OverdueJob {
    /// The worker's index `N`, as in its thread name `reactree-worker-{POOL}-{N}`.
    pub(crate) worker: usize,
    /// How long the job has run, as of the `now` given.
    pub(crate) running_for: Duration,
}

/// The jobs among `slots` that, at `now`, have run longer than `threshold`.
pub(crate) fn overdue_jobs(
    slots: &[WorkerSlot],
    epoch: Instant,
    threshold: Duration,
    now: Instant,
) -> Vec<OverdueJob> {
    slots
        .iter()
        .enumerate()
        .filter_map(|(worker, slot)| {
            let running_for = now.saturating_duration_since(slot.started(epoch)?);
            (running_for > threshold).then_some(OverdueJob {
                worker,
                running_for,
            })
        })
        .collect()
}
