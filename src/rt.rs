//! The one seam to the smol crates: executor, timers, blocking on a future.
//!
//! Everything else in the crate reaches `async-executor`, `async-task` and `async-io`
//! through here, so a change of the underlying stack (or a virtual clock for tests)
//! touches one file; the one exception is the reactor's own executor
//! (`reactor::executor`), which is built on `async-task`'s runnables.
//! `deadlines` keeps each reactor's request deadlines behind one timer.

use std::future::Future;

/// For the inspector's HTTP server thread and tests; reactors run `reactor::executor`.
#[cfg(any(test, feature = "http"))]
pub(crate) use async_executor::LocalExecutor;
#[cfg(feature = "http")]
pub(crate) use async_io::Async;
pub(crate) use async_io::Timer;
pub(crate) use async_task::Task;

/// Runs a future to completion on the current thread, driving timers and I/O meanwhile.
pub(crate) fn block_on<T>(future: impl Future<Output = T>) -> T {
    async_io::block_on(future)
}

mod deadlines;

pub(crate) use deadlines::{
    deadline, install as install_deadlines, uninstall as uninstall_deadlines,
};
