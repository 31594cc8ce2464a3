//! The worker pool: Vert.x's `executeBlocking` for reactree.
//!
//! Reactor threads must never block, so blocking work (files, drivers without async
//! support, CPU-heavy steps) goes to a [`WorkerPool`]: a fixed set of threads fed by one
//! bounded queue. A component submits a job through a cheap [`PoolHandle`]; awaiting the
//! returned [`JobFuture`] inside the component's task resumes on the component's own
//! reactor, never on the worker. Jobs that must not overlap or reorder go through a
//! [`SerialQueue`] (Vert.x's `ordered` flag) without pinning a thread.
//!
//! # Guarantees
//!
//! - **Fixed threads.** A pool starts all its threads at once and keeps exactly that
//!   many until shutdown; every job runs under `catch_unwind`, so a panicking job is a
//!   [`JobError::Panicked`] for its caller and its thread lives on.
//! - **Bounded queues.** The shared queue, and each [`SerialQueue`]'s line, never holds
//!   more than the pool's queue capacity of jobs waiting to start, however many workers
//!   are idle. The `execute` forms wait for room without blocking a thread, keeping
//!   their place in submission order; the `try_execute` forms never overtake them: they
//!   fail at once and hand the job back in [`TryExecuteError`].
//! - **Cancellation.** Dropping a [`JobFuture`] (or calling [`JobFuture::cancel`]) before
//!   the job starts, even while it still waits for room, means it never runs; while it
//!   runs, its [`CancellationToken`] is set.
//! - **Order.** Jobs of one [`SerialQueue`] start in submission order and never overlap;
//!   plain jobs start in queue order but run concurrently.
//! - **Shutdown.** [`WorkerPool::shutdown`] (or dropping the pool) settles every queued
//!   job, and every submission still waiting for room, with [`JobError::ShutDown`], sets
//!   running jobs' tokens, waits at most the grace period, and detaches (and counts)
//!   threads whose job ignores its token.
//! - **Accounting.** Once quiescent, `submitted = completed + rejected + cancelled +
//!   panicked` in [`PoolStats`]; each job is counted settled before its future wakes.
//!
//! # Implementation
//!
//! Each job is one allocation (`job`) shared by its queue entry, its future and its
//! token, holding a small state machine under a mutex. Workers block on one inbox, a
//! mutex and a condition variable over the shared queue's jobs, the ordered lines'
//! runners and a closed flag (`inbox`, `thread`). The inbox itself is unbounded; a gate
//! bounds the shared queue: a job takes room before it is pushed and gives it back when
//! a worker takes it, and submitters without room wait first-come at the gate
//! (`admission`).
//! Each ordered line keeps its own first-come list of submitters waiting for room, and
//! lets the first one in whenever its runner takes a job (`serial`). Both lists are one
//! type, a first-come list of waiters keyed by ticket (`waiters`).
//! Shutdown and late submitters meet through the lifecycle flag and the inbox's lock
//! (`queue`). Per-thread start times (`watch`) let the runtime's watchdog report jobs
//! running past the long-job threshold.

mod admission;
mod config;
mod error;
mod future;
mod handle;
mod inbox;
mod job;
mod pool;
mod queue;
mod serial;
mod shared;
mod stats;
mod thread;
mod token;
mod unwind;
mod waiters;
mod watch;

#[cfg(test)]
mod tests;

pub use config::{PoolConfig, PoolConfigError};
pub use error::{JobError, TryExecuteError};
pub use future::JobFuture;
pub use handle::PoolHandle;
pub use pool::{ShutdownReport, WorkerPool};
pub use serial::SerialQueue;
pub use stats::PoolStats;
pub use token::CancellationToken;

/// Compile-time proof that the handles cross threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<WorkerPool>();
    assert_send_sync::<PoolHandle>();
    assert_send_sync::<SerialQueue>();
    assert_send_sync::<CancellationToken>();
    assert_send_sync::<JobError>();
    assert_send_sync::<PoolStats>();
    const fn assert_send<T: Send>() {}
    assert_send::<JobFuture<String>>();
};
