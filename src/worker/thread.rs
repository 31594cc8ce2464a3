//! The worker threads: spawning them, and the loop each one runs.
//!
//! Invariants:
//! - a worker runs jobs only while the pool is `Running`; anything it receives after
//!   shutdown began is dropped, which settles it as ShutDown;
//! - no job panic leaves the loop (every job runs under `catch_unwind`), so a thread
//!   exits only at shutdown;
//! - a thread always reports its exit on the `exited` channel, even if it unwinds.

use std::convert::Infallible;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use futures_lite::future::{self, FutureExt as _};

use super::config::PoolConfigError;
use super::job::QueuedJob;
use super::queue::Queues;
use super::serial::SerialRunner;

/// What a worker found to do.
enum Next {
    Job(QueuedJob),
    Serial(SerialRunner),
    Stop,
}

/// What one worker thread owns.
struct Worker {
    index: usize,
    queues: Arc<Queues>,
    stop: flume::Receiver<Infallible>,
    exited: flume::Sender<usize>,
}

/// Reports the thread's exit when dropped, so even an unwinding thread is accounted for.
struct ExitSignal<'a>(&'a Worker);

impl Drop for ExitSignal<'_> {
    fn drop(&mut self) {
        let _ignored = self.0.exited.send(self.0.index);
    }
}

/// Starts thread `index` of the pool. The pool stops it by dropping the sender of `stop`;
/// it reports its exit on `exited`.
pub(crate) fn spawn(
    index: usize,
    queues: &Arc<Queues>,
    stop: &flume::Receiver<Infallible>,
    exited: &flume::Sender<usize>,
) -> Result<JoinHandle<()>, PoolConfigError> {
    let worker = Worker {
        index,
        queues: Arc::clone(queues),
        stop: stop.clone(),
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
            let next = self.next();
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

    /// Parks until there is a job or a line to run, or the pool stops. A stop wins over
    /// work; between jobs and lines the choice is random, so neither starves the other.
    fn next(&self) -> Next {
        let stop = async {
            let _disconnected = self.stop.recv_async().await;
            Next::Stop
        };
        let job = async {
            match self.queues.recv_job().await {
                Some(job) => Next::Job(job),
                None => Next::Stop,
            }
        };
        let serial = async {
            match self.queues.runners_rx.recv_async().await {
                Ok(runner) => Next::Serial(runner),
                Err(_) => Next::Stop,
            }
        };
        future::block_on(stop.or(job.race(serial)))
    }
}
