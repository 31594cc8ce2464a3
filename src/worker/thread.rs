//! The worker threads: spawning them, and the loop each one runs.
//!
//! Invariants:
//! - a worker runs jobs only while the pool is `Running`; anything it receives after
//!   shutdown began is dropped, which settles it as ShutDown;
//! - no job panic leaves the loop (every job runs under `catch_unwind`), so a thread
//!   exits only at shutdown;
//! - a thread always reports its exit on the `exited` channel, even if it unwinds.

use std::sync::Arc;
use std::thread::{self, JoinHandle};

use super::config::PoolConfigError;
use super::inbox::Next;
use super::queue::Queues;

/// What one worker thread owns.
struct Worker {
    index: usize,
    queues: Arc<Queues>,
    exited: flume::Sender<usize>,
}

/// Reports the thread's exit when dropped, so even an unwinding thread is accounted for.
struct ExitSignal<'a>(&'a Worker);

impl Drop for ExitSignal<'_> {
    fn drop(&mut self) {
        let _ignored = self.0.exited.send(self.0.index);
    }
}

/// Starts thread `index` of the pool. The pool stops it by closing the inbox;
/// it reports its exit on `exited`.
pub(crate) fn spawn(
    index: usize,
    queues: &Arc<Queues>,
    exited: &flume::Sender<usize>,
) -> Result<JoinHandle<()>, PoolConfigError> {
    let worker = Worker {
        index,
        queues: Arc::clone(queues),
        exited: exited.clone(),
    };
    thread::Builder::new()
        .name(queues.shared.thread_name(index))
        .spawn(move || worker.main_loop())
        .map_err(PoolConfigError::Spawn)
}

impl Worker {
    fn main_loop(self) {
        let _exit = ExitSignal(&self);
        let shared = &self.queues.shared;
        let slot = &shared.slots[self.index];
        tracing::debug!(pool = %shared.name, worker = self.index, "worker thread started");
        loop {
            let next = self.queues.next_for_worker();
            if shared.is_stopping() {
                break;
            }
            match next {
                Next::Job(job) => job.run(slot),
                Next::Serial(runner) => runner.run(&self.queues, slot),
                Next::Stop => break,
            }
        }
        tracing::debug!(pool = %shared.name, worker = self.index, "worker thread stopped");
    }
}
